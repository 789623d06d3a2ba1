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

/* Claim policy for access tokens. No cjose or OpenSSL here: signatures
 * go through mcp_jose, randomness through mcp_crypto. */

#include <string.h>

#include <apr_strings.h>
#include <apr_time.h>

#include "mcp/mcp_crypto.h"
#include "mcp/mcp_jwt.h"
#include "mcp/mcp_scope.h"

/* Claims the caller's "extra" object may not replace. */
static const char *const reserved_claims[] = {
    "iss", "sub", "aud", "client_id", "scope", "jti", "iat", "nbf", "exp", NULL
};

static int is_reserved(const char *name)
{
    int i;

    for (i = 0; reserved_claims[i]; i++) {
        if (!strcmp(reserved_claims[i], name)) {
            return 1;
        }
    }
    return 0;
}

apr_status_t mcp_jwt_sign_access_token(const char **ptoken, apr_pool_t *p,
                                       const mcp_jose_key_t *key,
                                       const mcp_jwt_claims_t *c,
                                       const char **perr)
{
    mcp_json_t *claims;
    const char *jti = c->jti, *payload;
    apr_size_t len;
    apr_status_t rv;

    if (!c->iss || !c->sub || !c->aud || !c->client_id || c->exp <= 0) {
        if (perr) {
            *perr = "an access token needs iss, sub, aud, client_id and exp";
        }
        return MCP_EINVALID;
    }
    if (!jti && (rv = mcp_crypto_token(&jti, p, 16)) != APR_SUCCESS) {
        return rv;
    }
    claims = mcp_json_object(p);
    if (c->extra && mcp_json_is_object(c->extra)) {
        apr_array_header_t *names = mcp_json_keys(p, c->extra);
        int i;

        for (i = 0; i < names->nelts; i++) {
            const char *name = APR_ARRAY_IDX(names, i, const char *);
            if (!is_reserved(name)) {
                mcp_json_set(claims, name, mcp_json_get(p, c->extra, name));
            }
        }
    }
    if (mcp_json_set_str(claims, "iss", c->iss) != APR_SUCCESS
        || mcp_json_set_str(claims, "sub", c->sub) != APR_SUCCESS
        || mcp_json_set_str(claims, "aud", c->aud) != APR_SUCCESS
        || mcp_json_set_str(claims, "client_id", c->client_id) != APR_SUCCESS
        || (c->scope && mcp_json_set_str(claims, "scope", c->scope) != APR_SUCCESS)
        || mcp_json_set_str(claims, "jti", jti) != APR_SUCCESS) {
        if (perr) {
            *perr = "a claim is not valid UTF-8";
        }
        return MCP_EINVALID;
    }
    mcp_json_set_int(claims, "iat", c->iat ? c->iat : apr_time_sec(apr_time_now()));
    if (c->nbf) {
        mcp_json_set_int(claims, "nbf", c->nbf);
    }
    mcp_json_set_int(claims, "exp", c->exp);
    payload = mcp_json_dump(p, claims, MCP_JSON_FMT_COMPACT, &len);
    return mcp_jose_sign(ptoken, p, key, MCP_JWT_TYP_AT, payload, len, perr);
}

static apr_status_t claim_fail(const char **perr, const char *msg,
                               apr_status_t rv)
{
    if (perr) {
        *perr = msg;
    }
    return rv;
}

/* "aud" is a string or an array of strings (RFC 7519 §4.1.3). */
static apr_array_header_t *audiences(apr_pool_t *p, const mcp_json_t *claims)
{
    mcp_json_t *aud = mcp_json_get(p, claims, "aud");
    apr_array_header_t *out = apr_array_make(p, 2, sizeof(const char *));
    apr_size_t i;

    if (mcp_json_is_string(aud)) {
        APR_ARRAY_PUSH(out, const char *) = mcp_json_str(aud);
        return out;
    }
    if (!mcp_json_is_array(aud) || mcp_json_size(aud) == 0) {
        return NULL;
    }
    for (i = 0; i < mcp_json_size(aud); i++) {
        mcp_json_t *a = mcp_json_array_get(p, aud, i);
        if (!mcp_json_is_string(a)) {
            return NULL;
        }
        APR_ARRAY_PUSH(out, const char *) = mcp_json_str(a);
    }
    return out;
}

static int typ_ok(const char *typ)
{
    return typ && (!strcasecmp(typ, MCP_JWT_TYP_AT)
                   || !strcasecmp(typ, "application/" MCP_JWT_TYP_AT));
}

/* An integer time claim: required ones must exist. */
static apr_status_t time_claim(const mcp_json_t *claims, const char *name,
                               int required, apr_int64_t *pv)
{
    apr_status_t rv = mcp_json_get_int(claims, name, pv);

    if (rv == MCP_ENOTFOUND && !required) {
        *pv = 0;
        return APR_SUCCESS;
    }
    return rv == APR_SUCCESS && *pv >= 0 ? APR_SUCCESS : MCP_EINVALID;
}

apr_status_t mcp_jwt_verify_access_token(mcp_jwt_t **ptoken, apr_pool_t *p,
                                         const mcp_jose_keyset_t *keys,
                                         const char *token,
                                         const mcp_jwt_verify_opts_t *o,
                                         const char **perr)
{
    mcp_json_limits_t lim = { MCP_JOSE_MAX_JWS, 8, 0 };
    mcp_jose_verified_t *v;
    mcp_jwt_t *t;
    apr_int64_t now;
    int leeway, i, aud_ok = 0;
    apr_status_t rv;

    if (!o || !o->issuer) {
        return claim_fail(perr, "the verifier needs an issuer", APR_EINVAL);
    }
    rv = mcp_jose_verify(&v, p, keys, token, token ? strlen(token) : 0, perr);
    if (rv != APR_SUCCESS) {
        return rv;
    }
    if (!typ_ok(v->typ)) {
        return claim_fail(perr, "the token is not an access token (typ must be "
                          "at+jwt)", MCP_EINVALID);
    }
    t = apr_pcalloc(p, sizeof(*t));
    t->kid = v->kid;
    if (mcp_json_parse(&t->claims, p, v->payload, v->payload_len, &lim, NULL)
        != APR_SUCCESS || !mcp_json_is_object(t->claims)) {
        return claim_fail(perr, "the token's claims are not a JSON object",
                          MCP_EPARSE);
    }
    t->issuer = mcp_json_get_str(p, t->claims, "iss");
    t->subject = mcp_json_get_str(p, t->claims, "sub");
    t->client_id = mcp_json_get_str(p, t->claims, "client_id");
    t->jti = mcp_json_get_str(p, t->claims, "jti");
    t->scope = mcp_json_get_str(p, t->claims, "scope");
    if (mcp_json_has(t->claims, "scope") && !t->scope) {
        return claim_fail(perr, "scope must be a string", MCP_EINVALID);
    }
    /* A scope we cannot read as a list must not be half-understood by
     * the Require mcp-scope checks. */
    if (mcp_scope_parse(&t->scopes, p, t->scope, NULL) != APR_SUCCESS) {
        return claim_fail(perr, "the token's scope claim is not a valid "
                          "scope list", MCP_EINVALID);
    }
    if (!t->issuer || strcmp(t->issuer, o->issuer)) {
        return claim_fail(perr, "the token was issued by another issuer",
                          MCP_EINVALID);
    }
    t->audiences = audiences(p, t->claims);
    for (i = 0; t->audiences && i < t->audiences->nelts; i++) {
        if (!o->audience
            || !strcmp(APR_ARRAY_IDX(t->audiences, i, const char *), o->audience)) {
            aud_ok = 1;
        }
    }
    if (!aud_ok) {
        return claim_fail(perr, "the token is not meant for this resource "
                          "(aud)", MCP_EINVALID);
    }
    if (!t->subject || !*t->subject || !t->client_id || !*t->client_id
        || !t->jti || !*t->jti) {
        return claim_fail(perr, "the token lacks sub, client_id or jti (or "
                          "one is not a string)", MCP_EINVALID);
    }
    if (time_claim(t->claims, "exp", 1, &t->exp) != APR_SUCCESS
        || time_claim(t->claims, "iat", 1, &t->iat) != APR_SUCCESS
        || time_claim(t->claims, "nbf", 0, &t->nbf) != APR_SUCCESS) {
        return claim_fail(perr, "exp and iat must be integer times (nbf too "
                          "when present)", MCP_EINVALID);
    }
    now = o->now ? o->now : apr_time_sec(apr_time_now());
    leeway = o->leeway > 0 ? o->leeway : 0;
    /* Arithmetic on our clock only: a token's exp may be near INT64_MAX. */
    if (now - leeway >= t->exp) {
        return claim_fail(perr, "the token has expired", MCP_EEXPIRED);
    }
    if (t->nbf && now + leeway < t->nbf) {
        return claim_fail(perr, "the token is not valid yet (nbf)", MCP_EINVALID);
    }
    if (now + leeway < t->iat) {
        return claim_fail(perr, "the token was issued in the future (iat)",
                          MCP_EINVALID);
    }
    *ptoken = t;
    return APR_SUCCESS;
}
