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

/* mcpctl provider connections|revoke|purge NAME: the users' links to an
 * upstream provider (MCPIdPProvider), in the vault. mcpctl reads no httpd
 * configuration and holds no vault key, so it deletes links here; the
 * provider's tokens stay valid there until they expire (a user who
 * removes a link on the Connections page revokes it at the provider). */

#include <apr_strings.h>

#include "mcpctl.h"

static int cmd_connections(mcpctl_t *ctl, int argc, const char *const *argv)
{
    static const char *const head[] = {
        "USER", "SCOPES", "LINKED", "RENEWED", "EXPIRES", "KEY"
    };
    enum { NCOLS = 6 };
    apr_array_header_t *list, *rows;
    mcp_store_t *st;
    int i, rc;

    if ((rc = mcpctl_open_store(ctl, &st)) != 0) {
        return rc;
    }
    if (mcp_store_upstream_list_provider(st, ctl->pool, argv[0], &list)
        != APR_SUCCESS) {
        return mcpctl_store_fail(st);
    }
    if (!list->nelts) {
        printf("no links to provider %s\n", mcpctl_text(ctl->pool, argv[0]));
        return MCPCTL_OK;
    }
    rows = apr_array_make(ctl->pool, list->nelts + 1, sizeof(const char **));
    APR_ARRAY_PUSH(rows, const char *const *) = head;
    for (i = 0; i < list->nelts; i++) {
        mcp_store_upstream_t *u = APR_ARRAY_IDX(list, i, mcp_store_upstream_t *);
        const char **row = apr_pcalloc(ctl->pool, NCOLS * sizeof(*row));

        row[0] = mcpctl_text(ctl->pool, u->subject);
        row[1] = mcpctl_text(ctl->pool, u->scope);
        row[2] = mcpctl_time(ctl->pool, u->created_at, "-");
        row[3] = mcpctl_time(ctl->pool, u->updated_at, "-");
        row[4] = apr_pstrcat(ctl->pool, mcpctl_time(ctl->pool, u->expires_at,
                                                    "-"),
                             u->expires_at && u->expires_at <= ctl->now
                             ? " (expired)" : "", NULL);
        row[5] = mcpctl_text(ctl->pool, u->key_id);
        APR_ARRAY_PUSH(rows, const char **) = row;
    }
    mcpctl_print_table(ctl->pool, rows, NCOLS);
    return MCPCTL_OK;
}

static int cmd_revoke(mcpctl_t *ctl, int argc, const char *const *argv)
{
    mcp_store_t *st;
    apr_status_t rv;
    int rc;

    if ((rc = mcpctl_open_store(ctl, &st)) != 0) {
        return rc;
    }
    rv = mcp_store_upstream_delete(st, ctl->user, argv[0]);
    if (rv == MCP_ENOTFOUND) {
        return mcpctl_fail("user %s has no link to provider %s",
                           mcpctl_text(ctl->pool, ctl->user),
                           mcpctl_text(ctl->pool, argv[0]));
    }
    if (rv != APR_SUCCESS) {
        return mcpctl_store_fail(st);
    }
    printf("Deleted the link of user %s to provider %s: the next call asks "
           "the user to link again.\n", mcpctl_text(ctl->pool, ctl->user),
           mcpctl_text(ctl->pool, argv[0]));
    return MCPCTL_OK;
}

static int cmd_purge(mcpctl_t *ctl, int argc, const char *const *argv)
{
    mcp_store_t *st;
    int rc, n = 0;

    if ((rc = mcpctl_open_store(ctl, &st)) != 0) {
        return rc;
    }
    if (mcp_store_upstream_delete_provider(st, argv[0], &n) != APR_SUCCESS) {
        return mcpctl_store_fail(st);
    }
    printf("Deleted %d links to provider %s.\n", n,
           mcpctl_text(ctl->pool, argv[0]));
    return MCPCTL_OK;
}

const mcpctl_cmd_t mcpctl_provider_cmds[] = {
    { "connections", "NAME", 1, 1, 0, 0, cmd_connections,
      "list every user's link to a provider" },
    { "revoke", "NAME", 1, 1, MCPCTL_OPT_USER, MCPCTL_OPT_USER, cmd_revoke,
      "delete a user's link to a provider" },
    { "purge", "NAME", 1, 1, 0, 0, cmd_purge,
      "delete every link to a provider (one that was removed)" },
    { NULL, NULL, 0, 0, 0, 0, NULL, NULL }
};
