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

/* Calls to the backends: one JSON-RPC message (or a GET stream) per call,
 * run in parallel in one batch of the HTTP client; backend sessions made
 * on demand and again when a backend has forgotten one; the backend's
 * event stream relayed to the client event by event.
 *
 * What a backend gets is built here from nothing: the client's
 * Authorization header, cookies and every other header of its request
 * never reach a backend. A backend gets its own credential (bearer_file,
 * or the user's upstream token from mod_mcp_idp), the backend session id
 * and protocol version of the gateway session, and, when configured, the
 * user name in MCPProxyIdentityHeader.
 *
 * Ids: the gateway sends a client's request to a backend with the
 * client's own id (ids are unique within the client session, and each
 * client session has its own backend sessions); requests a backend sends
 * toward the client get a gateway id (mcp_fed_id_to_gateway()) that names
 * the backend, so the client's answer finds its way back statelessly. */

#include <httpd.h>
#include <http_config.h>
#include <http_core.h>
#include <ap_mpm.h>
#include <scoreboard.h>
#include <http_log.h>
#include <http_protocol.h>
#include <http_request.h>
#include <apr_strings.h>
#include <apr_portable.h>

#include <poll.h>
#include <unistd.h>

#include "mod_mcp.h"
#include "mcp/mcp_common.h"
#include "mcp/mcp_crypto.h"
#include "mcp/mcp_json.h"
#include "mcp/mcp_jsonrpc.h"
#include "mcp/mcp_scope.h"
#include "mcp/mcp_sse.h"
#include "mcp_glue.h"
#include "proxy_private.h"

APLOG_USE_MODULE(mcp_proxy);

/* Most bytes one event of a backend's stream may hold. */
#define MAX_EVENT (16 * 1024 * 1024)
/* Idle GET streams get their keep-alive comments from the tick. */
#define COLLAPSE_INTERVAL APR_USEC_PER_SEC

#define INIT_ID "mcp-gateway-init"

int mcp_proxy_visible(const mcp_proxy_ctx_t *ctx, int b)
{
    const mcp_fed_backend_t *fb = mcp_fed_backend(ctx->ep->fed, b);

    return fb && (!fb->scopes || !fb->scopes->nelts
                  || mcp_scope_covers_all(ctx->granted, fb->scopes));
}

/* ---- the client's side ---- */

static void start_stream(mcp_proxy_ctx_t *ctx)
{
    request_rec *r = ctx->r;

    if (ctx->streaming) {
        return;
    }
    ctx->streaming = 1;
    r->status = HTTP_OK;
    ap_set_content_type(r, "text/event-stream");
    apr_table_setn(r->headers_out, "Cache-Control", "no-cache");
    apr_table_setn(r->headers_out, "X-Accel-Buffering", "no");
    /* mod_deflate would hold events back until its buffer fills. */
    apr_table_setn(r->subprocess_env, "no-gzip", "1");
    apr_table_unset(r->headers_out, "Content-Length");
}

static apr_status_t client_write(mcp_proxy_ctx_t *ctx, const char *buf,
                                 apr_size_t len)
{
    request_rec *r = ctx->r;
    apr_status_t rv;

    if (ctx->client_gone || r->connection->aborted) {
        ctx->client_gone = 1;
        return MCP_ECANCELED;
    }
    start_stream(ctx);
    /* One brigade for the whole stream (ap_rflush() would make one per
     * event in the request pool); each event is flushed at once. */
    if (!ctx->bb) {
        ctx->bb = apr_brigade_create(r->pool, r->connection->bucket_alloc);
    }
    if (len) {
        APR_BRIGADE_INSERT_TAIL(ctx->bb,
                                apr_bucket_transient_create(buf, len,
                                                            ctx->bb->bucket_alloc));
    }
    APR_BRIGADE_INSERT_TAIL(ctx->bb,
                            apr_bucket_flush_create(ctx->bb->bucket_alloc));
    rv = ap_pass_brigade(r->output_filters, ctx->bb);
    apr_brigade_cleanup(ctx->bb);
    if (rv != APR_SUCCESS || r->connection->aborted) {
        ctx->client_gone = 1;
        ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r, MCPLOGNO(01810)
                      "the client went away during an event stream");
        return MCP_ECANCELED;
    }
    ctx->last_write = apr_time_now();
    return APR_SUCCESS;
}

apr_status_t mcp_proxy_client_event(mcp_proxy_ctx_t *ctx, const char *id,
                                    const char *data, apr_size_t len,
                                    apr_int64_t retry)
{
    const char *out;
    apr_size_t olen;
    apr_status_t rv;

    if (!ctx->evpool) {
        apr_pool_create(&ctx->evpool, ctx->r->pool);
    }
    rv = mcp_sse_format(&out, &olen, ctx->evpool, NULL, id, data, len, NULL);
    if (rv == APR_SUCCESS && retry >= 0) {
        out = apr_psprintf(ctx->evpool, "retry: %" APR_INT64_T_FMT "\n%s",
                           retry, out);
        olen = strlen(out);
    }
    if (rv == APR_SUCCESS) {
        rv = client_write(ctx, out, olen);
    }
    apr_pool_clear(ctx->evpool);
    return rv;
}

apr_status_t mcp_proxy_client_keepalive(mcp_proxy_ctx_t *ctx)
{
    static const char comment[] = ": keep-alive\n\n";

    if (!ctx->streaming || ctx->keepalive <= 0
        || apr_time_now() - ctx->last_write < ctx->keepalive) {
        return ctx->client_gone ? MCP_ECANCELED : APR_SUCCESS;
    }
    return client_write(ctx, comment, sizeof(comment) - 1);
}

/* ---- what a backend sends ---- */

/* A task id of backend c->b in @a obj's member "taskId", in gateway form
 * (mcp_fed_id_to_gateway() of it as a string id: the backend is in the
 * id, so tasks/get finds it again without any table). */
static void map_task(mcp_proxy_call_t *c, apr_pool_t *p, mcp_json_t *obj)
{
    const char *tid = obj ? mcp_json_get_str(p, obj, "taskId") : NULL;
    mcp_jsonrpc_id_t id, gw;

    if (!tid) {
        return;
    }
    mcp_jsonrpc_id_from_str(&id, tid);
    if (mcp_fed_id_to_gateway(&gw, p, c->ctx->ep->fed, c->b, &id)
        == APR_SUCCESS) {
        mcp_json_set_str(obj, "taskId", gw.str);
    }
}

/* The task a result or notification relates to (_meta). */
static void map_related_task(mcp_proxy_call_t *c, apr_pool_t *p,
                             mcp_json_t *obj)
{
    mcp_json_t *meta = obj ? mcp_json_get(p, obj, "_meta") : NULL;

    if (meta) {
        map_task(c, p, mcp_json_get(p, meta,
                                    "io.modelcontextprotocol/related-task"));
    }
}

/* A notification of the backend, in gateway form; NULL to drop it. */
static mcp_jsonrpc_msg_t *map_notification(mcp_proxy_call_t *c,
                                           mcp_jsonrpc_msg_t *m,
                                           apr_pool_t *p)
{
    mcp_proxy_ctx_t *ctx = c->ctx;
    const mcp_fed_t *fed = ctx->ep->fed;
    int kind = -1;

    if (!strcmp(m->method, "notifications/tools/list_changed")) {
        kind = MCP_FED_TOOLS;
    }
    else if (!strcmp(m->method, "notifications/prompts/list_changed")) {
        kind = MCP_FED_PROMPTS;
    }
    else if (!strcmp(m->method, "notifications/resources/list_changed")) {
        kind = MCP_FED_RESOURCES;
    }
    if (kind >= 0) {
        /* Backends' list changes collapse into one per second. */
        apr_time_t now = apr_time_now();

        if (now - ctx->list_changed[kind] < COLLAPSE_INTERVAL) {
            return NULL;
        }
        ctx->list_changed[kind] = now;
        return m;
    }
    if (!strcmp(m->method, "notifications/resources/updated") && m->params) {
        const char *uri = mcp_json_get_str(p, m->params, "uri"), *gw;

        if (!uri || mcp_fed_to_gateway(&gw, p, fed, c->b, MCP_FED_RESOURCES,
                                       uri, NULL) != APR_SUCCESS) {
            return NULL;
        }
        m->params = mcp_json_copy(p, m->params);
        mcp_json_set_str(m->params, "uri", gw);
        return m;
    }
    if (!strcmp(m->method, "notifications/tasks/status") && m->params) {
        m->params = mcp_json_copy(p, m->params);
        map_task(c, p, m->params);
        return m;
    }
    if (m->params && mcp_json_has(m->params, "_meta")) {
        m->params = mcp_json_copy(p, m->params);
        map_related_task(c, p, m->params);
    }
    if (!strcmp(m->method, "notifications/cancelled") && m->params) {
        /* The backend cancels one of its own requests to the client. */
        mcp_json_t *rid = mcp_json_get(p, m->params, "requestId");
        mcp_jsonrpc_id_t id, gw;

        if (!rid) {
            return NULL;
        }
        if (mcp_json_is_int(rid)) {
            mcp_jsonrpc_id_from_int(&id, mcp_json_intval(rid));
        }
        else if (mcp_json_is_string(rid)) {
            mcp_jsonrpc_id_from_str(&id, mcp_json_str(rid));
        }
        else {
            return NULL;
        }
        if (mcp_fed_id_to_gateway(&gw, p, fed, c->b, &id) != APR_SUCCESS) {
            return NULL;
        }
        m->params = mcp_json_copy(p, m->params);
        mcp_json_set_str(m->params, "requestId", gw.str);
        return m;
    }
    return m;
}

/* Rebuild a message whose members were changed (the dump uses m->json
 * when set). */
static mcp_jsonrpc_msg_t *rebuild(apr_pool_t *p, mcp_jsonrpc_msg_t *m)
{
    mcp_jsonrpc_msg_t *out = NULL;

    switch (m->kind) {
    case MCP_JSONRPC_NOTIFICATION:
        mcp_jsonrpc_notification_create(&out, p, m->method, m->params);
        break;
    case MCP_JSONRPC_REQUEST:
        mcp_jsonrpc_request_create(&out, p, &m->id, m->method, m->params);
        break;
    default:
        out = m;
    }
    return out;
}

/* The URI of @a item's member @a key in gateway form. */
static void map_uri(mcp_proxy_call_t *c, apr_pool_t *p, mcp_json_t *item,
                    const char *key)
{
    const char *uri = item ? mcp_json_get_str(p, item, key) : NULL, *gw;

    if (uri && mcp_fed_to_gateway(&gw, p, c->ctx->ep->fed, c->b,
                                  MCP_FED_RESOURCES, uri, NULL)
               == APR_SUCCESS) {
        mcp_json_set_str(item, key, gw);
    }
}

/* Results that name resources (resource links and embedded resources of
 * a tool result, the contents of resources/read) name them in gateway
 * form, so that the client can read them through the gateway. @a m is
 * the call's own (parsed for it in @a p): its result is changed in
 * place, not copied first.
 * @return the answer to send: @a m itself or a rebuilt one. */
static mcp_jsonrpc_msg_t *map_result(mcp_proxy_call_t *c, apr_pool_t *p,
                                     mcp_jsonrpc_msg_t *m)
{
    const char *member = NULL;
    int read = 0;
    mcp_json_t *res, *items;
    mcp_jsonrpc_msg_t *out = NULL;
    apr_size_t i, n;

    if (m->kind != MCP_JSONRPC_RESULT || !c->method) {
        return m;
    }
    if (!strncmp(c->method, "tasks/", 6) || !strcmp(c->method, "tools/call")) {
        res = m->result;
        if (!strcmp(c->method, "tasks/list")) {
            items = mcp_json_get(p, res, "tasks");
            for (i = 0, n = items ? mcp_json_size(items) : 0; i < n; i++) {
                map_task(c, p, mcp_json_array_get(p, items, i));
            }
        }
        else {
            /* CreateTaskResult, a Task (tasks/get, tasks/cancel), or a
             * result related to a task (tasks/result) */
            map_task(c, p, mcp_json_get(p, res, "task"));
            if (strcmp(c->method, "tools/call")) {
                map_task(c, p, res);
            }
            map_related_task(c, p, res);
        }
        if (mcp_jsonrpc_result_create(&out, p, &m->id, res) == APR_SUCCESS) {
            m = out;
        }
    }
    if (!mcp_fed_backend(c->ctx->ep->fed, c->b)->prefix) {
        return m;
    }
    if (!strcmp(c->method, "tools/call") || !strcmp(c->method,
                                                     "tasks/result")) {
        member = "content";
    }
    else if (!strcmp(c->method, "resources/read")) {
        member = "contents";
        read = 1;
    }
    else {
        return m;
    }
    res = m->result;
    items = mcp_json_get(p, res, member);
    for (i = 0, n = items ? mcp_json_size(items) : 0; i < n; i++) {
        mcp_json_t *item = mcp_json_array_get(p, items, i);
        const char *type = mcp_json_get_str(p, item, "type");

        if (read) {
            map_uri(c, p, item, "uri");
        }
        else if (type && !strcmp(type, "resource_link")) {
            map_uri(c, p, item, "uri");
        }
        else if (type && !strcmp(type, "resource")) {
            map_uri(c, p, mcp_json_get(p, item, "resource"), "uri");
        }
    }
    if (mcp_jsonrpc_result_create(&out, p, &m->id, res) != APR_SUCCESS) {
        return m;
    }
    return out;
}

/* One message from the backend (a JSON body, @a whole, or an event's
 * data). */
static apr_status_t on_message(mcp_proxy_call_t *c, const char *data,
                               apr_size_t len, const char *event_id,
                               apr_int64_t retry, int whole)
{
    mcp_proxy_ctx_t *ctx = c->ctx;
    apr_pool_t *p = c->req->pool;
    mcp_jsonrpc_msg_t *m, *out;
    mcp_jsonrpc_id_t gw;
    const char *gid = NULL, *body;
    apr_size_t blen;
    apr_pool_t *tp;
    apr_status_t rv = APR_SUCCESS;

    /* Everything of one event lives in tp: a stream of any length costs
     * the request's pool nothing (only the answer is kept, in p). */
    apr_pool_create(&tp, p);
    if (event_id && *event_id) {
        gid = apr_pstrcat(tp, ctx->ep->backends[c->b].conf->name, ":",
                          event_id, NULL);
    }
    if (len == 0) {
        /* A priming event (SEP-1699): an id, maybe a retry, no data. */
        if (c->relay && (gid || retry >= 0)) {
            rv = mcp_proxy_client_event(ctx, gid, "", 0, retry);
        }
        apr_pool_destroy(tp);
        return rv;
    }
    /* A JSON body is one message: parsed once, in the call's pool, where
     * an answer is kept. An event is parsed in tp first: most of a
     * stream's are not the answer. */
    if (mcp_jsonrpc_parse(&m, whole ? p : tp, data, len, NULL, NULL)
        != APR_SUCCESS
        || m->kind == MCP_JSONRPC_BATCH || m->kind == MCP_JSONRPC_INVALID) {
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, ctx->r, MCPLOGNO(01811)
                      "backend %s sent a message that is not JSON-RPC "
                      "(%" APR_SIZE_T_FMT " bytes); dropped",
                      ctx->ep->backends[c->b].conf->name, len);
        apr_pool_destroy(tp);
        return APR_SUCCESS;
    }
    switch (m->kind) {
    case MCP_JSONRPC_RESULT:
    case MCP_JSONRPC_ERROR:
        if (c->expect && mcp_jsonrpc_id_equal(&m->id, &c->id)) {
            /* Kept in the call's pool: the caller reads it. */
            if (!whole && mcp_jsonrpc_parse(&m, p, data, len, NULL, NULL)
                          != APR_SUCCESS) {
                break;
            }
            c->answer = map_result(c, p, m);
            if (c->relay && ctx->streaming
                && (body = mcp_jsonrpc_dump(tp, c->answer, &blen))) {
                rv = mcp_proxy_client_event(ctx, gid, body, blen, retry);
                c->answered = (rv == APR_SUCCESS);
            }
        }
        break;
    case MCP_JSONRPC_REQUEST:
        /* toward the client: sampling, elicitation, roots, ping */
        if (c->relay
            && mcp_fed_id_to_gateway(&gw, tp, ctx->ep->fed, c->b, &m->id)
               == APR_SUCCESS) {
            m->id = gw;
            if (m->params) {
                m->params = mcp_json_copy(tp, m->params);
                map_related_task(c, tp, m->params);
            }
            out = rebuild(tp, m);
            if (out && (body = mcp_jsonrpc_dump(tp, out, &blen))) {
                rv = mcp_proxy_client_event(ctx, gid, body, blen, retry);
            }
        }
        break;
    case MCP_JSONRPC_NOTIFICATION:
        if (c->relay && (out = map_notification(c, m, tp))) {
            out = rebuild(tp, out);
            if (out && (body = mcp_jsonrpc_dump(tp, out, &blen))) {
                rv = mcp_proxy_client_event(ctx, gid, body, blen, retry);
            }
        }
        break;
    default:
        break;
    }
    apr_pool_destroy(tp);
    return rv;
}

static apr_status_t on_event(void *baton, const mcp_sse_event_t *ev)
{
    mcp_proxy_call_t *c = baton;

    if (strcmp(ev->type, "message")) {
        return APR_SUCCESS;
    }
    return on_message(c, ev->data, ev->data_len, ev->id, ev->retry, 0);
}

static apr_status_t on_body(const mcp_http_response_t *resp,
                            const char *data, apr_size_t len, void *baton)
{
    mcp_proxy_call_t *c = baton;

    if (!c->sse) {
        return MCP_EPROTO;
    }
    return mcp_sse_parser_feed(c->sse, data, len);
}

static apr_status_t on_headers(const mcp_http_response_t *resp, void *baton)
{
    mcp_proxy_call_t *c = baton;

    if (resp->streamed) {
        if (resp->status != HTTP_OK) {
            return APR_SUCCESS;
        }
        if (mcp_sse_parser_create(&c->sse, c->req->pool, MAX_EVENT,
                                  on_event, c) != APR_SUCCESS) {
            return APR_ENOMEM;
        }
        /* A client waiting for this stream's events gets its headers
         * now, so that it sees the first event as soon as it comes. */
        if (c->relay && c->stream) {
            return client_write(c->ctx, NULL, 0);
        }
    }
    return APR_SUCCESS;
}

/* Has the client closed its connection? Looked at while a backend is
 * slow to answer, so that a client that went away cancels the backend
 * request at once instead of when its answer cannot be written. The peer
 * half-closing (POLLRDHUP) counts; bytes waiting to be read (a pipelined
 * request, a TLS alert) do not. At most four times a second, the first
 * a quarter second after the request came (ctx->checked starts then). */
static int client_closed(mcp_proxy_ctx_t *ctx)
{
    apr_socket_t *sock = ap_get_conn_socket(ctx->r->connection);
    apr_time_t now = apr_time_now();
    apr_os_sock_t fd;
    struct pollfd pfd;

    if (now - ctx->checked < APR_USEC_PER_SEC / 4) {
        return 0;
    }
    ctx->checked = now;
    if (!sock || apr_os_sock_get(&fd, sock) != APR_SUCCESS) {
        return 0;
    }
    pfd.fd = fd;
    pfd.events = POLLRDHUP;
    pfd.revents = 0;
    return poll(&pfd, 1, 0) == 1
        && (pfd.revents & (POLLRDHUP | POLLHUP | POLLERR));
}

/* A GET stream looks at its session every few seconds: when it is gone
 * (deleted, expired, maybe by another process or node) the stream ends;
 * when what the client may see changed (other scopes, or the user linked
 * or unlinked an upstream: the subject's links generation moved), the
 * client hears list_changed for all three lists. */
#define PEEK_INTERVAL apr_time_from_sec(2)

static apr_status_t watch_session(mcp_proxy_ctx_t *ctx)
{
    static const char *const methods[] = {
        "notifications/tools/list_changed",
        "notifications/prompts/list_changed",
        "notifications/resources/list_changed"
    };
    apr_time_t now = apr_time_now();
    apr_int64_t changes = 0, links;
    apr_size_t i;

    if (!ctx->sess || now - ctx->peeked < PEEK_INTERVAL) {
        return APR_SUCCESS;
    }
    ctx->peeked = now;
    if (mcp_proxy_session_peek(ctx->r, ctx->sess->id, &changes)
        != APR_SUCCESS) {
        ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, ctx->r, MCPLOGNO(01816)
                      "the session of this stream is gone; ending it");
        return MCP_ECANCELED;
    }
    links = mcp_proxy_session_links(ctx->r, ctx->ep, ctx->sess);
    if (changes <= ctx->sess->changes && links == ctx->sess->links) {
        return APR_SUCCESS;
    }
    if (changes > ctx->sess->changes) {
        ctx->sess->changes = changes;
    }
    ctx->sess->links = links;
    for (i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
        const char *ev = apr_psprintf(ctx->r->pool, "{\"jsonrpc\":\"2.0\","
                                      "\"method\":\"%s\"}", methods[i]);

        ctx->list_changed[i] = now;
        if (mcp_proxy_client_event(ctx, NULL, ev, strlen(ev), -1)
            != APR_SUCCESS) {
            return MCP_ECANCELED;
        }
    }
    return APR_SUCCESS;
}

/* Must this child's streams end? When it stops because httpd stops or
 * restarts: the streams end rather than hold the stop (or the old
 * configuration) until the clients go. A restart has a new generation; a
 * stop, graceful or not, stops every child of this one's generation. Not
 * when the MPM retires this child alone (more threads idle than
 * MaxSpareThreads): as mod_proxy's, its streams go on until they end,
 * the child gracefully finishing meanwhile, and no client loses its
 * stream because the server got quieter. */
static int mpm_stopping(void)
{
    int state = AP_MPMQ_RUNNING, gen = 0, limit = 0, i;
    pid_t me = getpid();

    if (ap_mpm_query(AP_MPMQ_MPM_STATE, &state) != APR_SUCCESS
        || state != AP_MPMQ_STOPPING) {
        return 0;
    }
    if (!ap_scoreboard_image
        || ap_mpm_query(AP_MPMQ_GENERATION, &gen) != APR_SUCCESS
        || ap_scoreboard_image->global->running_generation != gen
        || ap_mpm_query(AP_MPMQ_HARD_LIMIT_DAEMONS, &limit) != APR_SUCCESS) {
        return 1;
    }
    for (i = 0; i < limit; i++) {
        const process_score *ps = ap_get_scoreboard_process(i);

        if (ps && ps->pid && ps->pid != me && ps->generation == gen
            && !ps->quiescing) {
            return 0;   /* the server goes on: this child alone retires */
        }
    }
    return 1;
}

void mcp_proxy_own_stream(mcp_proxy_ctx_t *ctx)
{
    static const char opened[] = ": gateway stream\n\n";

    /* The headers and a first comment at once: the client sees the
     * stream open. */
    if (client_write(ctx, opened, sizeof(opened) - 1) != APR_SUCCESS) {
        return;
    }
    while (!ctx->client_gone && !ctx->r->connection->aborted) {
        apr_sleep(apr_time_from_msec(250));
        if (mpm_stopping() || client_closed(ctx)) {
            ctx->client_gone = 1;
            break;
        }
        if (watch_session(ctx) != APR_SUCCESS
            || mcp_proxy_client_keepalive(ctx) != APR_SUCCESS) {
            break;
        }
    }
}

static apr_status_t on_tick(const mcp_http_response_t *resp, void *baton)
{
    mcp_proxy_call_t *c = baton;

    if (c->ctx->client_gone || c->ctx->r->connection->aborted) {
        return MCP_ECANCELED;
    }
    if (c->stream && mpm_stopping()) {
        c->ctx->client_gone = 1;
        return MCP_ECANCELED;
    }
    if (client_closed(c->ctx)) {
        ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, c->ctx->r, MCPLOGNO(01815)
                      "the client closed its connection; cancelling the "
                      "request to backend %s",
                      c->ctx->ep->backends[c->b].conf->name);
        c->ctx->client_gone = 1;
        c->ctx->r->connection->aborted = 1;
        return MCP_ECANCELED;
    }
    if (c->relay && c->stream) {
        apr_status_t rv = watch_session(c->ctx);

        if (rv != APR_SUCCESS) {
            return rv;
        }
    }
    if (c->relay) {
        return mcp_proxy_client_keepalive(c->ctx);
    }
    return APR_SUCCESS;
}

mcp_proxy_call_t *mcp_proxy_call_make(mcp_proxy_ctx_t *ctx, int b,
                                      const mcp_jsonrpc_msg_t *msg)
{
    mcp_proxy_call_t *c = apr_pcalloc(ctx->r->pool, sizeof(*c));

    c->ctx = ctx;
    c->b = b;
    c->http_method = "POST";
    if (msg) {
        c->method = msg->method;
        c->body = mcp_jsonrpc_dump(ctx->r->pool, msg, &c->len);
        if (msg->kind == MCP_JSONRPC_REQUEST) {
            c->expect = 1;
            mcp_jsonrpc_id_copy(&c->id, ctx->r->pool, &msg->id);
        }
    }
    return c;
}

static void fail(mcp_proxy_call_t *c, const char *reason, const char *text)
{
    if (!c->reason) {
        c->reason = reason;
        c->reason_text = text;
    }
}

/* Stop waiting for backend @a b @a wait from now, unless already set. */
static void set_deadline(mcp_proxy_ctx_t *ctx, int b, apr_interval_time_t wait)
{
    if (!ctx->deadline) {
        ctx->deadline = apr_pcalloc(ctx->r->pool, sizeof(apr_time_t)
                                    * ctx->ep->nbackends);
    }
    if (!ctx->deadline[b]) {
        ctx->deadline[b] = apr_time_now() + wait;
    }
}

/* Headers and credential of one call; NULL or why it cannot be sent. */
static const char *prepare(mcp_proxy_call_t *c, apr_pool_t *p)
{
    mcp_proxy_ctx_t *ctx = c->ctx;
    const mcp_proxy_rt_backend_t *be = &ctx->ep->backends[c->b];
    const char *err = NULL, *v;
    mcp_http_t *http = mcp_proxy_http();
    mcp_http_request_t *req;

    if (!http) {
        return "the gateway has no HTTP client";
    }
    if (mcp_http_request_create(&req, p, http, c->http_method,
                                be->conf->url, &err) != APR_SUCCESS) {
        return err;
    }
    c->req = req;
    req->mode = MCP_HTTP_MODE_AUTO;
    req->on_body = on_body;
    req->on_headers = on_headers;
    req->on_tick = on_tick;
    req->baton = c;
    req->timeout = be->timeout;
    if (!c->stream) {
        apr_time_t now = apr_time_now();

        set_deadline(ctx, c->b, c->short_wait && be->timeout
                                > MCP_PROXY_DOWN_WAIT ? MCP_PROXY_DOWN_WAIT
                                                      : be->timeout);
        /* At least a moment, so that a call after a slow initialize is
         * still sent rather than failed unasked. */
        req->timeout = ctx->deadline[c->b] - now;
        if (req->timeout < apr_time_from_msec(100)) {
            req->timeout = apr_time_from_msec(100);
        }
    }
    req->idle_timeout = c->stream ? 0 : req->timeout;
    if (!strcmp(c->http_method, "GET")) {
        mcp_http_request_header(req, "Accept", "text/event-stream", NULL);
    }
    else if (!strcmp(c->http_method, "POST")) {
        mcp_http_request_header(req, "Accept",
                                "application/json, text/event-stream", NULL);
        mcp_http_request_body(req, c->body, c->len, "application/json", NULL);
    }
    if (ctx->sess && ctx->sess->bsid[c->b] && *ctx->sess->bsid[c->b]) {
        mcp_http_request_header(req, "Mcp-Session-Id", ctx->sess->bsid[c->b],
                                NULL);
    }
    v = ctx->sess && ctx->sess->bversion[c->b] ? ctx->sess->bversion[c->b]
        : NULL;
    if (v) {
        mcp_http_request_header(req, "MCP-Protocol-Version", v, NULL);
    }
    if (c->last_event_id) {
        if (mcp_http_request_header(req, "Last-Event-ID", c->last_event_id,
                                    NULL) != APR_SUCCESS) {
            return "the Last-Event-ID cannot be sent";
        }
    }
    if (be->bearer) {
        mcp_http_request_header(req, "Authorization",
                                apr_pstrcat(p, "Bearer ", be->bearer, NULL),
                                NULL);
    }
    else if (be->conf->idp) {
        APR_OPTIONAL_FN_TYPE(mcp_idp_upstream_credential) *get =
            APR_RETRIEVE_OPTIONAL_FN(mcp_idp_upstream_credential);
        const char *name = NULL, *value = NULL;
        mcp_idp_error_t *ie = NULL;

        if (!get || get(ctx->r, be->conf->idp,
                        c->rejected ? c->credential : NULL, &name, &value,
                        &ie) != APR_SUCCESS || !name || !value) {
            c->idp_error = ie;
            fail(c, ie && ie->type ? "authorization_required" : "unreachable",
                 ie && ie->message ? ie->message
                 : apr_psprintf(p, "no %s credential for this user",
                                be->conf->idp));
            return "";
        }
        if (mcp_http_request_header(req, name, value, NULL) != APR_SUCCESS) {
            fail(c, "unreachable", "the upstream credential is not a valid "
                 "header");
            return "";
        }
        c->credential = value;
    }
    if (ctx->conf->identity_header && *ctx->conf->identity_header
        && ctx->r->user) {
        mcp_http_request_header(req, ctx->conf->identity_header,
                                ctx->r->user, NULL);
    }
    return NULL;
}

/* Why a finished call failed, in a word and in plain words. */
static void classify(mcp_proxy_call_t *c)
{
    const mcp_http_response_t *resp = c->resp;
    apr_pool_t *p = c->req->pool;

    if (c->reason) {
        return;
    }
    if (!resp) {
        fail(c, "unreachable", "it could not be asked");
        return;
    }
    if (c->answer) {
        /* The answer came; how the stream ended after it is no matter. */
        return;
    }
    switch (resp->rv) {
    case APR_SUCCESS:
        break;
    case MCP_ETIMEOUT:
    case MCP_EDEADLINE:
        fail(c, "timeout", "it did not answer in time");
        return;
    case MCP_ETOOLARGE:
        fail(c, "too_large", "its answer is larger than the gateway takes");
        return;
    case MCP_ECANCELED:
        fail(c, "canceled", "the request was cancelled");
        return;
    case APR_ECONNREFUSED:
    case MCP_ENOTFOUND:
        fail(c, "unreachable", "it cannot be reached");
        return;
    case MCP_EPROTO:
        if (resp->streamed) {
            fail(c, "stream_cut", "its event stream broke off");
        }
        else {
            fail(c, "bad_response", "it broke HTTP");
        }
        return;
    default:
        fail(c, "unreachable", apr_psprintf(p, "it cannot be reached (%s)",
                                            resp->error ? resp->error
                                                        : "transport error"));
        return;
    }
    if (resp->status == HTTP_UNAUTHORIZED || resp->status == HTTP_FORBIDDEN) {
        fail(c, "unauthorized", apr_psprintf(p, "it refused the gateway's "
                                             "credentials (HTTP %d)",
                                             resp->status));
        return;
    }
    if (resp->status >= 300 && !(resp->status == HTTP_ACCEPTED)) {
        fail(c, "http_error", apr_psprintf(p, "it answered HTTP %d",
                                           resp->status));
        return;
    }
    if (resp->streamed && c->sse
        && mcp_sse_parser_finish(c->sse) == MCP_EPROTO && !c->answer) {
        fail(c, "stream_cut", "its event stream broke off mid-event");
        return;
    }
    if (!resp->streamed && resp->status == HTTP_OK && c->expect) {
        const char *mt = mcp_http_response_media_type(p, resp);

        if (mt && !strcmp(mt, "application/json") && resp->body) {
            on_message(c, resp->body, resp->body_len, NULL, -1, 1);
        }
        if (!c->answer) {
            fail(c, "bad_response", "its answer is not the JSON-RPC "
                 "response the gateway asked for");
            return;
        }
    }
    if (c->expect && !c->answer && !c->stream) {
        fail(c, resp->streamed ? "stream_cut" : "bad_response",
             resp->streamed ? "its event stream ended without the answer"
                            : "it gave no JSON-RPC answer");
    }
}

/* ---- running calls: one batch, calls added as others finish ---- */

static void add_call(mcp_proxy_ctx_t *ctx, mcp_proxy_call_t *c);

/* A call is finished: judge it, then do what follows it (its "then"). */
static void call_done(const mcp_http_response_t *resp, void *baton)
{
    mcp_proxy_call_t *c = baton;

    c->resp = (mcp_http_response_t *)resp;
    if (!c->reason) {
        classify(c);
    }
    if (c->then) {
        c->then(c);
    }
}

static void add_call(mcp_proxy_ctx_t *ctx, mcp_proxy_call_t *c)
{
    const char *err;

    c->resp = NULL;
    c->sse = NULL;
    if ((err = prepare(c, ctx->r->pool))) {
        fail(c, "unreachable", err);
    }
    else {
        c->req->on_done = call_done;
        if (mcp_http_batch_add(ctx->batch, c->req, NULL) == APR_SUCCESS) {
            return;
        }
        fail(c, "unreachable", "too many backend requests at once");
    }
    if (c->then) {
        c->then(c);
    }
}

static int has_session(const mcp_proxy_ctx_t *ctx, int b)
{
    return ctx->sess && ctx->sess->bsid[b];
}

static mcp_jsonrpc_msg_t *init_message(mcp_proxy_ctx_t *ctx)
{
    apr_pool_t *p = ctx->r->pool;
    mcp_json_t *params = mcp_json_object(p), *info;
    mcp_jsonrpc_msg_t *init = NULL;
    mcp_jsonrpc_id_t id;

    mcp_json_set_str(params, "protocolVersion", ctx->sess->version);
    mcp_json_set(params, "capabilities", ctx->sess->client_caps
                 ? ctx->sess->client_caps : mcp_json_object(p));
    info = ctx->sess->client_info;
    if (!info) {
        info = mcp_json_object(p);
        mcp_json_set_str(info, "name", "mod_mcp");
        mcp_json_set_str(info, "version", MCP_VERSION);
    }
    mcp_json_set(params, "clientInfo", info);
    mcp_jsonrpc_id_from_str(&id, INIT_ID);
    mcp_jsonrpc_request_create(&init, p, &id, "initialize", params);
    return init;
}

/* The waiters of an initialize that failed fail with its reason. */
static void fail_waiters(mcp_proxy_call_t *c)
{
    int i;

    for (i = 0; c->waiters && i < c->waiters->nelts; i++) {
        mcp_proxy_call_t *w = APR_ARRAY_IDX(c->waiters, i, mcp_proxy_call_t *);

        fail(w, c->ctx->init_reason ? c->ctx->init_reason[c->b] : "unreachable",
             c->ctx->init_text ? c->ctx->init_text[c->b]
                               : "its session could not be made");
        /* No upstream credential for initialize: the waiting call tells
         * the user how to link (URL elicitation or -32003), as a call
         * without a session would. */
        w->idp_error = c->idp_error;
        if (w->then) {
            w->then(w);
        }
    }
}

/* notifications/initialized is out: the calls waiting for the session go. */
static void initialized_then(mcp_proxy_call_t *c)
{
    int i;

    for (i = 0; c->waiters && i < c->waiters->nelts; i++) {
        add_call(c->ctx, APR_ARRAY_IDX(c->waiters, i, mcp_proxy_call_t *));
    }
}

/* An initialize is answered: keep the backend session, tell the backend
 * initialized, then send what waited for it. */
static void init_then(mcp_proxy_call_t *c)
{
    mcp_proxy_ctx_t *ctx = c->ctx;
    apr_pool_t *p = ctx->r->pool;
    mcp_jsonrpc_msg_t *note;
    mcp_proxy_call_t *n;
    const char *sid, *v;

    if (ctx->init_results) {
        ctx->init_results[c->b] = NULL;
    }
    /* The backend refused the user's upstream credential (revoked there):
     * asked again once, with a refreshed one (or the user hears how to
     * link again), as mcp_proxy_calls_run() does for other calls. */
    if (c->resp && c->resp->rv == APR_SUCCESS
        && c->resp->status == HTTP_UNAUTHORIZED && !c->rejected
        && ctx->ep->backends[c->b].conf->idp) {
        c->rejected = 1;
        c->reason = c->reason_text = NULL;
        add_call(ctx, c);
        return;
    }
    if (c->reason || !c->answer || c->answer->kind != MCP_JSONRPC_RESULT) {
        if (!ctx->init_reason) {
            ctx->init_reason = apr_pcalloc(p, sizeof(char *)
                                           * ctx->ep->nbackends);
            ctx->init_text = apr_pcalloc(p, sizeof(char *)
                                         * ctx->ep->nbackends);
        }
        ctx->init_reason[c->b] = c->reason ? c->reason : "bad_response";
        ctx->init_text[c->b] = c->reason_text ? c->reason_text
            : apr_psprintf(p, "it refused initialize (%s)",
                           c->answer && c->answer->error_message
                           ? c->answer->error_message : "no result");
        ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, ctx->r, MCPLOGNO(01812)
                      "backend %s: initialize failed: %s",
                      ctx->ep->backends[c->b].conf->name,
                      ctx->init_text[c->b]);
        fail_waiters(c);
        return;
    }
    sid = mcp_http_response_header(c->resp, "Mcp-Session-Id");
    v = mcp_json_get_str(p, c->answer->result, "protocolVersion");
    ctx->sess->bsid[c->b] = apr_pstrdup(p, sid ? sid : "");
    ctx->sess->bversion[c->b] = v && mcp_fed_version_supported(v)
                                ? v : ctx->sess->version;
    ctx->sess_dirty = 1;
    if (ctx->init_results) {
        ctx->init_results[c->b] = c->answer->result;
    }
    mcp_jsonrpc_notification_create(&note, p, "notifications/initialized",
                                    NULL);
    n = mcp_proxy_call_make(ctx, c->b, note);
    n->waiters = c->waiters;
    n->then = initialized_then;
    add_call(ctx, n);
}

/* Start a new session at backend @a b, then send @a waiters. */
static void add_init(mcp_proxy_ctx_t *ctx, int b, apr_array_header_t *waiters)
{
    mcp_proxy_call_t *c;

    /* A new backend session: drop the old id, ask without one. */
    ctx->sess->bsid[b] = NULL;
    ctx->sess->bversion[b] = NULL;
    if (!ctx->init_msg) {
        ctx->init_msg = init_message(ctx);
    }
    c = mcp_proxy_call_make(ctx, b, ctx->init_msg);
    c->waiters = waiters;
    c->then = init_then;
    add_call(ctx, c);
}

/* A new batch for one round of calls (a batch counts every request ever
 * added to it against MCP_HTTP_MAX_BATCH). */
static apr_status_t start_batch(mcp_proxy_ctx_t *ctx)
{
    const char *err = NULL;

    ctx->batch = NULL;
    return mcp_http_batch_create(&ctx->batch, ctx->r->pool, mcp_proxy_http(),
                                 &err);
}

void mcp_proxy_backends_init(mcp_proxy_ctx_t *ctx, const int *which, int n,
                             mcp_json_t **results)
{
    int i;

    if (start_batch(ctx) != APR_SUCCESS) {
        return;
    }
    ctx->init_results = results;
    for (i = 0; i < n; i++) {
        add_init(ctx, which[i], NULL);
    }
    mcp_http_batch_run(ctx->batch);
    ctx->init_results = NULL;
}

/* Send @a calls: those to a backend without a session wait for its
 * initialize (one per backend), the others go at once, all in one batch,
 * so that a backend slow to make its session holds up only its own
 * calls. */
static void send_all(mcp_proxy_ctx_t *ctx, mcp_proxy_call_t **calls, int n,
                     int renew)
{
    apr_array_header_t **waiters = apr_pcalloc(ctx->r->pool, sizeof(*waiters)
                                               * ctx->ep->nbackends);
    int i;

    for (i = 0; i < n; i++) {
        int b = calls[i]->b;

        if (!renew && has_session(ctx, b)) {
            add_call(ctx, calls[i]);
            continue;
        }
        if (!waiters[b]) {
            waiters[b] = apr_array_make(ctx->r->pool, 2, sizeof(void *));
        }
        APR_ARRAY_PUSH(waiters[b], mcp_proxy_call_t *) = calls[i];
    }
    for (i = 0; i < ctx->ep->nbackends; i++) {
        if (waiters[i]) {
            add_init(ctx, i, waiters[i]);
        }
    }
    mcp_http_batch_run(ctx->batch);
}

void mcp_proxy_calls_run(mcp_proxy_ctx_t *ctx, mcp_proxy_call_t **calls,
                         int n)
{
    apr_pool_t *p = ctx->r->pool;
    mcp_proxy_call_t **renew = apr_pcalloc(p, sizeof(*renew) * (n + 1));
    mcp_proxy_call_t **again = apr_pcalloc(p, sizeof(*again) * (n + 1));
    int i, nn = 0, na = 0;

    if (start_batch(ctx) != APR_SUCCESS) {
        for (i = 0; i < n; i++) {
            fail(calls[i], "unreachable", "no HTTP batch");
        }
        return;
    }
    for (i = 0; i < n; i++) {
        if (calls[i]->short_wait) {
            set_deadline(ctx, calls[i]->b, MCP_PROXY_DOWN_WAIT);
        }
    }
    send_all(ctx, calls, n, 0);
    /* Asked again, once: after a 401 of a backend with idp= (with a
     * refreshed upstream token), and after a 404 to a request with a
     * backend session (the backend forgot it: restarted, expired) with a
     * new session. */
    for (i = 0; i < n; i++) {
        mcp_proxy_call_t *c = calls[i];
        int status = c->resp && c->resp->rv == APR_SUCCESS ? c->resp->status
                                                           : 0;

        if (c->answered || ctx->streaming || c->answer) {
            continue;
        }
        if (status == HTTP_UNAUTHORIZED && !c->rejected
            && ctx->ep->backends[c->b].conf->idp) {
            c->rejected = 1;
            c->reason = c->reason_text = NULL;
            again[na++] = c;
        }
        else if (status == HTTP_NOT_FOUND && !c->retried
                 && ctx->sess->bsid[c->b] && *ctx->sess->bsid[c->b]) {
            c->retried = 1;
            c->reason = c->reason_text = NULL;
            renew[nn++] = c;
        }
    }
    if (nn && start_batch(ctx) == APR_SUCCESS) {
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, ctx->r, MCPLOGNO(01813)
                      "backend session(s) gone; making new ones");
        send_all(ctx, renew, nn, 1);
    }
    if (na && start_batch(ctx) == APR_SUCCESS) {
        send_all(ctx, again, na, 0);
    }
}

/* Has the client said it takes URL-mode elicitations? */
static int client_takes_url_elicitation(const mcp_proxy_ctx_t *ctx,
                                        apr_pool_t *p)
{
    mcp_json_t *caps = ctx->sess ? ctx->sess->client_caps : NULL;

    return caps && mcp_json_getp(p, caps, "elicitation", "url", NULL);
}

/* The answer when the user must first link (or relink) an upstream:
 * URL-mode elicitation (-32042) for a client that declared it, else a
 * JSON-RPC error whose data says what to do and whose message holds the
 * URL in plain words, which chat clients show as a link. */
static mcp_jsonrpc_msg_t *link_error(mcp_proxy_call_t *c,
                                     const mcp_jsonrpc_id_t *id)
{
    const mcp_idp_error_t *ie = c->idp_error;
    apr_pool_t *p = c->ctx->r->pool;
    mcp_json_t *data = mcp_json_object(p), *scopes = mcp_json_array(p);
    mcp_jsonrpc_msg_t *err = NULL;
    const char *message = ie->message ? ie->message
        : apr_psprintf(p, "Connect your %s account first: open %s",
                       ie->provider, ie->authorize_url);
    int i;

    for (i = 0; ie->scopes && i < ie->scopes->nelts; i++) {
        mcp_json_append_str(scopes, APR_ARRAY_IDX(ie->scopes, i,
                                                  const char *));
    }
    if (ie->authorize_url && client_takes_url_elicitation(c->ctx, p)) {
        mcp_json_t *els = mcp_json_array(p), *el = mcp_json_object(p);
        const char *eid = NULL;

        mcp_crypto_token(&eid, p, 16);
        mcp_json_set_str(el, "mode", "url");
        mcp_json_set_str(el, "elicitationId", eid ? eid : "link");
        mcp_json_set_str(el, "url", ie->authorize_url);
        mcp_json_set_str(el, "message", message);
        mcp_json_append(els, el);
        mcp_json_set(data, "elicitations", els);
        mcp_jsonrpc_error_create(&err, p, id, MCP_PROXY_URL_ELICITATION,
                                 message, data);
        return err;
    }
    mcp_json_set_str(data, "type", ie->type);
    mcp_json_set_str(data, "provider", ie->provider);
    if (ie->reason) {
        mcp_json_set_str(data, "reason", ie->reason);
    }
    mcp_json_set(data, "scopes", scopes);
    if (ie->authorize_url) {
        mcp_json_set_str(data, "authorize_url", ie->authorize_url);
    }
    mcp_jsonrpc_error_create(&err, p, id, MCP_PROXY_LINK_REQUIRED, message,
                             data);
    return err;
}

mcp_jsonrpc_msg_t *mcp_proxy_call_error(mcp_proxy_call_t *c,
                                        const mcp_jsonrpc_id_t *id)
{
    apr_pool_t *p = c->ctx->r->pool;
    const char *name = c->ctx->ep->backends[c->b].conf->name;
    mcp_json_t *data = mcp_json_object(p);
    mcp_jsonrpc_msg_t *err = NULL;

    if (c->idp_error && c->idp_error->type) {
        return link_error(c, id);
    }
    mcp_json_set_str(data, "backend", name);
    mcp_json_set_str(data, "reason", c->reason ? c->reason : "bad_response");
    mcp_jsonrpc_error_create(&err, p, id, MCP_JSONRPC_INTERNAL_ERROR,
                             apr_psprintf(p, "Backend %s failed: %s", name,
                                          c->reason_text ? c->reason_text
                                          : "no answer"), data);
    ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, c->ctx->r, MCPLOGNO(01814)
                  "backend %s failed (%s): %s", name,
                  c->reason ? c->reason : "bad_response",
                  c->reason_text ? c->reason_text : "no answer");
    return err;
}
