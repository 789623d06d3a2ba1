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

# mod_mcp_authz: the token endpoint (checklist A4): the
# authorization_code grant and its access tokens (RFC 9068), code replay,
# refresh rotation with its grace window and family revocation, scope
# narrowing, client authentication, and requests no client should send.

use strict;
use warnings FATAL => 'all';

use FindBin;
use lib "$FindBin::Bin/../lib";

use Apache::Test qw(-withtestmore);
use Time::HiRes ();
use MCPTest qw(error_log_mark unexpected_errors sql state_dir);
use MCPTest::OAuth ();

my $mark = error_log_mark();
my $as = MCPTest::OAuth->new('mcp_as');
my $iss = $as->issuer;
my $REDIRECT = $MCPTest::OAuth::REDIRECT;

sub is_oauth_error {
    my ($res, $status, $error, $name) = @_;
    is($res->code, $status, "$name: $status");
    like($res->header('Content-Type') // '', qr{^application/json}, "$name: JSON");
    my $d = MCPTest::OAuth::json($res) || {};
    is($d->{error}, $error, "$name: $error");
    ok(!exists $d->{access_token}, "$name: no access token");
    return $d;
}

# Does the protected /mcp take this access token?
sub works_at {
    my ($srv, $path, $token) = @_;
    return $srv->bearer_get($path, $token)->code;
}

# --- the authorization_code grant (A4.1, A4.2) -----------------------------------

my $client = $as->register(client_name => 'Token tests');
my $a = $as->authorize('alice', $client, scope => 'mcp tools:read');
my ($res, $t) = $as->exchange($client, $a);
is($res->code, 200, 'A4.1 code exchange: 200') or diag $res->content;
like($res->header('Content-Type') // '', qr{^application/json}, 'A4.2 JSON');
is($res->header('Cache-Control'), 'no-store', 'A4.2 Cache-Control: no-store');
is($res->header('Pragma'), 'no-cache', 'Pragma: no-cache');
is($res->header('Access-Control-Allow-Origin'), '*', 'A1.7 CORS *');
$t ||= {};
is($t->{token_type}, 'Bearer', 'A4.2 token_type Bearer');
is($t->{expires_in}, 300, 'A4.2 expires_in: the access lifetime (300)');
is($t->{scope}, 'mcp tools:read', 'A4.2 scope as granted');
like($t->{refresh_token} // '', qr/^[A-Za-z0-9_-]{43}$/, 'A4.2 a refresh token');
my ($h, $c) = MCPTest::OAuth::jwt_parts($t->{access_token});
is($h->{alg}, 'ES256', 'RFC 9068: alg ES256');
is($h->{typ}, 'at+jwt', 'RFC 9068: typ at+jwt');
is($h->{kid}, $as->kid_of(state_dir() . '/signing1.pem'), 'kid of the signing key in the JWKS');
is($c->{iss}, $iss, 'claim iss');
is($c->{sub}, 'alice', 'claim sub: the signed-in user');
is(ref $c->{aud} ? $c->{aud}[0] : $c->{aud}, "$iss/mcp", 'claim aud: the default resource');
is($c->{client_id}, $client->{client_id}, 'claim client_id');
is($c->{scope}, 'mcp tools:read', 'claim scope');
like($c->{jti} // '', qr/^[A-Za-z0-9_-]{16,}$/, 'claim jti');
ok(abs(($c->{iat} // 0) - time) < 30, 'claim iat: now');
is(($c->{exp} // 0) - ($c->{iat} // 0), 300, 'claim exp: iat + 300');
ok(!MCPTest::OAuth::s_is_high($t->{access_token}), 'the signature has a low S');
is(works_at($as, '/mcp', $t->{access_token}), 200, 'B2.4 the new token works at once');
my $stored = sql("SELECT group_concat(token_hash) FROM mcp_refresh_tokens WHERE client_id = '$client->{client_id}'");
ok(index($stored, $t->{refresh_token}) < 0, 'A4.6 the refresh token itself is not stored');

# A resource given on the token request: the same in any spelling.
$a = $as->authorize('alice', $client, scope => 'mcp', resource => "$iss/mcp");
($res, $t) = $as->exchange($client, { %$a, query => { %{ $a->{query} }, resource => "HTTP://127.0.0.1:"
                                                      . $as->port . '/mcp/' } });
is($res->code, 200, 'A3.5 resource on the token request in another spelling: 200');
$a = $as->authorize('alice', $client, scope => 'mcp', resource => "$iss/mcp");
($res) = $as->exchange($client, { %$a, query => { %{ $a->{query} }, resource => "$iss/scoped" } });
is_oauth_error($res, 400, 'invalid_target', 'A3.5 another resource on the token request');
($res, $t) = $as->exchange($client, { %$a, query => { %{ $a->{query} }, resource => undef } });
is($res->code, 200, 'the same code without resource afterwards: 200 (the mismatch did not burn it)');

# --- code replay (A4.1) --------------------------------------------------------------

$a = $as->authorize('alice', $client, scope => 'mcp offline_access');
($res, $t) = $as->exchange($client, $a);
is($res->code, 200, 'replay: the first exchange works');
$t ||= {};
is(works_at($as, '/mcp', $t->{access_token}), 200, 'replay: its access token works (and is cached)');
($res) = $as->exchange($client, $a);
is_oauth_error($res, 400, 'invalid_grant', 'A4.1 the code presented again');
is(works_at($as, '/mcp', $t->{access_token}), 401, 'A4.1 replay: the access token it gave is revoked at once');
like($as->bearer_get('/mcp', $t->{access_token})->header('WWW-Authenticate') // '',
     qr/error="invalid_token", error_description="the token was revoked"/,
     'replay: the challenge says revoked');
my ($rres) = $as->refresh($client, $t->{refresh_token});
is_oauth_error($rres, 400, 'invalid_grant', 'A4.1 replay: the refresh token it gave is revoked');
($res) = $as->exchange($client, $a);
is_oauth_error($res, 400, 'invalid_grant', 'a third presentation: still invalid_grant');

# --- a code of another client, wrong redirect_uri, wrong verifier ----------------------

my $other = $as->register(client_name => 'Another client');
$a = $as->authorize('alice', $client, scope => 'mcp');
($res) = $as->exchange($other, $a);
is_oauth_error($res, 400, 'invalid_grant', 'A4.1 a code presented by another client');
($res) = $as->exchange($client, { %$a, query => { %{ $a->{query} }, redirect_uri => 'http://127.0.0.1:1/callback' } });
is_oauth_error($res, 400, 'invalid_grant', 'A4.1 another redirect_uri (even a loopback one)');
($res) = $as->exchange($client, { %$a, verifier => (MCPTest::OAuth::pkce())[0] });
is_oauth_error($res, 400, 'invalid_grant', 'A4.1 a wrong code_verifier');
($res) = $as->exchange($client, { %$a, verifier => 'short' });
is_oauth_error($res, 400, 'invalid_grant', 'a malformed code_verifier');
($res, $t) = $as->exchange($client, $a);
is($res->code, 200, 'A4.1 after all these the client the code was issued to still redeems it');
is(works_at($as, '/mcp', ($t || {})->{access_token}), 200, '... and its token works');
my $pairs = [ grant_type => 'authorization_code', code => $a->{code}, code_verifier => $a->{verifier},
              client_id => $client->{client_id} ];
($res) = $as->token_raw($pairs);
is_oauth_error($res, 400, 'invalid_request', 'no redirect_uri');

# An expired code, aged through the store.
$a = $as->authorize('alice', $client, scope => 'mcp');
sql("UPDATE mcp_auth_codes SET expires_at = strftime('%s','now') - 1 WHERE code_hash = 'sha256:"
    . MCPTest::OAuth::b64u(Digest::SHA::sha256($a->{code})) . "'");
($res) = $as->exchange($client, $a);
my $d = is_oauth_error($res, 400, 'invalid_grant', 'an expired code');
# The expiry sweep may delete the aged code first: then it is unknown.
like($d->{error_description} // '', qr/expired|unknown/, 'an expired code: says expired (or unknown once swept)');
($res) = $as->exchange($client, { %$a, code => MCPTest::OAuth::b64u('x' x 32) });
is_oauth_error($res, 400, 'invalid_grant', 'an unknown code');

# --- refresh tokens: rotation, narrowing (A4.4) ------------------------------------

$a = $as->authorize('alice', $client, scope => 'mcp tools:read offline_access');
($res, $t) = $as->exchange($client, $a);
my $r1 = $t->{refresh_token};
($res, my $t2) = $as->refresh($client, $r1, resource => "$iss/mcp");
is($res->code, 200, 'A4.4 refresh with resource: 200') or diag $res->content;
is($res->header('Cache-Control'), 'no-store', 'refresh: no-store');
my $r2 = ($t2 || {})->{refresh_token} // '';
ok(length $r2 && $r2 ne $r1, 'A4.4 refresh: a new refresh token (rotation)');
ok(($t2 || {})->{access_token} && $t2->{access_token} ne $t->{access_token}, 'refresh: a new access token');
is($t2->{scope}, 'mcp offline_access tools:read', 'refresh: the same scope');
is(works_at($as, '/mcp', $t2->{access_token}), 200, 'refresh: its access token works');
my (undef, $c2) = MCPTest::OAuth::jwt_parts($t2->{access_token});
is($c2->{sub}, 'alice', 'refresh: same subject');
is(ref $c2->{aud} ? $c2->{aud}[0] : $c2->{aud}, "$iss/mcp", 'refresh: same audience');

($res, my $t3) = $as->refresh($client, $r2, scope => 'mcp');
is($res->code, 200, 'A4.4 narrowing the scope: 200');
is(($t3 || {})->{scope}, 'mcp', 'narrowing: the access token has the narrower scope');
my (undef, $c3) = MCPTest::OAuth::jwt_parts($t3->{access_token});
is($c3->{scope}, 'mcp', 'narrowing: its claim too');
is(works_at($as, '/mcp', $t3->{access_token}), 200, 'narrowing: the narrower token works');
my $r3 = $t3->{refresh_token};
($res, my $t4) = $as->refresh($client, $r3);
is(($t4 || {})->{scope}, 'mcp offline_access tools:read',
   'after narrowing, the next refresh gets the original grant back');
my $r4 = ($t4 || {})->{refresh_token};
($res) = $as->refresh($client, $r4, scope => 'mcp tools:write');
is_oauth_error($res, 400, 'invalid_scope', 'A4.4 widening the scope');
($res) = $as->refresh($client, $r4, resource => "$iss/scoped");
is_oauth_error($res, 400, 'invalid_target', 'refresh for another resource');
($res) = $as->refresh($other, $r4);
is_oauth_error($res, 400, 'invalid_grant', 'the refresh token of another client');
($res, my $t5) = $as->refresh($client, $r4);
is($res->code, 200, 'after all these the refresh token still works');

# A public client without the refresh_token grant.
my $nort = $as->register(grant_types => [ 'authorization_code' ]);
$a = $as->authorize('alice', $nort, scope => 'mcp');
($res, $t) = $as->exchange($nort, $a);
ok(!exists(($t || {})->{refresh_token}), 'a client without the refresh_token grant: no refresh token');
($res) = $as->refresh($nort, $r4);
is_oauth_error($res, 400, 'unauthorized_client', 'such a client refreshing');

# --- grace window and reuse, short lifetimes ----------------------------------------

# mcp_as_short: code 5, access 30, refresh-grace 2.
my $short = MCPTest::OAuth->new('mcp_as_short');
my $sc = $short->register;
my $code_late = $short->authorize('alice', $sc, scope => 'mcp');
my $code_at = Time::HiRes::time();
my $st = $short->tokens('alice', $sc, scope => 'mcp offline_access');
is($st->{expires_in}, 30, 'MCPAuthzLifetime access 30: expires_in 30');
my (undef, $sclaims) = MCPTest::OAuth::jwt_parts($st->{access_token});
is($sclaims->{exp} - $sclaims->{iat}, 30, 'access 30: exp = iat + 30');
my $f1 = $st->{refresh_token};
($res, my $g) = $short->refresh($sc, $f1);
my $f2 = ($g || {})->{refresh_token};
ok($f2, 'rotation: F1 -> F2');
# The client did not get the answer and tries F1 again at once.
($res, my $g2) = $short->refresh($sc, $f1);
is($res->code, 200, 'A4.4 F1 again within the grace window: 200');
my $f2b = ($g2 || {})->{refresh_token} // '';
ok(length $f2b && $f2b ne $f1 && $f2b ne $f2, 'within the grace window: a usable successor');
($res, my $g3) = $short->refresh($sc, $f2b);
is($res->code, 200, 'that successor works');
my $f3 = ($g3 || {})->{refresh_token};
# The retry kept the family alive: the first successor (never used) and
# the newest token both work.
($res) = $short->refresh($sc, $f2);
is($res->code, 200, 'A4.4 after a retry in the grace window: the first successor still works');
($res) = $short->refresh($sc, $f3);
is($res->code, 200, 'A4.4 ... and so does the newest token');

# A rotated token used after the grace window revokes the family.
my $fam = $short->tokens('bob', $sc, scope => 'mcp offline_access');
($res, my $h1) = $short->refresh($sc, $fam->{refresh_token});
my $n1 = ($h1 || {})->{refresh_token};
($res, my $h2) = $short->refresh($sc, $n1);
my $n2 = ($h2 || {})->{refresh_token};
ok($n2, 'a family: R0 -> R1 -> R2');
Time::HiRes::sleep(3.2);
($res) = $short->refresh($sc, $fam->{refresh_token});
my $dd = is_oauth_error($res, 400, 'invalid_grant', 'A4.4 R0 reused after the grace window');
like($dd->{error_description} // '', qr/used already/, 'reuse: says used already');
($res) = $short->refresh($sc, $n2);
is_oauth_error($res, 400, 'invalid_grant', 'A4.4 reuse revoked the family: R2 is dead too');
my ($rev) = sql("SELECT count(*) FROM mcp_refresh_tokens WHERE subject = 'bob' AND client_id = "
                . "'$sc->{client_id}' AND revoked_at IS NULL") =~ /(\d+)/;
is($rev, 0, 'reuse: no token of the family is left unrevoked');

# Codes live 5 seconds there.
Time::HiRes::sleep(6.2 - (Time::HiRes::time() - $code_at)) if Time::HiRes::time() - $code_at < 6.2;
($res) = $short->exchange($sc, $code_late);
$dd = is_oauth_error($res, 400, 'invalid_grant', 'MCPAuthzLifetime code 5: a code 6 s old');
like($dd->{error_description} // '', qr/expired|unknown/, 'a code 6 s old: expired (or unknown once swept)');

# --- client authentication (A4.5) --------------------------------------------------

my $basic = $as->register(client_name => 'Basic client', token_endpoint_auth_method => 'client_secret_basic',
                          redirect_uris => [ 'https://app.example/cb' ]);
my $post = $as->register(client_name => 'Post client', token_endpoint_auth_method => 'client_secret_post',
                         redirect_uris => [ 'https://app.example/cb' ]);
for my $cl ($basic, $post) {
    my $m = $cl->{token_endpoint_auth_method};
    $a = $as->authorize('alice', $cl, scope => 'mcp', redirect_uri => 'https://app.example/cb');
    ($res, $t) = $as->exchange($cl, $a);
    is($res->code, 200, "A4.5 $m: 200") or diag $res->content;
    ($res) = $as->refresh($cl, ($t || {})->{refresh_token});
    is($res->code, 200, "A4.5 $m: refresh 200");
}
# Either method works for a confidential client, but only one at a time.
$a = $as->authorize('alice', $basic, scope => 'mcp', redirect_uri => 'https://app.example/cb');
my @grant = (grant_type => 'authorization_code', code => $a->{code}, redirect_uri => 'https://app.example/cb',
             code_verifier => $a->{verifier});
($res) = $as->token_raw([ @grant, client_id => $basic->{client_id}, client_secret => $basic->{client_secret} ],
                        basic => [ $basic->{client_id}, $basic->{client_secret} ]);
is_oauth_error($res, 400, 'invalid_request', 'A4.5 Basic and client_secret at once');
($res) = $as->token_raw([ @grant, client_id => $post->{client_id} ],
                        basic => [ $basic->{client_id}, $basic->{client_secret} ]);
is_oauth_error($res, 400, 'invalid_request', 'A4.5 Basic and another client_id in the form');
($res) = $as->token_raw(\@grant, basic => [ $basic->{client_id}, 'wrong-secret' ]);
is_oauth_error($res, 401, 'invalid_client', 'A4.5 a wrong secret with Basic');
like($res->header('WWW-Authenticate') // '', qr/^Basic /, 'A4.5 ... with a Basic challenge');
($res) = $as->token_raw([ @grant, client_id => $basic->{client_id}, client_secret => 'wrong' ]);
is_oauth_error($res, 401, 'invalid_client', 'A4.5 a wrong secret in the form');
ok(!defined $res->header('WWW-Authenticate'), '... without a Basic challenge');
($res) = $as->token_raw([ @grant, client_id => $basic->{client_id} ]);
is_oauth_error($res, 401, 'invalid_client', 'A4.5 a confidential client without its secret');
($res) = $as->token_raw([ @grant, client_id => $basic->{client_id}, client_secret => '' ]);
is_oauth_error($res, 401, 'invalid_client', 'A4.5 an empty secret');
($res) = $as->token_raw(\@grant, headers => [ Authorization => 'Basic !!!' ]);
is_oauth_error($res, 401, 'invalid_client', 'A4.5 malformed Basic credentials');
($res) = $as->token_raw(\@grant, basic => [ 'no-such-client', 'x' ]);
is_oauth_error($res, 401, 'invalid_client', 'A4.5 an unknown client with Basic');
($res) = $as->token_raw([ @grant, client_id => 'no-such-client' ]);
is_oauth_error($res, 401, 'invalid_client', 'A4.5 an unknown client');
($res) = $as->token_raw(\@grant);
is_oauth_error($res, 401, 'invalid_client', 'A4.5 no client at all');
($res, $t) = $as->token_raw(\@grant, basic => [ $basic->{client_id}, $basic->{client_secret} ]);
is($res->code, 200, 'after all these the code still works with the right secret') or diag $res->content;

# --- requests no client should send ------------------------------------------------

$a = $as->authorize('alice', $client, scope => 'mcp');
my @good = (grant_type => 'authorization_code', code => $a->{code}, redirect_uri => $REDIRECT,
            code_verifier => $a->{verifier}, client_id => $client->{client_id});
for my $g ('client_credentials', 'password', 'implicit', 'urn:ietf:params:oauth:grant-type:device_code') {
    ($res) = $as->token_raw([ @good[2 .. $#good], grant_type => $g ]);
    is_oauth_error($res, 400, 'unsupported_grant_type', "grant_type $g");
}
($res) = $as->token_raw([ @good[2 .. $#good] ]);
is_oauth_error($res, 400, 'invalid_request', 'no grant_type');
($res) = $as->token_raw([ @good, grant_type => 'authorization_code' ]);
is_oauth_error($res, 400, 'invalid_request', 'grant_type twice');
($res) = $as->token_raw([ @good, code => $a->{code} ]);
is_oauth_error($res, 400, 'invalid_request', 'code twice');
($res) = $as->token_raw([ @good, client_id => $client->{client_id} ]);
is_oauth_error($res, 400, 'invalid_request', 'client_id twice');
$res = $as->request(GET => 'token?' . MCPTest::OAuth::form_encode(@good));
is_oauth_error($res, 405, 'invalid_request', 'GET token');
like($res->header('Allow') // '', qr/\bPOST\b/, 'GET token: Allow names POST');
$res = $as->request(POST => 'token?' . MCPTest::OAuth::form_encode(@good),
                    [ 'Content-Type' => 'application/x-www-form-urlencoded' ], '');
is_oauth_error($res, 400, 'invalid_request', 'parameters in the query string');
$res = $as->request(POST => 'token?code=' . $a->{code}, [ 'Content-Type' => 'application/x-www-form-urlencoded' ],
                    MCPTest::OAuth::form_encode(@good));
is_oauth_error($res, 400, 'invalid_request', 'the code in the query string and the body');
$res = $as->request(POST => 'token', [ 'Content-Type' => 'application/json' ],
                    $MCPTest::OAuth::JSON->encode({ @good }));
is_oauth_error($res, 400, 'invalid_request', 'a JSON body');
$res = $as->request(POST => 'token', [], MCPTest::OAuth::form_encode(@good));
is_oauth_error($res, 400, 'invalid_request', 'no Content-Type');
for my $case ([ 'a 100 KB code', code => 'A' x (100 * 1024) ],
              [ 'a 10 KB client_id', client_id => 'c' x (10 * 1024) ],
              [ 'a 5 KB code_verifier', code_verifier => 'v' x 5000 ],
              [ 'a 5 KB redirect_uri', redirect_uri => 'https://a.example/' . ('p' x 5000) ]) {
    my ($name, $k, $v) = @$case;
    my %g = @good;
    $g{$k} = $v;
    ($res) = $as->token_raw([ %g ]);
    ok($res->code == 400 || $res->code == 413, "$name: 400 or 413") or diag $res->status_line;
    my $e = (MCPTest::OAuth::json($res) || {})->{error} // '';
    ok($e eq 'invalid_request' || $e eq 'invalid_client', "$name: an OAuth error ($e)");
}
($res) = $as->token_raw([ @good[0 .. 1], code => "a\x00b", @good[4 .. $#good] ]);
is_oauth_error($res, 400, 'invalid_request', 'a code with a NUL byte');
($res) = $as->token_raw([ map { $_ } @good, map { ("x$_" => 'y') } 1 .. 40 ]);
is_oauth_error($res, 400, 'invalid_request', '45 parameters');
$res = $as->request(OPTIONS => 'token', [ Origin => 'http://localhost:6274',
                                          'Access-Control-Request-Method' => 'POST' ]);
is($res->code, 204, 'A1.7 token preflight: 204');
is($res->header('Access-Control-Allow-Origin'), '*', 'A1.7 token preflight: any origin');

# SQL metacharacters in every parameter: clean errors, and the store
# works afterwards.
my @sql = ("' OR '1'='1", "'; DROP TABLE mcp_clients; --", "\" OR 1=1 --", "%' --", "x'||(SELECT 1)||'");
for my $evil (@sql) {
    for my $k (qw(grant_type code redirect_uri code_verifier client_id resource)) {
        my %g = @good;
        $g{$k} = $evil;
        ($res) = $as->token_raw([ %g ]);
        ok($res->code == 400 || $res->code == 401, "SQL in $k ($evil): 400 or 401")
            or diag $res->status_line, $res->content;
        ok((MCPTest::OAuth::json($res) || {})->{error}, "SQL in $k: an OAuth error");
    }
    # A public client's secret is not looked at: a confidential one's.
    ($res) = $as->token_raw([ grant_type => 'refresh_token', refresh_token => 'x',
                              client_id => $post->{client_id}, client_secret => $evil ]);
    is_oauth_error($res, 401, 'invalid_client', "SQL in client_secret ($evil)");
    for my $k (qw(refresh_token scope resource)) {
        ($res) = $as->refresh($client, $k eq 'refresh_token' ? $evil : $r4, $k ne 'refresh_token' ? ($k => $evil) : ());
        ok($res->code == 400, "SQL in refresh $k ($evil): 400") or diag $res->content;
    }
    ($res) = $as->token_raw([ grant_type => 'refresh_token', refresh_token => 'x' ], basic => [ $evil, $evil ]);
    is($res->code, 401, "SQL in Basic credentials ($evil): 401");
}
ok(sql("SELECT count(*) FROM mcp_clients") > 0, 'the clients table is still there');
($res, $t) = $as->token_raw(\@good);
is($res->code, 200, 'after all these the code exchange still works') or diag $res->content;
my $again = $as->tokens('bob', $as->register, scope => 'mcp');
ok($again->{access_token}, 'and a new client goes through the whole flow');

# --- grants of another authorization server sharing the store ------------------------

# mcp_as and mcp_as_short share one store (and so the client): neither
# takes the other's codes or refresh tokens.
my $shared = $as->register(client_name => 'Shared store');
$a = $as->authorize('alice', $shared, scope => 'mcp offline_access');
($res) = $short->exchange($shared, $a);
is_oauth_error($res, 400, 'invalid_grant', 'a code of another authorization server');
($res, $t) = $as->exchange($shared, $a);
is($res->code, 200, '... which its own server still redeems');
($res) = $short->refresh($shared, ($t || {})->{refresh_token});
is_oauth_error($res, 400, 'invalid_grant', 'a refresh token of another authorization server');
($res) = $as->refresh($shared, ($t || {})->{refresh_token});
is($res->code, 200, '... which its own server still takes');

# --- an issuer with a path ------------------------------------------------------------

my $tenant = MCPTest::OAuth->new('mcp_as_path', path => '/tenant');
my $tc = $tenant->register;
my $tt = $tenant->tokens('alice', $tc, scope => 'mcp');
my (undef, $tcl) = MCPTest::OAuth::jwt_parts($tt->{access_token});
is($tcl->{iss}, $tenant->issuer, 'path issuer: iss is the issuer with its path');
is(ref $tcl->{aud} ? $tcl->{aud}[0] : $tcl->{aud}, $tenant->origin . '/tenant/mcp', 'path issuer: aud');
is(works_at($tenant, '/tenant/mcp', $tt->{access_token}), 200, 'path issuer: the token works there');
is(works_at($as, '/mcp', $tt->{access_token}), 401, 'B3.2 ... and not at another server');

MCPTest::OAuth::check_error_log($mark);

done_testing();
