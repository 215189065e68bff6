// Throttling: the degradation level and adaptive admission, circuit breakers, rate limits (with their
// allowed / denied counts) and concurrency pools.
import * as api from '../api.js';
import { bar, fill, h, table } from '../dom.js';
import { num, percent } from '../format.js';

const MAX_KEYS = 100; // rate-limit keys whose state is fetched (one GET each)

const keyPath = (k) => k.split('/').map(encodeURIComponent).join('/');

export default {
  id: 'throttling',
  title: 'Throttling',
  create() {
    const level = h('div.cards');
    const breakers = h('div');
    const limits = h('div');
    const pools = h('div');
    const el = h('section.throttling', level, h('h3', 'Circuit breakers'), breakers,
      h('h3', 'Rate limits'), limits, h('h3', 'Concurrency pools'), pools);
    return {
      el,
      async refresh() {
        const [util, br, rl, pl] = await Promise.all([
          api.get('/v1/utilization'), api.get('/v1/breakers'), api.get('/v1/ratelimits'), api.get('/v1/pools'),
        ]);
        const d = util.degradation || {};
        const adm = util.admission || {};
        fill(level,
          h('div.card', { id: 'degradation', class: `level-${d.level || 0}` }, h('div.label', 'Degradation'),
            h('div.value', d.name || 'normal'),
            h('div.sub', `level ${d.level ?? 0} · scale factor ${d.scale_factor ?? 1}${d.enforced ? '' : ' · reported, not enforced'}`),
            d.worst ? h('div.sub', `worst: ${d.worst} at ${percent(d.worst_percent)}`) : null),
          h('div.card', h('div.label', 'Admission'), h('div.value', adm.enforced ? `limit ${adm.limit}` : 'not enforced'),
            h('div.sub', `${adm.in_flight ?? 0} in flight · ${adm.refused ?? 0} refused`)));
        const bs = br.breakers || [];
        fill(breakers, bs.length ? table([
          { title: 'key', cell: (b) => b.key },
          { title: 'state', cell: (b) => h('span.breaker', { class: b.state }, b.state.replace('_', '-')) },
        ], bs, { attrs: { id: 'breakers' } }) : h('p.empty', 'No circuit breakers.'));
        const keys = (rl.keys || []).slice(0, MAX_KEYS);
        const states = await Promise.all(keys.map((k) => api.get(`/v1/ratelimits/${keyPath(k)}`).catch(() => ({ key: k }))));
        fill(limits, states.length ? table([
          { title: 'key', cell: (s) => s.key },
          { title: 'limit', cell: (s) => (s.rate ? `${s.rate} (burst ${s.burst ?? '–'})` : s.quota !== undefined ? `${s.quota} per ${s.per}` : `${(s.levels || []).length} levels`) },
          { title: 'remaining', class: 'num', cell: (s) => num(s.remaining) },
          { title: 'allowed', class: 'num', cell: (s) => num((s.stats || {}).allowed) },
          { title: 'denied', class: 'num', cell: (s) => h('span', { class: (s.stats || {}).denied ? 'denied' : '' }, num((s.stats || {}).denied)) },
          { title: 'denied share', class: 'wide', cell: (s) => {
            const st = s.stats || {};
            const total = (st.allowed || 0) + (st.denied || 0);
            return total ? bar([{ value: st.denied || 0, class: 'denied', title: 'denied' }], total) : '–';
          } },
          { title: 'breaker', cell: (s) => s.breaker || '–' },
        ], states, { attrs: { id: 'ratelimits' } }) : h('p.empty', 'No rate limits.'));
        const ps = pl.pools || [];
        fill(pools, ps.length ? table([
          { title: 'key', cell: (p) => p.key },
          { title: 'in use', class: 'num', cell: (p) => `${p.in_use} of ${p.capacity}` },
          { title: '', class: 'wide', cell: (p) => bar([{ value: p.in_use, class: 'allocated' }], p.capacity) },
          { title: 'leases', class: 'num', cell: (p) => num(p.leases) },
        ], ps, { attrs: { id: 'pools' } }) : h('p.empty', 'No concurrency pools.'));
      },
    };
  },
};
