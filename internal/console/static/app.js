// The agh console: hash routing, the page shell and the change stream.
import { h, errorBox } from './dom.js';
import { follow } from './stream.js';
import { token, forgetToken } from './api.js';
import * as state from './state.js';
import { overview } from './views/overview.js';
import { jobsList, jobDetail, jobForm } from './views/jobs.js';
import { triggersList, triggerDetail, triggerForm } from './views/triggers.js';
import { runsList, runDetail } from './views/runs.js';
import { tasksInbox } from './views/tasks.js';
import { workspacesList, agentsList } from './views/resources.js';

// [pattern, view, nav section]
const routes = [
  ['', overview, 'overview'],
  ['jobs', jobsList, 'jobs'],
  ['jobs/new', jobForm, 'jobs'],
  ['jobs/:id', jobDetail, 'jobs'],
  ['jobs/:id/edit', jobForm, 'jobs'],
  ['triggers', triggersList, 'triggers'],
  ['triggers/new', triggerForm, 'triggers'],
  ['triggers/:id', triggerDetail, 'triggers'],
  ['triggers/:id/edit', triggerForm, 'triggers'],
  ['runs', runsList, 'runs'],
  ['runs/:id', runDetail, 'runs'],
  ['tasks', tasksInbox, 'tasks'],
  ['workspaces', workspacesList, 'workspaces'],
  ['agents', agentsList, 'agents'],
];

function match(path) {
  const parts = path.split('/').filter(Boolean);
  for (const [pattern, view, nav] of routes) {
    const want = pattern.split('/').filter(Boolean);
    if (want.length !== parts.length) continue;
    const params = {};
    const ok = want.every((p, i) => {
      if (p.startsWith(':')) { params[p.slice(1)] = decodeURIComponent(parts[i]); return true; }
      return p === parts[i];
    });
    if (ok) return { view, params, nav };
  }
  return null;
}

let generation = 0;
let cleanups = [];

// render shows the view of the current hash. A view is an async function of a context whose
// subscriptions and timers end when the next view is shown.
async function render() {
  const [path, query = ''] = location.hash.replace(/^#\/?/, '').split('?');
  const route = match(path);
  cleanups.forEach(f => f());
  cleanups = [];
  const gen = ++generation;
  const alive = () => gen === generation;
  const ctx = {
    params: route ? route.params : {},
    query: new URLSearchParams(query),
    alive,
    on(name, fn) { cleanups.push(state.on(name, d => { if (alive()) fn(d); })); },
    every(ms, fn) { const t = setInterval(() => { if (alive()) fn(); }, ms); cleanups.push(() => clearInterval(t)); },
  };
  for (const a of document.querySelectorAll('#nav a')) {
    a.classList.toggle('active', !!route && a.dataset.nav === route.nav);
  }
  const main = document.getElementById('main');
  if (!route) {
    main.replaceChildren(h('section', { class: 'panel' }, h('h1', {}, 'Not found'), h('p', {}, 'No page at this address. '), h('a', { href: '#/' }, 'Back to the overview')));
    return;
  }
  main.replaceChildren(h('p', { class: 'loading' }, 'Loading…'));
  try {
    const node = await route.view(ctx);
    if (alive()) main.replaceChildren(node);
  } catch (err) {
    if (!alive()) return;
    main.replaceChildren(h('section', { class: 'panel' },
      h('h1', {}, err.status === 404 ? 'Not found' : 'Could not load this page'), errorBox(err)));
  }
  window.scrollTo(0, 0);
}

function setConnection(s) {
  const el = document.getElementById('conn');
  el.className = 'conn conn-' + s;
  el.textContent = s === 'live' ? 'live' : s === 'connecting' ? 'connecting…' : 'reconnecting…';
}

async function main() {
  const forget = document.getElementById('forget-token');
  forget.addEventListener('click', () => { forgetToken(); location.reload(); });
  let ready;
  const hello = new Promise(r => { ready = r; });
  follow(ev => {
    if (ev.event === 'hello') {
      forget.hidden = !token();
      ready();
      // Changes made while disconnected are not replayed: re-read everything (SPEC §16.4).
      if (ev.reconnect) state.loadNames().catch(() => {}).finally(() => state.emit('resync'));
      return;
    }
    state.emit(ev.event, ev.data);
  }, setConnection);
  // Subscribe before the first reads so that no change falls between them and the stream.
  await Promise.race([hello, new Promise(r => setTimeout(r, 2000))]);
  await state.loadNames().catch(() => {});
  forget.hidden = !token();
  window.addEventListener('hashchange', render);
  render();
}

main();
