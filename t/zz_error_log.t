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

# Runs last (tests run in name order): the test server's whole error_log,
# startup and child initialization included, must hold no error, crit,
# alert or emerg line. Each test also checks the part it caused.

use strict;
use warnings FATAL => 'all';

use FindBin;
use lib "$FindBin::Bin/lib";

use Apache::Test qw(-withtestmore);

use MCPTest qw(unexpected_errors log_has);

ok(log_has(qr/resuming normal operations/), 'the test server started');
# The one exception is httpd's own: mod_authz_core logs every refused
# Require of an authenticated user at error level (AH01631), so each 403
# insufficient_scope of t/modules/authz_bearer.t leaves one such line for
# the protected locations of extra.conf.in.
my $AH01631 = qr/\[authz_core:error\] .*AH01631: user \w+: authorization failure for "\/(?:scoped|forbid|anyof|files)": $/;
my @errors = unexpected_errors(0, $AH01631);
is(scalar @errors, 0, 'no error-level lines in the whole error_log')
    or diag @errors;

done_testing();
