// Overview: the cluster now (nodes, allocations, queue, degradation, per-resource totals) and capacity /
// allocated / used / queued per resource over time, from GET /v1/history. Without history (a server
// that does not record it yet) the charts show what this page has seen since it opened.
import * as api from '../api.js';
import { LineChart, COLORS } from '../chart.js';
import { bar, fill, h, notice } from '../dom.js';
import { amount, orderResources, percent, plotScale } from '../format.js';

const RANGES = [['1h', '1 hour'], ['6h', '6 hours'], ['24h', '24 hours'], ['7d', '7 days'], ['30d', '30 days']];

// [{t, capacity, allocated, observed}] from /v1/utilization, while there is no history (kept across views).
const seen = [];

function card(label, value, sub) {
  return h('div.card', { 'data-card': label.toLowerCase() }, h('div.label', label), h('div.value', value), sub ? h('div.sub', sub) : null);
}

export default {
  id: 'overview',
  title: 'Overview',
  create(ctx) {
    let range = sessionStorage.getItem('allot.range') || '1h';
    const cards = h('div.cards');
    const totals = h('div.totals');
    const note = h('div.history-note');
    const charts = h('div.charts');
    const chartByResource = new Map();
    const select = h('select', {
      id: 'range',
      onchange: () => {
        range = select.value;
        sessionStorage.setItem('allot.range', range);
        ctx.refreshNow();
      },
    }, RANGES.map(([v, t]) => h('option', { value: v, selected: v === range }, t)));
    const el = h('section.overview', cards, h('h3', 'Now'), totals,
      h('div.toolbar', h('h3', 'Over time'), h('label', 'Range ', select)), note, charts);

    // withQueued: false while the charts show what the page has seen (utilisation has no queued demand).
    function chartFor(resource, unit, withUsed, withQueued = true) {
      const key = `${resource}:${withUsed}:${withQueued}`;
      let c = chartByResource.get(key);
      if (!c) {
        for (const [k, old] of chartByResource) {
          if (k.startsWith(`${resource}:`)) {
            old.destroy();
            old.el.remove();
            chartByResource.delete(k);
          }
        }
        const series = [
          { label: 'capacity', color: COLORS.capacity, dash: [6, 4] },
          { label: 'allocated', color: COLORS.allocated, fill: 'rgba(37,99,235,0.08)' },
          ...(withUsed ? [{ label: 'used', color: COLORS.used }] : []),
          ...(withQueued ? [{ label: 'queued', color: COLORS.queued }] : []),
        ];
        c = new LineChart(resource, plotScale(resource, unit).label, series);
        c.el.dataset.resource = resource;
        chartByResource.set(key, c);
        charts.append(c.el);
      }
      return c;
    }

    function drawHistory(hist) {
      const order = orderResources((hist.series || []).map((s) => s.resource));
      const series = (hist.series || []).slice().sort((a, b) => order.indexOf(a.resource) - order.indexOf(b.resource));
      const points = series.reduce((n, s) => Math.max(n, (s.t || []).length), 0);
      fill(note, points ? null : notice('info', 'No history yet: the server records a sample every history.interval; the first points appear after it.'));
      for (const s of series) {
        const { factor } = plotScale(s.resource, s.unit);
        const scale = (arr) => (arr || []).map((v) => (v === null || v === undefined ? null : v * factor));
        const withUsed = Array.isArray(s.used) && s.used.some((v) => v !== null && v !== undefined);
        const cols = [scale(s.capacity), scale(s.allocated), ...(withUsed ? [scale(s.used)] : []), scale(s.queued)];
        chartFor(s.resource, s.unit, withUsed).update(s.t || [], cols);
      }
    }

    function drawSeen(util) {
      const now = Date.now() / 1000;
      seen.push({ t: now, capacity: util.capacity || {}, allocated: util.allocated || {}, observed: util.observed || {} });
      while (seen.length > 720) seen.shift();
      fill(note, notice('info', 'No history yet: this server does not record history (GET /v1/history is not there), so the charts show what this page has seen since it opened.'));
      const resources = orderResources(Object.keys(util.capacity || {}));
      for (const r of resources) {
        const { factor } = plotScale(r);
        const withUsed = seen.some((p) => p.observed[r] !== undefined);
        const pick = (k) => seen.map((p) => (p[k][r] === undefined ? null : p[k][r] * factor));
        chartFor(r, undefined, withUsed, false).update(seen.map((p) => p.t),
          [pick('capacity'), pick('allocated'), ...(withUsed ? [pick('observed')] : [])]);
      }
    }

    async function refresh() {
      const [util, hist] = await Promise.all([
        api.get('/v1/utilization'),
        api.getOptional('/v1/history', { scope: 'cluster', from: range }),
      ]);
      const n = util.nodes || {};
      const a = util.allocations || {};
      const d = util.degradation || {};
      fill(cards,
        card('Nodes', String(n.total ?? 0), `${n.up ?? 0} up · ${n.draining ?? 0} draining · ${n.down ?? 0} down`),
        card('Running', String(a.placed ?? 0), 'placed allocations'),
        card('Queued', String(a.queued ?? 0), util.queue_depth !== undefined ? `queue depth ${util.queue_depth}` : ''),
        card('Tenants', String((util.tenants || []).filter((t) => (t.running || 0) + (t.queued || 0) > 0).length), 'with work running or queued'),
        card('Degradation', d.name || 'normal', `level ${d.level ?? 0} · scale ${d.scale_factor ?? 1}`));
      const resources = orderResources(Object.keys(util.capacity || {}));
      fill(totals, resources.map((r) => {
        const cap = util.capacity[r] || 0;
        const alloc = (util.allocated || {})[r] || 0;
        const obs = util.observed ? util.observed[r] : undefined;
        return h('div.total-row', { 'data-resource': r },
          h('span.name', r),
          bar([{ value: alloc, class: 'allocated', title: 'allocated' }], cap,
            obs !== undefined ? [{ value: obs, class: 'used', title: 'observed used' }] : []),
          h('span.nums', `${amount(r, alloc)} of ${amount(r, cap)} allocated (${percent((util.utilization_percent || {})[r] ?? 0)})`,
            obs !== undefined ? ` · ${amount(r, obs)} used` : ''));
      }));
      if (hist) drawHistory(hist);
      else drawSeen(util);
    }

    return {
      el,
      refresh,
      destroy() {
        for (const c of chartByResource.values()) c.destroy();
      },
    };
  },
};
