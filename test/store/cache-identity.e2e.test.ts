/**
 * End-to-end: the `--cache` identity of an image (src/store/cache.ts, src/image/readlog.ts). A natively audited
 * image is identified by its size and the byte ranges the audit read, hashed as they were read; other images by a
 * digest of the whole file. Asserted on the cache entries and the verbose "cached result" lines of the built CLI,
 * on real sample images: cold fill, warm stat hit, touched/copied images hit, a changed byte the audit read misses
 * (same path, same size, mtime restored), a byte it never read does not matter, forged entries miss.
 */
import { createHash, createHmac } from 'node:crypto';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Report } from '../../src/types.js';
import { hostleak, json, SAMPLES } from '../helpers/cli.js';
import { describeWithTools } from '../helpers/tools.js';

interface Candidate {
  kind: 'file' | 'extents';
  identity?: string;
}

const RESOLV = Buffer.from('nameserver 10.20.30.40');

describeWithTools(['zstd'], '--cache identity', () => {
  let tmp: string;
  let n = 0;
  /** A fresh cache directory per test; the key stays outside it. */
  let cache: string;
  const scan = (target: string) => {
    const r = hostleak(['scan', target, '--format', 'json', '--verbose', '--cache', cache, '--cache-key', 'cache.key'], { cwd: tmp });
    expect([0, 1]).toContain(r.status);
    const via = /: cached result \(matched by (\w+)\)\n/.exec(r.stderr)?.[1] ?? null;
    const t = json<Report>(r).targets[0]!;
    return { via, target: t.target, findings: t.findings, stderr: r.stderr };
  };
  const sealedIn = (sub: string) =>
    readdirSync(path.join(tmp, cache, sub)).map((f) => {
      const file = path.join(tmp, cache, sub, f);
      return { file, sealed: JSON.parse(readFileSync(file, 'utf8')) as { payload: string; mac: string } };
    });
  const indexEntries = () => sealedIn('index').map((e) => ({ ...e, candidates: (JSON.parse(e.sealed.payload) as { candidates: Candidate[] }).candidates }));
  /** The ranges of the one range identity in the cache. */
  const rangesEntry = () => {
    const [e, ...more] = sealedIn('ranges');
    expect(more).toEqual([]);
    return (JSON.parse(e!.sealed.payload) as { extents: number[] }).extents;
  };
  const copy = (sample: string, rel: string) => {
    const p = path.join(tmp, rel);
    mkdirSync(path.dirname(p), { recursive: true });
    copyFileSync(path.join(SAMPLES, sample), p);
    // Whole seconds, so that patch() can put the mtime back exactly.
    utimesSync(p, 1_700_000_000, 1_700_000_000);
    return rel;
  };
  /** Overwrite bytes in place: same path, same size, atime and mtime put back (ctime cannot be). */
  const patch = (rel: string, offset: number, bytes: Buffer) => {
    const p = path.join(tmp, rel);
    const st = statSync(p);
    const buf = readFileSync(p);
    bytes.copy(buf, offset);
    writeFileSync(p, buf);
    utimesSync(p, st.atime, st.mtime);
    expect(statSync(p).size).toBe(st.size);
    expect(statSync(p).mtimeMs).toBe(st.mtimeMs);
  };
  const covers = (extents: number[], offset: number, len: number) => {
    for (let i = 0; i < extents.length; i += 2) if (extents[i]! <= offset && offset + len <= extents[i]! + extents[i + 1]!) return true;
    return false;
  };
  const resolvOf = (findings: Report['targets'][0]['findings']) => findings.find((f) => f.ruleId === 'host-resolv-conf')?.evidence;

  beforeAll(() => {
    tmp = mkdtempSync(path.join(os.tmpdir(), 'hostleak-cache-id-'));
  });
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));
  beforeEach(() => {
    cache = `cache-${++n}`;
  });

  it('a native audit is identified by what it read: cold fill, warm stat hit, touched and copied images hit', () => {
    const img = copy('leaky.raw', 'a/leaky.raw');
    const size = statSync(path.join(tmp, img)).size;
    const cold = scan(img);
    expect(cold.via).toBeNull();
    expect(resolvOf(cold.findings)).toBe('nameserver 10.20.30.40');
    const [entry, ...more] = indexEntries();
    expect(more).toEqual([]);
    const [cand] = entry!.candidates;
    expect(cand!.kind).toBe('extents');
    const extents = rangesEntry();
    const read = extents.filter((_, i) => i % 2 === 1).reduce((a, b) => a + b, 0);
    // The audit read a small part of the 64 MiB disk, resolv.conf's bytes among them; nothing else was hashed.
    expect(read).toBeGreaterThan(0);
    expect(read).toBeLessThan(size / 8);
    const at = readFileSync(path.join(tmp, img)).indexOf(RESOLV);
    expect(at).toBeGreaterThan(4096);
    expect(covers(extents, at, RESOLV.length)).toBe(true);

    const warm = scan(img);
    expect(warm.via).toBe('stat');
    expect(warm.findings).toEqual(cold.findings);

    utimesSync(path.join(tmp, img), new Date(2001, 1, 1), new Date(2001, 1, 1));
    expect(scan(img).via).toBe('extents');
    expect(scan(img).via).toBe('stat'); // the touched file's new stat was recorded

    const moved = copy('leaky.raw', 'b/renamed.raw');
    const hit = scan(moved);
    expect(hit.via).toBe('extents');
    expect(hit.target).toBe(moved); // the name asked for, never the cached one
    expect(hit.findings).toEqual(cold.findings);
  });

  it('one changed byte the audit read misses, in place with the same size and mtime; a byte it never read does not matter', () => {
    const img = copy('leaky.raw', 'c/leaky.raw');
    const cold = scan(img);
    const extents = rangesEntry();
    const bytes = readFileSync(path.join(tmp, img));
    // A byte past the first 4 KiB (the index key) that no read covered: not part of what the audit depends on.
    let unread = -1;
    for (let off = 1024 * 1024; off < bytes.length; off += 4096) {
      if (!covers(extents, off, 1)) {
        unread = off;
        break;
      }
    }
    expect(unread).toBeGreaterThan(0);
    patch(img, unread, Buffer.from([bytes[unread]! ^ 0xff]));
    const same = scan(img);
    expect(same.via).toBe('extents');
    expect(same.findings).toEqual(cold.findings);

    // The last digit of resolv.conf's nameserver: read by the audit, so the cached result must not be used.
    const at = bytes.indexOf(RESOLV) + RESOLV.length - 1;
    patch(img, at, Buffer.from('1'));
    const changed = scan(img);
    expect(changed.via).toBeNull();
    expect(resolvOf(changed.findings)).toBe('nameserver 10.20.30.41');
    expect(scan(img).via).toBe('stat');
    expect(resolvOf(scan(img).findings)).toBe('nameserver 10.20.30.41');
  });

  it('forged entries are ignored: a path entry pointing the changed image at the old result, ranges and index narrowed to what did not change', () => {
    const img = copy('leaky.raw', 'd/leaky.raw');
    scan(img);
    const bytes = readFileSync(path.join(tmp, img));
    const at = bytes.indexOf(RESOLV) + RESOLV.length - 1;
    patch(img, at, Buffer.from('7'));
    const guessed = createHmac('sha256', 'guess').update('x').digest('hex');
    // Never the old result: audited, or matched to the honest entry that audit wrote for the changed bytes.
    const audited = () => {
      const r = scan(img);
      expect(r.via === null || r.via === 'extents').toBe(true);
      expect(resolvOf(r.findings)).toBe('nameserver 10.20.30.47');
      rmSync(path.join(tmp, cache, 'paths'), { recursive: true, force: true }); // no honest stat shortcut next time
    };

    // The path entry, given the changed file's stat: without the seal this would be a stat hit on the old result.
    const st = statSync(path.join(tmp, img));
    const stat = { size: st.size, mtimeMs: st.mtimeMs, ctimeMs: st.ctimeMs, ino: st.ino };
    const [p] = sealedIn('paths');
    const { identity } = JSON.parse(p!.sealed.payload) as { identity: string };
    expect(identity).toMatch(/^extents:/);
    for (const mac of [p!.sealed.mac, guessed]) {
      mkdirSync(path.dirname(p!.file), { recursive: true });
      writeFileSync(p!.file, JSON.stringify({ ...p!.sealed, payload: JSON.stringify({ stat, identity }), mac }));
      audited();
    }

    // Ranges entries narrowed to the first 4 KiB (which the change left alone), an index naming only the old identity.
    const hints = createHash('sha256').update(readFileSync(path.join(tmp, img)).subarray(0, 4096)).digest('hex').slice(0, 16);
    for (const e of sealedIn('ranges')) {
      for (const mac of [e.sealed.mac, guessed]) {
        writeFileSync(e.file, JSON.stringify({ ...e.sealed, payload: JSON.stringify({ extents: [0, 4096], hints }), mac }));
        audited();
      }
    }
    for (const e of sealedIn('index')) {
      for (const mac of [e.sealed.mac, guessed]) {
        writeFileSync(e.file, JSON.stringify({ ...e.sealed, payload: JSON.stringify({ candidates: [{ kind: 'extents', identity }] }), mac }));
        audited();
      }
    }
  });

  it('archives (a docker save tarball, a GCE image tarball) are identified by the digest of the whole file', () => {
    for (const sample of ['leaky-docker.tar', 'leaky-gce.raw.tar.gz']) {
      cache = `cache-${++n}`;
      const img = copy(sample, `g/${sample}`);
      const cold = scan(img);
      expect(cold.via).toBeNull();
      expect(cold.findings.length).toBeGreaterThan(0);
      expect(indexEntries()[0]!.candidates).toEqual([{ kind: 'file' }]);
      expect(scan(img).via).toBe('stat');
    }
  });

  it('a compressed image is identified by the digest of the whole file (read whole by the decompressor anyway)', () => {
    const img = copy('leaky.raw.zst', 'e/leaky.raw.zst');
    const cold = scan(img);
    expect(cold.via).toBeNull();
    expect(indexEntries()[0]!.candidates).toEqual([{ kind: 'file' }]);
    expect(scan(img).via).toBe('stat');
    const moved = copy('leaky.raw.zst', 'f/other.raw.zst');
    const hit = scan(moved);
    expect(hit.via).toBe('digest');
    expect(hit.findings).toEqual(cold.findings);
  });
});
