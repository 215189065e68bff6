// Nodes: a heatmap of allocation by node and resource (canvas: usable at 10,000 nodes), filters, the
// busiest nodes, and the selected node's details (with Drain for an admin). The heatmap reads the
// columns of GET /v1/nodes?view=usage (no object per node); the selected node is asked for by name.
import * as api from '../api.js';
import { DOWN_STATE, DRAINING, Heatmap, UP, legend } from '../heatmap.js';
import { fill, h, table } from '../dom.js';
import { amount, orderResources, percent, resources as fmtResources } from '../format.js';

const STATE_CODE = { up: UP, draining: DRAINING, down: DOWN_STATE };

// The indexes of the nodes that match the filter text (name, pool, label=value) and state.
function matching(cols, text, state) {
  const out = [];
  const labels = Object.entries(cols.labels || {});
  for (let i = 0; i < cols.count; i++) {
    if (state && cols.state[i] !== state) continue;
    let ok = !text || cols.name[i].includes(text) || (cols.pool[i] || '').includes(text);
    for (let j = 0; !ok && j < labels.length; j++) {
      const v = labels[j][1][i];
      ok = v !== null && `${labels[j][0]}=${v}`.includes(text);
    }
    if (ok) out.push(i);
  }
  return out;
}

// A map of one node's amounts from the columns (resources it has).
function amountsOf(cols, what, i) {
  const m = {};
  for (const r of cols.resources) {
    if (r !== 'gpu_milli' && cols.capacity[r][i] > 0) m[r] = cols[what][r][i];
  }
  return m;
}

export default {
  id: 'nodes',
  title: 'Nodes',
  create(ctx) {
    let cols = null; // the last GET /v1/nodes?view=usage
    let selected = null; // a node's name
    let node = null; // its GET /v1/nodes/{name}
    const summary = h('p.summary');
    const search = h('input', { id: 'node-filter', type: 'search', placeholder: 'name, pool or label=value' });
    const state = h('select', { id: 'node-state' }, ['', 'up', 'draining', 'down'].map((s) => h('option', { value: s }, s || 'any state')));
    const detail = h('div.detail', { id: 'node-detail' });
    const busiest = h('div.busiest');
    const heat = new Heatmap((name) => select(name));
    const el = h('section.nodes',
      h('div.toolbar', h('label', 'Filter ', search), h('label', 'State ', state), summary),
      legend(), heat.el, detail, h('h3', 'Busiest nodes'), busiest);

    async function select(name) {
      selected = name;
      node = null;
      showDetail();
      await loadDetail();
    }

    async function loadDetail() {
      const name = selected;
      if (!name) {
        showDetail(); // the hint
        return;
      }
      try {
        const n = await api.get(`/v1/nodes/${encodeURIComponent(name)}`);
        if (name === selected) node = n;
      } catch (e) {
        if (e.status !== 404) throw e;
        if (name === selected) node = null;
      }
      if (name === selected) showDetail();
    }

    function render() {
      if (!cols) return;
      const text = search.value.trim();
      const shown = matching(cols, text, state.value);
      const res = orderResources(cols.resources);
      // Per band, allocated / capacity of each shown node (NaN: it has none of the resource).
      const fraction = res.map((r) => {
        const cap = cols.capacity[r];
        const used = cols.allocated[r];
        const f = new Float32Array(shown.length);
        for (let k = 0; k < shown.length; k++) {
          const i = shown[k];
          f[k] = cap[i] > 0 ? used[i] / cap[i] : NaN;
        }
        return f;
      });
      heat.update({
        count: shown.length,
        resources: res,
        fraction,
        state: Uint8Array.from(shown, (i) => STATE_CODE[cols.state[i]] ?? UP),
        name: (k) => cols.name[shown[k]],
        describe: (k, b) => {
          const i = shown[k];
          const r = res[b];
          const cap = cols.capacity[r][i];
          const used = cols.allocated[r][i];
          return cap > 0 ? `${r}: ${amount(r, used)} of ${amount(r, cap)} (${percent((100 * used) / cap)})` : `no ${r}`;
        },
      });
      const counts = { up: 0, draining: 0, down: 0 };
      for (const s of cols.state) counts[s] = (counts[s] || 0) + 1;
      fill(summary, `${shown.length === cols.count ? '' : `${shown.length} shown of `}${cols.count} nodes: ${counts.up} up, ${counts.draining} draining, ${counts.down} down`);
      // The 15 busiest by their fullest resource, found without sorting every node.
      const top = [];
      for (let k = 0; k < shown.length; k++) {
        let f = 0;
        for (let b = 0; b < res.length; b++) if (fraction[b][k] > f) f = fraction[b][k];
        if (top.length < 15 || f > top[top.length - 1].f) {
          top.push({ i: shown[k], f });
          top.sort((a, b) => b.f - a.f);
          if (top.length > 15) top.pop();
        }
      }
      fill(busiest, table([
        { title: 'node', cell: (r) => h('a', { href: '#/nodes', onclick: (e) => { e.preventDefault(); select(cols.name[r.i]); } }, cols.name[r.i]) },
        { title: 'state', cell: (r) => h('span.state', { class: cols.state[r.i] }, cols.state[r.i]) },
        { title: 'fullest', class: 'num', cell: (r) => percent(100 * r.f) },
        { title: 'allocated', cell: (r) => fmtResources(amountsOf(cols, 'allocated', r.i)) },
        { title: 'capacity', cell: (r) => fmtResources(amountsOf(cols, 'capacity', r.i)) },
        { title: 'allocations', class: 'num', cell: (r) => String(cols.allocations[r.i] ?? 0) },
      ], top, { attrs: { id: 'busiest' } }));
    }

    function showDetail() {
      const n = node;
      if (!n) {
        fill(detail, h('p.hint', selected ? `Loading ${selected}…` : 'Click a cell to see its node.'));
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
        cols = await api.get('/v1/nodes', { view: 'usage' });
        render();
        await loadDetail();
      },
      destroy() {
        heat.destroy();
      },
    };
  },
};
