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

// The MCP conformance suite's authorization server scenarios
// (@modelcontextprotocol/conformance 0.2.0-alpha.12, `conformance
// authorization`) against the demo gateway (scripts/demo on free ports):
// authorization-server-metadata-endpoint and authorization-code-grant.
// The suite prints the authorization URL and waits for its callback on
// 127.0.0.1:<port>/callback; the test signs the demo user in with
// approve() and delivers the redirect. Both scenarios must pass with no
// FAILURE check. The checks.json files are kept in
// build/check-logs/conformance-authorization/.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { approve } from './lib/oauth.mjs';
import { NODE, SRC, freePort, leftAfterStop, processesOf, spawnTagged, waitFor, within } from './lib/proc.mjs';

const CONFORMANCE = path.join(SRC, 'node_modules/@modelcontextprotocol/conformance/dist/index.js');
const LOG_DIR = path.join(SRC, 'build/check-logs/conformance-authorization');
const PASSWORD = 'e2e-secret';

let demo, dir, ports, issuer;

before(async () => {
  ports = { gw: await freePort(), up1: await freePort(), up2: await freePort() };
  dir = mkdtempSync(path.join(tmpdir(), 'mcp-e2e-conf-'));
  // As root the demo's children (www-data) must reach its data here, or
  // the demo keeps it in /var/tmp, where nothing removes it.
  chmodSync(dir, 0o711);
  demo = spawnTagged(path.join(SRC, 'scripts/demo'), [], {
    tag: dir,
    env: {
      ...process.env,
      MCP_DEMO_PORT: String(ports.gw),
      MCP_DEMO_UPSTREAM_PORTS: `${ports.up1} ${ports.up2}`,
      MCP_DEMO_PASSWORD: PASSWORD,
      MCP_DEMO_DIR: `${dir}/demo`,
      MCP_DEMO_SKIP_INSTALL: '1',
    },
  });
  let out = '';
  demo.child.stdout.on('data', (d) => { out += d; });
  await waitFor('scripts/demo to print the MCP URL', () => {
    if (demo.child.exitCode !== null) {
      throw new Error(`scripts/demo exited early:\n${out}${demo.stderr()}`);
    }
    return /MCP URL: \S+/.test(out);
  }, 300_000, 200);
  issuer = `http://127.0.0.1:${ports.gw}`;
});

after(async () => {
  await demo?.stop(15_000);
  if (dir) {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('conformance authorization: both scenarios pass against the demo issuer', async () => {
  // A public client for the suite's callback: loopback redirect URIs
  // match on any port (RFC 8252 §7.3), so one without a port is enough.
  const reg = await fetch(`${issuer}/oauth/register`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({
      client_name: 'MCP conformance suite',
      redirect_uris: ['http://127.0.0.1/callback'],
      grant_types: ['authorization_code'],
      response_types: ['code'],
      token_endpoint_auth_method: 'none',
    }),
  });
  assert.equal(reg.status, 201);
  const { client_id: clientId } = await reg.json();

  const cbPort = await freePort();
  const outDir = path.join(dir, 'results');
  const suite = spawnTagged(NODE, [CONFORMANCE, 'authorization', '--url', issuer, '--client-id', clientId,
    '--resource', `${issuer}/mcp`, '-p', String(cbPort), '-o', outDir], {
    tag: `${dir}/conformance`, env: { PATH: process.env.PATH, HOME: dir, BROWSER: 'none' },
  });
  let stdout = '';
  suite.child.stdout.on('data', (d) => { stdout += d; });
  try {
    const authorizeUrl = await waitFor('the suite to print the authorization URL', () => {
      if (suite.child.exitCode !== null) {
        throw new Error(`the suite exited early (${suite.child.exitCode}):\n${stdout}${suite.stderr()}`);
      }
      return stdout.split('\n').find((l) => l.startsWith(`${issuer}/oauth/authorize?`));
    }, 60_000);
    const q = new URL(authorizeUrl).searchParams;
    assert.equal(q.get('redirect_uri'), `http://127.0.0.1:${cbPort}/callback`);
    assert.equal(q.get('resource'), `${issuer}/mcp`);
    await waitFor('the suite\'s callback server', () => stdout.includes('Callback server started'), 10_000);

    const { location, params } = await approve(authorizeUrl, 'demo', PASSWORD);
    assert.ok(params.code, `a code: ${location}`);
    assert.ok(location.startsWith(`http://127.0.0.1:${cbPort}/callback?`));
    const cb = await fetch(location);
    assert.equal(cb.status, 200);

    const ended = await within(suite.exited, 60_000);
    assert.ok(ended, `the suite ended within 60 s:\n${stdout}`);
    const { code } = ended;

    // Every scenario's checks, as the suite saved them.
    const results = readdirSync(outDir).map((d) => ({
      dir: d, checks: JSON.parse(readFileSync(path.join(outDir, d, 'checks.json'), 'utf8')),
    }));
    mkdirSync(LOG_DIR, { recursive: true });
    cpSync(outDir, LOG_DIR, { recursive: true });
    const all = results.flatMap((r) => r.checks);
    const count = (s) => all.filter((c) => c.status === s).length;
    console.log(`conformance authorization: ${results.length} scenarios, ${count('SUCCESS')} SUCCESS, `
      + `${count('FAILURE')} FAILURE, ${count('WARNING')} WARNING, ${count('SKIPPED')} SKIPPED (checks in ${LOG_DIR})`);
    for (const id of ['authorization-server-metadata-endpoint', 'authorization-code-grant']) {
      assert.ok(results.some((r) => r.dir.includes(id)), `scenario ${id} ran: ${results.map((r) => r.dir)}`);
    }
    assert.deepEqual(all.filter((c) => c.status !== 'SUCCESS' && c.status !== 'INFO')
      .map((c) => `${c.id}: ${c.status} ${c.errorMessage ?? c.description}`), [], 'no check other than SUCCESS');
    assert.ok(all.some((c) => c.id === 'authorization-code-grant' && c.status === 'SUCCESS'));
    assert.equal(code, 0, `the suite's exit status:\n${stdout}`);
  } finally {
    await suite.stop();
  }
  assert.deepEqual(await leftAfterStop({ tag: `${dir}/conformance` }), [], 'the suite left no process');
});

test('stopping the demo leaves no process behind', async () => {
  assert.ok(processesOf({ tag: dir }).length >= 3, 'the demo runs httpd and two upstreams');
  await demo.stop(15_000);
  assert.notEqual(demo.child.exitCode ?? demo.child.signalCode, null, 'scripts/demo ended');
  assert.deepEqual(await leftAfterStop({ tag: dir }), [], 'nothing the demo started is left');
});
