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

/* The Streamable HTTP transport's rules toward the client that do not
 * depend on the message: where a request may come from (Origin, and Host
 * on a loopback server: DNS-rebinding protection), and what it accepts
 * in return, and the protocol revision it names. */

#include <httpd.h>
#include <http_config.h>
#include <http_log.h>
#include <http_protocol.h>
#include <apr_lib.h>
#include <apr_strings.h>
#include <stdlib.h>

#include "mod_mcp.h"
#include "mcp/mcp_addr.h"
#include "mcp/mcp_common.h"
#include "mcp/mcp_fed.h"
#include "mcp/mcp_url.h"
#include "proxy_private.h"

APLOG_USE_MODULE(mcp_proxy);

/* Written in post_config only, read by requests. */
static APR_OPTIONAL_FN_TYPE(mcp_authz_origin_allowed) *authz_origin_allowed;

void mcp_proxy_transport_init(void)
{
    authz_origin_allowed = APR_RETRIEVE_OPTIONAL_FN(mcp_authz_origin_allowed);
}

/* The origin the request itself was sent to: its scheme and Host. */
static const char *own_origin(request_rec *r)
{
    const char *host = apr_table_get(r->headers_in, "Host"), *origin, *err;

    if (!host || mcp_url_origin_parse(&origin, r->pool,
                                      apr_pstrcat(r->pool, ap_http_scheme(r),
                                                  "://", host, NULL),
                                      &err) != APR_SUCCESS) {
        return NULL;
    }
    return origin;
}

static int listed(const apr_array_header_t *origins, const char *origin)
{
    int i;

    for (i = 0; origins && i < origins->nelts; i++) {
        const char *o = APR_ARRAY_IDX(origins, i, const char *);

        if (!strcmp(o, "*") || !strcmp(o, origin)) {
            return 1;
        }
    }
    return 0;
}

/* No Origin: a server-to-server client, not a browser page. */
static int origin_ok(request_rec *r, const mcp_proxy_dir_conf *conf)
{
    const char *raw = apr_table_get(r->headers_in, "Origin");
    const char *origin, *mine, *err;

    if (!raw) {
        return 1;
    }
    if (mcp_url_origin_parse(&origin, r->pool, raw, &err) != APR_SUCCESS) {
        return 0;   /* "null" (sandboxed or privacy-sensitive pages) too */
    }
    mine = own_origin(r);
    return (mine && !strcmp(origin, mine)) || listed(conf->origins, origin)
        || (authz_origin_allowed && authz_origin_allowed(r, origin));
}

/* A server reached on a loopback address is a local one: a browser page
 * that names it by another host name got there through DNS rebinding.
 * No Host at all (HTTP/1.0) comes from no browser. */
static int host_ok(request_rec *r, const mcp_proxy_dir_conf *conf)
{
    const apr_sockaddr_t *local = r->connection->local_addr;
    int i;

    if (!local || !mcp_addr_is_loopback(local->family, local->ipaddr_ptr)) {
        return 1;
    }
    if (!r->hostname || mcp_url_is_loopback_host(r->hostname)) {
        return 1;
    }
    /* The names an admin gave: a reverse proxy on the same machine that
     * forwards the public Host. */
    for (i = 0; conf->hosts && i < conf->hosts->nelts; i++) {
        if (!strcasecmp(r->hostname, APR_ARRAY_IDX(conf->hosts, i,
                                                   const char *))) {
            return 1;
        }
    }
    return 0;
}

/* The q of one media range's parameters, in thousandths (1000 without
 * q=); a q that is no number counts as 0. */
static int range_q(char *params)
{
    char *last, *param;

    for (param = apr_strtok(params, ";", &last); param;
         param = apr_strtok(NULL, ";", &last)) {
        while (apr_isspace(*param)) {
            param++;
        }
        if ((param[0] == 'q' || param[0] == 'Q') && param[1] == '=') {
            double q = strtod(param + 2, NULL);

            return q > 0 ? (int)(q * 1000 + 0.5) : 0;
        }
    }
    return 1000;
}

/* Does @accept take @type (lower case "type/subtype")? The most specific
 * range that covers it decides (RFC 9110 §12.5.1): "a/b", then "a/x",
 * then x/x; a q of 0 means "not acceptable". */
static int accepts(apr_pool_t *p, const char *accept, const char *type)
{
    apr_size_t major = strchr(type, '/') - type;
    char *copy = apr_pstrdup(p, accept), *last, *range, *params, *end;
    int best = 0, q = 0, rank;

    for (range = apr_strtok(copy, ",", &last); range;
         range = apr_strtok(NULL, ",", &last)) {
        params = strchr(range, ';');
        if (params) {
            *params++ = '\0';
        }
        while (apr_isspace(*range)) {
            range++;
        }
        for (end = range + strlen(range); end > range && apr_isspace(end[-1]);
             end--) {
            *(end - 1) = '\0';
        }
        if (!strcasecmp(range, type)) {
            rank = 3;
        }
        else if (!strncasecmp(range, type, major + 1)
                 && !strcmp(range + major + 1, "*")) {
            rank = 2;
        }
        else {
            rank = !strcmp(range, "*/*") ? 1 : 0;
        }
        if (rank > best) {
            best = rank;
            q = params ? range_q(params) : 1000;
        }
    }
    return q > 0;
}

/* POST answers in JSON or as an SSE stream, so the client takes both
 * (the TypeScript SDK's servers also answer 406 otherwise); the GET
 * stream is SSE. No Accept header is not "anything": the transport makes
 * clients send it. */
static int accept_ok(request_rec *r)
{
    const char *accept = apr_table_get(r->headers_in, "Accept");

    if (r->method_number == M_POST) {
        return accept && accepts(r->pool, accept, "application/json")
            && accepts(r->pool, accept, "text/event-stream");
    }
    if (r->method_number == M_GET) {
        return accept && accepts(r->pool, accept, "text/event-stream");
    }
    return 1;
}

/* No header: a 2025-03-26 client, which had none (the transport says to
 * assume that revision). The revisions spoken are mcp_fed's. */
static int version_ok(request_rec *r)
{
    const char *v = apr_table_get(r->headers_in, "MCP-Protocol-Version");

    return !v || mcp_fed_version_supported(v);
}

int mcp_proxy_check_transport(request_rec *r, const mcp_proxy_dir_conf *conf,
                              const char **pmsg)
{
    if (!origin_ok(r, conf)) {
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, MCPLOGNO(01650)
                      "refused a request from a browser page of another "
                      "origin (not in MCPProxyAllowedOrigins or "
                      "MCPAuthzAllowedOrigins)");
        *pmsg = "Forbidden: Origin is not allowed";
        return HTTP_FORBIDDEN;
    }
    if (!host_ok(r, conf)) {
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, MCPLOGNO(01651)
                      "refused a request to a loopback address that names "
                      "another host in its Host header");
        *pmsg = "Forbidden: Host must name this loopback server";
        return HTTP_FORBIDDEN;
    }
    if (!accept_ok(r)) {
        *pmsg = r->method_number == M_POST
            ? "Not Acceptable: the client must accept both application/json "
              "and text/event-stream"
            : "Not Acceptable: the client must accept text/event-stream";
        return HTTP_NOT_ACCEPTABLE;
    }
    if (r->method_number == M_POST && !version_ok(r)) {
        *pmsg = apr_pstrcat(r->pool, "Bad Request: unsupported "
                            "MCP-Protocol-Version (supported versions: ",
                            mcp_fed_versions_text(r->pool), ")", NULL);
        return HTTP_BAD_REQUEST;
    }
    return OK;
}
