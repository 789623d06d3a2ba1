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

/* Internal to mod_mcp_proxy: its configuration and the parts of the module
 * that live in separate files. */
#ifndef MCP_PROXY_PRIVATE_H
#define MCP_PROXY_PRIVATE_H

#include <httpd.h>
#include <http_config.h>
#include <apr_tables.h>

extern module AP_MODULE_DECLARE_DATA mcp_proxy_module;

#define MCP_PROXY_HANDLER "mcp-proxy"

#define MCP_PROXY_DEFAULT_MAX_BODY  4194304
#define MCP_PROXY_MAX_MAX_BODY      (1024 * 1024 * 1024)
#define MCP_PROXY_DEFAULT_MAX_DEPTH 64
#define MCP_PROXY_MAX_MAX_DEPTH     1024
#define MCP_PROXY_MAX_TIMEOUT       3600
#define MCP_PROXY_MAX_PREFIX        64

/** One MCPProxyBackend line. NULL members were not given. */
typedef struct {
    const char *name;         /**< [A-Za-z0-9_-]+, unique per location */
    const char *url;          /**< http or https */
    const char *prefix;       /**< prefix=: put before the backend's names */
    const char *scope;        /**< scope=: a token needs it to see the backend */
    const char *idp;          /**< idp=: MCPIdPProvider that supplies tokens */
    const char *bearer_file;  /**< bearer_file=: absolute path of a static token */
    int timeout;              /**< timeout= in seconds, 0 when not given */
    const char *defn_name;    /**< config file of the line, for messages */
    unsigned defn_line;       /**< and its line number */
} mcp_proxy_backend_t;

/** Per-directory configuration. Unset: NULL / -1. */
typedef struct {
    /** MCPProxyBackend lines (mcp_proxy_backend_t) of this section. */
    apr_array_header_t *backends;
    /** MCPProxyMaxBodySize */
    apr_off_t max_body;
    /** MCPProxyMaxDepth */
    int max_depth;
    /** MCPProxyAllowedOrigins (canonical origins or "*"); NULL = unset. */
    apr_array_header_t *origins;
    /** MCPProxyAllowedHosts (lower-case host names); NULL = unset. */
    apr_array_header_t *hosts;
} mcp_proxy_dir_conf;

extern const command_rec mcp_proxy_cmds[];

void *mcp_proxy_create_dir_conf(apr_pool_t *p, char *dir);
void *mcp_proxy_merge_dir_conf(apr_pool_t *p, void *basev, void *addv);

/** Effective values, defaults applied. */
apr_off_t mcp_proxy_max_body(const mcp_proxy_dir_conf *conf);
int mcp_proxy_max_depth(const mcp_proxy_dir_conf *conf);

/**
 * Checks across the MCPProxyBackend lines of one section (prefixes, idp=
 * against mod_mcp_idp's providers of server @a s), run in post_config.
 * @return NULL or a message naming the directive.
 */
const char *mcp_proxy_check_section(apr_pool_t *p, server_rec *s,
                                    const mcp_proxy_dir_conf *conf);

/** Find the optional functions of other modules (post_config). */
void mcp_proxy_transport_init(void);

/**
 * The transport's checks of a request to the endpoint that come before
 * its method and body: the Origin header, and the Host header on a
 * loopback address (DNS rebinding); the Accept header; the
 * MCP-Protocol-Version of a POST.
 * @return OK, or the HTTP status of a refusal with *pmsg set.
 */
int mcp_proxy_check_transport(request_rec *r, const mcp_proxy_dir_conf *conf,
                              const char **pmsg);

/** The mcp-proxy handler. */
int mcp_proxy_handler(request_rec *r);

#endif /* MCP_PROXY_PRIVATE_H */
