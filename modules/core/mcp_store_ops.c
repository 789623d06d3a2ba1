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

#include <string.h>

#include <apr_strings.h>

#include "mcp/mcp_store.h"
#include "mcp_store_private.h"

#define CLIENT_COLS "client_id, secret_hash, client_name, kind, " \
    "token_endpoint_auth_method, grant_types, scope, metadata, created_at, " \
    "updated_at, expires_at"
#define CODE_COLS "code_hash, client_id, redirect_uri, code_challenge, " \
    "code_challenge_method, resource, scope, subject, issued_family, " \
    "created_at, expires_at, used_at"
#define REFRESH_COLS "token_hash, family_id, client_id, subject, resource, " \
    "scope, replaced_by, created_at, expires_at, rotated_at, revoked_at"
#define CONSENT_COLS "subject, client_id, resource, scope, granted_at, expires_at"
#define UPSTREAM_COLS "subject, provider, sealed, key_id, scope, expires_at, " \
    "created_at, updated_at"

const mcp_store_statement_t mcp_store_statements[] = {
    { "mcp_client_exists", "SELECT client_id FROM mcp_clients WHERE client_id = %s" },
    { "mcp_client_insert", "INSERT INTO mcp_clients (" CLIENT_COLS ") VALUES "
      "(%s, %s, %s, %s, %s, %s, %s, %s, %lld, %lld, %lld)" },
    { "mcp_client_update", "UPDATE mcp_clients SET secret_hash = %s, "
      "client_name = %s, kind = %s, token_endpoint_auth_method = %s, "
      "grant_types = %s, scope = %s, metadata = %s, updated_at = %lld, "
      "expires_at = %lld WHERE client_id = %s" },
    { "mcp_client_get", "SELECT " CLIENT_COLS " FROM mcp_clients WHERE client_id = %s" },
    { "mcp_client_list", "SELECT " CLIENT_COLS " FROM mcp_clients ORDER BY client_id" },
    { "mcp_client_delete", "DELETE FROM mcp_clients WHERE client_id = %s" },
    { "mcp_uri_insert", "INSERT INTO mcp_client_redirect_uris (client_id, uri) "
      "VALUES (%s, %s)" },
    { "mcp_uri_delete", "DELETE FROM mcp_client_redirect_uris WHERE client_id = %s" },
    { "mcp_uri_list", "SELECT uri FROM mcp_client_redirect_uris WHERE "
      "client_id = %s ORDER BY uri" },

    { "mcp_code_insert", "INSERT INTO mcp_auth_codes (" CODE_COLS ") VALUES "
      "(%s, %s, %s, %s, %s, %s, %s, %s, %s, %lld, %lld, %lld)" },
    { "mcp_code_use", "UPDATE mcp_auth_codes SET used_at = %lld WHERE "
      "code_hash = %s AND used_at IS NULL" },
    { "mcp_code_get", "SELECT " CODE_COLS " FROM mcp_auth_codes WHERE code_hash = %s" },
    { "mcp_code_family", "UPDATE mcp_auth_codes SET issued_family = %s WHERE "
      "code_hash = %s" },

    { "mcp_refresh_insert", "INSERT INTO mcp_refresh_tokens (" REFRESH_COLS
      ") VALUES (%s, %s, %s, %s, %s, %s, %s, %lld, %lld, %lld, %lld)" },
    { "mcp_refresh_get", "SELECT " REFRESH_COLS " FROM mcp_refresh_tokens "
      "WHERE token_hash = %s" },
    { "mcp_refresh_rotate", "UPDATE mcp_refresh_tokens SET rotated_at = %lld, "
      "replaced_by = %s WHERE token_hash = %s AND rotated_at IS NULL AND "
      "revoked_at IS NULL AND expires_at > %lld" },
    { "mcp_refresh_revoke", "UPDATE mcp_refresh_tokens SET revoked_at = %lld "
      "WHERE token_hash = %s AND revoked_at IS NULL" },
    { "mcp_refresh_revoke_family", "UPDATE mcp_refresh_tokens SET revoked_at = "
      "%lld WHERE family_id = %s AND revoked_at IS NULL" },
    { "mcp_refresh_revoke_subject", "UPDATE mcp_refresh_tokens SET revoked_at = "
      "%lld WHERE subject = %s AND revoked_at IS NULL" },
    { "mcp_refresh_revoke_client", "UPDATE mcp_refresh_tokens SET revoked_at = "
      "%lld WHERE client_id = %s AND revoked_at IS NULL" },

    { "mcp_consent_put", "INSERT INTO mcp_consents (" CONSENT_COLS ") VALUES "
      "(%s, %s, %s, %s, %lld, %lld) ON CONFLICT (subject, client_id, resource) "
      "DO UPDATE SET scope = excluded.scope, granted_at = excluded.granted_at, "
      "expires_at = excluded.expires_at" },
    { "mcp_consent_get", "SELECT " CONSENT_COLS " FROM mcp_consents WHERE "
      "subject = %s AND client_id = %s AND resource = %s" },
    { "mcp_consent_delete", "DELETE FROM mcp_consents WHERE subject = %s AND "
      "client_id = %s AND resource = %s" },

    { "mcp_upstream_put", "INSERT INTO mcp_upstream_tokens (" UPSTREAM_COLS
      ") VALUES (%s, %s, %s, %s, %s, %lld, %lld, %lld) ON CONFLICT (subject, "
      "provider) DO UPDATE SET sealed = excluded.sealed, key_id = "
      "excluded.key_id, scope = excluded.scope, expires_at = "
      "excluded.expires_at, updated_at = excluded.updated_at" },
    { "mcp_upstream_get", "SELECT " UPSTREAM_COLS " FROM mcp_upstream_tokens "
      "WHERE subject = %s AND provider = %s" },
    { "mcp_upstream_delete", "DELETE FROM mcp_upstream_tokens WHERE subject = %s "
      "AND provider = %s" },
    { "mcp_upstream_list", "SELECT " UPSTREAM_COLS " FROM mcp_upstream_tokens "
      "WHERE subject = %s ORDER BY provider" },

    { "mcp_purge_codes", "DELETE FROM mcp_auth_codes WHERE expires_at < %lld" },
    { "mcp_purge_refresh", "DELETE FROM mcp_refresh_tokens WHERE expires_at < %lld" },
    { "mcp_purge_consents", "DELETE FROM mcp_consents WHERE expires_at < %lld" },
    { "mcp_purge_clients", "DELETE FROM mcp_clients WHERE expires_at IS NOT NULL "
      "AND expires_at < %lld" },
    { NULL, NULL }
};

/* ---------------------------------------------------------------------
 * Running statements
 * ------------------------------------------------------------------- */

/* An integer as a bound value; 0 is NULL where @zero_is_null. */
static const char *num(apr_pool_t *p, apr_int64_t v, int zero_is_null)
{
    return zero_is_null && v == 0 ? NULL : apr_psprintf(p, "%" APR_INT64_T_FMT, v);
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
    int nrows = 0, err, attempt = 0;

    do {
        if ((rv = stmt_get(st, label, &ps)) != APR_SUCCESS) {
            return rv;
        }
        apr_pool_create(&tmp, st->pool);
        err = apr_dbd_pquery(st->driver, tmp, st->handle, &nrows, ps, nargs,
                             (const char **)args);
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

/* ---------------------------------------------------------------------
 * Clients
 * ------------------------------------------------------------------- */

static apr_status_t client_row(mcp_store_t *st, apr_pool_t *p,
                               apr_dbd_row_t *row, void *baton)
{
    mcp_store_client_t *c = apr_pcalloc(p, sizeof(*c));

    c->client_id = col_str(st, p, row, 0);
    c->secret_hash = col_str(st, p, row, 1);
    c->client_name = col_str(st, p, row, 2);
    c->kind = col_str(st, p, row, 3);
    c->token_endpoint_auth_method = col_str(st, p, row, 4);
    c->grant_types = col_str(st, p, row, 5);
    c->scope = col_str(st, p, row, 6);
    c->metadata = col_str(st, p, row, 7);
    c->created_at = col_int(st, row, 8);
    c->updated_at = col_int(st, row, 9);
    c->expires_at = col_int(st, row, 10);
    c->redirect_uris = apr_array_make(p, 2, sizeof(const char *));
    APR_ARRAY_PUSH((apr_array_header_t *)baton, mcp_store_client_t *) = c;
    return APR_SUCCESS;
}

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

    if (!c || !c->client_id || !*c->client_id || !c->kind
        || !c->token_endpoint_auth_method || !c->grant_types) {
        return mcp_store_fail(st, MCP_EINVALID, "a client needs client_id, kind, "
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

static void client_args(apr_pool_t *p, const mcp_store_client_t *c, const char **a)
{
    a[0] = c->secret_hash;
    a[1] = c->client_name;
    a[2] = c->kind;
    a[3] = c->token_endpoint_auth_method;
    a[4] = c->grant_types;
    a[5] = c->scope;
    a[6] = c->metadata;
    a[7] = num(p, c->updated_at, 0);
    a[8] = num(p, c->expires_at, 1);
}

/* Does a row exist for @label with one key? */
static apr_status_t exists(mcp_store_t *st, const char *label, const char *key,
                           int *pfound)
{
    return select_rows(st, st->pool, label, 1, &key, NULL, NULL, pfound);
}

apr_status_t mcp_store_client_put(mcp_store_t *st, const mcp_store_client_t *c)
{
    const char *a[11];
    apr_status_t rv;
    int found = 0;

    if ((rv = client_check(st, c)) != APR_SUCCESS
        || (rv = mcp_store_ready(st)) != APR_SUCCESS
        || (rv = mcp_store_tx_begin(st)) != APR_SUCCESS) {
        return rv;
    }
    /* Insert first: the primary key decides between concurrent puts, and
     * on SQLite the transaction never has to upgrade a read lock. */
    a[0] = c->client_id;
    client_args(st->pool, c, a + 1);
    /* created_at goes where client_args put updated_at */
    a[8] = num(st->pool, c->created_at, 0);
    a[9] = num(st->pool, c->updated_at, 0);
    a[10] = num(st->pool, c->expires_at, 1);
    rv = run(st, "mcp_client_insert", NULL, 11, a);
    if (rv == APR_SUCCESS) {
        rv = put_uris(st, c);
    }
    rv = mcp_store_tx_end(st, rv);
    if (rv == MCP_ESTORE && exists(st, "mcp_client_exists", c->client_id, &found)
                            == APR_SUCCESS && found) {
        rv = mcp_store_fail(st, MCP_ECONFLICT, "client '%s' exists already",
                            c->client_id);
    }
    return rv;
}

apr_status_t mcp_store_client_update(mcp_store_t *st, const mcp_store_client_t *c)
{
    const char *a[10];
    apr_status_t rv;
    int nrows = 0;

    if ((rv = client_check(st, c)) != APR_SUCCESS
        || (rv = mcp_store_ready(st)) != APR_SUCCESS
        || (rv = mcp_store_tx_begin(st)) != APR_SUCCESS) {
        return rv;
    }
    client_args(st->pool, c, a);
    a[9] = c->client_id;
    rv = run(st, "mcp_client_update", &nrows, 10, a);
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
    return select_rows(st, p, "mcp_uri_list", 1, &c->client_id, uri_row,
                       c->redirect_uris, NULL);
}

apr_status_t mcp_store_client_get(mcp_store_t *st, apr_pool_t *p,
                                  const char *client_id,
                                  mcp_store_client_t **pc)
{
    apr_array_header_t *found = apr_array_make(p, 1, sizeof(mcp_store_client_t *));
    apr_status_t rv = select_rows(st, p, "mcp_client_get", 1, &client_id,
                                  client_row, found, NULL);

    if (rv != APR_SUCCESS) {
        return rv;
    }
    if (!found->nelts) {
        return mcp_store_fail(st, MCP_ENOTFOUND, "no client '%s'", client_id);
    }
    *pc = APR_ARRAY_IDX(found, 0, mcp_store_client_t *);
    return load_uris(st, p, *pc);
}

apr_status_t mcp_store_client_delete(mcp_store_t *st, const char *client_id)
{
    int nrows = 0;
    apr_status_t rv = run(st, "mcp_client_delete", &nrows, 1, &client_id);

    if (rv == APR_SUCCESS && nrows == 0) {
        rv = mcp_store_fail(st, MCP_ENOTFOUND, "no client '%s'", client_id);
    }
    return rv;
}

apr_status_t mcp_store_client_list(mcp_store_t *st, apr_pool_t *p,
                                   apr_array_header_t **pclients)
{
    apr_array_header_t *all = apr_array_make(p, 8, sizeof(mcp_store_client_t *));
    apr_status_t rv = select_rows(st, p, "mcp_client_list", 0, NULL, client_row,
                                  all, NULL);
    int i;

    for (i = 0; rv == APR_SUCCESS && i < all->nelts; i++) {
        rv = load_uris(st, p, APR_ARRAY_IDX(all, i, mcp_store_client_t *));
    }
    if (rv == APR_SUCCESS) {
        *pclients = all;
    }
    return rv;
}

/* ---------------------------------------------------------------------
 * Authorization codes
 * ------------------------------------------------------------------- */

static apr_status_t code_row(mcp_store_t *st, apr_pool_t *p, apr_dbd_row_t *row,
                             void *baton)
{
    mcp_store_code_t *c = apr_pcalloc(p, sizeof(*c));

    c->code_hash = col_str(st, p, row, 0);
    c->client_id = col_str(st, p, row, 1);
    c->redirect_uri = col_str(st, p, row, 2);
    c->code_challenge = col_str(st, p, row, 3);
    c->code_challenge_method = col_str(st, p, row, 4);
    c->resource = col_str(st, p, row, 5);
    c->scope = col_str(st, p, row, 6);
    c->subject = col_str(st, p, row, 7);
    c->issued_family = col_str(st, p, row, 8);
    c->created_at = col_int(st, row, 9);
    c->expires_at = col_int(st, row, 10);
    c->used_at = col_int(st, row, 11);
    *(mcp_store_code_t **)baton = c;
    return APR_SUCCESS;
}

apr_status_t mcp_store_code_put(mcp_store_t *st, const mcp_store_code_t *c)
{
    const char *a[12];
    apr_status_t rv;
    int found = 0;

    if (!c || !c->code_hash || !c->client_id || !c->redirect_uri
        || !c->code_challenge || !c->code_challenge_method || !c->subject) {
        return mcp_store_fail(st, MCP_EINVALID, "a code needs its hash, client, "
                              "redirect URI, PKCE challenge, subject and expiry");
    }
    if (c->expires_at <= c->created_at
        || c->expires_at - c->created_at > MCP_STORE_CODE_MAX_LIFETIME) {
        return mcp_store_fail(st, MCP_EINVALID, "a code must expire within %d "
                              "seconds of its creation",
                              MCP_STORE_CODE_MAX_LIFETIME);
    }
    a[0] = c->code_hash;
    a[1] = c->client_id;
    a[2] = c->redirect_uri;
    a[3] = c->code_challenge;
    a[4] = c->code_challenge_method;
    a[5] = c->resource;
    a[6] = c->scope;
    a[7] = c->subject;
    a[8] = c->issued_family;
    a[9] = num(st->pool, c->created_at, 0);
    a[10] = num(st->pool, c->expires_at, 0);
    a[11] = num(st->pool, c->used_at, 1);
    rv = run(st, "mcp_code_insert", NULL, 12, a);
    if (rv == MCP_ESTORE && exists(st, "mcp_code_get", c->code_hash, &found)
                            == APR_SUCCESS && found) {
        rv = mcp_store_fail(st, MCP_ECONFLICT, "the code exists already");
    }
    return rv;
}

apr_status_t mcp_store_code_take(mcp_store_t *st, apr_pool_t *p,
                                 const char *code_hash, apr_int64_t now,
                                 mcp_store_code_t **pc)
{
    mcp_store_code_t *c = NULL;
    const char *a[2];
    int nrows = 0;
    apr_status_t rv;

    if (!code_hash) {
        return mcp_store_fail(st, MCP_EINVALID, "no code given");
    }
    /* The conditional update is the single-use guarantee: of concurrent
     * takes only one changes the row. */
    a[0] = num(st->pool, now, 0);
    a[1] = code_hash;
    rv = run(st, "mcp_code_use", &nrows, 2, a);
    if (rv == APR_SUCCESS) {
        rv = select_rows(st, p, "mcp_code_get", 1, &code_hash, code_row, &c, NULL);
    }
    if (rv != APR_SUCCESS) {
        return rv;
    }
    if (!c) {
        return mcp_store_fail(st, MCP_ENOTFOUND, "no such authorization code");
    }
    *pc = c;
    if (nrows == 0) {
        return mcp_store_fail(st, MCP_ECONFLICT, "the authorization code was "
                              "used already");
    }
    if (c->expires_at <= now) {
        return mcp_store_fail(st, MCP_EEXPIRED, "the authorization code expired");
    }
    return APR_SUCCESS;
}

apr_status_t mcp_store_code_bind_family(mcp_store_t *st, const char *code_hash,
                                        const char *family_id)
{
    const char *a[2];
    int nrows = 0;
    apr_status_t rv;

    a[0] = family_id;
    a[1] = code_hash;
    rv = run(st, "mcp_code_family", &nrows, 2, a);
    if (rv == APR_SUCCESS && nrows == 0) {
        rv = mcp_store_fail(st, MCP_ENOTFOUND, "no such authorization code");
    }
    return rv;
}

/* ---------------------------------------------------------------------
 * Refresh tokens
 * ------------------------------------------------------------------- */

static apr_status_t refresh_row(mcp_store_t *st, apr_pool_t *p, apr_dbd_row_t *row,
                                void *baton)
{
    mcp_store_refresh_t *r = apr_pcalloc(p, sizeof(*r));

    r->token_hash = col_str(st, p, row, 0);
    r->family_id = col_str(st, p, row, 1);
    r->client_id = col_str(st, p, row, 2);
    r->subject = col_str(st, p, row, 3);
    r->resource = col_str(st, p, row, 4);
    r->scope = col_str(st, p, row, 5);
    r->replaced_by = col_str(st, p, row, 6);
    r->created_at = col_int(st, row, 7);
    r->expires_at = col_int(st, row, 8);
    r->rotated_at = col_int(st, row, 9);
    r->revoked_at = col_int(st, row, 10);
    *(mcp_store_refresh_t **)baton = r;
    return APR_SUCCESS;
}

static apr_status_t refresh_insert(mcp_store_t *st, const mcp_store_refresh_t *r)
{
    const char *a[11];

    if (!r || !r->token_hash || !r->family_id || !r->client_id || !r->subject
        || r->expires_at <= 0) {
        return mcp_store_fail(st, MCP_EINVALID, "a refresh token needs its hash, "
                              "family, client, subject and expiry");
    }
    a[0] = r->token_hash;
    a[1] = r->family_id;
    a[2] = r->client_id;
    a[3] = r->subject;
    a[4] = r->resource;
    a[5] = r->scope;
    a[6] = r->replaced_by;
    a[7] = num(st->pool, r->created_at, 0);
    a[8] = num(st->pool, r->expires_at, 0);
    a[9] = num(st->pool, r->rotated_at, 1);
    a[10] = num(st->pool, r->revoked_at, 1);
    return run(st, "mcp_refresh_insert", NULL, 11, a);
}

apr_status_t mcp_store_refresh_put(mcp_store_t *st, const mcp_store_refresh_t *r)
{
    apr_status_t rv = refresh_insert(st, r);
    int found = 0;

    if (rv == MCP_ESTORE && exists(st, "mcp_refresh_get", r->token_hash, &found)
                            == APR_SUCCESS && found) {
        rv = mcp_store_fail(st, MCP_ECONFLICT, "the refresh token exists already");
    }
    return rv;
}

apr_status_t mcp_store_refresh_get(mcp_store_t *st, apr_pool_t *p,
                                   const char *token_hash,
                                   mcp_store_refresh_t **pr)
{
    mcp_store_refresh_t *r = NULL;
    apr_status_t rv = select_rows(st, p, "mcp_refresh_get", 1, &token_hash,
                                  refresh_row, &r, NULL);

    if (rv == APR_SUCCESS && !r) {
        rv = mcp_store_fail(st, MCP_ENOTFOUND, "no such refresh token");
    }
    if (rv == APR_SUCCESS) {
        *pr = r;
    }
    return rv;
}

static apr_status_t revoke_by(mcp_store_t *st, const char *label, const char *key,
                              apr_int64_t now, int *pn)
{
    const char *a[2];
    int nrows = 0;
    apr_status_t rv;

    a[0] = num(st->pool, now, 0);
    a[1] = key;
    rv = run(st, label, &nrows, 2, a);
    if (pn) {
        *pn = nrows;
    }
    return rv;
}

/* The old token could not be rotated: say why, and revoke the family of
 * a replayed one. Runs inside the rotation's transaction. */
static apr_status_t refresh_refused(mcp_store_t *st, const mcp_store_refresh_t *old,
                                    apr_int64_t now, int grace,
                                    mcp_store_refresh_outcome_e *poutcome,
                                    int *pkeep)
{
    apr_status_t rv;
    int n = 0;

    if (old->revoked_at) {
        *poutcome = MCP_REFRESH_REVOKED;
        return mcp_store_fail(st, MCP_EINVALID, "the refresh token was revoked");
    }
    if (!old->rotated_at) {
        *poutcome = MCP_REFRESH_EXPIRED;
        return mcp_store_fail(st, MCP_EEXPIRED, "the refresh token expired");
    }
    if (now - old->rotated_at <= grace) {
        *poutcome = MCP_REFRESH_REUSED_IN_GRACE;
        return mcp_store_fail(st, MCP_ECONFLICT, "the refresh token was just "
                              "rotated (concurrent use)");
    }
    /* A replayed token: someone else may hold the family. */
    rv = revoke_by(st, "mcp_refresh_revoke_family", old->family_id, now, &n);
    if (rv != APR_SUCCESS) {
        return rv;
    }
    *poutcome = MCP_REFRESH_REUSED;
    *pkeep = 1;
    mcp_log(MCP_LOG_MARK, MCP_LOG_WARNING, 0, st->pool, MCPLOGNO(00402)
            "store: a refresh token rotated %" APR_INT64_T_FMT " s ago was used "
            "again (client %s, subject %s): its family %s is revoked (%d "
            "tokens)", now - old->rotated_at, old->client_id, old->subject,
            old->family_id, n);
    return mcp_store_fail(st, MCP_ECONFLICT, "a rotated refresh token was used "
                          "again: its family is revoked");
}

apr_status_t mcp_store_refresh_rotate(mcp_store_t *st, apr_pool_t *p,
                                      const char *old_hash,
                                      const mcp_store_refresh_t *next,
                                      apr_int64_t now, int grace,
                                      mcp_store_refresh_outcome_e *poutcome,
                                      mcp_store_refresh_t **pold)
{
    mcp_store_refresh_t *old = NULL, nr;
    const char *a[4];
    int nrows = 0, keep = 0;
    apr_status_t rv;

    *poutcome = MCP_REFRESH_NOT_FOUND;
    if (pold) {
        *pold = NULL;
    }
    if (!old_hash || !next || !next->token_hash || next->expires_at <= 0) {
        return mcp_store_fail(st, MCP_EINVALID, "rotation needs the old token's "
                              "hash and the new one's hash and expiry");
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
    a[3] = num(st->pool, now, 0);
    rv = run(st, "mcp_refresh_rotate", &nrows, 4, a);
    if (rv == APR_SUCCESS) {
        rv = select_rows(st, p, "mcp_refresh_get", 1, &old_hash, refresh_row, &old, NULL);
    }
    if (rv == APR_SUCCESS && !old) {
        rv = mcp_store_fail(st, MCP_ENOTFOUND, "no such refresh token");
    }
    else if (rv == APR_SUCCESS && nrows == 1) {
        nr = *next;
        nr.family_id = old->family_id;
        nr.client_id = old->client_id;
        nr.subject = old->subject;
        nr.replaced_by = NULL;
        nr.rotated_at = 0;
        nr.revoked_at = 0;
        if (!nr.created_at) {
            nr.created_at = now;
        }
        rv = refresh_insert(st, &nr);
        if (rv == APR_SUCCESS) {
            *poutcome = MCP_REFRESH_ROTATED;
        }
    }
    else if (rv == APR_SUCCESS) {
        rv = refresh_refused(st, old, now, grace, poutcome, &keep);
    }
    if (pold) {
        *pold = old;
    }
    if (keep) {
        /* The revocation is committed although the caller gets a failure. */
        apr_status_t crv = mcp_store_tx_end(st, APR_SUCCESS);
        return crv == APR_SUCCESS ? rv : crv;
    }
    return mcp_store_tx_end(st, rv);
}

apr_status_t mcp_store_refresh_revoke(mcp_store_t *st, const char *token_hash,
                                      apr_int64_t now)
{
    mcp_store_refresh_t *r;
    apr_status_t rv = revoke_by(st, "mcp_refresh_revoke", token_hash, now, NULL);

    if (rv == APR_SUCCESS) {
        /* Revoking a revoked token is fine; an unknown one is not found. */
        rv = mcp_store_refresh_get(st, st->pool, token_hash, &r);
    }
    return rv;
}

apr_status_t mcp_store_refresh_revoke_family(mcp_store_t *st, const char *family_id,
                                             apr_int64_t now, int *pn)
{
    return revoke_by(st, "mcp_refresh_revoke_family", family_id, now, pn);
}

apr_status_t mcp_store_refresh_revoke_subject(mcp_store_t *st, const char *subject,
                                              apr_int64_t now, int *pn)
{
    return revoke_by(st, "mcp_refresh_revoke_subject", subject, now, pn);
}

apr_status_t mcp_store_refresh_revoke_client(mcp_store_t *st, const char *client_id,
                                             apr_int64_t now, int *pn)
{
    return revoke_by(st, "mcp_refresh_revoke_client", client_id, now, pn);
}

/* ---------------------------------------------------------------------
 * Consents
 * ------------------------------------------------------------------- */

static apr_status_t consent_row(mcp_store_t *st, apr_pool_t *p, apr_dbd_row_t *row,
                                void *baton)
{
    mcp_store_consent_t *c = apr_pcalloc(p, sizeof(*c));

    c->subject = col_str(st, p, row, 0);
    c->client_id = col_str(st, p, row, 1);
    c->resource = col_str(st, p, row, 2);
    c->scope = col_str(st, p, row, 3);
    c->granted_at = col_int(st, row, 4);
    c->expires_at = col_int(st, row, 5);
    *(mcp_store_consent_t **)baton = c;
    return APR_SUCCESS;
}

apr_status_t mcp_store_consent_put(mcp_store_t *st, const mcp_store_consent_t *c)
{
    const char *a[6];

    if (!c->subject || !c->client_id || !c->resource || !c->scope || c->expires_at <= 0) {
        return mcp_store_fail(st, MCP_EINVALID, "a consent needs subject, client, "
                              "resource, scope and expiry");
    }
    a[0] = c->subject;
    a[1] = c->client_id;
    a[2] = c->resource;
    a[3] = c->scope;
    a[4] = num(st->pool, c->granted_at, 0);
    a[5] = num(st->pool, c->expires_at, 0);
    return run(st, "mcp_consent_put", NULL, 6, a);
}

apr_status_t mcp_store_consent_get(mcp_store_t *st, apr_pool_t *p,
                                   const char *subject, const char *client_id,
                                   const char *resource, apr_int64_t now,
                                   mcp_store_consent_t **pc)
{
    mcp_store_consent_t *c = NULL;
    const char *a[3];
    apr_status_t rv;

    a[0] = subject;
    a[1] = client_id;
    a[2] = resource;
    rv = select_rows(st, p, "mcp_consent_get", 3, a, consent_row, &c, NULL);
    if (rv != APR_SUCCESS) {
        return rv;
    }
    if (!c) {
        return mcp_store_fail(st, MCP_ENOTFOUND, "no consent");
    }
    *pc = c;
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

    a[0] = subject;
    a[1] = client_id;
    a[2] = resource;
    rv = run(st, "mcp_consent_delete", &nrows, 3, a);
    if (rv == APR_SUCCESS && nrows == 0) {
        rv = mcp_store_fail(st, MCP_ENOTFOUND, "no consent");
    }
    return rv;
}

/* ---------------------------------------------------------------------
 * Upstream tokens
 * ------------------------------------------------------------------- */

static apr_status_t upstream_row(mcp_store_t *st, apr_pool_t *p, apr_dbd_row_t *row,
                                 void *baton)
{
    mcp_store_upstream_t *u = apr_pcalloc(p, sizeof(*u));

    u->subject = col_str(st, p, row, 0);
    u->provider = col_str(st, p, row, 1);
    u->sealed = col_str(st, p, row, 2);
    u->key_id = col_str(st, p, row, 3);
    u->scope = col_str(st, p, row, 4);
    u->expires_at = col_int(st, row, 5);
    u->created_at = col_int(st, row, 6);
    u->updated_at = col_int(st, row, 7);
    APR_ARRAY_PUSH((apr_array_header_t *)baton, mcp_store_upstream_t *) = u;
    return APR_SUCCESS;
}

apr_status_t mcp_store_upstream_put(mcp_store_t *st, const mcp_store_upstream_t *u)
{
    const char *a[8];

    if (!u->subject || !u->provider || !u->sealed || !u->key_id) {
        return mcp_store_fail(st, MCP_EINVALID, "an upstream token needs subject, "
                              "provider, sealed value and key id");
    }
    a[0] = u->subject;
    a[1] = u->provider;
    a[2] = u->sealed;
    a[3] = u->key_id;
    a[4] = u->scope;
    a[5] = num(st->pool, u->expires_at, 1);
    a[6] = num(st->pool, u->created_at, 0);
    a[7] = num(st->pool, u->updated_at, 0);
    return run(st, "mcp_upstream_put", NULL, 8, a);
}

apr_status_t mcp_store_upstream_get(mcp_store_t *st, apr_pool_t *p,
                                    const char *subject, const char *provider,
                                    mcp_store_upstream_t **pu)
{
    apr_array_header_t *found = apr_array_make(p, 1, sizeof(mcp_store_upstream_t *));
    const char *a[2];
    apr_status_t rv;

    a[0] = subject;
    a[1] = provider;
    rv = select_rows(st, p, "mcp_upstream_get", 2, a, upstream_row, found, NULL);
    if (rv == APR_SUCCESS && !found->nelts) {
        rv = mcp_store_fail(st, MCP_ENOTFOUND, "no upstream token for that "
                            "provider");
    }
    if (rv == APR_SUCCESS) {
        *pu = APR_ARRAY_IDX(found, 0, mcp_store_upstream_t *);
    }
    return rv;
}

apr_status_t mcp_store_upstream_delete(mcp_store_t *st, const char *subject,
                                       const char *provider)
{
    const char *a[2];
    int nrows = 0;
    apr_status_t rv;

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
    apr_array_header_t *all = apr_array_make(p, 4, sizeof(mcp_store_upstream_t *));
    apr_status_t rv = select_rows(st, p, "mcp_upstream_list", 1, &subject,
                                  upstream_row, all, NULL);

    if (rv == APR_SUCCESS) {
        *plist = all;
    }
    return rv;
}

/* ---------------------------------------------------------------------
 * Expiry
 * ------------------------------------------------------------------- */

apr_status_t mcp_store_purge(mcp_store_t *st, apr_int64_t now,
                             mcp_store_purge_t *counts)
{
    const char *t = num(st->pool, now, 0);
    apr_status_t rv;

    memset(counts, 0, sizeof(*counts));
    if ((rv = run(st, "mcp_purge_codes", &counts->codes, 1, &t)) == APR_SUCCESS
        && (rv = run(st, "mcp_purge_refresh", &counts->refresh_tokens, 1, &t)) == APR_SUCCESS
        && (rv = run(st, "mcp_purge_consents", &counts->consents, 1, &t)) == APR_SUCCESS) {
        rv = run(st, "mcp_purge_clients", &counts->clients, 1, &t);
    }
    return rv;
}
