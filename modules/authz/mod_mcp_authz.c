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
 * mod_mcp. This file holds the module record and its startup hooks. */

#include <httpd.h>
#include <http_config.h>
#include <http_log.h>
#include <http_protocol.h>
#include <http_request.h>

#include <stdlib.h>

#include "mcp/mcp_common.h"
#include "mcp_glue.h"
#include "authz_private.h"

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
    return mcp_authz_load_keys(pconf, ptemp, s);
}

/* mod_dbd hands out connections only once children run, so the store's
 * schema is checked here. A schema that does not fit this build stops
 * httpd (APEXIT_CHILDFATAL) with a message naming `mcpctl db upgrade`; an
 * unreachable database does not: it may come back later. */
static void authz_child_init(apr_pool_t *pchild, server_rec *s)
{
    server_rec *sv;

    for (sv = s; sv; sv = sv->next) {
        mcp_authz_server_conf *conf =
            ap_get_module_config(sv->module_config, &mcp_authz_module);

        if (conf->issuer
            && mcp_glue_store_check(pchild, sv, APLOG_MODULE_INDEX,
                                    "mod_mcp_authz") == MCP_ESCHEMA) {
            exit(APEXIT_CHILDFATAL);
        }
    }
}

static void authz_register_hooks(apr_pool_t *p)
{
    static const char *const after_dbd[] = { "mod_dbd.c", NULL };

    ap_hook_post_config(authz_post_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_child_init(authz_child_init, after_dbd, NULL, APR_HOOK_MIDDLE);
    ap_hook_handler(mcp_authz_jwks_handler, NULL, NULL, APR_HOOK_MIDDLE);
}

AP_DECLARE_MODULE(mcp_authz) = {
    STANDARD20_MODULE_STUFF,
    NULL,                           /* per-directory config */
    NULL,                           /* merge per-directory */
    mcp_authz_create_server_conf,   /* per-server config */
    mcp_authz_merge_server_conf,    /* merge per-server */
    mcp_authz_cmds,
    authz_register_hooks
};
