// Tasks inbox: delegated work waiting for a human (or running on an agent), with complete and
// cancel.
import { h, time, badge, section, toast, upsert, runLink, fields } from '../dom.js';
import { get, post, qs, enc } from '../api.js';
import { owner } from '../state.js';

const TABS = [['open', 'Open'], ['running', 'Running'], ['done', 'Done'], ['failed', 'Failed'], ['canceled', 'Canceled'], ['', 'All']];
const newest = (a, b) => (Date.parse(b.created_at) || 0) - (Date.parse(a.created_at) || 0) || b.id.localeCompare(a.id);

export async function tasksInbox(ctx) {
  const status = ctx.query.has('status') ? ctx.query.get('status') : 'open';
  let available = true;
  let tasks = [];
  const load = async () => {
    try {
      return (await get('/api/tasks' + qs({ status, limit: 100 }))).tasks || [];
    } catch (err) {
      // The task API may not exist on this daemon: show an empty inbox.
      if (err.status === 404 && err.code === 'not_found') { available = false; return []; }
      throw err;
    }
  };
  tasks = await load();
  const box = h('div', { class: 'cards', id: 'task-list' });
  const paint = () => {
    box.replaceChildren(...(tasks.length ? tasks.map(card) : [h('p', { class: 'empty' },
      available ? 'No ' + (status ? status + ' ' : '') + 'tasks. Jobs with a task configuration delegate each fire here.' : 'No tasks: this daemon does not serve the task API.')]));
  };
  const onTask = ({ task }) => {
    if (status && task.status !== status) {
      const i = tasks.findIndex(t => t.id === task.id);
      if (i >= 0) tasks.splice(i, 1);
    } else upsert(tasks, task, newest);
    paint();
  };
  ctx.on('task.created', onTask);
  ctx.on('task.updated', onTask);
  ctx.on('resync', async () => { tasks = await load(); paint(); });
  paint();

  const tabs = h('nav', { class: 'tabs', 'aria-label': 'Task status' }, TABS.map(([v, l]) =>
    h('a', { href: '#/tasks' + (v === 'open' ? '' : '?status=' + v), class: v === status ? 'active' : '' }, l)));
  return h('div', { class: 'page', id: 'tasks' }, h('h1', {}, 'Tasks'), tabs, section(status ? TABS.find(t => t[0] === status)?.[1] || status : 'All tasks', box));

  function card(t) {
    const result = h('textarea', { name: 'result', rows: 2, placeholder: 'Result (optional)', 'aria-label': 'Result' });
    const act = async (verb, body) => {
      try {
        const { task } = await post('/api/tasks/' + enc(t.id) + '/' + verb, body);
        onTask({ task });
        toast('Task ' + (verb === 'complete' ? 'completed' : 'canceled') + '.');
      } catch (err) {
        toast(err.message, 'error');
      }
    };
    const o = t.owner || {};
    return h('article', { class: 'card task', 'data-id': t.id },
      h('div', { class: 'title' }, h('h3', {}, t.title || t.id), badge(t.status)),
      t.description ? h('p', { class: 'description' }, t.description) : null,
      fields([
        ['Owner', (o.kind || 'human') + (o.ref ? ': ' + o.ref : '')],
        ['Job', owner(t)],
        ['Run', t.run_id ? runLink(t.run_id) : ''],
        ['Created', time(t.created_at)],
        ['Closed', t.closed_at ? time(t.closed_at) : ''],
        ['Result', t.result],
        ['Error', t.error],
        ['Channel', t.network_channel],
        ['ID', h('span', { class: 'mono' }, t.id)],
      ]),
      t.status === 'open' ? h('div', { class: 'task-actions' }, result, h('div', { class: 'actions' },
        h('button', { type: 'button', class: 'primary complete', onclick: () => act('complete', result.value.trim() ? { result: result.value } : undefined) }, 'Complete'),
        h('button', { type: 'button', class: 'danger cancel', onclick: () => act('cancel') }, 'Cancel task'))) : null,
      t.status === 'running' ? h('div', { class: 'actions' }, h('button', { type: 'button', class: 'danger cancel', onclick: () => act('cancel') }, 'Cancel task')) : null);
  }
}
