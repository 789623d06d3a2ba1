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

# mod_mcp_authz: token revocation (RFC 7009) and introspection (RFC
# 7662).

use strict;
use warnings FATAL => 'all';

use FindBin;
use lib "$FindBin::Bin/../lib";

use Apache::Test qw(-withtestmore);
use MCPTest qw(error_log_mark unexpected_errors sql state_dir);
use MCPTest::OAuth ();

my $mark = error_log_mark();
my $as = MCPTest::OAuth->new('mcp_as');
my $iss = $as->issuer;

sub is_oauth_error {
    my ($res, $status, $error, $name) = @_;
    is($res->code, $status, "$name: $status");
    is((MCPTest::OAuth::json($res) || {})->{error}, $error, "$name: $error");
}

sub is_revoke_ok {
    my ($res, $name) = @_;
    is($res->code, 200, "$name: 200");
    like($res->header('Content-Type') // '', qr{^application/json}, "$name: JSON");
}

my $alice = $as->register(client_name => 'Revoker');
my $other = $as->register(client_name => 'Someone else');
my $conf = $as->register(client_name => 'Confidential', token_endpoint_auth_method => 'client_secret_basic',
                         redirect_uris => [ 'https://app.example/cb' ]);

# --- revoking a refresh token: its family ------------------------------------------

my $t = $as->tokens('alice', $alice, scope => 'mcp offline_access');
my ($res, $t2) = $as->refresh($alice, $t->{refresh_token});
my $latest = ($t2 || {})->{refresh_token};
ok($latest, 'a family of two refresh tokens');
is_revoke_ok($as->revoke($alice, $latest, token_type_hint => 'refresh_token'),
             'RFC 7009 revoking a refresh token');
($res) = $as->refresh($alice, $latest);
is_oauth_error($res, 400, 'invalid_grant', 'the revoked refresh token');
($res) = $as->refresh($alice, $t->{refresh_token});
is_oauth_error($res, 400, 'invalid_grant', 'its rotated predecessor (the family)');
is(sql("SELECT count(*) FROM mcp_refresh_tokens WHERE client_id = '$alice->{client_id}' "
       . "AND revoked_at IS NULL") + 0, 0, 'the whole family is marked revoked');
is_revoke_ok($as->revoke($alice, $latest), 'revoking it again');

# Without a hint, and with a wrong one.
$t = $as->tokens('alice', $alice, scope => 'mcp offline_access');
is_revoke_ok($as->revoke($alice, $t->{refresh_token}), 'a refresh token without a hint');
is_oauth_error(($as->refresh($alice, $t->{refresh_token}))[0], 400, 'invalid_grant',
               'revoked without a hint');
$t = $as->tokens('alice', $alice, scope => 'mcp offline_access');
is_revoke_ok($as->revoke($alice, $t->{refresh_token}, token_type_hint => 'access_token'),
             'a refresh token with the hint access_token');
is_oauth_error(($as->refresh($alice, $t->{refresh_token}))[0], 400, 'invalid_grant',
               'revoked despite the wrong hint');

# --- revoking an access token: its jti ------------------------------------------------

$t = $as->tokens('alice', $alice, scope => 'mcp offline_access');
is($as->bearer_get('/mcp', $t->{access_token})->code, 200, 'an access token works (and is cached)');
my (undef, $claims) = MCPTest::OAuth::jwt_parts($t->{access_token});
is_revoke_ok($as->revoke($alice, $t->{access_token}, token_type_hint => 'access_token'),
             'RFC 7009 revoking an access token');
$res = $as->bearer_get('/mcp', $t->{access_token});
is($res->code, 401, 'the revoked access token: 401 at once');
like($res->header('WWW-Authenticate') // '', qr/error="invalid_token", error_description="the token was revoked"/,
     'the challenge says revoked');
like(sql("SELECT kind, expires_at FROM mcp_revocations WHERE value = '$claims->{jti}'"),
     qr/^jti\|(\d+)$/m, 'the jti is recorded in the store for the other nodes');
my ($rexp) = sql("SELECT expires_at FROM mcp_revocations WHERE value = '$claims->{jti}'") =~ /(\d+)/;
ok($rexp >= $claims->{exp}, 'the revocation is kept until the token expires');
($res, my $after) = $as->refresh($alice, $t->{refresh_token});
is($res->code, 200, 'revoking the access token leaves its refresh token alone');
$t = $as->tokens('alice', $alice, scope => 'mcp');
is_revoke_ok($as->revoke($alice, $t->{access_token}, token_type_hint => 'refresh_token'),
             'an access token with the hint refresh_token');
is($as->bearer_get('/mcp', $t->{access_token})->code, 401, 'revoked despite the wrong hint');
$t = $as->tokens('alice', $alice, scope => 'mcp');
is_revoke_ok($as->revoke($alice, $t->{access_token}), 'an access token without a hint');
is($as->bearer_get('/mcp', $t->{access_token})->code, 401, 'revoked without a hint');

# --- another client's tokens, unknown tokens, who may ask -------------------------------

$t = $as->tokens('alice', $alice, scope => 'mcp offline_access');
is_revoke_ok($as->revoke($other, $t->{refresh_token}), 'another client revoking a refresh token');
($res) = $as->refresh($alice, $t->{refresh_token});
is($res->code, 200, '... does not revoke it');
my $t3 = MCPTest::OAuth::json($res) || {};
is_revoke_ok($as->revoke($other, $t3->{access_token}), 'another client revoking an access token');
is($as->bearer_get('/mcp', $t3->{access_token})->code, 200, '... does not revoke it');
is_revoke_ok($as->revoke($alice, 'no-such-token'), 'RFC 7009 §2.2 an unknown token');
is_revoke_ok($as->revoke($alice, 'a.b.c'), 'a token that looks like a JWT');
is_revoke_ok($as->revoke($alice, "' OR '1'='1"), 'SQL as the token');
my ($r) = $as->token_raw([ token => $t3->{refresh_token} ], endpoint => 'revoke');
is_oauth_error($r, 401, 'invalid_client', 'revocation without client authentication');
($r) = $as->token_raw([ token => $t3->{refresh_token} ], endpoint => 'revoke',
                      basic => [ $conf->{client_id}, 'wrong' ]);
is_oauth_error($r, 401, 'invalid_client', 'revocation with a wrong secret');
($r) = $as->token_raw([ token => $t3->{refresh_token}, client_id => 'no-such-client' ], endpoint => 'revoke');
is_oauth_error($r, 401, 'invalid_client', 'revocation by an unknown client');
($r) = $as->token_raw([ client_id => $alice->{client_id} ], endpoint => 'revoke');
is_oauth_error($r, 400, 'invalid_request', 'revocation without a token');
($r) = $as->token_raw([ client_id => $alice->{client_id}, token => 'a', token => 'b' ], endpoint => 'revoke');
is_oauth_error($r, 400, 'invalid_request', 'revocation with two tokens');
$r = $as->get('revoke');
is($r->code, 405, 'GET revoke: 405');
is(($as->refresh($alice, $t3->{refresh_token}))[0]->code, 200,
   'none of these revoked the token');

my $ct = $as->tokens('alice', $conf, scope => 'mcp offline_access', redirect_uri => 'https://app.example/cb');
is_revoke_ok($as->revoke($conf, $ct->{refresh_token}), 'a confidential client revoking with Basic');
is_oauth_error(($as->refresh($conf, $ct->{refresh_token}))[0], 400, 'invalid_grant',
               'the confidential client\'s token is revoked');

# --- introspection (RFC 7662) ----------------------------------------------------------

sub introspect {
    my ($token, $name) = @_;
    my ($res, $doc) = $as->introspect($conf, $token);
    is($res->code, 200, "introspection of $name: 200");
    is($res->header('Cache-Control'), 'no-store', "introspection of $name: no-store");
    return $doc || {};
}

$t = $as->tokens('alice', $alice, scope => 'mcp tools:read offline_access');
(undef, $claims) = MCPTest::OAuth::jwt_parts($t->{access_token});
my $i = introspect($t->{access_token}, 'a live access token');
ok(JSON::PP::is_bool($i->{active}) && $i->{active}, 'a live access token: active true');
is($i->{scope}, 'mcp offline_access tools:read', '... scope');
is($i->{client_id}, $alice->{client_id}, '... client_id');
is($i->{sub}, 'alice', '... sub');
is($i->{iss}, $iss, '... iss');
is_deeply($i->{aud}, [ "$iss/mcp" ], '... aud');
is($i->{jti}, $claims->{jti}, '... jti');
is($i->{exp}, $claims->{exp}, '... exp');
is($i->{iat}, $claims->{iat}, '... iat');
is($i->{token_type}, 'Bearer', '... token_type');
$i = introspect($t->{refresh_token}, 'a live refresh token');
ok($i->{active}, 'a live refresh token: active true');
is($i->{token_type}, 'refresh_token', '... token_type refresh_token');
is($i->{client_id}, $alice->{client_id}, '... client_id');
is($i->{sub}, 'alice', '... sub');
is($i->{scope}, 'mcp offline_access tools:read', '... scope');
is($i->{aud}, "$iss/mcp", '... aud');
ok($i->{exp} > time + 86400, '... exp (30 days)');

my $rot = $t->{refresh_token};
($res, $t2) = $as->refresh($alice, $rot);
$i = introspect($rot, 'a rotated refresh token');
ok(exists $i->{active} && !$i->{active}, 'a rotated refresh token: active false');
is_deeply([ sort keys %$i ], [ 'active' ], '... and nothing else');
$as->revoke($alice, $t2->{refresh_token});
$i = introspect($t2->{refresh_token}, 'a revoked refresh token');
ok(!$i->{active}, 'a revoked refresh token: active false');
$as->revoke($alice, $t2->{access_token});
$i = introspect($t2->{access_token}, 'a revoked access token');
ok(!$i->{active}, 'a revoked access token: active false');
$t = $as->tokens('alice', $alice, scope => 'mcp offline_access');
sql("UPDATE mcp_refresh_tokens SET expires_at = 1000 WHERE client_id = '$alice->{client_id}' AND revoked_at IS NULL");
$i = introspect($t->{refresh_token}, 'an expired refresh token');
ok(!$i->{active}, 'an expired refresh token: active false');

# An access token that expired a minute ago, signed with the server's key.
my $kid = $as->kid_of(state_dir() . '/signing1.pem');
my $now = time;
my $expired = MCPTest::OAuth::sign_es256(
    { alg => 'ES256', typ => 'at+jwt', kid => $kid },
    { iss => $iss, sub => 'alice', aud => "$iss/mcp", client_id => $alice->{client_id},
      jti => 'expired-' . $now, scope => 'mcp', iat => $now - 400, exp => $now - 60 },
    state_dir() . '/signing1.pem');
$i = introspect($expired, 'an expired access token');
ok(!$i->{active}, 'an expired access token: active false');
my $fresh = MCPTest::OAuth::sign_es256(
    { alg => 'ES256', typ => 'at+jwt', kid => $kid },
    { iss => $iss, sub => 'alice', aud => "$iss/mcp", client_id => $alice->{client_id},
      jti => 'fresh-' . $now, scope => 'mcp', iat => $now, exp => $now + 60 },
    state_dir() . '/signing1.pem');
ok(introspect($fresh, 'a token the test signed with the server key')->{active},
   'the same token unexpired: active (so the expired one was refused for its exp)');
for my $g ([ 'garbage', 'garbage' ], [ 'a JWT-looking string', 'a.b.c' ], [ 'SQL', "' OR 1=1 --" ],
           [ 'a token of another signer', MCPTest::OAuth::sign_hs256({ alg => 'HS256', typ => 'at+jwt' },
                                                                     { iss => $iss }, 'k') ]) {
    $i = introspect($g->[1], $g->[0]);
    ok(exists $i->{active} && !$i->{active}, "$g->[0]: active false");
}

# mcp_as_short shares the store (and the client) but did not issue these.
my $short = MCPTest::OAuth->new('mcp_as_short');
my $live = $as->tokens('alice', $conf, scope => 'mcp offline_access', redirect_uri => 'https://app.example/cb');
($res, $i) = $short->introspect($conf, $live->{refresh_token});
is($res->code, 200, 'introspection at another authorization server sharing the store: 200');
ok(!($i || {})->{active}, '... its refresh token is not active there');
($res, $i) = $short->introspect($conf, $live->{access_token});
ok(!($i || {})->{active}, '... nor its access token');
ok(introspect($live->{refresh_token}, 'the same refresh token at its own server')->{active},
   '... while its own server says active');

($res) = $as->introspect($alice, $t->{access_token});
is_oauth_error($res, 401, 'invalid_client', 'RFC 7662 a public client may not introspect');
($res) = $as->token_raw([ token => $t->{access_token} ], endpoint => 'introspect');
is_oauth_error($res, 401, 'invalid_client', 'introspection without client authentication');
($res) = $as->token_raw([ token => $t->{access_token} ], endpoint => 'introspect',
                        basic => [ $conf->{client_id}, 'wrong' ]);
is_oauth_error($res, 401, 'invalid_client', 'introspection with a wrong secret');
like($res->header('WWW-Authenticate') // '', qr/^Basic /, '... with a Basic challenge');
($res) = $as->token_raw([], endpoint => 'introspect', basic => [ $conf->{client_id}, $conf->{client_secret} ]);
is_oauth_error($res, 400, 'invalid_request', 'introspection without a token');
$res = $as->get('introspect');
is($res->code, 405, 'GET introspect: 405');

MCPTest::OAuth::check_error_log($mark);

done_testing();
