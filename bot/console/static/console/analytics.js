/* Draws the analytics charts from the JSON embedded in the page (#report-data).
   Chart.js is served locally from /vendor/chart.umd.js; the tables under each chart
   carry the same numbers, so the page stays readable without this script. */
(function () {
  "use strict";

  var PALETTE = ["#9e1b32", "#1f6fb2", "#2e8b57", "#d98c1f", "#6b4fa0", "#4a4a4a", "#c2577a", "#3a9fa8"];

  function readJson(id) {
    var node = document.getElementById(id);
    return node ? JSON.parse(node.textContent) : null;
  }

  function label(map, key) {
    return Object.prototype.hasOwnProperty.call(map || {}, key) ? map[key] : key;
  }

  function percent(rate) {
    return rate === null || rate === undefined ? 0 : Math.round(rate * 1000) / 10;
  }

  function showMissing(canvasId, text) {
    var canvas = document.getElementById(canvasId);
    if (!canvas) {
      return;
    }
    var note = document.createElement("p");
    note.className = "chart-missing";
    note.textContent = text;
    canvas.parentNode.replaceChild(note, canvas);
  }

  function perDayChart(Chart, report, labels) {
    var perDay = report.per_day;
    var datasets = perDay.channels.map(function (channel, i) {
      return {
        label: label(labels.channels, channel),
        data: perDay.conversations[channel],
        backgroundColor: PALETTE[i % PALETTE.length],
        stack: "conversations"
      };
    });
    return new Chart(document.getElementById("chart-per-day"), {
      type: "bar",
      data: { labels: perDay.days.map(function (d) { return d.slice(5); }), datasets: datasets },
      options: {
        maintainAspectRatio: false,
        animation: false,
        interaction: { mode: "index", intersect: false },
        scales: {
          x: { stacked: true },
          y: { stacked: true, beginAtZero: true, ticks: { precision: 0 }, title: { display: true, text: "会话数" } }
        },
        plugins: { legend: { position: "bottom" } }
      }
    });
  }

  function intentsChart(Chart, report) {
    var rows = report.top_intents;
    return new Chart(document.getElementById("chart-intents"), {
      type: "bar",
      data: {
        labels: rows.map(function (r) { return r.label || r.intent; }),
        datasets: [{ label: "客户消息数", data: rows.map(function (r) { return r.count; }), backgroundColor: PALETTE[1] }]
      },
      options: {
        indexAxis: "y",
        maintainAspectRatio: false,
        animation: false,
        scales: { x: { beginAtZero: true, ticks: { precision: 0 } } },
        plugins: {
          legend: { display: false },
          tooltip: {
            callbacks: {
              label: function (ctx) {
                return ctx.parsed.x + " 条（" + percent(rows[ctx.dataIndex].share) + "%）";
              }
            }
          }
        }
      }
    });
  }

  function ratesChart(Chart, report) {
    var values = [
      percent(report.fallback.conversation_rate),
      percent(report.fallback.message_rate),
      percent(report.handoff.rate)
    ];
    return new Chart(document.getElementById("chart-rates"), {
      type: "bar",
      data: {
        labels: ["未识别（会话）", "未识别（消息）", "转人工（会话）"],
        datasets: [{ label: "比率 %", data: values, backgroundColor: [PALETTE[3], PALETTE[4], PALETTE[0]] }]
      },
      options: {
        indexAxis: "y",
        maintainAspectRatio: false,
        animation: false,
        scales: { x: { min: 0, max: 100, ticks: { callback: function (v) { return v + "%"; } } } },
        plugins: {
          legend: { display: false },
          tooltip: { callbacks: { label: function (ctx) { return ctx.parsed.x + "%"; } } }
        }
      }
    });
  }

  function doughnut(Chart, canvasId, names, values, emptyText) {
    if (!values.length || values.every(function (v) { return v === 0; })) {
      showMissing(canvasId, emptyText);
      return null;
    }
    return new Chart(document.getElementById(canvasId), {
      type: "doughnut",
      data: {
        labels: names,
        datasets: [{ data: values, backgroundColor: names.map(function (_, i) { return PALETTE[i % PALETTE.length]; }) }]
      },
      options: { maintainAspectRatio: false, animation: false, plugins: { legend: { position: "right" } } }
    });
  }

  function draw() {
    var report = readJson("report-data");
    var labels = readJson("report-labels") || { channels: {}, reasons: {} };
    if (!report) {
      return;
    }
    var Chart = window.Chart;
    var ids = ["chart-per-day", "chart-intents", "chart-rates", "chart-channels", "chart-handoffs"];
    if (!Chart) {
      ids.forEach(function (id) { showMissing(id, "图表组件未加载，请查看下方表格。"); });
      return;
    }
    Chart.defaults.font.family = '"Noto Sans CJK SC", "PingFang SC", "Microsoft YaHei", sans-serif';
    perDayChart(Chart, report, labels);
    if (report.top_intents.length) {
      intentsChart(Chart, report);
    } else {
      showMissing("chart-intents", "该时间范围内没有客户消息。");
    }
    ratesChart(Chart, report);
    doughnut(
      Chart,
      "chart-channels",
      report.per_channel.map(function (r) { return label(labels.channels, r.channel); }),
      report.per_channel.map(function (r) { return r.conversations; }),
      "该时间范围内没有会话。"
    );
    var reasons = Object.keys(report.handoff.by_reason);
    doughnut(
      Chart,
      "chart-handoffs",
      reasons.map(function (r) { return label(labels.reasons, r); }),
      reasons.map(function (r) { return report.handoff.by_reason[r]; }),
      "该时间范围内没有转人工。"
    );
    document.body.setAttribute("data-charts", "ready");
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", draw);
  } else {
    draw();
  }
})();
