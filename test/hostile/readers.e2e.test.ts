/**
 * Native readers never trust the image's counts: a directory block repeated in its map, a FAT chain looping on
 * itself and directories sharing one block end as `partial` (exit 3) with one problem each, in bounded memory; a
 * huge leaky image's 100,000 findings are all reported.
 */
import { describe, expect, it } from '@jest/globals';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { requireTools } from '../helpers/tools.js';
import { hostileCases, record, runMeasured } from './harness.js';

requireTools('mke2fs', 'debugfs', 'mkfs.vfat', '/usr/bin/time');

const cases = hostileCases(['ext2-repeated-block', 'fat32-root-loop', 'ext2-shared-dir-block', 'many-findings']);

describe.each(['ext2-repeated-block', 'fat32-root-loop', 'ext2-shared-dir-block'])('%s', (name) => {
  it.each(['native', 'auto'])('is read as partial by the %s backend, one problem, bounded memory', (backend) => {
    const c = cases[name]!;
    const m = record(`${name} ${backend}`, runMeasured(['scan', c.file, '--backend', backend, '--format', 'json', '--timeout', '60']));
    expect(m.status).toBe(3);
    const t = (JSON.parse(m.stdout) as { targets: Array<{ status: string; error: string }> }).targets[0]!;
    expect(t.status).toBe('partial');
    expect(t.error).toMatch(c.reason);
    expect(m.peakMiB).toBeLessThan(512);
    expect(m.seconds).toBeLessThan(60);
    expect(m.leftovers).toEqual([]);
  });
});

describe('a huge leaky image', () => {
  it('reports 100,000 findings in every format without overflowing', () => {
    const c = cases['many-findings']!;
    const j = record('many-findings json', runMeasured(['scan', c.file, '--backend', 'native', '--format', 'json', '--timeout', '300']));
    expect(j.status).toBe(0);
    const t = (JSON.parse(j.stdout) as { targets: Array<{ status: string; findings: unknown[] }> }).targets[0]!;
    expect(t.status).toBe('ok');
    expect(t.findings.length).toBeGreaterThanOrEqual(100_000);
    // 100,000 findings, each judged against the (absent) package database in report order: measured 490-561 MiB
    // peak here (432-502 before the judgements were queued by the engine). Bounded, not free: see the closing note.
    expect(j.peakMiB).toBeLessThan(640);
    // SARIF from a scan (the report kept whole, then rendered); text from the saved JSON report (the same renderer,
    // without scanning the image a third time).
    const sarif = record('many-findings sarif', runMeasured(['scan', c.file, '--backend', 'native', '--format', 'sarif', '--timeout', '300']));
    expect(sarif.status).toBe(0);
    expect(sarif.stderr).not.toMatch(/Maximum call stack|heap out of memory/);
    const saved = mkdtempSync(path.join(os.tmpdir(), 'hl-many-findings-'));
    try {
      writeFileSync(path.join(saved, 'report.json'), j.stdout);
      const text = record('many-findings convert text', runMeasured(['convert', path.join(saved, 'report.json'), '--format', 'text']));
      expect(text.status).toBe(0);
      expect(text.stderr).not.toMatch(/Maximum call stack|heap out of memory/);
      expect(text.stdout.split('\n').filter((l) => l.includes('/nonexistent/')).length).toBeGreaterThanOrEqual(100_000);
    } finally {
      rmSync(saved, { recursive: true, force: true });
    }
  });
  it('stops reading natively at --timeout (the one deadline reaches the reader and the rules)', () => {
    const m = record('many-findings --timeout 1', runMeasured(['scan', cases['many-findings']!.file, '--backend', 'native', '--timeout', '1']));
    expect(m.status).toBe(3);
    expect(m.stderr).toMatch(/timed out after 1 s/);
    expect(m.seconds).toBeLessThan(1 + 20); // a guard against "runs to the end", not a benchmark
    expect(m.leftovers).toEqual([]);
  });
});
