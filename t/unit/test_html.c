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

/* mcp_html: escaping and the page templates, including the ones shipped
 * in conf/templates/. */

#include <stdio.h>
#include <apr_file_io.h>
#include <apr_strings.h>

#include "mcp_test.h"
#include "mcp/mcp_html.h"

START_TEST(escape)
{
    ck_assert_str_eq(mcp_html_escape(tp, "<a href=\"x\">O'Neil & co</a>"),
                     "&lt;a href=&quot;x&quot;&gt;O&#39;Neil &amp; co&lt;/a&gt;");
    ck_assert_str_eq(mcp_html_escape(tp, ""), "");
    ck_assert_str_eq(mcp_html_escape(tp, NULL), "");
    ck_assert_str_eq(mcp_html_escape(tp, "gr\xc3\xbc\xc3\x9f"), "gr\xc3\xbc\xc3\x9f");
}
END_TEST

START_TEST(render)
{
    apr_table_t *v = apr_table_make(tp, 4);

    apr_table_setn(v, "name", "<script>alert(1)</script>");
    apr_table_setn(v, "frag", "<li>ok</li>");
    apr_table_setn(v, "on", "1");
    apr_table_setn(v, "empty", "");
    ck_assert_str_eq(mcp_html_render(tp, "<p>{{name}}</p>", v),
                     "<p>&lt;script&gt;alert(1)&lt;/script&gt;</p>");
    ck_assert_str_eq(mcp_html_render(tp, "<ul>{{{frag}}}</ul>", v),
                     "<ul><li>ok</li></ul>");
    ck_assert_str_eq(mcp_html_render(tp, "a{{#on}}B{{name}}{{/on}}c", v),
                     "aB&lt;script&gt;alert(1)&lt;/script&gt;c");
    ck_assert_str_eq(mcp_html_render(tp, "a{{#empty}}B{{/empty}}c", v), "ac");
    ck_assert_str_eq(mcp_html_render(tp, "a{{#missing}}B{{/missing}}c", v), "ac");
    ck_assert_str_eq(mcp_html_render(tp, "[{{missing}}]", v), "[]");
    ck_assert_str_eq(mcp_html_render(tp, "no placeholders", v), "no placeholders");
    /* a value that looks like a placeholder is not expanded again */
    apr_table_setn(v, "tricky", "{{frag}}");
    ck_assert_str_eq(mcp_html_render(tp, "{{{tricky}}}", v), "{{frag}}");
}
END_TEST

START_TEST(check)
{
    const char *err = NULL;

    ck_assert_status(mcp_html_template_check(tp, "<p>{{a}} {{{b_1}}} {{#c}}x{{/c}}</p>",
                                             1024, &err), APR_SUCCESS);
    ck_assert_status(mcp_html_template_check(tp, "{{a", 1024, &err), MCP_EINVALID);
    ck_assert_status(mcp_html_template_check(tp, "{{a b}}", 1024, &err), MCP_EINVALID);
    ck_assert_status(mcp_html_template_check(tp, "{{{a}}", 1024, &err), MCP_EINVALID);
    ck_assert_status(mcp_html_template_check(tp, "{{#a}}x", 1024, &err), MCP_EINVALID);
    ck_assert_status(mcp_html_template_check(tp, "x{{/a}}", 1024, &err), MCP_EINVALID);
    ck_assert_status(mcp_html_template_check(tp, "{{#a}}{{#b}}{{/b}}{{/a}}", 1024, &err),
                     MCP_EINVALID);
    ck_assert_status(mcp_html_template_check(tp, "{{#a}}{{/b}}", 1024, &err),
                     MCP_EINVALID);
    ck_assert_status(mcp_html_template_check(tp, "0123456789", 5, &err), MCP_EINVALID);
    ck_assert(err && *err);
}
END_TEST

static const char *slurp(const char *name)
{
    const char *path = apr_pstrcat(tp, MCP_TEMPLATES, "/", name, NULL);
    apr_file_t *f;
    apr_finfo_t fi;
    apr_size_t n;
    char *buf;

    ck_assert_status(apr_file_open(&f, path, APR_FOPEN_READ, APR_OS_DEFAULT, tp),
                     APR_SUCCESS);
    ck_assert_status(apr_file_info_get(&fi, APR_FINFO_SIZE, f), APR_SUCCESS);
    n = (apr_size_t)fi.size;
    buf = apr_palloc(tp, n + 1);
    ck_assert_status(apr_file_read_full(f, buf, n, &n), APR_SUCCESS);
    buf[n] = '\0';
    apr_file_close(f);
    return buf;
}

START_TEST(shipped_templates)
{
    const char *consent = slurp("consent.html"), *error = slurp("error.html");
    const char *err = NULL, *out;
    apr_table_t *v = apr_table_make(tp, 8);

    ck_assert_status(mcp_html_template_check(tp, consent, 256 * 1024, &err), APR_SUCCESS);
    ck_assert_status(mcp_html_template_check(tp, error, 256 * 1024, &err), APR_SUCCESS);
    /* what the consent page must show and send */
    ck_assert(strstr(consent, "{{{hidden_fields}}}"));
    ck_assert(strstr(consent, "{{{scope_list}}}"));
    ck_assert(strstr(consent, "{{client_name}}"));
    ck_assert(strstr(consent, "{{redirect_host}}"));
    ck_assert(strstr(consent, "{{resource}}"));
    ck_assert(strstr(consent, "{{#loopback_only}}"));
    ck_assert(strstr(consent, "value=\"allow\""));
    ck_assert(strstr(consent, "value=\"deny\""));
    apr_table_setn(v, "client_name", "Evil <img src=x onerror=alert(1)>");
    apr_table_setn(v, "user", "alice");
    out = mcp_html_render(tp, consent, v);
    ck_assert(strstr(out, "Evil &lt;img src=x onerror=alert(1)&gt;"));
    ck_assert(!strstr(out, "<img src=x"));
    /* raw placeholders hold only fragments the module escaped: the
     * templates use them for nothing else */
    ck_assert(!strstr(error, "{{{"));
}
END_TEST

static Suite *html_suite(void)
{
    Suite *s = suite_create("html");
    TCase *tc = mcp_tcase("html");

    tcase_add_test(tc, escape);
    tcase_add_test(tc, render);
    tcase_add_test(tc, check);
    tcase_add_test(tc, shipped_templates);
    suite_add_tcase(s, tc);
    return s;
}

MCP_TEST_MAIN(html_suite)
