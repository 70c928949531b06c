// The Events page (one search over the collector's event store) in Debian's chromium, driven
// by playwright-core, as an administrator (every host) and as a viewer whose role allows one
// host: the filters, paging, the histogram drawn by uPlot, one event's full XML, a view saved
// by the administrator and opened by the viewer, the live tail, and axe-core on each page.
//
// Started by crates/wsmand-mgmt/tests/browser_events.rs, which starts the collector, fills it
// with real forwarded events (TAGGED entries of TAG from a Linux forwarder, the Windows
// fixtures' events) and answers "ASK log-entry" with the message of a new journal entry.

import { join } from 'node:path';
import { ask, axe as axeRun, check, env, finish, launch, problems, STEP_TIMEOUT, watchedLogin } from './harness.mjs';

/// axe-core on the page (a serious or critical violation fails the run), its count said.
async function axe(page, label) {
  const found = await axeRun(page, label);
  console.log(`axe: ${label}: ${found} violation(s) of any impact`);
}

const CONSOLE = env('CONSOLE_URL');
const ARTIFACTS = env('ARTIFACTS');
const LINUX = env('LINUX_HOST');
const WINDOWS = env('WINDOWS_HOST');
const TAG = env('TAG');
const TAGGED = Number(env('TAGGED'));
const WINDOWS_RECORD = env('WINDOWS_RECORD');
const VIEW = 'Linux errors';
// Where the screenshot the docs show goes (docs/images with WSMAN_DOCS_SCREENSHOTS=1).
const DOCS_IMAGES = env('DOCS_IMAGES');

let expectedStatus = 0;

function login(browser, user, password) {
  return watchedLogin(browser, CONSOLE, user, password, () => expectedStatus);
}

/// The results table's rows: [id, time, host, channel, level, event id, provider, message].
async function rows(page) {
  return page.$$eval('#results tr', (trs) => trs.map((tr) => [tr.dataset.id, ...Array.from(tr.cells).slice(0, 7).map((td) => td.textContent)]));
}

/// Waits for the histogram to be drawn; returns [buckets drawn, their sum, the page's total].
async function histogram(page) {
  await page.waitForFunction(() => document.getElementById('histogram')?.dataset.drawnTotal !== undefined, null, { timeout: STEP_TIMEOUT });
  return page.$eval('#histogram', (f) => [Number(f.dataset.drawnBuckets), Number(f.dataset.drawnTotal), Number(f.dataset.total)]);
}

async function open(page, query) {
  const answer = await page.goto(`${CONSOLE}/events${query ? `?${query}` : ''}`);
  check(answer.status() === 200, `/events?${query} answered 200`);
}

async function shot(page, name) {
  await page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });
}

/// The administrator: the filters through the form, paging, the histogram, the full XML, a
/// saved view, the live tail. Returns the Windows event's store id.
async function administrator(page) {
  // The fleet says why many hosts in one console are safe; a host links to its events.
  check((await page.textContent('#fleet-safety')).includes('loads no code from hosts'), 'the fleet says why many hosts are safe');
  await page.goto(`${CONSOLE}/hosts/${LINUX}`);
  await Promise.all([page.waitForNavigation(), page.click('#stored-events')]);
  check(new URL(page.url()).search === `?hosts=${encodeURIComponent(LINUX)}`, 'a host page links to its stored events');
  const linuxRows = await rows(page);
  check(linuxRows.length > 0 && linuxRows.every((r) => r[2] === LINUX), `the host's link shows its events only (${linuxRows.length})`);

  // The filters, typed into the form: the test's tag, newest first, paged by 50.
  await open(page, '');
  await page.fill('input[name=provider]', TAG);
  await Promise.all([page.waitForNavigation(), page.click('#search button[type=submit]')]);
  const [buckets, drawn, total] = await histogram(page);
  check(total === TAGGED && drawn === TAGGED && buckets >= 1, `the histogram counts the ${TAGGED} tagged entries (${drawn} drawn in ${buckets} buckets)`);
  await shot(page, 'admin-tagged');
  await page.screenshot({ path: join(DOCS_IMAGES, 'console-events-search.png') });
  const first = await rows(page);
  check(first.length === 50 && first.every((r) => r[6] === TAG), `page 1: 50 events of ${TAG}`);
  const times = first.map((r) => r[1]);
  check(times.every((t, i) => i === 0 || t <= times[i - 1]), 'newest first');
  await Promise.all([page.waitForNavigation(), page.click('#results-pager a[rel=next]')]);
  const second = await rows(page);
  check(second.length === TAGGED - 50, `page 2: the other ${TAGGED - 50}`);
  check(!second.some((r) => first.some((f) => f[0] === r[0])), 'no event on both pages');
  check(second[0][1] <= times[times.length - 1], 'page 2 is older than page 1');

  await page.selectOption('select[name=level]', 'Error');
  await Promise.all([page.waitForNavigation(), page.click('#search button[type=submit]')]);
  const errors = await rows(page);
  check(errors.length === TAGGED / 3 && errors.every((r) => r[4] === 'Error'), `level Error: the ${TAGGED / 3} logged with user.err`);

  // Each entry's message is "stored entry kNz": the word k7z begins a word of one only.
  await open(page, `provider=${encodeURIComponent(TAG)}&text=${encodeURIComponent('stored k7z')}`);
  const text = await rows(page);
  check(text.length === 1 && text[0][7] === 'stored entry k7z', `the text search finds the one entry (${text.length})`);
  await open(page, `provider=${encodeURIComponent(TAG)}&from=2100-01-01T00:00`);
  check((await rows(page)).length === 0 && (await page.textContent('main')).includes('No event matches'), 'a time range after every event matches none');

  // Windows events: by host, channel and event ID.
  await open(page, `hosts=${encodeURIComponent(WINDOWS)}`);
  const windows = await rows(page);
  check(windows.length > 0 && windows.every((r) => r[2] === WINDOWS), `the Windows host's events (${windows.length})`);
  await open(page, `hosts=group%3Awindows&channel=Security&eventid=4624`);
  const logons = await rows(page);
  check(logons.length >= 1 && logons.every((r) => r[5] === '4624' && r[3] === 'Security' && r[2] === WINDOWS), 'group, channel and event ID');
  await axe(page, 'events (administrator)');

  // One event's full XML, as the forwarder sent it.
  await Promise.all([page.waitForNavigation(), page.click(`#results tr[data-id="${logons[0][0]}"] a`)]);
  const xml = await page.textContent('#event-xml');
  const whole = xml.includes(`<EventRecordID>${WINDOWS_RECORD}</EventRecordID>`) && xml.includes(`<Computer>${WINDOWS}</Computer>`);
  check(whole, whole ? 'the full XML of the 4624 event' : `the full XML of the 4624 event, not: ${xml.slice(0, 600)}`);
  await axe(page, 'stored event');
  await shot(page, 'admin-xml');
  const windowsId = logons[0][0];

  // A saved view, shared with the other users.
  await open(page, `provider=${encodeURIComponent(TAG)}&level=Error`);
  await page.fill('input[name=name]', VIEW);
  await Promise.all([page.waitForNavigation(), page.click('form.save button[type=submit]')]);
  check((await page.textContent('main')).includes(`Saved the view “${VIEW}”`), 'the view is saved');
  check(await page.isVisible(`ul.views a:text-is("${VIEW}")`), 'and listed');

  // The live tail: an entry written after the page opened appears, as text.
  await open(page, `provider=${encodeURIComponent(TAG)}`);
  await page.click('#tail-toggle');
  const message = await ask('log-entry');
  await page.waitForFunction((m) => Array.from(document.querySelectorAll('#tail-events tr td')).some((td) => td.textContent === m), message, { timeout: STEP_TIMEOUT });
  check(await page.$('#tail-events b') === null, 'the tail shows the entry, its markup as text');
  await axe(page, 'events with the live tail');
  await shot(page, 'admin-tail');
  return windowsId;
}

/// The viewer whose role allows one host: only its events, the other host's refused, the
/// administrator's view opened, their own view saved and deleted.
async function viewer(page, windowsId) {
  await open(page, '');
  const seen = await rows(page);
  check(seen.length > 0 && seen.every((r) => r[2] === LINUX), `the viewer sees ${LINUX}'s events only (${seen.length})`);
  const [, drawn, total] = await histogram(page);
  check(drawn === total, `the viewer's histogram (${total})`);
  await axe(page, 'events (viewer)');
  await shot(page, 'viewer');

  await open(page, `hosts=${encodeURIComponent(WINDOWS)}`);
  const main = await page.textContent('main');
  check(main.includes('no host or group of hosts whose events you may read') && (await rows(page)).length === 0, 'a host the viewer may not read is refused, nothing shown');
  expectedStatus = 404;
  const refused = await page.goto(`${CONSOLE}/events/stored/${windowsId}`);
  check(refused.status() === 404, "the Windows event's XML is not the viewer's (404)");
  expectedStatus = 0;

  await open(page, '');
  check(await page.$(`button[aria-label="Delete the view ${VIEW}"]`) === null, "another's view has no delete button");
  await Promise.all([page.waitForNavigation(), page.click(`ul.views a:text-is("${VIEW}")`)]);
  const viewed = await rows(page);
  check(viewed.length === TAGGED / 3 && viewed.every((r) => r[4] === 'Error' && r[6] === TAG), "the administrator's view, opened by the viewer");

  await page.fill('input[name=name]', 'Mine');
  await Promise.all([page.waitForNavigation(), page.click('form.save button[type=submit]')]);
  await Promise.all([page.waitForNavigation(), page.click('button[aria-label="Delete the view Mine"]')]);
  check((await page.textContent('main')).includes('Deleted the view “Mine”'), 'the viewer deletes their own view');
}

const browser = await launch();
let failed = false;
try {
  const admin = await login(browser, env('ADMIN_USER'), env('ADMIN_PASSWORD'));
  const windowsId = await administrator(admin);
  const other = await login(browser, env('VIEWER_USER'), env('VIEWER_PASSWORD'));
  await viewer(other, windowsId);
  // The administrator (a manager) deletes the shared view.
  await open(admin, '');
  await Promise.all([admin.waitForNavigation(), admin.click(`button[aria-label="Delete the view ${VIEW}"]`)]);
  check((await admin.textContent('main')).includes(`Deleted the view “${VIEW}”`), 'a manager deletes the shared view');
} catch (error) {
  failed = true;
  console.log(`FAILED: ${error.stack || error}`);
} finally {
  await browser.close();
}
if (problems.length) failed = true;
finish(failed, 'the Events page run', ARTIFACTS);
