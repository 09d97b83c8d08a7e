import fc from 'fast-check';
import { firstNonZero, isZero, SparseBitSet } from '../src/arrays.js';

describe('SparseBitSet', () => {
  it('marks each number once, across pages and far apart', () => {
    const set = new SparseBitSet();
    const numbers = [0, 1, 7, 8, 32767, 32768, 65535, 1_000_003, 2 ** 40 + 5];
    for (const n of numbers) expect(set.add(n)).toBe(true);
    for (const n of numbers) {
      expect(set.has(n)).toBe(true);
      expect(set.add(n)).toBe(false);
    }
    for (const n of [2, 9, 32766, 32769, 1_000_002, 2 ** 40 + 4]) expect(set.has(n)).toBe(false);
  });
});

describe('isZero and firstNonZero', () => {
  it('say what a look at every byte says, on buffers across the 64 KiB pieces they compare', () => {
    // Mostly zeros, a few bytes set anywhere (the first, the last, either side of a 64 KiB boundary).
    const buffers = fc
      .tuple(fc.integer({ min: 0, max: 200_000 }), fc.array(fc.tuple(fc.nat(), fc.integer({ min: 1, max: 255 })), { maxLength: 3 }))
      .map(([n, set]) => {
        const b = new Uint8Array(n);
        for (const [at, v] of set) if (n > 0) b[at % n] = v;
        return b;
      });
    fc.assert(
      fc.property(buffers, fc.nat(), fc.nat(), (b, x, y) => {
        const first = b.findIndex((v) => v !== 0);
        expect(firstNonZero(b)).toBe(first);
        expect(isZero(b)).toBe(first < 0);
        const start = b.length === 0 ? 0 : x % (b.length + 1);
        const end = start + (b.length === start ? 0 : y % (b.length - start + 1));
        expect(isZero(b, start, end)).toBe(b.subarray(start, end).every((v) => v === 0));
      }),
      { numRuns: 300, seed: 36 },
    );
  });
});
