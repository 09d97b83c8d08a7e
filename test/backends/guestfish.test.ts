/**
 * The guestfish driver's output framing, against a stand-in for guestfish (a small node script speaking the same
 * line protocol): many pipelined commands whose outputs are large, empty or binary come back whole and in order,
 * however the pipe cuts them.
 */
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { commandError, Guestfish } from '../../src/backends/guestfish.js';

// `-bytes N SEED` prints N pseudo-random bytes (newlines, NULs and marker-like text included); `echo X` prints X.
const FAKE = `#!/usr/bin/env node
const rl = require('node:readline').createInterface({ input: process.stdin });
const out = [];
const flush = () => { if (out.length) process.stdout.write(Buffer.concat(out.splice(0))); };
rl.on('line', (line) => {
  const m = /^-bytes (\\d+) (\\d+)$/.exec(line);
  if (m) {
    let x = Number(m[2]) || 1;
    const b = Buffer.alloc(Number(m[1]));
    for (let i = 0; i < b.length; i++) { x = (Math.imul(x, 1103515245) + 12345) >>> 0; b[i] = x >>> 24; }
    if (b.length > 40) b.write('__hostleak_', 7);
    out.push(b);
  } else if (line.startsWith('-fail')) out.push(Buffer.from('libguestfs: error: fail: no such thing\\n'));
  else if (line.startsWith('echo ')) out.push(Buffer.from(line.slice(5) + '\\n'));
  if (out.reduce((n, b) => n + b.length, 0) > 100000) flush();
  setImmediate(flush);
});
rl.on('close', flush);
`;

function expected(n: number, seed: number): Buffer {
  let x = seed || 1;
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    b[i] = x >>> 24;
  }
  if (n > 40) b.write('__hostleak_', 7);
  return b;
}

describe('Guestfish driver', () => {
  let dir: string;
  let g: Guestfish;
  beforeAll(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'hostleak-fakegf-'));
    writeFileSync(path.join(dir, 'guestfish'), FAKE);
    chmodSync(path.join(dir, 'guestfish'), 0o755);
    g = new Guestfish({ guestfish: path.join(dir, 'guestfish'), timeoutMs: 60_000, env: { ...process.env, TMPDIR: dir } });
  });
  afterAll(async () => {
    await g.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('returns every pipelined output whole and in order, from empty to several MiB', async () => {
    const sizes = [0, 1, 37, 65536, 65535, 1 << 20, 0, 3 * (1 << 20) + 17, 5, 300_000, 131_071, 2];
    for (let i = 0; i < 150; i++) sizes.push((i * 7919) % 200_000);
    const got = await Promise.all(sizes.map((n, i) => g.raw(`bytes ${n} ${i + 1}`)));
    sizes.forEach((n, i) => expect(got[i]!.equals(expected(n, i + 1))).toBe(true));
    expect(g.commands).toBe(sizes.length);
  });

  it('keeps a failing command to itself', async () => {
    const [a, b, c] = await Promise.all([g.raw('bytes 10 3'), g.raw('fail'), g.raw('bytes 70000 4')]);
    expect(a!.equals(expected(10, 3))).toBe(true);
    expect(commandError(b!)).toBe('fail: no such thing');
    expect(c!.equals(expected(70000, 4))).toBe(true);
    await expect(g.run('fail')).rejects.toThrow('fail: no such thing');
  });
});
