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

// Enterprise sign-in, end to end, in a real browser: the authorization
// endpoint is behind Debian's mod_auth_openidc, the IdP is oidc-provider,
// and the IdP's "groups" claim decides which scopes a user may be
// granted (MCPAuthzScope require="claim ..." and expr= on the claim's
// environment variable). For alice (group mcp-admins) and bob (not), the
// SDK runs its whole OAuth flow from the 401 at /mcp while headless
// Chromium signs in at the IdP, consents there and on the gateway's
// consent page; then the SDK's step-up at /mcp/admin gets alice the admin
// scopes and bob nothing more. Also in Chromium: the consent page cannot
// be framed and shows a hostile client name as text.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import {
  accessSync, constants, copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { TestProvider, jwtClaims, rpcWithAuth } from './lib/oauth.mjs';
import {
  ACCOUNTS, SCOPES, SRC, alive, portOpen, processesIn, startStack,
} from './lib/openidc.mjs';

// Screenshots go with the logs of scripts/check, or into the run
// directory when the tree is not writable.
let shots = path.join(SRC, 'build/check-logs');
const TEST_MS = 60_000;   // each test, whatever the runner's timeout
const PNG_MAGIC = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

let dir, stack, gw, idp, site;
const users = {};    // login -> { browser, provider, token }

before(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'mcp-e2e-oidc-'));
  stack = await startStack(dir);
  ({ gw, idp, site } = stack);
  try {
    mkdirSync(shots, { recursive: true });
    accessSync(shots, constants.W_OK);
  } catch {
    shots = path.join(dir, 'screenshots');
    mkdirSync(shots);
  }
  // One browser, with its own profile, per user.
  const [alice, bob] = await Promise.all([stack.browser('alice'), stack.browser('bob')]);
  users.alice = { browser: alice };
  users.bob = { browser: bob };
}, { timeout: 2 * TEST_MS });

after(async () => {
  await stack?.stop();
  // The logs of the run stay next to the screenshots.
  if (dir && shots && !shots.startsWith(dir)) {
    for (const [from, to] of [['logs/error_log', 'openidc-error_log'], ['logs/access_log', 'openidc-access_log']]) {
      try {
        copyFileSync(path.join(dir, from), path.join(shots, to));
      } catch { /* not started */ }
    }
    if (idp) {
      writeFileSync(path.join(shots, 'openidc-idp.log'), idp.output);
    }
  }
  if (dir && !process.env.MCP_E2E_KEEP) {
    rmSync(dir, { recursive: true, force: true });
  }
}, { timeout: TEST_MS });

// @promise, or a rejection naming @what after @ms: every wait of this
// file is bounded, and a hang says where it was.
function bounded(what, promise, ms = 15_000) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what}: no result in ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

async function newPage(browser) {
  return bounded('opening a browser tab', browser.newPage());
}

async function closePage(page) {
  await bounded('closing a browser tab', page.close()).catch(() => {});
}

function logTail() {
  return `\n--- gateway error_log (tail) ---\n${gw.errorLog().split('\n').slice(-40).join('\n')}`
    + `\n--- IdP output (tail) ---\n${idp.output.split('\n').slice(-20).join('\n')}`;
}

function pkce() {
  const verifier = randomBytes(32).toString('base64url');
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') };
}

function authorizationUrl(clientId, { scope, state, prompt }) {
  const u = new URL('/oauth/authorize', gw.url);
  u.search = new URLSearchParams({
    response_type: 'code',
    client_id: clientId,
    redirect_uri: site.redirectUri,
    code_challenge: pkce().challenge,
    code_challenge_method: 'S256',
    state,
    resource: `${gw.url}/mcp`,
    ...(scope ? { scope } : {}),
    ...(prompt ? { prompt } : {}),
  }).toString();
  return u.href;
}

// What the gateway's consent page shows, read in the browser.
async function readConsent(page) {
  return bounded('reading the consent page', page.evaluate(() => ({
    title: document.title,
    client: document.querySelector('.client')?.textContent,
    user: [...document.querySelectorAll('main p')]
      .find((p) => p.textContent.startsWith('You are signed in as'))
      ?.querySelector('strong')?.textContent,
    scopes: [...document.querySelectorAll('ul.scopes li')].map((li) => ({
      scope: li.querySelector('code')?.textContent,
      text: li.textContent.replace(li.querySelector('code')?.textContent ?? '', '').trim(),
    })),
    images: document.querySelectorAll('img').length,
    withHandlers: document.querySelectorAll('[onerror], [onload]').length,
    allow: document.querySelectorAll('button.allow').length,
  })));
}

// The SDK's OAuthClientProvider whose "redirect" opens the authorization
// URL in @browser and answers, as @login would, whatever the browser is
// shown: the IdP's sign-in and consent pages, the gateway's consent page
// (Allow). What each sign-in saw is in signIns.
class BrowserProvider extends TestProvider {
  constructor({ browser, login, clientName }) {
    // Without refresh_token: SDK 1.32.2 signs in again for a step-up only
    // when it holds no refresh token (see sdk.test.mjs).
    super({ redirectUrl: site.redirectUri, clientName, grantTypes: ['authorization_code'] });
    this.browser = browser;
    this.login = login;
    this.signIns = [];
  }

  redirectToAuthorization(url) {
    this.authorizationUrls.push(new URL(url));
    this.pending = this.signIn(new URL(url));
    this.pending.catch(() => {});
  }

  async signIn(url) {
    const seen = {
      pages: [],          // what the user was asked, in order
      trail: [],          // every main-frame navigation, redirects too
      consentAnswers: [], // the gateway's answers with its consent page
    };
    this.signIns.push(seen);
    const state = url.searchParams.get('state');
    const arrival = site.arrival(state, 45_000);
    arrival.catch(() => {});
    const page = await newPage(this.browser);
    page.on('request', (req) => {
      if (req.isNavigationRequest() && req.frame() === page.mainFrame()) {
        const origin = req.method() === 'POST' ? ` (Origin: ${req.headers().origin})` : '';
        seen.trail.push(`${req.method()} ${req.url()}${origin}`);
      }
    });
    page.on('response', (res) => {
      const u = new URL(res.url());
      if (u.origin === gw.url && u.pathname === '/oauth/authorize'
          && res.request().method() === 'GET' && res.status() === 200) {
        seen.consentAnswers.push({ status: res.status(), headers: res.headers() });
      }
    });
    // Click, then wait until the browser has left the page.
    const submit = async (selector) => {
      const from = page.url();
      await page.click(selector);
      await page.waitForURL((u) => u.href !== from);
    };
    const account = ACCOUNTS[this.login];
    try {
      await page.goto(url.href);
      for (let i = 0; i < 4; i++) {
        const next = page.locator('#sign-in, #idp-allow, button.allow').first();
        const shown = await Promise.race([
          arrival.then(() => null),
          next.waitFor().then(() => next.evaluate((el) => el.id || el.className)),
        ]);
        if (!shown) {
          break;    // the client has its answer
        }
        if (shown === 'sign-in') {
          seen.pages.push('idp-login');
          await page.fill('#login', this.login);
          await page.fill('#password', account.password);
          await submit('#sign-in');
        }
        else if (shown === 'idp-allow') {
          seen.pages.push('idp-consent');
          seen.idpConsent = await bounded('reading the IdP consent page', page.evaluate(() => ({
            client: document.querySelector('#idp-client')?.textContent,
            scopes: [...document.querySelectorAll('#idp-scopes li')].map((li) => li.textContent),
            claims: [...document.querySelectorAll('#idp-claims li')].map((li) => li.textContent),
          })));
          await submit('#idp-allow');
        }
        else {
          seen.pages.push('consent');
          seen.consent = await readConsent(page);
          seen.shot = path.join(shots,
            `openidc-consent-${this.login}-${this.signIns.length}.png`);
          await page.screenshot({ path: seen.shot, fullPage: true });
          await submit('button.allow');
        }
      }
      const params = await arrival;
      seen.referer = site.referer(state);
      return { params, consentPage: seen.consent ?? null };
    } catch (e) {
      e.message += `\nbrowser at ${page.url()}\ntrail:\n${seen.trail.join('\n')}${logTail()}`;
      throw e;
    } finally {
      await closePage(page);
    }
  }
}

async function post(pathname, token, body = { jsonrpc: '2.0', id: 1, method: 'ping' }) {
  const res = await fetch(new URL(pathname, gw.url), {
    method: 'POST',
    headers: {
      'Content-Type': 'application/json',
      Accept: 'application/json, text/event-stream',
      ...(token ? { Authorization: `Bearer ${token}` } : {}),
    },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(10_000),
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, text };
}

const ping = (id) => ({ jsonrpc: '2.0', id, method: 'ping' });
const pong = (id) => ({ jsonrpc: '2.0', id, result: {} });
const ADMIN = ['audit:read', 'mcp', 'mcp:admin'];

function scopesOf(challenge) {
  return /scope="([^"]*)"/.exec(challenge ?? '')?.[1].split(' ').sort();
}

// The consent page's list, sorted, against @scopes with their texts.
function assertScopeList(consent, scopes) {
  assert.deepEqual([...consent.scopes].sort((a, b) => a.scope.localeCompare(b.scope)),
    scopes.map((s) => ({ scope: s, text: SCOPES[s] })),
    'the scopes, each with its consent text');
}

function assertScreenshot(file) {
  const png = readFileSync(file);
  assert.ok(png.length > 2000, `the screenshot ${file} has content (${png.length} bytes)`);
  assert.deepEqual(png.subarray(0, 8), PNG_MAGIC, 'the screenshot is a PNG');
  assert.ok(png.readUInt32BE(16) > 0 && png.readUInt32BE(20) > 0, 'with a size');
}

test('without a token: 401 challenges, /mcp for its scope, /mcp/admin for the admin scopes', { timeout: TEST_MS }, async () => {
  for (const [section, scopes] of [['/mcp', ['mcp']], ['/mcp/admin', ADMIN]]) {
    const { status, headers } = await post(section);
    assert.equal(status, 401, section);
    const challenge = headers.get('www-authenticate');
    assert.match(challenge, new RegExp(`^Bearer resource_metadata="${gw.url}/\\.well-known/oauth-protected-resource/mcp"`));
    assert.deepEqual(scopesOf(challenge), scopes, `${section}: ${challenge}`);
  }
});

for (const login of ['alice', 'bob']) {
  test(`${login}: the SDK's flow through mod_auth_openidc, the IdP's sign-in and consent and the gateway's consent page in Chromium, then ping /mcp`, { timeout: TEST_MS }, async () => {
    const account = ACCOUNTS[login];
    const provider = new BrowserProvider({ browser: users[login].browser, login,
      clientName: `${login}'s MCP client` });
    users[login].provider = provider;
    const answer = await bounded('the SDK\'s authorization and ping',
      rpcWithAuth(`${gw.url}/mcp`, provider, ping(7)), 45_000);
    assert.deepEqual(answer, pong(7));
    assert.equal(provider.signIns.length, 1);
    const [seen] = provider.signIns;
    assert.deepEqual(seen.pages, ['idp-login', 'idp-consent', 'consent']);

    // The way the browser went: the gateway, the IdP's authorization
    // endpoint and sign-in, mod_auth_openidc's callback, the gateway's
    // consent page, the client's redirect URI.
    const names = { [gw.url]: 'gw', [idp.issuer]: 'idp', [site.origin]: 'client' };
    const hops = seen.trail.map((t) => {
      const [method, url] = t.split(' ');
      const u = new URL(url);
      return `${method} ${names[u.origin] ?? u.origin}${u.pathname}`;
    });
    const order = ['GET gw/oauth/authorize', 'GET idp/auth', 'POST idp/interaction/', 'GET gw/oidc/callback',
      'GET gw/oauth/authorize', 'POST gw/oauth/authorize', 'GET client/callback'];
    let at = 0;
    for (const h of hops) {
      if (at < order.length && h.startsWith(order[at])) {
        at++;
      }
    }
    assert.equal(at, order.length, `the browser went ${order.join(' -> ')}:\n${hops.join('\n')}`);
    // The consent form is a same-origin POST for the browser too (the
    // page's referrer policy decides what Origin it sends) ...
    assert.ok(seen.trail.includes(`POST ${gw.url}/oauth/authorize (Origin: ${gw.url})`),
      `the consent form went with Origin ${gw.url}:\n${seen.trail.join('\n')}`);
    // ... and the client's redirect URI learns nothing of the page's URL.
    assert.equal(seen.referer, undefined, 'no Referer at the redirect URI');
    assert.ok(seen.idpConsent.scopes.includes('groups'),
      `the IdP was asked for the groups: ${JSON.stringify(seen.idpConsent)}`);

    // The consent page as the browser shows it.
    assert.equal(seen.consent.user, account.sub, 'signed in as the IdP subject (OIDCRemoteUserClaim sub)');
    assert.equal(seen.consent.client, `${login}'s MCP client`);
    assertScopeList(seen.consent, ['mcp']);
    assert.equal(seen.consentAnswers.length, 1, 'one consent page');
    assert.equal(seen.consentAnswers[0].headers['x-frame-options'], 'DENY');
    assert.match(seen.consentAnswers[0].headers['content-security-policy'], /frame-ancestors 'none'/);
    assertScreenshot(seen.shot);

    // The token: for the IdP's subject, with the scope asked for.
    const claims = jwtClaims(provider.tokens().access_token);
    assert.equal(claims.sub, account.sub);
    assert.equal(claims.iss, gw.url);
    assert.equal(claims.client_id, provider.clientInformation().client_id);
    assert.equal(claims.scope, 'mcp');
  });
}

test('alice: step-up at /mcp/admin: her groups allow both admin scopes, the consent page lists them, the SDK pings', { timeout: TEST_MS }, async () => {
  const { provider } = users.alice;
  assert.ok(provider?.tokens(), 'alice signed in');
  const answer = await bounded('the SDK\'s step-up and ping',
    rpcWithAuth(`${gw.url}/mcp/admin`, provider, ping(8)), 45_000);
  assert.deepEqual(answer, pong(8));
  assert.equal(provider.signIns.length, 2, 'one more sign-in');
  assert.deepEqual(scopesOf(`scope="${provider.authorizationUrls[1].searchParams.get('scope')}"`), ADMIN,
    'the SDK asked for the 403\'s scope');
  const seen = provider.signIns[1];
  assert.deepEqual(seen.pages, ['consent'], 'mod_auth_openidc\'s session: no IdP page this time');
  assert.equal(seen.consent.user, ACCOUNTS.alice.sub);
  assertScopeList(seen.consent, ADMIN);
  assertScreenshot(seen.shot);
  const claims = jwtClaims(provider.tokens().access_token);
  assert.deepEqual(claims.scope.split(' ').sort(), ADMIN);
  users.alice.token = provider.tokens().access_token;
});

test('bob: step-up at /mcp/admin: the gateway leaves out what his groups do not allow, the SDK stops with a clear error', { timeout: TEST_MS }, async () => {
  const { provider } = users.bob;
  assert.ok(provider?.tokens(), 'bob signed in');
  await assert.rejects(bounded('the SDK\'s step-up',
    rpcWithAuth(`${gw.url}/mcp/admin`, provider, ping(9), { attempts: 5 }), 45_000),
  /Server returned 403 after trying upscoping/);
  assert.equal(provider.signIns.length, 2, 'one more sign-in, not a loop');
  assert.deepEqual(scopesOf(`scope="${provider.authorizationUrls[1].searchParams.get('scope')}"`), ADMIN);
  const seen = provider.signIns[1];
  assert.deepEqual(seen.pages, [], 'no page: what he may have, he consented to already');
  assert.ok(provider.approvals[1].params.code, 'a code for what he may have');
  assert.equal(jwtClaims(provider.tokens().access_token).scope, 'mcp');
  const log = gw.errorLog();
  assert.match(log, new RegExp(`scope mcp:admin is not granted to ${ACCOUNTS.bob.sub} \\(its rule says no\\)`));
  assert.match(log, new RegExp(`scope audit:read is not granted to ${ACCOUNTS.bob.sub} \\(its rule says no\\)`));
  assert.doesNotMatch(log, new RegExp(`is not granted to ${ACCOUNTS.alice.sub}`));
  users.bob.token = provider.tokens().access_token;
});

test('the gateway enforces the difference: alice\'s token passes /mcp/admin, bob\'s gets 403 insufficient_scope', { timeout: TEST_MS }, async () => {
  assert.ok(users.alice?.token && users.bob?.token, 'both users have tokens');
  const a = await post('/mcp/admin', users.alice.token);
  assert.equal(a.status, 200, `alice: ${a.text}`);
  assert.deepEqual(JSON.parse(a.text), pong(1));
  const b = await post('/mcp/admin', users.bob.token);
  assert.equal(b.status, 403, `bob: ${b.text}`);
  const challenge = b.headers.get('www-authenticate');
  assert.match(challenge, /error="insufficient_scope"/);
  assert.deepEqual(scopesOf(challenge), ADMIN);
  for (const login of ['alice', 'bob']) {
    const r = await post('/mcp', users[login].token);
    assert.equal(r.status, 200, `${login} at /mcp: ${r.text}`);
  }
});

test('bob asking only for the admin scope gets invalid_scope at his redirect URI, with iss', { timeout: TEST_MS }, async () => {
  const { browser, provider } = users.bob;
  const state = `st-${randomBytes(8).toString('hex')}`;
  const page = await newPage(browser);
  const idpHits = [];
  page.on('request', (req) => {
    if (req.url().startsWith(idp.issuer)) idpHits.push(req.url());
  });
  try {
    const arrival = site.arrival(state);
    await page.goto(authorizationUrl(provider.clientInformation().client_id, { scope: 'mcp:admin', state }));
    const params = await arrival;
    assert.equal(params.error, 'invalid_scope', JSON.stringify(params));
    assert.equal(params.iss, gw.url);
    assert.equal(params.state, state);
    assert.equal(params.code, undefined);
    assert.deepEqual(idpHits, [], 'bob\'s mod_auth_openidc session was used, the IdP not asked again');
  } finally {
    await closePage(page);
  }
});

test('alice asking only for the admin scope gets it: the rule, not the request, made the difference', { timeout: TEST_MS }, async () => {
  const { browser, provider } = users.alice;
  const state = `st-${randomBytes(8).toString('hex')}`;
  const page = await newPage(browser);
  try {
    // Her consent for her client covers it: no page, a code.
    const arrival = site.arrival(state);
    await page.goto(authorizationUrl(provider.clientInformation().client_id, { scope: 'mcp:admin', state }));
    const params = await arrival;
    assert.equal(params.error, undefined, JSON.stringify(params));
    assert.ok(params.code, 'a code');
    assert.equal(params.iss, gw.url);
  } finally {
    await closePage(page);
  }
});

test('the consent page does not render in a frame of another page', { timeout: TEST_MS }, async () => {
  const { browser, provider } = users.alice;
  const page = await newPage(browser);
  try {
    const src = authorizationUrl(provider.clientInformation().client_id,
      { scope: 'mcp', state: `st-${randomBytes(8).toString('hex')}`, prompt: 'consent' });
    const answered = page.waitForResponse((res) => res.url() === src);
    await page.goto(`${site.origin}/frame?src=${encodeURIComponent(src)}`);
    const res = await answered;
    // The gateway did answer the framed request with its consent page
    // (alice's session cookie went along: not a redirect to the IdP) ...
    assert.match((await res.request().allHeaders()).cookie ?? '', /mod_auth_openidc_session=/);
    assert.equal(res.status(), 200);
    assert.match(res.headers()['content-type'], /^text\/html/);
    assert.equal(res.headers()['x-frame-options'], 'DENY');
    assert.match(res.headers()['content-security-policy'], /frame-ancestors 'none'/);
    // ... and the browser refused to show it, while it shows a frame that
    // allows framing.
    const control = page.frame({ name: 'control' });
    await control.locator('#control').waitFor();
    assert.equal(await control.locator('#control').textContent(), 'control-frame-ok');
    const framed = page.frame({ name: 'framed' });
    await page.waitForTimeout(300);
    let buttons = 0;
    try {
      buttons = await framed.locator('button.allow').count();
    } catch {
      buttons = 0;   // an error page the test cannot read
    }
    assert.equal(buttons, 0, `the framed page rendered (frame at ${framed.url()})`);
    assert.notEqual(framed.url(), src, `the frame is not at the consent page: ${framed.url()}`);
  } finally {
    await closePage(page);
  }
});

test('a hostile client_name is shown as text on the consent page', { timeout: TEST_MS }, async () => {
  const hostile = '<img src=x onerror="document.title=\'pwned\';window.__pwned=1">Evil & Co';
  const reg = await fetch(`${gw.url}/oauth/register`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({
      client_name: hostile,
      redirect_uris: [site.redirectUri],
      grant_types: ['authorization_code'],
      response_types: ['code'],
      token_endpoint_auth_method: 'none',
    }),
    signal: AbortSignal.timeout(10_000),
  });
  assert.equal(reg.status, 201, await reg.clone().text());
  const client = await reg.json();
  const { browser } = users.alice;
  const page = await newPage(browser);
  try {
    const state = `st-${randomBytes(8).toString('hex')}`;
    await page.goto(authorizationUrl(client.client_id, { scope: 'mcp', state }));
    await page.locator('button.allow').waitFor();
    const consent = await readConsent(page);
    assert.equal(consent.client, hostile, 'the name, character for character, as text');
    assert.equal(consent.title, `Allow ${hostile}?`);
    assert.equal(consent.images, 0, 'no <img> element made of it');
    assert.equal(consent.withHandlers, 0, 'no element with an event handler');
    assert.equal(await bounded('reading window.__pwned', page.evaluate(() => window.__pwned)), undefined);
    // Deny: the client hears access_denied.
    const arrival = site.arrival(state);
    await page.click('button.deny');
    const params = await arrival;
    assert.equal(params.error, 'access_denied');
    assert.equal(params.iss, gw.url);
  } finally {
    await closePage(page);
  }
});

test('stopping ends httpd, the IdP and both browsers, and frees the ports', { timeout: TEST_MS }, async () => {
  const running = processesIn(dir);
  assert.ok(running.some((p) => /apache2|httpd/.test(p.cmd)), `httpd runs: ${JSON.stringify(running)}`);
  assert.ok(running.some((p) => /oidc-idp\.mjs/.test(p.cmd)), 'the IdP runs');
  assert.ok(running.some((p) => /chromium-alice/.test(p.cmd)) && running.some((p) => /chromium-bob/.test(p.cmd)),
    'both browsers run');
  const started = Date.now();
  await stack.stop();
  assert.ok(Date.now() - started < 30_000, 'within 30 s');
  for (const [name, port] of Object.entries(stack.ports)) {
    assert.equal(await portOpen(port), false, `${name} port ${port} is closed`);
  }
  const left = running.filter((p) => alive(p.pid));
  assert.deepEqual(left, [], 'no process of the run is left');
  assert.deepEqual(processesIn(dir), [], 'nothing runs in the run directory');
});
