// Shared state: an event bus fed by the change stream, and a cache of job and trigger names
// used to label runs.
import { getAll } from './api.js';
import { h } from './dom.js';

const listeners = new Map();

export function on(name, fn) {
  if (!listeners.has(name)) listeners.set(name, new Set());
  listeners.get(name).add(fn);
  return () => listeners.get(name).delete(fn);
}

export function emit(name, data) {
  for (const fn of [...(listeners.get(name) || [])]) {
    try { fn(data); } catch (err) { console.error(name, err); }
  }
}

export const names = { jobs: new Map(), triggers: new Map() };

export async function loadNames() {
  const [jobs, triggers] = await Promise.all([
    getAll('/api/automation/jobs', 'jobs'),
    getAll('/api/automation/triggers', 'triggers'),
  ]);
  names.jobs = new Map(jobs.map(j => [j.id, j.name]));
  names.triggers = new Map(triggers.map(t => [t.id, t.name]));
}

on('job.created', d => names.jobs.set(d.job.id, d.job.name));
on('job.updated', d => names.jobs.set(d.job.id, d.job.name));
on('trigger.created', d => names.triggers.set(d.trigger.id, d.trigger.name));
on('trigger.updated', d => names.triggers.set(d.trigger.id, d.trigger.name));

// owner links a run (or task) to its job or trigger, by name when known.
export function owner(item) {
  if (item.job_id) {
    const n = names.jobs.get(item.job_id);
    return n ? h('a', { href: '#/jobs/' + encodeURIComponent(item.job_id) }, n) : h('span', { class: 'mono', title: 'deleted or unknown job' }, item.job_id);
  }
  if (item.trigger_id) {
    const n = names.triggers.get(item.trigger_id);
    return n ? h('a', { href: '#/triggers/' + encodeURIComponent(item.trigger_id) }, n) : h('span', { class: 'mono', title: 'deleted or unknown trigger' }, item.trigger_id);
  }
  return '—';
}
