import { SparseBitSet } from '../src/arrays.js';

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
