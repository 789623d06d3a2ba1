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
 * @file mcp_jwt.h
 * @brief RFC 9068 JWT access tokens: building, signing and validating
 *        the claims. Signatures are mcp_jose's business.
 */
#ifndef MCP_JWT_H
#define MCP_JWT_H

#include <apr_pools.h>
#include <apr_tables.h>

#include "mcp/mcp_common.h"
#include "mcp/mcp_jose.h"
#include "mcp/mcp_json.h"

#ifdef __cplusplus
extern "C" {
#endif

/** The JWS "typ" of access tokens (RFC 9068 §2.1). */
#define MCP_JWT_TYP_AT "at+jwt"

/** Claims of an access token to sign. Times are Unix seconds. */
typedef struct {
    const char *iss;
    const char *sub;
    const char *aud;
    const char *client_id;
    const char *scope;       /**< space-separated, may be NULL */
    const char *jti;         /**< NULL: a random id is made */
    apr_int64_t iat;         /**< 0: now */
    apr_int64_t nbf;         /**< 0: omitted */
    apr_int64_t exp;         /**< required */
    mcp_json_t *extra;       /**< further claims (object), may be NULL */
} mcp_jwt_claims_t;

/**
 * Sign an access token with typ "at+jwt". iss, sub, aud, client_id and exp
 * are required (MCP_EINVALID otherwise); "extra" cannot override them.
 */
apr_status_t mcp_jwt_sign_access_token(const char **ptoken, apr_pool_t *p,
                                       const mcp_jose_key_t *key,
                                       const mcp_jwt_claims_t *claims,
                                       const char **perr);

/** What the validator checks besides the signature. */
typedef struct {
    const char *issuer;      /**< required: exact match of "iss" */
    /** Must be in "aud". NULL accepts any audience (but "aud" must still
     * be present and well-formed): for the authorization server's own
     * revocation and introspection endpoints only, never for a resource. */
    const char *audience;
    apr_int64_t now;         /**< Unix seconds; 0 means the clock */
    int leeway;              /**< seconds of clock skew allowed (>= 0) */
} mcp_jwt_verify_opts_t;

/** A validated access token. */
typedef struct {
    const char *issuer;
    const char *subject;
    const char *client_id;
    const char *jti;
    const char *scope;                /**< as in the token, or NULL */
    apr_array_header_t *audiences;    /**< const char * */
    apr_array_header_t *scopes;       /**< scope as a set (mcp_scope.h):
                                           sorted, never NULL */
    apr_int64_t exp, iat, nbf;        /**< 0 when absent (nbf) */
    const char *kid;
    mcp_json_t *claims;               /**< the whole claims object */
} mcp_jwt_t;

/**
 * Validate an access token: the JWS with @a keys (ES256 pinned), typ
 * "at+jwt" (or "application/at+jwt"), iss, aud, exp, nbf and iat (with
 * leeway), and the presence and types of the claims RFC 9068 §2.2
 * requires: sub, client_id and jti (non-empty strings), exp and iat
 * (integers); scope, when present, must be a string holding a valid
 * scope list (mcp_scope_parse(): RFC 6749 tokens, at most
 * MCP_SCOPE_MAX_TOKENS of them). A token is expired when now - leeway >=
 * exp, not yet valid when now + leeway < nbf or now + leeway < iat.
 * @return APR_SUCCESS; MCP_EPARSE (not a JWS / payload not JSON);
 *         MCP_EVERIFY (algorithm, key id or signature); MCP_EEXPIRED;
 *         MCP_EINVALID (any other claim problem). *perr says which.
 */
apr_status_t mcp_jwt_verify_access_token(mcp_jwt_t **ptoken, apr_pool_t *p,
                                         const mcp_jose_keyset_t *keys,
                                         const char *token,
                                         const mcp_jwt_verify_opts_t *opts,
                                         const char **perr);

#ifdef __cplusplus
}
#endif

#endif /* MCP_JWT_H */
