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
import { createHash } from 'node:crypto';
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

// C0 controls except tab and newline, DEL, C1 controls, bidi embeddings/overrides/isolates, zero-width marks.
const INVISIBLE = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]/g;

/** Show invisible or direction-changing characters as `\uXXXX` so a path cannot masquerade as another. */
export function visible(s: string): string {
  return s.replace(INVISIBLE, (ch) => '\\u' + ch.charCodeAt(0).toString(16).padStart(4, '0'));
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

const CSS = `
:root{color-scheme:light dark;--bg:#f7f7f8;--fg:#1b1d21;--muted:#5b616e;--card:#fff;--line:#dcdfe4;--head:#eef0f3;--link:#0b5cad;
--error:#b42318;--error-bg:#fde8e7;--warning:#8a5300;--warning-bg:#fff1d6;--info:#175cd3;--info-bg:#e4eefc;
--ok:#146c2e;--ok-bg:#ddf4e4;--mono:ui-monospace,SFMono-Regular,Menlo,Consolas,"Liberation Mono",monospace}
@media (prefers-color-scheme:dark){:root{--bg:#15171a;--fg:#e6e8eb;--muted:#a0a6b1;--card:#1e2125;--line:#343840;
--head:#262a2f;--link:#79b8ff;--error:#ff8a80;--error-bg:#4a1f1c;--warning:#ffc46b;--warning-bg:#45330f;
--info:#8ab4ff;--info-bg:#1d2c4a;--ok:#7ee2a0;--ok-bg:#173a24}}
*{box-sizing:border-box}
.charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(320px,1fr));gap:14px}
.chart{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:10px 12px;margin:0}
.chart figcaption{font-weight:600;margin-bottom:6px}
.chart svg{display:block;width:100%;height:auto;font:12px system-ui,sans-serif}
.chart text{fill:var(--fg)}.chart .axis{stroke:var(--line)}.chart .muted{fill:var(--muted)}
.chart .c-ok{fill:var(--ok)}.chart .c-partial{fill:var(--warning)}.chart .c-failed{fill:var(--error)}
.chart .c-error{fill:var(--error)}.chart .c-warning{fill:var(--warning)}.chart .c-info{fill:var(--info)}
.chart .c-rule{fill:var(--link)}
.warn-banner{background:var(--error-bg);color:var(--error);border-radius:6px;padding:8px 12px;font-weight:600}
[hidden]{display:none!important}
body{margin:0;background:var(--bg);color:var(--fg);font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,
"Noto Sans","DejaVu Sans",sans-serif}
header,main{max-width:1280px;margin:0 auto;padding:0 24px}
header{padding-top:20px}
h1{font-size:22px;margin:0 0 4px}
h2{font-size:17px;margin:28px 0 10px}
h3{font-size:14px;margin:14px 0 6px}
a{color:var(--link)}
code,.mono{font-family:var(--mono);font-size:12.5px;overflow-wrap:anywhere}
.meta{color:var(--muted);margin:0 0 14px}
.totals{display:flex;flex-wrap:wrap;gap:10px;list-style:none;padding:0;margin:0}
.totals li{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:8px 14px;min-width:110px}
.totals .n{display:block;font-size:22px;font-weight:650}
.totals .l{color:var(--muted);font-size:12px;text-transform:uppercase;letter-spacing:.04em}
.totals .t-error .n{color:var(--error)}.totals .t-warning .n{color:var(--warning)}
.totals .t-info .n{color:var(--info)}.totals .t-failed .n{color:var(--error)}
.controls{display:flex;flex-wrap:wrap;gap:8px 16px;align-items:end;margin:0 0 10px}
.controls label{display:flex;flex-direction:column;font-size:12px;color:var(--muted);gap:2px}
.controls select,.controls input{font:inherit;color:var(--fg);background:var(--card);border:1px solid var(--line);
border-radius:6px;padding:4px 6px;min-width:150px}
.controls button,.more{font:inherit;color:var(--fg);background:var(--card);border:1px solid var(--line);
border-radius:6px;padding:4px 10px;cursor:pointer}
.status-line{color:var(--muted);margin:0 0 6px}
.table-wrap{overflow-x:auto;background:var(--card);border:1px solid var(--line);border-radius:8px}
table{border-collapse:collapse;width:100%}
th,td{text-align:left;padding:6px 10px;border-bottom:1px solid var(--line);vertical-align:top}
tbody tr:last-child td{border-bottom:0}
thead th{background:var(--head);position:sticky;top:0;font-size:12px;text-transform:uppercase;letter-spacing:.03em;
color:var(--muted);white-space:nowrap}
th button{all:unset;cursor:pointer;display:inline-flex;gap:4px;align-items:center}
th button:focus-visible{outline:2px solid var(--link);outline-offset:2px}
th button::after{content:"\\2195";opacity:.35;font-size:11px}
th[aria-sort=ascending] button::after{content:"\\25B2";opacity:1}
th[aria-sort=descending] button::after{content:"\\25BC";opacity:1}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
td.zero{color:var(--muted)}
.badge{display:inline-block;border-radius:999px;padding:0 8px;font-size:12px;font-weight:600;line-height:20px;
white-space:nowrap}
.sev-error,.status-failed,.status-partial{color:var(--error);background:var(--error-bg)}
.sev-warning{color:var(--warning);background:var(--warning-bg)}
.sev-info{color:var(--info);background:var(--info-bg)}
.status-ok{color:var(--ok);background:var(--ok-bg)}
.err{display:block;color:var(--error);font-size:12.5px;margin-top:2px;overflow-wrap:anywhere}
.evidence{display:block;color:var(--muted);margin-top:2px}
.remedy{background:var(--card);border:1px solid var(--line);border-left:4px solid var(--link);border-radius:6px;
padding:8px 12px;margin:0 0 10px}
details.image{background:var(--card);border:1px solid var(--line);border-radius:8px;margin:0 0 8px}
details.image>summary{cursor:pointer;padding:8px 12px;display:flex;flex-wrap:wrap;gap:6px 10px;align-items:center}
details.image>summary .name{font-family:var(--mono);font-weight:600;overflow-wrap:anywhere}
details.image[open]>summary{border-bottom:1px solid var(--line)}
details.image .body{padding:4px 14px 12px}
.facts{color:var(--muted);margin:6px 0}
ul.findings{list-style:none;padding:0;margin:0}
ul.findings li{padding:6px 0;border-bottom:1px dashed var(--line)}
ul.findings li:last-child{border-bottom:0}
dl.fix dt{font-family:var(--mono);font-weight:600;margin-top:6px}
dl.fix dd{margin:2px 0 0 16px}
.clean{color:var(--ok)}
code.rule,td.rule{color:var(--muted)}
td.rule,td.sev{white-space:nowrap}
td.path{min-width:12ch;overflow-wrap:anywhere}
td.image{min-width:18ch;overflow-wrap:anywhere}
details.image>summary .err{display:inline;margin:0}
.visually-hidden{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}
footer{max-width:1280px;margin:24px auto;padding:0 24px;color:var(--muted);font-size:12px}
`;

/**
 * The page script. It only ever writes text with textContent; the report comes from the JSON block.
 * Plain ES2017, no backticks or template placeholders (this is a TypeScript template literal).
 */
const SCRIPT = `
(function () {
  'use strict';
  var report = JSON.parse(document.getElementById('hostleak-report').textContent);
  /* image names are shown without the directory all of them share (the header names it) */
  var strip = Number(document.getElementById('findings-table').dataset.strip) || 0;
  var RANK = { error: 3, warning: 2, info: 1 };
  var INVISIBLE = /[\\u0000-\\u0008\\u000b-\\u001f\\u007f-\\u009f\\u200b-\\u200f\\u202a-\\u202e\\u2066-\\u2069\\ufeff]/g;
  function visible(s) {
    return String(s).replace(INVISIBLE, function (ch) { return '\\\\u' + ('000' + ch.charCodeAt(0).toString(16)).slice(-4); });
  }
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = visible(text);
    return e;
  }
  function byId(id) { return document.getElementById(id); }

  /* ---- the findings table: one row per finding, from the JSON data ---- */
  var rows = [];
  report.targets.forEach(function (t, ti) {
    t.findings.forEach(function (f) {
      rows.push({ i: rows.length, ti: ti, target: t.target, name: t.target.slice(strip), f: f });
    });
  });
  var LIMIT = 1000;
  var state = { key: 'severity', dir: -1, limit: LIMIT };
  var fSev = byId('filter-severity'), fRule = byId('filter-rule'), fImage = byId('filter-image'), fText = byId('filter-text');
  var tbody = byId('findings-body'), shown = byId('findings-shown'), more = byId('findings-more'), fix = byId('rule-fix');

  function fillSelect(select, values) {
    values.forEach(function (v) {
      var o = el('option', null, v[1]);
      o.value = v[0];
      select.appendChild(o);
    });
  }
  var ruleCounts = {}, imageCounts = {};
  rows.forEach(function (r) {
    ruleCounts[r.f.ruleId] = (ruleCounts[r.f.ruleId] || 0) + 1;
    imageCounts[r.ti] = (imageCounts[r.ti] || 0) + 1;
  });
  fillSelect(fRule, Object.keys(ruleCounts).sort().map(function (id) { return [id, id + ' (' + ruleCounts[id] + ')']; }));
  fillSelect(fImage, report.targets.map(function (t, ti) { return [String(ti), t.target.slice(strip) + ' (' + (imageCounts[ti] || 0) + ')']; })
    .filter(function (v) { return imageCounts[v[0]]; }));

  var KEYS = {
    severity: function (r) { return RANK[r.f.severity] || 0; },
    rule: function (r) { return r.f.ruleId; },
    image: function (r) { return r.target; },
    path: function (r) { return r.f.path; },
    message: function (r) { return r.f.message; }
  };
  function compare(a, b) {
    var ka = KEYS[state.key](a), kb = KEYS[state.key](b);
    var c = typeof ka === 'number' ? ka - kb : (ka < kb ? -1 : ka > kb ? 1 : 0);
    return c * state.dir || a.i - b.i;
  }
  function matches(r) {
    if (fSev.value && r.f.severity !== fSev.value) return false;
    if (fRule.value && r.f.ruleId !== fRule.value) return false;
    if (fImage.value && String(r.ti) !== fImage.value) return false;
    var q = fText.value.trim().toLowerCase();
    if (q && (r.f.path + '\\n' + r.f.message + '\\n' + (r.f.evidence || '')).toLowerCase().indexOf(q) < 0) return false;
    return true;
  }
  function renderFindings() {
    var list = rows.filter(matches).sort(compare);
    var frag = document.createDocumentFragment();
    list.slice(0, state.limit).forEach(function (r) {
      var tr = el('tr');
      tr.dataset.severity = r.f.severity;
      tr.dataset.rule = r.f.ruleId;
      tr.dataset.image = String(r.ti);
      var sev = el('td', 'sev');
      sev.appendChild(el('span', 'badge sev-' + r.f.severity, r.f.severity));
      tr.appendChild(sev);
      tr.appendChild(el('td', 'mono rule', r.f.ruleId));
      var img = el('td', 'mono image');
      var a = el('a', null, r.name);
      a.href = '#image-' + (r.ti + 1);
      a.title = visible(r.target);
      img.appendChild(a);
      tr.appendChild(img);
      tr.appendChild(el('td', 'mono path', r.f.path));
      var msg = el('td', 'message', r.f.message);
      if (r.f.evidence) msg.appendChild(el('span', 'evidence mono', 'evidence: ' + r.f.evidence));
      tr.appendChild(msg);
      frag.appendChild(tr);
    });
    tbody.textContent = '';
    tbody.appendChild(frag);
    var n = Math.min(list.length, state.limit);
    shown.textContent = 'Showing ' + n + ' of ' + list.length + ' matching findings (' + rows.length + ' in total)';
    more.hidden = list.length <= state.limit;
    more.textContent = 'Show all ' + list.length;
    var rule = fRule.value;
    fix.hidden = !rule;
    if (rule) {
      var first = rows.filter(function (r) { return r.f.ruleId === rule; })[0];
      fix.textContent = '';
      fix.appendChild(el('strong', null, 'How to fix ' + rule + ': '));
      fix.appendChild(el('span', null, first ? first.f.remediation : ''));
    }
  }
  [fSev, fRule, fImage].forEach(function (s) { s.addEventListener('change', function () { state.limit = LIMIT; renderFindings(); }); });
  fText.addEventListener('input', function () { state.limit = LIMIT; renderFindings(); });
  more.addEventListener('click', function () { state.limit = Infinity; renderFindings(); });

  function setSortHeaders(table, key, dir) {
    Array.prototype.forEach.call(table.querySelectorAll('th[data-key]'), function (th) {
      if (th.dataset.key === key) th.setAttribute('aria-sort', dir > 0 ? 'ascending' : 'descending');
      else th.removeAttribute('aria-sort');
    });
  }
  var findingsTable = byId('findings-table');
  Array.prototype.forEach.call(findingsTable.querySelectorAll('th[data-key] button'), function (b) {
    b.addEventListener('click', function () {
      var key = b.parentNode.dataset.key;
      state.dir = state.key === key ? -state.dir : (key === 'severity' ? -1 : 1);
      state.key = key;
      setSortHeaders(findingsTable, state.key, state.dir);
      renderFindings();
    });
  });
  setSortHeaders(findingsTable, state.key, state.dir);
  renderFindings();

  /* ---- the image summary: static rows, sorted and filtered in place ---- */
  var summary = byId('summary-table'), sbody = summary.tBodies[0];
  var sState = { key: null, dir: 1 };
  Array.prototype.forEach.call(summary.querySelectorAll('th[data-key] button'), function (b) {
    b.addEventListener('click', function () {
      var th = b.parentNode, col = Array.prototype.indexOf.call(th.parentNode.children, th);
      var numeric = th.dataset.type === 'number';
      sState.dir = sState.key === th.dataset.key ? -sState.dir : (numeric ? -1 : 1);
      sState.key = th.dataset.key;
      var trs = Array.prototype.slice.call(sbody.rows);
      trs.sort(function (x, y) {
        var a = x.cells[col].dataset.v, c;
        var bv = y.cells[col].dataset.v;
        if (numeric) c = Number(a) - Number(bv);
        else c = a < bv ? -1 : a > bv ? 1 : 0;
        return c * sState.dir || Number(x.dataset.index) - Number(y.dataset.index);
      });
      trs.forEach(function (tr) { sbody.appendChild(tr); });
      setSortHeaders(summary, sState.key, sState.dir);
    });
  });
  var sShow = byId('summary-show'), sFind = byId('summary-find'), sCount = byId('summary-shown');
  function showImage(kind, findings) {
    if (kind === 'findings') return findings > 0;
    if (kind === 'incomplete') return findings < 0;
    if (kind === 'clean') return findings === 0;
    return true;
  }
  function filterSummary() {
    var q = sFind.value.trim().toLowerCase(), n = 0;
    Array.prototype.forEach.call(sbody.rows, function (tr) {
      var ok = showImage(sShow.value, tr.dataset.status === 'ok' ? Number(tr.dataset.findings) : -1) &&
        (!q || tr.dataset.target.toLowerCase().indexOf(q) >= 0);
      tr.hidden = !ok;
      var d = byId('image-' + tr.dataset.index);
      if (d) d.hidden = !ok;
      if (ok) n++;
    });
    sCount.textContent = 'Showing ' + n + ' of ' + sbody.rows.length + ' images';
  }
  sShow.addEventListener('change', filterSummary);
  sFind.addEventListener('input', filterSummary);
  filterSummary();

  /* "n findings" in the summary filters the findings table to that image */
  Array.prototype.forEach.call(document.querySelectorAll('a[data-image-filter]'), function (a) {
    a.addEventListener('click', function () {
      fImage.value = a.dataset.imageFilter;
      fSev.value = '';
      fRule.value = '';
      fText.value = '';
      state.limit = LIMIT;
      renderFindings();
    });
  });

  /* open an image's details when it is linked to */
  function openFromHash() {
    var m = /^#image-\\d+$/.test(location.hash) && byId(location.hash.slice(1));
    if (m && m.tagName === 'DETAILS') { m.hidden = false; m.open = true; }
  }
  window.addEventListener('hashchange', openFromHash);
  openFromHash();
  byId('expand-all').addEventListener('click', function () {
    Array.prototype.forEach.call(document.querySelectorAll('details.image'), function (d) { d.open = true; });
  });
  byId('collapse-all').addEventListener('click', function () {
    Array.prototype.forEach.call(document.querySelectorAll('details.image'), function (d) { d.open = false; });
  });
  document.documentElement.classList.add('js');
})();
`;

function sha256(s: string): string {
  return createHash('sha256').update(s, 'utf8').digest('base64');
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
      `<code>${escapeHtml(f.device)}</code> ${escapeHtml(f.type)}` +
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
