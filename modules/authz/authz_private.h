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

/* Internal to mod_mcp_authz: its configuration and the parts of the module
 * that live in separate files. */
#ifndef MCP_AUTHZ_PRIVATE_H
#define MCP_AUTHZ_PRIVATE_H

#include <httpd.h>
#include <http_config.h>
#include <apr_tables.h>

#include "mcp/mcp_jose.h"

extern module AP_MODULE_DECLARE_DATA mcp_authz_module;

#define MCP_AUTHZ_JWKS_HANDLER "mcp-authz-jwks"
/** max-age of the JWKS: short, so a rotated key shows up quickly. */
#define MCP_AUTHZ_JWKS_MAX_AGE 300

/** Per-server configuration. NULL members are unset. */
typedef struct {
    /** MCPAuthzIssuer: the issuer URL; the module is enabled when set. */
    const char *issuer;
    /** MCPAuthzSigningKey: absolute PEM paths (const char *), first signs. */
    apr_array_header_t *key_files;
    /** Filled in post_config: the signing keys (index 0 signs). */
    mcp_jose_keyset_t *keys;
    /** Filled in post_config: the JWKS document served by the handler. */
    const char *jwks;
} mcp_authz_server_conf;

extern const command_rec mcp_authz_cmds[];

void *mcp_authz_create_server_conf(apr_pool_t *p, server_rec *s);
void *mcp_authz_merge_server_conf(apr_pool_t *p, void *basev, void *addv);

/** Load the signing keys of every enabled server and build their JWKS. */
int mcp_authz_load_keys(apr_pool_t *pconf, apr_pool_t *ptemp, server_rec *s);

/** The mcp-authz-jwks handler. */
int mcp_authz_jwks_handler(request_rec *r);

#endif /* MCP_AUTHZ_PRIVATE_H */
