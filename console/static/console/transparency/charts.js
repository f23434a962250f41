// Draws the transparency report's charts with Chart.js (vendored, window.Chart) from the
// figures the page carries in <script type="application/json" id="transparency-data">.
// The same figures are in the page's tables, for readers without JavaScript or sight.
(function () {
  "use strict";
  var COLOURS = {
    released: "#1e6b34", rejected: "#a4161a", withdrawn: "#6c757d", expired: "#8a5a00",
    in_progress: "#0b57d0"
  };
  var LABELS = {
    released: "Released", rejected: "Rejected", withdrawn: "Withdrawn", expired: "Expired",
    in_progress: "In progress"
  };
  var COMMON = { animation: false, responsive: true, maintainAspectRatio: false };

  function stacked(extra) {
    return Object.assign({}, COMMON, {
      scales: {
        x: { stacked: true, ticks: { precision: 0 } },
        y: { stacked: true, beginAtZero: true, ticks: { precision: 0 } }
      }
    }, extra || {});
  }

  function outcomeSets(rows, outcomes) {
    return outcomes.map(function (name) {
      return {
        label: LABELS[name] || name, backgroundColor: COLOURS[name],
        data: rows.map(function (row) { return row[name]; })
      };
    });
  }

  function draw(id, config) {
    var canvas = document.getElementById(id);
    if (canvas) { new window.Chart(canvas, config); }
  }

  function start() {
    var source = document.getElementById("transparency-data");
    if (!source || !window.Chart) { return; }
    var data = JSON.parse(source.textContent);
    var months = data.by_month.map(function (row) { return row.month; });
    draw("chart-months", {
      type: "bar", options: stacked(),
      data: { labels: months, datasets: outcomeSets(data.by_month, data.outcomes) }
    });
    draw("chart-bases", {
      type: "bar", options: stacked({ indexAxis: "y" }),
      data: {
        labels: data.by_legal_basis.map(function (row) { return row.legal_basis; }),
        datasets: outcomeSets(data.by_legal_basis, data.outcomes)
      }
    });
    draw("chart-emergency", {
      type: "doughnut", options: COMMON,
      data: {
        labels: ["Emergency", "Other"],
        datasets: [{
          data: [data.emergency, data.received - data.emergency],
          backgroundColor: [COLOURS.rejected, COLOURS.in_progress]
        }]
      }
    });
    draw("chart-decision", {
      type: "line", options: Object.assign({}, COMMON, { scales: { y: { beginAtZero: true } } }),
      data: {
        labels: months,
        datasets: [{
          label: "Median hours to decision", borderColor: COLOURS.in_progress,
          backgroundColor: COLOURS.in_progress, spanGaps: true,
          data: data.by_month.map(function (row) { return row.median_hours_to_decision; })
        }]
      }
    });
  }

  document.addEventListener("DOMContentLoaded", start);
})();
