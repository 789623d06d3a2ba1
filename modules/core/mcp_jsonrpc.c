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

/* JSON-RPC 2.0 on top of mcp_json. The JSON object of a message is the
 * source of truth for serialization (so unknown members survive a relay);
 * the struct fields are a validated, typed view of it. */

#include <string.h>

#include <apr_strings.h>

#include "mcp/mcp_jsonrpc.h"

/* Longest part of an id written by mcp_jsonrpc_id_log(). */
#define ID_LOG_MAX 64

static mcp_jsonrpc_msg_t *msg_new(apr_pool_t *p, mcp_jsonrpc_kind_e kind,
                                  mcp_json_t *json)
{
    mcp_jsonrpc_msg_t *msg = apr_pcalloc(p, sizeof(*msg));

    msg->kind = kind;
    msg->json = json;
    msg->pool = p;
    return msg;
}

static void limits_resolve(mcp_jsonrpc_limits_t *out,
                           const mcp_jsonrpc_limits_t *in)
{
    out->max_body = (in && in->max_body) ? in->max_body
                                         : MCP_JSONRPC_DEFAULT_MAX_BODY;
    out->max_depth = (in && in->max_depth > 0) ? in->max_depth
                                               : MCP_JSONRPC_DEFAULT_MAX_DEPTH;
    out->max_batch = (in && in->max_batch > 0) ? in->max_batch
                                               : MCP_JSONRPC_DEFAULT_MAX_BATCH;
}

/* Parser messages may quote input bytes ("near '\xff'"); an error message
 * must be valid UTF-8 and safe to log, so keep printable ASCII only. */
static const char *ascii_safe(apr_pool_t *p, const char *s)
{
    char *out = apr_pstrdup(p, s ? s : "");
    char *c;

    for (c = out; *c; c++) {
        if ((unsigned char)*c < 0x20 || (unsigned char)*c > 0x7e) {
            *c = '?';
        }
    }
    return out;
}

/* ---------------------------------------------------------------------- */
/* ids                                                                     */

void mcp_jsonrpc_id_from_int(mcp_jsonrpc_id_t *id, apr_int64_t v)
{
    memset(id, 0, sizeof(*id));
    id->type = MCP_JSONRPC_ID_INT;
    id->num = v;
}

void mcp_jsonrpc_id_from_str(mcp_jsonrpc_id_t *id, const char *s)
{
    memset(id, 0, sizeof(*id));
    id->type = MCP_JSONRPC_ID_STRING;
    id->str = s ? s : "";
}

void mcp_jsonrpc_id_copy(mcp_jsonrpc_id_t *dst, apr_pool_t *p,
                         const mcp_jsonrpc_id_t *src)
{
    mcp_jsonrpc_id_t tmp;

    memset(&tmp, 0, sizeof(tmp));
    if (src) {
        tmp.type = src->type;
        if (src->type == MCP_JSONRPC_ID_STRING) {
            tmp.str = apr_pstrdup(p, src->str ? src->str : "");
        }
        else if (src->type == MCP_JSONRPC_ID_INT) {
            tmp.num = src->num;
        }
    }
    *dst = tmp;
}

static mcp_jsonrpc_id_type_e id_type(const mcp_jsonrpc_id_t *id)
{
    return id ? id->type : MCP_JSONRPC_ID_NONE;
}

int mcp_jsonrpc_id_equal(const mcp_jsonrpc_id_t *a, const mcp_jsonrpc_id_t *b)
{
    if (id_type(a) != id_type(b)) {
        return 0;
    }
    switch (id_type(a)) {
    case MCP_JSONRPC_ID_STRING:
        return strcmp(a->str ? a->str : "", b->str ? b->str : "") == 0;
    case MCP_JSONRPC_ID_INT:
        return a->num == b->num;
    default:
        return 1;
    }
}

const char *mcp_jsonrpc_id_key(apr_pool_t *p, const mcp_jsonrpc_id_t *id)
{
    switch (id_type(id)) {
    case MCP_JSONRPC_ID_STRING:
        return apr_pstrcat(p, "s:", id->str ? id->str : "", NULL);
    case MCP_JSONRPC_ID_INT:
        return apr_psprintf(p, "i:%" APR_INT64_T_FMT, id->num);
    case MCP_JSONRPC_ID_NULL:
        return "null";
    default:
        return "none";
    }
}

const char *mcp_jsonrpc_id_log(apr_pool_t *p, const mcp_jsonrpc_id_t *id)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *s;
    char *out, *o;
    apr_size_t n;

    if (id_type(id) != MCP_JSONRPC_ID_STRING) {
        return mcp_jsonrpc_id_key(p, id);
    }
    /* "s:" + up to ID_LOG_MAX bytes of 4 characters each + "..." + NUL */
    out = o = apr_palloc(p, 2 + 4 * ID_LOG_MAX + 3 + 1);
    *o++ = 's';
    *o++ = ':';
    s = (const unsigned char *)(id->str ? id->str : "");
    for (n = 0; s[n] && n < ID_LOG_MAX; n++) {
        if (s[n] < 0x20 || s[n] > 0x7e || s[n] == '"' || s[n] == '\\') {
            *o++ = '\\';
            *o++ = 'x';
            *o++ = hex[s[n] >> 4];
            *o++ = hex[s[n] & 0x0f];
        }
        else {
            *o++ = (char)s[n];
        }
    }
    if (s[n]) {
        memcpy(o, "...", 3);
        o += 3;
    }
    *o = '\0';
    return out;
}

/* The JSON form of an id; NONE gives null. NULL for a string id that is
 * not valid UTF-8. */
static mcp_json_t *id_to_json(apr_pool_t *p, const mcp_jsonrpc_id_t *id)
{
    switch (id_type(id)) {
    case MCP_JSONRPC_ID_STRING:
        return mcp_json_string(p, id->str ? id->str : "");
    case MCP_JSONRPC_ID_INT:
        return mcp_json_int(p, id->num);
    default:
        return mcp_json_null(p);
    }
}

/* ---------------------------------------------------------------------- */
/* construction                                                            */

/* {"jsonrpc":"2.0","id":...}; the id is left out unless @with_id. */
static apr_status_t envelope(mcp_json_t **pobj, apr_pool_t *p,
                             const mcp_jsonrpc_id_t *id, int with_id)
{
    mcp_json_t *obj = mcp_json_object(p), *jid;

    *pobj = NULL;
    if (!obj || mcp_json_set_str(obj, "jsonrpc", "2.0") != APR_SUCCESS) {
        return APR_ENOMEM;
    }
    if (with_id) {
        jid = id_to_json(p, id);
        if (!jid || mcp_json_set(obj, "id", jid) != APR_SUCCESS) {
            return MCP_EINVALID;
        }
    }
    *pobj = obj;
    return APR_SUCCESS;
}

static int id_is_request_id(const mcp_jsonrpc_id_t *id)
{
    return id_type(id) == MCP_JSONRPC_ID_STRING
           || id_type(id) == MCP_JSONRPC_ID_INT;
}

/* Shared part of requests and notifications. */
static apr_status_t call_create(mcp_jsonrpc_msg_t **pmsg, apr_pool_t *p,
                                const mcp_jsonrpc_id_t *id, const char *method,
                                mcp_json_t *params)
{
    mcp_json_t *obj;
    mcp_jsonrpc_msg_t *msg;
    apr_status_t rv;

    *pmsg = NULL;
    if (!method || !*method
        || (params && !mcp_json_is_object(params) && !mcp_json_is_array(params))) {
        return MCP_EINVALID;
    }
    rv = envelope(&obj, p, id, id != NULL);
    if (rv != APR_SUCCESS) {
        return rv;
    }
    if (mcp_json_set_str(obj, "method", method) != APR_SUCCESS
        || (params && mcp_json_set(obj, "params", params) != APR_SUCCESS)) {
        return MCP_EINVALID;
    }
    msg = msg_new(p, id ? MCP_JSONRPC_REQUEST : MCP_JSONRPC_NOTIFICATION, obj);
    mcp_jsonrpc_id_copy(&msg->id, p, id);
    msg->method = apr_pstrdup(p, method);
    msg->params = params ? mcp_json_ref(p, params) : NULL;
    *pmsg = msg;
    return APR_SUCCESS;
}

apr_status_t mcp_jsonrpc_request_create(mcp_jsonrpc_msg_t **pmsg,
                                        apr_pool_t *p,
                                        const mcp_jsonrpc_id_t *id,
                                        const char *method,
                                        mcp_json_t *params)
{
    if (!id_is_request_id(id)) {
        *pmsg = NULL;
        return MCP_EINVALID;
    }
    return call_create(pmsg, p, id, method, params);
}

apr_status_t mcp_jsonrpc_notification_create(mcp_jsonrpc_msg_t **pmsg,
                                             apr_pool_t *p,
                                             const char *method,
                                             mcp_json_t *params)
{
    return call_create(pmsg, p, NULL, method, params);
}

apr_status_t mcp_jsonrpc_result_create(mcp_jsonrpc_msg_t **pmsg,
                                       apr_pool_t *p,
                                       const mcp_jsonrpc_id_t *id,
                                       mcp_json_t *result)
{
    mcp_json_t *obj;
    mcp_jsonrpc_msg_t *msg;
    apr_status_t rv;

    *pmsg = NULL;
    if (!id_is_request_id(id)) {
        return MCP_EINVALID;
    }
    if (!result && !(result = mcp_json_object(p))) {
        return APR_ENOMEM;
    }
    rv = envelope(&obj, p, id, 1);
    if (rv != APR_SUCCESS) {
        return rv;
    }
    if (mcp_json_set(obj, "result", result) != APR_SUCCESS) {
        return APR_ENOMEM;
    }
    msg = msg_new(p, MCP_JSONRPC_RESULT, obj);
    mcp_jsonrpc_id_copy(&msg->id, p, id);
    msg->result = mcp_json_ref(p, result);
    *pmsg = msg;
    return APR_SUCCESS;
}

apr_status_t mcp_jsonrpc_error_create(mcp_jsonrpc_msg_t **pmsg,
                                      apr_pool_t *p,
                                      const mcp_jsonrpc_id_t *id,
                                      apr_int64_t code, const char *message,
                                      mcp_json_t *data)
{
    mcp_json_t *obj, *err;
    mcp_jsonrpc_msg_t *msg;
    apr_status_t rv;

    *pmsg = NULL;
    if (!message) {
        return MCP_EINVALID;
    }
    rv = envelope(&obj, p, id, 1);
    if (rv != APR_SUCCESS) {
        return rv;
    }
    if (!(err = mcp_json_object(p))) {
        return APR_ENOMEM;
    }
    if (mcp_json_set_int(err, "code", code) != APR_SUCCESS
        || mcp_json_set_str(err, "message", message) != APR_SUCCESS
        || (data && mcp_json_set(err, "data", data) != APR_SUCCESS)
        || mcp_json_set(obj, "error", err) != APR_SUCCESS) {
        return MCP_EINVALID;
    }
    msg = msg_new(p, MCP_JSONRPC_ERROR, obj);
    if (id_is_request_id(id)) {
        mcp_jsonrpc_id_copy(&msg->id, p, id);
    }
    else {
        msg->id.type = MCP_JSONRPC_ID_NULL;
    }
    msg->error_code = code;
    msg->error_message = apr_pstrdup(p, message);
    msg->error_data = data ? mcp_json_ref(p, data) : NULL;
    *pmsg = msg;
    return APR_SUCCESS;
}

apr_status_t mcp_jsonrpc_batch_create(mcp_jsonrpc_msg_t **pmsg,
                                      apr_pool_t *p,
                                      const apr_array_header_t *members)
{
    mcp_json_t *arr = mcp_json_array(p);
    mcp_jsonrpc_msg_t *msg;
    int i, n = members ? members->nelts : 0;

    *pmsg = NULL;
    if (!arr) {
        return APR_ENOMEM;
    }
    msg = msg_new(p, MCP_JSONRPC_BATCH, arr);
    msg->batch = apr_array_make(p, n > 0 ? n : 1, sizeof(mcp_jsonrpc_msg_t *));
    for (i = 0; i < n; i++) {
        mcp_jsonrpc_msg_t *m = APR_ARRAY_IDX(members, i, mcp_jsonrpc_msg_t *);

        if (m && m->kind == MCP_JSONRPC_INVALID) {
            m = m->error_response;
        }
        if (!m || !m->json || m->kind == MCP_JSONRPC_BATCH
            || mcp_json_append(arr, m->json) != APR_SUCCESS) {
            return MCP_EINVALID;
        }
        APR_ARRAY_PUSH(msg->batch, mcp_jsonrpc_msg_t *) = m;
    }
    *pmsg = msg;
    return APR_SUCCESS;
}

const char *mcp_jsonrpc_dump(apr_pool_t *p, const mcp_jsonrpc_msg_t *msg,
                             apr_size_t *plen)
{
    if (!msg) {
        if (plen) {
            *plen = 0;
        }
        return NULL;
    }
    return mcp_json_dump(p, msg->json, MCP_JSON_FMT_COMPACT, plen);
}

apr_status_t mcp_jsonrpc_set_id(mcp_jsonrpc_msg_t *msg,
                                const mcp_jsonrpc_id_t *id)
{
    mcp_jsonrpc_id_t copy;
    mcp_json_t *jid;

    if (!msg) {
        return MCP_EINVALID;
    }
    switch (msg->kind) {
    case MCP_JSONRPC_REQUEST:
    case MCP_JSONRPC_RESULT:
        if (!id_is_request_id(id)) {
            return MCP_EINVALID;
        }
        break;
    case MCP_JSONRPC_ERROR:
        break;
    default:
        return MCP_EINVALID;
    }
    mcp_jsonrpc_id_copy(&copy, msg->pool, id);
    if (!id_is_request_id(&copy)) {
        copy.type = MCP_JSONRPC_ID_NULL;
    }
    jid = id_to_json(msg->pool, &copy);
    if (!jid || mcp_json_set(msg->json, "id", jid) != APR_SUCCESS) {
        return MCP_EINVALID;
    }
    msg->id = copy;
    return APR_SUCCESS;
}

const char *mcp_jsonrpc_kind_name(mcp_jsonrpc_kind_e kind)
{
    switch (kind) {
    case MCP_JSONRPC_REQUEST:      return "request";
    case MCP_JSONRPC_NOTIFICATION: return "notification";
    case MCP_JSONRPC_RESULT:       return "result";
    case MCP_JSONRPC_ERROR:        return "error";
    case MCP_JSONRPC_BATCH:        return "batch";
    case MCP_JSONRPC_INVALID:      return "invalid";
    default:                       return "unknown";
    }
}

/* ---------------------------------------------------------------------- */
/* validation                                                              */

/* Read member "id" of @obj into @id. Returns NULL when it is absent or of a
 * type an id may have (string, integer, null), else the name of its type. */
static const char *read_id(apr_pool_t *p, mcp_json_t *obj, mcp_jsonrpc_id_t *id)
{
    mcp_json_t *v = mcp_json_get(p, obj, "id");

    memset(id, 0, sizeof(*id));
    if (!v) {
        return NULL;
    }
    if (mcp_json_is_string(v)) {
        id->type = MCP_JSONRPC_ID_STRING;
        id->str = apr_pstrmemdup(p, mcp_json_str(v), mcp_json_strlen(v));
        return NULL;
    }
    if (mcp_json_is_int(v)) {
        id->type = MCP_JSONRPC_ID_INT;
        id->num = mcp_json_intval(v);
        return NULL;
    }
    if (mcp_json_is_null(v)) {
        id->type = MCP_JSONRPC_ID_NULL;
        return NULL;
    }
    return mcp_json_type_name(v);
}

static const char *bad_id(apr_pool_t *p, const char *tname)
{
    return apr_psprintf(p, "\"id\" must be a string or an integer, not %s",
                        tname);
}

/* Requests and notifications. */
static const char *check_call(mcp_jsonrpc_msg_t *msg, mcp_json_t *obj,
                              const char *id_tname)
{
    apr_pool_t *p = msg->pool;
    mcp_json_t *v;

    if (mcp_json_has(obj, "result") || mcp_json_has(obj, "error")) {
        return "a request must not have \"result\" or \"error\"";
    }
    v = mcp_json_get(p, obj, "method");
    if (!mcp_json_is_string(v) || mcp_json_strlen(v) == 0) {
        return "\"method\" must be a non-empty string";
    }
    msg->method = apr_pstrmemdup(p, mcp_json_str(v), mcp_json_strlen(v));
    msg->params = mcp_json_get(p, obj, "params");
    if (msg->params && !mcp_json_is_object(msg->params)
        && !mcp_json_is_array(msg->params)) {
        return apr_psprintf(p, "\"params\" must be an object or an array, not %s",
                            mcp_json_type_name(msg->params));
    }
    if (id_tname) {
        return bad_id(p, id_tname);
    }
    switch (msg->id.type) {
    case MCP_JSONRPC_ID_NONE:
        msg->kind = MCP_JSONRPC_NOTIFICATION;
        return NULL;
    case MCP_JSONRPC_ID_NULL:
        return bad_id(p, "null");
    default:
        msg->kind = MCP_JSONRPC_REQUEST;
        return NULL;
    }
}

static const char *check_error_object(mcp_jsonrpc_msg_t *msg, mcp_json_t *obj)
{
    apr_pool_t *p = msg->pool;
    mcp_json_t *err = mcp_json_get(p, obj, "error"), *m;

    if (!mcp_json_is_object(err)) {
        return apr_psprintf(p, "\"error\" must be an object, not %s",
                            mcp_json_type_name(err));
    }
    if (mcp_json_get_int(err, "code", &msg->error_code) != APR_SUCCESS) {
        return "\"error.code\" must be an integer";
    }
    m = mcp_json_get(p, err, "message");
    if (!mcp_json_is_string(m)) {
        return "\"error.message\" must be a string";
    }
    msg->error_message = apr_pstrmemdup(p, mcp_json_str(m), mcp_json_strlen(m));
    msg->error_data = mcp_json_get(p, err, "data");
    msg->kind = MCP_JSONRPC_ERROR;
    return NULL;
}

/* Result and error responses. */
static const char *check_response(mcp_jsonrpc_msg_t *msg, mcp_json_t *obj,
                                  const char *id_tname)
{
    int has_result = mcp_json_has(obj, "result");
    int has_error = mcp_json_has(obj, "error");

    if (has_result && has_error) {
        return "a response must not have both \"result\" and \"error\"";
    }
    if (!has_result && !has_error) {
        return "a message must have \"method\", \"result\" or \"error\"";
    }
    if (id_tname) {
        return bad_id(msg->pool, id_tname);
    }
    if (msg->id.type == MCP_JSONRPC_ID_NONE) {
        return "a response must have an \"id\"";
    }
    if (has_error) {
        /* null is the id of an answer to a message whose id was unreadable */
        return check_error_object(msg, obj);
    }
    if (msg->id.type == MCP_JSONRPC_ID_NULL) {
        return bad_id(msg->pool, "null");
    }
    msg->result = mcp_json_get(msg->pool, obj, "result");
    msg->kind = MCP_JSONRPC_RESULT;
    return NULL;
}

/* Validate one message object into @msg; NULL when valid, else what is
 * wrong. msg->id is filled in whenever the id could be read. */
static const char *check_message(mcp_jsonrpc_msg_t *msg, mcp_json_t *j)
{
    apr_pool_t *p = msg->pool;
    const char *id_tname;
    mcp_json_t *v;

    if (!mcp_json_is_object(j)) {
        return apr_psprintf(p, "a message must be a JSON object, not %s",
                            mcp_json_type_name(j));
    }
    id_tname = read_id(p, j, &msg->id);
    v = mcp_json_get(p, j, "jsonrpc");
    if (!mcp_json_is_string(v) || strcmp(mcp_json_str(v), "2.0") != 0) {
        return "\"jsonrpc\" must be \"2.0\"";
    }
    if (mcp_json_has(j, "method")) {
        return check_call(msg, j, id_tname);
    }
    return check_response(msg, j, id_tname);
}

/* The -32600 answer to an invalid message; its id is the message's id when
 * it is one a reply may carry. */
static apr_status_t invalid_response(mcp_jsonrpc_msg_t **perror, apr_pool_t *p,
                                     const mcp_jsonrpc_id_t *id,
                                     const char *why)
{
    return mcp_jsonrpc_error_create(perror, p, id_is_request_id(id) ? id : NULL,
                                    MCP_JSONRPC_INVALID_REQUEST,
                                    apr_pstrcat(p, "Invalid Request: ", why, NULL),
                                    NULL);
}

/* One member of a batch: a message, or an INVALID one with its answer. */
static apr_status_t batch_member(mcp_jsonrpc_msg_t **pmsg, apr_pool_t *p,
                                 mcp_json_t *j)
{
    mcp_jsonrpc_msg_t *msg = msg_new(p, MCP_JSONRPC_INVALID, j);
    const char *why = check_message(msg, j);

    *pmsg = msg;
    if (!why) {
        return APR_SUCCESS;
    }
    /* An invalid member keeps no half-read fields, only id and answer. */
    msg->kind = MCP_JSONRPC_INVALID;
    msg->method = NULL;
    msg->params = msg->result = msg->error_data = NULL;
    msg->error_message = NULL;
    msg->error_code = 0;
    if (!id_is_request_id(&msg->id)) {
        memset(&msg->id, 0, sizeof(msg->id));
    }
    return invalid_response(&msg->error_response, p, &msg->id, why);
}

static apr_status_t from_batch(mcp_jsonrpc_msg_t **pmsg, apr_pool_t *p,
                               mcp_json_t *arr, int max_batch,
                               mcp_jsonrpc_msg_t **perror)
{
    apr_size_t i, n = mcp_json_size(arr);
    mcp_jsonrpc_msg_t *msg;
    apr_status_t rv;

    if (n == 0) {
        rv = invalid_response(perror, p, NULL, "an empty batch is not a message");
        return rv == APR_SUCCESS ? MCP_EINVALID : rv;
    }
    if (n > (apr_size_t)max_batch) {
        rv = invalid_response(perror, p, NULL,
                              apr_psprintf(p, "batch of %" APR_SIZE_T_FMT
                                           " messages exceeds the limit of %d",
                                           n, max_batch));
        return rv == APR_SUCCESS ? MCP_ETOOLARGE : rv;
    }
    msg = msg_new(p, MCP_JSONRPC_BATCH, arr);
    msg->batch = apr_array_make(p, (int)n, sizeof(mcp_jsonrpc_msg_t *));
    for (i = 0; i < n; i++) {
        mcp_jsonrpc_msg_t *m;

        rv = batch_member(&m, p, mcp_json_array_get(p, arr, i));
        if (rv != APR_SUCCESS) {
            return rv;
        }
        APR_ARRAY_PUSH(msg->batch, mcp_jsonrpc_msg_t *) = m;
    }
    *pmsg = msg;
    return APR_SUCCESS;
}

apr_status_t mcp_jsonrpc_from_json(mcp_jsonrpc_msg_t **pmsg, apr_pool_t *p,
                                   mcp_json_t *json,
                                   const mcp_jsonrpc_limits_t *lim,
                                   mcp_jsonrpc_msg_t **perror)
{
    mcp_jsonrpc_limits_t l;
    mcp_jsonrpc_msg_t *msg, *dummy;
    const char *why;
    apr_status_t rv;

    *pmsg = NULL;
    if (!perror) {
        perror = &dummy;
    }
    *perror = NULL;
    limits_resolve(&l, lim);
    if (!json) {
        rv = invalid_response(perror, p, NULL, "no message");
        return rv == APR_SUCCESS ? MCP_EINVALID : rv;
    }
    if (mcp_json_is_array(json)) {
        return from_batch(pmsg, p, json, l.max_batch, perror);
    }
    msg = msg_new(p, MCP_JSONRPC_INVALID, json);
    why = check_message(msg, json);
    if (why) {
        rv = invalid_response(perror, p, &msg->id, why);
        return rv == APR_SUCCESS ? MCP_EINVALID : rv;
    }
    *pmsg = msg;
    return APR_SUCCESS;
}

apr_status_t mcp_jsonrpc_parse(mcp_jsonrpc_msg_t **pmsg, apr_pool_t *p,
                               const char *data, apr_size_t len,
                               const mcp_jsonrpc_limits_t *lim,
                               mcp_jsonrpc_msg_t **perror)
{
    mcp_jsonrpc_limits_t l;
    mcp_json_limits_t jl;
    mcp_json_t *j = NULL;
    mcp_jsonrpc_msg_t *dummy;
    const char *why = NULL;
    apr_status_t rv, rv2;

    *pmsg = NULL;
    if (!perror) {
        perror = &dummy;
    }
    *perror = NULL;
    limits_resolve(&l, lim);
    if (len > l.max_body) {
        why = apr_psprintf(p, "message of %" APR_SIZE_T_FMT " bytes exceeds "
                           "the limit of %" APR_SIZE_T_FMT " bytes",
                           len, l.max_body);
        rv = invalid_response(perror, p, NULL, why);
        return rv == APR_SUCCESS ? MCP_ETOOLARGE : rv;
    }
    memset(&jl, 0, sizeof(jl));
    jl.max_bytes = l.max_body;
    jl.max_depth = l.max_depth;
    rv = mcp_json_parse(&j, p, data, len, &jl, &why);
    if (rv == MCP_ETOOLARGE) {
        rv2 = invalid_response(perror, p, NULL, ascii_safe(p, why));
        return rv2 == APR_SUCCESS ? rv : rv2;
    }
    if (rv != APR_SUCCESS) {
        rv2 = mcp_jsonrpc_error_create(perror, p, NULL,
                                       MCP_JSONRPC_PARSE_ERROR,
                                       apr_pstrcat(p, "Parse error: ",
                                                   ascii_safe(p, why), NULL),
                                       NULL);
        return rv2 == APR_SUCCESS ? MCP_EPARSE : rv2;
    }
    return mcp_jsonrpc_from_json(pmsg, p, j, &l, perror);
}
