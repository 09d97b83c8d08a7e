/**
 * The OCI distribution API, the part a pull needs: `GET /v2/<repo>/manifests/<ref>` and `GET /v2/<repo>/blobs/<digest>`,
 * with the authentication handshake registries use: a 401 with `WWW-Authenticate: Basic` is answered with the
 * credential from the auth files; one with `Bearer realm=...,service=...,scope=...` by a token from the realm (asked
 * with the credential, or anonymously without one). HTTPS unless the registry is a loopback one or named by
 * `--insecure-registry`. Blobs are streamed, never written to disk; a blob is cut at the size its descriptor says.
 * Every failure is a TargetError with the reason (401, 403, 404, a dropped connection, a bad answer); no message
 * carries a credential.
 */
import { Readable } from 'node:stream';
import { oneLine, TargetError } from '../errors.js';
import { registerCredential } from './credentials.js';
import type { Credential } from './auth.js';
import { HttpClient, HttpError, NoRangeError, type HttpResponse } from './http.js';
import { plainHttp, referenceName, type ImageReference } from './reference.js';

export const MANIFEST_TYPES = [
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.docker.distribution.manifest.v2+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
];

/** Largest manifest, token or error document read. */
const MAX_DOC = 16 * 1024 * 1024;
const MAX_ERROR_BODY = 64 * 1024;
/** The answers the handshake looks at itself; any other is the shared client's error (5xx after its retries). */
const HANDLED = [200, 206, 401, 403, 404];

export interface RegistryOptions {
  /** `--insecure-registry` hosts (plain HTTP). */
  insecure?: readonly string[];
  credential?: Credential | null;
  /** The auth files looked at (src/remote/auth.ts authFiles), for a refusal to say where a login goes. */
  authFiles?: readonly string[];
  signal?: AbortSignal;
  verbose?: (msg: string) => void;
  /**
   * The login shared by the clients of one target (the cache's manifest lookup, then the audit): the second starts
   * with the token the first was given instead of meeting the challenge and asking the token server again.
   */
  session?: RegistrySession;
}

/** What a client learnt answering an authentication challenge for one repository with one credential. */
export interface RegistrySession {
  authorization: string | null;
}

/** A status and its headers, with the body read (small documents) or still to stream (blobs). */
interface Answer {
  status: number;
  headers: Headers;
  /** The whole body (a document, an error) or null for a stream. */
  body: Buffer | null;
  stream: AsyncIterable<Buffer> | null;
  cancel(): Promise<void>;
}

/** The body of an answer that streams, up to `max` bytes (an error document). */
async function head(a: Answer, max: number): Promise<Buffer> {
  if (a.body) return a.body;
  const chunks: Buffer[] = [];
  let n = 0;
  try {
    for await (const c of a.stream ?? []) {
      chunks.push(c);
      if ((n += c.length) >= max) break;
    }
  } catch {
    // what arrived is all there is to quote
  }
  await a.cancel();
  return Buffer.concat(chunks).subarray(0, max);
}

/** The `errors[].code` and message a registry puts in an error answer, as one short line. */
async function errorDetail(a: Answer): Promise<string> {
  const text = (await head(a, MAX_ERROR_BODY)).toString('utf8');
  try {
    const errs = (JSON.parse(text) as { errors?: Array<{ code?: unknown; message?: unknown }> }).errors ?? [];
    const e = errs[0];
    if (e) return [e.code, e.message].filter((x) => typeof x === 'string').join(': ').slice(0, 200);
  } catch {
    // not the registry's JSON error form
  }
  return '';
}

/** The parameters of a `WWW-Authenticate` challenge: scheme and key="value" pairs. */
export function parseChallenge(header: string): { scheme: string; params: Record<string, string> } {
  const m = /^\s*(\S+)\s*(.*)$/.exec(header) ?? [];
  const params: Record<string, string> = {};
  for (const p of (m[2] ?? '').matchAll(/([A-Za-z_]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))/g)) {
    params[p[1]!.toLowerCase()] = p[2] !== undefined ? p[2].replace(/\\(.)/g, '$1') : p[3]!;
  }
  return { scheme: (m[1] ?? '').toLowerCase(), params };
}

export class RegistryClient {
  private readonly base: string;
  private readonly name: string;
  private readonly session: RegistrySession;
  /** The shared client (src/remote/http.ts): concurrency, timeouts, retries with backoff, redirects, caps. */
  private readonly http: HttpClient;

  constructor(
    readonly ref: ImageReference,
    private readonly opts: RegistryOptions = {},
  ) {
    const scheme = plainHttp(ref.registry, opts.insecure) ? 'http' : 'https';
    this.base = `${scheme}://${ref.apiHost}/v2/${ref.repository}/`;
    this.name = referenceName(ref);
    this.http = new HttpClient({ signal: opts.signal });
    this.session = opts.session ?? { authorization: null };
  }

  private get authorization(): string | null {
    return this.session.authorization;
  }

  private set authorization(v: string | null) {
    this.session.authorization = v;
  }

  /** One GET through the shared client: the body read (`stream` false, capped at `max`) or left to stream. */
  private async send(url: string, headers: Record<string, string>, stream: boolean, max = MAX_DOC): Promise<Answer> {
    if (!stream) {
      const r = await this.http.get(url, { headers, accept: HANDLED, maxBytes: max });
      return { status: r.status, headers: r.headers, body: r.body, stream: null, cancel: async () => undefined };
    }
    const r = await this.http.stream(url, { headers, accept: HANDLED });
    return { status: r.status, headers: r.headers, body: null, stream: r.body, cancel: () => r.cancel() };
  }

  private basic(): string | null {
    const c = this.opts.credential;
    return c ? `Basic ${Buffer.from(`${c.username}:${c.password}`).toString('base64')}` : null;
  }

  /** What to do about a refused login: which file to fix, or where a missing one goes (never what it holds). */
  private loginHint(): string {
    const c = this.opts.credential;
    if (c) return `fix the entry for ${this.ref.registry} in ${c.file}`;
    const files = this.opts.authFiles ?? [];
    return `add a login for ${this.ref.registry} to ${files.length ? files.join(' or ') : 'an auth file'} (docs/targets.md)`;
  }

  /** A bearer token from the challenge's realm: with the credential when there is one, else anonymous. */
  private async token(params: Record<string, string>): Promise<string> {
    const realm = params.realm;
    if (!realm || !/^https?:\/\//.test(realm)) throw new TargetError(`${this.ref.registry} asked for a bearer token without a usable realm`);
    const url = new URL(realm);
    if (params.service) url.searchParams.set('service', params.service);
    url.searchParams.set('scope', params.scope ?? `repository:${this.ref.repository}:pull`);
    const headers: Record<string, string> = {};
    const basic = this.basic();
    if (basic) {
      // A credential goes over plain HTTP only to a host that is itself allowed plain HTTP.
      if (url.protocol === 'http:' && !plainHttp(url.host, this.opts.insecure)) {
        throw new TargetError(`the token realm of ${this.ref.registry} is plain HTTP on ${url.host}: the credential is not sent there`);
      }
      headers.authorization = basic;
    }
    const a = await this.send(url.href, headers, false);
    if (a.status === 401 || a.status === 403) {
      const why = await errorDetail(a);
      throw new TargetError(
        `${this.name}: ${a.status} from the token server: ${basic ? `the credential from ${this.opts.credential!.file} was refused` : 'anonymous access refused, and no credential for it in the auth files'}${why ? ` (${why})` : ''}: ${this.loginHint()}`,
      );
    }
    if (a.status !== 200) {
      const why = await errorDetail(a);
      throw new TargetError(`${this.name}: the token server answered ${a.status}${why ? ` (${why})` : ''}`);
    }
    let doc: { token?: unknown; access_token?: unknown };
    try {
      doc = JSON.parse(a.body!.toString('utf8')) as typeof doc;
    } catch {
      throw new TargetError(`${this.name}: the token server's answer is not valid JSON`);
    }
    const tok = typeof doc.token === 'string' ? doc.token : typeof doc.access_token === 'string' ? doc.access_token : null;
    if (!tok) throw new TargetError(`${this.name}: the token server's answer holds no token`);
    registerCredential(tok);
    return tok;
  }

  /** GET a path under /v2/<repo>/, answering one authentication challenge; any answer but 200/206 is an error. */
  private async request(rel: string, headers: Record<string, string>, what: string, stream = false): Promise<Answer> {
    const send = () => this.send(this.base + rel, { ...headers, ...(this.authorization ? { authorization: this.authorization } : {}) }, stream);
    let a = await send();
    if (a.status === 401) {
      const had = this.authorization;
      await a.cancel();
      const challenge = parseChallenge(a.headers.get('www-authenticate') ?? '');
      if (challenge.scheme === 'bearer') this.authorization = `Bearer ${await this.token(challenge.params)}`;
      else if (challenge.scheme === 'basic') this.authorization = this.basic();
      else throw new TargetError(`${this.name}: 401 with an authentication scheme hostleak does not speak ('${challenge.scheme.slice(0, 20)}')`);
      if (this.authorization === null) {
        throw new TargetError(`${this.name}: 401 Unauthorized: the registry wants a login and the auth files have none for ${this.ref.registry}: ${this.loginHint()}`);
      }
      if (this.authorization !== had) a = await send();
      if (a.status === 401) {
        const why = await errorDetail(a);
        const cred = this.opts.credential;
        throw new TargetError(
          `${this.name}: 401 Unauthorized: ${cred ? `the credential from ${cred.file} was refused` : 'anonymous access refused'}${why ? ` (${why})` : ''}: ${this.loginHint()}`,
        );
      }
    }
    if (a.status === 200 || a.status === 206) return a;
    const why = await errorDetail(a);
    const status =
      a.status === 404 ? `404 Not Found: ${what} does not exist` : a.status === 403 ? `403 Forbidden: access to ${what} denied` : `the registry answered ${a.status} for ${what}`;
    throw new TargetError(`${this.name}: ${status}${why ? ` (${why})` : ''}`);
  }

  /** The manifest (or index) a tag or digest names: its bytes and media type (the caller checks the digest). */
  async manifest(reference: string): Promise<{ bytes: Buffer; mediaType: string }> {
    const what = `the manifest ${reference.startsWith('sha') ? reference : `for tag '${reference}'`}`;
    const a = await this.request(`manifests/${reference}`, { accept: MANIFEST_TYPES.join(', ') }, what);
    const mediaType = (a.headers.get('content-type') ?? '').split(';')[0]!.trim();
    if (/distribution\.manifest\.v1\+/.test(mediaType)) {
      throw new TargetError(`${this.name}: the registry serves a Docker schema 1 manifest, which hostleak does not read (re-push the image)`);
    }
    return { bytes: a.body!, mediaType };
  }

  /** Up to `len` bytes at `start` of a blob: a range request, or the start of the whole blob where ranges are not served. */
  async blobRange(digest: string, start: number, len: number): Promise<Buffer> {
    if (len <= 0) return Buffer.alloc(0);
    try {
      const r: HttpResponse = await this.http.get(this.base + `blobs/${digest}`, {
        range: { start, end: start + len },
        headers: this.authorization ? { authorization: this.authorization } : {},
      });
      return r.body;
    } catch (err) {
      // No range support, an authentication challenge not answered yet, an error to explain: the plain path.
      if (!(err instanceof HttpError) || err instanceof NoRangeError || err.status !== null) return this.blobPrefix(digest, start, len);
      throw err;
    }
  }

  /** Bytes [start, start+len) of a blob, read from its start. */
  private async blobPrefix(digest: string, start: number, len: number): Promise<Buffer> {
    const a = await this.request(`blobs/${digest}`, {}, `blob ${digest}`, true);
    const chunks: Buffer[] = [];
    let n = 0;
    try {
      for await (const c of a.stream!) {
        chunks.push(c);
        if ((n += c.length) >= start + len) break;
      }
    } catch (err) {
      throw new TargetError(`${this.name}: blob ${digest}: the connection dropped after ${n} bytes (${oneLine(err)})`);
    } finally {
      await a.cancel();
    }
    return Buffer.concat(chunks).subarray(start, start + len);
  }

  /**
   * A blob's bytes as a stream, cut at `size`: more bytes than the descriptor says, fewer (the connection dropped),
   * or a read error end the stream with a TargetError saying which.
   */
  blobStream(digest: string, size: number, signal?: AbortSignal): Readable {
    const self = this;
    async function* bytes(): AsyncGenerator<Buffer> {
      const a = await self.request(`blobs/${digest}`, {}, `blob ${digest}`, true);
      let n = 0;
      try {
        for await (const c of a.stream!) {
          n += c.length;
          if (n > size) throw new TargetError(`blob ${digest}: size mismatch (the registry sends more than the ${size} bytes its descriptor says)`);
          yield c;
        }
      } catch (err) {
        if (err instanceof TargetError && !(err instanceof HttpError)) throw err;
        if (signal?.aborted) throw new TargetError(`blob ${digest}: reading interrupted`);
        throw new TargetError(`blob ${digest}: the connection dropped after ${n} of ${size} bytes (${oneLine(err)})`);
      } finally {
        await a.cancel();
      }
      if (n < size) throw new TargetError(`blob ${digest}: the connection dropped after ${n} of ${size} bytes`);
    }
    return Readable.from(bytes(), { objectMode: false });
  }
}
