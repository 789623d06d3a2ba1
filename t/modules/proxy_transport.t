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

# mod_mcp_proxy: the Streamable HTTP transport's rules toward the client
# (checklist section C): Origin, Host on loopback, Accept, methods,
# MCP-Protocol-Version, and the audit variables.

use strict;
use warnings FATAL => 'all';

use FindBin;
use lib "$FindBin::Bin/../lib";

use Apache::Test qw(-withtestmore);
use Apache::TestRequest ();
use JSON::PP ();
use Time::HiRes ();

use MCPTest qw(error_log_mark unexpected_errors raw_http httpd_run file_mark file_lines
               wait_until);
use MCPTest::OAuth ();

my $mark = error_log_mark();
my $json = JSON::PP->new->utf8->canonical;
my $ping = '{"jsonrpc":"2.0","id":1,"method":"ping"}';
my @accept = (Accept => 'application/json, text/event-stream');

Apache::TestRequest::module('mcp_proxy');
my $hostport = Apache::TestRequest::hostport();
my ($host, $port) = $hostport =~ /^(.*):(\d+)$/;

sub post {
    my ($path, %hdr) = @_;
    my $body = delete $hdr{_body} // $ping;
    $hdr{'Content-Type'} //= 'application/json';
    $hdr{Accept} //= $accept[1];
    # /mcp federates backends: a request other than initialize goes in a
    # session (the one opened below, unless the caller names another;
    # _nosession sends none).
    my $nosession = delete $hdr{_nosession};
    $hdr{'Mcp-Session-Id'} //= $main::sid if $path eq '/mcp' && !$nosession;
    delete $hdr{'Mcp-Session-Id'} unless defined $hdr{'Mcp-Session-Id'};
    return Apache::TestRequest::POST($path, %hdr, content => $body);
}

sub init_body {
    my $version = shift;
    return $json->encode({ jsonrpc => '2.0', id => 0, method => 'initialize',
                           params => { protocolVersion => $version, capabilities => {},
                                       clientInfo => { name => 'proxy_transport.t', version => '1' } } });
}

# A session of /mcp negotiated at $version (its backends are all left
# out: none answers here).
sub open_session {
    my $version = shift;
    my $res = post('/mcp', _body => init_body($version), _nosession => 1);
    is($res->code, 200, "initialize $version: 200");
    my $sid = $res->header('Mcp-Session-Id');
    like($sid // '', qr/^[A-Za-z0-9_-]{43}$/, "initialize $version: Mcp-Session-Id");
    return $sid;
}
our $sid;
$sid = open_session('2025-11-25');
# The transport's refusals come before the session is looked at: the
# same refusals without a session.

# A refusal of the transport: the status and a JSON-RPC error, id null.
sub is_refusal {
    my ($res, $status, $re, $name) = @_;
    is($res->code, $status, "$name: HTTP $status");
    my $m = eval { $json->decode($res->content) } || {};
    is($m->{error} && $m->{error}{code}, -32000, "$name: JSON-RPC -32000");
    ok(exists $m->{id} && !defined $m->{id}, "$name: id null");
    like($m->{error} && $m->{error}{message} // '', $re, "$name: says why");
}

# --- C1.2 Origin ------------------------------------------------------------

is(post('/mcp')->code, 200, 'no Origin (server-to-server client): served');
is(post('/mcp', Origin => "http://$hostport")->code, 200, 'same origin: served');
is(post('/mcp', Origin => 'http://' . uc($host) . ":$port")->code, 200,
   'same origin, host in upper case: served');
is_refusal(post('/mcp', Origin => 'http://evil.example'), 403,
           qr/Origin is not allowed/, 'another origin');
is_refusal(post('/mcp', Origin => "http://$host:" . ($port + 1)), 403,
           qr/Origin is not allowed/, 'same host, another port');
is_refusal(post('/mcp', Origin => "https://$hostport"), 403,
           qr/Origin is not allowed/, 'same host and port, https');
is_refusal(post('/mcp', Origin => 'null'), 403, qr/Origin is not allowed/,
           'Origin: null');
is_refusal(post('/mcp', Origin => 'https://app.example'), 403,
           qr/Origin is not allowed/, 'an origin listed for another location');
is_refusal(Apache::TestRequest::GET('/mcp', Origin => 'http://evil.example',
                                    Accept => 'text/event-stream', 'Mcp-Session-Id' => $sid),
           403, qr/Origin is not allowed/, 'another origin, GET');
is_refusal(post('/mcp', Origin => 'http://evil.example', _nosession => 1), 403,
           qr/Origin is not allowed/, 'another origin, no session');
is_refusal(post('/mcp', Origin => 'http://evil.example', _body => init_body('2025-11-25'),
                _nosession => 1), 403,
           qr/Origin is not allowed/, 'another origin, initialize');
is(post('/mcp', Origin => "http://$hostport", _body => init_body('2025-11-25'),
        _nosession => 1)->code, 200, 'same origin, initialize: served');

is(post('/mcp-origins', Origin => 'https://app.example')->code, 200,
   'MCPProxyAllowedOrigins: listed origin served');
is(post('/mcp-origins', Origin => 'https://APP.example:443')->code, 200,
   'listed origin with the default port and other case: served');
is(post('/mcp-origins', Origin => 'http://tools.example:8443')->code, 200,
   'listed origin with a port (configured in upper case): served');
is_refusal(post('/mcp-origins', Origin => 'http://tools.example'), 403,
           qr/Origin is not allowed/, 'listed host without its port');
is_refusal(post('/mcp-origins', Origin => 'http://app.example'), 403,
           qr/Origin is not allowed/, 'listed host with another scheme');
is(post('/mcp-origins', Origin => "http://$hostport")->code, 200,
   'MCPProxyAllowedOrigins: own origin still served');
is(post('/mcp-any-origin', Origin => 'http://evil.example')->code, 200,
   'MCPProxyAllowedOrigins *: any origin served');

# Under AuthType mcp: MCPAuthzAllowedOrigins counts too (through
# mcp_authz_origin_allowed), as does MCPProxyAllowedOrigins.
my $as = MCPTest::OAuth->new('mcp_proxy_as');
my $client = $as->register(client_name => 'Transport tests');
my $tok = $as->tokens('alice', $client, scope => 'mcp')->{access_token};
sub as_post {
    my (@hdr) = @_;
    return $as->request(POST => '/mcp', [ Authorization => "Bearer $tok",
                                          'Content-Type' => 'application/json',
                                          @accept, @hdr ], $ping);
}
ok($tok, 'a token for the endpoint under AuthType mcp');
is(as_post()->code, 200, 'AuthType mcp, no Origin: served');
my $res = as_post(Origin => 'http://localhost:6274');
is($res->code, 200, 'listed only in MCPAuthzAllowedOrigins: served');
is($res->header('Access-Control-Allow-Origin'), 'http://localhost:6274',
   'and its CORS header');
is(as_post(Origin => 'https://app.example')->code, 200,
   'listed only in MCPProxyAllowedOrigins: served');
is(as_post(Origin => $as->origin)->code, 200, 'AuthType mcp, same origin: served');
is_refusal(as_post(Origin => 'http://localhost:6275'), 403,
           qr/Origin is not allowed/, 'AuthType mcp, a listed host on another port');
is_refusal(as_post(Origin => 'http://evil.example'), 403,
           qr/Origin is not allowed/, 'AuthType mcp, another origin');
# The CORS preflight is still mod_mcp_authz's.
$res = $as->request(OPTIONS => '/mcp', [ Origin => 'http://localhost:6274',
                                         'Access-Control-Request-Method' => 'POST' ]);
is($res->code, 204, 'preflight from a listed origin: 204 from mod_mcp_authz');
is($res->header('Access-Control-Allow-Origin'), 'http://localhost:6274',
   'preflight: Access-Control-Allow-Origin');

# --- Host on a loopback server ----------------------------------------------

# The test server is reached on 127.0.0.1: a local server, whose Host
# must name a loopback host (any port).
sub raw_post_to {
    my ($path, $hosthdr, @more) = @_;
    push @more, "Mcp-Session-Id: $sid" if $path eq '/mcp';
    return raw_http($hostport,
        "POST $path HTTP/1.1\r\nHost: $hosthdr\r\nContent-Type: application/json\r\n"
      . "Accept: application/json, text/event-stream\r\n"
      . join('', map { "$_\r\n" } @more)
      . "Content-Length: " . length($ping) . "\r\nConnection: close\r\n\r\n$ping");
}
sub raw_post { return raw_post_to('/mcp', @_) }
for my $h ("localhost:$port", 'LocalHost', "127.0.0.1:$port", '127.0.0.2:1', "[::1]:$port") {
    like(raw_post($h), qr{^HTTP/1\.1 200 }, "Host: $h is loopback: served");
}
like(raw_http($hostport, "POST /mcp HTTP/1.1\r\nHost: evil.example.com\r\nContent-Type: application/json\r\n"
                       . "Accept: application/json, text/event-stream\r\n"
                       . "Content-Length: " . length($ping) . "\r\nConnection: close\r\n\r\n$ping"),
     qr{^HTTP/1\.1 403 }, 'Host: evil.example.com, no session: 403 (not the 400 of the session)');
for my $h ('evil.example.com', "evil.example.com:$port", '127.0.0.1.evil.example',
           'foo.localhost', '10.0.0.1', '[::2]') {
    my $raw = raw_post($h);
    like($raw, qr{^HTTP/1\.1 403 }, "Host: $h on a loopback server: 403");
    like($raw, qr/"code":-32000.*Host must name this loopback server|Host must name this loopback server.*"code":-32000/,
         "Host: $h: JSON-RPC error naming Host");
}
like(raw_http($hostport, "POST /mcp HTTP/1.0\r\nContent-Type: application/json\r\n"
                       . "Accept: application/json, text/event-stream\r\nMcp-Session-Id: $sid\r\n"
                       . "Content-Length: " . length($ping) . "\r\n\r\n$ping"),
     qr{^HTTP/1\.1 200 }, 'HTTP/1.0 without Host: served');

# MCPProxyAllowedHosts: the names a reverse proxy on the same machine
# forwards, in any case and with any port; only where it is set.
for my $h ('gw.example.com', 'GW.EXAMPLE.COM:443', 'gw2.example.com', "localhost:$port") {
    like(raw_post_to('/mcp-hosts', $h), qr{^HTTP/1\.1 200 },
         "MCPProxyAllowedHosts: Host: $h served");
}
for my $h ('evil.example.com', 'gw.example.com.evil', 'example.com') {
    like(raw_post_to('/mcp-hosts', $h), qr{^HTTP/1\.1 403 },
         "MCPProxyAllowedHosts: Host: $h still 403");
}
like(raw_post('gw.example.com'), qr{^HTTP/1\.1 403 },
     'a host allowed at another location only: 403');

# --- C2.1 Accept -------------------------------------------------------------

for my $a ('application/json, text/event-stream', 'text/event-stream,application/json',
           'APPLICATION/JSON;q=0.5, Text/Event-Stream;q=0.1', '*/*',
           'application/*, text/*', 'application/json, text/*;q=0.2',
           'text/html, */*;q=0.8', 'application/json;charset=utf-8, text/event-stream',
           'application/json , text/event-stream ; q=1.0') {
    is(post('/mcp', Accept => $a)->code, 200, "POST, Accept: $a: served");
}
for my $a ('application/json', 'text/event-stream', 'text/*', 'application/*',
           'application/json, text/event-stream;q=0', 'application/json;q=0, text/event-stream',
           '*/*, application/json;q=0', 'text/event-stream, application/*;q=0.0',
           'text/html', 'application/jsonx, text/event-streamx', 'application/json, text/event-stream;q=x') {
    is_refusal(post('/mcp', Accept => $a), 406, qr/accept both application\/json and text\/event-stream/,
               "POST, Accept: $a");
}
my $raw = raw_http($hostport,
    "POST /mcp HTTP/1.1\r\nHost: $hostport\r\nContent-Type: application/json\r\n"
  . "Content-Length: " . length($ping) . "\r\nConnection: close\r\n\r\n$ping");
like($raw, qr{^HTTP/1\.1 406 }, 'POST without Accept: 406');
is_refusal(post('/mcp', Accept => 'application/json', _nosession => 1), 406,
           qr/accept both/, 'POST, Accept: application/json, no session');
like($raw, qr/"code":-32000/, 'POST without Accept: JSON-RPC -32000');

# --- C3.1/C5.4 GET and DELETE ---------------------------------------------------

sub req {
    my ($method, @hdr) = @_;
    my $path = '/mcp';
    ($path, @hdr) = @hdr if @hdr % 2;
    return Apache::TestRequest::user_agent()->request(
        HTTP::Request->new($method => Apache::TestRequest::resolve_url($path), [ @hdr ]));
}
# A refusal of the session rules: the status, the code, id null.
sub is_session_refusal {
    my ($res, $status, $code, $re, $name) = @_;
    is($res->code, $status, "$name: HTTP $status");
    my $m = eval { $json->decode($res->content) } || {};
    is($m->{error} && $m->{error}{code}, $code, "$name: JSON-RPC $code");
    ok(exists $m->{id} && !defined $m->{id}, "$name: id null");
    like($m->{error} && $m->{error}{message} // '', $re, "$name: says why");
}
# A session whose backends all failed has no stream to offer: 405, and
# the methods the endpoint has.
for my $a ('text/event-stream', '*/*', 'text/*', 'application/json, text/event-stream') {
    $res = req(GET => Accept => $a, 'Mcp-Session-Id' => $sid);
    is_refusal($res, 405, qr/no backend of this session offers a stream/,
               "GET, Accept: $a (no backend stream)");
    is($res->header('Allow'), 'POST, DELETE', "GET, Accept: $a: Allow: POST, DELETE");
}
is_session_refusal(req(GET => Accept => 'text/event-stream'), 400, -32000,
                   qr/Mcp-Session-Id header is required/, 'GET without a session');
is_session_refusal(req(GET => Accept => 'text/event-stream', 'Mcp-Session-Id' => 'x' x 43),
                   404, -32001, qr/Session not found/, 'GET with an unknown session');
for my $a ('application/json', 'text/event-stream;q=0', undef) {
    is_refusal(req(GET => defined $a ? (Accept => $a) : (), 'Mcp-Session-Id' => $sid), 406,
               qr/accept text\/event-stream/, 'GET, Accept: ' . ($a // 'none'));
}
# HEAD is a GET to httpd: it opens no stream (405, and no body, as HEAD).
$res = req(HEAD => Accept => 'text/event-stream', 'Mcp-Session-Id' => $sid);
is($res->code, 405, 'HEAD: 405');
is($res->header('Allow'), 'GET, POST, DELETE', 'HEAD: Allow: GET, POST, DELETE');
is($res->content, '', 'HEAD: no body');
for my $m (qw(PUT PATCH OPTIONS)) {
    $res = req($m => 'Mcp-Session-Id' => $sid);
    is_refusal($res, 405, qr/takes POST/, "$m");
    is($res->header('Allow'), 'GET, POST, DELETE', "$m: Allow: GET, POST, DELETE");
}
# Without MCPProxyBackend there are no sessions: POST only.
for my $m (qw(GET DELETE PUT PATCH OPTIONS)) {
    $res = req($m => '/mcp-origins', Accept => 'text/event-stream', 'Mcp-Session-Id' => 'abc');
    is_refusal($res, 405, qr/takes POST/, "$m at an endpoint without backends");
    is($res->header('Allow'), 'POST', "$m without backends: Allow: POST");
}
is_session_refusal(req(DELETE => 'Mcp-Session-Id' => 'abc'), 404, -32001,
                   qr/Session not found/, 'DELETE of an unknown session');
is_session_refusal(req('DELETE'), 400, -32000, qr/Mcp-Session-Id header is required/,
                   'DELETE without a session');
{
    my $gone = open_session('2025-06-18');
    $res = req(DELETE => 'Mcp-Session-Id' => $gone);
    is($res->code, 204, 'DELETE of a session: 204');
    is($res->content, '', 'DELETE: no body');
    is_session_refusal(post('/mcp', 'Mcp-Session-Id' => $gone), 404, -32001,
                       qr/Session not found/, 'POST in a deleted session');
    is_session_refusal(req(DELETE => 'Mcp-Session-Id' => $gone), 404, -32001,
                       qr/Session not found/, 'DELETE of a deleted session');
}

# --- C6.1 MCP-Protocol-Version --------------------------------------------------

for my $v ('2025-03-26', '2025-06-18', '2025-11-25') {
    is(post('/mcp', 'MCP-Protocol-Version' => $v)->code, 200, "MCP-Protocol-Version $v: served");
}
for my $v ('2024-11-05', '2026-07-28', '2025-06-18x', 'garbage', '2025-11-25, 2025-06-18') {
    is_refusal(post('/mcp', 'MCP-Protocol-Version' => $v), 400,
               qr/unsupported MCP-Protocol-Version.*2025-03-26, 2025-06-18, 2025-11-25/,
               "MCP-Protocol-Version $v");
}
for my $v ('2024-11-05', 'garbage') {
    is_refusal(post('/mcp', 'MCP-Protocol-Version' => $v, _nosession => 1), 400,
               qr/unsupported MCP-Protocol-Version/, "MCP-Protocol-Version $v, no session");
}
# Batches: in a session negotiated at 2025-03-26, the only revision with
# them.
my $batch = '[{"jsonrpc":"2.0","id":1,"method":"ping"},{"jsonrpc":"2.0","id":2,"method":"ping"}]';
our $sid03 = open_session('2025-03-26');
$res = post('/mcp', _body => $batch, 'Mcp-Session-Id' => $sid03);
is($res->code, 200, 'batch in a 2025-03-26 session without MCP-Protocol-Version: 200');
my $answers = eval { $json->decode($res->content) } || [];
is(ref $answers, 'ARRAY', 'batch: an array');
is(scalar @$answers, 2, 'batch: both answered');
is(post('/mcp', _body => $batch, 'MCP-Protocol-Version' => '2025-03-26',
        'Mcp-Session-Id' => $sid03)->code, 200,
   'batch with 2025-03-26 in a 2025-03-26 session: 200');
my %by_version = ('2025-06-18' => open_session('2025-06-18'), '2025-11-25' => $sid);
for my $v ('2025-06-18', '2025-11-25') {
    $res = post('/mcp', _body => $batch, 'MCP-Protocol-Version' => $v,
                'Mcp-Session-Id' => $by_version{$v});
    is($res->code, 400, "batch in a $v session: 400");
    like($res->content, qr/batches are only supported with MCP protocol version 2025-03-26/,
         "batch in a $v session: says why");
}
# The session's version counts, not a header a client sends later.
$res = post('/mcp', _body => $batch, 'MCP-Protocol-Version' => '2025-03-26',
            'Mcp-Session-Id' => $sid);
is($res->code, 400, 'batch with MCP-Protocol-Version 2025-03-26 in a 2025-11-25 session: 400');

# --- audit variables: MCP_METHOD, MCP_TOOL ----------------------------------

my @logged = (
    [ '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"gh_search","arguments":{}}}',
      '/mcp', 'tools/call|gh_search|/mcp|200', 'tools/call: method and tool' ],
    [ '{"jsonrpc":"2.0","id":2,"method":"tools/list"}', '/mcp-origins',
      'tools/list|-|/mcp-origins|200', 'tools/list: the method, no tool' ],
    [ '{"jsonrpc":"2.0","method":"notifications/initialized"}', '/mcp-any-origin',
      'notifications/initialized|-|/mcp-any-origin|202', 'a notification' ],
    [ '[{"jsonrpc":"2.0","id":1,"method":"ping"}]', '/mcp',
      'batch|-|/mcp|200', 'a batch', $sid03 ],
    [ '[{"jsonrpc":"2.0","id":1,"method":"ping"}]', '/mcp-small',
      'batch|-|/mcp-small|400', 'a batch where there are no backends' ],
    [ '{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"gh_search"}}', '/mcp',
      'tools/call|gh_search|/mcp|400', 'tools/call without a session', '' ],
    [ '{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":7}}', '/mcp',
      'tools/call|-|/mcp|200', 'tools/call with a name that is no string: no tool' ],
);
# httpd writes a request's log line after its answer: wait until the
# lines of the requests before are written, so that the mark is after
# them.
sub settled_mark {
    my $name = shift;
    my $size = file_mark($name);
    for (1 .. 25) {
        Time::HiRes::sleep(0.2);
        my $now = file_mark($name);
        return $now if $now == $size;
        $size = $now;
    }
    return $size;
}
for my $case (@logged) {
    my ($body, $path, $want, $name, $session) = @$case;
    my $lmark = settled_mark('mcp_proxy_env_log');
    post($path, _body => $body,
         defined $session ? (length $session ? ('Mcp-Session-Id' => $session) : (_nosession => 1)) : ());
    my ($line) = wait_until(sub { (grep { m{\|\Q$path\E\|} } file_lines('mcp_proxy_env_log', $lmark))[0] }, 5);
    is($line, $want, "access log: $name");
}

for my $bad ('https://app.example/path', 'ftp://app.example', 'app.example') {
    my $r = httpd_run(name => 'proxy-origins-bad', modules => ['proxy'],
        config => "<Location /mcp>\nMCPProxyAllowedOrigins $bad\n</Location>\n");
    ok(!$r->{started} && $r->{exit}, "MCPProxyAllowedOrigins $bad: httpd refuses to start")
        or diag $r->{log};
    like($r->{log}, qr/MCPProxyAllowedOrigins: '\Q$bad\E'/, "$bad: the message names the directive")
        or diag $r->{log};
}

# --- no unexpected errors in the server's log ----------------------------

my @errors = unexpected_errors($mark);
is(scalar @errors, 0, 'no unexpected errors in error_log') or diag @errors;

done_testing();
