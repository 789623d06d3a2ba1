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

// mod_mcp_idp on two gateway nodes sharing one PostgreSQL store (issue 8:
// the callback "may land on another node"; "parallel calls never refresh
// the same token twice ... across nodes on PostgreSQL"). Two httpd
// (e2e/lib/gateway.mjs), each on its own port, with the same store (a
// fresh schema of the PostgreSQL server of MCP_TEST_PGSQL, made current
// by the built `mcpctl --driver pgsql db upgrade`), the same vault keys,
// signing key, users and provider configuration, in front of the real
// upstream fixtures: the OAuth server (t/fixtures/upstream-oauth.mjs,
// oidc-provider) and the MCP server that takes only its tokens
// (t/fixtures/upstream-mcp.mjs). The SDK client and the scripted user
// agent of e2e/idp.test.mjs do the rest.
//
// One origin for both nodes: a load balancer (e2e/lib/balancer.mjs), a
// small HTTP forwarder on 127.0.0.1 that sends each request to the node
// the test chooses (per request: header X-E2E-Node; else the current
// node), Host unchanged. Why not two origins, or the same explicit
// issuer on both nodes reached at their own ports: mod_mcp_idp builds the
// authorize_url and the redirect URI (<origin><base>/callback) from the
// request's Host (ap_construct_url), mod_mcp_proxy compares Origin with
// it, the MCP client checks that the resource of the protected resource
// metadata is the URL it talks to, and the upstream OAuth server has one
// redirect URI registered. Clients reaching two ports are clients of two
// gateways; only a balancer in front gives what production has: one
// issuer, one resource, one redirect URI, requests landing on any node.
// Both nodes have MCPAuthzIssuer = the balancer's origin (gateway.mjs
// publicOrigin); the balancer's log and each node's access log say which
// node served what.
//
// Without MCP_TEST_PGSQL every case is skipped, naming why; with
// MCP_TEST_REQUIRE_PGSQL=1 (scripts/check) that is a failure instead.
// Upstream access tokens live 30 s (the gateway refreshes ahead within
// half of that, so a token just refreshed is not refreshed again by the
// calls that waited for it) and the refresh case waits for the real
// expiry: the file takes about 45 seconds.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { startGateway } from './lib/gateway.mjs';
import { startBalancer, NODE_HEADER } from './lib/balancer.mjs';
import { TestProvider, rpcWithAuth } from './lib/oauth.mjs';
import { UserAgent, forms, linkUpstream, pageText, submit } from './lib/useragent.mjs';
import { sleep, waitFor } from './lib/proc.mjs';
import { startUpstreamOAuth } from '../t/fixtures/upstream-oauth.mjs';
import { startUpstreamMcp } from '../t/fixtures/upstream-mcp.mjs';

const PGSQL = process.env.MCP_TEST_PGSQL;
const PGSQL_REQUIRED = process.env.MCP_TEST_REQUIRE_PGSQL === '1';
const PASSWORD = 'e2e-secret';
const BASE = '/oauth/v1';
const SCOPE = 'openid offline_access read:user repo';
const CLIENT_ID = 'mcp-gateway-e2e-nodes';
const CLIENT_SECRET = randomBytes(24).toString('base64url');
const WHOAMI = 'up_upstream_whoami';
const ACCESS_TTL = 30;
const PARALLEL = 10;        // calls per node in the refresh case

let up, mcp, lb, db, schema;
const nodes = {};           // a, b: the gateways
const tokens = {};          // gateway token providers per user

// --- helpers ------------------------------------------------------------------

// apr_dbd pgsql params ("host=... port=... user=... dbname=...") as pg's
// client configuration.
function pgConfig(params) {
  const kv = Object.fromEntries(params.trim().split(/\s+/).map((w) => {
    const i = w.indexOf('=');
    return [w.slice(0, i), w.slice(i + 1)];
  }));
  return { host: kv.host, port: kv.port ? Number(kv.port) : undefined, user: kv.user,
    password: kv.password, database: kv.dbname, connectionTimeoutMillis: 10_000,
    statement_timeout: 10_000 };
}

const sql = async (text, values = []) => (await db.query(text, values)).rows;
const vaultRows = () => sql(`SELECT subject, provider, key_id, version FROM "${schema}".mcp_upstream_tokens
  ORDER BY subject, provider`);
const pendingRows = () => sql(`SELECT subject, provider FROM "${schema}".mcp_upstream_pending`);

function idpOpts() {
  return {
    idp: {
      vaultKeys: [{ id: 'k1' }],
      providers: [{ name: 'upstream', issuer: up.issuer, clientId: CLIENT_ID, clientSecret: CLIENT_SECRET,
        scope: SCOPE, options: ['internal=on', 'params="prompt=consent"'] }],
      linkBase: BASE,
    },
    location: `MCPProxyBackend upstream ${mcp.url} prefix=up_ idp=upstream`,
  };
}

// A gateway token for @user (the SDK's OAuth flow through the balancer).
async function gatewayToken(user) {
  if (!tokens[user]) {
    const p = new TestProvider({ user, password: PASSWORD });
    const pong = await rpcWithAuth(`${lb.origin}/mcp`, p, { jsonrpc: '2.0', id: 1, method: 'ping' });
    assert.deepEqual(pong.result, {});
    tokens[user] = p;
  }
  return tokens[user];
}

// An SDK client of the balancer's /mcp as @user whose requests all go to
// node @node.
async function client(user, node) {
  const c = new Client({ name: 'mod_mcp-e2e-idp-nodes', version: '1.0.0' }, { capabilities: {} });
  try {
    await c.connect(new StreamableHTTPClientTransport(new URL(`${lb.origin}/mcp`),
      { authProvider: await gatewayToken(user), requestInit: { headers: { [NODE_HEADER]: node } } }));
  } catch (e) {
    throw e.cause ? new Error(`connect as ${user} to ${node}: ${e.message}: ${e.cause.message ?? e.cause}`, { cause: e }) : e;
  }
  return c;
}

// tools/call @name as @user through node @node: { result } or { error }.
// The balancer's log must show that node and no other for /mcp.
async function call(user, node, name = WHOAMI) {
  const mark = lb.log.length;
  const c = await client(user, node);
  let answer;
  try {
    answer = { result: await c.callTool({ name, arguments: {} }) };
  } catch (e) {
    if (typeof e.code !== 'number') {
      throw e.cause ? new Error(`${e.message}: ${e.cause.message ?? e.cause}`, { cause: e }) : e;
    }
    answer = { error: { code: e.code, message: e.message, data: e.data } };
  } finally {
    await c.close();
  }
  assert.deepEqual([...new Set(lb.served('/mcp', mark))], [node], `the call went to node ${node} only`);
  return answer;
}

function assertLinkRequired(answer, what) {
  assert.ok(answer.error, `${what}: an error, not ${JSON.stringify(answer.result)}`);
  const { code, data } = answer.error;
  assert.equal(code, -32003, `${what}: ${JSON.stringify(answer.error)}`);
  assert.equal(data?.type, 'OAuthConnectionRequired');
  assert.equal(data.provider, 'upstream');
  const u = new URL(data.authorize_url);
  assert.equal(u.origin, lb.origin, 'the link is on the one public origin, not a node\'s');
  assert.equal(u.pathname, `${BASE}/authorize`);
  return data.authorize_url;
}

// Until the upstream access token of @sub in the shared store has expired
// (its expires_at, plus a second): the one the gateway holds now, even if
// it refreshed one ahead since the upstream MCP server last saw it.
async function untilExpired(sub) {
  const [row] = await sql(`SELECT expires_at FROM "${schema}".mcp_upstream_tokens
    WHERE subject = $1 AND provider = 'upstream'`, [sub]);
  assert.ok(row?.expires_at, `${sub} has a token with an expiry`);
  const wait = Number(row.expires_at) * 1000 + 1000 - Date.now();
  assert.ok(wait <= (ACCESS_TTL + 5) * 1000, `the token expires within the short lifetime: ${wait} ms`);
  await sleep(Math.max(0, wait));
}

// The request lines of @path in node @n's access log.
const accessLines = (n, p) => nodes[n].accessLog().split('\n').filter((l) => l.includes(` ${p}`));

// A case that needs PostgreSQL: skipped (or failed, when required)
// without it.
function nodesTest(name, opts, fn) {
  test(name, opts, async (t) => {
    if (!PGSQL) {
      const why = 'MCP_TEST_PGSQL is not set: no PostgreSQL server for the two nodes to share '
        + '(scripts/lib/pgsql.sh start DIR prints it)';
      if (PGSQL_REQUIRED) {
        assert.fail(`MCP_TEST_REQUIRE_PGSQL=1 but ${why}`);
      }
      t.skip(why);
      return;
    }
    await fn(t);
  });
}

// --- setup ----------------------------------------------------------------------

before(async () => {
  if (!PGSQL) {
    return;
  }
  lb = await startBalancer();
  up = await startUpstreamOAuth({ gateway: lb.origin, clientId: CLIENT_ID, clientSecret: CLIENT_SECRET,
    password: PASSWORD, linkBase: BASE });
  mcp = await startUpstreamMcp({ issuer: up.issuer, resource: up.resource });
  // A schema of its own, dropped at the end; the nodes' connections use
  // it through search_path (as t/unit/test_store.c).
  schema = `mcp_e2e_nodes_${process.pid}_${Date.now().toString(36)}`;
  db = new pg.Client(pgConfig(PGSQL));
  await db.connect();
  await sql(`CREATE SCHEMA "${schema}"`);
  const store = { driver: 'pgsql', params: `${PGSQL} options=-csearch_path=${schema}` };
  // mcp_idp:debug: each refresh is logged (MCP01920), so the nodes'
  // own account can be held against the upstream's.
  const common = { publicOrigin: lb.origin, store, ...idpOpts(),
    logLevel: 'warn mcp_authz:debug mcp_proxy:info mcp_idp:debug' };
  // Node a makes the keys and upgrades the schema; node b takes a's keys
  // and runs the upgrade again (nothing to do).
  nodes.a = await startGateway(common);
  nodes.b = await startGateway({ ...common, keysFrom: nodes.a.dir });
  lb.add('a', nodes.a.port);
  lb.add('b', nodes.b.port);
  lb.use('a');
});

after(async () => {
  await nodes.a?.stop();
  await nodes.b?.stop();
  await lb?.stop();
  await mcp?.stop();
  await up?.stop();
  if (db) {
    try {
      await sql(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    } finally {
      await db.end();
    }
  }
});

// --- the cases ------------------------------------------------------------------

nodesTest('two nodes, one store: mcpctl made the schema current, both nodes name the balancer as issuer and publish the same keys', {}, async () => {
  const tables = (await sql('SELECT table_name FROM information_schema.tables WHERE table_schema = $1',
    [schema])).map((r) => r.table_name);
  for (const t of ['mcp_upstream_tokens', 'mcp_upstream_pending', 'mcp_clients']) {
    assert.ok(tables.includes(t), `${t} in the test's schema: ${tables.join(' ')}`);
  }
  const seen = {};
  for (const n of ['a', 'b']) {
    const meta = await (await fetch(`${lb.origin}/.well-known/oauth-authorization-server`,
      { headers: { [NODE_HEADER]: n } })).json();
    assert.equal(meta.issuer, lb.origin, `node ${n}'s issuer`);
    seen[n] = await (await fetch(meta.jwks_uri, { headers: { [NODE_HEADER]: n } })).json();
  }
  assert.deepEqual(seen.a, seen.b, 'the same signing key on both nodes');
  assert.deepEqual(lb.served('/.well-known/'), ['a', 'b']);
});

nodesTest('demo starts the link on node A, the upstream\'s redirect to the callback lands on node B: the link is stored once, and calls through A and B both return "demo"', { timeout: 120_000 }, async () => {
  // Tokens from this link live ACCESS_TTL (for the refresh case).
  up.setAccessTtl(ACCESS_TTL);
  lb.use('a');
  const mark = lb.log.length;
  const url = assertLinkRequired(await call('demo', 'a'), 'demo\'s first call, through A');
  const seen = await linkUpstream(url, { gateway: lb.origin, base: BASE, upstream: up.issuer,
    user: 'demo', password: PASSWORD, callback: false });
  assert.deepEqual([...new Set(lb.served(BASE, mark))], ['a'], 'confirmation and consent on A');
  const q = new URL(seen.toUpstream).searchParams;
  assert.equal(q.get('redirect_uri'), `${lb.origin}${BASE}/callback`, 'the redirect URI is the public origin\'s');
  assert.deepEqual(await pendingRows(), [{ subject: 'demo', provider: 'upstream' }],
    'A stored the authorization under way in the shared store');
  assert.deepEqual(await vaultRows(), [], 'nothing linked yet');

  lb.use('b');
  const cbMark = lb.log.length;
  let done;
  try {
    done = await seen.ua.follow(seen.callbackUrl);
  } finally {
    lb.use('a');
  }
  assert.ok(done.status < 400, `the callback on B: ${done.status} ${pageText(done.body ?? '').slice(0, 300)}`);
  assert.deepEqual(lb.served(`${BASE}/callback`, cbMark), ['b'], 'the callback was delivered to B');
  // (httpd logs a request once it has answered it: wait a moment.)
  await waitFor('the callback in B\'s access log', () => accessLines('b', `${BASE}/callback`).length === 1, 5000);
  assert.equal(accessLines('a', `${BASE}/callback`).length, 0, 'A never saw it');
  assert.deepEqual(await pendingRows(), [], 'the pending authorization was taken');
  const rows = await vaultRows();
  assert.deepEqual(rows.map((r) => [r.subject, r.provider, r.key_id]), [['demo', 'upstream', 'k1']]);

  const viaA = await call('demo', 'a');
  assert.equal(viaA.result?.structuredContent?.sub, 'demo', `through A: ${JSON.stringify(viaA)}`);
  const viaB = await call('demo', 'b');
  assert.equal(viaB.result?.structuredContent?.sub, 'demo', `through B: ${JSON.stringify(viaB)}`);
  assert.equal(viaB.result.structuredContent.iss, up.issuer);
});

nodesTest(`after expiry, ${2 * PARALLEL} parallel calls (${PARALLEL} through A, ${PARALLEL} through B) all answer "demo" and the upstream saw one refresh`, { timeout: 240_000 }, async (t) => {
  assert.ok((await vaultRows()).some((r) => r.subject === 'demo'), 'demo is linked (the case above)');
  // Sessions first (each call on a session of its own), then all at once.
  // Interleaved: both nodes get their first calls at the same moment.
  const split = Array.from({ length: 2 * PARALLEL }, (_, i) => (i % 2 ? 'b' : 'a'));
  const clients = await Promise.all(split.map((n) => client('demo', n)));
  let answers, before, after, mark, recMark;
  try {
    await untilExpired('demo');
    before = up.stats();
    mark = lb.log.length;
    recMark = mcp.records().length;
    answers = await Promise.allSettled(clients.map((c) => c.callTool({ name: WHOAMI, arguments: {} })));
    after = up.stats();
  } finally {
    await Promise.all(clients.map((c) => c.close()));
  }
  const failed = answers.filter((a) => a.status !== 'fulfilled' || a.value.structuredContent?.sub !== 'demo');
  assert.deepEqual(failed.map((a) => a.reason?.message ?? JSON.stringify(a.value)), [],
    `all ${2 * PARALLEL} answered demo`);
  const posts = lb.log.slice(mark).filter((e) => e.method === 'POST' && new URL(e.url, lb.origin).pathname === '/mcp');
  assert.deepEqual({ a: posts.filter((e) => e.node === 'a').length, b: posts.filter((e) => e.node === 'b').length },
    { a: PARALLEL, b: PARALLEL }, 'the calls were split across the nodes');
  const refreshed = after.refreshes.slice(before.refreshes.length);
  t.diagnostic(`refresh_token grants: ${JSON.stringify(refreshed)}`);
  assert.deepEqual(refreshed.map((r) => r.sub), ['demo'], 'exactly one refresh_token grant, for demo');
  assert.equal(after.grants['refresh_token:error'] ?? 0, before.grants['refresh_token:error'] ?? 0,
    'no refresh with a dead (rotated) refresh token');
  const used = new Set(mcp.records().slice(recMark).filter((r) => r.sub === 'demo' && r.ok).map((r) => r.sha256));
  assert.equal(used.size, 1, `both nodes sent the one refreshed token upstream (${used.size} tokens)`);
  assert.ok((await vaultRows())[0].version > 1, 'the row was rewritten (compare-and-set)');
  const logged = ['a', 'b'].flatMap((n) => nodes[n].errorLog().split('\n')
    .filter((l) => /MCP01920: refreshed demo's upstream token/.test(l)).map(() => n));
  t.diagnostic(`refreshed by node ${logged.join(', ')}`);
  assert.equal(logged.length, 1, `one refresh in the nodes' logs: ${logged.join(', ')}`);
});

nodesTest('revoking the link on node B\'s Connections page: the next call through node A asks for a link again', { timeout: 120_000 }, async () => {
  lb.use('b');
  const mark = lb.log.length;
  let r;
  const revokes = up.stats().revocations.length;
  try {
    const ua = new UserAgent();
    ua.signIn(lb.origin, 'demo', PASSWORD);
    const page = await ua.request(`${lb.origin}${BASE}/connections`);
    assert.equal(page.status, 200);
    assert.match(pageText(page.body), /upstream/);
    const form = forms(page.body).find((f) => f.method === 'post'
      && /revoke|disconnect|unlink|remove/i.test(`${f.action} ${JSON.stringify(f.fields)} ${JSON.stringify(f.buttons)}`)
      && /upstream/.test(`${f.action} ${JSON.stringify(f.fields)} ${JSON.stringify(f.buttons)}`));
    assert.ok(form, `a revoke form for upstream: ${page.body.slice(0, 600)}`);
    r = await submit(ua, `${lb.origin}${BASE}/connections`, form, /revoke|disconnect|unlink|remove/i);
  } finally {
    lb.use('a');
  }
  assert.ok(r.status < 400, `revoke on B: ${r.status} ${pageText(r.body).slice(0, 200)}`);
  assert.deepEqual([...new Set(lb.served(BASE, mark))], ['b'], 'the Connections page and the revocation on B');
  assert.deepEqual(await vaultRows(), [], 'demo\'s row is gone from the shared store');
  assert.ok(up.stats().revocations.length > revokes, 'revoked at the upstream\'s revocation endpoint');
  assertLinkRequired(await call('demo', 'a'), 'demo through A after revoking on B');
});

nodesTest('neither node logged an error, nor a warning but "connect your account first"', {}, async (t) => {
  for (const n of ['a', 'b']) {
    const bad = nodes[n].errorLog().split('\n')
      .filter((l) => /\[[a-z_0-9]+:(emerg|alert|crit|error|warn)\]/.test(l))
      .filter((l) => !/MCP01812: backend upstream: initialize failed: Connect your upstream account first/.test(l));
    t.diagnostic(`node ${n}: ${nodes[n].errorLog().split('\n').filter(Boolean).length} lines in error_log`);
    assert.deepEqual(bad, [], `node ${n}'s error_log`);
  }
});
