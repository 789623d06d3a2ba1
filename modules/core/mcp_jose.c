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

/* JWS and JWK mechanics over cjose: the only file that includes it. The
 * protected header is read and judged with our own JSON code before cjose
 * sees the token, so the algorithm is pinned by us, not by the token. */

#include <string.h>

#include <apr_strings.h>
#include <cjose/cjose.h>

#include "mcp/mcp_b64.h"
#include "mcp/mcp_jose.h"

struct mcp_jose_key_t {
    cjose_jwk_t *jwk;
    const char *kid;
    int is_private;
    unsigned char x[MCP_EC_COORD_LEN];
    unsigned char y[MCP_EC_COORD_LEN];
};

struct mcp_jose_keyset_t {
    apr_pool_t *pool;
    apr_array_header_t *keys;   /* const mcp_jose_key_t * */
};

/* An ES256 signature is R | S, two 32-byte big-endian numbers. */
#define ES256_SIG_LEN (2 * MCP_EC_COORD_LEN)

/* n, the order of the P-256 group (SEC 2, FIPS 186-4 D.1.2.3), and n/2
 * rounded down. */
static const unsigned char p256_n[MCP_EC_COORD_LEN] = {
    0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17, 0x9e, 0x84,
    0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51
};
static const unsigned char p256_half_n[MCP_EC_COORD_LEN] = {
    0x7f, 0xff, 0xff, 0xff, 0x80, 0x00, 0x00, 0x00,
    0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xde, 0x73, 0x7d, 0x56, 0xd3, 0x8b, 0xcf, 0x42,
    0x79, 0xdc, 0xe5, 0x61, 0x7e, 0x31, 0x92, 0xa8
};

static apr_status_t jwk_release(void *data)
{
    mcp_jose_key_t *k = data;

    if (k->jwk) {
        cjose_jwk_release(k->jwk);
        k->jwk = NULL;
    }
    return APR_SUCCESS;
}

static const char *cjose_msg(apr_pool_t *p, const cjose_err *err)
{
    return apr_pstrdup(p, err->message ? err->message : "cjose error");
}

/* Build a key from raw coordinates; @d may be NULL (public key). */
static apr_status_t key_from_coords(mcp_jose_key_t **pkey, apr_pool_t *p,
                                    const unsigned char *x,
                                    const unsigned char *y,
                                    const unsigned char *d, const char *kid,
                                    const char **perr)
{
    mcp_jose_key_t *k = apr_pcalloc(p, sizeof(*k));
    cjose_jwk_ec_keyspec spec;
    cjose_err err;

    memcpy(k->x, x, MCP_EC_COORD_LEN);
    memcpy(k->y, y, MCP_EC_COORD_LEN);
    memset(&spec, 0, sizeof(spec));
    spec.crv = CJOSE_JWK_EC_P_256;
    spec.x = k->x;
    spec.xlen = MCP_EC_COORD_LEN;
    spec.y = k->y;
    spec.ylen = MCP_EC_COORD_LEN;
    if (d) {
        spec.d = (uint8_t *)d;
        spec.dlen = MCP_EC_COORD_LEN;
    }
    memset(&err, 0, sizeof(err));
    k->jwk = cjose_jwk_create_EC_spec(&spec, &err);
    if (!k->jwk) {
        if (perr) {
            *perr = apr_psprintf(p, "not a valid P-256 key: %s", cjose_msg(p, &err));
        }
        return MCP_EINVALID;
    }
    apr_pool_cleanup_register(p, k, jwk_release, apr_pool_cleanup_null);
    k->is_private = d != NULL;
    k->kid = kid ? apr_pstrdup(p, kid) : mcp_jose_key_thumbprint(p, k);
    if (!cjose_jwk_set_kid(k->jwk, k->kid, strlen(k->kid), &err)) {
        if (perr) {
            *perr = cjose_msg(p, &err);
        }
        return APR_EGENERAL;
    }
    *pkey = k;
    return APR_SUCCESS;
}

apr_status_t mcp_jose_key_from_ec(mcp_jose_key_t **pkey, apr_pool_t *p,
                                  const mcp_ec_key_t *ec, const char *kid,
                                  const char **perr)
{
    unsigned char x[MCP_EC_COORD_LEN], y[MCP_EC_COORD_LEN], d[MCP_EC_COORD_LEN];
    apr_status_t rv;

    rv = mcp_ec_key_coords(ec, x, y, d);
    if (rv != APR_SUCCESS) {
        if (perr) {
            *perr = "cannot read the EC key's coordinates";
        }
        return rv;
    }
    rv = key_from_coords(pkey, p, x, y, d, kid, perr);
    /* Our copy of d is wiped here. cjose's are out of our reach: it turns
     * d into a temporary BIGNUM that it releases with BN_free(), not
     * BN_clear_free(), after EC_KEY_set_private_key() has copied it, and
     * keeps that EC_KEY in the cjose_jwk_t until cjose_jwk_release()
     * (our pool cleanup), where OpenSSL's EC_KEY_free() clears it. */
    mcp_crypto_wipe(d, sizeof(d));
    return rv;
}

const char *mcp_jose_key_kid(const mcp_jose_key_t *key)
{
    return key->kid;
}

int mcp_jose_key_is_private(const mcp_jose_key_t *key)
{
    return key->is_private;
}

const char *mcp_jose_key_thumbprint(apr_pool_t *p, const mcp_jose_key_t *key)
{
    /* RFC 7638 §3.2: required members only, sorted, no whitespace; the
     * base64url values need no JSON escaping. */
    const char *canon = apr_psprintf(p,
        "{\"crv\":\"P-256\",\"kty\":\"EC\",\"x\":\"%s\",\"y\":\"%s\"}",
        mcp_b64url_encode(p, key->x, MCP_EC_COORD_LEN),
        mcp_b64url_encode(p, key->y, MCP_EC_COORD_LEN));

    return mcp_crypto_sha256_b64url(p, canon, strlen(canon));
}

apr_status_t mcp_jose_keyset_create(mcp_jose_keyset_t **pset, apr_pool_t *p)
{
    mcp_jose_keyset_t *set = apr_palloc(p, sizeof(*set));

    set->pool = p;
    set->keys = apr_array_make(p, 2, sizeof(const mcp_jose_key_t *));
    *pset = set;
    return APR_SUCCESS;
}

apr_status_t mcp_jose_keyset_add(mcp_jose_keyset_t *set,
                                 const mcp_jose_key_t *key)
{
    if (mcp_jose_keyset_find(set, key->kid)) {
        return MCP_ECONFLICT;
    }
    APR_ARRAY_PUSH(set->keys, const mcp_jose_key_t *) = key;
    return APR_SUCCESS;
}

int mcp_jose_keyset_count(const mcp_jose_keyset_t *set)
{
    return set->keys->nelts;
}

const mcp_jose_key_t *mcp_jose_keyset_get(const mcp_jose_keyset_t *set, int i)
{
    if (i < 0 || i >= set->keys->nelts) {
        return NULL;
    }
    return APR_ARRAY_IDX(set->keys, i, const mcp_jose_key_t *);
}

const mcp_jose_key_t *mcp_jose_keyset_find(const mcp_jose_keyset_t *set,
                                           const char *kid)
{
    int i;

    if (!kid) {
        return NULL;
    }
    for (i = 0; i < set->keys->nelts; i++) {
        const mcp_jose_key_t *k = APR_ARRAY_IDX(set->keys, i, const mcp_jose_key_t *);
        if (!strcmp(k->kid, kid)) {
            return k;
        }
    }
    return NULL;
}

const char *mcp_jose_jwks_json(apr_pool_t *p, const mcp_jose_keyset_t *set)
{
    mcp_json_t *doc = mcp_json_object(p), *keys = mcp_json_array(p);
    int i;

    for (i = 0; i < set->keys->nelts; i++) {
        const mcp_jose_key_t *k = APR_ARRAY_IDX(set->keys, i, const mcp_jose_key_t *);
        mcp_json_t *jwk = mcp_json_object(p);

        /* Built member by member from the public coordinates, so a
         * private member cannot slip in. */
        mcp_json_set_str(jwk, "kty", "EC");
        mcp_json_set_str(jwk, "crv", "P-256");
        mcp_json_set_str(jwk, "x", mcp_b64url_encode(p, k->x, MCP_EC_COORD_LEN));
        mcp_json_set_str(jwk, "y", mcp_b64url_encode(p, k->y, MCP_EC_COORD_LEN));
        mcp_json_set_str(jwk, "kid", k->kid);
        mcp_json_set_str(jwk, "use", "sig");
        mcp_json_set_str(jwk, "alg", MCP_JOSE_ALG);
        mcp_json_append(keys, jwk);
    }
    mcp_json_set(doc, "keys", keys);
    return mcp_json_dump(p, doc, MCP_JSON_FMT_COMPACT, NULL);
}

/* A base64url member decoding to exactly 32 bytes. */
static int coord_member(apr_pool_t *p, const mcp_json_t *jwk, const char *name,
                        unsigned char **pout)
{
    const char *s = mcp_json_get_str(p, jwk, name);
    apr_size_t n;

    return s && mcp_b64url_decode(pout, &n, p, s, (apr_size_t)-1) == APR_SUCCESS
        && n == MCP_EC_COORD_LEN;
}

apr_status_t mcp_jose_jwks_parse(mcp_jose_keyset_t **pset, apr_pool_t *p,
                                 const char *json, apr_size_t len,
                                 const char **perr)
{
    mcp_json_limits_t lim = { 1024 * 1024, 8, 0 };
    mcp_json_t *doc, *keys;
    mcp_jose_keyset_t *set;
    apr_size_t i;
    apr_status_t rv;

    rv = mcp_json_parse(&doc, p, json, len, &lim, perr);
    if (rv != APR_SUCCESS) {
        return rv;
    }
    keys = mcp_json_get(p, doc, "keys");
    if (!mcp_json_is_array(keys)) {
        if (perr) {
            *perr = "a JWK Set needs a \"keys\" array";
        }
        return MCP_EINVALID;
    }
    mcp_jose_keyset_create(&set, p);
    for (i = 0; i < mcp_json_size(keys); i++) {
        mcp_json_t *jwk = mcp_json_array_get(p, keys, i);
        const char *kty = mcp_json_get_str(p, jwk, "kty");
        const char *crv = mcp_json_get_str(p, jwk, "crv");
        const char *kid = mcp_json_get_str(p, jwk, "kid");
        unsigned char *x, *y;
        mcp_jose_key_t *k;

        const char *use = mcp_json_get_str(p, jwk, "use");
        const char *alg = mcp_json_get_str(p, jwk, "alg");

        /* Only what can verify ES256: symmetric ("oct") and RSA keys are
         * never taken, nor keys marked for encryption or another alg. */
        if (!kty || strcmp(kty, "EC") || !crv || strcmp(crv, "P-256") || !kid
            || (mcp_json_has(jwk, "use") && (!use || strcmp(use, "sig")))
            || (mcp_json_has(jwk, "alg") && (!alg || strcmp(alg, MCP_JOSE_ALG)))
            || !coord_member(p, jwk, "x", &x) || !coord_member(p, jwk, "y", &y)) {
            continue;
        }
        /* A point that is not on the curve (or a coordinate beyond the
         * field) cannot verify anything either: skip that key, as for
         * other kinds, so one bad entry does not hide the good ones. */
        if (key_from_coords(&k, p, x, y, NULL, kid, NULL) != APR_SUCCESS) {
            continue;
        }
        if (mcp_jose_keyset_add(set, k) != APR_SUCCESS) {
            if (perr) {
                *perr = apr_psprintf(p, "kid '%s' appears twice", kid);
            }
            return MCP_EINVALID;
        }
    }
    if (!mcp_jose_keyset_count(set)) {
        if (perr) {
            *perr = "the JWK Set holds no usable EC P-256 key with a kid";
        }
        return MCP_EINVALID;
    }
    *pset = set;
    return APR_SUCCESS;
}

static int is_zero(const unsigned char v[MCP_EC_COORD_LEN])
{
    unsigned char acc = 0;
    int i;

    for (i = 0; i < MCP_EC_COORD_LEN; i++) {
        acc |= v[i];
    }
    return acc == 0;
}

/* out = a - b for 256-bit big-endian numbers with a >= b; @out may be @b. */
static void sub256(unsigned char out[MCP_EC_COORD_LEN],
                   const unsigned char a[MCP_EC_COORD_LEN],
                   const unsigned char b[MCP_EC_COORD_LEN])
{
    unsigned int borrow = 0;
    int i;

    for (i = MCP_EC_COORD_LEN - 1; i >= 0; i--) {
        unsigned int d = (unsigned int)a[i] - b[i] - borrow;

        out[i] = (unsigned char)d;
        borrow = (d >> 8) & 1;
    }
}

/* Why R | S is not a canonical ES256 signature, or NULL. ECDSA needs
 * 0 < R < n and 0 < S < n; and since (R, S) and (R, n - S) both verify,
 * only the low one, S <= n/2, is taken, so that a token has one valid
 * form. R and S are public: plain comparisons will do. */
static const char *sig_range_error(const unsigned char sig[ES256_SIG_LEN])
{
    const unsigned char *r = sig, *s = sig + MCP_EC_COORD_LEN;

    if (is_zero(r) || memcmp(r, p256_n, MCP_EC_COORD_LEN) >= 0) {
        return "the ES256 signature's R is out of range";
    }
    if (is_zero(s) || memcmp(s, p256_n, MCP_EC_COORD_LEN) >= 0) {
        return "the ES256 signature's S is out of range";
    }
    if (memcmp(s, p256_half_n, MCP_EC_COORD_LEN) > 0) {
        return "the ES256 signature has a high S (above n/2): not canonical";
    }
    return NULL;
}

/* The compact JWS @ser with its signature in low-S form. cjose signs with
 * OpenSSL's ECDSA, whose S is above n/2 half of the time: such an S is
 * replaced by n - S, which verifies as well. */
static apr_status_t low_s_jws(const char **pjws, apr_pool_t *p,
                              const char *ser)
{
    const char *dot = strrchr(ser, '.');
    unsigned char *sig;
    apr_size_t n;

    if (!dot || mcp_b64url_decode(&sig, &n, p, dot + 1, (apr_size_t)-1)
                != APR_SUCCESS
        || n != ES256_SIG_LEN) {
        return APR_EGENERAL;
    }
    if (memcmp(sig + MCP_EC_COORD_LEN, p256_half_n, MCP_EC_COORD_LEN) > 0) {
        sub256(sig + MCP_EC_COORD_LEN, p256_n, sig + MCP_EC_COORD_LEN);
        ser = apr_pstrcat(p, apr_pstrmemdup(p, ser,
                                            (apr_size_t)(dot + 1 - ser)),
                          mcp_b64url_encode(p, sig, ES256_SIG_LEN), NULL);
    }
    else {
        ser = apr_pstrdup(p, ser);
    }
    /* Never hand out what our verifier would refuse. */
    if (sig_range_error(sig)) {
        return APR_EGENERAL;
    }
    *pjws = ser;
    return APR_SUCCESS;
}

apr_status_t mcp_jose_sign(const char **pjws, apr_pool_t *p,
                           const mcp_jose_key_t *key, const char *typ,
                           const void *payload, apr_size_t len,
                           const char **perr)
{
    cjose_header_t *hdr;
    cjose_jws_t *jws = NULL;
    cjose_err err;
    const char *ser = NULL;
    apr_status_t rv = APR_EGENERAL;

    if (!key->is_private) {
        if (perr) {
            *perr = "a public key cannot sign";
        }
        return MCP_EINVALID;
    }
    memset(&err, 0, sizeof(err));
    hdr = cjose_header_new(&err);
    if (hdr
        && cjose_header_set(hdr, CJOSE_HDR_ALG, CJOSE_HDR_ALG_ES256, &err)
        && cjose_header_set(hdr, CJOSE_HDR_KID, key->kid, &err)
        && (!typ || cjose_header_set(hdr, "typ", typ, &err))
        && (jws = cjose_jws_sign(key->jwk, hdr, payload, len, &err)) != NULL
        && cjose_jws_export(jws, &ser, &err)) {
        rv = low_s_jws(pjws, p, ser);
        if (rv != APR_SUCCESS && perr) {
            *perr = "signing failed: cjose made no valid ES256 signature";
        }
    }
    else if (perr) {
        *perr = apr_psprintf(p, "signing failed: %s", cjose_msg(p, &err));
    }
    cjose_jws_release(jws);
    cjose_header_release(hdr);
    return rv;
}

static apr_status_t verify_fail(const char **perr, const char *msg,
                                apr_status_t rv)
{
    if (perr) {
        *perr = msg;
    }
    return rv;
}

apr_status_t mcp_jose_verify(mcp_jose_verified_t **pv, apr_pool_t *p,
                             const mcp_jose_keyset_t *set,
                             const char *jws, apr_size_t len,
                             const char **perr)
{
    mcp_json_limits_t lim = { 8192, 4, 0 };
    const char *dot1, *dot2, *alg, *kid, *msg;
    unsigned char *raw;
    apr_size_t rawlen;
    mcp_json_t *hdr;
    const mcp_jose_key_t *key;
    mcp_jose_verified_t *v;
    cjose_jws_t *cj;
    cjose_err err;
    uint8_t *plain = NULL;
    size_t plain_len = 0;
    apr_status_t rv;

    if (!jws) {
        return verify_fail(perr, "no token", MCP_EPARSE);
    }
    if (len > MCP_JOSE_MAX_JWS) {
        return verify_fail(perr, "the token is too large", MCP_ETOOLARGE);
    }
    /* Exactly three parts: header.payload.signature. */
    dot1 = memchr(jws, '.', len);
    dot2 = dot1 ? memchr(dot1 + 1, '.', len - (apr_size_t)(dot1 + 1 - jws)) : NULL;
    if (!dot1 || !dot2 || memchr(dot2 + 1, '.', len - (apr_size_t)(dot2 + 1 - jws))) {
        return verify_fail(perr, "not a compact JWS (needs three parts)", MCP_EPARSE);
    }
    if (mcp_b64url_decode(&raw, &rawlen, p, jws, (apr_size_t)(dot1 - jws)) != APR_SUCCESS) {
        return verify_fail(perr, "the JWS header is not base64url", MCP_EPARSE);
    }
    if (mcp_json_parse(&hdr, p, (const char *)raw, rawlen, &lim, NULL) != APR_SUCCESS
        || !mcp_json_is_object(hdr)) {
        return verify_fail(perr, "the JWS header is not a JSON object", MCP_EPARSE);
    }
    alg = mcp_json_get_str(p, hdr, "alg");
    if (!alg || strcmp(alg, MCP_JOSE_ALG)) {
        return verify_fail(perr, apr_psprintf(p, "JWS algorithm '%s' is not "
                                              "accepted (only " MCP_JOSE_ALG ")",
                                              alg ? alg : "(missing)"),
                           MCP_EVERIFY);
    }
    if (mcp_json_has(hdr, "crit")) {
        return verify_fail(perr, "JWS critical header parameters are not "
                           "supported", MCP_EVERIFY);
    }
    kid = mcp_json_get_str(p, hdr, "kid");
    if (kid) {
        key = mcp_jose_keyset_find(set, kid);
    }
    else if (mcp_json_has(hdr, "kid")) {
        key = NULL;
    }
    else {
        key = mcp_jose_keyset_count(set) == 1 ? mcp_jose_keyset_get(set, 0) : NULL;
    }
    if (!key) {
        return verify_fail(perr, "no key for the JWS key id", MCP_EVERIFY);
    }
    /* The payload and signature must be canonical base64url too. */
    if (mcp_b64url_decode(&raw, &rawlen, p, dot1 + 1,
                          (apr_size_t)(dot2 - dot1 - 1)) != APR_SUCCESS
        || mcp_b64url_decode(&raw, &rawlen, p, dot2 + 1,
                             len - (apr_size_t)(dot2 + 1 - jws)) != APR_SUCCESS
        || rawlen != ES256_SIG_LEN) {
        return verify_fail(perr, "the JWS payload or signature is malformed",
                           MCP_EPARSE);
    }
    msg = sig_range_error(raw);
    if (msg) {
        return verify_fail(perr, msg, MCP_EVERIFY);
    }

    memset(&err, 0, sizeof(err));
    cj = cjose_jws_import(jws, len, &err);
    if (!cj) {
        return verify_fail(perr, apr_psprintf(p, "not a JWS: %s", cjose_msg(p, &err)),
                           MCP_EPARSE);
    }
    if (!cjose_jws_verify(cj, key->jwk, &err)) {
        cjose_jws_release(cj);
        return verify_fail(perr, "the JWS signature does not verify", MCP_EVERIFY);
    }
    rv = APR_SUCCESS;
    v = apr_pcalloc(p, sizeof(*v));
    if (!cjose_jws_get_plaintext(cj, &plain, &plain_len, &err)) {
        rv = verify_fail(perr, "cannot read the JWS payload", MCP_EPARSE);
    }
    else {
        v->payload = apr_pstrmemdup(p, (const char *)plain, plain_len);
        v->payload_len = plain_len;
        v->kid = key->kid;
        v->typ = mcp_json_get_str(p, hdr, "typ");
        v->header = hdr;
        *pv = v;
    }
    cjose_jws_release(cj);
    return rv;
}
