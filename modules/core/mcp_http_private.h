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

/* Between the two halves of the HTTP client (mcp_http.c, mcp_curl.c) and
 * its unit test: what one hop of a request sends, and how a redirect turns
 * one hop into the next. The decision is made here, without a socket, so
 * the test can check it for URLs it cannot serve (https). */
#ifndef MCP_HTTP_PRIVATE_H
#define MCP_HTTP_PRIVATE_H

#include "mcp/mcp_http.h"

#include <apr_atomic.h>

/* The part of a request that other threads may touch (mcp_http_cancel());
 * made with the request. */
struct mcp_http_ctl_t {
    volatile apr_uint32_t cancel;   /* mcp_http_cancel() was called */
    volatile apr_uint32_t resume;   /* mcp_http_resume() was called */
    /* The batch the request was added to, and its transfer, set and
     * cleared under the client's run lock (mcp_curl.c). */
    mcp_http_batch_t *batch;
    void *xfer;
};

/* What one hop sends. The first is the request itself; each followed
 * redirect makes the next one. Allocated from the request's pool. */
typedef struct {
    const char *url;
    const char *method;
    const char *body;           /* NULL: no body */
    apr_size_t body_len;
    apr_table_t *headers;       /* the caller's headers still sent */
} mcp_http_hop_t;

/* Does @a url (the request's own) pass req->url_rules, as the client
 * applies them (MCP_URL_OTHER_SCHEMES ignored)? MCP_EINVALID with *perr
 * when not. */
apr_status_t mcp_http_url_allowed(apr_pool_t *p, const mcp_http_request_t *req,
                                  const char *url, const char **perr);

/* The first hop: the request as the caller made it (shares its table). */
void mcp_http_hop_init(mcp_http_hop_t *hop, const mcp_http_request_t *req);

/* Is @a status one that is followed when redirects are allowed? */
int mcp_http_is_redirect(int status);

/* Turn @a hop into the hop that follows a @a status redirect to @a to_url
 * (absolute, already resolved against hop->url): mcp_http_redirect_check()
 * with req->url_rules, then the method and body rules (303 makes a GET
 * of anything but HEAD, 301/302 make a GET of a POST, the body and its
 * Content-* headers go with the method), then the caller's headers (all
 * of them to the same origin, only req->cross_origin_headers to another;
 * what was dropped once stays dropped). @a hop is unchanged on failure.
 * Returns APR_SUCCESS or MCP_EINVALID with *perr. */
apr_status_t mcp_http_hop_next(mcp_http_hop_t *hop,
                               const mcp_http_request_t *req, int status,
                               const char *to_url, const char **perr);

#endif /* MCP_HTTP_PRIVATE_H */
