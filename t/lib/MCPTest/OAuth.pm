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

# The OAuth dance against one authorization server of the suite (a
# <VirtualHost> of t/conf/extra.conf.in), as an MCP client and a user's
# browser do it: register a client, authorize as a user signed in with
# Basic, read and submit the consent form, exchange the code, refresh,
# revoke, introspect. Also what the hostile cases need: PKCE pairs, the
# parts of a JWT, tokens signed with the suite's keys (or forged ones),
# the twin of an ES256 signature.
#
# Every request goes to 127.0.0.1:<the vhost's port> and never follows
# a redirect: the tests look at each Location themselves.
package MCPTest::OAuth;

use strict;
use warnings FATAL => 'all';

use Digest::SHA ();
use File::Spec;
use File::Temp ();
use HTTP::Request ();
use JSON::PP ();
use LWP::UserAgent ();
use Math::BigInt ();
use MIME::Base64 ();
use URI ();
use URI::Escape ();
use Test::More ();

use MCPTest ();

our $JSON = JSON::PP->new->utf8->canonical;

# Every code, token and client secret the server handed out to this
# process, for logged_secrets().
our %SEEN;

sub seen {
    for my $v (@_) {
        $SEEN{$v} = 1 if defined $v && length $v >= 16;
    }
}

# Lines of the modules (tagged MCPnnnnn) in error_log since $mark that
# hold one of the secrets seen so far (checklist A4.6). httpd's own trace
# lines (request headers at LogLevel trace4) are not the modules' doing.
sub logged_secrets {
    my $mark = shift;
    my @bad;
    open my $fh, '<', MCPTest::error_log_file() or return ();
    seek $fh, $mark || 0, 0;
    while (my $line = <$fh>) {
        next unless $line =~ /\[mcp_\w+:\w+\].*MCP\d{5}:/;
        push @bad, $line if grep { index($line, $_) >= 0 } keys %SEEN;
    }
    close $fh;
    return @bad;
}

# The last checks of every OAuth test file: no module log line since
# $mark holds a secret this test was given (A4.6), and error_log has no
# unexpected errors.
sub check_error_log {
    my $mark = shift;
    my @leaks = logged_secrets($mark);
    Test::More::is(scalar @leaks, 0,
                   'A4.6 no code, token or client secret in a log line of the module')
        or Test::More::diag(@leaks);
    Test::More::ok(scalar(keys %SEEN) > 0,
                   'A4.6 ... checked against the secrets this test was given');
    my @errors = MCPTest::unexpected_errors($mark);
    Test::More::is(scalar @errors, 0, 'no unexpected errors in error_log')
        or Test::More::diag(@errors);
}

# The redirect URI of the scripted clients: loopback, any port (RFC 8252).
our $REDIRECT = 'http://127.0.0.1:53682/callback';

# The order n of P-256.
my $P256_N = Math::BigInt->from_hex(
    'FFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551');

# new($vhost, path => '/tenant'): the server of <VirtualHost $vhost>,
# whose issuer is http://127.0.0.1:<port><path>.
sub new {
    my ($class, $vhost, %o) = @_;
    my $port = MCPTest::vhost_port($vhost);
    my $origin = "http://127.0.0.1:$port";
    my $path = $o{path} // '';
    my $ua = LWP::UserAgent->new(max_redirect => 0, timeout => 30,
                                 keep_alive => 0, agent => 'mcp-test/1');
    $ua->requests_redirectable([]);
    $ua->no_proxy('127.0.0.1');
    $ua->proxy([qw(http https)], undef);
    return bless {
        vhost    => $vhost,
        port     => $port,
        origin   => $origin,
        issuer   => $origin . $path,
        endpoint => $origin . $path . '/oauth',
        ua       => $ua,
    }, $class;
}

sub port   { $_[0]{port} }
sub origin { $_[0]{origin} }
sub issuer { $_[0]{issuer} }

# The absolute URL of $path (a path, or an endpoint name).
sub url {
    my ($self, $path) = @_;
    return $path if $path =~ m{^https?://};
    return "$self->{endpoint}/$path" if $path !~ m{^/};
    return $self->{origin} . $path;
}

sub request {
    my ($self, $method, $path, $headers, $content) = @_;
    my $req = HTTP::Request->new($method => $self->url($path));
    my @h = @{ $headers || [] };
    while (my ($k, $v) = splice @h, 0, 2) {
        $req->header($k => $v);
    }
    if (defined $content) {
        $req->content($content);
        $req->header('Content-Length' => length $content);
    }
    return $self->{ua}->request($req);
}

sub get {
    my ($self, $path, @headers) = @_;
    return $self->request(GET => $path, \@headers);
}

# application/x-www-form-urlencoded, parameters in the given order
# (pairs, so that a parameter can be given twice).
sub form_encode {
    my @pairs = @_;
    my @out;
    while (my ($k, $v) = splice @pairs, 0, 2) {
        push @out, URI::Escape::uri_escape_utf8($k) . '='
                 . URI::Escape::uri_escape_utf8($v // '');
    }
    return join '&', @out;
}

sub post_form {
    my ($self, $path, $pairs, @headers) = @_;
    return $self->request(POST => $path,
                          [ 'Content-Type' => 'application/x-www-form-urlencoded',
                            @headers ],
                          form_encode(@$pairs));
}

sub post_json {
    my ($self, $path, $body, @headers) = @_;
    $body = $JSON->encode($body) if ref $body;
    return $self->request(POST => $path,
                          [ 'Content-Type' => 'application/json', @headers ],
                          $body);
}

# The JSON body of $res, or undef.
sub json {
    my $res = ref $_[0] eq __PACKAGE__ ? $_[1] : $_[0];
    my $v = eval { $JSON->decode($res->content) };
    return $v;
}

sub basic_header {
    my ($id, $secret) = @_;
    return 'Basic ' . MIME::Base64::encode_base64(
        URI::Escape::uri_escape_utf8($id) . ':'
        . URI::Escape::uri_escape_utf8($secret), '');
}

sub user_auth {
    my $user = shift;
    my $pw = $MCPTest::USERS{$user} // die "no test user $user\n";
    return (Authorization => 'Basic '
            . MIME::Base64::encode_base64("$user:$pw", ''));
}

# --- base64url, PKCE, JWTs ----------------------------------------------------

sub b64u {
    my $s = MIME::Base64::encode_base64(shift, '');
    $s =~ tr{+/}{-_};
    $s =~ s/=+$//;
    return $s;
}

sub b64u_decode {
    my $s = shift;
    $s =~ tr{-_}{+/};
    $s .= '=' x ((4 - length($s) % 4) % 4);
    return MIME::Base64::decode_base64($s);
}

# A fresh (verifier, S256 challenge) pair.
sub pkce {
    my $verifier = b64u(MCPTest::random_bytes(32));
    return ($verifier, b64u(Digest::SHA::sha256($verifier)));
}

# (header, claims, signature bytes) of a JWS in compact form.
sub jwt_parts {
    my $jwt = ref $_[0] eq __PACKAGE__ ? $_[1] : $_[0];
    my ($h, $p, $s) = split /\./, $jwt // '', 3;
    my $header = eval { $JSON->decode(b64u_decode($h // '')) };
    my $claims = eval { $JSON->decode(b64u_decode($p // '')) };
    return ($header, $claims, b64u_decode($s // ''));
}

# The public point of an EC P-256 PEM key as base64url (x, y).
sub public_xy {
    my $pem = shift;
    my $der = `openssl pkey -in '$pem' -pubout -outform DER 2>/dev/null`;
    # SubjectPublicKeyInfo for P-256 ends with 04 || X(32) || Y(32).
    my $point = substr($der, -65);
    return (undef, undef)
        unless length($point) == 65 && substr($point, 0, 1) eq "\x04";
    return (b64u(substr($point, 1, 32)), b64u(substr($point, 33, 32)));
}

# The kid this server's JWKS gives the key in $pem.
sub kid_of {
    my ($self, $pem) = @_;
    my ($x) = public_xy($pem);
    my $jwks = json($self->get('jwks')) || {};
    my ($k) = grep { ($_->{x} // '') eq ($x // '-') } @{ $jwks->{keys} || [] };
    return $k ? $k->{kid} : undef;
}

# DER ECDSA-Sig-Value -> R || S, 32 bytes each.
sub der_to_raw {
    my $der = shift;
    my @b = unpack 'C*', $der;
    my $i = 0;
    die "not a DER SEQUENCE\n" unless $b[$i++] == 0x30;
    my $len = $b[$i++];
    $i += $len & 0x7f if $len & 0x80;
    my @ints;
    for (1, 2) {
        die "not a DER INTEGER\n" unless $b[$i++] == 0x02;
        my $n = $b[$i++];
        my $v = pack 'C*', @b[$i .. $i + $n - 1];
        $i += $n;
        $v =~ s/^\x00+//;
        die "integer too long\n" if length $v > 32;
        push @ints, ("\x00" x (32 - length $v)) . $v;
    }
    return join '', @ints;
}

sub encode_part {
    my $v = shift;
    return b64u(ref $v ? $JSON->encode($v) : $v);
}

# An ES256 JWS over $header and $claims (hashes, or strings taken as the
# JSON text) signed with the PEM key $keyfile. The signature has a low S,
# as the module insists (see high_s_twin()).
sub sign_es256 {
    my ($header, $claims, $keyfile) = @_;
    my $input = encode_part($header) . '.' . encode_part($claims);
    my $tmp = File::Temp->new;
    print $tmp $input;
    close $tmp;
    my $der = `openssl dgst -sha256 -sign '$keyfile' '$tmp' 2>/dev/null`;
    die "openssl dgst -sign failed\n" if $? || !length $der;
    my $jws = $input . '.' . b64u(der_to_raw($der));
    return s_is_high($jws) ? high_s_twin($jws) : $jws;
}

# The same with HMAC-SHA256 and a key of our choosing.
sub sign_hs256 {
    my ($header, $claims, $key) = @_;
    my $input = encode_part($header) . '.' . encode_part($claims);
    return $input . '.' . b64u(Digest::SHA::hmac_sha256($input, $key));
}

# The other valid signature of an ES256 JWS: R | n - S.
sub high_s_twin {
    my $jwt = ref $_[0] eq __PACKAGE__ ? $_[1] : $_[0];
    my ($h, $p, $s) = split /\./, $jwt, 3;
    my $sig = b64u_decode($s);
    my $sv = Math::BigInt->from_hex(unpack 'H*', substr($sig, 32, 32));
    my $hex = $P256_N->copy->bsub($sv)->as_hex;
    $hex =~ s/^0x//;
    $hex = ('0' x (64 - length $hex)) . $hex;
    return "$h.$p." . b64u(substr($sig, 0, 32) . pack('H*', $hex));
}

# Is S of an ES256 JWS above n/2?
sub s_is_high {
    my $jwt = shift;
    my (undef, undef, $sig) = jwt_parts($jwt);
    my $sv = Math::BigInt->from_hex(unpack 'H*', substr($sig, 32, 32));
    return $sv->bcmp($P256_N->copy->brsft(1)) > 0;
}

# --- registration ------------------------------------------------------------

# POST the registration request %meta (JSON); returns ($res, $doc).
sub register_raw {
    my ($self, $meta, @headers) = @_;
    my $res = $self->post_json('register', $meta, @headers);
    my $doc = json($res);
    seen(map { $doc->{$_} } qw(client_secret)) if ref $doc eq 'HASH';
    return ($res, $doc);
}

# A registered client: its registration response (client_id, and
# client_secret for a confidential one). Dies when registration fails.
sub register {
    my ($self, %meta) = @_;
    my @headers = @{ delete $meta{_headers} || [] };
    my %body = (
        client_name => 'mod_mcp test client',
        redirect_uris => [ $REDIRECT ],
        grant_types => [ 'authorization_code', 'refresh_token' ],
        response_types => [ 'code' ],
        token_endpoint_auth_method => 'none',
        %meta,
    );
    my ($res, $doc) = $self->register_raw(\%body, @headers);
    die 'registration failed: ' . $res->status_line . ' ' . $res->content . "\n"
        unless $res->code == 201 && $doc && $doc->{client_id};
    return $doc;
}

# --- the authorization endpoint ---------------------------------------------

# The query of an authorization request for $client: PKCE, state,
# resource and scope unless given (undef removes a parameter).
sub authorize_params {
    my ($self, $client, %p) = @_;
    my ($verifier, $challenge) = pkce();
    my %q = (
        response_type => 'code',
        client_id => ref $client ? $client->{client_id} : $client,
        redirect_uri => $REDIRECT,
        code_challenge => $challenge,
        code_challenge_method => 'S256',
        state => 'st-' . b64u(MCPTest::random_bytes(9)),
        %p,
    );
    delete $q{$_} for grep { !defined $q{$_} } keys %q;
    return (\%q, $verifier);
}

sub query_string {
    my $q = shift;
    return form_encode(map { ($_ => $q->{$_}) } sort keys %$q);
}

# GET the authorization endpoint as $user (undef: without credentials).
sub authorize_get {
    my ($self, $user, $q, @headers) = @_;
    my $url = $self->url('authorize') . '?' . (ref $q ? query_string($q) : $q);
    return $self->request(GET => $url,
                          [ ($user ? user_auth($user) : ()), @headers ]);
}

sub html_unescape {
    my $s = shift;
    $s =~ s/&quot;/"/g;
    $s =~ s/&#39;/'/g;
    $s =~ s/&#x27;/'/g;
    $s =~ s/&lt;/</g;
    $s =~ s/&gt;/>/g;
    $s =~ s/&amp;/&/g;
    return $s;
}

# The hidden fields of the consent form in $html, as a hash.
sub consent_fields {
    my $html = ref $_[0] eq __PACKAGE__ ? $_[1] : $_[0];
    my %f;
    while ($html =~ /<input type="hidden" name="([^"]+)" value="([^"]*)">/g) {
        $f{$1} = html_unescape($2);
    }
    return \%f;
}

# POST the consent form $fields with $decision as $user; Origin is the
# issuer's unless given (undef: no Origin header).
sub consent_post {
    my ($self, $user, $fields, $decision, %o) = @_;
    my $origin = exists $o{origin} ? $o{origin} : $self->{origin};
    my @pairs = map { ($_ => $fields->{$_}) } sort keys %$fields;
    push @pairs, decision => $decision if defined $decision;
    return $self->post_form('authorize', \@pairs, user_auth($user),
                            (defined $origin ? (Origin => $origin) : ()));
}

# The query parameters of the Location of $res (a hash; {} without one).
sub location_params {
    my $res = ref $_[0] eq __PACKAGE__ ? $_[1] : $_[0];
    my $loc = $res->header('Location') // return {};
    my %p = URI->new($loc)->query_form;
    seen(map { $p{$_} } qw(code));
    return \%p;
}

# A whole authorization as $user: the request, the consent page when one
# comes, Allow (or $o{decision}). Returns a hash: res (the last
# response), page (the consent page or undef), params (of the redirect),
# code, verifier, query (the request's parameters).
sub authorize {
    my ($self, $user, $client, %p) = @_;
    my $decision = delete $p{_decision} // 'allow';
    my ($q, $verifier) = $self->authorize_params($client, %p);
    my $res = $self->authorize_get($user, $q);
    my $page;
    if ($res->code == 200 && $res->content =~ /name="csrf"/) {
        $page = $res->content;
        $res = $self->consent_post($user, consent_fields($page), $decision);
    }
    my $params = location_params($res);
    return { res => $res, page => $page, params => $params,
             code => $params->{code}, verifier => $verifier, query => $q };
}

# --- the token endpoint -----------------------------------------------------

# POST to the token endpoint (or $o{endpoint}); $o{basic} = [id, secret]
# authenticates with Basic. Returns ($res, $doc).
sub token_raw {
    my ($self, $pairs, %o) = @_;
    my @h = $o{basic} ? (Authorization => basic_header(@{ $o{basic} })) : ();
    push @h, @{ $o{headers} || [] };
    my $res = $self->post_form($o{endpoint} // 'token', $pairs, @h);
    my $doc = json($res);
    seen(map { $doc->{$_} } qw(access_token refresh_token)) if ref $doc eq 'HASH';
    return ($res, $doc);
}

# Client credentials as form pairs or Basic, per the client's method.
sub client_auth {
    my ($client) = @_;
    my $m = $client->{token_endpoint_auth_method} // 'none';
    return ([ client_id => $client->{client_id} ], ())
        if $m eq 'none';
    return ([ client_id => $client->{client_id},
              client_secret => $client->{client_secret} ], ())
        if $m eq 'client_secret_post';
    return ([], basic => [ $client->{client_id}, $client->{client_secret} ]);
}

# Exchange the code of authorize()'s result $a for $client.
sub exchange {
    my ($self, $client, $auth, %extra) = @_;
    my ($pairs, %o) = client_auth($client);
    my @p = (grant_type => 'authorization_code', code => $auth->{code},
             redirect_uri => $auth->{query}{redirect_uri} // $REDIRECT,
             code_verifier => $auth->{verifier}, @$pairs);
    push @p, resource => $auth->{query}{resource} if defined $auth->{query}{resource};
    push @p, %extra;
    return $self->token_raw(\@p, %o);
}

# Tokens for $user and $client in one go; dies when a step fails.
sub tokens {
    my ($self, $user, $client, %p) = @_;
    my $auth = $self->authorize($user, $client, %p);
    die 'no code: ' . $auth->{res}->status_line . ' '
        . ($auth->{res}->header('Location') // $auth->{res}->content) . "\n"
        unless $auth->{code};
    my ($res, $doc) = $self->exchange($client, $auth);
    die 'token request failed: ' . $res->status_line . ' ' . $res->content . "\n"
        unless $res->code == 200 && $doc && $doc->{access_token};
    return $doc;
}

sub refresh {
    my ($self, $client, $refresh, @extra) = @_;
    my ($pairs, %o) = client_auth($client);
    return $self->token_raw([ grant_type => 'refresh_token',
                              refresh_token => $refresh, @$pairs, @extra ], %o);
}

sub revoke {
    my ($self, $client, $token, @extra) = @_;
    my ($pairs, %o) = client_auth($client);
    return $self->token_raw([ token => $token, @$pairs, @extra ],
                            %o, endpoint => 'revoke');
}

sub introspect {
    my ($self, $client, $token, @extra) = @_;
    my ($pairs, %o) = client_auth($client);
    return $self->token_raw([ token => $token, @$pairs, @extra ],
                            %o, endpoint => 'introspect');
}

# GET a protected $path with a bearer token (undef: none).
sub bearer_get {
    my ($self, $path, $token, @headers) = @_;
    return $self->request(GET => $path,
                          [ (defined $token ? (Authorization => "Bearer $token") : ()),
                            @headers ]);
}

1;
