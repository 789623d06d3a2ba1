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

/* Federation: gateway names and their reverse, merged lists with scope
 * filtering, gateway cursors, routing and the initialize merge. */

#include <apr_strings.h>

#include "mcp_test.h"
#include "mcp/mcp_fed.h"
#include "mcp/mcp_json.h"
#include "mcp/mcp_scope.h"

static const unsigned char key1[MCP_FED_MIN_KEY] = "0123456789abcdef0123456789abcdef";

static apr_array_header_t *set_of(const char *list)
{
    apr_array_header_t *set = NULL;
    const char *err = NULL;

    ck_assert_msg(mcp_scope_parse(&set, tp, list, &err) == APR_SUCCESS,
                  "'%s': %s", list, err);
    return set;
}

static void add_backend(apr_array_header_t *arr, const char *name,
                        const char *prefix, const char *scopes)
{
    mcp_fed_backend_t *b = apr_array_push(arr);

    memset(b, 0, sizeof(*b));
    b->name = name;
    b->prefix = prefix;
    b->scopes = scopes ? set_of(scopes) : NULL;
}

static void add_rule(apr_array_header_t *arr, int kinds, const char *pattern,
                     const char *scopes)
{
    mcp_fed_backend_t *b = &APR_ARRAY_IDX(arr, arr->nelts - 1,
                                          mcp_fed_backend_t);
    mcp_fed_rule_t *r;

    if (!b->rules) {
        b->rules = apr_array_make(tp, 2, sizeof(mcp_fed_rule_t));
    }
    r = apr_array_push(b->rules);
    r->kinds = kinds;
    r->pattern = pattern;
    r->scopes = set_of(scopes);
}

static apr_status_t make_fed(mcp_fed_t **pfed, apr_array_header_t *arr,
                             const unsigned char *key, apr_size_t max,
                             const char **perr)
{
    mcp_fed_options_t opts;

    memset(&opts, 0, sizeof(opts));
    opts.cursor_key = key;
    opts.cursor_key_len = MCP_FED_MIN_KEY;
    opts.max_items = max;
    return mcp_fed_create(pfed, tp, arr, &opts, perr);
}

static mcp_fed_t *fed_of(apr_array_header_t *arr)
{
    mcp_fed_t *fed = NULL;
    const char *err = NULL;

    ck_assert_msg(make_fed(&fed, arr, key1, 0, &err) == APR_SUCCESS,
                  "fed refused: %s", err);
    return fed;
}

static apr_array_header_t *backends(void)
{
    return apr_array_make(tp, 4, sizeof(mcp_fed_backend_t));
}

/* github (github_, scope github:read), tools (tools_), local (none). */
static mcp_fed_t *three(void)
{
    apr_array_header_t *arr = backends();

    add_backend(arr, "github", "github_", "github:read");
    add_rule(arr, MCP_FED_RULE_TOOLS, "create_*", "github:write");
    add_backend(arr, "tools", "tools_", NULL);
    add_backend(arr, "local", NULL, NULL);
    return fed_of(arr);
}

START_TEST(prefix_and_reverse)
{
    mcp_fed_t *fed = three();
    const char *gw = NULL, *orig = NULL, *err = NULL;
    int i = -1;

    ck_assert_int_eq(mcp_fed_count(fed), 3);
    ck_assert_status(mcp_fed_to_gateway(&gw, tp, fed, 0, MCP_FED_TOOLS,
                                        "search", &err), APR_SUCCESS);
    ck_assert_str_eq(gw, "github_search");
    ck_assert_status(mcp_fed_to_gateway(&gw, tp, fed, 1, MCP_FED_PROMPTS,
                                        "review code", &err), APR_SUCCESS);
    ck_assert_str_eq(gw, "tools_review code");
    ck_assert_status(mcp_fed_to_gateway(&gw, tp, fed, 2, MCP_FED_TOOLS,
                                        "echo", &err), APR_SUCCESS);
    ck_assert_str_eq(gw, "echo");
    /* URIs: '_' of the prefix becomes '-', so the scheme stays valid. */
    ck_assert_status(mcp_fed_to_gateway(&gw, tp, fed, 0, MCP_FED_RESOURCES,
                                        "repo://a/b", &err), APR_SUCCESS);
    ck_assert_str_eq(gw, "github-repo://a/b");
    ck_assert_status(mcp_fed_to_gateway(&gw, tp, fed, 0, MCP_FED_TEMPLATES,
                                        "repo://{owner}/{name}", &err),
                     APR_SUCCESS);
    ck_assert_str_eq(gw, "github-repo://{owner}/{name}");

    ck_assert_status(mcp_fed_from_gateway(&i, &orig, tp, fed, MCP_FED_TOOLS,
                                          "github_search", NULL, &err),
                     APR_SUCCESS);
    ck_assert_int_eq(i, 0);
    ck_assert_str_eq(orig, "search");
    ck_assert_status(mcp_fed_from_gateway(&i, &orig, tp, fed,
                                          MCP_FED_RESOURCES,
                                          "github-repo://a/b", NULL, &err),
                     APR_SUCCESS);
    ck_assert_int_eq(i, 0);
    ck_assert_str_eq(orig, "repo://a/b");
    ck_assert_status(mcp_fed_from_gateway(&i, &orig, tp, fed,
                                          MCP_FED_PROMPTS,
                                          "tools_review code", NULL, &err),
                     APR_SUCCESS);
    ck_assert_int_eq(i, 1);
    ck_assert_str_eq(orig, "review code");
    /* No prefix matches: the single unprefixed backend owns it. */
    ck_assert_status(mcp_fed_from_gateway(&i, &orig, tp, fed, MCP_FED_TOOLS,
                                          "echo", NULL, &err), APR_SUCCESS);
    ck_assert_int_eq(i, 2);
    ck_assert_str_eq(orig, "echo");
    /* The prefix alone is no name of the backend. */
    ck_assert_status(mcp_fed_from_gateway(&i, &orig, tp, fed, MCP_FED_TOOLS,
                                          "github_", NULL, &err), APR_SUCCESS);
    ck_assert_int_eq(i, 2);
    ck_assert_status(mcp_fed_from_gateway(&i, &orig, tp, fed, MCP_FED_TOOLS,
                                          "", NULL, &err), MCP_ENOTFOUND);
    ck_assert_status(mcp_fed_from_gateway(&i, &orig, tp, fed, MCP_FED_TOOLS,
                                          "gateway_status", NULL, &err),
                     MCP_ENOTFOUND);
    ck_assert_ptr_nonnull(strstr(err, "reserved"));
    ck_assert(mcp_fed_is_builtin("gateway_status"));
    ck_assert(!mcp_fed_is_builtin("github_search"));
}
END_TEST

START_TEST(name_limit_boundary)
{
    apr_array_header_t *arr = backends();
    mcp_fed_t *fed;
    const char *gw = NULL, *err = NULL;
    char name[MCP_FED_MAX_NAME + 2];

    add_backend(arr, "gh", "gh_", NULL);
    fed = fed_of(arr);
    /* 3 + 125 = 128: accepted. */
    memset(name, 'a', 125);
    name[125] = '\0';
    ck_assert_status(mcp_fed_to_gateway(&gw, tp, fed, 0, MCP_FED_TOOLS, name,
                                        &err), APR_SUCCESS);
    ck_assert_uint_eq(strlen(gw), MCP_FED_MAX_NAME);
    ck_assert(mcp_fed_name_valid(gw));
    /* 3 + 126 = 129: reported with both names, not cut. */
    name[125] = 'b';
    name[126] = '\0';
    ck_assert_status(mcp_fed_to_gateway(&gw, tp, fed, 0, MCP_FED_TOOLS, name,
                                        &err), MCP_ETOOLARGE);
    ck_assert_ptr_null(gw);
    ck_assert_ptr_nonnull(strstr(err, "backend gh"));
    ck_assert_ptr_nonnull(strstr(err, "129"));
    /* Prompts are not held to the tool-name rule. */
    ck_assert_status(mcp_fed_to_gateway(&gw, tp, fed, 0, MCP_FED_PROMPTS,
                                        name, &err), APR_SUCCESS);
    memset(name, 'x', MCP_FED_MAX_NAME + 1);
    name[MCP_FED_MAX_NAME] = '\0';
    ck_assert(mcp_fed_name_valid(name));
    name[MCP_FED_MAX_NAME] = 'x';
    name[MCP_FED_MAX_NAME + 1] = '\0';
    ck_assert(!mcp_fed_name_valid(name));
}
END_TEST

START_TEST(name_characters)
{
    static const char *bad[] = { "a b", "a/b", "a:b", "caf\xc3\xa9", "a\tb",
                                 "a+b", "a@b", "\x7f" };
    apr_array_header_t *arr = backends();
    mcp_fed_t *fed;
    const char *gw = NULL, *err = NULL;
    apr_size_t i;

    add_backend(arr, "gh", "gh.", NULL);
    fed = fed_of(arr);
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ck_assert_msg(!mcp_fed_name_valid(bad[i]), "%s valid", bad[i]);
        ck_assert_status(mcp_fed_to_gateway(&gw, tp, fed, 0, MCP_FED_TOOLS,
                                            bad[i], &err), MCP_EINVALID);
        /* The message shows control and non-ASCII bytes escaped. */
        ck_assert_ptr_null(strchr(err, '\t'));
        ck_assert_ptr_null(strchr(err, '\x7f'));
    }
    ck_assert(mcp_fed_name_valid("A-z_0.9"));
    ck_assert(!mcp_fed_name_valid(""));
    ck_assert(!mcp_fed_name_valid(NULL));
    ck_assert_status(mcp_fed_to_gateway(&gw, tp, fed, 0, MCP_FED_TOOLS, "",
                                        &err), MCP_EINVALID);
    ck_assert_status(mcp_fed_to_gateway(&gw, tp, fed, 0, MCP_FED_TOOLS, NULL,
                                        &err), MCP_EINVALID);
}
END_TEST

START_TEST(create_refuses)
{
    apr_array_header_t *arr;
    mcp_fed_t *fed = NULL;
    const char *err = NULL;

    arr = backends();
    add_backend(arr, "a", "gateway_", NULL);
    ck_assert_status(make_fed(&fed, arr, key1, 0, &err), MCP_EINVALID);
    ck_assert_ptr_nonnull(strstr(err, "reserved"));
    ck_assert_ptr_null(fed);
    arr = backends();
    add_backend(arr, "a", "gateway_x_", NULL);
    ck_assert_status(make_fed(&fed, arr, key1, 0, &err), MCP_EINVALID);
    arr = backends();
    add_backend(arr, "a", "gate", NULL);
    ck_assert_status(make_fed(&fed, arr, key1, 0, &err), MCP_EINVALID);
    /* One prefix begins the other: "gh" + "_x" = "gh_" + "x". */
    arr = backends();
    add_backend(arr, "one", "gh", NULL);
    add_backend(arr, "two", "gh_", NULL);
    ck_assert_status(make_fed(&fed, arr, key1, 0, &err), MCP_EINVALID);
    ck_assert_ptr_nonnull(strstr(err, "one"));
    ck_assert_ptr_nonnull(strstr(err, "two"));
    /* Different name prefixes with the same URI prefix. */
    arr = backends();
    add_backend(arr, "one", "gh_", NULL);
    add_backend(arr, "two", "gh-", NULL);
    ck_assert_status(make_fed(&fed, arr, key1, 0, &err), MCP_EINVALID);
    arr = backends();
    add_backend(arr, "one", "a b", NULL);
    ck_assert_status(make_fed(&fed, arr, key1, 0, &err), MCP_EINVALID);
    arr = backends();
    add_backend(arr, "one", "", NULL);
    ck_assert_status(make_fed(&fed, arr, key1, 0, &err), MCP_EINVALID);
    arr = backends();
    add_backend(arr, "o ne", NULL, NULL);
    ck_assert_status(make_fed(&fed, arr, key1, 0, &err), MCP_EINVALID);
    arr = backends();
    add_backend(arr, "one", NULL, NULL);
    add_backend(arr, "one", "x_", NULL);
    ck_assert_status(make_fed(&fed, arr, key1, 0, &err), MCP_EINVALID);
    ck_assert_ptr_nonnull(strstr(err, "twice"));
    arr = backends();
    add_backend(arr, "one", NULL, NULL);
    add_rule(arr, 0, "x*", "s");
    ck_assert_status(make_fed(&fed, arr, key1, 0, &err), MCP_EINVALID);
    arr = backends();
    add_backend(arr, "one", NULL, NULL);
    ck_assert_status(mcp_fed_create(&fed, tp, arr, NULL, &err), MCP_EINVALID);
    ck_assert_ptr_nonnull(strstr(err, "key"));
}
END_TEST

START_TEST(unprefixed_catalog)
{
    apr_array_header_t *arr = backends();
    mcp_fed_t *fed;
    mcp_fed_catalog_t *cat = mcp_fed_catalog_make(tp);
    const char *orig = NULL, *err = NULL;
    int i = -1, other = -1;

    add_backend(arr, "alpha", NULL, NULL);
    add_backend(arr, "beta", NULL, NULL);
    fed = fed_of(arr);
    /* Two unprefixed backends: without a catalog nobody owns a name. */
    ck_assert_status(mcp_fed_from_gateway(&i, &orig, tp, fed, MCP_FED_TOOLS,
                                          "echo", NULL, &err), MCP_ENOTFOUND);
    ck_assert_status(mcp_fed_catalog_add(cat, MCP_FED_TOOLS, "echo", 1,
                                         &other), APR_SUCCESS);
    ck_assert_status(mcp_fed_catalog_add(cat, MCP_FED_TOOLS, "echo", 1,
                                         &other), APR_SUCCESS);
    ck_assert_status(mcp_fed_from_gateway(&i, &orig, tp, fed, MCP_FED_TOOLS,
                                          "echo", cat, &err), APR_SUCCESS);
    ck_assert_int_eq(i, 1);
    /* Kinds are separate name spaces. */
    ck_assert_status(mcp_fed_from_gateway(&i, &orig, tp, fed,
                                          MCP_FED_PROMPTS, "echo", cat, &err),
                     MCP_ENOTFOUND);
    /* A second owner: a conflict for good, naming the first. */
    ck_assert_status(mcp_fed_catalog_add(cat, MCP_FED_TOOLS, "echo", 0,
                                         &other), MCP_ECONFLICT);
    ck_assert_int_eq(other, 1);
    ck_assert_status(mcp_fed_catalog_add(cat, MCP_FED_TOOLS, "echo", 1,
                                         &other), MCP_ECONFLICT);
    ck_assert_status(mcp_fed_from_gateway(&i, &orig, tp, fed, MCP_FED_TOOLS,
                                          "echo", cat, &err), MCP_ECONFLICT);
    ck_assert_ptr_nonnull(strstr(err, "beta"));
    ck_assert_int_eq(i, -1);
}
END_TEST

static Suite *fed_suite(void)
{
    Suite *s = suite_create("fed");
    TCase *tc;

    tc = mcp_tcase("names");
    tcase_add_test(tc, prefix_and_reverse);
    tcase_add_test(tc, name_limit_boundary);
    tcase_add_test(tc, name_characters);
    tcase_add_test(tc, create_refuses);
    tcase_add_test(tc, unprefixed_catalog);
    suite_add_tcase(s, tc);
    return s;
}

MCP_TEST_MAIN(fed_suite)
