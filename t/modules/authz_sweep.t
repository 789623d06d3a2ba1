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

# mod_mcp_authz: the expiry sweep. A singleton watchdog of the children
# deletes expired codes, refresh tokens, consents, idle clients and
# revocations from the store every 60 seconds (MCP_AUTHZ_SWEEP_INTERVAL).
# Rows are aged through the store; the test waits for one sweep, so it
# costs up to a minute.

use strict;
use warnings FATAL => 'all';

use FindBin;
use lib "$FindBin::Bin/../lib";

use Apache::Test qw(-withtestmore);
use MCPTest qw(error_log_mark unexpected_errors sql log_has wait_until);
use MCPTest::OAuth ();

my $mark = error_log_mark();
my $as = MCPTest::OAuth->new('mcp_as');

ok(log_has(qr/Watchdog \(mcp-authz-sweep\) running/),
   'the sweep\'s singleton watchdog runs in a child');

sub count {
    my $q = shift;
    return (sql($q) =~ /(\d+)/)[0];
}

# What must go: a code, a refresh token family, a consent, a revocation
# and an idle client, all expired.
my $old = $as->register(client_name => 'Sweep: expired things');
my $oid = $old->{client_id};
my $t = $as->tokens('alice', $old, scope => 'mcp offline_access');
my $code = $as->authorize('alice', $old, scope => 'mcp');
ok($code->{code}, 'an unredeemed code');
$as->refresh($old, $t->{refresh_token});
my $idle = $as->register(client_name => 'Sweep: idle client');
# Before they are aged (a sweep may come any moment after).
ok(count("SELECT count(*) FROM mcp_auth_codes WHERE client_id = '$oid'") >= 2, 'codes are there');
ok(count("SELECT count(*) FROM mcp_refresh_tokens WHERE client_id = '$oid'") >= 2,
   'refresh tokens are there');
is(count("SELECT count(*) FROM mcp_consents WHERE client_id = '$oid'"), 1, 'a consent is there');
is(count("SELECT count(*) FROM mcp_clients WHERE client_id = '$idle->{client_id}'"), 1,
   'the client to be idle is there');
# One sqlite3 run, one transaction.
sql("BEGIN; "
    . "UPDATE mcp_auth_codes SET expires_at = strftime('%s','now') - 5 WHERE client_id = '$oid'; "
    . "UPDATE mcp_refresh_tokens SET expires_at = strftime('%s','now') - 5, "
    . "revoked_at = strftime('%s','now') - 5 WHERE client_id = '$oid'; "
    . "UPDATE mcp_consents SET expires_at = strftime('%s','now') - 5 WHERE client_id = '$oid'; "
    . "UPDATE mcp_clients SET expires_at = strftime('%s','now') - 5 WHERE client_id = '$idle->{client_id}'; "
    . "INSERT INTO mcp_revocations (kind, value, created_at, expires_at) VALUES "
    . "('jti', 'sweep-test', strftime('%s','now') - 100, strftime('%s','now') - 5); "
    . "COMMIT;");

# What must stay: the same things, alive.
my $live = $as->register(client_name => 'Sweep: live things');
my $lt = $as->tokens('alice', $live, scope => 'mcp offline_access');
my $lcode = $as->authorize('alice', $live, scope => 'mcp');

my $gone = wait_until(sub {
    count("SELECT (SELECT count(*) FROM mcp_auth_codes WHERE client_id = '$oid') "
          . "+ (SELECT count(*) FROM mcp_refresh_tokens WHERE client_id = '$oid') "
          . "+ (SELECT count(*) FROM mcp_consents WHERE client_id = '$oid') "
          . "+ (SELECT count(*) FROM mcp_clients WHERE client_id = '$idle->{client_id}') "
          . "+ (SELECT count(*) FROM mcp_revocations WHERE value = 'sweep-test')") == 0
}, 75, 1);
ok($gone, 'within one sweep interval every expired row is gone');
is(count("SELECT count(*) FROM mcp_auth_codes WHERE client_id = '$oid'"), 0, 'expired codes: gone');
is(count("SELECT count(*) FROM mcp_refresh_tokens WHERE client_id = '$oid'"), 0,
   'expired and revoked refresh tokens: gone');
is(count("SELECT count(*) FROM mcp_consents WHERE client_id = '$oid'"), 0, 'the expired consent: gone');
is(count("SELECT count(*) FROM mcp_clients WHERE client_id = '$idle->{client_id}'"), 0,
   'the idle client: gone');
is(count("SELECT count(*) FROM mcp_revocations WHERE value = 'sweep-test'"), 0, 'the expired revocation: gone');
ok(wait_until(sub { log_has(qr/\[mcp_authz:info\].*MCP00863: expiry sweep of the store of .*: \d+ codes, \d+ refresh tokens, \d+ consents, \d+ clients, \d+ revocations, \d+ pending authorizations removed/, $mark) }, 5),
   'the sweep logged what it removed, in the main error_log');

ok(count("SELECT count(*) FROM mcp_auth_codes WHERE client_id = '$live->{client_id}'") >= 2,
   'live codes stay');
is(count("SELECT count(*) FROM mcp_refresh_tokens WHERE client_id = '$live->{client_id}'"), 1,
   'a live refresh token stays');
is(($as->refresh($live, $lt->{refresh_token}))[0]->code, 200, '... and works');
is($as->bearer_get('/mcp', $lt->{access_token})->code, 200, 'a live access token works');

MCPTest::OAuth::check_error_log($mark);

done_testing();
