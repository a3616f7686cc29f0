/* dii-hpc report: the experiment page's seed-group bands and parallel coordinates.
   Uses app.js's chart helpers (window.diiReport); no network, user strings via textContent. */
(function () {
  "use strict";
  var R = null;
  var PC_AXES = 8;

  /* ---------------------------------------------------- seed groups: mean + band */
  function drawBands(data, sel) {
    var box = document.getElementById("bands"), key = sel.value;
    var groups = data.groups.filter(function (g) { return g.curves[key]; });
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

  function seedBands(data) {
    var sel = document.getElementById("band-metric");
    if (!sel || !data.groups || !data.groups.length) return;
    var keys = {};
    data.groups.forEach(function (g) { Object.keys(g.curves).forEach(function (k) { keys[k] = 1; }); });
    R.fillSelect(sel, Object.keys(keys).sort(), data.primary);
    sel.addEventListener("change", function () { drawBands(data, sel); });
    drawBands(data, sel);
  }

  /* ---------------------------------------------------- parallel coordinates */
  function axisOf(name, values) {
    var present = values.filter(function (v) { return v !== undefined && v !== null; });
    var numeric = present.every(function (v) { return typeof v === "number" && isFinite(v); });
    if (numeric) {
      var lo = Math.min.apply(null, present), hi = Math.max.apply(null, present);
      var log = lo > 0 && hi / lo >= 100;  // e.g. learning rates: spread decades evenly
      var t = function (v) { return log ? Math.log10(v) : v; };
      var a = t(lo), b = t(hi);
      if (a === b) { a -= 1; b += 1; }
      return { name: name, log: log, lo: lo, hi: hi, pos: function (v) { return (t(v) - a) / (b - a); } };
    }
    var cats = [];
    present.forEach(function (v) { var c = String(v); if (cats.indexOf(c) < 0) cats.push(c); });
    cats.sort();
    return { name: name, cats: cats,
      pos: function (v) { return cats.length < 2 ? 0.5 : cats.indexOf(String(v)) / (cats.length - 1); } };
  }

  function drawParcoords(data, sel) {
    var box = document.getElementById("parcoords"), m = sel.value;
    var runs = data.runs.filter(function (r) { return (!r.a || R.showArchived()) && r.m[m] !== null && r.m[m] !== undefined; });
    var params = data.params.filter(function (p) {
      var seen = {};
      runs.forEach(function (r) { if (r.p[p] !== undefined && r.p[p] !== null) seen[String(r.p[p])] = 1; });
      return Object.keys(seen).length > 1;
    }).slice(0, PC_AXES);
    if (!runs.length || !params.length) { box.textContent = "needs runs with this metric and params that vary"; return; }
    var axes = params.map(function (p) { return axisOf(p, runs.map(function (r) { return r.p[p]; })); });
    axes.push(axisOf(m, runs.map(function (r) { return r.m[m]; })));
    var W = Math.max(560, 120 * axes.length), H = 280, L = 50, Rt = 50, T = 28, B = 30;
    var x = function (i) { return L + i * (W - L - Rt) / (axes.length - 1 || 1); };
    var y = function (f) { return H - B - f * (H - T - B); };
    var svg = R.el("svg", { "class": "chart parcoords", viewBox: "0 0 " + W + " " + H, width: W, height: H, role: "img" });
    var mAxis = axes[axes.length - 1], lower = data.lower[m], best = null;
    runs.forEach(function (r) { if (best === null || (lower ? r.m[m] < best.m[m] : r.m[m] > best.m[m])) best = r; });
    runs.forEach(function (r) {
      var d = "", pen = "M";
      axes.forEach(function (a, i) {
        var v = i === axes.length - 1 ? r.m[m] : r.p[a.name];
        if (v === undefined || v === null) { pen = "M"; return; }
        d += pen + x(i).toFixed(1) + " " + y(a.pos(v)).toFixed(1); pen = "L";
      });
      var good = mAxis.pos(r.m[m]);  // 0..1 along the metric axis; colour by quality
      var q = Math.min(4, Math.floor((lower ? 1 - good : good) * 5));
      var link = R.el("a", { href: r.h });
      var path = R.el("path", { "class": "pcline q" + q + (r === best ? " bestline" : ""), d: d });
      path.appendChild(R.el("title", {}, r.n + ": " + m + "=" + R.fmt(r.m[m]) + (r === best ? " (best)" : "")));
      link.appendChild(path);
      svg.appendChild(link);
    });
    axes.forEach(function (a, i) {
      svg.appendChild(R.el("line", { "class": "pcaxis", x1: x(i), x2: x(i), y1: y(0), y2: y(1) }));
      svg.appendChild(R.el("text", { "class": "label", x: x(i), y: T - 12, "text-anchor": "middle" },
        a.name + (a.log ? " (log)" : "")));
      var marks = a.cats ? a.cats.map(function (c) { return [c, a.pos(c)]; })
        : [[R.fmt(a.lo), 0], [R.fmt(a.hi), 1]];
      marks.slice(0, 12).forEach(function (mk) {
        svg.appendChild(R.el("text", { "class": "tick", x: x(i) + 4, y: y(mk[1]) + 3 }, String(mk[0]).slice(0, 14)));
      });
    });
    box.textContent = "";
    box.appendChild(svg);
  }

  function parcoords(data) {
    var sel = document.getElementById("pc-metric");
    if (!sel) return;
    R.fillSelect(sel, data.metrics, data.primary);
    var draw = function () { drawParcoords(data, sel); };
    sel.addEventListener("change", draw);
    document.addEventListener("dii:archived", draw);
    draw();
  }

  document.addEventListener("DOMContentLoaded", function () {
    var blob = document.getElementById("experiment-data");
    R = window.diiReport;
    if (!blob || !R) return;
    var data = JSON.parse(blob.textContent);
    seedBands(data);
    parcoords(data);
  });
})();
