// Overview: scheduler state, the next fires and recent failures.
import { h, fields, section, table, time, badge, debounce, runLink } from '../dom.js';
import { get, getAll } from '../api.js';
import { owner } from '../state.js';

export async function overview(ctx) {
  const statusBox = h('div');
  const firesBox = h('div');
  const failuresBox = h('div');

  async function refresh() {
    const [st, jobs, failed] = await Promise.all([
      get('/api/status'),
      getAll('/api/automation/jobs', 'jobs'),
      get('/api/automation/runs?status=failed&limit=8'),
    ]);
    if (!ctx.alive()) return;
    statusBox.replaceChildren(statusView(st));
    const next = jobs.filter(j => j.next_run).sort((a, b) => Date.parse(a.next_run) - Date.parse(b.next_run)).slice(0, 8);
    firesBox.replaceChildren(table([
      { label: 'Job', cell: j => h('a', { href: '#/jobs/' + encodeURIComponent(j.id) }, j.name) },
      { label: 'Schedule', cell: j => scheduleText(j.schedule), class: 'mono' },
      { label: 'Next fire', cell: j => time(j.next_run) },
    ], next, 'No registered job has an upcoming fire.'));
    failuresBox.replaceChildren(table([
      { label: 'Run', cell: r => runLink(r.id) },
      { label: 'Job / trigger', cell: r => owner(r) },
      { label: 'Ended', cell: r => time(r.ended_at) },
      { label: 'Error', cell: r => r.error ? h('span', { class: 'error-text' }, r.error) : '' },
    ], failed.runs || [], 'No failed runs.'));
  }

  await refresh();
  const later = debounce(() => refresh().catch(() => {}), 400);
  for (const ev of ['job.created', 'job.updated', 'job.deleted', 'trigger.created', 'trigger.updated', 'trigger.deleted', 'run.created', 'run.updated', 'resync']) ctx.on(ev, later);
  ctx.every(30000, later); // relative times age

  return h('div', { class: 'page', id: 'overview' },
    h('h1', {}, 'Overview'),
    h('div', { class: 'grid' },
      section('Scheduler', statusBox),
      section('Next fires', firesBox)),
    section('Recent failures', failuresBox, h('p', {}, h('a', { href: '#/runs?status=failed' }, 'All failed runs →'))));
}

function statusView(st) {
  const a = st.automation || {};
  const state = !a.enabled ? 'disabled' : a.paused ? 'paused' : a.scheduler_running ? 'running' : 'stopped';
  return h('div', {},
    st.last_reload_error ? h('p', { class: 'alert', role: 'alert' }, 'Last config reload failed: ' + st.last_reload_error) : null,
    h('p', { class: 'big' }, 'State ', badge(state)),
    fields([
      ['Next fire', a.next_fire ? time(a.next_fire) : 'none'],
      ['Jobs', `${a.jobs?.enabled ?? 0} enabled of ${a.jobs?.total ?? 0}`],
      ['Triggers', `${a.triggers?.enabled ?? 0} enabled of ${a.triggers?.total ?? 0}`],
      ['Runs', `${a.runs?.running ?? 0} running, ${a.runs?.scheduled ?? 0} scheduled (cap ${a.max_concurrent_runs ?? '—'})`],
      ['Node', st.node_id],
      ['Store', st.store],
      ['Version', st.version],
      ['Started', time(st.started_at)],
    ]));
}

export function scheduleText(s) {
  if (!s) return '';
  if (s.mode === 'cron') return s.expr + (s.timezone ? ' (' + s.timezone + ')' : '');
  if (s.mode === 'every') return 'every ' + s.interval;
  if (s.mode === 'at') return 'at ' + s.time;
  return s.mode;
}
