// Triggers: list, detail with webhook URL, signing example and delivery log, and the form.
import { h, fill, table, time, badge, fields, section, toast, upsert, removeId, byName, debounce, runLink, pre } from '../dom.js';
import { get, getAll, patch, post, del, enc } from '../api.js';
import { liveRuns } from './runs.js';
import { field, input, textarea, select, checkbox, val, showIf, policyFields, policyBody, changes, scopeFields, formError, showError } from './forms.js';

const triggerPath = id => '/api/automation/triggers/' + enc(id);
const EVENTS = ['webhook', 'session.created', 'session.stopped', 'automation.run.completed', 'automation.run.failed'];
const SCHEMES = ['agh', 'standard-webhooks', 'github', 'stripe'];

function enableButton(t) {
  return h('button', {
    type: 'button', class: 'toggle', 'data-enabled': String(t.enabled),
    onclick: async () => { try { await patch(triggerPath(t.id), { enabled: !t.enabled }); } catch (err) { toast(err.message, 'error'); } },
  }, t.enabled ? 'Disable' : 'Enable');
}

export async function triggersList(ctx) {
  const triggers = await getAll('/api/automation/triggers', 'triggers');
  const box = h('div');
  const paint = () => box.replaceChildren(table([
    { label: 'Name', cell: t => h('a', { href: '#/triggers/' + enc(t.id), class: 'name' }, t.name) },
    { label: 'Event', cell: t => h('span', { class: 'mono' }, t.event) },
    { label: 'Scope', cell: t => t.scope + (t.workspace_id ? ' · ' + t.workspace_id : '') },
    { label: 'Agent', cell: t => t.agent_name },
    { label: 'State', cell: t => h('span', {}, badge(t.enabled ? 'enabled' : 'disabled'), t.source === 'config' ? h('span', { class: 'tag' }, 'config') : null) },
    { label: 'Endpoint', cell: t => t.webhook_path ? h('span', { class: 'mono' }, t.webhook_path) : '' },
    { label: 'Actions', class: 'col-actions', cell: t => h('div', { class: 'actions' }, enableButton(t),
      t.source === 'config' ? null : h('a', { href: '#/triggers/' + enc(t.id) + '/edit', class: 'button' }, 'Edit')) },
  ], triggers, 'No triggers yet. A trigger runs an agent when a webhook or event arrives.'));
  ctx.on('trigger.created', d => { upsert(triggers, d.trigger, byName); paint(); });
  ctx.on('trigger.updated', d => { upsert(triggers, d.trigger, byName); paint(); });
  ctx.on('trigger.deleted', d => { removeId(triggers, d.id); paint(); });
  ctx.on('resync', async () => { triggers.splice(0, triggers.length, ...await getAll('/api/automation/triggers', 'triggers')); paint(); });
  paint();
  return h('div', { class: 'page', id: 'triggers' },
    h('div', { class: 'title' }, h('h1', {}, 'Triggers'), h('a', { href: '#/triggers/new', class: 'button primary', id: 'new-trigger' }, 'New trigger')),
    section('All triggers', box));
}

// signingExample is a shell recipe that signs and sends one delivery with the trigger's scheme
// (SPEC §9.3, §9.5). The secret is never readable from the API, so it is a placeholder.
export function signingExample(t, url) {
  const head = [`URL='${url}'`];
  const sh = (...lines) => lines.join('\n');
  switch (t.signature_scheme) {
    case 'standard-webhooks':
      return sh(...head,
        `SECRET='whsec_your-base64-secret'   # the webhook_secret_value you set; the API never shows it`,
        `BODY='{"action":"opened","issue":{"number":42}}'`,
        `ID="msg_$(date +%s%N)"`,
        `TS=$(date +%s)`,
        `KEY=$(printf '%s' "\${SECRET#whsec_}" | base64 -d | od -An -v -tx1 | tr -d ' \\n')`,
        `SIG=$(printf '%s' "$ID.$TS.$BODY" | openssl dgst -sha256 -mac HMAC -macopt "hexkey:$KEY" -binary | base64)`,
        `curl -sS -X POST "$URL" \\`,
        `  -H 'Content-Type: application/json' \\`,
        `  -H "webhook-id: $ID" \\`,
        `  -H "webhook-timestamp: $TS" \\`,
        `  -H "webhook-signature: v1,$SIG" \\`,
        `  --data-raw "$BODY"`);
    case 'github':
      return sh(...head,
        `SECRET='your-webhook-secret'   # the webhook_secret_value you set; the API never shows it`,
        `BODY='{"action":"opened","issue":{"number":42}}'`,
        `SIG=$(printf '%s' "$BODY" | openssl dgst -sha256 -hmac "$SECRET" -hex | awk '{print $NF}')`,
        `curl -sS -X POST "$URL" \\`,
        `  -H 'Content-Type: application/json' \\`,
        `  -H 'X-GitHub-Event: issues' \\`,
        `  -H "X-GitHub-Delivery: $(date +%s%N)" \\`,
        `  -H "X-Hub-Signature-256: sha256=$SIG" \\`,
        `  --data-raw "$BODY"`);
    case 'stripe':
      return sh(...head,
        `SECRET='your-webhook-secret'   # the webhook_secret_value you set; the API never shows it`,
        `BODY='{"id":"evt_'"$(date +%s%N)"'","type":"invoice.paid"}'   # "id" is the delivery id`,
        `TS=$(date +%s)`,
        `SIG=$(printf '%s' "$TS.$BODY" | openssl dgst -sha256 -hmac "$SECRET" -hex | awk '{print $NF}')`,
        `curl -sS -X POST "$URL" \\`,
        `  -H 'Content-Type: application/json' \\`,
        `  -H "Stripe-Signature: t=$TS,v1=$SIG" \\`,
        `  --data-raw "$BODY"`);
    default: // agh
      return sh(...head,
        `SECRET='your-webhook-secret'   # the webhook_secret_value you set; the API never shows it`,
        `BODY='{"action":"opened","issue":{"number":42}}'`,
        `TS=$(date +%s)`,
        `SIG=$(printf '%s' "$TS.$BODY" | openssl dgst -sha256 -hmac "$SECRET" -hex | awk '{print $NF}')`,
        `curl -sS -X POST "$URL" \\`,
        `  -H 'Content-Type: application/json' \\`,
        `  -H "X-AGH-Webhook-Timestamp: $TS" \\`,
        `  -H "X-AGH-Webhook-Signature: sha256=$SIG" \\`,
        `  -H "X-AGH-Webhook-Delivery-ID: $(date +%s%N)" \\`,
        `  --data-raw "$BODY"`);
  }
}

const SCHEME_NOTES = {
  agh: 'Signature: HMAC-SHA256 over "<unix seconds>.<raw body>" with the secret, hex, prefixed "sha256=". The timestamp must be within 5 minutes; each delivery id is accepted once.',
  'standard-webhooks': 'Signature: base64 HMAC-SHA256 over "<id>.<timestamp>.<raw body>", keyed with the base64-decoded secret after "whsec_".',
  github: 'Signature: HMAC-SHA256 over the raw body, hex, prefixed "sha256="; X-GitHub-Delivery is the delivery id.',
  stripe: 'Signature: HMAC-SHA256 over "<t>.<raw body>" with the whole secret; the body\'s top-level "id" is the delivery id.',
};

function copyButton(text, label = 'Copy') {
  return h('button', {
    type: 'button', class: 'small',
    onclick: async () => {
      try { await navigator.clipboard.writeText(text()); toast('Copied.'); } catch { toast('Copy failed: select the text instead.', 'error'); }
    },
  }, label);
}

export async function triggerDetail(ctx) {
  const id = ctx.params.id;
  let trigger = (await get(triggerPath(id))).trigger;
  const load = () => get(triggerPath(id) + '/runs?limit=20').then(r => r.runs || []);
  const [runs, deliveries] = await Promise.all([load(), get(triggerPath(id) + '/deliveries?limit=50')]);
  const head = h('div');
  const def = h('div');
  const hook = h('div');
  const deliveriesBox = h('div', { id: 'deliveries' });
  let deleted = false;

  const paint = () => {
    const t = trigger;
    fill(head,
      h('div', { class: 'title' }, h('h1', {}, t.name), badge(t.enabled ? 'enabled' : 'disabled'), t.source === 'config' ? h('span', { class: 'tag' }, 'config') : null),
      deleted ? h('p', { class: 'alert', role: 'alert' }, 'This trigger was deleted.') : null,
      deleted ? null : h('div', { class: 'actions' },
        enableButton(t),
        t.source === 'config' ? null : h('a', { href: '#/triggers/' + enc(id) + '/edit', class: 'button', id: 'edit-trigger' }, 'Edit'),
        t.source === 'config' ? null : h('button', {
          type: 'button', class: 'danger', id: 'delete-trigger',
          onclick: async () => {
            if (!confirm('Delete trigger "' + t.name + '"? Its endpoint, secrets and delivery log are deleted.')) return;
            try { await del(triggerPath(id)); location.hash = '#/triggers'; } catch (err) { toast(err.message, 'error'); }
          },
        }, 'Delete')));
    const filter = Object.entries(t.filter || {});
    def.replaceChildren(fields([
      ['ID', h('span', { class: 'mono' }, t.id)],
      ['Event', h('span', { class: 'mono' }, t.event)],
      ['Scope', t.scope + (t.workspace_id ? ' · ' + t.workspace_id : '')],
      ['Agent', t.agent_name],
      ['Prompt template', pre(t.prompt, 'text')],
      ['Filter', filter.length ? h('ul', { class: 'plain' }, filter.map(([k, v]) => h('li', { class: 'mono' }, k + ' = ' + v))) : ''],
      ['Overlap', t.overlap_policy],
      ['Retry', t.retry.strategy === 'none' ? 'none' : `backoff ×${t.retry.max_retries} from ${t.retry.base_delay}`],
      ['Fire limit', `${t.fire_limit.max} per ${t.fire_limit.window}`],
      ['Source', t.source],
      ['Created', time(t.created_at)],
      ['Updated', time(t.updated_at)],
    ]));
    if (t.event !== 'webhook') { hook.replaceChildren(); return; }
    const url = location.origin + t.webhook_path;
    const example = signingExample(t, url);
    hook.replaceChildren(section('Webhook',
      h('div', { class: 'url' }, h('code', { id: 'webhook-url' }, url), copyButton(() => url, 'Copy URL')),
      fields([
        ['Scheme', t.signature_scheme],
        ['Webhook id', h('span', { class: 'mono' }, t.webhook_id)],
        ['Secret', t.webhook_secret_present ? 'set · fingerprint ' + (t.webhook_secret_hash || '') : 'missing'],
        ['Previous secret', t.webhook_secret_previous_hash ? t.webhook_secret_previous_hash + ' valid until ' + t.webhook_secret_previous_expires_at : ''],
      ]),
      h('p', { class: 'muted' }, SCHEME_NOTES[t.signature_scheme] || ''),
      h('div', { class: 'example-head' }, h('strong', {}, 'Send a signed test delivery'), copyButton(() => example)),
      h('pre', { class: 'example', id: 'signing-example' }, example)));
  };

  const paintDeliveries = list => deliveriesBox.replaceChildren(table([
    { label: 'Received', cell: d => time(d.received_at) },
    { label: 'Delivery id', cell: d => h('span', { class: 'mono' }, d.delivery_id || d.event_id || '') },
    { label: 'Outcome', cell: d => h('span', {}, badge(d.outcome), d.reason ? ' ' + d.reason : '') },
    { label: 'HTTP', cell: d => d.status_code ? String(d.status_code) : '' },
    { label: 'Runs', cell: d => (d.run_ids || []).map(r => h('div', {}, runLink(r))) },
    { label: 'Secret', cell: d => d.secret || '' },
    { label: 'Bytes', cell: d => d.body_bytes !== undefined ? String(d.body_bytes) : '' },
    { label: 'From', cell: d => d.remote_addr || d.event_kind || '' },
  ], list, 'No deliveries yet.'));

  const refreshDeliveries = debounce(async () => {
    try {
      const d = await get(triggerPath(id) + '/deliveries?limit=50');
      if (ctx.alive()) paintDeliveries(d.deliveries || []);
    } catch { /* deleted meanwhile */ }
  }, 200);

  ctx.on('trigger.updated', d => { if (d.trigger.id === id) { trigger = d.trigger; paint(); } });
  ctx.on('trigger.deleted', d => { if (d.id === id) { deleted = true; paint(); } });
  ctx.on('run.created', d => { if (d.run.trigger_id === id) refreshDeliveries(); });
  ctx.on('resync', async () => { try { trigger = (await get(triggerPath(id))).trigger; paint(); refreshDeliveries(); } catch { deleted = true; paint(); } });
  // Rejected deliveries admit no run and have no stream event: poll the log while shown.
  ctx.every(5000, () => { if (!deleted) refreshDeliveries(); });
  const runsBox = liveRuns(ctx, runs, r => r.trigger_id === id, load, false, 20);

  paint();
  paintDeliveries(deliveries.deliveries || []);
  return h('div', { class: 'page', id: 'trigger-detail' }, head,
    section('Definition', def), hook,
    section('Delivery log', deliveriesBox),
    section('Recent runs', runsBox, h('p', {}, h('a', { href: '#/runs?trigger_id=' + enc(id) }, 'All runs of this trigger →'))));
}

function randomSecret(scheme) {
  const bytes = crypto.getRandomValues(new Uint8Array(32));
  if (scheme === 'standard-webhooks') return 'whsec_' + btoa(String.fromCharCode(...bytes));
  return [...bytes].map(b => b.toString(16).padStart(2, '0')).join('');
}

function filterEditor(filter) {
  const rows = h('div', { class: 'filter-rows' });
  const addRow = (k = '', v = '') => rows.append(h('div', { class: 'row filter-row' },
    h('input', { name: 'filter.key', value: k, placeholder: 'data.action', class: 'mono', 'aria-label': 'Filter path' }),
    h('input', { name: 'filter.value', value: v, placeholder: 'opened', 'aria-label': 'Filter value' }),
    h('button', { type: 'button', class: 'small', onclick: ev => ev.target.closest('.filter-row').remove() }, 'Remove')));
  for (const [k, v] of Object.entries(filter || {})) addRow(k, v);
  return h('fieldset', { class: 'sub' }, h('legend', {}, 'Filter'),
    h('p', { class: 'hint' }, 'Every condition must match exactly: kind, scope, workspace_id, source, or data.<path>.'),
    rows, h('button', { type: 'button', class: 'small', id: 'add-filter', onclick: () => addRow() }, 'Add condition'));
}

function readFilter(form) {
  const out = {};
  for (const row of form.querySelectorAll('.filter-row')) {
    const [k, v] = row.querySelectorAll('input');
    if (k.value.trim() || v.value.trim()) out[k.value] = v.value;
  }
  return out;
}

function asBody(t) {
  const b = { name: t.name, scope: t.scope, agent_name: t.agent_name, prompt: t.prompt, event: t.event,
    filter: t.filter || {}, enabled: t.enabled, retry: t.retry, fire_limit: t.fire_limit, overlap_policy: t.overlap_policy };
  if (t.workspace_id) b.workspace_id = t.workspace_id;
  for (const k of ['endpoint_slug', 'signature_scheme', 'webhook_id']) if (t[k]) b[k] = t[k];
  return b;
}

export async function triggerForm(ctx) {
  const editing = !!ctx.params.id;
  const [trigger, agents, workspaces] = await Promise.all([
    editing ? get(triggerPath(ctx.params.id)).then(r => r.trigger) : Promise.resolve({ enabled: true, event: 'webhook', signature_scheme: 'agh' }),
    get('/api/agents').then(r => r.agents || []).catch(() => []),
    getAll('/api/workspaces', 'workspaces').catch(() => []),
  ]);
  const error = formError();
  const known = EVENTS.includes(trigger.event);
  const event = select('event', [...EVENTS, ['ext', 'custom event (ext.…)']], known ? trigger.event : 'ext');
  const ext = field('Custom event kind', input('event_ext', known ? '' : trigger.event, { placeholder: 'ext.deploy', class: 'mono' }));
  const scheme = select('signature_scheme', SCHEMES, trigger.signature_scheme || 'agh');
  const secret = input('webhook_secret_value', '', { type: 'password', placeholder: editing ? 'leave empty to keep the current secret' : 'required', class: 'mono' });
  const webhook = h('fieldset', { class: 'sub', id: 'webhook-fields' }, h('legend', {}, 'Webhook'),
    h('div', { class: 'row' },
      field('Endpoint slug', input('endpoint_slug', trigger.endpoint_slug, { placeholder: 'github-issues', class: 'mono' }), 'Part of the URL: <slug>--<webhook id>.'),
      field('Signature scheme', scheme)),
    h('div', { class: 'row' },
      field(editing ? 'New secret (rotates it)' : 'Secret', secret, 'Write-only: shown never again after saving.'),
      h('div', { class: 'field' }, h('span', { class: 'label' }, '\u00a0'), h('button', {
        type: 'button', class: 'small', id: 'generate-secret',
        onclick: () => { secret.value = randomSecret(scheme.value); secret.type = 'text'; },
      }, 'Generate'))),
    h('div', { class: 'row' },
      field('Webhook id', input('webhook_id', trigger.webhook_id, { placeholder: 'generated (wbh_…)', class: 'mono' })),
      editing ? field('Keep the previous secret for', input('webhook_secret_previous_ttl', '', { placeholder: '0s, e.g. 24h' })) : null));
  showIf(event, [['ext', ext], ['webhook', webhook]]);

  const form = h('form', { class: 'form', id: 'trigger-form', novalidate: true },
    h('div', { class: 'row' },
      field('Name', input('name', trigger.name, { placeholder: 'github-issues' })),
      h('div', { class: 'field' }, checkbox('enabled', trigger.enabled, 'Enabled'))),
    scopeFields(trigger, workspaces, editing),
    h('div', { class: 'row' }, field('Event', event), ext),
    webhook,
    h('fieldset', { class: 'sub' }, h('legend', {}, 'Agent'),
      field('Agent', select('agent_name', [['', '— choose —'], ...agents.map(a => [a.name, a.name + ' (' + a.driver + ')'])], trigger.agent_name || '')),
      field('Prompt template', textarea('prompt', trigger.prompt, { rows: 5, class: 'mono', placeholder: 'Issue #{{ .Data.issue.number }} was {{ .Data.action }}.' }),
        'A Go template over the event: .Kind, .Scope, .WorkspaceID, .Source, .Data.')),
    filterEditor(trigger.filter),
    policyFields(trigger, false),
    error,
    h('div', { class: 'actions' },
      h('button', { type: 'submit', class: 'primary', id: 'save-trigger' }, editing ? 'Save changes' : 'Create trigger'),
      h('a', { href: editing ? '#/triggers/' + enc(trigger.id) : '#/triggers', class: 'button' }, 'Cancel')));

  form.addEventListener('submit', async ev => {
    ev.preventDefault();
    error.hidden = true;
    const kind = val(form, 'event') === 'ext' ? val(form, 'event_ext') : val(form, 'event');
    const body = { name: val(form, 'name'), scope: val(form, 'scope'), agent_name: val(form, 'agent_name'),
      prompt: form.elements.prompt.value, event: kind, enabled: val(form, 'enabled') };
    if (body.scope === 'workspace') body.workspace_id = val(form, 'workspace_id');
    const filter = readFilter(form);
    if (editing || Object.keys(filter).length) body.filter = filter;
    if (kind === 'webhook') {
      for (const k of ['endpoint_slug', 'signature_scheme', 'webhook_id', 'webhook_secret_value', 'webhook_secret_previous_ttl']) {
        const v = val(form, k);
        if (v || (k === 'endpoint_slug' && !editing)) body[k] = v;
      }
      if (!editing && !('webhook_secret_value' in body)) body.webhook_secret_value = '';
    }
    policyBody(form, body, false);
    try {
      if (editing) {
        const diff = changes(asBody(trigger), body);
        delete diff.scope;
        if (Object.keys(diff).length) await patch(triggerPath(trigger.id), diff);
        location.hash = '#/triggers/' + enc(trigger.id);
      } else {
        const created = (await post('/api/automation/triggers', body)).trigger;
        location.hash = '#/triggers/' + enc(created.id);
      }
    } catch (err) {
      showError(error, err);
    }
  });
  return h('div', { class: 'page', id: 'trigger-form-page' }, h('h1', {}, editing ? 'Edit ' + trigger.name : 'New trigger'), section('Definition', form));
}
