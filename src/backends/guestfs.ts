/**
 * The `guestfs` backend: ONE read-only libguestfs appliance per image, driven through `guestfish --ro`.
 *
 * - The detected format is always passed explicitly (`add-drive IMG readonly:true format:F`); images naming host
 *   backing files were refused before we get here (src/image/prepare.ts).
 * - Partitions are probed one at a time (vfs-type, vfs-label, vfs-uuid, part-get-name, part-get-gpt-guid), so one
 *   broken partition makes the target `partial`, not failed.
 * - Inventory route: `find0` into a host file (names), then `lstatnslist` per directory in batches of names under
 *   guestfish's line limit (type, mode, uid, gid, size, mtime), then `readlinklist` per directory for symlinks.
 *   All commands are pipelined into guestfish's stdin without waiting on each other.
 * - File reads for rules: `pread` per file (chunks of 1 MiB), the whole batch pipelined in one write. Not `tar-out`
 *   of the directories that hold the files: measured under TCG on a real Debian disk (bench/guestfs-debian.mjs), one
 *   `tar-out DIR` takes about as long as or longer than the pipelined `pread`s of the same files from a cold cache
 *   (1.0x to 3.0x; it reads whole files), since the cost is the appliance's own work per file (0.8 to 1.3 ms
 *   whatever carries the file: `pread`, `tar-out`, `checksums-out`) and per byte, not the round trips: the pipeline
 *   keeps the appliance busy. `--verbose` counts what the reads cost.
 * - Acceleration: `auto` tries KVM and, if qemu fails, retries once with TCG (LIBGUESTFS_BACKEND_SETTINGS=force_tcg).
 * - A per-image timeout kills the appliance's process group.
 */
import { byCodePoint } from '../arrays.js';
import { mkdtempSync, promises as fsp, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Inventory } from '../inventory.js';
import { typeOfMode, type Entry } from '../types.js';
import { registerCleanup } from '../image/cleanup.js';
import { withPreparedImage, type PreparedImage } from '../image/prepare.js';
import { qemuReason, scrubPaths } from '../image/qemu-reason.js';
import { assemble } from './assemble.js';
import { oneLine, TargetError } from '../errors.js';
import type { Backend, FileContent, FilesystemView, OpenedImage, OpenOptions } from './backend.js';
import { commandError, Guestfish, GuestfsCommandError, MAX_LINE, quoteArg } from './guestfish.js';

import type { Accel } from '../types.js';
export { ACCEL_CHOICES, type Accel } from '../types.js';
export const DEFAULT_TIMEOUT_S = 300;

export interface GuestfsBackendOptions {
  accel?: Accel;
  /** Per-image timeout in seconds. */
  timeoutS?: number;
  allowBackingFile?: boolean;
  /**
   * The environment the CLI was given (its `io.env`): libguestfs settings, HOSTLEAK_TMPDIR,
   * HOSTLEAK_KVM_LAUNCH_TIMEOUT_MS. Library callers that pass none get this process's.
   */
  env?: NodeJS.ProcessEnv;
}

const READ_CHUNK = 1024 * 1024;
/** How long `auto` gives a KVM launch before it falls back to TCG (qemu can hang rather than fail). */
function kvmLaunchTimeoutMs(env: NodeJS.ProcessEnv): number {
  return Number(env.HOSTLEAK_KVM_LAUNCH_TIMEOUT_MS ?? 30000);
}
/** Set once a KVM launch failed in this process: later images go straight to TCG. */
let kvmBroken = false;


interface Stat {
  ino: number;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: number;
}

/** Parse guestfish's printing of a list of statns structs (`[0] = {`, `  st_mode: 16877`, ..., `}`). */
export function parseStatList(text: string): Stat[] {
  const out: Stat[] = [];
  let cur: Partial<Stat> | null = null;
  for (const line of text.split('\n')) {
    if (line.endsWith('{')) {
      cur = {};
      continue;
    }
    if (line === '}' || line.startsWith('}')) {
      if (cur) out.push(cur as Stat);
      cur = null;
      continue;
    }
    if (!cur) continue;
    const i = line.indexOf(': ');
    if (i < 0) continue;
    const key = line.slice(0, i).trim();
    const v = Number(line.slice(i + 2));
    switch (key) {
      case 'st_ino':
        cur.ino = v;
        break;
      case 'st_mode':
        cur.mode = v;
        break;
      case 'st_uid':
        cur.uid = v;
        break;
      case 'st_gid':
        cur.gid = v;
        break;
      case 'st_size':
        cur.size = v;
        break;
      case 'st_mtime_sec':
        cur.mtime = v;
        break;
    }
  }
  return out;
}

/** Single-statns output (no list brackets) is the same fields without `[i] = {`. */
function parseOneStat(text: string): Stat {
  return parseStatList(`[0] = {\n${text}\n}`)[0]!;
}

function isListSafe(b: Buffer): boolean {
  if (b.length === 0) return false;
  for (const c of b) if (c === 0x27 || c === 0x5c || c < 0x20) return false;
  return true;
}

/** Chunks of names whose quoted string list stays under the line limit. */
function chunkNames(names: Buffer[], budget: number): Buffer[][] {
  const chunks: Buffer[][] = [];
  let cur: Buffer[] = [];
  let len = 0;
  for (const n of names) {
    let cost = 3;
    for (const c of n) cost += c >= 0x7f ? 4 : c === 0x22 ? 2 : 1;
    if (cur.length > 0 && len + cost > budget) {
      chunks.push(cur);
      cur = [];
      len = 0;
    }
    cur.push(n);
    len += cost;
  }
  if (cur.length > 0) chunks.push(cur);
  return chunks;
}

function listArg(names: Buffer[]): string {
  const parts: Buffer[] = [];
  names.forEach((n, i) => {
    if (i > 0) parts.push(Buffer.from(' '));
    parts.push(Buffer.from("'"), n, Buffer.from("'"));
  });
  return quoteArg(Buffer.concat(parts));
}

/** What probing tells of a filesystem: a FilesystemView before it is listed. */
type ProbedFs = Omit<FilesystemView, 'inventory' | 'readFiles'>;

class GuestfsImage {
  problems: string[] = [];
  notes: string[] = [];
  /** What the file reads cost, for --verbose: readFiles calls, files, bytes and `pread` commands. */
  readStats = { calls: 0, files: 0, bytes: 0, preads: 0 };
  private tmp: string;
  private releaseTmp: () => void;
  private seq = 0;

  constructor(
    readonly g: Guestfish,
    env: NodeJS.ProcessEnv,
    private readonly verbose?: (msg: string) => void,
  ) {
    this.tmp = mkdtempSync(path.join(env.HOSTLEAK_TMPDIR ?? os.tmpdir(), 'hostleak-gfs-'));
    const dir = this.tmp;
    this.releaseTmp = registerCleanup(() => rmSync(dir, { recursive: true, force: true }));
  }

  cleanup(): void {
    this.releaseTmp();
  }

  private async opt(line: string): Promise<string | null> {
    try {
      const s = (await this.g.run(line)).trim();
      return s === '' ? null : s;
    } catch (err) {
      if (err instanceof GuestfsCommandError) return null;
      throw err;
    }
  }

  /** Probe every partition (or the whole disk) and logical volume, one device at a time. */
  async probe(): Promise<ProbedFs[]> {
    const g = this.g;
    const devices = await g.lines('list-devices');
    let parts: string[] = [];
    try {
      parts = await g.lines('list-partitions');
    } catch (err) {
      if (!(err instanceof GuestfsCommandError)) throw err;
      this.problems.push(`cannot list partitions: ${oneLine(err.message)}`);
    }
    let lvs: string[] = [];
    try {
      lvs = await g.lines('lvs');
    } catch (err) {
      if (!(err instanceof GuestfsCommandError)) throw err;
    }
    const partTypes = new Map<string, string | null>();
    await Promise.all(devices.map(async (d) => partTypes.set(d, await this.opt(`part-get-parttype ${quoteArg(d)}`))));
    const candidates = [...(parts.length > 0 ? parts : devices), ...lvs];
    const out: ProbedFs[] = [];
    await Promise.all(
      candidates.map(async (dev) => {
        let type: string;
        try {
          type = (await g.run(`vfs-type ${quoteArg(dev)}`)).trim();
        } catch (err) {
          if (!(err instanceof GuestfsCommandError)) throw err;
          this.problems.push(`${dev}: ${oneLine(err.message)}`);
          return;
        }
        if (type === '') {
          if (parts.length === 0 && !lvs.includes(dev)) this.problems.push(`${dev}: no filesystem recognised`);
          else this.notes.push(`${dev}: no filesystem, skipped`);
          return;
        }
        if (type === 'swap' || type === 'LVM2_member') return;
        if (type === 'crypto_LUKS') {
          this.problems.push(`${dev}: encrypted (LUKS), not audited`);
          return;
        }
        const [label, uuid] = await Promise.all([this.opt(`vfs-label ${quoteArg(dev)}`), this.opt(`vfs-uuid ${quoteArg(dev)}`)]);
        let partlabel: string | null = null;
        let partuuid: string | null = null;
        const m = /^(\/dev\/[a-z]+)(\d+)$/.exec(dev);
        if (m && parts.includes(dev) && partTypes.get(m[1]!) === 'gpt') {
          [partlabel, partuuid] = await Promise.all([
            this.opt(`part-get-name ${quoteArg(m[1]!)} ${m[2]}`),
            this.opt(`part-get-gpt-guid ${quoteArg(m[1]!)} ${m[2]}`),
          ]);
        }
        out.push({ device: dev, type, label, uuid, partlabel, partuuid });
      }),
    );
    return out.sort((a, b) => candidates.indexOf(a.device) - candidates.indexOf(b.device));
  }

  /** Mount each filesystem read-only at its own mountpoint in the appliance; failures become problems. */
  async mountAll(fss: ProbedFs[]): Promise<Array<{ fs: ProbedFs; mp: string }>> {
    const mps = fss.map((fs, i) => ({ fs, mp: `/hostleak${i}` }));
    for (const { mp } of mps) await this.g.run(`mkmountpoint ${mp}`);
    const mounted: Array<{ fs: ProbedFs; mp: string }> = [];
    await Promise.all(
      mps.map(async (m) => {
        try {
          await this.g.run(`mount-ro ${quoteArg(m.fs.device)} ${m.mp}`);
          mounted.push(m);
        } catch (err) {
          if (!(err instanceof GuestfsCommandError)) throw err;
          this.problems.push(`${m.fs.device} (${m.fs.type}): cannot mount: ${oneLine(err.message)}`);
        }
      }),
    );
    return mounted.sort((a, b) => byCodePoint(a.mp, b.mp));
  }

  /** The full inventory of one mounted filesystem: find0 + lstatnslist per directory + readlinklist. */
  async list(fs: ProbedFs, mp: string): Promise<Inventory> {
    const g = this.g;
    const started = Date.now();
    const host = path.join(this.tmp, `find-${this.seq++}`);
    const findOut = await g.raw(`find0 ${mp} ${quoteArg(host)}`);
    const findErr = commandError(findOut);
    if (findErr !== null) this.problems.push(`${fs.device}: listing stopped early: ${oneLine(findErr)}`);
    let raw: Buffer;
    try {
      raw = await fsp.readFile(host);
      await fsp.rm(host, { force: true });
    } catch {
      raw = Buffer.alloc(0);
    }
    // Names relative to mp, each starting with '/'.
    const names: Buffer[] = [];
    for (let s = 0; s < raw.length; ) {
      let e = raw.indexOf(0, s);
      if (e < 0) e = raw.length;
      if (e > s) names.push(raw.subarray(s, e));
      s = e + 1;
    }
    const tFind = Date.now();
    const byDir = new Map<string, Buffer[]>();
    const rawOf = new Map<string, Buffer>();
    for (const n of names) {
      const i = n.lastIndexOf(0x2f);
      const dir = i <= 0 ? '/' : n.subarray(0, i).toString('latin1');
      let list = byDir.get(dir);
      if (!list) byDir.set(dir, (list = []));
      list.push(n.subarray(i + 1));
    }
    const inventory = new Inventory();
    const mpBuf = Buffer.from(mp);
    const abs = (dirLatin1: string, name?: Buffer) =>
      Buffer.concat([mpBuf, Buffer.from(dirLatin1 === '/' ? '' : dirLatin1, 'latin1'), ...(name ? [Buffer.from('/'), name] : [])]);
    const rel = (dirLatin1: string, name: Buffer) =>
      Buffer.concat([Buffer.from(dirLatin1 === '/' ? '' : dirLatin1, 'latin1'), Buffer.from('/'), name]);
    const add = (relPath: Buffer, st: Stat) => {
      if (st.ino === -1 || st.mode === undefined) {
        this.problems.push(`${fs.device}: cannot stat ${relPath.toString('utf8')}`);
        return;
      }
      const p = relPath.toString('utf8');
      rawOf.set(p, relPath);
      const e: Entry = {
        path: p,
        type: typeOfMode(st.mode),
        mode: st.mode & 0o7777,
        uid: st.uid,
        gid: st.gid,
        size: st.size,
        mtime: st.mtime,
        fs: fs.device,
      };
      inventory.add(e);
    };
    const rootStat = parseOneStat(await g.run(`lstatns ${mp}`));
    add(Buffer.from('/'), rootStat);
    const links: Array<{ dir: string; name: Buffer }> = [];
    const jobs: Promise<void>[] = [];
    const budget = MAX_LINE - 200;
    for (const [dir, list] of byDir) {
      const safe = list.filter(isListSafe);
      const unsafe = list.filter((n) => !isListSafe(n));
      const dirArg = quoteArg(abs(dir));
      for (const chunk of chunkNames(safe, budget - dirArg.length)) {
        jobs.push(
          g.run(`lstatnslist ${dirArg} ${listArg(chunk)}`).then(
            (text) => {
              const stats = parseStatList(text);
              if (stats.length !== chunk.length) {
                this.problems.push(`${fs.device}: unexpected lstatnslist output in ${dir}`);
                return;
              }
              chunk.forEach((n, i) => {
                add(rel(dir, n), stats[i]!);
                if (typeOfMode(stats[i]!.mode) === 'symlink') links.push({ dir, name: n });
              });
            },
            (err: unknown) => {
              if (!(err instanceof GuestfsCommandError)) throw err;
              this.problems.push(`${fs.device}: cannot stat entries of ${dir}: ${oneLine(err.message)}`);
            },
          ),
        );
      }
      for (const n of unsafe) {
        jobs.push(
          g.run(`lstatns ${quoteArg(abs(dir, n))}`).then(
            (text) => {
              const st = parseOneStat(text);
              add(rel(dir, n), st);
              if (typeOfMode(st.mode) === 'symlink') links.push({ dir, name: n });
            },
            (err: unknown) => {
              if (!(err instanceof GuestfsCommandError)) throw err;
              this.problems.push(`${fs.device}: cannot stat ${rel(dir, n).toString('utf8')}: ${oneLine(err.message)}`);
            },
          ),
        );
      }
    }
    await Promise.all(jobs);
    const tStat = Date.now();
    await this.readLinks(fs, inventory, links, abs, rel);
    this.verbose?.(
      `guestfs: ${fs.device} (${fs.type}): ${inventory.size} entries; find0 ${tFind - started} ms, lstatnslist ${
        tStat - tFind
      } ms, readlinklist ${Date.now() - tStat} ms`,
    );
    return inventory;
  }

  private async readLinks(
    fs: ProbedFs,
    inventory: Inventory,
    links: Array<{ dir: string; name: Buffer }>,
    abs: (dir: string, name?: Buffer) => Buffer,
    rel: (dir: string, name: Buffer) => Buffer,
  ): Promise<void> {
    const g = this.g;
    const setTarget = (dir: string, name: Buffer, target: string) => {
      inventory.setTarget(rel(dir, name).toString('utf8'), target);
    };
    const one = async (dir: string, name: Buffer) => {
      try {
        const out = await g.raw(`readlink ${quoteArg(abs(dir, name))}`);
        const err = commandError(out);
        if (err !== null) throw new GuestfsCommandError(err);
        const s = out.toString('utf8');
        setTarget(dir, name, s.endsWith('\n') ? s.slice(0, -1) : s);
      } catch (err) {
        if (!(err instanceof GuestfsCommandError)) throw err;
        setTarget(dir, name, '');
        this.problems.push(`${fs.device}: cannot read symlink ${rel(dir, name).toString('utf8')}`);
      }
    };
    const byDir = new Map<string, Buffer[]>();
    for (const l of links) {
      let list = byDir.get(l.dir);
      if (!list) byDir.set(l.dir, (list = []));
      list.push(l.name);
    }
    const jobs: Promise<void>[] = [];
    for (const [dir, list] of byDir) {
      const safe = list.filter(isListSafe);
      for (const n of list.filter((x) => !isListSafe(x))) jobs.push(one(dir, n));
      const dirArg = quoteArg(abs(dir));
      for (const chunk of chunkNames(safe, MAX_LINE - 200 - dirArg.length)) {
        jobs.push(
          g.raw(`readlinklist ${dirArg} ${listArg(chunk)}`).then(async (out) => {
            const err = commandError(out);
            const text = out.toString('utf8');
            const targets = text.endsWith('\n') ? text.slice(0, -1).split('\n') : text.split('\n');
            // A target with a newline in it shifts the lines: read that chunk one link at a time.
            if (err !== null || targets.length !== chunk.length || targets.some((t) => t === '')) {
              await Promise.all(chunk.map((n) => one(dir, n)));
              return;
            }
            chunk.forEach((n, i) => setTarget(dir, n, targets[i]!));
          }),
        );
      }
    }
    await Promise.all(jobs);
  }

  /** Read files of one filesystem: one pipelined batch of `pread`s. */
  async readFiles(
    inventory: Inventory,
    mp: string,
    paths: string[],
    maxBytes: number,
  ): Promise<Map<string, FileContent | Error>> {
    const out = new Map<string, FileContent | Error>();
    const stats = this.readStats;
    stats.calls++;
    await Promise.all(
      paths.map(async (p) => {
        const e = inventory.get(p);
        if (!e) return void out.set(p, new Error(`${p}: not in the image`));
        if (e.type !== 'file') return void out.set(p, new Error(`${p}: not a regular file`));
        const want = Math.min(e.size, maxBytes);
        const target = quoteArg(p === '/' ? mp : mp + p);
        const parts: Promise<Buffer>[] = [];
        for (let off = 0; off < want; off += READ_CHUNK) {
          const n = Math.min(READ_CHUNK, want - off);
          stats.preads++;
          parts.push(
            this.g.raw(`pread ${target} ${n} ${off}`).then((b) => {
              if (b.length !== n) {
                const err = commandError(b);
                throw new Error(err ?? `${p}: short read`);
              }
              return b;
            }),
          );
        }
        try {
          const data = Buffer.concat(await Promise.all(parts));
          stats.files++;
          stats.bytes += data.length;
          out.set(p, { data, size: e.size, truncated: e.size > data.length });
        } catch (err) {
          out.set(p, err as Error);
        }
      }),
    );
    return out;
  }
}

function envFor(accel: 'kvm' | 'tcg', base: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const env = { ...base };
  const settings = (env.LIBGUESTFS_BACKEND_SETTINGS ?? '')
    .split(':')
    .filter((s) => s !== '' && s !== 'force_tcg' && s !== 'force_kvm');
  if (accel === 'tcg') settings.push('force_tcg');
  if (settings.length > 0) env.LIBGUESTFS_BACKEND_SETTINGS = settings.join(':');
  else delete env.LIBGUESTFS_BACKEND_SETTINGS;
  return env;
}

/** Launch one appliance on the prepared image; `auto` falls back to TCG once when the KVM launch fails. */
async function launch(
  img: PreparedImage,
  accel: Accel,
  deadline: number,
  timeoutS: number,
  baseEnv: NodeJS.ProcessEnv,
  verbose?: (msg: string) => void,
): Promise<{ g: Guestfish; mode: 'kvm' | 'tcg' }> {
  const forcedTcg = (baseEnv.LIBGUESTFS_BACKEND_SETTINGS ?? '').split(':').includes('force_tcg');
  const attempts: Array<'kvm' | 'tcg'> =
    accel === 'tcg' || (accel === 'auto' && (forcedTcg || kvmBroken))
      ? ['tcg']
      : accel === 'kvm'
        ? ['kvm']
        : ['kvm', 'tcg'];
  if (accel === 'auto' && kvmBroken && !forcedTcg) verbose?.('guestfs: KVM failed earlier in this run; using TCG');
  let lastErr: Error | null = null;
  const kvmTimeoutMs = kvmLaunchTimeoutMs(baseEnv);
  for (const mode of attempts) {
    const remaining = deadline - Date.now();
    if (remaining <= 0) break;
    const started = Date.now();
    verbose?.(`guestfs: launching appliance (${mode === 'kvm' ? 'KVM' : 'TCG'}) for ${img.path}`);
    const g = new Guestfish({ env: envFor(mode, baseEnv), timeoutMs: remaining, timeoutS, verbose });
    try {
      await g.run(`add-drive ${quoteArg(img.path)} readonly:true format:${img.container}`);
    } catch (err) {
      await g.close().catch(() => undefined);
      // A refusal of ours (time, guestfish missing) stands; guestfish's own failure is explained below.
      if (err instanceof TargetError && !(err instanceof GuestfsCommandError)) throw err;
      // The drive itself was rejected (before any qemu ran): another accelerator will not help. libguestfs hides
      // qemu's reason and names its temp overlay: ask qemu-img for the reason, and name no host path.
      const reason = await qemuReason(img.path, img.container);
      throw new TargetError(
        `libguestfs rejected the image: ${reason ? `qemu: ${reason}` : scrubPaths(oneLine((err as Error).message), [[img.path, 'the image']])}`,
      );
    }
    // Under KVM a launch takes seconds; where KVM is broken qemu may hang instead of failing, so bound it.
    let hung = false;
    const kvmTimer =
      mode === 'kvm' && attempts.length > 1
        ? setTimeout(() => {
            hung = true;
            g.kill();
          }, kvmTimeoutMs)
        : null;
    try {
      await g.run('run');
      if (kvmTimer) clearTimeout(kvmTimer);
      verbose?.(`guestfs: appliance up in ${Date.now() - started} ms (acceleration: ${mode === 'kvm' ? 'KVM' : 'TCG'})`);
      return { g, mode };
    } catch (err) {
      if (kvmTimer) clearTimeout(kvmTimer);
      await g.close().catch(() => undefined);
      if (err instanceof TargetError && !(err instanceof GuestfsCommandError) && !hung) throw err;
      const msg = hung ? `no answer within ${kvmTimeoutMs / 1000} s` : scrubPaths(oneLine((err as Error).message), [[img.path, 'the image']]);
      if (mode === 'kvm') kvmBroken = true;
      // --accel kvm has no fallback: say what would have worked.
      const hint = mode === 'kvm' && attempts.length === 1 ? '; KVM does not work here: use --accel tcg (or auto, which falls back by itself), and `hostleak doctor` to check this machine' : '';
      lastErr = new TargetError(`libguestfs could not launch the appliance: ${msg}${hint}`);
      if (mode === 'kvm' && attempts.length > 1) {
        verbose?.(`guestfs: KVM launch failed (${msg}); retrying once with TCG (LIBGUESTFS_BACKEND_SETTINGS=force_tcg)`);
      }
    }
  }
  throw lastErr ?? new TargetError('timed out before the appliance started');
}

/**
 * Open an already prepared image through one appliance. The caller keeps ownership of `img` until close() (which
 * cleans it up). `opts.acquireAppliance` caps how many appliances run at once.
 */
export async function openGuestfsPrepared(
  img: PreparedImage,
  target: string,
  options: GuestfsBackendOptions,
  opts: OpenOptions,
): Promise<OpenedImage> {
  const verbose = opts.verbose;
  const accel = options.accel ?? 'auto';
  const timeoutS = opts.deadline?.seconds ?? options.timeoutS ?? DEFAULT_TIMEOUT_S;
  // Time spent waiting for an appliance slot is not the target's: it does not count against --timeout.
  const slot = opts.acquireAppliance?.();
  const release = (slot && (await (opts.deadline ? opts.deadline.paused(slot) : slot))) ?? (() => {});
  const deadline = opts.deadline?.at ?? Date.now() + timeoutS * 1000;
  let g: Guestfish | null = null;
  let image: GuestfsImage | null = null;
  try {
    const env = options.env ?? process.env;
    const launched = await launch(img, accel, deadline, timeoutS, env, verbose);
    g = launched.g;
    image = new GuestfsImage(g, env, verbose);
    const im = image;
    const fss = await im.probe();
    const mounted = await im.mountAll(fss);
    const views: FilesystemView[] = [];
    const tList = Date.now();
    for (const { fs, mp } of mounted) {
      const inventory = await im.list(fs, mp);
      views.push({
        ...fs,
        inventory,
        readFiles: (paths, maxBytes) => im.readFiles(inventory, mp, paths, maxBytes),
      });
    }
    const tAssemble = Date.now();
    verbose?.(`phase list: ${tAssemble - tList} ms (${views.length} filesystem(s), ${views.reduce((n, v) => n + v.inventory.size, 0)} entries)`);
    const a = await assemble(views);
    verbose?.(`phase assemble: ${Date.now() - tAssemble} ms`);
    for (const n of [...im.notes, ...a.notes]) verbose?.(n);
    verbose?.(`guestfs: ${g.commands} guestfish commands so far`);
    const gg = g;
    return {
      backend: 'guestfs',
      accel: launched.mode,
      filesystems: a.filesystems,
      roots: a.roots,
      problems: [...im.problems, ...a.problems],
      async close() {
        const r = im.readStats;
        verbose?.(
          `guestfs: read ${r.files} files (${(r.bytes / 1048576).toFixed(1)} MiB) in ${r.preads} pread commands over ${r.calls} batches; ${gg.commands} guestfish commands in all`,
        );
        await gg.close().catch(() => undefined);
        im.cleanup();
        img.cleanup();
        release();
      },
    };
  } catch (err) {
    await g?.close().catch(() => undefined);
    image?.cleanup();
    release();
    if (err instanceof GuestfsCommandError) throw new TargetError(`libguestfs: ${oneLine(err.message)}`);
    throw err;
  }
}

export function createGuestfsBackend(options: GuestfsBackendOptions = {}): Backend {
  return {
    name: 'guestfs',
    open(target: string, opts: OpenOptions): Promise<OpenedImage> {
      const prep = { allowBackingFile: options.allowBackingFile, signal: opts.signal, verbose: opts.verbose, maxWrite: opts.maxDecompressedBytes };
      return withPreparedImage(target, prep, (img) => openGuestfsPrepared(img, target, options, opts));
    },
  };
}
