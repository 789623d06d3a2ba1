#!/bin/bash
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#
#     http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS,
# WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
# See the License for the specific language governing permissions and
# limitations under the License.

# bench/proxy.sh: the benchmark of mod_mcp_proxy against mod_proxy_http
# and against its upstream alone, in one command (also `make
# bench-proxy`). It installs what is missing (Debian packages: the
# build's, wrk; npm packages from package-lock.json), builds build/demo
# as scripts/demo does, and runs bench/proxy.mjs, which builds the C
# upstream bench/mcp_upstream.c, starts and stops everything on 127.0.0.1
# and prints the figures, the ratios and their targets. Takes about three
# minutes with the defaults.
#
# The servers (httpd, the upstream) run on one CPU and the load generator
# (wrk, the stream client) on another, pinned with taskset: this script
# puts bench/proxy.mjs on BENCH_CLIENT_CPU, which pins the rest.
#
# httpd's children do not run as root: started as root, the benchmark
# runs as the unprivileged user MCP_BENCH_USER (mcptest, created once, as
# scripts/check does) through setpriv, which execs, so Ctrl-C and SIGTERM
# reach bench/proxy.mjs, whose handler stops what it started. That user
# must be able to read the checkout (e.g. not under /root).
#
# Variables (all optional; see bench/proxy.mjs for the BENCH_* ones):
#   MCP_BENCH_USER      the unprivileged user when started as root (mcptest)
#   MCP_BENCH_SKIP_INSTALL=1   do not look for Debian/npm packages
#   BENCH_SECONDS (5), BENCH_ROUNDS (3), BENCH_CONNECTIONS ("1 64"),
#   BENCH_THREADS (1), BENCH_STREAMS (1000), BENCH_HOLD_SECONDS (5),
#   BENCH_DELAY_MS (50), BENCH_FANOUT (10), BENCH_SERVER_CPU (0),
#   BENCH_CLIENT_CPU (1), BENCH_STREAM_SESSIONS (one), BENCH_DIR,
#   BENCH_BUILD (<checkout>/build/demo), BENCH_KEEP=1, BENCH_PAUSE (0)
set -u

SRC=$(cd "$(dirname "$0")/.." && pwd)
. "$SRC/scripts/lib/common.sh"

if [ "${MCP_BENCH_SKIP_INSTALL:-0}" != 1 ]; then
    if [ "$(id -u)" = 0 ]; then
        # shellcheck disable=SC2086
        install_packages $MCP_BUILD_PACKAGES wrk util-linux
    fi
    for c in wrk apxs openssl htpasswd cc taskset; do
        command -v "$c" >/dev/null 2>&1 \
            || die "$c is missing (run this as root once, or apt-get install wrk apache2-dev apache2-utils openssl gcc util-linux)"
    done
    # A node_modules shared with another checkout (a symlink, as in a git
    # worktree) is that checkout's to install: npm ci here would replace it.
    if [ ! -L "$SRC/node_modules" ]; then
        npm_install "$SRC"
    fi
fi
if [ -z "${BENCH_BUILD:-}" ]; then
    build build/demo
fi
NODE=$(node22)

# A thousand streams: a descriptor each in the client, two in httpd.
ulimit -n 16384 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null
CPU=${BENCH_CLIENT_CPU:-1}
PIN=()
if command -v taskset >/dev/null 2>&1 && [ "$(nproc 2>/dev/null || echo 1)" -ge 2 ]; then
    PIN=(taskset -c "$CPU")
fi

if [ "$(id -u)" = 0 ]; then
    BUSER=${MCP_BENCH_USER:-mcptest}
    if ! id "$BUSER" >/dev/null 2>&1; then
        say "== creating the unprivileged user $BUSER"
        useradd --system --create-home --home-dir "/var/lib/$BUSER" \
            --shell /bin/bash "$BUSER" || die "useradd failed"
    fi
    BHOME=$(getent passwd "$BUSER" | cut -d: -f6)
    for f in "$SRC/bench/proxy.mjs" "$SRC/bench/mcp_upstream.c" \
             "$SRC/node_modules/@modelcontextprotocol/sdk/package.json" \
             "${BENCH_BUILD:-$SRC/build/demo}/.libs/mod_mcp_proxy.so"; do
        runuser -u "$BUSER" -- test -r "$f" \
            || die "$BUSER cannot read $f: use a checkout every user can read (not under /root)"
    done
    BDIR=${BENCH_DIR:-/var/tmp/mod_mcp-bench-proxy}
    rm -rf "$BDIR"
    mkdir -p "$BDIR" && chown "$BUSER:" "$BDIR" && chmod 700 "$BDIR" \
        || die "cannot create $BDIR"
    ENV_PASS=(BENCH_DIR="$BDIR")
    for v in BENCH_SECONDS BENCH_ROUNDS BENCH_CONNECTIONS BENCH_THREADS \
             BENCH_STREAMS BENCH_HOLD_SECONDS BENCH_DELAY_MS BENCH_FANOUT \
             BENCH_SERVER_CPU BENCH_CLIENT_CPU BENCH_STREAM_SESSIONS \
             BENCH_BUILD BENCH_KEEP BENCH_PAUSE CC; do
        if [ -n "${!v+x}" ]; then
            ENV_PASS+=("$v=${!v}")
        fi
    done
    cd / || die "cannot enter /"
    exec "${PIN[@]}" setpriv --reuid="$BUSER" --regid="$BUSER" --init-groups -- env -i HOME="$BHOME" \
        USER="$BUSER" LOGNAME="$BUSER" PATH="/usr/local/bin:/usr/bin:/usr/sbin:/bin:/sbin" \
        LANG=C.UTF-8 "${ENV_PASS[@]}" "$NODE" "$SRC/bench/proxy.mjs"
fi
exec "${PIN[@]}" "$NODE" "$SRC/bench/proxy.mjs"
