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

// mcp-remote 0.15.1, the stdio bridge Claude Desktop and Cursor configs
// run, completing its OAuth flow with the gateway: it registers (DCR, a
// native loopback client), prints the authorization URL and "opens a
// browser" (a stub: BROWSER and the usual openers on PATH only record the
// URL), the test signs the demo user in with approve() and delivers the
// redirect to mcp-remote's callback server, and mcp-remote exchanges the
// code and keeps the tokens in MCP_REMOTE_CONFIG_DIR.
//
// Then mcp-remote connects for real, with `initialize`, through the
// gateway's federation of two server-everything upstreams (prefixes ev1_
// and ev2_, as in scripts/demo), and serves its stdio: the test speaks
// MCP over it (initialize, tools/list, tools/call ev1_echo, ping) and
// every answer comes from the gateway through mcp-remote. A third
// upstream needs per-user upstream OAuth (mod_mcp_idp, issue 8; the
// fixtures oidc-provider and upstream-mcp, as in the demo): its first
// call answers -32003 with the link in the message, which is all a
// desktop client behind mcp-remote shows; the user follows it (the
// scripted user agent) and the same call then returns the user's
// upstream identity.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startGateway } from './lib/gateway.mjs';
import { startEverything } from './lib/upstream.mjs';
import { approve, jwtClaims } from './lib/oauth.mjs';
import { linkUpstream } from './lib/useragent.mjs';
import { startUpstreamOAuth } from '../t/fixtures/upstream-oauth.mjs';
import { startUpstreamMcp } from '../t/fixtures/upstream-mcp.mjs';
import {
  NODE, SRC, freePort, leftAfterStop, spawnTagged, stubBrowser, waitFor,
} from './lib/proc.mjs';

const PROXY = path.join(SRC, 'node_modules/mcp-remote/dist/proxy.js');
const MCP_REMOTE_VERSION = JSON.parse(readFileSync(path.join(SRC, 'node_modules/mcp-remote/package.json'), 'utf8')).version;

let gw, dir, stub, configDir, ev1, ev2, up, upMcp;
const PASSWORD = 'e2e-secret';
const CLIENT_ID = 'mcp-gateway-e2e';
const CLIENT_SECRET = 'remote-e2e-upstream-secret';

before(async () => {
  ev1 = await startEverything({ tag: `mcp-e2e-remote-ev1-${process.pid}` });
  ev2 = await startEverything({ tag: `mcp-e2e-remote-ev2-${process.pid}` });
  // A third upstream behind mod_mcp_idp (per-user OAuth, as in the demo):
  // the upstream OAuth server needs the gateway's origin first.
  const port = await freePort();
  up = await startUpstreamOAuth({ gateway: `http://127.0.0.1:${port}`, clientId: CLIENT_ID,
    clientSecret: CLIENT_SECRET, password: PASSWORD, linkBase: '/oauth/v1' });
  upMcp = await startUpstreamMcp({ issuer: up.issuer, resource: up.resource });
  gw = await startGateway({
    port,
    password: PASSWORD,
    idp: { providers: [{ name: 'upstream', issuer: up.issuer, clientId: CLIENT_ID, clientSecret: CLIENT_SECRET,
      scope: 'openid offline_access read:user', options: ['internal=on', 'params="prompt=consent"'] }] },
    location: [
      `MCPProxyBackend everything1 ${ev1.url} prefix=ev1_`,
      `MCPProxyBackend everything2 ${ev2.url} prefix=ev2_`,
      `MCPProxyBackend upstream ${upMcp.url} prefix=up_ idp=upstream`,
    ].join('\n'),
  });
  dir = mkdtempSync(path.join(tmpdir(), 'mcp-e2e-remote-'));
  configDir = path.join(dir, 'mcp-auth');
  // The "browser": records the URL, opens nothing. Also shadows the
  // openers mcp-remote falls back to on Linux.
  stub = stubBrowser(dir);
});

after(async () => {
  await gw?.stop();
  await ev1?.stop();
  await ev2?.stop();
  await upMcp?.stop();
  await up?.stop();
  if (dir) {
    rmSync(dir, { recursive: true, force: true });
  }
});

function registeredClients() {
  const out = execFileSync('sqlite3', ['-json', path.join(gw.dir, 'data/mcp.db'),
    'SELECT client_id, kind, token_endpoint_auth_method, grant_types, metadata FROM mcp_clients'],
  { encoding: 'utf8' }).trim();
  return out ? JSON.parse(out) : [];
}

test(`mcp-remote ${MCP_REMOTE_VERSION} registers, signs the demo user in through its callback and keeps the gateway's tokens`, async () => {
  const cbPort = await freePort();
  const tag = `${dir}/mcp-remote`;
  const remote = spawnTagged(NODE, [PROXY, gw.mcpUrl, String(cbPort)], {
    tag,
    stdin: 'pipe',
    env: {
      PATH: `${stub}:${path.dirname(NODE)}:/usr/bin:/bin`,
      HOME: dir,
      MCP_REMOTE_CONFIG_DIR: configDir,
      BROWSER: path.join(stub, 'browser'),
    },
  });
  let stdout = '';
  remote.child.stdout.on('data', (d) => { stdout += d; });
  try {
    const printed = await waitFor('mcp-remote to print the authorization URL', () => {
      if (remote.child.exitCode !== null) {
        throw new Error(`mcp-remote exited early (${remote.child.exitCode}):\n${remote.stderr()}`);
      }
      return remote.stderr().match(/Please authorize this client by visiting:\n(\S+)/)?.[1];
    }, 30_000);
    const url = new URL(printed);
    assert.equal(`${url.origin}${url.pathname}`, `${gw.origin}/oauth/authorize`);
    const q = Object.fromEntries(url.searchParams);
    const redirect = `http://localhost:${cbPort}/oauth/callback`;
    assert.equal(q.redirect_uri, redirect, 'mcp-remote\'s loopback callback (checklist F2)');
    assert.equal(q.response_type, 'code');
    assert.equal(q.code_challenge_method, 'S256');
    assert.equal(q.resource, gw.mcpUrl);
    // The challenge's scope, plus offline_access: the gateway lists it in
    // scopes_supported (checklist A3.8).
    assert.equal(q.scope, 'mcp offline_access');
    assert.ok(q.state);
    await waitFor('the stub browser to be asked', () => existsSync(path.join(dir, 'opened')), 10_000);
    assert.match(readFileSync(path.join(dir, 'opened'), 'utf8'), /^browser http:\/\/127\.0\.0\.1:\d+\/oauth\/authorize\?/m,
      'the URL went to $BROWSER, nothing else was opened');

    // What mcp-remote registered (DCR), as the gateway stored it.
    const clients = registeredClients();
    assert.equal(clients.length, 1);
    const [client] = clients;
    assert.equal(client.client_id, q.client_id);
    assert.equal(client.kind, 'dcr');
    assert.equal(client.token_endpoint_auth_method, 'none', 'public client: the gateway lists none');
    const meta = JSON.parse(client.metadata);
    assert.equal(meta.client_name, 'MCP CLI Proxy');
    assert.equal(meta.software_id, '2e6dc280-f3c3-4e01-99a7-8181dbd1d23d');
    assert.equal(meta.application_type, 'native');
    assert.deepEqual(meta.redirect_uris, [redirect]);
    assert.deepEqual(meta.grant_types, ['authorization_code', 'refresh_token']);

    // The user signs in; the browser follows the redirect to mcp-remote.
    const { location, params } = await approve(printed, 'demo', gw.password);
    assert.ok(params.code);
    assert.equal(params.iss, gw.issuer);
    assert.equal(params.state, q.state);
    const back = new URL(location);
    assert.equal(`${back.origin}${back.pathname}`, redirect);
    // mcp-remote listens on 127.0.0.1; "localhost" is that address here.
    back.hostname = '127.0.0.1';
    const cb = await fetch(back);
    assert.equal(cb.status, 200);
    assert.match(await cb.text(), /Authorization successful/);

    const tokensFile = await waitFor('mcp-remote to store the tokens', () => {
      const d = path.join(configDir, 'mcp-remote-v1');
      return existsSync(d) && readdirSync(d).map((f) => path.join(d, f)).find((f) => f.endsWith('_tokens.json'));
    }, 15_000);
    const tokens = JSON.parse(readFileSync(tokensFile, 'utf8'));
    assert.ok(tokens.refresh_token);
    const claims = jwtClaims(tokens.access_token);
    assert.equal(claims.iss, gw.issuer);
    assert.equal(claims.aud, gw.mcpUrl);
    assert.equal(claims.sub, 'demo');
    assert.equal(claims.client_id, q.client_id);
    assert.equal(claims.scope, 'mcp offline_access');

    // mcp-remote now connects with initialize, through the federation.
    const outcome = await waitFor('mcp-remote to connect or end', () => (
      /Proxy established successfully/.test(remote.stderr()) ? 'proxy'
        : remote.child.exitCode !== null ? 'exited' : null), 30_000);
    assert.equal(outcome, 'proxy', `mcp-remote connected to the gateway and serves its stdio:\n${remote.stderr()}`);
    assert.doesNotMatch(remote.stderr(), /invalid_token|returned 401|rejected a .*token/, 'its token was accepted');

    // An MCP client on mcp-remote's stdio: one JSON-RPC message a line.
    const answer = (id) => waitFor(`the answer ${id} on mcp-remote's stdout`, () => {
      for (const line of stdout.split('\n')) {
        try {
          const m = JSON.parse(line);
          if (m.id === id && ('result' in m || 'error' in m)) return m;
        } catch {
          // not a whole line yet
        }
      }
      if (remote.child.exitCode !== null) {
        throw new Error(`mcp-remote exited (${remote.child.exitCode}):\n${remote.stderr()}`);
      }
      return null;
    }, 20_000);
    const send = (m) => remote.child.stdin.write(`${JSON.stringify({ jsonrpc: '2.0', ...m })}\n`);
    send({ id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {},
      clientInfo: { name: 'mod_mcp e2e stdio', version: '1.0.0' } } });
    const init = await answer(1);
    assert.equal(init.result?.serverInfo?.name, 'mod_mcp', JSON.stringify(init));
    send({ method: 'notifications/initialized' });
    send({ id: 2, method: 'tools/list' });
    const list = await answer(2);
    const names = (list.result?.tools ?? []).map((t) => t.name);
    assert.equal(names[0], 'gateway_whoami', JSON.stringify(list).slice(0, 500));
    for (const n of ['ev1_echo', 'ev2_echo', 'ev1_get-sum']) {
      assert.ok(names.includes(n), `${n} in ${names.join(', ')}`);
    }
    send({ id: 3, method: 'tools/call', params: { name: 'ev1_echo', arguments: { message: 'hi from mcp-remote' } } });
    const call = await answer(3);
    assert.deepEqual(call.result?.content, [{ type: 'text', text: 'Echo: hi from mcp-remote' }], JSON.stringify(call));
    send({ id: 4, method: 'ping' });
    assert.deepEqual(await answer(4), { jsonrpc: '2.0', id: 4, result: {} });

    // The third upstream needs the user's own upstream account: what a
    // desktop client behind mcp-remote shows is the error's message, with
    // the link in plain words; the user follows it in a browser (here the
    // scripted user agent), and the same call then works.
    assert.ok(names.includes('gateway_connect_upstream'), `before the link: ${names.join(', ')}`);
    send({ id: 5, method: 'tools/call', params: { name: 'up_upstream_whoami', arguments: {} } });
    const needLink = await answer(5);
    assert.equal(needLink.error?.code, -32003, JSON.stringify(needLink));
    assert.equal(needLink.error?.data?.type, 'OAuthConnectionRequired');
    const link = /(http:\/\/127\.0\.0\.1:\d+\/oauth\/v1\/authorize\?\S+)/.exec(needLink.error.message)?.[1];
    assert.ok(link, `the message carries the link: ${needLink.error.message}`);
    assert.equal(link, needLink.error.data.authorize_url);
    const seen = await linkUpstream(link, { gateway: gw.origin, upstream: up.issuer, user: 'demo',
      password: PASSWORD });
    assert.ok(seen.done.status < 400, `the callback: ${seen.done.status}`);
    send({ id: 6, method: 'tools/call', params: { name: 'up_upstream_whoami', arguments: {} } });
    const who = await answer(6);
    assert.equal(who.result?.structuredContent?.sub, 'demo', JSON.stringify(who));
    assert.ok(upMcp.records().filter((r) => r.ok).every((r) => r.iss === up.issuer),
      'the upstream got upstream tokens only');
    send({ id: 7, method: 'tools/list' });
    const after = (await answer(7)).result?.tools?.map((t) => t.name) ?? [];
    assert.ok(after.includes('up_upstream_whoami') && !after.includes('gateway_connect_upstream'),
      `after the link: ${after.join(', ')}`);
    // The gateway saw one sign-in and one code exchange by this client.
    assert.match(gw.errorLog(), new RegExp(`tokens issued to client ${q.client_id} for demo`));
  } finally {
    await remote.stop();
  }
  assert.deepEqual(await leftAfterStop({ tag }), [], 'mcp-remote left no process (callback server included)');
});

test('stopping the gateway and the upstreams leaves no process behind', async () => {
  const { dir: gwDir } = gw;
  const left = await gw.stop();
  gw = null;
  assert.deepEqual(left, []);
  assert.deepEqual(await leftAfterStop({ dir: gwDir }), []);
  await ev1.stop();
  await ev2.stop();
  ev1 = ev2 = null;
  for (const n of ['ev1', 'ev2']) {
    assert.deepEqual(await leftAfterStop({ tag: `mcp-e2e-remote-${n}-${process.pid}` }), []);
  }
});
