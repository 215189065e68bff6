// Runs before the dashboard's script is read (a small classic script in the page's head): asks for
// whoami and, once that is answered 200, the shown view's first data (first.js), so that the server
// answers while the browser loads and compiles the bundle. api.call takes these answers for the same calls.
import { prefetch } from './api.js';
import { FIRST_CALLS } from './first.js';

const view = (location.hash.match(/^#\/([a-z]+)/) || [])[1] || 'overview';
const me = prefetch('/v1/whoami');
for (const [path, q] of FIRST_CALLS[view] ? FIRST_CALLS[view]() : []) prefetch(path, q, me);
