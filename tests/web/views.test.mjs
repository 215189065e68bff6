// Each view of the dashboard renders real data from a real `allot serve` (dev mode, the demo cluster, load
// made through the API) in Debian's chromium; live updates show what the API changed; the admin's
// actions (drain a node, release an allocation) act through the API; no console errors. Screenshots:
// build/web-artifacts/views-*.png.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
  AllotServer, consoleErrors, demoConfig, demoLoad, eventually, launch, optionalRoute404, playwright, screenshot,
} from './harness.mjs';

playwright(); // skips (77) without chromium, before anything starts

const server = new AllotServer({ dev: true, config: demoConfig() });
let browser;
let page;
let errors;
let ids;

before(async () => {
  const s = await server.start();
  assert.ok(s.ok, `allot serve did not start: ${s.log}`);
  ids = await demoLoad(server);
  browser = await launch();
  page = await browser.context.newPage();
  errors = consoleErrors(page, optionalRoute404);
  page.on('dialog', (d) => d.accept());
});

after(async () => {
  if (browser) await browser.close();
  await server.stop();
});

async function open(view) {
  await page.goto(`${server.url}/?refresh=1#/${view}`);
  await page.waitForSelector(`main[data-view="${view}"] .status:text-matches("updated")`, { timeout: 20000 });
}

const text = (sel) => page.locator(sel).first().innerText();

test('overview: the cluster now, and an allocation made through the API appears', async () => {
  await open('overview');
  const running = () => page.locator('.card[data-card="running"] .value').innerText();
  assert.equal(await running(), String(ids.placed.length));
  assert.match(await text('.card[data-card="nodes"] .sub'), /5 up/);
  assert.match(await text('.total-row[data-resource="cpu"] .nums'), /30 of 128 allocated/);
  const a = await server.must('POST', '/v1/allocations', { tenant: 'org/agents', requests: { cpu: '2' }, duration: '10m' });
  assert.equal(a.state, 'placed');
  await eventually(async () => (await running()) === String(ids.placed.length + 1), 15000, 'the new allocation in Running');
  assert.match(await text('.total-row[data-resource="cpu"] .nums'), /32 of 128 allocated/);
  // A chart per resource with points: from history (the first sample comes within history.interval,
  // 15 s by default), or from what the page has seen on a server without history.
  await eventually(async () => Number(await page.locator('.chart[data-resource="cpu"]').getAttribute('data-points')) >= 1, 40000, 'chart points');
  assert.equal(await page.locator('.chart[data-resource="memory"]').count(), 1);
  ids.placed.push(a.id);
  await screenshot(page, 'views-overview');
});

test('a first load asks for each call once: boot.js sends the view\'s first calls, the view takes their answers', async () => {
  for (const view of ['overview', 'nodes', 'tenants', 'queue']) {
    const tab = await browser.context.newPage(); // a new tab: its own sessionStorage, a real first load
    const tabErrors = consoleErrors(tab, optionalRoute404);
    const sent = [];
    tab.on('request', (r) => {
      const u = new URL(r.url());
      if (u.pathname.startsWith('/v1/')) sent.push(u.pathname + u.search);
    });
    await tab.goto(`${server.url}/#/${view}`); // the next update is 5 s away
    await tab.waitForFunction((name) => performance.getEntriesByName(name).length > 0, `allot:rendered:${view}`, { timeout: 20000 });
    assert.equal(await tab.locator('head script[src^="/assets/boot-"]').count(), 1);
    // Each call went out once (a view asking for something other than what first.js says would send it
    // twice), and every early answer was taken.
    assert.deepEqual(sent.filter((u, i) => sent.indexOf(u) !== i), [], `${view}: ${sent.join(' ')}`);
    assert.ok(sent.includes('/v1/whoami'), sent.join(' '));
    if (view === 'nodes') assert.ok(sent.includes('/v1/nodes?view=usage'), sent.join(' '));
    assert.equal(await tab.evaluate(() => globalThis.allotEarly.size), 0, view);
    assert.deepEqual(tabErrors, []);
    await tab.close();
  }
});

test('nodes: the heatmap, a node\'s details, and Drain through the API', async () => {
  await open('nodes');
  assert.equal(await page.locator('canvas.heatmap').getAttribute('data-nodes'), '5');
  assert.match(await text('.nodes .summary'), /5 nodes: 5 up, 0 draining, 0 down/);
  assert.equal(await page.locator('#busiest tbody tr').count(), 5);
  // The first cell of the first band is cpu-1 (registration order): 110 px of labels, 26 px cells.
  await page.locator('canvas.heatmap').click({ position: { x: 110 + 13, y: 13 } });
  await page.waitForSelector('#node-detail h3:has-text("cpu-1")');
  await page.click('#drain');
  await eventually(async () => (await server.must('GET', '/v1/nodes/cpu-1')).state === 'draining', 10000, 'cpu-1 draining');
  await page.waitForSelector('.nodes .summary:has-text("1 draining")');
  // The filter narrows the heatmap.
  await page.fill('#node-filter', 'kind=gpu');
  assert.equal(await page.locator('canvas.heatmap').getAttribute('data-nodes'), '2');
  await page.fill('#node-filter', '');
  await screenshot(page, 'views-nodes');
});

test('tenants: usage against guaranteed and max, shares', async () => {
  await open('tenants');
  const row = page.locator('#tenants tr[data-tenant="org/research"]');
  await row.waitFor();
  const cells = await row.locator('td').allInnerTexts();
  assert.equal(cells[0], 'org/research');
  assert.equal(cells[1], '2'); // weight
  assert.ok(cells.some((c) => /20 · g 16 · max 48 · borrowed 4/.test(c)), `cpu cell of ${cells.join(' | ')}`);
  assert.match(cells[4], /%$/);
  await screenshot(page, 'views-tenants');
});

test('queue: position, estimated start and reason; a new queued request appears; Release ends one', async () => {
  await open('queue');
  const first = page.locator(`#queued tr[data-id="${ids.queued[0]}"]`);
  await first.waitFor();
  const cells = await first.locator('td').allInnerTexts();
  assert.equal(cells[0], '1');
  assert.equal(cells[3], 'org/train');
  assert.match(cells[7], /^in \d/); // leases end within the hour: an estimate
  assert.notEqual(cells[8].trim(), '');
  const b = await server.must('POST', '/v1/allocations', { tenant: 'org/batch', requests: { cpu: '31' }, duration: '5m' });
  assert.equal(b.state, 'queued');
  await page.locator(`#queued tr[data-id="${b.id}"]`).waitFor({ timeout: 15000 });
  assert.equal(await page.locator(`#queued tr[data-id="${b.id}"] td`).first().innerText(), '2');
  const victim = ids.placed[0];
  await page.click(`#running tr[data-id="${victim}"] button.release`);
  await eventually(async () => (await server.must('GET', `/v1/allocations/${victim}`)).state === 'released', 10000, 'released');
  await page.locator(`#running tr[data-id="${victim}"]`).waitFor({ state: 'detached', timeout: 15000 });
  await screenshot(page, 'views-queue');
});

test('reservations: the timeline and the list', async () => {
  await open('reservations');
  assert.equal(await page.locator('canvas.timeline').getAttribute('data-items'), '1');
  assert.match(await text('#reservations tbody tr'), /r-training/);
  await screenshot(page, 'views-reservations');
});

test('throttling: degradation, breakers, rate-limit denials, pools', async () => {
  await open('throttling');
  assert.match(await text('#degradation .value'), /normal|elevated|high|critical/);
  assert.match(await text('#breakers tbody tr'), /search\/api/);
  const rl = await page.locator('#ratelimits tbody tr', { hasText: 'llm/openai' }).locator('td').allInnerTexts();
  assert.equal(rl[3], '2'); // allowed (burst 2)
  assert.equal(rl[4], '2'); // denied
  assert.match(await text('#pools tbody tr'), /gpu-slots/);
  await screenshot(page, 'views-throttling');
});

test('events: the audit log, filtered by type', async () => {
  await open('events');
  await page.locator('#events tbody tr[data-type="placed"]').first().waitFor();
  await page.selectOption('#event-type', 'node_drained');
  const rows = page.locator('#events tbody tr');
  assert.equal(await rows.count(), 1);
  assert.match(await rows.first().innerText(), /cpu-1/);
  await page.selectOption('#event-type', '');
  await page.fill('#event-text', ids.queued[0]);
  assert.equal(await page.locator('#events tbody tr[data-type="submitted"]').count(), 1);
  assert.equal(await page.locator('#events tbody tr:not([data-type="submitted"]):not([data-type="placed"])').count(), 0);
  await screenshot(page, 'views-events');
});

test('analytics: renders, with or without the analytics endpoints', async () => {
  await open('analytics');
  for (const id of ['efficiency', 'bottleneck', 'cost']) {
    assert.notEqual((await page.locator(`#${id}`).innerText()).trim(), '', `${id} is empty`);
  }
  await screenshot(page, 'views-analytics');
});

test('no console errors on any view', () => {
  assert.deepEqual(errors, []);
});
