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

# The command_rec tables and the docs must agree: every directive of
# modules/*/*.c (AP_INIT_*) has an entry in the README's directive
# reference (with syntax, default, the right context and module, an
# example) and appears in its module's conf/*.conf; and nothing is
# documented there that does not exist.

use strict;
use warnings FATAL => 'all';

use FindBin;
use lib "$FindBin::Bin/../lib";

use Apache::Test qw(-withtestmore);
use File::Spec;

use MCPTest ();

my $src = MCPTest::srcdir();
my $DIRECTIVE = qr/\bMCP(?:Authz|Proxy|IdP)[A-Z]\w*/;

sub slurp {
    my $f = shift;
    open my $fh, '<', $f or die "cannot read $f: $!\n";
    local $/;
    return scalar <$fh>;
}

# httpd's names for the contexts a req_override allows.
sub contexts {
    my $flags = shift;
    my @c;
    push @c, 'server config', 'virtual host' if $flags =~ /\bRSRC_CONF\b/;
    push @c, 'directory' if $flags =~ /\bACCESS_CONF\b/;
    push @c, '.htaccess' if $flags =~ /\bOR_\w+/;
    return join ', ', @c;
}

# --- the code: name => { module, context, help } --------------------------

my %code;
for my $file (sort glob File::Spec->catfile($src, 'modules', '*', '*.c')) {
    my ($dir) = $file =~ m{modules/([^/]+)/[^/]+\.c$};
    next if $dir eq 'core' || $dir eq 'glue';
    my $c = slurp($file);
    $c =~ s{/\*.*?\*/}{}gs;    # a commented-out entry does not count
    while ($c =~ /AP_INIT_\w+\s*\(\s*"([^"]+)"\s*,\s*([^,]+?)\s*,\s*[^,]+,\s*([^,]+?)\s*,\s*((?:"(?:[^"\\]|\\.)*"\s*)+)\)/gs) {
        my ($name, $fn, $flags, $help) = ($1, $2, $3, $4);
        # A handler that refuses virtual hosts (GLOBAL_ONLY) narrows
        # RSRC_CONF to the main server.
        my ($body) = $c =~ /\b\Q$fn\E\s*\([^)]*\)\s*\{(.*?)\n\}/s;
        my $global = defined $body && $body =~ /\bGLOBAL_ONLY\b/;
        $help =~ s/"\s*"//g;
        $help =~ s/^"|"$//g;
        ok(!exists $code{$name}, "$name: defined once") if exists $code{$name};
        my $context = contexts($flags);
        $context =~ s/^server config, virtual host/server config/ if $global;
        $code{$name} = { module => "mod_mcp_$dir", context => $context,
                         help => $help, file => $file };
    }
}
ok(scalar(keys %code) >= 7, 'found the command_rec tables ('
   . join(' ', sort keys %code) . ')');

for my $name (sort keys %code) {
    like($name, qr/^$DIRECTIVE$/, "$name: carries the module prefix");
    ok(length($code{$name}{help}) > 10, "$name: has a help string");
}

# --- the README reference --------------------------------------------------

my $readme = slurp(File::Spec->catfile($src, 'README.md'));
my ($ref) = $readme =~ /<!-- directives:start -->(.*)<!-- directives:end -->/s;
ok(defined $ref, 'README has the directives:start/end section');
$ref //= '';

my %readme;
for my $entry (split /^(?=### )/m, $ref) {
    next unless $entry =~ /^### (\S+)\s*\n/;
    $readme{$1} = $entry;
}

for my $name (sort keys %code) {
    my $e = $readme{$name};
    ok(defined $e, "README: $name has an entry") or next;
    like($e, qr/^- \*\*Syntax:\*\* `\Q$name\E\b[^`]*`/m, "README: $name syntax");
    like($e, qr/^- \*\*Default:\*\* \S/m, "README: $name default");
    like($e, qr/^- \*\*Context:\*\* \Q$code{$name}{context}\E$/m,
         "README: $name context is '$code{$name}{context}'");
    like($e, qr/^- \*\*Module:\*\* \Q$code{$name}{module}\E$/m,
         "README: $name module is $code{$name}{module}");
    like($e, qr/```apache\n(?:.*\n)*?\s*\Q$name\E\s/m, "README: $name example");
    like($ref, qr/^\| \[`\Q$name\E`\]\(#\L$name\E\) \| \Q$code{$name}{module}\E \|/m,
         "README: $name in the summary table");
}
for my $name (sort keys %readme) {
    ok(exists $code{$name}, "README: documented $name exists in the code");
}
my %mentioned = map { $_ => 1 } $ref =~ /($DIRECTIVE)/g;
for my $name (sort keys %mentioned) {
    ok(exists $code{$name}, "README: mentioned $name exists in the code");
}

# --- the annotated configs ---------------------------------------------------

my %conf_mentions;
for my $file (sort glob File::Spec->catfile($src, 'conf', '*.conf')) {
    my ($base) = $file =~ m{([^/]+)\.conf$};
    my $c = slurp($file);
    for my $name ($c =~ /($DIRECTIVE)/g) {
        $conf_mentions{$name}{$base} = 1;
    }
    # A directive is shown as an example line, commented out or not.
    for my $name (sort keys %code) {
        next unless $code{$name}{module} eq $base;
        like($c, qr/^[ \t]*#?[ \t]*\Q$name\E[ \t]+[^<\s]/m,
             "$base.conf: $name example line");
        like($c, qr/^#\s+\Q$name\E\b/m, "$base.conf: $name annotated");
    }
}
for my $name (sort keys %code) {
    ok($conf_mentions{$name}{$code{$name}{module}},
       "$name appears in conf/$code{$name}{module}.conf");
}
for my $name (sort keys %conf_mentions) {
    ok(exists $code{$name}, "conf: mentioned $name exists in the code");
}

done_testing();
