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

/* The URL rules. A parser of our own rather than apr_uri_parse(): that one
 * accepts ports above 65535, any byte in the host and userinfo anywhere,
 * and the point of this file is that every caller gets the same, strict
 * answer. */

#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include <apr_lib.h>
#include <apr_strings.h>

#include "mcp/mcp_addr.h"
#include "mcp/mcp_url.h"

/* Longest path mcp_url_for_log() writes before cutting it. */
#define FOR_LOG_MAX_PATH 256

static const char hexdigits[] = "0123456789ABCDEF";

/* Messages given by more than one check. */
#define MSG_USERINFO "URL must not carry user:password@"
#define MSG_FRAGMENT "URL must not have a #fragment"
#define MSG_ESCAPE   "URL has a '%' that does not start a %XX escape"

static apr_status_t url_fail(const char **perr, const char *msg)
{
    if (perr) {
        *perr = msg;
    }
    return MCP_EINVALID;
}

static int is_unreserved(int c)
{
    return apr_isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~';
}

static int hexval(int c)
{
    return apr_isdigit(c) ? c - '0' : apr_tolower(c) - 'a' + 10;
}

static char *lower(apr_pool_t *p, const char *s, apr_size_t len)
{
    char *out = apr_pstrmemdup(p, s, len), *c;

    for (c = out; *c; c++) {
        *c = (char)apr_tolower(*c);
    }
    return out;
}

/* Length of the RFC 3986 scheme at the start of @a s when a ':' follows
 * it, else 0. */
static apr_size_t scheme_len(const char *s)
{
    apr_size_t n;

    if (!apr_isalpha(*s)) {
        return 0;
    }
    for (n = 1; apr_isalnum(s[n]) || s[n] == '+' || s[n] == '-'
                || s[n] == '.'; n++) {
    }
    return s[n] == ':' ? n : 0;
}

/* Printable ASCII without backslash, which WHATWG parsers read as '/'
 * and RFC 3986 does not allow: the two would disagree on the host. */
static const char *check_chars(const char *url)
{
    const char *s;

    for (s = url; *s; s++) {
        unsigned char c = (unsigned char)*s;

        if (c <= 0x20 || c >= 0x7f) {
            return "URL contains a space, control or non-ASCII character "
                   "(international host names must be given in punycode, "
                   "other bytes %-escaped)";
        }
        if (c == '\\') {
            return "URL contains a backslash";
        }
    }
    return NULL;
}

/* Every '%' in the first @a len bytes starts a %XX escape? */
static int escapes_ok(const char *s, apr_size_t len)
{
    apr_size_t i;

    for (i = 0; i < len; i++) {
        if (s[i] == '%') {
            if (len - i < 3 || !apr_isxdigit(s[i + 1])
                || !apr_isxdigit(s[i + 2])) {
                return 0;
            }
            i += 2;
        }
    }
    return 1;
}

static apr_port_t default_port(const char *scheme)
{
    return !strcmp(scheme, "https") ? 443 : !strcmp(scheme, "http") ? 80 : 0;
}

static int is_http(const char *scheme)
{
    return !strcmp(scheme, "http") || !strcmp(scheme, "https");
}

static int is_host_char(int c)
{
    return apr_isalnum(c) || c == '.' || c == '-' || c == '_';
}

/* Host and port of the authority [a, end). */
static apr_status_t parse_authority(mcp_url_t *u, apr_pool_t *p,
                                    const char *a, const char *end,
                                    const char **perr)
{
    const char *h_end, *port = NULL, *s;
    apr_size_t hlen;

    if (memchr(a, '@', (apr_size_t)(end - a))) {
        /* Credentials in URLs end up in logs and browser histories;
         * headers are the place for them. */
        return url_fail(perr, MSG_USERINFO);
    }
    if (*a == '[') {
        h_end = memchr(a, ']', (apr_size_t)(end - a));
        if (!h_end) {
            return url_fail(perr, "URL has an unclosed '[' in its host");
        }
        h_end++;
        if (h_end < end && *h_end != ':') {
            return url_fail(perr, "URL has characters after its IPv6 "
                            "literal");
        }
    }
    else {
        h_end = memchr(a, ':', (apr_size_t)(end - a));
        if (!h_end) {
            h_end = end;
        }
    }
    if (h_end < end) {
        port = h_end + 1;
    }
    hlen = (apr_size_t)(h_end - a);
    if (hlen == 0) {
        return url_fail(perr, "URL has no host");
    }
    if (*a == '[') {
        const char *lit = apr_pstrmemdup(p, a, hlen);

        if (!mcp_addr_parse(lit, &u->host_family, u->host_addr)
            || u->host_family != AF_INET6) {
            return url_fail(perr, "URL host is not a valid IPv6 literal "
                            "(zone ids are not allowed)");
        }
        u->host = lower(p, a + 1, hlen - 2);
    }
    else {
        for (s = a; s < h_end; s++) {
            if (!is_host_char((unsigned char)*s)) {
                return url_fail(perr, "URL host contains an invalid "
                                "character (allowed: letters, digits, "
                                "'.', '-', '_', or an [IPv6] literal)");
            }
        }
        u->host = lower(p, a, hlen);
        /* A name leaves host_family 0; "127.1" is an address. */
        mcp_addr_parse(u->host, &u->host_family, u->host_addr);
    }
    if (port) {
        apr_size_t plen = (apr_size_t)(end - port);
        long v = 0;

        /* At most five digits, so the sum cannot overflow. */
        for (s = port; plen <= 5 && s < end && apr_isdigit(*s); s++) {
            v = v * 10 + (*s - '0');
        }
        if (plen == 0 || plen > 5 || s < end || v < 1 || v > 65535) {
            return url_fail(perr, "URL port is not a number from 1 to "
                            "65535");
        }
        u->port = (apr_port_t)v;
        u->port_given = 1;
    }
    return APR_SUCCESS;
}

static apr_status_t scheme_refused(apr_pool_t *p, const char *scheme,
                                   unsigned rules, const char **perr)
{
    int https = (rules & MCP_URL_HTTPS) != 0;
    int http = (rules & (MCP_URL_HTTP | MCP_URL_HTTP_LOOPBACK)) != 0;

    return url_fail(perr, apr_psprintf(p, "URL scheme '%.16s' is not "
                                       "allowed (%s)", scheme,
                                       https && !http ? "must be https"
                                       : http && !https ? "must be http"
                                       : "must be an http or https URL"));
}

/* The http(s) rules, which need the parsed host. */
static apr_status_t check_http_scheme(const mcp_url_t *u, apr_pool_t *p,
                                      unsigned rules, const char **perr)
{
    if (!strcmp(u->scheme, "https")) {
        return (rules & MCP_URL_HTTPS) ? APR_SUCCESS
                                       : scheme_refused(p, u->scheme, rules,
                                                        perr);
    }
    if ((rules & MCP_URL_HTTP)
        || ((rules & MCP_URL_HTTP_LOOPBACK)
            && mcp_url_is_loopback_host(u->host))) {
        return APR_SUCCESS;
    }
    if (rules & MCP_URL_HTTPS) {
        return url_fail(perr, "URL must use https (http is allowed for "
                        "localhost, 127.0.0.0/8 and [::1] only)");
    }
    return scheme_refused(p, u->scheme, rules, perr);
}

/* What every URL must be before its parts are looked at. */
static apr_status_t check_text(apr_pool_t *p, const char *url,
                               const char **perr)
{
    const char *err;

    if (!url || !*url) {
        return url_fail(perr, "empty URL");
    }
    if (strlen(url) > MCP_URL_MAX_LEN) {
        return url_fail(perr, apr_psprintf(p, "URL longer than %d bytes",
                                           MCP_URL_MAX_LEN));
    }
    if ((err = check_chars(url)) != NULL) {
        return url_fail(perr, err);
    }
    return APR_SUCCESS;
}

apr_status_t mcp_url_parse(mcp_url_t **pu, apr_pool_t *p, const char *url,
                           unsigned rules, const char **perr)
{
    mcp_url_t *u;
    const char *a, *end, *q, *f, *stop;
    apr_size_t slen;
    apr_status_t rv;

    if (pu) {
        *pu = NULL;
    }
    if ((rv = check_text(p, url, perr)) != APR_SUCCESS) {
        return rv;
    }
    slen = scheme_len(url);
    if (!slen) {
        return url_fail(perr, "not an absolute URL (scheme://host/...)");
    }
    u = apr_pcalloc(p, sizeof(*u));
    u->scheme = lower(p, url, slen);
    if (!is_http(u->scheme) && !(rules & MCP_URL_OTHER_SCHEMES)) {
        return scheme_refused(p, u->scheme, rules, perr);
    }
    if (strncmp(url + slen, "://", 3)) {
        return url_fail(perr, "not an absolute URL: no '//' after the "
                        "scheme");
    }
    a = url + slen + 3;
    end = a + strcspn(a, "/?#");
    if ((rv = parse_authority(u, p, a, end, perr)) != APR_SUCCESS) {
        return rv;
    }
    if (!u->port_given) {
        u->port = default_port(u->scheme);
    }
    /* path ['?' query] ['#' fragment]; a '?' after the '#' is part of
     * the fragment. */
    f = strchr(end, '#');
    stop = f ? f : end + strlen(end);
    q = memchr(end, '?', (apr_size_t)(stop - end));
    u->path = apr_pstrmemdup(p, end, (apr_size_t)((q ? q : stop) - end));
    if (q) {
        u->query = apr_pstrmemdup(p, q + 1, (apr_size_t)(stop - q - 1));
    }
    if (f) {
        u->fragment = apr_pstrdup(p, f + 1);
    }
    if (!escapes_ok(end, strlen(end))) {
        return url_fail(perr, MSG_ESCAPE);
    }
    if (is_http(u->scheme)
        && (rv = check_http_scheme(u, p, rules, perr)) != APR_SUCCESS) {
        return rv;
    }
    if (u->fragment && !(rules & MCP_URL_ALLOW_FRAGMENT)) {
        return url_fail(perr, MSG_FRAGMENT);
    }
    if (u->query && (rules & MCP_URL_NO_QUERY)) {
        return url_fail(perr, "URL must not have a ?query");
    }
    if ((rules & MCP_URL_NEED_PATH) && (!*u->path || !strcmp(u->path, "/"))) {
        return url_fail(perr, "URL needs a path (not just '/')");
    }
    if (pu) {
        *pu = u;
    }
    return APR_SUCCESS;
}

apr_status_t mcp_url_check(apr_pool_t *p, const char *url, unsigned rules,
                           const char **perr)
{
    return mcp_url_parse(NULL, p, url, rules, perr);
}

int mcp_url_is_loopback_host(const char *host)
{
    unsigned char a[16];
    int family;

    if (!host || !*host) {
        return 0;
    }
    if (!strcasecmp(host, "localhost")) {
        return 1;
    }
    return mcp_addr_parse(host, &family, a) && mcp_addr_is_loopback(family, a);
}

static const char *origin_host(apr_pool_t *p, const mcp_url_t *u)
{
    if (u->host_family == AF_INET6) {
        return apr_pstrcat(p, "[", mcp_addr_format(p, AF_INET6, u->host_addr),
                           "]", NULL);
    }
    if (u->host_family) {
        return mcp_addr_format(p, u->host_family, u->host_addr);
    }
    return u->host;
}

const char *mcp_url_origin(apr_pool_t *p, const mcp_url_t *u)
{
    if (u->port_given && u->port != default_port(u->scheme)) {
        return apr_psprintf(p, "%s://%s:%u", u->scheme, origin_host(p, u),
                            (unsigned)u->port);
    }
    return apr_pstrcat(p, u->scheme, "://", origin_host(p, u), NULL);
}

apr_status_t mcp_url_origin_parse(const char **porigin, apr_pool_t *p,
                                  const char *s, const char **perr)
{
    mcp_url_t *u;
    apr_status_t rv;

    rv = mcp_url_parse(&u, p, s, MCP_URL_ANY_HTTP | MCP_URL_NO_QUERY, perr);
    if (rv != APR_SUCCESS) {
        return rv;
    }
    if (u->fragment || (*u->path && strcmp(u->path, "/"))) {
        *perr = "not an origin (scheme://host[:port])";
        return MCP_EINVALID;
    }
    *porigin = mcp_url_origin(p, u);
    return APR_SUCCESS;
}

/* RFC 3986 §6.2.2.2: escaped unreserved characters are the characters;
 * the hex digits of other escapes are upper case. */
static char *normalize_escapes(apr_pool_t *p, const char *s, apr_size_t len)
{
    char *out = apr_palloc(p, len + 1), *o = out;
    apr_size_t i;

    for (i = 0; i < len; i++) {
        if (s[i] == '%' && len - i >= 3 && apr_isxdigit(s[i + 1])
            && apr_isxdigit(s[i + 2])) {
            int c = hexval((unsigned char)s[i + 1]) * 16
                  + hexval((unsigned char)s[i + 2]);

            if (is_unreserved(c)) {
                *o++ = (char)c;
            }
            else {
                *o++ = '%';
                *o++ = (char)apr_toupper(s[i + 1]);
                *o++ = (char)apr_toupper(s[i + 2]);
            }
            i += 2;
        }
        else {
            *o++ = s[i];
        }
    }
    *o = '\0';
    return out;
}

const char *mcp_url_canonical(apr_pool_t *p, const mcp_url_t *u)
{
    apr_size_t plen = strlen(u->path);

    if (plen && u->path[plen - 1] == '/') {
        plen--;
    }
    return apr_pstrcat(p, mcp_url_origin(p, u),
                       normalize_escapes(p, u->path, plen),
                       u->query ? "?" : "",
                       u->query ? normalize_escapes(p, u->query,
                                                    strlen(u->query)) : "",
                       NULL);
}

int mcp_url_same_resource(apr_pool_t *p, const char *a, const char *b)
{
    mcp_url_t *ua, *ub;

    if (mcp_url_parse(&ua, p, a, MCP_URL_ANY_HTTP, NULL) != APR_SUCCESS
        || mcp_url_parse(&ub, p, b, MCP_URL_ANY_HTTP, NULL) != APR_SUCCESS) {
        return 0;
    }
    return !strcmp(mcp_url_canonical(p, ua), mcp_url_canonical(p, ub));
}

static int same_host(const mcp_url_t *a, const mcp_url_t *b)
{
    if (a->host_family || b->host_family) {
        return a->host_family == b->host_family
            && !memcmp(a->host_addr, b->host_addr,
                       a->host_family == AF_INET ? 4 : 16);
    }
    return !strcmp(a->host, b->host);
}

int mcp_url_same_origin(const mcp_url_t *a, const mcp_url_t *b)
{
    return a && b && !strcmp(a->scheme, b->scheme) && same_host(a, b)
        && a->port == b->port;
}

/* Append [s, s + len) to @a out, %-escaping what is not printable ASCII:
 * a log line gets no controls from a URL. */
static char *log_escape(char *o, const char *s, apr_size_t len)
{
    apr_size_t i;

    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];

        if (c <= 0x20 || c >= 0x7f) {
            *o++ = '%';
            *o++ = hexdigits[c >> 4];
            *o++ = hexdigits[c & 0x0f];
        }
        else {
            *o++ = (char)c;
        }
    }
    return o;
}

const char *mcp_url_for_log(apr_pool_t *p, const char *url)
{
    const char *rest, *a, *end, *at;
    apr_size_t slen, plen, i;
    char *out, *o;
    int cut = 0;

    if (!url || !(slen = scheme_len(url))) {
        return "(invalid URL)";
    }
    rest = url + slen + 1;
    a = NULL;
    end = rest;
    if (!strncmp(rest, "//", 2)) {
        a = rest + 2;
        end = a + strcspn(a, "/?#");
        /* The host is after the last '@' of the authority. */
        for (at = a; at < end; at++) {
            if (*at == '@') {
                a = at + 1;
            }
        }
    }
    plen = strcspn(end, "?#");
    if (plen > FOR_LOG_MAX_PATH) {
        plen = FOR_LOG_MAX_PATH;
        cut = 1;
    }
    /* Three bytes per escaped byte at most, plus "://", "/", "..." */
    out = apr_palloc(p, 3 * (slen + (a ? (apr_size_t)(end - a) : 0) + plen)
                     + 16);
    o = out;
    for (i = 0; i < slen; i++) {
        *o++ = (char)apr_tolower(url[i]);
    }
    *o++ = ':';
    if (a) {
        memcpy(o, "//", 2);
        o = log_escape(o + 2, a, (apr_size_t)(end - a));
        if (!plen) {
            *o++ = '/';
        }
    }
    o = log_escape(o, end, plen);
    if (cut) {
        memcpy(o, "...", 3);
        o += 3;
    }
    *o = '\0';
    return out;
}

const char *mcp_url_encode(apr_pool_t *p, const char *s)
{
    apr_size_t n = 0;
    const unsigned char *c;
    char *out, *o;

    if (!s) {
        return "";
    }
    for (c = (const unsigned char *)s; *c; c++) {
        n += is_unreserved(*c) ? 1 : 3;
    }
    o = out = apr_palloc(p, n + 1);
    for (c = (const unsigned char *)s; *c; c++) {
        if (is_unreserved(*c)) {
            *o++ = (char)*c;
        }
        else {
            *o++ = '%';
            *o++ = hexdigits[*c >> 4];
            *o++ = hexdigits[*c & 0x0f];
        }
    }
    *o = '\0';
    return out;
}

/* Strict UTF-8 (RFC 3629): no overlong forms, no surrogates, nothing
 * above U+10FFFF. */
static int utf8_valid(const unsigned char *s, apr_size_t len)
{
    apr_size_t i = 0;

    while (i < len) {
        unsigned char c = s[i];
        apr_size_t n, k;
        unsigned long cp;

        if (c < 0x80) {
            i++;
            continue;
        }
        if (c >= 0xc2 && c <= 0xdf) {
            n = 1;
            cp = c & 0x1f;
        }
        else if (c >= 0xe0 && c <= 0xef) {
            n = 2;
            cp = c & 0x0f;
        }
        else if (c >= 0xf0 && c <= 0xf4) {
            n = 3;
            cp = c & 0x07;
        }
        else {
            return 0;
        }
        if (len - i <= n) {
            return 0;
        }
        for (k = 1; k <= n; k++) {
            if ((s[i + k] & 0xc0) != 0x80) {
                return 0;
            }
            cp = (cp << 6) | (s[i + k] & 0x3f);
        }
        if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000)
            || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
            return 0;
        }
        i += n + 1;
    }
    return 1;
}

/* Decode one form component into a new string. */
static apr_status_t form_component(const char **pout, apr_pool_t *p,
                                   const char *s, apr_size_t len)
{
    char *out = apr_palloc(p, len + 1), *o = out;
    apr_size_t i;

    for (i = 0; i < len; i++) {
        if (s[i] == '+') {
            *o++ = ' ';
        }
        else if (s[i] == '%') {
            if (len - i < 3 || !apr_isxdigit(s[i + 1])
                || !apr_isxdigit(s[i + 2])) {
                return MCP_EINVALID;
            }
            *o++ = (char)(hexval((unsigned char)s[i + 1]) * 16
                          + hexval((unsigned char)s[i + 2]));
            i += 2;
        }
        else {
            *o++ = s[i];
        }
    }
    if (memchr(out, '\0', (apr_size_t)(o - out))
        || !utf8_valid((const unsigned char *)out, (apr_size_t)(o - out))) {
        return MCP_EINVALID;
    }
    *o = '\0';
    *pout = out;
    return APR_SUCCESS;
}

const char *mcp_url_form_get(const apr_table_t *form, const char *name,
                             int *pdup)
{
    const apr_array_header_t *arr = apr_table_elts(form);
    const apr_table_entry_t *e = (const apr_table_entry_t *)arr->elts;
    const char *value = NULL;
    int i, count = 0;

    for (i = 0; i < arr->nelts; i++) {
        if (e[i].key && !strcmp(e[i].key, name)) {
            value = e[i].val;
            count++;
        }
    }
    if (count > 1 && pdup) {
        *pdup = 1;
    }
    return value;
}

apr_status_t mcp_url_form_decode(apr_table_t **pt, apr_pool_t *p,
                                 const char *data, apr_size_t len,
                                 int max_params, apr_size_t max_len,
                                 const char **perr)
{
    apr_table_t *t = apr_table_make(p, 8);
    apr_size_t pos = 0;
    int n = 0;

    *pt = NULL;
    if (!data && len) {
        return url_fail(perr, "form data is NULL but its length is not 0");
    }
    while (pos < len) {
        const char *pair = data + pos, *amp, *eq, *key, *val;
        apr_size_t plen, klen;

        amp = memchr(pair, '&', len - pos);
        plen = amp ? (apr_size_t)(amp - pair) : len - pos;
        pos += plen + 1;
        if (!plen) {
            continue;
        }
        if (++n > max_params && max_params > 0) {
            if (perr) {
                *perr = apr_psprintf(p, "form data has more than %d "
                                     "parameters", max_params);
            }
            return MCP_ETOOLARGE;
        }
        if (max_len && plen > max_len) {
            if (perr) {
                *perr = apr_psprintf(p, "form parameter %d is longer than "
                                     "%" APR_SIZE_T_FMT " bytes", n,
                                     max_len);
            }
            return MCP_ETOOLARGE;
        }
        eq = memchr(pair, '=', plen);
        klen = eq ? (apr_size_t)(eq - pair) : plen;
        if (form_component(&key, p, pair, klen) != APR_SUCCESS
            || form_component(&val, p, eq ? eq + 1 : "",
                              eq ? plen - klen - 1 : 0) != APR_SUCCESS) {
            /* Never quote the data: it may be a secret or a code. */
            return url_fail(perr, "form data has a bad %-escape, a NUL or "
                            "invalid UTF-8");
        }
        apr_table_add(t, key, val);
    }
    *pt = t;
    return APR_SUCCESS;
}

const char *mcp_url_add_query(apr_pool_t *p, const char *base,
                              const char *key, const char *value)
{
    const char *q, *sep;
    apr_size_t len;

    if (!base || strchr(base, '#')) {
        return NULL;
    }
    len = strlen(base);
    q = strchr(base, '?');
    sep = !q ? "?" : (base[len - 1] == '?' || base[len - 1] == '&') ? "" : "&";
    return apr_pstrcat(p, base, sep, mcp_url_encode(p, key), "=",
                       mcp_url_encode(p, value), NULL);
}

/* Schemes a browser or the OS handles itself (or that run code, or fetch
 * something): a code sent there would not reach an app. */
static const char *const dangerous_schemes[] = {
    "javascript", "vbscript", "livescript", "data", "file", "about",
    "blob", "filesystem", "ws", "wss", "ftp", "ftps", "sftp", "tftp",
    "gopher", "ldap", "ldaps", "dict", "telnet", "ssh", "smb", "nntp",
    "news", "mailto", "tel", "sms", "view-source", "chrome",
    "chrome-extension", "moz-extension", "resource", "intent", "jar",
    "urn", NULL
};

static apr_status_t private_use_check(apr_pool_t *p, const char *uri,
                                      const char *scheme, const char **perr)
{
    const char *rest = uri + strlen(scheme) + 1, *end;
    int i;

    for (i = 0; dangerous_schemes[i]; i++) {
        if (!strcmp(scheme, dangerous_schemes[i])) {
            return url_fail(perr, apr_psprintf(p, "redirect URI scheme "
                                               "'%s' is not allowed",
                                               scheme));
        }
    }
    if (!*rest) {
        return url_fail(perr, "redirect URI has nothing after its scheme");
    }
    if (!strncmp(rest, "//", 2)) {
        end = rest + 2 + strcspn(rest + 2, "/?#");
        if (memchr(rest + 2, '@', (apr_size_t)(end - rest - 2))) {
            return url_fail(perr, MSG_USERINFO);
        }
    }
    if (strchr(rest, '#')) {
        return url_fail(perr, MSG_FRAGMENT);
    }
    if (!escapes_ok(rest, strlen(rest))) {
        return url_fail(perr, MSG_ESCAPE);
    }
    return APR_SUCCESS;
}

apr_status_t mcp_url_redirect_kind(apr_pool_t *p, const char *uri,
                                   mcp_redirect_kind_e *pkind,
                                   const char **perr)
{
    mcp_url_t *u;
    const char *scheme;
    apr_size_t slen;
    apr_status_t rv;

    if ((rv = check_text(p, uri, perr)) != APR_SUCCESS) {
        return rv;
    }
    if (!(slen = scheme_len(uri))) {
        return url_fail(perr, "redirect URI is not absolute (it needs a "
                        "scheme)");
    }
    scheme = lower(p, uri, slen);
    if (!is_http(scheme)) {
        rv = private_use_check(p, uri, scheme, perr);
        if (rv == APR_SUCCESS) {
            *pkind = MCP_REDIRECT_PRIVATE_USE;
        }
        return rv;
    }
    rv = mcp_url_parse(&u, p, uri, MCP_URL_SECURE, perr);
    if (rv == APR_SUCCESS) {
        *pkind = !strcmp(u->scheme, "https") ? MCP_REDIRECT_HTTPS
                                             : MCP_REDIRECT_LOOPBACK;
    }
    return rv;
}

int mcp_url_redirect_matches(apr_pool_t *p, const char *registered,
                             const char *presented)
{
    mcp_redirect_kind_e kr, kp;
    mcp_url_t *ur, *up;

    if (!registered || !presented) {
        return 0;
    }
    if (!strcmp(registered, presented)) {
        return 1;
    }
    /* RFC 8252 §7.3: a native app listens on whatever port it got from
     * the OS, so only the port of a loopback URI may differ. */
    if (mcp_url_redirect_kind(p, registered, &kr, NULL) != APR_SUCCESS
        || mcp_url_redirect_kind(p, presented, &kp, NULL) != APR_SUCCESS
        || kr != MCP_REDIRECT_LOOPBACK || kp != MCP_REDIRECT_LOOPBACK
        || mcp_url_parse(&ur, p, registered, MCP_URL_SECURE, NULL)
           != APR_SUCCESS
        || mcp_url_parse(&up, p, presented, MCP_URL_SECURE, NULL)
           != APR_SUCCESS) {
        return 0;
    }
    return !strcmp(ur->host, up->host) && !strcmp(ur->path, up->path)
        && ((!ur->query && !up->query)
            || (ur->query && up->query && !strcmp(ur->query, up->query)));
}
