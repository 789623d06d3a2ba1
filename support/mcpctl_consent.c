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

/* mcpctl consent list|revoke --user USER: what a user agreed to on the
 * consent page (client, resource, scopes), remembered for
 * MCPAuthzLifetime consent. A revoked consent only means the user is
 * asked again; the tokens already issued stay (mcpctl token revoke). */

#include <apr_strings.h>

#include "mcpctl.h"

static int cmd_list(mcpctl_t *ctl, int argc, const char *const *argv)
{
    static const char *const head[] = {
        "CLIENT", "RESOURCE", "SCOPES", "GRANTED", "EXPIRES"
    };
    enum { NCOLS = 5 };
    apr_array_header_t *list, *rows;
    mcp_store_t *st;
    int i, rc;

    if ((rc = mcpctl_open_store(ctl, &st)) != 0) {
        return rc;
    }
    if (mcp_store_consent_list(st, ctl->pool, ctl->user, &list) != APR_SUCCESS) {
        return mcpctl_store_fail(st);
    }
    if (!list->nelts) {
        printf("no consents of user %s\n", mcpctl_text(ctl->pool, ctl->user));
        return MCPCTL_OK;
    }
    rows = apr_array_make(ctl->pool, list->nelts + 1, sizeof(const char **));
    APR_ARRAY_PUSH(rows, const char *const *) = head;
    for (i = 0; i < list->nelts; i++) {
        mcp_store_consent_t *c = APR_ARRAY_IDX(list, i, mcp_store_consent_t *);
        const char **row = apr_pcalloc(ctl->pool, NCOLS * sizeof(*row));

        row[0] = mcpctl_text(ctl->pool, c->client_id);
        row[1] = mcpctl_text(ctl->pool, c->resource);
        row[2] = mcpctl_text(ctl->pool, c->scope);
        row[3] = mcpctl_time(ctl->pool, c->granted_at, "-");
        row[4] = apr_pstrcat(ctl->pool, mcpctl_time(ctl->pool, c->expires_at,
                                                    "-"),
                             c->expires_at <= ctl->now ? " (expired)" : "",
                             NULL);
        APR_ARRAY_PUSH(rows, const char **) = row;
    }
    mcpctl_print_table(ctl->pool, rows, NCOLS);
    return MCPCTL_OK;
}

static int cmd_revoke(mcpctl_t *ctl, int argc, const char *const *argv)
{
    mcp_store_client_t *c;
    mcp_store_t *st;
    int rc, n = 0;

    if ((rc = mcpctl_open_store(ctl, &st)) != 0
        || (ctl->client
            && (rc = mcpctl_client_fetch(ctl, st, ctl->client, &c)) != 0)) {
        return rc;
    }
    if (mcp_store_consent_revoke(st, ctl->user, ctl->client, &n)
        != APR_SUCCESS) {
        return mcpctl_store_fail(st);
    }
    printf("Revoked %d consents of user %s%s%s; the consent page asks again.\n",
           n, mcpctl_text(ctl->pool, ctl->user),
           ctl->client ? " for OAuth client " : "",
           ctl->client ? mcpctl_text(ctl->pool, ctl->client) : "");
    return MCPCTL_OK;
}

const mcpctl_cmd_t mcpctl_consent_cmds[] = {
    { "list", "", 0, 0, MCPCTL_OPT_USER, MCPCTL_OPT_USER, cmd_list,
      "list a user's consents" },
    { "revoke", "", 0, 0, MCPCTL_OPT_USER | MCPCTL_OPT_CLIENT, MCPCTL_OPT_USER,
      cmd_revoke, "forget a user's consents (or one client's)" },
    { NULL, NULL, 0, 0, 0, 0, NULL, NULL }
};
