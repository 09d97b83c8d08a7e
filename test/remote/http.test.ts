/**
 * The shared HTTP client against a real server on the loopback (node:http): ranges, retries, cut bodies, redirects,
 * limits and byte counts.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { HttpClient, HttpError, NoRangeError, parseContentRange, safeUrl, validatorChange } from '../../src/remote/http.js';

const DATA = Buffer.from(Array.from({ length: 100_000 }, (_, i) => i % 251));

type Handler = (req: http.IncomingMessage, res: http.ServerResponse, hits: number) => void;
let handler: Handler;
let hits = 0;
let lastAuth: (string | undefined)[] = [];
let server: http.Server;
let base: string;

beforeAll(async () => {
  server = http.createServer((req, res) => {
    hits++;
    lastAuth.push(req.headers.authorization);
    handler(req, res, hits);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));
beforeEach(() => {
  hits = 0;
  lastAuth = [];
});

function ranged(req: http.IncomingMessage, res: http.ServerResponse): void {
  const m = /^bytes=(\d+)-(\d+)$/.exec(req.headers.range ?? '');
  if (!m) {
    res.writeHead(200, { 'content-length': DATA.length, etag: '"v1"' }).end(DATA);
    return;
  }
  const s = Number(m[1]);
  const e = Math.min(Number(m[2]), DATA.length - 1);
  res.writeHead(206, { 'content-range': `bytes ${s}-${e}/${DATA.length}`, 'content-length': e - s + 1, etag: '"v1"' }).end(DATA.subarray(s, e + 1));
}

const fast = { backoffMs: 5, maxBackoffMs: 20, timeoutMs: 2000 };

test('a range request returns exactly the bytes asked for, counted', async () => {
  handler = ranged;
  const c = new HttpClient(fast);
  const r = await c.get(`${base}/img`, { range: { start: 1000, end: 5096 } });
  expect(r.status).toBe(206);
  expect(r.body.equals(DATA.subarray(1000, 5096))).toBe(true);
  expect(r.totalSize).toBe(DATA.length);
  expect(r.validator.etag).toBe('"v1"');
  expect(c.stats).toEqual({ bytes: 4096, requests: 1, retries: 0 });
});

test('a server that ignores Range is named, and its body is not downloaded', async () => {
  handler = (_req, res) => res.writeHead(200, { 'content-length': DATA.length }).end(DATA);
  const c = new HttpClient(fast);
  const err = await c.get(`${base}/img`, { range: { start: 0, end: 10 } }).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(NoRangeError);
  expect((err as Error).message).toMatch(/does not answer range requests/);
  expect(c.stats.bytes).toBe(0);
});

test('404 is one line with the status, not retried', async () => {
  handler = (_req, res) => res.writeHead(404, 'Not Found').end('nope');
  const c = new HttpClient(fast);
  await expect(c.get(`${base}/missing?X-Amz-Signature=secret`)).rejects.toThrow(
    new HttpError(`GET ${base}/missing?X-Amz-Signature=…: 404 Not Found`, 404, '', false),
  );
  expect(hits).toBe(1);
});

test('503 is retried with backoff until it passes', async () => {
  handler = (req, res, n) => (n < 3 ? res.writeHead(503).end() : ranged(req, res));
  const c = new HttpClient(fast);
  const r = await c.get(`${base}/img`, { range: { start: 0, end: 16 } });
  expect(r.body.equals(DATA.subarray(0, 16))).toBe(true);
  expect(c.stats.retries).toBe(2);
});

test('a body cut short is retried, and named with the byte counts when it keeps failing', async () => {
  handler = (_req, res) => {
    res.writeHead(200, { 'content-length': DATA.length });
    res.write(DATA.subarray(0, 1000), () => res.socket?.destroy());
  };
  const c = new HttpClient({ ...fast, attempts: 3 });
  const err = (await c.get(`${base}/img`).catch((e: unknown) => e)) as HttpError;
  expect(err).toBeInstanceOf(HttpError);
  expect(err.message).toMatch(/: connection closed by the server after 1000 of 100000 bytes of the body \(3 attempts\)$/);
  expect(hits).toBe(3);
});

test('connection refused is one line naming the URL', async () => {
  const closed = http.createServer();
  await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
  const port = (closed.address() as AddressInfo).port;
  await new Promise<void>((r) => closed.close(() => r()));
  const c = new HttpClient({ ...fast, attempts: 2 });
  await expect(c.get(`http://127.0.0.1:${port}/x`)).rejects.toThrow(`GET http://127.0.0.1:${port}/x: connection refused (2 attempts)`);
});

test('a redirect to another origin is followed without the Authorization header', async () => {
  const other = http.createServer((req, res) => {
    lastAuth.push(req.headers.authorization);
    ranged(req, res);
  });
  await new Promise<void>((r) => other.listen(0, '127.0.0.1', r));
  const otherBase = `http://127.0.0.1:${(other.address() as AddressInfo).port}`;
  try {
    handler = (_req, res) => res.writeHead(307, { location: `${otherBase}/blob` }).end();
    const c = new HttpClient({ ...fast, headers: { Authorization: 'Bearer t' } });
    const r = await c.get(`${base}/img`, { range: { start: 0, end: 4 } });
    expect(r.url).toBe(`${otherBase}/blob`);
    expect(lastAuth).toEqual(['Bearer t', undefined]);
  } finally {
    await new Promise<void>((r) => other.close(() => r()));
  }
});

test('a body over the limit is refused without reading it', async () => {
  handler = ranged;
  const c = new HttpClient(fast);
  await expect(c.get(`${base}/img`, { maxBytes: 1000 })).rejects.toThrow(/passes the limit of 1000/);
});

test('a stream counts the bytes and ends; the caller signal stops a slow server with its own reason', async () => {
  handler = ranged;
  const c = new HttpClient(fast);
  const s = await c.stream(`${base}/img`);
  let n = 0;
  for await (const chunk of s.body) n += chunk.length;
  expect([n, s.length, c.stats.bytes]).toEqual([DATA.length, DATA.length, DATA.length]);

  handler = (_req, res) => {
    res.writeHead(200, { 'content-length': 10 });
    res.write('12345');
  };
  const ac = new AbortController();
  const reason = new Error('timed out after 1 s (see --timeout)');
  setTimeout(() => ac.abort(reason), 200);
  const slow = new HttpClient({ ...fast, signal: ac.signal });
  await expect(slow.get(`${base}/slow`)).rejects.toBe(reason);
});

test('helpers: Content-Range, validator changes, URLs for messages', () => {
  expect(parseContentRange('bytes 0-9/100')).toEqual({ start: 0, end: 9, total: 100 });
  expect(parseContentRange('bytes 0-100/100')).toBeNull();
  expect(validatorChange({ etag: '"a"', lastModified: null }, { etag: '"b"', lastModified: null })).toBe('ETag changed from "a" to "b"');
  expect(validatorChange({ etag: '"a"', lastModified: 'x' }, { etag: '"a"', lastModified: 'x' })).toBeNull();
  expect(safeUrl('https://u:p@h.example/a/b?sig=1&x=2')).toBe('https://h.example/a/b?sig=…&x=…');
});
