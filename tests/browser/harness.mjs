// What the browser scripts (console.mjs, a11y.mjs) share: the environment their cargo test
// passes, the harness's answers on stdin, checks, the problems every page is watched for, and
// Debian's chromium launched headless (playwright-core, no browser download).

import { chromium } from 'playwright-core';
import { createInterface } from 'node:readline';
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';

export const STEP_TIMEOUT = 60_000;
const AXE_SOURCE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

export function env(name) {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set (run through the cargo test)`);
  return value;
}

const answers = createInterface({ input: process.stdin })[Symbol.asyncIterator]();
/// Asks the cargo test (an `ASK ...` line on stdout) and returns its one-line answer.
export async function ask(question) {
  process.stdout.write(`ASK ${question}\n`);
  const { value, done } = await answers.next();
  if (done) throw new Error(`no answer to ${question}`);
  return value;
}

export function check(condition, message) {
  if (!condition) throw new Error(`check failed: ${message}`);
  console.log(`ok: ${message}`);
}

/// What went wrong on a watched page; any fails the run.
export const problems = [];

/// Watches `page` for console errors and warnings (Content-Security-Policy violations
/// included), page errors, failed requests and answers >= 400 other than `expected()`'s status
/// (whose console report is expected too). `label` names the page in each problem: a string
/// or a function returning one.
export function watch(page, label, expected = () => 0) {
  const name = typeof label === 'function' ? label : () => label;
  page.on('console', (message) => {
    const expectedStatus = expected() >= 400 && message.text().includes(`status of ${expected()} `);
    // Chromium's word when the page itself closes a socket that is still connecting (leaving a
    // page with a live stream right after opening it, which a loaded machine makes likely); a
    // socket the server refused or dropped reports "failed: Error in connection establishment".
    const leftWhileConnecting = message.text().includes('WebSocket is closed before the connection is established');
    if ((message.type() === 'error' || message.type() === 'warning') && !expectedStatus && !leftWhileConnecting) {
      problems.push(`${name()}: console ${message.type()}: ${message.text()}`);
    }
  });
  page.on('pageerror', (error) => problems.push(`${name()}: page error: ${error.message}`));
  page.on('requestfailed', (request) =>
    problems.push(`${name()}: request failed: ${request.url()} ${request.failure()?.errorText}`));
  page.on('response', (response) => {
    if (response.status() >= 400 && response.status() !== expected()) {
      problems.push(`${name()}: ${response.status()} for ${response.url()}`);
    }
  });
}

/// Debian's chromium, headless, with a fresh profile.
export function launch() {
  return chromium.launch({
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
}

/// A page of a new context of `browser` logged in to the console at `origin` as `user` (a bench's
/// manager), landed on /fleet; a console error on it throws, naming `name`. `options` go to the
/// context (a viewport, say).
export async function loggedInPage(browser, name, origin, user, password, options = {}) {
  const context = await browser.newContext({ ignoreHTTPSErrors: true, ...options });
  context.setDefaultTimeout(120_000);
  const page = await context.newPage();
  page.on('console', (m) => { if (m.type() === 'error') throw new Error(`${name}: ${m.text()}`); });
  await page.goto(`${origin}/login`);
  await page.fill('input[name=user]', user);
  await page.fill('input[name=password]', password);
  await Promise.all([page.waitForNavigation(), page.click('form.login button[type=submit]')]);
  if (new URL(page.url()).pathname !== '/fleet') throw new Error(`${name}: login failed`);
  return page;
}

/// A page of a new context of `browser` logged in to the console at `origin` as `user`, watched
/// by [`watch`] (answers other than `expected()` are problems), checked to land on /fleet: the
/// tests' login, where [`loggedInPage`] is a bench's.
export async function watchedLogin(browser, origin, user, password, expected) {
  const context = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1280, height: 900 } });
  context.setDefaultTimeout(STEP_TIMEOUT);
  const page = await context.newPage();
  watch(page, () => `${user} ${page.url()}`, expected);
  await page.goto(`${origin}/login`);
  await page.fill('input[name=user]', user);
  await page.fill('input[name=password]', password);
  await Promise.all([page.waitForNavigation(), page.click('form.login button[type=submit]')]);
  check(new URL(page.url()).pathname === '/fleet', `${user} logged in`);
  return page;
}

/// Ends the run: every problem printed, exit 1 if the run `failed` or any problem was seen.
export function finish(failed, what, artifacts) {
  for (const problem of problems) console.log(`FAILED: ${problem}`);
  const ok = !failed && problems.length === 0;
  console.log(ok ? `${what} passed; screenshots in ${artifacts}` : `${what} FAILED`);
  process.exit(ok ? 0 : 1);
}

/// axe-core on the page as it is now; every violation printed, serious and critical ones kept.
export async function axe(page, label) {
  await page.evaluate(AXE_SOURCE);
  const violations = await page.evaluate(async () => {
    const result = await window.axe.run(document, { resultTypes: ['violations'] });
    return result.violations.map((v) => ({
      id: v.id,
      impact: v.impact,
      help: v.help,
      nodes: v.nodes.slice(0, 4).map((n) => `${n.target.join(' ')}: ${(n.failureSummary || '').replace(/\s+/g, ' ')}`),
    }));
  });
  for (const v of violations) {
    const line = `${label}: axe ${v.impact} ${v.id} (${v.help}) at ${v.nodes.join(' | ')}`;
    console.log(line);
    if (v.impact === 'serious' || v.impact === 'critical') problems.push(line);
  }
  return violations.length;
}
