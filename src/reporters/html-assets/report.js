(function () {
  'use strict';
  var report = JSON.parse(document.getElementById('hostleak-report').textContent);
  /* image names are shown without the directory all of them share (the header names it) */
  var strip = Number(document.getElementById('findings-table').dataset.strip) || 0;
  var RANK = { error: 3, warning: 2, info: 1 };
  /* src/escape.ts's visible(), which every reporter uses (test/reporters/html.test.ts checks they agree) */
  var INVISIBLE = /[\u0000-\u001f\u007f-\u009f\u200b-\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ufeff]/g;
  var NAMED = { '\n': '\\n', '\r': '\\r', '\t': '\\t', '\u001b': '\\e' };
  function visible(s) {
    return String(s).replace(INVISIBLE, function (ch) {
      var c = ch.charCodeAt(0);
      return NAMED[ch] || (c < 0x100 ? '\\x' + ('0' + c.toString(16)).slice(-2) : '\\u' + ('000' + c.toString(16)).slice(-4));
    });
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
    if (q && (r.f.path + '\n' + r.f.message + '\n' + (r.f.evidence || '')).toLowerCase().indexOf(q) < 0) return false;
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
    var m = /^#image-\d+$/.test(location.hash) && byId(location.hash.slice(1));
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
