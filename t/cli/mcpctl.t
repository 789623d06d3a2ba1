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
use IO::Socket::INET;
use IPC::Open3;
use Symbol qw(gensym);
use POSIX qw(WNOHANG);
use JSON::PP;
use Time::Local qw(timegm);

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

sub slurp { local $/; open(my $fh, '<', $_[0]) or return ''; return <$fh> // '' }

# A revocation endpoint on 127.0.0.1 that answers every request with
# @status and JSON @body, and writes each request's body as a line of a
# file: (its URL, the file, the pid to kill).
sub revocation_endpoint {
    my ($status, $body) = @_;
    my $l = IO::Socket::INET->new(Listen => 8, LocalAddr => '127.0.0.1', LocalPort => 0,
                                  ReuseAddr => 1) or die "listen: $!";
    my $file = tempdir(CLEANUP => 1) . '/bodies';
    my $pid = fork // die "fork: $!";
    if (!$pid) {
        alarm 120;
        while (my $c = $l->accept) {
            my $len = 0;
            while (defined(my $line = <$c>)) {
                last if $line =~ /^\r?\n$/;
                $len = $1 if $line =~ /^Content-Length:\s*(\d+)/i;
            }
            my $got = '';
            read($c, $got, $len) if $len;
            open(my $fh, '>>', $file) or die;
            print $fh "$got\n";
            close($fh);
            print $c "HTTP/1.1 $status Bad Request\r\nContent-Type: application/json\r\n"
                . 'Content-Length: ' . length($body) . "\r\nConnection: close\r\n\r\n$body";
            close($c);
        }
        POSIX::_exit(0);
    }
    my $url = 'http://127.0.0.1:' . $l->sockport . '/revoke';
    close($l);
    return ($url, $file, $pid);
}

# The schema version this mcpctl expects, from a fresh database.
my $tmp = tempdir(CLEANUP => 1);
my ($rc, $out, $err) = ctl('--params', "$tmp/probe.db", qw(db status));
my ($latest) = $out =~ /^expected: (\d+)$/m;
ok($latest, 'status names the expected version')
    or BAIL_OUT("no 'expected:' line in: $out$err");
# older_and_newer() undoes migration 5 by hand: a new migration needs its
# own undo there.
is($latest, 5, 'this mcpctl expects schema version 5');

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

# A database one migration behind (migration 5 undone by hand: its
# column dropped, its version row deleted), then a newer one.
sub older_and_newer {
    my ($name, $sql, @db) = @_;
    my $prev = $latest - 1;

    $sql->("ALTER TABLE mcp_upstream_tokens DROP COLUMN last_used_at; "
           . "DELETE FROM mcp_schema_version WHERE version = 5");
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
{
    my ($cmds) = $out =~ /^commands:\n((?:  .*\n)+)/m;
    my %listed = map { /^  (\S+ \S+)\s.*\s{2}\S/ ? ($1 => 1) : () } split /\n/, $cmds // '';
    is_deeply([sort keys %listed],
              [sort map { s/^(\S+ \S+).*/$1/r } 'db init', 'db upgrade', 'db status', 'db purge',
                    map({ "client $_" } qw(register list show update disable enable delete
                                           revoke-tokens rotate-secret presets)),
                    'consent list', 'consent revoke', 'token revoke',
                    'provider connections', 'provider revoke', 'provider purge'],
              '--help lists every command, each with a line of help');
    like($out, qr/^  --preset NAME\s.*\n(?:.*\n)*^  --user USER\s/m, '--help lists the command options');
    like($out, qr{default\s+/\S*/mod_mcp/clients/presets\.json\)}, '--help names the installed presets file');
}
($rc, $out) = ctl(qw(client register --help));
is($rc, 0, 'a command with --help exits 0');
like($out, qr/^usage: mcpctl .*client register NAME \[--preset NAME\] \[--redirect-uri URI\]\.\.\./m,
     'and shows its usage');
like($out, qr/^  --allowed-resource URL\s/m, 'and its options');
unlike($out, qr/^  --user /m, 'only its own');
($rc, $out) = ctl(qw(client enable --help));
like($out, qr/old access tokens stay refused/, 'enable says it does not undo the revocation');

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

# --- clients, consents, tokens ---------------------------------------------
#
# client_suite(NAME, DRIVER, PARAMS, RAW): every client, consent and token
# command against one freshly initialized database. t/cli/mcpctl_seed
# puts in what only the gateway makes (codes, refresh tokens, consents)
# and reads back revocations and secret hashes; RAW->() returns the
# mcp_clients table as text, to show that no secret is stored in clear.
my $seed = $ENV{MCPCTL_SEED} or BAIL_OUT('set MCPCTL_SEED to the built t/cli/mcpctl_seed');
my $src = $ENV{MCP_SRCDIR} // '.';
my $presets_file = "$src/conf/clients/presets.json";
my $presets = do {
    local $/;
    open(my $fh, '<', $presets_file) or BAIL_OUT("$presets_file: $!");
    JSON::PP->new->decode(<$fh>)->{presets};
};
my $EVIL = q{'; DROP TABLE mcp_clients; --};

sub client_suite {
    my ($name, $driver, $params, $raw) = @_;
    my @db = ('--driver', $driver, '--params', $params);
    my $c = sub { run_cmd({ MCP_PRESETS => $presets_file }, $mcpctl, @db, @_) };
    my $s = sub { run_cmd({}, $seed, $driver, $params, @_) };
    my $revocations = sub { my (undef, $o) = $s->('revocations'); $o };
    my ($rc, $out, $err);

    ($rc) = $c->(qw(db init));
    is($rc, 0, "$name: a fresh database for the client commands");
    ($rc, $out) = $c->(qw(client list));
    is($out, "no OAuth clients\n", "$name: client list on an empty store says so");

    # Every preset registers, with its redirect URIs, method and type.
    for my $p (sort keys %$presets) {
        my $e = $presets->{$p};
        my $public = $e->{token_endpoint_auth_method} eq 'none';
        ($rc, $out, $err) = $c->('client', 'register', "p-$p", '--preset', $p);
        is($rc, 0, "$name: --preset $p registers") or diag($err);
        like($out, $public ? qr/^client_id: p-\Q$p\E$/m : qr/^client_secret: [A-Za-z0-9_-]{43}$/m,
             "$name: $p is " . ($public ? 'public' : 'confidential, with a secret'));
        ($rc, $out) = $c->('client', 'show', "p-$p");
        my @uris = $out =~ /^redirect_uris:\n((?:  .*\n)+)/m ? map { s/^  //r } split /\n/, $1 : ();
        is_deeply([sort @uris], [sort @{$e->{redirect_uris}}], "$name: $p shows its redirect URIs");
        like($out, qr/^kind: manual\n(?:.*\n)*token_endpoint_auth_method: \Q$e->{token_endpoint_auth_method}\E$/m,
             "$name: $p as a manual client with its method");
        like($out, qr/"application_type": "\Q$e->{application_type}\E"/, "$name: $p is $e->{application_type}");
        like($out, qr/^secret: @{[$public ? 'none' : 'set']}$/m, "$name: $p says whether it has a secret");
        like($out, qr/^grant_types: authorization_code refresh_token$/m, "$name: $p grant types");
        like($out, qr/^expires: never$/m, "$name: $p never expires");
    }
    ($rc, $out) = $c->(qw(client presets));
    is($rc, 0, "$name: client presets");
    is(scalar(() = $out =~ /^\S+: /mg), scalar(keys %$presets), "$name: lists every preset");
    ($rc, $out) = $c->(qw(client presets windsurf));
    like($out, qr/^  source: .*loopback only/mi, "$name: a preset says where its URIs come from");

    # A confidential client: the secret is printed once and stored hashed.
    ($rc, $out, $err) = $c->(qw(client register acme --redirect-uri https://app.example.com/cb
                                --name), 'Acme App', qw(--scope), 'mcp offline_access');
    is($rc, 0, "$name: register a confidential client") or diag($err);
    my ($secret) = $out =~ /^client_secret: (\S+)$/m;
    like($out, qr/^client_id: acme$/m, "$name: prints the client id");
    ok($secret && length($secret) == 43, "$name: and a 43-character secret");
    like($out, qr/cannot be shown again/, "$name: saying it cannot be shown again");
    is(($s->('secret-ok', 'acme', $secret))[0], 0, "$name: the printed secret is the stored one");
    is(($s->('secret-ok', 'acme', "x$secret"))[0], 1, "$name: another is not");
    my (undef, $hash) = $s->('secret-hash', 'acme');
    like($hash, qr/^sha256:[A-Za-z0-9_-]{43}$/, "$name: only a hash is stored");
    unlike($raw->(), qr/\Q$secret\E/, "$name: the database never holds the secret itself");
    ($rc, $out) = $c->(qw(client show acme));
    like($out, qr/^secret: set$/m, "$name: show says the secret is set");
    chomp $hash;
    unlike($out, qr/\Q$secret\E|\Q$hash\E/, "$name: and shows neither secret nor hash");
    like($out, qr/^name: Acme App$/m, "$name: --name is kept");
    like($out, qr/^scope: mcp offline_access$/m, "$name: --scope is kept");
    like($out, qr/^token_endpoint_auth_method: client_secret_basic$/m,
         "$name: the default method is client_secret_basic");
    ($rc, $out, $err) = $c->(qw(client register acme --preset claude-code));
    is($rc, 2, "$name: registering an existing id exits 2");
    like($err, qr/OAuth client 'acme' exists already/, "$name: and says so");

    # Names.
    for my $bad ('Upper', 'under_score', '-lead', 'a' x 65, '', "a b", $EVIL) {
        ($rc, $out, $err) = $c->(qw(client register --preset claude-code --), $bad);
        is($rc, 2, "$name: client id '$bad' is refused");
        like($err, qr/invalid client id|the client id is empty/, "$name: saying why ('$bad')");
        like($err, qr/^usage: mcpctl .*client register NAME/m, "$name: with the usage ('$bad')");
    }
    ($rc) = $c->('client', 'register', 'a' . ('-9' x 31) . 'z', qw(--preset claude-code));
    is($rc, 0, "$name: a 64-character id with digits and hyphens is fine");

    # Redirect URIs, judged as the gateway's registration judges them.
    for my $case (['http://example.com/cb', qr/must use https/],
                  ['javascript:alert(1)', qr/scheme 'javascript' is not allowed/],
                  ['https://app.example.com/cb#frag', qr/fragment/],
                  ['data:text/html,x', qr/not allowed/],
                  ["https://app.example.com/$EVIL", qr/invalid_redirect_uri/]) {
        my ($uri, $why) = @$case;
        ($rc, $out, $err) = $c->(qw(client register bad-uri --auth-method none --redirect-uri), $uri);
        is($rc, 2, "$name: redirect URI $uri is refused");
        like($err, $why, "$name: saying why ($uri)");
    }
    ($rc, $out, $err) = $c->(qw(client register bad-uri --preset claude-ai --redirect-uri http://localhost/cb));
    is($rc, 2, "$name: a web client cannot have a loopback redirect URI");
    like($err, qr/web client/, "$name: saying so");
    ($rc, $out, $err) = $c->(qw(client register bad-uri --redirect-uri cursor://x/cb));
    is($rc, 2, "$name: a private-use scheme needs a public client");
    ($rc, $out, $err) = $c->(qw(client show bad-uri));
    is($rc, 2, "$name: no refused client was stored");
    like($err, qr/no OAuth client 'bad-uri'/, "$name: unknown client: a clear message");

    # --redirect-uri adds to the preset; --allowed-resource, canonical.
    ($rc, $out, $err) = $c->(qw(client register gpt --preset chatgpt
                                --redirect-uri https://chatgpt.com/connector/oauth/AbC123
                                --allowed-resource HTTPS://GW.example.com:443/mcp/
                                --allowed-resource http://127.0.0.1:8080/mcp));
    is($rc, 0, "$name: a preset plus a redirect URI and resources") or diag($err);
    ($rc, $out) = $c->(qw(client show gpt));
    like($out, qr{^redirect_uris:\n  https://chatgpt.com/connector/oauth/AbC123\n  https://chatgpt.com/connector_platform_oauth_redirect\n}m,
         "$name: the preset's URI and the one added");
    like($out, qr/"allowed_resources": \[\s*"https:\/\/gw.example.com\/mcp",\s*"http:\/\/127.0.0.1:8080\/mcp"\s*\]/,
         "$name: allowed_resources in the metadata, canonical");
    for my $bad ('http://gw.example.com/mcp', 'gw.example.com', $EVIL) {
        ($rc, $out, $err) = $c->(qw(client register res --preset claude-code --allowed-resource), $bad);
        is($rc, 2, "$name: --allowed-resource '$bad' is refused");
    }
    ($rc, $out, $err) = $c->(qw(client register sc --preset claude-code --scope), 'a"b');
    is($rc, 2, "$name: a malformed --scope is refused");
    like($err, qr/scope/, "$name: naming the scope");

    # SQL in the strings that are stored: stored verbatim, never run.
    ($rc, $out, $err) = $c->(qw(client register evil --preset claude-code --name), $EVIL, '--scope', $EVIL);
    is($rc, 0, "$name: SQL in --name and --scope is just text") or diag($err);
    ($rc, $out) = $c->(qw(client show evil));
    like($out, qr/^name: \Q$EVIL\E$/m, "$name: --name stored verbatim");
    like($out, qr/^scope: \Q$EVIL\E$/m, "$name: --scope stored verbatim");
    ($rc, $out, $err) = $c->(qw(client register evil2 --preset claude-code --auth-method), $EVIL);
    is($rc, 2, "$name: SQL as --auth-method is refused");
    like($err, qr/token_endpoint_auth_method must be/, "$name: as an unknown method");
    ($rc, $out, $err) = $c->(qw(client register evil2 --preset claude-code --presets), $EVIL);
    is($rc, 2, "$name: SQL as --presets is a file that is not there");

    # list: a row per client, live refresh tokens counted.
    $s->(qw(refresh acme alice r-acme-1 3600));
    $s->(qw(refresh acme bob r-acme-2 3600));
    $s->(qw(refresh acme bob r-acme-old -10));
    ($rc, $out) = $c->(qw(client list));
    is($rc, 0, "$name: client list");
    like($out, qr/^CLIENT ID\s+KIND\s+NAME\s+AUTH METHOD\s+URIS\s+TOKENS\s+DISABLED\s+EXPIRES$/m, "$name: the header");
    like($out, qr/^acme\s+manual\s+Acme App\s+client_secret_basic\s+1\s+2\s+no\s+never$/m,
         "$name: a row: id, kind, name, method, URIs, live refresh tokens, disabled, expiry");
    like($out, qr/^p-cursor\s+manual\s+Cursor\s+none\s+3\s+0\s+no\s+never$/m, "$name: another row");
    like($out, qr/^evil\s/m, "$name: the table the SQL named is still there");
    unlike($out, qr/\Q$secret\E/, "$name: list shows no secret");

    # update
    ($rc, $out, $err) = $c->(qw(client update acme --redirect-uri https://new.example.com/a
                                --redirect-uri https://new.example.com/b --name), 'Acme 2', '--scope', '');
    is($rc, 0, "$name: update") or diag($err);
    unlike($out, qr/client_secret:/, "$name: an update that keeps the method prints no secret");
    ($rc, $out) = $c->(qw(client show acme));
    like($out, qr{^redirect_uris:\n  https://new.example.com/a\n  https://new.example.com/b\nallowed}m,
         "$name: --redirect-uri replaced the list");
    like($out, qr/^name: Acme 2$/m, "$name: the new name");
    like($out, qr/^scope: -$/m, "$name: --scope '' removed the scopes");
    is(($s->('secret-ok', 'acme', $secret))[0], 0, "$name: the secret is kept");
    ($rc, $out, $err) = $c->(qw(client update acme --redirect-uri http://example.com/cb));
    is($rc, 2, "$name: update judges the URIs too");
    ($rc, $out) = $c->(qw(client update acme --auth-method none));
    like($out, qr/secret was removed/, "$name: becoming public drops the secret");
    like(($s->('secret-hash', 'acme'))[1], qr/^none$/, "$name: no hash is left");
    ($rc, $out) = $c->(qw(client update acme --auth-method client_secret_post));
    my ($secret2) = $out =~ /^client_secret: (\S+)$/m;
    ok($secret2, "$name: becoming confidential prints a new secret");
    is(($s->('secret-ok', 'acme', $secret2))[0], 0, "$name: which works");
    ($rc, $out, $err) = $c->(qw(client update gpt --allowed-resource), '');
    ($rc, $out) = $c->(qw(client show gpt));
    like($out, qr/^allowed_resources: any$/m, "$name: --allowed-resource '' lifts the restriction");
    ($rc, $out) = $c->(qw(client update p-zed --preset vscode));
    ($rc, $out) = $c->(qw(client show p-zed));
    like($out, qr{^redirect_uris:\n(  .*\n){4}allowed}m, "$name: update --preset takes the preset's URIs");
    ($rc, $out, $err) = $c->(qw(client update acme));
    is($rc, 2, "$name: update without options exits 2");
    like($err, qr/nothing to change/, "$name: saying so");

    # disable / enable
    ($rc, $out) = $c->(qw(client disable acme));
    is($rc, 0, "$name: disable");
    like($revocations->(), qr/^client acme (\d+) (\d+)$/m, "$name: disable writes a client revocation");
    ($rc, $out) = $c->(qw(client show acme));
    like($out, qr/^disabled: since \d{4}-/m, "$name: show says disabled");
    ($rc, $out) = $c->(qw(client list));
    like($out, qr/^acme\s.*\syes\s+never$/m, "$name: list says disabled");
    ($rc) = $c->(qw(client disable acme));
    is($rc, 0, "$name: disabling twice is fine");
    is(($s->(qw(refresh-state r-acme-1)))[1], "live\n", "$name: a disabled client keeps its refresh tokens");
    ($rc, $out) = $c->(qw(client enable acme));
    is($rc, 0, "$name: enable");
    like($out, qr/issued before it was disabled stay refused/, "$name: enable says old tokens stay refused");
    ($rc, $out) = $c->(qw(client show acme));
    like($out, qr/^disabled: no$/m, "$name: enabled again");
    like($revocations->(), qr/^client acme /m, "$name: and the revocation stays");
    ($rc, $out) = $c->(qw(client enable acme));
    like($out, qr/enabled already/, "$name: enabling twice is fine");

    # revoke-tokens: exact line, idempotent.
    ($rc, $out) = $c->(qw(client revoke-tokens acme));
    is($rc, 0, "$name: revoke-tokens");
    # Three: the expired one was not revoked yet either.
    is($out, "Revoked 3 tokens for OAuth client acme\n", "$name: the exact line, with the number revoked");
    is(($s->(qw(refresh-state r-acme-2)))[1], "revoked\n", "$name: the refresh tokens are revoked");
    ($rc, $out) = $c->(qw(client revoke-tokens acme));
    is($rc, 0, "$name: revoke-tokens again exits 0");
    is($out, "Revoked 0 tokens for OAuth client acme\n", "$name: and revokes nothing more");
    my ($cr, $ex) = $revocations->() =~ /^client acme (\d+) (\d+)$/m;
    is($ex - $cr, 86400 + 60, "$name: the revocation lasts the longest access lifetime plus a minute");

    # rotate-secret
    ($rc, $out, $err) = $c->(qw(client rotate-secret p-cursor));
    is($rc, 2, "$name: rotate-secret of a public client is refused");
    like($err, qr/is public .*no secret to rotate/, "$name: saying why");
    ($rc, $out) = $c->(qw(client rotate-secret acme));
    my ($secret3) = $out =~ /^client_secret: (\S+)$/m;
    is($rc, 0, "$name: rotate-secret");
    like($out, qr/cannot be shown again/, "$name: the new secret is shown once");
    is(($s->('secret-ok', 'acme', $secret3))[0], 0, "$name: the new secret works");
    is(($s->('secret-ok', 'acme', $secret2))[0], 1, "$name: the old one no longer does");

    # delete: tokens, codes and consents go with the client.
    $s->(qw(refresh gpt carol r-gpt-1 3600));
    $s->(qw(code gpt carol c-gpt-1 30));
    $s->(qw(consent carol gpt https://gw.example.com/mcp mcp 3600));
    ($rc, $out) = $c->(qw(client delete gpt));
    is($rc, 0, "$name: delete");
    like($out, qr/Deleted OAuth client gpt with its 1 live refresh tokens/, "$name: says what went");
    is(($s->(qw(refresh-state r-gpt-1)))[1], "absent\n", "$name: its refresh token is gone");
    is(($s->(qw(code-state c-gpt-1)))[1], "absent\n", "$name: its code is gone");
    is(($s->(qw(consent-state carol gpt https://gw.example.com/mcp)))[1], "absent\n", "$name: its consent is gone");
    like($revocations->(), qr/^client gpt \d+ \d+$/m, "$name: delete writes a client revocation");
    ($rc, $out, $err) = $c->(qw(client delete gpt));
    is($rc, 2, "$name: deleting it again exits 2");
    like($err, qr/no OAuth client 'gpt'/, "$name: unknown client");

    # Unknown clients, everywhere.
    for my $cmd (qw(show update disable enable delete revoke-tokens rotate-secret)) {
        ($rc, $out, $err) = $c->('client', $cmd, $EVIL, $cmd eq 'update' ? ('--name', 'x') : ());
        is($rc, 2, "$name: client $cmd of an unknown client exits 2");
        like($err, qr/no OAuth client '\Q$EVIL\E'/, "$name: client $cmd names it");
    }

    # upstream links (mod_mcp_idp's vault)
    ($rc, $out) = $c->(qw(provider connections gh));
    is($out, "no links to provider gh\n", "$name: provider connections without links says so");
    $s->(qw(upstream alice gh), 'repo read:org', 3600);
    $s->(qw(upstream bob gh repo -60));
    $s->(qw(upstream alice slack chat 3600));
    ($rc, $out, $err) = $s->(qw(upstream-used alice gh 90));
    is($rc, 0, "$name: alice used her link 90 s ago") or diag($err);
    ($rc, $out) = $c->(qw(provider connections gh));
    is($rc, 0, "$name: provider connections");
    like($out, qr/^USER\s+SCOPES\s+LINKED\s+RENEWED\s+LAST USED\s+EXPIRES\s+KEY$/m, "$name: the header");
    my $t = qr/\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC/;
    like($out, qr/^alice\s+repo read:org\s+$t\s+$t\s+($t)\s+$t\s+k1$/m,
         "$name: user, scopes, linked, renewed, last used, expires, key");
    my ($used) = $out =~ /^alice\s+repo read:org\s+$t\s+$t\s+($t)/m;
    my @u = ($used // '') =~ /^(\d+)-(\d+)-(\d+) (\d+):(\d+):(\d+) UTC$/;
    my $ago = @u ? time - timegm($u[5], $u[4], $u[3], $u[2], $u[1] - 1, $u[0]) : -1;
    ok($ago >= 90 && $ago <= 100, "$name: last used is when it was used ($ago s ago)");
    like($out, qr/^bob\s+repo\s+$t\s+$t\s+never\s+$t \(expired\)\s+k1$/m,
         "$name: a link never used says never; expired access tokens are marked");
    unlike($out, qr/chat/, "$name: only that provider's links");
    ($rc, $out, $err) = $c->(qw(provider revoke gh));
    is($rc, 2, "$name: provider revoke without --user exits 2");
    like($err, qr/'provider revoke' needs --user/, "$name: and says so");
    ($rc, $out) = $c->(qw(provider revoke --user alice gh));
    is($rc, 0, "$name: provider revoke --user");
    like($out, qr/^Deleted the link of user alice to provider gh/, "$name: says what it did");
    ($rc, $out, $err) = $c->(qw(provider revoke --user alice gh));
    is($rc, 2, "$name: revoking a link that is gone exits 2");
    like($err, qr/user alice has no link to provider gh/, "$name: and says so");
    ($rc, $out) = $c->(qw(provider purge gh));
    like($out, qr/^Deleted 1 links to provider gh\./, "$name: provider purge deletes the rest");
    ($rc, $out) = $c->(qw(provider connections gh));
    is($out, "no links to provider gh\n", "$name: none left");
    ($rc, $out) = $c->(qw(provider connections slack));
    like($out, qr/^alice\s+chat/m, "$name: other providers' links stay");
    ($rc, $out) = $c->(qw(provider purge slack));
    like($out, qr/^Its tokens were not revoked at the provider \(no --revoke-url\)/m,
         "$name: a purge without --revoke-url says the tokens stay valid at the provider");

    # revoking at the provider: the options, then links that cannot be
    # revoked stay (an unreachable endpoint, a key not given, a record
    # that does not open)
    my $keydir = tempdir(CLEANUP => 1);
    my $keyfile = "$keydir/vault.key";
    open(my $kf, '>', $keyfile) or die;
    print $kf 'ab' x 32, "\n";
    close($kf);
    my $closed = do {    # a port nothing listens on
        my $l = IO::Socket::INET->new(Listen => 1, LocalAddr => '127.0.0.1', LocalPort => 0) or die;
        my $port = $l->sockport;
        close($l);
        $port;
    };
    my $dead = "http://127.0.0.1:$closed/revoke";
    ($rc, $out, $err) = $c->(qw(provider purge gh --client-id gw));
    is($rc, 2, "$name: --client-id without --revoke-url exits 2");
    like($err, qr/go with --revoke-url/, "$name: and says so");
    ($rc, $out, $err) = $c->('provider', 'purge', 'gh', '--revoke-url', $dead);
    is($rc, 2, "$name: --revoke-url without --client-id and --vault-key exits 2");
    like($err, qr/--revoke-url needs --client-id and --vault-key/, "$name: and says so");
    ($rc, $out, $err) = $c->('provider', 'purge', 'gh', '--revoke-url', 'ftp://127.0.0.1/x',
                             '--client-id', 'gw', '--vault-key', "k1=$keyfile");
    is($rc, 2, "$name: an --revoke-url that is no http(s) URL exits 2");
    like($err, qr/--revoke-url ftp:/, "$name: and names it");
    ($rc, $out, $err) = $c->('provider', 'purge', 'gh', '--revoke-url', $dead,
                             '--client-id', 'gw', '--vault-key', "k1=$keydir/none.key");
    is($rc, 2, "$name: a missing --vault-key file exits 2");
    like($err, qr/--vault-key k1=\Q$keydir\E\/none\.key: .*none\.key/, "$name: and names the file");
    ($rc, $out, $err) = $c->('provider', 'purge', 'gh', '--revoke-url', $dead, '--client-id', 'gw',
                             '--vault-key', "k1=$keyfile", '--auth-method', 'client_secret_post');
    is($rc, 2, "$name: --auth-method without --secret-file exits 2");
    $s->('upstream-sealed', 'alice', 'gh', $keyfile, 'k1', 'at-alice', 'rt-alice');
    $s->(qw(upstream bob gh repo 3600));    # an envelope that does not open
    ($rc, $out, $err) = $c->('provider', 'purge', 'gh', '--revoke-url', $dead,
                             '--client-id', 'gw', '--vault-key', "k9=$keyfile");
    is($rc, 2, "$name: purge with links it cannot revoke exits 2");
    like($err, qr/kept the link of user alice: its tokens are sealed with key id k1, which no --vault-key gives/,
         "$name: a key id no --vault-key gives is named");
    like($err, qr/kept 2 links to provider gh/, "$name: and the count kept");
    ($rc, $out, $err) = $c->('provider', 'purge', 'gh', '--revoke-url', $dead,
                             '--client-id', 'gw', '--vault-key', "k1=$keyfile");
    is($rc, 2, "$name: an unreachable revocation endpoint exits 2");
    like($err, qr/kept the link of user alice: .*127\.0\.0\.1/, "$name: says why for alice");
    like($err, qr/kept the link of user bob: its vault record does not open/, "$name: and for bob");
    like($out, qr/^Revoked at http:\/\/127\.0\.0\.1:\d+\/revoke and deleted 0 links/m, "$name: deleted none");
    ($rc, $out) = $c->(qw(provider connections gh));
    like($out, qr/^alice\s/m, "$name: alice's link is kept");
    like($out, qr/^bob\s/m, "$name: bob's link is kept");
    ($rc, $out, $err) = $c->('provider', 'revoke', '--user', 'alice', 'gh', '--revoke-url', $dead,
                             '--client-id', 'gw', '--vault-key', "k1=$keyfile");
    is($rc, 2, "$name: provider revoke --revoke-url that cannot revoke exits 2");
    like($err, qr/the link of user alice to provider gh is kept: .*delete only/, "$name: and keeps it");
    ($rc, $out) = $c->(qw(provider revoke --user alice gh));
    is($rc, 0, "$name: without --revoke-url, revoke deletes");
    like($out, qr/^Its tokens were not revoked at the provider/m, "$name: and says they were not revoked");
    ($rc, $out) = $c->(qw(provider purge gh));
    like($out, qr/^Deleted 1 links to provider gh\./, "$name: purge without --revoke-url deletes what was kept");

    # a provider that does not revoke the token it is given
    # (unsupported_token_type, RFC 7009 §2.2.1: a link left with only its
    # JWT access token, say): asking again cannot help, so the link goes,
    # and mcpctl says the token stays valid there
    my ($unsup, $bodies, $srv) = revocation_endpoint(
        400, '{"error":"unsupported_token_type"}');
    $s->('upstream-sealed', 'alice', 'gh', $keyfile, 'k1', 'at-alice');
    $s->('upstream-sealed', 'bob', 'gh', $keyfile, 'k1', 'at-bob');
    $s->('upstream-sealed', 'carol', 'gh', $keyfile, 'k1', 'at-carol', 'rt-carol');
    ($rc, $out, $err) = $c->('provider', 'revoke', '--user', 'alice', 'gh', '--revoke-url', $unsup,
                             '--client-id', 'gw', '--vault-key', "k1=$keyfile");
    is($rc, 0, "$name: revoke, the provider does not revoke that token: exits 0") or diag($err);
    like($out, qr/^Deleted the link of user alice to provider gh/m, "$name: deletes the link");
    like($out, qr/^Its token was not revoked at http:\/\/127\.0\.0\.1:\d+\/revoke: the provider does not revoke that type of token \(unsupported_token_type\): it stays valid there until it expires\.$/m,
         "$name: and says the token stays valid at the provider");
    ($rc, $out, $err) = $c->('provider', 'purge', 'gh', '--revoke-url', $unsup,
                             '--client-id', 'gw', '--vault-key', "k1=$keyfile");
    is($rc, 0, "$name: purge, the provider does not revoke those tokens: exits 0") or diag($err);
    like($out, qr/^Deleted the link of user bob without revoking its token: .*unsupported_token_type/m,
         "$name: names each link deleted unrevoked (bob)");
    like($out, qr/^Deleted the link of user carol without revoking its token: /m, "$name: (carol)");
    like($out, qr/^Revoked at http:\/\/127\.0\.0\.1:\d+\/revoke and deleted 0 links/m, "$name: revoked none");
    like($out, qr/^Deleted 2 more links to provider gh whose token the provider does not revoke/m,
         "$name: and counts those deleted unrevoked");
    ($rc, $out) = $c->(qw(provider connections gh));
    is($out, "no links to provider gh\n", "$name: none left");
    kill 'TERM', $srv;
    waitpid($srv, 0);
    my @forms = map { { map { split /=/, $_, 2 } split /&/ } } split /\n/, slurp($bodies);
    is_deeply([map { "$_->{token} $_->{token_type_hint}" } @forms],
              ['at-alice access_token', 'at-bob access_token', 'rt-carol refresh_token'],
              "$name: the provider was asked for each link's token, refresh token first");

    # consents
    $s->(qw(consent alice acme https://gw.example.com/mcp), 'mcp tools:read', 3600);
    $s->(qw(consent alice p-cursor https://gw.example.com/mcp mcp -60));
    $s->(qw(consent bob acme https://gw.example.com/mcp mcp 3600));
    ($rc, $out) = $c->(qw(consent list --user alice));
    is($rc, 0, "$name: consent list");
    like($out, qr/^CLIENT\s+RESOURCE\s+SCOPES\s+GRANTED\s+EXPIRES$/m, "$name: the header");
    like($out, qr{^acme\s+https://gw.example.com/mcp\s+mcp tools:read\s+\d{4}-\S+ \S+ UTC\s+\d{4}-\S+ \S+ UTC$}m,
         "$name: client, resource, scopes, granted, expires");
    like($out, qr/^p-cursor\s.*\(expired\)$/m, "$name: expired ones are marked");
    unlike($out, qr/^\S+\s+.*bob/m, "$name: only that user's");
    ($rc, $out) = $c->(qw(consent revoke --user alice --client p-cursor));
    like($out, qr/^Revoked 1 consents of user alice for OAuth client p-cursor/, "$name: revoke one client's");
    ($rc, $out) = $c->(qw(consent revoke --user alice));
    like($out, qr/^Revoked 1 consents of user alice;/, "$name: revoke the rest");
    ($rc, $out) = $c->(qw(consent list --user alice));
    is($out, "no consents of user alice\n", "$name: none left");
    is(($s->(qw(consent-state bob acme https://gw.example.com/mcp)))[1], "present\n", "$name: others' stay");
    ($rc, $out) = $c->('consent', 'list', '--user', $EVIL);
    is($rc, 0, "$name: SQL in --user is just a user name");
    ($rc, $out) = $c->('consent', 'revoke', '--user', $EVIL);
    like($out, qr/^Revoked 0 consents of user \Q$EVIL\E;/, "$name: in consent revoke too");
    ($rc, $out, $err) = $c->('consent', 'revoke', '--user', 'bob', '--client', $EVIL);
    is($rc, 2, "$name: consent revoke --client of an unknown client exits 2");

    # token revoke
    $s->(qw(refresh acme dave r-dave-1 3600));
    $s->(qw(refresh p-cursor dave r-dave-2 3600));
    ($rc, $out) = $c->(qw(token revoke --user dave --client acme));
    is($rc, 0, "$name: token revoke --client");
    like($out, qr/^Revoked 1 refresh tokens of user dave for OAuth client acme\.$/m, "$name: counts them");
    like($out, qr/access tokens already issued to acme for dave stay valid until they expire/,
         "$name: and says issued access tokens stay valid");
    unlike($revocations->(), qr/^subject dave /m, "$name: no subject revocation with --client");
    is(($s->(qw(refresh-state r-dave-2)))[1], "live\n", "$name: other clients' tokens stay");
    ($rc, $out) = $c->(qw(token revoke --user dave));
    like($out, qr/^Revoked 1 refresh tokens of user dave; access tokens already issued to dave are refused/,
         "$name: token revoke without --client");
    like($revocations->(), qr/^subject dave \d+ \d+$/m, "$name: writes a subject revocation");
    ($rc, $out) = $c->(qw(token revoke --user dave));
    like($out, qr/^Revoked 0 refresh tokens/, "$name: again: nothing more");
    ($rc, $out) = $c->('token', 'revoke', '--user', $EVIL);
    is($rc, 0, "$name: SQL in --user is just a user name");
    like($revocations->(), qr/^subject \Q$EVIL\E \d+/m, "$name: and is stored verbatim");
    ($rc, $out, $err) = $c->('token', 'revoke', '--user', 'dave', '--client', $EVIL);
    is($rc, 2, "$name: token revoke --client of an unknown client exits 2");
    like($err, qr/no OAuth client/, "$name: saying so");

    # db purge
    $s->(qw(refresh acme erin r-old-1 -100));
    $s->(qw(code acme erin c-old-1 -100));
    $s->(qw(consent erin acme https://gw.example.com/mcp mcp -100));
    ($rc, $out) = $c->(qw(db purge));
    is($rc, 0, "$name: db purge");
    like($out, qr/^codes: 1\nrefresh tokens: 2\nconsents: 1\nclients: 0\nrevocations: 0\npending authorizations: 0\n$/,
         "$name: prints what it removed");
    ($rc, $out) = $c->(qw(db purge));
    is($out, "codes: 0\nrefresh tokens: 0\nconsents: 0\nclients: 0\nrevocations: 0\npending authorizations: 0\n",
       "$name: a second purge finds nothing");

    # Usage errors.
    for my $case ([[qw(client show)], qr/'client show' needs NAME/],
                  [[qw(client show a b)], qr/too many arguments for 'client show'/],
                  [[qw(client register x)], qr/needs --preset or --redirect-uri/],
                  [[qw(consent list)], qr/'consent list' needs --user/],
                  [[qw(token revoke --client acme)], qr/'token revoke' needs --user/],
                  [[qw(db status --user x)], qr/--user does not apply to 'db status'/],
                  [[qw(client list --preset cursor)], qr/--preset does not apply to 'client list'/],
                  [[qw(client register x --name a --name b --preset cursor)], qr/--name given twice/],
                  [[qw(consent list --user), ''], qr/--user needs a value/],
                  [[qw(client register x --preset), $EVIL], qr/unknown preset '\Q$EVIL\E'/],
                  [[qw(client frob)], qr/unknown command 'client frob'/]) {
        my ($args, $why) = @$case;
        ($rc, $out, $err) = $c->(@$args);
        is($rc, 2, "$name: usage error: @$args");
        like($err, $why, "$name: saying why (@$args)");
    }
    ($rc, $out, $err) = $c->(qw(consent list));
    like($err, qr/^usage: mcpctl .*consent list --user USER$/m, "$name: a usage error shows the command's usage");

    # The presets file: --presets, MCP_PRESETS, a missing one.
    my $dir = tempdir(CLEANUP => 1);
    open(my $fh, '>', "$dir/p.json") or die;
    print $fh '{"presets":{"mine":{"client_name":"Mine","redirect_uris":["http://localhost/mine"],'
              . '"token_endpoint_auth_method":"none","source":"test"}}}';
    close($fh);
    ($rc, $out, $err) = $c->(qw(client register own1 --preset mine --presets), "$dir/p.json");
    is($rc, 0, "$name: --presets FILE") or diag($err);
    ($rc, $out, $err) = run_cmd({ MCP_PRESETS => "$dir/p.json" }, $mcpctl, @db,
                                qw(client register own2 --preset mine));
    is($rc, 0, "$name: MCP_PRESETS") or diag($err);
    ($rc, $out, $err) = $c->(qw(client register own3 --preset cursor --presets), "$dir/p.json");
    like($err, qr/unknown preset 'cursor': \S+ has mine/, "$name: names the presets there are");
    ($rc, $out, $err) = $c->(qw(client register own3 --preset mine --presets), "$dir/none.json");
    is($rc, 2, "$name: a missing presets file exits 2");
    like($err, qr/cannot read the presets file \S+none.json/, "$name: naming it");
}

my $before = Test::More->builder->current_test;
client_suite('sqlite', 'sqlite3', "$tmp/clients.db", sub {
    # The file itself (and its WAL, should one be left): no secret in clear.
    my $all = '';
    for my $f (grep { -e } "$tmp/clients.db", "$tmp/clients.db-wal") {
        local $/;
        open(my $fh, '<:raw', $f) or die "$f: $!";
        $all .= <$fh>;
    }
    return $all;
});
my $client_tests = Test::More->builder->current_test - $before;

# --- PostgreSQL -----------------------------------------------------------
SKIP: {
    my $pg = $ENV{MCP_TEST_PGSQL};
    if (!$pg) {
        fail('MCP_TEST_REQUIRE_PGSQL=1 but MCP_TEST_PGSQL is unset: start a server '
             . 'with scripts/lib/pgsql.sh start DIR and export its line')
            if ($ENV{MCP_TEST_REQUIRE_PGSQL} // '') eq '1';
        skip 'MCP_TEST_PGSQL is not set', 36 + $client_tests;
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
    my @schemas = map { "mcp_cli_${$}_$_" } qw(a c k);
    $psql->(join '; ', map { "DROP SCHEMA IF EXISTS $_ CASCADE; CREATE SCHEMA $_" } @schemas);
    my @db = ('--driver', 'pgsql', '--params', "$pg options=-csearch_path=$schemas[0]");

    lifecycle('pgsql', @db);
    older_and_newer('pgsql', sub { $psql->("SET search_path = $schemas[0]; $_[0]") }, @db);
    concurrent_upgrades('pgsql', '--driver', 'pgsql', '--params',
                        "$pg options=-csearch_path=$schemas[1]");

    client_suite('pgsql', 'pgsql', "$pg options=-csearch_path=$schemas[2]", sub {
        my ($c, $o, $e) = run_cmd(\%psql_env, @psql, "SET search_path = $schemas[2]; "
                                  . "SELECT * FROM mcp_clients; SELECT * FROM mcp_client_redirect_uris");
        die "psql: $e" if $c;
        return $o;
    });

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

# --- the man page ------------------------------------------------------------
# support/mcpctl.1 has an entry for every command and every option that
# mcpctl --help lists: a .TP tag that starts with it, its hyphens escaped
# (client revoke\-tokens, \-\-revoke\-url).
sub man_page_covers_help {
    my $page = ($ENV{MCP_SRCDIR} // '.') . '/support/mcpctl.1';
    my ($c, $help) = ctl('--help');
    is($c, 0, 'man page: mcpctl --help exits 0');
    my ($section, @cmds, @opts) = ('');
    for (split /\n/, $help) {
        $section = $1, next if /^(\w[\w ]*?)(?: \(.*\))?:$/;
        push @cmds, "$1 $2" if $section eq 'commands' && /^  ([a-z]+) ([a-z][a-z-]*)(?: |$)/;
        push @opts, "--$1" if /^  (?:-\w, )?--([a-z][a-z-]*)(?: |$)/;
    }
    cmp_ok(scalar @cmds, '>=', 20, 'man page: the commands of mcpctl --help') or diag($help);
    cmp_ok(scalar @opts, '>=', 17, 'man page: the options of mcpctl --help') or diag($help);
    open(my $fh, '<', $page) or return fail("man page: cannot read $page: $!");
    my $man = do { local $/; <$fh> };
    my @tags = $man =~ /^\.TP\n(.*)$/mg;
    my $has = sub {
        (my $want = $_[0]) =~ s/-/\\-/g;
        return grep { /^\.(?:B|BI|BR)\s+(?:\\-\w ", " )?"?\Q$want\E(?![\w\\])/ } @tags;
    };
    my @missing = grep { !$has->($_) } @cmds;
    is("@missing", '', "man page: $page has every command of mcpctl --help");
    @missing = grep { !$has->($_) } @opts;
    is("@missing", '', "man page: $page has every option of mcpctl --help");
}
man_page_covers_help();

done_testing();
