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
#include <apr_uri.h>

#include "mcp/mcp_http.h"
#include "mcp/mcp_url.h"
#include "mcp_http_private.h"

/* Longest URL we accept; real MCP endpoints are far shorter. */
#define MCP_HTTP_MAX_URL 8192

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

static int is_host_char(int c)
{
    return apr_isalnum(c) || c == '-' || c == '.' || c == '_' || c == ':';
}

apr_status_t mcp_http_url_check(apr_pool_t *p, const char *url,
                                const char **perr)
{
    apr_uri_t uri;
    const char *s, *err = NULL;
    apr_size_t len;

    if (!url || !*url) {
        err = "empty URL";
        goto fail;
    }
    len = strlen(url);
    if (len > MCP_HTTP_MAX_URL) {
        err = apr_psprintf(p, "URL longer than %d bytes", MCP_HTTP_MAX_URL);
        goto fail;
    }
    /* URLs are ASCII; spaces and controls would be re-encoded or cut by
     * the transport, and bytes above 0x7f must be percent-encoded. */
    for (s = url; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c <= 0x20 || c >= 0x7f) {
            err = "URL contains a space, control or non-ASCII character";
            goto fail;
        }
    }
    if (apr_uri_parse(p, url, &uri) != APR_SUCCESS || !uri.scheme) {
        err = "URL is not absolute";
        goto fail;
    }
    if (strcasecmp(uri.scheme, "http") && strcasecmp(uri.scheme, "https")) {
        err = apr_psprintf(p, "URL scheme '%.16s' is not allowed "
                           "(only http and https)", uri.scheme);
        goto fail;
    }
    if (strncmp(url + strlen(uri.scheme), "://", 3)) {
        err = "URL has no '//' authority";
        goto fail;
    }
    if (!uri.hostname || !*uri.hostname) {
        err = "URL has no host";
        goto fail;
    }
    for (s = uri.hostname; *s; s++) {
        if (!is_host_char((unsigned char)*s)) {
            err = "URL host contains an invalid character";
            goto fail;
        }
    }
    if (uri.user || uri.password) {
        /* Credentials in URLs end up in logs; headers are the place. */
        err = "URL contains user credentials";
        goto fail;
    }
    if (uri.port_str && *uri.port_str) {
        for (s = uri.port_str; *s; s++) {
            if (!apr_isdigit(*s)) {
                break;
            }
        }
        if (*s || strlen(uri.port_str) > 5 || uri.port == 0) {
            err = "URL port is not a number from 1 to 65535";
            goto fail;
        }
        if (apr_atoi64(uri.port_str) > 65535) {
            err = "URL port is not a number from 1 to 65535";
            goto fail;
        }
    }
    return APR_SUCCESS;

fail:
    if (perr) {
        *perr = err;
    }
    return MCP_EINVALID;
}

const char *mcp_http_url_for_log(apr_pool_t *p, const char *url)
{
    apr_uri_t uri;
    const char *host;

    if (!url || apr_uri_parse(p, url, &uri) != APR_SUCCESS
        || !uri.scheme || !uri.hostname) {
        return "(invalid URL)";
    }
    host = strchr(uri.hostname, ':')
        ? apr_pstrcat(p, "[", uri.hostname, "]", NULL) : uri.hostname;
    return apr_pstrcat(p, uri.scheme, "://", host,
                       (uri.port_str && *uri.port_str) ? ":" : "",
                       (uri.port_str && *uri.port_str) ? uri.port_str : "",
                       uri.path ? uri.path : "/", NULL);
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
