// The Events page: the histogram of the matches over time (uPlot, from the numbers the server
// put in #histogram's data-buckets) and the live tail (polling /events/tail.json with the
// page's search and the greatest id seen, appending what comes, oldest first, at the top).
//
// No inline script: this file is loaded from /assets/search.js. Everything from the store is
// set as text (textContent), never markup.

import uPlot from "uplot";

const POLL_SECONDS = 3;
// Rows the live tail keeps shown.
const MAX_ROWS = 500;

function colour(name, fallback) {
  const value = getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  return value || fallback;
}

function histogram(figure) {
  let buckets;
  try {
    buckets = JSON.parse(figure.dataset.buckets || "[]");
  } catch {
    return;
  }
  if (!Array.isArray(buckets) || buckets.length === 0) return;
  const box = figure.querySelector(".chart");
  // Each bar stands over its bucket: drawn at the bucket's middle, the axis from the first
  // bucket's start to the last one's end.
  const seconds = Math.max(1, Number(figure.dataset.seconds) || 1);
  const times = buckets.map((b) => Number(b[0]) + seconds / 2);
  const range = [Number(buckets[0][0]), Number(buckets[buckets.length - 1][0]) + seconds];
  const counts = buckets.map((b) => Number(b[1]));
  const width = Math.max(240, Math.floor(figure.clientWidth) - 8);
  const stroke = colour("--accent", "#1d4ed8");
  const axis = { stroke: colour("--muted", "#4a5363"), grid: { stroke: colour("--border", "#d5dae2") }, ticks: { stroke: colour("--border", "#d5dae2") } };
  const plot = new uPlot(
    {
      width,
      height: 160,
      legend: { show: false },
      cursor: { drag: { x: false, y: false } },
      scales: { x: { time: true, range: () => range }, y: { range: (u, min, max) => [0, Math.max(max, 1)] } },
      axes: [{ ...axis, space: 60 }, { ...axis, size: 60 }],
      series: [{}, { label: "events", stroke, fill: stroke + "33", width: 1, paths: uPlot.paths.bars({ size: [0.9, 100] }), points: { show: false } }],
      hooks: {
        // What was drawn, for the browser test: the buckets and their sum.
        draw: [
          (u) => {
            figure.dataset.drawnBuckets = String(u.data[0].length);
            figure.dataset.drawnTotal = String(u.data[1].reduce((a, b) => a + (b || 0), 0));
          },
        ],
      },
    },
    [times, counts],
    box,
  );
  window.addEventListener("resize", () => plot.setSize({ width: Math.max(240, Math.floor(figure.clientWidth) - 8), height: 160 }));
}

function cell(row, text) {
  const td = document.createElement("td");
  td.textContent = text == null ? "" : String(text);
  row.appendChild(td);
  return td;
}

function eventRow(event) {
  const row = document.createElement("tr");
  row.dataset.id = String(event.id);
  for (const key of ["time", "computer", "channel", "level", "event_id", "provider"]) cell(row, event[key]);
  cell(row, event.message).className = "cmd";
  const link = document.createElement("a");
  link.href = "/events/stored/" + encodeURIComponent(String(event.id));
  link.textContent = "XML";
  link.setAttribute("aria-label", "The full XML of event " + event.id);
  cell(row, "").appendChild(link);
  return row;
}

function tail(section) {
  const status = document.getElementById("tail-status");
  const toggle = document.getElementById("tail-toggle");
  const body = document.getElementById("tail-events");
  let after = Number(section.dataset.after) || 0;
  let timer = null;
  let shown = 0;
  const say = (text) => {
    status.textContent = text;
  };
  async function poll() {
    timer = null;
    try {
      const url = section.dataset.tail + (section.dataset.tail.includes("?") ? "&" : "?") + "after=" + after;
      const answer = await fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" });
      const data = await answer.json();
      if (!answer.ok) {
        say("The live tail stopped: " + (data.error || answer.status));
        toggle.textContent = "Follow new events";
        return;
      }
      for (const event of data.events || []) {
        body.insertBefore(eventRow(event), body.firstChild);
        shown += 1;
      }
      while (body.rows.length > MAX_ROWS) body.deleteRow(body.rows.length - 1);
      after = Math.max(after, Number(data.next) || 0);
      section.dataset.after = String(after);
      say("Following new events: " + shown + " so far.");
    } catch (error) {
      say("The live tail could not reach the console: " + error);
    }
    if (toggle.dataset.on === "1") timer = setTimeout(poll, POLL_SECONDS * 1000);
  }
  toggle.hidden = false;
  say("Not following new events.");
  toggle.addEventListener("click", () => {
    if (toggle.dataset.on === "1") {
      toggle.dataset.on = "0";
      toggle.textContent = "Follow new events";
      if (timer) clearTimeout(timer);
      timer = null;
      say("Not following new events.");
    } else {
      toggle.dataset.on = "1";
      toggle.textContent = "Stop following";
      say("Following new events: " + shown + " so far.");
      poll();
    }
  });
}

const figure = document.getElementById("histogram");
if (figure) histogram(figure);
const section = document.getElementById("tail");
if (section) tail(section);
