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

// Processes and ports for the end-to-end tests: free ports on 127.0.0.1,
// bounded waits, child processes started in a process group of their own
// so that they and whatever they start can be stopped together, and the
// /proc scan that shows nothing a test started is left.

import { spawn } from 'node:child_process';
import { chmodSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const SRC = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
// The Node 22 the tests run on, also for the clients they start.
export const NODE = process.execPath;
// Marks the environment of every process a test starts through spawnTagged().
export const TAG_VAR = 'MCP_E2E_TAG';

export function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

export function portOpen(port, host = '127.0.0.1') {
  return new Promise((resolve) => {
    const sock = net.connect({ host, port });
    sock.setTimeout(1000);
    sock.on('connect', () => { sock.destroy(); resolve(true); });
    sock.on('error', () => resolve(false));
    sock.on('timeout', () => { sock.destroy(); resolve(false); });
  });
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// @promise, or undefined after @ms; the timer does not outlive it.
export function within(promise, ms) {
  let timer;
  return Promise.race([promise, new Promise((r) => { timer = setTimeout(r, ms); })])
    .finally(() => clearTimeout(timer));
}

// Poll @check (sync or async) until it returns a truthy value, at most @ms.
export async function waitFor(what, check, ms = 15_000, every = 100) {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await check();
    if (v) {
      return v;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    }
    await sleep(every);
  }
}

// Processes whose command line names @dir (or a path below it), or whose
// environment carries MCP_E2E_TAG=@tag or the entry @env ("NAME=value").
// Read from /proc, bounded by the number of processes.
export function processesOf({ dir, tag, env } = {}) {
  const found = [];
  for (const pid of readdirSync('/proc').filter((e) => /^\d+$/.test(e))) {
    if (Number(pid) === process.pid) {
      continue;
    }
    let cmdline, environ;
    try {
      cmdline = readFileSync(`/proc/${pid}/cmdline`, 'latin1').split('\0');
      environ = readFileSync(`/proc/${pid}/environ`, 'latin1').split('\0');
    } catch {
      continue;  // gone meanwhile, or not ours
    }
    if ((dir && cmdline.some((a) => a === dir || a.startsWith(`${dir}/`)
                             || a.includes(`=${dir}/`)))
        || (tag && environ.includes(`${TAG_VAR}=${tag}`))
        || (env && environ.includes(env))) {
      found.push({ pid: Number(pid), cmd: cmdline.join(' ').trim() });
    }
  }
  return found;
}

export function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

// Start @cmd in a process group of its own, with MCP_E2E_TAG=@tag in its
// environment. Returns { child, output(), exited, stop() }: stop() sends
// SIGTERM to the group, then SIGKILL after @graceMs.
export function spawnTagged(cmd, args, { tag, env = {}, cwd = SRC, stdin = 'ignore' } = {}) {
  const child = spawn(cmd, args, {
    cwd,
    env: { ...env, [TAG_VAR]: tag },
    stdio: [stdin, 'pipe', 'pipe'],
    detached: true,
  });
  let out = '';
  child.stdout.setEncoding('utf8');
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (d) => { out += d; });
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  child.on('error', (e) => { out += `\n[spawn error] ${e.message}\n`; });
  const group = (sig) => {
    try {
      process.kill(-child.pid, sig);
    } catch {
      // the group is gone
    }
  };
  return {
    child,
    exited,
    // What the process wrote to stderr so far (stdout is for the caller).
    stderr: () => out,
    async stop(graceMs = 5000) {
      if (child.exitCode === null && child.signalCode === null) {
        group('SIGTERM');
        await within(exited, graceMs);
      }
      // Whatever it started may outlive it in the group.
      group('SIGKILL');
      child.stdout.destroy();
      child.stderr.destroy();
      child.stdin?.destroy();
    },
  };
}

// Assert-friendly: the processes of @filter still running after a stop.
export async function leftAfterStop(filter, ms = 5000) {
  try {
    await waitFor('the processes to end', () => processesOf(filter).length === 0, ms);
  } catch {
    // reported by the caller
  }
  return processesOf(filter);
}

// A "browser" for clients that open the authorization URL: @dir/bin gets
// BROWSER's and the Linux openers' names (xdg-open, gio, ...), each
// appending "<name> <arguments>" to @dir/opened and opening nothing.
// Returns the bin directory, for PATH and BROWSER.
export function stubBrowser(dir) {
  const bin = path.join(dir, 'bin');
  mkdirSync(bin);
  for (const name of ['browser', 'xdg-open', 'gio', 'x-www-browser', 'sensible-browser', 'www-browser']) {
    const f = path.join(bin, name);
    writeFileSync(f, `#!/bin/sh\nprintf '%s %s\\n' "${name}" "$*" >> "${dir}/opened"\nexit 0\n`);
    chmodSync(f, 0o755);
  }
  return bin;
}
