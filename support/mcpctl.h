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

/* mcpctl internals: what a command gets, and the command groups. Each
 * group (db, client, consent, token; links and keys later) lives in its
 * own mcpctl_<group>.c and exports a table of commands. */
#ifndef MCPCTL_H
#define MCPCTL_H

#include <stdio.h>

#include <apr_pools.h>
#include <apr_tables.h>

#include "mcp/mcp_common.h"
#include "mcp/mcp_store.h"

/* Exit statuses, for scripts. */
#define MCPCTL_OK           0
#define MCPCTL_NEEDS_WORK   1   /* e.g. the schema needs init/upgrade */
#define MCPCTL_ERROR        2   /* usage, database or other errors */

/* How long a revocation of access tokens is kept: the longest access
 * token lifetime MCPAuthzLifetime allows (86400 s), plus a minute for
 * clocks that disagree. Access tokens are checked without the store, so
 * only such a row stops those already issued. */
#define MCPCTL_REVOCATION_TTL   (86400 + 60)

/* The options a command may take (mcpctl_cmd_t.opts), after the command
 * or before it; the global ones (--driver, --params) apply to all. */
#define MCPCTL_OPT_PRESET       0x0001  /* --preset NAME */
#define MCPCTL_OPT_REDIRECT_URI 0x0002  /* --redirect-uri URI, repeated */
#define MCPCTL_OPT_AUTH_METHOD  0x0004  /* --auth-method METHOD */
#define MCPCTL_OPT_RESOURCE     0x0008  /* --allowed-resource URL, repeated */
#define MCPCTL_OPT_NAME         0x0010  /* --name TEXT */
#define MCPCTL_OPT_SCOPE        0x0020  /* --scope "a b" */
#define MCPCTL_OPT_USER         0x0040  /* --user SUBJECT */
#define MCPCTL_OPT_CLIENT       0x0080  /* --client CLIENT_ID */
#define MCPCTL_OPT_PRESETS      0x0100  /* --presets FILE */
#define MCPCTL_OPT_VAULT_KEY    0x0200  /* --vault-key [ID=]FILE, repeated */
#define MCPCTL_OPT_REVOKE_URL   0x0400  /* --revoke-url URL */
#define MCPCTL_OPT_CLIENT_ID    0x0800  /* --client-id ID */
#define MCPCTL_OPT_SECRET_FILE  0x1000  /* --secret-file FILE */

/* What client register and update take. */
#define MCPCTL_OPTS_CLIENT_META (MCPCTL_OPT_PRESET | MCPCTL_OPT_REDIRECT_URI \
                                 | MCPCTL_OPT_AUTH_METHOD | MCPCTL_OPT_RESOURCE \
                                 | MCPCTL_OPT_NAME | MCPCTL_OPT_SCOPE \
                                 | MCPCTL_OPT_PRESETS)
/* What provider revoke and purge take to revoke at the provider. */
#define MCPCTL_OPTS_PROVIDER_REVOKE (MCPCTL_OPT_VAULT_KEY \
                                     | MCPCTL_OPT_REVOKE_URL \
                                     | MCPCTL_OPT_CLIENT_ID \
                                     | MCPCTL_OPT_SECRET_FILE \
                                     | MCPCTL_OPT_AUTH_METHOD)

typedef struct mcpctl_cmd_t mcpctl_cmd_t;

typedef struct {
    apr_pool_t *pool;
    const char *driver;         /* "sqlite3" or "pgsql" */
    const char *params;         /* apr_dbd parameters, may be NULL */
    const char *group;          /* the command running, for its usage */
    const mcpctl_cmd_t *cmd;
    apr_int64_t now;            /* when the command started, Unix seconds */
    unsigned given;             /* MCPCTL_OPT_* given on the command line */
    /* The values of the options given (NULL or empty arrays otherwise). */
    const char *preset;
    const char *auth_method;
    const char *name;
    const char *scope;
    const char *user;
    const char *client;
    const char *presets;        /* else MCP_PRESETS, else the installed file */
    const char *revoke_url;
    const char *client_id;
    const char *secret_file;
    apr_array_header_t *vault_keys;     /* const char *, "[ID=]FILE" */
    apr_array_header_t *redirect_uris;  /* const char *, as given */
    apr_array_header_t *resources;      /* const char *, as given */
} mcpctl_t;

typedef int mcpctl_fn(mcpctl_t *ctl, int argc, const char *const *argv);

struct mcpctl_cmd_t {
    const char *name;           /* e.g. "upgrade" */
    const char *args;           /* synopsis of its arguments, "" for none */
    int min_args;               /* fewer are a usage error */
    int max_args;               /* more are a usage error */
    unsigned opts;              /* MCPCTL_OPT_* it takes */
    unsigned need;              /* of those, the ones it cannot do without */
    mcpctl_fn *fn;
    const char *help;           /* one line */
};

typedef struct {
    const char *name;           /* e.g. "db" */
    const mcpctl_cmd_t *cmds;   /* ends with a NULL name */
} mcpctl_group_t;

/* The groups, in mcpctl_<group>.c. */
extern const mcpctl_cmd_t mcpctl_db_cmds[];
extern const mcpctl_cmd_t mcpctl_client_cmds[];
extern const mcpctl_cmd_t mcpctl_consent_cmds[];
extern const mcpctl_cmd_t mcpctl_token_cmds[];
extern const mcpctl_cmd_t mcpctl_provider_cmds[];

/* Print "mcpctl: <message>" to stderr; returns MCPCTL_ERROR. */
int mcpctl_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Print "mcpctl: <message>" and the usage of the running command to
 * stderr; returns MCPCTL_ERROR. */
int mcpctl_usage_fail(const mcpctl_t *ctl, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Print the store's last error; returns MCPCTL_ERROR. */
int mcpctl_store_fail(mcp_store_t *st);

/* Open the store named by the options; on failure print why and return
 * MCPCTL_ERROR, else 0. */
int mcpctl_open_store(mcpctl_t *ctl, mcp_store_t **pst);

/* Fetch a client; when there is none (or on errors) print why and return
 * MCPCTL_ERROR, else 0. */
int mcpctl_client_fetch(mcpctl_t *ctl, mcp_store_t *st, const char *client_id,
                        mcp_store_client_t **pc);

/* Refuse the access tokens already issued to a client or a subject
 * ("client" or "subject"), on every node, for MCPCTL_REVOCATION_TTL; on
 * failure print why and return MCPCTL_ERROR, else 0. */
int mcpctl_revoke_access(mcpctl_t *ctl, mcp_store_t *st, const char *kind,
                         const char *value);

/* A time for people: "2026-12-01 21:52:25 UTC", or @a none for 0. */
const char *mcpctl_time(apr_pool_t *p, apr_int64_t t, const char *none);

/* @a s fit for a terminal: control characters become '?'; "-" for NULL
 * or empty. The store holds what clients registered themselves. */
const char *mcpctl_text(apr_pool_t *p, const char *s);

/* Print a table: @a rows holds const char ** rows of @a ncols cells, the
 * first one the header; columns are as wide as their widest cell. */
void mcpctl_print_table(apr_pool_t *p, const apr_array_header_t *rows,
                        int ncols);

#endif /* MCPCTL_H */
