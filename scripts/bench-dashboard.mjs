#!/usr/bin/env node
// The dashboard's first render at scale: a real `allot serve` (dev mode, loopback, free port) gets N nodes
// and M tenants (with quotas) and some allocations through the API, then Debian's chromium (playwright-core
// from web/node_modules) opens each view and the time from navigation start to the view's first render
// with data (the page's `allot:rendered:VIEW` performance mark) is measured. Prints the median of --runs
// loads per view, first with an empty cache (a fresh browser profile each run) and then warm.
// Usage: node scripts/bench-dashboard.mjs [--nodes 10000] [--tenants 1000] [--allocations 5000] [--runs 5]
//        [--views overview,nodes,tenants,queue] [--shots DIR: a screenshot of each view there]
//        (needs `make build`: build/allot and build/dashboard)
import os from 'node:os';
import { AllotServer, launch } from '../tests/web/harness.mjs';

const opt = { nodes: 10000, tenants: 1000, allocations: 5000, runs: 5, views: 'overview,nodes,tenants,queue,events', shots: '' };
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
  const k = argv[i].replace(/^--/, '');
  if (k === 'help' || !(k in opt)) {
    console.log('usage: node scripts/bench-dashboard.mjs [--nodes N] [--tenants N] [--allocations N] [--runs N] [--views a,b]');
    process.exit(k === 'help' ? 0 : 2);
  }
  opt[k] = typeof opt[k] === 'string' ? argv[++i] : Number(argv[++i]);
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

// Runs fn(i) for i in [0, n) with at most `width` at a time.
async function pool(n, width, fn) {
  let next = 0;
  await Promise.all(Array.from({ length: width }, async () => {
    while (next < n) await fn(next++);
  }));
}

const server = new AllotServer({
  dev: true,
  config: 'limits: {max_allocations_per_tenant: 100000, max_concurrent_allocations: 1000000}\nlog: {requests: false}\n',
  args: ['--store', 'memory'],
});
const s = await server.start();
if (!s.ok) throw new Error(`allot serve did not start: ${s.log}`);
try {
  let t0 = Date.now();
  await pool(opt.nodes, 32, (i) => server.must('POST', '/v1/nodes', {
    name: `node-${String(i).padStart(5, '0')}`,
    capacity: i % 10 === 0 ? { cpu: '64', memory: '512Gi', gpu: '8' } : { cpu: String(16 * (1 + (i % 4))), memory: `${64 * (1 + (i % 4))}Gi` },
    labels: { zone: `z${i % 3}`, rack: `r${Math.floor(i / 40)}` },
    pool: `pool-${i % 8}`,
  }));
  const nodesS = (Date.now() - t0) / 1000;
  t0 = Date.now();
  const tenant = (i) => `org/team-${String(i % 50).padStart(2, '0')}/svc-${String(i).padStart(4, '0')}`;
  await pool(opt.tenants, 32, (i) => server.must('PUT', `/v1/quotas/${tenant(i)}`, {
    weight: 1 + (i % 3), guaranteed: { cpu: String(8 + (i % 8)), memory: '32Gi' }, max: { cpu: '256', memory: '1Ti' },
  }));
  const tenantsS = (Date.now() - t0) / 1000;
  t0 = Date.now();
  await pool(opt.allocations, 32, (i) => server.must('POST', '/v1/allocations', {
    tenant: tenant(i % opt.tenants), requests: { cpu: String(1 + (i % 16)), memory: `${2 + (i % 30)}Gi` }, duration: '1h',
  }));
  const allocS = (Date.now() - t0) / 1000;
  console.log(`loaded through the API: ${opt.nodes} nodes in ${nodesS.toFixed(1)} s, ${opt.tenants} tenants in ${tenantsS.toFixed(1)} s, ${opt.allocations} allocations in ${allocS.toFixed(1)} s`);

  const sizes = {};
  for (const [p, key] of [['/v1/nodes', 'nodes'], ['/v1/quotas', 'quotas'], ['/v1/utilization', 'utilization']]) {
    const r = await fetch(`${server.url}${p}`);
    sizes[key] = (await r.text()).length;
  }
  console.log(`answer sizes: /v1/nodes ${(sizes.nodes / 1e6).toFixed(1)} MB, /v1/quotas ${(sizes.quotas / 1e6).toFixed(2)} MB, /v1/utilization ${(sizes.utilization / 1e3).toFixed(0)} kB`);

  // One page load: navigation to the view's first render with data, in ms (the page's own mark).
  const load = async (context, view) => {
    const page = await context.newPage();
    await page.goto(`${server.url}/#/${view}`);
    // The mark's time, and how much of it was the API: the last /v1 answer's end (resource timing).
    const t = await page.waitForFunction((name) => {
      const m = performance.getEntriesByName(name)[0];
      if (!m) return false;
      const api = performance.getEntriesByType('resource').filter((e) => e.name.includes('/v1/') && e.responseEnd <= m.startTime);
      return { ms: m.startTime, apiEnd: Math.max(0, ...api.map((e) => e.responseEnd)), apiMs: Math.max(0, ...api.map((e) => e.responseEnd - e.startTime)) };
    }, `allot:rendered:${view}`, { timeout: 60000, polling: 10 }).then((h) => h.jsonValue());
    await page.close();
    return t;
  };
  const rows = [];
  for (const view of opt.views.split(',')) {
    const cold = [];
    for (let r = 0; r < opt.runs; r++) {
      const b = await launch();
      cold.push(await load(b.context, view));
      await b.close();
    }
    const b = await launch();
    await load(b.context, view); // fills the cache
    if (opt.shots) {
      const page = await b.context.newPage();
      await page.goto(`${server.url}/#/${view}`);
      await page.waitForFunction((name) => performance.getEntriesByName(name).length > 0, `allot:rendered:${view}`, { timeout: 60000 });
      await page.screenshot({ path: `${opt.shots}/bench-${view}.png` });
      await page.close();
    }
    const warm = [];
    for (let r = 0; r < opt.runs; r++) warm.push(await load(b.context, view));
    await b.close();
    rows.push({
      view,
      cold_ms: median(cold.map((x) => x.ms)),
      warm_ms: median(warm.map((x) => x.ms)),
      api_ms: median(warm.map((x) => x.apiMs)),
      after_api_ms: median(warm.map((x) => x.ms - x.apiEnd)),
      cold_all: cold.map((x) => Math.round(x.ms)),
      warm_all: warm.map((x) => Math.round(x.ms)),
    });
  }
  console.log(`first render (median of ${opt.runs}; ms from navigation start to the view drawn with data), ${opt.nodes} nodes, ${opt.tenants} tenants, load average ${os.loadavg()[0].toFixed(1)} on ${os.cpus().length} cores:`);
  for (const r of rows) {
    console.log(`  ${r.view.padEnd(10)} cold ${String(Math.round(r.cold_ms)).padStart(5)} ms  warm ${String(Math.round(r.warm_ms)).padStart(5)} ms` +
      `  (warm: slowest API answer ${Math.round(r.api_ms)} ms, drawing after the last answer ${Math.round(r.after_api_ms)} ms)` +
      `   cold ${r.cold_all.join(', ')}; warm ${r.warm_all.join(', ')}`);
  }
} finally {
  await server.stop();
}
