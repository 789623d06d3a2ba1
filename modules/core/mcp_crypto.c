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

/* The only OpenSSL user of mod_mcp (EVP interfaces of OpenSSL 3). Every
 * failure path clears OpenSSL's per-thread error queue so that nothing is
 * left behind for mod_ssl or the next request on the same thread. */

/* Only the OpenSSL 3 API: a deprecated call fails to compile here. */
#define OPENSSL_API_COMPAT 30000
#define OPENSSL_NO_DEPRECATED 1

#include <string.h>

#include <apr_strings.h>
#include <apr_file_io.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/obj_mac.h>
#include <openssl/pem.h>
#include <openssl/rand.h>

#include "mcp/mcp_b64.h"
#include "mcp/mcp_crypto.h"

#define GCM_NONCE_LEN 12
#define GCM_TAG_LEN   16
#define ENVELOPE_PREFIX "v1."
/* Domain separation for what GCM authenticates besides the data. */
#define AAD_LABEL "mcp-aead-v1"
/* Largest key or PEM file we read. */
#define MAX_KEY_FILE 65536

/* The last OpenSSL error as text, and an empty queue. */
static const char *ossl_error(apr_pool_t *p)
{
    unsigned long e = ERR_peek_last_error();
    char buf[256];

    ERR_clear_error();
    if (!e) {
        return "unknown OpenSSL error";
    }
    ERR_error_string_n(e, buf, sizeof(buf));
    return apr_pstrdup(p, buf);
}

apr_status_t mcp_crypto_random(void *buf, apr_size_t len)
{
    if (len > (apr_size_t)APR_INT32_MAX || RAND_bytes(buf, (int)len) != 1) {
        ERR_clear_error();
        mcp_log(MCP_LOG_MARK, MCP_LOG_CRIT, APR_EGENERAL, NULL,
                MCPLOGNO(00300) "the OpenSSL random generator failed "
                "(%" APR_SIZE_T_FMT " bytes asked)", len);
        return APR_EGENERAL;
    }
    return APR_SUCCESS;
}

apr_status_t mcp_crypto_token(const char **ptoken, apr_pool_t *p,
                              apr_size_t nbytes)
{
    unsigned char buf[256];
    apr_status_t rv;

    if (nbytes < 16 || nbytes > sizeof(buf)) {
        return APR_EINVAL;
    }
    rv = mcp_crypto_random(buf, nbytes);
    if (rv == APR_SUCCESS) {
        *ptoken = mcp_b64url_encode(p, buf, nbytes);
    }
    mcp_crypto_wipe(buf, sizeof(buf));
    return rv;
}

/* SHA-256 fetched from the default provider once per process: with
 * EVP_sha256() every digest fetched it again (a locked lookup that cost
 * more than hashing a short string). Written once, under the once. */
static CRYPTO_ONCE sha256_once = CRYPTO_ONCE_STATIC_INIT;
static EVP_MD *sha256_md;

static void sha256_fetch(void)
{
    sha256_md = EVP_MD_fetch(NULL, OSSL_DIGEST_NAME_SHA2_256, NULL);
}

static const EVP_MD *sha256(void)
{
    if (!CRYPTO_THREAD_run_once(&sha256_once, sha256_fetch) || !sha256_md) {
        return EVP_sha256();
    }
    return sha256_md;
}

void mcp_crypto_sha256(unsigned char out[MCP_SHA256_LEN],
                       const void *data, apr_size_t len)
{
    unsigned int n = MCP_SHA256_LEN;

    if (EVP_Digest(data, len, out, &n, sha256(), NULL) != 1) {
        /* Cannot happen with the default provider; never return garbage
         * that could compare equal to something. */
        ERR_clear_error();
        mcp_log(MCP_LOG_MARK, MCP_LOG_CRIT, APR_EGENERAL, NULL,
                MCPLOGNO(00301) "OpenSSL SHA-256 failed");
        mcp_crypto_random(out, MCP_SHA256_LEN);
    }
}

const char *mcp_crypto_sha256_b64url(apr_pool_t *p, const void *data,
                                     apr_size_t len)
{
    unsigned char md[MCP_SHA256_LEN];

    mcp_crypto_sha256(md, data, len);
    return mcp_b64url_encode(p, md, sizeof(md));
}

void mcp_crypto_hmac_sha256(unsigned char out[MCP_SHA256_LEN],
                            const void *key, apr_size_t keylen,
                            const void *data, apr_size_t len)
{
    size_t n = 0;

    if (!EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, key, keylen,
                   data, len, out, MCP_SHA256_LEN, &n)
        || n != MCP_SHA256_LEN) {
        ERR_clear_error();
        mcp_log(MCP_LOG_MARK, MCP_LOG_CRIT, APR_EGENERAL, NULL,
                MCPLOGNO(00302) "OpenSSL HMAC-SHA-256 failed");
        mcp_crypto_random(out, MCP_SHA256_LEN);
    }
}

int mcp_crypto_equal(const void *a, const void *b, apr_size_t len)
{
    return CRYPTO_memcmp(a, b, len) == 0;
}

int mcp_crypto_str_equal(const char *a, const char *b)
{
    apr_size_t la, lb;

    if (!a || !b) {
        return 0;
    }
    la = strlen(a);
    lb = strlen(b);
    /* Compare as many bytes as @b has whatever @a is, so the time depends
     * on the lengths only. */
    if (la != lb) {
        CRYPTO_memcmp(b, b, lb);
        return 0;
    }
    return CRYPTO_memcmp(a, b, la) == 0;
}

void mcp_crypto_wipe(void *p, apr_size_t len)
{
    if (p && len) {
        OPENSSL_cleanse(p, len);
    }
}

/* ---------------------------------------------------------------------
 * Keyring and envelopes
 * ------------------------------------------------------------------- */

typedef struct {
    const char *kid;
    unsigned char key[MCP_AEAD_KEY_LEN];
} ring_key_t;

struct mcp_keyring_t {
    apr_pool_t *pool;
    apr_array_header_t *keys;   /* ring_key_t * */
    int current;                /* index into keys, -1 when empty */
};

static apr_status_t keyring_wipe(void *data)
{
    mcp_keyring_t *kr = data;
    int i;

    for (i = 0; i < kr->keys->nelts; i++) {
        ring_key_t *k = APR_ARRAY_IDX(kr->keys, i, ring_key_t *);
        mcp_crypto_wipe(k->key, sizeof(k->key));
    }
    return APR_SUCCESS;
}

apr_status_t mcp_keyring_create(mcp_keyring_t **pkr, apr_pool_t *p)
{
    mcp_keyring_t *kr = apr_pcalloc(p, sizeof(*kr));

    kr->pool = p;
    kr->keys = apr_array_make(p, 2, sizeof(ring_key_t *));
    kr->current = -1;
    apr_pool_cleanup_register(p, kr, keyring_wipe, apr_pool_cleanup_null);
    *pkr = kr;
    return APR_SUCCESS;
}

static int kid_valid(const char *kid, apr_size_t len)
{
    apr_size_t i;

    if (len == 0 || len > MCP_AEAD_KID_MAX) {
        return 0;
    }
    for (i = 0; i < len; i++) {
        char c = kid[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')
              || (c >= '0' && c <= '9') || c == '-' || c == '_')) {
            return 0;
        }
    }
    return 1;
}

static const ring_key_t *keyring_find(const mcp_keyring_t *kr,
                                      const char *kid, apr_size_t len)
{
    int i;

    for (i = 0; i < kr->keys->nelts; i++) {
        const ring_key_t *k = APR_ARRAY_IDX(kr->keys, i, ring_key_t *);
        if (strlen(k->kid) == len && !memcmp(k->kid, kid, len)) {
            return k;
        }
    }
    return NULL;
}

const char *mcp_keyring_default_kid(apr_pool_t *p,
                                    const unsigned char key[MCP_AEAD_KEY_LEN])
{
    return apr_pstrndup(p, mcp_crypto_sha256_b64url(p, key, MCP_AEAD_KEY_LEN), 8);
}

apr_status_t mcp_keyring_add(mcp_keyring_t *kr, const char *kid,
                             const unsigned char key[MCP_AEAD_KEY_LEN],
                             int make_current, const char **perr)
{
    ring_key_t *k;

    if (!kid) {
        kid = mcp_keyring_default_kid(kr->pool, key);
    }
    if (!kid_valid(kid, strlen(kid))) {
        if (perr) {
            *perr = "a key id is 1 to 32 characters of A-Z a-z 0-9 - _";
        }
        return MCP_EINVALID;
    }
    if (keyring_find(kr, kid, strlen(kid))) {
        if (perr) {
            *perr = apr_psprintf(kr->pool, "key id '%s' is used twice", kid);
        }
        return MCP_ECONFLICT;
    }
    k = apr_palloc(kr->pool, sizeof(*k));
    k->kid = apr_pstrdup(kr->pool, kid);
    memcpy(k->key, key, MCP_AEAD_KEY_LEN);
    APR_ARRAY_PUSH(kr->keys, ring_key_t *) = k;
    if (kr->current < 0 || make_current) {
        kr->current = kr->keys->nelts - 1;
    }
    return APR_SUCCESS;
}

const char *mcp_keyring_current(const mcp_keyring_t *kr)
{
    if (kr->current < 0) {
        return NULL;
    }
    return APR_ARRAY_IDX(kr->keys, kr->current, ring_key_t *)->kid;
}

int mcp_keyring_count(const mcp_keyring_t *kr)
{
    return kr->keys->nelts;
}

/* Read a whole small file into a NUL-terminated buffer in @a p (a pool
 * the caller wipes and destroys); a message goes in @a perr_pool. */
static apr_status_t read_small_file(char **pdata, apr_size_t *plen,
                                    apr_pool_t *p, apr_pool_t *perr_pool,
                                    const char *path, const char **perr)
{
    apr_file_t *f;
    apr_finfo_t fi;
    apr_status_t rv;
    char *buf;
    apr_size_t size, n = 0;
    char err[128];

    rv = apr_file_open(&f, path, APR_FOPEN_READ | APR_FOPEN_BINARY,
                       APR_OS_DEFAULT, p);
    if (rv != APR_SUCCESS) {
        if (perr) {
            *perr = apr_psprintf(perr_pool, "cannot open %s: %s", path,
                                 apr_strerror(rv, err, sizeof(err)));
        }
        return rv;
    }
    rv = apr_file_info_get(&fi, APR_FINFO_SIZE, f);
    if (rv == APR_SUCCESS && fi.size > MAX_KEY_FILE) {
        apr_file_close(f);
        if (perr) {
            *perr = apr_psprintf(perr_pool, "%s is too large (over 64 KiB)", path);
        }
        return MCP_EINVALID;
    }
    size = rv == APR_SUCCESS ? (apr_size_t)fi.size : 0;
    buf = apr_palloc(p, size + 1);
    /* Unbuffered: no copy of the contents is left in an APR buffer. */
    rv = size ? apr_file_read_full(f, buf, size, &n) : APR_SUCCESS;
    apr_file_close(f);
    if (rv != APR_SUCCESS) {
        /* Part of a key may have been read before the error. */
        mcp_crypto_wipe(buf, size);
        if (perr) {
            *perr = apr_psprintf(perr_pool, "cannot read %s: %s", path,
                                 apr_strerror(rv, err, sizeof(err)));
        }
        return rv;
    }
    buf[n] = '\0';
    *pdata = buf;
    *plen = n;
    return APR_SUCCESS;
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Is @s (of @len) made of hex digits only? */
static int all_hex(const char *s, apr_size_t len)
{
    apr_size_t i;

    for (i = 0; i < len && hex_value(s[i]) >= 0; i++)
        ;
    return len > 0 && i == len;
}

/* The key from the contents of a key file, or what is wrong with them. */
static const char *key_from_contents(unsigned char key[MCP_AEAD_KEY_LEN],
                                     apr_pool_t *p, const char *data,
                                     apr_size_t len)
{
    unsigned char *dec;
    apr_size_t i, n;

    /* 32 bytes that are all printable are a (too short) text key, not a
     * raw one: random bytes are all printable with odds of 2^-40 or so. */
    for (i = 0; i < len && data[i] >= 0x20 && data[i] < 0x7f; i++)
        ;
    if (len == MCP_AEAD_KEY_LEN && i < len) {
        memcpy(key, data, MCP_AEAD_KEY_LEN);
        return NULL;
    }
    /* Text forms: one line end at most. */
    if (len && data[len - 1] == '\n') {
        len--;
    }
    if (len && data[len - 1] == '\r') {
        len--;
    }
    if (i < len) {
        return apr_psprintf(p, "%" APR_SIZE_T_FMT " bytes of binary data or "
                            "several lines", len);
    }
    if (all_hex(data, len)) {
        if (len != 2 * MCP_AEAD_KEY_LEN) {
            return apr_psprintf(p, "%" APR_SIZE_T_FMT " hex digits", len);
        }
        for (i = 0; i < MCP_AEAD_KEY_LEN; i++) {
            key[i] = (unsigned char)(hex_value(data[2 * i]) << 4
                                     | hex_value(data[2 * i + 1]));
        }
        return NULL;
    }
    if (mcp_b64_decode_any(&dec, &n, p, data, len) != APR_SUCCESS) {
        return "text that is neither base64 nor hex";
    }
    if (n != MCP_AEAD_KEY_LEN) {
        mcp_crypto_wipe(dec, n);
        return apr_psprintf(p, "base64 of %" APR_SIZE_T_FMT " bytes", n);
    }
    memcpy(key, dec, MCP_AEAD_KEY_LEN);
    mcp_crypto_wipe(dec, n);
    return NULL;
}

apr_status_t mcp_keyring_load_key_file(unsigned char key[MCP_AEAD_KEY_LEN],
                                       apr_pool_t *p, const char *path,
                                       const char **perr)
{
    apr_pool_t *tmp;
    char *data;
    apr_size_t len;
    const char *what;
    apr_status_t rv;

    apr_pool_create(&tmp, p);
    rv = read_small_file(&data, &len, tmp, p, path, perr);
    if (rv != APR_SUCCESS) {
        apr_pool_destroy(tmp);
        return rv;
    }
    what = len ? key_from_contents(key, tmp, data, len) : "nothing";
    if (what && perr) {
        *perr = apr_psprintf(p, "%s holds %s, not a 32-byte key (give 32 raw "
                             "bytes, base64 of 32 bytes as `openssl rand "
                             "-base64 32` writes, or 64 hex digits as "
                             "`openssl rand -hex 32` writes)", path, what);
    }
    mcp_crypto_wipe(data, len);
    apr_pool_destroy(tmp);
    return what ? MCP_EINVALID : APR_SUCCESS;
}

apr_status_t mcp_crypto_read_secret_file(const char **psecret, apr_pool_t *p,
                                         const char *path, apr_size_t max,
                                         const char **perr)
{
    apr_pool_t *tmp;
    char *data, *t, *e;
    apr_size_t len;
    apr_status_t rv;

    *psecret = NULL;
    apr_pool_create(&tmp, p);
    rv = read_small_file(&data, &len, tmp, p, path, perr);
    if (rv != APR_SUCCESS) {
        apr_pool_destroy(tmp);
        return rv;
    }
    /* By length, not as a C string: a NUL in the line is refused below,
     * not taken for its end. */
    for (t = data; t < data + len && (*t == ' ' || *t == '\t'); t++) {
    }
    for (e = t; e < data + len && *e != '\r' && *e != '\n'; e++) {
    }
    while (e > t && (e[-1] == ' ' || e[-1] == '\t')) {
        e--;
    }
    if (e == t || (apr_size_t)(e - t) > max || memchr(t, '\0', e - t)) {
        rv = MCP_EINVALID;
        if (perr) {
            *perr = apr_psprintf(p, "%s holds no secret on its first line "
                                 "(or one over %" APR_SIZE_T_FMT " bytes)",
                                 path, max);
        }
    }
    else {
        *psecret = apr_pstrmemdup(p, t, e - t);
    }
    mcp_crypto_wipe(data, len);
    apr_pool_destroy(tmp);
    return rv;
}

/* What GCM authenticates: a label, the key id and the caller's AAD. */
static int gcm_aad(EVP_CIPHER_CTX *ctx, const char *kid, apr_size_t kidlen,
                   const void *aad, apr_size_t aadlen)
{
    int n;

    return EVP_CipherUpdate(ctx, NULL, &n, (const unsigned char *)AAD_LABEL,
                            sizeof(AAD_LABEL)) == 1
        && EVP_CipherUpdate(ctx, NULL, &n, (const unsigned char *)kid,
                            (int)kidlen) == 1
        && EVP_CipherUpdate(ctx, NULL, &n, (const unsigned char *)"", 1) == 1
        && (!aadlen || EVP_CipherUpdate(ctx, NULL, &n, aad, (int)aadlen) == 1);
}

apr_status_t mcp_aead_seal(const char **penv, apr_pool_t *p,
                           const mcp_keyring_t *kr,
                           const void *pt, apr_size_t ptlen,
                           const void *aad, apr_size_t aadlen)
{
    const ring_key_t *k;
    EVP_CIPHER_CTX *ctx;
    unsigned char *buf;
    int n, fin;
    apr_status_t rv = APR_EGENERAL;

    if (kr->current < 0) {
        return MCP_ENOTFOUND;
    }
    if (ptlen > (apr_size_t)APR_INT32_MAX - 64 || aadlen > (apr_size_t)APR_INT32_MAX) {
        return MCP_ETOOLARGE;
    }
    k = APR_ARRAY_IDX(kr->keys, kr->current, ring_key_t *);
    buf = apr_palloc(p, GCM_NONCE_LEN + ptlen + GCM_TAG_LEN);
    if (mcp_crypto_random(buf, GCM_NONCE_LEN) != APR_SUCCESS) {
        return APR_EGENERAL;
    }
    ctx = EVP_CIPHER_CTX_new();
    if (ctx
        && EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, k->key, buf) == 1
        && gcm_aad(ctx, k->kid, strlen(k->kid), aad, aadlen)
        && EVP_EncryptUpdate(ctx, buf + GCM_NONCE_LEN, &n, pt, (int)ptlen) == 1
        && EVP_EncryptFinal_ex(ctx, buf + GCM_NONCE_LEN + n, &fin) == 1
        && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, GCM_TAG_LEN,
                               buf + GCM_NONCE_LEN + ptlen) == 1) {
        *penv = apr_pstrcat(p, ENVELOPE_PREFIX, k->kid, ".",
                            mcp_b64url_encode(p, buf, GCM_NONCE_LEN + ptlen
                                              + GCM_TAG_LEN), NULL);
        rv = APR_SUCCESS;
    }
    else {
        ERR_clear_error();
    }
    EVP_CIPHER_CTX_free(ctx);
    return rv;
}

apr_status_t mcp_aead_open(unsigned char **ppt, apr_size_t *pptlen,
                           apr_pool_t *p, const mcp_keyring_t *kr,
                           const char *env, const void *aad,
                           apr_size_t aadlen, const char **pkid)
{
    const char *kid, *dot;
    const ring_key_t *k;
    unsigned char *raw, *pt;
    apr_size_t rawlen, ctlen;
    EVP_CIPHER_CTX *ctx;
    int n, fin;
    apr_status_t rv = MCP_EVERIFY;

    if (!env || strncmp(env, ENVELOPE_PREFIX, sizeof(ENVELOPE_PREFIX) - 1)) {
        return MCP_EPARSE;
    }
    kid = env + sizeof(ENVELOPE_PREFIX) - 1;
    dot = strchr(kid, '.');
    if (!dot || !kid_valid(kid, (apr_size_t)(dot - kid))) {
        return MCP_EPARSE;
    }
    if (mcp_b64url_decode(&raw, &rawlen, p, dot + 1, (apr_size_t)-1) != APR_SUCCESS
        || rawlen < GCM_NONCE_LEN + GCM_TAG_LEN
        || rawlen > (apr_size_t)APR_INT32_MAX
        || aadlen > (apr_size_t)APR_INT32_MAX) {
        return MCP_EPARSE;
    }
    k = keyring_find(kr, kid, (apr_size_t)(dot - kid));
    if (!k) {
        return MCP_ENOTFOUND;
    }
    ctlen = rawlen - GCM_NONCE_LEN - GCM_TAG_LEN;
    pt = apr_palloc(p, ctlen + 1);
    ctx = EVP_CIPHER_CTX_new();
    if (!ctx) {
        ERR_clear_error();
        return APR_ENOMEM;
    }
    if (EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, k->key, raw) == 1
        && gcm_aad(ctx, k->kid, strlen(k->kid), aad, aadlen)
        && EVP_DecryptUpdate(ctx, pt, &n, raw + GCM_NONCE_LEN, (int)ctlen) == 1
        && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, GCM_TAG_LEN,
                               raw + GCM_NONCE_LEN + ctlen) == 1
        && EVP_DecryptFinal_ex(ctx, pt + n, &fin) == 1) {
        pt[ctlen] = '\0';
        *ppt = pt;
        *pptlen = ctlen;
        if (pkid) {
            *pkid = k->kid;
        }
        rv = APR_SUCCESS;
    }
    else {
        mcp_crypto_wipe(pt, ctlen);
    }
    ERR_clear_error();
    EVP_CIPHER_CTX_free(ctx);
    return rv;
}

/* ---------------------------------------------------------------------
 * The vault's associated data
 * ------------------------------------------------------------------- */

/* @label NUL, then each of the @n parts as u32be(length) | bytes: no two
 * lists of parts encode alike (a separator could occur inside a part). */
static apr_status_t lp_encode(const unsigned char **paad, apr_size_t *plen,
                              apr_pool_t *p, const char *label, int n,
                              const char *const *parts)
{
    apr_size_t len = strlen(label) + 1, off;
    unsigned char *buf;
    int i;

    if (!paad || !plen || !p) {
        return MCP_EINVALID;
    }
    for (i = 0; i < n; i++) {
        apr_size_t l;

        if (!parts[i] || !*parts[i]) {
            return MCP_EINVALID;
        }
        l = strlen(parts[i]);
        if (l > 0xffffffffUL || l > (apr_size_t)APR_INT32_MAX - len - 4) {
            return MCP_ETOOLARGE;
        }
        len += 4 + l;
    }
    buf = apr_palloc(p, len);
    off = strlen(label) + 1;
    memcpy(buf, label, off);
    for (i = 0; i < n; i++) {
        apr_size_t l = strlen(parts[i]);

        buf[off++] = (unsigned char)(l >> 24);
        buf[off++] = (unsigned char)(l >> 16);
        buf[off++] = (unsigned char)(l >> 8);
        buf[off++] = (unsigned char)l;
        memcpy(buf + off, parts[i], l);
        off += l;
    }
    *paad = buf;
    *plen = len;
    return APR_SUCCESS;
}

apr_status_t mcp_vault_aad(const unsigned char **paad, apr_size_t *plen,
                           apr_pool_t *p, const char *subject,
                           const char *provider)
{
    const char *parts[2];

    parts[0] = subject;
    parts[1] = provider;
    return lp_encode(paad, plen, p, MCP_VAULT_AAD_LABEL, 2, parts);
}

apr_status_t mcp_vault_pending_aad(const unsigned char **paad, apr_size_t *plen,
                                   apr_pool_t *p, const char *state_hash,
                                   const char *subject, const char *provider)
{
    const char *parts[3];

    parts[0] = state_hash;
    parts[1] = subject;
    parts[2] = provider;
    return lp_encode(paad, plen, p, MCP_VAULT_PENDING_AAD_LABEL, 3, parts);
}

apr_status_t mcp_vault_seal(const char **penv, apr_pool_t *p,
                            const mcp_keyring_t *kr, const char *subject,
                            const char *provider, const void *pt,
                            apr_size_t ptlen)
{
    const unsigned char *aad;
    apr_size_t aadlen;
    apr_status_t rv = mcp_vault_aad(&aad, &aadlen, p, subject, provider);

    return rv == APR_SUCCESS ? mcp_aead_seal(penv, p, kr, pt, ptlen, aad, aadlen)
                             : rv;
}

apr_status_t mcp_vault_open(unsigned char **ppt, apr_size_t *pptlen,
                            apr_pool_t *p, const mcp_keyring_t *kr,
                            const char *env, const char *subject,
                            const char *provider, const char **pkid)
{
    const unsigned char *aad;
    apr_size_t aadlen;
    apr_status_t rv = mcp_vault_aad(&aad, &aadlen, p, subject, provider);

    return rv == APR_SUCCESS ? mcp_aead_open(ppt, pptlen, p, kr, env, aad,
                                             aadlen, pkid)
                             : rv;
}

/* ---------------------------------------------------------------------
 * EC P-256 keys
 * ------------------------------------------------------------------- */

struct mcp_ec_key_t {
    EVP_PKEY *pkey;
};

static apr_status_t ec_key_free(void *data)
{
    mcp_ec_key_t *k = data;

    EVP_PKEY_free(k->pkey);
    k->pkey = NULL;
    return APR_SUCCESS;
}

static mcp_ec_key_t *ec_key_wrap(apr_pool_t *p, EVP_PKEY *pkey)
{
    mcp_ec_key_t *k = apr_palloc(p, sizeof(*k));

    k->pkey = pkey;
    apr_pool_cleanup_register(p, k, ec_key_free, apr_pool_cleanup_null);
    return k;
}

/* Never prompt for a pass phrase: encrypted keys are refused. */
static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
    (void)buf; (void)size; (void)rwflag; (void)u;
    return -1;
}

/* A SEC1 file carries the public point next to the private value; both
 * must agree, or we would publish a JWK that verifies nothing we sign. */
static int ec_key_consistent(EVP_PKEY *pk)
{
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, pk, NULL);
    int ok = ctx && EVP_PKEY_check(ctx) == 1;

    EVP_PKEY_CTX_free(ctx);
    ERR_clear_error();
    return ok;
}

apr_status_t mcp_ec_key_from_pem(mcp_ec_key_t **pkey, apr_pool_t *p,
                                 const char *pem, apr_size_t len,
                                 const char **perr)
{
    BIO *bio;
    EVP_PKEY *pk;
    char group[64];
    size_t glen = 0;

    if (len > (apr_size_t)APR_INT32_MAX) {
        return MCP_ETOOLARGE;
    }
    if (memmem(pem, len, "ENCRYPTED", 9)) {
        if (perr) {
            *perr = "the key is encrypted; give an unencrypted PKCS#8 or "
                    "SEC1 PEM key (openssl pkey -in KEY -out PLAIN)";
        }
        return MCP_EINVALID;
    }
    /* A read-only BIO over the caller's text, which the caller wipes.
     * What we cannot wipe: OpenSSL 3.0's PEM decoder releases the DER it
     * decodes the text into with OPENSSL_free(), uncleared. */
    bio = BIO_new_mem_buf(pem, (int)len);
    if (!bio) {
        ERR_clear_error();
        return APR_ENOMEM;
    }
    pk = PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, NULL);
    BIO_free(bio);
    if (!pk) {
        if (perr) {
            *perr = apr_psprintf(p, "no PEM private key found (%s)", ossl_error(p));
        }
        ERR_clear_error();
        return MCP_EPARSE;
    }
    if (!EVP_PKEY_is_a(pk, "EC")) {
        if (perr) {
            *perr = apr_psprintf(p, "the key is %s, not an EC P-256 key",
                                 EVP_PKEY_get0_type_name(pk)
                                 ? EVP_PKEY_get0_type_name(pk) : "of another type");
        }
        EVP_PKEY_free(pk);
        return MCP_EINVALID;
    }
    if (EVP_PKEY_get_utf8_string_param(pk, OSSL_PKEY_PARAM_GROUP_NAME,
                                       group, sizeof(group), &glen) != 1
        || OBJ_sn2nid(group) != NID_X9_62_prime256v1) {
        if (perr) {
            *perr = apr_psprintf(p, "the EC key is on curve %s; ES256 needs "
                                 "P-256 (prime256v1)", glen ? group : "(unknown)");
        }
        ERR_clear_error();
        EVP_PKEY_free(pk);
        return MCP_EINVALID;
    }
    if (!ec_key_consistent(pk)) {
        if (perr) {
            *perr = "the EC key is damaged (its public point does not match "
                    "the private value)";
        }
        EVP_PKEY_free(pk);
        return MCP_EINVALID;
    }
    *pkey = ec_key_wrap(p, pk);
    return APR_SUCCESS;
}

apr_status_t mcp_ec_key_load_file(mcp_ec_key_t **pkey, apr_pool_t *p,
                                  const char *path, const char **perr)
{
    apr_pool_t *tmp;
    char *data;
    apr_size_t len;
    apr_status_t rv;
    const char *err = NULL;

    apr_pool_create(&tmp, p);
    rv = read_small_file(&data, &len, tmp, tmp, path, &err);
    if (rv == APR_SUCCESS) {
        rv = mcp_ec_key_from_pem(pkey, p, data, len, &err);
        mcp_crypto_wipe(data, len);
        if (rv != APR_SUCCESS && err) {
            err = apr_psprintf(tmp, "%s: %s", path, err);
        }
    }
    if (rv != APR_SUCCESS && perr) {
        *perr = apr_pstrdup(p, err ? err : "cannot load the key");
    }
    apr_pool_destroy(tmp);
    return rv;
}

apr_status_t mcp_ec_key_generate(mcp_ec_key_t **pkey, apr_pool_t *p)
{
    EVP_PKEY *pk = EVP_EC_gen("P-256");

    if (!pk) {
        ERR_clear_error();
        return APR_EGENERAL;
    }
    *pkey = ec_key_wrap(p, pk);
    return APR_SUCCESS;
}

static const char *bio_to_string(apr_pool_t *p, BIO *bio)
{
    char *data;
    long n = BIO_get_mem_data(bio, &data);

    return n > 0 ? apr_pstrmemdup(p, data, (apr_size_t)n) : NULL;
}

const char *mcp_ec_key_to_pem(apr_pool_t *p, const mcp_ec_key_t *key)
{
    BIO *bio = BIO_new(BIO_s_mem());
    const char *out = NULL;

    if (bio && PEM_write_bio_PrivateKey(bio, key->pkey, NULL, NULL, 0,
                                        NULL, NULL) == 1) {
        out = bio_to_string(p, bio);
    }
    ERR_clear_error();
    BIO_free(bio);
    return out;
}

const char *mcp_ec_key_public_pem(apr_pool_t *p, const mcp_ec_key_t *key)
{
    BIO *bio = BIO_new(BIO_s_mem());
    const char *out = NULL;

    if (bio && PEM_write_bio_PUBKEY(bio, key->pkey) == 1) {
        out = bio_to_string(p, bio);
    }
    ERR_clear_error();
    BIO_free(bio);
    return out;
}

static int bn_param(const EVP_PKEY *pk, const char *name,
                    unsigned char out[MCP_EC_COORD_LEN])
{
    BIGNUM *bn = NULL;
    int ok = EVP_PKEY_get_bn_param(pk, name, &bn) == 1
        && BN_bn2binpad(bn, out, MCP_EC_COORD_LEN) == MCP_EC_COORD_LEN;

    BN_clear_free(bn);
    return ok;
}

apr_status_t mcp_ec_key_coords(const mcp_ec_key_t *key,
                               unsigned char x[MCP_EC_COORD_LEN],
                               unsigned char y[MCP_EC_COORD_LEN],
                               unsigned char d[MCP_EC_COORD_LEN])
{
    int ok = (!x || bn_param(key->pkey, OSSL_PKEY_PARAM_EC_PUB_X, x))
        && (!y || bn_param(key->pkey, OSSL_PKEY_PARAM_EC_PUB_Y, y))
        && (!d || bn_param(key->pkey, OSSL_PKEY_PARAM_PRIV_KEY, d));

    ERR_clear_error();
    return ok ? APR_SUCCESS : APR_EGENERAL;
}
