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

/* The gateway as an OAuth client of upstream providers: what mod_mcp_idp
 * sends and how it reads the answers (mcp_upstream.h). */

#include <apr_base64.h>
#include <apr_strings.h>

#include "mcp/mcp_json.h"
#include "mcp/mcp_scope.h"
#include "mcp/mcp_upstream.h"
#include "mcp/mcp_url.h"

/* Longest token or error text taken from a token endpoint. */
#define MAX_TOKEN_LEN  (64 * 1024)
#define MAX_LIFETIME   ((apr_int64_t)10 * 365 * 24 * 3600)

static const char *const reserved[] = {
    "response_type", "client_id", "redirect_uri", "scope", "state",
    "code_challenge", "code_challenge_method", NULL
};

int mcp_upstream_reserved_param(const char *name)
{
    int i;

    for (i = 0; name && reserved[i]; i++) {
        if (!strcmp(reserved[i], name)) {
            return 1;
        }
    }
    return 0;
}

apr_status_t mcp_upstream_parse_params(apr_table_t **pt, apr_pool_t *p,
                                       const char *params, const char **perr)
{
    const apr_array_header_t *arr;
    const apr_table_entry_t *e;
    apr_table_t *t;
    int i;

    *pt = NULL;
    if (!params || mcp_url_form_decode(&t, p, params, strlen(params), 64,
                                       4096, perr) != APR_SUCCESS) {
        if (perr && !*perr) {
            *perr = "not a list of name=value pairs joined by '&'";
        }
        return MCP_EINVALID;
    }
    arr = apr_table_elts(t);
    e = (const apr_table_entry_t *)arr->elts;
    for (i = 0; i < arr->nelts; i++) {
        if (!*e[i].key) {
            *perr = "a parameter has an empty name";
            return MCP_EINVALID;
        }
        if (mcp_upstream_reserved_param(e[i].key)) {
            *perr = apr_psprintf(p, "'%s' is set by the gateway itself",
                                 e[i].key);
            return MCP_EINVALID;
        }
    }
    *pt = t;
    return APR_SUCCESS;
}

const char *mcp_upstream_authorize_url(apr_pool_t *p,
                                       const mcp_upstream_authz_req_t *q)
{
    const char *u;
    int i;

    if (!q || !q->endpoint || !q->client_id || !q->redirect_uri
        || !q->state || strchr(q->endpoint, '#')) {
        return NULL;
    }
    u = mcp_url_add_query(p, q->endpoint, "response_type", "code");
    u = mcp_url_add_query(p, u, "client_id", q->client_id);
    u = mcp_url_add_query(p, u, "redirect_uri", q->redirect_uri);
    if (q->scope && *q->scope) {
        u = mcp_url_add_query(p, u, "scope", q->scope);
    }
    u = mcp_url_add_query(p, u, "state", q->state);
    if (q->challenge) {
        u = mcp_url_add_query(p, u, "code_challenge", q->challenge);
        u = mcp_url_add_query(p, u, "code_challenge_method", "S256");
    }
    if (q->extra) {
        const apr_array_header_t *arr = apr_table_elts(q->extra);
        const apr_table_entry_t *e = (const apr_table_entry_t *)arr->elts;

        for (i = 0; i < arr->nelts; i++) {
            if (!mcp_upstream_reserved_param(e[i].key)) {
                u = mcp_url_add_query(p, u, e[i].key, e[i].val);
            }
        }
    }
    return u;
}

static const char *pair(apr_pool_t *p, const char *sep, const char *k,
                        const char *v)
{
    return apr_pstrcat(p, sep, mcp_url_encode(p, k), "=", mcp_url_encode(p, v),
                       NULL);
}

const char *mcp_upstream_token_form(apr_pool_t *p, const char *code,
                                    const char *redirect_uri,
                                    const char *verifier,
                                    const char *refresh_token,
                                    const char *client_id,
                                    const char *secret_in_body)
{
    const char *f;

    if (code) {
        f = apr_pstrcat(p, pair(p, "", "grant_type", "authorization_code"),
                        pair(p, "&", "code", code),
                        redirect_uri ? pair(p, "&", "redirect_uri",
                                            redirect_uri) : "",
                        verifier ? pair(p, "&", "code_verifier", verifier)
                                 : "", NULL);
    }
    else {
        f = apr_pstrcat(p, pair(p, "", "grant_type", "refresh_token"),
                        pair(p, "&", "refresh_token",
                             refresh_token ? refresh_token : ""), NULL);
    }
    f = apr_pstrcat(p, f, pair(p, "&", "client_id", client_id ? client_id : ""),
                    NULL);
    if (secret_in_body) {
        f = apr_pstrcat(p, f, pair(p, "&", "client_secret", secret_in_body),
                        NULL);
    }
    return f;
}

const char *mcp_upstream_revoke_form(apr_pool_t *p,
                                     const mcp_upstream_tokens_t *tok,
                                     const char *client_id,
                                     const char *secret_in_body)
{
    int refresh = tok->refresh_token && *tok->refresh_token;
    const char *token = refresh ? tok->refresh_token : tok->access_token;

    if (!token || !*token) {
        return NULL;
    }
    return apr_pstrcat(p, pair(p, "", "token", token),
                       pair(p, "&", "token_type_hint",
                            refresh ? "refresh_token" : "access_token"),
                       pair(p, "&", "client_id", client_id ? client_id : ""),
                       secret_in_body ? pair(p, "&", "client_secret",
                                             secret_in_body) : "", NULL);
}

apr_status_t mcp_upstream_revoke_parse(apr_pool_t *p, int status,
                                       const char *body, apr_size_t len,
                                       const char **perr)
{
    mcp_json_t *json = NULL;
    const char *err = NULL;

    if (status == 200) {
        return APR_SUCCESS;
    }
    if (body && mcp_json_parse(&json, p, body, len, NULL, NULL) == APR_SUCCESS
        && mcp_json_is_object(json)) {
        err = mcp_json_get_str(p, json, "error");
    }
    *perr = err && mcp_scope_token_valid(err) && strlen(err) <= 64
        ? apr_psprintf(p, "the revocation endpoint answered %d (%s)", status,
                       err)
        : apr_psprintf(p, "the revocation endpoint answered %d", status);
    return err && strcmp(err, "unsupported_token_type") == 0 ? APR_ENOTIMPL
                                                             : MCP_EPROTO;
}

const char *mcp_upstream_basic_auth(apr_pool_t *p, const char *client_id,
                                    const char *secret)
{
    const char *plain = apr_pstrcat(p, mcp_url_encode(p, client_id), ":",
                                    mcp_url_encode(p, secret), NULL);
    int len = (int)strlen(plain);
    char *out = apr_palloc(p, apr_base64_encode_len(len));

    apr_base64_encode(out, plain, len);
    return apr_pstrcat(p, "Basic ", out, NULL);
}

/* A member of the answer as a string: JSON string, or a form field. */
typedef struct {
    mcp_json_t *json;
    apr_table_t *form;
    apr_pool_t *p;
} answer_t;

static const char *ans_str(const answer_t *a, const char *key)
{
    const char *v;

    if (a->json) {
        return mcp_json_get_str(a->p, a->json, key);
    }
    v = apr_table_get(a->form, key);
    return v && *v ? v : NULL;
}

/* A lifetime in seconds: a JSON integer, a numeric JSON string (some
 * providers) or a form field; 0 when absent or unusable. */
static apr_int64_t ans_secs(const answer_t *a, const char *key)
{
    apr_int64_t v = 0;
    const char *s = NULL;
    char *end;

    if (a->json) {
        if (mcp_json_get_int(a->json, key, &v) == APR_SUCCESS) {
            return v > 0 && v <= MAX_LIFETIME ? v : 0;
        }
        s = mcp_json_get_str(a->p, a->json, key);
    }
    else {
        s = apr_table_get(a->form, key);
    }
    if (!s || !*s) {
        return 0;
    }
    v = apr_strtoi64(s, &end, 10);
    return !*end && v > 0 && v <= MAX_LIFETIME ? v : 0;
}

static int usable(const char *s)
{
    return s && *s && strlen(s) <= MAX_TOKEN_LEN
        && !strpbrk(s, "\r\n");
}

apr_status_t mcp_upstream_token_parse(mcp_upstream_tokens_t **ptok,
                                      apr_pool_t *p, int status,
                                      const char *media_type,
                                      const char *body, apr_size_t len,
                                      apr_int64_t now, const char **perror,
                                      const char **pdesc)
{
    answer_t a;
    mcp_upstream_tokens_t *t;
    const char *err, *desc = NULL;
    apr_int64_t secs;

    *ptok = NULL;
    *perror = "invalid_response";
    if (pdesc) {
        *pdesc = NULL;
    }
    memset(&a, 0, sizeof(a));
    a.p = p;
    if (!body) {
        body = "";
    }
    if (media_type && !strcmp(media_type, "application/x-www-form-urlencoded")) {
        if (mcp_url_form_decode(&a.form, p, body, len, 64, MAX_TOKEN_LEN,
                                NULL) != APR_SUCCESS) {
            a.form = NULL;
        }
    }
    else if (mcp_json_parse(&a.json, p, body, len, NULL, NULL) != APR_SUCCESS
             || !mcp_json_is_object(a.json)) {
        a.json = NULL;
    }
    if (!a.json && !a.form) {
        if (pdesc) {
            *pdesc = apr_psprintf(p, "the token endpoint answered %d with "
                                  "something that is not an OAuth answer",
                                  status);
        }
        return MCP_EPROTO;
    }
    err = ans_str(&a, "error");
    if (err || status != 200) {
        if (err && mcp_scope_token_valid(err) && strlen(err) <= 64) {
            *perror = apr_pstrdup(p, err);
            desc = ans_str(&a, "error_description");
        }
        if (pdesc) {
            *pdesc = desc && strlen(desc) <= 512 && !strpbrk(desc, "\r\n")
                ? apr_psprintf(p, "%s: %s", *perror, desc)
                : apr_psprintf(p, "the token endpoint answered %d%s%s",
                               status, err ? " " : "", err ? *perror : "");
        }
        return MCP_EPROTO;
    }
    t = apr_pcalloc(p, sizeof(*t));
    t->access_token = ans_str(&a, "access_token");
    if (!usable(t->access_token)) {
        if (pdesc) {
            *pdesc = "the token endpoint's answer has no access_token";
        }
        return MCP_EPROTO;
    }
    t->refresh_token = ans_str(&a, "refresh_token");
    if (t->refresh_token && !usable(t->refresh_token)) {
        t->refresh_token = NULL;
    }
    t->token_type = ans_str(&a, "token_type");
    t->scope = ans_str(&a, "scope");
    if (t->scope) {
        /* GitHub separates granted scopes with commas. */
        char *s = apr_pstrdup(p, t->scope), *c;
        apr_array_header_t *set;

        for (c = s; *c; c++) {
            if (*c == ',') {
                *c = ' ';
            }
        }
        t->scope = mcp_scope_parse(&set, p, s, NULL) == APR_SUCCESS
            ? mcp_scope_join(p, set) : s;
    }
    if ((secs = ans_secs(&a, "expires_in")) > 0) {
        t->expires_at = now + secs;
    }
    if ((secs = ans_secs(&a, "refresh_expires_in")) > 0) {
        t->refresh_expires_at = now + secs;
    }
    *perror = NULL;
    *ptok = t;
    return APR_SUCCESS;
}

const char *mcp_upstream_tokens_text(apr_pool_t *p,
                                     const mcp_upstream_tokens_t *tok)
{
    mcp_json_t *o = mcp_json_object(p);

    mcp_json_set_str(o, "v", "1");
    mcp_json_set_str(o, "access_token", tok->access_token);
    if (tok->refresh_token) {
        mcp_json_set_str(o, "refresh_token", tok->refresh_token);
    }
    if (tok->token_type) {
        mcp_json_set_str(o, "token_type", tok->token_type);
    }
    return mcp_json_dump(p, o, MCP_JSON_FMT_COMPACT, NULL);
}

apr_status_t mcp_upstream_tokens_from_text(mcp_upstream_tokens_t **ptok,
                                           apr_pool_t *p, const char *text,
                                           apr_size_t len)
{
    mcp_json_t *o;
    mcp_upstream_tokens_t *t;

    *ptok = NULL;
    if (!text || mcp_json_parse(&o, p, text, len, NULL, NULL) != APR_SUCCESS
        || !mcp_json_is_object(o)) {
        return MCP_EPARSE;
    }
    t = apr_pcalloc(p, sizeof(*t));
    t->access_token = mcp_json_get_str(p, o, "access_token");
    t->refresh_token = mcp_json_get_str(p, o, "refresh_token");
    t->token_type = mcp_json_get_str(p, o, "token_type");
    if (!t->access_token || !*t->access_token) {
        return MCP_EPARSE;
    }
    *ptok = t;
    return APR_SUCCESS;
}

apr_status_t mcp_upstream_tokens_open(mcp_upstream_tokens_t **ptok,
                                      apr_pool_t *p, const mcp_keyring_t *kr,
                                      const char *sealed, const char *subject,
                                      const char *provider)
{
    unsigned char *pt;
    apr_size_t len;
    apr_status_t rv;

    *ptok = NULL;
    rv = mcp_vault_open(&pt, &len, p, kr, sealed, subject, provider, NULL);
    if (rv == APR_SUCCESS) {
        rv = mcp_upstream_tokens_from_text(ptok, p, (const char *)pt, len);
        mcp_crypto_wipe(pt, len);
    }
    return rv;
}

apr_status_t mcp_upstream_metadata_urls(mcp_upstream_metadata_urls_t *u,
                                        apr_pool_t *p, const char *issuer)
{
    mcp_url_t *pu;
    const char *origin, *path;

    if (!issuer || mcp_url_parse(&pu, p, issuer, MCP_URL_ANY_HTTP
                                 | MCP_URL_NO_QUERY, NULL) != APR_SUCCESS) {
        return MCP_EINVALID;
    }
    origin = mcp_url_origin(p, pu);
    path = pu->path;
    if (*path && path[strlen(path) - 1] == '/') {
        path = apr_pstrndup(p, path, strlen(path) - 1);
    }
    u->rfc8414 = apr_pstrcat(p, origin, "/.well-known/oauth-authorization-server",
                             path, NULL);
    u->openid = apr_pstrcat(p, origin, path, "/.well-known/openid-configuration",
                            NULL);
    return APR_SUCCESS;
}

static int list_has(apr_pool_t *p, mcp_json_t *list, const char *s)
{
    apr_size_t i;

    for (i = 0; list && mcp_json_is_array(list) && i < mcp_json_size(list);
         i++) {
        mcp_json_t *e = mcp_json_array_get(p, list, i);

        if (mcp_json_is_string(e) && !strcmp(mcp_json_str(e), s)) {
            return 1;
        }
    }
    return 0;
}

apr_status_t mcp_upstream_metadata_parse(mcp_upstream_metadata_t **pm,
                                         apr_pool_t *p, const char *body,
                                         apr_size_t len, const char *issuer,
                                         unsigned url_rules,
                                         const char **perr)
{
    mcp_json_t *o, *methods;
    mcp_upstream_metadata_t *m;
    const char *iss, *err = NULL;

    *pm = NULL;
    if (!body || mcp_json_parse(&o, p, body, len, NULL, &err) != APR_SUCCESS
        || !mcp_json_is_object(o)) {
        *perr = apr_pstrcat(p, "the metadata is not a JSON object",
                            err ? ": " : "", err ? err : "", NULL);
        return MCP_EPARSE;
    }
    iss = mcp_json_get_str(p, o, "issuer");
    if (!iss || !issuer || strcmp(iss, issuer)) {
        *perr = "the metadata names another issuer (RFC 8414 section 3.3)";
        return MCP_EINVALID;
    }
    m = apr_pcalloc(p, sizeof(*m));
    m->authorization_endpoint = mcp_json_get_str(p, o, "authorization_endpoint");
    m->token_endpoint = mcp_json_get_str(p, o, "token_endpoint");
    m->revocation_endpoint = mcp_json_get_str(p, o, "revocation_endpoint");
    if (!m->authorization_endpoint || !m->token_endpoint) {
        *perr = "the metadata has no authorization_endpoint or token_endpoint";
        return MCP_EINVALID;
    }
    if (mcp_url_check(p, m->authorization_endpoint, url_rules, &err)
        != APR_SUCCESS) {
        *perr = apr_pstrcat(p, "authorization_endpoint: ", err, NULL);
        return MCP_EINVALID;
    }
    if (mcp_url_check(p, m->token_endpoint, url_rules, &err) != APR_SUCCESS) {
        *perr = apr_pstrcat(p, "token_endpoint: ", err, NULL);
        return MCP_EINVALID;
    }
    if (m->revocation_endpoint
        && mcp_url_check(p, m->revocation_endpoint, url_rules, NULL)
           != APR_SUCCESS) {
        m->revocation_endpoint = NULL;
    }
    methods = mcp_json_get(p, o, "token_endpoint_auth_methods_supported");
    m->post_only = list_has(p, methods, "client_secret_post")
                   && !list_has(p, methods, "client_secret_basic");
    *pm = m;
    return APR_SUCCESS;
}

const char *mcp_upstream_missing_scopes(apr_pool_t *p, const char *wanted,
                                        const char *granted)
{
    apr_array_header_t *w, *g;

    if (!wanted || mcp_scope_parse(&w, p, wanted, NULL) != APR_SUCCESS) {
        return "";
    }
    if (!granted || mcp_scope_parse(&g, p, granted, NULL) != APR_SUCCESS) {
        g = mcp_scope_set_make(p);
    }
    /* Scopes about the grant itself, not the resource: providers leave
     * them out of the access token's scope (oidc-provider with resource
     * indicators, Keycloak), so their absence is no missing permission. */
    mcp_scope_set_add(g, "openid");
    mcp_scope_set_add(g, "offline_access");
    return mcp_scope_join(p, mcp_scope_minus(p, w, g));
}
