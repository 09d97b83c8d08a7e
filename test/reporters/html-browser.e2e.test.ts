/**
 * The HTML report in a real browser: Debian's chromium, headless, driven by playwright-core. The store page comes
 * from the built CLI scanning the sample trees and a missing target; a second page renders the fixed hostile report.
 * Screenshots land in test/output/ (gitignored).
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { formatHtml } from '../../src/reporters/html.js';
import { SEVERITIES, type Report } from '../../src/types.js';
import { REPO, SAMPLES, hostleak, json } from '../helpers/cli.js';
import { STORE_REPORT, XSS_IMG, XSS_SCRIPT } from '../helpers/html-fixture.js';
import { describeWithTools } from '../helpers/tools.js';

const OUT = path.join(REPO, 'test/output');
const LEAKY = path.join(SAMPLES, 'leaky');
const CLEAN = path.join(SAMPLES, 'clean');
const MISSING = path.join(OUT, 'no-such-image.raw');
/** How the page names a target: relative to the directory all targets share (here the repository). */
const shown = (target: string) => path.relative(REPO, target);

interface Loaded {
  page: Page;
  requests: string[];
  problems: string[];
}

describeWithTools(['chromium'], 'html report in headless chromium', () => {
  let ctx: BrowserContext;
  let userDataDir: string;
  let expected: Report;
  let storeUrl: string;
  let hostileUrl: string;

  beforeAll(async () => {
    mkdirSync(OUT, { recursive: true });
    const targets = [LEAKY, CLEAN, MISSING];
    const store = path.join(OUT, 'store.html');
    const r = hostleak(['scan', ...targets, '--format', 'html', '--output', store]);
    expect(r.stderr).toContain('no-such-image.raw: failed');
    expect(r.status).toBe(3);
    expected = json<Report>(hostleak(['scan', ...targets, '--format', 'json']));
    storeUrl = pathToFileURL(store).href;
    const hostile = path.join(OUT, 'hostile.html');
    writeFileSync(hostile, formatHtml(STORE_REPORT));
    hostileUrl = pathToFileURL(hostile).href;

    userDataDir = mkdtempSync(path.join(os.tmpdir(), 'hostleak-chromium-'));
    ctx = await chromium.launchPersistentContext(userDataDir, {
      executablePath: '/usr/bin/chromium',
      headless: true,
      viewport: { width: 1280, height: 900 },
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
    ctx.setDefaultTimeout(15_000);
  });

  afterAll(async () => {
    await ctx?.close();
    if (userDataDir) rmSync(userDataDir, { recursive: true, force: true });
  });

  async function load(url: string): Promise<Loaded> {
    const page = await ctx.newPage();
    const requests: string[] = [];
    const problems: string[] = [];
    page.on('request', (req) => requests.push(req.url()));
    page.on('console', (m) => {
      if (m.type() === 'error' || m.type() === 'warning') problems.push(`console ${m.type()}: ${m.text()}`);
    });
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
    page.on('dialog', (d) => {
      problems.push(`dialog: ${d.message()}`);
      void d.dismiss();
    });
    await page.goto(url);
    return { page, requests, problems };
  }

  /** Cell texts of the visible rows of the findings table, one array per row. */
  async function findingRows(page: Page): Promise<string[][]> {
    return page.$$eval('#findings-body tr:not([hidden])', (trs) =>
      trs.map((tr) => Array.from((tr as HTMLTableRowElement).cells, (td) => td.textContent ?? '')),
    );
  }

  const allFindings = () => expected.targets.flatMap((t) => t.findings.map((f) => ({ ...f, target: t.target })));

  it('the sample store has findings to show', () => {
    expect(expected.targets.map((t) => t.status)).toEqual(['ok', 'ok', 'failed']);
    expect(expected.targets[0]!.findings.length).toBeGreaterThan(0);
  });

  it('summarises each image: status, error, counts by severity', async () => {
    const { page, problems } = await load(storeUrl);
    const rows = await page.$$eval('#summary-table tbody tr', (trs) =>
      trs.map((tr) => Array.from((tr as HTMLTableRowElement).cells, (td) => (td as HTMLElement).innerText.trim())),
    );
    expect(rows).toHaveLength(3);
    expected.targets.forEach((t, i) => {
      const [name, status, backend, , errors, warnings, infos, total] = rows[i]!;
      expect(name).toBe(shown(t.target));
      expect(status!.split('\n')[0]).toBe(t.status);
      if (t.status === 'failed') {
        expect(status).toContain('no such file or directory');
        expect([errors, warnings, infos, total]).toEqual(['–', '–', '–', '–']);
        expect(backend).toBe('–');
      } else {
        expect(backend).toBe('dir');
        const count = (s: string) => String(t.findings.filter((f) => f.severity === s).length);
        expect([errors, warnings, infos, total]).toEqual([count('error'), count('warning'), count('info'), String(t.findings.length)]);
      }
    });
    expect(await page.textContent('#summary-shown')).toBe('Showing 3 of 3 images');
    expect(await page.getAttribute('#summary-table a[href="#image-1"]', 'title')).toBe(LEAKY);
    expect(await page.textContent('header .meta')).toContain(`Images under ${REPO}/`);
    expect(problems).toEqual([]);
    await page.close();
  });

  it('lists every finding; filtering by severity, rule and image hides the others', async () => {
    const { page, problems } = await load(storeUrl);
    const all = allFindings();
    expect(await findingRows(page)).toHaveLength(all.length);
    expect(await page.textContent('#findings-shown')).toBe(`Showing ${all.length} of ${all.length} matching findings (${all.length} in total)`);

    for (const sev of SEVERITIES) {
      await page.selectOption('#filter-severity', sev);
      const rows = await findingRows(page);
      expect(rows).toHaveLength(all.filter((f) => f.severity === sev).length);
      for (const r of rows) expect(r[0]).toBe(sev);
    }
    await page.selectOption('#filter-severity', '');

    const rules = [...new Set(all.map((f) => f.ruleId))].sort();
    expect(await page.$$eval('#filter-rule option', (os) => os.map((o) => (o as HTMLOptionElement).value))).toEqual(['', ...rules]);
    expect(rules.length).toBeGreaterThan(1);
    for (const rule of rules) {
      await page.selectOption('#filter-rule', rule);
      const rows = await findingRows(page);
      const want = all.filter((f) => f.ruleId === rule);
      expect(rows).toHaveLength(want.length);
      expect(rows.length).toBeLessThan(all.length);
      for (const r of rows) expect(r[1]).toBe(rule);
      // the remediation of the chosen rule is shown above the table
      expect(await page.isVisible('#rule-fix')).toBe(true);
      expect(await page.textContent('#rule-fix')).toBe(`How to fix ${rule}: ${want[0]!.remediation}`);
    }
    await page.selectOption('#filter-rule', '');
    expect(await page.isVisible('#rule-fix')).toBe(false);

    // image filter: only images with findings are offered; choosing one shows only its findings
    const imageOptions = await page.$$eval('#filter-image option', (os) => os.map((o) => o.textContent));
    expect(imageOptions).toEqual(['all images', `${shown(LEAKY)} (${expected.targets[0]!.findings.length})`]);
    await page.selectOption('#filter-image', '0');
    for (const r of await findingRows(page)) expect(r[2]).toBe(shown(LEAKY));

    // free text narrows further
    await page.fill('#filter-text', 'no such text anywhere');
    expect(await findingRows(page)).toHaveLength(0);
    await page.fill('#filter-text', '');
    expect(await findingRows(page)).toHaveLength(all.length);
    expect(problems).toEqual([]);
    await page.close();
  });

  it('sorts by clicking column headers', async () => {
    const { page } = await load(storeUrl);
    const col = async (i: number) => (await findingRows(page)).map((r) => r[i]!);
    await page.click('#findings-table th[data-key="rule"] button');
    const rules = await col(1);
    expect(rules).toEqual([...rules].sort());
    expect(await page.getAttribute('#findings-table th[data-key="rule"]', 'aria-sort')).toBe('ascending');
    await page.click('#findings-table th[data-key="rule"] button');
    expect(await col(1)).toEqual([...rules].sort().reverse());
    expect(await page.getAttribute('#findings-table th[data-key="rule"]', 'aria-sort')).toBe('descending');
    expect(await page.getAttribute('#findings-table th[data-key="severity"]', 'aria-sort')).toBeNull();
    await page.click('#findings-table th[data-key="path"] button');
    const paths = await col(3);
    expect(paths).toEqual([...paths].sort());

    // the summary table sorts too: most errors first, then back
    await page.click('#summary-table th[data-key="error"] button');
    const names = await page.$$eval('#summary-table tbody tr td:first-child', (tds) => tds.map((td) => td.textContent));
    expect(names[0]).toBe(shown(LEAKY));
    expect(names[2]).toBe(shown(MISSING));
    await page.click('#summary-table th[data-key="target"] button');
    const byName = await page.$$eval('#summary-table tbody tr td:first-child', (tds) => tds.map((td) => td.textContent));
    expect(byName).toEqual([CLEAN, LEAKY, MISSING].sort().map(shown));
    await page.close();
  });

  it('shows each image with its findings and remediation; filters images', async () => {
    const { page, requests, problems } = await load(storeUrl);
    const leaky = expected.targets[0]!;
    expect(await page.isVisible('#image-1 dl.fix')).toBe(false); // collapsed
    await page.click('#summary-table a[href="#image-1"]');
    expect(await page.isVisible('#image-1 dl.fix')).toBe(true);
    const items = await page.$$eval('#image-1 ul.findings li', (lis) => lis.map((li) => li.textContent ?? ''));
    expect(items).toHaveLength(leaky.findings.length);
    for (const f of leaky.findings) expect(items.some((t) => t.includes(f.path) && t.includes(f.message))).toBe(true);
    const fixes = await page.$$eval('#image-1 dl.fix dd', (dds) => dds.map((d) => d.textContent));
    expect(fixes.sort()).toEqual([...new Set(leaky.findings.map((f) => f.remediation))].sort());
    expect(await page.textContent('#image-2 summary')).toContain('no findings');
    expect(await page.textContent('#image-3 summary')).toContain('no such file or directory');

    await page.selectOption('#summary-show', 'incomplete');
    expect(await page.textContent('#summary-shown')).toBe('Showing 1 of 3 images');
    expect(await page.isVisible('#image-1')).toBe(false);
    expect(await page.isVisible('#image-3')).toBe(true);
    await page.selectOption('#summary-show', 'clean');
    expect(await page.$$eval('#summary-table tbody tr:not([hidden]) td:first-child', (tds) => tds.map((t) => t.textContent))).toEqual([shown(CLEAN)]);
    await page.selectOption('#summary-show', '');
    await page.fill('#summary-find', 'leaky');
    expect(await page.textContent('#summary-shown')).toBe('Showing 1 of 3 images');
    await page.fill('#summary-find', '');

    // a findings count in the summary filters the findings table to that image
    await page.click('#summary-table a[data-image-filter="0"]');
    expect(await page.inputValue('#filter-image')).toBe('0');

    await page.click('#image-1 > summary'); // collapse again
    await page.click('#expand-all');
    expect(await page.$$eval('details.image', (ds) => ds.every((d) => (d as HTMLDetailsElement).open))).toBe(true);
    await page.emulateMedia({ colorScheme: 'light' });
    await page.screenshot({ path: path.join(OUT, 'html-report.png'), fullPage: true });
    await page.emulateMedia({ colorScheme: 'dark' });
    await page.screenshot({ path: path.join(OUT, 'html-report-dark.png'), fullPage: true });

    for (const u of requests) expect(u).toMatch(/^(file|data):/);
    expect(requests).toEqual([storeUrl]);
    expect(problems).toEqual([]);
    await page.close();
  });

  it('stays usable with hundreds of images: collapsed sections, findings table paged at 1000 rows', async () => {
    const severities = ['error', 'warning', 'info', 'warning', 'info', 'error'] as const;
    const big: Report = {
      ...STORE_REPORT,
      targets: Array.from({ length: 300 }, (_, i) => ({
        ...STORE_REPORT.targets[2]!,
        target: `store/hydra/build-${String(i).padStart(3, '0')}/nixos.img`,
        findings: i % 3 === 0 ? [] : severities.map((severity, k) => ({
          ...STORE_REPORT.targets[0]!.findings[0]!,
          severity,
          ruleId: `rule-${k}`,
          path: `/home/u${i}/f${k}`,
        })),
      })),
    };
    const file = path.join(OUT, 'big.html');
    writeFileSync(file, formatHtml(big));
    const { page, requests, problems } = await load(pathToFileURL(file).href);
    const total = 200 * severities.length;
    expect(await page.$$eval('#summary-table tbody tr', (trs) => trs.length)).toBe(300);
    expect(await page.$$eval('details.image[open]', (ds) => ds.length)).toBe(0);
    expect(await findingRows(page)).toHaveLength(1000);
    expect(await page.textContent('#findings-shown')).toBe(`Showing 1000 of ${total} matching findings (${total} in total)`);
    await page.click('#findings-more');
    expect(await findingRows(page)).toHaveLength(total);
    expect(await page.isVisible('#findings-more')).toBe(false);
    await page.selectOption('#filter-rule', 'rule-0');
    expect(await findingRows(page)).toHaveLength(200);
    await page.selectOption('#summary-show', 'clean');
    expect(await page.textContent('#summary-shown')).toBe('Showing 100 of 300 images');
    expect(requests).toHaveLength(1);
    expect(problems).toEqual([]);
    await page.close();
  });

  it('dates the run and draws the status, the images per rule and the trend across --history, loading nothing', async () => {
    // Two earlier nightly runs: the same store's JSON report, as a job would keep it, dated earlier.
    const history = path.join(OUT, 'history');
    rmSync(history, { recursive: true, force: true });
    mkdirSync(history);
    const days = ['2026-01-01T02:30:00.000Z', '2026-01-02T02:30:00.000Z'];
    days.forEach((day, i) => {
      const earlier = { ...expected, run: { startedAt: day }, targets: expected.targets.map((t) => ({ ...t, findings: t.findings.slice(i + 1) })) };
      writeFileSync(path.join(history, `report-${i}.json`), JSON.stringify(earlier));
    });
    writeFileSync(path.join(history, 'notes.json'), '{"not": "a report"}');
    const saved = path.join(OUT, 'now.json');
    writeFileSync(saved, JSON.stringify(expected));
    const page = path.join(OUT, 'trend.html');
    const r = hostleak(['merge', saved, '--format', 'html', '--history', history, '--output', page, '--fail-on', 'never']);
    expect(r.stderr).toContain('--history: left out');
    expect(r.stderr).toContain('notes.json');
    const url = pathToFileURL(page).href;
    const { page: p, requests, problems } = await load(url);

    expect(await p.getAttribute('#run-date', 'datetime')).toBe(expected.run!.startedAt);
    expect(await p.textContent('#run-date')).toMatch(/^\d{4}-\d{2}-\d{2} \d{2}:\d{2} UTC$/);
    // Status: one bar per status, each titled with its count of images.
    const status = await p.$$eval('#chart-status svg g title', (ts) => ts.map((t) => t.textContent));
    expect(status).toEqual(['audited: 2 images', 'partial: 0 images', 'failed: 1 image']);
    // Images per rule: every rule with a finding, with the number of images it was found in.
    const perRule = new Map<string, number>();
    for (const t of expected.targets) for (const id of new Set(t.findings.map((f) => f.ruleId))) perRule.set(id, (perRule.get(id) ?? 0) + 1);
    const bars = await p.$$eval('#chart-rules svg g title', (ts) => ts.map((t) => t.textContent ?? ''));
    expect(bars).toHaveLength(Math.min(15, perRule.size));
    for (const b of bars) {
      const m = /^(\S+) \((error|warning|info)\): (\d+) images?$/.exec(b)!;
      expect(Number(m[3])).toBe(perRule.get(m[1]!));
    }
    // The trend: the two earlier runs and this one, oldest first, each column as tall as its findings.
    const runs = await p.$$eval('#chart-trend svg g title', (ts) => ts.map((t) => t.textContent ?? ''));
    const total = expected.targets.reduce((n, t) => n + t.findings.length, 0);
    expect(runs.map((t) => t.slice(0, 10))).toEqual(['2026-01-01', '2026-01-02', expected.run!.startedAt.slice(0, 10)]);
    const heights = await p.$$eval('#chart-trend svg g', (gs) =>
      gs.map((g) => Array.from(g.querySelectorAll('rect'), (rc) => Number(rc.getAttribute('height'))).reduce((a, b) => a + b, 0)),
    );
    const earlier = (i: number) => expected.targets.reduce((n, t) => n + Math.max(0, t.findings.length - (i + 1)), 0);
    const counts = [earlier(0), earlier(1), total];
    expect(heights[2]).toBeGreaterThan(heights[0]!);
    expect(heights[0]! / heights[2]!).toBeCloseTo(counts[0]! / counts[2]!, 1);
    // Drawn, on screen: the charts have a size.
    const box = await p.locator('#chart-trend svg').boundingBox();
    expect(box!.width).toBeGreaterThan(200);
    await p.screenshot({ path: path.join(OUT, 'html-report-charts.png'), fullPage: false });
    expect(requests).toEqual([url]);
    expect(problems).toEqual([]);
    await p.close();
  });

  it('renders hostile strings as text: nothing runs, nothing loads', async () => {
    const { page, requests, problems } = await load(hostileUrl);
    await page.click('#expand-all');
    expect(await page.evaluate(() => (window as unknown as { __pwned?: number }).__pwned)).toBeUndefined();
    expect(await page.$$eval('img', (imgs) => imgs.length)).toBe(0);
    expect(await page.$$eval('b', (bs) => bs.length)).toBe(0);
    expect(await page.$$eval('script', (ss) => ss.length)).toBe(2);
    const message = await page.$$eval('#findings-body td.message', (tds) => tds.map((td) => td.firstChild?.textContent));
    expect(message).toContain(XSS_IMG);
    const evidence = await page.$$eval('#findings-body .evidence', (es) => es.map((e) => e.textContent));
    expect(evidence).toContain(`evidence: ${XSS_SCRIPT}`);
    expect(await page.textContent('#image-1 ul.findings')).toContain(XSS_IMG);
    expect(await page.textContent('#summary-table')).toContain('<b>odd</b> "name"/disk.qcow2');
    expect(await page.getAttribute('#summary-table a[href="#image-2"]', 'title')).toBe('store/<b>odd</b> "name"/disk.qcow2');
    // a right-to-left override in a path is shown, not obeyed
    expect(await page.textContent('#image-2 ul.findings')).toContain('/home/alice\\u202etxt.exe');
    expect(await findingRows(page).then((rows) => rows.map((r) => r[3]))).toContain('/home/alice\\u202etxt.exe');

    // image filter across several images
    await page.selectOption('#filter-image', '1');
    const rows = await findingRows(page);
    expect(rows).toHaveLength(2);
    for (const r of rows) expect(r[2]).toBe('<b>odd</b> "name"/disk.qcow2');
    await page.selectOption('#filter-image', '');
    // default order: by severity, most severe first; clicking Severity flips it
    expect((await findingRows(page)).map((r) => r[0])).toEqual(['error', 'error', 'error', 'warning', 'info']);
    await page.click('#findings-table th[data-key="severity"] button');
    expect((await findingRows(page)).map((r) => r[0])).toEqual(['info', 'warning', 'error', 'error', 'error']);
    await page.screenshot({ path: path.join(OUT, 'html-report-hostile.png'), fullPage: true });

    expect(requests).toEqual([hostileUrl]);
    expect(problems).toEqual([]);
    await page.close();
  });
});
