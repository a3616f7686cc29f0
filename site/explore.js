/* dii-hpc report: the experiment page's charts over many runs: param against metric (scatter),
   seed-group bands and parallel coordinates.  Uses app.js's chart helpers (window.diiReport)
   and experiment.js's rows (window.diiExperiment); past a limit the scatter and the parallel
   coordinates draw an even sample (and the best run), and say so.  No network; user strings
   via textContent. */
(function () {
  "use strict";
  var R = null, E = null, D = null;
  var PC_AXES = 8;

  function fmtInt(n) { return n.toLocaleString("en-US"); }
  // runs to draw: every one up to limit, else every k-th plus the best; and the sentence saying so
  function sample(idx, limit) {
    if (idx.length <= limit) return { idx: idx, note: "" };
    var step = Math.ceil(idx.length / limit), out = [];
    for (var j = 0; j < idx.length; j += step) out.push(idx[j]);
    if (D.best_at !== null && idx.indexOf(D.best_at) >= 0 && out.indexOf(D.best_at) < 0) out.push(D.best_at);
    return { idx: out, note: "Drawn: " + fmtInt(out.length) + " of " + fmtInt(idx.length) +
      " runs, an even sample (one run in every " + step + ", oldest first) and the best run." };
  }
  function usable(m) {
    var out = [];
    E.rows.forEach(function (r, i) {
      var v = r && E.value(r, "metrics." + m);
      if (r && (!E.isArchived(r) || R.showArchived()) && typeof v === "number") out.push(i);
    });
    return out;
  }
  function whenLoaded(box, draw) {
    box.textContent = "loading " + fmtInt(D.total) + " runs\u2026";
    E.loadAll().then(draw);
  }

  /* ---------------------------------------------------- param against metric */
  function drawScatter(pSel, mSel) {
    var box = document.getElementById("scatter"), note = document.getElementById("scatter-note");
    var p = pSel.value, m = mSel.value, col = "params." + p;
    var all = usable(m).filter(function (i) { var v = E.value(E.rows[i], col); return v !== undefined && v !== null; });
    if (!p || !m || !all.length) { box.textContent = "no run has both a value of this param and of this metric"; note.textContent = ""; return; }
    var picked = sample(all, D.limits.scatter), pts = picked.idx;
    note.textContent = picked.note;
    var pv = function (i) { return E.value(E.rows[i], col); }, mv = function (i) { return E.value(E.rows[i], "metrics." + m); };
    var numeric = pts.every(function (i) { return typeof pv(i) === "number"; }), cats = null;
    if (!numeric) {
      var seen = {};
      pts.forEach(function (i) { seen[String(pv(i))] = 1; });
      cats = Object.keys(seen).sort();
    }
    // categories: spread points sideways (deterministic jitter) so equal values stay visible
    var xv = function (i) { return numeric ? pv(i) : cats.indexOf(String(pv(i))) + ((i * 0.618034) % 1 - 0.5) * 0.35; };
    var f = R.frame(box, pts.map(xv), pts.map(mv), p, m, cats, 0.04);
    var best = null;
    pts.forEach(function (i) { if (best === null || (D.lower[m] ? mv(i) < mv(best) : mv(i) > mv(best))) best = i; });
    pts.forEach(function (i) {
      var r = E.rows[i], isBest = i === best, a = R.el("a", { href: E.href(r) });
      var c = R.el("circle", { "class": "pt s0" + (isBest ? " bestpt" : ""), cx: f.x(xv(i)).toFixed(1), cy: f.y(mv(i)).toFixed(1), r: isBest ? 6 : 3.5 });
      c.appendChild(R.el("title", {}, E.value(r, "name") + ": " + p + "=" + pv(i) + ", " + m + "=" + R.fmt(mv(i)) + (isBest ? " (best)" : "")));
      a.appendChild(c);
      f.svg.appendChild(a);
    });
  }
  function scatter() {
    var pSel = document.getElementById("scatter-param"), mSel = document.getElementById("scatter-metric");
    if (!pSel) return;
    R.fillSelect(pSel, D.params, D.scatter || D.params[0]);
    R.fillSelect(mSel, D.metrics, D.primary);
    var draw = function () { drawScatter(pSel, mSel); };
    pSel.addEventListener("change", draw);
    mSel.addEventListener("change", draw);
    document.addEventListener("dii:archived", draw);
    whenLoaded(document.getElementById("scatter"), draw);
  }

  /* ---------------------------------------------------- seed groups: mean + band */
  function drawBands(sel) {
    var box = document.getElementById("bands"), key = sel.value;
    var groups = D.groups.filter(function (g) { return g.curves[key]; });
    if (!groups.length) { box.textContent = "no group logged this metric at common steps"; return; }
    var xs = [], ys = [];
    groups.forEach(function (g) {
      var c = g.curves[key];
      xs = xs.concat(c[0]); ys = ys.concat(c[2], c[3]);
    });
    var f = R.frame(box, xs, ys, "step", key);
    var legend = document.createElement("div");
    legend.className = "legend";
    groups.forEach(function (g, n) {
      var c = g.curves[key], cls = "s" + (n % 10), top = "", bottom = "", mean = "";
      c[0].forEach(function (x, j) {
        var px = f.x(x).toFixed(1);
        top += (j ? "L" : "M") + px + " " + f.y(c[3][j]).toFixed(1);
        mean += (j ? "L" : "M") + px + " " + f.y(c[1][j]).toFixed(1);
      });
      for (var j = c[0].length - 1; j >= 0; j--) bottom += "L" + f.x(c[0][j]).toFixed(1) + " " + f.y(c[2][j]).toFixed(1);
      var area = R.el("path", { "class": "band " + cls, d: top + bottom + "Z" });
      area.appendChild(R.el("title", {}, g.label + ": 95% band of the mean (n=" + g.n + ")"));
      f.svg.appendChild(area);
      var line = R.el("path", { "class": "line mean " + cls, d: mean });
      line.appendChild(R.el("title", {}, g.label + ": mean of " + g.n + " runs"));
      f.svg.appendChild(line);
      var item = document.createElement("span");
      item.className = "key " + cls;
      item.textContent = g.label + " (n=" + g.n + ")";
      legend.appendChild(item);
    });
    box.appendChild(legend);
  }
  function seedBands() {
    var sel = document.getElementById("band-metric");
    if (!sel || !D.groups || !D.groups.length) return;
    var keys = {};
    D.groups.forEach(function (g) { Object.keys(g.curves).forEach(function (k) { keys[k] = 1; }); });
    R.fillSelect(sel, Object.keys(keys).sort(), D.primary);
    sel.addEventListener("change", function () { drawBands(sel); });
    drawBands(sel);
  }

  /* ---------------------------------------------------- parallel coordinates */
  function axisOf(name, values) {
    var present = values.filter(function (v) { return v !== undefined && v !== null; });
    var numeric = present.every(function (v) { return typeof v === "number" && isFinite(v); });
    if (numeric) {
      var lo = Infinity, hi = -Infinity;
      present.forEach(function (v) { if (v < lo) lo = v; if (v > hi) hi = v; });
      var log = lo > 0 && hi / lo >= 100;  // e.g. learning rates: spread decades evenly
      var t = function (v) { return log ? Math.log10(v) : v; };
      var a = t(lo), b = t(hi);
      if (a === b) { a -= 1; b += 1; }
      return { name: name, log: log, lo: lo, hi: hi, pos: function (v) { return (t(v) - a) / (b - a); } };
    }
    var seen = {};
    present.forEach(function (v) { seen[String(v)] = 1; });
    var cats = Object.keys(seen).sort(), at = {};
    cats.forEach(function (c, j) { at[c] = j; });
    return { name: name, cats: cats,
      pos: function (v) { return cats.length < 2 ? 0.5 : at[String(v)] / (cats.length - 1); } };
  }
  function drawParcoords(sel) {
    var box = document.getElementById("parcoords"), note = document.getElementById("pc-note"), m = sel.value;
    var picked = sample(usable(m), D.limits.parcoords), runs = picked.idx;
    var get = function (i, col) { return E.value(E.rows[i], col); };
    var params = D.params.filter(function (p) {
      var seen = {}, n = 0;
      runs.forEach(function (i) { var v = get(i, "params." + p); if (v !== undefined && v !== null && !seen[String(v)]) { seen[String(v)] = 1; n++; } });
      return n > 1;
    }).slice(0, PC_AXES);
    note.textContent = picked.note;
    if (!runs.length || !params.length) { box.textContent = "needs runs with this metric and params that vary"; return; }
    var axes = params.map(function (p) { return axisOf(p, runs.map(function (i) { return get(i, "params." + p); })); });
    axes.push(axisOf(m, runs.map(function (i) { return get(i, "metrics." + m); })));
    var W = Math.max(560, 120 * axes.length), H = 280, L = 50, Rt = 50, T = 28, B = 30;
    var x = function (j) { return L + j * (W - L - Rt) / (axes.length - 1 || 1); };
    var y = function (f) { return H - B - f * (H - T - B); };
    var svg = R.el("svg", { "class": "chart parcoords", viewBox: "0 0 " + W + " " + H, width: W, height: H, role: "img" });
    var mAxis = axes[axes.length - 1], lower = D.lower[m], best = null;
    runs.forEach(function (i) { if (best === null || (lower ? get(i, "metrics." + m) < get(best, "metrics." + m) : get(i, "metrics." + m) > get(best, "metrics." + m))) best = i; });
    runs.forEach(function (i) {
      var d = "", pen = "M", mv = get(i, "metrics." + m);
      axes.forEach(function (a, j) {
        var v = j === axes.length - 1 ? mv : get(i, "params." + a.name);
        if (v === undefined || v === null) { pen = "M"; return; }
        d += pen + x(j).toFixed(1) + " " + y(a.pos(v)).toFixed(1); pen = "L";
      });
      var good = mAxis.pos(mv);  // 0..1 along the metric axis; colour by quality
      var q = Math.min(4, Math.floor((lower ? 1 - good : good) * 5));
      var link = R.el("a", { href: E.href(E.rows[i]) });
      var path = R.el("path", { "class": "pcline q" + q + (i === best ? " bestline" : ""), d: d });
      path.appendChild(R.el("title", {}, get(i, "name") + ": " + m + "=" + R.fmt(mv) + (i === best ? " (best)" : "")));
      link.appendChild(path);
      svg.appendChild(link);
    });
    axes.forEach(function (a, j) {
      svg.appendChild(R.el("line", { "class": "pcaxis", x1: x(j), x2: x(j), y1: y(0), y2: y(1) }));
      svg.appendChild(R.el("text", { "class": "label", x: x(j), y: T - 12, "text-anchor": "middle" },
        a.name + (a.log ? " (log)" : "")));
      var marks = a.cats ? a.cats.map(function (c) { return [c, a.pos(c)]; }) : [[R.fmt(a.lo), 0], [R.fmt(a.hi), 1]];
      marks.slice(0, 12).forEach(function (mk) {
        svg.appendChild(R.el("text", { "class": "tick", x: x(j) + 4, y: y(mk[1]) + 3 }, String(mk[0]).slice(0, 14)));
      });
    });
    box.textContent = "";
    box.appendChild(svg);
  }
  function parcoords() {
    var sel = document.getElementById("pc-metric");
    if (!sel) return;
    R.fillSelect(sel, D.metrics, D.primary);
    var draw = function () { drawParcoords(sel); };
    sel.addEventListener("change", draw);
    document.addEventListener("dii:archived", draw);
    whenLoaded(document.getElementById("parcoords"), draw);
  }

  document.addEventListener("DOMContentLoaded", function () {
    R = window.diiReport;
    E = window.diiExperiment;  // experiment.js ran its DOMContentLoaded handler first
    if (!R || !E) return;
    D = E.data;
    seedBands();
    scatter();
    parcoords();
  });
})();
