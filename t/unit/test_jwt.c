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


/* RFC 9068 access tokens: the claims builder and the validator's policy
 * (typ, iss, aud, times with leeway and an injected clock, required claims
 * and their types), on real ES256 signatures from mcp_jose. */

#include <apr_strings.h>

#include "mcp_test.h"
#include "mcp/mcp_b64.h"
#include "mcp/mcp_crypto.h"
#include "mcp/mcp_jose.h"
#include "mcp/mcp_jwt.h"
#include "mcp/mcp_scope.h"

#define ISS "https://gw.example"
#define AUD "https://gw.example/mcp"
#define NOW 1800000000

static mcp_jose_key_t *test_key(const char *kid)
{
    mcp_ec_key_t *ec;
    mcp_jose_key_t *k;
    const char *err = NULL;

    ck_assert_status(mcp_ec_key_load_file(&ec, tp, MCP_TEST_DATA "/p256-pkcs8.pem", &err),
                     APR_SUCCESS);
    ck_assert_status(mcp_jose_key_from_ec(&k, tp, ec, kid, &err), APR_SUCCESS);
    return k;
}

static mcp_jose_key_t *fresh_key(const char *kid)
{
    mcp_ec_key_t *ec;
    mcp_jose_key_t *k;
    const char *err = NULL;

    ck_assert_status(mcp_ec_key_generate(&ec, tp), APR_SUCCESS);
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
    mcp_jwt_t *t = NULL;
    mcp_jwt_verify_opts_t o = opts(now);
    apr_status_t rv;

    *perr = NULL;
    rv = mcp_jwt_verify_access_token(&t, tp, set, tok, &o, perr);
    if (rv == APR_SUCCESS) {
        ck_assert_ptr_nonnull(t);
    }
    else {
        /* Every failure says why. */
        ck_assert_ptr_nonnull(*perr);
        ck_assert_ptr_null(t);
    }
    return rv;
}

static const char *b64(const char *s)
{
    return mcp_b64url_encode(tp, s, strlen(s));
}

/* Sign the claims JSON @json as it is, bypassing the builder. */
static const char *raw_token(const mcp_jose_key_t *k, const char *typ,
                             const char *json)
{
    const char *tok, *err = NULL;

    ck_assert_status(mcp_jose_sign(&tok, tp, k, typ, json, strlen(json), &err), APR_SUCCESS);
    return tok;
}

/* A well-formed claims set with member @name replaced by the JSON text
 * @value (or removed when @value is NULL), signed with typ at+jwt. */
static const char *variant(const mcp_jose_key_t *k, const char *name,
                           const char *value)
{
    static const char good[] =
        "{\"iss\":\"" ISS "\",\"sub\":\"alice\",\"aud\":\"" AUD "\","
        "\"client_id\":\"c\",\"jti\":\"id-1\",\"scope\":\"mcp\","
        "\"iat\":1800000000,\"exp\":1800000300}";
    mcp_json_t *c, *v;
    const char *err = NULL;

    ck_assert_status(mcp_json_parse(&c, tp, good, strlen(good), NULL, &err), APR_SUCCESS);
    if (value) {
        ck_assert_status(mcp_json_parse(&v, tp, value, strlen(value), NULL, &err),
                         APR_SUCCESS);
        mcp_json_set(c, name, v);
    }
    else {
        mcp_json_del(c, name);
    }
    return raw_token(k, MCP_JWT_TYP_AT, mcp_json_dump(tp, c, MCP_JSON_FMT_COMPACT, NULL));
}

START_TEST(roundtrip)
{
    mcp_jose_key_t *k = test_key("k");
    mcp_jwt_claims_t c = claims();
    mcp_jwt_verify_opts_t o = opts(NOW + 10);
    mcp_jwt_t *t;
    mcp_jose_verified_t *v;
    const char *tok, *tok2, *err = NULL;

    c.extra = mcp_json_object(tp);
    mcp_json_set_str(c.extra, "name", "Alice");
    mcp_json_set_int(c.extra, "auth_time", NOW - 60);
    ck_assert_status(mcp_jwt_sign_access_token(&tok, tp, k, &c, &err), APR_SUCCESS);
    ck_assert_status(mcp_jwt_verify_access_token(&t, tp, set_of(k), tok, &o, &err), APR_SUCCESS);
    ck_assert_str_eq(t->subject, "alice");
    ck_assert_str_eq(t->client_id, "client-123");
    ck_assert_str_eq(t->issuer, ISS);
    ck_assert_str_eq(t->scope, "mcp github:read");
    ck_assert_int_eq(t->exp, NOW + 300);
    ck_assert_int_eq(t->iat, NOW);
    ck_assert_int_eq(t->nbf, 0);
    /* The scopes as a set: sorted, whatever the claim's order. */
    ck_assert_int_eq(t->scopes->nelts, 2);
    ck_assert_str_eq(APR_ARRAY_IDX(t->scopes, 0, const char *), "github:read");
    ck_assert_str_eq(APR_ARRAY_IDX(t->scopes, 1, const char *), "mcp");
    ck_assert_int_eq(t->audiences->nelts, 1);
    ck_assert_str_eq(APR_ARRAY_IDX(t->audiences, 0, const char *), AUD);
    ck_assert_str_eq(mcp_json_get_str(tp, t->claims, "name"), "Alice");
    ck_assert_str_eq(t->kid, "k");
    /* A random jti (16 bytes) unless given; a new one per token. */
    ck_assert_uint_eq(strlen(t->jti), 22);
    ck_assert_status(mcp_jwt_sign_access_token(&tok2, tp, k, &c, &err), APR_SUCCESS);
    ck_assert_str_ne(tok, tok2);
    c.jti = "fixed-id";
    ck_assert_status(mcp_jwt_sign_access_token(&tok, tp, k, &c, &err), APR_SUCCESS);
    ck_assert_status(mcp_jwt_verify_access_token(&t, tp, set_of(k), tok, &o, &err), APR_SUCCESS);
    ck_assert_str_eq(t->jti, "fixed-id");
    /* The JWS header is what RFC 9068 asks for. */
    ck_assert_status(mcp_jose_verify(&v, tp, set_of(k), tok, strlen(tok), &err), APR_SUCCESS);
    ck_assert_str_eq(v->typ, "at+jwt");
    ck_assert_str_eq(mcp_json_get_str(tp, v->header, "alg"), "ES256");
    ck_assert_str_eq(mcp_json_get_str(tp, v->header, "kid"), "k");
}
END_TEST

START_TEST(builder_rules)
{
    mcp_jose_key_t *k = test_key("k");
    mcp_jwt_claims_t c = claims();
    mcp_jwt_verify_opts_t o = opts(NOW);
    mcp_jwt_t *t;
    const char *tok, *err = NULL;
    static const char *const reserved[] = {
        "iss", "sub", "aud", "client_id", "scope", "jti", "iat", "nbf", "exp"
    };
    int i;

    /* "extra" cannot replace a registered claim. */
    c.extra = mcp_json_object(tp);
    for (i = 0; i < 9; i++) {
        mcp_json_set_str(c.extra, reserved[i], "mallory");
    }
    c.jti = "j";
    ck_assert_status(mcp_jwt_sign_access_token(&tok, tp, k, &c, &err), APR_SUCCESS);
    ck_assert_status(mcp_jwt_verify_access_token(&t, tp, set_of(k), tok, &o, &err), APR_SUCCESS);
    ck_assert_str_eq(t->subject, "alice");
    ck_assert_str_eq(t->issuer, ISS);
    ck_assert_str_eq(t->client_id, "client-123");
    ck_assert_str_eq(t->jti, "j");
    ck_assert_int_eq(t->exp, NOW + 300);
    ck_assert_ptr_null(strstr(mcp_json_dump(tp, t->claims, MCP_JSON_FMT_COMPACT, NULL),
                              "mallory"));
    /* nbf is written when given; no scope means no claim. */
    c = claims();
    c.nbf = NOW - 5;
    c.scope = NULL;
    ck_assert_status(mcp_jwt_sign_access_token(&tok, tp, k, &c, &err), APR_SUCCESS);
    ck_assert_status(mcp_jwt_verify_access_token(&t, tp, set_of(k), tok, &o, &err), APR_SUCCESS);
    ck_assert_int_eq(t->nbf, NOW - 5);
    ck_assert_ptr_null(t->scope);
    ck_assert_int_eq(t->scopes->nelts, 0);
    ck_assert(!mcp_json_has(t->claims, "scope"));
    /* Required inputs. */
    c = claims();
    c.iss = NULL;
    ck_assert_int_eq(mcp_jwt_sign_access_token(&tok, tp, k, &c, &err), MCP_EINVALID);
    c = claims();
    c.sub = NULL;
    ck_assert_int_eq(mcp_jwt_sign_access_token(&tok, tp, k, &c, &err), MCP_EINVALID);
    c = claims();
    c.aud = NULL;
    ck_assert_int_eq(mcp_jwt_sign_access_token(&tok, tp, k, &c, &err), MCP_EINVALID);
    c = claims();
    c.client_id = NULL;
    ck_assert_int_eq(mcp_jwt_sign_access_token(&tok, tp, k, &c, &err), MCP_EINVALID);
    c = claims();
    c.exp = 0;
    ck_assert_int_eq(mcp_jwt_sign_access_token(&tok, tp, k, &c, &err), MCP_EINVALID);
    ck_assert_ptr_nonnull(strstr(err, "exp"));
    /* Not UTF-8. */
    c = claims();
    c.sub = "al\xffice";
    ck_assert_int_eq(mcp_jwt_sign_access_token(&tok, tp, k, &c, &err), MCP_EINVALID);
}
END_TEST

START_TEST(real_clock)
{
    mcp_jose_key_t *k = test_key("k");
    mcp_jwt_claims_t c = claims();
    mcp_jwt_verify_opts_t o = opts(0);
    mcp_jwt_t *t;
    const char *tok, *err = NULL;
    apr_int64_t now = apr_time_sec(apr_time_now());

    /* iat 0 means now, and now 0 in the options means the clock. */
    c.iat = 0;
    c.exp = now + 300;
    ck_assert_status(mcp_jwt_sign_access_token(&tok, tp, k, &c, &err), APR_SUCCESS);
    ck_assert_status(mcp_jwt_verify_access_token(&t, tp, set_of(k), tok, &o, &err), APR_SUCCESS);
    ck_assert_int_ge(t->iat, now);
    ck_assert_int_le(t->iat, now + 5);
    /* A token from the fixed test epoch is long expired by the clock. */
    c = claims();
    ck_assert_status(mcp_jwt_sign_access_token(&tok, tp, k, &c, &err), APR_SUCCESS);
    ck_assert_int_eq(mcp_jwt_verify_access_token(&t, tp, set_of(k), tok, &o, &err),
                     now >= NOW + 300 ? MCP_EEXPIRED : MCP_EINVALID);
}
END_TEST

START_TEST(times_and_leeway)
{
    mcp_jose_key_t *k = test_key("k");
    mcp_jose_keyset_t *set = set_of(k);
    mcp_jwt_claims_t c = claims();
    mcp_jwt_verify_opts_t o;
    mcp_jwt_t *t;
    const char *tok, *err = NULL;

    ck_assert_status(mcp_jwt_sign_access_token(&tok, tp, k, &c, &err), APR_SUCCESS);
    ck_assert_status(jwt_check(set, tok, NOW + 150, &err), APR_SUCCESS);
    ck_assert_status(jwt_check(set, tok, NOW + 300 + 29, &err), APR_SUCCESS);   /* leeway */
    ck_assert_int_eq(jwt_check(set, tok, NOW + 300 + 30, &err), MCP_EEXPIRED);
    ck_assert_ptr_nonnull(strstr(err, "expired"));
    ck_assert_int_eq(jwt_check(set, tok, NOW + 100000, &err), MCP_EEXPIRED);
    /* iat in the future beyond the leeway */
    ck_assert_int_eq(jwt_check(set, tok, NOW - 31, &err), MCP_EINVALID);
    ck_assert_ptr_nonnull(strstr(err, "iat"));
    ck_assert_status(jwt_check(set, tok, NOW - 30, &err), APR_SUCCESS);
    /* Without leeway: expired exactly at exp; a negative leeway is none. */
    o = opts(NOW + 300);
    o.leeway = 0;
    ck_assert_int_eq(mcp_jwt_verify_access_token(&t, tp, set, tok, &o, &err), MCP_EEXPIRED);
    o.now = NOW + 299;
    ck_assert_status(mcp_jwt_verify_access_token(&t, tp, set, tok, &o, &err), APR_SUCCESS);
    o.leeway = -1000;
    ck_assert_status(mcp_jwt_verify_access_token(&t, tp, set, tok, &o, &err), APR_SUCCESS);
    o.now = NOW + 300;
    ck_assert_int_eq(mcp_jwt_verify_access_token(&t, tp, set, tok, &o, &err), MCP_EEXPIRED);
    /* nbf: not valid yet, then valid (with leeway). */
    c.nbf = NOW + 100;
    ck_assert_status(mcp_jwt_sign_access_token(&tok, tp, k, &c, &err), APR_SUCCESS);
    ck_assert_int_eq(jwt_check(set, tok, NOW + 10, &err), MCP_EINVALID);
    ck_assert_ptr_nonnull(strstr(err, "nbf"));
    ck_assert_int_eq(jwt_check(set, tok, NOW + 69, &err), MCP_EINVALID);
    ck_assert_status(jwt_check(set, tok, NOW + 70, &err), APR_SUCCESS);
    ck_assert_status(jwt_check(set, tok, NOW + 100, &err), APR_SUCCESS);
}
END_TEST

START_TEST(extreme_times)
{
    mcp_jose_key_t *k = test_key("k");
    mcp_jose_keyset_t *set = set_of(k);
    const char *err = NULL;

    /* Huge values must not overflow anywhere (UBSan watches). */
    ck_assert_status(jwt_check(set, variant(k, "exp", "9223372036854775807"), NOW, &err),
                     APR_SUCCESS);
    ck_assert_int_eq(jwt_check(set, variant(k, "iat", "9223372036854775807"), NOW, &err),
                     MCP_EINVALID);
    ck_assert_int_eq(jwt_check(set, variant(k, "nbf", "9223372036854775807"), NOW, &err),
                     MCP_EINVALID);
    /* Out of the 64-bit range: not JSON we accept. */
    ck_assert_int_eq(jwt_check(set, raw_token(k, "at+jwt",
        "{\"iss\":\"" ISS "\",\"sub\":\"a\",\"aud\":\"" AUD "\",\"client_id\":\"c\","
        "\"jti\":\"j\",\"iat\":1800000000,\"exp\":99999999999999999999}"), NOW, &err),
                     MCP_EPARSE);
    ck_assert_int_eq(jwt_check(set, variant(k, "exp", "-1"), NOW, &err), MCP_EINVALID);
    ck_assert_int_eq(jwt_check(set, variant(k, "iat", "-5"), NOW, &err), MCP_EINVALID);
    ck_assert_int_eq(jwt_check(set, variant(k, "exp", "0"), NOW, &err), MCP_EEXPIRED);
    ck_assert_int_eq(jwt_check(set, variant(k, "exp", "1800000300.5"), NOW, &err),
                     MCP_EINVALID);
    ck_assert_int_eq(jwt_check(set, variant(k, "exp", "1e10"), NOW, &err), MCP_EINVALID);
    ck_assert_int_eq(jwt_check(set, variant(k, "exp", "true"), NOW, &err), MCP_EINVALID);
    ck_assert_int_eq(jwt_check(set, variant(k, "exp", "null"), NOW, &err), MCP_EINVALID);
}
END_TEST

START_TEST(typ_checked)
{
    mcp_jose_key_t *k = test_key("k");
    mcp_jose_keyset_t *set = set_of(k);
    const char *err = NULL;
    const char *good = "{\"iss\":\"" ISS "\",\"sub\":\"a\",\"aud\":\"" AUD "\","
                       "\"client_id\":\"c\",\"jti\":\"j\",\"iat\":1800000000,"
                       "\"exp\":1800000300}";

    ck_assert_status(jwt_check(set, raw_token(k, "at+jwt", good), NOW, &err), APR_SUCCESS);
    ck_assert_status(jwt_check(set, raw_token(k, "application/at+jwt", good), NOW, &err),
                     APR_SUCCESS);
    ck_assert_status(jwt_check(set, raw_token(k, "AT+JWT", good), NOW, &err), APR_SUCCESS);
    /* An ID token or a plain JWT is not an access token. */
    ck_assert_int_eq(jwt_check(set, raw_token(k, "JWT", good), NOW, &err), MCP_EINVALID);
    ck_assert_ptr_nonnull(strstr(err, "typ"));
    ck_assert_int_eq(jwt_check(set, raw_token(k, "jwt", good), NOW, &err), MCP_EINVALID);
    ck_assert_int_eq(jwt_check(set, raw_token(k, "at+jwt ", good), NOW, &err), MCP_EINVALID);
    ck_assert_int_eq(jwt_check(set, raw_token(k, "application/jwt", good), NOW, &err),
                     MCP_EINVALID);
    ck_assert_int_eq(jwt_check(set, raw_token(k, "", good), NOW, &err), MCP_EINVALID);
    ck_assert_int_eq(jwt_check(set, raw_token(k, NULL, good), NOW, &err), MCP_EINVALID);
}
END_TEST

START_TEST(issuer_and_audience)
{
    mcp_jose_key_t *k = test_key("k");
    mcp_jose_keyset_t *set = set_of(k);
    const char *err = NULL;

    /* iss: exact match (a trailing slash or case matters) */
    ck_assert_int_eq(jwt_check(set, variant(k, "iss", "\"" ISS "/\""), NOW, &err), MCP_EINVALID);
    ck_assert_ptr_nonnull(strstr(err, "issuer"));
    ck_assert_int_eq(jwt_check(set, variant(k, "iss", "\"HTTPS://gw.example\""), NOW, &err),
                     MCP_EINVALID);
    ck_assert_int_eq(jwt_check(set, variant(k, "iss", "\"https://evil.example\""), NOW, &err),
                     MCP_EINVALID);
    ck_assert_int_eq(jwt_check(set, variant(k, "iss", NULL), NOW, &err), MCP_EINVALID);
    ck_assert_int_eq(jwt_check(set, variant(k, "iss", "[\"" ISS "\"]"), NOW, &err),
                     MCP_EINVALID);
    /* aud: a string or an array that contains the resource */
    ck_assert_int_eq(jwt_check(set, variant(k, "aud", "\"https://other.example/mcp\""), NOW,
                               &err), MCP_EINVALID);
    ck_assert_ptr_nonnull(strstr(err, "aud"));
    ck_assert_int_eq(jwt_check(set, variant(k, "aud", "\"" AUD "/\""), NOW, &err),
                     MCP_EINVALID);
    ck_assert_int_eq(jwt_check(set, variant(k, "aud", "\"" ISS "\""), NOW, &err),
                     MCP_EINVALID);
    ck_assert_status(jwt_check(set, variant(k, "aud", "[\"x\",\"" AUD "\"]"), NOW, &err),
                     APR_SUCCESS);
    ck_assert_int_eq(jwt_check(set, variant(k, "aud", "[\"x\",\"y\"]"), NOW, &err),
                     MCP_EINVALID);
    ck_assert_int_eq(jwt_check(set, variant(k, "aud", "[]"), NOW, &err), MCP_EINVALID);
    ck_assert_int_eq(jwt_check(set, variant(k, "aud", "[1]"), NOW, &err), MCP_EINVALID);
    ck_assert_int_eq(jwt_check(set, variant(k, "aud", "[\"" AUD "\",1]"), NOW, &err),
                     MCP_EINVALID);
    ck_assert_int_eq(jwt_check(set, variant(k, "aud", "{\"a\":\"" AUD "\"}"), NOW, &err),
                     MCP_EINVALID);
    ck_assert_int_eq(jwt_check(set, variant(k, "aud", NULL), NOW, &err), MCP_EINVALID);
}
END_TEST

START_TEST(required_claims)
{
    mcp_jose_key_t *k = test_key("k");
    mcp_jose_keyset_t *set = set_of(k);
    const char *err = NULL;
    static const char *const required[] = { "sub", "client_id", "jti", "iat", "exp" };
    int i;

    ck_assert_status(jwt_check(set, variant(k, "x", "1"), NOW, &err), APR_SUCCESS);
    for (i = 0; i < 5; i++) {
        ck_assert_msg(jwt_check(set, variant(k, required[i], NULL), NOW, &err) == MCP_EINVALID,
                      "no %s accepted", required[i]);
    }
    /* Present, but of the wrong type or empty. */
    ck_assert_int_eq(jwt_check(set, variant(k, "sub", "\"\""), NOW, &err), MCP_EINVALID);
    ck_assert_int_eq(jwt_check(set, variant(k, "sub", "42"), NOW, &err), MCP_EINVALID);
    ck_assert_int_eq(jwt_check(set, variant(k, "client_id", "\"\""), NOW, &err), MCP_EINVALID);
    ck_assert_int_eq(jwt_check(set, variant(k, "client_id", "null"), NOW, &err), MCP_EINVALID);
    ck_assert_int_eq(jwt_check(set, variant(k, "jti", "7"), NOW, &err), MCP_EINVALID);
    ck_assert_int_eq(jwt_check(set, variant(k, "exp", "\"1800000300\""), NOW, &err),
                     MCP_EINVALID);
    ck_assert_int_eq(jwt_check(set, variant(k, "iat", "\"1800000000\""), NOW, &err),
                     MCP_EINVALID);
    ck_assert_int_eq(jwt_check(set, variant(k, "nbf", "\"1800000000\""), NOW, &err),
                     MCP_EINVALID);
    ck_assert_int_eq(jwt_check(set, variant(k, "scope", "[\"mcp\"]"), NOW, &err), MCP_EINVALID);
    ck_assert_ptr_nonnull(strstr(err, "scope"));
    ck_assert_int_eq(jwt_check(set, variant(k, "scope", "null"), NOW, &err), MCP_EINVALID);
    /* scope may be absent. */
    ck_assert_status(jwt_check(set, variant(k, "scope", NULL), NOW, &err), APR_SUCCESS);
    /* Claims that are not a JSON object. */
    ck_assert_int_eq(jwt_check(set, raw_token(k, "at+jwt", "[1,2]"), NOW, &err), MCP_EPARSE);
    ck_assert_int_eq(jwt_check(set, raw_token(k, "at+jwt", "\"alice\""), NOW, &err),
                     MCP_EPARSE);
    ck_assert_int_eq(jwt_check(set, raw_token(k, "at+jwt", "not json"), NOW, &err), MCP_EPARSE);
    ck_assert_int_eq(jwt_check(set, raw_token(k, "at+jwt", ""), NOW, &err), MCP_EPARSE);
    /* Duplicate claims are ambiguous: refused. */
    ck_assert_int_eq(jwt_check(set, raw_token(k, "at+jwt",
        "{\"iss\":\"" ISS "\",\"sub\":\"a\",\"sub\":\"admin\",\"aud\":\"" AUD "\","
        "\"client_id\":\"c\",\"jti\":\"j\",\"iat\":1800000000,\"exp\":1800000300}"),
                               NOW, &err), MCP_EPARSE);
}
END_TEST

START_TEST(signature_problems)
{
    mcp_jose_key_t *k = test_key("k");
    mcp_jose_keyset_t *set = set_of(k);
    mcp_jwt_claims_t c = claims();
    const char *tok, *err = NULL, *payload, *input;
    unsigned char mac[MCP_SHA256_LEN];

    ck_assert_status(mcp_jwt_sign_access_token(&tok, tp, k, &c, &err), APR_SUCCESS);
    payload = apr_pstrndup(tp, strchr(tok, '.') + 1,
                           (apr_size_t)(strrchr(tok, '.') - strchr(tok, '.') - 1));
    /* Another key claiming our kid. */
    ck_assert_status(mcp_jwt_sign_access_token(&tok, tp, fresh_key("k"), &c, &err),
                     APR_SUCCESS);
    ck_assert_int_eq(jwt_check(set, tok, NOW, &err), MCP_EVERIFY);
    /* An unknown kid. */
    ck_assert_status(mcp_jwt_sign_access_token(&tok, tp, fresh_key("other"), &c, &err),
                     APR_SUCCESS);
    ck_assert_int_eq(jwt_check(set, tok, NOW, &err), MCP_EVERIFY);
    /* alg none, with and without the empty signature part. */
    input = apr_pstrcat(tp, b64("{\"alg\":\"none\",\"typ\":\"at+jwt\"}"),
                        ".", payload, NULL);
    ck_assert_int_eq(jwt_check(set, apr_pstrcat(tp, input, ".", NULL), NOW, &err), MCP_EVERIFY);
    ck_assert_int_eq(jwt_check(set, input, NOW, &err), MCP_EPARSE);
    /* HS256 keyed with the public key's JWK Set. */
    input = apr_pstrcat(tp, b64("{\"alg\":\"HS256\",\"kid\":\"k\",\"typ\":\"at+jwt\"}"), ".",
                        payload, NULL);
    {
        const char *jwks = mcp_jose_jwks_json(tp, set);
        mcp_crypto_hmac_sha256(mac, jwks, strlen(jwks), input, strlen(input));
    }
    ck_assert_int_eq(jwt_check(set, apr_pstrcat(tp, input, ".",
                                                mcp_b64url_encode(tp, mac, sizeof(mac)), NULL),
                               NOW, &err), MCP_EVERIFY);
    ck_assert_ptr_nonnull(strstr(err, "HS256"));
    /* Garbage. */
    ck_assert_int_eq(jwt_check(set, "garbage", NOW, &err), MCP_EPARSE);
    ck_assert_int_eq(jwt_check(set, "", NOW, &err), MCP_EPARSE);
    ck_assert_int_eq(jwt_check(set, "a.b.c", NOW, &err), MCP_EPARSE);
    ck_assert_int_eq(jwt_check(set, NULL, NOW, &err), MCP_EPARSE);
}
END_TEST

START_TEST(every_prefix_and_suffix)
{
    mcp_jose_key_t *k = test_key("k");
    mcp_jose_keyset_t *set = set_of(k);
    mcp_jwt_claims_t c = claims();
    const char *tok, *err = NULL;
    apr_size_t i, len;

    ck_assert_status(mcp_jwt_sign_access_token(&tok, tp, k, &c, &err), APR_SUCCESS);
    len = strlen(tok);
    for (i = 0; i < len; i++) {
        ck_assert_msg(jwt_check(set, apr_pstrndup(tp, tok, i), NOW, &err) != APR_SUCCESS,
                      "prefix of %d accepted", (int)i);
    }
    for (i = 1; i <= len; i++) {
        ck_assert_msg(jwt_check(set, tok + i, NOW, &err) != APR_SUCCESS,
                      "suffix from %d accepted", (int)i);
    }
    /* Anything appended. */
    ck_assert_int_ne(jwt_check(set, apr_pstrcat(tp, tok, "A", NULL), NOW, &err), APR_SUCCESS);
    ck_assert_int_ne(jwt_check(set, apr_pstrcat(tp, tok, ".", NULL), NOW, &err), APR_SUCCESS);
    ck_assert_int_ne(jwt_check(set, apr_pstrcat(tp, tok, " ", NULL), NOW, &err), APR_SUCCESS);
    ck_assert_status(jwt_check(set, tok, NOW, &err), APR_SUCCESS);
}
END_TEST

START_TEST(verifier_options)
{
    mcp_jose_key_t *k = test_key("k");
    mcp_jwt_claims_t c = claims();
    mcp_jwt_verify_opts_t o = opts(NOW);
    mcp_jwt_t *t;
    const char *tok, *err = NULL;

    ck_assert_status(mcp_jwt_sign_access_token(&tok, tp, k, &c, &err), APR_SUCCESS);
    ck_assert_int_eq(mcp_jwt_verify_access_token(&t, tp, set_of(k), tok, NULL, &err),
                     APR_EINVAL);
    o.issuer = NULL;
    ck_assert_int_eq(mcp_jwt_verify_access_token(&t, tp, set_of(k), tok, &o, &err), APR_EINVAL);
    /* No audience: any audience (the AS's own revocation and
     * introspection), but one there must be, and well-formed. */
    o = opts(NOW);
    o.audience = NULL;
    ck_assert_int_eq(mcp_jwt_verify_access_token(&t, tp, set_of(k), tok, &o, &err),
                     APR_SUCCESS);
    ck_assert_str_eq(APR_ARRAY_IDX(t->audiences, 0, const char *), AUD);
    ck_assert_int_eq(mcp_jwt_verify_access_token(&t, tp, set_of(k),
                                                 variant(k, "aud", NULL), &o, &err),
                     MCP_EINVALID);
    ck_assert_int_eq(mcp_jwt_verify_access_token(&t, tp, set_of(k),
                                                 variant(k, "aud", "[]"), &o, &err),
                     MCP_EINVALID);
    ck_assert_int_eq(mcp_jwt_verify_access_token(&t, tp, set_of(k),
                                                 variant(k, "aud", "7"), &o, &err),
                     MCP_EINVALID);
    /* perr may be NULL. */
    o = opts(NOW + 1000);
    ck_assert_int_eq(mcp_jwt_verify_access_token(&t, tp, set_of(k), tok, &o, NULL),
                     MCP_EEXPIRED);
}
END_TEST

START_TEST(scope_claim)
{
    mcp_jose_key_t *k = test_key("k");
    mcp_jose_keyset_t *set = set_of(k);
    mcp_jwt_verify_opts_t o = opts(NOW);
    mcp_jwt_t *t;
    const char *err = NULL, *many = "\"";
    int i;

    /* Runs of spaces are one separator; duplicates count once. */
    ck_assert_status(mcp_jwt_verify_access_token(&t, tp, set,
                     variant(k, "scope", "\"  d  b:c a d \""), &o, &err), APR_SUCCESS);
    ck_assert_str_eq(t->scope, "  d  b:c a d ");
    ck_assert_str_eq(mcp_scope_join(tp, t->scopes), "a b:c d");
    ck_assert_status(mcp_jwt_verify_access_token(&t, tp, set,
                     variant(k, "scope", "\"   \""), &o, &err), APR_SUCCESS);
    ck_assert_int_eq(t->scopes->nelts, 0);
    ck_assert_status(mcp_jwt_verify_access_token(&t, tp, set,
                     variant(k, "scope", "\"\""), &o, &err), APR_SUCCESS);
    ck_assert_int_eq(t->scopes->nelts, 0);
    ck_assert_status(mcp_jwt_verify_access_token(&t, tp, set,
                     variant(k, "scope", NULL), &o, &err), APR_SUCCESS);
    ck_assert_ptr_nonnull(t->scopes);
    ck_assert_int_eq(t->scopes->nelts, 0);

    /* A scope string that is not a scope list: refused, not split some
     * way that Require mcp-scope would then trust. */
    ck_assert_int_eq(jwt_check(set, variant(k, "scope", "\"mcp\\tadmin\""), NOW, &err),
                     MCP_EINVALID);
    ck_assert_ptr_nonnull(strstr(err, "scope"));
    ck_assert_int_eq(jwt_check(set, variant(k, "scope", "\"mcp\\nadmin\""), NOW, &err),
                     MCP_EINVALID);
    ck_assert_int_eq(jwt_check(set, variant(k, "scope", "\"a\\\"b\""), NOW, &err),
                     MCP_EINVALID);
    ck_assert_int_eq(jwt_check(set, variant(k, "scope", "\"a\\\\b\""), NOW, &err),
                     MCP_EINVALID);
    ck_assert_int_eq(jwt_check(set, variant(k, "scope", "\"caf\\u00e9\""), NOW, &err),
                     MCP_EINVALID);
    ck_assert_int_eq(jwt_check(set, variant(k, "scope", "\"a\\u007f\""), NOW, &err),
                     MCP_EINVALID);
    for (i = 0; i <= MCP_SCOPE_MAX_TOKENS; i++) {
        many = apr_psprintf(tp, "%ss%d ", many, i);
    }
    ck_assert_int_eq(jwt_check(set, variant(k, "scope", apr_pstrcat(tp, many, "\"", NULL)),
                               NOW, &err), MCP_EINVALID);
}
END_TEST

static Suite *jwt_suite(void)
{
    Suite *s = suite_create("jwt");
    TCase *tc = mcp_tcase("jwt");

    tcase_add_test(tc, roundtrip);
    tcase_add_test(tc, builder_rules);
    tcase_add_test(tc, real_clock);
    tcase_add_test(tc, times_and_leeway);
    tcase_add_test(tc, extreme_times);
    tcase_add_test(tc, typ_checked);
    tcase_add_test(tc, issuer_and_audience);
    tcase_add_test(tc, required_claims);
    tcase_add_test(tc, signature_problems);
    tcase_add_test(tc, every_prefix_and_suffix);
    tcase_add_test(tc, verifier_options);
    tcase_add_test(tc, scope_claim);
    suite_add_tcase(s, tc);
    return s;
}

MCP_TEST_MAIN(jwt_suite)
