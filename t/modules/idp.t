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

# mod_mcp_idp: startup, vault keys and providers, and the checks of its
# directives.

use strict;
use warnings FATAL => 'all';

use FindBin;
use lib "$FindBin::Bin/../lib";

use Apache::Test qw(-withtestmore);
use MIME::Base64 ();

use MCPTest qw(httpd_run error_log_mark unexpected_errors mcp_version
               log_has state_dir make_file key_file_perm_tests);

my $mark = error_log_mark();
my $version = mcp_version();
my $state = state_dir();
my $db = "$state/mcp.db";
my $provider = 'MCPIdPProvider gh authorize=https://gh.example/authorize '
             . 'token=https://gh.example/token client_id=abc';
my $store = "DBDriver sqlite3\nDBDParams \"$db\"\n";

ok(log_has(qr/\[mcp_idp:notice\].*MCP00701: mod_mcp_idp \Q$version\E configured/),
   'startup line with the version');
ok(!log_has(qr/MCP01150: MCPIdPVaultKey/),
   'the suite\'s own vault keys (0600) draw no permission warning');

# --- the module alone -------------------------------------------------------

# Key files in the text forms openssl writes load as well.
make_file("$state/vault-b64.key", MIME::Base64::encode_base64('b' x 32), 0600);
make_file("$state/vault-hex.key", unpack('H*', 'h' x 32) . "\n", 0600);

my $run = httpd_run(name => 'idp-alone', modules => ['idp'], dbd => 0,
                    config => "MCPIdPVaultKey \"$state/vault1.key\"\n");
ok($run->{started}, 'mod_mcp_idp loads alone (no providers, no mod_dbd)')
    or diag $run->{log};
like($run->{log}, qr/MCP00701: mod_mcp_idp \Q$version\E configured/,
     'alone: startup line');

$run = httpd_run(name => 'idp-providers', modules => ['idp'],
    config => $store
            . "MCPIdPVaultKey \"$state/vault1.key\" id=new\n"
            . "MCPIdPVaultKey \"$state/vault2.key\" id=old\n"
            . "MCPIdPVaultKey \"$state/vault-b64.key\"\n"
            . "MCPIdPVaultKey \"$state/vault-hex.key\"\n"
            . "$provider secret_file=\"$state/provider.secret\" scope=\"repo read:org\" auth=post\n"
            . "MCPIdPProvider local authorize=http://127.0.0.1:9/a token=http://localhost:9/t client_id=x\n"
            . "MCPIdPProvider corp authorize=http://10.1.2.3/a token=http://sso.corp/t client_id=x internal=on pkce=off params=\"prompt=consent&access_type=offline\" header=X-Api-Key prefix=\"\" revoke=http://sso.corp/r\n"
            . "MCPIdPProvider disc issuer=https://id.example/tenant client_id=x\n"
            . "MCPIdPProvider notes mode=personal header=X-Notes-Token prefix=\"Token \"\n"
            . "MCPIdPLinkBase /links/\n");
ok($run->{started}, 'providers with vault keys and mod_dbd (every option, '
   . 'issuer=, internal=on with http, mode=personal, MCPIdPLinkBase): starts')
    or diag $run->{log};
unlike($run->{log}, qr/\[mcp_idp:(?:error|crit|alert|emerg)\]/,
       'providers: no errors logged (store schema accepted)');

# Providers keep their tokens in the store: an uninitialized one stops
# httpd, naming the fix.
my $empty = make_file("$state/idp-empty.db", '', 0666);
chown scalar(getpwnam(Apache::Test::vars('user'))), -1, $empty if $> == 0;
$run = httpd_run(name => 'idp-no-schema', modules => ['idp'], settle => 5,
    config => "DBDriver sqlite3\nDBDParams \"$empty\"\n"
            . "MCPIdPVaultKey \"$state/vault1.key\"\n$provider\n");
ok(!$run->{started}, 'uninitialized store: httpd stops') or diag $run->{log};
like($run->{log}, qr/mod_mcp_idp cannot use its store: .*mcpctl db upgrade/,
     'uninitialized store: names mcpctl db upgrade');

# --- bad values ---------------------------------------------------------------

# Vault keys of the wrong length: 31 and 33 raw bytes, an empty file.
my $short = make_file("$state/short.key", 'k' x 31, 0600);
my $long = make_file("$state/long.key", 'k' x 33, 0600);
my $emptyk = make_file("$state/empty.key", '', 0600);
make_file("$state/blank.secret", " \t\nsecond line\n", 0600);

my @bad = (
    [ 'http-authorize', "$provider\n" =~ s{https://gh.example/authorize}{http://gh.example/authorize}r,
      qr/authorize=.*must use https/ ],
    [ 'bad-token-url', "$provider\n" =~ s{https://gh.example/token}{gh.example/token}r,
      qr/token=.*not an absolute URL/ ],
    # What the HTTP client would refuse at request time, refused here.
    [ 'token-port-99999',
      "$provider\n" =~ s{https://gh.example/token}{https://gh.example:99999/token}r,
      qr/token=.*port is not a number from 1 to 65535/ ],
    [ 'authorize-non-ascii-host',
      "$provider\n" =~ s{https://gh.example/authorize}{https://gh\xc3\xa9.example/authorize}r,
      qr/authorize=.*non-ASCII/ ],
    # The token is named with its bytes escaped (and httpd doubles '\').
    [ 'bad-scope-token', "$provider \"scope=repo caf\xc3\xa9\"",
      qr/scope=.*not a list.*'caf\\+xc3\\+xa9'/ ],
    [ 'missing-client-id', 'MCPIdPProvider gh authorize=https://a/ token=https://a/t',
      qr/needs client_id= and either issuer= or authorize= and token=/ ],
    [ 'missing-token', 'MCPIdPProvider gh authorize=https://a/ client_id=x',
      qr/needs client_id= and either issuer= or authorize= and token=/ ],
    [ 'http-issuer', 'MCPIdPProvider gh issuer=http://id.example client_id=x',
      qr/issuer=.*must use https/ ],
    [ 'issuer-query', 'MCPIdPProvider gh issuer=https://id.example/?a=1 client_id=x',
      qr/issuer=.*query/ ],
    [ 'http-revoke', "$provider revoke=http://gh.example/revoke",
      qr/revoke=.*must use https/ ],
    [ 'bad-pkce', "$provider pkce=maybe", qr/pkce= must be on or off/ ],
    [ 'bad-auth', "$provider auth=jwt", qr/auth= must be basic or post/ ],
    [ 'personal-with-auth', 'MCPIdPProvider notes mode=personal auth=post',
      qr/mode=personal.*takes none of/ ],
    [ 'bad-internal', "$provider internal=yes", qr/internal= must be on or off/ ],
    [ 'bad-mode', "$provider mode=magic", qr/mode= must be oauth or personal/ ],
    [ 'bad-header', "$provider header=\"X Bad\"", qr/header= 'X Bad' is not an HTTP header name/ ],
    [ 'reserved-param', "$provider params=\"prompt=consent&state=x\"",
      qr/params=: 'state' is set by the gateway itself/ ],
    [ 'bad-param', "$provider params=\"a=%zz\"", qr/params=:/ ],
    [ 'personal-with-oauth', 'MCPIdPProvider notes mode=personal token=https://a/t',
      qr/mode=personal.*takes none of/ ],
    [ 'link-base-relative', "MCPIdPLinkBase oauth/v1", qr/not a plain URL path/,
      'MCPIdPLinkBase' ],
    [ 'link-base-query', "MCPIdPLinkBase /oauth?x", qr/not a plain URL path/,
      'MCPIdPLinkBase' ],
    [ 'unknown-key', "$provider color=blue", qr/unknown option 'color'/ ],
    [ 'not-kv', "$provider verbose", qr/'verbose' is not a key=value option/ ],
    [ 'bad-name', 'MCPIdPProvider g.h authorize=https://a/ token=https://a/t client_id=x',
      qr/provider name/ ],
    [ 'duplicate', "$provider\n$provider", qr/'gh' is defined twice/ ],
    [ 'missing-secret', "$provider secret_file=/nonexistent/secret",
      qr/secret_file=.*nonexistent/ ],
    # Read at startup: a file without a secret on its first line.
    [ 'empty-secret', $store . "MCPIdPVaultKey \"$state/vault1.key\"\n"
                      . "$provider secret_file=\"$state/blank.secret\"",
      qr/secret_file: \Q$state\E\/blank\.secret holds no secret on its first line/ ],
    [ 'bad-scope', "$provider scope=", qr/scope=.*not a list/ ],
    [ 'vault-bad-id', "MCPIdPVaultKey \"$state/vault1.key\" id=a.b",
      qr/key id 'a\.b'/, 'MCPIdPVaultKey' ],
    [ 'vault-bad-option', "MCPIdPVaultKey \"$state/vault1.key\" kid=1",
      qr/unknown option 'kid=1'/, 'MCPIdPVaultKey' ],
    [ 'no-vault-key', $store . $provider,
      qr/no MCPIdPVaultKey is set/, 'MCPIdPProvider' ],
    [ 'vault-missing-file', "MCPIdPVaultKey /nonexistent/vault.key",
      qr{/nonexistent/vault\.key}, 'MCPIdPVaultKey' ],
    [ 'vault-short', "MCPIdPVaultKey \"$short\"", qr/\Q$short\E/, 'MCPIdPVaultKey' ],
    [ 'vault-long', "MCPIdPVaultKey \"$long\"", qr/\Q$long\E/, 'MCPIdPVaultKey' ],
    [ 'vault-empty', "MCPIdPVaultKey \"$emptyk\"", qr/\Q$emptyk\E/, 'MCPIdPVaultKey' ],
    [ 'vault-dup-id', "MCPIdPVaultKey \"$state/vault1.key\" id=k\n"
                    . "MCPIdPVaultKey \"$state/vault2.key\" id=k",
      qr/vault2\.key/, 'MCPIdPVaultKey' ],
    [ 'vault-second-bad', "MCPIdPVaultKey \"$state/vault1.key\"\n"
                        . "MCPIdPVaultKey \"$short\"", qr/\Q$short\E/, 'MCPIdPVaultKey' ],
);
for my $case (@bad) {
    my ($name, $lines, $re, $directive) = @$case;
    $directive //= 'MCPIdPProvider';
    my $r = httpd_run(name => "idp-$name", modules => ['idp'], config => $lines);
    ok(!$r->{started} && $r->{exit}, "$name: httpd refuses to start")
        or diag $r->{log};
    like($r->{log}, qr/\Q$directive\E.*$re|$re.*\Q$directive\E/,
         "$name: message names $directive") or diag $r->{log};
}

$run = httpd_run(name => 'idp-no-dbd', modules => ['idp'], dbd => 0,
    config => "MCPIdPVaultKey \"$state/vault1.key\"\n$provider\n");
ok(!$run->{started} && $run->{exit}, 'providers without mod_dbd: refused')
    or diag $run->{log};
like($run->{log}, qr/mod_mcp_idp needs mod_dbd: a2enmod dbd and set DBDriver\/DBDParams/,
     'missing mod_dbd: says what to do');

# --- key files others may read: a warning, httpd still starts -------------

key_file_perm_tests(
    module    => 'idp',
    directive => 'MCPIdPVaultKey',
    # Base64 text, so the test can tell that the key is not in the log.
    make      => sub {
        my $b64 = MIME::Base64::encode_base64(MCPTest::random_bytes(32));
        make_file(shift, $b64);
        return $b64;
    },
    config    => sub { "MCPIdPVaultKey \"$_[0]\"\n" },
);

my @errors = unexpected_errors($mark);
is(scalar @errors, 0, 'no unexpected errors in error_log') or diag @errors;

done_testing();
