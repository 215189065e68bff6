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

export async function call(method, path, body, opts = {}) {
  const headers = { Accept: 'application/json' };
  const t = opts.token !== undefined ? opts.token : token();
  if (t) headers.Authorization = `Bearer ${t}`;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  let resp;
  try {
    resp = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), cache: 'no-store' });
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
