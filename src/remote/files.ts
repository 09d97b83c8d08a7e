/**
 * Files behind HTTP(S) as targets: what a URL holds (its size, validator, whether the server answers range requests,
 * its first bytes) and its bytes by range or as a stream, for the resolvers' byte ranges (src/resolve/stream.ts) and
 * the native readers' RemoteSource. One open per URL per target (kept with the target's budget), so every request
 * of one audit compares its validator with the same first answer: a file replaced mid-audit is an error, never a mix
 * of two versions.
 */
import { Readable } from 'node:stream';
import { currentBudget, type TargetBudget } from '../budget.js';
import { SourceLostError, TargetError } from '../errors.js';
import { HttpClient, HttpError, NoRangeError, safeUrl, validatorChange, validatorOf, type Validator } from './http.js';

/** Bytes of the head read when a URL is opened (format detection looks at 0x10100; one cache block more is cheap). */
export const REMOTE_HEAD = 128 * 1024;

export { isRemoteTarget } from './reference.js';

export interface RemoteInfo {
  url: string;
  /** Size in bytes (null: a server without ranges that sent no Content-Length). */
  size: number | null;
  validator: Validator;
  /** The server answers range requests (206). */
  ranges: boolean;
  /** The first bytes (up to REMOTE_HEAD, fewer for a smaller file). */
  head: Buffer;
  /** The last 512 bytes (a fixed VHD's footer), when the file is larger than its head and ranges work. */
  tail: Buffer | null;
}

/** What one target's remote reads cost: body bytes received and requests made (every client of the target adds). */
export interface RemoteStats {
  bytes: number;
  requests: number;
}

interface PerTarget {
  infos: Map<string, Promise<RemoteInfo>>;
  stats: RemoteStats;
}
const perTarget = new WeakMap<TargetBudget, PerTarget>();
const outside: PerTarget = { infos: new Map(), stats: { bytes: 0, requests: 0 } };

function state(): PerTarget {
  const budget = currentBudget();
  if (!budget) return outside;
  let s = perTarget.get(budget);
  if (!s) perTarget.set(budget, (s = { infos: new Map(), stats: { bytes: 0, requests: 0 } }));
  return s;
}

/** The current target's remote byte counts. */
export function remoteStats(): RemoteStats {
  return state().stats;
}

/** A client for one target's requests, counting into its stats. */
export function remoteClient(signal?: AbortSignal): HttpClient {
  const stats = state().stats;
  const client = new HttpClient({ signal, onBytes: (n) => (stats.bytes += n) });
  return client;
}

function counted(client: HttpClient, stats: RemoteStats, before: number): void {
  stats.requests += client.stats.requests - before;
}

/** Open a URL once per target: the first answer's size, validator and head. */
export function remoteInfo(url: string, signal?: AbortSignal): Promise<RemoteInfo> {
  const s = state();
  let p = s.infos.get(url);
  if (!p) {
    p = probe(url, signal);
    s.infos.set(url, p);
  }
  return p;
}

async function probe(url: string, signal?: AbortSignal): Promise<RemoteInfo> {
  const stats = state().stats;
  const client = remoteClient(signal);
  try {
    // One request: a range answer (206) says the server does ranges; a whole-file answer (200) does not, and its
    // first REMOTE_HEAD bytes are kept, the rest not downloaded.
    const first = await client.stream(url, { range: { start: 0, end: REMOTE_HEAD }, accept: [200, 206, 416] });
    if (first.status === 416) {
      await first.cancel();
      throw new TargetError(`${safeUrl(url)}: empty file`);
    }
    const chunks: Buffer[] = [];
    let got = 0;
    try {
      for await (const c of first.body) {
        chunks.push(c);
        got += c.length;
        if (got >= REMOTE_HEAD) break;
      }
    } finally {
      await first.cancel();
    }
    const head = Buffer.concat(chunks, got).subarray(0, REMOTE_HEAD);
    if (first.status === 200) {
      if (head.length === 0) throw new TargetError(`${safeUrl(url)}: empty file`);
      return { url, size: first.length, validator: first.validator, ranges: false, head, tail: null };
    }
    const size = first.totalSize;
    if (size === null) throw new TargetError(`${safeUrl(url)}: the server does not say the file's size (Content-Range: bytes .../*)`);
    if (head.length !== Math.min(size, REMOTE_HEAD)) {
      throw new SourceLostError(`${safeUrl(url)}: ${head.length} bytes instead of ${Math.min(size, REMOTE_HEAD)} at the start of the file`);
    }
    let tail: Buffer | null = null;
    if (size > head.length && size >= 512) {
      const t = await client.get(url, { range: { start: size - 512, end: size } });
      const change = validatorChange(first.validator, t.validator);
      if (change) throw new SourceLostError(`${safeUrl(url)}: the remote file changed while it was opened (${change})`);
      tail = t.body;
    }
    return { url, size, validator: first.validator, ranges: true, head, tail };
  } finally {
    counted(client, stats, 0);
  }
}

/** Bytes [start, start+length) of a remote file, as a stream (a range request; the whole file as a plain GET). */
export function remoteRangeStream(url: string, start: number, length: number, signal?: AbortSignal): Readable {
  return Readable.from(remoteChunks(url, start, length, signal), { objectMode: false });
}

async function* remoteChunks(url: string, start: number, length: number, signal?: AbortSignal): AsyncGenerator<Buffer> {
  const info = await remoteInfo(url, signal);
  // A file no longer than its head (a small archive) is served from it: nothing is asked twice.
  if (info.size !== null && info.size <= info.head.length) {
    yield info.head.subarray(start, Math.min(info.size, start + length));
    return;
  }
  const whole = start === 0 && (info.size === null || length >= info.size);
  if (!info.ranges && !whole) {
    throw new TargetError(`${safeUrl(url)}: the server does not answer range requests, and bytes ${start}-${start + length - 1} of the file are needed alone: download it`);
  }
  const stats = state().stats;
  const client = remoteClient(signal);
  try {
    const s = await client.stream(url, whole ? {} : { range: { start, end: start + length } });
    const change = validatorChange(info.validator, s.validator);
    if (change) {
      await s.cancel();
      throw new SourceLostError(`${safeUrl(url)}: the remote file changed during the audit (${change})`);
    }
    yield* s.body;
  } catch (err) {
    if (err instanceof HttpError && !(err instanceof SourceLostError)) throw new SourceLostError(err.message);
    throw err;
  } finally {
    counted(client, stats, 0);
  }
}

/** Up to `len` bytes at `start` of a remote file (fewer at its end). */
export async function remoteReadRange(url: string, start: number, len: number, signal?: AbortSignal): Promise<Buffer> {
  const info = await remoteInfo(url, signal);
  if (start + len <= info.head.length || (info.size !== null && start >= info.size)) return info.head.subarray(start, start + len);
  if (info.size !== null) len = Math.min(len, info.size - start);
  if (!info.ranges) {
    throw new TargetError(`${safeUrl(url)}: the server does not answer range requests, and bytes ${start}-${start + len - 1} of the file are needed alone: download it`);
  }
  if (len <= 0) return Buffer.alloc(0);
  const stats = state().stats;
  const client = remoteClient(signal);
  try {
    const r = await client.get(url, { range: { start, end: start + len } });
    const change = validatorChange(info.validator, r.validator);
    if (change) throw new SourceLostError(`${safeUrl(url)}: the remote file changed during the audit (${change})`);
    return r.body;
  } catch (err) {
    if (err instanceof HttpError) throw new SourceLostError(err.message);
    throw err;
  } finally {
    counted(client, stats, 0);
  }
}

/**
 * A remote file's version for the result cache, from one 1-byte request: its size and a validator string, or null
 * when the server gives neither a strong ETag nor Last-Modified (such a file is not cached: nothing says it is the
 * same next time). A weak ETag (`W/`) says "equivalent", not "the same bytes": Last-Modified is used then.
 */
export async function remoteVersion(url: string): Promise<{ size: number; version: string } | null> {
  const client = new HttpClient({ attempts: 2 });
  let headers: Headers;
  let size: number | null;
  try {
    const r = await client.get(url, { range: { start: 0, end: 1 } });
    headers = r.headers;
    size = r.totalSize;
  } catch (err) {
    if (!(err instanceof NoRangeError)) throw err;
    headers = err.headers;
    const length = headers.get('content-length');
    size = length !== null && /^\d+$/.test(length) ? Number(length) : null;
  }
  const v = validatorOf(headers);
  const version = v.etag !== null && !v.etag.startsWith('W/') ? `etag ${v.etag}` : v.lastModified !== null ? `last-modified ${v.lastModified}` : null;
  return size === null || version === null ? null : { size, version };
}
