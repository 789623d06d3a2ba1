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

# mod_mcp_authz: the documents clients discover the gateway with.
# Authorization server metadata (RFC 8414, checklist A1) at every address
# clients try, protected resource metadata (RFC 9728, B1) of every
# protected location, the JWKS.

use strict;
use warnings FATAL => 'all';

use FindBin;
use lib "$FindBin::Bin/../lib";

use Apache::Test qw(-withtestmore);
use MCPTest qw(error_log_mark unexpected_errors state_dir);
use MCPTest::OAuth ();

my $mark = error_log_mark();
my $as = MCPTest::OAuth->new('mcp_as');
my $tenant = MCPTest::OAuth->new('mcp_as_path', path => '/tenant');
my $closed = MCPTest::OAuth->new('mcp_as_closed');
my $iss = $as->issuer;

sub doc_ok {
    my ($srv, $path, $name) = @_;
    my $res = $srv->get($path);
    is($res->code, 200, "$name: 200");
    like($res->header('Content-Type') // '', qr{^application/json}, "$name: JSON");
    is($res->header('Access-Control-Allow-Origin'), '*', "$name: CORS *");
    like($res->header('Cache-Control') // '', qr/\bmax-age=\d+/, "$name: cacheable");
    my $doc = MCPTest::OAuth::json($res);
    ok($doc && ref $doc eq 'HASH', "$name: a JSON object") or diag $res->content;
    return ($doc || {}, $res->content);
}

# --- RFC 8414, issuer without a path (A1.2, F4.1) ----------------------------

my ($meta, $text) = doc_ok($as, '/.well-known/oauth-authorization-server',
                           'A1.2 AS metadata');
my ($oidc, $oidc_text) = doc_ok($as, '/.well-known/openid-configuration',
                                'A1.2 OpenID configuration');
is($oidc_text, $text, 'A1.2 both addresses serve the same document');
is($meta->{issuer}, $iss, 'A1.3 issuer is exactly the configured issuer');
is($meta->{authorization_endpoint}, "$iss/oauth/authorize", 'A1.5 authorization_endpoint');
is($meta->{token_endpoint}, "$iss/oauth/token", 'A1.5 token_endpoint');
is($meta->{registration_endpoint}, "$iss/oauth/register", 'A1.5 registration_endpoint');
is($meta->{revocation_endpoint}, "$iss/oauth/revoke", 'revocation_endpoint');
is($meta->{introspection_endpoint}, "$iss/oauth/introspect", 'introspection_endpoint');
is($meta->{jwks_uri}, "$iss/oauth/jwks", 'jwks_uri');
is_deeply($meta->{response_types_supported}, ['code'], 'A1.5 response_types_supported ["code"]');
is_deeply($meta->{code_challenge_methods_supported}, ['S256'],
          'A1.4 code_challenge_methods_supported ["S256"]');
is_deeply($meta->{grant_types_supported}, ['authorization_code', 'refresh_token'],
          'A1.5 grant_types_supported');
ok((grep { $_ eq 'none' } @{ $meta->{token_endpoint_auth_methods_supported} || [] }),
   'A1.5 token_endpoint_auth_methods_supported has none');
ok((grep { $_ eq 'client_secret_basic' } @{ $meta->{token_endpoint_auth_methods_supported} || [] })
   && (grep { $_ eq 'client_secret_post' } @{ $meta->{token_endpoint_auth_methods_supported} || [] }),
   'token_endpoint_auth_methods_supported has client_secret_basic and _post');
my %scopes = map { $_ => 1 } @{ $meta->{scopes_supported} || [] };
ok($scopes{offline_access}, 'A3.8 scopes_supported has offline_access');
ok($scopes{$_}, "scopes_supported has the declared $_")
    for qw(mcp tools:read tools:write admin:read files:*);
ok(JSON::PP::is_bool($meta->{client_id_metadata_document_supported})
   && $meta->{client_id_metadata_document_supported},
   'A1.5 client_id_metadata_document_supported true');
ok(JSON::PP::is_bool($meta->{authorization_response_iss_parameter_supported})
   && $meta->{authorization_response_iss_parameter_supported},
   'A1.5/A3.7 authorization_response_iss_parameter_supported true');

# HEAD, other methods, CORS preflight (A1.7).
my $res = $as->request(HEAD => '/.well-known/oauth-authorization-server');
is($res->code, 200, 'metadata HEAD: 200');
is($res->content, '', 'metadata HEAD: no body');
for my $method (qw(POST PUT DELETE)) {
    $res = $as->request($method => '/.well-known/oauth-authorization-server',
                        [ 'Content-Type' => 'application/json' ], '{}');
    is($res->code, 405, "metadata $method: 405");
    like($res->header('Allow') // '', qr/\bGET\b/, "metadata $method: Allow names GET");
    is((MCPTest::OAuth::json($res) || {})->{error}, 'invalid_request',
       "metadata $method: an OAuth error body");
}
$res = $as->request(OPTIONS => '/.well-known/oauth-authorization-server',
                    [ Origin => 'http://localhost:6274',
                      'Access-Control-Request-Method' => 'GET',
                      'Access-Control-Request-Headers' => 'mcp-protocol-version' ]);
is($res->code, 204, 'A1.7 metadata preflight: 204');
is($res->header('Access-Control-Allow-Origin'), '*', 'A1.7 metadata preflight: any origin');
like($res->header('Access-Control-Allow-Methods') // '', qr/\bGET\b/,
     'A1.7 metadata preflight: GET allowed');
like($res->header('Access-Control-Allow-Headers') // '', qr/\bMcp-Protocol-Version\b/i,
     'A1.7 metadata preflight: MCP-Protocol-Version allowed');
# The TS SDK sends these on its metadata GETs (F1).
$res = $as->get('/.well-known/oauth-authorization-server',
                'MCP-Protocol-Version' => '2025-11-25', Accept => 'application/json',
                Origin => 'http://localhost:6274');
is($res->code, 200, 'A1.7 metadata GET with the SDK\'s headers and an Origin: 200');
is($res->header('Access-Control-Allow-Origin'), '*', 'A1.7 ... with CORS *');

# Wrong places: the path forms of a path-less issuer do not exist.
for my $path ('/.well-known/oauth-authorization-server/x',
              '/.well-known/openid-configuration/x') {
    $res = $as->get($path);
    is($res->code, 404, "$path: 404");
}

# --- an issuer with a path (A1.2) --------------------------------------------

my $tiss = $tenant->issuer;
my @tdocs;
for my $path ('/.well-known/oauth-authorization-server/tenant',
              '/.well-known/openid-configuration/tenant',
              '/tenant/.well-known/openid-configuration') {
    my ($d, $t) = doc_ok($tenant, $path, "A1.2 path issuer $path");
    push @tdocs, $t;
    is($d->{issuer}, $tiss, "A1.3 $path: issuer $tiss");
    is($d->{authorization_endpoint}, "$tiss/oauth/authorize",
       "$path: endpoints below the issuer's path");
    is($d->{token_endpoint}, "$tiss/oauth/token", "$path: token endpoint below the path");
}
ok(@tdocs == 3 && $tdocs[0] eq $tdocs[1] && $tdocs[1] eq $tdocs[2],
   'A1.2 the three addresses serve the same document');
for my $path ('/.well-known/oauth-authorization-server',
              '/.well-known/openid-configuration',
              '/.well-known/oauth-authorization-server/other') {
    $res = $tenant->get($path);
    is($res->code, 404, "path issuer: $path is not its metadata (404)");
}

# --- registration off, no metadata documents ---------------------------------

my ($cmeta) = doc_ok($closed, '/.well-known/oauth-authorization-server',
                     'closed AS metadata');
ok(!exists $cmeta->{registration_endpoint},
   'MCPAuthzRegistration off: no registration_endpoint');
ok(exists $cmeta->{client_id_metadata_document_supported}
   && !$cmeta->{client_id_metadata_document_supported},
   'MCPAuthzClientMetadataDocuments Off: client_id_metadata_document_supported false');
is($cmeta->{token_endpoint}, $closed->issuer . '/oauth/token', 'closed AS: token endpoint');

# --- RFC 9728 protected resource metadata (B1) --------------------------------

for my $case ([ '/.well-known/oauth-protected-resource/mcp', 'path-suffixed' ],
              [ '/.well-known/oauth-protected-resource/mcp/', 'path-suffixed with /' ],
              [ '/.well-known/oauth-protected-resource', 'root' ],
              [ '/.well-known/oauth-protected-resource/', 'root with /' ]) {
    my ($path, $name) = @$case;
    my ($prm) = doc_ok($as, $path, "B1.2 PRM $name");
    is($prm->{resource}, "$iss/mcp", "B1.3 PRM $name: resource is the canonical /mcp URL");
    is_deeply($prm->{authorization_servers}, [ $iss ], "B1.1 PRM $name: authorization_servers");
    is_deeply($prm->{scopes_supported}, [ 'mcp' ],
              "B1.4 PRM $name: scopes_supported = the Require line's scope");
    is_deeply($prm->{bearer_methods_supported}, [ 'header' ],
              "B1.1 PRM $name: bearer_methods_supported [header]");
}
my %want = (scoped => [ 'tools:write' ], forbid => [ 'tools:write' ],
            anyof => [ 'admin:read', 'tools:write' ], files => [ 'files:read' ],
            other => [ 'mcp' ]);
for my $loc (sort keys %want) {
    my ($prm) = doc_ok($as, "/.well-known/oauth-protected-resource/$loc",
                       "B1.5 PRM of /$loc");
    is($prm->{resource}, "$iss/$loc", "B1.5 PRM of /$loc: its own resource");
    is_deeply([ sort @{ $prm->{scopes_supported} || [] } ], $want{$loc},
              "PRM of /$loc: scopes_supported = its Require lines' scopes");
    ok(!grep({ $_ eq 'offline_access' } @{ $prm->{scopes_supported} || [] }),
       "B1.4 PRM of /$loc: no offline_access");
}
my ($tprm) = doc_ok($tenant, '/.well-known/oauth-protected-resource/tenant/mcp',
                    'PRM of the path issuer\'s /tenant/mcp');
is($tprm->{resource}, $tenant->origin . '/tenant/mcp', 'its resource');
is_deeply($tprm->{authorization_servers}, [ $tiss ], 'its authorization server is the path issuer');

for my $path ('/.well-known/oauth-protected-resource/nope',
              '/.well-known/oauth-protected-resource/mcp/deeper',
              '/.well-known/oauth-protected-resource/mcpx') {
    $res = $as->get($path);
    is($res->code, 404, "PRM $path: 404");
    like($res->header('Content-Type') // '', qr{^application/json}, "PRM $path: JSON");
    is((MCPTest::OAuth::json($res) || {})->{error}, 'invalid_request',
       "PRM $path: an OAuth error body");
}
$res = $as->request(POST => '/.well-known/oauth-protected-resource/mcp',
                    [ 'Content-Type' => 'application/json' ], '{}');
is($res->code, 405, 'PRM POST: 405');

# --- JWKS ----------------------------------------------------------------------

my ($jwks) = doc_ok($as, '/oauth/jwks', 'JWKS');
my @keys = @{ $jwks->{keys} || [] };
is(scalar @keys, 1, 'JWKS: the one configured key');
my ($x, $y) = MCPTest::OAuth::public_xy(state_dir() . '/signing1.pem');
is($keys[0]{x}, $x, 'JWKS: x of signing1.pem');
is($keys[0]{y}, $y, 'JWKS: y of signing1.pem');
is($keys[0]{kty}, 'EC', 'JWKS: kty EC');
is($keys[0]{crv}, 'P-256', 'JWKS: crv P-256');
ok(length($keys[0]{kid} // ''), 'JWKS: a kid');
ok(!exists $keys[0]{d}, 'JWKS: no private part');
$res = $as->request(POST => '/oauth/jwks', [ 'Content-Type' => 'application/json' ], '{}');
is($res->code, 405, 'JWKS POST: 405');
($jwks) = doc_ok($tenant, '/tenant/oauth/jwks', 'path issuer JWKS');

my @errors = unexpected_errors($mark);
is(scalar @errors, 0, 'no unexpected errors in error_log') or diag @errors;

done_testing();
