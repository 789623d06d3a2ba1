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

/* The HTTP client against a real HTTP/1.1 server in this process
 * (http_server.c), and against openssl s_server for TLS. */

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <apr_file_io.h>
#include <apr_strings.h>
#include <apr_thread_proc.h>

#include "mcp_test.h"
#include "http_server.h"
#include "mcp/mcp_http.h"
#include "mcp/mcp_json.h"
#include "mcp_http_private.h"

static apr_pool_t *gp;          /* process: curl global init */
static apr_pool_t *cp;          /* per test: the client */
static http_server_t *srv;
static mcp_http_t *http;

static void srv_setup(void)
{
    const char *err = NULL;

    srv = http_server_start();
    ck_assert_ptr_nonnull(srv);
    apr_pool_create(&cp, NULL);
    ck_assert_status(mcp_http_create(&http, cp, NULL, &err), APR_SUCCESS);
}

static void srv_teardown(void)
{
    /* The client first: its cached connections close, the server's
     * threads see EOF. */
    apr_pool_destroy(cp);
    cp = NULL;
    http = NULL;
    http_server_stop(srv);
    srv = NULL;
}

static TCase *http_tcase(const char *name)
{
    TCase *tc = mcp_tcase(name);

    tcase_add_checked_fixture(tc, srv_setup, srv_teardown);
    return tc;
}

static const char *url(const char *path)
{
    return http_server_url(srv, tp, path);
}

static mcp_http_request_t *mkreq(const char *method, const char *u)
{
    mcp_http_request_t *req = NULL;
    const char *err = NULL;

    ck_assert_msg(mcp_http_request_create(&req, tp, http, method, u, &err)
                  == APR_SUCCESS, "request %s %s: %s", method, u, err);
    return req;
}

static mcp_http_response_t *get_ok(const char *path)
{
    mcp_http_response_t *resp = NULL;
    const char *err = NULL;
    apr_status_t rv = mcp_http_perform(mkreq("GET", url(path)), &resp, &err);

    ck_assert_msg(rv == APR_SUCCESS, "GET %s: %s", path, err ? err : "?");
    return resp;
}

static mcp_json_t *body_json(const mcp_http_response_t *resp)
{
    mcp_json_t *j = NULL;
    const char *err = NULL;

    ck_assert_ptr_nonnull(resp->body);
    ck_assert_msg(mcp_json_parse(&j, tp, resp->body, resp->body_len, NULL, &err)
                  == APR_SUCCESS, "body is not JSON: %s", err);
    return j;
}

static double secs_since(apr_time_t t0)
{
    return (double)(apr_time_now() - t0) / APR_USEC_PER_SEC;
}

/* Run one request expected to fail; check the status and that the
 * message names @a word. */
static mcp_http_response_t *fail_with(mcp_http_request_t *req, apr_status_t want,
                                      const char *word)
{
    mcp_http_response_t *resp = NULL;
    const char *err = NULL;

    ck_assert_status(mcp_http_perform(req, &resp, &err), want);
    ck_assert_ptr_nonnull(resp);
    ck_assert_ptr_nonnull(err);
    ck_assert_ptr_eq(err, resp->error);
    ck_assert_msg(strstr(err, word) != NULL, "message '%s' lacks '%s'", err, word);
    ck_assert_ptr_null(resp->body);
    return resp;
}

/* ---- URL and request rules (no network) ---- */

START_TEST(url_rules)
{
    static const char *good[] = {
        "http://127.0.0.1/", "https://example.com", "HTTP://example.com:8080/a?b=c",
        "http://[::1]:80/x", "https://a-b.example_c.org/p",
    };
    static const char *bad[] = {
        NULL, "", "example.com/x", "/relative", "file:///etc/passwd",
        "ftp://127.0.0.1/", "gopher://127.0.0.1/", "dict://127.0.0.1:11111/",
        "ldap://127.0.0.1/", "javascript:alert(1)", "http:/x", "http:x",
        "http:///path", "http://user:pw@127.0.0.1/", "http://127.0.0.1:0/",
        "http://127.0.0.1:99999/", "http://127.0.0.1:80x/", "http://a b/",
        "http://127.0.0.1/\r\nX: y", "http://h\xc3\xa9.example/",
        "http://bad$host/", "https://a-b.example_c.org/p#f",
        "http://127.0.0.1:65536/", "http://h/%zz", "http://h\\@evil/",
    };
    apr_size_t i;

    for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        const char *err = NULL;
        ck_assert_msg(mcp_http_url_check(tp, good[i], &err) == APR_SUCCESS,
                      "%s refused: %s", good[i], err);
    }
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        const char *err = NULL;
        ck_assert_msg(mcp_http_url_check(tp, bad[i], &err) == MCP_EINVALID,
                      "%s accepted", bad[i] ? bad[i] : "NULL");
        ck_assert_ptr_nonnull(err);
    }
    ck_assert_str_eq(mcp_http_url_for_log(tp, "https://h.example:8443/p/q?code=secret#x"),
                     "https://h.example:8443/p/q");
    ck_assert_str_eq(mcp_http_url_for_log(tp, "http://[::1]/"), "http://[::1]/");
}
END_TEST

START_TEST(request_rules)
{
    mcp_http_request_t *req = mkreq("POST", url("/echo"));
    const char *err = NULL;

    ck_assert_int_eq(req->timeout, MCP_HTTP_DEFAULT_TIMEOUT);
    ck_assert_int_eq(req->connect_timeout, MCP_HTTP_DEFAULT_CONNECT_TIMEOUT);
    ck_assert_int_eq(req->idle_timeout, MCP_HTTP_DEFAULT_IDLE_TIMEOUT);
    ck_assert_uint_eq(req->max_response_size, MCP_HTTP_DEFAULT_MAX_RESPONSE);
    ck_assert_int_eq(req->max_redirects, 0);
    ck_assert_uint_eq(req->addr_allow, MCP_ADDR_ALLOW_ALL);
    ck_assert_uint_eq(req->url_rules, MCP_HTTP_DEFAULT_URL_RULES);
    ck_assert_ptr_null(req->cross_origin_headers);
    ck_assert_status(mcp_http_request_header(req, "X-Ok", "v a l", &err), APR_SUCCESS);
    ck_assert_status(mcp_http_request_header(req, "X-Bad", "a\r\nInjected: 1", &err),
                     MCP_EINVALID);
    ck_assert_status(mcp_http_request_header(req, "X-Bad", "a\nb", &err), MCP_EINVALID);
    ck_assert_status(mcp_http_request_header(req, "Bad Name", "v", &err), MCP_EINVALID);
    ck_assert_status(mcp_http_request_header(req, "", "v", &err), MCP_EINVALID);
    ck_assert_status(mcp_http_request_header(req, "X:Y", "v", &err), MCP_EINVALID);
    ck_assert_status(mcp_http_request_header(req, "Content-Length", "5", &err),
                     MCP_EINVALID);
    ck_assert_status(mcp_http_request_header(req, "transfer-encoding", "chunked", &err),
                     MCP_EINVALID);
    ck_assert_status(mcp_http_request_body(req, NULL, 3, NULL, &err), MCP_EINVALID);
    ck_assert_status(mcp_http_request_body(req, "{}", 2, "application/json\r\nX: 1",
                                           &err), MCP_EINVALID);
    req = NULL;
    ck_assert_status(mcp_http_request_create(&req, tp, http, "GE T", url("/"), &err),
                     MCP_EINVALID);
    ck_assert_ptr_null(req);
    ck_assert_status(mcp_http_request_create(&req, tp, NULL, "GET", url("/"), &err),
                     MCP_EINVALID);
}
END_TEST

START_TEST(client_options)
{
    mcp_http_options_t o;
    mcp_http_t *h = NULL;
    const char *err = NULL;

    memset(&o, 0, sizeof(o));
    o.proxy = "ftp://127.0.0.1:21/";
    ck_assert_status(mcp_http_create(&h, tp, &o, &err), MCP_EINVALID);
    ck_assert_ptr_null(h);
    ck_assert_ptr_nonnull(strstr(err, "proxy"));

    memset(&o, 0, sizeof(o));
    o.timeout = MCP_HTTP_NO_LIMIT;
    o.idle_timeout = apr_time_from_msec(1500);
    o.max_redirects = 2;
    ck_assert_status(mcp_http_create(&h, tp, &o, &err), APR_SUCCESS);
    ck_assert_int_eq(mcp_http_options(h)->connect_timeout,
                     MCP_HTTP_DEFAULT_CONNECT_TIMEOUT);
    ck_assert_str_eq(mcp_http_options(h)->user_agent, "mod_mcp/" MCP_VERSION);
    {
        mcp_http_request_t *req = NULL;

        ck_assert_status(mcp_http_request_create(&req, tp, h, NULL, url("/json"),
                                                 &err), APR_SUCCESS);
        ck_assert_str_eq(req->method, "GET");
        ck_assert_int_eq(req->timeout, 0);     /* no limit */
        ck_assert_int_eq(req->idle_timeout, apr_time_from_msec(1500));
        ck_assert_int_eq(req->max_redirects, 2);
    }
}
END_TEST

/* ---- plain exchanges ---- */

START_TEST(get_json)
{
    mcp_http_response_t *resp = get_ok("/json");
    mcp_json_t *j = body_json(resp);

    ck_assert_int_eq(resp->status, 200);
    ck_assert_status(resp->rv, APR_SUCCESS);
    ck_assert_ptr_null(resp->error);
    ck_assert(mcp_json_get_bool(j, "ok", 0));
    ck_assert_str_eq(mcp_http_response_media_type(tp, resp), "application/json");
    ck_assert_str_eq(mcp_http_response_header(resp, "content-length"),
                     apr_psprintf(tp, "%" APR_SIZE_T_FMT, resp->body_len));
    ck_assert_uint_eq(resp->received, resp->body_len);
    ck_assert_uint_eq(strlen(resp->body), resp->body_len);
    ck_assert_str_eq(resp->effective_url, url("/json"));
    ck_assert_int_eq(resp->redirects, 0);
}
END_TEST

static mcp_json_t *echo(const char *method, const char *body, const char *ctype,
                        int *pstatus)
{
    mcp_http_request_t *req = mkreq(method, url("/echo"));
    mcp_http_response_t *resp = NULL;
    const char *err = NULL;

    ck_assert_status(mcp_http_request_header(req, "X-Trace", "abc 123", &err),
                     APR_SUCCESS);
    ck_assert_status(mcp_http_request_header(req, "X-Empty", "", &err), APR_SUCCESS);
    if (body) {
        ck_assert_status(mcp_http_request_body(req, body, strlen(body), ctype, &err),
                         APR_SUCCESS);
    }
    ck_assert_msg(mcp_http_perform(req, &resp, &err) == APR_SUCCESS, "%s", err);
    *pstatus = resp->status;
    return strcmp(method, "HEAD") ? body_json(resp) : NULL;
}

START_TEST(echo_methods)
{
    const char *doc = "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}";
    int status = 0;
    mcp_json_t *j = echo("POST", doc, "application/json", &status);
    mcp_json_t *h = mcp_json_get(tp, j, "headers");

    ck_assert_int_eq(status, 200);
    ck_assert_str_eq(mcp_json_get_str(tp, j, "method"), "POST");
    ck_assert_str_eq(mcp_json_get_str(tp, j, "body"), doc);
    ck_assert_str_eq(mcp_json_get_str(tp, h, "x-trace"), "abc 123");
    ck_assert_str_eq(mcp_json_get_str(tp, h, "x-empty"), "");
    ck_assert_str_eq(mcp_json_get_str(tp, h, "content-type"), "application/json");
    ck_assert_str_eq(mcp_json_get_str(tp, h, "content-length"),
                     apr_psprintf(tp, "%d", (int)strlen(doc)));
    ck_assert_str_eq(mcp_json_get_str(tp, h, "user-agent"), "mod_mcp/" MCP_VERSION);
    ck_assert(!mcp_json_has(h, "expect"));

    j = echo("PUT", "put-body", "text/plain", &status);
    ck_assert_str_eq(mcp_json_get_str(tp, j, "method"), "PUT");
    ck_assert_str_eq(mcp_json_get_str(tp, j, "body"), "put-body");

    j = echo("DELETE", NULL, NULL, &status);
    ck_assert_str_eq(mcp_json_get_str(tp, j, "method"), "DELETE");
    ck_assert_str_eq(mcp_json_get_str(tp, j, "body"), "");

    j = echo("POST", NULL, NULL, &status);
    ck_assert_str_eq(mcp_json_get_str(tp, j, "method"), "POST");
    h = mcp_json_get(tp, j, "headers");
    ck_assert_str_eq(mcp_json_get_str(tp, h, "content-length"), "0");

    j = echo("GET", NULL, NULL, &status);
    ck_assert_str_eq(mcp_json_get_str(tp, j, "method"), "GET");

    ck_assert_ptr_null(echo("HEAD", NULL, NULL, &status));
    ck_assert_int_eq(status, 200);
}
END_TEST

START_TEST(status_codes)
{
    static const int codes[] = { 201, 204, 400, 401, 403, 404, 500, 502, 503 };
    apr_size_t i;

    for (i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
        const char *path = apr_psprintf(tp, "/status?code=%d", codes[i]);
        mcp_http_response_t *resp = get_ok(path);

        ck_assert_int_eq(resp->status, codes[i]);
        if (codes[i] == 204) {
            ck_assert_uint_eq(resp->body_len, 0);
        }
        else {
            ck_assert_str_eq(resp->body, apr_psprintf(tp, "status %d", codes[i]));
        }
    }
    ck_assert_int_eq(get_ok("/nowhere")->status, 404);
}
END_TEST

static void check_xs(const mcp_http_response_t *resp, apr_size_t n)
{
    apr_size_t i;

    ck_assert_uint_eq(resp->body_len, n);
    for (i = 0; i < n; i++) {
        if (resp->body[i] != 'x') {
            ck_abort_msg("byte %" APR_SIZE_T_FMT " is not 'x'", i);
        }
    }
    ck_assert_int_eq(resp->body[n], '\0');
}

START_TEST(large_bodies)
{
    check_xs(get_ok("/large?n=3000000"), 3000000);
    check_xs(get_ok("/large-chunked?n=300001"), 300001);
    check_xs(get_ok("/large?n=0"), 0);
}
END_TEST

/* ---- limits ---- */

static apr_status_t count_body(const mcp_http_response_t *resp, const char *data,
                               apr_size_t len, void *baton)
{
    *(apr_size_t *)baton += len;
    return APR_SUCCESS;
}

START_TEST(too_large)
{
    static const char *paths[] = { "/large?n=200000", "/large-chunked?n=200000" };
    apr_size_t i;

    for (i = 0; i < 2; i++) {
        mcp_http_request_t *req = mkreq("GET", url(paths[i]));
        apr_size_t streamed = 0;

        req->max_response_size = 100000;
        fail_with(req, MCP_ETOOLARGE, "100000");

        /* The cap holds for a streamed body too. */
        req = mkreq("GET", url(paths[i]));
        req->max_response_size = 100000;
        req->on_body = count_body;
        req->baton = &streamed;
        fail_with(req, MCP_ETOOLARGE, "limit");
        ck_assert_uint_le(streamed, 100000);
    }
    /* Exactly at the cap is fine. */
    {
        mcp_http_request_t *req = mkreq("GET", url("/large-chunked?n=100000"));
        mcp_http_response_t *resp = NULL;

        req->max_response_size = 100000;
        ck_assert_status(mcp_http_perform(req, &resp, NULL), APR_SUCCESS);
        check_xs(resp, 100000);
    }
}
END_TEST

START_TEST(idle_timeout)
{
    mcp_http_request_t *req = mkreq("GET", url("/drip"));
    apr_time_t t0 = apr_time_now();
    mcp_http_response_t *resp;
    double dt;

    req->idle_timeout = apr_time_from_msec(300);
    req->timeout = apr_time_from_sec(20);
    resp = fail_with(req, MCP_ETIMEOUT, "idle timeout");
    dt = secs_since(t0);
    ck_assert_msg(dt >= 0.29 && dt < 3.0, "idle timeout took %.2f s", dt);
    ck_assert_int_eq(resp->status, 200);    /* headers had come */
    ck_assert_uint_eq(resp->received, 10);
}
END_TEST

START_TEST(total_timeout)
{
    mcp_http_request_t *req = mkreq("GET", url("/hang"));
    mcp_http_response_t *resp;
    apr_time_t t0 = apr_time_now();
    double dt;

    req->timeout = apr_time_from_msec(300);
    fail_with(req, MCP_ETIMEOUT, "total timeout");
    dt = secs_since(t0);
    ck_assert_msg(dt >= 0.29 && dt < 3.0, "total timeout took %.2f s", dt);

    /* The idle timer does not run before the response begins. */
    req = mkreq("GET", url("/hang"));
    req->timeout = apr_time_from_msec(600);
    req->idle_timeout = apr_time_from_msec(100);
    fail_with(req, MCP_ETIMEOUT, "total timeout");

    /* On a reused connection the request was sent: not "while
     * connecting". */
    get_ok("/json");
    req = mkreq("GET", url("/hang"));
    req->timeout = apr_time_from_msec(300);
    resp = fail_with(req, MCP_ETIMEOUT, "total timeout");
    ck_assert_msg(strstr(resp->error, "while connecting") == NULL, "%s",
                  resp->error);
}
END_TEST

START_TEST(connect_timeout)
{
    apr_port_t port = 0;
    mcp_http_request_t *req;
    apr_time_t t0;
    double dt;

    ck_assert_status(http_blackhole_start(tp, &port), APR_SUCCESS);
    req = mkreq("GET", apr_psprintf(tp, "http://127.0.0.1:%u/", (unsigned)port));
    req->connect_timeout = apr_time_from_msec(300);
    req->timeout = apr_time_from_sec(20);
    t0 = apr_time_now();
    fail_with(req, MCP_ETIMEOUT, "connect timeout");
    dt = secs_since(t0);
    ck_assert_msg(dt >= 0.29 && dt < 3.0, "connect timeout took %.2f s", dt);
}
END_TEST

START_TEST(connection_refused)
{
    apr_port_t port = http_closed_port(tp);
    const char *u = apr_psprintf(tp, "http://127.0.0.1:%u/json", (unsigned)port);
    apr_time_t t0 = apr_time_now();
    mcp_http_response_t *resp;

    ck_assert_uint_ne(port, 0);
    resp = fail_with(mkreq("GET", u), APR_ECONNREFUSED, "refused");
    ck_assert_msg(secs_since(t0) < 2.0, "refusal took %.2f s", secs_since(t0));
    ck_assert_ptr_nonnull(strstr(resp->error, apr_psprintf(tp, ":%u", port)));
    ck_assert_int_eq(resp->status, 0);
}
END_TEST

/* ---- broken peers ---- */

START_TEST(closed_mid_body)
{
    mcp_http_response_t *resp;

    resp = fail_with(mkreq("GET", url("/short")), MCP_EPROTO, "closed");
    ck_assert_uint_eq(resp->received, 10);
    fail_with(mkreq("GET", url("/cutchunk")), MCP_EPROTO, url("/cutchunk"));
    fail_with(mkreq("GET", url("/badchunk")), MCP_EPROTO, "chunk");
    /* The client is still usable afterwards. */
    ck_assert_int_eq(get_ok("/json")->status, 200);
}
END_TEST

/* ---- streaming ---- */

typedef struct {
    int headers_calls;
    int headers_status;
    const char *headers_ctype;
    int body_calls;
    int body_before_headers;
    int released;
    char *text;
    apr_size_t len;
    apr_status_t fail_body;      /* returned by the body callback */
    apr_status_t fail_headers;   /* returned by the headers callback */
} stream_t;

static apr_status_t on_headers(const mcp_http_response_t *resp, void *baton)
{
    stream_t *s = baton;

    s->headers_calls++;
    s->headers_status = resp->status;
    s->headers_ctype = mcp_http_response_media_type(tp, resp);
    ck_assert_ptr_null(resp->body);
    return s->fail_headers;
}

static apr_status_t on_body(const mcp_http_response_t *resp, const char *data,
                            apr_size_t len, void *baton)
{
    stream_t *s = baton;

    if (!s->headers_calls) {
        s->body_before_headers = 1;
    }
    s->body_calls++;
    s->text = apr_pstrcat(tp, s->text ? s->text : "",
                          apr_pstrmemdup(tp, data, len), NULL);
    s->len += len;
    /* The server holds the rest of the stream until we have seen the
     * first event: this proves events arrive before the stream ends. */
    if (!s->released && strstr(s->text, "data: {\"n\":1}\n\n")) {
        s->released = 1;
        http_server_release(srv);
    }
    return s->fail_body;
}

static mcp_http_request_t *sse_req(stream_t *s)
{
    mcp_http_request_t *req = mkreq("GET", url("/sse"));

    memset(s, 0, sizeof(*s));
    req->on_headers = on_headers;
    req->on_body = on_body;
    req->baton = s;
    return req;
}

START_TEST(sse_stream)
{
    stream_t s;
    mcp_http_request_t *req = sse_req(&s);
    mcp_http_response_t *resp = NULL;
    const char *err = NULL;

    ck_assert_status(mcp_http_request_header(req, "Accept", "text/event-stream", &err),
                     APR_SUCCESS);
    ck_assert_msg(mcp_http_perform(req, &resp, &err) == APR_SUCCESS, "%s", err);
    ck_assert_int_eq(resp->status, 200);
    ck_assert_int_eq(s.headers_calls, 1);
    ck_assert_int_eq(s.headers_status, 200);
    ck_assert_str_eq(s.headers_ctype, "text/event-stream");
    ck_assert(!s.body_before_headers);
    ck_assert(s.released);
    ck_assert_int_ge(s.body_calls, 3);
    ck_assert_str_eq(s.text, "event: message\ndata: {\"n\":1}\n\n"
                             "data: {\"n\":2}\n\ndata: done\n\n");
    ck_assert_ptr_null(strstr(s.text, "late"));
    ck_assert_ptr_null(resp->body);
    ck_assert_uint_eq(resp->received, s.len);
}
END_TEST

START_TEST(sse_abort_by_body_callback)
{
    stream_t s;
    mcp_http_request_t *req = sse_req(&s);
    apr_time_t t0 = apr_time_now();

    s.fail_body = MCP_EINVALID;
    fail_with(req, MCP_EINVALID, "body callback");
    ck_assert_int_eq(s.body_calls, 1);
    /* Aborted at once, not when the server gives up waiting (5 s). */
    ck_assert_msg(secs_since(t0) < 3.0, "abort took %.2f s", secs_since(t0));
}
END_TEST

START_TEST(abort_by_headers_callback)
{
    stream_t s;
    mcp_http_request_t *req = sse_req(&s);
    mcp_http_response_t *resp = NULL;

    s.fail_headers = MCP_EPROTO;
    fail_with(req, MCP_EPROTO, "headers callback");
    ck_assert_int_eq(s.headers_calls, 1);
    ck_assert_int_eq(s.body_calls, 0);

    /* Called also for a response without a body. */
    req = sse_req(&s);
    req->url = url("/status?code=204");
    ck_assert_status(mcp_http_perform(req, &resp, NULL), APR_SUCCESS);
    ck_assert_int_eq(resp->status, 204);
    ck_assert_int_eq(s.headers_calls, 1);
    ck_assert_int_eq(s.headers_status, 204);
    ck_assert_int_eq(s.body_calls, 0);
}
END_TEST

typedef struct {
    apr_time_t t0;
    int calls;
} tick_t;

static apr_status_t on_tick(const mcp_http_response_t *resp, void *baton)
{
    tick_t *t = baton;

    t->calls++;
    return secs_since(t->t0) > 0.3 ? APR_ECONNABORTED : APR_SUCCESS;
}

START_TEST(abort_by_tick_callback)
{
    mcp_http_request_t *req = mkreq("GET", url("/hang"));
    mcp_http_response_t *resp = NULL;
    tick_t t;
    double dt;

    req->timeout = apr_time_from_sec(20);
    req->on_tick = on_tick;
    req->baton = &t;
    t.t0 = apr_time_now();
    t.calls = 0;
    fail_with(req, APR_ECONNABORTED, "tick callback");
    dt = secs_since(t.t0);
    ck_assert_msg(dt >= 0.29 && dt < 3.0, "tick abort took %.2f s", dt);
    ck_assert_int_ge(t.calls, 1);
    ck_assert_status(mcp_http_perform(NULL, &resp, NULL), APR_EINVAL);
    ck_assert_ptr_null(resp);
}
END_TEST

/* ---- buffer or stream, decided after the headers ---- */

typedef struct {
    int mode_calls;
    mcp_http_mode_e answer;     /* what on_mode returns */
    int streamed_at_headers;
    apr_size_t streamed;        /* bytes seen by on_body */
    int body_calls;
} mode_t_;

static mcp_http_mode_e mode_cb(const mcp_http_response_t *resp, void *baton)
{
    mode_t_ *m = baton;

    m->mode_calls++;
    ck_assert_int_ne(resp->status, 0);
    return m->answer;
}

static apr_status_t mode_headers(const mcp_http_response_t *resp, void *baton)
{
    ((mode_t_ *)baton)->streamed_at_headers = resp->streamed;
    return APR_SUCCESS;
}

static apr_status_t mode_body(const mcp_http_response_t *resp, const char *data,
                              apr_size_t len, void *baton)
{
    mode_t_ *m = baton;

    (void)resp;
    (void)data;
    m->body_calls++;
    m->streamed += len;
    return APR_SUCCESS;
}

static mcp_http_request_t *mode_req(const char *path, mcp_http_mode_e mode,
                                    mode_t_ *m)
{
    mcp_http_request_t *req = mkreq("GET", url(path));

    memset(m, 0, sizeof(*m));
    req->mode = mode;
    req->on_headers = mode_headers;
    req->on_body = mode_body;
    req->baton = m;
    return req;
}

START_TEST(auto_mode_rule)
{
    mcp_http_response_t *resp = NULL;
    const char *err = NULL;
    mode_t_ m;
    mcp_http_request_t *req = mode_req("/trickle?n=3&ms=10", MCP_HTTP_MODE_AUTO, &m);

    /* text/event-stream: streamed. */
    ck_assert_msg(mcp_http_perform(req, &resp, &err) == APR_SUCCESS, "%s", err);
    ck_assert_int_eq(resp->streamed, 1);
    ck_assert_int_eq(m.streamed_at_headers, 1);
    ck_assert_ptr_null(resp->body);
    ck_assert_uint_eq(m.streamed, strlen("data: 0\n\ndata: 1\n\ndata: 2\n\n"));

    /* Anything else: buffered, on_body not called, the cap applies. */
    req = mode_req("/json", MCP_HTTP_MODE_AUTO, &m);
    ck_assert_msg(mcp_http_perform(req, &resp, &err) == APR_SUCCESS, "%s", err);
    ck_assert_int_eq(resp->streamed, 0);
    ck_assert_int_eq(m.body_calls, 0);
    ck_assert(mcp_json_get_bool(body_json(resp), "ok", 0));
    req = mode_req("/large?n=5000", MCP_HTTP_MODE_AUTO, &m);
    req->max_response_size = 1000;
    fail_with(req, MCP_ETOOLARGE, "limit");
    ck_assert_int_eq(m.body_calls, 0);

    /* Without a body callback a request that may stream is refused. */
    req = mode_req("/json", MCP_HTTP_MODE_AUTO, &m);
    req->on_body = NULL;
    fail_with(req, MCP_EINVALID, "on_body");
    ck_assert_uint_eq(http_server_requests(srv), 3);
}
END_TEST

START_TEST(auto_mode_callback)
{
    mcp_http_response_t *resp = NULL;
    const char *err = NULL;
    mode_t_ m;
    mcp_http_request_t *req = mode_req("/json", MCP_HTTP_MODE_AUTO, &m);

    /* The callback streams what the rule would buffer... */
    m.answer = MCP_HTTP_MODE_STREAM;
    req->on_mode = mode_cb;
    ck_assert_msg(mcp_http_perform(req, &resp, &err) == APR_SUCCESS, "%s", err);
    ck_assert_int_eq(m.mode_calls, 1);
    ck_assert_int_eq(resp->streamed, 1);
    ck_assert_ptr_null(resp->body);
    ck_assert_uint_eq(m.streamed, resp->received);
    ck_assert_uint_gt(m.streamed, 0);

    /* ... and buffers what it would stream. */
    req = mode_req("/trickle?n=2&ms=10", MCP_HTTP_MODE_AUTO, &m);
    m.answer = MCP_HTTP_MODE_BUFFER;
    req->on_mode = mode_cb;
    ck_assert_msg(mcp_http_perform(req, &resp, &err) == APR_SUCCESS, "%s", err);
    ck_assert_int_eq(m.mode_calls, 1);
    ck_assert_int_eq(resp->streamed, 0);
    ck_assert_int_eq(m.body_calls, 0);
    ck_assert_str_eq(resp->body, "data: 0\n\ndata: 1\n\n");
}
END_TEST

START_TEST(stream_limits)
{
    mcp_http_response_t *resp = NULL;
    const char *err = NULL;
    mode_t_ m;
    /* 10 events 100 ms apart: about 1 s, 5 times the total timeout. */
    mcp_http_request_t *req = mode_req("/trickle?n=10&ms=100", MCP_HTTP_MODE_STREAM,
                                       &m);

    /* A stream has no total timeout once it has begun... */
    req->timeout = apr_time_from_msec(200);
    req->idle_timeout = apr_time_from_sec(10);
    ck_assert_msg(mcp_http_perform(req, &resp, &err) == APR_SUCCESS, "%s", err);
    ck_assert_int_eq(resp->streamed, 1);
    ck_assert_uint_eq(m.streamed, 10 * strlen("data: 0\n\n"));

    /* ... which a buffered body has. */
    req = mode_req("/trickle?n=10&ms=100", MCP_HTTP_MODE_BUFFER, &m);
    req->timeout = apr_time_from_msec(200);
    fail_with(req, MCP_ETIMEOUT, "total timeout");

    /* So does the wait for the headers of a stream. */
    req = mode_req("/hang", MCP_HTTP_MODE_STREAM, &m);
    req->timeout = apr_time_from_msec(300);
    fail_with(req, MCP_ETIMEOUT, "total timeout");

    /* A silent stream ends by its idle timeout. */
    req = mode_req("/drip", MCP_HTTP_MODE_STREAM, &m);
    req->timeout = apr_time_from_msec(100);
    req->idle_timeout = apr_time_from_msec(600);
    resp = fail_with(req, MCP_ETIMEOUT, "idle timeout");
    ck_assert_uint_eq(resp->received, 10);

    /* No cap on a whole stream. */
    req = mode_req("/large?n=50000", MCP_HTTP_MODE_STREAM, &m);
    req->max_response_size = 1000;
    ck_assert_msg(mcp_http_perform(req, &resp, &err) == APR_SUCCESS, "%s", err);
    ck_assert_uint_eq(m.streamed, 50000);
}
END_TEST

/* ---- cancellation ---- */

typedef struct {
    mcp_http_request_t *req;    /* cancel this, */
    mcp_http_batch_t *batch;    /* or this batch, */
    apr_pool_t *pool;           /* or destroy this pool */
    int ms;                     /* after this long */
    apr_time_t at;              /* when it was done */
} canceller_t;

static void *APR_THREAD_FUNC canceller_main(apr_thread_t *t, void *baton)
{
    canceller_t *c = baton;

    (void)t;
    apr_sleep(apr_time_from_msec(c->ms));
    c->at = apr_time_now();
    if (c->req) {
        mcp_http_cancel(c->req);
    }
    else if (c->batch) {
        mcp_http_batch_cancel(c->batch);
    }
    else {
        apr_pool_destroy(c->pool);
    }
    return NULL;
}

static apr_thread_t *canceller(canceller_t *c)
{
    apr_thread_t *t = NULL;

    ck_assert_status(apr_thread_create(&t, NULL, canceller_main, c, tp),
                     APR_SUCCESS);
    return t;
}

START_TEST(cancel_request)
{
    canceller_t c;
    apr_thread_t *t;
    apr_status_t trv;
    mcp_http_response_t *resp;
    mcp_http_request_t *req = mkreq("GET", url("/hang"));

    /* From another thread while it waits for the network. */
    memset(&c, 0, sizeof(c));
    c.req = req;
    c.ms = 300;
    req->timeout = apr_time_from_sec(30);
    t = canceller(&c);
    resp = fail_with(req, MCP_ECANCELED, "cancelled");
    apr_thread_join(&trv, t);
    /* Noticed at once (the loop is woken), and in any case well before
     * any timeout of the request or the server's 5 s. */
    ck_assert_msg(secs_since(c.at) < 2.5, "cancel took %.2f s", secs_since(c.at));
    ck_assert_int_eq(resp->status, 0);

    /* Cancelled before it is performed: no connection at all. */
    req = mkreq("GET", url("/json"));
    mcp_http_cancel(req);
    fail_with(req, MCP_ECANCELED, "cancelled");
    ck_assert_uint_eq(http_server_accepted(srv), 1);
    /* The client goes on. */
    ck_assert_int_eq(get_ok("/json")->status, 200);
}
END_TEST

/* Add @a n GET requests to @a b, the first to @a first, the others to
 * @a rest, each with a total timeout of 30 s. */
static void add_requests(mcp_http_batch_t *b, int n, const char *first,
                         const char *rest, mcp_http_response_t **resps)
{
    int i;

    for (i = 0; i < n; i++) {
        mcp_http_request_t *req = mkreq("GET", url(i ? rest : first));

        req->timeout = apr_time_from_sec(30);
        ck_assert_status(mcp_http_batch_add(b, req, &resps[i]), APR_SUCCESS);
    }
}

/* Responses @a from to @a n - 1 are successes. */
static void all_ok(mcp_http_response_t **resps, int from, int n)
{
    int i;

    for (i = from; i < n; i++) {
        ck_assert_msg(resps[i]->rv == APR_SUCCESS, "request %d: %s", i,
                      resps[i]->error);
    }
}

/* Run @a b with @a n requests, the first to @a first, the others to
 * /hang, while @a c (batch or pool set) cancels after 300 ms. */
static void run_cancelled(mcp_http_batch_t *b, const char *first, int n,
                          mcp_http_response_t **resps, canceller_t *c)
{
    apr_thread_t *t;
    apr_status_t trv;
    int i;

    add_requests(b, n, first, "/hang", resps);
    c->ms = 300;
    t = canceller(c);
    ck_assert_status(mcp_http_batch_run(b), APR_SUCCESS);
    apr_thread_join(&trv, t);
    ck_assert_msg(secs_since(c->at) < 2.5, "cancel took %.2f s",
                  secs_since(c->at));
    for (i = 1; i < n; i++) {
        ck_assert_status(resps[i]->rv, MCP_ECANCELED);
    }
}

START_TEST(cancel_batch)
{
    mcp_http_batch_t *b = NULL;
    mcp_http_response_t *resps[4];
    canceller_t c;

    ck_assert_status(mcp_http_batch_create(&b, tp, http, NULL), APR_SUCCESS);
    memset(&c, 0, sizeof(c));
    c.batch = b;
    run_cancelled(b, "/json", 4, resps, &c);
    ck_assert_status(resps[0]->rv, APR_SUCCESS);
}
END_TEST

START_TEST(cancel_by_pool_cleanup)
{
    apr_pool_t *bp;
    mcp_http_batch_t *b = NULL;
    mcp_http_response_t *resps[3];
    canceller_t c;

    /* The batch in a pool of its own (httpd's request pool), destroyed
     * by another thread while the batch runs: its cleanup cancels, waits
     * for the loop to let go and releases everything. */
    apr_pool_create(&bp, tp);
    ck_assert_status(mcp_http_batch_create(&b, bp, http, NULL), APR_SUCCESS);
    memset(&c, 0, sizeof(c));
    c.pool = bp;
    run_cancelled(b, "/hang", 3, resps, &c);
    ck_assert_status(resps[0]->rv, MCP_ECANCELED);
    /* The client goes on, also with a pool cleanup of a batch that is
     * not running. */
    apr_pool_create(&bp, tp);
    ck_assert_status(mcp_http_batch_create(&b, bp, http, NULL), APR_SUCCESS);
    ck_assert_status(mcp_http_batch_add(b, mkreq("GET", url("/json")), &resps[0]),
                     APR_SUCCESS);
    apr_pool_destroy(bp);
    ck_assert_int_eq(get_ok("/json")->status, 200);
}
END_TEST

/* ---- fan-out ---- */

START_TEST(batch_deadline)
{
    enum { N = 4 };
    mcp_http_batch_t *b = NULL;
    mcp_http_response_t *resps[N];
    apr_time_t t0;
    int i;

    ck_assert_status(mcp_http_batch_create(&b, tp, http, NULL), APR_SUCCESS);
    /* The server's slowest answer is 5 s, the deadline 1 s: 5 times. */
    mcp_http_batch_limits(b, 0, apr_time_from_sec(1));
    add_requests(b, N, "/slow?ms=5000", "/json", resps);
    t0 = apr_time_now();
    ck_assert_status(mcp_http_batch_run(b), APR_SUCCESS);
    ck_assert_msg(secs_since(t0) < 4.0, "batch took %.2f s", secs_since(t0));
    ck_assert_status(resps[0]->rv, MCP_EDEADLINE);
    ck_assert_ptr_nonnull(strstr(resps[0]->error, "deadline"));
    all_ok(resps, 1, N);
    for (i = 1; i < N; i++) {
        ck_assert_int_eq(resps[i]->status, 200);
    }
}
END_TEST

START_TEST(batch_in_flight_cap)
{
    enum { N = 8 };
    mcp_http_batch_t *b = NULL;
    mcp_http_response_t *resps[N];

    ck_assert_status(mcp_http_batch_create(&b, tp, http, NULL), APR_SUCCESS);
    mcp_http_batch_limits(b, 2, 0);
    add_requests(b, N, "/slow?ms=100", "/slow?ms=100", resps);
    ck_assert_status(mcp_http_batch_run(b), APR_SUCCESS);
    all_ok(resps, 0, N);
    /* Never more than 2 at the server, and the queued ones went over the
     * connections of the finished ones. */
    ck_assert_uint_le(http_server_max_inflight(srv), 2);
    ck_assert_uint_ge(http_server_max_inflight(srv), 1);
    ck_assert_uint_le(http_server_accepted(srv), 2);
    ck_assert_uint_eq(http_server_requests(srv), N);
}
END_TEST

typedef struct {
    mcp_http_batch_t *batch;
    mcp_http_response_t *added[2];
    int done;
} grow_t;

static void grow_done(const mcp_http_response_t *resp, void *baton)
{
    grow_t *g = baton;

    /* After the first answer, two more requests join the batch. */
    if (g->done++ == 0) {
        ck_assert_status(resp->rv, APR_SUCCESS);
        ck_assert_status(mcp_http_batch_add(g->batch, mkreq("GET", url("/json")),
                                            &g->added[0]), APR_SUCCESS);
        ck_assert_status(mcp_http_batch_add(g->batch,
                                            mkreq("POST", url("/echo")),
                                            &g->added[1]), APR_SUCCESS);
    }
}

START_TEST(batch_add_from_callback)
{
    mcp_http_batch_t *b = NULL;
    mcp_http_request_t *req = mkreq("GET", url("/json"));
    mcp_http_response_t *first = NULL;
    grow_t g;

    memset(&g, 0, sizeof(g));
    ck_assert_status(mcp_http_batch_create(&b, tp, http, NULL), APR_SUCCESS);
    g.batch = b;
    req->on_done = grow_done;
    req->baton = &g;
    ck_assert_status(mcp_http_batch_add(b, req, &first), APR_SUCCESS);
    ck_assert_status(mcp_http_batch_add(b, req, NULL), APR_EINVAL);
    ck_assert_status(mcp_http_batch_run(b), APR_SUCCESS);
    ck_assert_int_eq(g.done, 1);
    ck_assert_status(first->rv, APR_SUCCESS);
    ck_assert_ptr_nonnull(g.added[0]);
    ck_assert_ptr_nonnull(g.added[1]);
    ck_assert_msg(g.added[0]->rv == APR_SUCCESS, "%s", g.added[0]->error);
    ck_assert_msg(g.added[1]->rv == APR_SUCCESS, "%s", g.added[1]->error);
    ck_assert_str_eq(mcp_json_get_str(tp, body_json(g.added[1]), "method"), "POST");
    ck_assert_uint_eq(http_server_requests(srv), 3);
}
END_TEST

/* ---- back-pressure ---- */

typedef struct {
    mcp_http_request_t *req;
    mcp_http_request_t *other;  /* resumed when this one is done */
    mcp_http_batch_t *batch;    /* with start: where start is added */
    mcp_http_request_t *start;  /* added to the batch once this one paused */
    mcp_http_response_t *start_resp;
    int pause_first;            /* pause at the first piece */
    int pauses;
    int calls_while_paused;
    int paused;
    apr_size_t bytes;
    apr_size_t bytes_at_other_done;
    int done;
    int other_done_while_paused;
    const char *bad;            /* a piece that was not all 'x' */
} pstream_t;

static apr_status_t pause_body(const mcp_http_response_t *resp, const char *data,
                               apr_size_t len, void *baton)
{
    pstream_t *p = baton;
    apr_size_t i;

    (void)resp;
    if (p->paused) {
        p->calls_while_paused++;
    }
    if (p->pause_first && !p->pauses) {
        p->pauses++;
        p->paused = 1;
        if (p->start && mcp_http_batch_add(p->batch, p->start, &p->start_resp)
                        != APR_SUCCESS) {
            p->bad = "could not start the other stream";
        }
        return MCP_HTTP_PAUSE;
    }
    p->paused = 0;
    for (i = 0; i < len; i++) {
        if (data[i] != 'x') {
            p->bad = "not x";
        }
    }
    p->bytes += len;
    return APR_SUCCESS;
}

static void pause_done(const mcp_http_response_t *resp, void *baton)
{
    pstream_t *p = baton;

    (void)resp;
    p->done = 1;
    if (p->other) {
        pstream_t *o = p->other->baton;

        o->other_done_while_paused = o->paused;
        o->bytes_at_other_done = o->bytes;
        mcp_http_resume(p->other);
    }
}

static mcp_http_request_t *pause_req(pstream_t *p, apr_size_t n)
{
    mcp_http_request_t *req = mkreq("GET", url(apr_psprintf(tp,
                                    "/large-chunked?n=%" APR_SIZE_T_FMT, n)));

    memset(p, 0, sizeof(*p));
    p->req = req;
    req->mode = MCP_HTTP_MODE_STREAM;
    req->on_body = pause_body;
    req->on_done = pause_done;
    req->baton = p;
    return req;
}

START_TEST(pause_one_stream)
{
    enum { N = 300000 };
    pstream_t a, b;
    mcp_http_batch_t *batch = NULL;
    mcp_http_request_t *ra, *rb;
    mcp_http_response_t *resp_a = NULL;

    /* a pauses at once and only then starts b (so that b cannot end
     * before a paused, however slow the machine); b runs to its end
     * meanwhile and then resumes a, which gets every byte, the held
     * piece first. */
    ra = pause_req(&a, N);
    rb = pause_req(&b, N);
    ck_assert_status(mcp_http_batch_create(&batch, tp, http, NULL), APR_SUCCESS);
    a.pause_first = 1;
    a.batch = batch;
    a.start = rb;
    b.other = ra;
    ck_assert_status(mcp_http_batch_add(batch, ra, &resp_a), APR_SUCCESS);
    ck_assert_status(mcp_http_batch_run(batch), APR_SUCCESS);
    ck_assert_ptr_null(a.bad);
    ck_assert_ptr_nonnull(a.start_resp);
    ck_assert_msg(resp_a->rv == APR_SUCCESS, "paused: %s", resp_a->error);
    ck_assert_msg(a.start_resp->rv == APR_SUCCESS, "other: %s", a.start_resp->error);
    ck_assert_int_eq(b.done, 1);
    ck_assert_int_eq(a.other_done_while_paused, 1);
    ck_assert_uint_eq(a.bytes_at_other_done, 0);
    ck_assert_int_eq(a.pauses, 1);
    ck_assert_int_eq(a.calls_while_paused, 1);     /* the held piece, again */
    ck_assert_uint_eq(a.bytes, N);
    ck_assert_uint_eq(resp_a->received, N);
    ck_assert_uint_eq(b.bytes, N);
    ck_assert_ptr_null(b.bad);
}
END_TEST

typedef struct {
    mcp_http_request_t *req;
    int ms;
} resumer_t;

static void *APR_THREAD_FUNC resumer_main(apr_thread_t *t, void *baton)
{
    resumer_t *r = baton;

    (void)t;
    apr_sleep(apr_time_from_msec(r->ms));
    mcp_http_resume(r->req);
    return NULL;
}

START_TEST(pause_resume_from_thread)
{
    enum { N = 100000 };
    pstream_t a;
    mcp_http_request_t *req = pause_req(&a, N);
    mcp_http_response_t *resp = NULL;
    const char *err = NULL;
    resumer_t r;
    apr_thread_t *t;
    apr_status_t trv;

    /* Paused 5 times as long as the idle timeout: a pause is no silence
     * of the peer. */
    a.pause_first = 1;
    req->idle_timeout = apr_time_from_msec(300);
    r.req = req;
    r.ms = 1500;
    ck_assert_status(apr_thread_create(&t, NULL, resumer_main, &r, tp),
                     APR_SUCCESS);
    ck_assert_msg(mcp_http_perform(req, &resp, &err) == APR_SUCCESS, "%s", err);
    apr_thread_join(&trv, t);
    ck_assert_uint_eq(a.bytes, N);
    ck_assert_int_eq(a.pauses, 1);
}
END_TEST

/* ---- redirects and schemes ---- */

START_TEST(redirects)
{
    const char *to_json = url(apr_pstrcat(tp, "/redirect?to=", url("/json"), NULL));
    mcp_http_response_t *resp = NULL;
    mcp_http_request_t *req;
    stream_t s;

    /* Not followed by default: the 3xx is the response. */
    resp = get_ok(apr_pstrcat(tp, "/redirect?to=", url("/json"), NULL));
    ck_assert_int_eq(resp->status, 302);
    ck_assert_str_eq(mcp_http_response_header(resp, "Location"), url("/json"));
    ck_assert_str_eq(resp->body, "moved");
    ck_assert_int_eq(resp->redirects, 0);
    ck_assert_uint_eq(http_server_requests(srv), 1);
    resp = get_ok("/redirect?code=307&to=/json");
    ck_assert_int_eq(resp->status, 307);
    ck_assert_uint_eq(http_server_requests(srv), 2);

    /* Followed when asked; the headers callback sees only the final one. */
    req = sse_req(&s);
    req->on_body = NULL;
    req->url = to_json;
    req->max_redirects = 3;
    ck_assert_status(mcp_http_perform(req, &resp, NULL), APR_SUCCESS);
    ck_assert_int_eq(resp->status, 200);
    ck_assert_int_eq(resp->redirects, 1);
    ck_assert_str_eq(resp->effective_url, url("/json"));
    ck_assert(mcp_json_get_bool(body_json(resp), "ok", 0));
    ck_assert_int_eq(s.headers_calls, 1);
    ck_assert_int_eq(s.headers_status, 200);
    ck_assert_ptr_null(mcp_http_response_header(resp, "Location"));

    /* A relative Location works too. */
    req = mkreq("GET", url("/redirect?to=/json"));
    req->max_redirects = 1;
    ck_assert_status(mcp_http_perform(req, &resp, NULL), APR_SUCCESS);
    ck_assert_int_eq(resp->status, 200);

    /* Too many. */
    req = mkreq("GET", url("/redirect?to=/redirect?to=/redirect?to=/json"));
    req->max_redirects = 1;
    fail_with(req, MCP_EPROTO, "redirects");
}
END_TEST

START_TEST(redirect_loop)
{
    mcp_http_request_t *req = mkreq("GET", url("/loop"));
    unsigned before = http_server_requests(srv);

    req->max_redirects = 5;
    fail_with(req, MCP_EPROTO, "more than 5 redirects");
    /* The request and five hops; the sixth redirect is not followed. */
    ck_assert_uint_eq(http_server_requests(srv) - before, 6);
}
END_TEST

/* A redirect status, the method sent, the method the next hop uses. */
typedef struct {
    int code;
    const char *method;
    const char *want_method;
    int keeps_body;
} method_case_t;

START_TEST(redirect_methods)
{
    static const method_case_t cases[] = {
        { 303, "POST", "GET", 0 }, { 303, "PUT", "GET", 0 },
        { 303, "DELETE", "GET", 0 },
        { 301, "POST", "GET", 0 }, { 302, "POST", "GET", 0 },
        { 301, "PUT", "PUT", 1 }, { 302, "PATCH", "PATCH", 1 },
        { 307, "POST", "POST", 1 }, { 308, "POST", "POST", 1 },
        { 307, "PUT", "PUT", 1 }, { 308, "DELETE", "DELETE", 1 },
    };
    apr_size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const method_case_t *c = &cases[i];
        mcp_http_request_t *req = mkreq(c->method, url(apr_psprintf(tp,
                                        "/redirect?code=%d&to=/echo", c->code)));
        mcp_http_response_t *resp = NULL;
        const char *err = NULL;
        mcp_json_t *j, *h;

        ck_assert_status(mcp_http_request_body(req, "hello", 5, "text/plain",
                                               &err), APR_SUCCESS);
        ck_assert_status(mcp_http_request_header(req, "X-Trace", "t", &err),
                         APR_SUCCESS);
        req->max_redirects = 1;
        ck_assert_msg(mcp_http_perform(req, &resp, &err) == APR_SUCCESS,
                      "%d %s: %s", c->code, c->method, err);
        ck_assert_int_eq(resp->redirects, 1);
        ck_assert_str_eq(resp->effective_url, url("/echo"));
        j = body_json(resp);
        h = mcp_json_get(tp, j, "headers");
        ck_assert_msg(!strcmp(mcp_json_get_str(tp, j, "method"), c->want_method),
                      "%d %s became %s", c->code, c->method,
                      mcp_json_get_str(tp, j, "method"));
        ck_assert_str_eq(mcp_json_get_str(tp, j, "body"), c->keeps_body ? "hello" : "");
        /* The body's type goes with the body; other headers stay. */
        ck_assert_int_eq(mcp_json_has(h, "content-type"), c->keeps_body);
        ck_assert_str_eq(mcp_json_get_str(tp, h, "x-trace"), "t");
    }
    /* HEAD stays HEAD after a 303. */
    {
        mcp_http_request_t *req = mkreq("HEAD", url("/redirect?code=303&to=/echo"));
        mcp_http_response_t *resp = NULL;

        req->max_redirects = 1;
        ck_assert_status(mcp_http_perform(req, &resp, NULL), APR_SUCCESS);
        ck_assert_int_eq(resp->status, 200);
        ck_assert_int_eq(resp->redirects, 1);
        ck_assert_uint_eq(resp->body_len, 0);
    }
}
END_TEST

/* GET @a u (which redirects) with credentials and two more headers; the
 * headers the final /echo saw. */
static mcp_json_t *echoed_headers(const char *u, const char *const *allow)
{
    mcp_http_request_t *req = mkreq("GET", u);
    mcp_http_response_t *resp = NULL;
    const char *err = NULL;

    mcp_http_request_header(req, "Authorization", "Bearer s3cr3t", NULL);
    mcp_http_request_header(req, "Cookie", "sid=s3cr3t", NULL);
    mcp_http_request_header(req, "X-Allowed", "yes", NULL);
    mcp_http_request_header(req, "X-Other", "no", NULL);
    req->cross_origin_headers = allow;
    req->max_redirects = 3;
    ck_assert_msg(mcp_http_perform(req, &resp, &err) == APR_SUCCESS, "%s: %s",
                  u, err);
    ck_assert_int_eq(resp->status, 200);
    return mcp_json_get(tp, body_json(resp), "headers");
}

START_TEST(redirect_cross_origin_headers)
{
    static const char *const allow[] = { "x-ALLOWED", NULL };
    static const char *const allow_auth[] = { "Authorization", NULL };
    http_server_t *srv2 = http_server_start();
    const char *other, *home;
    mcp_json_t *h;

    ck_assert_ptr_nonnull(srv2);
    other = http_server_url(srv2, tp, "/echo");

    /* Another port: only the listed header crosses. */
    h = echoed_headers(url(apr_pstrcat(tp, "/redirect?to=", other, NULL)), allow);
    ck_assert(!mcp_json_has(h, "authorization"));
    ck_assert(!mcp_json_has(h, "cookie"));
    ck_assert(!mcp_json_has(h, "x-other"));
    ck_assert_str_eq(mcp_json_get_str(tp, h, "x-allowed"), "yes");
    ck_assert_str_eq(mcp_json_get_str(tp, h, "user-agent"), "mod_mcp/" MCP_VERSION);

    /* By default none does. */
    h = echoed_headers(url(apr_pstrcat(tp, "/redirect?to=", other, NULL)), NULL);
    ck_assert(!mcp_json_has(h, "authorization"));
    ck_assert(!mcp_json_has(h, "x-allowed"));

    /* Authorization crosses only when listed. */
    h = echoed_headers(url(apr_pstrcat(tp, "/redirect?to=", other, NULL)),
                       allow_auth);
    ck_assert_str_eq(mcp_json_get_str(tp, h, "authorization"), "Bearer s3cr3t");
    ck_assert(!mcp_json_has(h, "cookie"));

    /* Another host name, same port: another origin too. */
    h = echoed_headers(url(apr_psprintf(tp, "/redirect?to=http://localhost:%u/echo",
                                        (unsigned)http_server_port(srv))), allow);
    ck_assert(!mcp_json_has(h, "authorization"));
    ck_assert_str_eq(mcp_json_get_str(tp, h, "x-allowed"), "yes");

    /* The same origin keeps them all. */
    h = echoed_headers(url("/redirect?to=/redirect?to=/echo"), NULL);
    ck_assert_str_eq(mcp_json_get_str(tp, h, "authorization"), "Bearer s3cr3t");
    ck_assert_str_eq(mcp_json_get_str(tp, h, "cookie"), "sid=s3cr3t");
    ck_assert_str_eq(mcp_json_get_str(tp, h, "x-other"), "no");

    /* Away and back home: what was dropped stays dropped. */
    home = url("/echo");
    h = echoed_headers(url(apr_pstrcat(tp, "/redirect?to=",
                           http_server_url(srv2, tp, "/redirect?to="), home,
                           NULL)), allow);
    ck_assert(!mcp_json_has(h, "authorization"));
    ck_assert(!mcp_json_has(h, "x-other"));
    ck_assert_str_eq(mcp_json_get_str(tp, h, "x-allowed"), "yes");
    http_server_stop(srv2);
}
END_TEST

/* Our server's /redirect to @a path on 0.0.0.0, which reaches this host
 * on Linux but is neither a loopback host name nor a loopback address. */
static const char *via_zero(const char *path)
{
    return url(apr_psprintf(tp, "/redirect?to=http://0.0.0.0:%u%s",
                            (unsigned)http_server_port(srv), path));
}

/* A GET of @a u that follows up to 3 redirects under these rules. */
static mcp_http_request_t *following(const char *u, unsigned rules,
                                     unsigned allow)
{
    mcp_http_request_t *req = mkreq("GET", u);

    req->url_rules = rules;
    req->addr_allow = allow;
    req->max_redirects = 3;
    return req;
}

START_TEST(redirect_rules_each_hop)
{
    unsigned port = http_server_port(srv);
    mcp_http_response_t *resp;

    /* http only to loopback hosts: 127.0.0.1 passes, 0.0.0.0 does not. */
    resp = fail_with(following(via_zero("/json?secret=s3cr3t"), MCP_URL_SECURE,
                               MCP_ADDR_ALLOW_ALL), MCP_EINVALID,
                     apr_psprintf(tp, "redirect to http://0.0.0.0:%u/json "
                                  "refused", port));
    ck_assert_ptr_null(strstr(resp->error, "s3cr3t"));
    ck_assert_int_eq(resp->redirects, 0);
    ck_assert_uint_eq(http_server_requests(srv), 1);

    /* A rule beyond the scheme: the hop needs a path. */
    fail_with(following(url(apr_psprintf(tp, "/redirect?to=http://127.0.0.1:%u/",
                                         port)),
                        MCP_URL_ANY_HTTP | MCP_URL_NEED_PATH,
                        MCP_ADDR_ALLOW_ALL), MCP_EINVALID, "redirect to");
    /* No scheme but http and https, even when the rules would allow. */
    fail_with(following(url("/redirect?to=ftp://127.0.0.1/x"),
                        MCP_URL_ANY_HTTP | MCP_URL_OTHER_SCHEMES,
                        MCP_ADDR_ALLOW_ALL), MCP_EINVALID, "redirect to");
    ck_assert_uint_eq(http_server_requests(srv), 3);
    ck_assert_uint_eq(http_server_accepted(srv), 1);
}
END_TEST

START_TEST(redirect_guard)
{
    mcp_http_response_t *resp;

    /* Loopback allowed, so the first hop goes; 0.0.0.0 does not. */
    resp = fail_with(following(via_zero("/json"), MCP_HTTP_DEFAULT_URL_RULES,
                               MCP_ADDR_ALLOW(MCP_ADDR_LOOPBACK)), MCP_EINVALID,
                     apr_psprintf(tp, "refused to connect to 0.0.0.0 "
                                  "(unspecified) for http://0.0.0.0:%u/json",
                                  (unsigned)http_server_port(srv)));
    ck_assert_int_eq(resp->redirects, 1);
    ck_assert_uint_eq(http_server_requests(srv), 1);
}
END_TEST

START_TEST(redirect_timeout_shared)
{
    mcp_http_request_t *req;
    apr_time_t t0 = apr_time_now();

    /* Two hops of 300 ms each, under a total of 500 ms: each alone would
     * fit, together they do not. */
    req = mkreq("GET", url("/redirect?ms=300&to=/slow?ms=300"));
    req->timeout = apr_time_from_msec(500);
    req->max_redirects = 3;
    fail_with(req, MCP_ETIMEOUT, "total timeout (500 ms) of the request to "
              "http://127.0.0.1:");
    ck_assert_msg(secs_since(t0) < 2.0, "took %.2f s", secs_since(t0));
}
END_TEST

START_TEST(redirects_in_batch)
{
    enum { N = 7 };
    static const char *const none[] = { NULL };
    http_server_t *srv2 = http_server_start();
    mcp_http_request_t *reqs[N];
    mcp_http_response_t *resps[N];
    const char *err = NULL;
    mcp_json_t *j;
    int i;

    ck_assert_ptr_nonnull(srv2);
    reqs[0] = mkreq("GET", url("/redirect?to=/json"));
    reqs[1] = mkreq("GET", url("/slow?ms=300"));
    reqs[2] = mkreq("GET", url("/loop"));
    reqs[3] = mkreq("POST", url(apr_pstrcat(tp, "/redirect?code=307&to=",
                                http_server_url(srv2, tp, "/echo"), NULL)));
    mcp_http_request_body(reqs[3], "{}", 2, "application/json", &err);
    mcp_http_request_header(reqs[3], "Authorization", "Bearer s3cr3t", &err);
    reqs[3]->cross_origin_headers = none;
    reqs[4] = following(via_zero("/json"), MCP_HTTP_DEFAULT_URL_RULES,
                        MCP_ADDR_ALLOW(MCP_ADDR_LOOPBACK));
    reqs[5] = mkreq("GET", url("/redirect?to=/redirect?to=/slow?ms=200"));
    reqs[6] = mkreq("GET", url("/json"));
    for (i = 0; i < N; i++) {
        reqs[i]->max_redirects = 3;
    }
    ck_assert_status(mcp_http_perform_all(reqs, N, resps), APR_SUCCESS);
    http_server_stop(srv2);

    ck_assert_msg(resps[0]->rv == APR_SUCCESS, "%s", resps[0]->error);
    ck_assert_int_eq(resps[0]->status, 200);
    ck_assert_int_eq(resps[0]->redirects, 1);
    ck_assert_str_eq(resps[0]->effective_url, url("/json"));
    ck_assert_status(resps[1]->rv, APR_SUCCESS);
    ck_assert_int_eq(resps[1]->redirects, 0);
    ck_assert_status(resps[2]->rv, MCP_EPROTO);
    ck_assert_msg(resps[3]->rv == APR_SUCCESS, "%s", resps[3]->error);
    j = body_json(resps[3]);
    ck_assert_str_eq(mcp_json_get_str(tp, j, "method"), "POST");
    ck_assert_str_eq(mcp_json_get_str(tp, j, "body"), "{}");
    ck_assert(!mcp_json_has(mcp_json_get(tp, j, "headers"), "authorization"));
    ck_assert_status(resps[4]->rv, MCP_EINVALID);
    ck_assert_ptr_nonnull(strstr(resps[4]->error, "(unspecified)"));
    ck_assert_msg(resps[5]->rv == APR_SUCCESS, "%s", resps[5]->error);
    ck_assert_int_eq(resps[5]->redirects, 2);
    ck_assert_str_eq(resps[5]->effective_url, url("/slow?ms=200"));
    ck_assert_status(resps[6]->rv, APR_SUCCESS);
    ck_assert_int_eq(resps[6]->redirects, 0);
}
END_TEST

/* ---- the per-hop decision, without sockets (https included) ---- */

START_TEST(redirect_check)
{
    static const struct {
        const char *from, *to;
        unsigned rules;
        int ok;
    } cases[] = {
        { "https://a.example/x", "https://b.example/y", MCP_URL_ANY_HTTP, 1 },
        { "http://a.example/x", "https://a.example/y", MCP_URL_ANY_HTTP, 1 },
        { "http://a.example/x", "http://b.example/y", MCP_URL_ANY_HTTP, 1 },
        { "http://a.example/x", "http://b.example/y", MCP_URL_HTTPS, 0 },
        { "http://127.0.0.1/x", "http://localhost:8080/y", MCP_URL_SECURE, 1 },
        { "http://127.0.0.1/x", "http://b.example/y", MCP_URL_SECURE, 0 },
        /* No downgrade, whatever the rules allow. */
        { "https://a.example/x", "http://a.example/x", MCP_URL_ANY_HTTP, 0 },
        { "HTTPS://a.example/x", "HTTP://a.example/x", MCP_URL_ANY_HTTP, 0 },
        { "https://a.example/x", "http://127.0.0.1/x", MCP_URL_SECURE, 0 },
        { "https://a.example/x", "https://a.example:8443/x", MCP_URL_HTTPS, 1 },
        /* Other schemes, even when the rules name them. */
        { "https://a.example/", "file:///etc/passwd", MCP_URL_ANY_HTTP, 0 },
        { "https://a.example/", "ftp://a.example/", MCP_URL_ANY_HTTP
          | MCP_URL_OTHER_SCHEMES, 0 },
        { "https://a.example/", "gopher://a.example/", MCP_URL_ANY_HTTP, 0 },
        { "https://a.example/", "javascript:alert(1)", MCP_URL_ANY_HTTP, 0 },
        { "https://a.example/", "data:text/html,x", MCP_URL_ANY_HTTP
          | MCP_URL_OTHER_SCHEMES, 0 },
        /* Resolved URLs only. */
        { "https://a.example/", "/relative", MCP_URL_ANY_HTTP, 0 },
        { "https://a.example/", "https://user:pw@a.example/", MCP_URL_ANY_HTTP, 0 },
    };
    apr_size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *err = NULL;
        apr_status_t rv = mcp_http_redirect_check(tp, cases[i].from, cases[i].to,
                                                  cases[i].rules, &err);

        ck_assert_msg(rv == (cases[i].ok ? APR_SUCCESS : MCP_EINVALID),
                      "%s -> %s: %d (%s)", cases[i].from, cases[i].to, rv,
                      err ? err : "");
        ck_assert_msg(cases[i].ok || err, "%s -> %s: no message",
                      cases[i].from, cases[i].to);
    }
    {
        const char *err = NULL;

        ck_assert_status(mcp_http_redirect_check(tp,
                         "https://a.example/cb?code=s3cr3t",
                         "http://b.example/p?token=s3cr3t", MCP_URL_ANY_HTTP,
                         &err), MCP_EINVALID);
        ck_assert_ptr_nonnull(strstr(err, "https"));
        ck_assert_ptr_nonnull(strstr(err, "http://b.example/p"));
        ck_assert_ptr_null(strstr(err, "s3cr3t"));
    }
}
END_TEST

START_TEST(redirect_hop)
{
    static const char *const allow[] = { "x-keep", NULL };
    mcp_http_request_t *req = mkreq("POST", "https://a.example/token");
    const char *err = NULL;
    mcp_http_hop_t hop;

    mcp_http_request_body(req, "k=v", 3, "application/x-www-form-urlencoded",
                          &err);
    mcp_http_request_header(req, "Authorization", "Basic s3cr3t", &err);
    mcp_http_request_header(req, "X-Keep", "1", &err);
    req->cross_origin_headers = allow;
    mcp_http_hop_init(&hop, req);

    /* 307, same origin (the default port spelled out): all kept. */
    ck_assert_status(mcp_http_hop_next(&hop, req, 307, "https://a.example:443/t2",
                                       &err), APR_SUCCESS);
    ck_assert_str_eq(hop.method, "POST");
    ck_assert_str_eq(hop.body, "k=v");
    ck_assert_ptr_nonnull(apr_table_get(hop.headers, "Authorization"));
    ck_assert_ptr_nonnull(apr_table_get(hop.headers, "Content-Type"));

    /* 308 to another port: another origin, only X-Keep; the body goes. */
    ck_assert_status(mcp_http_hop_next(&hop, req, 308, "https://a.example:8443/t3",
                                       &err), APR_SUCCESS);
    ck_assert_str_eq(hop.url, "https://a.example:8443/t3");
    ck_assert_str_eq(hop.method, "POST");
    ck_assert_str_eq(hop.body, "k=v");
    ck_assert_ptr_null(apr_table_get(hop.headers, "Authorization"));
    ck_assert_ptr_null(apr_table_get(hop.headers, "Content-Type"));
    ck_assert_str_eq(apr_table_get(hop.headers, "X-Keep"), "1");

    /* A refused hop changes nothing. */
    ck_assert_status(mcp_http_hop_next(&hop, req, 302, "http://a.example/", &err),
                     MCP_EINVALID);
    ck_assert_str_eq(hop.url, "https://a.example:8443/t3");
    ck_assert_status(mcp_http_hop_next(&hop, req, 200, "https://a.example/", &err),
                     MCP_EINVALID);

    /* 302 back to the first origin: a GET, and no Authorization again. */
    ck_assert_status(mcp_http_hop_next(&hop, req, 302, "https://a.example/back",
                                       &err), APR_SUCCESS);
    ck_assert_str_eq(hop.method, "GET");
    ck_assert_ptr_null(hop.body);
    ck_assert_uint_eq(hop.body_len, 0);
    ck_assert_ptr_null(apr_table_get(hop.headers, "Authorization"));
    ck_assert_str_eq(apr_table_get(hop.headers, "X-Keep"), "1");

    /* The request itself is as the caller made it. */
    ck_assert_str_eq(req->method, "POST");
    ck_assert_str_eq(apr_table_get(req->headers, "Authorization"), "Basic s3cr3t");
    ck_assert_ptr_nonnull(apr_table_get(req->headers, "Content-Type"));
}
END_TEST

START_TEST(redirect_to_other_schemes)
{
    static const char *targets[] = {
        "file:///etc/passwd", "ftp://127.0.0.1/", "gopher://127.0.0.1/",
        "dict://127.0.0.1/", "ldap://127.0.0.1/",
    };
    apr_size_t i;

    for (i = 0; i < sizeof(targets) / sizeof(targets[0]); i++) {
        mcp_http_request_t *req = mkreq("GET", url(apr_pstrcat(tp, "/redirect?to=",
                                                               targets[i], NULL)));
        req->max_redirects = 5;
        fail_with(req, MCP_EINVALID, "redirect to");
    }
}
END_TEST

START_TEST(url_rules_of_request)
{
    mcp_http_request_t *req;
    mcp_http_response_t *resp = NULL;
    const char *err = NULL;

    /* Checked when performed, with the rules the caller set. */
    req = mkreq("GET", url("/json?secret=s3cr3t"));
    req->url_rules = MCP_URL_HTTPS;
    resp = fail_with(req, MCP_EINVALID, "");
    ck_assert_ptr_null(strstr(resp->error, "s3cr3t"));
    req = mkreq("GET", url("/json"));
    req->url_rules = MCP_URL_ANY_HTTP | MCP_URL_NO_QUERY;
    ck_assert_status(mcp_http_perform(req, &resp, &err), APR_SUCCESS);
    req = mkreq("GET", url("/json?x=1"));
    req->url_rules = MCP_URL_ANY_HTTP | MCP_URL_NO_QUERY;
    fail_with(req, MCP_EINVALID, "");
    /* http to loopback passes MCP_URL_SECURE. */
    req = mkreq("GET", url("/json"));
    req->url_rules = MCP_URL_SECURE;
    ck_assert_status(mcp_http_perform(req, &resp, &err), APR_SUCCESS);
    /* MCP_URL_OTHER_SCHEMES lets no other scheme through. */
    req = mkreq("GET", url("/json"));
    req->url = "ftp://127.0.0.1/";
    req->url_rules = MCP_URL_ANY_HTTP | MCP_URL_OTHER_SCHEMES;
    fail_with(req, MCP_EINVALID, "ftp");
    ck_assert_uint_eq(http_server_requests(srv), 2);
}
END_TEST

START_TEST(other_schemes_refused)
{
    static const char *schemes[] = { "file", "ftp", "gopher", "dict", "telnet",
                                     "tftp", "smtp", "ldap", "scp" };
    const char *err = NULL;
    mcp_http_request_t *req = NULL;
    apr_size_t i;

    for (i = 0; i < sizeof(schemes) / sizeof(schemes[0]); i++) {
        const char *u = apr_psprintf(tp, "%s://127.0.0.1:%u/json", schemes[i],
                                     (unsigned)http_server_port(srv));

        ck_assert_status(mcp_http_request_create(&req, tp, http, "GET", u, &err),
                         MCP_EINVALID);
        ck_assert_ptr_nonnull(strstr(err, schemes[i]));
        /* Changed after creation: refused at perform time. */
        req = mkreq("GET", url("/json"));
        req->url = u;
        fail_with(req, MCP_EINVALID, "scheme");
    }
    ck_assert_uint_eq(http_server_accepted(srv), 0);
}
END_TEST

/* ---- reuse, parallelism, threads ---- */

START_TEST(connection_reuse)
{
    mcp_json_t *j = NULL;
    int i;

    for (i = 0; i < 5; i++) {
        j = body_json(get_ok("/json"));
    }
    ck_assert_uint_eq(http_server_accepted(srv), 1);
    ck_assert_uint_eq(http_server_requests(srv), 5);
    {
        apr_int64_t n = 0;

        ck_assert_status(mcp_json_get_int(j, "conn_request", &n), APR_SUCCESS);
        ck_assert_int_eq(n, 5);   /* the 5th request on its connection */
    }

    /* The counter does count: a server that closes forces new ones (the
     * first /close still goes over the open connection). */
    for (i = 0; i < 3; i++) {
        get_ok("/close");
    }
    ck_assert_uint_eq(http_server_accepted(srv), 3);
}
END_TEST

START_TEST(parallel_fanout)
{
    enum { N = 50 };
    mcp_http_request_t *reqs[N];
    mcp_http_response_t *resps[N];
    apr_time_t t0;
    double dt;
    int i;

    for (i = 0; i < N; i++) {
        reqs[i] = mkreq("GET", url("/slow?ms=200"));
    }
    t0 = apr_time_now();
    ck_assert_status(mcp_http_perform_all(reqs, N, resps), APR_SUCCESS);
    dt = secs_since(t0);
    for (i = 0; i < N; i++) {
        ck_assert_ptr_nonnull(resps[i]);
        ck_assert_msg(resps[i]->rv == APR_SUCCESS, "request %d: %s", i,
                      resps[i]->error);
        ck_assert_int_eq(resps[i]->status, 200);
        ck_assert_ptr_eq(resps[i]->req, reqs[i]);
        ck_assert(mcp_json_get_bool(body_json(resps[i]), "ok", 0));
    }
    /* Parallel, as the server saw it (one at a time would be 1), kept low
     * enough for valgrind on a loaded 2-core box. No upper bound on the
     * time: under valgrind a batch of 50 may take long without being
     * sequential, and the overlap proves what the time would. */
    ck_assert_msg(dt >= 0.19, "batch took %.2f s", dt);
    ck_assert_uint_ge(http_server_max_inflight(srv), 4);
}
END_TEST

START_TEST(parallel_mixed_results)
{
    mcp_http_request_t *reqs[5];
    mcp_http_response_t *resps[5];
    apr_time_t t0;

    reqs[0] = mkreq("GET", url("/json"));
    reqs[1] = mkreq("GET", url("/hang"));
    reqs[1]->timeout = apr_time_from_msec(400);
    reqs[2] = mkreq("GET", apr_psprintf(tp, "http://127.0.0.1:%u/",
                                        (unsigned)http_closed_port(tp)));
    reqs[3] = mkreq("GET", url("/json"));
    reqs[3]->url = "ftp://127.0.0.1/";
    reqs[4] = mkreq("GET", url("/large?n=5000"));
    reqs[4]->max_response_size = 1000;
    t0 = apr_time_now();
    ck_assert_status(mcp_http_perform_all(reqs, 5, resps), APR_SUCCESS);
    ck_assert_msg(secs_since(t0) < 3.0, "batch took %.2f s", secs_since(t0));
    ck_assert_status(resps[0]->rv, APR_SUCCESS);
    ck_assert_int_eq(resps[0]->status, 200);
    ck_assert_status(resps[1]->rv, MCP_ETIMEOUT);
    ck_assert_status(resps[2]->rv, APR_ECONNREFUSED);
    ck_assert_status(resps[3]->rv, MCP_EINVALID);
    ck_assert_status(resps[4]->rv, MCP_ETOOLARGE);

    ck_assert_status(mcp_http_perform_all(reqs, 0, resps), APR_EINVAL);
    ck_assert_status(mcp_http_perform_all(NULL, 1, resps), APR_EINVAL);
}
END_TEST

#define THREADS 8
#define PER_THREAD 15

typedef struct {
    int ok;
    char msg[256];
} worker_t;

static void *APR_THREAD_FUNC worker_main(apr_thread_t *t, void *baton)
{
    worker_t *w = baton;
    apr_pool_t *p;
    int i;

    apr_pool_create(&p, NULL);
    for (i = 0; i < PER_THREAD; i++) {
        apr_pool_t *rp;
        mcp_http_request_t *req = NULL;
        mcp_http_response_t *resp = NULL;
        const char *err = NULL;
        const char *path = (i % 3 == 0) ? "/echo" : (i % 3 == 1) ? "/json"
                                                                 : "/large?n=70000";

        apr_pool_create(&rp, p);
        if (mcp_http_request_create(&req, rp, http, "POST",
                                    http_server_url(srv, rp, path), &err)
            || mcp_http_request_body(req, "hello", 5, "text/plain", &err)
            || mcp_http_perform(req, &resp, &err)) {
            apr_snprintf(w->msg, sizeof(w->msg), "request %d: %s", i, err);
            apr_pool_destroy(rp);
            break;
        }
        if (resp->status != 200 || !resp->body_len) {
            apr_snprintf(w->msg, sizeof(w->msg), "request %d: status %d", i,
                         resp->status);
            apr_pool_destroy(rp);
            break;
        }
        w->ok++;
        apr_pool_destroy(rp);
    }
    apr_pool_destroy(p);
    return NULL;
}

START_TEST(threads_share_client)
{
    apr_thread_t *threads[THREADS];
    worker_t workers[THREADS];
    apr_status_t trv;
    int i;

    memset(workers, 0, sizeof(workers));
    for (i = 0; i < THREADS; i++) {
        ck_assert_status(apr_thread_create(&threads[i], NULL, worker_main,
                                           &workers[i], tp), APR_SUCCESS);
    }
    for (i = 0; i < THREADS; i++) {
        apr_thread_join(&trv, threads[i]);
    }
    for (i = 0; i < THREADS; i++) {
        ck_assert_msg(workers[i].ok == PER_THREAD, "thread %d: %d ok; %s", i,
                      workers[i].ok, workers[i].msg);
    }
    ck_assert_uint_eq(http_server_requests(srv), THREADS * PER_THREAD);
    /* Connections are reused across threads' requests: far fewer than
     * one per request. */
    ck_assert_uint_le(http_server_accepted(srv), THREADS * 2);
}
END_TEST

/* ---- a transport in place of the network ---- */

typedef struct {
    int calls;
    const char *last_path;
} fake_t;

/* Answers by path: /tools/a and /tools/b JSON, /events an event stream,
 * /down a refused connection. */
static apr_status_t fake_exchange(const mcp_http_request_t *req,
                                  mcp_http_response_t *resp, void *baton)
{
    fake_t *f = baton;
    const char *path = strchr(req->url + strlen("http://"), '/');

    f->calls++;
    f->last_path = path;
    if (!strcmp(path, "/down")) {
        resp->error = "connection refused by the fake";
        return APR_ECONNREFUSED;
    }
    resp->status = 200;
    if (!strcmp(path, "/events")) {
        apr_table_set(resp->headers, "Content-Type", "text/event-stream");
        resp->body = "data: 1\n\n";
    }
    else {
        apr_table_set(resp->headers, "Content-Type", "application/json");
        resp->body = apr_psprintf(req->pool, "{\"tool\":\"%s\"}", path + 7);
    }
    resp->body_len = strlen(resp->body);
    return APR_SUCCESS;
}

typedef struct {
    mcp_http_batch_t *batch;
    mcp_http_t *h;
    mcp_http_response_t *added;
    mode_t_ m;
} fake_run_t;

static void fake_done(const mcp_http_response_t *resp, void *baton)
{
    fake_run_t *r = baton;
    mcp_http_request_t *req = NULL;

    /* The first answer names a second backend: ask it too. */
    if (!r->added && resp->rv == APR_SUCCESS) {
        ck_assert_status(mcp_http_request_create(&req, tp, r->h, "GET",
                                                 "http://b.example/tools/b",
                                                 NULL), APR_SUCCESS);
        ck_assert_status(mcp_http_batch_add(r->batch, req, &r->added),
                         APR_SUCCESS);
    }
}

START_TEST(transport_table)
{
    static const char *urls[] = { "http://a.example/tools/a",
        "http://a.example/events", "http://c.example/down",
        "ftp://a.example/x", "http://a.example/tools/big" };
    enum { N = 5 };
    fake_t f;
    mcp_http_transport_t t = { "fake", fake_exchange, &f };
    mcp_http_options_t o;
    mcp_http_t *h = NULL;
    mcp_http_request_t *reqs[N];
    mcp_http_response_t *resps[N];
    fake_run_t r;
    int i;

    memset(&f, 0, sizeof(f));
    memset(&o, 0, sizeof(o));
    memset(&r, 0, sizeof(r));
    o.transport = &t;
    ck_assert_status(mcp_http_create(&h, tp, &o, NULL), APR_SUCCESS);
    ck_assert_status(mcp_http_batch_create(&r.batch, tp, h, NULL), APR_SUCCESS);
    r.h = h;
    for (i = 0; i < N; i++) {
        ck_assert_status(mcp_http_request_create(&reqs[i], tp, h, "GET",
                                                 i == 3 ? urls[0] : urls[i],
                                                 NULL), APR_SUCCESS);
    }
    reqs[0]->on_done = fake_done;
    reqs[0]->baton = &r;
    reqs[1]->mode = MCP_HTTP_MODE_AUTO;      /* an event stream: streamed */
    reqs[1]->on_body = mode_body;
    reqs[1]->baton = &r.m;
    reqs[3]->url = urls[3];                  /* refused by the URL rules */
    reqs[4]->max_response_size = 5;          /* over the cap */
    for (i = 0; i < N; i++) {
        ck_assert_status(mcp_http_batch_add(r.batch, reqs[i], &resps[i]),
                         APR_SUCCESS);
    }
    ck_assert_status(mcp_http_batch_run(r.batch), APR_SUCCESS);
    ck_assert_msg(resps[0]->rv == APR_SUCCESS, "%s", resps[0]->error);
    ck_assert_str_eq(mcp_json_get_str(tp, body_json(resps[0]), "tool"), "a");
    ck_assert_int_eq(resps[1]->streamed, 1);
    ck_assert_ptr_null(resps[1]->body);
    ck_assert_uint_eq(r.m.streamed, strlen("data: 1\n\n"));
    ck_assert_status(resps[2]->rv, APR_ECONNREFUSED);
    ck_assert_str_eq(resps[2]->error, "connection refused by the fake");
    ck_assert_status(resps[3]->rv, MCP_EINVALID);
    ck_assert_status(resps[4]->rv, MCP_ETOOLARGE);
    ck_assert_ptr_nonnull(r.added);
    ck_assert_str_eq(mcp_json_get_str(tp, body_json(r.added), "tool"), "b");
    /* 4 answered (the ftp one never reached the transport), the added
     * one last; no socket. */
    ck_assert_int_eq(f.calls, N);
    ck_assert_str_eq(f.last_path, "/tools/b");
    ck_assert_uint_eq(http_server_accepted(srv), 0);
    /* Cancelled before it runs: the transport is not asked. */
    ck_assert_status(mcp_http_request_create(&reqs[0], tp, h, "GET", urls[0],
                                             NULL), APR_SUCCESS);
    mcp_http_cancel(reqs[0]);
    ck_assert_status(mcp_http_perform(reqs[0], &resps[0], NULL), MCP_ECANCELED);
    ck_assert_int_eq(f.calls, N);
}
END_TEST

/* ---- connection reuse under load ---- */

enum { LOAD = 32 };

START_TEST(reuse_batch_of_32)
{
    mcp_http_request_t *reqs[LOAD];
    mcp_http_response_t *resps[LOAD];
    unsigned first;
    int round, i;

    for (round = 0; round < 2; round++) {
        for (i = 0; i < LOAD; i++) {
            reqs[i] = mkreq("GET", url("/slow?ms=100"));
        }
        ck_assert_status(mcp_http_perform_all(reqs, LOAD, resps), APR_SUCCESS);
        for (i = 0; i < LOAD; i++) {
            ck_assert_msg(resps[i]->rv == APR_SUCCESS, "round %d, request %d: %s",
                          round, i, resps[i]->error);
        }
    }
    first = http_server_max_inflight(srv);
    ck_assert_uint_ge(first, 2);
    /* At most one connection per request of a round, and the second round
     * on the connections of the first. */
    ck_assert_uint_le(http_server_accepted(srv), LOAD + 4);
    ck_assert_uint_eq(http_server_requests(srv), 2 * LOAD);
}
END_TEST

typedef struct {
    apr_status_t rv;
    char msg[200];
} loader_t;

static void *APR_THREAD_FUNC loader_main(apr_thread_t *t, void *baton)
{
    loader_t *l = baton;
    apr_pool_t *p;
    mcp_http_request_t *req = NULL;
    mcp_http_response_t *resp = NULL;
    const char *err = NULL;

    (void)t;
    apr_pool_create(&p, NULL);
    l->rv = mcp_http_request_create(&req, p, http, "GET",
                                    http_server_url(srv, p, "/slow?ms=300"), &err);
    if (l->rv == APR_SUCCESS) {
        l->rv = mcp_http_perform(req, &resp, &err);
    }
    if (l->rv != APR_SUCCESS) {
        apr_snprintf(l->msg, sizeof(l->msg), "%s", err ? err : "?");
    }
    apr_pool_destroy(p);
    return NULL;
}

/* 32 threads at once (more than httpd's 25 ThreadsPerChild), twice: the
 * second round reuses the connections of the first. */
START_TEST(reuse_32_threads)
{
    apr_thread_t *threads[LOAD];
    loader_t loaders[LOAD];
    unsigned after_first = 0;
    apr_status_t trv;
    int round, i;

    for (round = 0; round < 2; round++) {
        memset(loaders, 0, sizeof(loaders));
        for (i = 0; i < LOAD; i++) {
            ck_assert_status(apr_thread_create(&threads[i], NULL, loader_main,
                                               &loaders[i], tp), APR_SUCCESS);
        }
        for (i = 0; i < LOAD; i++) {
            apr_thread_join(&trv, threads[i]);
        }
        for (i = 0; i < LOAD; i++) {
            ck_assert_msg(loaders[i].rv == APR_SUCCESS, "round %d, thread %d: %s",
                          round, i, loaders[i].msg);
        }
        if (round == 0) {
            after_first = http_server_accepted(srv);
        }
    }
    /* Both rounds together on about one round's connections. Not "the
     * second round opens none": when the first ran less concurrently
     * (valgrind serialises threads), it left fewer connections than the
     * second needs at once. Without reuse the two rounds take 2 * LOAD;
     * the collapse this guards against opened 16 more in the second. */
    ck_assert_uint_le(after_first, LOAD);
    ck_assert_msg(http_server_accepted(srv) <= LOAD + 4,
                  "the two rounds opened %u connections (first: %u)",
                  http_server_accepted(srv), after_first);
}
END_TEST

/* ---- the address guard ---- */

static mcp_http_request_t *guarded(const char *u, unsigned allow)
{
    mcp_http_request_t *req = mkreq("GET", u);

    req->addr_allow = allow;
    return req;
}

/* A guarded request refused before connecting: MCP_EINVALID naming the
 * address and its class, no query in the message. */
static void refused(const char *u, unsigned allow, const char *what)
{
    mcp_http_response_t *resp;

    resp = fail_with(guarded(u, allow), MCP_EINVALID,
                     apr_pstrcat(tp, "refused to connect to ", what, NULL));
    ck_assert_msg(strstr(resp->error, "s3cr3t") == NULL,
                  "query in the message: %s", resp->error);
    ck_assert_int_eq(resp->status, 0);
}

START_TEST(guard_refuses_loopback)
{
    unsigned port = http_server_port(srv);
    unsigned not_loopback = MCP_ADDR_ALLOW_ALL
                            & ~MCP_ADDR_ALLOW(MCP_ADDR_LOOPBACK);
    const char *u = url("/json?secret=s3cr3t");
    mcp_http_response_t *resp;

    resp = fail_with(guarded(u, 0), MCP_EINVALID, "refused");
    ck_assert_str_eq(resp->error, apr_psprintf(tp, "refused to connect to "
                     "127.0.0.1 (loopback) for http://127.0.0.1:%u/json", port));
    /* A name that resolves to loopback, other spellings of 127.0.0.1, an
     * IPv4-mapped IPv6 address: the address connected to decides. */
    refused(apr_psprintf(tp, "http://localhost:%u/json?secret=s3cr3t", port),
            0, "");
    refused(apr_psprintf(tp, "http://2130706433:%u/json", port), 0,
            "127.0.0.1 (loopback)");
    refused(apr_psprintf(tp, "http://127.1:%u/json", port), 0,
            "127.0.0.1 (loopback)");
    refused(apr_psprintf(tp, "http://[::ffff:127.0.0.1]:%u/json", port), 0,
            "::ffff:127.0.0.1 (loopback)");
    /* Every class but loopback allowed: still refused. */
    refused(u, not_loopback, "127.0.0.1 (loopback)");
    /* 0.0.0.0 reaches the local host on Linux: unspecified, not loopback. */
    refused(apr_psprintf(tp, "http://0.0.0.0:%u/json", port),
            MCP_ADDR_ALLOW(MCP_ADDR_LOOPBACK), "0.0.0.0 (unspecified)");
    /* Nothing reached the server, not even a connection. */
    ck_assert_uint_eq(http_server_accepted(srv), 0);
    ck_assert_uint_eq(http_server_requests(srv), 0);
}
END_TEST

START_TEST(guard_allows_loopback)
{
    unsigned loopback = MCP_ADDR_ALLOW(MCP_ADDR_LOOPBACK);
    mcp_http_response_t *resp = NULL;
    const char *err = NULL;

    ck_assert_msg(mcp_http_perform(guarded(url("/json"), loopback), &resp, &err)
                  == APR_SUCCESS, "%s", err);
    ck_assert_int_eq(resp->status, 200);
    ck_assert_msg(mcp_http_perform(guarded(apr_psprintf(tp,
                  "http://localhost:%u/json", (unsigned)http_server_port(srv)),
                  loopback), &resp, &err) == APR_SUCCESS, "%s", err);
    ck_assert_int_eq(resp->status, 200);
    ck_assert_uint_eq(http_server_requests(srv), 2);
}
END_TEST

START_TEST(guard_ipv6_loopback)
{
    http_server_t *srv6 = http_server_start_on("::1", 1);
    mcp_http_response_t *resp = NULL;
    const char *u, *err = NULL;
    apr_status_t rv;

    if (!srv6) {
        fprintf(stderr, "# no IPv6 loopback here: [::1] not tested\n");
        return;
    }
    u = http_server_url(srv6, tp, "/json");
    rv = mcp_http_perform(guarded(u, 0), &resp, &err);
    if (rv == MCP_EINVALID && strstr(err, "refused to connect to ::1 (loopback)")
        && http_server_accepted(srv6) == 0) {
        rv = mcp_http_perform(guarded(u, MCP_ADDR_ALLOW(MCP_ADDR_LOOPBACK)),
                              &resp, &err);
    }
    else {
        rv = APR_EGENERAL;
    }
    http_server_stop(srv6);
    ck_assert_msg(rv == APR_SUCCESS && resp->status == 200, "[::1]: %s", err);
}
END_TEST

START_TEST(guard_reused_connection)
{
    mcp_http_response_t *resp = NULL;
    const char *err = NULL;

    /* An unguarded request leaves its connection to 127.0.0.1 open... */
    get_ok("/json");
    ck_assert_uint_eq(http_server_accepted(srv), 1);
    /* ...which a guarded one may not use: it opens none of its own (the
     * connect-time check never runs), so only the check before sending
     * stands between it and the server. */
    refused(url("/json?secret=s3cr3t"), 0, "127.0.0.1 (loopback) for ");
    ck_assert_uint_eq(http_server_requests(srv), 1);
    ck_assert_uint_eq(http_server_accepted(srv), 1);
    /* Allowed, it goes through. */
    ck_assert_msg(mcp_http_perform(guarded(url("/json"),
                  MCP_ADDR_ALLOW(MCP_ADDR_LOOPBACK)), &resp, &err)
                  == APR_SUCCESS, "%s", err);
    ck_assert_int_eq(resp->status, 200);
    ck_assert_uint_eq(http_server_requests(srv), 2);
}
END_TEST

/* A GET of http://upstream.invalid/echo on a client whose proxy is our
 * test server: the target host is never resolved or contacted. */
static mcp_http_request_t *proxied_request(void)
{
    mcp_http_options_t o;
    mcp_http_t *h = NULL;
    mcp_http_request_t *req = NULL;
    const char *err = NULL;

    memset(&o, 0, sizeof(o));
    o.proxy = http_server_url(srv, tp, "");
    ck_assert_status(mcp_http_create(&h, tp, &o, &err), APR_SUCCESS);
    ck_assert_status(mcp_http_request_create(&req, tp, h, "GET",
                                             "http://upstream.invalid/echo", &err),
                     APR_SUCCESS);
    return req;
}

START_TEST(guard_through_proxy_refused)
{
    mcp_http_request_t *req = proxied_request();

    req->addr_allow = MCP_ADDR_ALLOW_ALL & ~MCP_ADDR_ALLOW(MCP_ADDR_METADATA);
    fail_with(req, MCP_EINVALID, "through a proxy");
    ck_assert_uint_eq(http_server_accepted(srv), 0);
}
END_TEST

/* ---- proxies ---- */

START_TEST(proxy_env_ignored)
{
    const char *dead = apr_psprintf(tp, "http://127.0.0.1:%u",
                                    (unsigned)http_closed_port(tp));
    static const char *vars[] = { "http_proxy", "HTTP_PROXY", "https_proxy",
                                  "HTTPS_PROXY", "ALL_PROXY", "all_proxy" };
    mcp_json_t *j, *gj;
    const char *gerr = NULL;
    apr_status_t rv;
    apr_size_t i;

    for (i = 0; i < sizeof(vars) / sizeof(vars[0]); i++) {
        setenv(vars[i], dead, 1);
    }
    unsetenv("NO_PROXY");
    unsetenv("no_proxy");
    j = body_json(get_ok("/echo"));
    /* A guarded request goes direct too (with a proxy it is refused). */
    {
        mcp_http_request_t *req = mkreq("GET", url("/echo"));
        mcp_http_response_t *resp = NULL;
        const char *err = NULL;

        req->addr_allow = MCP_ADDR_ALLOW(MCP_ADDR_LOOPBACK);
        rv = mcp_http_perform(req, &resp, &err);
        gj = rv == APR_SUCCESS ? body_json(resp) : NULL;
        if (!gj) {
            gerr = err;
        }
    }
    for (i = 0; i < sizeof(vars) / sizeof(vars[0]); i++) {
        unsetenv(vars[i]);
    }
    ck_assert_str_eq(mcp_json_get_str(tp, j, "target"), "/echo");
    ck_assert_msg(gj != NULL, "guarded request: %s", gerr);
    ck_assert_str_eq(mcp_json_get_str(tp, gj, "target"), "/echo");
}
END_TEST

START_TEST(proxy_option)
{
    mcp_http_response_t *resp = NULL;
    const char *err = NULL;
    mcp_json_t *j;

    ck_assert_msg(mcp_http_perform(proxied_request(), &resp, &err)
                  == APR_SUCCESS, "%s", err);
    j = body_json(resp);
    ck_assert_str_eq(mcp_json_get_str(tp, j, "target"), "http://upstream.invalid/echo");
    ck_assert_str_eq(mcp_json_get_str(tp, mcp_json_get(tp, j, "headers"), "host"),
                     "upstream.invalid");
}
END_TEST

/* ---- TLS, against openssl s_server ---- */

typedef struct {
    apr_proc_t proc;
    apr_port_t port;
    const char *dir;
    const char *key;
    const char *cert;
    const char *ckey;
    const char *ccert;
    int running;
} tls_server_t;

static int run_cmd(const char *const *argv)
{
    apr_procattr_t *attr;
    apr_proc_t proc;
    apr_exit_why_e why;
    int code = -1;

    apr_procattr_create(&attr, tp);
    apr_procattr_cmdtype_set(attr, APR_PROGRAM_PATH);
    apr_procattr_io_set(attr, APR_NO_PIPE, APR_FULL_BLOCK, APR_FULL_BLOCK);
    if (apr_proc_create(&proc, argv[0], argv, NULL, attr, tp) != APR_SUCCESS) {
        return -1;
    }
    apr_proc_wait(&proc, &code, &why, APR_WAIT);
    return code;
}

/* Wait (bounded) until something accepts connections on @a port. */
static int wait_listening(apr_port_t port)
{
    apr_time_t end = apr_time_now() + apr_time_from_sec(10);
    apr_sockaddr_t *sa;

    apr_sockaddr_info_get(&sa, "127.0.0.1", APR_INET, port, 0, tp);
    while (apr_time_now() < end) {
        apr_socket_t *s;
        apr_status_t rv;

        apr_socket_create(&s, APR_INET, SOCK_STREAM, APR_PROTO_TCP, tp);
        apr_socket_timeout_set(s, apr_time_from_msec(500));
        rv = apr_socket_connect(s, sa);
        apr_socket_close(s);
        if (rv == APR_SUCCESS) {
            return 1;
        }
        apr_sleep(apr_time_from_msec(50));
    }
    return 0;
}

static void tls_start_opt(tls_server_t *t, int mtls);

static void tls_start(tls_server_t *t)
{
    tls_start_opt(t, 0);
}

/* With @a mtls, s_server requires a client certificate: t->ccert (key
 * t->ckey), self-signed. */
static void tls_start_opt(tls_server_t *t, int mtls)
{
    const char *dir = NULL, *key, *port;
    apr_procattr_t *attr;

    memset(t, 0, sizeof(*t));
    ck_assert_status(apr_temp_dir_get(&dir, tp), APR_SUCCESS);
    dir = apr_psprintf(tp, "%s/mcp-http-tls-%d", dir, (int)getpid());
    ck_assert_status(apr_dir_make_recursive(dir, APR_FPROT_OS_DEFAULT, tp),
                     APR_SUCCESS);
    key = t->key = apr_pstrcat(tp, dir, "/key.pem", NULL);
    t->cert = apr_pstrcat(tp, dir, "/cert.pem", NULL);
    t->dir = dir;
    {
        const char *argv[] = { "openssl", "req", "-x509", "-newkey", "ec",
            "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "1",
            "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
            "-keyout", key, "-out", t->cert, NULL };
        ck_assert_msg(run_cmd(argv) == 0, "openssl req failed (is openssl installed?)");
    }
    t->ckey = apr_pstrcat(tp, dir, "/ckey.pem", NULL);
    t->ccert = apr_pstrcat(tp, dir, "/ccert.pem", NULL);
    if (mtls) {
        const char *argv[] = { "openssl", "req", "-x509", "-newkey", "ec",
            "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "1",
            "-subj", "/CN=mcp-test-client", "-keyout", t->ckey, "-out",
            t->ccert, NULL };
        ck_assert_msg(run_cmd(argv) == 0, "openssl req (client) failed");
    }
    t->port = http_closed_port(tp);
    port = apr_psprintf(tp, "127.0.0.1:%u", (unsigned)t->port);
    {
        const char *argv[] = { "openssl", "s_server", "-quiet", "-accept", port,
            "-cert", t->cert, "-key", key, "-www", NULL, NULL, NULL, NULL,
            NULL };

        if (mtls) {
            argv[10] = "-Verify";
            argv[11] = "1";
            argv[12] = "-CAfile";
            argv[13] = t->ccert;
        }

        apr_procattr_create(&attr, tp);
        apr_procattr_cmdtype_set(attr, APR_PROGRAM_PATH);
        apr_procattr_io_set(attr, APR_FULL_BLOCK, APR_NO_PIPE, APR_NO_PIPE);
        ck_assert_status(apr_proc_create(&t->proc, argv[0], argv, NULL, attr, tp),
                         APR_SUCCESS);
    }
    t->running = 1;
    ck_assert_msg(wait_listening(t->port), "openssl s_server did not start");
}

static void tls_stop(tls_server_t *t)
{
    int code;
    apr_exit_why_e why;

    if (t->running) {
        apr_proc_kill(&t->proc, SIGTERM);
        apr_proc_wait(&t->proc, &code, &why, APR_WAIT);
        t->running = 0;
    }
    if (t->dir) {
        apr_file_remove(t->key, tp);
        apr_file_remove(t->cert, tp);
        apr_file_remove(t->ckey, tp);
        apr_file_remove(t->ccert, tp);
        apr_dir_remove(t->dir, tp);
        t->dir = NULL;
    }
}

START_TEST(tls_verified)
{
    tls_server_t t;
    const char *u, *err = NULL;
    mcp_http_options_t o;
    mcp_http_t *h = NULL;
    mcp_http_request_t *req = NULL;
    mcp_http_response_t *resp = NULL;
    apr_status_t rv;

    tls_start(&t);
    u = apr_psprintf(tp, "https://127.0.0.1:%u/", (unsigned)t.port);

    /* Self-signed and not trusted: refused. */
    rv = mcp_http_perform(mkreq("GET", u), &resp, &err);
    if (rv != MCP_EVERIFY) {
        tls_stop(&t);
    }
    ck_assert_msg(rv == MCP_EVERIFY, "untrusted TLS peer: %d %s", rv, err);

    /* Trusted through the CA file option: accepted. */
    memset(&o, 0, sizeof(o));
    o.ca_file = t.cert;
    rv = mcp_http_create(&h, tp, &o, &err);
    if (rv == APR_SUCCESS) {
        rv = mcp_http_request_create(&req, tp, h, "GET", u, &err);
    }
    if (rv == APR_SUCCESS) {
        rv = mcp_http_perform(req, &resp, &err);
    }
    if (rv != APR_SUCCESS) {
        tls_stop(&t);
    }
    ck_assert_msg(rv == APR_SUCCESS, "trusted TLS peer: %s", err);
    ck_assert_int_eq(resp->status, 200);
    ck_assert_ptr_nonnull(strstr(resp->body, "s_server"));

    /* A CA file that does not exist is a clear error, not a fallback. */
    memset(&o, 0, sizeof(o));
    o.ca_file = "/nonexistent/ca.pem";
    rv = mcp_http_create(&h, tp, &o, &err);
    if (rv == APR_SUCCESS) {
        rv = mcp_http_request_create(&req, tp, h, "GET", u, &err);
    }
    if (rv == APR_SUCCESS) {
        rv = mcp_http_perform(req, &resp, &err);
    }
    tls_stop(&t);
    ck_assert_msg(rv == MCP_EINVALID, "missing CA file: %d %s", rv, err);
}
END_TEST

START_TEST(https_to_plain_server)
{
    const char *u = apr_psprintf(tp, "https://127.0.0.1:%u/json",
                                 (unsigned)http_server_port(srv));
    mcp_http_response_t *resp = NULL;
    const char *err = NULL;
    apr_status_t rv = mcp_http_perform(mkreq("GET", u), &resp, &err);

    ck_assert_status(rv, APR_EGENERAL);
    ck_assert_msg(strstr(err, "TLS handshake") != NULL, "message: %s", err);
    ck_assert_int_eq(resp->status, 0);
}
END_TEST

/* Per-request TLS and proxy settings: backends with different ones in
 * one batch. */
START_TEST(batch_tls_per_request)
{
    enum { N = 5 };
    tls_server_t t;
    mcp_http_options_t o;
    mcp_http_t *h = NULL;
    mcp_http_batch_t *b = NULL;
    mcp_http_request_t *reqs[N];
    mcp_http_response_t *resps[N];
    const char *u, *err = NULL;
    int i, ok;

    tls_start_opt(&t, 1);
    u = apr_psprintf(tp, "https://127.0.0.1:%u/", (unsigned)t.port);
    /* A client whose own proxy is dead: only requests that say so go
     * direct or elsewhere. */
    memset(&o, 0, sizeof(o));
    o.proxy = apr_psprintf(tp, "http://127.0.0.1:%u",
                           (unsigned)http_closed_port(tp));
    ck_assert_status(mcp_http_create(&h, tp, &o, &err), APR_SUCCESS);
    ck_assert_status(mcp_http_batch_create(&b, tp, h, &err), APR_SUCCESS);
    for (i = 0; i < N; i++) {
        ck_assert_status(mcp_http_request_create(&reqs[i], tp, h, "GET", u, &err),
                         APR_SUCCESS);
        reqs[i]->proxy = "";
    }
    reqs[0]->ca_file = t.cert;              /* mTLS: accepted */
    reqs[0]->client_cert = t.ccert;
    reqs[0]->client_key = t.ckey;
    reqs[1]->ca_file = t.cert;              /* no client certificate */
    /* reqs[2]: no CA: the server does not verify */
    reqs[3]->url = "http://upstream.invalid/echo";   /* through the test server */
    reqs[3]->proxy = http_server_url(srv, tp, "");
    reqs[4]->url = url("/json");            /* the client's dead proxy */
    reqs[4]->proxy = NULL;
    for (i = 0; i < N; i++) {
        ck_assert_status(mcp_http_batch_add(b, reqs[i], &resps[i]), APR_SUCCESS);
    }
    ck_assert_status(mcp_http_batch_run(b), APR_SUCCESS);
    tls_stop(&t);
    ok = resps[0]->rv == APR_SUCCESS && resps[0]->status == 200;
    ck_assert_msg(ok, "mTLS: %s", resps[0]->error);
    ck_assert_ptr_nonnull(strstr(resps[0]->body, "s_server"));
    ck_assert_msg(resps[1]->rv != APR_SUCCESS, "no client certificate accepted");
    ck_assert_status(resps[2]->rv, MCP_EVERIFY);
    ck_assert_msg(resps[3]->rv == APR_SUCCESS, "proxied: %s", resps[3]->error);
    ck_assert_str_eq(mcp_json_get_str(tp, body_json(resps[3]), "target"),
                     "http://upstream.invalid/echo");
    ck_assert_status(resps[4]->rv, APR_ECONNREFUSED);
}
END_TEST

static Suite *http_suite(void)
{
    Suite *s = suite_create("http");
    TCase *tc;

    apr_pool_create(&gp, NULL);
    if (mcp_http_global_init(gp, NULL) != APR_SUCCESS) {
        fprintf(stderr, "mcp_http_global_init failed\n");
    }

    tc = http_tcase("rules");
    tcase_add_test(tc, url_rules);
    tcase_add_test(tc, request_rules);
    tcase_add_test(tc, client_options);
    suite_add_tcase(s, tc);

    tc = http_tcase("exchanges");
    tcase_add_test(tc, get_json);
    tcase_add_test(tc, echo_methods);
    tcase_add_test(tc, status_codes);
    tcase_add_test(tc, large_bodies);
    suite_add_tcase(s, tc);

    tc = http_tcase("limits");
    tcase_add_test(tc, too_large);
    tcase_add_test(tc, idle_timeout);
    tcase_add_test(tc, total_timeout);
    tcase_add_test(tc, connect_timeout);
    tcase_add_test(tc, connection_refused);
    tcase_add_test(tc, closed_mid_body);
    suite_add_tcase(s, tc);

    tc = http_tcase("streaming");
    tcase_add_test(tc, sse_stream);
    tcase_add_test(tc, sse_abort_by_body_callback);
    tcase_add_test(tc, abort_by_headers_callback);
    tcase_add_test(tc, abort_by_tick_callback);
    tcase_add_test(tc, auto_mode_rule);
    tcase_add_test(tc, auto_mode_callback);
    tcase_add_test(tc, stream_limits);
    suite_add_tcase(s, tc);

    tc = http_tcase("cancel");
    tcase_add_test(tc, cancel_request);
    tcase_add_test(tc, cancel_batch);
    tcase_add_test(tc, cancel_by_pool_cleanup);
    suite_add_tcase(s, tc);

    tc = http_tcase("fanout");
    tcase_add_test(tc, batch_deadline);
    tcase_add_test(tc, batch_in_flight_cap);
    tcase_add_test(tc, batch_add_from_callback);
    tcase_add_test(tc, pause_one_stream);
    tcase_add_test(tc, pause_resume_from_thread);
    suite_add_tcase(s, tc);

    tc = http_tcase("redirects");
    tcase_add_test(tc, redirects);
    tcase_add_test(tc, redirect_loop);
    tcase_add_test(tc, redirect_methods);
    tcase_add_test(tc, redirect_cross_origin_headers);
    tcase_add_test(tc, redirect_rules_each_hop);
    tcase_add_test(tc, redirect_guard);
    tcase_add_test(tc, redirect_timeout_shared);
    tcase_add_test(tc, redirects_in_batch);
    tcase_add_test(tc, redirect_check);
    tcase_add_test(tc, redirect_hop);
    suite_add_tcase(s, tc);

    tc = http_tcase("schemes");
    tcase_add_test(tc, redirect_to_other_schemes);
    tcase_add_test(tc, url_rules_of_request);
    tcase_add_test(tc, other_schemes_refused);
    suite_add_tcase(s, tc);

    tc = http_tcase("concurrency");
    tcase_add_test(tc, connection_reuse);
    tcase_add_test(tc, parallel_fanout);
    tcase_add_test(tc, parallel_mixed_results);
    tcase_add_test(tc, threads_share_client);
    tcase_add_test(tc, reuse_batch_of_32);
    tcase_add_test(tc, reuse_32_threads);
    tcase_add_test(tc, transport_table);
    suite_add_tcase(s, tc);

    tc = http_tcase("guard");
    tcase_add_test(tc, guard_refuses_loopback);
    tcase_add_test(tc, guard_allows_loopback);
    tcase_add_test(tc, guard_ipv6_loopback);
    tcase_add_test(tc, guard_reused_connection);
    tcase_add_test(tc, guard_through_proxy_refused);
    suite_add_tcase(s, tc);

    tc = http_tcase("proxy_tls");
    tcase_add_test(tc, proxy_env_ignored);
    tcase_add_test(tc, proxy_option);
    tcase_add_test(tc, tls_verified);
    tcase_add_test(tc, https_to_plain_server);
    tcase_add_test(tc, batch_tls_per_request);
    suite_add_tcase(s, tc);
    return s;
}

MCP_TEST_MAIN(http_suite)
