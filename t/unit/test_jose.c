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

/* JWS and JWK sets: the algorithm pin, key selection, forged and damaged
 * tokens. OpenSSL is used directly here (never in the core outside
 * mcp_crypto.c) to check signatures independently of cjose and to forge
 * HMAC tokens the way an attacker would. */

#include <apr_strings.h>
#include <apr_thread_proc.h>

#include <openssl/ec.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/obj_mac.h>
#include <openssl/pem.h>
#include <openssl/bn.h>
#include <openssl/x509.h>

#include "mcp_test.h"
#include "mcp/mcp_b64.h"
#include "mcp/mcp_crypto.h"
#include "mcp/mcp_jose.h"

static mcp_ec_key_t *ec_key(void)
{
    mcp_ec_key_t *k;
    const char *err = NULL;

    ck_assert_status(mcp_ec_key_load_file(&k, tp, MCP_TEST_DATA "/p256-pkcs8.pem", &err),
                     APR_SUCCESS);
    return k;
}

static mcp_jose_key_t *jose_key(mcp_ec_key_t *ec, const char *kid)
{
    mcp_jose_key_t *k;
    const char *err = NULL;

    ck_assert_status(mcp_jose_key_from_ec(&k, tp, ec, kid, &err), APR_SUCCESS);
    return k;
}

static mcp_jose_keyset_t *set_of(const mcp_jose_key_t *k)
{
    mcp_jose_keyset_t *set;

    mcp_jose_keyset_create(&set, tp);
    ck_assert_status(mcp_jose_keyset_add(set, k), APR_SUCCESS);
    return set;
}

static const char *b64(const char *s)
{
    return mcp_b64url_encode(tp, s, strlen(s));
}

static apr_status_t verify(const mcp_jose_keyset_t *set, const char *jws,
                           const char **perr)
{
    mcp_jose_verified_t *v = NULL;

    *perr = NULL;
    return mcp_jose_verify(&v, tp, set, jws, strlen(jws), perr);
}

/* The raw R | S of a compact JWS. */
static unsigned char *sig_of(const char *jws)
{
    unsigned char *sig;
    apr_size_t n;

    ck_assert_status(mcp_b64url_decode(&sig, &n, tp, strrchr(jws, '.') + 1, (apr_size_t)-1),
                     APR_SUCCESS);
    ck_assert_uint_eq(n, 64);
    return sig;
}

/* @jws with @len bytes of @sig as its signature part. */
static const char *with_sig(const char *jws, const unsigned char *sig, apr_size_t len)
{
    return apr_pstrcat(tp, apr_pstrndup(tp, jws, (apr_size_t)(strrchr(jws, '.') - jws) + 1),
                       mcp_b64url_encode(tp, sig, len), NULL);
}

/* The order n of P-256 as OpenSSL knows it, independent of the constants
 * in mcp_jose.c. */
static BIGNUM *p256_order(void)
{
    EC_GROUP *g = EC_GROUP_new_by_curve_name(NID_X9_62_prime256v1);
    BIGNUM *n = BN_dup(EC_GROUP_get0_order(g));

    EC_GROUP_free(g);
    return n;
}

/* n + @add (which may be negative) as 32 big-endian bytes into @out. */
static void order_plus(unsigned char out[32], int add)
{
    BIGNUM *n = p256_order();

    if (add >= 0) {
        BN_add_word(n, (BN_ULONG)add);
    }
    else {
        BN_sub_word(n, (BN_ULONG)-add);
    }
    ck_assert_int_eq(BN_bn2binpad(n, out, 32), 32);
    BN_free(n);
}

/* floor(n/2) + @add as 32 big-endian bytes into @out. */
static void half_order_plus(unsigned char out[32], unsigned int add)
{
    BIGNUM *n = p256_order();

    BN_rshift1(n, n);
    BN_add_word(n, add);
    ck_assert_int_eq(BN_bn2binpad(n, out, 32), 32);
    BN_free(n);
}

/* Is the S of R | S above n/2? */
static int s_is_high(const unsigned char *sig)
{
    unsigned char half[32];

    half_order_plus(half, 0);
    return memcmp(sig + 32, half, 32) > 0;
}

/* R | S turned into R | n - S: the other signature of the pair, which
 * verifies just as well. */
static unsigned char *flip_s(const unsigned char *sig)
{
    unsigned char *out = apr_pmemdup(tp, sig, 64);
    BIGNUM *n = p256_order(), *s = BN_bin2bn(sig + 32, 32, NULL);

    ck_assert_int_eq(BN_sub(s, n, s), 1);
    ck_assert_int_eq(BN_bn2binpad(s, out + 32, 32), 32);
    BN_free(s);
    BN_free(n);
    return out;
}

/* ECDSA verification with plain OpenSSL, which takes high and low S. */
static int openssl_verifies_pk(EVP_PKEY *pk, const char *jws)
{
    const char *dot = strrchr(jws, '.');
    unsigned char *sig = sig_of(jws), *der = NULL;
    ECDSA_SIG *es = ECDSA_SIG_new();
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    int derlen, ok;

    ECDSA_SIG_set0(es, BN_bin2bn(sig, 32, NULL), BN_bin2bn(sig + 32, 32, NULL));
    derlen = i2d_ECDSA_SIG(es, &der);
    ok = EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, pk) == 1
        && EVP_DigestVerify(md, der, (size_t)derlen, (const unsigned char *)jws,
                            (size_t)(dot - jws)) == 1;
    OPENSSL_free(der);
    ECDSA_SIG_free(es);
    EVP_MD_CTX_free(md);
    return ok;
}

/* The same from the public key PEM of @ec. */
static int openssl_verifies(const mcp_ec_key_t *ec, const char *jws)
{
    BIO *bio = BIO_new_mem_buf(mcp_ec_key_public_pem(tp, ec), -1);
    EVP_PKEY *pk = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
    int ok = openssl_verifies_pk(pk, jws);

    EVP_PKEY_free(pk);
    BIO_free(bio);
    return ok;
}

/* An ES256 JWS with any header, signed with plain OpenSSL: lets the tests
 * build validly signed tokens that mcp_jose_sign would never make. Its S
 * is as OpenSSL made it (high half of the time) unless @low_s. */
static const char *es256_token_s(const mcp_ec_key_t *ec, const char *hdr,
                                 const char *payload, int low_s)
{
    const char *pem = mcp_ec_key_to_pem(tp, ec);
    const char *input = apr_pstrcat(tp, b64(hdr), ".", b64(payload), NULL);
    BIO *bio = BIO_new_mem_buf(pem, -1);
    EVP_PKEY *pk = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    unsigned char der[80], raw[64];
    const unsigned char *dp = der;
    size_t derlen = sizeof(der);
    ECDSA_SIG *es;
    const BIGNUM *r, *sv;

    ck_assert_int_eq(EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, pk), 1);
    ck_assert_int_eq(EVP_DigestSign(md, der, &derlen, (const unsigned char *)input,
                                    strlen(input)), 1);
    es = d2i_ECDSA_SIG(NULL, &dp, (long)derlen);
    ck_assert_ptr_nonnull(es);
    ECDSA_SIG_get0(es, &r, &sv);
    BN_bn2binpad(r, raw, 32);
    BN_bn2binpad(sv, raw + 32, 32);
    ECDSA_SIG_free(es);
    EVP_MD_CTX_free(md);
    EVP_PKEY_free(pk);
    BIO_free(bio);
    return apr_pstrcat(tp, input, ".", mcp_b64url_encode(tp, low_s && s_is_high(raw)
                                                         ? flip_s(raw) : raw, 64), NULL);
}

/* The same in the low-S form the verifier wants. */
static const char *es256_token(const mcp_ec_key_t *ec, const char *hdr,
                               const char *payload)
{
    return es256_token_s(ec, hdr, payload, 1);
}

START_TEST(sign_and_verify)
{
    mcp_ec_key_t *ec = ec_key();
    mcp_jose_key_t *k = jose_key(ec, "key-1");
    mcp_jose_verified_t *v;
    const char *jws, *err = NULL;
    unsigned char *hdr;
    apr_size_t n;

    ck_assert(mcp_jose_key_is_private(k));
    ck_assert_str_eq(mcp_jose_key_kid(k), "key-1");
    ck_assert_status(mcp_jose_sign(&jws, tp, k, "at+jwt", "{\"a\":1}", 7, &err), APR_SUCCESS);
    ck_assert_status(mcp_b64url_decode(&hdr, &n, tp, jws, (apr_size_t)(strchr(jws, '.') - jws)),
                     APR_SUCCESS);
    ck_assert_ptr_nonnull(strstr((char *)hdr, "\"alg\":\"ES256\""));
    ck_assert_ptr_nonnull(strstr((char *)hdr, "\"kid\":\"key-1\""));
    ck_assert_ptr_nonnull(strstr((char *)hdr, "\"typ\":\"at+jwt\""));
    ck_assert_status(mcp_jose_verify(&v, tp, set_of(k), jws, strlen(jws), &err), APR_SUCCESS);
    ck_assert_str_eq(v->payload, "{\"a\":1}");
    ck_assert_uint_eq(v->payload_len, 7);
    ck_assert_str_eq(v->kid, "key-1");
    ck_assert_str_eq(v->typ, "at+jwt");
    /* Standard ES256: plain OpenSSL agrees. */
    ck_assert(openssl_verifies(ec, jws));
}
END_TEST

/* Every signature mcp_jose_sign makes has a low S and verifies, with us
 * and with plain OpenSSL. Its twin (R, n - S), which OpenSSL takes just
 * as well, is refused. Without the normalisation about half of these
 * signatures would have a high S. */
START_TEST(sign_low_s_only)
{
    mcp_ec_key_t *ec = ec_key();
    mcp_jose_key_t *k = jose_key(ec, "k");
    mcp_jose_keyset_t *set = set_of(k);
    int i;

    for (i = 0; i < 200; i++) {
        const char *msg = apr_psprintf(tp, "{\"n\":%d}", i);
        const char *jws, *twin, *err = NULL;
        unsigned char *sig;

        ck_assert_status(mcp_jose_sign(&jws, tp, k, "at+jwt", msg, strlen(msg), &err),
                         APR_SUCCESS);
        sig = sig_of(jws);
        ck_assert_msg(!s_is_high(sig), "signature %d has a high S", i);
        ck_assert_status(verify(set, jws, &err), APR_SUCCESS);
        ck_assert(openssl_verifies(ec, jws));
        twin = with_sig(jws, flip_s(sig), 64);
        ck_assert(openssl_verifies(ec, twin));
        ck_assert_int_eq(verify(set, twin, &err), MCP_EVERIFY);
        ck_assert_ptr_nonnull(strstr(err, "high S"));
    }
}
END_TEST

/* Verify @jws with its signature replaced by @r | @s. */
static apr_status_t verify_rs(const mcp_jose_keyset_t *set, const char *jws,
                              const unsigned char *r, const unsigned char *s,
                              const char **perr)
{
    unsigned char sig[64];

    memcpy(sig, r, 32);
    memcpy(sig + 32, s, 32);
    return verify(set, with_sig(jws, sig, 64), perr);
}

/* R and S outside 1..n-1, and S above n/2, are refused before any curve
 * arithmetic (the message says which); values just inside the bounds get
 * as far as the signature check. */
START_TEST(signature_range)
{
    mcp_ec_key_t *ec = ec_key();
    mcp_jose_key_t *k = jose_key(ec, "k");
    mcp_jose_keyset_t *set = set_of(k);
    unsigned char zero[32], one[32], ff[32], n[32], n_minus_1[32], n_plus_1[32];
    unsigned char half[32], half_plus_1[32], *good;
    const char *jws, *err, *high = NULL;
    int i;

    ck_assert_status(mcp_jose_sign(&jws, tp, k, NULL, "{}", 2, &err), APR_SUCCESS);
    good = sig_of(jws);
    memset(zero, 0, 32);
    memset(one, 0, 32);
    one[31] = 1;
    memset(ff, 0xff, 32);
    order_plus(n, 0);
    order_plus(n_minus_1, -1);
    order_plus(n_plus_1, 1);
    half_order_plus(half, 0);
    half_order_plus(half_plus_1, 1);
    {
        static const struct {
            int r;              /* 1: the value goes in R, 0: in S */
            int v;              /* index into vals */
            const char *msg;    /* what the error says */
        } cases[] = {
            { 1, 0, "R is out of range" }, { 1, 3, "R is out of range" },
            { 1, 5, "R is out of range" }, { 1, 2, "R is out of range" },
            { 1, 4, "does not verify" },   { 1, 1, "does not verify" },
            { 0, 0, "S is out of range" }, { 0, 3, "S is out of range" },
            { 0, 5, "S is out of range" }, { 0, 2, "S is out of range" },
            { 0, 4, "high S" },            { 0, 7, "high S" },
            { 0, 6, "does not verify" },   { 0, 1, "does not verify" },
        };
        const unsigned char *vals[] = {
            zero, one, ff, n, n_minus_1, n_plus_1, half, half_plus_1
        };

        for (i = 0; i < (int)(sizeof(cases) / sizeof(cases[0])); i++) {
            const unsigned char *v = vals[cases[i].v];

            err = NULL;
            ck_assert_msg(verify_rs(set, jws, cases[i].r ? v : good, cases[i].r ? good + 32 : v,
                                    &err) == MCP_EVERIFY, "case %d accepted", i);
            ck_assert_msg(err && strstr(err, cases[i].msg), "case %d: '%s', not '%s'", i,
                          err ? err : "(none)", cases[i].msg);
        }
    }
    ck_assert_status(verify_rs(set, jws, good, good + 32, &err), APR_SUCCESS);
    /* A token as plain OpenSSL signs it: taken when its S is low, refused
     * when it is high (half of them; 64 tries make missing one a 2^-64
     * chance), taken again once turned into its low-S twin. */
    for (i = 0; i < 64 && !high; i++) {
        const char *t = es256_token_s(ec, "{\"alg\":\"ES256\",\"kid\":\"k\"}", "{}", 0);

        if (s_is_high(sig_of(t))) {
            high = t;
        }
        else {
            ck_assert_status(verify(set, t, &err), APR_SUCCESS);
        }
    }
    ck_assert_ptr_nonnull(high);
    ck_assert(openssl_verifies(ec, high));
    ck_assert_int_eq(verify(set, high, &err), MCP_EVERIFY);
    ck_assert_ptr_nonnull(strstr(err, "high S"));
    ck_assert_status(verify(set, with_sig(high, flip_s(sig_of(high)), 64), &err), APR_SUCCESS);
}
END_TEST

/* The ES256 example of RFC 7515 (appendix A.3): key, token and payload
 * as printed there. */
#define A3_X "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU"
#define A3_Y "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"
#define A3_INPUT "eyJhbGciOiJFUzI1NiJ9." \
    "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ"
#define A3_SIG "DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQxfKTUJqPP3-Kg6NU1Q"
#define A3_PAYLOAD "{\"iss\":\"joe\",\r\n \"exp\":1300819380,\r\n \"http://example.com/is_root\":true}"
/* The same R with n - S. Made outside these tests and checked with the
 * openssl command line: the RFC's x and y as SubjectPublicKeyInfo (the
 * 26-byte P-256 prefix of a3_spki() below, 04, x, y) in a3.der, R | S
 * as a DER ECDSA-Sig-Value in sig.der, A3_INPUT in input (no newline):
 *     openssl pkey -pubin -inform DER -in a3.der -out a3.pem
 *     openssl dgst -sha256 -verify a3.pem -signature sig.der input
 * says "Verified OK" for the RFC's S and for n - S. */
#define A3_SIG_LOW_S "DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmU69fgrc8OPGycO0lD3tat_FoFp57SETepkeks4eL_QfA"

/* The RFC 7515 A.3 public key for plain OpenSSL. */
static EVP_PKEY *a3_spki(void)
{
    static const unsigned char prefix[] = {
        0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01,
        0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00
    };
    unsigned char der[sizeof(prefix) + 65], *x, *y;
    const unsigned char *dp = der;
    apr_size_t n;

    ck_assert_status(mcp_b64url_decode(&x, &n, tp, A3_X, (apr_size_t)-1), APR_SUCCESS);
    ck_assert_status(mcp_b64url_decode(&y, &n, tp, A3_Y, (apr_size_t)-1), APR_SUCCESS);
    memcpy(der, prefix, sizeof(prefix));
    der[sizeof(prefix)] = 0x04;
    memcpy(der + sizeof(prefix) + 1, x, 32);
    memcpy(der + sizeof(prefix) + 33, y, 32);
    return d2i_PUBKEY(NULL, &dp, (long)sizeof(der));
}

/* A known vector with a high S: the RFC's own example is a valid ES256
 * signature that we refuse; its low-S twin verifies. */
START_TEST(rfc7515_a3_high_s)
{
    const char *jwks = "{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-256\",\"kid\":\"a3\","
                       "\"x\":\"" A3_X "\",\"y\":\"" A3_Y "\"}]}";
    const char *rfc = A3_INPUT "." A3_SIG, *low = A3_INPUT "." A3_SIG_LOW_S, *err = NULL;
    mcp_jose_keyset_t *set;
    mcp_jose_verified_t *v;
    EVP_PKEY *pk = a3_spki();

    ck_assert_ptr_nonnull(pk);
    ck_assert_status(mcp_jose_jwks_parse(&set, tp, jwks, strlen(jwks), &err), APR_SUCCESS);
    ck_assert(s_is_high(sig_of(rfc)));
    ck_assert(openssl_verifies_pk(pk, rfc));
    ck_assert_int_eq(verify(set, rfc, &err), MCP_EVERIFY);
    ck_assert_ptr_nonnull(strstr(err, "high S"));
    /* n - S computed here agrees with the twin checked by openssl. */
    ck_assert_str_eq(with_sig(rfc, flip_s(sig_of(rfc)), 64), low);
    ck_assert(!s_is_high(sig_of(low)));
    ck_assert(openssl_verifies_pk(pk, low));
    ck_assert_status(mcp_jose_verify(&v, tp, set, low, strlen(low), &err), APR_SUCCESS);
    ck_assert_str_eq(v->payload, A3_PAYLOAD);
    ck_assert_str_eq(v->kid, "a3");
    EVP_PKEY_free(pk);
}
END_TEST

START_TEST(jwks_export_and_parse)
{
    mcp_ec_key_t *ec = ec_key(), *ec2;
    mcp_jose_key_t *k = jose_key(ec, NULL), *k2;
    mcp_jose_keyset_t *set, *back;
    const char *jwks, *jws, *err = NULL;
    mcp_json_t *doc;

    /* The default kid is the RFC 7638 thumbprint: SHA-256 of the
     * canonical members, computed here independently. */
    {
        unsigned char x[32], y[32];
        mcp_json_t *c = mcp_json_object(tp);
        const char *canon;

        mcp_ec_key_coords(ec, x, y, NULL);
        mcp_json_set_str(c, "kty", "EC");
        mcp_json_set_str(c, "y", mcp_b64url_encode(tp, y, 32));
        mcp_json_set_str(c, "crv", "P-256");
        mcp_json_set_str(c, "x", mcp_b64url_encode(tp, x, 32));
        canon = mcp_json_dump(tp, c, MCP_JSON_FMT_SORT_KEYS, NULL);
        ck_assert_str_eq(mcp_jose_key_kid(k),
                         mcp_crypto_sha256_b64url(tp, canon, strlen(canon)));
        ck_assert_str_eq(mcp_jose_key_thumbprint(tp, k), mcp_jose_key_kid(k));
    }
    ck_assert_status(mcp_ec_key_generate(&ec2, tp), APR_SUCCESS);
    k2 = jose_key(ec2, "second");
    set = set_of(k);
    ck_assert_status(mcp_jose_keyset_add(set, k2), APR_SUCCESS);
    ck_assert_int_eq(mcp_jose_keyset_add(set, k2), MCP_ECONFLICT);
    jwks = mcp_jose_jwks_json(tp, set);
    ck_assert_ptr_null(strstr(jwks, "\"d\""));
    ck_assert_status(mcp_json_parse(&doc, tp, jwks, strlen(jwks), NULL, &err), APR_SUCCESS);
    ck_assert_uint_eq(mcp_json_size(mcp_json_get(tp, doc, "keys")), 2);
    {
        mcp_json_t *j = mcp_json_array_get(tp, mcp_json_get(tp, doc, "keys"), 1);
        ck_assert_str_eq(mcp_json_get_str(tp, j, "kid"), "second");
        ck_assert_str_eq(mcp_json_get_str(tp, j, "alg"), "ES256");
        ck_assert_str_eq(mcp_json_get_str(tp, j, "use"), "sig");
        ck_assert_str_eq(mcp_json_get_str(tp, j, "crv"), "P-256");
        ck_assert_uint_eq(mcp_json_size(j), 7);
    }
    /* Parsed back: public keys that verify but cannot sign. */
    ck_assert_status(mcp_jose_jwks_parse(&back, tp, jwks, strlen(jwks), &err), APR_SUCCESS);
    ck_assert_int_eq(mcp_jose_keyset_count(back), 2);
    ck_assert(!mcp_jose_key_is_private(mcp_jose_keyset_find(back, "second")));
    ck_assert_int_eq(mcp_jose_sign(&jws, tp, mcp_jose_keyset_find(back, "second"), NULL,
                                   "x", 1, &err), MCP_EINVALID);
    ck_assert_status(mcp_jose_sign(&jws, tp, k2, NULL, "x", 1, &err), APR_SUCCESS);
    ck_assert_status(verify(back, jws, &err), APR_SUCCESS);
    /* Bad sets. */
    ck_assert_int_eq(mcp_jose_jwks_parse(&back, tp, "{}", 2, &err), MCP_EINVALID);
    ck_assert_int_eq(mcp_jose_jwks_parse(&back, tp, "{\"keys\":[]}", 11, &err), MCP_EINVALID);
    ck_assert_int_eq(mcp_jose_jwks_parse(&back, tp, "[", 1, &err), MCP_EPARSE);
    /* Only ES256 signing keys are taken; a private JWK stays public. */
    {
        unsigned char x[32], y[32], d[32];
        const char *xs, *ys, *doc2, *tok, *input;
        unsigned char mac[32];
        mcp_jose_keyset_t *got;

        mcp_ec_key_coords(ec, x, y, d);
        xs = mcp_b64url_encode(tp, x, 32);
        ys = mcp_b64url_encode(tp, y, 32);
        doc2 = apr_psprintf(tp, "{\"keys\":["
            "{\"kty\":\"oct\",\"kid\":\"sym\",\"k\":\"c2VjcmV0\"},"
            "{\"kty\":\"RSA\",\"kid\":\"rsa\",\"n\":\"AQAB\",\"e\":\"AQAB\"},"
            "{\"kty\":\"EC\",\"crv\":\"P-384\",\"kid\":\"p384\","
            "\"x\":\"%s\",\"y\":\"%s\"},"
            "{\"kty\":\"EC\",\"crv\":\"P-256\",\"kid\":\"enc\",\"use\":\"enc\","
            "\"x\":\"%s\",\"y\":\"%s\"},"
            "{\"kty\":\"EC\",\"crv\":\"P-256\",\"kid\":\"es384\",\"alg\":\"ES384\","
            "\"x\":\"%s\",\"y\":\"%s\"},"
            "{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"%s\",\"y\":\"%s\"},"
            "{\"kty\":\"EC\",\"crv\":\"P-256\",\"kid\":\"priv\","
            "\"x\":\"%s\",\"y\":\"%s\",\"d\":\"%s\"}"
            "]}", xs, ys, xs, ys, xs, ys, xs, ys, xs, ys, mcp_b64url_encode(tp, d, 32));
        ck_assert_status(mcp_jose_jwks_parse(&got, tp, doc2, strlen(doc2), &err), APR_SUCCESS);
        ck_assert_int_eq(mcp_jose_keyset_count(got), 1);
        ck_assert_ptr_nonnull(mcp_jose_keyset_find(got, "priv"));
        ck_assert(!mcp_jose_key_is_private(mcp_jose_keyset_find(got, "priv")));
        ck_assert_ptr_null(mcp_jose_keyset_find(got, "sym"));
        ck_assert_ptr_null(strstr(mcp_jose_jwks_json(tp, got), "\"d\""));
        /* An HS256 token keyed with the "oct" key's secret names its kid:
         * refused (the algorithm, and there is no such key anyway). */
        input = apr_pstrcat(tp, b64("{\"alg\":\"HS256\",\"kid\":\"sym\"}"), ".", b64("{}"), NULL);
        mcp_crypto_hmac_sha256(mac, "secret", 6, input, strlen(input));
        tok = apr_pstrcat(tp, input, ".", mcp_b64url_encode(tp, mac, 32), NULL);
        ck_assert_int_eq(verify(got, tok, &err), MCP_EVERIFY);
        /* A kid used twice. */
        doc2 = apr_psprintf(tp, "{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-256\",\"kid\":\"a\","
                            "\"x\":\"%s\",\"y\":\"%s\"},{\"kty\":\"EC\",\"crv\":\"P-256\","
                            "\"kid\":\"a\",\"x\":\"%s\",\"y\":\"%s\"}]}", xs, ys, xs, ys);
        ck_assert_int_eq(mcp_jose_jwks_parse(&got, tp, doc2, strlen(doc2), &err), MCP_EINVALID);
        /* Coordinates of the wrong size or not canonical base64url. */
        doc2 = apr_psprintf(tp, "{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-256\",\"kid\":\"a\","
                            "\"x\":\"%s\",\"y\":\"%sAA\"}]}", xs, ys);
        ck_assert_int_eq(mcp_jose_jwks_parse(&got, tp, doc2, strlen(doc2), &err), MCP_EINVALID);
        doc2 = apr_psprintf(tp, "{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-256\",\"kid\":\"a\","
                            "\"x\":\"%s=\",\"y\":\"%s\"}]}", xs, ys);
        ck_assert_int_eq(mcp_jose_jwks_parse(&got, tp, doc2, strlen(doc2), &err), MCP_EINVALID);
        ck_assert_int_eq(mcp_jose_jwks_parse(&got, tp, "{\"keys\":{}}", 11, &err), MCP_EINVALID);
        ck_assert_int_eq(mcp_jose_jwks_parse(&got, tp, "{\"keys\":[1,\"x\",null]}", 21, &err),
                         MCP_EINVALID);
    }
    {
        const char *bad = "{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-256\",\"kid\":\"a\","
                          "\"x\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\","
                          "\"y\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\"}]}";
        /* (0,0) is not on the curve: skipped, and no key is left. */
        ck_assert_int_eq(mcp_jose_jwks_parse(&back, tp, bad, strlen(bad), &err), MCP_EINVALID);
    }
}
END_TEST

/* One EC member of a JWK Set. */
static const char *ec_jwk(const char *kid, const unsigned char x[32],
                          const unsigned char y[32])
{
    return apr_psprintf(tp, "{\"kty\":\"EC\",\"crv\":\"P-256\",\"kid\":\"%s\","
                        "\"x\":\"%s\",\"y\":\"%s\"}", kid,
                        mcp_b64url_encode(tp, x, 32), mcp_b64url_encode(tp, y, 32));
}

/* A key whose point is not on the curve is skipped like a key of another
 * kind: the good keys of the set still verify. */
START_TEST(jwks_skips_off_curve_key)
{
    mcp_ec_key_t *ec = ec_key();
    mcp_jose_key_t *k = jose_key(ec, "good");
    mcp_jose_keyset_t *got;
    unsigned char x[32], y[32], ybad[32];
    const char *good, *bad, *doc, *jws, *err = NULL;
    int order;

    mcp_ec_key_coords(ec, x, y, NULL);
    /* For a given x only y and p - y are on the curve: y + 1 is not. */
    memcpy(ybad, y, 32);
    ybad[31] ^= 1;
    good = ec_jwk("good", x, y);
    bad = ec_jwk("bad", x, ybad);
    ck_assert_status(mcp_jose_sign(&jws, tp, k, NULL, "{\"sub\":\"alice\"}", 15, &err),
                     APR_SUCCESS);
    for (order = 0; order < 2; order++) {
        doc = apr_psprintf(tp, "{\"keys\":[%s,%s]}", order ? good : bad, order ? bad : good);
        ck_assert_status(mcp_jose_jwks_parse(&got, tp, doc, strlen(doc), &err), APR_SUCCESS);
        ck_assert_int_eq(mcp_jose_keyset_count(got), 1);
        ck_assert_ptr_nonnull(mcp_jose_keyset_find(got, "good"));
        ck_assert_ptr_null(mcp_jose_keyset_find(got, "bad"));
        ck_assert_status(verify(got, jws, &err), APR_SUCCESS);
    }
    /* The skipped key does not take its kid: a good key may use it. */
    doc = apr_psprintf(tp, "{\"keys\":[%s,%s]}", ec_jwk("good", x, ybad), good);
    ck_assert_status(mcp_jose_jwks_parse(&got, tp, doc, strlen(doc), &err), APR_SUCCESS);
    ck_assert_int_eq(mcp_jose_keyset_count(got), 1);
    ck_assert_status(verify(got, jws, &err), APR_SUCCESS);
    /* Nothing usable left: refused, saying so. */
    doc = apr_psprintf(tp, "{\"keys\":[%s,%s]}", bad, ec_jwk("bad2", ybad, x));
    err = NULL;
    ck_assert_int_eq(mcp_jose_jwks_parse(&got, tp, doc, strlen(doc), &err), MCP_EINVALID);
    ck_assert_ptr_nonnull(err);
    ck_assert_ptr_nonnull(strstr(err, "no usable"));
    /* Two good keys with one kid stay an error, bad key or not. */
    doc = apr_psprintf(tp, "{\"keys\":[%s,%s,%s]}", good, bad, good);
    ck_assert_int_eq(mcp_jose_jwks_parse(&got, tp, doc, strlen(doc), &err), MCP_EINVALID);
    ck_assert_ptr_nonnull(strstr(err, "twice"));
}
END_TEST

/* A token with header @hdr (JSON) over the same payload and signature
 * as @jws. */
static const char *with_header(const char *jws, const char *hdr)
{
    return apr_pstrcat(tp, b64(hdr), strchr(jws, '.'), NULL);
}

START_TEST(alg_pinned)
{
    mcp_ec_key_t *ec = ec_key();
    mcp_jose_key_t *k = jose_key(ec, "k");
    mcp_jose_keyset_t *set = set_of(k);
    const char *jws, *err, *payload, *input;
    unsigned char mac[32];

    ck_assert_status(mcp_jose_sign(&jws, tp, k, NULL, "{\"sub\":\"alice\"}", 15, &err),
                     APR_SUCCESS);
    payload = apr_pstrndup(tp, strchr(jws, '.') + 1,
                           (apr_size_t)(strrchr(jws, '.') - strchr(jws, '.') - 1));

    /* alg none: without and with a signature part. */
    ck_assert_int_eq(verify(set, apr_pstrcat(tp, b64("{\"alg\":\"none\"}"), ".", payload, ".",
                                             NULL), &err), MCP_EVERIFY);
    ck_assert_ptr_nonnull(strstr(err, "'none'"));
    ck_assert_int_eq(verify(set, apr_pstrcat(tp, b64("{\"alg\":\"none\"}"), ".", payload, NULL),
                            &err), MCP_EPARSE);
    ck_assert_int_eq(verify(set, with_header(jws, "{\"alg\":\"none\",\"kid\":\"k\"}"), &err),
                     MCP_EVERIFY);
    ck_assert_int_eq(verify(set, with_header(jws, "{\"alg\":\"NONE\",\"kid\":\"k\"}"), &err),
                     MCP_EVERIFY);

    /* HMAC tokens keyed with the public key, in every form an attacker
     * might try (PEM, DER, the JWK, the JWK Set, x|y, the uncompressed
     * point), for each HS algorithm: refused for the algorithm alone. */
    {
        static const char *const hs[][2] = {
            { "HS256", "SHA256" }, { "HS384", "SHA384" }, { "HS512", "SHA512" }
        };
        unsigned char x[32], y[32], xy[64], point[65], *der = NULL;
        const char *secrets[6], *jwk;
        apr_size_t slens[6];
        BIO *bio;
        EVP_PKEY *pub;
        int derlen, i, h;

        mcp_ec_key_coords(ec, x, y, NULL);
        memcpy(xy, x, 32);
        memcpy(xy + 32, y, 32);
        point[0] = 0x04;
        memcpy(point + 1, xy, 64);
        secrets[0] = mcp_ec_key_public_pem(tp, ec);
        bio = BIO_new_mem_buf(secrets[0], -1);
        pub = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
        derlen = i2d_PUBKEY(pub, &der);
        ck_assert_int_gt(derlen, 0);
        secrets[1] = apr_pmemdup(tp, der, (apr_size_t)derlen);
        slens[1] = (apr_size_t)derlen;
        OPENSSL_free(der);
        EVP_PKEY_free(pub);
        BIO_free(bio);
        jwk = mcp_jose_jwks_json(tp, set);
        secrets[3] = jwk;
        /* The single JWK: the set's one member, cut out of the document. */
        secrets[2] = apr_pstrndup(tp, strchr(jwk, '[') + 1,
                                  (apr_size_t)(strrchr(jwk, ']') - strchr(jwk, '[') - 1));
        secrets[4] = apr_pmemdup(tp, xy, 64);
        slens[4] = 64;
        secrets[5] = apr_pmemdup(tp, point, 65);
        slens[5] = 65;
        slens[0] = strlen(secrets[0]);
        slens[2] = strlen(secrets[2]);
        slens[3] = strlen(secrets[3]);
        for (h = 0; h < 3; h++) {
            for (i = 0; i < 6; i++) {
                unsigned char hmac[64];
                size_t maclen = 0;

                input = apr_pstrcat(tp, b64(apr_psprintf(tp, "{\"alg\":\"%s\",\"kid\":\"k\"}",
                                                         hs[h][0])), ".", payload, NULL);
                ck_assert_ptr_nonnull(EVP_Q_mac(NULL, "HMAC", NULL, hs[h][1], NULL,
                                                secrets[i], slens[i],
                                                (const unsigned char *)input, strlen(input),
                                                hmac, sizeof(hmac), &maclen));
                ck_assert_msg(verify(set, apr_pstrcat(tp, input, ".",
                                                      mcp_b64url_encode(tp, hmac, maclen), NULL),
                                     &err) == MCP_EVERIFY, "%s with secret %d", hs[h][0], i);
                ck_assert_ptr_nonnull(strstr(err, hs[h][0]));
            }
        }
        /* The HS256 check of RFC 7515 A.1 style with the 32-byte x alone. */
        input = apr_pstrcat(tp, b64("{\"alg\":\"HS256\"}"), ".", payload, NULL);
        mcp_crypto_hmac_sha256(mac, x, 32, input, strlen(input));
        ck_assert_int_eq(verify(set, apr_pstrcat(tp, input, ".", mcp_b64url_encode(tp, mac, 32),
                                                 NULL), &err), MCP_EVERIFY);
    }
    /* The algorithm is judged before the key: with an unknown kid the
     * complaint is still the algorithm. */
    ck_assert_int_eq(verify(set, with_header(jws, "{\"alg\":\"HS256\",\"kid\":\"nope\"}"), &err),
                     MCP_EVERIFY);
    ck_assert_ptr_nonnull(strstr(err, "algorithm"));
    /* Every other algorithm named in the header, over a good signature. */
    {
        static const char *const algs[] = {
            "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES384",
            "ES512", "ES256K", "EdDSA", "Ed25519", "HS256", "none", "",
            "ES256 ", " ES256", "ES2560", "ES25"
        };
        apr_size_t i;

        for (i = 0; i < sizeof(algs) / sizeof(algs[0]); i++) {
            ck_assert_msg(verify(set, with_header(jws, apr_psprintf(tp,
                              "{\"alg\":\"%s\",\"kid\":\"k\"}", algs[i])), &err)
                          == MCP_EVERIFY, "alg '%s' accepted", algs[i]);
        }
    }
    ck_assert_int_eq(verify(set, with_header(jws, "{\"alg\":\"es256\",\"kid\":\"k\"}"), &err),
                     MCP_EVERIFY);
    ck_assert_int_eq(verify(set, with_header(jws, "{\"kid\":\"k\"}"), &err), MCP_EVERIFY);
    ck_assert_int_eq(verify(set, with_header(jws, "{\"alg\":[\"ES256\"],\"kid\":\"k\"}"), &err),
                     MCP_EVERIFY);
    ck_assert_int_eq(verify(set, with_header(jws, "{\"alg\":\"ES256\",\"kid\":\"k\","
                                                  "\"crit\":[\"exp\"]}"), &err), MCP_EVERIFY);
    ck_assert_int_eq(verify(set, with_header(jws, "{\"alg\":null,\"kid\":\"k\"}"), &err),
                     MCP_EVERIFY);
    /* Two "alg" members: ambiguous, refused whatever the order. */
    ck_assert_int_ne(verify(set, with_header(jws, "{\"alg\":\"ES256\",\"alg\":\"HS256\","
                                                  "\"kid\":\"k\"}"), &err), APR_SUCCESS);
    ck_assert_int_ne(verify(set, with_header(jws, "{\"alg\":\"HS256\",\"alg\":\"ES256\","
                                                  "\"kid\":\"k\"}"), &err), APR_SUCCESS);
    /* Headers that are not a JSON object. */
    ck_assert_int_eq(verify(set, with_header(jws, "[\"ES256\"]"), &err), MCP_EPARSE);
    ck_assert_int_eq(verify(set, with_header(jws, "\"ES256\""), &err), MCP_EPARSE);
    ck_assert_int_eq(verify(set, with_header(jws, "{\"alg\":\"ES256\""), &err), MCP_EPARSE);
    /* The original still verifies. */
    ck_assert_status(verify(set, jws, &err), APR_SUCCESS);
}
END_TEST

START_TEST(wrong_key_and_tampering)
{
    mcp_ec_key_t *ec = ec_key(), *other;
    mcp_jose_key_t *k = jose_key(ec, "k"), *ko;
    mcp_jose_keyset_t *set = set_of(k), *two;
    const char *jws, *forged, *err;
    char *t;

    ck_assert_status(mcp_jose_sign(&jws, tp, k, NULL, "{\"sub\":\"alice\"}", 15, &err),
                     APR_SUCCESS);
    /* Signed by another P-256 key that claims the same kid. */
    ck_assert_status(mcp_ec_key_generate(&other, tp), APR_SUCCESS);
    ko = jose_key(other, "k");
    ck_assert_status(mcp_jose_sign(&forged, tp, ko, NULL, "{\"sub\":\"alice\"}", 15, &err),
                     APR_SUCCESS);
    ck_assert_int_eq(verify(set, forged, &err), MCP_EVERIFY);
    ck_assert_ptr_nonnull(strstr(err, "signature"));
    /* Unknown kid; kid of the wrong type; no kid with two keys. */
    ck_assert_int_eq(verify(set, with_header(jws, "{\"alg\":\"ES256\",\"kid\":\"zz\"}"), &err),
                     MCP_EVERIFY);
    ck_assert_int_eq(verify(set, with_header(jws, "{\"alg\":\"ES256\",\"kid\":7}"), &err),
                     MCP_EVERIFY);
    two = set_of(k);
    mcp_jose_keyset_add(two, jose_key(other, "k2"));
    ck_assert_int_eq(verify(two, with_header(jws, "{\"alg\":\"ES256\"}"), &err), MCP_EVERIFY);
    /* A key carried in the token itself ("jwk", "jku", "x5u") is never
     * used: the attacker signs with his own key and embeds its JWK. */
    {
        const char *ojwk = mcp_jose_jwks_json(tp, set_of(ko));

        ojwk = apr_pstrndup(tp, strchr(ojwk, '[') + 1,
                            (apr_size_t)(strrchr(ojwk, ']') - strchr(ojwk, '[') - 1));
        forged = es256_token(other, apr_psprintf(tp, "{\"alg\":\"ES256\",\"kid\":\"k\","
                                                 "\"jwk\":%s,\"jku\":\"https://evil.example/"
                                                 "jwks\",\"x5u\":\"https://evil.example/c\"}",
                                                 ojwk), "{\"sub\":\"admin\"}");
        ck_assert_int_eq(verify(set, forged, &err), MCP_EVERIFY);
        /* The same header signed by our key is fine: the members are
         * merely ignored. */
        ck_assert_status(verify(set, es256_token(ec, apr_psprintf(tp, "{\"alg\":\"ES256\","
                                                 "\"kid\":\"k\",\"jwk\":%s}", ojwk),
                                                 "{\"sub\":\"admin\"}"), &err), APR_SUCCESS);
    }
    /* A DER-encoded ECDSA signature (as RS-style libraries emit) is not a
     * JWS ES256 signature (r|s, 64 bytes). */
    {
        unsigned char fake[72];
        memset(fake, 0x30, sizeof(fake));
        ck_assert_int_eq(verify(set, with_sig(jws, fake, sizeof(fake)), &err), MCP_EPARSE);
        ck_assert_int_eq(verify(set, with_sig(jws, fake, 63), &err), MCP_EPARSE);
    }
    /* A zero signature (r = s = 0) never verifies. */
    {
        unsigned char zero[64];
        memset(zero, 0, sizeof(zero));
        ck_assert_int_eq(verify(set, with_sig(jws, zero, sizeof(zero)), &err), MCP_EVERIFY);
    }
    /* No kid: taken as the only key of a one-key set (documented); with
     * two keys it names no key. */
    forged = es256_token(ec, "{\"alg\":\"ES256\"}", "{\"sub\":\"alice\"}");
    ck_assert_status(verify(set, forged, &err), APR_SUCCESS);
    ck_assert_int_eq(verify(two, forged, &err), MCP_EVERIFY);
    ck_assert_ptr_nonnull(strstr(err, "key id"));
    ck_assert_int_eq(verify(set, es256_token(other, "{\"alg\":\"ES256\"}", "{}"), &err),
                     MCP_EVERIFY);
    /* A kid that is not a string, or empty. */
    ck_assert_int_eq(verify(set, es256_token(ec, "{\"alg\":\"ES256\",\"kid\":null}", "{}"),
                            &err), MCP_EVERIFY);
    ck_assert_int_eq(verify(set, es256_token(ec, "{\"alg\":\"ES256\",\"kid\":\"\"}", "{}"),
                            &err), MCP_EVERIFY);
    /* Validly signed, but with "crit": refused for that reason. */
    ck_assert_int_eq(verify(set, es256_token(ec, "{\"alg\":\"ES256\",\"kid\":\"k\","
                                             "\"crit\":[\"b64\"],\"b64\":false}", "{}"), &err),
                     MCP_EVERIFY);
    ck_assert_ptr_nonnull(strstr(err, "critical"));
    /* Validly signed with an algorithm header other than ES256 (the
     * signature bytes are real ES256): refused before any key. */
    ck_assert_int_eq(verify(set, es256_token(ec, "{\"alg\":\"ES384\",\"kid\":\"k\"}", "{}"),
                            &err), MCP_EVERIFY);
    ck_assert_ptr_nonnull(strstr(err, "ES384"));
    /* Our own signer and the OpenSSL one agree. */
    ck_assert_status(verify(set, es256_token(ec, "{\"alg\":\"ES256\",\"kid\":\"k\","
                                             "\"typ\":\"at+jwt\"}", "{\"a\":1}"), &err),
                     APR_SUCCESS);
    /* A changed header (even just the kid spelling) breaks the signature. */
    ck_assert_int_eq(verify(set, with_header(jws, "{\"alg\":\"ES256\",\"kid\":\"k\","
                                                  "\"typ\":\"x\"}"), &err), MCP_EVERIFY);
    /* Tampered payload: one character changed. */
    t = apr_pstrdup(tp, jws);
    t[strchr(t, '.') - t + 2] ^= 1;
    ck_assert_int_ne(verify(set, t, &err), APR_SUCCESS);
    t = apr_pstrcat(tp, apr_pstrndup(tp, jws, (apr_size_t)(strchr(jws, '.') - jws) + 1),
                    b64("{\"sub\":\"admin\"}"), strrchr(jws, '.'), NULL);
    ck_assert_int_eq(verify(set, t, &err), MCP_EVERIFY);
    /* Tampered signature. */
    t = apr_pstrdup(tp, jws);
    t[strlen(t) - 5] = t[strlen(t) - 5] == 'A' ? 'B' : 'A';
    ck_assert_int_ne(verify(set, t, &err), APR_SUCCESS);
}
END_TEST

START_TEST(garbage_and_truncation)
{
    mcp_jose_key_t *k = jose_key(ec_key(), "k");
    mcp_jose_keyset_t *set = set_of(k);
    const char *jws, *err;
    static const char *garbage[] = {
        "", ".", "..", "...", "a.b.c", "a.b.c.d.e", "eyJ", "e30.e30.",
        "!!.!!.!!", "eyJhbGciOiJFUzI1NiJ9", "\xff\xfe.\x01.\x02",
    };
    apr_size_t i, len;
    mcp_jose_verified_t *v;

    ck_assert_status(mcp_jose_sign(&jws, tp, k, "at+jwt", "{}", 2, &err), APR_SUCCESS);
    len = strlen(jws);
    for (i = 0; i < len; i++) {
        ck_assert_int_ne(mcp_jose_verify(&v, tp, set, jws, i, &err), APR_SUCCESS);
    }
    for (i = 0; i < sizeof(garbage) / sizeof(garbage[0]); i++) {
        ck_assert_int_ne(verify(set, garbage[i], &err), APR_SUCCESS);
        ck_assert_ptr_nonnull(err);
    }
    ck_assert_int_eq(mcp_jose_verify(&v, tp, set, NULL, 0, &err), MCP_EPARSE);
    {
        char *big = apr_palloc(tp, MCP_JOSE_MAX_JWS + 2);
        memset(big, 'A', MCP_JOSE_MAX_JWS + 1);
        big[MCP_JOSE_MAX_JWS + 1] = '\0';
        ck_assert_int_eq(verify(set, big, &err), MCP_ETOOLARGE);
    }
}
END_TEST

/* Random damage to a good token, with a fixed seed so a failure repeats:
 * never accepted, never a crash. Bounded to a fixed number of rounds. */
START_TEST(random_mutations)
{
    mcp_jose_key_t *k = jose_key(ec_key(), "k");
    mcp_jose_keyset_t *set = set_of(k);
    const char *jws, *err;
    apr_uint32_t seed = 12345;
    apr_size_t len;
    int round;
    static const char chars[] = "AZaz09-_.=+/ \x00\xff{}\"";
    apr_pool_t *scratch;

    ck_assert_status(mcp_jose_sign(&jws, tp, k, "at+jwt", "{\"sub\":\"alice\"}", 15, &err),
                     APR_SUCCESS);
    len = strlen(jws);
    apr_pool_create(&scratch, tp);
    for (round = 0; round < 3000; round++) {
        char *t = apr_pstrmemdup(scratch, jws, len);
        apr_size_t tlen = len;
        int edits = 1 + round % 3, e;
        mcp_jose_verified_t *v;

        for (e = 0; e < edits; e++) {
            apr_size_t pos;

            seed = seed * 1103515245u + 12345u;
            pos = (seed >> 8) % tlen;
            seed = seed * 1103515245u + 12345u;
            switch ((seed >> 8) % 3) {
            case 0:     /* replace */
                t[pos] = chars[(seed >> 16) % (sizeof(chars) - 1)];
                break;
            case 1:     /* delete */
                memmove(t + pos, t + pos + 1, tlen - pos);
                tlen--;
                break;
            default:    /* flip a bit */
                t[pos] ^= (char)(1 << ((seed >> 16) % 8));
                break;
            }
        }
        if (tlen == len && !memcmp(t, jws, len)) {
            continue;
        }
        ck_assert_msg(mcp_jose_verify(&v, scratch, set, t, tlen, &err) != APR_SUCCESS,
                      "mutation %d accepted", round);
        apr_pool_clear(scratch);
    }
}
END_TEST

/* One key and one set shared by several threads, as under the event MPM:
 * each thread signs and verifies in its own pool. */
#define THREADS 4
#define ROUNDS 50

typedef struct {
    const mcp_jose_key_t *key;
    const mcp_jose_keyset_t *set;
    apr_pool_t *pool;
    int ok;
} worker_t;

static void *APR_THREAD_FUNC worker(apr_thread_t *thd, void *data)
{
    worker_t *w = data;
    int i;

    for (i = 0; i < ROUNDS; i++) {
        const char *jws, *err = NULL;
        const char *msg = apr_psprintf(w->pool, "{\"n\":%d}", i);
        mcp_jose_verified_t *v;

        if (mcp_jose_sign(&jws, w->pool, w->key, "at+jwt", msg, strlen(msg), &err)
            == APR_SUCCESS
            && mcp_jose_verify(&v, w->pool, w->set, jws, strlen(jws), &err) == APR_SUCCESS
            && !strcmp(v->payload, msg)) {
            w->ok++;
        }
        apr_pool_clear(w->pool);
    }
    /* A plain return: apr_thread_exit() unwinds in a way ASan misreads. */
    return NULL;
}

START_TEST(threads_share_keys)
{
    mcp_jose_key_t *k = jose_key(ec_key(), "k");
    mcp_jose_keyset_t *set = set_of(k);
    apr_thread_t *thd[THREADS];
    worker_t w[THREADS];
    apr_status_t trv;
    int i;

    for (i = 0; i < THREADS; i++) {
        w[i].key = k;
        w[i].set = set;
        w[i].ok = 0;
        ck_assert_int_eq(apr_pool_create(&w[i].pool, tp), APR_SUCCESS);
    }
    for (i = 0; i < THREADS; i++) {
        ck_assert_int_eq(apr_thread_create(&thd[i], NULL, worker, &w[i], tp), APR_SUCCESS);
    }
    for (i = 0; i < THREADS; i++) {
        apr_thread_join(&trv, thd[i]);
        ck_assert_int_eq(w[i].ok, ROUNDS);
    }
}
END_TEST

static Suite *jose_suite(void)
{
    Suite *s = suite_create("jose");
    TCase *tc = mcp_tcase("jose");

    tcase_add_test(tc, sign_and_verify);
    tcase_add_test(tc, sign_low_s_only);
    tcase_add_test(tc, signature_range);
    tcase_add_test(tc, rfc7515_a3_high_s);
    tcase_add_test(tc, jwks_export_and_parse);
    tcase_add_test(tc, jwks_skips_off_curve_key);
    tcase_add_test(tc, alg_pinned);
    tcase_add_test(tc, wrong_key_and_tampering);
    tcase_add_test(tc, garbage_and_truncation);
    tcase_add_test(tc, random_mutations);
    tcase_add_test(tc, threads_share_keys);
    suite_add_tcase(s, tc);
    return s;
}

MCP_TEST_MAIN(jose_suite)
