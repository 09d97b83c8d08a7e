/** GPT damage: a primary header that fails its CRC or is wiped is replaced by the backup; overlaps are named. */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { copyFileSync, mkdtempSync, openSync, closeSync, writeSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { FileSource } from '../../../src/backends/native/source.js';
import { overlaps, readGpt } from '../../../src/backends/native/gpt.js';
import { SAMPLES } from '../../helpers/cli.js';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'hl-gpt-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function damaged(name: string, offset: number, bytes: Buffer): string {
  const f = path.join(dir, name);
  copyFileSync(path.join(SAMPLES, 'leaky.raw'), f);
  const fd = openSync(f, 'r+');
  writeSync(fd, bytes, 0, bytes.length, offset);
  closeSync(fd);
  return f;
}

describe('GPT with a damaged primary header', () => {
  const intact = () => readGpt(new FileSource(path.join(SAMPLES, 'leaky.raw')))!;
  it.each([
    ['a CRC mismatch', 512 + 80, Buffer.from([0xff, 0xff, 0xff, 0xff]), /header CRC mismatch/],
    ['a wiped header', 512, Buffer.alloc(512), /no GPT signature/],
  ])('%s: the backup header is used, with a problem', (_name, offset, bytes, why) => {
    const t = readGpt(new FileSource(damaged(`gpt-${offset}.raw`, offset, bytes)))!;
    expect(t).not.toBeNull();
    expect(t.partitions).toEqual(intact().partitions);
    expect(t.problems.join('\n')).toMatch(why);
    expect(t.problems.join('\n')).toMatch(/used the backup header/);
  });
  it('an intact table has no problem', () => {
    expect(intact().problems).toEqual([]);
  });
});

describe('overlapping partitions', () => {
  it('are named once per pair', () => {
    const p = (number: number, start: number, size: number) => ({
      number, device: `/dev/sda${number}`, start, size, partlabel: null, partuuid: null, partType: 'x',
    });
    expect(overlaps([p(1, 0, 100), p(2, 200, 100)])).toEqual([]);
    expect(overlaps([p(2, 50, 100), p(1, 0, 100), p(3, 300, 10)])).toEqual([
      'partitions /dev/sda1 and /dev/sda2 overlap (bytes 50-99 are in both)',
    ]);
  });
});
