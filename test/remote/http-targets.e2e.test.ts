/**
 * `hostleak scan http://...`: sample images served by a real nginx on the loopback (its own prefix and port), audited
 * over range requests with the findings of the local file, the bytes nginx sent counted from its access log; a
 * server without ranges (`max_ranges 0`), and servers that fail (404, 403, refused, a connection dropped mid-body, a
 * file replaced mid-audit, a server that stalls past --timeout) each end the target with the reason: exit 3.
 */
import http from 'node:http';
import { closeSync, mkdtempSync, openSync, readFileSync, readSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { hostleak, hostleakAsync, json, REPO, SAMPLES } from '../helpers/cli.js';
import { freePort, startNginx, type Nginx } from '../helpers/nginx.js';
import { requireTool } from '../helpers/tools.js';
import type { Report } from '../../src/types.js';

requireTool('nginx');

const findings = (r: Report, i = 0) =>
  r.targets[i]!.findings.map((f) => `${f.ruleId} ${f.path}`)
    .sort()
    .join('\n');

const locals = new Map<string, Report>();
/** The report of the local file (once per file). */
function local(name: string): Report {
  let report = locals.get(name);
  if (!report) {
    const r = hostleak(['scan', '--format', 'json', path.join(SAMPLES, name)]);
    expect(r.status).toBe(1);
    locals.set(name, (report = json<Report>(r)));
  }
  return report;
}

let web: Nginx;
let plain: Nginx;
beforeAll(async () => {
  // /forbidden answers 403 as nginx does for a file it may not read.
  web = await startNginx(SAMPLES, { extra: 'location /forbidden/ { return 403; }' });
  plain = await startNginx(SAMPLES, { maxRanges0: true });
});
afterAll(async () => {
  await web?.stop();
  await plain?.stop();
});

describe('disk images over range requests', () => {
  // The sample disks with free space in them: only what the readers and rules touch is transferred.
  test.each(['leaky.raw', 'leaky-fixed.vhd', 'leaky.vhd', 'leaky.vhdx', 'leaky.vdi'])(
    '%s: the local file\'s findings, at most half of its bytes sent',
    (name) => {
      const before = web.bodyBytes(`/${name}`);
      const r = hostleak(['scan', '--format', 'json', `${web.url}/${name}`]);
      expect(r.stderr).not.toMatch(/failed|partial/);
      expect(r.status).toBe(1);
      const report = json<Report>(r);
      expect(report.targets[0]!.backend).toBe('native');
      const want = findings(local(name));
      expect(want.split('\n').length).toBeGreaterThan(10);
      expect(findings(report)).toBe(want);
      const sent = web.bodyBytes(`/${name}`) - before;
      expect(sent).toBeGreaterThan(0);
      expect(sent).toBeLessThanOrEqual(statSync(path.join(SAMPLES, name)).size / 2);
      // Every request was a range request.
      expect(web.requests().filter((q) => q.path === `/${name}` && q.status !== 206)).toEqual([]);
    },
  );

  test('a compact qcow2 (little free space in it) and an ISO: the local file\'s findings', () => {
    for (const name of ['leaky.qcow2', 'leaky.iso']) {
      const r = hostleak(['scan', '--format', 'json', `${web.url}/${name}`]);
      expect(r.status).toBe(1);
      expect(findings(json<Report>(r))).toBe(findings(local(name)));
    }
  });

});

/** The rows of docs/targets.md's "Behind HTTP(S)" table. */
function docRows(): Array<{ ranges: string; result: string; sample: string }> {
  const text = readFileSync(path.join(REPO, 'docs/targets.md'), 'utf8');
  const from = text.indexOf('## Behind HTTP(S)');
  const section = text.slice(from, text.indexOf('\n## ', from + 1));
  return section
    .split('\n')
    .filter((l) => l.startsWith('| ') && !l.startsWith('| Served') && !l.startsWith('|---'))
    .map((l) => l.slice(1, -1).split('|').map((c) => c.trim()))
    .map((c) => ({ ranges: c[1]!, result: c[3]!, sample: c[4]!.replace(/`/g, '') }));
}

describe('docs/targets.md, "Behind HTTP(S)": every row as served by nginx', () => {
  const rows = docRows();
  test('the table is there', () => expect(rows.length).toBeGreaterThanOrEqual(8));
  for (const row of rows) {
    for (const ranges of row.ranges.split(', ')) {
      test(`${row.sample}, ranges ${ranges}: ${row.result}`, () => {
        const server = ranges === 'yes' ? web : plain;
        const r = hostleak(['scan', '--format', 'json', `${server.url}/${row.sample}`]);
        const t = json<Report>(r).targets[0]!;
        const refused = /^exit 3: "(.*)"$/.exec(row.result);
        if (refused) {
          expect([r.status, t.status]).toEqual([3, 'failed']);
          expect(t.error).toContain(refused[1]);
        } else {
          expect([r.status, t.status, t.backend, t.error]).toEqual([1, 'ok', row.result, null]);
          expect(findings(json<Report>(r))).toBe(findings(local(row.sample)));
        }
      });
    }
  }
});

describe('refused by name, exit 3', () => {
  test('an image only the appliance reads: refused before any qemu, the other targets still audited', () => {
    const r = hostleak(['scan', '--format', 'json', `${web.url}/leaky.squashfs-lzo`, `${web.url}/leaky.raw`]);
    expect(r.status).toBe(3);
    const report = json<Report>(r);
    expect(report.targets[0]!.status).toBe('failed');
    expect(report.targets[0]!.error).toMatch(/lzo.*: needs the appliance: download it$/);
    expect(report.targets[0]!.backend).not.toBe('guestfs');
    expect(report.targets[1]!.status).toBe('ok');
    expect(findings(report, 1)).toBe(findings(local('leaky.raw')));
    const g = hostleak(['scan', '--backend', 'guestfs', `${web.url}/leaky.raw`]);
    expect(g.status).toBe(3);
    expect(g.stderr).toContain('--backend guestfs does not read a target behind HTTP: download it');
  });

  test('404, 403 and connection refused: one line each, the good target still audited', async () => {
    const closed = await freePort();
    const r = hostleak(['scan', '--format', 'json', `${web.url}/missing.raw`, `${web.url}/forbidden/leaky.raw`, `http://127.0.0.1:${closed}/leaky.raw`, `${web.url}/leaky.raw`]);
    expect(r.status).toBe(3);
    const t = json<Report>(r).targets;
    expect(t.map((x) => x.status)).toEqual(['failed', 'failed', 'failed', 'ok']);
    expect(t[0]!.error).toBe(`GET ${web.url}/missing.raw (bytes 0-131071): 404 Not Found`);
    expect(t[1]!.error).toBe(`GET ${web.url}/forbidden/leaky.raw (bytes 0-131071): 403 Forbidden`);
    expect(t[2]!.error).toBe(`GET http://127.0.0.1:${closed}/leaky.raw (bytes 0-131071): connection refused (4 attempts)`);
    expect(t[3]!.findings.length).toBeGreaterThan(10);
  });
});

type Head = { 'content-range': string; 'content-length': number; etag: string };

/**
 * A tiny server of leaky.raw with ranges (ETag "v1"). `bad` may answer a request itself (returning true), given the
 * request's number and the 206 headers of the range asked for, with an ETag of its choice.
 */
async function serveRaw(
  bad: (res: http.ServerResponse, n: number, head: (etag: string) => Head) => boolean,
): Promise<{ url: string; requests(): number; close(): Promise<void> }> {
  const file = path.join(SAMPLES, 'leaky.raw');
  const size = statSync(file).size;
  let n = 0;
  const server = http.createServer((req, res) => {
    n++;
    const m = /^bytes=(\d+)-(\d+)$/.exec(req.headers.range ?? '')!;
    const s = Number(m[1]);
    const e = Math.min(Number(m[2]), size - 1);
    const head = (etag: string): Head => ({ 'content-range': `bytes ${s}-${e}/${size}`, 'content-length': e - s + 1, etag });
    if (bad(res, n, head)) return;
    const buf = Buffer.alloc(e - s + 1);
    const fd = openSync(file, 'r');
    readSync(fd, buf, 0, buf.length, s);
    closeSync(fd);
    res.writeHead(206, head('"v1"')).end(buf);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/leaky.raw`,
    requests: () => n,
    close: () => new Promise<void>((r) => (server.closeAllConnections(), server.close(() => r()))),
  };
}

/** Audit the URL of a serveRaw server (its first 3 requests answered well): the failed target's error. */
async function failure(bad: Parameters<typeof serveRaw>[0], args: string[] = []): Promise<{ error: string | null; ms: number; requests: number }> {
  const s = await serveRaw((res, n, head) => n > 3 && bad(res, n, head));
  try {
    const started = Date.now();
    const r = await hostleakAsync(['scan', '--format', 'json', ...args, s.url]);
    expect(r.status).toBe(3);
    const t = json<Report>(r).targets[0]!;
    expect(t.status).toBe('failed');
    return { error: t.error, ms: Date.now() - started, requests: s.requests() };
  } finally {
    await s.close();
  }
}

describe('a server that fails mid-audit: exit 3 with the reason, never clean', () => {
  test('the connection dropped mid-body on every try', async () => {
    const f = await failure((res, _n, head) => {
      res.writeHead(206, head('"v1"'));
      res.write(Buffer.alloc(1000), () => res.socket?.destroy());
      return true;
    });
    expect(f.error).toMatch(/^GET http:\/\/127\.0\.0\.1:\d+\/leaky\.raw \(bytes \d+-\d+\): connection closed by the server after 1000 of \d+ bytes of the body \(4 attempts\)$/);
  });

  test('the file replaced mid-audit (another ETag)', async () => {
    const f = await failure((res, _n, head) => {
      const h = head('"v2"');
      res.writeHead(206, h).end(Buffer.alloc(h['content-length']));
      return true;
    });
    expect(f.error).toBe('the remote file changed during the audit (ETag changed from "v1" to "v2")');
  });

  test('a server that stops answering: cut by --timeout', async () => {
    const f = await failure(() => true, ['--timeout', '3']);
    expect(f.error).toMatch(/timed out after 3 s/);
    expect(f.ms).toBeLessThan(30_000);
    // It was opened (the probe and first reads answered) and then cut waiting for the server.
    expect(f.requests).toBeGreaterThan(3);
  });
});

describe('a store of URLs and paths: --targets-from, --jobs, --cache, shards and merge', () => {
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'hostleak-remote-store-'));
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));
  const env = { HOSTLEAK_CACHE_KEY: 'a test key of at least thirty-two characters' };

  test('a list with comments audits every line; a cached URL of the same ETag is not read again', () => {
    const list = ['# the store', '', `${web.url}/leaky.raw`, `  ${path.join(SAMPLES, 'clean.qcow2')}  `, `${web.url}/leaky-rootfs.tar.xz`, `${web.url}/missing.raw`];
    writeFileSync(path.join(tmp, 'list.txt'), list.join('\n') + '\n');
    const args = ['scan', '--format', 'json', '--targets-from', 'list.txt', '--jobs', '2', '--cache', 'cache', '--verbose'];
    const cold = hostleak(args, { cwd: tmp, env });
    expect(cold.status).toBe(3); // missing.raw
    const report = json<Report>(cold);
    expect(report.targets.map((t) => [path.basename(t.target), t.status])).toEqual([
      ['leaky.raw', 'ok'],
      ['clean.qcow2', 'ok'],
      ['leaky-rootfs.tar.xz', 'ok'],
      ['missing.raw', 'failed'],
    ]);
    expect(findings(report, 0)).toBe(findings(local('leaky.raw')));
    const before = web.bodyBytes();
    const warm = hostleak(args, { cwd: tmp, env });
    expect(warm.status).toBe(3);
    expect(json<Report>(warm).targets.map((t) => t.findings.length)).toEqual(report.targets.map((t) => t.findings.length));
    expect(warm.stderr).toContain(`${web.url}/leaky.raw: cached result (matched by etag)`);
    expect(warm.stderr).toContain(`${web.url}/leaky-rootfs.tar.xz: cached result (matched by etag)`);
    // One byte asked of each cached URL; the missing one failed again (its lookup and its audit).
    expect(web.bodyBytes() - before).toBeLessThan(1000);
  });

  test('the list from stdin, split in shards, merges back to every target', async () => {
    const list = `${web.url}/leaky.raw\n${web.url}/leaky.vhd\n${path.join(SAMPLES, 'leaky.qcow2')}\n`;
    for (const i of [0, 1]) {
      const r = await hostleakAsync(['scan', '--targets-from', '-', '--shard-count', '2', '--shard-index', String(i), '--format', 'json', '-o', `shard-${i}.json`], {
        cwd: tmp,
        input: list,
      });
      // Split by a hash of the target as written (the port changes every run): a shard may get none of the three.
      const shard = JSON.parse(readFileSync(path.join(tmp, `shard-${i}.json`), 'utf8')) as Report;
      expect(r.status).toBe(shard.targets.length > 0 ? 1 : 0);
    }
    const merged = hostleak(['merge', 'shard-0.json', 'shard-1.json', '--format', 'json', '--fail-on', 'never'], { cwd: tmp });
    expect(merged.status).toBe(0);
    expect(json<Report>(merged).targets.map((t) => t.target).sort()).toEqual(list.trim().split('\n').sort());
  });

  test('an empty or unreadable list is a usage error', () => {
    writeFileSync(path.join(tmp, 'empty.txt'), '# nothing yet\n\n');
    expect(hostleak(['scan', '--targets-from', 'empty.txt'], { cwd: tmp }).stderr).toContain('--targets-from empty.txt: no targets in it');
    const r = hostleak(['scan', '--targets-from', 'nope.txt'], { cwd: tmp });
    expect([r.status, r.stderr]).toEqual([2, 'hostleak: --targets-from nope.txt: cannot read it (ENOENT)\n']);
  });
});
