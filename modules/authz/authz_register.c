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

/* Dynamic client registration (RFC 7591). MCP 2026-07-28 prefers Client
 * ID Metadata Documents; registration stays for the clients in the field
 * that use it (Cursor, VS Code, mcp-remote, the TS SDK). Registered
 * clients expire after MCPAuthzLifetime client-idle without use; a client
 * that then gets invalid_client at /token registers again. */

#include <httpd.h>
#include <http_config.h>
#include <http_log.h>
#include <http_protocol.h>
#include <apr_strings.h>

#include "mcp/mcp_common.h"
#include "mcp/mcp_crypto.h"
#include "mcp/mcp_oauth.h"
#include "mcp/mcp_scope.h"
#include "mcp_glue.h"
#include "authz_private.h"

APLOG_USE_MODULE(mcp_authz);

/* A registration request is a small JSON document. */
#define REG_MAX_BODY  (16 * 1024)
#define REG_MAX_DEPTH 8

static int is_json(request_rec *r)
{
    const char *ct = apr_table_get(r->headers_in, "Content-Type");

    return ct && !strncasecmp(ct, "application/json", 16)
        && (!ct[16] || ct[16] == ';' || ct[16] == ' ');
}

/* The initial access token of MCPAuthzRegistration token <file>. */
static int token_ok(request_rec *r, const mcp_authz_server_conf *conf)
{
    const char *h = apr_table_get(r->headers_in, "Authorization");

    if (!h || strncasecmp(h, "Bearer ", 7) || !conf->reg_token) {
        return 0;
    }
    h += 7;
    while (*h == ' ') {
        h++;
    }
    return mcp_crypto_str_equal(h, conf->reg_token);
}

/* Keep only the scopes this server knows (RFC 7591 §2: the server may
 * replace requested metadata with its own values). */
static const char *known_scopes(apr_pool_t *p, const mcp_authz_server_conf *conf,
                                const char *scope)
{
    apr_array_header_t *set, *out;
    int i;

    if (!scope || mcp_scope_parse(&set, p, scope, NULL) != APR_SUCCESS) {
        return NULL;
    }
    out = mcp_scope_set_make(p);
    for (i = 0; i < set->nelts; i++) {
        const char *s = APR_ARRAY_IDX(set, i, const char *);

        if (mcp_authz_scope_find(conf, s) || !strcmp(s, MCP_AUTHZ_OFFLINE_ACCESS)) {
            mcp_scope_set_add(out, s);
        }
    }
    return out->nelts ? mcp_scope_join(p, out) : NULL;
}

static const char *new_client_id(apr_pool_t *p)
{
    unsigned char raw[16];
    char hex[sizeof(raw) * 2 + 1];
    int i;

    if (mcp_crypto_random(raw, sizeof(raw)) != APR_SUCCESS) {
        return NULL;
    }
    for (i = 0; i < (int)sizeof(raw); i++) {
        apr_snprintf(hex + 2 * i, 3, "%02x", raw[i]);
    }
    return apr_pstrcat(p, "dcr-", hex, NULL);
}

int mcp_authz_handle_register(request_rec *r, mcp_authz_server_conf *conf)
{
    mcp_oauth_client_meta_t *m;
    mcp_store_client_t c;
    mcp_json_limits_t lim = { REG_MAX_BODY, REG_MAX_DEPTH, 0 };
    mcp_json_t *doc, *out;
    mcp_store_t *st;
    const char *error = NULL, *desc = NULL, *secret = NULL, *scope;
    char *body;
    apr_size_t len;
    apr_int64_t now = mcp_authz_now();
    apr_status_t rv;
    int status, retry = 0;

    apr_table_setn(r->headers_out, "Access-Control-Allow-Origin", "*");
    if (r->method_number != M_POST) {
        apr_table_setn(r->headers_out, "Allow", "POST, OPTIONS");
        return mcp_authz_send_oauth_error(r, HTTP_METHOD_NOT_ALLOWED,
                                          "invalid_request", "use POST");
    }
    if (conf->reg_policy == MCP_REG_TOKEN && !token_ok(r, conf)) {
        apr_table_setn(r->err_headers_out, "WWW-Authenticate",
                       "Bearer error=\"invalid_token\", error_description="
                       "\"an initial access token is required\"");
        return mcp_authz_send_oauth_error(r, HTTP_UNAUTHORIZED, "invalid_token",
                                          "an initial access token is required");
    }
    /* One cache serves every virtual host: the key names the issuer, so
     * that each authorization server counts only its own registrations
     * against its own MCPAuthzRegistrationRate. */
    if (conf->reg_rate > 0
        && mcp_authz_rate_limited(r, conf, apr_pstrcat(r->pool, "reg:",
                                                       conf->issuer, " ",
                                                       mcp_authz_client_ip(r),
                                                       NULL),
                                  conf->reg_rate, conf->reg_window, &retry)) {
        apr_table_setn(r->err_headers_out, "Retry-After",
                       apr_itoa(r->pool, retry));
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, MCPLOGNO(00815)
                      "registration refused: more than %d from %s in %d s",
                      conf->reg_rate, mcp_authz_client_ip(r), conf->reg_window);
        return mcp_authz_send_oauth_error(r, HTTP_TOO_MANY_REQUESTS,
                                          "temporarily_unavailable",
                                          "too many registrations from this "
                                          "address; try again later");
    }
    if (!is_json(r)) {
        r->connection->keepalive = AP_CONN_CLOSE;
        return mcp_authz_send_oauth_error(r, HTTP_BAD_REQUEST,
                                          "invalid_client_metadata",
                                          "the body must be application/json");
    }
    rv = mcp_authz_read_body(r, REG_MAX_BODY, &body, &len, &status);
    if (rv != APR_SUCCESS) {
        return mcp_authz_send_oauth_error(r, status, "invalid_client_metadata",
                                          rv == MCP_ETOOLARGE
                                          ? "the registration request is too "
                                            "large" : "cannot read the body");
    }
    if (mcp_json_parse(&doc, r->pool, body, len, &lim, &desc) != APR_SUCCESS) {
        return mcp_authz_send_oauth_error(r, HTTP_BAD_REQUEST,
                                          "invalid_client_metadata",
                                          apr_pstrcat(r->pool, "not valid JSON: ",
                                                      desc, NULL));
    }
    rv = mcp_oauth_client_meta(&m, r->pool, doc,
                               mcp_authz_client_rules(r->pool, conf),
                               &error, &desc);
    if (rv != APR_SUCCESS) {
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, MCPLOGNO(00816)
                      "registration refused (%s): %s", error, desc);
        return mcp_authz_send_oauth_error(r, HTTP_BAD_REQUEST, error, desc);
    }
    if (!(st = mcp_authz_store(r))) {
        return mcp_authz_send_oauth_error(r, HTTP_SERVICE_UNAVAILABLE,
                                          "temporarily_unavailable",
                                          "the store is not available");
    }
    memset(&c, 0, sizeof(c));
    c.client_id = new_client_id(r->pool);
    if (!c.client_id
        || (strcmp(m->token_endpoint_auth_method, "none")
            && mcp_oauth_secret_new(&secret, &c.secret_hash, r->pool)
               != APR_SUCCESS)) {
        return mcp_authz_send_oauth_error(r, HTTP_INTERNAL_SERVER_ERROR,
                                          "server_error", "no randomness");
    }
    scope = known_scopes(r->pool, conf, m->scope);
    out = m->metadata;
    if (scope) {
        mcp_json_set_str(out, "scope", scope);
    }
    else {
        mcp_json_del(out, "scope");
    }
    c.client_name = m->client_name;
    c.kind = "dcr";
    c.token_endpoint_auth_method = m->token_endpoint_auth_method;
    c.grant_types = m->grant_types;
    c.scope = scope;
    c.metadata = mcp_json_dump(r->pool, out, MCP_JSON_FMT_COMPACT, NULL);
    c.redirect_uris = m->redirect_uris;
    c.created_at = c.updated_at = now;
    c.expires_at = now + mcp_authz_client_idle(conf);
    rv = mcp_store_client_put(st, &c);
    if (rv != APR_SUCCESS) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, mcp_glue_log_status(rv), r,
                      MCPLOGNO(00817) "storing a registered client failed: %s",
                      mcp_store_error(st));
        return mcp_authz_send_oauth_error(r, HTTP_SERVICE_UNAVAILABLE,
                                          "temporarily_unavailable",
                                          "the client could not be stored");
    }
    mcp_json_set_str(out, "client_id", c.client_id);
    mcp_json_set_int(out, "client_id_issued_at", now);
    if (secret) {
        mcp_json_set_str(out, "client_secret", secret);
        mcp_json_set_int(out, "client_secret_expires_at", 0);
    }
    ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, MCPLOGNO(00818)
                  "registered client %s (\"%s\", %s, %d redirect URIs) for %s",
                  c.client_id, c.client_name ? c.client_name : "",
                  c.token_endpoint_auth_method, c.redirect_uris->nelts,
                  mcp_authz_client_ip(r));
    return mcp_authz_send_json(r, HTTP_CREATED,
                               mcp_json_dump(r->pool, out, MCP_JSON_FMT_COMPACT,
                                             NULL));
}
