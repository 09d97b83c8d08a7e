/** The HTML reporter: golden output on a fixed report, escaping of hostile strings, no network references. */
import { createHash } from 'node:crypto';
import { FORMATS, render } from '../../src/reporters/index.js';
import { readFileSync } from 'node:fs';
import { visible } from '../../src/escape.js';
import { commonDir, escapeHtml, formatDuration, formatHtml, jsonForScript } from '../../src/reporters/html.js';
import type { Report } from '../../src/types.js';
import { STORE_REPORT, XSS_IMG, XSS_SCRIPT } from '../helpers/html-fixture.js';
import { golden } from '../helpers/golden.js';


const html = formatHtml(STORE_REPORT);

/** The text of every <script ...>...</script> element, as an HTML parser would split them. */
function scripts(page: string): { attrs: string; body: string }[] {
  return [...page.matchAll(/<script([^>]*)>([\s\S]*?)<\/script/gi)].map((m) => ({ attrs: m[1]!, body: m[2]! }));
}

describe('html reporter', () => {
  it('is offered as --format html', async () => {
    expect(FORMATS).toContain('html');
    expect(await render('html', STORE_REPORT, { color: true })).toBe(html);
  });

  it('golden page', () => golden('report.html', html));

  it('is pure: same input, same output, input untouched', () => {
    const before = JSON.stringify(STORE_REPORT);
    expect(formatHtml(STORE_REPORT)).toBe(html);
    expect(JSON.stringify(STORE_REPORT)).toBe(before);
  });

  it('renders hostile strings as text, never as markup', () => {
    expect(html).not.toContain('<img');
    expect(html).not.toContain('<b>');
    expect(html).not.toMatch(/<[a-z][^<>]*\son[a-z]+=/i);
    expect(html).toContain(escapeHtml(XSS_IMG));
    expect(escapeHtml(XSS_IMG)).toBe('&lt;img src=x onerror=&quot;window.__pwned=1;alert(1)&quot;&gt;');
    expect(html).toContain('title="store/&lt;b&gt;odd&lt;/b&gt; &quot;name&quot;/disk.qcow2">&lt;b&gt;odd&lt;/b&gt; &quot;name&quot;/disk.qcow2<');
    expect(html).toContain('Remove build logs &amp; &quot;temp&quot; files &lt;before&gt; packing.');
    // exactly our two script elements: the JSON data and the page script
    const s = scripts(html);
    expect(s.map((x) => x.attrs)).toEqual([' type="application/json" id="hostleak-report"', '']);
    expect(html.match(/<script/gi)).toHaveLength(2);
    expect(html.match(/<\/script/gi)).toHaveLength(2);
    expect(html).not.toContain('<!--');
  });

  it('embeds the report as JSON that cannot close its script element and round-trips', () => {
    const data = scripts(html)[0]!.body;
    expect(data).not.toMatch(/[<>&\u2028\u2029]/);
    expect(data).toContain('\\u003c/script\\u003e\\u003cscript\\u003ewindow.__pwned=2');
    expect(JSON.parse(data)).toEqual(STORE_REPORT);
    expect(jsonForScript({ m: '</script>\u2028&' })).toBe('{"m":"\\u003c/script\\u003e\\u2028\\u0026"}');
    expect(JSON.parse(jsonForScript({ m: XSS_SCRIPT }))).toEqual({ m: XSS_SCRIPT });
  });

  it('shows control and bidi-override characters as visible escapes, as the terminal does (src/escape.ts)', () => {
    expect(escapeHtml('/home/alice\u202etxt.exe')).toBe('/home/alice\\u202etxt.exe');
    // A newline or tab in a name shows as such, not as the space HTML would make of it.
    expect(escapeHtml('a\u001b[31m\tb\nc\u2028')).toBe('a\\e[31m\\tb\\nc\\u2028');
    expect(html).toContain('/home/alice\\u202etxt.exe');
    expect(html).not.toMatch(/[\u202a-\u202e\u2066-\u2069\u001b]/);
  });

  it("the page script's visible() is src/escape.ts's, character for character", () => {
    const script = readFileSync('src/reporters/html-assets/report.js', 'utf8');
    const start = script.indexOf('  var INVISIBLE = ');
    const end = script.indexOf('\n  }\n', script.indexOf('function visible(s)', start)) + 4;
    expect(start).toBeGreaterThan(0);
    const pageVisible = new Function(`${script.slice(start, end)}\nreturn visible;`)() as (s: string) => string;
    const every = Array.from({ length: 0x10000 }, (_, c) => String.fromCharCode(c)).join('');
    expect(pageVisible(every)).toBe(visible(every));
    expect(pageVisible('a\u001b\n')).toBe('a\\e\\n');
  });

  it('loads nothing: every link is in-page, no src attributes, a CSP that allows only its own inline code', () => {
    const hrefs = [...html.matchAll(/\shref="([^"]*)"/g)].map((m) => m[1]!);
    expect(hrefs.length).toBeGreaterThan(0);
    for (const h of hrefs) expect(h).toMatch(/^#/);
    expect(html).not.toMatch(/<[a-z][^<>]*\ssrc=/i);
    expect(html).not.toMatch(/https?:\/\//);
    expect(html).not.toMatch(/@import|url\(/);
    const csp = /<meta http-equiv="Content-Security-Policy" content="([^"]+)">/.exec(html)?.[1];
    expect(csp).toBeDefined();
    expect(csp).toContain("default-src 'none'");
    const script = scripts(html)[1]!.body;
    const style = /<style>([\s\S]*?)<\/style>/.exec(html)![1]!;
    const hash = (s: string) => createHash('sha256').update(s).digest('base64');
    expect(csp).toContain(`script-src 'sha256-${hash(script)}'`);
    expect(csp).toContain(`style-src 'sha256-${hash(style)}'`);
  });

  it('summarises every image with its status, error and counts by severity', () => {
    const rows = [...html.matchAll(/<tr data-index="(\d+)" data-status="(\w+)" data-findings="(\d+)"/g)];
    expect(rows.map((r) => [r[1], r[2], r[3]])).toEqual([
      ['1', 'ok', '3'],
      ['2', 'partial', '2'],
      ['3', 'ok', '0'],
      ['4', 'failed', '0'],
    ]);
    expect(html).toContain('<span class="err">not a disk image: no partition table or filesystem found &lt;/td&gt;&lt;script&gt;alert(3)&lt;/script&gt;</span>');
    expect(html).toContain('<span class="err">filesystem /dev/sda3 (xfs) is not supported by the native backend</span>');
    expect(html).toContain('<title>hostleak report: 4 images: 2 ok, 1 partial, 1 failed · 3 errors, 1 warning, 1 info</title>');
    // per image: collapsed details with findings and the remediation of each rule once
    expect(html.match(/<details class="image" id="image-\d+"/g)).toHaveLength(4);
    expect(html).not.toMatch(/<details[^>]* open/);
    expect(html).toContain('<dt>orphaned-home</dt><dd>Set HOME=/root before switch-to-configuration.</dd>');
    expect(html.match(/<dt>orphaned-home<\/dt>/g)).toHaveLength(2);
  });

  it('has labelled controls and table headers', () => {
    for (const id of ['filter-severity', 'filter-rule', 'filter-image', 'filter-text', 'summary-show', 'summary-find']) {
      expect(html).toContain(`<label for="${id}">`);
      expect(html).toContain(`id="${id}"`);
    }
    expect(html.match(/<th scope="col"/g)).toHaveLength(8 + 5);
    expect(html).toContain('<html lang="en">');
  });

  it('renders an empty store', () => {
    const empty: Report = { version: 1, tool: { name: 'hostleak', version: '0.1.0' }, targets: [] };
    const page = formatHtml(empty);
    expect(page).toContain('<title>hostleak report: 0 images: 0 ok, 0 partial, 0 failed · 0 errors, 0 warnings, 0 info</title>');
    expect(JSON.parse(scripts(page)[0]!.body)).toEqual(empty);
  });

  it('shows image names without the directory they all share', () => {
    expect(commonDir(STORE_REPORT.targets.map((t) => t.target))).toBe('store/');
    expect(html).toContain('<p class="meta">Images under <code>store/</code> · ');
    expect(html).toContain('<a href="#image-1" title="store/nixos-a/disk.raw">nixos-a/disk.raw</a>');
    expect(html).toContain('<span class="name" title="store/nixos-a/disk.raw">nixos-a/disk.raw</span>');
    expect(commonDir([])).toBe('');
    expect(commonDir(['/x.raw', '/y.raw'])).toBe('');
    expect(commonDir(['/srv/h/a/x.img', '/srv/h/b/y.img'])).toBe('/srv/h/');
    expect(commonDir(['/srv/h/ab/x.img', '/srv/h/ac/y.img'])).toBe('/srv/h/');
    expect(commonDir(['/srv/h/x.img'])).toBe('/srv/h/');
    expect(commonDir(['out/leaky/', 'out/leaky/a'])).toBe('out/');
  });

  it('formats durations', () => {
    expect([0, 999, 1234, 75_500, 3_600_000].map(formatDuration)).toEqual(['0 ms', '999 ms', '1.2 s', '1 min 16 s', '60 min 0 s']);
  });
});
