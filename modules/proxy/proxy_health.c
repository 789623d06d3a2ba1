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

/* Health checks of the backends: every MCPProxyHealthCheck seconds a
 * singleton child watchdog (mod_watchdog) asks each backend to initialize
 * a session (then deletes it) and writes what happened into the session
 * cache, where every process and node reads it: a backend found down is
 * left out of lists at once (a partial result, the others intact) rather
 * than after its timeout, and gateway_whoami shows it. A backend that
 * takes each user's own upstream token (idp=) cannot be asked without a
 * user and is not checked. Calls are still sent to a backend marked down:
 * it may be back, and the call fails within the backend's timeout. */

#include <httpd.h>
#include <http_config.h>
#include <http_log.h>
#include <mod_watchdog.h>
#include <apr_strings.h>

#include "mcp/mcp_common.h"
#include "mcp/mcp_http.h"
#include "mcp/mcp_jsonrpc.h"
#include "mcp/mcp_sse.h"
#include "mcp_glue.h"
#include "mcp_glue_cache.h"
#include "proxy_private.h"

APLOG_USE_MODULE(mcp_proxy);

/* The longest a health check waits for one backend. */
#define CHECK_TIMEOUT apr_time_from_sec(10)

static const char PROBE[] =
    "{\"jsonrpc\":\"2.0\",\"id\":\"mcp-gateway-health\",\"method\":"
    "\"initialize\",\"params\":{\"protocolVersion\":\"" MCP_FED_LATEST_VERSION
    "\",\"capabilities\":{},\"clientInfo\":{\"name\":\"mod_mcp-health\","
    "\"version\":\"" MCP_VERSION "\"}}}";

typedef struct {
    const mcp_proxy_rt_backend_t *b;
    mcp_http_request_t *req;
    mcp_http_response_t *resp;
    mcp_sse_parser_t *sse;
    int ok;                      /* an InitializeResult came */
} probe_t;

static void judge(probe_t *pr, const char *data, apr_size_t len)
{
    mcp_jsonrpc_msg_t *m;

    if (mcp_jsonrpc_parse(&m, pr->req->pool, data, len, NULL, NULL)
        == APR_SUCCESS && m->kind == MCP_JSONRPC_RESULT
        && m->result && mcp_json_has(m->result, "protocolVersion")) {
        pr->ok = 1;
    }
}

static apr_status_t probe_event(void *baton, const mcp_sse_event_t *ev)
{
    probe_t *pr = baton;

    judge(pr, ev->data, ev->data_len);
    /* Enough heard: end the transfer (its status is not looked at). */
    return pr->ok ? MCP_ECANCELED : APR_SUCCESS;
}

static apr_status_t probe_body(const mcp_http_response_t *resp,
                               const char *data, apr_size_t len, void *baton)
{
    probe_t *pr = baton;

    if (!pr->sse && mcp_sse_parser_create(&pr->sse, pr->req->pool,
                                          1024 * 1024, probe_event, pr)
                    != APR_SUCCESS) {
        return APR_ENOMEM;
    }
    return mcp_sse_parser_feed(pr->sse, data, len);
}

/* "up" or "down: <why>". */
static const char *verdict(probe_t *pr, apr_pool_t *p)
{
    const mcp_http_response_t *resp = pr->resp;

    if (!resp) {
        return "down: not asked";
    }
    if (!resp->streamed && resp->rv == APR_SUCCESS && resp->body
        && resp->status == 200) {
        judge(pr, resp->body, resp->body_len);
    }
    if (pr->ok) {
        return "up";
    }
    if (resp->rv == MCP_ETIMEOUT) {
        return "down: no answer in time";
    }
    if (resp->rv != APR_SUCCESS) {
        return apr_pstrcat(p, "down: ", resp->error ? resp->error
                                                    : "unreachable", NULL);
    }
    if (resp->status != 200) {
        return apr_psprintf(p, "down: HTTP %d to initialize", resp->status);
    }
    return "down: no InitializeResult";
}

static void check_endpoint(server_rec *s, apr_pool_t *p,
                           const mcp_proxy_endpoint_t *ep, int interval)
{
    mcp_http_t *http = mcp_proxy_http();
    mcp_http_request_t **reqs;
    mcp_http_response_t **resps;
    probe_t *probes;
    int i, n = 0;

    if (!http) {
        return;
    }
    probes = apr_pcalloc(p, sizeof(*probes) * (ep->nbackends + 1));
    reqs = apr_pcalloc(p, sizeof(*reqs) * (ep->nbackends + 1));
    resps = apr_pcalloc(p, sizeof(*resps) * (ep->nbackends + 1));
    for (i = 0; i < ep->nbackends; i++) {
        const mcp_proxy_rt_backend_t *b = &ep->backends[i];
        probe_t *pr = &probes[n];

        if (b->conf->idp) {
            continue;
        }
        pr->b = b;
        if (mcp_http_request_create(&pr->req, p, http, "POST", b->conf->url,
                                    NULL) != APR_SUCCESS) {
            continue;
        }
        pr->req->timeout = b->timeout < CHECK_TIMEOUT ? b->timeout
                                                      : CHECK_TIMEOUT;
        pr->req->idle_timeout = pr->req->timeout;
        pr->req->mode = MCP_HTTP_MODE_AUTO;
        pr->req->on_body = probe_body;
        pr->req->baton = pr;
        mcp_http_request_header(pr->req, "Accept",
                                "application/json, text/event-stream", NULL);
        mcp_http_request_body(pr->req, PROBE, sizeof(PROBE) - 1,
                              "application/json", NULL);
        if (b->bearer) {
            mcp_http_request_header(pr->req, "Authorization",
                                    apr_pstrcat(p, "Bearer ", b->bearer,
                                                NULL), NULL);
        }
        reqs[n++] = pr->req;
    }
    if (!n || mcp_http_perform_all(reqs, n, resps) != APR_SUCCESS) {
        return;
    }
    for (i = 0; i < n; i++) {
        probe_t *pr = &probes[i];
        const char *v, *sid, *old = NULL;
        mcp_http_request_t *del;
        mcp_http_response_t *dr;

        pr->resp = resps[i];
        v = verdict(pr, p);
        mcp_proxy_health_get(s, p, pr->b, &old);
        if (!old || strncmp(old, v, 2)) {
            ap_log_error(APLOG_MARK, *v == 'u' ? APLOG_NOTICE : APLOG_WARNING,
                         0, s, MCPLOGNO(01830) "backend %s (%s): %s",
                         pr->b->conf->name,
                         mcp_http_url_for_log(p, pr->b->conf->url), v);
        }
        mcp_proxy_health_set(s, p, pr->b, v, 3 * interval);
        /* The probe's session is not wanted: end it. */
        sid = pr->resp ? mcp_http_response_header(pr->resp, "Mcp-Session-Id")
                       : NULL;
        if (sid && mcp_http_request_create(&del, p, http, "DELETE",
                                           pr->b->conf->url, NULL)
                   == APR_SUCCESS
            && mcp_http_request_header(del, "Mcp-Session-Id", sid, NULL)
               == APR_SUCCESS) {
            del->timeout = pr->req->timeout;
            if (pr->b->bearer) {
                mcp_http_request_header(del, "Authorization",
                                        apr_pstrcat(p, "Bearer ",
                                                    pr->b->bearer, NULL),
                                        NULL);
            }
            mcp_http_perform(del, &dr, NULL);
        }
    }
}

static apr_status_t health_run(int state, void *data, apr_pool_t *pool)
{
    server_rec *s = data;
    const mcp_proxy_server_conf *conf = ap_get_module_config(s->module_config,
                                                             &mcp_proxy_module);
    apr_array_header_t *eps;
    int i;

    if (state != AP_WATCHDOG_STATE_RUNNING) {
        return APR_SUCCESS;
    }
    eps = mcp_proxy_endpoints_all(pool);
    for (i = 0; i < eps->nelts; i++) {
        check_endpoint(s, pool, APR_ARRAY_IDX(eps, i,
                                              const mcp_proxy_endpoint_t *),
                       mcp_proxy_health_interval(conf));
    }
    return APR_SUCCESS;
}

int mcp_proxy_health_interval(const mcp_proxy_server_conf *conf)
{
    return conf->health_interval >= 0 ? conf->health_interval
                                      : MCP_PROXY_DEFAULT_HEALTH;
}

int mcp_proxy_health_post_config(apr_pool_t *pconf, server_rec *s)
{
    APR_OPTIONAL_FN_TYPE(ap_watchdog_get_instance) *wd_get =
        APR_RETRIEVE_OPTIONAL_FN(ap_watchdog_get_instance);
    APR_OPTIONAL_FN_TYPE(ap_watchdog_register_callback) *wd_register =
        APR_RETRIEVE_OPTIONAL_FN(ap_watchdog_register_callback);
    const mcp_proxy_server_conf *conf = ap_get_module_config(s->module_config,
                                                             &mcp_proxy_module);
    int interval = mcp_proxy_health_interval(conf);
    ap_watchdog_t *wd;

    if (!interval) {
        return OK;
    }
    if (!wd_get || !wd_register) {
        if (mcp_glue_is_final_config()) {
            ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s, MCPLOGNO(01831)
                         "mod_watchdog is not loaded: backends are not "
                         "health-checked (a backend that is down is left out "
                         "of lists only after its timeout)");
        }
        return OK;
    }
    /* Registered in post_config: mod_watchdog starts the child watchdogs
     * that have a callback by the end of its own post_config. */
    if (wd_get(&wd, "mcp-proxy-health", 0, 1, pconf) != APR_SUCCESS
        || wd_register(wd, apr_time_from_sec(interval), s, health_run)
           != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s, MCPLOGNO(01832)
                     "cannot get a watchdog for the backends' health checks");
    }
    return OK;
}
