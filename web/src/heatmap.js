// A canvas heatmap of allocation by node and resource: one band per resource, one cell per node (in the
// same place in every band), coloured by allocated / capacity. Drawn on one canvas, so 10,000 nodes are
// 30,000 rectangles, not 30,000 elements; hover shows a node, click selects it.
import { h } from './dom.js';
import { amount, percent } from './format.js';

const STOPS = [
  [0, [241, 245, 249]],
  [0.25, [191, 219, 254]],
  [0.5, [96, 165, 250]],
  [0.75, [245, 158, 11]],
  [1, [185, 28, 28]],
];
const DOWN = '#374151';
const NONE = '#ffffff';
const LABEL_W = 110;
const BAND_GAP = 14;

// 101 colours, one per percent.
const PALETTE = Array.from({ length: 101 }, (_, i) => {
  const f = i / 100;
  let k = 1;
  while (k < STOPS.length - 1 && STOPS[k][0] < f) k++;
  const [f0, c0] = STOPS[k - 1];
  const [f1, c1] = STOPS[k];
  const w = (f - f0) / (f1 - f0);
  const c = c0.map((v, j) => Math.round(v + (c1[j] - v) * w));
  return `rgb(${c[0]},${c[1]},${c[2]})`;
});

export function colorFor(fraction) {
  return PALETTE[Math.max(0, Math.min(100, Math.round(fraction * 100)))];
}

export class Heatmap {
  constructor(onSelect) {
    this.onSelect = onSelect;
    this.canvas = h('canvas.heatmap', { 'aria-label': 'allocation by node and resource' });
    this.tip = h('div.tooltip', { hidden: true });
    this.el = h('div.heatmap-box', this.canvas, this.tip);
    this.nodes = [];
    this.resources = [];
    this.selected = null;
    this.canvas.addEventListener('mousemove', (e) => this.hover(e));
    this.canvas.addEventListener('mouseleave', () => { this.tip.hidden = true; });
    this.canvas.addEventListener('click', (e) => {
      const hit = this.hit(e);
      if (hit) {
        this.selected = hit.node.name;
        this.draw();
        this.onSelect(hit.node);
      }
    });
    // Redrawn when its width changes (not when its own height does, after each draw).
    this.width = 0;
    this.resizer = new ResizeObserver(() => {
      if (this.el.clientWidth !== this.width) this.draw();
    });
    this.resizer.observe(this.el);
  }

  update(nodes, resources) {
    this.nodes = nodes;
    this.resources = resources;
    this.canvas.dataset.nodes = String(nodes.length);
    this.draw();
  }

  layout() {
    this.width = this.el.clientWidth;
    const n = this.nodes.length;
    const cell = n <= 64 ? 26 : n <= 400 ? 14 : n <= 2500 ? 8 : 5;
    const gap = cell >= 8 ? 2 : 1;
    const width = Math.max(300, this.el.clientWidth || 800);
    const cols = Math.max(1, Math.floor((width - LABEL_W) / (cell + gap)));
    const rows = Math.max(1, Math.ceil(n / cols));
    const band = rows * (cell + gap) + BAND_GAP;
    return { cell, gap, cols, rows, band, width, height: Math.max(40, band * this.resources.length) };
  }

  draw() {
    const L = (this.L = this.layout());
    const dpr = window.devicePixelRatio || 1;
    this.canvas.width = Math.round(L.width * dpr);
    this.canvas.height = Math.round(L.height * dpr);
    this.canvas.style.width = `${L.width}px`;
    this.canvas.style.height = `${L.height}px`;
    const ctx = this.canvas.getContext('2d');
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, L.width, L.height);
    ctx.font = '12px system-ui, sans-serif';
    ctx.textBaseline = 'top';
    const step = L.cell + L.gap;
    this.resources.forEach((res, b) => {
      const y0 = b * L.band;
      ctx.fillStyle = '#111827';
      ctx.fillText(res, 4, y0 + 2);
      // Cells grouped by colour: one fillStyle change per colour, not per cell.
      const groups = new Map();
      this.nodes.forEach((node, i) => {
        const cap = node.capacity ? node.capacity[res] || 0 : 0;
        let color;
        if (!node.up) color = DOWN;
        else if (!(cap > 0)) color = NONE;
        else color = colorFor(((node.allocated && node.allocated[res]) || 0) / cap);
        let g = groups.get(color);
        if (!g) groups.set(color, (g = []));
        g.push(i);
      });
      for (const [color, idx] of groups) {
        ctx.fillStyle = color;
        for (const i of idx) ctx.fillRect(LABEL_W + (i % L.cols) * step, y0 + Math.floor(i / L.cols) * step, L.cell, L.cell);
      }
      // Nodes without the resource are outlined; draining ones crossed; the selected one framed.
      ctx.lineWidth = 1;
      this.nodes.forEach((node, i) => {
        const x = LABEL_W + (i % L.cols) * step;
        const y = y0 + Math.floor(i / L.cols) * step;
        if (L.cell >= 8 && node.up && !(node.capacity && node.capacity[res] > 0)) {
          ctx.strokeStyle = '#d1d5db';
          ctx.strokeRect(x + 0.5, y + 0.5, L.cell - 1, L.cell - 1);
        }
        if (node.draining && node.up) {
          ctx.strokeStyle = '#111827';
          ctx.beginPath();
          ctx.moveTo(x, y);
          ctx.lineTo(x + L.cell, y + L.cell);
          ctx.stroke();
        }
        if (node.name === this.selected) {
          ctx.strokeStyle = '#000';
          ctx.lineWidth = 2;
          ctx.strokeRect(x - 1, y - 1, L.cell + 2, L.cell + 2);
          ctx.lineWidth = 1;
        }
      });
    });
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
    if (b < 0 || b >= this.resources.length || col >= L.cols || row >= L.rows) return null;
    const i = row * L.cols + col;
    if (i >= this.nodes.length) return null;
    return { node: this.nodes[i], resource: this.resources[b], x: e.clientX - r.left, y };
  }

  hover(e) {
    const hit = this.hit(e);
    if (!hit) {
      this.tip.hidden = true;
      return;
    }
    const { node, resource } = hit;
    const cap = node.capacity ? node.capacity[resource] : undefined;
    const alloc = node.allocated ? node.allocated[resource] || 0 : 0;
    this.tip.replaceChildren(
      h('strong', node.name), ` (${node.state})`, h('br'),
      cap > 0 ? `${resource}: ${amount(resource, alloc)} of ${amount(resource, cap)} (${percent((100 * alloc) / cap)})` : `no ${resource}`,
    );
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
    h('span.swatch', { style: { background: DOWN } }), 'down',
    h('span.swatch.none'), 'resource absent', h('span.swatch.draining'), 'draining');
}
