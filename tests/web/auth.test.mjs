// Token login against a real `allot serve` with auth on: the login form, a wrong token told so, an admin
// token that sees the actions, a reader token that sees every view and no action button, a writer that
// may release only inside its subtree, the token kept for the tab (sessionStorage) and sign-out.
// Screenshots: build/web-artifacts/auth-*.png.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
  AllotServer, consoleErrors, demoConfig, demoLoad, launch, optionalRoute404, playwright, screenshot,
} from './harness.mjs';

playwright();

const TOKENS = { admin: 'admin-token-1', reader: 'reader-token-1', writer: 'writer-agents-1' };
const server = new AllotServer({
  token: TOKENS.admin,
  config: demoConfig(`auth:
  tokens:
    - {name: ops, role: admin, token: ${TOKENS.admin}}
    - {name: viewer, role: reader, token: ${TOKENS.reader}}
    - {name: agents-team, role: writer, tenant: org/agents, token: ${TOKENS.writer}}
`),
});
const VIEWS = ['overview', 'nodes', 'tenants', 'queue', 'reservations', 'throttling', 'events', 'analytics'];
let browser;
let ids;

before(async () => {
  const s = await server.start();
  assert.ok(s.ok, `allot serve did not start: ${s.log}`);
  ids = await demoLoad(server, TOKENS.admin);
  browser = await launch();
});

after(async () => {
  if (browser) await browser.close();
  await server.stop();
});

// A new tab (its own sessionStorage) and its console errors; a 401 from whoami is the login's expected
// answer to no token or a wrong one.
async function tab() {
  const page = await browser.context.newPage();
  const errors = consoleErrors(page, (url, text) => optionalRoute404(url, text) ||
    (/status of 401/.test(text) && /\/v1\/whoami$/.test(url)));
  page.on('dialog', (d) => d.accept());
  return { page, errors };
}

async function signIn(page, token) {
  await page.goto(`${server.url}/?refresh=1`);
  await page.waitForSelector('form.login');
  await page.fill('#token', token);
  await page.click('#sign-in');
}

async function openView(page, view) {
  await page.goto(`${server.url}/?refresh=1#/${view}`);
  await page.waitForSelector(`main[data-view="${view}"] .status:text-matches("updated")`, { timeout: 20000 });
}

test('without a token the page asks for one; a wrong token is told so', async () => {
  const { page, errors } = await tab();
  await page.goto(`${server.url}/`);
  await page.waitForSelector('form.login');
  await screenshot(page, 'auth-login');
  await page.fill('#token', 'not-a-token');
  await page.click('#sign-in');
  await page.waitForSelector('.login-message:has-text("That token is wrong")');
  assert.equal(await page.locator('header').count(), 0);
  await screenshot(page, 'auth-wrong-token');
  assert.deepEqual(errors, []);
  await page.close();
});

test('an admin token signs in and sees the actions', async () => {
  const { page, errors } = await tab();
  await signIn(page, TOKENS.admin);
  await page.waitForSelector('.who:has-text("ops (admin)")');
  await openView(page, 'queue');
  assert.ok(await page.locator('#running button.release').count() >= 4);
  await openView(page, 'nodes');
  await page.locator('canvas.heatmap').click({ position: { x: 110 + 13, y: 13 } });
  await page.waitForSelector('#drain');
  await openView(page, 'reservations');
  assert.equal(await page.locator('#reservations button.action').count(), 1);
  // The token stays for the tab: a reload needs no new sign-in; sign-out forgets it.
  await page.reload();
  await page.waitForSelector('.who:has-text("ops (admin)")');
  await page.click('#logout');
  await page.waitForSelector('form.login');
  assert.equal(await page.evaluate(() => sessionStorage.getItem('allot.token')), null);
  assert.deepEqual(errors, []);
  await page.close();
});

test('a reader token sees every view with data and no action button', async () => {
  const { page, errors } = await tab();
  await signIn(page, TOKENS.reader);
  await page.waitForSelector('.who:has-text("viewer (reader)")');
  for (const view of VIEWS) {
    await openView(page, view);
    if (view === 'nodes') {
      await page.locator('canvas.heatmap').click({ position: { x: 110 + 13, y: 13 } });
      await page.waitForSelector('#node-detail h3');
    }
    assert.equal(await page.locator('main button').count(), 0, `buttons in ${view}`);
    await screenshot(page, `auth-reader-${view}`);
  }
  await openView(page, 'queue');
  assert.ok(await page.locator(`#queued tr[data-id="${ids.queued[0]}"]`).count() === 1);
  assert.ok(await page.locator('#running tbody tr').count() >= 4);
  assert.deepEqual(errors, []);
  await page.close();
});

test('a writer may release only inside its subtree', async () => {
  const { page, errors } = await tab();
  await signIn(page, TOKENS.writer);
  await page.waitForSelector('.who:has-text("agents-team (writer)")');
  await openView(page, 'queue');
  // A writer reads its subtree: the one org/agents allocation, with its Release button.
  const rows = page.locator('#running tbody tr');
  assert.equal(await rows.count(), 1);
  assert.match(await rows.first().innerText(), /org\/agents/);
  assert.equal(await page.locator('#running button.release').count(), 1);
  await openView(page, 'nodes');
  await page.locator('canvas.heatmap').click({ position: { x: 110 + 13, y: 13 } });
  await page.waitForSelector('#node-detail h3');
  assert.equal(await page.locator('#drain').count(), 0);
  assert.deepEqual(errors, []);
  await page.close();
});
