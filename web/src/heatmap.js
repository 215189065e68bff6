// A canvas heatmap of allocation by node and resource: one band per resource, one cell per node (in the
// same place in every band), coloured by allocated / capacity. The cells are written as pixels into one
// image (10,000 nodes are 30,000 cells: no element, no path, no fillRect per cell); hover shows a node,
// click selects it.
import { h } from './dom.js';

const STOPS = [
  [0, [241, 245, 249]],
  [0.25, [191, 219, 254]],
  [0.5, [96, 165, 250]],
  [0.75, [245, 158, 11]],
  [1, [185, 28, 28]],
];
const DOWN = [55, 65, 81];
const NONE = [255, 255, 255];
const LABEL_W = 110;
const BAND_GAP = 14;

// 101 colours, one per percent, as [r, g, b].
const RGB = Array.from({ length: 101 }, (_, i) => {
  const f = i / 100;
  let k = 1;
  while (k < STOPS.length - 1 && STOPS[k][0] < f) k++;
  const [f0, c0] = STOPS[k - 1];
  const [f1, c1] = STOPS[k];
  const w = (f - f0) / (f1 - f0);
  return c0.map((v, j) => Math.round(v + (c1[j] - v) * w));
});
const css = ([r, g, b]) => `rgb(${r},${g},${b})`;
const PALETTE = RGB.map(css);
// The same colours as 32-bit pixels in the platform's byte order (ImageData is RGBA bytes).
const LITTLE = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;
const pixel = ([r, g, b]) => (LITTLE ? ((255 << 24) | (b << 16) | (g << 8) | r) >>> 0 : ((r << 24) | (g << 16) | (b << 8) | 255) >>> 0);
const PIXELS = Uint32Array.from(RGB, pixel);
const DOWN_PIXEL = pixel(DOWN);
const NONE_PIXEL = pixel(NONE);

export function colorFor(fraction) {
  return PALETTE[Math.max(0, Math.min(100, Math.round(fraction * 100)))];
}

// What the heatmap draws, for `count` cells in order: `resources` (one band each), `fraction[b]` (a
// Float32Array: allocated / capacity of resource b per cell, NaN where the node has none of it),
// `state` (a Uint8Array per cell: UP, DRAINING or DOWN), `name(k)` and `describe(k, b)` (the hover text).
export const UP = 0;
export const DRAINING = 1;
export const DOWN_STATE = 2;

export class Heatmap {
  constructor(onSelect) {
    this.onSelect = onSelect;
    this.canvas = h('canvas.heatmap', { 'aria-label': 'allocation by node and resource' });
    this.tip = h('div.tooltip', { hidden: true });
    this.el = h('div.heatmap-box', this.canvas, this.tip);
    this.model = { count: 0, resources: [], fraction: [], state: new Uint8Array(0), name: () => '', describe: () => '' };
    this.selected = null;
    this.canvas.addEventListener('mousemove', (e) => this.hover(e));
    this.canvas.addEventListener('mouseleave', () => { this.tip.hidden = true; });
    this.canvas.addEventListener('click', (e) => {
      const hit = this.hit(e);
      if (hit) {
        this.selected = this.model.name(hit.k);
        this.draw();
        this.onSelect(this.selected);
      }
    });
    // Redrawn when its width changes (not when its own height does, after each draw).
    this.width = 0;
    this.resizer = new ResizeObserver(() => {
      if (this.el.clientWidth !== this.width) this.draw();
    });
    this.resizer.observe(this.el);
  }

  update(model) {
    this.model = model;
    this.canvas.dataset.nodes = String(model.count);
    this.draw();
  }

  layout() {
    this.width = this.el.clientWidth;
    const n = this.model.count;
    const cell = n <= 64 ? 26 : n <= 400 ? 14 : n <= 2500 ? 8 : 5;
    const gap = cell >= 8 ? 2 : 1;
    const width = Math.max(300, this.el.clientWidth || 800);
    const cols = Math.max(1, Math.floor((width - LABEL_W) / (cell + gap)));
    const rows = Math.max(1, Math.ceil(n / cols));
    const band = rows * (cell + gap) + BAND_GAP;
    return { cell, gap, cols, rows, band, width, height: Math.max(40, band * this.model.resources.length) };
  }

  draw() {
    const L = (this.L = this.layout());
    const M = this.model;
    const dpr = window.devicePixelRatio || 1;
    const W = Math.round(L.width * dpr);
    const H = Math.round(L.height * dpr);
    this.canvas.width = W;
    this.canvas.height = H;
    this.canvas.style.width = `${L.width}px`;
    this.canvas.style.height = `${L.height}px`;
    const ctx = this.canvas.getContext('2d');
    // The cells, as pixels: a cell's device-pixel box is [round(x * dpr), round((x + cell) * dpr)).
    const step = L.cell + L.gap;
    const image = ctx.createImageData(W, H);
    const px = new Uint32Array(image.data.buffer);
    const xs = new Int32Array(L.cols + 1);
    const xe = new Int32Array(L.cols + 1);
    for (let c = 0; c < L.cols; c++) {
      xs[c] = Math.round((LABEL_W + c * step) * dpr);
      xe[c] = Math.min(W, Math.round((LABEL_W + c * step + L.cell) * dpr));
    }
    for (let b = 0; b < M.resources.length; b++) {
      const frac = M.fraction[b];
      const y0 = b * L.band;
      for (let k = 0; k < M.count; k++) {
        const col = k % L.cols;
        const top = y0 + ((k / L.cols) | 0) * step;
        const st = M.state[k];
        const f = frac[k];
        let color;
        if (st === DOWN_STATE) color = DOWN_PIXEL;
        else if (!(f === f)) color = NONE_PIXEL; // NaN: the node has none of this resource
        else color = PIXELS[Math.max(0, Math.min(100, Math.round(f * 100)))];
        const ys = Math.round(top * dpr);
        const ye = Math.min(H, Math.round((top + L.cell) * dpr));
        for (let y = ys; y < ye; y++) px.fill(color, y * W + xs[col], y * W + xe[col]);
      }
    }
    ctx.putImageData(image, 0, 0);
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.font = '12px system-ui, sans-serif';
    ctx.textBaseline = 'top';
    ctx.fillStyle = '#111827';
    M.resources.forEach((res, b) => ctx.fillText(res, 4, b * L.band + 2));
    // Nodes without the resource are outlined (at 8 px and more); draining ones crossed; the selected one
    // framed. Outlines and crosses are one path each.
    ctx.lineWidth = 1;
    const outline = new Path2D();
    const cross = new Path2D();
    let sel = -1;
    for (let k = 0; k < M.count; k++) {
      const st = M.state[k];
      if (st === DOWN_STATE) continue;
      const x = LABEL_W + (k % L.cols) * step;
      const yk = ((k / L.cols) | 0) * step;
      for (let b = 0; b < M.resources.length; b++) {
        const y = b * L.band + yk;
        if (L.cell >= 8 && !(M.fraction[b][k] === M.fraction[b][k])) outline.rect(x + 0.5, y + 0.5, L.cell - 1, L.cell - 1);
        if (st === DRAINING) {
          cross.moveTo(x, y);
          cross.lineTo(x + L.cell, y + L.cell);
        }
      }
    }
    if (this.selected !== null) {
      for (let k = 0; k < M.count && sel < 0; k++) if (M.name(k) === this.selected) sel = k;
    }
    ctx.strokeStyle = '#d1d5db';
    ctx.stroke(outline);
    ctx.strokeStyle = '#111827';
    ctx.stroke(cross);
    if (sel >= 0) {
      ctx.strokeStyle = '#000';
      ctx.lineWidth = 2;
      for (let b = 0; b < M.resources.length; b++) {
        ctx.strokeRect(LABEL_W + (sel % L.cols) * step - 1, b * L.band + ((sel / L.cols) | 0) * step - 1, L.cell + 2, L.cell + 2);
      }
    }
  }

  hit(e) {
    if (!this.L) return null;
    const r = this.canvas.getBoundingClientRect();
    const x = e.clientX - r.left - LABEL_W;
    const y = e.clientY - r.top;
    const L = this.L;
    const step = L.cell + L.gap;
    if (x < 0) return null;
    const b = Math.floor(y / L.band);
    const col = Math.floor(x / step);
    const row = Math.floor((y - b * L.band) / step);
    if (b < 0 || b >= this.model.resources.length || col >= L.cols || row >= L.rows) return null;
    const k = row * L.cols + col;
    if (k >= this.model.count) return null;
    return { k, b, x: e.clientX - r.left, y };
  }

  hover(e) {
    const hit = this.hit(e);
    if (!hit) {
      this.tip.hidden = true;
      return;
    }
    const st = ['up', 'draining', 'down'][this.model.state[hit.k]];
    this.tip.replaceChildren(h('strong', this.model.name(hit.k)), ` (${st})`, h('br'), this.model.describe(hit.k, hit.b));
    this.tip.hidden = false;
    this.tip.style.left = `${Math.min(hit.x + 12, this.el.clientWidth - 220)}px`;
    this.tip.style.top = `${hit.y + 12}px`;
  }

  destroy() {
    this.resizer.disconnect();
  }
}

// The colour legend: a gradient from 0 to 100 % with the states beside it.
export function legend() {
  const c = h('canvas.legend', { width: 200, height: 12 });
  const ctx = c.getContext('2d');
  for (let i = 0; i < 200; i++) {
    ctx.fillStyle = colorFor(i / 199);
    ctx.fillRect(i, 0, 1, 12);
  }
  return h('div.legend-row', '0%', c, '100% allocated',
    h('span.swatch', { style: { background: css(DOWN) } }), 'down',
    h('span.swatch.none'), 'resource absent', h('span.swatch.draining'), 'draining');
}
