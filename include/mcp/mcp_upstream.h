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
 * @file mcp_upstream.h
 * @brief The gateway as an OAuth client of upstream providers (mod_mcp_idp):
 *        the authorization request, the token request and its answer,
 *        the tokens as the vault keeps them, and provider metadata
 *        (RFC 8414 / OpenID discovery).
 *
 * Nothing here performs I/O: mod_mcp_idp sends what these functions build
 * over the HTTP client and hands them what came back. No function logs or
 * puts a secret into a message.
 */
#ifndef MCP_UPSTREAM_H
#define MCP_UPSTREAM_H

#include <apr_pools.h>
#include <apr_tables.h>

#include "mcp/mcp_common.h"
#include "mcp/mcp_crypto.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Parameters of an authorization request (RFC 6749 §4.1.1). */
typedef struct {
    const char *endpoint;      /**< the provider's authorization endpoint */
    const char *client_id;
    const char *redirect_uri;
    const char *scope;         /**< space-separated; NULL or "": none sent */
    const char *state;
    const char *challenge;     /**< S256 code_challenge; NULL: no PKCE */
    /** Extra parameters (params=), added after ours; may be NULL. */
    const apr_table_t *extra;
} mcp_upstream_authz_req_t;

/**
 * The URL the browser is sent to: @a q->endpoint with response_type=code,
 * client_id, redirect_uri, scope, state, code_challenge and
 * code_challenge_method=S256, then @a q->extra, each %-encoded.
 * @return the URL, or NULL when endpoint, client_id, redirect_uri or state
 *         is missing or the endpoint has a fragment.
 */
const char *mcp_upstream_authorize_url(apr_pool_t *p,
                                       const mcp_upstream_authz_req_t *q);

/**
 * Is @a name one of the parameters mcp_upstream_authorize_url() sets
 * itself (so params= may not set it)?
 */
int mcp_upstream_reserved_param(const char *name);

/**
 * Parse params="k=v&k2=v2" of a provider into a table.
 * @return APR_SUCCESS with *pt; MCP_EINVALID with *perr for a malformed
 *         list, an empty name or a reserved name.
 */
apr_status_t mcp_upstream_parse_params(apr_table_t **pt, apr_pool_t *p,
                                       const char *params, const char **perr);

/**
 * The form body of a token request: grant_type=authorization_code with
 * code, redirect_uri and (when not NULL) code_verifier; or, when @a code is
 * NULL, grant_type=refresh_token with @a refresh_token. client_id always;
 * client_secret only when @a secret_in_body is not NULL (client_secret_post).
 */
const char *mcp_upstream_token_form(apr_pool_t *p, const char *code,
                                    const char *redirect_uri,
                                    const char *verifier,
                                    const char *refresh_token,
                                    const char *client_id,
                                    const char *secret_in_body);

/**
 * The value of "Authorization: Basic ..." for client_secret_basic (RFC 6749
 * §2.3.1: id and secret are form-urlencoded before base64).
 */
const char *mcp_upstream_basic_auth(apr_pool_t *p, const char *client_id,
                                    const char *secret);

/** Tokens of a link, as the token endpoint gave them and the vault keeps
 * them. Times are Unix seconds, 0: unknown / never. */
typedef struct {
    const char *access_token;
    const char *refresh_token;   /**< NULL when none was given */
    const char *token_type;      /**< as given ("bearer", ...), may be NULL */
    const char *scope;           /**< granted scope, NULL when not given */
    apr_int64_t expires_at;      /**< from expires_in */
    apr_int64_t refresh_expires_at; /**< from refresh_expires_in */
} mcp_upstream_tokens_t;

/**
 * Judge a token endpoint's answer: @a status 200 and a JSON object (or,
 * as GitHub answers without an Accept header, a form) with access_token.
 * Otherwise *perror gets the OAuth error code ("invalid_grant", ...) or,
 * for an answer that is no OAuth error, "invalid_response", and *pdesc
 * (may be NULL) plain words without any token.
 * @param media_type the response's media type, lower case, may be NULL
 * @return APR_SUCCESS with *ptok; MCP_EPROTO (an OAuth error, or an answer
 *         that is not one) with *perror.
 */
apr_status_t mcp_upstream_token_parse(mcp_upstream_tokens_t **ptok,
                                      apr_pool_t *p, int status,
                                      const char *media_type,
                                      const char *body, apr_size_t len,
                                      apr_int64_t now, const char **perror,
                                      const char **pdesc);

/** The plaintext the vault seals for @a tok (a small JSON object). */
const char *mcp_upstream_tokens_text(apr_pool_t *p,
                                     const mcp_upstream_tokens_t *tok);

/**
 * The tokens of a plaintext made by mcp_upstream_tokens_text() (scope and
 * expiry are kept by the store, not in the envelope; they are 0/NULL).
 * @return APR_SUCCESS; MCP_EPARSE.
 */
apr_status_t mcp_upstream_tokens_from_text(mcp_upstream_tokens_t **ptok,
                                           apr_pool_t *p, const char *text,
                                           apr_size_t len);

/**
 * The form body of a revocation request (RFC 7009 §2.1) for the tokens of
 * a link: the refresh token when there is one (a provider revokes the
 * access tokens granted with it where it can; JWT access tokens often
 * cannot be revoked at all), else the access token, each with its
 * token_type_hint. client_id always; client_secret only when
 * @a secret_in_body is not NULL (client_secret_post).
 * @return the form, or NULL when @a tok holds no token.
 */
const char *mcp_upstream_revoke_form(apr_pool_t *p,
                                     const mcp_upstream_tokens_t *tok,
                                     const char *client_id,
                                     const char *secret_in_body);

/**
 * Judge a revocation endpoint's answer: 200 is success (RFC 7009 §2.2:
 * also for a token the provider did not know).
 * @return APR_SUCCESS; APR_ENOTIMPL for the error unsupported_token_type
 *         (§2.2.1: the provider does not revoke tokens of that type, so
 *         asking again cannot help; JWT access tokens, typically);
 *         MCP_EPROTO otherwise. *perr names the status and the OAuth
 *         error code of a JSON error answer, if any.
 */
apr_status_t mcp_upstream_revoke_parse(apr_pool_t *p, int status,
                                       const char *body, apr_size_t len,
                                       const char **perr);

/**
 * The tokens in the vault envelope @a sealed of (@a subject, @a provider):
 * mcp_vault_open() then mcp_upstream_tokens_from_text(); the plaintext is
 * wiped (the token strings are in @a p).
 * @return APR_SUCCESS; as mcp_vault_open() (MCP_ENOTFOUND: no key with
 *         the envelope's id; MCP_EVERIFY: changed or another pair's);
 *         MCP_EPARSE.
 */
apr_status_t mcp_upstream_tokens_open(mcp_upstream_tokens_t **ptok,
                                      apr_pool_t *p, const mcp_keyring_t *kr,
                                      const char *sealed, const char *subject,
                                      const char *provider);

/** Where a provider's metadata may be (in this order). */
typedef struct {
    const char *rfc8414;   /**< /.well-known/oauth-authorization-server
                                inserted before the issuer's path */
    const char *openid;    /**< issuer + /.well-known/openid-configuration */
} mcp_upstream_metadata_urls_t;

/** The metadata URLs of @a issuer (an absolute URL without query).
 * @return APR_SUCCESS; MCP_EINVALID for an issuer that is no URL. */
apr_status_t mcp_upstream_metadata_urls(mcp_upstream_metadata_urls_t *u,
                                        apr_pool_t *p, const char *issuer);

/** What discovery gives. */
typedef struct {
    const char *authorization_endpoint;
    const char *token_endpoint;
    const char *revocation_endpoint;   /**< may be NULL */
    /** 1 when the provider lists client_secret_post but not
     *  client_secret_basic among its token endpoint auth methods. */
    int post_only;
} mcp_upstream_metadata_t;

/**
 * Judge provider metadata: a JSON object whose "issuer" is @a issuer
 * (RFC 8414 §3.3) and whose endpoints pass @a url_rules (mcp_url.h).
 * @return APR_SUCCESS with *pm; MCP_EPARSE / MCP_EINVALID with *perr.
 */
apr_status_t mcp_upstream_metadata_parse(mcp_upstream_metadata_t **pm,
                                         apr_pool_t *p, const char *body,
                                         apr_size_t len, const char *issuer,
                                         unsigned url_rules,
                                         const char **perr);

/**
 * Scopes of the space-separated @a wanted that the space-separated
 * @a granted lacks, space-separated; "" when none. Unparsable input counts
 * as nothing granted. "openid" and "offline_access" are never missing:
 * they concern the grant, and providers leave them out of the scope of
 * the access token.
 */
const char *mcp_upstream_missing_scopes(apr_pool_t *p, const char *wanted,
                                        const char *granted);

#ifdef __cplusplus
}
#endif

#endif /* MCP_UPSTREAM_H */
