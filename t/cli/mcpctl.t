#!/usr/bin/perl
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

# mcpctl's command line against SQLite and PostgreSQL:
#
#   MCPCTL=build/support/mcpctl [MCP_TEST_PGSQL='host=... dbname=...'] prove t/cli
#
# (make check-cli does that). With MCP_TEST_REQUIRE_PGSQL=1 a missing
# MCP_TEST_PGSQL is a failure, not a skip. Every run of mcpctl is bounded
# in time.
use strict;
use warnings;
use Test::More;
use File::Temp qw(tempdir);
use IPC::Open3;
use Symbol qw(gensym);
use POSIX qw(WNOHANG);

my $mcpctl = $ENV{MCPCTL} or BAIL_OUT('set MCPCTL to the built mcpctl binary');
-x $mcpctl or BAIL_OUT("$mcpctl is not executable");
my $TIMEOUT = 60;

# Run a command (with %env added); returns (exit status, stdout, stderr).
# The output goes to files, so a chatty child never blocks on a pipe.
sub run_cmd {
    my ($env, @cmd) = @_;
    my $dir = tempdir(CLEANUP => 1);
    my $pid = fork() // die "fork: $!";
    if (!$pid) {
        delete @ENV{qw(MCP_DBD_DRIVER MCP_DBD_PARAMS)};
        @ENV{keys %$env} = values %$env;
        open(STDIN, '<', '/dev/null');
        open(STDOUT, '>', "$dir/out") or die;
        open(STDERR, '>', "$dir/err") or die;
        exec(@cmd) or POSIX::_exit(127);
    }
    my $deadline = time + $TIMEOUT;
    my $done;
    while (!($done = waitpid($pid, WNOHANG))) {
        if (time > $deadline) {
            kill 'KILL', $pid;
            waitpid($pid, 0);
            return (-1, '', "timed out after $TIMEOUT s: @cmd");
        }
        select(undef, undef, undef, 0.05);
    }
    my $rc = $? & 127 ? 128 + ($? & 127) : $? >> 8;
    my ($out, $err) = map { local $/; open(my $fh, '<', "$dir/$_") or die; <$fh> // '' } qw(out err);
    return ($rc, $out, $err);
}

sub ctl { return run_cmd({}, $mcpctl, @_) }

# The schema version this mcpctl expects, from a fresh database.
my $tmp = tempdir(CLEANUP => 1);
my ($rc, $out, $err) = ctl('--params', "$tmp/probe.db", qw(db status));
my ($latest) = $out =~ /^expected: (\d+)$/m;
ok($latest, 'status names the expected version')
    or BAIL_OUT("no 'expected:' line in: $out$err");
# older_and_newer() undoes migration 3 by hand: a new migration needs its
# own undo there.
is($latest, 3, 'this mcpctl expects schema version 3');

# db init / upgrade / status from an empty database to the current schema.
sub lifecycle {
    my ($name, @db) = @_;

    ($rc, $out) = ctl(@db, qw(db status));
    is($rc, 1, "$name: status on an empty database exits 1");
    like($out, qr/^initialized: no$/m, "$name: says not initialized");
    like($out, qr/^version: 0$/m, "$name: version 0");
    like($out, qr/^state: needs upgrade$/m, "$name: state: needs upgrade");
    like($out, qr/^hint: run `mcpctl db upgrade`$/m, "$name: names the fix");

    ($rc, $out) = ctl(@db, qw(db init));
    is($rc, 0, "$name: init succeeds");
    like($out, qr/^schema created at version $latest$/m, "$name: init reports the version");

    ($rc, $out) = ctl(@db, qw(db init));
    is($rc, 0, "$name: a second init is harmless");
    like($out, qr/^already at version $latest, up to date$/m, "$name: and says so");

    ($rc, $out) = ctl(@db, qw(db upgrade));
    is($rc, 0, "$name: upgrade when up to date succeeds");
    like($out, qr/^already at version $latest, up to date$/m, "$name: and says so");

    ($rc, $out) = ctl(@db, qw(db status));
    is($rc, 0, "$name: status when up to date exits 0");
    is($out, "driver: " . ($name eq 'sqlite' ? 'sqlite3' : 'pgsql') . "\n"
             . "initialized: yes\nversion: $latest\nexpected: $latest\n"
             . "state: up to date\n", "$name: the status lines");
}

# A database one migration behind (migration 3 undone by hand: its table
# and columns dropped, its version row deleted), then a newer one.
sub older_and_newer {
    my ($name, $sql, @db) = @_;
    my $prev = $latest - 1;

    $sql->("DROP TABLE mcp_revocations; "
           . "ALTER TABLE mcp_auth_codes DROP COLUMN issued_jti; "
           . "ALTER TABLE mcp_clients DROP COLUMN disabled_at; "
           . "DELETE FROM mcp_schema_version WHERE version = 3");
    ($rc, $out) = ctl(@db, qw(db status));
    is($rc, 1, "$name: status on an older schema exits 1");
    like($out, qr/^version: $prev\n.*^state: needs upgrade$/ms, "$name: and says it needs upgrade");
    ($rc, $out) = ctl(@db, qw(db init));
    is($rc, 1, "$name: init on an older schema exits 1");
    like($out, qr/already initialized at version $prev, expected $latest: run `mcpctl db upgrade`/,
         "$name: and names the upgrade");
    ($rc, $out) = ctl(@db, qw(db upgrade));
    is($rc, 0, "$name: upgrade of an older schema succeeds");
    like($out, qr/^schema upgraded from version $prev to $latest$/m, "$name: and says from what to what");
    ($rc, $out) = ctl(@db, qw(db status));
    is($rc, 0, "$name: up to date afterwards");

    $sql->("INSERT INTO mcp_schema_version (version, applied_at) VALUES (99, 0)");
    ($rc, $out) = ctl(@db, qw(db status));
    is($rc, 2, "$name: status on a newer database exits 2");
    like($out, qr/^version: 99\n.*^state: newer than this mcpctl$/ms, "$name: and says it is newer");
    ($rc, $out, $err) = ctl(@db, qw(db upgrade));
    is($rc, 2, "$name: upgrade of a newer database is refused");
    like($err, qr/newer than this build knows \($latest\): refusing to touch it/, "$name: clearly");
    ($rc, $out, $err) = ctl(@db, qw(db init));
    is($rc, 2, "$name: init of a newer database is refused");
    like($err, qr/newer than this mcpctl knows/, "$name: clearly");
}

# Two upgrades of one empty database at once: both succeed, each
# migration is applied once.
sub concurrent_upgrades {
    my ($name, @db) = @_;
    my @pids;
    my $dir = tempdir(CLEANUP => 1);
    for my $i (1 .. 3) {
        my $pid = fork() // die "fork: $!";
        if (!$pid) {
            my ($c, $o, $e) = ctl(@db, qw(db upgrade));
            open(my $fh, '>', "$dir/$i") or POSIX::_exit(1);
            print $fh "$c\n$o$e";
            close($fh);
            POSIX::_exit(0);
        }
        push @pids, $pid;
    }
    waitpid($_, 0) for @pids;
    my @res = map { local $/; open(my $fh, '<', "$dir/$_") or die; <$fh> } 1 .. 3;
    is(scalar(grep { /^0\n/ } @res), 3, "$name: three upgrades at once all succeed")
        or diag(join("---\n", @res));
    is(scalar(grep { /schema created at version $latest/ } @res), 1,
       "$name: exactly one of them created the schema");
    ($rc, $out) = ctl(@db, qw(db status));
    is($rc, 0, "$name: up to date afterwards");
}

# --- SQLite ---------------------------------------------------------------
sub sqlite3_cli {
    my ($db, $sql) = @_;
    my ($c, $o, $e) = run_cmd({}, 'sqlite3', $db, $sql);
    die "sqlite3 $db: $e" if $c;
}
my $have_sqlite3_cli = !system('sh', '-c', 'command -v sqlite3 >/dev/null');

lifecycle('sqlite', '--params', "$tmp/a.db");
is((stat "$tmp/a.db")[2] & 07777, 0600, 'a new SQLite database is mode 0600');
{
    my $old = umask(0);
    ($rc, $out) = ctl('--params', "$tmp/umask0.db", qw(db upgrade));
    umask($old);
    is($rc, 0, 'upgrade under umask 0 succeeds');
    is((stat "$tmp/umask0.db")[2] & 07777, 0600, 'and the database is mode 0600 all the same');
    ok(!-e "$tmp/umask0.db-wal" && !-e "$tmp/umask0.db-shm", 'no -wal or -shm file is left behind');
    chmod 0644, "$tmp/umask0.db";
    ($rc, $out, $err) = ctl('--params', "$tmp/umask0.db", qw(db status));
    is($rc, 0, 'a world-readable database still works');
    like($err, qr/MCP01051: .*\Q$tmp\E\/umask0\.db has mode 0644: other users can read it/,
         'with a warning naming the file and its mode');
    is((stat "$tmp/umask0.db")[2] & 07777, 0644, 'and its mode is left alone');
    chmod 0640, "$tmp/umask0.db";
    ($rc, $out, $err) = ctl('--params', "$tmp/umask0.db", qw(db status));
    unlike($err, qr/MCP01051/, 'group access is no reason for a warning');
}
ok(!-e "$tmp/probe.db", 'status does not create a missing SQLite file');
($rc, $out) = ctl('--params', "$tmp/probe.db", qw(db status));
like($out, qr/^note: the database file \S+probe.db does not exist yet$/m, 'and says it is missing');

SKIP: {
    skip 'the sqlite3 command-line tool is not installed (Debian package sqlite3)', 13
        unless $have_sqlite3_cli;
    older_and_newer('sqlite', sub { sqlite3_cli("$tmp/a.db", $_[0]) }, '--params', "$tmp/a.db");
}
concurrent_upgrades('sqlite', '--params', "$tmp/c.db");

($rc, $out) = run_cmd({ MCP_DBD_PARAMS => "$tmp/b.db", MCP_DBD_DRIVER => 'sqlite3' },
                      $mcpctl, qw(db upgrade));
is($rc, 0, 'MCP_DBD_PARAMS and MCP_DBD_DRIVER are used');
like($out, qr/schema created at version $latest/, 'upgrade works from empty');
ok(-s "$tmp/b.db", 'the database file exists');
($rc, $out) = ctl(qw(db status --params), "$tmp/b.db");
is($rc, 0, 'options may follow the command');

($rc, $out, $err) = ctl('--params', "$tmp/nonexistent/dir/x.db", qw(db upgrade));
is($rc, 2, 'an unopenable SQLite file exits 2');
like($err, qr{cannot open the sqlite3 database '\Q$tmp\E/nonexistent/dir/x.db': unable to open}, 'naming the file and why');

{
    open(my $fh, '>', "$tmp/text.db") or die;
    print $fh "this is not a database\n" x 100;
    close($fh);
}
($rc, $out, $err) = ctl('--params', "$tmp/text.db", qw(db status));
is($rc, 2, 'a file that is not a SQLite database exits 2');
like($err, qr/cannot use the sqlite3 database '\S+text.db': .*file is not a database/, 'and says so');

($rc, $out, $err) = ctl(qw(db status));
is($rc, 2, 'no database given exits 2');
like($err, qr/no database given: use --params/, 'and says how to give one');

($rc, $out, $err) = ctl('--driver', 'mysql', '--params', 'x', qw(db status));
is($rc, 2, 'an unknown driver exits 2');
like($err, qr/unknown driver 'mysql': use sqlite3 or pgsql/, 'and names it');

($rc, $out, $err) = ctl('--params', "$tmp/a.db", qw(db frobnicate));
is($rc, 2, 'an unknown command exits 2');
like($err, qr/unknown command 'db frobnicate'/, 'and names it');

($rc, $out, $err) = ctl('--params', "$tmp/a.db", qw(frob status));
is($rc, 2, 'an unknown group exits 2');
like($err, qr/unknown command group 'frob'/, 'and names it');

($rc, $out, $err) = ctl('--params', "$tmp/a.db", 'db');
is($rc, 2, 'a group without a command exits 2');
like($err, qr/'db' needs a command/, 'and says so');

($rc, $out, $err) = ctl('--params', "$tmp/a.db", qw(db status extra));
is($rc, 2, 'an extra argument exits 2');
like($err, qr/too many arguments for 'db status'/, 'and says so');

($rc, $out, $err) = ctl('--bogus-option');
is($rc, 2, 'an unknown option exits 2');
like($err, qr/bogus-option/, 'and names it');

($rc, $out, $err) = ctl('--params');
is($rc, 2, 'an option without its value exits 2');

($rc, $out, $err) = ctl();
is($rc, 2, 'no command at all exits 2');
like($err, qr/^usage: mcpctl/m, 'with the usage');

($rc, $out) = ctl('--help');
is($rc, 0, '--help exits 0');
like($out, qr/db init.*db upgrade.*db status/s, '--help lists the commands');

($rc, $out) = ctl('--version');
is($rc, 0, '--version exits 0');
like($out, qr/^mcpctl \(mod_mcp\) \d+\.\d+\.\d+$/m, '--version prints the version');

# A missing DBD driver package: hide apr-util's driver directory in a
# private mount namespace (needs root and unshare).
SKIP: {
    my ($dsodir) = grep { -e "$_/apr_dbd_sqlite3-1.so" }
                   (glob('/usr/lib/*/apr-util-1'), '/usr/lib/apr-util-1', '/usr/lib64/apr-util-1');
    my $empty = tempdir(CLEANUP => 1);
    my $can = $dsodir && $> == 0
        && !system('sh', '-c', "unshare -m sh -c 'mount --bind $empty $dsodir' 2>/dev/null");
    skip 'hiding the DBD drivers needs root, unshare and mount (not available here)', 4 unless $can;
    for my $drv (qw(sqlite3 pgsql)) {
        my $pkg = "libaprutil1-dbd-$drv";
        ($rc, $out, $err) = run_cmd({}, 'unshare', '-m', 'sh', '-c',
            'mount --bind "$1" "$2" && exec "$3" --driver "$4" --params "$5" db status',
            'sh', $empty, $dsodir, $mcpctl, $drv, $drv eq 'pgsql' ? 'host=127.0.0.1 port=1' : "$tmp/a.db");
        is($rc, 2, "$drv: a missing driver exits 2");
        like($err, qr/the apr_dbd driver '$drv' cannot be loaded .*install the Debian package \Q$pkg\E/,
             "$drv: and names the package $pkg");
    }
}

# --- PostgreSQL -----------------------------------------------------------
SKIP: {
    my $pg = $ENV{MCP_TEST_PGSQL};
    if (!$pg) {
        fail('MCP_TEST_REQUIRE_PGSQL=1 but MCP_TEST_PGSQL is unset: start a server '
             . 'with scripts/lib/pgsql.sh start DIR and export its line')
            if ($ENV{MCP_TEST_REQUIRE_PGSQL} // '') eq '1';
        skip 'MCP_TEST_PGSQL is not set', 36;
    }
    my %p = map { /^([^=]+)=(.*)$/ ? ($1 => $2) : () } split ' ', $pg;
    my %psql_env = (PGCONNECT_TIMEOUT => 10, PGOPTIONS => '--client-min-messages=warning');
    my @psql = ('psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1',
                '-h', $p{host} // '127.0.0.1', '-p', $p{port} // 5432,
                '-U', $p{user} // 'postgres', '-d', $p{dbname} // 'mcp_test', '-c');
    my $psql = sub {
        my ($c, $o, $e) = run_cmd(\%psql_env, @psql, $_[0]);
        die "psql: $e" if $c;
    };
    # Schemas of our own in the test database, dropped afterwards.
    my @schemas = map { "mcp_cli_${$}_$_" } qw(a c);
    $psql->(join '; ', map { "DROP SCHEMA IF EXISTS $_ CASCADE; CREATE SCHEMA $_" } @schemas);
    my @db = ('--driver', 'pgsql', '--params', "$pg options=-csearch_path=$schemas[0]");

    lifecycle('pgsql', @db);
    older_and_newer('pgsql', sub { $psql->("SET search_path = $schemas[0]; $_[0]") }, @db);
    concurrent_upgrades('pgsql', '--driver', 'pgsql', '--params',
                        "$pg options=-csearch_path=$schemas[1]");

    ($rc, $out, $err) = ctl('--driver', 'pgsql', '--params',
                            'host=127.0.0.1 port=1 dbname=x connect_timeout=3 password=Sup3rSecretPw', qw(db status));
    is($rc, 2, 'pgsql: an unreachable server exits 2');
    like($err, qr/cannot open the pgsql database: .*127\.0\.0\.1/, 'pgsql: with the driver\'s reason');
    unlike($err, qr/Sup3rSecretPw/, 'pgsql: never repeating the password');
    ($rc, $out, $err) = ctl('--driver', 'pgsql', '--params', 'garbage', qw(db status));
    is($rc, 2, 'pgsql: bad parameters exit 2');
    like($err, qr/cannot open the pgsql database: missing "=" after "garbage"/, 'pgsql: with the reason');
    ($rc, $out, $err) = ctl('--driver', 'pgsql', '--params', "$pg dbname=mcp_no_such_db", qw(db status));
    is($rc, 2, 'pgsql: a missing database exits 2');
    like($err, qr/database "mcp_no_such_db" does not exist/, 'pgsql: and says so');

    $psql->(join '; ', map { "DROP SCHEMA IF EXISTS $_ CASCADE" } @schemas);
}

done_testing();
