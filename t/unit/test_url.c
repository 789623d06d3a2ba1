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

/* The URL rules, one concern per test case: strict parsing, the scheme
 * and shape rules, canonical forms for resource indicators, form
 * decoding, and OAuth redirect URIs. No network. */

#include <sys/socket.h>
#include <apr_strings.h>

#include "mcp_test.h"
#include "mcp/mcp_url.h"

static mcp_url_t *parse_ok(const char *url, unsigned rules)
{
    mcp_url_t *u = NULL;
    const char *err = NULL;

    ck_assert_msg(mcp_url_parse(&u, tp, url, rules, &err) == APR_SUCCESS,
                  "'%s' refused: %s", url, err);
    ck_assert_ptr_nonnull(u);
    return u;
}

/* @url must be refused under @rules with a message matching @want. */
static void refused(const char *url, unsigned rules, const char *want)
{
    mcp_url_t *u = (mcp_url_t *)1;
    const char *err = NULL;

    ck_assert_msg(mcp_url_parse(&u, tp, url, rules, &err) == MCP_EINVALID,
                  "'%s' accepted", url ? url : "(null)");
    ck_assert_ptr_null(u);
    ck_assert_ptr_nonnull(err);
    ck_assert_msg(strstr(err, want) != NULL, "'%s': message '%s' lacks '%s'",
                  url ? url : "(null)", err, want);
    ck_assert_status(mcp_url_check(tp, url, rules, NULL), MCP_EINVALID);
}

START_TEST(parse_fields)
{
    mcp_url_t *u;

    u = parse_ok("HTTPS://GW.Example.COM:8443/MCP/x?A=B&c=%2F#Frag",
                 MCP_URL_ANY_HTTP | MCP_URL_ALLOW_FRAGMENT);
    ck_assert_str_eq(u->scheme, "https");
    ck_assert_str_eq(u->host, "gw.example.com");
    ck_assert_uint_eq(u->port, 8443);
    ck_assert_int_eq(u->port_given, 1);
    ck_assert_str_eq(u->path, "/MCP/x");
    ck_assert_str_eq(u->query, "A=B&c=%2F");
    ck_assert_str_eq(u->fragment, "Frag");
    ck_assert_int_eq(u->host_family, 0);

    u = parse_ok("https://gw.example", MCP_URL_HTTPS);
    ck_assert_uint_eq(u->port, 443);
    ck_assert_int_eq(u->port_given, 0);
    ck_assert_str_eq(u->path, "");
    ck_assert_ptr_null(u->query);
    ck_assert_ptr_null(u->fragment);

    u = parse_ok("http://h/", MCP_URL_HTTP);
    ck_assert_uint_eq(u->port, 80);
    ck_assert_str_eq(u->path, "/");

    /* '?' with nothing after it is an empty query, not none. */
    u = parse_ok("http://h?", MCP_URL_HTTP);
    ck_assert_str_eq(u->path, "");
    ck_assert_str_eq(u->query, "");

    /* A '?' inside the fragment does not start a query. */
    u = parse_ok("http://h/p#a?b", MCP_URL_HTTP | MCP_URL_ALLOW_FRAGMENT);
    ck_assert_ptr_null(u->query);
    ck_assert_str_eq(u->fragment, "a?b");

    u = parse_ok("cursor://anysphere.cursor-mcp/oauth/callback",
                 MCP_URL_OTHER_SCHEMES);
    ck_assert_str_eq(u->scheme, "cursor");
    ck_assert_uint_eq(u->port, 0);
}
END_TEST

START_TEST(ip_literal_hosts)
{
    mcp_url_t *u;

    u = parse_ok("http://[::1]:8080/cb", MCP_URL_HTTP);
    ck_assert_str_eq(u->host, "::1");
    ck_assert_int_eq(u->host_family, AF_INET6);
    ck_assert_uint_eq(u->port, 8080);
    u = parse_ok("https://[FE80::1]/", MCP_URL_HTTPS);
    ck_assert_str_eq(u->host, "fe80::1");
    u = parse_ok("http://127.0.0.1/", MCP_URL_HTTP);
    ck_assert_int_eq(u->host_family, AF_INET);
    ck_assert_int_eq(u->host_addr[0], 127);
    u = parse_ok("http://0x7f.1/", MCP_URL_HTTP);
    ck_assert_int_eq(u->host_family, AF_INET);
    ck_assert_int_eq(u->host_addr[3], 1);
    u = parse_ok("http://256.1.1.1/", MCP_URL_HTTP);
    ck_assert_int_eq(u->host_family, 0);             /* not an address */

    refused("http://[::1/", MCP_URL_HTTP, "unclosed");
    refused("http://[::1]x/", MCP_URL_HTTP, "after its IPv6");
    refused("http://[fe80::1%25eth0]/", MCP_URL_HTTP, "IPv6");
    refused("http://[127.0.0.1]/", MCP_URL_HTTP, "IPv6");
    refused("http://[example.com]/", MCP_URL_HTTP, "IPv6");
    refused("http://[]/", MCP_URL_HTTP, "IPv6");
    refused("http://::1/", MCP_URL_HTTP, "no host");
}
END_TEST

START_TEST(strict_characters)
{
    char *longurl;

    refused(NULL, MCP_URL_ANY_HTTP, "empty");
    refused("", MCP_URL_ANY_HTTP, "empty");
    refused("http://a b/", MCP_URL_ANY_HTTP, "space");
    refused("http://h/a b", MCP_URL_ANY_HTTP, "space");
    refused("http://h/\r\nX: y", MCP_URL_ANY_HTTP, "control");
    refused("http://h/\t", MCP_URL_ANY_HTTP, "control");
    refused("http://h/\x7f", MCP_URL_ANY_HTTP, "control");
    refused("http://h\xc3\xa9.example/", MCP_URL_ANY_HTTP, "non-ASCII");
    refused("http://h/caf\xc3\xa9", MCP_URL_ANY_HTTP, "non-ASCII");
    refused("http://evil.example\\@good.example/", MCP_URL_ANY_HTTP, "backslash");
    refused("http://bad$host/", MCP_URL_ANY_HTTP, "invalid character");
    refused("http://h%41st/", MCP_URL_ANY_HTTP, "invalid character");
    refused("http://h,o/", MCP_URL_ANY_HTTP, "invalid character");
    parse_ok("http://xn--caf-dma.example/", MCP_URL_ANY_HTTP);
    parse_ok("https://a-b.example_c.org/p", MCP_URL_ANY_HTTP);

    /* 8192 bytes pass, 8193 do not. */
    longurl = apr_palloc(tp, MCP_URL_MAX_LEN + 2);
    memset(longurl, 'a', MCP_URL_MAX_LEN + 1);
    memcpy(longurl, "http://h/", 9);
    longurl[MCP_URL_MAX_LEN] = '\0';
    parse_ok(longurl, MCP_URL_ANY_HTTP);
    longurl[MCP_URL_MAX_LEN] = 'a';
    longurl[MCP_URL_MAX_LEN + 1] = '\0';
    refused(longurl, MCP_URL_ANY_HTTP, "longer than 8192");
}
END_TEST

START_TEST(absolute_with_authority)
{
    refused("example.com/x", MCP_URL_ANY_HTTP, "not an absolute URL");
    refused("/relative", MCP_URL_ANY_HTTP, "not an absolute URL");
    refused("//h/p", MCP_URL_ANY_HTTP, "not an absolute URL");
    refused("1http://h/", MCP_URL_ANY_HTTP, "not an absolute URL");
    refused("ht_tp://h/", MCP_URL_ANY_HTTP, "not an absolute URL");
    refused("http:/x", MCP_URL_ANY_HTTP, "'//'");
    refused("http:x", MCP_URL_ANY_HTTP, "'//'");
    refused("http:///path", MCP_URL_ANY_HTTP, "no host");
    refused("http://", MCP_URL_ANY_HTTP, "no host");
    refused("http://:80/", MCP_URL_ANY_HTTP, "no host");
    refused("http://?q", MCP_URL_ANY_HTTP, "no host");
}
END_TEST

START_TEST(ports)
{
    mcp_url_t *u;

    u = parse_ok("http://h:1/", MCP_URL_HTTP);
    ck_assert_uint_eq(u->port, 1);
    u = parse_ok("http://h:65535/", MCP_URL_HTTP);
    ck_assert_uint_eq(u->port, 65535);
    u = parse_ok("http://h:00080/", MCP_URL_HTTP);
    ck_assert_uint_eq(u->port, 80);
    u = parse_ok("http://[::1]:443", MCP_URL_HTTP);
    ck_assert_uint_eq(u->port, 443);
    refused("http://127.0.0.1:0/", MCP_URL_HTTP, "port");
    refused("http://h:65536/", MCP_URL_HTTP, "port");
    refused("http://127.0.0.1:99999/", MCP_URL_HTTP, "port");
    refused("http://h:123456/", MCP_URL_HTTP, "port");
    refused("http://h:000080/", MCP_URL_HTTP, "port");
    refused("http://127.0.0.1:80x/", MCP_URL_HTTP, "port");
    refused("http://h:/", MCP_URL_HTTP, "port");
    refused("http://h:-1/", MCP_URL_HTTP, "port");
    refused("http://h:+80/", MCP_URL_HTTP, "port");
    refused("http://h:8:8/", MCP_URL_HTTP, "port");
    refused("http://[::1]:/", MCP_URL_HTTP, "port");
    refused(apr_pstrcat(tp, "http://h:", apr_psprintf(tp, "%0200d", 1), "/", NULL),
            MCP_URL_HTTP, "port");
}
END_TEST

START_TEST(no_userinfo)
{
    refused("http://user:pw@127.0.0.1/", MCP_URL_ANY_HTTP, "user:password");
    refused("https://u@h/", MCP_URL_ANY_HTTP, "user:password");
    refused("https://@h/", MCP_URL_ANY_HTTP, "user:password");
    refused("https://h:443@evil/", MCP_URL_ANY_HTTP, "user:password");
    refused("cursor://u:p@app/cb", MCP_URL_OTHER_SCHEMES, "user:password");
    /* An '@' in the path is only a character. */
    parse_ok("https://h/@me", MCP_URL_ANY_HTTP);
    parse_ok("https://h/?to=a@b", MCP_URL_ANY_HTTP);
}
END_TEST

START_TEST(scheme_rules)
{
    refused("ftp://127.0.0.1/", MCP_URL_ANY_HTTP, "http or https");
    refused("file:///etc/passwd", MCP_URL_ANY_HTTP, "http or https");
    refused("gopher://127.0.0.1/", MCP_URL_ANY_HTTP, "http or https");
    refused("javascript:alert(1)", MCP_URL_ANY_HTTP, "http or https");
    refused("cursor://app/cb", MCP_URL_SECURE, "http or https");
    refused("ftp://h/", MCP_URL_HTTPS, "must be https");

    /* SECURE: https anywhere, http to loopback only. */
    parse_ok("https://gw.example", MCP_URL_SECURE);
    parse_ok("http://localhost:8080/x", MCP_URL_SECURE);
    parse_ok("http://LOCALHOST/x", MCP_URL_SECURE);
    parse_ok("http://127.0.0.1/", MCP_URL_SECURE);
    parse_ok("http://127.9.9.9/", MCP_URL_SECURE);
    parse_ok("http://[::1]/", MCP_URL_SECURE);
    refused("http://gw.example.com", MCP_URL_SECURE, "must use https");
    refused("http://foo.localhost/", MCP_URL_SECURE, "must use https");
    refused("http://10.0.0.1/", MCP_URL_SECURE, "must use https");
    refused("http://[2002:7f00:1::]/", MCP_URL_SECURE, "must use https");
    refused("http://128.0.0.1/", MCP_URL_SECURE, "must use https");

    /* ANY_HTTP: http to any host. */
    parse_ok("http://10.0.0.5:3001/mcp", MCP_URL_ANY_HTTP);
    parse_ok("HTTP://example.com:8080/a?b=c", MCP_URL_ANY_HTTP);
    /* Only HTTP: https is not implied. */
    refused("https://h/", MCP_URL_HTTP, "not allowed");
    /* No scheme bit at all: nothing passes. */
    refused("https://h/", 0, "not allowed");

    /* OTHER_SCHEMES keeps the http rules for http(s). */
    parse_ok("vscode://vscode.github-authentication/did-authenticate",
             MCP_URL_OTHER_SCHEMES | MCP_URL_SECURE);
    parse_ok("https://h/", MCP_URL_OTHER_SCHEMES | MCP_URL_SECURE);
    refused("http://evil.example/cb", MCP_URL_OTHER_SCHEMES | MCP_URL_SECURE,
            "must use https");
    refused("https://h/", MCP_URL_OTHER_SCHEMES, "not allowed");
}
END_TEST

START_TEST(query_fragment_path_rules)
{
    refused("https://h/p#f", MCP_URL_ANY_HTTP, "fragment");
    refused("https://h/p#", MCP_URL_ANY_HTTP, "fragment");
    refused("https://gw.example.com/#x", MCP_URL_SECURE | MCP_URL_NO_QUERY,
            "fragment");
    parse_ok("https://h/p#f", MCP_URL_ANY_HTTP | MCP_URL_ALLOW_FRAGMENT);

    refused("https://gw.example.com/?a=b", MCP_URL_SECURE | MCP_URL_NO_QUERY,
            "query");
    refused("https://gw.example.com?", MCP_URL_SECURE | MCP_URL_NO_QUERY,
            "query");
    parse_ok("https://gw.example.com/tenant", MCP_URL_SECURE | MCP_URL_NO_QUERY);

    refused("https://app.example", MCP_URL_HTTPS | MCP_URL_NEED_PATH, "path");
    refused("https://app.example/", MCP_URL_HTTPS | MCP_URL_NEED_PATH, "path");
    refused("https://app.example?x=1", MCP_URL_HTTPS | MCP_URL_NEED_PATH, "path");
    parse_ok("https://app.example/client.json", MCP_URL_HTTPS | MCP_URL_NEED_PATH);
    parse_ok("https://app.example//", MCP_URL_HTTPS | MCP_URL_NEED_PATH);
}
END_TEST

START_TEST(percent_escapes)
{
    parse_ok("https://h/a%20b?c=%2f%2F", MCP_URL_ANY_HTTP);
    refused("https://h/a%zzb", MCP_URL_ANY_HTTP, "%XX");
    refused("https://h/a%2", MCP_URL_ANY_HTTP, "%XX");
    refused("https://h/a%", MCP_URL_ANY_HTTP, "%XX");
    refused("https://h/?q=%g0", MCP_URL_ANY_HTTP, "%XX");
    refused("https://h/?q=100%", MCP_URL_ANY_HTTP, "%XX");
    refused("https://h/p#%x1", MCP_URL_ANY_HTTP | MCP_URL_ALLOW_FRAGMENT, "%XX");
}
END_TEST

START_TEST(messages_keep_secrets)
{
    const char *err = NULL;

    /* The query never shows in a message, whatever went wrong. */
    ck_assert_status(mcp_url_check(tp, "http://h:99999/?code=SECRET", MCP_URL_ANY_HTTP,
                                   &err), MCP_EINVALID);
    ck_assert(!strstr(err, "SECRET"));
    ck_assert_status(mcp_url_check(tp, "ftp://h/?code=SECRET", MCP_URL_ANY_HTTP,
                                   &err), MCP_EINVALID);
    ck_assert(!strstr(err, "SECRET"));
    ck_assert_status(mcp_url_check(tp, "https://u:SECRET@h/", MCP_URL_ANY_HTTP,
                                   &err), MCP_EINVALID);
    ck_assert(!strstr(err, "SECRET"));
    ck_assert_status(mcp_url_check(tp, "https://h/?code=SECRET#x", MCP_URL_ANY_HTTP,
                                   &err), MCP_EINVALID);
    ck_assert(!strstr(err, "SECRET"));
}
END_TEST

START_TEST(loopback_hosts)
{
    ck_assert(mcp_url_is_loopback_host("localhost"));
    ck_assert(mcp_url_is_loopback_host("LocalHost"));
    ck_assert(mcp_url_is_loopback_host("127.0.0.1"));
    ck_assert(mcp_url_is_loopback_host("127.255.255.254"));
    ck_assert(mcp_url_is_loopback_host("127.1"));
    ck_assert(mcp_url_is_loopback_host("::1"));
    ck_assert(mcp_url_is_loopback_host("[::1]"));
    ck_assert(mcp_url_is_loopback_host("::ffff:127.0.0.1"));
    ck_assert(!mcp_url_is_loopback_host(NULL));
    ck_assert(!mcp_url_is_loopback_host(""));
    ck_assert(!mcp_url_is_loopback_host("foo.localhost"));
    ck_assert(!mcp_url_is_loopback_host("localhost."));
    ck_assert(!mcp_url_is_loopback_host("localhost.example.com"));
    ck_assert(!mcp_url_is_loopback_host("128.0.0.1"));
    ck_assert(!mcp_url_is_loopback_host("0.0.0.0"));
    ck_assert(!mcp_url_is_loopback_host("::"));
    ck_assert(!mcp_url_is_loopback_host("[::2]"));
    ck_assert(!mcp_url_is_loopback_host("64:ff9b::7f00:1"));
    ck_assert(!mcp_url_is_loopback_host("2002:7f00:1::"));
}
END_TEST

START_TEST(origin_and_canonical)
{
    static const struct { const char *url, *origin, *canonical; } c[] = {
        { "HTTPS://GW.Example/MCP/", "https://gw.example", "https://gw.example/MCP" },
        { "https://gw:443/mcp", "https://gw", "https://gw/mcp" },
        { "https://gw:8443/mcp", "https://gw:8443", "https://gw:8443/mcp" },
        { "http://gw:80", "http://gw", "http://gw" },
        { "http://gw:443/", "http://gw:443", "http://gw:443" },
        { "https://gw/", "https://gw", "https://gw" },
        { "https://gw", "https://gw", "https://gw" },
        { "https://gw/a//", "https://gw", "https://gw/a/" },
        { "https://gw/mcp?x=1", "https://gw", "https://gw/mcp?x=1" },
        { "https://gw/mcp/?", "https://gw", "https://gw/mcp?" },
        { "https://gw/%7euser/%2f%41", "https://gw", "https://gw/~user/%2FA" },
        { "https://[::FFFF:7F00:1]:443/", "https://[::ffff:127.0.0.1]",
          "https://[::ffff:127.0.0.1]" },
        { "http://[0:0::1]:8080/x", "http://[::1]:8080", "http://[::1]:8080/x" },
        { "http://127.1/", "http://127.0.0.1", "http://127.0.0.1" },
    };
    apr_size_t i;

    for (i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
        mcp_url_t *u = parse_ok(c[i].url, MCP_URL_ANY_HTTP);

        ck_assert_str_eq(mcp_url_origin(tp, u), c[i].origin);
        ck_assert_str_eq(mcp_url_canonical(tp, u), c[i].canonical);
    }
    /* The fragment never belongs to the canonical form. */
    ck_assert_str_eq(mcp_url_canonical(tp, parse_ok("https://gw/p/#f",
                     MCP_URL_ANY_HTTP | MCP_URL_ALLOW_FRAGMENT)), "https://gw/p");
}
END_TEST

START_TEST(origin_parsing)
{
    static const char *const good[][2] = {
        { "https://App.Example", "https://app.example" },
        { "https://app.example:443/", "https://app.example" },
        { "HTTP://Tools.Example:8443", "http://tools.example:8443" },
        { "http://localhost:6274", "http://localhost:6274" },
        { "http://[0::1]:80", "http://[::1]" },
        { "http://127.1:8080", "http://127.0.0.1:8080" },
    };
    static const char *const bad[] = {
        "null", "app.example", "https://app.example/path", "https://a/?q",
        "https://a/#f", "ftp://app.example", "https://u@app.example",
        "https://app.example:0", "", "https://",
    };
    const char *origin, *err;
    apr_size_t i;

    for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        origin = NULL;
        ck_assert_int_eq(mcp_url_origin_parse(&origin, tp, good[i][0], &err),
                         APR_SUCCESS);
        ck_assert_str_eq(origin, good[i][1]);
    }
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        origin = NULL;
        err = NULL;
        ck_assert_int_eq(mcp_url_origin_parse(&origin, tp, bad[i], &err),
                         MCP_EINVALID);
        ck_assert_ptr_null(origin);
        ck_assert_ptr_nonnull(err);
    }
}
END_TEST

START_TEST(same_resource_and_origin)
{
    ck_assert(mcp_url_same_resource(tp, "https://GW/mcp/", "https://gw/mcp"));
    ck_assert(mcp_url_same_resource(tp, "https://gw:443/mcp", "https://gw/mcp/"));
    ck_assert(mcp_url_same_resource(tp, "https://gw", "https://gw/"));
    ck_assert(mcp_url_same_resource(tp, "https://gw/%6dcp", "https://gw/mcp"));
    ck_assert(mcp_url_same_resource(tp, "http://[::1]/mcp", "http://[0::1]:80/mcp"));
    ck_assert(!mcp_url_same_resource(tp, "https://gw/mcp", "http://gw/mcp"));
    ck_assert(!mcp_url_same_resource(tp, "https://gw/mcp", "https://gw:8443/mcp"));
    ck_assert(!mcp_url_same_resource(tp, "https://gw/mcp", "https://gw/MCP"));
    ck_assert(!mcp_url_same_resource(tp, "https://gw/mcp", "https://gw/mcp/x"));
    ck_assert(!mcp_url_same_resource(tp, "https://gw/mcp", "https://gw/mcp?a=1"));
    ck_assert(!mcp_url_same_resource(tp, "https://gw/mcp", "https://gw2/mcp"));
    ck_assert(!mcp_url_same_resource(tp, "https://gw/mcp", "https://gw/mcp#f"));
    ck_assert(!mcp_url_same_resource(tp, "https://gw/mcp", NULL));
    ck_assert(!mcp_url_same_resource(tp, "ftp://gw/mcp", "ftp://gw/mcp"));
    ck_assert(!mcp_url_same_resource(tp, "https://gw/%2fmcp", "https://gw//mcp"));

    ck_assert(mcp_url_same_origin(parse_ok("https://GW:443/a", MCP_URL_HTTPS),
                                  parse_ok("https://gw/b?c", MCP_URL_HTTPS)));
    ck_assert(mcp_url_same_origin(parse_ok("http://127.1/", MCP_URL_HTTP),
                                  parse_ok("http://127.0.0.1:80", MCP_URL_HTTP)));
    ck_assert(!mcp_url_same_origin(parse_ok("https://gw/", MCP_URL_ANY_HTTP),
                                   parse_ok("http://gw/", MCP_URL_ANY_HTTP)));
    ck_assert(!mcp_url_same_origin(parse_ok("https://gw/", MCP_URL_HTTPS),
                                   parse_ok("https://gw:8443/", MCP_URL_HTTPS)));
    ck_assert(!mcp_url_same_origin(parse_ok("https://gw/", MCP_URL_HTTPS),
                                   parse_ok("https://gw.example/", MCP_URL_HTTPS)));
    ck_assert(!mcp_url_same_origin(parse_ok("https://127.0.0.1/", MCP_URL_HTTPS),
                                   parse_ok("https://localhost/", MCP_URL_HTTPS)));
    ck_assert(!mcp_url_same_origin(NULL, parse_ok("https://gw/", MCP_URL_HTTPS)));
}
END_TEST

START_TEST(for_log)
{
    ck_assert_str_eq(mcp_url_for_log(tp, "https://h.example:8443/p/q?code=secret#x"),
                     "https://h.example:8443/p/q");
    ck_assert_str_eq(mcp_url_for_log(tp, "http://[::1]/"), "http://[::1]/");
    ck_assert_str_eq(mcp_url_for_log(tp, "HTTPS://h"), "https://h/");
    ck_assert_str_eq(mcp_url_for_log(tp, "https://u:pw@h/x"), "https://h/x");
    ck_assert_str_eq(mcp_url_for_log(tp, "https://a@b@h/x"), "https://h/x");
    ck_assert_str_eq(mcp_url_for_log(tp, "https://h?token=x"), "https://h/");
    ck_assert_str_eq(mcp_url_for_log(tp, "https://h/a b\r\n"), "https://h/a%20b%0D%0A");
    ck_assert_str_eq(mcp_url_for_log(tp, "http://h\xc3\xa9/"), "http://h%C3%A9/");
    ck_assert_str_eq(mcp_url_for_log(tp, "javascript:alert(1)"), "javascript:alert(1)");
    ck_assert_str_eq(mcp_url_for_log(tp, "data:text/html,x?y"), "data:text/html,x");
    ck_assert_str_eq(mcp_url_for_log(tp, "/relative"), "(invalid URL)");
    ck_assert_str_eq(mcp_url_for_log(tp, ""), "(invalid URL)");
    ck_assert_str_eq(mcp_url_for_log(tp, NULL), "(invalid URL)");
    {
        char *big = apr_palloc(tp, 2000);
        const char *out;

        memset(big, 'x', 1999);
        memcpy(big, "https://h/", 10);
        big[1999] = '\0';
        out = mcp_url_for_log(tp, big);
        ck_assert_uint_lt(strlen(out), 300);
        ck_assert_str_eq(out + strlen(out) - 3, "...");
    }
}
END_TEST

START_TEST(encode_and_add_query)
{
    ck_assert_str_eq(mcp_url_encode(tp, "aZ09-._~"), "aZ09-._~");
    ck_assert_str_eq(mcp_url_encode(tp, "a b&c=d/e?f#g+h%"),
                     "a%20b%26c%3Dd%2Fe%3Ff%23g%2Bh%25");
    ck_assert_str_eq(mcp_url_encode(tp, "\xc3\xa9\x01\x7f"), "%C3%A9%01%7F");
    ck_assert_str_eq(mcp_url_encode(tp, ""), "");
    ck_assert_str_eq(mcp_url_encode(tp, NULL), "");

    ck_assert_str_eq(mcp_url_add_query(tp, "https://c/cb", "code", "a b"),
                     "https://c/cb?code=a%20b");
    ck_assert_str_eq(mcp_url_add_query(tp, "https://c/cb?x=1", "state", "s&t"),
                     "https://c/cb?x=1&state=s%26t");
    ck_assert_str_eq(mcp_url_add_query(tp, "https://c/cb?", "a", "1"),
                     "https://c/cb?a=1");
    ck_assert_str_eq(mcp_url_add_query(tp, "https://c/cb?x=1&", "a", "1"),
                     "https://c/cb?x=1&a=1");
    ck_assert_str_eq(mcp_url_add_query(tp, "https://c/cb", "error", NULL),
                     "https://c/cb?error=");
    ck_assert_ptr_null(mcp_url_add_query(tp, "https://c/cb#frag", "a", "1"));
    ck_assert_ptr_null(mcp_url_add_query(tp, NULL, "a", "1"));
}
END_TEST

static apr_status_t decode(apr_table_t **t, const char *s, int max_params,
                           apr_size_t max_len)
{
    const char *err = NULL;
    apr_status_t rv = mcp_url_form_decode(t, tp, s, strlen(s), max_params,
                                          max_len, &err);

    if (rv != APR_SUCCESS) {
        ck_assert_ptr_nonnull(err);
        ck_assert_ptr_null(*t);
    }
    return rv;
}

START_TEST(form_decoding)
{
    apr_table_t *t;
    const apr_array_header_t *arr;
    const char *err;

    ck_assert_status(decode(&t, "a=1&b=x+y%20z&c=&d&&e=%3D%26=", 0, 0),
                     APR_SUCCESS);
    ck_assert_str_eq(apr_table_get(t, "a"), "1");
    ck_assert_str_eq(apr_table_get(t, "b"), "x y z");
    ck_assert_str_eq(apr_table_get(t, "c"), "");
    ck_assert_str_eq(apr_table_get(t, "d"), "");
    ck_assert_str_eq(apr_table_get(t, "e"), "=&=");
    ck_assert_int_eq(apr_table_elts(t)->nelts, 5);

    /* Duplicates are kept, in order, for the caller to refuse. */
    ck_assert_status(decode(&t, "scope=a&scope=b&x%2By=%C3%A9", 0, 0), APR_SUCCESS);
    arr = apr_table_elts(t);
    ck_assert_int_eq(arr->nelts, 3);
    ck_assert_str_eq(((apr_table_entry_t *)arr->elts)[0].val, "a");
    ck_assert_str_eq(((apr_table_entry_t *)arr->elts)[1].val, "b");
    ck_assert_str_eq(apr_table_get(t, "x+y"), "\xc3\xa9");

    /* Empty input, and the length is what counts, not a NUL. */
    ck_assert_status(decode(&t, "", 0, 0), APR_SUCCESS);
    ck_assert_int_eq(apr_table_elts(t)->nelts, 0);
    ck_assert_status(mcp_url_form_decode(&t, tp, "a=1&b=2", 3, 0, 0, NULL),
                     APR_SUCCESS);
    ck_assert_int_eq(apr_table_elts(t)->nelts, 1);
    ck_assert_ptr_null(apr_table_get(t, "b"));
    ck_assert_status(mcp_url_form_decode(&t, tp, NULL, 0, 0, 0, NULL), APR_SUCCESS);
    ck_assert_status(mcp_url_form_decode(&t, tp, NULL, 1, 0, 0, NULL), MCP_EINVALID);

    /* Bad escapes, NUL, invalid UTF-8: in keys and in values. */
    ck_assert_status(decode(&t, "a=%zz", 0, 0), MCP_EINVALID);
    ck_assert_status(decode(&t, "a=%2", 0, 0), MCP_EINVALID);
    ck_assert_status(decode(&t, "a=%", 0, 0), MCP_EINVALID);
    ck_assert_status(decode(&t, "%zz=1", 0, 0), MCP_EINVALID);
    ck_assert_status(decode(&t, "a=x%00y", 0, 0), MCP_EINVALID);
    ck_assert_status(decode(&t, "a%00=1", 0, 0), MCP_EINVALID);
    ck_assert_status(mcp_url_form_decode(&t, tp, "a=x\0y", 5, 0, 0, NULL),
                     MCP_EINVALID);
    ck_assert_status(decode(&t, "a=%C3", 0, 0), MCP_EINVALID);       /* cut */
    ck_assert_status(decode(&t, "a=%C0%AF", 0, 0), MCP_EINVALID);    /* overlong */
    ck_assert_status(decode(&t, "a=%E0%80%AF", 0, 0), MCP_EINVALID); /* overlong */
    ck_assert_status(decode(&t, "a=%ED%A0%80", 0, 0), MCP_EINVALID); /* surrogate */
    ck_assert_status(decode(&t, "a=%F4%90%80%80", 0, 0), MCP_EINVALID); /* > 10FFFF */
    ck_assert_status(decode(&t, "a=%FF", 0, 0), MCP_EINVALID);
    ck_assert_status(decode(&t, "a=\xff", 0, 0), MCP_EINVALID);
    ck_assert_status(decode(&t, "%80=1", 0, 0), MCP_EINVALID);
    ck_assert_status(decode(&t, "a=%F0%9F%98%80%E2%82%AC", 0, 0), APR_SUCCESS);

    /* Messages never quote the data. */
    err = NULL;
    ck_assert_status(mcp_url_form_decode(&t, tp, "code=SECRET%zz", 14, 0, 0, &err),
                     MCP_EINVALID);
    ck_assert(!strstr(err, "SECRET"));
}
END_TEST

START_TEST(form_get)
{
    static const char f[] = "scope=a&Scope=B&state=1&state=2&empty=";
    apr_table_t *t;
    int dup = 0;

    ck_assert_int_eq(mcp_url_form_decode(&t, tp, f, sizeof(f) - 1, 0, 0, NULL),
                     APR_SUCCESS);
    /* names are case-sensitive: "Scope" is another parameter */
    ck_assert_str_eq(mcp_url_form_get(t, "scope", &dup), "a");
    ck_assert_int_eq(dup, 0);
    ck_assert_str_eq(mcp_url_form_get(t, "Scope", &dup), "B");
    ck_assert_int_eq(dup, 0);
    ck_assert_str_eq(mcp_url_form_get(t, "empty", &dup), "");
    ck_assert_ptr_null(mcp_url_form_get(t, "SCOPE", &dup));
    ck_assert_int_eq(dup, 0);
    /* repeated: the last one, and said */
    ck_assert_str_eq(mcp_url_form_get(t, "state", &dup), "2");
    ck_assert_int_eq(dup, 1);
    ck_assert_str_eq(mcp_url_form_get(t, "state", NULL), "2");
}
END_TEST

START_TEST(form_limits)
{
    apr_table_t *t;

    ck_assert_status(decode(&t, "a=1&b=2&c=3", 3, 0), APR_SUCCESS);
    ck_assert_status(decode(&t, "a=1&b=2&c=3&d=4", 3, 0), MCP_ETOOLARGE);
    /* Empty pairs do not count. */
    ck_assert_status(decode(&t, "a=1&&&b=2&&c=3&", 3, 0), APR_SUCCESS);
    ck_assert_status(decode(&t, "abc=12345", 0, 9), APR_SUCCESS);
    ck_assert_status(decode(&t, "abc=123456", 0, 9), MCP_ETOOLARGE);
    ck_assert_status(decode(&t, "a=1&abc=123456", 10, 9), MCP_ETOOLARGE);
    /* The encoded length counts: %41 is three bytes. */
    ck_assert_status(decode(&t, "a=%41%41%41", 0, 10), MCP_ETOOLARGE);
}
END_TEST

static void kind_ok(const char *uri, mcp_redirect_kind_e want)
{
    mcp_redirect_kind_e k = (mcp_redirect_kind_e)99;
    const char *err = NULL;

    ck_assert_msg(mcp_url_redirect_kind(tp, uri, &k, &err) == APR_SUCCESS,
                  "'%s' refused: %s", uri, err);
    ck_assert_msg(k == want, "'%s': kind %d, expected %d", uri, k, want);
}

static void kind_refused(const char *uri, const char *want)
{
    mcp_redirect_kind_e k = (mcp_redirect_kind_e)99;
    const char *err = NULL;

    ck_assert_msg(mcp_url_redirect_kind(tp, uri, &k, &err) == MCP_EINVALID,
                  "'%s' accepted", uri ? uri : "(null)");
    ck_assert_int_eq(k, 99);
    ck_assert_msg(err && strstr(err, want), "'%s': message '%s' lacks '%s'",
                  uri ? uri : "(null)", err ? err : "(none)", want);
}

START_TEST(redirect_kinds)
{
    kind_ok("https://claude.ai/api/mcp/auth_callback", MCP_REDIRECT_HTTPS);
    kind_ok("https://chatgpt.com/connector_platform_oauth_redirect?x=1",
            MCP_REDIRECT_HTTPS);
    kind_ok("https://localhost:3000/cb", MCP_REDIRECT_HTTPS);
    kind_ok("http://localhost:3335/oauth/callback", MCP_REDIRECT_LOOPBACK);
    kind_ok("http://127.0.0.1/", MCP_REDIRECT_LOOPBACK);
    kind_ok("http://127.0.0.1:33418", MCP_REDIRECT_LOOPBACK);
    kind_ok("http://[::1]:8080/cb", MCP_REDIRECT_LOOPBACK);
    kind_ok("cursor://anysphere.cursor-mcp/oauth/callback",
            MCP_REDIRECT_PRIVATE_USE);
    kind_ok("vscode://vscode.github-authentication/did-authenticate?windowId=1",
            MCP_REDIRECT_PRIVATE_USE);
    kind_ok("com.example.app:/oauth2redirect/example-provider",
            MCP_REDIRECT_PRIVATE_USE);
    kind_ok("Com.Example.App:/cb", MCP_REDIRECT_PRIVATE_USE);

    kind_refused("javascript:alert(1)", "not allowed");
    kind_refused("JavaScript:alert(1)", "not allowed");
    kind_refused("data:text/html,<script>alert(1)</script>", "not allowed");
    kind_refused("file:///etc/passwd", "not allowed");
    kind_refused("vbscript:msgbox", "not allowed");
    kind_refused("about:blank", "not allowed");
    kind_refused("blob:https://x/1", "not allowed");
    kind_refused("ws://localhost/cb", "not allowed");
    kind_refused("wss://x/cb", "not allowed");
    kind_refused("ftp://x/cb", "not allowed");
    kind_refused("mailto:a@b", "not allowed");
    kind_refused("tel:123", "not allowed");
    kind_refused("view-source:https://x/", "not allowed");
    kind_refused("chrome://settings", "not allowed");
    kind_refused("intent://x#Intent;end", "not allowed");
    kind_refused("http://evil.example/cb", "must use https");
    kind_refused("http://foo.localhost/cb", "must use https");
    kind_refused("https://x/cb#frag", "fragment");
    kind_refused("cursor://app/cb#frag", "fragment");
    kind_refused("https://u:p@x/cb", "user:password");
    kind_refused("myapp://u@app/cb", "user:password");
    kind_refused("/cb", "not absolute");
    kind_refused("cb", "not absolute");
    kind_refused("myapp:", "nothing after");
    kind_refused("my_app:/cb", "not absolute");
    kind_refused("myapp:/a b", "space");
    kind_refused("myapp:/%zz", "%XX");
    kind_refused("https://x:99999/cb", "port");
    kind_refused("", "empty");
    kind_refused(NULL, "empty");
}
END_TEST

START_TEST(redirect_matching)
{
    /* Exact match, for every kind. */
    ck_assert(mcp_url_redirect_matches(tp, "https://claude.ai/api/mcp/auth_callback",
                                       "https://claude.ai/api/mcp/auth_callback"));
    ck_assert(mcp_url_redirect_matches(tp, "cursor://anysphere.cursor-mcp/oauth/callback",
                                       "cursor://anysphere.cursor-mcp/oauth/callback"));
    /* Loopback: any port, also none. */
    ck_assert(mcp_url_redirect_matches(tp, "http://127.0.0.1/cb",
                                       "http://127.0.0.1:51234/cb"));
    ck_assert(mcp_url_redirect_matches(tp, "http://127.0.0.1:1111/cb",
                                       "http://127.0.0.1:2222/cb"));
    ck_assert(mcp_url_redirect_matches(tp, "http://localhost:3335/oauth/callback",
                                       "http://localhost/oauth/callback"));
    ck_assert(mcp_url_redirect_matches(tp, "http://[::1]/cb", "http://[::1]:8080/cb"));
    ck_assert(mcp_url_redirect_matches(tp, "http://127.0.0.1/cb?a=1",
                                       "http://127.0.0.1:9/cb?a=1"));
    /* ... but the same host string, path and query. */
    ck_assert(!mcp_url_redirect_matches(tp, "http://127.0.0.1/cb", "http://localhost/cb"));
    ck_assert(!mcp_url_redirect_matches(tp, "http://127.0.0.1/cb", "http://[::1]/cb"));
    ck_assert(!mcp_url_redirect_matches(tp, "http://127.0.0.1/cb", "http://127.0.0.1:5/cb2"));
    ck_assert(!mcp_url_redirect_matches(tp, "http://127.0.0.1/cb", "http://127.0.0.1:5/"));
    ck_assert(!mcp_url_redirect_matches(tp, "http://127.0.0.1/cb", "http://127.0.0.1:5/CB"));
    ck_assert(!mcp_url_redirect_matches(tp, "http://127.0.0.1/cb", "http://127.0.0.1:5/cb?x"));
    ck_assert(!mcp_url_redirect_matches(tp, "http://127.0.0.1/cb?a=1",
                                        "http://127.0.0.1:5/cb?a=2"));
    ck_assert(!mcp_url_redirect_matches(tp, "http://127.0.0.1/cb", "https://127.0.0.1:5/cb"));
    ck_assert(!mcp_url_redirect_matches(tp, "http://127.0.0.1/cb", "http://127.0.0.1:5/cb#x"));
    /* Everything else: exact. */
    ck_assert(!mcp_url_redirect_matches(tp, "https://host/cb", "https://host:8443/cb"));
    ck_assert(!mcp_url_redirect_matches(tp, "https://host:8443/cb", "https://host/cb"));
    ck_assert(!mcp_url_redirect_matches(tp, "https://localhost/cb", "https://localhost:5/cb"));
    ck_assert(!mcp_url_redirect_matches(tp, "https://host/cb", "https://host/cb/"));
    ck_assert(!mcp_url_redirect_matches(tp, "https://host/cb", "https://HOST/cb"));
    ck_assert(!mcp_url_redirect_matches(tp, "https://host/cb", "https://host/cb?x=1"));
    ck_assert(!mcp_url_redirect_matches(tp, "cursor://app/cb", "cursor://app:1/cb"));
    ck_assert(!mcp_url_redirect_matches(tp, "https://host/cb", NULL));
    ck_assert(!mcp_url_redirect_matches(tp, NULL, NULL));
}
END_TEST

static Suite *url_suite(void)
{
    Suite *s = suite_create("url");
    TCase *tc;

    tc = mcp_tcase("parse");
    tcase_add_test(tc, parse_fields);
    tcase_add_test(tc, ip_literal_hosts);
    tcase_add_test(tc, strict_characters);
    tcase_add_test(tc, absolute_with_authority);
    tcase_add_test(tc, ports);
    tcase_add_test(tc, no_userinfo);
    tcase_add_test(tc, percent_escapes);
    tcase_add_test(tc, messages_keep_secrets);
    suite_add_tcase(s, tc);
    tc = mcp_tcase("rules");
    tcase_add_test(tc, scheme_rules);
    tcase_add_test(tc, query_fragment_path_rules);
    tcase_add_test(tc, loopback_hosts);
    suite_add_tcase(s, tc);
    tc = mcp_tcase("canonical");
    tcase_add_test(tc, origin_and_canonical);
    tcase_add_test(tc, origin_parsing);
    tcase_add_test(tc, same_resource_and_origin);
    tcase_add_test(tc, for_log);
    suite_add_tcase(s, tc);
    tc = mcp_tcase("forms");
    tcase_add_test(tc, encode_and_add_query);
    tcase_add_test(tc, form_decoding);
    tcase_add_test(tc, form_limits);
    tcase_add_test(tc, form_get);
    suite_add_tcase(s, tc);
    tc = mcp_tcase("redirect");
    tcase_add_test(tc, redirect_kinds);
    tcase_add_test(tc, redirect_matching);
    suite_add_tcase(s, tc);
    return s;
}

MCP_TEST_MAIN(url_suite)
