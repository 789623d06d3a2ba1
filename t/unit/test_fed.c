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
#include "mcp/mcp_b64.h"
#include "mcp/mcp_fed.h"
#include "mcp/mcp_json.h"
#include "mcp/mcp_jsonrpc.h"
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

static const unsigned char key2[MCP_FED_MIN_KEY] = "fedcba9876543210fedcba9876543210";

static mcp_json_t *js(const char *text)
{
    mcp_json_t *j = NULL;
    const char *err = NULL;

    ck_assert_msg(mcp_json_parse(&j, tp, text, strlen(text), NULL, &err)
                  == APR_SUCCESS, "bad test JSON %s: %s", text, err);
    return j;
}

static const char *b64s(const char *s)
{
    return mcp_b64url_encode(tp, s, strlen(s));
}

static const char *dump(const mcp_json_t *j)
{
    return mcp_json_dump(tp, j, MCP_JSON_FMT_COMPACT, NULL);
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

/* The reverse lookup of @a gw must give backend @a want and @a orig. */
static void reverse_ok(const mcp_fed_t *fed, mcp_fed_kind_e kind,
                       const char *gw, const mcp_fed_catalog_t *cat,
                       int want, const char *orig)
{
    const char *got = NULL, *err = NULL;
    int i = -1;

    ck_assert_msg(mcp_fed_from_gateway(&i, &got, tp, fed, kind, gw, cat, &err)
                  == APR_SUCCESS, "%s refused: %s", gw, err);
    ck_assert_int_eq(i, want);
    ck_assert_str_eq(got, orig);
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

    reverse_ok(fed, MCP_FED_TOOLS, "github_search", NULL, 0, "search");
    reverse_ok(fed, MCP_FED_RESOURCES, "github-repo://a/b", NULL, 0,
               "repo://a/b");
    reverse_ok(fed, MCP_FED_PROMPTS, "tools_review code", NULL, 1,
               "review code");
    /* No prefix matches: the single unprefixed backend owns it. */
    reverse_ok(fed, MCP_FED_TOOLS, "echo", NULL, 2, "echo");
    /* The prefix alone is no name of the backend. */
    reverse_ok(fed, MCP_FED_TOOLS, "github_", NULL, 2, "github_");
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
    reverse_ok(fed, MCP_FED_TOOLS, "echo", cat, 1, "echo");
    /* Kinds are separate name spaces. */
    ck_assert_status(mcp_fed_from_gateway(&i, &orig, tp, fed,
                                          MCP_FED_PROMPTS, "echo", cat, &err),
                     MCP_ENOTFOUND);
    /* A second owner: a conflict for good, naming the first. */
    ck_assert_status(mcp_fed_catalog_add(cat, MCP_FED_TOOLS, "echo", 0,
                                         &other), MCP_ECONFLICT);
    ck_assert_int_eq(other, 1);
    /* Either side publishing it again hears of the other. */
    other = -1;
    ck_assert_status(mcp_fed_catalog_add(cat, MCP_FED_TOOLS, "echo", 1,
                                         &other), MCP_ECONFLICT);
    ck_assert_int_eq(other, 0);
    other = -1;
    ck_assert_status(mcp_fed_catalog_add(cat, MCP_FED_TOOLS, "echo", 0,
                                         &other), MCP_ECONFLICT);
    ck_assert_int_eq(other, 1);
    ck_assert_status(mcp_fed_from_gateway(&i, &orig, tp, fed, MCP_FED_TOOLS,
                                          "echo", cat, &err), MCP_ECONFLICT);
    ck_assert_ptr_nonnull(strstr(err, "backends beta and alpha"));
    ck_assert_int_eq(i, -1);
    /* Out-of-range kinds and indexes are refused, not looked up. */
    ck_assert_status(mcp_fed_catalog_add(cat, (mcp_fed_kind_e)MCP_FED_NKINDS,
                                         "echo", 0, &other), APR_EINVAL);
    ck_assert_status(mcp_fed_catalog_add(cat, MCP_FED_TOOLS, "echo", -1,
                                         &other), APR_EINVAL);
    ck_assert_status(mcp_fed_from_gateway(&i, &orig, tp, fed,
                                          (mcp_fed_kind_e)7, "echo", cat,
                                          &err), MCP_ENOTFOUND);
    ck_assert_ptr_null(mcp_fed_list_method((mcp_fed_kind_e)9));
    ck_assert_int_eq(mcp_fed_kind_of_method("tools/call"), -1);
    ck_assert_int_eq(mcp_fed_kind_of_method("resources/templates/list"),
                     MCP_FED_TEMPLATES);
}
END_TEST

/* Plan and merge one list request; results[i] for plan->fetch[i]. */
static mcp_json_t *merge(const mcp_fed_t *fed, const mcp_fed_plan_t *plan,
                         const mcp_json_t *const *results,
                         const char *const *errors, const char *granted,
                         apr_array_header_t **pproblems)
{
    mcp_json_t *out = NULL;
    apr_array_header_t *problems = NULL;
    const char *err = NULL;

    ck_assert_status(mcp_fed_list_merge(&out, &problems, tp, fed, plan,
                                        results, errors, set_of(granted),
                                        NULL, &err), APR_SUCCESS);
    ck_assert_ptr_nonnull(out);
    if (pproblems) {
        *pproblems = problems;
    }
    return out;
}

/* The client session cursors are bound to in these tests. */
#define SESSION "session-1"

static mcp_fed_plan_t *plan_of(const mcp_fed_t *fed, mcp_fed_kind_e kind,
                               const char *cursor, const char *granted)
{
    mcp_fed_plan_t *plan = NULL;
    const char *err = NULL;

    ck_assert_msg(mcp_fed_list_plan(&plan, tp, fed, kind, cursor, SESSION,
                                    set_of(granted), &err) == APR_SUCCESS,
                  "plan refused: %s", err);
    return plan;
}

static int problem_has(const apr_array_header_t *problems, const char *backend,
                       apr_status_t status, const char *text)
{
    int i;

    for (i = 0; i < problems->nelts; i++) {
        const mcp_fed_problem_t *pr = &APR_ARRAY_IDX(problems, i,
                                                     mcp_fed_problem_t);

        if (!strcmp(pr->backend, backend) && pr->status == status
            && strstr(pr->message, text)) {
            return 1;
        }
    }
    return 0;
}

START_TEST(merge_keeps_members)
{
    static const char *gh_tool =
        "{\"name\":\"search\",\"title\":\"Search\",\"description\":\"d\","
        "\"icons\":[{\"src\":\"https://x/i.png\",\"mimeType\":\"image/png\","
        "\"sizes\":[\"48x48\"]}],\"_meta\":{\"a/b\":[1,2.5,null,true]},"
        "\"annotations\":{\"readOnlyHint\":true},\"inputSchema\":{\"type\":"
        "\"object\",\"properties\":{\"q\":{\"type\":\"string\"}},"
        "\"required\":[\"q\"]},\"outputSchema\":{\"type\":\"object\"},"
        "\"x-unknown\":{\"deep\":{\"er\":[\"\\u00e9\",1e300]}}}";
    mcp_fed_t *fed = three();
    mcp_fed_plan_t *plan = plan_of(fed, MCP_FED_TOOLS, NULL, "github:read");
    const mcp_json_t *results[3];
    mcp_json_t *out, *want, *tools;
    apr_array_header_t *problems;

    ck_assert_int_eq(plan->fetch->nelts, 3);
    results[0] = js(apr_psprintf(tp, "{\"tools\":[%s],\"_meta\":{}}",
                                 gh_tool));
    results[1] = js("{\"tools\":[{\"name\":\"run\",\"inputSchema\":"
                    "{\"type\":\"object\"}}]}");
    results[2] = js("{\"tools\":[{\"name\":\"echo\",\"inputSchema\":"
                    "{\"type\":\"object\"}}]}");
    out = merge(fed, plan, results, NULL, "github:read", &problems);
    ck_assert_int_eq(problems->nelts, 0);
    tools = mcp_json_get(tp, out, "tools");
    ck_assert_uint_eq(mcp_json_size(tools), 3);
    ck_assert(!mcp_json_has(out, "nextCursor"));
    /* Only the name changed, every other member byte for byte. */
    want = js(gh_tool);
    mcp_json_set_str(want, "name", "github_search");
    ck_assert_str_eq(dump(mcp_json_array_get(tp, tools, 0)), dump(want));
    ck_assert_str_eq(mcp_json_get_str(tp, mcp_json_array_get(tp, tools, 1),
                                      "name"), "tools_run");
    ck_assert_str_eq(mcp_json_get_str(tp, mcp_json_array_get(tp, tools, 2),
                                      "name"), "echo");
    /* The backend's own value is untouched (copied, not shared). */
    ck_assert_str_eq(mcp_json_get_str(tp, mcp_json_array_get(tp,
                     mcp_json_get(tp, results[0], "tools"), 0), "name"),
                     "search");
}
END_TEST

START_TEST(merge_resources_and_templates)
{
    mcp_fed_t *fed = three();
    mcp_fed_plan_t *plan = plan_of(fed, MCP_FED_TEMPLATES, NULL,
                                   "github:read");
    const mcp_json_t *results[3] = { NULL, NULL, NULL };
    mcp_json_t *out, *item;

    results[0] = js("{\"resourceTemplates\":[{\"uriTemplate\":"
                    "\"repo://{owner}/{name}\",\"name\":\"repo\","
                    "\"mimeType\":\"text/plain\"}]}");
    out = merge(fed, plan, results, NULL, "github:read", NULL);
    item = mcp_json_array_get(tp, mcp_json_get(tp, out, "resourceTemplates"),
                              0);
    ck_assert_str_eq(dump(item), "{\"uriTemplate\":\"github-repo://{owner}/"
                     "{name}\",\"name\":\"repo\",\"mimeType\":\"text/plain\"}");
    plan = plan_of(fed, MCP_FED_RESOURCES, NULL, "github:read");
    results[0] = js("{\"resources\":[{\"uri\":\"repo://a/b\",\"name\":\"b\"}]}");
    results[2] = js("{\"resources\":[{\"uri\":\"file:///x\",\"name\":\"x\"}]}");
    out = merge(fed, plan, results, NULL, "github:read", NULL);
    ck_assert_str_eq(dump(out), "{\"resources\":[{\"uri\":\"github-repo://a/b\","
                     "\"name\":\"b\"},{\"uri\":\"file:///x\",\"name\":\"x\"}]}");
}
END_TEST

START_TEST(merge_scope_filter)
{
    apr_array_header_t *arr = backends();
    mcp_fed_t *fed;
    mcp_fed_plan_t *plan;
    const mcp_json_t *results[2];
    mcp_json_t *out;

    add_backend(arr, "github", "gh_", "github:read");
    add_rule(arr, MCP_FED_RULE_TOOLS, "create_*", "github:write");
    add_rule(arr, MCP_FED_RULE_TOOLS, "*_admin", "github:admin");
    add_backend(arr, "tools", "t_", NULL);
    fed = fed_of(arr);
    results[0] = js("{\"tools\":[{\"name\":\"search\"},{\"name\":"
                    "\"create_issue\"},{\"name\":\"create_admin\"}]}");
    results[1] = js("{\"tools\":[{\"name\":\"create_x\"}]}");

    /* Token A: read only. create_* filtered; the rule is github's only. */
    plan = plan_of(fed, MCP_FED_TOOLS, NULL, "github:read");
    out = merge(fed, plan, results, NULL, "github:read", NULL);
    ck_assert_str_eq(dump(out), "{\"tools\":[{\"name\":\"gh_search\"},"
                     "{\"name\":\"t_create_x\"}]}");
    /* Token B: read + write: create_issue, but create_admin needs both
     * matching rules. */
    out = merge(fed, plan, results, NULL, "github:read github:write", NULL);
    ck_assert_str_eq(dump(out), "{\"tools\":[{\"name\":\"gh_search\"},"
                     "{\"name\":\"gh_create_issue\"},{\"name\":\"t_create_x\"}]}");
    /* The wildcard grant covers all three. */
    out = merge(fed, plan, results, NULL, "github:*", NULL);
    ck_assert_uint_eq(mcp_json_size(mcp_json_get(tp, out, "tools")), 4);
    /* Without github:read the backend is not even asked. */
    plan = plan_of(fed, MCP_FED_TOOLS, NULL, "github:write");
    ck_assert_int_eq(plan->fetch->nelts, 1);
    ck_assert_int_eq(APR_ARRAY_IDX(plan->fetch, 0, mcp_fed_pos_t).backend, 1);
    ck_assert_str_eq(mcp_scope_join(tp, mcp_fed_needed(tp, fed, 0,
                     MCP_FED_TOOLS, "create_admin")),
                     "github:admin github:read github:write");
    /* Rules of one kind do not apply to another. */
    ck_assert_str_eq(mcp_scope_join(tp, mcp_fed_needed(tp, fed, 0,
                     MCP_FED_PROMPTS, "create_admin")), "github:read");
}
END_TEST

START_TEST(merge_partial)
{
    mcp_fed_t *fed = three();
    mcp_fed_plan_t *plan = plan_of(fed, MCP_FED_PROMPTS, NULL, "github:read");
    const mcp_json_t *results[3];
    const char *errors[3] = { NULL, "connect: refused", NULL };
    apr_array_header_t *problems;
    mcp_json_t *out;

    results[0] = js("{\"prompts\":[{\"name\":\"review\"}]}");
    results[1] = NULL;
    results[2] = js("{\"prompts\":[{\"name\":\"hello\",\"arguments\":[]}]}");
    out = merge(fed, plan, results, errors, "github:read", &problems);
    ck_assert_str_eq(dump(out), "{\"prompts\":[{\"name\":\"github_review\"},"
                     "{\"name\":\"hello\",\"arguments\":[]}]}");
    ck_assert_int_eq(problems->nelts, 1);
    ck_assert(problem_has(problems, "tools", MCP_EPROTO, "connect: refused"));
    /* NULL without an error: skipped, no report. */
    errors[1] = NULL;
    out = merge(fed, plan, results, errors, "github:read", &problems);
    ck_assert_int_eq(problems->nelts, 0);
    /* All failed: an empty list, not an error. */
    results[0] = results[2] = NULL;
    out = merge(fed, plan, results, NULL, "github:read", &problems);
    ck_assert_str_eq(dump(out), "{\"prompts\":[]}");
}
END_TEST

START_TEST(merge_collisions)
{
    apr_array_header_t *arr = backends();
    mcp_fed_t *fed;
    mcp_fed_plan_t *plan;
    mcp_fed_catalog_t *cat = mcp_fed_catalog_make(tp);
    const mcp_json_t *results[3];
    apr_array_header_t *problems = NULL;
    mcp_json_t *out = NULL;
    const char *err = NULL, *orig;
    int i;

    add_backend(arr, "alpha", NULL, NULL);
    add_backend(arr, "beta", NULL, NULL);
    add_backend(arr, "github", "github_", NULL);
    fed = fed_of(arr);
    plan = plan_of(fed, MCP_FED_TOOLS, NULL, "");
    results[0] = js("{\"tools\":[{\"name\":\"echo\"},{\"name\":\"a1\"},"
                    "{\"name\":\"github_x\"},{\"name\":\"gateway_x\"}]}");
    results[1] = js("{\"tools\":[{\"name\":\"b1\"},{\"name\":\"echo\"},"
                    "{\"name\":\"echo\"}]}");
    results[2] = js("{\"tools\":[{\"name\":\"x\"}]}");
    ck_assert_status(mcp_fed_list_merge(&out, &problems, tp, fed, plan,
                                        results, NULL, set_of(""), cat, &err),
                     APR_SUCCESS);
    /* echo from neither; github_x is github's, not alpha's; gateway_ is
     * the gateway's. */
    ck_assert_str_eq(dump(out), "{\"tools\":[{\"name\":\"a1\"},"
                     "{\"name\":\"b1\"},{\"name\":\"github_x\"}]}");
    ck_assert(problem_has(problems, "beta", MCP_ECONFLICT,
                          "'echo' is published by backends alpha and beta"));
    ck_assert(problem_has(problems, "alpha", MCP_ECONFLICT, "backend github"));
    ck_assert(problem_has(problems, "alpha", MCP_ECONFLICT, "reserved"));
    ck_assert_int_eq(problems->nelts, 4);
    /* Routing: by the catalog, and never to either side of a conflict. */
    reverse_ok(fed, MCP_FED_TOOLS, "b1", cat, 1, "b1");
    ck_assert_status(mcp_fed_from_gateway(&i, &orig, tp, fed, MCP_FED_TOOLS,
                                          "echo", cat, &err), MCP_ECONFLICT);
    reverse_ok(fed, MCP_FED_TOOLS, "github_x", cat, 2, "x");
    /* The session's catalog remembers: alpha alone on the next listing
     * still may not publish echo. */
    plan = plan_of(fed, MCP_FED_TOOLS, NULL, "");
    results[1] = results[2] = NULL;
    ck_assert_status(mcp_fed_list_merge(&out, &problems, tp, fed, plan,
                                        results, NULL, set_of(""), cat, &err),
                     APR_SUCCESS);
    ck_assert_str_eq(dump(out), "{\"tools\":[{\"name\":\"a1\"}]}");
    ck_assert(problem_has(problems, "alpha", MCP_ECONFLICT,
                          "'echo' is published by backends beta and alpha"));
}
END_TEST

/* Walk a paginated tools/list across three backends: github has two
 * pages, tools one, local two. */
static const char *page_of(int backend, const char *cursor)
{
    if (backend == 0) {
        return !cursor ? "{\"tools\":[{\"name\":\"g1\"}],\"nextCursor\":\"G2\"}"
                       : "{\"tools\":[{\"name\":\"g2\"}]}";
    }
    if (backend == 1) {
        return "{\"tools\":[{\"name\":\"t1\"}]}";
    }
    return !cursor ? "{\"tools\":[{\"name\":\"l1\"}],\"nextCursor\":\"L2\"}"
                   : !strcmp(cursor, "L2")
                   ? "{\"tools\":[{\"name\":\"l2\"}],\"nextCursor\":\"L3\"}"
                   : "{\"tools\":[{\"name\":\"l3\"}],\"nextCursor\":null}";
}

static mcp_json_t *one_page(const mcp_fed_t *fed, const char *cursor,
                            const char *granted, const char **pnames)
{
    mcp_fed_plan_t *plan = plan_of(fed, MCP_FED_TOOLS, cursor, granted);
    const mcp_json_t **results = apr_pcalloc(tp, sizeof(*results) * 4);
    mcp_json_t *out, *tools;
    const char *names = "";
    apr_size_t k;
    int j;

    if (cursor) {
        ck_assert_int_le(plan->fetch->nelts, 1);
    }
    for (j = 0; j < plan->fetch->nelts; j++) {
        const mcp_fed_pos_t *pos = &APR_ARRAY_IDX(plan->fetch, j,
                                                  mcp_fed_pos_t);

        results[j] = js(page_of(pos->backend, pos->cursor));
    }
    out = merge(fed, plan, results, NULL, granted, NULL);
    tools = mcp_json_get(tp, out, "tools");
    for (k = 0; k < mcp_json_size(tools); k++) {
        names = apr_pstrcat(tp, names, k ? " " : "", mcp_json_get_str(tp,
                            mcp_json_array_get(tp, tools, k), "name"), NULL);
    }
    *pnames = names;
    return out;
}

START_TEST(cursor_pagination)
{
    mcp_fed_t *fed = three();
    const char *names, *cursor, *pages[8];
    mcp_json_t *out;
    int n = 0;

    out = one_page(fed, NULL, "github:read", &names);
    pages[n++] = names;
    while ((cursor = mcp_json_get_str(tp, out, "nextCursor")) != NULL) {
        ck_assert_int_lt(n, 8);
        /* Opaque base64url, no padding. */
        ck_assert_uint_eq(strspn(cursor, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghij"
                                 "klmnopqrstuvwxyz0123456789-_."),
                          strlen(cursor));
        out = one_page(fed, cursor, "github:read", &names);
        pages[n++] = names;
    }
    /* First page: every backend's first page; then github to its end,
     * then local to its end. */
    ck_assert_int_eq(n, 4);
    ck_assert_str_eq(pages[0], "github_g1 tools_t1 l1");
    ck_assert_str_eq(pages[1], "github_g2");
    ck_assert_str_eq(pages[2], "l2");
    ck_assert_str_eq(pages[3], "l3");

    /* A token that lost github:read between pages never sees github's
     * next page through the old cursor. */
    out = one_page(fed, NULL, "github:read", &names);
    cursor = mcp_json_get_str(tp, out, "nextCursor");
    out = one_page(fed, cursor, "", &names);
    ck_assert_str_eq(names, "l2");

    /* The next cursor of one session is refused in another, and without
     * one; in its own it still works. */
    out = one_page(fed, NULL, "github:read", &names);
    cursor = mcp_json_get_str(tp, out, "nextCursor");
    ck_assert_ptr_nonnull(cursor);
    {
        mcp_fed_plan_t *plan = NULL;
        const char *err = NULL;

        ck_assert_status(mcp_fed_list_plan(&plan, tp, fed, MCP_FED_TOOLS,
                                           cursor, "session-2",
                                           set_of("github:read"), &err),
                         MCP_EVERIFY);
        ck_assert_ptr_nonnull(strstr(err, "another session"));
        ck_assert_status(mcp_fed_list_plan(&plan, tp, fed, MCP_FED_TOOLS,
                                           cursor, NULL,
                                           set_of("github:read"), &err),
                         MCP_EVERIFY);
        ck_assert_ptr_null(plan);
    }
    out = one_page(fed, cursor, "github:read", &names);
    ck_assert_str_eq(names, "github_g2");
}
END_TEST

START_TEST(cursor_refused)
{
    mcp_fed_t *fed = three(), *other = NULL;
    apr_array_header_t *pending = apr_array_make(tp, 2, sizeof(mcp_fed_pos_t));
    apr_array_header_t *arr = backends(), *got = NULL;
    mcp_fed_pos_t *pos;
    mcp_fed_plan_t *plan = NULL;
    const char *cursor = NULL, *err = NULL, *forged;
    char *bad;
    apr_size_t len, k;

    pos = apr_array_push(pending);
    pos->backend = 2;
    pos->cursor = "L2";
    pos = apr_array_push(pending);
    pos->backend = 0;
    pos->cursor = NULL;
    ck_assert_status(mcp_fed_cursor_encode(&cursor, tp, fed, MCP_FED_TOOLS,
                                           pending, SESSION, &err),
                     APR_SUCCESS);
    ck_assert_status(mcp_fed_cursor_decode(&got, tp, fed, MCP_FED_TOOLS,
                                           cursor, SESSION, &err),
                     APR_SUCCESS);
    ck_assert_int_eq(got->nelts, 2);
    ck_assert_int_eq(APR_ARRAY_IDX(got, 0, mcp_fed_pos_t).backend, 2);
    ck_assert_str_eq(APR_ARRAY_IDX(got, 0, mcp_fed_pos_t).cursor, "L2");
    ck_assert_ptr_null(APR_ARRAY_IDX(got, 1, mcp_fed_pos_t).cursor);
    ck_assert_ptr_null(strchr(cursor, '='));
    len = strlen(cursor);

    /* Every single-character change and every truncation fails. */
    for (k = 0; k < len; k++) {
        bad = apr_pstrdup(tp, cursor);
        bad[k] = bad[k] == 'A' ? 'B' : 'A';
        ck_assert_status(mcp_fed_list_plan(&plan, tp, fed, MCP_FED_TOOLS, bad,
                                           SESSION, set_of("github:read"),
                                           &err),
                         MCP_EVERIFY);
        ck_assert_ptr_null(plan);
        ck_assert_status(mcp_fed_list_plan(&plan, tp, fed, MCP_FED_TOOLS,
                                           apr_pstrndup(tp, cursor, k),
                                           SESSION, set_of("github:read"),
                                           &err),
                         MCP_EVERIFY);
    }
    /* A forged payload with a MAC from another cursor. */
    forged = apr_pstrcat(tp, b64s("{\"m\":\"tools/list\",\"p\":"
                                  "[[\"github\",null]]}"),
                         strrchr(cursor, '.'), NULL);
    ck_assert_status(mcp_fed_cursor_decode(&got, tp, fed, MCP_FED_TOOLS,
                                           forged, SESSION, &err), MCP_EVERIFY);
    ck_assert_status(mcp_fed_cursor_decode(&got, tp, fed, MCP_FED_TOOLS,
                                           "", SESSION, &err), MCP_EVERIFY);
    ck_assert_status(mcp_fed_cursor_decode(&got, tp, fed, MCP_FED_TOOLS,
                                           "G2", SESSION, &err), MCP_EVERIFY);
    ck_assert_status(mcp_fed_cursor_decode(&got, tp, fed, MCP_FED_TOOLS,
                                           apr_pstrcat(tp, cursor, "x", NULL),
                                           SESSION, &err), MCP_EVERIFY);
    /* Another session's binding, none, and bindings that share a prefix
     * with the right one. */
    ck_assert_status(mcp_fed_cursor_decode(&got, tp, fed, MCP_FED_TOOLS,
                                           cursor, "session-2", &err),
                     MCP_EVERIFY);
    ck_assert_status(mcp_fed_cursor_decode(&got, tp, fed, MCP_FED_TOOLS,
                                           cursor, NULL, &err), MCP_EVERIFY);
    ck_assert_status(mcp_fed_cursor_decode(&got, tp, fed, MCP_FED_TOOLS,
                                           cursor, "session-", &err),
                     MCP_EVERIFY);
    ck_assert_status(mcp_fed_cursor_decode(&got, tp, fed, MCP_FED_TOOLS,
                                           cursor, SESSION "1", &err),
                     MCP_EVERIFY);
    /* Authentic, but for another list method. */
    ck_assert_status(mcp_fed_cursor_decode(&got, tp, fed, MCP_FED_PROMPTS,
                                           cursor, SESSION, &err),
                     MCP_EINVALID);
    ck_assert_ptr_nonnull(strstr(err, "tools/list"));
    /* The same backends under another key. */
    add_backend(arr, "github", "github_", "github:read");
    add_backend(arr, "tools", "tools_", NULL);
    add_backend(arr, "local", NULL, NULL);
    ck_assert_status(make_fed(&other, arr, key2, 0, &err), APR_SUCCESS);
    ck_assert_status(mcp_fed_cursor_decode(&got, tp, other, MCP_FED_TOOLS,
                                           cursor, SESSION, &err),
                     MCP_EVERIFY);
    /* The same key, but "local" is gone from the configuration. */
    arr = backends();
    add_backend(arr, "github", "github_", "github:read");
    ck_assert_status(make_fed(&other, arr, key1, 0, &err), APR_SUCCESS);
    ck_assert_status(mcp_fed_cursor_decode(&got, tp, other, MCP_FED_TOOLS,
                                           cursor, SESSION, &err),
                     MCP_EINVALID);
    ck_assert_ptr_nonnull(strstr(err, "local"));
    /* Nothing to encode. */
    ck_assert_status(mcp_fed_cursor_encode(&cursor, tp, fed, MCP_FED_TOOLS,
                     apr_array_make(tp, 1, sizeof(mcp_fed_pos_t)), SESSION,
                     &err), MCP_EINVALID);
}
END_TEST

START_TEST(merge_hostile)
{
    apr_array_header_t *arr = backends();
    mcp_fed_t *fed;
    mcp_fed_plan_t *plan;
    const mcp_json_t *results[2];
    apr_array_header_t *problems;
    mcp_json_t *out, *big, *nul = NULL;
    const char *err = NULL;
    char name[300];
    int k;

    add_backend(arr, "a", "a_", NULL);
    add_backend(arr, "b", "b_", NULL);
    ck_assert_status(make_fed(&fed, arr, key1, 100, &err), APR_SUCCESS);
    plan = plan_of(fed, MCP_FED_TOOLS, NULL, "");
    results[1] = js("{\"tools\":[{\"name\":\"ok\"}]}");

    results[0] = js("[1,2]");
    out = merge(fed, plan, results, NULL, "", &problems);
    ck_assert(problem_has(problems, "a", MCP_EINVALID, "array without"));
    ck_assert_str_eq(dump(out), "{\"tools\":[{\"name\":\"b_ok\"}]}");
    results[0] = js("\"tools\"");
    out = merge(fed, plan, results, NULL, "", &problems);
    ck_assert(problem_has(problems, "a", MCP_EINVALID, "string"));
    results[0] = js("{\"tools\":{\"name\":\"x\"}}");
    out = merge(fed, plan, results, NULL, "", &problems);
    ck_assert(problem_has(problems, "a", MCP_EINVALID, "array 'tools'"));
    results[0] = js("{\"tools\":null,\"nextCursor\":\"c\"}");
    out = merge(fed, plan, results, NULL, "", &problems);
    ck_assert(!mcp_json_has(out, "nextCursor"));

    /* Bad items are left out, counted once per backend. */
    memset(name, 'n', sizeof(name) - 1);
    name[sizeof(name) - 1] = '\0';
    results[0] = js(apr_psprintf(tp, "{\"tools\":[1,null,[],{},{\"name\":5},"
                    "{\"name\":\"\"},{\"name\":\"sp ace\"},{\"name\":\"%s\"},"
                    "{\"name\":\"fine\"}],\"nextCursor\":7}", name));
    out = merge(fed, plan, results, NULL, "", &problems);
    ck_assert_str_eq(dump(out), "{\"tools\":[{\"name\":\"a_fine\"},"
                     "{\"name\":\"b_ok\"}]}");
    ck_assert(problem_has(problems, "a", MCP_EINVALID, "8 tool(s) left out"));
    ck_assert(problem_has(problems, "a", MCP_EINVALID, "nextCursor"));
    ck_assert_int_eq(problems->nelts, 2);

    /* NUL in a name never gets here: the JSON parser refuses it, and the
     * handler passes the backend on as failed. */
    ck_assert_status(mcp_json_parse(&nul, tp, "{\"tools\":[{\"name\":"
                     "\"a\\u0000b\"}]}", 31, NULL, &err), MCP_EPARSE);
    results[0] = NULL;
    out = merge(fed, plan, results, (const char *[]){ "bad JSON", NULL }, "",
                &problems);
    ck_assert_int_eq(problems->nelts, 1);

    /* More items than max_items: that backend is left out as a whole. */
    big = mcp_json_object(tp);
    mcp_json_set(big, "tools", mcp_json_array(tp));
    for (k = 0; k < 100; k++) {
        mcp_json_t *t = mcp_json_object(tp);

        mcp_json_set_str(t, "name", apr_psprintf(tp, "t%d", k));
        mcp_json_append(mcp_json_get(tp, big, "tools"), t);
    }
    results[0] = big;
    out = merge(fed, plan, results, NULL, "", &problems);
    /* 100 fit exactly, so b's one item makes 101. */
    ck_assert_uint_eq(mcp_json_size(mcp_json_get(tp, out, "tools")), 100);
    ck_assert(problem_has(problems, "b", MCP_ETOOLARGE, "beyond 100"));
    mcp_json_append(mcp_json_get(tp, big, "tools"), mcp_json_object(tp));
    out = merge(fed, plan, results, NULL, "", &problems);
    ck_assert_str_eq(dump(out), "{\"tools\":[{\"name\":\"b_ok\"}]}");
    ck_assert(problem_has(problems, "a", MCP_ETOOLARGE, "101 tools"));

    /* Too long a backend cursor ends that backend's paging. */
    results[0] = js(apr_psprintf(tp, "{\"tools\":[],\"nextCursor\":\"%s\"}",
                                 apr_pstrcat(tp, name, name, name, name, NULL)));
    out = merge(fed, plan, results, NULL, "", &problems);
    ck_assert(!mcp_json_has(out, "nextCursor"));
    ck_assert(problem_has(problems, "a", MCP_ETOOLARGE, "nextCursor"));
}
END_TEST

static mcp_fed_route_t *route_ok(const mcp_fed_t *fed, const char *method,
                                 const char *params, const char *granted,
                                 int backend, const char *want_params)
{
    mcp_fed_route_t *r = NULL;
    const char *err = NULL;

    ck_assert_msg(mcp_fed_route(&r, tp, fed, method, js(params),
                                set_of(granted), NULL, &err) == APR_SUCCESS,
                  "%s %s refused: %s", method, params, err);
    ck_assert_int_eq(r->backend, backend);
    ck_assert_str_eq(dump(r->params), want_params);
    return r;
}

START_TEST(route_methods)
{
    mcp_fed_t *fed = three();
    mcp_fed_route_t *r;

    r = route_ok(fed, "tools/call", "{\"name\":\"github_search\",\"arguments\":"
                 "{\"q\":\"x\"},\"_meta\":{\"progressToken\":7}}",
                 "github:read", 0, "{\"name\":\"search\",\"arguments\":"
                 "{\"q\":\"x\"},\"_meta\":{\"progressToken\":7}}");
    ck_assert_str_eq(r->gwname, "github_search");
    ck_assert_str_eq(r->original, "search");
    ck_assert_int_eq(r->kind, MCP_FED_TOOLS);
    route_ok(fed, "tools/call", "{\"name\":\"echo\"}", "", 2,
             "{\"name\":\"echo\"}");
    route_ok(fed, "prompts/get", "{\"name\":\"tools_review\",\"arguments\":"
             "{\"a\":\"b\"}}", "", 1,
             "{\"name\":\"review\",\"arguments\":{\"a\":\"b\"}}");
    route_ok(fed, "resources/read", "{\"uri\":\"github-repo://a/b\"}",
             "github:read", 0, "{\"uri\":\"repo://a/b\"}");
    route_ok(fed, "resources/subscribe", "{\"uri\":\"tools-log://x\"}", "", 1,
             "{\"uri\":\"log://x\"}");
    route_ok(fed, "resources/unsubscribe", "{\"uri\":\"file:///x\"}", "", 2,
             "{\"uri\":\"file:///x\"}");
    route_ok(fed, "completion/complete", "{\"ref\":{\"type\":\"ref/prompt\","
             "\"name\":\"github_review\"},\"argument\":{\"name\":\"lang\","
             "\"value\":\"py\"}}", "github:read", 0,
             "{\"ref\":{\"type\":\"ref/prompt\",\"name\":\"review\"},"
             "\"argument\":{\"name\":\"lang\",\"value\":\"py\"}}");
    r = route_ok(fed, "completion/complete", "{\"ref\":{\"type\":"
                 "\"ref/resource\",\"uri\":\"tools-repo://{owner}\"},"
                 "\"argument\":{\"name\":\"owner\",\"value\":\"a\"}}", "", 1,
                 "{\"ref\":{\"type\":\"ref/resource\",\"uri\":\"repo://"
                 "{owner}\"},\"argument\":{\"name\":\"owner\",\"value\":\"a\"}}");
    ck_assert_int_eq(r->kind, MCP_FED_TEMPLATES);
}
END_TEST

START_TEST(route_refused)
{
    mcp_fed_t *fed = three();
    mcp_fed_route_t *r = NULL;
    const char *err = NULL;
    mcp_json_t *params = js("{\"name\":\"github_create_issue\"}");

    /* Not allowed: the scopes it needs, what is missing, the challenge. */
    ck_assert_status(mcp_fed_route(&r, tp, fed, "tools/call", params,
                                   set_of("mcp github:read"), NULL, &err),
                     APR_EACCES);
    ck_assert_ptr_nonnull(r);
    ck_assert_int_eq(r->backend, 0);
    ck_assert_ptr_null(r->params);
    ck_assert_str_eq(mcp_scope_join(tp, r->needed), "github:read github:write");
    ck_assert_str_eq(mcp_scope_join(tp, r->missing), "github:write");
    ck_assert_str_eq(mcp_scope_join(tp, r->challenge),
                     "github:read github:write mcp");
    ck_assert_ptr_nonnull(strstr(err, "github:write"));
    /* The backend's own scope counts for every item. */
    ck_assert_status(mcp_fed_route(&r, tp, fed, "tools/call",
                                   js("{\"name\":\"github_search\"}"),
                                   set_of("mcp"), NULL, &err), APR_EACCES);
    ck_assert_str_eq(mcp_scope_join(tp, r->missing), "github:read");
    /* A wildcard grant covers both. */
    ck_assert_status(mcp_fed_route(&r, tp, fed, "tools/call", params,
                                   set_of("github:*"), NULL, &err),
                     APR_SUCCESS);
    ck_assert_int_eq(r->missing->nelts, 0);

    /* Unknown names: distinct from not allowed. */
    ck_assert_status(mcp_fed_route(&r, tp, fed, "tools/call",
                                   js("{\"name\":\"gateway_x\"}"),
                                   set_of(""), NULL, &err), MCP_ENOTFOUND);
    ck_assert_ptr_null(r);
    /* Bad params. */
    ck_assert_status(mcp_fed_route(&r, tp, fed, "tools/call",
                                   js("{\"name\":5}"), set_of(""), NULL, &err),
                     MCP_EINVALID);
    ck_assert_status(mcp_fed_route(&r, tp, fed, "tools/call", NULL,
                                   set_of(""), NULL, &err), MCP_EINVALID);
    ck_assert_status(mcp_fed_route(&r, tp, fed, "tools/call", js("[]"),
                                   set_of(""), NULL, &err), MCP_EINVALID);
    ck_assert_status(mcp_fed_route(&r, tp, fed, "resources/read",
                                   js("{\"name\":\"x\"}"), set_of(""), NULL,
                                   &err), MCP_EINVALID);
    ck_assert_status(mcp_fed_route(&r, tp, fed, "completion/complete",
                                   js("{\"ref\":{\"type\":\"ref/tool\","
                                      "\"name\":\"x\"}}"), set_of(""), NULL,
                                   &err), MCP_EINVALID);
    ck_assert_status(mcp_fed_route(&r, tp, fed, "completion/complete",
                                   js("{\"ref\":\"ref/prompt\"}"), set_of(""),
                                   NULL, &err), MCP_EINVALID);
    ck_assert_status(mcp_fed_route(&r, tp, fed, "completion/complete",
                                   js("7"), set_of(""), NULL, &err),
                     MCP_EINVALID);
    /* Methods that are not routed by name. */
    ck_assert_status(mcp_fed_route(&r, tp, fed, "tools/list", js("{}"),
                                   set_of(""), NULL, &err), APR_ENOTIMPL);
    ck_assert_status(mcp_fed_route(&r, tp, fed, NULL, js("{}"), set_of(""),
                                   NULL, &err), APR_ENOTIMPL);
}
END_TEST

START_TEST(route_unknown_without_unprefixed)
{
    apr_array_header_t *arr = backends();
    mcp_fed_t *fed;
    mcp_fed_route_t *r = NULL;
    const char *err = NULL;

    add_backend(arr, "github", "github_", NULL);
    fed = fed_of(arr);
    ck_assert_status(mcp_fed_route(&r, tp, fed, "tools/call",
                                   js("{\"name\":\"search\"}"), set_of(""),
                                   NULL, &err), MCP_ENOTFOUND);
    ck_assert_ptr_nonnull(strstr(err, "search"));
    ck_assert_status(mcp_fed_route(&r, tp, fed, "resources/read",
                                   js("{\"uri\":\"github_repo://x\"}"),
                                   set_of(""), NULL, &err), MCP_ENOTFOUND);
}
END_TEST

START_TEST(init_capabilities)
{
    mcp_fed_t *fed = three();
    const mcp_json_t *results[3];
    apr_array_header_t *problems = NULL;
    mcp_json_t *out = NULL;

    results[0] = js("{\"protocolVersion\":\"2025-06-18\",\"capabilities\":"
                    "{\"tools\":{\"listChanged\":true},\"resources\":"
                    "{\"subscribe\":true},\"experimental\":{\"x\":{\"a\":1}},"
                    "\"tasks\":{\"list\":{}}},\"serverInfo\":{\"name\":\"gh\","
                    "\"version\":\"1\"},\"instructions\":\"Use search.\"}");
    results[1] = NULL;   /* not visible, or failed */
    results[2] = js("{\"protocolVersion\":\"2025-11-25\",\"capabilities\":"
                    "{\"tools\":{},\"prompts\":{\"listChanged\":false},"
                    "\"resources\":{\"listChanged\":true},\"logging\":{},"
                    "\"completions\":{},\"experimental\":{\"x\":{\"a\":1},"
                    "\"y\":true}},\"instructions\":\"Say hi.\"}");
    ck_assert_status(mcp_fed_initialize_merge(&out, &problems, tp, fed,
                     "2025-06-18", results,
                     js("{\"name\":\"mod_mcp\",\"version\":\"0.1.0\"}")),
                     APR_SUCCESS);
    ck_assert_int_eq(problems->nelts, 0);
    ck_assert_str_eq(dump(out), "{\"protocolVersion\":\"2025-06-18\","
                     "\"capabilities\":{\"tools\":{\"listChanged\":true},"
                     "\"resources\":{\"subscribe\":true,\"listChanged\":true},"
                     "\"experimental\":{\"x\":{\"a\":1},\"y\":true},"
                     "\"prompts\":{},\"logging\":{},\"completions\":{}},"
                     "\"serverInfo\":{\"name\":\"mod_mcp\",\"version\":"
                     "\"0.1.0\"},\"instructions\":\"github: Use search.\\n\\n"
                     "local: Say hi.\"}");

    /* A clash in experimental: the first backend's value, reported. */
    results[2] = js("{\"capabilities\":{\"experimental\":{\"x\":{\"a\":2}}}}");
    ck_assert_status(mcp_fed_initialize_merge(&out, &problems, tp, fed, NULL,
                                              results, NULL), APR_SUCCESS);
    ck_assert_int_eq(problems->nelts, 1);
    ck_assert(problem_has(problems, "local", MCP_ECONFLICT,
                          "backends github and local differ"));
    ck_assert_str_eq(dump(mcp_json_getp(tp, out, "capabilities",
                                        "experimental", NULL)),
                     "{\"x\":{\"a\":1}}");
    ck_assert(!mcp_json_has(out, "serverInfo"));
}
END_TEST

START_TEST(init_versions)
{
    mcp_fed_t *fed = three();
    const mcp_json_t *none[3] = { NULL, NULL, NULL };
    apr_array_header_t *problems = NULL;
    mcp_json_t *out = NULL;

    ck_assert_str_eq(mcp_fed_negotiate_version("2025-03-26"), "2025-03-26");
    ck_assert_str_eq(mcp_fed_negotiate_version("2025-06-18"), "2025-06-18");
    ck_assert_str_eq(mcp_fed_negotiate_version("2025-11-25"), "2025-11-25");
    ck_assert_str_eq(mcp_fed_negotiate_version("2024-11-05"), "2025-11-25");
    ck_assert_str_eq(mcp_fed_negotiate_version("2026-07-28"), "2025-11-25");
    ck_assert_str_eq(mcp_fed_negotiate_version(""), "2025-11-25");
    ck_assert_str_eq(mcp_fed_negotiate_version(NULL), "2025-11-25");
    ck_assert(!mcp_fed_version_supported("2025-06-18 "));
    ck_assert_str_eq(mcp_fed_versions_text(tp), "2025-03-26, 2025-06-18, 2025-11-25");
    /* No backend visible: an initialize result with no capabilities. */
    ck_assert_status(mcp_fed_initialize_merge(&out, &problems, tp, fed,
                     "2025-03-26", none, NULL), APR_SUCCESS);
    ck_assert_str_eq(dump(out), "{\"protocolVersion\":\"2025-03-26\","
                     "\"capabilities\":{}}");
}
END_TEST

START_TEST(init_hostile)
{
    mcp_fed_t *fed = three();
    const mcp_json_t *results[3];
    apr_array_header_t *problems = NULL;
    mcp_json_t *out = NULL;

    results[0] = js("[\"not\",\"an\",\"object\"]");
    results[1] = js("{\"capabilities\":{\"tools\":true,\"prompts\":"
                    "{\"listChanged\":\"yes\"},\"experimental\":[1]},"
                    "\"instructions\":{\"text\":\"x\"}}");
    results[2] = js("{\"capabilities\":7,\"instructions\":\"\"}");
    ck_assert_status(mcp_fed_initialize_merge(&out, &problems, tp, fed,
                     "2025-11-25", results, NULL), APR_SUCCESS);
    ck_assert(problem_has(problems, "github", MCP_EINVALID, "array"));
    ck_assert(problem_has(problems, "tools", MCP_EINVALID, "capabilities.tools"));
    ck_assert(problem_has(problems, "tools", MCP_EINVALID, "experimental"));
    ck_assert(problem_has(problems, "tools", MCP_EINVALID, "instructions"));
    ck_assert(problem_has(problems, "local", MCP_EINVALID, "capabilities"));
    ck_assert_int_eq(problems->nelts, 5);
    /* A non-boolean flag is no promise. */
    ck_assert_str_eq(dump(out), "{\"protocolVersion\":\"2025-11-25\","
                     "\"capabilities\":{\"prompts\":{}}}");
}
END_TEST

static void id_round_trip(const mcp_fed_t *fed, int backend,
                          const mcp_jsonrpc_id_t *id, const char *want)
{
    mcp_jsonrpc_id_t gw, back;
    int i = -1;

    ck_assert_status(mcp_fed_id_to_gateway(&gw, tp, fed, backend, id),
                     APR_SUCCESS);
    ck_assert_int_eq(gw.type, MCP_JSONRPC_ID_STRING);
    ck_assert_str_eq(gw.str, want);
    ck_assert_status(mcp_fed_id_from_gateway(&i, &back, tp, fed, &gw),
                     APR_SUCCESS);
    ck_assert_int_eq(i, backend);
    ck_assert_msg(mcp_jsonrpc_id_equal(&back, id), "%s came back as %s", want,
                  mcp_jsonrpc_id_log(tp, &back));
}

START_TEST(ids_round_trip)
{
    mcp_fed_t *fed = three();
    mcp_jsonrpc_id_t id;

    mcp_jsonrpc_id_from_int(&id, 7);
    id_round_trip(fed, 0, &id, "fed:github:i:7");
    id_round_trip(fed, 2, &id, "fed:local:i:7");
    mcp_jsonrpc_id_from_str(&id, "7");
    id_round_trip(fed, 0, &id, "fed:github:s:7");
    mcp_jsonrpc_id_from_int(&id, 0);
    id_round_trip(fed, 1, &id, "fed:tools:i:0");
    mcp_jsonrpc_id_from_int(&id, APR_INT64_MIN);
    id_round_trip(fed, 1, &id, "fed:tools:i:-9223372036854775808");
    mcp_jsonrpc_id_from_int(&id, APR_INT64_MAX);
    id_round_trip(fed, 1, &id, "fed:tools:i:9223372036854775807");
    mcp_jsonrpc_id_from_str(&id, "");
    id_round_trip(fed, 1, &id, "fed:tools:s:");
    mcp_jsonrpc_id_from_str(&id, "fed:github:i:7 \xc3\xa9");
    id_round_trip(fed, 2, &id, "fed:local:s:fed:github:i:7 \xc3\xa9");
}
END_TEST

START_TEST(ids_refused)
{
    static const char *foreign[] = { "7", "fed:", "fed:nobody:i:1",
                                     "fed:github", "FED:github:i:1" };
    static const char *malformed[] = { "fed:github:", "fed:github:x:1",
        "fed:github:i:", "fed:github:i:01", "fed:github:i:-0",
        "fed:github:i:1x", "fed:github:i: 1", "fed:github:i:+1",
        "fed:github:i:9223372036854775808", "fed:github:i:-" };
    mcp_fed_t *fed = three();
    mcp_jsonrpc_id_t gw, id;
    apr_size_t k;
    int i;

    for (k = 0; k < sizeof(foreign) / sizeof(foreign[0]); k++) {
        mcp_jsonrpc_id_from_str(&gw, foreign[k]);
        ck_assert_msg(mcp_fed_id_from_gateway(&i, &id, tp, fed, &gw)
                      == MCP_ENOTFOUND, "%s", foreign[k]);
    }
    for (k = 0; k < sizeof(malformed) / sizeof(malformed[0]); k++) {
        mcp_jsonrpc_id_from_str(&gw, malformed[k]);
        ck_assert_msg(mcp_fed_id_from_gateway(&i, &id, tp, fed, &gw)
                      == MCP_EINVALID, "%s", malformed[k]);
        ck_assert_int_eq(i, -1);
    }
    mcp_jsonrpc_id_from_int(&gw, 1);
    ck_assert_status(mcp_fed_id_from_gateway(&i, &id, tp, fed, &gw),
                     MCP_ENOTFOUND);
    memset(&id, 0, sizeof(id));
    ck_assert_status(mcp_fed_id_to_gateway(&gw, tp, fed, 0, &id),
                     MCP_EINVALID);
    id.type = MCP_JSONRPC_ID_NULL;
    ck_assert_status(mcp_fed_id_to_gateway(&gw, tp, fed, 0, &id),
                     MCP_EINVALID);
    mcp_jsonrpc_id_from_int(&id, 1);
    ck_assert_status(mcp_fed_id_to_gateway(&gw, tp, fed, 3, &id),
                     MCP_EINVALID);
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
    tc = mcp_tcase("merge");
    tcase_add_test(tc, merge_keeps_members);
    tcase_add_test(tc, merge_resources_and_templates);
    tcase_add_test(tc, merge_scope_filter);
    tcase_add_test(tc, merge_partial);
    tcase_add_test(tc, merge_collisions);
    tcase_add_test(tc, merge_hostile);
    suite_add_tcase(s, tc);
    tc = mcp_tcase("cursor");
    tcase_add_test(tc, cursor_pagination);
    tcase_add_test(tc, cursor_refused);
    suite_add_tcase(s, tc);
    tc = mcp_tcase("route");
    tcase_add_test(tc, route_methods);
    tcase_add_test(tc, route_refused);
    tcase_add_test(tc, route_unknown_without_unprefixed);
    suite_add_tcase(s, tc);
    tc = mcp_tcase("initialize");
    tcase_add_test(tc, init_capabilities);
    tcase_add_test(tc, init_versions);
    tcase_add_test(tc, init_hostile);
    suite_add_tcase(s, tc);
    tc = mcp_tcase("ids");
    tcase_add_test(tc, ids_round_trip);
    tcase_add_test(tc, ids_refused);
    suite_add_tcase(s, tc);
    return s;
}

MCP_TEST_MAIN(fed_suite)
