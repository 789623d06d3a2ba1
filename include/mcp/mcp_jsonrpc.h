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
 * @file mcp_jsonrpc.h
 * @brief JSON-RPC 2.0 messages as MCP uses them: strict parsing of untrusted
 *        bytes, construction and compact serialization.
 *
 * A handler typically does:
 *
 * @code
 *   mcp_jsonrpc_msg_t *msg, *err;
 *   apr_status_t rv = mcp_jsonrpc_parse(&msg, r->pool, body, len, NULL, &err);
 *   if (rv != APR_SUCCESS) {
 *       // err is a ready error response: send mcp_jsonrpc_dump(err) with
 *       // 413 when rv == MCP_ETOOLARGE, else 400.
 *   }
 *   else if (msg->kind == MCP_JSONRPC_BATCH) {
 *       // each member of msg->batch is classified on its own; members of
 *       // kind MCP_JSONRPC_INVALID carry their ready error in ->error_response.
 *   }
 * @endcode
 *
 * Messages live in the pool they were parsed or built in. Their fields are
 * read-only; change a message only through the functions below, so that the
 * fields and the JSON they were read from (msg->json, which is what gets
 * serialized, unknown members included) stay in step.
 */
#ifndef MCP_JSONRPC_H
#define MCP_JSONRPC_H

#include <apr_pools.h>
#include <apr_tables.h>

#include "mcp/mcp_common.h"
#include "mcp/mcp_json.h"

#ifdef __cplusplus
extern "C" {
#endif

/** @name Standard JSON-RPC 2.0 error codes */
/** @{ */
#define MCP_JSONRPC_PARSE_ERROR       (-32700)  /**< not JSON */
#define MCP_JSONRPC_INVALID_REQUEST   (-32600)  /**< JSON, but not a valid message */
#define MCP_JSONRPC_METHOD_NOT_FOUND  (-32601)
#define MCP_JSONRPC_INVALID_PARAMS    (-32602)
#define MCP_JSONRPC_INTERNAL_ERROR    (-32603)
/** @} */

/** @name MCP error codes */
/** @{ */
/** resources/read of an unknown URI. */
#define MCP_JSONRPC_RESOURCE_NOT_FOUND        (-32002)
/** The client must open a URL (URL-mode elicitation) before a retry. */
#define MCP_JSONRPC_URL_ELICITATION_REQUIRED  (-32042)
/** @} */

/** @name Defaults for mcp_jsonrpc_limits_t members left at 0 */
/** @{ */
#define MCP_JSONRPC_DEFAULT_MAX_BODY   (4 * 1024 * 1024)
#define MCP_JSONRPC_DEFAULT_MAX_DEPTH  MCP_JSON_DEFAULT_MAX_DEPTH
#define MCP_JSONRPC_DEFAULT_MAX_BATCH  100
/** @} */

/** Limits applied by mcp_jsonrpc_parse(); a member at 0 takes its default. */
typedef struct {
    apr_size_t max_body;  /**< largest input in bytes (default 4 MiB) */
    int max_depth;        /**< deepest array/object nesting (default 64) */
    int max_batch;        /**< most members in a batch (default 100) */
} mcp_jsonrpc_limits_t;

/** What a message is. */
typedef enum {
    MCP_JSONRPC_REQUEST = 1,   /**< method + id */
    MCP_JSONRPC_NOTIFICATION,  /**< method, no id */
    MCP_JSONRPC_RESULT,        /**< response with "result" */
    MCP_JSONRPC_ERROR,         /**< response with "error" */
    MCP_JSONRPC_BATCH,         /**< array of messages, in ->batch */
    MCP_JSONRPC_INVALID        /**< a batch member that is no valid message */
} mcp_jsonrpc_kind_e;

/** The kind of a message id. */
typedef enum {
    MCP_JSONRPC_ID_NONE = 0,   /**< absent (notifications, batches) */
    MCP_JSONRPC_ID_NULL,       /**< JSON null: only in error responses */
    MCP_JSONRPC_ID_STRING,
    MCP_JSONRPC_ID_INT
} mcp_jsonrpc_id_type_e;

/**
 * A message id. String ids and integer ids are different ids: "1" is not 1.
 * A zeroed struct is an absent id.
 */
typedef struct {
    mcp_jsonrpc_id_type_e type;
    const char *str;   /**< ID_STRING: UTF-8, NUL-terminated (ids never hold NUL) */
    apr_int64_t num;   /**< ID_INT */
} mcp_jsonrpc_id_t;

typedef struct mcp_jsonrpc_msg_t mcp_jsonrpc_msg_t;

/** A parsed or built message. Read-only for callers. */
struct mcp_jsonrpc_msg_t {
    mcp_jsonrpc_kind_e kind;
    /** REQUEST, RESULT, ERROR; INVALID when it could be read; else NONE. */
    mcp_jsonrpc_id_t id;
    /** REQUEST and NOTIFICATION: the method, never empty. */
    const char *method;
    /** REQUEST and NOTIFICATION: object or array, NULL when absent. */
    mcp_json_t *params;
    /** RESULT: the result value (any JSON value). */
    mcp_json_t *result;
    /** ERROR: "error.code". */
    apr_int64_t error_code;
    /** ERROR: "error.message". */
    const char *error_message;
    /** ERROR: "error.data", NULL when absent. */
    mcp_json_t *error_data;
    /** BATCH: the members, as mcp_jsonrpc_msg_t *, in input order. */
    apr_array_header_t *batch;
    /**
     * INVALID: the ready error response (-32600) answering this member,
     * with the member's id when it could be read, else null.
     */
    mcp_jsonrpc_msg_t *error_response;
    /** The whole message as JSON (the array for a batch). */
    mcp_json_t *json;
    /** The pool the message lives in. */
    apr_pool_t *pool;
};

/**
 * Parse @a len bytes of @a data (need not be NUL-terminated) as one JSON-RPC
 * message or a batch, and validate it strictly: "jsonrpc" is exactly "2.0";
 * "method" a non-empty string; "params" an object or array when present;
 * "id" a string or an integer (null only in error responses); a response
 * has exactly one of "result" / "error"; an error has an integer "code", a
 * string "message" and optional "data"; a message with "method" has neither
 * "result" nor "error". Unknown members are kept and tolerated.
 *
 * @param pmsg   the message on success, else NULL. A batch (kind BATCH) is
 *               returned on success even when some of its members are
 *               INVALID: the caller answers those with their error_response.
 * @param p      pool for the message and every error
 * @param lim    limits; NULL for all defaults
 * @param perror on failure (may be NULL): a ready error response to send,
 *               with code -32700 (MCP_EPARSE) or -32600 (the others) and a
 *               message saying what is wrong; its id is the message's id
 *               when it could be read, else null.
 * @return APR_SUCCESS;
 *         MCP_EPARSE when the bytes are not one JSON text (-32700; the
 *         message carries the parser's line/column);
 *         MCP_EINVALID when the JSON is not a valid message (-32600), an
 *         empty batch included;
 *         MCP_ETOOLARGE when the body, the nesting or the batch exceeds the
 *         limits (-32600, meant to become HTTP 413);
 *         APR_ENOMEM only when jansson runs out of memory (*perror NULL).
 *
 * Valid JSON that jansson cannot hold (an integer beyond 64 bits, a
 * duplicate object key, "\u0000" in a string) counts as a parse error.
 */
apr_status_t mcp_jsonrpc_parse(mcp_jsonrpc_msg_t **pmsg, apr_pool_t *p,
                               const char *data, apr_size_t len,
                               const mcp_jsonrpc_limits_t *lim,
                               mcp_jsonrpc_msg_t **perror);

/**
 * Classify and validate a JSON value that is already parsed (an upstream
 * answer, say), exactly as mcp_jsonrpc_parse() does after parsing. Only
 * lim->max_batch is used. @a json is shared, not copied.
 *
 * @return APR_SUCCESS, MCP_EINVALID or MCP_ETOOLARGE, as mcp_jsonrpc_parse().
 */
apr_status_t mcp_jsonrpc_from_json(mcp_jsonrpc_msg_t **pmsg, apr_pool_t *p,
                                   mcp_json_t *json,
                                   const mcp_jsonrpc_limits_t *lim,
                                   mcp_jsonrpc_msg_t **perror);

/**
 * Build a request. @a id must be a string or an integer; @a params may be
 * NULL, else an object or an array (shared, not copied).
 * @return APR_SUCCESS or MCP_EINVALID (bad id, empty method, params of the
 *         wrong type, method not valid UTF-8). The builders below also
 *         return APR_ENOMEM when jansson runs out of memory.
 */
apr_status_t mcp_jsonrpc_request_create(mcp_jsonrpc_msg_t **pmsg,
                                        apr_pool_t *p,
                                        const mcp_jsonrpc_id_t *id,
                                        const char *method,
                                        mcp_json_t *params);

/** Build a notification; as mcp_jsonrpc_request_create() without an id. */
apr_status_t mcp_jsonrpc_notification_create(mcp_jsonrpc_msg_t **pmsg,
                                             apr_pool_t *p,
                                             const char *method,
                                             mcp_json_t *params);

/**
 * Build a result response. @a id must be a string or an integer; @a result
 * is any JSON value (shared, not copied); NULL gives an empty object.
 * @return APR_SUCCESS or MCP_EINVALID.
 */
apr_status_t mcp_jsonrpc_result_create(mcp_jsonrpc_msg_t **pmsg,
                                       apr_pool_t *p,
                                       const mcp_jsonrpc_id_t *id,
                                       mcp_json_t *result);

/**
 * Build an error response. @a id NULL, NONE or NULL-typed gives "id": null.
 * @a message must be valid UTF-8; @a data may be NULL (shared, not copied).
 * @return APR_SUCCESS or MCP_EINVALID.
 */
apr_status_t mcp_jsonrpc_error_create(mcp_jsonrpc_msg_t **pmsg,
                                      apr_pool_t *p,
                                      const mcp_jsonrpc_id_t *id,
                                      apr_int64_t code, const char *message,
                                      mcp_json_t *data);

/**
 * Build a batch (the answer to a batch, say) from @a members, an array of
 * mcp_jsonrpc_msg_t * that may be empty; an INVALID member contributes its
 * error_response. Note that an empty batch must not be sent: JSON-RPC says
 * to send nothing instead.
 * @return APR_SUCCESS or MCP_EINVALID (a NULL member, a nested batch).
 */
apr_status_t mcp_jsonrpc_batch_create(mcp_jsonrpc_msg_t **pmsg,
                                      apr_pool_t *p,
                                      const apr_array_header_t *members);

/**
 * Serialize @a msg compactly into a NUL-terminated string in @a p; *plen
 * (when not NULL) gets its length. NULL only when out of memory.
 */
const char *mcp_jsonrpc_dump(apr_pool_t *p, const mcp_jsonrpc_msg_t *msg,
                             apr_size_t *plen);

/**
 * Replace the id of a request or response @a msg (the proxy maps ids
 * between client and backend). String ids are copied into msg->pool.
 * @return APR_SUCCESS or MCP_EINVALID (a notification, a batch, an id type
 *         the message kind does not allow).
 */
apr_status_t mcp_jsonrpc_set_id(mcp_jsonrpc_msg_t *msg,
                                const mcp_jsonrpc_id_t *id);

/** Make @a id an integer id. */
void mcp_jsonrpc_id_from_int(mcp_jsonrpc_id_t *id, apr_int64_t v);

/** Make @a id a string id; @a s is referenced, not copied. */
void mcp_jsonrpc_id_from_str(mcp_jsonrpc_id_t *id, const char *s);

/** Copy @a src into @a dst, a string id duplicated into @a p. */
void mcp_jsonrpc_id_copy(mcp_jsonrpc_id_t *dst, apr_pool_t *p,
                         const mcp_jsonrpc_id_t *src);

/** Are @a a and @a b the same id (same type and value)? */
int mcp_jsonrpc_id_equal(const mcp_jsonrpc_id_t *a, const mcp_jsonrpc_id_t *b);

/**
 * Exact string form of an id, for map keys: "s:<string>", "i:<integer>",
 * "null" or "none". Distinct ids give distinct keys ("s:1" vs "i:1"). May
 * hold any character of the id: use mcp_jsonrpc_id_log() in log lines.
 */
const char *mcp_jsonrpc_id_key(apr_pool_t *p, const mcp_jsonrpc_id_t *id);

/**
 * Printable form of an id for log lines: as mcp_jsonrpc_id_key() with
 * bytes outside printable ASCII, '"' and '\\' escaped as \\xNN, cut to at
 * most 64 characters of the id ("..." marks a cut).
 */
const char *mcp_jsonrpc_id_log(apr_pool_t *p, const mcp_jsonrpc_id_t *id);

/** "request", "notification", "result", "error", "batch" or "invalid". */
const char *mcp_jsonrpc_kind_name(mcp_jsonrpc_kind_e kind);

#ifdef __cplusplus
}
#endif

#endif /* MCP_JSONRPC_H */
