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

/* mcp_oauth: PKCE, parameter syntax, secrets, Basic client credentials,
 * CSRF tokens, challenges, cache lifetimes and client metadata rules. */

#include <apr_strings.h>

#include "mcp_test.h"
#include "mcp/mcp_b64.h"
#include "mcp/mcp_json.h"
#include "mcp/mcp_oauth.h"

/* RFC 7636 Appendix B. */
#define RFC_VERIFIER  "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
#define RFC_CHALLENGE "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"

START_TEST(pkce_rfc7636_vector)
{
    ck_assert(mcp_oauth_pkce_verifier_valid(RFC_VERIFIER));
    ck_assert(mcp_oauth_pkce_challenge_valid(RFC_CHALLENGE));
    ck_assert(mcp_oauth_pkce_matches(RFC_VERIFIER, RFC_CHALLENGE));
    /* one character off, either side */
    ck_assert(!mcp_oauth_pkce_matches("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXl",
                                      RFC_CHALLENGE));
    ck_assert(!mcp_oauth_pkce_matches(RFC_VERIFIER,
                                      "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cN"));
    /* "plain": the challenge equal to the verifier never matches */
    ck_assert(!mcp_oauth_pkce_matches(RFC_VERIFIER, RFC_VERIFIER));
}
END_TEST

START_TEST(pkce_verifier_grammar)
{
    char v[130];

    memset(v, 'a', sizeof(v));
    v[42] = '\0';
    ck_assert(!mcp_oauth_pkce_verifier_valid(v));      /* 42: too short */
    v[42] = 'a';
    v[43] = '\0';
    ck_assert(mcp_oauth_pkce_verifier_valid(v));       /* 43 */
    memset(v, 'a', sizeof(v));
    v[128] = '\0';
    ck_assert(mcp_oauth_pkce_verifier_valid(v));       /* 128 */
    v[128] = 'a';
    v[129] = '\0';
    ck_assert(!mcp_oauth_pkce_verifier_valid(v));      /* 129 */
    ck_assert(mcp_oauth_pkce_verifier_valid("abcdefghijklmnopqrstuvwxyz0123456789-._~ABCDE"));
    ck_assert(!mcp_oauth_pkce_verifier_valid("abcdefghijklmnopqrstuvwxyz0123456789+/=ABCDE"));
    ck_assert(!mcp_oauth_pkce_verifier_valid("abcdefghijklmnopqrstuvwxyz0123456789 ABCDEFG"));
    ck_assert(!mcp_oauth_pkce_verifier_valid(NULL));
    ck_assert(!mcp_oauth_pkce_challenge_valid("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-c"));
    ck_assert(!mcp_oauth_pkce_challenge_valid("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM="));
    ck_assert(!mcp_oauth_pkce_challenge_valid("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw+cM"));
}
END_TEST

START_TEST(params)
{
    ck_assert(mcp_oauth_param_valid("abc xyz", 16));
    ck_assert(mcp_oauth_param_valid("gr\xc3\xbc\xc3\x9f", 16));  /* UTF-8 */
    ck_assert(!mcp_oauth_param_valid("a\nb", 16));
    ck_assert(!mcp_oauth_param_valid("a\x7f" "b", 16));
    ck_assert(!mcp_oauth_param_valid("\xc3(", 16));             /* bad UTF-8 */
    ck_assert(!mcp_oauth_param_valid("\xc0\xaf", 16));          /* overlong */
    ck_assert(!mcp_oauth_param_valid("\xed\xa0\x80", 16));      /* surrogate */
    ck_assert(!mcp_oauth_param_valid("\xf4\x90\x80\x80", 16));  /* > U+10FFFF */
    ck_assert(!mcp_oauth_param_valid("0123456789abcdefg", 16)); /* too long */
    ck_assert(!mcp_oauth_param_valid(NULL, 16));
}
END_TEST

START_TEST(secrets)
{
    const char *s1, *h1, *s2, *h2;

    ck_assert_status(mcp_oauth_secret_new(&s1, &h1, tp), APR_SUCCESS);
    ck_assert_status(mcp_oauth_secret_new(&s2, &h2, tp), APR_SUCCESS);
    ck_assert_uint_eq(strlen(s1), 43);
    ck_assert_str_ne(s1, s2);
    ck_assert(!strncmp(h1, "sha256:", 7));
    ck_assert(strstr(h1, s1) == NULL);
    ck_assert(mcp_oauth_secret_verify(tp, h1, s1));
    ck_assert(!mcp_oauth_secret_verify(tp, h1, s2));
    ck_assert(!mcp_oauth_secret_verify(tp, h2, s1));
    ck_assert(!mcp_oauth_secret_verify(tp, h1, ""));
    ck_assert(!mcp_oauth_secret_verify(tp, NULL, s1));
    /* a stored value that is not one of our hashes never verifies */
    ck_assert(!mcp_oauth_secret_verify(tp, s1, s1));
    ck_assert_str_eq(mcp_oauth_secret_hash(tp, s1), h1);
}
END_TEST

static const char *basic(const char *userpass)
{
    unsigned char raw[256];
    apr_size_t n = strlen(userpass);
    static const char tbl[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char *out = apr_palloc(tp, (n + 2) / 3 * 4 + 16), *o;
    apr_size_t i;

    memcpy(raw, userpass, n);
    memset(raw + n, 0, 3);
    strcpy(out, "Basic ");
    o = out + 6;
    for (i = 0; i < n; i += 3) {
        unsigned v = (unsigned)raw[i] << 16 | (unsigned)raw[i + 1] << 8 | raw[i + 2];
        *o++ = tbl[v >> 18 & 63];
        *o++ = tbl[v >> 12 & 63];
        *o++ = i + 1 < n ? tbl[v >> 6 & 63] : '=';
        *o++ = i + 2 < n ? tbl[v & 63] : '=';
    }
    *o = '\0';
    return out;
}

START_TEST(basic_credentials)
{
    const char *id = NULL, *secret = NULL;

    ck_assert_status(mcp_oauth_basic_credentials(tp, basic("client:s3cret"),
                                                 &id, &secret), APR_SUCCESS);
    ck_assert_str_eq(id, "client");
    ck_assert_str_eq(secret, "s3cret");
    /* RFC 6749 §2.3.1: both parts are form-urlencoded first */
    ck_assert_status(mcp_oauth_basic_credentials(tp, basic("a%3Ab:x%2By+z"),
                                                 &id, &secret), APR_SUCCESS);
    ck_assert_str_eq(id, "a:b");
    ck_assert_str_eq(secret, "x+y z");
    /* an empty secret is a public client's */
    ck_assert_status(mcp_oauth_basic_credentials(tp, basic("pub:"), &id, &secret),
                     APR_SUCCESS);
    ck_assert_str_eq(secret, "");
    ck_assert_status(mcp_oauth_basic_credentials(tp, "Bearer abc", &id, &secret),
                     MCP_ENOTFOUND);
    ck_assert_status(mcp_oauth_basic_credentials(tp, NULL, &id, &secret),
                     MCP_ENOTFOUND);
    ck_assert_status(mcp_oauth_basic_credentials(tp, "Basic !!!!", &id, &secret),
                     MCP_EPARSE);
    ck_assert_status(mcp_oauth_basic_credentials(tp, basic("nocolon"), &id, &secret),
                     MCP_EPARSE);
    ck_assert_status(mcp_oauth_basic_credentials(tp, basic(":secret"), &id, &secret),
                     MCP_EPARSE);
    ck_assert_status(mcp_oauth_basic_credentials(tp, basic("a:%zz"), &id, &secret),
                     MCP_EPARSE);
}
END_TEST

START_TEST(csrf)
{
    unsigned char k1[32], k2[32];
    const char *t;

    memset(k1, 1, sizeof(k1));
    memset(k2, 2, sizeof(k2));
    t = mcp_oauth_csrf_make(tp, k1, "alice\nclient\nuri", 1000);
    ck_assert(mcp_oauth_csrf_check(tp, k1, "alice\nclient\nuri", t, 1000, 600));
    ck_assert(mcp_oauth_csrf_check(tp, k1, "alice\nclient\nuri", t, 1600, 600));
    /* too old, from the future, another binding, another key */
    ck_assert(!mcp_oauth_csrf_check(tp, k1, "alice\nclient\nuri", t, 1601, 600));
    ck_assert(!mcp_oauth_csrf_check(tp, k1, "alice\nclient\nuri", t, 900, 600));
    ck_assert(!mcp_oauth_csrf_check(tp, k1, "mallory\nclient\nuri", t, 1000, 600));
    ck_assert(!mcp_oauth_csrf_check(tp, k2, "alice\nclient\nuri", t, 1000, 600));
    /* a changed time with the same MAC */
    ck_assert(!mcp_oauth_csrf_check(tp, k1, "alice\nclient\nuri",
                                    apr_pstrcat(tp, "1001", strchr(t, '.'), NULL),
                                    1001, 600));
    ck_assert(!mcp_oauth_csrf_check(tp, k1, "x", "", 1000, 600));
    ck_assert(!mcp_oauth_csrf_check(tp, k1, "x", NULL, 1000, 600));
    ck_assert(!mcp_oauth_csrf_check(tp, k1, "x", "1000.", 1000, 600));
    ck_assert(!mcp_oauth_csrf_check(tp, k1, "x", ".abc", 1000, 600));
    ck_assert(!mcp_oauth_csrf_check(tp, k1, "x", "-5.abc", 1000, 600));
}
END_TEST

START_TEST(errors_and_challenges)
{
    mcp_json_t *j;
    const char *e = mcp_oauth_error_json(tp, "invalid_grant", "a \"quoted\" word");

    ck_assert_status(mcp_json_parse(&j, tp, e, strlen(e), NULL, NULL), APR_SUCCESS);
    ck_assert_str_eq(mcp_json_get_str(tp, j, "error"), "invalid_grant");
    ck_assert_str_eq(mcp_json_get_str(tp, j, "error_description"), "a \"quoted\" word");
    e = mcp_oauth_error_json(tp, "x", NULL);
    ck_assert_status(mcp_json_parse(&j, tp, e, strlen(e), NULL, NULL), APR_SUCCESS);
    ck_assert(!mcp_json_has(j, "error_description"));
    ck_assert_str_eq(mcp_oauth_auth_param(tp, "scope", "a b"), "scope=\"a b\"");
    ck_assert_str_eq(mcp_oauth_auth_param(tp, "e", "x\"y\\z\r\nw"), "e=\"x\\\"y\\\\zw\"");
}
END_TEST

START_TEST(cache_lifetime)
{
    ck_assert_int_eq(mcp_oauth_cache_lifetime(NULL, 3600, 60, 86400), 3600);
    ck_assert_int_eq(mcp_oauth_cache_lifetime("max-age=600", 3600, 60, 86400), 600);
    ck_assert_int_eq(mcp_oauth_cache_lifetime("public, max-age=600", 3600, 60, 86400), 600);
    ck_assert_int_eq(mcp_oauth_cache_lifetime("Max-Age=\"120\"", 3600, 60, 86400), 120);
    ck_assert_int_eq(mcp_oauth_cache_lifetime("s-maxage=300, max-age=10", 3600, 60, 86400), 300);
    ck_assert_int_eq(mcp_oauth_cache_lifetime("max-age=5", 3600, 60, 86400), 60);
    ck_assert_int_eq(mcp_oauth_cache_lifetime("max-age=99999999999", 3600, 60, 86400), 86400);
    ck_assert_int_eq(mcp_oauth_cache_lifetime("no-store", 3600, 60, 86400), 60);
    ck_assert_int_eq(mcp_oauth_cache_lifetime("no-cache, max-age=900", 3600, 60, 86400), 60);
    ck_assert_int_eq(mcp_oauth_cache_lifetime("max-age=abc", 3600, 60, 86400), 3600);
    /* a directive that only contains the word does not count */
    ck_assert_int_eq(mcp_oauth_cache_lifetime("x-max-age=1", 3600, 60, 86400), 3600);
}
END_TEST

/* ---- client metadata ---- */

static mcp_json_t *doc(const char *json)
{
    mcp_json_t *j = NULL;

    ck_assert_status(mcp_json_parse(&j, tp, json, strlen(json), NULL, NULL),
                     APR_SUCCESS);
    return j;
}

static apr_status_t judge(const char *json, const mcp_oauth_client_rules_t *rules,
                          mcp_oauth_client_meta_t **pm, const char **perror)
{
    const char *desc = NULL;
    apr_status_t rv = mcp_oauth_client_meta(pm, tp, doc(json), rules, perror, &desc);

    if (rv != APR_SUCCESS) {
        ck_assert_msg(desc && *desc, "a refusal has a description");
    }
    return rv;
}

static mcp_oauth_client_rules_t native_rules = { 1, NULL, NULL, 0 };

START_TEST(meta_real_clients)
{
    mcp_oauth_client_meta_t *m;
    const char *e;

    /* mcp-remote (F2) */
    ck_assert_status(judge("{\"client_name\":\"MCP CLI Proxy\",\"client_uri\":"
                           "\"https://github.com/modelcontextprotocol/mcp-cli\","
                           "\"redirect_uris\":[\"http://localhost:3335/oauth/callback\"],"
                           "\"grant_types\":[\"authorization_code\",\"refresh_token\"],"
                           "\"response_types\":[\"code\"],\"token_endpoint_auth_method\":"
                           "\"none\",\"application_type\":\"native\",\"software_id\":"
                           "\"2e6dc280-f3c3-4e01-99a7-8181dbd1d23d\"}",
                           &native_rules, &m, &e), APR_SUCCESS);
    ck_assert_str_eq(m->application_type, "native");
    ck_assert_str_eq(m->grant_types, "authorization_code refresh_token");
    ck_assert(m->loopback_only);
    /* Cursor: three URIs at once, one of them a private-use scheme (F3) */
    ck_assert_status(judge("{\"client_name\":\"Cursor\",\"redirect_uris\":["
                           "\"cursor://anysphere.cursor-mcp/oauth/callback\","
                           "\"https://www.cursor.com/agents/mcp/oauth/callback\","
                           "\"http://localhost:8787/callback\"],"
                           "\"token_endpoint_auth_method\":\"none\"}",
                           &native_rules, &m, &e), APR_SUCCESS);
    ck_assert_int_eq(m->redirect_uris->nelts, 3);
    ck_assert_str_eq(m->application_type, "native");
    ck_assert(!m->loopback_only);
    /* claude.ai, a web client; the method defaults to client_secret_basic */
    ck_assert_status(judge("{\"client_name\":\"Claude\",\"redirect_uris\":["
                           "\"https://claude.ai/api/mcp/auth_callback\"]}",
                           &native_rules, &m, &e), APR_SUCCESS);
    ck_assert_str_eq(m->application_type, "web");
    ck_assert_str_eq(m->token_endpoint_auth_method, "client_secret_basic");
    ck_assert_str_eq(m->grant_types, "authorization_code");
    /* the stored metadata carries only known members */
    ck_assert(!mcp_json_has(m->metadata, "client_secret"));
    ck_assert_str_eq(mcp_json_get_str(tp, m->metadata, "client_name"), "Claude");
}
END_TEST

START_TEST(meta_redirect_rules)
{
    mcp_oauth_client_meta_t *m;
    mcp_oauth_client_rules_t none = { 0, NULL, NULL, 0 };
    mcp_oauth_client_rules_t listed = { 1, NULL, NULL, 0 };
    apr_array_header_t *schemes = apr_array_make(tp, 1, sizeof(const char *));
    const char *e;

    ck_assert_status(judge("{\"redirect_uris\":[]}", &native_rules, &m, &e), MCP_EINVALID);
    ck_assert_str_eq(e, "invalid_redirect_uri");
    ck_assert_status(judge("{}", &native_rules, &m, &e), MCP_EINVALID);
    ck_assert_str_eq(e, "invalid_redirect_uri");
    ck_assert_status(judge("{\"redirect_uris\":[\"http://evil.example/cb\"]}",
                           &native_rules, &m, &e), MCP_EINVALID);
    ck_assert_str_eq(e, "invalid_redirect_uri");
    ck_assert_status(judge("{\"redirect_uris\":[\"javascript:alert(1)\"]}",
                           &native_rules, &m, &e), MCP_EINVALID);
    ck_assert_status(judge("{\"redirect_uris\":[\"https://x.example/cb#frag\"]}",
                           &native_rules, &m, &e), MCP_EINVALID);
    ck_assert_status(judge("{\"redirect_uris\":[42]}", &native_rules, &m, &e), MCP_EINVALID);
    /* private-use schemes: public clients only, and only when allowed */
    ck_assert_status(judge("{\"redirect_uris\":[\"cursor://a/cb\"],"
                           "\"token_endpoint_auth_method\":\"client_secret_post\"}",
                           &native_rules, &m, &e), MCP_EINVALID);
    ck_assert_str_eq(e, "invalid_redirect_uri");
    ck_assert_status(judge("{\"redirect_uris\":[\"cursor://a/cb\"],"
                           "\"token_endpoint_auth_method\":\"none\"}",
                           &none, &m, &e), MCP_EINVALID);
    APR_ARRAY_PUSH(schemes, const char *) = "vscode";
    listed.schemes = schemes;
    ck_assert_status(judge("{\"redirect_uris\":[\"cursor://a/cb\"],"
                           "\"token_endpoint_auth_method\":\"none\"}",
                           &listed, &m, &e), MCP_EINVALID);
    ck_assert_status(judge("{\"redirect_uris\":[\"vscode://a/cb\"],"
                           "\"token_endpoint_auth_method\":\"none\"}",
                           &listed, &m, &e), APR_SUCCESS);
    /* application_type web refuses loopback and private-use URIs */
    ck_assert_status(judge("{\"redirect_uris\":[\"http://127.0.0.1:9/cb\"],"
                           "\"application_type\":\"web\"}", &native_rules, &m, &e),
                     MCP_EINVALID);
    ck_assert_str_eq(e, "invalid_redirect_uri");
    ck_assert_status(judge("{\"redirect_uris\":[\"http://127.0.0.1:9/cb\"],"
                           "\"application_type\":\"desktop\"}", &native_rules, &m, &e),
                     MCP_EINVALID);
    ck_assert_str_eq(e, "invalid_client_metadata");
    /* VS Code: https and loopback, native */
    ck_assert_status(judge("{\"redirect_uris\":[\"https://vscode.dev/redirect\","
                           "\"http://127.0.0.1:33418/\",\"http://127.0.0.1/\"],"
                           "\"token_endpoint_auth_method\":\"none\"}",
                           &native_rules, &m, &e), APR_SUCCESS);
    ck_assert_str_eq(m->application_type, "native");
}
END_TEST

START_TEST(meta_other_members)
{
    mcp_oauth_client_meta_t *m;
    const char *e;

    ck_assert_status(judge("{\"redirect_uris\":[\"https://a.example/cb\"],"
                           "\"grant_types\":[\"client_credentials\"]}",
                           &native_rules, &m, &e), MCP_EINVALID);
    ck_assert_str_eq(e, "invalid_client_metadata");
    ck_assert_status(judge("{\"redirect_uris\":[\"https://a.example/cb\"],"
                           "\"grant_types\":[\"refresh_token\"]}",
                           &native_rules, &m, &e), MCP_EINVALID);
    ck_assert_status(judge("{\"redirect_uris\":[\"https://a.example/cb\"],"
                           "\"response_types\":[\"token\"]}",
                           &native_rules, &m, &e), MCP_EINVALID);
    ck_assert_status(judge("{\"redirect_uris\":[\"https://a.example/cb\"],"
                           "\"token_endpoint_auth_method\":\"private_key_jwt\"}",
                           &native_rules, &m, &e), MCP_EINVALID);
    ck_assert_status(judge("{\"redirect_uris\":[\"https://a.example/cb\"],"
                           "\"logo_uri\":\"javascript:x\"}", &native_rules, &m, &e),
                     MCP_EINVALID);
    ck_assert_status(judge("{\"redirect_uris\":[\"https://a.example/cb\"],"
                           "\"logo_uri\":\"http://cdn.example/logo.png\"}",
                           &native_rules, &m, &e), MCP_EINVALID);
    ck_assert_status(judge("{\"redirect_uris\":[\"https://a.example/cb\"],"
                           "\"client_name\":\"\"}", &native_rules, &m, &e),
                     MCP_EINVALID);
    ck_assert_status(judge("{\"redirect_uris\":[\"https://a.example/cb\"],"
                           "\"client_name\":\"a\\nb\"}", &native_rules, &m, &e),
                     MCP_EINVALID);
    ck_assert_status(judge("{\"redirect_uris\":[\"https://a.example/cb\"],"
                           "\"scope\":\"ok \\\"bad\\\"\"}", &native_rules, &m, &e),
                     MCP_EINVALID);
    ck_assert_status(judge("[1,2]", &native_rules, &m, &e), MCP_EINVALID);
    /* duplicates in grant_types are folded, unknown members ignored */
    ck_assert_status(judge("{\"redirect_uris\":[\"https://a.example/cb\"],"
                           "\"grant_types\":[\"authorization_code\","
                           "\"authorization_code\"],\"x-custom\":1,"
                           "\"scope\":\"mcp  tools:read\"}",
                           &native_rules, &m, &e), APR_SUCCESS);
    ck_assert_str_eq(m->grant_types, "authorization_code");
    ck_assert(!mcp_json_has(m->metadata, "x-custom"));
    ck_assert_str_eq(m->scope, "mcp  tools:read");
}
END_TEST

START_TEST(meta_documents)
{
    mcp_oauth_client_rules_t rules = { 1, NULL, "https://app.example/client.json", 0 };
    mcp_oauth_client_meta_t *m;
    const char *e;

    ck_assert_status(judge("{\"client_id\":\"https://app.example/client.json\","
                           "\"client_name\":\"App\",\"redirect_uris\":"
                           "[\"https://app.example/cb\"]}", &rules, &m, &e),
                     APR_SUCCESS);
    /* a document is a public client */
    ck_assert_str_eq(m->token_endpoint_auth_method, "none");
    /* it must name itself exactly */
    ck_assert_status(judge("{\"client_id\":\"https://app.example/other.json\","
                           "\"client_name\":\"App\",\"redirect_uris\":"
                           "[\"https://app.example/cb\"]}", &rules, &m, &e),
                     MCP_EINVALID);
    ck_assert_status(judge("{\"client_id\":\"https://APP.example/client.json\","
                           "\"client_name\":\"App\",\"redirect_uris\":"
                           "[\"https://app.example/cb\"]}", &rules, &m, &e),
                     MCP_EINVALID);
    ck_assert_status(judge("{\"client_name\":\"App\",\"redirect_uris\":"
                           "[\"https://app.example/cb\"]}", &rules, &m, &e),
                     MCP_EINVALID);
    /* client_name is required, secrets are not allowed */
    ck_assert_status(judge("{\"client_id\":\"https://app.example/client.json\","
                           "\"redirect_uris\":[\"https://app.example/cb\"]}",
                           &rules, &m, &e), MCP_EINVALID);
    ck_assert_status(judge("{\"client_id\":\"https://app.example/client.json\","
                           "\"client_name\":\"App\",\"client_secret\":\"x\","
                           "\"redirect_uris\":[\"https://app.example/cb\"]}",
                           &rules, &m, &e), MCP_EINVALID);
    ck_assert_status(judge("{\"client_id\":\"https://app.example/client.json\","
                           "\"client_name\":\"App\",\"token_endpoint_auth_method\":"
                           "\"client_secret_basic\",\"redirect_uris\":"
                           "[\"https://app.example/cb\"]}", &rules, &m, &e),
                     MCP_EINVALID);
}
END_TEST

START_TEST(redirect_allowed)
{
    apr_array_header_t *reg = apr_array_make(tp, 2, sizeof(const char *));

    APR_ARRAY_PUSH(reg, const char *) = "https://claude.ai/api/mcp/auth_callback";
    APR_ARRAY_PUSH(reg, const char *) = "http://127.0.0.1:33418/";
    ck_assert(mcp_oauth_redirect_allowed(tp, reg, "https://claude.ai/api/mcp/auth_callback"));
    ck_assert(!mcp_oauth_redirect_allowed(tp, reg, "https://claude.ai/api/mcp/auth_callback/"));
    ck_assert(!mcp_oauth_redirect_allowed(tp, reg, "https://claude.ai/api/mcp/auth_callback?x=1"));
    ck_assert(!mcp_oauth_redirect_allowed(tp, reg, "https://evil.example/api/mcp/auth_callback"));
    /* RFC 8252 §7.3: any port on loopback */
    ck_assert(mcp_oauth_redirect_allowed(tp, reg, "http://127.0.0.1:51234/"));
    ck_assert(!mcp_oauth_redirect_allowed(tp, reg, "http://127.0.0.1:51234/other"));
    ck_assert(!mcp_oauth_redirect_allowed(tp, NULL, "http://127.0.0.1:51234/"));
}
END_TEST

static Suite *oauth_suite(void)
{
    Suite *s = suite_create("oauth");
    TCase *tc;

    tc = mcp_tcase("pkce");
    tcase_add_test(tc, pkce_rfc7636_vector);
    tcase_add_test(tc, pkce_verifier_grammar);
    suite_add_tcase(s, tc);
    tc = mcp_tcase("params_and_secrets");
    tcase_add_test(tc, params);
    tcase_add_test(tc, secrets);
    tcase_add_test(tc, basic_credentials);
    tcase_add_test(tc, csrf);
    tcase_add_test(tc, errors_and_challenges);
    tcase_add_test(tc, cache_lifetime);
    suite_add_tcase(s, tc);
    tc = mcp_tcase("client_metadata");
    tcase_add_test(tc, meta_real_clients);
    tcase_add_test(tc, meta_redirect_rules);
    tcase_add_test(tc, meta_other_members);
    tcase_add_test(tc, meta_documents);
    tcase_add_test(tc, redirect_allowed);
    suite_add_tcase(s, tc);
    return s;
}

MCP_TEST_MAIN(oauth_suite)
