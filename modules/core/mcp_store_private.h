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

/* Internal to the store: shared between mcp_store.c (connections, schema)
 * and mcp_store_ops.c (statements and storage functions). */
#ifndef MCP_STORE_PRIVATE_H
#define MCP_STORE_PRIVATE_H

#include "mcp/mcp_store.h"

/* SQLite busy timeout, in milliseconds (a string: it goes into a PRAGMA). */
#define MCP_STORE_SQLITE_BUSY_MS "5000"
#define MCP_STORE_SQLITE_BUSY_MS_N 5000

struct mcp_store_t {
    apr_pool_t *pool;
    const apr_dbd_driver_t *driver;
    apr_dbd_t *handle;
    apr_hash_t *prepared;       /* the connection's statements */
    apr_pool_t *conn_pool;      /* the connection's lifetime */
    int is_sqlite;
    int write_locked;           /* holds the process's SQLite write lock */
    const char *error;
};

typedef struct {
    const char *label;          /* key in the prepared hash */
    const char *sql;            /* apr_dbd: %s text, %lld bigint */
} mcp_store_statement_t;

/* NULL-terminated table, in mcp_store_ops.c. */
extern const mcp_store_statement_t mcp_store_statements[];

/* Is @name a driver mod_mcp has a schema for? */
int mcp_store_driver_known(const char *name);

/* Prepare every statement on this connection once (after the SQLite
 * settings and the schema check). */
apr_status_t mcp_store_ready(mcp_store_t *st);

apr_dbd_prepared_t *mcp_store_stmt(mcp_store_t *st, const char *label);

/* Did statement error @err come from a schema changed by another
 * connection (SQLite)? Then run it once more; for a prepared statement,
 * after mcp_store_forget() so that all are prepared again. */
int mcp_store_stale(mcp_store_t *st, int err);
void mcp_store_forget(mcp_store_t *st);

/* Set st->error and return @rv. */
apr_status_t mcp_store_fail(mcp_store_t *st, apr_status_t rv, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* MCP_ESTORE with the driver's message for @err. */
apr_status_t mcp_store_dbfail(mcp_store_t *st, int err, const char *what);

/* A constant statement (administration and tests only; never SQL built
 * from input). */
apr_status_t mcp_store_exec(mcp_store_t *st, const char *sql);

/* Transactions of our own (not apr_dbd's): on SQLite they begin with
 * BEGIN IMMEDIATE, so the write lock is taken at once (the busy timeout
 * applies) and a transaction never fails half-way on a lock upgrade.
 * tx_end commits when @rv is APR_SUCCESS, else rolls back keeping the
 * first error's message; it returns @rv or the commit's failure. Never
 * call the store inside a transaction someone else opened. */
apr_status_t mcp_store_tx_begin(mcp_store_t *st);

/* SQLite only: one writer per process at a time (see mcp_store.c). lock
 * returns 1 when it took the lock (unlock it then), 0 when this handle
 * holds it already (a transaction) or the driver is not SQLite. */
int mcp_store_write_lock(mcp_store_t *st);
void mcp_store_write_unlock(mcp_store_t *st);
apr_status_t mcp_store_tx_end(mcp_store_t *st, apr_status_t rv);

#endif /* MCP_STORE_PRIVATE_H */
