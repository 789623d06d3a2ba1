#!/usr/bin/perl
# Licensed under the Apache License, Version 2.0; see the README.
#
# The HTTP checks of the package test, run inside the fresh Debian root
# (no curl there; perl comes with apache2, with HTTP::Tiny and JSON::PP).
# One check per call; exit status 0 when it holds, else 1 with the reason
# on stderr. What a later check needs (a client id, the key ids) goes to
# stdout.
#
#   http.pl metadata  BASE            RFC 8414 authorization server metadata
#   http.pl prm       BASE            RFC 9728 metadata of BASE/mcp
#   http.pl challenge BASE            POST /mcp without a token: 401 + challenge
#   http.pl login     BASE USER PASS  /oauth/authorize is behind Basic auth
#   http.pl register  BASE            dynamic registration; prints client_id
#   http.pl consent   BASE USER PASS CLIENT_ID   the client's consent page
#   http.pl jwks      BASE            prints the key ids of the JWKS
use strict;
use warnings;
use HTTP::Tiny;
use JSON::PP;
use MIME::Base64;

my ($cmd, $base, @args) = @ARGV;
die "usage: http.pl <check> BASE [args]\n" unless $cmd && $base;
my $http = HTTP::Tiny->new(timeout => 20, max_redirect => 0, agent => 'mod_mcp-package-test');

sub fail { print STDERR "@_\n"; exit 1; }

sub show {
    my ($r) = @_;
    my $h = join('', map { "$_: " . (ref $r->{headers}{$_} ? join(', ', @{$r->{headers}{$_}}) : $r->{headers}{$_}) . "\n" }
                     sort keys %{$r->{headers}});
    my $body = substr($r->{content} // '', 0, 600);
    return "$r->{status} $r->{reason}\n$h\n$body";
}

sub json_of {
    my ($r, $what) = @_;
    fail("$what: HTTP $r->{status}, not 200\n" . show($r)) unless $r->{status} == 200;
    my $ct = $r->{headers}{'content-type'} // '';
    fail("$what: content type '$ct', not application/json\n" . show($r)) unless $ct =~ m{^application/json};
    my $doc = eval { decode_json($r->{content}) };
    fail("$what: not JSON: $@\n" . show($r)) unless ref $doc eq 'HASH';
    return $doc;
}

sub basic { return 'Basic ' . encode_base64("$_[0]:$_[1]", ''); }

sub b64url { my $s = encode_base64($_[0], ''); $s =~ tr{+/}{-_}; $s =~ s/=+$//; return $s; }

if ($cmd eq 'metadata') {
    my $url = "$base/.well-known/oauth-authorization-server";
    my $m = json_of($http->get($url), $url);
    fail("issuer is '$m->{issuer}', not '$base'") unless ($m->{issuer} // '') eq $base;
    for my $k (qw(authorization_endpoint token_endpoint jwks_uri)) {
        fail("$k missing or not below the issuer: " . ($m->{$k} // 'none'))
            unless ($m->{$k} // '') =~ m{^\Q$base\E/};
    }
    fail("code_challenge_methods_supported lacks S256")
        unless grep { $_ eq 'S256' } @{$m->{code_challenge_methods_supported} // []};
    exit 0;
}
if ($cmd eq 'prm') {
    my $url = "$base/.well-known/oauth-protected-resource/mcp";
    my $m = json_of($http->get($url), $url);
    fail("resource is '" . ($m->{resource} // 'none') . "', not '$base/mcp'")
        unless ($m->{resource} // '') eq "$base/mcp";
    fail("authorization_servers does not name '$base'")
        unless grep { $_ eq $base } @{$m->{authorization_servers} // []};
    exit 0;
}
if ($cmd eq 'challenge') {
    my $r = $http->post("$base/mcp", {
        headers => { 'Content-Type' => 'application/json', 'Accept' => 'application/json, text/event-stream' },
        content => '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"package-test","version":"1"}}}',
    });
    fail("POST /mcp without a token: HTTP $r->{status}, not 401\n" . show($r)) unless $r->{status} == 401;
    my $w = $r->{headers}{'www-authenticate'} // '';
    $w = join(', ', @$w) if ref $w;
    my $rm = "$base/.well-known/oauth-protected-resource/mcp";
    fail("WWW-Authenticate '$w' is not a Bearer challenge with resource_metadata=\"$rm\" and scope=\"mcp\"")
        unless $w =~ /^Bearer\b/ && index($w, qq{resource_metadata="$rm"}) >= 0 && $w =~ /\bscope="mcp"/;
    print "$w\n";
    exit 0;
}
if ($cmd eq 'login') {
    my ($user, $pass) = @args;
    my $r = $http->get("$base/oauth/authorize");
    my $w = $r->{headers}{'www-authenticate'} // '';
    fail("/oauth/authorize without credentials: HTTP $r->{status}, not 401 Basic\n" . show($r))
        unless $r->{status} == 401 && $w =~ /^Basic\b/;
    $r = $http->get("$base/oauth/authorize", { headers => { Authorization => basic($user, $pass) } });
    fail("/oauth/authorize with the user's password still answers 401\n" . show($r)) if $r->{status} == 401;
    $r = $http->get("$base/oauth/authorize", { headers => { Authorization => basic($user, "not-$pass") } });
    fail("/oauth/authorize with a wrong password: HTTP $r->{status}, not 401") unless $r->{status} == 401;
    exit 0;
}
if ($cmd eq 'register') {
    my $r = $http->post("$base/oauth/register", {
        headers => { 'Content-Type' => 'application/json' },
        content => encode_json({
            client_name => 'mod_mcp package test',
            redirect_uris => ['http://127.0.0.1:9/callback'],
            token_endpoint_auth_method => 'none',
            grant_types => ['authorization_code', 'refresh_token'],
            response_types => ['code'],
        }),
    });
    fail("POST /oauth/register: HTTP $r->{status}, not 201\n" . show($r)) unless $r->{status} == 201;
    my $c = eval { decode_json($r->{content}) } // {};
    fail("no client_id in the registration response\n" . show($r)) unless $c->{client_id};
    print "$c->{client_id}\n";
    exit 0;
}
if ($cmd eq 'consent') {
    my ($user, $pass, $client) = @args;
    my $verifier = b64url(join('', map { chr(int(rand(256))) } 1 .. 32));
    my $challenge = do { require Digest::SHA; b64url(Digest::SHA::sha256($verifier)) };
    my %q = (response_type => 'code', client_id => $client,
             redirect_uri => 'http://127.0.0.1:9/callback', scope => 'mcp',
             state => 'package-test', resource => "$base/mcp",
             code_challenge => $challenge, code_challenge_method => 'S256');
    my $url = "$base/oauth/authorize?" . $http->www_form_urlencode(\%q);
    my $r = $http->get($url, { headers => { Authorization => basic($user, $pass) } });
    fail("the consent page of client $client: HTTP $r->{status}, not 200\n" . show($r)) unless $r->{status} == 200;
    fail("the consent page does not name the client\n" . show($r))
        unless ($r->{content} // '') =~ /mod_mcp package test/;
    exit 0;
}
if ($cmd eq 'jwks') {
    my $url = "$base/oauth/jwks";
    my $j = json_of($http->get($url), $url);
    my @kids = sort map { $_->{kid} // '' } @{$j->{keys} // []};
    fail("no keys in the JWKS") unless @kids;
    print join(' ', @kids), "\n";
    exit 0;
}
die "unknown check '$cmd'\n";
