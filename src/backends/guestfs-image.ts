/**
 * One image inside one running appliance: probing its filesystems, mounting them, listing each into an inventory
 * and reading files for the rules (the guestfs backend, guestfs.ts, says how and why).
 */
import { byCodePoint } from '../arrays.js';
import { mkdtempSync, promises as fsp, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Inventory } from '../inventory.js';
import { typeOfMode, type Entry } from '../types.js';
import { registerCleanup } from '../image/cleanup.js';
import { oneLine } from '../errors.js';
import type { FileContent, FilesystemView } from './backend.js';
import { commandError, Guestfish, GuestfsCommandError, MAX_LINE, quoteArg } from './guestfish.js';
import { parseStatList, parseOneStat, parseSubvolumeList, isListSafe, chunkNames, listArg, type Stat } from './guestfs-parse.js';

const READ_CHUNK = 1024 * 1024;

/** What probing tells of a filesystem: a FilesystemView before it is listed. */
type ProbedFs = Omit<FilesystemView, 'inventory' | 'readFiles'>;

export class GuestfsImage {
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

  /**
   * Mount each filesystem read-only at its own mountpoint in the appliance; failures become problems. btrfs is
   * mounted at its top level (subvolid=5), like the native reader walks it; `btrfs` says where its subvolumes are.
   */
  async mountAll(fss: ProbedFs[]): Promise<Array<{ fs: ProbedFs; mp: string }>> {
    const mps = fss.map((fs, i) => ({ fs, mp: `/hostleak${i}` }));
    for (const { mp } of mps) await this.g.run(`mkmountpoint ${mp}`);
    const mounted: Array<{ fs: ProbedFs; mp: string }> = [];
    await Promise.all(
      mps.map(async (m) => {
        try {
          if (m.fs.type === 'btrfs') await this.g.run(`mount-options "ro,subvolid=5" ${quoteArg(m.fs.device)} ${m.mp}`);
          else await this.g.run(`mount-ro ${quoteArg(m.fs.device)} ${m.mp}`);
          mounted.push(m);
        } catch (err) {
          if (!(err instanceof GuestfsCommandError)) throw err;
          this.problems.push(`${m.fs.device} (${m.fs.type}): cannot mount: ${oneLine(err.message)}`);
        }
      }),
    );
    return mounted.sort((a, b) => byCodePoint(a.mp, b.mp));
  }

  /**
   * A btrfs filesystem mounted at its top level: where its subvolumes are in `inventory` and the default one
   * (FilesystemView.btrfs), two commands in this appliance. Undefined, with a note, when btrfs cannot say: the
   * filesystem is then audited as its top level shows it.
   */
  async btrfs(fs: ProbedFs, mp: string, inventory: Inventory): Promise<FilesystemView['btrfs']> {
    try {
      const [list, def] = await Promise.all([this.g.run(`btrfs-subvolume-list ${mp}`), this.g.run(`btrfs-subvolume-get-default ${mp}`)]);
      const subvolumes = [{ id: 5, path: '/' }, ...parseSubvolumeList(list).filter((s) => inventory.get(s.path)?.type === 'dir')];
      return { subvolumes, defaultId: Number(def.trim()) };
    } catch (err) {
      if (!(err instanceof GuestfsCommandError)) throw err;
      this.notes.push(`${fs.device}: cannot list btrfs subvolumes: ${oneLine(err.message)}`);
      return undefined;
    }
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
    /** Symlinks by directory, as lstat finds them: readlinklist reads them a directory at a time. */
    const links = new Map<string, Buffer[]>();
    const addLink = (dir: string, name: Buffer) => {
      const list = links.get(dir);
      if (list) list.push(name);
      else links.set(dir, [name]);
    };
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
                if (typeOfMode(stats[i]!.mode) === 'symlink') addLink(dir, n);
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
              if (typeOfMode(st.mode) === 'symlink') addLink(dir, n);
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
    links: Map<string, Buffer[]>,
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
    const jobs: Promise<void>[] = [];
    for (const [dir, list] of links) {
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
