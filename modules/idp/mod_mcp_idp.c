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

/* mod_mcp_idp: per-user upstream OAuth and the encrypted token vault.
 * This file holds the module record and its startup hooks. */

#include <httpd.h>
#include <http_config.h>
#include <http_log.h>

#include <apr_strings.h>

#include <stdlib.h>

#include "mod_mcp.h"
#include "mcp/mcp_common.h"
#include "mcp/mcp_http.h"
#include "mcp_glue.h"
#include "idp_private.h"

/* Providers need a vault key to store their tokens and mod_dbd for the
 * vault itself; *penabled says whether any server has providers. */
static int check_servers(apr_pool_t *ptemp, server_rec *s, int *penabled)
{
    server_rec *sv;

    *penabled = 0;
    for (sv = s; sv; sv = sv->next) {
        mcp_idp_server_conf *conf =
            ap_get_module_config(sv->module_config, &mcp_idp_module);

        if (!conf->providers || conf->providers->nelts == 0) {
            continue;
        }
        *penabled = 1;
        if (!conf->vault_keys || conf->vault_keys->nelts == 0) {
            ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s, MCPLOGNO(00700)
                         "MCPIdPProvider is configured in %s but no "
                         "MCPIdPVaultKey is set: upstream tokens are stored "
                         "encrypted and need a vault key",
                         mcp_glue_server_desc(ptemp, sv));
            return HTTP_INTERNAL_SERVER_ERROR;
        }
    }
    return OK;
}

static int idp_post_config(apr_pool_t *pconf, apr_pool_t *plog,
                           apr_pool_t *ptemp, server_rec *s)
{
    int enabled, rc;
    const char *err = NULL;
    apr_status_t rv;

    mcp_glue_log_install(pconf, s, APLOG_MODULE_INDEX);
    if (mcp_glue_is_final_config()) {
        ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, s, MCPLOGNO(00701)
                     "mod_mcp_idp %s configured", MCP_VERSION);
    }
    rc = check_servers(ptemp, s, &enabled);
    if (rc != OK) {
        return rc;
    }
    if (enabled && !mcp_glue_dbd_present()) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s, MCPLOGNO(00702)
                     MCP_GLUE_NEEDS_DBD("mod_mcp_idp"));
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    /* Token exchanges with the providers use the HTTP library, which is
     * set up here, before any thread exists. */
    if (enabled) {
        rv = mcp_http_global_init(pconf, &err);
        if (rv != APR_SUCCESS) {
            ap_log_error(APLOG_MARK, APLOG_EMERG, mcp_glue_log_status(rv), s,
                         MCPLOGNO(00703)
                         "mod_mcp_idp: cannot set up the HTTP client: %s",
                         err ? err : "unknown error");
            return HTTP_INTERNAL_SERVER_ERROR;
        }
    }
    rc = mcp_idp_load_secrets(pconf, s);
    if (rc != OK) {
        return rc;
    }
    /* Keys are checked even without providers: a broken key file should
     * fail now, not when the first provider is added. */
    return mcp_idp_load_vault_keys(pconf, ptemp, s);
}

/* As mod_mcp_authz: the vault lives in the store, whose schema can only
 * be checked once mod_dbd hands out connections, in the children. */
static void idp_child_init(apr_pool_t *pchild, server_rec *s)
{
    server_rec *sv;

    mcp_idp_child_init(pchild, s);
    for (sv = s; sv; sv = sv->next) {
        mcp_idp_server_conf *conf =
            ap_get_module_config(sv->module_config, &mcp_idp_module);

        if (conf->providers && conf->providers->nelts > 0
            && mcp_glue_store_check(pchild, sv, APLOG_MODULE_INDEX,
                                    "mod_mcp_idp") == MCP_ESCHEMA) {
            exit(APEXIT_CHILDFATAL);
        }
    }
}

/* The contract's mcp_idp_provider_known() (static: registered, not
 * exported). The configuration of @s is already merged with the main
 * server's (httpd does it before post_config), so its list is the one
 * requests of @s use. */
static int mcp_idp_provider_known(server_rec *s, const char *name, apr_pool_t *p,
                          const char **pdeclared)
{
    const mcp_idp_server_conf *conf =
        ap_get_module_config(s->module_config, &mcp_idp_module);
    const apr_array_header_t *list = conf ? conf->providers : NULL;
    const char *names = "";
    int i, known = 0;

    for (i = 0; list && i < list->nelts; i++) {
        const mcp_idp_provider_t *pv = &APR_ARRAY_IDX(list, i,
                                                      mcp_idp_provider_t);

        known |= !strcmp(pv->name, name);
        if (pdeclared) {
            names = i ? apr_pstrcat(p, names, ", ", pv->name, NULL)
                      : pv->name;
        }
    }
    if (pdeclared) {
        *pdeclared = names;
    }
    return known;
}

static void idp_register_hooks(apr_pool_t *p)
{
    static const char *const after_dbd[] = { "mod_dbd.c", NULL };

    APR_REGISTER_OPTIONAL_FN(mcp_idp_provider_known);
    APR_REGISTER_OPTIONAL_FN(mcp_idp_upstream_credential);
    ap_hook_handler(mcp_idp_handler, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_post_config(idp_post_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_child_init(idp_child_init, after_dbd, NULL, APR_HOOK_MIDDLE);
}

AP_DECLARE_MODULE(mcp_idp) = {
    STANDARD20_MODULE_STUFF,
    NULL,                         /* per-directory config */
    NULL,                         /* merge per-directory */
    mcp_idp_create_server_conf,   /* per-server config */
    mcp_idp_merge_server_conf,    /* merge per-server */
    mcp_idp_cmds,
    idp_register_hooks
};
