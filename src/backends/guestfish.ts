/**
 * A driver for one `guestfish --ro` process over stdin/stdout.
 *
 * Every command is sent as `-CMD` (so a failing command does not end the session) followed by `echo MARKER`, with a
 * random per-session marker; stderr is merged into stdout, so everything between two markers is exactly the output
 * of one command, errors included. Commands are pipelined: callers may queue thousands without waiting, the pipe's
 * backpressure paces them, and results come back in order.
 *
 * guestfish runs in its own process group (it is the group leader; qemu is its child), so `kill()` takes the whole
 * appliance down; the process-wide cleanup does the same on Ctrl-C or exit.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { TargetError } from '../errors.js';
import { registerCleanup } from '../image/cleanup.js';
import { childProcess, nodeCrypto } from '../lazy.js';

/** guestfish rejects input lines past ~8 KB; keep every line under this. */
export const MAX_LINE = 7000;

export interface GuestfishOptions {
  env?: NodeJS.ProcessEnv;
  /** Kill the appliance after this many ms (what is left of the target's time). */
  timeoutMs: number;
  /** The target's whole `--timeout`, named in the error (the appliance gets only what is left of it). */
  timeoutS?: number;
  verbose?: (msg: string) => void;
  /** Executable (tests may point at a wrapper). */
  guestfish?: string;
}

/** Quote one argument for guestfish's line parser: double quotes with \" \\ and \xHH for anything not printable. */
export function quoteArg(s: string | Buffer): string {
  const b = typeof s === 'string' ? Buffer.from(s, 'utf8') : s;
  let out = '"';
  for (const c of b) {
    if (c === 0x22) out += '\\"';
    else if (c === 0x5c) out += '\\\\';
    else if (c < 0x20 || c >= 0x7f) out += '\\x' + c.toString(16).padStart(2, '0');
    else out += String.fromCharCode(c);
  }
  return out + '"';
}

/**
 * Can this name go inside a guestfish string list? The list parser splits on blanks and groups with single quotes;
 * it has no way to carry a newline, tab, a backslash-quote pair or a NUL, so such names are handled one by one.
 */
export function listSafe(name: string): boolean {
  // eslint-disable-next-line no-control-regex
  return !/['\\\x00-\x1f]/.test(name) && name !== '';
}

/** A string-list argument: each element single-quoted, the whole double-quoted. */
export function quoteList(names: string[]): string {
  return quoteArg(names.map((n) => `'${n}'`).join(' '));
}

/** The output accumulator's initial size, and the size past which it is shrunk back once drained. */
const ACC_START = 256 * 1024;
const ACC_KEEP = 8 * 1024 * 1024;

const ERROR_RE = /^(?:\*stdin\*:\d+: )?libguestfs: error: (.*)$/m;

/** What to do without guestfish: install it, or read the image without it. */
export const GUESTFISH_MISSING =
  'guestfish is not installed: install libguestfs-tools (Debian/Ubuntu: apt-get install libguestfs-tools), ' +
  'or use --backend native where the image allows it; `hostleak doctor` checks this machine';

/** One guestfish command failed on this image (the path is not there, the filesystem refused): its one line. */
export class GuestfsCommandError extends TargetError {
  override name = 'GuestfsCommandError';
}

interface Pending {
  resolve: (b: Buffer) => void;
  reject: (e: Error) => void;
}

/** The error text of a command's output, or null when it succeeded. */
export function commandError(out: Buffer): string | null {
  if (out.length > 4096) return null;
  return launchError(out.toString('utf8'));
}

const SEE_MORE = /, see (?:earlier error|debug) messages(?: above)?\.?$/;

/**
 * The first libguestfs error in `text`, with what qemu did when that is said further on: a failed launch says
 * "appliance closed the connection unexpectedly" first, then "/usr/bin/qemu-system-x86_64 killed by signal 6
 * (Aborted)"; under LIBGUESTFS_DEBUG=1 qemu's own line ("qemu-system-x86_64: error: failed to set MSR ...") comes
 * before them and is the reason. Null when there is no error.
 */
export function launchError(text: string): string | null {
  const errors = [...text.matchAll(new RegExp(ERROR_RE.source, 'gm'))].map((e) => e[1]!.trim().replace(SEE_MORE, '').replace(/\.$/, ''));
  const first = errors[0];
  if (first === undefined) return null;
  const qemu =
    /^(qemu-system-[^:\s]*: .+)$/m.exec(text)?.[1] ??
    errors.find((e) => /qemu/.test(e) && e !== first)?.replace(/^\S*\/(qemu-\S+)/, '$1');
  return qemu ? `${first} (${qemu})` : first;
}

export class Guestfish {
  private child: ChildProcess;
  private readonly marker: Buffer;
  /** Output not yet split at a marker: `acc[0, accLen)`, grown by doubling (one copy per byte, not one per chunk). */
  private acc: Buffer = Buffer.allocUnsafe(ACC_START);
  private accLen = 0;
  private scanFrom = 0;
  private queue: Pending[] = [];
  private dead: Error | null = null;
  private tail = '';
  private timer: NodeJS.Timeout;
  private releaseCleanup: () => void;
  readonly exited: Promise<void>;
  /** Commands sent so far. */
  commands = 0;

  constructor(private readonly opts: GuestfishOptions) {
    this.marker = Buffer.from(`__hostleak_${nodeCrypto().randomBytes(8).toString('hex')}__\n`);
    const exe = opts.guestfish ?? 'guestfish';
    // libguestfs keeps its overlay and sockets in a temp dir it removes only on a clean exit: give it a private one
    // that we remove ourselves after a kill. The appliance cache stays where it was (reused across runs).
    const baseEnv = opts.env ?? process.env;
    const tmpBase = baseEnv.TMPDIR ?? os.tmpdir();
    const privateTmp = mkdtempSync(path.join(tmpBase, 'hostleak-gf-'));
    const env: NodeJS.ProcessEnv = {
      ...baseEnv,
      TMPDIR: privateTmp,
      LIBGUESTFS_TMPDIR: privateTmp,
      LIBGUESTFS_CACHEDIR: baseEnv.LIBGUESTFS_CACHEDIR ?? baseEnv.TMPDIR ?? '/var/tmp',
    };
    // sh merges stderr into stdout so errors arrive in order; exec keeps one process (the group leader).
    this.child = childProcess().spawn('sh', ['-c', 'exec "$0" --ro 2>&1', exe], {
      stdio: ['pipe', 'pipe', 'ignore'],
      detached: true,
      env,
    });
    const pid = this.child.pid;
    this.releaseCleanup = registerCleanup(() => {
      if (pid) killGroup(pid);
      rmSync(privateTmp, { recursive: true, force: true });
    });
    this.child.stdout!.on('data', (d: Buffer) => this.onData(d));
    this.child.stdin!.on('error', () => undefined);
    this.exited = new Promise((resolve) => {
      this.child.on('error', (err) => {
        this.fail(
          (err as NodeJS.ErrnoException).code === 'ENOENT'
            ? new TargetError(GUESTFISH_MISSING)
            : err,
        );
        resolve();
      });
      this.child.on('close', (code, signal) => {
        const why = this.tail.trim().split('\n').filter((l) => l.trim() !== '').pop() ?? '';
        // sh could not exec it: "sh: 1: exec: guestfish: not found", status 127.
        if (code === 127 && /not found/.test(why)) this.fail(new TargetError(GUESTFISH_MISSING));
        this.fail(new GuestfsCommandError(`guestfish exited (${signal ?? `status ${code}`})${why ? `: ${why}` : ''}`));
        this.releaseCleanup();
        resolve();
      });
    });
    this.timer = setTimeout(() => {
      this.fail(new TargetError(`timed out after ${opts.timeoutS ?? Math.round(opts.timeoutMs / 1000)} s (see --timeout)`));
      this.kill();
    }, opts.timeoutMs);
    this.timer.unref();
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  private fail(err: Error): void {
    if (!this.dead) this.dead = err;
    const q = this.queue;
    this.queue = [];
    for (const p of q) p.reject(this.dead);
  }

  private onData(d: Buffer): void {
    this.tail = (this.tail + d.toString('utf8', Math.max(0, d.length - 512))).slice(-1024);
    if (this.accLen + d.length > this.acc.length) {
      let cap = this.acc.length;
      while (cap < this.accLen + d.length) cap *= 2;
      const grown = Buffer.allocUnsafe(cap);
      this.acc.copy(grown, 0, 0, this.accLen);
      this.acc = grown;
    }
    d.copy(this.acc, this.accLen);
    this.accLen += d.length;
    // Cut every complete output; each block is copied out, since the accumulator is reused.
    let start = 0;
    for (;;) {
      const i = this.acc.subarray(0, this.accLen).indexOf(this.marker, Math.max(start, this.scanFrom));
      if (i < 0) {
        this.scanFrom = Math.max(start, this.accLen - this.marker.length);
        break;
      }
      const block = Buffer.from(this.acc.subarray(start, i));
      start = i + this.marker.length;
      this.scanFrom = start;
      const p = this.queue.shift();
      p?.resolve(block);
    }
    if (start > 0) {
      this.acc.copyWithin(0, start, this.accLen);
      this.accLen -= start;
      this.scanFrom -= start;
      // Give a large buffer back once the big output it held is gone.
      if (this.acc.length > ACC_KEEP && this.accLen <= ACC_START) {
        const small = Buffer.allocUnsafe(ACC_START);
        this.acc.copy(small, 0, 0, this.accLen);
        this.acc = small;
      }
    }
  }

  /** Send one command; resolves with its raw output (errors are in the output: see commandError). */
  raw(line: string): Promise<Buffer> {
    if (this.dead) return Promise.reject(this.dead);
    if (line.includes('\n')) return Promise.reject(new Error('internal: newline in a guestfish command'));
    this.commands++;
    return new Promise<Buffer>((resolve, reject) => {
      this.queue.push({ resolve, reject });
      this.child.stdin!.write(`-${line}\necho ${this.marker.toString().trim()}\n`);
    });
  }

  /** Send one command; resolves with its output as text (final newline removed), rejects on a libguestfs error. */
  async run(line: string): Promise<string> {
    const out = await this.raw(line);
    const err = commandError(out);
    if (err !== null) throw new GuestfsCommandError(err);
    const s = out.toString('utf8');
    return s.endsWith('\n') ? s.slice(0, -1) : s;
  }

  /** Lines of a command that prints one string per line. */
  async lines(line: string): Promise<string[]> {
    const s = await this.run(line);
    return s === '' ? [] : s.split('\n');
  }

  /**
   * End the session. The drive is read-only and the overlay is ours to delete, so there is nothing to flush:
   * killing the process group is as safe as `quit` and skips the appliance's shutdown (seconds under TCG).
   */
  async close(): Promise<void> {
    clearTimeout(this.timer);
    this.child.stdin!.end();
    this.kill();
    await this.exited;
  }

  /** SIGKILL the process group (guestfish, qemu and anything they started). */
  kill(): void {
    clearTimeout(this.timer);
    if (this.child.pid) killGroup(this.child.pid);
  }
}

function killGroup(pid: number): void {
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    /* already gone */
  }
}
