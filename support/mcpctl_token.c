/* Licensed under the Apache License, Version 2.0 (the "License");
 * you may not use this file except in compliance with the License.
 * You may obtain a copy of the License at
 *
 *     http://www.apache.org/licenses/LICENSE-2.0
 *
 * Unless required by applicable law or agreed to in writing, software
 * distributed under the License is distributed on an "AS IS" BASIS,
 * WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
 * See the License for the specific language governing permissions and
 * limitations under the License.
 */

/* mcpctl token revoke --user USER [--client CLIENT]: sign a user out of
 * the clients, e.g. when they leave. Refresh tokens are in the store and
 * revoked there. Access tokens are self-contained: the gateway refuses
 * those of a user through a revocation row of kind "subject"; there is
 * no kind for one user at one client, so with --client the access tokens
 * already issued run out on their own (at most the access lifetime). */

#include "mcpctl.h"

static int cmd_revoke(mcpctl_t *ctl, int argc, const char *const *argv)
{
    mcp_store_client_t *c;
    mcp_store_t *st;
    const char *user = mcpctl_text(ctl->pool, ctl->user);
    int rc, n = 0;

    if ((rc = mcpctl_open_store(ctl, &st)) != 0
        || (ctl->client
            && (rc = mcpctl_client_fetch(ctl, st, ctl->client, &c)) != 0)) {
        return rc;
    }
    if (mcp_store_refresh_revoke_user(st, ctl->user, ctl->client, ctl->now, &n)
        != APR_SUCCESS) {
        return mcpctl_store_fail(st);
    }
    if (!ctl->client) {
        if ((rc = mcpctl_revoke_access(ctl, st, "subject", ctl->user)) != 0) {
            return rc;
        }
        printf("Revoked %d refresh tokens of user %s; access tokens already "
               "issued to %s are refused from now on.\n", n, user, user);
        return MCPCTL_OK;
    }
    printf("Revoked %d refresh tokens of user %s for OAuth client %s.\n", n,
           user, mcpctl_text(ctl->pool, ctl->client));
    printf("Note: access tokens already issued to %s for %s stay valid until "
           "they expire (at most the access lifetime, MCPAuthzLifetime "
           "access); without --client they are refused too.\n",
           mcpctl_text(ctl->pool, ctl->client), user);
    return MCPCTL_OK;
}

const mcpctl_cmd_t mcpctl_token_cmds[] = {
    { "revoke", "", 0, 0, MCPCTL_OPT_USER | MCPCTL_OPT_CLIENT, MCPCTL_OPT_USER,
      cmd_revoke, "revoke a user's tokens (or one client's)" },
    { NULL, NULL, 0, 0, 0, 0, NULL, NULL }
};
