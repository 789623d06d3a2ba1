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

/* The mcp-proxy handler: the Streamable HTTP endpoint. For now it reads
 * and validates one JSON-RPC message (or a 2025-03-26 batch), answers
 * ping itself and says "not implemented" for everything else; the
 * federation issue routes requests to the backends. */

#include <httpd.h>
#include <http_config.h>
#include <http_log.h>
#include <http_protocol.h>
#include <http_request.h>
#include <util_filter.h>
#include <apr_strings.h>

#include "mcp/mcp_common.h"
#include "mcp/mcp_json.h"
#include "mcp/mcp_jsonrpc.h"
#include "mcp_glue.h"
#include "proxy_private.h"

APLOG_USE_MODULE(mcp_proxy);

/* Implementation-defined JSON-RPC code for transport-level refusals, as
 * the MCP SDKs use it (405, 415). */
#define PROXY_TRANSPORT_ERROR (-32000)

/* The only protocol revision that allowed JSON-RPC batches. */
#define PROXY_BATCH_VERSION "2025-03-26"

static int send_msg(request_rec *r, int status, const mcp_jsonrpc_msg_t *msg)
{
    apr_size_t len = 0;
    const char *body = mcp_jsonrpc_dump(r->pool, msg, &len);

    if (!body) {
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    r->status = status;
    ap_set_content_type(r, "application/json");
    apr_table_setn(r->headers_out, "Cache-Control", "no-store");
    ap_set_content_length(r, len);
    if (!r->header_only) {
        ap_rwrite(body, (int)len, r);
    }
    return OK;
}

/* A JSON-RPC error with id null as the body of an HTTP error. */
static int send_error(request_rec *r, int status, apr_int64_t code,
                      const char *message)
{
    mcp_jsonrpc_msg_t *err;

    if (mcp_jsonrpc_error_create(&err, r->pool, NULL, code, message, NULL)
        != APR_SUCCESS) {
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    /* An unread body must not be taken for the next request. */
    if (ap_request_has_body(r)) {
        r->connection->keepalive = AP_CONN_CLOSE;
    }
    return send_msg(r, status, err);
}

static int send_accepted(request_rec *r)
{
    r->status = HTTP_ACCEPTED;
    ap_set_content_length(r, 0);
    return OK;
}

/* application/json, parameters (charset) allowed, case-insensitive. */
static int is_json_type(request_rec *r)
{
    const char *ct = apr_table_get(r->headers_in, "Content-Type");
    apr_size_t n = sizeof("application/json") - 1;

    if (!ct) {
        return 0;
    }
    while (*ct == ' ' || *ct == '\t') {
        ct++;
    }
    return !strncasecmp(ct, "application/json", n)
        && (ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ' || ct[n] == '\t');
}

static int send_too_large(request_rec *r, apr_off_t max)
{
    return send_error(r, HTTP_REQUEST_ENTITY_TOO_LARGE,
                      MCP_JSONRPC_INVALID_REQUEST,
                      apr_psprintf(r->pool, "Request body is larger than "
                                   "%" APR_OFF_T_FMT " bytes", max));
}

/* The answer to one message, or NULL when it gets none. */
static mcp_jsonrpc_msg_t *answer(request_rec *r, const mcp_jsonrpc_msg_t *m)
{
    mcp_jsonrpc_msg_t *out = NULL;

    switch (m->kind) {
    case MCP_JSONRPC_REQUEST:
        if (!strcmp(m->method, "ping")) {
            mcp_jsonrpc_result_create(&out, r->pool, &m->id,
                                      mcp_json_object(r->pool));
        }
        else {
            mcp_jsonrpc_error_create(&out, r->pool, &m->id,
                                     MCP_JSONRPC_METHOD_NOT_FOUND,
                                     "Method not found: federation of "
                                     "upstream MCP servers is not "
                                     "implemented yet", NULL);
        }
        return out;
    case MCP_JSONRPC_INVALID:
        return m->error_response;
    default:
        /* Notifications and responses are accepted without an answer. */
        return NULL;
    }
}

static int answer_batch(request_rec *r, const mcp_jsonrpc_msg_t *batch)
{
    const char *version = apr_table_get(r->headers_in, "MCP-Protocol-Version");
    apr_array_header_t *out;
    mcp_jsonrpc_msg_t *msg;
    int i;

    /* Batches exist in 2025-03-26 only (removed in 2025-06-18); a client
     * that names no version is taken to speak 2025-03-26. */
    if (version && strcmp(version, PROXY_BATCH_VERSION)) {
        return send_error(r, HTTP_BAD_REQUEST, MCP_JSONRPC_INVALID_REQUEST,
                          "JSON-RPC batches are only supported with MCP "
                          "protocol version " PROXY_BATCH_VERSION);
    }
    out = apr_array_make(r->pool, batch->batch->nelts,
                         sizeof(mcp_jsonrpc_msg_t *));
    for (i = 0; i < batch->batch->nelts; i++) {
        msg = answer(r, APR_ARRAY_IDX(batch->batch, i, mcp_jsonrpc_msg_t *));
        if (msg) {
            APR_ARRAY_PUSH(out, mcp_jsonrpc_msg_t *) = msg;
        }
    }
    if (out->nelts == 0) {
        return send_accepted(r);
    }
    if (mcp_jsonrpc_batch_create(&msg, r->pool, out) != APR_SUCCESS) {
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    return send_msg(r, HTTP_OK, msg);
}

/* What the request asks, for access logs (%{MCP_METHOD}e, %{MCP_TOOL}e)
 * and other modules; a response from the client sets nothing. */
static void set_audit_env(request_rec *r, const mcp_jsonrpc_msg_t *msg)
{
    const char *tool;

    if (msg->kind == MCP_JSONRPC_BATCH) {
        apr_table_setn(r->subprocess_env, "MCP_METHOD", "batch");
        return;
    }
    if (!msg->method) {
        return;
    }
    apr_table_setn(r->subprocess_env, "MCP_METHOD", msg->method);
    if (!strcmp(msg->method, "tools/call") && msg->params
        && (tool = mcp_json_get_str(r->pool, msg->params, "name"))) {
        apr_table_setn(r->subprocess_env, "MCP_TOOL", tool);
    }
}

static int handle_post(request_rec *r, const mcp_proxy_dir_conf *conf)
{
    mcp_jsonrpc_limits_t lim;
    mcp_jsonrpc_msg_t *msg, *err = NULL, *out;
    apr_off_t max = mcp_proxy_max_body(conf);
    char *body = NULL;
    apr_size_t len = 0;
    apr_status_t rv;
    int rc;

    rv = mcp_glue_read_body(r, max, &body, &len, &rc);
    if (rv == MCP_ETOOLARGE) {
        return send_too_large(r, max);
    }
    if (rv != APR_SUCCESS) {
        return rc;
    }
    memset(&lim, 0, sizeof(lim));
    lim.max_body = (apr_size_t)max;
    lim.max_depth = mcp_proxy_max_depth(conf);
    rv = mcp_jsonrpc_parse(&msg, r->pool, body ? body : "", len, &lim, &err);
    if (rv != APR_SUCCESS) {
        ap_log_rerror(APLOG_MARK, APLOG_DEBUG, mcp_glue_log_status(rv), r,
                      MCPLOGNO(00601)
                      "invalid JSON-RPC message (%s, %" APR_SIZE_T_FMT
                      " bytes)", mcp_status_name(rv) ? mcp_status_name(rv)
                                                     : "?", len);
        if (!err) {
            return HTTP_BAD_REQUEST;
        }
        return send_msg(r, rv == MCP_ETOOLARGE ? HTTP_REQUEST_ENTITY_TOO_LARGE
                                               : HTTP_BAD_REQUEST, err);
    }
    set_audit_env(r, msg);
    if (msg->kind == MCP_JSONRPC_BATCH) {
        return answer_batch(r, msg);
    }
    out = answer(r, msg);
    return out ? send_msg(r, HTTP_OK, out) : send_accepted(r);
}

int mcp_proxy_handler(request_rec *r)
{
    mcp_proxy_dir_conf *conf;
    const char *msg = NULL;
    int status;

    if (!r->handler || strcmp(r->handler, MCP_PROXY_HANDLER)) {
        return DECLINED;
    }
    conf = ap_get_module_config(r->per_dir_config, &mcp_proxy_module);
    status = mcp_proxy_check_transport(r, conf, &msg);
    if (status != OK) {
        return send_error(r, status, PROXY_TRANSPORT_ERROR, msg);
    }
    if (r->method_number != M_POST) {
        /* Written here rather than returned as HTTP_METHOD_NOT_ALLOWED,
         * which would make httpd compute its own Allow list. */
        apr_table_setn(r->headers_out, "Allow", "POST");
        return send_error(r, HTTP_METHOD_NOT_ALLOWED, PROXY_TRANSPORT_ERROR,
                          "Method not allowed: this MCP endpoint takes POST");
    }
    if (!is_json_type(r)) {
        return send_error(r, HTTP_UNSUPPORTED_MEDIA_TYPE,
                          PROXY_TRANSPORT_ERROR,
                          "Unsupported Media Type: Content-Type must be "
                          "application/json");
    }
    return handle_post(r, conf);
}
