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

/* The store against real databases: a SQLite file always, and the
 * PostgreSQL server named by MCP_TEST_PGSQL (apr_dbd params) when set --
 * with MCP_TEST_REQUIRE_PGSQL=1 its absence is a failure. Each test gets
 * a fresh database: a new SQLite file, or a new PostgreSQL schema. */

#include <stdio.h>
#include <unistd.h>
#include <fcntl.h>
#include <ftw.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <apr_strings.h>
#include <apr_file_io.h>
#include <apr_thread_proc.h>
#include <apr_time.h>

#include "mcp_test.h"
#include "mcp/mcp_b64.h"
#include "mcp/mcp_store.h"
#include "mcp_store_private.h"

#define NOW 1800000000

/* Processes in a race. */
#define RACERS 6

static const char *backend;     /* "sqlite3" or "pgsql" for this TCase */
static const char *params;      /* params of this test's fresh database */
static const char *pg_schema;   /* PostgreSQL schema to drop afterwards */
static char sqlite_dir[] = "/tmp/mcp-store-test-XXXXXX";
static pid_t main_pid;          /* the process that made sqlite_dir */
static int serial;

static void release_logs(void);

static mcp_store_t *open_store(apr_pool_t *p)
{
    mcp_store_t *st = NULL;
    const char *err = NULL;

    ck_assert_msg(mcp_store_open(&st, p, backend, params, &err) == APR_SUCCESS,
                  "open %s: %s", backend, err ? err : "?");
    return st;
}

static void fresh_db(void)
{
    serial++;
    if (!strcmp(backend, "sqlite3")) {
        params = apr_psprintf(tp, "%s/store-%ld-%d.db", sqlite_dir, (long)getpid(), serial);
        pg_schema = NULL;
    }
    else {
        mcp_store_t *st;
        const char *err = NULL;
        const char *base = getenv("MCP_TEST_PGSQL");

        pg_schema = apr_psprintf(tp, "mcp_t_%ld_%d", (long)getpid(), serial);
        ck_assert_status(mcp_store_open(&st, tp, "pgsql", base, &err), APR_SUCCESS);
        ck_assert_status(mcp_store_exec(st, apr_psprintf(tp, "DROP SCHEMA IF EXISTS %s CASCADE",
                                                         pg_schema)), APR_SUCCESS);
        ck_assert_status(mcp_store_exec(st, apr_psprintf(tp, "CREATE SCHEMA %s", pg_schema)),
                         APR_SUCCESS);
        params = apr_psprintf(tp, "%s options=-csearch_path=%s", base, pg_schema);
    }
}

static int remove_one(const char *path, const struct stat *sb, int flag,
                      struct FTW *ftw)
{
    (void)sb; (void)flag; (void)ftw;
    return remove(path);
}

/* At exit of the main process only: check's forked test processes and
 * our workers exit too. */
static void remove_sqlite_dir(void)
{
    if (getpid() == main_pid) {
        nftw(sqlite_dir, remove_one, 8, FTW_DEPTH | FTW_PHYS);
    }
}

static void drop_db(void)
{
    if (!pg_schema && params) {
        /* The SQLite file and its WAL companions. */
        remove(params);
        remove(apr_pstrcat(tp, params, "-wal", NULL));
        remove(apr_pstrcat(tp, params, "-shm", NULL));
    }
    if (pg_schema) {
        apr_pool_t *p;
        mcp_store_t *st;
        const char *err = NULL;

        apr_pool_create(&p, NULL);
        if (mcp_store_open(&st, p, "pgsql", getenv("MCP_TEST_PGSQL"), &err) == APR_SUCCESS) {
            mcp_store_exec(st, apr_psprintf(p, "DROP SCHEMA IF EXISTS %s CASCADE", pg_schema));
        }
        apr_pool_destroy(p);
        pg_schema = NULL;
    }
}

static void setup_sqlite(void) { backend = "sqlite3"; mcp_test_setup(); fresh_db(); }
static void setup_pgsql(void)  { backend = "pgsql";   mcp_test_setup(); fresh_db(); }
static void teardown(void)     { release_logs(); drop_db(); params = NULL; mcp_test_teardown(); }

/* Close a store opened in @p before forking workers: they must not
 * inherit a connection (a child closing it would end the parent's
 * PostgreSQL session; one left open shows in valgrind's leak check). */
static void close_store(apr_pool_t *p)
{
    apr_pool_destroy(p);
}

/* A store with the schema in place. */
static mcp_store_t *ready_store_in(apr_pool_t *p)
{
    mcp_store_t *st = NULL;
    const char *err = NULL;

    ck_assert_msg(mcp_store_open(&st, p, backend, params, &err) == APR_SUCCESS,
                  "open %s: %s", backend, err ? err : "?");
    ck_assert_msg(mcp_store_schema_upgrade(st, NULL, NULL) == APR_SUCCESS, "upgrade: %s",
                  mcp_store_error(st));
    return st;
}

static mcp_store_t *ready_store(void)
{
    mcp_store_t *st = open_store(tp);

    ck_assert_msg(mcp_store_schema_upgrade(st, NULL, NULL) == APR_SUCCESS, "upgrade: %s",
                  mcp_store_error(st));
    return st;
}

static mcp_store_client_t client(const char *id)
{
    mcp_store_client_t c;

    memset(&c, 0, sizeof(c));
    c.client_id = id;
    c.client_name = "Test client";
    c.kind = "dcr";
    c.token_endpoint_auth_method = "none";
    c.grant_types = "authorization_code refresh_token";
    c.scope = "mcp";
    c.redirect_uris = apr_array_make(tp, 2, sizeof(const char *));
    APR_ARRAY_PUSH(c.redirect_uris, const char *) = "http://127.0.0.1:33418/callback";
    APR_ARRAY_PUSH(c.redirect_uris, const char *) = "cursor://anysphere.cursor-mcp/oauth/callback";
    c.created_at = NOW;
    c.updated_at = NOW;
    return c;
}

#define ck_store(st, expr, want) do {                                        \
        apr_status_t rv_ = (expr);                                           \
        ck_assert_msg(rv_ == (want), "%s: %d (%s), expected %d: %s", #expr,  \
                      (int)rv_, mcp_strerror(tp, rv_), (int)(want),          \
                      mcp_store_error(st));                                  \
    } while (0)

/* Forked workers report their result through a pipe, not their exit
 * status: under valgrind a forked child's exit status reflects the leak
 * check of the memory it inherited. They start together: each waits for
 * the parent to close the "go" pipe once all are forked. */
typedef int worker_fn(int index);

static void run_workers(int n, worker_fn *fn, int *results)
{
    int i, fds[2], go[2];
    pid_t pid;

    ck_assert_int_eq(pipe(fds), 0);
    ck_assert_int_eq(pipe(go), 0);
    for (i = 0; i < n; i++) {
        pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
            unsigned char msg[2];
            char c;
            close(fds[0]);
            close(go[1]);
            /* EOF when the parent closes its end: everyone is there. */
            if (read(go[0], &c, 1) != 0) {
                _exit(1);
            }
            msg[0] = (unsigned char)i;
            msg[1] = (unsigned char)fn(i);
            if (write(fds[1], msg, 2) != 2) {
                _exit(1);
            }
            _exit(0);
        }
    }
    close(fds[1]);
    close(go[0]);
    close(go[1]);
    for (i = 0; i < n; i++) {
        results[i] = -1;
    }
    for (i = 0; i < n; i++) {
        unsigned char msg[2];
        ck_assert_int_eq(read(fds[0], msg, 2), 2);
        ck_assert_int_lt(msg[0], n);
        results[msg[0]] = msg[1];
    }
    close(fds[0]);
    while (waitpid(-1, NULL, 0) > 0)
        ;
}

/* The first column of the first row of a constant query, on the store's
 * own connection (tests only). */
static const char *query1(mcp_store_t *st, const char *sql)
{
    apr_dbd_results_t *res = NULL;
    apr_dbd_row_t *row = NULL;
    const char *v = NULL, *first = NULL;
    int err = apr_dbd_select(st->driver, tp, st->handle, &res, sql, 0);

    ck_assert_msg(err == 0, "%s: %s", sql, apr_dbd_error(st->driver, st->handle, err));
    while (apr_dbd_get_row(st->driver, tp, res, &row, -1) == 0) {
        if (!first && apr_dbd_datum_get(st->driver, row, 0, APR_DBD_TYPE_STRING, &v)
                      == APR_SUCCESS && v) {
            first = apr_pstrdup(tp, v);
        }
    }
    return first;
}

/* Log lines captured by a test (see capture_logs()). */
static apr_array_header_t *logged;

static void log_capture(void *baton, const char *file, int line,
                        mcp_log_level_e level, apr_status_t rv, const char *msg)
{
    (void)baton; (void)file; (void)line; (void)rv;
    APR_ARRAY_PUSH(logged, const char *) =
        apr_psprintf(tp, "%d %s", (int)level, msg);
}

static int log_all(void *baton, mcp_log_level_e level)
{
    (void)baton; (void)level;
    return 1;
}

static void capture_logs(void)
{
    logged = apr_array_make(tp, 4, sizeof(const char *));
    mcp_log_set(log_capture, log_all, NULL);
}

static void release_logs(void)
{
    mcp_log_set(NULL, NULL, NULL);
}

/* ---- schema ------------------------------------------------------- */

START_TEST(schema_lifecycle)
{
    mcp_store_t *st = open_store(tp);
    mcp_store_schema_t s;
    mcp_store_client_t c = client("early"), *got;
    int from = -1, to = -1;

    ck_store(st, mcp_store_schema_status(st, &s), APR_SUCCESS);
    ck_assert(!s.initialized);
    ck_assert_int_eq(s.version, 0);
    ck_assert_int_eq(s.expected, mcp_store_schema_latest());
    ck_assert_int_ge(s.expected, 1);
    ck_store(st, mcp_store_schema_check(st), MCP_ESCHEMA);
    ck_assert_ptr_nonnull(strstr(mcp_store_error(st), "mcpctl db upgrade"));
    /* Storage calls on a missing schema say so, they do not crash. */
    ck_store(st, mcp_store_client_put(st, &c), MCP_ESCHEMA);
    ck_store(st, mcp_store_client_get(st, tp, "early", &got), MCP_ESCHEMA);

    ck_store(st, mcp_store_schema_upgrade(st, &from, &to), APR_SUCCESS);
    ck_assert_int_eq(from, 0);
    ck_assert_int_eq(to, mcp_store_schema_latest());
    ck_store(st, mcp_store_schema_status(st, &s), APR_SUCCESS);
    ck_assert(s.initialized);
    ck_assert_int_eq(s.version, s.expected);
    ck_store(st, mcp_store_schema_check(st), APR_SUCCESS);
    /* Idempotent. */
    ck_store(st, mcp_store_schema_upgrade(st, &from, &to), APR_SUCCESS);
    ck_assert_int_eq(from, to);
    /* A fresh connection (the statements were prepared on the first one
     * only after the schema appeared) works too. */
    st = open_store(tp);
    ck_store(st, mcp_store_client_put(st, &c), APR_SUCCESS);
}
END_TEST

START_TEST(schema_old_and_newer)
{
    mcp_store_t *st = ready_store();
    mcp_store_schema_t s;
    int from, to;

    /* An older database: no version recorded above 0. */
    ck_store(st, mcp_store_exec(st, "DELETE FROM mcp_schema_version"), APR_SUCCESS);
    st = open_store(tp);
    ck_store(st, mcp_store_schema_status(st, &s), APR_SUCCESS);
    ck_assert(s.initialized);
    ck_assert_int_eq(s.version, 0);
    ck_store(st, mcp_store_schema_check(st), MCP_ESCHEMA);
    ck_assert_ptr_nonnull(strstr(mcp_store_error(st), "mcpctl db upgrade"));
    ck_store(st, mcp_store_exec(st, "INSERT INTO mcp_schema_version (version, applied_at) "
                                    "VALUES (1, 0)"), APR_SUCCESS);
    /* A database newer than this build. */
    ck_store(st, mcp_store_exec(st, "INSERT INTO mcp_schema_version (version, applied_at) "
                                    "VALUES (99, 0)"), APR_SUCCESS);
    st = open_store(tp);
    ck_store(st, mcp_store_schema_check(st), MCP_ESCHEMA);
    ck_assert_ptr_nonnull(strstr(mcp_store_error(st), "newer"));
    ck_store(st, mcp_store_schema_upgrade(st, &from, &to), MCP_ESCHEMA);
    ck_assert_int_eq(from, 99);
}
END_TEST

START_TEST(attach_prepares_once)
{
    /* What mod_dbd hands the glue: driver, handle, prepared hash, pool. */
    const apr_dbd_driver_t *driver;
    apr_dbd_t *handle;
    apr_hash_t *prepared;
    apr_pool_t *conn_pool, *req1, *req2;
    mcp_store_t *st;
    mcp_store_client_t c = client("attached"), *got;
    const char *err = NULL;
    unsigned n;

    ready_store();
    apr_pool_create(&conn_pool, tp);
    ck_assert_int_eq(apr_dbd_get_driver(conn_pool, backend, &driver), APR_SUCCESS);
    ck_assert_int_eq(apr_dbd_open_ex(driver, conn_pool, params, &handle, &err), APR_SUCCESS);
    prepared = apr_hash_make(conn_pool);
    apr_pool_create(&req1, conn_pool);
    ck_store(NULL, mcp_store_attach(&st, req1, driver, handle, prepared, conn_pool), APR_SUCCESS);
    ck_store(st, mcp_store_client_put(st, &c), APR_SUCCESS);
    n = apr_hash_count(prepared);
    ck_assert_uint_gt(n, 10);
    apr_pool_destroy(req1);
    apr_pool_create(&req2, conn_pool);
    ck_store(NULL, mcp_store_attach(&st, req2, driver, handle, prepared, conn_pool), APR_SUCCESS);
    ck_store(st, mcp_store_client_get(st, req2, "attached", &got), APR_SUCCESS);
    ck_assert_uint_eq(apr_hash_count(prepared), n);
    apr_pool_destroy(req2);
    apr_dbd_close(driver, handle);
    ck_assert_int_eq(mcp_store_attach(&st, tp, driver, NULL, prepared, conn_pool), APR_EINVAL);
}
END_TEST

/* ---- clients ------------------------------------------------------ */

START_TEST(clients)
{
    mcp_store_t *st = ready_store();
    mcp_store_client_t c = client("c-1"), *got;
    apr_array_header_t *all;
    const char *odd = "it's \"quoted\" 100% \\ back\\slash \xe6\x97\xa5\xe6\x9c\xac "
                      "\xf0\x9f\x94\x91 %s %d $1 ?";

    c.client_name = odd;
    c.secret_hash = "n4bQgYhMfWWaL-qgxVrQFaO_TxsrC4Is0V1sFbDwCgg";
    c.metadata = "{\"logo_uri\":\"https://x/\\u00e9\",\"note\":\"%\"}";
    c.expires_at = NOW + 3600;
    ck_store(st, mcp_store_client_put(st, &c), APR_SUCCESS);
    ck_store(st, mcp_store_client_put(st, &c), MCP_ECONFLICT);
    ck_store(st, mcp_store_client_get(st, tp, "c-1", &got), APR_SUCCESS);
    ck_assert_str_eq(got->client_name, odd);
    ck_assert_str_eq(got->secret_hash, c.secret_hash);
    ck_assert_str_eq(got->metadata, c.metadata);
    ck_assert_str_eq(got->kind, "dcr");
    ck_assert_str_eq(got->grant_types, "authorization_code refresh_token");
    ck_assert_int_eq(got->created_at, NOW);
    ck_assert_int_eq(got->expires_at, NOW + 3600);
    ck_assert_int_eq(got->redirect_uris->nelts, 2);
    ck_assert_str_eq(APR_ARRAY_IDX(got->redirect_uris, 0, const char *),
                     "cursor://anysphere.cursor-mcp/oauth/callback");

    /* Update replaces fields and URIs, keeps client_id and created_at. */
    c.client_name = "Renamed";
    c.secret_hash = NULL;
    c.expires_at = 0;
    c.updated_at = NOW + 5;
    c.redirect_uris = apr_array_make(tp, 1, sizeof(const char *));
    APR_ARRAY_PUSH(c.redirect_uris, const char *) = "https://app.example/cb";
    ck_store(st, mcp_store_client_update(st, &c), APR_SUCCESS);
    ck_store(st, mcp_store_client_get(st, tp, "c-1", &got), APR_SUCCESS);
    ck_assert_str_eq(got->client_name, "Renamed");
    ck_assert_ptr_null(got->secret_hash);
    ck_assert_int_eq(got->expires_at, 0);
    ck_assert_int_eq(got->created_at, NOW);
    ck_assert_int_eq(got->updated_at, NOW + 5);
    ck_assert_int_eq(got->redirect_uris->nelts, 1);

    c = client("c-0");
    c.kind = "manual";
    ck_store(st, mcp_store_client_put(st, &c), APR_SUCCESS);
    ck_store(st, mcp_store_client_list(st, tp, &all), APR_SUCCESS);
    ck_assert_int_eq(all->nelts, 2);
    ck_assert_str_eq(APR_ARRAY_IDX(all, 0, mcp_store_client_t *)->client_id, "c-0");
    ck_assert_int_eq(APR_ARRAY_IDX(all, 0, mcp_store_client_t *)->redirect_uris->nelts, 2);

    ck_store(st, mcp_store_client_delete(st, "c-0"), APR_SUCCESS);
    ck_store(st, mcp_store_client_delete(st, "c-0"), MCP_ENOTFOUND);
    ck_store(st, mcp_store_client_get(st, tp, "c-0", &got), MCP_ENOTFOUND);
    c = client("bad");
    c.kind = NULL;
    ck_store(st, mcp_store_client_put(st, &c), MCP_EINVALID);
    c = client("bad");
    c.kind = "other";          /* the schema's CHECK refuses it */
    ck_store(st, mcp_store_client_put(st, &c), MCP_ESTORE);
    ck_store(st, mcp_store_client_get(st, tp, "bad", &got), MCP_ENOTFOUND);
    /* An input that looks like SQL is just a value. */
    ck_store(st, mcp_store_client_get(st, tp, "x' OR '1'='1", &got), MCP_ENOTFOUND);
    ck_store(st, mcp_store_client_update(st, &c), MCP_ENOTFOUND);
}
END_TEST

START_TEST(binaryish_values)
{
    mcp_store_t *st = ready_store();
    mcp_store_upstream_t u, *got;
    unsigned char all[255];
    char utf8[512], *o = utf8;
    int i;

    /* Every byte value 1..255, as base64url text. */
    for (i = 0; i < 255; i++) {
        all[i] = (unsigned char)(i + 1);
    }
    /* Every code point U+0080..U+00FF and some beyond, as raw UTF-8. */
    for (i = 0x80; i <= 0xff; i++) {
        *o++ = (char)(0xc0 | (i >> 6));
        *o++ = (char)(0x80 | (i & 0x3f));
    }
    strcpy(o, "\xe2\x82\xac\xf0\x9f\x98\x80\xe4\xb8\xad");
    memset(&u, 0, sizeof(u));
    u.subject = utf8;
    u.provider = "github";
    u.sealed = mcp_b64url_encode(tp, all, sizeof(all));
    u.key_id = "k1";
    u.scope = "repo read:org";
    u.created_at = NOW;
    u.updated_at = NOW;
    ck_store(st, mcp_store_upstream_put(st, &u), APR_SUCCESS);
    ck_store(st, mcp_store_upstream_get(st, tp, utf8, "github", &got), APR_SUCCESS);
    ck_assert_str_eq(got->subject, utf8);
    ck_assert_str_eq(got->sealed, u.sealed);
    {
        unsigned char *dec;
        apr_size_t n;
        ck_assert_int_eq(mcp_b64url_decode(&dec, &n, tp, got->sealed, (apr_size_t)-1),
                         APR_SUCCESS);
        ck_assert_uint_eq(n, sizeof(all));
        ck_assert(!memcmp(dec, all, n));
    }
}
END_TEST

/* ---- codes -------------------------------------------------------- */

static mcp_store_code_t code(const char *hash, const char *client_id)
{
    mcp_store_code_t c;

    memset(&c, 0, sizeof(c));
    c.code_hash = hash;
    c.client_id = client_id;
    c.redirect_uri = "http://127.0.0.1:33418/callback";
    c.code_challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
    c.code_challenge_method = "S256";
    c.resource = "https://gw.example/mcp";
    c.scope = "mcp";
    c.subject = "alice";
    c.created_at = NOW;
    c.expires_at = NOW + 60;
    return c;
}

static mcp_store_refresh_t refresh(const char *hash, const char *family)
{
    mcp_store_refresh_t r;

    memset(&r, 0, sizeof(r));
    r.token_hash = hash;
    r.family_id = family;
    r.client_id = "c";
    r.subject = "alice";
    r.resource = "https://gw.example/mcp";
    r.scope = "mcp";
    r.created_at = NOW;
    r.expires_at = NOW + 86400;
    return r;
}

START_TEST(codes)
{
    mcp_store_t *st = ready_store();
    mcp_store_client_t cl = client("c");
    mcp_store_code_t c = code("h1", "c"), *got = NULL;

    ck_store(st, mcp_store_client_put(st, &cl), APR_SUCCESS);
    ck_store(st, mcp_store_code_put(st, &c), APR_SUCCESS);
    ck_store(st, mcp_store_code_put(st, &c), MCP_ECONFLICT);
    /* Reading a code does not consume it. */
    ck_store(st, mcp_store_code_get(st, tp, "h1", &got), APR_SUCCESS);
    ck_assert_str_eq(got->code_challenge, c.code_challenge);
    ck_assert_str_eq(got->resource, c.resource);
    ck_assert_str_eq(got->redirect_uri, c.redirect_uri);
    ck_assert_int_eq(got->used_at, 0);
    ck_assert_ptr_null(got->issued_family);
    ck_assert_ptr_null(got->issued_jti);
    ck_store(st, mcp_store_code_get(st, tp, "h1", &got), APR_SUCCESS);
    ck_assert_int_eq(got->used_at, 0);
    ck_store(st, mcp_store_code_get(st, tp, "nope", &got), MCP_ENOTFOUND);
    /* A code for an unknown client is refused by the schema. */
    c = code("h3", "ghost");
    ck_store(st, mcp_store_code_put(st, &c), MCP_ESTORE);
    c.client_id = NULL;
    ck_store(st, mcp_store_code_put(st, &c), MCP_EINVALID);
}
END_TEST

START_TEST(code_redeem)
{
    mcp_store_t *st = ready_store();
    mcp_store_client_t cl = client("c");
    mcp_store_code_t c = code("CODE-HASH-1", "c"), *got = NULL;
    mcp_store_refresh_t r = refresh("RT-HASH-1", "fam-1"), *gr;
    int i, n = -1, warnings = 0;

    ck_store(st, mcp_store_client_put(st, &cl), APR_SUCCESS);
    ck_store(st, mcp_store_code_put(st, &c), APR_SUCCESS);
    ck_store(st, mcp_store_code_redeem(st, tp, "CODE-HASH-1", NOW + 1, "fam-1", "jti-1",
                                       &r, &got, &n), APR_SUCCESS);
    ck_assert_int_eq(got->used_at, NOW + 1);
    ck_assert_str_eq(got->issued_family, "fam-1");
    ck_assert_str_eq(got->issued_jti, "jti-1");
    ck_assert_str_eq(got->subject, "alice");
    ck_assert_int_eq(n, 0);
    ck_store(st, mcp_store_refresh_get(st, tp, "RT-HASH-1", &gr), APR_SUCCESS);
    ck_assert_str_eq(gr->family_id, "fam-1");
    ck_assert_int_eq(gr->revoked_at, 0);
    ck_store(st, mcp_store_code_get(st, tp, "CODE-HASH-1", &got), APR_SUCCESS);
    ck_assert_int_eq(got->used_at, NOW + 1);
    ck_assert_str_eq(got->issued_jti, "jti-1");
    /* The family grew (as a rotation would). */
    r = refresh("RT-HASH-2", "fam-1");
    ck_store(st, mcp_store_refresh_put(st, &r), APR_SUCCESS);

    /* A replay: refused, the family is revoked (committed), and the caller
     * learns the access token's jti to deny-list it. */
    got = NULL;
    capture_logs();
    ck_store(st, mcp_store_code_redeem(st, tp, "CODE-HASH-1", NOW + 2, "fam-2", "jti-2",
                                       NULL, &got, &n), MCP_ECONFLICT);
    release_logs();
    ck_assert_ptr_nonnull(got);
    ck_assert_str_eq(got->issued_jti, "jti-1");
    ck_assert_str_eq(got->issued_family, "fam-1");
    ck_assert_int_eq(got->used_at, NOW + 1);
    ck_assert_int_eq(n, 2);
    for (i = 0; i < logged->nelts; i++) {
        const char *line = APR_ARRAY_IDX(logged, i, const char *);
        ck_assert_ptr_null(strstr(line, "HASH"));
        if (strstr(line, "MCP01050") && strstr(line, "fam-1")) {
            ck_assert_int_eq(atoi(line), MCP_LOG_WARNING);
            warnings++;
        }
    }
    ck_assert_int_eq(warnings, 1);
    ck_assert_ptr_null(strstr(mcp_store_error(st), "HASH"));
    st = open_store(tp);        /* committed: another connection sees it */
    ck_store(st, mcp_store_refresh_get(st, tp, "RT-HASH-1", &gr), APR_SUCCESS);
    ck_assert_int_eq(gr->revoked_at, NOW + 2);
    ck_store(st, mcp_store_refresh_get(st, tp, "RT-HASH-2", &gr), APR_SUCCESS);
    ck_assert_int_eq(gr->revoked_at, NOW + 2);
    /* The replay recorded nothing of its own. */
    ck_store(st, mcp_store_code_get(st, tp, "CODE-HASH-1", &got), APR_SUCCESS);
    ck_assert_str_eq(got->issued_jti, "jti-1");
    /* Again: still refused, nothing more to revoke. */
    ck_store(st, mcp_store_code_redeem(st, tp, "CODE-HASH-1", NOW + 3, NULL, "jti-3",
                                       NULL, &got, &n), MCP_ECONFLICT);
    ck_assert_int_eq(n, 0);

    /* Unknown. */
    got = (mcp_store_code_t *)1;
    ck_store(st, mcp_store_code_redeem(st, tp, "nope", NOW, NULL, "j", NULL, &got, &n),
             MCP_ENOTFOUND);
    ck_assert_ptr_null(got);

    /* Expired: refused, and left unused. */
    c = code("h2", "c");
    ck_store(st, mcp_store_code_put(st, &c), APR_SUCCESS);
    ck_store(st, mcp_store_code_redeem(st, tp, "h2", NOW + 60, NULL, "j", NULL, &got, &n),
             MCP_EEXPIRED);
    ck_assert_int_eq(got->used_at, 0);
    ck_assert_int_eq(n, 0);
    ck_store(st, mcp_store_code_get(st, tp, "h2", &got), APR_SUCCESS);
    ck_assert_int_eq(got->used_at, 0);
    ck_assert_ptr_null(got->issued_jti);

    /* Without a refresh token: the jti alone is recorded; a replay has no
     * family to revoke but still names the jti. */
    c = code("h5", "c");
    ck_store(st, mcp_store_code_put(st, &c), APR_SUCCESS);
    ck_store(st, mcp_store_code_redeem(st, tp, "h5", NOW + 1, NULL, "jti-5", NULL, NULL,
                                       NULL), APR_SUCCESS);
    ck_store(st, mcp_store_code_redeem(st, tp, "h5", NOW + 2, NULL, "jti-6", NULL, &got,
                                       &n), MCP_ECONFLICT);
    ck_assert_str_eq(got->issued_jti, "jti-5");
    ck_assert_ptr_null(got->issued_family);
    ck_assert_int_eq(n, 0);
}
END_TEST

START_TEST(code_redeem_refused_refresh)
{
    /* A refresh token that does not fit the code: nothing changes. */
    mcp_store_t *st = ready_store();
    mcp_store_client_t cl = client("c"), cl2 = client("d");
    mcp_store_code_t c = code("h6", "c"), *got;
    mcp_store_refresh_t r, *gr;

    ck_store(st, mcp_store_client_put(st, &cl), APR_SUCCESS);
    ck_store(st, mcp_store_client_put(st, &cl2), APR_SUCCESS);
    ck_store(st, mcp_store_code_put(st, &c), APR_SUCCESS);
    r = refresh("other", "fam-0");
    ck_store(st, mcp_store_refresh_put(st, &r), APR_SUCCESS);

    r = refresh("rt-6", "fam-6");
    ck_store(st, mcp_store_code_redeem(st, tp, "h6", NOW, "fam-other", "j", &r, &got, NULL),
             MCP_EINVALID);
    ck_store(st, mcp_store_code_redeem(st, tp, "h6", NOW, NULL, "j", &r, &got, NULL),
             MCP_EINVALID);
    r.client_id = "d";
    ck_store(st, mcp_store_code_redeem(st, tp, "h6", NOW, "fam-6", "j", &r, &got, NULL),
             MCP_EINVALID);
    r = refresh("rt-6", "fam-6");
    r.subject = "bob";
    ck_store(st, mcp_store_code_redeem(st, tp, "h6", NOW, "fam-6", "j", &r, &got, NULL),
             MCP_EINVALID);
    r = refresh("rt-6", "fam-6");
    r.expires_at = 0;
    ck_store(st, mcp_store_code_redeem(st, tp, "h6", NOW, "fam-6", "j", &r, &got, NULL),
             MCP_EINVALID);
    /* A refresh token whose hash exists: the whole redeem is undone. */
    r = refresh("other", "fam-6");
    ck_store(st, mcp_store_code_redeem(st, tp, "h6", NOW, "fam-6", "j", &r, &got, NULL),
             MCP_ESTORE);
    ck_store(st, mcp_store_code_get(st, tp, "h6", &got), APR_SUCCESS);
    ck_assert_int_eq(got->used_at, 0);
    ck_assert_ptr_null(got->issued_jti);
    ck_store(st, mcp_store_refresh_get(st, tp, "rt-6", &gr), MCP_ENOTFOUND);
    ck_store(st, mcp_store_refresh_get(st, tp, "other", &gr), APR_SUCCESS);
    ck_assert_str_eq(gr->family_id, "fam-0");
    /* And then it redeems. */
    r = refresh("rt-6", "fam-6");
    ck_store(st, mcp_store_code_redeem(st, tp, "h6", NOW, "fam-6", "j", &r, &got, NULL),
             APR_SUCCESS);
    ck_store(st, mcp_store_refresh_get(st, tp, "rt-6", &gr), APR_SUCCESS);
}
END_TEST

/* Each worker redeems the code "race" with a refresh token of its own.
 * Result: 0 success, 10 + n a replay that revoked n tokens, else a
 * failure. */
static int redeem_race_code(int index)
{
    apr_pool_t *p;
    mcp_store_t *cst;
    mcp_store_code_t *got;
    mcp_store_refresh_t r;
    const char *err = NULL, *fam;
    apr_status_t rv;
    int n = 0;

    apr_pool_create(&p, NULL);
    if (mcp_store_open(&cst, p, backend, params, &err) != APR_SUCCESS) {
        return 3;
    }
    fam = apr_psprintf(p, "fam-%d", index);
    memset(&r, 0, sizeof(r));
    r.token_hash = apr_psprintf(p, "rt-%d", index);
    r.family_id = fam;
    r.client_id = "c";
    r.subject = "alice";
    r.created_at = NOW;
    r.expires_at = NOW + 86400;
    rv = mcp_store_code_redeem(cst, p, "race", NOW + 1, fam,
                               apr_psprintf(p, "jti-%d", index), &r, &got, &n);
    apr_pool_destroy(p);
    return rv == APR_SUCCESS ? 0 : rv == MCP_ECONFLICT ? 10 + n : 2;
}

START_TEST(code_race)
{
    /* Several processes, each with its own connection, redeem one code at
     * the same moment: exactly one wins; the others are replays and revoke
     * what the winner was issued. */
    apr_pool_t *setup;
    mcp_store_t *st;
    mcp_store_client_t cl = client("c");
    mcp_store_code_t c = code("race", "c"), *got;
    mcp_store_refresh_t *gr;
    int i, wins = 0, winner = -1, conflicts = 0, revoked = 0, results[RACERS];

    apr_pool_create(&setup, tp);
    st = ready_store_in(setup);
    ck_store(st, mcp_store_client_put(st, &cl), APR_SUCCESS);
    ck_store(st, mcp_store_code_put(st, &c), APR_SUCCESS);
    close_store(setup);
    run_workers(RACERS, redeem_race_code, results);
    st = open_store(tp);
    for (i = 0; i < RACERS; i++) {
        if (results[i] == 0) {
            wins++;
            winner = i;
        }
        else if (results[i] >= 10) {
            conflicts++;
            revoked += results[i] - 10;
        }
    }
    ck_assert_int_eq(wins, 1);
    ck_assert_int_eq(conflicts, RACERS - 1);
    ck_assert_int_eq(revoked, 1);
    ck_store(st, mcp_store_code_get(st, tp, "race", &got), APR_SUCCESS);
    ck_assert_int_eq(got->used_at, NOW + 1);
    ck_assert_str_eq(got->issued_jti, apr_psprintf(tp, "jti-%d", winner));
    ck_assert_str_eq(got->issued_family, apr_psprintf(tp, "fam-%d", winner));
    for (i = 0; i < RACERS; i++) {
        apr_status_t rv = mcp_store_refresh_get(st, tp, apr_psprintf(tp, "rt-%d", i), &gr);
        if (i == winner) {
            ck_store(st, rv, APR_SUCCESS);
            ck_assert_int_eq(gr->revoked_at, NOW + 1);
        }
        else {
            ck_store(st, rv, MCP_ENOTFOUND);
        }
    }
}
END_TEST

/* ---- refresh tokens ----------------------------------------------- */

/* A successor for a rotation. */
static mcp_store_refresh_t next_token(const char *hash)
{
    mcp_store_refresh_t n;

    memset(&n, 0, sizeof(n));
    n.token_hash = hash;
    n.expires_at = NOW + 2 * 86400;
    n.scope = "mcp";
    return n;
}

/* Is the token live (not rotated, not revoked), or revoked? */
static void ck_live(mcp_store_t *st, const char *hash, int live)
{
    mcp_store_refresh_t *got;

    ck_store(st, mcp_store_refresh_get(st, tp, hash, &got), APR_SUCCESS);
    if (live) {
        ck_assert_msg(!got->rotated_at && !got->revoked_at, "%s is not live", hash);
    }
    else {
        ck_assert_msg(got->revoked_at, "%s is not revoked", hash);
    }
}

START_TEST(refresh_rotation)
{
    mcp_store_t *st = ready_store();
    mcp_store_client_t cl = client("c");
    mcp_store_refresh_t r = refresh("r1", "fam"), next = next_token("r2"), *got, *old;
    mcp_store_refresh_outcome_e out;

    ck_store(st, mcp_store_client_put(st, &cl), APR_SUCCESS);
    ck_store(st, mcp_store_refresh_put(st, &r), APR_SUCCESS);
    ck_store(st, mcp_store_refresh_put(st, &r), MCP_ECONFLICT);

    ck_store(st, mcp_store_refresh_rotate(st, tp, "r1", "c", &next, NOW + 10, 5, &out, &old),
             APR_SUCCESS);
    ck_assert_int_eq(out, MCP_REFRESH_ROTATED);
    ck_assert_str_eq(old->replaced_by, "r2");
    ck_assert_int_eq(old->rotated_at, NOW + 10);
    ck_store(st, mcp_store_refresh_get(st, tp, "r2", &got), APR_SUCCESS);
    ck_assert_str_eq(got->family_id, "fam");
    ck_assert_str_eq(got->client_id, "c");
    ck_assert_str_eq(got->subject, "alice");
    ck_assert_str_eq(got->scope, "mcp");
    ck_assert_ptr_null(got->resource);
    ck_assert_int_eq(got->created_at, NOW + 10);
    ck_assert_int_eq(got->expires_at, NOW + 2 * 86400);
    ck_store(st, mcp_store_refresh_get(st, tp, "r1", &got), APR_SUCCESS);
    ck_assert_int_eq(got->rotated_at, NOW + 10);
    ck_assert_str_eq(got->replaced_by, "r2");

    /* Expired and unknown. */
    r = refresh("e1", "fam2");
    r.expires_at = NOW + 5;
    ck_store(st, mcp_store_refresh_put(st, &r), APR_SUCCESS);
    next = next_token("x");
    ck_store(st, mcp_store_refresh_rotate(st, tp, "e1", "c", &next, NOW + 5, 5, &out, &old),
             MCP_EEXPIRED);
    ck_assert_int_eq(out, MCP_REFRESH_EXPIRED);
    ck_assert_str_eq(old->token_hash, "e1");
    ck_store(st, mcp_store_refresh_rotate(st, tp, "zz", "c", &next, NOW, 5, &out, &old),
             MCP_ENOTFOUND);
    ck_assert_int_eq(out, MCP_REFRESH_NOT_FOUND);
    ck_assert_ptr_null(old);
    ck_store(st, mcp_store_refresh_get(st, tp, "x", &got), MCP_ENOTFOUND);
    /* No outcome pointer is fine. */
    ck_store(st, mcp_store_refresh_rotate(st, tp, "zz", "c", &next, NOW, 5, NULL, NULL),
             MCP_ENOTFOUND);
    next.token_hash = NULL;
    ck_store(st, mcp_store_refresh_rotate(st, tp, "e1", "c", &next, NOW, 5, &out, &old),
             MCP_EINVALID);
    /* A new token whose hash exists: nothing happens. */
    next = next_token("e1");
    r = refresh("r9", "fam9");
    ck_store(st, mcp_store_refresh_put(st, &r), APR_SUCCESS);
    ck_store(st, mcp_store_refresh_rotate(st, tp, "r9", "c", &next, NOW, 5, &out, &old),
             MCP_ESTORE);
    ck_assert_int_eq(out, MCP_REFRESH_NOT_FOUND);
    ck_live(st, "r9", 1);
}
END_TEST

START_TEST(refresh_rotation_client)
{
    /* The rotating statement checks the client: another client's token is
     * "not found", with the same words, and nothing changes. */
    mcp_store_t *st = ready_store();
    mcp_store_client_t cl = client("c"), cl2 = client("d");
    mcp_store_refresh_t r = refresh("CLIENT-RT-1", "fam"), next = next_token("CLIENT-RT-2"),
                        *got, *old = (mcp_store_refresh_t *)1;
    mcp_store_refresh_outcome_e out;
    const char *unknown;
    int i, debug = 0;

    ck_store(st, mcp_store_client_put(st, &cl), APR_SUCCESS);
    ck_store(st, mcp_store_client_put(st, &cl2), APR_SUCCESS);
    ck_store(st, mcp_store_refresh_put(st, &r), APR_SUCCESS);
    ck_store(st, mcp_store_refresh_rotate(st, tp, "nope", "c", &next, NOW, 5, &out, &old),
             MCP_ENOTFOUND);
    unknown = apr_pstrdup(tp, mcp_store_error(st));
    capture_logs();
    ck_store(st, mcp_store_refresh_rotate(st, tp, "CLIENT-RT-1", "d", &next, NOW, 5, &out,
                                          &old), MCP_ENOTFOUND);
    release_logs();
    ck_assert_int_eq(out, MCP_REFRESH_NOT_FOUND);
    ck_assert_ptr_null(old);
    ck_assert_str_eq(mcp_store_error(st), unknown);
    for (i = 0; i < logged->nelts; i++) {
        const char *line = APR_ARRAY_IDX(logged, i, const char *);
        ck_assert_ptr_null(strstr(line, "CLIENT-RT"));
        if (strstr(line, "MCP01052")) {
            ck_assert_int_eq(atoi(line), MCP_LOG_DEBUG);
            debug++;
        }
    }
    ck_assert_int_eq(debug, 1);
    ck_live(st, "CLIENT-RT-1", 1);
    ck_store(st, mcp_store_refresh_get(st, tp, "CLIENT-RT-2", &got), MCP_ENOTFOUND);
    /* A rotated token presented by another client: not a replay either. */
    ck_store(st, mcp_store_refresh_rotate(st, tp, "CLIENT-RT-1", "c", &next, NOW, 5, &out,
                                          &old), APR_SUCCESS);
    next = next_token("CLIENT-RT-3");
    ck_store(st, mcp_store_refresh_rotate(st, tp, "CLIENT-RT-1", "d", &next, NOW + 100, 5,
                                          &out, &old), MCP_ENOTFOUND);
    ck_assert_int_eq(out, MCP_REFRESH_NOT_FOUND);
    ck_live(st, "CLIENT-RT-2", 1);
    /* A client id that looks like SQL is just a value. */
    ck_store(st, mcp_store_refresh_rotate(st, tp, "CLIENT-RT-2", "x' OR '1'='1", &next,
                                          NOW, 5, &out, &old), MCP_ENOTFOUND);
    ck_live(st, "CLIENT-RT-2", 1);
}
END_TEST

START_TEST(refresh_rotation_grace)
{
    mcp_store_t *st = ready_store();
    mcp_store_client_t cl = client("c");
    mcp_store_refresh_t r = refresh("r1", "fam"), next = next_token("r2"), *got, *old;
    mcp_store_refresh_outcome_e out;

    ck_store(st, mcp_store_client_put(st, &cl), APR_SUCCESS);
    ck_store(st, mcp_store_refresh_put(st, &r), APR_SUCCESS);
    ck_store(st, mcp_store_refresh_rotate(st, tp, "r1", "c", &next, NOW + 10, 5, &out, &old),
             APR_SUCCESS);

    /* A retry within the grace, the successor unused: a usable further
     * successor, the family alive. */
    next = next_token("r2b");
    ck_store(st, mcp_store_refresh_rotate(st, tp, "r1", "c", &next, NOW + 12, 5, &out, &old),
             APR_SUCCESS);
    ck_assert_int_eq(out, MCP_REFRESH_REUSED_IN_GRACE);
    ck_assert_str_eq(old->replaced_by, "r2b");
    ck_store(st, mcp_store_refresh_get(st, tp, "r2b", &got), APR_SUCCESS);
    ck_assert_str_eq(got->family_id, "fam");
    ck_assert_str_eq(got->client_id, "c");
    ck_assert_str_eq(got->subject, "alice");
    ck_assert_int_eq(got->created_at, NOW + 12);
    ck_live(st, "r2b", 1);
    ck_live(st, "r2", 1);
    ck_store(st, mcp_store_refresh_get(st, tp, "r1", &got), APR_SUCCESS);
    ck_assert_str_eq(got->replaced_by, "r2b");
    ck_assert_int_eq(got->rotated_at, NOW + 10);
    ck_assert_int_eq(got->revoked_at, 0);

    /* Twice in a row, still within the grace (counted from the rotation). */
    next = next_token("r2c");
    ck_store(st, mcp_store_refresh_rotate(st, tp, "r1", "c", &next, NOW + 15, 5, &out, &old),
             APR_SUCCESS);
    ck_assert_int_eq(out, MCP_REFRESH_REUSED_IN_GRACE);
    ck_store(st, mcp_store_refresh_get(st, tp, "r1", &got), APR_SUCCESS);
    ck_assert_str_eq(got->replaced_by, "r2c");
    ck_live(st, "r2c", 1);

    /* The client uses the newest successor; then the old token comes back
     * within the grace: its successor was used, so it is a replay. */
    next = next_token("r3");
    ck_store(st, mcp_store_refresh_rotate(st, tp, "r2c", "c", &next, NOW + 15, 5, &out, &old),
             APR_SUCCESS);
    ck_assert_int_eq(out, MCP_REFRESH_ROTATED);
    next = next_token("r2d");
    capture_logs();
    ck_store(st, mcp_store_refresh_rotate(st, tp, "r1", "c", &next, NOW + 15, 5, &out, &old),
             MCP_ECONFLICT);
    release_logs();
    ck_assert_int_eq(logged->nelts, 1);
    ck_assert_ptr_nonnull(strstr(APR_ARRAY_IDX(logged, 0, const char *),
                                 "its successor was used"));
    ck_assert_int_eq(out, MCP_REFRESH_REUSED);
    ck_assert_int_eq(old->revoked_at, NOW + 15);
    ck_store(st, mcp_store_refresh_get(st, tp, "r2d", &got), MCP_ENOTFOUND);
    ck_live(st, "r1", 0);
    ck_live(st, "r2", 0);
    ck_live(st, "r2b", 0);
    ck_live(st, "r2c", 0);
    ck_live(st, "r3", 0);
    /* The revoked family stays revoked. */
    next = next_token("r4");
    ck_store(st, mcp_store_refresh_rotate(st, tp, "r3", "c", &next, NOW + 16, 5, &out, &old),
             MCP_EINVALID);
    ck_assert_int_eq(out, MCP_REFRESH_REVOKED);
    ck_store(st, mcp_store_refresh_rotate(st, tp, "r1", "c", &next, NOW + 16, 5, &out, &old),
             MCP_EINVALID);
    ck_assert_int_eq(out, MCP_REFRESH_REVOKED);
    ck_store(st, mcp_store_refresh_get(st, tp, "r4", &got), MCP_ENOTFOUND);
}
END_TEST

START_TEST(refresh_rotation_replay)
{
    mcp_store_t *st = ready_store();
    mcp_store_client_t cl = client("c");
    mcp_store_refresh_t r, next, *got, *old;
    mcp_store_refresh_outcome_e out;

    ck_store(st, mcp_store_client_put(st, &cl), APR_SUCCESS);
    /* After the grace: the whole family is revoked, committed. */
    r = refresh("s1", "f1");
    ck_store(st, mcp_store_refresh_put(st, &r), APR_SUCCESS);
    next = next_token("s2");
    ck_store(st, mcp_store_refresh_rotate(st, tp, "s1", "c", &next, NOW + 10, 5, &out, &old),
             APR_SUCCESS);
    next = next_token("s3");
    capture_logs();
    ck_store(st, mcp_store_refresh_rotate(st, tp, "s1", "c", &next, NOW + 16, 5, &out, &old),
             MCP_ECONFLICT);
    release_logs();
    ck_assert_int_eq(logged->nelts, 1);
    ck_assert_ptr_nonnull(strstr(APR_ARRAY_IDX(logged, 0, const char *), "after the grace"));
    ck_assert_int_eq(out, MCP_REFRESH_REUSED);
    ck_assert_str_eq(old->family_id, "f1");
    st = open_store(tp);
    ck_store(st, mcp_store_refresh_get(st, tp, "s2", &got), APR_SUCCESS);
    ck_assert_int_eq(got->revoked_at, NOW + 16);
    ck_store(st, mcp_store_refresh_get(st, tp, "s3", &got), MCP_ENOTFOUND);
    next = next_token("s4");
    ck_store(st, mcp_store_refresh_rotate(st, tp, "s2", "c", &next, NOW + 17, 5, &out, &old),
             MCP_EINVALID);
    ck_assert_int_eq(out, MCP_REFRESH_REVOKED);

    /* Within the grace, but the successor has expired: a replay. */
    r = refresh("g1", "f2");
    ck_store(st, mcp_store_refresh_put(st, &r), APR_SUCCESS);
    next = next_token("g2");
    next.expires_at = NOW + 12;
    ck_store(st, mcp_store_refresh_rotate(st, tp, "g1", "c", &next, NOW + 10, 5, &out, &old),
             APR_SUCCESS);
    next = next_token("g3");
    ck_store(st, mcp_store_refresh_rotate(st, tp, "g1", "c", &next, NOW + 12, 5, &out, &old),
             MCP_ECONFLICT);
    ck_assert_int_eq(out, MCP_REFRESH_REUSED);
    ck_live(st, "g2", 0);

    /* Within the grace, but the family was revoked (by an admin): the old
     * token went with it, so it is refused as revoked. */
    r = refresh("h1", "f3");
    ck_store(st, mcp_store_refresh_put(st, &r), APR_SUCCESS);
    next = next_token("h2");
    ck_store(st, mcp_store_refresh_rotate(st, tp, "h1", "c", &next, NOW + 10, 5, &out, &old),
             APR_SUCCESS);
    ck_store(st, mcp_store_refresh_revoke_family(st, "f3", NOW + 11, NULL), APR_SUCCESS);
    next = next_token("h3");
    ck_store(st, mcp_store_refresh_rotate(st, tp, "h1", "c", &next, NOW + 12, 5, &out, &old),
             MCP_EINVALID);
    ck_assert_int_eq(out, MCP_REFRESH_REVOKED);

    /* No grace: a second use, even at once, is a replay. */
    r = refresh("k1", "f4");
    ck_store(st, mcp_store_refresh_put(st, &r), APR_SUCCESS);
    next = next_token("k2");
    ck_store(st, mcp_store_refresh_rotate(st, tp, "k1", "c", &next, NOW + 10, -1, &out, &old),
             APR_SUCCESS);
    next = next_token("k3");
    ck_store(st, mcp_store_refresh_rotate(st, tp, "k1", "c", &next, NOW + 10, -1, &out, &old),
             MCP_ECONFLICT);
    ck_assert_int_eq(out, MCP_REFRESH_REUSED);
    ck_live(st, "k2", 0);
    /* A grace of 0 allows a retry in the same second only. */
    r = refresh("m1", "f5");
    ck_store(st, mcp_store_refresh_put(st, &r), APR_SUCCESS);
    next = next_token("m2");
    ck_store(st, mcp_store_refresh_rotate(st, tp, "m1", "c", &next, NOW + 10, 0, &out, &old),
             APR_SUCCESS);
    next = next_token("m3");
    ck_store(st, mcp_store_refresh_rotate(st, tp, "m1", "c", &next, NOW + 10, 0, &out, &old),
             APR_SUCCESS);
    ck_assert_int_eq(out, MCP_REFRESH_REUSED_IN_GRACE);
    next = next_token("m4");
    ck_store(st, mcp_store_refresh_rotate(st, tp, "m1", "c", &next, NOW + 11, 0, &out, &old),
             MCP_ECONFLICT);
}
END_TEST

START_TEST(refresh_revocation)
{
    mcp_store_t *st = ready_store();
    mcp_store_client_t cl = client("c"), cl2 = client("d");
    mcp_store_refresh_t r, next = next_token("a1b");
    mcp_store_refresh_outcome_e out;
    int n = -1;

    ck_store(st, mcp_store_client_put(st, &cl), APR_SUCCESS);
    ck_store(st, mcp_store_client_put(st, &cl2), APR_SUCCESS);
    r = refresh("a1", "fa"); ck_store(st, mcp_store_refresh_put(st, &r), APR_SUCCESS);
    ck_store(st, mcp_store_refresh_rotate(st, tp, "a1", "c", &next, NOW, 5, &out, NULL),
             APR_SUCCESS);
    r = refresh("a2", "fb"); ck_store(st, mcp_store_refresh_put(st, &r), APR_SUCCESS);
    r = refresh("b1", "fc"); r.subject = "bob"; r.client_id = "d";
    ck_store(st, mcp_store_refresh_put(st, &r), APR_SUCCESS);
    r = refresh("old", "fd"); r.expires_at = NOW + 5;
    ck_store(st, mcp_store_refresh_put(st, &r), APR_SUCCESS);

    /* Live tokens, by client and subject. */
    ck_store(st, mcp_store_refresh_count(st, NULL, NULL, NOW, &n), APR_SUCCESS);
    ck_assert_int_eq(n, 4);
    ck_store(st, mcp_store_refresh_count(st, NULL, NULL, NOW + 5, &n), APR_SUCCESS);
    ck_assert_int_eq(n, 3);
    ck_store(st, mcp_store_refresh_count(st, "c", NULL, NOW + 5, &n), APR_SUCCESS);
    ck_assert_int_eq(n, 2);
    ck_store(st, mcp_store_refresh_count(st, NULL, "bob", NOW, &n), APR_SUCCESS);
    ck_assert_int_eq(n, 1);
    ck_store(st, mcp_store_refresh_count(st, "c", "bob", NOW, &n), APR_SUCCESS);
    ck_assert_int_eq(n, 0);
    ck_store(st, mcp_store_refresh_count(st, "d", "bob", NOW, &n), APR_SUCCESS);
    ck_assert_int_eq(n, 1);

    /* Another client cannot revoke it, nor learn that it exists. */
    n = -1;
    ck_store(st, mcp_store_refresh_revoke(st, "a1b", "d", NOW, &n), MCP_ENOTFOUND);
    ck_assert_int_eq(n, 0);
    ck_assert_str_eq(mcp_store_error(st), "no such refresh token");
    ck_live(st, "a1b", 1);
    /* Revoking a rotated token revokes its family: itself and the
     * successor. */
    ck_store(st, mcp_store_refresh_revoke(st, "a1", "c", NOW + 1, &n), APR_SUCCESS);
    ck_assert_int_eq(n, 2);
    ck_live(st, "a1", 0);
    ck_live(st, "a1b", 0);
    ck_live(st, "a2", 1);
    /* Again, or through the other member: nothing more, and fine. */
    ck_store(st, mcp_store_refresh_revoke(st, "a1", "c", NOW + 2, &n), APR_SUCCESS);
    ck_assert_int_eq(n, 0);
    ck_store(st, mcp_store_refresh_revoke(st, "a1b", NULL, NOW + 2, NULL), APR_SUCCESS);
    ck_store(st, mcp_store_refresh_revoke(st, "zz", NULL, NOW, &n), MCP_ENOTFOUND);
    /* Administration revokes any client's. */
    ck_store(st, mcp_store_refresh_revoke(st, "b1", NULL, NOW, &n), APR_SUCCESS);
    ck_assert_int_eq(n, 1);

    /* By user, for one client or all. */
    r = refresh("a3", "fe"); r.client_id = "d";
    ck_store(st, mcp_store_refresh_put(st, &r), APR_SUCCESS);
    ck_store(st, mcp_store_refresh_revoke_user(st, "alice", "d", NOW, &n), APR_SUCCESS);
    ck_assert_int_eq(n, 1);
    ck_live(st, "a2", 1);
    r = refresh("a4", "ff"); r.client_id = "d";
    ck_store(st, mcp_store_refresh_put(st, &r), APR_SUCCESS);
    ck_store(st, mcp_store_refresh_revoke_user(st, "alice", NULL, NOW, &n), APR_SUCCESS);
    ck_assert_int_eq(n, 3);         /* a2, a4 and the expired one */
    ck_store(st, mcp_store_refresh_revoke_user(st, "alice", NULL, NOW, &n), APR_SUCCESS);
    ck_assert_int_eq(n, 0);
    /* By client, by family. */
    r = refresh("b2", "fg"); r.subject = "bob"; r.client_id = "d";
    ck_store(st, mcp_store_refresh_put(st, &r), APR_SUCCESS);
    ck_store(st, mcp_store_refresh_revoke_client(st, "c", NOW, &n), APR_SUCCESS);
    ck_assert_int_eq(n, 0);
    ck_store(st, mcp_store_refresh_revoke_client(st, "d", NOW, &n), APR_SUCCESS);
    ck_assert_int_eq(n, 1);
    ck_store(st, mcp_store_refresh_revoke_family(st, "fc", NOW, &n), APR_SUCCESS);
    ck_assert_int_eq(n, 0);
    ck_store(st, mcp_store_refresh_count(st, NULL, NULL, NOW, &n), APR_SUCCESS);
    ck_assert_int_eq(n, 0);
}
END_TEST

START_TEST(client_disable_touch)
{
    mcp_store_t *st = ready_store();
    mcp_store_client_t c = client("dcr-1"), m = client("manual-1"), *got;
    apr_array_header_t *all;

    c.expires_at = NOW + 100;
    ck_store(st, mcp_store_client_put(st, &c), APR_SUCCESS);
    m.kind = "manual";
    m.disabled_at = NOW - 5;
    ck_store(st, mcp_store_client_put(st, &m), APR_SUCCESS);
    ck_store(st, mcp_store_client_get(st, tp, "dcr-1", &got), APR_SUCCESS);
    ck_assert_int_eq(got->disabled_at, 0);
    ck_store(st, mcp_store_client_get(st, tp, "manual-1", &got), APR_SUCCESS);
    ck_assert_int_eq(got->disabled_at, NOW - 5);
    /* Disable and enable again through update; list carries it. */
    c.disabled_at = NOW + 7;
    ck_store(st, mcp_store_client_update(st, &c), APR_SUCCESS);
    ck_store(st, mcp_store_client_get(st, tp, "dcr-1", &got), APR_SUCCESS);
    ck_assert_int_eq(got->disabled_at, NOW + 7);
    ck_store(st, mcp_store_client_list(st, tp, &all), APR_SUCCESS);
    ck_assert_int_eq(all->nelts, 2);
    ck_assert_int_eq(APR_ARRAY_IDX(all, 0, mcp_store_client_t *)->disabled_at, NOW + 7);
    ck_assert_int_eq(APR_ARRAY_IDX(all, 1, mcp_store_client_t *)->disabled_at, NOW - 5);
    c.disabled_at = 0;
    ck_store(st, mcp_store_client_update(st, &c), APR_SUCCESS);
    ck_store(st, mcp_store_client_get(st, tp, "dcr-1", &got), APR_SUCCESS);
    ck_assert_int_eq(got->disabled_at, 0);

    /* Touch extends an idle expiry and never shortens it. */
    ck_store(st, mcp_store_client_touch(st, "dcr-1", NOW + 200), APR_SUCCESS);
    ck_store(st, mcp_store_client_get(st, tp, "dcr-1", &got), APR_SUCCESS);
    ck_assert_int_eq(got->expires_at, NOW + 200);
    ck_store(st, mcp_store_client_touch(st, "dcr-1", NOW + 150), APR_SUCCESS);
    ck_store(st, mcp_store_client_get(st, tp, "dcr-1", &got), APR_SUCCESS);
    ck_assert_int_eq(got->expires_at, NOW + 200);
    ck_assert_int_eq(got->updated_at, NOW);
    /* A client that never expires stays so. */
    ck_store(st, mcp_store_client_touch(st, "manual-1", NOW + 200), APR_SUCCESS);
    ck_store(st, mcp_store_client_get(st, tp, "manual-1", &got), APR_SUCCESS);
    ck_assert_int_eq(got->expires_at, 0);
    ck_store(st, mcp_store_client_touch(st, "nope", NOW + 200), MCP_ENOTFOUND);
    ck_store(st, mcp_store_client_touch(st, "x' OR '1'='1", NOW + 200), MCP_ENOTFOUND);
    ck_store(st, mcp_store_client_touch(st, "dcr-1", 0), MCP_EINVALID);
    ck_store(st, mcp_store_client_touch(st, "", NOW), MCP_EINVALID);

    /* An expired client is still returned: the caller decides. */
    c.expires_at = NOW - 1;
    ck_store(st, mcp_store_client_update(st, &c), APR_SUCCESS);
    ck_store(st, mcp_store_client_get(st, tp, "dcr-1", &got), APR_SUCCESS);
    ck_assert_int_eq(got->expires_at, NOW - 1);
    ck_assert_int_eq(got->redirect_uris->nelts, 2);
}
END_TEST

static int count_rows(mcp_store_t *st, const char *table, const char *client_id)
{
    return atoi(query1(st, apr_psprintf(tp, "SELECT count(*) FROM %s WHERE "
                                        "client_id = '%s'", table, client_id)));
}

START_TEST(client_delete_cascades)
{
    /* Deleting a client takes its redirect URIs, codes, refresh tokens and
     * consents with it, and nothing of another client's. */
    static const char *const tables[] = {
        "mcp_client_redirect_uris", "mcp_auth_codes", "mcp_refresh_tokens",
        "mcp_consents"
    };
    mcp_store_t *st = ready_store();
    const char *ids[2] = { "c", "d" };
    mcp_store_upstream_t u, *gu;
    apr_size_t i, j;

    for (i = 0; i < 2; i++) {
        mcp_store_client_t cl = client(ids[i]);
        mcp_store_code_t k = code(apr_pstrcat(tp, "code-", ids[i], NULL), ids[i]);
        mcp_store_refresh_t r = refresh(apr_pstrcat(tp, "rt-", ids[i], NULL),
                                        apr_pstrcat(tp, "fam-", ids[i], NULL));
        mcp_store_refresh_t next = next_token(apr_pstrcat(tp, "rt2-", ids[i], NULL));
        mcp_store_consent_t n;

        ck_store(st, mcp_store_client_put(st, &cl), APR_SUCCESS);
        ck_store(st, mcp_store_code_put(st, &k), APR_SUCCESS);
        r.client_id = ids[i];
        ck_store(st, mcp_store_refresh_put(st, &r), APR_SUCCESS);
        ck_store(st, mcp_store_refresh_rotate(st, tp, r.token_hash, ids[i], &next, NOW, 5,
                                              NULL, NULL), APR_SUCCESS);
        memset(&n, 0, sizeof(n));
        n.subject = "alice"; n.client_id = ids[i]; n.resource = ""; n.scope = "mcp";
        n.granted_at = NOW; n.expires_at = NOW + 10;
        ck_store(st, mcp_store_consent_put(st, &n), APR_SUCCESS);
    }
    memset(&u, 0, sizeof(u));
    u.subject = "alice"; u.provider = "c"; u.sealed = "v1"; u.key_id = "k";
    u.created_at = u.updated_at = NOW;
    ck_store(st, mcp_store_upstream_put(st, &u), APR_SUCCESS);
    for (j = 0; j < sizeof(tables) / sizeof(tables[0]); j++) {
        ck_assert_int_gt(count_rows(st, tables[j], "c"), 0);
    }
    ck_store(st, mcp_store_client_delete(st, "c"), APR_SUCCESS);
    for (j = 0; j < sizeof(tables) / sizeof(tables[0]); j++) {
        ck_assert_msg(count_rows(st, tables[j], "c") == 0, "%s keeps rows", tables[j]);
        ck_assert_msg(count_rows(st, tables[j], "d") > 0, "%s lost d's rows", tables[j]);
    }
    /* Upstream tokens belong to the user, not the client. */
    ck_store(st, mcp_store_upstream_get(st, tp, "alice", "c", &gu), APR_SUCCESS);
}
END_TEST

/* ---- consents, upstream tokens, purge ----------------------------- */

START_TEST(consents)
{
    mcp_store_t *st = ready_store();
    mcp_store_client_t cl = client("c");
    mcp_store_consent_t c, *got;

    ck_store(st, mcp_store_client_put(st, &cl), APR_SUCCESS);
    memset(&c, 0, sizeof(c));
    c.subject = "alice";
    c.client_id = "c";
    c.resource = "https://gw.example/mcp";
    c.scope = "mcp";
    c.granted_at = NOW;
    c.expires_at = NOW + 100;
    ck_store(st, mcp_store_consent_put(st, &c), APR_SUCCESS);
    c.scope = "mcp github:read";
    c.expires_at = NOW + 200;
    ck_store(st, mcp_store_consent_put(st, &c), APR_SUCCESS);
    ck_store(st, mcp_store_consent_get(st, tp, "alice", "c", c.resource, NOW + 150, &got),
             APR_SUCCESS);
    ck_assert_str_eq(got->scope, "mcp github:read");
    ck_store(st, mcp_store_consent_get(st, tp, "alice", "c", c.resource, NOW + 200, &got),
             MCP_EEXPIRED);
    ck_store(st, mcp_store_consent_get(st, tp, "alice", "c", "", NOW, &got), MCP_ENOTFOUND);
    ck_store(st, mcp_store_consent_delete(st, "alice", "c", c.resource), APR_SUCCESS);
    ck_store(st, mcp_store_consent_delete(st, "alice", "c", c.resource), MCP_ENOTFOUND);
}
END_TEST

/* A consent of @subject for @client_id and @resource. */
static void put_consent(mcp_store_t *st, const char *subject, const char *client_id,
                        const char *resource, apr_int64_t expires_at)
{
    mcp_store_consent_t c;

    memset(&c, 0, sizeof(c));
    c.subject = subject;
    c.client_id = client_id;
    c.resource = resource;
    c.scope = "mcp";
    c.granted_at = NOW;
    c.expires_at = expires_at;
    ck_store(st, mcp_store_consent_put(st, &c), APR_SUCCESS);
}

START_TEST(consent_list_revoke)
{
    mcp_store_t *st = ready_store();
    mcp_store_client_t a = client("a-client"), b = client("b-client");
    apr_array_header_t *list;
    mcp_store_consent_t *c;
    int n = -1;

    ck_store(st, mcp_store_client_put(st, &a), APR_SUCCESS);
    ck_store(st, mcp_store_client_put(st, &b), APR_SUCCESS);
    put_consent(st, "alice", "b-client", "https://gw.example/mcp", NOW + 100);
    put_consent(st, "alice", "a-client", "https://gw.example/z", NOW + 100);
    put_consent(st, "alice", "a-client", "", NOW - 1);       /* expired */
    put_consent(st, "alice", "b-client", "https://gw.example/a", NOW + 100);
    put_consent(st, "bob", "a-client", "", NOW + 100);

    ck_store(st, mcp_store_consent_list(st, tp, "alice", &list), APR_SUCCESS);
    ck_assert_int_eq(list->nelts, 4);
    c = APR_ARRAY_IDX(list, 0, mcp_store_consent_t *);
    ck_assert_str_eq(c->client_id, "a-client");
    ck_assert_str_eq(c->resource, "");
    ck_assert_int_eq(c->expires_at, NOW - 1);
    ck_assert_str_eq(APR_ARRAY_IDX(list, 1, mcp_store_consent_t *)->resource,
                     "https://gw.example/z");
    c = APR_ARRAY_IDX(list, 2, mcp_store_consent_t *);
    ck_assert_str_eq(c->client_id, "b-client");
    ck_assert_str_eq(c->resource, "https://gw.example/a");
    ck_assert_str_eq(c->subject, "alice");
    ck_assert_str_eq(c->scope, "mcp");
    ck_assert_int_eq(c->granted_at, NOW);
    ck_store(st, mcp_store_consent_list(st, tp, "carol", &list), APR_SUCCESS);
    ck_assert_int_eq(list->nelts, 0);

    ck_store(st, mcp_store_consent_revoke(st, "alice", "b-client", &n), APR_SUCCESS);
    ck_assert_int_eq(n, 2);
    ck_store(st, mcp_store_consent_revoke(st, "alice", "b-client", &n), APR_SUCCESS);
    ck_assert_int_eq(n, 0);
    ck_store(st, mcp_store_consent_list(st, tp, "alice", &list), APR_SUCCESS);
    ck_assert_int_eq(list->nelts, 2);
    ck_store(st, mcp_store_consent_revoke(st, "alice", NULL, &n), APR_SUCCESS);
    ck_assert_int_eq(n, 2);
    ck_store(st, mcp_store_consent_list(st, tp, "alice", &list), APR_SUCCESS);
    ck_assert_int_eq(list->nelts, 0);
    /* Bob's are untouched; a subject that looks like SQL is a value. */
    ck_store(st, mcp_store_consent_revoke(st, "' OR '1'='1", NULL, NULL), APR_SUCCESS);
    ck_store(st, mcp_store_consent_list(st, tp, "bob", &list), APR_SUCCESS);
    ck_assert_int_eq(list->nelts, 1);
}
END_TEST

START_TEST(upstream_tokens)
{
    mcp_store_t *st = ready_store();
    mcp_store_upstream_t u, *got;
    apr_array_header_t *list;

    memset(&u, 0, sizeof(u));
    u.subject = "alice";
    u.provider = "slack";
    u.sealed = "v1.k1.AAAA";
    u.key_id = "k1";
    u.expires_at = NOW + 3600;
    u.created_at = NOW;
    u.updated_at = NOW;
    u.version = 7;                  /* the store decides: 1 */
    u.lease_holder = "me";          /* ignored too */
    u.lease_until = NOW + 10;
    ck_store(st, mcp_store_upstream_put(st, &u), APR_SUCCESS);
    u.provider = "github";
    ck_store(st, mcp_store_upstream_put(st, &u), APR_SUCCESS);
    ck_store(st, mcp_store_upstream_get(st, tp, "alice", "github", &got), APR_SUCCESS);
    ck_assert_int_eq(got->version, 1);
    ck_assert_ptr_null(got->lease_holder);
    ck_assert_int_eq(got->lease_until, 0);
    ck_assert_int_eq(got->refresh_expires_at, 0);
    /* Upsert (a new link): new value, created_at kept, version + 1. */
    u.refresh_expires_at = NOW + 86400;
    u.sealed = "v1.k2.BBBB";
    u.key_id = "k2";
    u.expires_at = 0;
    u.created_at = NOW + 50;
    u.updated_at = NOW + 50;
    ck_store(st, mcp_store_upstream_put(st, &u), APR_SUCCESS);
    ck_store(st, mcp_store_upstream_get(st, tp, "alice", "github", &got), APR_SUCCESS);
    ck_assert_str_eq(got->sealed, "v1.k2.BBBB");
    ck_assert_str_eq(got->key_id, "k2");
    ck_assert_int_eq(got->expires_at, 0);
    ck_assert_int_eq(got->created_at, NOW);
    ck_assert_int_eq(got->updated_at, NOW + 50);
    ck_assert_int_eq(got->version, 2);
    ck_assert_int_eq(got->refresh_expires_at, NOW + 86400);
    ck_store(st, mcp_store_upstream_list(st, tp, "alice", &list), APR_SUCCESS);
    ck_assert_int_eq(list->nelts, 2);
    ck_assert_str_eq(APR_ARRAY_IDX(list, 0, mcp_store_upstream_t *)->provider, "github");
    ck_store(st, mcp_store_upstream_list(st, tp, "bob", &list), APR_SUCCESS);
    ck_assert_int_eq(list->nelts, 0);
    /* By provider: every user's link (mcpctl provider connections, purge). */
    u.subject = "bob";
    ck_store(st, mcp_store_upstream_put(st, &u), APR_SUCCESS);
    ck_store(st, mcp_store_upstream_list_provider(st, tp, "github", &list), APR_SUCCESS);
    ck_assert_int_eq(list->nelts, 2);
    ck_assert_str_eq(APR_ARRAY_IDX(list, 0, mcp_store_upstream_t *)->subject, "alice");
    ck_assert_str_eq(APR_ARRAY_IDX(list, 1, mcp_store_upstream_t *)->subject, "bob");
    ck_store(st, mcp_store_upstream_list_provider(st, tp, "nosuch", &list), APR_SUCCESS);
    ck_assert_int_eq(list->nelts, 0);
    {
        int n = -1;

        ck_store(st, mcp_store_upstream_delete_provider(st, "github", &n), APR_SUCCESS);
        ck_assert_int_eq(n, 2);
        ck_store(st, mcp_store_upstream_delete_provider(st, "github", &n), APR_SUCCESS);
        ck_assert_int_eq(n, 0);
    }
    ck_store(st, mcp_store_upstream_get(st, tp, "alice", "slack", &got), APR_SUCCESS);
    u.subject = "alice";
    ck_store(st, mcp_store_upstream_delete(st, "alice", "slack"), APR_SUCCESS);
    ck_store(st, mcp_store_upstream_delete(st, "alice", "slack"), MCP_ENOTFOUND);
    ck_store(st, mcp_store_upstream_get(st, tp, "alice", "slack", &got), MCP_ENOTFOUND);
    u.sealed = NULL;
    ck_store(st, mcp_store_upstream_put(st, &u), MCP_EINVALID);
}
END_TEST

/* An upstream link of alice at @provider, version 1. */
static mcp_store_upstream_t upstream(mcp_store_t *st, const char *provider)
{
    mcp_store_upstream_t u;

    memset(&u, 0, sizeof(u));
    u.subject = "alice";
    u.provider = provider;
    u.sealed = "v1.k1.FIRST";
    u.key_id = "k1";
    u.scope = "repo";
    u.expires_at = NOW + 3600;
    u.refresh_expires_at = NOW + 86400;
    u.created_at = NOW;
    u.updated_at = NOW;
    ck_store(st, mcp_store_upstream_put(st, &u), APR_SUCCESS);
    return u;
}

START_TEST(upstream_cas)
{
    mcp_store_t *st = ready_store();
    mcp_store_upstream_t u = upstream(st, "github"), *got;

    /* A refresh that read version 1 stores its tokens: version 2. */
    u.sealed = "v1.k2.SECOND";
    u.key_id = "k2";
    u.scope = NULL;
    u.expires_at = NOW + 7200;
    u.refresh_expires_at = 0;
    u.updated_at = NOW + 10;
    u.created_at = NOW + 10;        /* not written */
    ck_store(st, mcp_store_upstream_update_cas(st, &u, 1), APR_SUCCESS);
    ck_store(st, mcp_store_upstream_get(st, tp, "alice", "github", &got), APR_SUCCESS);
    ck_assert_int_eq(got->version, 2);
    ck_assert_str_eq(got->sealed, "v1.k2.SECOND");
    ck_assert_str_eq(got->key_id, "k2");
    ck_assert_ptr_null(got->scope);
    ck_assert_int_eq(got->expires_at, NOW + 7200);
    ck_assert_int_eq(got->refresh_expires_at, 0);
    ck_assert_int_eq(got->updated_at, NOW + 10);
    ck_assert_int_eq(got->created_at, NOW);

    /* A second refresh that also read version 1 must not overwrite the
     * rotated token: conflict, nothing changes. */
    u.sealed = "v1.k1.STALE";
    ck_store(st, mcp_store_upstream_update_cas(st, &u, 1), MCP_ECONFLICT);
    ck_assert_ptr_nonnull(strstr(mcp_store_error(st), "changed meanwhile"));
    ck_assert_ptr_null(strstr(mcp_store_error(st), "STALE"));
    ck_store(st, mcp_store_upstream_get(st, tp, "alice", "github", &got), APR_SUCCESS);
    ck_assert_str_eq(got->sealed, "v1.k2.SECOND");
    ck_assert_int_eq(got->version, 2);
    /* A version from the future is no better. */
    ck_store(st, mcp_store_upstream_update_cas(st, &u, 3), MCP_ECONFLICT);

    /* A new link meanwhile (put) supersedes: the refresh that read 2 loses. */
    u.sealed = "v1.k1.RELINKED";
    ck_store(st, mcp_store_upstream_put(st, &u), APR_SUCCESS);
    u.sealed = "v1.k1.STALE";
    ck_store(st, mcp_store_upstream_update_cas(st, &u, 2), MCP_ECONFLICT);
    ck_store(st, mcp_store_upstream_get(st, tp, "alice", "github", &got), APR_SUCCESS);
    ck_assert_str_eq(got->sealed, "v1.k1.RELINKED");
    ck_assert_int_eq(got->version, 3);
    ck_store(st, mcp_store_upstream_update_cas(st, &u, 3), APR_SUCCESS);

    /* Unlinked meanwhile: not found, and not recreated. */
    ck_store(st, mcp_store_upstream_delete(st, "alice", "github"), APR_SUCCESS);
    ck_store(st, mcp_store_upstream_update_cas(st, &u, 4), MCP_ENOTFOUND);
    ck_store(st, mcp_store_upstream_get(st, tp, "alice", "github", &got), MCP_ENOTFOUND);

    ck_store(st, mcp_store_upstream_update_cas(st, &u, 0), MCP_EINVALID);
    ck_store(st, mcp_store_upstream_update_cas(st, NULL, 1), MCP_EINVALID);
    u.key_id = "";
    ck_store(st, mcp_store_upstream_update_cas(st, &u, 1), MCP_EINVALID);
}
END_TEST

START_TEST(upstream_touch)
{
    mcp_store_t *st = ready_store();
    mcp_store_upstream_t u = upstream(st, "github"), *got;
    apr_array_header_t *list;
    int written = -1;

    upstream(st, "slack");
    /* A new link was never used. */
    ck_store(st, mcp_store_upstream_get(st, tp, "alice", "github", &got), APR_SUCCESS);
    ck_assert_int_eq(got->last_used_at, 0);

    /* The first use is written; version, updated_at and the lease stay. */
    ck_store(st, mcp_store_upstream_lease(st, "alice", "github", "node1:1", NOW, NOW + 30,
                                          NULL), APR_SUCCESS);
    ck_store(st, mcp_store_upstream_touch(st, "alice", "github", NOW + 5, &written),
             APR_SUCCESS);
    ck_assert_int_eq(written, 1);
    ck_store(st, mcp_store_upstream_get(st, tp, "alice", "github", &got), APR_SUCCESS);
    ck_assert_int_eq(got->last_used_at, NOW + 5);
    ck_assert_int_eq(got->version, 1);
    ck_assert_int_eq(got->updated_at, NOW);
    ck_assert_str_eq(got->lease_holder, "node1:1");
    ck_assert_int_eq(got->lease_until, NOW + 30);
    ck_assert_str_eq(got->sealed, "v1.k1.FIRST");
    /* Only that link. */
    ck_store(st, mcp_store_upstream_get(st, tp, "alice", "slack", &got), APR_SUCCESS);
    ck_assert_int_eq(got->last_used_at, 0);

    /* Within the interval nothing is written, up to its last second. */
    ck_store(st, mcp_store_upstream_touch(st, "alice", "github", NOW + 6, &written),
             APR_SUCCESS);
    ck_assert_int_eq(written, 0);
    ck_store(st, mcp_store_upstream_touch(st, "alice", "github",
                                          NOW + 5 + MCP_STORE_UPSTREAM_TOUCH_INTERVAL,
                                          &written), APR_SUCCESS);
    ck_assert_int_eq(written, 0);
    ck_store(st, mcp_store_upstream_get(st, tp, "alice", "github", &got), APR_SUCCESS);
    ck_assert_int_eq(got->last_used_at, NOW + 5);
    /* An earlier time (another node's clock) never moves it back. */
    ck_store(st, mcp_store_upstream_touch(st, "alice", "github", NOW - 100, &written),
             APR_SUCCESS);
    ck_assert_int_eq(written, 0);

    /* The refresh that read version 1 (the lease above) still stores its
     * tokens: the touch did not make its compare-and-set fail; and the
     * refresh keeps last_used_at. */
    u.sealed = "v1.k2.SECOND";
    u.updated_at = NOW + 20;
    u.last_used_at = 1;             /* not written by a refresh */
    ck_store(st, mcp_store_upstream_update_cas(st, &u, 1), APR_SUCCESS);
    ck_store(st, mcp_store_upstream_get(st, tp, "alice", "github", &got), APR_SUCCESS);
    ck_assert_int_eq(got->version, 2);
    ck_assert_str_eq(got->sealed, "v1.k2.SECOND");
    ck_assert_int_eq(got->last_used_at, NOW + 5);

    /* Once the interval is over, the next use is written. */
    ck_store(st, mcp_store_upstream_touch(st, "alice", "github",
                                          NOW + 6 + MCP_STORE_UPSTREAM_TOUCH_INTERVAL,
                                          NULL), APR_SUCCESS);
    ck_store(st, mcp_store_upstream_get(st, tp, "alice", "github", &got), APR_SUCCESS);
    ck_assert_int_eq(got->last_used_at, NOW + 6 + MCP_STORE_UPSTREAM_TOUCH_INTERVAL);
    ck_assert_int_eq(got->version, 2);
    ck_assert_int_eq(got->updated_at, NOW + 20);
    ck_store(st, mcp_store_upstream_update_cas(st, &u, 2), APR_SUCCESS);

    /* Lists carry it too. */
    ck_store(st, mcp_store_upstream_list(st, tp, "alice", &list), APR_SUCCESS);
    ck_assert_int_eq(list->nelts, 2);
    ck_assert_int_eq(APR_ARRAY_IDX(list, 0, mcp_store_upstream_t *)->last_used_at,
                     NOW + 6 + MCP_STORE_UPSTREAM_TOUCH_INTERVAL);
    ck_assert_int_eq(APR_ARRAY_IDX(list, 1, mcp_store_upstream_t *)->last_used_at, 0);
    ck_store(st, mcp_store_upstream_list_provider(st, tp, "github", &list), APR_SUCCESS);
    ck_assert_int_eq(list->nelts, 1);
    ck_assert_int_eq(APR_ARRAY_IDX(list, 0, mcp_store_upstream_t *)->last_used_at,
                     NOW + 6 + MCP_STORE_UPSTREAM_TOUCH_INTERVAL);

    /* A new link over it (put) ignores the caller's value and keeps when
     * the link was last used; a link made anew starts never used. */
    u.last_used_at = NOW + 999;
    ck_store(st, mcp_store_upstream_put(st, &u), APR_SUCCESS);
    ck_store(st, mcp_store_upstream_get(st, tp, "alice", "github", &got), APR_SUCCESS);
    ck_assert_int_eq(got->last_used_at, NOW + 6 + MCP_STORE_UPSTREAM_TOUCH_INTERVAL);
    ck_store(st, mcp_store_upstream_delete(st, "alice", "github"), APR_SUCCESS);
    ck_store(st, mcp_store_upstream_put(st, &u), APR_SUCCESS);
    ck_store(st, mcp_store_upstream_get(st, tp, "alice", "github", &got), APR_SUCCESS);
    ck_assert_int_eq(got->last_used_at, 0);

    /* No such link: nothing written, not an error (nothing is read to
     * tell). */
    written = -1;
    ck_store(st, mcp_store_upstream_touch(st, "alice", "nosuch", NOW, &written),
             APR_SUCCESS);
    ck_assert_int_eq(written, 0);
    ck_store(st, mcp_store_upstream_get(st, tp, "alice", "nosuch", &got), MCP_ENOTFOUND);

    ck_store(st, mcp_store_upstream_touch(st, "", "github", NOW, NULL), MCP_EINVALID);
    ck_store(st, mcp_store_upstream_touch(st, "alice", NULL, NOW, NULL), MCP_EINVALID);
    ck_store(st, mcp_store_upstream_touch(st, "alice", "github", 0, NULL), MCP_EINVALID);
}
END_TEST

START_TEST(upstream_lease)
{
    mcp_store_t *st = ready_store();
    mcp_store_upstream_t u = upstream(st, "github"), *got;
    apr_int64_t until = -1;

    upstream(st, "slack");
    /* One holder at a time. */
    ck_store(st, mcp_store_upstream_lease(st, "alice", "github", "node1:1", NOW, NOW + 30,
                                          &until), APR_SUCCESS);
    ck_assert_int_eq(until, 0);
    ck_store(st, mcp_store_upstream_lease(st, "alice", "github", "node2:7", NOW + 1,
                                          NOW + 31, &until), MCP_ECONFLICT);
    ck_assert_int_eq(until, NOW + 30);
    ck_store(st, mcp_store_upstream_lease(st, "alice", "github", "node2:7", NOW + 29,
                                          NOW + 59, NULL), MCP_ECONFLICT);
    /* Another provider's lease is another lease. */
    ck_store(st, mcp_store_upstream_lease(st, "alice", "slack", "node2:7", NOW + 1,
                                          NOW + 31, NULL), APR_SUCCESS);
    /* The holder may take it again (extend it). */
    ck_store(st, mcp_store_upstream_lease(st, "alice", "github", "node1:1", NOW + 5,
                                          NOW + 40, NULL), APR_SUCCESS);
    ck_store(st, mcp_store_upstream_get(st, tp, "alice", "github", &got), APR_SUCCESS);
    ck_assert_str_eq(got->lease_holder, "node1:1");
    ck_assert_int_eq(got->lease_until, NOW + 40);
    ck_assert_int_eq(got->version, 1);      /* a lease is not a write of tokens */
    /* Someone else's release leaves it; the holder's releases it. */
    ck_store(st, mcp_store_upstream_release(st, "alice", "github", "node2:7"), APR_SUCCESS);
    ck_store(st, mcp_store_upstream_lease(st, "alice", "github", "node2:7", NOW + 6,
                                          NOW + 36, NULL), MCP_ECONFLICT);
    ck_store(st, mcp_store_upstream_release(st, "alice", "github", "node1:1"), APR_SUCCESS);
    ck_store(st, mcp_store_upstream_get(st, tp, "alice", "github", &got), APR_SUCCESS);
    ck_assert_ptr_null(got->lease_holder);
    ck_assert_int_eq(got->lease_until, 0);
    ck_store(st, mcp_store_upstream_lease(st, "alice", "github", "node2:7", NOW + 6,
                                          NOW + 36, NULL), APR_SUCCESS);
    /* An expired lease (the holder died) is taken over, at its end. */
    ck_store(st, mcp_store_upstream_lease(st, "alice", "github", "node3:2", NOW + 35,
                                          NOW + 65, NULL), MCP_ECONFLICT);
    ck_store(st, mcp_store_upstream_lease(st, "alice", "github", "node3:2", NOW + 36,
                                          NOW + 66, NULL), APR_SUCCESS);
    /* The compare-and-set releases the lease, whoever held it; the
     * late holder's update then conflicts. */
    u.sealed = "v1.k1.NEW";
    ck_store(st, mcp_store_upstream_update_cas(st, &u, 1), APR_SUCCESS);
    ck_store(st, mcp_store_upstream_get(st, tp, "alice", "github", &got), APR_SUCCESS);
    ck_assert_ptr_null(got->lease_holder);
    ck_assert_int_eq(got->lease_until, 0);
    ck_store(st, mcp_store_upstream_update_cas(st, &u, 1), MCP_ECONFLICT);
    /* A new link drops a lease held on the old tokens. */
    ck_store(st, mcp_store_upstream_lease(st, "alice", "github", "node1:1", NOW + 40,
                                          NOW + 70, NULL), APR_SUCCESS);
    ck_store(st, mcp_store_upstream_put(st, &u), APR_SUCCESS);
    ck_store(st, mcp_store_upstream_get(st, tp, "alice", "github", &got), APR_SUCCESS);
    ck_assert_ptr_null(got->lease_holder);

    ck_store(st, mcp_store_upstream_lease(st, "alice", "nope", "n", NOW, NOW + 1, &until),
             MCP_ENOTFOUND);
    ck_assert_int_eq(until, 0);
    ck_store(st, mcp_store_upstream_lease(st, "alice", "github", "n", NOW, NOW, NULL),
             MCP_EINVALID);
    ck_store(st, mcp_store_upstream_lease(st, "alice", "github", "", NOW, NOW + 1, NULL),
             MCP_EINVALID);
    ck_store(st, mcp_store_upstream_lease(st, NULL, "github", "n", NOW, NOW + 1, NULL),
             MCP_EINVALID);
    ck_store(st, mcp_store_upstream_lease(st, "alice", NULL, "n", NOW, NOW + 1, NULL),
             MCP_EINVALID);
    ck_store(st, mcp_store_upstream_release(st, "alice", "github", NULL), MCP_EINVALID);
    ck_store(st, mcp_store_upstream_release(st, "", "github", "n"), MCP_EINVALID);
    ck_store(st, mcp_store_upstream_release(st, "alice", "", "n"), MCP_EINVALID);
    ck_store(st, mcp_store_upstream_release(st, "alice", "nope", "n"), APR_SUCCESS);
}
END_TEST

/* Race workers on alice's github link: each with its own connection. */
static mcp_store_t *worker_store(apr_pool_t **pp)
{
    mcp_store_t *cst = NULL;
    const char *err = NULL;

    apr_pool_create(pp, NULL);
    if (mcp_store_open(&cst, *pp, backend, params, &err) != APR_SUCCESS) {
        return NULL;
    }
    return cst;
}

/* Every racer read version 1 and stores its own refreshed token. */
static int cas_race_worker(int index)
{
    apr_pool_t *p;
    mcp_store_t *cst = worker_store(&p);
    mcp_store_upstream_t u;
    apr_status_t rv;

    if (!cst) {
        apr_pool_destroy(p);
        return 3;
    }
    memset(&u, 0, sizeof(u));
    u.subject = "alice";
    u.provider = "github";
    u.sealed = apr_psprintf(p, "v1.k1.RACER%d", index);
    u.key_id = "k1";
    u.created_at = u.updated_at = NOW + 1;
    rv = mcp_store_upstream_update_cas(cst, &u, 1);
    apr_pool_destroy(p);
    return rv == APR_SUCCESS ? 0 : rv == MCP_ECONFLICT ? 1 : 2;
}

static int lease_race_worker(int index)
{
    apr_pool_t *p;
    mcp_store_t *cst = worker_store(&p);
    apr_status_t rv;

    if (!cst) {
        apr_pool_destroy(p);
        return 3;
    }
    rv = mcp_store_upstream_lease(cst, "alice", "github",
                                  apr_psprintf(p, "racer:%d", index), NOW, NOW + 30,
                                  NULL);
    apr_pool_destroy(p);
    return rv == APR_SUCCESS ? 0 : rv == MCP_ECONFLICT ? 1 : 2;
}

static int pending_race_worker(int index)
{
    apr_pool_t *p;
    mcp_store_t *cst = worker_store(&p);
    mcp_store_pending_t *a = NULL;
    apr_status_t rv;
    int ok;

    (void)index;
    if (!cst) {
        apr_pool_destroy(p);
        return 3;
    }
    rv = mcp_store_pending_take(cst, p, "race-state", NOW + 1, &a);
    ok = rv == APR_SUCCESS && a && !strcmp(a->verifier_sealed, "v1.k1.VERIFIER");
    apr_pool_destroy(p);
    return ok ? 0 : rv == MCP_ENOTFOUND ? 1 : 2;
}

/* Run @fn in RACERS processes: one wins (0), the others lose (1). */
static int race_one_winner(worker_fn *fn, int *results)
{
    int i, wins = 0, winner = -1;

    run_workers(RACERS, fn, results);
    for (i = 0; i < RACERS; i++) {
        ck_assert_msg(results[i] == 0 || results[i] == 1, "racer %d: %d", i, results[i]);
        if (results[i] == 0) {
            wins++;
            winner = i;
        }
    }
    ck_assert_int_eq(wins, 1);
    return winner;
}

START_TEST(upstream_cas_race)
{
    apr_pool_t *setup;
    mcp_store_t *st;
    mcp_store_upstream_t *got;
    int results[RACERS], winner;

    apr_pool_create(&setup, tp);
    st = ready_store_in(setup);
    upstream(st, "github");
    close_store(setup);
    winner = race_one_winner(cas_race_worker, results);
    st = open_store(tp);
    ck_store(st, mcp_store_upstream_get(st, tp, "alice", "github", &got), APR_SUCCESS);
    ck_assert_int_eq(got->version, 2);
    ck_assert_str_eq(got->sealed, apr_psprintf(tp, "v1.k1.RACER%d", winner));
}
END_TEST

START_TEST(upstream_lease_race)
{
    apr_pool_t *setup;
    mcp_store_t *st;
    mcp_store_upstream_t *got;
    int results[RACERS], winner;

    apr_pool_create(&setup, tp);
    st = ready_store_in(setup);
    upstream(st, "github");
    close_store(setup);
    winner = race_one_winner(lease_race_worker, results);
    st = open_store(tp);
    ck_store(st, mcp_store_upstream_get(st, tp, "alice", "github", &got), APR_SUCCESS);
    ck_assert_str_eq(got->lease_holder, apr_psprintf(tp, "racer:%d", winner));
    ck_assert_int_eq(got->lease_until, NOW + 30);
}
END_TEST

/* A pending authorization of alice at github. */
static mcp_store_pending_t pending(const char *state_hash)
{
    mcp_store_pending_t a;

    memset(&a, 0, sizeof(a));
    a.state_hash = state_hash;
    a.subject = "alice";
    a.provider = "github";
    a.verifier_sealed = "v1.k1.VERIFIER";
    a.scope = "repo read:user";
    a.return_to = "/mcp";
    a.created_at = NOW;
    a.expires_at = NOW + 600;
    return a;
}

START_TEST(upstream_pending)
{
    mcp_store_t *st = ready_store();
    mcp_store_pending_t a = pending("s1"), *got = (void *)1;
    mcp_store_purge_t n;

    ck_store(st, mcp_store_pending_put(st, &a), APR_SUCCESS);
    ck_store(st, mcp_store_pending_put(st, &a), MCP_ECONFLICT);
    a = pending("s2");
    a.scope = NULL;
    a.return_to = NULL;
    ck_store(st, mcp_store_pending_put(st, &a), APR_SUCCESS);

    /* Taken once: everything comes back, then it is gone. */
    ck_store(st, mcp_store_pending_take(st, tp, "s1", NOW + 1, &got), APR_SUCCESS);
    ck_assert_str_eq(got->state_hash, "s1");
    ck_assert_str_eq(got->subject, "alice");
    ck_assert_str_eq(got->provider, "github");
    ck_assert_str_eq(got->verifier_sealed, "v1.k1.VERIFIER");
    ck_assert_str_eq(got->scope, "repo read:user");
    ck_assert_str_eq(got->return_to, "/mcp");
    ck_assert_int_eq(got->created_at, NOW);
    ck_assert_int_eq(got->expires_at, NOW + 600);
    ck_store(st, mcp_store_pending_take(st, tp, "s1", NOW + 1, &got), MCP_ENOTFOUND);
    ck_assert_ptr_null(got);
    ck_store(st, mcp_store_pending_take(st, tp, "never", NOW + 1, &got), MCP_ENOTFOUND);
    ck_store(st, mcp_store_pending_take(st, tp, "s2", NOW + 2, &got), APR_SUCCESS);
    ck_assert_ptr_null(got->scope);
    ck_assert_ptr_null(got->return_to);

    /* Expired: refused and gone (a second take is not found). */
    a = pending("s3");
    ck_store(st, mcp_store_pending_put(st, &a), APR_SUCCESS);
    ck_store(st, mcp_store_pending_take(st, tp, "s3", NOW + 600, &got), MCP_EEXPIRED);
    ck_assert_ptr_null(got);
    ck_store(st, mcp_store_pending_take(st, tp, "s3", NOW + 1, &got), MCP_ENOTFOUND);

    /* The expiry sweep removes what expired and was never taken. */
    a = pending("old");
    a.created_at = NOW - 700;
    a.expires_at = NOW - 100;
    ck_store(st, mcp_store_pending_put(st, &a), APR_SUCCESS);
    a = pending("live");
    ck_store(st, mcp_store_pending_put(st, &a), APR_SUCCESS);
    ck_store(st, mcp_store_purge(st, NOW, &n), APR_SUCCESS);
    ck_assert_int_eq(n.pending, 1);
    ck_store(st, mcp_store_purge(st, NOW, &n), APR_SUCCESS);
    ck_assert_int_eq(n.pending, 0);
    ck_store(st, mcp_store_pending_take(st, tp, "old", NOW - 200, &got), MCP_ENOTFOUND);
    ck_store(st, mcp_store_pending_take(st, tp, "live", NOW, &got), APR_SUCCESS);

    /* Refused before the database is touched. */
    a = pending("x");
    a.expires_at = NOW;
    ck_store(st, mcp_store_pending_put(st, &a), MCP_EINVALID);
    a.expires_at = NOW + MCP_STORE_PENDING_MAX_LIFETIME + 1;
    ck_store(st, mcp_store_pending_put(st, &a), MCP_EINVALID);
    a.expires_at = NOW + MCP_STORE_PENDING_MAX_LIFETIME;
    a.verifier_sealed = "";
    ck_store(st, mcp_store_pending_put(st, &a), MCP_EINVALID);
    a = pending("x");
    a.subject = NULL;
    ck_store(st, mcp_store_pending_put(st, &a), MCP_EINVALID);
    a = pending("x");
    a.provider = "";
    ck_store(st, mcp_store_pending_put(st, &a), MCP_EINVALID);
    a = pending("");
    ck_store(st, mcp_store_pending_put(st, &a), MCP_EINVALID);
    ck_store(st, mcp_store_pending_put(st, NULL), MCP_EINVALID);
    ck_store(st, mcp_store_pending_take(st, NULL, "x", NOW, &got), MCP_EINVALID);
    ck_store(st, mcp_store_pending_take(st, tp, "", NOW, &got), MCP_EINVALID);
    ck_store(st, mcp_store_pending_take(st, tp, NULL, NOW, &got), MCP_EINVALID);
    ck_store(st, mcp_store_pending_take(st, tp, "x", NOW, NULL), MCP_EINVALID);
}
END_TEST

START_TEST(upstream_pending_race)
{
    apr_pool_t *setup;
    mcp_store_t *st;
    mcp_store_pending_t a = pending("race-state"), *got;
    int results[RACERS];

    apr_pool_create(&setup, tp);
    st = ready_store_in(setup);
    ck_store(st, mcp_store_pending_put(st, &a), APR_SUCCESS);
    close_store(setup);
    race_one_winner(pending_race_worker, results);
    st = open_store(tp);
    ck_store(st, mcp_store_pending_take(st, tp, "race-state", NOW + 1, &got), MCP_ENOTFOUND);
}
END_TEST

START_TEST(purge)
{
    mcp_store_t *st = ready_store();
    mcp_store_client_t cl = client("c"), cimd = client("https://app.example/client.json");
    mcp_store_client_t *got;
    mcp_store_code_t c;
    mcp_store_refresh_t r;
    mcp_store_consent_t k;
    mcp_store_purge_t n;

    cimd.kind = "cimd";
    cimd.expires_at = NOW + 10;
    ck_store(st, mcp_store_client_put(st, &cl), APR_SUCCESS);
    ck_store(st, mcp_store_client_put(st, &cimd), APR_SUCCESS);
    c = code("old", "c"); c.created_at = NOW - 31; c.expires_at = NOW - 1;
    ck_store(st, mcp_store_code_put(st, &c), APR_SUCCESS);
    c = code("new", "c");
    ck_store(st, mcp_store_code_put(st, &c), APR_SUCCESS);
    r = refresh("old", "f"); r.expires_at = NOW - 1;
    ck_store(st, mcp_store_refresh_put(st, &r), APR_SUCCESS);
    r = refresh("new", "f");
    ck_store(st, mcp_store_refresh_put(st, &r), APR_SUCCESS);
    memset(&k, 0, sizeof(k));
    k.subject = "a"; k.client_id = "c"; k.resource = ""; k.scope = "mcp";
    k.granted_at = NOW - 100; k.expires_at = NOW - 1;
    ck_store(st, mcp_store_consent_put(st, &k), APR_SUCCESS);

    ck_store(st, mcp_store_revocation_put(st, "jti", "gone", NOW - 100, NOW - 1),
             APR_SUCCESS);
    ck_store(st, mcp_store_revocation_put(st, "jti", "kept", NOW - 100, NOW + 1),
             APR_SUCCESS);

    ck_store(st, mcp_store_purge(st, NOW, &n), APR_SUCCESS);
    ck_assert_int_eq(n.codes, 1);
    ck_assert_int_eq(n.refresh_tokens, 1);
    ck_assert_int_eq(n.consents, 1);
    ck_assert_int_eq(n.clients, 0);
    ck_assert_int_eq(n.revocations, 1);
    ck_store(st, mcp_store_purge(st, NOW + 11, &n), APR_SUCCESS);
    ck_assert_int_eq(n.clients, 1);
    ck_assert_int_eq(n.codes, 0);
    ck_assert_int_eq(n.revocations, 1);
    ck_store(st, mcp_store_purge(st, NOW + 11, NULL), APR_SUCCESS);

    /* A cached metadata document expires with its cache, but the client
     * stays while a refresh token of it lives (the next use refetches the
     * document); a registered client goes at its idle expiry. */
    cimd.expires_at = NOW + 10;
    ck_store(st, mcp_store_client_put(st, &cimd), APR_SUCCESS);
    r = refresh("cimd-live", "g");
    r.client_id = cimd.client_id;
    r.expires_at = NOW + 100;
    ck_store(st, mcp_store_refresh_put(st, &r), APR_SUCCESS);
    cl = client("dcr-idle");
    cl.kind = "dcr";
    cl.expires_at = NOW + 10;
    ck_store(st, mcp_store_client_put(st, &cl), APR_SUCCESS);
    r = refresh("dcr-live", "h");
    r.client_id = cl.client_id;
    r.expires_at = NOW + 100;
    ck_store(st, mcp_store_refresh_put(st, &r), APR_SUCCESS);
    ck_store(st, mcp_store_purge(st, NOW + 11, &n), APR_SUCCESS);
    ck_assert_int_eq(n.clients, 1);
    ck_store(st, mcp_store_client_get(st, tp, cimd.client_id, &got), APR_SUCCESS);
    ck_store(st, mcp_store_client_get(st, tp, "dcr-idle", &got), MCP_ENOTFOUND);
    ck_store(st, mcp_store_purge(st, NOW + 101, &n), APR_SUCCESS);
    ck_assert_int_eq(n.clients, 1);
    ck_store(st, mcp_store_client_get(st, tp, cimd.client_id, &got), MCP_ENOTFOUND);
}
END_TEST

/* Values that mean something to SQL, printf or a shell. */
static const char *odd_values[] = {
    "it's \"quoted\"",
    "100% %s %d %% $1 ? :x @y",
    "back\\slash \\\\ \\x00 \\n",
    "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e \xe4\xb8\xad\xe6\x96\x87 \xed\x95\x9c\xea\xb5\xad\xec\x96\xb4",
    "\xf0\x9f\x94\x91\xf0\x9f\x98\x80 \xe2\x80\x8b zero width, \xc3\xa9t\xc3\xa9",
    "tab\tnewline\nreturn\r end",
    "'; DROP TABLE mcp_clients; --",
    " leading and trailing spaces ",
};

/* ---- revocations of access tokens --------------------------------- */

/* Revocations are listed by this host's clock: times around it. */
static apr_int64_t real_now(void)
{
    return (apr_int64_t)apr_time_sec(apr_time_now());
}

static mcp_store_revocation_t *revocation_at(apr_array_header_t *list, int i)
{
    return APR_ARRAY_IDX(list, i, mcp_store_revocation_t *);
}

START_TEST(revocations)
{
    mcp_store_t *st = ready_store();
    apr_int64_t t = real_now() - 100;
    apr_array_header_t *list;
    mcp_store_revocation_t *r;

    ck_store(st, mcp_store_revocation_put(st, "subject", "alice", t + 1, t + 3600),
             APR_SUCCESS);
    ck_store(st, mcp_store_revocation_put(st, "jti", "j-1", t + 1, t + 600), APR_SUCCESS);
    ck_store(st, mcp_store_revocation_put(st, "client", "c-1", t, t + 3600), APR_SUCCESS);
    /* Expired long ago: never listed. */
    ck_store(st, mcp_store_revocation_put(st, "jti", "j-old", 1000, 2000), APR_SUCCESS);

    ck_store(st, mcp_store_revocation_since(st, tp, 0, &list), APR_SUCCESS);
    ck_assert_int_eq(list->nelts, 3);
    r = revocation_at(list, 0);
    ck_assert_str_eq(r->kind, "client");
    ck_assert_str_eq(r->value, "c-1");
    ck_assert_int_eq(r->created_at, t);
    ck_assert_int_eq(r->expires_at, t + 3600);
    ck_assert_str_eq(revocation_at(list, 1)->kind, "jti");
    ck_assert_str_eq(revocation_at(list, 2)->kind, "subject");
    ck_store(st, mcp_store_revocation_since(st, tp, t + 1, &list), APR_SUCCESS);
    ck_assert_int_eq(list->nelts, 2);
    ck_store(st, mcp_store_revocation_since(st, tp, t + 2, &list), APR_SUCCESS);
    ck_assert_int_eq(list->nelts, 0);

    /* Made again: created now, the later expiry kept. */
    ck_store(st, mcp_store_revocation_put(st, "client", "c-1", t + 5, t + 1800), APR_SUCCESS);
    ck_store(st, mcp_store_revocation_since(st, tp, t + 2, &list), APR_SUCCESS);
    ck_assert_int_eq(list->nelts, 1);
    r = revocation_at(list, 0);
    ck_assert_int_eq(r->created_at, t + 5);
    ck_assert_int_eq(r->expires_at, t + 3600);
    ck_store(st, mcp_store_revocation_put(st, "client", "c-1", t + 6, t + 7200), APR_SUCCESS);
    ck_store(st, mcp_store_revocation_since(st, tp, t + 6, &list), APR_SUCCESS);
    ck_assert_int_eq(list->nelts, 1);
    ck_assert_int_eq(revocation_at(list, 0)->expires_at, t + 7200);
    /* The same value under another kind is another revocation. */
    ck_store(st, mcp_store_revocation_put(st, "subject", "c-1", t + 7, t + 600), APR_SUCCESS);
    ck_store(st, mcp_store_revocation_since(st, tp, t + 6, &list), APR_SUCCESS);
    ck_assert_int_eq(list->nelts, 2);

    /* Refused cleanly. */
    ck_store(st, mcp_store_revocation_put(st, "user", "alice", t, t + 60), MCP_EINVALID);
    ck_store(st, mcp_store_revocation_put(st, "'; DROP TABLE mcp_clients; --", "x", t,
                                          t + 60), MCP_EINVALID);
    ck_store(st, mcp_store_revocation_put(st, "JTI", "x", t, t + 60), MCP_EINVALID);
    ck_store(st, mcp_store_revocation_put(st, "jti", "", t, t + 60), MCP_EINVALID);
    ck_store(st, mcp_store_revocation_put(st, "jti", NULL, t, t + 60), MCP_EINVALID);
    ck_store(st, mcp_store_revocation_put(st, "jti", "x", t, t), MCP_EINVALID);
    ck_store(st, mcp_store_revocation_since(st, tp, 0, &list), APR_SUCCESS);
    ck_assert_int_eq(list->nelts, 4);
}
END_TEST

START_TEST(odd_values_new_functions)
{
    /* Every text parameter of the redeem, rotation, revocation, consent
     * and touch functions takes SQL metacharacters, quotes, percent signs
     * and non-ASCII as plain values. */
    mcp_store_t *st = ready_store();
    apr_array_header_t *list;
    apr_size_t i, nodd = sizeof(odd_values) / sizeof(odd_values[0]);
    int n;

    for (i = 0; i < nodd; i++) {
        const char *v = odd_values[i];
        const char *id = apr_psprintf(tp, "%s#%d", v, (int)i);
        const char *fam = apr_pstrcat(tp, v, " family", NULL);
        mcp_store_client_t c = client(id), *gc;
        mcp_store_code_t k = code(apr_pstrcat(tp, "code ", id, NULL), id), *gk;
        mcp_store_refresh_t r = refresh(apr_pstrcat(tp, "rt ", id, NULL), fam), *gr;
        mcp_store_refresh_t next = next_token(apr_pstrcat(tp, "rt2 ", id, NULL));
        mcp_store_refresh_outcome_e out;
        mcp_store_consent_t *gn;
        int j, seen = 0;

        c.expires_at = NOW + 10;
        ck_store(st, mcp_store_client_put(st, &c), APR_SUCCESS);
        ck_store(st, mcp_store_client_touch(st, id, NOW + 20), APR_SUCCESS);
        ck_store(st, mcp_store_client_get(st, tp, id, &gc), APR_SUCCESS);
        ck_assert_int_eq(gc->expires_at, NOW + 20);

        k.subject = v;
        ck_store(st, mcp_store_code_put(st, &k), APR_SUCCESS);
        ck_store(st, mcp_store_code_get(st, tp, k.code_hash, &gk), APR_SUCCESS);
        ck_assert_str_eq(gk->subject, v);
        r.client_id = id; r.subject = v; r.resource = v; r.scope = v;
        ck_store(st, mcp_store_code_redeem(st, tp, k.code_hash, NOW, fam, v, &r, &gk, NULL),
                 APR_SUCCESS);
        ck_assert_str_eq(gk->issued_jti, v);
        ck_assert_str_eq(gk->issued_family, fam);

        next.resource = v;
        next.scope = v;
        ck_store(st, mcp_store_refresh_rotate(st, tp, r.token_hash, id, &next, NOW, 5, &out,
                                              &gr), APR_SUCCESS);
        ck_assert_int_eq(out, MCP_REFRESH_ROTATED);
        next.token_hash = apr_pstrcat(tp, "rt3 ", id, NULL);
        ck_store(st, mcp_store_refresh_rotate(st, tp, r.token_hash, id, &next, NOW + 1, 5,
                                              &out, &gr), APR_SUCCESS);
        ck_assert_int_eq(out, MCP_REFRESH_REUSED_IN_GRACE);
        ck_store(st, mcp_store_refresh_get(st, tp, next.token_hash, &gr), APR_SUCCESS);
        ck_assert_str_eq(gr->resource, v);
        ck_assert_str_eq(gr->subject, v);
        ck_assert_str_eq(gr->client_id, id);
        ck_assert_str_eq(gr->family_id, fam);
        ck_store(st, mcp_store_refresh_count(st, id, v, NOW + 1, &n), APR_SUCCESS);
        ck_assert_int_eq(n, 2);
        ck_store(st, mcp_store_refresh_count(st, NULL, v, NOW + 1, &n), APR_SUCCESS);
        ck_assert_int_eq(n, 2);

        put_consent(st, v, id, v, NOW + 100);
        ck_store(st, mcp_store_consent_list(st, tp, v, &list), APR_SUCCESS);
        ck_assert_int_eq(list->nelts, 1);
        gn = APR_ARRAY_IDX(list, 0, mcp_store_consent_t *);
        ck_assert_str_eq(gn->resource, v);
        ck_assert_str_eq(gn->client_id, id);
        ck_store(st, mcp_store_consent_revoke(st, v, id, &n), APR_SUCCESS);
        ck_assert_int_eq(n, 1);

        ck_store(st, mcp_store_refresh_revoke(st, next.token_hash, "other", NOW, &n),
                 MCP_ENOTFOUND);
        ck_store(st, mcp_store_refresh_revoke_user(st, v, id, NOW + 2, &n), APR_SUCCESS);
        ck_assert_int_eq(n, 3);
        ck_store(st, mcp_store_refresh_revoke(st, next.token_hash, id, NOW, &n), APR_SUCCESS);
        ck_assert_int_eq(n, 0);
        ck_store(st, mcp_store_refresh_count(st, id, NULL, NOW + 1, &n), APR_SUCCESS);
        ck_assert_int_eq(n, 0);
        /* A replay of the code names the jti as given. */
        ck_store(st, mcp_store_code_redeem(st, tp, k.code_hash, NOW + 1, NULL, "j", NULL,
                                           &gk, NULL), MCP_ECONFLICT);
        ck_assert_str_eq(gk->issued_jti, v);

        ck_store(st, mcp_store_revocation_put(st, "jti", v, real_now(), real_now() + 60),
                 APR_SUCCESS);
        ck_store(st, mcp_store_revocation_put(st, "client", id, real_now(), real_now() + 60),
                 APR_SUCCESS);
        ck_store(st, mcp_store_revocation_put(st, v, id, real_now(), real_now() + 60),
                 MCP_EINVALID);
        ck_store(st, mcp_store_revocation_since(st, tp, 0, &list), APR_SUCCESS);
        for (j = 0; j < list->nelts; j++) {
            mcp_store_revocation_t *rv = revocation_at(list, j);
            seen += (!strcmp(rv->kind, "jti") && !strcmp(rv->value, v))
                    + (!strcmp(rv->kind, "client") && !strcmp(rv->value, id));
        }
        ck_assert_int_eq(seen, 2);
    }
    /* Nothing was taken for SQL: every table is there, every row. */
    ck_store(st, mcp_store_client_list(st, tp, &list), APR_SUCCESS);
    ck_assert_int_eq(list->nelts, (int)nodd);
    ck_store(st, mcp_store_revocation_since(st, tp, 0, &list), APR_SUCCESS);
    ck_assert_int_eq(list->nelts, 2 * (int)nodd);
}
END_TEST

/* @n characters that do not compress (so that no database can index them
 * by compressing them first). */
static char *incompressible(apr_size_t n)
{
    static const char set[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                              "0123456789-_'%";
    char *s = apr_palloc(tp, n + 1);
    apr_uint32_t x = 2463534242u;
    apr_size_t i;

    for (i = 0; i < n; i++) {
        x ^= x << 13; x ^= x >> 17; x ^= x << 5;
        s[i] = set[x % (sizeof(set) - 1)];
    }
    s[n] = '\0';
    return s;
}

/* A status for a value too long for an index: stored, or refused as a
 * database failure with a one-line message that does not repeat it. */
static int stored_or_refused(mcp_store_t *st, apr_status_t rv, const char *value)
{
    if (rv == APR_SUCCESS) {
        return 1;
    }
    ck_assert_msg(rv == MCP_ESTORE, "status %d: %s", rv, mcp_store_error(st));
    ck_assert_ptr_null(strchr(mcp_store_error(st), '\n'));
    ck_assert_ptr_null(strstr(mcp_store_error(st), apr_pstrndup(tp, value, 32)));
    return 0;
}

START_TEST(long_values_new_functions)
{
    /* 64 KiB in every text parameter: lookups find nothing, values kept
     * in unindexed columns round-trip, and where a database cannot index
     * that much (PostgreSQL's btree rows are at most ~2.7 KB) the write is
     * refused cleanly and changes nothing. */
    mcp_store_t *st = ready_store();
    const char *big = incompressible(64 * 1024);
    mcp_store_client_t cl = client("c");
    mcp_store_code_t k = code("k", "c"), *gk;
    mcp_store_refresh_t r = refresh("r", "f"), next = next_token(big), *gr;
    mcp_store_refresh_outcome_e out;
    apr_array_header_t *list;
    int n = -1;

    ck_store(st, mcp_store_client_put(st, &cl), APR_SUCCESS);
    ck_store(st, mcp_store_code_get(st, tp, big, &gk), MCP_ENOTFOUND);
    ck_store(st, mcp_store_code_redeem(st, tp, big, NOW, big, big, NULL, &gk, NULL),
             MCP_ENOTFOUND);
    ck_store(st, mcp_store_client_touch(st, big, NOW), MCP_ENOTFOUND);
    ck_store(st, mcp_store_refresh_rotate(st, tp, big, big, &next, NOW, 5, &out, &gr),
             MCP_ENOTFOUND);
    ck_store(st, mcp_store_refresh_revoke(st, big, big, NOW, &n), MCP_ENOTFOUND);
    ck_store(st, mcp_store_refresh_revoke_user(st, big, big, NOW, &n), APR_SUCCESS);
    ck_assert_int_eq(n, 0);
    ck_store(st, mcp_store_refresh_revoke_family(st, big, NOW, &n), APR_SUCCESS);
    ck_store(st, mcp_store_refresh_count(st, big, big, NOW, &n), APR_SUCCESS);
    ck_assert_int_eq(n, 0);
    ck_store(st, mcp_store_consent_list(st, tp, big, &list), APR_SUCCESS);
    ck_assert_int_eq(list->nelts, 0);
    ck_store(st, mcp_store_consent_revoke(st, big, big, &n), APR_SUCCESS);
    ck_assert_int_eq(n, 0);

    /* Unindexed: the jti and family recorded for a code, a successor's
     * resource and scope. */
    ck_store(st, mcp_store_code_put(st, &k), APR_SUCCESS);
    ck_store(st, mcp_store_code_redeem(st, tp, "k", NOW, big, big, NULL, &gk, NULL),
             APR_SUCCESS);
    ck_store(st, mcp_store_code_get(st, tp, "k", &gk), APR_SUCCESS);
    ck_assert(!strcmp(gk->issued_jti, big));
    ck_assert(!strcmp(gk->issued_family, big));
    ck_store(st, mcp_store_refresh_put(st, &r), APR_SUCCESS);
    next = next_token("r2");
    next.resource = next.scope = big;
    ck_store(st, mcp_store_refresh_rotate(st, tp, "r", "c", &next, NOW, 5, &out, &gr),
             APR_SUCCESS);
    ck_store(st, mcp_store_refresh_get(st, tp, "r2", &gr), APR_SUCCESS);
    ck_assert(!strcmp(gr->resource, big));
    ck_assert(!strcmp(gr->scope, big));

    /* Indexed: a successor's hash, a revocation's value. */
    next = next_token(big);
    if (stored_or_refused(st, mcp_store_refresh_rotate(st, tp, "r2", "c", &next, NOW, 5,
                                                       &out, &gr), big)) {
        ck_store(st, mcp_store_refresh_get(st, tp, big, &gr), APR_SUCCESS);
        ck_assert_str_eq(gr->family_id, "f");
    }
    else {
        ck_live(st, "r2", 1);
    }
    if (stored_or_refused(st, mcp_store_revocation_put(st, "jti", big, real_now(),
                                                       real_now() + 60), big)) {
        ck_store(st, mcp_store_revocation_since(st, tp, 0, &list), APR_SUCCESS);
        ck_assert_int_eq(list->nelts, 1);
        ck_assert(!strcmp(revocation_at(list, 0)->value, big));
    }
    if (!strcmp(backend, "sqlite3")) {
        /* SQLite indexes anything: all of it was stored. */
        ck_store(st, mcp_store_refresh_get(st, tp, big, &gr), APR_SUCCESS);
    }
}
END_TEST

/* ---- concurrency on one SQLite file ------------------------------- */

#define WRITES_PER_WORKER 100

static int write_many(int index)
{
    apr_pool_t *p;
    mcp_store_t *cst;
    const char *err = NULL;
    int j, rc = 0;

    apr_pool_create(&p, NULL);
    if (mcp_store_open(&cst, p, backend, params, &err) != APR_SUCCESS) {
        return 3;
    }
    for (j = 0; j < WRITES_PER_WORKER && !rc; j++) {
        mcp_store_upstream_t u;

        memset(&u, 0, sizeof(u));
        u.subject = "writer";
        u.provider = apr_psprintf(p, "p%d-%03d", index, j);
        u.sealed = "v1.k.AAAA";
        u.key_id = "k";
        u.created_at = u.updated_at = NOW;
        if (mcp_store_upstream_put(cst, &u) != APR_SUCCESS) {
            fprintf(stderr, "writer %d: %s\n", index, mcp_store_error(cst));
            rc = 1;
        }
    }
    apr_pool_destroy(p);
    return rc;
}

START_TEST(sqlite_concurrent_writers)
{
    /* Four processes (as four httpd children would) write to one WAL
     * database at once: the busy timeout lets every write through. */
    int i, results[4];
    apr_array_header_t *list;
    apr_pool_t *setup;
    mcp_store_t *st;
    apr_time_t start;

    apr_pool_create(&setup, tp);
    ready_store_in(setup);
    close_store(setup);
    start = apr_time_now();
    run_workers(4, write_many, results);
    st = open_store(tp);
    for (i = 0; i < 4; i++) {
        ck_assert_msg(results[i] == 0, "writer %d failed (%d)", i, results[i]);
    }
    ck_assert_int_lt(apr_time_now() - start, apr_time_from_sec(60));
    ck_store(st, mcp_store_upstream_list(st, tp, "writer", &list), APR_SUCCESS);
    ck_assert_int_eq(list->nelts, 4 * WRITES_PER_WORKER);
}
END_TEST

/* The permission bits of @path, or -1 when it does not exist. */
static int file_mode(const char *path)
{
    struct stat sb;

    return stat(path, &sb) == 0 ? (int)(sb.st_mode & 07777) : -1;
}

/* Count the captured log lines with @tag and @text. */
static int logged_with(const char *tag, const char *text)
{
    int i, n = 0;

    for (i = 0; i < logged->nelts; i++) {
        const char *line = APR_ARRAY_IDX(logged, i, const char *);
        n += strstr(line, tag) && strstr(line, text);
    }
    return n;
}

START_TEST(sqlite_file_mode)
{
    /* A new database is 0600 whatever the umask, and so are the -wal and
     * -shm files SQLite makes next to it. */
    mode_t old = umask(0);
    mcp_store_t *st;
    mcp_store_client_t c = client("c");
    const char *other = apr_pstrcat(tp, params, "-existing.db", NULL);
    int fd;

    st = ready_store();
    ck_store(st, mcp_store_client_put(st, &c), APR_SUCCESS);
    ck_assert_int_eq(file_mode(params), 0600);
    ck_assert_int_eq(file_mode(apr_pstrcat(tp, params, "-wal", NULL)), 0600);
    ck_assert_int_eq(file_mode(apr_pstrcat(tp, params, "-shm", NULL)), 0600);

    /* An existing database keeps its mode; one that other users may read
     * gets a warning that names it. */
    fd = open(other, O_WRONLY | O_CREAT | O_EXCL, 0644);
    ck_assert_int_ge(fd, 0);
    close(fd);
    capture_logs();
    params = other;
    open_store(tp);
    release_logs();
    ck_assert_int_eq(logged_with("MCP01051", other), 1);
    ck_assert_int_eq(logged_with("MCP01051", "mode 0644"), 1);
    ck_assert_int_eq(file_mode(other), 0644);
    /* Group access is a choice: no warning. */
    ck_assert_int_eq(chmod(other, 0660), 0);
    capture_logs();
    open_store(tp);
    release_logs();
    ck_assert_int_eq(logged_with("MCP01051", ""), 0);
    umask(old);
}
END_TEST

START_TEST(open_errors)
{
    mcp_store_t *st;
    const char *err = NULL;

    ck_assert_int_eq(mcp_store_open(&st, tp, "nosuchdriver", "x", &err), MCP_EINVALID);
    ck_assert_ptr_nonnull(strstr(err, "nosuchdriver"));
    ck_assert_int_eq(mcp_store_open(&st, tp, "sqlite3", "/nonexistent/dir/x.db", &err),
                     MCP_ESTORE);
    ck_assert_ptr_nonnull(err);
    ck_assert_int_eq(mcp_store_open(&st, tp, "pgsql",
                                    "host=127.0.0.1 port=1 dbname=x connect_timeout=2", &err),
                     MCP_ESTORE);
    ck_assert_ptr_nonnull(strstr(err, "pgsql"));
}
END_TEST

/* ---- schema: older, damaged, changed under a live connection ------ */

/* Undo migration 3 by hand (after migrations 5 and 4). */
static void downgrade_migration3(mcp_store_t *st)
{
    ck_store(st, mcp_store_exec(st, "DROP TABLE mcp_revocations"), APR_SUCCESS);
    ck_store(st, mcp_store_exec(st, "ALTER TABLE mcp_auth_codes DROP COLUMN issued_jti"),
             APR_SUCCESS);
    ck_store(st, mcp_store_exec(st, "ALTER TABLE mcp_clients DROP COLUMN disabled_at"),
             APR_SUCCESS);
    ck_store(st, mcp_store_exec(st, "DELETE FROM mcp_schema_version WHERE version = 3"),
             APR_SUCCESS);
}

/* Undo migration 4 by hand (after migration 5). */
static void downgrade_migration4(mcp_store_t *st)
{
    static const char *const cols[] = {
        "version", "refresh_expires_at", "lease_holder", "lease_until"
    };
    apr_size_t i;

    ck_store(st, mcp_store_exec(st, "DROP TABLE mcp_upstream_pending"), APR_SUCCESS);
    for (i = 0; i < sizeof(cols) / sizeof(cols[0]); i++) {
        ck_store(st, mcp_store_exec(st, apr_psprintf(tp, "ALTER TABLE mcp_upstream_tokens "
                                                     "DROP COLUMN %s", cols[i])),
                 APR_SUCCESS);
    }
    ck_store(st, mcp_store_exec(st, "DELETE FROM mcp_schema_version WHERE version = 4"),
             APR_SUCCESS);
}

/* Undo the last migration (0005) by hand: what a database of the
 * previous release looks like. */
static void downgrade_one(mcp_store_t *st)
{
    /* This undoes migration 5: a new migration needs its own undo here. */
    ck_assert_int_eq(mcp_store_schema_latest(), 5);
    ck_store(st, mcp_store_exec(st, "ALTER TABLE mcp_upstream_tokens DROP COLUMN "
                                "last_used_at"), APR_SUCCESS);
    ck_store(st, mcp_store_exec(st, "DELETE FROM mcp_schema_version WHERE version = 5"),
             APR_SUCCESS);
}

/* How many of migration 3's objects exist: its table and two columns. */
static int count_migration3(mcp_store_t *st)
{
    const char *n = query1(st, !strcmp(backend, "sqlite3")
        ? "SELECT (SELECT count(*) FROM sqlite_master WHERE type = 'table' AND "
          "name = 'mcp_revocations') + (SELECT count(*) FROM "
          "pragma_table_info('mcp_auth_codes') WHERE name = 'issued_jti') + "
          "(SELECT count(*) FROM pragma_table_info('mcp_clients') WHERE name = "
          "'disabled_at')"
        : "SELECT (SELECT count(*) FROM information_schema.tables WHERE "
          "table_schema = current_schema() AND table_name = 'mcp_revocations') + "
          "(SELECT count(*) FROM information_schema.columns WHERE table_schema = "
          "current_schema() AND ((table_name = 'mcp_auth_codes' AND column_name = "
          "'issued_jti') OR (table_name = 'mcp_clients' AND column_name = "
          "'disabled_at')))");

    return n ? atoi(n) : -1;
}

/* How many of migration 4's objects exist: its table and four columns. */
static int count_migration4(mcp_store_t *st)
{
    const char *n = query1(st, !strcmp(backend, "sqlite3")
        ? "SELECT (SELECT count(*) FROM sqlite_master WHERE type = 'table' AND "
          "name = 'mcp_upstream_pending') + (SELECT count(*) FROM "
          "pragma_table_info('mcp_upstream_tokens') WHERE name IN ('version', "
          "'refresh_expires_at', 'lease_holder', 'lease_until'))"
        : "SELECT (SELECT count(*) FROM information_schema.tables WHERE "
          "table_schema = current_schema() AND table_name = 'mcp_upstream_pending') + "
          "(SELECT count(*) FROM information_schema.columns WHERE table_schema = "
          "current_schema() AND table_name = 'mcp_upstream_tokens' AND column_name "
          "IN ('version', 'refresh_expires_at', 'lease_holder', 'lease_until'))");

    return n ? atoi(n) : -1;
}

/* How many of migration 5's objects exist: its column. */
static int count_migration5(mcp_store_t *st)
{
    const char *n = query1(st, !strcmp(backend, "sqlite3")
        ? "SELECT count(*) FROM pragma_table_info('mcp_upstream_tokens') WHERE "
          "name = 'last_used_at'"
        : "SELECT count(*) FROM information_schema.columns WHERE table_schema = "
          "current_schema() AND table_name = 'mcp_upstream_tokens' AND "
          "column_name = 'last_used_at'");

    return n ? atoi(n) : -1;
}

START_TEST(schema_previous_version)
{
    mcp_store_t *st = ready_store();
    mcp_store_client_t c = client("c"), *got;
    mcp_store_schema_t s;
    int latest = mcp_store_schema_latest(), from = -1, to = -1;

    mcp_store_upstream_t u, *gu;

    ck_assert_int_eq(latest, 5);
    ck_store(st, mcp_store_client_put(st, &c), APR_SUCCESS);
    ck_assert_int_eq(count_migration5(st), 1);
    downgrade_one(st);
    ck_assert_int_eq(count_migration5(st), 0);
    ck_assert_int_eq(count_migration4(st), 5);
    /* A link stored by the previous release, refreshed once. */
    ck_store(st, mcp_store_exec(st, "INSERT INTO mcp_upstream_tokens (subject, provider, "
                                "sealed, key_id, created_at, updated_at, version) VALUES "
                                "('alice', 'github', 'v1.k1.OLD', 'k1', 1, 2, 2)"),
             APR_SUCCESS);

    st = open_store(tp);
    ck_store(st, mcp_store_schema_status(st, &s), APR_SUCCESS);
    ck_assert(s.initialized);
    ck_assert_int_eq(s.version, latest - 1);
    ck_store(st, mcp_store_schema_check(st), MCP_ESCHEMA);
    ck_assert_ptr_nonnull(strstr(mcp_store_error(st), "mcpctl db upgrade"));
    ck_assert_ptr_nonnull(strstr(mcp_store_error(st),
                                 apr_psprintf(tp, "version %d, this build needs %d",
                                              latest - 1, latest)));
    /* The storage functions refuse an old schema too, with the same word. */
    ck_store(st, mcp_store_client_get(st, tp, "c", &got), MCP_ESCHEMA);
    ck_assert_ptr_nonnull(strstr(mcp_store_error(st), "mcpctl db upgrade"));

    ck_store(st, mcp_store_schema_upgrade(st, &from, &to), APR_SUCCESS);
    ck_assert_int_eq(from, latest - 1);
    ck_assert_int_eq(to, latest);
    ck_assert_int_eq(count_migration5(st), 1);
    /* The data survived the upgrade; the same connection works now. */
    ck_store(st, mcp_store_client_get(st, tp, "c", &got), APR_SUCCESS);
    ck_assert_str_eq(got->client_name, "Test client");
    /* An old link keeps its version and reads as never used; it can be
     * used and refreshed. */
    ck_store(st, mcp_store_upstream_get(st, tp, "alice", "github", &gu), APR_SUCCESS);
    ck_assert_int_eq(gu->version, 2);
    ck_assert_int_eq(gu->last_used_at, 0);
    ck_assert_ptr_null(gu->lease_holder);
    ck_store(st, mcp_store_upstream_touch(st, "alice", "github", NOW, NULL), APR_SUCCESS);
    u = *gu;
    u.sealed = "v1.k1.NEW";
    ck_store(st, mcp_store_upstream_update_cas(st, &u, 2), APR_SUCCESS);
    ck_store(st, mcp_store_upstream_get(st, tp, "alice", "github", &gu), APR_SUCCESS);
    ck_assert_int_eq(gu->last_used_at, NOW);
    ck_assert_int_eq(gu->version, 3);
}
END_TEST

START_TEST(schema_damaged)
{
    mcp_store_t *st = ready_store();
    mcp_store_consent_t k, *got;
    int before;

    /* The version row says "current" but a table is gone: the statements
     * do not prepare, and the store says it is the schema, not the
     * connection. */
    ck_store(st, mcp_store_exec(st, "DROP TABLE mcp_consents"), APR_SUCCESS);
    st = open_store(tp);
    before = (int)apr_hash_count(st->prepared);
    memset(&k, 0, sizeof(k));
    k.subject = "a"; k.client_id = "c"; k.resource = ""; k.scope = "mcp";
    k.granted_at = NOW; k.expires_at = NOW + 10;
    capture_logs();
    ck_store(st, mcp_store_consent_put(st, &k), MCP_ESCHEMA);
    release_logs();
    ck_assert_int_eq(logged->nelts, 1);
    ck_assert_ptr_nonnull(strstr(APR_ARRAY_IDX(logged, 0, const char *), "MCP00400"));
    ck_assert_ptr_null(strchr(mcp_store_error(st), '\n'));
    ck_assert_ptr_nonnull(strstr(mcp_store_error(st), "mcp_consent"));
    ck_assert_ptr_nonnull(strstr(mcp_store_error(st), "mcpctl db upgrade"));
    /* No "ready" marker was left: the next call tries again. */
    ck_assert_ptr_null(apr_hash_get(st->prepared, "mcp_store_ready", APR_HASH_KEY_STRING));
    capture_logs();
    ck_store(st, mcp_store_consent_get(st, tp, "a", "c", "", NOW, &got), MCP_ESCHEMA);
    release_logs();
    ck_assert_int_ge(apr_hash_count(st->prepared), before);
}
END_TEST

START_TEST(schema_damaged_migration3)
{
    /* Version 3 (or 4, 5) recorded but one of its objects gone: the store says it is
     * the schema, naming a statement on it and what to run. */
    static const char *const damage[][2] = {
        { "DROP TABLE mcp_revocations", "mcp_revocation" },
        { "ALTER TABLE mcp_auth_codes DROP COLUMN issued_jti", "mcp_code" },
        { "ALTER TABLE mcp_clients DROP COLUMN disabled_at", "mcp_client" },
        /* and migration 4's */
        { "DROP TABLE mcp_upstream_pending", "mcp_pending" },
        { "ALTER TABLE mcp_upstream_tokens DROP COLUMN version", "mcp_upstream" },
        { "ALTER TABLE mcp_upstream_tokens DROP COLUMN lease_until", "mcp_upstream" },
        /* and migration 5's */
        { "ALTER TABLE mcp_upstream_tokens DROP COLUMN last_used_at", "mcp_upstream" },
    };
    apr_size_t i;

    for (i = 0; i < sizeof(damage) / sizeof(damage[0]); i++) {
        mcp_store_t *st;
        mcp_store_client_t *got;

        drop_db();
        fresh_db();
        st = ready_store();
        ck_store(st, mcp_store_exec(st, damage[i][0]), APR_SUCCESS);
        st = open_store(tp);
        capture_logs();
        ck_store(st, mcp_store_client_get(st, tp, "c", &got), MCP_ESCHEMA);
        release_logs();
        ck_assert_msg(strstr(mcp_store_error(st), damage[i][1]) != NULL, "%s: %s",
                      damage[i][0], mcp_store_error(st));
        ck_assert_ptr_nonnull(strstr(mcp_store_error(st),
                                     apr_psprintf(tp, "schema version %d",
                                                  mcp_store_schema_latest())));
        ck_assert_ptr_nonnull(strstr(mcp_store_error(st), "mcpctl db upgrade"));
        ck_assert_ptr_null(strchr(mcp_store_error(st), '\n'));
    }
}
END_TEST

START_TEST(schema_partial_migration3)
{
    /* A version 2 database where someone created migration 3's table by
     * hand: the schema is refused as old, the upgrade fails naming the
     * migration, and its transaction leaves nothing half-applied (the
     * columns it added before the failure are gone again). */
    mcp_store_t *st = ready_store();
    mcp_store_schema_t s;
    mcp_store_client_t c = client("c"), *got;
    int from = -1, to = -1;

    downgrade_one(st);
    downgrade_migration4(st);
    downgrade_migration3(st);
    ck_store(st, mcp_store_exec(st, "CREATE TABLE mcp_revocations (kind TEXT)"),
             APR_SUCCESS);
    st = open_store(tp);
    ck_store(st, mcp_store_schema_check(st), MCP_ESCHEMA);
    ck_assert_ptr_nonnull(strstr(mcp_store_error(st), "version 2, this build needs 5"));
    ck_assert_int_ne(mcp_store_schema_upgrade(st, &from, &to), APR_SUCCESS);
    ck_assert_ptr_nonnull(strstr(mcp_store_error(st), "migration 0003_revocations.sql"));
    ck_assert_int_eq(from, 2);
    ck_assert_int_eq(to, 2);
    ck_store(st, mcp_store_schema_status(st, &s), APR_SUCCESS);
    ck_assert_int_eq(s.version, 2);
    ck_assert_int_eq(count_migration3(st), 1);      /* the stray table only */
    ck_store(st, mcp_store_client_get(st, tp, "c", &got), MCP_ESCHEMA);
    /* Cleared up, the upgrade goes through. */
    ck_store(st, mcp_store_exec(st, "DROP TABLE mcp_revocations"), APR_SUCCESS);
    ck_store(st, mcp_store_schema_upgrade(st, &from, &to), APR_SUCCESS);
    ck_assert_int_eq(to, 5);
    ck_assert_int_eq(count_migration3(st), 3);
    ck_assert_int_eq(count_migration4(st), 5);
    ck_assert_int_eq(count_migration5(st), 1);
    ck_store(st, mcp_store_client_put(st, &c), APR_SUCCESS);
}
END_TEST

START_TEST(schema_changed_under_connection)
{
    /* A connection with its statements prepared keeps working after
     * another one changed the schema (mcpctl db upgrade while httpd
     * runs): SQLite's legacy statements fail once and are prepared
     * again; PostgreSQL re-plans by itself. */
    mcp_store_t *a = ready_store(), *b;
    mcp_store_client_t c = client("c1"), *got;
    int from, to;

    ck_store(a, mcp_store_client_put(a, &c), APR_SUCCESS);
    b = open_store(tp);
    downgrade_one(b);
    ck_store(b, mcp_store_schema_upgrade(b, &from, &to), APR_SUCCESS);
    ck_assert_int_eq(to, mcp_store_schema_latest());
    ck_store(b, mcp_store_exec(b, "CREATE TABLE mcp_test_extra (x INTEGER)"), APR_SUCCESS);

    ck_store(a, mcp_store_client_get(a, tp, "c1", &got), APR_SUCCESS);
    c = client("c2");
    ck_store(a, mcp_store_client_put(a, &c), APR_SUCCESS);
    ck_store(b, mcp_store_exec(b, "DROP TABLE mcp_test_extra"), APR_SUCCESS);
    ck_store(a, mcp_store_client_delete(a, "c1"), APR_SUCCESS);
    ck_store(b, mcp_store_client_get(b, tp, "c2", &got), APR_SUCCESS);
}
END_TEST

START_TEST(attach_missing_schema)
{
    /* mod_dbd's connection to a database without our schema: the status
     * check works, nothing is prepared, no marker is left, and once the
     * schema exists the same connection is used without a restart. */
    const apr_dbd_driver_t *driver;
    apr_dbd_t *handle;
    apr_hash_t *prepared;
    apr_pool_t *conn_pool, *req;
    mcp_store_t *st;
    mcp_store_schema_t s;
    mcp_store_client_t c = client("late"), *got;
    const char *err = NULL;

    apr_pool_create(&conn_pool, tp);
    apr_dbd_init(conn_pool);
    ck_assert_int_eq(apr_dbd_get_driver(conn_pool, backend, &driver), APR_SUCCESS);
    if (!strcmp(backend, "sqlite3")) {
        /* Create the (empty) file first, as an admin would. */
        open_store(tp);
    }
    ck_assert_int_eq(apr_dbd_open_ex(driver, conn_pool, params, &handle, &err), APR_SUCCESS);
    prepared = apr_hash_make(conn_pool);

    apr_pool_create(&req, conn_pool);
    ck_store(NULL, mcp_store_attach(&st, req, driver, handle, prepared, conn_pool),
             APR_SUCCESS);
    ck_store(st, mcp_store_schema_status(st, &s), APR_SUCCESS);
    ck_assert(!s.initialized);
    ck_store(st, mcp_store_schema_check(st), MCP_ESCHEMA);
    ck_assert_ptr_nonnull(strstr(mcp_store_error(st), "mcpctl db upgrade"));
    ck_store(st, mcp_store_client_get(st, req, "late", &got), MCP_ESCHEMA);
    ck_assert_ptr_nonnull(strstr(mcp_store_error(st), "mcpctl db upgrade"));
    ck_assert_uint_eq(apr_hash_count(prepared), 0);
    apr_pool_destroy(req);

    ready_store();          /* mcpctl db upgrade, on its own connection */

    apr_pool_create(&req, conn_pool);
    ck_store(NULL, mcp_store_attach(&st, req, driver, handle, prepared, conn_pool),
             APR_SUCCESS);
    ck_store(st, mcp_store_client_put(st, &c), APR_SUCCESS);
    ck_assert_ptr_nonnull(apr_hash_get(prepared, "mcp_store_ready", APR_HASH_KEY_STRING));
    ck_assert_ptr_nonnull(apr_hash_get(prepared, "mcp_client_get", APR_HASH_KEY_STRING));
    apr_pool_destroy(req);
    if (!strcmp(backend, "sqlite3")) {
        /* The PRAGMAs were applied to mod_dbd's connection too. */
        apr_pool_create(&req, conn_pool);
        mcp_store_attach(&st, req, driver, handle, prepared, conn_pool);
        ck_assert_str_eq(query1(st, "PRAGMA journal_mode"), "wal");
        ck_assert_str_eq(query1(st, "PRAGMA foreign_keys"), "1");
        ck_assert_str_eq(query1(st, "PRAGMA busy_timeout"), "5000");
        ck_assert_str_eq(query1(st, "PRAGMA synchronous"), "1");
        apr_pool_destroy(req);
    }
    apr_dbd_close(driver, handle);
}
END_TEST

/* ---- odd values in every text column ------------------------------ */

START_TEST(odd_values_everywhere)
{
    mcp_store_t *st = ready_store();
    apr_size_t i;

    for (i = 0; i < sizeof(odd_values) / sizeof(odd_values[0]); i++) {
        const char *v = odd_values[i];
        const char *id = apr_psprintf(tp, "%s#%d", v, (int)i);
        mcp_store_client_t c = client(id), *gc;
        mcp_store_code_t k = code(apr_pstrcat(tp, "code ", id, NULL), id), *gk;
        mcp_store_refresh_t r = refresh(apr_pstrcat(tp, "rt ", id, NULL), v), *gr;
        mcp_store_consent_t n, *gn;
        mcp_store_upstream_t u, *gu;

        c.client_name = v; c.token_endpoint_auth_method = v; c.grant_types = v;
        c.scope = v; c.metadata = v; c.secret_hash = v;
        APR_ARRAY_PUSH(c.redirect_uris, const char *) = v;
        ck_store(st, mcp_store_client_put(st, &c), APR_SUCCESS);
        ck_store(st, mcp_store_client_get(st, tp, id, &gc), APR_SUCCESS);
        ck_assert_str_eq(gc->client_id, id);
        ck_assert_str_eq(gc->client_name, v);
        ck_assert_str_eq(gc->secret_hash, v);
        ck_assert_str_eq(gc->metadata, v);
        ck_assert_int_eq(gc->redirect_uris->nelts, 3);

        k.redirect_uri = v; k.code_challenge = v; k.code_challenge_method = v;
        k.resource = v; k.scope = v; k.subject = v;
        ck_store(st, mcp_store_code_put(st, &k), APR_SUCCESS);
        ck_store(st, mcp_store_code_get(st, tp, k.code_hash, &gk), APR_SUCCESS);
        ck_assert_str_eq(gk->redirect_uri, v);
        ck_store(st, mcp_store_code_redeem(st, tp, k.code_hash, NOW, v, v, NULL, &gk, NULL),
                 APR_SUCCESS);
        ck_assert_str_eq(gk->issued_family, v);
        ck_assert_str_eq(gk->issued_jti, v);
        ck_assert_str_eq(gk->code_challenge, v);
        ck_assert_str_eq(gk->subject, v);
        ck_assert_str_eq(gk->client_id, id);

        r.client_id = id; r.subject = v; r.resource = v; r.scope = v;
        ck_store(st, mcp_store_refresh_put(st, &r), APR_SUCCESS);
        ck_store(st, mcp_store_refresh_get(st, tp, r.token_hash, &gr), APR_SUCCESS);
        ck_assert_str_eq(gr->family_id, v);
        ck_assert_str_eq(gr->subject, v);
        ck_assert_str_eq(gr->scope, v);
        ck_store(st, mcp_store_refresh_revoke_family(st, v, NOW, NULL), APR_SUCCESS);
        ck_store(st, mcp_store_refresh_get(st, tp, r.token_hash, &gr), APR_SUCCESS);
        ck_assert_int_eq(gr->revoked_at, NOW);

        memset(&n, 0, sizeof(n));
        n.subject = v; n.client_id = id; n.resource = v; n.scope = v;
        n.granted_at = NOW; n.expires_at = NOW + 10;
        ck_store(st, mcp_store_consent_put(st, &n), APR_SUCCESS);
        ck_store(st, mcp_store_consent_get(st, tp, v, id, v, NOW, &gn), APR_SUCCESS);
        ck_assert_str_eq(gn->scope, v);

        memset(&u, 0, sizeof(u));
        u.subject = v; u.provider = id; u.sealed = v; u.key_id = v; u.scope = v;
        u.created_at = u.updated_at = NOW;
        ck_store(st, mcp_store_upstream_put(st, &u), APR_SUCCESS);
        ck_store(st, mcp_store_upstream_get(st, tp, v, id, &gu), APR_SUCCESS);
        ck_assert_str_eq(gu->sealed, v);
        ck_assert_str_eq(gu->key_id, v);
        ck_store(st, mcp_store_upstream_lease(st, v, id, v, NOW, NOW + 5, NULL),
                 APR_SUCCESS);
        ck_store(st, mcp_store_upstream_lease(st, v, id, id, NOW, NOW + 5, NULL),
                 MCP_ECONFLICT);
        ck_store(st, mcp_store_upstream_update_cas(st, &u, 1), APR_SUCCESS);
        ck_store(st, mcp_store_upstream_get(st, tp, v, id, &gu), APR_SUCCESS);
        ck_assert_int_eq(gu->version, 2);
        ck_store(st, mcp_store_upstream_lease(st, v, id, id, NOW, NOW + 5, NULL),
                 APR_SUCCESS);
        ck_store(st, mcp_store_upstream_release(st, v, id, id), APR_SUCCESS);
        {
            mcp_store_pending_t a, *ga;

            memset(&a, 0, sizeof(a));
            a.state_hash = id; a.subject = v; a.provider = v; a.verifier_sealed = v;
            a.scope = v; a.return_to = v; a.created_at = NOW; a.expires_at = NOW + 60;
            ck_store(st, mcp_store_pending_put(st, &a), APR_SUCCESS);
            ck_store(st, mcp_store_pending_take(st, tp, id, NOW, &ga), APR_SUCCESS);
            ck_assert_str_eq(ga->subject, v);
            ck_assert_str_eq(ga->verifier_sealed, v);
            ck_assert_str_eq(ga->return_to, v);
            ck_store(st, mcp_store_pending_take(st, tp, id, NOW, &ga), MCP_ENOTFOUND);
        }
    }
    /* Nothing was taken for SQL: every table is still there, every row. */
    {
        apr_array_header_t *all;
        ck_store(st, mcp_store_client_list(st, tp, &all), APR_SUCCESS);
        ck_assert_int_eq(all->nelts, (int)(sizeof(odd_values) / sizeof(odd_values[0])));
    }
}
END_TEST

START_TEST(large_values)
{
    /* A 256 KiB metadata document and a 64 KiB sealed envelope. */
    mcp_store_t *st = ready_store();
    mcp_store_client_t c = client("big"), *got;
    mcp_store_upstream_t u, *gu;
    char *meta = apr_palloc(tp, 256 * 1024 + 1);
    unsigned char *raw = apr_palloc(tp, 48 * 1024);
    apr_size_t i;

    for (i = 0; i < 256 * 1024; i++) {
        meta[i] = (char)('a' + i % 26);
    }
    meta[256 * 1024] = '\0';
    for (i = 0; i < 48 * 1024; i++) {
        raw[i] = (unsigned char)(i * 7 + 1);
    }
    c.metadata = meta;
    ck_store(st, mcp_store_client_put(st, &c), APR_SUCCESS);
    ck_store(st, mcp_store_client_get(st, tp, "big", &got), APR_SUCCESS);
    ck_assert_uint_eq(strlen(got->metadata), 256 * 1024);
    ck_assert(!strcmp(got->metadata, meta));
    memset(&u, 0, sizeof(u));
    u.subject = "s"; u.provider = "p"; u.key_id = "k";
    u.sealed = mcp_b64url_encode(tp, raw, 48 * 1024);
    u.created_at = u.updated_at = NOW;
    ck_store(st, mcp_store_upstream_put(st, &u), APR_SUCCESS);
    ck_store(st, mcp_store_upstream_get(st, tp, "s", "p", &gu), APR_SUCCESS);
    ck_assert(!strcmp(gu->sealed, u.sealed));
}
END_TEST

/* ---- races between processes -------------------------------------- */

/* Each worker rotates "shared" with a successor of its own. Result: 0
 * rotated, 1 retry within the grace, 2 replay, 3 revoked (by a replay
 * before), else a failure. */
static int race_grace;

static int rotate_race(int index)
{
    apr_pool_t *p;
    mcp_store_t *cst;
    mcp_store_refresh_t next, *old;
    mcp_store_refresh_outcome_e out;
    const char *err = NULL;
    apr_status_t rv;

    apr_pool_create(&p, NULL);
    if (mcp_store_open(&cst, p, backend, params, &err) != APR_SUCCESS) {
        return 10;
    }
    memset(&next, 0, sizeof(next));
    next.token_hash = apr_psprintf(p, "next-%d", index);
    next.expires_at = NOW + 1000;
    rv = mcp_store_refresh_rotate(cst, p, "shared", "c", &next, NOW + 1, race_grace,
                                  &out, &old);
    if (rv != APR_SUCCESS && rv != MCP_ECONFLICT && rv != MCP_EINVALID) {
        fprintf(stderr, "# worker %d: %s\n", index, mcp_store_error(cst));
    }
    apr_pool_destroy(p);
    return rv == APR_SUCCESS && out == MCP_REFRESH_ROTATED ? 0
         : rv == APR_SUCCESS && out == MCP_REFRESH_REUSED_IN_GRACE ? 1
         : rv == MCP_ECONFLICT && out == MCP_REFRESH_REUSED ? 2
         : rv == MCP_EINVALID && out == MCP_REFRESH_REVOKED ? 3 : 4;
}

/* Race RACERS rotations of one token: counts[result] as above, and how
 * many successors were stored and are live. */
static void rotation_race(int grace, int *counts, int *stored, int *live)
{
    apr_pool_t *setup;
    mcp_store_t *st;
    mcp_store_client_t cl = client("c");
    mcp_store_refresh_t r = refresh("shared", "fam"), *got;
    int i, results[RACERS];

    apr_pool_create(&setup, tp);
    st = ready_store_in(setup);
    ck_store(st, mcp_store_client_put(st, &cl), APR_SUCCESS);
    ck_store(st, mcp_store_refresh_put(st, &r), APR_SUCCESS);
    close_store(setup);
    race_grace = grace;
    run_workers(RACERS, rotate_race, results);
    st = open_store(tp);
    memset(counts, 0, 4 * sizeof(int));
    *stored = *live = 0;
    for (i = 0; i < RACERS; i++) {
        ck_assert_msg(results[i] >= 0 && results[i] <= 3, "worker %d: %d", i, results[i]);
        counts[results[i]]++;
        if (mcp_store_refresh_get(st, tp, apr_psprintf(tp, "next-%d", i), &got)
            == APR_SUCCESS) {
            ck_assert_str_eq(got->family_id, "fam");
            (*stored)++;
            *live += !got->revoked_at && !got->rotated_at;
        }
    }
    ck_store(st, mcp_store_refresh_get(st, tp, "shared", &got), APR_SUCCESS);
    ck_assert_int_eq(got->rotated_at, NOW + 1);
    ck_assert_ptr_nonnull(got->replaced_by);
}

START_TEST(refresh_race)
{
    /* Several processes rotate one refresh token at once (a client
     * retrying in parallel): exactly one rotates it, the others are
     * retries within the grace and get usable successors too; the family
     * stays valid. */
    int counts[4], stored, live;

    rotation_race(30, counts, &stored, &live);
    ck_assert_int_eq(counts[0], 1);
    ck_assert_int_eq(counts[1], RACERS - 1);
    ck_assert_int_eq(stored, RACERS);
    ck_assert_int_eq(live, RACERS);
}
END_TEST

START_TEST(refresh_race_no_grace)
{
    /* Without a grace the same race is a replay: one rotation, then the
     * family (the winner's successor too) is revoked by the first replay;
     * who comes after that finds the token revoked. */
    int counts[4], stored, live;

    rotation_race(-1, counts, &stored, &live);
    ck_assert_int_eq(counts[0], 1);
    ck_assert_int_ge(counts[2], 1);
    ck_assert_int_eq(counts[2] + counts[3], RACERS - 1);
    ck_assert_int_eq(stored, 1);
    ck_assert_int_eq(live, 0);
}
END_TEST

static int client_put_race(int index)
{
    apr_pool_t *p;
    mcp_store_t *cst;
    mcp_store_client_t c;
    const char *err = NULL;
    apr_status_t rv;

    apr_pool_create(&p, NULL);
    if (mcp_store_open(&cst, p, backend, params, &err) != APR_SUCCESS) {
        return 10;
    }
    memset(&c, 0, sizeof(c));
    c.client_id = "contested";
    c.client_name = apr_psprintf(p, "racer %d", index);
    c.kind = "dcr";
    c.token_endpoint_auth_method = "none";
    c.grant_types = "authorization_code";
    c.created_at = c.updated_at = NOW;
    c.redirect_uris = apr_array_make(p, 1, sizeof(const char *));
    APR_ARRAY_PUSH(c.redirect_uris, const char *) = apr_psprintf(p, "https://r%d/cb", index);
    rv = mcp_store_client_put(cst, &c);
    apr_pool_destroy(p);
    return rv == APR_SUCCESS ? 0 : rv == MCP_ECONFLICT ? 1 : 2;
}

START_TEST(client_race)
{
    /* Registrations of one client_id at once: one is stored whole (its
     * own redirect URI only), the others get MCP_ECONFLICT. */
    apr_pool_t *setup;
    mcp_store_t *st;
    mcp_store_client_t *got;
    int i, wins = 0, conflicts = 0, results[RACERS];

    apr_pool_create(&setup, tp);
    ready_store_in(setup);
    close_store(setup);
    run_workers(RACERS, client_put_race, results);
    st = open_store(tp);
    for (i = 0; i < RACERS; i++) {
        wins += results[i] == 0;
        conflicts += results[i] == 1;
    }
    ck_assert_int_eq(wins, 1);
    ck_assert_int_eq(conflicts, RACERS - 1);
    ck_store(st, mcp_store_client_get(st, tp, "contested", &got), APR_SUCCESS);
    ck_assert_int_eq(got->redirect_uris->nelts, 1);
    ck_assert_str_eq(APR_ARRAY_IDX(got->redirect_uris, 0, const char *),
                     apr_psprintf(tp, "https://r%s/cb", got->client_name + 6));
}
END_TEST

/* ---- logging, argument checks ------------------------------------- */

START_TEST(reuse_is_logged_without_secrets)
{
    mcp_store_t *st = ready_store();
    mcp_store_client_t cl = client("c");
    mcp_store_refresh_t r = refresh("SECRET-HASH-1", "fam-log"), next;
    mcp_store_refresh_outcome_e out;
    int i, warnings = 0;

    ck_store(st, mcp_store_client_put(st, &cl), APR_SUCCESS);
    ck_store(st, mcp_store_refresh_put(st, &r), APR_SUCCESS);
    memset(&next, 0, sizeof(next));
    next.token_hash = "SECRET-HASH-2";
    next.expires_at = NOW + 100;
    ck_store(st, mcp_store_refresh_rotate(st, tp, "SECRET-HASH-1", "c", &next, NOW, 5, &out,
                                          NULL), APR_SUCCESS);
    capture_logs();
    ck_store(st, mcp_store_refresh_rotate(st, tp, "SECRET-HASH-1", "c", &next, NOW + 60, 5,
                                          &out, NULL), MCP_ECONFLICT);
    release_logs();
    ck_assert_int_eq(out, MCP_REFRESH_REUSED);
    for (i = 0; i < logged->nelts; i++) {
        const char *line = APR_ARRAY_IDX(logged, i, const char *);
        ck_assert_ptr_null(strstr(line, "SECRET-HASH"));
        if (strstr(line, "MCP00402") && strstr(line, "fam-log")) {
            ck_assert_int_eq(atoi(line), MCP_LOG_WARNING);
            warnings++;
        }
    }
    ck_assert_int_eq(warnings, 1);
    ck_assert_ptr_null(strstr(mcp_store_error(st), "SECRET-HASH"));
}
END_TEST

START_TEST(bad_arguments)
{
    mcp_store_t *st = ready_store();
    mcp_store_client_t cl = client("c"), *gc;
    mcp_store_code_t c = code("k", "c"), *gk;
    mcp_store_refresh_t next, *old;
    mcp_store_refresh_outcome_e out;
    mcp_store_consent_t n;
    mcp_store_upstream_t *gu;

    ck_store(st, mcp_store_client_put(st, &cl), APR_SUCCESS);
    /* Codes live at most MCP_STORE_CODE_MAX_LIFETIME seconds. */
    c.expires_at = c.created_at + MCP_STORE_CODE_MAX_LIFETIME + 1;
    ck_store(st, mcp_store_code_put(st, &c), MCP_EINVALID);
    c.expires_at = c.created_at;
    ck_store(st, mcp_store_code_put(st, &c), MCP_EINVALID);
    c.expires_at = c.created_at + MCP_STORE_CODE_MAX_LIFETIME;
    ck_store(st, mcp_store_code_put(st, &c), APR_SUCCESS);
    ck_store(st, mcp_store_code_redeem(st, tp, NULL, NOW, NULL, "j", NULL, &gk, NULL),
             MCP_EINVALID);
    ck_store(st, mcp_store_code_redeem(st, tp, "k", NOW, NULL, NULL, NULL, &gk, NULL),
             MCP_EINVALID);
    ck_store(st, mcp_store_code_get(st, tp, NULL, &gk), MCP_EINVALID);

    memset(&next, 0, sizeof(next));
    next.token_hash = "n";
    next.expires_at = NOW + 10;
    ck_store(st, mcp_store_refresh_rotate(st, tp, NULL, "c", &next, NOW, 5, &out, &old),
             MCP_EINVALID);
    ck_store(st, mcp_store_refresh_rotate(st, tp, "x", "c", NULL, NOW, 5, &out, &old),
             MCP_EINVALID);
    ck_store(st, mcp_store_refresh_rotate(st, tp, "x", NULL, &next, NOW, 5, &out, &old),
             MCP_EINVALID);

    cl = client("");
    ck_store(st, mcp_store_client_put(st, &cl), MCP_EINVALID);
    cl = client("nul-uri");
    APR_ARRAY_PUSH(cl.redirect_uris, const char *) = NULL;
    ck_store(st, mcp_store_client_put(st, &cl), MCP_EINVALID);
    ck_store(st, mcp_store_client_get(st, tp, "nul-uri", &gc), MCP_ENOTFOUND);
    /* A client whose second redirect URI is a duplicate fails whole: no
     * half-stored client. */
    cl = client("dup-uri");
    APR_ARRAY_PUSH(cl.redirect_uris, const char *) = "http://127.0.0.1:33418/callback";
    ck_store(st, mcp_store_client_put(st, &cl), MCP_ESTORE);
    ck_store(st, mcp_store_client_get(st, tp, "dup-uri", &gc), MCP_ENOTFOUND);

    memset(&n, 0, sizeof(n));
    n.subject = "a"; n.client_id = "c"; n.resource = NULL; n.scope = "mcp";
    n.expires_at = NOW + 1;
    ck_store(st, mcp_store_consent_put(st, &n), MCP_EINVALID);
    ck_store(st, mcp_store_upstream_get(st, tp, NULL, "p", &gu), MCP_EINVALID);
}
END_TEST

/* An entry point given a NULL (or empty) argument: MCP_EINVALID with a
 * message of its own. */
#define ck_invalid(st, expr) do {                                            \
        (st)->error = NULL;                                                  \
        ck_store(st, expr, MCP_EINVALID);                                    \
        ck_assert_str_ne(mcp_store_error(st), "no error");                   \
    } while (0)

START_TEST(null_arguments)
{
    /* Every entry point with each pointer argument NULL in turn: refused,
     * never a crash (only the store handle itself must not be NULL). */
    mcp_store_t *st = ready_store(), *st2 = (mcp_store_t *)1;
    mcp_store_client_t cl = client("c"), c, *gc;
    mcp_store_code_t k = code("k", "c"), *gk;
    mcp_store_refresh_t r = refresh("r", "f"), *gr;
    mcp_store_consent_t n, *gn;
    mcp_store_upstream_t u, *gu;
    apr_array_header_t *list;
    mcp_store_schema_t s;
    const char *err = NULL;
    int count = -1;

    ck_assert_str_eq(mcp_store_error(NULL), "no store");
    ck_assert_int_eq(mcp_store_open(NULL, tp, backend, params, &err), MCP_EINVALID);
    ck_assert_ptr_nonnull(err);
    ck_assert_int_eq(mcp_store_open(&st2, NULL, backend, params, &err), MCP_EINVALID);
    ck_assert_ptr_null(st2);
    ck_assert_int_eq(mcp_store_open(&st2, tp, NULL, params, &err), MCP_EINVALID);
    ck_assert_int_eq(mcp_store_open(&st2, tp, backend, NULL, &err), MCP_EINVALID);
    ck_assert_int_eq(mcp_store_open(&st2, tp, NULL, NULL, NULL), MCP_EINVALID);
    ck_assert_int_eq(mcp_store_attach(NULL, tp, st->driver, st->handle, st->prepared,
                                      tp), APR_EINVAL);
    ck_assert_int_eq(mcp_store_attach(&st2, NULL, st->driver, st->handle, st->prepared,
                                      tp), APR_EINVAL);
    ck_assert_int_eq(mcp_store_attach(&st2, tp, NULL, st->handle, st->prepared, tp),
                     APR_EINVAL);
    ck_invalid(st, mcp_store_schema_status(st, NULL));
    ck_store(st, mcp_store_schema_upgrade(st, NULL, NULL), APR_SUCCESS);
    ck_store(st, mcp_store_schema_status(st, &s), APR_SUCCESS);

    ck_store(st, mcp_store_client_put(st, &cl), APR_SUCCESS);
    ck_invalid(st, mcp_store_client_put(st, NULL));
    ck_invalid(st, mcp_store_client_update(st, NULL));
    c = client(NULL);
    ck_invalid(st, mcp_store_client_put(st, &c));
    ck_invalid(st, mcp_store_client_update(st, &c));
    c = client("c2"); c.kind = NULL;
    ck_invalid(st, mcp_store_client_put(st, &c));
    c = client("c2"); c.token_endpoint_auth_method = NULL;
    ck_invalid(st, mcp_store_client_put(st, &c));
    c = client("c2"); c.grant_types = NULL;
    ck_invalid(st, mcp_store_client_update(st, &c));
    ck_invalid(st, mcp_store_client_get(st, NULL, "c", &gc));
    ck_invalid(st, mcp_store_client_get(st, tp, NULL, &gc));
    ck_invalid(st, mcp_store_client_get(st, tp, "", &gc));
    ck_invalid(st, mcp_store_client_get(st, tp, "c", NULL));
    ck_invalid(st, mcp_store_client_delete(st, NULL));
    ck_invalid(st, mcp_store_client_touch(st, NULL, NOW));
    ck_invalid(st, mcp_store_client_list(st, NULL, &list));
    ck_invalid(st, mcp_store_client_list(st, tp, NULL));

    ck_invalid(st, mcp_store_code_put(st, NULL));
    k.code_hash = NULL;
    ck_invalid(st, mcp_store_code_put(st, &k));
    k = code("k", NULL);
    ck_invalid(st, mcp_store_code_put(st, &k));
    k = code("k", "c"); k.redirect_uri = NULL;
    ck_invalid(st, mcp_store_code_put(st, &k));
    k = code("k", "c"); k.code_challenge = NULL;
    ck_invalid(st, mcp_store_code_put(st, &k));
    k = code("k", "c"); k.code_challenge_method = NULL;
    ck_invalid(st, mcp_store_code_put(st, &k));
    k = code("k", "c"); k.subject = NULL;
    ck_invalid(st, mcp_store_code_put(st, &k));
    k = code("k", "c");
    ck_store(st, mcp_store_code_put(st, &k), APR_SUCCESS);
    ck_invalid(st, mcp_store_code_get(st, NULL, "k", &gk));
    ck_invalid(st, mcp_store_code_get(st, tp, NULL, &gk));
    ck_invalid(st, mcp_store_code_get(st, tp, "k", NULL));
    ck_invalid(st, mcp_store_code_redeem(st, NULL, "k", NOW, NULL, "j", NULL, NULL, NULL));
    ck_invalid(st, mcp_store_code_redeem(st, tp, NULL, NOW, NULL, "j", NULL, NULL, NULL));
    ck_invalid(st, mcp_store_code_redeem(st, tp, "k", NOW, NULL, NULL, NULL, NULL, NULL));
    ck_invalid(st, mcp_store_code_redeem(st, tp, "k", NOW, NULL, "j", &r, NULL, NULL));
    r.token_hash = NULL;
    ck_invalid(st, mcp_store_code_redeem(st, tp, "k", NOW, "f", "j", &r, NULL, NULL));
    r = refresh("r", "f");

    ck_invalid(st, mcp_store_refresh_put(st, NULL));
    r.token_hash = NULL;
    ck_invalid(st, mcp_store_refresh_put(st, &r));
    r = refresh("r", NULL);
    ck_invalid(st, mcp_store_refresh_put(st, &r));
    r = refresh("r", "f"); r.client_id = NULL;
    ck_invalid(st, mcp_store_refresh_put(st, &r));
    r = refresh("r", "f"); r.subject = NULL;
    ck_invalid(st, mcp_store_refresh_put(st, &r));
    r = refresh("r", "f");
    ck_store(st, mcp_store_refresh_put(st, &r), APR_SUCCESS);
    ck_invalid(st, mcp_store_refresh_get(st, NULL, "r", &gr));
    ck_invalid(st, mcp_store_refresh_get(st, tp, NULL, &gr));
    ck_invalid(st, mcp_store_refresh_get(st, tp, "r", NULL));
    r = next_token("r2");
    ck_invalid(st, mcp_store_refresh_rotate(st, NULL, "r", "c", &r, NOW, 5, NULL, NULL));
    ck_invalid(st, mcp_store_refresh_rotate(st, tp, NULL, "c", &r, NOW, 5, NULL, NULL));
    ck_invalid(st, mcp_store_refresh_rotate(st, tp, "r", NULL, &r, NOW, 5, NULL, NULL));
    ck_invalid(st, mcp_store_refresh_rotate(st, tp, "r", "c", NULL, NOW, 5, NULL, NULL));
    r.token_hash = NULL;
    ck_invalid(st, mcp_store_refresh_rotate(st, tp, "r", "c", &r, NOW, 5, NULL, NULL));
    ck_invalid(st, mcp_store_refresh_revoke(st, NULL, NULL, NOW, NULL));
    ck_invalid(st, mcp_store_refresh_revoke_family(st, NULL, NOW, NULL));
    ck_invalid(st, mcp_store_refresh_revoke_user(st, NULL, NULL, NOW, NULL));
    ck_invalid(st, mcp_store_refresh_revoke_user(st, NULL, "c", NOW, NULL));
    ck_invalid(st, mcp_store_refresh_revoke_client(st, NULL, NOW, NULL));
    ck_invalid(st, mcp_store_refresh_count(st, NULL, NULL, NOW, NULL));

    memset(&n, 0, sizeof(n));
    n.subject = "a"; n.client_id = "c"; n.resource = ""; n.scope = "mcp";
    n.granted_at = NOW; n.expires_at = NOW + 10;
    ck_invalid(st, mcp_store_consent_put(st, NULL));
    n.subject = NULL;
    ck_invalid(st, mcp_store_consent_put(st, &n));
    n.subject = "a"; n.client_id = NULL;
    ck_invalid(st, mcp_store_consent_put(st, &n));
    n.client_id = "c"; n.resource = NULL;
    ck_invalid(st, mcp_store_consent_put(st, &n));
    n.resource = ""; n.scope = NULL;
    ck_invalid(st, mcp_store_consent_put(st, &n));
    ck_invalid(st, mcp_store_consent_get(st, NULL, "a", "c", "", NOW, &gn));
    ck_invalid(st, mcp_store_consent_get(st, tp, NULL, "c", "", NOW, &gn));
    ck_invalid(st, mcp_store_consent_get(st, tp, "a", NULL, "", NOW, &gn));
    ck_invalid(st, mcp_store_consent_get(st, tp, "a", "c", NULL, NOW, &gn));
    ck_invalid(st, mcp_store_consent_get(st, tp, "a", "c", "", NOW, NULL));
    ck_invalid(st, mcp_store_consent_delete(st, NULL, "c", ""));
    ck_invalid(st, mcp_store_consent_delete(st, "a", NULL, ""));
    ck_invalid(st, mcp_store_consent_delete(st, "a", "c", NULL));
    ck_invalid(st, mcp_store_consent_list(st, NULL, "a", &list));
    ck_invalid(st, mcp_store_consent_list(st, tp, NULL, &list));
    ck_invalid(st, mcp_store_consent_list(st, tp, "a", NULL));
    ck_invalid(st, mcp_store_consent_revoke(st, NULL, NULL, NULL));
    ck_invalid(st, mcp_store_consent_revoke(st, NULL, "c", NULL));

    memset(&u, 0, sizeof(u));
    u.subject = "a"; u.provider = "p"; u.sealed = "v1"; u.key_id = "k";
    ck_invalid(st, mcp_store_upstream_put(st, NULL));
    u.subject = NULL;
    ck_invalid(st, mcp_store_upstream_put(st, &u));
    u.subject = "a"; u.provider = NULL;
    ck_invalid(st, mcp_store_upstream_put(st, &u));
    u.provider = "p"; u.sealed = NULL;
    ck_invalid(st, mcp_store_upstream_put(st, &u));
    u.sealed = "v1"; u.key_id = NULL;
    ck_invalid(st, mcp_store_upstream_put(st, &u));
    ck_invalid(st, mcp_store_upstream_get(st, NULL, "a", "p", &gu));
    ck_invalid(st, mcp_store_upstream_get(st, tp, NULL, "p", &gu));
    ck_invalid(st, mcp_store_upstream_get(st, tp, "a", NULL, &gu));
    ck_invalid(st, mcp_store_upstream_get(st, tp, "a", "p", NULL));
    ck_invalid(st, mcp_store_upstream_delete(st, NULL, "p"));
    ck_invalid(st, mcp_store_upstream_delete(st, "a", NULL));
    ck_invalid(st, mcp_store_upstream_list(st, NULL, "a", &list));
    ck_invalid(st, mcp_store_upstream_list(st, tp, NULL, &list));
    ck_invalid(st, mcp_store_upstream_list(st, tp, "a", NULL));
    ck_invalid(st, mcp_store_upstream_list_provider(st, NULL, "p", &list));
    ck_invalid(st, mcp_store_upstream_list_provider(st, tp, "", &list));
    ck_invalid(st, mcp_store_upstream_list_provider(st, tp, "p", NULL));
    ck_invalid(st, mcp_store_upstream_delete_provider(st, NULL, NULL));
    ck_invalid(st, mcp_store_upstream_update_cas(st, NULL, 1));
    u.key_id = "k";
    ck_invalid(st, mcp_store_upstream_update_cas(st, &u, -1));
    u.sealed = NULL;
    ck_invalid(st, mcp_store_upstream_update_cas(st, &u, 1));
    ck_invalid(st, mcp_store_upstream_lease(st, NULL, "p", "h", NOW, NOW + 1, NULL));
    ck_invalid(st, mcp_store_upstream_lease(st, "a", NULL, "h", NOW, NOW + 1, NULL));
    ck_invalid(st, mcp_store_upstream_lease(st, "a", "p", NULL, NOW, NOW + 1, NULL));
    ck_invalid(st, mcp_store_upstream_release(st, NULL, "p", "h"));
    ck_invalid(st, mcp_store_upstream_release(st, "a", NULL, "h"));
    ck_invalid(st, mcp_store_upstream_release(st, "a", "p", NULL));
    ck_invalid(st, mcp_store_upstream_touch(st, NULL, "p", NOW, NULL));
    ck_invalid(st, mcp_store_upstream_touch(st, "a", NULL, NOW, NULL));
    {
        mcp_store_pending_t a, *ga;

        memset(&a, 0, sizeof(a));
        a.state_hash = "s"; a.subject = "a"; a.provider = "p"; a.verifier_sealed = "v1";
        a.created_at = NOW; a.expires_at = NOW + 1;
        ck_invalid(st, mcp_store_pending_put(st, NULL));
        a.state_hash = NULL;
        ck_invalid(st, mcp_store_pending_put(st, &a));
        a.state_hash = "s"; a.subject = NULL;
        ck_invalid(st, mcp_store_pending_put(st, &a));
        a.subject = "a"; a.provider = NULL;
        ck_invalid(st, mcp_store_pending_put(st, &a));
        a.provider = "p"; a.verifier_sealed = NULL;
        ck_invalid(st, mcp_store_pending_put(st, &a));
        ck_invalid(st, mcp_store_pending_take(st, NULL, "s", NOW, &ga));
        ck_invalid(st, mcp_store_pending_take(st, tp, NULL, NOW, &ga));
        ck_invalid(st, mcp_store_pending_take(st, tp, "s", NOW, NULL));
    }

    ck_invalid(st, mcp_store_revocation_put(st, NULL, "v", NOW, NOW + 1));
    ck_invalid(st, mcp_store_revocation_put(st, "jti", NULL, NOW, NOW + 1));
    ck_invalid(st, mcp_store_revocation_since(st, NULL, 0, &list));
    ck_invalid(st, mcp_store_revocation_since(st, tp, 0, NULL));
    ck_store(st, mcp_store_purge(st, NOW, NULL), APR_SUCCESS);

    /* Nothing half-stored. */
    ck_store(st, mcp_store_client_list(st, tp, &list), APR_SUCCESS);
    ck_assert_int_eq(list->nelts, 1);
    ck_store(st, mcp_store_code_get(st, tp, "k", &gk), APR_SUCCESS);
    ck_assert_int_eq(gk->used_at, 0);
    ck_store(st, mcp_store_refresh_count(st, NULL, NULL, NOW, &count), APR_SUCCESS);
    ck_assert_int_eq(count, 1);
}
END_TEST

/* Two threads of one process, each with its own connection, as httpd's
 * workers with mod_dbd: one holds a write transaction open for a while,
 * the other writes meanwhile. apr_dbd's sqlite3 driver holds one
 * process-wide mutex around every statement, also while SQLite waits for
 * the write lock, so without the store's turn-taking for writers both
 * would wait until the busy timeout (5 s). */
typedef struct {
    apr_status_t rv;
    apr_interval_time_t took;
} writer_result_t;

static void *APR_THREAD_FUNC second_writer(apr_thread_t *thd, void *data)
{
    writer_result_t *res = data;
    apr_pool_t *p;
    mcp_store_t *st;
    mcp_store_refresh_t r;
    apr_time_t start;

    apr_pool_create(&p, NULL);
    st = open_store(p);
    memset(&r, 0, sizeof(r));
    r.token_hash = "second";
    r.family_id = "f2";
    r.client_id = "c";
    r.subject = "bob";
    r.created_at = NOW;
    r.expires_at = NOW + 100;
    start = apr_time_now();
    res->rv = mcp_store_refresh_put(st, &r);
    res->took = apr_time_now() - start;
    apr_pool_destroy(p);
    apr_thread_exit(thd, APR_SUCCESS);
    return NULL;
}

START_TEST(sqlite_threads_take_turns)
{
    mcp_store_t *st = ready_store();
    mcp_store_client_t cl = client("c");
    mcp_store_refresh_t r = refresh("first", "f1");
    writer_result_t res = { APR_EGENERAL, 0 };
    apr_thread_t *thd;
    apr_status_t trv;
    mcp_store_refresh_t *got;

    ck_store(st, mcp_store_client_put(st, &cl), APR_SUCCESS);
    ck_store(st, mcp_store_tx_begin(st), APR_SUCCESS);
    ck_store(st, mcp_store_refresh_put(st, &r), APR_SUCCESS);
    ck_assert_status(apr_thread_create(&thd, NULL, second_writer, &res, tp),
                     APR_SUCCESS);
    /* The second writer starts while this transaction holds the lock. */
    apr_sleep(apr_time_from_msec(500));
    ck_store(st, mcp_store_tx_end(st, APR_SUCCESS), APR_SUCCESS);
    apr_thread_join(&trv, thd);
    ck_assert_msg(res.rv == APR_SUCCESS, "the second writer failed: %s",
                  mcp_strerror(tp, res.rv));
    ck_assert_msg(res.took < apr_time_from_sec(3), "the second writer waited %"
                  APR_TIME_T_FMT " ms (the busy timeout: a stall)",
                  apr_time_as_msec(res.took));
    ck_assert_msg(res.took >= apr_time_from_msec(400), "the second writer did "
                  "not wait for the transaction (%" APR_TIME_T_FMT " ms)",
                  apr_time_as_msec(res.took));
    ck_store(st, mcp_store_refresh_get(st, tp, "first", &got), APR_SUCCESS);
    ck_store(st, mcp_store_refresh_get(st, tp, "second", &got), APR_SUCCESS);
}
END_TEST

START_TEST(pgsql_required)
{
    ck_abort_msg("MCP_TEST_REQUIRE_PGSQL=1 but MCP_TEST_PGSQL is not set: start a "
                 "server with scripts/lib/pgsql.sh start DIR and export its line");
}
END_TEST

static void add_backend_tests(TCase *tc)
{
    tcase_add_test(tc, schema_lifecycle);
    tcase_add_test(tc, schema_old_and_newer);
    tcase_add_test(tc, attach_prepares_once);
    tcase_add_test(tc, clients);
    tcase_add_test(tc, client_disable_touch);
    tcase_add_test(tc, client_delete_cascades);
    tcase_add_test(tc, binaryish_values);
    tcase_add_test(tc, codes);
    tcase_add_test(tc, code_redeem);
    tcase_add_test(tc, code_redeem_refused_refresh);
    tcase_add_test(tc, code_race);
    tcase_add_test(tc, refresh_rotation);
    tcase_add_test(tc, refresh_rotation_client);
    tcase_add_test(tc, refresh_rotation_grace);
    tcase_add_test(tc, refresh_rotation_replay);
    tcase_add_test(tc, refresh_revocation);
    tcase_add_test(tc, consents);
    tcase_add_test(tc, consent_list_revoke);
    tcase_add_test(tc, upstream_tokens);
    tcase_add_test(tc, upstream_cas);
    tcase_add_test(tc, upstream_touch);
    tcase_add_test(tc, upstream_lease);
    tcase_add_test(tc, upstream_cas_race);
    tcase_add_test(tc, upstream_lease_race);
    tcase_add_test(tc, upstream_pending);
    tcase_add_test(tc, upstream_pending_race);
    tcase_add_test(tc, revocations);
    tcase_add_test(tc, purge);
    tcase_add_test(tc, schema_previous_version);
    tcase_add_test(tc, schema_damaged);
    tcase_add_test(tc, schema_damaged_migration3);
    tcase_add_test(tc, schema_partial_migration3);
    tcase_add_test(tc, schema_changed_under_connection);
    tcase_add_test(tc, attach_missing_schema);
    tcase_add_test(tc, odd_values_everywhere);
    tcase_add_test(tc, large_values);
    tcase_add_test(tc, odd_values_new_functions);
    tcase_add_test(tc, long_values_new_functions);
    tcase_add_test(tc, refresh_race);
    tcase_add_test(tc, refresh_race_no_grace);
    tcase_add_test(tc, client_race);
    tcase_add_test(tc, reuse_is_logged_without_secrets);
    tcase_add_test(tc, bad_arguments);
    tcase_add_test(tc, null_arguments);
}

static Suite *store_suite(void)
{
    Suite *s = suite_create("store");
    TCase *tc;
    const char *pg = getenv("MCP_TEST_PGSQL");
    const char *req = getenv("MCP_TEST_REQUIRE_PGSQL");

    if (!mkdtemp(sqlite_dir)) {
        perror("mkdtemp");
        exit(EXIT_FAILURE);
    }
    main_pid = getpid();
    atexit(remove_sqlite_dir);
    tc = tcase_create("sqlite");
    tcase_add_checked_fixture(tc, setup_sqlite, teardown);
    tcase_set_timeout(tc, 120);
    add_backend_tests(tc);
    tcase_add_test(tc, sqlite_concurrent_writers);
    tcase_add_test(tc, sqlite_threads_take_turns);
    tcase_add_test(tc, open_errors);
    tcase_add_test(tc, sqlite_file_mode);
    suite_add_tcase(s, tc);

    if (pg && *pg) {
        tc = tcase_create("pgsql");
        tcase_add_checked_fixture(tc, setup_pgsql, teardown);
        tcase_set_timeout(tc, 120);
        add_backend_tests(tc);
        suite_add_tcase(s, tc);
    }
    else if (req && !strcmp(req, "1")) {
        tc = mcp_tcase("pgsql");
        tcase_add_test(tc, pgsql_required);
        suite_add_tcase(s, tc);
    }
    else {
        fprintf(stderr, "# PostgreSQL tests not run: MCP_TEST_PGSQL is not set\n");
    }
    return s;
}

MCP_TEST_MAIN(store_suite)
