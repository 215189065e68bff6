// The first API calls of each view, as the view itself makes them (path and query): boot.js asks for
// them while the page loads, before the dashboard's script is read, and api.call answers the view's own
// call with that answer. A view changes its first calls here, not only in its file.
export const FIRST_CALLS = {
  overview: () => [['/v1/utilization'], ['/v1/history', { scope: 'cluster', from: sessionStorage.getItem('allot.range') || '1h' }]],
  nodes: () => [['/v1/nodes', { view: 'usage' }]],
  tenants: () => [['/v1/quotas']],
  queue: () => [['/v1/queue', { tenant: '', limit: 500 }], ['/v1/allocations', { tenant: '', state: 'placed', limit: 500 }]],
};
