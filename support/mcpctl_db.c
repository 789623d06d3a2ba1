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

/* mcpctl db init|upgrade|status|purge: the schema of the store, and the
 * expiry sweep for sites without mod_watchdog.
 *
 * status prints one "key: value" per line (driver, initialized, version,
 * expected, state) and exits 0 when up to date, 1 when the schema needs
 * init or upgrade, 2 when the database is newer than this mcpctl or on
 * errors. purge prints how many expired rows of each kind it deleted,
 * one "key: value" per line. */

#include <string.h>

#include <apr_file_info.h>
#include <apr_strings.h>

#include "mcpctl.h"

typedef enum {
    STATE_UP_TO_DATE,
    STATE_NEEDS_UPGRADE,
    STATE_NEWER
} schema_state_e;

static schema_state_e state_of(const mcp_store_schema_t *s)
{
    if (s->version > s->expected) {
        return STATE_NEWER;
    }
    if (!s->initialized || s->version < s->expected) {
        return STATE_NEEDS_UPGRADE;
    }
    return STATE_UP_TO_DATE;
}

static const char *state_text[] = {
    "up to date", "needs upgrade", "newer than this mcpctl"
};

static int state_exit[] = { MCPCTL_OK, MCPCTL_NEEDS_WORK, MCPCTL_ERROR };

static void print_status(const mcpctl_t *ctl, const mcp_store_schema_t *s)
{
    schema_state_e state = state_of(s);

    printf("driver: %s\n", ctl->driver);
    printf("initialized: %s\n", s->initialized && s->version > 0 ? "yes" : "no");
    printf("version: %d\n", s->version);
    printf("expected: %d\n", s->expected);
    printf("state: %s\n", state_text[state]);
    if (state == STATE_NEEDS_UPGRADE) {
        printf("hint: run `mcpctl db upgrade`\n");
    }
    else if (state == STATE_NEWER) {
        printf("hint: use the mod_mcp release that upgraded this database\n");
    }
}

/* A SQLite file that does not exist yet: status says so without creating
 * it (opening would). ":memory:" and URI names are left to SQLite. */
static int sqlite_file_missing(const mcpctl_t *ctl)
{
    apr_finfo_t fi;

    return !strcmp(ctl->driver, "sqlite3") && ctl->params && *ctl->params
        && strcmp(ctl->params, ":memory:") && strncmp(ctl->params, "file:", 5)
        && apr_stat(&fi, ctl->params, APR_FINFO_TYPE, ctl->pool) != APR_SUCCESS;
}

static int cmd_status(mcpctl_t *ctl, int argc, const char *const *argv)
{
    mcp_store_t *st;
    mcp_store_schema_t s;
    int rc;

    if (sqlite_file_missing(ctl)) {
        memset(&s, 0, sizeof(s));
        s.expected = mcp_store_schema_latest();
        print_status(ctl, &s);
        printf("note: the database file %s does not exist yet\n", ctl->params);
        return MCPCTL_NEEDS_WORK;
    }
    if ((rc = mcpctl_open_store(ctl, &st)) != 0) {
        return rc;
    }
    if (mcp_store_schema_status(st, &s) != APR_SUCCESS) {
        return mcpctl_fail("%s", mcp_store_error(st));
    }
    print_status(ctl, &s);
    return state_exit[state_of(&s)];
}

static int do_upgrade(mcp_store_t *st)
{
    int from = 0, to = 0;

    if (mcp_store_schema_upgrade(st, &from, &to) != APR_SUCCESS) {
        if (to > from) {
            printf("schema upgraded from version %d to %d, then:\n", from, to);
        }
        return mcpctl_fail("%s", mcp_store_error(st));
    }
    if (from == to) {
        printf("already at version %d, up to date\n", to);
    }
    else if (from == 0) {
        printf("schema created at version %d\n", to);
    }
    else {
        printf("schema upgraded from version %d to %d\n", from, to);
    }
    return MCPCTL_OK;
}

static int cmd_init(mcpctl_t *ctl, int argc, const char *const *argv)
{
    mcp_store_t *st;
    mcp_store_schema_t s;
    int rc;

    if ((rc = mcpctl_open_store(ctl, &st)) != 0) {
        return rc;
    }
    if (mcp_store_schema_status(st, &s) != APR_SUCCESS) {
        return mcpctl_fail("%s", mcp_store_error(st));
    }
    if (s.version > s.expected) {
        return mcpctl_fail("the database has schema version %d, newer than "
                           "this mcpctl knows (%d): leaving it alone",
                           s.version, s.expected);
    }
    if (s.version == 0) {
        return do_upgrade(st);
    }
    if (s.version < s.expected) {
        printf("already initialized at version %d, expected %d: run `mcpctl "
               "db upgrade`\n", s.version, s.expected);
        return MCPCTL_NEEDS_WORK;
    }
    printf("already at version %d, up to date\n", s.version);
    return MCPCTL_OK;
}

static int cmd_upgrade(mcpctl_t *ctl, int argc, const char *const *argv)
{
    mcp_store_t *st;
    int rc;

    if ((rc = mcpctl_open_store(ctl, &st)) != 0) {
        return rc;
    }
    return do_upgrade(st);
}

/* What mod_mcp_authz's watchdog does every few minutes; its startup
 * warning (MCP00860) names this command for sites without mod_watchdog,
 * to be run from cron. */
static int cmd_purge(mcpctl_t *ctl, int argc, const char *const *argv)
{
    mcp_store_purge_t n;
    mcp_store_t *st;
    int rc;

    if ((rc = mcpctl_open_store(ctl, &st)) != 0) {
        return rc;
    }
    if (mcp_store_purge(st, ctl->now, &n) != APR_SUCCESS) {
        return mcpctl_store_fail(st);
    }
    printf("codes: %d\n", n.codes);
    printf("refresh tokens: %d\n", n.refresh_tokens);
    printf("consents: %d\n", n.consents);
    printf("clients: %d\n", n.clients);
    printf("revocations: %d\n", n.revocations);
    printf("pending authorizations: %d\n", n.pending);
    return MCPCTL_OK;
}

const mcpctl_cmd_t mcpctl_db_cmds[] = {
    { "init",    "", 0, 0, 0, 0, cmd_init,
      "create the schema in an empty database" },
    { "upgrade", "", 0, 0, 0, 0, cmd_upgrade,
      "apply the pending migrations (also from empty)" },
    { "status",  "", 0, 0, 0, 0, cmd_status,
      "show the schema version and state" },
    { "purge",   "", 0, 0, 0, 0, cmd_purge,
      "delete what has expired (without mod_watchdog)" },
    { NULL, NULL, 0, 0, 0, 0, NULL, NULL }
};
