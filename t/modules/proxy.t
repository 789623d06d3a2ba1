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

# mod_mcp_proxy: the MCP endpoint (JSON-RPC over Streamable HTTP) and the
# checks of its directives.

use strict;
use warnings FATAL => 'all';

use FindBin;
use lib "$FindBin::Bin/../lib";

use Apache::Test qw(-withtestmore);
use Apache::TestRequest ();
use JSON::PP ();

use MCPTest qw(httpd_run error_log_mark unexpected_errors mcp_version
               raw_http log_has state_dir);


my $mark = error_log_mark();
my $json = JSON::PP->new->utf8->canonical;
my $version = mcp_version();

Apache::TestRequest::module('mcp_proxy');
my $hostport = Apache::TestRequest::hostport();
# What every Streamable HTTP client sends with a POST.
my $accept = 'application/json, text/event-stream';

sub post {
    my ($path, $body, %hdr) = @_;
    $hdr{'Content-Type'} //= 'application/json';
    $hdr{Accept} //= $accept;
    return Apache::TestRequest::POST($path, %hdr, content => $body);
}

sub decode {
    my $res = shift;
    my $v = eval { $json->decode($res->content) };
    return $v;
}

# One JSON-RPC error answer: status, code, id.
sub is_rpc_error {
    my ($res, $status, $code, $id, $name) = @_;
    is($res->code, $status, "$name: HTTP $status");
    like($res->header('Content-Type') // '', qr{^application/json},
         "$name: JSON body");
    my $m = decode($res);
    is($m && $m->{jsonrpc}, '2.0', "$name: jsonrpc 2.0");
    is($m && $m->{error} && $m->{error}{code}, $code, "$name: code $code");
    is_deeply($m && $m->{id}, $id, "$name: id");
    return $m;
}

# --- startup ---------------------------------------------------------------

ok(log_has(qr/\[mcp_proxy:notice\].*MCP00610: mod_mcp_proxy \Q$version\E configured/),
   'startup line with the version');
# The core logs through the module's bridge: its lines carry the module
# name (LogLevel mcp_proxy:...) and the core's own MCPLOGNO tag.
ok(log_has(qr/\[mcp_proxy:debug\].*MCP\d{5}: HTTP client: libcurl/),
   'core log lines reach error_log through the log bridge');

# --- sessions: what holds before one, and opening them -------------------

# /mcp federates backends (none of them reachable here: the tools
# backend needs a scope the anonymous subject lacks, docs.example.com
# does not answer), so its initialize succeeds with every backend left
# out; /mcp-small has no MCPProxyBackend at all.
sub init_body {
    my ($version, $id) = @_;
    return $json->encode({ jsonrpc => '2.0', id => $id // 0, method => 'initialize',
                           params => { protocolVersion => $version, capabilities => {},
                                       clientInfo => { name => 'proxy.t', version => '1' } } });
}
sub open_session {
    my ($path, $version) = @_;
    my $res = post($path, init_body($version));
    is($res->code, 200, "initialize $version on $path: 200");
    my $sid = $res->header('Mcp-Session-Id');
    like($sid // '', qr/^[A-Za-z0-9_-]{43}$/, "initialize $version: a session id");
    return $sid;
}

# Requests other than initialize and ping need a session: ping is a
# liveness check the gateway answers itself.
my $res = post('/mcp', '{"jsonrpc":"2.0","id":1,"method":"ping"}');
is($res->code, 200, 'ping without Mcp-Session-Id: 200');
is_deeply(eval { $json->decode($res->content) }, { jsonrpc => '2.0', id => 1, result => {} },
          'ping without a session: answered by the gateway');
my $m = is_rpc_error(post('/mcp', '{"jsonrpc":"2.0","id":2,"method":"tools/list"}'),
                     400, -32000, undef, 'tools/list without Mcp-Session-Id');
like($m && $m->{error}{message}, qr/Mcp-Session-Id header is required/,
     'tools/list without a session: says the header is required');
$m = is_rpc_error(post('/mcp', '{"jsonrpc":"2.0","id":1,"method":"ping"}',
                       'Mcp-Session-Id' => 'A' x 43),
                  404, -32001, undef, 'ping with an unknown session');
like($m && $m->{error}{message}, qr/Session not found/, 'unknown session: Session not found');
$res = post('/mcp', init_body('2025-11-25'), 'Mcp-Session-Id' => 'A' x 43);
is($res->code, 400, 'initialize with an Mcp-Session-Id: 400');
ok(!defined $res->header('Mcp-Session-Id'), 'initialize with an Mcp-Session-Id: no new session');

my $s11 = open_session('/mcp', '2025-11-25');
my $s03 = open_session('/mcp', '2025-03-26');
isnt($s11, $s03, 'two initializes: two sessions');
my %s11 = ('Mcp-Session-Id' => $s11);
my %s03 = ('Mcp-Session-Id' => $s03);

# Anonymous (no AuthType): only the backends without scope= are the
# session's.
$res = post('/mcp', '{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"gateway_whoami","arguments":{}}}',
            %s11);
my $who = decode($res);
$who = $who && $who->{result} && $who->{result}{structuredContent};
is($who && $who->{subject}, '', 'anonymous: gateway_whoami has an empty subject');
is_deeply([ map { $_->{name} } @{ ($who && $who->{backends}) || [] } ], ['docs'],
          'anonymous: only the backend without scope= (docs, not tools)');

# --- ping and unknown methods ---------------------------------------------

$res = post('/mcp', '{"jsonrpc":"2.0","id":1,"method":"ping"}', %s11);
is($res->code, 200, 'ping: 200');
like($res->header('Content-Type'), qr{^application/json}, 'ping: JSON');
is_deeply(decode($res), { jsonrpc => '2.0', id => 1, result => {} },
          'ping: empty result, same id');

$res = post('/mcp', '{"jsonrpc":"2.0","id":"a-\u00e9","method":"ping","params":{}}',
            'Content-Type' => 'application/json; charset=utf-8', %s11);
is($res->code, 200, 'ping with a string id and charset: 200');
is_deeply(decode($res) && decode($res)->{id}, "a-\x{e9}", 'string id echoed');

$m = is_rpc_error(post('/mcp', '{"jsonrpc":"2.0","id":7,"method":"foo/bar"}', %s11),
                  200, -32601, 7, 'unknown method');
like($m && $m->{error}{message}, qr/Method not found: foo\/bar/,
     'unknown method: names it');

# Without MCPProxyBackend: ping is answered without a session, anything
# else is -32601.
$res = post('/mcp-small', '{"jsonrpc":"2.0","id":3,"method":"ping"}');
is($res->code, 200, 'no backends: ping without a session: 200');
is_deeply(decode($res), { jsonrpc => '2.0', id => 3, result => {} },
          'no backends: ping answered');
$m = is_rpc_error(post('/mcp-small', '{"jsonrpc":"2.0","id":8,"method":"tools/list"}'),
                  200, -32601, 8, 'no backends: tools/list');
like($m && $m->{error}{message}, qr/no MCPProxyBackend/,
     'no backends: says the endpoint has no MCPProxyBackend');

# --- malformed and invalid messages (refused before any session) ---------

is_rpc_error(post('/mcp', '{"jsonrpc":"2.0","id":1,'), 400, -32700, undef,
             'truncated JSON');
is_rpc_error(post('/mcp', "\x00\xff\xfe garbage"), 400, -32700, undef,
             'binary garbage');
is_rpc_error(post('/mcp', ''), 400, -32700, undef, 'empty body');
is_rpc_error(post('/mcp', '{"jsonrpc":"1.0","id":3,"method":"ping"}'), 400,
             -32600, 3, 'wrong jsonrpc version');
is_rpc_error(post('/mcp', '{"jsonrpc":"2.0","id":null,"method":"ping"}'), 400,
             -32600, undef, 'null id on a request');
is_rpc_error(post('/mcp', '"just a string"'), 400, -32600, undef,
             'not an object');
is_rpc_error(post('/mcp', '[]'), 400, -32600, undef, 'empty batch');
is_rpc_error(post('/mcp', '{"jsonrpc":"2.0","id":1,', %s11), 400, -32700, undef,
             'truncated JSON in a session');

# --- notifications and responses: 202 without a body ---------------------

$res = post('/mcp', '{"jsonrpc":"2.0","method":"notifications/initialized"}', %s11);
is($res->code, 202, 'notification: 202');
is($res->content, '', 'notification: no body');
$res = post('/mcp', '{"jsonrpc":"2.0","id":5,"result":{}}', %s11);
is($res->code, 202, 'response from the client: 202');
is($res->content, '', 'response: no body');
is_rpc_error(post('/mcp', '{"jsonrpc":"2.0","method":"notifications/initialized"}'),
             400, -32000, undef, 'notification without a session');
is_rpc_error(post('/mcp', '{"jsonrpc":"2.0","id":5,"result":{}}'),
             400, -32000, undef, 'response without a session');

# --- batches (sessions negotiated at MCP 2025-03-26 only) ----------------

$res = post('/mcp', '[{"jsonrpc":"2.0","id":1,"method":"ping"},'
                  . '{"jsonrpc":"2.0","method":"notifications/initialized"},'
                  . '{"jsonrpc":"2.0","id":"two","method":"foo/bar"},'
                  . '{"jsonrpc":"2.0","id":3,"method":"tools/list"},'
                  . '{"foo":1}]', %s03);
is($res->code, 200, 'batch: 200');
my $b = decode($res);
is(ref $b, 'ARRAY', 'batch: answered with an array');
is(scalar @{ $b || [] }, 4, 'batch: one answer per request and invalid member');
is_deeply($b && $b->[0], { jsonrpc => '2.0', id => 1, result => {} },
          'batch: ping answered');
is($b && $b->[1]{error}{code}, -32601, 'batch: unknown method -32601');
is($b && $b->[1]{id}, 'two', 'batch: its id');
is($b && $b->[2]{id}, 3, 'batch: tools/list answered with its id');
is($b && $b->[2]{result}{tools}[0]{name}, 'gateway_whoami',
   'batch: tools/list lists the gateway tool');
is($b && $b->[3]{error}{code}, -32600, 'batch: invalid member -32600');
ok($b && exists $b->[3]{id} && !defined $b->[3]{id}, 'batch: invalid member id null');

$res = post('/mcp', '[{"jsonrpc":"2.0","method":"notifications/initialized"},'
                  . '{"jsonrpc":"2.0","id":9,"result":{}}]',
            'MCP-Protocol-Version' => '2025-03-26', %s03);
is($res->code, 202, 'batch of notifications and responses: 202');
is($res->content, '', 'batch of notifications: no body');

$m = is_rpc_error(post('/mcp', '[{"jsonrpc":"2.0","id":1,"method":"ping"}]',
                       'MCP-Protocol-Version' => '2025-11-25', %s11),
                  400, -32600, undef, 'batch refused in a 2025-11-25 session');
like($m && $m->{error}{message}, qr/only supported with MCP protocol version 2025-03-26/,
     'batch in a 2025-11-25 session: says why');
is_rpc_error(post('/mcp', '[{"jsonrpc":"2.0","id":1,"method":"ping"}]'),
             400, -32000, undef, 'batch without a session');
is_rpc_error(post('/mcp-small', '[{"jsonrpc":"2.0","id":1,"method":"ping"}]'),
             400, -32600, undef, 'batch at an endpoint without backends');

# --- sizes and depth --------------------------------------------------------

my $big = '{"jsonrpc":"2.0","id":1,"method":"ping","params":{"pad":"'
        . ('x' x 2000) . '"}}';
$m = is_rpc_error(post('/mcp-small', $big), 413, -32600, undef,
                  'body over MCPProxyMaxBodySize');
like($m && $m->{error}{message}, qr/1024/, '413 message names the limit');
$res = post('/mcp', $big, %s11);
is($res->code, 200, 'same body under the default limit: 200');

# Chunked, so the size is only known while reading.
my $chunk = ('y' x 1500);
my $raw = raw_http($hostport,
    "POST /mcp-small HTTP/1.1\r\nHost: $hostport\r\n"
  . "Content-Type: application/json\r\nAccept: $accept\r\n"
  . "Transfer-Encoding: chunked\r\n"
  . "Connection: close\r\n\r\n"
  . sprintf("%x\r\n%s\r\n0\r\n\r\n", length $chunk, $chunk));
like($raw, qr{^HTTP/1\.1 413 }, 'chunked body over the limit: 413');
like($raw, qr/"code":-32600/, 'chunked 413: JSON-RPC -32600');

# Content-Length over the limit: answered before the body is sent.
$raw = raw_http($hostport,
    "POST /mcp-small HTTP/1.1\r\nHost: $hostport\r\n"
  . "Content-Type: application/json\r\nAccept: $accept\r\n"
  . "Content-Length: 999999999\r\n"
  . "Connection: close\r\n\r\n{");
like($raw, qr{^HTTP/1\.1 413 }, 'huge Content-Length: 413 without reading');
like($raw, qr/"code":-32600/, 'huge Content-Length: JSON-RPC -32600');
# The same at a federating endpoint, before any session is looked at.
$raw = raw_http($hostport,
    "POST /mcp HTTP/1.1\r\nHost: $hostport\r\n"
  . "Content-Type: application/json\r\nAccept: $accept\r\n"
  . "Content-Length: 999999999\r\n"
  . "Connection: close\r\n\r\n{");
like($raw, qr{^HTTP/1\.1 413 }, 'huge Content-Length at /mcp, no session: 413');

my $deep = '{"jsonrpc":"2.0","id":1,"method":"ping","params":{"a":'
         . ('[' x 20) . (']' x 20) . '}}';
$res = post('/mcp-small', $deep);
is($res->code, 413, 'nesting over MCPProxyMaxDepth 8: 413');
is(decode($res) && decode($res)->{error}{code}, -32600, 'too deep: -32600');
$res = post('/mcp', $deep, %s11);
is($res->code, 200, 'same nesting under the default depth: 200');
$res = post('/mcp', ('[' x 100000) . (']' x 100000));
ok($res->code == 413 || $res->code == 400, 'hostile nesting refused (' . $res->code . ')');
like($res->content, qr/"code":-(32600|32700)/, 'hostile nesting: a parse or request error, not the session check');

# --- content type and methods --------------------------------------------

$res = Apache::TestRequest::POST('/mcp', 'Content-Type' => 'text/plain', Accept => $accept,
                                 content => '{"jsonrpc":"2.0","id":1,"method":"ping"}');
is($res->code, 415, 'text/plain: 415');
$res = Apache::TestRequest::POST('/mcp', 'Content-Type' => 'application/jsonx', Accept => $accept,
                                 content => '{}');
is($res->code, 415, 'application/jsonx: 415');
$raw = raw_http($hostport,
    "POST /mcp HTTP/1.1\r\nHost: $hostport\r\nAccept: $accept\r\nContent-Length: 2\r\n"
  . "Connection: close\r\n\r\n{}");
like($raw, qr{^HTTP/1\.1 415 }, 'no Content-Type: 415');
$res = Apache::TestRequest::POST('/mcp', 'Content-Type' => 'text/plain', Accept => $accept,
                                 %s11, content => '{"jsonrpc":"2.0","id":1,"method":"ping"}');
is($res->code, 415, 'text/plain in a session: 415');

sub request {
    my ($method, $path, @hdr) = @_;
    return Apache::TestRequest::user_agent()->request(
        HTTP::Request->new($method => Apache::TestRequest::resolve_url($path), [ @hdr ]));
}
# Without backends: POST only.
for my $method (qw(GET DELETE PUT)) {
    my $r = request($method, '/mcp-small', Accept => 'text/event-stream');
    is($r->code, 405, "no backends, $method: 405");
    is($r->header('Allow'), 'POST', "no backends, $method: Allow: POST");
}
# A federating endpoint takes GET and DELETE too, with a session.
my $put = request(PUT => '/mcp', Accept => 'text/event-stream', %s11);
is($put->code, 405, 'PUT: 405');
is($put->header('Allow'), 'GET, POST, DELETE', 'PUT: Allow: GET, POST, DELETE');
for my $method (qw(GET DELETE)) {
    is_rpc_error(request($method, '/mcp', Accept => 'text/event-stream'),
                 400, -32000, undef, "$method without a session");
    is_rpc_error(request($method, '/mcp', Accept => 'text/event-stream',
                         'Mcp-Session-Id' => 'B' x 43),
                 404, -32001, undef, "$method with an unknown session");
}

# Still alive and answering after all of the above.
$res = post('/mcp', '{"jsonrpc":"2.0","id":99,"method":"ping"}', %s03);
is($res->code, 200, 'ping after the hostile requests');

# --- directives: the module alone, and bad values ------------------------

my $run = httpd_run(name => 'proxy-alone', modules => ['proxy'], dbd => 0,
    config => "<Location /mcp>\nSetHandler mcp-proxy\n"
            . "MCPProxyBackend a http://127.0.0.1:9/mcp\n</Location>\n");
ok($run->{started}, 'mod_mcp_proxy loads alone (no mod_dbd, no other mod_mcp)')
    or diag $run->{log};
like($run->{log}, qr/MCP00610: mod_mcp_proxy \Q$version\E configured/,
     'alone: startup line');

my $state = state_dir();
MCPTest::make_file("$state/blank.token", "\n", 0600);
my @bad = (
    [ 'not-http', 'MCPProxyBackend a ftp://h/mcp', qr/http or https/ ],
    [ 'relative-url', 'MCPProxyBackend a /mcp', qr/not an absolute URL/ ],
    [ 'fragment', 'MCPProxyBackend a https://h/mcp#x', qr/fragment/ ],
    # What the HTTP client would refuse at request time, refused here.
    [ 'port-99999', 'MCPProxyBackend a http://127.0.0.1:99999/mcp',
      qr/port is not a number from 1 to 65535/ ],
    [ 'port-0', 'MCPProxyBackend a http://127.0.0.1:0/mcp', qr/port/ ],
    [ 'non-ascii-host', "MCPProxyBackend a https://h\xc3\xa9.example/mcp",
      qr/non-ASCII/ ],
    [ 'userinfo', 'MCPProxyBackend a https://u:p@h/mcp', qr/user:password/ ],
    [ 'bad-name', 'MCPProxyBackend a.b https://h/mcp', qr/name 'a\.b'/ ],
    [ 'no-url', 'MCPProxyBackend a', qr/needs a name and a URL/ ],
    [ 'duplicate', "MCPProxyBackend a https://h/1\nMCPProxyBackend a https://h/2",
      qr/'a' is used twice/ ],
    [ 'unknown-option', 'MCPProxyBackend a https://h/mcp color=blue',
      qr/unknown option 'color'/ ],
    [ 'not-kv', 'MCPProxyBackend a https://h/mcp prefix', qr/key=value/ ],
    [ 'bad-timeout', 'MCPProxyBackend a https://h/mcp timeout=0', qr/timeout/ ],
    [ 'bad-timeout2', 'MCPProxyBackend a https://h/mcp timeout=5s', qr/timeout/ ],
    [ 'bad-prefix', 'MCPProxyBackend a https://h/mcp prefix=a/b', qr/prefix/ ],
    [ 'bad-scope', 'MCPProxyBackend a https://h/mcp "scope=a b"', qr/scope/ ],
    [ 'missing-bearer', 'MCPProxyBackend a https://h/mcp bearer_file=/nonexistent/token',
      qr/bearer_file.*nonexistent/ ],
    [ 'dir-bearer', "MCPProxyBackend a https://h/mcp bearer_file=$state",
      qr/not a regular file/ ],
    [ 'blank-bearer', "MCPProxyBackend a https://h/mcp bearer_file=$state/blank.token",
      qr/bearer_file: \Q$state\E\/blank\.token holds no secret on its first line/ ],
    [ 'quote', 'MCPProxyBackend a https://h/mcp "prefix=x', qr/unbalanced/ ],
    [ 'same-prefix', "MCPProxyBackend a https://h/1 prefix=x_\n"
                   . "MCPProxyBackend b https://h/2 prefix=x_", qr/same prefix=x_/ ],
    [ 'hosts-url', 'MCPProxyAllowedHosts https://gw.example.com', qr/not a host name/,
      'MCPProxyAllowedHosts' ],
    [ 'hosts-port', 'MCPProxyAllowedHosts gw.example.com:443', qr/not a host name/,
      'MCPProxyAllowedHosts' ],
    [ 'reserved-prefix', 'MCPProxyBackend a https://h/mcp prefix=gateway_',
      qr/backend a: prefix 'gateway_' overlaps 'gateway_', which is reserved for the gateway's own tools/ ],
    [ 'overlapping-prefix', "MCPProxyBackend a https://h/1 prefix=gh_\n"
                          . "MCPProxyBackend b https://h/2 prefix=gh_x_",
      qr/endpoint starting at \S+:\d+: backends a \(prefix 'gh_'\) and b \(prefix 'gh_x_'\): one prefix begins the other/ ],
    [ 'idp-without-module', 'MCPProxyBackend a https://h/mcp idp=github',
      qr/idp=github needs mod_mcp_idp: LoadModule mcp_idp_module \(a2enmod mcp_idp\)/ ],
    [ 'idp-and-bearer', "MCPProxyBackend a https://h/mcp idp=github bearer_file=$state/backend.token",
      qr/not both/, undef, [qw(proxy idp)] ],
    [ 'body-zero', 'MCPProxyMaxBodySize 0', qr/number of bytes/, 'MCPProxyMaxBodySize' ],
    [ 'body-text', 'MCPProxyMaxBodySize 4MB', qr/number of bytes/, 'MCPProxyMaxBodySize' ],
    [ 'depth-big', 'MCPProxyMaxDepth 5000', qr/nesting depth/, 'MCPProxyMaxDepth' ],
    # The federation's directives.
    [ 'rule-unknown-backend', "MCPProxyBackend a https://h/mcp\nMCPProxyScopeRule b \"del_*\" admin",
      qr/no MCPProxyBackend b before this line in this section/, 'MCPProxyScopeRule' ],
    [ 'rule-before-backend', "MCPProxyScopeRule a \"del_*\" admin\nMCPProxyBackend a https://h/mcp",
      qr/no MCPProxyBackend a before this line/, 'MCPProxyScopeRule' ],
    [ 'rule-bad-kinds', "MCPProxyBackend a https://h/mcp\nMCPProxyScopeRule a \"del_*\" admin kinds=tools,widgets",
      qr/kinds: 'widgets' is not tools, prompts or resources/, 'MCPProxyScopeRule' ],
    [ 'rule-unknown-option', "MCPProxyBackend a https://h/mcp\nMCPProxyScopeRule a \"del_*\" admin color=red",
      qr/unknown option 'color' \(known: kinds\)/, 'MCPProxyScopeRule' ],
    [ 'rule-no-scope', "MCPProxyBackend a https://h/mcp\nMCPProxyScopeRule a \"del_*\"",
      qr/needs a backend name, a name pattern and at least one scope/, 'MCPProxyScopeRule' ],
    [ 'rule-only-kinds', "MCPProxyBackend a https://h/mcp\nMCPProxyScopeRule a \"del_*\" kinds=tools",
      qr/needs at least one scope/, 'MCPProxyScopeRule' ],
    [ 'rule-bad-scope', "MCPProxyBackend a https://h/mcp\nMCPProxyScopeRule a \"del_*\" \"a\\\"b\"",
      qr/is not a single OAuth scope token/, 'MCPProxyScopeRule' ],
    [ 'keepalive-zero', 'MCPProxyKeepAlive 0', qr/'0' must be a number of seconds from 1 to 3600/,
      'MCPProxyKeepAlive' ],
    [ 'keepalive-big', 'MCPProxyKeepAlive 3601', qr/from 1 to 3600/, 'MCPProxyKeepAlive' ],
    [ 'session-timeout-5', 'MCPProxySessionTimeout 5',
      qr/'5' must be a number of seconds from 60 to 604800/, 'MCPProxySessionTimeout' ],
    [ 'session-timeout-text', 'MCPProxySessionTimeout 1h', qr/number of seconds/,
      'MCPProxySessionTimeout' ],
    [ 'identity-authorization', 'MCPProxyIdentityHeader Authorization',
      qr/'Authorization' is a header the gateway sets itself/, 'MCPProxyIdentityHeader' ],
    [ 'identity-session', 'MCPProxyIdentityHeader mcp-session-id',
      qr/is a header the gateway sets itself/, 'MCPProxyIdentityHeader' ],
    [ 'identity-bad-name', 'MCPProxyIdentityHeader X-User:',
      qr/'X-User:' is not a header name/, 'MCPProxyIdentityHeader' ],
    # Server-wide only.
    [ 'cache-in-location', 'MCPProxySessionCache shmcb', qr/not allowed in <Location> context/,
      'MCPProxySessionCache' ],
);
if ($> != 0) {
    # Root reads any file, so unreadable files are tested as a user only.
    my $f = "$state/unreadable.token";
    MCPTest::make_file($f, "t\n", 0000);
    push @bad, [ 'unreadable-bearer', "MCPProxyBackend a https://h/mcp bearer_file=$f",
                 qr/cannot read file/ ];
}
else {
  SKIP: {
        skip("an unreadable bearer file: root reads every file (run as another user)", 2);
    }
}
for my $case (@bad) {
    my ($name, $lines, $re, $directive, $modules) = @$case;
    $directive //= 'MCPProxyBackend';
    my $r = httpd_run(name => "proxy-$name", modules => $modules || ['proxy'],
                      config => "<Location /mcp>\n$lines\n</Location>\n");
    ok(!$r->{started} && $r->{exit}, "$name: httpd refuses to start")
        or diag $r->{log};
    like($r->{log}, qr/\Q$directive\E.*$re|$re.*\Q$directive\E/, "$name: message names $directive")
        or diag $r->{log};
}

# MCPProxySessionCache: a provider that is not loaded, and the same
# directive naming another cache in a virtual host.
my $r = httpd_run(name => 'proxy-cache-unknown', modules => ['proxy'],
    config => "MCPProxySessionCache nosuchcache\n");
ok(!$r->{started} && $r->{exit}, 'MCPProxySessionCache naming an unknown provider: httpd refuses to start')
    or diag $r->{log};
like($r->{log}, qr/MCPProxySessionCache: unknown socache provider 'nosuchcache'/,
     'unknown cache provider: the message names the directive and the provider') or diag $r->{log};
$r = httpd_run(name => 'proxy-cache-vhost', modules => ['proxy'],
    config => "MCPProxySessionCache shmcb\n"
            . "<Location /mcp>\nMCPProxyBackend a https://h/mcp\n</Location>\n"
            . "<VirtualHost 127.0.0.1:*>\nServerName v.example\n"
            . "MCPProxySessionCache \"shmcb:$state/other-cache(65536)\"\n</VirtualHost>\n");
ok(!$r->{started} && $r->{exit}, 'MCPProxySessionCache differing in a virtual host: httpd refuses to start')
    or diag $r->{log};
like($r->{log}, qr/MCPProxySessionCache: .*names another cache than the main server/,
     'cache in a virtual host: the message names the directive') or diag $r->{log};
$r = httpd_run(name => 'proxy-cache-good', modules => ['proxy'],
    config => "MCPProxySessionCache \"shmcb:$state/proxy-sessions(512000)\"\n"
            . "<Location /mcp>\nMCPProxyBackend a https://h/mcp prefix=a_\n"
            . "MCPProxyScopeRule a \"del_*\" admin files:write kinds=tools,prompts\n"
            . "MCPProxyIdentityHeader X-Gateway-User\nMCPProxyKeepAlive 30\n"
            . "MCPProxySessionTimeout 600\n</Location>\n");
ok($r->{started}, 'every federation directive with a good value: httpd starts')
    or diag $r->{log};

# Loaded with no MCPProxyBackend anywhere (endpoints that answer ping
# only): it starts, and its children log no errors.
$r = httpd_run(name => 'proxy-no-backends', modules => ['proxy'],
    config => "<Location /mcp>\nSetHandler mcp-proxy\n</Location>\n");
ok($r->{started}, 'without any MCPProxyBackend: httpd starts') or diag $r->{log};
my @bad_lines = grep { /\[mcp_proxy:(?:error|crit|alert|emerg)\]/ } split /\n/, $r->{log};
is(scalar @bad_lines, 0, 'without any MCPProxyBackend: no error lines from mod_mcp_proxy')
    or diag join "\n", @bad_lines;

# The checks across lines see MCPProxyBackend in every kind of section
# and in every virtual host, nested sections included.
my $two = "MCPProxyBackend a https://h/1 prefix=x_\n"
        . "MCPProxyBackend b https://h/2 prefix=x_\n";
my $vhost = "<VirtualHost 127.0.0.1:*>\nServerName v.example\n%s</VirtualHost>\n";
my @sections = (
    [ 'files', "<Files \"*.mcp\">\n$two</Files>\n" ],
    [ 'filesmatch-in-directory', "<Directory \"$state\">\n<FilesMatch \"\\.mcp\$\">\n"
                               . "$two</FilesMatch>\n</Directory>\n" ],
    [ 'directorymatch', "<DirectoryMatch \"^/srv/mcp\">\n$two</DirectoryMatch>\n" ],
    [ 'locationmatch', "<LocationMatch \"^/mcp\">\n$two</LocationMatch>\n" ],
    [ 'if', "<If \"%{QUERY_STRING} =~ /x/\">\n$two</If>\n" ],
    [ 'else-in-location', "<Location /mcp>\n<If \"-n %{QUERY_STRING}\">\n</If>\n"
                        . "<ElseIf \"-n %{HTTP_COOKIE}\">\n</ElseIf>\n"
                        . "<Else>\n$two</Else>\n</Location>\n" ],
    [ 'if-in-if', "<Location /mcp>\n<If \"-n %{QUERY_STRING}\">\n"
                . "<If \"-n %{HTTP_COOKIE}\">\n$two</If>\n</If>\n</Location>\n" ],
    [ 'if-in-files-in-vhost', sprintf($vhost, "<Files \"*.mcp\">\n<If \"-n %{QUERY_STRING}\">\n"
                                    . "$two</If>\n</Files>\n") ],
);
for my $case (@sections) {
    my ($name, $config) = @$case;
    my $r = httpd_run(name => "proxy-section-$name", modules => ['proxy'],
                      config => $config);
    ok(!$r->{started} && $r->{exit}, "$name: same prefix twice stops httpd")
        or diag $r->{log};
    like($r->{log}, qr/MCPProxyBackend a .*same prefix=x_/,
         "$name: message names MCPProxyBackend") or diag $r->{log};
}
$r = httpd_run(name => 'proxy-section-if-idp', modules => ['proxy'],
    config => "<If \"-n %{QUERY_STRING}\">\n"
            . "MCPProxyBackend a https://h/mcp idp=github\n</If>\n");
ok(!$r->{started} && $r->{exit}, 'idp= in <If> without mod_mcp_idp stops httpd')
    or diag $r->{log};
like($r->{log}, qr/MCPProxyBackend a .*idp=github needs mod_mcp_idp/,
     '<If>: message names MCPProxyBackend') or diag $r->{log};

# idp= names a provider mod_mcp_idp declares for the server of the line:
# its own MCPIdPProvider lines or, without any, the main server's.
my $idp_store = "DBDriver sqlite3\nDBDParams \"$state/mcp.db\"\n"
              . "MCPIdPVaultKey \"$state/vault1.key\"\n";
my $gh = "MCPIdPProvider gh authorize=https://gh.example/a token=https://gh.example/t client_id=x\n";
my $local = "MCPIdPProvider local authorize=https://l.example/a token=https://l.example/t client_id=y\n";
$r = httpd_run(name => 'proxy-idp-known', modules => [qw(proxy idp)],
    config => $idp_store . $gh
            . "<Location /mcp>\nMCPProxyBackend a https://h/mcp idp=gh\n</Location>\n"
            . sprintf($vhost, "<Location /v>\nMCPProxyBackend b https://h/v idp=gh\n</Location>\n"));
ok($r->{started}, 'idp= naming a declared provider (and one inherited by a virtual host): starts')
    or diag $r->{log};
$r = httpd_run(name => 'proxy-idp-unknown', modules => [qw(proxy idp)],
    config => $idp_store . $gh . $local
            . "<Location /mcp>\nMCPProxyBackend a https://h/mcp idp=nope\n</Location>\n");
ok(!$r->{started} && $r->{exit}, 'idp= naming an undeclared provider stops httpd')
    or diag $r->{log};
like($r->{log}, qr/MCPProxyBackend a \(\S+:\d+\): idp=nope is not an MCPIdPProvider of the main server \(declared there: gh, local\)/,
     'unknown idp=: message names the directive, line, provider and the known ones')
    or diag $r->{log};
$r = httpd_run(name => 'proxy-idp-vhost', modules => [qw(proxy idp)],
    config => $idp_store . $gh
            . sprintf($vhost, $local . "<Location /v>\nMCPProxyBackend b https://h/v idp=gh\n</Location>\n"));
ok(!$r->{started} && $r->{exit}, 'idp= naming a provider the virtual host replaced stops httpd')
    or diag $r->{log};
like($r->{log}, qr/MCPProxyBackend b \(\S+:\d+\): idp=gh is not an MCPIdPProvider of virtual host .*\(declared there: local\)/,
     'unknown idp= in a virtual host: names it and its providers') or diag $r->{log};

# Prefixes that tell every name apart, with and without a backend that
# has none, and a backend scope: what the federation accepts starts.
$r = httpd_run(name => 'proxy-prefixes-good', modules => ['proxy'],
    config => "<Location /mcp>\n"
            . "MCPProxyBackend a https://h/1 prefix=gh_ scope=github:read\n"
            . "MCPProxyBackend b https://h/2 prefix=jira_\n"
            . "MCPProxyBackend c https://h/3\n</Location>\n");
ok($r->{started}, 'backends with distinct prefixes (and one without): httpd starts')
    or diag $r->{log};

# --- no unexpected errors in the server's log ----------------------------

my @errors = unexpected_errors($mark);
is(scalar @errors, 0, 'no unexpected errors in error_log') or diag @errors;

done_testing();
