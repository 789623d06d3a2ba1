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
 * @file mcp_oauth.h
 * @brief OAuth 2.1 rules of the authorization server that need no httpd:
 *        PKCE, parameter syntax, secrets and opaque tokens, client
 *        credentials, consent-form CSRF tokens, error documents, cache
 *        lifetimes and client metadata (RFC 7591 registrations and Client
 *        ID Metadata Documents).
 *
 * URL rules are mcp_url's, scope rules mcp_scope's; this unit combines
 * them into the OAuth decisions. Nothing here logs a secret: functions
 * that take secrets only compare or hash them.
 */
#ifndef MCP_OAUTH_H
#define MCP_OAUTH_H

#include <apr_pools.h>
#include <apr_tables.h>

#include "mcp/mcp_common.h"
#include "mcp/mcp_json.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------------
 * PKCE (RFC 7636, S256 only)
 * ------------------------------------------------------------------- */

/** A code_verifier: 43 to 128 characters of [A-Za-z0-9-._~]. */
int mcp_oauth_pkce_verifier_valid(const char *verifier);

/** An S256 code_challenge: 43 base64url characters (32 bytes). */
int mcp_oauth_pkce_challenge_valid(const char *challenge);

/** Does BASE64URL(SHA256(verifier)) equal @a challenge? (constant time) */
int mcp_oauth_pkce_matches(const char *verifier, const char *challenge);

/* ---------------------------------------------------------------------
 * Parameters
 * ------------------------------------------------------------------- */

/**
 * Is @a value an acceptable OAuth parameter value: at most @a max bytes,
 * no control characters (RFC 6749 Appendix A: VSCHAR and space), valid
 * UTF-8? NULL is not.
 */
int mcp_oauth_param_valid(const char *value, apr_size_t max);

/* ---------------------------------------------------------------------
 * Opaque tokens and secrets
 * ------------------------------------------------------------------- */

/**
 * A new random secret (authorization code, refresh token, client secret):
 * 32 random bytes, base64url (43 characters), and its hash as stored.
 */
apr_status_t mcp_oauth_secret_new(const char **psecret, const char **phash,
                                  apr_pool_t *p);

/** The stored form of a secret: "sha256:" + BASE64URL(SHA256(secret)). The
 * secrets are 256-bit random values, so a fast hash is enough. */
const char *mcp_oauth_secret_hash(apr_pool_t *p, const char *secret);

/** Does @a secret hash to @a hash? (constant time over the hash) */
int mcp_oauth_secret_verify(apr_pool_t *p, const char *hash,
                            const char *secret);

/**
 * Client credentials of an "Authorization: Basic ..." header (RFC 6749
 * §2.3.1: id and secret are form-urlencoded before base64).
 * @return APR_SUCCESS; MCP_ENOTFOUND when the header is not Basic;
 *         MCP_EPARSE when it is malformed.
 */
apr_status_t mcp_oauth_basic_credentials(apr_pool_t *p, const char *header,
                                         const char **pid,
                                         const char **psecret);

/* ---------------------------------------------------------------------
 * Consent forms
 * ------------------------------------------------------------------- */

/**
 * A CSRF token for a form: the time and an HMAC over @a binding (the user
 * and the request the form confirms) and that time, with @a key.
 */
const char *mcp_oauth_csrf_make(apr_pool_t *p, const unsigned char key[32],
                                const char *binding, apr_int64_t now);

/** Is @a token a CSRF token made for @a binding at most @a max_age seconds
 * before @a now (and not in the future)? */
int mcp_oauth_csrf_check(apr_pool_t *p, const unsigned char key[32],
                         const char *binding, const char *token,
                         apr_int64_t now, int max_age);

/* ---------------------------------------------------------------------
 * Responses
 * ------------------------------------------------------------------- */

/** {"error":…,"error_description":…} (description may be NULL). */
const char *mcp_oauth_error_json(apr_pool_t *p, const char *error,
                                 const char *description);

/**
 * An auth-param of a WWW-Authenticate challenge: name="value" with '"'
 * and '\' escaped and control characters dropped (RFC 9110 §11.2).
 */
const char *mcp_oauth_auth_param(apr_pool_t *p, const char *name,
                                 const char *value);

/**
 * How long a fetched document may be cached, from its Cache-Control header
 * (max-age / s-maxage; no-store and no-cache give @a min): @a dflt when the
 * header says nothing, always within [@a min, @a max].
 */
int mcp_oauth_cache_lifetime(const char *cache_control, int dflt, int min,
                             int max);

/* ---------------------------------------------------------------------
 * Client metadata (RFC 7591 §2, Client ID Metadata Documents)
 * ------------------------------------------------------------------- */

/** How client metadata is judged. */
typedef struct {
    /** Native clients may use private-use redirect schemes (cursor://). */
    int allow_private_use;
    /** Allowed private-use schemes (const char *); NULL: any safe one. */
    const apr_array_header_t *schemes;
    /** Not NULL: a Client ID Metadata Document fetched from this URL, whose
     * client_id must be exactly this URL and which has no secret. */
    const char *document_url;
    /** Most redirect URIs accepted (0: 16). */
    int max_redirect_uris;
} mcp_oauth_client_rules_t;

/** Validated client metadata. */
typedef struct {
    const char *client_name;              /**< may be NULL (registration) */
    const char *client_uri, *logo_uri, *tos_uri, *policy_uri;
    const char *software_id, *software_version;
    const char *application_type;         /**< "native" or "web" */
    const char *token_endpoint_auth_method; /**< none, client_secret_basic, client_secret_post */
    const char *grant_types;              /**< space-separated */
    const char *scope;                    /**< as asked, or NULL */
    apr_array_header_t *redirect_uris;    /**< const char * */
    /** Every redirect URI is a loopback one (the consent page warns). */
    int loopback_only;
    /** The metadata as stored and echoed: only the members above. */
    mcp_json_t *metadata;
} mcp_oauth_client_meta_t;

/**
 * Judge client metadata (a registration request or a Client ID Metadata
 * Document). Redirect URIs: https (exact match later), http on a loopback
 * host (any port later, RFC 8252), private-use schemes only for native
 * public clients and only when @a rules allow them. application_type
 * "web" allows https to non-loopback hosts only; without it, a client is
 * native when a redirect URI is loopback or private-use. grant_types
 * default to authorization_code, response_types to code; auth method to
 * client_secret_basic (none for documents).
 * @return APR_SUCCESS with *pm; MCP_EINVALID with *perror
 *         ("invalid_redirect_uri" or "invalid_client_metadata") and
 *         *pdesc saying what is wrong.
 */
apr_status_t mcp_oauth_client_meta(mcp_oauth_client_meta_t **pm, apr_pool_t *p,
                                   const mcp_json_t *doc,
                                   const mcp_oauth_client_rules_t *rules,
                                   const char **perror, const char **pdesc);

/** Is @a redirect_uri one of @a registered (mcp_url_redirect_matches)? */
int mcp_oauth_redirect_allowed(apr_pool_t *p,
                               const apr_array_header_t *registered,
                               const char *redirect_uri);

#ifdef __cplusplus
}
#endif

#endif /* MCP_OAUTH_H */
