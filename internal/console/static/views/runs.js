// Runs: the filtered list, run detail and the transcript.
import { h, table, time, badge, duration, fields, section, runLink, toast, upsert, newestFirst, json, errorBox, debounce } from '../dom.js';
import { get, post, qs, enc } from '../api.js';
import { owner, names } from '../state.js';

export const STATUSES = ['scheduled', 'running', 'delegated', 'completed', 'failed', 'canceled'];
const ACTIVE = new Set(['scheduled', 'running']);

// runsTable renders runs; withOwner adds the job/trigger column.
export function runsTable(runs, withOwner = true, empty = 'No runs yet.') {
  const cols = [
    { label: 'Run', cell: r => runLink(r.id) },
    withOwner ? { label: 'Job / trigger', cell: r => owner(r) } : null,
    { label: 'Status', cell: r => badge(r.status), class: 'status' },
    { label: 'Origin', cell: r => r.origin + (r.attempt > 1 ? ' · attempt ' + r.attempt : '') },
    { label: 'Started', cell: r => time(r.started_at) },
    { label: 'Duration', cell: r => r.dispatched_at ? duration(r.dispatched_at, r.ended_at) : '' },
    { label: 'Error', cell: r => r.error ? h('span', { class: 'error-text' }, r.error) : '' },
  ].filter(Boolean);
  return table(cols, runs, empty);
}

// liveRuns keeps a runs table current from the stream. match(run) says whether a run belongs;
// reload() re-reads the list after a reconnect.
export function liveRuns(ctx, runs, match, reload, withOwner = true, limit = 0) {
  const box = h('div', { class: 'runs' });
  const paint = () => box.replaceChildren(runsTable(runs, withOwner));
  const onRun = ({ run }) => {
    const known = runs.some(r => r.id === run.id);
    if (!known && !match(run)) return;
    if (known && !match(run)) runs.splice(runs.findIndex(r => r.id === run.id), 1);
    else upsert(runs, run, newestFirst);
    if (limit && runs.length > limit) runs.length = limit;
    paint();
  };
  ctx.on('run.created', onRun);
  ctx.on('run.updated', onRun);
  ctx.on('resync', async () => {
    const fresh = await reload();
    runs.splice(0, runs.length, ...fresh);
    paint();
  });
  paint();
  return box;
}

export async function runsList(ctx) {
  const filter = { status: ctx.query.get('status') || '', job_id: ctx.query.get('job_id') || '', trigger_id: ctx.query.get('trigger_id') || '' };
  const load = async cursor => get('/api/automation/runs' + qs({ ...filter, limit: 50, cursor }));
  let page = await load('');
  const runs = page.runs || [];
  let cursor = page.next_cursor || '';
  const matches = r => (!filter.status || r.status === filter.status) &&
    (!filter.job_id || r.job_id === filter.job_id) && (!filter.trigger_id || r.trigger_id === filter.trigger_id);
  const box = liveRuns(ctx, runs, matches, async () => {
    page = await load('');
    cursor = page.next_cursor || '';
    more.hidden = !cursor;
    return page.runs || [];
  });
  const more = h('button', {
    type: 'button', hidden: !cursor,
    onclick: async () => {
      const next = await load(cursor);
      for (const r of next.runs || []) upsert(runs, r, newestFirst);
      cursor = next.next_cursor || '';
      more.hidden = !cursor;
      box.replaceChildren(runsTable(runs));
    },
  }, 'Load more');

  const go = () => {
    const f = new FormData(form);
    location.hash = '#/runs' + qs(Object.fromEntries([...f.entries()]));
  };
  const labels = { status: 'Status', job_id: 'Job', trigger_id: 'Trigger' };
  const sel = (name, options, value) => {
    if (value && !options.some(([v]) => v === value)) options.push([value, value]); // e.g. a deleted job
    return h('label', { class: 'field inline' }, h('span', { class: 'label' }, labels[name]),
      h('select', { name, id: 'filter-' + name, onchange: go }, [['', 'any'], ...options].map(([v, l]) => h('option', { value: v, selected: v === value }, l))));
  };
  const byLabel = (a, b) => a[1].localeCompare(b[1]);
  const form = h('form', { class: 'filters', onsubmit: e => { e.preventDefault(); go(); } },
    sel('status', STATUSES.map(s => [s, s]), filter.status),
    sel('job_id', [...names.jobs].map(([id, n]) => [id, n]).sort(byLabel), filter.job_id),
    sel('trigger_id', [...names.triggers].map(([id, n]) => [id, n]).sort(byLabel), filter.trigger_id));
  return h('div', { class: 'page', id: 'runs' }, h('h1', {}, 'Runs'), form, section('Runs', box, more));
}

export async function runDetail(ctx) {
  const id = ctx.params.id;
  let run = (await get('/api/automation/runs/' + enc(id))).run;
  const head = h('div');
  const info = h('div');
  const transcriptBox = h('div', { id: 'transcript' });
  const followUps = [];
  const followBox = h('div');

  const paint = () => {
    const cancel = ACTIVE.has(run.status) ? h('button', {
      type: 'button', class: 'danger', id: 'cancel-run',
      onclick: async () => {
        try { run = (await post('/api/automation/runs/' + enc(id) + '/cancel')).run; paint(); } catch (err) { toast(err.message, 'error'); }
      },
    }, 'Cancel run') : null;
    head.replaceChildren(h('div', { class: 'title' }, h('h1', { class: 'mono' }, run.id), badge(run.status)), h('div', { class: 'actions' }, cancel));
    info.replaceChildren(fields([
      [run.job_id ? 'Job' : 'Trigger', owner(run)],
      ['Origin', run.origin],
      ['Attempt', String(run.attempt)],
      ['Retry of', run.retry_of ? runLink(run.retry_of) : ''],
      ['Fire', run.fire_id],
      ['Agent', run.agent_name],
      ['Scope', run.scope + (run.workspace_id ? ' · ' + run.workspace_id : '')],
      ['Scheduled', time(run.scheduled_at)],
      ['Started', time(run.started_at)],
      ['Dispatched', run.dispatched_at ? time(run.dispatched_at) : ''],
      ['Ended', run.ended_at ? time(run.ended_at) : ''],
      ['Duration', run.dispatched_at ? duration(run.dispatched_at, run.ended_at) : ''],
      ['Session', run.session_id],
      ['Stop reason', run.stop_reason],
      ['Error', run.error ? h('span', { class: 'error-text' }, run.error) : ''],
      ['Error code', run.error_code],
      ['Delivery error', run.delivery_error ? run.delivery_error + ' (' + run.delivery_error_at + ')' : ''],
      ['Task', run.task_id ? h('a', { href: '#/tasks' }, run.task_id) : ''],
      ['Webhook delivery', run.delivery_id],
      ['Event', run.event_id],
      ['Depth', String(run.depth)],
      ['Node', run.node_id],
    ]));
    followBox.replaceChildren(followUps.length ? h('p', {}, 'Retried as ', followUps.map(r => runLink(r.id))) : '');
  };

  let lastTranscript = '';
  const loadTranscript = async () => {
    try {
      const t = (await get('/api/automation/runs/' + enc(id) + '/transcript')).transcript;
      const key = JSON.stringify(t);
      if (key === lastTranscript || !ctx.alive()) return;
      lastTranscript = key;
      transcriptBox.replaceChildren(transcriptView(t));
    } catch (err) {
      transcriptBox.replaceChildren(errorBox(err));
    }
  };
  const refreshTranscript = debounce(loadTranscript, 200);

  ctx.on('run.updated', d => {
    if (d.run.id !== id) return;
    run = d.run;
    paint();
    refreshTranscript();
  });
  ctx.on('run.created', d => {
    if (d.run.retry_of === id) { followUps.push(d.run); paint(); }
  });
  ctx.on('resync', async () => { run = (await get('/api/automation/runs/' + enc(id))).run; paint(); refreshTranscript(); });
  // The transcript is written while the agent works and has no stream event of its own.
  ctx.every(1000, () => { if (ACTIVE.has(run.status)) loadTranscript(); });

  paint();
  await loadTranscript();
  return h('div', { class: 'page', id: 'run-detail' }, head, section('Run', info, followBox), section('Transcript', transcriptBox));
}

function transcriptView(t) {
  const meta = h('p', { class: 'muted' },
    [t.driver && 'driver ' + t.driver, t.agent_name && 'agent ' + t.agent_name, t.stop_reason && 'stop reason ' + t.stop_reason].filter(Boolean).join(' · '));
  const entries = t.entries || [];
  if (!entries.length) return h('div', {}, meta, h('p', { class: 'empty' }, 'No transcript entries (the run has not started, or a human owns its task).'));
  const list = h('ol', { class: 'transcript' });
  // Consecutive stdout/stderr lines are shown as one block.
  let block = null;
  for (const e of entries) {
    if ((e.type === 'stdout' || e.type === 'stderr') && block && block.type === e.type) {
      block.pre.append('\n' + (e.text ?? ''));
      continue;
    }
    const li = entry(e);
    block = (e.type === 'stdout' || e.type === 'stderr') ? { type: e.type, pre: li.querySelector('pre') } : null;
    list.append(li);
  }
  return h('div', {}, meta, t.truncated ? h('p', { class: 'alert' }, 'The transcript was truncated at the agent\'s max_output_bytes.') : null, list);
}

function entry(e) {
  const label = h('span', { class: 'entry-type' }, e.type);
  const when = h('time', { class: 'muted', datetime: e.at, title: e.at }, e.at ? new Date(e.at).toLocaleTimeString() : '');
  const head = h('div', { class: 'entry-head' }, label, when);
  let body;
  switch (e.type) {
    case 'prompt': body = h('pre', { class: 'text' }, e.text); break;
    case 'agent_message': body = h('div', { class: 'message' }, e.text); break;
    case 'agent_thought': body = h('div', { class: 'thought' }, e.text); break;
    case 'tool_call':
    case 'tool_call_update':
      body = h('div', {},
        h('div', {}, h('strong', {}, e.title || e.tool_call_id || 'tool call'), e.kind ? ' · ' + e.kind : '', ' ', e.status ? badge(e.status) : ''),
        e.data ? h('details', {}, h('summary', {}, 'data'), json(e.data)) : null);
      break;
    case 'plan': {
      const items = e.data && Array.isArray(e.data.entries) ? e.data.entries : null;
      body = items ? h('ul', { class: 'plan' }, items.map(p => h('li', {}, badge(p.status), ' ', p.content ?? JSON.stringify(p)))) : json(e.data);
      break;
    }
    case 'permission': body = h('div', {}, e.title || e.tool_call_id, ' → ', h('strong', {}, e.decision)); break;
    case 'fs': body = h('div', { class: 'mono' }, e.op + ' ' + e.path + ' ', badge(e.allowed ? 'allowed' : 'denied')); break;
    case 'stdout': body = h('pre', { class: 'out' }, e.text ?? ''); break;
    case 'stderr': body = h('pre', { class: 'out err' }, e.text ?? ''); break;
    case 'stop': body = h('div', {}, 'Stopped: ', h('strong', {}, e.stop_reason)); break;
    case 'error': body = h('div', { class: 'error-text' }, e.text); break;
    default: body = json(e);
  }
  return h('li', { class: 'entry entry-' + String(e.type).replace(/[^a-z_]/g, '_') }, head, body);
}

