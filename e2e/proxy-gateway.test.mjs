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

// What mod_mcp_proxy sends its backends and how it keeps their sessions,
// seen from two recording upstreams (e2e/lib/recording-upstream.mjs) and a
// real server-everything (tasks), all behind one gateway endpoint that
// users sign in to with HTTP Basic (so the client's request carries an
// Authorization header the backends must never see):
//   - no client Authorization or Cookie header reaches a backend; the
//     static bearer_file credential and MCPProxyIdentityHeader do;
//   - a backend that forgot its session is initialized again, the call
//     answered;
//   - GET merges both backends' streams: keep-alive comments, list_changed
//     of both collapsed into one, gateway event ids that resume (with
//     Last-Event-ID) at the backend that owns them only;
//   - the health check marks a dead backend down (gateway_whoami) and it
//     drops out of lists at once;
//   - tasks of server-everything through the gateway: the task id names
//     the backend, tasks/get and tasks/result find it again;
//   - sessions are bound to the user: demo2 cannot use demo's;
//   - HEAD opens no stream (405);
//   - a GET stream whose bearer check reloads the revocations gives the
//     database connection back at once (DBDMax 1: registration goes on).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { startGateway, basicAuthorize } from './lib/gateway.mjs';
import { startRecordingUpstream } from './lib/recording-upstream.mjs';
import { TestProvider, issueToken, rpcWithAuth } from './lib/oauth.mjs';
import { SRC, freePort, portOpen, sleep, spawnTagged, waitFor, within } from './lib/proc.mjs';

const EVERYTHING = path.join(SRC, 'node_modules/@modelcontextprotocol/server-everything/dist/index.js');
const BIND_LOCAL = path.join(SRC, 'scripts/lib/bind-local.cjs');
const TAG = `proxy-gateway-${process.pid}`;

let gw, upA, upB, ev, evPort, url;
const basic = (user, password) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

before(async () => {
  upA = await startRecordingUpstream({ name: 'alpha' });
  upB = await startRecordingUpstream({ name: 'beta' });
  evPort = await freePort();
  ev = spawnTagged(process.execPath, ['-r', BIND_LOCAL, EVERYTHING, 'streamableHttp'],
    { tag: TAG, env: { PORT: String(evPort) } });
  ev.child.stdout.resume();
  await waitFor('server-everything', () => portOpen(evPort), 30_000);
  gw = await startGateway({
    modules: '<IfModule !deflate_module>\nLoadModule deflate_module /usr/lib/apache2/modules/mod_deflate.so\n</IfModule>\n'
      + '<IfModule !filter_module>\nLoadModule filter_module /usr/lib/apache2/modules/mod_filter.so\n</IfModule>',
    config: ({ dir, data }) => {
      writeFileSync(path.join(dir, 'alpha.token'), 'static-alpha-token\n', { mode: 0o644 });
      return `MCPProxyHealthCheck 5
<Location /gw>
${basicAuthorize(data)}
    SetHandler mcp-proxy
    MCPProxyBackend alpha ${upA.url} prefix=a_ bearer_file="${dir}/alpha.token"
    MCPProxyBackend beta ${upB.url} prefix=b_
    MCPProxyBackend ev http://127.0.0.1:${evPort}/mcp prefix=ev_
    MCPProxyBackend dead http://127.0.0.1:9/mcp prefix=dead_ timeout=3
    MCPProxyIdentityHeader X-Gateway-User
    MCPProxyKeepAlive 1
    # SSE must never be compressed (events would wait for the buffer).
    AddOutputFilterByType DEFLATE application/json text/event-stream
</Location>
<Location /mcp>
    MCPProxyBackend beta ${upB.url} prefix=b_
</Location>`;
    },
  });
  url = new URL(gw.mcpUrl);
  url.pathname = '/gw';
});

after(async () => {
  await gw?.stop();
  await upA?.stop();
  await upB?.stop();
  await ev?.stop();
});

function headers(user = 'demo', extra = {}) {
  return {
    'Content-Type': 'application/json',
    Accept: 'application/json, text/event-stream',
    Authorization: basic(user, gw.password),
    Cookie: 'session=client-secret-cookie',
    'MCP-Protocol-Version': '2025-11-25',
    ...extra,
  };
}

// The JSON-RPC answer of a POST, whether it came as JSON or as SSE.
async function post(body, { user = 'demo', sid, extra = {} } = {}) {
  const res = await fetch(url, {
    method: 'POST',
    headers: headers(user, sid ? { 'Mcp-Session-Id': sid, ...extra } : extra),
    body: JSON.stringify(body),
  });
  const text = await res.text();
  let json = null;
  if ((res.headers.get('content-type') ?? '').startsWith('text/event-stream')) {
    const datas = text.split('\n').filter((l) => l.startsWith('data: ')).map((l) => l.slice(6))
      .filter((d) => d).map((d) => JSON.parse(d));
    json = datas.find((m) => m.id === body.id) ?? null;
  } else if (text) {
    json = JSON.parse(text);
  }
  return { status: res.status, headers: res.headers, json };
}

async function initialize(user = 'demo') {
  const r = await post({ jsonrpc: '2.0', id: 1, method: 'initialize', params: {
    protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'e2e', version: '1' } } }, { user });
  assert.equal(r.status, 200, JSON.stringify(r.json));
  const sid = r.headers.get('mcp-session-id');
  assert.match(sid ?? '', /^[A-Za-z0-9_-]{43}$/);
  await post({ jsonrpc: '2.0', method: 'notifications/initialized' }, { user, sid });
  return { sid, result: r.json.result };
}

test('no client Authorization or Cookie reaches a backend; bearer_file and the identity header do', async () => {
  const { sid } = await initialize();
  const call = await post({ jsonrpc: '2.0', id: 2, method: 'tools/call',
    params: { name: 'a_hello', arguments: {} } }, { sid });
  assert.deepEqual(call.json.result.content, [{ type: 'text', text: 'hello from alpha' }]);
  await post({ jsonrpc: '2.0', id: 3, method: 'tools/call', params: { name: 'b_hello', arguments: {} } }, { sid });
  const seenA = upA.requests.filter((q) => q.method === 'POST');
  const seenB = upB.requests.filter((q) => q.method === 'POST');
  assert.ok(seenA.length >= 2 && seenB.length >= 2, 'both backends were asked');
  for (const q of [...seenA, ...seenB]) {
    assert.equal(q.headers.cookie, undefined, 'no Cookie header');
    assert.doesNotMatch(q.headers.authorization ?? '', /^Basic /, 'the client\'s Authorization never');
    assert.equal(q.headers['x-gateway-user'], 'demo', 'MCPProxyIdentityHeader names the user');
  }
  for (const q of seenA) {
    assert.equal(q.headers.authorization, 'Bearer static-alpha-token', 'alpha gets its bearer_file token');
  }
  for (const q of seenB) {
    assert.equal(q.headers.authorization, undefined, 'beta has no credential and gets none');
  }
  const init = seenA.find((q) => q.msg?.method === 'initialize');
  assert.deepEqual(init.msg.params.clientInfo, { name: 'e2e', version: '1' }, 'the client\'s clientInfo');
  const later = seenA.find((q) => q.msg?.method === 'tools/call');
  assert.match(later.headers['mcp-session-id'] ?? '', /^[0-9a-f-]{36}$/, 'the backend\'s own session id');
  assert.notEqual(later.headers['mcp-session-id'], sid, 'not the gateway\'s');
  assert.equal(later.headers['mcp-protocol-version'], '2025-11-25');
  assert.equal(later.msg.id, 2, 'the client\'s request id');
  assert.equal(later.msg.params.name, 'hello', 'the prefix is taken off');
});

test('a backend that forgot its session is initialized again and the call answered', async () => {
  const { sid } = await initialize();
  const before = upA.initialized;
  upA.forget();
  const call = await post({ jsonrpc: '2.0', id: 4, method: 'tools/call',
    params: { name: 'a_hello', arguments: {} } }, { sid });
  assert.deepEqual(call.json?.result?.content, [{ type: 'text', text: 'hello from alpha' }], JSON.stringify(call.json));
  assert.equal(upA.initialized, before + 1, 'one new backend session');
  const again = await post({ jsonrpc: '2.0', id: 5, method: 'tools/call',
    params: { name: 'a_hello', arguments: {} } }, { sid });
  assert.ok(again.json.result, 'the new backend session is kept for the next request');
  assert.equal(upA.initialized, before + 1);
});

test('a session belongs to its user: another user gets 404', async () => {
  const { sid } = await initialize('demo');
  const other = await post({ jsonrpc: '2.0', id: 6, method: 'tools/list' }, { user: 'demo2', sid });
  assert.equal(other.status, 404);
  assert.equal(other.json.error.code, -32001);
  const own = await post({ jsonrpc: '2.0', id: 7, method: 'tools/list' }, { user: 'demo', sid });
  assert.equal(own.status, 200);
});

test('GET merges the backends\' streams: keep-alives, one list_changed, resumable gateway event ids', async () => {
  const { sid } = await initialize();
  const ac = new AbortController();
  const res = await fetch(url, { headers: { ...headers(), 'Mcp-Session-Id': sid, Accept: 'text/event-stream' },
    signal: ac.signal });
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type'), /^text\/event-stream/);
  assert.equal(res.headers.get('cache-control'), 'no-cache');
  let text = '';
  const reader = res.body.getReader();
  const pump = (async () => {
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        text += Buffer.from(value).toString();
      }
    } catch { /* aborted */ }
  })();
  try {
    await waitFor('both backends\' GET streams', () => upA.getStreams.length > 0 && upB.getStreams.length > 0, 10_000);
    await waitFor('a keep-alive comment', () => text.includes(': keep-alive'), 5_000);
    upA.push({ jsonrpc: '2.0', method: 'notifications/tools/list_changed' });
    upB.push({ jsonrpc: '2.0', method: 'notifications/tools/list_changed' });
    upB.push({ jsonrpc: '2.0', method: 'notifications/message', params: { level: 'info', data: 'from beta' } });
    await waitFor('beta\'s log message', () => text.includes('from beta'), 5_000);
    const changed = text.split('\n').filter((l) => l.includes('notifications/tools/list_changed'));
    assert.equal(changed.length, 1, `two backends' list_changed collapse into one: ${text}`);
    const ids = text.split('\n').filter((l) => l.startsWith('id: ')).map((l) => l.slice(4));
    assert.ok(ids.some((i) => /^beta:beta-\d+$/.test(i)), `gateway event ids name the backend: ${ids}`);
  } finally {
    ac.abort();
    await pump;
  }
  // Resume beta's stream: only beta is asked, with its own event id.
  const resumeFrom = text.split('\n').filter((l) => l.startsWith('id: beta:')).map((l) => l.slice(4)).pop();
  const gets = upA.requests.filter((q) => q.method === 'GET').length;
  const ac2 = new AbortController();
  const res2 = await fetch(url, { headers: { ...headers(), 'Mcp-Session-Id': sid, Accept: 'text/event-stream',
    'Last-Event-ID': resumeFrom }, signal: ac2.signal });
  assert.equal(res2.status, 200);
  try {
    await waitFor('beta asked to resume', () => upB.getStreams.some((s) => s.lastEventId), 5_000);
    assert.equal(upB.getStreams.find((s) => s.lastEventId).lastEventId, resumeFrom.slice('beta:'.length));
    await sleep(300);
    assert.equal(upA.requests.filter((q) => q.method === 'GET').length, gets, 'alpha\'s stream is not replayed');
  } finally {
    ac2.abort();
  }
  const bad = await fetch(url, { headers: { ...headers(), 'Mcp-Session-Id': sid, Accept: 'text/event-stream',
    'Last-Event-ID': 'nobody:1' } });
  assert.equal(bad.status, 400);
});

test('the health check finds the dead backend down; it leaves lists at once, whoami shows it', async () => {
  const { sid } = await initialize();
  await waitFor('a health verdict', async () => {
    const who = await post({ jsonrpc: '2.0', id: 8, method: 'tools/call',
      params: { name: 'gateway_whoami', arguments: {} } }, { sid });
    const dead = who.json.result.structuredContent.backends.find((b) => b.name === 'dead');
    return /^down/.test(dead.health);
  }, 20_000, 500);
  const who = await post({ jsonrpc: '2.0', id: 9, method: 'tools/call',
    params: { name: 'gateway_whoami', arguments: {} } }, { sid });
  const health = Object.fromEntries(who.json.result.structuredContent.backends.map((b) => [b.name, b.health]));
  assert.equal(health.alpha, 'up');
  assert.equal(health.ev, 'up');
  assert.equal(who.json.result.structuredContent.subject, 'demo');
  const t0 = Date.now();
  const list = await post({ jsonrpc: '2.0', id: 10, method: 'tools/list' }, { sid });
  assert.ok(Date.now() - t0 < 2500, 'not held up by the dead backend\'s timeout');
  const names = list.json.result.tools.map((t) => t.name);
  assert.ok(names.includes('a_hello') && names.includes('b_hello') && names.includes('ev_echo'));
  assert.ok(!names.some((n) => n.startsWith('dead_')));
  const call = await within(post({ jsonrpc: '2.0', id: 11, method: 'tools/call',
    params: { name: 'dead_anything', arguments: {} } }, { sid }), 6_000);
  assert.equal(call.json.error.code, -32603);
  assert.deepEqual(call.json.error.data, { backend: 'dead', reason: 'unreachable' });
});

test('tasks through the gateway: the task id names its backend', async () => {
  const { sid, result } = await initialize();
  assert.ok(result.capabilities.tasks?.requests?.tools?.call, 'server-everything\'s tasks capability passes through');
  const created = await post({ jsonrpc: '2.0', id: 12, method: 'tools/call', params: {
    name: 'ev_simulate-research-query', arguments: { topic: 'gateways' }, task: { ttl: 60000 } } }, { sid });
  const taskId = created.json?.result?.task?.taskId;
  assert.match(taskId ?? '', /^fed:ev:s:/, JSON.stringify(created.json));
  const got = await post({ jsonrpc: '2.0', id: 13, method: 'tasks/get', params: { taskId } }, { sid });
  assert.equal(got.json.result.taskId, taskId);
  const list = await post({ jsonrpc: '2.0', id: 14, method: 'tasks/list', params: {} }, { sid });
  assert.ok(list.json.result.tasks.some((t) => t.taskId === taskId));
  const done = await within(post({ jsonrpc: '2.0', id: 15, method: 'tasks/result', params: { taskId } }, { sid }), 20_000);
  assert.match(done.json.result.content[0].text, /Research Report: gateways/);
  const unknown = await post({ jsonrpc: '2.0', id: 16, method: 'tasks/get', params: { taskId: 'fed:nobody:s:1' } }, { sid });
  assert.equal(unknown.json.error.code, -32602);
});

test('DELETE ends the gateway session and every backend session', async () => {
  const { sid } = await initialize();
  await post({ jsonrpc: '2.0', id: 17, method: 'tools/list' }, { sid });
  // alpha's session of this gateway session (the health check makes and
  // deletes sessions of its own meanwhile).
  const own = upA.requests.filter((q) => q.msg?.method === 'tools/list' && q.msg?.id === 17)
    .map((q) => q.headers['mcp-session-id']).pop();
  assert.ok(own, 'alpha was asked in this session');
  const res = await fetch(url, { method: 'DELETE', headers: { ...headers(), 'Mcp-Session-Id': sid } });
  assert.equal(res.status, 204);
  assert.equal(upA.requests.filter((q) => q.method === 'DELETE' && q.headers['mcp-session-id'] === own).length, 1,
    'alpha\'s session of it is deleted');
  const after = await post({ jsonrpc: '2.0', id: 18, method: 'tools/list' }, { sid });
  assert.equal(after.status, 404);
});

// Reads an event stream into .text until stop().
function readStream(res) {
  const st = { text: '' };
  const reader = res.body.getReader();
  st.done = (async () => {
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        st.text += Buffer.from(value).toString();
      }
    } catch { /* aborted */ }
  })();
  return st;
}

test('DELETE of a session ends its open GET stream', async () => {
  const { sid } = await initialize();
  const res = await fetch(url, { headers: { ...headers(), 'Mcp-Session-Id': sid, Accept: 'text/event-stream' } });
  assert.equal(res.status, 200);
  const st = readStream(res);
  await waitFor('the GET stream to the backends', () => upB.getStreams.some((g) => !g.lastEventId), 10_000);
  const del = await fetch(url, { method: 'DELETE', headers: { ...headers(), 'Mcp-Session-Id': sid } });
  assert.equal(del.status, 204);
  await within(st.done, 8_000);
});

// HEAD is a GET to httpd: served as one, it would open the backends'
// streams and hold a worker for an answer whose headers never leave.
test('HEAD opens no stream: 405 at once, with the methods the endpoint takes', async () => {
  const { sid } = await initialize();
  const before = upB.getStreams.length;
  const res = await fetch(url, { method: 'HEAD', signal: AbortSignal.timeout(5_000),
    headers: { ...headers(), 'Mcp-Session-Id': sid, Accept: 'text/event-stream' } })
    .catch((e) => assert.fail(`HEAD got no answer in 5 s (${e.name}): it opened the stream`));
  assert.equal(res.status, 405);
  assert.equal(res.headers.get('allow'), 'GET, POST, DELETE');
  await sleep(500);
  assert.equal(upB.getStreams.length, before, 'no backend stream was opened');
});

test('event streams are not compressed, whatever the output filters', async () => {
  const { sid } = await initialize();
  const res = await fetch(url, { method: 'POST', headers: { ...headers(), 'Mcp-Session-Id': sid,
    'Accept-Encoding': 'gzip' }, body: JSON.stringify({ jsonrpc: '2.0', id: 30, method: 'tools/call',
    params: { name: 'ev_echo', arguments: { message: 'plain' } } }) });
  assert.match(res.headers.get('content-type'), /^text\/event-stream/, 'server-everything answers with SSE');
  assert.equal(res.headers.get('content-encoding'), null);
  assert.equal(res.headers.get('x-accel-buffering'), 'no');
  assert.match(await res.text(), /Echo: plain/);
});

test('a token with other scopes on the session: its GET stream hears list_changed', async () => {
  const mcp = gw.mcpUrl;
  const narrow = new TestProvider({ user: 'demo', password: gw.password, scope: 'mcp' });
  const wide = new TestProvider({ user: 'demo', password: gw.password, scope: 'mcp ev1:write' });
  await rpcWithAuth(mcp, narrow, { jsonrpc: '2.0', id: 1, method: 'ping' });
  // /mcp/admin (the same resource) challenges for ev1:write too.
  await rpcWithAuth(`${mcp}/admin`, wide, { jsonrpc: '2.0', id: 1, method: 'ping' });
  assert.match(wide.tokens().scope, /ev1:write/);
  assert.doesNotMatch(narrow.tokens().scope, /ev1:write/);
  const h = (p) => ({ 'Content-Type': 'application/json', Accept: 'application/json, text/event-stream',
    Authorization: `Bearer ${p.tokens().access_token}`, 'MCP-Protocol-Version': '2025-11-25' });
  const init = await fetch(mcp, { method: 'POST', headers: h(narrow), body: JSON.stringify({ jsonrpc: '2.0', id: 1,
    method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'e2e', version: '1' } } }) });
  assert.equal(init.status, 200);
  const sid = init.headers.get('mcp-session-id');
  const ac = new AbortController();
  const get = await fetch(mcp, { headers: { ...h(narrow), Accept: 'text/event-stream', 'Mcp-Session-Id': sid }, signal: ac.signal });
  assert.equal(get.status, 200);
  const st = readStream(get);
  try {
    await sleep(500);
    assert.doesNotMatch(st.text, /list_changed/);
    const list = await fetch(mcp, { method: 'POST', headers: { ...h(wide), 'Mcp-Session-Id': sid },
      body: JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'tools/list' }) });
    assert.equal(list.status, 200, 'the same user\'s other token serves the session');
    await waitFor('list_changed on the GET stream', () => /notifications\/tools\/list_changed/.test(st.text), 8_000);
  } finally {
    ac.abort();
    await st.done;
  }
});

// The MPM retiring a child because the server got quieter (more idle
// threads than MaxSpareThreads) must not cut the streams it holds: as
// with mod_proxy, they go on while the child finishes gracefully ('G' in
// the scoreboard). A graceful stop (and any stop or restart) does end
// them: every child of the generation is stopping then.
test('a child the MPM retires keeps its GET streams; a graceful stop ends them', async (t) => {
  const g = await startGateway({
    modules: 'LoadModule status_module /usr/lib/apache2/modules/mod_status.so',
    config: ({ data }) => `StartServers 4
ServerLimit 8
ThreadsPerChild 4
MaxRequestWorkers 32
MinSpareThreads 1
MaxSpareThreads 5
ExtendedStatus On
MCPProxyHealthCheck Off
<Location /server-status>
    SetHandler server-status
</Location>
<Location /gw>
${basicAuthorize(data)}
    SetHandler mcp-proxy
    MCPProxyBackend beta ${upB.url} prefix=b_
    MCPProxyKeepAlive 1
</Location>`,
  });
  const gurl = `${g.origin}/gw`;
  const hdrs = (extra = {}) => ({ 'Content-Type': 'application/json', Accept: 'application/json, text/event-stream',
    Authorization: basic('demo', g.password), 'MCP-Protocol-Version': '2025-11-25', ...extra });
  const streamsOpen = [];
  try {
    for (let i = 0; i < 8; i++) {
      const r = await fetch(gurl, { method: 'POST', headers: hdrs(), body: JSON.stringify({ jsonrpc: '2.0', id: 1,
        method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'e2e', version: '1' } } }) });
      await r.text();
      const sid = r.headers.get('mcp-session-id');
      assert.ok(sid, `session ${i}: ${r.status}`);
      const res = await fetch(gurl, { headers: hdrs({ 'Mcp-Session-Id': sid, Accept: 'text/event-stream' }) });
      assert.equal(res.status, 200);
      const st = readStream(res);
      st.ended = false;
      st.done.then(() => { st.ended = true; });
      streamsOpen.push(st);
    }
    // 8 streams on 16 threads: more idle than MaxSpareThreads, so the MPM
    // retires children; wait until one that holds a stream finishes
    // gracefully (G), then a few seconds more.
    // A new connection each time: a kept-alive one may belong to a child
    // the MPM has just retired, which closes it (fetch failed).
    const scoreboard = async () => ((await (await fetch(`${g.origin}/server-status?auto`,
      { headers: { Connection: 'close' } })).text()).match(/^Scoreboard: (.*)$/m) ?? [])[1] ?? '';
    let seen = '';
    const until = Date.now() + 20_000;
    while (Date.now() < until && !seen.includes('G')) {
      seen = await scoreboard();
      if (!seen.includes('G')) await sleep(250);
    }
    if (!seen.includes('G')) {
      t.skip(`the MPM retired no child holding a stream in 20 s (scoreboard ${seen}): nothing to check`);
      return;
    }
    const marks = streamsOpen.map((s) => s.text.length);
    await sleep(3000);
    assert.deepEqual(streamsOpen.map((s) => s.ended), Array(8).fill(false),
      `every stream still open while its child retires (scoreboard then: ${seen}, now: ${await scoreboard()})`);
    assert.ok(streamsOpen.every((s, i) => s.text.length > marks[i] && s.text.includes(': keep-alive')),
      'and each still hears keep-alives');
    // A graceful stop: the streams end (and httpd with them).
    const pid = Number(readFileSync(path.join(g.dir, 'run/httpd.pid'), 'utf8'));
    process.kill(pid, 'SIGWINCH');
    await within(Promise.all(streamsOpen.map((s) => s.done)), 10_000);
  } finally {
    await g.stop();
  }
});

// The bearer check reloads the store's revocations every 10 s
// (MCP_AUTHZ_REVOCATION_POLL), in whatever request comes first: here a
// GET stream. The database connection it reads them on goes back to
// mod_dbd at once; kept for the request, it would stay out of the pool
// as long as the stream lasts, and with DBDMax 1 every request of the
// process that needs the store (registration here) would wait for it.
test('a GET stream that reloads the revocations does not keep the database connection', async () => {
  const g = await startGateway({
    location: `MCPProxyBackend beta ${upB.url} prefix=b_\nMCPProxyKeepAlive 1`,
    config: `StartServers 1
ServerLimit 1
ThreadsPerChild 8
MaxRequestWorkers 8
MinSpareThreads 1
MaxSpareThreads 8
DBDMin 0
DBDKeep 1
DBDMax 1
MCPProxyHealthCheck Off`,
  });
  const register = () => fetch(`${g.origin}/oauth/register`, { method: 'POST',
    headers: { 'Content-Type': 'application/json' }, signal: AbortSignal.timeout(8_000),
    body: JSON.stringify({ client_name: 'e2e dbd', redirect_uris: ['http://127.0.0.1:53682/callback'],
      token_endpoint_auth_method: 'none' }) });
  let st;
  try {
    const token = (await issueToken(g, { user: 'demo' })).access_token;
    const hdrs = (extra = {}) => ({ 'Content-Type': 'application/json', Accept: 'application/json, text/event-stream',
      Authorization: `Bearer ${token}`, 'MCP-Protocol-Version': '2025-11-25', ...extra });
    const init = await fetch(g.mcpUrl, { method: 'POST', headers: hdrs(), body: JSON.stringify({ jsonrpc: '2.0', id: 1,
      method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'e2e', version: '1' } } }) });
    assert.equal(init.status, 200, await init.text());
    const sid = init.headers.get('mcp-session-id');
    // Past the poll interval, so the stream's bearer check is the one that reloads.
    await sleep(11_000);
    const res = await fetch(g.mcpUrl, { headers: hdrs({ 'Mcp-Session-Id': sid, Accept: 'text/event-stream' }) });
    assert.equal(res.status, 200);
    st = readStream(res);
    await waitFor('the stream\'s first keep-alive', () => st.text.includes(': keep-alive'), 10_000);
    const log = readFileSync(path.join(g.dir, 'logs/error_log'), 'utf8');
    assert.doesNotMatch(log, /MCP00859/, 'the revocations were read');
    const reg = await register().catch((e) => assert.fail(
      `registration while the stream is open got no answer in 8 s (${e.name}): the stream holds the database connection`));
    assert.equal(reg.status, 201, `registration while the stream is open: ${await reg.text()}`);
  } finally {
    await g.stop();
    await st?.done;
  }
});
