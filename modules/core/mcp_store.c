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

/* Connections, statement preparation, schema versions and migrations of
 * the SQL store. The storage functions are in mcp_store_ops.c. */

#include <string.h>

#include <apr_atomic.h>
#include <apr_strings.h>

#include "mcp/mcp_store.h"
#include "mcp_store_private.h"
#include "mcp_store_schema.h"

/* Marker entry in a connection's prepared-statement hash: our statements
 * are there. Its value is never used as a statement. */
static const char ready_key[] = "mcp:store-ready";
static char ready_value;

/* Makes the server-side statement names unique per attempt, so that a
 * failed half-way preparation can be retried on the same connection. */
static volatile apr_uint32_t prepare_serial;

const char *mcp_store_error(const mcp_store_t *st)
{
    return st->error ? st->error : "no error";
}

const char *mcp_store_driver_name(const mcp_store_t *st)
{
    return apr_dbd_name(st->driver);
}

apr_status_t mcp_store_fail(mcp_store_t *st, apr_status_t rv, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    st->error = apr_pvsprintf(st->pool, fmt, ap);
    va_end(ap);
    return rv;
}

apr_status_t mcp_store_dbfail(mcp_store_t *st, int err, const char *what)
{
    const char *msg = apr_dbd_error(st->driver, st->handle, err);

    return mcp_store_fail(st, MCP_ESTORE, "%s: %s", what,
                          msg && *msg ? msg : "database error");
}

static mcp_store_t *store_new(apr_pool_t *p, const apr_dbd_driver_t *driver,
                              apr_dbd_t *handle, apr_hash_t *prepared,
                              apr_pool_t *conn_pool)
{
    mcp_store_t *st = apr_pcalloc(p, sizeof(*st));

    st->pool = p;
    st->driver = driver;
    st->handle = handle;
    st->prepared = prepared;
    st->conn_pool = conn_pool;
    st->is_sqlite = !strcmp(apr_dbd_name(driver), "sqlite3");
    return st;
}

apr_status_t mcp_store_attach(mcp_store_t **pst, apr_pool_t *p,
                              const apr_dbd_driver_t *driver,
                              apr_dbd_t *handle, apr_hash_t *prepared,
                              apr_pool_t *conn_pool)
{
    if (!driver || !handle || !prepared || !conn_pool) {
        return APR_EINVAL;
    }
    *pst = store_new(p, driver, handle, prepared, conn_pool);
    return APR_SUCCESS;
}

typedef struct {
    const apr_dbd_driver_t *driver;
    apr_dbd_t *handle;
} own_conn_t;

static apr_status_t own_conn_close(void *data)
{
    own_conn_t *c = data;

    apr_dbd_close(c->driver, c->handle);
    return APR_SUCCESS;
}

apr_status_t mcp_store_open(mcp_store_t **pst, apr_pool_t *p,
                            const char *driver_name, const char *params,
                            const char **perr)
{
    const apr_dbd_driver_t *driver;
    apr_dbd_t *handle = NULL;
    const char *err = NULL;
    own_conn_t *c;
    mcp_store_t *st;
    apr_status_t rv;

    apr_dbd_init(p);
    rv = apr_dbd_get_driver(p, driver_name, &driver);
    if (rv != APR_SUCCESS) {
        const char *pkg = !strcmp(driver_name, "sqlite3") ? "libaprutil1-dbd-sqlite3"
                        : !strcmp(driver_name, "pgsql") ? "libaprutil1-dbd-pgsql"
                        : NULL;
        if (perr) {
            *perr = pkg ? apr_psprintf(p, "the apr_dbd driver '%s' cannot be "
                                       "loaded: install the Debian package %s",
                                       driver_name, pkg)
                        : apr_psprintf(p, "unknown database driver '%s' (use "
                                       "sqlite3 or pgsql)", driver_name);
        }
        return MCP_ESTORE;
    }
    rv = apr_dbd_open_ex(driver, p, params ? params : "", &handle, &err);
    if (rv != APR_SUCCESS || !handle) {
        if (perr) {
            *perr = apr_psprintf(p, "cannot open the %s database: %s",
                                 driver_name, err ? err : "connection failed");
        }
        return MCP_ESTORE;
    }
    c = apr_palloc(p, sizeof(*c));
    c->driver = driver;
    c->handle = handle;
    apr_pool_cleanup_register(p, c, own_conn_close, apr_pool_cleanup_null);
    st = store_new(p, driver, handle, apr_hash_make(p), p);
    if (st->is_sqlite && (rv = mcp_store_sqlite_setup(st)) != APR_SUCCESS) {
        if (perr) {
            *perr = mcp_store_error(st);
        }
        return rv;
    }
    *pst = st;
    return APR_SUCCESS;
}

/* Run a constant statement that may return rows, and drain them. */
static apr_status_t run_select(mcp_store_t *st, const char *sql,
                               const char **pfirst)
{
    apr_pool_t *tmp;
    apr_dbd_results_t *res = NULL;
    apr_dbd_row_t *row = NULL;
    int err;

    apr_pool_create(&tmp, st->pool);
    err = apr_dbd_select(st->driver, tmp, st->handle, &res, sql, 0);
    if (err) {
        apr_pool_destroy(tmp);
        return mcp_store_dbfail(st, err, sql);
    }
    if (pfirst) {
        *pfirst = NULL;
    }
    while (apr_dbd_get_row(st->driver, tmp, res, &row, -1) == 0) {
        const char *v = NULL;
        if (pfirst && !*pfirst
            && apr_dbd_datum_get(st->driver, row, 0, APR_DBD_TYPE_STRING, &v) == APR_SUCCESS) {
            *pfirst = apr_pstrdup(st->pool, v);
        }
    }
    apr_pool_destroy(tmp);
    return APR_SUCCESS;
}

apr_status_t mcp_store_exec(mcp_store_t *st, const char *sql)
{
    int nrows = 0, err = apr_dbd_query(st->driver, st->handle, &nrows, sql);

    return err ? mcp_store_dbfail(st, err, sql) : APR_SUCCESS;
}

apr_status_t mcp_store_sqlite_setup(mcp_store_t *st)
{
    apr_status_t rv;

    /* WAL lets readers and one writer work at once across processes; the
     * busy timeout makes a writer wait for another instead of failing. */
    if ((rv = run_select(st, "PRAGMA busy_timeout = " MCP_STORE_SQLITE_BUSY_MS, NULL))
            != APR_SUCCESS
        || (rv = run_select(st, "PRAGMA journal_mode = WAL", NULL)) != APR_SUCCESS
        || (rv = mcp_store_exec(st, "PRAGMA synchronous = NORMAL")) != APR_SUCCESS
        || (rv = mcp_store_exec(st, "PRAGMA foreign_keys = ON")) != APR_SUCCESS) {
        return rv;
    }
    return APR_SUCCESS;
}

/* ---------------------------------------------------------------------
 * Schema
 * ------------------------------------------------------------------- */

int mcp_store_schema_latest(void)
{
    return mcp_store_migration_count;
}

apr_status_t mcp_store_schema_status(mcp_store_t *st, mcp_store_schema_t *s)
{
    const char *v = NULL;
    apr_status_t rv;

    s->initialized = 0;
    s->version = 0;
    s->expected = mcp_store_schema_latest();
    rv = run_select(st, st->is_sqlite
        ? "SELECT count(*) FROM sqlite_master WHERE type = 'table' "
          "AND name = 'mcp_schema_version'"
        : "SELECT count(*) FROM information_schema.tables WHERE "
          "table_schema = current_schema() AND table_name = 'mcp_schema_version'",
        &v);
    if (rv != APR_SUCCESS) {
        return rv;
    }
    if (!v || apr_atoi64(v) == 0) {
        return APR_SUCCESS;
    }
    s->initialized = 1;
    rv = run_select(st, "SELECT MAX(version) FROM mcp_schema_version", &v);
    if (rv == APR_SUCCESS && v) {
        s->version = (int)apr_atoi64(v);
    }
    return rv;
}

apr_status_t mcp_store_schema_check(mcp_store_t *st)
{
    mcp_store_schema_t s;
    apr_status_t rv = mcp_store_schema_status(st, &s);

    if (rv != APR_SUCCESS) {
        return rv;
    }
    if (!s.initialized || s.version == 0) {
        return mcp_store_fail(st, MCP_ESCHEMA, "the %s database has no mod_mcp "
                              "schema: run `mcpctl db upgrade` on it",
                              mcp_store_driver_name(st));
    }
    if (s.version < s.expected) {
        return mcp_store_fail(st, MCP_ESCHEMA, "the %s database has mod_mcp "
                              "schema version %d, this build needs %d: run "
                              "`mcpctl db upgrade` on it",
                              mcp_store_driver_name(st), s.version, s.expected);
    }
    if (s.version > s.expected) {
        return mcp_store_fail(st, MCP_ESCHEMA, "the %s database has mod_mcp "
                              "schema version %d, newer than this build (%d): "
                              "upgrade mod_mcp", mcp_store_driver_name(st),
                              s.version, s.expected);
    }
    return APR_SUCCESS;
}

static apr_status_t apply_migration(mcp_store_t *st, const mcp_store_migration_t *m)
{
    apr_dbd_transaction_t *tx = NULL;
    const char *const *sql;
    apr_status_t rv = APR_SUCCESS;
    int err, nrows;

    err = apr_dbd_transaction_start(st->driver, st->pool, st->handle, &tx);
    if (err) {
        return mcp_store_dbfail(st, err, "starting a transaction");
    }
    for (sql = m->statements; *sql && rv == APR_SUCCESS; sql++) {
        err = apr_dbd_query(st->driver, st->handle, &nrows, *sql);
        if (err) {
            rv = mcp_store_dbfail(st, err, apr_psprintf(st->pool, "migration %s",
                                                        m->file));
        }
    }
    if (rv == APR_SUCCESS) {
        /* Our own integers, not input. */
        err = apr_dbd_query(st->driver, st->handle, &nrows, apr_psprintf(st->pool,
                            "INSERT INTO mcp_schema_version (version, applied_at) "
                            "VALUES (%d, %" APR_INT64_T_FMT ")", m->version,
                            (apr_int64_t)apr_time_sec(apr_time_now())));
        if (err) {
            rv = mcp_store_dbfail(st, err, "recording the schema version");
        }
    }
    if (rv != APR_SUCCESS) {
        apr_dbd_transaction_mode_set(st->driver, tx, APR_DBD_TRANSACTION_ROLLBACK);
    }
    err = apr_dbd_transaction_end(st->driver, st->pool, tx);
    if (err && rv == APR_SUCCESS) {
        rv = mcp_store_dbfail(st, err, "committing the migration");
    }
    return rv;
}

apr_status_t mcp_store_schema_upgrade(mcp_store_t *st, int *pfrom, int *pto)
{
    const mcp_store_migration_t *m = st->is_sqlite ? mcp_store_migrations_sqlite
                                                   : mcp_store_migrations_pgsql;
    mcp_store_schema_t s;
    apr_status_t rv;

    if (strcmp(mcp_store_driver_name(st), "sqlite3")
        && strcmp(mcp_store_driver_name(st), "pgsql")) {
        return mcp_store_fail(st, MCP_ESTORE, "no schema for the '%s' driver",
                              mcp_store_driver_name(st));
    }
    rv = mcp_store_schema_status(st, &s);
    if (rv != APR_SUCCESS) {
        return rv;
    }
    if (pfrom) {
        *pfrom = s.version;
    }
    if (s.version > s.expected) {
        return mcp_store_fail(st, MCP_ESCHEMA, "the database has schema version "
                              "%d, newer than this build (%d)", s.version,
                              s.expected);
    }
    for (; m->version; m++) {
        if (m->version > s.version) {
            rv = apply_migration(st, m);
            if (rv != APR_SUCCESS) {
                break;
            }
            s.version = m->version;
        }
    }
    if (pto) {
        *pto = s.version;
    }
    return rv;
}

/* ---------------------------------------------------------------------
 * Statements
 * ------------------------------------------------------------------- */

apr_status_t mcp_store_ready(mcp_store_t *st)
{
    apr_uint32_t serial;
    apr_status_t rv;
    int i;

    if (apr_hash_get(st->prepared, ready_key, APR_HASH_KEY_STRING)) {
        return APR_SUCCESS;
    }
    if (st->is_sqlite && (rv = mcp_store_sqlite_setup(st)) != APR_SUCCESS) {
        return rv;
    }
    rv = mcp_store_schema_check(st);
    if (rv != APR_SUCCESS) {
        return rv;
    }
    serial = apr_atomic_inc32(&prepare_serial);
    for (i = 0; mcp_store_statements[i].label; i++) {
        apr_dbd_prepared_t *ps = NULL;
        int err = apr_dbd_prepare(st->driver, st->conn_pool, st->handle,
                                  mcp_store_statements[i].sql,
                                  apr_psprintf(st->conn_pool, "mcp%u_%d", serial, i),
                                  &ps);
        if (err) {
            return mcp_store_dbfail(st, err, apr_psprintf(st->pool,
                                    "preparing %s", mcp_store_statements[i].label));
        }
        apr_hash_set(st->prepared, mcp_store_statements[i].label,
                     APR_HASH_KEY_STRING, ps);
    }
    apr_hash_set(st->prepared, ready_key, APR_HASH_KEY_STRING, &ready_value);
    return APR_SUCCESS;
}

apr_dbd_prepared_t *mcp_store_stmt(mcp_store_t *st, const char *label)
{
    return apr_hash_get(st->prepared, label, APR_HASH_KEY_STRING);
}
