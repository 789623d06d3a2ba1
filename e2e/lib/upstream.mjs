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

// Upstream MCP servers for the federation tests: the reference server
// @modelcontextprotocol/server-everything over Streamable HTTP, started
// the way scripts/demo starts it (a minimal environment, PORT, and
// scripts/lib/bind-local.cjs so that it listens on 127.0.0.1 only), in a
// process group of its own.
//
//   const up = await startEverything({ tag: `${dir}/ev1` });
//   ... up.url (http://127.0.0.1:<port>/mcp), up.output() ...
//   await up.stop();

import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { NODE, SRC, freePort, portOpen, spawnTagged, waitFor } from './proc.mjs';

export const EVERYTHING = path.join(SRC, 'node_modules/@modelcontextprotocol/server-everything/dist/index.js');
export const EVERYTHING_VERSION = JSON.parse(readFileSync(
  path.join(SRC, 'node_modules/@modelcontextprotocol/server-everything/package.json'), 'utf8')).version;
const BIND_LOCAL = path.join(SRC, 'scripts/lib/bind-local.cjs');
const START_TIMEOUT_MS = 30_000;

// Start one server-everything on a free port of 127.0.0.1; @tag marks its
// processes (see proc.mjs). Returns { port, url, output(), stop() }.
export async function startEverything({ tag } = {}) {
  for (let attempt = 0; ; attempt++) {
    const port = await freePort();
    const home = mkdtempSync(path.join(tmpdir(), 'mcp-e2e-up-'));
    const proc = spawnTagged(NODE, ['-r', BIND_LOCAL, EVERYTHING, 'streamableHttp'], {
      tag: tag ?? `mcp-e2e-everything-${port}`,
      env: { PATH: '/usr/bin:/bin', HOME: home, PORT: String(port) },
    });
    let stdout = '';
    proc.child.stdout.on('data', (d) => { stdout += d; });
    const output = () => `${stdout}${proc.stderr()}`;
    const stop = async () => {
      await proc.stop();
      rmSync(home, { recursive: true, force: true });
    };
    try {
      await waitFor(`server-everything on 127.0.0.1:${port}`, async () => {
        if (proc.child.exitCode !== null) {
          throw new Error(`server-everything exited (${proc.child.exitCode}): ${output()}`);
        }
        return /listening on port/.test(output()) && portOpen(port);
      }, START_TIMEOUT_MS);
    } catch (e) {
      await stop();
      if (/already in use/.test(output()) && attempt < 3) {
        continue;
      }
      throw e;
    }
    return { port, url: `http://127.0.0.1:${port}/mcp`, output, stop, child: proc.child };
  }
}
