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

/* The link flow of the handler "mcp-idp" (MCPIdPLinkBase):
 *
 *   <base>/authorize  GET: a confirmation page; POST (CSRF): a pending
 *                     authorization is stored, only now, and the browser
 *                     goes to the provider with state and PKCE
 *   <base>/callback   the provider's answer: the pending authorization is
 *                     taken once by its state, must belong to the signed-in
 *                     user, and its code is exchanged; the tokens are
 *                     sealed into the vault
 *   <base>/connections the user's links (idp_connections.c)
 *
 * The location sits behind httpd authentication: r->user is the subject. */

#include <httpd.h>
#include <http_config.h>
#include <http_core.h>
#include <http_log.h>
#include <http_protocol.h>
#include <http_request.h>
#include <apr_strings.h>

#include "mcp/mcp_common.h"
#include "mcp/mcp_crypto.h"
#include "mcp/mcp_html.h"
#include "mcp/mcp_oauth.h"
#include "mcp/mcp_scope.h"
#include "mcp/mcp_url.h"
#include "mcp_glue.h"
#include "idp_private.h"

APLOG_USE_MODULE(mcp_idp);

#define MAX_PARAM 2048

int mcp_idp_connections(request_rec *r, mcp_idp_server_conf *conf);

static const char *hidden(apr_pool_t *p, const char *name, const char *value)
{
    return apr_pstrcat(p, "<input type=\"hidden\" name=\"", name, "\" value=\"",
                       mcp_html_escape(p, value), "\">\n", NULL);
}

/* scopes=a,b of the authorize URL (commas, or blanks from a form) as a
 * scope string; the provider's scope= when none is given. NULL: invalid. */
static const char *asked_scope(request_rec *r, const mcp_idp_provider_t *pv,
                               const char *scopes)
{
    apr_array_header_t *set;
    char *s, *c;

    if (!scopes || !*scopes) {
        return pv->scope ? pv->scope : "";
    }
    s = apr_pstrdup(r->pool, scopes);
    for (c = s; *c; c++) {
        if (*c == ',') {
            *c = ' ';
        }
    }
    if (mcp_scope_parse(&set, r->pool, s, NULL) != APR_SUCCESS) {
        return NULL;
    }
    return mcp_scope_join(r->pool, set);
}

static const char *comma_list(apr_pool_t *p, const char *scope)
{
    char *s = apr_pstrdup(p, scope ? scope : ""), *c;

    for (c = s; *c; c++) {
        if (*c == ' ') {
            *c = ',';
        }
    }
    return s;
}

static const char *binding(request_rec *r, const mcp_idp_provider_t *pv,
                           const char *scope)
{
    return apr_pstrcat(r->pool, "link\n", r->user, "\n", pv->name, "\n",
                       scope, NULL);
}

static int confirmation_page(request_rec *r, mcp_idp_server_conf *conf,
                             const mcp_idp_provider_t *pv, const char *scope)
{
    apr_pool_t *p = r->pool;
    apr_array_header_t *set = NULL;
    const char *list = "", *body;
    int i;

    mcp_scope_parse(&set, p, scope, NULL);
    for (i = 0; set && i < set->nelts; i++) {
        list = apr_pstrcat(p, list, "<li><code>",
                           mcp_html_escape(p, APR_ARRAY_IDX(set, i,
                                                            const char *)),
                           "</code></li>\n", NULL);
    }
    if (!*list) {
        list = "<li>no special permissions</li>\n";
    }
    body = apr_pstrcat(p,
        "<p>You are signed in to the gateway as <strong>",
        mcp_html_escape(p, r->user), "</strong>.</p>\n"
        "<p>The gateway asks <strong>", mcp_html_escape(p, pv->name),
        "</strong> for access to your account there, with these "
        "permissions:</p>\n<ul class=\"scopes\">\n", list, "</ul>\n"
        "<p>Your MCP client never sees the token; the gateway keeps it "
        "encrypted and uses it only for your calls.</p>\n"
        "<form method=\"post\" action=\"",
        mcp_html_escape(p, apr_pstrcat(p, mcp_idp_link_base(conf),
                                       "/authorize", NULL)), "\">\n",
        hidden(p, "provider_name", pv->name),
        hidden(p, "scopes", comma_list(p, scope)),
        hidden(p, "csrf", mcp_idp_csrf_make(r, conf, binding(r, pv, scope))),
        "<p><button class=\"go\" type=\"submit\" name=\"decision\" "
        "value=\"allow\">Connect</button>\n"
        "<button type=\"submit\" name=\"decision\" value=\"deny\">Cancel"
        "</button></p>\n</form>\n", NULL);
    return mcp_idp_send_html(r, HTTP_OK, mcp_idp_page(p,
        apr_pstrcat(p, "Connect your ", pv->name, " account?", NULL), body));
}

static const char *callback_url(request_rec *r, mcp_idp_server_conf *conf)
{
    return ap_construct_url(r->pool, apr_pstrcat(r->pool,
                                                 mcp_idp_link_base(conf),
                                                 "/callback", NULL), r);
}

/* After consent: a pending authorization, then off to the provider. */
static int start_link(request_rec *r, mcp_idp_server_conf *conf,
                      const mcp_idp_provider_t *pv, const char *scope)
{
    const mcp_upstream_metadata_t *m;
    mcp_upstream_authz_req_t q;
    mcp_store_pending_t a;
    const unsigned char *aad;
    apr_size_t aadlen;
    const char *state, *verifier, *url, *err = NULL;
    mcp_store_t *st;
    apr_int64_t now = mcp_idp_now();
    apr_status_t rv;

    rv = mcp_idp_endpoints(r, pv, &m, &err);
    if (rv != APR_SUCCESS) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, mcp_glue_log_status(rv), r,
                      MCPLOGNO(01903) "MCPIdPProvider %s: no authorization "
                      "endpoint: %s", pv->name, err);
        return mcp_idp_error_page(r, HTTP_BAD_GATEWAY, "The provider cannot "
                                  "be reached", "The gateway cannot reach the "
                                  "provider right now. Try again later.");
    }
    if (!(st = mcp_idp_store(r))) {
        return mcp_idp_error_page(r, HTTP_SERVICE_UNAVAILABLE, "Try again "
                                  "later", "The gateway's store is not "
                                  "available right now.");
    }
    memset(&a, 0, sizeof(a));
    if (mcp_crypto_token(&state, r->pool, 32) != APR_SUCCESS
        || mcp_crypto_token(&verifier, r->pool, 32) != APR_SUCCESS) {
        return mcp_idp_error_page(r, HTTP_INTERNAL_SERVER_ERROR, "Internal "
                                  "error", "No randomness.");
    }
    a.state_hash = mcp_crypto_sha256_b64url(r->pool, state, strlen(state));
    a.subject = r->user;
    a.provider = pv->name;
    a.scope = scope;
    a.created_at = now;
    a.expires_at = now + MCP_IDP_PENDING_LIFETIME;
    rv = mcp_vault_pending_aad(&aad, &aadlen, r->pool, a.state_hash, r->user,
                               pv->name);
    if (rv == APR_SUCCESS) {
        rv = mcp_aead_seal(&a.verifier_sealed, r->pool, conf->keyring,
                           verifier, strlen(verifier), aad, aadlen);
    }
    if (rv == APR_SUCCESS) {
        rv = mcp_store_pending_put(st, &a);
    }
    if (rv != APR_SUCCESS) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, mcp_glue_log_status(rv), r,
                      MCPLOGNO(01904) "storing the pending authorization of "
                      "%s at %s failed: %s", r->user, pv->name,
                      mcp_store_error(st));
        return mcp_idp_error_page(r, HTTP_SERVICE_UNAVAILABLE, "Try again "
                                  "later", "The gateway's store is not "
                                  "available right now.");
    }
    memset(&q, 0, sizeof(q));
    q.endpoint = m->authorization_endpoint;
    q.client_id = pv->client_id;
    q.redirect_uri = callback_url(r, conf);
    q.scope = scope;
    q.state = state;
    q.challenge = pv->pkce ? mcp_crypto_sha256_b64url(r->pool, verifier,
                                                      strlen(verifier))
                           : NULL;
    q.extra = pv->params_table;
    url = mcp_upstream_authorize_url(r->pool, &q);
    if (!url) {
        return mcp_idp_error_page(r, HTTP_INTERNAL_SERVER_ERROR, "Internal "
                                  "error", "The provider's authorization "
                                  "endpoint is not usable.");
    }
    ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, MCPLOGNO(01905)
                  "%s confirmed linking %s (scope \"%s\"): to the provider",
                  r->user, pv->name, scope);
    apr_table_setn(r->headers_out, "Location", url);
    apr_table_setn(r->headers_out, "Referrer-Policy", "no-referrer");
    return mcp_idp_send_html(r, HTTP_MOVED_TEMPORARILY, mcp_idp_page(r->pool,
        "Redirect", apr_pstrcat(r->pool, "<p><a href=\"",
                                mcp_html_escape(r->pool, url),
                                "\">Continue to the provider</a></p>\n",
                                NULL)));
}

static int handle_authorize(request_rec *r, mcp_idp_server_conf *conf)
{
    apr_table_t *params;
    const mcp_idp_provider_t *pv;
    const char *name, *scopes, *scope, *err = NULL, *q = r->args ? r->args : "";
    int status = HTTP_BAD_REQUEST, dup = 0;

    if (r->method_number == M_POST) {
        params = mcp_idp_read_form(r, &status, &err);
        if (!params) {
            return mcp_idp_error_page(r, status, "Bad request", err);
        }
    }
    else if (mcp_url_form_decode(&params, r->pool, q, strlen(q), 16,
                                 MAX_PARAM, &err) != APR_SUCCESS) {
        return mcp_idp_error_page(r, HTTP_BAD_REQUEST, "Bad request",
                                  "The link is malformed.");
    }
    name = mcp_url_form_get(params, "provider_name", &dup);
    scopes = mcp_url_form_get(params, "scopes", &dup);
    if (dup) {
        return mcp_idp_error_page(r, HTTP_BAD_REQUEST, "Bad request",
                                  "A parameter is repeated.");
    }
    if (!(pv = mcp_idp_provider_find(conf, name))) {
        return mcp_idp_error_page(r, HTTP_NOT_FOUND, "Unknown provider",
                                  "This gateway has no such provider.");
    }
    if (pv->mode == MCP_IDP_MODE_PERSONAL) {
        return mcp_idp_error_page(r, HTTP_BAD_REQUEST, "Personal token",
            apr_pstrcat(r->pool, pv->name, " takes a personal token: paste "
                        "it on the Connections page, ",
                        mcp_idp_link_base(conf), "/connections", NULL));
    }
    if (!(scope = asked_scope(r, pv, scopes))) {
        return mcp_idp_error_page(r, HTTP_BAD_REQUEST, "Bad request",
                                  "The scopes of the link are malformed.");
    }
    if (r->method_number != M_POST) {
        return confirmation_page(r, conf, pv, scope);
    }
    if (!mcp_idp_same_origin(r)) {
        return mcp_idp_error_page(r, HTTP_FORBIDDEN, "Refused", "The form "
                                  "was sent from another site.");
    }
    if (!mcp_idp_csrf_check(r, conf, binding(r, pv, scope),
                            mcp_url_form_get(params, "csrf", NULL))) {
        ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r, MCPLOGNO(01906)
                      "link confirmation of %s for %s refused: missing, "
                      "expired or wrong CSRF token", r->user, pv->name);
        return mcp_idp_error_page(r, HTTP_FORBIDDEN, "Refused", "The form "
                                  "has expired or was not made for you. Open "
                                  "the link from your MCP client again.");
    }
    name = mcp_url_form_get(params, "decision", NULL);
    if (!name || strcmp(name, "allow")) {
        return mcp_idp_error_page(r, HTTP_OK, "Not connected", "Nothing was "
                                  "linked. You can close this page.");
    }
    return start_link(r, conf, pv, scope);
}

static int handle_callback(request_rec *r, mcp_idp_server_conf *conf)
{
    apr_table_t *params;
    const mcp_idp_provider_t *pv;
    mcp_store_pending_t *a = NULL;
    mcp_upstream_tokens_t *tok;
    mcp_store_t *st;
    const unsigned char *aad;
    unsigned char *verifier = NULL;
    apr_size_t aadlen, vlen;
    const char *state, *code, *error, *scope, *iss, *err = NULL, *oerr = NULL;
    const char *q = r->args ? r->args : "";
    int dup = 0;
    apr_status_t rv;

    if (r->method_number != M_GET) {
        apr_table_setn(r->headers_out, "Allow", "GET");
        return mcp_idp_error_page(r, HTTP_METHOD_NOT_ALLOWED, "Bad request",
                                  "Use GET.");
    }
    if (mcp_url_form_decode(&params, r->pool, q, strlen(q), 16, 8192, &err)
        != APR_SUCCESS) {
        return mcp_idp_error_page(r, HTTP_BAD_REQUEST, "Bad request",
                                  "The provider's answer is malformed.");
    }
    state = mcp_url_form_get(params, "state", &dup);
    code = mcp_url_form_get(params, "code", &dup);
    error = mcp_url_form_get(params, "error", &dup);
    if (dup || !state || !*state || strlen(state) > 512) {
        return mcp_idp_error_page(r, HTTP_BAD_REQUEST, "Link failed",
                                  "The provider's answer has no usable "
                                  "state. Open the link from your MCP client "
                                  "again.");
    }
    if (!(st = mcp_idp_store(r))) {
        return mcp_idp_error_page(r, HTTP_SERVICE_UNAVAILABLE, "Try again "
                                  "later", "The gateway's store is not "
                                  "available right now.");
    }
    rv = mcp_store_pending_take(st, r->pool,
                                mcp_crypto_sha256_b64url(r->pool, state,
                                                         strlen(state)),
                                mcp_idp_now(), &a);
    if (rv == MCP_ENOTFOUND || rv == MCP_EEXPIRED) {
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, MCPLOGNO(01907)
                      "callback for %s refused: %s state", r->user,
                      rv == MCP_EEXPIRED ? "an expired" : "an unknown or "
                      "used");
        return mcp_idp_error_page(r, HTTP_BAD_REQUEST, "Link failed",
                                  "This answer of the provider is unknown, "
                                  "was used already or has expired. Open the "
                                  "link from your MCP client again.");
    }
    if (rv != APR_SUCCESS) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, mcp_glue_log_status(rv), r,
                      MCPLOGNO(01908) "taking a pending authorization "
                      "failed: %s", mcp_store_error(st));
        return mcp_idp_error_page(r, HTTP_SERVICE_UNAVAILABLE, "Try again "
                                  "later", "The gateway's store is not "
                                  "available right now.");
    }
    if (!mcp_crypto_str_equal(a->subject, r->user)) {
        ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r, MCPLOGNO(01909)
                      "callback for a link of %s at %s opened by %s: refused",
                      a->subject, a->provider, r->user);
        return mcp_idp_error_page(r, HTTP_FORBIDDEN, "Refused", "This link "
                                  "was started by another user.");
    }
    if (!(pv = mcp_idp_provider_find(conf, a->provider))
        || pv->mode != MCP_IDP_MODE_OAUTH) {
        return mcp_idp_error_page(r, HTTP_BAD_REQUEST, "Link failed", "The "
                                  "provider is no longer configured.");
    }
    /* RFC 9207: an answer that names another issuer comes from another
     * provider (a mix-up attack); providers that send no iss are taken
     * at their word. */
    if (pv->issuer && (iss = mcp_url_form_get(params, "iss", &dup))
        && strcmp(iss, pv->issuer)) {
        ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r, MCPLOGNO(01926)
                      "callback for %s at %s names another issuer: refused",
                      r->user, pv->name);
        return mcp_idp_error_page(r, HTTP_BAD_REQUEST, "Link failed", "The "
                                  "answer came from another provider.");
    }
    if (error) {
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, MCPLOGNO(01910)
                      "%s at %s: the provider answered error=%s", r->user,
                      pv->name, mcp_oauth_param_valid(error, 64) ? error : "?");
        return mcp_idp_error_page(r, HTTP_BAD_REQUEST, "Not connected",
            apr_pstrcat(r->pool, "The provider did not grant access (",
                        mcp_oauth_param_valid(error, 64) ? error : "error",
                        "). Nothing was linked.", NULL));
    }
    if (!code || !*code || !mcp_oauth_param_valid(code, 4096)) {
        return mcp_idp_error_page(r, HTTP_BAD_REQUEST, "Link failed", "The "
                                  "provider's answer has no code.");
    }
    rv = mcp_vault_pending_aad(&aad, &aadlen, r->pool, a->state_hash,
                               a->subject, a->provider);
    if (rv == APR_SUCCESS) {
        rv = mcp_aead_open(&verifier, &vlen, r->pool, conf->keyring,
                           a->verifier_sealed, aad, aadlen, NULL);
    }
    if (rv != APR_SUCCESS) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, mcp_glue_log_status(rv), r,
                      MCPLOGNO(01911) "the PKCE verifier of a pending "
                      "authorization of %s at %s does not open (vault key "
                      "changed?)", r->user, pv->name);
        return mcp_idp_error_page(r, HTTP_INTERNAL_SERVER_ERROR, "Link failed",
                                  "Open the link from your MCP client again.");
    }
    rv = mcp_idp_token_request(r, pv, code, callback_url(r, conf),
                               pv->pkce ? (const char *)verifier : NULL, NULL,
                               &tok, &oerr, &err);
    mcp_crypto_wipe(verifier, vlen);
    if (rv != APR_SUCCESS) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, mcp_glue_log_status(rv), r,
                      MCPLOGNO(01912) "exchanging the code of %s at %s "
                      "failed: %s", r->user, pv->name, err ? err : "?");
        return mcp_idp_error_page(r, HTTP_BAD_GATEWAY, "Link failed",
            oerr ? apr_pstrcat(r->pool, "The provider refused the exchange ("
                               , oerr, "). Open the link from your MCP "
                               "client again.", NULL)
                 : "The provider cannot be reached right now. Try again "
                   "later.");
    }
    scope = tok->scope ? tok->scope : a->scope;
    rv = mcp_idp_store_link(r, st, conf, r->user, pv->name, tok, scope, &err);
    if (rv != APR_SUCCESS) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, mcp_glue_log_status(rv), r,
                      MCPLOGNO(01913) "storing the link of %s at %s failed: "
                      "%s", r->user, pv->name, err ? err : "?");
        return mcp_idp_error_page(r, HTTP_SERVICE_UNAVAILABLE, "Try again "
                                  "later", "The gateway's store is not "
                                  "available right now.");
    }
    ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, MCPLOGNO(01914)
                  "%s linked %s (scope \"%s\"%s)", r->user, pv->name,
                  scope ? scope : "", tok->refresh_token ? ", refreshable"
                                                         : "");
    return mcp_idp_send_html(r, HTTP_OK, mcp_idp_page(r->pool,
        apr_pstrcat(r->pool, pv->name, " is linked", NULL),
        apr_pstrcat(r->pool, "<p id=\"linked\">Your <strong>",
                    mcp_html_escape(r->pool, pv->name), "</strong> account "
                    "is linked; you can return to your MCP client.</p>\n"
                    "<p><a href=\"", mcp_html_escape(r->pool,
                        apr_pstrcat(r->pool, mcp_idp_link_base(conf),
                                    "/connections", NULL)),
                    "\">Your connections</a></p>\n", NULL)));
}

int mcp_idp_handler(request_rec *r)
{
    mcp_idp_server_conf *conf;
    const char *base, *rest;
    apr_size_t n;

    if (!r->handler || strcmp(r->handler, "mcp-idp")) {
        return DECLINED;
    }
    conf = ap_get_module_config(r->server->module_config, &mcp_idp_module);
    base = mcp_idp_link_base(conf);
    n = strlen(base);
    if (strncmp(r->uri, base, n)) {
        return HTTP_NOT_FOUND;
    }
    rest = r->uri + n;
    if (!conf->providers || !conf->providers->nelts || !conf->keyring) {
        return HTTP_NOT_FOUND;
    }
    if (strcmp(rest, "/authorize") && strcmp(rest, "/callback")
        && strcmp(rest, "/connections")) {
        return HTTP_NOT_FOUND;
    }
    if (r->method_number != M_GET && r->method_number != M_POST) {
        apr_table_setn(r->headers_out, "Allow", "GET, POST");
        return mcp_idp_error_page(r, HTTP_METHOD_NOT_ALLOWED, "Bad request",
                                  "Use GET or POST.");
    }
    if (!r->user || !*r->user) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, MCPLOGNO(01915)
                      "the link pages %s are not behind httpd authentication: "
                      "protect their <Location> (AuthType, Require) as the "
                      "authorization endpoint", r->uri);
        return mcp_idp_error_page(r, HTTP_INTERNAL_SERVER_ERROR, "Not "
                                  "configured", "The gateway's sign-in is not "
                                  "configured for this page.");
    }
    if (!strcmp(rest, "/authorize")) {
        return handle_authorize(r, conf);
    }
    if (!strcmp(rest, "/callback")) {
        return handle_callback(r, conf);
    }
    return mcp_idp_connections(r, conf);
}
