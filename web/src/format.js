// Amounts, times and durations as people read them. The API gives cpu in millicores, gpu in devices,
// memory and storage in bytes (docs/http-api.md, "Quantities"); history series name their unit.

const BYTE_UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB', 'EiB'];

export function bytes(v) {
  if (v === null || v === undefined) return '–';
  let i = 0;
  let x = Math.abs(v);
  while (x >= 1024 && i < BYTE_UNITS.length - 1) {
    x /= 1024;
    i++;
  }
  return `${v < 0 ? '-' : ''}${num(x)} ${BYTE_UNITS[i]}`;
}

export function num(x) {
  if (x === null || x === undefined || Number.isNaN(x)) return '–';
  const a = Math.abs(x);
  if (a >= 1000) return Math.round(x).toLocaleString('en-US');
  if (a >= 100 || Number.isInteger(x)) return String(Math.round(x));
  if (a >= 10) return x.toFixed(1).replace(/\.0$/, '');
  return x.toFixed(2).replace(/\.?0+$/, '');
}

// The kind of unit a resource's amounts are in.
export function unitOf(resource, unit) {
  if (unit) {
    if (unit === 'millicores' || unit === 'milli') return 'milli';
    if (unit === 'bytes') return 'bytes';
    return 'count';
  }
  if (resource === 'cpu') return 'milli';
  if (resource === 'memory' || resource === 'ephemeral-storage' || resource.endsWith('storage')) return 'bytes';
  return 'count';
}

// An amount of `resource` as text: "2.5 cores", "64 GiB", "4 gpu".
export function amount(resource, v, unit) {
  if (v === null || v === undefined) return '–';
  switch (unitOf(resource, unit)) {
    case 'milli': return `${num(v / 1000)}${resource === 'cpu' ? '' : ' ' + resource}`;
    case 'bytes': return bytes(v);
    default: return num(v);
  }
}

// The number a chart plots for an amount (cores, GiB, count) and the axis label.
export function plotScale(resource, unit) {
  switch (unitOf(resource, unit)) {
    case 'milli': return { factor: 1 / 1000, label: resource === 'cpu' ? 'cores' : resource };
    case 'bytes': return { factor: 1 / 2 ** 30, label: 'GiB' };
    default: return { factor: 1, label: resource };
  }
}

export function resources(m) {
  if (!m) return '–';
  const keys = Object.keys(m).filter((k) => k !== 'gpu_milli');
  if (!keys.length) return '–';
  return keys.map((k) => `${k} ${amount(k, m[k])}`).join(', ');
}

// A cost: cents above 100, else three significant digits (0.00151).
export function money(x) {
  if (x === null || x === undefined || Number.isNaN(x)) return '–';
  if (x === 0) return '0';
  if (Math.abs(x) >= 100) return x.toLocaleString('en-US', { maximumFractionDigits: 2 });
  return String(Number(x.toPrecision(3)));
}

export function percent(x, digits = 0) {
  if (x === null || x === undefined || Number.isNaN(x)) return '–';
  return `${x.toFixed(digits)}%`;
}

// Seconds as "45s", "12m", "3h 5m", "2d 4h".
export function duration(s) {
  if (s === null || s === undefined || Number.isNaN(s)) return '–';
  const neg = s < 0;
  s = Math.abs(Math.round(s));
  let out;
  if (s < 60) out = `${s}s`;
  else if (s < 3600) out = `${Math.floor(s / 60)}m${s % 60 ? ` ${s % 60}s` : ''}`;
  else if (s < 86400) out = `${Math.floor(s / 3600)}h${Math.floor((s % 3600) / 60) ? ` ${Math.floor((s % 3600) / 60)}m` : ''}`;
  else out = `${Math.floor(s / 86400)}d${Math.floor((s % 86400) / 3600) ? ` ${Math.floor((s % 86400) / 3600)}h` : ''}`;
  return neg ? `-${out}` : out;
}

// An RFC 3339 time relative to now: "in 5m", "3m ago".
export function relative(iso, now = Date.now()) {
  if (!iso) return '–';
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return iso;
  const d = (t - now) / 1000;
  if (Math.abs(d) < 1) return 'now';
  return d > 0 ? `in ${duration(d)}` : `${duration(-d)} ago`;
}

// An RFC 3339 time as local "HH:MM:SS" (today) or "YYYY-MM-DD HH:MM".
export function clock(iso) {
  if (!iso) return '–';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  const pad = (n) => String(n).padStart(2, '0');
  const today = new Date();
  if (d.toDateString() === today.toDateString()) return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

export const PRIORITY_NAMES = { 0: 'background', 1: 'low', 2: 'normal', 3: 'high', 4: 'critical' };
export function priority(p) {
  return PRIORITY_NAMES[p] || String(p);
}

// Resource names in a stable order: cpu, memory, gpu first, then the rest by name.
export function orderResources(names) {
  const first = ['cpu', 'memory', 'gpu'];
  return [...new Set(names)].filter((n) => n !== 'gpu_milli')
    .sort((a, b) => (first.indexOf(a) + 1 || 99) - (first.indexOf(b) + 1 || 99) || a.localeCompare(b));
}
