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

// A test gateway: httpd with the modules of build/demo on a configuration
// generated in a temporary directory, on a free port of 127.0.0.1. It is
// the demo's configuration (scripts/demo) without the upstreams, plus what
// the end-to-end tests need:
//
//   - test users (HTTP Basic, a password file) and a group file: "demo" is
//     in demo-admins and may be granted ev1:write, "demo2" only mcp;
//   - MCPAuthzClientMetadataLoopback On, so Client ID Metadata Documents
//     may be served by a test server on 127.0.0.1;
//   - /mcp (Require mcp-scope mcp) and, for step-up, /mcp/admin: the same
//     protected resource (its tokens are for /mcp) needing ev1:write too.
//
// Options replace parts of it, so that other tests (mod_auth_openidc, ...)
// can reuse it: `authorize` (the lines of <Location /oauth/authorize>: how
// users sign in), `modules` (more LoadModule lines), `config` (lines added
// at the end of the server config), `location` (lines added inside
// <Location /mcp>: MCPProxyBackend, ...), `scopes` (MCPAuthzScope lines).
// All but `scopes` may be functions of ({ dir, data, port, origin }), for
// lines that name the gateway's port or directory. `idp`: mod_mcp_idp's
// part (see idpConf below): vault keys, providers, the link base and its
// <Location> behind the same sign-in as /oauth/authorize.
//
// For several nodes sharing one store (issue 8, DESIGN.md "Scale"):
// `store` ({ driver: 'pgsql', params: '<apr_dbd params>' }; default the
// SQLite file data/mcp.db): DBDriver/DBDParams and the store of
// `mcpctl ... db upgrade` (when a gateway is made; a no-op on a schema
// that is current, so nodes sharing a store may each run it) and of
// gw.mcpctl; `publicOrigin`: the origin clients see (a
// load balancer in front of the nodes), then MCPAuthzIssuer, the
// resources, gw.issuer, gw.mcpUrl and gw.adminUrl are on it, while
// gw.origin stays the node's own address; `keysFrom`: the directory of
// another gateway (gw.dir) whose signing key and vault keys this one
// uses too (copied before the start).
//
// gw.restart(moreOpts) stops httpd and starts it again on the same port,
// directory and database with the options merged (key rotation).
//
//   const gw = await startGateway({ config: 'MCPAuthzLifetime access 30' });
//   ... gw.mcpUrl, gw.issuer, gw.password ...
//   await gw.stop();

import { execFile, execFileSync, spawn } from 'node:child_process';
import { chmodSync, chownSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync,
  rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { SRC, freePort, portOpen, processesOf, waitFor, within } from './proc.mjs';

// MCP_E2E_BUILD: the build whose modules httpd loads (default build/demo;
// scripts/check's e2e-asan layer names build/asan). MCP_E2E_SANITIZE: the
// sanitizer runtimes to preload into httpd (LD_PRELOAD), which the modules
// of a build configured with --enable-sanitizers need before them; then a
// sanitizer report aborts the child (the error_log has it) and stop()
// fails on it. mcpctl is build/demo's either way.
const LIBS = path.join(path.resolve(SRC, process.env.MCP_E2E_BUILD ?? 'build/demo'), '.libs');
const MCPCTL = path.join(SRC, 'build/demo/support/mcpctl');
const SANITIZE = process.env.MCP_E2E_SANITIZE ?? '';
const SANITIZER_REPORT = /(ERROR: AddressSanitizer|runtime error:)[\s\S]{0,4000}/;

// The environment of httpd (and of its configuration test).
function httpdEnv() {
  if (!SANITIZE) {
    return process.env;
  }
  return { ...process.env, LD_PRELOAD: SANITIZE, ASAN_OPTIONS: 'detect_leaks=0:abort_on_error=1',
    UBSAN_OPTIONS: 'print_stacktrace=1:halt_on_error=1:abort_on_error=1' };
}
const START_TIMEOUT_MS = 30_000;
const STOP_TIMEOUT_MS = 15_000;

let apxsCache;
function apxs() {
  if (!apxsCache) {
    const bin = ['/usr/bin/apxs', '/usr/bin/apxs2'].find((p) => existsSync(p)) ?? 'apxs';
    const q = (v) => execFileSync(bin, ['-q', v], { encoding: 'utf8' }).trim();
    let httpd = path.join(q('SBINDIR'), q('TARGET'));
    if (!existsSync(httpd)) {
      httpd = '/usr/sbin/apache2';
    }
    apxsCache = { moddir: q('LIBEXECDIR'), httpd };
  }
  return apxsCache;
}

// As root, httpd's children run as www-data (as in scripts/demo).
function runAs() {
  if (process.getuid() !== 0) {
    return null;
  }
  const line = readFileSync('/etc/passwd', 'utf8').split('\n').find((l) => l.startsWith('www-data:'));
  const [, , uid, gid] = line.split(':');
  return { name: 'www-data', uid: Number(uid), gid: Number(gid) };
}

function chownTree(p, uid, gid) {
  chownSync(p, uid, gid);
  if (statSync(p).isDirectory()) {
    for (const e of readdirSync(p)) {
      chownTree(path.join(p, e), uid, gid);
    }
  }
}

export const DEFAULT_SCOPES = [
  'MCPAuthzScope mcp "Use the demo MCP gateway"',
  'MCPAuthzScope ev1:write "Call the tools of the first demo upstream that change things" require="group demo-admins"',
];

// The demo's sign-in: HTTP Basic against the password and group files.
export function basicAuthorize(data) {
  return [
    'AuthType Basic',
    'AuthName "mod_mcp e2e"',
    'AuthBasicProvider file',
    `AuthUserFile "${data}/users"`,
    `AuthGroupFile "${data}/groups"`,
    'Require valid-user',
  ].join('\n');
}

// mod_mcp_idp's lines for the option `idp`:
//   { vaultKeys: [{ id }]          first seals, all open; each key file is
//                                  keys/vault-<id>.key, made once
//                                  (openssl rand -base64 32, mode 0600)
//     providers: [{ name, issuer, clientId, clientSecret, scope, options }]
//                                  secret_file keys/<name>.secret; options:
//                                  more key=value words (internal=on, mode=...)
//     linkBase: '/oauth/v1' }
// Files are made by prepareIdp() before httpd -t.
function idpConf(o, idp, data) {
  if (!idp) {
    return '';
  }
  const { dir } = o;
  const base = idp.linkBase ?? '/oauth/v1';
  const lines = ['# mod_mcp_idp: per-user upstream tokens (issue 8).'];
  for (const k of idp.vaultKeys ?? [{ id: 'k1' }]) {
    lines.push(`MCPIdPVaultKey "${dir}/keys/vault-${k.id}.key" id=${k.id}`);
  }
  for (const pv of idp.providers ?? []) {
    const words = [`MCPIdPProvider ${pv.name}`];
    if (pv.issuer) words.push(`issuer=${pv.issuer}`);
    if (pv.clientId) words.push(`client_id=${pv.clientId}`);
    if (pv.clientSecret) words.push(`secret_file="${dir}/keys/${pv.name}.secret"`);
    if (pv.scope) words.push(`scope="${pv.scope}"`);
    words.push(...(pv.options ?? []));
    lines.push(words.join(' '));
  }
  lines.push(`MCPIdPLinkBase ${base}`, `<Location ${base}>`,
    ...basicAuthorize(data).split('\n').map((l) => `    ${l}`),
    '    SetHandler mcp-idp', '</Location>');
  return lines.join('\n');
}

// The key and secret files of @idp in @dir/keys (kept across restarts).
function prepareIdp(dir, idp, user) {
  if (!idp) {
    return;
  }
  const files = [];
  for (const k of idp.vaultKeys ?? [{ id: 'k1' }]) {
    const f = path.join(dir, `keys/vault-${k.id}.key`);
    if (!existsSync(f)) {
      writeFileSync(f, `${execFileSync('openssl', ['rand', '-base64', '32'], { encoding: 'utf8' }).trim()}\n`,
        { mode: 0o600 });
    }
    files.push(f);
  }
  for (const pv of idp.providers ?? []) {
    if (pv.clientSecret) {
      const f = path.join(dir, `keys/${pv.name}.secret`);
      writeFileSync(f, `${pv.clientSecret}\n`, { mode: 0o600 });
      files.push(f);
    }
  }
  for (const f of files) {
    chmodSync(f, 0o600);
    if (user) {
      chownSync(f, user.uid, user.gid);
    }
  }
}

// The store of @opts: { driver, params } (default: SQLite in @data).
function storeOf(opts, data) {
  return opts.store ?? { driver: 'sqlite3', params: path.join(data, 'mcp.db') };
}

function httpdConf(o) {
  const { dir, data, port, user } = o;
  const origin = `http://127.0.0.1:${port}`;
  const pub = o.publicOrigin ?? origin;
  const store = storeOf(o, data);
  const { moddir } = apxs();
  const indent = (s) => s.split('\n').map((l) => `    ${l}`).join('\n');
  // An option is text, or a function of where the gateway is (its port
  // is chosen here): ({ dir, data, port, origin }) => text.
  const opt = (v) => (typeof v === 'function' ? v({ dir, data, port, origin }) : v);
  return `# Generated by e2e/lib/gateway.mjs.
ServerRoot "${dir}"
Listen 127.0.0.1:${port}
ServerName 127.0.0.1:${port}
PidFile "${dir}/run/httpd.pid"
DefaultRuntimeDir "${dir}/run"
${user ? `User ${user.name}\nGroup ${user.name}` : ''}

LoadModule mpm_event_module "${moddir}/mod_mpm_event.so"
<IfModule !unixd_module>
    LoadModule unixd_module "${moddir}/mod_unixd.so"
</IfModule>
LoadModule authn_core_module "${moddir}/mod_authn_core.so"
LoadModule authn_file_module "${moddir}/mod_authn_file.so"
LoadModule auth_basic_module "${moddir}/mod_auth_basic.so"
LoadModule authz_core_module "${moddir}/mod_authz_core.so"
LoadModule authz_user_module "${moddir}/mod_authz_user.so"
LoadModule authz_groupfile_module "${moddir}/mod_authz_groupfile.so"
LoadModule dbd_module "${moddir}/mod_dbd.so"
LoadModule socache_shmcb_module "${moddir}/mod_socache_shmcb.so"
<IfModule !log_config_module>
    LoadModule log_config_module "${moddir}/mod_log_config.so"
</IfModule>
${opt(o.modules) ?? ''}
LoadModule mcp_authz_module "${LIBS}/mod_mcp_authz.so"
LoadModule mcp_proxy_module "${LIBS}/mod_mcp_proxy.so"
LoadModule mcp_idp_module "${LIBS}/mod_mcp_idp.so"

ErrorLog "${dir}/logs/error_log"
LogLevel ${o.logLevel ?? 'warn mcp_authz:debug mcp_proxy:info mcp_idp:info'}
LogFormat "%h %l %u %t \\"%r\\" %>s %b %D %{MCP_CLIENT_ID}e" e2e
CustomLog "${dir}/logs/access_log" e2e
<Directory />
    AllowOverride None
    Require all denied
</Directory>
DocumentRoot "${data}/htdocs"
<Directory "${data}/htdocs">
    Require all granted
</Directory>

DBDriver ${store.driver}
DBDParams "${store.params}"

MCPAuthzIssuer ${pub}
MCPAuthzSigningKey "${dir}/keys/signing.pem"
${(o.scopes ?? DEFAULT_SCOPES).join('\n')}
${o.cimdLoopback === false ? '' : 'MCPAuthzClientMetadataLoopback On'}

<Location /oauth/authorize>
${indent(opt(o.authorize) ?? basicAuthorize(data))}
</Location>

<Location /mcp>
    AuthType mcp
    Require mcp-scope mcp
    SetHandler mcp-proxy
${o.location ? indent(opt(o.location)) : ''}
</Location>
${o.stepUp === false ? '' : `
# Step-up: the same protected resource as /mcp, needing ev1:write too.
<Location /mcp/admin>
    MCPAuthzResource ${pub}/mcp
    Require mcp-scope mcp ev1:write
</Location>`}

${idpConf(o, o.idp, data)}

${opt(o.config) ?? ''}
`;
}

// Start a test gateway. See the file comment for the options; also
// `users` ({ name: password }, default demo and demo2 with `password`),
// `groups` ({ group: [users] }), `logLevel`, `cimdLoopback` (default
// true) and `stepUp` (default true). `dir`: the directory of a gateway
// stopped with { keep: true } to start again (what restart() does).
export async function startGateway(opts = {}) {
  const password = opts.password ?? 'e2e-secret';
  const users = opts.users ?? { demo: password, demo2: password };
  const groups = opts.groups ?? { 'demo-admins': ['demo'] };
  if (opts.dir) {
    return runGateway(opts, opts.dir, password);
  }
  const dir = mkdtempSync(path.join(tmpdir(), 'mcp-e2e-gw-'));
  const data = path.join(dir, 'data');
  for (const d of ['conf', 'logs', 'run', 'keys', 'data/htdocs']) {
    mkdirSync(path.join(dir, d), { recursive: true });
  }
  if (opts.keysFrom) {
    // Another node's signing and vault keys (prepareIdp makes only the
    // vault keys that are missing).
    for (const f of readdirSync(path.join(opts.keysFrom, 'keys'))) {
      if (f === 'signing.pem' || /^vault-.*\.key$/.test(f)) {
        copyFileSync(path.join(opts.keysFrom, 'keys', f), path.join(dir, 'keys', f));
      }
    }
  } else {
    execFileSync('openssl', ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256',
      '-out', path.join(dir, 'keys/signing.pem')], { stdio: 'ignore' });
  }
  chmodSync(path.join(dir, 'keys/signing.pem'), 0o600);
  let first = true;
  for (const [u, p] of Object.entries(users)) {
    execFileSync('htpasswd', [first ? '-cbB' : '-bB', path.join(data, 'users'), u, p], { stdio: 'ignore' });
    first = false;
  }
  writeFileSync(path.join(data, 'groups'),
    Object.entries(groups).map(([g, m]) => `${g}: ${m.join(' ')}\n`).join(''));
  const store = storeOf(opts, data);
  try {
    execFileSync(MCPCTL, ['--driver', store.driver, '--params', store.params, 'db', 'upgrade'],
      { stdio: 'pipe', timeout: 60_000 });
  } catch (e) {
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`mcpctl --driver ${store.driver} db upgrade failed: ${e.stderr ?? e.message}`);
  }
  const user = runAs();
  if (user) {
    // httpd's children pass through the directory to the data.
    chmodSync(dir, 0o711);
    chownTree(data, user.uid, user.gid);
    chownTree(path.join(dir, 'run'), user.uid, user.gid);
  }
  return runGateway(opts, dir, password);
}

async function runGateway(opts, dir, password) {
  const data = path.join(dir, 'data');
  const user = runAs();
  prepareIdp(dir, opts.idp, user);
  const conf = path.join(dir, 'conf/httpd.conf');
  const { httpd } = apxs();
  // A port found free may be taken before httpd binds it: try again.
  for (let attempt = 0; ; attempt++) {
    const port = opts.port ?? await freePort();
    writeFileSync(conf, httpdConf({ ...opts, dir, data, port, user }));
    try {
      execFileSync(httpd, ['-d', dir, '-f', conf, '-t'], { stdio: 'pipe', env: httpdEnv() });
    } catch (e) {
      if (!opts.dir) {
        rmSync(dir, { recursive: true, force: true });
      }
      const err = new Error(`the generated httpd.conf does not pass -t:\n${e.stderr}`);
      err.configTest = String(e.stderr);
      throw err;
    }
    const child = spawn(httpd, ['-d', dir, '-f', conf, '-DFOREGROUND'], {
      stdio: ['ignore', 'ignore', 'pipe'], detached: true, env: httpdEnv(),
    });
    let stderr = '';
    child.stderr.on('data', (d) => { stderr += d; });
    const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
    const gw = makeGateway({ dir, port, password, child, exited, stderr: () => stderr, opts });
    try {
      await waitFor(`httpd on 127.0.0.1:${port}`, async () => {
        if (child.exitCode !== null) {
          throw new Error(`httpd exited (${child.exitCode}): ${stderr}\n${gw.errorLog()}`);
        }
        return portOpen(port);
      }, START_TIMEOUT_MS);
      return gw;
    } catch (e) {
      const busy = /Address already in use/.test(stderr + gw.errorLog());
      await gw.stop({ keep: true });
      if (busy && attempt < 3 && !opts.port) {
        continue;
      }
      if (!opts.dir) {
        rmSync(dir, { recursive: true, force: true });
      }
      throw e;
    }
  }
}

function makeGateway({ dir, port, password, child, exited, stderr, opts }) {
  const origin = `http://127.0.0.1:${port}`;
  const pub = opts.publicOrigin ?? origin;
  const store = storeOf(opts, path.join(dir, 'data'));
  const storeArgs = ['--driver', store.driver, '--params', store.params];
  const read = (f) => {
    try {
      return readFileSync(path.join(dir, 'logs', f), 'utf8');
    } catch {
      return '';
    }
  };
  return {
    dir,
    port,
    password,
    origin,
    publicOrigin: pub,
    issuer: pub,
    mcpUrl: `${pub}/mcp`,
    adminUrl: `${pub}/mcp/admin`,
    data: path.join(dir, 'data'),
    store,
    // The SQLite file (null with another store).
    db: store.driver === 'sqlite3' ? store.params : null,
    // mcpctl on this gateway's store: its stdout (throws on failure).
    mcpctl: (...args) => execFileSync(MCPCTL, [...storeArgs, ...args],
      { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }),
    // The same without blocking this process, for commands that talk to a
    // server running in it (an upstream fixture): { stdout, stderr }.
    mcpctlAsync: (...args) => promisify(execFile)(MCPCTL, [...storeArgs, ...args],
      { encoding: 'utf8', timeout: 60000 }),
    // Stop, and start again on the same port and directory with @more
    // options merged in: the new gateway.
    async restart(more = {}) {
      await this.stop({ keep: true });
      return startGateway({ ...opts, ...more, dir, port });
    },
    child,
    errorLog: () => read('error_log'),
    accessLog: () => read('access_log'),
    httpdStderr: stderr,
    // httpd's processes (parent and children): their -d is this directory.
    processes: () => processesOf({ dir }),
    // Stop httpd (SIGTERM, then SIGKILL to its process group), and remove
    // the directory unless @keep. Returns what was still running after it.
    async stop({ keep = false } = {}) {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        await within(exited, STOP_TIMEOUT_MS);
      }
      // httpd's children end shortly after their parent.
      let left = [];
      try {
        await waitFor('httpd\'s processes to end', () => processesOf({ dir }).length === 0, 5000);
      } catch {
        left = processesOf({ dir });
      }
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        // the group is gone
      }
      for (const p of left) {
        try {
          process.kill(p.pid, 'SIGKILL');
        } catch {
          // gone
        }
      }
      child.stderr?.destroy();
      const report = SANITIZE ? SANITIZER_REPORT.exec(read('error_log') + stderr()) : null;
      if (report) {
        throw new Error(`a sanitizer report of httpd (${dir} kept):\n${report[0]}`);
      }
      if (!keep) {
        rmSync(dir, { recursive: true, force: true });
      }
      // What did not stop by itself (killed now): a test asserts it is empty.
      return left;
    },
  };
}
