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

# mod_mcp_authz: startup (keys, mod_dbd, store schema), the JWKS handler,
# and the checks of its directives.

use strict;
use warnings FATAL => 'all';

use FindBin;
use lib "$FindBin::Bin/../lib";

use Apache::Test qw(-withtestmore);
use Apache::TestRequest ();
use JSON::PP ();
use MIME::Base64 ();

use MCPTest qw(httpd_run error_log_mark unexpected_errors mcp_version
               log_has state_dir make_file openssl_key key_file_perm_tests);

my $mark = error_log_mark();
my $version = mcp_version();
my $state = state_dir();
my $json = JSON::PP->new->utf8;
my $db = "$state/mcp.db";
my $store = "DBDriver sqlite3\nDBDParams \"$db\"\n";
my $issuer = "MCPAuthzIssuer http://127.0.0.1/t\n";
my $key1 = "MCPAuthzSigningKey \"$state/signing1.pem\"\n";

ok(log_has(qr/\[mcp_authz:notice\].*MCP00522: mod_mcp_authz \Q$version\E configured/),
   'startup line with the version');
ok(!log_has(qr/MCP01150: MCPAuthzSigningKey/),
   'the suite\'s own signing keys (0600) draw no permission warning');

# --- the JWKS --------------------------------------------------------------

Apache::TestRequest::module('mcp_authz');

# The public point of a PEM key as base64url x and y.
sub public_xy {
    my $pem = shift;
    my $text = `openssl pkey -in '$pem' -pubout -outform DER 2>/dev/null`;
    # SubjectPublicKeyInfo for P-256 ends with 04 || X(32) || Y(32).
    my $point = substr($text, -65);
    return (undef, undef) unless length($point) == 65 && substr($point, 0, 1) eq "\x04";
    my $b64u = sub {
        my $s = MIME::Base64::encode_base64(shift, '');
        $s =~ tr{+/}{-_};
        $s =~ s/=+$//;
        return $s;
    };
    return ($b64u->(substr($point, 1, 32)), $b64u->(substr($point, 33, 32)));
}

my $res = Apache::TestRequest::GET('/jwks');
is($res->code, 200, 'JWKS: 200');
like($res->header('Content-Type') // '', qr{^application/json}, 'JWKS: JSON');
like($res->header('Cache-Control') // '', qr/max-age=\d+/, 'JWKS: Cache-Control max-age');
my $jwks = eval { $json->decode($res->content) };
ok($jwks && ref $jwks->{keys} eq 'ARRAY', 'JWKS: has a keys array');
my @keys = @{ ($jwks && $jwks->{keys}) || [] };
is(scalar @keys, 2, 'JWKS: both configured keys are published');
my %kids;
for my $i (1, 2) {
    my ($x, $y) = public_xy("$state/signing$i.pem");
    my ($k) = grep { ($_->{x} // '') eq ($x // '-') } @keys;
    ok($k, "JWKS: key $i (signing$i.pem) is published") or next;
    is($k->{kty}, 'EC', "JWKS: key $i kty EC");
    is($k->{crv}, 'P-256', "JWKS: key $i crv P-256");
    is($k->{y}, $y, "JWKS: key $i y matches the file");
    ok(defined $k->{kid} && length $k->{kid}, "JWKS: key $i has a kid");
    $kids{$k->{kid} // ''}++;
    ok(!exists $k->{d}, "JWKS: key $i has no private member d");
    ok(!grep({ exists $k->{$_} } qw(p q dp dq qi k)), "JWKS: key $i no other private members");
}
is(scalar keys %kids, 2, 'JWKS: the kids are distinct');
unlike($res->content, qr/"d"\s*:/, 'JWKS: no "d" anywhere in the document');

$res = Apache::TestRequest::HEAD('/jwks');
is($res->code, 200, 'JWKS HEAD: 200');
for my $method (qw(POST PUT DELETE)) {
    my $r = Apache::TestRequest::user_agent()->request(
        HTTP::Request->new($method => Apache::TestRequest::resolve_url('/jwks')));
    is($r->code, 405, "JWKS $method: 405");
    is($r->header('Allow'), 'GET, HEAD', "JWKS $method: Allow: GET, HEAD");
}

# --- the module alone, and startup refusals ------------------------------

my $run = httpd_run(name => 'authz-alone', modules => ['authz'], dbd => 0,
                    config => '');
ok($run->{started}, 'mod_mcp_authz loads alone (disabled, no mod_dbd)')
    or diag $run->{log};
like($run->{log}, qr/MCP00522: mod_mcp_authz \Q$version\E configured/,
     'alone: startup line');

$run = httpd_run(name => 'authz-enabled', modules => ['authz'],
                 config => $store . $issuer . $key1);
ok($run->{started}, 'enabled with a key and a current store: starts')
    or diag $run->{log};
unlike($run->{log}, qr/\[mcp_authz:(?:error|crit|alert|emerg)\]/,
       'enabled: no errors logged');
my $dbparams_leak = index($run->{log}, $db) >= 0;
ok(!$dbparams_leak, 'DBDParams never appears in the log');

$run = httpd_run(name => 'authz-no-dbd', modules => ['authz'], dbd => 0,
                 config => $issuer . $key1);
ok(!$run->{started} && $run->{exit}, 'without mod_dbd: refused') or diag $run->{log};
like($run->{log}, qr/mod_mcp_authz needs mod_dbd: a2enmod dbd and set DBDriver\/DBDParams/,
     'without mod_dbd: says what to do');

# An empty store (no schema): the children check it and stop httpd.
my $empty = "$state/empty.db";
make_file($empty, '', 0666);
chown scalar(getpwnam(Apache::Test::vars('user'))), -1, $empty if $> == 0;
$run = httpd_run(name => 'authz-no-schema', modules => ['authz'],
    config => "DBDriver sqlite3\nDBDParams \"$empty\"\n" . $issuer . $key1,
    settle => 5);
ok(!$run->{started}, 'uninitialized store: httpd stops') or diag $run->{log};
like($run->{log}, qr/mcpctl db upgrade/, 'uninitialized store: names mcpctl db upgrade')
    or diag $run->{log};
like($run->{log}, qr/\bsqlite3\b/, 'uninitialized store: names the driver');
ok(index($run->{log}, $empty) < 0, 'uninitialized store: DBDParams not logged');

# An unreachable database is no reason to refuse to start: it may come
# back, and requests that need it get 503 meanwhile.
$run = httpd_run(name => 'authz-no-database', modules => ['authz'],
    config => "DBDriver sqlite3\nDBDParams /nonexistent/dir/mcp.db\n" . $issuer . $key1);
ok($run->{started}, 'unreachable database: httpd still starts') or diag $run->{log};
like($run->{log}, qr/\[mcp_authz:error\].*MCP00502: mod_mcp_authz: cannot connect to the store/,
     'unreachable database: logged as an error');
unlike($run->{log}, qr{/nonexistent/dir}, 'unreachable database: DBDParams not logged');

# --- bad values ---------------------------------------------------------------

my $rsa = openssl_key("$state/rsa.pem", '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048');
my $p384 = openssl_key("$state/p384.pem", '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-384');
my $garbage = make_file("$state/garbage.pem", "-----BEGIN PRIVATE KEY-----\nnot base64\n-----END PRIVATE KEY-----\n");

my @bad = (
    [ 'http-issuer', 'MCPAuthzIssuer http://gw.example.com', qr/must use https/ ],
    [ 'query-issuer', 'MCPAuthzIssuer https://gw.example.com/?a=b', qr/query/ ],
    [ 'fragment-issuer', 'MCPAuthzIssuer https://gw.example.com/#x', qr/fragment/ ],
    [ 'relative-issuer', 'MCPAuthzIssuer /oauth', qr/not an absolute URL/ ],
    [ 'ftp-issuer', 'MCPAuthzIssuer ftp://gw.example.com', qr/http or https/ ],
    [ 'userinfo-issuer', 'MCPAuthzIssuer https://u:p@gw.example.com', qr/user:password/ ],
    [ 'port-issuer', 'MCPAuthzIssuer https://gw.example.com:99999', qr/port/ ],
    [ 'issuer-twice', "MCPAuthzIssuer https://a.example\nMCPAuthzIssuer https://b.example",
      qr/given twice/ ],
    [ 'no-key', $store . $issuer, qr/no MCPAuthzSigningKey/ ],
    [ 'key-without-issuer', $store . $key1, qr/MCPAuthzIssuer is not set/, 'MCPAuthzSigningKey' ],
    [ 'missing-key', $store . $issuer . "MCPAuthzSigningKey /nonexistent/k.pem\n",
      qr{/nonexistent/k\.pem}, 'MCPAuthzSigningKey' ],
    [ 'rsa-key', $store . $issuer . "MCPAuthzSigningKey \"$rsa\"\n",
      qr/\Q$rsa\E/, 'MCPAuthzSigningKey' ],
    [ 'p384-key', $store . $issuer . "MCPAuthzSigningKey \"$p384\"\n",
      qr/\Q$p384\E/, 'MCPAuthzSigningKey' ],
    [ 'garbage-key', $store . $issuer . "MCPAuthzSigningKey \"$garbage\"\n",
      qr/\Q$garbage\E/, 'MCPAuthzSigningKey' ],
    [ 'second-key-bad', $store . $issuer . $key1 . "MCPAuthzSigningKey \"$p384\"\n",
      qr/\Q$p384\E/, 'MCPAuthzSigningKey' ],
);
if ($> != 0) {
    my $f = "$state/unreadable.pem";
    MCPTest::openssl_key($f, '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256');
    chmod 0000, $f;
    push @bad, [ 'unreadable-key', $store . $issuer . "MCPAuthzSigningKey \"$f\"\n",
                 qr/\Q$f\E/, 'MCPAuthzSigningKey' ];
}
else {
  SKIP: {
        skip("an unreadable key: root reads every file (run as another user)", 2);
    }
}
for my $case (@bad) {
    my ($name, $lines, $re, $directive) = @$case;
    $directive //= 'MCPAuthzIssuer';
    my $r = httpd_run(name => "authz-$name", modules => ['authz'], config => $lines);
    ok(!$r->{started} && $r->{exit}, "$name: httpd refuses to start")
        or diag $r->{log};
    like($r->{log}, qr/\Q$directive\E.*$re|$re.*\Q$directive\E/,
         "$name: message names $directive") or diag $r->{log};
}

# MCPAuthzCache: the socache behind the deny-list and the rate limits
# (the glue's cache, mcp_glue_cache.h).
$run = httpd_run(name => 'authz-cache-path', modules => ['authz'],
    config => $store . $issuer . $key1
            . "MCPAuthzCache \"shmcb:$state/authz-cfg.shm(512000)\"\n");
ok($run->{started}, 'MCPAuthzCache shmcb with a path and size: starts')
    or diag $run->{log};
for my $case (
    [ 'cache-unknown', "MCPAuthzCache nosuch\n",
      qr/MCPAuthzCache: unknown socache provider 'nosuch' \(load it first, e\.g\. a2enmod socache_nosuch\)/ ],
    [ 'cache-bad-args', "MCPAuthzCache \"shmcb:$state/x.shm(10)\"\n",
      qr/MCP00851: MCPAuthzCache shmcb:\S+: .*size/ ],
    [ 'cache-vhost', "<VirtualHost 127.0.0.1:*>\nServerName v.example\n$issuer"
                   . "MCPAuthzCache \"shmcb:$state/v.shm(512000)\"\n</VirtualHost>\n",
      qr/MCP00864: MCPAuthzCache: virtual host .* names another cache/ ],
) {
    my ($name, $lines, $re) = @$case;
    my $r = httpd_run(name => "authz-$name", modules => ['authz'],
                      config => $store . $issuer . $key1 . $lines);
    ok(!$r->{started} && $r->{exit}, "$name: httpd refuses to start")
        or diag $r->{log};
    like($r->{log}, $re, "$name: message names MCPAuthzCache") or diag $r->{log};
}

# --- key files others may read: a warning, httpd still starts -------------

key_file_perm_tests(
    module    => 'authz',
    directive => 'MCPAuthzSigningKey',
    make      => sub {
        my $file = shift;
        openssl_key($file, '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256');
        return MCPTest::slurp($file);
    },
    config    => sub { $store . $issuer . "MCPAuthzSigningKey \"$_[0]\"\n" },
);

# --- a consent template with the referrer policy no-referrer: a warning ---
# (browsers would send its form with "Origin: null", which the endpoint
# refuses); the shipped template draws none.

my $shipped = MCPTest::srcdir() . "/conf/templates/consent.html";
my $old_tmpl = MCPTest::slurp($shipped);
$old_tmpl =~ s/<meta name="referrer" content="same-origin">/<meta name="referrer" content="no-referrer">/
    or die "$shipped has no same-origin referrer meta\n";
my $nr = make_file("$state/consent-no-referrer.html", $old_tmpl, 0644);
$run = httpd_run(name => 'authz-template-no-referrer', modules => ['authz'],
                 config => $store . $issuer . $key1 . "MCPAuthzTemplate consent \"$nr\"\n");
ok($run->{started}, 'consent template with no-referrer: httpd starts') or diag $run->{log};
like($run->{log}, qr/\[mcp_authz:warn\].*MCP01350: MCPAuthzTemplate consent \Q$nr\E: .*no-referrer.*same-origin/,
     'consent template with no-referrer: a warning naming the file and the fix') or diag $run->{log};
$run = httpd_run(name => 'authz-template-shipped', modules => ['authz'],
                 config => $store . $issuer . $key1 . "MCPAuthzTemplate consent \"$shipped\"\n");
ok($run->{started}, 'the shipped consent template: httpd starts') or diag $run->{log};
unlike($run->{log}, qr/MCP01350/, 'the shipped consent template: no warning');

my @errors = unexpected_errors($mark);
is(scalar @errors, 0, 'no unexpected errors in error_log') or diag @errors;

done_testing();
