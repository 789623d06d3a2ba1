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

/* HTML escaping and page templates. */

#include <string.h>

#include <apr_lib.h>
#include <apr_strings.h>

#include "mcp/mcp_html.h"

#define MAX_NAME 64

const char *mcp_html_escape(apr_pool_t *p, const char *s)
{
    apr_size_t n = 0;
    const char *c;
    char *out, *o;

    if (!s) {
        return "";
    }
    for (c = s; *c; c++) {
        n += *c == '&' ? 5 : (*c == '<' || *c == '>') ? 4
           : *c == '"' ? 6 : *c == '\'' ? 5 : 1;
    }
    o = out = apr_palloc(p, n + 1);
    for (c = s; *c; c++) {
        switch (*c) {
        case '&':  memcpy(o, "&amp;", 5);  o += 5; break;
        case '<':  memcpy(o, "&lt;", 4);   o += 4; break;
        case '>':  memcpy(o, "&gt;", 4);   o += 4; break;
        case '"':  memcpy(o, "&quot;", 6); o += 6; break;
        case '\'': memcpy(o, "&#39;", 5);  o += 5; break;
        default:   *o++ = *c; break;
        }
    }
    *o = '\0';
    return out;
}

typedef enum { TAG_VAR, TAG_RAW, TAG_OPEN, TAG_CLOSE } tag_kind_e;

typedef struct {
    tag_kind_e kind;
    const char *name;           /* from the template's pool */
    const char *end;            /* first character after the tag */
} tag_t;

/* Parse the tag at @s ("{{" seen); 0 when malformed. */
static int parse_tag(apr_pool_t *p, const char *s, tag_t *t)
{
    const char *n, *close;
    apr_size_t len;

    if (!strncmp(s, "{{{", 3)) {
        t->kind = TAG_RAW;
        n = s + 3;
        close = "}}}";
    }
    else {
        n = s + 2;
        t->kind = *n == '#' ? TAG_OPEN : *n == '/' ? TAG_CLOSE : TAG_VAR;
        if (t->kind != TAG_VAR) {
            n++;
        }
        close = "}}";
    }
    for (len = 0; n[len] && (apr_isalnum(n[len]) || n[len] == '_'); len++)
        ;
    if (len == 0 || len > MAX_NAME || strncmp(n + len, close, strlen(close))) {
        return 0;
    }
    t->name = apr_pstrmemdup(p, n, len);
    t->end = n + len + strlen(close);
    return 1;
}

apr_status_t mcp_html_template_check(apr_pool_t *p, const char *tmpl,
                                     apr_size_t max, const char **perr)
{
    const char *s = tmpl, *open = NULL;
    tag_t t;

    if (!tmpl || strlen(tmpl) > max) {
        *perr = apr_psprintf(p, "the template is empty or larger than %"
                             APR_SIZE_T_FMT " bytes", max);
        return MCP_EINVALID;
    }
    while ((s = strstr(s, "{{")) != NULL) {
        if (!parse_tag(p, s, &t)) {
            *perr = apr_psprintf(p, "malformed placeholder at byte %ld",
                                 (long)(s - tmpl));
            return MCP_EINVALID;
        }
        if (t.kind == TAG_OPEN) {
            if (open) {
                *perr = apr_psprintf(p, "section {{#%s}} inside {{#%s}}: "
                                     "sections do not nest", t.name, open);
                return MCP_EINVALID;
            }
            open = t.name;
        }
        else if (t.kind == TAG_CLOSE) {
            if (!open || strcmp(open, t.name)) {
                *perr = apr_psprintf(p, "{{/%s}} closes no open section",
                                     t.name);
                return MCP_EINVALID;
            }
            open = NULL;
        }
        s = t.end;
    }
    if (open) {
        *perr = apr_psprintf(p, "section {{#%s}} is not closed", open);
        return MCP_EINVALID;
    }
    return APR_SUCCESS;
}

const char *mcp_html_render(apr_pool_t *p, const char *tmpl,
                            const apr_table_t *vars)
{
    apr_array_header_t *out = apr_array_make(p, 64, sizeof(const char *));
    const char *s = tmpl, *tagpos;
    int skipping = 0;
    tag_t t;

    while ((tagpos = strstr(s, "{{")) != NULL) {
        if (!skipping && tagpos > s) {
            APR_ARRAY_PUSH(out, const char *) =
                apr_pstrmemdup(p, s, (apr_size_t)(tagpos - s));
        }
        if (!parse_tag(p, tagpos, &t)) {
            /* Unchecked template: keep the text as it is. */
            if (!skipping) {
                APR_ARRAY_PUSH(out, const char *) = "{{";
            }
            s = tagpos + 2;
            continue;
        }
        if (t.kind == TAG_OPEN) {
            const char *v = apr_table_get(vars, t.name);
            skipping = !v || !*v;
        }
        else if (t.kind == TAG_CLOSE) {
            skipping = 0;
        }
        else if (!skipping) {
            const char *v = apr_table_get(vars, t.name);
            APR_ARRAY_PUSH(out, const char *) =
                t.kind == TAG_RAW ? (v ? v : "") : mcp_html_escape(p, v);
        }
        s = t.end;
    }
    if (!skipping) {
        APR_ARRAY_PUSH(out, const char *) = s;
    }
    return apr_array_pstrcat(p, out, '\0');
}
