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

// Upstream MCP servers for the federation tests: the reference server
// @modelcontextprotocol/server-everything over Streamable HTTP, started
// the way scripts/demo starts it (a minimal environment, PORT, and
// scripts/lib/bind-local.cjs so that it listens on 127.0.0.1 only), in a
// process group of its own.
//
//   const up = await startEverything({ tag: `${dir}/ev1` });
//   ... up.url (http://127.0.0.1:<port>/mcp), up.output() ...
//   await up.stop();

import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { NODE, SRC, freePort, portOpen, spawnTagged, waitFor } from './proc.mjs';

export const EVERYTHING = path.join(SRC, 'node_modules/@modelcontextprotocol/server-everything/dist/index.js');
export const EVERYTHING_VERSION = JSON.parse(readFileSync(
  path.join(SRC, 'node_modules/@modelcontextprotocol/server-everything/package.json'), 'utf8')).version;
const BIND_LOCAL = path.join(SRC, 'scripts/lib/bind-local.cjs');
const START_TIMEOUT_MS = 30_000;

// Start one server-everything on a free port of 127.0.0.1 (or on @port,
// e.g. to restart one); @tag marks its processes (see proc.mjs). Returns
// { port, url, output(), stop() }.
export async function startEverything({ tag, port: wanted } = {}) {
  for (let attempt = 0; ; attempt++) {
    const port = wanted ?? await freePort();
    const home = mkdtempSync(path.join(tmpdir(), 'mcp-e2e-up-'));
    const proc = spawnTagged(NODE, ['-r', BIND_LOCAL, EVERYTHING, 'streamableHttp'], {
      tag: tag ?? `mcp-e2e-everything-${port}`,
      env: { PATH: '/usr/bin:/bin', HOME: home, PORT: String(port) },
    });
    let stdout = '';
    proc.child.stdout.on('data', (d) => { stdout += d; });
    const output = () => `${stdout}${proc.stderr()}`;
    const stop = async () => {
      await proc.stop();
      rmSync(home, { recursive: true, force: true });
    };
    try {
      await waitFor(`server-everything on 127.0.0.1:${port}`, async () => {
        if (proc.child.exitCode !== null) {
          throw new Error(`server-everything exited (${proc.child.exitCode}): ${output()}`);
        }
        return /listening on port/.test(output()) && portOpen(port);
      }, START_TIMEOUT_MS);
    } catch (e) {
      await stop();
      if (/already in use/.test(output()) && attempt < 3 && !wanted) {
        continue;
      }
      throw e;
    }
    return { port, url: `http://127.0.0.1:${port}/mcp`, output, stop, child: proc.child };
  }
}

// A small upstream of the test process itself that pages its lists (the
// reference server answers every list in one page): @tools tools
// "page-tool-<n>" (each answers "page-tool-<n> got <message>") in pages of
// @toolPage, @resources resources "paged://item/<n>" in pages of
// @resourcePage; stateless Streamable HTTP with JSON answers (no session,
// no GET stream: GET and DELETE are 405). One more tool, "slow", answers
// after `ms` milliseconds (default 10000). Returns { port, url, requests,
// messages, tools, resources, stop() }: `requests` counts the POSTed
// JSON-RPC messages by method, `messages` keeps them (method, id, params,
// and the request's headers).
export async function startPagingUpstream({ tools = 8, toolPage = 3, resources = 23, resourcePage = 5 } = {}) {
  const http = await import('node:http');
  const { Server } = await import('@modelcontextprotocol/sdk/server/index.js');
  const { StreamableHTTPServerTransport } = await import('@modelcontextprotocol/sdk/server/streamableHttp.js');
  const {
    CallToolRequestSchema, ListResourcesRequestSchema, ListToolsRequestSchema, ReadResourceRequestSchema,
  } = await import('@modelcontextprotocol/sdk/types.js');
  const allTools = Array.from({ length: tools }, (_, i) => ({
    name: `page-tool-${i + 1}`,
    description: `Paged tool ${i + 1}`,
    inputSchema: { type: 'object', properties: { message: { type: 'string' } } },
  }));
  allTools.push({ name: 'slow', description: 'Answers after ms milliseconds',
    inputSchema: { type: 'object', properties: { ms: { type: 'number' } } } });
  const allResources = Array.from({ length: resources }, (_, i) => ({
    uri: `paged://item/${i + 1}`, name: `item ${i + 1}`, mimeType: 'text/plain',
  }));
  const page = (all, size, cursor) => {
    const from = cursor === undefined ? 0 : Number(cursor);
    if (!Number.isInteger(from) || from < 0 || from >= all.length) {
      throw Object.assign(new Error(`bad cursor ${cursor}`), { code: -32602 });
    }
    const next = from + size < all.length ? String(from + size) : undefined;
    return { items: all.slice(from, from + size), ...(next ? { nextCursor: next } : {}) };
  };
  const requests = {};
  const messages = [];
  const timers = new Set();
  const newServer = () => {
    const s = new Server({ name: 'e2e-paging-upstream', version: '1.0.0' },
      { capabilities: { tools: {}, resources: {} } });
    s.setRequestHandler(ListToolsRequestSchema, async (r) => {
      const { items, nextCursor } = page(allTools, toolPage, r.params?.cursor);
      return { tools: items, ...(nextCursor ? { nextCursor } : {}) };
    });
    s.setRequestHandler(ListResourcesRequestSchema, async (r) => {
      const { items, nextCursor } = page(allResources, resourcePage, r.params?.cursor);
      return { resources: items, ...(nextCursor ? { nextCursor } : {}) };
    });
    s.setRequestHandler(ReadResourceRequestSchema, async (r) => ({
      contents: [{ uri: r.params.uri, mimeType: 'text/plain', text: `content of ${r.params.uri}` }],
    }));
    s.setRequestHandler(CallToolRequestSchema, async (r) => {
      if (r.params.name === 'slow') {
        await new Promise((resolve) => { timers.add(setTimeout(resolve, r.params.arguments?.ms ?? 10_000)); });
        return { content: [{ type: 'text', text: 'slow done' }] };
      }
      return { content: [{ type: 'text', text: `${r.params.name} got ${r.params.arguments?.message ?? ''}` }] };
    });
    return s;
  };
  const server = http.createServer(async (req, res) => {
    if (req.method !== 'POST') {
      res.writeHead(405, { Allow: 'POST', 'Content-Type': 'application/json' })
        .end(JSON.stringify({ jsonrpc: '2.0', error: { code: -32000, message: 'Method not allowed.' }, id: null }));
      return;
    }
    let body = '';
    for await (const chunk of req) body += chunk;
    let parsed;
    try {
      parsed = JSON.parse(body);
    } catch {
      res.writeHead(400).end();
      return;
    }
    for (const m of [parsed].flat()) {
      if (m?.method) {
        requests[m.method] = (requests[m.method] ?? 0) + 1;
        messages.push({ method: m.method, id: m.id, params: m.params, headers: { ...req.headers } });
      }
    }
    const s = newServer();
    const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
    res.on('close', () => { transport.close(); s.close(); });
    await s.connect(transport);
    await transport.handleRequest(req, res, parsed);
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address();
  return {
    port,
    url: `http://127.0.0.1:${port}/mcp`,
    requests,
    messages,
    tools: allTools.map((t) => t.name),
    resources: allResources.map((r) => r.uri),
    async stop() {
      for (const t of timers) clearTimeout(t);
      server.closeAllConnections?.();
      await new Promise((r) => server.close(r));
    },
  };
}

// A stateful upstream of the test process with sessions as the MCP spec
// has them (an unknown Mcp-Session-Id is 404), one tool "echo", and
// forget(): it drops every session, as an upstream that restarted.
// Returns { port, url, initializes (a count), forget(), stop() }.
export async function startSessionUpstream() {
  const http = await import('node:http');
  const { randomUUID } = await import('node:crypto');
  const { Server } = await import('@modelcontextprotocol/sdk/server/index.js');
  const { StreamableHTTPServerTransport } = await import('@modelcontextprotocol/sdk/server/streamableHttp.js');
  const { CallToolRequestSchema, ListToolsRequestSchema } = await import('@modelcontextprotocol/sdk/types.js');
  const sessions = new Map();
  const state = { initializes: 0 };
  const newServer = () => {
    const s = new Server({ name: 'e2e-session-upstream', version: '1.0.0' }, { capabilities: { tools: {} } });
    s.setRequestHandler(ListToolsRequestSchema, async () => ({ tools: [{ name: 'echo',
      inputSchema: { type: 'object', properties: { message: { type: 'string' } } } }] }));
    s.setRequestHandler(CallToolRequestSchema, async (r) => ({
      content: [{ type: 'text', text: `Echo: ${r.params.arguments?.message ?? ''}` }] }));
    return s;
  };
  const server = http.createServer(async (req, res) => {
    const sid = req.headers['mcp-session-id'];
    let body;
    if (req.method === 'POST') {
      let raw = '';
      for await (const chunk of req) raw += chunk;
      try {
        body = JSON.parse(raw);
      } catch {
        res.writeHead(400).end();
        return;
      }
    }
    if (sid) {
      const t = sessions.get(sid);
      if (!t) {
        res.writeHead(404, { 'Content-Type': 'application/json' })
          .end(JSON.stringify({ jsonrpc: '2.0', error: { code: -32001, message: 'Session not found' }, id: null }));
        return;
      }
      await t.handleRequest(req, res, body);
      return;
    }
    if (req.method !== 'POST' || body?.method !== 'initialize') {
      res.writeHead(400, { 'Content-Type': 'application/json' })
        .end(JSON.stringify({ jsonrpc: '2.0', error: { code: -32000, message: 'Bad Request: Mcp-Session-Id header is required' }, id: null }));
      return;
    }
    state.initializes++;
    const s = newServer();
    const t = new StreamableHTTPServerTransport({ sessionIdGenerator: () => randomUUID(), enableJsonResponse: true,
      onsessioninitialized: (id) => { sessions.set(id, t); } });
    await s.connect(t);
    await t.handleRequest(req, res, body);
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address();
  return {
    port,
    url: `http://127.0.0.1:${port}/mcp`,
    get initializes() { return state.initializes; },
    async forget() {
      const all = [...sessions.values()];
      sessions.clear();
      for (const t of all) await t.close().catch(() => {});
    },
    async stop() {
      await this.forget();
      server.closeAllConnections?.();
      await new Promise((r) => server.close(r));
    },
  };
}
