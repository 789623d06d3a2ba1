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

// The enterprise IdP of the end-to-end tests: oidc-provider on 127.0.0.1,
// run as its own process by e2e/lib/openidc.mjs (Node 22):
//
//   node oidc-idp.mjs <run directory>
//
// with the environment IDP_PORT, IDP_CLIENT_ID, IDP_CLIENT_SECRET,
// IDP_REDIRECT_URI (the one confidential client: mod_auth_openidc in front
// of the gateway) and IDP_ACCOUNTS, a JSON object
// { "<login>": { "sub", "password", "name", "groups": [...] } }. The
// account's groups are the "groups" claim (scope "groups"), in the ID
// token and at the userinfo endpoint. Sign-in and consent are the small
// pages of t/fixtures/oidc-interactions.mjs (devInteractions accept any
// password). It prints one line
// "IDP READY <issuer>" when it listens, and stops on SIGTERM.

import http from 'node:http';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import Provider from 'oidc-provider';
import { esc, interactions, page } from '../../t/fixtures/oidc-interactions.mjs';

const env = (name) => {
  const v = process.env[name];
  if (!v) {
    console.error(`oidc-idp: ${name} is not set`);
    process.exit(2);
  }
  return v;
};

const port = Number(env('IDP_PORT'));
const issuer = `http://127.0.0.1:${port}`;
const accounts = JSON.parse(env('IDP_ACCOUNTS'));
const bySub = new Map(Object.entries(accounts).map(([login, a]) => [a.sub, { login, ...a }]));

const signing = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey
  .export({ format: 'jwk' });

const provider = new Provider(issuer, {
  clients: [{
    client_id: env('IDP_CLIENT_ID'),
    client_secret: env('IDP_CLIENT_SECRET'),
    client_name: 'MCP gateway (mod_auth_openidc)',
    redirect_uris: [env('IDP_REDIRECT_URI')],
    response_types: ['code'],
    grant_types: ['authorization_code'],
    token_endpoint_auth_method: 'client_secret_basic',
  }],
  jwks: { keys: [{ ...signing, kid: 'e2e-idp', use: 'sig', alg: 'RS256' }] },
  cookies: { keys: [randomBytes(32).toString('base64url')] },
  claims: {
    openid: ['sub'],
    profile: ['name', 'preferred_username'],
    groups: ['groups'],
  },
  // The claims of the scopes asked for go into the ID token too, not only
  // to the userinfo endpoint: what the RP sees does not depend on whether
  // it calls userinfo.
  conformIdTokenClaims: false,
  features: { devInteractions: { enabled: false } },
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  pkce: { required: () => true },
  ttl: {
    AccessToken: 600, AuthorizationCode: 60, IdToken: 600,
    Interaction: 600, Session: 3600, Grant: 3600,
  },
  async findAccount(ctx, sub) {
    const a = bySub.get(sub);
    if (!a) {
      return undefined;
    }
    return {
      accountId: sub,
      async claims() {
        return { sub, name: a.name, preferred_username: a.login, groups: a.groups };
      },
    };
  },
  async renderError(ctx, out) {
    ctx.type = 'html';
    ctx.body = page('IdP error', `<pre id="idp-error">${esc(JSON.stringify(out))}</pre>`);
  },
});

const interaction = interactions(provider, accounts, { login: 'Sign in to the corporate IdP' });
const callback = provider.callback();
const server = http.createServer((req, res) => {
  if (req.url.startsWith('/interaction/')) {
    interaction(req, res, 'oidc-idp');
    return;
  }
  callback(req, res);
});

provider.on('server_error', (ctx, e) => console.error(`oidc-idp: server_error: ${e.stack || e}`));

server.listen(port, '127.0.0.1', () => {
  console.log(`IDP READY ${issuer}`);
});

const stop = () => {
  server.close(() => process.exit(0));
  server.closeAllConnections();
  setTimeout(() => process.exit(0), 2000).unref();
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
