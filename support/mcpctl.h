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
 * group (db now; clients, tokens, links, keys later) lives in its own
 * mcpctl_<group>.c and exports a table of commands. */
#ifndef MCPCTL_H
#define MCPCTL_H

#include <stdio.h>

#include <apr_pools.h>

#include "mcp/mcp_common.h"
#include "mcp/mcp_store.h"

/* Exit statuses, for scripts. */
#define MCPCTL_OK           0
#define MCPCTL_NEEDS_WORK   1   /* e.g. the schema needs init/upgrade */
#define MCPCTL_ERROR        2   /* usage, database or other errors */

typedef struct {
    apr_pool_t *pool;
    const char *driver;         /* "sqlite3" or "pgsql" */
    const char *params;         /* apr_dbd parameters, may be NULL */
} mcpctl_t;

typedef int mcpctl_fn(mcpctl_t *ctl, int argc, const char *const *argv);

typedef struct {
    const char *name;           /* e.g. "upgrade" */
    const char *args;           /* synopsis of its arguments, "" for none */
    int max_args;               /* more are a usage error */
    mcpctl_fn *fn;
    const char *help;           /* one line */
} mcpctl_cmd_t;

typedef struct {
    const char *name;           /* e.g. "db" */
    const mcpctl_cmd_t *cmds;   /* ends with a NULL name */
} mcpctl_group_t;

/* The db group, in mcpctl_db.c. */
extern const mcpctl_cmd_t mcpctl_db_cmds[];

/* Print "mcpctl: <message>" to stderr; returns MCPCTL_ERROR. */
int mcpctl_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Open the store named by the options; on failure print why and return
 * MCPCTL_ERROR, else 0. */
int mcpctl_open_store(mcpctl_t *ctl, mcp_store_t **pst);

#endif /* MCPCTL_H */
