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

/* The authorization endpoint (OAuth 2.1 §4.1.1) and its consent page.
 *
 * The endpoint is an ordinary URL of the server: whatever httpd
 * authentication guards its <Location> (Basic, LDAP, mod_auth_openidc,
 * Kerberos) has signed the user in before this code runs, and r->user is
 * the subject of everything issued here.
 *
 * Order of the checks (OAuth 2.1 §4.1.2.1): the client and its redirect
 * URI first; when either is wrong the user gets an error page and is
 * never redirected. Everything after that is answered by a redirect to
 * the client with error=..., state and iss (RFC 9207). */

#include <httpd.h>
#include <http_config.h>
#include <http_core.h>
#include <http_log.h>
#include <http_protocol.h>
#include <http_request.h>
#include <apr_strings.h>

#include "mcp/mcp_common.h"
#include "mcp/mcp_html.h"
#include "mcp/mcp_oauth.h"
#include "mcp/mcp_scope.h"
#include "mcp/mcp_url.h"
#include "mcp_glue.h"
#include "authz_private.h"

APLOG_USE_MODULE(mcp_authz);

/* Longest accepted values of the request parameters (bytes). */
#define MAX_CLIENT_ID   2048
#define MAX_REDIRECT    2048
#define MAX_STATE       1024
#define MAX_SCOPE       2048
#define MAX_RESOURCE    2048
#define MAX_OTHER       256
/* The consent form is small. */
#define MAX_FORM        (32 * 1024)

/* One authorization request, as checked so far. */
typedef struct {
    request_rec *r;
    mcp_authz_server_conf *conf;
    mcp_store_t *st;
    apr_table_t *params;
    mcp_store_client_t *client;
    mcp_json_t *client_meta;
    const char *client_id;
    const char *redirect_uri;    /* set once it is known to be registered */
    const char *state;
    const char *challenge;
    mcp_authz_resource_t *resource;
    apr_array_header_t *scopes;  /* what will be granted */
    const char *scope;           /* the same, joined */
    const char *prompt;
    int answered;                /* a response (page or redirect) was sent */
} authz_req_t;

/* ---- answers ---- */

static int redirect_to(request_rec *r, const char *url)
{
    const char *esc = mcp_html_escape(r->pool, url);
    const char *body = apr_pstrcat(r->pool, "<!doctype html><title>Redirect"
                                   "</title><p><a href=\"", esc, "\">Continue"
                                   "</a></p>\n", NULL);

    apr_table_setn(r->headers_out, "Location", url);
    apr_table_setn(r->headers_out, "Referrer-Policy", "no-referrer");
    return mcp_authz_send_html(r, HTTP_MOVED_TEMPORARILY, body);
}

/* The client is known and so is its redirect URI: answer it there. */
static const char *response_url(authz_req_t *a, const char *name,
                                const char *value)
{
    const char *url = mcp_url_add_query(a->r->pool, a->redirect_uri, name, value);

    if (url && a->state) {
        url = mcp_url_add_query(a->r->pool, url, "state", a->state);
    }
    if (url) {
        url = mcp_url_add_query(a->r->pool, url, "iss", a->conf->issuer);
    }
    return url;
}

static int redirect_error(authz_req_t *a, const char *error, const char *desc)
{
    const char *url = response_url(a, "error", error);

    a->answered = 1;
    ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, a->r, MCPLOGNO(00820)
                  "authorization request of client %s refused: %s (%s)",
                  a->client_id, error, desc);
    if (url && desc) {
        url = mcp_url_add_query(a->r->pool, url, "error_description", desc);
    }
    if (!url) {
        return mcp_authz_error_page(a->r, a->conf, HTTP_BAD_REQUEST,
                                    "Authorization failed", desc);
    }
    return redirect_to(a->r, url);
}

static int error_page(authz_req_t *a, int status, const char *message)
{
    a->answered = 1;
    ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, a->r, MCPLOGNO(00821)
                  "authorization request refused with an error page: %s",
                  message);
    return mcp_authz_error_page(a->r, a->conf, status,
                                "This sign-in request cannot be completed",
                                message);
}

/* ---- parameters ---- */

/* The single value of @name (NULL when absent); *pbad is set when it is
 * repeated or not an acceptable value. */
static const char *param(authz_req_t *a, const char *name, apr_size_t max,
                         int *pbad)
{
    int dup = 0;
    const char *v = mcp_url_form_get(a->params, name, &dup);

    if (dup || (v && !mcp_oauth_param_valid(v, max))) {
        *pbad = 1;
    }
    return v;
}

static apr_status_t read_params(authz_req_t *a, int *pstatus, const char **perr)
{
    request_rec *r = a->r;
    const char *q = r->args ? r->args : "";

    if (r->method_number == M_POST) {
        a->params = mcp_authz_read_form(r, MAX_FORM, pstatus, perr);
        return a->params ? APR_SUCCESS : APR_EGENERAL;
    }
    if (mcp_url_form_decode(&a->params, r->pool, q, strlen(q), 32, 4096,
                            perr) != APR_SUCCESS) {
        *pstatus = HTTP_BAD_REQUEST;
        if (!*perr) {
            *perr = "malformed query string";
        }
        return APR_EGENERAL;
    }
    return APR_SUCCESS;
}

/* The client and its redirect URI: an error page when either is wrong. */
static int check_client(authz_req_t *a)
{
    request_rec *r = a->r;
    const char *err = NULL, *redirect;
    int bad = 0, n;
    apr_status_t rv;

    a->client_id = param(a, "client_id", MAX_CLIENT_ID, &bad);
    if (bad || !a->client_id || !*a->client_id) {
        return error_page(a, HTTP_BAD_REQUEST, "The request names no valid "
                          "client (client_id).");
    }
    rv = mcp_authz_client_lookup(r, a->conf, a->st, a->client_id, &a->client,
                                 &err);
    if (rv == MCP_ESTORE) {
        return error_page(a, HTTP_SERVICE_UNAVAILABLE, "The gateway's store is "
                          "not available right now. Try again later.");
    }
    if (rv != APR_SUCCESS) {
        return error_page(a, HTTP_BAD_REQUEST,
                          apr_pstrcat(r->pool, "The client is not known to this "
                                      "gateway: ", err ? err : "unknown client",
                                      NULL));
    }
    if (!mcp_authz_client_usable(a->client, mcp_authz_now())) {
        return error_page(a, HTTP_BAD_REQUEST, "This client is disabled or its "
                          "registration has expired.");
    }
    redirect = param(a, "redirect_uri", MAX_REDIRECT, &bad);
    n = a->client->redirect_uris ? a->client->redirect_uris->nelts : 0;
    if (bad) {
        return error_page(a, HTTP_BAD_REQUEST, "The redirect_uri parameter is "
                          "malformed or repeated.");
    }
    if (!redirect && n == 1) {
        redirect = APR_ARRAY_IDX(a->client->redirect_uris, 0, const char *);
    }
    if (!redirect) {
        return error_page(a, HTTP_BAD_REQUEST, "The request has no "
                          "redirect_uri.");
    }
    if (!mcp_oauth_redirect_allowed(r->pool, a->client->redirect_uris, redirect)) {
        return error_page(a, HTTP_BAD_REQUEST, "The redirect URI is not "
                          "registered for this client.");
    }
    a->redirect_uri = redirect;
    if (a->client->metadata) {
        mcp_json_parse(&a->client_meta, r->pool, a->client->metadata,
                       strlen(a->client->metadata), NULL, NULL);
    }
    return OK;
}

static int may_grant(request_rec *r, const mcp_authz_scope_t *sc)
{
    const char *err = NULL;

    if (sc->expr) {
        int ok = ap_expr_exec(r, sc->expr, &err);

        if (err) {
            ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, MCPLOGNO(00822)
                          "MCPAuthzScope %s: evaluating expr= failed: %s",
                          sc->name, err);
        }
        if (ok <= 0) {
            return 0;
        }
    }
    if (sc->provider
        && sc->provider->check_authorization(r, sc->provider_args,
                                             sc->provider_parsed)
           != AUTHZ_GRANTED) {
        return 0;
    }
    return 1;
}

/* The scopes this user may be granted of those asked for. */
static int check_scope(authz_req_t *a, const char *asked)
{
    apr_array_header_t *want, *grant = mcp_scope_set_make(a->r->pool);
    const char *err = NULL;
    int i;

    if (asked && *asked) {
        if (mcp_scope_parse(&want, a->r->pool, asked, &err) != APR_SUCCESS) {
            return redirect_error(a, "invalid_scope", err);
        }
    }
    else {
        /* No scope asked: the resource's baseline. */
        want = a->resource->scopes;
    }
    for (i = 0; i < want->nelts; i++) {
        const char *s = APR_ARRAY_IDX(want, i, const char *);
        const mcp_authz_scope_t *sc = mcp_authz_scope_find(a->conf, s);

        if (!strcmp(s, MCP_AUTHZ_OFFLINE_ACCESS)) {
            if (strstr(a->client->grant_types, "refresh_token")) {
                mcp_scope_set_add(grant, s);
            }
        }
        else if (sc && may_grant(a->r, sc)) {
            mcp_scope_set_add(grant, s);
        }
        else {
            ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, a->r, MCPLOGNO(00823)
                          "scope %s is not granted to %s (%s)", s, a->r->user,
                          sc ? "its rule says no" : "not declared");
        }
    }
    if (want->nelts && !grant->nelts) {
        return redirect_error(a, "invalid_scope", "none of the requested scopes "
                              "may be granted to this user");
    }
    a->scopes = grant;
    a->scope = mcp_scope_join(a->r->pool, grant);
    return OK;
}

/* An administrator may restrict a client to some resources (mcpctl client
 * register --allowed-resource): the metadata's "allowed_resources". */
static int resource_allowed(authz_req_t *a)
{
    mcp_json_t *list = a->client_meta
        ? mcp_json_get(a->r->pool, a->client_meta, "allowed_resources") : NULL;
    apr_size_t i;

    if (!list || !mcp_json_is_array(list) || !mcp_json_size(list)) {
        return 1;
    }
    for (i = 0; i < mcp_json_size(list); i++) {
        mcp_json_t *e = mcp_json_array_get(a->r->pool, list, i);

        if (mcp_json_is_string(e)
            && mcp_url_same_resource(a->r->pool, mcp_json_str(e),
                                     a->resource->canonical)) {
            return 1;
        }
    }
    return 0;
}

/* Everything after the client: errors are redirects now. */
static int check_request(authz_req_t *a)
{
    request_rec *r = a->r;
    const char *rt, *method, *resource, *scope;
    int bad = 0;

    a->state = param(a, "state", MAX_STATE, &bad);
    if (bad) {
        a->state = NULL;
        return redirect_error(a, "invalid_request", "state is malformed or "
                              "repeated");
    }
    rt = param(a, "response_type", MAX_OTHER, &bad);
    a->challenge = param(a, "code_challenge", MAX_OTHER, &bad);
    method = param(a, "code_challenge_method", MAX_OTHER, &bad);
    resource = param(a, "resource", MAX_RESOURCE, &bad);
    scope = param(a, "scope", MAX_SCOPE, &bad);
    a->prompt = param(a, "prompt", MAX_OTHER, &bad);
    if (bad) {
        return redirect_error(a, "invalid_request", "a parameter is malformed, "
                              "too long or repeated");
    }
    if (!rt || strcmp(rt, "code")) {
        return redirect_error(a, "unsupported_response_type",
                              "only response_type=code is supported");
    }
    if (!a->challenge) {
        return redirect_error(a, "invalid_request", "PKCE is required: "
                              "code_challenge is missing");
    }
    if (!method || strcmp(method, "S256")) {
        return redirect_error(a, "invalid_request", "PKCE with "
                              "code_challenge_method=S256 is required");
    }
    if (!mcp_oauth_pkce_challenge_valid(a->challenge)) {
        return redirect_error(a, "invalid_request", "code_challenge is not an "
                              "S256 challenge");
    }
    if (resource) {
        a->resource = mcp_authz_resource_find(r->pool, a->conf, resource);
        if (!a->resource) {
            return redirect_error(a, "invalid_target", "the resource is not "
                                  "one of this gateway's");
        }
    }
    else if (!(a->resource = mcp_authz_resource_default(a->conf))) {
        return redirect_error(a, "invalid_target", "this gateway has no "
                              "protected resource");
    }
    if (!resource_allowed(a)) {
        return redirect_error(a, "invalid_target", "this client may not get "
                              "tokens for that resource");
    }
    return check_scope(a, scope);
}

/* ---- codes and consents ---- */

static int issue_code(authz_req_t *a)
{
    request_rec *r = a->r;
    mcp_store_code_t c;
    const char *code;
    apr_int64_t now = mcp_authz_now();
    apr_status_t rv;

    memset(&c, 0, sizeof(c));
    if (mcp_oauth_secret_new(&code, &c.code_hash, r->pool) != APR_SUCCESS) {
        return error_page(a, HTTP_INTERNAL_SERVER_ERROR, "No randomness.");
    }
    c.client_id = a->client->client_id;
    c.redirect_uri = a->redirect_uri;
    c.code_challenge = a->challenge;
    c.code_challenge_method = "S256";
    c.resource = a->resource->canonical;
    c.scope = a->scope;
    c.subject = r->user;
    c.created_at = now;
    c.expires_at = now + mcp_authz_code_lifetime(a->conf);
    rv = mcp_store_code_put(a->st, &c);
    if (rv != APR_SUCCESS) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, mcp_glue_log_status(rv), r,
                      MCPLOGNO(00824) "storing an authorization code failed: %s",
                      mcp_store_error(a->st));
        return redirect_error(a, "temporarily_unavailable", "the store is not "
                              "available");
    }
    ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, MCPLOGNO(00825)
                  "authorization code issued to client %s for %s (resource %s, "
                  "scope \"%s\")", c.client_id, r->user, c.resource, c.scope);
    return redirect_to(r, response_url(a, "code", code));
}

/* Does a remembered consent cover this request? */
static int consented(authz_req_t *a)
{
    mcp_store_consent_t *c;
    apr_array_header_t *had;

    if (mcp_store_consent_get(a->st, a->r->pool, a->r->user,
                              a->client->client_id, a->resource->canonical,
                              mcp_authz_now(), &c) != APR_SUCCESS
        || mcp_scope_parse(&had, a->r->pool, c->scope, NULL) != APR_SUCCESS) {
        return 0;
    }
    return mcp_scope_covers_all(had, a->scopes);
}

static void remember(authz_req_t *a)
{
    mcp_store_consent_t c, *old;
    apr_array_header_t *had, *all = a->scopes;
    apr_int64_t now = mcp_authz_now();
    int lifetime = mcp_authz_consent_lifetime(a->conf);

    if (lifetime <= 0) {
        return;
    }
    if (mcp_store_consent_get(a->st, a->r->pool, a->r->user,
                              a->client->client_id, a->resource->canonical,
                              now, &old) == APR_SUCCESS
        && mcp_scope_parse(&had, a->r->pool, old->scope, NULL) == APR_SUCCESS) {
        all = mcp_scope_union(a->r->pool, had, a->scopes);
    }
    c.subject = a->r->user;
    c.client_id = a->client->client_id;
    c.resource = a->resource->canonical;
    c.scope = mcp_scope_join(a->r->pool, all);
    c.granted_at = now;
    c.expires_at = now + lifetime;
    if (mcp_store_consent_put(a->st, &c) != APR_SUCCESS) {
        /* The authorization goes on; the user is asked again next time. */
        ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, a->r, MCPLOGNO(00826)
                      "remembering the consent of %s for client %s failed: %s",
                      a->r->user, a->client->client_id, mcp_store_error(a->st));
    }
}

/* What the CSRF token of the consent form is bound to: the user and
 * every parameter the form confirms. */
static const char *binding(authz_req_t *a)
{
    return apr_pstrcat(a->r->pool, a->r->user, "\n", a->client->client_id, "\n",
                       a->redirect_uri, "\n", a->resource->canonical, "\n",
                       a->scope, "\n", a->challenge, "\n",
                       a->state ? a->state : "", NULL);
}

static const char *meta_str(authz_req_t *a, const char *name)
{
    return a->client_meta ? mcp_json_get_str(a->r->pool, a->client_meta, name)
                          : NULL;
}

/* Where the browser goes back to, as people read it. */
static const char *redirect_host(authz_req_t *a)
{
    mcp_url_t *u;

    if (mcp_url_parse(&u, a->r->pool, a->redirect_uri,
                      MCP_URL_ANY_HTTP | MCP_URL_OTHER_SCHEMES, NULL)
        != APR_SUCCESS) {
        return a->redirect_uri;
    }
    if (!strcmp(u->scheme, "http") || !strcmp(u->scheme, "https")) {
        return u->port_given ? apr_psprintf(a->r->pool, "%s:%u", u->host,
                                            (unsigned)u->port)
                             : u->host;
    }
    return apr_pstrcat(a->r->pool, u->scheme, "://", u->host, NULL);
}

static const char *hidden(apr_pool_t *p, const char *name, const char *value)
{
    return apr_pstrcat(p, "<input type=\"hidden\" name=\"", name, "\" value=\"",
                       mcp_html_escape(p, value), "\">\n", NULL);
}

static const char *scope_text(authz_req_t *a, const char *s)
{
    const mcp_authz_scope_t *sc = mcp_authz_scope_find(a->conf, s);

    if (sc) {
        return sc->description;
    }
    return !strcmp(s, MCP_AUTHZ_OFFLINE_ACCESS)
        ? "Stay connected: the application may renew its access without "
          "asking you again"
        : "";
}

static int consent_page(authz_req_t *a)
{
    request_rec *r = a->r;
    apr_table_t *v = apr_table_make(r->pool, 16);
    apr_array_header_t *list = apr_array_make(r->pool, 8, sizeof(const char *));
    const char *logo = meta_str(a, "logo_uri"), *fields;
    int i;

    for (i = 0; i < a->scopes->nelts; i++) {
        const char *s = APR_ARRAY_IDX(a->scopes, i, const char *);

        APR_ARRAY_PUSH(list, const char *) =
            apr_pstrcat(r->pool, "<li><code>", mcp_html_escape(r->pool, s),
                        "</code> ", mcp_html_escape(r->pool, scope_text(a, s)),
                        "</li>\n", NULL);
    }
    if (!a->scopes->nelts) {
        APR_ARRAY_PUSH(list, const char *) = "<li>no special permissions</li>\n";
    }
    fields = apr_pstrcat(r->pool,
        hidden(r->pool, "response_type", "code"),
        hidden(r->pool, "client_id", a->client->client_id),
        hidden(r->pool, "redirect_uri", a->redirect_uri),
        hidden(r->pool, "code_challenge", a->challenge),
        hidden(r->pool, "code_challenge_method", "S256"),
        hidden(r->pool, "resource", a->resource->canonical),
        hidden(r->pool, "scope", a->scope),
        a->state ? hidden(r->pool, "state", a->state) : "",
        hidden(r->pool, "csrf", mcp_oauth_csrf_make(r->pool, a->conf->csrf_key,
                                                    binding(a), mcp_authz_now())),
        NULL);
    apr_table_setn(v, "client_name", a->client->client_name
                                     ? a->client->client_name
                                     : a->client->client_id);
    apr_table_setn(v, "client_id", a->client->client_id);
    if (logo && !strncasecmp(logo, "https://", 8)) {
        apr_table_setn(v, "logo_uri", logo);
    }
    apr_table_setn(v, "redirect_host", redirect_host(a));
    apr_table_setn(v, "resource", a->resource->canonical);
    apr_table_setn(v, "user", r->user);
    apr_table_setn(v, "issuer", a->conf->issuer);
    apr_table_setn(v, "action", mcp_authz_path(a->conf, MCP_EP_AUTHORIZE));
    apr_table_setn(v, "scope_list", apr_array_pstrcat(r->pool, list, '\0'));
    apr_table_setn(v, "hidden_fields", fields);
    if (a->client->redirect_uris && a->client->redirect_uris->nelts) {
        int loopback = 1;

        for (i = 0; i < a->client->redirect_uris->nelts; i++) {
            mcp_redirect_kind_e kind;
            const char *u = APR_ARRAY_IDX(a->client->redirect_uris, i,
                                          const char *);
            if (mcp_url_redirect_kind(r->pool, u, &kind, NULL) != APR_SUCCESS
                || kind != MCP_REDIRECT_LOOPBACK) {
                loopback = 0;
            }
        }
        if (loopback) {
            apr_table_setn(v, "loopback_only", "1");
        }
    }
    if (!strcmp(a->client->kind, "dcr")) {
        apr_table_setn(v, "self_declared", "1");
    }
    return mcp_authz_send_html(r, HTTP_OK,
                               mcp_html_render(r->pool, a->conf->consent_template,
                                               v));
}

/* A consent form must come from a page of this server. */
static int same_origin_post(authz_req_t *a)
{
    request_rec *r = a->r;
    const char *origin = apr_table_get(r->headers_in, "Origin");
    const char *host = apr_table_get(r->headers_in, "Host");
    const char *mine;

    if (!origin) {
        return 1;   /* older browsers; the CSRF token still decides */
    }
    if (!strcmp(origin, a->conf->origin)) {
        return 1;
    }
    mine = host ? apr_pstrcat(r->pool, ap_http_scheme(r), "://", host, NULL)
                : NULL;
    return mine && !strcasecmp(origin, mine);
}

static int decide(authz_req_t *a)
{
    request_rec *r = a->r;
    int bad = 0;
    const char *decision = param(a, "decision", MAX_OTHER, &bad);
    const char *csrf = param(a, "csrf", MAX_OTHER, &bad);

    if (!same_origin_post(a)) {
        return error_page(a, HTTP_FORBIDDEN, "The consent form was sent from "
                          "another site.");
    }
    if (bad || !csrf
        || !mcp_oauth_csrf_check(r->pool, a->conf->csrf_key, binding(a), csrf,
                                 mcp_authz_now(),
                                 MCP_AUTHZ_CONSENT_FORM_MAX_AGE)) {
        ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r, MCPLOGNO(00827)
                      "consent form of %s for client %s refused: missing, "
                      "expired or wrong CSRF token", r->user,
                      a->client->client_id);
        return error_page(a, HTTP_FORBIDDEN, "The consent form has expired or "
                          "was not made for you. Start the sign-in again from "
                          "the application.");
    }
    if (!decision || strcmp(decision, "allow")) {
        return redirect_error(a, "access_denied", "the user denied the request");
    }
    remember(a);
    return issue_code(a);
}

int mcp_authz_handle_authorize(request_rec *r, mcp_authz_server_conf *conf)
{
    authz_req_t a;
    const char *err = NULL;
    int status = HTTP_BAD_REQUEST, rc;

    memset(&a, 0, sizeof(a));
    a.r = r;
    a.conf = conf;
    if (r->method_number != M_GET && r->method_number != M_POST) {
        apr_table_setn(r->headers_out, "Allow", "GET, POST");
        return error_page(&a, HTTP_METHOD_NOT_ALLOWED, "Use GET or POST.");
    }
    if (!r->user || !*r->user) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, MCPLOGNO(00828)
                      "the authorization endpoint %s is not behind httpd "
                      "authentication: protect its <Location> (AuthType, "
                      "Require)", r->uri);
        return error_page(&a, HTTP_INTERNAL_SERVER_ERROR, "The gateway's "
                          "sign-in is not configured.");
    }
    if (read_params(&a, &status, &err) != APR_SUCCESS) {
        return error_page(&a, status, err);
    }
    if (!(a.st = mcp_authz_store(r))) {
        return error_page(&a, HTTP_SERVICE_UNAVAILABLE, "The gateway's store is "
                          "not available right now. Try again later.");
    }
    /* A check that failed has answered already (error page or
     * redirect): stop there. */
    rc = check_client(&a);
    if (rc != OK || a.answered) {
        return rc;
    }
    rc = check_request(&a);
    if (rc != OK || a.answered) {
        return rc;
    }
    if (r->method_number == M_POST) {
        return decide(&a);
    }
    if (a.prompt && strstr(a.prompt, "none")) {
        return consented(&a) ? issue_code(&a)
            : redirect_error(&a, "consent_required", "the user has not "
                             "consented yet");
    }
    if (!(a.prompt && strstr(a.prompt, "consent")) && consented(&a)) {
        return issue_code(&a);
    }
    return consent_page(&a);
}
