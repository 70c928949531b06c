// The management console in Debian's chromium, driven by playwright-core (no browser download).
//
// Started by crates/wsmand-mgmt/tests/browser.rs, which starts the console, its hosts, a booted
// systemd and a process to terminate, and passes them in the environment. What the pages are
// compared with comes from that harness, never from the console: it answers "ASK ..." lines
// written here to stdout on our stdin (`systemctl is-active` and `is-enabled` inside the booted
// system, whether its child process has exited).
//
// The run fails on any console error or page error (Content-Security-Policy violations
// included), any failed request and any answer >= 400 the pages get, besides each check below.

import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { ask, check, env, finish, launch, STEP_TIMEOUT, watch } from './harness.mjs';
import { bulkSteps, configSteps, manageSteps } from './manage.mjs';

const CONSOLE = env('CONSOLE_URL');
const DENIED = env('DENIED_URL');
const ARTIFACTS = env('ARTIFACTS');
const LOCAL = env('LOCAL_HOST');
const SYSTEMD = env('SYSTEMD_HOST');
const UNIT = env('UNIT');
// Win32_Service names a unit as Windows names a service: without the `.service` suffix.
const SERVICE = UNIT.replace(/\.service$/, '');
const VICTIM = env('VICTIM_PID');
const WINDOWS = env('WINDOWS_HOST');
const SHELL = env('SHELL_HOST');
const FIXTURES = env('WINDOWS_FIXTURES');

/// Enable, disable (asked first, as every destructive action) and enable again the unit from
/// the services page, each checked with `systemctl is-enabled` inside the booted systemd:
/// enable is `systemctl enable` (StartMode Auto), disable is `systemctl mask` (Disabled: the
/// unit cannot start, as a Windows service set to Disabled).
async function enableAndDisable(page) {
  const services = `${CONSOLE}/hosts/${SYSTEMD}/services?q=${encodeURIComponent(SERVICE)}`;
  await page.goto(services);
  check(await ask(`is-enabled ${UNIT}`) === 'disabled', `${UNIT} not enabled before the enable`);
  let { row, cells } = await rowCells(page, SERVICE);
  check(cells !== null && cells[3] === 'Manual', `${UNIT} shown Manual (${cells && cells[3]})`);
  await clickAndWait(page, row.locator('button', { hasText: /^enable$/ }));
  check(await page.locator('p.ok').count() === 1, `enable answered: ${await page.locator('main').innerText()}`);
  const enabled = await askUntil(`is-enabled ${UNIT}`, 'enabled');
  check(enabled === 'enabled', `systemctl is-enabled ${UNIT} says ${enabled} after enable`);

  await page.goto(services);
  ({ row, cells } = await rowCells(page, SERVICE));
  check(cells !== null && cells[3] === 'Auto', `${UNIT} shown Auto (${cells && cells[3]})`);
  await clickAndWait(page, row.locator('a', { hasText: /^disable$/ }));
  check(new URL(page.url()).searchParams.get('confirm') === `disable:${SERVICE}`, `disable asks first (${page.url()})`);
  check(await ask(`is-enabled ${UNIT}`) === 'enabled', `${UNIT} still enabled while the disable is being confirmed`);
  ({ row } = await rowCells(page, SERVICE));
  await clickAndWait(page, row.locator('button', { hasText: /^confirm disable$/ }));
  check(await page.locator('p.ok').count() === 1, `disable answered: ${await page.locator('main').innerText()}`);
  const masked = await askUntil(`is-enabled ${UNIT}`, 'masked');
  check(masked === 'masked', `systemctl is-enabled ${UNIT} says ${masked} after disable`);
  await screenshot(page, 'service-disabled');

  await page.goto(services);
  ({ row, cells } = await rowCells(page, SERVICE));
  check(cells !== null && cells[3] === 'Disabled', `${UNIT} shown Disabled (${cells && cells[3]})`);
  await clickAndWait(page, row.locator('button', { hasText: /^enable$/ }));
  check(await page.locator('p.ok').count() === 1, `enable answered: ${await page.locator('main').innerText()}`);
  const again = await askUntil(`is-enabled ${UNIT}`, 'enabled');
  check(again === 'enabled', `systemctl is-enabled ${UNIT} says ${again} after enabling the disabled unit`);
}

/// Ask until the answer is `wanted` (the harness's view of a change the page asked for).
async function askUntil(question, wanted, deadlineMs = 30_000) {
  const start = Date.now();
  let last;
  while (Date.now() - start < deadlineMs) {
    last = await ask(question);
    if (last === wanted) return last;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  return last;
}

let shot = 0;
async function screenshot(page, name) {
  shot += 1;
  const path = join(ARTIFACTS, `${String(shot).padStart(2, '0')}-${name}.png`);
  await page.screenshot({ path, fullPage: true });
  console.log(`screenshot ${path}`);
}

/// The text of each cell of the table row whose first cell is exactly `first`.
async function rowCells(page, first) {
  const row = page.locator('tbody tr').filter({
    has: page.locator('td:first-child', { hasText: new RegExp(`^${first.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`) }),
  });
  const count = await row.count();
  if (count !== 1) return { row, cells: null };
  return { row, cells: (await row.locator('td').allInnerTexts()).map((t) => t.trim()) };
}

async function clickAndWait(page, locator) {
  await Promise.all([page.waitForNavigation({ timeout: STEP_TIMEOUT }), locator.click()]);
}

/// The fleet page once every host has had its first sample (the page is rendered from the
/// sampler's data; its first round runs at start, every 2 s in this test's mgmt.toml): until
/// then a row says it is waiting.
async function fleetSampled(page) {
  const start = Date.now();
  let waiting = '';
  while (Date.now() - start < 30_000) {
    await page.goto(`${CONSOLE}/fleet`);
    waiting = (await page.locator('#count-unsampled strong').innerText()).trim();
    if (waiting === '0') break;
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  check(waiting === '0', `every host had its first sample (waiting: ${waiting})`);
}

/// The fleet's health roll-up: once every host has its first sample, the counts at the top are
/// the rows' own (reachable, unreachable, failed services), each row says how old its figures
/// are, and sorting by CPU or by failed services orders the rows on the server, hosts without
/// a figure (the Windows recording, which has no performance class) last.
async function fleetHealth(page) {
  await fleetSampled(page);
  const rows = await page.locator('table.fleet tbody tr').evaluateAll((trs) =>
    trs.map((tr) => Array.from(tr.querySelectorAll('td')).map((td) => td.innerText.trim())));
  const count = async (id) => Number((await page.locator(`#${id} strong`).innerText()).trim());
  const reachable = rows.filter((cells) => cells[1] !== 'no').length;
  check(await count('count-reachable') === reachable, `reachable count ${await count('count-reachable')} is the rows' ${reachable}`);
  check(await count('count-unreachable') === rows.length - reachable, 'unreachable count is the rows\'');
  const failing = rows.filter((cells) => cells[5] !== 'none' && cells[5] !== '—').length;
  check(await count('count-failing') === failing, `failed-services count ${await count('count-failing')} is the rows' ${failing}`);
  for (const cells of rows) {
    const cpu = cells[7];
    check(cells[0] === WINDOWS ? cpu === '—' : /^\d+\.\d %( high| critical)?$/.test(cpu), `${cells[0]} CPU cell "${cpu}"`);
    const disk = cells[9];
    check(cells[0] === WINDOWS ? disk === '—' : /^\d+\.\d %( high| critical)?$/.test(disk), `${cells[0]} disk free cell "${disk}"`);
    check(/^\d+ (s|min) ago$/.test(cells[10]), `${cells[0]} says how old its figures are: "${cells[10]}"`);
  }
  const figures = async (index) => page.locator('table.fleet tbody tr').evaluateAll((trs, i) =>
    trs.map((tr) => tr.querySelectorAll('td')[i].innerText.trim()), index);
  const numbers = (texts) => texts.map((t) => (t === '—' ? null : parseFloat(t)));
  const ordered = (values, descending) => {
    const known = values.filter((v) => v !== null);
    const sorted = [...known].sort((a, b) => (descending ? b - a : a - b));
    return JSON.stringify(known) === JSON.stringify(sorted) && values.slice(known.length).every((v) => v === null);
  };
  await clickAndWait(page, page.locator('table.fleet thead a', { hasText: /^CPU/ }));
  check(new URL(page.url()).searchParams.get('sort') === 'cpu', `sorted by CPU in the URL (${page.url()})`);
  let cpu = numbers(await figures(7));
  check(ordered(cpu, false), `CPU ascending, unsampled last: ${JSON.stringify(cpu)}`);
  await clickAndWait(page, page.locator('table.fleet thead a', { hasText: /^CPU/ }));
  check(new URL(page.url()).searchParams.get('dir') === 'desc', `CPU again: descending (${page.url()})`);
  cpu = numbers(await figures(7));
  check(ordered(cpu, true), `CPU descending, unsampled last: ${JSON.stringify(cpu)}`);
  await clickAndWait(page, page.locator('table.fleet thead a', { hasText: /^Disk free/ }));
  const disk = numbers(await figures(9));
  check(ordered(disk, false), `disk free ascending: ${JSON.stringify(disk)}`);
  await screenshot(page, 'fleet-health');
  // Only the hosts that need attention (counted over the whole fleet): as many rows as counted.
  // The count is read from the filtered page itself: the fleet is live, so the page before the
  // click may have counted a host whose figures have changed since.
  await clickAndWait(page, page.locator('#attention a'));
  check(new URL(page.url()).searchParams.get('attention') === '1', `only those needing attention (${page.url()})`);
  const needing = Number((await page.locator('#attention').innerText()).match(/\d+/)[0]);
  const shown = await page.locator('table.fleet tbody tr').count();
  check(shown === needing, `${shown} rows shown, ${needing} counted as needing attention`);
}

/// A host's overview draws its four graphs from the sampled points (uPlot canvases), and the
/// live update adds the sampler's next point without a reload.
async function hostGraphs(page) {
  await page.goto(`${CONSOLE}/hosts/${LOCAL}`);
  await page.waitForFunction(() => Number(document.getElementById('graphs')?.dataset.points) >= 1, null, { timeout: STEP_TIMEOUT });
  for (const series of ['cpu', 'memory', 'disk_free', 'network']) {
    const figure = page.locator(`figure.graph[data-series="${series}"]`);
    check(await figure.locator('canvas').count() === 1, `the ${series} graph is drawn on a canvas`);
    const box = await figure.locator('canvas').boundingBox();
    check(box !== null && box.width > 100 && box.height > 50, `the ${series} canvas has a size (${JSON.stringify(box)})`);
  }
  const points = async (series) => Number(await page.locator(`figure.graph[data-series="${series}"]`).getAttribute('data-points'));
  const before = await points('cpu');
  check(before >= 1, `the CPU graph has sampled points (${before})`);
  check(await points('memory') >= 1 && await points('disk_free') >= 1, 'the memory and disk graphs have sampled points');
  // The newest sample as the page's table (no script needed) has the same figures.
  const shown = (await page.locator('table.latest tr[data-series="memory"] td').innerText()).trim();
  check(/^\d+\.\d %$/.test(shown), `the newest memory figure "${shown}"`);
  await screenshot(page, 'overview-graphs');
  // Live: the page polls samples.json; the sampler's next round adds a point.
  await page.waitForFunction((n) => Number(document.querySelector('figure.graph[data-series="cpu"]').dataset.points) > n,
    before, { timeout: STEP_TIMEOUT });
  check(await points('cpu') > before, `the live update added a point (${before} -> ${await points('cpu')})`);
  // The network graph needs two samples (a rate of the raw counter): there by now.
  check(await points('network') >= 1, `the network graph has a rate (${await points('network')})`);
  await page.goto(`${CONSOLE}/fleet`);
}

/// A host page with one sample (a console sampling once an hour): the time axis is the last
/// minutes up to now, its labels times of today, and the count says "1 sample".
async function oneSampleGraphs(browser) {
  const context = await browser.newContext({ ignoreHTTPSErrors: true });
  context.setDefaultTimeout(STEP_TIMEOUT);
  const page = await context.newPage();
  watch(page, 'one-sample console');
  const url = env('ONE_SAMPLE_URL');
  await page.goto(`${url}/login`);
  await page.fill('input[name=user]', env('MANAGER_USER'));
  await page.fill('input[name=password]', env('MANAGER_PASSWORD'));
  await clickAndWait(page, page.locator('form.login button[type=submit]'));
  await page.goto(`${url}/hosts/${LOCAL}`);
  await page.waitForFunction(() => document.getElementById('graphs')?.dataset.points === '1', null, { timeout: STEP_TIMEOUT });
  const status = (await page.locator('#figures-status').innerText()).trim();
  check(status === '1 sample of the last hour, one every 3600 s (live).', `one sample's status "${status}"`);
  await page.waitForFunction(() => document.querySelector('figure.graph[data-series="cpu"]')?.dataset.timeLabels, null, { timeout: STEP_TIMEOUT });
  const now = Date.now() / 1000;
  for (const series of ['cpu', 'memory', 'disk_free']) {
    const figure = page.locator(`figure.graph[data-series="${series}"]`);
    const from = Number(await figure.getAttribute('data-time-from'));
    const to = Number(await figure.getAttribute('data-time-to'));
    check(Math.abs(to - now) < 120 && to - from >= 240 && to - from <= 3600,
      `the ${series} time axis ends now and spans minutes: ${new Date(from * 1000).toISOString()} to ${new Date(to * 1000).toISOString()}`);
    const labels = (await figure.getAttribute('data-time-labels')).split(' ').filter((l) => l !== '');
    check(labels.length >= 2, `the ${series} time axis has labels (${labels.join(', ')})`);
    for (const label of labels) {
      const match = /^(\d\d):(\d\d)$/.exec(label);
      // The label as a time of today (local time, as the page draws it).
      const today = new Date();
      if (match) today.setHours(Number(match[1]), Number(match[2]), 0, 0);
      let at = today.getTime() / 1000;
      // Just after midnight the axis' first minutes are yesterday's.
      if (at > to + 60) at -= 86400;
      check(match !== null && at >= from - 60 && at <= to + 60,
        `the ${series} time label "${label}" is a time of today on the axis (${labels.join(', ')})`);
    }
  }
  await screenshot(page, 'overview-one-sample');
  await context.close();
}

/// The Windows recording's overview: reachable, and its figures are what the recorded answers
/// give: the recorded fault (the recordings hold no performance class), no point.
async function windowsFigures(page) {
  await page.goto(`${CONSOLE}/hosts/${WINDOWS}`);
  const status = (await page.locator('#figures-status').innerText()).trim();
  check(status === 'The host answered, but gave none of the figures.', `the Windows figures' status "${status}"`);
  const recorded = /<f:Message>([^<]+)<\/f:Message>/.exec(readFileSync(join(FIXTURES, 'faults/fault.enumerate-class-not-found.xml'), 'utf8'))[1].trim();
  const note = await page.locator('section.figures').innerText();
  check(note.includes(recorded), `the Windows figures say the recorded fault "${recorded}"`);
  await page.waitForFunction(() => document.getElementById('graphs')?.dataset.points === '0', null, { timeout: STEP_TIMEOUT });
  check(await page.locator('figure.graph[data-series="cpu"]').getAttribute('data-points') === '0', 'no point drawn for the Windows recording');
}

const browser = await launch();
let failed = false;
try {
  // A fresh context is a fresh profile: no cookies, no cache. The certificate is the console's
  // self-signed one.
  const context = await browser.newContext({ ignoreHTTPSErrors: true });
  context.setDefaultTimeout(STEP_TIMEOUT);
  const page = await context.newPage();
  watch(page, 'console');

  // Log in through the form.
  await page.goto(`${CONSOLE}/login`);
  await screenshot(page, 'login');
  await page.fill('input[name=user]', env('MANAGER_USER'));
  await page.fill('input[name=password]', env('MANAGER_PASSWORD'));
  await clickAndWait(page, page.locator('form.login button[type=submit]'));
  check(new URL(page.url()).pathname === '/fleet', `logged in, at ${page.url()}`);

  // A host page with one sample, on the console sampling once an hour.
  await oneSampleGraphs(browser);

  // The fleet: both hosts reachable, with the operating system the OS reports.
  await fleetSampled(page);
  const expectedOs = `${env('EXPECT_OS')} ${env('EXPECT_KERNEL')}`;
  for (const host of [LOCAL, SYSTEMD]) {
    const { cells } = await rowCells(page, host);
    check(cells !== null, `fleet lists ${host} once`);
    check(cells[1] === 'yes', `${host} reachable (${cells[1]}; note: ${cells[6]})`);
    check(cells[2] === expectedOs, `${host} OS "${cells[2]}" is "${expectedOs}"`);
  }
  // The systemd host's failed services are the units systemctl lists as failed.
  const failedUnits = await ask('failed-units');
  const { cells: systemdCells } = await rowCells(page, SYSTEMD);
  const expectedFailed = failedUnits === '' ? 'none' : failedUnits.split(' ').join(', ');
  check(systemdCells[5] === expectedFailed, `${SYSTEMD} failed services "${systemdCells[5]}" are systemctl's "${expectedFailed}"`);
  await screenshot(page, 'fleet');
  await fleetHealth(page);
  await hostGraphs(page);

  // The systemd host: overview, then services.
  await clickAndWait(page, page.locator(`a[href="/hosts/${SYSTEMD}"]`).first());
  await screenshot(page, 'overview');
  await clickAndWait(page, page.locator('nav a', { hasText: 'Services' }));
  await screenshot(page, 'services');
  // The table is paged on the server: search for the unit's row (a GET form, no script).
  await page.locator('form.search input[name="q"]').fill(SERVICE);
  await clickAndWait(page, page.locator('form.search button'));
  check(new URL(page.url()).searchParams.get('q') === SERVICE, `the search is in the URL (${page.url()})`);
  check(await ask(`is-active ${UNIT}`) === 'active', `${UNIT} active before the stop`);
  let { row, cells } = await rowCells(page, SERVICE);
  const listed = cells === null ? ` (listed: ${(await page.locator('tbody tr td:first-child').allInnerTexts()).join(' ')})` : '';
  check(cells !== null, `services page lists ${SERVICE}${listed}`);
  check(cells[2] === 'Running', `${UNIT} shown Running (${cells[2]})`);

  // Stop it (a destructive action: the link asks first, in the row), and see systemd stop it.
  await clickAndWait(page, row.locator('a', { hasText: /^stop$/ }));
  check(new URL(page.url()).searchParams.get('confirm') === `stop:${SERVICE}`, `stop asks first (${page.url()})`);
  check(await ask(`is-active ${UNIT}`) === 'active', `${UNIT} still active while the stop is being confirmed`);
  ({ row } = await rowCells(page, SERVICE));
  await clickAndWait(page, row.locator('button', { hasText: /^confirm stop$/ }));
  check(await page.locator('p.ok').count() === 1, `stop answered: ${await page.locator('main').innerText()}`);
  await screenshot(page, 'service-stopped');
  const stopped = await askUntil(`is-active ${UNIT}`, 'inactive');
  check(stopped === 'inactive', `systemctl is-active ${UNIT} says ${stopped} after stop`);

  // Back on the services page it is shown stopped; start it, and see systemd start it.
  await clickAndWait(page, page.locator('a', { hasText: 'Back' }));
  ({ row, cells } = await rowCells(page, SERVICE));
  check(cells !== null && cells[2] === 'Stopped', `${UNIT} shown Stopped (${cells && cells[2]})`);
  await clickAndWait(page, row.locator('button', { hasText: /^start$/ }));
  check(await page.locator('p.ok').count() === 1, `start answered: ${await page.locator('main').innerText()}`);
  const started = await askUntil(`is-active ${UNIT}`, 'active');
  check(started === 'active', `systemctl is-active ${UNIT} says ${started} after start`);
  await screenshot(page, 'service-started');
  await enableAndDisable(page);

  // Each service links to its own log: the events page filtered on its source.
  await page.goto(`${CONSOLE}/hosts/${SYSTEMD}/services?q=${encodeURIComponent(SERVICE)}`);
  ({ row } = await rowCells(page, SERVICE));
  await clickAndWait(page, row.locator('a.log'));
  const logUrl = new URL(page.url());
  check(logUrl.pathname === `/hosts/${SYSTEMD}/events` && logUrl.searchParams.get('source') === SERVICE,
    `the service's log link opens its events (${page.url()})`);
  check(await page.locator('form.filter input[name="source"]').inputValue() === SERVICE,
    'the events filter shows the service as the source');
  const logAnswer = await page.locator('p.pager, p.empty').count();
  check(logAnswer > 0, `the service's log says what it found: ${await page.locator('main').innerText()}`);

  // The other pages of the systemd host render without errors.
  for (const [label, name] of [['Events', 'events'], ['Configuration', 'config']]) {
    await page.goto(`${CONSOLE}/hosts/${SYSTEMD}`);
    // The host's tabs (the header has an Events page of its own).
    await clickAndWait(page, page.locator('nav[aria-label="Host"] a', { hasText: label }));
    check((await page.locator('h1').innerText()).startsWith(SYSTEMD), `${name} page of ${SYSTEMD}`);
    await screenshot(page, name);
  }

  // The events page's live stream: an entry logged in the booted system after the page
  // subscribed arrives as a row, its message as text (the markup in it is not rendered).
  await page.goto(`${CONSOLE}/hosts/${SYSTEMD}/events`);
  await page.waitForFunction(() => document.getElementById('live-status')?.textContent.startsWith('live:'),
    null, { timeout: STEP_TIMEOUT });
  const logged = await ask('log-entry');
  const liveRow = page.locator('#live-events tr.live-event').filter({ hasText: logged });
  await liveRow.first().waitFor({ timeout: STEP_TIMEOUT });
  const liveCells = (await liveRow.first().locator('td').allInnerTexts()).map((t) => t.trim());
  check(liveCells[6] === logged && liveCells[3] === 'console-browser' && liveCells[4] === 'Error',
    `the live stream shows the logged entry as text (${JSON.stringify(liveCells)})`);
  check(await page.locator('#live-events b').count() === 0, 'no markup from the host was rendered');
  await screenshot(page, 'events-live');
  // The records filtered on the host by source and level (a GET form, no script).
  await page.locator('form.filter input[name="source"]').fill('console-browser');
  await page.locator('form.filter select[name="level"]').selectOption('Error');
  await clickAndWait(page, page.locator('form.filter button'));
  const filterUrl = new URL(page.url());
  check(filterUrl.searchParams.get('source') === 'console-browser' && filterUrl.searchParams.get('level') === 'Error',
    `the filter is in the URL (${page.url()})`);
  const filtered = page.locator('main > table tbody tr');
  const filteredRows = await filtered.count();
  const filteredSources = await filtered.locator('td:nth-child(4)').allInnerTexts();
  const filteredMessages = await filtered.locator('td:nth-child(7)').allInnerTexts();
  check(filteredRows > 0 && filteredSources.every((s) => s.trim() === 'console-browser'),
    `only console-browser's records are shown (${JSON.stringify(filteredSources)})`);
  check(filteredMessages.some((m) => m.trim() === logged), `the logged entry is among them (${JSON.stringify(filteredMessages)})`);
  await screenshot(page, 'events-filtered');

  // Processes of the local host: terminate the test's process, which the harness reaps.
  // The table sorts by a heading's link, both ways, and pages on the server.
  await page.goto(`${CONSOLE}/hosts/${LOCAL}/processes`);
  await clickAndWait(page, page.locator('thead a', { hasText: /^PID/ }));
  const ascending = (await page.locator('tbody tr td:first-child').allInnerTexts()).map(Number);
  check(ascending.length > 1 && ascending.every((pid, i) => i === 0 || ascending[i - 1] < pid),
    `sorted by PID ascending (${ascending.slice(0, 5).join(' ')} ...)`);
  await clickAndWait(page, page.locator('thead a', { hasText: /^PID/ }));
  check(new URL(page.url()).searchParams.get('dir') === 'desc', `the PID heading again sorts descending (${page.url()})`);
  const pager = await page.locator('p.pager').innerText();
  check(/processes · page 1 of \d+/.test(pager), `the pager counts the rows (${pager})`);
  await page.goto(`${CONSOLE}/hosts/${LOCAL}/processes?q=sleep&sort=pid&dir=desc`);
  ({ row, cells } = await rowCells(page, VICTIM));
  check(cells !== null && cells[1] === 'sleep', `processes page lists pid ${VICTIM} as sleep`);
  await screenshot(page, 'processes');
  await clickAndWait(page, row.locator('a', { hasText: /^terminate$/ }));
  check((await ask('victim-state')) === 'running', `the test's process lives while the terminate is being confirmed`);
  ({ row } = await rowCells(page, VICTIM));
  await clickAndWait(page, row.locator('button', { hasText: /^confirm terminate$/ }));
  check(await page.locator('p.ok').count() === 1, `terminate answered: ${await page.locator('main').innerText()}`);
  await screenshot(page, 'process-terminated');
  const gone = await ask('victim-exited');
  check(gone.startsWith('exited'), `the test's process ${VICTIM}: ${gone}`);

  // A Windows host answering with recorded Windows responses: reachable, its processes and
  // its winrm/config as the recordings have them (read here from the same files).
  await page.goto(`${CONSOLE}/fleet`);
  ({ cells } = await rowCells(page, WINDOWS));
  check(cells !== null && cells[1] === 'yes', `${WINDOWS} reachable (${cells && cells[1]}; note: ${cells && cells[6]})`);
  await windowsFigures(page);
  const recordedProcesses = ['enumerate/enumerate-wmi-win32_process.response.xml', 'enumerate/pull-wmi-win32_process.response.xml']
    .flatMap((file) => readFileSync(join(FIXTURES, file), 'utf8').split('<p:Win32_Process ').slice(1))
    .map((item) => `${/<p:Handle>([^<]*)</.exec(item)[1]} ${/<p:Name>([^<]*)</.exec(item)[1]}`)
    .sort();
  await page.goto(`${CONSOLE}/hosts/${WINDOWS}/processes`);
  const shownProcesses = [];
  for (const tr of await page.locator('tbody tr').all()) {
    const [pid, name] = await tr.locator('td').allInnerTexts();
    shownProcesses.push(`${pid.trim()} ${name.trim()}`);
  }
  shownProcesses.sort();
  check(recordedProcesses.length > 0 && JSON.stringify(shownProcesses) === JSON.stringify(recordedProcesses),
    `${WINDOWS} processes are the recording's ${recordedProcesses.length} (${shownProcesses.join(', ')})`);
  await screenshot(page, 'windows-processes');
  const recordedConfig = readFileSync(join(FIXTURES, 'config/get-config.response.xml'), 'utf8');
  const envelope = /<cfg:MaxEnvelopeSizekb>([^<]*)</.exec(recordedConfig)[1];
  await page.goto(`${CONSOLE}/hosts/${WINDOWS}/config`);
  const configRows = await page.locator('tbody tr').all();
  let shownEnvelope = null;
  for (const tr of configRows) {
    const [path, value] = await tr.locator('td').allInnerTexts();
    if (path.trim().endsWith('MaxEnvelopeSizekb')) shownEnvelope = value.trim();
  }
  check(shownEnvelope === envelope, `${WINDOWS} MaxEnvelopeSizekb ${shownEnvelope} is the recording's ${envelope}`);
  await screenshot(page, 'windows-config');

  // The terminal: typed with the keyboard into xterm.js, the shell's answer read from the rows
  // xterm.js rendered (its DOM renderer). 42 is in no key pressed: the shell computed it.
  await page.goto(`${CONSOLE}/hosts/${SHELL}/terminal`);
  await page.waitForFunction(() => document.getElementById('terminal-status')?.textContent === 'connected',
    null, { timeout: STEP_TIMEOUT });
  await page.locator('#terminal .xterm-screen').click();
  await page.keyboard.type('echo $((6*7))');
  await page.keyboard.press('Enter');
  const rows = () => page.locator('#terminal .xterm-rows > div').allInnerTexts();
  const deadline = Date.now() + STEP_TIMEOUT;
  let shown = await rows();
  while (!shown.some((row) => row.trim() === '42') && Date.now() < deadline) {
    await page.waitForTimeout(100);
    shown = await rows();
  }
  check(shown.some((row) => row.trim() === '42'), `the terminal shows 42 (rows: ${JSON.stringify(shown.filter((r) => r.trim()))})`);
  check(shown.some((row) => row.includes('echo $((6*7))')), 'the terminal echoes what was typed');
  await screenshot(page, 'terminal');

  // The manager pages (manage.mjs): hosts and roles changed without a restart.
  await manageSteps(context, { console: CONSOLE, env, screenshot, rowCells, clickAndWait });
  await configSteps(context, { console: CONSOLE, host: LOCAL, screenshot, clickAndWait });
  await bulkSteps(context, { console: CONSOLE, hosts: [LOCAL, SYSTEMD], screenshot, clickAndWait });

  // The audit trail shows the actions.
  await clickAndWait(page, page.locator('header a', { hasText: 'Audit' }));
  const audit = await page.locator('tbody').innerText();
  check(audit.includes(SERVICE) && audit.includes(VICTIM), 'audit page shows the service and the process actions');
  await screenshot(page, 'audit');

  // An error page keeps the header: back to the fleet, log out. Its page is not watched:
  // the 404 is the expected outcome.
  const lost = await page.context().newPage();
  const lostAnswer = await lost.goto(`${CONSOLE}/hosts/no-such-host`);
  check(lostAnswer.status() === 404, `an unknown host answers 404 (${lostAnswer.status()})`);
  check(await lost.locator('form.logout button').count() === 1, 'the error page keeps Log out');
  await screenshot(lost, 'not-found');
  await clickAndWait(lost, lost.locator('header nav a', { hasText: 'Fleet' }));
  check(new URL(lost.url()).pathname === '/fleet', `the error page's header leads back to the fleet (${lost.url()})`);
  await lost.close();

  // Log out: back to the login form, and the old session no longer opens the fleet.
  await clickAndWait(page, page.locator('form.logout button'));
  check(new URL(page.url()).pathname === '/login', `logged out, at ${page.url()}`);
  await page.goto(`${CONSOLE}/fleet`);
  check(new URL(page.url()).pathname === '/login', 'the fleet needs a new login after logout');
  await screenshot(page, 'logged-out');

  // A console that denies 127.0.0.1 closes the connection before TLS: the navigation fails.
  // Its page is not watched: the failed request is the expected outcome.
  const refused = await (await browser.newContext({ ignoreHTTPSErrors: true })).newPage();
  let navigation = null;
  try {
    await refused.goto(`${DENIED}/login`, { timeout: STEP_TIMEOUT });
  } catch (error) {
    navigation = error.message;
  }
  check(navigation !== null && /ERR_CONNECTION_(RESET|CLOSED|REFUSED)|ERR_EMPTY_RESPONSE|ERR_SSL_PROTOCOL_ERROR/.test(navigation),
    `the denying console refused the browser: ${navigation && navigation.split('\n')[0]}`);
} catch (error) {
  failed = true;
  console.log(`FAILED: ${error.stack || error}`);
} finally {
  await browser.close();
}
finish(failed, 'browser run', ARTIFACTS);
