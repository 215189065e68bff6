// Bundles the dashboard: src/main.js (and the CSS it imports) into OUTDIR/assets/ with content hashes in
// the file names, and OUTDIR/index.html naming them. `allot serve` serves OUTDIR at / (src/server/dashboard.h).
// Usage: node build.mjs [--outdir DIR] (default ../build/dashboard)
import * as esbuild from 'esbuild';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const at = args.indexOf('--outdir');
const outdir = path.resolve(at >= 0 ? args[at + 1] : path.join(here, '..', 'build', 'dashboard'));

// A fresh folder each time, so that old hashed files do not pile up (the server reads all of them).
await rm(path.join(outdir, 'assets'), { recursive: true, force: true });
await mkdir(path.join(outdir, 'assets'), { recursive: true });
const result = await esbuild.build({
  entryPoints: [path.join(here, 'src', 'main.js')],
  bundle: true,
  minify: true,
  format: 'esm',
  target: ['chrome109', 'firefox115', 'safari16'],
  outdir: path.join(outdir, 'assets'),
  entryNames: 'app-[hash]',
  assetNames: '[name]-[hash]',
  metafile: true,
  legalComments: 'none',
  logLevel: 'warning',
});
// boot.js: a small classic script the page's head runs first (it asks for the view's data early).
const boot = await esbuild.build({
  entryPoints: [path.join(here, 'src', 'boot.js')],
  bundle: true,
  minify: true,
  format: 'iife',
  target: ['chrome109', 'firefox115', 'safari16'],
  outdir: path.join(outdir, 'assets'),
  entryNames: 'boot-[hash]',
  metafile: true,
  legalComments: 'none',
  logLevel: 'warning',
});
const relative = (r) => Object.keys(r.metafile.outputs).map((f) => path.relative(outdir, path.resolve(f)));
const outputs = [...relative(result), ...relative(boot)];
const js = outputs.find((f) => f.endsWith('.js') && f.includes('app-'));
const bootJs = outputs.find((f) => f.endsWith('.js') && f.includes('boot-'));
const css = outputs.find((f) => f.endsWith('.css'));
let html = await readFile(path.join(here, 'index.html'), 'utf8');
html = html.replace('%BOOT%', `<script src="/${bootJs}"></script>`)
           .replace('%CSS%', css ? `<link rel="stylesheet" href="/${css}">` : '')
           .replace('%JS%', `<script type="module" src="/${js}"></script>`);
await writeFile(path.join(outdir, 'index.html'), html);
console.log(`dashboard: ${outputs.length + 1} files in ${outdir}`);
