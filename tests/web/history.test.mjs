// The overview's charts from GET /v1/history, and the analytics view from /v1/analytics/*, against a
// real server that samples every second. Written against the history contract (DESIGN.md); skips with a
// message while this server has no history (the route answers 404, or the config has no history.interval).
// Screenshots: build/web-artifacts/history-*.png.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
  AllotServer, consoleErrors, demoConfig, demoLoad, eventually, launch, playwright, screenshot, skip,
} from './harness.mjs';

playwright();

// Samples every second, kept at one-second steps for the hour (the overview asks for the last hour).
const server = new AllotServer({
  dev: true,
  config: demoConfig(`history: {interval: 1s, tiers: [{step: 1s, keep: 1h}, {step: 1m, keep: 1d, nodes: true}]}
analytics: {currency: EUR, prices: {cpu: 0.04, memory: 0.005, gpu: 2.5}}
`),
});
const started = await server.start();
if (!started.ok && /history/.test(started.log)) {
  await server.stop();
  skip('this allot serve does not know the history config (history.interval): history is not merged yet');
}
assert.ok(started.ok, `allot serve did not start: ${started.log}`);
const probe = await server.api('GET', '/v1/history?scope=cluster&from=1h');
if (probe.status === 404) {
  await server.stop();
  skip('GET /v1/history answers 404 on this server: history is not merged yet');
}

let browser;
let page;
let errors;

before(async () => {
  await demoLoad(server);
  browser = await launch();
  page = await browser.context.newPage();
  errors = consoleErrors(page);
});

after(async () => {
  if (browser) await browser.close();
  await server.stop();
});

test('the overview charts history once the server has samples', async () => {
  // Three samples at one a second.
  await eventually(async () => {
    const h = await server.must('GET', '/v1/history?scope=cluster&from=1h');
    const cpu = (h.series || []).find((s) => s.resource === 'cpu');
    return cpu && cpu.t.length >= 3 && cpu.allocated[cpu.allocated.length - 1] > 0;
  }, 30000, 'three history samples with the load');
  await page.goto(`${server.url}/?refresh=1#/overview`);
  await page.waitForSelector('main[data-view="overview"] .status:text-matches("updated")');
  await eventually(async () => Number(await page.locator('.chart[data-resource="cpu"]').getAttribute('data-points')) >= 3, 15000, 'points');
  assert.equal(await page.locator('.history-note .notice').count(), 0, 'no "no history yet" note');
  // The chart's legend names the series the contract gives.
  const legend = await page.locator('.chart[data-resource="cpu"] .u-legend').innerText();
  for (const s of ['capacity', 'allocated', 'queued']) assert.match(legend, new RegExp(s));
  await screenshot(page, 'history-overview');
});

test('the analytics view shows efficiency, bottleneck, cost and forecast', async (t) => {
  const probeA = await server.api('GET', '/v1/analytics/efficiency?window=1h');
  if (probeA.status === 404) {
    t.skip('GET /v1/analytics/efficiency answers 404 on this server: analytics is not merged yet');
    return;
  }
  await page.goto(`${server.url}/?refresh=1#/analytics`);
  await page.waitForSelector('main[data-view="analytics"] .status:text-matches("updated")');
  // The last hour's efficiency: 30 of 128 cores allocated since the load (less on average before it).
  await page.locator('#efficiency-cluster tbody tr').first().waitFor();
  assert.match(await page.locator('#efficiency-cluster tbody tr').first().innerText(), /^cpu\s+128\s/);
  // The 30-core request no node can hold now: cpu is the bottleneck.
  assert.match(await page.locator('#bottleneck .headline').innerText(), /^cpu blocks the most queued demand \(1 queued\)/);
  assert.match(await page.locator('#cost').innerText(), /Total [\d.]+ EUR over 1h/);
  assert.ok(await page.locator('#cost-items tbody tr').count() >= 3);
  assert.match(await page.locator('.analytics').innerText(), /Holt forecast of cpu demand, cluster, step 1m/);
  assert.equal(await page.locator('.notice:has-text("has no analytics endpoint")').count(), 0);
  await screenshot(page, 'history-analytics');
});

test('no console errors', () => {
  assert.deepEqual(errors, []);
});
