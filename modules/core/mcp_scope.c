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

/* OAuth scope grammar, sorted scope sets and the ":*" hierarchy. */

#include <string.h>

#include <apr_strings.h>

#include "mcp/mcp_scope.h"

/* How much of an invalid token a message shows. */
#define SCOPE_MSG_MAX 64

static int is_scope_char(unsigned char c)
{
    return c == 0x21 || (c >= 0x23 && c <= 0x5b) || (c >= 0x5d && c <= 0x7e);
}

static int token_valid(const char *s, apr_size_t len)
{
    apr_size_t i;

    if (len == 0 || len > MCP_SCOPE_MAX_TOKEN) {
        return 0;
    }
    for (i = 0; i < len; i++) {
        if (!is_scope_char((unsigned char)s[i])) {
            return 0;
        }
    }
    return 1;
}

int mcp_scope_token_valid(const char *s)
{
    return s && token_valid(s, strlen(s));
}

/* Binary search: the index of @a scope, or -(insertion point) - 1. */
static int find(const apr_array_header_t *set, const char *scope)
{
    int lo = 0, hi = set->nelts - 1;

    while (lo <= hi) {
        int mid = lo + (hi - lo) / 2;
        int c = strcmp(APR_ARRAY_IDX(set, mid, const char *), scope);

        if (c == 0) {
            return mid;
        }
        if (c < 0) {
            lo = mid + 1;
        }
        else {
            hi = mid - 1;
        }
    }
    return -lo - 1;
}

/* Insert a token known to be valid (not copied). */
static void insert(apr_array_header_t *set, const char *scope)
{
    int at = find(set, scope);

    if (at >= 0) {
        return;
    }
    at = -at - 1;
    apr_array_push(set);
    memmove(set->elts + (apr_size_t)(at + 1) * sizeof(const char *),
            set->elts + (apr_size_t)at * sizeof(const char *),
            (apr_size_t)(set->nelts - 1 - at) * sizeof(const char *));
    APR_ARRAY_IDX(set, at, const char *) = scope;
}

apr_array_header_t *mcp_scope_set_make(apr_pool_t *p)
{
    return apr_array_make(p, 4, sizeof(const char *));
}

apr_status_t mcp_scope_set_add(apr_array_header_t *set, const char *scope)
{
    if (!set || !mcp_scope_token_valid(scope)) {
        return MCP_EINVALID;
    }
    if (find(set, scope) < 0) {
        insert(set, apr_pstrdup(set->pool, scope));
    }
    return APR_SUCCESS;
}

/* An invalid token, fit for a message: non-printable bytes as \xHH, cut
 * after SCOPE_MSG_MAX bytes. It may come from a request, so it must not
 * bring controls into a log line. */
static const char *token_for_msg(apr_pool_t *p, const char *s,
                                 apr_size_t len)
{
    char *out = apr_palloc(p, 4 * SCOPE_MSG_MAX + 4), *o = out;
    apr_size_t i;

    for (i = 0; i < len && i < SCOPE_MSG_MAX; i++) {
        unsigned char c = (unsigned char)s[i];

        if (c < 0x20 || c >= 0x7f) {
            o += apr_snprintf(o, 5, "\\x%02x", c);
        }
        else {
            *o++ = (char)c;
        }
    }
    if (len > SCOPE_MSG_MAX) {
        memcpy(o, "...", 3);
        o += 3;
    }
    *o = '\0';
    return out;
}

apr_status_t mcp_scope_parse(apr_array_header_t **pset, apr_pool_t *p,
                             const char *list, const char **perr)
{
    apr_array_header_t *set = mcp_scope_set_make(p);
    const char *s = list ? list : "";
    int n = 0;

    *pset = NULL;
    while (*s) {
        apr_size_t len;

        while (*s == ' ') {
            s++;
        }
        if (!*s) {
            break;
        }
        len = strcspn(s, " ");
        if (++n > MCP_SCOPE_MAX_TOKENS) {
            if (perr) {
                *perr = apr_psprintf(p, "more than %d scopes",
                                     MCP_SCOPE_MAX_TOKENS);
            }
            return MCP_ETOOLARGE;
        }
        if (!token_valid(s, len)) {
            if (perr) {
                *perr = len > MCP_SCOPE_MAX_TOKEN
                    ? apr_psprintf(p, "scope '%s' is longer than %d bytes",
                                   token_for_msg(p, s, len),
                                   MCP_SCOPE_MAX_TOKEN)
                    : apr_psprintf(p, "scope '%s' is not a valid scope "
                                   "token (RFC 6749 section 3.3)",
                                   token_for_msg(p, s, len));
            }
            return MCP_EINVALID;
        }
        insert(set, apr_pstrmemdup(p, s, len));
        s += len;
    }
    *pset = set;
    return APR_SUCCESS;
}

const char *mcp_scope_join(apr_pool_t *p, const apr_array_header_t *set)
{
    if (!set || set->nelts == 0) {
        return "";
    }
    return apr_array_pstrcat(p, set, ' ');
}

int mcp_scope_set_has(const apr_array_header_t *set, const char *scope)
{
    return set && scope && find(set, scope) >= 0;
}

/* Does the single granted scope @a g cover @a needed? */
static int covers_one(const char *g, const char *needed)
{
    apr_size_t glen = strlen(g);

    if (!strcmp(g, needed)) {
        return 1;
    }
    /* "x:*" with at least one character before the ':'. */
    if (glen >= 3 && g[glen - 1] == '*' && g[glen - 2] == ':') {
        return !strncmp(g, needed, glen - 1);
    }
    return 0;
}

int mcp_scope_covers(const apr_array_header_t *granted, const char *needed)
{
    int i;

    if (!granted || !needed) {
        return 0;
    }
    if (find(granted, needed) >= 0) {
        return 1;
    }
    for (i = 0; i < granted->nelts; i++) {
        if (covers_one(APR_ARRAY_IDX(granted, i, const char *), needed)) {
            return 1;
        }
    }
    return 0;
}

int mcp_scope_covers_all(const apr_array_header_t *granted,
                         const apr_array_header_t *needed)
{
    int i;

    for (i = 0; needed && i < needed->nelts; i++) {
        if (!mcp_scope_covers(granted, APR_ARRAY_IDX(needed, i,
                                                     const char *))) {
            return 0;
        }
    }
    return 1;
}

/* Merge of two sorted sets: keep what is in a only (1), in b only (2),
 * in both (4), as an OR of those bits. */
static apr_array_header_t *merge(apr_pool_t *p, const apr_array_header_t *a,
                                 const apr_array_header_t *b, int keep)
{
    apr_array_header_t *out = mcp_scope_set_make(p);
    int i = 0, j = 0, na = a ? a->nelts : 0, nb = b ? b->nelts : 0;

    while (i < na || j < nb) {
        const char *x = i < na ? APR_ARRAY_IDX(a, i, const char *) : NULL;
        const char *y = j < nb ? APR_ARRAY_IDX(b, j, const char *) : NULL;
        int c = !x ? 1 : !y ? -1 : strcmp(x, y);

        if (c < 0) {
            if (keep & 1) {
                APR_ARRAY_PUSH(out, const char *) = apr_pstrdup(p, x);
            }
            i++;
        }
        else if (c > 0) {
            if (keep & 2) {
                APR_ARRAY_PUSH(out, const char *) = apr_pstrdup(p, y);
            }
            j++;
        }
        else {
            if (keep & 4) {
                APR_ARRAY_PUSH(out, const char *) = apr_pstrdup(p, x);
            }
            i++;
            j++;
        }
    }
    return out;
}

apr_array_header_t *mcp_scope_union(apr_pool_t *p,
                                    const apr_array_header_t *a,
                                    const apr_array_header_t *b)
{
    return merge(p, a, b, 1 | 2 | 4);
}

apr_array_header_t *mcp_scope_intersect(apr_pool_t *p,
                                        const apr_array_header_t *a,
                                        const apr_array_header_t *b)
{
    return merge(p, a, b, 4);
}

apr_array_header_t *mcp_scope_minus(apr_pool_t *p,
                                    const apr_array_header_t *a,
                                    const apr_array_header_t *b)
{
    apr_array_header_t *out = mcp_scope_set_make(p);
    int i;

    for (i = 0; a && i < a->nelts; i++) {
        const char *s = APR_ARRAY_IDX(a, i, const char *);

        if (!mcp_scope_covers(b, s)) {
            APR_ARRAY_PUSH(out, const char *) = apr_pstrdup(p, s);
        }
    }
    return out;
}

int mcp_scope_glob_match(const char *pattern, const char *name)
{
    const char *star = NULL, *resume = NULL;

    if (!pattern || !name) {
        return 0;
    }
    /* Greedy with one remembered '*': on a mismatch, let the last star
     * take one more character. Earlier stars never need to be revisited,
     * so the work is at most pattern length times name length. */
    while (*name) {
        if (*pattern == '*') {
            star = ++pattern;
            resume = name;
        }
        else if (*pattern == '?' || *pattern == *name) {
            pattern++;
            name++;
        }
        else if (star) {
            pattern = star;
            name = ++resume;
        }
        else {
            return 0;
        }
    }
    while (*pattern == '*') {
        pattern++;
    }
    return *pattern == '\0';
}
