// The dashboard's shell: token login, the navigation between views (#/overview, #/nodes, ...), and the
// live updates (each view's refresh runs every few seconds while it is shown and the tab is visible).
import './style.css';
import * as api from './api.js';
import { fill, h, notice } from './dom.js';
import { clock } from './format.js';
import overview from './views/overview.js';
import nodes from './views/nodes.js';
import tenants from './views/tenants.js';
import queue from './views/queue.js';
import reservations from './views/reservations.js';
import throttling from './views/throttling.js';
import events from './views/events.js';
import analytics from './views/analytics.js';

const VIEWS = [overview, nodes, tenants, queue, reservations, throttling, events, analytics];
// ?refresh=SECONDS in the page's address sets the update interval (default 5 s, at least 0.5 s).
const REFRESH_MS = Math.max(500, 1000 * (Number(new URLSearchParams(location.search).get('refresh')) || 5));

const app = document.getElementById('app');
let current = null; // {view, instance, timer}
let me = null;

// What a principal may do, as the server decides it (src/server/auth.h): admin everything; writer
// acts inside its tenant subtree; reader and agent only read.
function inSubtree(tenant, root) {
  return !root || tenant === root || (tenant || '').startsWith(`${root}/`);
}
export function can(action, tenant) {
  if (!me) return false;
  if (me.role === 'admin') return true;
  if (me.role !== 'writer') return false;
  return (action === 'release' || action === 'unreserve') && inSubtree(tenant, me.tenant);
}

function toast(text, kind = 'ok') {
  const t = h('div.toast', { class: kind, role: 'status' }, text);
  document.body.append(t);
  setTimeout(() => t.remove(), 4000);
}

// Runs an action the person asked for (after they confirm), tells how it went, refreshes the view.
async function act(question, fn) {
  if (question && !window.confirm(question)) return;
  try {
    const what = await fn();
    toast(what || 'done');
  } catch (e) {
    toast(`${e.message}`, 'error');
  }
  schedule(0);
}

function schedule(ms) {
  if (!current) return;
  clearTimeout(current.timer);
  current.timer = setTimeout(tick, ms);
}

async function tick() {
  const c = current;
  if (!c) return;
  if (document.hidden) return schedule(REFRESH_MS);
  const began = performance.now();
  try {
    await c.instance.refresh();
    if (c !== current) return;
    if (!c.rendered) {
      // The view's first render with data (scripts/bench-dashboard.mjs reads this mark).
      c.rendered = true;
      performance.mark(`allot:rendered:${c.view.id}`);
    }
    c.status.replaceChildren(`updated ${clock(new Date().toISOString())}`);
    c.status.className = 'status';
    c.problem.replaceChildren();
  } catch (e) {
    if (c !== current) return;
    if (e.status === 401) return; // the login form is showing
    c.status.replaceChildren(`update failed ${clock(new Date().toISOString())}`);
    c.status.className = 'status stale';
    c.problem.replaceChildren(notice('error', `Could not update this view: ${e.message}`));
  }
  // A view that takes long to load (10,000 nodes) is updated less often: at most a fifth of the time.
  if (c === current) schedule(Math.max(REFRESH_MS, 4 * (performance.now() - began)));
}

function show(id) {
  const view = VIEWS.find((v) => v.id === id) || VIEWS[0];
  if (current) {
    clearTimeout(current.timer);
    if (current.instance.destroy) current.instance.destroy();
  }
  const ctx = { me, can, act, toast, refreshMs: REFRESH_MS, refreshNow: () => schedule(0) };
  const instance = view.create(ctx);
  const status = h('span.status');
  const problem = h('div.problem');
  current = { view, instance, status, problem, timer: 0, rendered: false };
  for (const a of document.querySelectorAll('nav a')) a.classList.toggle('active', a.dataset.view === view.id);
  const main = document.querySelector('main');
  fill(main, h('div.view-head', h('h2', view.title), status), problem, instance.el);
  main.dataset.view = view.id;
  tick();
}

function route() {
  const id = (location.hash.match(/^#\/([a-z]+)/) || [])[1] || 'overview';
  show(id);
}

function shell() {
  const who = me.auth
    ? [h('span.who', { title: me.tenant ? `tenant subtree ${me.tenant}` : 'all tenants' }, `${me.name} (${me.role})`),
       h('button.link', { id: 'logout', onclick: () => { api.setToken(''); location.reload(); } }, 'Sign out')]
    : [h('span.who.dev', { title: 'allot serve --dev: no authentication' }, 'dev mode: no authentication')];
  fill(app,
    h('header',
      h('h1', h('a', { href: '#/overview' }, 'allot')),
      h('nav', VIEWS.map((v) => h('a', { href: `#/${v.id}`, 'data-view': v.id }, v.title))),
      h('div.me', who)),
    h('main'));
  window.addEventListener('hashchange', route);
  document.addEventListener('visibilitychange', () => { if (!document.hidden) schedule(0); });
  route();
}

function login(message) {
  if (current) {
    clearTimeout(current.timer);
    if (current.instance.destroy) current.instance.destroy();
    current = null;
  }
  const input = h('input', { id: 'token', type: 'password', autocomplete: 'current-password', placeholder: 'bearer token', required: true });
  const msg = h('div.login-message', message ? notice('error', message) : null);
  const form = h('form.login', {
    onsubmit: async (e) => {
      e.preventDefault();
      const t = input.value.trim();
      try {
        me = await api.get('/v1/whoami', null, { token: t, quiet401: true });
        api.setToken(t);
        shell();
      } catch (err) {
        fill(msg, notice('error', err.status === 401
          ? 'That token is wrong: it matches none of this server\'s tokens.'
          : `Could not sign in: ${err.message}`));
        input.select();
      }
    },
  },
  h('h1', 'allot'),
  h('p', 'This server needs a token. Paste a bearer token from its auth.tokens (any role: a reader token sees everything and changes nothing).'),
  h('label', { for: 'token' }, 'Token'), input,
  h('button', { type: 'submit', id: 'sign-in' }, 'Sign in'),
  msg,
  h('p.hint', 'The token is kept in this tab only (sessionStorage) and sent as Authorization: Bearer.'));
  fill(app, form);
  input.focus();
}

async function start() {
  api.whenUnauthenticated(() => {
    api.setToken('');
    login('The server refused the token (it may have been removed). Sign in again.');
  });
  try {
    me = await api.get('/v1/whoami', null, { quiet401: true });
    shell();
  } catch (e) {
    if (e.status === 401) {
      const had = api.token();
      api.setToken('');
      login(had ? 'The saved token is no longer accepted. Sign in again.' : '');
    } else {
      fill(app, notice('error', `The allot server did not answer: ${e.message}`));
    }
  }
}

start();
