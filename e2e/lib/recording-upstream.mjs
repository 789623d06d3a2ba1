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

// A small Streamable HTTP MCP server on 127.0.0.1 that records what the
// gateway sends it (every request's method, headers and JSON-RPC body), for
// the tests of what reaches a backend and what does not. It speaks just
// enough MCP: initialize (a session id per session), tools/list (one tool,
// "hello"), tools/call of hello, notifications (202), DELETE, and a GET
// stream on which the test can push messages (push()). forget() makes it
// forget every session, as a restarted backend would: the next request
// with an old session id gets 404.
//
//   const up = await startRecordingUpstream();
//   ... up.url, up.requests, up.push(msg), up.forget(), up.getStreams ...
//   await up.stop();

import http from 'node:http';
import { randomUUID } from 'node:crypto';

export async function startRecordingUpstream({ name = 'recorder' } = {}) {
  const requests = [];
  const sessions = new Set();
  const streams = new Set();
  const sockets = new Set();
  let initialized = 0;

  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d) => { body += d; });
    req.on('end', () => {
      let msg = null;
      try { msg = body ? JSON.parse(body) : null; } catch { msg = null; }
      requests.push({ method: req.method, headers: { ...req.headers }, msg });
      const sid = req.headers['mcp-session-id'];
      if (req.method === 'POST' && msg?.method === 'initialize') {
        const id = randomUUID();
        sessions.add(id);
        initialized++;
        res.writeHead(200, { 'Content-Type': 'application/json', 'Mcp-Session-Id': id });
        res.end(JSON.stringify({ jsonrpc: '2.0', id: msg.id, result: {
          protocolVersion: msg.params?.protocolVersion ?? '2025-11-25',
          capabilities: { tools: { listChanged: true } },
          serverInfo: { name, version: '1.0.0' },
        } }));
        return;
      }
      if (!sid || !sessions.has(sid)) {
        res.writeHead(sid ? 404 : 400, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify({ jsonrpc: '2.0', id: null,
          error: { code: sid ? -32001 : -32000, message: sid ? 'Session not found' : 'No session' } }));
        return;
      }
      if (req.method === 'DELETE') {
        sessions.delete(sid);
        res.writeHead(200).end();
        return;
      }
      if (req.method === 'GET') {
        res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache' });
        res.flushHeaders();
        const s = { res, sid, lastEventId: req.headers['last-event-id'] ?? null };
        streams.add(s);
        res.on('close', () => streams.delete(s));
        return;
      }
      if (!msg || msg.id === undefined || !msg.method) {
        res.writeHead(202).end();
        return;
      }
      let result;
      if (msg.method === 'tools/list') {
        result = { tools: [{ name: 'hello', description: 'Says hello',
          inputSchema: { type: 'object', properties: {} } }] };
      } else if (msg.method === 'tools/call' && msg.params?.name === 'hello') {
        result = { content: [{ type: 'text', text: `hello from ${name}` }] };
      } else {
        res.writeHead(200, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify({ jsonrpc: '2.0', id: msg.id,
          error: { code: -32601, message: `Method not found: ${msg.method}` } }));
        return;
      }
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ jsonrpc: '2.0', id: msg.id, result }));
    });
  });
  server.on('connection', (s) => { sockets.add(s); s.on('close', () => sockets.delete(s)); });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  let seq = 0;
  return {
    url: `http://127.0.0.1:${port}/mcp`,
    requests,
    get initialized() { return initialized; },
    get getStreams() { return [...streams]; },
    get openSockets() { return sockets.size; },
    push(msg) {
      for (const s of streams) {
        s.res.write(`id: ${name}-${++seq}\ndata: ${JSON.stringify(msg)}\n\n`);
      }
      return streams.size;
    },
    forget() { sessions.clear(); },
    async stop() {
      for (const s of streams) s.res.destroy();
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
