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

// Faulty MCP backends for e2e/proxy-faults.test.mjs: node:http servers on
// 127.0.0.1 that answer initialize correctly (JSON, an Mcp-Session-Id)
// and then misbehave on tools/list and tools/call according to their
// mode:
//
//   hang      accepts the request, reads it, never answers
//   non-json  200 application/json whose body is not JSON
//   huge      200 application/json, a valid JSON-RPC result of ~20 MB
//   sse-cut   200 text/event-stream, cut (socket destroyed) mid-event
//   http-401  401 with a Bearer challenge
//   sse-cut-late  200 text/event-stream: one whole progress notification,
//             then 300 ms later half an event and the socket destroyed
//             (the gateway has begun relaying the stream by then)
//   sse-stall 200 text/event-stream: one progress notification, then
//             silence with the connection open (the SSE idle timeout)
//   hang-init never answers initialize either (nor anything after it)
//   slow-sse  tools/list answers normally (one tool, "slow"); tools/call
//             answers text/event-stream with a progress notification
//             every 250 ms and no result for a minute (for a client that
//             goes away mid-stream)
//
// Every answer that is not a fault carries Connection: close, so that an
// open connection is always one a fault left open: openConnections()
// must come back to 0 once the gateway has given up on (or relayed the
// end of) each faulty answer. For a backend that is down, downUrl()
// gives a URL on a port nothing listens on.

import http from 'node:http';
import { freePort } from './proc.mjs';

export const MODES = ['hang', 'non-json', 'huge', 'sse-cut', 'http-401', 'sse-cut-late', 'sse-stall', 'hang-init', 'slow-sse'];
export const HUGE_BYTES = 20 * 1024 * 1024;

function readBody(req) {
  return new Promise((resolve) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (d) => { body += d; });
    req.on('end', () => resolve(body));
    req.on('error', () => resolve(body));
    req.on('close', () => resolve(body));
  });
}

function json(res, status, obj, headers = {}) {
  const body = JSON.stringify(obj);
  res.writeHead(status, {
    'Content-Type': 'application/json',
    'Content-Length': Buffer.byteLength(body),
    Connection: 'close',
    ...headers,
  });
  res.end(body);
}

// Write @total bytes of a JSON-RPC result for @id, in chunks, minding
// backpressure; stops quietly when the reader goes away.
function writeHuge(res, id, total) {
  const head = `{"jsonrpc":"2.0","id":${JSON.stringify(id)},"result":{"tools":[],"content":[{"type":"text","text":"`;
  const tail = '"}]}}';
  const fill = total - head.length - tail.length;
  res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': total, Connection: 'close' });
  res.write(head);
  const chunk = 'x'.repeat(64 * 1024);
  let left = fill;
  const pump = () => {
    while (left > 0 && !res.destroyed) {
      const n = Math.min(left, chunk.length);
      left -= n;
      if (!res.write(n === chunk.length ? chunk : chunk.slice(0, n))) {
        res.once('drain', pump);
        return;
      }
    }
    if (!res.destroyed) {
      res.end(tail);
    }
  };
  pump();
}

// Start a faulty backend in @mode. Returns { mode, port, url, stats,
// openConnections(), requests, stop() }.
export async function startFaulty(mode, { slowMs = 60_000 } = {}) {
  if (!MODES.includes(mode)) {
    throw new Error(`unknown mode ${mode}`);
  }
  const sockets = new Set();
  const requests = [];   // { method, rpc, at, closedAt }
  const timers = new Set();
  const stats = { connections: 0, faults: 0, closedFaults: 0 };
  let session = 0;

  const server = http.createServer(async (req, res) => {
    const entry = { method: req.method, rpc: null, at: Date.now(), closedAt: null };
    requests.push(entry);
    res.on('close', () => { entry.closedAt = Date.now(); });
    if (req.method === 'GET') {
      // No server-to-client stream.
      res.writeHead(405, { Allow: 'POST, DELETE', Connection: 'close' });
      res.end();
      return;
    }
    if (req.method === 'DELETE') {
      res.writeHead(204, { Connection: 'close' });
      res.end();
      return;
    }
    if (req.method !== 'POST') {
      res.writeHead(405, { Connection: 'close' });
      res.end();
      return;
    }
    const raw = await readBody(req);
    let msg;
    try {
      msg = JSON.parse(raw);
    } catch {
      json(res, 400, { jsonrpc: '2.0', id: null, error: { code: -32700, message: 'Parse error' } });
      return;
    }
    entry.rpc = msg.method ?? (msg.result !== undefined || msg.error ? 'response' : '?');
    if (msg.id === undefined || msg.id === null || !msg.method) {
      // A notification or a response.
      res.writeHead(202, { Connection: 'close' });
      res.end();
      return;
    }
    if (mode === 'hang-init') {
      // Keep the socket; answer nothing, initialize included.
      stats.faults++;
      res.on('close', () => { stats.closedFaults++; });
      return;
    }
    if (msg.method === 'initialize') {
      session++;
      json(res, 200, {
        jsonrpc: '2.0',
        id: msg.id,
        result: {
          protocolVersion: msg.params?.protocolVersion ?? '2025-06-18',
          capabilities: { tools: {} },
          serverInfo: { name: `faulty-${mode}`, version: '1.0.0' },
        },
      }, { 'Mcp-Session-Id': `faulty-${mode}-${session}` });
      return;
    }
    if (msg.method === 'ping') {
      json(res, 200, { jsonrpc: '2.0', id: msg.id, result: {} });
      return;
    }
    if (msg.method !== 'tools/list' && msg.method !== 'tools/call') {
      json(res, 200, { jsonrpc: '2.0', id: msg.id, error: { code: -32601, message: 'Method not found' } });
      return;
    }
    if (mode === 'slow-sse' && msg.method === 'tools/list') {
      json(res, 200, {
        jsonrpc: '2.0',
        id: msg.id,
        result: { tools: [{ name: 'slow', description: 'A slow SSE answer', inputSchema: { type: 'object' } }] },
      });
      return;
    }
    // The fault.
    stats.faults++;
    res.on('close', () => { stats.closedFaults++; });
    switch (mode) {
    case 'hang':
      // Keep the socket; answer nothing.
      break;
    case 'non-json':
      res.writeHead(200, { 'Content-Type': 'application/json', Connection: 'close' });
      res.end('<html><body>502 Bad Gateway (this is not JSON)</body></html>\n');
      break;
    case 'huge':
      writeHuge(res, msg.id, HUGE_BYTES);
      break;
    case 'sse-cut':
      res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache' });
      res.write(`id: 1\nevent: message\ndata: {"jsonrpc":"2.0","id":${JSON.stringify(msg.id)},"result":{"con`);
      setTimeout(() => res.socket?.destroy(), 100);
      break;
    case 'sse-cut-late':
    case 'sse-stall': {
      res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache' });
      const token = msg.params?._meta?.progressToken ?? 'late';
      res.write(`id: 1\nevent: message\ndata: ${JSON.stringify({
        jsonrpc: '2.0', method: 'notifications/progress',
        params: { progressToken: token, progress: 1, message: 'step 1' },
      })}\n\n`);
      if (mode === 'sse-cut-late') {
        const t = setTimeout(() => {
          res.write(`id: 2\nevent: message\ndata: {"jsonrpc":"2.0","id":${JSON.stringify(msg.id)},"res`);
          setTimeout(() => res.socket?.destroy(), 50);
        }, 300);
        timers.add(t);
      }
      break;
    }
    case 'http-401':
      json(res, 401, { error: 'invalid_token', error_description: 'no token for this backend' },
        { 'WWW-Authenticate': 'Bearer error="invalid_token"' });
      break;
    case 'slow-sse': {
      res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache' });
      const token = msg.params?._meta?.progressToken ?? 'slow';
      let n = 0;
      const t = setInterval(() => {
        n++;
        if (res.destroyed) {
          clearInterval(t);
          return;
        }
        res.write(`id: ${n}\nevent: message\ndata: ${JSON.stringify({
          jsonrpc: '2.0', method: 'notifications/progress',
          params: { progressToken: token, progress: n, message: `step ${n}` },
        })}\n\n`);
        if (n * 250 >= slowMs) {
          clearInterval(t);
          res.end(`id: ${n + 1}\nevent: message\ndata: ${JSON.stringify({
            jsonrpc: '2.0', id: msg.id, result: { content: [{ type: 'text', text: 'slow done' }] },
          })}\n\n`);
        }
      }, 250);
      timers.add(t);
      res.on('close', () => { clearInterval(t); timers.delete(t); });
      break;
    }
    default:
      break;
    }
  });
  server.keepAliveTimeout = 1000;
  server.requestTimeout = 0;
  server.headersTimeout = 10_000;
  server.on('connection', (s) => {
    stats.connections++;
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  const port = await freePort();
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', resolve);
  });
  return {
    mode,
    port,
    url: `http://127.0.0.1:${port}/mcp`,
    stats,
    requests,
    openConnections: () => sockets.size,
    async stop() {
      for (const t of timers) {
        clearInterval(t);
        clearTimeout(t);
      }
      for (const s of sockets) {
        s.destroy();
      }
      await new Promise((r) => server.close(r));
    },
  };
}

// A URL on 127.0.0.1 where nothing listens (a port found free and left so).
export async function downUrl() {
  return `http://127.0.0.1:${await freePort()}/mcp`;
}
