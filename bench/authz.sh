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

# bench/authz.sh: the benchmark of mod_mcp_authz against oidc-provider, in
# one command (also `make bench-authz`). It installs what is missing
# (Debian packages: the build's, wrk, postgresql; npm packages from
# package-lock.json), builds build/release (no sanitizers), and runs
# bench/authz.mjs, which starts and stops everything on 127.0.0.1 and
# prints the figures and ratios. Takes about 6 minutes with the defaults.
#
# PostgreSQL and httpd's children do not run as root: started as root, the
# benchmark runs as the unprivileged user MCP_BENCH_USER (mcptest, created
# once, as scripts/check does) through setpriv, which execs, so Ctrl-C and
# SIGTERM reach bench/authz.mjs, whose handler stops what it started. That
# user must be able to read the checkout (e.g. not under /root).
#
# Variables (all optional; see bench/authz.mjs for the BENCH_* ones):
#   MCP_BENCH_USER      the unprivileged user when started as root (mcptest)
#   MCP_BENCH_SKIP_INSTALL=1   do not look for Debian/npm packages
#   BENCH_SECONDS (10), BENCH_CONNECTIONS ("8 32"), BENCH_THREADS (2),
#   BENCH_HTTPD_CHILDREN (1), BENCH_OIDC_WORKERS (1), BENCH_DIR,
#   BENCH_BUILD (<checkout>/build/release), BENCH_KEEP=1
set -u

SRC=$(cd "$(dirname "$0")/.." && pwd)
. "$SRC/scripts/lib/common.sh"

if [ "${MCP_BENCH_SKIP_INSTALL:-0}" != 1 ]; then
    if [ "$(id -u)" = 0 ]; then
        # shellcheck disable=SC2086
        install_packages $MCP_BUILD_PACKAGES wrk postgresql
    fi
    for c in wrk apxs openssl htpasswd; do
        command -v "$c" >/dev/null 2>&1 \
            || die "$c is missing (run this as root once, or apt-get install wrk apache2-dev apache2-utils openssl postgresql)"
    done
    npm_install "$SRC"
fi
if [ -z "${BENCH_BUILD:-}" ]; then
    build build/release
fi
NODE=$(node22)

if [ "$(id -u)" = 0 ]; then
    BUSER=${MCP_BENCH_USER:-mcptest}
    if ! id "$BUSER" >/dev/null 2>&1; then
        say "== creating the unprivileged user $BUSER"
        useradd --system --create-home --home-dir "/var/lib/$BUSER" \
            --shell /bin/bash "$BUSER" || die "useradd failed"
    fi
    BHOME=$(getent passwd "$BUSER" | cut -d: -f6)
    for f in "$SRC/bench/authz.mjs" "$SRC/node_modules/oidc-provider/package.json" \
             "${BENCH_BUILD:-$SRC/build/release}/.libs/mod_mcp_authz.so"; do
        runuser -u "$BUSER" -- test -r "$f" \
            || die "$BUSER cannot read $f: use a checkout every user can read (not under /root)"
    done
    BDIR=${BENCH_DIR:-/var/tmp/mod_mcp-bench}
    rm -rf "$BDIR"
    mkdir -p "$BDIR" && chown "$BUSER:" "$BDIR" && chmod 700 "$BDIR" \
        || die "cannot create $BDIR"
    ENV_PASS=(BENCH_DIR="$BDIR")
    for v in BENCH_SECONDS BENCH_CONNECTIONS BENCH_THREADS BENCH_HTTPD_CHILDREN \
             BENCH_OIDC_WORKERS BENCH_BUILD BENCH_KEEP BENCH_MINT_SECONDS BENCH_MINT_MAX; do
        if [ -n "${!v+x}" ]; then
            ENV_PASS+=("$v=${!v}")
        fi
    done
    cd / || die "cannot enter /"
    exec setpriv --reuid="$BUSER" --regid="$BUSER" --init-groups -- env -i HOME="$BHOME" \
        USER="$BUSER" LOGNAME="$BUSER" PATH="/usr/local/bin:/usr/bin:/usr/sbin:/bin:/sbin" \
        LANG=C.UTF-8 "${ENV_PASS[@]}" "$NODE" "$SRC/bench/authz.mjs"
fi
exec "$NODE" "$SRC/bench/authz.mjs"
