/* dii-hpc report: sortable tables, chart helpers and the loader of data files, shared by
   every page (experiment.js and explore.js build the experiment page on them).
   Vanilla JS, no network; every user string goes through textContent, never innerHTML. */
(function () {
  "use strict";
  var SVGNS = "http://www.w3.org/2000/svg"; // a namespace name, not a URL that is fetched

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
    var lo = Infinity, hi = -Infinity;  // a loop: apply() of 100,000 values overflows the stack
    for (var i = 0; i < vals.length; i++) { if (vals[i] < lo) lo = vals[i]; if (vals[i] > hi) hi = vals[i]; }
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

  function fillSelect(sel, options, chosen) {
    options.forEach(function (o) {
      var opt = document.createElement("option");
      opt.value = o; opt.textContent = o;
      if (o === chosen) opt.selected = true;
      sel.appendChild(opt);
    });
  }

  /* ---------------------------------------------------------------- data files */
  // A data file is a script calling diiData(key, value): a page opened from disk may load
  // scripts, while Chromium refuses to fetch a local file (see dii_hpc/report/data.py).
  var loaded = {}, waiting = {};
  window.diiData = function (key, value) { loaded[key] = value; };
  function loadData(src, key) {
    if (Object.prototype.hasOwnProperty.call(loaded, key)) return Promise.resolve(loaded[key]);
    if (waiting[src]) return waiting[src];
    waiting[src] = new Promise(function (resolve, reject) {
      var s = document.createElement("script");
      s.src = src;
      s.async = true;
      s.onload = function () {
        s.remove();
        if (Object.prototype.hasOwnProperty.call(loaded, key)) resolve(loaded[key]);
        else reject(new Error(src + " did not define " + key));
      };
      s.onerror = function () { s.remove(); delete waiting[src]; reject(new Error("cannot load " + src)); };
      document.head.appendChild(s);
    });
    return waiting[src];
  }

  /* ---------------------------------------------------------------- start */
  document.addEventListener("DOMContentLoaded", function () {
    Array.prototype.forEach.call(document.querySelectorAll("table.sortable"), makeSortable);
  });
  window.diiReport = { sortTable: sortTable, showArchived: showArchived, el: el, frame: frame,
    fmt: fmt, fillSelect: fillSelect, loadData: loadData, ticks: ticks };
})();
