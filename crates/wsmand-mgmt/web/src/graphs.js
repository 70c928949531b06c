// The overview's graphs: the host's sampled figures of the last hour (from
// /hosts/NAME/samples.json, which the console's sampler fills), one uPlot chart a series,
// polled every sampling interval for the points taken since the newest one shown.
//
// No inline script: this file is loaded from /assets/graphs.js. The JSON is the console's
// own (numbers only); a figure the host did not give is null, drawn as a gap.

import uPlot from "uplot";
import { clock, MINUTE_STEPS, timeRange } from "./time_axis.js";

const HOUR = 3600;
// "1 sample", "2 samples" (the server's table says it alike).
function samples(count) {
  return count === 1 ? "1 sample" : count + " samples";
}

function colour(name, fallback) {
  const value = getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  return value || fallback;
}

function tickValue(unit) {
  if (unit !== "bytes/s") return (u, values) => values.map((v) => v + " %");
  const units = ["B/s", "KiB/s", "MiB/s", "GiB/s"];
  return (u, values) =>
    values.map((v) => {
      let value = v;
      let i = 0;
      while (Math.abs(value) >= 1024 && i + 1 < units.length) {
        value /= 1024;
        i += 1;
      }
      return (Number.isInteger(value) ? value : value.toFixed(1)) + " " + units[i];
    });
}

// The time axis' labels; the ones drawn last are kept on the figure for the browser test.
function timeLabels(figure) {
  return (u, ticks) => {
    const labels = ticks.map(clock);
    figure.dataset.timeLabels = labels.join(" ");
    return labels;
  };
}

function chart(figure, width) {
  const box = figure.querySelector(".chart");
  const unit = figure.dataset.unit;
  const percent = unit === "%";
  const stroke = colour("--accent", "#1d4ed8");
  const axis = { stroke: colour("--muted", "#4a5363"), grid: { stroke: colour("--border", "#d5dae2") }, ticks: { stroke: colour("--border", "#d5dae2") } };
  const options = {
    width,
    height: 160,
    legend: { show: false },
    cursor: { drag: { x: false, y: false } },
    scales: { x: { time: true, range: (u) => timeRange(u.data[0], Date.now() / 1000) }, y: percent ? { range: [0, 100] } : { range: (u, min, max) => [0, Math.max(max, 1)] } },
    axes: [{ ...axis, space: 60, incrs: MINUTE_STEPS, values: timeLabels(figure) }, { ...axis, size: percent ? 50 : 80, values: tickValue(unit) }],
    series: [{}, { label: figure.querySelector("figcaption").textContent, stroke, width: 2, spanGaps: false, points: { show: true, size: 4 } }],
    // What was drawn, for the browser test: the time axis' ends (seconds).
    hooks: {
      draw: [
        (u) => {
          figure.dataset.timeFrom = String(u.scales.x.min);
          figure.dataset.timeTo = String(u.scales.x.max);
        },
      ],
    },
  };
  return new uPlot(options, [[], []], box);
}

function start(root) {
  const url = root.dataset.samples;
  const interval = Math.max(1, Number(root.dataset.interval) || 10);
  const status = document.getElementById("figures-status");
  const figures = Array.from(root.querySelectorAll("figure.graph"));
  const width = () => Math.max(240, Math.floor(figures[0].clientWidth) - 8);
  const charts = figures.map((figure) => ({ figure, key: figure.dataset.series, plot: chart(figure, width()) }));
  let points = [];

  const draw = () => {
    const times = points.map((p) => p.at);
    for (const { figure, key, plot } of charts) {
      plot.setData([times, points.map((p) => (typeof p[key] === "number" ? p[key] : null))]);
      figure.dataset.points = String(points.filter((p) => typeof p[key] === "number").length);
    }
    if (root.dataset.points === undefined && window.performance && performance.mark) {
      // When the first drawing ended: what benches/graphs.sh times the graphs by.
      performance.mark("graphs-drawn");
    }
    root.dataset.points = String(points.length);
  };

  const poll = async () => {
    const newest = points.length ? points[points.length - 1].at : null;
    const target = newest === null ? url : url + "?since=" + newest;
    try {
      const response = await fetch(target, { credentials: "same-origin", headers: { Accept: "application/json" } });
      if (!response.ok) throw new Error("HTTP " + response.status);
      const answer = await response.json();
      const fresh = Array.isArray(answer.points) ? answer.points : [];
      points = points.concat(fresh);
      const oldest = (points.length ? points[points.length - 1].at : 0) - HOUR;
      points = points.filter((p) => p.at > oldest);
      draw();
      if (status && fresh.length) {
        status.textContent = samples(points.length) + " of the last hour, one every " + interval + " s (live).";
      }
    } catch (error) {
      if (status) status.textContent = "The figures could not be read: " + error.message;
    }
  };

  window.addEventListener("resize", () => {
    for (const { plot } of charts) plot.setSize({ width: width(), height: 160 });
  });
  poll();
  window.setInterval(poll, interval * 1000);
}

const root = document.getElementById("graphs");
if (root) start(root);
