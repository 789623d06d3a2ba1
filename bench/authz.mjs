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

// The benchmark of mod_mcp_authz (run it through bench/authz.sh, which
// installs, builds and drops root). In one run, on 127.0.0.1 only:
//
//   - two gateways (httpd, event MPM, the modules of build/release): one
//     on SQLite (WAL), one on a private PostgreSQL; each serves the same
//     small file at /hello.txt without auth and at /mcp behind AuthType
//     mcp + Require mcp-scope mcp (an Alias: the bearer check is the only
//     difference);
//   - oidc-provider (npm) twice, with durable storage: on SQLite and on
//     the same PostgreSQL (bench/lib/oidc-provider.mjs);
//   - wrk (bench/wrk/authz.lua) measures, for BENCH_SECONDS at each of
//     BENCH_CONNECTIONS: authorization-code grants/s (codes minted just
//     before through the authorization endpoint with remembered consent),
//     refresh grants/s (every request a distinct current refresh token:
//     every rotation a real transaction), and GET rps of the static file,
//     of the protected one with one token (cached verification) and with
//     a fresh token per request (full ES256 verification).
//
// Measurements of the competitors alternate, so that a noisy neighbour
// hits both; the ratios come from figures taken minutes apart at most.
// Every load loop is bounded in time (wrk -d) and in count (token pools,
// code batches). Everything started is stopped at the end, on an error
// and on SIGINT/SIGTERM.
//
// Environment: BENCH_SECONDS (10), BENCH_CONNECTIONS ("8 32"),
// BENCH_THREADS (wrk threads, 2), BENCH_DIR (work directory, recreated),
// BENCH_BUILD (<checkout>/build/release), BENCH_OIDC_WORKERS (node:cluster
// workers of oidc-provider, 1), BENCH_MINT_SECONDS (20), BENCH_MINT_MAX
// (codes per batch, 60000), BENCH_KEEP=1 (leave the work directory).

import { execFileSync, spawn, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { approve } from '../e2e/lib/oauth.mjs';

const SRC = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const env = process.env;
const SECONDS = Number(env.BENCH_SECONDS || 10);
const CONNECTIONS = (env.BENCH_CONNECTIONS || '8 32').split(/\s+/).filter(Boolean).map(Number);
const THREADS = Number(env.BENCH_THREADS || 2);
const BUILD = path.resolve(env.BENCH_BUILD || path.join(SRC, 'build/release'));
const WORK = path.resolve(env.BENCH_DIR || path.join(os.tmpdir(), `mod_mcp-bench-${process.getuid()}`));
const OIDC_WORKERS = Number(env.BENCH_OIDC_WORKERS || 1);
const CHILDREN = Number(env.BENCH_HTTPD_CHILDREN || 1);
const MINT_SECONDS = Number(env.BENCH_MINT_SECONDS || 20);
const MINT_MAX = Number(env.BENCH_MINT_MAX || 60000);
const LUA = path.join(SRC, 'bench/wrk/authz.lua');
const USER = 'bench';
const PASSWORD = 'bench';
const REDIRECT = 'http://127.0.0.1:53682/callback';
const VERIFIER = 'bench-verifier-0123456789-0123456789-0123456789';
const CHALLENGE = crypto.createHash('sha256').update(VERIFIER).digest('base64url');

for (const [name, v] of [['BENCH_SECONDS', SECONDS], ['BENCH_THREADS', THREADS],
  ['BENCH_MINT_SECONDS', MINT_SECONDS], ['BENCH_MINT_MAX', MINT_MAX]]) {
  if (!Number.isInteger(v) || v < 1 || v > 600000) {
    throw new Error(`${name} must be a positive integer`);
  }
}
if (WORK === '/' || SRC.startsWith(`${WORK}/`) || WORK === SRC) {
  throw new Error(`BENCH_DIR=${WORK}: a directory of its own, which the benchmark empties`);
}
if (!CONNECTIONS.length || CONNECTIONS.some((c) => !Number.isInteger(c) || c < THREADS || c > 1024)) {
  throw new Error('BENCH_CONNECTIONS: numbers from BENCH_THREADS to 1024');
}

function say(...a) {
  process.stderr.write(`${a.join(' ')}\n`);
}

// ---- processes ----

const children = new Set();
let pgDir = null;
let stopping = false;

function cleanup() {
  if (stopping) return;
  stopping = true;
  for (const c of children) {
    try { c.kill('SIGTERM'); } catch { /* gone */ }
  }
  const until = Date.now() + 10000;
  // Bounded wait for the children, then force.
  while ([...children].some((c) => c.exitCode === null && c.signalCode === null)
         && Date.now() < until) {
    execFileSync('sleep', ['0.1']);
    // The event loop is not running here, so exits are not reaped: a
    // zombie has ended.
    for (const c of children) {
      let state = 'Z';
      try { state = fs.readFileSync(`/proc/${c.pid}/stat`, 'utf8').split(') ')[1][0]; } catch { /* gone */ }
      if (state === 'Z') children.delete(c);
    }
  }
  for (const c of children) {
    try { c.kill('SIGKILL'); } catch { /* gone */ }
  }
  if (pgDir) {
    try {
      execFileSync(path.join(SRC, 'scripts/lib/pgsql.sh'), ['stop', pgDir], { stdio: 'ignore' });
    } catch { say('warning: the PostgreSQL server did not stop'); }
  }
  if (env.BENCH_KEEP !== '1') {
    fs.rmSync(WORK, { recursive: true, force: true });
  }
}

process.on('SIGINT', () => { say('\ninterrupted: stopping everything'); cleanup(); process.exit(130); });
process.on('SIGTERM', () => { cleanup(); process.exit(143); });
process.on('exit', cleanup);

function start(name, cmd, args, opts = {}) {
  const log = fs.openSync(path.join(WORK, 'logs', `${name}.log`), 'a');
  const c = spawn(cmd, args, { stdio: ['ignore', log, log], ...opts });
  fs.closeSync(log);
  children.add(c);
  c.on('exit', (code, sig) => {
    children.delete(c);
    if (!stopping && !c.expectedExit) {
      say(`error: ${name} exited (${code ?? sig}); log: ${path.join(WORK, 'logs', `${name}.log`)}`);
    }
  });
  return c;
}

function sh(cmd, args, opts = {}) {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], ...opts }).trim();
}

async function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

async function waitFor(what, test, seconds) {
  const until = Date.now() + seconds * 1000;
  while (Date.now() < until) {
    if (await test()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${what} did not come up within ${seconds} s`);
}

function listening(port) {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port }, () => { s.destroy(); resolve(true); });
    s.on('error', () => resolve(false));
    s.setTimeout(1000, () => { s.destroy(); resolve(false); });
  });
}

// ---- the gateways ----

function apxs(q) {
  for (const a of ['apxs', 'apxs2']) {
    try { return sh(a, ['-q', q]); } catch { /* next */ }
  }
  throw new Error('apxs not found (Debian package apache2-dev)');
}

function httpdBinary() {
  const p = path.join(apxs('SBINDIR'), apxs('TARGET'));
  return fs.existsSync(p) ? p : '/usr/sbin/apache2';
}

// The tuning, for 2 cores: two event-MPM children of 32 threads (all
// started at once and kept: no process churn during a measurement), keep-
// alive without a request limit (wrk and oidc-provider's clients keep
// their connections), no access log (it would measure the disk; error log
// at warn, where nothing is logged per request), mod_dbd keeping its
// connections per child.
function httpdConf(g) {
  const mod = (name, file) => `LoadModule ${name} "${path.join(g.moddir, file)}"`;
  return `# Generated by bench/authz.mjs.
ServerRoot "${g.dir}"
Listen 127.0.0.1:${g.port}
ServerName 127.0.0.1:${g.port}
PidFile "${g.dir}/run/httpd.pid"
DefaultRuntimeDir "${g.dir}/run"

${mod('mpm_event_module', 'mod_mpm_event.so')}
<IfModule !unixd_module>
    ${mod('unixd_module', 'mod_unixd.so')}
</IfModule>
${mod('authn_core_module', 'mod_authn_core.so')}
${mod('authn_file_module', 'mod_authn_file.so')}
${mod('auth_basic_module', 'mod_auth_basic.so')}
${mod('authz_core_module', 'mod_authz_core.so')}
${mod('authz_user_module', 'mod_authz_user.so')}
${mod('alias_module', 'mod_alias.so')}
${mod('dbd_module', 'mod_dbd.so')}
${mod('socache_shmcb_module', 'mod_socache_shmcb.so')}
<IfModule !watchdog_module>
    ${mod('watchdog_module', 'mod_watchdog.so')}
</IfModule>
LoadModule mcp_authz_module "${path.join(BUILD, '.libs/mod_mcp_authz.so')}"

StartServers ${CHILDREN}
ServerLimit ${CHILDREN}
ThreadLimit ${64 / CHILDREN}
ThreadsPerChild ${64 / CHILDREN}
MaxRequestWorkers 64
MinSpareThreads ${64 / CHILDREN}
MaxSpareThreads 64
MaxConnectionsPerChild 0
KeepAlive On
MaxKeepAliveRequests 0
KeepAliveTimeout 30
Timeout 30

ErrorLog "${g.dir}/logs/error_log"
LogLevel warn

DBDriver ${g.driver}
DBDParams "${g.params}"
DBDMin 1
DBDKeep ${g.dbdKeep}
DBDMax ${g.dbdMax}
DBDExptime 300

MCPAuthzIssuer http://127.0.0.1:${g.port}
MCPAuthzSigningKey "${g.key}"
MCPAuthzScope mcp "Use the benchmark's resource"
MCPAuthzLifetime code 60
MCPAuthzLifetime access 3600
MCPAuthzRegistrationRate 0
MCPAuthzCache shmcb:${g.dir}/run/authz-cache(1048576)

<Directory />
    AllowOverride None
    Require all denied
</Directory>
DocumentRoot "${g.htdocs}"
<Directory "${g.htdocs}">
    Require all granted
</Directory>
Alias /mcp "${g.htdocs}/hello.txt"

# The user signs in with a {SHA} password: minting codes measures the
# authorization server, not bcrypt.
<Location /oauth/authorize>
    AuthType Basic
    AuthName "mod_mcp bench"
    AuthBasicProvider file
    AuthUserFile "${g.users}"
    Require valid-user
</Location>

<Location /mcp>
    AuthType mcp
    Require mcp-scope mcp
</Location>
`;
}

async function startGateway(name, driver, params, common) {
  const dir = path.join(WORK, name);
  for (const d of ['conf', 'logs', 'run']) fs.mkdirSync(path.join(dir, d), { recursive: true });
  const g = {
    name, driver, params, dir, port: await freePort(), moddir: common.moddir,
    key: common.key, htdocs: common.htdocs, users: common.users,
    // SQLite: one connection per child. apr_dbd_sqlite3 holds one mutex
    // per process around every sqlite3_step(), also while SQLite's busy
    // handler waits for the write lock: a second connection of the same
    // child that waits for the lock blocks the transaction holding it from
    // its next statement, until the busy timeout (5 s) ends the wait. A
    // child runs one SQLite statement at a time anyway.
    dbdKeep: driver === 'sqlite3' ? 1 : 8,
    dbdMax: driver === 'sqlite3' ? 1 : 16,
  };
  sh(path.join(BUILD, 'support/mcpctl'), ['--driver', driver, '--params', params, 'db', 'upgrade']);
  const conf = path.join(dir, 'conf/httpd.conf');
  fs.writeFileSync(conf, httpdConf(g));
  sh(common.httpd, ['-d', dir, '-f', conf, '-t']);
  g.proc = start(name, common.httpd, ['-d', dir, '-f', conf, '-DFOREGROUND']);
  await waitFor(`httpd (${name})`, () => listening(g.port), 30);
  g.base = `http://127.0.0.1:${g.port}`;
  g.resource = `${g.base}/mcp`;
  await oauthSetup(g);
  return g;
}

// Register a public client, consent once (remembered), and run one whole
// authorization and a protected request: the benchmark measures working
// flows only.
async function oauthSetup(g) {
  let res = await fetch(`${g.base}/oauth/register`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({
      client_name: 'mod_mcp bench',
      redirect_uris: [REDIRECT],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'none',
    }),
  });
  if (res.status !== 201) throw new Error(`registration at ${g.name}: ${res.status} ${await res.text()}`);
  g.clientId = (await res.json()).client_id;
  g.authorizeQuery = `/oauth/authorize?${new URLSearchParams({
    response_type: 'code', client_id: g.clientId, redirect_uri: REDIRECT, scope: 'mcp',
    resource: g.resource, code_challenge: CHALLENGE, code_challenge_method: 'S256', state: 'bench',
  })}`;
  const { params } = await approve(`${g.base}${g.authorizeQuery}`, USER, PASSWORD, 'allow');
  if (!params.code) throw new Error(`no code from ${g.name}: ${JSON.stringify(params)}`);
  g.codeBody = new URLSearchParams({
    grant_type: 'authorization_code', client_id: g.clientId, redirect_uri: REDIRECT,
    code_verifier: VERIFIER,
  }).toString();
  g.refreshBody = new URLSearchParams({ grant_type: 'refresh_token', client_id: g.clientId }).toString();
  res = await fetch(`${g.base}/oauth/token`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: `${g.codeBody}&code=${params.code}`,
  });
  const tok = await res.json();
  if (res.status !== 200 || !tok.refresh_token) throw new Error(`code exchange at ${g.name}: ${JSON.stringify(tok)}`);
  res = await fetch(g.resource, { headers: { Authorization: `Bearer ${tok.access_token}` } });
  if (res.status !== 200) throw new Error(`protected GET at ${g.name}: ${res.status}`);
  res = await fetch(g.resource);
  if (res.status !== 401) throw new Error(`protected GET without a token at ${g.name}: ${res.status}`);
  g.token = tok.access_token;
  // Now then: the first code grant of the measurements is not a cold one.
  await fetch(`${g.base}/hello.txt`);
}

// ---- oidc-provider ----

async function startOidc(name, store, common) {
  const dir = path.join(WORK, name);
  fs.mkdirSync(dir, { recursive: true });
  const port = await freePort();
  const o = {
    name, port, dir, base: `http://127.0.0.1:${port}`, seedFile: path.join(dir, 'seed.txt'),
    ready: path.join(dir, 'ready'),
  };
  o.resource = `${o.base}/mcp`;
  o.refreshBody = 'grant_type=refresh_token&client_id=bench';
  o.proc = start(name, process.execPath, ['--disable-warning=ExperimentalWarning',
    path.join(SRC, 'bench/lib/oidc-provider.mjs')], {
    env: {
      ...env,
      NODE_ENV: 'production',
      OIDC_PORT: String(port),
      OIDC_STORE: store,
      OIDC_KEY: common.key,
      OIDC_RESOURCE: o.resource,
      OIDC_SEED: String(common.oidcSeeds),
      OIDC_SEED_FILE: o.seedFile,
      OIDC_WORKERS: String(OIDC_WORKERS),
      OIDC_READY_FILE: o.ready,
    },
  });
  await waitFor(`oidc-provider (${name})`, () => fs.existsSync(o.ready), 120);
  o.seeds = fs.readFileSync(o.seedFile, 'utf8').split('\n').filter(Boolean);
  return o;
}

// ---- wrk ----

let wrkRun = 0;
const CLK_TCK = Number(sh('getconf', ['CLK_TCK'])) || 100;

// CPU time (user + system, in clock ticks) of a process and its children,
// from /proc: the server's own cost of a run, which the load of a shared
// machine disturbs much less than its throughput.
function cpuTicks(pid) {
  let total = 0;
  for (const d of fs.readdirSync('/proc')) {
    if (!/^[0-9]+$/.test(d)) continue;
    let st;
    try { st = fs.readFileSync(`/proc/${d}/stat`, 'utf8'); } catch { continue; }
    const f = st.slice(st.lastIndexOf(')') + 2).split(' ');
    // f[1] is the ppid, f[11] and f[12] utime and stime (man 5 proc).
    if (Number(d) === pid || Number(f[1]) === pid) {
      total += Number(f[11]) + Number(f[12]);
    }
  }
  return total;
}

async function wrk(target, mode, connections, seconds, args) {
  const out = path.join(WORK, 'wrk', String(++wrkRun));
  fs.mkdirSync(out, { recursive: true });
  const argv = ['-t', String(THREADS), '-c', String(connections), '-d', `${seconds}s`,
    '--timeout', '10s', '-s', LUA, target.base, '--', mode, out, ...args];
  const pid = target.proc?.pid;
  const cpu0 = pid ? cpuTicks(pid) : 0;
  const c = spawn('wrk', argv, {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...env, BENCH_WRK_MODE: mode, BENCH_WRK_THREADS: String(THREADS) },
  });
  children.add(c);
  let stdout = '';
  let stderr = '';
  c.stdout.on('data', (d) => { stdout += d; });
  c.stderr.on('data', (d) => { stderr += d; });
  // wrk ends on its own after -d; this bound is for a wedged one.
  const guard = setTimeout(() => c.kill('SIGKILL'), (seconds + 30) * 1000);
  const code = await new Promise((resolve) => c.on('close', resolve));
  clearTimeout(guard);
  children.delete(c);
  const line = stdout.split('\n').reverse().find((l) => l.startsWith('{'));
  if (code !== 0 || !line) {
    throw new Error(`wrk ${mode} on ${target.name} failed (${code}): ${stderr}${stdout}`);
  }
  const r = JSON.parse(line);
  r.dir = out;
  if (pid && r.ok) {
    r.cpu_us = ((cpuTicks(pid) - cpu0) * 1e6) / CLK_TCK / r.ok;
  }
  return r;
}

function collect(dir, kind) {
  const lines = [];
  for (const f of fs.readdirSync(dir)) {
    if (f.startsWith(`${kind}-`)) {
      lines.push(...fs.readFileSync(path.join(dir, f), 'utf8').split('\n').filter(Boolean));
    }
  }
  return lines;
}

function writeList(name, lines) {
  const f = path.join(WORK, 'wrk', name);
  fs.writeFileSync(f, `${lines.join('\n')}\n`);
  return f;
}

function show(what, r) {
  const extra = [];
  if (r.non2xx) extra.push(`${r.non2xx} non-2xx`);
  if (r.errors) extra.push(`${r.errors} socket errors`);
  if (r.exhausted) extra.push('pool used up');
  if (r.cpu_us) extra.push(`server CPU ${r.cpu_us.toFixed(0)} us/request`);
  say(`   ${what.padEnd(44)} ${r.rate.toFixed(0).padStart(8)}/s  (${r.ok} in ${r.seconds.toFixed(1)} s, `
      + `p99 ${r.p99_ms.toFixed(1)} ms${extra.length ? `, ${extra.join(', ')}` : ''})`);
}

// Authorization codes for one measurement: minted at most MINT_SECONDS
// before it, so that the last one used is younger than the codes' 60 s.
async function mint(g, max = MINT_MAX) {
  const basic = Buffer.from(`${USER}:${PASSWORD}`).toString('base64');
  const r = await wrk(g, 'mint', 16, MINT_SECONDS, [g.authorizeQuery, basic, String(max)]);
  const codes = collect(r.dir, 'codes');
  say(`   minted ${codes.length} codes on ${g.name} (${r.rate.toFixed(0)}/s)`);
  return codes;
}

async function codeGrants(g, c, keepAccess) {
  const codes = await mint(g);
  const r = await wrk(g, 'code', c, SECONDS,
    ['/oauth/token', writeList(`codes-${g.name}-${c}`, codes), g.codeBody, '1']);
  r.refresh = collect(r.dir, 'rt');
  r.access = keepAccess ? collect(r.dir, 'at') : [];
  return r;
}

async function refreshGrants(t, c, seeds, keepAccess) {
  const path_ = t.name.startsWith('oidc') ? '/token' : '/oauth/token';
  const r = await wrk(t, 'refresh', c, SECONDS,
    [path_, writeList(`seeds-${t.name}-${c}`, seeds), t.refreshBody, keepAccess ? '1' : '0']);
  r.access = keepAccess ? collect(r.dir, 'at') : [];
  return r;
}

// ---- main ----

function cores() {
  return os.availableParallelism ? os.availableParallelism() : os.cpus().length;
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

async function main() {
  fs.rmSync(WORK, { recursive: true, force: true });
  for (const d of ['logs', 'wrk', 'htdocs', 'sqlite']) fs.mkdirSync(path.join(WORK, d), { recursive: true });
  if (spawnSync('wrk', ['-v']).error) throw new Error('wrk is missing (Debian package wrk)');
  const common = {
    httpd: httpdBinary(),
    moddir: apxs('LIBEXECDIR'),
    key: path.join(WORK, 'signing.pem'),
    htdocs: path.join(WORK, 'htdocs'),
    users: path.join(WORK, 'users'),
  };
  for (const f of [path.join(BUILD, '.libs/mod_mcp_authz.so'), path.join(BUILD, 'support/mcpctl')]) {
    if (!fs.existsSync(f)) throw new Error(`${f} is missing: build ${BUILD} first (bench/authz.sh does)`);
  }
  sh('openssl', ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', common.key]);
  fs.chmodSync(common.key, 0o600);
  sh('htpasswd', ['-cbs', common.users, USER, PASSWORD]);
  // A small file: what an MCP ping's answer weighs. The smaller the
  // file, the larger the bearer check's share: the strict case.
  fs.writeFileSync(path.join(common.htdocs, 'hello.txt'), '{"jsonrpc":"2.0","id":1,"result":{}}\n');
  const version = sh(common.httpd, ['-v']).split('\n')[0].replace(/^Server version: /, '');
  const oidcVersion = JSON.parse(fs.readFileSync(path.join(SRC, 'node_modules/oidc-provider/package.json'), 'utf8')).version;

  say('== PostgreSQL (private, 127.0.0.1, fsync on)');
  pgDir = path.join(WORK, 'pg');
  // fsync on: every commit of either server reaches the disk.
  const pgLine = sh(path.join(SRC, 'scripts/lib/pgsql.sh'), ['start', pgDir],
    { env: { ...env, PGSQL_FSYNC: 'on' } });
  const pgParams = pgLine.replace(/^MCP_TEST_PGSQL=/, '');
  const pgUrl = (() => {
    const kv = Object.fromEntries(pgParams.split(/\s+/).map((p) => p.split('=')));
    return `postgresql://${kv.user}@${kv.host}:${kv.port}/${kv.dbname}`;
  })();

  say(`== gateways (${version}, ${BUILD})`);
  const gws = {
    sqlite: await startGateway('mcp-sqlite', 'sqlite3', path.join(WORK, 'sqlite/mcp.db'), common),
    pgsql: await startGateway('mcp-pgsql', 'pgsql', pgParams, common),
  };
  const maxConn = Math.max(...CONNECTIONS);
  common.oidcSeeds = CONNECTIONS.length * (8 * maxConn + 256) + 4 * maxConn + 64;
  say(`== oidc-provider ${oidcVersion} (${OIDC_WORKERS} worker${OIDC_WORKERS > 1 ? 's' : ''}), `
      + `seeding ${common.oidcSeeds} refresh tokens each`);
  const oidc = {
    sqlite: await startOidc('oidc-sqlite', `sqlite:${path.join(WORK, 'sqlite/oidc.db')}`, common),
    pgsql: await startOidc('oidc-pgsql', `pgsql:${pgUrl}`, common),
  };

  const refreshPool = { sqlite: [], pgsql: [] };
  const take = (list, n) => list.splice(0, n);
  const results = { connections: CONNECTIONS, seconds: SECONDS, threads: THREADS, rows: {} };
  const put = (row, c, r) => {
    (results.rows[row] ??= {})[c] = r;
  };

  // Warm-up, not measured: Node's JIT, httpd's children, the databases'
  // caches. Each server gets the same few seconds of refresh grants.
  say('== warm-up (3 s of refresh grants each, not measured)');
  const warmSeeds = 4 * maxConn + 64;
  {
    const codes = await mint(gws.sqlite, 4 * warmSeeds);
    const r = await wrk(gws.sqlite, 'code', 8, 10,
      ['/oauth/token', writeList('codes-warm-sqlite', codes), gws.sqlite.codeBody, '1']);
    refreshPool.sqlite.push(...collect(r.dir, 'rt'));
    const p = await mint(gws.pgsql, 4 * warmSeeds);
    const q = await wrk(gws.pgsql, 'code', 8, 10,
      ['/oauth/token', writeList('codes-warm-pgsql', p), gws.pgsql.codeBody, '1']);
    refreshPool.pgsql.push(...collect(q.dir, 'rt'));
  }
  for (const s of ['sqlite', 'pgsql']) {
    await wrk(gws[s], 'refresh', 8, 3, ['/oauth/token', writeList(`warm-${s}`, take(refreshPool[s], warmSeeds)), gws[s].refreshBody, '0']);
    await wrk(oidc[s], 'refresh', 8, 3, ['/token', writeList(`warm-oidc-${s}`, take(oidc[s].seeds, warmSeeds)), oidc[s].refreshBody, '0']);
  }
  await wrk(gws.sqlite, 'get', 8, 2, ['/hello.txt']);
  await wrk(gws.sqlite, 'same', 8, 2, ['/mcp', gws.sqlite.token]);

  for (const c of CONNECTIONS) {
    say(`== ${c} connections, ${SECONDS} s a figure`);
    let access = [];
    for (const s of ['sqlite', 'pgsql']) {
      const r = await codeGrants(gws[s], c, s === 'sqlite');
      show(`authorization-code grants, mod_mcp ${s}`, r);
      put(`code-mcp-${s}`, c, r);
      refreshPool[s].push(...r.refresh);
      access.push(...r.access);
    }
    const seedCount = 8 * c + 256;
    for (const s of ['sqlite', 'pgsql']) {
      if (refreshPool[s].length < seedCount) {
        throw new Error(`only ${refreshPool[s].length} refresh tokens from ${s}'s code grants`);
      }
      let r = await refreshGrants(gws[s], c, take(refreshPool[s], seedCount), s === 'sqlite');
      show(`refresh grants, mod_mcp ${s}`, r);
      put(`refresh-mcp-${s}`, c, r);
      access.push(...r.access);
      r = await refreshGrants(oidc[s], c, take(oidc[s].seeds, seedCount), false);
      show(`refresh grants, oidc-provider ${s}`, r);
      put(`refresh-oidc-${s}`, c, r);
    }
    // Static and cached alternate, three pairs of half-length runs: the
    // cost of the check is the median of the pairs' costs, each pair
    // measured seconds apart, so that a drift of the shared machine
    // cancels out. Then the fresh tokens, once.
    const g = gws.sqlite;
    const half = Math.max(1, Math.round(SECONDS / 2));
    const statics = [];
    const cached = [];
    for (let i = 0; i < 3; i++) {
      let r = await wrk(g, 'get', c, half, ['/hello.txt']);
      show('GET static file, no auth', r);
      statics.push(r);
      r = await wrk(g, 'same', c, half, ['/mcp', g.token]);
      show('GET protected, same token (cached)', r);
      cached.push(r);
    }
    const r = await wrk(g, 'pool', c, SECONDS, ['/mcp', writeList(`access-${c}`, access)]);
    show(`GET protected, fresh token (${access.length} tokens)`, r);
    put('bearer-fresh', c, r);
    put('static', c, {
      rate: median(statics.map((x) => x.rate)),
      runs: statics.map((x) => x.rate),
      cpu_us: median(statics.map((x) => x.cpu_us)),
    });
    put('bearer-cached', c, {
      rate: median(cached.map((x) => x.rate)),
      runs: cached.map((x) => x.rate),
      cost: median(cached.map((x, i) => 1 - x.rate / statics[i].rate)),
      cpu_us: median(cached.map((x) => x.cpu_us)),
      cpu_cost: median(cached.map((x, i) => x.cpu_us / statics[i].cpu_us - 1)),
    });
    access = [];
  }
  report(results, { version, oidcVersion });
  fs.writeFileSync(path.join(WORK, 'results.json'), JSON.stringify(results, (k, v) => (k === 'refresh' || k === 'access' ? undefined : v), 2));
}

function report(results, { version, oidcVersion }) {
  const cs = results.connections;
  const col = (s) => String(s).padStart(11);
  const rate = (row, c) => results.rows[row]?.[c]?.rate;
  const fmt = (v) => (v === undefined ? '-' : v.toFixed(0));
  const lines = [];
  lines.push('');
  lines.push(`mod_mcp_authz benchmark: ${cores()} cores, wrk -t${results.threads}, ${results.seconds} s a figure, 127.0.0.1`);
  lines.push(`  ${version}, event MPM ${CHILDREN}x${64 / CHILDREN} threads; oidc-provider ${oidcVersion} on Node ${process.versions.node} (${OIDC_WORKERS} process${OIDC_WORKERS > 1 ? 'es' : ''})`);
  lines.push('');
  lines.push(`${'per second'.padEnd(48)}${cs.map((c) => col(`${c} conns`)).join('')}`);
  const rows = [
    ['authorization-code grants', null],
    ['  mod_mcp_authz, SQLite', 'code-mcp-sqlite'],
    ['  mod_mcp_authz, PostgreSQL', 'code-mcp-pgsql'],
    ['refresh grants (rotation)', null],
    ['  mod_mcp_authz, SQLite', 'refresh-mcp-sqlite'],
    ['  oidc-provider, SQLite (node:sqlite)', 'refresh-oidc-sqlite'],
    ['  mod_mcp_authz, PostgreSQL', 'refresh-mcp-pgsql'],
    ['  oidc-provider, PostgreSQL (pg)', 'refresh-oidc-pgsql'],
    ['GET of one small file', null],
    ['  static, no auth', 'static'],
    ['  AuthType mcp, same token (cached)', 'bearer-cached'],
    ['  AuthType mcp, fresh token (ES256 verify)', 'bearer-fresh'],
  ];
  for (const [label, row] of rows) {
    lines.push(row ? `${label.padEnd(48)}${cs.map((c) => col(fmt(rate(row, c)))).join('')}` : label);
  }
  lines.push('server CPU per request, us (user + system)');
  const cpu = (row, c) => results.rows[row]?.[c]?.cpu_us;
  for (const [label, row] of [['  static, no auth', 'static'], ['  AuthType mcp, same token (cached)', 'bearer-cached'],
    ['  AuthType mcp, fresh token (ES256 verify)', 'bearer-fresh']]) {
    lines.push(`${label.padEnd(48)}${cs.map((c) => col(cpu(row, c) === undefined ? '-' : cpu(row, c).toFixed(0))).join('')}`);
  }
  lines.push('');
  lines.push(`${'ratios'.padEnd(48)}${cs.map((c) => col(`${c} conns`)).join('')}   target`);
  const verdicts = [];
  const ratio = (label, f, target, ok, unit) => {
    const vals = cs.map(f);
    const pass = ok && vals.every((v) => v !== undefined && !Number.isNaN(v) && ok(v));
    const shown = vals.map((v) => (v === undefined || Number.isNaN(v) ? '-' : unit === '%' ? `${(v * 100).toFixed(1)} %` : `${v.toFixed(2)}x`));
    lines.push(`${label.padEnd(48)}${shown.map(col).join('')}   ${target ? `${target.padEnd(8)} ${pass ? 'PASS' : 'MISS'}` : ''}`);
    if (target) verdicts.push(pass);
  };
  ratio('refresh, SQLite: mod_mcp / oidc-provider', (c) => rate('refresh-mcp-sqlite', c) / rate('refresh-oidc-sqlite', c), '>= 2', (v) => v >= 2, 'x');
  ratio('refresh, PostgreSQL: mod_mcp / oidc-provider', (c) => rate('refresh-mcp-pgsql', c) / rate('refresh-oidc-pgsql', c), '>= 2', (v) => v >= 2, 'x');
  ratio('cached bearer check: 1 - cached/static', (c) => results.rows['bearer-cached']?.[c]?.cost, '<= 5 %', (v) => v <= 0.05, '%');
  ratio('  the same in server CPU: cached/static - 1', (c) => results.rows['bearer-cached']?.[c]?.cpu_cost, null, null, '%');
  ratio('fresh-token bearer check: 1 - fresh/static', (c) => 1 - rate('bearer-fresh', c) / rate('static', c), null, null, '%');
  lines.push('');
  lines.push('Figures count 200 answers only. Static and cached: medians of three alternating');
  lines.push('pairs of runs; their cost is the median of the three pairs\' costs. Fresh tokens:');
  lines.push('each used once (a pool of access tokens from the grants above).');
  lines.push('A benchmark reports: MISS does not fail anything.');
  process.stdout.write(`${lines.join('\n')}\n`);
}

try {
  await main();
} catch (e) {
  say(`error: ${e.stack || e}`);
  cleanup();
  process.exit(1);
}
cleanup();
