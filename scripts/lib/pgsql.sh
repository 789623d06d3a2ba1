#!/bin/sh
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

# A private PostgreSQL server for the tests, on 127.0.0.1 only.
#
#   scripts/lib/pgsql.sh start DIR   create (once) and start a cluster in
#                                    DIR, create the database mcp_test, and
#                                    print on stdout the one line
#                                    MCP_TEST_PGSQL=<apr_dbd pgsql params>
#   scripts/lib/pgsql.sh stop DIR    stop it (fine when it is not running)
#   scripts/lib/pgsql.sh status DIR  print the line and exit 0 when it
#                                    runs, else exit 1
#
# e.g.  line=$(scripts/lib/pgsql.sh start build/pg) && export "$line"
#
# start is idempotent: on a running cluster it only prints the line. The
# server binaries come from /usr/lib/postgresql/<version>/bin (the newest;
# PG_BINDIR=... overrides). As root the server runs as the postgres user
# (initdb refuses root) and DIR belongs to postgres; otherwise it runs as
# the calling user. The unix socket is inside DIR (none at all when that
# path is too long for a socket), the TCP port a free one chosen at
# creation (another one if it is taken by then). Trust authentication on
# loopback: this is a throwaway test cluster. Every wait is bounded.
# fsync is off (the tests do not need durability), unless PGSQL_FSYNC=on
# when the cluster starts (the benchmark measures durable commits).
set -eu

me=$(basename "$0")
die() { echo "$me: $*" >&2; exit 1; }

cmd=${1:-}
dir=${2:-}
[ -n "$cmd" ] && [ -n "$dir" ] && [ $# -eq 2 ] \
    || { echo "usage: $me start|stop|status DIR" >&2; exit 2; }
case "$cmd" in start|stop|status) ;; *)
    echo "usage: $me start|stop|status DIR" >&2; exit 2 ;;
esac

if [ ! -d "$dir" ]; then
    case "$cmd" in
    stop) exit 0 ;;
    status) echo "$me: no server runs in $dir" >&2; exit 1 ;;
    esac
    mkdir -p "$dir" || die "cannot create $dir"
fi
# An absolute DIR: the server resolves relative paths from its data dir.
dir=$(cd "$dir" && pwd -P)
data=$dir/data

bindir=${PG_BINDIR:-}
if [ -z "$bindir" ]; then
    bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
fi
[ -n "$bindir" ] && [ -x "$bindir/initdb" ] && [ -x "$bindir/pg_ctl" ] \
    || die "PostgreSQL server binaries not found in /usr/lib/postgresql/*/bin: install the Debian package postgresql (or set PG_BINDIR)"
psql=$bindir/psql
[ -x "$psql" ] || psql=psql

if [ "$(id -u)" = 0 ]; then
    pguser=postgres
    id -u postgres >/dev/null 2>&1 \
        || die "running as root needs the postgres user (Debian package postgresql)"
    # From / so the server and tools never complain about root's cwd.
    as_pg() { (cd / && runuser -u postgres -- "$@"); }
else
    pguser=$(id -un)
    as_pg() { "$@"; }
fi

export PGCONNECT_TIMEOUT=10
case "${PGSQL_FSYNC:-off}" in on|off) ;; *) die "PGSQL_FSYNC must be on or off" ;; esac

line() {
    echo "MCP_TEST_PGSQL=host=127.0.0.1 port=$(cat "$dir/port") user=$pguser dbname=mcp_test"
}

running() {
    [ -f "$dir/port" ] && [ -f "$data/PG_VERSION" ] \
        && as_pg "$bindir/pg_ctl" -D "$data" status >/dev/null 2>&1
}

free_port() {
    # Ask the kernel for a free port on 127.0.0.1.
    perl -MIO::Socket::INET -e \
        'my $s = IO::Socket::INET->new(Listen => 1, LocalAddr => "127.0.0.1", LocalPort => 0) or die "no free port: $!\n"; print $s->sockport, "\n"'
}

new_port() {
    free_port > "$dir/port.tmp" && mv "$dir/port.tmp" "$dir/port"
}

server_start() {
    port=$(cat "$dir/port")
    sockdir=$dir
    # sun_path holds 107 bytes: "<dir>/.s.PGSQL.<port>" must fit.
    [ ${#dir} -gt 90 ] && sockdir=
    as_pg "$bindir/pg_ctl" -D "$data" -l "$dir/server.log" -w -t 60 \
        -o "-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories='$sockdir' -c fsync=${PGSQL_FSYNC:-off} -c max_connections=100" \
        start >/dev/null 2>&1
}

case "$cmd" in
start)
    if running; then
        line
        exit 0
    fi
    if [ "$(id -u)" = 0 ]; then
        chown postgres "$dir"
        runuser -u postgres -- test -w "$dir" \
            || die "the postgres user cannot write to $dir: use a directory every user can reach (e.g. under /tmp or /var/tmp)"
    fi
    if [ ! -f "$data/PG_VERSION" ]; then
        rm -rf "$data"
        as_pg "$bindir/initdb" -D "$data" -A trust -U "$pguser" -E UTF8 \
                --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 \
            || as_pg "$bindir/initdb" -D "$data" -A trust -U "$pguser" -E UTF8 \
                --no-locale >"$dir/initdb.log" 2>&1 \
            || { cat "$dir/initdb.log" >&2; die "initdb failed"; }
    fi
    [ -s "$dir/port" ] || new_port
    if ! server_start; then
        # The port was taken since it was chosen: try once with another.
        new_port
        server_start || { tail -n 20 "$dir/server.log" >&2; die "the server did not start (log: $dir/server.log)"; }
    fi
    [ "$(id -u)" = 0 ] && chown postgres "$dir/port"
    port=$(cat "$dir/port")
    exists=$(as_pg "$psql" -X -h 127.0.0.1 -p "$port" -U "$pguser" -d postgres -Atqc \
                 "SELECT 1 FROM pg_database WHERE datname = 'mcp_test'") \
        || die "cannot connect to the server on 127.0.0.1:$port"
    if [ "$exists" != 1 ]; then
        as_pg "$psql" -X -q -h 127.0.0.1 -p "$port" -U "$pguser" -d postgres \
            -c "CREATE DATABASE mcp_test ENCODING 'UTF8' TEMPLATE template0" >/dev/null \
            || die "cannot create the database mcp_test"
    fi
    line
    ;;
stop)
    if [ -f "$data/PG_VERSION" ] && running; then
        as_pg "$bindir/pg_ctl" -D "$data" -m fast -w -t 60 stop >/dev/null \
            || die "the server in $data did not stop"
    fi
    ;;
status)
    if running; then
        line
    else
        echo "$me: no server runs in $dir" >&2
        exit 1
    fi
    ;;
esac
