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

// A load balancer for tests: one origin on 127.0.0.1 in front of several
// gateway nodes (e2e/lib/gateway.mjs, publicOrigin: lb.origin), so that
// clients see one issuer and one resource, as in production. It forwards
// each HTTP request, not each connection (a kept-alive connection of a
// client may carry requests to different nodes), with its Host header
// unchanged, to the node the test chose: the one named by the request
// header X-E2E-Node (removed before forwarding), else the current one
// (lb.use(name)). Bodies stream both ways (SSE included). Every request
// is recorded: lb.log, [{ node, method, url, status }].
//
//   const lb = await startBalancer();
//   lb.add('a', gwA.port); lb.add('b', gwB.port); lb.use('a');
//   ... fetch(`${lb.origin}/mcp`, { headers: { 'X-E2E-Node': 'b' } }) ...
//   await lb.stop();

import http from 'node:http';

export const NODE_HEADER = 'x-e2e-node';

// Hop-by-hop headers (RFC 9110 7.6.1): each side frames its own message.
const HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer',
  'transfer-encoding', 'upgrade', NODE_HEADER]);

function endToEnd(headers) {
  return Object.fromEntries(Object.entries(headers).filter(([k]) => !HOP.has(k.toLowerCase())));
}

export async function startBalancer({ port = 0 } = {}) {
  const nodes = new Map();      // name -> port
  const log = [];
  let current = null;
  const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });

  const server = http.createServer((req, res) => {
    const name = req.headers[NODE_HEADER] ?? current;
    const entry = { node: name, method: req.method, url: req.url, status: null };
    log.push(entry);
    if (!nodes.has(name)) {
      entry.status = 502;
      res.writeHead(502, { 'Content-Type': 'text/plain' }).end(`no node ${name}\n`);
      return;
    }
    const up = http.request({ host: '127.0.0.1', port: nodes.get(name), method: req.method,
      path: req.url, headers: endToEnd(req.headers), agent }, (ures) => {
      entry.status = ures.statusCode;
      res.writeHead(ures.statusCode, ures.statusMessage, endToEnd(ures.headers));
      res.flushHeaders();
      ures.pipe(res);
      ures.on('error', () => res.destroy());
    });
    up.on('error', (e) => {
      if (!res.headersSent) {
        entry.status = 502;
        res.writeHead(502, { 'Content-Type': 'text/plain' }).end(`node ${name}: ${e.message}\n`);
      } else {
        res.destroy();
      }
    });
    // A client that goes away ends the request to the node too.
    res.on('close', () => {
      if (!res.writableFinished) {
        up.destroy();
      }
    });
    req.pipe(up);
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', resolve);
  });
  const origin = `http://127.0.0.1:${server.address().port}`;

  return {
    origin,
    port: server.address().port,
    log,
    // Put node @name (a port on 127.0.0.1) behind the balancer.
    add(name, nodePort) {
      nodes.set(name, nodePort);
      current ??= name;
    },
    // Where requests without X-E2E-Node go from now on.
    use(name) {
      if (!nodes.has(name)) {
        throw new Error(`balancer: no node ${name}`);
      }
      current = name;
    },
    get current() { return current; },
    // The names of the nodes that served the requests whose path starts
    // with @prefix (from log entry @from on), in order.
    served(prefix, from = 0) {
      return log.slice(from).filter((e) => new URL(e.url, origin).pathname.startsWith(prefix)).map((e) => e.node);
    },
    async stop() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      agent.destroy();
    },
  };
}
