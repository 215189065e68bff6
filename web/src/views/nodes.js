// Nodes: a heatmap of allocation by node and resource (canvas: usable at 10,000 nodes), filters, the
// busiest nodes, and the selected node's details (with Drain for an admin).
import * as api from '../api.js';
import { Heatmap, legend } from '../heatmap.js';
import { fill, h, table } from '../dom.js';
import { amount, orderResources, percent, resources as fmtResources } from '../format.js';

function maxFraction(node) {
  let m = 0;
  for (const [r, cap] of Object.entries(node.capacity || {})) {
    if (r === 'gpu_milli' || !(cap > 0)) continue;
    m = Math.max(m, ((node.allocated || {})[r] || 0) / cap);
  }
  return m;
}

function matches(node, text, state) {
  if (state && node.state !== state) return false;
  if (!text) return true;
  if (node.name.includes(text) || (node.pool || '').includes(text)) return true;
  for (const [k, v] of Object.entries(node.labels || {})) {
    if (`${k}=${v}`.includes(text)) return true;
  }
  return false;
}

export default {
  id: 'nodes',
  title: 'Nodes',
  create(ctx) {
    let all = [];
    let selected = null;
    const summary = h('p.summary');
    const search = h('input', { id: 'node-filter', type: 'search', placeholder: 'name, pool or label=value' });
    const state = h('select', { id: 'node-state' }, ['', 'up', 'draining', 'down'].map((s) => h('option', { value: s }, s || 'any state')));
    const detail = h('div.detail', { id: 'node-detail' });
    const busiest = h('div.busiest');
    const heat = new Heatmap((node) => {
      selected = node.name;
      showDetail();
    });
    const el = h('section.nodes',
      h('div.toolbar', h('label', 'Filter ', search), h('label', 'State ', state), summary),
      legend(), heat.el, detail, h('h3', 'Busiest nodes'), busiest);

    function render() {
      const text = search.value.trim();
      const shown = all.filter((n) => matches(n, text, state.value));
      const res = orderResources(all.flatMap((n) => Object.keys(n.capacity || {})));
      heat.update(shown, res);
      const counts = { up: 0, draining: 0, down: 0 };
      for (const n of all) counts[n.state] = (counts[n.state] || 0) + 1;
      fill(summary, `${shown.length === all.length ? '' : `${shown.length} shown of `}${all.length} nodes: ${counts.up} up, ${counts.draining} draining, ${counts.down} down`);
      // The 15 busiest by their fullest resource, found without sorting every node.
      const top = [];
      for (const n of shown) {
        const f = maxFraction(n);
        if (top.length < 15 || f > top[top.length - 1].f) {
          top.push({ n, f });
          top.sort((a, b) => b.f - a.f);
          if (top.length > 15) top.pop();
        }
      }
      fill(busiest, table([
        { title: 'node', cell: (r) => h('a', { href: '#/nodes', onclick: (e) => { e.preventDefault(); selected = r.n.name; showDetail(); } }, r.n.name) },
        { title: 'state', cell: (r) => h('span.state', { class: r.n.state }, r.n.state) },
        { title: 'fullest', class: 'num', cell: (r) => percent(100 * r.f) },
        { title: 'allocated', cell: (r) => fmtResources(r.n.allocated) },
        { title: 'capacity', cell: (r) => fmtResources(r.n.capacity) },
        { title: 'allocations', class: 'num', cell: (r) => String(r.n.allocations ?? 0) },
      ], top, { attrs: { id: 'busiest' } }));
      showDetail();
    }

    function showDetail() {
      const n = selected && all.find((x) => x.name === selected);
      if (!n) {
        fill(detail, h('p.hint', 'Click a cell to see its node.'));
        return;
      }
      const res = orderResources(Object.keys(n.capacity || {}));
      const actions = [];
      if (ctx.can('drain') && n.state === 'up') {
        actions.push(h('button.action', {
          id: 'drain',
          onclick: () => ctx.act(`Drain ${n.name}? No new work is placed on it; running work stays.`, async () => {
            await api.post(`/v1/nodes/${encodeURIComponent(n.name)}/drain`);
            return `${n.name} is draining`;
          }),
        }, 'Drain'));
      }
      fill(detail,
        h('h3', n.name, ' ', h('span.state', { class: n.state }, n.state)),
        table([
          { title: 'resource', cell: (r) => r },
          { title: 'capacity', class: 'num', cell: (r) => amount(r, n.capacity[r]) },
          { title: 'allocated', class: 'num', cell: (r) => amount(r, (n.allocated || {})[r] || 0) },
          { title: 'free', class: 'num', cell: (r) => amount(r, (n.free || {})[r] ?? 0) },
          { title: 'observed', class: 'num', cell: (r) => (n.observed && n.observed[r] !== undefined ? amount(r, n.observed[r]) : '–') },
        ], res),
        h('p', `pool ${n.pool || '–'} · ${n.allocations ?? 0} allocations · labels `,
          Object.entries(n.labels || {}).map(([k, v]) => `${k}=${v}`).join(', ') || '–',
          n.last_heartbeat ? ` · last heartbeat ${n.last_heartbeat}` : ''),
        actions.length ? h('div.actions', actions) : null);
    }

    search.addEventListener('input', render);
    state.addEventListener('change', render);
    return {
      el,
      async refresh() {
        all = (await api.get('/v1/nodes')).nodes || [];
        render();
      },
      destroy() {
        heat.destroy();
      },
    };
  },
};
