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

/* The test HTTP/1.1 server described in http_server.h. */

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <apr_atomic.h>
#include <apr_lib.h>
#include <apr_poll.h>
#include <apr_strings.h>
#include <apr_tables.h>
#include <apr_thread_mutex.h>
#include <apr_thread_proc.h>

#include "http_server.h"
#include "mcp/mcp_json.h"

#define SRV_MAX_CONNS     256
#define SRV_MAX_HEAD      (64 * 1024)
#define SRV_MAX_BODY      (1024 * 1024)
#define SRV_TICK          apr_time_from_msec(20)
#define SRV_IDLE_LIMIT    apr_time_from_sec(15)   /* idle keep-alive */
#define SRV_STALL_LIMIT   5000                    /* ms, /drip /hang /sse */

typedef struct conn_t conn_t;

struct http_server_t {
    apr_pool_t *pool;
    apr_socket_t *listener;
    const char *host;               /* "127.0.0.1" or "[::1]" in URLs */
    apr_port_t port;
    apr_thread_t *acceptor;
    volatile apr_uint32_t stop;
    volatile apr_uint32_t accepted;
    volatile apr_uint32_t requests;
    volatile apr_uint32_t inflight;
    volatile apr_uint32_t max_inflight;
    volatile apr_uint32_t released;
    conn_t *conns[SRV_MAX_CONNS];
    int nconns;                     /* written by the acceptor only */
};

struct conn_t {
    http_server_t *srv;
    apr_pool_t *pool;
    apr_socket_t *sock;
    apr_thread_t *thread;
    char *buf;                      /* SRV_MAX_HEAD + SRV_MAX_BODY */
    apr_size_t len;
    unsigned nreq;
};

typedef struct {
    apr_pool_t *pool;
    const char *method;
    const char *target;             /* as sent, absolute form for proxies */
    const char *path;
    const char *query;
    apr_table_t *headers;
    const char *body;
    apr_size_t body_len;
    int close;
} req_t;

static int stopping(http_server_t *srv)
{
    return apr_atomic_read32(&srv->stop) != 0;
}

/* Sleep up to @a ms in small steps; 0 when the server stops meanwhile. */
static int srv_sleep(http_server_t *srv, int ms)
{
    apr_time_t end = apr_time_now() + apr_time_from_msec(ms);

    while (apr_time_now() < end) {
        if (stopping(srv)) {
            return 0;
        }
        apr_sleep(apr_time_from_msec(5));
    }
    return !stopping(srv);
}

static int send_all(conn_t *c, const char *data, apr_size_t len)
{
    apr_time_t end = apr_time_now() + apr_time_from_sec(10);

    while (len > 0) {
        apr_size_t n = len;
        apr_status_t rv = apr_socket_send(c->sock, data, &n);

        data += n;
        len -= n;
        if (rv != APR_SUCCESS && !APR_STATUS_IS_TIMEUP(rv)
            && !APR_STATUS_IS_EAGAIN(rv)) {
            return 0;
        }
        if (len && (stopping(c->srv) || apr_time_now() > end)) {
            return 0;
        }
    }
    return 1;
}

static int send_str(conn_t *c, const char *s)
{
    return send_all(c, s, strlen(s));
}

/* Read more bytes into c->buf; 0 on EOF, error, stop or long idleness. */
static int read_more(conn_t *c, apr_size_t cap)
{
    apr_time_t end = apr_time_now() + SRV_IDLE_LIMIT;

    while (!stopping(c->srv) && apr_time_now() < end) {
        apr_size_t n = cap - c->len;
        apr_status_t rv;

        if (n == 0) {
            return 0;
        }
        rv = apr_socket_recv(c->sock, c->buf + c->len, &n);
        c->len += n;
        if (n > 0) {
            return 1;
        }
        if (!APR_STATUS_IS_TIMEUP(rv) && !APR_STATUS_IS_EAGAIN(rv)) {
            return 0;
        }
    }
    return 0;
}

static void consume(conn_t *c, apr_size_t n)
{
    memmove(c->buf, c->buf + n, c->len - n);
    c->len -= n;
}

static char *find_head_end(conn_t *c)
{
    apr_size_t i;

    for (i = 0; i + 3 < c->len; i++) {
        if (!memcmp(c->buf + i, "\r\n\r\n", 4)) {
            return c->buf + i;
        }
    }
    return NULL;
}

static int parse_head(req_t *r, char *head)
{
    char *line, *last = NULL, *sp1, *sp2, *q;
    char *path;

    line = apr_strtok(head, "\r\n", &last);
    if (!line || !(sp1 = strchr(line, ' ')) || !(sp2 = strchr(sp1 + 1, ' '))) {
        return 0;
    }
    r->method = apr_pstrmemdup(r->pool, line, (apr_size_t)(sp1 - line));
    path = apr_pstrmemdup(r->pool, sp1 + 1, (apr_size_t)(sp2 - sp1 - 1));
    r->target = apr_pstrdup(r->pool, path);
    if (!strncmp(path, "http://", 7)) {
        /* Absolute form: we are being used as a forward proxy. */
        char *slash = strchr(path + 7, '/');
        path = slash ? slash : apr_pstrdup(r->pool, "/");
    }
    if ((q = strchr(path, '?')) != NULL) {
        *q = '\0';
        r->query = q + 1;
    }
    r->path = path;
    while ((line = apr_strtok(NULL, "\r\n", &last)) != NULL) {
        char *colon = strchr(line, ':'), *v;

        if (!colon) {
            return 0;
        }
        *colon = '\0';
        for (v = colon + 1; *v == ' ' || *v == '\t'; v++)
            ;
        apr_table_add(r->headers, line, v);
    }
    return 1;
}

/* Read one request; 0 when the connection is done. */
static int read_request(conn_t *c, req_t *r)
{
    const char *cl, *conn;
    char *end;
    apr_size_t head_len;
    apr_int64_t blen = 0;

    while (!(end = find_head_end(c))) {
        if (!read_more(c, SRV_MAX_HEAD)) {
            return 0;
        }
        if (!apr_isupper(c->buf[0])) {
            /* Not HTTP (a TLS ClientHello, say): answer and hang up. */
            send_str(c, "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n"
                     "Connection: close\r\n\r\n");
            return 0;
        }
    }
    head_len = (apr_size_t)(end - c->buf) + 4;
    if (!parse_head(r, apr_pstrmemdup(r->pool, c->buf, head_len - 4))) {
        return 0;
    }
    consume(c, head_len);
    if ((cl = apr_table_get(r->headers, "Content-Length")) != NULL) {
        blen = apr_atoi64(cl);
        if (blen < 0 || blen > SRV_MAX_BODY) {
            return 0;
        }
    }
    while (c->len < (apr_size_t)blen) {
        if (!read_more(c, SRV_MAX_HEAD + SRV_MAX_BODY)) {
            return 0;
        }
    }
    r->body = apr_pstrmemdup(r->pool, c->buf, (apr_size_t)blen);
    r->body_len = (apr_size_t)blen;
    consume(c, (apr_size_t)blen);
    conn = apr_table_get(r->headers, "Connection");
    r->close = conn && !strcasecmp(conn, "close");
    apr_atomic_inc32(&c->srv->requests);
    c->nreq++;
    return 1;
}

static long query_num(const req_t *r, const char *name, long dflt)
{
    const char *v = r->query ? strstr(r->query, name) : NULL;
    const char *to = r->query ? strstr(r->query, "to=") : NULL;

    /* Not inside the "to=" URL, which is always last. */
    if (!v || v[strlen(name)] != '=' || (to && v > to)) {
        return dflt;
    }
    return atol(v + strlen(name) + 1);
}

static const char *query_str(const req_t *r, const char *name)
{
    const char *v = r->query ? strstr(r->query, name) : NULL;

    if (!v || v[strlen(name)] != '=') {
        return NULL;
    }
    return v + strlen(name) + 1;    /* "to=" is always last */
}

static int respond(conn_t *c, req_t *r, int status, const char *ctype,
                   const char *body, apr_size_t len, const char *extra)
{
    const char *head = apr_psprintf(r->pool,
        "HTTP/1.1 %d Test\r\nContent-Type: %s\r\nContent-Length: %"
        APR_SIZE_T_FMT "\r\n%s%s\r\n", status, ctype, len,
        extra ? extra : "", r->close ? "Connection: close\r\n" : "");

    if (!send_str(c, head)) {
        return 0;
    }
    if (strcmp(r->method, "HEAD") && status != 204 && status != 304
        && !send_all(c, body, len)) {
        return 0;
    }
    return !r->close;
}

static int respond_json(conn_t *c, req_t *r, mcp_json_t *j)
{
    apr_size_t len;
    const char *s = mcp_json_dump(r->pool, j, MCP_JSON_FMT_COMPACT, &len);

    return respond(c, r, 200, "application/json", s, len, NULL);
}

static int h_json(conn_t *c, req_t *r)
{
    mcp_json_t *j = mcp_json_object(r->pool);

    mcp_json_set_bool(j, "ok", 1);
    mcp_json_set_int(j, "conn_request", c->nreq);
    return respond_json(c, r, j);
}

static int h_large(conn_t *c, req_t *r)
{
    long n = query_num(r, "n", 1000);
    char *body;

    if (n < 0 || n > 64L * 1024 * 1024) {
        return respond(c, r, 400, "text/plain", "bad n", 5, NULL);
    }
    body = malloc((size_t)n + 1);
    if (!body) {
        return 0;
    }
    memset(body, 'x', (size_t)n);
    n = respond(c, r, 200, "application/octet-stream", body, (apr_size_t)n, NULL);
    free(body);
    return (int)n;
}

static int send_chunk(conn_t *c, apr_pool_t *p, const char *data, apr_size_t len)
{
    return send_str(c, apr_psprintf(p, "%lx\r\n", (unsigned long)len))
        && send_all(c, data, len) && send_str(c, "\r\n");
}

static int h_large_chunked(conn_t *c, req_t *r)
{
    long n = query_num(r, "n", 1000);
    char piece[8192];

    memset(piece, 'x', sizeof(piece));
    if (!send_str(c, "HTTP/1.1 200 Test\r\nContent-Type: application/octet-stream"
                  "\r\nTransfer-Encoding: chunked\r\n\r\n")) {
        return 0;
    }
    while (n > 0) {
        apr_size_t k = n > (long)sizeof(piece) ? sizeof(piece) : (apr_size_t)n;

        if (!send_chunk(c, r->pool, piece, k)) {
            return 0;
        }
        n -= (long)k;
    }
    return send_str(c, "0\r\n\r\n");
}

static int h_drip(conn_t *c, req_t *r)
{
    send_str(c, "HTTP/1.1 200 Test\r\nContent-Type: text/plain\r\n"
             "Content-Length: 1000\r\n\r\n0123456789");
    srv_sleep(c->srv, SRV_STALL_LIMIT);
    return 0;
}

static int h_hang(conn_t *c, req_t *r)
{
    /* Wait until the client gives up (EOF) or the server stops. */
    apr_time_t end = apr_time_now() + apr_time_from_msec(SRV_STALL_LIMIT);

    while (!stopping(c->srv) && apr_time_now() < end) {
        char b[64];
        apr_size_t n = sizeof(b);
        apr_status_t rv = apr_socket_recv(c->sock, b, &n);

        if (!APR_STATUS_IS_TIMEUP(rv) && !APR_STATUS_IS_EAGAIN(rv)) {
            break;
        }
    }
    return 0;
}

static int h_short(conn_t *c, req_t *r)
{
    send_str(c, "HTTP/1.1 200 Test\r\nContent-Type: text/plain\r\n"
             "Content-Length: 100\r\n\r\n0123456789");
    return 0;
}

static int h_cutchunk(conn_t *c, req_t *r)
{
    send_str(c, "HTTP/1.1 200 Test\r\nContent-Type: text/plain\r\n"
             "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n");
    return 0;
}

static int h_badchunk(conn_t *c, req_t *r)
{
    send_str(c, "HTTP/1.1 200 Test\r\nContent-Type: text/plain\r\n"
             "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nzz\r\nxx\r\n");
    srv_sleep(c->srv, 200);
    return 0;
}

static int wait_released(http_server_t *srv)
{
    apr_time_t end = apr_time_now() + apr_time_from_msec(SRV_STALL_LIMIT);

    while (apr_time_now() < end && !stopping(srv)) {
        if (apr_atomic_read32(&srv->released)) {
            return 1;
        }
        apr_sleep(apr_time_from_msec(2));
    }
    return 0;
}

static int h_sse(conn_t *c, req_t *r)
{
    static const char ev1[] = "event: message\ndata: {\"n\":1}\n\n";
    static const char ev2a[] = "data: {\"n\"";
    static const char ev2b[] = ":2}\n\n";
    static const char ev3[] = "data: done\n\n";
    static const char late[] = "data: late\n\n";

    if (!send_str(c, "HTTP/1.1 200 Test\r\nContent-Type: text/event-stream\r\n"
                  "Cache-Control: no-store\r\nTransfer-Encoding: chunked\r\n\r\n")
        || !send_chunk(c, r->pool, ev1, sizeof(ev1) - 1)) {
        return 0;
    }
    if (!wait_released(c->srv)) {
        send_chunk(c, r->pool, late, sizeof(late) - 1);
        return send_str(c, "0\r\n\r\n");
    }
    /* The second event split across two chunks, 50 ms apart. */
    if (!send_chunk(c, r->pool, ev2a, sizeof(ev2a) - 1)
        || !srv_sleep(c->srv, 50)
        || !send_chunk(c, r->pool, ev2b, sizeof(ev2b) - 1)
        || !srv_sleep(c->srv, 50)
        || !send_chunk(c, r->pool, ev3, sizeof(ev3) - 1)) {
        return 0;
    }
    return send_str(c, "0\r\n\r\n");
}

static int h_trickle(conn_t *c, req_t *r)
{
    long n = query_num(r, "n", 10), ms = query_num(r, "ms", 100), i;

    if (n < 0 || n > 1000 || ms < 0 || ms > SRV_STALL_LIMIT) {
        return respond(c, r, 400, "text/plain", "bad n or ms", 11, NULL);
    }
    if (!send_str(c, "HTTP/1.1 200 Test\r\nContent-Type: text/event-stream\r\n"
                  "Transfer-Encoding: chunked\r\n\r\n")) {
        return 0;
    }
    for (i = 0; i < n; i++) {
        const char *ev = apr_psprintf(r->pool, "data: %ld\n\n", i);

        if (!send_chunk(c, r->pool, ev, strlen(ev))
            || (i + 1 < n && !srv_sleep(c->srv, (int)ms))) {
            return 0;
        }
    }
    return send_str(c, "0\r\n\r\n");
}

static int h_redirect(conn_t *c, req_t *r)
{
    const char *to = query_str(r, "to");
    const char *extra = apr_psprintf(r->pool, "Location: %s\r\n", to ? to : "/");
    long ms = query_num(r, "ms", 0);

    if (ms > 0 && !srv_sleep(c->srv, (int)(ms > SRV_STALL_LIMIT
                                           ? SRV_STALL_LIMIT : ms))) {
        return 0;
    }
    return respond(c, r, (int)query_num(r, "code", 302), "text/plain",
                   "moved", 5, extra);
}

static int h_loop(conn_t *c, req_t *r)
{
    return respond(c, r, 302, "text/plain", "again", 5, "Location: /loop\r\n");
}

static int h_status(conn_t *c, req_t *r)
{
    long code = query_num(r, "code", 200);
    const char *body = apr_psprintf(r->pool, "status %ld", code);

    return respond(c, r, (int)code, "text/plain", body, strlen(body), NULL);
}

static int h_echo(conn_t *c, req_t *r)
{
    mcp_json_t *j = mcp_json_object(r->pool);
    mcp_json_t *h = mcp_json_object(r->pool);
    const apr_array_header_t *arr = apr_table_elts(r->headers);
    const apr_table_entry_t *e = (const apr_table_entry_t *)arr->elts;
    int i;

    for (i = 0; i < arr->nelts; i++) {
        char *k = apr_pstrdup(r->pool, e[i].key), *s;

        for (s = k; *s; s++) {
            *s = (char)apr_tolower(*s);
        }
        mcp_json_set_str(h, k, e[i].val);
    }
    mcp_json_set_str(j, "method", r->method);
    mcp_json_set_str(j, "path", r->path);
    mcp_json_set_str(j, "target", r->target);
    mcp_json_set(j, "headers", h);
    mcp_json_set_str(j, "body", r->body);
    mcp_json_set_int(j, "body_len", (apr_int64_t)r->body_len);
    return respond_json(c, r, j);
}

static void note_inflight(http_server_t *srv, apr_uint32_t now)
{
    apr_uint32_t max;

    while ((max = apr_atomic_read32(&srv->max_inflight)) < now) {
        if (apr_atomic_cas32(&srv->max_inflight, now, max) == max) {
            break;
        }
    }
}

static int h_slow(conn_t *c, req_t *r)
{
    long ms = query_num(r, "ms", 200);
    mcp_json_t *j = mcp_json_object(r->pool);

    note_inflight(c->srv, apr_atomic_inc32(&c->srv->inflight) + 1);
    srv_sleep(c->srv, (int)(ms > SRV_STALL_LIMIT ? SRV_STALL_LIMIT : ms));
    apr_atomic_dec32(&c->srv->inflight);
    mcp_json_set_bool(j, "ok", 1);
    return respond_json(c, r, j);
}

static int h_close(conn_t *c, req_t *r)
{
    r->close = 1;
    return h_json(c, r);
}

static const struct {
    const char *path;
    int (*handler)(conn_t *c, req_t *r);
} routes[] = {
    { "/json", h_json },
    { "/large", h_large },
    { "/large-chunked", h_large_chunked },
    { "/drip", h_drip },
    { "/hang", h_hang },
    { "/short", h_short },
    { "/cutchunk", h_cutchunk },
    { "/badchunk", h_badchunk },
    { "/sse", h_sse },
    { "/trickle", h_trickle },
    { "/redirect", h_redirect },
    { "/loop", h_loop },
    { "/status", h_status },
    { "/echo", h_echo },
    { "/slow", h_slow },
    { "/close", h_close },
};

/* Serve one request; 0 when the connection must close. */
static int dispatch(conn_t *c, req_t *r)
{
    apr_size_t i;

    for (i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
        if (!strcmp(r->path, routes[i].path)) {
            return routes[i].handler(c, r);
        }
    }
    return respond(c, r, 404, "text/plain", "not found", 9, NULL);
}

static void *APR_THREAD_FUNC conn_main(apr_thread_t *t, void *baton)
{
    conn_t *c = baton;
    int go = 1;

    while (go && !stopping(c->srv)) {
        apr_pool_t *rp;
        req_t *r;

        apr_pool_create(&rp, c->pool);
        r = apr_pcalloc(rp, sizeof(*r));
        r->pool = rp;
        r->headers = apr_table_make(rp, 16);
        go = read_request(c, r) && dispatch(c, r);
        apr_pool_destroy(rp);
    }
    apr_socket_close(c->sock);
    /* Return rather than apr_thread_exit(): pthread_exit() leaves the
     * frame poisoned and ASan reports a false stack-use-after-scope. */
    return NULL;
}

static void accept_one(http_server_t *srv)
{
    apr_pool_t *cp;
    apr_socket_t *s;
    apr_pollfd_t pfd;
    apr_int32_t nready = 0;
    conn_t *c;

    /* apr_socket_accept() does not wait on a timeout: poll first, so the
     * loop sleeps and still sees the stop flag every tick. */
    memset(&pfd, 0, sizeof(pfd));
    pfd.p = srv->pool;
    pfd.desc_type = APR_POLL_SOCKET;
    pfd.reqevents = APR_POLLIN;
    pfd.desc.s = srv->listener;
    if (apr_poll(&pfd, 1, &nready, SRV_TICK) != APR_SUCCESS || nready < 1) {
        return;
    }
    apr_pool_create(&cp, NULL);
    if (apr_socket_accept(&s, srv->listener, cp) != APR_SUCCESS) {
        apr_pool_destroy(cp);
        return;
    }
    apr_atomic_inc32(&srv->accepted);
    if (srv->nconns >= SRV_MAX_CONNS) {
        apr_socket_close(s);
        apr_pool_destroy(cp);
        return;
    }
    apr_socket_timeout_set(s, SRV_TICK);
    c = apr_pcalloc(cp, sizeof(*c));
    c->srv = srv;
    c->pool = cp;
    c->sock = s;
    c->buf = apr_palloc(cp, SRV_MAX_HEAD + SRV_MAX_BODY);
    if (apr_thread_create(&c->thread, NULL, conn_main, c, cp) != APR_SUCCESS) {
        apr_socket_close(s);
        apr_pool_destroy(cp);
        return;
    }
    srv->conns[srv->nconns++] = c;
}

static void *APR_THREAD_FUNC accept_main(apr_thread_t *t, void *baton)
{
    http_server_t *srv = baton;

    while (!stopping(srv)) {
        accept_one(srv);
    }
    return NULL;
}

static apr_status_t listen_on(apr_socket_t **ps, apr_pool_t *p,
                              const char *ip, int backlog, apr_port_t *pport)
{
    int family = strchr(ip, ':') ? APR_INET6 : APR_INET;
    apr_sockaddr_t *sa;
    apr_status_t rv;

    if ((rv = apr_sockaddr_info_get(&sa, ip, family, 0, 0, p))
        || (rv = apr_socket_create(ps, family, SOCK_STREAM, APR_PROTO_TCP, p))
        || (rv = apr_socket_opt_set(*ps, APR_SO_REUSEADDR, 1))
        || (rv = apr_socket_bind(*ps, sa))
        || (rv = apr_socket_listen(*ps, backlog))
        || (rv = apr_socket_addr_get(&sa, APR_LOCAL, *ps))) {
        return rv;
    }
    *pport = sa->port;
    return APR_SUCCESS;
}

static apr_status_t listen_local(apr_socket_t **ps, apr_pool_t *p,
                                 int backlog, apr_port_t *pport)
{
    return listen_on(ps, p, "127.0.0.1", backlog, pport);
}

http_server_t *http_server_start_on(const char *ip, int quiet)
{
    apr_pool_t *p;
    http_server_t *srv;
    apr_status_t rv;

    /* A client that hangs up must not kill the test with SIGPIPE. */
    signal(SIGPIPE, SIG_IGN);
    apr_pool_create(&p, NULL);
    srv = apr_pcalloc(p, sizeof(*srv));
    srv->pool = p;
    srv->host = strchr(ip, ':') ? apr_pstrcat(p, "[", ip, "]", NULL)
                                : apr_pstrdup(p, ip);
    if ((rv = listen_on(&srv->listener, p, ip, 128, &srv->port)) != APR_SUCCESS
        || (rv = apr_socket_timeout_set(srv->listener, SRV_TICK))
        || (rv = apr_thread_create(&srv->acceptor, NULL, accept_main, srv, p))) {
        char buf[128];

        if (!quiet) {
            fprintf(stderr, "test server on %s: %s\n", ip,
                    apr_strerror(rv, buf, sizeof(buf)));
        }
        apr_pool_destroy(p);
        return NULL;
    }
    return srv;
}

http_server_t *http_server_start(void)
{
    return http_server_start_on("127.0.0.1", 0);
}

void http_server_stop(http_server_t *srv)
{
    apr_status_t trv;
    int i;

    if (!srv) {
        return;
    }
    apr_atomic_set32(&srv->stop, 1);
    apr_thread_join(&trv, srv->acceptor);
    for (i = 0; i < srv->nconns; i++) {
        apr_thread_join(&trv, srv->conns[i]->thread);
    }
    for (i = 0; i < srv->nconns; i++) {
        apr_pool_destroy(srv->conns[i]->pool);
    }
    apr_socket_close(srv->listener);
    apr_pool_destroy(srv->pool);
}

apr_port_t http_server_port(const http_server_t *srv)
{
    return srv->port;
}

const char *http_server_url(const http_server_t *srv, apr_pool_t *p,
                            const char *path)
{
    return apr_psprintf(p, "http://%s:%u%s", srv->host, (unsigned)srv->port,
                        path);
}

unsigned http_server_accepted(const http_server_t *srv)
{
    return apr_atomic_read32((volatile apr_uint32_t *)&srv->accepted);
}

unsigned http_server_requests(const http_server_t *srv)
{
    return apr_atomic_read32((volatile apr_uint32_t *)&srv->requests);
}

unsigned http_server_max_inflight(const http_server_t *srv)
{
    return apr_atomic_read32((volatile apr_uint32_t *)&srv->max_inflight);
}

void http_server_release(http_server_t *srv)
{
    apr_atomic_set32(&srv->released, 1);
}

apr_status_t http_blackhole_start(apr_pool_t *p, apr_port_t *pport)
{
    apr_socket_t *l;
    apr_sockaddr_t *sa;
    apr_status_t rv;
    int i;

    if ((rv = listen_local(&l, p, 0, pport)) != APR_SUCCESS
        || (rv = apr_sockaddr_info_get(&sa, "127.0.0.1", APR_INET, *pport, 0, p))) {
        return rv;
    }
    /* Fill the accept queue (backlog 0 holds one) and the SYN queue
     * beyond: these connections are never accepted. */
    for (i = 0; i < 4; i++) {
        apr_socket_t *s;

        if ((rv = apr_socket_create(&s, APR_INET, SOCK_STREAM,
                                    APR_PROTO_TCP, p)) != APR_SUCCESS) {
            return rv;
        }
        apr_socket_timeout_set(s, 0);
        apr_socket_connect(s, sa);
    }
    apr_sleep(apr_time_from_msec(100));
    return APR_SUCCESS;
}

apr_port_t http_closed_port(apr_pool_t *p)
{
    apr_socket_t *s;
    apr_port_t port = 0;

    if (listen_local(&s, p, 1, &port) == APR_SUCCESS) {
        apr_socket_close(s);
    }
    return port;
}
