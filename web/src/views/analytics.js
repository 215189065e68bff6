// Analytics: allocation efficiency (allocated / capacity, used / allocated where observed), the
// bottleneck (the resource that blocks the most queued demand, and where), cost per tenant or workflow,
// and a demand forecast with its error on the past (GET /v1/analytics/...). Each part says "no history
// yet" when the server does not have that endpoint.
import * as api from '../api.js';
import { LineChart, COLORS } from '../chart.js';
import { bar, fill, h, notice, table } from '../dom.js';
import { amount, duration, money, num, orderResources, percent, plotScale } from '../format.js';

const WINDOWS = ['1h', '6h', '24h', '7d', '30d'];
// The forecast's step and horizon for a window: about 60-100 points of history, a sixth of it ahead.
const FORECAST = { '1h': ['1m', '10m'], '6h': ['5m', '1h'], '24h': ['15m', '4h'], '7d': ['1h', '1d'], '30d': ['6h', '5d'] };
const NO_HISTORY = 'No history yet: this server has no analytics endpoint (it answered 404).';

const ratio = (x) => (x === null || x === undefined ? '–' : percent(100 * x, 1));

function efficiencyTable(byResource, id) {
  const res = orderResources(Object.keys(byResource || {}));
  return table([
    { title: 'resource', cell: (r) => r },
    { title: 'capacity', class: 'num', cell: (r) => amount(r, byResource[r].capacity) },
    { title: 'allocated', class: 'num', cell: (r) => amount(r, byResource[r].allocated) },
    { title: 'used', class: 'num', cell: (r) => amount(r, byResource[r].used) },
    { title: 'allocated / capacity', class: 'wide', cell: (r) => h('div.usage',
      bar([{ value: byResource[r].allocation_ratio || 0, class: 'allocated' }], 1), h('div.sub', ratio(byResource[r].allocation_ratio))) },
    { title: 'used / allocated', class: 'num', cell: (r) => ratio(byResource[r].usage_ratio) },
  ], res, { attrs: { id } });
}

export default {
  id: 'analytics',
  title: 'Analytics',
  create(ctx) {
    let win = '1h';
    let by = 'tenant';
    let resource = 'cpu';
    const windowSel = h('select', { id: 'analytics-window' }, WINDOWS.map((w) => h('option', { value: w, selected: w === win }, w)));
    const bySel = h('select', { id: 'cost-by' }, ['tenant', 'workflow'].map((b) => h('option', { value: b }, b)));
    const resSel = h('select', { id: 'forecast-resource' }, h('option', { value: 'cpu' }, 'cpu'));
    const eff = h('div', { id: 'efficiency' });
    const bottleneck = h('div', { id: 'bottleneck' });
    const cost = h('div', { id: 'cost' });
    const forecastNote = h('div');
    const forecastBox = h('div', { id: 'forecast' });
    let chart = null;
    const el = h('section.analytics',
      h('div.toolbar', h('label', 'Window ', windowSel)),
      h('h3', 'Allocation efficiency'), eff,
      h('h3', 'Bottleneck'), bottleneck,
      h('div.toolbar', h('h3', 'Cost'), h('label', 'By ', bySel)), cost,
      h('div.toolbar', h('h3', 'Demand forecast'), h('label', 'Resource ', resSel)), forecastNote, forecastBox);
    windowSel.addEventListener('change', () => { win = windowSel.value; ctx.refreshNow(); });
    bySel.addEventListener('change', () => { by = bySel.value; ctx.refreshNow(); });
    resSel.addEventListener('change', () => {
      resource = resSel.value;
      if (chart) {
        chart.destroy();
        chart.el.remove();
        chart = null;
      }
      ctx.refreshNow();
    });

    function drawEfficiency(e) {
      if (!e) return fill(eff, notice('info', NO_HISTORY));
      const known = Object.values(e.cluster || {}).some((m) => m.capacity !== null && m.capacity !== undefined);
      if (!known) return fill(eff, notice('info', `Not enough history for the last ${win} yet: choose a shorter window.`));
      const tenants = Object.entries(e.tenants || {});
      const pools = Object.entries(e.pools || {});
      fill(eff,
        efficiencyTable(e.cluster || {}, 'efficiency-cluster'),
        pools.length ? [h('h4', 'Pools'), pools.map(([name, m]) => [h('h5', name), efficiencyTable(m, `efficiency-pool-${name}`)])] : null,
        tenants.length ? [h('h4', 'Tenants'), table([
          { title: 'tenant', cell: ([t]) => t },
          ...orderResources(tenants.flatMap(([, m]) => Object.keys(m))).map((r) => ({
            title: `${r} allocated / used`,
            cell: ([, m]) => (m[r] ? `${amount(r, m[r].allocated)} / ${amount(r, m[r].used)} (${ratio(m[r].usage_ratio)})` : '–'),
          })),
        ], tenants.slice(0, 200), { attrs: { id: 'efficiency-tenants' } })] : null);
    }

    function drawBottleneck(b) {
      if (!b) return fill(bottleneck, notice('info', NO_HISTORY));
      const blocked = b.blocked_by || [];
      fill(bottleneck,
        h('p.headline', b.resource ? [h('strong', b.resource), ` blocks the most queued demand (${b.queued} queued)`] : `Nothing blocks: ${b.queued ?? 0} queued`,
          b.held_by_quota ? ` · ${b.held_by_quota} held by quota` : '', b.infeasible ? ` · ${b.infeasible} infeasible` : ''),
        blocked.length ? table([
          { title: 'resource', cell: (x) => x.resource },
          { title: 'requests', class: 'num', cell: (x) => num(x.requests) },
          { title: 'demand', class: 'num', cell: (x) => amount(x.resource, x.demand) },
          { title: 'of capacity', class: 'num', cell: (x) => (x.share === undefined ? '–' : percent(100 * x.share, 1)) },
          { title: 'pools', cell: (x) => (x.pools || []).join(', ') || '–' },
        ], blocked, { attrs: { id: 'blocked-by' } }) : null);
    }

    function drawCost(c) {
      if (!c) return fill(cost, notice('info', NO_HISTORY));
      const items = (c.items || []).slice().sort((a, b) => b.cost - a.cost);
      const max = items.reduce((m, i) => Math.max(m, i.cost), 0);
      fill(cost,
        h('p.headline', `Total ${money(c.total)} ${c.currency || ''} over ${typeof c.window === 'number' ? duration(c.window) : c.window}`),
        items.length ? table([
          { title: c.by || by, cell: (i) => i.name || '–' },
          { title: 'cost', class: 'num', cell: (i) => `${money(i.cost)} ${c.currency || ''}` },
          { title: '', class: 'wide', cell: (i) => bar([{ value: i.cost, class: 'allocated' }], max) },
          { title: 'by resource', cell: (i) => Object.entries(i.resources || {}).map(([k, v]) => `${k} ${money(v)}`).join(', ') },
        ], items.slice(0, 200), { attrs: { id: 'cost-items' } }) : h('p.empty', 'No cost in this window.'));
    }

    function drawForecast(f, resources) {
      if (resources) {
        const names = orderResources(resources);
        if (names.join() !== [...resSel.options].map((o) => o.value).join()) {
          fill(resSel, names.map((r) => h('option', { value: r, selected: r === resource }, r)));
        }
      }
      if (!f) {
        fill(forecastNote, notice('info', NO_HISTORY));
        return;
      }
      const hist = f.history || { t: [], value: [] };
      const fc = f.forecast || { t: [], value: [] };
      const { factor, label } = plotScale(f.resource || resource);
      const t = [...hist.t, ...fc.t];
      const hv = [...hist.value.map((v) => (v === null ? null : v * factor)), ...fc.t.map(() => null)];
      const fv = [...hist.t.map(() => null), ...fc.value.map((v) => (v === null ? null : v * factor))];
      // The forecast line starts at the last observed point, so the two join.
      if (hist.t.length && fc.t.length) fv[hist.t.length - 1] = hv[hist.t.length - 1];
      const err = f.error || {};
      fill(forecastNote, h('p.headline', `Holt forecast of ${f.resource} demand, ${f.scope || 'cluster'}${f.name ? ` ${f.name}` : ''}, step ${duration(f.step)}`,
        ` · error on the past: MAE ${num(err.mae === null || err.mae === undefined ? null : err.mae * factor)} ${label}, MAPE ${err.mape === null || err.mape === undefined ? '–' : percent(err.mape, 1)}`),
      t.length ? null : notice('info', `Not enough history yet to forecast from (points of ${duration(f.step)} over the last ${win}).`));
      if (!t.length) {
        if (chart) {
          chart.destroy();
          chart = null;
        }
        fill(forecastBox);
        return;
      }
      if (!chart) {
        chart = new LineChart(`${f.resource} demand`, label, [
          { label: 'history', color: COLORS.history },
          { label: 'forecast', color: COLORS.forecast, dash: [6, 4] },
        ]);
        fill(forecastBox, chart.el);
      }
      chart.update(t, [hv, fv]);
    }

    return {
      el,
      async refresh() {
        const [e, b, c, f, util] = await Promise.all([
          api.getOptional('/v1/analytics/efficiency', { window: win }),
          api.getOptional('/v1/analytics/bottleneck'),
          api.getOptional('/v1/analytics/cost', { window: win, by }),
          api.getOptional('/v1/analytics/forecast', { resource, window: win, step: FORECAST[win][0], horizon: FORECAST[win][1] }),
          api.get('/v1/utilization'),
        ]);
        drawEfficiency(e);
        drawBottleneck(b);
        drawCost(c);
        drawForecast(f, Object.keys(util.capacity || {}));
      },
      destroy() {
        if (chart) chart.destroy();
      },
    };
  },
};
