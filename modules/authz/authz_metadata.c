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

/* The documents clients discover the gateway with: authorization server
 * metadata (RFC 8414, also at the OpenID discovery addresses), protected
 * resource metadata (RFC 9728) of every protected section, and the JWKS.
 * All are built once in post_config; the handlers only send them. */

#include <httpd.h>
#include <http_config.h>
#include <http_log.h>
#include <http_protocol.h>
#include <apr_strings.h>

#include "mcp/mcp_common.h"
#include "mcp/mcp_scope.h"
#include "mcp/mcp_url.h"
#include "mcp_glue.h"
#include "authz_private.h"

APLOG_USE_MODULE(mcp_authz);

#define PRM_WELL_KNOWN "/.well-known/oauth-protected-resource"
/** Metadata changes only with the configuration. */
#define METADATA_MAX_AGE 300

static mcp_json_t *str_array(apr_pool_t *p, const char *const *v)
{
    mcp_json_t *a = mcp_json_array(p);

    for (; *v; v++) {
        mcp_json_append_str(a, *v);
    }
    return a;
}

static mcp_json_t *set_array(apr_pool_t *p, const apr_array_header_t *set)
{
    mcp_json_t *a = mcp_json_array(p);
    int i;

    for (i = 0; set && i < set->nelts; i++) {
        mcp_json_append_str(a, APR_ARRAY_IDX(set, i, const char *));
    }
    return a;
}

static const char *as_metadata(apr_pool_t *p, mcp_authz_server_conf *conf)
{
    static const char *const response_types[] = { "code", NULL };
    static const char *const response_modes[] = { "query", NULL };
    static const char *const grants[] = { "authorization_code",
                                          "refresh_token", NULL };
    static const char *const pkce[] = { "S256", NULL };
    static const char *const token_auth[] = { "none", "client_secret_basic",
                                              "client_secret_post", NULL };
    static const char *const secret_auth[] = { "client_secret_basic",
                                               "client_secret_post", NULL };
    static const char *const algs[] = { MCP_JOSE_ALG, NULL };
    mcp_json_t *o = mcp_json_object(p);
    apr_array_header_t *scopes = mcp_scope_set_make(p);
    int i;

    for (i = 0; conf->scopes && i < conf->scopes->nelts; i++) {
        mcp_scope_set_add(scopes, APR_ARRAY_IDX(conf->scopes, i,
                                                mcp_authz_scope_t).name);
    }
    mcp_scope_set_add(scopes, MCP_AUTHZ_OFFLINE_ACCESS);

    mcp_json_set_str(o, "issuer", conf->issuer);
    mcp_json_set_str(o, "authorization_endpoint",
                     mcp_authz_url(p, conf, MCP_EP_AUTHORIZE));
    mcp_json_set_str(o, "token_endpoint", mcp_authz_url(p, conf, MCP_EP_TOKEN));
    if (conf->reg_policy != MCP_REG_OFF) {
        mcp_json_set_str(o, "registration_endpoint",
                         mcp_authz_url(p, conf, MCP_EP_REGISTER));
    }
    mcp_json_set_str(o, "revocation_endpoint",
                     mcp_authz_url(p, conf, MCP_EP_REVOKE));
    mcp_json_set_str(o, "introspection_endpoint",
                     mcp_authz_url(p, conf, MCP_EP_INTROSPECT));
    mcp_json_set_str(o, "jwks_uri", mcp_authz_url(p, conf, MCP_EP_JWKS));
    mcp_json_set(o, "scopes_supported", set_array(p, scopes));
    mcp_json_set(o, "response_types_supported", str_array(p, response_types));
    mcp_json_set(o, "response_modes_supported", str_array(p, response_modes));
    mcp_json_set(o, "grant_types_supported", str_array(p, grants));
    mcp_json_set(o, "code_challenge_methods_supported", str_array(p, pkce));
    mcp_json_set(o, "token_endpoint_auth_methods_supported",
                 str_array(p, token_auth));
    mcp_json_set(o, "revocation_endpoint_auth_methods_supported",
                 str_array(p, token_auth));
    mcp_json_set(o, "introspection_endpoint_auth_methods_supported",
                 str_array(p, secret_auth));
    /* The access tokens are JWTs clients may look at, not ID tokens; the
     * OpenID discovery address serves this same document. */
    mcp_json_set(o, "token_endpoint_auth_signing_alg_values_supported",
                 str_array(p, algs));
    mcp_json_set_bool(o, "client_id_metadata_document_supported",
                      conf->cimd != 0);
    mcp_json_set_bool(o, "authorization_response_iss_parameter_supported", 1);
    return mcp_json_dump(p, o, MCP_JSON_FMT_INDENT, NULL);
}

static const char *prm_document(apr_pool_t *p, mcp_authz_server_conf *conf,
                                mcp_authz_resource_t *res)
{
    static const char *const bearer[] = { "header", NULL };
    mcp_json_t *o = mcp_json_object(p), *as = mcp_json_array(p);

    mcp_json_append_str(as, conf->issuer);
    mcp_json_set_str(o, "resource", res->canonical);
    mcp_json_set(o, "authorization_servers", as);
    mcp_json_set(o, "scopes_supported", set_array(p, res->scopes));
    mcp_json_set(o, "bearer_methods_supported", str_array(p, bearer));
    return mcp_json_dump(p, o, MCP_JSON_FMT_INDENT, NULL);
}

/* The URL of a protected section: MCPAuthzResource, or the issuer's origin
 * and the <Location> path. */
static const char *section_url(apr_pool_t *ptemp, mcp_authz_server_conf *conf,
                               mcp_authz_dir_conf *d, const char **perr)
{
    if (d->resource_url) {
        return d->resource_url;
    }
    if (!d->section || d->section[0] != '/' || strpbrk(d->section, "*?[]~^$()|+")) {
        *perr = apr_psprintf(ptemp, "the section %s has Require "
                             MCP_AUTHZ_SCOPE_PROVIDER " but its URL cannot be "
                             "derived from it: give it MCPAuthzResource <URL>",
                             d->section ? d->section : "(server level)");
        return NULL;
    }
    return apr_pstrcat(ptemp, conf->origin, d->section, NULL);
}

static apr_status_t add_resource(apr_pool_t *pconf, apr_pool_t *ptemp,
                                 server_rec *s, mcp_authz_server_conf *conf,
                                 mcp_authz_dir_conf *d, const char **perr)
{
    mcp_authz_resource_t *res = NULL;
    const char *url = section_url(ptemp, conf, d, perr);
    const char *canonical;
    mcp_url_t *u;
    int i;

    if (!url) {
        return MCP_EINVALID;
    }
    if (mcp_url_parse(&u, pconf, url, MCP_URL_SECURE | MCP_URL_NO_QUERY, perr)
        != APR_SUCCESS) {
        *perr = apr_psprintf(ptemp, "resource %s: %s", url, *perr);
        return MCP_EINVALID;
    }
    canonical = mcp_url_canonical(pconf, u);
    for (i = 0; i < conf->resources->nelts; i++) {
        mcp_authz_resource_t *r = APR_ARRAY_IDX(conf->resources, i,
                                                mcp_authz_resource_t *);
        if (!strcmp(r->canonical, canonical)) {
            res = r;
        }
    }
    if (!res) {
        const char *path = canonical + strlen(mcp_url_origin(ptemp, u));

        res = apr_pcalloc(pconf, sizeof(*res));
        res->section = d->section;
        res->url = apr_pstrdup(pconf, url);
        res->canonical = canonical;
        res->prm_path = apr_pstrcat(pconf, PRM_WELL_KNOWN, path, NULL);
        res->prm_url = apr_pstrcat(pconf, mcp_url_origin(pconf, u),
                                   res->prm_path, NULL);
        res->scopes = mcp_scope_set_make(pconf);
        res->server = s;
        APR_ARRAY_PUSH(conf->resources, mcp_authz_resource_t *) = res;
    }
    /* The resource's scopes are the baseline of the section that made it
     * (RFC 9728 scopes_supported, and what an authorization without scope
     * gets): a nested section that shares it and needs more is a step-up,
     * announced by its own challenges only. */
    if (d->required_scopes && res->section == d->section) {
        res->scopes = mcp_scope_union(pconf, res->scopes, d->required_scopes);
    }
    d->resource = res;
    return APR_SUCCESS;
}

static int build_server(apr_pool_t *pconf, apr_pool_t *ptemp, server_rec *sv,
                        server_rec *s)
{
    mcp_authz_server_conf *conf = ap_get_module_config(sv->module_config,
                                                       &mcp_authz_module);
    apr_array_header_t *sections = conf->resources;
    const char *err = NULL;
    mcp_url_t *u;
    int i;

    if (mcp_url_parse(&u, pconf, conf->issuer, MCP_URL_SECURE | MCP_URL_NO_QUERY,
                      &err) != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s, MCPLOGNO(00804)
                     "MCPAuthzIssuer %s: %s", conf->issuer, err);
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    conf->origin = mcp_url_origin(pconf, u);
    conf->issuer_path = *u->path && strcmp(u->path, "/") ? u->path : "";
    mcp_authz_default_paths(pconf, conf);

    /* conf->resources held the protected sections (dir confs) read from
     * the configuration; from here on it holds the resources. */
    conf->resources = apr_array_make(pconf, 4, sizeof(mcp_authz_resource_t *));
    for (i = 0; sections && i < sections->nelts; i++) {
        mcp_authz_dir_conf *d = APR_ARRAY_IDX(sections, i, mcp_authz_dir_conf *);

        if (add_resource(pconf, ptemp, sv, conf, d, &err) != APR_SUCCESS) {
            ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s, MCPLOGNO(00805)
                         "%s: %s", mcp_glue_server_desc(ptemp, sv), err);
            return HTTP_INTERNAL_SERVER_ERROR;
        }
    }
    for (i = 0; i < conf->resources->nelts; i++) {
        mcp_authz_resource_t *res = APR_ARRAY_IDX(conf->resources, i,
                                                  mcp_authz_resource_t *);
        res->prm = prm_document(pconf, conf, res);
        ap_log_error(APLOG_MARK, APLOG_DEBUG, 0, s, MCPLOGNO(00806)
                     "%s: protected resource %s (metadata at %s, scopes %s)",
                     mcp_glue_server_desc(ptemp, sv), res->canonical,
                     res->prm_url, mcp_scope_join(ptemp, res->scopes));
    }
    conf->as_metadata = as_metadata(pconf, conf);
    return OK;
}

int mcp_authz_build_metadata(apr_pool_t *pconf, apr_pool_t *ptemp,
                             server_rec *s)
{
    apr_hash_t *done = apr_hash_make(ptemp);
    server_rec *sv;
    int rc;

    for (sv = s; sv; sv = sv->next) {
        mcp_authz_server_conf *conf = ap_get_module_config(sv->module_config,
                                                           &mcp_authz_module);

        /* Virtual hosts without a configuration of their own share the
         * main server's struct: build it once. */
        if (!conf->issuer || apr_hash_get(done, &conf, sizeof(conf))) {
            continue;
        }
        apr_hash_set(done, apr_pmemdup(ptemp, &conf, sizeof(conf)),
                     sizeof(conf), conf);
        if ((rc = build_server(pconf, ptemp, sv, s)) != OK) {
            return rc;
        }
    }
    return OK;
}

mcp_authz_resource_t *mcp_authz_resource_find(apr_pool_t *p,
                                              const mcp_authz_server_conf *conf,
                                              const char *url)
{
    mcp_url_t *u;
    const char *canonical;
    int i;

    if (!url || mcp_url_parse(&u, p, url, MCP_URL_ANY_HTTP, NULL) != APR_SUCCESS) {
        return NULL;
    }
    canonical = mcp_url_canonical(p, u);
    for (i = 0; i < conf->resources->nelts; i++) {
        mcp_authz_resource_t *res = APR_ARRAY_IDX(conf->resources, i,
                                                  mcp_authz_resource_t *);
        if (!strcmp(res->canonical, canonical)) {
            return res;
        }
    }
    return NULL;
}

mcp_authz_resource_t *mcp_authz_resource_default(const mcp_authz_server_conf *conf)
{
    return conf->resources && conf->resources->nelts
        ? APR_ARRAY_IDX(conf->resources, 0, mcp_authz_resource_t *) : NULL;
}

/* GET and HEAD only; anyone may read (CORS *). */
static int send_document(request_rec *r, const char *doc, int max_age)
{
    if (r->method_number != M_GET) {
        apr_table_setn(r->headers_out, "Allow", "GET, HEAD");
        return mcp_authz_send_oauth_error(r, HTTP_METHOD_NOT_ALLOWED,
                                          "invalid_request", "use GET");
    }
    apr_table_setn(r->headers_out, "Access-Control-Allow-Origin", "*");
    r->status = HTTP_OK;
    ap_set_content_type(r, "application/json");
    apr_table_setn(r->headers_out, "Cache-Control",
                   apr_psprintf(r->pool, "public, max-age=%d", max_age));
    ap_set_content_length(r, strlen(doc));
    if (!r->header_only) {
        ap_rputs(doc, r);
    }
    return OK;
}

int mcp_authz_handle_as_metadata(request_rec *r, mcp_authz_server_conf *conf)
{
    return send_document(r, conf->as_metadata, METADATA_MAX_AGE);
}

int mcp_authz_handle_prm(request_rec *r, mcp_authz_server_conf *conf)
{
    apr_size_t n = strlen(r->uri);
    const char *path = r->uri;
    int i;

    /* ".../mcp" and ".../mcp/" name the same resource. */
    if (n > strlen(PRM_WELL_KNOWN) && path[n - 1] == '/') {
        path = apr_pstrmemdup(r->pool, path, n - 1);
    }
    if (!strcmp(path, PRM_WELL_KNOWN) || !strcmp(path, PRM_WELL_KNOWN "/")) {
        mcp_authz_resource_t *res = mcp_authz_resource_default(conf);

        if (res) {
            return send_document(r, res->prm, METADATA_MAX_AGE);
        }
    }
    for (i = 0; i < conf->resources->nelts; i++) {
        mcp_authz_resource_t *res = APR_ARRAY_IDX(conf->resources, i,
                                                  mcp_authz_resource_t *);
        if (!strcmp(res->prm_path, path)) {
            return send_document(r, res->prm, METADATA_MAX_AGE);
        }
    }
    return mcp_authz_send_oauth_error(r, HTTP_NOT_FOUND, "invalid_request",
                                      "no protected resource at this path");
}

int mcp_authz_handle_jwks(request_rec *r, mcp_authz_server_conf *conf)
{
    return send_document(r, conf->jwks, MCP_AUTHZ_JWKS_MAX_AGE);
}

int mcp_authz_jwks_handler(request_rec *r)
{
    mcp_authz_server_conf *conf;

    if (!r->handler || strcmp(r->handler, MCP_AUTHZ_JWKS_HANDLER)) {
        return DECLINED;
    }
    conf = ap_get_module_config(r->server->module_config, &mcp_authz_module);
    if (!conf->jwks) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, MCPLOGNO(00540)
                      "SetHandler " MCP_AUTHZ_JWKS_HANDLER " is used in a "
                      "server without MCPAuthzIssuer");
        return HTTP_NOT_FOUND;
    }
    return mcp_authz_handle_jwks(r, conf);
}
