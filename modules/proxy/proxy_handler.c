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

/* The mcp-proxy handler: the Streamable HTTP endpoint that federates the
 * backends of its section. It reads and validates one JSON-RPC message
 * (or a 2025-03-26 batch) and:
 *  - answers initialize itself, from the backends' answers (mcp_fed),
 *    making a gateway session (proxy_session.c) and the backend sessions;
 *  - fans the four list methods out to the backends the token may see and
 *    merges their pages (mcp_fed_list_plan/list_merge);
 *  - routes tools/call, prompts/get, resources/read|subscribe|unsubscribe
 *    and completion/complete to the owning backend (mcp_fed_route), after
 *    the scope check: a call the token may not make is a 403 challenge
 *    before anything is streamed;
 *  - relays the backend's event stream (progress, log messages, requests
 *    toward the client) and routes the client's answers back;
 *  - serves GET (the merged GET streams of the backends) and DELETE;
 *  - answers ping and its builtin tool gateway_whoami itself.
 * Nothing of a session is kept in the process between requests. */

#include <httpd.h>
#include <http_config.h>
#include <http_log.h>
#include <http_protocol.h>
#include <http_request.h>
#include <util_filter.h>
#include <apr_strings.h>

#include "mod_mcp.h"
#include "mcp/mcp_common.h"
#include "mcp/mcp_crypto.h"
#include "mcp/mcp_fed.h"
#include "mcp/mcp_json.h"
#include "mcp/mcp_jsonrpc.h"
#include "mcp/mcp_scope.h"
#include "mcp_glue.h"
#include "proxy_private.h"

APLOG_USE_MODULE(mcp_proxy);

/* Implementation-defined JSON-RPC code for transport-level refusals, as
 * the MCP SDKs use it (400, 405, 415). */
#define PROXY_TRANSPORT_ERROR (-32000)
/* The SDKs' code for an unknown session (with HTTP 404). */
#define PROXY_SESSION_NOT_FOUND (-32001)
/* MCP's code for an unknown resource. */
#define PROXY_RESOURCE_NOT_FOUND (-32002)

/* The only protocol revision that allowed JSON-RPC batches. */
#define PROXY_BATCH_VERSION "2025-03-26"

#define WHOAMI MCP_FED_RESERVED_PREFIX "whoami"

/* Most pages a catalog fill follows per list (several unprefixed
 * backends only). */
#define MAX_CATALOG_PAGES 32

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

/* An answer: a message for the client, or an HTTP refusal. */
typedef struct {
    mcp_jsonrpc_msg_t *msg;   /**< NULL: nothing (more) to send */
    int status;               /**< HTTP status of a refusal, or 0 */
    const char *text;         /**< its message */
} answer_t;

static void set_status_env(mcp_proxy_ctx_t *ctx, const mcp_jsonrpc_msg_t *m)
{
    apr_table_t *env = ctx->r->subprocess_env;

    if (!m) {
        return;
    }
    if (m->kind == MCP_JSONRPC_ERROR) {
        apr_table_setn(env, "MCP_STATUS",
                       apr_psprintf(ctx->r->pool, "%" APR_INT64_T_FMT,
                                    m->error_code));
    }
    else if (m->kind == MCP_JSONRPC_RESULT) {
        apr_table_setn(env, "MCP_STATUS", "ok");
    }
}

static mcp_jsonrpc_msg_t *rpc_error(mcp_proxy_ctx_t *ctx,
                                    const mcp_jsonrpc_id_t *id,
                                    apr_int64_t code, const char *message)
{
    mcp_jsonrpc_msg_t *out = NULL;

    mcp_jsonrpc_error_create(&out, ctx->r->pool, id, code, message, NULL);
    return out;
}

static mcp_jsonrpc_msg_t *rpc_result(mcp_proxy_ctx_t *ctx,
                                     const mcp_jsonrpc_id_t *id,
                                     mcp_json_t *result)
{
    mcp_jsonrpc_msg_t *out = NULL;

    mcp_jsonrpc_result_create(&out, ctx->r->pool, id,
                              result ? result : mcp_json_object(ctx->r->pool));
    return out;
}

/* The backends of the session that have a backend session, visible to
 * the token; *pn gets their number. */
static int *session_backends(mcp_proxy_ctx_t *ctx, int *pn)
{
    int *which = apr_pcalloc(ctx->r->pool, sizeof(int)
                             * (ctx->ep->nbackends + 1));
    int i, n = 0;

    for (i = 0; i < ctx->ep->nbackends; i++) {
        if (ctx->sess->bsid[i] && mcp_proxy_visible(ctx, i)) {
            which[n++] = i;
        }
    }
    *pn = n;
    return which;
}

static const char *session_hash(apr_pool_t *p, const char *id)
{
    return apr_pstrndup(p, mcp_crypto_sha256_b64url(p, id, strlen(id)), 16);
}

/* ---- initialize ---- */

static mcp_json_t *server_info(apr_pool_t *p)
{
    mcp_json_t *info = mcp_json_object(p);

    mcp_json_set_str(info, "name", "mod_mcp");
    mcp_json_set_str(info, "title", "mod_mcp gateway");
    mcp_json_set_str(info, "version", MCP_VERSION);
    return info;
}

/* tasks (SEP-1686): the gateway routes the tasks methods by the backend named in
 * the task id, so the backends' task capabilities pass through: the
 * union of their members, two levels deep (list, cancel, requests.tools
 * .call, ...). */
static void merge_into(apr_pool_t *p, mcp_json_t *dst, const mcp_json_t *src,
                       int depth)
{
    apr_array_header_t *keys = mcp_json_keys(p, src);
    int i;

    for (i = 0; keys && i < keys->nelts; i++) {
        const char *k = APR_ARRAY_IDX(keys, i, const char *);
        mcp_json_t *sv = mcp_json_get(p, src, k), *dv = mcp_json_get(p, dst, k);

        if (!dv) {
            mcp_json_set(dst, k, mcp_json_copy(p, sv));
        }
        else if (depth > 0 && mcp_json_is_object(dv)
                 && mcp_json_is_object(sv)) {
            merge_into(p, dv, sv, depth - 1);
        }
    }
}

static void merge_tasks(apr_pool_t *p, const mcp_proxy_endpoint_t *ep,
                        mcp_json_t *const *results, mcp_json_t *caps)
{
    mcp_json_t *tasks = NULL, *t;
    int i;

    for (i = 0; i < ep->nbackends; i++) {
        t = results[i] ? mcp_json_getp(p, results[i], "capabilities",
                                       "tasks", NULL) : NULL;
        if (!t || !mcp_json_is_object(t)) {
            continue;
        }
        if (!tasks) {
            tasks = mcp_json_object(p);
        }
        merge_into(p, tasks, t, 3);
    }
    if (tasks) {
        mcp_json_set(caps, "tasks", tasks);
    }
}

static answer_t do_initialize(mcp_proxy_ctx_t *ctx,
                              const mcp_jsonrpc_msg_t *m)
{
    request_rec *r = ctx->r;
    answer_t a = { NULL, 0, NULL };
    mcp_json_t **results, *res, *caps;
    apr_array_header_t *problems = NULL;
    const char *requested = m->params
        ? mcp_json_get_str(r->pool, m->params, "protocolVersion") : NULL;
    int *which, i, n = 0;

    if (apr_table_get(r->headers_in, "Mcp-Session-Id")) {
        a.status = HTTP_BAD_REQUEST;
        a.text = "Bad Request: initialize starts a session; send it without "
                 "Mcp-Session-Id";
        return a;
    }
    if (mcp_proxy_session_new(&ctx->sess, r->pool, ctx->ep) != APR_SUCCESS) {
        a.status = HTTP_INTERNAL_SERVER_ERROR;
        a.text = "no random bytes for a session id";
        return a;
    }
    ctx->sess->subject = ctx->subject;
    ctx->sess->client_id = ctx->token ? ctx->token->client_id : "";
    ctx->sess->version = mcp_fed_negotiate_version(requested);
    ctx->sess->scope = ctx->token ? ctx->token->scope : "";
    if (m->params) {
        ctx->sess->client_caps = mcp_json_get(r->pool, m->params,
                                              "capabilities");
        ctx->sess->client_info = mcp_json_get(r->pool, m->params,
                                              "clientInfo");
    }
    which = apr_pcalloc(r->pool, sizeof(int) * (ctx->ep->nbackends + 1));
    for (i = 0; i < ctx->ep->nbackends; i++) {
        if (mcp_proxy_visible(ctx, i)) {
            which[n++] = i;
        }
    }
    results = apr_pcalloc(r->pool, sizeof(*results) * (ctx->ep->nbackends + 1));
    /* Read before the backends are asked: a link made meanwhile counts
     * as a change. */
    ctx->sess->links = mcp_proxy_session_links(r, ctx->ep, ctx->sess);
    if (n) {
        mcp_proxy_backends_init(ctx, which, n, results);
    }
    if (mcp_fed_initialize_merge(&res, &problems, r->pool, ctx->ep->fed,
                                 ctx->sess->version,
                                 (const mcp_json_t *const *)results,
                                 server_info(r->pool)) != APR_SUCCESS) {
        a.msg = rpc_error(ctx, &m->id, MCP_JSONRPC_INTERNAL_ERROR,
                          "the backends' capabilities cannot be merged");
        return a;
    }
    for (i = 0; problems && i < problems->nelts; i++) {
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, MCPLOGNO(01820) "%s",
                      APR_ARRAY_IDX(problems, i, mcp_fed_problem_t).message);
    }
    /* The gateway's own tool is always there. */
    caps = mcp_json_get(r->pool, res, "capabilities");
    if (caps && !mcp_json_has(caps, "tools")) {
        mcp_json_set(caps, "tools", mcp_json_object(r->pool));
    }
    if (caps) {
        merge_tasks(r->pool, ctx->ep, results, caps);
    }
    if (mcp_proxy_session_save(r, ctx->sess,
                               mcp_proxy_session_timeout(ctx->conf))
        != APR_SUCCESS) {
        a.status = HTTP_SERVICE_UNAVAILABLE;
        a.text = "Service Unavailable: the session cannot be stored";
        return a;
    }
    ctx->sess_dirty = 0;
    apr_table_setn(r->headers_out, "Mcp-Session-Id", ctx->sess->id);
    apr_table_setn(r->subprocess_env, "MCP_SESSION",
                   session_hash(r->pool, ctx->sess->id));
    ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r, MCPLOGNO(01821)
                  "session %s for \"%s\": %d of %d backends, version %s",
                  session_hash(r->pool, ctx->sess->id), ctx->subject, n,
                  ctx->ep->nbackends, ctx->sess->version);
    a.msg = rpc_result(ctx, &m->id, res);
    return a;
}

/* ---- lists ---- */

static mcp_json_t *whoami_tool(apr_pool_t *p)
{
    mcp_json_t *t = mcp_json_object(p), *schema = mcp_json_object(p);
    mcp_json_t *ann = mcp_json_object(p);

    mcp_json_set_str(t, "name", WHOAMI);
    mcp_json_set_str(t, "title", "Who am I (gateway)");
    mcp_json_set_str(t, "description", "The gateway's view of this session: "
                     "the signed-in user, the client, the granted scopes and "
                     "the upstream servers this token may use.");
    mcp_json_set_str(schema, "type", "object");
    mcp_json_set(schema, "properties", mcp_json_object(p));
    mcp_json_set(t, "inputSchema", schema);
    mcp_json_set_bool(ann, "readOnlyHint", 1);
    mcp_json_set_bool(ann, "openWorldHint", 0);
    mcp_json_set(t, "annotations", ann);
    return t;
}

#define CONNECT MCP_FED_RESERVED_PREFIX "connect_"

/* gateway_connect_<backend>: listed instead of the tools of a backend
 * whose upstream provider the user has not linked yet, so that a client
 * (and its model) can find out how to link it. */
static mcp_json_t *connect_tool(apr_pool_t *p, const mcp_proxy_rt_backend_t *b)
{
    mcp_json_t *t = mcp_json_object(p), *schema = mcp_json_object(p);

    mcp_json_set_str(t, "name", apr_pstrcat(p, CONNECT, b->conf->name, NULL));
    mcp_json_set_str(t, "title", apr_psprintf(p, "Connect %s",
                                              b->conf->idp));
    mcp_json_set_str(t, "description",
                     apr_psprintf(p, "The tools of %s need your %s account. "
                                  "Call this tool to get the link that "
                                  "connects it (once); then list the tools "
                                  "again.", b->conf->name, b->conf->idp));
    mcp_json_set_str(schema, "type", "object");
    mcp_json_set(schema, "properties", mcp_json_object(p));
    mcp_json_set(t, "inputSchema", schema);
    return t;
}

/* Ask the backends of @a plan for their page of @a kind and merge. */
static apr_status_t list_once(mcp_proxy_ctx_t *ctx,
                              const mcp_jsonrpc_msg_t *m, mcp_fed_kind_e kind,
                              mcp_fed_plan_t *plan, mcp_fed_catalog_t *cat,
                              mcp_json_t **presult)
{
    request_rec *r = ctx->r;
    int n = plan->fetch->nelts, i;
    mcp_proxy_call_t **calls = apr_pcalloc(r->pool, sizeof(*calls) * (n + 1));
    const mcp_json_t **results = apr_pcalloc(r->pool,
                                             sizeof(*results) * (n + 1));
    const char **errors = apr_pcalloc(r->pool, sizeof(*errors) * (n + 1));
    mcp_proxy_call_t **run = apr_pcalloc(r->pool, sizeof(*run) * (n + 1));
    apr_array_header_t *problems = NULL;
    const char *err = NULL;
    apr_status_t rv;
    int nrun = 0;

    if (!ctx->unlinked) {
        ctx->unlinked = apr_pcalloc(r->pool, ctx->ep->nbackends + 1);
    }
    /* The client lists with the links of now: its GET streams need not
     * announce older changes again (read before the backends are asked,
     * as in initialize). */
    if (ctx->sess) {
        apr_int64_t links = mcp_proxy_session_links(r, ctx->ep, ctx->sess);

        if (links != ctx->sess->links) {
            ctx->sess->links = links;
            ctx->sess_dirty = 1;
        }
    }

    for (i = 0; i < n; i++) {
        const mcp_fed_pos_t *pos = &APR_ARRAY_IDX(plan->fetch, i,
                                                  mcp_fed_pos_t);
        mcp_json_t *params;
        mcp_jsonrpc_msg_t *q;
        const char *health = NULL;
        int down;

        down = mcp_proxy_health_get(r->server, r->pool,
                                    &ctx->ep->backends[pos->backend], &health)
               == APR_SUCCESS && !strncmp(health, "down", 4);
        params = m->params ? mcp_json_copy(r->pool, m->params)
                           : mcp_json_object(r->pool);
        mcp_json_del(params, "cursor");
        if (pos->cursor) {
            mcp_json_set_str(params, "cursor", pos->cursor);
        }
        mcp_jsonrpc_request_create(&q, r->pool, &m->id,
                                   mcp_fed_list_method(kind), params);
        calls[i] = run[nrun++] = mcp_proxy_call_make(ctx, pos->backend, q);
        /* Found down by the last health check: asked still (it may be
         * back), but not waited for long. */
        calls[i]->short_wait = down;
    }
    if (nrun) {
        mcp_proxy_calls_run(ctx, run, nrun);
    }
    for (i = 0; i < n; i++) {
        mcp_proxy_call_t *c = calls[i];

        if (!c) {
            continue;
        }
        if (c->reason && c->idp_error && c->idp_error->type) {
            /* The user has not linked this backend's provider yet: its
             * tools are not listed, gateway_connect_<backend> is. */
            ctx->unlinked[c->b] = 1;
        }
        else if (c->reason) {
            errors[i] = apr_psprintf(r->pool, "%s (%s)", c->reason_text,
                                     c->reason);
        }
        else if (c->answer->kind == MCP_JSONRPC_RESULT) {
            results[i] = c->answer->result;
        }
        else if (c->answer->error_code != MCP_JSONRPC_METHOD_NOT_FOUND) {
            /* -32601: the backend has no such list; skipped quietly. */
            errors[i] = apr_psprintf(r->pool, "error %" APR_INT64_T_FMT
                                     ": %s", c->answer->error_code,
                                     c->answer->error_message);
        }
    }
    rv = mcp_fed_list_merge(presult, &problems, r->pool, ctx->ep->fed, plan,
                            results, errors, ctx->granted, cat, &err);
    for (i = 0; problems && i < problems->nelts; i++) {
        const mcp_fed_problem_t *pr = &APR_ARRAY_IDX(problems, i,
                                                     mcp_fed_problem_t);

        ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r, MCPLOGNO(01822)
                      "%s: %s", mcp_fed_list_method(kind), pr->message);
    }
    if (rv != APR_SUCCESS) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, MCPLOGNO(01823)
                      "%s: %s", mcp_fed_list_method(kind),
                      err ? err : "cannot merge");
    }
    return rv;
}

/* Gateway cursors hold the backends' cursors, which belong to the
 * backend sessions of one client session: they are bound to it. */
static const char *cursor_binding(const mcp_proxy_ctx_t *ctx)
{
    return ctx->sess ? ctx->sess->id : NULL;
}

static answer_t do_list(mcp_proxy_ctx_t *ctx, const mcp_jsonrpc_msg_t *m,
                        mcp_fed_kind_e kind)
{
    request_rec *r = ctx->r;
    answer_t a = { NULL, 0, NULL };
    const char *cursor = m->params
        ? mcp_json_get_str(r->pool, m->params, "cursor") : NULL;
    mcp_fed_plan_t *plan;
    mcp_json_t *result, *items;
    const char *err = NULL;
    apr_status_t rv;

    rv = mcp_fed_list_plan(&plan, r->pool, ctx->ep->fed, kind, cursor,
                           cursor_binding(ctx), ctx->granted, &err);
    if (rv != APR_SUCCESS) {
        a.msg = rpc_error(ctx, &m->id, MCP_JSONRPC_INVALID_PARAMS,
                          apr_psprintf(r->pool, "Invalid cursor: %s",
                                       err ? err : "not a gateway cursor"));
        return a;
    }
    if (list_once(ctx, m, kind, plan, NULL, &result) != APR_SUCCESS) {
        a.msg = rpc_error(ctx, &m->id, MCP_JSONRPC_INTERNAL_ERROR,
                          "the backends' lists cannot be merged");
        return a;
    }
    if (kind == MCP_FED_TOOLS && !cursor) {
        mcp_json_t *all = mcp_json_array(r->pool);
        apr_size_t i, k;

        items = mcp_json_get(r->pool, result, "tools");
        mcp_json_append(all, whoami_tool(r->pool));
        for (i = 0; i < (apr_size_t)ctx->ep->nbackends; i++) {
            if (ctx->unlinked[i]) {
                mcp_json_append(all, connect_tool(r->pool,
                                                  &ctx->ep->backends[i]));
            }
        }
        for (i = 0, k = items ? mcp_json_size(items) : 0; i < k; i++) {
            mcp_json_append(all, mcp_json_array_get(r->pool, items, i));
        }
        mcp_json_set(result, "tools", all);
    }
    a.msg = rpc_result(ctx, &m->id, result);
    return a;
}

/* Several backends without a prefix: who owns a name is known only from
 * their lists. Fill @a cat with every page of @a kind. */
static void fill_catalog(mcp_proxy_ctx_t *ctx, const mcp_jsonrpc_msg_t *m,
                         mcp_fed_kind_e kind, mcp_fed_catalog_t *cat)
{
    request_rec *r = ctx->r;
    const char *cursor = NULL;
    mcp_fed_plan_t *plan;
    mcp_json_t *result;
    mcp_jsonrpc_msg_t *q;
    int page;

    for (page = 0; page < MAX_CATALOG_PAGES; page++) {
        if (mcp_fed_list_plan(&plan, r->pool, ctx->ep->fed, kind, cursor,
                              cursor_binding(ctx), ctx->granted, NULL)
            != APR_SUCCESS) {
            return;
        }
        mcp_jsonrpc_request_create(&q, r->pool, &m->id,
                                   mcp_fed_list_method(kind), NULL);
        if (list_once(ctx, q, kind, plan, cat, &result) != APR_SUCCESS
            || !(cursor = mcp_json_get_str(r->pool, result, "nextCursor"))) {
            return;
        }
    }
}

static int unprefixed_backends(const mcp_proxy_ctx_t *ctx)
{
    int i, n = 0;

    for (i = 0; i < ctx->ep->nbackends; i++) {
        n += !mcp_fed_backend(ctx->ep->fed, i)->prefix;
    }
    return n;
}

/* ---- routed calls ---- */

static answer_t do_whoami(mcp_proxy_ctx_t *ctx, const mcp_jsonrpc_msg_t *m)
{
    apr_pool_t *p = ctx->r->pool;
    answer_t a = { NULL, 0, NULL };
    mcp_json_t *who = mcp_json_object(p), *scopes = mcp_json_array(p);
    mcp_json_t *backends = mcp_json_array(p), *res = mcp_json_object(p);
    mcp_json_t *content = mcp_json_array(p), *text = mcp_json_object(p);
    const char *health;
    int i;

    mcp_json_set_str(who, "subject", ctx->subject);
    mcp_json_set_str(who, "client_id", ctx->token ? ctx->token->client_id
                                                  : "");
    for (i = 0; ctx->granted && i < ctx->granted->nelts; i++) {
        mcp_json_append_str(scopes, APR_ARRAY_IDX(ctx->granted, i,
                                                  const char *));
    }
    mcp_json_set(who, "scopes", scopes);
    for (i = 0; i < ctx->ep->nbackends; i++) {
        mcp_json_t *b;

        if (!mcp_proxy_visible(ctx, i)) {
            continue;
        }
        b = mcp_json_object(p);
        mcp_json_set_str(b, "name", ctx->ep->backends[i].conf->name);
        if (ctx->ep->backends[i].conf->prefix) {
            mcp_json_set_str(b, "prefix", ctx->ep->backends[i].conf->prefix);
        }
        if (mcp_proxy_health_get(ctx->r->server, p, &ctx->ep->backends[i],
                                 &health) != APR_SUCCESS) {
            health = "unknown";
        }
        mcp_json_set_str(b, "health", health);
        mcp_json_set_bool(b, "connected", ctx->sess->bsid[i] != NULL);
        mcp_json_append(backends, b);
    }
    mcp_json_set(who, "backends", backends);
    mcp_json_set_str(text, "type", "text");
    mcp_json_set_str(text, "text", mcp_json_dump(p, who, MCP_JSON_FMT_INDENT,
                                                 NULL));
    mcp_json_append(content, text);
    mcp_json_set(res, "content", content);
    mcp_json_set(res, "structuredContent", who);
    a.msg = rpc_result(ctx, &m->id, res);
    return a;
}

/* gateway_connect_<backend>: the link error (URL elicitation or -32003)
 * while the user has no link, a short text once it has one. */
static answer_t do_connect(mcp_proxy_ctx_t *ctx, const mcp_jsonrpc_msg_t *m,
                           const char *backend)
{
    APR_OPTIONAL_FN_TYPE(mcp_idp_upstream_credential) *get =
        APR_RETRIEVE_OPTIONAL_FN(mcp_idp_upstream_credential);
    apr_pool_t *p = ctx->r->pool;
    answer_t a = { NULL, 0, NULL };
    const char *hname = NULL, *value = NULL;
    mcp_idp_error_t *ie = NULL;
    mcp_json_t *res, *content, *text;
    mcp_proxy_call_t *c;
    int b;

    for (b = 0; b < ctx->ep->nbackends; b++) {
        if (!strcmp(ctx->ep->backends[b].conf->name, backend)) {
            break;
        }
    }
    if (b == ctx->ep->nbackends || !ctx->ep->backends[b].conf->idp
        || !mcp_proxy_visible(ctx, b)) {
        a.msg = rpc_error(ctx, &m->id, MCP_JSONRPC_INVALID_PARAMS,
                          apr_psprintf(p, "Unknown tool: %s%s", CONNECT,
                                       backend));
        return a;
    }
    if (get && get(ctx->r, ctx->ep->backends[b].conf->idp, NULL, &hname,
                   &value, &ie) != APR_SUCCESS && ie && ie->type) {
        c = mcp_proxy_call_make(ctx, b, NULL);
        c->idp_error = ie;
        c->reason = "authorization_required";
        a.msg = mcp_proxy_call_error(c, &m->id);
        return a;
    }
    res = mcp_json_object(p);
    content = mcp_json_array(p);
    text = mcp_json_object(p);
    mcp_json_set_str(text, "type", "text");
    mcp_json_set_str(text, "text", value
                     ? apr_psprintf(p, "Your %s account is connected: the "
                                    "tools of %s are available (list the "
                                    "tools again).",
                                    ctx->ep->backends[b].conf->idp, backend)
                     : apr_psprintf(p, "The %s account cannot be used now "
                                    "(%s).", ctx->ep->backends[b].conf->idp,
                                    ie && ie->message ? ie->message
                                    : "mod_mcp_idp gave no answer"));
    mcp_json_append(content, text);
    mcp_json_set(res, "content", content);
    if (!value) {
        mcp_json_set_bool(res, "isError", 1);
    }
    a.msg = rpc_result(ctx, &m->id, res);
    return a;
}

static answer_t refuse_scope(mcp_proxy_ctx_t *ctx, const mcp_jsonrpc_msg_t *m,
                             const mcp_fed_route_t *route)
{
    request_rec *r = ctx->r;
    APR_OPTIONAL_FN_TYPE(mcp_authz_insufficient_scope) *challenge =
        APR_RETRIEVE_OPTIONAL_FN(mcp_authz_insufficient_scope);
    answer_t a = { NULL, HTTP_FORBIDDEN, NULL };

    if (challenge) {
        challenge(r, route->needed);
    }
    apr_table_setn(r->subprocess_env, "MCP_STATUS", "insufficient_scope");
    ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, MCPLOGNO(01824)
                  "%s %s refused to \"%s\": needs scope \"%s\"", m->method,
                  route->gwname, ctx->subject,
                  mcp_scope_join(r->pool, route->missing));
    a.text = apr_psprintf(r->pool, "Forbidden: insufficient_scope: %s needs "
                          "scope \"%s\"", route->gwname,
                          mcp_scope_join(r->pool, route->missing));
    return a;
}

static answer_t do_routed(mcp_proxy_ctx_t *ctx, const mcp_jsonrpc_msg_t *m,
                          int relay)
{
    request_rec *r = ctx->r;
    answer_t a = { NULL, 0, NULL };
    mcp_fed_route_t *route = NULL;
    mcp_fed_catalog_t *cat = NULL;
    mcp_jsonrpc_msg_t *q;
    mcp_proxy_call_t *c;
    const char *err = NULL;
    apr_status_t rv;

    rv = mcp_fed_route(&route, r->pool, ctx->ep->fed, m->method, m->params,
                       ctx->granted, NULL, &err);
    if (rv == MCP_ENOTFOUND && unprefixed_backends(ctx) > 1) {
        int kind = !strcmp(m->method, "tools/call") ? MCP_FED_TOOLS
                 : !strcmp(m->method, "prompts/get") ? MCP_FED_PROMPTS
                 : MCP_FED_RESOURCES;

        cat = mcp_fed_catalog_make(r->pool);
        fill_catalog(ctx, m, kind, cat);
        rv = mcp_fed_route(&route, r->pool, ctx->ep->fed, m->method,
                           m->params, ctx->granted, cat, &err);
    }
    if (rv == APR_EACCES) {
        return refuse_scope(ctx, m, route);
    }
    if (rv == APR_SUCCESS && !mcp_proxy_visible(ctx, route->backend)) {
        rv = MCP_ENOTFOUND;
    }
    if (rv != APR_SUCCESS) {
        a.msg = rpc_error(ctx, &m->id,
                          rv == MCP_ENOTFOUND
                          && !strcmp(m->method, "resources/read")
                          ? PROXY_RESOURCE_NOT_FOUND
                          : MCP_JSONRPC_INVALID_PARAMS,
                          err ? err : "Invalid params");
        return a;
    }
    apr_table_setn(r->subprocess_env, "MCP_BACKEND",
                   ctx->ep->backends[route->backend].conf->name);
    mcp_jsonrpc_request_create(&q, r->pool, &m->id, m->method, route->params);
    c = mcp_proxy_call_make(ctx, route->backend, q);
    c->relay = relay;
    mcp_proxy_calls_run(ctx, &c, 1);
    if (c->answered) {
        set_status_env(ctx, c->answer);
        return a;              /* streamed to the client already */
    }
    a.msg = c->reason ? mcp_proxy_call_error(c, &m->id) : c->answer;
    return a;
}

/* tasks/get, tasks/result, tasks/cancel: to the backend named in the
 * gateway task id, with its own id. */
static answer_t do_task(mcp_proxy_ctx_t *ctx, const mcp_jsonrpc_msg_t *m,
                        int relay)
{
    apr_pool_t *p = ctx->r->pool;
    answer_t a = { NULL, 0, NULL };
    const char *tid = m->params ? mcp_json_get_str(p, m->params, "taskId")
                                : NULL;
    mcp_jsonrpc_id_t gw, id;
    mcp_jsonrpc_msg_t *q;
    mcp_proxy_call_t *c;
    mcp_json_t *params;
    int b;

    if (!tid) {
        a.msg = rpc_error(ctx, &m->id, MCP_JSONRPC_INVALID_PARAMS,
                          "Invalid params: taskId is required");
        return a;
    }
    mcp_jsonrpc_id_from_str(&gw, tid);
    if (mcp_fed_id_from_gateway(&b, &id, p, ctx->ep->fed, &gw) != APR_SUCCESS
        || id.type != MCP_JSONRPC_ID_STRING || !mcp_proxy_visible(ctx, b)
        || !ctx->sess->bsid[b]) {
        a.msg = rpc_error(ctx, &m->id, MCP_JSONRPC_INVALID_PARAMS,
                          apr_psprintf(p, "Invalid params: unknown task %s",
                                       tid));
        return a;
    }
    params = mcp_json_copy(p, m->params);
    mcp_json_set_str(params, "taskId", id.str);
    apr_table_setn(ctx->r->subprocess_env, "MCP_BACKEND",
                   ctx->ep->backends[b].conf->name);
    mcp_jsonrpc_request_create(&q, p, &m->id, m->method, params);
    c = mcp_proxy_call_make(ctx, b, q);
    c->relay = relay;
    mcp_proxy_calls_run(ctx, &c, 1);
    if (c->answered) {
        set_status_env(ctx, c->answer);
        return a;
    }
    a.msg = c->reason ? mcp_proxy_call_error(c, &m->id) : c->answer;
    return a;
}

/* tasks/list: the tasks of every backend of the session, in one list
 * (each backend's first page: the gateway does not page tasks). */
static answer_t do_task_list(mcp_proxy_ctx_t *ctx, const mcp_jsonrpc_msg_t *m)
{
    apr_pool_t *p = ctx->r->pool;
    answer_t a = { NULL, 0, NULL };
    int n, i, *which = session_backends(ctx, &n);
    mcp_proxy_call_t **calls = apr_pcalloc(p, sizeof(*calls) * (n + 1));
    mcp_json_t *all = mcp_json_array(p), *res = mcp_json_object(p);
    mcp_jsonrpc_msg_t *q;

    mcp_jsonrpc_request_create(&q, p, &m->id, m->method, NULL);
    for (i = 0; i < n; i++) {
        calls[i] = mcp_proxy_call_make(ctx, which[i], q);
    }
    if (n) {
        mcp_proxy_calls_run(ctx, calls, n);
    }
    for (i = 0; i < n; i++) {
        mcp_json_t *tasks;
        apr_size_t k, nt;

        if (calls[i]->reason || !calls[i]->answer
            || calls[i]->answer->kind != MCP_JSONRPC_RESULT) {
            continue;
        }
        tasks = mcp_json_get(p, calls[i]->answer->result, "tasks");
        for (k = 0, nt = tasks ? mcp_json_size(tasks) : 0; k < nt; k++) {
            mcp_json_append(all, mcp_json_array_get(p, tasks, k));
        }
    }
    mcp_json_set(res, "tasks", all);
    a.msg = rpc_result(ctx, &m->id, res);
    return a;
}

/* logging/setLevel: every backend of the session hears it. */
static answer_t do_fanout_request(mcp_proxy_ctx_t *ctx,
                                  const mcp_jsonrpc_msg_t *m)
{
    answer_t a = { NULL, 0, NULL };
    int n, i, *which = session_backends(ctx, &n);
    mcp_proxy_call_t **calls = apr_pcalloc(ctx->r->pool,
                                           sizeof(*calls) * (n + 1));

    for (i = 0; i < n; i++) {
        calls[i] = mcp_proxy_call_make(ctx, which[i], m);
    }
    if (n) {
        mcp_proxy_calls_run(ctx, calls, n);
    }
    a.msg = rpc_result(ctx, &m->id, NULL);
    return a;
}

static answer_t dispatch(mcp_proxy_ctx_t *ctx, const mcp_jsonrpc_msg_t *m,
                         int relay)
{
    answer_t a = { NULL, 0, NULL };
    const char *name;
    int kind;

    if (!strcmp(m->method, "ping")) {
        a.msg = rpc_result(ctx, &m->id, NULL);
        return a;
    }
    if (!strcmp(m->method, "initialize")) {
        a.msg = rpc_error(ctx, &m->id, MCP_JSONRPC_INVALID_REQUEST,
                          "the session is initialized already");
        return a;
    }
    if ((kind = mcp_fed_kind_of_method(m->method)) >= 0) {
        return do_list(ctx, m, (mcp_fed_kind_e)kind);
    }
    if (!strcmp(m->method, "tools/call") && m->params
        && (name = mcp_json_get_str(ctx->r->pool, m->params, "name"))
        && mcp_fed_is_builtin(name)) {
        if (!strcmp(name, WHOAMI)) {
            return do_whoami(ctx, m);
        }
        if (!strncmp(name, CONNECT, sizeof(CONNECT) - 1)) {
            return do_connect(ctx, m, name + sizeof(CONNECT) - 1);
        }
        a.msg = rpc_error(ctx, &m->id, MCP_JSONRPC_INVALID_PARAMS,
                          apr_psprintf(ctx->r->pool, "Unknown tool: %s",
                                       name));
        return a;
    }
    if (!strcmp(m->method, "tools/call") || !strcmp(m->method, "prompts/get")
        || !strcmp(m->method, "resources/read")
        || !strcmp(m->method, "resources/subscribe")
        || !strcmp(m->method, "resources/unsubscribe")
        || !strcmp(m->method, "completion/complete")) {
        return do_routed(ctx, m, relay);
    }
    if (!strcmp(m->method, "logging/setLevel")) {
        return do_fanout_request(ctx, m);
    }
    if (!strcmp(m->method, "tasks/get") || !strcmp(m->method, "tasks/result")
        || !strcmp(m->method, "tasks/cancel")) {
        return do_task(ctx, m, relay);
    }
    if (!strcmp(m->method, "tasks/list")) {
        return do_task_list(ctx, m);
    }
    a.msg = rpc_error(ctx, &m->id, MCP_JSONRPC_METHOD_NOT_FOUND,
                      apr_psprintf(ctx->r->pool, "Method not found: %s",
                                   m->method));
    return a;
}

/* A notification of the client: to every backend of the session, but a
 * cancellation of a request a backend sent goes to that backend only. */
static void client_notification(mcp_proxy_ctx_t *ctx,
                                const mcp_jsonrpc_msg_t *m)
{
    apr_pool_t *p = ctx->r->pool;
    mcp_proxy_call_t **calls;
    mcp_jsonrpc_msg_t *out = NULL;
    mcp_jsonrpc_id_t gw, id;
    mcp_json_t *rid, *params;
    int n, i, b, *which;

    if (!strcmp(m->method, "notifications/initialized")) {
        return;                 /* the gateway told the backends itself */
    }
    if (!strcmp(m->method, "notifications/cancelled") && m->params
        && (rid = mcp_json_get(p, m->params, "requestId"))
        && mcp_json_is_string(rid)) {
        mcp_jsonrpc_id_from_str(&gw, mcp_json_str(rid));
        if (mcp_fed_id_from_gateway(&b, &id, p, ctx->ep->fed, &gw)
            == APR_SUCCESS) {
            if (!ctx->sess->bsid[b]) {
                return;
            }
            params = mcp_json_copy(p, m->params);
            if (id.type == MCP_JSONRPC_ID_INT) {
                mcp_json_set_int(params, "requestId", id.num);
            }
            else {
                mcp_json_set_str(params, "requestId", id.str);
            }
            mcp_jsonrpc_notification_create(&out, p, m->method, params);
            calls = apr_pcalloc(p, sizeof(*calls));
            calls[0] = mcp_proxy_call_make(ctx, b, out);
            mcp_proxy_calls_run(ctx, calls, 1);
            return;
        }
    }
    which = session_backends(ctx, &n);
    calls = apr_pcalloc(p, sizeof(*calls) * (n + 1));
    for (i = 0; i < n; i++) {
        calls[i] = mcp_proxy_call_make(ctx, which[i], m);
    }
    if (n) {
        mcp_proxy_calls_run(ctx, calls, n);
    }
}

/* The client's answer to a request a backend sent it. */
static void client_response(mcp_proxy_ctx_t *ctx, mcp_jsonrpc_msg_t *m)
{
    apr_pool_t *p = ctx->r->pool;
    mcp_proxy_call_t *c;
    mcp_jsonrpc_id_t id;
    int b;

    if (mcp_fed_id_from_gateway(&b, &id, p, ctx->ep->fed, &m->id)
        != APR_SUCCESS || !ctx->sess->bsid[b]) {
        ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, ctx->r, MCPLOGNO(01825)
                      "a response with id %s answers no backend request; "
                      "dropped", mcp_jsonrpc_id_log(p, &m->id));
        return;
    }
    if (mcp_jsonrpc_set_id(m, &id) != APR_SUCCESS) {
        return;
    }
    c = mcp_proxy_call_make(ctx, b, m);
    c->expect = 0;
    mcp_proxy_calls_run(ctx, &c, 1);
}

/* ---- POST ---- */

static int send_answer(mcp_proxy_ctx_t *ctx, const answer_t *ans,
                       const mcp_jsonrpc_msg_t *m)
{
    request_rec *r = ctx->r;
    answer_t copy = *ans, *a = &copy;
    const char *body;
    apr_size_t len;

    if (a->status) {
        if (!ctx->streaming) {
            return send_error(r, a->status, PROXY_TRANSPORT_ERROR, a->text);
        }
        mcp_jsonrpc_error_create(&a->msg, r->pool, &m->id,
                                 PROXY_TRANSPORT_ERROR, a->text, NULL);
    }
    set_status_env(ctx, a->msg);
    if (!a->msg) {
        if (!ctx->streaming) {
            /* A call whose stream ended without the answer, say. */
            return send_error(r, HTTP_BAD_GATEWAY, MCP_JSONRPC_INTERNAL_ERROR,
                              "the backend gave no answer");
        }
        return OK;
    }
    if (ctx->streaming) {
        body = mcp_jsonrpc_dump(r->pool, a->msg, &len);
        if (body) {
            mcp_proxy_client_event(ctx, NULL, body, len, -1);
        }
        return OK;
    }
    return send_msg(r, HTTP_OK, a->msg);
}

/* The session of a request other than initialize; an HTTP status when
 * there is none. */
static int need_session(mcp_proxy_ctx_t *ctx, const char **pmsg)
{
    request_rec *r = ctx->r;
    const char *id = apr_table_get(r->headers_in, "Mcp-Session-Id");

    if (!id) {
        *pmsg = "Bad Request: Mcp-Session-Id header is required";
        return HTTP_BAD_REQUEST;
    }
    if (mcp_proxy_session_load(&ctx->sess, r, ctx->ep, id, ctx->subject)
        != APR_SUCCESS) {
        *pmsg = "Session not found";
        return HTTP_NOT_FOUND;
    }
    apr_table_setn(r->subprocess_env, "MCP_SESSION",
                   session_hash(r->pool, id));
    /* A token with other scopes than the last one (step-up, a narrower
     * token): what the client may see changed; GET streams say so. */
    if (ctx->token && ctx->sess->scope
        && strcmp(ctx->sess->scope, ctx->token->scope)) {
        ctx->sess->scope = ctx->token->scope;
        ctx->sess->changes++;
        ctx->sess_dirty = 1;
    }
    return OK;
}

/* The session of the request, or the refusal sent (*prc) when there is
 * none: 400 without the header, 404 for an unknown one. */
static int open_session(mcp_proxy_ctx_t *ctx, int *prc)
{
    const char *text = NULL;
    int rc = need_session(ctx, &text);

    if (rc == OK) {
        return 1;
    }
    *prc = send_error(ctx->r, rc, rc == HTTP_NOT_FOUND
                                  ? PROXY_SESSION_NOT_FOUND
                                  : PROXY_TRANSPORT_ERROR, text);
    return 0;
}

static void session_done(mcp_proxy_ctx_t *ctx)
{
    int timeout = mcp_proxy_session_timeout(ctx->conf);
    apr_int64_t changes;

    if (!ctx->sess) {
        return;
    }
    if (!ctx->sess_dirty && apr_time_now() - ctx->sess->touched
                            <= apr_time_from_sec(timeout) / 10) {
        return;
    }
    /* A session deleted meanwhile (a DELETE during a long call, maybe on
     * another process) stays deleted. */
    if (mcp_proxy_session_peek(ctx->r, ctx->sess->id, &changes)
        != APR_SUCCESS) {
        return;
    }
    if (changes > ctx->sess->changes) {
        ctx->sess->changes = changes;
    }
    mcp_proxy_session_save(ctx->r, ctx->sess, timeout);
    ctx->sess->touched = apr_time_now();
    ctx->sess_dirty = 0;
}

static int answer_batch(mcp_proxy_ctx_t *ctx, const mcp_jsonrpc_msg_t *batch)
{
    request_rec *r = ctx->r;
    apr_array_header_t *out;
    mcp_jsonrpc_msg_t *msg, *m;
    answer_t a;
    int i;

    /* Batches exist in 2025-03-26 only (removed in 2025-06-18). */
    if (strcmp(ctx->sess->version, PROXY_BATCH_VERSION)) {
        return send_error(r, HTTP_BAD_REQUEST, MCP_JSONRPC_INVALID_REQUEST,
                          "JSON-RPC batches are only supported with MCP "
                          "protocol version " PROXY_BATCH_VERSION);
    }
    out = apr_array_make(r->pool, batch->batch->nelts,
                         sizeof(mcp_jsonrpc_msg_t *));
    for (i = 0; i < batch->batch->nelts; i++) {
        m = APR_ARRAY_IDX(batch->batch, i, mcp_jsonrpc_msg_t *);
        switch (m->kind) {
        case MCP_JSONRPC_REQUEST:
            a = dispatch(ctx, m, 0);
            msg = a.msg;
            if (a.status) {
                msg = rpc_error(ctx, &m->id, PROXY_TRANSPORT_ERROR, a.text);
            }
            if (msg) {
                APR_ARRAY_PUSH(out, mcp_jsonrpc_msg_t *) = msg;
            }
            break;
        case MCP_JSONRPC_INVALID:
            APR_ARRAY_PUSH(out, mcp_jsonrpc_msg_t *) = m->error_response;
            break;
        case MCP_JSONRPC_NOTIFICATION:
            client_notification(ctx, m);
            break;
        default:
            client_response(ctx, m);
            break;
        }
    }
    session_done(ctx);
    if (out->nelts == 0) {
        return send_accepted(r);
    }
    if (mcp_jsonrpc_batch_create(&msg, r->pool, out) != APR_SUCCESS) {
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    return send_msg(r, HTTP_OK, msg);
}

/* Without backends (a section that has no MCPProxyBackend): ping only. */
static int answer_alone(request_rec *r, const mcp_jsonrpc_msg_t *m)
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
                                     "Method not found: this endpoint has "
                                     "no MCPProxyBackend", NULL);
        }
        return send_msg(r, HTTP_OK, out);
    case MCP_JSONRPC_INVALID:
        return send_msg(r, HTTP_BAD_REQUEST, m->error_response);
    case MCP_JSONRPC_BATCH:
        return send_error(r, HTTP_BAD_REQUEST, MCP_JSONRPC_INVALID_REQUEST,
                          "this endpoint has no MCPProxyBackend");
    default:
        return send_accepted(r);
    }
}

static int handle_post(mcp_proxy_ctx_t *ctx)
{
    request_rec *r = ctx->r;
    mcp_jsonrpc_limits_t lim;
    mcp_jsonrpc_msg_t *msg, *err = NULL;
    apr_off_t max = mcp_proxy_max_body(ctx->conf);
    char *body = NULL;
    apr_size_t len = 0;
    apr_status_t rv;
    answer_t a;
    int rc;

    if (!is_json_type(r)) {
        return send_error(r, HTTP_UNSUPPORTED_MEDIA_TYPE,
                          PROXY_TRANSPORT_ERROR,
                          "Unsupported Media Type: Content-Type must be "
                          "application/json");
    }
    rv = mcp_glue_read_body(r, max, &body, &len, &rc);
    if (rv == MCP_ETOOLARGE) {
        return send_too_large(r, max);
    }
    if (rv != APR_SUCCESS) {
        return rc;
    }
    memset(&lim, 0, sizeof(lim));
    lim.max_body = (apr_size_t)max;
    lim.max_depth = mcp_proxy_max_depth(ctx->conf);
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
    if (!ctx->ep) {
        return answer_alone(r, msg);
    }
    if (msg->kind == MCP_JSONRPC_REQUEST && !strcmp(msg->method,
                                                    "initialize")) {
        a = do_initialize(ctx, msg);
        return send_answer(ctx, &a, msg);
    }
    if (msg->kind == MCP_JSONRPC_INVALID) {
        return send_msg(r, HTTP_BAD_REQUEST, msg->error_response);
    }
    if (msg->kind == MCP_JSONRPC_REQUEST && !strcmp(msg->method, "ping")
        && !apr_table_get(r->headers_in, "Mcp-Session-Id")) {
        /* A liveness check needs no session: nothing is routed. */
        a = dispatch(ctx, msg, 0);
        return send_answer(ctx, &a, msg);
    }
    if (!open_session(ctx, &rc)) {
        return rc;
    }
    switch (msg->kind) {
    case MCP_JSONRPC_BATCH:
        return answer_batch(ctx, msg);
    case MCP_JSONRPC_REQUEST:
        a = dispatch(ctx, msg, 1);
        session_done(ctx);
        return send_answer(ctx, &a, msg);
    case MCP_JSONRPC_NOTIFICATION:
        client_notification(ctx, msg);
        session_done(ctx);
        return send_accepted(r);
    default:
        client_response(ctx, msg);
        session_done(ctx);
        return send_accepted(r);
    }
}

/* ---- GET and DELETE ---- */

/* Does the session see a backend with idp=, whose tools come and go as
 * the user links and unlinks its provider? */
static int links_may_change(const mcp_proxy_ctx_t *ctx)
{
    int i;

    for (i = 0; i < ctx->ep->nbackends; i++) {
        if (ctx->ep->backends[i].conf->idp && mcp_proxy_visible(ctx, i)) {
            return 1;
        }
    }
    return 0;
}

static int handle_get(mcp_proxy_ctx_t *ctx)
{
    request_rec *r = ctx->r;
    const char *last = apr_table_get(r->headers_in, "Last-Event-ID");
    mcp_proxy_call_t **calls;
    int rc, n = 0, i, *which;

    if (!open_session(ctx, &rc)) {
        return rc;
    }
    which = session_backends(ctx, &n);
    calls = apr_pcalloc(r->pool, sizeof(*calls) * (n + 1));
    if (last) {
        /* Gateway event ids are "<backend>:<its event id>": resume that
         * backend's stream only (never replay another stream). */
        const char *colon = strchr(last, ':');
        int b = -1;

        for (i = 0; colon && i < n; i++) {
            const char *name = ctx->ep->backends[which[i]].conf->name;

            if (strlen(name) == (apr_size_t)(colon - last)
                && !strncmp(name, last, colon - last)) {
                b = which[i];
            }
        }
        if (b < 0) {
            return send_error(r, HTTP_BAD_REQUEST, PROXY_TRANSPORT_ERROR,
                              "Bad Request: Last-Event-ID names no stream "
                              "of this session");
        }
        which[0] = b;
        n = 1;
    }
    for (i = 0; i < n; i++) {
        calls[i] = mcp_proxy_call_make(ctx, which[i], NULL);
        calls[i]->http_method = "GET";
        calls[i]->stream = 1;
        calls[i]->relay = 1;
        calls[i]->last_event_id = last ? strchr(last, ':') + 1 : NULL;
    }
    ctx->keepalive = apr_time_from_sec(mcp_proxy_keepalive(ctx->conf));
    session_done(ctx);
    ctx->peeked = apr_time_now();
    if (n) {
        mcp_proxy_calls_run(ctx, calls, n);
    }
    if (!ctx->streaming && !last && links_may_change(ctx)) {
        /* No backend stream, but linking an upstream changes the lists:
         * the gateway holds the stream to say so. */
        mcp_proxy_own_stream(ctx);
        return OK;
    }
    if (!ctx->streaming) {
        apr_table_setn(r->headers_out, "Allow", "POST, DELETE");
        return send_error(r, HTTP_METHOD_NOT_ALLOWED, PROXY_TRANSPORT_ERROR,
                          "Method not allowed: no backend of this session "
                          "offers a stream for server messages");
    }
    return OK;
}

static int handle_delete(mcp_proxy_ctx_t *ctx)
{
    request_rec *r = ctx->r;
    mcp_proxy_call_t **calls;
    int rc, n = 0, i, *which;

    if (!open_session(ctx, &rc)) {
        return rc;
    }
    /* The gateway session goes first: whatever the backends say, the
     * client's id is dead now. */
    mcp_proxy_session_remove(r, ctx->sess->id);
    which = session_backends(ctx, &n);
    calls = apr_pcalloc(r->pool, sizeof(*calls) * (n + 1));
    for (i = 0, rc = 0; i < n; i++) {
        if (!*ctx->sess->bsid[which[i]]) {
            continue;           /* a backend without sessions */
        }
        calls[rc] = mcp_proxy_call_make(ctx, which[i], NULL);
        calls[rc]->http_method = "DELETE";
        calls[rc]->retried = 1;
        rc++;
    }
    if (rc) {
        mcp_proxy_calls_run(ctx, calls, rc);
    }
    ctx->sess = NULL;
    r->status = HTTP_NO_CONTENT;
    return OK;
}

int mcp_proxy_handler(request_rec *r)
{
    APR_OPTIONAL_FN_TYPE(mcp_authz_token_get) *token_get;
    mcp_proxy_dir_conf *conf;
    mcp_proxy_ctx_t *ctx;
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
    ctx = apr_pcalloc(r->pool, sizeof(*ctx));
    ctx->r = r;
    ctx->conf = conf;
    /* The first look at the client socket comes a quarter second in
     * (client_closed()): a call answered sooner costs no poll(). */
    ctx->checked = apr_time_now();
    ctx->ep = mcp_proxy_endpoint(conf);
    token_get = APR_RETRIEVE_OPTIONAL_FN(mcp_authz_token_get);
    ctx->token = token_get ? token_get(r) : NULL;
    ctx->granted = ctx->token ? ctx->token->scopes
                              : mcp_scope_set_make(r->pool);
    ctx->subject = ctx->token ? ctx->token->subject
                 : r->user ? r->user : "";
    if (ctx->ep && r->method_number == M_GET && r->header_only) {
        /* HEAD is a GET to httpd (M_GET, header_only): served, it would
         * open the session's backend streams and hold a worker thread for
         * an answer whose headers are never sent. */
        apr_table_setn(r->headers_out, "Allow", "GET, POST, DELETE");
        return send_error(r, HTTP_METHOD_NOT_ALLOWED, PROXY_TRANSPORT_ERROR,
                          "Method not allowed: HEAD (the event stream of "
                          "this MCP endpoint is a GET)");
    }
    if (ctx->ep && r->method_number == M_GET) {
        return handle_get(ctx);
    }
    if (ctx->ep && r->method_number == M_DELETE) {
        return handle_delete(ctx);
    }
    if (r->method_number != M_POST) {
        /* Written here rather than returned as HTTP_METHOD_NOT_ALLOWED,
         * which would make httpd compute its own Allow list. */
        apr_table_setn(r->headers_out, "Allow", ctx->ep ? "GET, POST, DELETE"
                                                        : "POST");
        return send_error(r, HTTP_METHOD_NOT_ALLOWED, PROXY_TRANSPORT_ERROR,
                          "Method not allowed: this MCP endpoint takes POST");
    }
    return handle_post(ctx);
}
