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

#include <apr_strings.h>
#include <apr_file_io.h>

/* OpenSSL here only to check the envelope format independently. */
#include <openssl/evp.h>

#include "mcp_test.h"
#include "mcp/mcp_b64.h"
#include "mcp/mcp_crypto.h"

static const char *hex(apr_pool_t *p, const unsigned char *d, apr_size_t n)
{
    char *out = apr_palloc(p, 2 * n + 1);
    apr_size_t i;

    for (i = 0; i < n; i++) {
        apr_snprintf(out + 2 * i, 3, "%02x", d[i]);
    }
    out[2 * n] = '\0';
    return out;
}

static const char *data_file(const char *name)
{
    return apr_pstrcat(tp, MCP_TEST_DATA, "/", name, NULL);
}

static apr_status_t remove_temp(void *path)
{
    apr_file_remove(path, NULL);
    return APR_SUCCESS;
}

/* A temporary file with @data, removed with the test's pool. */
static const char *write_temp(const void *data, apr_size_t len)
{
    char *path = apr_pstrdup(tp, "/tmp/mcp-test-key-XXXXXX");
    apr_file_t *f;
    apr_size_t n = len;

    ck_assert_int_eq(apr_file_mktemp(&f, path, APR_FOPEN_CREATE | APR_FOPEN_WRITE
                                     | APR_FOPEN_EXCL | APR_FOPEN_BINARY, tp),
                     APR_SUCCESS);
    apr_pool_cleanup_register(tp, path, remove_temp, apr_pool_cleanup_null);
    ck_assert_int_eq(apr_file_write_full(f, data, len, &n), APR_SUCCESS);
    apr_file_close(f);
    return path;
}

/* ---- random, hashes, compare -------------------------------------- */

START_TEST(random_tokens)
{
    const char *a, *b;
    unsigned char *dec;
    apr_size_t n;

    ck_assert_status(mcp_crypto_token(&a, tp, 32), APR_SUCCESS);
    ck_assert_status(mcp_crypto_token(&b, tp, 32), APR_SUCCESS);
    ck_assert_uint_eq(strlen(a), 43);
    ck_assert_str_ne(a, b);
    ck_assert_status(mcp_b64url_decode(&dec, &n, tp, a, (apr_size_t)-1), APR_SUCCESS);
    ck_assert_uint_eq(n, 32);
    ck_assert_int_eq(mcp_crypto_token(&a, tp, 8), APR_EINVAL);
}
END_TEST

START_TEST(hashes)
{
    unsigned char md[MCP_SHA256_LEN];

    mcp_crypto_sha256(md, "abc", 3);
    ck_assert_str_eq(hex(tp, md, sizeof(md)),
                     "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    ck_assert_str_eq(mcp_crypto_sha256_b64url(tp, "abc", 3),
                     "ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0");
    /* RFC 4231 test case 2. */
    mcp_crypto_hmac_sha256(md, "Jefe", 4, "what do ya want for nothing?", 28);
    ck_assert_str_eq(hex(tp, md, sizeof(md)),
                     "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    /* RFC 4231 test case 6: a key longer than the block. */
    {
        unsigned char key[131];
        static const char data[] = "Test Using Larger Than Block-Size Key - Hash Key First";

        memset(key, 0xaa, sizeof(key));
        mcp_crypto_hmac_sha256(md, key, sizeof(key), data, strlen(data));
        ck_assert_str_eq(hex(tp, md, sizeof(md)),
                         "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
    }
    mcp_crypto_sha256(md, "", 0);
    ck_assert_str_eq(hex(tp, md, sizeof(md)),
                     "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}
END_TEST

START_TEST(compare)
{
    ck_assert(mcp_crypto_equal("abcd", "abcd", 4));
    ck_assert(!mcp_crypto_equal("abcd", "abce", 4));
    ck_assert(mcp_crypto_str_equal("token", "token"));
    ck_assert(!mcp_crypto_str_equal("token", "tokens"));
    ck_assert(!mcp_crypto_str_equal("tokens", "token"));
    ck_assert(!mcp_crypto_str_equal("Token", "token"));
    ck_assert(!mcp_crypto_str_equal(NULL, "x"));
    ck_assert(!mcp_crypto_str_equal("x", NULL));
    ck_assert(mcp_crypto_str_equal("", ""));
}
END_TEST

/* Exactly the bytes asked for become zero; nothing around them changes. */
START_TEST(wipe)
{
    unsigned char buf[48];
    apr_size_t i;

    memset(buf, 0xa5, sizeof(buf));
    mcp_crypto_wipe(buf + 8, 32);
    for (i = 0; i < sizeof(buf); i++) {
        ck_assert_uint_eq(buf[i], i >= 8 && i < 40 ? 0 : 0xa5);
    }
    mcp_crypto_wipe(buf, 0);
    ck_assert_uint_eq(buf[0], 0xa5);
    mcp_crypto_wipe(NULL, 0);
}
END_TEST

/* ---- keyring and envelopes ---------------------------------------- */

static mcp_keyring_t *ring_with(const char *kid, unsigned char fill)
{
    mcp_keyring_t *kr;
    unsigned char key[MCP_AEAD_KEY_LEN];

    memset(key, fill, sizeof(key));
    ck_assert_status(mcp_keyring_create(&kr, tp), APR_SUCCESS);
    ck_assert_status(mcp_keyring_add(kr, kid, key, 0, NULL), APR_SUCCESS);
    return kr;
}

START_TEST(aead_roundtrip)
{
    mcp_keyring_t *kr = ring_with("k1", 0x11);
    const char *env, *env2, *kid = NULL;
    unsigned char *pt;
    apr_size_t n;
    static const char secret[] = "gho_upstream-token \xe2\x9c\x93 with 'quotes'";

    ck_assert_status(mcp_aead_seal(&env, tp, kr, secret, strlen(secret), "alice|github", 12),
                     APR_SUCCESS);
    ck_assert(!strncmp(env, "v1.k1.", 6));
    ck_assert_ptr_null(strstr(env, "gho_"));
    ck_assert_status(mcp_aead_open(&pt, &n, tp, kr, env, "alice|github", 12, &kid),
                     APR_SUCCESS);
    ck_assert_uint_eq(n, strlen(secret));
    ck_assert_str_eq((const char *)pt, secret);
    ck_assert_str_eq(kid, "k1");
    /* A fresh nonce every time. */
    ck_assert_status(mcp_aead_seal(&env2, tp, kr, secret, strlen(secret), "alice|github", 12),
                     APR_SUCCESS);
    ck_assert_str_ne(env, env2);
    /* Empty plaintext and no AAD. */
    ck_assert_status(mcp_aead_seal(&env, tp, kr, "", 0, NULL, 0), APR_SUCCESS);
    ck_assert_status(mcp_aead_open(&pt, &n, tp, kr, env, NULL, 0, NULL), APR_SUCCESS);
    ck_assert_uint_eq(n, 0);
}
END_TEST

/* Flip one bit of the decoded body of @env at @offset and re-encode. */
static const char *flip(const char *env, apr_size_t offset)
{
    const char *body = strrchr(env, '.') + 1;
    unsigned char *raw;
    apr_size_t n;

    ck_assert_status(mcp_b64url_decode(&raw, &n, tp, body, (apr_size_t)-1), APR_SUCCESS);
    ck_assert_uint_lt(offset, n);
    raw[offset] ^= 0x01;
    return apr_pstrcat(tp, apr_pstrndup(tp, env, (apr_size_t)(body - env)),
                       mcp_b64url_encode(tp, raw, n), NULL);
}

START_TEST(aead_tamper)
{
    mcp_keyring_t *kr = ring_with("k1", 0x22);
    unsigned char key2[MCP_AEAD_KEY_LEN];
    const char *env;
    unsigned char *pt;
    apr_size_t n, len = 10;

    ck_assert_status(mcp_aead_seal(&env, tp, kr, "0123456789", len, "aad", 3), APR_SUCCESS);
    /* nonce (0), ciphertext (12), tag (12 + 10) */
    ck_assert_int_eq(mcp_aead_open(&pt, &n, tp, kr, flip(env, 0), "aad", 3, NULL), MCP_EVERIFY);
    ck_assert_int_eq(mcp_aead_open(&pt, &n, tp, kr, flip(env, 12), "aad", 3, NULL), MCP_EVERIFY);
    ck_assert_int_eq(mcp_aead_open(&pt, &n, tp, kr, flip(env, 12 + len), "aad", 3, NULL),
                     MCP_EVERIFY);
    ck_assert_int_eq(mcp_aead_open(&pt, &n, tp, kr, flip(env, 12 + len + 15), "aad", 3, NULL),
                     MCP_EVERIFY);
    /* Wrong, missing or extra AAD. */
    ck_assert_int_eq(mcp_aead_open(&pt, &n, tp, kr, env, "aae", 3, NULL), MCP_EVERIFY);
    ck_assert_int_eq(mcp_aead_open(&pt, &n, tp, kr, env, NULL, 0, NULL), MCP_EVERIFY);
    ck_assert_int_eq(mcp_aead_open(&pt, &n, tp, kr, env, "aad!", 4, NULL), MCP_EVERIFY);
    /* Another key id: unknown, or a known key that did not seal it. */
    ck_assert_int_eq(mcp_aead_open(&pt, &n, tp, kr,
                                   apr_pstrcat(tp, "v1.k9.", strrchr(env, '.') + 1, NULL),
                                   "aad", 3, NULL), MCP_ENOTFOUND);
    memset(key2, 0x22, sizeof(key2));
    ck_assert_status(mcp_keyring_add(kr, "k2", key2, 0, NULL), APR_SUCCESS);
    ck_assert_int_eq(mcp_aead_open(&pt, &n, tp, kr,
                                   apr_pstrcat(tp, "v1.k2.", strrchr(env, '.') + 1, NULL),
                                   "aad", 3, NULL), MCP_EVERIFY);
    /* Malformed envelopes. */
    ck_assert_int_eq(mcp_aead_open(&pt, &n, tp, kr, "", NULL, 0, NULL), MCP_EPARSE);
    ck_assert_int_eq(mcp_aead_open(&pt, &n, tp, kr, NULL, NULL, 0, NULL), MCP_EPARSE);
    ck_assert_int_eq(mcp_aead_open(&pt, &n, tp, kr, "v2.k1.AAAA", NULL, 0, NULL), MCP_EPARSE);
    ck_assert_int_eq(mcp_aead_open(&pt, &n, tp, kr, "v1.k1", NULL, 0, NULL), MCP_EPARSE);
    ck_assert_int_eq(mcp_aead_open(&pt, &n, tp, kr, "v1..AAAA", NULL, 0, NULL), MCP_EPARSE);
    ck_assert_int_eq(mcp_aead_open(&pt, &n, tp, kr, "v1.k 1.AAAA", NULL, 0, NULL), MCP_EPARSE);
    ck_assert_int_eq(mcp_aead_open(&pt, &n, tp, kr, "v1.k1.AAAA", NULL, 0, NULL), MCP_EPARSE);
    ck_assert_int_eq(mcp_aead_open(&pt, &n, tp, kr, "v1.k1.!!!!", NULL, 0, NULL), MCP_EPARSE);
    {
        /* Every truncation fails cleanly. */
        apr_size_t i, len2 = strlen(env);
        for (i = 0; i < len2; i++) {
            ck_assert_int_ne(mcp_aead_open(&pt, &n, tp, kr, apr_pstrndup(tp, env, i),
                                           "aad", 3, NULL), APR_SUCCESS);
        }
    }
}
END_TEST

START_TEST(aead_every_bit_flip)
{
    mcp_keyring_t *kr = ring_with("k1", 0x5a);
    const char *env, *body;
    unsigned char *raw, *pt;
    apr_size_t rawlen, n, i;
    int bit;

    ck_assert_status(mcp_aead_seal(&env, tp, kr, "0123456789", 10, "aad", 3), APR_SUCCESS);
    body = strrchr(env, '.') + 1;
    ck_assert_status(mcp_b64url_decode(&raw, &rawlen, tp, body, (apr_size_t)-1), APR_SUCCESS);
    ck_assert_uint_eq(rawlen, 12 + 10 + 16);
    /* Nonce, ciphertext and tag: any one bit changed fails the tag. */
    for (i = 0; i < rawlen; i++) {
        for (bit = 0; bit < 8; bit++) {
            const char *bad;

            raw[i] ^= (unsigned char)(1 << bit);
            bad = apr_pstrcat(tp, "v1.k1.", mcp_b64url_encode(tp, raw, rawlen), NULL);
            raw[i] ^= (unsigned char)(1 << bit);
            ck_assert_msg(mcp_aead_open(&pt, &n, tp, kr, bad, "aad", 3, NULL) == MCP_EVERIFY,
                          "byte %d bit %d", (int)i, bit);
        }
    }
    /* A body shortened or lengthened by a byte. */
    ck_assert_int_ne(mcp_aead_open(&pt, &n, tp, kr,
                                   apr_pstrcat(tp, "v1.k1.", mcp_b64url_encode(tp, raw, rawlen - 1),
                                               NULL), "aad", 3, NULL), APR_SUCCESS);
    ck_assert_int_ne(mcp_aead_open(&pt, &n, tp, kr,
                                   apr_pstrcat(tp, "v1.k1.", mcp_b64url_encode(tp, raw, rawlen),
                                               "AA", NULL), "aad", 3, NULL), APR_SUCCESS);
    /* Too short to hold a nonce and a tag. */
    ck_assert_int_eq(mcp_aead_open(&pt, &n, tp, kr,
                                   apr_pstrcat(tp, "v1.k1.", mcp_b64url_encode(tp, raw, 27), NULL),
                                   "aad", 3, NULL), MCP_EPARSE);
    ck_assert_status(mcp_aead_open(&pt, &n, tp, kr, env, "aad", 3, NULL), APR_SUCCESS);
}
END_TEST

START_TEST(aead_key_id_bound)
{
    unsigned char key[MCP_AEAD_KEY_LEN];
    mcp_keyring_t *kr;
    const char *env, *err = NULL, *longest;
    unsigned char *pt;
    apr_size_t n;

    /* Two ids for the same key bytes: the id is authenticated, so moving
     * an envelope from one id to the other fails the tag. */
    memset(key, 0x77, sizeof(key));
    mcp_keyring_create(&kr, tp);
    ck_assert_status(mcp_keyring_add(kr, "ka", key, 1, &err), APR_SUCCESS);
    ck_assert_status(mcp_keyring_add(kr, "kb", key, 0, &err), APR_SUCCESS);
    ck_assert_status(mcp_aead_seal(&env, tp, kr, "secret", 6, "u|p", 3), APR_SUCCESS);
    ck_assert(!strncmp(env, "v1.ka.", 6));
    ck_assert_int_eq(mcp_aead_open(&pt, &n, tp, kr, apr_pstrcat(tp, "v1.kb.", env + 6, NULL),
                                   "u|p", 3, NULL), MCP_EVERIFY);
    /* One character of the id changed to an unknown id. */
    ck_assert_int_eq(mcp_aead_open(&pt, &n, tp, kr, apr_pstrcat(tp, "v1.kc.", env + 6, NULL),
                                   "u|p", 3, NULL), MCP_ENOTFOUND);
    /* The version is not negotiable. */
    ck_assert_int_eq(mcp_aead_open(&pt, &n, tp, kr, apr_pstrcat(tp, "v0.", env + 3, NULL),
                                   "u|p", 3, NULL), MCP_EPARSE);
    ck_assert_int_eq(mcp_aead_open(&pt, &n, tp, kr, apr_pstrcat(tp, "V1.", env + 3, NULL),
                                   "u|p", 3, NULL), MCP_EPARSE);
    /* The AAD is bound exactly: the split between id and AAD is fixed. */
    ck_assert_int_eq(mcp_aead_open(&pt, &n, tp, kr, env, "u|p\0", 4, NULL), MCP_EVERIFY);
    /* Id length limits. */
    longest = "abcdefghijklmnopqrstuvwxyz012345";
    ck_assert_uint_eq(strlen(longest), MCP_AEAD_KID_MAX);
    ck_assert_status(mcp_keyring_add(kr, longest, key, 1, &err), APR_SUCCESS);
    ck_assert_status(mcp_aead_seal(&env, tp, kr, "x", 1, NULL, 0), APR_SUCCESS);
    ck_assert_status(mcp_aead_open(&pt, &n, tp, kr, env, NULL, 0, NULL), APR_SUCCESS);
    ck_assert_int_eq(mcp_keyring_add(kr, apr_pstrcat(tp, longest, "6", NULL), key, 0, &err),
                     MCP_EINVALID);
    ck_assert_int_eq(mcp_aead_open(&pt, &n, tp, kr,
                                   apr_pstrcat(tp, "v1.", longest, "6.", strrchr(env, '.') + 1,
                                               NULL), NULL, 0, NULL), MCP_EPARSE);
}
END_TEST

/* An envelope written by an earlier build must open in every later one:
 * vault rows outlive the code that wrote them. */
#define KAT_ENVELOPE "v1.kat1.q6-iBvMtZelNdBERl9F5ufAZdTBY4hzdGHU0f1R9zvtH-fGEuUg6m3nj"

START_TEST(aead_stored_format)
{
    unsigned char key[MCP_AEAD_KEY_LEN], *pt, *raw, out[64], tag[16];
    mcp_keyring_t *kr;
    apr_size_t n, rawlen;
    const char *kid;
    EVP_CIPHER_CTX *ctx;
    static const char label[] = "mcp-aead-v1";
    int i, outl, finl, ok;

    for (i = 0; i < MCP_AEAD_KEY_LEN; i++) {
        key[i] = (unsigned char)i;
    }
    mcp_keyring_create(&kr, tp);
    ck_assert_status(mcp_keyring_add(kr, "kat1", key, 1, NULL), APR_SUCCESS);
    ck_assert_status(mcp_aead_open(&pt, &n, tp, kr, KAT_ENVELOPE, "alice|github", 12, &kid),
                     APR_SUCCESS);
    ck_assert_str_eq((const char *)pt, "upstream-token");
    ck_assert_str_eq(kid, "kat1");

    /* The documented layout, decrypted with plain OpenSSL: base64url of
     * nonce(12) | ciphertext | tag(16); GCM's AAD is "mcp-aead-v1" NUL,
     * the key id, NUL, then the caller's AAD. */
    ck_assert_status(mcp_b64url_decode(&raw, &rawlen, tp, strrchr(KAT_ENVELOPE, '.') + 1,
                                       (apr_size_t)-1), APR_SUCCESS);
    ck_assert_uint_eq(rawlen, 12 + 14 + 16);
    memcpy(tag, raw + rawlen - 16, 16);
    ctx = EVP_CIPHER_CTX_new();
    ok = EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, key, raw) == 1
        && EVP_DecryptUpdate(ctx, NULL, &outl, (const unsigned char *)label, sizeof(label)) == 1
        && EVP_DecryptUpdate(ctx, NULL, &outl, (const unsigned char *)"kat1", 4) == 1
        && EVP_DecryptUpdate(ctx, NULL, &outl, (const unsigned char *)"", 1) == 1
        && EVP_DecryptUpdate(ctx, NULL, &outl, (const unsigned char *)"alice|github", 12) == 1
        && EVP_DecryptUpdate(ctx, out, &outl, raw + 12, 14) == 1
        && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, 16, tag) == 1
        && EVP_DecryptFinal_ex(ctx, out + outl, &finl) == 1;
    EVP_CIPHER_CTX_free(ctx);
    ck_assert(ok);
    ck_assert(!memcmp(out, "upstream-token", 14));
}
END_TEST

START_TEST(aead_rotation)
{
    mcp_keyring_t *kr = ring_with("old", 0x33);
    unsigned char key[MCP_AEAD_KEY_LEN];
    const char *env_old, *env_new, *kid;
    unsigned char *pt;
    apr_size_t n;
    const char *err = NULL;

    ck_assert_str_eq(mcp_keyring_current(kr), "old");
    ck_assert_status(mcp_aead_seal(&env_old, tp, kr, "x", 1, NULL, 0), APR_SUCCESS);
    memset(key, 0x44, sizeof(key));
    ck_assert_status(mcp_keyring_add(kr, "new", key, 1, NULL), APR_SUCCESS);
    ck_assert_str_eq(mcp_keyring_current(kr), "new");
    ck_assert_int_eq(mcp_keyring_count(kr), 2);
    ck_assert_status(mcp_aead_seal(&env_new, tp, kr, "y", 1, NULL, 0), APR_SUCCESS);
    ck_assert(!strncmp(env_new, "v1.new.", 7));
    ck_assert_status(mcp_aead_open(&pt, &n, tp, kr, env_old, NULL, 0, &kid), APR_SUCCESS);
    ck_assert_str_eq(kid, "old");
    ck_assert_status(mcp_aead_open(&pt, &n, tp, kr, env_new, NULL, 0, &kid), APR_SUCCESS);
    ck_assert_str_eq(kid, "new");
    /* Ids: unique, well-formed, default from the key. */
    ck_assert_int_eq(mcp_keyring_add(kr, "new", key, 0, &err), MCP_ECONFLICT);
    ck_assert_int_eq(mcp_keyring_add(kr, "bad id", key, 0, &err), MCP_EINVALID);
    ck_assert_int_eq(mcp_keyring_add(kr, "", key, 0, &err), MCP_EINVALID);
    ck_assert_int_eq(mcp_keyring_add(kr, "a.b", key, 0, &err), MCP_EINVALID);
    ck_assert_status(mcp_keyring_add(kr, NULL, key, 0, &err), APR_SUCCESS);
    ck_assert_uint_eq(strlen(mcp_keyring_default_kid(tp, key)), 8);
    ck_assert_str_eq(mcp_keyring_current(kr), "new");
    {
        mcp_keyring_t *empty;
        mcp_keyring_create(&empty, tp);
        ck_assert_ptr_null(mcp_keyring_current(empty));
        ck_assert_int_eq(mcp_aead_seal(&env_new, tp, empty, "x", 1, NULL, 0), MCP_ENOTFOUND);
    }
}
END_TEST

START_TEST(vault_aad)
{
    mcp_keyring_t *kr = ring_with("k1", 0x44);
    const unsigned char *a1, *a2;
    apr_size_t n1, n2, n;
    const char *env, *kid = NULL;
    unsigned char *pt;
    static const char expect[] = "mcp-vault-v1\0\0\0\0\2ab\0\0\0\1c";

    /* The exact bytes: label NUL, then u32be length and bytes per part. */
    ck_assert_status(mcp_vault_aad(&a1, &n1, tp, "ab", "c"), APR_SUCCESS);
    ck_assert_uint_eq(n1, sizeof(expect) - 1);
    ck_assert(!memcmp(a1, expect, n1));
    /* A separator-joined encoding would make these equal. */
    ck_assert_status(mcp_vault_aad(&a2, &n2, tp, "a", "bc"), APR_SUCCESS);
    ck_assert_uint_eq(n1, n2);
    ck_assert(memcmp(a1, a2, n1));
    ck_assert_status(mcp_vault_aad(&a2, &n2, tp, "a|b", "c"), APR_SUCCESS);
    ck_assert(n1 != n2 || memcmp(a1, a2, n1));

    /* Sealed for ("ab", "c"): opens there only. */
    ck_assert_status(mcp_vault_seal(&env, tp, kr, "ab", "c", "tok", 3), APR_SUCCESS);
    ck_assert_int_eq(mcp_vault_open(&pt, &n, tp, kr, env, "a", "bc", NULL), MCP_EVERIFY);
    ck_assert_int_eq(mcp_vault_open(&pt, &n, tp, kr, env, "c", "ab", NULL), MCP_EVERIFY);
    ck_assert_int_eq(mcp_vault_open(&pt, &n, tp, kr, env, "ab", "c\0", NULL) , APR_SUCCESS);
    ck_assert_status(mcp_vault_open(&pt, &n, tp, kr, env, "ab", "c", &kid), APR_SUCCESS);
    ck_assert_uint_eq(n, 3);
    ck_assert_str_eq((const char *)pt, "tok");
    ck_assert_str_eq(kid, "k1");
    /* It is mcp_aead_* with that AAD, nothing else. */
    ck_assert_status(mcp_aead_open(&pt, &n, tp, kr, env, a1, n1, NULL), APR_SUCCESS);
    ck_assert_int_eq(mcp_aead_open(&pt, &n, tp, kr, env, "ab|c", 4, NULL), MCP_EVERIFY);

    /* A pending verifier's AAD: its own label, three parts. */
    ck_assert_status(mcp_vault_pending_aad(&a2, &n2, tp, "h", "ab", "c"), APR_SUCCESS);
    ck_assert_uint_eq(n2, sizeof(MCP_VAULT_PENDING_AAD_LABEL) + 3 * 4 + 4);
    ck_assert(!memcmp(a2, MCP_VAULT_PENDING_AAD_LABEL, sizeof(MCP_VAULT_PENDING_AAD_LABEL)));
    ck_assert_status(mcp_vault_pending_aad(&a1, &n1, tp, "h", "a", "bc"), APR_SUCCESS);
    ck_assert(memcmp(a1, a2, n1));

    /* Missing parts are refused, not encoded as empty. */
    ck_assert_int_eq(mcp_vault_aad(&a1, &n1, tp, "", "c"), MCP_EINVALID);
    ck_assert_int_eq(mcp_vault_aad(&a1, &n1, tp, "a", NULL), MCP_EINVALID);
    ck_assert_int_eq(mcp_vault_aad(NULL, &n1, tp, "a", "b"), MCP_EINVALID);
    ck_assert_int_eq(mcp_vault_pending_aad(&a1, &n1, tp, NULL, "a", "b"), MCP_EINVALID);
    ck_assert_int_eq(mcp_vault_seal(&env, tp, kr, NULL, "c", "t", 1), MCP_EINVALID);
    ck_assert_int_eq(mcp_vault_open(&pt, &n, tp, kr, env, "ab", "", NULL), MCP_EINVALID);
}
END_TEST

START_TEST(secret_files)
{
    const char *sec = NULL, *err = NULL;

    ck_assert_status(mcp_crypto_read_secret_file(&sec, tp, write_temp(" s3 cr\n", 7),
                                                 64, &err), APR_SUCCESS);
    ck_assert_str_eq(sec, "s3 cr");
    ck_assert_status(mcp_crypto_read_secret_file(&sec, tp, write_temp("abc\r\nnext\n", 11),
                                                 64, &err), APR_SUCCESS);
    ck_assert_str_eq(sec, "abc");
    ck_assert_status(mcp_crypto_read_secret_file(&sec, tp, write_temp("abc", 3),
                                                 64, &err), APR_SUCCESS);
    ck_assert_str_eq(sec, "abc");
    /* empty, blank, too long, a NUL in the line */
    ck_assert_int_eq(mcp_crypto_read_secret_file(&sec, tp, write_temp("", 0), 64, &err),
                     MCP_EINVALID);
    ck_assert_ptr_null(sec);
    ck_assert_ptr_nonnull(strstr(err, "no secret on its first line"));
    ck_assert_int_eq(mcp_crypto_read_secret_file(&sec, tp, write_temp(" \t\nx\n", 5),
                                                 64, &err), MCP_EINVALID);
    ck_assert_int_eq(mcp_crypto_read_secret_file(&sec, tp, write_temp("abcd\n", 5),
                                                 3, &err), MCP_EINVALID);
    ck_assert_int_eq(mcp_crypto_read_secret_file(&sec, tp, write_temp("s#\0cd\n", 6),
                                                 64, &err), MCP_EINVALID);
    ck_assert_ptr_null(strstr(err, "s#"));
    ck_assert_int_ne(mcp_crypto_read_secret_file(&sec, tp, "/nonexistent/x", 64, &err),
                     APR_SUCCESS);
    ck_assert_ptr_nonnull(strstr(err, "/nonexistent/x"));
}
END_TEST

START_TEST(vault_key_files)
{
    unsigned char key[MCP_AEAD_KEY_LEN], raw[MCP_AEAD_KEY_LEN];
    const char *err = NULL, *b64;
    apr_size_t i;

    for (i = 0; i < sizeof(raw); i++) {
        raw[i] = (unsigned char)(i * 7 + 1);
    }
    /* raw bytes */
    ck_assert_status(mcp_keyring_load_key_file(key, tp, write_temp(raw, 32), &err), APR_SUCCESS);
    ck_assert(!memcmp(key, raw, 32));
    /* base64 as openssl rand -base64 32 writes it (with a newline) */
    b64 = apr_pstrcat(tp, "AQgPFh0kKzI5QEdOVVxjanF4f4aNlJuiqbC3vsXM09o=", "\n", NULL);
    ck_assert_status(mcp_keyring_load_key_file(key, tp, write_temp(b64, strlen(b64)), &err),
                     APR_SUCCESS);
    ck_assert(!memcmp(key, raw, 32));
    /* base64url without padding */
    b64 = mcp_b64url_encode(tp, raw, 32);
    ck_assert_status(mcp_keyring_load_key_file(key, tp, write_temp(b64, strlen(b64)), &err),
                     APR_SUCCESS);
    ck_assert(!memcmp(key, raw, 32));
    /* hex */
    b64 = apr_pstrcat(tp, hex(tp, raw, 32), "\r\n", NULL);
    ck_assert_status(mcp_keyring_load_key_file(key, tp, write_temp(b64, strlen(b64)), &err),
                     APR_SUCCESS);
    ck_assert(!memcmp(key, raw, 32));
    /* wrong lengths and garbage */
    ck_assert_int_eq(mcp_keyring_load_key_file(key, tp, write_temp(raw, 31), &err), MCP_EINVALID);
    ck_assert_ptr_nonnull(strstr(err, "32-byte key"));
    ck_assert_ptr_nonnull(strstr(err, "openssl rand -base64 32"));
    ck_assert_ptr_nonnull(strstr(err, "31 bytes of binary data"));
    ck_assert_int_eq(mcp_keyring_load_key_file(key, tp, write_temp(raw, 0), &err), MCP_EINVALID);
    ck_assert_ptr_nonnull(strstr(err, "holds nothing"));
    b64 = mcp_b64url_encode(tp, raw, 24);
    ck_assert_int_eq(mcp_keyring_load_key_file(key, tp, write_temp(b64, strlen(b64)), &err),
                     MCP_EINVALID);
    ck_assert_ptr_nonnull(strstr(err, "base64 of 24 bytes"));
    /* the key file never appears in the message, only its shape */
    ck_assert_ptr_null(strstr(err, b64));
    b64 = "this is not a key at all, not even close to one!!\n";
    ck_assert_int_eq(mcp_keyring_load_key_file(key, tp, write_temp(b64, strlen(b64)), &err),
                     MCP_EINVALID);
    /* 32 printable characters: neither raw bytes nor a text key */
    b64 = "abcdefghijklmnopqrstuvwxyz012345";
    ck_assert_int_eq(mcp_keyring_load_key_file(key, tp, write_temp(b64, strlen(b64)), &err),
                     MCP_EINVALID);
    /* 64 characters that are not all hex digits */
    b64 = apr_pstrcat(tp, "g", hex(tp, raw, 32) + 1, "\n", NULL);
    ck_assert_int_eq(mcp_keyring_load_key_file(key, tp, write_temp(b64, strlen(b64)), &err),
                     MCP_EINVALID);
    /* hex of 31 bytes */
    b64 = hex(tp, raw, 31);
    ck_assert_int_eq(mcp_keyring_load_key_file(key, tp, write_temp(b64, strlen(b64)), &err),
                     MCP_EINVALID);
    ck_assert_ptr_nonnull(strstr(err, "62 hex digits"));
    /* 33 raw bytes, and a key followed by a second line */
    ck_assert_int_eq(mcp_keyring_load_key_file(key, tp, write_temp(
                         apr_pstrcat(tp, "AQgPFh0kKzI5QEdOVVxjanF4f4aNlJuiqbC3vsXM09o=\n", "x\n",
                                     NULL), 47), &err), MCP_EINVALID);
    {
        unsigned char r33[33];
        memset(r33, 0x80, sizeof(r33));
        ck_assert_int_eq(mcp_keyring_load_key_file(key, tp, write_temp(r33, 33), &err),
                         MCP_EINVALID);
    }
    /* a large file is refused before it is read */
    {
        apr_size_t big = 100000;
        char *junk = apr_palloc(tp, big);
        memset(junk, 'A', big);
        ck_assert_int_eq(mcp_keyring_load_key_file(key, tp, write_temp(junk, big), &err),
                         MCP_EINVALID);
        ck_assert_ptr_nonnull(strstr(err, "too large"));
    }
    /* a directory */
    ck_assert_int_ne(mcp_keyring_load_key_file(key, tp, "/tmp", &err), APR_SUCCESS);
    /* missing file */
    ck_assert_int_ne(mcp_keyring_load_key_file(key, tp, "/nonexistent/vault.key", &err),
                     APR_SUCCESS);
    ck_assert_ptr_nonnull(strstr(err, "/nonexistent/vault.key"));
}
END_TEST

/* ---- EC keys ------------------------------------------------------ */

START_TEST(ec_keys_accepted)
{
    mcp_ec_key_t *k, *k2;
    const char *err = NULL, *pem;
    unsigned char x[32], y[32], d[32], x2[32], d2[32];

    ck_assert_status(mcp_ec_key_load_file(&k, tp, data_file("p256-pkcs8.pem"), &err),
                     APR_SUCCESS);
    ck_assert_status(mcp_ec_key_load_file(&k, tp, data_file("p256-sec1.pem"), &err),
                     APR_SUCCESS);
    ck_assert_status(mcp_ec_key_coords(k, x, y, d), APR_SUCCESS);
    /* PKCS#8 round trip keeps the key. */
    pem = mcp_ec_key_to_pem(tp, k);
    ck_assert_ptr_nonnull(strstr(pem, "-----BEGIN PRIVATE KEY-----"));
    ck_assert_status(mcp_ec_key_from_pem(&k2, tp, pem, strlen(pem), &err), APR_SUCCESS);
    ck_assert_status(mcp_ec_key_coords(k2, x2, NULL, d2), APR_SUCCESS);
    ck_assert(!memcmp(x, x2, 32) && !memcmp(d, d2, 32));
    ck_assert_ptr_nonnull(strstr(mcp_ec_key_public_pem(tp, k), "BEGIN PUBLIC KEY"));
    /* Generated keys differ. */
    ck_assert_status(mcp_ec_key_generate(&k2, tp), APR_SUCCESS);
    ck_assert_status(mcp_ec_key_coords(k2, x2, NULL, NULL), APR_SUCCESS);
    ck_assert(memcmp(x, x2, 32));
}
END_TEST

START_TEST(ec_keys_refused)
{
    mcp_ec_key_t *k = NULL;
    const char *err = NULL;

    ck_assert_int_eq(mcp_ec_key_load_file(&k, tp, data_file("rsa.pem"), &err), MCP_EINVALID);
    ck_assert_ptr_nonnull(strstr(err, "not an EC P-256 key"));
    ck_assert_ptr_nonnull(strstr(err, "rsa.pem"));
    ck_assert_int_eq(mcp_ec_key_load_file(&k, tp, data_file("ed25519.pem"), &err), MCP_EINVALID);
    ck_assert_int_eq(mcp_ec_key_load_file(&k, tp, data_file("p384.pem"), &err), MCP_EINVALID);
    ck_assert_ptr_nonnull(strstr(err, "P-256"));
    ck_assert_int_eq(mcp_ec_key_load_file(&k, tp, data_file("p256-encrypted.pem"), &err),
                     MCP_EINVALID);
    ck_assert_ptr_nonnull(strstr(err, "encrypted"));
    ck_assert_int_eq(mcp_ec_key_load_file(&k, tp, data_file("p256-mismatch.pem"), &err),
                     MCP_EINVALID);
    ck_assert_ptr_nonnull(strstr(err, "damaged"));
    ck_assert_int_eq(mcp_ec_key_load_file(&k, tp, data_file("README"), &err), MCP_EPARSE);
    {
        /* A public key alone cannot sign. */
        mcp_ec_key_t *g;
        const char *pub;

        ck_assert_status(mcp_ec_key_generate(&g, tp), APR_SUCCESS);
        pub = mcp_ec_key_public_pem(tp, g);
        ck_assert_int_eq(mcp_ec_key_from_pem(&k, tp, pub, strlen(pub), &err), MCP_EPARSE);
    }
    ck_assert_int_ne(mcp_ec_key_load_file(&k, tp, data_file("missing.pem"), &err), APR_SUCCESS);
    ck_assert_ptr_nonnull(strstr(err, "missing.pem"));
    ck_assert_int_eq(mcp_ec_key_from_pem(&k, tp, "", 0, &err), MCP_EPARSE);
    {
        /* A truncated PEM. */
        const char *pem = "-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEG\n"
                          "-----END PRIVATE KEY-----\n";
        ck_assert_int_eq(mcp_ec_key_from_pem(&k, tp, pem, strlen(pem), &err), MCP_EPARSE);
    }
    ck_assert_ptr_null(k);
}
END_TEST

static Suite *crypto_suite(void)
{
    Suite *s = suite_create("crypto");
    TCase *tc = mcp_tcase("crypto");

    tcase_add_test(tc, random_tokens);
    tcase_add_test(tc, hashes);
    tcase_add_test(tc, compare);
    tcase_add_test(tc, wipe);
    tcase_add_test(tc, aead_roundtrip);
    tcase_add_test(tc, aead_tamper);
    tcase_add_test(tc, aead_every_bit_flip);
    tcase_add_test(tc, aead_key_id_bound);
    tcase_add_test(tc, aead_stored_format);
    tcase_add_test(tc, aead_rotation);
    tcase_add_test(tc, vault_aad);
    tcase_add_test(tc, vault_key_files);
    tcase_add_test(tc, secret_files);
    tcase_add_test(tc, ec_keys_accepted);
    tcase_add_test(tc, ec_keys_refused);
    suite_add_tcase(s, tc);
    return s;
}

MCP_TEST_MAIN(crypto_suite)
