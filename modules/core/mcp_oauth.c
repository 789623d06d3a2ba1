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

/* OAuth rules of the authorization server that need no httpd. */

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <apr_lib.h>
#include <apr_strings.h>

#include "mcp/mcp_b64.h"
#include "mcp/mcp_crypto.h"
#include "mcp/mcp_oauth.h"
#include "mcp/mcp_scope.h"
#include "mcp/mcp_url.h"

#define SECRET_PREFIX "sha256:"
#define MAX_URI 2048
#define MAX_TEXT 256
#define DEFAULT_MAX_REDIRECTS 16

/* ---- PKCE ---- */

static int is_unreserved(int c)
{
    return apr_isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~';
}

int mcp_oauth_pkce_verifier_valid(const char *v)
{
    apr_size_t n;

    if (!v) {
        return 0;
    }
    for (n = 0; v[n]; n++) {
        if (!is_unreserved((unsigned char)v[n]) || n >= 128) {
            return 0;
        }
    }
    return n >= 43;
}

int mcp_oauth_pkce_challenge_valid(const char *c)
{
    apr_size_t n;

    if (!c) {
        return 0;
    }
    for (n = 0; c[n]; n++) {
        if (!apr_isalnum(c[n]) && c[n] != '-' && c[n] != '_') {
            return 0;
        }
    }
    return n == 43;
}

int mcp_oauth_pkce_matches(const char *verifier, const char *challenge)
{
    unsigned char digest[MCP_SHA256_LEN];
    const char *enc;
    apr_pool_t *p;
    int ok;

    if (!mcp_oauth_pkce_verifier_valid(verifier)
        || !mcp_oauth_pkce_challenge_valid(challenge)
        || apr_pool_create(&p, NULL) != APR_SUCCESS) {
        return 0;
    }
    mcp_crypto_sha256(digest, verifier, strlen(verifier));
    enc = mcp_b64url_encode(p, digest, sizeof(digest));
    ok = enc && strlen(enc) == 43 && mcp_crypto_equal(enc, challenge, 43);
    apr_pool_destroy(p);
    return ok;
}

/* ---- parameters ---- */

/* Well-formed UTF-8 (no overlongs, no surrogates, at most U+10FFFF). */
static int utf8_char(const unsigned char *s, apr_size_t *plen)
{
    unsigned c = s[0];
    apr_size_t n, i;
    unsigned cp;

    if (c < 0x80) {
        *plen = 1;
        return 1;
    }
    if (c >= 0xc2 && c <= 0xdf) {
        n = 2;
        cp = c & 0x1f;
    }
    else if (c >= 0xe0 && c <= 0xef) {
        n = 3;
        cp = c & 0x0f;
    }
    else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;
        cp = c & 0x07;
    }
    else {
        return 0;
    }
    for (i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80) {
            return 0;
        }
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if ((n == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff)))
        || (n == 4 && (cp < 0x10000 || cp > 0x10ffff))) {
        return 0;
    }
    *plen = n;
    return 1;
}

int mcp_oauth_param_valid(const char *value, apr_size_t max)
{
    const unsigned char *s = (const unsigned char *)value;
    apr_size_t n;

    if (!value || strlen(value) > max) {
        return 0;
    }
    while (*s) {
        if (*s < 0x20 || *s == 0x7f || !utf8_char(s, &n)) {
            return 0;
        }
        s += n;
    }
    return 1;
}

/* ---- secrets ---- */

apr_status_t mcp_oauth_secret_new(const char **psecret, const char **phash,
                                  apr_pool_t *p)
{
    apr_status_t rv = mcp_crypto_token(psecret, p, 32);

    if (rv == APR_SUCCESS && phash) {
        *phash = mcp_oauth_secret_hash(p, *psecret);
    }
    return rv;
}

const char *mcp_oauth_secret_hash(apr_pool_t *p, const char *secret)
{
    return apr_pstrcat(p, SECRET_PREFIX,
                       mcp_crypto_sha256_b64url(p, secret, strlen(secret)),
                       NULL);
}

int mcp_oauth_secret_verify(apr_pool_t *p, const char *hash, const char *secret)
{
    const char *mine;

    if (!hash || !secret || strncmp(hash, SECRET_PREFIX, sizeof(SECRET_PREFIX) - 1)) {
        return 0;
    }
    mine = mcp_oauth_secret_hash(p, secret);
    return strlen(mine) == strlen(hash)
        && mcp_crypto_equal(mine, hash, strlen(hash));
}

/* Percent-decode a form-urlencoded component of Basic credentials. */
static const char *form_component(apr_pool_t *p, const char *s, apr_size_t len)
{
    apr_table_t *t;
    const char *data = apr_pstrcat(p, "v=", apr_pstrmemdup(p, s, len), NULL);

    if (mcp_url_form_decode(&t, p, data, strlen(data), 1, 4096, NULL)
        != APR_SUCCESS) {
        return NULL;
    }
    return apr_table_get(t, "v");
}

apr_status_t mcp_oauth_basic_credentials(apr_pool_t *p, const char *header,
                                         const char **pid, const char **psecret)
{
    unsigned char *raw;
    apr_size_t len;
    const char *colon, *b64;

    if (!header || strncasecmp(header, "Basic", 5)
        || (header[5] != ' ' && header[5] != '\t')) {
        return MCP_ENOTFOUND;
    }
    for (b64 = header + 5; *b64 == ' ' || *b64 == '\t'; b64++)
        ;
    if (!*b64 || strlen(b64) > 8192
        || mcp_b64_decode_any(&raw, &len, p, b64, strlen(b64)) != APR_SUCCESS
        || memchr(raw, '\0', len)) {
        return MCP_EPARSE;
    }
    colon = memchr(raw, ':', len);
    if (!colon || colon == (const char *)raw) {
        return MCP_EPARSE;
    }
    *pid = form_component(p, (const char *)raw, (apr_size_t)(colon - (const char *)raw));
    *psecret = form_component(p, colon + 1,
                              len - (apr_size_t)(colon + 1 - (const char *)raw));
    return *pid && *psecret && **pid ? APR_SUCCESS : MCP_EPARSE;
}

/* ---- CSRF ---- */

static const char *csrf_mac(apr_pool_t *p, const unsigned char key[32],
                            const char *binding, apr_int64_t t)
{
    unsigned char mac[MCP_SHA256_LEN];
    const char *msg = apr_psprintf(p, "mcp-consent-v1|%" APR_INT64_T_FMT "|%s",
                                   t, binding);

    mcp_crypto_hmac_sha256(mac, key, 32, msg, strlen(msg));
    return mcp_b64url_encode(p, mac, sizeof(mac));
}

const char *mcp_oauth_csrf_make(apr_pool_t *p, const unsigned char key[32],
                                const char *binding, apr_int64_t now)
{
    return apr_psprintf(p, "%" APR_INT64_T_FMT ".%s", now,
                        csrf_mac(p, key, binding, now));
}

int mcp_oauth_csrf_check(apr_pool_t *p, const unsigned char key[32],
                         const char *binding, const char *token,
                         apr_int64_t now, int max_age)
{
    const char *dot, *want, *c;
    apr_int64_t t;

    if (!token || !binding || strlen(token) > 80
        || !(dot = strchr(token, '.')) || dot == token || dot - token > 18) {
        return 0;
    }
    for (c = token; c < dot; c++) {
        if (!apr_isdigit(*c)) {
            return 0;
        }
    }
    t = apr_atoi64(apr_pstrmemdup(p, token, (apr_size_t)(dot - token)));
    if (t > now + 5 || now - t > max_age) {
        return 0;
    }
    want = csrf_mac(p, key, binding, t);
    return strlen(dot + 1) == strlen(want)
        && mcp_crypto_equal(dot + 1, want, strlen(want));
}

/* ---- responses ---- */

const char *mcp_oauth_error_json(apr_pool_t *p, const char *error,
                                 const char *description)
{
    mcp_json_t *o = mcp_json_object(p);

    mcp_json_set_str(o, "error", error);
    if (description) {
        mcp_json_set_str(o, "error_description", description);
    }
    return mcp_json_dump(p, o, MCP_JSON_FMT_COMPACT, NULL);
}

const char *mcp_oauth_auth_param(apr_pool_t *p, const char *name,
                                 const char *value)
{
    apr_size_t n = strlen(value), i, o = 0;
    char *out = apr_palloc(p, 2 * n + 1);

    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)value[i];

        if (c < 0x20 || c == 0x7f) {
            continue;
        }
        if (c == '"' || c == '\\') {
            out[o++] = '\\';
        }
        out[o++] = (char)c;
    }
    out[o] = '\0';
    return apr_psprintf(p, "%s=\"%s\"", name, out);
}

/* The value of directive @name (e.g. max-age) in a Cache-Control header;
 * -1 when absent or malformed. */
static long cc_seconds(const char *cc, const char *name)
{
    apr_size_t n = strlen(name);
    const char *s = cc;

    while ((s = strstr(s, name)) != NULL) {
        int start = s == cc || s[-1] == ',' || s[-1] == ' ' || s[-1] == '\t';

        if (start && s[n] == '=') {
            const char *v = s + n + 1;
            long val = 0;
            int digits = 0;

            if (*v == '"') {
                v++;
            }
            while (apr_isdigit(*v) && digits < 10) {
                val = val * 10 + (*v++ - '0');
                digits++;
            }
            return digits ? val : -1;
        }
        s += n;
    }
    return -1;
}

static int cc_has(const char *cc, const char *token)
{
    apr_size_t n = strlen(token);
    const char *s = cc;

    while ((s = strstr(s, token)) != NULL) {
        int start = s == cc || s[-1] == ',' || s[-1] == ' ' || s[-1] == '\t';
        int end = !s[n] || s[n] == ',' || s[n] == ' ' || s[n] == '\t'
                  || s[n] == '=';
        if (start && end) {
            return 1;
        }
        s += n;
    }
    return 0;
}

int mcp_oauth_cache_lifetime(const char *cache_control, int dflt, int min,
                             int max)
{
    char *cc;
    long v = -1;
    int i;

    if (cache_control && *cache_control) {
        cc = strdup(cache_control);
        if (cc) {
            for (i = 0; cc[i]; i++) {
                cc[i] = (char)apr_tolower(cc[i]);
            }
            if (cc_has(cc, "no-store") || cc_has(cc, "no-cache")) {
                free(cc);
                return min;
            }
            v = cc_seconds(cc, "s-maxage");
            if (v < 0) {
                v = cc_seconds(cc, "max-age");
            }
            free(cc);
        }
    }
    if (v < 0) {
        v = dflt;
    }
    return v < min ? min : v > max ? max : (int)v;
}

/* ---- client metadata ---- */

typedef struct {
    apr_pool_t *p;
    const mcp_json_t *doc;
    const char *error;
    const char *desc;
} meta_ctx_t;

static int meta_fail(meta_ctx_t *m, const char *error, const char *desc)
{
    if (!m->error) {
        m->error = error;
        m->desc = desc;
    }
    return 0;
}

/* An optional string member of at most @max bytes (valid text). */
static int meta_str(meta_ctx_t *m, const char *name, apr_size_t max,
                    const char **pv)
{
    mcp_json_t *v = mcp_json_get(m->p, m->doc, name);

    *pv = NULL;
    if (!v || mcp_json_is_null(v)) {
        return 1;
    }
    if (!mcp_json_is_string(v) || !mcp_oauth_param_valid(mcp_json_str(v), max)
        || !*mcp_json_str(v)) {
        return meta_fail(m, "invalid_client_metadata",
                         apr_psprintf(m->p, "%s must be a non-empty string of "
                                      "at most %" APR_SIZE_T_FMT " bytes",
                                      name, max));
    }
    *pv = mcp_json_str(v);
    return 1;
}

/* An optional URL member that a person's browser may open (https, or http
 * on a loopback host). */
static int meta_url(meta_ctx_t *m, const char *name, const char **pv)
{
    const char *err = NULL;

    if (!meta_str(m, name, MAX_URI, pv)) {
        return 0;
    }
    if (*pv && mcp_url_check(m->p, *pv, MCP_URL_SECURE, &err) != APR_SUCCESS) {
        return meta_fail(m, "invalid_client_metadata",
                         apr_psprintf(m->p, "%s: %s", name, err));
    }
    return 1;
}

/* An optional array of strings from @allowed; *pv gets them joined by
 * spaces, or @dflt. */
static int meta_enum_list(meta_ctx_t *m, const char *name,
                          const char *const *allowed, const char *dflt,
                          const char **pv)
{
    mcp_json_t *v = mcp_json_get(m->p, m->doc, name);
    apr_array_header_t *out;
    apr_size_t i;
    int k;

    *pv = dflt;
    if (!v || mcp_json_is_null(v)) {
        return 1;
    }
    if (!mcp_json_is_array(v) || mcp_json_size(v) == 0 || mcp_json_size(v) > 8) {
        return meta_fail(m, "invalid_client_metadata",
                         apr_psprintf(m->p, "%s must be a non-empty array", name));
    }
    out = apr_array_make(m->p, 4, sizeof(const char *));
    for (i = 0; i < mcp_json_size(v); i++) {
        mcp_json_t *e = mcp_json_array_get(m->p, v, i);
        const char *s = mcp_json_is_string(e) ? mcp_json_str(e) : NULL;

        for (k = 0; s && allowed[k] && strcmp(allowed[k], s); k++)
            ;
        if (!s || !allowed[k]) {
            return meta_fail(m, "invalid_client_metadata",
                             apr_psprintf(m->p, "%s: unsupported value%s%s",
                                          name, s ? " " : "",
                                          s && strlen(s) < 64 ? s : ""));
        }
        for (k = 0; k < out->nelts; k++) {
            if (!strcmp(APR_ARRAY_IDX(out, k, const char *), s)) {
                break;
            }
        }
        if (k == out->nelts) {
            APR_ARRAY_PUSH(out, const char *) = s;
        }
    }
    *pv = apr_array_pstrcat(m->p, out, ' ');
    return 1;
}

static int scheme_listed(const apr_array_header_t *schemes, const char *uri)
{
    apr_size_t n = strcspn(uri, ":");
    int i;

    for (i = 0; i < schemes->nelts; i++) {
        const char *s = APR_ARRAY_IDX(schemes, i, const char *);
        if (strlen(s) == n && !strncasecmp(s, uri, n)) {
            return 1;
        }
    }
    return 0;
}

/* The redirect URIs, their kinds, and the application type they allow. */
static int meta_redirects(meta_ctx_t *m, const mcp_oauth_client_rules_t *rules,
                          const char *app_type, int is_public,
                          mcp_oauth_client_meta_t *out)
{
    mcp_json_t *v = mcp_json_get(m->p, m->doc, "redirect_uris");
    int max = rules->max_redirect_uris > 0 ? rules->max_redirect_uris
                                           : DEFAULT_MAX_REDIRECTS;
    int native = 0, loopback = 0;
    apr_size_t i;

    if (!mcp_json_is_array(v) || mcp_json_size(v) == 0) {
        return meta_fail(m, "invalid_redirect_uri",
                         "redirect_uris must be a non-empty array of URIs");
    }
    if (mcp_json_size(v) > (apr_size_t)max) {
        return meta_fail(m, "invalid_redirect_uri",
                         apr_psprintf(m->p, "at most %d redirect_uris", max));
    }
    out->redirect_uris = apr_array_make(m->p, (int)mcp_json_size(v),
                                        sizeof(const char *));
    for (i = 0; i < mcp_json_size(v); i++) {
        mcp_json_t *e = mcp_json_array_get(m->p, v, i);
        const char *uri = mcp_json_is_string(e) ? mcp_json_str(e) : NULL;
        mcp_redirect_kind_e kind;
        const char *err = NULL;

        if (!uri || strlen(uri) > MAX_URI) {
            return meta_fail(m, "invalid_redirect_uri",
                             "every redirect URI must be a string of at most "
                             "2048 bytes");
        }
        if (mcp_url_redirect_kind(m->p, uri, &kind, &err) != APR_SUCCESS) {
            return meta_fail(m, "invalid_redirect_uri", err);
        }
        if (kind == MCP_REDIRECT_PRIVATE_USE) {
            if (!rules->allow_private_use
                || (rules->schemes && !scheme_listed(rules->schemes, uri))) {
                return meta_fail(m, "invalid_redirect_uri",
                                 apr_psprintf(m->p, "the scheme of redirect "
                                              "URI %d is not accepted here",
                                              (int)i + 1));
            }
            if (!is_public) {
                return meta_fail(m, "invalid_redirect_uri",
                                 "private-use URI schemes are accepted for "
                                 "public clients only "
                                 "(token_endpoint_auth_method none)");
            }
            native = 1;
        }
        else if (kind == MCP_REDIRECT_LOOPBACK) {
            native = 1;
            loopback++;
        }
        APR_ARRAY_PUSH(out->redirect_uris, const char *) = uri;
    }
    if (app_type && !strcmp(app_type, "web") && native) {
        return meta_fail(m, "invalid_redirect_uri",
                         "a web client's redirect URIs must be https URLs "
                         "(loopback and private-use URIs are for native "
                         "clients)");
    }
    out->application_type = app_type ? app_type : native ? "native" : "web";
    out->loopback_only = loopback == out->redirect_uris->nelts;
    return 1;
}

static void meta_put(mcp_json_t *o, const char *name, const char *v)
{
    if (v) {
        mcp_json_set_str(o, name, v);
    }
}

static mcp_json_t *split_array(apr_pool_t *p, const char *list)
{
    mcp_json_t *a = mcp_json_array(p);
    char *copy = apr_pstrdup(p, list), *last, *tok;

    for (tok = apr_strtok(copy, " ", &last); tok; tok = apr_strtok(NULL, " ", &last)) {
        mcp_json_append_str(a, tok);
    }
    return a;
}

static void meta_build(apr_pool_t *p, mcp_oauth_client_meta_t *c,
                       const char *response_types)
{
    mcp_json_t *o = mcp_json_object(p), *uris = mcp_json_array(p);
    int i;

    for (i = 0; i < c->redirect_uris->nelts; i++) {
        mcp_json_append_str(uris, APR_ARRAY_IDX(c->redirect_uris, i, const char *));
    }
    mcp_json_set(o, "redirect_uris", uris);
    mcp_json_set_str(o, "token_endpoint_auth_method", c->token_endpoint_auth_method);
    mcp_json_set(o, "grant_types", split_array(p, c->grant_types));
    mcp_json_set(o, "response_types", split_array(p, response_types));
    mcp_json_set_str(o, "application_type", c->application_type);
    meta_put(o, "client_name", c->client_name);
    meta_put(o, "client_uri", c->client_uri);
    meta_put(o, "logo_uri", c->logo_uri);
    meta_put(o, "tos_uri", c->tos_uri);
    meta_put(o, "policy_uri", c->policy_uri);
    meta_put(o, "software_id", c->software_id);
    meta_put(o, "software_version", c->software_version);
    meta_put(o, "scope", c->scope);
    c->metadata = o;
}

apr_status_t mcp_oauth_client_meta(mcp_oauth_client_meta_t **pm, apr_pool_t *p,
                                   const mcp_json_t *doc,
                                   const mcp_oauth_client_rules_t *rules,
                                   const char **perror, const char **pdesc)
{
    static const char *const grants[] = { "authorization_code", "refresh_token",
                                          NULL };
    static const char *const responses[] = { "code", NULL };
    static const char *const methods[] = { "none", "client_secret_basic",
                                           "client_secret_post", NULL };
    mcp_oauth_client_meta_t *c = apr_pcalloc(p, sizeof(*c));
    meta_ctx_t m = { p, doc, NULL, NULL };
    const char *app_type = NULL, *response_types = NULL, *id = NULL, *err;
    apr_array_header_t *scopes;
    int k;

    if (!mcp_json_is_object(doc)) {
        meta_fail(&m, "invalid_client_metadata", "the metadata must be a JSON "
                  "object");
        goto fail;
    }
    if (!meta_str(&m, "application_type", 16, &app_type)
        || !meta_str(&m, "token_endpoint_auth_method", 32,
                     &c->token_endpoint_auth_method)
        || !meta_str(&m, "client_name", MAX_TEXT, &c->client_name)
        || !meta_url(&m, "client_uri", &c->client_uri)
        || !meta_url(&m, "logo_uri", &c->logo_uri)
        || !meta_url(&m, "tos_uri", &c->tos_uri)
        || !meta_url(&m, "policy_uri", &c->policy_uri)
        || !meta_str(&m, "software_id", MAX_TEXT, &c->software_id)
        || !meta_str(&m, "software_version", MAX_TEXT, &c->software_version)
        || !meta_str(&m, "scope", 2048, &c->scope)
        || !meta_enum_list(&m, "grant_types", grants, "authorization_code",
                           &c->grant_types)
        || !meta_enum_list(&m, "response_types", responses, "code",
                           &response_types)) {
        goto fail;
    }
    if (app_type && strcmp(app_type, "native") && strcmp(app_type, "web")) {
        meta_fail(&m, "invalid_client_metadata",
                  "application_type must be native or web");
        goto fail;
    }
    if (!strstr(c->grant_types, "authorization_code")) {
        meta_fail(&m, "invalid_client_metadata", "grant_types must include "
                  "authorization_code (the only flow of this server)");
        goto fail;
    }
    if (c->scope && mcp_scope_parse(&scopes, p, c->scope, &err) != APR_SUCCESS) {
        meta_fail(&m, "invalid_client_metadata",
                  apr_psprintf(p, "scope: %s", err));
        goto fail;
    }
    if (rules->document_url) {
        /* A Client ID Metadata Document: it names itself and, being
         * public, can hold no secret. */
        if (!meta_str(&m, "client_id", MAX_URI, &id)) {
            goto fail;
        }
        if (!id || strcmp(id, rules->document_url)) {
            meta_fail(&m, "invalid_client_metadata", "the document's client_id "
                      "is not the URL it was fetched from");
            goto fail;
        }
        if (!c->client_name) {
            meta_fail(&m, "invalid_client_metadata", "the document has no "
                      "client_name");
            goto fail;
        }
        if (mcp_json_has(doc, "client_secret")
            || mcp_json_has(doc, "client_secret_expires_at")) {
            meta_fail(&m, "invalid_client_metadata", "a client metadata "
                      "document must not carry a secret");
            goto fail;
        }
        if (!c->token_endpoint_auth_method) {
            c->token_endpoint_auth_method = "none";
        }
        else if (strcmp(c->token_endpoint_auth_method, "none")) {
            meta_fail(&m, "invalid_client_metadata", "clients identified by a "
                      "metadata document must use token_endpoint_auth_method "
                      "none");
            goto fail;
        }
    }
    if (!c->token_endpoint_auth_method) {
        c->token_endpoint_auth_method = "client_secret_basic";
    }
    for (k = 0; methods[k] && strcmp(methods[k], c->token_endpoint_auth_method); k++)
        ;
    if (!methods[k]) {
        meta_fail(&m, "invalid_client_metadata", "token_endpoint_auth_method "
                  "must be none, client_secret_basic or client_secret_post");
        goto fail;
    }
    if (!meta_redirects(&m, rules, app_type,
                        !strcmp(c->token_endpoint_auth_method, "none"), c)) {
        goto fail;
    }
    meta_build(p, c, response_types);
    *pm = c;
    return APR_SUCCESS;

fail:
    if (perror) {
        *perror = m.error;
    }
    if (pdesc) {
        *pdesc = m.desc;
    }
    return MCP_EINVALID;
}

int mcp_oauth_redirect_allowed(apr_pool_t *p,
                               const apr_array_header_t *registered,
                               const char *redirect_uri)
{
    int i;

    for (i = 0; registered && i < registered->nelts; i++) {
        if (mcp_url_redirect_matches(p, APR_ARRAY_IDX(registered, i, const char *),
                                     redirect_uri)) {
            return 1;
        }
    }
    return 0;
}
