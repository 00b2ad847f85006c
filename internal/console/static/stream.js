// The change stream (SPEC §16.4), read with fetch() so that the bearer token can be sent (the
// browser's built-in SSE client cannot send headers). Server-sent events are parsed here; the
// connection is re-opened with exponential backoff, and after a reconnect a "resync" event asks
// the views to re-read their lists.
import { authHeaders, askToken, token } from './api.js';

const MIN_DELAY = 500;
const MAX_DELAY = 30000;

// follow keeps a stream open until stop() is called. onEvent({event, id, data}) receives parsed
// events (data is decoded JSON); onState('connecting' | 'live' | 'reconnecting') tracks it.
export function follow(onEvent, onState) {
  let stopped = false;
  let controller = null;
  let delay = MIN_DELAY;
  let wasLive = false;

  (async () => {
    while (!stopped) {
      controller = new AbortController();
      onState(wasLive ? 'reconnecting' : 'connecting');
      try {
        const res = await fetch('/api/automation/stream', {
          headers: { Accept: 'text/event-stream', ...authHeaders() },
          cache: 'no-store',
          signal: controller.signal,
        });
        if (res.status === 401) {
          await askToken(token() ? 'The token was rejected.' : '');
          continue;
        }
        if (!res.ok || !res.body) throw new Error('stream: HTTP ' + res.status);
        await readEvents(res.body, ev => {
          if (ev.event === 'hello') {
            delay = MIN_DELAY;
            onState('live');
            onEvent({ event: 'hello', data: ev.data, reconnect: wasLive });
            wasLive = true;
            return;
          }
          onEvent(ev);
        });
      } catch (err) {
        if (stopped) return;
      }
      if (stopped) return;
      onState('reconnecting');
      await new Promise(r => setTimeout(r, delay * (0.75 + Math.random() / 2)));
      delay = Math.min(delay * 2, MAX_DELAY);
    }
  })();

  return () => { stopped = true; if (controller) controller.abort(); };
}

// readEvents parses a text/event-stream body: "field: value" lines, ":" comments, events
// dispatched on a blank line.
async function readEvents(body, dispatch) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  let ev = { event: '', id: '', data: [] };
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    let nl;
    while ((nl = buffer.indexOf('\n')) >= 0) {
      let line = buffer.slice(0, nl);
      buffer = buffer.slice(nl + 1);
      if (line.endsWith('\r')) line = line.slice(0, -1);
      if (line === '') {
        if (ev.data.length) {
          let data = null;
          try { data = JSON.parse(ev.data.join('\n')); } catch { data = null; }
          dispatch({ event: ev.event || 'message', id: ev.id, data });
        }
        ev = { event: '', id: '', data: [] };
        continue;
      }
      if (line.startsWith(':')) continue; // keepalive comment
      const colon = line.indexOf(':');
      const field = colon < 0 ? line : line.slice(0, colon);
      let val = colon < 0 ? '' : line.slice(colon + 1);
      if (val.startsWith(' ')) val = val.slice(1);
      if (field === 'event') ev.event = val;
      else if (field === 'data') ev.data.push(val);
      else if (field === 'id') ev.id = val;
    }
  }
}
