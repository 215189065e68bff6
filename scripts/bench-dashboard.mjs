#!/usr/bin/env node
// The dashboard's first render at scale: a real `allot serve` (dev mode, loopback, free port) gets N nodes
// and M tenants (with quotas) and some allocations through the API, then Debian's chromium (playwright-core
// from web/node_modules) opens each view and the time from navigation start to the view's first render
// with data (the page's `allot:rendered:VIEW` performance mark) is measured. Prints the median of --runs
// loads per view, first with an empty cache (a fresh browser profile each run) and then warm.
// With --baseline DIR (a folder holding another build's `allot` and `dashboard/`, e.g. main's), that build
// gets a server with the same cluster too, and each view's runs alternate between the two: before and after,
// measured in the same run.
// Usage: node scripts/bench-dashboard.mjs [--nodes 10000] [--tenants 1000] [--allocations 5000] [--runs 5]
//        [--views overview,nodes,tenants,queue] [--shots DIR: a screenshot of each view there]
//        [--baseline DIR] (needs `make build`: build/allot and build/dashboard)
import os from 'node:os';
import path from 'node:path';
import { AllotServer, launch } from '../tests/web/harness.mjs';

const opt = { nodes: 10000, tenants: 1000, allocations: 5000, runs: 5, views: 'overview,nodes,tenants,queue,events', shots: '', baseline: '' };
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
  const k = argv[i].replace(/^--/, '');
  if (k === 'help' || !(k in opt)) {
    console.log('usage: node scripts/bench-dashboard.mjs [--nodes N] [--tenants N] [--allocations N] [--runs N] [--views a,b] [--shots DIR] [--baseline DIR]');
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

const serve = (build) => new AllotServer({
  dev: true,
  config: 'limits: {max_allocations_per_tenant: 100000, max_concurrent_allocations: 1000000}\nlog: {requests: false}\n',
  args: ['--store', 'memory'],
  ...(build ? { binary: path.join(build, 'allot'), dashboardDir: path.join(build, 'dashboard') } : {}),
});
// [label, server]: the build under test, and the baseline's when asked for.
const servers = opt.baseline ? [['before', serve(opt.baseline)], ['after', serve(null)]] : [['', serve(null)]];

// The cluster, through the API; the same on every server.
async function fill(server) {
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
  return `${opt.nodes} nodes in ${nodesS.toFixed(1)} s, ${opt.tenants} tenants in ${tenantsS.toFixed(1)} s, ${opt.allocations} allocations in ${allocS.toFixed(1)} s`;
}

// One page load: navigation to the view's first render with data, in ms (the page's own mark).
async function load(server, context, view) {
  const page = await context.newPage();
  await page.goto(`${server.url}/#/${view}`);
  // The mark's time, and how much of it was the API: the last /v1 answer's end (resource timing).
  const t = await page.waitForFunction((name) => {
    const m = performance.getEntriesByName(name)[0];
    if (!m) return false;
    const api = performance.getEntriesByType('resource').filter((e) => e.name.includes('/v1/') && e.responseEnd <= m.startTime);
    // boot: the first API call (whoami) sent.
    return {
      ms: m.startTime,
      boot: Math.min(m.startTime, ...api.map((e) => e.startTime)),
      calls: api.length,
      apiEnd: Math.max(0, ...api.map((e) => e.responseEnd)),
      apiMs: Math.max(0, ...api.map((e) => e.responseEnd - e.startTime)),
    };
  }, `allot:rendered:${view}`, { timeout: 60000, polling: 10 }).then((h) => h.jsonValue());
  await page.close();
  return t;
}

async function shot(server, context, view, file) {
  const page = await context.newPage();
  await page.goto(`${server.url}/#/${view}`);
  await page.waitForFunction((name) => performance.getEntriesByName(name).length > 0, `allot:rendered:${view}`, { timeout: 60000 });
  await page.screenshot({ path: file });
  await page.close();
}

try {
  for (const [label, server] of servers) {
    const s = await server.start();
    if (!s.ok) throw new Error(`allot serve${label ? ` (${label})` : ''} did not start: ${s.log}`);
  }
  const loaded = await Promise.all(servers.map(([, server]) => fill(server)));
  servers.forEach(([label], i) => console.log(`loaded through the API${label ? ` (${label})` : ''}: ${loaded[i]}`));
  for (const [label, server] of servers) {
    const sizes = {};
    for (const [p, key] of [['/v1/nodes', 'nodes'], ['/v1/nodes?view=usage', 'usage'], ['/v1/quotas', 'quotas'], ['/v1/utilization', 'utilization']]) {
      const r = await fetch(`${server.url}${p}`);
      const text = await r.text();
      // A build without ?view=usage answers whole nodes to it.
      sizes[key] = r.ok && (key !== 'usage' || text.startsWith('{"count"')) ? text.length : 0;
    }
    console.log(`answer sizes${label ? ` (${label})` : ''}: /v1/nodes ${(sizes.nodes / 1e6).toFixed(1)} MB, ?view=usage ${sizes.usage ? `${(sizes.usage / 1e6).toFixed(2)} MB` : 'not served'}, ` +
      `/v1/quotas ${(sizes.quotas / 1e6).toFixed(2)} MB, /v1/utilization ${(sizes.utilization / 1e3).toFixed(0)} kB`);
  }
  // The node answers alone (node's fetch, read whole): median of --runs, the servers taking turns.
  for (const p of ['/v1/nodes', '/v1/nodes?view=usage']) {
    const ms = servers.map(() => []);
    for (let r = 0; r < opt.runs; r++) {
      for (let k = 0; k < servers.length; k++) {
        const t0 = performance.now();
        await (await fetch(`${servers[k][1].url}${p}`)).arrayBuffer();
        ms[k].push(performance.now() - t0);
      }
    }
    console.log(`GET ${p}: ${servers.map(([label], k) => `${label ? `${label} ` : ''}${Math.round(median(ms[k]))} ms`).join(', ')}`);
  }

  const rows = [];
  for (const view of opt.views.split(',')) {
    const cold = servers.map(() => []);
    const warm = servers.map(() => []);
    // Cold: a fresh browser each run, the servers taking turns.
    for (let r = 0; r < opt.runs; r++) {
      for (let k = 0; k < servers.length; k++) {
        const b = await launch();
        cold[k].push(await load(servers[k][1], b.context, view));
        await b.close();
      }
    }
    // Warm: one browser per server, its cache filled by a first load; then the servers take turns.
    const browsers = [];
    for (const [label, server] of servers) {
      const b = await launch();
      browsers.push(b);
      await load(server, b.context, view);
      if (opt.shots) await shot(server, b.context, view, `${opt.shots}/bench-${view}${label ? `-${label}` : ''}.png`);
    }
    for (let r = 0; r < opt.runs; r++) {
      for (let k = 0; k < servers.length; k++) warm[k].push(await load(servers[k][1], browsers[k].context, view));
    }
    for (const b of browsers) await b.close();
    servers.forEach(([label], k) => rows.push({
      view: label ? `${view} ${label}` : view,
      cold_ms: median(cold[k].map((x) => x.ms)),
      warm_ms: median(warm[k].map((x) => x.ms)),
      boot_ms: median(warm[k].map((x) => x.boot)),
      cold_boot_ms: median(cold[k].map((x) => x.boot)),
      calls: median(warm[k].map((x) => x.calls)),
      api_ms: median(warm[k].map((x) => x.apiMs)),
      after_api_ms: median(warm[k].map((x) => x.ms - x.apiEnd)),
      cold_all: cold[k].map((x) => Math.round(x.ms)),
      warm_all: warm[k].map((x) => Math.round(x.ms)),
    }));
  }
  console.log(`first render (median of ${opt.runs}; ms from navigation start to the view drawn with data), ${opt.nodes} nodes, ${opt.tenants} tenants, load average ${os.loadavg()[0].toFixed(1)} on ${os.cpus().length} cores:`);
  for (const r of rows) {
    console.log(`  ${r.view.padEnd(16)} cold ${String(Math.round(r.cold_ms)).padStart(5)} ms  warm ${String(Math.round(r.warm_ms)).padStart(5)} ms` +
      `  (first API call sent at ${Math.round(r.cold_boot_ms)} ms cold, ${Math.round(r.boot_ms)} ms warm; warm: ${r.calls} API calls,` +
      ` slowest ${Math.round(r.api_ms)} ms, drawing after the last answer ${Math.round(r.after_api_ms)} ms)` +
      `   cold ${r.cold_all.join(', ')}; warm ${r.warm_all.join(', ')}`);
  }
} finally {
  for (const [, server] of servers) await server.stop();
}
