// The graphs' time axis (graphs.js): its range and its labels. No DOM here, so that
// time_axis.test.mjs runs it under node.

// The shortest time axis: a graph with one sample (or a few) shows the last minutes up to
// now, not the years uPlot's automatic range spreads one point over.
export const SHORTEST = 5 * 60;
// The time axis ticks on whole minutes, labelled HH:MM in the browser's time zone.
export const MINUTE_STEPS = [60, 120, 300, 600, 900, 1200, 1800, 3600];

// The time axis' range in seconds, from the samples' times (ascending): from the oldest
// (or SHORTEST before the end, whichever is earlier) to now (or the newest sample, if the
// host's clock is ahead). From the times themselves: for one sample uPlot offers a range
// of its own, a day of milliseconds read as seconds (years).
export function timeRange(times, now) {
  const newest = times.length ? times[times.length - 1] : now;
  const end = Math.max(now, newest);
  const start = Math.min(times.length ? times[0] : end, end - SHORTEST);
  return [start, end];
}

function two(n) {
  return String(n).padStart(2, "0");
}

export function clock(seconds) {
  const date = new Date(seconds * 1000);
  return two(date.getHours()) + ":" + two(date.getMinutes());
}
