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

/* What the endpoints share: responses, form bodies, the store, client
 * lookup and client authentication (RFC 6749 §2.3). */

#include <httpd.h>
#include <http_config.h>
#include <http_log.h>
#include <http_protocol.h>
#include <http_request.h>
#include <apr_strings.h>

#include "mcp/mcp_common.h"
#include "mcp/mcp_html.h"
#include "mcp/mcp_oauth.h"
#include "mcp/mcp_url.h"
#include "mcp_glue.h"
#include "authz_private.h"

APLOG_USE_MODULE(mcp_authz);

/* Form parameters: how many, and how long one may be. Real requests have
 * a dozen short ones; a CIMD client_id or a redirect URI is the longest. */
#define FORM_MAX_PARAMS 32
#define FORM_MAX_LEN    4096

apr_int64_t mcp_authz_now(void)
{
    return (apr_int64_t)apr_time_sec(apr_time_now());
}

const char *mcp_authz_client_ip(request_rec *r)
{
    return r->useragent_ip ? r->useragent_ip : r->connection->client_ip;
}

static int send_body(request_rec *r, int status, const char *type,
                     const char *body)
{
    apr_size_t len = strlen(body);

    r->status = status;
    ap_set_content_type(r, type);
    apr_table_setn(r->headers_out, "Cache-Control", "no-store");
    apr_table_setn(r->headers_out, "Pragma", "no-cache");
    apr_table_setn(r->headers_out, "X-Content-Type-Options", "nosniff");
    ap_set_content_length(r, len);
    if (ap_request_has_body(r) && status >= 400) {
        /* The body may be unread: do not take it for the next request. */
        r->connection->keepalive = AP_CONN_CLOSE;
    }
    if (!r->header_only) {
        ap_rwrite(body, (int)len, r);
    }
    return OK;
}

int mcp_authz_send_json(request_rec *r, int status, const char *json)
{
    return send_body(r, status, "application/json", json);
}

int mcp_authz_send_oauth_error(request_rec *r, int status, const char *error,
                               const char *description)
{
    return mcp_authz_send_json(r, status,
                               mcp_oauth_error_json(r->pool, error, description));
}

int mcp_authz_send_html(request_rec *r, int status, const char *html)
{
    /* Pages people look at can never be framed (clickjacking of the
     * Allow button) and load nothing but inline style and the client's
     * https logo. Their URL (state, PKCE challenge) goes to no other
     * origin; not "no-referrer" though: with it browsers send the consent
     * form with "Origin: null", which the form's same-origin check must
     * refuse. A redirect to the client keeps the no-referrer it set. */
    apr_table_setn(r->headers_out, "X-Frame-Options", "DENY");
    apr_table_setn(r->headers_out, "Content-Security-Policy",
                   "default-src 'none'; style-src 'unsafe-inline'; "
                   "img-src https:; frame-ancestors 'none'; base-uri 'none'");
    if (!apr_table_get(r->headers_out, "Referrer-Policy")) {
        apr_table_setn(r->headers_out, "Referrer-Policy", "same-origin");
    }
    return send_body(r, status, "text/html; charset=utf-8", html);
}

int mcp_authz_error_page(request_rec *r, const mcp_authz_server_conf *conf,
                         int status, const char *title, const char *message)
{
    apr_table_t *vars = apr_table_make(r->pool, 4);

    apr_table_setn(vars, "title", title);
    apr_table_setn(vars, "message", message);
    apr_table_setn(vars, "issuer", conf->issuer);
    return mcp_authz_send_html(r, status,
                               mcp_html_render(r->pool, conf->error_template,
                                               vars));
}

apr_status_t mcp_authz_read_body(request_rec *r, apr_size_t max, char **pbody,
                                 apr_size_t *plen, int *pstatus)
{
    apr_status_t rv = mcp_glue_read_body(r, (apr_off_t)max, pbody, plen,
                                         pstatus);

    if (rv == MCP_ETOOLARGE) {
        *pstatus = HTTP_REQUEST_ENTITY_TOO_LARGE;
    }
    return rv;
}

/* application/x-www-form-urlencoded, parameters (charset) allowed. */
static int is_form(request_rec *r)
{
    const char *ct = apr_table_get(r->headers_in, "Content-Type");
    static const char form[] = "application/x-www-form-urlencoded";

    return ct && !strncasecmp(ct, form, sizeof(form) - 1)
        && (!ct[sizeof(form) - 1] || ct[sizeof(form) - 1] == ';'
            || ct[sizeof(form) - 1] == ' ');
}

apr_table_t *mcp_authz_read_form(request_rec *r, apr_size_t max, int *pstatus,
                                 const char **perr)
{
    apr_table_t *form = NULL;
    char *body;
    apr_size_t len;
    apr_status_t rv;

    if (!is_form(r)) {
        *pstatus = HTTP_UNSUPPORTED_MEDIA_TYPE;
        *perr = "the body must be application/x-www-form-urlencoded";
        r->connection->keepalive = AP_CONN_CLOSE;
        return NULL;
    }
    rv = mcp_authz_read_body(r, max, &body, &len, pstatus);
    if (rv != APR_SUCCESS) {
        *perr = rv == MCP_ETOOLARGE ? "the request body is too large"
                                    : "the request body cannot be read";
        return NULL;
    }
    rv = mcp_url_form_decode(&form, r->pool, body, len, FORM_MAX_PARAMS,
                             FORM_MAX_LEN, perr);
    if (rv != APR_SUCCESS) {
        *pstatus = HTTP_BAD_REQUEST;
        if (!*perr) {
            *perr = "malformed form body";
        }
        return NULL;
    }
    return form;
}

mcp_store_t *mcp_authz_store(request_rec *r)
{
    return mcp_glue_store(r, APLOG_MODULE_INDEX);
}

int mcp_authz_client_usable(const mcp_store_client_t *c, apr_int64_t now)
{
    if (c->disabled_at) {
        return 0;
    }
    /* A cached metadata document that expired is fetched again by the
     * lookup; for other clients the expiry is their idle timeout. */
    return !c->expires_at || c->expires_at > now || !strcmp(c->kind, "cimd");
}

apr_status_t mcp_authz_client_lookup(request_rec *r, mcp_authz_server_conf *conf,
                                     mcp_store_t *st, const char *client_id,
                                     mcp_store_client_t **pc, const char **perr)
{
    apr_status_t rv;

    if (mcp_authz_is_cimd_id(r->pool, conf, client_id)) {
        return mcp_authz_cimd_client(r, conf, st, client_id, pc, perr);
    }
    rv = mcp_store_client_get(st, r->pool, client_id, pc);
    if (rv == APR_SUCCESS && !strcmp((*pc)->kind, "cimd")) {
        /* A metadata document another server of this store fetched and
         * cached: this one does not fetch it (documents are off here, or
         * the URL is one it refuses, such as http on loopback), so it
         * does not take the cached copy either. */
        *pc = NULL;
        rv = MCP_ENOTFOUND;
    }
    if (rv == MCP_ENOTFOUND) {
        *perr = "unknown client";
    }
    else if (rv != APR_SUCCESS) {
        *perr = "the store failed";
        ap_log_rerror(APLOG_MARK, APLOG_ERR, mcp_glue_log_status(rv), r,
                      MCPLOGNO(00802) "looking up a client failed: %s",
                      mcp_store_error(st));
    }
    return rv;
}


int mcp_authz_done(int rc)
{
    return rc == OK ? DONE : rc;
}

int mcp_authz_refuse(request_rec *r, int status, const char *error,
                     const char *desc)
{
    return mcp_authz_done(mcp_authz_send_oauth_error(r, status, error, desc));
}

/* 401 invalid_client, and stop; with a Basic challenge when the client
 * tried the Authorization header (RFC 6749 §5.2). */
static int invalid_client(request_rec *r, int basic, const char *desc)
{
    if (basic) {
        apr_table_setn(r->err_headers_out, "WWW-Authenticate",
                       "Basic realm=\"OAuth client\"");
    }
    return mcp_authz_refuse(r, HTTP_UNAUTHORIZED, "invalid_client", desc);
}

int mcp_authz_client_authenticate(request_rec *r, mcp_authz_server_conf *conf,
                                  mcp_store_t *st, apr_table_t *form,
                                  int need_secret,
                                  mcp_authz_client_auth_t **pauth)
{
    const char *hdr = apr_table_get(r->headers_in, "Authorization");
    const char *basic_id = NULL, *basic_secret = NULL, *id, *secret, *err;
    const char *form_id, *form_secret;
    mcp_authz_client_auth_t *a = apr_pcalloc(r->pool, sizeof(*a));
    int dup = 0;
    apr_status_t rv;

    form_id = mcp_url_form_get(form, "client_id", &dup);
    form_secret = mcp_url_form_get(form, "client_secret", &dup);
    if (dup) {
        return mcp_authz_refuse(r, HTTP_BAD_REQUEST, "invalid_request",
                                "client_id or client_secret given twice");
    }
    if (hdr) {
        rv = mcp_oauth_basic_credentials(r->pool, hdr, &basic_id, &basic_secret);
        if (rv == MCP_EPARSE) {
            return invalid_client(r, 1, "malformed Basic credentials");
        }
        a->basic = rv == APR_SUCCESS;
    }
    if (a->basic && form_secret) {
        return mcp_authz_refuse(r, HTTP_BAD_REQUEST, "invalid_request",
                                "use one client authentication method, "
                                "not two");
    }
    if (a->basic && form_id && strcmp(form_id, basic_id)) {
        return mcp_authz_refuse(r, HTTP_BAD_REQUEST, "invalid_request",
                                "client_id does not match the Basic "
                                "credentials");
    }
    id = a->basic ? basic_id : form_id;
    secret = a->basic ? basic_secret : form_secret;
    if (!id || !*id) {
        return invalid_client(r, a->basic, "no client_id");
    }
    if (!mcp_oauth_param_valid(id, FORM_MAX_LEN)) {
        return invalid_client(r, a->basic, "malformed client_id");
    }
    rv = mcp_authz_client_lookup(r, conf, st, id, &a->client, &err);
    if (rv != APR_SUCCESS) {
        if (rv == MCP_ESTORE || rv == APR_ENOMEM) {
            return mcp_authz_refuse(r, HTTP_SERVICE_UNAVAILABLE,
                                    "temporarily_unavailable",
                                    "the store is not available");
        }
        return invalid_client(r, a->basic, "unknown client");
    }
    if (!mcp_authz_client_usable(a->client, mcp_authz_now())) {
        return invalid_client(r, a->basic, "the client is disabled or its "
                              "registration expired: register again");
    }
    if (a->client->secret_hash) {
        if (!secret || !*secret
            || !mcp_oauth_secret_verify(r->pool, a->client->secret_hash,
                                        secret)) {
            ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, MCPLOGNO(00803)
                          "client %s failed to authenticate",
                          a->client->client_id);
            return invalid_client(r, a->basic,
                                  "client authentication failed");
        }
        a->method = a->basic ? "client_secret_basic" : "client_secret_post";
    }
    else {
        if (need_secret) {
            return invalid_client(r, a->basic, "this endpoint is for "
                                  "confidential clients");
        }
        a->method = "none";
    }
    *pauth = a;
    return OK;
}
