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

/* mod_mcp_proxy: the MCP endpoint (Streamable HTTP) that federates
 * upstream MCP servers. This file holds the module record and its startup
 * hooks. */

#include <httpd.h>
#include <http_config.h>
#include <http_core.h>
#include <http_log.h>
#include <http_request.h>

#include "mcp/mcp_common.h"
#include "mcp/mcp_http.h"
#include "mcp_glue.h"
#include "proxy_private.h"

/* Check every section that can hold MCPProxyBackend lines: the server
 * level, each <Location>/<Directory>-style section, and the sections
 * core keeps inside those: <Files>/<FilesMatch> (in the server level or a
 * <Directory>) and <If>/<ElseIf>/<Else> (in any of them, nested too). */
static const char *check_list(apr_pool_t *ptemp, server_rec *sv,
                              apr_array_header_t *sections, int *pbackends);

/* The pool the endpoints are built in (pconf), during post_config. */
static apr_pool_t *build_pool;

static const char *check_tree(apr_pool_t *ptemp, server_rec *sv,
                              ap_conf_vector_t *sec, int *pbackends)
{
    const mcp_proxy_dir_conf *conf = ap_get_module_config(sec,
                                                          &mcp_proxy_module);
    const core_dir_config *core = ap_get_core_module_config(sec);
    const char *err = NULL;

    if (conf) {
        if (conf->backends && conf->backends->nelts > 0) {
            *pbackends = 1;
        }
        err = mcp_proxy_check_section(build_pool, ptemp, sv, conf);
    }
    if (!err && core) {
        err = check_list(ptemp, sv, core->sec_file, pbackends);
    }
    if (!err && core) {
        err = check_list(ptemp, sv, core->sec_if, pbackends);
    }
    return err;
}

static const char *check_list(apr_pool_t *ptemp, server_rec *sv,
                              apr_array_header_t *sections, int *pbackends)
{
    const char *err = NULL;
    int i;

    for (i = 0; !err && sections && i < sections->nelts; i++) {
        err = check_tree(ptemp, sv,
                         APR_ARRAY_IDX(sections, i, ap_conf_vector_t *),
                         pbackends);
    }
    return err;
}

/* A virtual host's lists also hold the main server's sections (core
 * merges them in), so each is checked in every server it applies to. */
static const char *check_server(apr_pool_t *ptemp, server_rec *sv,
                                int *pbackends)
{
    core_server_config *core = ap_get_core_module_config(sv->module_config);
    const char *err = check_tree(ptemp, sv, sv->lookup_defaults, pbackends);

    if (!err) {
        err = check_list(ptemp, sv, core->sec_url, pbackends);
    }
    if (!err) {
        err = check_list(ptemp, sv, core->sec_dir, pbackends);
    }
    return err;
}

static int proxy_post_config(apr_pool_t *pconf, apr_pool_t *plog,
                             apr_pool_t *ptemp, server_rec *s)
{
    server_rec *sv;
    const char *err;
    int backends = 0;
    apr_status_t rv;

    mcp_glue_log_install(pconf, s, APLOG_MODULE_INDEX);
    mcp_proxy_transport_init();
    mcp_proxy_endpoints_reset(pconf);
    build_pool = pconf;
    if (mcp_glue_is_final_config()) {
        ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, s, MCPLOGNO(00610)
                     "mod_mcp_proxy %s configured", MCP_VERSION);
    }
    for (sv = s; sv; sv = sv->next) {
        err = check_server(ptemp, sv, &backends);
        if (err) {
            ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s, MCPLOGNO(00611)
                         "%s", err);
            return HTTP_INTERNAL_SERVER_ERROR;
        }
    }
    /* The HTTP library is set up here, before any thread exists. */
    if (backends) {
        if (mcp_proxy_session_post_config(pconf, ptemp, s) != OK) {
            return HTTP_INTERNAL_SERVER_ERROR;
        }
        mcp_proxy_health_post_config(pconf, s);
        rv = mcp_http_global_init(pconf, &err);
        if (rv != APR_SUCCESS) {
            ap_log_error(APLOG_MARK, APLOG_EMERG, mcp_glue_log_status(rv), s,
                         MCPLOGNO(00612)
                         "mod_mcp_proxy: cannot set up the HTTP client: %s",
                         err ? err : "unknown error");
            return HTTP_INTERNAL_SERVER_ERROR;
        }
    }
    return OK;
}

static int proxy_pre_config(apr_pool_t *pconf, apr_pool_t *plog,
                            apr_pool_t *ptemp)
{
    mcp_proxy_session_pre_config(pconf);
    return OK;
}

static void proxy_child_init(apr_pool_t *pchild, server_rec *s)
{
    mcp_proxy_session_child_init(pchild, s);
}

static void proxy_register_hooks(apr_pool_t *p)
{
    ap_hook_pre_config(proxy_pre_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_child_init(proxy_child_init, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_post_config(proxy_post_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_handler(mcp_proxy_handler, NULL, NULL, APR_HOOK_MIDDLE);
    APR_REGISTER_OPTIONAL_FN(mcp_proxy_links_changed);
}

AP_DECLARE_MODULE(mcp_proxy) = {
    STANDARD20_MODULE_STUFF,
    mcp_proxy_create_dir_conf,  /* per-directory config */
    mcp_proxy_merge_dir_conf,   /* merge per-directory */
    mcp_proxy_create_server_conf, /* per-server config */
    mcp_proxy_merge_server_conf,  /* merge per-server */
    mcp_proxy_cmds,
    proxy_register_hooks
};
