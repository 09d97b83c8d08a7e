/**
 * The terminal progress bar fits whatever width the terminal reports, and always returns: a pty nobody sized
 * reports 0 columns (a nix build's, for one), where the old cut looped forever on a lone '…'.
 */
import stringWidth from 'string-width';
import { fitWidth, terminalProgress } from '../../src/store/progress.js';

describe('terminal progress', () => {
  it.each([0, 1, 2, 11, 40, 80])('draws within a %i-column terminal and returns', (columns) => {
    const out: string[] = [];
    const p = terminalProgress(3, (s) => out.push(s), columns);
    p.start('images/' + 'a-very-long-image-name-'.repeat(8) + '.qcow2');
    p.done('x');
    p.finish();
    expect(out).toHaveLength(3);
    for (const s of out.slice(0, 2)) {
      const line = s.replace('\r\x1b[2K', '');
      expect(stringWidth(line)).toBeLessThanOrEqual(Math.max(10, columns > 0 ? columns - 1 : 79));
      expect(line.startsWith('[')).toBe(true);
    }
  });

  it('cuts by display width, not by characters', () => {
    const wide = '[####] 1/2 ETA 1s ' + '漢字'.repeat(30);
    const cut = fitWidth(wide, 30);
    expect(stringWidth(cut)).toBeLessThanOrEqual(29);
    expect(cut.endsWith('…')).toBe(true);
    expect(fitWidth('short', 30)).toBe('short');
  });
});
