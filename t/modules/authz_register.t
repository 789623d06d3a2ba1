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

# mod_mcp_authz: dynamic client registration (RFC 7591, checklist A2.4,
# A2.5, A3.3): what real clients send (F2, F3), every refusal, the three
# MCPAuthzRegistration policies, the rate limit and the idle expiry of
# registered clients.

use strict;
use warnings FATAL => 'all';

use FindBin;
use lib "$FindBin::Bin/../lib";

use Apache::Test qw(-withtestmore);
use MCPTest qw(error_log_mark unexpected_errors sql);
use MCPTest::OAuth ();

my $mark = error_log_mark();
my $as = MCPTest::OAuth->new('mcp_as');
my $json = $MCPTest::OAuth::JSON;

sub json_of { MCPTest::OAuth::json(shift) || {} }

sub client_row {
    my $id = shift;
    (my $q = $id) =~ s/'/''/g;
    return sql("SELECT kind, token_endpoint_auth_method, grant_types, "
               . "coalesce(scope,''), expires_at, secret_hash IS NOT NULL "
               . "FROM mcp_clients WHERE client_id = '$q'");
}

# --- what real clients send -----------------------------------------------------

# mcp-remote 0.15.1 (F2): public, loopback on a fixed port.
my %mcp_remote = (
    redirect_uris => [ 'http://localhost:3334/oauth/callback' ],
    token_endpoint_auth_method => 'none',
    grant_types => [ 'authorization_code', 'refresh_token' ],
    response_types => [ 'code' ],
    client_name => 'MCP CLI Proxy',
    client_uri => 'https://github.com/modelcontextprotocol/mcp-cli',
    software_id => '2e6dc280-f3c3-4e01-99a7-8181dbd1d23d',
    software_version => '0.15.1',
);
# Cursor (F3): three redirect URIs at once, one a private-use scheme (A3.3).
my %cursor = (
    client_name => 'Cursor',
    redirect_uris => [ 'cursor://anysphere.cursor-mcp/oauth/callback',
                       'https://www.cursor.com/agents/mcp/oauth/callback',
                       'http://localhost:8787/callback' ],
    grant_types => [ 'authorization_code', 'refresh_token' ],
    response_types => [ 'code' ],
    token_endpoint_auth_method => 'none',
);
# VS Code (F3): https and loopback URIs, native, with the scope it asks for.
my %vscode = (
    client_name => 'Visual Studio Code',
    client_uri => 'https://code.visualstudio.com',
    grant_types => [ 'authorization_code', 'refresh_token' ],
    response_types => [ 'code' ],
    redirect_uris => [ 'https://insiders.vscode.dev/redirect', 'https://vscode.dev/redirect',
                       'http://127.0.0.1/', 'http://127.0.0.1:33418/' ],
    scope => 'mcp',
    token_endpoint_auth_method => 'none',
    application_type => 'native',
);

for my $case ([ 'mcp-remote', \%mcp_remote ], [ 'Cursor', \%cursor ],
              [ 'VS Code', \%vscode ]) {
    my ($name, $body) = @$case;
    my ($res, $doc) = $as->register_raw($body);
    is($res->code, 201, "A2.4 $name: 201") or diag $res->content;
    like($res->header('Content-Type') // '', qr{^application/json}, "$name: JSON");
    is($res->header('Cache-Control'), 'no-store', "$name: Cache-Control no-store");
    is($res->header('Access-Control-Allow-Origin'), '*', "A1.7 $name: CORS *");
    $doc ||= {};
    like($doc->{client_id} // '', qr/^[\w-]{16,}$/, "$name: a client_id");
    like($doc->{client_id_issued_at} // '', qr/^\d+$/, "$name: client_id_issued_at");
    ok(abs(($doc->{client_id_issued_at} // 0) - time) < 30, "$name: issued now");
    ok(!exists $doc->{client_secret}, "A2.4 $name: a public client gets no secret");
    for my $k (qw(client_name redirect_uris grant_types response_types
                  token_endpoint_auth_method client_uri software_id software_version scope)) {
        next unless exists $body->{$k};
        is_deeply($doc->{$k}, $body->{$k}, "A2.4 $name: $k echoed");
    }
    is($doc->{application_type}, 'native', "A2.5 $name: application_type native");
    my $row = client_row($doc->{client_id} // '-');
    like($row, qr/^dcr\|none\|authorization_code refresh_token\|/, "$name: stored as a public dcr client");
    $row =~ /\|(\d+)\|0$/;
    ok(defined $1 && abs($1 - time - 30 * 86400) < 30,
       "$name: expires after the default client-idle of 30 days");
}

# A confidential client gets a secret; the store keeps only its hash.
for my $method ('client_secret_basic', 'client_secret_post', undef) {
    my %body = (client_name => 'confidential', redirect_uris => [ 'https://app.example/cb' ]);
    $body{token_endpoint_auth_method} = $method if $method;
    my ($res, $doc) = $as->register_raw(\%body);
    my $name = $method // 'no method (client_secret_basic)';
    is($res->code, 201, "A2.4 confidential $name: 201") or diag $res->content;
    $doc ||= {};
    like($doc->{client_secret} // '', qr/^[A-Za-z0-9_-]{43}$/,
         "A2.4 confidential $name: a client_secret");
    is($doc->{client_secret_expires_at}, 0, "A2.4 confidential $name: client_secret_expires_at 0");
    is($doc->{token_endpoint_auth_method}, $method // 'client_secret_basic',
       "confidential $name: its method");
    is($doc->{application_type}, 'web', "confidential $name: application_type web");
    my $row = client_row($doc->{client_id} // '-');
    like($row, qr/\|1$/, "confidential $name: a secret hash is stored");
    my $stored = sql("SELECT secret_hash FROM mcp_clients WHERE client_id = '"
                     . ($doc->{client_id} // '-') . "'");
    ok(index($stored, $doc->{client_secret} // '-') < 0,
       "A4.6 confidential $name: the secret itself is not stored");
}

# The server keeps only the scopes it knows (RFC 7591 §2).
my ($res, $doc) = $as->register_raw({ client_name => 'scopes', redirect_uris => [ $MCPTest::OAuth::REDIRECT ],
                                      token_endpoint_auth_method => 'none',
                                      scope => 'mcp bogus:scope offline_access' });
is($res->code, 201, 'unknown scopes: still registered');
is(($doc || {})->{scope}, 'mcp offline_access', 'unknown scopes: dropped from the echo');
($res, $doc) = $as->register_raw({ client_name => 'scopes', redirect_uris => [ $MCPTest::OAuth::REDIRECT ],
                                   token_endpoint_auth_method => 'none', scope => 'bogus' });
is($res->code, 201, 'only unknown scopes: registered');
ok(!exists(($doc || {})->{scope}), 'only unknown scopes: no scope in the echo');

# --- refusals -------------------------------------------------------------------

my @bad = (
    [ 'no redirect_uris', { client_name => 'x' }, 'invalid_redirect_uri' ],
    [ 'empty redirect_uris', { redirect_uris => [] }, 'invalid_redirect_uri' ],
    [ 'redirect_uris a string', { redirect_uris => 'https://a.example/cb' }, 'invalid_redirect_uri' ],
    [ 'http to a remote host', { redirect_uris => [ 'http://evil.example/cb' ] }, 'invalid_redirect_uri' ],
    [ 'javascript: scheme', { redirect_uris => [ 'javascript:alert(1)' ],
                              token_endpoint_auth_method => 'none' }, 'invalid_redirect_uri' ],
    [ 'data: scheme', { redirect_uris => [ 'data:text/html,<script>x</script>' ],
                        token_endpoint_auth_method => 'none' }, 'invalid_redirect_uri' ],
    [ 'a fragment', { redirect_uris => [ 'https://a.example/cb#frag' ] }, 'invalid_redirect_uri' ],
    [ 'a relative URI', { redirect_uris => [ '/cb' ] }, 'invalid_redirect_uri' ],
    [ 'user info', { redirect_uris => [ 'https://user:pw@a.example/cb' ] }, 'invalid_redirect_uri' ],
    [ 'A3.3 private-use scheme for a confidential client',
      { redirect_uris => [ 'cursor://x/cb' ], token_endpoint_auth_method => 'client_secret_basic' },
      'invalid_redirect_uri' ],
    [ 'A2.5 web client with a loopback URI',
      { redirect_uris => [ 'http://127.0.0.1:9/cb' ], application_type => 'web',
        token_endpoint_auth_method => 'none' }, 'invalid_redirect_uri' ],
    [ '17 redirect URIs', { redirect_uris => [ map { "https://a.example/cb$_" } 1 .. 17 ] },
      'invalid_redirect_uri' ],
    [ 'a redirect URI not a string', { redirect_uris => [ 42 ] }, 'invalid_redirect_uri' ],
    [ 'implicit grant', { redirect_uris => [ 'https://a.example/cb' ], grant_types => [ 'implicit' ] },
      'invalid_client_metadata' ],
    [ 'no authorization_code grant', { redirect_uris => [ 'https://a.example/cb' ],
                                       grant_types => [ 'refresh_token' ] }, 'invalid_client_metadata' ],
    [ 'client_credentials grant', { redirect_uris => [ 'https://a.example/cb' ],
                                    grant_types => [ 'authorization_code', 'client_credentials' ] },
      'invalid_client_metadata' ],
    [ 'response_type token', { redirect_uris => [ 'https://a.example/cb' ], response_types => [ 'token' ] },
      'invalid_client_metadata' ],
    [ 'private_key_jwt', { redirect_uris => [ 'https://a.example/cb' ],
                           token_endpoint_auth_method => 'private_key_jwt' }, 'invalid_client_metadata' ],
    [ 'application_type desktop', { redirect_uris => [ 'https://a.example/cb' ],
                                    application_type => 'desktop' }, 'invalid_client_metadata' ],
    [ 'client_name a number', { redirect_uris => [ 'https://a.example/cb' ], client_name => 7 },
      'invalid_client_metadata' ],
    [ 'client_name empty', { redirect_uris => [ 'https://a.example/cb' ], client_name => '' },
      'invalid_client_metadata' ],
    [ 'client_name with a control character', { redirect_uris => [ 'https://a.example/cb' ],
                                                client_name => "a\x01b" }, 'invalid_client_metadata' ],
    [ 'logo_uri over http', { redirect_uris => [ 'https://a.example/cb' ],
                              logo_uri => 'http://evil.example/logo.png' }, 'invalid_client_metadata' ],
    [ 'client_uri javascript:', { redirect_uris => [ 'https://a.example/cb' ],
                                  client_uri => 'javascript:alert(1)' }, 'invalid_client_metadata' ],
    [ 'a malformed scope', { redirect_uris => [ 'https://a.example/cb' ], scope => "a\"b" },
      'invalid_client_metadata' ],
);
for my $case (@bad) {
    my ($name, $body, $error) = @$case;
    my ($r, $d) = $as->register_raw($body);
    is($r->code, 400, "A2.4 $name: 400") or diag $r->content;
    is(($d || {})->{error}, $error, "A2.4 $name: $error");
    ok(length(($d || {})->{error_description} // ''), "$name: says why");
    ok(!exists(($d || {})->{client_id}), "$name: nothing registered");
}

my $before = sql('SELECT count(*) FROM mcp_clients');
for my $case ([ 'not JSON', 'application/json', '{"redirect_uris": [' ],
              [ 'a JSON array', 'application/json', '[]' ],
              [ 'a JSON string', 'application/json', '"x"' ],
              [ 'form-encoded', 'application/x-www-form-urlencoded', 'redirect_uris=https://a.example/cb' ],
              [ 'no Content-Type', undef, '{}' ],
              [ 'nested 20 deep', 'application/json',
                '{"redirect_uris":["https://a.example/cb"],"x":' . ('[' x 20) . (']' x 20) . '}' ]) {
    my ($name, $type, $body) = @$case;
    my $r = $as->request(POST => 'register', [ defined $type ? ('Content-Type' => $type) : () ], $body);
    is($r->code, 400, "$name: 400") or diag $r->content;
    is(json_of($r)->{error}, 'invalid_client_metadata', "$name: invalid_client_metadata");
}
my $huge = $json->encode({ redirect_uris => [ 'https://a.example/cb' ], client_name => 'x' x (64 * 1024) });
my $r = $as->request(POST => 'register', [ 'Content-Type' => 'application/json' ], $huge);
ok($r->code == 413 || $r->code == 400, 'a 64 KB body: 413 or 400') or diag $r->status_line;
is(json_of($r)->{error}, 'invalid_client_metadata', 'a 64 KB body: invalid_client_metadata');
# The same without Content-Length (chunked): the limit holds while reading.
$r = MCPTest::raw_http('127.0.0.1:' . $as->port,
    "POST /oauth/register HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
    . "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    . sprintf('%x', length $huge) . "\r\n$huge\r\n0\r\n\r\n");
like($r, qr{^HTTP/1\.1 (?:413|400) }, 'a 64 KB chunked body: 413 or 400');
is(sql('SELECT count(*) FROM mcp_clients'), $before, 'none of these registered anything');

$r = $as->get('register');
is($r->code, 405, 'GET register: 405');
like($r->header('Allow') // '', qr/\bPOST\b/, 'GET register: Allow names POST');
$r = $as->request(OPTIONS => 'register', [ Origin => 'http://localhost:6274',
                                          'Access-Control-Request-Method' => 'POST',
                                          'Access-Control-Request-Headers' => 'content-type' ]);
is($r->code, 204, 'A1.7 register preflight: 204');
is($r->header('Access-Control-Allow-Origin'), '*', 'A1.7 register preflight: any origin');
like($r->header('Access-Control-Allow-Methods') // '', qr/\bPOST\b/, 'register preflight: POST');
like($r->header('Access-Control-Allow-Headers') // '', qr/\bContent-Type\b/i,
     'register preflight: Content-Type');

# --- MCPAuthzRegistration off / token -------------------------------------------

my $closed = MCPTest::OAuth->new('mcp_as_closed');
$r = $closed->post_json('register', \%mcp_remote);
is($r->code, 404, 'MCPAuthzRegistration off: the endpoint does not exist (404)');
ok(!json_of($r)->{client_id}, 'MCPAuthzRegistration off: nothing registered');

my $tok = MCPTest::OAuth->new('mcp_as_token');
my $itoken = $MCPTest::REGISTRATION_TOKEN;
for my $case ([ 'without a token', [] ],
              [ 'with a wrong token', [ Authorization => 'Bearer wrong-token-0123456789abcdef' ] ],
              [ 'with the token cut short', [ Authorization => 'Bearer ' . substr($itoken, 0, -1) ] ],
              [ 'with the token and more', [ Authorization => "Bearer ${itoken}x" ] ],
              [ 'with the token as Basic', [ Authorization => 'Basic '
                    . MIME::Base64::encode_base64("x:$itoken", '') ] ]) {
    my ($name, $h) = @$case;
    my $n = sql('SELECT count(*) FROM mcp_clients');
    $r = $tok->post_json('register', \%mcp_remote, @$h);
    is($r->code, 401, "MCPAuthzRegistration token, $name: 401");
    like($r->header('WWW-Authenticate') // '', qr/^Bearer .*error="invalid_token"/,
         "$name: a Bearer challenge");
    is(json_of($r)->{error}, 'invalid_token', "$name: invalid_token");
    is(sql('SELECT count(*) FROM mcp_clients'), $n, "$name: nothing registered");
}
$r = $tok->post_json('register', \%mcp_remote, Authorization => "Bearer $itoken");
is($r->code, 201, 'MCPAuthzRegistration token, with the initial access token: 201')
    or diag $r->content;
ok(json_of($r)->{client_id}, 'with the initial access token: a client_id');
$r = $tok->post_json('register', \%mcp_remote, Authorization => "bearer $itoken");
is($r->code, 201, 'the scheme is case-insensitive');

# --- the rate limit ------------------------------------------------------------

# MCPAuthzRegistrationRate 3 60 counts per 60-second window: start early
# in one so that the requests below share it.
my $rate = MCPTest::OAuth->new('mcp_as_rate');
sleep 61 - time % 60 if time % 60 > 50;
my @codes;
for my $i (1 .. 2) {
    push @codes, $rate->post_json('register', \%mcp_remote)->code;
}
# Registrations at another server (its own, higher limit) are not this
# server's.
for my $i (1 .. 3) {
    $tok->post_json('register', \%mcp_remote, Authorization => "Bearer $itoken");
}
push @codes, $rate->post_json('register', \%mcp_remote)->code;
is_deeply(\@codes, [ 201, 201, 201 ], 'three registrations within the limit: 201, '
          . 'whatever another virtual host registered');
$r = $rate->post_json('register', \%mcp_remote);
is($r->code, 429, 'the fourth in the window: 429');
like($r->header('Retry-After') // '', qr/^\d+$/, '429: Retry-After');
ok(($r->header('Retry-After') // 0) >= 1 && ($r->header('Retry-After') // 99) <= 60,
   '429: Retry-After within the window');
is(json_of($r)->{error}, 'temporarily_unavailable', '429: an OAuth error body');
$r = $as->post_json('register', \%mcp_remote);
is($r->code, 201, 'a server without a limit still registers from the same address');

# --- idle expiry ----------------------------------------------------------------

# MCPAuthzLifetime client-idle 3600 (its minimum): a registered client
# unused for that long is gone; its tokens with it.
my $short = MCPTest::OAuth->new('mcp_as_short');
my $client = $short->register;
my $id = $client->{client_id};
my ($exp) = sql("SELECT expires_at FROM mcp_clients WHERE client_id = '$id'") =~ /(\d+)/;
ok(abs($exp - time - 3600) < 30, 'client-idle 3600: the registration expires in an hour');
my $t = $short->tokens('alice', $client, scope => 'mcp offline_access');
ok($t->{refresh_token}, 'a refresh token for the client');
is(sql("UPDATE mcp_clients SET expires_at = 1000 WHERE client_id = '$id'; SELECT changes();"), "1\n",
   'the registration aged through the store');
my ($tres, $tdoc) = $short->refresh($client, $t->{refresh_token});
is($tres->code, 401, 'an expired registration at /token: 401');
is(($tdoc || {})->{error}, 'invalid_client', 'an expired registration: invalid_client');
my $a = $short->authorize('alice', $client, scope => 'mcp');
is($a->{res}->code, 400, 'an expired registration at /authorize: an error page (400)');
ok(!$a->{res}->header('Location'), 'an expired registration: no redirect');

# A client in use stays registered: every token request moves its expiry.
$client = $short->register;
$id = $client->{client_id};
sql("UPDATE mcp_clients SET expires_at = strftime('%s','now') + 100 WHERE client_id = '$id'");
$t = $short->tokens('alice', $client, scope => 'mcp');
($exp) = sql("SELECT expires_at FROM mcp_clients WHERE client_id = '$id'") =~ /(\d+)/;
ok(abs($exp - time - 3600) < 30, 'a token request renews the registration for client-idle');

MCPTest::OAuth::check_error_log($mark);

done_testing();
