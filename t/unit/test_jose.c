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

/* JOSE and JWT tests. OpenSSL is used directly here (not in the core) to
 * check our signatures independently of cjose. */

#include <apr_strings.h>

#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/bn.h>

#include "mcp_test.h"
#include "mcp/mcp_b64.h"
#include "mcp/mcp_crypto.h"
#include "mcp/mcp_jose.h"
#include "mcp/mcp_jwt.h"

#define ISS "https://gw.example"
#define AUD "https://gw.example/mcp"
#define NOW 1800000000

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

/* ECDSA verification with plain OpenSSL, from the public key PEM. */
static int openssl_verifies(const mcp_ec_key_t *ec, const char *jws)
{
    const char *pem = mcp_ec_key_public_pem(tp, ec);
    const char *dot = strrchr(jws, '.');
    BIO *bio = BIO_new_mem_buf(pem, -1);
    EVP_PKEY *pk = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
    unsigned char *sig, *der = NULL;
    apr_size_t siglen;
    ECDSA_SIG *es = ECDSA_SIG_new();
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    int derlen, ok;

    ck_assert_status(mcp_b64url_decode(&sig, &siglen, tp, dot + 1, (apr_size_t)-1),
                     APR_SUCCESS);
    ck_assert_uint_eq(siglen, 64);
    ECDSA_SIG_set0(es, BN_bin2bn(sig, 32, NULL), BN_bin2bn(sig + 32, 32, NULL));
    derlen = i2d_ECDSA_SIG(es, &der);
    ok = EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, pk) == 1
        && EVP_DigestVerify(md, der, (size_t)derlen, (const unsigned char *)jws,
                            (size_t)(dot - jws)) == 1;
    OPENSSL_free(der);
    ECDSA_SIG_free(es);
    EVP_MD_CTX_free(md);
    EVP_PKEY_free(pk);
    BIO_free(bio);
    return ok;
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
    {
        const char *bad = "{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-256\",\"kid\":\"a\","
                          "\"x\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\","
                          "\"y\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\"}]}";
        /* (0,0) is not on the curve. */
        ck_assert_int_eq(mcp_jose_jwks_parse(&back, tp, bad, strlen(bad), &err), MCP_EINVALID);
    }
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

    /* HS256 forged with the public key as the HMAC secret, in each form an
     * attacker might try: PEM, JWK JSON, raw x|y. */
    {
        unsigned char x[32], y[32], xy[64];
        const char *secrets[3];
        int i;

        mcp_ec_key_coords(ec, x, y, NULL);
        memcpy(xy, x, 32);
        memcpy(xy + 32, y, 32);
        secrets[0] = mcp_ec_key_public_pem(tp, ec);
        secrets[1] = mcp_jose_jwks_json(tp, set);
        secrets[2] = apr_pstrmemdup(tp, (const char *)xy, 64);
        for (i = 0; i < 3; i++) {
            apr_size_t slen = i == 2 ? 64 : strlen(secrets[i]);
            input = apr_pstrcat(tp, b64("{\"alg\":\"HS256\",\"kid\":\"k\"}"), ".", payload, NULL);
            mcp_crypto_hmac_sha256(mac, secrets[i], slen, input, strlen(input));
            ck_assert_int_eq(verify(set, apr_pstrcat(tp, input, ".",
                                                     mcp_b64url_encode(tp, mac, 32), NULL),
                                    &err), MCP_EVERIFY);
            ck_assert_ptr_nonnull(strstr(err, "HS256"));
        }
    }
    /* Other algorithms named in the header. */
    ck_assert_int_eq(verify(set, with_header(jws, "{\"alg\":\"RS256\",\"kid\":\"k\"}"), &err),
                     MCP_EVERIFY);
    ck_assert_int_eq(verify(set, with_header(jws, "{\"alg\":\"PS256\",\"kid\":\"k\"}"), &err),
                     MCP_EVERIFY);
    ck_assert_int_eq(verify(set, with_header(jws, "{\"alg\":\"ES384\",\"kid\":\"k\"}"), &err),
                     MCP_EVERIFY);
    ck_assert_int_eq(verify(set, with_header(jws, "{\"alg\":\"es256\",\"kid\":\"k\"}"), &err),
                     MCP_EVERIFY);
    ck_assert_int_eq(verify(set, with_header(jws, "{\"kid\":\"k\"}"), &err), MCP_EVERIFY);
    ck_assert_int_eq(verify(set, with_header(jws, "{\"alg\":[\"ES256\"],\"kid\":\"k\"}"), &err),
                     MCP_EVERIFY);
    ck_assert_int_eq(verify(set, with_header(jws, "{\"alg\":\"ES256\",\"kid\":\"k\","
                                                  "\"crit\":[\"exp\"]}"), &err), MCP_EVERIFY);
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

/* ---- JWT access tokens -------------------------------------------- */

static mcp_jwt_claims_t claims(void)
{
    mcp_jwt_claims_t c;

    memset(&c, 0, sizeof(c));
    c.iss = ISS;
    c.sub = "alice";
    c.aud = AUD;
    c.client_id = "client-123";
    c.scope = "mcp github:read";
    c.iat = NOW;
    c.exp = NOW + 300;
    return c;
}

static mcp_jwt_verify_opts_t opts(apr_int64_t now)
{
    mcp_jwt_verify_opts_t o;

    o.issuer = ISS;
    o.audience = AUD;
    o.now = now;
    o.leeway = 30;
    return o;
}

static apr_status_t jwt_check(const mcp_jose_keyset_t *set, const char *tok,
                              apr_int64_t now, const char **perr)
{
    mcp_jwt_t *t;
    mcp_jwt_verify_opts_t o = opts(now);

    return mcp_jwt_verify_access_token(&t, tp, set, tok, &o, perr);
}

START_TEST(jwt_roundtrip)
{
    mcp_jose_key_t *k = jose_key(ec_key(), "k");
    mcp_jwt_claims_t c = claims();
    mcp_jwt_verify_opts_t o = opts(NOW + 10);
    mcp_jwt_t *t;
    const char *tok, *err = NULL;

    c.extra = mcp_json_object(tp);
    mcp_json_set_str(c.extra, "sub", "mallory");      /* cannot override */
    mcp_json_set_str(c.extra, "name", "Alice");
    ck_assert_status(mcp_jwt_sign_access_token(&tok, tp, k, &c, &err), APR_SUCCESS);
    ck_assert_status(mcp_jwt_verify_access_token(&t, tp, set_of(k), tok, &o, &err), APR_SUCCESS);
    ck_assert_str_eq(t->subject, "alice");
    ck_assert_str_eq(t->client_id, "client-123");
    ck_assert_str_eq(t->issuer, ISS);
    ck_assert_int_eq(t->exp, NOW + 300);
    ck_assert_int_eq(t->iat, NOW);
    ck_assert_int_eq(t->scopes->nelts, 2);
    ck_assert_str_eq(APR_ARRAY_IDX(t->scopes, 1, const char *), "github:read");
    ck_assert_str_eq(APR_ARRAY_IDX(t->audiences, 0, const char *), AUD);
    ck_assert_str_eq(mcp_json_get_str(tp, t->claims, "name"), "Alice");
    ck_assert_uint_ge(strlen(t->jti), 16);
    ck_assert_str_eq(t->kid, "k");
    /* Required claims for signing. */
    c.client_id = NULL;
    ck_assert_int_eq(mcp_jwt_sign_access_token(&tok, tp, k, &c, &err), MCP_EINVALID);
}
END_TEST

START_TEST(jwt_time)
{
    mcp_jose_key_t *k = jose_key(ec_key(), "k");
    mcp_jose_keyset_t *set = set_of(k);
    mcp_jwt_claims_t c = claims();
    const char *tok, *err = NULL;

    ck_assert_status(mcp_jwt_sign_access_token(&tok, tp, k, &c, &err), APR_SUCCESS);
    ck_assert_status(jwt_check(set, tok, NOW + 300 + 29, &err), APR_SUCCESS);   /* leeway */
    ck_assert_int_eq(jwt_check(set, tok, NOW + 300 + 30, &err), MCP_EEXPIRED);
    ck_assert_ptr_nonnull(strstr(err, "expired"));
    ck_assert_int_eq(jwt_check(set, tok, NOW + 100000, &err), MCP_EEXPIRED);
    /* iat in the future beyond the leeway */
    ck_assert_int_eq(jwt_check(set, tok, NOW - 31, &err), MCP_EINVALID);
    ck_assert_status(jwt_check(set, tok, NOW - 29, &err), APR_SUCCESS);
    /* nbf */
    c.nbf = NOW + 100;
    ck_assert_status(mcp_jwt_sign_access_token(&tok, tp, k, &c, &err), APR_SUCCESS);
    ck_assert_int_eq(jwt_check(set, tok, NOW + 10, &err), MCP_EINVALID);
    ck_assert_ptr_nonnull(strstr(err, "nbf"));
    ck_assert_status(jwt_check(set, tok, NOW + 100, &err), APR_SUCCESS);
}
END_TEST

/* Sign arbitrary claims JSON with typ at+jwt, bypassing the builder. */
static const char *raw_token(const mcp_jose_key_t *k, const char *typ,
                             const char *json)
{
    const char *tok, *err = NULL;

    ck_assert_status(mcp_jose_sign(&tok, tp, k, typ, json, strlen(json), &err), APR_SUCCESS);
    return tok;
}

START_TEST(jwt_claims_checked)
{
    mcp_jose_key_t *k = jose_key(ec_key(), "k");
    mcp_jose_keyset_t *set = set_of(k);
    const char *err = NULL;
    const char *good = "{\"iss\":\"" ISS "\",\"sub\":\"a\",\"aud\":\"" AUD "\","
                       "\"client_id\":\"c\",\"iat\":1800000000,\"exp\":1800000300}";

    ck_assert_status(jwt_check(set, raw_token(k, "at+jwt", good), NOW, &err), APR_SUCCESS);
    ck_assert_status(jwt_check(set, raw_token(k, "application/at+jwt", good), NOW, &err),
                     APR_SUCCESS);
    /* typ */
    ck_assert_int_eq(jwt_check(set, raw_token(k, "JWT", good), NOW, &err), MCP_EINVALID);
    ck_assert_ptr_nonnull(strstr(err, "typ"));
    ck_assert_int_eq(jwt_check(set, raw_token(k, NULL, good), NOW, &err), MCP_EINVALID);
    /* issuer: exact, trailing slash matters */
    ck_assert_int_eq(jwt_check(set, raw_token(k, "at+jwt",
        "{\"iss\":\"" ISS "/\",\"sub\":\"a\",\"aud\":\"" AUD "\",\"client_id\":\"c\","
        "\"iat\":1800000000,\"exp\":1800000300}"), NOW, &err), MCP_EINVALID);
    ck_assert_ptr_nonnull(strstr(err, "issuer"));
    /* audience: another resource; array containing ours is fine */
    ck_assert_int_eq(jwt_check(set, raw_token(k, "at+jwt",
        "{\"iss\":\"" ISS "\",\"sub\":\"a\",\"aud\":\"https://other/mcp\",\"client_id\":\"c\","
        "\"iat\":1800000000,\"exp\":1800000300}"), NOW, &err), MCP_EINVALID);
    ck_assert_ptr_nonnull(strstr(err, "aud"));
    ck_assert_status(jwt_check(set, raw_token(k, "at+jwt",
        "{\"iss\":\"" ISS "\",\"sub\":\"a\",\"aud\":[\"x\",\"" AUD "\"],\"client_id\":\"c\","
        "\"iat\":1800000000,\"exp\":1800000300}"), NOW, &err), APR_SUCCESS);
    ck_assert_int_eq(jwt_check(set, raw_token(k, "at+jwt",
        "{\"iss\":\"" ISS "\",\"sub\":\"a\",\"aud\":[1],\"client_id\":\"c\","
        "\"iat\":1800000000,\"exp\":1800000300}"), NOW, &err), MCP_EINVALID);
    /* missing or mistyped claims */
    ck_assert_int_eq(jwt_check(set, raw_token(k, "at+jwt",
        "{\"iss\":\"" ISS "\",\"aud\":\"" AUD "\",\"client_id\":\"c\","
        "\"iat\":1800000000,\"exp\":1800000300}"), NOW, &err), MCP_EINVALID);
    ck_assert_int_eq(jwt_check(set, raw_token(k, "at+jwt",
        "{\"iss\":\"" ISS "\",\"sub\":\"a\",\"aud\":\"" AUD "\","
        "\"iat\":1800000000,\"exp\":1800000300}"), NOW, &err), MCP_EINVALID);
    ck_assert_int_eq(jwt_check(set, raw_token(k, "at+jwt",
        "{\"iss\":\"" ISS "\",\"sub\":\"a\",\"aud\":\"" AUD "\",\"client_id\":\"c\","
        "\"iat\":1800000000}"), NOW, &err), MCP_EINVALID);
    ck_assert_int_eq(jwt_check(set, raw_token(k, "at+jwt",
        "{\"iss\":\"" ISS "\",\"sub\":\"a\",\"aud\":\"" AUD "\",\"client_id\":\"c\","
        "\"iat\":1800000000,\"exp\":\"1800000300\"}"), NOW, &err), MCP_EINVALID);
    ck_assert_int_eq(jwt_check(set, raw_token(k, "at+jwt",
        "{\"iss\":\"" ISS "\",\"sub\":\"a\",\"aud\":\"" AUD "\",\"client_id\":\"c\","
        "\"iat\":1800000000,\"exp\":1800000300,\"scope\":[\"mcp\"]}"), NOW, &err), MCP_EINVALID);
    ck_assert_int_eq(jwt_check(set, raw_token(k, "at+jwt", "[1,2]"), NOW, &err), MCP_EPARSE);
    ck_assert_int_eq(jwt_check(set, raw_token(k, "at+jwt", "not json"), NOW, &err), MCP_EPARSE);
    /* signature problems come through as MCP_EVERIFY */
    {
        mcp_ec_key_t *other;
        mcp_ec_key_generate(&other, tp);
        ck_assert_int_eq(jwt_check(set, raw_token(jose_key(other, "k"), "at+jwt", good), NOW,
                                   &err), MCP_EVERIFY);
    }
    ck_assert_int_eq(jwt_check(set, "garbage", NOW, &err), MCP_EPARSE);
    ck_assert_int_eq(jwt_check(set, NULL, NOW, &err), MCP_EPARSE);
}
END_TEST

START_TEST(split_scope)
{
    apr_array_header_t *a = mcp_jwt_split_scope(tp, "  a  b:c d ");

    ck_assert_int_eq(a->nelts, 3);
    ck_assert_str_eq(APR_ARRAY_IDX(a, 1, const char *), "b:c");
    ck_assert_int_eq(mcp_jwt_split_scope(tp, NULL)->nelts, 0);
    ck_assert_int_eq(mcp_jwt_split_scope(tp, "")->nelts, 0);
}
END_TEST

static Suite *jose_suite(void)
{
    Suite *s = suite_create("jose");
    TCase *tc = mcp_tcase("jose");

    tcase_add_test(tc, sign_and_verify);
    tcase_add_test(tc, jwks_export_and_parse);
    tcase_add_test(tc, alg_pinned);
    tcase_add_test(tc, wrong_key_and_tampering);
    tcase_add_test(tc, garbage_and_truncation);
    tcase_add_test(tc, jwt_roundtrip);
    tcase_add_test(tc, jwt_time);
    tcase_add_test(tc, jwt_claims_checked);
    tcase_add_test(tc, split_scope);
    suite_add_tcase(s, tc);
    return s;
}

MCP_TEST_MAIN(jose_suite)
