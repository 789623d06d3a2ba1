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

/* mcp_upstream: the gateway as an OAuth client of upstream providers. */

#include <apr_strings.h>

#include "mcp_test.h"
#include "mcp/mcp_upstream.h"
#include "mcp/mcp_url.h"

static const char *qparam(const char *url, const char *name)
{
    const char *q = strchr(url, '?');
    apr_table_t *t;

    ck_assert_ptr_nonnull(q);
    ck_assert_status(mcp_url_form_decode(&t, tp, q + 1, strlen(q + 1), 0, 0,
                                         NULL), APR_SUCCESS);
    return apr_table_get(t, name);
}

START_TEST(authorize_url)
{
    mcp_upstream_authz_req_t q;
    apr_table_t *extra;
    const char *u, *err = NULL;

    memset(&q, 0, sizeof(q));
    q.endpoint = "https://up.example/authorize?tenant=a";
    q.client_id = "gw client";
    q.redirect_uri = "https://gw.example/oauth/v1/callback";
    q.scope = "read:user repo";
    q.state = "st&ate";
    q.challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
    ck_assert_status(mcp_upstream_parse_params(&extra, tp,
                                               "prompt=consent&access_type=offline",
                                               &err), APR_SUCCESS);
    q.extra = extra;
    u = mcp_upstream_authorize_url(tp, &q);
    ck_assert_ptr_nonnull(u);
    ck_assert(!strncmp(u, "https://up.example/authorize?tenant=a&response_type=code&", 57));
    ck_assert_str_eq(qparam(u, "client_id"), "gw client");
    ck_assert_str_eq(qparam(u, "redirect_uri"), q.redirect_uri);
    ck_assert_str_eq(qparam(u, "scope"), "read:user repo");
    ck_assert_str_eq(qparam(u, "state"), "st&ate");
    ck_assert_str_eq(qparam(u, "code_challenge"), q.challenge);
    ck_assert_str_eq(qparam(u, "code_challenge_method"), "S256");
    ck_assert_str_eq(qparam(u, "prompt"), "consent");
    ck_assert_str_eq(qparam(u, "access_type"), "offline");

    /* Without PKCE and scope: neither is sent. */
    q.challenge = NULL;
    q.scope = "";
    q.extra = NULL;
    u = mcp_upstream_authorize_url(tp, &q);
    ck_assert_ptr_null(qparam(u, "code_challenge"));
    ck_assert_ptr_null(qparam(u, "code_challenge_method"));
    ck_assert_ptr_null(qparam(u, "scope"));

    q.state = NULL;
    ck_assert_ptr_null(mcp_upstream_authorize_url(tp, &q));
    q.state = "s";
    q.endpoint = "https://up.example/a#frag";
    ck_assert_ptr_null(mcp_upstream_authorize_url(tp, &q));
}
END_TEST

START_TEST(params)
{
    apr_table_t *t;
    const char *err = NULL;

    ck_assert_status(mcp_upstream_parse_params(&t, tp, "a=1&b=x%20y", &err),
                     APR_SUCCESS);
    ck_assert_str_eq(apr_table_get(t, "b"), "x y");
    ck_assert_status(mcp_upstream_parse_params(&t, tp, "state=1", &err),
                     MCP_EINVALID);
    ck_assert_ptr_nonnull(strstr(err, "state"));
    ck_assert_status(mcp_upstream_parse_params(&t, tp, "=1", &err),
                     MCP_EINVALID);
    ck_assert_status(mcp_upstream_parse_params(&t, tp, "a=%zz", &err),
                     MCP_EINVALID);
    ck_assert(mcp_upstream_reserved_param("redirect_uri"));
    ck_assert(!mcp_upstream_reserved_param("prompt"));
}
END_TEST

START_TEST(token_form)
{
    const char *f = mcp_upstream_token_form(tp, "c/d", "https://gw/cb", "v",
                                            NULL, "id", NULL);
    apr_table_t *t;

    ck_assert_status(mcp_url_form_decode(&t, tp, f, strlen(f), 0, 0, NULL),
                     APR_SUCCESS);
    ck_assert_str_eq(apr_table_get(t, "grant_type"), "authorization_code");
    ck_assert_str_eq(apr_table_get(t, "code"), "c/d");
    ck_assert_str_eq(apr_table_get(t, "redirect_uri"), "https://gw/cb");
    ck_assert_str_eq(apr_table_get(t, "code_verifier"), "v");
    ck_assert_str_eq(apr_table_get(t, "client_id"), "id");
    ck_assert_ptr_null(apr_table_get(t, "client_secret"));

    f = mcp_upstream_token_form(tp, NULL, NULL, NULL, "r+t", "id", "s&s");
    ck_assert_status(mcp_url_form_decode(&t, tp, f, strlen(f), 0, 0, NULL),
                     APR_SUCCESS);
    ck_assert_str_eq(apr_table_get(t, "grant_type"), "refresh_token");
    ck_assert_str_eq(apr_table_get(t, "refresh_token"), "r+t");
    ck_assert_str_eq(apr_table_get(t, "client_secret"), "s&s");
    ck_assert_ptr_null(apr_table_get(t, "code_verifier"));

    /* RFC 6749 2.3.1: "a:b" / "c d" -> base64("a%3Ab:c%20d") */
    ck_assert_str_eq(mcp_upstream_basic_auth(tp, "a:b", "c d"),
                     "Basic YSUzQWI6YyUyMGQ=");
}
END_TEST

START_TEST(token_answers)
{
    mcp_upstream_tokens_t *t;
    const char *e, *d, *b;

    b = "{\"access_token\":\"at1\",\"token_type\":\"Bearer\",\"expires_in\":60,"
        "\"refresh_token\":\"rt1\",\"scope\":\"repo read:user\","
        "\"refresh_expires_in\":\"3600\"}";
    ck_assert_status(mcp_upstream_token_parse(&t, tp, 200, "application/json",
                                              b, strlen(b), 1000, &e, &d),
                     APR_SUCCESS);
    ck_assert_str_eq(t->access_token, "at1");
    ck_assert_str_eq(t->refresh_token, "rt1");
    ck_assert_str_eq(t->token_type, "Bearer");
    ck_assert_int_eq(t->expires_at, 1060);
    ck_assert_int_eq(t->refresh_expires_at, 4600);
    ck_assert_str_eq(t->scope, "read:user repo");

    /* GitHub's form answer, commas between scopes, no expiry. */
    b = "access_token=gho_x&scope=repo%2Cread%3Aorg&token_type=bearer";
    ck_assert_status(mcp_upstream_token_parse(&t, tp, 200,
                                              "application/x-www-form-urlencoded",
                                              b, strlen(b), 1000, &e, &d),
                     APR_SUCCESS);
    ck_assert_str_eq(t->access_token, "gho_x");
    ck_assert_ptr_null(t->refresh_token);
    ck_assert_int_eq(t->expires_at, 0);
    ck_assert_str_eq(t->scope, "read:org repo");

    /* An OAuth error, with 400 or (GitHub) with 200. */
    b = "{\"error\":\"invalid_grant\",\"error_description\":\"grant request is invalid\"}";
    ck_assert_status(mcp_upstream_token_parse(&t, tp, 400, "application/json",
                                              b, strlen(b), 1000, &e, &d),
                     MCP_EPROTO);
    ck_assert_ptr_null(t);
    ck_assert_str_eq(e, "invalid_grant");
    ck_assert_str_eq(d, "invalid_grant: grant request is invalid");
    ck_assert_status(mcp_upstream_token_parse(&t, tp, 200, "application/json",
                                              b, strlen(b), 1000, &e, &d),
                     MCP_EPROTO);
    ck_assert_str_eq(e, "invalid_grant");

    /* Not an OAuth answer; no access token; a bad error code. */
    b = "<html>oops</html>";
    ck_assert_status(mcp_upstream_token_parse(&t, tp, 502, "text/html", b,
                                              strlen(b), 1000, &e, &d),
                     MCP_EPROTO);
    ck_assert_str_eq(e, "invalid_response");
    ck_assert_ptr_nonnull(strstr(d, "502"));
    b = "{\"token_type\":\"bearer\"}";
    ck_assert_status(mcp_upstream_token_parse(&t, tp, 200, NULL, b, strlen(b),
                                              1000, &e, &d), MCP_EPROTO);
    ck_assert_str_eq(e, "invalid_response");
    b = "{\"error\":\"bad code\\n\"}";
    ck_assert_status(mcp_upstream_token_parse(&t, tp, 400, NULL, b, strlen(b),
                                              1000, &e, &d), MCP_EPROTO);
    ck_assert_str_eq(e, "invalid_response");
    b = "{\"access_token\":\"a\\r\\nX-Injected: 1\"}";
    ck_assert_status(mcp_upstream_token_parse(&t, tp, 200, NULL, b, strlen(b),
                                              1000, &e, &d), MCP_EPROTO);
    ck_assert_status(mcp_upstream_token_parse(&t, tp, 200, NULL, NULL, 0,
                                              1000, &e, &d), MCP_EPROTO);
    /* Lifetimes that make no sense are unknown. */
    b = "{\"access_token\":\"a\",\"expires_in\":-5}";
    ck_assert_status(mcp_upstream_token_parse(&t, tp, 200, NULL, b, strlen(b),
                                              1000, &e, &d), APR_SUCCESS);
    ck_assert_int_eq(t->expires_at, 0);
}
END_TEST

START_TEST(tokens_text)
{
    mcp_upstream_tokens_t in, *out;
    const char *s;

    memset(&in, 0, sizeof(in));
    in.access_token = "a\"t";
    in.refresh_token = "r";
    in.token_type = "bearer";
    s = mcp_upstream_tokens_text(tp, &in);
    ck_assert_status(mcp_upstream_tokens_from_text(&out, tp, s, strlen(s)),
                     APR_SUCCESS);
    ck_assert_str_eq(out->access_token, "a\"t");
    ck_assert_str_eq(out->refresh_token, "r");
    ck_assert_str_eq(out->token_type, "bearer");
    in.refresh_token = NULL;
    s = mcp_upstream_tokens_text(tp, &in);
    ck_assert_status(mcp_upstream_tokens_from_text(&out, tp, s, strlen(s)),
                     APR_SUCCESS);
    ck_assert_ptr_null(out->refresh_token);
    ck_assert_status(mcp_upstream_tokens_from_text(&out, tp, "{}", 2),
                     MCP_EPARSE);
    ck_assert_status(mcp_upstream_tokens_from_text(&out, tp, "x", 1),
                     MCP_EPARSE);
}
END_TEST

START_TEST(tokens_open)
{
    static const unsigned char key[MCP_AEAD_KEY_LEN] = { 1, 2, 3 };
    mcp_keyring_t *kr, *other;
    mcp_upstream_tokens_t in, *out;
    const char *s, *env;

    memset(&in, 0, sizeof(in));
    in.access_token = "at";
    in.refresh_token = "rt";
    s = mcp_upstream_tokens_text(tp, &in);
    ck_assert_status(mcp_keyring_create(&kr, tp), APR_SUCCESS);
    ck_assert_status(mcp_keyring_add(kr, "k1", key, 0, NULL), APR_SUCCESS);
    ck_assert_status(mcp_vault_seal(&env, tp, kr, "alice", "gh", s, strlen(s)),
                     APR_SUCCESS);
    ck_assert_status(mcp_upstream_tokens_open(&out, tp, kr, env, "alice",
                                              "gh"), APR_SUCCESS);
    ck_assert_str_eq(out->access_token, "at");
    ck_assert_str_eq(out->refresh_token, "rt");
    /* another pair, another keyring, no envelope */
    ck_assert_status(mcp_upstream_tokens_open(&out, tp, kr, env, "alice",
                                              "g"), MCP_EVERIFY);
    ck_assert_ptr_null(out);
    ck_assert_status(mcp_keyring_create(&other, tp), APR_SUCCESS);
    ck_assert_status(mcp_upstream_tokens_open(&out, tp, other, env, "alice",
                                              "gh"), MCP_ENOTFOUND);
    ck_assert_status(mcp_upstream_tokens_open(&out, tp, kr, "x", "alice",
                                              "gh"), MCP_EPARSE);
    /* an envelope of something that is no token record */
    ck_assert_status(mcp_vault_seal(&env, tp, kr, "alice", "gh", "{}", 2),
                     APR_SUCCESS);
    ck_assert_status(mcp_upstream_tokens_open(&out, tp, kr, env, "alice",
                                              "gh"), MCP_EPARSE);
}
END_TEST

START_TEST(metadata)
{
    mcp_upstream_metadata_urls_t u;
    mcp_upstream_metadata_t *m;
    const char *err = NULL, *b;

    ck_assert_status(mcp_upstream_metadata_urls(&u, tp, "https://id.example"),
                     APR_SUCCESS);
    ck_assert_str_eq(u.rfc8414, "https://id.example/.well-known/oauth-authorization-server");
    ck_assert_str_eq(u.openid, "https://id.example/.well-known/openid-configuration");
    ck_assert_status(mcp_upstream_metadata_urls(&u, tp, "https://id.example/t1/"),
                     APR_SUCCESS);
    ck_assert_str_eq(u.rfc8414, "https://id.example/.well-known/oauth-authorization-server/t1");
    ck_assert_str_eq(u.openid, "https://id.example/t1/.well-known/openid-configuration");
    ck_assert_status(mcp_upstream_metadata_urls(&u, tp, "nope"), MCP_EINVALID);

    b = "{\"issuer\":\"http://127.0.0.1:9\",\"authorization_endpoint\":"
        "\"http://127.0.0.1:9/auth\",\"token_endpoint\":\"http://127.0.0.1:9/token\","
        "\"revocation_endpoint\":\"http://127.0.0.1:9/token/revocation\","
        "\"token_endpoint_auth_methods_supported\":[\"client_secret_post\"]}";
    ck_assert_status(mcp_upstream_metadata_parse(&m, tp, b, strlen(b),
                                                 "http://127.0.0.1:9",
                                                 MCP_URL_SECURE, &err),
                     APR_SUCCESS);
    ck_assert_str_eq(m->token_endpoint, "http://127.0.0.1:9/token");
    ck_assert_str_eq(m->revocation_endpoint, "http://127.0.0.1:9/token/revocation");
    ck_assert(m->post_only);
    /* Another issuer; endpoints the rules refuse; not JSON. */
    ck_assert_status(mcp_upstream_metadata_parse(&m, tp, b, strlen(b),
                                                 "http://127.0.0.1:10",
                                                 MCP_URL_SECURE, &err),
                     MCP_EINVALID);
    ck_assert_ptr_nonnull(strstr(err, "issuer"));
    ck_assert_status(mcp_upstream_metadata_parse(&m, tp, b, strlen(b),
                                                 "http://127.0.0.1:9",
                                                 MCP_URL_HTTPS, &err),
                     MCP_EINVALID);
    ck_assert_status(mcp_upstream_metadata_parse(&m, tp, "[]", 2, "x",
                                                 MCP_URL_HTTPS, &err),
                     MCP_EPARSE);
}
END_TEST

START_TEST(missing_scopes)
{
    ck_assert_str_eq(mcp_upstream_missing_scopes(tp, "repo read:user", "read:user repo x"), "");
    ck_assert_str_eq(mcp_upstream_missing_scopes(tp, "repo read:user", "repo"), "read:user");
    ck_assert_str_eq(mcp_upstream_missing_scopes(tp, "repo", NULL), "repo");
    ck_assert_str_eq(mcp_upstream_missing_scopes(tp, NULL, "repo"), "");
    ck_assert_str_eq(mcp_upstream_missing_scopes(tp, "openid offline_access repo",
                                                 "repo"), "");
}
END_TEST

START_TEST(revoke_form)
{
    mcp_upstream_tokens_t tok = { "a&t", "r=t", "bearer", NULL, 0, 0 };
    const char *f = mcp_upstream_revoke_form(tp, &tok, "id", NULL);
    apr_table_t *t;

    /* the refresh token, when there is one */
    ck_assert_status(mcp_url_form_decode(&t, tp, f, strlen(f), 0, 0, NULL),
                     APR_SUCCESS);
    ck_assert_str_eq(apr_table_get(t, "token"), "r=t");
    ck_assert_str_eq(apr_table_get(t, "token_type_hint"), "refresh_token");
    ck_assert_str_eq(apr_table_get(t, "client_id"), "id");
    ck_assert_ptr_null(apr_table_get(t, "client_secret"));

    /* else the access token; the secret when it goes in the form */
    tok.refresh_token = "";
    f = mcp_upstream_revoke_form(tp, &tok, "id", "s&s");
    ck_assert_status(mcp_url_form_decode(&t, tp, f, strlen(f), 0, 0, NULL),
                     APR_SUCCESS);
    ck_assert_str_eq(apr_table_get(t, "token"), "a&t");
    ck_assert_str_eq(apr_table_get(t, "token_type_hint"), "access_token");
    ck_assert_str_eq(apr_table_get(t, "client_secret"), "s&s");

    tok.access_token = NULL;
    ck_assert_ptr_null(mcp_upstream_revoke_form(tp, &tok, "id", NULL));
}
END_TEST

START_TEST(revoke_answers)
{
    const char *err = NULL;
    static const char bad[] = "{\"error\":\"invalid_client\"}";
    static const char hostile[] = "{\"error\":\"a b\\r\\nX: y\"}";
    static const char unsupported[] = "{\"error\":\"unsupported_token_type\"}";

    ck_assert_status(mcp_upstream_revoke_parse(tp, 200, NULL, 0, &err),
                     APR_SUCCESS);
    ck_assert_ptr_null(err);
    ck_assert_status(mcp_upstream_revoke_parse(tp, 401, bad, sizeof(bad) - 1,
                                               &err), MCP_EPROTO);
    ck_assert_str_eq(err, "the revocation endpoint answered 401 "
                     "(invalid_client)");
    ck_assert_status(mcp_upstream_revoke_parse(tp, 503, "<html>", 6, &err),
                     MCP_EPROTO);
    ck_assert_str_eq(err, "the revocation endpoint answered 503");
    /* an error code that is no OAuth token is not repeated */
    ck_assert_status(mcp_upstream_revoke_parse(tp, 400, hostile,
                                               sizeof(hostile) - 1, &err),
                     MCP_EPROTO);
    ck_assert_str_eq(err, "the revocation endpoint answered 400");
    /* a type of token the provider does not revoke (RFC 7009 §2.2.1) */
    ck_assert_status(mcp_upstream_revoke_parse(tp, 400, unsupported,
                                               sizeof(unsupported) - 1, &err),
                     APR_ENOTIMPL);
    ck_assert_str_eq(err, "the revocation endpoint answered 400 "
                     "(unsupported_token_type)");
}
END_TEST

static Suite *upstream_suite(void)
{
    Suite *s = suite_create("upstream");
    TCase *tc = mcp_tcase("upstream");

    tcase_add_test(tc, authorize_url);
    tcase_add_test(tc, params);
    tcase_add_test(tc, token_form);
    tcase_add_test(tc, token_answers);
    tcase_add_test(tc, revoke_form);
    tcase_add_test(tc, revoke_answers);
    tcase_add_test(tc, tokens_text);
    tcase_add_test(tc, tokens_open);
    tcase_add_test(tc, metadata);
    tcase_add_test(tc, missing_scopes);
    suite_add_tcase(s, tc);
    return s;
}

MCP_TEST_MAIN(upstream_suite)
