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

#include <errno.h>
#include <string.h>

#include <apr_lib.h>
#include <apr_strings.h>

#include "mcp/mcp_b64.h"
#include "mcp/mcp_crypto.h"
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

/* Who publishes one gateway name: a conflict once second >= 0. */
typedef struct {
    int first;
    int second;
} owner_t;

struct mcp_fed_catalog_t {
    apr_pool_t *pool;
    apr_hash_t *owner[MCP_FED_NKINDS];  /* gateway name -> owner_t */
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
    if (!b || !original || !*original
        || (unsigned)kind >= MCP_FED_NKINDS) {
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
    apr_hash_t *h;
    owner_t *owner;

    if ((unsigned)kind >= MCP_FED_NKINDS || i < 0 || !gwname) {
        return APR_EINVAL;
    }
    h = space(cat, kind);
    owner = apr_hash_get(h, gwname, APR_HASH_KEY_STRING);
    if (!owner) {
        owner = apr_palloc(cat->pool, sizeof(*owner));
        owner->first = i;
        owner->second = -1;
        apr_hash_set(h, apr_pstrdup(cat->pool, gwname), APR_HASH_KEY_STRING,
                     owner);
        return APR_SUCCESS;
    }
    if (owner->first == i && owner->second < 0) {
        return APR_SUCCESS;
    }
    /* A conflict stays one, whoever publishes the name again. */
    if (owner->second < 0) {
        owner->second = i;
    }
    if (pother) {
        *pother = owner->first == i ? owner->second : owner->first;
    }
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
    const owner_t *owner = cat ? apr_hash_get(space(cat, kind), gwname,
                                              APR_HASH_KEY_STRING) : NULL;

    if (owner && owner->second >= 0) {
        return fail(perr, p, MCP_ECONFLICT, "'%s' is published by backends "
                    "%s and %s", esc(p, gwname),
                    mcp_fed_backend(fed, owner->first)->name,
                    mcp_fed_backend(fed, owner->second)->name);
    }
    if (owner && !mcp_fed_backend(fed, owner->first)->prefix) {
        *pi = owner->first;
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
    if (!gwname || !*gwname || (unsigned)kind >= MCP_FED_NKINDS) {
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

/* ---------------------------------------------------------------------
 * Merged lists and gateway cursors
 * ------------------------------------------------------------------- */

static const struct {
    const char *method;
    const char *member;   /* the item array of the result */
    const char *key;      /* the item member that names it */
    const char *what;     /* for messages */
} kinds[MCP_FED_NKINDS] = {
    { "tools/list", "tools", "name", "tool" },
    { "prompts/list", "prompts", "name", "prompt" },
    { "resources/list", "resources", "uri", "resource" },
    { "resources/templates/list", "resourceTemplates", "uriTemplate",
      "resource template" }
};

#define CURSOR_MAC_LABEL "mcp-fed-cursor:"
/* base64url of a 32-byte MAC, unpadded */
#define CURSOR_MAC_CHARS 43

const char *mcp_fed_list_method(mcp_fed_kind_e kind)
{
    return (unsigned)kind < MCP_FED_NKINDS ? kinds[kind].method : NULL;
}

int mcp_fed_kind_of_method(const char *method)
{
    int k;

    for (k = 0; method && k < MCP_FED_NKINDS; k++) {
        if (!strcmp(method, kinds[k].method)) {
            return k;
        }
    }
    return -1;
}

static int backend_index(const mcp_fed_t *fed, const char *name)
{
    int i;

    for (i = 0; name && i < fed->backends->nelts; i++) {
        if (!strcmp(APR_ARRAY_IDX(fed->backends, i, mcp_fed_backend_t).name,
                    name)) {
            return i;
        }
    }
    return -1;
}

static int visible(const mcp_fed_t *fed, int i,
                   const apr_array_header_t *granted)
{
    return mcp_scope_covers_all(granted, mcp_fed_backend(fed, i)->scopes);
}

/* The MAC covers the binding too (a NUL ends it: no binding can pass for
 * another with part of the payload). */
static void cursor_mac(unsigned char mac[MCP_SHA256_LEN], apr_pool_t *p,
                       const mcp_fed_t *fed, const char *binding,
                       const char *payload, apr_size_t len)
{
    apr_size_t blen = binding ? strlen(binding) : 0;
    apr_size_t llen = sizeof(CURSOR_MAC_LABEL) - 1;
    char *msg = apr_palloc(p, llen + blen + 1 + len);

    memcpy(msg, CURSOR_MAC_LABEL, llen);
    if (blen) {
        memcpy(msg + llen, binding, blen);
    }
    msg[llen + blen] = '\0';
    memcpy(msg + llen + blen + 1, payload, len);
    mcp_crypto_hmac_sha256(mac, fed->key, fed->keylen, msg,
                           llen + blen + 1 + len);
}

apr_status_t mcp_fed_cursor_encode(const char **pcursor, apr_pool_t *p,
                                   const mcp_fed_t *fed, mcp_fed_kind_e kind,
                                   const apr_array_header_t *pending,
                                   const char *binding, const char **perr)
{
    mcp_json_t *obj = mcp_json_object(p), *list = mcp_json_array(p);
    unsigned char mac[MCP_SHA256_LEN];
    const char *json, *payload, *cursor;
    apr_size_t len;
    int i;

    *pcursor = NULL;
    if (!pending || !pending->nelts || (unsigned)kind >= MCP_FED_NKINDS) {
        return fail(perr, p, MCP_EINVALID, "nothing to page through");
    }
    for (i = 0; i < pending->nelts; i++) {
        const mcp_fed_pos_t *pos = &APR_ARRAY_IDX(pending, i, mcp_fed_pos_t);
        const mcp_fed_backend_t *b = mcp_fed_backend(fed, pos->backend);
        mcp_json_t *e = mcp_json_array(p);

        if (!b) {
            return fail(perr, p, MCP_EINVALID, "no backend %d", pos->backend);
        }
        mcp_json_append_str(e, b->name);
        mcp_json_append(e, mcp_json_string(p, pos->cursor));
        mcp_json_append(list, e);
    }
    mcp_json_set_str(obj, "m", kinds[kind].method);
    mcp_json_set(obj, "p", list);
    json = mcp_json_dump(p, obj, MCP_JSON_FMT_COMPACT, &len);
    payload = mcp_b64url_encode(p, json, len);
    cursor_mac(mac, p, fed, binding, payload, strlen(payload));
    cursor = apr_pstrcat(p, payload, ".",
                         mcp_b64url_encode(p, mac, sizeof(mac)), NULL);
    if (strlen(cursor) > MCP_FED_MAX_CURSOR) {
        return fail(perr, p, MCP_ETOOLARGE, "the next cursor would be %"
                    APR_SIZE_T_FMT " bytes, more than %d", strlen(cursor),
                    MCP_FED_MAX_CURSOR);
    }
    *pcursor = cursor;
    return APR_SUCCESS;
}

/* Check the MAC of @a cursor; on success *ppayload is the decoded JSON. */
static apr_status_t cursor_verify(mcp_json_t **ppayload, apr_pool_t *p,
                                  const mcp_fed_t *fed, const char *cursor,
                                  const char *binding, const char **perr)
{
    unsigned char want[MCP_SHA256_LEN], *got, *json;
    apr_size_t len, gotlen, jsonlen;
    mcp_json_limits_t lim;
    const char *dot;

    len = cursor ? strlen(cursor) : 0;
    dot = cursor ? strrchr(cursor, '.') : NULL;
    if (!dot || len > MCP_FED_MAX_CURSOR
        || strlen(dot + 1) != CURSOR_MAC_CHARS
        || mcp_b64url_decode(&got, &gotlen, p, dot + 1, CURSOR_MAC_CHARS)
           != APR_SUCCESS || gotlen != sizeof(want)) {
        return fail(perr, p, MCP_EVERIFY, "not a cursor of this gateway");
    }
    cursor_mac(want, p, fed, binding, cursor, (apr_size_t)(dot - cursor));
    if (!mcp_crypto_equal(want, got, sizeof(want))) {
        return fail(perr, p, MCP_EVERIFY, "the cursor does not verify "
                    "(forged, or handed to another session)");
    }
    memset(&lim, 0, sizeof(lim));
    lim.max_bytes = MCP_FED_MAX_CURSOR;
    lim.max_depth = 4;
    if (mcp_b64url_decode(&json, &jsonlen, p, cursor,
                          (apr_size_t)(dot - cursor)) != APR_SUCCESS
        || mcp_json_parse(ppayload, p, (const char *)json, jsonlen, &lim,
                          NULL) != APR_SUCCESS) {
        return fail(perr, p, MCP_EVERIFY, "the cursor is not readable");
    }
    return APR_SUCCESS;
}

/* One [name, cursor|null] entry of a verified cursor. */
static apr_status_t cursor_entry(mcp_fed_pos_t *pos, apr_pool_t *p,
                                 const mcp_fed_t *fed, const mcp_json_t *e,
                                 const char **perr)
{
    mcp_json_t *name = mcp_json_array_get(p, e, 0);
    mcp_json_t *c = mcp_json_array_get(p, e, 1);

    if (!mcp_json_is_array(e) || mcp_json_size(e) != 2
        || !mcp_json_is_string(name)
        || !(mcp_json_is_string(c) || mcp_json_is_null(c))) {
        return fail(perr, p, MCP_EVERIFY, "the cursor is not readable");
    }
    pos->backend = backend_index(fed, mcp_json_str(name));
    if (pos->backend < 0) {
        return fail(perr, p, MCP_EINVALID, "the cursor names backend '%s', "
                    "which this endpoint does not have (any more)",
                    esc(p, mcp_json_str(name)));
    }
    pos->cursor = mcp_json_is_string(c) ? apr_pstrdup(p, mcp_json_str(c))
                                        : NULL;
    return APR_SUCCESS;
}

apr_status_t mcp_fed_cursor_decode(apr_array_header_t **ppending,
                                   apr_pool_t *p, const mcp_fed_t *fed,
                                   mcp_fed_kind_e kind, const char *cursor,
                                   const char *binding, const char **perr)
{
    mcp_json_t *payload = NULL, *list;
    const char *method;
    apr_array_header_t *pending;
    apr_status_t rv;
    apr_size_t i;

    *ppending = NULL;
    if ((rv = cursor_verify(&payload, p, fed, cursor, binding, perr))
        != APR_SUCCESS) {
        return rv;
    }
    method = mcp_json_get_str(p, payload, "m");
    list = mcp_json_get(p, payload, "p");
    if (!method || !mcp_json_is_array(list) || !mcp_json_size(list)) {
        return fail(perr, p, MCP_EVERIFY, "the cursor is not readable");
    }
    if ((unsigned)kind >= MCP_FED_NKINDS
        || strcmp(method, kinds[kind].method)) {
        return fail(perr, p, MCP_EINVALID, "the cursor belongs to %s, not %s",
                    esc(p, method), mcp_fed_list_method(kind));
    }
    pending = apr_array_make(p, (int)mcp_json_size(list),
                             sizeof(mcp_fed_pos_t));
    for (i = 0; i < mcp_json_size(list); i++) {
        rv = cursor_entry(apr_array_push(pending), p, fed,
                          mcp_json_array_get(p, list, i), perr);
        if (rv != APR_SUCCESS) {
            return rv;
        }
    }
    *ppending = pending;
    return APR_SUCCESS;
}

apr_status_t mcp_fed_list_plan(mcp_fed_plan_t **pplan, apr_pool_t *p,
                               const mcp_fed_t *fed, mcp_fed_kind_e kind,
                               const char *cursor, const char *binding,
                               const apr_array_header_t *granted,
                               const char **perr)
{
    mcp_fed_plan_t *plan;
    apr_array_header_t *pending = NULL;
    apr_status_t rv;
    int i;

    *pplan = NULL;
    if ((unsigned)kind >= MCP_FED_NKINDS) {
        return fail(perr, p, MCP_EINVALID, "not a list method");
    }
    plan = apr_pcalloc(p, sizeof(*plan));
    plan->kind = kind;
    plan->binding = binding ? apr_pstrdup(p, binding) : NULL;
    plan->fetch = apr_array_make(p, 4, sizeof(mcp_fed_pos_t));
    plan->rest = apr_array_make(p, 4, sizeof(mcp_fed_pos_t));
    if (!cursor) {
        for (i = 0; i < fed->backends->nelts; i++) {
            if (visible(fed, i, granted)) {
                mcp_fed_pos_t *pos = apr_array_push(plan->fetch);

                pos->backend = i;
                pos->cursor = NULL;
            }
        }
        *pplan = plan;
        return APR_SUCCESS;
    }
    rv = mcp_fed_cursor_decode(&pending, p, fed, kind, cursor, binding, perr);
    if (rv != APR_SUCCESS) {
        return rv;
    }
    for (i = 0; i < pending->nelts; i++) {
        const mcp_fed_pos_t *pos = &APR_ARRAY_IDX(pending, i, mcp_fed_pos_t);

        if (visible(fed, pos->backend, granted)) {
            *(mcp_fed_pos_t *)apr_array_push(plan->fetch->nelts
                                             ? plan->rest : plan->fetch) = *pos;
        }
    }
    *pplan = plan;
    return APR_SUCCESS;
}

/* One item on its way into a merged list. */
typedef struct {
    const char *gw;
    int backend;
    mcp_json_t *item;
} merge_entry_t;

typedef struct {
    apr_pool_t *p;
    const mcp_fed_t *fed;
    mcp_fed_kind_e kind;
    const apr_array_header_t *granted;
    mcp_fed_catalog_t *cat;
    apr_array_header_t *entries;    /* merge_entry_t */
    apr_array_header_t *problems;   /* mcp_fed_problem_t */
    apr_array_header_t *pending;    /* mcp_fed_pos_t */
    apr_size_t count;               /* items of all backends so far */
} merge_t;

static void report(apr_array_header_t *problems, const mcp_fed_t *fed, int i,
                   apr_status_t status, const char *msg)
{
    mcp_fed_problem_t *pr = apr_array_push(problems);

    pr->backend = mcp_fed_backend(fed, i)->name;
    pr->status = status;
    pr->message = msg;
}

static void problem(merge_t *m, int i, apr_status_t status, const char *msg)
{
    report(m->problems, m->fed, i, status, msg);
}

static int catalog_conflict(const mcp_fed_catalog_t *cat, mcp_fed_kind_e kind,
                            const char *gw)
{
    const owner_t *owner = apr_hash_get(space(cat, kind), gw,
                                        APR_HASH_KEY_STRING);

    return owner && owner->second >= 0;
}

/* An unprefixed backend's name that a prefix would take from it: the
 * message, or NULL when it is safe. */
static const char *shadowed(merge_t *m, int i, const char *gw)
{
    const char *what = kinds[m->kind].what;
    int o;

    if (!is_uri_kind(m->kind) && mcp_fed_is_builtin(gw)) {
        return apr_psprintf(m->p, "backend %s: %s '%s' uses the prefix "
                            "reserved for the gateway; left out",
                            mcp_fed_backend(m->fed, i)->name, what,
                            esc(m->p, gw));
    }
    o = prefix_owner(m->fed, m->kind, gw);
    if (o < 0) {
        return NULL;
    }
    return apr_psprintf(m->p, "backend %s: %s '%s' would be taken for one of "
                        "backend %s (prefix '%s'); left out",
                        mcp_fed_backend(m->fed, i)->name, what, esc(m->p, gw),
                        mcp_fed_backend(m->fed, o)->name,
                        mcp_fed_backend(m->fed, o)->prefix);
}

/* Check one item; NULL when taken (or filtered by scopes), else why not. */
static const char *merge_item(merge_t *m, int i, const mcp_json_t *item)
{
    const mcp_fed_backend_t *b = mcp_fed_backend(m->fed, i);
    const char *key = kinds[m->kind].key, *orig, *gw, *err = NULL;
    merge_entry_t *e;
    int other = -1;

    orig = mcp_json_get_str(m->p, item, key);
    if (!mcp_json_is_object(item) || !orig) {
        return apr_psprintf(m->p, "backend %s: a %s that is %s without a "
                            "string '%s'", b->name, kinds[m->kind].what,
                            mcp_json_is_object(item) ? "an object"
                            : mcp_json_type_name(item), key);
    }
    if (mcp_fed_to_gateway(&gw, m->p, m->fed, i, m->kind, orig, &err)
        != APR_SUCCESS) {
        return err;
    }
    if (!b->prefix) {
        if ((err = shadowed(m, i, gw)) != NULL) {
            problem(m, i, MCP_ECONFLICT, err);
            return NULL;
        }
        if (mcp_fed_catalog_add(m->cat, m->kind, gw, i, &other)
            == MCP_ECONFLICT) {
            problem(m, i, MCP_ECONFLICT, apr_psprintf(m->p, "%s '%s' is "
                    "published by backends %s and %s; left out from both",
                    kinds[m->kind].what, esc(m->p, gw),
                    mcp_fed_backend(m->fed, other)->name, b->name));
        }
    }
    if (!mcp_scope_covers_all(m->granted, mcp_fed_needed(m->p, m->fed, i,
                                                         m->kind, orig))) {
        return NULL;
    }
    e = apr_array_push(m->entries);
    e->gw = gw;
    e->backend = i;
    e->item = mcp_json_copy(m->p, item);
    mcp_json_set_str(e->item, key, gw);
    return NULL;
}

/* The backend's nextCursor kept pending, when it gave a usable one. */
static void merge_next(merge_t *m, int i, const mcp_json_t *result)
{
    mcp_json_t *next = mcp_json_get(m->p, result, "nextCursor");
    mcp_fed_pos_t *pos;

    if (!next || mcp_json_is_null(next)) {
        return;
    }
    if (!mcp_json_is_string(next) || !mcp_json_strlen(next)
        || mcp_json_strlen(next) > MCP_FED_MAX_BACKEND_CURSOR) {
        problem(m, i, mcp_json_is_string(next) ? MCP_ETOOLARGE : MCP_EINVALID,
                apr_psprintf(m->p, "backend %s: nextCursor is not a string "
                             "of 1-%d bytes; its later pages are left out",
                             mcp_fed_backend(m->fed, i)->name,
                             MCP_FED_MAX_BACKEND_CURSOR));
        return;
    }
    pos = apr_array_push(m->pending);
    pos->backend = i;
    pos->cursor = mcp_json_str(next);
}

static void merge_backend(merge_t *m, int i, const mcp_json_t *result,
                          const char *error)
{
    const char *name = mcp_fed_backend(m->fed, i)->name, *member, *first = NULL;
    mcp_json_t *items;
    apr_size_t k, n, bad = 0;

    if (!result) {
        if (error) {
            problem(m, i, MCP_EPROTO, apr_psprintf(m->p, "backend %s failed: "
                                                   "%s", name, error));
        }
        return;
    }
    member = kinds[m->kind].member;
    items = mcp_json_get(m->p, result, member);
    if (!mcp_json_is_array(items)) {
        problem(m, i, MCP_EINVALID, apr_psprintf(m->p, "backend %s: the "
                "result is %s without an array '%s'", name,
                mcp_json_is_object(result) ? "an object"
                : mcp_json_type_name(result), member));
        return;
    }
    n = mcp_json_size(items);
    if (n > m->fed->max_items - m->count) {
        problem(m, i, MCP_ETOOLARGE, apr_psprintf(m->p, "backend %s: %"
                APR_SIZE_T_FMT " %ss would take the list beyond %"
                APR_SIZE_T_FMT " items; all left out", name, n,
                kinds[m->kind].what, m->fed->max_items));
        return;
    }
    m->count += n;
    for (k = 0; k < n; k++) {
        const char *why = merge_item(m, i, mcp_json_array_get(m->p, items, k));

        if (why && !bad++) {
            first = why;
        }
    }
    if (bad) {
        problem(m, i, MCP_EINVALID, apr_psprintf(m->p, "%" APR_SIZE_T_FMT
                " %s(s) left out, the first: %s", bad, kinds[m->kind].what,
                first));
    }
    merge_next(m, i, result);
}

apr_status_t mcp_fed_list_merge(mcp_json_t **presult,
                                apr_array_header_t **pproblems,
                                apr_pool_t *p, const mcp_fed_t *fed,
                                const mcp_fed_plan_t *plan,
                                const mcp_json_t *const *results,
                                const char *const *errors,
                                const apr_array_header_t *granted,
                                mcp_fed_catalog_t *cat, const char **perr)
{
    merge_t m;
    mcp_json_t *out, *items;
    const char *cursor;
    apr_status_t rv;
    int j;

    *presult = NULL;
    memset(&m, 0, sizeof(m));
    m.p = p;
    m.fed = fed;
    m.kind = plan->kind;
    m.granted = granted;
    m.cat = cat ? cat : mcp_fed_catalog_make(p);
    m.entries = apr_array_make(p, 16, sizeof(merge_entry_t));
    m.problems = apr_array_make(p, 2, sizeof(mcp_fed_problem_t));
    m.pending = apr_array_make(p, 4, sizeof(mcp_fed_pos_t));
    *pproblems = m.problems;
    for (j = 0; j < plan->fetch->nelts; j++) {
        merge_backend(&m, APR_ARRAY_IDX(plan->fetch, j, mcp_fed_pos_t).backend,
                      results ? results[j] : NULL, errors ? errors[j] : NULL);
    }
    out = mcp_json_object(p);
    items = mcp_json_array(p);
    for (j = 0; j < m.entries->nelts; j++) {
        const merge_entry_t *e = &APR_ARRAY_IDX(m.entries, j, merge_entry_t);

        if (mcp_fed_backend(fed, e->backend)->prefix
            || !catalog_conflict(m.cat, m.kind, e->gw)) {
            mcp_json_append(items, e->item);
        }
    }
    mcp_json_set(out, kinds[m.kind].member, items);
    apr_array_cat(m.pending, plan->rest);
    if (m.pending->nelts) {
        rv = mcp_fed_cursor_encode(&cursor, p, fed, m.kind, m.pending,
                                   plan->binding, perr);
        if (rv != APR_SUCCESS) {
            return rv;
        }
        mcp_json_set_str(out, "nextCursor", cursor);
    }
    *presult = out;
    return APR_SUCCESS;
}

/* ---------------------------------------------------------------------
 * Routing one request to its backend
 * ------------------------------------------------------------------- */

/* Where the name sits in a routed method's params. */
typedef struct {
    mcp_json_t *holder;     /* params, or params.ref */
    const char *member;     /* "name" or "uri" */
    mcp_fed_kind_e kind;
} route_key_t;

static apr_status_t completion_key(route_key_t *rk, apr_pool_t *p,
                                   mcp_json_t *params, const char **perr)
{
    mcp_json_t *ref = mcp_json_get(p, params, "ref");
    const char *type = mcp_json_get_str(p, ref, "type");

    if (type && !strcmp(type, "ref/prompt")) {
        rk->member = "name";
        rk->kind = MCP_FED_PROMPTS;
    }
    else if (type && !strcmp(type, "ref/resource")) {
        rk->member = "uri";
        rk->kind = MCP_FED_TEMPLATES;
    }
    else {
        return fail(perr, p, MCP_EINVALID, "completion/complete needs a ref "
                    "of type ref/prompt or ref/resource");
    }
    rk->holder = ref;
    return APR_SUCCESS;
}

static apr_status_t route_key(route_key_t *rk, apr_pool_t *p,
                              const char *method, mcp_json_t *params,
                              const char **perr)
{
    if (!method) {
        return fail(perr, p, APR_ENOTIMPL, "no method");
    }
    rk->holder = params;
    if (!strcmp(method, "tools/call") || !strcmp(method, "prompts/get")) {
        rk->member = "name";
        rk->kind = method[0] == 't' ? MCP_FED_TOOLS : MCP_FED_PROMPTS;
    }
    else if (!strcmp(method, "resources/read")
             || !strcmp(method, "resources/subscribe")
             || !strcmp(method, "resources/unsubscribe")) {
        rk->member = "uri";
        rk->kind = MCP_FED_RESOURCES;
    }
    else if (!strcmp(method, "completion/complete")) {
        if (!mcp_json_is_object(params)) {
            return fail(perr, p, MCP_EINVALID, "%s needs params", method);
        }
        return completion_key(rk, p, params, perr);
    }
    else {
        return fail(perr, p, APR_ENOTIMPL, "%s is not routed by name",
                    esc(p, method));
    }
    return APR_SUCCESS;
}

apr_status_t mcp_fed_route(mcp_fed_route_t **proute, apr_pool_t *p,
                           const mcp_fed_t *fed, const char *method,
                           const mcp_json_t *params,
                           const apr_array_header_t *granted,
                           const mcp_fed_catalog_t *cat, const char **perr)
{
    mcp_fed_route_t *r;
    mcp_json_t *copy = params ? mcp_json_copy(p, params) : NULL;
    route_key_t rk;
    apr_status_t rv;

    *proute = NULL;
    memset(&rk, 0, sizeof(rk));
    if ((rv = route_key(&rk, p, method, copy, perr)) != APR_SUCCESS) {
        return rv;
    }
    r = apr_pcalloc(p, sizeof(*r));
    r->kind = rk.kind;
    r->gwname = mcp_json_get_str(p, rk.holder, rk.member);
    if (!r->gwname) {
        return fail(perr, p, MCP_EINVALID, "%s needs a string '%s'", method,
                    rk.member);
    }
    rv = mcp_fed_from_gateway(&r->backend, &r->original, p, fed, rk.kind,
                              r->gwname, cat, perr);
    if (rv != APR_SUCCESS) {
        return rv;
    }
    r->needed = mcp_fed_needed(p, fed, r->backend, rk.kind, r->original);
    r->missing = mcp_scope_minus(p, r->needed, granted);
    r->challenge = mcp_scope_union(p, granted, r->needed);
    *proute = r;
    if (r->missing->nelts) {
        return fail(perr, p, APR_EACCES, "%s '%s' of backend %s needs scope "
                    "%s", kinds[rk.kind].what, esc(p, r->gwname),
                    mcp_fed_backend(fed, r->backend)->name,
                    mcp_scope_join(p, r->missing));
    }
    mcp_json_set_str(rk.holder, rk.member, r->original);
    r->params = copy;
    return APR_SUCCESS;
}

/* ---------------------------------------------------------------------
 * initialize: protocol version and merged capabilities
 * ------------------------------------------------------------------- */

static const char *const versions[] = {
    "2025-03-26", "2025-06-18", MCP_FED_LATEST_VERSION
};

int mcp_fed_version_supported(const char *version)
{
    apr_size_t i;

    for (i = 0; version && i < sizeof(versions) / sizeof(versions[0]); i++) {
        if (!strcmp(version, versions[i])) {
            return 1;
        }
    }
    return 0;
}

const char *mcp_fed_versions_text(apr_pool_t *p)
{
    const char *text = versions[0];
    apr_size_t i;

    for (i = 1; i < sizeof(versions) / sizeof(versions[0]); i++) {
        text = apr_pstrcat(p, text, ", ", versions[i], NULL);
    }
    return text;
}

const char *mcp_fed_negotiate_version(const char *requested)
{
    return mcp_fed_version_supported(requested) ? requested
                                                : MCP_FED_LATEST_VERSION;
}

/* The capabilities the gateway merges, and the flags of each it ORs. */
static const struct {
    const char *name;
    const char *flags[2];
} merged_caps[] = {
    { "tools", { "listChanged", NULL } },
    { "prompts", { "listChanged", NULL } },
    { "resources", { "subscribe", "listChanged" } },
    { "logging", { NULL, NULL } },
    { "completions", { NULL, NULL } }
};

typedef struct {
    apr_pool_t *p;
    const mcp_fed_t *fed;
    mcp_json_t *caps;
    apr_hash_t *exp_from;           /* key -> int * (first backend) */
    apr_array_header_t *problems;
} init_t;

static void init_problem(init_t *in, int i, apr_status_t status,
                         const char *msg)
{
    report(in->problems, in->fed, i, status, msg);
}

static void merge_cap(init_t *in, int i, int c, const mcp_json_t *have)
{
    const char *name = merged_caps[c].name;
    mcp_json_t *out = mcp_json_get(in->p, in->caps, name);
    int f;

    if (!mcp_json_is_object(have)) {
        init_problem(in, i, MCP_EINVALID, apr_psprintf(in->p, "backend %s: "
                     "capabilities.%s is %s, not an object; left out",
                     mcp_fed_backend(in->fed, i)->name, name,
                     mcp_json_type_name(have)));
        return;
    }
    if (!out) {
        out = mcp_json_object(in->p);
        mcp_json_set(in->caps, name, out);
    }
    for (f = 0; f < 2 && merged_caps[c].flags[f]; f++) {
        if (mcp_json_get_bool(have, merged_caps[c].flags[f], 0)) {
            mcp_json_set_bool(out, merged_caps[c].flags[f], 1);
        }
    }
}

static void merge_experimental(init_t *in, int i, const mcp_json_t *have)
{
    apr_array_header_t *keys;
    mcp_json_t *out;
    int k;

    if (!mcp_json_is_object(have)) {
        init_problem(in, i, MCP_EINVALID, apr_psprintf(in->p, "backend %s: "
                     "capabilities.experimental is not an object; left out",
                     mcp_fed_backend(in->fed, i)->name));
        return;
    }
    out = mcp_json_get(in->p, in->caps, "experimental");
    if (!out) {
        out = mcp_json_object(in->p);
        mcp_json_set(in->caps, "experimental", out);
    }
    keys = mcp_json_keys(in->p, have);
    for (k = 0; k < keys->nelts; k++) {
        const char *key = APR_ARRAY_IDX(keys, k, const char *);
        mcp_json_t *val = mcp_json_get(in->p, have, key);
        mcp_json_t *kept = mcp_json_get(in->p, out, key);
        int *from;

        if (!kept) {
            from = apr_palloc(in->p, sizeof(*from));
            *from = i;
            apr_hash_set(in->exp_from, key, APR_HASH_KEY_STRING, from);
            mcp_json_set(out, key, mcp_json_copy(in->p, val));
        }
        else if (!mcp_json_equal(kept, val)) {
            from = apr_hash_get(in->exp_from, key, APR_HASH_KEY_STRING);
            init_problem(in, i, MCP_ECONFLICT, apr_psprintf(in->p,
                         "capabilities.experimental.%s of backends %s and %s "
                         "differ; %s's kept", esc(in->p, key),
                         mcp_fed_backend(in->fed, *from)->name,
                         mcp_fed_backend(in->fed, i)->name,
                         mcp_fed_backend(in->fed, *from)->name));
        }
    }
}

/* Merge one backend's result; its instructions (or NULL) returned. */
static const char *init_backend(init_t *in, int i, const mcp_json_t *res)
{
    const char *name = mcp_fed_backend(in->fed, i)->name;
    mcp_json_t *caps, *have, *instr;
    apr_size_t c;

    if (!mcp_json_is_object(res)) {
        init_problem(in, i, MCP_EINVALID, apr_psprintf(in->p, "backend %s: "
                     "the initialize result is %s, not an object", name,
                     mcp_json_type_name(res)));
        return NULL;
    }
    caps = mcp_json_get(in->p, res, "capabilities");
    if (caps && !mcp_json_is_object(caps)) {
        init_problem(in, i, MCP_EINVALID, apr_psprintf(in->p, "backend %s: "
                     "capabilities is not an object", name));
        caps = NULL;
    }
    for (c = 0; caps && c < sizeof(merged_caps) / sizeof(merged_caps[0]); c++) {
        if ((have = mcp_json_get(in->p, caps, merged_caps[c].name)) != NULL) {
            merge_cap(in, i, (int)c, have);
        }
    }
    if (caps && (have = mcp_json_get(in->p, caps, "experimental")) != NULL) {
        merge_experimental(in, i, have);
    }
    instr = mcp_json_get(in->p, res, "instructions");
    if (instr && !mcp_json_is_string(instr)) {
        init_problem(in, i, MCP_EINVALID, apr_psprintf(in->p, "backend %s: "
                     "instructions is not a string; left out", name));
    }
    if (!mcp_json_is_string(instr) || !mcp_json_strlen(instr)) {
        return NULL;
    }
    return apr_pstrcat(in->p, name, ": ", mcp_json_str(instr), NULL);
}

apr_status_t mcp_fed_initialize_merge(mcp_json_t **presult,
                                      apr_array_header_t **pproblems,
                                      apr_pool_t *p, const mcp_fed_t *fed,
                                      const char *requested_version,
                                      const mcp_json_t *const *results,
                                      const mcp_json_t *server_info)
{
    mcp_json_t *out = mcp_json_object(p);
    const char *instructions = NULL, *one;
    init_t in;
    int i;

    memset(&in, 0, sizeof(in));
    in.p = p;
    in.fed = fed;
    in.caps = mcp_json_object(p);
    in.exp_from = apr_hash_make(p);
    in.problems = apr_array_make(p, 2, sizeof(mcp_fed_problem_t));
    for (i = 0; results && i < fed->backends->nelts; i++) {
        if (results[i] && (one = init_backend(&in, i, results[i])) != NULL) {
            instructions = instructions
                ? apr_pstrcat(p, instructions, "\n\n", one, NULL) : one;
        }
    }
    mcp_json_set_str(out, "protocolVersion",
                     mcp_fed_negotiate_version(requested_version));
    mcp_json_set(out, "capabilities", in.caps);
    if (server_info) {
        mcp_json_set(out, "serverInfo", mcp_json_copy(p, server_info));
    }
    if (instructions) {
        mcp_json_set_str(out, "instructions", instructions);
    }
    *presult = out;
    *pproblems = in.problems;
    return APR_SUCCESS;
}

/* ---------------------------------------------------------------------
 * JSON-RPC ids of server-to-client requests
 * ------------------------------------------------------------------- */

#define ID_PREFIX "fed:"

apr_status_t mcp_fed_id_to_gateway(mcp_jsonrpc_id_t *gwid, apr_pool_t *p,
                                   const mcp_fed_t *fed, int i,
                                   const mcp_jsonrpc_id_t *id)
{
    const mcp_fed_backend_t *b = mcp_fed_backend(fed, i);

    memset(gwid, 0, sizeof(*gwid));
    if (!b || !id || (id->type != MCP_JSONRPC_ID_STRING
                      && id->type != MCP_JSONRPC_ID_INT)) {
        return MCP_EINVALID;
    }
    mcp_jsonrpc_id_from_str(gwid, apr_pstrcat(p, ID_PREFIX, b->name, ":",
                                              mcp_jsonrpc_id_key(p, id),
                                              NULL));
    return APR_SUCCESS;
}

/* An integer exactly as mcp_jsonrpc_id_key() writes it. */
static int parse_int_id(const char *s, apr_int64_t *pv)
{
    char *end = NULL;

    if (!*s || (s[0] == '0' && s[1]) || (s[0] == '-' && s[1] == '0')
        || (!apr_isdigit(*s) && *s != '-')) {
        return 0;
    }
    errno = 0;
    *pv = apr_strtoi64(s, &end, 10);
    return errno == 0 && end && !*end && end != s && (*s != '-' || s[1]);
}

apr_status_t mcp_fed_id_from_gateway(int *pi, mcp_jsonrpc_id_t *id,
                                     apr_pool_t *p, const mcp_fed_t *fed,
                                     const mcp_jsonrpc_id_t *gwid)
{
    const char *name, *key;
    apr_int64_t v;

    *pi = -1;
    memset(id, 0, sizeof(*id));
    if (!gwid || gwid->type != MCP_JSONRPC_ID_STRING || !gwid->str
        || !starts_with(gwid->str, ID_PREFIX)) {
        return MCP_ENOTFOUND;
    }
    name = gwid->str + strlen(ID_PREFIX);
    key = strchr(name, ':');
    if (!key) {
        return MCP_ENOTFOUND;
    }
    *pi = backend_index(fed, apr_pstrmemdup(p, name, (apr_size_t)(key - name)));
    if (*pi < 0) {
        return MCP_ENOTFOUND;
    }
    key++;
    if (starts_with(key, "s:")) {
        mcp_jsonrpc_id_from_str(id, apr_pstrdup(p, key + 2));
        return APR_SUCCESS;
    }
    if (starts_with(key, "i:") && parse_int_id(key + 2, &v)) {
        mcp_jsonrpc_id_from_int(id, v);
        return APR_SUCCESS;
    }
    *pi = -1;
    return MCP_EINVALID;
}
