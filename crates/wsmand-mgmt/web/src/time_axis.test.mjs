// `node --test crates/wsmand-mgmt/web/src/`: the graphs' time axis without a browser.
import { test } from "node:test";
import assert from "node:assert/strict";

import { clock, SHORTEST, timeRange } from "./time_axis.js";

const now = 1_800_000_000;

test("one sample: the last minutes, ending now", () => {
  assert.deepEqual(timeRange([now - 2], now), [now - SHORTEST, now]);
});

test("no sample: the last minutes all the same", () => {
  assert.deepEqual(timeRange([], now), [now - SHORTEST, now]);
});

test("an hour of samples: from the oldest to now", () => {
  assert.deepEqual(timeRange([now - 3590, now - 1800, now - 10], now), [now - 3590, now]);
});

test("a host clock ahead of the browser's: up to its newest sample", () => {
  assert.deepEqual(timeRange([now + 30], now), [now + 30 - SHORTEST, now + 30]);
});

test("labels are the local time of day, HH:MM", () => {
  const at = new Date(2026, 10, 25, 7, 5, 42).getTime() / 1000;
  assert.equal(clock(at), "07:05");
  assert.equal(clock(new Date(2026, 10, 25, 23, 59, 0).getTime() / 1000), "23:59");
});
