/**
 * The ImageFs rules see. File reads are batched: every read requested in the same tick goes to the backend at once
 * (one `readFiles` call per distinct byte limit, pipelined into the one appliance for guestfs), and each file is read
 * at most once per audit.
 */
import { currentBudget } from '../../budget.js';
import { oneLine } from '../../errors.js';
import type { Entry, FileContent, ImageRoot } from '../../types.js';
import type { ImageFs, ReadOptions, ReadResult } from '../kit/rule.js';

export const DEFAULT_MAX_BYTES = 1024 * 1024;

interface Pending {
  maxBytes: number;
  /** False when every requester asked not to keep the contents. */
  cache: boolean;
  waiters: Array<{ resolve: (c: FileContent | null) => void; reject: (err: unknown) => void }>;
}

export interface ImageFsStats {
  batches: number;
  filesRead: number;
}

/** Unread files named in a problem line; the rest are counted. */
export const UNREAD_NAMED = 3;

/**
 * Regular files the audit asked for and did not get (a read error, an encoding or layout the reader does not decode,
 * an extent outside the image, a budget): every read of the audit passes here, so this is the one place that keeps
 * an unread file from passing as clean. Each rule, the content pass, the package database and the accounts see
 * `null` for such a file; the audit turns the record into a problem, which makes the target `partial`.
 */
export class UnreadFiles {
  private readonly named: Array<{ path: string; reason: string }> = [];
  private readonly seen = new Set<string>();
  add(path: string, reason: string): void {
    if (this.seen.has(path)) return;
    this.seen.add(path);
    if (this.named.length < UNREAD_NAMED) this.named.push({ path, reason });
  }
  get count(): number {
    return this.seen.size;
  }
  /** One problem line (paths and reasons passed through `clean`, e.g. redaction), or null when every file was read. */
  problem(clean: (s: string) => string, prefix = ''): string | null {
    if (this.count === 0) return null;
    const first = this.named.map((u) => `${clean(prefix + u.path)} (${clean(u.reason)})`).join(', ');
    const more = this.count - this.named.length;
    return `could not read ${this.count} file${this.count === 1 ? '' : 's'}: ${first}${more > 0 ? ` and ${more} more` : ''}`;
  }
}

/**
 * `files` sorted by the backend's read order (ImageRoot.readOrder), ties in the order given; a new array. How a
 * batch of reads is issued so a compressed archive serves it in one forward pass.
 */
export function inReadOrder(files: Entry[], order: (path: string) => number): Entry[] {
  const keyed = files.map((e, i) => ({ e, i, k: order(e.path) }));
  keyed.sort((a, b) => a.k - b.k || a.i - b.i);
  return keyed.map((x) => x.e);
}

export function createImageFs(root: ImageRoot): ImageFs & { stats: ImageFsStats; unread: UnreadFiles } {
  const inv = root.inventory;
  const cache = new Map<string, { maxBytes: number; content: FileContent | null }>();
  let pending = new Map<string, Pending>();
  let scheduled = false;
  const stats: ImageFsStats = { batches: 0, filesRead: 0 };
  const unread = new UnreadFiles();

  async function flush(): Promise<void> {
    scheduled = false;
    const batch = pending;
    pending = new Map();
    if (batch.size === 0) return;
    // The target's clock is read here, where every read of the audit passes: once its time is up no further batch
    // goes to the backend, and each waiting rule gets the TimeoutError (the runner rethrows it).
    try {
      currentBudget()?.check();
    } catch (err) {
      for (const req of batch.values()) for (const w of req.waiters) w.reject(err);
      return;
    }
    stats.batches++;
    stats.filesRead += batch.size;
    // One backend call per distinct limit, all issued at once: a file asked for its first 64 bytes is not read up
    // to the 4 MiB another rule wants of /etc/passwd in the same tick (through guestfs every byte crosses the
    // appliance, the rules phase's whole cost).
    const byLimit = new Map<number, string[]>();
    for (const [p, req] of batch) {
      const list = byLimit.get(req.maxBytes);
      if (list) list.push(p);
      else byLimit.set(req.maxBytes, [p]);
    }
    const results = new Map<string, FileContent | Error>();
    await Promise.all(
      [...byLimit].map(async ([maxBytes, paths]) => {
        try {
          for (const [k, v] of await root.readFiles(paths, maxBytes)) results.set(k, v);
        } catch (err) {
          for (const k of paths) results.set(k, err as Error);
        }
      }),
    );
    for (const [p, req] of batch) {
      const r = results.get(p);
      // By shape, not `instanceof Error`: an error made in another realm (a Node internal one under a test VM) is
      // still an error, never contents.
      const content = r && !(r instanceof Error) && Buffer.isBuffer((r as Partial<FileContent>).data) ? r : null;
      if (!content) unread.add(p, r ? oneLine(r) : 'the backend returned nothing for it');
      if (req.cache) cache.set(p, { maxBytes: req.maxBytes, content });
      for (const w of req.waiters) w.resolve(content);
    }
  }

  function load(p: string, maxBytes: number, keep: boolean): Promise<FileContent | null> {
    const hit = cache.get(p);
    if (hit && (hit.maxBytes >= maxBytes || (hit.content && !hit.content.truncated))) {
      return Promise.resolve(hit.content);
    }
    return new Promise((resolve, reject) => {
      let req = pending.get(p);
      if (!req) pending.set(p, (req = { maxBytes, cache: keep, waiters: [] }));
      req.maxBytes = Math.max(req.maxBytes, maxBytes);
      req.cache ||= keep;
      req.waiters.push({ resolve, reject });
      if (!scheduled) {
        scheduled = true;
        setImmediate(() => void flush());
      }
    });
  }

  const fs: ImageFs & { stats: ImageFsStats; unread: UnreadFiles } = {
    stats,
    unread,
    lstat: (p) => inv.get(p),
    ...(root.readOrder ? { readOrder: (p: string) => root.readOrder!(p) } : {}),
    ...(root.notAnImage ? { notAnImage: (p: string) => root.notAnImage!(p) } : {}),
    resolve: (p, opts) => inv.resolve(p, opts),
    async readFile(p: string, opts: ReadOptions = {}): Promise<ReadResult | null> {
      const r = inv.resolve(p);
      if (!r.ok || r.entry.type !== 'file') return null;
      const maxBytes = opts.maxBytes ?? DEFAULT_MAX_BYTES;
      const c = await load(r.path, maxBytes, opts.cache ?? true);
      if (!c) return null;
      const data = c.data.length > maxBytes ? c.data.subarray(0, maxBytes) : c.data;
      return { path: r.path, data, size: c.size, truncated: c.size > data.length };
    },
    async readText(p: string, opts?: ReadOptions): Promise<string | null> {
      const r = await fs.readFile(p, opts);
      return r ? r.data.toString('utf8') : null;
    },
  };
  return fs;
}
