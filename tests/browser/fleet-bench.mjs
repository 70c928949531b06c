// Time to a rendered fleet page, in Debian's chromium (benches/fleet.sh runs this).
//
//   node fleet-bench.mjs RUNS NAME=URL...
//
// Logs in to each console (MANAGER_USER, MANAGER_PASSWORD), then loads /fleet RUNS times per
// console, the consoles interleaved, each load timed from the navigation to the `load` event
// (the page is server-rendered: the table is complete when it loads). Prints one line per
// console: `NAME median_ms min_ms max_ms`. A failed load, a console error or a host shown
// unreachable fails the run.

import { launch, loggedInPage } from './harness.mjs';

const [runsArg, ...targets] = process.argv.slice(2);
const runs = Number(runsArg);
if (!Number.isInteger(runs) || runs < 1 || targets.length === 0) {
  console.error('usage: node fleet-bench.mjs RUNS NAME=URL...');
  process.exit(2);
}
const user = process.env.MANAGER_USER;
const password = process.env.MANAGER_PASSWORD;

const browser = await launch();
let status = 0;
try {
  const consoles = [];
  for (const target of targets) {
    const [name, url] = target.split('=', 2);
    const page = await loggedInPage(browser, name, url, user, password);
    consoles.push({ name, url, page, times: [] });
  }
  for (let run = 0; run < runs; run += 1) {
    for (const c of consoles) {
      const start = performance.now();
      const answer = await c.page.goto(`${c.url}/fleet`, { waitUntil: 'load' });
      const took = performance.now() - start;
      if (!answer || answer.status() !== 200) throw new Error(`${c.name}: /fleet answered ${answer && answer.status()}`);
      const unreachable = await c.page.locator('tbody tr td:nth-child(2)', { hasText: 'no' }).count();
      if (unreachable > 0) throw new Error(`${c.name}: ${unreachable} hosts shown unreachable`);
      c.times.push(took);
    }
  }
  for (const c of consoles) {
    const sorted = [...c.times].sort((a, b) => a - b);
    const median = sorted[Math.floor(sorted.length / 2)];
    const rows = await c.page.locator('tbody tr').count();
    console.log(`${c.name} hosts=${rows} median_ms=${median.toFixed(1)} min_ms=${sorted[0].toFixed(1)} max_ms=${sorted[sorted.length - 1].toFixed(1)}`);
  }
} catch (error) {
  console.error(`FAILED: ${error.stack || error}`);
  status = 1;
} finally {
  await browser.close();
}
process.exit(status);
