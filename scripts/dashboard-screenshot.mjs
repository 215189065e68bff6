#!/usr/bin/env node
// A screenshot of the dashboard on the demo cluster, as `make run` shows it: `allot serve --dev` with
// examples/server/demo.yaml on a free loopback port, scripts/demo-load.sh's light load, the page open for
// --wait seconds (so its charts have points), then a PNG of one view (the README's docs/dashboard.png).
// Usage: node scripts/dashboard-screenshot.mjs [--view overview] [--wait 90] [--out docs/dashboard.png]
//        [--width 1280] [--height 800]      (needs `make build`: build/allot and build/dashboard)
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { AllotServer, launch } from '../tests/web/harness.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const opt = { view: 'overview', wait: 90, out: path.join(root, 'docs', 'dashboard.png'), width: 1280, height: 800 };
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
  const k = argv[i].replace(/^--/, '');
  if (!(k in opt)) {
    console.log('usage: node scripts/dashboard-screenshot.mjs [--view V] [--wait S] [--out FILE] [--width W] [--height H]');
    process.exit(k === 'help' ? 0 : 2);
  }
  opt[k] = typeof opt[k] === 'number' ? Number(argv[++i]) : argv[++i];
}

const server = new AllotServer({ dev: true, config: fs.readFileSync(path.join(root, 'examples', 'server', 'demo.yaml'), 'utf8') });
const s = await server.start();
if (!s.ok) throw new Error(`allot serve did not start: ${s.log}`);
const load = spawn(path.join(root, 'scripts', 'demo-load.sh'), [server.url], { stdio: 'ignore' });
let browser = null;
try {
  browser = await launch();
  const page = await browser.context.newPage();
  await page.setViewportSize({ width: opt.width, height: opt.height });
  await page.goto(`${server.url}/?refresh=2#/${opt.view}`);
  await page.waitForTimeout(opt.wait * 1000);
  await page.screenshot({ path: opt.out });
  console.log(`wrote ${opt.out}`);
} finally {
  load.kill();
  if (browser) await browser.close();
  await server.stop();
}
