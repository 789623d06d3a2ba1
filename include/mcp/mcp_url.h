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
 * @file mcp_url.h
 * @brief The URL rules: one parser and checker for configuration, the
 *        HTTP client, OAuth redirect URIs and resource indicators.
 *
 * Configuration checks and the HTTP client call the same mcp_url_check(),
 * so a URL that starts httpd is a URL the client will request.
 *
 * What mcp_url_parse() accepts, whatever the rules:
 *  - a non-empty string of at most MCP_URL_MAX_LEN bytes, each printable
 *    ASCII (0x21-0x7e) other than '\\' (which browsers read as '/'):
 *    no spaces, controls or raw UTF-8; an international host name must
 *    come as punycode;
 *  - an RFC 3986 scheme followed by "://" and an authority;
 *  - a host of [A-Za-z0-9._-] or an IPv6 literal in brackets (no zone id);
 *    IPv4 literals in any spelling the resolver takes ("127.1") are
 *    recognised as addresses (mcp_addr_parse());
 *  - never userinfo (user:password@);
 *  - a port, when given, of 1 to 5 decimal digits from 1 to 65535;
 *  - well-formed %XX escapes in path, query and fragment.
 *
 * Messages name the problem, never the URL's query (it may carry
 * secrets); where a URL must appear in a message or log line, use
 * mcp_url_for_log().
 */
#ifndef MCP_URL_H
#define MCP_URL_H

#include <apr_network_io.h>
#include <apr_pools.h>
#include <apr_tables.h>

#include "mcp/mcp_common.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Longest URL accepted; real endpoints are far shorter. */
#define MCP_URL_MAX_LEN 8192

/** A parsed URL; every string is allocated from the parse's pool. */
typedef struct {
    const char *scheme;      /**< lower-cased */
    const char *host;        /**< lower-cased, an IPv6 literal without [] */
    apr_port_t port;         /**< explicit, or the scheme's default (80 for
                                  http, 443 for https, 0 for others) */
    int port_given;          /**< the URL names a port */
    const char *path;        /**< "" when absent, else starts with '/' */
    const char *query;       /**< without '?'; NULL when there is no '?' */
    const char *fragment;    /**< without '#'; NULL when there is no '#' */
    int host_family;         /**< 0 for a name, AF_INET or AF_INET6 for an
                                  IP literal */
    unsigned char host_addr[16]; /**< the address when host_family is set */
} mcp_url_t;

/** @name Rules for mcp_url_parse() and mcp_url_check() */
/** @{ */
/** https to any host. */
#define MCP_URL_HTTPS          0x0001
/** http when the host is loopback (mcp_url_is_loopback_host()). */
#define MCP_URL_HTTP_LOOPBACK  0x0002
/** http to any host. */
#define MCP_URL_HTTP           0x0004
/** https, or http to a loopback host: endpoints that carry credentials. */
#define MCP_URL_SECURE   (MCP_URL_HTTPS | MCP_URL_HTTP_LOOPBACK)
/** http or https to any host (upstream servers on a private network). */
#define MCP_URL_ANY_HTTP (MCP_URL_HTTPS | MCP_URL_HTTP)
/** No '?' at all (issuer identifiers, RFC 8414 §2). */
#define MCP_URL_NO_QUERY       0x0010
/** Accept a '#' fragment (refused by default). */
#define MCP_URL_ALLOW_FRAGMENT 0x0020
/** A path other than "" and "/" (Client ID Metadata Document URLs). */
#define MCP_URL_NEED_PATH      0x0040
/**
 * Any RFC 3986 scheme besides http and https (e.g. cursor://host/cb); the
 * http rules above still apply to http and https URLs.
 */
#define MCP_URL_OTHER_SCHEMES  0x0080
/** @} */

/**
 * Parse and check @a url against @a rules (an OR of MCP_URL_* flags; at
 * least one of HTTPS, HTTP_LOOPBACK, HTTP or OTHER_SCHEMES, or every URL
 * is refused).
 * @param pu the parsed URL, from @a p (may be NULL to check only)
 * @return APR_SUCCESS, or MCP_EINVALID with *perr (from @a p) naming the
 *         problem, e.g. "URL port is not a number from 1 to 65535".
 */
apr_status_t mcp_url_parse(mcp_url_t **pu, apr_pool_t *p, const char *url,
                           unsigned rules, const char **perr);

/** mcp_url_parse() without keeping the result. */
apr_status_t mcp_url_check(apr_pool_t *p, const char *url, unsigned rules,
                           const char **perr);

/**
 * Is @a host "localhost" (any case) or an IP literal of this host's
 * loopback: 127.0.0.0/8 in any spelling, ::1 (also "[::1]") or
 * ::ffff:127.0.0.0/104? Not "foo.localhost", nor the tunnel and
 * translation forms (6to4, NAT64) whose packets leave the host.
 */
int mcp_url_is_loopback_host(const char *host);

/**
 * "scheme://host[:port]", canonical: lower case, the default port
 * dropped, an IP literal in its usual form ("127.0.0.1" for "127.1",
 * "[::1]").
 */
const char *mcp_url_origin(apr_pool_t *p, const mcp_url_t *u);

/**
 * Parse an origin as configuration or an Origin header gives it:
 * "scheme://host[:port]" with an http or https scheme, no query, and no
 * path other than "/".
 * @param porigin set to its mcp_url_origin() form, from @a p, so that
 *        two spellings of one origin compare equal with strcmp()
 * @return APR_SUCCESS, or MCP_EINVALID with *perr (from @a p).
 */
apr_status_t mcp_url_origin_parse(const char **porigin, apr_pool_t *p,
                                  const char *s, const char **perr);

/**
 * The form in which resource indicators (RFC 8707) are compared: the
 * origin, then the path without one trailing '/' (so "/" is dropped
 * altogether) and with %XX escapes normalised (RFC 3986 §6.2.2: escaped
 * unreserved characters decoded, hex digits upper case), then "?query"
 * when there is one; never the fragment. "https://GW/mcp/" and
 * "https://gw:443/mcp" are both "https://gw/mcp".
 */
const char *mcp_url_canonical(apr_pool_t *p, const mcp_url_t *u);

/**
 * Do @a a and @a b name the same resource: both parse as http(s) URLs
 * (MCP_URL_ANY_HTTP) and have the same mcp_url_canonical()?
 */
int mcp_url_same_resource(apr_pool_t *p, const char *a, const char *b);

/** Same scheme, host and effective port (RFC 6454)? */
int mcp_url_same_origin(const mcp_url_t *a, const mcp_url_t *b);

/**
 * @a url reduced to scheme://host[:port]/path, without userinfo, query or
 * fragment, any byte outside printable ASCII %-escaped and a long path
 * cut: what may appear in a log line or an error message. Works on
 * invalid URLs too ("(invalid URL)" when there is not even a scheme).
 */
const char *mcp_url_for_log(apr_pool_t *p, const char *url);

/**
 * %-encode @a s for a query component: RFC 3986 unreserved characters
 * (ALPHA, DIGIT, "-", ".", "_", "~") are kept, every other byte becomes
 * %XX (upper case). NULL gives "".
 */
const char *mcp_url_encode(apr_pool_t *p, const char *s);

/**
 * Decode application/x-www-form-urlencoded data (a POST body or a query
 * string): pairs separated by '&' (empty pairs skipped), key and value
 * separated by the first '=' (none: the value is ""), '+' is a space and
 * %XX a byte.
 *
 * Repeated keys are all kept (apr_table_add), so the caller can refuse
 * them (OAuth: parameters "MUST NOT be included more than once"). Note
 * that apr_table lookups ignore case.
 *
 * @param max_params most pairs accepted (0: no limit)
 * @param max_len    longest pair accepted, in bytes as encoded (0: no
 *                   limit)
 * @return APR_SUCCESS with *pt; MCP_ETOOLARGE when a limit is exceeded;
 *         MCP_EINVALID for a bad %-escape, or a key or value that decodes
 *         to NUL or to invalid UTF-8. Messages never quote the data.
 */
apr_status_t mcp_url_form_decode(apr_table_t **pt, apr_pool_t *p,
                                 const char *data, apr_size_t len,
                                 int max_params, apr_size_t max_len,
                                 const char **perr);

/**
 * The value of parameter @a name in a table of mcp_url_form_decode(),
 * matched case-sensitively (OAuth parameter names are; apr_table_get() is
 * not): the last one given, or NULL. When it is given more than once,
 * *pdup (may be NULL) is set to 1, else left alone.
 */
const char *mcp_url_form_get(const apr_table_t *form, const char *name,
                             int *pdup);

/**
 * Append "key=value" (both encoded with mcp_url_encode(); a NULL value is
 * "") to @a base, after '?' or '&' as the URL already has a query or not.
 * @return the new URL, or NULL when @a base is NULL or has a fragment.
 */
const char *mcp_url_add_query(apr_pool_t *p, const char *base,
                              const char *key, const char *value);

/** What kind of OAuth redirect URI (OAuth 2.1 §2.3.1, RFC 8252 §7). */
typedef enum {
    MCP_REDIRECT_HTTPS,        /**< https, any host (loopback too) */
    MCP_REDIRECT_LOOPBACK,     /**< http to localhost, 127.0.0.0/8, [::1] */
    MCP_REDIRECT_PRIVATE_USE   /**< an app's own scheme (cursor://...) */
} mcp_redirect_kind_e;

/**
 * Classify a redirect URI. It must be absolute, without fragment or
 * userinfo. https (checked by mcp_url_parse()) is HTTPS; http with a
 * loopback host is LOOPBACK, http to any other host is refused; another
 * RFC 3986 scheme is PRIVATE_USE, unless it is one a browser or OS would
 * run or fetch itself (javascript, data, file, vbscript, about, blob,
 * filesystem, ws, wss, ftp, mailto, tel, view-source, chrome, intent,
 * ...). A private-use URI needs no authority ("com.example.app:/cb").
 * @return APR_SUCCESS with *pkind, or MCP_EINVALID with *perr.
 */
apr_status_t mcp_url_redirect_kind(apr_pool_t *p, const char *uri,
                                   mcp_redirect_kind_e *pkind,
                                   const char **perr);

/**
 * Does the redirect_uri a client presents match the one it registered?
 * Exact string comparison, except for loopback redirect URIs (RFC 8252
 * §7.3): when both are MCP_REDIRECT_LOOPBACK with the same host, path and
 * query, the port may differ (or be absent in either).
 */
int mcp_url_redirect_matches(apr_pool_t *p, const char *registered,
                             const char *presented);

#ifdef __cplusplus
}
#endif

#endif /* MCP_URL_H */
