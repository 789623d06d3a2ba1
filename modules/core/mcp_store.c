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

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <apr_atomic.h>
#include <apr_strings.h>
#include <apr_time.h>

#include "mcp/mcp_store.h"
#include "mcp_store_private.h"
#include "mcp_store_schema.h"

/* Marker entry in a connection's prepared-statement hash: all our
 * statements are there. It is set last, so a preparation that failed
 * half-way leaves no marker and is redone. Its value is never used as a
 * statement. */
static const char ready_key[] = "mcp_store_ready";
static char ready_value;

/* PostgreSQL advisory lock key taken by every migration transaction, so
 * that two `mcpctl db upgrade` at once apply each migration once. */
#define MCP_STORE_PG_UPGRADE_LOCK "7235811"

/* Makes the server-side statement names unique per attempt, so that a
 * failed half-way preparation can be retried on the same connection. */
static volatile apr_uint32_t prepare_serial;

const char *mcp_store_error(const mcp_store_t *st)
{
    /* Also for the NULL handle a failed attach or open leaves. */
    return !st ? "no store" : st->error ? st->error : "no error";
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

int mcp_store_driver_known(const char *name)
{
    return name && (!strcmp(name, "sqlite3") || !strcmp(name, "pgsql"));
}

/* The first line of a driver's message. PostgreSQL's further lines
 * (LINE, DETAIL) can quote a stored value, e.g. the key of a duplicate. */
static const char *clean_msg(apr_pool_t *p, const char *msg)
{
    char *m;
    apr_size_t n;

    if (!msg || !*msg) {
        return "database error";
    }
    m = apr_pstrndup(p, msg, strcspn(msg, "\n"));
    n = strlen(m);
    while (n > 0 && (m[n - 1] == '\n' || m[n - 1] == '\r' || m[n - 1] == ' ')) {
        m[--n] = '\0';
    }
    return n ? m : "database error";
}

apr_status_t mcp_store_dbfail(mcp_store_t *st, int err, const char *what)
{
    const char *msg = apr_dbd_error(st->driver, st->handle, err);

    return mcp_store_fail(st, MCP_ESTORE, "%s: %s", what, clean_msg(st->pool, msg));
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
    mcp_store_t *st;

    if (!pst || !p || !driver || !handle || !prepared || !conn_pool) {
        return APR_EINVAL;
    }
    *pst = st = store_new(p, driver, handle, prepared, conn_pool);
    if (!mcp_store_driver_known(apr_dbd_name(driver))) {
        return mcp_store_fail(st, MCP_ESTORE, "mod_mcp has no schema for the "
                              "'%s' database driver: use sqlite3 or pgsql",
                              apr_dbd_name(driver));
    }
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

static const char *driver_package(const char *driver_name)
{
    return !strcmp(driver_name, "sqlite3") ? "libaprutil1-dbd-sqlite3"
         : !strcmp(driver_name, "pgsql") ? "libaprutil1-dbd-pgsql" : NULL;
}

/* A SQLite database holds client secrets' hashes, tokens' hashes and
 * sealed upstream tokens: only its owner should read it. SQLite creates a
 * new file 0644 less the umask, and gives its -wal and -shm files the
 * main file's mode: so a new file is created here first, 0600 whatever
 * the umask, and SQLite opens it (an empty file is an empty database).
 * An existing file is left as it is; a mode that lets other users (not
 * the group: a group shared by httpd and its admins is a choice) read or
 * write it gets a warning. ":memory:" and "file:" URIs are SQLite's. */
static void sqlite_file_mode(apr_pool_t *p, const char *path)
{
    struct stat sb;
    int fd;

    if (!*path || !strcmp(path, ":memory:") || !strncmp(path, "file:", 5)) {
        return;
    }
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, S_IRUSR | S_IWUSR);
    if (fd >= 0) {
        /* The umask may have taken more than the group's and others' bits. */
        if (fchmod(fd, S_IRUSR | S_IWUSR) != 0) {
            mcp_log(MCP_LOG_MARK, MCP_LOG_WARNING, APR_FROM_OS_ERROR(errno), p,
                    MCPLOGNO(01055) "store: cannot set mode 0600 on the new "
                    "SQLite database %s", path);
        }
        close(fd);
        return;
    }
    /* Missing directory, no permission, ...: SQLite's open says why. */
    if (errno == EEXIST && stat(path, &sb) == 0 && S_ISREG(sb.st_mode)
        && (sb.st_mode & (S_IROTH | S_IWOTH))) {
        mcp_log(MCP_LOG_MARK, MCP_LOG_WARNING, 0, p, MCPLOGNO(01051)
                "store: the SQLite database %s has mode %04o: other users can "
                "%s it (and its -wal and -shm files); chmod o-rwx it",
                path, (unsigned)(sb.st_mode & 07777),
                sb.st_mode & S_IWOTH ? "read or write" : "read");
    }
}

apr_status_t mcp_store_open(mcp_store_t **pst, apr_pool_t *p,
                            const char *driver_name, const char *params,
                            const char **perr)
{
    const apr_dbd_driver_t *driver;
    apr_dbd_t *handle = NULL;
    const char *err = NULL, *dummy;
    own_conn_t *c;
    mcp_store_t *st;
    apr_status_t rv;
    int sqlite;

    if (!perr) {
        perr = &dummy;
    }
    *perr = NULL;
    if (pst) {
        *pst = NULL;
    }
    if (!pst || !p) {
        *perr = "opening a store needs a pool and where to put it";
        return MCP_EINVALID;
    }
    if (!mcp_store_driver_known(driver_name)) {
        *perr = apr_psprintf(p, "unknown database driver '%s': mod_mcp "
                             "supports sqlite3 and pgsql",
                             driver_name ? driver_name : "");
        return MCP_EINVALID;
    }
    sqlite = !strcmp(driver_name, "sqlite3");
    apr_dbd_init(p);
    rv = apr_dbd_get_driver(p, driver_name, &driver);
    if (rv != APR_SUCCESS) {
        *perr = apr_psprintf(p, "the apr_dbd driver '%s' cannot be loaded (%s): "
                             "install the Debian package %s", driver_name,
                             mcp_strerror(p, rv), driver_package(driver_name));
        return MCP_ESTORE;
    }
    if (!params || !*params) {
        *perr = apr_psprintf(p, "no %s database parameters given", driver_name);
        return MCP_EINVALID;
    }
    if (sqlite) {
        sqlite_file_mode(p, params);
    }
    rv = apr_dbd_open_ex(driver, p, params, &handle, &err);
    if (rv != APR_SUCCESS || !handle) {
        /* The file name of a SQLite database helps; PostgreSQL parameters
         * may hold a password and are never repeated. */
        *perr = sqlite ? apr_psprintf(p, "cannot open the sqlite3 database "
                                      "'%s': %s", params, clean_msg(p, err))
                       : apr_psprintf(p, "cannot open the pgsql database: %s",
                                      clean_msg(p, err));
        return MCP_ESTORE;
    }
    c = apr_palloc(p, sizeof(*c));
    c->driver = driver;
    c->handle = handle;
    apr_pool_cleanup_register(p, c, own_conn_close, apr_pool_cleanup_null);
    st = store_new(p, driver, handle, apr_hash_make(p), p);
    if (sqlite && (rv = mcp_store_sqlite_setup(st)) != APR_SUCCESS) {
        *perr = apr_psprintf(p, "cannot use the sqlite3 database '%s': %s",
                             params, mcp_store_error(st));
        return rv;
    }
    *pst = st;
    return APR_SUCCESS;
}

int mcp_store_stale(mcp_store_t *st, int err)
{
    const char *msg;

    if (!st->is_sqlite || !err) {
        return 0;
    }
    /* apr_dbd's sqlite3 driver uses the legacy sqlite3_prepare(): after
     * another connection changed the schema (mcpctl db upgrade), a
     * statement fails once with SQLITE_SCHEMA, which the driver reports
     * as a generic error carrying SQLite's fixed message for that code,
     * and a prepared statement keeps failing until it is prepared again. */
    msg = apr_dbd_error(st->driver, st->handle, err);
    return msg && strstr(msg, "database schema has changed") != NULL;
}

void mcp_store_forget(mcp_store_t *st)
{
    apr_hash_set(st->prepared, ready_key, APR_HASH_KEY_STRING, NULL);
}

/* Run a constant statement that may return rows, and drain them; *pfirst
 * (may be NULL) gets the first column of the first row, or NULL. */
static apr_status_t run_select(mcp_store_t *st, const char *sql,
                               const char **pfirst)
{
    apr_pool_t *tmp;
    apr_dbd_results_t *res = NULL;
    apr_dbd_row_t *row = NULL;
    int err, attempt = 0;

    if (pfirst) {
        *pfirst = NULL;
    }
    apr_pool_create(&tmp, st->pool);
    do {
        res = NULL;
        err = apr_dbd_select(st->driver, tmp, st->handle, &res, sql, 0);
    } while (err && attempt++ == 0 && mcp_store_stale(st, err));
    if (err) {
        apr_pool_destroy(tmp);
        return mcp_store_dbfail(st, err, sql);
    }
    while (apr_dbd_get_row(st->driver, tmp, res, &row, -1) == 0) {
        const char *v = NULL;
        if (pfirst && !*pfirst
            && apr_dbd_datum_get(st->driver, row, 0, APR_DBD_TYPE_STRING, &v)
               == APR_SUCCESS && v) {
            *pfirst = apr_pstrdup(st->pool, v);
        }
    }
    apr_pool_destroy(tmp);
    return APR_SUCCESS;
}

apr_status_t mcp_store_exec(mcp_store_t *st, const char *sql)
{
    int nrows = 0, attempt = 0, err;

    do {
        err = apr_dbd_query(st->driver, st->handle, &nrows, sql);
    } while (err && attempt++ == 0 && mcp_store_stale(st, err));
    return err ? mcp_store_dbfail(st, err, sql) : APR_SUCCESS;
}

/* Switch a SQLite database to WAL unless it is already. The switch needs
 * an exclusive lock, and SQLite does not wait for it with the busy
 * timeout: when another process holds a lock (e.g. it is creating the
 * schema in a new file), try again for as long as the busy timeout. */
static apr_status_t sqlite_wal(mcp_store_t *st)
{
    apr_time_t until = apr_time_now()
                       + apr_time_from_msec(MCP_STORE_SQLITE_BUSY_MS_N);
    const char *mode = NULL;
    apr_status_t rv;

    for (;;) {
        rv = run_select(st, "PRAGMA journal_mode", &mode);
        if (rv == APR_SUCCESS && mode && !strcmp(mode, "wal")) {
            return APR_SUCCESS;
        }
        if (rv == APR_SUCCESS) {
            rv = run_select(st, "PRAGMA journal_mode = WAL", &mode);
        }
        if (rv == APR_SUCCESS) {
            return APR_SUCCESS;
        }
        if (!strstr(mcp_store_error(st), "database is locked")
            || apr_time_now() >= until) {
            return rv;
        }
        apr_sleep(apr_time_from_msec(20));
    }
}

apr_status_t mcp_store_sqlite_setup(mcp_store_t *st)
{
    apr_status_t rv;

    /* The busy timeout first: it makes a writer wait for another instead
     * of failing. WAL lets readers and one writer work at once across
     * processes; synchronous=NORMAL is durable enough in WAL mode and much
     * faster; foreign keys make deleting a client take its rows along. */
    if ((rv = run_select(st, "PRAGMA busy_timeout = " MCP_STORE_SQLITE_BUSY_MS,
                         NULL)) != APR_SUCCESS
        || (rv = sqlite_wal(st)) != APR_SUCCESS
        || (rv = mcp_store_exec(st, "PRAGMA synchronous = NORMAL")) != APR_SUCCESS
        || (rv = mcp_store_exec(st, "PRAGMA foreign_keys = ON")) != APR_SUCCESS) {
        return rv;
    }
    return APR_SUCCESS;
}

/* ---------------------------------------------------------------------
 * Transactions
 * ------------------------------------------------------------------- */

/* apr_dbd's sqlite3 driver holds one process-wide mutex around every
 * statement, also while SQLite's busy handler waits for the database's
 * write lock. When one thread of a process is in a write transaction (it
 * holds SQLite's write lock between two statements) and a second thread
 * of the same process starts a write, the second waits for the lock while
 * holding the driver's mutex, which the first needs for its next
 * statement: both wait until the busy timeout. So writers of one process
 * take turns here, before the driver is involved; writers of other
 * processes wait in SQLite as usual. (A plain pthread mutex: the core
 * needs APR with threads, which on our platforms are pthreads, and a
 * static initializer spares the store an init call.) */
static pthread_mutex_t sqlite_writers = PTHREAD_MUTEX_INITIALIZER;

int mcp_store_write_lock(mcp_store_t *st)
{
    if (!st->is_sqlite || st->write_locked) {
        return 0;
    }
    pthread_mutex_lock(&sqlite_writers);
    st->write_locked = 1;
    return 1;
}

void mcp_store_write_unlock(mcp_store_t *st)
{
    if (st->write_locked) {
        st->write_locked = 0;
        pthread_mutex_unlock(&sqlite_writers);
    }
}

apr_status_t mcp_store_tx_begin(mcp_store_t *st)
{
    apr_status_t rv;

    mcp_store_write_lock(st);
    rv = mcp_store_exec(st, st->is_sqlite ? "BEGIN IMMEDIATE" : "BEGIN");
    if (rv != APR_SUCCESS) {
        mcp_store_write_unlock(st);
    }
    return rv;
}

apr_status_t mcp_store_tx_end(mcp_store_t *st, apr_status_t rv)
{
    int nrows = 0;

    if (rv == APR_SUCCESS) {
        rv = mcp_store_exec(st, "COMMIT");
        if (rv == APR_SUCCESS) {
            mcp_store_write_unlock(st);
            return APR_SUCCESS;
        }
    }
    /* The message of the first failure stays; a failed rollback (e.g. on
     * a lost connection) has nothing left to undo. */
    apr_dbd_query(st->driver, st->handle, &nrows, "ROLLBACK");
    mcp_store_write_unlock(st);
    return rv;
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

    if (!s) {
        return mcp_store_fail(st, MCP_EINVALID, "the schema status needs where "
                              "to put it");
    }
    s->initialized = 0;
    s->version = 0;
    s->expected = mcp_store_schema_latest();
    /* On a fresh mod_dbd connection this may run before anything else:
     * wait for a writer (e.g. mcpctl creating the schema) rather than
     * fail at once. */
    if (st->is_sqlite
        && (rv = run_select(st, "PRAGMA busy_timeout = " MCP_STORE_SQLITE_BUSY_MS,
                            NULL)) != APR_SUCCESS) {
        return rv;
    }
    /* Only catalog queries until the table is known to exist: this runs on
     * connections where nothing of ours is prepared. */
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
                              "schema version %d, newer than this build knows "
                              "(%d): install the mod_mcp release that upgraded "
                              "it", mcp_store_driver_name(st), s.version,
                              s.expected);
    }
    return APR_SUCCESS;
}

/* Record a migration; the values are our own integers, not input. */
static apr_status_t record_version(mcp_store_t *st, int version)
{
    return mcp_store_exec(st, apr_psprintf(st->pool,
        "INSERT INTO mcp_schema_version (version, applied_at) VALUES (%d, %"
        APR_INT64_T_FMT ")", version, (apr_int64_t)apr_time_sec(apr_time_now())));
}

/* Apply one migration in its own transaction, unless a concurrent upgrade
 * did it first. *pfound gets the version found under the lock. */
static apr_status_t apply_migration(mcp_store_t *st, const mcp_store_migration_t *m,
                                    int *pfound)
{
    const char *const *sql;
    mcp_store_schema_t s;
    apr_status_t rv;

    if ((rv = mcp_store_tx_begin(st)) != APR_SUCCESS) {
        return rv;
    }
    /* Serialize upgraders (SQLite: BEGIN IMMEDIATE did), then look again:
     * another one may have applied this migration meanwhile. */
    if (!st->is_sqlite) {
        rv = run_select(st, "SELECT pg_advisory_xact_lock("
                        MCP_STORE_PG_UPGRADE_LOCK ")", NULL);
    }
    if (rv == APR_SUCCESS) {
        rv = mcp_store_schema_status(st, &s);
    }
    if (rv != APR_SUCCESS) {
        return mcp_store_tx_end(st, rv);
    }
    *pfound = s.version;
    if (s.version >= m->version) {
        return mcp_store_tx_end(st, APR_SUCCESS);
    }
    for (sql = m->statements; *sql && rv == APR_SUCCESS; sql++) {
        rv = mcp_store_exec(st, *sql);
        if (rv != APR_SUCCESS) {
            rv = mcp_store_fail(st, rv, "migration %s: %s", m->file,
                                mcp_store_error(st));
        }
    }
    if (rv == APR_SUCCESS) {
        rv = record_version(st, m->version);
    }
    rv = mcp_store_tx_end(st, rv);
    if (rv == APR_SUCCESS) {
        mcp_log(MCP_LOG_MARK, MCP_LOG_NOTICE, 0, st->pool, MCPLOGNO(00401)
                "store: applied schema migration %s to the %s database",
                m->file, mcp_store_driver_name(st));
    }
    return rv;
}

apr_status_t mcp_store_schema_upgrade(mcp_store_t *st, int *pfrom, int *pto)
{
    const mcp_store_migration_t *m = st->is_sqlite ? mcp_store_migrations_sqlite
                                                   : mcp_store_migrations_pgsql;
    mcp_store_schema_t s;
    apr_status_t rv;
    int from = 0, to = 0, found = 0, ours = 0;

    if (!mcp_store_driver_known(mcp_store_driver_name(st))) {
        rv = mcp_store_fail(st, MCP_ESTORE, "mod_mcp has no schema for the "
                            "'%s' database driver", mcp_store_driver_name(st));
        goto done;
    }
    if ((rv = mcp_store_schema_status(st, &s)) != APR_SUCCESS) {
        goto done;
    }
    from = to = s.version;
    if (s.version > s.expected) {
        rv = mcp_store_fail(st, MCP_ESCHEMA, "the %s database has mod_mcp "
                            "schema version %d, newer than this build knows "
                            "(%d): refusing to touch it; use the mod_mcp "
                            "release that upgraded it",
                            mcp_store_driver_name(st), s.version, s.expected);
        goto done;
    }
    for (; m->version && rv == APR_SUCCESS; m++) {
        if (m->version <= to) {
            continue;
        }
        rv = apply_migration(st, m, &found);
        if (rv != APR_SUCCESS) {
            break;
        }
        /* What we report is what this call did: another upgrader may
         * have applied some (or all) of the migrations meanwhile. */
        if (found >= m->version) {
            if (!ours) {
                from = found;
            }
            to = found;
        }
        else {
            if (!ours++) {
                from = found;
            }
            to = m->version;
        }
    }
done:
    if (pfrom) {
        *pfrom = from;
    }
    if (pto) {
        *pto = to;
    }
    return rv;
}

/* ---------------------------------------------------------------------
 * Statements
 * ------------------------------------------------------------------- */

/* A statement did not prepare although the connection works: the tables
 * are not what the recorded schema version promises. */
static apr_status_t prepare_failed(mcp_store_t *st, int err, const char *label)
{
    const char *msg = clean_msg(st->pool, apr_dbd_error(st->driver, st->handle, err));
    mcp_store_schema_t s;
    apr_status_t rv;

    if (mcp_store_schema_status(st, &s) != APR_SUCCESS) {
        rv = mcp_store_fail(st, MCP_ESTORE, "preparing %s: %s", label, msg);
    }
    else {
        rv = mcp_store_fail(st, MCP_ESCHEMA, "the %s database records mod_mcp "
                            "schema version %d but statement %s does not "
                            "prepare on it (%s): its tables are not the ones "
                            "this build expects; check it with `mcpctl db "
                            "status` and `mcpctl db upgrade`",
                            mcp_store_driver_name(st), s.version, label, msg);
    }
    mcp_log(MCP_LOG_MARK, MCP_LOG_ERR, rv, st->pool, MCPLOGNO(00400)
            "store: %s", mcp_store_error(st));
    return rv;
}

apr_status_t mcp_store_ready(mcp_store_t *st)
{
    apr_uint32_t serial;
    apr_status_t rv;
    int i;

    if (apr_hash_get(st->prepared, ready_key, APR_HASH_KEY_STRING)) {
        return APR_SUCCESS;
    }
    if (!mcp_store_driver_known(mcp_store_driver_name(st))) {
        return mcp_store_fail(st, MCP_ESTORE, "mod_mcp has no schema for the "
                              "'%s' database driver", mcp_store_driver_name(st));
    }
    if (st->is_sqlite && (rv = mcp_store_sqlite_setup(st)) != APR_SUCCESS) {
        return rv;
    }
    rv = mcp_store_schema_check(st);
    if (rv != APR_SUCCESS) {
        return rv;
    }
    /* Server-side names (PostgreSQL) are unique per attempt, so a failed
     * half-way preparation can be redone on the same connection. */
    serial = apr_atomic_inc32(&prepare_serial);
    for (i = 0; mcp_store_statements[i].label; i++) {
        apr_dbd_prepared_t *ps = NULL;
        int err = apr_dbd_prepare(st->driver, st->conn_pool, st->handle,
                                  mcp_store_statements[i].sql,
                                  apr_psprintf(st->conn_pool, "mcp%u_%d", serial, i),
                                  &ps);
        if (err) {
            return prepare_failed(st, err, mcp_store_statements[i].label);
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
