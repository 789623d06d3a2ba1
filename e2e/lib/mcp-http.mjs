// Licensed under the Apache License, Version 2.0 (the "License");
// you may not use this file except in compliance with the License.
// You may obtain a copy of the License at
//
//     http://www.apache.org/licenses/LICENSE-2.0
//
// Unless required by applicable law or agreed to in writing, software
// distributed under the License is distributed on an "AS IS" BASIS,
// WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
// See the License for the specific language governing permissions and
// limitations under the License.

// A small raw Streamable HTTP client for the tests that need to see the
// wire: HTTP status, content type, timing, each SSE event, and an abort
// in the middle of a stream. Every request is bounded (timeoutMs).

export const PROTOCOL_VERSION = '2025-11-25';

// Parse SSE text into events ({ id, event, data }); returns the events and
// what is left (an incomplete event).
export function parseSse(buf) {
  const events = [];
  let rest = buf.replace(/\r\n/g, '\n');
  let i;
  while ((i = rest.indexOf('\n\n')) >= 0) {
    const block = rest.slice(0, i);
    rest = rest.slice(i + 2);
    const ev = { id: undefined, event: 'message', data: '', comment: false };
    const data = [];
    let fields = 0;
    for (const line of block.split('\n')) {
      if (line.startsWith(':')) {
        continue;
      }
      const c = line.indexOf(':');
      const name = c < 0 ? line : line.slice(0, c);
      let value = c < 0 ? '' : line.slice(c + 1);
      if (value.startsWith(' ')) {
        value = value.slice(1);
      }
      fields++;
      if (name === 'data') {
        data.push(value);
      } else if (name === 'id') {
        ev.id = value;
      } else if (name === 'event') {
        ev.event = value;
      }
    }
    if (!fields) {
      continue;  // a comment only (keep-alive)
    }
    ev.data = data.join('\n');
    events.push(ev);
  }
  return { events, rest };
}

// POST @msg to @url. Options: session (Mcp-Session-Id), timeoutMs, signal
// (an extra AbortSignal), onEvent(ev, parsed) for each SSE event, and
// stopOnResponse (default true: stop reading an SSE stream once the
// response to @msg.id arrived). Returns { status, headers, type, body
// (text, for JSON), messages (parsed JSON-RPC messages), response (the
// one answering @msg.id), elapsed (ms), error (what ended the read, if
// not the end of the body) }.
export async function post(url, msg, { session, timeoutMs = 30_000, signal, onEvent, headers = {},
  stopOnResponse = true } = {}) {
  const t0 = Date.now();
  const ctl = new AbortController();
  const timer = setTimeout(() => ctl.abort(new Error(`timed out after ${timeoutMs} ms`)), timeoutMs);
  const onAbort = () => ctl.abort(signal.reason ?? new Error('aborted'));
  signal?.addEventListener('abort', onAbort, { once: true });
  const out = { status: 0, headers: null, type: '', body: '', messages: [], response: undefined,
    elapsed: 0, error: null };
  try {
    const res = await fetch(url, {
      method: 'POST',
      headers: {
        'Content-Type': 'application/json',
        Accept: 'application/json, text/event-stream',
        ...(session ? { 'Mcp-Session-Id': session, 'MCP-Protocol-Version': PROTOCOL_VERSION } : {}),
        ...headers,
      },
      body: JSON.stringify(msg),
      signal: ctl.signal,
    });
    out.status = res.status;
    out.headers = res.headers;
    out.type = (res.headers.get('content-type') ?? '').split(';')[0].trim().toLowerCase();
    if (out.type === 'text/event-stream') {
      const reader = res.body.getReader();
      const dec = new TextDecoder();
      let buf = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) {
          break;
        }
        buf += dec.decode(value, { stream: true });
        const { events, rest } = parseSse(buf);
        buf = rest;
        for (const ev of events) {
          let parsed;
          try {
            parsed = JSON.parse(ev.data);
          } catch {
            parsed = undefined;
          }
          if (parsed) {
            out.messages.push(parsed);
            if (msg.id !== undefined && parsed.id === msg.id && !parsed.method) {
              out.response = parsed;
            }
          }
          onEvent?.(ev, parsed);
        }
        if (out.response && stopOnResponse) {
          await reader.cancel().catch(() => {});
          break;
        }
      }
    } else {
      out.body = await res.text();
      if (out.body) {
        try {
          const parsed = JSON.parse(out.body);
          out.messages.push(parsed);
          if (!Array.isArray(parsed) && parsed.id === msg.id) {
            out.response = parsed;
          }
        } catch {
          // not JSON: the caller looks at body
        }
      }
    }
  } catch (e) {
    out.error = ctl.signal.aborted ? (ctl.signal.reason ?? e) : e;
  } finally {
    clearTimeout(timer);
    signal?.removeEventListener('abort', onAbort);
    out.elapsed = Date.now() - t0;
  }
  return out;
}

// A one-line description of an answer, for assertion messages.
export function describe(a) {
  const what = a.response ? JSON.stringify(a.response).slice(0, 400)
    : (a.body ? a.body.slice(0, 400) : `${a.messages.length} messages`);
  return `HTTP ${a.status} ${a.type || '-'} after ${a.elapsed} ms: ${what}${a.error ? ` (${a.error.message ?? a.error})` : ''}`;
}

// A gateway session on @url: initialize, then requests with its id.
export class Session {
  constructor(url) {
    this.url = url;
    this.id = null;
    this.next = 1;
    this.init = null;
  }

  async initialize({ timeoutMs = 30_000 } = {}) {
    const a = await post(this.url, {
      jsonrpc: '2.0', id: this.next++, method: 'initialize',
      params: { protocolVersion: PROTOCOL_VERSION, capabilities: {},
        clientInfo: { name: 'mod_mcp e2e faults', version: '1.0.0' } },
    }, { timeoutMs });
    this.init = a;
    this.id = a.headers?.get('mcp-session-id') ?? null;
    if (this.id) {
      await post(this.url, { jsonrpc: '2.0', method: 'notifications/initialized' },
        { session: this.id, timeoutMs: 10_000 });
    }
    return a;
  }

  request(method, params, opts = {}) {
    return post(this.url, { jsonrpc: '2.0', id: this.next++, method, ...(params ? { params } : {}) },
      { session: this.id, ...opts });
  }

  async close() {
    if (!this.id) {
      return null;
    }
    try {
      const res = await fetch(this.url, { method: 'DELETE', headers: { 'Mcp-Session-Id': this.id,
        'MCP-Protocol-Version': PROTOCOL_VERSION }, signal: AbortSignal.timeout(10_000) });
      await res.arrayBuffer();
      return res.status;
    } catch (e) {
      return e.message;
    }
  }
}
