// API access: JSON over fetch, with the management token (SPEC §14.1) kept in sessionStorage
// and sent as a bearer token. A 401 opens the token prompt and the call is retried.
import { h } from './dom.js';

const KEY = 'agh.token';

export class ApiError extends Error {
  constructor(status, body) {
    super((body && body.error) || 'HTTP ' + status);
    this.status = status;
    this.code = body && body.code;
    this.body = body;
  }
}

export function token() { return sessionStorage.getItem(KEY) || ''; }

export function forgetToken() { sessionStorage.removeItem(KEY); }

export function authHeaders() {
  const t = token();
  return t ? { Authorization: 'Bearer ' + t } : {};
}

export async function api(method, path, body) {
  for (;;) {
    const headers = { Accept: 'application/json', ...authHeaders() };
    const init = { method, headers, cache: 'no-store' };
    if (body !== undefined) {
      headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    const res = await fetch(path, init);
    let data = null;
    if (res.status !== 204) {
      try { data = await res.json(); } catch { data = null; }
    }
    if (res.status === 401) {
      await askToken(token() ? 'The token was rejected: ' + ((data && data.error) || 'unauthorized') : '');
      continue;
    }
    if (!res.ok) throw new ApiError(res.status, data);
    return data;
  }
}

export const get = path => api('GET', path);
export const post = (path, body) => api('POST', path, body);
export const patch = (path, body) => api('PATCH', path, body);
export const del = path => api('DELETE', path);

// getAll follows next_cursor (bounded) and returns every item of a list endpoint.
export async function getAll(path, key, pages = 20) {
  const items = [];
  let cursor = '';
  for (let i = 0; i < pages; i++) {
    const sep = path.includes('?') ? '&' : '?';
    const page = await get(path + sep + 'limit=500' + (cursor ? '&cursor=' + encodeURIComponent(cursor) : ''));
    items.push(...(page[key] || []));
    if (!page.next_cursor) break;
    cursor = page.next_cursor;
  }
  return items;
}

// qs builds a query string from the non-empty entries of obj.
export function qs(obj) {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(obj)) if (v !== undefined && v !== null && v !== '') p.set(k, v);
  const s = p.toString();
  return s ? '?' + s : '';
}

export const enc = encodeURIComponent;

// The token prompt: one shared dialog; every caller waiting on a 401 resumes once a token is
// entered.
let pending = null;

export function askToken(message = '') {
  if (pending) return pending;
  pending = new Promise(resolve => {
    const input = h('input', { type: 'password', id: 'token-input', name: 'token', autocomplete: 'current-password', required: true, placeholder: 'API token' });
    const dialog = h('dialog', { class: 'token-dialog', id: 'token-dialog' },
      h('form', {
        method: 'dialog',
        onsubmit: ev => {
          ev.preventDefault();
          const value = input.value.trim();
          if (!value) return;
          sessionStorage.setItem(KEY, value);
          dialog.close();
          dialog.remove();
          pending = null;
          resolve();
        },
      },
      h('h2', {}, 'API token required'),
      h('p', {}, 'This daemon has management tokens configured (api.tokens or AGH_API_TOKEN). Enter one to continue; it is kept for this browser tab only.'),
      message ? h('p', { class: 'alert', role: 'alert' }, message) : null,
      input,
      h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary', id: 'token-submit' }, 'Continue'))));
    dialog.addEventListener('cancel', ev => ev.preventDefault()); // nothing works without it
    document.body.append(dialog);
    dialog.showModal();
    input.focus();
  });
  return pending;
}
