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

# mod_mcp_authz: the authorization endpoint and its consent page
# (checklist A3). An untrusted client or redirect URI gets an error page,
# never a redirect (A3.4); every other refusal is a redirect with state
# and iss (A3.6, A3.7); the consent form resists forgery (A3.9).

use strict;
use warnings FATAL => 'all';

use FindBin;
use lib "$FindBin::Bin/../lib";

use Apache::Test qw(-withtestmore);
use Digest::SHA ();
use MCPTest qw(error_log_mark unexpected_errors sql state_dir file_mark
               file_lines unexpected_errors_in log_file);
use MCPTest::OAuth ();

my $mark = error_log_mark();
my $as = MCPTest::OAuth->new('mcp_as');
my $iss = $as->issuer;
my $REDIRECT = $MCPTest::OAuth::REDIRECT;

sub codes_of {
    my $id = shift;
    return sql("SELECT count(*) FROM mcp_auth_codes WHERE client_id = '$id'") + 0;
}

our %codes_before;

# An error page: status, HTML, framing denied, no redirect, nothing issued.
sub is_error_page {
    my ($res, $status, $name, $client) = @_;
    is($res->code, $status, "$name: $status");
    like($res->header('Content-Type') // '', qr{^text/html}, "$name: an HTML page");
    ok(!defined $res->header('Location'), "A3.4 $name: no Location (no redirect)");
    is($res->header('X-Frame-Options'), 'DENY', "$name: X-Frame-Options DENY");
    like($res->header('Content-Security-Policy') // '', qr/frame-ancestors 'none'/,
         "$name: CSP frame-ancestors 'none'");
    is($codes_before{$client->{client_id}} // 0, codes_of($client->{client_id}),
       "$name: no code issued") if $client;
}

# A redirect to the client with error=$error, the state and iss.
sub is_error_redirect {
    my ($res, $error, $q, $name) = @_;
    is($res->code, 302, "$name: a redirect (302)");
    my $loc = $res->header('Location') // '';
    like($loc, qr{^\Q$q->{redirect_uri}\E\?}, "$name: to the client's redirect URI");
    my $p = MCPTest::OAuth::location_params($res);
    is($p->{error}, $error, "$name: error=$error");
    is($p->{state}, $q->{state}, "A3.6 $name: state echoed") if defined $q->{state};
    is($p->{iss}, $iss, "A3.7 $name: iss on the error redirect");
    ok(!exists $p->{code}, "$name: no code");
    return $p;
}

my $client = $as->register(client_name => 'Authorize tests');
my $cid = $client->{client_id};

# --- without httpd authentication ------------------------------------------------

{
    my $noauth = MCPTest::OAuth->new('mcp_as_noauth');
    my $nclient = $noauth->register;
    my $lmark = file_mark('mcp_as_noauth_error_log');
    my ($q) = $noauth->authorize_params($nclient, scope => 'mcp');
    my $res = $noauth->authorize_get(undef, $q);
    is_error_page($res, 500, 'authorization endpoint without httpd authentication');
    like($res->content, qr/sign-in is not configured/, 'no authentication: the page says why');
    my @lines = file_lines('mcp_as_noauth_error_log', $lmark);
    ok((grep { /\[mcp_authz:error\].*MCP00828: the authorization endpoint \/oauth\/authorize is not behind httpd authentication/ } @lines),
       'no authentication: a clear error line in that server\'s log') or diag @lines;
    my @other = unexpected_errors_in(log_file('mcp_as_noauth_error_log'), $lmark, qr/MCP00828/);
    is(scalar @other, 0, 'no authentication: no other errors') or diag @other;
    is(sql("SELECT count(*) FROM mcp_auth_codes WHERE client_id = '$nclient->{client_id}'") + 0, 0,
       'no authentication: no code');
}

# --- the client and its redirect URI: error pages (A3.4) ------------------------

$codes_before{$cid} = codes_of($cid);
my ($q, $v) = $as->authorize_params($client, scope => 'mcp');
my %q = %$q;
my @pages = (
    [ 'unknown client', { %q, client_id => 'no-such-client' }, 400 ],
    [ 'no client_id', { %q, client_id => undef }, 400 ],
    [ 'client_id with SQL', { %q, client_id => "' OR '1'='1" }, 400 ],
    [ 'client_id of 3000 bytes', { %q, client_id => 'x' x 3000 }, 400 ],
    [ 'A3.2 unregistered redirect_uri', { %q, redirect_uri => 'https://evil.example/callback' }, 400 ],
    [ 'A3.2 registered host, another path', { %q, redirect_uri => 'http://127.0.0.1:53682/other' }, 400 ],
    [ 'A3.2 registered URI with a query added', { %q, redirect_uri => "$REDIRECT?x=1" }, 400 ],
    [ 'A3.2 registered URI with a fragment', { %q, redirect_uri => "$REDIRECT#x" }, 400 ],
    [ 'A3.2 javascript: redirect_uri', { %q, redirect_uri => 'javascript:alert(1)' }, 400 ],
);
for my $case (@pages) {
    my ($name, $params, $status) = @$case;
    delete $params->{$_} for grep { !defined $params->{$_} } keys %$params;
    my $res = $as->authorize_get('alice', $params);
    is_error_page($res, $status, $name, $client);
}
my $res = $as->authorize_get('alice', MCPTest::OAuth::query_string(\%q)
                             . '&redirect_uri=' . URI::Escape::uri_escape('https://evil.example/cb'));
is_error_page($res, 400, 'redirect_uri twice', $client);
$res = $as->authorize_get('alice', MCPTest::OAuth::query_string(\%q) . "&client_id=$cid");
is_error_page($res, 400, 'client_id twice', $client);
# Every other check comes after these: even a bad response_type with an
# unregistered redirect URI gets a page, not a redirect there.
$res = $as->authorize_get('alice', { %q, redirect_uri => 'https://evil.example/cb',
                                     response_type => 'token' });
is_error_page($res, 400, 'bad response_type and an unregistered redirect_uri', $client);

# Without redirect_uri: the single registered one; with several, a page.
my %noredir = %q;
delete $noredir{redirect_uri};
$res = $as->authorize_get('alice', \%noredir);
is($res->code, 200, 'no redirect_uri, one registered: the consent page');
is(MCPTest::OAuth::consent_fields($res->content)->{redirect_uri}, $REDIRECT,
   'no redirect_uri, one registered: that one is used');
is_error_page($as->authorize_get('alice', { %q, redirect_uri => '' }), 400,
              'an empty redirect_uri', $client);
my $multi = $as->register(redirect_uris => [ $REDIRECT, 'https://app.example/cb' ]);
$codes_before{$multi->{client_id}} = 0;
my ($mq) = $as->authorize_params($multi, scope => 'mcp', redirect_uri => undef);
delete $mq->{redirect_uri};
is_error_page($as->authorize_get('alice', $mq), 400, 'no redirect_uri, two registered', $multi);

# A3.2: loopback redirect URIs match on any port.
for my $uri ('http://127.0.0.1:1234/callback', 'http://127.0.0.1/callback') {
    $res = $as->authorize_get('alice', { %q, redirect_uri => $uri });
    is($res->code, 200, "A3.2 loopback on another port ($uri): the consent page");
    is(MCPTest::OAuth::consent_fields($res->content)->{redirect_uri}, $uri,
       "A3.2 $uri: the form keeps the port the client used");
}

# A disabled client.
my $disabled = $as->register(client_name => 'Disabled');
sql("UPDATE mcp_clients SET disabled_at = strftime('%s','now') WHERE client_id = '$disabled->{client_id}'");
$codes_before{$disabled->{client_id}} = 0;
my ($dq) = $as->authorize_params($disabled, scope => 'mcp');
$res = $as->authorize_get('alice', $dq);
is_error_page($res, 400, 'a disabled client', $disabled);
like($res->content, qr/disabled/, 'a disabled client: the page says so');

# Methods.
$res = $as->request(PUT => 'authorize', [ MCPTest::OAuth::user_auth('alice') ], '');
is($res->code, 405, 'PUT authorize: 405');
like($res->header('Allow') // '', qr/GET, POST/, 'PUT authorize: Allow: GET, POST');
# No sign-in: httpd's Basic challenge, nothing of ours.
$res = $as->authorize_get(undef, $q);
is($res->code, 401, 'not signed in: 401 from the Basic authentication');
like($res->header('WWW-Authenticate') // '', qr/^Basic /, 'not signed in: a Basic challenge');

# --- the rest of the request: error redirects (A3.1, A3.5, A3.6, A3.7) ----------

my @redirects = (
    [ 'response_type token', { response_type => 'token' }, 'unsupported_response_type' ],
    [ 'no response_type', { response_type => undef }, 'unsupported_response_type' ],
    [ 'response_type "code id_token"', { response_type => 'code id_token' }, 'unsupported_response_type' ],
    [ 'A3.1 no code_challenge', { code_challenge => undef }, 'invalid_request' ],
    [ 'A3.1 code_challenge_method plain', { code_challenge_method => 'plain' }, 'invalid_request' ],
    [ 'A3.1 no code_challenge_method', { code_challenge_method => undef }, 'invalid_request' ],
    [ 'A3.1 code_challenge of 42 characters', { code_challenge => 'a' x 42 }, 'invalid_request' ],
    [ 'A3.1 code_challenge of 44 characters', { code_challenge => 'a' x 44 }, 'invalid_request' ],
    [ 'A3.1 code_challenge with base64 padding', { code_challenge => ('a' x 42) . '=' }, 'invalid_request' ],
    [ 'A3.1 code_challenge with + and /', { code_challenge => ('a' x 41) . '+/' }, 'invalid_request' ],
    [ 'A3.5 unknown resource', { resource => 'https://elsewhere.example/mcp' }, 'invalid_target' ],
    [ 'A3.5 resource: another port', { resource => 'http://127.0.0.1:1/mcp' }, 'invalid_target' ],
    [ 'A3.5 resource: a sub-path', { resource => "$iss/mcp/x" }, 'invalid_target' ],
    [ 'A3.5 resource: not a URL', { resource => 'mcp' }, 'invalid_target' ],
    [ 'undeclared scope only', { scope => 'bogus' }, 'invalid_scope' ],
    [ 'malformed scope', { scope => 'a\\b' }, 'invalid_scope' ],
    [ 'prompt=none without a consent', { prompt => 'none', scope => 'tools:read' }, 'consent_required' ],
    [ 'a 300-byte code_challenge_method', { code_challenge_method => 'S' x 300 }, 'invalid_request' ],
);
for my $case (@redirects) {
    my ($name, $over, $error) = @$case;
    my ($rq) = $as->authorize_params($client, scope => 'mcp', %$over);
    is_error_redirect($as->authorize_get('alice', $rq), $error, $rq, $name);
}
is(codes_of($cid), $codes_before{$cid}, 'none of these issued a code');

# A bad state: refused without echoing it.
my ($sq) = $as->authorize_params($client, scope => 'mcp', state => "bad\x01state");
$res = $as->authorize_get('alice', $sq);
my $p = MCPTest::OAuth::location_params($res);
is($res->code, 302, 'a state with a control character: redirect');
is($p->{error}, 'invalid_request', 'a bad state: invalid_request');
ok(!exists $p->{state}, 'a bad state: not echoed');
is($p->{iss}, $iss, 'a bad state: iss');
($sq) = $as->authorize_params($client, scope => 'mcp', state => 'x' x 2000);
$p = MCPTest::OAuth::location_params($as->authorize_get('alice', $sq));
ok($p->{error} && !exists $p->{state}, 'a 2000-byte state: refused, not echoed');
$res = $as->authorize_get('alice', MCPTest::OAuth::query_string($q) . '&state=second');
$p = MCPTest::OAuth::location_params($res);
is($p->{error}, 'invalid_request', 'state twice: invalid_request');
$res = $as->authorize_get('alice', MCPTest::OAuth::query_string($q) . '&scope=mcp');
is(MCPTest::OAuth::location_params($res)->{error}, 'invalid_request', 'scope twice: invalid_request');

# --- a successful authorization ---------------------------------------------------

my $a = $as->authorize('alice', $client, scope => 'mcp tools:read');
is($a->{res}->code, 302, 'Allow: a redirect');
like($a->{res}->header('Location') // '', qr{^\Q$REDIRECT\E\?}, 'Allow: to the redirect URI');
like($a->{code} // '', qr/^[A-Za-z0-9_-]{43}$/, 'Allow: a code');
is($a->{params}{state}, $a->{query}{state}, 'A3.6 state echoed with the code');
is($a->{params}{iss}, $iss, 'A3.7 iss with the code');
is(codes_of($cid), $codes_before{$cid} + 1, 'Allow: one code stored');
my $stored = sql("SELECT code_hash FROM mcp_auth_codes WHERE client_id = '$cid'");
ok(index($stored, $a->{code}) < 0, 'A4.6 the code itself is not stored');
my $row = sql("SELECT resource, scope, subject, code_challenge_method, expires_at - created_at "
              . "FROM mcp_auth_codes WHERE code_hash = 'sha256:"
              . MCPTest::OAuth::b64u(Digest::SHA::sha256($a->{code})) . "'");
is($row, "$iss/mcp|mcp tools:read|alice|S256|60\n",
   'A3.5 the code: the default resource, the scopes, the user, S256, 60 s');

# A3.5: resource in another case and with a trailing slash.
for my $r ('HTTP://127.0.0.1:' . $as->port . '/mcp', "$iss/mcp/", "$iss/scoped") {
    my $ra = $as->authorize('alice', $client, scope => 'mcp', resource => $r);
    ok($ra->{code}, "A3.5 resource $r: a code") or diag $ra->{res}->as_string;
    my $want = $r =~ /scoped/ ? "$iss/scoped" : "$iss/mcp";
    my $got = sql("SELECT resource FROM mcp_auth_codes WHERE code_hash = 'sha256:"
                  . MCPTest::OAuth::b64u(Digest::SHA::sha256($ra->{code} // '')) . "'");
    is($got, "$want\n", "A3.5 resource $r: bound to $want");
}

# --- scopes: declared, granted by rule, offline_access (A3.8) -------------------

sub scopes_on_page {
    my $html = shift;
    return join ' ', sort $html =~ m{<li><code>([^<]+)</code>}g;
}
for my $case ([ 'alice', 'mcp tools:write admin:read', 'admin:read mcp tools:write' ],
              [ 'bob',   'mcp tools:write admin:read', 'mcp' ],
              [ 'alice', 'mcp bogus', 'mcp' ],
              [ 'bob',   'mcp offline_access', 'mcp offline_access' ],
              [ 'alice', undef, 'mcp' ]) {
    my ($user, $scope, $want) = @$case;
    my ($sq) = $as->authorize_params($client, defined $scope ? (scope => $scope) : (),
                                     prompt => 'consent');
    my $r = $as->authorize_get($user, $sq);
    is($r->code, 200, "$user asks for " . ($scope // 'nothing') . ': the consent page');
    is(scopes_on_page($r->content), $want, "$user asks for " . ($scope // 'nothing')
       . ": offered $want");
    is(MCPTest::OAuth::consent_fields($r->content)->{scope}, join(' ', sort split ' ', $want),
       "$user: the form carries what is granted");
}
for my $case ([ 'bob', 'tools:write' ], [ 'bob', 'admin:read tools:write' ]) {
    my ($user, $scope) = @$case;
    my ($sq) = $as->authorize_params($client, scope => $scope);
    is_error_redirect($as->authorize_get($user, $sq), 'invalid_scope', $sq,
                      "$user asks only for $scope, which his rules refuse");
}
my $no_refresh = $as->register(grant_types => [ 'authorization_code' ]);
my ($nq) = $as->authorize_params($no_refresh, scope => 'mcp offline_access', prompt => 'consent');
is(scopes_on_page($as->authorize_get('alice', $nq)->content), 'mcp',
   'A3.8 offline_access is left out for a client without the refresh_token grant');

# --- the consent page (A2.3, A3.9) ------------------------------------------------

my $hostile = $as->register(client_name => '<script>alert("x")</script> & Co',
                            logo_uri => 'https://logo.example/l.png');
my ($hq) = $as->authorize_params($hostile, scope => 'mcp tools:read');
$res = $as->authorize_get('alice', $hq);
my $html = $res->content;
is($res->code, 200, 'consent page: 200');
like($res->header('Content-Type') // '', qr{^text/html}, 'consent page: HTML');
is($res->header('X-Frame-Options'), 'DENY', 'A3.9 consent page: X-Frame-Options DENY');
like($res->header('Content-Security-Policy') // '', qr/frame-ancestors 'none'/,
     'A3.9 consent page: CSP frame-ancestors none');
is($res->header('Cache-Control'), 'no-store', 'consent page: not cached');
unlike($html, qr/<script>/, 'consent page: the hostile client_name is escaped');
like($html, qr/&lt;script&gt;alert\(&quot;x&quot;\)&lt;\/script&gt; &amp; Co/,
     'consent page: ... and shown');
like($html, qr/<img class="logo" src="https:\/\/logo\.example\/l\.png"/, 'consent page: the https logo');
like($html, qr/<strong>127\.0\.0\.1:53682<\/strong>/, 'A2.3 consent page: the redirect host');
like($html, qr/\Q$iss\E\/mcp/, 'consent page: the resource');
like($html, qr{<code>mcp</code> Use the MCP gateway}, 'consent page: scope mcp with its text');
like($html, qr{<code>tools:read</code> Read with the tools}, 'consent page: tools:read with its text');
like($html, qr/signed in as <strong>alice<\/strong>/, 'consent page: the user');
like($html, qr/given by the application itself/, 'consent page: a self-declared name is noted');
like($html, qr/class="warning"/, 'A2.3 consent page: loopback-only redirect URIs are warned about');
like($html, qr/<form method="post" action="\/oauth\/authorize">/, 'consent page: the form posts back');
my $f = MCPTest::OAuth::consent_fields($html);
is_deeply([ sort keys %$f ], [ sort qw(response_type client_id redirect_uri code_challenge
                                       code_challenge_method resource scope state csrf) ],
          'consent form: its hidden fields');
like($f->{csrf} // '', qr/^\d+\.[A-Za-z0-9_-]{43}$/, 'consent form: a CSRF token');

my $plain = $as->register(client_name => 'Plain', logo_uri => 'http://127.0.0.1:9/logo.png',
                          redirect_uris => [ 'https://app.example/cb' ]);
my ($pq) = $as->authorize_params($plain, scope => 'mcp', redirect_uri => 'https://app.example/cb');
$html = $as->authorize_get('alice', $pq)->content;
unlike($html, qr/<img/, 'consent page: an http logo is not shown');
unlike($html, qr/class="warning"/, 'consent page: no loopback warning for an https client');
like($html, qr/<strong>app\.example<\/strong>/, 'consent page: the https redirect host');
my $nameless = $as->register(client_name => undef);
my ($nlq) = $as->authorize_params($nameless, scope => 'mcp');
like($as->authorize_get('alice', $nlq)->content, qr/\Q$nameless->{client_id}\E<\/span> asks/,
     'consent page: a client without a name is shown by its id');

# --- the consent POST: forgeries (A3.9) -------------------------------------------

my $victim = $as->register(client_name => 'Forgery target');
my $vid = $victim->{client_id};
$codes_before{$vid} = 0;
my ($fq) = $as->authorize_params($victim, scope => 'mcp');
my $form = MCPTest::OAuth::consent_fields($as->authorize_get('alice', $fq)->content);
ok($form->{csrf}, 'a consent form to forge');

# The CSRF key, as the module derives it from the first signing key.
my $pem = state_dir() . '/signing1.pem';
my $text = `openssl pkey -in '$pem' -text -noout 2>/dev/null`;
my ($priv) = $text =~ /priv:\s*((?:[0-9a-f]{2}:?\s*)+)/;
(my $dhex = $priv // '') =~ s/[^0-9a-f]//g;
$dhex = substr(('0' x 64) . $dhex, -64);
my $csrf_key = Digest::SHA::hmac_sha256('mod_mcp consent form CSRF key v1', pack('H*', $dhex));
sub csrf_for {
    my ($t, $user, $fields) = @_;
    my $binding = join "\n", $user, @$fields{qw(client_id redirect_uri resource scope code_challenge)},
                  $fields->{state} // '';
    return "$t." . MCPTest::OAuth::b64u(Digest::SHA::hmac_sha256(
        "mcp-consent-v1|$t|$binding", $csrf_key));
}
is(csrf_for(($form->{csrf} =~ /^(\d+)/)[0], 'alice', $form), $form->{csrf},
   'the test derives the same CSRF token as the module (so the forgeries below are exact)');

my ($t0) = $form->{csrf} =~ /^(\d+)\./;
my ($mac) = $form->{csrf} =~ /\.(.+)$/;
my @forgeries = (
    [ 'no CSRF token', { %$form, csrf => undef }, 'alice' ],
    [ 'an empty CSRF token', { %$form, csrf => '' }, 'alice' ],
    [ 'a wrong CSRF token', { %$form, csrf => "$t0." . MCPTest::OAuth::b64u('x' x 32) }, 'alice' ],
    [ 'another user\'s form', $form, 'bob' ],
    [ 'a changed scope', { %$form, scope => 'mcp tools:write' }, 'alice' ],
    [ 'a changed redirect_uri (another loopback port)',
      { %$form, redirect_uri => 'http://127.0.0.1:1/callback' }, 'alice' ],
    [ 'a changed code_challenge', { %$form, code_challenge => (MCPTest::OAuth::pkce())[1] }, 'alice' ],
    [ 'a changed state', { %$form, state => 'other' }, 'alice' ],
    [ 'a changed resource', { %$form, resource => "$iss/scoped", scope => 'mcp' }, 'alice' ],
    [ 'the time part moved forward', { %$form, csrf => ($t0 + 1) . ".$mac" }, 'alice' ],
    [ 'a correctly signed token 601 s old', { %$form, csrf => csrf_for(time - 601, 'alice', $form) }, 'alice' ],
    [ 'a correctly signed token from the future', { %$form, csrf => csrf_for(time + 60, 'alice', $form) }, 'alice' ],
    [ 'a token with a huge time', { %$form, csrf => "99999999999999999999.$mac" }, 'alice' ],
);
for my $case (@forgeries) {
    my ($name, $fields, $user) = @$case;
    my %fl = %$fields;
    delete $fl{$_} for grep { !defined $fl{$_} } keys %fl;
    $res = $as->consent_post($user, \%fl, 'allow');
    is_error_page($res, 403, "A3.9 consent POST with $name", $victim);
}
$res = $as->consent_post('alice', $form, 'allow', origin => 'https://evil.example');
is_error_page($res, 403, 'A3.9 consent POST from another Origin', $victim);
like($res->content, qr/another site/, 'another Origin: the page says so');
$res = $as->consent_post('alice', $form, 'allow', origin => 'null');
is_error_page($res, 403, 'A3.9 consent POST with Origin: null', $victim);
# A token correctly signed 590 s ago is still good: the age limit is 600 s.
$res = $as->consent_post('alice', { %$form, csrf => csrf_for(time - 590, 'alice', $form) }, 'allow');
is($res->code, 302, 'a correctly signed token 590 s old: accepted');
ok(MCPTest::OAuth::location_params($res)->{code}, '... with a code');
# Without an Origin header (older browsers) the CSRF token decides.
$res = $as->consent_post('alice', $form, 'allow', origin => undef);
ok(MCPTest::OAuth::location_params($res)->{code}, 'no Origin header, a good token: a code');
is(codes_of($vid), 2, 'only the two genuine consents issued codes');

# Deny (prompt=consent: alice's consent above is remembered).
my $deny = $as->authorize('alice', $victim, scope => 'mcp', prompt => 'consent',
                          _decision => 'deny');
ok($deny->{page}, 'Deny: after the consent page');
is_error_redirect($deny->{res}, 'access_denied', $deny->{query}, 'Deny');
my $none = $as->authorize('alice', $victim, scope => 'mcp', prompt => 'consent',
                          _decision => 'maybe');
is(MCPTest::OAuth::location_params($none->{res})->{error}, 'access_denied',
   'a decision other than allow: access_denied');
is(codes_of($vid), 2, 'Deny: no code');

# --- remembered consent, prompt (A3.9) ---------------------------------------------

my $rem = $as->register(client_name => 'Remembered');
my $first = $as->authorize('alice', $rem, scope => 'mcp tools:read');
ok($first->{page} && $first->{code}, 'first authorization: the consent page, then a code');
my $again = $as->authorize('alice', $rem, scope => 'mcp');
ok(!$again->{page}, 'a covered request: no consent page');
is($again->{res}->code, 302, 'a covered request: redirected at once');
ok($again->{code}, 'a covered request: a code');
is($again->{params}{iss}, $iss, 'a covered request: iss');
my $wider = $as->authorize('alice', $rem, scope => 'mcp tools:write');
ok($wider->{page}, 'a wider request: asked again');
ok($as->authorize('alice', $rem, scope => 'tools:write tools:read mcp')->{code}
   && !$as->authorize('alice', $rem, scope => 'tools:write')->{page},
   'the consents add up');
my ($pnq) = $as->authorize_params($rem, scope => 'mcp', prompt => 'none');
$res = $as->authorize_get('alice', $pnq);
ok(MCPTest::OAuth::location_params($res)->{code}, 'prompt=none with a consent: a code');
my ($pcq) = $as->authorize_params($rem, scope => 'mcp', prompt => 'consent');
is($as->authorize_get('alice', $pcq)->code, 200, 'prompt=consent: the page even with a consent');
ok($as->authorize('bob', $rem, scope => 'mcp')->{page}, 'another user: asked');
$row = sql("SELECT scope, expires_at - granted_at FROM mcp_consents WHERE client_id = '$rem->{client_id}' AND subject = 'alice'");
is($row, "mcp tools:read tools:write|2592000\n", 'the consent is stored for 30 days with the union of scopes');

my $short = MCPTest::OAuth->new('mcp_as_short');
my $sc = $short->register;
for my $i (1, 2) {
    my $sa = $short->authorize('alice', $sc, scope => 'mcp');
    ok($sa->{page} && $sa->{code}, "MCPAuthzLifetime consent 0: asked every time ($i)");
}
is(sql("SELECT count(*) FROM mcp_consents WHERE client_id = '$sc->{client_id}'") + 0, 0,
   'MCPAuthzLifetime consent 0: nothing stored');
my ($snq) = $short->authorize_params($sc, scope => 'mcp', prompt => 'none');
is(MCPTest::OAuth::location_params($short->authorize_get('alice', $snq))->{error},
   'consent_required', 'consent 0, prompt=none: consent_required');

# --- allowed_resources ---------------------------------------------------------------

my $ar = $as->register(client_name => 'Restricted');
sql("UPDATE mcp_clients SET metadata = json_set(metadata, '\$.allowed_resources', "
    . "json_array('$iss/scoped')) WHERE client_id = '$ar->{client_id}'");
my ($arq) = $as->authorize_params($ar, scope => 'mcp');
is_error_redirect($as->authorize_get('alice', $arq), 'invalid_target', $arq,
                  'allowed_resources: the default resource is not one of them');
($arq) = $as->authorize_params($ar, scope => 'mcp', resource => "$iss/mcp");
is_error_redirect($as->authorize_get('alice', $arq), 'invalid_target', $arq,
                  'allowed_resources: another resource');
my $ok = $as->authorize('alice', $ar, scope => 'tools:write', resource => "$iss/scoped/");
ok($ok->{code}, 'allowed_resources: the allowed resource works');

# --- own templates -------------------------------------------------------------------

my $tmpl = MCPTest::OAuth->new('mcp_as_tmpl');
my $tc = $tmpl->register(client_name => 'Template <b>');
my $ta = $tmpl->authorize('alice', $tc, scope => 'mcp');
like($ta->{page} // '', qr/<p id="custom-consent">CUSTOM CONSENT for Template &lt;b&gt; as alice<\/p>/,
     'MCPAuthzTemplate consent: the own page, escaped');
ok($ta->{code}, 'MCPAuthzTemplate consent: its form works');
my ($tq) = $tmpl->authorize_params('no-such-client', scope => 'mcp');
$res = $tmpl->authorize_get('alice', $tq);
is($res->code, 400, 'MCPAuthzTemplate error: 400');
like($res->content, qr/<p id="custom-error">CUSTOM ERROR: The client is not known/,
     'MCPAuthzTemplate error: the own page');
is($res->header('X-Frame-Options'), 'DENY', 'MCPAuthzTemplate error: framing still denied');

MCPTest::OAuth::check_error_log($mark);

done_testing();
