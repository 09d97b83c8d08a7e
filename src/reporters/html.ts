/**
 * A self-contained HTML page for a whole artifact store: a summary per image, a sortable and filterable table of
 * every finding, and each image's findings with remediation.
 *
 * Everything in a report comes from untrusted images (paths, messages, evidence, even target names), so:
 * - every string is HTML-escaped, and control and bidi-override characters are shown as visible escapes;
 * - the report is embedded as JSON in a `<script type="application/json">` block with `<`, `>`, `&`, U+2028 and
 *   U+2029 written as `\uXXXX`, so no string can close the block; the page script reads it with JSON.parse and
 *   builds rows with textContent only;
 * - a Content-Security-Policy allows only this page's own inline script and style (by hash) and no network at all,
 *   so even a missed escape could neither run a handler nor fetch anything.
 * The page works without JavaScript (summary and per-image sections are static HTML); the script adds sorting,
 * filtering and the cross-image findings table. Pure: (report, options) -> string, deterministic.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { nodeCrypto } from '../lazy.js';
import { visible } from '../escape.js';
import { filesystemSource } from '../finding-path.js';
import { PACKAGE_ROOT } from '../paths.js';
import type { Finding, Report, Severity, TargetResult } from '../types.js';
import { plural } from '../words.js';
import { SEVERITIES, SEVERITY_RANK } from '../types.js';

export interface HtmlOptions {
  /** Page title and heading (default "hostleak report"). */
  title?: string;
  /** Earlier runs of the same audit (`--history DIR`), drawn as a trend with this one; any order. */
  history?: readonly RunSummary[];
}

/** What the trend needs of one run: when, how many images, and the counts. */
export interface RunSummary {
  startedAt: string;
  images: number;
  incomplete: number;
  error: number;
  warning: number;
  info: number;
}

/** A report's run summary (for the trend); null when the report does not say when it ran. */
export function summarizeRun(report: Report): RunSummary | null {
  if (!report.run?.startedAt || Number.isNaN(Date.parse(report.run.startedAt))) return null;
  const r: RunSummary = { startedAt: report.run.startedAt, images: report.targets.length, incomplete: 0, error: 0, warning: 0, info: 0 };
  for (const t of report.targets) {
    if (t.status !== 'ok') r.incomplete++;
    const c = countBySeverity(t.findings);
    for (const sev of SEVERITIES) r[sev] += c[sev];
  }
  return r;
}


const HTML_ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** Escape for HTML text and quoted attribute values. */
export function escapeHtml(s: string): string {
  return visible(s).replace(/[&<>"']/g, (ch) => HTML_ESCAPES[ch]!);
}

/**
 * JSON that is safe inside a <script> element: nothing in it can close the element or start a comment (`<`, `>` and
 * `&` become \u escapes), and line/paragraph separators and invisible characters are escaped too.
 */
export function jsonForScript(value: unknown): string {
  return JSON.stringify(value).replace(
    /[<>&\u2028\u2029\u007f-\u009f\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]/g,
    (ch) => '\\u' + ch.charCodeAt(0).toString(16).padStart(4, '0'),
  );
}

export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(1)} s`;
  const m = Math.floor(s / 60);
  return `${m} min ${Math.round(s - m * 60)} s`;
}

type Counts = Record<Severity, number>;

/**
 * The directory every target shares (`/srv/hydra/outputs/`), so the page can show the part that tells images apart.
 * Empty when there is none worth stripping (nothing shared, or only `/`).
 */
export function commonDir(targets: readonly string[]): string {
  if (targets.length === 0) return '';
  let prefix = targets[0]!.slice(0, targets[0]!.lastIndexOf('/') + 1);
  for (const t of targets) {
    // shorten to the parent directory until it is a proper prefix of t (every shown name stays non-empty)
    while (prefix && (!t.startsWith(prefix) || t.length <= prefix.length)) {
      prefix = prefix.slice(0, prefix.lastIndexOf('/', prefix.length - 2) + 1);
    }
  }
  return prefix === '/' ? '' : prefix;
}

function countBySeverity(findings: Finding[]): Counts {
  const c: Counts = { error: 0, warning: 0, info: 0 };
  for (const f of findings) c[f.severity]++;
  return c;
}

/**
 * The page's style sheet and script, in their own files (src/reporters/html-assets/, shipped in the npm package) and
 * inlined into every report with their CSP hashes. The script only ever writes text with textContent; the report
 * comes from the JSON block. Plain ES2017. Read on the first HTML report.
 */
let assets: { css: string; script: string } | null = null;
function pageAssets(): { css: string; script: string } {
  const dir = path.join(PACKAGE_ROOT, 'src', 'reporters', 'html-assets');
  return (assets ??= {
    css: '\n' + readFileSync(path.join(dir, 'report.css'), 'utf8'),
    script: '\n' + readFileSync(path.join(dir, 'report.js'), 'utf8'),
  });
}

function sha256(s: string): string {
  return nodeCrypto().createHash('sha256').update(s, 'utf8').digest('base64');
}

function statusBadge(t: TargetResult): string {
  return `<span class="badge status-${t.status}">${t.status}</span>`;
}

function countCell(t: TargetResult, n: number): string {
  if (t.status === 'failed') return `<td class="num zero" data-v="-1"><span aria-label="not audited">–</span></td>`;
  return `<td class="num${n === 0 ? ' zero' : ''}" data-v="${n}">${n}</td>`;
}

function summaryRow(t: TargetResult, i: number, strip: number): string {
  const c = countBySeverity(t.findings);
  const n = t.findings.length;
  const findingsCell =
    t.status === 'failed'
      ? `<td class="num zero" data-v="-1"><span aria-label="not audited">–</span></td>`
      : n === 0
        ? `<td class="num zero" data-v="0">0</td>`
        : `<td class="num" data-v="${n}"><a href="#findings" data-image-filter="${i}">${n}</a></td>`;
  const err = t.error ? `<span class="err">${escapeHtml(t.error)}</span>` : '';
  return (
    `<tr data-index="${i + 1}" data-status="${t.status}" data-findings="${n}" data-target="${escapeHtml(t.target)}">` +
    `<td class="mono" data-v="${escapeHtml(t.target)}"><a href="#image-${i + 1}" title="${escapeHtml(t.target)}">` +
    `${escapeHtml(t.target.slice(strip))}</a></td>` +
    `<td data-v="${t.status === 'ok' ? 2 : t.status === 'partial' ? 1 : 0}">${statusBadge(t)}${err}</td>` +
    `<td data-v="${escapeHtml(t.backend ?? '')}">${t.backend ? escapeHtml(t.backend) : '–'}</td>` +
    `<td class="num" data-v="${t.durationMs}">${formatDuration(t.durationMs)}</td>` +
    countCell(t, c.error) +
    countCell(t, c.warning) +
    countCell(t, c.info) +
    findingsCell +
    `</tr>`
  );
}

function countsText(c: Counts): string {
  return SEVERITIES.filter((s) => c[s] > 0)
    .map((s) => `<span class="badge sev-${s}">${c[s]} ${s === 'info' || c[s] === 1 ? s : s + 's'}</span>`)
    .join(' ');
}

function imageSection(t: TargetResult, i: number, strip: number): string {
  const c = countBySeverity(t.findings);
  const parts: string[] = [];
  parts.push(`<details class="image" id="image-${i + 1}" data-status="${t.status}">`);
  const counts =
    t.status === 'failed' ? '' : t.findings.length === 0 ? '<span class="clean">no findings</span>' : countsText(c);
  const why = t.error ? ` <span class="err">${escapeHtml(t.error.length > 160 ? t.error.slice(0, 157) + '...' : t.error)}</span>` : '';
  parts.push(`<summary><span class="name" title="${escapeHtml(t.target)}">${escapeHtml(t.target.slice(strip))}</span> ${statusBadge(t)} ${counts}${why}</summary>`);
  parts.push('<div class="body">');
  if (t.error) parts.push(`<p class="err">${t.status === 'failed' ? 'Not audited' : 'Audited partially'}: ${escapeHtml(t.error)}</p>`);
  const facts: string[] = [];
  if (t.backend) facts.push(`backend ${escapeHtml(t.backend)}`);
  facts.push(formatDuration(t.durationMs));
  const mounts = t.filesystems.map(
    (f) =>
      `<code>${escapeHtml(filesystemSource(f))}</code> ${escapeHtml(f.type)}` +
      (f.label ? ` “${escapeHtml(f.label)}”` : '') +
      (f.mountpoint ? ` on <code>${escapeHtml(f.mountpoint)}</code>` : ''),
  );
  if (mounts.length > 0) facts.push(`filesystems: ${mounts.join(', ')}`);
  parts.push(`<p class="facts">${facts.join(' · ')}</p>`);
  if (t.findings.length > 0) {
    parts.push(`<h3>Findings</h3><ul class="findings">`);
    const sorted = t.findings
      .map((f, k) => ({ f, k }))
      .sort((a, b) => SEVERITY_RANK[b.f.severity] - SEVERITY_RANK[a.f.severity] || a.k - b.k);
    for (const { f } of sorted) {
      parts.push(
        `<li><span class="badge sev-${f.severity}">${f.severity}</span> <code>${escapeHtml(f.path)}</code> ` +
          `<code class="rule">${escapeHtml(f.ruleId)}</code>` +
          (f.filesystem && f.filesystem !== 'dir' ? ` <span class="facts">on ${escapeHtml(f.filesystem)}</span>` : '') +
          `<br>${escapeHtml(f.message)}` +
          (f.evidence ? `<span class="evidence mono">evidence: ${escapeHtml(f.evidence)}</span>` : '') +
          `</li>`,
      );
    }
    parts.push('</ul>');
    const byRule = new Map<string, string>();
    for (const { f } of sorted) if (!byRule.has(f.ruleId)) byRule.set(f.ruleId, f.remediation);
    parts.push('<h3>How to fix</h3><dl class="fix">');
    for (const [id, remediation] of byRule) {
      parts.push(`<dt>${escapeHtml(id)}</dt><dd>${escapeHtml(remediation)}</dd>`);
    }
    parts.push('</dl>');
  } else if (t.status !== 'failed') {
    parts.push('<p class="clean">No findings.</p>');
  }
  parts.push('</div></details>');
  return parts.join('\n');
}

/** Numbers in SVG coordinates: short, and the same on every machine. */
const px = (n: number) => String(Math.round(n * 10) / 10);

/** A horizontal bar per row: label, bar scaled to the largest value, the value. */
function barChart(rows: Array<{ label: string; value: number; cls: string; title?: string }>, unit: string): string {
  const W = 480;
  const labelW = 190;
  const rowH = 20;
  const max = Math.max(1, ...rows.map((r) => r.value));
  const h = rows.length * rowH + 4;
  const bars = rows.map((r, i) => {
    const y = i * rowH + 2;
    const w = ((W - labelW - 50) * r.value) / max;
    const label = r.label.length > 28 ? `${r.label.slice(0, 27)}…` : r.label;
    return (
      `<g><title>${escapeHtml(r.title ?? `${r.label}: ${plural(r.value, unit)}`)}</title>` +
      `<text x="${labelW - 6}" y="${px(y + 14)}" text-anchor="end">${escapeHtml(label)}</text>` +
      `<rect class="${r.cls}" x="${labelW}" y="${px(y + 3)}" width="${px(Math.max(w, r.value > 0 ? 2 : 0))}" height="${rowH - 6}" rx="2"/>` +
      `<text class="muted" x="${px(labelW + w + 6)}" y="${px(y + 14)}">${r.value}</text></g>`
    );
  });
  return `<svg viewBox="0 0 ${W} ${h}" role="img" aria-label="${escapeHtml(rows.map((r) => `${r.label} ${r.value}`).join(', '))}">${bars.join('')}</svg>`;
}

/** Stacked columns per run (errors, warnings, info), oldest left, this run last, with the dates below. */
function trendChart(runs: readonly RunSummary[]): string {
  const W = 480;
  const H = 170;
  const top = 10;
  const bottom = 36;
  const left = 36;
  const max = Math.max(1, ...runs.map((r) => r.error + r.warning + r.info));
  const slot = (W - left - 6) / runs.length;
  const barW = Math.max(3, Math.min(28, slot * 0.7));
  const scale = (H - top - bottom) / max;
  const cols = runs.map((r, i) => {
    const x = left + i * slot + (slot - barW) / 2;
    let y = H - bottom;
    const parts = (['info', 'warning', 'error'] as const).map((sev) => {
      const hgt = r[sev] * scale;
      y -= hgt;
      return hgt > 0 ? `<rect class="c-${sev}" x="${px(x)}" y="${px(y)}" width="${px(barW)}" height="${px(hgt)}"/>` : '';
    });
    const day = r.startedAt.slice(5, 10);
    const every = Math.ceil(runs.length / 8);
    const label =
      i % every === 0 || i === runs.length - 1
        ? `<text class="muted" x="${px(x + barW / 2)}" y="${H - bottom + 14}" text-anchor="middle">${escapeHtml(day)}</text>`
        : '';
    const tip = `${shortDate(r.startedAt)}: ${r.error} errors, ${r.warning} warnings, ${r.info} info in ${plural(r.images, 'image')}` +
      (r.incomplete ? `, ${r.incomplete} not fully audited` : '');
    return `<g><title>${escapeHtml(tip)}</title>${parts.join('')}${label}</g>`;
  });
  const axis =
    `<line class="axis" x1="${left}" y1="${H - bottom}" x2="${W - 4}" y2="${H - bottom}" stroke-width="1"/>` +
    `<text class="muted" x="${left - 4}" y="${top + 8}" text-anchor="end">${max}</text>` +
    `<text class="muted" x="${left - 4}" y="${H - bottom}" text-anchor="end">0</text>` +
    `<text class="muted" x="${left}" y="${H - 6}">findings per run (errors, warnings, info)</text>`;
  const label = runs.map((r) => `${shortDate(r.startedAt)}: ${r.error + r.warning + r.info} findings`).join(', ');
  return `<svg viewBox="0 0 ${W} ${H}" role="img" aria-label="${escapeHtml(label)}">${axis}${cols.join('')}</svg>`;
}

/** `2026-12-07 04:58 UTC`. */
function shortDate(iso: string): string {
  const m = /^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2})/.exec(iso);
  return m ? `${m[1]} ${m[2]} UTC` : iso;
}

/** The overview: status breakdown, images affected per rule, and the trend when earlier runs are given. */
function overview(report: Report, status: Record<'ok' | 'partial' | 'failed', number>, history: readonly RunSummary[]): string {
  const figures: string[] = [];
  figures.push(
    '<figure class="chart" id="chart-status"><figcaption>Audit status</figcaption>' +
      barChart(
        [
          { label: 'audited', value: status.ok, cls: 'c-ok' },
          { label: 'partial', value: status.partial, cls: 'c-partial' },
          { label: 'failed', value: status.failed, cls: 'c-failed' },
        ],
        'image',
      ) +
      '</figure>',
  );
  const perRule = new Map<string, { images: number; worst: Severity }>();
  for (const t of report.targets) {
    const seen = new Set<string>();
    for (const f of t.findings) {
      if (f.suppressed) continue;
      const r = perRule.get(f.ruleId) ?? { images: 0, worst: f.severity };
      if (SEVERITY_RANK[f.severity] > SEVERITY_RANK[r.worst]) r.worst = f.severity;
      if (!seen.has(f.ruleId)) {
        seen.add(f.ruleId);
        r.images++;
      }
      perRule.set(f.ruleId, r);
    }
  }
  const TOP = 15;
  const rules = [...perRule].sort((a, b) => b[1].images - a[1].images || (a[0] < b[0] ? -1 : 1));
  if (rules.length > 0) {
    figures.push(
      `<figure class="chart" id="chart-rules"><figcaption>Images affected per rule${rules.length > TOP ? ` (top ${TOP} of ${rules.length})` : ''}</figcaption>` +
        barChart(
          rules.slice(0, TOP).map(([id, r]) => ({ label: id, value: r.images, cls: `c-${r.worst}`, title: `${id} (${r.worst}): ${plural(r.images, 'image')}` })),
          'image',
        ) +
        '</figure>',
    );
  }
  const current = summarizeRun(report);
  const runs = [...history, ...(current ? [current] : [])]
    .filter((r, i, all) => all.findIndex((o) => o.startedAt === r.startedAt) === i)
    .sort((a, b) => (a.startedAt < b.startedAt ? -1 : a.startedAt > b.startedAt ? 1 : 0))
    .slice(-60);
  if (history.length > 0 && runs.length > 1) {
    figures.push(`<figure class="chart" id="chart-trend"><figcaption>Trend over ${runs.length} runs</figcaption>${trendChart(runs)}</figure>`);
  }
  return `<section aria-labelledby="overview-h"><h2 id="overview-h">Overview</h2><div class="charts">${figures.join('')}</div></section>`;
}

export function formatHtml(report: Report, opts: HtmlOptions = {}): string {
  const title = opts.title ?? 'hostleak report';
  const total: Counts = { error: 0, warning: 0, info: 0 };
  const status = { ok: 0, partial: 0, failed: 0 };
  for (const t of report.targets) {
    status[t.status]++;
    const c = countBySeverity(t.findings);
    for (const s of SEVERITIES) total[s] += c[s];
  }
  const nFindings = total.error + total.warning + total.info;
  const prefix = commonDir(report.targets.map((t) => t.target));
  const { css: CSS, script: SCRIPT } = pageAssets();
  const csp =
    `default-src 'none'; script-src 'sha256-${sha256(SCRIPT)}'; style-src 'sha256-${sha256(CSS)}'; ` +
    `img-src data:; base-uri 'none'; form-action 'none'`;
  const headline =
    `${plural(report.targets.length, 'image')}: ${status.ok} ok, ${status.partial} partial, ${status.failed} failed` +
    ` · ${plural(total.error, 'error')}, ${plural(total.warning, 'warning')}, ${total.info} info`;
  const card = (cls: string, n: number, label: string) =>
    `<li class="${cls}"><span class="n">${n}</span><span class="l">${label}</span></li>`;

  const out: string[] = [];
  out.push(
    '<!DOCTYPE html>',
    '<html lang="en">',
    '<head>',
    '<meta charset="utf-8">',
    `<meta http-equiv="Content-Security-Policy" content="${csp}">`,
    '<meta name="referrer" content="no-referrer">',
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    `<meta name="generator" content="${escapeHtml(`${report.tool.name} ${report.tool.version}`)}">`,
    `<title>${escapeHtml(title)}: ${escapeHtml(headline)}</title>`,
    `<style>${CSS}</style>`,
    '</head>',
    '<body>',
    '<header>',
    `<h1>${escapeHtml(title)}</h1>`,
    `<p class="meta">${report.run?.startedAt ? `Run started <time id="run-date" datetime="${escapeHtml(report.run.startedAt)}">${escapeHtml(shortDate(report.run.startedAt))}</time> · ` : ''}` +
      `${prefix ? `Images under <code>${escapeHtml(prefix)}</code> · ` : ''}` +
      `${escapeHtml(report.tool.name)} ${escapeHtml(report.tool.version)} · report format version ${report.version}</p>`,
    ...(report.run?.merged?.problem
      ? [`<p class="warn-banner" role="alert">Incomplete merge: ${escapeHtml(visible(report.run.merged.problem))}. Part of the store is missing or counted twice.</p>`]
      : []),
    `<ul class="totals" aria-label="Totals">`,
    card('t-images', report.targets.length, 'images'),
    card('t-ok', status.ok, 'audited'),
    card('t-failed', status.partial + status.failed, 'not fully audited'),
    card('t-error', total.error, plural(total.error, 'error').replace(/^\d+ /, '')),
    card('t-warning', total.warning, plural(total.warning, 'warning').replace(/^\d+ /, '')),
    card('t-info', total.info, 'info'),
    '</ul>',
    '</header>',
    '<main>',
    overview(report, status, opts.history ?? []),
  );

  // Summary per image.
  out.push(
    '<section aria-labelledby="summary-h">',
    '<h2 id="summary-h">Images</h2>',
    '<div class="controls">',
    '<label for="summary-show">Show<select id="summary-show">' +
      '<option value="">all images</option><option value="findings">with findings</option>' +
      '<option value="incomplete">not fully audited</option><option value="clean">clean</option></select></label>',
    '<label for="summary-find">Image name contains<input type="search" id="summary-find" autocomplete="off"></label>',
    '</div>',
    `<p class="status-line" id="summary-shown" aria-live="polite">${plural(report.targets.length, 'image')}</p>`,
    '<div class="table-wrap"><table id="summary-table">',
    '<caption class="visually-hidden">One row per image: audit status and findings by severity</caption>',
    '<thead><tr>' +
      '<th scope="col" data-key="target"><button type="button">Image</button></th>' +
      '<th scope="col" data-key="status" data-type="number"><button type="button">Status</button></th>' +
      '<th scope="col" data-key="backend"><button type="button">Backend</button></th>' +
      '<th scope="col" class="num" data-key="duration" data-type="number"><button type="button">Duration</button></th>' +
      '<th scope="col" class="num" data-key="error" data-type="number"><button type="button">Errors</button></th>' +
      '<th scope="col" class="num" data-key="warning" data-type="number"><button type="button">Warnings</button></th>' +
      '<th scope="col" class="num" data-key="info" data-type="number"><button type="button">Info</button></th>' +
      '<th scope="col" class="num" data-key="findings" data-type="number"><button type="button">Findings</button></th>' +
      '</tr></thead>',
    '<tbody>',
    ...report.targets.map((t, i) => summaryRow(t, i, prefix.length)),
    '</tbody></table></div>',
    '</section>',
  );

  // All findings.
  const sevOptions = SEVERITIES.map((s) => `<option value="${s}">${s} (${total[s]})</option>`).join('');
  out.push(
    '<section id="findings" aria-labelledby="findings-h">',
    `<h2 id="findings-h">All findings (${nFindings})</h2>`,
    '<noscript><p>Sorting and filtering need JavaScript; every finding is listed per image below.</p></noscript>',
    '<div class="controls" role="search" aria-label="Filter findings">',
    `<label for="filter-severity">Severity<select id="filter-severity"><option value="">all severities</option>${sevOptions}</select></label>`,
    '<label for="filter-rule">Rule<select id="filter-rule"><option value="">all rules</option></select></label>',
    '<label for="filter-image">Image<select id="filter-image"><option value="">all images</option></select></label>',
    '<label for="filter-text">Path or message contains<input type="search" id="filter-text" autocomplete="off"></label>',
    '</div>',
    '<p class="remedy" id="rule-fix" hidden></p>',
    '<p class="status-line" id="findings-shown" aria-live="polite"></p>',
    `<div class="table-wrap"><table id="findings-table" data-strip="${prefix.length}">`,
    '<caption class="visually-hidden">Every finding of every image; use the column headers to sort</caption>',
    '<thead><tr>' +
      '<th scope="col" data-key="severity"><button type="button">Severity</button></th>' +
      '<th scope="col" data-key="rule"><button type="button">Rule</button></th>' +
      '<th scope="col" data-key="image"><button type="button">Image</button></th>' +
      '<th scope="col" data-key="path"><button type="button">Path</button></th>' +
      '<th scope="col" data-key="message"><button type="button">Message</button></th>' +
      '</tr></thead>',
    '<tbody id="findings-body"></tbody></table></div>',
    '<p><button type="button" class="more" id="findings-more" hidden>Show all</button></p>',
    '</section>',
  );

  // Per image.
  out.push(
    '<section aria-labelledby="images-h">',
    '<h2 id="images-h">Findings per image</h2>',
    '<div class="controls"><button type="button" id="expand-all">Expand all</button>' +
      '<button type="button" id="collapse-all">Collapse all</button></div>',
    ...report.targets.map((t, i) => imageSection(t, i, prefix.length)),
    '</section>',
    '</main>',
    `<footer>Generated by ${escapeHtml(report.tool.name)} ${escapeHtml(report.tool.version)}. ` +
      'This page is self-contained: it loads nothing from the network. The JSON report is embedded in it ' +
      '(<code>script#hostleak-report</code>).</footer>',
    `<script type="application/json" id="hostleak-report">${jsonForScript(report)}</script>`,
    `<script>${SCRIPT}</script>`,
    '</body>',
    '</html>',
    '',
  );
  return out.join('\n');
}
