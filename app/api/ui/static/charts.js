// Draws every chart on a model page with uPlot. Each monitor's data sits in one JSON
// <script> (never executed): the time axis and run ids once, then each chart's series.
// Clicking a point opens that window's page; over a long range a point is an hour or a day
// of windows, and clicking it zooms into it.
(function () {
  "use strict";
  var COLOURS = { value: "#1f5fa8", threshold: "#b3001b", band: "#7fa7d6", offline: "#1e7a3c",
                  secondary: "#8a5a00" };

  function seriesOpts(s, i) {
    var colour = s.kind === "offline" ? (i % 2 ? "#1e7a3c" : "#5b3fa8") : COLOURS[s.kind];
    var opts = { label: s.label, stroke: colour, width: s.kind === "value" ? 2 : 1,
                 spanGaps: false, points: { show: s.kind === "value" } };
    if (s.kind === "threshold" || s.kind === "offline") { opts.dash = [6, 4]; }
    if (s.kind === "band") { opts.width = 0; opts.points = { show: false }; }
    return opts;
  }

  function draw(figure, panel) {
    var spec = panel.charts[Number(figure.dataset.index)];
    var target = figure.querySelector(".plot");
    var labels = spec.series.map(function (s) { return s.label; });
    var series = [{}].concat(spec.series.map(seriesOpts));
    var bands = spec.bands.map(function (b) {
      return { series: [labels.indexOf(b[0]) + 1, labels.indexOf(b[1]) + 1],
               fill: "rgba(31,95,168,0.15)" };
    });
    var data = [panel.x].concat(spec.series.map(function (s) { return s.values; }));
    var width = Math.max(320, target.clientWidth || figure.clientWidth - 16);
    var plot = new uPlot({ width: width, height: 200, series: series, bands: bands,
                           axes: [{}, { size: 56 }], legend: { live: true } }, data, target);
    plot.over.addEventListener("click", function () {
      var idx = plot.cursor.idx;
      if (idx === null || idx === undefined) { return; }
      if (panel.links && panel.links[idx] !== undefined) {  // an hour or a day: zoom into it
        window.location.href = panel.links[idx];
      } else if (panel.runs && panel.runs[idx] !== undefined) {
        window.location.href = "/windows/" + panel.runs[idx];
      }
    });
    figure.dataset.drawn = "true";
  }

  document.querySelectorAll(".charts").forEach(function (container) {
    var panel = JSON.parse(container.querySelector("script.panel-data").textContent);
    container.querySelectorAll("figure.chart").forEach(function (f) { draw(f, panel); });
  });
})();
