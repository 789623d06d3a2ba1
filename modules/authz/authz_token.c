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

/* The token endpoint (authorization_code and refresh_token grants, OAuth
 * 2.1 §3.2 and §4.3), revocation (RFC 7009) and introspection (RFC 7662).
 *
 * Access tokens are RFC 9068 JWTs signed with the first MCPAuthzSigningKey
 * and bound to one resource (aud). Refresh tokens are opaque, stored
 * hashed, and rotate on every use within a family: a rotated token used
 * again after the grace window revokes the whole family. Codes and
 * refresh tokens are never logged; client ids and subjects are. */

#include <httpd.h>
#include <http_config.h>
#include <http_log.h>
#include <http_protocol.h>
#include <apr_strings.h>

#include "mcp/mcp_common.h"
#include "mcp/mcp_crypto.h"
#include "mcp/mcp_jwt.h"
#include "mcp/mcp_oauth.h"
#include "mcp/mcp_scope.h"
#include "mcp/mcp_url.h"
#include "mcp_glue.h"
#include "authz_private.h"

APLOG_USE_MODULE(mcp_authz);

#define TOKEN_MAX_FORM   (16 * 1024)
#define MAX_PARAM        4096

typedef struct {
    request_rec *r;
    mcp_authz_server_conf *conf;
    mcp_store_t *st;
    apr_table_t *form;
    mcp_authz_client_auth_t *auth;
    apr_int64_t now;
} token_req_t;

static int bad_request(request_rec *r, const char *error, const char *desc)
{
    return mcp_authz_send_oauth_error(r, HTTP_BAD_REQUEST, error, desc);
}

/* The single, well-formed value of @name, or NULL; *pbad when repeated or
 * malformed. */
static const char *param(token_req_t *t, const char *name, int *pbad)
{
    int dup = 0;
    const char *v = mcp_url_form_get(t->form, name, &dup);

    if (dup || (v && !mcp_oauth_param_valid(v, MAX_PARAM))) {
        *pbad = 1;
    }
    return v;
}

/* Read the form and authenticate the client: common to the three
 * endpoints. OK, or the status already answered. */
static int begin(token_req_t *t, request_rec *r, mcp_authz_server_conf *conf,
                 int need_secret)
{
    const char *err = NULL;
    int status = HTTP_BAD_REQUEST;

    memset(t, 0, sizeof(*t));
    t->r = r;
    t->conf = conf;
    t->now = mcp_authz_now();
    apr_table_setn(r->headers_out, "Access-Control-Allow-Origin", "*");
    if (r->method_number != M_POST) {
        apr_table_setn(r->headers_out, "Allow", "POST, OPTIONS");
        return mcp_authz_refuse(r, HTTP_METHOD_NOT_ALLOWED,
                                "invalid_request", "use POST");
    }
    if (r->args && strstr(r->args, "=")) {
        /* Credentials and codes belong in the body, never in a URL that
         * ends up in logs. */
        return mcp_authz_refuse(r, HTTP_BAD_REQUEST, "invalid_request",
                                "parameters must be sent in the request "
                                "body, not the query string");
    }
    t->form = mcp_authz_read_form(r, TOKEN_MAX_FORM, &status, &err);
    if (!t->form) {
        return mcp_authz_refuse(r, status == HTTP_UNSUPPORTED_MEDIA_TYPE
                                   ? HTTP_BAD_REQUEST : status,
                                "invalid_request", err);
    }
    if (!(t->st = mcp_authz_store(r))) {
        return mcp_authz_refuse(r, HTTP_SERVICE_UNAVAILABLE,
                                "temporarily_unavailable",
                                "the store is not available");
    }
    return mcp_authz_client_authenticate(r, conf, t->st, t->form, need_secret,
                                         &t->auth);
}

/* ---- issuing ---- */

static apr_status_t sign_access_token(token_req_t *t, const char *subject,
                                      const char *resource, const char *scope,
                                      const char *jti, const char **ptoken)
{
    mcp_jwt_claims_t c;
    const char *err = NULL;
    apr_status_t rv;

    memset(&c, 0, sizeof(c));
    c.iss = t->conf->issuer;
    c.sub = subject;
    c.aud = resource;
    c.client_id = t->auth->client->client_id;
    c.scope = scope && *scope ? scope : NULL;
    c.jti = jti;
    c.iat = t->now;
    c.exp = t->now + mcp_authz_access_lifetime(t->conf);
    rv = mcp_jwt_sign_access_token(ptoken, t->r->pool,
                                   mcp_jose_keyset_get(t->conf->keys, 0), &c,
                                   &err);
    if (rv != APR_SUCCESS) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, mcp_glue_log_status(rv), t->r,
                      MCPLOGNO(00830) "signing an access token failed: %s",
                      err ? err : "?");
    }
    return rv;
}

static int send_tokens(token_req_t *t, const char *access, const char *scope,
                       const char *refresh)
{
    mcp_json_t *o = mcp_json_object(t->r->pool);

    mcp_json_set_str(o, "access_token", access);
    mcp_json_set_str(o, "token_type", "Bearer");
    mcp_json_set_int(o, "expires_in", mcp_authz_access_lifetime(t->conf));
    mcp_json_set_str(o, "scope", scope ? scope : "");
    if (refresh) {
        mcp_json_set_str(o, "refresh_token", refresh);
    }
    return mcp_authz_send_json(t->r, HTTP_OK,
                               mcp_json_dump(t->r->pool, o, MCP_JSON_FMT_COMPACT,
                                             NULL));
}

static int wants_refresh(token_req_t *t)
{
    return t->auth->client->grant_types
        && strstr(t->auth->client->grant_types, "refresh_token") != NULL;
}

/* A registered client in use stays registered. Its idle expiry moves at
 * most once a minute: an UPDATE on every grant was one more write
 * transaction (one more fsync on PostgreSQL) than the grant itself needs,
 * for an expiry measured in hours or days. */
static void touch(token_req_t *t)
{
    mcp_store_client_t *c = t->auth->client;
    apr_int64_t until = t->now + mcp_authz_client_idle(t->conf);

    if (c->expires_at && strcmp(c->kind, "cimd")
        && c->expires_at < until - MCP_AUTHZ_CLIENT_TOUCH_SLACK) {
        mcp_store_client_touch(t->st, c->client_id, until);
    }
}

static int server_error(token_req_t *t)
{
    return mcp_authz_send_oauth_error(t->r, HTTP_SERVICE_UNAVAILABLE,
                                      "temporarily_unavailable",
                                      "the store is not available");
}

/* ---- authorization_code ---- */

/* Virtual hosts that inherit DBDParams share one store: a code or a
 * refresh token is this server's only if its resource is one of this
 * server's, so that no server issues tokens on another one's grants. */
static int own_grant(token_req_t *t, const char *resource)
{
    return !resource || mcp_authz_resource_find(t->r->pool, t->conf, resource);
}

static int grant_code(token_req_t *t)
{
    request_rec *r = t->r;
    const char *code, *redirect, *verifier, *resource, *hash, *family, *jti;
    const char *access, *refresh = NULL, *refresh_hash = NULL;
    mcp_store_refresh_t rt, *prt = NULL;
    mcp_store_code_t *c;
    int bad = 0, revoked = 0;
    apr_status_t rv;

    code = param(t, "code", &bad);
    redirect = param(t, "redirect_uri", &bad);
    verifier = param(t, "code_verifier", &bad);
    resource = param(t, "resource", &bad);
    if (bad) {
        return bad_request(r, "invalid_request", "a parameter is malformed or "
                           "repeated");
    }
    if (!code || !redirect || !verifier) {
        return bad_request(r, "invalid_request", "code, redirect_uri and "
                           "code_verifier are required");
    }
    hash = mcp_oauth_secret_hash(r->pool, code);
    rv = mcp_store_code_get(t->st, r->pool, hash, &c);
    if (rv == MCP_ENOTFOUND || (rv == APR_SUCCESS && !own_grant(t, c->resource))) {
        return bad_request(r, "invalid_grant", "unknown authorization code");
    }
    if (rv != APR_SUCCESS) {
        return server_error(t);
    }
    /* Checked before the code is consumed: a wrong client or verifier
     * cannot burn the code of the client it was issued to. */
    if (strcmp(c->client_id, t->auth->client->client_id)) {
        ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r, MCPLOGNO(00831)
                      "client %s presented an authorization code issued to "
                      "client %s", t->auth->client->client_id, c->client_id);
        return bad_request(r, "invalid_grant", "the code was issued to another "
                           "client");
    }
    if (strcmp(c->redirect_uri, redirect)) {
        return bad_request(r, "invalid_grant", "redirect_uri differs from the "
                           "authorization request");
    }
    if (!mcp_oauth_pkce_matches(verifier, c->code_challenge)) {
        return bad_request(r, "invalid_grant", "the PKCE code_verifier does not "
                           "match");
    }
    if (resource && (!c->resource
                     || !mcp_url_same_resource(r->pool, resource, c->resource))) {
        return bad_request(r, "invalid_target", "resource differs from the "
                           "authorization request");
    }
    if (mcp_crypto_token(&family, r->pool, 16) != APR_SUCCESS
        || mcp_crypto_token(&jti, r->pool, 16) != APR_SUCCESS) {
        return server_error(t);
    }
    if (wants_refresh(t)) {
        if (mcp_oauth_secret_new(&refresh, &refresh_hash, r->pool)
            != APR_SUCCESS) {
            return server_error(t);
        }
        memset(&rt, 0, sizeof(rt));
        rt.token_hash = refresh_hash;
        rt.family_id = family;
        rt.client_id = c->client_id;
        rt.subject = c->subject;
        rt.resource = c->resource;
        rt.scope = c->scope;
        rt.created_at = t->now;
        rt.expires_at = t->now + mcp_authz_refresh_lifetime(t->conf);
        prt = &rt;
    }
    if (sign_access_token(t, c->subject, c->resource, c->scope, jti, &access)
        != APR_SUCCESS) {
        return mcp_authz_send_oauth_error(r, HTTP_INTERNAL_SERVER_ERROR,
                                          "server_error", "cannot sign");
    }
    rv = mcp_store_code_redeem(t->st, r->pool, hash, t->now, family, jti, prt,
                               &c, &revoked);
    if (rv == MCP_ECONFLICT) {
        /* RFC 6749 §4.1.2 / OAuth 2.1 §4.1.3: a code used twice revokes
         * what it gave. */
        if (c->issued_jti) {
            mcp_authz_deny_jti(r, t->conf, t->st, c->issued_jti,
                               t->now + mcp_authz_access_lifetime(t->conf)
                               + MCP_AUTHZ_LEEWAY);
        }
        ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r, MCPLOGNO(00832)
                      "authorization code of client %s for %s used again: its "
                      "tokens are revoked (%d refresh tokens)",
                      c->client_id, c->subject, revoked);
        return bad_request(r, "invalid_grant", "the authorization code was "
                           "used already");
    }
    if (rv == MCP_EEXPIRED || rv == MCP_ENOTFOUND) {
        return bad_request(r, "invalid_grant", "the authorization code expired");
    }
    if (rv != APR_SUCCESS) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, mcp_glue_log_status(rv), r,
                      MCPLOGNO(00833) "redeeming an authorization code failed: "
                      "%s", mcp_store_error(t->st));
        return server_error(t);
    }
    touch(t);
    ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, MCPLOGNO(00834)
                  "tokens issued to client %s for %s (resource %s, scope "
                  "\"%s\"%s)", c->client_id, c->subject, c->resource,
                  c->scope ? c->scope : "", refresh ? ", with refresh token" : "");
    return send_tokens(t, access, c->scope, refresh);
}

/* ---- refresh_token ---- */

static int grant_refresh(token_req_t *t)
{
    request_rec *r = t->r;
    const char *token, *scope, *resource, *hash, *access, *jti, *next_token;
    apr_array_header_t *had, *want;
    mcp_store_refresh_t *old, next;
    mcp_store_refresh_outcome_e outcome;
    const char *granted;
    int bad = 0;
    apr_status_t rv;

    token = param(t, "refresh_token", &bad);
    scope = param(t, "scope", &bad);
    resource = param(t, "resource", &bad);
    if (bad || !token) {
        return bad_request(r, "invalid_request", "refresh_token is required "
                           "(once)");
    }
    if (!wants_refresh(t)) {
        return bad_request(r, "unauthorized_client", "this client may not use "
                           "refresh tokens");
    }
    hash = mcp_oauth_secret_hash(r->pool, token);
    rv = mcp_store_refresh_get(t->st, r->pool, hash, &old);
    if (rv == MCP_ENOTFOUND
        || (rv == APR_SUCCESS && (strcmp(old->client_id,
                                         t->auth->client->client_id)
                                  || !own_grant(t, old->resource)))) {
        return bad_request(r, "invalid_grant", "unknown refresh token");
    }
    if (rv != APR_SUCCESS) {
        return server_error(t);
    }
    if (mcp_scope_parse(&had, r->pool, old->scope, NULL) != APR_SUCCESS) {
        had = mcp_scope_set_make(r->pool);
    }
    granted = old->scope;
    if (scope) {
        /* Narrowing only (RFC 6749 §6); the refresh token keeps the
         * original scope so the client can widen back later. */
        if (mcp_scope_parse(&want, r->pool, scope, NULL) != APR_SUCCESS
            || !mcp_scope_covers_all(had, want)) {
            return bad_request(r, "invalid_scope", "the scope is not within "
                               "the original grant");
        }
        granted = mcp_scope_join(r->pool, want);
    }
    if (resource && (!old->resource
                     || !mcp_url_same_resource(r->pool, resource, old->resource))) {
        return bad_request(r, "invalid_target", "the refresh token is for "
                           "another resource");
    }
    memset(&next, 0, sizeof(next));
    if (mcp_oauth_secret_new(&next_token, &next.token_hash, r->pool)
        != APR_SUCCESS || mcp_crypto_token(&jti, r->pool, 16) != APR_SUCCESS) {
        return server_error(t);
    }
    next.resource = old->resource;
    next.scope = old->scope;
    next.created_at = t->now;
    next.expires_at = t->now + mcp_authz_refresh_lifetime(t->conf);
    rv = mcp_store_refresh_rotate(t->st, r->pool, hash,
                                  t->auth->client->client_id, &next, t->now,
                                  mcp_authz_refresh_grace(t->conf), &outcome,
                                  &old);
    if (rv != APR_SUCCESS) {
        if (outcome == MCP_REFRESH_REUSED) {
            ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r, MCPLOGNO(00835)
                          "a rotated refresh token of client %s for %s was "
                          "used again: its family is revoked",
                          t->auth->client->client_id,
                          old ? old->subject : "?");
        }
        if (rv == MCP_ESTORE) {
            return server_error(t);
        }
        return bad_request(r, "invalid_grant",
                           outcome == MCP_REFRESH_EXPIRED
                           ? "the refresh token expired"
                           : outcome == MCP_REFRESH_REUSED
                           ? "the refresh token was used already"
                           : "the refresh token is not valid");
    }
    if (sign_access_token(t, old->subject, old->resource, granted, jti, &access)
        != APR_SUCCESS) {
        return mcp_authz_send_oauth_error(r, HTTP_INTERNAL_SERVER_ERROR,
                                          "server_error", "cannot sign");
    }
    touch(t);
    ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r, MCPLOGNO(00836)
                  "refresh token of client %s for %s rotated%s",
                  t->auth->client->client_id, old->subject,
                  outcome == MCP_REFRESH_REUSED_IN_GRACE
                  ? " (a retry within the grace window)" : "");
    return send_tokens(t, access, granted, next_token);
}

int mcp_authz_handle_token(request_rec *r, mcp_authz_server_conf *conf)
{
    token_req_t t;
    const char *grant;
    int bad = 0, rc;

    if ((rc = begin(&t, r, conf, 0)) != OK) {
        return rc;
    }
    grant = param(&t, "grant_type", &bad);
    if (bad || !grant) {
        return bad_request(r, "invalid_request", "grant_type is required (once)");
    }
    if (!strcmp(grant, "authorization_code")) {
        return grant_code(&t);
    }
    if (!strcmp(grant, "refresh_token")) {
        return grant_refresh(&t);
    }
    return bad_request(r, "unsupported_grant_type", "only authorization_code "
                       "and refresh_token are supported");
}

/* ---- revocation and introspection ---- */

/* A valid access token of this server (any audience), or NULL. */
static mcp_jwt_t *own_access_token(token_req_t *t, const char *token)
{
    mcp_jwt_verify_opts_t o;
    mcp_jwt_t *jwt;

    if (!strchr(token, '.')) {
        return NULL;
    }
    memset(&o, 0, sizeof(o));
    o.issuer = t->conf->issuer;
    o.audience = NULL;          /* whichever resource it is for */
    o.now = t->now;
    o.leeway = MCP_AUTHZ_LEEWAY;
    if (mcp_jwt_verify_access_token(&jwt, t->r->pool, t->conf->keys, token, &o,
                                    NULL) != APR_SUCCESS) {
        return NULL;
    }
    return jwt;
}

int mcp_authz_handle_revoke(request_rec *r, mcp_authz_server_conf *conf)
{
    token_req_t t;
    const char *token, *hint;
    mcp_jwt_t *jwt = NULL;
    int bad = 0, n = 0, rc, access_tried = 0;
    apr_status_t rv = MCP_ENOTFOUND;

    if ((rc = begin(&t, r, conf, 0)) != OK) {
        return rc;
    }
    token = param(&t, "token", &bad);
    hint = param(&t, "token_type_hint", &bad);
    if (bad || !token) {
        return bad_request(r, "invalid_request", "token is required (once)");
    }
    /* RFC 7009 §2.1: the hint says where to look first, not where only;
     * a token that is not of the hinted type is looked for as the other
     * one too. */
    if (hint && !strcmp(hint, "access_token")) {
        jwt = own_access_token(&t, token);
        access_tried = 1;
    }
    if (!jwt) {
        rv = mcp_store_refresh_revoke(t.st, mcp_oauth_secret_hash(r->pool, token),
                                      t.auth->client->client_id, t.now, &n);
        if (rv == MCP_ESTORE) {
            return server_error(&t);
        }
        if (rv == APR_SUCCESS) {
            ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, MCPLOGNO(00837)
                          "client %s revoked a refresh token: its family of %d "
                          "tokens is revoked", t.auth->client->client_id, n);
        }
    }
    if (rv != APR_SUCCESS && !access_tried) {
        jwt = own_access_token(&t, token);
    }
    if (jwt && !strcmp(jwt->client_id, t.auth->client->client_id)) {
        mcp_authz_deny_jti(r, conf, t.st, jwt->jti, jwt->exp + MCP_AUTHZ_LEEWAY);
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, MCPLOGNO(00838)
                      "client %s revoked access token %s of %s",
                      jwt->client_id, jwt->jti, jwt->subject);
    }
    /* RFC 7009 §2.2: 200 also for tokens that are unknown or invalid. */
    return mcp_authz_send_json(r, HTTP_OK, "{}");
}

int mcp_authz_handle_introspect(request_rec *r, mcp_authz_server_conf *conf)
{
    token_req_t t;
    const char *token;
    mcp_store_refresh_t *rt;
    mcp_json_t *o;
    mcp_jwt_t *jwt;
    int bad = 0, rc;

    if ((rc = begin(&t, r, conf, 1)) != OK) {
        return rc;
    }
    token = param(&t, "token", &bad);
    param(&t, "token_type_hint", &bad);
    if (bad || !token) {
        return bad_request(r, "invalid_request", "token is required (once)");
    }
    o = mcp_json_object(r->pool);
    mcp_json_set_bool(o, "active", 0);
    if ((jwt = own_access_token(&t, token)) != NULL
        && !mcp_authz_token_revoked(r, conf, jwt->jti, jwt->client_id,
                                    jwt->subject, jwt->iat)) {
        mcp_json_t *aud = mcp_json_array(r->pool);
        int i;

        for (i = 0; jwt->audiences && i < jwt->audiences->nelts; i++) {
            mcp_json_append_str(aud, APR_ARRAY_IDX(jwt->audiences, i,
                                                   const char *));
        }
        mcp_json_set_bool(o, "active", 1);
        mcp_json_set_str(o, "token_type", "Bearer");
        mcp_json_set_str(o, "scope", jwt->scope ? jwt->scope : "");
        mcp_json_set_str(o, "client_id", jwt->client_id);
        mcp_json_set_str(o, "sub", jwt->subject);
        mcp_json_set_str(o, "iss", jwt->issuer);
        mcp_json_set(o, "aud", aud);
        mcp_json_set_str(o, "jti", jwt->jti);
        mcp_json_set_int(o, "exp", jwt->exp);
        mcp_json_set_int(o, "iat", jwt->iat);
    }
    else if (mcp_store_refresh_get(t.st, r->pool,
                                   mcp_oauth_secret_hash(r->pool, token), &rt)
             == APR_SUCCESS
             && !rt->revoked_at && !rt->rotated_at && rt->expires_at > t.now
             && own_grant(&t, rt->resource)) {
        mcp_json_set_bool(o, "active", 1);
        mcp_json_set_str(o, "token_type", "refresh_token");
        mcp_json_set_str(o, "scope", rt->scope ? rt->scope : "");
        mcp_json_set_str(o, "client_id", rt->client_id);
        mcp_json_set_str(o, "sub", rt->subject);
        mcp_json_set_str(o, "iss", conf->issuer);
        if (rt->resource) {
            mcp_json_set_str(o, "aud", rt->resource);
        }
        mcp_json_set_int(o, "exp", rt->expires_at);
        mcp_json_set_int(o, "iat", rt->created_at);
    }
    return mcp_authz_send_json(r, HTTP_OK,
                               mcp_json_dump(r->pool, o, MCP_JSON_FMT_COMPACT,
                                             NULL));
}
