// Events: the audit log, newest first, filterable by type, tenant and text; new events are fetched with
// `after` (only what is new) on each update.
import * as api from '../api.js';
import { fill, h, table } from '../dom.js';
import { clock } from '../format.js';

const KEEP = 5000;
const SHOWN = 500;
const TYPES = ['submitted', 'placed', 'completed', 'released', 'expired', 'preempted', 'rejected', 'renewed',
  'node_added', 'node_updated', 'node_removed', 'node_down', 'node_up', 'node_drained', 'reserved', 'unreserved',
  'quota_changed', 'lost', 'degradation', 'pool_scale', 'pool_command', 'breaker'];

export default {
  id: 'events',
  title: 'Events',
  create() {
    let events = []; // newest first
    let next = null;
    const type = h('select', { id: 'event-type' }, h('option', { value: '' }, 'any type'), TYPES.map((t) => h('option', { value: t }, t)));
    const tenant = h('input', { id: 'event-tenant', type: 'search', placeholder: 'tenant subtree' });
    const text = h('input', { id: 'event-text', type: 'search', placeholder: 'id, node, reason, actor' });
    const summary = h('p.summary');
    const body = h('div');
    const el = h('section.events', h('div.toolbar', h('label', 'Type ', type), h('label', 'Tenant ', tenant),
      h('label', 'Search ', text), summary), body);

    function render() {
      const t = type.value;
      const tn = tenant.value.trim();
      const q = text.value.trim().toLowerCase();
      const rows = events.filter((e) => (!t || e.type === t) &&
        (!tn || e.tenant === tn || (e.tenant || '').startsWith(`${tn}/`)) &&
        (!q || [e.id, e.node, e.reason, e.actor, e.by].some((v) => (v || '').toLowerCase().includes(q))));
      fill(summary, `${rows.length} of the last ${events.length} events${rows.length > SHOWN ? `, the newest ${SHOWN} shown` : ''}`);
      fill(body, rows.length ? table([
        { title: 'time', cell: (e) => h('span', { title: e.at }, clock(e.at)) },
        { title: 'type', cell: (e) => h('span.etype', { class: e.type }, e.type) },
        { title: 'id', cell: (e) => (e.id ? h('code', e.id) : '–') },
        { title: 'tenant', cell: (e) => e.tenant || '–' },
        { title: 'node', cell: (e) => e.node || '–' },
        { title: 'reason', cell: (e) => e.reason || '' },
        { title: 'actor', cell: (e) => e.actor || '' },
      ], rows.slice(0, SHOWN), { attrs: { id: 'events' }, rowAttrs: (e) => ({ 'data-type': e.type }) }) : h('p.empty', 'No events match.'));
    }

    for (const input of [type, tenant, text]) input.addEventListener('input', render);
    return {
      el,
      async refresh() {
        // The first update reads the last day, oldest first, a page at a time (the newest KEEP are kept);
        // later ones only what came after `next`. At most 10 pages per update.
        for (let page = 0; page < 10; page++) {
          const ans = next === null
            ? await api.get('/v1/events', { since: '24h', limit: KEEP })
            : await api.get('/v1/events', { after: next, limit: KEEP });
          const fresh = ans.events || [];
          if (fresh.length) events = fresh.slice().reverse().concat(events).slice(0, KEEP);
          next = ans.next ?? (events.length ? events[0].seq : 0);
          if (fresh.length < KEEP) break;
        }
        render();
      },
    };
  },
};
