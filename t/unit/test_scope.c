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

/* OAuth scopes: the RFC 6749 grammar byte by byte, canonical sets, the
 * ":*" hierarchy, set algebra and the glob of per-tool rules. */

#include <apr_strings.h>
#include <apr_time.h>

#include "mcp_test.h"
#include "mcp/mcp_scope.h"

static apr_array_header_t *set_of(const char *list)
{
    apr_array_header_t *set = NULL;
    const char *err = NULL;

    ck_assert_msg(mcp_scope_parse(&set, tp, list, &err) == APR_SUCCESS,
                  "'%s' refused: %s", list ? list : "(null)", err);
    ck_assert_ptr_nonnull(set);
    return set;
}

static const char *canon(const char *list)
{
    return mcp_scope_join(tp, set_of(list));
}

START_TEST(token_grammar)
{
    char s[2] = { 0, 0 };
    int c;

    /* Every byte: allowed exactly when %x21 / %x23-5B / %x5D-7E. */
    for (c = 1; c < 256; c++) {
        int want = c == 0x21 || (c >= 0x23 && c <= 0x5b)
                   || (c >= 0x5d && c <= 0x7e);

        s[0] = (char)c;
        ck_assert_msg(mcp_scope_token_valid(s) == want, "byte 0x%02x", c);
    }
    ck_assert(!mcp_scope_token_valid(" "));
    ck_assert(!mcp_scope_token_valid("\""));
    ck_assert(!mcp_scope_token_valid("\\"));
    ck_assert(!mcp_scope_token_valid("\x7f"));
    ck_assert(!mcp_scope_token_valid("a\tb"));
    ck_assert(!mcp_scope_token_valid("a\nb"));
    ck_assert(!mcp_scope_token_valid("caf\xc3\xa9"));
    ck_assert(!mcp_scope_token_valid("a b"));
    ck_assert(!mcp_scope_token_valid(""));
    ck_assert(!mcp_scope_token_valid(NULL));
    ck_assert(mcp_scope_token_valid("!"));
    ck_assert(mcp_scope_token_valid("#"));
    ck_assert(mcp_scope_token_valid("["));
    ck_assert(mcp_scope_token_valid("]"));
    ck_assert(mcp_scope_token_valid("~"));
    ck_assert(mcp_scope_token_valid("github:repo:write"));
    ck_assert(mcp_scope_token_valid("https://api.example/read"));
    ck_assert(mcp_scope_token_valid("*"));
}
END_TEST

START_TEST(token_length)
{
    char buf[MCP_SCOPE_MAX_TOKEN + 2];
    apr_array_header_t *set;
    const char *err = NULL;

    memset(buf, 'a', sizeof(buf));
    buf[MCP_SCOPE_MAX_TOKEN] = '\0';
    ck_assert(mcp_scope_token_valid(buf));
    ck_assert_str_eq(canon(buf), buf);
    buf[MCP_SCOPE_MAX_TOKEN] = 'a';
    buf[MCP_SCOPE_MAX_TOKEN + 1] = '\0';
    ck_assert(!mcp_scope_token_valid(buf));
    ck_assert_status(mcp_scope_parse(&set, tp, buf, &err), MCP_EINVALID);
    ck_assert_ptr_nonnull(strstr(err, "longer than 128"));
    ck_assert_ptr_null(set);
}
END_TEST

START_TEST(parse_sort_dedupe_join)
{
    apr_array_header_t *set;

    ck_assert_int_eq(set_of(NULL)->nelts, 0);
    ck_assert_int_eq(set_of("")->nelts, 0);
    ck_assert_int_eq(set_of("    ")->nelts, 0);
    ck_assert_str_eq(canon(NULL), "");
    ck_assert_str_eq(canon("mcp"), "mcp");
    ck_assert_str_eq(canon("b a c"), "a b c");
    ck_assert_str_eq(canon("  b   a  b c a  "), "a b c");
    ck_assert_str_eq(canon("read Read READ"), "READ Read read");
    ck_assert_str_eq(canon("github:write github:* github:read"),
                     "github:* github:read github:write");
    /* Round trip: a joined set parses to itself. */
    ck_assert_str_eq(canon(canon("z y x y z")), "x y z");

    set = set_of("a c");
    ck_assert_status(mcp_scope_set_add(set, "b"), APR_SUCCESS);
    ck_assert_status(mcp_scope_set_add(set, "b"), APR_SUCCESS);
    ck_assert_status(mcp_scope_set_add(set, "0"), APR_SUCCESS);
    ck_assert_status(mcp_scope_set_add(set, "d"), APR_SUCCESS);
    ck_assert_status(mcp_scope_set_add(set, "a b"), MCP_EINVALID);
    ck_assert_status(mcp_scope_set_add(set, ""), MCP_EINVALID);
    ck_assert_status(mcp_scope_set_add(set, NULL), MCP_EINVALID);
    ck_assert_status(mcp_scope_set_add(NULL, "a"), MCP_EINVALID);
    ck_assert_str_eq(mcp_scope_join(tp, set), "0 a b c d");
    ck_assert_str_eq(mcp_scope_join(tp, mcp_scope_set_make(tp)), "");
    ck_assert_str_eq(mcp_scope_join(tp, NULL), "");

    ck_assert(mcp_scope_set_has(set, "a"));
    ck_assert(mcp_scope_set_has(set, "d"));
    ck_assert(!mcp_scope_set_has(set, "A"));
    ck_assert(!mcp_scope_set_has(set, "e"));
    ck_assert(!mcp_scope_set_has(NULL, "a"));
    ck_assert(!mcp_scope_set_has(set, NULL));
}
END_TEST

START_TEST(parse_refuses)
{
    static const char *bad[] = {
        "a\tb", "a\nb", "a\rb", "a\x0b" "b", "a\"b", "a\\b", "a\x7f", "caf\xc3\xa9",
        "a \x01", "\t", "ok \"quoted\"",
    };
    apr_array_header_t *set;
    const char *err;
    apr_size_t i;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err = NULL;
        set = (apr_array_header_t *)1;
        ck_assert_msg(mcp_scope_parse(&set, tp, bad[i], &err) == MCP_EINVALID,
                      "'%s' accepted", bad[i]);
        ck_assert_ptr_null(set);
        ck_assert_ptr_nonnull(err);
        /* The message names the token but brings no control characters. */
        ck_assert_ptr_nonnull(strstr(err, "not a valid scope"));
        ck_assert_ptr_null(strpbrk(err, "\t\r\n\x01\x0b\x7f"));
    }
    mcp_scope_parse(&set, tp, "mcp a\tb", &err);
    ck_assert_str_eq(err, "scope 'a\\x09b' is not a valid scope token (RFC 6749 "
                     "section 3.3)");
}
END_TEST

START_TEST(parse_limits)
{
    apr_array_header_t *set;
    const char *list = "", *err = NULL;
    int i;

    for (i = 0; i < MCP_SCOPE_MAX_TOKENS; i++) {
        list = apr_psprintf(tp, "%s s%d", list, i);
    }
    ck_assert_int_eq(set_of(list)->nelts, MCP_SCOPE_MAX_TOKENS);
    ck_assert_status(mcp_scope_parse(&set, tp, apr_pstrcat(tp, list, " x", NULL),
                                     &err), MCP_ETOOLARGE);
    ck_assert_ptr_null(set);
    ck_assert_ptr_nonnull(strstr(err, "more than 64"));
    /* Duplicates count: the limit is on what the client sends. */
    list = "";
    for (i = 0; i <= MCP_SCOPE_MAX_TOKENS; i++) {
        list = apr_pstrcat(tp, list, " a", NULL);
    }
    ck_assert_status(mcp_scope_parse(&set, tp, list, NULL), MCP_ETOOLARGE);
}
END_TEST

START_TEST(hierarchy)
{
    apr_array_header_t *g = set_of("github:* mcp a:* *");

    ck_assert(mcp_scope_covers(g, "github:read"));
    ck_assert(mcp_scope_covers(g, "github:repo:write"));
    ck_assert(mcp_scope_covers(g, "github:*"));
    ck_assert(!mcp_scope_covers(g, "github"));
    ck_assert(!mcp_scope_covers(g, "gitlab:read"));
    ck_assert(!mcp_scope_covers(g, "GitHub:read"));
    ck_assert(!mcp_scope_covers(g, "githubx:read"));
    ck_assert(mcp_scope_covers(g, "mcp"));
    ck_assert(!mcp_scope_covers(g, "mcp:read"));         /* no ":*" granted */
    ck_assert(!mcp_scope_covers(g, "mc"));
    /* "a:*" covers what starts with "a:" (also "a:" itself), not "a". */
    ck_assert(mcp_scope_covers(g, "a:"));
    ck_assert(mcp_scope_covers(g, "a:b"));
    ck_assert(!mcp_scope_covers(g, "a"));
    ck_assert(!mcp_scope_covers(g, "ab"));
    /* "*" is no catch-all: it covers itself only. */
    ck_assert(mcp_scope_covers(g, "*"));
    ck_assert(!mcp_scope_covers(g, "anything"));
    ck_assert(!mcp_scope_covers(set_of("*"), "x"));
    ck_assert(!mcp_scope_covers(set_of(":*"), ":x"));
    ck_assert(mcp_scope_covers(set_of(":*"), ":*"));
    /* Only a trailing ":*" is a wildcard. */
    ck_assert(!mcp_scope_covers(set_of("github*"), "github:read"));
    ck_assert(!mcp_scope_covers(set_of("git*:read"), "github:read"));
    ck_assert(!mcp_scope_covers(set_of("a:*:b"), "a:x:b"));
    ck_assert(mcp_scope_covers(set_of("a:b:*"), "a:b:c"));
    ck_assert(!mcp_scope_covers(set_of("a:b:*"), "a:c"));
    ck_assert(!mcp_scope_covers(set_of(""), "a"));
    ck_assert(!mcp_scope_covers(NULL, "a"));
    ck_assert(!mcp_scope_covers(g, NULL));

    ck_assert(mcp_scope_covers_all(g, set_of("mcp github:read a:x")));
    ck_assert(!mcp_scope_covers_all(g, set_of("mcp github:read b")));
    ck_assert(mcp_scope_covers_all(g, set_of("")));
    ck_assert(mcp_scope_covers_all(set_of(""), set_of("")));
    ck_assert(!mcp_scope_covers_all(set_of(""), set_of("a")));
}
END_TEST

START_TEST(set_algebra)
{
    apr_array_header_t *a = set_of("mcp github:read github:write x");
    apr_array_header_t *b = set_of("github:read y mcp");

    ck_assert_str_eq(mcp_scope_join(tp, mcp_scope_union(tp, a, b)),
                     "github:read github:write mcp x y");
    ck_assert_str_eq(mcp_scope_join(tp, mcp_scope_intersect(tp, a, b)),
                     "github:read mcp");
    ck_assert_str_eq(mcp_scope_join(tp, mcp_scope_minus(tp, a, b)),
                     "github:write x");
    /* minus honours the hierarchy of b; intersect is exact. */
    ck_assert_str_eq(mcp_scope_join(tp, mcp_scope_minus(tp, a, set_of("github:*"))),
                     "mcp x");
    ck_assert_str_eq(mcp_scope_join(tp, mcp_scope_intersect(tp, a, set_of("github:*"))),
                     "");
    /* Empty and NULL operands. */
    ck_assert_str_eq(mcp_scope_join(tp, mcp_scope_union(tp, a, NULL)),
                     mcp_scope_join(tp, a));
    ck_assert_str_eq(mcp_scope_join(tp, mcp_scope_union(tp, NULL, b)),
                     "github:read mcp y");
    ck_assert_int_eq(mcp_scope_intersect(tp, a, set_of(""))->nelts, 0);
    ck_assert_str_eq(mcp_scope_join(tp, mcp_scope_minus(tp, a, NULL)),
                     mcp_scope_join(tp, a));
    ck_assert_int_eq(mcp_scope_minus(tp, NULL, b)->nelts, 0);
    /* Results are sets: they stay sorted for further adds. */
    {
        apr_array_header_t *u = mcp_scope_union(tp, a, b);

        ck_assert_status(mcp_scope_set_add(u, "aa"), APR_SUCCESS);
        ck_assert_str_eq(mcp_scope_join(tp, u),
                         "aa github:read github:write mcp x y");
        ck_assert(mcp_scope_set_has(u, "y"));
    }
}
END_TEST

START_TEST(glob)
{
    ck_assert(mcp_scope_glob_match("create_*", "create_issue"));
    ck_assert(mcp_scope_glob_match("create_*", "create_"));
    ck_assert(!mcp_scope_glob_match("create_*", "create"));
    ck_assert(!mcp_scope_glob_match("create_*", "xcreate_issue"));
    ck_assert(mcp_scope_glob_match("*_issue", "create_issue"));
    ck_assert(mcp_scope_glob_match("*_issue", "_issue"));
    ck_assert(!mcp_scope_glob_match("*_issue", "create_issues"));
    ck_assert(mcp_scope_glob_match("*", ""));
    ck_assert(mcp_scope_glob_match("*", "anything"));
    ck_assert(mcp_scope_glob_match("**", "x"));
    ck_assert(mcp_scope_glob_match("", ""));
    ck_assert(!mcp_scope_glob_match("", "x"));
    ck_assert(!mcp_scope_glob_match("?", ""));
    ck_assert(mcp_scope_glob_match("?", "x"));
    ck_assert(!mcp_scope_glob_match("?", "xy"));
    ck_assert(mcp_scope_glob_match("a?c", "abc"));
    ck_assert(!mcp_scope_glob_match("a?c", "ac"));
    ck_assert(mcp_scope_glob_match("*a*b*", "xxaxxbxx"));
    ck_assert(mcp_scope_glob_match("*a*b*", "ab"));
    ck_assert(!mcp_scope_glob_match("*a*b*", "ba"));
    ck_assert(mcp_scope_glob_match("get_*_by_?d", "get_user_by_id"));
    ck_assert(mcp_scope_glob_match("a*b*c", "abbbbcbc"));
    ck_assert(!mcp_scope_glob_match("a*b*c", "abbbbcb"));
    ck_assert(!mcp_scope_glob_match("Create_*", "create_issue"));
    ck_assert(mcp_scope_glob_match("x.y[1]", "x.y[1]"));
    ck_assert(!mcp_scope_glob_match(NULL, "x"));
    ck_assert(!mcp_scope_glob_match("x", NULL));
}
END_TEST

START_TEST(glob_is_not_exponential)
{
    apr_size_t n = 200000;
    char *name = apr_palloc(tp, n + 2);
    apr_time_t t0;

    memset(name, 'a', n);
    name[n] = '\0';
    t0 = apr_time_now();
    ck_assert(!mcp_scope_glob_match("a*a*a*a*a*a*b", name));
    ck_assert(!mcp_scope_glob_match("*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*?b", name));
    name[n] = 'b';
    name[n + 1] = '\0';
    ck_assert(mcp_scope_glob_match("a*a*a*a*a*a*b", name));
    /* A backtracking matcher takes years here; generous for valgrind. */
    ck_assert_msg(apr_time_now() - t0 < apr_time_from_sec(20),
                  "glob took %" APR_TIME_T_FMT " us",
                  apr_time_now() - t0);
}
END_TEST

static Suite *scope_suite(void)
{
    Suite *s = suite_create("scope");
    TCase *tc;

    tc = mcp_tcase("grammar");
    tcase_add_test(tc, token_grammar);
    tcase_add_test(tc, token_length);
    suite_add_tcase(s, tc);
    tc = mcp_tcase("parse");
    tcase_add_test(tc, parse_sort_dedupe_join);
    tcase_add_test(tc, parse_refuses);
    tcase_add_test(tc, parse_limits);
    suite_add_tcase(s, tc);
    tc = mcp_tcase("hierarchy");
    tcase_add_test(tc, hierarchy);
    tcase_add_test(tc, set_algebra);
    suite_add_tcase(s, tc);
    tc = mcp_tcase("glob");
    tcase_add_test(tc, glob);
    tcase_add_test(tc, glob_is_not_exponential);
    suite_add_tcase(s, tc);
    return s;
}

MCP_TEST_MAIN(scope_suite)
