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

/* The bearer check of protected locations, as httpd auth providers:
 *
 *   AuthType mcp              check_authn: a valid access token of this
 *                             server for this resource sets r->user
 *   Require mcp-scope a b     the token must hold every listed scope
 *
 * Failures get the challenges MCP clients act on (RFC 6750, RFC 9728):
 * 401 with WWW-Authenticate: Bearer resource_metadata="...", scope="..."
 * (and error="invalid_token" for a bad token), and 403 with
 * error="insufficient_scope" whose scope is what the token has plus what
 * the call needs, so a client can ask for the union.
 *
 * mod_authz_core answers an authorization failure of an authenticated
 * user with 401 (unless AuthzSendForbiddenOnFailure is on); an error
 * filter turns that into the 403 RFC 6750 asks for, and gives every
 * challenge a JSON body. */

#include <httpd.h>
#include <http_config.h>
#include <http_core.h>
#include <http_log.h>
#include <http_protocol.h>
#include <http_request.h>
#include <util_filter.h>
#include <apr_strings.h>

#include "mcp/mcp_common.h"
#include "mcp/mcp_jwt.h"
#include "mcp/mcp_oauth.h"
#include "mcp/mcp_scope.h"
#include "mcp_glue.h"
#include "authz_private.h"

APLOG_USE_MODULE(mcp_authz);

/* The optional hook "token_accepted" (include/mod_mcp.h), run here. */
#define MCP_DECLARE(type) static type
APR_IMPLEMENT_OPTIONAL_HOOK_RUN_ALL(mcp, MCP, int, token_accepted,
                                    (request_rec *r,
                                     const mcp_token_info_t *info),
                                    (r, info), OK, DECLINED)

#define CHALLENGE_FILTER "MCP_AUTHZ_CHALLENGE"
/** Longest bearer token looked at. */
#define MAX_TOKEN 16384

typedef mcp_authz_req_t bearer_t;

static bearer_t *bearer_of(request_rec *r, int create)
{
    return mcp_authz_req(r, create);
}

const mcp_token_info_t *mcp_authz_token_get(request_rec *r)
{
    bearer_t *b;

    /* Subrequests and internal redirects see the token of the request
     * that brought it. */
    while (r->main) {
        r = r->main;
    }
    while (r->prev) {
        r = r->prev;
    }
    b = bearer_of(r, 0);
    return b ? b->info : NULL;
}

static int is_mcp_auth(request_rec *r)
{
    const char *type = ap_auth_type(r);

    return type && !strcasecmp(type, MCP_AUTHZ_AUTH_TYPE);
}

static const mcp_authz_resource_t *resource_of(request_rec *r,
                                               mcp_authz_server_conf *conf)
{
    mcp_authz_dir_conf *d = ap_get_module_config(r->per_dir_config,
                                                 &mcp_authz_module);

    return d && d->resource ? d->resource : mcp_authz_resource_default(conf);
}

static int fail(request_rec *r, bearer_t *b, int status, const char *error,
                const char *description)
{
    b->error = error;
    b->description = description;
    if (status == HTTP_UNAUTHORIZED) {
        ap_note_auth_failure(r);
    }
    return status;
}

/* "Bearer <token>", the scheme case-insensitive (RFC 6750 §2.1). */
static const char *bearer_token(const char *h)
{
    if (!h || strncasecmp(h, "Bearer", 6) || (h[6] != ' ' && h[6] != '\t')) {
        return NULL;
    }
    for (h += 6; *h == ' ' || *h == '\t'; h++)
        ;
    return h;
}

/* b64token (RFC 6750 §2.1): what a JWT is made of. */
static const char b64token_chars[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~+/=";

/* Every request with a token runs this over the whole token: strspn()
 * tests a byte with one table lookup, where apr_isalnum() and strchr()
 * took some 4000 instructions for a token of 600 bytes. */
static int token_chars_ok(const char *t)
{
    apr_size_t n = strspn(t, b64token_chars);

    return t[n] == '\0' && n > 0 && n <= MAX_TOKEN;
}

static int query_has_token(request_rec *r)
{
    const char *q = r->args;

    while (q && *q) {
        if (!strncmp(q, "access_token=", 13)) {
            return 1;
        }
        q = strchr(q, '&');
        if (q) {
            q++;
        }
    }
    return 0;
}

static int has_audience(const mcp_jwt_t *t, const char *aud)
{
    int i;

    for (i = 0; t->audiences && i < t->audiences->nelts; i++) {
        if (!strcmp(APR_ARRAY_IDX(t->audiences, i, const char *), aud)) {
            return 1;
        }
    }
    return 0;
}

/* Verify a token, through the per-process cache of verified tokens. */
static const mcp_jwt_t *verify(request_rec *r, mcp_authz_server_conf *conf,
                               const mcp_authz_resource_t *res,
                               const char *token, const char **perr)
{
    apr_size_t len = strlen(token);
    apr_int64_t now = mcp_authz_now();
    const mcp_jwt_t *t;
    mcp_jwt_verify_opts_t o;
    mcp_jwt_t *fresh;
    apr_status_t rv;

    t = mcp_authz_token_cache_get(r, token, len);
    if (t && strcmp(t->issuer, conf->issuer)) {
        /* Verified for another virtual host's issuer: judge it afresh. */
        t = NULL;
    }
    if (t) {
        /* The cache serves every virtual host of the process: a token
         * another server verified is this one's only if it issued it. */
        if (strcmp(t->issuer, conf->issuer)) {
            *perr = "the token is not from this server's issuer (iss)";
            return NULL;
        }
        if (now - MCP_AUTHZ_LEEWAY >= t->exp) {
            *perr = "the token has expired";
            return NULL;
        }
        if (!has_audience(t, res->canonical)) {
            *perr = "the token is not meant for this resource (aud)";
            return NULL;
        }
        return t;
    }
    memset(&o, 0, sizeof(o));
    o.issuer = conf->issuer;
    o.audience = res->canonical;
    o.now = now;
    o.leeway = MCP_AUTHZ_LEEWAY;
    rv = mcp_jwt_verify_access_token(&fresh, r->pool, conf->keys, token, &o,
                                     perr);
    if (rv != APR_SUCCESS) {
        return NULL;
    }
    mcp_authz_token_cache_put(r, token, len, fresh);
    return fresh;
}

static int bearer_authn(request_rec *r)
{
    mcp_authz_server_conf *conf;
    const mcp_authz_resource_t *res;
    const mcp_jwt_t *t;
    mcp_token_info_t *info;
    const char *token, *err = NULL;
    bearer_t *b;
    int rc;

    if (!is_mcp_auth(r)) {
        return DECLINED;
    }
    conf = ap_get_module_config(r->server->module_config, &mcp_authz_module);
    b = bearer_of(r, 1);
    b->bearer = 1;
    if (!conf->issuer || !conf->keys || !(res = resource_of(r, conf))) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, MCPLOGNO(00840)
                      "AuthType mcp at %s, but this server has no "
                      "MCPAuthzIssuer or no protected resource (Require "
                      "mcp-scope / MCPAuthzResource)", r->uri);
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    b->resource = res;
    if (query_has_token(r)) {
        return fail(r, b, HTTP_BAD_REQUEST, "invalid_request",
                    "access tokens are not accepted in the query string");
    }
    token = bearer_token(apr_table_get(r->headers_in, "Authorization"));
    if (!token) {
        /* No credentials: a challenge without an error code (RFC 6750
         * §3.1), so the client starts its authorization. */
        return fail(r, b, HTTP_UNAUTHORIZED, NULL, NULL);
    }
    if (!token_chars_ok(token)) {
        return fail(r, b, HTTP_UNAUTHORIZED, "invalid_token",
                    "the bearer token is malformed");
    }
    t = verify(r, conf, res, token, &err);
    if (!t) {
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, MCPLOGNO(00841)
                      "bearer token refused: %s", err ? err : "invalid");
        return fail(r, b, HTTP_UNAUTHORIZED, "invalid_token",
                    err ? err : "the token is not valid");
    }
    if (mcp_authz_token_revoked(r, conf, t->jti, t->client_id, t->subject,
                                t->iat)) {
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, MCPLOGNO(00842)
                      "bearer token %s of client %s for %s refused: revoked",
                      t->jti, t->client_id, t->subject);
        return fail(r, b, HTTP_UNAUTHORIZED, "invalid_token",
                    "the token was revoked");
    }
    info = apr_pcalloc(r->pool, sizeof(*info));
    info->subject = t->subject;
    info->client_id = t->client_id;
    info->issuer = t->issuer;
    info->audience = res->canonical;
    info->jti = t->jti;
    info->scope = t->scope ? t->scope : "";
    info->scopes = t->scopes ? t->scopes : mcp_scope_set_make(r->pool);
    info->expires_at = t->exp;
    info->issued_at = t->iat;
    b->info = info;
    r->user = apr_pstrdup(r->pool, t->subject);
    r->ap_auth_type = MCP_AUTHZ_AUTH_TYPE;
    apr_table_setn(r->subprocess_env, "MCP_CLIENT_ID", info->client_id);
    apr_table_setn(r->subprocess_env, "MCP_SCOPE", info->scope);
    apr_table_setn(r->subprocess_env, "MCP_TOKEN_ID", info->jti);
    rc = mcp_run_token_accepted(r, info);
    if (rc != OK && rc != DECLINED) {
        return rc;
    }
    return OK;
}

/* ---- Require mcp-scope ---- */

static authz_status scope_check(request_rec *r, const char *line,
                                const void *parsed)
{
    const apr_array_header_t *needed = parsed;
    const mcp_token_info_t *info = mcp_authz_token_get(r);
    bearer_t *b;

    if (!info) {
        /* Authenticated otherwise (another AuthType): not ours to grant. */
        return r->user ? AUTHZ_DENIED : AUTHZ_DENIED_NO_USER;
    }
    if (mcp_scope_covers_all(info->scopes, needed)) {
        return AUTHZ_GRANTED;
    }
    b = bearer_of(r, 1);
    b->error = "insufficient_scope";
    b->description = "the token lacks a scope this request needs";
    b->needed = mcp_scope_union(r->pool, b->needed ? b->needed
                                : mcp_scope_set_make(r->pool), needed);
    ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, MCPLOGNO(00843)
                  "token of client %s for %s lacks scope \"%s\" (has \"%s\")",
                  info->client_id, info->subject,
                  mcp_scope_join(r->pool, mcp_scope_minus(r->pool, needed,
                                                          info->scopes)),
                  info->scope);
    return AUTHZ_DENIED;
}

static const authz_provider scope_provider = {
    &scope_check,
    &mcp_authz_parse_require
};

/* ---- challenges ---- */

/* The scope of a challenge: on a 401 what the Require lines of this
 * section name, on a 403 what the token has and what the call needs. A
 * section nested in a protected resource that needs more (step-up, e.g.
 * /mcp/admin sharing /mcp's resource) adds its scopes to the resource's
 * list, but must not raise what a client asks for at the other sections:
 * clients request the 401's scope verbatim. */
static const char *challenge_scope(request_rec *r, const bearer_t *b)
{
    const mcp_authz_dir_conf *d = ap_get_module_config(r->per_dir_config,
                                                       &mcp_authz_module);
    apr_array_header_t *s = d && d->required_scopes ? d->required_scopes
                            : b->resource ? b->resource->scopes : NULL;

    if (b->needed) {
        s = mcp_scope_union(r->pool, b->needed,
                            b->info ? b->info->scopes
                                    : mcp_scope_set_make(r->pool));
    }
    return s && s->nelts ? mcp_scope_join(r->pool, s) : NULL;
}

static const char *join(apr_pool_t *p, const apr_array_header_t *parts,
                        const char *sep)
{
    const char *out = "";
    int i;

    for (i = 0; i < parts->nelts; i++) {
        out = apr_pstrcat(p, out, i ? sep : "",
                          APR_ARRAY_IDX(parts, i, const char *), NULL);
    }
    return out;
}

static void set_challenge(request_rec *r, apr_table_t *headers,
                          const bearer_t *b)
{
    apr_array_header_t *parts = apr_array_make(r->pool, 4, sizeof(const char *));
    const char *scope = challenge_scope(r, b);

    if (b->resource) {
        APR_ARRAY_PUSH(parts, const char *) =
            mcp_oauth_auth_param(r->pool, "resource_metadata",
                                 b->resource->prm_url);
    }
    if (scope) {
        APR_ARRAY_PUSH(parts, const char *) =
            mcp_oauth_auth_param(r->pool, "scope", scope);
    }
    if (b->error) {
        APR_ARRAY_PUSH(parts, const char *) =
            mcp_oauth_auth_param(r->pool, "error", b->error);
    }
    if (b->description) {
        APR_ARRAY_PUSH(parts, const char *) =
            mcp_oauth_auth_param(r->pool, "error_description", b->description);
    }
    apr_table_setn(headers, "WWW-Authenticate",
                   apr_pstrcat(r->pool, "Bearer ",
                               join(r->pool, parts, ", "), NULL));
}

static int mcp_authz_insufficient_scope(request_rec *r,
                                        const apr_array_header_t *needed)
{
    request_rec *top = r;
    bearer_t *b;

    while (top->main) {
        top = top->main;
    }
    while (top->prev) {
        top = top->prev;
    }
    b = bearer_of(top, 0);
    if (!b || !b->info) {
        return 0;
    }
    b->error = "insufficient_scope";
    b->description = "the token lacks a scope this call needs";
    b->needed = mcp_scope_union(r->pool, b->needed ? b->needed
                                : mcp_scope_set_make(r->pool), needed);
    set_challenge(r, r->headers_out, b);
    return 1;
}

static int note_failure(request_rec *r, const char *auth_type)
{
    bearer_t *b;

    if (strcasecmp(auth_type, MCP_AUTHZ_AUTH_TYPE)) {
        return DECLINED;
    }
    b = bearer_of(r, 1);
    set_challenge(r, r->err_headers_out, b);
    return OK;
}

/* Replace the error response's body with a JSON one and fix its status
 * (403 for insufficient_scope, RFC 6750 §3.1). */
static apr_status_t challenge_filter(ap_filter_t *f, apr_bucket_brigade *bb)
{
    request_rec *r = f->r;
    bearer_t *b = f->ctx;
    apr_bucket_brigade *out;
    const char *body;

    if (!b) {
        /* The body went out already: drop what follows. */
        apr_brigade_cleanup(bb);
        return APR_SUCCESS;
    }
    f->ctx = NULL;
    if (b->error && !strcmp(b->error, "insufficient_scope")) {
        r->status = HTTP_FORBIDDEN;
        r->status_line = NULL;
    }
    /* ap_send_error_response() has made err_headers_out the headers of
     * the error response by now: set the challenge there once. */
    apr_table_unset(r->err_headers_out, "WWW-Authenticate");
    set_challenge(r, r->headers_out, b);
    /* Without credentials the challenge carries no error code (RFC 6750
     * §3.1); the body says what is needed. */
    body = apr_pstrcat(r->pool,
                       mcp_oauth_error_json(r->pool,
                                            b->error ? b->error
                                                     : "unauthorized",
                                            b->description
                                            ? b->description
                                            : "this resource needs an OAuth "
                                              "bearer token"),
                       "\n", NULL);
    ap_set_content_type(r, "application/json");
    apr_table_unset(r->headers_out, "Content-Length");
    apr_brigade_cleanup(bb);
    out = apr_brigade_create(r->pool, r->connection->bucket_alloc);
    if (!r->header_only) {
        APR_BRIGADE_INSERT_TAIL(out, apr_bucket_pool_create(body, strlen(body),
                                                            r->pool,
                                                            out->bucket_alloc));
    }
    APR_BRIGADE_INSERT_TAIL(out, apr_bucket_eos_create(out->bucket_alloc));
    return ap_pass_brigade(f->next, out);
}

static void insert_error_filter(request_rec *r)
{
    bearer_t *b = bearer_of(r, 0);

    if (b && b->resource && b->bearer
        && (r->status == HTTP_UNAUTHORIZED || r->status == HTTP_FORBIDDEN
            || r->status == HTTP_BAD_REQUEST)
        && (r->status != HTTP_BAD_REQUEST || b->error)) {
        ap_add_output_filter(CHALLENGE_FILTER, b, r, r->connection);
    }
}

/* ---- CORS ---- */

static const char *allowed_origin(request_rec *r, const mcp_authz_dir_conf *d,
                                  const char *origin)
{
    int i;

    for (i = 0; d->origins && i < d->origins->nelts; i++) {
        const char *o = APR_ARRAY_IDX(d->origins, i, const char *);

        if (!strcmp(o, "*") || !strcasecmp(o, origin)) {
            return origin;
        }
    }
    return NULL;
}

/* The contract's answer: the location lists @origin (canonical, as
 * MCPAuthzAllowedOrigins keeps its entries) or "*". */
static int mcp_authz_origin_allowed(request_rec *r, const char *origin)
{
    const mcp_authz_dir_conf *d = ap_get_module_config(r->per_dir_config,
                                                       &mcp_authz_module);

    return d && origin && allowed_origin(r, d, origin) != NULL;
}

static int preflight(request_rec *r, const char *origin, const char *methods,
                     const char *headers, int max_age)
{
    r->status = HTTP_NO_CONTENT;
    apr_table_setn(r->headers_out, "Access-Control-Allow-Origin", origin);
    apr_table_setn(r->headers_out, "Access-Control-Allow-Methods", methods);
    apr_table_setn(r->headers_out, "Access-Control-Allow-Headers", headers);
    apr_table_setn(r->headers_out, "Access-Control-Max-Age",
                   apr_itoa(r->pool, max_age));
    apr_table_mergen(r->headers_out, "Vary", "Origin");
    /* DONE from header_parser ends the request here; the status line and
     * headers go out with the end of the response. */
    return DONE;
}

int mcp_authz_cors(request_rec *r)
{
    mcp_authz_server_conf *conf = ap_get_module_config(r->server->module_config,
                                                       &mcp_authz_module);
    const mcp_authz_dir_conf *d = ap_get_module_config(r->per_dir_config,
                                                       &mcp_authz_module);
    const char *origin = apr_table_get(r->headers_in, "Origin");
    int is_preflight = r->method_number == M_OPTIONS
        && apr_table_get(r->headers_in, "Access-Control-Request-Method");

    if (!origin || !conf->issuer || r->main) {
        return DECLINED;
    }
    if (is_mcp_auth(r) && d) {
        const char *ok = allowed_origin(r, d, origin);

        if (!ok) {
            return DECLINED;
        }
        /* A preflight gets its headers from preflight() alone: httpd
         * sends err_headers_out with headers_out, and a browser refuses
         * an Access-Control-Allow-Origin given twice. */
        if (is_preflight) {
            return preflight(r, ok, "GET, POST, DELETE, OPTIONS",
                             "Authorization, Content-Type, Accept, "
                             "Mcp-Protocol-Version, Mcp-Session-Id, "
                             "Last-Event-ID", 600);
        }
        apr_table_setn(r->err_headers_out, "Access-Control-Allow-Origin", ok);
        apr_table_setn(r->err_headers_out, "Access-Control-Expose-Headers",
                       "WWW-Authenticate, Mcp-Session-Id, Mcp-Protocol-Version");
        apr_table_mergen(r->err_headers_out, "Vary", "Origin");
    }
    return DECLINED;
}

/* Preflights of the authorization server's endpoints other than the
 * authorization endpoint (a page, not an API): any origin may call them,
 * without credentials. */
int mcp_authz_cors_endpoint(request_rec *r)
{
    const char *origin = apr_table_get(r->headers_in, "Origin");

    if (!origin || r->method_number != M_OPTIONS
        || !apr_table_get(r->headers_in, "Access-Control-Request-Method")) {
        return DECLINED;
    }
    return preflight(r, "*", "GET, POST, OPTIONS",
                     "Authorization, Content-Type, Accept, "
                     "Mcp-Protocol-Version", 86400);
}

void mcp_authz_bearer_register(apr_pool_t *p)
{
    ap_hook_check_authn(bearer_authn, NULL, NULL, APR_HOOK_MIDDLE,
                        AP_AUTH_INTERNAL_PER_CONF);
    ap_register_auth_provider(p, AUTHZ_PROVIDER_GROUP, MCP_AUTHZ_SCOPE_PROVIDER,
                              AUTHZ_PROVIDER_VERSION, &scope_provider,
                              AP_AUTH_INTERNAL_PER_CONF);
    ap_hook_note_auth_failure(note_failure, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_insert_error_filter(insert_error_filter, NULL, NULL,
                                APR_HOOK_MIDDLE);
    ap_register_output_filter(CHALLENGE_FILTER, challenge_filter, NULL,
                              AP_FTYPE_CONTENT_SET);
    APR_REGISTER_OPTIONAL_FN(mcp_authz_token_get);
    APR_REGISTER_OPTIONAL_FN(mcp_authz_origin_allowed);
    APR_REGISTER_OPTIONAL_FN(mcp_authz_insufficient_scope);
}
