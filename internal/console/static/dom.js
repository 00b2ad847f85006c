// DOM helpers. API data is untrusted: every text reaches the page through text nodes or
// attribute values and is never parsed as HTML.

const PROPS = new Set(['value', 'checked', 'disabled', 'selected', 'open', 'hidden']);

// h('a', {href: '#/jobs', class: 'x', onclick: fn}, 'text', child, [more]) builds an element.
export function h(tag, props, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') el.className = v;
    else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (PROPS.has(k)) el[k] = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  add(el, children);
  return el;
}

// fill replaces the children of el, skipping null, undefined and false as h does.
export function fill(el, ...children) {
  el.replaceChildren();
  add(el, children);
  return el;
}

function add(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false || c === '') continue;
    el.append(c instanceof Node ? c : String(c)); // strings become text nodes
  }
}

// link to a hash route built from trusted segments and encoded ids.
export function link(text, ...segments) {
  return h('a', { href: '#/' + segments.map(encodeURIComponent).join('/') }, text);
}

export function runLink(id) { return id ? h('a', { href: '#/runs/' + encodeURIComponent(id), class: 'mono' }, id) : '—'; }

// cls keeps API values that end up in class names to [a-z0-9_-].
export function cls(v) { return String(v || 'none').toLowerCase().replace(/[^a-z0-9_-]/g, '_'); }

export function badge(status) {
  return h('span', { class: 'badge badge-' + cls(status) }, status || '—');
}

export function relative(iso) {
  if (!iso) return '';
  const d = (new Date(iso).getTime() - Date.now()) / 1000;
  const a = Math.abs(d);
  const [n, u] = a < 60 ? [a, 's'] : a < 3600 ? [a / 60, 'm'] : a < 86400 ? [a / 3600, 'h'] : [a / 86400, 'd'];
  const s = Math.floor(n) + u;
  return d >= 0 ? 'in ' + s : s + ' ago';
}

export function fmtTime(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  return isNaN(d) ? iso : d.toLocaleString();
}

// time renders an instant as local time with a relative hint; the exact value is the tooltip.
export function time(iso) {
  if (!iso) return h('span', { class: 'muted' }, '—');
  return h('time', { datetime: iso, title: iso }, fmtTime(iso), h('span', { class: 'muted rel' }, ' · ' + relative(iso)));
}

export function duration(from, to) {
  if (!from) return '';
  const ms = (to ? new Date(to) : new Date()) - new Date(from);
  if (ms < 1000) return ms + ' ms';
  const s = ms / 1000;
  if (s < 60) return s.toFixed(1) + ' s';
  if (s < 3600) return Math.floor(s / 60) + 'm ' + Math.round(s % 60) + 's';
  return Math.floor(s / 3600) + 'h ' + Math.round((s % 3600) / 60) + 'm';
}

// table builds a list table; under 700px CSS turns rows into cards labelled by data-label.
// columns: [{label, cell: item => node|string, class?}]
export function table(columns, items, empty = 'Nothing here yet.') {
  if (!items.length) return h('p', { class: 'empty' }, empty);
  return h('div', { class: 'table-wrap' }, h('table', { class: 'list' },
    h('thead', {}, h('tr', {}, columns.map(c => h('th', { class: c.class }, c.label)))),
    h('tbody', {}, items.map(item => h('tr', { 'data-id': item.id },
      columns.map(c => h('td', { class: c.class, 'data-label': c.label }, c.cell(item))))))));
}

// fields renders a definition list of [label, value] pairs, skipping empty values.
export function fields(pairs) {
  const dl = h('dl', { class: 'fields' });
  for (const [k, v] of pairs) {
    if (v === undefined || v === null || v === '') continue;
    dl.append(h('dt', {}, k), h('dd', {}, v instanceof Node ? v : String(v)));
  }
  return dl;
}

export function section(title, ...children) {
  return h('section', { class: 'panel' }, h('h2', {}, title), ...children);
}

export function pre(text, className = '') {
  return h('pre', { class: className }, text);
}

export function json(v) {
  return pre(JSON.stringify(v, null, 2), 'json');
}

export function errorBox(err) {
  return h('div', { class: 'alert', role: 'alert' }, err && err.message ? err.message : String(err));
}

// toast shows a short message (API errors verbatim) in the corner.
export function toast(message, kind = 'info') {
  const box = document.getElementById('toasts');
  const el = h('div', { class: 'toast toast-' + kind, role: kind === 'error' ? 'alert' : 'status' }, message);
  box.append(el);
  setTimeout(() => el.remove(), kind === 'error' ? 10000 : 5000);
}

// debounce coalesces bursts of stream events into one refresh.
export function debounce(fn, ms = 250) {
  let t;
  return (...a) => { clearTimeout(t); t = setTimeout(() => fn(...a), ms); };
}

// Keyed collections kept in API order and patched from stream events.
export function upsert(items, item, compare) {
  const i = items.findIndex(x => x.id === item.id);
  if (i >= 0) items.splice(i, 1);
  items.push(item);
  if (compare) items.sort(compare);
}

export function removeId(items, id) {
  const i = items.findIndex(x => x.id === id);
  if (i >= 0) items.splice(i, 1);
}

export const byName = (a, b) => a.name.localeCompare(b.name) || a.id.localeCompare(b.id);
const started = x => Date.parse(x.started_at || x.created_at || '') || 0;
export const newestFirst = (a, b) => started(b) - started(a) || b.id.localeCompare(a.id);
