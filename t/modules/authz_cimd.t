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

# mod_mcp_authz: Client ID Metadata Documents (checklist A2.2, A2.3). The
# documents are served by the test server itself over http on 127.0.0.1,
# which only MCPAuthzClientMetadataLoopback On allows (mcp_as_cimd); its
# access log counts the fetches.

use strict;
use warnings FATAL => 'all';

use FindBin;
use lib "$FindBin::Bin/../lib";

use Apache::Test qw(-withtestmore);
use MCPTest qw(error_log_mark unexpected_errors sql state_dir make_file file_mark
               file_lines wait_until);
use MCPTest::OAuth ();

my $mark = error_log_mark();
my $cimd = MCPTest::OAuth->new('mcp_as_cimd');
my $base = $cimd->origin . '/cimd';
my $dir = state_dir() . '/cimd';
my $REDIRECT = $MCPTest::OAuth::REDIRECT;
my $json = $MCPTest::OAuth::JSON;

# Every run its own documents, so that a run against a server that ran
# this test before finds nothing cached or consented.
my $run = lc MCPTest::OAuth::b64u(MCPTest::random_bytes(6));
$run =~ tr/-_/xy/;

sub doc {
    my ($name, %over) = @_;
    $name =~ s/\.json$/-$run.json/;
    my %d = (client_id => "$base/$name", client_name => "CIMD app $name",
             redirect_uris => [ $REDIRECT ], grant_types => [ 'authorization_code', 'refresh_token' ],
             response_types => [ 'code' ], token_endpoint_auth_method => 'none', %over);
    delete $d{$_} for grep { !defined $d{$_} } keys %d;
    make_file("$dir/$name", $json->encode(\%d));
    return "$base/$name";
}

# Fetches of /cimd/$name (and /cimd-moved/...) since $mark.
sub hits {
    my ($name, $mark) = @_;
    # The access log is written when the fetch's response is done.
    Time::HiRes::sleep(0.3);
    return scalar grep { m{^/cimd(?:-moved)?/\Q$name\E } } file_lines('mcp_as_cimd_access_log', $mark);
}

sub is_refused_page {
    my ($srv, $client_id, $name, $why) = @_;
    my ($q) = $srv->authorize_params($client_id, scope => 'mcp');
    my $res = $srv->authorize_get('alice', $q);
    is($res->code, 400, "$name: an error page (400)");
    like($res->header('Content-Type') // '', qr{^text/html}, "$name: HTML");
    ok(!defined $res->header('Location'), "A3.4 $name: no redirect");
    like($res->content, $why, "$name: the page says why") if $why;
    (my $q_id = $client_id) =~ s/'/''/g;
    is(sql("SELECT count(*) FROM mcp_clients WHERE client_id = '$q_id'") + 0, 0,
       "$name: nothing cached") if $client_id =~ /^http/;
    return $res;
}

# --- a valid document, end to end -------------------------------------------------

my $good = doc('good.json');
my $lm = file_mark('mcp_as_cimd_access_log');
my $a = $cimd->authorize('alice', { client_id => $good }, scope => 'mcp offline_access');
ok($a->{page}, 'A2.2 a metadata document client: the consent page') or diag $a->{res}->as_string;
like($a->{page} // '', qr/CIMD app good-$run\.json<\/span> asks/, 'the consent page names the client from its document');
like($a->{page} // '', qr/class="warning"/, 'A2.3 loopback-only redirect URIs: the warning');
unlike($a->{page} // '', qr/given by the application itself/, 'not marked as a self-declared name');
like($a->{page} // '', qr/<strong>127\.0\.0\.1:53682<\/strong>/, 'A2.3 the redirect host');
ok($a->{code}, 'Allow: a code');
is(hits("good-$run.json", $lm), 1, 'the document was fetched once');
my ($res, $t) = $cimd->exchange({ client_id => $good }, $a);
is($res->code, 200, 'the code exchange with the URL as client_id') or diag $res->content;
my (undef, $c) = MCPTest::OAuth::jwt_parts(($t || {})->{access_token});
is($c->{client_id}, $good, 'the token names the document URL as client_id');
is($cimd->bearer_get('/mcp', $t->{access_token})->code, 200, 'the token works');
($res) = $cimd->refresh({ client_id => $good }, $t->{refresh_token});
is($res->code, 200, 'refresh works for it');
is(hits("good-$run.json", $lm), 1, 'no further fetch for all of that');
my $row = sql("SELECT kind, token_endpoint_auth_method, client_name, expires_at - updated_at "
              . "FROM mcp_clients WHERE client_id = '$good'");
is($row, "cimd|none|CIMD app good-$run.json|3600\n",
   'cached as a cimd client for an hour (no Cache-Control)');
my $other = $cimd->authorize('alice', { client_id => $good }, scope => 'mcp',
                             redirect_uri => 'https://evil.example/cb');
is($other->{res}->code, 400, 'A2.2 a redirect URI the document does not list: an error page');
ok(!defined $other->{res}->header('Location'), '... no redirect');

# --- Cache-Control -------------------------------------------------------------------

my $cached = doc('cached.json');     # served with Cache-Control: max-age=600
$lm = file_mark('mcp_as_cimd_access_log');
ok($cimd->authorize('alice', { client_id => $cached }, scope => 'mcp')->{code},
   'a document with max-age=600: works');
ok($cimd->authorize('alice', { client_id => $cached }, scope => 'mcp')->{code},
   'a second authorization');
is(hits("cached-$run.json", $lm), 1, 'A2.2 the second authorization within max-age did not fetch it again');
is(sql("SELECT expires_at - updated_at FROM mcp_clients WHERE client_id = '$cached'"), "600\n",
   'A2.2 cached for its max-age');
sql("UPDATE mcp_clients SET expires_at = strftime('%s','now') - 1 WHERE client_id = '$cached'");
doc('cached.json', client_name => 'Renamed app');
my $r = $cimd->authorize('alice', { client_id => $cached }, scope => 'mcp', prompt => 'consent');
is(hits("cached-$run.json", $lm), 2, 'once the cached copy expired: fetched again');
like($r->{page} // '', qr/Renamed app/, '... and the new document is used');

# --- documents that are refused ------------------------------------------------------

doc('moved-target.json', client_id => "$base-moved/moved-target-$run.json");
my $moved = "$base-moved/moved-target-$run.json";
$lm = file_mark('mcp_as_cimd_access_log');
is_refused_page($cimd, $moved, 'A2.2 a document that redirects', qr/redirects are not followed/);
is(hits("moved-target-$run.json", $lm), 1, 'the redirect was not followed (one request, to the old URL)');
is_refused_page($cimd, doc('mismatch.json', client_id => "$base/other-$run.json"),
                'A2.2 client_id is not the URL', qr/client_id is not the URL/);
is_refused_page($cimd, doc('noname.json', client_name => undef), 'A2.2 no client_name', qr/client_name/);
is_refused_page($cimd, doc('noredirect.json', redirect_uris => undef), 'A2.2 no redirect_uris',
                qr/redirect_uris/);
is_refused_page($cimd, doc('secret.json', client_secret => 'x'), 'a document with a secret', qr/secret/);
is_refused_page($cimd, doc('confidential.json', token_endpoint_auth_method => 'client_secret_basic'),
                'a document that wants client_secret_basic', qr/token_endpoint_auth_method none/);
is_refused_page($cimd, doc('badredirect.json', redirect_uris => [ 'http://evil.example/cb' ]),
                'a document with an http redirect URI', qr/not acceptable/);
$lm = file_mark('mcp_as_cimd_access_log');
is_refused_page($cimd, "$base/big.json", 'A2.2 a 1 MB document', qr/cannot be fetched|too large|larger/);
is(hits('big.json', $lm), 1, 'the 1 MB document: one request');
is_refused_page($cimd, "$base/notjson.json", 'A2.2 not JSON', qr/not valid JSON/);
is_refused_page($cimd, "$base/missing.json", 'a document that does not exist (404)', qr/HTTP 404/);
make_file("$dir/text.txt", $json->encode({ client_id => "$base/text.txt", client_name => 'x',
                                           redirect_uris => [ $REDIRECT ] }));
is_refused_page($cimd, "$base/text.txt", 'a document served as text/plain', qr/not application\/json/);
is_refused_page($cimd, $cimd->origin . '/', 'a client_id URL without a path');

# At the token endpoint the same rules apply.
($res) = $cimd->token_raw([ grant_type => 'authorization_code', code => 'x', redirect_uri => $REDIRECT,
                            code_verifier => 'v' x 43, client_id => "$base/notjson.json" ]);
is($res->code, 401, 'a refused document at /token: 401');
is((MCPTest::OAuth::json($res) || {})->{error}, 'invalid_client', '... invalid_client');

# --- without the loopback directive, or without documents ----------------------------

my $as = MCPTest::OAuth->new('mcp_as');
my $http_url = doc('elsewhere.json');
$lm = file_mark('mcp_as_cimd_access_log');
is_refused_page($as, $http_url, 'A2.2 an http document URL without MCPAuthzClientMetadataLoopback',
                qr/not known/);
(my $https_url = $http_url) =~ s/^http:/https:/;
is_refused_page($as, $https_url, 'B5.5 an https document on a loopback address without the directive',
                qr/cannot be fetched/);
is_refused_page($as, 'https://localhost:' . $cimd->port . "/cimd/elsewhere-$run.json",
                'B5.5 an https document at localhost', qr/cannot be fetched/);
is_refused_page($as, 'https://[::1]:' . $cimd->port . "/cimd/elsewhere-$run.json",
                'B5.5 an https document at [::1]', qr/cannot be fetched/);
is(hits("elsewhere-$run.json", $lm), 0, 'none of them reached the document');
# The store is shared: the copy mcp_as_cimd cached of good.json is there,
# but a server that would not fetch that document does not use it.
ok(sql("SELECT count(*) FROM mcp_clients WHERE client_id = '$good' AND kind = 'cimd'") == 1,
   'good.json is cached in the shared store');
sub is_refused_cached {
    my ($srv, $name) = @_;
    my ($q) = $srv->authorize_params($good, scope => 'mcp');
    my $res = $srv->authorize_get('alice', $q);
    is($res->code, 400, "$name: an error page (400)");
    ok(!defined $res->header('Location'), "$name: no redirect");
    like($res->content, qr/not known/, "$name: an unknown client");
    ($res) = $srv->token_raw([ grant_type => 'refresh_token', refresh_token => 'x', client_id => $good ]);
    is($res->code, 401, "$name: invalid_client at /token");
}
is_refused_cached($as, 'A2.2 a cached http document at a server without the loopback directive');
my $closed = MCPTest::OAuth->new('mcp_as_closed');
is_refused_cached($closed, 'A2.2 a cached document at a server with MCPAuthzClientMetadataDocuments Off');
my $doc_off = doc('off.json');
my ($oq) = $closed->authorize_params($doc_off, scope => 'mcp');
$res = $closed->authorize_get('alice', $oq);
is($res->code, 400, 'MCPAuthzClientMetadataDocuments Off: a document URL is an unknown client');
like($res->content, qr/not known/, '... says so');
is(hits("off-$run.json", $lm), 0, '... and is not fetched');

MCPTest::OAuth::check_error_log($mark);

done_testing();
