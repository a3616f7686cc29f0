/* dii-hpc report: sortable/filterable tables and the experiment page charts.
   Vanilla JS, no network; every user string goes through textContent, never innerHTML. */
(function () {
  "use strict";
  var SVGNS = "http://www.w3.org/2000/svg"; // a namespace name, not a URL that is fetched

  function num(s) {
    if (s === undefined || s === null || s === "") return NaN;
    var v = parseFloat(s);
    return isFinite(v) ? v : NaN;
  }
  function cellKey(td) {
    if (!td) return { n: NaN, t: "" };
    var text = td.textContent.trim(), v = td.getAttribute("data-v");
    if (v === null) v = text;  // plain cells: their text is the value (strict: "2026-11-26" is no number)
    return { n: v === "" ? NaN : Number(v), t: text.toLowerCase() };
  }

  /* ---------------------------------------------------------------- sorting */
  function sortTable(table, col, th) {
    var tbody = table.tBodies[0];
    if (!tbody) return;
    var dir = th.getAttribute("aria-sort") === "ascending" ? -1 : 1;
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (c) { c.removeAttribute("aria-sort"); });
    th.setAttribute("aria-sort", dir === 1 ? "ascending" : "descending");
    var rows = Array.prototype.slice.call(tbody.rows);
    var keyed = rows.map(function (r, i) { return { r: r, k: cellKey(r.cells[col]), i: i }; });
    keyed.sort(function (a, b) {
      var an = a.k.n, bn = b.k.n;
      if (!isNaN(an) || !isNaN(bn)) {
        if (isNaN(an)) return 1;          // blanks last whatever the direction
        if (isNaN(bn)) return -1;
        if (an !== bn) return (an - bn) * dir;
      } else if (a.k.t !== b.k.t) {
        if (!a.k.t) return 1;
        if (!b.k.t) return -1;
        return a.k.t < b.k.t ? -dir : dir;
      }
      return a.i - b.i;
    });
    var frag = document.createDocumentFragment();
    keyed.forEach(function (x) { frag.appendChild(x.r); });
    tbody.appendChild(frag);
  }
  function makeSortable(table) {
    if (!table.tHead) return;
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, col) {
      if (th.classList.contains("nosort")) return;
      th.classList.add("sorter");
      th.tabIndex = 0;
      th.title = "sort";
      th.addEventListener("click", function () { sortTable(table, col, th); });
      th.addEventListener("keydown", function (e) { if (e.key === "Enter") sortTable(table, col, th); });
    });
  }

  /* ---------------------------------------------------------------- filtering */
  function parseFilter(text) {
    return text.trim().toLowerCase().split(/\s+/).filter(Boolean).map(function (tok) {
      var m = /^([^=<>!]+)(!=|>=|<=|=|>|<)(.*)$/.exec(tok);
      return m ? { key: m[1], op: m[2], val: m[3] } : { text: tok };
    });
  }
  function test(op, cell, val) {
    var a = cell.n, b = num(val);
    if (op === "=" ) return !isNaN(b) && !isNaN(a) ? a === b : cell.t === val || cell.t.indexOf(val) >= 0;
    if (op === "!=") return !isNaN(b) && !isNaN(a) ? a !== b : cell.t.indexOf(val) < 0;
    if (isNaN(a) || isNaN(b)) return false;
    return op === ">" ? a > b : op === "<" ? a < b : op === ">=" ? a >= b : a <= b;
  }
  function applyFilter(table, input, shown) {
    var heads = Array.prototype.map.call(table.tHead.rows[0].cells, function (c) { return c.textContent.trim().toLowerCase(); });
    var terms = parseFilter(input.value), total = 0, visible = 0, archived = 0;
    Array.prototype.forEach.call(table.tBodies[0].rows, function (row) {
      total++;
      var text = row.textContent.toLowerCase();
      var ok = terms.every(function (t) {
        if (t.text !== undefined) return text.indexOf(t.text) >= 0;
        var col = heads.indexOf(t.key);
        return col >= 0 && test(t.op, cellKey(row.cells[col]), t.val);
      });
      if (ok && row.classList.contains("archived") && !showArchived()) { ok = false; archived++; }
      row.hidden = !ok;
      if (ok) visible++;
    });
    if (shown) shown.textContent = visible + " of " + total + " runs shown" + (archived ? " (" + archived + " archived hidden)" : "");
  }

  function showArchived() {
    var box = document.getElementById("show-archived");
    return !!(box && box.checked);
  }

  /* ---------------------------------------------------------------- charts */
  function el(tag, attrs, text) {
    var e = document.createElementNS(SVGNS, tag);
    Object.keys(attrs || {}).forEach(function (k) { e.setAttribute(k, attrs[k]); });
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function ticks(lo, hi, target) {
    if (!(isFinite(lo) && isFinite(hi)) || hi <= lo) return [lo];
    var raw = (hi - lo) / target, mag = Math.pow(10, Math.floor(Math.log10(raw)));
    var step = [1, 2, 2.5, 5, 10].map(function (m) { return m * mag; }).filter(function (s) { return s >= raw; })[0];
    var out = [];
    for (var t = Math.ceil(lo / step - 1e-9) * step; t <= hi + step * 1e-9 && out.length < 50; t += step) out.push(Math.abs(t) < step * 1e-9 ? 0 : t);
    return out;
  }
  function fmt(v) { return Math.abs(v) >= 1e5 || (v !== 0 && Math.abs(v) < 1e-3) ? v.toExponential(2) : String(+v.toPrecision(4)); }
  function bounds(vals, pad) {
    var lo = Math.min.apply(null, vals), hi = Math.max.apply(null, vals);
    if (hi === lo) { lo -= Math.abs(lo) * 0.1 || 1; hi += Math.abs(hi) * 0.1 || 1; }
    return [lo - (hi - lo) * pad, hi + (hi - lo) * pad];
  }
  function frame(box, xs, ys, xlabel, ylabel, xcats, xpad) {
    var W = 560, H = 260, L = 56, R = 12, T = 10, B = 34;
    var xr = bounds(xs, xcats ? 0.08 : (xpad || 0)), yr = bounds(ys, 0.05);
    var svg = el("svg", { "class": "chart", viewBox: "0 0 " + W + " " + H, width: W, height: H, role: "img" });
    var f = {
      svg: svg,
      x: function (v) { return L + (v - xr[0]) / (xr[1] - xr[0]) * (W - L - R); },
      y: function (v) { return H - B - (v - yr[0]) / (yr[1] - yr[0]) * (H - T - B); }
    };
    svg.appendChild(el("rect", { "class": "plot", x: L, y: T, width: W - L - R, height: H - T - B }));
    ticks(yr[0], yr[1], 5).forEach(function (t) {
      svg.appendChild(el("line", { "class": "grid", x1: L, x2: W - R, y1: f.y(t), y2: f.y(t) }));
      svg.appendChild(el("text", { "class": "tick", x: L - 4, y: f.y(t) + 3, "text-anchor": "end" }, fmt(t)));
    });
    var xt = xcats ? xcats.map(function (_, i) { return i; }) : ticks(xr[0], xr[1], 5);
    xt.forEach(function (t) {
      svg.appendChild(el("line", { "class": "grid", y1: T, y2: H - B, x1: f.x(t), x2: f.x(t) }));
      svg.appendChild(el("text", { "class": "tick", x: f.x(t), y: H - B + 13, "text-anchor": "middle" },
        xcats ? String(xcats[t]).slice(0, 12) : fmt(t)));
    });
    svg.appendChild(el("text", { "class": "label", x: (W + L) / 2, y: H - 4, "text-anchor": "middle" }, xlabel));
    svg.appendChild(el("text", { "class": "label", transform: "translate(12 " + (H - B) / 2 + ") rotate(-90)", "text-anchor": "middle" }, ylabel));
    box.textContent = "";
    box.appendChild(svg);
    return f;
  }

  function experimentPage(data) {
    var table = document.getElementById("runs");
    var byId = {};
    data.runs.forEach(function (r, i) { byId[r.id] = r; r.i = i; });
    var picks = Array.prototype.slice.call(table.querySelectorAll("input.pick"));
    var metricSel = document.getElementById("curve-metric");
    var keys = {};
    Object.keys(data.curves).forEach(function (id) { Object.keys(data.curves[id]).forEach(function (k) { keys[k] = 1; }); });
    var curveKeys = Object.keys(keys).sort();
    fillSelect(metricSel, curveKeys, data.primary);
    var initial = data.best ? [data.best] : [];
    data.runs.forEach(function (r) { if (initial.length < 5 && !r.a && initial.indexOf(r.id) < 0 && data.curves[r.id] && Object.keys(data.curves[r.id]).length) initial.push(r.id); });
    picks.forEach(function (p) { p.checked = initial.indexOf(p.value) >= 0; p.addEventListener("change", drawCurves); });
    metricSel.addEventListener("change", drawCurves);
    document.getElementById("select-none").addEventListener("click", function () { picks.forEach(function (p) { p.checked = false; }); drawCurves(); });

    function drawCurves() {
      var box = document.getElementById("curves"), key = metricSel.value;
      var chosen = picks.filter(function (p) { return p.checked; }).map(function (p) { return p.value; });
      var series = chosen.map(function (id) { return { id: id, c: (data.curves[id] || {})[key] }; }).filter(function (s) { return s.c; });
      document.getElementById("curve-note").textContent = chosen.length + " run(s) selected; tick boxes in the table to add runs";
      var xs = [], ys = [];
      series.forEach(function (s) { s.c[0].forEach(function (x, j) { var y = s.c[1][j]; if (y !== null && isFinite(y)) { xs.push(x); ys.push(y); } }); });
      if (!xs.length) { box.textContent = "no curve for the selected runs"; return; }
      var f = frame(box, xs, ys, "step", key);
      var legend = document.createElement("div");
      legend.className = "legend";
      series.forEach(function (s, n) {
        var d = "", pen = "M";
        s.c[0].forEach(function (x, j) {
          var y = s.c[1][j];
          if (y === null || !isFinite(y)) { pen = "M"; return; }
          d += pen + f.x(x).toFixed(1) + " " + f.y(y).toFixed(1); pen = "L";
        });
        var cls = "line s" + (n % 10) + (s.id === data.best ? " bestline" : "");
        var path = el("path", { "class": cls, d: d });
        path.appendChild(el("title", {}, (byId[s.id] || {}).n || s.id));
        f.svg.appendChild(path);
        var key = document.createElement("span");
        key.className = "key s" + (n % 10);
        key.textContent = ((byId[s.id] || {}).n || s.id) + (s.id === data.best ? " \u2605" : "");
        legend.appendChild(key);
      });
      box.appendChild(legend);
    }

    var pSel = document.getElementById("scatter-param"), mSel = document.getElementById("scatter-metric");
    fillSelect(pSel, data.params, data.scatter || data.params[0]);
    fillSelect(mSel, data.metrics, data.primary);
    pSel.addEventListener("change", drawScatter);
    mSel.addEventListener("change", drawScatter);
    function drawScatter() {
      var box = document.getElementById("scatter"), p = pSel.value, m = mSel.value;
      var pts = data.runs.filter(function (r) { return (!r.a || showArchived()) && r.p[p] !== undefined && r.p[p] !== null && r.m[m] !== null && r.m[m] !== undefined; });
      if (!p || !m || !pts.length) { box.textContent = "no run has both a value of this param and of this metric"; return; }
      var numeric = pts.every(function (r) { return typeof r.p[p] === "number"; });
      var cats = null;
      if (!numeric) {
        cats = [];
        pts.forEach(function (r) { var c = String(r.p[p]); if (cats.indexOf(c) < 0) cats.push(c); });
        cats.sort();
      }
      // categories: spread points sideways (deterministic jitter) so equal values stay visible
      var xv = function (r) {
        return numeric ? r.p[p] : cats.indexOf(String(r.p[p])) + ((r.i * 0.618034) % 1 - 0.5) * 0.35;
      };
      var f = frame(box, pts.map(xv), pts.map(function (r) { return r.m[m]; }), p, m, cats, 0.04);
      var best = null;
      pts.forEach(function (r) { if (best === null || (data.lower[m] ? r.m[m] < best.m[m] : r.m[m] > best.m[m])) best = r; });
      pts.forEach(function (r) {
        var isBest = r === best;
        var a = el("a", { href: r.h });
        var c = el("circle", { "class": "pt s0" + (isBest ? " bestpt" : ""), cx: f.x(xv(r)).toFixed(1), cy: f.y(r.m[m]).toFixed(1), r: isBest ? 6 : 3.5 });
        c.appendChild(el("title", {}, r.n + ": " + p + "=" + r.p[p] + ", " + m + "=" + fmt(r.m[m]) + (isBest ? " (best)" : "")));
        a.appendChild(c);
        f.svg.appendChild(a);
      });
    }
    document.addEventListener("dii:archived", drawScatter);
    drawCurves();
    drawScatter();
  }
  function fillSelect(sel, options, chosen) {
    options.forEach(function (o) {
      var opt = document.createElement("option");
      opt.value = o; opt.textContent = o;
      if (o === chosen) opt.selected = true;
      sel.appendChild(opt);
    });
  }

  /* ---------------------------------------------------------------- start */
  document.addEventListener("DOMContentLoaded", function () {
    Array.prototype.forEach.call(document.querySelectorAll("table.sortable"), makeSortable);
    var input = document.getElementById("filter"), runs = document.getElementById("runs");
    if (input && runs) {
      var shown = document.getElementById("shown");
      var timer = null;
      input.addEventListener("input", function () {
        clearTimeout(timer);
        timer = setTimeout(function () { applyFilter(runs, input, shown); }, 80);
      });
      applyFilter(runs, input, shown);
      var arch = document.getElementById("show-archived");
      if (arch) arch.addEventListener("change", function () {
        applyFilter(runs, input, shown);
        document.dispatchEvent(new CustomEvent("dii:archived"));
      });
    }
    var blob = document.getElementById("experiment-data");
    if (blob) experimentPage(JSON.parse(blob.textContent));
  });
  window.diiReport = { sortTable: sortTable, applyFilter: applyFilter, showArchived: showArchived,
    el: el, frame: frame, fmt: fmt, fillSelect: fillSelect };
})();
