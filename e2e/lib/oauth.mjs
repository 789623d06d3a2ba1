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

// The end-to-end tests' user: a scripted user agent that signs in at the
// gateway's authorization endpoint (HTTP Basic, as the demo and the test
// configurations protect it) and answers the consent page, and an
// in-memory OAuthClientProvider for @modelcontextprotocol/sdk, so that the
// SDK runs its whole flow (discovery, registration, PKCE, code exchange,
// refresh) against mod_mcp_authz.

import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';

const HIDDEN = /<input type="hidden" name="([^"]+)" value="([^"]*)">/g;

function unescapeHtml(s) {
  return s.replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>').replace(/&amp;/g, '&');
}

function basic(user, password) {
  return `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
}

// What a person reads on the page @html (no comments, tags or styles).
export function pageText(html) {
  return unescapeHtml(html.replace(/<!--[\s\S]*?-->/g, '').replace(/<(style|script)[\s\S]*?<\/\1>/g, '')
    .replace(/<[^>]+>/g, ' ')).replace(/\s+/g, ' ').trim();
}

// The hidden fields of the consent form in @html.
export function consentFields(html) {
  const fields = {};
  for (const m of html.matchAll(HIDDEN)) {
    fields[m[1]] = unescapeHtml(m[2]);
  }
  return fields;
}

// Open @authorizationUrl as @user and answer the consent page with
// @decision ("allow" or "deny"). Returns { location, params, consentPage }:
// where the browser would go next and its query parameters.
export async function approve(authorizationUrl, user, password, decision = 'allow') {
  const auth = { Authorization: basic(user, password) };
  let res = await fetch(authorizationUrl, { headers: auth, redirect: 'manual' });
  let consentPage = null;
  if (res.status === 200) {
    consentPage = await res.text();
    const fields = consentFields(consentPage);
    if (!fields.csrf) {
      throw new Error(`no consent form at ${authorizationUrl}: ${consentPage.slice(0, 300)}`);
    }
    const action = new URL(authorizationUrl);
    res = await fetch(new URL(action.pathname, action), {
      method: 'POST',
      redirect: 'manual',
      headers: { ...auth, 'Content-Type': 'application/x-www-form-urlencoded',
        Origin: action.origin },
      body: new URLSearchParams({ ...fields, decision }),
    });
  }
  if (res.status !== 302) {
    throw new Error(`authorization answered ${res.status}: ${pageText(await res.text()).slice(0, 600)}`);
  }
  const location = res.headers.get('location');
  return { location, params: Object.fromEntries(new URL(location).searchParams), consentPage };
}

// An OAuthClientProvider that keeps everything in memory and "redirects"
// the user by running approve() as @user. Options: `grantTypes` (what it
// registers; without refresh_token the gateway issues no refresh token),
// `clientMetadataUrl` (the SDK then uses a Client ID Metadata Document
// instead of DCR when the server supports it), `clientInformation` (a
// client the app already knows, e.g. a pre-registered or a URL client id).
export class TestProvider {
  constructor({ user, password, redirectUrl = 'http://127.0.0.1:53682/callback',
    clientName = 'mod_mcp e2e', scope, clientMetadataUrl, clientInformation,
    grantTypes = ['authorization_code', 'refresh_token'], decision = 'allow' } = {}) {
    this.user = user;
    this.password = password;
    this._redirectUrl = redirectUrl;
    this.clientName = clientName;
    this.scope = scope;
    this.grantTypes = grantTypes;
    this.decision = decision;
    if (clientMetadataUrl) {
      this.clientMetadataUrl = clientMetadataUrl;
    }
    this._client = clientInformation;
    this._tokens = undefined;
    this._verifier = undefined;
    this.pending = null;      // the approval in progress
    this.authorizationUrls = [];
    this.approvals = [];      // what approve() returned, in order
  }

  get redirectUrl() { return this._redirectUrl; }

  get clientMetadata() {
    return {
      client_name: this.clientName,
      redirect_uris: [this._redirectUrl],
      grant_types: this.grantTypes,
      response_types: ['code'],
      token_endpoint_auth_method: 'none',
      ...(this.scope ? { scope: this.scope } : {}),
    };
  }

  state() { return `st-${Math.random().toString(36).slice(2)}`; }
  clientInformation() { return this._client; }
  saveClientInformation(info) { this._client = info; }
  tokens() { return this._tokens; }
  saveTokens(tokens) { this._tokens = tokens; }
  saveCodeVerifier(v) { this._verifier = v; }
  codeVerifier() { return this._verifier; }
  invalidateCredentials(scope) {
    if (scope === 'all' || scope === 'client') this._client = undefined;
    if (scope === 'all' || scope === 'tokens') this._tokens = undefined;
  }

  redirectToAuthorization(url) {
    this.authorizationUrls.push(new URL(url));
    this.pending = approve(url, this.user, this.password, this.decision);
    // Seen by whoever awaits it; not an unhandled rejection meanwhile.
    this.pending.catch(() => {});
  }

  // The approval started by the last redirect, checked the way a client
  // checks its callback: the state it sent comes back.
  async takeApproval() {
    const pending = this.pending;
    this.pending = null;
    const result = await pending;
    this.approvals.push(result);
    const sent = this.authorizationUrls.at(-1).searchParams.get('state');
    if (result.params.state !== sent) {
      throw new Error(`the callback's state ${result.params.state} is not the one sent (${sent})`);
    }
    return result;
  }
}

function withTimeout(promise, ms, what) {
  let timer;
  return Promise.race([promise, new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer in ${ms} ms`)), ms);
  })]).finally(() => clearTimeout(timer));
}

// Send one JSON-RPC message to @mcpUrl through one SDK transport with
// @provider, completing each authorization the SDK starts (at most
// @attempts), as an app does: the user approves, the app hands the code to
// transport.finishAuth() and sends again on the same transport (so the
// SDK's own guards against repeating itself apply). `fetch` is given to
// the transport (the SDK makes its OAuth requests with it too). Returns
// the response message.
export async function rpcWithAuth(mcpUrl, provider, message, { fetch, attempts = 3, timeoutMs = 15_000 } = {}) {
  const transport = new StreamableHTTPClientTransport(new URL(mcpUrl),
    { authProvider: provider, ...(fetch ? { fetch } : {}) });
  let settle = null;
  transport.onmessage = (m) => settle?.resolve(m);
  transport.onerror = (e) => settle?.reject(e);
  await transport.start();
  try {
    for (let attempt = 0; attempt < attempts; attempt++) {
      const answer = new Promise((resolve, reject) => { settle = { resolve, reject }; });
      // send() reports its failure to onerror too: the rejection is also
      // seen by the catch below.
      answer.catch(() => {});
      try {
        await transport.send(message);
        return await withTimeout(answer, timeoutMs, `${message.method} at ${mcpUrl}`);
      } catch (e) {
        if (!(e instanceof UnauthorizedError) || !provider.pending) {
          throw e;
        }
        const { params } = await provider.takeApproval();
        if (!params.code) {
          throw new Error(`the authorization gave no code: ${JSON.stringify(params)}`);
        }
        await transport.finishAuth(params.code);
      }
    }
    throw new Error(`authorization did not complete in ${attempts} attempts`);
  } finally {
    await transport.close().catch(() => {});
  }
}

// A fetch that records every request (method, URL, headers, body) and its
// status in @log before handing the response back.
export function recordingFetch(log) {
  return async (url, init = {}) => {
    const entry = {
      method: init.method ?? 'GET',
      url: String(url instanceof Request ? url.url : url),
      headers: Object.fromEntries(new Headers(init.headers ?? {})),
      body: typeof init.body === 'string' ? init.body
        : init.body instanceof URLSearchParams ? init.body.toString() : undefined,
    };
    const res = await fetch(url, init);
    entry.status = res.status;
    log.push(entry);
    return res;
  };
}

// The claims of a JWT (not verified: the gateway did that).
export function jwtClaims(token) {
  return JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString('utf8'));
}

// An access token for /mcp of @gw, for @user with @scope (a space-separated
// list), through the gateway's own endpoints as a public client does it:
// dynamic registration, the authorization request (PKCE S256, resource,
// state) answered by approve(), the code exchange. Returns the token
// response (access_token, scope, ...).
export async function issueToken(gw, { user, password = gw.password, scope = 'mcp',
  redirectUrl = 'http://127.0.0.1:53682/callback', clientName = 'mod_mcp e2e token' } = {}) {
  const { createHash, randomBytes } = await import('node:crypto');
  const meta = await (await fetch(`${gw.origin}/.well-known/oauth-authorization-server`)).json();
  const reg = await fetch(meta.registration_endpoint, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ client_name: clientName, redirect_uris: [redirectUrl],
      grant_types: ['authorization_code'], response_types: ['code'],
      token_endpoint_auth_method: 'none', scope }),
  });
  if (reg.status !== 201) {
    throw new Error(`registration answered ${reg.status}: ${await reg.text()}`);
  }
  const { client_id: clientId } = await reg.json();
  const verifier = randomBytes(32).toString('base64url');
  const state = randomBytes(8).toString('hex');
  const az = new URL(meta.authorization_endpoint);
  az.search = new URLSearchParams({ response_type: 'code', client_id: clientId, redirect_uri: redirectUrl,
    code_challenge: createHash('sha256').update(verifier).digest('base64url'),
    code_challenge_method: 'S256', scope, resource: gw.mcpUrl, state }).toString();
  const { params } = await approve(az.toString(), user, password);
  if (!params.code || params.state !== state) {
    throw new Error(`the authorization gave no code: ${JSON.stringify(params)}`);
  }
  const tok = await fetch(meta.token_endpoint, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'authorization_code', code: params.code, redirect_uri: redirectUrl,
      client_id: clientId, code_verifier: verifier, resource: gw.mcpUrl }),
  });
  if (tok.status !== 200) {
    throw new Error(`the token endpoint answered ${tok.status}: ${await tok.text()}`);
  }
  return { ...(await tok.json()), client_id: clientId };
}
