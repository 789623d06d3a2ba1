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

/* bench/mcp_upstream: the upstream MCP server of bench/proxy.sh. One
 * thread, epoll, fixed answers: fast enough that the gateway in front of
 * it is what a benchmark measures. Linux only, no library but libc.
 *
 *   mcp_upstream PORT          listens on 127.0.0.1:PORT
 *
 * POST (Streamable HTTP, JSON answers only): the top-level "method" and
 * "id" of the body decide. initialize -> an InitializeResult (the
 * client's protocolVersion when it is a known one) with an Mcp-Session-Id;
 * tools/list -> one tool "echo"; tools/call -> a text result "ok" (any
 * tool name); ping -> {}; another request -> -32601. A notification or a
 * response -> 202. GET -> an SSE stream (chunked) that sends one comment
 * and then nothing, held until the client closes it. DELETE -> 204.
 * GET /bench-stats -> {"accepted":N,"posts":M}: the connections accepted
 * and the POSTs answered so far (does a proxy reuse its connections?).
 *
 * "delay_ms=N" anywhere in the request target (e.g. /mcp?delay_ms=50)
 * delays the answer to every POSTed request by N milliseconds (at most
 * 60000), without blocking other connections: the backends of the
 * fan-out measurement. Bodies may have a Content-Length or be chunked;
 * "Expect: 100-continue" is answered. Requests of one connection are
 * answered in order (pipelining works). */

#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_REQUEST (1024 * 1024)
#define MAX_EVENTS 256

typedef struct conn {
    int fd;
    char *in;               /* what was read and not yet consumed */
    size_t in_len, in_cap;
    char *out;              /* what is to be written */
    size_t out_len, out_off, out_cap;
    int stream;             /* a held GET stream: reads only watch for EOF */
    int closing;            /* close once out is written */
    int want_out;           /* EPOLLOUT registered */
    long long due_ms;       /* a delayed answer is pending (0: none) */
    char *pending;          /* that answer */
    size_t pending_len;
    struct conn *next_delayed, *prev_delayed;
} conn_t;

static int ep;
static conn_t *delayed;     /* connections with a delayed answer */
static unsigned long session_counter;
static unsigned long accepted, posts;

static long long now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void *xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n);

    if (!q) {
        fprintf(stderr, "mcp_upstream: out of memory\n");
        exit(1);
    }
    return q;
}

static void out_add(conn_t *c, const char *s, size_t n)
{
    if (c->out_len + n > c->out_cap) {
        c->out_cap = (c->out_len + n) * 2;
        c->out = xrealloc(c->out, c->out_cap);
    }
    memcpy(c->out + c->out_len, s, n);
    c->out_len += n;
}

static void conn_close(conn_t *c)
{
    if (c->due_ms) {
        if (c->prev_delayed) {
            c->prev_delayed->next_delayed = c->next_delayed;
        }
        else {
            delayed = c->next_delayed;
        }
        if (c->next_delayed) {
            c->next_delayed->prev_delayed = c->prev_delayed;
        }
    }
    epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    free(c->in);
    free(c->out);
    free(c->pending);
    free(c);
}

static void set_out_interest(conn_t *c, int want)
{
    struct epoll_event ev;

    if (want == c->want_out) {
        return;
    }
    ev.events = EPOLLIN | EPOLLRDHUP | (want ? EPOLLOUT : 0);
    ev.data.ptr = c;
    epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
    c->want_out = want;
}

/* Write what can be written; 0 when the connection was closed. */
static int flush_out(conn_t *c)
{
    while (c->out_off < c->out_len) {
        ssize_t n = write(c->fd, c->out + c->out_off, c->out_len - c->out_off);

        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                set_out_interest(c, 1);
                return 1;
            }
            if (errno == EINTR) {
                continue;
            }
            conn_close(c);
            return 0;
        }
        c->out_off += (size_t)n;
    }
    c->out_off = c->out_len = 0;
    set_out_interest(c, 0);
    if (c->closing) {
        conn_close(c);
        return 0;
    }
    return 1;
}

/* ---- a minimal JSON scan of the top-level object ---- */

static const char *skip_ws(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')) {
        p++;
    }
    return p;
}

/* p at a '"': the character after the closing quote, or NULL. */
static const char *skip_string(const char *p, const char *end)
{
    for (p++; p < end; p++) {
        if (*p == '\\') {
            p++;
        }
        else if (*p == '"') {
            return p + 1;
        }
    }
    return NULL;
}

/* p at the start of a value: the character after it, or NULL. */
static const char *skip_value(const char *p, const char *end)
{
    int depth = 0;

    if (p >= end) {
        return NULL;
    }
    if (*p == '"') {
        return skip_string(p, end);
    }
    if (*p != '{' && *p != '[') {
        while (p < end && *p != ',' && *p != '}' && *p != ']'
               && *p != ' ' && *p != '\r' && *p != '\n' && *p != '\t') {
            p++;
        }
        return p;
    }
    for (; p < end; p++) {
        if (*p == '"') {
            if (!(p = skip_string(p, end))) {
                return NULL;
            }
            p--;
        }
        else if (*p == '{' || *p == '[') {
            depth++;
        }
        else if (*p == '}' || *p == ']') {
            if (--depth == 0) {
                return p + 1;
            }
        }
    }
    return NULL;
}

typedef struct {
    const char *method; size_t method_len;   /* without the quotes */
    const char *id; size_t id_len;           /* raw JSON */
} msg_t;

/* 0 when the body is not one JSON object (e.g. a batch). */
static int scan_message(const char *p, const char *end, msg_t *m)
{
    memset(m, 0, sizeof(*m));
    p = skip_ws(p, end);
    if (p >= end || *p != '{') {
        return 0;
    }
    p++;
    for (;;) {
        const char *key, *kend, *v, *vend;

        p = skip_ws(p, end);
        if (p < end && *p == '}') {
            return 1;
        }
        if (p >= end || *p != '"' || !(kend = skip_string(p, end))) {
            return 0;
        }
        key = p + 1;
        p = skip_ws(kend, end);
        if (p >= end || *p != ':') {
            return 0;
        }
        v = skip_ws(p + 1, end);
        if (!(vend = skip_value(v, end))) {
            return 0;
        }
        if (kend - key - 1 == 6 && !memcmp(key, "method", 6) && *v == '"') {
            m->method = v + 1;
            m->method_len = (size_t)(vend - v - 2);
        }
        else if (kend - key - 1 == 2 && !memcmp(key, "id", 2)
                 && !(vend - v == 4 && !memcmp(v, "null", 4))) {
            m->id = v;
            m->id_len = (size_t)(vend - v);
        }
        p = skip_ws(vend, end);
        if (p < end && *p == ',') {
            p++;
        }
    }
}

static int is_method(const msg_t *m, const char *name)
{
    return m->method && m->method_len == strlen(name)
           && !memcmp(m->method, name, m->method_len);
}

/* The client's protocolVersion when it is one this server knows. */
static const char *protocol_version(const char *body, size_t len)
{
    static const char *known[] = { "2025-11-25", "2025-06-18", "2025-03-26",
                                   "2024-11-05", NULL };
    const char *p = memmem(body, len, "\"protocolVersion\"", 17);
    int i;

    if (p) {
        p = memchr(p + 17, '"', len - (size_t)(p + 17 - body));
        for (i = 0; p && known[i]; i++) {
            if ((size_t)(body + len - p) > 11 && !memcmp(p + 1, known[i], 10)
                && p[11] == '"') {
                return known[i];
            }
        }
    }
    return known[0];
}

/* ---- answers ---- */

static void answer(conn_t *c, char **dst, size_t *dst_len, const char *status,
                   const char *extra_headers, const char *body, size_t body_len)
{
    char head[512];
    int n = snprintf(head, sizeof(head),
                     "HTTP/1.1 %s\r\nContent-Length: %zu\r\n%s%s\r\n",
                     status, body_len,
                     body_len ? "Content-Type: application/json\r\n" : "",
                     extra_headers ? extra_headers : "");
    size_t total = (size_t)n + body_len;

    (void)c;
    *dst = xrealloc(NULL, total);
    memcpy(*dst, head, (size_t)n);
    memcpy(*dst + n, body, body_len);
    *dst_len = total;
}

static void queue_answer(conn_t *c, long delay, char *buf, size_t len)
{
    if (delay > 0) {
        c->pending = buf;
        c->pending_len = len;
        c->due_ms = now_ms() + delay;
        c->prev_delayed = NULL;
        c->next_delayed = delayed;
        if (delayed) {
            delayed->prev_delayed = c;
        }
        delayed = c;
        return;
    }
    out_add(c, buf, len);
    free(buf);
}

static void handle_post(conn_t *c, const char *target, const char *body,
                        size_t body_len)
{
    char result[1024], extra[128];
    const char *delay_s = strstr(target, "delay_ms=");
    long delay = delay_s ? strtol(delay_s + 9, NULL, 10) : 0;
    char *buf;
    size_t len;
    msg_t m;
    int n;

    if (delay > 60000) {
        delay = 60000;
    }
    posts++;
    extra[0] = '\0';
    if (!scan_message(body, body + body_len, &m) || !m.id || !m.method) {
        /* Notifications, responses (and batches, not used here). */
        answer(c, &buf, &len, "202 Accepted", NULL, "", 0);
        queue_answer(c, 0, buf, len);
        return;
    }
    if (m.id_len > 200) {
        m.id_len = 200;
    }
    if (is_method(&m, "tools/call")) {
        n = snprintf(result, sizeof(result),
                     "{\"jsonrpc\":\"2.0\",\"id\":%.*s,\"result\":{\"content\":"
                     "[{\"type\":\"text\",\"text\":\"ok\"}],\"isError\":false}}",
                     (int)m.id_len, m.id);
    }
    else if (is_method(&m, "tools/list")) {
        n = snprintf(result, sizeof(result),
                     "{\"jsonrpc\":\"2.0\",\"id\":%.*s,\"result\":{\"tools\":"
                     "[{\"name\":\"echo\",\"description\":\"Answers ok\","
                     "\"inputSchema\":{\"type\":\"object\",\"properties\":"
                     "{\"text\":{\"type\":\"string\"}}}}]}}",
                     (int)m.id_len, m.id);
    }
    else if (is_method(&m, "initialize")) {
        n = snprintf(result, sizeof(result),
                     "{\"jsonrpc\":\"2.0\",\"id\":%.*s,\"result\":{"
                     "\"protocolVersion\":\"%s\",\"capabilities\":{\"tools\":"
                     "{\"listChanged\":false}},\"serverInfo\":{\"name\":"
                     "\"bench-upstream\",\"version\":\"1.0.0\"}}}",
                     (int)m.id_len, m.id, protocol_version(body, body_len));
        snprintf(extra, sizeof(extra), "Mcp-Session-Id: bench-%lu\r\n",
                 ++session_counter);
    }
    else if (is_method(&m, "ping")) {
        n = snprintf(result, sizeof(result),
                     "{\"jsonrpc\":\"2.0\",\"id\":%.*s,\"result\":{}}",
                     (int)m.id_len, m.id);
    }
    else {
        n = snprintf(result, sizeof(result),
                     "{\"jsonrpc\":\"2.0\",\"id\":%.*s,\"error\":{\"code\":"
                     "-32601,\"message\":\"Method not found\"}}",
                     (int)m.id_len, m.id);
    }
    answer(c, &buf, &len, "200 OK", extra, result, (size_t)n);
    queue_answer(c, delay, buf, len);
}

static void handle_get(conn_t *c)
{
    static const char head[] =
        "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
        "Cache-Control: no-cache\r\nTransfer-Encoding: chunked\r\n\r\n"
        "f\r\n: stream open\n\n\r\n";

    out_add(c, head, sizeof(head) - 1);
    c->stream = 1;
}

/* ---- HTTP/1.1 parsing ---- */

static const char *header_value(const char *head, size_t head_len,
                                const char *name, size_t *vlen)
{
    size_t nlen = strlen(name);
    const char *p = memchr(head, '\n', head_len);
    const char *end = head + head_len;

    while (p && ++p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));

        if (!eol) {
            break;
        }
        if ((size_t)(eol - p) > nlen + 1 && p[nlen] == ':'
            && !strncasecmp(p, name, nlen)) {
            const char *v = p + nlen + 1;
            const char *ve = eol;

            while (v < ve && (*v == ' ' || *v == '\t')) {
                v++;
            }
            while (ve > v && (ve[-1] == '\r' || ve[-1] == ' ')) {
                ve--;
            }
            *vlen = (size_t)(ve - v);
            return v;
        }
        p = eol;
    }
    return NULL;
}

/* Decode a chunked body in place. Returns its length and sets *used to
 * the bytes consumed, or -1 when incomplete, -2 when malformed. */
static long dechunk(char *p, size_t avail, size_t *used)
{
    size_t in = 0, out = 0;

    for (;;) {
        char *eol = memmem(p + in, avail - in, "\r\n", 2);
        unsigned long sz;
        char *e;

        if (!eol) {
            return -1;
        }
        sz = strtoul(p + in, &e, 16);
        if (e == p + in) {
            return -2;
        }
        in = (size_t)(eol - p) + 2;
        if (sz == 0) {
            char *fin = memmem(p + in - 2, avail - in + 2, "\r\n\r\n", 4);

            if (!fin) {
                return -1;
            }
            *used = (size_t)(fin - p) + 4;
            return (long)out;
        }
        if (avail - in < sz + 2) {
            return -1;
        }
        memmove(p + out, p + in, sz);
        out += sz;
        in += sz + 2;
    }
}

/* Handle the complete requests in c->in; 0 when the connection was closed. */
static int process(conn_t *c)
{
    while (!c->stream && !c->due_ms) {
        char *hend = memmem(c->in, c->in_len, "\r\n\r\n", 4);
        size_t head_len, vlen, body_off, used;
        const char *v;
        char method[8], target[1024];
        long body_len;

        if (!hend) {
            if (c->in_len > 65536) {
                conn_close(c);
                return 0;
            }
            break;
        }
        head_len = (size_t)(hend - c->in) + 2;
        body_off = head_len + 2;
        if (sscanf(c->in, "%7s %1023s", method, target) != 2) {
            conn_close(c);
            return 0;
        }
        if ((v = header_value(c->in, head_len, "Transfer-Encoding", &vlen))
            && vlen >= 7 && !strncasecmp(v + vlen - 7, "chunked", 7)) {
            char *copy;

            /* Decode a copy: the raw bytes stay until complete. */
            copy = xrealloc(NULL, c->in_len - body_off + 1);
            memcpy(copy, c->in + body_off, c->in_len - body_off);
            body_len = dechunk(copy, c->in_len - body_off, &used);
            if (body_len == -2) {
                free(copy);
                conn_close(c);
                return 0;
            }
            if (body_len == -1) {
                free(copy);
                goto incomplete;
            }
            if (!strcmp(method, "POST")) {
                handle_post(c, target, copy, (size_t)body_len);
            }
            free(copy);
            used += body_off;
        }
        else {
            body_len = 0;
            if ((v = header_value(c->in, head_len, "Content-Length", &vlen))) {
                body_len = strtol(v, NULL, 10);
            }
            if (body_len < 0 || body_len > MAX_REQUEST) {
                conn_close(c);
                return 0;
            }
            if (c->in_len - body_off < (size_t)body_len) {
                goto incomplete;
            }
            used = body_off + (size_t)body_len;
            if (!strcmp(method, "POST")) {
                handle_post(c, target, c->in + body_off, (size_t)body_len);
            }
        }
        if (!strcmp(method, "GET") && !strcmp(target, "/bench-stats")) {
            char body[128], *buf;
            size_t len;
            int bn = snprintf(body, sizeof(body), "{\"accepted\":%lu,\"posts\":%lu}",
                              accepted, posts);

            answer(c, &buf, &len, "200 OK", NULL, body, (size_t)bn);
            queue_answer(c, 0, buf, len);
        }
        else if (!strcmp(method, "GET")) {
            handle_get(c);
        }
        else if (!strcmp(method, "DELETE")) {
            char *buf;
            size_t len;

            answer(c, &buf, &len, "204 No Content", NULL, "", 0);
            queue_answer(c, 0, buf, len);
        }
        else if (strcmp(method, "POST")) {
            static const char bad[] = "HTTP/1.1 405 Method Not Allowed\r\n"
                                      "Content-Length: 0\r\n\r\n";

            out_add(c, bad, sizeof(bad) - 1);
        }
        if ((v = header_value(c->in, head_len, "Connection", &vlen))
            && vlen == 5 && !strncasecmp(v, "close", 5)) {
            c->closing = 1;
        }
        memmove(c->in, c->in + used, c->in_len - used);
        c->in_len -= used;
        if (c->closing) {
            break;
        }
        continue;
incomplete:
        if ((v = header_value(c->in, head_len, "Expect", &vlen))
            && vlen == 12 && !strncasecmp(v, "100-continue", 12)
            && c->in_len == body_off) {
            static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";

            out_add(c, cont, sizeof(cont) - 1);
        }
        break;
    }
    return flush_out(c);
}

static void on_readable(conn_t *c)
{
    for (;;) {
        ssize_t n;

        if (c->in_cap - c->in_len < 16384) {
            if (c->in_cap > MAX_REQUEST + 65536) {
                conn_close(c);
                return;
            }
            c->in_cap = c->in_cap ? c->in_cap * 2 : 32768;
            c->in = xrealloc(c->in, c->in_cap);
        }
        n = read(c->fd, c->in + c->in_len, c->in_cap - c->in_len);
        if (n == 0) {
            conn_close(c);
            return;
        }
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                break;
            }
            conn_close(c);
            return;
        }
        if (c->stream) {
            c->in_len = 0;   /* a held stream: whatever comes is ignored */
        }
        else {
            c->in_len += (size_t)n;
        }
    }
    process(c);
}

static void run_due(void)
{
    long long t = now_ms();
    conn_t *c = delayed, *next;

    for (; c; c = next) {
        next = c->next_delayed;
        if (c->due_ms > t) {
            continue;
        }
        if (c->prev_delayed) {
            c->prev_delayed->next_delayed = c->next_delayed;
        }
        else {
            delayed = c->next_delayed;
        }
        if (c->next_delayed) {
            c->next_delayed->prev_delayed = c->prev_delayed;
        }
        c->due_ms = 0;
        out_add(c, c->pending, c->pending_len);
        free(c->pending);
        c->pending = NULL;
        process(c);   /* the next pipelined request, and the write */
    }
}

static int next_timeout(void)
{
    long long t = now_ms(), min = -1;
    conn_t *c;

    for (c = delayed; c; c = c->next_delayed) {
        long long d = c->due_ms - t;

        if (d < 0) {
            d = 0;
        }
        if (min < 0 || d < min) {
            min = d;
        }
    }
    return (int)min;
}

int main(int argc, char **argv)
{
    struct sockaddr_in sa;
    struct epoll_event ev, events[MAX_EVENTS];
    int lfd, one = 1, port;

    if (argc != 2 || (port = atoi(argv[1])) <= 0 || port > 65535) {
        fprintf(stderr, "usage: mcp_upstream PORT (listens on 127.0.0.1)\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((unsigned short)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0
        || listen(lfd, 4096) < 0) {
        perror("mcp_upstream: listen");
        return 1;
    }
    ep = epoll_create1(0);
    ev.events = EPOLLIN;
    ev.data.ptr = NULL;
    epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
    printf("mcp_upstream listening on 127.0.0.1:%d\n", port);
    fflush(stdout);

    for (;;) {
        int n = epoll_wait(ep, events, MAX_EVENTS, next_timeout());
        int i;

        if (n < 0 && errno != EINTR) {
            perror("mcp_upstream: epoll_wait");
            return 1;
        }
        for (i = 0; i < n; i++) {
            conn_t *c = events[i].data.ptr;

            if (!c) {
                int fd;

                while ((fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
                    c = calloc(1, sizeof(*c));
                    if (!c) {
                        close(fd);
                        continue;
                    }
                    c->fd = fd;
                    accepted++;
                    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
                    ev.events = EPOLLIN | EPOLLRDHUP;
                    ev.data.ptr = c;
                    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
                }
                continue;
            }
            if (events[i].events & EPOLLOUT) {
                if (!flush_out(c)) {
                    continue;
                }
            }
            if (events[i].events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
                on_readable(c);
            }
        }
        run_due();
    }
}
