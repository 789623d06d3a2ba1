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

/* mod_mcp_authz directives. Handlers check one value each; what depends on
 * several directives is checked in post_config (mod_mcp_authz.c). */

#include <httpd.h>
#include <http_config.h>
#include <apr_strings.h>

#include "mcp/mcp_url.h"
#include "mcp_glue.h"
#include "authz_private.h"

void *mcp_authz_create_server_conf(apr_pool_t *p, server_rec *s)
{
    mcp_authz_server_conf *conf = apr_pcalloc(p, sizeof(*conf));

    conf->issuer = NULL;
    conf->key_files = NULL;
    conf->keys = NULL;
    conf->jwks = NULL;
    return conf;
}

void *mcp_authz_merge_server_conf(apr_pool_t *p, void *basev, void *addv)
{
    mcp_authz_server_conf *base = basev, *add = addv;
    mcp_authz_server_conf *conf = apr_pcalloc(p, sizeof(*conf));

    conf->issuer = add->issuer ? add->issuer : base->issuer;
    /* A virtual host that names keys replaces the whole list (rotation is
     * done per list, never by mixing two). */
    conf->key_files = add->key_files ? add->key_files : base->key_files;
    conf->keys = NULL; /* loaded per server in post_config */
    conf->jwks = NULL; /* built per server in post_config */
    return conf;
}

static const char *set_issuer(cmd_parms *cmd, void *dconf, const char *arg)
{
    mcp_authz_server_conf *conf =
        ap_get_module_config(cmd->server->module_config, &mcp_authz_module);
    const char *err = NULL;

    /* RFC 8414 §2: an issuer has no query or fragment. */
    if (mcp_url_check(cmd->temp_pool, arg, MCP_URL_SECURE | MCP_URL_NO_QUERY,
                      &err) != APR_SUCCESS) {
        return apr_pstrcat(cmd->pool, cmd->cmd->name, ": ", err, NULL);
    }
    if (conf->issuer) {
        return apr_pstrcat(cmd->pool, cmd->cmd->name,
                           ": given twice for the same server", NULL);
    }
    conf->issuer = apr_pstrdup(cmd->pool, arg);
    return NULL;
}

static const char *add_signing_key(cmd_parms *cmd, void *dconf,
                                   const char *arg)
{
    mcp_authz_server_conf *conf =
        ap_get_module_config(cmd->server->module_config, &mcp_authz_module);
    const char *path = ap_server_root_relative(cmd->pool, arg);

    /* The key itself is loaded and checked in post_config, with the error
     * naming this directive and the file. */
    if (!path) {
        return apr_pstrcat(cmd->pool, cmd->cmd->name, ": invalid path '",
                           arg, "'", NULL);
    }
    if (!conf->key_files) {
        conf->key_files = apr_array_make(cmd->pool, 2, sizeof(const char *));
    }
    *(const char **)apr_array_push(conf->key_files) = path;
    return NULL;
}

const command_rec mcp_authz_cmds[] = {
    AP_INIT_TAKE1("MCPAuthzIssuer", set_issuer, NULL, RSRC_CONF,
                  "The issuer URL of this authorization server (https, or "
                  "http for a loopback host; no query or fragment). Enables "
                  "mod_mcp_authz in this server."),
    AP_INIT_TAKE1("MCPAuthzSigningKey", add_signing_key, NULL, RSRC_CONF,
                  "PEM file with an EC P-256 private key for signing tokens; "
                  "repeat for rotation: the first signs, all are published "
                  "in the JWKS."),
    { NULL }
};
