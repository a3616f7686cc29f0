/* dii-hpc ui: a run page that follows its run while it runs (served by `dii-hpc ui` only).
   Loads each metric downsampled to the chart's width (min/max per bucket), then listens to
   /api/runs/<id>/events (server-sent events) and adds the points after each cursor, updates
   the status badge, the metrics table and the log tails. Draws with app.js's helpers
   (window.diiReport); every user string goes through textContent. */
(function () {
  "use strict";
  var WIDTH = 600, REFETCH = 4 * WIDTH;
  var m = /\/runs\/([^\/]+)\.html$/.exec(location.pathname);
  if (!m || !window.diiReport) return;
  var runId = decodeURIComponent(m[1]), api = "/api/runs/" + encodeURIComponent(runId);
  var R = window.diiReport;
  var state = { points: {}, cursors: {}, updates: 0, status: null, ended: false, source: null };
  window.diiLive = state;

  function getJSON(url) {
    return fetch(url, { credentials: "same-origin" }).then(function (r) {
      if (!r.ok) throw new Error(url + ": " + r.status);
      return r.json();
    });
  }
  function num(v) { var x = typeof v === "number" ? v : parseFloat(v); return isFinite(x) ? x : NaN; }

  /* ------------------------------------------------------------ charts */
  function figureFor(key) {
    var figs = document.querySelectorAll(".charts figure.panel");
    for (var i = 0; i < figs.length; i++) {
      var cap = figs[i].querySelector("figcaption");
      if (cap && cap.textContent === key) return figs[i];
    }
    var charts = document.querySelector(".charts");
    if (!charts) {
      charts = document.createElement("div");
      charts.className = "charts";
      var heads = document.querySelectorAll("h2"), at = null;
      for (var j = 0; j < heads.length; j++) if (heads[j].textContent === "Metrics") at = heads[j].parentNode;
      (at || document.querySelector("main") || document.body).appendChild(charts);
    }
    var fig = document.createElement("figure"), caption = document.createElement("figcaption");
    fig.className = "panel";
    caption.textContent = key;
    fig.appendChild(caption);
    charts.appendChild(fig);
    return fig;
  }
  function draw(key) {
    var p = state.points[key], xs = [], ys = [];
    p.steps.forEach(function (s, i) { var v = num(p.values[i]); if (!isNaN(v)) { xs.push(s); ys.push(v); } });
    if (!xs.length) return;
    var fig = figureFor(key), box = fig.querySelector(".live-chart");
    if (!box) {
      Array.prototype.slice.call(fig.querySelectorAll("svg")).forEach(function (s) { s.remove(); });
      box = document.createElement("div");
      box.className = "live-chart";
      fig.appendChild(box);
    }
    box.setAttribute("data-points", String(p.steps.length));
    box.setAttribute("data-last-step", String(p.steps[p.steps.length - 1]));
    var f = R.frame(box, xs, ys, "step", key), d = "", pen = "M";
    p.steps.forEach(function (s, i) {
      var v = num(p.values[i]);
      if (isNaN(v)) { pen = "M"; return; }
      d += pen + f.x(s).toFixed(1) + " " + f.y(v).toFixed(1); pen = "L";
    });
    f.svg.appendChild(R.el("path", { "class": "line s0", d: d }));
  }
  function load(key) {
    return getJSON(api + "/metrics/" + key.split("/").map(encodeURIComponent).join("/") + "?width=" + WIDTH)
      .then(function (s) {
        state.points[key] = { steps: s.steps, values: s.values };
        if (s.last_step !== null) state.cursors[key] = s.last_step;
        draw(key);
      });
  }
  function addPoints(key, s) {
    var p = state.points[key];
    if (!p) { p = state.points[key] = { steps: [], values: [] }; }
    var last = p.steps.length ? p.steps[p.steps.length - 1] : -Infinity;
    s.steps.forEach(function (step, i) { if (step > last) { p.steps.push(step); p.values.push(s.values[i]); } });
    if (s.last_step !== null) state.cursors[key] = s.last_step;
    if (p.steps.length > REFETCH) return load(key);  // thin again to the chart's width
    draw(key);
  }

  /* ------------------------------------------------------------ status, metrics, logs */
  function showRun(run) {
    state.status = run.status;
    var badge = document.querySelector("h1 .status");
    if (badge && run.status) {
      badge.textContent = run.status;
      badge.className = "status st-" + run.status.toLowerCase();
    }
    var metrics = run.metrics || {}, rows = document.querySelectorAll("table.grid tbody tr");
    Array.prototype.forEach.call(rows, function (tr) {
      var key = tr.cells[0] && tr.cells[0].textContent, s = metrics[key];
      if (!s || tr.cells.length < 7) return;
      [[1, s.last], [3, s.min], [4, s.max], [5, s.step], [6, s.count]].forEach(function (c) {
        if (c[1] === undefined || c[1] === null) return;
        tr.cells[c[0]].setAttribute("data-v", String(c[1]));
        tr.cells[c[0]].textContent = typeof c[1] === "number" ? R.fmt(c[1]) : String(c[1]);
      });
    });
  }
  function showLogs(logs) {
    Object.keys(logs).forEach(function (name) {
      var found = null;
      Array.prototype.forEach.call(document.querySelectorAll("details"), function (d) {
        var s = d.querySelector("summary");
        if (s && s.firstChild && s.firstChild.textContent.trim() === name) found = d;
      });
      if (!found) {
        var heads = document.querySelectorAll("h2"), section = null;
        for (var i = 0; i < heads.length; i++) if (heads[i].textContent === "Logs") section = heads[i].parentNode;
        if (!section) return;
        Array.prototype.forEach.call(section.querySelectorAll("p.muted"), function (p) { p.remove(); });
        found = document.createElement("details");
        var summary = document.createElement("summary");
        summary.textContent = name;
        found.appendChild(summary);
        found.appendChild(document.createElement("pre")).className = "log";
        found.open = true;
        section.appendChild(found);
      }
      var pre = found.querySelector("pre.log");
      if (pre) {
        var stick = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
        pre.textContent = logs[name].text;
        if (stick) pre.scrollTop = pre.scrollHeight;
      }
    });
  }

  /* ------------------------------------------------------------ following */
  function apply(update) {
    state.updates++;
    if (update.run) showRun(update.run);
    var pts = update.points || {};
    Object.keys(pts).forEach(function (key) { addPoints(key, pts[key]); });
    if (update.logs) showLogs(update.logs);
  }
  function follow() {
    var src = new EventSource(api + "/events?width=" + WIDTH + "&since=" + encodeURIComponent(JSON.stringify(state.cursors)));
    state.source = src;
    src.onmessage = function (e) { apply(JSON.parse(e.data)); };
    src.addEventListener("end", function () { state.ended = true; src.close(); });
  }

  getJSON(api).then(function (info) {
    state.status = info.run.status;
    if (info.run.status !== "RUNNING" && info.run.status !== "PENDING") { state.ended = true; return; }
    return Promise.all(info.metric_keys.map(load)).then(follow);
  }).catch(function (err) { console.warn("dii-hpc live view:", err.message); });
})();
