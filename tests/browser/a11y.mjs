// Reach of every console page, in Debian's chromium driven by playwright-core: axe-core (from
// npm, tests/browser/package.json) on each page at 1280 and 390 pixels wide, in the light and
// the dark colour scheme, failing on any serious or critical violation; no page wider than a
// 390-pixel screen; the login, the skip link, a visible focus on every stop of the tab order
// and a destructive action's confirmation done with the keyboard alone. It also takes the
// screenshots the docs show (DOCS_IMAGES).
//
// Started by crates/wsmand-mgmt/tests/browser.rs (every_console_page_passes_axe_...), which
// starts the console and its hosts and answers "ASK is-active UNIT" on our stdin.
//
// axe is injected with page.evaluate (the DevTools protocol), so the console's
// Content-Security-Policy stays as served: a violation of it is a console error here, and a
// failure.

import { join } from 'node:path';
import { ask, axe, check, env, finish, launch, problems, STEP_TIMEOUT, watch } from './harness.mjs';

const CONSOLE = env('CONSOLE_URL');
const ARTIFACTS = env('ARTIFACTS');
const DOCS_IMAGES = env('DOCS_IMAGES');
const LOCAL = env('LOCAL_HOST');
const SYSTEMD = env('SYSTEMD_HOST');
const WINDOWS = env('WINDOWS_HOST');
const SHELL = env('SHELL_HOST');
const UNIT = env('UNIT');
const SERVICE = UNIT.replace(/\.service$/, '');

const VIEWPORTS = [
  { name: 'desktop', width: 1280, height: 800 },
  { name: 'phone', width: 390, height: 844 },
];
const SCHEMES = ['light', 'dark'];
// Every page of the console (name, path, expected status), errors included.
const PAGES = [
  ['fleet', '/fleet', 200],
  ['overview', `/hosts/${SYSTEMD}`, 200],
  ['overview-windows', `/hosts/${WINDOWS}`, 200],
  ['fleet-sorted', '/fleet?sort=cpu&dir=desc', 200],
  ['services', `/hosts/${SYSTEMD}/services`, 200],
  ['services-confirm', `/hosts/${SYSTEMD}/services?q=${encodeURIComponent(SERVICE)}&confirm=stop:${encodeURIComponent(SERVICE)}`, 200],
  ['services-fault', `/hosts/${WINDOWS}/services`, 200],
  ['processes', `/hosts/${LOCAL}/processes`, 200],
  ['processes-windows', `/hosts/${WINDOWS}/processes`, 200],
  ['events', `/hosts/${SYSTEMD}/events`, 200],
  ['config', `/hosts/${LOCAL}/config`, 200],
  ['config-windows', `/hosts/${WINDOWS}/config`, 200],
  ['audit', '/audit', 200],
  ['events-search', '/events', 200],
  ['manage', '/manage', 200],
  ['manage-host', `/manage/hosts/${LOCAL}`, 200],
  ['manage-role', '/manage/roles/admins', 200],
  ['bulk', '/bulk', 200],
  ['updates', '/updates', 200],
  ['config-edit', `/hosts/${LOCAL}/config?edit=MaxTimeoutms`, 200],
  ['terminal', `/hosts/${SHELL}/terminal`, 200],
  ['not-found', '/hosts/no-such-host', 404],
  // A search too long for the request head: the guard's own page.
  ['too-large', `/hosts/${LOCAL}/processes?q=${'x'.repeat(16 * 1024)}`, 431],
];
// The screenshots the docs show: (page, viewport, scheme) -> docs/images/console-NAME.png.
const DOCS_SHOTS = {
  'fleet desktop light': 'fleet',
  'overview desktop light': 'overview',
  'services desktop light': 'services',
  'events desktop light': 'events',
  'processes-windows desktop light': 'processes-windows',
  'terminal desktop light': 'terminal',
  'fleet desktop dark': 'fleet-dark',
  'services phone light': 'services-phone',
  'login desktop light': 'login',
};

async function clickAndWait(page, action) {
  await Promise.all([page.waitForNavigation({ timeout: STEP_TIMEOUT }), action()]);
}

/// Whether anything makes the page wider than the window (a table scrolls inside itself).
async function overflow(page) {
  return page.evaluate(() => {
    const root = document.documentElement;
    if (root.scrollWidth <= root.clientWidth) return null;
    let widest = null;
    for (const element of document.body.querySelectorAll('*')) {
      const right = element.getBoundingClientRect().right;
      if (right > root.clientWidth && (!widest || right > widest.right)) {
        widest = { right, element: `${element.tagName.toLowerCase()}.${element.className}` };
      }
    }
    return { scrollWidth: root.scrollWidth, clientWidth: root.clientWidth, widest };
  });
}

/// Waits for what a page's script shows once it runs (the terminal's and the live events'
/// connection), so that axe sees the page as a user does.
async function settle(page, name) {
  if (name === 'terminal') {
    await page.waitForFunction(() => document.getElementById('terminal-status')?.textContent === 'connected',
      null, { timeout: STEP_TIMEOUT });
  } else if (name.startsWith('overview')) {
    // The graphs drawn from the first answer of samples.json.
    await page.waitForFunction(() => document.getElementById('graphs')?.dataset.points !== undefined,
      null, { timeout: STEP_TIMEOUT });
  } else if (name === 'events') {
    await page.waitForFunction(() => document.getElementById('live-status')?.textContent.startsWith('live:'),
      null, { timeout: STEP_TIMEOUT });
  }
}

async function docsShot(page, key) {
  const name = DOCS_SHOTS[key];
  if (!name) return;
  const path = join(DOCS_IMAGES, `console-${name}.png`);
  await page.screenshot({ path });
  console.log(`docs screenshot ${path}`);
}

/// The described element that has the focus: tag, text and whether its outline shows.
async function focused(page) {
  return page.evaluate(() => {
    const element = document.activeElement;
    if (!element || element === document.body) return null;
    const style = getComputedStyle(element);
    const box = element.getBoundingClientRect();
    return {
      tag: element.tagName.toLowerCase(),
      id: element.id,
      text: (element.innerText || element.value || element.getAttribute('aria-label') || '').trim().slice(0, 40),
      ring: style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) >= 2,
      visible: box.width > 0 && box.height > 0 && box.bottom > 0 && box.top < window.innerHeight + 4000,
      inRow: element.closest('tr')?.querySelector('td')?.innerText.trim() ?? null,
    };
  });
}

/// Keyboard only: log in, the skip link, a focus ring on every tab stop, a confirmation.
async function keyboard(page) {
  await page.goto(`${CONSOLE}/login`);
  let now = await focused(page);
  check(now && now.tag === 'input' && (await page.evaluate(() => document.activeElement.name)) === 'user',
    `the login form's user field has the focus (${JSON.stringify(now)})`);
  await page.keyboard.type(env('MANAGER_USER'));
  await page.keyboard.press('Tab');
  await page.keyboard.type(env('MANAGER_PASSWORD'));
  await clickAndWait(page, () => page.keyboard.press('Enter'));
  check(new URL(page.url()).pathname === '/fleet', `logged in with the keyboard, at ${page.url()}`);

  await page.goto(`${CONSOLE}/fleet`);
  await page.keyboard.press('Tab');
  now = await focused(page);
  check(now && now.tag === 'a' && now.text === 'Skip to content' && now.ring,
    `the first tab stop is the skip link, with a focus ring (${JSON.stringify(now)})`);
  const skipBox = await page.locator('a.skip').boundingBox();
  check(skipBox && skipBox.y >= 0, `the focused skip link is on screen (${JSON.stringify(skipBox)})`);
  await page.keyboard.press('Enter');
  now = await focused(page);
  check(now && now.tag === 'main', `the skip link moves the focus to the content (${JSON.stringify(now)})`);

  // Every tab stop of the services page shows its focus; the unit's stop is among them.
  await page.goto(`${CONSOLE}/hosts/${SYSTEMD}/services?q=${encodeURIComponent(SERVICE)}`);
  const order = [];
  let stop = false;
  for (let i = 0; i < 120; i += 1) {
    await page.keyboard.press('Tab');
    now = await focused(page);
    if (now === null) break;
    const key = `${now.tag}:${now.text}`;
    if (order.length > 0 && key === order[0]) break;
    order.push(key);
    if (!now.ring) problems.push(`services: the tab stop ${key} shows no focus ring`);
    if (now.text === 'stop' && now.inRow === SERVICE) {
      stop = true;
      break;
    }
  }
  console.log(`tab order: ${order.join(' → ')}`);
  const current = await page.locator('main > nav a[aria-current="page"]').allInnerTexts();
  check(JSON.stringify(current) === '["Services"]', `the host's tabs mark Services as the page shown (${current})`);
  check(order[0] === 'a:Skip to content' && order.includes('button:Log out') && order.includes('a:Services')
    && order.some((stop) => stop.startsWith('input:')) && order.includes('button:Search'), 'the tab order goes skip link, header, host tabs, search');
  check(stop, `the unit's stop is reached by the keyboard (${order.length} stops)`);
  // Enter asks for the confirmation; the next Tab is its button, the one after it "cancel".
  await clickAndWait(page, () => page.keyboard.press('Enter'));
  check(new URL(page.url()).searchParams.get('confirm') === `stop:${SERVICE}`, `stop asks first (${page.url()})`);
  await page.keyboard.press('Tab');
  now = await focused(page);
  check(now && now.tag === 'button' && now.text === 'confirm stop' && now.ring,
    `after the question the next tab stop is its button (${JSON.stringify(now)})`);
  await page.keyboard.press('Tab');
  now = await focused(page);
  check(now && now.tag === 'a' && now.text === 'cancel', `then its cancel (${JSON.stringify(now)})`);
  await clickAndWait(page, () => page.keyboard.press('Enter'));
  check(!new URL(page.url()).searchParams.has('confirm'), `cancel leaves the question (${page.url()})`);
  check(await ask(`is-active ${UNIT}`) === 'active', `${UNIT} still runs after the cancelled stop`);

  // The terminal takes Tab (the shell's), and Shift+Escape leaves it for the page's tabs.
  await page.goto(`${CONSOLE}/hosts/${SHELL}/terminal`);
  await settle(page, 'terminal');
  const inTerminal = () => page.evaluate(() => document.getElementById('terminal').contains(document.activeElement));
  check(await inTerminal(), 'the connected terminal has the focus');
  check(await page.evaluate(() => document.activeElement.getAttribute('aria-describedby')) === 'terminal-keys',
    "the terminal's input is described by the page's hint on its keys");
  await page.keyboard.press('Tab');
  check(await inTerminal(), 'Tab stays in the terminal (the shell gets it)');
  await page.keyboard.press('Shift+Escape');
  now = await focused(page);
  check(now && now.tag === 'a' && now.text === 'Terminal' && now.ring,
    `Shift+Escape leaves the terminal for its tab, with a focus ring (${JSON.stringify(now)})`);
  await page.keyboard.press('Shift+Tab');
  now = await focused(page);
  check(now && now.text === 'Configuration', `and Shift+Tab goes on through the page (${JSON.stringify(now)})`);
}

const browser = await launch();
let failed = false;
try {
  for (const viewport of VIEWPORTS) {
    for (const scheme of SCHEMES) {
      const where = `${viewport.name} ${scheme}`;
      const context = await browser.newContext({
        ignoreHTTPSErrors: true,
        viewport: { width: viewport.width, height: viewport.height },
        colorScheme: scheme,
      });
      context.setDefaultTimeout(STEP_TIMEOUT);
      const page = await context.newPage();
      let label = `login ${where}`;
      let expected = 200;
      watch(page, () => label, () => expected);

      if (viewport.name === 'desktop' && scheme === 'light') {
        await keyboard(page);
        await context.clearCookies();
      }
      await page.goto(`${CONSOLE}/login`);
      await axe(page, label);
      const wide = await overflow(page);
      if (wide) problems.push(`${label}: wider than the window ${JSON.stringify(wide)}`);
      await docsShot(page, label);
      await page.fill('input[name=user]', env('MANAGER_USER'));
      await page.fill('input[name=password]', env('MANAGER_PASSWORD'));
      await clickAndWait(page, () => page.locator('form.login button[type=submit]').click());
      check(new URL(page.url()).pathname === '/fleet', `${where}: logged in`);

      for (const [name, path, status] of PAGES) {
        label = `${name} ${where}`;
        expected = status;
        const answer = await page.goto(`${CONSOLE}${path}`);
        if (answer.status() !== status) problems.push(`${label}: answered ${answer.status()}, not ${status}`);
        await settle(page, name);
        const count = await axe(page, label);
        const tooWide = await overflow(page);
        if (tooWide) problems.push(`${label}: wider than the window ${JSON.stringify(tooWide)}`);
        console.log(`checked ${label}: ${count} axe violation(s) of any impact${tooWide ? ', too wide' : ''}`);
        await docsShot(page, label);
        await page.screenshot({ path: join(ARTIFACTS, `${name}-${viewport.name}-${scheme}.png`), fullPage: true });
      }
      await context.close();
    }
  }
} catch (error) {
  failed = true;
  console.log(`FAILED: ${error.stack || error}`);
} finally {
  await browser.close();
}
finish(failed, 'accessibility run', ARTIFACTS);
