/* dii-hpc report: the experiment page.  Its runs come in pages (data/<exp>/runs-<k>.js, oldest
   run first) and each run's curves in hist-<k>.js (dii_hpc/report/data.py); the page loads the
   newest page first, the rest in the background, and a page as soon as its rows scroll into
   view.  Only the rows on screen are in the DOM (a virtual table); sort and filter run over
   every run.  No network: files load as scripts (file:// allows them, not a fetch). */
(function () {
  "use strict";
  var R, F, D, C = {};
  var RH = 26, SPARE = 12;
  var rows = [], texts = [], pageState = [], view = [], picked = {};
  var sort = null, filter = null, allLoaded = null, byId = {};
  var tbody, box, shown, ncols = 1;

  /* ------------------------------------------------------------------ data */
  function pageOf(i) { return Math.floor(i / D.page_rows); }
  function loadPage(k) {
    if (pageState[k] === 2) return Promise.resolve();
    pageState[k] = 1;
    return R.loadData(D.folder + "/runs-" + k + ".js", "runs-" + k).then(function (got) {
      var base = k * D.page_rows;
      got.forEach(function (r, j) { rows[base + j] = r; byId[r[C.id]] = base + j; });
      pageState[k] = 2;
    });
  }
  function loadAll() {
    if (!allLoaded) {
      allLoaded = Promise.all(D.pages.map(function (_, k) { return loadPage(k); })).then(function () {
        document.dispatchEvent(new CustomEvent("dii:runs-loaded"));
        document.body.dataset.loaded = "1";  // every page of runs in (tests, benchmarks)
      });
    }
    return allLoaded;
  }
  function decodeValues(q) {
    var lo = q[0], hi = q[1], s = atob(q[2]), out = new Array(s.length / 2);
    for (var j = 0; j < out.length; j++) {
      var v = s.charCodeAt(2 * j) | (s.charCodeAt(2 * j + 1) << 8);
      out[j] = v === 65535 ? null : lo + (hi - lo) * v / 65534;
    }
    return out;
  }
  function decodeCurve(c) {
    var ys = decodeValues(c[2]), xs = c[1] === null ? c[0] : ys.map(function (_, j) { return c[0] + j * c[1]; });
    return [xs, ys];
  }
  // {metric: [xs, ys]} of run i; full: the whole series when the run has a full-series file
  function curvesOf(i, full) {
    var k = pageOf(i), slot = i % D.page_rows;
    return R.loadData(D.folder + "/hist-" + k + ".js", "hist-" + k).then(function (h) {
      var id = rows[i] ? rows[i][C.id] : null;
      if (full && id && h.f.indexOf(slot) >= 0) {
        return R.loadData(D.folder + "/full/" + id + ".js", "full/" + id).then(decodeAll);
      }
      return decodeAll(h.c[slot] || {});
    });
  }
  function decodeAll(c) { var out = {}; Object.keys(c).forEach(function (k) { out[k] = decodeCurve(c[k]); }); return out; }

  /* ------------------------------------------------------------------ cells */
  function value(r, col) {
    if (col === "name") return r[C.name] || r[C.id];
    if (col === "tags") return tagText(r[C.tags]);
    if (col.indexOf("tags.") === 0) return (r[C.tags] || {})[col.slice(5)];
    return r[C[col]];
  }
  function tagText(t) { return t ? Object.keys(t).map(function (k) { return k + "=" + t[k]; }).join(" ") : ""; }
  function isArchived(r) { return (r[C.flags] & 1) === 1; }
  function hasPage(r) { return (r[C.flags] & 2) === 2 && /^[A-Za-z0-9_][A-Za-z0-9_.\-]{0,100}$/.test(r[C.id]); }
  function href(r) { return hasPage(r) ? "../runs/" + r[C.id] + ".html" : "#run=" + encodeURIComponent(r[C.id]); }
  function textOf(i) {
    if (texts[i] === undefined) {
      var r = rows[i];
      texts[i] = [r[C.id], r[C.name], r[C.kind], r[C.status], fmtTime(r[C.start]), r[C.resources], r[C.note], tagText(r[C.tags]),
        isArchived(r) ? "archived" : ""].concat(r.slice(C.flags + 1).map(function (v) { return v === null ? "" : fmtCell(v); }))
        .join(" ").toLowerCase();
    }
    return texts[i];
  }
  function pad(n) { return n < 10 ? "0" + n : String(n); }
  function fmtTime(t) {
    if (typeof t !== "number") return "";
    var d = new Date(t * 1000);
    return d.getUTCFullYear() + "-" + pad(d.getUTCMonth() + 1) + "-" + pad(d.getUTCDate()) + " " +
      pad(d.getUTCHours()) + ":" + pad(d.getUTCMinutes()) + ":" + pad(d.getUTCSeconds()) + " UTC";
  }
  function fmtDuration(s) {
    if (typeof s !== "number") return "";
    if (s < 60) return s.toFixed(1) + " s";
    var m = Math.floor(s / 60), h = Math.floor(m / 60);
    return h ? h + "h " + pad(m % 60) + "m" : m + "m " + pad(Math.floor(s) % 60) + "s";
  }
  function fmtCell(v) { return typeof v === "number" ? String(+v.toPrecision(6)) : String(v); }
  function fmtMetric(v) { return typeof v === "number" ? String(+v.toPrecision(4)) : (v === null ? "" : String(v)); }

  /* ------------------------------------------------------------------ view: filter + sort */
  function resolve(name) {
    var alias = { run: "name", started: "start" }[name] || name;
    if (alias === "name" || alias === "tags" || alias.indexOf("tags.") === 0 || C[alias] !== undefined) {
      return function (i) { return value(rows[i], alias); };
    }
    var tiers = [["params.", "metrics."], ["best."]];
    for (var t = 0; t < tiers.length; t++) {
      var hits = D.columns.filter(function (c) { return tiers[t].some(function (p) { return c === p + name; }); });
      if (hits.length === 1) return resolve(hits[0]);
      if (hits.length > 1) throw new Error("column " + name + " is ambiguous: " + hits.join(", "));
    }
    throw new Error("unknown column " + name);
  }
  function defaultOrder() {
    var out = [], hide = {};
    if (!R.showArchived()) D.archived.forEach(function (i) { hide[i] = 1; });
    for (var i = D.total - 1; i >= 0; i--) if (!hide[i]) out.push(i);
    return out;
  }
  function sortKey(v) {
    if (v === null || v === undefined || v === "") return null;
    return typeof v === "number" ? [0, v] : typeof v === "boolean" ? [1, +v] : [2, String(v).toLowerCase()];
  }
  function applyView() {
    var input = document.getElementById("filter"), err = document.getElementById("filter-error");
    filter = F.compile(input.value, resolve);
    err.hidden = !filter.error;
    err.textContent = filter.error || "";
    if (!filter.test && !sort) { view = defaultOrder(); return finish(); }
    shown.textContent = "loading all " + D.total + " runs\u2026";
    return loadAll().then(function () {
      var order = defaultOrder();
      if (filter.test) order = order.filter(function (i) { return filter.test(i, textOf); });
      if (sort) {
        var get = resolve(sort.col), keys = [];
        order.forEach(function (i) { keys[i] = sortKey(get(i)); });
        order = order.map(function (i, p) { return [i, p]; }).sort(function (a, b) {
          var x = keys[a[0]], y = keys[b[0]];
          if (x === null || y === null) return x === y ? a[1] - b[1] : (x === null ? 1 : -1);
          if (x[0] !== y[0]) return x[0] - y[0];
          if (x[1] !== y[1]) return (x[1] < y[1] ? -1 : 1) * sort.dir;
          return a[1] - b[1];
        }).map(function (x) { return x[0]; });
      }
      view = order;
      finish();
    });
  }
  function finish() {
    var hidden = R.showArchived() ? 0 : D.archived.length;
    shown.textContent = view.length + " of " + D.total + " runs shown" + (hidden ? " (" + hidden + " archived hidden)" : "");
    box.scrollTop = 0;
    draw();
    tbody.dataset.view = (+tbody.dataset.view || 0) + 1;  // views shown so far (tests wait on it)
  }

  /* ------------------------------------------------------------------ the virtual table */
  var queued = false;
  function draw() {
    queued = false;
    var top = Math.max(0, box.scrollTop - headHeight()), first = Math.max(0, Math.floor(top / RH) - SPARE);
    var last = Math.min(view.length, Math.ceil((top + box.clientHeight) / RH) + SPARE);
    var frag = document.createDocumentFragment(), wanted = {};
    frag.appendChild(spacer(first * RH));
    for (var p = first; p < last; p++) {
      var i = view[p];
      if (rows[i]) frag.appendChild(rowEl(i));
      else { frag.appendChild(placeholder(i)); wanted[pageOf(i)] = 1; }
    }
    frag.appendChild(spacer((view.length - last) * RH));
    tbody.textContent = "";
    tbody.appendChild(frag);
    Object.keys(wanted).forEach(function (k) { loadPage(+k).then(redraw); });
  }
  function redraw() { if (!queued) { queued = true; requestAnimationFrame(draw); } }
  function headHeight() { var h = document.querySelector("#runs thead"); return h ? h.offsetHeight : 0; }
  function spacer(h) {
    var tr = document.createElement("tr"), cell = document.createElement("td");
    tr.className = "spacer";
    cell.colSpan = ncols;
    cell.style.height = h + "px";
    tr.appendChild(cell);
    return tr;
  }
  // fixed column widths (from the header and the first rows) so that scrolling never re-flows
  function sizeColumns() {
    var heads = document.querySelectorAll("#runs thead th"), sampleRows = [];
    for (var i = D.total - 1; i >= 0 && sampleRows.length < 300; i--) if (rows[i]) sampleRows.push(rowEl(i));
    var group = document.createElement("colgroup");
    Array.prototype.forEach.call(heads, function (th, j) {
      var chars = th.textContent.length + 2;
      sampleRows.forEach(function (tr) { var c = tr.cells[j]; if (c) chars = Math.max(chars, c.textContent.length + 1); });
      var col = document.createElement("col");
      col.style.width = j === 0 ? "3.5em" : "calc(" + Math.min(chars, 36) + "ch + 1.4em)";
      group.appendChild(col);
    });
    var table = document.getElementById("runs"), old = table.querySelector("colgroup");
    if (old) old.remove();
    table.insertBefore(group, table.firstChild);
    var first = tbody.querySelector("tr:not(.spacer)");
    if (first && first.offsetHeight) RH = first.offsetHeight;
  }
  function placeholder(i) {
    var tr = document.createElement("tr"), td = document.createElement("td");
    tr.className = "loading";
    td.colSpan = ncols;
    td.textContent = "loading run " + (D.total - i) + "\u2026";
    tr.appendChild(td);
    return tr;
  }
  function td(tr, text, cls) {
    var c = document.createElement("td");
    if (cls) c.className = cls;
    c.textContent = text === null || text === undefined ? "" : text;
    tr.appendChild(c);
    return c;
  }
  function rowEl(i) {
    var r = rows[i], id = r[C.id], tr = document.createElement("tr");
    tr.dataset.id = id;
    tr.dataset.i = i;
    if (id === D.best) tr.classList.add("best");
    if (isArchived(r)) tr.classList.add("archived");
    var pick = document.createElement("input");
    pick.type = "checkbox";
    pick.className = "pick";
    pick.value = id;
    pick.checked = picked[id] !== undefined;
    pick.setAttribute("aria-label", "show run in chart");
    td(tr).appendChild(pick);
    var name = td(tr), a = document.createElement("a");
    a.href = href(r);
    a.textContent = r[C.name] || id;
    name.appendChild(a);
    if (id === D.best) { var star = document.createElement("span"); star.className = "star"; star.textContent = " \u2605"; name.appendChild(star); }
    td(tr, r[C.kind]);
    var st = document.createElement("span"), s = r[C.status] || "UNKNOWN";
    st.className = "status st-" + s.toLowerCase();
    st.textContent = s;
    td(tr).appendChild(st);
    td(tr, fmtTime(r[C.start]), "t");
    td(tr, fmtDuration(r[C.duration]), "n");
    D.params.forEach(function (k) { td(tr, fmtParam(r[C["params." + k]])); });
    D.metrics.forEach(function (k) { td(tr, fmtMetric(r[C["metrics." + k]]), "n"); td(tr, fmtMetric(r[C["best." + k]]), "n"); });
    td(tr, r[C.resources], "res");
    var note = td(tr, (r[C.note] || "").slice(0, 60), "note");
    if (r[C.note]) note.title = r[C.note];
    var tags = td(tr);
    Object.keys(r[C.tags] || {}).forEach(function (k) {
      var t = document.createElement("span"); t.className = "tag"; t.textContent = k + "=" + r[C.tags][k]; tags.appendChild(t);
    });
    if (isArchived(r)) { var ar = document.createElement("span"); ar.className = "tag archived-tag"; ar.textContent = "archived"; tags.appendChild(ar); }
    return tr;
  }
  function fmtParam(v) { return v === null || v === undefined ? "" : typeof v === "number" && !Number.isInteger(v) ? String(+v.toPrecision(6)) : String(v); }

  /* ------------------------------------------------------------------ selection and curves */
  var metricSel;
  function pick(i, on) {
    var id = rows[i][C.id];
    if (on) picked[id] = i; else delete picked[id];
    drawCurves();
  }
  function drawCurves() {
    var box2 = document.getElementById("curves"), key = metricSel.value, full = document.getElementById("curve-full").checked;
    var ids = Object.keys(picked);
    document.getElementById("curve-note").textContent = ids.length + " run(s) selected; tick boxes in the table to add runs";
    Promise.all(ids.map(function (id) { return curvesOf(picked[id], full).then(function (c) { return { id: id, c: c[key], all: c }; }); }))
      .then(function (series) {
        addKeys(series);
        series = series.filter(function (s) { return s.c; });
        var xs = [], ys = [];
        series.forEach(function (s) { s.c[0].forEach(function (x, j) { if (s.c[1][j] !== null) { xs.push(x); ys.push(s.c[1][j]); } }); });
        if (!xs.length) { box2.textContent = "no curve for the selected runs"; return; }
        var f = R.frame(box2, xs, ys, "step", key), legend = document.createElement("div");
        legend.className = "legend";
        series.forEach(function (s, n) {
          var r = rows[picked[s.id]], label = (r[C.name] || s.id) + (s.id === D.best ? " \u2605" : "");
          var path = R.el("path", { "class": "line s" + (n % 10) + (s.id === D.best ? " bestline" : ""), d: pathOf(f, s.c) });
          path.appendChild(R.el("title", {}, label));
          f.svg.appendChild(path);
          var k = document.createElement("span");
          k.className = "key s" + (n % 10);
          k.textContent = label;
          legend.appendChild(k);
        });
        box2.appendChild(legend);
      });
  }
  function pathOf(f, c) {
    var d = "", pen = "M";
    c[0].forEach(function (x, j) {
      var y = c[1][j];
      if (y === null || !isFinite(y)) { pen = "M"; return; }
      d += pen + f.x(x).toFixed(1) + " " + f.y(y).toFixed(1); pen = "L";
    });
    return d;
  }
  function addKeys(series) {
    var have = {};
    Array.prototype.forEach.call(metricSel.options, function (o) { have[o.value] = 1; });
    series.forEach(function (s) { Object.keys(s.all || {}).forEach(function (k) { if (!have[k]) R.fillSelect(metricSel, [k]); }); });
  }
  function initialPicks() {
    var newest = D.pages.length - 1, want = D.best_at !== null && D.best_at !== undefined ? [D.best_at] : [];
    var hide = {};
    D.archived.forEach(function (i) { hide[i] = 1; });
    for (var i = D.total - 1; i >= Math.max(0, newest * D.page_rows) && want.length < 5; i--) if (!hide[i] && want.indexOf(i) < 0) want.push(i);
    return Promise.all(want.map(function (i) { return loadPage(pageOf(i)); })).then(function () {
      want.forEach(function (i) { if (rows[i]) picked[rows[i][C.id]] = i; });
    });
  }

  /* ------------------------------------------------------------------ one run, in the page */
  function showRun(id) {
    var panel = document.getElementById("run-panel");
    loadAll().then(function () {
      var i = byId[id];
      if (i === undefined) { panel.hidden = false; panel.textContent = "no run " + id + " in this experiment"; return; }
      var r = rows[i];
      panel.textContent = "";
      panel.hidden = false;
      var h = document.createElement("h2");
      h.textContent = "Run " + (r[C.name] || id) + " ";
      var st = document.createElement("span");
      st.className = "status st-" + (r[C.status] || "unknown").toLowerCase();
      st.textContent = r[C.status];
      h.appendChild(st);
      panel.appendChild(h);
      var p = document.createElement("p");
      p.className = "muted";
      p.textContent = id + " \u00b7 " + r[C.kind] + " \u00b7 started " + fmtTime(r[C.start]) + " \u00b7 " + fmtDuration(r[C.duration]);
      panel.appendChild(p);
      if (hasPage(r)) { var a = document.createElement("a"); a.href = href(r); a.textContent = "open its page"; panel.appendChild(a); }
      panel.appendChild(kvTable(D.params.map(function (k) { return [k, fmtParam(r[C["params." + k]])]; }), "params"));
      panel.appendChild(kvTable(D.metrics.map(function (k) { return [k, fmtMetric(r[C["metrics." + k]]) + " (best " + fmtMetric(r[C["best." + k]]) + ")"]; }), "metrics"));
      var charts = document.createElement("div");
      charts.className = "charts run-charts";
      panel.appendChild(charts);
      curvesOf(i, true).then(function (c) {
        Object.keys(c).sort().forEach(function (k) {
          var fig = document.createElement("figure"), cap = document.createElement("figcaption"), b = document.createElement("div");
          fig.className = "panel";
          cap.textContent = k;
          fig.appendChild(cap);
          fig.appendChild(b);
          charts.appendChild(fig);
          var xs = [], ys = [];
          c[k][0].forEach(function (x, j) { if (c[k][1][j] !== null) { xs.push(x); ys.push(c[k][1][j]); } });
          if (!xs.length) { b.textContent = "no finite values"; return; }
          var f = R.frame(b, xs, ys, "step", k);
          f.svg.appendChild(R.el("path", { "class": "line s0", d: pathOf(f, c[k]) }));
        });
      });
      var row = document.querySelector('#runs tr[data-id="' + CSS.escape(id) + '"]');
      if (row) row.classList.add("shown");
      panel.scrollIntoView({ block: "start" });
    });
  }
  function kvTable(pairs, caption) {
    var t = document.createElement("table"), cap = document.createElement("caption");
    t.className = "kv";
    cap.textContent = caption;
    t.appendChild(cap);
    pairs.forEach(function (kv) {
      var tr = t.insertRow(), th = document.createElement("th");
      th.textContent = kv[0];
      tr.appendChild(th);
      tr.insertCell().textContent = kv[1];
    });
    return t;
  }
  function onHash() {
    var m = /^#run=(.+)$/.exec(location.hash);
    if (m) showRun(decodeURIComponent(m[1]));
  }

  /* ------------------------------------------------------------------ start */
  function wire() {
    Array.prototype.forEach.call(document.querySelectorAll("#runs thead th[data-col]"), function (th) {
      th.classList.add("sorter");
      th.tabIndex = 0;
      var go = function () {
        var dir = sort && sort.col === th.dataset.col && sort.dir === 1 ? -1 : 1;
        sort = { col: th.dataset.col, dir: dir };
        Array.prototype.forEach.call(th.parentNode.cells, function (c) { c.removeAttribute("aria-sort"); });
        th.setAttribute("aria-sort", dir === 1 ? "ascending" : "descending");
        applyView();
      };
      th.addEventListener("click", go);
      th.addEventListener("keydown", function (e) { if (e.key === "Enter") go(); });
    });
    var input = document.getElementById("filter"), timer = null;
    input.addEventListener("input", function () { clearTimeout(timer); timer = setTimeout(applyView, 120); });
    var arch = document.getElementById("show-archived");
    if (arch) arch.addEventListener("change", function () { applyView(); document.dispatchEvent(new CustomEvent("dii:archived")); });
    box.addEventListener("scroll", redraw);
    window.addEventListener("resize", redraw);
    tbody.addEventListener("change", function (e) {
      if (e.target.classList.contains("pick")) pick(+e.target.closest("tr").dataset.i, e.target.checked);
    });
    document.getElementById("select-none").addEventListener("click", function () {
      picked = {};
      Array.prototype.forEach.call(tbody.querySelectorAll("input.pick"), function (p) { p.checked = false; });
      drawCurves();
    });
    metricSel.addEventListener("change", drawCurves);
    document.getElementById("curve-full").addEventListener("change", drawCurves);
    window.addEventListener("hashchange", onHash);
  }

  document.addEventListener("DOMContentLoaded", function () {
    var blob = document.getElementById("experiment-data");
    R = window.diiReport;
    F = window.diiFilter;
    if (!blob || !R || !F) return;
    D = JSON.parse(blob.textContent);
    D.columns.forEach(function (c, j) { C[c] = j; });
    tbody = document.querySelector("#runs tbody");
    box = document.getElementById("runs-box");
    shown = document.getElementById("shown");
    metricSel = document.getElementById("curve-metric");
    R.fillSelect(metricSel, D.metrics, D.primary);
    window.diiExperiment = { data: D, rows: rows, value: value, href: href, isArchived: isArchived,
      loadAll: loadAll, fmtCell: fmtCell, columns: C };
    wire();
    view = defaultOrder();
    finish();
    ncols = document.querySelectorAll("#runs thead th").length;
    loadPage(D.pages.length - 1).then(function () {
      draw();
      sizeColumns();
      draw();
      return initialPicks();
    }).then(function () {
      draw();
      drawCurves();
      document.body.dataset.ready = "1";  // first rows drawn (benchmarks/bench_site_scale.py)
      onHash();
      setTimeout(loadAll, 50);
    });
  });
})();
