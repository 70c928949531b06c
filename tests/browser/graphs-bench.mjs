// Time to a drawn host overview with its graphs, in Debian's chromium (benches/graphs.sh runs
// this).
//
//   node graphs-bench.mjs RUNS NAME=URL/hosts/HOST...
//
// Logs in to each console (MANAGER_USER, MANAGER_PASSWORD), then loads each host page RUNS
// times, the pages interleaved, each timed from the navigation until the four graphs are drawn
// from samples.json (`#graphs[data-points]` set by graphs.js). Prints one line per page:
// `NAME points=N median_ms min_ms max_ms server_median_ms graphs_median_ms`: the whole, the
// server's answer (the overview, rendered from the sampler's data) and the graphs' part (samples.json
// fetched and drawn, after the page's response ended). A failed load or a console error fails the run.

import { launch, loggedInPage } from './harness.mjs';

const [runsArg, ...targets] = process.argv.slice(2);
const runs = Number(runsArg);
if (!Number.isInteger(runs) || runs < 1 || targets.length === 0) {
  console.error('usage: node graphs-bench.mjs RUNS NAME=URL/hosts/HOST...');
  process.exit(2);
}
const user = process.env.MANAGER_USER;
const password = process.env.MANAGER_PASSWORD;

const browser = await launch();
let status = 0;
try {
  const pages = [];
  for (const target of targets) {
    const [name, url] = target.split('=', 2);
    const origin = new URL(url).origin;
    const page = await loggedInPage(browser, name, origin, user, password, {
      viewport: { width: 1280, height: 900 },
    });
    pages.push({ name, url, page, times: [], server: [], graphs: [], points: 0 });
  }
  for (let run = 0; run < runs; run += 1) {
    for (const p of pages) {
      const start = performance.now();
      const answer = await p.page.goto(p.url, { waitUntil: 'load' });
      if (!answer || answer.status() !== 200) throw new Error(`${p.name}: answered ${answer && answer.status()}`);
      await p.page.waitForFunction(() => document.getElementById('graphs')?.dataset.points !== undefined);
      p.times.push(performance.now() - start);
      // The page's own clock: the server's answer (the overview rendered from the sampler's
      // data) and, after the page's response ended, the graphs' fetch of samples.json and
      // their drawing (graphs.js marks `graphs-drawn`).
      const split = await p.page.evaluate(() => {
        const nav = performance.getEntriesByType('navigation')[0];
        const drawn = performance.getEntriesByName('graphs-drawn')[0];
        return { server: nav.responseStart - nav.requestStart, graphs: drawn ? drawn.startTime - nav.responseEnd : NaN };
      });
      p.server.push(split.server);
      p.graphs.push(split.graphs);
      p.points = Number(await p.page.locator('#graphs').getAttribute('data-points'));
    }
  }
  for (const p of pages) {
    const sorted = [...p.times].sort((a, b) => a - b);
    const median = sorted[Math.floor(sorted.length / 2)];
    const mid = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
    console.log(`${p.name} points=${p.points} median_ms=${median.toFixed(1)} min_ms=${sorted[0].toFixed(1)} max_ms=${sorted[sorted.length - 1].toFixed(1)} server_median_ms=${mid(p.server).toFixed(1)} graphs_median_ms=${mid(p.graphs).toFixed(1)}`);
  }
} catch (error) {
  console.error(`FAILED: ${error.stack || error}`);
  status = 1;
} finally {
  await browser.close();
}
process.exit(status);
