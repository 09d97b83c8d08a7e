/**
 * Decompression bombs end at the target's one deadline (--timeout) or at the write limit (--max-decompressed), with
 * exit 3, bounded memory and nothing left in the temp directory.
 */
import { describe, expect, it } from '@jest/globals';
import { requireTools } from '../helpers/tools.js';
import { hostileCases, record, runMeasured } from './harness.js';

requireTools('zstd', '/usr/bin/time');

const cases = hostileCases(['zero-bomb', 'data-bomb']);

describe('decompression bombs', () => {
  it('50 GB of zeros stops at --timeout 10 on every backend, writing nothing', () => {
    for (const backend of ['auto', 'native', 'guestfs']) {
      const m = record(`zero-bomb ${backend} --timeout 10`, runMeasured(['scan', cases['zero-bomb']!.file, '--timeout', '10', '--backend', backend, '--accel', 'tcg']));
      expect(m.status).toBe(3);
      expect(m.stderr).toMatch(/timed out after 10 s/);
      expect(m.seconds).toBeLessThan(10 + 20); // a guard against "runs to the end", not a benchmark
      expect(m.leftovers).toEqual([]);
      expect(m.peakMiB).toBeLessThan(512);
    }
  });
  it('4 GB of data stops at the write limit, and at --timeout when the limit is far', () => {
    const limited = record('data-bomb --max-decompressed 64M', runMeasured(['scan', cases['data-bomb']!.file, '--max-decompressed', '64M']));
    expect(limited.status).toBe(3);
    expect(limited.stderr).toMatch(/passes the limit of 64 MiB/);
    expect(limited.leftovers).toEqual([]);
    expect(limited.peakMiB).toBeLessThan(512);
    // A limit above the 4 GB the bomb holds can never be reached: the deadline is the only way this run ends.
    const timed = record('data-bomb --timeout 2', runMeasured(['scan', cases['data-bomb']!.file, '--timeout', '2', '--max-decompressed', '8G']));
    expect(timed.status).toBe(3);
    expect(timed.stderr).toMatch(/: failed: while decompressing: timed out after 2 s \(see --timeout\)\n/);
    expect(timed.leftovers).toEqual([]);
  });
  it('rejects a malformed size', () => {
    const m = runMeasured(['scan', cases['data-bomb']!.file, '--max-decompressed', 'lots']);
    expect(m.status).toBe(2);
  });
});
