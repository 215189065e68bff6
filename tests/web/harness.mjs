// What the browser tests (and scripts/bench-dashboard.mjs) share: a real `allot serve` on a free loopback
// port with a temporary data folder, stopped by its PID; Debian's chromium driven by playwright-core
// (from web/'s lock file) with a fresh user-data folder; console errors collected; screenshots saved.
//
// Environment (CTest sets it, tests/web/CMakeLists.txt): ALLOT_BINARY (build/allot), ALLOT_DASHBOARD_DIR
// (build/dashboard), ALLOT_WEB_DIR (web/, for node_modules), ALLOT_WEB_ARTIFACTS (where screenshots go),
// CHROMIUM (default /usr/bin/chromium).
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..', '..');

export const env = {
  allot: process.env.ALLOT_BINARY || path.join(root, 'build', 'allot'),
  dashboard: process.env.ALLOT_DASHBOARD_DIR || path.join(root, 'build', 'dashboard'),
  webDir: process.env.ALLOT_WEB_DIR || path.join(root, 'web'),
  artifacts: process.env.ALLOT_WEB_ARTIFACTS || path.join(root, 'build', 'web-artifacts'),
  chromium: process.env.CHROMIUM || '/usr/bin/chromium',
};

export const SKIP = 77; // CTest's SKIP_RETURN_CODE for these tests

export function skip(why) {
  console.log(`SKIP: ${why}`);
  process.exit(SKIP);
}

function fail(why) {
  console.error(`FAIL: ${why}`);
  process.exit(1);
}

// playwright-core from web/node_modules. Skips where chromium is absent; a missing dashboard build or
// node_modules (npm ci failed) is a failure, not a skip.
export function playwright() {
  try {
    fs.accessSync(env.chromium, fs.constants.X_OK);
  } catch {
    skip(`no chromium at ${env.chromium} (scripts/install-deps.sh test installs Debian's chromium)`);
  }
  if (!fs.existsSync(path.join(env.dashboard, 'index.html'))) {
    fail(`the dashboard is not built (${env.dashboard}/index.html is missing): run make build with node and npm`);
  }
  try {
    return createRequire(path.join(env.webDir, 'package.json'))('playwright-core');
  } catch (e) {
    fail(`playwright-core is not installed in ${env.webDir}/node_modules (make build runs npm ci): ${e.message}`);
  }
  return null;
}

export function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.unref();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// A real `allot serve`. opts: config (YAML text), args (more flags), dev (bool), token (for api()),
// dashboard (false: no --dashboard-dir), binary and dashboardDir (another build than env's).
export class AllotServer {
  constructor(opts = {}) {
    this.opts = opts;
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'allot-web-'));
    this.proc = null;
    this.log = '';
  }

  async start() {
    this.port = await freePort();
    this.url = `http://127.0.0.1:${this.port}`;
    const args = ['serve', '--listen', `127.0.0.1:${this.port}`, '--data', path.join(this.dir, 'data'), '--quiet',
      '--no-fsync'];
    if (this.opts.dashboard !== false) args.push('--dashboard-dir', this.opts.dashboardDir || env.dashboard);
    if (this.opts.dev) args.push('--dev');
    if (this.opts.config) {
      fs.writeFileSync(path.join(this.dir, 'allot.yaml'), this.opts.config);
      args.push('--config', path.join(this.dir, 'allot.yaml'));
    }
    args.push(...(this.opts.args || []));
    this.proc = spawn(this.opts.binary || env.allot, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    this.proc.stderr.on('data', (d) => { this.log += d; });
    // A script that dies before stop() (an uncaught error) still ends its server (only one not yet
    // stopped and reaped: its PID is still its own).
    const proc = this.proc;
    process.once('exit', () => {
      if (this.proc === proc && proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
    });
    const exited = new Promise((resolve) => this.proc.once('exit', (code) => resolve(code)));
    for (let i = 0; i < 400; i++) {
      const code = await Promise.race([exited, sleep(50).then(() => undefined)]);
      if (code !== undefined) {
        this.proc = null;
        return { ok: false, log: this.log };
      }
      try {
        const r = await fetch(`${this.url}/readyz`);
        if (r.status === 200) return { ok: true };
      } catch {
        // not listening yet
      }
    }
    return { ok: false, log: this.log };
  }

  // An API call; answers {status, body}. token: a bearer token (none in dev mode).
  async api(method, p, body, token = this.opts.token) {
    const headers = {};
    if (token) headers.Authorization = `Bearer ${token}`;
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    const r = await fetch(`${this.url}${p}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await r.text();
    let data = text;
    try {
      data = JSON.parse(text);
    } catch {
      // not JSON
    }
    return { status: r.status, body: data };
  }

  async must(method, p, body, token) {
    const r = await this.api(method, p, body, token);
    if (r.status >= 300) throw new Error(`${method} ${p}: ${r.status} ${JSON.stringify(r.body)}`);
    return r.body;
  }

  async stop() {
    if (this.proc) {
      const p = this.proc;
      this.proc = null;
      const done = new Promise((resolve) => p.once('exit', resolve));
      process.kill(p.pid, 'SIGTERM');
      const t = setTimeout(() => process.kill(p.pid, 'SIGKILL'), 10000);
      await done;
      clearTimeout(t);
    }
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

// The demo cluster of examples/server/demo.yaml (five nodes, three tenants with quotas) plus `extra` YAML.
export function demoConfig(extra = '') {
  return `policy: {scoring: least-allocated, fair_share: drf, preemption: true, backfill: true, quota_mode: queue}
tenants:
  - {path: org/research, weight: 2, quota: {guaranteed: {cpu: "16", memory: 64Gi}, max: {cpu: "48", memory: 192Gi, gpu: "4"}}}
  - {path: org/agents, weight: 1, quota: {guaranteed: {cpu: "8", memory: 32Gi}, max: {cpu: "32", memory: 128Gi}}}
  - {path: org/batch, weight: 1, quota: {max: {cpu: "24"}}}
  - {path: org/train, weight: 1}
nodes:
  - {name: cpu-1, capacity: {cpu: "16", memory: 64Gi}, labels: {zone: a}}
  - {name: cpu-2, capacity: {cpu: "16", memory: 64Gi}, labels: {zone: b}}
  - {name: cpu-3, capacity: {cpu: "32", memory: 128Gi}, labels: {zone: a}}
  - {name: gpu-1, capacity: {cpu: "32", memory: 256Gi, gpu: "4"}, labels: {zone: a, kind: gpu}}
  - {name: gpu-2, capacity: {cpu: "32", memory: 256Gi, gpu: "4"}, labels: {zone: b, kind: gpu}}
throttling:
  ratelimits:
    llm/openai: {rate: 2/m, burst: 2}
  breakers:
    keys:
      search/api: {}
  pools:
    gpu-slots: {capacity: 4}
${extra}`;
}

// Load through the API: running allocations with durations, one the cluster cannot hold now (queued),
// a reservation, rate-limit denials and a breaker report. Returns the ids.
export async function demoLoad(server, token) {
  const ids = { placed: [], queued: [] };
  const submit = async (tenant, cpu, memory, duration, extra = {}) => {
    const a = await server.must('POST', '/v1/allocations', { tenant, requests: { cpu, memory }, duration, ...extra }, token);
    (a.state === 'queued' ? ids.queued : ids.placed).push(a.id);
    return a;
  };
  await submit('org/research', '8', '32Gi', '30m');
  await submit('org/research', '12', '64Gi', '20m');
  await submit('org/agents', '4', '8Gi', '10m', { priority: 'high' });
  await submit('org/batch', '6', '4Gi', '45m');
  // 128 cores in all, 30 taken, spread over the nodes: no node has 30 free until a lease ends.
  await submit('org/train', '30', '8Gi', '15m');
  ids.reservation = (await server.must('POST', '/v1/reservations',
    { id: 'r-training', tenant: 'org/research', start: '+30m', duration: '2h', requests: { cpu: '8' } }, token)).id;
  for (let i = 0; i < 4; i++) await server.must('POST', '/v1/ratelimits/llm/openai/acquire', { tenant: 'org/agents' }, token);
  await server.must('POST', '/v1/breakers/search/api/report', { outcome: 'failure' }, token);
  return ids;
}

// Chromium, headless, with a fresh user-data folder (removed by close()).
export async function launch() {
  const pw = playwright();
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'allot-chromium-'));
  const context = await pw.chromium.launchPersistentContext(profile, {
    executablePath: env.chromium,
    headless: true,
    viewport: { width: 1400, height: 900 },
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
      '--disable-sync', '--no-first-run', '--disable-dev-shm-usage'],
  });
  const close = async () => {
    await context.close();
    fs.rmSync(profile, { recursive: true, force: true });
  };
  return { context, close };
}

// Console errors and page errors of `page`; allowed(url, text) lets a test accept expected ones (e.g. a
// 404 from an endpoint this server does not have yet).
export function consoleErrors(page, allowed = () => false) {
  const errors = [];
  page.on('console', (m) => {
    if (m.type() !== 'error') return;
    const url = (m.location() || {}).url || '';
    if (allowed(url, m.text())) return;
    errors.push(`${m.text()} (${url})`);
  });
  page.on('pageerror', (e) => errors.push(`page error: ${e.message}`));
  return errors;
}

// The "Failed to load resource" lines for endpoints that may be absent before history is merged.
export function optionalRoute404(url, text) {
  return /status of 404/.test(text) && /\/v1\/(history|analytics\/)/.test(url);
}

export async function screenshot(page, name) {
  fs.mkdirSync(env.artifacts, { recursive: true });
  const file = path.join(env.artifacts, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  return file;
}

// Polls fn until it returns a truthy value or `ms` pass.
export async function eventually(fn, ms = 20000, what = 'condition') {
  const end = Date.now() + ms;
  let last;
  while (Date.now() < end) {
    try {
      last = await fn();
      if (last) return last;
    } catch (e) {
      last = e;
    }
    await sleep(100);
  }
  throw new Error(`timed out waiting for ${what} (last: ${last instanceof Error ? last.message : JSON.stringify(last)})`);
}
