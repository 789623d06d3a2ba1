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
 * Only optional functions and optional hooks are used: a regular
 * (external) hook would need an exported symbol, and every module exports
 * nothing but its module record. Times are Unix seconds (apr_int64_t),
 * the unit of the core library, the store and the JWT claims.
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
    const char *audience;     /**< aud: the canonical URL of the resource */
    const char *jti;          /**< token id */
    const char *scope;        /**< the scope claim, space-separated ("" if none) */
    apr_array_header_t *scopes; /**< the same as a sorted set of const char * */
    apr_int64_t expires_at;   /**< exp, Unix seconds */
    apr_int64_t issued_at;    /**< iat, Unix seconds */
} mcp_token_info_t;

/**
 * The token info of the request, or NULL when the request carried no
 * valid mod_mcp bearer token (provided by mod_mcp_authz).
 */
APR_DECLARE_OPTIONAL_FN(const mcp_token_info_t *, mcp_authz_token_get,
                        (request_rec *r));

/**
 * Does the location of @a r let browser pages of @a origin use it: is
 * @a origin, or "*", among its MCPAuthzAllowedOrigins (provided by
 * mod_mcp_authz)? mod_mcp_proxy asks it to validate the Origin header of
 * its endpoint, so an origin is listed once for CORS and for the
 * endpoint's DNS-rebinding check.
 * @param origin "scheme://host[:port]" in the canonical form of
 *        mcp_url_origin() (lower case, no default port)
 * @return 1 when it is allowed; 0 when not, or when the location lists
 *         no origin.
 */
APR_DECLARE_OPTIONAL_FN(int, mcp_authz_origin_allowed,
                        (request_rec *r, const char *origin));

/**
 * Make @a r's answer a 403 insufficient_scope challenge of its protected
 * resource (provided by mod_mcp_authz): sets WWW-Authenticate on
 * r->headers_out with error="insufficient_scope", resource_metadata and a
 * scope of what the token has plus @a needed (RFC 6750 §3.1; the MCP
 * step-up rule: a client that replaces its scopes with it loses none).
 * The caller sends the 403 and its body. mod_mcp_proxy asks it when a
 * call needs scopes the token lacks, before it streams anything.
 * @param needed a scope set (mcp_scope.h)
 * @return 1 when the header was set; 0 when @a r carries no mod_mcp
 *         token (the caller then answers a plain 403).
 */
APR_DECLARE_OPTIONAL_FN(int, mcp_authz_insufficient_scope,
                        (request_rec *r, const apr_array_header_t *needed));

/** Why mcp_idp_upstream_credential() gave no credential: what the user
 * must do, for the client to show (mod_mcp_proxy turns it into a URL
 * elicitation -32042 or a JSON-RPC error whose data is this). */
typedef struct {
    /** "OAuthConnectionRequired" (no link yet, or it lacks scopes) or
     *  "OAuthTokenExpired" (the refresh failed); NULL for another failure
     *  (the store is down, ...), which the user cannot mend. */
    const char *type;
    const char *provider;         /**< the MCPIdPProvider name */
    /** NULL; "scope_upgrade_required" (a link without the scopes); or,
     *  for OAuthTokenExpired, why the refresh failed */
    const char *reason;
    apr_array_header_t *scopes;   /**< upstream scopes the link needs */
    /** Where the user links (or relinks) the provider: a URL of this
     *  gateway, carrying no credential, that works only for this user. */
    const char *authorize_url;
    const char *message;          /**< plain words, with the URL */
} mcp_idp_error_t;

/**
 * The credential of the request's user (r->user, the token subject) at
 * upstream @a provider, as the header a backend takes (by default
 * "Authorization" and "Bearer <token>"), refreshed before it expires
 * (provided by mod_mcp_idp). Parallel requests never refresh one token
 * twice.
 * @param rejected NULL; or the value this function gave (*pvalue) that
 *        the backend has just refused (HTTP 401): refresh it once and give
 *        the new one, or fail with OAuthTokenExpired. When the link holds
 *        another token by now (a parallel request refused the same one
 *        and refreshed it already), that one is given, without a refresh.
 * @return APR_SUCCESS with *pheader and *pvalue; otherwise a status with
 *         *perr filled in.
 */
APR_DECLARE_OPTIONAL_FN(apr_status_t, mcp_idp_upstream_credential,
                        (request_rec *r, const char *provider,
                         const char *rejected,
                         const char **pheader, const char **pvalue,
                         mcp_idp_error_t **perr));

/**
 * Is @a name an MCPIdPProvider of server @a s (provided by mod_mcp_idp)?
 * The providers of a virtual host are its own MCPIdPProvider lines or,
 * when it has none, those of the main server: a list is inherited whole,
 * never mixed. May be called from post_config on (mod_mcp_idp's
 * configuration is parsed and merged by then), by any module, in any
 * order of post_config hooks; it reads the configuration only.
 * @param p         pool for *pdeclared
 * @param pdeclared when not NULL, set to the names declared for @a s,
 *                  separated by ", " ("" when there are none), for messages
 * @return 1 when it is declared, 0 when not.
 */
APR_DECLARE_OPTIONAL_FN(int, mcp_idp_provider_known,
                        (server_rec *s, const char *name, apr_pool_t *p,
                         const char **pdeclared));

/**
 * The upstream links of user @a subject changed (provided by
 * mod_mcp_proxy; mod_mcp_idp calls it, when present, after it stored or
 * deleted a link): the tools, prompts and resources that user's sessions
 * list may differ now. It bumps the subject's "links generation" in the
 * proxy's session cache (shared across processes, and across nodes with
 * a shared MCPProxySessionCache); each open GET stream of that subject's
 * sessions then sends notifications/tools|prompts|resources/list_changed
 * within a few seconds. Failures are logged, never returned: the link
 * itself is made.
 */
APR_DECLARE_OPTIONAL_FN(void, mcp_proxy_links_changed,
                        (request_rec *r, const char *subject));

/**
 * Optional hook "token_accepted": run by mod_mcp_authz after it accepted
 * a bearer token (in its check_authn hook, before authorization). A
 * function returns OK or DECLINED to let the request go on, or an HTTP
 * status to refuse it. Register it in a module's register_hooks:
 *
 *     mcp_hook_token_accepted(my_fn, NULL, NULL, APR_HOOK_MIDDLE);
 */
typedef int mcp_HOOK_token_accepted_t(request_rec *r,
                                      const mcp_token_info_t *info);

/** The hook's registration record (the layout apr_optional_hook_add()
 * keeps), named as APR_IMPLEMENT_OPTIONAL_HOOK_RUN_ALL expects it. */
typedef struct mcp_LINK_token_accepted_t {
    mcp_HOOK_token_accepted_t *pFunc;
    const char *szName;
    const char * const *aszPredecessors;
    const char * const *aszSuccessors;
    int nOrder;
} mcp_LINK_token_accepted_t;

/** Register a function on the "token_accepted" optional hook. */
#define mcp_hook_token_accepted(pf, pre, succ, order) \
    APR_OPTIONAL_HOOK(mcp, token_accepted, pf, pre, succ, order)

#ifdef __cplusplus
}
#endif

#endif /* MOD_MCP_H */
