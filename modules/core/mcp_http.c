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

/* The library-independent half of the HTTP client: requests, URL rules,
 * response helpers. The transfer itself is in mcp_curl.c. */

#include <strings.h>
#include <apr_lib.h>
#include <apr_strings.h>

#include "mcp/mcp_http.h"
#include "mcp/mcp_url.h"
#include "mcp_http_private.h"

/* RFC 9110 tchar: the characters of a method or a header name. */
static int is_tchar(int c)
{
    return apr_isalnum(c) || (c && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static int is_token(const char *s)
{
    if (!s || !*s) {
        return 0;
    }
    for (; *s; s++) {
        if (!is_tchar((unsigned char)*s)) {
            return 0;
        }
    }
    return 1;
}

/* Only printable ASCII and tab: no CR/LF (header injection), no NUL. */
static int is_field_value(const char *s)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if ((c < 0x20 && c != '\t') || c == 0x7f) {
            return 0;
        }
    }
    return 1;
}

apr_status_t mcp_http_url_check(apr_pool_t *p, const char *url,
                                const char **perr)
{
    /* The same rules as the configuration checks: what starts httpd is
     * what the client will request. */
    return mcp_url_check(p, url, MCP_URL_ANY_HTTP, perr);
}

const char *mcp_http_url_for_log(apr_pool_t *p, const char *url)
{
    return mcp_url_for_log(p, url);
}

apr_status_t mcp_http_request_create(mcp_http_request_t **preq,
                                     apr_pool_t *p, mcp_http_t *http,
                                     const char *method, const char *url,
                                     const char **perr)
{
    const mcp_http_options_t *o;
    mcp_http_request_t *req;
    apr_status_t rv;

    *preq = NULL;
    if (!http) {
        if (perr) {
            *perr = "no HTTP client";
        }
        return MCP_EINVALID;
    }
    if (!method) {
        method = "GET";
    }
    if (!is_token(method)) {
        if (perr) {
            *perr = "HTTP method is not a token";
        }
        return MCP_EINVALID;
    }
    if ((rv = mcp_url_check(p, url, MCP_HTTP_DEFAULT_URL_RULES, perr))
        != APR_SUCCESS) {
        return rv;
    }
    o = mcp_http_options(http);
    req = apr_pcalloc(p, sizeof(*req));
    req->pool = p;
    req->http = http;
    req->method = apr_pstrdup(p, method);
    req->url = apr_pstrdup(p, url);
    req->headers = apr_table_make(p, 8);
    /* The client's options use negative values for "no limit", the
     * request uses 0: clamp. */
    req->connect_timeout = o->connect_timeout > 0 ? o->connect_timeout : 0;
    req->timeout = o->timeout > 0 ? o->timeout : 0;
    req->idle_timeout = o->idle_timeout > 0 ? o->idle_timeout : 0;
    req->max_response_size = o->max_response_size;
    req->max_redirects = o->max_redirects;
    req->url_rules = MCP_HTTP_DEFAULT_URL_RULES;
    req->addr_allow = MCP_ADDR_ALLOW_ALL;
    req->ctl = apr_pcalloc(p, sizeof(*req->ctl));
    *preq = req;
    return APR_SUCCESS;
}

apr_status_t mcp_http_request_header(mcp_http_request_t *req,
                                     const char *name, const char *value,
                                     const char **perr)
{
    const char *err = NULL;

    if (!is_token(name)) {
        err = "header name is not a token";
    }
    else if (!value || !is_field_value(value)) {
        err = apr_psprintf(req->pool, "value of header '%.64s' is missing or "
                           "contains a control character", name);
    }
    else if (!strcasecmp(name, "Content-Length")
             || !strcasecmp(name, "Transfer-Encoding")) {
        /* Framing is the transport's business; a caller's value could
         * desynchronise the connection. */
        err = apr_psprintf(req->pool, "header '%s' is set by the client",
                           name);
    }
    if (err) {
        if (perr) {
            *perr = err;
        }
        return MCP_EINVALID;
    }
    apr_table_add(req->headers, name, value);
    return APR_SUCCESS;
}

apr_status_t mcp_http_request_body(mcp_http_request_t *req,
                                   const char *data, apr_size_t len,
                                   const char *content_type,
                                   const char **perr)
{
    if (!data && len) {
        if (perr) {
            *perr = "request body is NULL but its length is not 0";
        }
        return MCP_EINVALID;
    }
    if (content_type) {
        apr_status_t rv;

        apr_table_unset(req->headers, "Content-Type");
        rv = mcp_http_request_header(req, "Content-Type", content_type, perr);
        if (rv != APR_SUCCESS) {
            return rv;
        }
    }
    req->body = data ? data : "";
    req->body_len = len;
    return APR_SUCCESS;
}

/* ---- redirects ---- */

/* The caller's rules, less what the client never does: a scheme other
 * than http and https. */
static unsigned client_rules(unsigned rules)
{
    return rules & ~(unsigned)MCP_URL_OTHER_SCHEMES;
}

apr_status_t mcp_http_url_allowed(apr_pool_t *p, const mcp_http_request_t *req,
                                  const char *url, const char **perr)
{
    return mcp_url_check(p, url, client_rules(req->url_rules), perr);
}

/* Both ends of a redirect, parsed, when the hop is allowed. */
static apr_status_t redirect_parse(apr_pool_t *p, const char *from_url,
                                   const char *to_url, unsigned rules,
                                   mcp_url_t **pfrom, mcp_url_t **pto,
                                   const char **perr)
{
    const char *err = NULL;

    /* The URL we are at passed the rules already; it is parsed for its
     * scheme and origin only. */
    if (mcp_url_parse(pfrom, p, from_url,
                      MCP_URL_ANY_HTTP | MCP_URL_ALLOW_FRAGMENT, &err)
        != APR_SUCCESS) {
        err = apr_psprintf(p, "redirect from a URL that is not allowed: %s",
                           err);
        goto fail;
    }
    if (mcp_url_parse(pto, p, to_url, client_rules(rules), &err)
        != APR_SUCCESS) {
        err = apr_psprintf(p, "redirect to %s refused: %s",
                           mcp_url_for_log(p, to_url), err);
        goto fail;
    }
    if (!strcmp((*pfrom)->scheme, "https") && strcmp((*pto)->scheme, "https")) {
        err = apr_psprintf(p, "redirect from https to %s refused "
                           "(no downgrade to plain http)",
                           mcp_url_for_log(p, to_url));
        goto fail;
    }
    return APR_SUCCESS;

fail:
    if (perr) {
        *perr = err;
    }
    return MCP_EINVALID;
}

apr_status_t mcp_http_redirect_check(apr_pool_t *p, const char *from_url,
                                     const char *to_url, unsigned rules,
                                     const char **perr)
{
    mcp_url_t *from = NULL, *to = NULL;

    return redirect_parse(p, from_url, to_url, rules, &from, &to, perr);
}

void mcp_http_hop_init(mcp_http_hop_t *hop, const mcp_http_request_t *req)
{
    hop->url = req->url;
    hop->method = req->method;
    hop->body = req->body;
    hop->body_len = req->body_len;
    hop->headers = req->headers;
}

int mcp_http_is_redirect(int status)
{
    return status == 301 || status == 302 || status == 303
        || status == 307 || status == 308;
}

/* Does the redirect make a GET (without body) of the request? RFC 9110
 * 15.4: 303 asks for a GET; after 301 and 302 user agents turn a POST
 * into a GET (and so do browsers and curl); 307 and 308 keep both. */
static int becomes_get(int status, const char *method)
{
    if (status == 303) {
        return strcmp(method, "HEAD") != 0;
    }
    return (status == 301 || status == 302) && !strcmp(method, "POST");
}

static int name_listed(const char *const *names, const char *name)
{
    for (; names && *names; names++) {
        if (!strcasecmp(*names, name)) {
            return 1;
        }
    }
    return 0;
}

/* The headers that go to another origin: the listed ones only. */
static apr_table_t *cross_origin_headers(apr_pool_t *p, const apr_table_t *h,
                                         const char *const *allowed)
{
    const apr_array_header_t *arr = apr_table_elts(h);
    const apr_table_entry_t *e = (const apr_table_entry_t *)arr->elts;
    apr_table_t *out = apr_table_make(p, arr->nelts > 0 ? arr->nelts : 1);
    int i;

    for (i = 0; i < arr->nelts; i++) {
        if (name_listed(allowed, e[i].key)) {
            apr_table_addn(out, e[i].key, e[i].val);
        }
    }
    return out;
}

apr_status_t mcp_http_hop_next(mcp_http_hop_t *hop,
                               const mcp_http_request_t *req, int status,
                               const char *to_url, const char **perr)
{
    /* Fetch's "request-body-header names": they describe the body and go
     * with it. */
    static const char *const body_headers[] = {
        "Content-Type", "Content-Encoding", "Content-Language",
        "Content-Location", NULL
    };
    apr_pool_t *p = req->pool;
    mcp_url_t *from = NULL, *to = NULL;
    apr_table_t *headers;
    apr_status_t rv;

    if (!mcp_http_is_redirect(status)) {
        if (perr) {
            *perr = apr_psprintf(p, "status %d is not a redirect", status);
        }
        return MCP_EINVALID;
    }
    rv = redirect_parse(p, hop->url, to_url, req->url_rules, &from, &to, perr);
    if (rv != APR_SUCCESS) {
        return rv;
    }
    /* From the current hop's headers: what one hop to another origin
     * dropped stays dropped, also when a later hop comes back. */
    headers = mcp_url_same_origin(from, to)
        ? apr_table_copy(p, hop->headers)
        : cross_origin_headers(p, hop->headers, req->cross_origin_headers);
    if (becomes_get(status, hop->method)) {
        const char *const *h;

        hop->method = "GET";
        hop->body = NULL;
        hop->body_len = 0;
        for (h = body_headers; *h; h++) {
            apr_table_unset(headers, *h);
        }
    }
    hop->headers = headers;
    hop->url = apr_pstrdup(p, to_url);
    return APR_SUCCESS;
}

const char *mcp_http_response_header(const mcp_http_response_t *resp,
                                     const char *name)
{
    return (resp && resp->headers) ? apr_table_get(resp->headers, name) : NULL;
}

const char *mcp_http_response_media_type(apr_pool_t *p,
                                         const mcp_http_response_t *resp)
{
    const char *ct = mcp_http_response_header(resp, "Content-Type");
    const char *end;
    char *mt, *s;

    if (!ct) {
        return NULL;
    }
    while (*ct == ' ' || *ct == '\t') {
        ct++;
    }
    end = ct + strcspn(ct, ";");
    while (end > ct && (end[-1] == ' ' || end[-1] == '\t')) {
        end--;
    }
    if (end == ct) {
        return NULL;
    }
    mt = apr_pstrmemdup(p, ct, (apr_size_t)(end - ct));
    for (s = mt; *s; s++) {
        *s = (char)apr_tolower(*s);
    }
    return mt;
}
