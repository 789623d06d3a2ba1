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
 * The commands live in a small table per group (mcpctl_<group>.c); the
 * options they take are parsed here, for all of them, and each command
 * says in its table which ones it takes. Exit status: 0 done / up to date,
 * 1 something needs doing (e.g. the schema needs init or upgrade), 2 usage
 * or database errors. */

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <apr_general.h>
#include <apr_getopt.h>
#include <apr_strings.h>
#include <apr_time.h>

#include "mcpctl.h"

#ifndef MCP_PRESETS_FILE
#define MCP_PRESETS_FILE "/usr/local/share/mod_mcp/clients/presets.json"
#endif

static const mcpctl_group_t groups[] = {
    { "db", mcpctl_db_cmds },
    { "client", mcpctl_client_cmds },
    { "consent", mcpctl_consent_cmds },
    { "token", mcpctl_token_cmds },
    { "provider", mcpctl_provider_cmds },
    /* Later: keys. */
    { NULL, NULL }
};

/* The options of the commands (the global ones are in main()). */
typedef struct {
    const char *name;           /* --name */
    unsigned bit;               /* MCPCTL_OPT_* */
    int repeat;                 /* may be given more than once */
    int empty_ok;               /* "" is a value (update: remove it) */
    const char *arg;            /* its value, in synopses */
    const char *help;
} cmd_opt_t;

static const cmd_opt_t cmd_opts[] = {
    { "preset", MCPCTL_OPT_PRESET, 0, 0, "NAME",
      "fill in a known client: claude-ai, claude-desktop,\n"
      "claude-code, chatgpt, cursor, windsurf, vscode, zed,\n"
      "gemini-cli, mcp-remote, inspector (client presets)" },
    { "redirect-uri", MCPCTL_OPT_REDIRECT_URI, 1, 0, "URI",
      "a redirect URI, repeated for more; added to the\n"
      "preset's; with update, replaces the list" },
    { "auth-method", MCPCTL_OPT_AUTH_METHOD, 0, 0, "METHOD",
      "none (public), client_secret_basic (the default)\n"
      "or client_secret_post: a secret is shown once;\n"
      "for provider commands, how --secret-file is sent" },
    { "allowed-resource", MCPCTL_OPT_RESOURCE, 1, 1, "URL",
      "a resource it may get tokens for (default: any),\n"
      "repeated for more; with update, replaces the list\n"
      "(\"\": any again)" },
    { "name", MCPCTL_OPT_NAME, 0, 1, "TEXT",
      "the name the consent page shows" },
    { "scope", MCPCTL_OPT_SCOPE, 0, 1, "\"A B\"",
      "the scopes it registers with (update: \"\" removes)" },
    { "user", MCPCTL_OPT_USER, 0, 0, "USER",
      "the user: the tokens' subject (REMOTE_USER)" },
    { "client", MCPCTL_OPT_CLIENT, 0, 0, "CLIENT",
      "only what this OAuth client holds" },
    { "presets", MCPCTL_OPT_PRESETS, 0, 0, "FILE",
      "the presets file (or MCP_PRESETS; default\n" MCP_PRESETS_FILE ")" },
    { "vault-key", MCPCTL_OPT_VAULT_KEY, 1, 0, "[ID=]FILE",
      "a key of MCPIdPVaultKey (with its id= when it has\n"
      "one), repeated for more: to read the tokens" },
    { "revoke-url", MCPCTL_OPT_REVOKE_URL, 0, 0, "URL",
      "the provider's revocation endpoint (RFC 7009):\n"
      "revoke the tokens there before deleting them" },
    { "client-id", MCPCTL_OPT_CLIENT_ID, 0, 0, "ID",
      "the gateway's client id at the provider" },
    { "secret-file", MCPCTL_OPT_SECRET_FILE, 0, 0, "FILE",
      "the file of its client secret (secret_file=)" },
    { NULL, 0, 0, 0, NULL, NULL }
};

#define NUM_CMD_OPTS ((int)(sizeof(cmd_opts) / sizeof(cmd_opts[0])) - 1)
/* apr_getopt's code of a long-only option: above every character. */
#define OPT_CODE(i) (256 + (i))

static void vfail(const char *fmt, va_list ap)
{
    fputs("mcpctl: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
}

int mcpctl_fail(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vfail(fmt, ap);
    va_end(ap);
    return MCPCTL_ERROR;
}

int mcpctl_store_fail(mcp_store_t *st)
{
    return mcpctl_fail("%s", mcp_store_error(st));
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

int mcpctl_client_fetch(mcpctl_t *ctl, mcp_store_t *st, const char *client_id,
                        mcp_store_client_t **pc)
{
    apr_status_t rv = mcp_store_client_get(st, ctl->pool, client_id, pc);

    if (rv == MCP_ENOTFOUND) {
        return mcpctl_fail("no OAuth client '%s' (mcpctl client list shows "
                           "them)", mcpctl_text(ctl->pool, client_id));
    }
    return rv == APR_SUCCESS ? 0 : mcpctl_store_fail(st);
}

int mcpctl_revoke_access(mcpctl_t *ctl, mcp_store_t *st, const char *kind,
                         const char *value)
{
    if (mcp_store_revocation_put(st, kind, value, ctl->now,
                                 ctl->now + MCPCTL_REVOCATION_TTL)
        != APR_SUCCESS) {
        return mcpctl_store_fail(st);
    }
    return 0;
}

const char *mcpctl_time(apr_pool_t *p, apr_int64_t t, const char *none)
{
    apr_time_exp_t tm;
    apr_size_t len;
    char buf[64];

    if (!t) {
        return none;
    }
    if (apr_time_exp_gmt(&tm, apr_time_from_sec(t)) != APR_SUCCESS
        || apr_strftime(buf, &len, sizeof(buf), "%Y-%m-%d %H:%M:%S UTC", &tm)
           != APR_SUCCESS) {
        return apr_psprintf(p, "%" APR_INT64_T_FMT, t);
    }
    return apr_pstrdup(p, buf);
}

const char *mcpctl_text(apr_pool_t *p, const char *s)
{
    char *out, *c;

    if (!s || !*s) {
        return "-";
    }
    out = apr_pstrdup(p, s);
    for (c = out; *c; c++) {
        if ((unsigned char)*c < 0x20 || *c == 0x7f) {
            *c = '?';
        }
    }
    return out;
}

void mcpctl_print_table(apr_pool_t *p, const apr_array_header_t *rows,
                        int ncols)
{
    int *w = apr_pcalloc(p, (apr_size_t)ncols * sizeof(*w));
    int i, k;

    for (i = 0; i < rows->nelts; i++) {
        for (k = 0; k < ncols; k++) {
            int n = (int)strlen(APR_ARRAY_IDX(rows, i, const char **)[k]);

            w[k] = n > w[k] ? n : w[k];
        }
    }
    for (i = 0; i < rows->nelts; i++) {
        const char **row = APR_ARRAY_IDX(rows, i, const char **);

        for (k = 0; k < ncols - 1; k++) {
            printf("%-*s  ", w[k], row[k]);
        }
        printf("%s\n", row[ncols - 1]);
    }
}

/* "client register NAME [--preset NAME] [--redirect-uri URI]..." */
static const char *synopsis(apr_pool_t *p, const char *group,
                            const mcpctl_cmd_t *c, int all)
{
    const char *s = apr_pstrcat(p, group, " ", c->name, *c->args ? " " : "",
                                c->args, NULL);
    int i;

    for (i = 0; cmd_opts[i].name; i++) {
        const cmd_opt_t *o = &cmd_opts[i];
        int need = (c->need & o->bit) != 0;

        if ((c->opts & o->bit) && (need || all)) {
            s = apr_pstrcat(p, s, need ? " --" : " [--", o->name, " ", o->arg,
                            need ? "" : "]", o->repeat ? "..." : "", NULL);
        }
    }
    return s;
}

/* An option's help, its continuation lines indented. */
static void print_opt(FILE *out, const cmd_opt_t *o)
{
    char head[40];
    const char *h;

    apr_snprintf(head, sizeof(head), "--%s %s", o->name, o->arg);
    fprintf(out, "  %-24s ", head);
    for (h = o->help; *h; h++) {
        fputc(*h, out);
        if (*h == '\n') {
            fprintf(out, "  %-24s ", "");
        }
    }
    fputc('\n', out);
}

/* The usage of a command; @full: with its help and options, else a hint
 * where they are. */
static void cmd_usage(FILE *out, apr_pool_t *p, const char *group,
                      const mcpctl_cmd_t *c, int full)
{
    int i;

    fprintf(out, "usage: mcpctl [--driver NAME] [--params PARAMS] %s\n",
            synopsis(p, group, c, 1));
    if (!full) {
        fprintf(out, "(mcpctl %s %s --help says more)\n", group, c->name);
        return;
    }
    fprintf(out, "%s\n", c->help);
    if (c->opts) {
        fputs("options:\n", out);
        for (i = 0; cmd_opts[i].name; i++) {
            if (c->opts & cmd_opts[i].bit) {
                print_opt(out, &cmd_opts[i]);
            }
        }
    }
}

int mcpctl_usage_fail(const mcpctl_t *ctl, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vfail(fmt, ap);
    va_end(ap);
    if (ctl->cmd) {
        cmd_usage(stderr, ctl->pool, ctl->group, ctl->cmd, 0);
    }
    return MCPCTL_ERROR;
}

static void usage(FILE *out, apr_pool_t *p)
{
    const mcpctl_group_t *g;
    const mcpctl_cmd_t *c;
    int i;

    fprintf(out,
        "usage: mcpctl [options] <group> <command> [arguments] [command options]\n"
        "\n"
        "options:\n"
        "  -d, --driver NAME    database driver: sqlite3 (default) or pgsql\n"
        "                       (or the environment variable MCP_DBD_DRIVER)\n"
        "  -p, --params PARAMS  apr_dbd parameters, as in DBDParams: the file\n"
        "                       for sqlite3, a conninfo string for pgsql\n"
        "                       (or MCP_DBD_PARAMS, better for a password)\n"
        "  -h, --help           this text; after a command, its usage\n"
        "  -V, --version        the version\n"
        "\n"
        "commands:\n");
    for (g = groups; g->name; g++) {
        for (c = g->cmds; c->name; c++) {
            const char *syn = synopsis(p, g->name, c, 0);

            /* A long synopsis keeps two blanks before its help. */
            fprintf(out, strlen(syn) > 28 ? "  %s  %s\n" : "  %-28s %s\n",
                    syn, c->help);
        }
    }
    fputs("\ncommand options (which ones a command takes: mcpctl <group> "
          "<command> --help):\n", out);
    for (i = 0; cmd_opts[i].name; i++) {
        print_opt(out, &cmd_opts[i]);
    }
    fprintf(out,
        "\n"
        "exit status: 0 done or up to date, 1 the schema needs init or\n"
        "upgrade, 2 usage or database errors (also an unknown client, and a\n"
        "database newer than this mcpctl)\n");
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

/* The first option in @bits, for messages. */
static const char *opt_name(unsigned bits)
{
    int i;

    for (i = 0; cmd_opts[i].name; i++) {
        if (bits & cmd_opts[i].bit) {
            return cmd_opts[i].name;
        }
    }
    return "?";
}

/* Run "<group> <command> args..." (argv after the options). */
static int dispatch(mcpctl_t *ctl, int argc, const char *const *argv)
{
    const mcpctl_group_t *g;
    const mcpctl_cmd_t *c;
    int nargs = argc - 2;

    if (argc < 1) {
        usage(stderr, ctl->pool);
        return MCPCTL_ERROR;
    }
    if (!(g = find_group(argv[0]))) {
        mcpctl_fail("unknown command group '%s' (try mcpctl --help)",
                    mcpctl_text(ctl->pool, argv[0]));
        return MCPCTL_ERROR;
    }
    if (argc < 2) {
        return mcpctl_fail("'%s' needs a command (try mcpctl --help)", g->name);
    }
    if (!(c = find_cmd(g, argv[1]))) {
        return mcpctl_fail("unknown command '%s %s' (try mcpctl --help)",
                           g->name, mcpctl_text(ctl->pool, argv[1]));
    }
    ctl->group = g->name;
    ctl->cmd = c;
    if (ctl->given & ~c->opts) {
        return mcpctl_usage_fail(ctl, "--%s does not apply to '%s %s'",
                                 opt_name(ctl->given & ~c->opts), g->name,
                                 c->name);
    }
    if ((ctl->given & c->need) != c->need) {
        return mcpctl_usage_fail(ctl, "'%s %s' needs --%s", g->name, c->name,
                                 opt_name(c->need & ~ctl->given));
    }
    if (nargs > c->max_args) {
        return mcpctl_usage_fail(ctl, "too many arguments for '%s %s'%s%s",
                                 g->name, c->name,
                                 *c->args ? ": expected " : "", c->args);
    }
    if (nargs < c->min_args) {
        return mcpctl_usage_fail(ctl, "'%s %s' needs %s", g->name, c->name,
                                 c->args);
    }
    if (strcmp(ctl->driver, "sqlite3") && strcmp(ctl->driver, "pgsql")) {
        return mcpctl_fail("unknown driver '%s': use sqlite3 or pgsql",
                           ctl->driver);
    }
    return c->fn(ctl, nargs, argv + 2);
}

/* --help with a command (anywhere on the line): that command's usage. */
static int help(mcpctl_t *ctl, int argc, const char *const *argv)
{
    const mcpctl_group_t *g = argc >= 1 ? find_group(argv[0]) : NULL;
    const mcpctl_cmd_t *c = g && argc >= 2 ? find_cmd(g, argv[1]) : NULL;

    if (c) {
        cmd_usage(stdout, ctl->pool, g->name, c, 1);
    }
    else {
        usage(stdout, ctl->pool);
    }
    return MCPCTL_OK;
}

/* Keep the value of command option @i. */
static int take_opt(mcpctl_t *ctl, int i, const char *arg)
{
    const cmd_opt_t *o = &cmd_opts[i];
    const char **slot = NULL;

    if (!*arg && !o->empty_ok) {
        return mcpctl_fail("--%s needs a value", o->name);
    }
    if ((ctl->given & o->bit) && !o->repeat) {
        return mcpctl_fail("--%s given twice", o->name);
    }
    ctl->given |= o->bit;
    switch (o->bit) {
    case MCPCTL_OPT_PRESET:       slot = &ctl->preset; break;
    case MCPCTL_OPT_AUTH_METHOD:  slot = &ctl->auth_method; break;
    case MCPCTL_OPT_NAME:         slot = &ctl->name; break;
    case MCPCTL_OPT_SCOPE:        slot = &ctl->scope; break;
    case MCPCTL_OPT_USER:         slot = &ctl->user; break;
    case MCPCTL_OPT_CLIENT:       slot = &ctl->client; break;
    case MCPCTL_OPT_PRESETS:      slot = &ctl->presets; break;
    case MCPCTL_OPT_REVOKE_URL:   slot = &ctl->revoke_url; break;
    case MCPCTL_OPT_CLIENT_ID:    slot = &ctl->client_id; break;
    case MCPCTL_OPT_SECRET_FILE:  slot = &ctl->secret_file; break;
    case MCPCTL_OPT_VAULT_KEY:
        APR_ARRAY_PUSH(ctl->vault_keys, const char *) = arg;
        break;
    case MCPCTL_OPT_REDIRECT_URI:
        APR_ARRAY_PUSH(ctl->redirect_uris, const char *) = arg;
        break;
    case MCPCTL_OPT_RESOURCE:
        APR_ARRAY_PUSH(ctl->resources, const char *) = arg;
        break;
    }
    if (slot) {
        *slot = arg;
    }
    return 0;
}

int main(int argc, const char *const *argv)
{
    static const apr_getopt_option_t global_opts[] = {
        { "driver",  'd', 1, "database driver" },
        { "params",  'p', 1, "database parameters" },
        { "help",    'h', 0, "help" },
        { "version", 'V', 0, "version" },
    };
    apr_getopt_option_t opts[sizeof(global_opts) / sizeof(global_opts[0])
                             + NUM_CMD_OPTS + 1];
    apr_getopt_t *os;
    mcpctl_t ctl;
    const char *arg, *env;
    int optch, rc, i, n = 0, want_help = 0;
    apr_status_t rv;

    if (apr_app_initialize(&argc, &argv, NULL) != APR_SUCCESS) {
        fputs("mcpctl: cannot initialize APR\n", stderr);
        return MCPCTL_ERROR;
    }
    atexit(apr_terminate);
    memset(&ctl, 0, sizeof(ctl));
    if (apr_pool_create(&ctl.pool, NULL) != APR_SUCCESS) {
        fputs("mcpctl: cannot initialize APR\n", stderr);
        return MCPCTL_ERROR;
    }
    ctl.now = apr_time_sec(apr_time_now());
    ctl.redirect_uris = apr_array_make(ctl.pool, 4, sizeof(const char *));
    ctl.resources = apr_array_make(ctl.pool, 2, sizeof(const char *));
    ctl.vault_keys = apr_array_make(ctl.pool, 2, sizeof(const char *));
    ctl.driver = getenv("MCP_DBD_DRIVER");
    ctl.params = getenv("MCP_DBD_PARAMS");
    if (!ctl.driver || !*ctl.driver) {
        ctl.driver = "sqlite3";
    }
    env = getenv("MCP_PRESETS");
    ctl.presets = env && *env ? env : MCP_PRESETS_FILE;
    for (i = 0; i < (int)(sizeof(global_opts) / sizeof(global_opts[0])); i++) {
        opts[n++] = global_opts[i];
    }
    for (i = 0; cmd_opts[i].name; i++, n++) {
        opts[n].name = cmd_opts[i].name;
        opts[n].optch = OPT_CODE(i);
        opts[n].has_arg = 1;
        opts[n].description = cmd_opts[i].help;
    }
    memset(&opts[n], 0, sizeof(opts[n]));
    apr_getopt_init(&os, ctl.pool, argc, argv);
    /* Options may come after the command too: mcpctl db status -p x.db */
    os->interleave = 1;
    while ((rv = apr_getopt_long(os, opts, &optch, &arg)) == APR_SUCCESS) {
        switch (optch) {
        case 'd': ctl.driver = arg; break;
        case 'p': ctl.params = arg; break;
        case 'h': want_help = 1; break;
        case 'V': printf("mcpctl (mod_mcp) %s\n", MCP_VERSION); return MCPCTL_OK;
        default:
            if (take_opt(&ctl, optch - OPT_CODE(0), arg) != 0) {
                return MCPCTL_ERROR;
            }
        }
    }
    if (rv != APR_EOF) {
        /* apr_getopt has said which option (on stderr). */
        return mcpctl_fail("bad command line (try mcpctl --help)");
    }
    /* os->argv, not argv: interleaving permutes apr_getopt's own copy. */
    if (want_help) {
        rc = help(&ctl, os->argc - os->ind, os->argv + os->ind);
    }
    else {
        rc = dispatch(&ctl, os->argc - os->ind, os->argv + os->ind);
    }
    apr_pool_destroy(ctl.pool);
    return rc;
}
