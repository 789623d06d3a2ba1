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

/* mcpctl: administration of mod_mcp's store from the command line, on the
 * same core library as the modules (no httpd needed).
 *
 *   mcpctl [--driver sqlite3|pgsql] [--params PARAMS] db init|upgrade|status
 *
 * Exit status: 0 done / up to date, 1 the schema needs init or upgrade (or
 * is newer than this mcpctl), 2 usage or database errors. */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <apr_general.h>
#include <apr_getopt.h>
#include <apr_strings.h>

#include "mcp/mcp_common.h"
#include "mcp/mcp_store.h"

#define EXIT_NEEDS_WORK 1
#define EXIT_ERROR      2

typedef struct {
    apr_pool_t *pool;
    const char *driver;
    const char *params;
} ctl_t;

typedef int cmd_fn(ctl_t *ctl, int argc, const char *const *argv);

typedef struct {
    const char *group;
    const char *name;
    cmd_fn *fn;
    const char *help;
} cmd_t;

static void usage(FILE *out);

static int fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int fail(const char *fmt, ...)
{
    va_list ap;

    fputs("mcpctl: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return EXIT_ERROR;
}

static int open_store(ctl_t *ctl, mcp_store_t **pst)
{
    const char *err = NULL;

    if (!ctl->params || !*ctl->params) {
        return fail("no database given: use --params (for sqlite3 the file, "
                    "for pgsql e.g. \"host=127.0.0.1 dbname=mcp user=mcp\") "
                    "or set MCP_DBD_PARAMS");
    }
    if (mcp_store_open(pst, ctl->pool, ctl->driver, ctl->params, &err) != APR_SUCCESS) {
        return fail("%s", err ? err : "cannot open the database");
    }
    return 0;
}

static const char *state_text(const mcp_store_schema_t *s)
{
    if (!s->initialized || s->version == 0) {
        return "not initialized (run: mcpctl db upgrade)";
    }
    if (s->version < s->expected) {
        return "needs upgrade (run: mcpctl db upgrade)";
    }
    if (s->version > s->expected) {
        return "newer than this mcpctl (upgrade mod_mcp)";
    }
    return "up to date";
}

static int cmd_db_status(ctl_t *ctl, int argc, const char *const *argv)
{
    mcp_store_t *st;
    mcp_store_schema_t s;
    int rc = open_store(ctl, &st);

    (void)argc; (void)argv;
    if (rc) {
        return rc;
    }
    if (mcp_store_schema_status(st, &s) != APR_SUCCESS) {
        return fail("%s", mcp_store_error(st));
    }
    printf("driver: %s\n", ctl->driver);
    printf("initialized: %s\n", s.initialized && s.version ? "yes" : "no");
    printf("version: %d\n", s.version);
    printf("expected: %d\n", s.expected);
    printf("state: %s\n", state_text(&s));
    return s.initialized && s.version == s.expected ? 0 : EXIT_NEEDS_WORK;
}

static int upgrade(ctl_t *ctl, int init_only)
{
    mcp_store_t *st;
    mcp_store_schema_t s;
    int from = 0, to = 0, rc = open_store(ctl, &st);

    if (rc) {
        return rc;
    }
    if (mcp_store_schema_status(st, &s) != APR_SUCCESS) {
        return fail("%s", mcp_store_error(st));
    }
    if (init_only && s.initialized && s.version > 0) {
        printf("already initialized at version %d; state: %s\n", s.version,
               state_text(&s));
        return s.version == s.expected ? 0 : EXIT_NEEDS_WORK;
    }
    if (mcp_store_schema_upgrade(st, &from, &to) != APR_SUCCESS) {
        return fail("%s", mcp_store_error(st));
    }
    if (from == to) {
        printf("already at version %d, up to date\n", to);
    }
    else {
        printf("schema upgraded from version %d to %d\n", from, to);
    }
    return 0;
}

static int cmd_db_init(ctl_t *ctl, int argc, const char *const *argv)
{
    (void)argc; (void)argv;
    return upgrade(ctl, 1);
}

static int cmd_db_upgrade(ctl_t *ctl, int argc, const char *const *argv)
{
    (void)argc; (void)argv;
    return upgrade(ctl, 0);
}

/* Later subcommands (clients, tokens, links, keys) go here. */
static const cmd_t commands[] = {
    { "db", "init",    cmd_db_init,    "create the schema in an empty database" },
    { "db", "upgrade", cmd_db_upgrade, "apply pending schema migrations (also from empty)" },
    { "db", "status",  cmd_db_status,  "show the schema version and state" },
    { NULL, NULL, NULL, NULL }
};

static void usage(FILE *out)
{
    const cmd_t *c;

    fprintf(out,
        "usage: mcpctl [options] <group> <command>\n"
        "\n"
        "options:\n"
        "  -d, --driver NAME    database driver: sqlite3 (default) or pgsql\n"
        "                       (or MCP_DBD_DRIVER)\n"
        "  -p, --params PARAMS  apr_dbd parameters, as in DBDParams: the file\n"
        "                       for sqlite3, a conninfo string for pgsql\n"
        "                       (or MCP_DBD_PARAMS)\n"
        "  -h, --help           this text\n"
        "  -V, --version        the version\n"
        "\n"
        "commands:\n");
    for (c = commands; c->name; c++) {
        fprintf(out, "  %s %-10s %s\n", c->group, c->name, c->help);
    }
    fprintf(out,
        "\n"
        "exit status: 0 done or up to date, 1 the schema needs init/upgrade,\n"
        "2 usage or database error\n");
}

int main(int argc, const char *const *argv)
{
    static const apr_getopt_option_t opts[] = {
        { "driver",  'd', 1, "database driver" },
        { "params",  'p', 1, "database parameters" },
        { "help",    'h', 0, "help" },
        { "version", 'V', 0, "version" },
        { NULL, 0, 0, NULL }
    };
    apr_getopt_t *os;
    ctl_t ctl;
    const cmd_t *c;
    const char *arg;
    int optch, rc;
    apr_status_t rv;

    apr_app_initialize(&argc, &argv, NULL);
    atexit(apr_terminate);
    apr_pool_create(&ctl.pool, NULL);
    ctl.driver = getenv("MCP_DBD_DRIVER");
    ctl.params = getenv("MCP_DBD_PARAMS");
    if (!ctl.driver || !*ctl.driver) {
        ctl.driver = "sqlite3";
    }
    apr_getopt_init(&os, ctl.pool, argc, argv);
    while ((rv = apr_getopt_long(os, opts, &optch, &arg)) == APR_SUCCESS) {
        switch (optch) {
        case 'd': ctl.driver = arg; break;
        case 'p': ctl.params = arg; break;
        case 'h': usage(stdout); return 0;
        case 'V': printf("mcpctl (mod_mcp) %s\n", MCP_VERSION); return 0;
        }
    }
    if (rv != APR_EOF) {
        usage(stderr);
        return EXIT_ERROR;
    }
    if (strcmp(ctl.driver, "sqlite3") && strcmp(ctl.driver, "pgsql")) {
        return fail("unknown driver '%s': use sqlite3 or pgsql", ctl.driver);
    }
    if (os->ind + 2 > argc) {
        usage(stderr);
        return EXIT_ERROR;
    }
    for (c = commands; c->name; c++) {
        if (!strcmp(c->group, argv[os->ind]) && !strcmp(c->name, argv[os->ind + 1])) {
            rc = c->fn(&ctl, argc - os->ind - 2, argv + os->ind + 2);
            apr_pool_destroy(ctl.pool);
            return rc;
        }
    }
    fail("unknown command '%s %s'", argv[os->ind], argv[os->ind + 1]);
    usage(stderr);
    return EXIT_ERROR;
}
