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

# mod_mcp_authz: the bearer check of protected locations (checklist B2,
# B3, B4): AuthType mcp and Require mcp-scope, the 401 and 403
# challenges, every kind of bad token, the variables a good one sets,
# CORS for browser clients.

use strict;
use warnings FATAL => 'all';

use FindBin;
use lib "$FindBin::Bin/../lib";

use Apache::Test qw(-withtestmore);
use MCPTest qw(error_log_mark unexpected_errors sql state_dir file_mark file_lines
               openssl_key wait_until);
use MCPTest::OAuth ();

my $mark = error_log_mark();
# httpd's mod_authz_core logs every refused Require of an authenticated
# user at error level (AH01631): the 403 insufficient_scope cases do that.
my $AH01631 = qr/AH01631: user \w+: authorization failure for "\/(?:scoped|forbid|anyof|files)":/;
my $as = MCPTest::OAuth->new('mcp_as');
my $iss = $as->issuer;
my $key = state_dir() . '/signing1.pem';
my $kid = $as->kid_of($key);
my $prm = "$iss/.well-known/oauth-protected-resource";

my $client = $as->register(client_name => 'Bearer tests');
my $good = $as->tokens('alice', $client, scope => 'mcp');

# A token signed with the server's key: the claims of a good one for
# /mcp, changed by %over (undef removes a claim).
sub forge {
    my (%over) = @_;
    my $now = time;
    my %h = (alg => 'ES256', typ => 'at+jwt', kid => $kid, %{ delete $over{_header} || {} });
    my %c = (iss => $iss, sub => 'alice', aud => "$iss/mcp", client_id => $client->{client_id},
             jti => 'forged-' . MCPTest::OAuth::b64u(MCPTest::random_bytes(9)), scope => 'mcp',
             iat => $now, exp => $now + 120, %over);
    delete $h{$_} for grep { !defined $h{$_} } keys %h;
    delete $c{$_} for grep { !defined $c{$_} } keys %c;
    return MCPTest::OAuth::sign_es256(\%h, \%c, delete $over{_key} // $key);
}

sub challenge { $_[0]->header('WWW-Authenticate') // '' }

sub is_refused {
    my ($res, $name, $desc) = @_;
    is($res->code, 401, "$name: 401");
    like(challenge($res), qr/^Bearer resource_metadata="\Q$prm\E\/mcp", scope="mcp", error="invalid_token"/,
         "B2.1 $name: invalid_token challenge with resource_metadata and scope");
    like(challenge($res), qr/error_description="[^"]*\Q$desc\E/, "$name: says $desc") if $desc;
    like($res->header('Content-Type') // '', qr{^application/json}, "$name: JSON body");
    is((MCPTest::OAuth::json($res) || {})->{error}, 'invalid_token', "$name: body error invalid_token");
    unlike($res->content, qr/^ok$/m, "$name: the resource is not served");
}

# --- no token, malformed tokens (B2.1, B2.2) ---------------------------------------

my $res = $as->bearer_get('/mcp', undef);
is($res->code, 401, 'B2.1 no token: 401');
is(challenge($res), qq{Bearer resource_metadata="$prm/mcp", scope="mcp"},
   'B1.2/B2.1 no token: the exact challenge');
like($res->header('Content-Type') // '', qr{^application/json}, 'no token: a JSON body');
is((MCPTest::OAuth::json($res) || {})->{error}, 'unauthorized', 'no token: body says so');
$res = $as->bearer_get('/scoped', undef);
is(challenge($res), qq{Bearer resource_metadata="$prm/scoped", scope="tools:write"},
   'B4.3 no token at /scoped: its own metadata and baseline scope');
$res = $as->bearer_get('/anyof', undef);
is(challenge($res), qq{Bearer resource_metadata="$prm/anyof", scope="admin:read tools:write"},
   'no token at /anyof: every scope its Require lines name');
$res = $as->request(GET => '/mcp', [ Authorization => 'Basic ' . MIME::Base64::encode_base64('alice:alice-pw', '') ]);
is($res->code, 401, 'Basic instead of Bearer: 401');
is(challenge($res), qq{Bearer resource_metadata="$prm/mcp", scope="mcp"}, 'Basic instead of Bearer: the Bearer challenge');
$res = $as->request(GET => '/mcp', [ Authorization => 'Bearer' ]);
is($res->code, 401, '"Bearer" without a token: 401');
for my $case ([ 'a token with a space', 'abc def' ], [ 'a token with a quote', 'ab"c' ],
              [ 'a token with a comma', 'a,b' ], [ 'not a JWS', 'abcdef' ],
              [ 'two dots of nothing', '..' ], [ 'a JWS of garbage', 'a.b.c' ],
              [ 'an 8 KB token', 'A' x 8000 ]) {
    my ($name, $tok) = @$case;
    is_refused($as->request(GET => '/mcp', [ Authorization => "Bearer $tok" ]), "B2.1 $name");
}
is($as->request(GET => '/mcp', [ Authorization => 'Bearer ' . ('A' x 20000) ])->code, 400,
   'a header over httpd\'s LimitRequestFieldSize: httpd\'s own 400');
is($as->request(GET => '/mcp', [ Authorization => "bearer $good->{access_token}" ])->code, 200,
   'the scheme is case-insensitive (RFC 6750 §2.1)');
is($as->bearer_get('/mcp', $good->{access_token})->code, 200, 'the good token: 200');
is($as->bearer_get('/mcp', $good->{access_token})->content, "ok\n", 'the good token: the resource');

for my $q ("access_token=$good->{access_token}", "x=1&access_token=$good->{access_token}") {
    $res = $as->request(GET => "/mcp?$q", []);
    is($res->code, 400, "B2.2 a token in the query string ($q): 400");
    is((MCPTest::OAuth::json($res) || {})->{error}, 'invalid_request', 'B2.2 ... invalid_request');
    like(challenge($res), qr/error="invalid_request"/, 'B2.2 ... in the challenge too');
}
$res = $as->bearer_get("/mcp?access_token=$good->{access_token}", $good->{access_token});
is($res->code, 400, 'B2.2 a token in the query string and the header: 400');

# --- forged and tampered tokens (B3.1, B3.3) ------------------------------------------

is($as->bearer_get('/mcp', forge())->code, 200, 'a token the test signs like the server: 200 (the forgeries below are exact)');

my ($h, $c, $sig) = MCPTest::OAuth::jwt_parts($good->{access_token});
my ($hp, $cp, $sp) = split /\./, $good->{access_token};
my $none = MCPTest::OAuth::encode_part({ alg => 'none', typ => 'at+jwt' }) . ".$cp.";
is_refused($as->bearer_get('/mcp', $none), 'alg none');
is_refused($as->bearer_get('/mcp', MCPTest::OAuth::encode_part({ %$h, alg => 'none' }) . ".$cp.$sp"),
           'alg none with the old signature');
my $jwk = MCPTest::OAuth::json($as->get('jwks'))->{keys}[0];
my $jwk_text = $MCPTest::OAuth::JSON->encode($jwk);
my $pub_pem = `openssl pkey -in '$key' -pubout 2>/dev/null`;
for my $hk ([ 'the JWK', $jwk_text ], [ 'the public PEM', $pub_pem ], [ 'x of the key', $jwk->{x} ]) {
    my $hs = MCPTest::OAuth::sign_hs256({ alg => 'HS256', typ => 'at+jwt', kid => $kid }, $c, $hk->[1]);
    is_refused($as->bearer_get('/mcp', $hs), "HS256 keyed with $hk->[0] (algorithm confusion)");
}
my $stranger = state_dir() . '/stranger.pem';
openssl_key($stranger, '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256');
is_refused($as->bearer_get('/mcp', forge(_key => $stranger)), 'signed by an unknown key with the server\'s kid');
is_refused($as->bearer_get('/mcp', forge(_key => $stranger, _header => { kid => 'stranger' })),
           'signed by an unknown key with its own kid');
is_refused($as->bearer_get('/mcp', forge(_header => { kid => 'no-such-kid' })), 'an unknown kid');
my $tampered = "$hp." . MCPTest::OAuth::encode_part({ %$c, scope => 'mcp tools:write' }) . ".$sp";
is_refused($as->bearer_get('/mcp', $tampered), 'a tampered payload (scope widened)');
$tampered = "$hp." . MCPTest::OAuth::encode_part({ %$c, sub => 'bob' }) . ".$sp";
is_refused($as->bearer_get('/mcp', $tampered), 'a tampered payload (another subject)');
$tampered = MCPTest::OAuth::encode_part({ %$h, kid => 'x' }) . ".$cp.$sp";
is_refused($as->bearer_get('/mcp', $tampered), 'a tampered header');
my $twin = MCPTest::OAuth::high_s_twin($good->{access_token});
ok(MCPTest::OAuth::s_is_high($twin) && !MCPTest::OAuth::s_is_high($good->{access_token}),
   'the twin has the high S of the pair');
is_refused($as->bearer_get('/mcp', $twin), 'the high-S twin of a valid signature');
is($as->bearer_get('/mcp', $good->{access_token})->code, 200, '... while the original still works');
is_refused($as->bearer_get('/mcp', "$hp.$cp." . MCPTest::OAuth::b64u(substr($sig, 0, 63))),
           'a truncated signature');
is_refused($as->bearer_get('/mcp', "$hp.$cp." . MCPTest::OAuth::b64u(("\0" x 32) . substr($sig, 32))),
           'R = 0');

# Claims, with the server's own key (B3.1, B3.2).
my $now = time;
my @claims = (
    [ 'expired 60 s ago (beyond the 30 s leeway)', { exp => $now - 60, iat => $now - 200 }, 'expired' ],
    [ 'not before a minute from now', { nbf => $now + 60 }, undef ],
    [ 'issued a minute from now', { iat => $now + 60 }, undef ],
    [ 'another issuer', { iss => 'http://127.0.0.1:1' }, undef ],
    [ 'the issuer with a trailing slash', { iss => "$iss/" }, undef ],
    [ 'no issuer', { iss => undef }, undef ],
    [ 'B3.2 another audience', { aud => "$iss/other" }, undef ],
    [ 'B3.2 the audience with a trailing slash', { aud => "$iss/mcp/" }, undef ],
    [ 'B3.2 no audience', { aud => undef }, undef ],
    [ 'B3.2 an empty audience list', { aud => [] }, undef ],
    [ 'no subject', { sub => undef }, undef ],
    [ 'an empty subject', { sub => '' }, undef ],
    [ 'no client_id', { client_id => undef }, undef ],
    [ 'no jti', { jti => undef }, undef ],
    [ 'no exp', { exp => undef }, undef ],
    [ 'exp a string', { exp => "$now" }, undef ],
    [ 'scope not a string', { scope => [ 'mcp' ] }, undef ],
    [ 'typ JWT', { _header => { typ => 'JWT' } }, undef ],
    [ 'no typ', { _header => { typ => undef } }, undef ],
    [ 'alg ES384 in the header', { _header => { alg => 'ES384' } }, undef ],
);
for my $case (@claims) {
    my ($name, $over, $desc) = @$case;
    is_refused($as->bearer_get('/mcp', forge(%$over)), "B3.1 $name", $desc);
}
for my $case ([ 'expired 5 s ago (within the leeway)', { exp => $now - 5, iat => $now - 100 } ],
              [ 'not before 10 s from now (within the leeway)', { nbf => $now + 10 } ],
              [ 'issued 10 s from now (within the leeway)', { iat => $now + 10 } ],
              [ 'B3.2 an audience list with this resource', { aud => [ "$iss/other", "$iss/mcp" ] } ],
              [ 'typ application/at+jwt', { _header => { typ => 'application/at+jwt' } } ]) {
    my ($name, $over) = @$case;
    is($as->bearer_get('/mcp', forge(%$over))->code, 200, "$name: 200");
}

# Real tokens of the wrong place.
my $for_other = $as->tokens('alice', $client, scope => 'mcp', resource => "$iss/other");
is($as->bearer_get('/other', $for_other->{access_token})->code, 200, 'a token for /other works there');
is_refused($as->bearer_get('/mcp', $for_other->{access_token}), 'B3.2 a token for /other at /mcp',
           'not meant for this resource');
my $tenant = MCPTest::OAuth->new('mcp_as_path', path => '/tenant');
my $tt = $tenant->tokens('alice', $tenant->register, scope => 'mcp');
is_refused($as->bearer_get('/mcp', $tt->{access_token}), 'B3.3 a token of another issuer (same key)');
my $tforged = forge(iss => $tenant->issuer);
is_refused($as->bearer_get('/mcp', $tforged), 'B3.3 another issuer, everything else right');
# The path issuer's /tenant/shared has the resource URL of this /mcp:
# the audience of this server's tokens fits there, the issuer does not,
# also once a token is in the verified-token cache of every child (each
# request a new connection).
my @codes = map { $as->bearer_get('/mcp', $good->{access_token})->code } 1 .. 12;
is_deeply(\@codes, [ (200) x 12 ], 'a token works at /mcp (and is cached)');
@codes = map { $tenant->bearer_get('/tenant/shared', $good->{access_token})->code } 1 .. 12;
is_deeply(\@codes, [ (401) x 12 ], 'B3.3 at another issuer\'s location for the same resource URL: '
          . 'refused, cached or not');

# --- Require mcp-scope and insufficient_scope (B3.4, B4) ---------------------------

sub scoped_token {
    my ($resource, $scope, $user) = @_;
    return $as->tokens($user // 'alice', $client, scope => $scope, resource => "$iss/$resource",
                       prompt => 'consent')->{access_token};
}

my $weak = scoped_token('scoped', 'mcp tools:read');
for my $loc ('scoped', 'forbid') {
    my $tok = $loc eq 'scoped' ? $weak : scoped_token('forbid', 'mcp tools:read');
    $res = $as->bearer_get("/$loc", $tok);
    my $how = $loc eq 'forbid' ? 'with AuthzSendForbiddenOnFailure' : 'without AuthzSendForbiddenOnFailure';
    is($res->code, 403, "B4.1 insufficient scope $how: 403");
    is(challenge($res), qq{Bearer resource_metadata="$prm/$loc", scope="mcp tools:read tools:write", }
                        . q{error="insufficient_scope", error_description="the token lacks a scope this request needs"},
       "B4.1/B4.2 $how: the exact challenge, scope = granted + needed");
    is((MCPTest::OAuth::json($res) || {})->{error}, 'insufficient_scope', "$how: a JSON body");
    unlike($res->content, qr/^ok$/m, "$how: not served");
}
is($as->bearer_get('/scoped', scoped_token('scoped', 'tools:write'))->code, 200,
   'the needed scope: 200');

is($as->bearer_get('/files', scoped_token('files', 'files:*'))->code, 200,
   'B3.4 a granted files:* covers Require mcp-scope files:read');
is($as->bearer_get('/files', scoped_token('files', 'files:read'))->code, 200, 'files:read itself: 200');
$res = $as->bearer_get('/files', scoped_token('files', 'mcp'));
is($res->code, 403, 'neither: 403');
like(challenge($res), qr/scope="files:read mcp"/, 'neither: scope = granted + files:read');

is($as->bearer_get('/anyof', scoped_token('anyof', 'tools:write'))->code, 200,
   'RequireAny: the first scope alone: 200');
is($as->bearer_get('/anyof', scoped_token('anyof', 'admin:read'))->code, 200,
   'RequireAny: the second scope alone: 200');
$res = $as->bearer_get('/anyof', scoped_token('anyof', 'mcp'));
is($res->code, 403, 'RequireAny: neither: 403');
like(challenge($res), qr/scope="admin:read mcp tools:write", error="insufficient_scope"/,
     'RequireAny: neither: the union of what either line needs');
# bob may not be granted tools:write or admin:read: he only ever gets mcp.
$res = $as->bearer_get('/anyof', scoped_token('anyof', 'mcp tools:write', 'bob'));
is($res->code, 403, 'bob asked for tools:write but got only mcp: 403');

# --- what a good token sets --------------------------------------------------------

my $lmark = file_mark('mcp_as_env_log');
my (undef, $gc) = MCPTest::OAuth::jwt_parts($good->{access_token});
is($as->bearer_get('/mcp', $good->{access_token})->code, 200, 'a request to log');
my ($line) = wait_until(sub { (grep { m{\|/mcp\|200$} } file_lines('mcp_as_env_log', $lmark))[0] }, 5);
is($line, "$client->{client_id}|mcp|alice|$gc->{jti}|/mcp|200",
   'MCP_CLIENT_ID, MCP_SCOPE, REMOTE_USER and MCP_TOKEN_ID of the token');

# --- revocations of a client, as mcpctl and other nodes record them ------------------

my $rc = $as->register(client_name => 'Revoked by the admin');
my $before = $as->tokens('alice', $rc, scope => 'mcp');
is($as->bearer_get('/mcp', $before->{access_token})->code, 200, 'a client\'s token works');
sleep 1;
sql("INSERT INTO mcp_revocations (kind, value, created_at, expires_at) VALUES ('client', "
    . "'$rc->{client_id}', strftime('%s','now'), strftime('%s','now') + 3600)");
my $code = wait_until(sub { $as->bearer_get('/mcp', $before->{access_token})->code == 401 }, 15, 0.5);
ok($code, 'a revocation of the client in the store: its older tokens are refused within the poll interval');
sleep 1;
my $after = $as->tokens('alice', $rc, scope => 'mcp');
is($as->bearer_get('/mcp', $after->{access_token})->code, 200, '... tokens issued after it work');

# --- CORS (MCPAuthzAllowedOrigins) -----------------------------------------------------

my $cors = $as->tokens('alice', $client, scope => 'mcp', resource => "$iss/cors");
my $origin = 'http://localhost:6274';
$res = $as->bearer_get('/cors', $cors->{access_token}, Origin => $origin);
is($res->code, 200, 'CORS: an allowed origin with a token: 200');
is($res->header('Access-Control-Allow-Origin'), $origin, 'CORS 200: Access-Control-Allow-Origin, once');
like($res->header('Access-Control-Expose-Headers') // '', qr/WWW-Authenticate.*Mcp-Session-Id.*Mcp-Protocol-Version/,
     'CORS 200: exposes WWW-Authenticate, Mcp-Session-Id, Mcp-Protocol-Version');
like($res->header('Vary') // '', qr/\bOrigin\b/, 'CORS 200: Vary: Origin');
$res = $as->bearer_get('/cors', undef, Origin => $origin);
is($res->code, 401, 'CORS: an allowed origin without a token: 401');
is($res->header('Access-Control-Allow-Origin'), $origin, 'CORS 401: Access-Control-Allow-Origin, once');
like($res->header('Access-Control-Expose-Headers') // '', qr/WWW-Authenticate/, 'CORS 401: the challenge is exposed');
like(challenge($res), qr/^Bearer resource_metadata="\Q$prm\E\/cors"/, 'CORS 401: the challenge');
$res = $as->request(OPTIONS => '/cors', [ Origin => $origin, 'Access-Control-Request-Method' => 'POST',
                                          'Access-Control-Request-Headers' => 'authorization, content-type, mcp-protocol-version' ]);
is($res->code, 204, 'CORS preflight: 204 without a token');
is($res->header('Access-Control-Allow-Origin'), $origin, 'CORS preflight: the origin, once');
is(scalar(() = $res->header('Access-Control-Allow-Origin')), 1, 'CORS preflight: one Access-Control-Allow-Origin header');
is($res->header('Vary'), 'Origin', 'CORS preflight: Vary: Origin, once');
is($res->header('Access-Control-Allow-Methods'), 'GET, POST, DELETE, OPTIONS', 'CORS preflight: methods');
like($res->header('Access-Control-Allow-Headers') // '',
     qr/^Authorization, Content-Type, Accept, Mcp-Protocol-Version, Mcp-Session-Id, Last-Event-ID$/,
     'CORS preflight: headers');
like($res->header('Access-Control-Max-Age') // '', qr/^\d+$/, 'CORS preflight: max-age');
for my $foreign ('https://evil.example', 'http://localhost:6275', 'null') {
    $res = $as->bearer_get('/cors', $cors->{access_token}, Origin => $foreign);
    is($res->code, 200, "CORS: foreign origin $foreign with a token: served (CORS is the browser's)");
    ok(!defined $res->header('Access-Control-Allow-Origin'), "CORS: $foreign gets no Access-Control-Allow-Origin");
    $res = $as->bearer_get('/cors', undef, Origin => $foreign);
    ok(!defined $res->header('Access-Control-Allow-Origin'), "CORS: $foreign 401 without one too");
    $res = $as->request(OPTIONS => '/cors', [ Origin => $foreign, 'Access-Control-Request-Method' => 'POST' ]);
    isnt($res->code, 204, "CORS: no preflight answer for $foreign");
    ok(!defined $res->header('Access-Control-Allow-Origin'), "CORS: $foreign preflight: no origin");
}
$res = $as->bearer_get('/mcp', $good->{access_token}, Origin => $origin);
ok(!defined $res->header('Access-Control-Allow-Origin'), 'CORS: a location without MCPAuthzAllowedOrigins: none');

my @leaks = MCPTest::OAuth::logged_secrets($mark);
is(scalar @leaks, 0, 'A4.6 no code, token or client secret in a log line of the module')
    or diag @leaks;
ok(scalar(keys %MCPTest::OAuth::SEEN) > 0,
   'A4.6 ... checked against the secrets this test was given');

my @errors = unexpected_errors($mark, $AH01631);
is(scalar @errors, 0, 'no unexpected errors in error_log (but httpd\'s AH01631 of each 403)') or diag @errors;

done_testing();
