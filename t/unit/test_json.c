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

#include <apr_strings.h>

#include "mcp_test.h"
#include "mcp/mcp_json.h"

static mcp_json_t *parse_ok(const char *text)
{
    mcp_json_t *j = NULL;
    const char *err = NULL;
    apr_status_t rv = mcp_json_parse(&j, tp, text, strlen(text), NULL, &err);

    ck_assert_msg(rv == APR_SUCCESS, "parse of '%s' failed: %s", text,
                  err ? err : "?");
    ck_assert_ptr_nonnull(j);
    return j;
}

static apr_status_t parse_fail(const char *text, apr_size_t len,
                               const mcp_json_limits_t *lim, const char **perr)
{
    mcp_json_t *j = (mcp_json_t *)1;
    apr_status_t rv = mcp_json_parse(&j, tp, text, len, lim, perr);

    ck_assert_int_ne(rv, APR_SUCCESS);
    ck_assert_ptr_null(j);
    ck_assert_ptr_nonnull(*perr);
    ck_assert_int_gt(strlen(*perr), 0);
    return rv;
}

START_TEST(parse_roundtrip)
{
    const char *text = "{\"a\":1,\"b\":[true,false,null,\"x\"],\"c\":{\"d\":-5}}";
    mcp_json_t *j = parse_ok(text);
    apr_size_t len;
    const char *out = mcp_json_dump(tp, j, MCP_JSON_FMT_COMPACT, &len);

    ck_assert_str_eq(out, text);
    ck_assert_uint_eq(len, strlen(text));
    ck_assert(mcp_json_is_object(j));
    ck_assert_uint_eq(mcp_json_size(j), 3);
}
END_TEST

START_TEST(parse_scalars)
{
    ck_assert(mcp_json_is_string(parse_ok("\"hi\"")));
    ck_assert(mcp_json_is_int(parse_ok("42")));
    ck_assert(mcp_json_is_number(parse_ok("4.5e3")));
    ck_assert(!mcp_json_is_int(parse_ok("4.5")));
    ck_assert(mcp_json_is_null(parse_ok("null")));
    ck_assert(mcp_json_boolval(parse_ok(" true ")));
    ck_assert_int_eq(mcp_json_intval(parse_ok("-9223372036854775808")),
                     INT64_MIN);
}
END_TEST

START_TEST(parse_garbage)
{
    static const char *bad[] = {
        "", " ", "{", "}", "[1,2", "{\"a\":}", "{\"a\" 1}", "nul", "tru",
        "{\"a\":1}x", "[1,]", "'single'", "{a:1}", "\"unterminated",
        "\"bad \\q escape\"", "01", "1.", "-", "[1 2]", "{\"a\":1,}",
        "\x01", "NaN", "Infinity", "[\"\\ud800\"]",
    };
    apr_size_t i;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        const char *err = NULL;
        ck_assert_msg(parse_fail(bad[i], strlen(bad[i]), NULL, &err) == MCP_EPARSE,
                      "'%s' not rejected as a parse error", bad[i]);
    }
}
END_TEST

START_TEST(parse_truncated)
{
    const char *text = "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/list\","
                       "\"params\":{\"cursor\":\"abc\"}}";
    apr_size_t n, len = strlen(text);

    /* Every proper prefix of a valid document is an error, never a crash. */
    for (n = 0; n < len; n++) {
        const char *err = NULL;
        ck_assert_int_eq(parse_fail(text, n, NULL, &err), MCP_EPARSE);
    }
    parse_ok(text);
}
END_TEST

START_TEST(parse_not_nul_terminated)
{
    /* The parser must honour the length and not read past it. */
    char *buf = apr_palloc(tp, 8);
    mcp_json_t *j = NULL;
    const char *err = NULL;

    memcpy(buf, "[1,2,3]", 7);
    buf[7] = 'x';
    ck_assert_status(mcp_json_parse(&j, tp, buf, 7, NULL, &err), APR_SUCCESS);
    ck_assert_uint_eq(mcp_json_size(j), 3);
}
END_TEST

START_TEST(parse_rejects_nul_and_bad_utf8)
{
    const char *err = NULL;
    const char with_nul[] = "\"a\\u0000b\"";
    const char raw_nul[] = "\"a\0b\"";
    const char bad_utf8[] = "\"\xc3\x28\"";
    const char overlong[] = "\"\xc0\xaf\"";

    ck_assert_int_eq(parse_fail(with_nul, strlen(with_nul), NULL, &err), MCP_EPARSE);
    ck_assert_int_eq(parse_fail(raw_nul, sizeof(raw_nul) - 1, NULL, &err), MCP_EPARSE);
    ck_assert_int_eq(parse_fail(bad_utf8, strlen(bad_utf8), NULL, &err), MCP_EPARSE);
    ck_assert_int_eq(parse_fail(overlong, strlen(overlong), NULL, &err), MCP_EPARSE);
}
END_TEST

START_TEST(parse_depth_limit)
{
    mcp_json_limits_t lim = { 0, 8, 0 };
    const char *err = NULL;
    mcp_json_t *j = NULL;
    char *deep;
    apr_size_t n = 100000, i;

    /* 8 levels pass, 9 do not. */
    ck_assert_status(mcp_json_parse(&j, tp, "[[[[[[[[1]]]]]]]]", 17, &lim, &err),
                     APR_SUCCESS);
    ck_assert_int_eq(parse_fail("[[[[[[[[[1]]]]]]]]]", 19, &lim, &err), MCP_ETOOLARGE);
    ck_assert_ptr_nonnull(strstr(err, "deeper than 8"));

    /* Brackets inside strings are not nesting. */
    {
        const char *str = "[\"[[[[[[[[[[[[[[[[\\\"[[[\"]";
        ck_assert_status(mcp_json_parse(&j, tp, str, strlen(str), &lim, &err),
                         APR_SUCCESS);
    }

    /* 100000 levels with the default limit: refused early, no recursion. */
    deep = apr_palloc(tp, 2 * n + 1);
    for (i = 0; i < n; i++) {
        deep[i] = '[';
        deep[2 * n - 1 - i] = ']';
    }
    deep[2 * n] = '\0';
    ck_assert_int_eq(parse_fail(deep, 2 * n, NULL, &err), MCP_ETOOLARGE);
    for (i = 0; i < n; i++) {
        deep[i] = '{';
    }
    ck_assert_int_ne(parse_fail(deep, 2 * n, NULL, &err), APR_SUCCESS);
}
END_TEST

START_TEST(parse_size_limit)
{
    mcp_json_limits_t lim = { 10, 0, 0 };
    const char *err = NULL;
    mcp_json_t *j = NULL;

    ck_assert_status(mcp_json_parse(&j, tp, "[1,2,3,45]", 10, &lim, &err), APR_SUCCESS);
    ck_assert_int_eq(parse_fail("[1,2,3,456]", 11, &lim, &err), MCP_ETOOLARGE);
    ck_assert_ptr_nonnull(strstr(err, "limit of 10 bytes"));
}
END_TEST

START_TEST(parse_duplicates)
{
    mcp_json_limits_t lim = { 0, 0, 1 };
    const char *err = NULL;
    mcp_json_t *j = NULL;
    const char *text = "{\"a\":1,\"a\":2}";

    ck_assert_int_eq(parse_fail(text, strlen(text), NULL, &err), MCP_EPARSE);
    ck_assert_ptr_nonnull(strstr(err, "duplicate"));
    ck_assert_status(mcp_json_parse(&j, tp, text, strlen(text), &lim, &err), APR_SUCCESS);
    {
        apr_int64_t v = 0;
        ck_assert_status(mcp_json_get_int(j, "a", &v), APR_SUCCESS);
        ck_assert_int_eq(v, 2);
    }
}
END_TEST

START_TEST(parse_big_integer)
{
    const char *err = NULL;
    const char *big = "99999999999999999999999";

    ck_assert_int_eq(parse_fail(big, strlen(big), NULL, &err), MCP_EPARSE);
}
END_TEST

START_TEST(accessors)
{
    mcp_json_t *j = parse_ok("{\"s\":\"caf\xc3\xa9\",\"i\":7,\"r\":1.5,\"b\":true,"
                             "\"n\":null,\"o\":{\"p\":{\"q\":\"deep\"}},\"a\":[1,\"x\"]}");
    apr_int64_t v = 0;
    mcp_json_t *q, *a;

    ck_assert_str_eq(mcp_json_get_str(tp, j, "s"), "caf\xc3\xa9");
    ck_assert_ptr_null(mcp_json_get_str(tp, j, "i"));
    ck_assert_ptr_null(mcp_json_get_str(tp, j, "missing"));
    ck_assert_status(mcp_json_get_int(j, "i", &v), APR_SUCCESS);
    ck_assert_int_eq(v, 7);
    ck_assert_status(mcp_json_get_int(j, "s", &v), MCP_EINVALID);
    ck_assert_status(mcp_json_get_int(j, "zz", &v), MCP_ENOTFOUND);
    ck_assert_int_eq(mcp_json_get_bool(j, "b", 0), 1);
    ck_assert_int_eq(mcp_json_get_bool(j, "i", -1), -1);
    ck_assert(mcp_json_has(j, "n"));
    ck_assert(!mcp_json_has(j, "nn"));
    ck_assert(mcp_json_is_null(mcp_json_get(tp, j, "n")));
    ck_assert_str_eq(mcp_json_type_name(mcp_json_get(tp, j, "r")), "number");
    ck_assert_str_eq(mcp_json_type_name(mcp_json_get(tp, j, "i")), "integer");
    ck_assert_str_eq(mcp_json_type_name(NULL), "missing");

    q = mcp_json_getp(tp, j, "o", "p", "q", NULL);
    ck_assert_str_eq(mcp_json_str(q), "deep");
    ck_assert_ptr_null(mcp_json_getp(tp, j, "o", "x", "q", NULL));
    ck_assert_ptr_null(mcp_json_getp(tp, j, "s", "x", NULL));

    a = mcp_json_get(tp, j, "a");
    ck_assert_uint_eq(mcp_json_size(a), 2);
    ck_assert_int_eq(mcp_json_intval(mcp_json_array_get(tp, a, 0)), 1);
    ck_assert_str_eq(mcp_json_str(mcp_json_array_get(tp, a, 1)), "x");
    ck_assert_ptr_null(mcp_json_array_get(tp, a, 2));
    ck_assert_ptr_null(mcp_json_array_get(tp, j, 0));

    /* Keys come back in document order. */
    {
        apr_array_header_t *keys = mcp_json_keys(tp, j);
        ck_assert_int_eq(keys->nelts, 7);
        ck_assert_str_eq(APR_ARRAY_IDX(keys, 0, const char *), "s");
        ck_assert_str_eq(APR_ARRAY_IDX(keys, 6, const char *), "a");
    }
}
END_TEST

START_TEST(build_and_dump)
{
    mcp_json_t *o = mcp_json_object(tp);
    mcp_json_t *a = mcp_json_array(tp);

    ck_assert_status(mcp_json_set_str(o, "name", "quote\" slash/ \xe2\x82\xac"), APR_SUCCESS);
    ck_assert_status(mcp_json_set_int(o, "n", 3), APR_SUCCESS);
    ck_assert_status(mcp_json_set_bool(o, "ok", 1), APR_SUCCESS);
    ck_assert_status(mcp_json_set_null(o, "nothing"), APR_SUCCESS);
    ck_assert_status(mcp_json_append_str(a, "x"), APR_SUCCESS);
    ck_assert_status(mcp_json_append(a, mcp_json_int(tp, 2)), APR_SUCCESS);
    ck_assert_status(mcp_json_set(o, "list", a), APR_SUCCESS);
    ck_assert_str_eq(mcp_json_dump(tp, o, 0, NULL),
                     "{\"name\":\"quote\\\" slash/ \xe2\x82\xac\",\"n\":3,\"ok\":true,"
                     "\"nothing\":null,\"list\":[\"x\",2]}");
    ck_assert_str_eq(mcp_json_dump(tp, o, MCP_JSON_FMT_SORT_KEYS, NULL),
                     "{\"list\":[\"x\",2],\"n\":3,\"name\":\"quote\\\" slash/ \xe2\x82\xac\","
                     "\"nothing\":null,\"ok\":true}");
    ck_assert_status(mcp_json_del(o, "list"), APR_SUCCESS);
    ck_assert_status(mcp_json_del(o, "never-there"), APR_SUCCESS);
    ck_assert(!mcp_json_has(o, "list"));

    /* Type errors are statuses, not crashes. */
    ck_assert_status(mcp_json_set_str(a, "k", "v"), MCP_EINVALID);
    ck_assert_status(mcp_json_append_str(o, "v"), MCP_EINVALID);
    ck_assert_status(mcp_json_set(o, "k", NULL), MCP_EINVALID);
    ck_assert_status(mcp_json_set_str(o, "bad", "\xff\xfe"), MCP_EINVALID);
    ck_assert_ptr_null(mcp_json_string(tp, "\xff"));
    ck_assert_str_eq(mcp_json_dump(tp, mcp_json_string(tp, "x"), 0, NULL), "\"x\"");
    ck_assert_str_eq(mcp_json_dump(tp, mcp_json_real(tp, 0.5), 0, NULL), "0.5");
}
END_TEST

START_TEST(sharing_and_copy)
{
    mcp_json_t *o = mcp_json_object(tp), *inner = mcp_json_object(tp), *copy;

    mcp_json_set(o, "inner", inner);
    mcp_json_set_int(inner, "v", 1);
    /* Shared: the change through `inner` shows in `o`. */
    ck_assert_str_eq(mcp_json_dump(tp, o, 0, NULL), "{\"inner\":{\"v\":1}}");
    copy = mcp_json_copy(tp, o);
    mcp_json_set_int(inner, "v", 2);
    ck_assert_str_eq(mcp_json_dump(tp, copy, 0, NULL), "{\"inner\":{\"v\":1}}");
    ck_assert(!mcp_json_equal(copy, o));
    mcp_json_set_int(inner, "v", 1);
    ck_assert(mcp_json_equal(copy, o));
}
END_TEST

START_TEST(lifetime_follows_pool)
{
    /* A child handle made in a longer-lived pool survives the parent's
     * pool: it holds its own reference. */
    apr_pool_t *sub;
    mcp_json_t *child;

    apr_pool_create(&sub, tp);
    {
        mcp_json_t *j = NULL;
        const char *err = NULL;
        ck_assert_status(mcp_json_parse(&j, sub, "{\"k\":{\"x\":\"y\"}}", 15, NULL, &err),
                         APR_SUCCESS);
        child = mcp_json_get(tp, j, "k");
    }
    apr_pool_destroy(sub);
    ck_assert_str_eq(mcp_json_dump(tp, child, 0, NULL), "{\"x\":\"y\"}");

    /* Many parses in a cleared pool do not leak (checked under valgrind). */
    apr_pool_create(&sub, tp);
    {
        int i;
        for (i = 0; i < 1000; i++) {
            mcp_json_t *j = NULL;
            const char *err = NULL;
            mcp_json_parse(&j, sub, "[1,{\"a\":\"b\"}]", 13, NULL, &err);
            mcp_json_ref(sub, j);
            apr_pool_clear(sub);
        }
    }
    apr_pool_destroy(sub);
}
END_TEST

START_TEST(status_names)
{
    ck_assert_str_eq(mcp_status_name(MCP_EPARSE), "MCP_EPARSE");
    ck_assert_ptr_null(mcp_status_name(APR_ENOENT));
    ck_assert_str_eq(mcp_strerror(tp, MCP_ETOOLARGE),
                     "a size, depth or count limit was exceeded");
    ck_assert_int_gt(strlen(mcp_strerror(tp, APR_ENOENT)), 0);
}
END_TEST

static Suite *json_suite(void)
{
    Suite *s = suite_create("json");
    TCase *tc = mcp_tcase("json");

    tcase_add_test(tc, parse_roundtrip);
    tcase_add_test(tc, parse_scalars);
    tcase_add_test(tc, parse_garbage);
    tcase_add_test(tc, parse_truncated);
    tcase_add_test(tc, parse_not_nul_terminated);
    tcase_add_test(tc, parse_rejects_nul_and_bad_utf8);
    tcase_add_test(tc, parse_depth_limit);
    tcase_add_test(tc, parse_size_limit);
    tcase_add_test(tc, parse_duplicates);
    tcase_add_test(tc, parse_big_integer);
    tcase_add_test(tc, accessors);
    tcase_add_test(tc, build_and_dump);
    tcase_add_test(tc, sharing_and_copy);
    tcase_add_test(tc, lifetime_follows_pool);
    tcase_add_test(tc, status_names);
    suite_add_tcase(s, tc);
    return s;
}

MCP_TEST_MAIN(json_suite)
