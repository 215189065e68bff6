// Small DOM helpers: h() builds elements (no HTML strings, so nothing from the API is ever parsed as markup).

// h('div.card', {onclick}, 'text', child, [more]) -> HTMLElement. A class may follow the tag after dots.
export function h(tag, attrs, ...children) {
  const [name, ...classes] = tag.split('.');
  const el = document.createElement(name || 'div');
  if (classes.length) el.className = classes.join(' ');
  if (attrs && (typeof attrs !== 'object' || attrs instanceof Node || Array.isArray(attrs))) {
    children.unshift(attrs);
    attrs = null;
  }
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className += (el.className ? ' ' : '') + v;
    else if (k === 'style') Object.assign(el.style, v);
    else if (k in el && typeof v !== 'string') el[k] = v;
    else el.setAttribute(k, v === true ? '' : v);
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : String(c));
  }
}

// Replaces el's children.
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

// A table: columns [{title, cell: (row) => content, class}], rows.
export function table(columns, rows, opts = {}) {
  const head = h('tr', columns.map((c) => h('th', { class: c.class }, c.title)));
  const body = rows.map((r) => h('tr', opts.rowAttrs ? opts.rowAttrs(r) : null,
    columns.map((c) => h('td', { class: c.class }, c.cell(r)))));
  return h('table.grid', opts.attrs || null, h('thead', head), h('tbody', body));
}

// A horizontal bar: parts [{value, class, title}] out of `total`, with optional markers [{value, class, title}].
export function bar(parts, total, markers = []) {
  const el = h('div.bar');
  if (!(total > 0)) return el;
  for (const p of parts) {
    if (!(p.value > 0)) continue;
    el.append(h('span.fill', { class: p.class, title: p.title, style: { width: `${Math.min(100, (100 * p.value) / total)}%` } }));
  }
  for (const m of markers) {
    if (!(m.value >= 0)) continue;
    el.append(h('span.marker', { class: m.class, title: m.title, style: { left: `${Math.min(100, (100 * m.value) / total)}%` } }));
  }
  return el;
}

export function notice(kind, text) {
  return h('div.notice', { class: kind, role: kind === 'error' ? 'alert' : 'status' }, text);
}
