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

# mod_mcp_idp's link pages (what needs no upstream): sign-in by httpd, the
# confirmation page (framing denied, escaped, CSRF bound to the user),
# the pending authorization stored only after consent, the redirect to
# the provider (state, PKCE S256, params=), the callback's single-use
# state and user check, the address guard on the token endpoint, the
# connections page and its JSON twin (with when a link was last used).

use strict;
use warnings FATAL => 'all';

use FindBin;
use lib "$FindBin::Bin/../lib";

use Apache::Test qw(-withtestmore);
use Digest::SHA ();
use JSON::PP ();
use MIME::Base64 ();
use URI ();
use URI::Escape ();

use MCPTest qw(error_log_mark unexpected_errors sql file_mark file_lines
               unexpected_errors_in log_file);
use MCPTest::OAuth ();

my $mark = error_log_mark();
my $lmark = file_mark('mcp_idp_link_error_log');
my $gw = MCPTest::OAuth->new('mcp_idp_link');
my $origin = $gw->origin;

sub basic {
    my $user = shift;
    return ('Authorization' => 'Basic '
            . MIME::Base64::encode_base64("$user:$MCPTest::USERS{$user}", ''));
}

sub get {
    my ($user, $path, @h) = @_;
    return $gw->request('GET', $path, [ ($user ? basic($user) : ()), @h ]);
}

sub post {
    my ($user, $path, $form, @h) = @_;
    my $body = join '&', map {
        URI::Escape::uri_escape($_) . '=' . URI::Escape::uri_escape($form->{$_})
    } sort keys %$form;
    return $gw->request('POST', $path, [ basic($user),
        'Content-Type' => 'application/x-www-form-urlencoded', @h ], $body);
}

sub pending { sql("SELECT count(*) FROM mcp_upstream_pending") + 0 }

sub framing_denied {
    my ($res, $name) = @_;
    is($res->header('X-Frame-Options'), 'DENY', "$name: X-Frame-Options DENY");
    like($res->header('Content-Security-Policy') // '', qr/frame-ancestors 'none'/,
         "$name: CSP frame-ancestors 'none'");
}

sub hidden {
    my ($html, $name) = @_;
    my ($v) = $html =~ /name="\Q$name\E" value="([^"]*)"/;
    return $v;
}

my $AUTH = '/oauth/v1/authorize?provider_name=up&scopes=read:user,repo';

# --- sign-in is httpd's -------------------------------------------------------

my $res = get(undef, $AUTH);
is($res->code, 401, 'authorize without sign-in: 401 from httpd');
like($res->header('WWW-Authenticate') // '', qr/^Basic/, '... a Basic challenge');
$res = get('alice', $AUTH, 'Authorization' => 'Basic '
           . MIME::Base64::encode_base64('alice:wrong', ''));
is($res->code, 401, 'wrong password: 401');

# --- the confirmation page ------------------------------------------------------

my $before = pending();
$res = get('alice', $AUTH);
is($res->code, 200, 'confirmation page: 200');
like($res->header('Content-Type') // '', qr{^text/html}, '... HTML');
framing_denied($res, 'confirmation page');
like($res->header('Cache-Control') // '', qr/no-store/, '... not cached');
my $html = $res->decoded_content;
like($html, qr/Connect your up account\?/, '... names the provider');
like($html, qr/signed in to the gateway as <strong>alice<\/strong>/, '... names the user');
like($html, qr{<code>read:user</code>.*<code>repo</code>}s, '... lists the scopes');
like($html, qr{<form method="post" action="/oauth/v1/authorize">}, '... posts back to itself');
my $csrf = hidden($html, 'csrf');
ok($csrf, '... carries a CSRF token');
is(hidden($html, 'scopes'), 'read:user,repo', '... and the scopes');
is(pending(), $before, 'A3.9 nothing stored before consent');

$res = get('alice', '/oauth/v1/authorize?provider_name=up');
like($res->decoded_content, qr{<code>read:user</code>.*<code>repo</code>}s,
     'no scopes= in the link: the provider\'s scope=');

$res = get('alice', '/oauth/v1/authorize?provider_name=up&scopes='
           . URI::Escape::uri_escape('<script>alert(1)</script>,repo'));
is($res->code, 200, 'scopes with markup: a page');
unlike($res->decoded_content, qr/<script>/, '... the markup is not echoed raw');
like($res->decoded_content, qr/&lt;script&gt;alert\(1\)&lt;\/script&gt;/, '... but escaped');

$res = get('alice', '/oauth/v1/authorize?provider_name=nosuch');
is($res->code, 404, 'unknown provider: 404');
framing_denied($res, 'error page');
$res = get('alice', '/oauth/v1/authorize?provider_name=notes');
is($res->code, 400, 'a personal-token provider has no OAuth link: 400');
like($res->decoded_content, qr{/oauth/v1/connections}, '... points to the connections page');
$res = get('alice', '/oauth/v1/authorize?provider_name=up&provider_name=up');
is($res->code, 400, 'repeated parameter: 400');
$res = get('alice', '/oauth/v1/authorize?provider_name=up&scopes=a%22b');
is($res->code, 400, 'a scope that is no scope token: 400');
$res = get('alice', '/oauth/v1/other');
is($res->code, 404, 'another path below the base: 404');

# --- consent ------------------------------------------------------------------

my %form = (provider_name => 'up', scopes => 'read:user,repo', decision => 'allow');

$res = post('alice', '/oauth/v1/authorize', { %form });
is($res->code, 403, 'A3.9 POST without a CSRF token: 403');
$res = post('alice', '/oauth/v1/authorize', { %form, csrf => 'x' . $csrf });
is($res->code, 403, 'A3.9 a changed CSRF token: 403');
$res = post('bob', '/oauth/v1/authorize', { %form, csrf => $csrf });
is($res->code, 403, 'A3.9 alice\'s form sent by bob: 403');
$res = post('alice', '/oauth/v1/authorize', { %form, scopes => 'read:user,repo,admin',
                                             csrf => $csrf });
is($res->code, 403, 'A3.9 the form with other scopes: 403');
$res = post('alice', '/oauth/v1/authorize', { %form, csrf => $csrf },
            'Origin' => 'https://evil.example');
is($res->code, 403, 'a form sent from another origin: 403');
framing_denied($res, 'refusal');
is(pending(), $before, 'refused forms store nothing');

$res = post('alice', '/oauth/v1/authorize', { %form, decision => 'deny', csrf => $csrf });
is($res->code, 200, 'Cancel: a page');
like($res->decoded_content, qr/Nothing was linked/, '... saying so');
is(pending(), $before, '... and nothing stored');

# Consent: a pending authorization, then the provider.
sub consent {
    my ($user, %o) = @_;
    my $p = get($user, $o{path} // $AUTH);
    my $t = hidden($p->decoded_content, 'csrf');
    my $r = post($user, '/oauth/v1/authorize',
                 { provider_name => $o{provider} // 'up',
                   scopes => hidden($p->decoded_content, 'scopes'),
                   decision => 'allow', csrf => $t },
                 'Origin' => $origin);
    return $r;
}

$res = consent('alice');
is($res->code, 302, 'consent: a redirect');
is(pending(), $before + 1, '... one pending authorization stored now');
is($res->header('Referrer-Policy'), 'no-referrer', '... without a referrer');
my $loc = URI->new($res->header('Location') // '');
is($loc->scheme . '://' . $loc->host_port . $loc->path, 'http://127.0.0.1:9/authorize',
   '... to the provider\'s authorization endpoint');
my %q = $loc->query_form;
is($q{response_type}, 'code', '... response_type=code');
is($q{client_id}, 'gw-client', '... client_id');
is($q{redirect_uri}, "$origin/oauth/v1/callback", '... redirect_uri <origin><base>/callback');
is($q{scope}, 'read:user repo', '... scope');
like($q{state} // '', qr/^[A-Za-z0-9_-]{43}$/, '... a random state');
like($q{code_challenge} // '', qr/^[A-Za-z0-9_-]{43}$/, '... a PKCE challenge');
is($q{code_challenge_method}, 'S256', '... S256');
is($q{prompt}, 'consent', '... and params=');
my $state = $q{state};
my $hash = MIME::Base64::encode_base64url(Digest::SHA::sha256($state));
my $row = sql("SELECT subject || '|' || provider || '|' || scope || '|' "
              . "|| (expires_at - created_at) FROM mcp_upstream_pending "
              . "WHERE state_hash = '$hash'");
chomp $row;
is($row, 'alice|up|read:user repo|600', 'stored by the state\'s hash: user, provider, scopes, 10 minutes');
my ($plain) = sql("SELECT count(*) FROM mcp_upstream_pending WHERE state_hash = '$state' "
                  . "OR verifier_sealed NOT LIKE 'v1.k1.%'") =~ /(\d+)/;
is($plain, 0, 'neither the state nor the verifier stored in the clear');

$res = consent('alice', path => '/oauth/v1/authorize?provider_name=nopkce',
               provider => 'nopkce');
is($res->code, 302, 'pkce=off: consent redirects');
%q = URI->new($res->header('Location') // '')->query_form;
ok(!exists $q{code_challenge} && !exists $q{code_challenge_method},
   'pkce=off: no code_challenge');
ok($q{state}, '... a state all the same');

# --- the callback ------------------------------------------------------------------

$res = get('alice', '/oauth/v1/callback?code=c&state=never-issued');
is($res->code, 400, 'callback with an unknown state: 400');
framing_denied($res, 'callback error');
$res = get('alice', '/oauth/v1/callback?code=c');
is($res->code, 400, 'callback without state: 400');
$res = get(undef, "/oauth/v1/callback?code=c&state=$state");
is($res->code, 401, 'callback without sign-in: 401');

# bob opens alice's callback: refused (and the state is spent).
$res = get('bob', "/oauth/v1/callback?code=c&state=$state");
is($res->code, 403, 'a callback of alice\'s link opened by bob: 403');
$res = get('alice', "/oauth/v1/callback?code=c&state=$state");
is($res->code, 400, '... the state is spent: 400 for alice too');

# The provider refused.
%q = URI->new(consent('alice')->header('Location'))->query_form;
$res = get('alice', "/oauth/v1/callback?error=access_denied&state=$q{state}");
is($res->code, 400, 'callback with error=access_denied: 400');
like($res->decoded_content, qr/access_denied/, '... says what the provider said');
$res = get('alice', "/oauth/v1/callback?code=c&state=$q{state}");
is($res->code, 400, '... and its state is spent');

# The code exchange goes through the address guard: the token endpoint
# on 127.0.0.1 without internal=on is refused before any connection.
%q = URI->new(consent('alice')->header('Location'))->query_form;
my $emark = file_mark('mcp_idp_link_error_log');
$res = get('alice', "/oauth/v1/callback?code=the-code&state=$q{state}");
is($res->code, 502, 'token endpoint on loopback without internal=on: 502');
my @l = grep { /MCP01912/ } file_lines('mcp_idp_link_error_log', $emark);
like($l[0] // '', qr/refused to connect to 127\.0\.0\.1 \(loopback\)/,
     '... the address guard refused it') or diag join "\n", @l;
unlike(join("\n", grep { /\[mcp_idp:/ } file_lines('mcp_idp_link_error_log', $emark)),
       qr/the-code|\Q$q{state}\E|test-client-secret/, '... no code, state or secret logged');
$res = get('alice', "/oauth/v1/callback?code=the-code&state=$q{state}");
is($res->code, 400, 'replayed state: 400');
is(sql("SELECT count(*) FROM mcp_upstream_tokens WHERE subject = 'alice'") + 0, 0,
   'nothing linked');

# Expired pending authorizations are refused.
%q = URI->new(consent('alice')->header('Location'))->query_form;
$hash = MIME::Base64::encode_base64url(Digest::SHA::sha256($q{state}));
sql("UPDATE mcp_upstream_pending SET expires_at = created_at - 1 WHERE state_hash = '$hash'");
$res = get('alice', "/oauth/v1/callback?code=c&state=$q{state}");
is($res->code, 400, 'an expired state: 400');

# --- connections ---------------------------------------------------------------

$res = get('alice', '/oauth/v1/connections?format=json');
is($res->code, 200, 'connections JSON: 200');
like($res->header('Content-Type') // '', qr{^application/json}, '... JSON');
my $doc = JSON::PP::decode_json($res->decoded_content);
is($doc->{user}, 'alice', '... for the signed-in user');
is_deeply($doc->{connections}, [], '... no links');
$res = get('alice', '/oauth/v1/connections', 'Accept' => 'application/json');
like($res->header('Content-Type') // '', qr{^application/json}, 'Accept: application/json: JSON too');
$res = get('alice', '/oauth/v1/connections');
is($res->code, 200, 'connections page: 200');
framing_denied($res, 'connections page');
like($res->decoded_content, qr/No linked accounts/, '... no links');

# Personal tokens: pasted on the page, sealed like OAuth tokens.
$html = get('alice', '/oauth/v1/connections')->decoded_content;
like($html, qr{<input type="password" name="token"}, 'a paste form for the personal-token provider');
my $ccsrf = hidden($html, 'csrf');
my $TOKEN = 'personal-token-' . unpack('H*', MCPTest::random_bytes(8));
$res = post('alice', '/oauth/v1/connections',
            { action => 'token', provider => 'notes', token => $TOKEN });
is($res->code, 403, 'personal token without CSRF: 403');
$res = post('bob', '/oauth/v1/connections',
            { action => 'token', provider => 'notes', token => $TOKEN, csrf => $ccsrf });
is($res->code, 403, 'alice\'s connections form sent by bob: 403');
$res = post('alice', '/oauth/v1/connections',
            { action => 'token', provider => 'up', token => $TOKEN, csrf => $ccsrf });
is($res->code, 400, 'a personal token for an OAuth provider: 400');
$res = post('alice', '/oauth/v1/connections',
            { action => 'token', provider => 'notes', token => "  ", csrf => $ccsrf });
is($res->code, 400, 'an empty personal token: 400');
$res = post('alice', '/oauth/v1/connections',
            { action => 'token', provider => 'notes', token => "$TOKEN\n", csrf => $ccsrf },
            'Origin' => $origin);
is($res->code, 303, 'personal token stored: 303 back to the page');
like($res->header('Location') // '', qr{^\Q$origin\E/oauth/v1/connections$}, '... to the connections page');
$doc = JSON::PP::decode_json(get('alice', '/oauth/v1/connections?format=json')->decoded_content);
is(scalar @{ $doc->{connections} }, 1, 'JSON: one link');
is($doc->{connections}[0]{provider}, 'notes', '... notes');
is($doc->{connections}[0]{mode}, 'personal', '... a personal token');
my ($notes) = grep { $_->{name} eq 'notes' } @{ $doc->{providers} };
ok($notes && $notes->{linked}, '... the provider list says linked');
is($doc->{connections}[0]{last_used_at}, 0, '... last_used_at 0: never handed to a backend');
like(get('alice', '/oauth/v1/connections')->decoded_content,
     qr{<th>Last used</th>.*<td>notes</td>(?:<td>[^<]*(?:<code>[^<]*</code>)?</td>){3}<td>never</td>}s,
     'the page: a Last used column, never');
# What mod_mcp_idp writes when it hands the token to a backend (e2e/idp
# makes the call): the page and the JSON show it.
sql("UPDATE mcp_upstream_tokens SET last_used_at = 1700000000 WHERE subject = 'alice' "
    . "AND provider = 'notes'");
$doc = JSON::PP::decode_json(get('alice', '/oauth/v1/connections?format=json')->decoded_content);
is($doc->{connections}[0]{last_used_at}, 1700000000, 'JSON: last_used_at as stored');
like(get('alice', '/oauth/v1/connections')->decoded_content,
     qr{<td>notes</td>(?:<td>[^<]*(?:<code>[^<]*</code>)?</td>){3}<td>Tue, 14 Nov 2023 22:13:20 GMT</td>},
     'the page: when it was last used');
my $sealed = sql("SELECT sealed FROM mcp_upstream_tokens WHERE subject = 'alice' AND provider = 'notes'");
like($sealed, qr/^v1\.k1\./, 'the vault row is sealed with the current key');
unlike($sealed, qr/\Q$TOKEN\E/, '... and holds no plaintext token');
is(scalar(() = sql("SELECT sealed FROM mcp_upstream_tokens") =~ /\Q$TOKEN\E/g), 0,
   'no row of the vault holds the token');
$doc = JSON::PP::decode_json(get('bob', '/oauth/v1/connections?format=json')->decoded_content);
is_deeply($doc->{connections}, [], 'bob sees none of alice\'s links');
$html = get('alice', '/oauth/v1/connections')->decoded_content;
like($html, qr{<td>notes</td>}, 'the page lists the link');
like($html, qr{name="action" value="revoke"}, '... with a remove button');

$res = post('bob', '/oauth/v1/connections',
            { action => 'revoke', provider => 'notes', csrf => hidden(
                get('bob', '/oauth/v1/connections')->decoded_content, 'csrf') });
is($res->code, 404, 'bob cannot remove alice\'s link (he has none): 404');
$res = post('alice', '/oauth/v1/connections',
            { action => 'revoke', provider => 'notes', csrf => $ccsrf });
is($res->code, 303, 'remove the link: 303');
is(sql("SELECT count(*) FROM mcp_upstream_tokens WHERE subject = 'alice'") + 0, 0,
   '... it is gone');

my @errors = unexpected_errors_in(log_file('mcp_idp_link_error_log'), $lmark,
                                  qr/MCP01912/, qr/AH01617: user alice: authentication failure/);
is(scalar @errors, 0, 'no unexpected errors in the vhost\'s error log') or diag @errors;
@errors = unexpected_errors($mark);
is(scalar @errors, 0, 'no unexpected errors in error_log') or diag @errors;

done_testing();
