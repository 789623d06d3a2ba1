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

// The federating handler of mod_mcp_proxy end to end: two real upstreams
// (@modelcontextprotocol/server-everything over Streamable HTTP on
// 127.0.0.1) behind the gateway's /mcp,
//
//   MCPProxyBackend everything1 <up1> prefix=ev1_
//   MCPProxyBackend everything2 <up2> prefix=ev2_ scope=ev2
//   MCPProxyScopeRule everything1 get-env ev1:write
//
// and @modelcontextprotocol/sdk's Client talking to the gateway only, with
// bearer tokens the gateway issued to the test users (demo may be granted
// ev2 and ev1:write, demo2 only mcp): initialize, the merged and prefixed
// lists, routed calls, progress, sampling, elicitation and roots/list
// relayed from an upstream to the client and back, cancellation,
// list_changed and resources/updated on the GET stream, paging, scope
// filtering and step-up, gateway_whoami, the session's end; some of it
// also read as raw HTTP (event ids, headers, status codes).
//
// A second gateway federates everything1, an upstream of the test process
// that pages its lists and records what reaches it (lib/upstream.mjs
// startPagingUpstream), and a backend nothing listens for: paging with the
// gateway's cursors, partial lists, what headers reach an upstream,
// cancellation reaching it, a backend that goes away, keep-alive comments.
// Gateways of their own: an upstream that forgets its session
// (startSessionUpstream), and stopping httpd with a GET stream open.
//
// The only direct connection to an upstream is the one in before() that
// counts what server-everything offers.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import {
  CreateMessageRequestSchema, ElicitRequestSchema, ListRootsRequestSchema, ResourceListChangedNotificationSchema,
  ResourceUpdatedNotificationSchema,
} from '@modelcontextprotocol/sdk/types.js';
import { DEFAULT_SCOPES, startGateway } from './lib/gateway.mjs';
import { issueToken } from './lib/oauth.mjs';
import { SRC, freePort, leftAfterStop, sleep, waitFor, within } from './lib/proc.mjs';
import { EVERYTHING_VERSION, startEverything, startPagingUpstream, startSessionUpstream } from './lib/upstream.mjs';

const SDK_VERSION = JSON.parse(readFileSync(path.join(SRC, 'node_modules/@modelcontextprotocol/sdk/package.json'), 'utf8')).version;
// What the clients declare: server-everything registers its sampling and
// elicitation tools only for a session whose client declared them.
const CAPABILITIES = { sampling: {}, elicitation: {} };
const CALL = { timeout: 20_000 };     // the SDK's bound on one request
const T = { timeout: 90_000 };        // node:test's bound on one test

// Marks the upstreams' processes (proc.mjs), one pair per run.
const TAG1 = `mcp-e2e-federation-ev1-${process.pid}`;
const TAG2 = `mcp-e2e-federation-ev2-${process.pid}`;

let gw, ev1, ev2, direct;
let demoTok, demo2Tok, adminTok;      // mcp ev2 (demo), mcp (demo2), mcp ev1:write (demo)
// A second gateway: everything1, an upstream that pages its lists, and
// one nothing listens for.
let gw2, paged, gw2Tok, secretsDir;
// What everything sent to the paging upstream: the token of its
// bearer_file, and the signed-in user's name in this header.
const BACKEND_TOKEN = `e2e-backend-token-${process.pid}`;
const IDENTITY_HEADER = 'X-E2E-User';
const clients = [];

before(async () => {
  ev1 = await startEverything({ tag: TAG1 });
  ev2 = await startEverything({ tag: TAG2 });
  // The one direct look at an upstream: what a client with the same
  // capabilities is offered, to compare the gateway's merged lists with.
  direct = await directInventory(ev1.url);
  gw = await startGateway({
    scopes: [...DEFAULT_SCOPES,
      'MCPAuthzScope ev2 "Use the second demo upstream" require="group demo-admins"'],
    location: [
      `MCPProxyBackend everything1 ${ev1.url} prefix=ev1_`,
      `MCPProxyBackend everything2 ${ev2.url} prefix=ev2_ scope=ev2`,
      'MCPProxyScopeRule everything1 get-env ev1:write',
    ].join('\n'),
  });
  demoTok = await issueToken(gw, { user: 'demo', scope: 'mcp ev2' });
  demo2Tok = await issueToken(gw, { user: 'demo2', scope: 'mcp' });
  adminTok = await issueToken(gw, { user: 'demo', scope: 'mcp ev1:write' });

  paged = await startPagingUpstream();
  const deadPort = await freePort();
  secretsDir = mkdtempSync(path.join(tmpdir(), 'mcp-e2e-fed-'));
  const bearerFile = path.join(secretsDir, 'paged.token');
  writeFileSync(bearerFile, `${BACKEND_TOKEN}\n`, { mode: 0o644 });
  gw2 = await startGateway({
    location: [
      `MCPProxyBackend everything1 ${ev1.url} prefix=ev1_`,
      `MCPProxyBackend paged ${paged.url} prefix=pg_ timeout=5 bearer_file=${bearerFile}`,
      `MCPProxyIdentityHeader ${IDENTITY_HEADER}`,
      `MCPProxyBackend dead http://127.0.0.1:${deadPort}/mcp prefix=dead_ timeout=3`,
      'MCPProxyKeepAlive 1',
    ].join('\n'),
    // A log of what each request asked and how it ended.
    config: ({ dir }) => ['MCPProxyHealthCheck 5',
      'LogFormat "%{MCP_METHOD}e|%{MCP_TOOL}e|%{MCP_BACKEND}e|%{MCP_SESSION}e|%{MCP_STATUS}e|%>s" e2efed',
      `CustomLog "${dir}/logs/fed_log" e2efed`].join('\n'),
  });
  gw2Tok = await issueToken(gw2, { user: 'demo', scope: 'mcp' });
});

after(async () => {
  for (const c of clients) {
    await within(c.close().catch(() => {}), 5000);
  }
  await gw?.stop();
  await gw2?.stop();
  await paged?.stop();
  await ev1?.stop();
  await ev2?.stop();
  if (secretsDir) {
    rmSync(secretsDir, { recursive: true, force: true });
  }
});

// Everything a list method returns, following nextCursor (at most @max pages).
async function listAll(request, key, max = 50) {
  const items = [];
  let cursor, pages = 0;
  do {
    const page = await request(cursor ? { cursor } : {});
    items.push(...page[key]);
    cursor = page.nextCursor;
    pages++;
  } while (cursor && pages < max);
  assert.ok(!cursor, `more than ${max} pages of ${key}`);
  return { items, pages };
}

async function directInventory(url) {
  const c = new Client({ name: 'e2e direct count', version: '1' }, { capabilities: CAPABILITIES });
  c.setRequestHandler(CreateMessageRequestSchema, async () => ({ model: 'x', role: 'assistant', content: { type: 'text', text: 'x' } }));
  c.setRequestHandler(ElicitRequestSchema, async () => ({ action: 'decline' }));
  await c.connect(new StreamableHTTPClientTransport(new URL(url)));
  try {
    return {
      tools: (await listAll((p) => c.listTools(p), 'tools')).items.map((t) => t.name),
      prompts: (await listAll((p) => c.listPrompts(p), 'prompts')).items.map((x) => x.name),
      resources: (await listAll((p) => c.listResources(p), 'resources')).items.map((r) => r.uri),
      templates: (await listAll((p) => c.listResourceTemplates(p), 'resourceTemplates')).items.map((r) => r.uriTemplate),
    };
  } finally {
    await c.close();
  }
}

// An SDK client connected to the gateway's /mcp with @token. `log` gets
// "METHOD status" of every HTTP request the transport makes. Options:
// `capabilities`, `sampling` and `elicitation` (request handlers).
async function connect(token, { capabilities = CAPABILITIES, sampling, elicitation, roots, url = gw.mcpUrl } = {}) {
  const log = [];
  const recording = async (url, init = {}) => {
    const res = await fetch(url, init);
    log.push(`${init.method ?? 'GET'} ${res.status}`);
    return res;
  };
  const transport = new StreamableHTTPClientTransport(new URL(url), {
    requestInit: { headers: { Authorization: `Bearer ${token.access_token}` } },
    fetch: recording,
  });
  const client = new Client({ name: 'mod_mcp e2e federation', version: '1.0.0' }, { capabilities });
  client.setRequestHandler(CreateMessageRequestSchema, sampling
    ?? (async () => { throw new Error('no sampling expected'); }));
  client.setRequestHandler(ElicitRequestSchema, elicitation ?? (async () => ({ action: 'decline' })));
  if (roots) {
    client.setRequestHandler(ListRootsRequestSchema, roots);
  }
  const errors = [];
  client.onerror = (e) => errors.push(e);
  await within(client.connect(transport), 20_000);
  assert.ok(transport.sessionId, 'connected (a session id)');
  clients.push(client);
  return { client, transport, log, errors };
}

// POST @message to /mcp with @token and @session (raw HTTP, as a client
// that does not use the SDK); the status, headers, text, and the JSON-RPC
// message of the answer (a JSON body, or the event of an SSE body that
// answers @message's id).
async function post(message, { token, session, version = '2025-11-25', timeoutMs = 20_000, url = gw.mcpUrl, extra = {} } = {}) {
  const headers = { 'Content-Type': 'application/json', Accept: 'application/json, text/event-stream',
    'MCP-Protocol-Version': version, ...extra };
  if (token) headers.Authorization = `Bearer ${token.access_token}`;
  if (session) headers['Mcp-Session-Id'] = session;
  const res = await fetch(url, { method: 'POST', headers, body: JSON.stringify(message),
    signal: AbortSignal.timeout(timeoutMs) });
  const text = await res.text();
  let json;
  const type = res.headers.get('content-type') ?? '';
  if (type.startsWith('application/json') && text) {
    json = JSON.parse(text);
  } else if (type.startsWith('text/event-stream')) {
    for (const ev of text.split(/\r?\n\r?\n/)) {
      const data = ev.split(/\r?\n/).filter((l) => l.startsWith('data:')).map((l) => l.slice(5).trimStart()).join('\n');
      if (!data) continue;
      const m = JSON.parse(data);
      if (m.id === message.id && ('result' in m || 'error' in m)) {
        json = m;
      }
    }
  }
  return { status: res.status, headers: res.headers, text, json };
}

// A gateway session opened with raw HTTP (initialize, then initialized).
async function rawSession(token, { url = gw.mcpUrl } = {}) {
  const init = await post({ jsonrpc: '2.0', id: 1, method: 'initialize', params: {
    protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'e2e raw', version: '1' } } }, { token, url });
  assert.equal(init.status, 200, `initialize: ${init.status} ${init.text}`);
  const session = init.headers.get('mcp-session-id');
  assert.ok(session, 'a session id');
  const version = init.json.result.protocolVersion;
  const done = await post({ jsonrpc: '2.0', method: 'notifications/initialized' }, { token, session, version, url });
  assert.equal(done.status, 202, `notifications/initialized: ${done.status} ${done.text}`);
  return { session, version, init };
}

// Open the GET stream of @session (raw HTTP). Returns { status, headers,
// events (each { id, event, data, comment }), until(pred, ms), close() }.
async function openStream(token, session, version, { url = gw.mcpUrl, lastEventId } = {}) {
  const ac = new AbortController();
  const res = await fetch(url, { method: 'GET', signal: ac.signal, headers: {
    Accept: 'text/event-stream', Authorization: `Bearer ${token.access_token}`,
    'Mcp-Session-Id': session, 'MCP-Protocol-Version': version,
    ...(lastEventId ? { 'Last-Event-ID': lastEventId } : {}) } });
  const events = [];
  let buf = '';
  const reading = (async () => {
    if (!res.body) return;
    const dec = new TextDecoder();
    try {
      for await (const chunk of res.body) {
        buf += dec.decode(chunk, { stream: true });
        let i;
        while ((i = buf.search(/\r?\n\r?\n/)) >= 0) {
          const block = buf.slice(0, i);
          buf = buf.slice(i).replace(/^\r?\n\r?\n/, '');
          const ev = { id: undefined, event: undefined, data: '', comment: '' };
          for (const line of block.split(/\r?\n/)) {
            if (line.startsWith(':')) ev.comment += line;
            else if (line.startsWith('id:')) ev.id = line.slice(3).trimStart();
            else if (line.startsWith('event:')) ev.event = line.slice(6).trimStart();
            else if (line.startsWith('data:')) ev.data += line.slice(5).trimStart();
          }
          events.push(ev);
        }
      }
    } catch {
      // closed
    }
  })();
  return {
    status: res.status,
    headers: res.headers,
    events,
    until: (pred, ms, what = 'an event') => waitFor(`${what} on the GET stream`, () => events.find(pred), ms),
    async close() {
      ac.abort();
      await within(reading, 2000);
    },
  };
}

const text = (result) => result.content.filter((c) => c.type === 'text').map((c) => c.text).join('\n');
const prefixed = (prefix, names) => names.map((n) => `${prefix}${n}`);

test(`upstreams: server-everything ${EVERYTHING_VERSION} offers the tools the tests use (direct count)`, () => {
  for (const name of ['echo', 'get-sum', 'get-env', 'trigger-long-running-operation', 'trigger-sampling-request',
    'trigger-elicitation-request', 'gzip-file-as-resource', 'toggle-subscriber-updates']) {
    assert.ok(direct.tools.includes(name), `${name} in ${direct.tools.join(', ')}`);
  }
  assert.ok(direct.resources.length > 0);
});

test(`initialize through the gateway (SDK ${SDK_VERSION}): the gateway's serverInfo, a session id, merged capabilities`, T, async () => {
  const { client, transport, log } = await connect(demoTok);
  assert.equal(client.getServerVersion().name, 'mod_mcp');
  assert.ok(client.getServerVersion().version, 'a version');
  assert.match(transport.sessionId, /^[A-Za-z0-9_-]{43}$/, 'a 43-character base64url session id');
  const caps = client.getServerCapabilities();
  assert.ok(caps.tools, `tools capability: ${JSON.stringify(caps)}`);
  assert.ok(caps.resources, `resources capability: ${JSON.stringify(caps)}`);
  assert.ok(caps.prompts, `prompts capability: ${JSON.stringify(caps)}`);
  assert.deepEqual(log.slice(0, 2), ['POST 200', 'POST 202'], `initialize, initialized: ${log.join(', ')}`);
  assert.deepEqual(await client.ping(), {});

  // The same with raw HTTP: the header, and a JSON answer.
  const raw = await rawSession(demoTok);
  assert.match(raw.init.headers.get('content-type'), /^application\/json/);
  assert.equal(raw.init.json.result.serverInfo.name, 'mod_mcp');
  assert.match(raw.session, /^[A-Za-z0-9_-]{43}$/);
  assert.notEqual(raw.session, transport.sessionId, 'each initialize a session of its own');
});

test('tools/list: gateway_whoami first, then both upstreams\' tools with their prefixes (less what the token\'s scopes do not cover); prompts and templates prefixed too', T, async () => {
  const { client } = await connect(demoTok);
  const { items: tools } = await listAll((p) => client.listTools(p, CALL), 'tools');
  const names = tools.map((t) => t.name);
  assert.equal(names[0], 'gateway_whoami', `first: ${names.join(', ')}`);
  // ev1_get-env needs ev1:write too (MCPProxyScopeRule): not for this token.
  assert.deepEqual([...names].sort(), ['gateway_whoami',
    ...prefixed('ev1_', direct.tools).filter((n) => n !== 'ev1_get-env'), ...prefixed('ev2_', direct.tools)].sort());
  const echo = tools.find((t) => t.name === 'ev1_echo');
  assert.ok(echo.inputSchema?.properties?.message, 'the upstream\'s input schema is kept');

  const { items: prompts } = await listAll((p) => client.listPrompts(p, CALL), 'prompts');
  assert.deepEqual(prompts.map((p) => p.name).sort(),
    [...prefixed('ev1_', direct.prompts), ...prefixed('ev2_', direct.prompts)].sort());
  const { items: templates } = await listAll((p) => client.listResourceTemplates(p, CALL), 'resourceTemplates');
  assert.deepEqual(templates.map((t) => t.uriTemplate).sort(),
    [...prefixed('ev1-', direct.templates), ...prefixed('ev2-', direct.templates)].sort());
});

test('tools/call is routed by prefix: ev1_echo, ev2_get-sum, and ev2_get-env runs in the second upstream', T, async () => {
  const { client } = await connect(demoTok);
  const echo = await client.callTool({ name: 'ev1_echo', arguments: { message: 'hello federation' } }, undefined, CALL);
  assert.equal(echo.isError ?? false, false);
  assert.equal(text(echo), 'Echo: hello federation');
  const sum = await client.callTool({ name: 'ev2_get-sum', arguments: { a: 2, b: 3 } }, undefined, CALL);
  assert.equal(text(sum), 'The sum of 2 and 3 is 5.');
  const env = JSON.parse(text(await client.callTool({ name: 'ev2_get-env', arguments: {} }, undefined, CALL)));
  assert.equal(env.PORT, String(ev2.port), 'the prefix ev2_ reached everything2');
  assert.equal(env.MCP_E2E_TAG, TAG2);
  assert.equal(env.HTTP_AUTHORIZATION, undefined);
});

test('a tool no backend owns is a JSON-RPC -32602 error; an unknown tool of a backend is that backend\'s answer', T, async () => {
  const { session, version } = await rawSession(demoTok);
  const r = await post({ jsonrpc: '2.0', id: 7, method: 'tools/call', params: { name: 'nobody_echo', arguments: {} } },
    { token: demoTok, session, version });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json?.error?.code, -32602, r.text);
  // The prefix names everything1: routed there, whose SDK answers a tool
  // error result (its own -32602 in the text).
  const r2 = await post({ jsonrpc: '2.0', id: 8, method: 'tools/call', params: { name: 'ev1_no-such-tool', arguments: {} } },
    { token: demoTok, session, version });
  assert.equal(r2.status, 200, r2.text);
  assert.equal(r2.json?.result?.isError, true, r2.text);
  assert.match(r2.json.result.content[0].text, /Tool no-such-tool not found/, 'the backend saw its own name, without the prefix');
});

test('progress: notifications/progress of trigger-long-running-operation reach the client while the call runs', T, async () => {
  const { client } = await connect(demoTok);
  const seen = [];
  const result = await client.callTool({ name: 'ev1_trigger-long-running-operation', arguments: { duration: 2, steps: 4 } },
    undefined, { ...CALL, onprogress: (p) => seen.push({ ...p, at: Date.now() }) });
  const done = Date.now();
  assert.match(text(result), /Long running operation completed\. Duration: 2 seconds, Steps: 4\./);
  assert.ok(seen.length >= 2, `onprogress called ${seen.length} times: ${JSON.stringify(seen)}`);
  assert.deepEqual(seen.map((p) => p.progress), [1, 2, 3, 4].slice(0, seen.length));
  assert.ok(seen.every((p) => p.total === 4));
  assert.ok(seen[0].at < done - 700, 'the first progress arrived before the answer (relayed event by event, not buffered)');
});

test('sampling: the upstream\'s sampling/createMessage reaches the client (id fed:everything1:...), its answer goes back', T, async () => {
  const asked = [];
  const { client } = await connect(demoTok, {
    sampling: async (req, extra) => {
      asked.push({ req, id: extra.requestId });
      return { model: 'e2e-model', role: 'assistant', content: { type: 'text', text: 'sampled by the e2e client' } };
    },
  });
  const result = await client.callTool({ name: 'ev1_trigger-sampling-request', arguments: { prompt: 'federated hello', maxTokens: 20 } },
    undefined, CALL);
  assert.equal(asked.length, 1, 'one sampling request');
  assert.match(asked[0].req.params.messages[0].content.text, /federated hello/);
  assert.equal(asked[0].req.params.maxTokens, 20);
  assert.match(String(asked[0].id), /^fed:everything1:/, 'the gateway\'s id for the upstream\'s request');
  assert.match(text(result), /LLM sampling result:/);
  assert.match(text(result), /sampled by the e2e client/);
  assert.match(text(result), /e2e-model/);
});

test('elicitation: the upstream\'s elicitation/create reaches the client, the accepted content goes back', T, async () => {
  const asked = [];
  const { client } = await connect(demoTok, {
    elicitation: async (req, extra) => {
      asked.push({ req, id: extra.requestId });
      return { action: 'accept', content: { name: 'E2E Tester', check: true, integer: 7 } };
    },
  });
  const result = await client.callTool({ name: 'ev2_trigger-elicitation-request', arguments: {} }, undefined, CALL);
  assert.equal(asked.length, 1);
  assert.equal(asked[0].req.params.requestedSchema.type, 'object');
  assert.match(String(asked[0].id), /^fed:everything2:/);
  assert.match(text(result), /User provided the requested information/);
  assert.match(text(result), /- Name: E2E Tester/);
  assert.match(text(result), /- Favorite Integer: 7/);
});

test('cancellation: aborting a long call rejects it, notifications/cancelled is accepted (202), and the session goes on', T, async () => {
  const { client, log } = await connect(demoTok);
  const ac = new AbortController();
  const seen = [];
  const call = client.callTool({ name: 'ev1_trigger-long-running-operation', arguments: { duration: 30, steps: 30 } },
    undefined, { timeout: 60_000, signal: ac.signal, onprogress: (p) => seen.push(p) });
  call.catch(() => {});
  await waitFor('the first progress of the long call', () => seen.length > 0, 15_000);
  const t0 = Date.now();
  const posted = log.length;
  ac.abort(new Error('e2e cancel'));
  const outcome = await within(call.then((r) => ({ resolved: r }), (e) => ({ rejected: e })), 5000);
  assert.ok(outcome, 'the call settled within 5 s of the abort');
  assert.ok(outcome.rejected, `the call rejected: ${JSON.stringify(outcome)}`);
  assert.ok(Date.now() - t0 < 5000);
  // The SDK rejects by itself; the gateway's part is the notification.
  await waitFor('the answer to notifications/cancelled', () => log.slice(posted).includes('POST 202'), 5000);
  const echo = await client.callTool({ name: 'ev1_echo', arguments: { message: 'after cancel' } }, undefined, { timeout: 10_000 });
  assert.equal(text(echo), 'Echo: after cancel');
  const sum = await client.callTool({ name: 'ev1_get-sum', arguments: { a: 1, b: 1 } }, undefined, { timeout: 10_000 });
  assert.equal(text(sum), 'The sum of 1 and 1 is 2.');
});

test('list_changed: a resource an upstream adds (gzip-file-as-resource) is announced on the GET stream and listed with its prefix', T, async () => {
  const { client, log } = await connect(demoTok);
  let changed = 0;
  client.setNotificationHandler(ResourceListChangedNotificationSchema, () => { changed++; });
  // The upstream announces it on its GET stream, which the gateway opens
  // when the client opens its own: until that is up a notification is
  // lost, so add a new resource each second until one is announced.
  const names = [];
  await waitFor('notifications/resources/list_changed', async () => {
    if (changed) return true;
    const name = `e2e-${names.length}.gz`;
    names.push(name);
    const r = await client.callTool({ name: 'ev1_gzip-file-as-resource', arguments: {
      name, data: 'data:text/plain;base64,aGVsbG8gZmVkZXJhdGlvbg==', outputType: 'resourceLink' } }, undefined, CALL);
    assert.equal(r.content[0].type, 'resource_link', JSON.stringify(r));
    assert.equal(r.content[0].uri, `ev1-demo://resource/session/${name}`, 'the resource link names the gateway URI');
    await sleep(1000);
    return changed > 0;
  }, 20_000, 0);
  assert.ok(log.includes('GET 200'), `the client's GET stream is open: ${log.join(', ')}`);
  const { items } = await listAll((p) => client.listResources(p, CALL), 'resources');
  const uris = items.map((r) => r.uri);
  for (const name of names) {
    assert.ok(uris.includes(`ev1-demo://resource/session/${name}`), `ev1-demo://resource/session/${name} in ${uris.join(' ')}`);
  }
  const read = await client.readResource({ uri: `ev1-demo://resource/session/${names[0]}` }, CALL);
  assert.equal(read.contents[0].mimeType, 'application/gzip', 'the new resource can be read through the gateway');
});

test('resources/read from an upstream that answers in SSE: the contents name the URI the client asked for (gateway form)', T, async () => {
  const { client } = await connect(demoTok);
  for (const uri of [`ev1-${direct.resources[0]}`, `ev2-${direct.resources[2]}`]) {
    const read = await client.readResource({ uri }, CALL);
    assert.ok(read.contents[0].text, `${uri} has text`);
    assert.equal(read.contents[0].uri, uri, 'the URI in the contents is prefixed, as for JSON answers (see the paging upstream)');
  }
});

test('resources/subscribe with a prefixed URI: notifications/resources/updated arrive with the prefixed URI', T, async () => {
  const { client } = await connect(demoTok);
  const updated = [];
  client.setNotificationHandler(ResourceUpdatedNotificationSchema, (n) => { updated.push(n.params.uri); });
  const uri = `ev2-${direct.resources[0]}`;
  assert.ok(client.getServerCapabilities().resources?.subscribe,
    `the gateway offers subscriptions (both upstreams do): ${JSON.stringify(client.getServerCapabilities())}`);
  assert.deepEqual(await client.subscribeResource({ uri }, CALL), {});
  const on = await client.callTool({ name: 'ev2_toggle-subscriber-updates', arguments: {} }, undefined, CALL);
  assert.match(text(on), /Started simulated resource updated notifications/);
  try {
    // At once, then every 5 s: the first may come before the GET stream.
    await waitFor(`notifications/resources/updated for ${uri}`, () => updated.length > 0, 15_000);
    assert.deepEqual([...new Set(updated)], [uri]);
  } finally {
    const off = await client.callTool({ name: 'ev2_toggle-subscriber-updates', arguments: {} }, undefined, CALL);
    assert.match(text(off), /Stopped simulated resource updates/);
    await client.unsubscribeResource({ uri }, CALL);
  }
});

test('roots: the upstream\'s roots/list on the GET stream reaches the client, the answer goes back; roots/list_changed makes it ask again', T, async () => {
  let current = [{ uri: 'file:///tmp/e2e-root-one', name: 'e2e root one' }];
  const asked = [];
  const { client, log } = await connect(demoTok, {
    capabilities: { ...CAPABILITIES, roots: { listChanged: true } },
    roots: async (req, extra) => { asked.push(extra.requestId); return { roots: current }; },
  });
  await waitFor('the client\'s GET stream', () => log.includes('GET 200'), 10_000);
  const first = await client.callTool({ name: 'ev1_get-roots-list', arguments: {} }, undefined, CALL);
  assert.match(text(first), /URI: file:\/\/\/tmp\/e2e-root-one/, text(first));
  // Both upstreams ask at their own start (the client declared roots);
  // everything1 asked at least for the call.
  assert.ok(asked.some((id) => /^fed:everything1:/.test(String(id))), JSON.stringify(asked));
  assert.ok(asked.every((id) => /^fed:everything[12]:/.test(String(id))), JSON.stringify(asked));
  current = [{ uri: 'file:///tmp/e2e-root-two', name: 'e2e root two' }];
  await client.sendRootsListChanged();
  await waitFor('the roots the upstream holds to change', async () => {
    const r = await client.callTool({ name: 'ev1_get-roots-list', arguments: {} }, undefined, CALL);
    return /e2e-root-two/.test(text(r));
  }, 15_000, 500);
});

test('prompts/get and completion/complete are routed by prefix', T, async () => {
  const { client } = await connect(demoTok);
  const p = await client.getPrompt({ name: 'ev2_args-prompt', arguments: { city: 'Lisbon' } }, CALL);
  assert.match(JSON.stringify(p.messages), /Lisbon/);
  const c = await client.complete({ ref: { type: 'ref/prompt', name: 'ev1_completable-prompt' },
    argument: { name: 'department', value: 'S' } }, CALL);
  assert.deepEqual([...c.completion.values].sort(), ['Sales', 'Support']);
  assert.deepEqual(await client.setLoggingLevel('warning', CALL), {}, 'logging/setLevel: {}');
});

test('the GET stream (raw): text/event-stream, no-cache, resources/updated with the prefixed URI and an event id "everything2:..."', T, async () => {
  const { session, version } = await rawSession(demoTok);
  const opts = { token: demoTok, session, version };
  const uri = `ev2-${direct.resources[1]}`;
  const sub = await post({ jsonrpc: '2.0', id: 2, method: 'resources/subscribe', params: { uri } }, opts);
  assert.deepEqual(sub.json, { jsonrpc: '2.0', id: 2, result: {} }, sub.text);
  const stream = await openStream(demoTok, session, version);
  try {
    assert.equal(stream.status, 200);
    assert.match(stream.headers.get('content-type') ?? '', /^text\/event-stream/);
    assert.match(stream.headers.get('cache-control') ?? '', /no-cache/);
    const toggle = { jsonrpc: '2.0', method: 'tools/call', params: { name: 'ev2_toggle-subscriber-updates', arguments: {} } };
    const on = await post({ ...toggle, id: 3 }, opts);
    assert.match(JSON.stringify(on.json?.result), /Started simulated/, on.text);
    try {
      const ev = await stream.until((e) => e.data.includes('notifications/resources/updated'), 15_000, 'resources/updated');
      assert.deepEqual(JSON.parse(ev.data), { jsonrpc: '2.0', method: 'notifications/resources/updated', params: { uri } });
      assert.match(ev.id ?? '', /^everything2:./, `the event id names the backend: ${ev.id}`);
    } finally {
      const off = await post({ ...toggle, id: 4 }, opts);
      assert.match(JSON.stringify(off.json?.result), /Stopped simulated/, off.text);
    }
  } finally {
    await stream.close();
  }
});

test('resuming the GET stream with Last-Event-ID "everything2:...": what everything2 sent meanwhile is replayed', T, async () => {
  const { session, version } = await rawSession(demoTok);
  const opts = { token: demoTok, session, version };
  const uri = `ev2-${direct.resources[3]}`;
  assert.equal((await post({ jsonrpc: '2.0', id: 2, method: 'resources/subscribe', params: { uri } }, opts)).status, 200);
  const toggle = { jsonrpc: '2.0', method: 'tools/call', params: { name: 'ev2_toggle-subscriber-updates', arguments: {} } };
  let stream = await openStream(demoTok, session, version);
  let on = true;
  try {
    assert.match(JSON.stringify((await post({ ...toggle, id: 3 }, opts)).json?.result), /Started simulated/);
    const first = await stream.until((e) => e.data.includes('notifications/resources/updated'), 15_000, 'resources/updated');
    assert.match(first.id ?? '', /^everything2:./, `an event id to resume from: ${first.id}`);
    await stream.close();
    // Updates every 5 s: at least one while no stream is open.
    await sleep(6000);
    assert.match(JSON.stringify((await post({ ...toggle, id: 4 }, opts)).json?.result), /Stopped simulated/);
    on = false;
    stream = await openStream(demoTok, session, version, { lastEventId: first.id });
    assert.equal(stream.status, 200);
    const replayed = await stream.until((e) => e.data.includes('notifications/resources/updated') && e.id !== first.id,
      5000, 'a replayed resources/updated');
    assert.match(replayed.id, /^everything2:./);
    assert.deepEqual(JSON.parse(replayed.data).params, { uri });
  } finally {
    if (on) await post({ ...toggle, id: 5 }, opts);
    await stream.close();
  }
});

test('a relayed SSE answer (raw): progress events with ids "everything1:...", then the result; the POST is text/event-stream', T, async () => {
  const { session, version } = await rawSession(demoTok);
  const r = await post({ jsonrpc: '2.0', id: 5, method: 'tools/call', params: { name: 'ev1_trigger-long-running-operation',
    arguments: { duration: 1, steps: 2 }, _meta: { progressToken: 'e2e-progress' } } }, { token: demoTok, session, version });
  assert.equal(r.status, 200, r.text);
  assert.match(r.headers.get('content-type') ?? '', /^text\/event-stream/);
  assert.match(r.json?.result?.content?.[0]?.text ?? '', /Long running operation completed/, r.text);
  const progress = r.text.split(/\r?\n\r?\n/).filter((b) => b.includes('notifications/progress'));
  assert.equal(progress.length, 2, r.text);
  for (const b of progress) {
    assert.match(b, /^id: ?everything1:./m, `event id of ${b}`);
    const data = JSON.parse(b.split(/\r?\n/).filter((l) => l.startsWith('data:')).map((l) => l.slice(5)).join(''));
    assert.equal(data.params.progressToken, 'e2e-progress', 'the client\'s progress token comes back as it was');
  }
});

test('keep-alive: the GET stream carries ": keep-alive" comments every MCPProxyKeepAlive seconds (1 on the second gateway)', T, async () => {
  const { session, version } = await rawSession(gw2Tok, { url: gw2.mcpUrl });
  const stream = await openStream(gw2Tok, session, version, { url: gw2.mcpUrl });
  try {
    assert.equal(stream.status, 200);
    await stream.until((e) => /^: ?keep-alive/.test(e.comment), 5000, 'a keep-alive comment');
  } finally {
    await stream.close();
  }
});

test('paging: resources/list through the gateway, page by page, has every resource of both upstreams once; a forged cursor is -32602', T, async (t) => {
  const { client } = await connect(demoTok);
  const { items, pages } = await listAll((p) => client.listResources(p, CALL), 'resources');
  t.diagnostic(`${items.length} resources in ${pages} page(s); ${direct.resources.length} per upstream (direct count)`);
  const uris = items.map((r) => r.uri);
  assert.equal(new Set(uris).size, uris.length, 'no resource twice');
  assert.deepEqual([...uris].sort(),
    [...prefixed('ev1-', direct.resources), ...prefixed('ev2-', direct.resources)].sort());

  const { session, version } = await rawSession(demoTok);
  for (const cursor of ['forged', 'eyJtIjoicmVzb3VyY2VzL2xpc3QiLCJwIjpbXX0.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA']) {
    const r = await post({ jsonrpc: '2.0', id: 3, method: 'resources/list', params: { cursor } }, { token: demoTok, session, version });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json?.error?.code, -32602, `cursor ${cursor}: ${r.text}`);
  }
});

test('scopes: demo2 (no ev2) sees none of everything2, and calling an ev2_ tool is HTTP 403 insufficient_scope', T, async () => {
  const { client } = await connect(demo2Tok);
  const names = (await listAll((p) => client.listTools(p, CALL), 'tools')).items.map((t) => t.name);
  assert.ok(names.includes('gateway_whoami'));
  assert.ok(names.includes('ev1_echo'), `ev1 is visible: ${names.join(', ')}`);
  assert.deepEqual(names.filter((n) => n.startsWith('ev2_')), [], 'no ev2_ tool');
  const uris = (await listAll((p) => client.listResources(p, CALL), 'resources')).items.map((r) => r.uri);
  assert.deepEqual(uris.filter((u) => u.startsWith('ev2-')), [], 'no ev2- resource');
  const prompts = (await listAll((p) => client.listPrompts(p, CALL), 'prompts')).items.map((p) => p.name);
  assert.deepEqual(prompts.filter((n) => n.startsWith('ev2_')), [], 'no ev2_ prompt');
  assert.equal(text(await client.callTool({ name: 'ev1_echo', arguments: { message: 'demo2' } }, undefined, CALL)), 'Echo: demo2');
  await assert.rejects(client.callTool({ name: 'ev2_echo', arguments: { message: 'x' } }, undefined, CALL),
    (e) => e.code === 403, 'the SDK reports the 403');

  const { session, version } = await rawSession(demo2Tok);
  const r = await post({ jsonrpc: '2.0', id: 5, method: 'tools/call', params: { name: 'ev2_echo', arguments: { message: 'x' } } },
    { token: demo2Tok, session, version });
  assert.equal(r.status, 403, `${r.status} ${r.text}`);
  const challenge = r.headers.get('www-authenticate') ?? '';
  assert.match(challenge, /^Bearer /);
  assert.match(challenge, /error="insufficient_scope"/);
  assert.match(challenge, /scope="[^"]*\bev2\b[^"]*"/, challenge);
  assert.match(challenge, new RegExp(`resource_metadata="${gw.origin}/\\.well-known/oauth-protected-resource/mcp"`), challenge);
  assert.match(r.headers.get('content-type') ?? '', /^application\/json/);
  assert.ok(JSON.parse(r.text), 'a JSON body');
});

test('step-up: ev1_get-env (MCPProxyScopeRule ... ev1:write) is hidden and 403 with scope ev1:write for a token without it, listed and working with one that has it', T, async () => {
  const { session, version } = await rawSession(demoTok);
  const call = { jsonrpc: '2.0', id: 9, method: 'tools/call', params: { name: 'ev1_get-env', arguments: {} } };
  const r = await post(call, { token: demoTok, session, version });
  assert.equal(r.status, 403, `${r.status} ${r.text}`);
  const challenge = r.headers.get('www-authenticate') ?? '';
  assert.match(challenge, /error="insufficient_scope"/, challenge);
  const scope = challenge.match(/scope="([^"]*)"/)?.[1]?.split(' ') ?? [];
  assert.ok(scope.includes('ev1:write'), `the challenge names ev1:write: ${challenge}`);
  assert.ok(scope.includes('mcp'), `and keeps what was granted: ${challenge}`);
  assert.ok(JSON.parse(r.text));
  // Lists are filtered by the same scopes: hidden without ev1:write.
  const listed = await post({ jsonrpc: '2.0', id: 10, method: 'tools/list' }, { token: demoTok, session, version });
  assert.ok(listed.json?.result?.tools?.length > 0, listed.text.slice(0, 300));
  assert.ok(!listed.json.result.tools.some((x) => x.name === 'ev1_get-env'), 'ev1_get-env is not listed without ev1:write');

  assert.equal(adminTok.scope.split(' ').sort().join(' '), 'ev1:write mcp', 'demo may be granted ev1:write');
  const { client } = await connect(adminTok);
  const names = (await listAll((p) => client.listTools(p, CALL), 'tools')).items.map((x) => x.name);
  assert.ok(names.includes('ev1_get-env'), 'listed with ev1:write');
  assert.deepEqual(names.filter((n) => n.startsWith('ev2_')), [], 'this token has no ev2');
  const env = JSON.parse(text(await client.callTool({ name: 'ev1_get-env', arguments: {} }, undefined, CALL)));
  assert.equal(env.PORT, String(ev1.port));
});

test('gateway_whoami names the subject, the client, the scopes and the backends (text and structuredContent)', T, async () => {
  const { client } = await connect(demoTok);
  const r = await client.callTool({ name: 'gateway_whoami', arguments: {} }, undefined, CALL);
  const who = JSON.parse(text(r));
  assert.equal(who.subject, 'demo');
  assert.equal(who.client_id, demoTok.client_id);
  assert.deepEqual([...who.scopes].sort(), ['ev2', 'mcp']);
  const backends = Object.fromEntries(who.backends.map((b) => [b.name, b]));
  assert.equal(backends.everything1?.prefix, 'ev1_', JSON.stringify(who.backends));
  assert.equal(backends.everything2?.prefix, 'ev2_', JSON.stringify(who.backends));
  assert.ok(backends.everything1.health, 'a health word');
  assert.deepEqual(r.structuredContent, who, 'the same as structuredContent');

  const { client: c2 } = await connect(demo2Tok);
  const who2 = JSON.parse(text(await c2.callTool({ name: 'gateway_whoami', arguments: {} }, undefined, CALL)));
  assert.equal(who2.subject, 'demo2');
  assert.deepEqual(who2.scopes, ['mcp']);
});

test('sessions: DELETE ends one (204, then 404); an unknown id is 404, none is 400, another user\'s is 404', T, async () => {
  const { client, transport } = await connect(demoTok);
  const session = transport.sessionId;
  const version = transport.protocolVersion ?? '2025-11-25';
  assert.equal((await post({ jsonrpc: '2.0', id: 1, method: 'ping' }, { token: demoTok, session, version })).status, 200);
  // demo2 cannot use demo's session.
  const other = await post({ jsonrpc: '2.0', id: 2, method: 'ping' }, { token: demo2Tok, session, version });
  assert.equal(other.status, 404, `${other.status} ${other.text}`);
  assert.equal(other.json?.error?.code, -32001, other.text);

  const log = [];
  const del = await fetch(gw.mcpUrl, { method: 'DELETE', headers: { Authorization: `Bearer ${demoTok.access_token}`,
    'Mcp-Session-Id': session, 'MCP-Protocol-Version': version }, signal: AbortSignal.timeout(15_000) });
  log.push(del.status);
  assert.equal(del.status, 204, await del.text());
  const after = await post({ jsonrpc: '2.0', id: 3, method: 'tools/list' }, { token: demoTok, session, version });
  assert.equal(after.status, 404, `${after.status} ${after.text}`);
  assert.equal(after.json?.error?.code, -32001, after.text);
  assert.equal(after.json?.error?.message, 'Session not found');
  await assert.rejects(client.listTools(undefined, CALL), (e) => e.code === 404 || /Session not found/.test(e.message));

  const unknown = await post({ jsonrpc: '2.0', id: 4, method: 'ping' },
    { token: demoTok, session: 'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA', version });
  assert.equal(unknown.status, 404, `${unknown.status} ${unknown.text}`);
  assert.equal(unknown.json?.error?.code, -32001, unknown.text);

  const none = await post({ jsonrpc: '2.0', id: 5, method: 'tools/list' }, { token: demoTok, version });
  assert.equal(none.status, 400, `${none.status} ${none.text}`);
  assert.equal(none.json?.error?.code, -32000, none.text);
  assert.match(none.json?.error?.message ?? '', /Mcp-Session-Id header is required/);
});

test('the SDK\'s terminateSession() (DELETE) ends the session for the gateway', T, async () => {
  const { client, transport } = await connect(demoTok);
  const session = transport.sessionId;
  const version = transport.protocolVersion ?? '2025-11-25';
  await within(transport.terminateSession(), 15_000);
  assert.equal(transport.sessionId, undefined, 'the SDK dropped it after a 2xx');
  const r = await post({ jsonrpc: '2.0', id: 1, method: 'ping' }, { token: demoTok, session, version });
  assert.equal(r.status, 404, `${r.status} ${r.text}`);
  await client.close();
});

test('paging: an upstream that pages (9 tools in pages of 3, 23 resources in pages of 5) is paged through with the gateway\'s cursors', T, async (t) => {
  const { client } = await connect(gw2Tok, { url: gw2.mcpUrl });
  const before = { ...paged.requests };
  const cursors = [];
  const tools = await listAll(async (p) => {
    const r = await client.listTools(p, CALL);
    if (r.nextCursor) cursors.push(r.nextCursor);
    return r;
  }, 'tools');
  const names = tools.items.map((x) => x.name);
  assert.equal(new Set(names).size, names.length, 'no tool twice');
  assert.deepEqual([...names].sort(),
    ['gateway_whoami', ...prefixed('ev1_', direct.tools), ...prefixed('pg_', paged.tools)].sort());
  assert.ok((paged.requests['tools/list'] ?? 0) - (before['tools/list'] ?? 0) >= 3,
    `every page of the upstream was asked for: ${JSON.stringify(paged.requests)}`);
  const resources = await listAll(async (p) => {
    const r = await client.listResources(p, CALL);
    if (r.nextCursor) cursors.push(r.nextCursor);
    return r;
  }, 'resources');
  const uris = resources.items.map((r) => r.uri);
  assert.equal(new Set(uris).size, uris.length, 'no resource twice');
  assert.deepEqual([...uris].sort(),
    [...prefixed('ev1-', direct.resources), ...prefixed('pg-', paged.resources)].sort());
  t.diagnostic(`the gateway answered tools/list in ${tools.pages} page(s), resources/list in ${resources.pages}`);
  for (const c of cursors) {
    assert.doesNotMatch(c, /^\d+$/, 'a gateway cursor, not the upstream\'s');
  }
  // A cursor belongs to the session it was handed to: another session of
  // the same user gets -32602, its own session still pages with it.
  assert.ok(cursors.length, 'the gateway handed out cursors');
  const mine = await rawSession(gw2Tok, { url: gw2.mcpUrl });
  const own = await post({ jsonrpc: '2.0', id: 4, method: 'tools/list', params: {} },
    { token: gw2Tok, session: mine.session, version: mine.version, url: gw2.mcpUrl });
  const next = own.json?.result?.nextCursor;
  assert.ok(next, `a first page with a cursor: ${own.text.slice(0, 300)}`);
  const other = await rawSession(gw2Tok, { url: gw2.mcpUrl });
  const foreign = await post({ jsonrpc: '2.0', id: 5, method: 'tools/list', params: { cursor: next } },
    { token: gw2Tok, session: other.session, version: other.version, url: gw2.mcpUrl });
  assert.equal(foreign.status, 200, foreign.text);
  assert.equal(foreign.json?.error?.code, -32602, `another session's cursor: ${foreign.text}`);
  assert.match(foreign.json.error.message, /another session/);
  const again = await post({ jsonrpc: '2.0', id: 6, method: 'tools/list', params: { cursor: next } },
    { token: gw2Tok, session: mine.session, version: mine.version, url: gw2.mcpUrl });
  assert.ok(Array.isArray(again.json?.result?.tools), `its own session pages on: ${again.text.slice(0, 300)}`);
  const read = await client.readResource({ uri: 'pg-paged://item/17' }, CALL);
  assert.equal(read.contents[0].text, 'content of paged://item/17', 'the prefix is removed on the way up');
  assert.equal(read.contents[0].uri, 'pg-paged://item/17', 'and put back on the way down');
});

test('a backend nothing listens for is left out: initialize and the lists work with the others', T, async (t) => {
  const { client } = await connect(gw2Tok, { url: gw2.mcpUrl });
  assert.equal(client.getServerVersion().name, 'mod_mcp');
  const names = (await listAll((p) => client.listTools(p, CALL), 'tools')).items.map((x) => x.name);
  assert.deepEqual(names.filter((n) => n.startsWith('dead_')), []);
  assert.ok(names.includes('ev1_echo') && names.includes('pg_page-tool-1'), names.join(', '));
  const who = JSON.parse(text(await client.callTool({ name: 'gateway_whoami', arguments: {} }, undefined, CALL)));
  t.diagnostic(`whoami backends: ${JSON.stringify(who.backends)}`);
  assert.deepEqual(who.backends.map((b) => b.name).sort(), ['dead', 'everything1', 'paged']);
  // The health checks (MCPProxyHealthCheck 5 on this gateway) find it down.
  const health = await waitFor('the health check to find dead down', async () => {
    const w = JSON.parse(text(await client.callTool({ name: 'gateway_whoami', arguments: {} }, undefined, CALL)));
    const h = Object.fromEntries(w.backends.map((b) => [b.name, b.health]));
    return /^down/.test(h.dead) && h.everything1 === 'up' && h.paged === 'up' ? h : null;
  }, 15_000, 500);
  t.diagnostic(`health: ${JSON.stringify(health)}`);
  // Found down: a new session does not wait for it (timeout=3).
  const t0 = Date.now();
  const { client: c2 } = await connect(gw2Tok, { url: gw2.mcpUrl });
  assert.ok(Date.now() - t0 < 2500, `initialize took ${Date.now() - t0} ms`);
  const names2 = (await listAll((p) => c2.listTools(p, CALL), 'tools')).items.map((x) => x.name);
  assert.ok(names2.includes('ev1_echo') && !names2.some((n) => n.startsWith('dead_')), names2.join(', '));
});

test('what reaches an upstream: its bearer_file token and the identity header, never the client\'s Authorization or cookies', T, async () => {
  const { session, version } = await rawSession(gw2Tok, { url: gw2.mcpUrl });
  const from = paged.messages.length;
  const r = await post({ jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'pg_page-tool-3', arguments: { message: 'headers' } } },
    { token: gw2Tok, session, version, url: gw2.mcpUrl, extra: { Cookie: 'e2e-cookie=client-secret' } });
  assert.equal(r.json?.result?.content?.[0]?.text, 'page-tool-3 got headers', r.text);
  const got = paged.messages.slice(from).find((m) => m.method === 'tools/call');
  assert.ok(got, 'the call reached the upstream');
  assert.equal(got.headers.authorization, `Bearer ${BACKEND_TOKEN}`);
  assert.equal(got.headers.cookie, undefined, 'no cookie');
  assert.equal(got.headers[IDENTITY_HEADER.toLowerCase()], 'demo');
  assert.ok(!JSON.stringify(got.headers).includes(gw2Tok.access_token), 'the client\'s token is nowhere in the headers');
  // The client's roots/list_changed goes to every backend session.
  const { client } = await connect(gw2Tok, { url: gw2.mcpUrl, capabilities: { ...CAPABILITIES, roots: { listChanged: true } },
    roots: async () => ({ roots: [] }) });
  const before = paged.requests['notifications/roots/list_changed'] ?? 0;
  await client.sendRootsListChanged();
  await waitFor('notifications/roots/list_changed at the upstream',
    () => (paged.requests['notifications/roots/list_changed'] ?? 0) > before, 5000);
});

test('the access log knows each request: MCP_METHOD, MCP_TOOL, MCP_BACKEND, MCP_SESSION, MCP_STATUS', T, async () => {
  const { session, version } = await rawSession(gw2Tok, { url: gw2.mcpUrl });
  const opts = { token: gw2Tok, session, version, url: gw2.mcpUrl };
  const ok = await post({ jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'pg_page-tool-4', arguments: { message: 'log' } } }, opts);
  assert.equal(ok.json?.result?.content?.[0]?.text, 'page-tool-4 got log', ok.text);
  const bad = await post({ jsonrpc: '2.0', id: 3, method: 'tools/call', params: { name: 'nobody_x', arguments: {} } }, opts);
  assert.equal(bad.json?.error?.code, -32602, bad.text);
  // An answer relayed as events (server-everything answers in SSE).
  const sse = await post({ jsonrpc: '2.0', id: 4, method: 'tools/call', params: { name: 'ev1_echo', arguments: { message: 'log' } } }, opts);
  assert.match(sse.headers.get('content-type') ?? '', /^text\/event-stream/);
  assert.equal(sse.json?.result?.content?.[0]?.text, 'Echo: log', sse.text);
  // MCP_SESSION names the session without being its id (a bearer of
  // sorts): the beginning of its SHA-256, base64url.
  const tag = createHash('sha256').update(session).digest('base64url').slice(0, 16);
  const logged = (l) => l.split('|')[3] ?? '';
  const lines = () => readFileSync(path.join(gw2.dir, 'logs/fed_log'), 'utf8').split('\n')
    .filter((l) => logged(l) === tag);
  const found = await waitFor('the three calls in the log', () => {
    const l = lines();
    const a = l.find((x) => /^tools\/call\|(pg_)?page-tool-4\|/.test(x));
    const b = l.find((x) => /^tools\/call\|(nobody_)?x\|/.test(x));
    const c = l.find((x) => /^tools\/call\|(ev1_)?echo\|/.test(x));
    return a && b && c ? { a, b, c } : null;
  }, 5000).catch((e) => {
    const log = readFileSync(path.join(gw2.dir, 'logs/fed_log'), 'utf8').trim().split('\n').slice(-8).join('\n');
    throw new Error(`${e.message}; session ${session}; the log ends with:\n${log}`);
  });
  assert.match(found.a, /^tools\/call\|(pg_)?page-tool-4\|paged\|[^|]+\|ok\|200$/, found.a);
  assert.match(found.b, /^tools\/call\|(nobody_)?x\|[^|]*\|[^|]+\|-32602\|200$/, found.b);
  assert.match(found.c, /^tools\/call\|(ev1_)?echo\|everything1\|[^|]+\|ok\|200$/, found.c);
});

test('cancellation reaches the upstream: notifications/cancelled names the id the upstream saw for the call', T, async () => {
  const { client } = await connect(gw2Tok, { url: gw2.mcpUrl });
  const ac = new AbortController();
  const call = client.callTool({ name: 'pg_slow', arguments: { ms: 20_000 } }, undefined, { timeout: 60_000, signal: ac.signal });
  call.catch(() => {});
  const seen = await waitFor('the call at the upstream',
    () => paged.messages.find((m) => m.method === 'tools/call' && m.params?.name === 'slow'), 10_000);
  ac.abort(new Error('e2e cancel'));
  const outcome = await within(call.then((r) => ({ resolved: r }), (e) => ({ rejected: e })), 5000);
  assert.ok(outcome?.rejected, `the call rejected: ${JSON.stringify(outcome)}`);
  const cancel = await waitFor('notifications/cancelled at the upstream',
    () => paged.messages.find((m) => m.method === 'notifications/cancelled'), 5000);
  assert.deepEqual(cancel.params?.requestId, seen.id, `the upstream's id of the call: ${JSON.stringify(cancel)}`);
  assert.equal(text(await client.callTool({ name: 'pg_page-tool-1', arguments: { message: 'after' } }, undefined, CALL)),
    'page-tool-1 got after');
});

test('a routed call to a backend that went away: HTTP 200, -32603 "Backend paged failed: ...", reason unreachable, within its timeout', T, async () => {
  const { session, version } = await rawSession(gw2Tok, { url: gw2.mcpUrl });
  const call = (id) => ({ jsonrpc: '2.0', id, method: 'tools/call', params: { name: 'pg_page-tool-2', arguments: { message: 'hi' } } });
  const ok = await post(call(2), { token: gw2Tok, session, version, url: gw2.mcpUrl });
  assert.equal(ok.status, 200, ok.text);
  assert.deepEqual(ok.json?.result?.content, [{ type: 'text', text: 'page-tool-2 got hi' }], ok.text);
  assert.match(ok.headers.get('content-type') ?? '', /^application\/json/, 'a JSON answer from the upstream stays JSON');
  await paged.stop();
  const t0 = Date.now();
  const r = await post(call(3), { token: gw2Tok, session, version, url: gw2.mcpUrl });
  assert.ok(Date.now() - t0 < 6500, `answered in ${Date.now() - t0} ms (timeout=5)`);
  assert.equal(r.status, 200, `${r.status} ${r.text}`);
  assert.equal(r.json?.error?.code, -32603, r.text);
  assert.match(r.json.error.message, /^Backend paged failed: /);
  assert.deepEqual(r.json.error.data, { backend: 'paged', reason: 'unreachable' });
  // The session goes on with the others.
  const echo = await post({ jsonrpc: '2.0', id: 4, method: 'tools/call', params: { name: 'ev1_echo', arguments: { message: 'still here' } } },
    { token: gw2Tok, session, version, url: gw2.mcpUrl });
  assert.equal(echo.json?.result?.content?.[0]?.text, 'Echo: still here', echo.text);
});

test('GET is 405 when no backend has a GET stream (a stateless upstream only); the SDK client works without one', T, async () => {
  const only = await startPagingUpstream({ tools: 2 });
  const g = await startGateway({ location: `MCPProxyBackend only ${only.url} prefix=only_`, config: 'MCPProxyHealthCheck Off' });
  try {
    const tok = await issueToken(g, { user: 'demo', scope: 'mcp' });
    const { session, version } = await rawSession(tok, { url: g.mcpUrl });
    const stream = await openStream(tok, session, version, { url: g.mcpUrl });
    await stream.close();
    assert.equal(stream.status, 405);
    const { client, log } = await connect(tok, { url: g.mcpUrl });
    assert.equal(text(await client.callTool({ name: 'only_page-tool-2', arguments: { message: 'no GET' } }, undefined, CALL)),
      'page-tool-2 got no GET');
    await waitFor('the SDK\'s GET', () => log.some((l) => l.startsWith('GET')), 5000);
    assert.ok(log.includes('GET 405'), log.join(', '));
    await client.close();
  } finally {
    await g.stop();
    await only.stop();
  }
});

test('an upstream that forgot the session (404, as after a restart): the gateway initializes it again and retries the call once', T, async () => {
  const solo = await startSessionUpstream();
  // No health checks: they would initialize sessions of their own.
  const g = await startGateway({ location: `MCPProxyBackend solo ${solo.url} prefix=solo_`, config: 'MCPProxyHealthCheck Off' });
  try {
    const tok = await issueToken(g, { user: 'demo', scope: 'mcp' });
    const { client } = await connect(tok, { url: g.mcpUrl });
    assert.equal(text(await client.callTool({ name: 'solo_echo', arguments: { message: 'one' } }, undefined, CALL)), 'Echo: one');
    const before = solo.initializes;
    await solo.forget();
    const again = await client.callTool({ name: 'solo_echo', arguments: { message: 'two' } }, undefined, CALL);
    assert.equal(text(again), 'Echo: two', JSON.stringify(again));
    assert.equal(solo.initializes, before + 1, 'one new upstream session');
    assert.equal(text(await client.callTool({ name: 'solo_echo', arguments: { message: 'three' } }, undefined, CALL)), 'Echo: three');
    assert.equal(solo.initializes, before + 1, 'and it is kept');
  } finally {
    await g.stop();
    await solo.stop();
  }
});

test('stopping httpd while a client holds its GET stream: the children end on SIGTERM, without the parent\'s SIGKILL', T, async () => {
  const g = await startGateway({ location: `MCPProxyBackend everything1 ${ev1.url} prefix=ev1_` });
  let stopped = false;
  try {
    const tok = await issueToken(g, { user: 'demo', scope: 'mcp' });
    const { client, log } = await connect(tok, { url: g.mcpUrl });
    await waitFor('the client\'s GET stream', () => log.includes('GET 200'), 10_000);
    assert.equal(text(await client.callTool({ name: 'ev1_echo', arguments: { message: 'before stop' } }, undefined, CALL)),
      'Echo: before stop');
    const t0 = Date.now();
    const left = await g.stop({ keep: true });
    stopped = true;
    const ms = Date.now() - t0;
    const killed = g.errorLog().split('\n').filter((l) => /AH0004[56]/.test(l));
    assert.deepEqual(left, []);
    assert.deepEqual(killed, [], `httpd had to signal its children again (stop took ${ms} ms)`);
    assert.ok(ms < 5000, `stopped in ${ms} ms`);
  } finally {
    if (!stopped) await g.stop({ keep: true });
    rmSync(g.dir, { recursive: true, force: true });
  }
});

test('stopping the gateways and the upstreams leaves no process behind', async (t) => {
  let t0 = Date.now();
  for (const c of clients.splice(0)) {
    await within(c.close().catch(() => {}), 5000);
  }
  t.diagnostic(`clients closed in ${Date.now() - t0} ms`);
  for (const g of [gw, gw2]) {
    const { dir } = g;
    t0 = Date.now();
    const left = await g.stop({ keep: true });
    const ms = Date.now() - t0;
    t.diagnostic(`gateway on port ${g.port} stopped in ${ms} ms`);
    if (ms > 3000) {
      t.diagnostic(`its error log ends with:\n${g.errorLog().split('\n').filter((l) => !/mcp_authz:debug/.test(l)).slice(-12).join('\n')}`);
    }
    rmSync(dir, { recursive: true, force: true });
    assert.deepEqual(left, []);
    assert.deepEqual(await leftAfterStop({ dir }), []);
  }
  gw = gw2 = null;
  t0 = Date.now();
  await ev1.stop();
  await ev2.stop();
  t.diagnostic(`upstreams stopped in ${Date.now() - t0} ms`);
  for (const tag of [TAG1, TAG2]) {
    assert.deepEqual(await leftAfterStop({ tag }), []);
  }
  ev1 = ev2 = null;
});
