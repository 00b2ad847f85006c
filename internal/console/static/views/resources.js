// Workspaces and agents (read-only lists).
import { h, table, time, section } from '../dom.js';
import { get, getAll } from '../api.js';

export async function workspacesList() {
  const workspaces = await getAll('/api/workspaces', 'workspaces');
  return h('div', { class: 'page', id: 'workspaces' }, h('h1', {}, 'Workspaces'),
    section('Registered workspaces', table([
      { label: 'ID', cell: w => h('span', { class: 'mono' }, w.id) },
      { label: 'Path', cell: w => h('span', { class: 'mono' }, w.path) },
      { label: 'Source', cell: w => w.source },
      { label: 'Created', cell: w => time(w.created_at) },
    ], workspaces, 'No workspaces. Workspace-scoped jobs and triggers need one (config [workspaces] or POST /api/workspaces).')));
}

export async function agentsList() {
  const agents = (await get('/api/agents')).agents || [];
  return h('div', { class: 'page', id: 'agents' }, h('h1', {}, 'Agents'),
    section('Configured agents', table([
      { label: 'Name', cell: a => h('strong', {}, a.name) },
      { label: 'Driver', cell: a => a.driver + (a.preset ? ' · ' + a.preset : '') },
      { label: 'Command', cell: a => h('span', { class: 'mono' }, (a.command || []).join(' ')) },
      { label: 'Environment', cell: a => (a.env_keys || []).join(', ') },
      { label: 'Permissions', cell: a => a.permissions || '' },
      { label: 'Timeout', cell: a => a.timeout || '' },
      { label: 'Output budget', cell: a => a.max_output_bytes ? a.max_output_bytes + ' bytes' : '' },
    ], agents, 'No agents configured. Add [agents.<name>] to the config file.')));
}
