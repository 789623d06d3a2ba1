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

/* mod_mcp_authz: the OAuth 2.1 authorization server and bearer check of
 * mod_mcp. This file holds the module record, its startup hooks and the
 * routing of the endpoints the module serves by path. */

#include <httpd.h>
#include <http_config.h>
#include <http_log.h>
#include <http_protocol.h>
#include <http_request.h>
#include <apr_file_io.h>
#include <apr_strings.h>

#include <stdlib.h>

#include "mcp/mcp_common.h"
#include "mcp/mcp_html.h"
#include "mcp_glue.h"
#include "authz_private.h"

/* The built-in page templates: conf/templates/ (authz_templates.c
 * is generated from them). */
extern const char mcp_authz_tmpl_consent[];
extern const char mcp_authz_tmpl_error[];

#define TEMPLATE_MAX (256 * 1024)

mcp_authz_req_t *mcp_authz_req(request_rec *r, int create)
{
    mcp_authz_req_t *q = ap_get_module_config(r->request_config,
                                              &mcp_authz_module);

    if (!q && create) {
        q = apr_pcalloc(r->pool, sizeof(*q));
        ap_set_module_config(r->request_config, &mcp_authz_module, q);
    }
    return q;
}

/* Cross-directive checks, once per configuration: every server that sets
 * MCPAuthzIssuer needs a signing key, and somebody must set an issuer
 * when keys are given. */
static int check_servers(apr_pool_t *ptemp, server_rec *s, int *penabled)
{
    server_rec *sv;
    int with_keys = 0;

    *penabled = 0;
    for (sv = s; sv; sv = sv->next) {
        mcp_authz_server_conf *conf =
            ap_get_module_config(sv->module_config, &mcp_authz_module);

        if (conf->key_files && conf->key_files->nelts > 0) {
            with_keys = 1;
        }
        if (!conf->issuer) {
            continue;
        }
        *penabled = 1;
        if (!conf->key_files || conf->key_files->nelts == 0) {
            ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s, MCPLOGNO(00520)
                         "MCPAuthzIssuer is set in %s but no "
                         "MCPAuthzSigningKey is configured for it",
                         mcp_glue_server_desc(ptemp, sv));
            return HTTP_INTERNAL_SERVER_ERROR;
        }
        if (conf->reg_policy == MCP_REG_UNSET) {
            conf->reg_policy = MCP_REG_OPEN;
        }
        if (conf->reg_rate < 0) {
            conf->reg_rate = MCP_AUTHZ_DEFAULT_REG_RATE;
            conf->reg_window = MCP_AUTHZ_DEFAULT_REG_WINDOW;
        }
        if (conf->schemes == MCP_SCHEMES_UNSET) {
            conf->schemes = MCP_SCHEMES_NATIVE;
        }
        if (conf->cimd < 0) {
            conf->cimd = 1;
        }
        if (conf->cimd_loopback < 0) {
            conf->cimd_loopback = 0;
        }
    }
    if (with_keys && !*penabled) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s, MCPLOGNO(00521)
                     "MCPAuthzSigningKey is configured but MCPAuthzIssuer is "
                     "not set in any server: set MCPAuthzIssuer to enable "
                     "mod_mcp_authz");
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    return OK;
}

/* Read a small text file (a template, a token) from @path. */
static const char *read_text(apr_pool_t *p, const char *path, apr_size_t max,
                             const char **perr)
{
    apr_file_t *f;
    apr_finfo_t fi;
    apr_size_t n;
    char *buf;
    char ebuf[120];
    apr_status_t rv;

    rv = apr_file_open(&f, path, APR_FOPEN_READ, APR_OS_DEFAULT, p);
    if (rv == APR_SUCCESS) {
        rv = apr_file_info_get(&fi, APR_FINFO_SIZE, f);
    }
    if (rv != APR_SUCCESS) {
        *perr = apr_psprintf(p, "cannot read '%s': %s", path,
                             apr_strerror(rv, ebuf, sizeof(ebuf)));
        return NULL;
    }
    if (fi.size < 0 || (apr_size_t)fi.size > max) {
        *perr = apr_psprintf(p, "'%s' is larger than %" APR_SIZE_T_FMT " bytes",
                             path, max);
        apr_file_close(f);
        return NULL;
    }
    n = (apr_size_t)fi.size;
    buf = apr_palloc(p, n + 1);
    rv = apr_file_read_full(f, buf, n, &n);
    apr_file_close(f);
    if (rv != APR_SUCCESS && rv != APR_EOF) {
        *perr = apr_psprintf(p, "cannot read '%s': %s", path,
                             apr_strerror(rv, ebuf, sizeof(ebuf)));
        return NULL;
    }
    buf[n] = '\0';
    return buf;
}

static int load_template(apr_pool_t *pconf, apr_pool_t *ptemp, server_rec *s,
                         const char *which, const char *file,
                         const char *builtin, const char **pout)
{
    const char *err = NULL, *t = builtin;

    if (file) {
        t = read_text(pconf, file, TEMPLATE_MAX, &err);
        if (t && mcp_html_template_check(ptemp, t, TEMPLATE_MAX, &err)
                 != APR_SUCCESS) {
            t = NULL;
        }
        if (!t) {
            ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s, MCPLOGNO(00870)
                         "MCPAuthzTemplate %s %s: %s", which, file, err);
            return HTTP_INTERNAL_SERVER_ERROR;
        }
        /* Copies of the first built-in consent page set the referrer
         * policy no-referrer: browsers then send the form with "Origin:
         * null" and the endpoint refuses every consent. */
        if (!strcmp(which, "consent")
            && (ap_strcasestr(t, "\"no-referrer\"")
                || ap_strcasestr(t, "'no-referrer'"))) {
            ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s, MCPLOGNO(01350)
                         "MCPAuthzTemplate consent %s: the page sets the "
                         "referrer policy no-referrer, with which browsers "
                         "send its form as from another site (Origin: null) "
                         "and the gateway refuses it: use same-origin",
                         file);
        }
    }
    *pout = t;
    return OK;
}

/* Templates and the initial access token of every enabled server. */
static int load_files(apr_pool_t *pconf, apr_pool_t *ptemp, server_rec *s)
{
    server_rec *sv;
    int rc;

    for (sv = s; sv; sv = sv->next) {
        mcp_authz_server_conf *conf =
            ap_get_module_config(sv->module_config, &mcp_authz_module);
        const char *err = NULL;

        if (!conf->issuer) {
            continue;
        }
        if ((rc = load_template(pconf, ptemp, s, "consent",
                                conf->consent_template_file,
                                mcp_authz_tmpl_consent,
                                &conf->consent_template)) != OK
            || (rc = load_template(pconf, ptemp, s, "error",
                                   conf->error_template_file,
                                   mcp_authz_tmpl_error,
                                   &conf->error_template)) != OK) {
            return rc;
        }
        if (conf->reg_policy == MCP_REG_TOKEN) {
            const char *t = read_text(pconf, conf->reg_token_file, 4096, &err);
            char *end;

            if (t) {
                end = (char *)t + strlen(t);
                while (end > t && (end[-1] == '\n' || end[-1] == '\r'
                                   || end[-1] == ' ')) {
                    *--end = '\0';
                }
            }
            if (!t || strlen(t) < 16) {
                ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s, MCPLOGNO(00871)
                             "MCPAuthzRegistration token %s: %s",
                             conf->reg_token_file,
                             t ? "the token must have at least 16 characters"
                               : err);
                return HTTP_INTERNAL_SERVER_ERROR;
            }
            conf->reg_token = t;
        }
    }
    return OK;
}

static int authz_pre_config(apr_pool_t *pconf, apr_pool_t *plog,
                            apr_pool_t *ptemp)
{
    mcp_authz_state_pre_config(pconf);
    return OK;
}

static int authz_post_config(apr_pool_t *pconf, apr_pool_t *plog,
                             apr_pool_t *ptemp, server_rec *s)
{
    int enabled, rc;

    mcp_glue_log_install(pconf, s, APLOG_MODULE_INDEX);
    if (mcp_glue_is_final_config()) {
        ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, s, MCPLOGNO(00522)
                     "mod_mcp_authz %s configured", MCP_VERSION);
    }
    rc = check_servers(ptemp, s, &enabled);
    if (rc != OK || !enabled) {
        return rc;
    }
    if (!mcp_glue_dbd_present()) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s, MCPLOGNO(00523)
                     MCP_GLUE_NEEDS_DBD("mod_mcp_authz"));
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    if ((rc = mcp_authz_load_keys(pconf, ptemp, s)) != OK
        || (rc = mcp_authz_build_metadata(pconf, ptemp, s)) != OK
        || (rc = load_files(pconf, ptemp, s)) != OK
        || (rc = mcp_authz_state_post_config(pconf, ptemp, s)) != OK) {
        return rc;
    }
    return mcp_authz_sweep_post_config(pconf, s);
}

/* mod_dbd hands out connections only once children run, so the store's
 * schema is checked here. A schema that does not fit this build stops
 * httpd (APEXIT_CHILDFATAL) with a message naming `mcpctl db upgrade`; an
 * unreachable database does not: it may come back later. */
static void authz_child_init(apr_pool_t *pchild, server_rec *s)
{
    server_rec *sv;
    int enabled = 0;

    for (sv = s; sv; sv = sv->next) {
        mcp_authz_server_conf *conf =
            ap_get_module_config(sv->module_config, &mcp_authz_module);

        if (!conf->issuer) {
            continue;
        }
        enabled = 1;
        if (mcp_glue_store_check(pchild, sv, APLOG_MODULE_INDEX,
                                 "mod_mcp_authz") == MCP_ESCHEMA) {
            exit(APEXIT_CHILDFATAL);
        }
    }
    if (enabled) {
        mcp_authz_state_child_init(pchild, s);
    }
}

/* Which endpoint of this server does @uri name? */
static mcp_authz_endpoint_e endpoint_of(const mcp_authz_server_conf *conf,
                                        const char *uri)
{
    static const char as1[] = "/.well-known/oauth-authorization-server";
    static const char as2[] = "/.well-known/openid-configuration";
    static const char prm[] = "/.well-known/oauth-protected-resource";
    int ep;

    if (!strncmp(uri, "/.well-known/", 13)) {
        /* RFC 8414 §3.1: the issuer's path follows the well-known part;
         * OpenID Connect Discovery puts it before (both are served). */
        if ((!strncmp(uri, as1, sizeof(as1) - 1)
             && !strcmp(uri + sizeof(as1) - 1, conf->issuer_path))
            || (!strncmp(uri, as2, sizeof(as2) - 1)
                && !strcmp(uri + sizeof(as2) - 1, conf->issuer_path))) {
            return MCP_EP_AS_METADATA;
        }
        if (!strncmp(uri, prm, sizeof(prm) - 1)
            && (!uri[sizeof(prm) - 1] || uri[sizeof(prm) - 1] == '/')) {
            return MCP_EP_PRM;
        }
    }
    if (*conf->issuer_path && !strncmp(uri, conf->issuer_path,
                                       strlen(conf->issuer_path))
        && !strcmp(uri + strlen(conf->issuer_path), as2)) {
        return MCP_EP_AS_METADATA;
    }
    for (ep = MCP_EP_AUTHORIZE; ep < MCP_EP_COUNT; ep++) {
        if (ep == MCP_EP_REGISTER && conf->reg_policy == MCP_REG_OFF) {
            continue;
        }
        if (!strcmp(uri, mcp_authz_path(conf, (mcp_authz_endpoint_e)ep))) {
            return (mcp_authz_endpoint_e)ep;
        }
    }
    return MCP_EP_NONE;
}

/* Claim the module's URLs before the file system is looked at, so that
 * <Directory> rules and missing files do not get in the way; <Location>
 * sections (the authentication of the authorization endpoint) still
 * apply. */
static int authz_map_to_storage(request_rec *r)
{
    mcp_authz_server_conf *conf;
    mcp_authz_endpoint_e ep;

    if (r->main || !r->uri || r->uri[0] != '/') {
        return DECLINED;
    }
    conf = ap_get_module_config(r->server->module_config, &mcp_authz_module);
    if (!conf->issuer || !conf->as_metadata) {
        return DECLINED;
    }
    ep = endpoint_of(conf, r->uri);
    if (ep == MCP_EP_NONE) {
        return DECLINED;
    }
    mcp_authz_req(r, 1)->endpoint = ep;
    r->filename = apr_pstrcat(r->pool, "mcp-authz:", r->uri, NULL);
    return OK;
}

static int authz_header_parser(request_rec *r)
{
    mcp_authz_req_t *q = mcp_authz_req(r, 0);

    if (q && q->endpoint != MCP_EP_NONE && q->endpoint != MCP_EP_AUTHORIZE) {
        return mcp_authz_cors_endpoint(r);
    }
    return mcp_authz_cors(r);
}

static int authz_handler(request_rec *r)
{
    mcp_authz_req_t *q = mcp_authz_req(r, 0);
    mcp_authz_server_conf *conf;

    if (!q || q->endpoint == MCP_EP_NONE) {
        return mcp_authz_jwks_handler(r);
    }
    conf = ap_get_module_config(r->server->module_config, &mcp_authz_module);
    switch (q->endpoint) {
    case MCP_EP_AS_METADATA: return mcp_authz_handle_as_metadata(r, conf);
    case MCP_EP_PRM:         return mcp_authz_handle_prm(r, conf);
    case MCP_EP_AUTHORIZE:   return mcp_authz_handle_authorize(r, conf);
    case MCP_EP_TOKEN:       return mcp_authz_handle_token(r, conf);
    case MCP_EP_REGISTER:    return mcp_authz_handle_register(r, conf);
    case MCP_EP_REVOKE:      return mcp_authz_handle_revoke(r, conf);
    case MCP_EP_INTROSPECT:  return mcp_authz_handle_introspect(r, conf);
    case MCP_EP_JWKS:        return mcp_authz_handle_jwks(r, conf);
    default:                 return DECLINED;
    }
}

static void authz_register_hooks(apr_pool_t *p)
{
    static const char *const after_dbd[] = { "mod_dbd.c", NULL };

    ap_hook_pre_config(authz_pre_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_post_config(authz_post_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_child_init(authz_child_init, after_dbd, NULL, APR_HOOK_MIDDLE);
    ap_hook_map_to_storage(authz_map_to_storage, NULL, NULL, APR_HOOK_FIRST);
    ap_hook_header_parser(authz_header_parser, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_handler(authz_handler, NULL, NULL, APR_HOOK_FIRST);
    mcp_authz_bearer_register(p);
}

AP_DECLARE_MODULE(mcp_authz) = {
    STANDARD20_MODULE_STUFF,
    mcp_authz_create_dir_conf,      /* per-directory config */
    mcp_authz_merge_dir_conf,       /* merge per-directory */
    mcp_authz_create_server_conf,   /* per-server config */
    mcp_authz_merge_server_conf,    /* merge per-server */
    mcp_authz_cmds,
    authz_register_hooks
};
