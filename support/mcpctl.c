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
 *   mcpctl [--driver sqlite3|pgsql] [--params PARAMS] <group> <command> ...
 *
 * The commands live in a small table per group (mcpctl_<group>.c). Exit
 * status: 0 done / up to date, 1 something needs doing (e.g. the schema
 * needs init or upgrade), 2 usage or database errors. */

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <apr_general.h>
#include <apr_getopt.h>
#include <apr_strings.h>

#include "mcpctl.h"

static const mcpctl_group_t groups[] = {
    { "db", mcpctl_db_cmds },
    /* Later: clients, tokens, links, keys. */
    { NULL, NULL }
};

int mcpctl_fail(const char *fmt, ...)
{
    va_list ap;

    fputs("mcpctl: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return MCPCTL_ERROR;
}

int mcpctl_open_store(mcpctl_t *ctl, mcp_store_t **pst)
{
    const char *err = NULL;

    if (!ctl->params || !*ctl->params) {
        return mcpctl_fail("no database given: use --params (for sqlite3 the "
                           "file, for pgsql e.g. \"host=127.0.0.1 dbname=mcp "
                           "user=mcp\") or set MCP_DBD_PARAMS");
    }
    if (mcp_store_open(pst, ctl->pool, ctl->driver, ctl->params, &err)
        != APR_SUCCESS) {
        return mcpctl_fail("%s", err ? err : "cannot open the database");
    }
    return 0;
}

static void usage(FILE *out)
{
    const mcpctl_group_t *g;
    const mcpctl_cmd_t *c;

    fprintf(out,
        "usage: mcpctl [options] <group> <command> [arguments]\n"
        "\n"
        "options:\n"
        "  -d, --driver NAME    database driver: sqlite3 (default) or pgsql\n"
        "                       (or the environment variable MCP_DBD_DRIVER)\n"
        "  -p, --params PARAMS  apr_dbd parameters, as in DBDParams: the file\n"
        "                       for sqlite3, a conninfo string for pgsql\n"
        "                       (or MCP_DBD_PARAMS, better for a password)\n"
        "  -h, --help           this text\n"
        "  -V, --version        the version\n"
        "\n"
        "commands:\n");
    for (g = groups; g->name; g++) {
        for (c = g->cmds; c->name; c++) {
            char syn[64];

            apr_snprintf(syn, sizeof(syn), "%s %s%s%s", g->name, c->name,
                         *c->args ? " " : "", c->args);
            fprintf(out, "  %-20s %s\n", syn, c->help);
        }
    }
    fprintf(out,
        "\n"
        "exit status: 0 done or up to date, 1 the schema needs init or\n"
        "upgrade, 2 usage or database errors (also a database newer than\n"
        "this mcpctl)\n");
}

static const mcpctl_group_t *find_group(const char *name)
{
    const mcpctl_group_t *g;

    for (g = groups; g->name; g++) {
        if (!strcmp(g->name, name)) {
            return g;
        }
    }
    return NULL;
}

static const mcpctl_cmd_t *find_cmd(const mcpctl_group_t *g, const char *name)
{
    const mcpctl_cmd_t *c;

    for (c = g->cmds; c->name; c++) {
        if (!strcmp(c->name, name)) {
            return c;
        }
    }
    return NULL;
}

/* Run "<group> <command> args..." (argv after the options). */
static int dispatch(mcpctl_t *ctl, int argc, const char *const *argv)
{
    const mcpctl_group_t *g;
    const mcpctl_cmd_t *c;

    if (argc < 1) {
        usage(stderr);
        return MCPCTL_ERROR;
    }
    if (!(g = find_group(argv[0]))) {
        mcpctl_fail("unknown command group '%s' (try mcpctl --help)", argv[0]);
        return MCPCTL_ERROR;
    }
    if (argc < 2) {
        return mcpctl_fail("'%s' needs a command (try mcpctl --help)", g->name);
    }
    if (!(c = find_cmd(g, argv[1]))) {
        return mcpctl_fail("unknown command '%s %s' (try mcpctl --help)",
                           g->name, argv[1]);
    }
    if (argc - 2 > c->max_args) {
        return mcpctl_fail("too many arguments for '%s %s'%s%s", g->name,
                           c->name, *c->args ? ": expected " : "", c->args);
    }
    if (strcmp(ctl->driver, "sqlite3") && strcmp(ctl->driver, "pgsql")) {
        return mcpctl_fail("unknown driver '%s': use sqlite3 or pgsql",
                           ctl->driver);
    }
    return c->fn(ctl, argc - 2, argv + 2);
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
    mcpctl_t ctl;
    const char *arg;
    int optch, rc;
    apr_status_t rv;

    if (apr_app_initialize(&argc, &argv, NULL) != APR_SUCCESS
        || apr_pool_create(&ctl.pool, NULL) != APR_SUCCESS) {
        fputs("mcpctl: cannot initialize APR\n", stderr);
        return MCPCTL_ERROR;
    }
    atexit(apr_terminate);
    ctl.driver = getenv("MCP_DBD_DRIVER");
    ctl.params = getenv("MCP_DBD_PARAMS");
    if (!ctl.driver || !*ctl.driver) {
        ctl.driver = "sqlite3";
    }
    apr_getopt_init(&os, ctl.pool, argc, argv);
    /* Options may come after the command too: mcpctl db status -p x.db */
    os->interleave = 1;
    while ((rv = apr_getopt_long(os, opts, &optch, &arg)) == APR_SUCCESS) {
        switch (optch) {
        case 'd': ctl.driver = arg; break;
        case 'p': ctl.params = arg; break;
        case 'h': usage(stdout); return MCPCTL_OK;
        case 'V': printf("mcpctl (mod_mcp) %s\n", MCP_VERSION); return MCPCTL_OK;
        }
    }
    if (rv != APR_EOF) {
        /* apr_getopt has said which option (on stderr). */
        return mcpctl_fail("bad command line (try mcpctl --help)");
    }
    /* os->argv, not argv: interleaving permutes apr_getopt's own copy. */
    rc = dispatch(&ctl, os->argc - os->ind, os->argv + os->ind);
    apr_pool_destroy(ctl.pool);
    return rc;
}
