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
    throw new Error(`authorization answered ${res.status}: ${(await res.text()).slice(0, 300)}`);
  }
  const location = res.headers.get('location');
  return { location, params: Object.fromEntries(new URL(location).searchParams), consentPage };
}

// An OAuthClientProvider that keeps everything in memory and "redirects"
// the user by running approve() as @user.
export class TestProvider {
  constructor({ user, password, redirectUrl = 'http://127.0.0.1:53682/callback',
    clientName = 'mod_mcp e2e', scope, clientMetadataUrl } = {}) {
    this.user = user;
    this.password = password;
    this._redirectUrl = redirectUrl;
    this.clientName = clientName;
    this.scope = scope;
    if (clientMetadataUrl) {
      this.clientMetadataUrl = clientMetadataUrl;
    }
    this._client = undefined;
    this._tokens = undefined;
    this._verifier = undefined;
    this.pending = null;      // the approval in progress
    this.authorizationUrls = [];
  }

  get redirectUrl() { return this._redirectUrl; }

  get clientMetadata() {
    return {
      client_name: this.clientName,
      redirect_uris: [this._redirectUrl],
      grant_types: ['authorization_code', 'refresh_token'],
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
    this.pending = approve(url, this.user, this.password);
  }
}

// Send one JSON-RPC message to @mcpUrl through the SDK's transport with
// @provider, completing an authorization the first attempt asks for.
// Returns the response message.
export async function rpcWithAuth(mcpUrl, provider, message) {
  for (let attempt = 0; attempt < 3; attempt++) {
    const transport = new StreamableHTTPClientTransport(new URL(mcpUrl), { authProvider: provider });
    const answer = new Promise((resolve, reject) => {
      transport.onmessage = resolve;
      transport.onerror = reject;
    });
    // send() reports its failure to onerror too: the rejection is also
    // seen by the catch below.
    answer.catch(() => {});
    try {
      await transport.start();
      await transport.send(message);
      const msg = await Promise.race([answer,
        new Promise((_, reject) => setTimeout(() => reject(new Error('no answer in 15 s')), 15000))]);
      await transport.close();
      return msg;
    } catch (e) {
      await transport.close().catch(() => {});
      if (!(e instanceof UnauthorizedError) || !provider.pending) {
        throw e;
      }
      const { params } = await provider.pending;
      provider.pending = null;
      if (!params.code) {
        throw new Error(`the authorization gave no code: ${JSON.stringify(params)}`);
      }
      const finish = new StreamableHTTPClientTransport(new URL(mcpUrl), { authProvider: provider });
      await finish.finishAuth(params.code);
    }
  }
  throw new Error('authorization did not complete in 3 attempts');
}
