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

/* Federation of upstream MCP servers: names, merged lists, cursors,
 * routing and initialize, on mcp_json_t values only. */

#include <string.h>

#include <apr_lib.h>
#include <apr_strings.h>

#include "mcp/mcp_fed.h"
#include "mcp/mcp_scope.h"

/* How much of a foreign name a message shows. */
#define FED_MSG_MAX 64

struct mcp_fed_t {
    apr_pool_t *pool;
    apr_array_header_t *backends;   /* mcp_fed_backend_t */
    const char **uri_prefix;        /* per backend, NULL without prefix */
    int unprefixed;                 /* how many backends have no prefix */
    int sole_unprefixed;            /* the index when there is exactly one */
    unsigned char *key;
    apr_size_t keylen;
    apr_size_t max_items;
};

struct mcp_fed_catalog_t {
    apr_pool_t *pool;
    apr_hash_t *owner[MCP_FED_NKINDS];  /* gateway name -> int * (-1: conflict) */
};

/* Printable, cut form of a foreign string for messages. */
static const char *esc(apr_pool_t *p, const char *s)
{
    char *out, *o;
    apr_size_t i;

    if (!s) {
        return "(none)";
    }
    out = o = apr_palloc(p, FED_MSG_MAX * 4 + 4);
    for (i = 0; s[i] && i < FED_MSG_MAX; i++) {
        unsigned char c = (unsigned char)s[i];

        if (c < 0x20 || c > 0x7e || c == '\'' || c == '\\') {
            apr_snprintf(o, 5, "\\x%02x", c);
            o += 4;
        }
        else {
            *o++ = (char)c;
        }
    }
    strcpy(o, s[i] ? "..." : "");
    return out;
}

static apr_status_t fail(const char **perr, apr_pool_t *p, apr_status_t rv,
                         const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static apr_status_t fail(const char **perr, apr_pool_t *p, apr_status_t rv,
                         const char *fmt, ...)
{
    va_list ap;

    if (perr) {
        va_start(ap, fmt);
        *perr = apr_pvsprintf(p, fmt, ap);
        va_end(ap);
    }
    return rv;
}

static int is_name_char(char c)
{
    return apr_isalnum(c) || c == '_' || c == '-' || c == '.';
}

int mcp_fed_name_valid(const char *s)
{
    apr_size_t i;

    if (!s) {
        return 0;
    }
    for (i = 0; s[i]; i++) {
        if (i >= MCP_FED_MAX_NAME || !is_name_char(s[i])) {
            return 0;
        }
    }
    return i > 0;
}

static int starts_with(const char *s, const char *prefix)
{
    return !strncmp(s, prefix, strlen(prefix));
}

int mcp_fed_is_builtin(const char *name)
{
    return name && starts_with(name, MCP_FED_RESERVED_PREFIX);
}

static int is_backend_name(const char *s)
{
    const char *c;

    for (c = s; c && *c; c++) {
        if (!apr_isalnum(*c) && *c != '_' && *c != '-') {
            return 0;
        }
    }
    return s && *s;
}

/* Either of @a a and @a b a beginning of the other. */
static int overlap(const char *a, const char *b)
{
    return starts_with(a, b) || starts_with(b, a);
}

static const char *uri_prefix_of(apr_pool_t *p, const char *prefix)
{
    char *u = apr_pstrdup(p, prefix), *c;

    for (c = u; *c; c++) {
        if (*c == '_') {
            *c = '-';
        }
    }
    return u;
}

static apr_status_t check_prefix(mcp_fed_t *fed, int i, const char **perr)
{
    const mcp_fed_backend_t *b = &APR_ARRAY_IDX(fed->backends, i,
                                                mcp_fed_backend_t);
    apr_pool_t *p = fed->pool;
    int j;

    if (strlen(b->prefix) > MCP_FED_MAX_PREFIX
        || !mcp_fed_name_valid(b->prefix)) {
        return fail(perr, p, MCP_EINVALID, "backend %s: prefix '%s' must be "
                    "1-%d characters of [A-Za-z0-9_.-]", b->name,
                    esc(p, b->prefix), MCP_FED_MAX_PREFIX);
    }
    if (overlap(b->prefix, MCP_FED_RESERVED_PREFIX)) {
        return fail(perr, p, MCP_EINVALID, "backend %s: prefix '%s' overlaps "
                    "'%s', which is reserved for the gateway's own tools",
                    b->name, b->prefix, MCP_FED_RESERVED_PREFIX);
    }
    fed->uri_prefix[i] = uri_prefix_of(p, b->prefix);
    for (j = 0; j < i; j++) {
        const mcp_fed_backend_t *o = &APR_ARRAY_IDX(fed->backends, j,
                                                    mcp_fed_backend_t);

        if (o->prefix && (overlap(o->prefix, b->prefix)
                          || overlap(fed->uri_prefix[j], fed->uri_prefix[i]))) {
            return fail(perr, p, MCP_EINVALID, "backends %s (prefix '%s') "
                        "and %s (prefix '%s'): one prefix begins the other, "
                        "so their names could not be told apart", o->name,
                        o->prefix, b->name, b->prefix);
        }
    }
    return APR_SUCCESS;
}

static apr_status_t copy_rules(mcp_fed_backend_t *b, apr_pool_t *p,
                               const char **perr)
{
    apr_array_header_t *rules;
    int i;

    if (!b->rules) {
        return APR_SUCCESS;
    }
    rules = apr_array_copy(p, b->rules);
    for (i = 0; i < rules->nelts; i++) {
        mcp_fed_rule_t *r = &APR_ARRAY_IDX(rules, i, mcp_fed_rule_t);

        if (!r->pattern || !*r->pattern || !(r->kinds & 0x07)) {
            return fail(perr, p, MCP_EINVALID, "backend %s: scope rule %d "
                        "has no pattern or no kind", b->name, i + 1);
        }
        r->pattern = apr_pstrdup(p, r->pattern);
        r->scopes = mcp_scope_union(p, r->scopes, NULL);
    }
    b->rules = rules;
    return APR_SUCCESS;
}

apr_status_t mcp_fed_create(mcp_fed_t **pfed, apr_pool_t *p,
                            const apr_array_header_t *backends,
                            const mcp_fed_options_t *opts,
                            const char **perr)
{
    mcp_fed_t *fed;
    apr_status_t rv;
    int i, j;

    *pfed = NULL;
    if (!opts || !opts->cursor_key || opts->cursor_key_len < MCP_FED_MIN_KEY) {
        return fail(perr, p, MCP_EINVALID, "the cursor key must have at "
                    "least %d bytes", MCP_FED_MIN_KEY);
    }
    fed = apr_pcalloc(p, sizeof(*fed));
    fed->pool = p;
    fed->backends = apr_array_copy(p, backends);
    fed->uri_prefix = apr_pcalloc(p, sizeof(char *)
                                     * (backends->nelts ? backends->nelts : 1));
    fed->key = apr_pmemdup(p, opts->cursor_key, opts->cursor_key_len);
    fed->keylen = opts->cursor_key_len;
    fed->max_items = opts->max_items ? opts->max_items
                                     : MCP_FED_DEFAULT_MAX_ITEMS;
    fed->sole_unprefixed = -1;
    for (i = 0; i < fed->backends->nelts; i++) {
        mcp_fed_backend_t *b = &APR_ARRAY_IDX(fed->backends, i,
                                              mcp_fed_backend_t);

        if (!is_backend_name(b->name)) {
            return fail(perr, p, MCP_EINVALID, "backend %d: name '%s' must be "
                        "[A-Za-z0-9_-]+", i + 1, esc(p, b->name));
        }
        b->name = apr_pstrdup(p, b->name);
        for (j = 0; j < i; j++) {
            if (!strcmp(APR_ARRAY_IDX(fed->backends, j,
                                      mcp_fed_backend_t).name, b->name)) {
                return fail(perr, p, MCP_EINVALID, "backend %s is declared "
                            "twice", b->name);
            }
        }
        b->scopes = mcp_scope_union(p, b->scopes, NULL);
        if ((rv = copy_rules(b, p, perr)) != APR_SUCCESS) {
            return rv;
        }
        if (!b->prefix) {
            fed->unprefixed++;
            fed->sole_unprefixed = i;
            continue;
        }
        b->prefix = apr_pstrdup(p, b->prefix);
        if ((rv = check_prefix(fed, i, perr)) != APR_SUCCESS) {
            return rv;
        }
    }
    if (fed->unprefixed != 1) {
        fed->sole_unprefixed = -1;
    }
    *pfed = fed;
    return APR_SUCCESS;
}

int mcp_fed_count(const mcp_fed_t *fed)
{
    return fed->backends->nelts;
}

const mcp_fed_backend_t *mcp_fed_backend(const mcp_fed_t *fed, int i)
{
    if (i < 0 || i >= fed->backends->nelts) {
        return NULL;
    }
    return &APR_ARRAY_IDX(fed->backends, i, mcp_fed_backend_t);
}

static int rule_bit(mcp_fed_kind_e kind)
{
    switch (kind) {
    case MCP_FED_TOOLS:   return MCP_FED_RULE_TOOLS;
    case MCP_FED_PROMPTS: return MCP_FED_RULE_PROMPTS;
    default:              return MCP_FED_RULE_RESOURCES;
    }
}

static int is_uri_kind(mcp_fed_kind_e kind)
{
    return kind == MCP_FED_RESOURCES || kind == MCP_FED_TEMPLATES;
}

apr_array_header_t *mcp_fed_needed(apr_pool_t *p, const mcp_fed_t *fed,
                                   int i, mcp_fed_kind_e kind,
                                   const char *original)
{
    const mcp_fed_backend_t *b = mcp_fed_backend(fed, i);
    apr_array_header_t *need = mcp_scope_set_make(p);
    int r;

    if (!b) {
        return need;
    }
    need = mcp_scope_union(p, b->scopes, NULL);
    for (r = 0; b->rules && r < b->rules->nelts; r++) {
        const mcp_fed_rule_t *rule = &APR_ARRAY_IDX(b->rules, r,
                                                    mcp_fed_rule_t);

        if ((rule->kinds & rule_bit(kind))
            && mcp_scope_glob_match(rule->pattern, original)) {
            need = mcp_scope_union(p, need, rule->scopes);
        }
    }
    return need;
}

apr_status_t mcp_fed_to_gateway(const char **pout, apr_pool_t *p,
                                const mcp_fed_t *fed, int i,
                                mcp_fed_kind_e kind, const char *original,
                                const char **perr)
{
    const mcp_fed_backend_t *b = mcp_fed_backend(fed, i);
    const char *prefix, *gw;
    apr_size_t len;

    *pout = NULL;
    if (!b || !original || !*original) {
        return fail(perr, p, MCP_EINVALID, "backend %s: empty name",
                    b ? b->name : "(none)");
    }
    prefix = is_uri_kind(kind) ? fed->uri_prefix[i] : b->prefix;
    gw = prefix ? apr_pstrcat(p, prefix, original, NULL) : original;
    len = strlen(gw);
    if (kind == MCP_FED_TOOLS && len > MCP_FED_MAX_NAME) {
        return fail(perr, p, MCP_ETOOLARGE, "backend %s: tool '%s' would be "
                    "'%s', %" APR_SIZE_T_FMT " characters, more than %d",
                    b->name, esc(p, original), esc(p, gw), len,
                    MCP_FED_MAX_NAME);
    }
    if (kind == MCP_FED_TOOLS && !mcp_fed_name_valid(gw)) {
        return fail(perr, p, MCP_EINVALID, "backend %s: tool name '%s' is "
                    "not 1-%d characters of [A-Za-z0-9_.-]", b->name,
                    esc(p, gw), MCP_FED_MAX_NAME);
    }
    if (is_uri_kind(kind) && len > MCP_FED_MAX_URI) {
        return fail(perr, p, MCP_ETOOLARGE, "backend %s: URI '%s' is longer "
                    "than %d bytes", b->name, esc(p, gw), MCP_FED_MAX_URI);
    }
    *pout = gw;
    return APR_SUCCESS;
}

mcp_fed_catalog_t *mcp_fed_catalog_make(apr_pool_t *p)
{
    mcp_fed_catalog_t *cat = apr_pcalloc(p, sizeof(*cat));
    int k;

    cat->pool = p;
    for (k = 0; k < MCP_FED_NKINDS; k++) {
        cat->owner[k] = apr_hash_make(p);
    }
    return cat;
}

/* Resources and templates share one URI space. */
static apr_hash_t *space(const mcp_fed_catalog_t *cat, mcp_fed_kind_e kind)
{
    return cat->owner[kind == MCP_FED_TEMPLATES ? MCP_FED_RESOURCES : kind];
}

apr_status_t mcp_fed_catalog_add(mcp_fed_catalog_t *cat, mcp_fed_kind_e kind,
                                 const char *gwname, int i, int *pother)
{
    apr_hash_t *h = space(cat, kind);
    int *owner = apr_hash_get(h, gwname, APR_HASH_KEY_STRING);

    if (!owner) {
        owner = apr_palloc(cat->pool, sizeof(*owner) * 2);
        owner[0] = owner[1] = i;
        apr_hash_set(h, apr_pstrdup(cat->pool, gwname), APR_HASH_KEY_STRING,
                     owner);
        return APR_SUCCESS;
    }
    if (owner[0] == i && owner[1] == i) {
        return APR_SUCCESS;
    }
    /* owner[0] stays the first owner for messages; owner[1] = -1 marks the
     * conflict for good. */
    if (pother) {
        *pother = owner[0] == i ? owner[1] : owner[0];
    }
    owner[1] = -1;
    return MCP_ECONFLICT;
}

/* The prefixed backend whose prefix begins @a gwname, or -1. */
static int prefix_owner(const mcp_fed_t *fed, mcp_fed_kind_e kind,
                        const char *gwname)
{
    int i;

    for (i = 0; i < fed->backends->nelts; i++) {
        const char *prefix = is_uri_kind(kind) ? fed->uri_prefix[i]
            : APR_ARRAY_IDX(fed->backends, i, mcp_fed_backend_t).prefix;

        if (prefix && starts_with(gwname, prefix)
            && gwname[strlen(prefix)]) {
            return i;
        }
    }
    return -1;
}

static apr_status_t unprefixed_owner(int *pi, apr_pool_t *p,
                                     const mcp_fed_t *fed,
                                     mcp_fed_kind_e kind, const char *gwname,
                                     const mcp_fed_catalog_t *cat,
                                     const char **perr)
{
    const int *owner = cat ? apr_hash_get(space(cat, kind), gwname,
                                          APR_HASH_KEY_STRING) : NULL;

    if (owner && owner[1] < 0) {
        return fail(perr, p, MCP_ECONFLICT, "'%s' is published by backend "
                    "%s and another backend without a prefix", esc(p, gwname),
                    mcp_fed_backend(fed, owner[0])->name);
    }
    if (owner && !mcp_fed_backend(fed, owner[0])->prefix) {
        *pi = owner[0];
        return APR_SUCCESS;
    }
    if (fed->sole_unprefixed >= 0) {
        *pi = fed->sole_unprefixed;
        return APR_SUCCESS;
    }
    return fail(perr, p, MCP_ENOTFOUND, "no backend has '%s'",
                esc(p, gwname));
}

apr_status_t mcp_fed_from_gateway(int *pi, const char **poriginal,
                                  apr_pool_t *p, const mcp_fed_t *fed,
                                  mcp_fed_kind_e kind, const char *gwname,
                                  const mcp_fed_catalog_t *cat,
                                  const char **perr)
{
    apr_status_t rv;
    int i;

    *pi = -1;
    *poriginal = NULL;
    if (!gwname || !*gwname) {
        return fail(perr, p, MCP_ENOTFOUND, "empty name");
    }
    if (!is_uri_kind(kind) && mcp_fed_is_builtin(gwname)) {
        return fail(perr, p, MCP_ENOTFOUND, "'%s' is reserved for the "
                    "gateway's own %s", esc(p, gwname),
                    kind == MCP_FED_TOOLS ? "tools" : "prompts");
    }
    i = prefix_owner(fed, kind, gwname);
    if (i >= 0) {
        *pi = i;
        *poriginal = gwname + strlen(is_uri_kind(kind) ? fed->uri_prefix[i]
                                     : mcp_fed_backend(fed, i)->prefix);
        return APR_SUCCESS;
    }
    rv = unprefixed_owner(&i, p, fed, kind, gwname, cat, perr);
    if (rv == APR_SUCCESS) {
        *pi = i;
        *poriginal = gwname;
    }
    return rv;
}
