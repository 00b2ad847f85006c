// Form building blocks shared by the job and trigger forms. Validation is the API's: the forms
// send what was typed and show the API's message verbatim.
import { h } from '../dom.js';

export function field(label, control, hint) {
  return h('label', { class: 'field' },
    h('span', { class: 'label' }, label), control, hint ? h('small', { class: 'hint' }, hint) : null);
}

export function input(name, value = '', attrs = {}) {
  return h('input', { name, id: 'f-' + name.replace(/\./g, '-'), value: value ?? '', autocomplete: 'off', ...attrs });
}

export function textarea(name, value = '', attrs = {}) {
  const el = h('textarea', { name, id: 'f-' + name.replace(/\./g, '-'), rows: 4, ...attrs });
  el.value = value ?? '';
  return el;
}

// select: options are values or [value, label] pairs; an unknown current value is kept.
export function select(name, options, value = '', attrs = {}) {
  const opts = options.map(o => Array.isArray(o) ? o : [o, o]);
  if (value && !opts.some(([v]) => v === value)) opts.push([value, value]);
  return h('select', { name, id: 'f-' + name.replace(/\./g, '-'), ...attrs },
    opts.map(([v, l]) => h('option', { value: v, selected: v === (value ?? '') }, l)));
}

export function checkbox(name, checked, label) {
  return h('label', { class: 'check' }, h('input', { type: 'checkbox', name, id: 'f-' + name, checked: !!checked }), ' ', label);
}

// val reads a trimmed form value ('' when the control is missing).
export function val(form, name) {
  const el = form.elements[name];
  if (!el) return '';
  if (el.type === 'checkbox') return el.checked;
  return typeof el.value === 'string' ? el.value.trim() : '';
}

// int turns "12" into 12 and leaves anything else as typed, so that the API names the problem.
export function int(s) {
  return /^-?\d+$/.test(s) ? Number(s) : s;
}

// showIf toggles sections of a form on a control's value.
export function showIf(control, sections) {
  const update = () => {
    for (const [value, el] of sections) el.hidden = !(typeof value === 'function' ? value(control) : control.value === value);
  };
  control.addEventListener('change', update);
  update();
}

export function policyFields(def, withCatchUp) {
  const retry = def.retry || {};
  const fl = def.fire_limit || {};
  const strategy = select('retry.strategy', [['', 'default (none)'], 'none', 'backoff'], def.retry ? retry.strategy : '');
  const backoff = h('div', { class: 'row' },
    field('Max retries', input('retry.max_retries', retry.max_retries || '', { inputmode: 'numeric', placeholder: '1–20' })),
    field('Base delay', input('retry.base_delay', retry.base_delay || '', { placeholder: '30s' })),
    field('Max delay', input('retry.max_delay', retry.max_delay || '', { placeholder: 'optional, e.g. 10m' })));
  showIf(strategy, [['backoff', backoff]]);
  return h('details', { class: 'advanced', open: !!def.id },
    h('summary', {}, 'Policies: overlap, retries, fire limit' + (withCatchUp ? ', catch-up' : '')),
    h('div', { class: 'row' },
      field('Overlap policy', select('overlap_policy', [['', 'default (allow)'], 'allow', 'skip', 'queue', 'cancel_previous'], def.overlap_policy || '')),
      withCatchUp ? field('Catch-up policy', select('catch_up_policy', [['', 'default (skip_missed)'], 'skip_missed', 'run_once', 'run_all'], def.catch_up_policy || '')) : null),
    withCatchUp ? h('div', { class: 'row' },
      field('Misfire grace (seconds)', input('misfire_grace_seconds', def.misfire_grace_seconds ?? '', { inputmode: 'numeric', placeholder: '60' })),
      field('Catch-up window', input('catch_up_window', def.catch_up_window || '', { placeholder: '24h' }))) : null,
    h('div', { class: 'row' }, field('Retry strategy', strategy)),
    backoff,
    h('div', { class: 'row' },
      field('Fire limit: max fires', input('fire_limit.max', fl.max ?? '', { inputmode: 'numeric', placeholder: 'default 12' })),
      field('Fire limit: window', input('fire_limit.window', fl.window || '', { placeholder: 'default 1h' }))));
}

// policyBody adds the policy fields that were filled in to body.
export function policyBody(form, body, withCatchUp) {
  const set = (k, v) => { if (v !== '') body[k] = v; };
  set('overlap_policy', val(form, 'overlap_policy'));
  if (withCatchUp) {
    set('catch_up_policy', val(form, 'catch_up_policy'));
    const grace = val(form, 'misfire_grace_seconds');
    if (grace !== '') body.misfire_grace_seconds = int(grace);
    set('catch_up_window', val(form, 'catch_up_window'));
  }
  const strategy = val(form, 'retry.strategy');
  if (strategy === 'none') body.retry = { strategy: 'none', max_retries: 0, base_delay: '' };
  else if (strategy) {
    body.retry = { strategy, max_retries: int(val(form, 'retry.max_retries') || '0'), base_delay: val(form, 'retry.base_delay') };
    const max = val(form, 'retry.max_delay');
    if (max) body.retry.max_delay = max;
  }
  const flMax = val(form, 'fire_limit.max');
  const flWindow = val(form, 'fire_limit.window');
  if (flMax !== '' || flWindow !== '') {
    body.fire_limit = {};
    if (flMax !== '') body.fire_limit.max = int(flMax);
    if (flWindow !== '') body.fire_limit.window = flWindow;
  }
}

// changes keeps the fields of next that differ from before (a PATCH sends only those).
export function changes(before, next) {
  const out = {};
  for (const [k, v] of Object.entries(next)) {
    if (stable(v) !== stable(before[k])) out[k] = v;
  }
  return out;
}

// stable is JSON with sorted object keys.
function stable(v) {
  if (v && typeof v === 'object' && !Array.isArray(v)) {
    return '{' + Object.keys(v).sort().map(k => JSON.stringify(k) + ':' + stable(v[k])).join(',') + '}';
  }
  return JSON.stringify(v) ?? 'undefined';
}

export function scopeFields(def, workspaces, editing) {
  const scope = select('scope', ['global', 'workspace'], def.scope || 'global', { disabled: editing });
  const ws = field('Workspace', select('workspace_id', [['', '— choose —'], ...workspaces.map(w => [w.id, w.id + ' (' + w.path + ')'])], def.workspace_id || ''));
  showIf(scope, [['workspace', ws]]);
  return h('div', { class: 'row' }, field('Scope', scope, editing ? 'The scope cannot be changed.' : null), ws);
}

export function formError() {
  return h('div', { class: 'alert', role: 'alert', id: 'form-error', hidden: true });
}

export function showError(box, err) {
  box.hidden = false;
  box.textContent = err && err.message ? err.message : String(err);
  box.scrollIntoView({ block: 'nearest' });
}
