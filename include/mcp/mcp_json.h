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

/**
 * @file mcp_json.h
 * @brief JSON values whose lifetime follows an APR pool.
 *
 * An mcp_json_t is a handle on one JSON value. Every handle holds its own
 * reference on the value and drops it when the pool the handle was made in
 * is cleared or destroyed, so a handle stays valid exactly as long as its
 * pool. Handles on children (mcp_json_get(), mcp_json_array_get()) may be
 * made in any pool. Values are shared, not copied: a child changed through
 * one handle is changed for every handle on it, and a value set into a
 * container is shared with the container (use mcp_json_copy() to detach).
 *
 * Strings never contain NUL: the parser rejects "\u0000", and the setters
 * take C strings.
 *
 * This is the only part of mod_mcp that knows about jansson.
 */
#ifndef MCP_JSON_H
#define MCP_JSON_H

#include <apr_pools.h>
#include <apr_tables.h>

#include "mcp/mcp_common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mcp_json_t mcp_json_t;

typedef enum {
    MCP_JSON_OBJECT,
    MCP_JSON_ARRAY,
    MCP_JSON_STRING,
    MCP_JSON_INT,       /**< a number without fraction or exponent */
    MCP_JSON_REAL,
    MCP_JSON_TRUE,
    MCP_JSON_FALSE,
    MCP_JSON_NULL
} mcp_json_type_e;

/** Limits applied while parsing untrusted input. */
typedef struct {
    /** Largest input accepted, in bytes; 0 means no limit. */
    apr_size_t max_bytes;
    /** Deepest nesting of arrays/objects accepted; 0 means the default (64). */
    int max_depth;
    /** Accept duplicate object keys (the last one wins). Off by default. */
    int allow_duplicate_keys;
} mcp_json_limits_t;

/** Default nesting limit when mcp_json_limits_t.max_depth is 0. */
#define MCP_JSON_DEFAULT_MAX_DEPTH 64
/** Hard ceiling on nesting whatever the caller asks for. */
#define MCP_JSON_MAX_DEPTH_CEILING 1024

/**
 * Parse @a len bytes of @a data (need not be NUL-terminated) into a value of
 * any type. @a limits may be NULL (no size limit, default depth).
 *
 * @return APR_SUCCESS; MCP_ETOOLARGE when the input is larger or deeper than
 *         allowed; MCP_EPARSE for anything that is not one complete JSON text
 *         (empty input, trailing garbage, invalid UTF-8, "\u0000", integers
 *         out of the 64-bit range, duplicate keys unless allowed).
 *         On failure *perr (when perr is not NULL) gets a message such as
 *         "line 1, column 7: unexpected token near '}'", allocated from @a p.
 */
apr_status_t mcp_json_parse(mcp_json_t **pj, apr_pool_t *p,
                            const char *data, apr_size_t len,
                            const mcp_json_limits_t *limits,
                            const char **perr);

/** Constructors. */
mcp_json_t *mcp_json_object(apr_pool_t *p);
mcp_json_t *mcp_json_array(apr_pool_t *p);
/** A JSON string; NULL @a s gives JSON null. @a s must be valid UTF-8. */
mcp_json_t *mcp_json_string(apr_pool_t *p, const char *s);
mcp_json_t *mcp_json_int(apr_pool_t *p, apr_int64_t v);
mcp_json_t *mcp_json_real(apr_pool_t *p, double v);
mcp_json_t *mcp_json_bool(apr_pool_t *p, int v);
mcp_json_t *mcp_json_null(apr_pool_t *p);

/** Deep copy, detached from every other handle. */
mcp_json_t *mcp_json_copy(apr_pool_t *p, const mcp_json_t *j);

/** A second handle on the same value, valid for the life of @a p. */
mcp_json_t *mcp_json_ref(apr_pool_t *p, const mcp_json_t *j);

mcp_json_type_e mcp_json_type(const mcp_json_t *j);
/** "object", "array", "string", "integer", "number", "boolean", "null". */
const char *mcp_json_type_name(const mcp_json_t *j);
int mcp_json_is_object(const mcp_json_t *j);
int mcp_json_is_array(const mcp_json_t *j);
int mcp_json_is_string(const mcp_json_t *j);
int mcp_json_is_int(const mcp_json_t *j);
int mcp_json_is_number(const mcp_json_t *j);   /**< integer or real */
int mcp_json_is_bool(const mcp_json_t *j);
int mcp_json_is_null(const mcp_json_t *j);

/** Value accessors on the value itself; NULL/0 when of another type. */
const char *mcp_json_str(const mcp_json_t *j);
/** Byte length of a string value (0 when not a string). */
apr_size_t mcp_json_strlen(const mcp_json_t *j);
apr_int64_t mcp_json_intval(const mcp_json_t *j);
double mcp_json_realval(const mcp_json_t *j);   /**< integer or real */
int mcp_json_boolval(const mcp_json_t *j);

/**
 * Object member @a key as a new handle in @a p, or NULL when @a j is not an
 * object or has no such member.
 */
mcp_json_t *mcp_json_get(apr_pool_t *p, const mcp_json_t *j, const char *key);

/**
 * Follow a path of object keys, e.g. mcp_json_getp(p, msg, "params",
 * "name", NULL). NULL when any step is missing or not an object.
 */
mcp_json_t *mcp_json_getp(apr_pool_t *p, const mcp_json_t *j, ...);

/**
 * String member @a key duplicated into @a p, or NULL when missing or not a
 * string.
 */
const char *mcp_json_get_str(apr_pool_t *p, const mcp_json_t *j, const char *key);

/**
 * Integer member @a key into *pv.
 * @return APR_SUCCESS, MCP_ENOTFOUND (missing) or MCP_EINVALID (not an integer).
 */
apr_status_t mcp_json_get_int(const mcp_json_t *j, const char *key, apr_int64_t *pv);

/** Boolean member @a key, or @a dflt when missing or not a boolean. */
int mcp_json_get_bool(const mcp_json_t *j, const char *key, int dflt);

/** Does the object have member @a key (of any type, null included)? */
int mcp_json_has(const mcp_json_t *j, const char *key);

/** Number of members (object) or elements (array); 0 for other types. */
apr_size_t mcp_json_size(const mcp_json_t *j);

/** Array element @a i as a new handle in @a p, or NULL when out of range. */
mcp_json_t *mcp_json_array_get(apr_pool_t *p, const mcp_json_t *j, apr_size_t i);

/** Object keys, in document order, as an array of const char * in @a p. */
apr_array_header_t *mcp_json_keys(apr_pool_t *p, const mcp_json_t *j);

/**
 * Set member @a key of object @a obj to @a val (shared, not copied).
 * @return APR_SUCCESS or MCP_EINVALID (not an object, bad UTF-8 key).
 */
apr_status_t mcp_json_set(mcp_json_t *obj, const char *key, const mcp_json_t *val);
apr_status_t mcp_json_set_str(mcp_json_t *obj, const char *key, const char *s);
apr_status_t mcp_json_set_int(mcp_json_t *obj, const char *key, apr_int64_t v);
apr_status_t mcp_json_set_bool(mcp_json_t *obj, const char *key, int v);
apr_status_t mcp_json_set_null(mcp_json_t *obj, const char *key);
/** Remove member @a key; APR_SUCCESS also when it was absent. */
apr_status_t mcp_json_del(mcp_json_t *obj, const char *key);

/** Append @a val to array @a arr (shared, not copied). */
apr_status_t mcp_json_append(mcp_json_t *arr, const mcp_json_t *val);
apr_status_t mcp_json_append_str(mcp_json_t *arr, const char *s);

/** Deep equality (object member order does not matter). */
int mcp_json_equal(const mcp_json_t *a, const mcp_json_t *b);

/** Serialization flags. */
#define MCP_JSON_FMT_COMPACT   0x00   /**< no whitespace (the default) */
#define MCP_JSON_FMT_INDENT    0x01   /**< 2-space indentation */
#define MCP_JSON_FMT_SORT_KEYS 0x02   /**< object keys sorted (canonical form) */

/**
 * Serialize @a j into a NUL-terminated string in @a p; *plen (when not
 * NULL) gets its length. Non-ASCII is written as UTF-8, "/" is not escaped.
 */
const char *mcp_json_dump(apr_pool_t *p, const mcp_json_t *j, int flags,
                          apr_size_t *plen);

#ifdef __cplusplus
}
#endif

#endif /* MCP_JSON_H */
