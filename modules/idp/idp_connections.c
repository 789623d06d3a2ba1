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

/* <base>/connections: the signed-in user's links (HTML, or JSON with
 * ?format=json or Accept: application/json). */

#include <httpd.h>
#include <http_config.h>
#include <http_core.h>
#include <http_log.h>
#include <http_protocol.h>
#include <apr_strings.h>
#include <apr_time.h>

#include "mcp/mcp_common.h"
#include "mcp/mcp_crypto.h"
#include "mcp/mcp_html.h"
#include "mcp/mcp_json.h"
#include "mcp/mcp_url.h"
#include "mcp_glue.h"
#include "idp_private.h"

APLOG_USE_MODULE(mcp_idp);

int mcp_idp_connections(request_rec *r, mcp_idp_server_conf *conf);

static int wants_json(request_rec *r)
{
    const char *accept = apr_table_get(r->headers_in, "Accept");
    apr_table_t *q = NULL;
    const char *f;

    if (r->args && mcp_url_form_decode(&q, r->pool, r->args, strlen(r->args),
                                       16, 1024, NULL) == APR_SUCCESS
        && (f = apr_table_get(q, "format"))) {
        return !strcmp(f, "json");
    }
    return accept && strstr(accept, "application/json")
        && !strstr(accept, "text/html");
}

static const char *when(apr_pool_t *p, apr_int64_t t)
{
    char buf[APR_RFC822_DATE_LEN];

    if (!t) {
        return "";
    }
    apr_rfc822_date(buf, apr_time_from_sec(t));
    return apr_pstrdup(p, buf);
}

static const char *binding(request_rec *r)
{
    return apr_pstrcat(r->pool, "connections\n", r->user, NULL);
}

static const char *hidden(apr_pool_t *p, const char *name, const char *value)
{
    return apr_pstrcat(p, "<input type=\"hidden\" name=\"", name, "\" value=\"",
                       mcp_html_escape(p, value), "\">\n", NULL);
}

static const char *action(request_rec *r, mcp_idp_server_conf *conf)
{
    return mcp_html_escape(r->pool, apr_pstrcat(r->pool,
                                                mcp_idp_link_base(conf),
                                                "/connections", NULL));
}

/* Revoke a link: at the provider when it has a revocation endpoint, then
 * delete it here whatever the provider said: the user asked for the link
 * to go. */
static int revoke_link(request_rec *r, mcp_idp_server_conf *conf, mcp_store_t *st,
                  const char *provider)
{
    const mcp_idp_provider_t *pv = mcp_idp_provider_find(conf, provider);
    mcp_store_upstream_t *u;
    apr_status_t rv;

    rv = mcp_store_upstream_get(st, r->pool, r->user, provider, &u);
    if (rv == MCP_ENOTFOUND) {
        return HTTP_NOT_FOUND;
    }
    if (rv != APR_SUCCESS) {
        return HTTP_SERVICE_UNAVAILABLE;
    }
    if (pv && pv->mode == MCP_IDP_MODE_OAUTH) {
        mcp_upstream_tokens_t *tok;
        const char *err = NULL;

        if (mcp_upstream_tokens_open(&tok, r->pool, conf->keyring, u->sealed,
                                     u->subject, u->provider) == APR_SUCCESS
            && (rv = mcp_idp_revoke_tokens(r, pv, tok, &err)) != APR_SUCCESS) {
            ap_log_rerror(APLOG_MARK, APLOG_WARNING, mcp_glue_log_status(rv),
                          r, MCPLOGNO(01921) "revoking %s's %s tokens at the "
                          "provider failed (deleted here all the same): %s",
                          r->user, provider, err ? err : "?");
        }
    }
    rv = mcp_store_upstream_delete(st, r->user, provider);
    if (rv != APR_SUCCESS && rv != MCP_ENOTFOUND) {
        return HTTP_SERVICE_UNAVAILABLE;
    }
    mcp_idp_links_changed(r, r->user);
    ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, MCPLOGNO(01922)
                  "%s removed the link to %s", r->user, provider);
    return OK;
}

/* A personal token pasted by the user, sealed like OAuth tokens. */
static int personal(request_rec *r, mcp_idp_server_conf *conf,
                    mcp_store_t *st, const mcp_idp_provider_t *pv,
                    const char *token)
{
    mcp_upstream_tokens_t tok;
    const char *err = NULL;
    apr_size_t n;

    while (token && (*token == ' ' || *token == '\t')) {
        token++;
    }
    n = token ? strlen(token) : 0;
    while (n && (token[n - 1] == ' ' || token[n - 1] == '\t'
                 || token[n - 1] == '\r' || token[n - 1] == '\n')) {
        n--;
    }
    if (!n || n > 8192) {
        return HTTP_BAD_REQUEST;
    }
    memset(&tok, 0, sizeof(tok));
    tok.access_token = apr_pstrmemdup(r->pool, token, n);
    if (strpbrk(tok.access_token, "\r\n")) {
        return HTTP_BAD_REQUEST;
    }
    if (mcp_idp_store_link(r, st, conf, r->user, pv->name, &tok, pv->scope,
                           &err) != APR_SUCCESS) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, MCPLOGNO(01923)
                      "storing %s's personal %s token failed: %s", r->user,
                      pv->name, err ? err : "?");
        return HTTP_SERVICE_UNAVAILABLE;
    }
    ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, MCPLOGNO(01924)
                  "%s stored a personal %s token", r->user, pv->name);
    return OK;
}

static int change(request_rec *r, mcp_idp_server_conf *conf, mcp_store_t *st)
{
    const char *err = NULL, *what, *name;
    const mcp_idp_provider_t *pv;
    apr_table_t *form;
    int status = HTTP_BAD_REQUEST, dup = 0, rc;

    if (!(form = mcp_idp_read_form(r, &status, &err))) {
        return mcp_idp_error_page(r, status, "Bad request", err);
    }
    if (!mcp_idp_same_origin(r)) {
        return mcp_idp_error_page(r, HTTP_FORBIDDEN, "Refused", "The form "
                                  "was sent from another site.");
    }
    if (!mcp_idp_csrf_check(r, conf, binding(r),
                            mcp_url_form_get(form, "csrf", &dup)) || dup) {
        ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r, MCPLOGNO(01925)
                      "connections form of %s refused: missing, expired or "
                      "wrong CSRF token", r->user);
        return mcp_idp_error_page(r, HTTP_FORBIDDEN, "Refused", "The form "
                                  "has expired or was not made for you. "
                                  "Reload the page.");
    }
    what = mcp_url_form_get(form, "action", &dup);
    name = mcp_url_form_get(form, "provider", &dup);
    if (dup || !what || !name) {
        return mcp_idp_error_page(r, HTTP_BAD_REQUEST, "Bad request",
                                  "The form is incomplete.");
    }
    if (!strcmp(what, "revoke")) {
        rc = revoke_link(r, conf, st, name);
    }
    else if (!strcmp(what, "token")
             && (pv = mcp_idp_provider_find(conf, name))
             && pv->mode == MCP_IDP_MODE_PERSONAL) {
        rc = personal(r, conf, st, pv, mcp_url_form_get(form, "token", &dup));
    }
    else {
        rc = HTTP_BAD_REQUEST;
    }
    if (rc == HTTP_NOT_FOUND) {
        return mcp_idp_error_page(r, rc, "Not linked", "You have no link to "
                                  "this provider.");
    }
    if (rc == HTTP_SERVICE_UNAVAILABLE) {
        return mcp_idp_error_page(r, rc, "Try again later", "The gateway's "
                                  "store is not available right now.");
    }
    if (rc != OK) {
        return mcp_idp_error_page(r, rc, "Bad request", "The form is not "
                                  "valid (an empty token, or a provider "
                                  "that takes no personal token).");
    }
    apr_table_setn(r->headers_out, "Location",
                   ap_construct_url(r->pool, apr_pstrcat(r->pool,
                                    mcp_idp_link_base(conf), "/connections",
                                    NULL), r));
    return mcp_idp_send_html(r, HTTP_SEE_OTHER, mcp_idp_page(r->pool, "Done",
                             "<p>Done.</p>\n"));
}

int mcp_idp_connections(request_rec *r, mcp_idp_server_conf *conf)
{
    apr_pool_t *p = r->pool;
    apr_array_header_t *links;
    mcp_store_t *st = mcp_idp_store(r);
    mcp_json_t *doc, *arr, *provs;
    const char *rows = "", *paste = "", *csrf;
    int i, j;

    if (!st) {
        return mcp_idp_error_page(r, HTTP_SERVICE_UNAVAILABLE, "Try again "
                                  "later", "The gateway's store is not "
                                  "available right now.");
    }
    if (r->method_number == M_POST) {
        return change(r, conf, st);
    }
    if (mcp_store_upstream_list(st, p, r->user, &links) != APR_SUCCESS) {
        return mcp_idp_error_page(r, HTTP_SERVICE_UNAVAILABLE, "Try again "
                                  "later", "The gateway's store is not "
                                  "available right now.");
    }
    csrf = mcp_idp_csrf_make(r, conf, binding(r));
    doc = mcp_json_object(p);
    arr = mcp_json_array(p);
    provs = mcp_json_array(p);
    mcp_json_set_str(doc, "user", r->user);
    for (i = 0; i < links->nelts; i++) {
        const mcp_store_upstream_t *u = APR_ARRAY_IDX(links, i,
                                                      mcp_store_upstream_t *);
        const mcp_idp_provider_t *pv = mcp_idp_provider_find(conf,
                                                             u->provider);
        mcp_json_t *o = mcp_json_object(p);

        mcp_json_set_str(o, "provider", u->provider);
        mcp_json_set_str(o, "mode", pv && pv->mode == MCP_IDP_MODE_PERSONAL
                                    ? "personal" : "oauth");
        mcp_json_set_str(o, "scope", u->scope ? u->scope : "");
        mcp_json_set_int(o, "linked_at", u->created_at);
        mcp_json_set_int(o, "updated_at", u->updated_at);
        /* 0: never; else to the minute (mcp_store_upstream_touch()). */
        mcp_json_set_int(o, "last_used_at", u->last_used_at);
        if (u->expires_at) {
            mcp_json_set_int(o, "expires_at", u->expires_at);
        }
        mcp_json_set_bool(o, "configured", pv != NULL);
        mcp_json_append(arr, o);
        rows = apr_pstrcat(p, rows, "<tr><td>", mcp_html_escape(p, u->provider),
                           "</td><td><code>", mcp_html_escape(p, u->scope),
                           "</code></td><td>", when(p, u->created_at),
                           "</td><td>", when(p, u->updated_at),
                           "</td><td>", u->last_used_at
                                        ? when(p, u->last_used_at) : "never",
                           "</td><td><form method=\"post\" action=\"",
                           action(r, conf), "\">", hidden(p, "action", "revoke"),
                           hidden(p, "provider", u->provider),
                           hidden(p, "csrf", csrf),
                           "<button type=\"submit\">Remove</button></form>"
                           "</td></tr>\n", NULL);
    }
    for (j = 0; conf->providers && j < conf->providers->nelts; j++) {
        const mcp_idp_provider_t *pv = &APR_ARRAY_IDX(conf->providers, j,
                                                      mcp_idp_provider_t);
        mcp_json_t *o = mcp_json_object(p);
        int linked = 0;

        for (i = 0; i < links->nelts; i++) {
            linked |= !strcmp(APR_ARRAY_IDX(links, i,
                                            mcp_store_upstream_t *)->provider,
                              pv->name);
        }
        mcp_json_set_str(o, "name", pv->name);
        mcp_json_set_str(o, "mode", pv->mode == MCP_IDP_MODE_PERSONAL
                                    ? "personal" : "oauth");
        mcp_json_set_bool(o, "linked", linked);
        mcp_json_append(provs, o);
        if (pv->mode == MCP_IDP_MODE_PERSONAL) {
            paste = apr_pstrcat(p, paste, "<form method=\"post\" action=\"",
                                action(r, conf), "\">\n",
                                hidden(p, "action", "token"),
                                hidden(p, "provider", pv->name),
                                hidden(p, "csrf", csrf), "<p><label>",
                                mcp_html_escape(p, pv->name),
                                linked ? " (replace your token)" : " token",
                                " <input type=\"password\" name=\"token\" "
                                "autocomplete=\"off\" required></label> "
                                "<button class=\"go\" type=\"submit\">Save"
                                "</button></p>\n</form>\n", NULL);
        }
    }
    mcp_json_set(doc, "connections", arr);
    mcp_json_set(doc, "providers", provs);
    mcp_json_set_str(doc, "csrf", csrf);
    if (wants_json(r)) {
        return mcp_idp_send_json(r, HTTP_OK, mcp_json_dump(p, doc, 0, NULL));
    }
    return mcp_idp_send_html(r, HTTP_OK, mcp_idp_page(p, "Your connections",
        apr_pstrcat(p, "<p>Signed in as <strong>", mcp_html_escape(p, r->user),
                    "</strong>.</p>\n",
                    *rows ? apr_pstrcat(p, "<table>\n<tr><th>Provider</th>"
                                        "<th>Scopes</th><th>Linked</th>"
                                        "<th>Last renewed</th><th>Last used</th>"
                                        "<th></th></tr>\n",
                                        rows, "</table>\n", NULL)
                          : "<p>No linked accounts.</p>\n",
                    *paste ? "<h2>Personal tokens</h2>\n<p>Providers without "
                             "OAuth take a token you create there (a personal "
                             "access token or API key). The gateway keeps it "
                             "encrypted.</p>\n" : "", paste, NULL)));
}
