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

# mcpctl's command line against SQLite and PostgreSQL.
#   MCPCTL=build/support/mcpctl [MCP_TEST_PGSQL='host=... dbname=...'] prove t/cli
# With MCP_TEST_REQUIRE_PGSQL=1 a missing MCP_TEST_PGSQL is a failure.
use strict;
use warnings;
use Test::More;
use File::Temp qw(tempdir);
use IPC::Open3;
use Symbol qw(gensym);

my $mcpctl = $ENV{MCPCTL} or BAIL_OUT('set MCPCTL to the built mcpctl binary');
-x $mcpctl or BAIL_OUT("$mcpctl is not executable");

# Run mcpctl with @args; returns (exit status, stdout, stderr).
sub ctl {
    my @args = @_;
    my $err = gensym;
    local %ENV = %ENV;
    delete @ENV{qw(MCP_DBD_DRIVER MCP_DBD_PARAMS)};
    my $pid = open3(my $in, my $out, $err, $mcpctl, @args);
    close $in;
    my $stdout = do { local $/; <$out> } // '';
    my $stderr = do { local $/; <$err> } // '';
    waitpid($pid, 0);
    return ($? >> 8, $stdout, $stderr);
}

sub lifecycle {
    my ($name, @db) = @_;
    my ($rc, $out, $err);

    ($rc, $out) = ctl(@db, qw(db status));
    is($rc, 1, "$name: status on an empty database exits 1");
    like($out, qr/^initialized: no$/m, "$name: says not initialized");
    like($out, qr/state: not initialized \(run: mcpctl db upgrade\)/, "$name: names the fix");

    ($rc, $out) = ctl(@db, qw(db init));
    is($rc, 0, "$name: init succeeds");
    like($out, qr/schema upgraded from version 0 to (\d+)/, "$name: init reports the version");
    my ($latest) = $out =~ /to (\d+)/;

    ($rc, $out) = ctl(@db, qw(db init));
    is($rc, 0, "$name: a second init is harmless");
    like($out, qr/already initialized at version $latest; state: up to date/, "$name: and says so");

    ($rc, $out) = ctl(@db, qw(db upgrade));
    is($rc, 0, "$name: upgrade when up to date succeeds");
    like($out, qr/already at version $latest, up to date/, "$name: and says so");

    ($rc, $out) = ctl(@db, qw(db status));
    is($rc, 0, "$name: status when up to date exits 0");
    like($out, qr/^version: $latest$/m, "$name: version");
    like($out, qr/^expected: $latest$/m, "$name: expected");
    like($out, qr/^state: up to date$/m, "$name: state");
}

# --- SQLite ---------------------------------------------------------------
my $dir = tempdir(CLEANUP => 1);
lifecycle('sqlite', '--params', "$dir/a.db");

{
    # upgrade also works from empty; environment variables work too
    local $ENV{MCP_DBD_PARAMS};
    my $pid = open3(my $in, my $out, undef, 'env', "MCP_DBD_PARAMS=$dir/b.db",
                    "MCP_DBD_DRIVER=sqlite3", $mcpctl, qw(db upgrade));
    close $in;
    my $text = do { local $/; <$out> };
    waitpid($pid, 0);
    is($? >> 8, 0, 'upgrade from empty via MCP_DBD_PARAMS');
    like($text, qr/upgraded from version 0/, 'and reports it');
    ok(-s "$dir/b.db", 'the database file exists');
}

my ($rc, $out, $err);
($rc, $out, $err) = ctl('--params', "$dir/nonexistent/dir/x.db", qw(db status));
is($rc, 2, 'an unopenable SQLite file exits 2');
like($err, qr/cannot open the sqlite3 database/, 'with a clear message');

($rc, $out, $err) = ctl(qw(db status));
is($rc, 2, 'no database given exits 2');
like($err, qr/no database given: use --params/, 'and says how to give one');

($rc, $out, $err) = ctl('--driver', 'mysql', '--params', 'x', qw(db status));
is($rc, 2, 'an unknown driver exits 2');
like($err, qr/unknown driver 'mysql'/, 'and names it');

($rc, $out, $err) = ctl('--params', "$dir/a.db", qw(db frobnicate));
is($rc, 2, 'an unknown command exits 2');
like($err, qr/unknown command 'db frobnicate'/, 'and names it');

($rc, $out, $err) = ctl('--bogus-option');
is($rc, 2, 'an unknown option exits 2');

($rc, $out) = ctl('--help');
is($rc, 0, '--help exits 0');
like($out, qr/db upgrade/, '--help lists the commands');

($rc, $out) = ctl('--version');
is($rc, 0, '--version exits 0');
like($out, qr/^mcpctl \(mod_mcp\) \d+\.\d+\.\d+$/m, '--version prints the version');

{
    # A database newer than this mcpctl
    my $db = "$dir/newer.db";
    ctl('--params', $db, qw(db upgrade));
    system('sqlite3', $db, 'INSERT INTO mcp_schema_version (version, applied_at) VALUES (99, 0)') == 0
        or BAIL_OUT('sqlite3 CLI failed');
    ($rc, $out) = ctl('--params', $db, qw(db status));
    is($rc, 1, 'status on a newer database exits 1');
    like($out, qr/state: newer than this mcpctl/, 'and says it is newer');
    ($rc, $out, $err) = ctl('--params', $db, qw(db upgrade));
    is($rc, 2, 'upgrade of a newer database is refused');
    like($err, qr/newer than this build/, 'with a clear message');
}

# --- PostgreSQL -----------------------------------------------------------
SKIP: {
    my $pg = $ENV{MCP_TEST_PGSQL};
    if (!$pg) {
        fail('MCP_TEST_REQUIRE_PGSQL=1 but MCP_TEST_PGSQL is unset') if ($ENV{MCP_TEST_REQUIRE_PGSQL} // '') eq '1';
        skip 'MCP_TEST_PGSQL is not set', 15;
    }
    # A schema of our own in the test database, dropped afterwards.
    my $schema = "mcp_cli_$$";
    my ($host) = $pg =~ /host=(\S+)/;
    my ($port) = $pg =~ /port=(\d+)/;
    my ($user) = $pg =~ /user=(\S+)/;
    my ($dbname) = $pg =~ /dbname=(\S+)/;
    local $ENV{PGOPTIONS} = '--client-min-messages=warning';
    my @psql = ('psql', '-q', '-h', $host, '-p', $port, '-U', $user, '-d', $dbname, '-c');
    system(@psql, "DROP SCHEMA IF EXISTS $schema CASCADE; CREATE SCHEMA $schema") == 0
        or BAIL_OUT('psql cannot create a schema');
    my $params = "$pg options=-csearch_path=$schema";
    lifecycle('pgsql', '--driver', 'pgsql', '--params', $params);
    ($rc, $out, $err) = ctl('--driver', 'pgsql', '--params',
                            'host=127.0.0.1 port=1 dbname=x connect_timeout=3', qw(db status));
    is($rc, 2, 'pgsql: an unreachable server exits 2');
    like($err, qr/cannot open the pgsql database/, 'pgsql: with a clear message');
    system(@psql, "DROP SCHEMA IF EXISTS $schema CASCADE");
}

done_testing();
