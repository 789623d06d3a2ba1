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

/* ---- base64url ---------------------------------------------------- */

START_TEST(b64url_vectors)
{
    /* RFC 4648 §10 vectors, unpadded. */
    static const char *in[] = { "", "f", "fo", "foo", "foob", "fooba", "foobar" };
    static const char *out[] = { "", "Zg", "Zm8", "Zm9v", "Zm9vYg", "Zm9vYmE", "Zm9vYmFy" };
    unsigned char all[256];
    unsigned char *dec;
    apr_size_t n, i;

    for (i = 0; i < 7; i++) {
        ck_assert_str_eq(mcp_b64url_encode(tp, in[i], strlen(in[i])), out[i]);
        ck_assert_status(mcp_b64url_decode(&dec, &n, tp, out[i], (apr_size_t)-1),
                         APR_SUCCESS);
        ck_assert_uint_eq(n, strlen(in[i]));
        ck_assert(memcmp(dec, in[i], n) == 0);
        ck_assert_int_eq(dec[n], 0);
    }
    /* '-' and '_' in place of '+' and '/'. */
    ck_assert_str_eq(mcp_b64url_encode(tp, "\xfb\xff", 2), "-_8");
    for (i = 0; i < 256; i++) {
        all[i] = (unsigned char)i;
    }
    for (i = 0; i <= 256; i++) {
        const char *e = mcp_b64url_encode(tp, all, i);
        ck_assert_status(mcp_b64url_decode(&dec, &n, tp, e, (apr_size_t)-1), APR_SUCCESS);
        ck_assert_uint_eq(n, i);
        ck_assert(memcmp(dec, all, i) == 0);
    }
}
END_TEST

START_TEST(b64url_rejects)
{
    static const char *bad[] = {
        "Zg==",      /* padding */
        "Zm9v=",
        "Zm+v",      /* '+' */
        "Zm/v",      /* '/' */
        "Zm9 v",     /* space */
        "Zm9v\n",    /* newline */
        "Z",         /* impossible length */
        "Zm9vY",
        "Zh",        /* non-zero trailing bits: "Zg" is canonical */
        "Zm9",       /* "Zm8" is canonical */
        "Zm!v",
        "\xc3\xa9",
    };
    unsigned char *dec = NULL;
    apr_size_t n = 99, i;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ck_assert_msg(mcp_b64url_decode(&dec, &n, tp, bad[i], (apr_size_t)-1)
                      == MCP_EPARSE, "'%s' accepted", bad[i]);
        ck_assert_ptr_null(dec);
    }
    ck_assert_int_eq(mcp_b64url_decode(&dec, &n, tp, NULL, 0), MCP_EPARSE);
    /* Embedded NUL within the given length. */
    ck_assert_int_eq(mcp_b64url_decode(&dec, &n, tp, "Zm\0v", 4), MCP_EPARSE);
    /* Length is honoured: only the first two characters are decoded. */
    ck_assert_status(mcp_b64url_decode(&dec, &n, tp, "Zg!!!", 2), APR_SUCCESS);
    ck_assert_uint_eq(n, 1);
}
END_TEST

START_TEST(b64_any)
{
    unsigned char *dec;
    apr_size_t n;

    ck_assert_status(mcp_b64_decode_any(&dec, &n, tp, "Zm9vYg==", (apr_size_t)-1), APR_SUCCESS);
    ck_assert_uint_eq(n, 4);
    ck_assert_status(mcp_b64_decode_any(&dec, &n, tp, "+/8=", (apr_size_t)-1), APR_SUCCESS);
    ck_assert_uint_eq(n, 2);
    ck_assert_int_eq(dec[0], 0xfb);
    ck_assert_status(mcp_b64_decode_any(&dec, &n, tp, "-_8", (apr_size_t)-1), APR_SUCCESS);
    ck_assert_int_eq(mcp_b64_decode_any(&dec, &n, tp, "Zm9vYg=", (apr_size_t)-1), MCP_EPARSE);
    ck_assert_int_eq(mcp_b64_decode_any(&dec, &n, tp, "Zg=a", (apr_size_t)-1), MCP_EPARSE);
}
END_TEST

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
    ck_assert_int_eq(mcp_aead_open(&pt, &n, tp, kr, flip(env, 12 + len), "aad", 3, NULL), MCP_EVERIFY);
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
    ck_assert_int_eq(mcp_keyring_load_key_file(key, tp, write_temp(raw, 0), &err), MCP_EINVALID);
    b64 = mcp_b64url_encode(tp, raw, 24);
    ck_assert_int_eq(mcp_keyring_load_key_file(key, tp, write_temp(b64, strlen(b64)), &err),
                     MCP_EINVALID);
    b64 = "this is not a key at all, not even close to one!!\n";
    ck_assert_int_eq(mcp_keyring_load_key_file(key, tp, write_temp(b64, strlen(b64)), &err),
                     MCP_EINVALID);
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
    ck_assert_int_eq(mcp_ec_key_load_file(&k, tp, data_file("README"), &err), MCP_EPARSE);
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

    tcase_add_test(tc, b64url_vectors);
    tcase_add_test(tc, b64url_rejects);
    tcase_add_test(tc, b64_any);
    tcase_add_test(tc, random_tokens);
    tcase_add_test(tc, hashes);
    tcase_add_test(tc, compare);
    tcase_add_test(tc, aead_roundtrip);
    tcase_add_test(tc, aead_tamper);
    tcase_add_test(tc, aead_rotation);
    tcase_add_test(tc, vault_key_files);
    tcase_add_test(tc, ec_keys_accepted);
    tcase_add_test(tc, ec_keys_refused);
    suite_add_tcase(s, tc);
    return s;
}

MCP_TEST_MAIN(crypto_suite)
