// Jobs: list with enable/disable and run now, detail with next fires and the slot ledger, and
// the create/edit form.
import { h, fill, table, time, badge, fields, section, toast, upsert, removeId, byName, debounce, runLink, pre, errorBox } from '../dom.js';
import { get, getAll, post, patch, del, enc } from '../api.js';
import { scheduleText } from './overview.js';
import { liveRuns } from './runs.js';
import { field, input, textarea, select, checkbox, val, showIf, policyFields, policyBody, changes, scopeFields, formError, showError } from './forms.js';

const jobPath = id => '/api/automation/jobs/' + enc(id);

async function runNow(job) {
  try {
    const { run } = await post(jobPath(job.id) + '/trigger');
    toast(h('span', {}, 'Run ', runLink(run.id), ' admitted (' + run.status + ').'));
  } catch (err) {
    toast(err.message, 'error');
  }
}

async function setEnabled(job, enabled) {
  try {
    await patch(jobPath(job.id), { enabled });
  } catch (err) {
    toast(err.message, 'error');
  }
}

function enableButton(job, onDone) {
  return h('button', {
    type: 'button', class: 'toggle', 'data-enabled': String(job.enabled),
    onclick: async () => { await setEnabled(job, !job.enabled); if (onDone) onDone(); },
  }, job.enabled ? 'Disable' : 'Enable');
}

function what(job) {
  if (job.task) {
    const o = job.task.owner || { kind: 'human', ref: '' };
    return 'task → ' + o.kind + (o.ref ? ' ' + o.ref : '');
  }
  return job.agent_name || '';
}

export async function jobsList(ctx) {
  const jobs = await getAll('/api/automation/jobs', 'jobs');
  const box = h('div');
  const paint = () => box.replaceChildren(table([
    { label: 'Name', cell: j => h('a', { href: '#/jobs/' + enc(j.id), class: 'name' }, j.name) },
    { label: 'Schedule', cell: j => scheduleText(j.schedule), class: 'mono' },
    { label: 'Runs', cell: what },
    { label: 'State', cell: j => h('span', {}, badge(j.enabled ? 'enabled' : 'disabled'), j.source === 'config' ? h('span', { class: 'tag' }, 'config') : null) },
    { label: 'Next fire', cell: j => time(j.next_run) },
    { label: 'Actions', class: 'col-actions', cell: j => h('div', { class: 'actions' },
      h('button', { type: 'button', class: 'run-now', onclick: () => runNow(j) }, 'Run now'),
      enableButton(j),
      j.source === 'config' ? null : h('a', { href: '#/jobs/' + enc(j.id) + '/edit', class: 'button' }, 'Edit')) },
  ], jobs, 'No jobs yet. Create one to run an agent on a schedule.'));
  ctx.on('job.created', d => { upsert(jobs, d.job, byName); paint(); });
  ctx.on('job.updated', d => { upsert(jobs, d.job, byName); paint(); });
  ctx.on('job.deleted', d => { removeId(jobs, d.id); paint(); });
  ctx.on('resync', async () => { jobs.splice(0, jobs.length, ...await getAll('/api/automation/jobs', 'jobs')); paint(); });
  paint();
  return h('div', { class: 'page', id: 'jobs' },
    h('div', { class: 'title' }, h('h1', {}, 'Jobs'), h('a', { href: '#/jobs/new', class: 'button primary', id: 'new-job' }, 'New job')),
    section('All jobs', box));
}

export async function jobDetail(ctx) {
  const id = ctx.params.id;
  let job = (await get(jobPath(id))).job;
  const load = () => get(jobPath(id) + '/runs?limit=20').then(r => r.runs || []);
  const [runs, preview, slots] = await Promise.all([load(), get(jobPath(id) + '/preview?count=10'), get(jobPath(id) + '/slots?limit=50')]);

  const head = h('div');
  const def = h('div');
  const sched = h('div');
  const previewBox = h('div', { id: 'preview' });
  const slotsBox = h('div', { id: 'slots' });
  let deleted = false;

  const paint = () => {
    const actions = deleted ? [] : [
      h('button', { type: 'button', class: 'run-now primary', id: 'run-now', onclick: () => runNow(job) }, 'Run now'),
      enableButton(job),
      job.source === 'config' ? null : h('a', { href: '#/jobs/' + enc(id) + '/edit', class: 'button', id: 'edit-job' }, 'Edit'),
      job.source === 'config' ? null : h('button', {
        type: 'button', class: 'danger', id: 'delete-job',
        onclick: async () => {
          if (!confirm('Delete job "' + job.name + '"? Its active runs are canceled.')) return;
          try { await del(jobPath(id)); location.hash = '#/jobs'; } catch (err) { toast(err.message, 'error'); }
        },
      }, 'Delete'),
    ];
    fill(head,
      h('div', { class: 'title' }, h('h1', {}, job.name), badge(job.enabled ? 'enabled' : 'disabled'), job.source === 'config' ? h('span', { class: 'tag' }, 'config') : null),
      deleted ? h('p', { class: 'alert', role: 'alert' }, 'This job was deleted.') : null,
      h('div', { class: 'actions' }, actions));
    def.replaceChildren(fields([
      ['ID', h('span', { class: 'mono' }, job.id)],
      ['Schedule', h('span', { class: 'mono' }, scheduleText(job.schedule))],
      ['Scope', job.scope + (job.workspace_id ? ' · ' + job.workspace_id : '')],
      ['Agent', job.agent_name],
      ['Task', job.task ? what(job) + (job.task.title ? ' · ' + job.task.title : '') : ''],
      ['Prompt', job.prompt ? pre(job.prompt, 'text') : ''],
      ['Overlap', job.overlap_policy],
      ['Retry', job.retry.strategy === 'none' ? 'none' : `backoff ×${job.retry.max_retries} from ${job.retry.base_delay}` + (job.retry.max_delay ? ' up to ' + job.retry.max_delay : '')],
      ['Fire limit', `${job.fire_limit.max} per ${job.fire_limit.window}`],
      ['Catch-up', `${job.catch_up_policy} within ${job.catch_up_window}, grace ${job.misfire_grace_seconds}s`],
      ['Source', job.source],
      ['Created', time(job.created_at)],
      ['Updated', time(job.updated_at)],
    ]));
    const s = job.scheduler || {};
    sched.replaceChildren(fields([
      ['Registered', s.registered ? 'yes' : 'no'],
      ['Next run', s.next_run_at ? time(s.next_run_at) : 'none'],
      ['Last run', s.last_run_at ? time(s.last_run_at) : ''],
      ['Last slot', s.last_scheduled_at ? time(s.last_scheduled_at) : ''],
      ['Time zone', s.timezone],
      ['Accounted until', s.accounted_until ? time(s.accounted_until) : ''],
      ['Anchor', s.anchor_at ? time(s.anchor_at) : ''],
      ['Misfires', String(s.misfire_count ?? 0) + (s.last_misfire_at ? ' (last ' + s.last_misfire_at + ')' : '')],
      ['Resume failures', s.consecutive_resume_failures ? String(s.consecutive_resume_failures) : ''],
    ]));
  };

  const paintPreview = p => fill(previewBox,
    p.enabled ? null : h('p', { class: 'muted' }, 'The job is disabled: these slots will not fire until it is enabled.'),
    table([
      { label: 'Local time', cell: f => h('span', { class: 'mono' }, f.local) },
      { label: 'UTC', cell: f => time(f.at) },
      { label: 'DST', cell: f => f.dst ? h('span', { class: 'tag' }, f.dst + (f.nominal_local ? ' (named ' + f.nominal_local + ')' : '')) : '' },
    ], p.fires || [], 'No upcoming fires.'));
  const paintSlots = s => slotsBox.replaceChildren(table([
    { label: 'Slot', cell: e => h('span', { class: 'mono' }, e.local + (e.count > 1 ? ' … ×' + e.count : '')) },
    { label: 'Outcome', cell: e => h('span', {}, badge(e.outcome), e.reason ? ' ' + e.reason : '') },
    { label: 'Run', cell: e => e.run_id ? runLink(e.run_id) : '' },
    { label: 'DST', cell: e => e.dst || '' },
    { label: 'Recorded', cell: e => time(e.recorded_at) },
  ], s.slots || [], 'No slots processed yet. Manual runs are not slots.'));

  const refreshSchedule = debounce(async () => {
    try {
      const [p, s] = await Promise.all([get(jobPath(id) + '/preview?count=10'), get(jobPath(id) + '/slots?limit=50')]);
      if (ctx.alive()) { paintPreview(p.preview); paintSlots(s); }
    } catch (err) { /* deleted meanwhile */ }
  }, 300);

  ctx.on('job.updated', d => { if (d.job.id === id) { job = d.job; paint(); refreshSchedule(); } });
  ctx.on('job.deleted', d => { if (d.id === id) { deleted = true; paint(); } });
  ctx.on('run.created', d => { if (d.run.job_id === id) refreshSchedule(); });
  ctx.on('resync', async () => { try { job = (await get(jobPath(id))).job; paint(); refreshSchedule(); } catch (err) { deleted = true; paint(); } });
  const runsBox = liveRuns(ctx, runs, r => r.job_id === id, load, false, 20);

  paint();
  paintPreview(preview.preview);
  paintSlots(slots);
  return h('div', { class: 'page', id: 'job-detail' }, head,
    h('div', { class: 'grid' }, section('Definition', def), section('Scheduler', sched)),
    section('Recent runs', runsBox, h('p', {}, h('a', { href: '#/runs?job_id=' + enc(id) }, 'All runs of this job →'))),
    h('div', { class: 'grid' }, section('Next fires', previewBox), section('Slot ledger', slotsBox)));
}

// jobBody reads the form into a create body (only what was filled in).
function jobBody(form) {
  const body = { name: val(form, 'name'), scope: val(form, 'scope') };
  if (body.scope === 'workspace') body.workspace_id = val(form, 'workspace_id');
  const agent = val(form, 'agent_name');
  const prompt = form.elements.prompt.value; // prompts are stored as sent
  const isTask = val(form, 'is_task');
  if (agent || !isTask) body.agent_name = agent;
  if (prompt.trim() || !isTask) body.prompt = prompt;
  const mode = val(form, 'schedule.mode');
  body.schedule = { mode };
  if (mode === 'cron') {
    body.schedule.expr = val(form, 'schedule.expr');
    const tz = val(form, 'schedule.timezone');
    if (tz) body.schedule.timezone = tz;
  } else if (mode === 'every') body.schedule.interval = val(form, 'schedule.interval');
  else if (mode === 'at') body.schedule.time = val(form, 'schedule.time');
  if (isTask) {
    const task = {};
    for (const k of ['title', 'description', 'network_channel']) { const v = val(form, 'task.' + k); if (v) task[k] = v; }
    task.owner = { kind: val(form, 'task.owner.kind'), ref: val(form, 'task.owner.ref') };
    body.task = task;
  }
  body.enabled = val(form, 'enabled');
  policyBody(form, body, true);
  return body;
}

// asBody renders a stored job in the shape jobBody produces, to compute a PATCH.
function asBody(job) {
  const b = { name: job.name, scope: job.scope, schedule: job.schedule, enabled: job.enabled, retry: job.retry,
    fire_limit: job.fire_limit, overlap_policy: job.overlap_policy, catch_up_policy: job.catch_up_policy,
    misfire_grace_seconds: job.misfire_grace_seconds, catch_up_window: job.catch_up_window };
  if (job.workspace_id) b.workspace_id = job.workspace_id;
  if (job.agent_name !== undefined) b.agent_name = job.agent_name;
  if (job.prompt !== undefined) b.prompt = job.prompt;
  b.task = job.task ? { ...job.task, owner: job.task.owner || { kind: 'human', ref: '' } } : null;
  return b;
}

export async function jobForm(ctx) {
  const editing = !!ctx.params.id;
  const [job, agents, workspaces] = await Promise.all([
    editing ? get(jobPath(ctx.params.id)).then(r => r.job) : Promise.resolve({ enabled: true, schedule: { mode: 'cron' } }),
    get('/api/agents').then(r => r.agents || []).catch(() => []),
    getAll('/api/workspaces', 'workspaces').catch(() => []),
  ]);
  const error = formError();
  const s = job.schedule || {};
  const mode = select('schedule.mode', [['cron', 'cron expression'], ['every', 'fixed interval'], ['at', 'once, at a time']], s.mode || 'cron');
  const cron = h('div', { class: 'row' },
    field('Cron expression', input('schedule.expr', s.expr, { placeholder: '0 9 * * 1-5', class: 'mono' }), 'Five fields, or an alias such as @daily.'),
    field('Time zone', input('schedule.timezone', s.timezone, { list: 'zones', placeholder: 'automation.timezone' })));
  const every = h('div', { class: 'row' }, field('Interval', input('schedule.interval', s.interval, { placeholder: '15m' }), 'A Go duration, at least 1s.'));
  const at = h('div', { class: 'row' }, field('Time', input('schedule.time', s.time, { placeholder: '2026-03-01T09:00:00Z', class: 'mono' }), 'RFC 3339 with an offset.'));
  showIf(mode, [['cron', cron], ['every', every], ['at', at]]);
  const zones = h('datalist', { id: 'zones' }, (Intl.supportedValuesOf ? Intl.supportedValuesOf('timeZone') : []).map(z => h('option', { value: z })));

  const task = job.task || {};
  const owner = task.owner || { kind: 'human', ref: '' };
  const isTask = h('input', { type: 'checkbox', name: 'is_task', id: 'f-is_task', checked: !!job.task });
  const taskBox = h('fieldset', { class: 'sub' }, h('legend', {}, 'Task'),
    h('div', { class: 'row' },
      field('Title', input('task.title', task.title, { placeholder: 'defaults to the job name' })),
      field('Owner', select('task.owner.kind', [['human', 'a human'], ['agent', 'an agent']], owner.kind)),
      field('Owner reference', input('task.owner.ref', owner.ref, { placeholder: 'person, or agent name' }))),
    field('Description', textarea('task.description', task.description, { placeholder: 'defaults to the prompt' })),
    field('Notify channel', input('task.network_channel', task.network_channel, { placeholder: 'optional channel name' })));
  showIf(isTask, [[c => c.checked, taskBox]]);

  const form = h('form', { class: 'form', id: 'job-form', novalidate: true },
    h('div', { class: 'row' },
      field('Name', input('name', job.name, { placeholder: 'nightly-triage' })),
      h('div', { class: 'field' }, checkbox('enabled', job.enabled, 'Enabled'))),
    scopeFields(job, workspaces, editing),
    h('fieldset', { class: 'sub' }, h('legend', {}, 'Schedule'), h('div', { class: 'row' }, field('Mode', mode)), cron, every, at, zones),
    h('fieldset', { class: 'sub' }, h('legend', {}, 'Agent'),
      field('Agent', select('agent_name', [['', '— choose —'], ...agents.map(a => [a.name, a.name + ' (' + a.driver + ')'])], job.agent_name || '')),
      field('Prompt', textarea('prompt', job.prompt, { rows: 6, placeholder: 'What the agent should do.' }))),
    h('label', { class: 'check' }, isTask, ' Delegate each fire to a task (a human or an agent completes it)'),
    taskBox,
    policyFields(job, true),
    error,
    h('div', { class: 'actions' },
      h('button', { type: 'submit', class: 'primary', id: 'save-job' }, editing ? 'Save changes' : 'Create job'),
      h('a', { href: editing ? '#/jobs/' + enc(job.id) : '#/jobs', class: 'button' }, 'Cancel')));

  form.addEventListener('submit', async ev => {
    ev.preventDefault();
    error.hidden = true;
    const body = jobBody(form);
    try {
      if (editing) {
        if (!body.task) body.task = null; // unchecking removes the task
        const diff = changes(asBody(job), body);
        delete diff.scope;
        if (!Object.keys(diff).length) { location.hash = '#/jobs/' + enc(job.id); return; }
        await patch(jobPath(job.id), diff);
        location.hash = '#/jobs/' + enc(job.id);
      } else {
        const created = (await post('/api/automation/jobs', body)).job;
        location.hash = '#/jobs/' + enc(created.id);
      }
    } catch (err) {
      showError(error, err);
    }
  });
  return h('div', { class: 'page', id: 'job-form-page' }, h('h1', {}, editing ? 'Edit ' + job.name : 'New job'),
    job.source === 'config' ? errorBox('This job comes from the config file; only enabling and disabling is possible here.') : null,
    section(editing ? 'Definition' : 'Definition', form));
}
