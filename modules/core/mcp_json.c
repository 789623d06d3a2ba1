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

/* The one place that includes jansson. Each handle owns one reference on
 * its json_t and gives it back through a cleanup on the handle's pool. */

#include <stdlib.h>
#include <string.h>

#include <apr_strings.h>
#include <jansson.h>

#include "mcp/mcp_json.h"

struct mcp_json_t {
    json_t *j;
};

static apr_status_t json_cleanup(void *data)
{
    mcp_json_t *h = data;

    if (h->j) {
        json_decref(h->j);
        h->j = NULL;
    }
    return APR_SUCCESS;
}

/* Wrap @j in a handle from @p. With @steal the caller's reference moves into
 * the handle, otherwise the handle takes a new one. */
static mcp_json_t *wrap(apr_pool_t *p, json_t *j, int steal)
{
    mcp_json_t *h;

    if (!j) {
        return NULL;
    }
    h = apr_palloc(p, sizeof(*h));
    h->j = steal ? j : json_incref(j);
    apr_pool_cleanup_register(p, h, json_cleanup, apr_pool_cleanup_null);
    return h;
}

/* Nesting depth of a JSON text, counted without parsing it, so that hostile
 * input is refused before jansson recurses into it. Brackets inside strings
 * do not count. Stops as soon as @max is exceeded. */
static int json_depth_exceeds(const char *data, apr_size_t len, int max)
{
    apr_size_t i;
    int depth = 0, in_str = 0;

    for (i = 0; i < len; i++) {
        char c = data[i];

        if (in_str) {
            if (c == '\\') {
                i++;
            }
            else if (c == '"') {
                in_str = 0;
            }
            continue;
        }
        switch (c) {
        case '"':
            in_str = 1;
            break;
        case '[':
        case '{':
            if (++depth > max) {
                return 1;
            }
            break;
        case ']':
        case '}':
            depth--;
            break;
        default:
            break;
        }
    }
    return 0;
}

apr_status_t mcp_json_parse(mcp_json_t **pj, apr_pool_t *p,
                            const char *data, apr_size_t len,
                            const mcp_json_limits_t *limits,
                            const char **perr)
{
    json_error_t err;
    json_t *j;
    size_t flags = JSON_DECODE_ANY;
    int max_depth = MCP_JSON_DEFAULT_MAX_DEPTH;

    *pj = NULL;
    if (limits) {
        if (limits->max_depth > 0) {
            max_depth = limits->max_depth;
        }
        if (!limits->allow_duplicate_keys) {
            flags |= JSON_REJECT_DUPLICATES;
        }
        if (limits->max_bytes && len > limits->max_bytes) {
            if (perr) {
                *perr = apr_psprintf(p, "JSON text of %" APR_SIZE_T_FMT
                                     " bytes exceeds the limit of %"
                                     APR_SIZE_T_FMT " bytes",
                                     len, limits->max_bytes);
            }
            return MCP_ETOOLARGE;
        }
    }
    else {
        flags |= JSON_REJECT_DUPLICATES;
    }
    if (max_depth > MCP_JSON_MAX_DEPTH_CEILING) {
        max_depth = MCP_JSON_MAX_DEPTH_CEILING;
    }
    if (!data) {
        data = "";
        len = 0;
    }
    if (json_depth_exceeds(data, len, max_depth)) {
        if (perr) {
            *perr = apr_psprintf(p, "JSON nesting deeper than %d levels",
                                 max_depth);
        }
        return MCP_ETOOLARGE;
    }

    j = json_loadb(data, len, flags, &err);
    if (!j) {
        if (perr) {
            *perr = apr_psprintf(p, "line %d, column %d: %s",
                                 err.line, err.column, err.text);
        }
        return MCP_EPARSE;
    }
    *pj = wrap(p, j, 1);
    return APR_SUCCESS;
}

mcp_json_t *mcp_json_object(apr_pool_t *p)
{
    return wrap(p, json_object(), 1);
}

mcp_json_t *mcp_json_array(apr_pool_t *p)
{
    return wrap(p, json_array(), 1);
}

mcp_json_t *mcp_json_string(apr_pool_t *p, const char *s)
{
    return wrap(p, s ? json_string(s) : json_null(), 1);
}

mcp_json_t *mcp_json_int(apr_pool_t *p, apr_int64_t v)
{
    return wrap(p, json_integer((json_int_t)v), 1);
}

mcp_json_t *mcp_json_real(apr_pool_t *p, double v)
{
    return wrap(p, json_real(v), 1);
}

mcp_json_t *mcp_json_bool(apr_pool_t *p, int v)
{
    return wrap(p, json_boolean(v), 1);
}

mcp_json_t *mcp_json_null(apr_pool_t *p)
{
    return wrap(p, json_null(), 1);
}

mcp_json_t *mcp_json_copy(apr_pool_t *p, const mcp_json_t *j)
{
    return j ? wrap(p, json_deep_copy(j->j), 1) : NULL;
}

mcp_json_t *mcp_json_ref(apr_pool_t *p, const mcp_json_t *j)
{
    return j ? wrap(p, j->j, 0) : NULL;
}

mcp_json_type_e mcp_json_type(const mcp_json_t *j)
{
    switch (json_typeof(j->j)) {
    case JSON_OBJECT:  return MCP_JSON_OBJECT;
    case JSON_ARRAY:   return MCP_JSON_ARRAY;
    case JSON_STRING:  return MCP_JSON_STRING;
    case JSON_INTEGER: return MCP_JSON_INT;
    case JSON_REAL:    return MCP_JSON_REAL;
    case JSON_TRUE:    return MCP_JSON_TRUE;
    case JSON_FALSE:   return MCP_JSON_FALSE;
    default:           return MCP_JSON_NULL;
    }
}

const char *mcp_json_type_name(const mcp_json_t *j)
{
    if (!j) {
        return "missing";
    }
    switch (mcp_json_type(j)) {
    case MCP_JSON_OBJECT: return "object";
    case MCP_JSON_ARRAY:  return "array";
    case MCP_JSON_STRING: return "string";
    case MCP_JSON_INT:    return "integer";
    case MCP_JSON_REAL:   return "number";
    case MCP_JSON_TRUE:
    case MCP_JSON_FALSE:  return "boolean";
    default:              return "null";
    }
}

int mcp_json_is_object(const mcp_json_t *j) { return j && json_is_object(j->j); }
int mcp_json_is_array(const mcp_json_t *j)  { return j && json_is_array(j->j); }
int mcp_json_is_string(const mcp_json_t *j) { return j && json_is_string(j->j); }
int mcp_json_is_int(const mcp_json_t *j)    { return j && json_is_integer(j->j); }
int mcp_json_is_number(const mcp_json_t *j) { return j && json_is_number(j->j); }
int mcp_json_is_bool(const mcp_json_t *j)   { return j && json_is_boolean(j->j); }
int mcp_json_is_null(const mcp_json_t *j)   { return j && json_is_null(j->j); }

const char *mcp_json_str(const mcp_json_t *j)
{
    return j ? json_string_value(j->j) : NULL;
}

apr_size_t mcp_json_strlen(const mcp_json_t *j)
{
    return j ? json_string_length(j->j) : 0;
}

apr_int64_t mcp_json_intval(const mcp_json_t *j)
{
    return j ? (apr_int64_t)json_integer_value(j->j) : 0;
}

double mcp_json_realval(const mcp_json_t *j)
{
    return j ? json_number_value(j->j) : 0.0;
}

int mcp_json_boolval(const mcp_json_t *j)
{
    return j && json_is_true(j->j);
}

/* Borrowed member lookup; NULL unless @j is an object with @key. */
static json_t *member(const mcp_json_t *j, const char *key)
{
    if (!j || !key || !json_is_object(j->j)) {
        return NULL;
    }
    return json_object_get(j->j, key);
}

mcp_json_t *mcp_json_get(apr_pool_t *p, const mcp_json_t *j, const char *key)
{
    return wrap(p, member(j, key), 0);
}

mcp_json_t *mcp_json_getp(apr_pool_t *p, const mcp_json_t *j, ...)
{
    json_t *cur;
    const char *key;
    va_list ap;

    if (!j) {
        return NULL;
    }
    cur = j->j;
    va_start(ap, j);
    while (cur && (key = va_arg(ap, const char *)) != NULL) {
        cur = json_is_object(cur) ? json_object_get(cur, key) : NULL;
    }
    va_end(ap);
    return wrap(p, cur, 0);
}

const char *mcp_json_get_str(apr_pool_t *p, const mcp_json_t *j, const char *key)
{
    json_t *m = member(j, key);

    if (!m || !json_is_string(m)) {
        return NULL;
    }
    return apr_pstrmemdup(p, json_string_value(m), json_string_length(m));
}

apr_status_t mcp_json_get_int(const mcp_json_t *j, const char *key, apr_int64_t *pv)
{
    json_t *m = member(j, key);

    if (!m) {
        return MCP_ENOTFOUND;
    }
    if (!json_is_integer(m)) {
        return MCP_EINVALID;
    }
    *pv = (apr_int64_t)json_integer_value(m);
    return APR_SUCCESS;
}

int mcp_json_get_bool(const mcp_json_t *j, const char *key, int dflt)
{
    json_t *m = member(j, key);

    if (!m || !json_is_boolean(m)) {
        return dflt;
    }
    return json_is_true(m);
}

int mcp_json_has(const mcp_json_t *j, const char *key)
{
    return member(j, key) != NULL;
}

apr_size_t mcp_json_size(const mcp_json_t *j)
{
    if (!j) {
        return 0;
    }
    if (json_is_object(j->j)) {
        return json_object_size(j->j);
    }
    if (json_is_array(j->j)) {
        return json_array_size(j->j);
    }
    return 0;
}

mcp_json_t *mcp_json_array_get(apr_pool_t *p, const mcp_json_t *j, apr_size_t i)
{
    if (!j || !json_is_array(j->j)) {
        return NULL;
    }
    return wrap(p, json_array_get(j->j, i), 0);
}

apr_array_header_t *mcp_json_keys(apr_pool_t *p, const mcp_json_t *j)
{
    apr_array_header_t *keys;
    const char *key;
    json_t *val;

    keys = apr_array_make(p, (int)mcp_json_size(j) + 1, sizeof(const char *));
    if (!j || !json_is_object(j->j)) {
        return keys;
    }
    json_object_foreach(j->j, key, val) {
        (void)val;
        APR_ARRAY_PUSH(keys, const char *) = apr_pstrdup(p, key);
    }
    return keys;
}

apr_status_t mcp_json_set(mcp_json_t *obj, const char *key, const mcp_json_t *val)
{
    if (!obj || !key || !val || !json_is_object(obj->j)) {
        return MCP_EINVALID;
    }
    /* json_object_set takes its own reference; the handle keeps its one. */
    return json_object_set(obj->j, key, val->j) == 0 ? APR_SUCCESS : MCP_EINVALID;
}

/* Set @key to a fresh value whose only reference moves into the object. */
static apr_status_t set_new(mcp_json_t *obj, const char *key, json_t *v)
{
    if (!v) {
        return MCP_EINVALID;
    }
    if (!obj || !key || !json_is_object(obj->j)) {
        json_decref(v);
        return MCP_EINVALID;
    }
    return json_object_set_new(obj->j, key, v) == 0 ? APR_SUCCESS : MCP_EINVALID;
}

apr_status_t mcp_json_set_str(mcp_json_t *obj, const char *key, const char *s)
{
    return set_new(obj, key, s ? json_string(s) : json_null());
}

apr_status_t mcp_json_set_int(mcp_json_t *obj, const char *key, apr_int64_t v)
{
    return set_new(obj, key, json_integer((json_int_t)v));
}

apr_status_t mcp_json_set_bool(mcp_json_t *obj, const char *key, int v)
{
    return set_new(obj, key, json_boolean(v));
}

apr_status_t mcp_json_set_null(mcp_json_t *obj, const char *key)
{
    return set_new(obj, key, json_null());
}

apr_status_t mcp_json_del(mcp_json_t *obj, const char *key)
{
    if (!obj || !key || !json_is_object(obj->j)) {
        return MCP_EINVALID;
    }
    json_object_del(obj->j, key);
    return APR_SUCCESS;
}

apr_status_t mcp_json_append(mcp_json_t *arr, const mcp_json_t *val)
{
    if (!arr || !val || !json_is_array(arr->j)) {
        return MCP_EINVALID;
    }
    return json_array_append(arr->j, val->j) == 0 ? APR_SUCCESS : MCP_EINVALID;
}

apr_status_t mcp_json_append_str(mcp_json_t *arr, const char *s)
{
    json_t *v = s ? json_string(s) : json_null();

    if (!v) {
        return MCP_EINVALID;
    }
    if (!arr || !json_is_array(arr->j)) {
        json_decref(v);
        return MCP_EINVALID;
    }
    return json_array_append_new(arr->j, v) == 0 ? APR_SUCCESS : MCP_EINVALID;
}

int mcp_json_equal(const mcp_json_t *a, const mcp_json_t *b)
{
    if (!a || !b) {
        return a == b;
    }
    return json_equal(a->j, b->j);
}

const char *mcp_json_dump(apr_pool_t *p, const mcp_json_t *j, int flags,
                          apr_size_t *plen)
{
    size_t jflags = JSON_ENCODE_ANY | JSON_REAL_PRECISION(17);
    char *s;
    const char *out;
    apr_size_t len;

    if (!j) {
        if (plen) {
            *plen = 0;
        }
        return NULL;
    }
    jflags |= (flags & MCP_JSON_FMT_INDENT) ? JSON_INDENT(2) : JSON_COMPACT;
    if (flags & MCP_JSON_FMT_SORT_KEYS) {
        jflags |= JSON_SORT_KEYS;
    }
    s = json_dumps(j->j, jflags);
    if (!s) {
        if (plen) {
            *plen = 0;
        }
        return NULL;
    }
    len = strlen(s);
    out = apr_pstrmemdup(p, s, len);
    free(s);
    if (plen) {
        *plen = len;
    }
    return out;
}
