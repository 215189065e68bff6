// Tenants: each tenant's usage against its guaranteed and max quota (borrowed above guaranteed shown
// apart), its dominant share against its fair share (weight / the weights of tenants with work).
import * as api from '../api.js';
import { bar, fill, h, table } from '../dom.js';
import { amount, orderResources, percent } from '../format.js';

const SHOWN = 200;

function usageCell(q, r) {
  const used = (q.used || {})[r] || 0;
  const g = (q.guaranteed || {})[r];
  const m = (q.max || {})[r];
  const borrowed = (q.borrowed || {})[r] || 0;
  const total = m > 0 ? m : Math.max(g || 0, used) * 1.25;
  if (!(total > 0) && !used) return '–';
  const own = Math.max(0, used - borrowed);
  return h('div.usage',
    bar([{ value: own, class: 'allocated', title: 'used within guaranteed' },
         { value: borrowed, class: 'borrowed', title: 'borrowed above guaranteed' }], total,
        g !== undefined ? [{ value: g, class: 'guaranteed', title: 'guaranteed' }] : []),
    h('div.sub', amount(r, used),
      g !== undefined ? ` · g ${amount(r, g)}` : '',
      m !== undefined ? ` · max ${amount(r, m)}` : '',
      borrowed ? ` · borrowed ${amount(r, borrowed)}` : ''));
}

export default {
  id: 'tenants',
  title: 'Tenants',
  create() {
    let quotas = [];
    const search = h('input', { id: 'tenant-filter', type: 'search', placeholder: 'tenant path' });
    const summary = h('p.summary');
    const body = h('div');
    const el = h('section.tenants', h('div.toolbar', h('label', 'Filter ', search), summary), body,
      h('p.hint', 'Bars: used (blue), borrowed above guaranteed (orange), the guaranteed amount (black mark) out of max. ',
        'Fair share: the tenant\'s weight over the weights of the tenants with work running or queued; dominant share: its largest share of any resource (DRF).'));

    function render() {
      const text = search.value.trim();
      const active = quotas.filter((q) => (q.running || 0) + (q.queued || 0) > 0);
      const weights = active.reduce((s, q) => s + (q.weight || 1), 0);
      const rows = quotas.filter((q) => !text || q.tenant.includes(text))
        .sort((a, b) => (b.dominant_share || 0) - (a.dominant_share || 0) || a.tenant.localeCompare(b.tenant));
      const res = orderResources(quotas.flatMap((q) => [...Object.keys(q.used || {}), ...Object.keys(q.guaranteed || {}), ...Object.keys(q.max || {})]));
      fill(summary, `${rows.length} tenants${rows.length > SHOWN ? `, the ${SHOWN} with the largest shares shown (filter to narrow)` : ''}; ${active.length} with work`);
      fill(body, table([
        { title: 'tenant', cell: (q) => q.tenant },
        { title: 'weight', class: 'num', cell: (q) => String(q.weight ?? 1) },
        { title: 'running', class: 'num', cell: (q) => String(q.running ?? 0) },
        { title: 'queued', class: 'num', cell: (q) => String(q.queued ?? 0) },
        { title: 'dominant share', class: 'num', cell: (q) => percent(100 * (q.dominant_share || 0), 1) },
        { title: 'fair share', class: 'num', cell: (q) => ((q.running || 0) + (q.queued || 0) > 0 && weights > 0 ? percent((100 * (q.weight || 1)) / weights, 1) : '–') },
        ...res.map((r) => ({ title: r, class: 'wide', cell: (q) => usageCell(q, r) })),
      ], rows.slice(0, SHOWN), { attrs: { id: 'tenants' }, rowAttrs: (q) => ({ 'data-tenant': q.tenant }) }));
    }

    search.addEventListener('input', render);
    return {
      el,
      async refresh() {
        quotas = (await api.get('/v1/quotas')).quotas || [];
        render();
      },
    };
  },
};
