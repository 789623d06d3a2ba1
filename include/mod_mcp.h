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

/**
 * @file mod_mcp.h
 * @brief The only contract between the mod_mcp modules.
 *
 * mod_mcp_authz, mod_mcp_proxy and mod_mcp_idp never link against each
 * other: they find each other at run time through the optional functions
 * and optional hooks declared here (the pattern of httpd's mod_dbd.h).
 * A module that needs another one looks its functions up in post_config
 * with APR_RETRIEVE_OPTIONAL_FN() and fails with a clear startup error
 * naming the missing module when they are absent.
 *
 * Declared now; the issues that build the OAuth server, the proxy and the
 * upstream bridge fill them in.
 */
#ifndef MOD_MCP_H
#define MOD_MCP_H

#include <httpd.h>
#include <apr_optional.h>
#include <apr_optional_hooks.h>
#include <apr_tables.h>

#ifdef __cplusplus
extern "C" {
#endif

/** What mod_mcp_authz learned from a valid bearer token. */
typedef struct {
    const char *subject;      /**< sub: the user, also set as r->user */
    const char *client_id;    /**< client_id claim */
    const char *issuer;       /**< iss */
    const char *audience;     /**< aud: the MCP resource URL */
    const char *jti;          /**< token id */
    apr_array_header_t *scopes; /**< const char * scope values */
    apr_time_t expires;       /**< exp */
    apr_time_t issued_at;     /**< iat */
} mcp_token_info_t;

/**
 * The token info of the request, or NULL when the request carried no
 * valid mod_mcp bearer token (provided by mod_mcp_authz).
 */
APR_DECLARE_OPTIONAL_FN(const mcp_token_info_t *, mcp_authz_token_get,
                        (request_rec *r));

/** Why mcp_idp_upstream_token() gave no token. */
typedef struct {
    int needs_authorization;  /**< the user has not linked this provider yet */
    const char *authorize_url;/**< where the user goes to link it */
    const char *message;      /**< text for the client */
} mcp_idp_error_t;

/**
 * The access token of the request's user at upstream @a provider, refreshed
 * when close to expiry (provided by mod_mcp_idp).
 * @return APR_SUCCESS with *ptoken set, or a status with *perr filled in.
 */
APR_DECLARE_OPTIONAL_FN(apr_status_t, mcp_idp_upstream_token,
                        (request_rec *r, const char *provider,
                         const char **ptoken, mcp_idp_error_t **perr));

/**
 * Run after mod_mcp_authz accepted a bearer token, before the handler:
 * other modules may refuse the request (return an HTTP status) or
 * DECLINED to let it through.
 */
APR_DECLARE_EXTERNAL_HOOK(mcp, MCP, int, token_accepted,
                          (request_rec *r, const mcp_token_info_t *info))

#ifdef __cplusplus
}
#endif

#endif /* MOD_MCP_H */
