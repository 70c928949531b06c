// The manager pages, driven from console.mjs: a host added from the page appears in the fleet
// without a restart, is tested (connect and Identify) and removed; a role added, edited and
// removed; refused values shown in place in their form, what was typed kept. Each refused
// form answers 400, the one status this page's watcher expects while it is submitted.

import { check, watch } from './harness.mjs';

export async function manageSteps(context, { console: CONSOLE, env, screenshot, rowCells, clickAndWait }) {
  const page = await context.newPage();
  let expected = 0;
  watch(page, 'manage', () => expected);
  const ADDED = 'added-host';
  const url = env('LOCAL_URL');
  const main = async () => (await page.locator('main').innerText()).replace(/\s+/g, ' ');

  // Add a host from the page; the fleet shows it at once, reachable.
  await page.goto(`${CONSOLE}/manage`);
  await clickAndWait(page, page.locator('main a', { hasText: 'Add a host' }));
  await page.fill('input[name=name]', ADDED);
  await page.fill('input[name=url]', url);
  await page.fill('input[name=username]', env('HOST_USER'));
  await page.fill('input[name=password]', env('HOST_PASSWORD'));
  await page.check('input[name=allow_unencrypted]');
  await clickAndWait(page, page.locator('form.edit button[type=submit]'));
  check(new URL(page.url()).pathname === '/manage', `the host was added (at ${page.url()}: ${await main()})`);
  check((await rowCells(page, ADDED)).cells !== null, `Manage lists ${ADDED}`);
  await screenshot(page, 'manage');
  await page.goto(`${CONSOLE}/fleet`);
  let { cells } = await rowCells(page, ADDED);
  check(cells !== null && cells[1] === 'yes', `the fleet shows ${ADDED} reachable without a restart (${cells && cells[1]}; note: ${cells && cells[6]})`);

  // Test it: connect and Identify.
  await page.goto(`${CONSOLE}/manage`);
  await clickAndWait(page, page.locator('button', { hasText: `Test ${ADDED}` }));
  const tested = await page.locator('#test-result').innerText();
  check(tested.startsWith('Reached: Identify answered (wsmand'), `the test reached ${ADDED}: ${tested}`);
  await screenshot(page, 'manage-tested');

  // A refused value is shown in place, in the form, with what was typed.
  await page.goto(`${CONSOLE}/manage/hosts`);
  await page.fill('input[name=name]', 'bad name');
  await page.fill('input[name=url]', url);
  await page.fill('input[name=username]', env('HOST_USER'));
  await page.fill('input[name=password]', env('HOST_PASSWORD'));
  expected = 400;
  await clickAndWait(page, page.locator('form.edit button[type=submit]'));
  expected = 0;
  const refusedHost = await page.locator('form.edit #form-error').innerText();
  check(refusedHost.includes('Host.Name') && refusedHost.includes('bad name'), `the bad name is refused in the form: ${refusedHost}`);
  check(await page.inputValue('input[name=url]') === url, 'the refused form keeps what was typed');
  await screenshot(page, 'manage-refused');

  // A role: added, edited (its members), a bad rule refused in place, then removed.
  await page.goto(`${CONSOLE}/manage`);
  await clickAndWait(page, page.locator('main a', { hasText: 'Add a role' }));
  await page.fill('input[name=name]', 'viewers');
  await page.fill('input[name=members]', 'os:nobody-here');
  await page.fill('textarea[name=rules]', `Allow read ${ADDED} *`);
  await clickAndWait(page, page.locator('form.edit button[type=submit]'));
  ({ cells } = await rowCells(page, 'viewers'));
  check(cells !== null && cells[3] === `Allow read ${ADDED} *`, `the role was added with its rule (${cells && cells.join(' | ')}; ${await main()})`);
  await clickAndWait(page, page.locator('a[href="/manage/roles/viewers"]'));
  check(await page.inputValue('textarea[name=rules]') === `Allow read ${ADDED} *`, 'the role form shows its rule');
  await page.fill('input[name=members]', 'os:nobody-here, carol');
  await clickAndWait(page, page.locator('form.edit button[type=submit]'));
  ({ cells } = await rowCells(page, 'viewers'));
  check(cells !== null && cells[1] === 'os:nobody-here, carol', `the role's members were changed (${cells && cells[1]})`);
  await clickAndWait(page, page.locator('a[href="/manage/roles/viewers"]'));
  await page.fill('textarea[name=rules]', 'Allow write * *');
  expected = 400;
  await clickAndWait(page, page.locator('form.edit button[type=submit]'));
  expected = 0;
  const refusedRole = await page.locator('form.edit #form-error').innerText();
  check(refusedRole.includes('"write"'), `the bad rule is refused in the form: ${refusedRole}`);
  await page.goto(`${CONSOLE}/manage`);
  ({ cells } = await rowCells(page, 'viewers'));
  check(cells !== null && cells[3] === `Allow read ${ADDED} *`, 'the refused rule changed nothing');
  let { row } = await rowCells(page, 'viewers');
  await clickAndWait(page, row.locator('a', { hasText: 'Remove viewers' }));
  ({ row } = await rowCells(page, 'viewers'));
  await clickAndWait(page, row.locator('button', { hasText: 'confirm Remove viewers' }));
  check((await rowCells(page, 'viewers')).cells === null, 'the role was removed');

  // Remove the host (confirmed first): gone from the fleet at once.
  ({ row } = await rowCells(page, ADDED));
  await clickAndWait(page, row.locator('a', { hasText: `Remove ${ADDED}` }));
  check(new URL(page.url()).searchParams.get('confirm') === `host:${ADDED}`, `removing asks first (${page.url()})`);
  ({ row } = await rowCells(page, ADDED));
  await clickAndWait(page, row.locator('button', { hasText: `confirm Remove ${ADDED}` }));
  check((await rowCells(page, ADDED)).cells === null, 'the host was removed from Manage');
  await page.goto(`${CONSOLE}/fleet`);
  check((await rowCells(page, ADDED)).cells === null, 'the fleet no longer lists the removed host');

  // Each change is in the audit trail.
  await page.goto(`${CONSOLE}/audit`);
  const audit = await page.locator('tbody').innerText();
  for (const what of [`add host ${ADDED}: done`, `test: reached`, 'change role viewers: done', `remove host ${ADDED}: done`]) {
    check(audit.includes(what), `the audit trail has "${what}"`);
  }
  await page.close();
}

// A host's winrm/config edited from its page (`winrm set`): a value the host takes is shown
// set; one it refuses shows the host's own message in the row, the value typed kept. The
// setting's row is found by its path, as the Get of winrm/config has it.
export async function configSteps(context, { console: CONSOLE, host, screenshot, clickAndWait }) {
  const page = await context.newPage();
  let expected = 0;
  watch(page, 'config edit', () => expected);
  const valueOf = async (path) => {
    for (const tr of await page.locator('table.config tbody tr').all()) {
      const [shownPath, value] = await tr.locator('td').allInnerTexts();
      if (shownPath.trim() === path) return value.trim();
    }
    return null;
  };
  await page.goto(`${CONSOLE}/hosts/${host}/config`);
  const before = await valueOf('MaxTimeoutms');
  check(before !== null, `the config page shows MaxTimeoutms (${before})`);
  const wanted = before === '60001' ? '60002' : '60001';
  await clickAndWait(page, page.locator('a[aria-label="Change MaxTimeoutms"]'));
  check(await page.inputValue('form.set input[name=value]') === before, 'the editor starts from the current value');
  await page.fill('form.set input[name=value]', wanted);
  await clickAndWait(page, page.locator('form.set button[type=submit]'));
  check(new URL(page.url()).searchParams.get('done') === 'MaxTimeoutms', `the value was set (at ${page.url()})`);
  check(await valueOf('MaxTimeoutms') === wanted, `the host's Get now answers MaxTimeoutms ${wanted}`);
  await screenshot(page, 'config-set');

  // A value the host refuses: its message in place, in the row.
  await clickAndWait(page, page.locator('a[aria-label="Change MaxEnvelopeSizekb"]'));
  await page.fill('form.set input[name=value]', 'lots');
  expected = 400;
  await clickAndWait(page, page.locator('form.set button[type=submit]'));
  expected = 0;
  const refused = await page.locator('form.set #set-fault p.error').innerText();
  check(refused.includes('"lots" is not valid for the setting'), `the host's refusal is shown in the row: ${refused}`);
  check(await page.inputValue('form.set input[name=value]') === 'lots', 'the refused value stays in the input');
  await screenshot(page, 'config-refused');
  await page.close();
}

// A command run on two hosts at once: the job's page shows each host's progress, then each
// one's exit code and output (computed by the hosts' shells: 42 is in no key typed).
export async function bulkSteps(context, { console: CONSOLE, hosts, screenshot, clickAndWait }) {
  const page = await context.newPage();
  watch(page, 'bulk');
  await page.goto(`${CONSOLE}/fleet`);
  await clickAndWait(page, page.locator('header nav a', { hasText: 'Run' }));
  for (const host of hosts) await page.check(`input[name="host.${host}"]`);
  await page.selectOption('select[name=work]', 'command');
  await page.fill('input[name=command]', 'echo bulk-$((6*7)); exit 3');
  await clickAndWait(page, page.locator('form.edit button[type=submit]'));
  const job = new URL(page.url()).pathname;
  check(/^\/bulk\/\d+$/.test(job), `the job started (at ${page.url()})`);
  const firstState = await page.locator('#job-state').innerText();
  check(/^\d of 2 host\(s\) finished\./.test(firstState), `the job page shows the progress: ${firstState}`);
  const deadline = Date.now() + 60_000;
  let state = firstState;
  while (!state.startsWith('2 of 2') && Date.now() < deadline) {
    await page.waitForTimeout(500);
    await page.goto(`${CONSOLE}${job}?static=1`);
    state = await page.locator('#job-state').innerText();
  }
  check(state.startsWith('2 of 2'), `both hosts finished: ${state}`);
  for (const host of hosts) {
    const row = page.locator('table.bulk tbody tr').filter({ has: page.locator('td:first-child', { hasText: new RegExp(`^${host}$`) }) });
    const [, shownState, code, output] = (await row.locator('td').allInnerTexts()).map((t) => t.trim());
    check(shownState === 'done' && code === '3' && output === 'bulk-42', `${host}: ${shownState}, code ${code}, output ${JSON.stringify(output)}`);
  }
  await screenshot(page, 'bulk-done');
  await page.close();
}
