/**
 * The one HTTP(S) client for remote targets: disk images and archives behind a web server (read with range requests)
 * and OCI registries (manifests, blobs). Node's own fetch (undici), no other dependency.
 *
 * What every request gets here, so no caller re-implements it:
 * - a limit on requests in flight per client (`concurrency`), an idle timeout per attempt (`timeoutMs`: for the
 *   headers, then between body chunks), and the caller's signal (the target's deadline: its reason, a TimeoutError,
 *   is what is thrown);
 * - retries with exponential backoff and jitter for what may pass (connection refused/reset, a body cut short,
 *   408/429/5xx; `Retry-After` honoured up to the backoff cap), never for other 4xx;
 * - redirects followed by hand (at most `maxRedirects`): never from https to http, and the `Authorization` header is
 *   dropped when the origin changes;
 * - a body cap (`maxBytes`): a larger body is an error, read no further;
 * - every failure as an HttpError (a TargetError: exit 3) with a one-line reason naming the request, the URL without
 *   credentials or query values (signed URLs carry tokens there);
 * - bytes counted: `client.stats` (body bytes received, requests, retries) and an `onBytes` hook.
 *
 * Usage:
 *   const http = new HttpClient({ signal: deadline.signal, timeoutMs: 30_000 });
 *   const r = await http.get(url, { range: { start: 0, end: 65536 } });   // r.status 206, r.body, r.validator
 *   const s = await http.stream(url);                                      // s.body: AsyncIterable<Buffer>
 */
import { TargetError } from '../errors.js';

/** An HTTP failure: status (null for a network failure), the request's URL for messages, and whether a retry may pass. */
export class HttpError extends TargetError {
  override name = 'HttpError';
  constructor(
    message: string,
    readonly status: number | null,
    readonly url: string,
    readonly retryable: boolean,
  ) {
    super(message);
  }
}

/** A range request answered with the whole file (200): the server does not do ranges. The body was not read. */
export class NoRangeError extends HttpError {
  override name = 'NoRangeError';
  constructor(
    message: string,
    url: string,
    /** The 200 answer's headers (its validator, Content-Length). */
    readonly headers: Headers,
  ) {
    super(message, 200, url, false);
  }
}

export interface HttpClientOptions {
  /** Most requests in flight at once (default 4). */
  concurrency?: number;
  /** Attempts per request, the first included (default 4). */
  attempts?: number;
  /** First retry delay in ms, doubled per retry with jitter (default 200); no delay is longer than `maxBackoffMs`. */
  backoffMs?: number;
  maxBackoffMs?: number;
  /** Per-attempt idle timeout in ms: for the headers, then between two chunks of the body (default 30 s). */
  timeoutMs?: number;
  /** Aborts every request; its reason (the target's TimeoutError) is what the request throws. */
  signal?: AbortSignal;
  /** Headers for every request (a User-Agent is set unless given). */
  headers?: Record<string, string>;
  /** Most redirects followed per request (default 5). */
  maxRedirects?: number;
  /** Called with the size of every body chunk received. */
  onBytes?: (n: number) => void;
}

export interface RequestOptions {
  method?: 'GET' | 'HEAD';
  /** Bytes [start, end) of the resource: sent as `Range: bytes=start-(end-1)`, the answer must be a matching 206. */
  range?: { start: number; end: number };
  headers?: Record<string, string>;
  /** Statuses that are not failures (default: 200, or 206 with a range). */
  accept?: readonly number[];
  /** Largest body accepted (default 64 MiB; for a range, the range's length). */
  maxBytes?: number;
  signal?: AbortSignal;
}

/** What identifies one version of a remote file: a change of either between two answers means the file changed. */
export interface Validator {
  etag: string | null;
  lastModified: string | null;
}

export interface HttpResponse {
  status: number;
  /** The URL that answered (after redirects). */
  url: string;
  headers: Headers;
  body: Buffer;
  validator: Validator;
  /** For a 206: the total size from Content-Range (null when the server wrote `*`). */
  totalSize: number | null;
  /** For a 206: the end (exclusive) of the bytes sent: the range's, or the file's end when that comes first. */
  rangeEnd: number | null;
}

export interface HttpStream extends Omit<HttpResponse, 'body'> {
  /** Content-Length, when the server sent one. */
  length: number | null;
  /** The body, counted and capped; a connection dropped mid-body throws an HttpError. Read it once, or cancel(). */
  body: AsyncIterable<Buffer>;
  cancel(): Promise<void>;
}

export interface HttpStats {
  /** Body bytes received (all attempts). */
  bytes: number;
  requests: number;
  retries: number;
}

const DEFAULT_MAX_BYTES = 64 * 1024 * 1024;
const RETRY_STATUS = new Set([408, 425, 429, 500, 502, 503, 504]);

/** A URL for messages: no user or password, query values elided (signed URLs keep their tokens there). */
export function safeUrl(url: string | URL): string {
  let u: URL;
  try {
    u = new URL(String(url));
  } catch {
    return '(invalid URL)';
  }
  u.username = '';
  u.password = '';
  const keys = [...new Set([...u.searchParams.keys()])];
  u.search = '';
  u.hash = '';
  return keys.length ? `${u.href}?${keys.map((k) => `${k}=…`).join('&')}` : u.href;
}

/** The validator of an answer (ETag, Last-Modified). */
export function validatorOf(headers: Headers): Validator {
  return { etag: headers.get('etag'), lastModified: headers.get('last-modified') };
}

/**
 * Why `now` is not the version `first` described, or null when it is the same (or nothing can be compared). A weak
 * ETag (`W/`) still names a version: a change of it is a change.
 */
export function validatorChange(first: Validator, now: Validator): string | null {
  if (first.etag !== null && now.etag !== null && first.etag !== now.etag) {
    return `ETag changed from ${first.etag} to ${now.etag}`;
  }
  if (first.lastModified !== null && now.lastModified !== null && first.lastModified !== now.lastModified) {
    return `Last-Modified changed from ${first.lastModified} to ${now.lastModified}`;
  }
  if ((first.etag === null) !== (now.etag === null) && first.lastModified === null && now.lastModified === null) {
    return `ETag ${first.etag === null ? 'appeared' : 'disappeared'}`;
  }
  return null;
}

/** `bytes START-END/TOTAL` as numbers (END inclusive; total null for `*`), or null when malformed. */
export function parseContentRange(value: string | null): { start: number; end: number; total: number | null } | null {
  const m = value === null ? null : /^\s*bytes\s+(\d+)-(\d+)\/(\d+|\*)\s*$/i.exec(value);
  if (!m) return null;
  const start = Number(m[1]);
  const end = Number(m[2]);
  const total = m[3] === '*' ? null : Number(m[3]);
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || end < start) return null;
  if (total !== null && (!Number.isSafeInteger(total) || end >= total)) return null;
  return { start, end, total };
}

/** One line for a low-level failure (undici nests the cause: ECONNREFUSED, "other side closed", ...). */
function networkReason(err: unknown): string {
  const e = err as { message?: string; code?: string; cause?: unknown };
  const cause = e?.cause as { code?: string; message?: string } | undefined;
  const code = cause?.code ?? e?.code;
  const text = cause?.message ?? e?.message ?? String(err);
  const pretty: Record<string, string> = {
    ECONNREFUSED: 'connection refused',
    ECONNRESET: 'connection reset',
    ENOTFOUND: 'host not found',
    EAI_AGAIN: 'host name lookup failed',
    ETIMEDOUT: 'connection timed out',
    EHOSTUNREACH: 'host unreachable',
    ENETUNREACH: 'network unreachable',
    UND_ERR_SOCKET: 'connection closed by the server',
    UND_ERR_CONNECT_TIMEOUT: 'connection timed out',
  };
  const line = (code && pretty[code]) || text.split('\n')[0]!.trim() || 'request failed';
  return line === 'terminated' || line === 'other side closed' ? 'connection closed by the server' : line;
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(signal!.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** Requests in flight at once, at most `limit`. */
class Limiter {
  private active = 0;
  private readonly waiting: (() => void)[] = [];
  constructor(private readonly limit: number) {}
  async run<T>(work: () => Promise<T>): Promise<T> {
    if (this.active >= this.limit) await new Promise<void>((r) => this.waiting.push(r));
    this.active++;
    try {
      return await work();
    } finally {
      this.active--;
      this.waiting.shift()?.();
    }
  }
}

interface Answered {
  res: Response;
  url: string;
  /** Aborts this attempt (the body read included) and releases its timer. */
  done(): void;
  /** Restarts the attempt's idle timer (a body chunk arrived). */
  touch(): void;
  signal: AbortSignal;
}

export class HttpClient {
  readonly stats: HttpStats = { bytes: 0, requests: 0, retries: 0 };
  private readonly limiter: Limiter;
  private readonly attempts: number;
  private readonly backoffMs: number;
  private readonly maxBackoffMs: number;
  private readonly timeoutMs: number;
  private readonly maxRedirects: number;

  constructor(private readonly options: HttpClientOptions = {}) {
    this.limiter = new Limiter(Math.max(1, options.concurrency ?? 4));
    this.attempts = Math.max(1, options.attempts ?? 4);
    this.backoffMs = options.backoffMs ?? 200;
    this.maxBackoffMs = options.maxBackoffMs ?? 4000;
    this.timeoutMs = options.timeoutMs ?? 30_000;
    this.maxRedirects = options.maxRedirects ?? 5;
  }

  /** The whole answer in memory (capped by `maxBytes`); retried as a whole when the body is cut short. */
  get(url: string, opts: RequestOptions = {}): Promise<HttpResponse> {
    return this.limiter.run(() =>
      this.retrying(url, opts, async (a) => {
        const head = this.checkStatus(a, opts);
        const want = opts.range ? (head.rangeEnd ?? opts.range.end) - opts.range.start : null;
        const max = want ?? opts.maxBytes ?? DEFAULT_MAX_BYTES;
        const chunks: Buffer[] = [];
        let got = 0;
        for await (const chunk of this.counted(a, Math.min(max, opts.maxBytes ?? max), opts)) {
          chunks.push(chunk);
          got += chunk.length;
        }
        const body = Buffer.concat(chunks, got);
        if (want !== null && opts.method !== 'HEAD' && body.length !== want) {
          throw new HttpError(
            `${this.what(opts, url)}: ${body.length} bytes instead of ${want} for bytes ${opts.range!.start}-${opts.range!.start + want - 1}`,
            a.res.status,
            safeUrl(url),
            true,
          );
        }
        return { ...head, body };
      }),
    );
  }

  /**
   * The answer's body as a stream, for bodies too large to keep (a whole image from a server without ranges, a
   * registry layer). Retries happen until the headers arrive; a body cut short afterwards throws an HttpError. The
   * request holds its concurrency slot until the body is read to the end or cancelled.
   */
  async stream(url: string, opts: RequestOptions = {}): Promise<HttpStream> {
    let release!: () => void;
    const slot = new Promise<void>((r) => (release = r));
    let started!: (v: Answered) => void;
    let failed!: (e: unknown) => void;
    const answered = new Promise<Answered>((res, rej) => ((started = res), (failed = rej)));
    void this.limiter
      .run(async () => {
        try {
          started(await this.retrying(url, opts, async (a) => (this.checkStatus(a, opts), a), true));
        } catch (err) {
          failed(err);
          return;
        }
        await slot;
      })
      .catch(() => undefined);
    const a = await answered;
    const head = this.checkStatus(a, opts);
    const length = a.res.headers.get('content-length');
    const max = opts.maxBytes ?? Number.MAX_SAFE_INTEGER;
    const counted = this.counted(a, max, opts);
    let finished = false;
    const finish = () => {
      if (finished) return;
      finished = true;
      a.done();
      release();
    };
    return {
      ...head,
      length: length !== null && /^\d+$/.test(length) ? Number(length) : null,
      body: (async function* () {
        try {
          yield* counted;
        } finally {
          finish();
        }
      })(),
      async cancel() {
        finish();
        await a.res.body?.cancel().catch(() => undefined);
      },
    };
  }

  /** How a request is named in messages: `GET URL` (with its range). */
  private what(opts: RequestOptions, url: string): string {
    const range = opts.range ? ` (bytes ${opts.range.start}-${opts.range.end - 1})` : '';
    return `${opts.method ?? 'GET'} ${safeUrl(url)}${range}`;
  }

  private checkStatus(a: Answered, opts: RequestOptions): Omit<HttpResponse, 'body'> {
    const { res } = a;
    const accept = opts.accept ?? (opts.range ? [206] : [200]);
    const base = {
      status: res.status,
      url: a.url,
      headers: res.headers,
      validator: validatorOf(res.headers),
      totalSize: null as number | null,
      rangeEnd: null as number | null,
    };
    if (opts.range && res.status === 200 && !accept.includes(200)) {
      a.done();
      throw new NoRangeError(`${this.what(opts, a.url)}: the server does not answer range requests (200 instead of 206)`, safeUrl(a.url), res.headers);
    }
    if (!accept.includes(res.status)) {
      a.done();
      const text = res.statusText ? ` ${res.statusText}` : '';
      throw new HttpError(`${this.what(opts, a.url)}: ${res.status}${text}`, res.status, safeUrl(a.url), RETRY_STATUS.has(res.status));
    }
    if (opts.range && res.status === 206) {
      const cr = parseContentRange(res.headers.get('content-range'));
      // A range past the end of the file is answered up to its end (RFC 9110 14.1.2).
      const ends = cr !== null && cr.total !== null && cr.end === cr.total - 1 && cr.end < opts.range.end - 1;
      if (!cr || cr.start !== opts.range.start || (cr.end !== opts.range.end - 1 && !ends)) {
        a.done();
        throw new HttpError(
          `${this.what(opts, a.url)}: the server answered another range (Content-Range: ${res.headers.get('content-range') ?? 'none'})`,
          206,
          safeUrl(a.url),
          false,
        );
      }
      base.totalSize = cr.total;
      base.rangeEnd = cr.end + 1;
    }
    return base;
  }

  /** The body's chunks as Buffers, counted, at most `max` bytes; a cut body becomes an HttpError. */
  private async *counted(a: Answered, max: number, opts: RequestOptions): AsyncGenerator<Buffer> {
    const body = a.res.body;
    if (!body || opts.method === 'HEAD') return;
    const declared = a.res.headers.get('content-length');
    const expect = declared !== null && /^\d+$/.test(declared) && !a.res.headers.get('content-encoding') ? Number(declared) : null;
    if (expect !== null && expect > max) {
      a.done();
      throw new HttpError(`${this.what(opts, a.url)}: the body of ${expect} bytes passes the limit of ${max}`, a.res.status, safeUrl(a.url), false);
    }
    let got = 0;
    const reader = body.getReader();
    try {
      for (;;) {
        let step: ReadableStreamReadResult<Uint8Array>;
        try {
          step = await reader.read();
        } catch (err) {
          if (a.signal.aborted && this.options.signal?.aborted) throw this.options.signal.reason;
          if (opts.signal?.aborted) throw opts.signal.reason;
          const why = a.signal.aborted ? `timed out after ${this.timeoutMs / 1000} s` : networkReason(err);
          throw new HttpError(
            `${this.what(opts, a.url)}: ${why} after ${got}${expect !== null ? ` of ${expect}` : ''} bytes of the body`,
            a.res.status,
            safeUrl(a.url),
            true,
          );
        }
        if (step.done) break;
        const chunk = Buffer.from(step.value.buffer, step.value.byteOffset, step.value.byteLength);
        got += chunk.length;
        a.touch();
        this.stats.bytes += chunk.length;
        this.options.onBytes?.(chunk.length);
        if (got > max) {
          throw new HttpError(`${this.what(opts, a.url)}: the body passes the limit of ${max} bytes`, a.res.status, safeUrl(a.url), false);
        }
        yield chunk;
      }
      if (expect !== null && got !== expect) {
        throw new HttpError(`${this.what(opts, a.url)}: connection closed after ${got} of ${expect} bytes of the body`, a.res.status, safeUrl(a.url), true);
      }
    } finally {
      reader.releaseLock();
      a.done();
    }
  }

  /** `work` on an answer, retried with backoff while the failure may pass. `keep`: the attempt stays open after work. */
  private async retrying<T>(url: string, opts: RequestOptions, work: (a: Answered) => Promise<T>, keep = false): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      let a: Answered | null = null;
      try {
        a = await this.send(url, opts);
        const out = await work(a);
        if (!keep) a.done();
        return out;
      } catch (err) {
        a?.done();
        const retry = err instanceof HttpError && err.retryable && attempt < this.attempts;
        if (!retry) {
          if (err instanceof HttpError && err.retryable && this.attempts > 1) {
            throw new HttpError(`${err.message} (${attempt} attempts)`, err.status, err.url, false);
          }
          throw err;
        }
        this.stats.retries++;
        const after = (err as HttpError & { retryAfterMs?: number }).retryAfterMs;
        const backoff = Math.min(this.maxBackoffMs, this.backoffMs * 2 ** (attempt - 1));
        const delay = after !== undefined ? Math.min(this.maxBackoffMs, after) : backoff / 2 + Math.random() * (backoff / 2);
        await sleep(delay, this.anySignal(opts));
      }
    }
  }

  private anySignal(opts: RequestOptions): AbortSignal | undefined {
    const list = [this.options.signal, opts.signal].filter((s): s is AbortSignal => s !== undefined);
    return list.length === 0 ? undefined : list.length === 1 ? list[0] : AbortSignal.any(list);
  }

  /** One attempt: the request, redirects followed by hand; resolves with the answer's headers. */
  private async send(url: string, opts: RequestOptions): Promise<Answered> {
    const timer = new AbortController();
    let t = setTimeout(() => timer.abort(new Error('timeout')), this.timeoutMs);
    const touch = () => {
      if (timer.signal.aborted) return;
      clearTimeout(t);
      t = setTimeout(() => timer.abort(new Error('timeout')), this.timeoutMs);
    };
    const outer = this.anySignal(opts);
    const signal = outer ? AbortSignal.any([outer, timer.signal]) : timer.signal;
    const done = () => {
      clearTimeout(t);
      if (!timer.signal.aborted) timer.abort(new Error('done'));
    };
    const headers: Record<string, string> = { 'user-agent': 'hostleak', ...this.options.headers, ...opts.headers };
    if (opts.range) headers.range = `bytes=${opts.range.start}-${opts.range.end - 1}`;
    let current = new URL(url);
    try {
      for (let hop = 0; ; hop++) {
        this.stats.requests++;
        let res: Response;
        try {
          res = await fetch(current, { method: opts.method ?? 'GET', headers, redirect: 'manual', signal });
        } catch (err) {
          if (outer?.aborted) throw outer.reason;
          const why = timer.signal.aborted ? `timed out after ${this.timeoutMs / 1000} s` : networkReason(err);
          // fetch refuses some ports outright (the Fetch standard's "bad ports"): no retry passes that.
          throw new HttpError(`${this.what(opts, current.href)}: ${why === 'bad port' ? 'a port fetch refuses to connect to' : why}`, null, safeUrl(current), why !== 'bad port');
        }
        const location = res.headers.get('location');
        if (res.status >= 300 && res.status < 400 && res.status !== 304 && location !== null) {
          await res.body?.cancel().catch(() => undefined);
          if (hop >= this.maxRedirects) {
            throw new HttpError(`${this.what(opts, url)}: more than ${this.maxRedirects} redirects`, res.status, safeUrl(url), false);
          }
          const next = new URL(location, current);
          if (next.protocol !== 'https:' && next.protocol !== 'http:') {
            throw new HttpError(`${this.what(opts, current.href)}: redirect to a ${next.protocol} URL refused`, res.status, safeUrl(current), false);
          }
          if (current.protocol === 'https:' && next.protocol === 'http:') {
            throw new HttpError(`${this.what(opts, current.href)}: redirect from https to plain http refused`, res.status, safeUrl(current), false);
          }
          if (next.origin !== current.origin) {
            for (const k of Object.keys(headers)) if (k.toLowerCase() === 'authorization') delete headers[k];
          }
          current = next;
          continue;
        }
        if (res.status === 429 || res.status === 503) {
          const ra = res.headers.get('retry-after');
          if (ra !== null && /^\d+$/.test(ra)) {
            await res.body?.cancel().catch(() => undefined);
            const err = new HttpError(`${this.what(opts, current.href)}: ${res.status} ${res.statusText}`.trim(), res.status, safeUrl(current), true);
            Object.assign(err, { retryAfterMs: Number(ra) * 1000 });
            throw err;
          }
        }
        return { res, url: current.href, done, touch, signal };
      }
    } catch (err) {
      done();
      throw err;
    }
  }
}
