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

// MCP Inspector's headless CLI (@modelcontextprotocol/inspector 2.12.0,
// `mcp-inspector --cli <url> --transport http --method ...`, built on SDK
// v2) against the gateway: its own OAuth flow without a TTY
// (MCP_AUTO_OPEN_ENABLED=true, the "browser" a stub that records the URL,
// the callback on a free 127.0.0.1 port given with --callback-url), and a
// bearer token given with --header. /mcp federates two server-everything
// upstreams (prefixes ev1_ and ev2_, as in scripts/demo): the CLI lists
// their tools and calls ev1_echo through the gateway. In the 2026-07-28
// era (server/discover) it reports the gateway's refusal.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startGateway } from './lib/gateway.mjs';
import { startEverything } from './lib/upstream.mjs';
import { approve, issueToken } from './lib/oauth.mjs';
import {
  NODE, SRC, freePort, leftAfterStop, spawnTagged, stubBrowser, waitFor,
} from './lib/proc.mjs';

const INSPECTOR = path.join(SRC, 'node_modules/@modelcontextprotocol/inspector/clients/launcher/build/index.js');
let gw, dir, stub, ev1, ev2;

before(async () => {
  ev1 = await startEverything({ tag: `mcp-e2e-insp-ev1-${process.pid}` });
  ev2 = await startEverything({ tag: `mcp-e2e-insp-ev2-${process.pid}` });
  gw = await startGateway({ location: [
    `MCPProxyBackend everything1 ${ev1.url} prefix=ev1_`,
    `MCPProxyBackend everything2 ${ev2.url} prefix=ev2_`,
  ].join('\n') });
  dir = mkdtempSync(path.join(tmpdir(), 'mcp-e2e-insp-'));
  stub = stubBrowser(dir);
});

after(async () => {
  await gw?.stop();
  await ev1?.stop();
  await ev2?.stop();
  if (dir) {
    rmSync(dir, { recursive: true, force: true });
  }
});

// Run the Inspector CLI with @args; its own HOME, secrets in memory only.
function inspector(args, { autoOpen = false, tag } = {}) {
  const home = mkdtempSync(path.join(dir, 'home-'));
  return spawnTagged(NODE, [INSPECTOR, '--cli', gw.mcpUrl, '--transport', 'http', ...args], {
    tag,
    env: {
      PATH: `${stub}:${path.dirname(NODE)}:/usr/bin:/bin`,
      HOME: home,
      BROWSER: path.join(stub, 'browser'),
      MCP_INSPECTOR_SECRET_STORE: 'memory',
      MCP_AUTO_OPEN_ENABLED: autoOpen ? 'true' : 'false',
      NO_COLOR: '1',
    },
  });
}

async function finished(run, ms = 60_000) {
  let stdout = '';
  run.child.stdout.on('data', (d) => { stdout += d; });
  await waitFor('the Inspector CLI to end', () => run.child.exitCode !== null, ms);
  return { code: run.child.exitCode, stdout, stderr: run.stderr() };
}

const lastLine = (s) => s.trim().split('\n').at(-1);

// The tools of a successful `--method tools/list` run (its stdout is the
// result as JSON).
function listedTools(run) {
  assert.equal(run.code, 0, `tools/list through the gateway: exit ${run.code}\n${run.stderr}`);
  const names = JSON.parse(run.stdout).tools.map((t) => t.name);
  assert.equal(names[0], 'gateway_whoami', names.join(', '));
  for (const n of ['ev1_echo', 'ev2_echo', 'ev1_get-sum', 'ev2_get-sum']) {
    assert.ok(names.includes(n), `${n} in ${names.join(', ')}`);
  }
  return names;
}

test('the Inspector CLI signs the demo user in by itself (DCR, PKCE, loopback callback) and lists the federated tools with its token', async () => {
  const cbPort = await freePort();
  const tag = `${dir}/oauth`;
  const run = inspector(['--method', 'tools/list', '--callback-url', `http://127.0.0.1:${cbPort}/oauth/callback`],
    { autoOpen: true, tag });
  try {
    const printed = await waitFor('the CLI to print the authorization URL', () => {
      if (run.child.exitCode !== null) {
        throw new Error(`the CLI exited early (${run.child.exitCode}): ${run.stderr()}`);
      }
      return run.stderr().match(/Please navigate to: (\S+)/)?.[1];
    }, 30_000);
    const q = Object.fromEntries(new URL(printed).searchParams);
    assert.ok(printed.startsWith(`${gw.origin}/oauth/authorize?`));
    assert.match(q.client_id, /^dcr-/, 'registered dynamically');
    assert.equal(q.redirect_uri, `http://127.0.0.1:${cbPort}/oauth/callback`);
    assert.equal(q.code_challenge_method, 'S256');
    assert.equal(q.resource, gw.mcpUrl);
    // The CLI authorizes with the resource's scopes_supported (the SDK
    // v2's fallback) plus offline_access, not with the 401's scope; the
    // metadata lists the baseline only, not the step-up section's scope.
    assert.equal(q.scope, 'mcp offline_access');
    assert.ok(q.state);
    await waitFor('the stub browser', () => existsSync(path.join(dir, 'opened')), 10_000);
    assert.match(readFileSync(path.join(dir, 'opened'), 'utf8'), /^browser http:\/\/127\.0\.0\.1:\d+\/oauth\/authorize\?/m);

    const { location, params } = await approve(printed, 'demo', gw.password);
    assert.equal(params.iss, gw.issuer);
    assert.ok(location.startsWith(`http://127.0.0.1:${cbPort}/oauth/callback?`));
    const cb = await fetch(location);
    assert.equal(cb.status, 200);
    assert.match(await cb.text(), /OAuth complete/);

    const done = await finished(run);
    assert.match(done.stderr, /Authorization complete\./);
    listedTools(done);
    // Its token was accepted: HTTP 200 for the user demo and the client
    // it registered.
    assert.match(gw.accessLog(), new RegExp(` - demo \\[[^\\]]+\\] "POST /mcp HTTP/1\\.1" 200 \\d+ \\d+ ${q.client_id}\\n`));
  } finally {
    await run.stop();
  }
  assert.deepEqual(await leftAfterStop({ tag }), [], 'the CLI left no process (callback server included)');
});

test('the Inspector CLI with a bearer token (--header) lists the federated tools and calls ev1_echo; in the 2026-07-28 era it reports the gateway\'s answer to server/discover', async () => {
  // A token the gateway issued to demo.
  const header = `Authorization: Bearer ${(await issueToken(gw, { user: 'demo', scope: 'mcp' })).access_token}`;

  const legacy = await finished(inspector(['--method', 'tools/list', '--header', header], { tag: `${dir}/legacy` }));
  listedTools(legacy);

  const call = await finished(inspector(['--method', 'tools/call', '--tool-name', 'ev1_echo', '--tool-arg', 'message=hi',
    '--header', header], { tag: `${dir}/call` }));
  assert.equal(call.code, 0, `tools/call ev1_echo: exit ${call.code}\n${call.stderr}`);
  assert.deepEqual(JSON.parse(call.stdout).content, [{ type: 'text', text: 'Echo: hi' }], call.stdout);

  const modern = await finished(inspector(['--method', 'tools/list', '--protocol-era', 'modern', '--header', header],
    { tag: `${dir}/modern` }));
  assert.equal(modern.code, 1);
  assert.deepEqual(JSON.parse(lastLine(modern.stderr)), { error: { code: 'error', message:
    'Version negotiation failed: the server did not offer pinned protocol version 2026-07-28 via server/discover (no fallback in pin mode)' } });

  // Without a token and without a TTY it does not start a sign-in.
  const anon = await finished(inspector(['--method', 'tools/list', '--stored-auth-only'], { tag: `${dir}/anon` }));
  assert.equal(anon.code, 3);
  assert.equal(JSON.parse(lastLine(anon.stderr)).error.code, 'auth_required');
  for (const t of ['legacy', 'call', 'modern', 'anon']) {
    assert.deepEqual(await leftAfterStop({ tag: `${dir}/${t}` }), []);
  }
});

test('stopping the gateway and the upstreams leaves no process behind', async () => {
  const { dir: gwDir } = gw;
  const left = await gw.stop();
  gw = null;
  assert.deepEqual(left, []);
  assert.deepEqual(await leftAfterStop({ dir: gwDir }), []);
  await ev1.stop();
  await ev2.stop();
  ev1 = ev2 = null;
  for (const n of ['ev1', 'ev2']) {
    assert.deepEqual(await leftAfterStop({ tag: `mcp-e2e-insp-${n}-${process.pid}` }), []);
  }
});
