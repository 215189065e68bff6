// Queue: queued allocations in the order the next scheduling pass looks at them, with their positions,
// estimated start and why they wait; below, the running allocations. Cancel / Release for those who may.
import * as api from '../api.js';
import { fill, h, table } from '../dom.js';
import { clock, priority, relative, resources } from '../format.js';

export default {
  id: 'queue',
  title: 'Queue',
  create(ctx) {
    const tenant = h('input', { id: 'queue-tenant', type: 'search', placeholder: 'tenant subtree' });
    const queued = h('div');
    const running = h('div');
    const qsum = h('p.summary');
    const rsum = h('p.summary');
    const el = h('section.queue', h('div.toolbar', h('label', 'Tenant ', tenant)),
      h('h3', 'Queued'), qsum, queued, h('h3', 'Running'), rsum, running);

    function endButton(a, label) {
      if (!ctx.can('release', a.tenant)) return null;
      return h('button.action.release', {
        'data-id': a.id,
        onclick: () => ctx.act(`${label} ${a.id} (${a.tenant})?`, async () => {
          await api.del(`/v1/allocations/${encodeURIComponent(a.id)}`);
          return `${a.id} released`;
        }),
      }, label);
    }

    let timer = 0;
    tenant.addEventListener('input', () => {
      clearTimeout(timer);
      timer = setTimeout(() => ctx.refreshNow(), 300);
    });
    return {
      el,
      async refresh() {
        const t = tenant.value.trim();
        const [q, r] = await Promise.all([
          api.get('/v1/queue', { tenant: t, limit: 500 }),
          api.get('/v1/allocations', { tenant: t, state: 'placed', limit: 500 }),
        ]);
        const now = q.now ? Date.parse(q.now) : Date.now();
        const items = q.queue || [];
        fill(qsum, `${q.count ?? items.length} queued${(q.count ?? 0) > items.length ? `, the first ${items.length} shown` : ''}`);
        fill(queued, items.length ? table([
          { title: '#', class: 'num', cell: (a) => String(a.position) },
          { title: 'in tenant', class: 'num', cell: (a) => String(a.tenant_position) },
          { title: 'id', cell: (a) => h('code', a.id) },
          { title: 'tenant', cell: (a) => a.tenant },
          { title: 'priority', cell: (a) => priority(a.priority) },
          { title: 'requests', cell: (a) => `${resources(a.requests)}${a.count > 1 ? ` × ${a.count}` : ''}` },
          { title: 'waiting', cell: (a) => relative(a.submitted, now).replace(' ago', '') },
          { title: 'estimated start', cell: (a) => (a.estimated_start ? h('span', { title: a.estimated_start }, relative(a.estimated_start, now)) : h('span.unknown', 'unknown')) },
          { title: 'reason', cell: (a) => h('span', { title: a.reason_code }, a.reason || a.reason_code) },
          { title: '', cell: (a) => endButton(a, 'Cancel') },
        ], items, { attrs: { id: 'queued' }, rowAttrs: (a) => ({ 'data-id': a.id }) }) : h('p.empty', 'Nothing is queued.'));
        const run = r.allocations || [];
        fill(rsum, `${r.count ?? run.length} running${(r.count ?? 0) > run.length ? `, the first ${run.length} shown` : ''}`);
        fill(running, run.length ? table([
          { title: 'id', cell: (a) => h('code', a.id) },
          { title: 'tenant', cell: (a) => a.tenant },
          { title: 'priority', cell: (a) => priority(a.priority) },
          { title: 'requests', cell: (a) => `${resources(a.requests)}${a.count > 1 ? ` × ${a.count}` : ''}` },
          { title: 'node', cell: (a) => (a.nodes || []).join(', ') || '–' },
          { title: 'started', cell: (a) => clock(a.started) },
          { title: 'lease ends', cell: (a) => (a.expires ? relative(a.expires, now) : 'held until released') },
          { title: '', cell: (a) => endButton(a, 'Release') },
        ], run, { attrs: { id: 'running' }, rowAttrs: (a) => ({ 'data-id': a.id }) }) : h('p.empty', 'Nothing is running.'));
      },
      destroy() {
        clearTimeout(timer);
      },
    };
  },
};
