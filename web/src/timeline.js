// A canvas timeline of reservations: one row each, a bar from start to end, the present as a line.
import { h } from './dom.js';
import { clock } from './format.js';

const ROW = 22;
const LABEL_W = 220;
const AXIS_H = 22;

export class Timeline {
  constructor() {
    this.canvas = h('canvas.timeline', { 'aria-label': 'reservation timeline' });
    this.el = h('div.timeline-box', this.canvas);
    this.items = [];
    this.resizer = new ResizeObserver(() => this.draw());
    this.resizer.observe(this.el);
  }

  // items: [{label, start (ms), end (ms), active, title}]
  update(items) {
    this.items = items;
    this.canvas.dataset.items = String(items.length);
    this.draw();
  }

  draw() {
    const width = Math.max(400, this.el.clientWidth || 800);
    const height = AXIS_H + Math.max(1, this.items.length) * ROW + 6;
    const dpr = window.devicePixelRatio || 1;
    this.canvas.width = Math.round(width * dpr);
    this.canvas.height = Math.round(height * dpr);
    this.canvas.style.width = `${width}px`;
    this.canvas.style.height = `${height}px`;
    const ctx = this.canvas.getContext('2d');
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, width, height);
    ctx.font = '12px system-ui, sans-serif';
    ctx.textBaseline = 'middle';
    const now = Date.now();
    let t0 = now - 3600e3;
    let t1 = now + 3600e3;
    for (const it of this.items) {
      t0 = Math.min(t0, it.start);
      t1 = Math.max(t1, it.end);
    }
    const span = t1 - t0 || 1;
    const x = (t) => LABEL_W + ((t - t0) / span) * (width - LABEL_W - 10);
    // Axis: six ticks.
    ctx.fillStyle = '#555';
    ctx.strokeStyle = '#e5e7eb';
    for (let i = 0; i <= 5; i++) {
      const t = t0 + (span * i) / 5;
      const xx = x(t);
      ctx.beginPath();
      ctx.moveTo(xx, AXIS_H - 4);
      ctx.lineTo(xx, height);
      ctx.stroke();
      ctx.textAlign = i === 5 ? 'right' : i === 0 ? 'left' : 'center';
      ctx.fillText(clock(new Date(t).toISOString()), xx, 9);
    }
    ctx.textAlign = 'left';
    this.items.forEach((it, i) => {
      const y = AXIS_H + i * ROW;
      ctx.fillStyle = '#111827';
      ctx.fillText(it.label.length > 34 ? `${it.label.slice(0, 33)}…` : it.label, 4, y + ROW / 2);
      ctx.fillStyle = it.active ? '#2563eb' : '#93c5fd';
      const a = x(it.start);
      ctx.fillRect(a, y + 4, Math.max(2, x(it.end) - a), ROW - 8);
    });
    ctx.strokeStyle = '#dc2626';
    ctx.lineWidth = 2;
    ctx.beginPath();
    ctx.moveTo(x(now), AXIS_H - 4);
    ctx.lineTo(x(now), height);
    ctx.stroke();
    ctx.lineWidth = 1;
    if (!this.items.length) {
      ctx.fillStyle = '#6b7280';
      ctx.fillText('no reservations', LABEL_W, AXIS_H + ROW / 2);
    }
  }

  destroy() {
    this.resizer.disconnect();
  }
}
