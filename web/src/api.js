// The API client: every call carries the token from sessionStorage; errors become ApiError with the
// server's {"error": {"code", "message", "field"}}.

const TOKEN_KEY = 'allot.token';

export class ApiError extends Error {
  constructor(status, code, message, field) {
    super(message || `HTTP ${status}`);
    this.status = status;
    this.code = code || '';
    this.field = field || '';
  }
}

export function token() {
  return sessionStorage.getItem(TOKEN_KEY) || '';
}

export function setToken(t) {
  if (t) sessionStorage.setItem(TOKEN_KEY, t);
  else sessionStorage.removeItem(TOKEN_KEY);
}

let onUnauthenticated = () => {};
// Called (with the ApiError) when a call is answered 401 while the page is in use.
export function whenUnauthenticated(fn) {
  onUnauthenticated = fn;
}

// `path` with its query: q is an object; null/undefined/'' values are left out.
export function withQuery(path, q) {
  const parts = Object.entries(q || {}).filter(([, v]) => v !== null && v !== undefined && v !== '')
    .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`);
  return parts.length ? `${path}?${parts.join('&')}` : path;
}

function headersFor(t, body) {
  const headers = { Accept: 'application/json' };
  if (t) headers.Authorization = `Bearer ${t}`;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  return headers;
}

// GETs sent before the dashboard's script ran (boot.js, a bundle of its own: hence on globalThis):
// path with query -> {token, at, resp: a promise of the Response, null when it failed}.
const EARLY_MS = 10e3;
const early = (globalThis.allotEarly ||= new Map());

// Sends a GET now, for call() to take later; with `after` (an earlier prefetch's promise), only once that
// one is answered 200 (a view's data after whoami: no 401 for each call when a token is needed).
export function prefetch(path, q, after) {
  const url = withQuery(path, q);
  const t = token();
  const send = () => fetch(url, { headers: headersFor(t), cache: 'no-store' });
  const resp = (after ? after.then((r) => (r && r.ok ? send() : null)) : send()).catch(() => null);
  early.set(url, { token: t, at: Date.now(), resp });
  return resp;
}

// The answer boot.js asked for to this GET, once, if it is recent and carried the same token.
async function takeEarly(method, path, t) {
  const e = method === 'GET' ? early.get(path) : undefined;
  if (!e) return null;
  early.delete(path);
  return e.token === t && Date.now() - e.at < EARLY_MS ? e.resp : null;
}

export async function call(method, path, body, opts = {}) {
  const t = opts.token !== undefined ? opts.token : token();
  let resp = await takeEarly(method, path, t);
  try {
    resp ||= await fetch(path, { method, headers: headersFor(t, body), body: body === undefined ? undefined : JSON.stringify(body), cache: 'no-store' });
  } catch (e) {
    throw new ApiError(0, 'unreachable', `the server did not answer (${e.message})`);
  }
  if (resp.ok) {
    // An answer of a few MB (10,000 nodes) is parsed as it is read, not copied into one string first.
    try {
      return await resp.json();
    } catch {
      return null;
    }
  }
  let data = null;
  try {
    data = JSON.parse(await resp.text());
  } catch {
    data = null;
  }
  const e = data && data.error ? data.error : {};
  const err = new ApiError(resp.status, e.code, e.message || `${method} ${path}: HTTP ${resp.status}`, e.field);
  if (resp.status === 401 && !opts.quiet401) onUnauthenticated(err);
  throw err;
}

export const get = (path, q, opts) => call('GET', withQuery(path, q), undefined, opts);
export const post = (path, body) => call('POST', path, body === undefined ? {} : body);
export const del = (path) => call('DELETE', path);

// A GET whose route may not exist on this server (history and analytics came later): null when it
// answers 404 "no such endpoint", and then not asked again for a minute.
const missing = new Map(); // path -> when it answered 404
export async function getOptional(path, q) {
  const at = missing.get(path);
  if (at && Date.now() - at < 60e3) return null;
  try {
    return await get(path, q);
  } catch (e) {
    if (e.status === 404 && e.code === 'not_found' && /no such endpoint/.test(e.message)) {
      missing.set(path, Date.now());
      return null;
    }
    throw e;
  }
}
