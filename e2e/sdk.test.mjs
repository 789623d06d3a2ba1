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

// @modelcontextprotocol/sdk's OAuth client against the gateway, every step
// through the gateway's own endpoints: discovery from the 401, protected
// resource and authorization server metadata, dynamic registration, the
// authorization request (PKCE S256, resource, state), the code exchange,
// ping on /mcp; refresh after the access token is revoked; step-up on a
// 403 insufficient_scope; a user who may not have the step-up scope; and
// Client ID Metadata Documents served from 127.0.0.1.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startGateway } from './lib/gateway.mjs';
import { TestProvider, jwtClaims, recordingFetch, rpcWithAuth } from './lib/oauth.mjs';
import { processesOf } from './lib/proc.mjs';

const REDIRECT = 'http://127.0.0.1:53682/callback';
const ping = (id) => ({ jsonrpc: '2.0', id, method: 'ping' });
const pong = (id) => ({ jsonrpc: '2.0', id, result: {} });

let gw, meta, stopped = false, tlsDir, trusted, untrusted;
const servers = [];

// A self-signed certificate for 127.0.0.1 in @dir/@name-{key,cert}.pem.
function selfSigned(dir, name) {
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256',
    '-nodes', '-keyout', `${dir}/${name}-key.pem`, '-out', `${dir}/${name}-cert.pem`, '-days', '1',
    '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' });
  chmodSync(`${dir}/${name}-cert.pem`, 0o644);
  return { key: readFileSync(`${dir}/${name}-key.pem`), cert: readFileSync(`${dir}/${name}-cert.pem`) };
}

before(async () => {
  // The gateway trusts one certificate for metadata documents
  // (MCPAuthzClientMetadataCA), as a site with a private CA would; httpd's
  // children read it, so the directory is open to them.
  tlsDir = mkdtempSync(path.join(tmpdir(), 'mcp-e2e-tls-'));
  chmodSync(tlsDir, 0o755);
  trusted = selfSigned(tlsDir, 'trusted');
  untrusted = selfSigned(tlsDir, 'untrusted');
  gw = await startGateway({ config: [`MCPAuthzClientMetadataCA "${tlsDir}/trusted-cert.pem"`] });
  meta = await (await fetch(`${gw.origin}/.well-known/oauth-authorization-server`)).json();
});

after(async () => {
  for (const s of servers) {
    s.closeAllConnections?.();
    await new Promise((r) => s.close(r));
  }
  if (gw && !stopped) {
    await gw.stop();
  }
  if (tlsDir) {
    rmSync(tlsDir, { recursive: true, force: true });
  }
});

// POST a ping to @url with @token; the status, challenge and body.
async function rawPing(url, token) {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Accept: 'application/json, text/event-stream',
      ...(token ? { Authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify(ping(99)),
  });
  return { status: res.status, challenge: res.headers.get('www-authenticate'), body: await res.text() };
}

const steps = (log) => log.map((e) => `${e.method} ${new URL(e.url).pathname} ${e.status}`);
const form = (e) => Object.fromEntries(new URLSearchParams(e.body));

let demo;   // the first provider: demo, registered with refresh tokens

test('the SDK discovers the gateway from the 401, registers, signs demo in (PKCE, resource, state) and pings /mcp', async () => {
  const log = [];
  demo = new TestProvider({ user: 'demo', password: gw.password, redirectUrl: REDIRECT });
  const answer = await rpcWithAuth(gw.mcpUrl, demo, ping(1), { fetch: recordingFetch(log) });
  assert.deepEqual(answer, pong(1));

  // Every request the SDK made, in order; the user's visit to the
  // authorization endpoint is approve()'s, between the registration and
  // the code exchange.
  assert.deepEqual(steps(log), [
    'POST /mcp 401',
    'GET /.well-known/oauth-protected-resource/mcp 200',
    'GET /.well-known/oauth-authorization-server 200',
    'POST /oauth/register 201',
    'GET /.well-known/oauth-protected-resource/mcp 200',
    'GET /.well-known/oauth-authorization-server 200',
    'POST /oauth/token 200',
    'POST /mcp 200',
  ]);
  const reg = JSON.parse(log[3].body);
  assert.deepEqual(reg.redirect_uris, [REDIRECT]);
  assert.equal(reg.token_endpoint_auth_method, 'none');
  assert.equal(reg.scope, 'mcp', 'the SDK registers the scope of the challenge');
  const clientId = demo.clientInformation().client_id;
  assert.match(clientId, /^dcr-[0-9a-f]{32}$/);

  assert.equal(demo.authorizationUrls.length, 1);
  const az = demo.authorizationUrls[0];
  assert.equal(`${az.origin}${az.pathname}`, meta.authorization_endpoint);
  const q = Object.fromEntries(az.searchParams);
  assert.equal(q.response_type, 'code');
  assert.equal(q.client_id, clientId);
  assert.equal(q.redirect_uri, REDIRECT);
  assert.equal(q.code_challenge_method, 'S256');
  assert.match(q.code_challenge, /^[A-Za-z0-9_-]{43}$/);
  assert.equal(q.scope, 'mcp');
  assert.equal(q.resource, gw.mcpUrl);
  assert.ok(q.state, 'the SDK sends the state the app gave it');
  const { params, consentPage } = demo.approvals[0];
  assert.match(consentPage, /mod_mcp e2e/, 'the consent page names the client');
  assert.equal(params.iss, gw.issuer, 'RFC 9207 iss in the authorization response');
  assert.equal(params.state, q.state);

  const tok = form(log[6]);
  assert.equal(tok.grant_type, 'authorization_code');
  assert.equal(tok.redirect_uri, REDIRECT);
  assert.equal(tok.resource, gw.mcpUrl);
  assert.equal(tok.client_id, clientId);
  assert.equal(createHash('sha256').update(tok.code_verifier).digest('base64url'), q.code_challenge,
    'the verifier is the one of the challenge');

  const t = demo.tokens();
  assert.ok(t.refresh_token, 'a refresh token');
  assert.equal(t.scope, 'mcp');
  const claims = jwtClaims(t.access_token);
  assert.equal(claims.iss, gw.issuer);
  assert.equal(claims.aud, gw.mcpUrl);
  assert.equal(claims.sub, 'demo');
  assert.equal(claims.client_id, clientId);
  assert.equal(claims.scope, 'mcp');
});

test('after its access token is revoked the SDK refreshes, gets a rotated refresh token and goes on', async () => {
  const old = demo.tokens();
  const clientId = demo.clientInformation().client_id;
  const rev = await fetch(meta.revocation_endpoint, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ token: old.access_token, token_type_hint: 'access_token', client_id: clientId }),
  });
  assert.equal(rev.status, 200);
  const refused = await rawPing(gw.mcpUrl, old.access_token);
  assert.equal(refused.status, 401);
  assert.match(refused.challenge, /error="invalid_token"/);

  const log = [];
  const answer = await rpcWithAuth(gw.mcpUrl, demo, ping(2), { fetch: recordingFetch(log) });
  assert.deepEqual(answer, pong(2));
  assert.equal(demo.authorizationUrls.length, 1, 'no new sign-in');
  const refresh = log.filter((e) => e.method === 'POST' && new URL(e.url).pathname === '/oauth/token');
  assert.equal(refresh.length, 1);
  const body = form(refresh[0]);
  assert.equal(body.grant_type, 'refresh_token');
  assert.equal(body.refresh_token, old.refresh_token);
  assert.equal(body.resource, gw.mcpUrl);
  const now = demo.tokens();
  assert.notEqual(now.access_token, old.access_token);
  assert.ok(now.refresh_token && now.refresh_token !== old.refresh_token, 'the refresh token rotated');
  assert.equal(now.scope, 'mcp');
  assert.equal((await rawPing(gw.mcpUrl, now.access_token)).status, 200);
});

test('step-up: a 403 insufficient_scope at /mcp/admin makes the SDK sign in again for the challenge\'s scope', async () => {
  // Registered without refresh_token: the SDK 1.32.2 re-authorizes only
  // when it holds no refresh token (see the next test).
  const p = new TestProvider({ user: 'demo', password: gw.password, redirectUrl: REDIRECT,
    clientName: 'e2e step-up', grantTypes: ['authorization_code'] });
  assert.deepEqual(await rpcWithAuth(gw.mcpUrl, p, ping(3)), pong(3));
  const first = p.tokens();
  assert.equal(first.refresh_token, undefined);
  assert.equal(first.scope, 'mcp');

  const denied = await rawPing(gw.adminUrl, first.access_token);
  assert.equal(denied.status, 403);
  assert.match(denied.challenge, new RegExp(`^Bearer resource_metadata="${gw.origin}/\\.well-known/oauth-protected-resource/mcp", scope="ev1:write mcp", error="insufficient_scope"`));

  assert.deepEqual(await rpcWithAuth(gw.adminUrl, p, ping(4)), pong(4));
  assert.equal(p.authorizationUrls.length, 2);
  const q = Object.fromEntries(p.authorizationUrls[1].searchParams);
  assert.equal(q.scope, 'ev1:write mcp', 'the SDK asks for the challenge\'s scope');
  assert.equal(q.resource, gw.mcpUrl);
  assert.match(p.approvals[1].consentPage, /ev1:write/, 'the user consents to the new scope');
  const t = p.tokens();
  assert.equal(t.scope, 'ev1:write mcp');
  assert.equal(jwtClaims(t.access_token).scope, 'ev1:write mcp');
  assert.equal((await rawPing(gw.mcpUrl, t.access_token)).status, 200, 'the new token keeps the old scope');
});

test('step-up with a refresh token: SDK 1.32.2 refreshes instead of asking the user and stops with a clear error; the refresh does not widen the scope', async () => {
  // typescript-sdk#2255: authInternal() refreshes whenever it holds a
  // refresh token, and a refresh cannot widen the grant (RFC 6749 §6).
  const log = [];
  const before = demo.authorizationUrls.length;
  await assert.rejects(rpcWithAuth(gw.adminUrl, demo, ping(5), { fetch: recordingFetch(log) }),
    /Server returned 403 after trying upscoping/);
  assert.equal(demo.authorizationUrls.length, before, 'no sign-in was started');
  assert.deepEqual(steps(log).filter((s) => s.startsWith('POST')),
    ['POST /mcp/admin 403', 'POST /oauth/token 200', 'POST /mcp/admin 403']);
  assert.equal(form(log.find((e) => e.url.endsWith('/oauth/token'))).grant_type, 'refresh_token');
  assert.equal(demo.tokens().scope, 'mcp');
});

test('a user who may not have the step-up scope ends with a clear error after one more sign-in, not a loop', async () => {
  const p = new TestProvider({ user: 'demo2', password: gw.password, redirectUrl: REDIRECT,
    clientName: 'e2e demo2', grantTypes: ['authorization_code'] });
  assert.deepEqual(await rpcWithAuth(gw.mcpUrl, p, ping(6)), pong(6));
  await assert.rejects(rpcWithAuth(gw.adminUrl, p, ping(7), { attempts: 5 }),
    /Server returned 403 after trying upscoping/);
  assert.equal(p.authorizationUrls.length, 2, 'one step-up sign-in');
  assert.equal(p.authorizationUrls[1].searchParams.get('scope'), 'ev1:write mcp');
  assert.ok(p.approvals[1].params.code, 'the gateway granted what demo2 may have');
  assert.equal(p.approvals[1].consentPage, null, 'the remembered consent covers it: no page');
  assert.equal(p.tokens().scope, 'mcp');
  assert.match(gw.errorLog(), /scope ev1:write is not granted to demo2 \(its rule says no\)/);
});

// A Node server on 127.0.0.1 serving client metadata documents: @docs maps
// a path to a document. Returns { url(path), requests }.
async function docServer(docs, { tls } = {}) {
  const requests = [];
  const handler = (req, res) => {
    requests.push({ method: req.method, url: req.url, accept: req.headers.accept });
    const doc = docs[req.url];
    if (!doc) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'Content-Type': 'application/json', 'Cache-Control': 'max-age=60' });
    res.end(JSON.stringify(doc));
  };
  const server = tls ? https.createServer(tls, handler) : http.createServer(handler);
  const tlsErrors = [];
  server.on('tlsClientError', (e) => tlsErrors.push(e.message));
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  servers.push(server);
  const base = `${tls ? 'https' : 'http'}://127.0.0.1:${server.address().port}`;
  return { url: (p) => `${base}${p}`, requests, tlsErrors };
}

function cimdDoc(url, name) {
  return {
    client_id: url,
    client_name: name,
    redirect_uris: [REDIRECT],
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    token_endpoint_auth_method: 'none',
  };
}

test('CIMD over https: the SDK uses its clientMetadataUrl instead of registering, the gateway fetches the document from 127.0.0.1 and the SDK signs in and pings /mcp', async () => {
  assert.equal(meta.client_id_metadata_document_supported, true);
  const docs = {};
  const srv = await docServer(docs, { tls: trusted });
  const url = srv.url('/client.json');
  docs['/client.json'] = cimdDoc(url, 'e2e CIMD over https');
  const p = new TestProvider({ user: 'demo', password: gw.password, redirectUrl: REDIRECT, clientMetadataUrl: url });
  const log = [];
  assert.deepEqual(await rpcWithAuth(gw.mcpUrl, p, ping(8), { fetch: recordingFetch(log) }), pong(8));
  assert.ok(!steps(log).some((s) => s.includes('/oauth/register')), 'no dynamic registration');
  assert.equal(p.authorizationUrls[0].searchParams.get('client_id'), url, 'the URL is the client_id');
  assert.deepEqual(srv.requests.map((r) => `${r.method} ${r.url} ${r.accept}`), ['GET /client.json application/json'],
    'the gateway fetched the document once');
  assert.match(p.approvals[0].consentPage, /e2e CIMD over https/, 'the consent page names the document\'s client');
  assert.match(p.approvals[0].consentPage, /only returns to your own computer/, 'and warns: loopback redirects only');
  assert.equal(jwtClaims(p.tokens().access_token).client_id, url);
});

test('CIMD over https: a document server whose certificate the gateway does not trust is refused before any request', async () => {
  const docs = {};
  const srv = await docServer(docs, { tls: untrusted });
  const url = srv.url('/client.json');
  docs['/client.json'] = cimdDoc(url, 'e2e CIMD untrusted');
  const p = new TestProvider({ user: 'demo', password: gw.password, redirectUrl: REDIRECT, clientMetadataUrl: url });
  await assert.rejects(rpcWithAuth(gw.mcpUrl, p, ping(11)),
    /authorization answered 400: .*the client's metadata document cannot be fetched: .*certificate/);
  assert.ok(srv.tlsErrors.length > 0, 'the gateway connected and refused the certificate');
  assert.equal(srv.requests.length, 0, 'and sent no request over it');
});

test('CIMD over http on 127.0.0.1 (MCPAuthzClientMetadataLoopback): the gateway fetches the document, the SDK signs in with the URL as client_id and pings /mcp', async () => {
  // The SDK only takes https client metadata URLs: the app knows its URL
  // client id, as after the SDK's CIMD choice, and the SDK runs the rest
  // of the flow; the test directive lets plain http on loopback through.
  const docs = {};
  const srv = await docServer(docs);
  const url = srv.url('/client.json');
  docs['/client.json'] = cimdDoc(url, 'e2e CIMD client');
  const p = new TestProvider({ user: 'demo', password: gw.password, redirectUrl: REDIRECT,
    clientInformation: { client_id: url } });
  const log = [];
  assert.deepEqual(await rpcWithAuth(gw.mcpUrl, p, ping(9), { fetch: recordingFetch(log) }), pong(9));
  assert.ok(!steps(log).some((s) => s.includes('/oauth/register')), 'no dynamic registration');
  assert.deepEqual(srv.requests.map((r) => `${r.method} ${r.url} ${r.accept}`), ['GET /client.json application/json'],
    'fetched once, then cached');
  assert.match(p.approvals[0].consentPage, /e2e CIMD client/, 'the consent page names the document\'s client');
  const claims = jwtClaims(p.tokens().access_token);
  assert.equal(claims.client_id, url);
  assert.equal(claims.aud, gw.mcpUrl);
  assert.ok(p.tokens().refresh_token);
});

test('CIMD: a document whose client_id is not its URL is refused with an error page', async () => {
  const docs = {};
  const srv = await docServer(docs);
  const url = srv.url('/liar.json');
  docs['/liar.json'] = cimdDoc(srv.url('/someone-else.json'), 'e2e liar');
  const p = new TestProvider({ user: 'demo', password: gw.password, redirectUrl: REDIRECT,
    clientInformation: { client_id: url } });
  await assert.rejects(rpcWithAuth(gw.mcpUrl, p, ping(10)), /authorization answered 400: .*the document's client_id is not the URL it was fetched from/);
  assert.equal(srv.requests.length, 1);
  assert.equal(p.tokens(), undefined);
});

test('stopping the gateway leaves no process behind', async () => {
  const running = gw.processes();
  assert.ok(running.some((p) => /apache2|httpd/.test(p.cmd)), `httpd runs: ${JSON.stringify(running)}`);
  const { dir } = gw;
  stopped = true;
  assert.deepEqual(await gw.stop(), [], 'every httpd process ended on SIGTERM');
  assert.deepEqual(processesOf({ dir }), []);
});
