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

/* Internal to mod_mcp_idp: its configuration and the parts of the module
 * that live in separate files. */
#ifndef MCP_IDP_PRIVATE_H
#define MCP_IDP_PRIVATE_H

#include <httpd.h>
#include <http_config.h>
#include <apr_tables.h>

#include "mcp/mcp_crypto.h"

extern module AP_MODULE_DECLARE_DATA mcp_idp_module;

/** One MCPIdPVaultKey line. */
typedef struct {
    const char *path;         /**< absolute path of the key file */
    const char *id;           /**< id=, NULL when not given */
    const char *defn_name;    /**< config file of the line, for messages */
    unsigned defn_line;
} mcp_idp_vault_key_t;

/** One MCPIdPProvider line. NULL members were not given. */
typedef struct {
    const char *name;         /**< [A-Za-z0-9_-]+, unique per server */
    const char *authorize;    /**< authorization endpoint */
    const char *token;        /**< token endpoint */
    const char *client_id;
    const char *secret_file;  /**< absolute path of the client secret */
    const char *scope;        /**< space-separated scopes to ask for */
    const char *defn_name;
    unsigned defn_line;
} mcp_idp_provider_t;

/** Per-server configuration. Unset: NULL. */
typedef struct {
    /** MCPIdPVaultKey lines (mcp_idp_vault_key_t); the first is current. */
    apr_array_header_t *vault_keys;
    /** MCPIdPProvider lines (mcp_idp_provider_t). */
    apr_array_header_t *providers;
    /** Filled in post_config: the vault keys (the first seals). */
    mcp_keyring_t *keyring;
} mcp_idp_server_conf;

extern const command_rec mcp_idp_cmds[];

void *mcp_idp_create_server_conf(apr_pool_t *p, server_rec *s);
void *mcp_idp_merge_server_conf(apr_pool_t *p, void *basev, void *addv);

/**
 * Load the vault keys of every server that has providers.
 * @return OK or an HTTP status after logging what failed.
 */
int mcp_idp_load_vault_keys(apr_pool_t *pconf, apr_pool_t *ptemp,
                            server_rec *s);

#endif /* MCP_IDP_PRIVATE_H */
