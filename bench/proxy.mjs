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

// The benchmark of mod_mcp_proxy (run it through bench/proxy.sh, which
// installs, builds and drops root). In one run, on 127.0.0.1 only:
//
//   - bench/mcp_upstream (C, epoll, one thread, fixed JSON answers),
//     built here with cc, pinned with httpd to the server CPU;
//   - one httpd (event MPM, Debian's thread settings with room for the
//     streams, the modules of the build) serving (b) /plain, a ProxyPass
//     of mod_proxy_http to the upstream, and (c) /mcp, mod_mcp_proxy
//     behind AuthType mcp with the same upstream as its only backend,
//     plus /fanout-one and /fanout-ten (1 and 10 backends that answer
//     after BENCH_DELAY_MS) and /server-status;
//   - a bearer token of the gateway's own authorization server, minted
//     once through /oauth/authorize (user and consent) and /oauth/token;
//   - wrk (bench/wrk/proxy.lua) on the client CPU: tools/call requests/s
//     and latency at each of BENCH_CONNECTIONS for (a) the upstream
//     directly, (b) and (c), the three alternating for BENCH_ROUNDS rounds
//     (medians); tools/list through 10 delayed backends against 1;
//   - BENCH_STREAMS idle GET SSE streams held open through (b) and then
//     (c), each on a freshly started httpd: RSS and PSS of httpd's
//     processes before and during, BusyWorkers of mod_status, open
//     connections counted from /proc/net/tcp.
//
// It prints every figure and ratio with its target, MISSED next to the
// targets missed; a missed target does not fail the run. Every load loop
// is bounded in time (wrk -d, deadlines) and count. Everything started is
// stopped at the end, on an error and on SIGINT/SIGTERM.
//
// Environment: BENCH_SECONDS (5, a wrk run), BENCH_ROUNDS (3),
// BENCH_CONNECTIONS ("1 64"), BENCH_THREADS (wrk threads, 1),
// BENCH_STREAMS (1000), BENCH_HOLD_SECONDS (5), BENCH_DELAY_MS (50),
// BENCH_FANOUT (10), BENCH_SERVER_CPU (0), BENCH_CLIENT_CPU (1),
// BENCH_STREAM_SESSIONS ("one": every stream of (c) on one session;
// "each": a session per stream), BENCH_BUILD (<checkout>/build/demo),
// BENCH_DIR (work directory, recreated), BENCH_KEEP=1 (leave it),
// BENCH_PAUSE (0; seconds to wait once the servers are up and the token
// and session made, before the measurements, with what a request needs
// in BENCH_DIR/pause.json: to attach a profiler to the servers).

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
const num = (name, dflt, min, max) => {
  const v = Number(env[name] ?? dflt);
  if (!Number.isInteger(v) || v < min || v > max) {
    throw new Error(`${name} must be an integer from ${min} to ${max}`);
  }
  return v;
};
const SECONDS = num('BENCH_SECONDS', 5, 1, 600);
const ROUNDS = num('BENCH_ROUNDS', 3, 1, 20);
const THREADS = num('BENCH_THREADS', 1, 1, 64);
const STREAMS = num('BENCH_STREAMS', 1000, 1, 5000);
const HOLD = num('BENCH_HOLD_SECONDS', 5, 1, 600);
const DELAY = num('BENCH_DELAY_MS', 50, 0, 10000);
const FANOUT = num('BENCH_FANOUT', 10, 2, 64);
const SERVER_CPU = num('BENCH_SERVER_CPU', 0, 0, 4095);
const CLIENT_CPU = num('BENCH_CLIENT_CPU', 1, 0, 4095);
const PAUSE = num('BENCH_PAUSE', 0, 0, 3600);
const CONNECTIONS = (env.BENCH_CONNECTIONS || '1 64').split(/\s+/).filter(Boolean).map(Number);
const STREAM_SESSIONS = env.BENCH_STREAM_SESSIONS || 'one';
const BUILD = path.resolve(env.BENCH_BUILD || path.join(SRC, 'build/demo'));
const WORK = path.resolve(env.BENCH_DIR || path.join(os.tmpdir(), `mod_mcp-bench-proxy-${process.getuid()}`));
const LUA = path.join(SRC, 'bench/wrk/proxy.lua');
const USER = 'bench';
const PASSWORD = 'bench';
const REDIRECT = 'http://127.0.0.1:53682/callback';
const VERIFIER = 'bench-verifier-0123456789-0123456789-0123456789';
const CHALLENGE = crypto.createHash('sha256').update(VERIFIER).digest('base64url');
const PROTOCOL = '2025-11-25';
const ACCEPT = 'application/json, text/event-stream';

// Debian's mpm_event.conf, with room for the streams: ServerLimit and
// MaxRequestWorkers raised (both (b) and (c) get these).
const STREAM_WORKERS = Math.ceil((STREAMS + 200) / 25) * 25;
const MPM = {
  StartServers: 2,
  ServerLimit: STREAM_WORKERS / 25,
  ThreadLimit: 64,
  ThreadsPerChild: 25,
  MinSpareThreads: 25,
  MaxSpareThreads: 75,
  MaxRequestWorkers: STREAM_WORKERS,
  MaxConnectionsPerChild: 0,
};

if (!CONNECTIONS.length || CONNECTIONS.some((c) => !Number.isInteger(c) || c < THREADS || c > 1024)) {
  throw new Error('BENCH_CONNECTIONS: numbers from BENCH_THREADS to 1024');
}
if (!['one', 'each'].includes(STREAM_SESSIONS)) {
  throw new Error('BENCH_STREAM_SESSIONS: one or each');
}
if (WORK === '/' || SRC.startsWith(`${WORK}/`) || WORK === SRC) {
  throw new Error(`BENCH_DIR=${WORK}: a directory of its own, which the benchmark empties`);
}

function say(...a) {
  process.stderr.write(`${a.join(' ')}\n`);
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ---- processes ----

const children = new Set();
let stopping = false;

function cleanup() {
  if (stopping) return;
  stopping = true;
  for (const c of children) {
    try { c.kill('SIGTERM'); } catch { /* gone */ }
  }
  const until = Date.now() + 10000;
  // Bounded wait for the children, then force (the event loop is not
  // running here: a zombie has ended).
  while ([...children].some((c) => c.exitCode === null && c.signalCode === null)
         && Date.now() < until) {
    execFileSync('sleep', ['0.1']);
    for (const c of children) {
      let state = 'Z';
      try { state = fs.readFileSync(`/proc/${c.pid}/stat`, 'utf8').split(') ')[1][0]; } catch { /* gone */ }
      if (state === 'Z') children.delete(c);
    }
  }
  for (const c of children) {
    try { c.kill('SIGKILL'); } catch { /* gone */ }
  }
  if (env.BENCH_KEEP !== '1') {
    fs.rmSync(WORK, { recursive: true, force: true });
  }
}

process.on('SIGINT', () => { say('\ninterrupted: stopping everything'); cleanup(); process.exit(130); });
process.on('SIGTERM', () => { cleanup(); process.exit(143); });
process.on('exit', cleanup);

let PIN = false;

// A server process: on the server CPU when pinning.
function start(name, cmd, args) {
  const log = fs.openSync(path.join(WORK, 'logs', `${name}.log`), 'a');
  const argv = PIN ? ['-c', String(SERVER_CPU), cmd, ...args] : args;
  const c = spawn(PIN ? 'taskset' : cmd, argv, { stdio: ['ignore', log, log] });
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

async function stop(c, seconds = 15) {
  if (!c || c.exitCode !== null || c.signalCode !== null) return;
  c.expectedExit = true;
  const gone = new Promise((r) => c.once('exit', r));
  c.kill('SIGTERM');
  const t = setTimeout(() => c.kill('SIGKILL'), seconds * 1000);
  await gone;
  clearTimeout(t);
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
    await sleep(100);
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

// ---- /proc ----

const CLK_TCK = Number(sh('getconf', ['CLK_TCK'])) || 100;

function procStat(pid) {
  try {
    const st = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return st.slice(st.lastIndexOf(')') + 2).split(' ');
  } catch {
    return null;
  }
}

// A process and its children (httpd's main process and its children).
function tree(pid) {
  const pids = [];
  for (const d of fs.readdirSync('/proc')) {
    if (!/^[0-9]+$/.test(d)) continue;
    const f = procStat(d);
    // f[1] is the ppid (man 5 proc).
    if (f && (Number(d) === pid || Number(f[1]) === pid)) pids.push(Number(d));
  }
  return pids;
}

// CPU time (user + system, clock ticks) of processes' trees. The MPM
// stops idle children during a run: their time is then in the parent's
// cutime and cstime (f[13], f[14]), counted with the parent's own.
function cpuTicks(pids) {
  let total = 0;
  for (const pid of pids) {
    for (const p of tree(pid)) {
      const f = procStat(p);
      if (f) total += Number(f[11]) + Number(f[12]) + (p === pid ? Number(f[13]) + Number(f[14]) : 0);
    }
  }
  return total;
}

// RSS and PSS (kB) summed over a process tree.
function memory(pid) {
  let rss = 0;
  let pss = 0;
  const pids = tree(pid);
  for (const p of pids) {
    try {
      const m = fs.readFileSync(`/proc/${p}/status`, 'utf8').match(/^VmRSS:\s+(\d+)/m);
      if (m) rss += Number(m[1]);
    } catch { /* gone */ }
    try {
      const m = fs.readFileSync(`/proc/${p}/smaps_rollup`, 'utf8').match(/^Pss:\s+(\d+)/m);
      if (m) pss += Number(m[1]);
    } catch { /* gone or not readable */ }
  }
  return { rss, pss, processes: pids.length };
}

// ESTABLISHED TCP connections on 127.0.0.1 whose local port is port (the
// server's side of its connections).
function established(port) {
  const hex = `:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  let n = 0;
  for (const line of fs.readFileSync('/proc/net/tcp', 'utf8').split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length > 3 && f[1].endsWith(hex) && f[3] === '01') n++;
  }
  return n;
}

// ---- the servers ----

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

function backendLines(g, n, delay) {
  const lines = [];
  for (let i = 1; i <= n; i++) {
    const name = `b${String(i).padStart(2, '0')}`;
    lines.push(`    MCPProxyBackend ${name} http://127.0.0.1:${g.upstream}/mcp/delay_ms=${delay} prefix=${name}_`);
  }
  return lines.join('\n');
}

// No access log (it would measure the disk), error log at warn; keep-alive
// without a request limit on the client side (wrk keeps its connections),
// mod_proxy_http's default connection reuse to the upstream.
function httpdConf(g) {
  const mod = (name, file) => `LoadModule ${name} "${path.join(g.moddir, file)}"`;
  const resource = (p) => `    AuthType mcp
    Require mcp-scope mcp
    MCPAuthzResource http://127.0.0.1:${g.port}${p}`;
  return `# Generated by bench/proxy.mjs.
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
${mod('dbd_module', 'mod_dbd.so')}
${mod('socache_shmcb_module', 'mod_socache_shmcb.so')}
${mod('status_module', 'mod_status.so')}
${mod('proxy_module', 'mod_proxy.so')}
${mod('proxy_http_module', 'mod_proxy_http.so')}
<IfModule !watchdog_module>
    ${mod('watchdog_module', 'mod_watchdog.so')}
</IfModule>
LoadModule mcp_authz_module "${path.join(BUILD, '.libs/mod_mcp_authz.so')}"
LoadModule mcp_proxy_module "${path.join(BUILD, '.libs/mod_mcp_proxy.so')}"

${Object.entries(MPM).map(([k, v]) => `${k} ${v}`).join('\n')}
KeepAlive On
MaxKeepAliveRequests 0
KeepAliveTimeout 5
Timeout 300

ErrorLog "${g.dir}/logs/error_log"
LogLevel warn

DBDriver sqlite3
DBDParams "${g.db}"
DBDMin 1
DBDKeep 1
DBDMax 1
DBDExptime 300

MCPAuthzIssuer http://127.0.0.1:${g.port}
MCPAuthzSigningKey "${g.key}"
MCPAuthzScope mcp "Use the benchmark's gateway"
MCPAuthzLifetime access 3600
MCPAuthzRegistrationRate 0
MCPAuthzCache shmcb:${g.dir}/run/authz-cache(1048576)

<Directory />
    AllowOverride None
    Require all denied
</Directory>

<Location /oauth/authorize>
    AuthType Basic
    AuthName "mod_mcp bench"
    AuthBasicProvider file
    AuthUserFile "${g.users}"
    Require valid-user
</Location>

<Location /server-status>
    SetHandler server-status
    Require all granted
</Location>

# (b) mod_proxy_http, a pooled connection to the upstream per thread.
ProxyPass /plain http://127.0.0.1:${g.upstream}/mcp
<Location /plain>
    Require all granted
</Location>

# (c) mod_mcp_proxy, the same upstream as its only backend.
<Location /mcp>
${resource('/mcp')}
    SetHandler mcp-proxy
    MCPProxyBackend up http://127.0.0.1:${g.upstream}/mcp prefix=up_
</Location>

# tools/list fan-out: backends that answer after ${DELAY} ms (one token for
# all: they share /mcp's resource).
<Location /fanout-one>
${resource('/mcp')}
    SetHandler mcp-proxy
${backendLines(g, 1, DELAY)}
</Location>
<Location /fanout-ten>
${resource('/mcp')}
    SetHandler mcp-proxy
${backendLines(g, FANOUT, DELAY)}
</Location>
`;
}

async function startHttpd(g) {
  g.proc = start(`httpd-${++g.starts}`, g.httpd, ['-d', g.dir, '-f', g.conf, '-DFOREGROUND']);
  await waitFor('httpd', () => listening(g.port), 30);
}

// Register a public client, consent once, and take one access token.
async function mintToken(g) {
  let res = await fetch(`${g.base}/oauth/register`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({
      client_name: 'mod_mcp bench', redirect_uris: [REDIRECT],
      grant_types: ['authorization_code'], response_types: ['code'],
      token_endpoint_auth_method: 'none',
    }),
  });
  if (res.status !== 201) throw new Error(`registration: ${res.status} ${await res.text()}`);
  const clientId = (await res.json()).client_id;
  const query = new URLSearchParams({
    response_type: 'code', client_id: clientId, redirect_uri: REDIRECT, scope: 'mcp',
    resource: `${g.base}/mcp`, code_challenge: CHALLENGE, code_challenge_method: 'S256', state: 'bench',
  });
  const { params } = await approve(`${g.base}/oauth/authorize?${query}`, USER, PASSWORD, 'allow');
  if (!params.code) throw new Error(`no code: ${JSON.stringify(params)}`);
  res = await fetch(`${g.base}/oauth/token`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'authorization_code', client_id: clientId, redirect_uri: REDIRECT,
      code_verifier: VERIFIER, code: params.code,
    }),
  });
  const tok = await res.json();
  if (res.status !== 200 || !tok.access_token) throw new Error(`token: ${JSON.stringify(tok)}`);
  return tok.access_token;
}

// ---- MCP requests ----

const CALL = JSON.stringify({
  jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'up_echo', arguments: { text: 'hi' } },
});
const LIST = JSON.stringify({ jsonrpc: '2.0', id: 3, method: 'tools/list', params: {} });

function mcpHeaders(g, session) {
  const h = {
    'Content-Type': 'application/json', Accept: ACCEPT, 'MCP-Protocol-Version': PROTOCOL,
    Authorization: `Bearer ${g.token}`,
  };
  if (session) h['Mcp-Session-Id'] = session;
  return h;
}

async function post(url, headers, body) {
  const res = await fetch(url, { method: 'POST', headers, body, signal: AbortSignal.timeout(30000) });
  const text = await res.text();
  let json = null;
  const data = (res.headers.get('content-type') || '').startsWith('text/event-stream')
    ? text.split('\n').filter((l) => l.startsWith('data:')).map((l) => l.slice(5)).pop() : text;
  try { json = JSON.parse(data); } catch { /* not JSON */ }
  return { status: res.status, headers: res.headers, text, json };
}

// An initialized gateway session at path, or null with the reason.
async function initialize(g, p) {
  const h = mcpHeaders(g);
  delete h['MCP-Protocol-Version'];
  const r = await post(`${g.base}${p}`, h, JSON.stringify({
    jsonrpc: '2.0', id: 1, method: 'initialize',
    params: { protocolVersion: PROTOCOL, capabilities: {}, clientInfo: { name: 'bench', version: '1.0.0' } },
  }));
  const session = r.headers.get('mcp-session-id');
  if (r.status !== 200 || !r.json?.result || !session) {
    return { session: null, why: `initialize at ${p}: HTTP ${r.status} ${r.text.slice(0, 300)}` };
  }
  const n = await post(`${g.base}${p}`, mcpHeaders(g, session),
    JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }));
  if (n.status !== 202) {
    return { session: null, why: `notifications/initialized at ${p}: HTTP ${n.status} ${n.text.slice(0, 300)}` };
  }
  return { session, why: null };
}

// Whether a tools/call through url is answered with a result.
async function callWorks(url, headers) {
  const r = await post(url, headers, CALL);
  return { ok: r.status === 200 && !!r.json?.result && !r.json.error, text: `HTTP ${r.status} ${r.text.slice(0, 300)}` };
}

// ---- wrk ----

let wrkRun = 0;

async function wrk(g, target, p, connections, seconds, body, headers) {
  ++wrkRun;
  const hdr = Object.entries(headers).filter(([k]) => k !== 'Content-Type').map(([k, v]) => `${k}: ${v}`);
  const argv = ['-t', String(THREADS), '-c', String(connections), '-d', `${seconds}s`,
    '--timeout', '10s', '-s', LUA, target, '--', p, body, ...hdr];
  const servers = [g.proc.pid, g.upstreamProc.pid];
  const up0 = await upstreamStats(g);
  const cpu0 = cpuTicks(servers);
  const c = spawn(PIN ? 'taskset' : 'wrk', PIN ? ['-c', String(CLIENT_CPU), 'wrk', ...argv] : argv,
    { stdio: ['ignore', 'pipe', 'pipe'] });
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
    throw new Error(`wrk ${p} failed (${code}): ${stderr}${stdout}`);
  }
  const r = JSON.parse(line);
  r.sample = (stdout.match(/^first answer not ok: (.*)$/m) || [])[1];
  r.cpu_us = r.ok ? ((cpuTicks(servers) - cpu0) * 1e6) / CLK_TCK / r.ok : undefined;
  const up1 = await upstreamStats(g);
  // Less the counters' own connection.
  r.up_conns = r.ok ? ((up1.accepted - up0.accepted - 1) * 1000) / r.ok : undefined;
  r.up_posts = r.ok ? (up1.posts - up0.posts) / r.ok : undefined;
  return r;
}

function show(what, r) {
  const extra = [];
  if (r.bad) extra.push(`${r.bad} not ok`);
  if (r.errors) extra.push(`${r.errors} socket errors`);
  if (r.cpu_us) extra.push(`server CPU ${r.cpu_us.toFixed(0)} us/call`);
  if (r.up_conns !== undefined) extra.push(`${r.up_conns.toFixed(1)} upstream connections/1000 calls`);
  say(`   ${what.padEnd(34)} ${r.rate.toFixed(0).padStart(7)}/s  p50 ${us(r.p50_us)}  p99 ${us(r.p99_us)}`
      + `${extra.length ? `  (${extra.join(', ')})` : ''}`);
  if (r.sample) say(`      first answer not ok: ${r.sample}`);
}

function us(v) {
  return v === undefined || Number.isNaN(v) ? '-' : `${v.toFixed(0)} us`;
}

function median(xs) {
  const s = xs.filter((x) => x !== undefined && !Number.isNaN(x)).sort((a, b) => a - b);
  if (!s.length) return undefined;
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

// Medians over rounds; a run without any ok answer has no latency.
function summarize(runs) {
  const lat = (k) => median(runs.map((r) => (r.ok ? r[k] : undefined)));
  return {
    rate: median(runs.map((r) => r.rate)),
    runs: runs.map((r) => r.rate),
    p50_us: lat('p50_us'),
    p99_us: lat('p99_us'),
    mean_us: lat('mean_us'),
    cpu_us: median(runs.map((r) => r.cpu_us)),
    up_conns: median(runs.map((r) => r.up_conns)),
    up_posts: median(runs.map((r) => r.up_posts)),
    bad: runs.reduce((a, r) => a + r.bad, 0),
    errors: runs.reduce((a, r) => a + r.errors, 0),
  };
}

// ---- idle SSE streams ----

// Open n GET streams (at most 64 waiting for their answer at a time),
// each counted as held when its answer is 200 text/event-stream. Bounded
// by a deadline. Returns the sockets and the counts.
async function openStreams(g, p, headersFor, n, seconds) {
  const sockets = [];
  const statuses = {};
  let held = 0;
  let next = 0;
  let pending = 0;
  const deadline = Date.now() + seconds * 1000;
  await new Promise((resolve) => {
    const done = () => { if (next >= n && pending === 0) resolve(); };
    const timer = setTimeout(resolve, seconds * 1000);
    const launch = () => {
      while (pending < 64 && next < n && Date.now() < deadline) {
        const i = next++;
        pending++;
        const s = net.connect({ host: '127.0.0.1', port: g.port });
        const st = { socket: s, held: false, closed: false, answered: false };
        sockets.push(st);
        let buf = '';
        const settle = () => {
          if (st.answered) return;
          st.answered = true;
          pending--;
          launch();
          if (next >= n && pending === 0) { clearTimeout(timer); done(); }
        };
        s.setNoDelay(true);
        s.on('connect', () => {
          const h = headersFor(i);
          s.write(`GET ${p} HTTP/1.1\r\nHost: 127.0.0.1:${g.port}\r\n`
            + `${Object.entries(h).map(([k, v]) => `${k}: ${v}\r\n`).join('')}\r\n`);
        });
        s.on('data', (d) => {
          if (st.answered) return;
          buf += d.toString('latin1');
          const end = buf.indexOf('\r\n\r\n');
          if (end < 0 && buf.length < 65536) return;
          const head = buf.slice(0, end);
          const status = (head.match(/^HTTP\/1\.1 (\d{3})/) || [])[1] || 'garbled';
          statuses[status] = (statuses[status] || 0) + 1;
          if (status === '200' && /^content-type:\s*text\/event-stream/im.test(head)) {
            st.held = true;
            held++;
          } else if (!st.sample) {
            statuses.sample ??= `${head.split('\r\n')[0]} ${buf.slice(end + 4, end + 200)}`;
          }
          settle();
        });
        s.on('error', () => { statuses.error = (statuses.error || 0) + 1; st.closed = true; settle(); });
        s.on('close', () => { st.closed = true; settle(); });
      }
      if (Date.now() >= deadline && pending === 0) resolve();
    };
    launch();
  });
  return { sockets, statuses, held };
}

// A GET over a connection of its own (HTTP/1.0: no pooled keep-alive
// connection that the server may have closed); the body, or null.
function rawGet(port, p) {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port });
    let t = '';
    s.setTimeout(10000, () => { s.destroy(); resolve(null); });
    s.on('connect', () => s.write(`GET ${p} HTTP/1.0\r\nHost: 127.0.0.1:${port}\r\nConnection: close\r\n\r\n`));
    s.on('data', (d) => { t += d; });
    s.on('error', () => resolve(null));
    s.on('close', () => {
      const i = t.indexOf('\r\n\r\n');
      resolve(i < 0 ? null : t.slice(i + 4));
    });
  });
}

// mod_status's machine-readable page.
async function serverStatus(g) {
  const t = await rawGet(g.port, '/server-status?auto');
  if (t === null) return { error: 'no answer' };
  const f = (k) => Number((t.match(new RegExp(`^${k}: (\\d+)`, 'm')) || [])[1]);
  // A child the MPM stops (more idle threads than MaxSpareThreads) keeps
  // its streams: its workers are 'G' in the scoreboard, not BusyWorkers.
  const sb = (t.match(/^Scoreboard: (.*)$/m) || [])[1] || '';
  return { busy: f('BusyWorkers'), graceful: sb.split('G').length - 1, idle: f('IdleWorkers'),
    processes: f('Processes'), stopping: f('Stopping'), conns: f('ConnsTotal') };
}

// The upstream's counters: connections accepted, POSTs answered.
async function upstreamStats(g) {
  try {
    return JSON.parse(await rawGet(g.upstream, '/bench-stats')) ?? { accepted: NaN, posts: NaN };
  } catch {
    return { accepted: NaN, posts: NaN };
  }
}

// One stream measurement on a freshly started httpd: before, during.
async function streamPhase(g, label, p, prepare) {
  await stop(g.proc);
  await startHttpd(g);
  const headersFor = await prepare();
  if (!headersFor) return null;
  await sleep(2000);
  const before = { mem: memory(g.proc.pid), status: await serverStatus(g),
    clients: established(g.port), upstream: established(g.upstream) };
  say(`   ${label}: before: RSS ${(before.mem.rss / 1024).toFixed(1)} MB in ${before.mem.processes} processes, `
      + `BusyWorkers ${before.status.busy}`);
  const t0 = Date.now();
  const o = await openStreams(g, p, headersFor, STREAMS, 120);
  const openSeconds = (Date.now() - t0) / 1000;
  say(`   ${label}: ${o.held} of ${STREAMS} streams answered 200 text/event-stream in ${openSeconds.toFixed(1)} s `
      + `(${JSON.stringify(o.statuses)}); holding ${HOLD} s`);
  await sleep(HOLD * 1000);
  const during = { mem: memory(g.proc.pid), status: await serverStatus(g),
    clients: established(g.port), upstream: established(g.upstream) };
  const stillOpen = o.sockets.filter((s) => s.held && !s.closed).length;
  for (const s of o.sockets) s.socket.destroy();
  // Bounded wait for httpd to see them go.
  const until = Date.now() + 15000;
  while (established(g.port) > before.clients + 2 && Date.now() < until) await sleep(200);
  // Whether the workers let go once the clients are gone (the upstream
  // still sends nothing).
  await sleep(2000);
  const after = { status: await serverStatus(g) };
  const r = {
    label, before, during, after, held: o.held, stillOpen, openSeconds, statuses: o.statuses,
    rssGrowthKB: during.mem.rss - before.mem.rss,
    pssGrowthKB: during.mem.pss - before.mem.pss,
  };
  r.rssPerStreamKB = stillOpen ? r.rssGrowthKB / stillOpen : undefined;
  r.pssPerStreamKB = stillOpen ? r.pssGrowthKB / stillOpen : undefined;
  say(`   ${label}: during: RSS ${(during.mem.rss / 1024).toFixed(1)} MB in ${during.mem.processes} processes, `
      + `BusyWorkers ${workers(during.status)}, ${stillOpen} still open, ${during.clients} client connections `
      + `and ${during.upstream} upstream connections ESTABLISHED; BusyWorkers 2 s after the clients closed: ${workers(after.status)}`);
  return r;
}

// ---- main ----

// The machine's CPUs (this process may be pinned to one of them already).
function cores() {
  return os.cpus().length;
}

let loadStart = '';

async function main() {
  loadStart = os.loadavg().map((l) => l.toFixed(2)).join(' ');
  fs.rmSync(WORK, { recursive: true, force: true });
  for (const d of ['logs', 'httpd/conf', 'httpd/logs', 'httpd/run']) {
    fs.mkdirSync(path.join(WORK, d), { recursive: true });
  }
  if (spawnSync('wrk', ['-v']).error) throw new Error('wrk is missing (Debian package wrk)');
  const affinity = spawnSync('taskset', ['-pc', String(process.pid)], { encoding: 'utf8' });
  PIN = cores() >= 2 && SERVER_CPU !== CLIENT_CPU && Math.max(SERVER_CPU, CLIENT_CPU) < cores()
    && !affinity.error;
  if (!PIN) say('warning: no pinning (fewer than 2 CPUs, the same CPU twice, or no taskset)');
  for (const f of ['.libs/mod_mcp_authz.so', '.libs/mod_mcp_proxy.so', 'support/mcpctl']) {
    if (!fs.existsSync(path.join(BUILD, f))) throw new Error(`${path.join(BUILD, f)} is missing: build ${BUILD} first (bench/proxy.sh does)`);
  }
  const upstreamBin = path.join(WORK, 'mcp_upstream');
  sh(env.CC || 'cc', ['-O2', '-Wall', '-o', upstreamBin, path.join(SRC, 'bench/mcp_upstream.c')]);

  const dir = path.join(WORK, 'httpd');
  const g = {
    dir, starts: 0, httpd: httpdBinary(), moddir: apxs('LIBEXECDIR'),
    port: await freePort(), upstream: await freePort(),
    key: path.join(WORK, 'signing.pem'), users: path.join(WORK, 'users'),
    db: path.join(WORK, 'mcp.db'), conf: path.join(dir, 'conf/httpd.conf'),
  };
  g.base = `http://127.0.0.1:${g.port}`;
  sh('openssl', ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', g.key]);
  fs.chmodSync(g.key, 0o600);
  sh('htpasswd', ['-cbs', g.users, USER, PASSWORD]);
  sh(path.join(BUILD, 'support/mcpctl'), ['--driver', 'sqlite3', '--params', g.db, 'db', 'upgrade']);
  fs.writeFileSync(g.conf, httpdConf(g));
  sh(g.httpd, ['-d', dir, '-f', g.conf, '-t']);
  const version = sh(g.httpd, ['-v']).split('\n')[0].replace(/^Server version: /, '');

  g.upstreamProc = start('upstream', upstreamBin, [String(g.upstream)]);
  await waitFor('bench/mcp_upstream', () => listening(g.upstream), 10);
  say(`== ${version}, ${BUILD}; upstream bench/mcp_upstream on 127.0.0.1:${g.upstream}`);
  await startHttpd(g);
  g.token = await mintToken(g);
  say('== bearer token minted (authorization code grant, scope mcp)');

  // ---- tools/call: (a), (b), (c) ----
  const targets = {
    a: { label: '(a) upstream directly', base: `http://127.0.0.1:${g.upstream}`, path: '/mcp' },
    b: { label: '(b) httpd mod_proxy_http', base: g.base, path: '/plain' },
    c: { label: '(c) httpd mod_mcp_proxy', base: g.base, path: '/mcp' },
  };
  const init = await initialize(g, '/mcp');
  // Every target gets the same request bytes: (a) and (b) ignore the
  // session and the token.
  const headers = mcpHeaders(g, init.session || 'none');
  const notes = [];
  for (const k of ['a', 'b', 'c']) {
    const t = targets[k];
    const w = await callWorks(`${t.base}${t.path}`, headers);
    t.works = w.ok;
    say(`   ${t.label}: tools/call answers ${w.ok ? 'a result' : `NOT a result: ${w.text}`}`);
    if (!w.ok) notes.push(`${t.label}: tools/call does not answer a result (${w.text.replace(/\s+/g, ' ').slice(0, 160)})`);
  }
  if (!init.session) {
    say(`   ${init.why}`);
    notes.push(`(c): ${init.why.replace(/\s+/g, ' ').slice(0, 200)}`);
  }

  if (PAUSE) {
    // For a profiler (perf record -C BENCH_SERVER_CPU) or a load of one's
    // own: what a request of (b) and (c) needs, then a bounded wait.
    const file = path.join(WORK, 'pause.json');
    fs.writeFileSync(file, `${JSON.stringify({
      base: g.base, plain: '/plain', mcp: '/mcp', upstream: `http://127.0.0.1:${g.upstream}/mcp`,
      httpd_pid: g.proc.pid, upstream_pid: g.upstreamProc.pid, call: CALL, headers,
    }, null, 2)}\n`);
    say(`== BENCH_PAUSE: servers up, requests described in ${file}; waiting ${PAUSE} s`);
    await sleep(PAUSE * 1000);
  }
  say('== warm-up (2 s each at 8 connections, not measured)');
  for (const k of ['a', 'b', 'c']) {
    await wrk(g, targets[k].base, targets[k].path, Math.max(8, THREADS), 2, CALL, headers);
  }
  const results = {};
  for (const c of CONNECTIONS) {
    say(`== tools/call, ${c} connection${c > 1 ? 's' : ''}, ${ROUNDS} rounds of ${SECONDS} s, alternating`);
    const runs = { a: [], b: [], c: [] };
    for (let i = 0; i < ROUNDS; i++) {
      for (const k of ['a', 'b', 'c']) {
        const r = await wrk(g, targets[k].base, targets[k].path, c, SECONDS, CALL, headers);
        show(targets[k].label, r);
        runs[k].push(r);
      }
    }
    results[c] = Object.fromEntries(Object.entries(runs).map(([k, v]) => [k, summarize(v)]));
  }

  // ---- tools/list fan-out ----
  say(`== tools/list through ${FANOUT} backends vs 1, each answering after ${DELAY} ms, 1 connection`);
  const fan = {};
  for (const [k, p] of [['one', '/fanout-one'], ['ten', '/fanout-ten']]) {
    const s = await initialize(g, p);
    fan[k] = { path: p, session: s.session, runs: [] };
    if (!s.session) {
      say(`   ${s.why}`);
      notes.push(`fan-out: ${s.why.replace(/\s+/g, ' ').slice(0, 200)}`);
      continue;
    }
    const r = await post(`${g.base}${p}`, mcpHeaders(g, s.session), LIST);
    fan[k].tools = r.json?.result?.tools?.length;
    say(`   ${p}: tools/list lists ${fan[k].tools ?? `nothing (HTTP ${r.status} ${r.text.slice(0, 200)})`} tools`);
  }
  for (let i = 0; i < ROUNDS; i++) {
    for (const k of ['one', 'ten']) {
      if (!fan[k].session) continue;
      const r = await wrk(g, g.base, fan[k].path, 1, SECONDS, LIST, mcpHeaders(g, fan[k].session));
      show(`tools/list, ${k === 'one' ? '1 backend' : `${FANOUT} backends`}`, r);
      fan[k].runs.push(r);
    }
  }
  for (const k of ['one', 'ten']) fan[k].sum = summarize(fan[k].runs);

  // ---- idle SSE streams ----
  say(`== ${STREAMS} idle SSE streams through (b) and (c), each on a fresh httpd, held ${HOLD} s`);
  const sseHeaders = { Accept: 'text/event-stream', 'MCP-Protocol-Version': PROTOCOL, Authorization: `Bearer ${g.token}` };
  const streams = {};
  streams.b = await streamPhase(g, '(b)', '/plain', async () => {
    await callWorks(`${g.base}/plain`, headers);
    return () => sseHeaders;
  });
  streams.c = await streamPhase(g, '(c)', '/mcp', async () => {
    const count = STREAM_SESSIONS === 'each' ? STREAMS : 1;
    const sessions = [];
    for (let i = 0; i < count; i++) {
      const s = await initialize(g, '/mcp');
      if (!s.session) {
        say(`   (c): ${s.why}`);
        notes.push(`streams (c): ${s.why.replace(/\s+/g, ' ').slice(0, 200)}`);
        break;
      }
      sessions.push(s.session);
    }
    if (sessions.length < count) return null;
    await callWorks(`${g.base}/mcp`, mcpHeaders(g, sessions[0]));
    return (i) => ({ ...sseHeaders, 'Mcp-Session-Id': sessions[i % sessions.length] });
  });
  await stop(g.proc);
  // httpd kills at its stops the children whose workers still wait on an
  // idle backend stream (AH00046): counted apart, not errors of a request.
  const log = fs.readFileSync(path.join(dir, 'logs/error_log'), 'utf8').split('\n');
  const killed = log.filter((l) => l.includes('AH00046')).length;
  const errors = log.filter((l) => /\[(\w+:)?(error|crit|alert|emerg)\]/.test(l) && !l.includes('AH00046'));
  if (killed) notes.push(`httpd sent SIGKILL to ${killed} children at its stops (workers still waiting on idle backend streams)`);

  report({ version, results, fan, streams, notes, errors });
  if (env.BENCH_KEEP === '1') say(`work directory kept: ${WORK}`);
}

function workers(st) {
  if (st.busy === undefined || Number.isNaN(st.busy)) return '?';
  return st.graceful ? `${st.busy}+${st.graceful}` : String(st.busy);
}

function report({ version, results, fan, streams, notes, errors }) {
  const L = [];
  const verdict = (pass) => (pass === undefined ? 'MISSED (no figure)' : pass ? 'met' : 'MISSED');
  const x = (v) => (v === undefined || Number.isNaN(v) ? '-' : `${v.toFixed(2)}x`);
  const n0 = (v) => (v === undefined || Number.isNaN(v) ? '-' : v.toFixed(0));
  const diff = (a, b) => (a === undefined || b === undefined ? undefined : a - b);
  const col = (s, w = 10) => String(s).padStart(w);
  L.push('');
  L.push(`mod_mcp_proxy benchmark: ${cores()} CPUs, 127.0.0.1 only, ${version}`);
  L.push(PIN
    ? `  pinned with taskset: httpd and bench/mcp_upstream on CPU ${SERVER_CPU}; wrk and the stream client on CPU ${CLIENT_CPU}`
    : '  NOT pinned (fewer than 2 CPUs or no taskset): servers and load generator share the CPUs');
  L.push(`  event MPM (Debian's mpm_event.conf, ServerLimit/MaxRequestWorkers raised for ${STREAMS} streams; (b) and (c) alike):`);
  L.push(`    ${Object.entries(MPM).map(([k, v]) => `${k} ${v}`).join(', ')}`);
  L.push('    KeepAlive On, MaxKeepAliveRequests 0, KeepAliveTimeout 5, Timeout 300, no access log');
  L.push(`  load average at the start ${loadStart}, at the end ${os.loadavg().map((l) => l.toFixed(2)).join(' ')} (other work on the machine disturbs the figures)`);
  L.push(`  wrk -t${THREADS}, ${ROUNDS} alternating rounds of ${SECONDS} s per figure (medians); only answers with a JSON-RPC result count`);
  L.push('');
  L.push('tools/call                          conns     req/s      p50      p99  +p50 vs (a)  +p99 vs (a)  server CPU/call  upstream conns/1k calls');
  for (const c of CONNECTIONS) {
    const r = results[c];
    for (const k of ['a', 'b', 'c']) {
      const v = r[k];
      const label = { a: '(a) upstream directly', b: '(b) mod_proxy_http', c: '(c) mod_mcp_proxy' }[k];
      L.push(`  ${label.padEnd(32)}${col(c, 6)}${col(n0(v.rate))}${col(us(v.p50_us), 9)}${col(us(v.p99_us), 9)}`
        + `${col(k === 'a' ? '' : us(diff(v.p50_us, r.a.p50_us)), 13)}${col(k === 'a' ? '' : us(diff(v.p99_us, r.a.p99_us)), 13)}`
        + `${col(v.cpu_us === undefined ? '-' : `${v.cpu_us.toFixed(0)} us`, 17)}`
        + `${col(v.up_conns === undefined || Number.isNaN(v.up_conns) ? '-' : v.up_conns.toFixed(1), 25)}`
        + `${v.bad || v.errors ? `   (${[v.bad ? `${v.bad} not ok` : '', v.errors ? `${v.errors} socket errors` : ''].filter(Boolean).join(', ')})` : ''}`);
    }
  }
  L.push('  upstream conns/1k calls: connections the upstream accepted per 1000 answered calls (for (a) those of wrk)');
  L.push(`  upstream POSTs per call: ${CONNECTIONS.map((c) => `${c} conns (b) ${results[c].b.up_posts?.toFixed(2) ?? '-'}, (c) ${results[c].c.up_posts?.toFixed(2) ?? '-'}`).join('; ')}`);
  L.push('  socket errors: wrk\'s count; read errors are connections httpd closed between requests, e.g. keep-alive');
  L.push('  connections the event MPM closes when all workers of a child are busy (wrk reconnects)');
  L.push('');
  L.push('targets and ratios');
  const cmax = CONNECTIONS.includes(64) ? 64 : Math.max(...CONNECTIONS);
  const cmin = CONNECTIONS.includes(1) ? 1 : Math.min(...CONNECTIONS);
  const rr = results[cmax];
  const rps = rr.c.rate && rr.b.rate ? rr.c.rate / rr.b.rate : undefined;
  L.push(`  (c)/(b) req/s at ${cmax} connections: ${x(rps)}   target >= 0.80x: ${verdict(rps === undefined ? undefined : rps >= 0.8)}`);
  L.push(`  (b)/(a) and (c)/(a) req/s at ${cmax}: ${x(rr.b.rate / rr.a.rate)}, ${x(rr.c.rate ? rr.c.rate / rr.a.rate : undefined)}`
    + '   (the upstream alone is faster than either: not the bottleneck)');
  const r1 = results[cmin];
  const d50 = diff(r1.c.p50_us, r1.b.p50_us);
  L.push(`  (c) p50 - (b) p50 at ${cmin} connection${cmin > 1 ? 's' : ''}: ${us(d50)}   target <= 50 us: ${verdict(d50 === undefined ? undefined : d50 <= 50)}`);
  L.push(`  (c) p99 - (b) p99 at ${cmin}: ${us(diff(r1.c.p99_us, r1.b.p99_us))}; `
    + `added p50 vs (a): (b) ${us(diff(r1.b.p50_us, r1.a.p50_us))}, (c) ${us(diff(r1.c.p50_us, r1.a.p50_us))}`);
  const f1 = fan.one.sum;
  const f10 = fan.ten.sum;
  const fr = f1.p50_us && f10.p50_us ? f10.p50_us / f1.p50_us : undefined;
  L.push(`  tools/list, ${FANOUT} backends: p50 ${us(f10.p50_us)}, p99 ${us(f10.p99_us)}, ${fan.ten.tools ?? '-'} tools; `
    + `1 backend: p50 ${us(f1.p50_us)}, p99 ${us(f1.p99_us)}, ${fan.one.tools ?? '-'} tools (each backend answers after ${DELAY} ms)`);
  L.push(`  tools/list latency ${FANOUT} backends / 1 backend (p50): ${x(fr)}   target <= 1.20x: ${verdict(fr === undefined ? undefined : fr <= 1.2)}`);
  L.push(`    p99 ratio ${x(f1.p99_us && f10.p99_us ? f10.p99_us / f1.p99_us : undefined)}, mean ratio ${x(f1.mean_us && f10.mean_us ? f10.mean_us / f1.mean_us : undefined)}`);
  L.push('');
  L.push(`${STREAMS} idle SSE streams (GET, Accept: text/event-stream; (c) on ${STREAM_SESSIONS === 'one' ? 'one initialized session' : 'a session each'}), held ${HOLD} s`);
  L.push('                                   held  still open  ESTAB client/upstream  BusyWorkers before->during->after  processes  RSS before  RSS during  RSS/stream  PSS/stream');
  const mb = (kb) => (kb === undefined ? '-' : `${(kb / 1024).toFixed(1)} MB`);
  const kb = (v) => (v === undefined || Number.isNaN(v) ? '-' : `${v.toFixed(1)} kB`);
  for (const k of ['b', 'c']) {
    const s = streams[k];
    const label = k === 'b' ? '  (b) mod_proxy_http' : '  (c) mod_mcp_proxy';
    if (!s) {
      L.push(`${label.padEnd(34)}   not measured (no session)`);
      continue;
    }
    L.push(`${label.padEnd(34)}${col(s.held, 5)}${col(s.stillOpen, 12)}${col(`${s.during.clients}/${s.during.upstream}`, 23)}`
      + `${col([s.before, s.during, s.after].map((m) => workers(m.status)).join('->'), 35)}`
      + `${col(`${s.before.mem.processes}->${s.during.mem.processes}`, 11)}${col(mb(s.before.mem.rss), 12)}${col(mb(s.during.mem.rss), 12)}`
      + `${col(kb(s.rssPerStreamKB), 12)}${col(kb(s.pssPerStreamKB), 12)}`);
    if (Object.keys(s.statuses).some((c) => c !== '200')) L.push(`      answers: ${JSON.stringify(s.statuses)}`);
  }
  for (const k of ['b', 'c']) {
    const s = streams[k];
    const all = s ? s.held === STREAMS && s.stillOpen === STREAMS : undefined;
    L.push(`  ${k === 'b' ? '(b)' : '(c)'} all ${STREAMS} streams held: ${s ? `${s.stillOpen}/${STREAMS}` : '-'}   target all: ${verdict(all)}`);
  }
  const g = streams.c && streams.b && streams.b.rssPerStreamKB > 0 ? streams.c.rssPerStreamKB / streams.b.rssPerStreamKB : undefined;
  L.push(`  RSS growth per stream (c)/(b): ${x(g)}   target <= 1.20x: ${verdict(g === undefined ? undefined : g <= 1.2)}`);
  const pg = streams.c && streams.b && streams.b.pssPerStreamKB > 0 ? streams.c.pssPerStreamKB / streams.b.pssPerStreamKB : undefined;
  L.push(`    PSS growth per stream (c)/(b): ${x(pg)} (RSS sums count shared pages once per process)`);
  L.push('  "after": BusyWorkers 2 s after the clients closed their streams (the upstream still silent);');
  L.push('  "+N": workers still serving in children the MPM is stopping (\'G\' in the scoreboard; it stops a child');
  L.push('  when more threads than MaxSpareThreads are idle, and the child keeps its streams until they end)');
  if (notes.length || errors.length) L.push('');
  for (const n of notes) L.push(`note: ${n}`);
  if (errors.length) {
    L.push(`note: httpd's error_log has ${errors.length} lines at error or worse, the first:`);
    for (const e of errors.slice(0, 3)) L.push(`  ${e.slice(0, 300)}`);
  }
  L.push('');
  L.push('A benchmark reports: MISSED does not fail anything. Compare ratios, not absolute figures.');
  process.stdout.write(`${L.join('\n')}\n`);
}

try {
  await main();
} catch (e) {
  say(`error: ${e.stack || e}`);
  cleanup();
  process.exit(1);
}
cleanup();
