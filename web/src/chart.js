// Time-series line charts (uPlot): one chart per resource, updated in place as new points arrive.
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { h } from './dom.js';
import { num } from './format.js';

export const COLORS = {
  capacity: '#6b7280',
  allocated: '#2563eb',
  used: '#16a34a',
  queued: '#d97706',
  forecast: '#9333ea',
  history: '#2563eb',
};

// A chart in its own box. series: [{label, color, dash}]; update(t[], [values[]...]) redraws.
export class LineChart {
  constructor(title, yLabel, series, opts = {}) {
    this.el = h('div.chart', { 'data-title': title }, h('h3', title));
    this.plotEl = h('div.plot');
    this.el.append(this.plotEl);
    this.series = series;
    this.yLabel = yLabel;
    this.height = opts.height || 200;
    this.plot = null;
    this.points = 0;
    this.resizer = new ResizeObserver(() => this.resize());
  }

  width() {
    return Math.max(280, Math.floor(this.el.clientWidth || 600) - 16);
  }

  resize() {
    if (this.plot) this.plot.setSize({ width: this.width(), height: this.height });
  }

  update(t, columns) {
    const data = [t, ...columns];
    this.points = t.length;
    this.el.dataset.points = String(t.length);
    if (!this.plot) {
      const opts = {
        width: this.width(),
        height: this.height,
        legend: { live: true },
        cursor: { drag: { x: true, y: false } },
        scales: { x: { time: true }, y: { range: (u, min, max) => [0, max > 0 ? max * 1.08 : 1] } },
        axes: [
          { stroke: '#555', grid: { stroke: '#eee' } },
          { label: this.yLabel, stroke: '#555', grid: { stroke: '#eee' }, size: 60, values: (u, vals) => vals.map(num) },
        ],
        series: [
          {},
          ...this.series.map((s) => ({
            label: s.label,
            stroke: s.color,
            width: 2,
            dash: s.dash,
            spanGaps: false,
            fill: s.fill,
            value: (u, v) => (v === null || v === undefined ? '–' : num(v)),
          })),
        ],
      };
      this.plot = new uPlot(opts, data, this.plotEl);
      this.resizer.observe(this.el);
    } else {
      this.plot.setData(data);
    }
  }

  destroy() {
    this.resizer.disconnect();
    if (this.plot) this.plot.destroy();
    this.plot = null;
  }
}
