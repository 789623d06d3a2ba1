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
 * @file mcp_jose.h
 * @brief JWS (ES256 only) and JWK sets, over cjose.
 *
 * The mechanics of signatures and keys; what the claims mean is
 * mcp_jwt.h's business. The verifier pins the algorithm: a JWS whose
 * header names anything but ES256 (none, HS*, RS*, PS*, ES384, ...) is
 * refused before any key is looked at, so a public key can never be used
 * as an HMAC secret. mcp_jose.c is the only file that includes cjose.
 */
#ifndef MCP_JOSE_H
#define MCP_JOSE_H

#include <apr_pools.h>
#include <apr_tables.h>

#include "mcp/mcp_common.h"
#include "mcp/mcp_crypto.h"
#include "mcp/mcp_json.h"

#ifdef __cplusplus
extern "C" {
#endif

/** The one signature algorithm mod_mcp signs and accepts. */
#define MCP_JOSE_ALG "ES256"

/** Largest compact JWS accepted by the verifier. */
#define MCP_JOSE_MAX_JWS (64 * 1024)

typedef struct mcp_jose_key_t mcp_jose_key_t;
typedef struct mcp_jose_keyset_t mcp_jose_keyset_t;

/**
 * A JOSE key from an EC P-256 key (private, so it can sign). @a kid NULL
 * gives the RFC 7638 thumbprint as key id.
 */
apr_status_t mcp_jose_key_from_ec(mcp_jose_key_t **pkey, apr_pool_t *p,
                                  const mcp_ec_key_t *ec, const char *kid,
                                  const char **perr);

/** The key id. */
const char *mcp_jose_key_kid(const mcp_jose_key_t *key);

/** Can this key sign (does it hold the private part)? */
int mcp_jose_key_is_private(const mcp_jose_key_t *key);

/**
 * RFC 7638 thumbprint (SHA-256, base64url) of the public key: the default
 * key id.
 */
const char *mcp_jose_key_thumbprint(apr_pool_t *p, const mcp_jose_key_t *key);

/** An empty key set. */
apr_status_t mcp_jose_keyset_create(mcp_jose_keyset_t **pset, apr_pool_t *p);

/** Add @a key (kids must be unique: MCP_ECONFLICT otherwise). */
apr_status_t mcp_jose_keyset_add(mcp_jose_keyset_t *set,
                                 const mcp_jose_key_t *key);

/** Number of keys. */
int mcp_jose_keyset_count(const mcp_jose_keyset_t *set);

/** Key @a i (0-based), NULL when out of range. */
const mcp_jose_key_t *mcp_jose_keyset_get(const mcp_jose_keyset_t *set, int i);

/** The key with id @a kid, or NULL. */
const mcp_jose_key_t *mcp_jose_keyset_find(const mcp_jose_keyset_t *set,
                                           const char *kid);

/**
 * The JWK Set document of the public parts: {"keys":[{"kty":"EC",
 * "crv":"P-256","x":…,"y":…,"kid":…,"use":"sig","alg":"ES256"},…]}.
 * Private members never appear.
 */
const char *mcp_jose_jwks_json(apr_pool_t *p, const mcp_jose_keyset_t *set);

/**
 * Parse a JWK Set (for verifiers and tests). Only EC P-256 keys with a kid
 * (and, when present, "use":"sig" and "alg":"ES256") are taken; only their
 * public part is kept, even when the JWK carries "d". Symmetric ("oct"),
 * RSA and other keys are skipped, so they can never verify anything, and
 * so are EC keys whose point is not on P-256. A set with none left is
 * MCP_EINVALID, a kid used twice (among the keys taken) is MCP_EINVALID.
 */
apr_status_t mcp_jose_jwks_parse(mcp_jose_keyset_t **pset, apr_pool_t *p,
                                 const char *json, apr_size_t len,
                                 const char **perr);

/**
 * Sign @a len bytes as a compact JWS with the protected header
 * {"alg":"ES256","kid":<key id>[,"typ":@a typ]}. The signature is always
 * in low-S form (S <= n/2), the only form mcp_jose_verify() accepts.
 */
apr_status_t mcp_jose_sign(const char **pjws, apr_pool_t *p,
                           const mcp_jose_key_t *key, const char *typ,
                           const void *payload, apr_size_t len,
                           const char **perr);

/** What a verified JWS carried. */
typedef struct {
    const char *payload;     /**< NUL-terminated copy (not counted in len) */
    apr_size_t payload_len;
    const char *kid;         /**< key id that verified it */
    const char *typ;         /**< header "typ", NULL when absent */
    mcp_json_t *header;      /**< the protected header */
} mcp_jose_verified_t;

/**
 * Verify a compact JWS with a key of @a set.
 * The header must name alg ES256, have no "crit", and name a kid of the set
 * (a kid may be left out only when the set holds a single key).
 *
 * The signature R | S must be canonical: 0 < R < n and 0 < S <= n/2, n
 * being the order of P-256. ECDSA signatures are malleable, (R, S) and
 * (R, n - S) both verify; only the low-S one is accepted, so a token has
 * a single valid encoding. mcp_jose_sign() only makes those; other ES256
 * signers give a high S half of the time (the example of RFC 7515 A.3
 * has one), and such tokens are refused.
 * @return APR_SUCCESS; MCP_EPARSE (not a compact JWS: wrong number of
 *         parts, bad base64url, bad JSON header); MCP_EVERIFY (another
 *         algorithm, unknown kid, R or S out of range or S high, bad
 *         signature); MCP_ETOOLARGE.
 */
apr_status_t mcp_jose_verify(mcp_jose_verified_t **pv, apr_pool_t *p,
                             const mcp_jose_keyset_t *set,
                             const char *jws, apr_size_t len,
                             const char **perr);

#ifdef __cplusplus
}
#endif

#endif /* MCP_JOSE_H */
