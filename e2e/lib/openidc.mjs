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

// Enterprise sign-in for the end-to-end tests, the way shops run it:
// oidc-provider (e2e/lib/oidc-idp.mjs) as the corporate IdP and an httpd
// gateway whose authorization endpoint is behind Debian's
// mod_auth_openidc, with MCPAuthzScope rules on the IdP's "groups" claim.
// Everything listens on 127.0.0.1 on free ports, lives in one run
// directory and is found again through /proc by that directory, so that
// a test can prove nothing is left behind. Also: headless Chromium
// (Debian's, through playwright-core) and a small local web server that
// plays the MCP client's redirect URI.

import { spawn, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  chmodSync, chownSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync,
} from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { NODE, SRC, freePort, portOpen, sleep } from './proc.mjs';

export { SRC, portOpen };
const START_MS = 20_000;
const STOP_MS = 10_000;

export const CHROMIUM = '/usr/bin/chromium';
export const OPENIDC_MODULE = '/usr/lib/apache2/modules/mod_auth_openidc.so';

// Processes whose command line names @dir (httpd's -d, the IdP's argument,
// Chromium's --user-data-dir=@dir, with no slash after it), read from
// /proc: proc.mjs's processesOf() matches only paths below @dir.
export function processesIn(dir) {
  const found = [];
  for (const pid of readdirSync('/proc').filter((e) => /^\d+$/.test(e))) {
    let cmdline;
    try {
      cmdline = readFileSync(`/proc/${pid}/cmdline`, 'latin1').split('\0');
    } catch {
      continue;
    }
    if (cmdline.some((a) => a === dir || a.includes(`${dir}/`) || a.endsWith(`=${dir}`))) {
      found.push({ pid: Number(pid), cmd: cmdline.join(' ').trim() });
    }
  }
  return found;
}

// Whether @pid still runs. A zombie has ended: only its parent (here
// often init, for Chromium's helpers, which reaps them a little later)
// has not collected its status yet.
export function alive(pid) {
  let stat;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
  } catch {
    return false;
  }
  return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
}

// A child process with its output kept (for error messages) and a bounded
// stop: SIGTERM, then SIGKILL.
class Child {
  constructor(name, cmd, args, opts) {
    this.name = name;
    this.output = '';
    this.proc = spawn(cmd, args, { ...opts, stdio: ['ignore', 'pipe', 'pipe'] });
    this.exited = new Promise((resolve) => this.proc.on('exit', (code, signal) => resolve({ code, signal })));
    this.proc.stdout.on('data', (d) => { this.output += d; });
    this.proc.stderr.on('data', (d) => { this.output += d; });
    this.proc.on('error', (e) => { this.output += `\nspawn failed: ${e.message}`; });
  }

  get running() { return this.proc.exitCode === null && this.proc.signalCode === null; }

  async waitFor(test, what) {
    const deadline = Date.now() + START_MS;
    while (!(await test())) {
      if (!this.running) {
        throw new Error(`${this.name} exited before ${what}:\n${this.output}`);
      }
      if (Date.now() > deadline) {
        throw new Error(`${this.name}: no ${what} within ${START_MS / 1000} s:\n${this.output}`);
      }
      await sleep(100);
    }
  }

  async stop() {
    if (this.running) {
      this.proc.kill('SIGTERM');
      const timer = sleep(STOP_MS).then(() => 'timeout');
      if (await Promise.race([this.exited, timer]) === 'timeout' && this.running) {
        this.proc.kill('SIGKILL');
        await this.exited;
      }
    }
    this.proc.stdout.destroy();
    this.proc.stderr.destroy();
  }
}

// The two accounts of the IdP: alice is in the group that may manage the
// gateway, bob is not. Their subjects are not their logins, so that a
// test sees which of the two the gateway took.
export const ACCOUNTS = {
  alice: { sub: 'u-1001-alice', password: 'alice-pw-e2e', name: 'Alice Admin',
    groups: ['mcp-admins', 'staff'] },
  bob: { sub: 'u-1002-bob', password: 'bob-pw-e2e', name: 'Bob Staff', groups: ['staff'] },
};

// The gateway's scopes and their consent texts.
export const SCOPES = {
  mcp: 'Use the MCP gateway',
  'mcp:admin': 'Manage the tools of the MCP gateway',
  'audit:read': 'Read the audit log of the MCP gateway',
};

function runAs() {
  if (process.getuid() !== 0) {
    return null;
  }
  // As root, httpd's children run as www-data (as scripts/demo does).
  return {
    user: 'www-data',
    uid: Number(execFileSync('id', ['-u', 'www-data'], { encoding: 'utf8' }).trim()),
    gid: Number(execFileSync('id', ['-g', 'www-data'], { encoding: 'utf8' }).trim()),
  };
}

function gatewayConf({ dir, port, idpPort, clientId, clientSecret, as }) {
  const gw = `http://127.0.0.1:${port}`;
  const mods = '/usr/lib/apache2/modules';
  const libs = path.join(SRC, 'build/demo/.libs');
  return `# Generated by e2e/lib/openidc.mjs for one test run.
ServerRoot "${dir}"
Listen 127.0.0.1:${port}
ServerName 127.0.0.1:${port}
PidFile "${dir}/run/httpd.pid"
DefaultRuntimeDir "${dir}/run"
${as ? `User ${as.user}\nGroup ${as.user}` : ''}
Timeout 30

LoadModule mpm_event_module "${mods}/mod_mpm_event.so"
LoadModule authn_core_module "${mods}/mod_authn_core.so"
LoadModule authz_core_module "${mods}/mod_authz_core.so"
LoadModule authz_user_module "${mods}/mod_authz_user.so"
LoadModule dbd_module "${mods}/mod_dbd.so"
LoadModule socache_shmcb_module "${mods}/mod_socache_shmcb.so"
LoadModule auth_openidc_module "${OPENIDC_MODULE}"
LoadModule mcp_authz_module "${libs}/mod_mcp_authz.so"
LoadModule mcp_proxy_module "${libs}/mod_mcp_proxy.so"

ErrorLog "${dir}/logs/error_log"
# mcp_authz:debug says which scope rule said no to whom.
LogLevel warn mcp_authz:debug mcp_proxy:info auth_openidc:${process.env.MCP_E2E_DEBUG ? 'debug' : 'warn'}
LogFormat "%h %u %t \\"%r\\" %>s %b %D" e2e
CustomLog "${dir}/logs/access_log" e2e
<Directory />
    AllowOverride None
    Require all denied
</Directory>
DocumentRoot "${dir}/htdocs"

DBDriver sqlite3
DBDParams "${dir}/data/mcp.db"

# --- sign-in: mod_auth_openidc, the IdP on 127.0.0.1 only ------------------
OIDCProviderMetadataURL http://127.0.0.1:${idpPort}/.well-known/openid-configuration
OIDCClientID ${clientId}
OIDCClientSecret ${clientSecret}
OIDCRedirectURI ${gw}/oidc/callback
OIDCCryptoPassphrase ${randomBytes(24).toString('hex')}
OIDCScope "openid profile groups"
OIDCPKCEMethod S256
# r->user, the subject of the gateway's tokens: the IdP's stable id.
OIDCRemoteUserClaim sub
# The claims as OIDC_CLAIM_* environment variables (for expr=), not as
# request headers.
OIDCPassClaimsAs environment
OIDCCookieSameSite On
OIDCHTTPTimeoutShort 5
OIDCHTTPTimeoutLong 10
OIDCSessionInactivityTimeout 600
OIDCSessionMaxDuration 3600

<Location /oidc/callback>
    AuthType openid-connect
    Require valid-user
</Location>

# --- the authorization server ------------------------------------------------
MCPAuthzIssuer ${gw}
MCPAuthzSigningKey "${dir}/keys/signing.pem"
# Every signed-in user may use the gateway; the IdP's group decides the
# rest, once through mod_auth_openidc's claim provider, once through an
# expression on the environment variable it sets from the claim.
MCPAuthzScope mcp "${SCOPES.mcp}"
MCPAuthzScope mcp:admin "${SCOPES['mcp:admin']}" require="claim groups:mcp-admins"
MCPAuthzScope audit:read "${SCOPES['audit:read']}" expr="reqenv('OIDC_CLAIM_groups') =~ /(^|,)mcp-admins(,|$)/"

<Location /oauth/authorize>
    AuthType openid-connect
    Require valid-user
</Location>

# --- the MCP endpoint, and for step-up a section of the same resource -------
# that needs both admin scopes
<Location /mcp>
    AuthType mcp
    Require mcp-scope mcp
    SetHandler mcp-proxy
</Location>
<Location /mcp/admin>
    MCPAuthzResource ${gw}/mcp
    Require mcp-scope mcp mcp:admin audit:read
</Location>
`;
}

// The IdP process (oidc-provider) for the gateway on @gwPort.
export async function startIdp({ dir, port, gwPort, clientId, clientSecret }) {
  const idp = new Child('oidc-provider', NODE, [path.join(SRC, 'e2e/lib/oidc-idp.mjs'), dir], {
    cwd: SRC,
    env: {
      PATH: process.env.PATH,
      HOME: dir,
      NODE_ENV: 'test',
      IDP_PORT: String(port),
      IDP_CLIENT_ID: clientId,
      IDP_CLIENT_SECRET: clientSecret,
      IDP_REDIRECT_URI: `http://127.0.0.1:${gwPort}/oidc/callback`,
      IDP_ACCOUNTS: JSON.stringify(ACCOUNTS),
    },
  });
  await idp.waitFor(async () => /IDP READY /.test(idp.output), 'ready line');
  idp.issuer = `http://127.0.0.1:${port}`;
  return idp;
}

// The gateway: httpd with the modules of build/demo and mod_auth_openidc.
export async function startGateway({ dir, port, idpPort, clientId, clientSecret }) {
  if (!existsSync(OPENIDC_MODULE)) {
    throw new Error(`${OPENIDC_MODULE} is missing: apt-get install libapache2-mod-auth-openidc`);
  }
  const as = runAs();
  for (const d of ['conf', 'logs', 'run', 'keys', 'data', 'htdocs']) {
    mkdirSync(path.join(dir, d), { recursive: true });
  }
  execFileSync('openssl', ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256',
    '-out', path.join(dir, 'keys/signing.pem')], { stdio: 'ignore' });
  chmodSync(path.join(dir, 'keys/signing.pem'), 0o600);
  execFileSync(path.join(SRC, 'build/demo/support/mcpctl'),
    ['--driver', 'sqlite3', '--params', path.join(dir, 'data/mcp.db'), 'db', 'upgrade'],
    { stdio: 'ignore' });
  if (as) {
    // httpd's children reach the store and the run directory.
    chmodSync(dir, 0o711);
    for (const d of ['run', 'data']) {
      chownSync(path.join(dir, d), as.uid, as.gid);
    }
    for (const f of readdirSync(path.join(dir, 'data'))) {
      chownSync(path.join(dir, 'data', f), as.uid, as.gid);
    }
  }
  const conf = path.join(dir, 'conf/httpd.conf');
  writeFileSync(conf, gatewayConf({ dir, port, idpPort, clientId, clientSecret, as }));
  const httpd = '/usr/sbin/apache2';
  try {
    execFileSync(httpd, ['-d', dir, '-f', conf, '-t'], { stdio: 'pipe', encoding: 'utf8' });
  } catch (e) {
    throw new Error(`the gateway's httpd.conf does not pass apache2 -t:\n${e.stderr}${e.stdout}`);
  }
  const gw = new Child('httpd', httpd, ['-d', dir, '-f', conf, '-DFOREGROUND'], {
    env: { PATH: process.env.PATH, LANG: 'C' },
  });
  await gw.waitFor(() => portOpen(port), `listener on 127.0.0.1:${port}`);
  gw.url = `http://127.0.0.1:${port}`;
  gw.errorLog = () => {
    try {
      return readFileSync(path.join(dir, 'logs/error_log'), 'utf8');
    } catch {
      return '';
    }
  };
  return gw;
}

// Headless Chromium with its own profile in @userDataDir, as
// /work/.library/env/machines/c.md describes: no background traffic.
export async function launchBrowser(userDataDir) {
  const args = [
    '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--disable-default-apps',
    '--disable-extensions', '--no-default-browser-check', '--metrics-recording-only',
    '--disable-domain-reliability', '--disable-client-side-phishing-detection',
  ];
  if (process.getuid() === 0) {
    args.push('--no-sandbox');
  }
  mkdirSync(userDataDir, { recursive: true });
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    args,
    // Seen taking more than 20 s on two cores shared with other builds.
    timeout: 45_000,
    viewport: { width: 900, height: 900 },
    env: { PATH: process.env.PATH, HOME: userDataDir, LANG: 'C' },
  });
  context.setDefaultTimeout(15_000);
  context.setDefaultNavigationTimeout(15_000);
  return context;
}

// The MCP client's side in a browser: GET /callback is the redirect URI
// (each arrival is handed to whoever waits for its state), /frame shows a
// URL in an iframe next to a frame of its own, /control is that frame.
export async function startClientSite() {
  const waiters = new Map();
  const arrived = new Map();
  const referers = new Map();
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, 'http://127.0.0.1');
    const html = (body) => {
      res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-store' });
      res.end(`<!doctype html><meta charset="utf-8"><title>client</title>${body}`);
    };
    if (url.pathname === '/callback') {
      const params = Object.fromEntries(url.searchParams);
      const state = params.state ?? '';
      arrived.set(state, params);
      referers.set(state, req.headers.referer);
      waiters.get(state)?.(params);
      return html('<p id="done">The application got the answer.</p>');
    }
    if (url.pathname === '/frame') {
      const src = url.searchParams.get('src') ?? '';
      const esc = src.replace(/&/g, '&amp;').replace(/"/g, '&quot;');
      return html(`<iframe name="framed" src="${esc}" width="800" height="500"></iframe>`
        + '<iframe name="control" src="/control" width="300" height="100"></iframe>');
    }
    if (url.pathname === '/control') {
      return html('<p id="control">control-frame-ok</p>');
    }
    res.writeHead(404);
    res.end();
  });
  await new Promise((resolve, reject) => {
    server.on('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address();
  return {
    port,
    origin: `http://127.0.0.1:${port}`,
    redirectUri: `http://127.0.0.1:${port}/callback`,
    // The Referer the browser sent with the answer for @state.
    referer(state) { return referers.get(state); },
    // The query the redirect URI gets for @state, within @ms.
    arrival(state, ms = 15_000) {
      if (arrived.has(state)) {
        return Promise.resolve(arrived.get(state));
      }
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          waiters.delete(state);
          reject(new Error(`the redirect URI got nothing for state ${state} in ${ms} ms`));
        }, ms);
        waiters.set(state, (p) => {
          clearTimeout(timer);
          waiters.delete(state);
          resolve(p);
        });
      });
    },
    close() {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

// IdP, gateway and the client's site, started in @dir; stop() ends them
// all (also what failed to start) and is safe to call twice.
export async function startStack(dir) {
  const stack = { dir, browsers: [] };
  const clientId = 'mcp-gateway';
  const clientSecret = randomBytes(24).toString('base64url');
  stack.stop = async () => {
    for (const b of stack.browsers.splice(0)) {
      await Promise.race([b.close().catch(() => {}), sleep(STOP_MS)]);
    }
    await stack.site?.close();
    await stack.gw?.stop();
    await stack.idp?.stop();
    // Whatever of ours is still there (a child httpd that did not follow
    // its parent, a browser that did not close): by its id.
    let left = processesIn(dir);
    for (const p of left) {
      try {
        process.kill(p.pid, 'SIGKILL');
      } catch { /* gone */ }
    }
    const deadline = Date.now() + STOP_MS;
    while ((left = left.filter((p) => alive(p.pid))).length && Date.now() < deadline) {
      await sleep(100);
    }
  };
  try {
    const gwPort = await freePort();
    const idpPort = await freePort();
    stack.idp = await startIdp({ dir, port: idpPort, gwPort, clientId, clientSecret });
    stack.gw = await startGateway({ dir, port: gwPort, idpPort, clientId, clientSecret });
    stack.site = await startClientSite();
    stack.ports = { gw: gwPort, idp: idpPort, site: stack.site.port };
  } catch (e) {
    await stack.stop();
    throw e;
  }
  stack.browser = async (name) => {
    const b = await launchBrowser(path.join(dir, `chromium-${name}`));
    stack.browsers.push(b);
    return b;
  };
  return stack;
}
