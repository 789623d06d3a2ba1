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

/* The storage functions: every statement below is prepared once per
 * connection (mcp_store_ready) and run with its values bound, never
 * spliced in. The SQL is the same for SQLite and PostgreSQL. */

#include <stddef.h>
#include <string.h>

#include <apr_strings.h>
#include <apr_time.h>

#include "mcp/mcp_store.h"
#include "mcp_store_private.h"

/* The columns of each table, in one place: the SELECT and INSERT column
 * lists, the INSERT placeholders, the row -> struct mapping and the
 * struct -> bound values all come from these lists. F gives the first
 * column, X the others (so that no list ends in a separator). TEXT is a
 * const char * (NULL is SQL NULL), INT an apr_int64_t that is NOT NULL,
 * TIME an apr_int64_t where 0 is SQL NULL. The struct member has the
 * column's name. */
#define CLIENT_COLUMNS(F, X) \
    F(client_id, TEXT) X(secret_hash, TEXT) X(client_name, TEXT) \
    X(kind, TEXT) X(token_endpoint_auth_method, TEXT) X(grant_types, TEXT) \
    X(scope, TEXT) X(metadata, TEXT) X(created_at, INT) X(updated_at, INT) \
    X(expires_at, TIME) X(disabled_at, TIME)
#define CODE_COLUMNS(F, X) \
    F(code_hash, TEXT) X(client_id, TEXT) X(redirect_uri, TEXT) \
    X(code_challenge, TEXT) X(code_challenge_method, TEXT) \
    X(resource, TEXT) X(scope, TEXT) X(subject, TEXT) \
    X(issued_family, TEXT) X(issued_jti, TEXT) X(created_at, INT) \
    X(expires_at, INT) X(used_at, TIME)
#define REFRESH_COLUMNS(F, X) \
    F(token_hash, TEXT) X(family_id, TEXT) X(client_id, TEXT) \
    X(subject, TEXT) X(resource, TEXT) X(scope, TEXT) X(replaced_by, TEXT) \
    X(created_at, INT) X(expires_at, INT) X(rotated_at, TIME) \
    X(revoked_at, TIME)
#define CONSENT_COLUMNS(F, X) \
    F(subject, TEXT) X(client_id, TEXT) X(resource, TEXT) X(scope, TEXT) \
    X(granted_at, INT) X(expires_at, INT)
#define UPSTREAM_COLUMNS(F, X) \
    F(subject, TEXT) X(provider, TEXT) X(sealed, TEXT) X(key_id, TEXT) \
    X(scope, TEXT) X(expires_at, TIME) X(created_at, INT) X(updated_at, INT) \
    X(version, INT) X(refresh_expires_at, TIME) X(lease_holder, TEXT) \
    X(lease_until, TIME) X(last_used_at, INT)
#define PENDING_COLUMNS(F, X) \
    F(state_hash, TEXT) X(subject, TEXT) X(provider, TEXT) \
    X(verifier_sealed, TEXT) X(scope, TEXT) X(return_to, TEXT) \
    X(created_at, INT) X(expires_at, INT)
#define REVOCATION_COLUMNS(F, X) \
    F(kind, TEXT) X(value, TEXT) X(created_at, INT) X(expires_at, INT)

/* "a, b, c" and "%s, %lld, ..." from a column list. */
#define NAME_FIRST(n, t) #n
#define NAME_NEXT(n, t) ", " #n
#define MARK_TEXT "%s"
#define MARK_INT "%lld"
#define MARK_TIME "%lld"
#define MARK_FIRST(n, t) MARK_##t
#define MARK_NEXT(n, t) ", " MARK_##t
#define COLS(list) list(NAME_FIRST, NAME_NEXT)
#define MARKS(list) list(MARK_FIRST, MARK_NEXT)

/* Index of each column in its list: CLIENT_secret_hash etc. */
#define CLIENT_INDEX(n, t) CLIENT_##n,
enum { CLIENT_COLUMNS(CLIENT_INDEX, CLIENT_INDEX) CLIENT_NCOLS };
#define UPSTREAM_INDEX(n, t) UPSTREAM_##n,
enum { UPSTREAM_COLUMNS(UPSTREAM_INDEX, UPSTREAM_INDEX) UPSTREAM_NCOLS };

#define LIVE_REFRESH "rotated_at IS NULL AND revoked_at IS NULL AND " \
    "expires_at > %lld"

const mcp_store_statement_t mcp_store_statements[] = {
    { "mcp_client_exists", "SELECT client_id FROM mcp_clients WHERE client_id = %s" },
    { "mcp_client_insert", "INSERT INTO mcp_clients (" COLS(CLIENT_COLUMNS)
      ") VALUES (" MARKS(CLIENT_COLUMNS) ")" },
    /* Bound from client_update_cols[]. */
    { "mcp_client_update", "UPDATE mcp_clients SET secret_hash = %s, "
      "client_name = %s, kind = %s, token_endpoint_auth_method = %s, "
      "grant_types = %s, scope = %s, metadata = %s, updated_at = %lld, "
      "expires_at = %lld, disabled_at = %lld WHERE client_id = %s" },
    /* Extends an idle expiry, never shortens it; NULL (never) stays. */
    { "mcp_client_touch", "UPDATE mcp_clients SET expires_at = CASE WHEN "
      "expires_at < %lld THEN %lld ELSE expires_at END WHERE client_id = %s "
      "AND expires_at IS NOT NULL" },
    { "mcp_client_get", "SELECT " COLS(CLIENT_COLUMNS) " FROM mcp_clients "
      "WHERE client_id = %s" },
    { "mcp_client_list", "SELECT " COLS(CLIENT_COLUMNS) " FROM mcp_clients "
      "ORDER BY client_id" },
    { "mcp_client_delete", "DELETE FROM mcp_clients WHERE client_id = %s" },
    { "mcp_uri_insert", "INSERT INTO mcp_client_redirect_uris (client_id, uri) "
      "VALUES (%s, %s)" },
    { "mcp_uri_delete", "DELETE FROM mcp_client_redirect_uris WHERE client_id = %s" },
    { "mcp_uri_list", "SELECT uri FROM mcp_client_redirect_uris WHERE "
      "client_id = %s ORDER BY uri" },

    { "mcp_code_insert", "INSERT INTO mcp_auth_codes (" COLS(CODE_COLUMNS)
      ") VALUES (" MARKS(CODE_COLUMNS) ")" },
    /* The single-use guarantee: of concurrent redeems one changes the row. */
    { "mcp_code_redeem", "UPDATE mcp_auth_codes SET used_at = %lld, "
      "issued_family = %s, issued_jti = %s WHERE code_hash = %s AND "
      "used_at IS NULL AND expires_at > %lld" },
    { "mcp_code_get", "SELECT " COLS(CODE_COLUMNS) " FROM mcp_auth_codes "
      "WHERE code_hash = %s" },

    { "mcp_refresh_insert", "INSERT INTO mcp_refresh_tokens ("
      COLS(REFRESH_COLUMNS) ") VALUES (" MARKS(REFRESH_COLUMNS) ")" },
    { "mcp_refresh_get", "SELECT " COLS(REFRESH_COLUMNS) " FROM "
      "mcp_refresh_tokens WHERE token_hash = %s" },
    /* Of concurrent rotations one changes the row; the client is checked
     * here too, not only by the caller. */
    { "mcp_refresh_rotate", "UPDATE mcp_refresh_tokens SET rotated_at = %lld, "
      "replaced_by = %s WHERE token_hash = %s AND client_id = %s AND "
      "rotated_at IS NULL AND revoked_at IS NULL AND expires_at > %lld" },
    /* A no-op write that takes the token's row lock (PostgreSQL; SQLite's
     * transaction holds the write lock already): see
     * mcp_store_refresh_rotate(). */
    { "mcp_refresh_lock", "UPDATE mcp_refresh_tokens SET replaced_by = "
      "replaced_by WHERE token_hash = %s" },
    { "mcp_refresh_relink", "UPDATE mcp_refresh_tokens SET replaced_by = %s "
      "WHERE token_hash = %s" },
    { "mcp_refresh_revoke_family", "UPDATE mcp_refresh_tokens SET revoked_at = "
      "%lld WHERE family_id = %s AND revoked_at IS NULL" },
    { "mcp_refresh_revoke_subject", "UPDATE mcp_refresh_tokens SET revoked_at = "
      "%lld WHERE subject = %s AND revoked_at IS NULL" },
    { "mcp_refresh_revoke_subject_client", "UPDATE mcp_refresh_tokens SET "
      "revoked_at = %lld WHERE subject = %s AND client_id = %s AND "
      "revoked_at IS NULL" },
    { "mcp_refresh_revoke_client", "UPDATE mcp_refresh_tokens SET revoked_at = "
      "%lld WHERE client_id = %s AND revoked_at IS NULL" },
    /* Live tokens: neither rotated nor revoked nor expired. */
    { "mcp_refresh_count", "SELECT count(*) FROM mcp_refresh_tokens WHERE "
      LIVE_REFRESH },
    { "mcp_refresh_count_client", "SELECT count(*) FROM mcp_refresh_tokens "
      "WHERE " LIVE_REFRESH " AND client_id = %s" },
    { "mcp_refresh_count_subject", "SELECT count(*) FROM mcp_refresh_tokens "
      "WHERE " LIVE_REFRESH " AND subject = %s" },
    { "mcp_refresh_count_client_subject", "SELECT count(*) FROM "
      "mcp_refresh_tokens WHERE " LIVE_REFRESH " AND client_id = %s AND "
      "subject = %s" },

    { "mcp_consent_put", "INSERT INTO mcp_consents (" COLS(CONSENT_COLUMNS)
      ") VALUES (" MARKS(CONSENT_COLUMNS) ") ON CONFLICT (subject, "
      "client_id, resource) DO UPDATE SET scope = excluded.scope, "
      "granted_at = excluded.granted_at, expires_at = excluded.expires_at" },
    { "mcp_consent_get", "SELECT " COLS(CONSENT_COLUMNS) " FROM mcp_consents "
      "WHERE subject = %s AND client_id = %s AND resource = %s" },
    { "mcp_consent_delete", "DELETE FROM mcp_consents WHERE subject = %s AND "
      "client_id = %s AND resource = %s" },
    { "mcp_consent_list", "SELECT " COLS(CONSENT_COLUMNS) " FROM mcp_consents "
      "WHERE subject = %s ORDER BY client_id, resource" },
    { "mcp_consent_revoke", "DELETE FROM mcp_consents WHERE subject = %s" },
    { "mcp_consent_revoke_client", "DELETE FROM mcp_consents WHERE subject = %s "
      "AND client_id = %s" },

    /* A new link replaces whatever was there: a refresh still under way
     * with the old tokens then fails its compare-and-set. */
    { "mcp_upstream_put", "INSERT INTO mcp_upstream_tokens ("
      COLS(UPSTREAM_COLUMNS) ") VALUES (" MARKS(UPSTREAM_COLUMNS) ") ON "
      "CONFLICT (subject, provider) DO UPDATE SET sealed = excluded.sealed, "
      "key_id = excluded.key_id, scope = excluded.scope, expires_at = "
      "excluded.expires_at, refresh_expires_at = excluded.refresh_expires_at, "
      "updated_at = excluded.updated_at, version = "
      "mcp_upstream_tokens.version + 1, lease_holder = NULL, lease_until = NULL" },
    /* Compare-and-set: of concurrent refreshes that read one version, one
     * changes the row (PostgreSQL re-checks the version after waiting for
     * the row lock). Bound from upstream_cas_cols[]. */
    { "mcp_upstream_cas", "UPDATE mcp_upstream_tokens SET sealed = %s, "
      "key_id = %s, scope = %s, expires_at = %lld, refresh_expires_at = %lld, "
      "updated_at = %lld, version = version + 1, lease_holder = NULL, "
      "lease_until = NULL WHERE subject = %s AND provider = %s AND "
      "version = %lld" },
    { "mcp_upstream_lease", "UPDATE mcp_upstream_tokens SET lease_holder = %s, "
      "lease_until = %lld WHERE subject = %s AND provider = %s AND "
      "(lease_holder IS NULL OR lease_until IS NULL OR lease_until <= %lld OR "
      "lease_holder = %s)" },
    { "mcp_upstream_release", "UPDATE mcp_upstream_tokens SET lease_holder = "
      "NULL, lease_until = NULL WHERE subject = %s AND provider = %s AND "
      "lease_holder = %s" },
    /* At most one write a minute per link: when it was used recently,
     * the WHERE matches nothing and nothing is written. version and
     * updated_at stay, so a refresh's compare-and-set is not disturbed. */
    { "mcp_upstream_touch", "UPDATE mcp_upstream_tokens SET last_used_at = "
      "%lld WHERE subject = %s AND provider = %s AND last_used_at < %lld" },
    { "mcp_upstream_get", "SELECT " COLS(UPSTREAM_COLUMNS) " FROM "
      "mcp_upstream_tokens WHERE subject = %s AND provider = %s" },
    { "mcp_upstream_delete", "DELETE FROM mcp_upstream_tokens WHERE subject = %s "
      "AND provider = %s" },
    { "mcp_upstream_list", "SELECT " COLS(UPSTREAM_COLUMNS) " FROM "
      "mcp_upstream_tokens WHERE subject = %s ORDER BY provider" },
    { "mcp_upstream_list_provider", "SELECT " COLS(UPSTREAM_COLUMNS) " FROM "
      "mcp_upstream_tokens WHERE provider = %s ORDER BY subject" },
    { "mcp_upstream_delete_provider", "DELETE FROM mcp_upstream_tokens WHERE "
      "provider = %s" },

    { "mcp_pending_insert", "INSERT INTO mcp_upstream_pending ("
      COLS(PENDING_COLUMNS) ") VALUES (" MARKS(PENDING_COLUMNS) ")" },
    { "mcp_pending_get", "SELECT " COLS(PENDING_COLUMNS) " FROM "
      "mcp_upstream_pending WHERE state_hash = %s" },
    /* Single use: of concurrent takes one deletes the row. */
    { "mcp_pending_delete", "DELETE FROM mcp_upstream_pending WHERE "
      "state_hash = %s" },

    /* Again: created now (pollers see it anew), kept as long as the
     * longer of both asks. */
    { "mcp_revocation_put", "INSERT INTO mcp_revocations ("
      COLS(REVOCATION_COLUMNS) ") VALUES (" MARKS(REVOCATION_COLUMNS) ") ON "
      "CONFLICT (kind, value) DO UPDATE SET created_at = excluded.created_at, "
      "expires_at = CASE WHEN excluded.expires_at > mcp_revocations.expires_at "
      "THEN excluded.expires_at ELSE mcp_revocations.expires_at END" },
    { "mcp_revocation_since", "SELECT " COLS(REVOCATION_COLUMNS) " FROM "
      "mcp_revocations WHERE created_at >= %lld AND expires_at > %lld ORDER BY "
      "created_at, kind, value" },

    { "mcp_purge_codes", "DELETE FROM mcp_auth_codes WHERE expires_at < %lld" },
    { "mcp_purge_refresh", "DELETE FROM mcp_refresh_tokens WHERE expires_at < %lld" },
    { "mcp_purge_consents", "DELETE FROM mcp_consents WHERE expires_at < %lld" },
    /* A cached metadata document (cimd) expires when its cache does, but
     * the client stays while it holds a live refresh token: the next use
     * fetches the document again. */
    { "mcp_purge_clients", "DELETE FROM mcp_clients WHERE expires_at IS NOT NULL "
      "AND expires_at < %lld AND (kind <> 'cimd' OR NOT EXISTS (SELECT 1 FROM "
      "mcp_refresh_tokens t WHERE t.client_id = mcp_clients.client_id AND "
      "t.revoked_at IS NULL AND t.expires_at >= %lld))" },
    { "mcp_purge_revocations", "DELETE FROM mcp_revocations WHERE expires_at < %lld" },
    { "mcp_purge_pending", "DELETE FROM mcp_upstream_pending WHERE expires_at < %lld" },
    { NULL, NULL }
};

/* ---------------------------------------------------------------------
 * Row descriptors
 * ------------------------------------------------------------------- */

typedef enum {
    COL_TEXT,
    COL_INT,
    COL_TIME
} col_type_e;

typedef struct {
    col_type_e type;
    apr_size_t offset;
} col_t;

/* A table's columns and the struct a row maps to. */
typedef struct {
    const col_t *cols;
    int ncols;
    apr_size_t size;
} table_t;

#define COL_OF(type, n, t) { COL_##t, offsetof(type, n) },
#define CLIENT_COL(n, t) COL_OF(mcp_store_client_t, n, t)
#define CODE_COL(n, t) COL_OF(mcp_store_code_t, n, t)
#define REFRESH_COL(n, t) COL_OF(mcp_store_refresh_t, n, t)
#define CONSENT_COL(n, t) COL_OF(mcp_store_consent_t, n, t)
#define UPSTREAM_COL(n, t) COL_OF(mcp_store_upstream_t, n, t)
#define REVOCATION_COL(n, t) COL_OF(mcp_store_revocation_t, n, t)
#define PENDING_COL(n, t) COL_OF(mcp_store_pending_t, n, t)

static const col_t client_cols[] = { CLIENT_COLUMNS(CLIENT_COL, CLIENT_COL) };
static const col_t code_cols[] = { CODE_COLUMNS(CODE_COL, CODE_COL) };
static const col_t refresh_cols[] = { REFRESH_COLUMNS(REFRESH_COL, REFRESH_COL) };
static const col_t consent_cols[] = { CONSENT_COLUMNS(CONSENT_COL, CONSENT_COL) };
static const col_t upstream_cols[] = { UPSTREAM_COLUMNS(UPSTREAM_COL, UPSTREAM_COL) };
static const col_t pending_cols[] = { PENDING_COLUMNS(PENDING_COL, PENDING_COL) };
static const col_t revocation_cols[] = {
    REVOCATION_COLUMNS(REVOCATION_COL, REVOCATION_COL)
};

#define TABLE(cols, type) { cols, (int)(sizeof(cols) / sizeof(cols[0])), sizeof(type) }

static const table_t client_table = TABLE(client_cols, mcp_store_client_t);
static const table_t code_table = TABLE(code_cols, mcp_store_code_t);
static const table_t refresh_table = TABLE(refresh_cols, mcp_store_refresh_t);
static const table_t consent_table = TABLE(consent_cols, mcp_store_consent_t);
static const table_t upstream_table = TABLE(upstream_cols, mcp_store_upstream_t);
static const table_t revocation_table = TABLE(revocation_cols, mcp_store_revocation_t);
static const table_t pending_table = TABLE(pending_cols, mcp_store_pending_t);

/* ---------------------------------------------------------------------
 * Running statements
 * ------------------------------------------------------------------- */

/* An integer as a bound value; 0 is NULL where @zero_is_null. */
static const char *num(apr_pool_t *p, apr_int64_t v, int zero_is_null)
{
    return zero_is_null && v == 0 ? NULL : apr_psprintf(p, "%" APR_INT64_T_FMT, v);
}

/* The bound values of a whole row, in column order. */
static const char **bind_record(apr_pool_t *p, const table_t *t, const void *rec)
{
    const char **a = apr_palloc(p, t->ncols * sizeof(*a));
    const char *base = rec;
    int i;

    for (i = 0; i < t->ncols; i++) {
        const col_t *c = &t->cols[i];

        if (c->type == COL_TEXT) {
            a[i] = *(const char *const *)(base + c->offset);
        }
        else {
            a[i] = num(p, *(const apr_int64_t *)(base + c->offset),
                       c->type == COL_TIME);
        }
    }
    return a;
}

static apr_status_t stmt_get(mcp_store_t *st, const char *label,
                             apr_dbd_prepared_t **pps)
{
    apr_status_t rv = mcp_store_ready(st);

    if (rv != APR_SUCCESS) {
        return rv;
    }
    *pps = mcp_store_stmt(st, label);
    if (!*pps) {
        return mcp_store_fail(st, MCP_ESTORE, "statement %s is not prepared", label);
    }
    return APR_SUCCESS;
}

/* Run a statement without results; *pnrows (may be NULL) gets the count. */
static apr_status_t run(mcp_store_t *st, const char *label, int *pnrows,
                        int nargs, const char *const *args)
{
    apr_dbd_prepared_t *ps;
    apr_pool_t *tmp;
    apr_status_t rv;
    int nrows = 0, err, attempt = 0, locked;

    do {
        if ((rv = stmt_get(st, label, &ps)) != APR_SUCCESS) {
            return rv;
        }
        apr_pool_create(&tmp, st->pool);
        /* A write outside a transaction takes its turn too (see
         * mcp_store_write_lock()). */
        locked = mcp_store_write_lock(st);
        err = apr_dbd_pquery(st->driver, tmp, st->handle, &nrows, ps, nargs,
                             (const char **)args);
        if (locked) {
            mcp_store_write_unlock(st);
        }
        apr_pool_destroy(tmp);
        if (err && attempt++ == 0 && mcp_store_stale(st, err)) {
            mcp_store_forget(st);
            continue;
        }
        break;
    } while (1);
    if (err) {
        return mcp_store_dbfail(st, err, label);
    }
    if (pnrows) {
        *pnrows = nrows;
    }
    return APR_SUCCESS;
}

/* Insert a whole row of @t with @label. */
static apr_status_t insert(mcp_store_t *st, const char *label, const table_t *t,
                           const void *rec)
{
    return run(st, label, NULL, t->ncols, bind_record(st->pool, t, rec));
}

typedef apr_status_t row_fn(mcp_store_t *st, apr_pool_t *p,
                            apr_dbd_row_t *row, void *baton);

/* Run a select and call @fn on every row (all rows are read, so the
 * connection is free afterwards); *pcount gets the number of rows. */
static apr_status_t select_rows(mcp_store_t *st, apr_pool_t *p, const char *label,
                                int nargs, const char *const *args, row_fn *fn,
                                void *baton, int *pcount)
{
    apr_dbd_prepared_t *ps;
    apr_dbd_results_t *res;
    apr_dbd_row_t *row = NULL;
    apr_pool_t *tmp;
    apr_status_t rv;
    int err, count = 0, attempt = 0;

    do {
        if ((rv = stmt_get(st, label, &ps)) != APR_SUCCESS) {
            return rv;
        }
        apr_pool_create(&tmp, st->pool);
        res = NULL;
        err = apr_dbd_pselect(st->driver, tmp, st->handle, &res, ps, 0, nargs,
                              (const char **)args);
        if (err) {
            apr_pool_destroy(tmp);
            if (attempt++ == 0 && mcp_store_stale(st, err)) {
                mcp_store_forget(st);
                continue;
            }
            return mcp_store_dbfail(st, err, label);
        }
        break;
    } while (1);
    while (apr_dbd_get_row(st->driver, tmp, res, &row, -1) == 0) {
        count++;
        if (rv == APR_SUCCESS && fn) {
            rv = fn(st, p, row, baton);
        }
    }
    apr_pool_destroy(tmp);
    if (pcount) {
        *pcount = count;
    }
    return rv;
}

static const char *col_str(mcp_store_t *st, apr_pool_t *p, apr_dbd_row_t *row,
                           int col)
{
    const char *v = NULL;

    if (apr_dbd_datum_get(st->driver, row, col, APR_DBD_TYPE_STRING, &v)
        != APR_SUCCESS || !v) {
        return NULL;
    }
    return apr_pstrdup(p, v);
}

static apr_int64_t col_int(mcp_store_t *st, apr_dbd_row_t *row, int col)
{
    const char *v = NULL;

    if (apr_dbd_datum_get(st->driver, row, col, APR_DBD_TYPE_STRING, &v)
        != APR_SUCCESS || !v) {
        return 0;
    }
    return apr_atoi64(v);
}

typedef struct {
    const table_t *table;
    apr_array_header_t *records;    /* void *, each a struct of the table */
} collect_t;

/* Map a row to a new struct of the table, in the collected array. */
static apr_status_t collect_row(mcp_store_t *st, apr_pool_t *p, apr_dbd_row_t *row,
                                void *baton)
{
    collect_t *c = baton;
    char *rec = apr_pcalloc(p, c->table->size);
    int i;

    for (i = 0; i < c->table->ncols; i++) {
        const col_t *col = &c->table->cols[i];

        if (col->type == COL_TEXT) {
            *(const char **)(rec + col->offset) = col_str(st, p, row, i);
        }
        else {
            *(apr_int64_t *)(rec + col->offset) = col_int(st, row, i);
        }
    }
    APR_ARRAY_PUSH(c->records, void *) = rec;
    return APR_SUCCESS;
}

/* Every row of a select, as structs of @t (an array of pointers). */
static apr_status_t select_all(mcp_store_t *st, apr_pool_t *p, const char *label,
                               int nargs, const char *const *args,
                               const table_t *t, apr_array_header_t **precords)
{
    collect_t c;
    apr_status_t rv;

    c.table = t;
    c.records = apr_array_make(p, 4, sizeof(void *));
    rv = select_rows(st, p, label, nargs, args, collect_row, &c, NULL);
    if (rv == APR_SUCCESS) {
        *precords = c.records;
    }
    return rv;
}

/* The first row of a select as a struct of @t; *precord is NULL when
 * there is none. */
static apr_status_t select_one(mcp_store_t *st, apr_pool_t *p, const char *label,
                               int nargs, const char *const *args,
                               const table_t *t, void **precord)
{
    apr_array_header_t *all = NULL;
    apr_status_t rv = select_all(st, p, label, nargs, args, t, &all);

    *precord = rv == APR_SUCCESS && all->nelts ? APR_ARRAY_IDX(all, 0, void *)
                                               : NULL;
    return rv;
}

/* Like select_one(), but no row is MCP_ENOTFOUND with @notfound; on
 * success *precord is the record. */
static apr_status_t fetch_one(mcp_store_t *st, apr_pool_t *p, const char *label,
                              int nargs, const char *const *args,
                              const table_t *t, const char *notfound,
                              void **precord)
{
    apr_status_t rv = select_one(st, p, label, nargs, args, t, precord);

    if (rv == APR_SUCCESS && !*precord) {
        rv = mcp_store_fail(st, MCP_ENOTFOUND, "%s", notfound);
    }
    return rv;
}

/* Does a row exist for @label with one key? */
static apr_status_t exists(mcp_store_t *st, const char *label, const char *key,
                           int *pfound)
{
    return select_rows(st, st->pool, label, 1, &key, NULL, NULL, pfound);
}

/* A failed insert of a new row: MCP_ECONFLICT with @msg when a row with
 * @key exists (its primary key refused it), else @rv. */
static apr_status_t conflict_if_exists(mcp_store_t *st, apr_status_t rv,
                                       const char *label, const char *key,
                                       const char *msg)
{
    int found = 0;

    if (rv == MCP_ESTORE && exists(st, label, key, &found) == APR_SUCCESS && found) {
        rv = mcp_store_fail(st, MCP_ECONFLICT, "%s", msg);
    }
    return rv;
}

/* A required identifier (id, hash, subject, ...): not NULL, not empty. */
static int given(const char *s)
{
    return s && *s;
}

/* An argument check failed: MCP_EINVALID, saying what is needed. */
static apr_status_t invalid(mcp_store_t *st, const char *what)
{
    return mcp_store_fail(st, MCP_EINVALID, "%s", what);
}

/* ---------------------------------------------------------------------
 * Clients
 * ------------------------------------------------------------------- */

/* The bound values of mcp_client_update, in its placeholders' order. */
static const int client_update_cols[] = {
    CLIENT_secret_hash, CLIENT_client_name, CLIENT_kind,
    CLIENT_token_endpoint_auth_method, CLIENT_grant_types, CLIENT_scope,
    CLIENT_metadata, CLIENT_updated_at, CLIENT_expires_at, CLIENT_disabled_at,
    CLIENT_client_id
};

static apr_status_t uri_row(mcp_store_t *st, apr_pool_t *p, apr_dbd_row_t *row,
                            void *baton)
{
    APR_ARRAY_PUSH((apr_array_header_t *)baton, const char *) = col_str(st, p, row, 0);
    return APR_SUCCESS;
}

static apr_status_t put_uris(mcp_store_t *st, const mcp_store_client_t *c)
{
    apr_status_t rv = APR_SUCCESS;
    int i;

    for (i = 0; c->redirect_uris && i < c->redirect_uris->nelts && rv == APR_SUCCESS; i++) {
        const char *args[2];

        args[0] = c->client_id;
        args[1] = APR_ARRAY_IDX(c->redirect_uris, i, const char *);
        rv = run(st, "mcp_uri_insert", NULL, 2, args);
    }
    return rv;
}

static apr_status_t client_check(mcp_store_t *st, const mcp_store_client_t *c)
{
    int i;

    if (!c || !given(c->client_id) || !given(c->kind)
        || !given(c->token_endpoint_auth_method) || !given(c->grant_types)) {
        return invalid(st, "a client needs client_id, kind, "
                       "token_endpoint_auth_method and grant_types");
    }
    for (i = 0; c->redirect_uris && i < c->redirect_uris->nelts; i++) {
        if (!APR_ARRAY_IDX(c->redirect_uris, i, const char *)) {
            return mcp_store_fail(st, MCP_EINVALID, "redirect URI %d of client "
                                  "'%s' is NULL", i, c->client_id);
        }
    }
    return APR_SUCCESS;
}

apr_status_t mcp_store_client_put(mcp_store_t *st, const mcp_store_client_t *c)
{
    apr_status_t rv;

    if ((rv = client_check(st, c)) != APR_SUCCESS
        || (rv = mcp_store_ready(st)) != APR_SUCCESS
        || (rv = mcp_store_tx_begin(st)) != APR_SUCCESS) {
        return rv;
    }
    /* Insert first: the primary key decides between concurrent puts, and
     * on SQLite the transaction never has to upgrade a read lock. */
    rv = insert(st, "mcp_client_insert", &client_table, c);
    if (rv == APR_SUCCESS) {
        rv = put_uris(st, c);
    }
    return conflict_if_exists(st, mcp_store_tx_end(st, rv), "mcp_client_exists",
                              c->client_id,
                              apr_psprintf(st->pool, "client '%s' exists already",
                                           c->client_id));
}

apr_status_t mcp_store_client_update(mcp_store_t *st, const mcp_store_client_t *c)
{
    const int n = (int)(sizeof(client_update_cols) / sizeof(client_update_cols[0]));
    const char *a[sizeof(client_update_cols) / sizeof(client_update_cols[0])];
    const char **row;
    apr_status_t rv;
    int i, nrows = 0;

    if ((rv = client_check(st, c)) != APR_SUCCESS
        || (rv = mcp_store_ready(st)) != APR_SUCCESS
        || (rv = mcp_store_tx_begin(st)) != APR_SUCCESS) {
        return rv;
    }
    row = bind_record(st->pool, &client_table, c);
    for (i = 0; i < n; i++) {
        a[i] = row[client_update_cols[i]];
    }
    rv = run(st, "mcp_client_update", &nrows, n, a);
    if (rv == APR_SUCCESS && nrows == 0) {
        rv = mcp_store_fail(st, MCP_ENOTFOUND, "no client '%s'", c->client_id);
    }
    if (rv == APR_SUCCESS) {
        rv = run(st, "mcp_uri_delete", NULL, 1, &c->client_id);
    }
    if (rv == APR_SUCCESS) {
        rv = put_uris(st, c);
    }
    return mcp_store_tx_end(st, rv);
}

static apr_status_t load_uris(mcp_store_t *st, apr_pool_t *p, mcp_store_client_t *c)
{
    c->redirect_uris = apr_array_make(p, 2, sizeof(const char *));
    return select_rows(st, p, "mcp_uri_list", 1, &c->client_id, uri_row,
                       c->redirect_uris, NULL);
}

apr_status_t mcp_store_client_get(mcp_store_t *st, apr_pool_t *p,
                                  const char *client_id,
                                  mcp_store_client_t **pc)
{
    void *c = NULL;
    apr_status_t rv;

    if (!p || !given(client_id) || !pc) {
        return invalid(st, "fetching a client needs a pool, its id and where "
                       "to put it");
    }
    rv = fetch_one(st, p, "mcp_client_get", 1, &client_id, &client_table,
                   apr_psprintf(st->pool, "no client '%s'", client_id), &c);
    if (rv == APR_SUCCESS && (rv = load_uris(st, p, c)) == APR_SUCCESS) {
        *pc = c;
    }
    return rv;
}

apr_status_t mcp_store_client_delete(mcp_store_t *st, const char *client_id)
{
    int nrows = 0;
    apr_status_t rv;

    if (!given(client_id)) {
        return invalid(st, "deleting a client needs its id");
    }
    rv = run(st, "mcp_client_delete", &nrows, 1, &client_id);
    if (rv == APR_SUCCESS && nrows == 0) {
        rv = mcp_store_fail(st, MCP_ENOTFOUND, "no client '%s'", client_id);
    }
    return rv;
}

apr_status_t mcp_store_client_touch(mcp_store_t *st, const char *client_id,
                                    apr_int64_t expires_at)
{
    const char *a[3];
    apr_status_t rv;
    int nrows = 0, found = 0;

    if (!given(client_id) || expires_at <= 0) {
        return invalid(st, "touching a client needs its id and a new expiry");
    }
    a[0] = a[1] = num(st->pool, expires_at, 0);
    a[2] = client_id;
    rv = run(st, "mcp_client_touch", &nrows, 3, a);
    if (rv == APR_SUCCESS && nrows == 0) {
        /* A client that never expires is left so; an absent one is not. */
        rv = exists(st, "mcp_client_exists", client_id, &found);
        if (rv == APR_SUCCESS && !found) {
            rv = mcp_store_fail(st, MCP_ENOTFOUND, "no client '%s'", client_id);
        }
    }
    return rv;
}

apr_status_t mcp_store_client_list(mcp_store_t *st, apr_pool_t *p,
                                   apr_array_header_t **pclients)
{
    apr_array_header_t *all = NULL;
    apr_status_t rv;
    int i;

    if (!p || !pclients) {
        return invalid(st, "listing clients needs a pool and where to put them");
    }
    rv = select_all(st, p, "mcp_client_list", 0, NULL, &client_table, &all);
    for (i = 0; rv == APR_SUCCESS && i < all->nelts; i++) {
        rv = load_uris(st, p, APR_ARRAY_IDX(all, i, mcp_store_client_t *));
    }
    if (rv == APR_SUCCESS) {
        *pclients = all;
    }
    return rv;
}

/* ---------------------------------------------------------------------
 * Refresh token families (used by codes and rotations alike)
 * ------------------------------------------------------------------- */

static apr_status_t refresh_check(mcp_store_t *st, const mcp_store_refresh_t *r)
{
    if (!r || !given(r->token_hash) || !given(r->family_id)
        || !given(r->client_id) || !given(r->subject) || r->expires_at <= 0) {
        return invalid(st, "a refresh token needs its hash, family, client, "
                       "subject and expiry");
    }
    return APR_SUCCESS;
}

static apr_status_t refresh_insert(mcp_store_t *st, const mcp_store_refresh_t *r)
{
    apr_status_t rv = refresh_check(st, r);

    return rv == APR_SUCCESS ? insert(st, "mcp_refresh_insert", &refresh_table, r)
                             : rv;
}

/* Revoke with @label (revoked_at = the first value) until a run finds
 * nothing more; *pn (may be NULL) gets how many were revoked. Once is
 * not always enough on PostgreSQL: a rotation that committed while the
 * first run waited for its row lock inserted a successor that this
 * run's snapshot cannot see; the next run sees it. A later rotation
 * waits for our row lock, then finds the token revoked. */
static apr_status_t revoke_until_done(mcp_store_t *st, const char *label,
                                      int nargs, const char *const *args, int *pn)
{
    apr_status_t rv;
    int total = 0, nrows, round = 0;

    do {
        nrows = 0;
        rv = run(st, label, &nrows, nargs, args);
        total += nrows;
    } while (rv == APR_SUCCESS && nrows > 0 && ++round < 8);
    if (pn) {
        *pn = total;
    }
    return rv;
}

/* Revoke the tokens where @label's one or two keys match. */
static apr_status_t revoke_by(mcp_store_t *st, const char *label, const char *k1,
                              const char *k2, apr_int64_t now, int *pn)
{
    const char *a[3];

    a[0] = num(st->pool, now, 0);
    a[1] = k1;
    a[2] = k2;
    return revoke_until_done(st, label, k2 ? 3 : 2, a, pn);
}

static apr_status_t revoke_family(mcp_store_t *st, const char *family_id,
                                  apr_int64_t now, int *pn)
{
    return revoke_by(st, "mcp_refresh_revoke_family", family_id, NULL, now, pn);
}

/* ---------------------------------------------------------------------
 * Authorization codes
 * ------------------------------------------------------------------- */

apr_status_t mcp_store_code_put(mcp_store_t *st, const mcp_store_code_t *c)
{

    if (!c || !given(c->code_hash) || !given(c->client_id) || !c->redirect_uri
        || !given(c->code_challenge) || !given(c->code_challenge_method)
        || !given(c->subject)) {
        return invalid(st, "a code needs its hash, client, redirect URI, PKCE "
                       "challenge, subject and expiry");
    }
    if (c->expires_at <= c->created_at
        || c->expires_at - c->created_at > MCP_STORE_CODE_MAX_LIFETIME) {
        return mcp_store_fail(st, MCP_EINVALID, "a code must expire within %d "
                              "seconds of its creation",
                              MCP_STORE_CODE_MAX_LIFETIME);
    }
    return conflict_if_exists(st, insert(st, "mcp_code_insert", &code_table, c),
                              "mcp_code_get", c->code_hash,
                              "the code exists already");
}

static apr_status_t code_load(mcp_store_t *st, apr_pool_t *p,
                              const char *code_hash, mcp_store_code_t **pc)
{
    void *c = NULL;
    apr_status_t rv = select_one(st, p, "mcp_code_get", 1, &code_hash,
                                 &code_table, &c);

    *pc = c;
    return rv;
}

apr_status_t mcp_store_code_get(mcp_store_t *st, apr_pool_t *p,
                                const char *code_hash, mcp_store_code_t **pc)
{
    void *c = NULL;
    apr_status_t rv;

    if (!p || !given(code_hash) || !pc) {
        return invalid(st, "fetching a code needs a pool, its hash and where to "
                       "put it");
    }
    rv = fetch_one(st, p, "mcp_code_get", 1, &code_hash, &code_table,
                   "no such authorization code", &c);
    if (rv == APR_SUCCESS) {
        *pc = c;
    }
    return rv;
}

/* The code was not redeemed: say why, and revoke what a replayed one
 * issued. Runs inside the redeem's transaction; *pcommit is set when
 * the revocation must be committed although the caller gets a failure. */
static apr_status_t code_refused(mcp_store_t *st, const mcp_store_code_t *c,
                                 apr_int64_t now, int *prevoked, int *pcommit)
{
    const char *what;
    apr_status_t rv;

    if (!c->used_at) {
        return mcp_store_fail(st, MCP_EEXPIRED, "the authorization code expired");
    }
    /* RFC 6749 4.1.2: revoke what was issued from a code used twice. */
    if (c->issued_family
        && (rv = revoke_family(st, c->issued_family, now, prevoked)) != APR_SUCCESS) {
        return rv;
    }
    *pcommit = 1;
    what = !c->issued_family ? "no refresh token was issued from it"
         : apr_psprintf(st->pool, "its refresh token family %s is revoked (%d "
                        "tokens)", c->issued_family, *prevoked);
    mcp_log(MCP_LOG_MARK, MCP_LOG_WARNING, 0, st->pool, MCPLOGNO(01050)
            "store: an authorization code redeemed %" APR_INT64_T_FMT " s ago "
            "was presented again (client %s, subject %s): %s", now - c->used_at,
            c->client_id, c->subject, what);
    return mcp_store_fail(st, MCP_ECONFLICT, "the authorization code was "
                          "redeemed already: what was issued from it is revoked");
}

/* A refresh token issued with a code must be the code's client's and
 * subject's. */
static apr_status_t code_refresh_match(mcp_store_t *st, const mcp_store_code_t *c,
                                       const mcp_store_refresh_t *r)
{
    if (strcmp(r->client_id, c->client_id) || strcmp(r->subject, c->subject)) {
        return invalid(st, "the refresh token issued with an authorization code "
                       "must have its client and subject");
    }
    return APR_SUCCESS;
}

apr_status_t mcp_store_code_redeem(mcp_store_t *st, apr_pool_t *p,
                                   const char *code_hash, apr_int64_t now,
                                   const char *family_id, const char *jti,
                                   const mcp_store_refresh_t *refresh,
                                   mcp_store_code_t **pc, int *prevoked)
{
    mcp_store_code_t *c = NULL;
    const char *a[5];
    int nrows = 0, n = 0, commit = 0;
    apr_status_t rv;

    if (pc) {
        *pc = NULL;
    }
    if (prevoked) {
        *prevoked = 0;
    }
    if (!p || !given(code_hash) || !given(jti)) {
        return invalid(st, "redeeming a code needs a pool, its hash and the "
                       "access token's jti");
    }
    if (refresh && ((rv = refresh_check(st, refresh)) != APR_SUCCESS)) {
        return rv;
    }
    if (refresh && (!family_id || strcmp(refresh->family_id, family_id))) {
        return invalid(st, "the refresh token issued with an authorization code "
                       "must be of the family recorded for it");
    }
    if ((rv = mcp_store_ready(st)) != APR_SUCCESS
        || (rv = mcp_store_tx_begin(st)) != APR_SUCCESS) {
        return rv;
    }
    a[0] = num(st->pool, now, 0);
    a[1] = family_id;
    a[2] = jti;
    a[3] = code_hash;
    a[4] = a[0];
    rv = run(st, "mcp_code_redeem", &nrows, 5, a);
    if (rv == APR_SUCCESS) {
        rv = code_load(st, p, code_hash, &c);
    }
    if (rv == APR_SUCCESS && !c) {
        rv = mcp_store_fail(st, MCP_ENOTFOUND, "no such authorization code");
    }
    else if (rv == APR_SUCCESS && nrows == 1) {
        if (refresh && (rv = code_refresh_match(st, c, refresh)) == APR_SUCCESS) {
            rv = refresh_insert(st, refresh);
        }
    }
    else if (rv == APR_SUCCESS) {
        rv = code_refused(st, c, now, &n, &commit);
    }
    if (commit) {
        apr_status_t crv = mcp_store_tx_end(st, APR_SUCCESS);
        rv = crv == APR_SUCCESS ? rv : crv;
    }
    else {
        rv = mcp_store_tx_end(st, rv);
    }
    if (pc && (rv == APR_SUCCESS || rv == MCP_ECONFLICT || rv == MCP_EEXPIRED)) {
        *pc = c;
    }
    if (prevoked && rv == MCP_ECONFLICT) {
        *prevoked = n;
    }
    return rv;
}

/* ---------------------------------------------------------------------
 * Refresh tokens
 * ------------------------------------------------------------------- */

apr_status_t mcp_store_refresh_put(mcp_store_t *st, const mcp_store_refresh_t *r)
{
    apr_status_t rv = refresh_insert(st, r);

    /* (r is not NULL when the insert got as far as the database.) */
    return rv != MCP_ESTORE ? rv
         : conflict_if_exists(st, rv, "mcp_refresh_get", r->token_hash,
                              "the refresh token exists already");
}

static apr_status_t refresh_load(mcp_store_t *st, apr_pool_t *p,
                                 const char *token_hash, mcp_store_refresh_t **pr)
{
    void *r = NULL;
    apr_status_t rv = select_one(st, p, "mcp_refresh_get", 1, &token_hash,
                                 &refresh_table, &r);

    *pr = r;
    return rv;
}

apr_status_t mcp_store_refresh_get(mcp_store_t *st, apr_pool_t *p,
                                   const char *token_hash,
                                   mcp_store_refresh_t **pr)
{
    void *r = NULL;
    apr_status_t rv;

    if (!p || !given(token_hash) || !pr) {
        return invalid(st, "fetching a refresh token needs a pool, its hash and "
                       "where to put it");
    }
    rv = fetch_one(st, p, "mcp_refresh_get", 1, &token_hash, &refresh_table,
                   "no such refresh token", &r);
    if (rv == APR_SUCCESS) {
        *pr = r;
    }
    return rv;
}

/* The token a rotation stores: @next in the old token's family, for its
 * client and subject. */
static void successor_of(const mcp_store_refresh_t *old,
                         const mcp_store_refresh_t *next, apr_int64_t now,
                         mcp_store_refresh_t *nr)
{
    *nr = *next;
    nr->family_id = old->family_id;
    nr->client_id = old->client_id;
    nr->subject = old->subject;
    nr->replaced_by = NULL;
    nr->rotated_at = 0;
    nr->revoked_at = 0;
    if (!nr->created_at) {
        nr->created_at = now;
    }
}

/* A retry within the grace: if the old token's successor is still
 * current, the client never got (or never used) the first answer: store
 * @next as a further successor and point the old token at it. *pdone is
 * set when that was done. The caller holds the old token's row lock. */
static apr_status_t refresh_retry(mcp_store_t *st, apr_pool_t *p,
                                  mcp_store_refresh_t *old,
                                  const mcp_store_refresh_t *next,
                                  apr_int64_t now, int grace, int *pdone)
{
    mcp_store_refresh_t nr, *succ = NULL;
    const char *a[2];
    apr_status_t rv;

    *pdone = 0;
    if (grace < 0 || now - old->rotated_at > grace || !old->replaced_by) {
        return APR_SUCCESS;
    }
    if ((rv = refresh_load(st, p, old->replaced_by, &succ)) != APR_SUCCESS
        || !succ || succ->rotated_at || succ->revoked_at || succ->expires_at <= now) {
        return rv;
    }
    successor_of(old, next, now, &nr);
    if ((rv = refresh_insert(st, &nr)) != APR_SUCCESS) {
        return rv;
    }
    a[0] = next->token_hash;
    a[1] = old->token_hash;
    if ((rv = run(st, "mcp_refresh_relink", NULL, 2, a)) != APR_SUCCESS) {
        return rv;
    }
    old->replaced_by = apr_pstrdup(p, next->token_hash);
    *pdone = 1;
    mcp_log(MCP_LOG_MARK, MCP_LOG_DEBUG, 0, st->pool, MCPLOGNO(01053)
            "store: a refresh token of client %s (subject %s) rotated %"
            APR_INT64_T_FMT " s ago was presented again within the grace of %d "
            "s, its successor unused: a further successor is stored in family %s",
            old->client_id, old->subject, now - old->rotated_at, grace,
            old->family_id);
    return APR_SUCCESS;
}

/* The old token was not rotated: say why, give a retry within the grace
 * a further successor, and revoke the family of a replayed token. Runs
 * inside the rotation's transaction; *pcommit is set when a revocation
 * must be committed although the caller gets a failure. */
static apr_status_t refresh_refused(mcp_store_t *st, apr_pool_t *p,
                                    mcp_store_refresh_t *old,
                                    const mcp_store_refresh_t *next,
                                    apr_int64_t now, int grace,
                                    mcp_store_refresh_outcome_e *poutcome,
                                    int *pcommit)
{
    apr_status_t rv;
    int n = 0, done = 0;

    if (old->revoked_at) {
        *poutcome = MCP_REFRESH_REVOKED;
        return mcp_store_fail(st, MCP_EINVALID, "the refresh token was revoked");
    }
    if (!old->rotated_at) {
        *poutcome = MCP_REFRESH_EXPIRED;
        return mcp_store_fail(st, MCP_EEXPIRED, "the refresh token expired");
    }
    if ((rv = refresh_retry(st, p, old, next, now, grace, &done)) != APR_SUCCESS
        || done) {
        if (done) {
            *poutcome = MCP_REFRESH_REUSED_IN_GRACE;
        }
        return rv;
    }
    /* A replayed token: someone else may hold the family. */
    if ((rv = revoke_family(st, old->family_id, now, &n)) != APR_SUCCESS) {
        return rv;
    }
    *poutcome = MCP_REFRESH_REUSED;
    *pcommit = 1;
    old->revoked_at = now;
    mcp_log(MCP_LOG_MARK, MCP_LOG_WARNING, 0, st->pool, MCPLOGNO(00402)
            "store: a refresh token rotated %" APR_INT64_T_FMT " s ago was used "
            "again (client %s, subject %s, %s): its family %s is revoked (%d "
            "tokens)", now - old->rotated_at, old->client_id, old->subject,
            grace < 0 ? "no retry allowed"
            : now - old->rotated_at <= grace
                ? "within the grace, but its successor was used or is no "
                  "longer valid" : "after the grace",
            old->family_id, n);
    return mcp_store_fail(st, MCP_ECONFLICT, "a rotated refresh token was used "
                          "again: its family is revoked");
}

apr_status_t mcp_store_refresh_rotate(mcp_store_t *st, apr_pool_t *p,
                                      const char *old_hash, const char *client_id,
                                      const mcp_store_refresh_t *next,
                                      apr_int64_t now, int grace,
                                      mcp_store_refresh_outcome_e *poutcome,
                                      mcp_store_refresh_t **pold)
{
    mcp_store_refresh_outcome_e outcome = MCP_REFRESH_NOT_FOUND;
    mcp_store_refresh_t *old = NULL, nr;
    const char *a[5];
    int nrows = 0, commit = 0;
    apr_status_t rv;

    if (!poutcome) {
        poutcome = &outcome;
    }
    *poutcome = MCP_REFRESH_NOT_FOUND;
    if (pold) {
        *pold = NULL;
    }
    if (!p || !given(old_hash) || !given(client_id) || !next
        || !given(next->token_hash) || next->expires_at <= 0) {
        return invalid(st, "rotation needs a pool, the old token's hash, the "
                       "client and the new token's hash and expiry");
    }
    if ((rv = mcp_store_ready(st)) != APR_SUCCESS
        || (rv = mcp_store_tx_begin(st)) != APR_SUCCESS) {
        return rv;
    }
    /* Write first: the conditional update decides, under the database's
     * row lock (PostgreSQL) or write lock (SQLite), which of two
     * concurrent rotations wins. */
    a[0] = num(st->pool, now, 0);
    a[1] = next->token_hash;
    a[2] = old_hash;
    a[3] = client_id;
    a[4] = a[0];
    rv = run(st, "mcp_refresh_rotate", &nrows, 5, a);
    /* Not rotated: take the old token's row lock before reading it, so
     * that what is decided below holds until we commit (a concurrent
     * retry, rotation or revocation of it waits, and was waited for).
     * Rows are locked from a token to its successors, never the other
     * way: no deadlock between retries and rotations. */
    if (rv == APR_SUCCESS && nrows == 0) {
        rv = run(st, "mcp_refresh_lock", NULL, 1, &old_hash);
    }
    if (rv == APR_SUCCESS) {
        rv = refresh_load(st, p, old_hash, &old);
    }
    if (rv == APR_SUCCESS && old && strcmp(old->client_id, client_id)) {
        /* Another client's token is unknown to this one; nothing is
         * revoked (the presenter may not be the holder). */
        mcp_log(MCP_LOG_MARK, MCP_LOG_DEBUG, 0, st->pool, MCPLOGNO(01052)
                "store: client %s presented a refresh token of client %s: "
                "refused as unknown", client_id, old->client_id);
        old = NULL;
    }
    if (rv == APR_SUCCESS && !old) {
        rv = mcp_store_fail(st, MCP_ENOTFOUND, "no such refresh token");
    }
    else if (rv == APR_SUCCESS && nrows == 1) {
        successor_of(old, next, now, &nr);
        rv = refresh_insert(st, &nr);
        if (rv == APR_SUCCESS) {
            *poutcome = MCP_REFRESH_ROTATED;
        }
    }
    else if (rv == APR_SUCCESS) {
        rv = refresh_refused(st, p, old, next, now, grace, poutcome, &commit);
    }
    if (commit) {
        /* The revocation is committed although the caller gets a failure. */
        apr_status_t crv = mcp_store_tx_end(st, APR_SUCCESS);
        rv = crv == APR_SUCCESS ? rv : crv;
    }
    else {
        rv = mcp_store_tx_end(st, rv);
    }
    if (rv == MCP_ESTORE || rv == MCP_ESCHEMA) {
        /* Rolled back: nothing was decided. */
        *poutcome = MCP_REFRESH_NOT_FOUND;
        old = NULL;
    }
    if (pold) {
        *pold = old;
    }
    return rv;
}

apr_status_t mcp_store_refresh_revoke(mcp_store_t *st, const char *token_hash,
                                      const char *client_id, apr_int64_t now,
                                      int *pn)
{
    mcp_store_refresh_t *r = NULL;
    apr_status_t rv;
    int n = 0;

    if (pn) {
        *pn = 0;
    }
    if (!given(token_hash)) {
        return invalid(st, "revoking a refresh token needs its hash");
    }
    if ((rv = mcp_store_ready(st)) != APR_SUCCESS
        || (rv = mcp_store_tx_begin(st)) != APR_SUCCESS) {
        return rv;
    }
    rv = refresh_load(st, st->pool, token_hash, &r);
    if (rv == APR_SUCCESS && r && client_id && strcmp(r->client_id, client_id)) {
        /* RFC 7009 2.1: another client's token is not revoked, and the
         * answer does not tell it exists. */
        mcp_log(MCP_LOG_MARK, MCP_LOG_DEBUG, 0, st->pool, MCPLOGNO(01054)
                "store: client %s asked to revoke a refresh token of client "
                "%s: refused as unknown", client_id, r->client_id);
        r = NULL;
    }
    if (rv == APR_SUCCESS && !r) {
        rv = mcp_store_fail(st, MCP_ENOTFOUND, "no such refresh token");
    }
    else if (rv == APR_SUCCESS) {
        rv = revoke_family(st, r->family_id, now, &n);
    }
    rv = mcp_store_tx_end(st, rv);
    if (pn && rv == APR_SUCCESS) {
        *pn = n;
    }
    return rv;
}

apr_status_t mcp_store_refresh_revoke_family(mcp_store_t *st, const char *family_id,
                                             apr_int64_t now, int *pn)
{
    if (pn) {
        *pn = 0;
    }
    if (!given(family_id)) {
        return invalid(st, "revoking a family needs its id");
    }
    return revoke_family(st, family_id, now, pn);
}

apr_status_t mcp_store_refresh_revoke_user(mcp_store_t *st, const char *subject,
                                           const char *client_id, apr_int64_t now,
                                           int *pn)
{
    if (pn) {
        *pn = 0;
    }
    if (!given(subject)) {
        return invalid(st, "revoking a user's refresh tokens needs the subject");
    }
    return revoke_by(st, client_id ? "mcp_refresh_revoke_subject_client"
                                   : "mcp_refresh_revoke_subject",
                     subject, client_id, now, pn);
}

apr_status_t mcp_store_refresh_revoke_client(mcp_store_t *st, const char *client_id,
                                             apr_int64_t now, int *pn)
{
    if (pn) {
        *pn = 0;
    }
    if (!given(client_id)) {
        return invalid(st, "revoking a client's refresh tokens needs the client "
                       "id");
    }
    return revoke_by(st, "mcp_refresh_revoke_client", client_id, NULL, now, pn);
}

/* The first column of a count(*) row. */
static apr_status_t count_row(mcp_store_t *st, apr_pool_t *p, apr_dbd_row_t *row,
                              void *baton)
{
    (void)p;
    *(int *)baton = (int)col_int(st, row, 0);
    return APR_SUCCESS;
}

apr_status_t mcp_store_refresh_count(mcp_store_t *st, const char *client_id,
                                     const char *subject, apr_int64_t now, int *pn)
{
    const char *a[3], *label;
    int nargs = 1;

    if (!pn) {
        return invalid(st, "counting refresh tokens needs where to put the count");
    }
    *pn = 0;
    a[0] = num(st->pool, now, 0);
    if (client_id) {
        a[nargs++] = client_id;
    }
    if (subject) {
        a[nargs++] = subject;
    }
    label = client_id && subject ? "mcp_refresh_count_client_subject"
          : client_id ? "mcp_refresh_count_client"
          : subject ? "mcp_refresh_count_subject" : "mcp_refresh_count";
    return select_rows(st, st->pool, label, nargs, a, count_row, pn, NULL);
}

/* ---------------------------------------------------------------------
 * Consents
 * ------------------------------------------------------------------- */

apr_status_t mcp_store_consent_put(mcp_store_t *st, const mcp_store_consent_t *c)
{
    if (!c || !given(c->subject) || !given(c->client_id) || !c->resource
        || !c->scope || c->expires_at <= 0) {
        return invalid(st, "a consent needs subject, client, resource (\"\" for "
                       "none), scope and expiry");
    }
    return insert(st, "mcp_consent_put", &consent_table, c);
}

apr_status_t mcp_store_consent_get(mcp_store_t *st, apr_pool_t *p,
                                   const char *subject, const char *client_id,
                                   const char *resource, apr_int64_t now,
                                   mcp_store_consent_t **pc)
{
    void *rec = NULL;
    mcp_store_consent_t *c;
    const char *a[3];
    apr_status_t rv;

    if (!p || !given(subject) || !given(client_id) || !resource || !pc) {
        return invalid(st, "fetching a consent needs a pool, the subject, client, "
                       "resource (\"\" for none) and where to put it");
    }
    a[0] = subject;
    a[1] = client_id;
    a[2] = resource;
    rv = fetch_one(st, p, "mcp_consent_get", 3, a, &consent_table, "no consent",
                   &rec);
    if (rv != APR_SUCCESS) {
        return rv;
    }
    *pc = c = rec;
    if (c->expires_at <= now) {
        return mcp_store_fail(st, MCP_EEXPIRED, "the consent expired");
    }
    return APR_SUCCESS;
}

apr_status_t mcp_store_consent_delete(mcp_store_t *st, const char *subject,
                                      const char *client_id, const char *resource)
{
    const char *a[3];
    int nrows = 0;
    apr_status_t rv;

    if (!given(subject) || !given(client_id) || !resource) {
        return invalid(st, "deleting a consent needs the subject, client and "
                       "resource (\"\" for none)");
    }
    a[0] = subject;
    a[1] = client_id;
    a[2] = resource;
    rv = run(st, "mcp_consent_delete", &nrows, 3, a);
    if (rv == APR_SUCCESS && nrows == 0) {
        rv = mcp_store_fail(st, MCP_ENOTFOUND, "no consent");
    }
    return rv;
}

apr_status_t mcp_store_consent_list(mcp_store_t *st, apr_pool_t *p,
                                    const char *subject,
                                    apr_array_header_t **plist)
{
    if (!p || !given(subject) || !plist) {
        return invalid(st, "listing consents needs a pool, the subject and where "
                       "to put them");
    }
    return select_all(st, p, "mcp_consent_list", 1, &subject, &consent_table,
                      plist);
}

apr_status_t mcp_store_consent_revoke(mcp_store_t *st, const char *subject,
                                      const char *client_id, int *pn)
{
    const char *a[2];
    int nrows = 0;
    apr_status_t rv;

    if (pn) {
        *pn = 0;
    }
    if (!given(subject)) {
        return invalid(st, "revoking consents needs the subject");
    }
    a[0] = subject;
    a[1] = client_id;
    rv = run(st, client_id ? "mcp_consent_revoke_client" : "mcp_consent_revoke",
             &nrows, client_id ? 2 : 1, a);
    if (pn && rv == APR_SUCCESS) {
        *pn = nrows;
    }
    return rv;
}

/* ---------------------------------------------------------------------
 * Upstream tokens
 * ------------------------------------------------------------------- */

static apr_status_t upstream_check(mcp_store_t *st, const mcp_store_upstream_t *u)
{
    if (!u || !given(u->subject) || !given(u->provider) || !given(u->sealed)
        || !given(u->key_id)) {
        return invalid(st, "an upstream token needs subject, provider, sealed "
                       "value and key id");
    }
    return APR_SUCCESS;
}

apr_status_t mcp_store_upstream_put(mcp_store_t *st, const mcp_store_upstream_t *u)
{
    mcp_store_upstream_t row;
    apr_status_t rv = upstream_check(st, u);

    if (rv != APR_SUCCESS) {
        return rv;
    }
    /* What the store decides, not the caller. */
    row = *u;
    row.version = 1;
    row.lease_holder = NULL;
    row.lease_until = 0;
    row.last_used_at = 0;   /* on replace, the row keeps its own */
    return insert(st, "mcp_upstream_put", &upstream_table, &row);
}

/* The bound values of mcp_upstream_cas but the last (the version), in its
 * placeholders' order. */
static const int upstream_cas_cols[] = {
    UPSTREAM_sealed, UPSTREAM_key_id, UPSTREAM_scope, UPSTREAM_expires_at,
    UPSTREAM_refresh_expires_at, UPSTREAM_updated_at, UPSTREAM_subject,
    UPSTREAM_provider
};

#define UPSTREAM_CAS_N (sizeof(upstream_cas_cols) / sizeof(upstream_cas_cols[0]))

/* After a conditional update changed nothing: is the row there? */
static apr_status_t upstream_missing(mcp_store_t *st, const char *subject,
                                     const char *provider, int *pmissing)
{
    void *u = NULL;
    const char *a[2];
    apr_status_t rv;

    a[0] = subject;
    a[1] = provider;
    rv = select_one(st, st->pool, "mcp_upstream_get", 2, a, &upstream_table, &u);
    *pmissing = !u;
    return rv;
}

apr_status_t mcp_store_upstream_update_cas(mcp_store_t *st,
                                           const mcp_store_upstream_t *u,
                                           apr_int64_t expected_version)
{
    const char *a[UPSTREAM_CAS_N + 1];
    const char **row;
    apr_status_t rv = upstream_check(st, u);
    apr_size_t i;
    int nrows = 0, missing = 0;

    if (rv != APR_SUCCESS) {
        return rv;
    }
    if (expected_version <= 0) {
        return invalid(st, "updating an upstream token needs the version read");
    }
    row = bind_record(st->pool, &upstream_table, u);
    for (i = 0; i < UPSTREAM_CAS_N; i++) {
        a[i] = row[upstream_cas_cols[i]];
    }
    a[UPSTREAM_CAS_N] = num(st->pool, expected_version, 0);
    rv = run(st, "mcp_upstream_cas", &nrows, (int)UPSTREAM_CAS_N + 1, a);
    if (rv == APR_SUCCESS && nrows == 0) {
        rv = upstream_missing(st, u->subject, u->provider, &missing);
        if (rv == APR_SUCCESS) {
            rv = missing
                ? mcp_store_fail(st, MCP_ENOTFOUND, "no upstream token for "
                                 "that provider")
                : mcp_store_fail(st, MCP_ECONFLICT, "the upstream token of "
                                 "that provider changed meanwhile (version "
                                 "%" APR_INT64_T_FMT " was read)",
                                 expected_version);
        }
    }
    return rv;
}

apr_status_t mcp_store_upstream_lease(mcp_store_t *st, const char *subject,
                                      const char *provider, const char *holder,
                                      apr_int64_t now, apr_int64_t until,
                                      apr_int64_t *puntil)
{
    const char *a[6];
    mcp_store_upstream_t *u = NULL;
    apr_status_t rv;
    int nrows = 0;

    if (puntil) {
        *puntil = 0;
    }
    if (!given(subject) || !given(provider) || !given(holder)) {
        return invalid(st, "a refresh lease needs the subject, the provider "
                       "and its holder");
    }
    if (until <= now) {
        return invalid(st, "a refresh lease must end after it is taken");
    }
    a[0] = holder;
    a[1] = num(st->pool, until, 0);
    a[2] = subject;
    a[3] = provider;
    a[4] = num(st->pool, now, 0);
    a[5] = holder;
    rv = run(st, "mcp_upstream_lease", &nrows, 6, a);
    if (rv != APR_SUCCESS || nrows == 1) {
        return rv;
    }
    rv = select_one(st, st->pool, "mcp_upstream_get", 2, a + 2, &upstream_table,
                    (void **)&u);
    if (rv != APR_SUCCESS) {
        return rv;
    }
    if (!u) {
        return mcp_store_fail(st, MCP_ENOTFOUND, "no upstream token for that "
                              "provider");
    }
    if (puntil) {
        *puntil = u->lease_until;
    }
    return mcp_store_fail(st, MCP_ECONFLICT, "another process holds the refresh "
                          "lease of that upstream token");
}

apr_status_t mcp_store_upstream_release(mcp_store_t *st, const char *subject,
                                        const char *provider, const char *holder)
{
    const char *a[3];

    if (!given(subject) || !given(provider) || !given(holder)) {
        return invalid(st, "a refresh lease needs the subject, the provider "
                       "and its holder");
    }
    a[0] = subject;
    a[1] = provider;
    a[2] = holder;
    return run(st, "mcp_upstream_release", NULL, 3, a);
}

apr_status_t mcp_store_upstream_touch(mcp_store_t *st, const char *subject,
                                      const char *provider, apr_int64_t now,
                                      int *pwritten)
{
    const char *a[4];
    int nrows = 0;
    apr_status_t rv;

    if (pwritten) {
        *pwritten = 0;
    }
    if (!given(subject) || !given(provider) || now <= 0) {
        return invalid(st, "noting the use of an upstream token needs the "
                       "subject, the provider and the time");
    }
    a[0] = num(st->pool, now, 0);
    a[1] = subject;
    a[2] = provider;
    a[3] = num(st->pool, now - MCP_STORE_UPSTREAM_TOUCH_INTERVAL, 0);
    rv = run(st, "mcp_upstream_touch", &nrows, 4, a);
    if (rv == APR_SUCCESS && pwritten) {
        *pwritten = nrows > 0;
    }
    return rv;
}

apr_status_t mcp_store_upstream_get(mcp_store_t *st, apr_pool_t *p,
                                    const char *subject, const char *provider,
                                    mcp_store_upstream_t **pu)
{
    void *u = NULL;
    const char *a[2];
    apr_status_t rv;

    if (!p || !given(subject) || !given(provider) || !pu) {
        return invalid(st, "fetching an upstream token needs a pool, the subject, "
                       "the provider and where to put it");
    }
    a[0] = subject;
    a[1] = provider;
    rv = fetch_one(st, p, "mcp_upstream_get", 2, a, &upstream_table,
                   "no upstream token for that provider", &u);
    if (rv == APR_SUCCESS) {
        *pu = u;
    }
    return rv;
}

apr_status_t mcp_store_upstream_delete(mcp_store_t *st, const char *subject,
                                       const char *provider)
{
    const char *a[2];
    int nrows = 0;
    apr_status_t rv;

    if (!given(subject) || !given(provider)) {
        return invalid(st, "deleting an upstream token needs the subject and the "
                       "provider");
    }
    a[0] = subject;
    a[1] = provider;
    rv = run(st, "mcp_upstream_delete", &nrows, 2, a);
    if (rv == APR_SUCCESS && nrows == 0) {
        rv = mcp_store_fail(st, MCP_ENOTFOUND, "no upstream token for that "
                            "provider");
    }
    return rv;
}

apr_status_t mcp_store_upstream_list(mcp_store_t *st, apr_pool_t *p,
                                     const char *subject,
                                     apr_array_header_t **plist)
{
    if (!p || !given(subject) || !plist) {
        return invalid(st, "listing upstream tokens needs a pool, the subject and "
                       "where to put them");
    }
    return select_all(st, p, "mcp_upstream_list", 1, &subject, &upstream_table,
                      plist);
}

apr_status_t mcp_store_upstream_list_provider(mcp_store_t *st, apr_pool_t *p,
                                              const char *provider,
                                              apr_array_header_t **plist)
{
    if (!p || !given(provider) || !plist) {
        return invalid(st, "listing a provider's upstream tokens needs a pool, "
                       "the provider and where to put them");
    }
    return select_all(st, p, "mcp_upstream_list_provider", 1, &provider,
                      &upstream_table, plist);
}

apr_status_t mcp_store_upstream_delete_provider(mcp_store_t *st,
                                                const char *provider, int *pn)
{
    int nrows = 0;
    apr_status_t rv;

    if (!given(provider)) {
        return invalid(st, "deleting a provider's upstream tokens needs the "
                       "provider");
    }
    rv = run(st, "mcp_upstream_delete_provider", &nrows, 1, &provider);
    if (pn) {
        *pn = rv == APR_SUCCESS ? nrows : 0;
    }
    return rv;
}

/* ---------------------------------------------------------------------
 * Pending upstream authorizations
 * ------------------------------------------------------------------- */

apr_status_t mcp_store_pending_put(mcp_store_t *st, const mcp_store_pending_t *a)
{
    if (!a || !given(a->state_hash) || !given(a->subject) || !given(a->provider)
        || !given(a->verifier_sealed)) {
        return invalid(st, "a pending authorization needs the state hash, "
                       "subject, provider and sealed verifier");
    }
    if (a->expires_at <= a->created_at
        || a->expires_at - a->created_at > MCP_STORE_PENDING_MAX_LIFETIME) {
        return mcp_store_fail(st, MCP_EINVALID, "a pending authorization must "
                              "expire within %d seconds of its creation",
                              MCP_STORE_PENDING_MAX_LIFETIME);
    }
    return conflict_if_exists(st, insert(st, "mcp_pending_insert", &pending_table, a),
                              "mcp_pending_get", a->state_hash,
                              "the pending authorization exists already");
}

apr_status_t mcp_store_pending_take(mcp_store_t *st, apr_pool_t *p,
                                    const char *state_hash, apr_int64_t now,
                                    mcp_store_pending_t **pa)
{
    mcp_store_pending_t *a = NULL;
    apr_status_t rv;
    int nrows = 0, commit = 0;

    if (pa) {
        *pa = NULL;
    }
    if (!p || !given(state_hash) || !pa) {
        return invalid(st, "taking a pending authorization needs a pool, the "
                       "state hash and where to put it");
    }
    if ((rv = mcp_store_ready(st)) != APR_SUCCESS
        || (rv = mcp_store_tx_begin(st)) != APR_SUCCESS) {
        return rv;
    }
    rv = select_one(st, p, "mcp_pending_get", 1, &state_hash, &pending_table,
                    (void **)&a);
    if (rv == APR_SUCCESS && a) {
        /* The delete decides between concurrent takes: on PostgreSQL the
         * loser waits for the winner's row lock, then deletes nothing. */
        rv = run(st, "mcp_pending_delete", &nrows, 1, &state_hash);
    }
    if (rv == APR_SUCCESS && nrows == 0) {
        rv = mcp_store_fail(st, MCP_ENOTFOUND, "no such pending authorization");
    }
    else if (rv == APR_SUCCESS && a->expires_at <= now) {
        /* Gone for good: the delete is committed all the same. */
        commit = 1;
        rv = mcp_store_fail(st, MCP_EEXPIRED, "the pending authorization expired");
    }
    if (commit) {
        apr_status_t crv = mcp_store_tx_end(st, APR_SUCCESS);
        rv = crv == APR_SUCCESS ? rv : crv;
    }
    else {
        rv = mcp_store_tx_end(st, rv);
    }
    if (rv == APR_SUCCESS) {
        *pa = a;
    }
    return rv;
}

/* ---------------------------------------------------------------------
 * Revocations of access tokens
 * ------------------------------------------------------------------- */

static int revocation_kind(const char *kind)
{
    return kind && (!strcmp(kind, "client") || !strcmp(kind, "subject")
                    || !strcmp(kind, "jti"));
}

apr_status_t mcp_store_revocation_put(mcp_store_t *st, const char *kind,
                                      const char *value, apr_int64_t now,
                                      apr_int64_t expires_at)
{
    mcp_store_revocation_t r;

    if (!revocation_kind(kind) || !given(value)) {
        return invalid(st, "a revocation needs a kind (client, subject or jti) "
                       "and a value");
    }
    if (expires_at <= now) {
        return invalid(st, "a revocation must expire after it is made");
    }
    r.kind = kind;
    r.value = value;
    r.created_at = now;
    r.expires_at = expires_at;
    return insert(st, "mcp_revocation_put", &revocation_table, &r);
}

apr_status_t mcp_store_revocation_since(mcp_store_t *st, apr_pool_t *p,
                                        apr_int64_t since,
                                        apr_array_header_t **plist)
{
    const char *a[2];

    if (!p || !plist) {
        return invalid(st, "listing revocations needs a pool and where to put "
                       "them");
    }
    /* What has expired concerns no token any more: this host's clock. */
    a[0] = num(st->pool, since, 0);
    a[1] = num(st->pool, (apr_int64_t)apr_time_sec(apr_time_now()), 0);
    return select_all(st, p, "mcp_revocation_since", 2, a, &revocation_table,
                      plist);
}

/* ---------------------------------------------------------------------
 * Expiry
 * ------------------------------------------------------------------- */

apr_status_t mcp_store_purge(mcp_store_t *st, apr_int64_t now,
                             mcp_store_purge_t *counts)
{
    const char *t = num(st->pool, now, 0);
    const char *tt[2];
    apr_status_t rv;
    mcp_store_purge_t dummy;

    tt[0] = tt[1] = t;
    if (!counts) {
        counts = &dummy;
    }
    memset(counts, 0, sizeof(*counts));
    if ((rv = run(st, "mcp_purge_codes", &counts->codes, 1, &t)) == APR_SUCCESS
        && (rv = run(st, "mcp_purge_refresh", &counts->refresh_tokens, 1, &t)) == APR_SUCCESS
        && (rv = run(st, "mcp_purge_consents", &counts->consents, 1, &t)) == APR_SUCCESS
        && (rv = run(st, "mcp_purge_clients", &counts->clients, 2, tt)) == APR_SUCCESS
        && (rv = run(st, "mcp_purge_revocations", &counts->revocations, 1,
                     &t)) == APR_SUCCESS) {
        rv = run(st, "mcp_purge_pending", &counts->pending, 1, &t);
    }
    return rv;
}
