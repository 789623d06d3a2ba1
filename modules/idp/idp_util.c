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

/* mod_mcp_idp's helpers: pages, forms and CSRF tokens, the store, and the
 * requests to the providers (discovery, token endpoint, revocation) over
 * the core HTTP client. */

#include <httpd.h>
#include <http_config.h>
#include <http_core.h>
#include <http_log.h>
#include <http_protocol.h>
#include <apr_strings.h>
#include <apr_thread_mutex.h>

#include "mcp/mcp_common.h"
#include "mcp/mcp_crypto.h"
#include "mcp/mcp_html.h"
#include "mcp/mcp_oauth.h"
#include "mcp/mcp_url.h"
#include "mcp_glue.h"
#include "idp_private.h"

APLOG_USE_MODULE(mcp_idp);

/* A failed discovery is tried again after this many seconds. */
#define DISCOVERY_RETRY 10

struct mcp_idp_provider_rt {
    apr_thread_mutex_t *mutex;        /* made in child_init */
    apr_pool_t *pool;                 /* the child's, for what is learnt */
    const mcp_upstream_metadata_t *meta; /* set once, under the mutex */
    apr_int64_t failed_at;
};

/* ---- process-wide, written in child_init only ---- */
static mcp_http_t *http_client;
static const char *process_tag;

mcp_idp_provider_rt *mcp_idp_provider_rt_make(apr_pool_t *p)
{
    return apr_pcalloc(p, sizeof(mcp_idp_provider_rt));
}

void mcp_idp_child_init(apr_pool_t *pchild, server_rec *s)
{
    mcp_http_options_t o;
    const char *err = NULL;
    server_rec *sv;
    int i, any = 0;

    /* Random, so that no two processes share it on any node: pids repeat
     * across machines and containers, and every node behind one origin
     * has the same ServerName. (mcp_crypto_random logs a failure.) */
    if (mcp_crypto_token(&process_tag, pchild, 16) != APR_SUCCESS) {
        process_tag = apr_psprintf(pchild, "%" APR_TIME_T_FMT, apr_time_now());
    }
    for (sv = s; sv; sv = sv->next) {
        mcp_idp_server_conf *conf =
            ap_get_module_config(sv->module_config, &mcp_idp_module);

        for (i = 0; conf->providers && i < conf->providers->nelts; i++) {
            mcp_idp_provider_t *pv = &APR_ARRAY_IDX(conf->providers, i,
                                                    mcp_idp_provider_t);

            any = 1;
            if (pv->rt && !pv->rt->mutex) {
                pv->rt->pool = pchild;
                apr_thread_mutex_create(&pv->rt->mutex,
                                        APR_THREAD_MUTEX_DEFAULT, pchild);
            }
        }
    }
    if (!any || mcp_http_global_init(pchild, &err) != APR_SUCCESS) {
        return;
    }
    memset(&o, 0, sizeof(o));
    o.connect_timeout = apr_time_from_sec(MCP_IDP_HTTP_TIMEOUT);
    o.timeout = apr_time_from_sec(MCP_IDP_HTTP_TIMEOUT);
    o.max_response_size = MCP_IDP_HTTP_MAX_RESPONSE;
    if (mcp_http_create(&http_client, pchild, &o, &err) != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, s, MCPLOGNO(01901)
                     "mod_mcp_idp: no HTTP client for the providers: %s",
                     err ? err : "?");
    }
}

const char *mcp_idp_process_tag(void)
{
    return process_tag ? process_tag : "-";
}

const char *mcp_idp_link_base(const mcp_idp_server_conf *conf)
{
    return conf->link_base ? conf->link_base : MCP_IDP_DEFAULT_LINK_BASE;
}

const mcp_idp_provider_t *mcp_idp_provider_find(const mcp_idp_server_conf *conf,
                                                const char *name)
{
    int i;

    for (i = 0; name && conf->providers && i < conf->providers->nelts; i++) {
        const mcp_idp_provider_t *pv = &APR_ARRAY_IDX(conf->providers, i,
                                                      mcp_idp_provider_t);
        if (!strcmp(pv->name, name)) {
            return pv;
        }
    }
    return NULL;
}

mcp_store_t *mcp_idp_store(request_rec *r)
{
    return mcp_glue_store(r, APLOG_MODULE_INDEX);
}

apr_int64_t mcp_idp_now(void)
{
    return (apr_int64_t)apr_time_sec(apr_time_now());
}

static int send_body(request_rec *r, int status, const char *type,
                     const char *body)
{
    apr_size_t len = strlen(body);

    r->status = status;
    ap_set_content_type(r, type);
    ap_set_content_length(r, (apr_off_t)len);
    apr_table_setn(r->headers_out, "Cache-Control", "no-store");
    apr_table_setn(r->headers_out, "X-Content-Type-Options", "nosniff");
    if (!r->header_only) {
        ap_rwrite(body, (int)len, r);
    }
    return OK;
}

int mcp_idp_send_html(request_rec *r, int status, const char *html)
{
    /* As the consent page of mod_mcp_authz: never framed (a hidden
     * "Connect" button), nothing loaded from elsewhere, and a referrer
     * policy under which browsers still send the form's Origin. */
    apr_table_setn(r->headers_out, "X-Frame-Options", "DENY");
    apr_table_setn(r->headers_out, "Content-Security-Policy",
                   "default-src 'none'; style-src 'unsafe-inline'; "
                   "frame-ancestors 'none'; base-uri 'none'; "
                   "form-action 'self' https: http:");
    if (!apr_table_get(r->headers_out, "Referrer-Policy")) {
        apr_table_setn(r->headers_out, "Referrer-Policy", "same-origin");
    }
    return send_body(r, status, "text/html; charset=utf-8", html);
}

int mcp_idp_send_json(request_rec *r, int status, const char *json)
{
    return send_body(r, status, "application/json", json);
}

const char *mcp_idp_page(apr_pool_t *p, const char *title, const char *body)
{
    return apr_pstrcat(p,
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
        "<meta name=\"referrer\" content=\"same-origin\">\n<title>",
        mcp_html_escape(p, title), "</title>\n<style>\n"
        "body { font-family: system-ui, sans-serif; background: #f4f5f7; "
        "color: #1d2330; margin: 0; }\n"
        "main { max-width: 38rem; margin: 3rem auto; background: #fff; "
        "padding: 2rem; border-radius: 8px; box-shadow: 0 1px 4px "
        "rgba(0,0,0,.12); }\n"
        "h1 { font-size: 1.3rem; }\ncode { background: #eef0f4; padding: 0 .3rem; "
        "border-radius: 3px; }\n"
        "table { border-collapse: collapse; width: 100%; }\n"
        "td, th { text-align: left; padding: .3rem .5rem; border-bottom: 1px "
        "solid #e3e5ea; }\n"
        "button { font-size: 1rem; padding: .5rem 1.2rem; border-radius: 6px; "
        "border: 1px solid #8a93a3; background: #fff; cursor: pointer; }\n"
        "button.go { background: #1f5fd1; border-color: #1f5fd1; color: #fff; }\n"
        "</style>\n</head>\n<body>\n<main>\n<h1>", mcp_html_escape(p, title),
        "</h1>\n", body, "</main>\n</body>\n</html>\n", NULL);
}

int mcp_idp_error_page(request_rec *r, int status, const char *title,
                       const char *message)
{
    return mcp_idp_send_html(r, status, mcp_idp_page(r->pool, title,
        apr_pstrcat(r->pool, "<p>", mcp_html_escape(r->pool, message),
                    "</p>\n", NULL)));
}

static int is_form(request_rec *r)
{
    const char *ct = apr_table_get(r->headers_in, "Content-Type");
    static const char form[] = "application/x-www-form-urlencoded";

    return ct && !strncasecmp(ct, form, sizeof(form) - 1)
        && (!ct[sizeof(form) - 1] || ct[sizeof(form) - 1] == ';'
            || ct[sizeof(form) - 1] == ' ');
}

apr_table_t *mcp_idp_read_form(request_rec *r, int *pstatus, const char **perr)
{
    apr_table_t *form = NULL;
    char *body;
    apr_size_t len;

    if (!is_form(r)) {
        *pstatus = HTTP_UNSUPPORTED_MEDIA_TYPE;
        *perr = "the form must be application/x-www-form-urlencoded";
        r->connection->keepalive = AP_CONN_CLOSE;
        return NULL;
    }
    if (mcp_glue_read_body(r, 64 * 1024, &body, &len, pstatus)
        != APR_SUCCESS) {
        *pstatus = HTTP_REQUEST_ENTITY_TOO_LARGE;
        *perr = "the form cannot be read or is too large";
        return NULL;
    }
    if (mcp_url_form_decode(&form, r->pool, body, len, 32, 32 * 1024, perr)
        != APR_SUCCESS) {
        *pstatus = HTTP_BAD_REQUEST;
        if (!*perr) {
            *perr = "malformed form";
        }
        return NULL;
    }
    return form;
}

int mcp_idp_same_origin(request_rec *r)
{
    const char *origin = apr_table_get(r->headers_in, "Origin");
    const char *host = apr_table_get(r->headers_in, "Host");
    const char *mine;

    if (!origin) {
        return 1;   /* older browsers; the CSRF token still decides */
    }
    mine = host ? apr_pstrcat(r->pool, ap_http_scheme(r), "://", host, NULL)
                : NULL;
    return mine && !strcasecmp(origin, mine);
}

const char *mcp_idp_csrf_make(request_rec *r, const mcp_idp_server_conf *conf,
                              const char *binding)
{
    return mcp_oauth_csrf_make(r->pool, conf->csrf_key, binding, mcp_idp_now());
}

int mcp_idp_csrf_check(request_rec *r, const mcp_idp_server_conf *conf,
                       const char *binding, const char *token)
{
    return conf->have_csrf_key && token
        && mcp_oauth_csrf_check(r->pool, conf->csrf_key, binding, token,
                                mcp_idp_now(), MCP_IDP_FORM_MAX_AGE);
}

/* ---- requests to the providers ---- */

static apr_status_t new_request(mcp_http_request_t **preq, request_rec *r,
                                const mcp_idp_provider_t *pv,
                                const char *method, const char *url,
                                const char **perr)
{
    apr_status_t rv;

    if (!http_client) {
        *perr = "the HTTP client is not available in this process";
        return APR_EGENERAL;
    }
    rv = mcp_http_request_create(preq, r->pool, http_client, method, url, perr);
    if (rv != APR_SUCCESS) {
        return rv;
    }
    /* A provider on the public internet must not be turned into a way
     * into the gateway's own network (a DNS name that resolves to a
     * private address): the guard is on unless internal=on. */
    (*preq)->addr_allow = pv->internal ? MCP_ADDR_ALLOW_ALL : 0;
    (*preq)->url_rules = pv->internal ? MCP_URL_ANY_HTTP : MCP_URL_SECURE;
    (*preq)->max_redirects = 0;
    mcp_http_request_header(*preq, "Accept", "application/json", NULL);
    return APR_SUCCESS;
}

static apr_status_t fetch_metadata(request_rec *r, const mcp_idp_provider_t *pv,
                                   apr_pool_t *p, mcp_upstream_metadata_t **pm,
                                   const char **perr)
{
    mcp_upstream_metadata_urls_t urls;
    const char *tries[2], *err = NULL;
    unsigned rules = pv->internal ? MCP_URL_ANY_HTTP : MCP_URL_SECURE;
    apr_status_t rv = MCP_ENOTFOUND;
    int i;

    if (mcp_upstream_metadata_urls(&urls, p, pv->issuer) != APR_SUCCESS) {
        *perr = "issuer= is not a URL";
        return MCP_EINVALID;
    }
    tries[0] = urls.rfc8414;
    tries[1] = urls.openid;
    for (i = 0; i < 2; i++) {
        mcp_http_request_t *req;
        mcp_http_response_t *resp;

        rv = new_request(&req, r, pv, "GET", tries[i], &err);
        if (rv == APR_SUCCESS) {
            rv = mcp_http_perform(req, &resp, &err);
        }
        if (rv == APR_SUCCESS && resp->status == 200) {
            rv = mcp_upstream_metadata_parse(pm, p, resp->body, resp->body_len,
                                             pv->issuer, rules, &err);
            if (rv == APR_SUCCESS) {
                return APR_SUCCESS;
            }
        }
        else if (rv == APR_SUCCESS) {
            rv = MCP_ENOTFOUND;
            err = apr_psprintf(r->pool, "%s answered %d",
                               mcp_url_for_log(r->pool, tries[i]),
                               resp->status);
        }
    }
    *perr = err ? err : "no metadata";
    return rv;
}

apr_status_t mcp_idp_endpoints(request_rec *r, const mcp_idp_provider_t *pv,
                               const mcp_upstream_metadata_t **pm,
                               const char **perr)
{
    mcp_idp_provider_rt *rt = pv->rt;
    mcp_upstream_metadata_t *m;
    apr_status_t rv = APR_SUCCESS;
    apr_int64_t now = mcp_idp_now();

    /* Configured endpoints win over discovered ones. */
    if (!pv->issuer || (pv->authorize && pv->token)) {
        m = apr_pcalloc(r->pool, sizeof(*m));
        m->authorization_endpoint = pv->authorize;
        m->token_endpoint = pv->token;
        m->revocation_endpoint = pv->revoke;
        *pm = m;
        return APR_SUCCESS;
    }
    if (!rt || !rt->mutex) {
        *perr = "the provider is not set up in this process";
        return APR_EGENERAL;
    }
    apr_thread_mutex_lock(rt->mutex);
    if (!rt->meta) {
        if (rt->failed_at && now - rt->failed_at < DISCOVERY_RETRY) {
            rv = MCP_ENOTFOUND;
            *perr = "the provider's metadata could not be fetched a moment ago";
        }
        else {
            /* Learnt once per process, kept for its life: in the child's
             * pool, under the mutex. */
            rv = fetch_metadata(r, pv, rt->pool, &m, perr);
            if (rv == APR_SUCCESS) {
                if (pv->authorize) {
                    m->authorization_endpoint = pv->authorize;
                }
                if (pv->token) {
                    m->token_endpoint = pv->token;
                }
                if (pv->revoke) {
                    m->revocation_endpoint = pv->revoke;
                }
                rt->meta = m;
                ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, MCPLOGNO(01902)
                              "MCPIdPProvider %s: endpoints discovered from "
                              "issuer %s", pv->name, pv->issuer);
            }
            else {
                rt->failed_at = now;
                *perr = apr_pstrdup(r->pool, *perr);
            }
        }
    }
    *pm = rt->meta;
    apr_thread_mutex_unlock(rt->mutex);
    return rv;
}

/* Does the client secret go in the form (client_secret_post) rather than
 * in an Authorization header (client_secret_basic)? */
static int secret_in_form(const mcp_idp_provider_t *pv,
                          const mcp_upstream_metadata_t *m)
{
    return pv->secret && (pv->auth_post >= 0 ? pv->auth_post : m->post_only);
}

/* POST @a form to the provider's endpoint @a url as the gateway's client:
 * the secret as HTTP Basic unless it is in the form already. */
static apr_status_t client_post(request_rec *r, const mcp_idp_provider_t *pv,
                                const char *url, const char *form,
                                int in_form, mcp_http_response_t **presp,
                                const char **perr)
{
    mcp_http_request_t *req;
    apr_status_t rv = new_request(&req, r, pv, "POST", url, perr);

    if (rv != APR_SUCCESS) {
        return rv;
    }
    if (pv->secret && !in_form) {
        mcp_http_request_header(req, "Authorization",
                                mcp_upstream_basic_auth(r->pool, pv->client_id,
                                                        pv->secret), NULL);
    }
    mcp_http_request_body(req, form, strlen(form),
                          "application/x-www-form-urlencoded", NULL);
    return mcp_http_perform(req, presp, perr);
}

apr_status_t mcp_idp_token_request(request_rec *r, const mcp_idp_provider_t *pv,
                                   const char *code, const char *redirect_uri,
                                   const char *verifier,
                                   const char *refresh_token,
                                   mcp_upstream_tokens_t **ptok,
                                   const char **poauth_error,
                                   const char **perr)
{
    const mcp_upstream_metadata_t *m;
    mcp_http_response_t *resp;
    const char *form, *desc = NULL;
    int post = 0;
    apr_status_t rv;

    *ptok = NULL;
    *poauth_error = NULL;
    rv = mcp_idp_endpoints(r, pv, &m, perr);
    if (rv != APR_SUCCESS) {
        return rv;
    }
    post = secret_in_form(pv, m);
    form = mcp_upstream_token_form(r->pool, code, redirect_uri, verifier,
                                   refresh_token, pv->client_id,
                                   post ? pv->secret : NULL);
    rv = client_post(r, pv, m->token_endpoint, form, post, &resp, perr);
    if (rv != APR_SUCCESS) {
        return rv;
    }
    rv = mcp_upstream_token_parse(ptok, r->pool, resp->status,
                                  mcp_http_response_media_type(r->pool, resp),
                                  resp->body, resp->body_len, mcp_idp_now(),
                                  poauth_error, &desc);
    if (rv != APR_SUCCESS) {
        *perr = desc ? desc : "the token endpoint refused";
    }
    return rv;
}

apr_status_t mcp_idp_revoke_tokens(request_rec *r, const mcp_idp_provider_t *pv,
                                   const mcp_upstream_tokens_t *tok,
                                   const char **perr)
{
    const mcp_upstream_metadata_t *m = NULL;
    mcp_http_response_t *resp;
    const char *form;
    int post;
    apr_status_t rv;

    if (pv->mode != MCP_IDP_MODE_OAUTH) {
        return APR_SUCCESS;
    }
    rv = mcp_idp_endpoints(r, pv, &m, perr);
    if (rv != APR_SUCCESS) {
        return rv;
    }
    post = secret_in_form(pv, m);
    form = mcp_upstream_revoke_form(r->pool, tok, pv->client_id,
                                    post ? pv->secret : NULL);
    if (!m->revocation_endpoint || !form) {
        return APR_SUCCESS;
    }
    rv = client_post(r, pv, m->revocation_endpoint, form, post, &resp, perr);
    if (rv == APR_SUCCESS) {
        rv = mcp_upstream_revoke_parse(r->pool, resp->status, resp->body,
                                       resp->body_len, perr);
    }
    return rv;
}

void mcp_idp_links_changed(request_rec *r, const char *user)
{
    APR_OPTIONAL_FN_TYPE(mcp_proxy_links_changed) *changed =
        APR_RETRIEVE_OPTIONAL_FN(mcp_proxy_links_changed);

    if (changed) {
        changed(r, user);
    }
}

apr_status_t mcp_idp_seal_row(mcp_store_upstream_t *row, request_rec *r,
                              const mcp_idp_server_conf *conf,
                              const char *user, const char *provider,
                              const mcp_upstream_tokens_t *tok,
                              const char *scope)
{
    const char *text = mcp_upstream_tokens_text(r->pool, tok);

    memset(row, 0, sizeof(*row));
    row->subject = user;
    row->provider = provider;
    row->key_id = mcp_keyring_current(conf->keyring);
    row->scope = scope;
    row->expires_at = tok->expires_at;
    row->refresh_expires_at = tok->refresh_expires_at;
    row->updated_at = mcp_idp_now();
    return mcp_vault_seal(&row->sealed, r->pool, conf->keyring, user,
                          provider, text, strlen(text));
}

apr_status_t mcp_idp_store_link(request_rec *r, mcp_store_t *st,
                                const mcp_idp_server_conf *conf,
                                const char *user, const char *provider,
                                const mcp_upstream_tokens_t *tok,
                                const char *scope, const char **perr)
{
    mcp_store_upstream_t u;
    apr_status_t rv;

    rv = mcp_idp_seal_row(&u, r, conf, user, provider, tok, scope);
    if (rv != APR_SUCCESS) {
        *perr = "the tokens cannot be sealed";
        return rv;
    }
    u.created_at = u.updated_at;
    rv = mcp_store_upstream_put(st, &u);
    if (rv != APR_SUCCESS) {
        *perr = mcp_store_error(st);
        return rv;
    }
    mcp_idp_links_changed(r, user);
    return APR_SUCCESS;
}
