// Reservations: a timeline of each reservation's window (the present as a red line) and their list.
import * as api from '../api.js';
import { fill, h, table } from '../dom.js';
import { clock, relative, resources } from '../format.js';
import { Timeline } from '../timeline.js';

export default {
  id: 'reservations',
  title: 'Reservations',
  create(ctx) {
    const tl = new Timeline();
    const list = h('div');
    const el = h('section.reservations', h('h3', 'Timeline'), tl.el, h('h3', 'List'), list);
    return {
      el,
      async refresh() {
        const rs = ((await api.get('/v1/reservations')).reservations || [])
          .slice().sort((a, b) => Date.parse(a.start) - Date.parse(b.start));
        tl.update(rs.map((r) => ({
          label: `${r.id} · ${r.tenant}${r.node ? ` @ ${r.node}` : ''}`,
          start: Date.parse(r.start),
          end: Date.parse(r.end),
          active: !!r.active,
        })));
        fill(list, rs.length ? table([
          { title: 'id', cell: (r) => h('code', r.id) },
          { title: 'tenant', cell: (r) => r.tenant },
          { title: 'start', cell: (r) => h('span', { title: r.start }, `${clock(r.start)} (${relative(r.start)})`) },
          { title: 'end', cell: (r) => h('span', { title: r.end }, `${clock(r.end)} (${relative(r.end)})`) },
          { title: 'requests', cell: (r) => resources(r.requests) },
          { title: 'node', cell: (r) => r.node || '–' },
          { title: 'used', cell: (r) => resources(r.used) },
          { title: 'active', cell: (r) => (r.active ? 'yes' : 'no') },
          { title: '', cell: (r) => (ctx.can('unreserve', r.tenant) ? h('button.action', {
            onclick: () => ctx.act(`Remove reservation ${r.id}?`, async () => {
              await api.del(`/v1/reservations/${encodeURIComponent(r.id)}`);
              return `${r.id} removed`;
            }),
          }, 'Remove') : null) },
        ], rs, { attrs: { id: 'reservations' } }) : h('p.empty', 'No reservations.'));
      },
      destroy() {
        tl.destroy();
      },
    };
  },
};
