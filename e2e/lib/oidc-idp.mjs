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
// token and at the userinfo endpoint. Sign-in and consent are small pages
// of this file (devInteractions accept any password). It prints one line
// "IDP READY <issuer>" when it listens, and stops on SIGTERM.

import http from 'node:http';
import { generateKeyPairSync, randomBytes, timingSafeEqual } from 'node:crypto';
import Provider from 'oidc-provider';

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

function esc(s) {
  return String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;').replace(/'/g, '&#39;');
}

function page(title, body) {
  return `<!doctype html><html><head><meta charset="utf-8"><title>${esc(title)}</title></head>`
    + `<body><h1>${esc(title)}</h1>${body}</body></html>`;
}

function send(res, status, html) {
  res.writeHead(status, {
    'Content-Type': 'text/html; charset=utf-8',
    'Cache-Control': 'no-store',
  });
  res.end(html);
}

function readForm(req) {
  return new Promise((resolve, reject) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (d) => {
      body += d;
      if (body.length > 16384) {
        reject(new Error('form too large'));
        req.destroy();
      }
    });
    req.on('end', () => resolve(Object.fromEntries(new URLSearchParams(body))));
    req.on('error', reject);
  });
}

function passwordOk(account, given) {
  const a = Buffer.from(account.password);
  const b = Buffer.from(String(given ?? ''));
  return a.length === b.length && timingSafeEqual(a, b);
}

function loginForm(uid, error) {
  return page('Sign in to the corporate IdP',
    (error ? `<p id="login-error">${esc(error)}</p>` : '')
    + `<form method="post" action="/interaction/${esc(uid)}/login">`
    + '<label>User <input id="login" name="login" autocomplete="off" required></label> '
    + '<label>Password <input id="password" name="password" type="password" required></label> '
    + '<button id="sign-in" type="submit">Sign in</button></form>');
}

function consentForm(uid, client, details) {
  const scopes = (details.missingOIDCScope || []).map((s) => `<li>${esc(s)}</li>`).join('');
  const claims = (details.missingOIDCClaims || []).map((c) => `<li>${esc(c)}</li>`).join('');
  return page('Share your identity?',
    `<p id="idp-client">${esc(client?.clientName || client?.clientId || '')}</p>`
    + `<ul id="idp-scopes">${scopes}</ul><ul id="idp-claims">${claims}</ul>`
    + `<form method="post" action="/interaction/${esc(uid)}/confirm">`
    + '<button id="idp-allow" type="submit">Share</button></form>');
}

// GET /interaction/<uid>, POST /interaction/<uid>/login|confirm.
async function interaction(req, res) {
  const m = /^\/interaction\/([\w-]+)(?:\/(login|confirm))?$/.exec(new URL(req.url, issuer).pathname);
  if (!m) {
    return send(res, 404, page('Not found', ''));
  }
  const [, uid, action] = m;
  const details = await provider.interactionDetails(req, res);
  if (details.uid !== uid) {
    return send(res, 400, page('Wrong interaction', ''));
  }
  const { prompt, params } = details;
  if (req.method === 'GET' && !action) {
    if (prompt.name === 'login') {
      return send(res, 200, loginForm(uid));
    }
    const client = await provider.Client.find(params.client_id);
    return send(res, 200, consentForm(uid, client, prompt.details));
  }
  if (req.method !== 'POST' || !action) {
    return send(res, 405, page('Method not allowed', ''));
  }
  if (action === 'login') {
    const form = await readForm(req);
    const account = accounts[form.login];
    if (prompt.name !== 'login' || !account || !passwordOk(account, form.password)) {
      return send(res, 200, loginForm(uid, 'Unknown user or wrong password.'));
    }
    return provider.interactionFinished(req, res, { login: { accountId: account.sub } },
      { mergeWithLastSubmission: false });
  }
  if (prompt.name !== 'consent') {
    return send(res, 400, page('Nothing to confirm', ''));
  }
  const grant = details.grantId
    ? await provider.Grant.find(details.grantId)
    : new provider.Grant({ accountId: details.session.accountId, clientId: params.client_id });
  if (prompt.details.missingOIDCScope) {
    grant.addOIDCScope(prompt.details.missingOIDCScope.join(' '));
  }
  if (prompt.details.missingOIDCClaims) {
    grant.addOIDCClaims(prompt.details.missingOIDCClaims);
  }
  const grantId = await grant.save();
  return provider.interactionFinished(req, res, { consent: { grantId } },
    { mergeWithLastSubmission: true });
}

const callback = provider.callback();
const server = http.createServer((req, res) => {
  if (req.url.startsWith('/interaction/')) {
    interaction(req, res).catch((e) => {
      console.error(`oidc-idp: interaction failed: ${e.stack || e}`);
      if (!res.headersSent) {
        send(res, 500, page('IdP error', `<pre id="idp-error">${esc(e.message)}</pre>`));
      } else {
        res.end();
      }
    });
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
