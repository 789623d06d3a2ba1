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
#   scripts/lib/pgsql.sh start DIR   create (once) and start a cluster in DIR;
#                                    prints MCP_TEST_PGSQL=<apr_dbd params>
#   scripts/lib/pgsql.sh stop DIR    stop it
#   scripts/lib/pgsql.sh status DIR  exit 0 when it runs (and print the line)
#
# As root the server runs as the postgres user (initdb refuses root) and
# DIR belongs to postgres; otherwise as the calling user. The socket is in
# DIR, the port a free one chosen at creation. Trust authentication, on
# loopback only: this is a throwaway test cluster.
set -eu

cmd=${1:-}
dir=${2:-}
[ -n "$cmd" ] && [ -n "$dir" ] || { echo "usage: $0 start|stop|status DIR" >&2; exit 2; }

bindir=
for d in /usr/lib/postgresql/*/bin; do
    [ -x "$d/initdb" ] && bindir=$d
done
[ -n "$bindir" ] || { echo "$0: PostgreSQL server binaries not found: install the Debian package postgresql" >&2; exit 1; }

if [ "$(id -u)" = 0 ]; then
    pguser=postgres
    as_pg() { runuser -u postgres -- "$@"; }
else
    pguser=$(id -un)
    as_pg() { "$@"; }
fi

data=$dir/data
line() {
    port=$(cat "$dir/port")
    echo "MCP_TEST_PGSQL=host=127.0.0.1 port=$port user=$pguser dbname=mcp_test"
}
running() {
    [ -f "$dir/port" ] && as_pg "$bindir/pg_ctl" -D "$data" status >/dev/null 2>&1
}
free_port() {
    # Ask the kernel for a free port on 127.0.0.1.
    perl -MIO::Socket::INET -e \
        'my $s = IO::Socket::INET->new(Listen => 1, LocalAddr => "127.0.0.1", LocalPort => 0) or die; print $s->sockport, "\n"'
}

case "$cmd" in
start)
    if running; then
        line
        exit 0
    fi
    mkdir -p "$dir"
    [ "$(id -u)" = 0 ] && chown postgres "$dir"
    if [ ! -f "$data/PG_VERSION" ]; then
        as_pg "$bindir/initdb" -D "$data" -A trust -U "$pguser" -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 \
            || as_pg "$bindir/initdb" -D "$data" -A trust -U "$pguser" -E UTF8 --no-locale >"$dir/initdb.log" 2>&1 \
            || { cat "$dir/initdb.log" >&2; exit 1; }
        free_port > "$dir/port"
        [ "$(id -u)" = 0 ] && chown postgres "$dir/port"
    fi
    port=$(cat "$dir/port")
    as_pg "$bindir/pg_ctl" -D "$data" -l "$dir/server.log" -w -t 60 \
        -o "-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories=$dir -c fsync=off -c max_connections=100" \
        start >/dev/null || {
            # The port was taken since: pick another one and try once more.
            free_port > "$dir/port"
            port=$(cat "$dir/port")
            as_pg "$bindir/pg_ctl" -D "$data" -l "$dir/server.log" -w -t 60 \
                -o "-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories=$dir -c fsync=off -c max_connections=100" \
                start >/dev/null || { tail -20 "$dir/server.log" >&2; exit 1; }
        }
    if ! as_pg "$bindir/psql" -h 127.0.0.1 -p "$port" -U "$pguser" -d postgres -Atqc \
            "SELECT 1 FROM pg_database WHERE datname = 'mcp_test'" | grep -q 1; then
        as_pg "$bindir/createdb" -h 127.0.0.1 -p "$port" -U "$pguser" mcp_test
    fi
    line
    ;;
stop)
    if [ -f "$data/PG_VERSION" ]; then
        as_pg "$bindir/pg_ctl" -D "$data" -m fast -w -t 60 stop >/dev/null 2>&1 || true
    fi
    ;;
status)
    if running; then
        line
    else
        exit 1
    fi
    ;;
*)
    echo "usage: $0 start|stop|status DIR" >&2
    exit 2
    ;;
esac
