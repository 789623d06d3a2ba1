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

/* Client ID Metadata Documents (draft-ietf-oauth-client-id-metadata-
 * document): a client_id that is an https URL names a JSON document the
 * client publishes about itself. The URL is chosen by whoever starts an
 * authorization, so the fetch is guarded: https only, no redirects, at
 * most MCP_AUTHZ_CIMD_MAX_SIZE bytes within MCP_AUTHZ_CIMD_TIMEOUT, and
 * the HTTP client's connect-time address guard refuses loopback, private,
 * link-local, CGNAT, metadata and other non-public addresses whatever the
 * name resolves to. Documents are cached in the store as clients of kind
 * "cimd" for as long as their Cache-Control allows, within bounds. */

#include <httpd.h>
#include <http_config.h>
#include <http_log.h>
#include <apr_strings.h>

#include "mcp/mcp_addr.h"
#include "mcp/mcp_common.h"
#include "mcp/mcp_http.h"
#include "mcp/mcp_oauth.h"
#include "mcp/mcp_url.h"
#include "mcp_glue.h"
#include "authz_private.h"

APLOG_USE_MODULE(mcp_authz);

/* The URL rules a client_id URL and its fetch must pass. */
static unsigned cimd_url_rules(const mcp_authz_server_conf *conf)
{
    return MCP_URL_HTTPS | MCP_URL_NEED_PATH
        | (conf->cimd_loopback > 0 ? MCP_URL_HTTP_LOOPBACK : 0);
}

int mcp_authz_is_cimd_id(apr_pool_t *p, const mcp_authz_server_conf *conf,
                         const char *client_id)
{
    if (!conf->cimd || !client_id || strncasecmp(client_id, "http", 4)) {
        return 0;
    }
    return mcp_url_check(p, client_id, cimd_url_rules(conf), NULL)
           == APR_SUCCESS;
}

mcp_oauth_client_rules_t *mcp_authz_client_rules(apr_pool_t *p,
                                                 const mcp_authz_server_conf *conf)
{
    mcp_oauth_client_rules_t *rules = apr_pcalloc(p, sizeof(*rules));

    rules->allow_private_use = conf->schemes != MCP_SCHEMES_OFF;
    rules->schemes = conf->schemes == MCP_SCHEMES_LIST ? conf->scheme_list
                                                       : NULL;
    return rules;
}

/* Fetch and judge the document at @url. */
static apr_status_t fetch(request_rec *r, mcp_authz_server_conf *conf,
                          const char *url, mcp_oauth_client_meta_t **pm,
                          int *plifetime, const char **perr)
{
    mcp_http_t *http = mcp_authz_http(r->server);
    mcp_http_request_t *req;
    mcp_http_response_t *resp;
    mcp_oauth_client_rules_t *rules;
    mcp_json_limits_t lim = { MCP_AUTHZ_CIMD_MAX_SIZE, 8, 0 };
    mcp_json_t *doc;
    const char *error = NULL, *mt;
    apr_status_t rv;

    if (!http) {
        *perr = "the HTTP client is not available";
        return APR_EGENERAL;
    }
    rv = mcp_http_request_create(&req, r->pool, http, "GET", url, perr);
    if (rv != APR_SUCCESS) {
        return rv;
    }
    req->url_rules = cimd_url_rules(conf);
    req->max_redirects = 0;
    req->max_response_size = MCP_AUTHZ_CIMD_MAX_SIZE;
    req->timeout = apr_time_from_sec(MCP_AUTHZ_CIMD_TIMEOUT);
    req->connect_timeout = apr_time_from_sec(MCP_AUTHZ_CIMD_TIMEOUT);
    req->addr_allow = conf->cimd_loopback > 0
        ? MCP_ADDR_ALLOW(MCP_ADDR_LOOPBACK) : 0;
    mcp_http_request_header(req, "Accept", "application/json", NULL);
    rv = mcp_http_perform(req, &resp, perr);
    if (rv != APR_SUCCESS) {
        ap_log_rerror(APLOG_MARK, APLOG_INFO, mcp_glue_log_status(rv), r,
                      MCPLOGNO(00810) "client metadata document %s: %s",
                      mcp_url_for_log(r->pool, url), *perr);
        *perr = apr_psprintf(r->pool, "the client's metadata document cannot "
                             "be fetched: %s", *perr);
        return rv;
    }
    if (resp->status != 200) {
        *perr = apr_psprintf(r->pool, "the client's metadata document answered "
                             "HTTP %d%s", resp->status,
                             resp->status >= 300 && resp->status < 400
                             ? " (redirects are not followed)" : "");
        return MCP_EINVALID;
    }
    mt = mcp_http_response_media_type(r->pool, resp);
    if (!mt || (strcmp(mt, "application/json") && !strstr(mt, "+json"))) {
        *perr = "the client's metadata document is not application/json";
        return MCP_EINVALID;
    }
    rv = mcp_json_parse(&doc, r->pool, resp->body, resp->body_len, &lim, perr);
    if (rv != APR_SUCCESS) {
        *perr = apr_psprintf(r->pool, "the client's metadata document is not "
                             "valid JSON: %s", *perr);
        return MCP_EINVALID;
    }
    rules = mcp_authz_client_rules(r->pool, conf);
    rules->document_url = url;
    rv = mcp_oauth_client_meta(pm, r->pool, doc, rules, &error, perr);
    if (rv != APR_SUCCESS) {
        *perr = apr_psprintf(r->pool, "the client's metadata document is not "
                             "acceptable: %s", *perr);
        return rv;
    }
    *plifetime = mcp_oauth_cache_lifetime(
        mcp_http_response_header(resp, "Cache-Control"),
        MCP_AUTHZ_CIMD_CACHE_DEFAULT, MCP_AUTHZ_CIMD_CACHE_MIN,
        MCP_AUTHZ_CIMD_CACHE_MAX);
    return APR_SUCCESS;
}

apr_status_t mcp_authz_cimd_client(request_rec *r, mcp_authz_server_conf *conf,
                                   mcp_store_t *st, const char *client_id,
                                   mcp_store_client_t **pc, const char **perr)
{
    mcp_store_client_t *old = NULL, *c;
    mcp_oauth_client_meta_t *m;
    apr_int64_t now = mcp_authz_now();
    int lifetime = 0;
    apr_status_t rv;

    rv = mcp_store_client_get(st, r->pool, client_id, &old);
    if (rv == APR_SUCCESS && strcmp(old->kind, "cimd")) {
        /* Pre-registered under this id by an administrator: that wins. */
        *pc = old;
        return APR_SUCCESS;
    }
    if (rv == APR_SUCCESS && old->expires_at > now) {
        *pc = old;
        return APR_SUCCESS;
    }
    if (rv != APR_SUCCESS && rv != MCP_ENOTFOUND) {
        *perr = "the store failed";
        return rv;
    }
    rv = fetch(r, conf, client_id, &m, &lifetime, perr);
    if (rv != APR_SUCCESS) {
        return rv;
    }
    c = apr_pcalloc(r->pool, sizeof(*c));
    c->client_id = client_id;
    c->client_name = m->client_name;
    c->kind = "cimd";
    c->token_endpoint_auth_method = "none";
    c->grant_types = m->grant_types;
    c->scope = m->scope;
    c->metadata = mcp_json_dump(r->pool, m->metadata, MCP_JSON_FMT_COMPACT, NULL);
    c->redirect_uris = m->redirect_uris;
    c->created_at = old ? old->created_at : now;
    c->updated_at = now;
    c->expires_at = now + lifetime;
    c->disabled_at = old ? old->disabled_at : 0;
    rv = old ? mcp_store_client_update(st, c) : mcp_store_client_put(st, c);
    if (rv == MCP_ECONFLICT) {
        /* A concurrent request cached it first. */
        rv = mcp_store_client_update(st, c);
    }
    if (rv != APR_SUCCESS) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, mcp_glue_log_status(rv), r,
                      MCPLOGNO(00811) "caching the metadata document of client "
                      "%s failed: %s", mcp_url_for_log(r->pool, client_id),
                      mcp_store_error(st));
        *perr = "the store failed";
        return rv;
    }
    ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, MCPLOGNO(00812)
                  "client metadata document %s fetched (\"%s\", cached %d s)",
                  mcp_url_for_log(r->pool, client_id), c->client_name, lifetime);
    *pc = c;
    return APR_SUCCESS;
}
