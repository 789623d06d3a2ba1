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
 * @file mcp_crypto.h
 * @brief Random tokens, hashes, AES-256-GCM envelopes with key rotation,
 *        and EC P-256 keys, on OpenSSL 3.
 *
 * mcp_crypto.c is the only file of mod_mcp that calls OpenSSL.
 */
#ifndef MCP_CRYPTO_H
#define MCP_CRYPTO_H

#include <apr_pools.h>

#include "mcp/mcp_common.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Fill @a buf with @a len bytes from the CSPRNG. */
apr_status_t mcp_crypto_random(void *buf, apr_size_t len);

/**
 * A random token of @a nbytes bytes (at least 16) as base64url, e.g. 32
 * bytes give 43 characters.
 */
apr_status_t mcp_crypto_token(const char **ptoken, apr_pool_t *p,
                              apr_size_t nbytes);

#define MCP_SHA256_LEN 32

/** SHA-256 of @a len bytes. */
void mcp_crypto_sha256(unsigned char out[MCP_SHA256_LEN],
                       const void *data, apr_size_t len);

/** SHA-256 as base64url (43 characters): how secrets are stored hashed. */
const char *mcp_crypto_sha256_b64url(apr_pool_t *p, const void *data,
                                     apr_size_t len);

/** HMAC-SHA-256 of @a len bytes under @a key. */
void mcp_crypto_hmac_sha256(unsigned char out[MCP_SHA256_LEN],
                            const void *key, apr_size_t keylen,
                            const void *data, apr_size_t len);

/** Compare @a len bytes in constant time; 1 when equal. */
int mcp_crypto_equal(const void *a, const void *b, apr_size_t len);

/**
 * Compare two strings in time that depends only on their lengths; 1 when
 * equal. NULL equals nothing.
 */
int mcp_crypto_str_equal(const char *a, const char *b);

/**
 * Overwrite @a len bytes at @a p with zeros (OPENSSL_cleanse), in a way
 * the compiler cannot leave out as a dead store, as it may a memset()
 * just before the memory goes out of scope. For private scalars, key
 * file contents and decoded key material. @a p may be NULL when @a len
 * is 0.
 */
void mcp_crypto_wipe(void *p, apr_size_t len);

/* ---------------------------------------------------------------------
 * AES-256-GCM envelopes and the keyring
 * ------------------------------------------------------------------- */

#define MCP_AEAD_KEY_LEN 32
/** Longest key id; ids are 1..32 characters of [A-Za-z0-9_-]. */
#define MCP_AEAD_KID_MAX 32

typedef struct mcp_keyring_t mcp_keyring_t;

/** An empty keyring; keys are wiped when @a p is destroyed. */
apr_status_t mcp_keyring_create(mcp_keyring_t **pkr, apr_pool_t *p);

/**
 * Add a 32-byte key under @a kid (NULL: mcp_keyring_default_kid()). The
 * first key added is the current one (used to seal) unless a later one is
 * added with @a make_current. Every key opens envelopes made with it.
 * @return APR_SUCCESS, MCP_EINVALID (bad id), MCP_ECONFLICT (id taken).
 */
apr_status_t mcp_keyring_add(mcp_keyring_t *kr, const char *kid,
                             const unsigned char key[MCP_AEAD_KEY_LEN],
                             int make_current, const char **perr);

/** Id of the key that seals, or NULL when the keyring is empty. */
const char *mcp_keyring_current(const mcp_keyring_t *kr);

/** Number of keys. */
int mcp_keyring_count(const mcp_keyring_t *kr);

/** Default key id: the first 8 characters of base64url(SHA-256(key)). */
const char *mcp_keyring_default_kid(apr_pool_t *p,
                                    const unsigned char key[MCP_AEAD_KEY_LEN]);

/**
 * Load a vault key from a file. Accepted contents, with at most one
 * trailing line end: 32 raw bytes (`openssl rand -out vault.key 32`), or
 * base64 / base64url text of exactly 32 bytes (what
 * `openssl rand -base64 32 > vault.key` writes), or 64 hex digits
 * (`openssl rand -hex 32 > vault.key`). Files over 64 KiB are not read.
 * @return APR_SUCCESS, an APR file error, or MCP_EINVALID with *perr
 *         naming the file and what it holds instead ("base64 of 24 bytes",
 *         "62 hex digits", ...), never the key material itself.
 */
apr_status_t mcp_keyring_load_key_file(unsigned char key[MCP_AEAD_KEY_LEN],
                                       apr_pool_t *p, const char *path,
                                       const char **perr);

/**
 * Read a secret kept on the first line of a small file (a client secret,
 * a bearer token): that line without its line end and the blanks around
 * it; later lines are ignored. What it was read through is wiped.
 * @return APR_SUCCESS with *psecret in @a p; an APR file error, or
 *         MCP_EINVALID when the first line is empty or longer than
 *         @a max bytes (or the file over 64 KiB), with *perr naming the
 *         file, never its contents.
 */
apr_status_t mcp_crypto_read_secret_file(const char **psecret, apr_pool_t *p,
                                         const char *path, apr_size_t max,
                                         const char **perr);

/**
 * Seal @a ptlen bytes with the current key, binding @a aad (may be NULL).
 * The envelope is ASCII text that fits a SQL text column:
 *
 *     v1.<kid>.<base64url(nonce(12) | ciphertext | tag(16))>
 *
 * with a fresh 96-bit random nonce per envelope and a 128-bit tag. What GCM
 * authenticates besides the ciphertext is "mcp-aead-v1" NUL <kid> NUL
 * <aad>, so moving an envelope to another key id fails like a changed tag.
 * This layout is stable: envelopes stored by one release open in the next.
 * Random nonces keep one key safe for about 2^32 envelopes (NIST SP
 * 800-38D); rotate keys long before that.
 * @return APR_SUCCESS; MCP_ENOTFOUND (empty keyring); MCP_ETOOLARGE.
 */
apr_status_t mcp_aead_seal(const char **penv, apr_pool_t *p,
                           const mcp_keyring_t *kr,
                           const void *pt, apr_size_t ptlen,
                           const void *aad, apr_size_t aadlen);

/**
 * Open an envelope. The plaintext is NUL-terminated (not counted); *pkid
 * (may be NULL) gets the id of the key that opened it, so callers can
 * re-seal data still under an old key.
 * @return APR_SUCCESS; MCP_EPARSE (not an envelope); MCP_ENOTFOUND (no key
 *         with that id); MCP_EVERIFY (tag, ciphertext, nonce, key id or AAD
 *         changed).
 */
apr_status_t mcp_aead_open(unsigned char **ppt, apr_size_t *pptlen,
                           apr_pool_t *p, const mcp_keyring_t *kr,
                           const char *env, const void *aad,
                           apr_size_t aadlen, const char **pkid);

/* ---------------------------------------------------------------------
 * The vault: envelopes bound to whose they are
 *
 * What a vault envelope is bound to is encoded without ambiguity: a label
 * with its NUL, then each part as its length (4 bytes, big-endian) and
 * its bytes. So ("ab", "c") and ("a", "bc") give different associated
 * data, and an envelope moved to another user's or provider's row does
 * not open there. Every seal and open of the vault goes through these.
 * ------------------------------------------------------------------- */

/** Label of an upstream token's associated data. */
#define MCP_VAULT_AAD_LABEL "mcp-vault-v1"
/** Label of a pending authorization's PKCE verifier's associated data. */
#define MCP_VAULT_PENDING_AAD_LABEL "mcp-vault-pending-v1"

/**
 * The associated data of the upstream tokens of (@a subject,
 * @a provider):
 *
 *     "mcp-vault-v1" NUL | u32be(len subject) | subject
 *                        | u32be(len provider) | provider
 *
 * @return APR_SUCCESS; MCP_EINVALID for a NULL or empty subject or
 *         provider (or a NULL output); MCP_ETOOLARGE for a part of 4 GiB or
 *         more.
 */
apr_status_t mcp_vault_aad(const unsigned char **paad, apr_size_t *plen,
                           apr_pool_t *p, const char *subject,
                           const char *provider);

/**
 * The associated data of the PKCE verifier of a pending upstream
 * authorization: MCP_VAULT_PENDING_AAD_LABEL NUL, then @a state_hash,
 * @a subject and @a provider, each length-prefixed as above, so that a
 * verifier opens only for the state, user and provider it was sealed for.
 * @return as mcp_vault_aad(), also for a NULL or empty @a state_hash.
 */
apr_status_t mcp_vault_pending_aad(const unsigned char **paad, apr_size_t *plen,
                                   apr_pool_t *p, const char *state_hash,
                                   const char *subject, const char *provider);

/**
 * mcp_aead_seal() of the upstream tokens of (@a subject, @a provider),
 * with mcp_vault_aad().
 * @return as mcp_aead_seal() and mcp_vault_aad().
 */
apr_status_t mcp_vault_seal(const char **penv, apr_pool_t *p,
                            const mcp_keyring_t *kr, const char *subject,
                            const char *provider, const void *pt,
                            apr_size_t ptlen);

/**
 * mcp_aead_open() of an envelope sealed by mcp_vault_seal() for
 * (@a subject, @a provider); another pair gives MCP_EVERIFY.
 * @return as mcp_aead_open() and mcp_vault_aad().
 */
apr_status_t mcp_vault_open(unsigned char **ppt, apr_size_t *pptlen,
                            apr_pool_t *p, const mcp_keyring_t *kr,
                            const char *env, const char *subject,
                            const char *provider, const char **pkid);

/* ---------------------------------------------------------------------
 * EC P-256 keys (ES256 signing keys)
 * ------------------------------------------------------------------- */

typedef struct mcp_ec_key_t mcp_ec_key_t;

#define MCP_EC_COORD_LEN 32

/**
 * Load an unencrypted P-256 private key from PEM text (PKCS#8 "PRIVATE
 * KEY" or SEC1 "EC PRIVATE KEY"). RSA and other key types, other curves,
 * encrypted keys and garbage are refused with MCP_EINVALID / MCP_EPARSE and
 * a message.
 */
apr_status_t mcp_ec_key_from_pem(mcp_ec_key_t **pkey, apr_pool_t *p,
                                 const char *pem, apr_size_t len,
                                 const char **perr);

/** mcp_ec_key_from_pem() on the contents of @a path. */
apr_status_t mcp_ec_key_load_file(mcp_ec_key_t **pkey, apr_pool_t *p,
                                  const char *path, const char **perr);

/** A new random P-256 key. */
apr_status_t mcp_ec_key_generate(mcp_ec_key_t **pkey, apr_pool_t *p);

/** The private key as PKCS#8 PEM ("-----BEGIN PRIVATE KEY-----"). */
const char *mcp_ec_key_to_pem(apr_pool_t *p, const mcp_ec_key_t *key);

/** The public key as SubjectPublicKeyInfo PEM ("PUBLIC KEY"). */
const char *mcp_ec_key_public_pem(apr_pool_t *p, const mcp_ec_key_t *key);

/**
 * Raw 32-byte big-endian coordinates: public x and y, private d (pass NULL
 * for what you do not need).
 */
apr_status_t mcp_ec_key_coords(const mcp_ec_key_t *key,
                               unsigned char x[MCP_EC_COORD_LEN],
                               unsigned char y[MCP_EC_COORD_LEN],
                               unsigned char d[MCP_EC_COORD_LEN]);

#ifdef __cplusplus
}
#endif

#endif /* MCP_CRYPTO_H */
