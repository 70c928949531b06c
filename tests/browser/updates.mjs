// The Updates page in Debian's chromium, driven by playwright-core, over a fleet of HOSTS host
// entries on a real PackageKit (the dummy backend: three updates, one security, a kernel that
// needs a reboot) and WINDOWS_HOSTS Windows-shaped entries (winNNN: Windows' recorded Identify
// and Win32_OperatingSystem, and MSFT_WU answers built from Microsoft's documentation, served by
// windows-replay.mjs --updates): the table paged and searched, a scan of every host matching a
// search through the form, the counts on the page and the fleet's, the Windows hosts found by
// their operating system and scanned, an install of all updates on three hosts ticked with a
// canary first, a viewer refused (403), and axe-core on each page. It also takes the
// screenshots the docs show (DOCS_IMAGES).
//
// Started by crates/wsmand-mgmt/tests/browser_updates.rs, which starts the daemon, PackageKit,
// the Windows-shaped responder and the console.

import { join } from 'node:path';
import { axe as axeRun, check, env, finish, launch, problems, watchedLogin } from './harness.mjs';

const CONSOLE = env('CONSOLE_URL');
const ARTIFACTS = env('ARTIFACTS');
const DOCS_IMAGES = env('DOCS_IMAGES');
const HOSTS = Number(env('HOSTS'));
const WINDOWS_HOSTS = Number(env('WINDOWS_HOSTS'));
/// How long the sampler may take to read every host's operating system once.
const SAMPLE_TIMEOUT = 90_000;
/// How long a job may take (a scan of ten hosts, or an install, on one PackageKit).
const JOB_TIMEOUT = 300_000;

let expectedStatus = 0;

async function axe(page, label) {
  const found = await axeRun(page, label);
  console.log(`axe: ${label}: ${found} violation(s) of any impact`);
}

function login(browser, user, password) {
  return watchedLogin(browser, CONSOLE, user, password, () => expectedStatus);
}

/// The table's rows: [host, os, pending, security, reboot, last scan, last install, now].
async function rows(page) {
  return page.$$eval('table.updates tbody tr', (trs) => trs.map((tr) => Array.from(tr.cells).slice(1).map((td) => td.textContent.trim())));
}

/// Waits on the job's page (reloaded without its Refresh) until every host has finished.
async function finished(page) {
  const job = new URL(page.url()).pathname;
  check(/^\/bulk\/\d+$/.test(job), `the action went to its job's page (${job})`);
  const started = Date.now();
  for (;;) {
    await page.goto(`${CONSOLE}${job}?static=1`);
    const state = await page.textContent('#job-state');
    const [done, of] = state.match(/(\d+) of (\d+)/).slice(1).map(Number);
    if (done === of) return job;
    if (Date.now() - started > JOB_TIMEOUT) throw new Error(`job ${job} not finished: ${state}`);
    await page.waitForTimeout(1000);
  }
}

/// Each host's state and code in the job's table: [[host, state, code, output]].
async function jobRows(page) {
  return page.$$eval('table.bulk tbody tr', (trs) => trs.map((tr) => Array.from(tr.cells).map((td) => td.textContent.trim())));
}

async function shot(page, name) {
  await page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });
}

/// The Windows-shaped hosts, found by their operating system once the sampler has read it
/// (Windows' recorded Win32_OperatingSystem), scanned through the form: the documented
/// answers' three updates, two of them security updates, a reboot pending and their dates.
async function windowsHosts(page) {
  const started = Date.now();
  let found = [];
  for (;;) {
    await page.goto(`${CONSOLE}/updates?q=windows+server`);
    found = await rows(page);
    if (found.length === WINDOWS_HOSTS || Date.now() - started > SAMPLE_TIMEOUT) break;
    await page.waitForTimeout(1000);
  }
  check(found.length === WINDOWS_HOSTS && found.every((r) => r[0].startsWith('win') && r[1] === 'Microsoft Windows Server 2012 Standard'),
    `the search by operating system finds the ${WINDOWS_HOSTS} Windows hosts (${found.map((r) => `${r[0]}: ${r[1]}`).join(', ')})`);
  check(found.every((r) => r[2] === 'not scanned'), 'no Windows host is scanned yet');
  await page.check('input[name=scope][value=matching]');
  await page.selectOption('select[name=work]', 'scan');
  await Promise.all([page.waitForNavigation(), page.click('#update-actions button[type=submit]')]);
  await finished(page);
  const scanned = await jobRows(page);
  check(scanned.length === WINDOWS_HOSTS && scanned.every((r) => r[1] === 'done' && r[3].includes('3 pending, 2 security')),
    `every Windows host scanned: ${scanned.map((r) => `${r[0]} ${r[1]} ${r[3].slice(0, 40)}`).join('; ')}`);
  check(scanned[0][3].includes('-u:Administrator'), 'the Windows host\'s winrm command');

  await page.goto(`${CONSOLE}/updates?q=win0`);
  const after = await rows(page);
  check(after.length === WINDOWS_HOSTS && after.every((r) => r[2] === '3' && r[3] === '2' && r[4] === 'yes'),
    `each Windows host: 3 pending, 2 security, a reboot pending (${after.map((r) => r.slice(2, 5).join('/')).join(', ')})`);
  check(after.every((r) => r[5] === '2024-01-10 03:12 UTC' && r[6] === '2023-12-13 04:05 UTC'),
    `each Windows host's last scan and install, as GetLastScanSuccessDate and GetLastUpdateInstallationDate answered (${after[0][5]}, ${after[0][6]})`);
  await axe(page, 'updates (Windows hosts)');
  await shot(page, 'updates-windows');
}

async function administrator(page) {
  await page.goto(`${CONSOLE}/updates`);
  check((await page.textContent('.pager')).includes(`${HOSTS} hosts`), `the page counts every host (${HOSTS})`);
  check((await rows(page)).length === 50, 'one page of 50 rows');
  check((await rows(page)).every((r) => r[2] === 'not scanned'), 'no host is scanned yet');
  check((await page.textContent('#update-commands')).includes('winrm invoke ScanForUpdates wmi/root/Microsoft/Windows/WindowsUpdate/MSFT_WUOperations @{SearchCriteria="IsInstalled=0"}'), 'each action is shown as its winrm command');
  await axe(page, 'updates');

  // Search, then scan every host matching it (ten) through the form.
  await page.fill('form.search input[name=q]', 'lin00');
  await Promise.all([page.waitForNavigation(), page.click('form.search button[type=submit]')]);
  check((await rows(page)).length === 10, 'the search keeps ten hosts');
  await page.check('input[name=scope][value=matching]');
  await page.selectOption('select[name=work]', 'scan');
  await Promise.all([page.waitForNavigation(), page.click('#update-actions button[type=submit]')]);
  await finished(page);
  const scanned = await jobRows(page);
  check(scanned.length === 10 && scanned.every((r) => r[1] === 'done'), `every matching host scanned (${scanned.map((r) => r[1]).join(',')})`);
  check(scanned[0][3].includes('3 pending, 1 security'), `a scan's result: ${scanned[0][3].slice(0, 80)}`);

  await page.goto(`${CONSOLE}/updates?q=lin00&sort=security&dir=desc`);
  const after = await rows(page);
  check(after.every((r) => r[2] === '3' && r[3] === '1'), 'each scanned host: 3 pending, 1 security');
  check((await page.textContent('#updates-security')).includes('10 with security updates pending'), 'the page counts ten hosts with security updates');
  await page.goto(`${CONSOLE}/fleet`);
  check((await page.textContent('#count-updates')).includes('10'), "the fleet's count of hosts with security updates or a reboot due");

  await windowsHosts(page);
  await page.goto(`${CONSOLE}/updates`);
  const total = 10 + WINDOWS_HOSTS;
  check((await page.textContent('#updates-security')).includes(`${total} with security updates pending`), `the page counts ${total} hosts with security updates, Windows' among them`);
  await page.goto(`${CONSOLE}/fleet`);
  check((await page.textContent('#count-updates')).includes(String(total)), `the fleet's count takes the Windows hosts in (${total})`);

  // Install all on three hosts ticked, lin001 the canary.
  await page.goto(`${CONSOLE}/updates?q=lin00`);
  for (const host of ['lin001', 'lin002', 'lin003']) await page.check(`input[name="host.${host}"]`);
  await page.selectOption('select[name=work]', 'install-all');
  await page.fill('input[name=canary]', 'lin001');
  await shot(page, 'updates-chosen');
  await Promise.all([page.waitForNavigation(), page.click('#update-actions button[type=submit]')]);
  check((await page.textContent('#job-canary')).includes('lin001'), 'the job names its canary');
  await finished(page);
  const installed = await jobRows(page);
  check(installed.length === 3 && installed.every((r) => r[1] === 'done'), `the canary, then the others (${installed.map((r) => `${r[0]} ${r[1]}`).join(', ')})`);
  check(await page.$('#job-stopped') === null, 'the canary came back healthy: nothing stopped');
  await axe(page, 'install job');
  await shot(page, 'updates-job');
  await page.screenshot({ path: join(DOCS_IMAGES, 'console-updates-job.png'), fullPage: true });

  await page.goto(`${CONSOLE}/updates?q=lin001`);
  const canary = (await rows(page))[0];
  check(Number(canary[2]) < 3 && canary[4] === 'yes', `after the install: fewer pending (${canary[2]}), reboot needed (${canary[4]})`);
  await page.goto(`${CONSOLE}/updates?sort=security&dir=desc`);
  await axe(page, 'updates (scanned)');
  await shot(page, 'updates');
  await page.screenshot({ path: join(DOCS_IMAGES, 'console-updates.png'), fullPage: false });
}

async function viewer(page) {
  await page.goto(`${CONSOLE}/updates?q=lin005`);
  check((await rows(page)).length === 1, 'the viewer sees the page');
  await page.check('input[name="host.lin005"]');
  await page.selectOption('select[name=work]', 'install-security');
  expectedStatus = 403;
  const [answer] = await Promise.all([page.waitForNavigation(), page.click('#update-actions button[type=submit]')]);
  check(answer.status() === 403, `the viewer is refused (${answer.status()})`);
  check((await page.textContent('main')).includes('not allowed'), 'the refusal says why');
  await axe(page, 'viewer refused');
  await shot(page, 'viewer-refused');
  expectedStatus = 0;

  // On a phone's width the table scrolls inside itself; the page is no wider than the screen.
  await page.setViewportSize({ width: 390, height: 844 });
  await page.goto(`${CONSOLE}/updates`);
  const [scroll, client] = await page.evaluate(() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]);
  check(scroll <= client, `the page fits a 390-pixel screen (${scroll} <= ${client})`);
  await axe(page, 'updates (phone)');
  await shot(page, 'updates-phone');
}

const browser = await launch();
let failed = false;
try {
  await administrator(await login(browser, env('ADMIN_USER'), env('ADMIN_PASSWORD')));
  await viewer(await login(browser, env('VIEWER_USER'), env('VIEWER_PASSWORD')));
} catch (error) {
  failed = true;
  console.log(`FAILED: ${error.stack || error}`);
} finally {
  await browser.close();
}
if (problems.length) failed = true;
finish(failed, 'the Updates page run', ARTIFACTS);
