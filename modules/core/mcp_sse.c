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

/* Server-Sent Events. The parser works on bytes: every byte it looks at
 * (CR, LF, ':', ' ', digits, the BOM) is ASCII or the first bytes of the
 * stream, so a chunk cut inside a UTF-8 sequence needs no care. A line
 * that a chunk holds whole is parsed in place; only a line cut by a chunk
 * boundary is copied into the line buffer. */

#include <string.h>

#include <apr_strings.h>

#include "mcp/mcp_sse.h"

/* Smallest buffer allocated, so short events don't double their way up. */
#define BUF_MIN 64

static const char bom[] = "\xEF\xBB\xBF";

/* A buffer that grows by doubling up to a cap and is then reused. */
typedef struct {
    char *s;
    apr_size_t len;
    apr_size_t cap;
} sse_buf_t;

struct mcp_sse_parser_t {
    apr_pool_t *pool;
    apr_size_t max;
    mcp_sse_event_fn *on_event;
    void *baton;
    mcp_sse_comment_fn *on_comment;
    void *comment_baton;
    sse_buf_t line;        /* a line cut by a chunk boundary */
    sse_buf_t data;        /* the data buffer */
    sse_buf_t type;        /* the event type buffer */
    sse_buf_t id;          /* the last event id buffer */
    apr_int64_t retry;     /* the stream's reconnection time, -1 if unset */
    apr_int64_t ev_retry;  /* a retry among this event's lines, -1 if none */
    int first_line;        /* no line end seen yet: the BOM may come */
    int after_cr;          /* the last line ended with CR: skip one LF */
    int in_event;          /* field lines since the last blank line */
    apr_status_t status;   /* sticky failure, or APR_EOF after finish */
    mcp_sse_event_t ev;
};

/* Room for @a need bytes in @a b. Callers checked the event against max
 * first, so @a need is at most max + 1 and so is the capacity. */
static void buf_reserve(mcp_sse_parser_t *ps, sse_buf_t *b, apr_size_t need)
{
    apr_size_t cap;
    char *s;

    if (need <= b->cap) {
        return;
    }
    cap = b->cap ? b->cap * 2 : BUF_MIN;
    if (cap < need) {
        cap = need;
    }
    if (cap > ps->max + 1) {
        cap = need > ps->max + 1 ? need : ps->max + 1;
    }
    s = apr_palloc(ps->pool, cap);
    if (b->len) {
        memcpy(s, b->s, b->len);
    }
    b->s = s;
    b->cap = cap;
}

static void buf_append(mcp_sse_parser_t *ps, sse_buf_t *b, const char *s,
                       apr_size_t n)
{
    buf_reserve(ps, b, b->len + n + 1);
    if (n) {
        memcpy(b->s + b->len, s, n);
    }
    b->len += n;
    b->s[b->len] = '\0';
}

static void buf_set(mcp_sse_parser_t *ps, sse_buf_t *b, const char *s,
                    apr_size_t n)
{
    b->len = 0;
    buf_append(ps, b, s, n);
}

/* The ASCII digits of a "retry" value, or -1 when it is anything else
 * (empty, another byte, or too large for 64 bits). */
static apr_int64_t retry_value(const char *s, apr_size_t n)
{
    apr_int64_t v = 0;
    apr_size_t i;

    if (n == 0) {
        return -1;
    }
    for (i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return -1;
        }
        if (v > (APR_INT64_MAX - (s[i] - '0')) / 10) {
            return -1;
        }
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

static int field_is(const char *name, apr_size_t n, const char *want)
{
    return n == strlen(want) && memcmp(name, want, n) == 0;
}

static void process_field(mcp_sse_parser_t *ps, const char *name,
                          apr_size_t nlen, const char *value,
                          apr_size_t vlen)
{
    if (field_is(name, nlen, "data")) {
        buf_append(ps, &ps->data, value, vlen);
        buf_append(ps, &ps->data, "\n", 1);
    }
    else if (field_is(name, nlen, "event")) {
        buf_set(ps, &ps->type, value, vlen);
    }
    else if (field_is(name, nlen, "id")) {
        if (!memchr(value, '\0', vlen)) {
            buf_set(ps, &ps->id, value, vlen);
        }
    }
    else if (field_is(name, nlen, "retry")) {
        apr_int64_t v = retry_value(value, vlen);

        if (v >= 0) {
            ps->retry = ps->ev_retry = v;
        }
    }
    /* Any other field is ignored. */
}

static apr_status_t dispatch(mcp_sse_parser_t *ps)
{
    apr_status_t rv = APR_SUCCESS;

    ps->in_event = 0;
    if (ps->data.len) {
        /* The data buffer always ends with the LF of its last line. */
        ps->data.s[--ps->data.len] = '\0';
        ps->ev.type = ps->type.len ? ps->type.s : "message";
        ps->ev.data = ps->data.s;
        ps->ev.data_len = ps->data.len;
        ps->ev.id = ps->id.len ? ps->id.s : "";
        ps->ev.retry = ps->ev_retry;
        rv = ps->on_event(ps->baton, &ps->ev);
    }
    ps->data.len = 0;
    ps->type.len = 0;
    ps->ev_retry = -1;
    return rv;
}

/* One complete line, without its line end. */
static apr_status_t process_line(mcp_sse_parser_t *ps, const char *s,
                                 apr_size_t n)
{
    const char *colon, *value;
    apr_size_t vlen;

    if (ps->first_line) {
        ps->first_line = 0;
        if (n >= 3 && memcmp(s, bom, 3) == 0) {
            s += 3;
            n -= 3;
        }
    }
    if (n == 0) {
        return dispatch(ps);
    }
    colon = memchr(s, ':', n);
    value = colon ? colon + 1 : s + n;
    vlen = (apr_size_t)(s + n - value);
    if (vlen && *value == ' ') {
        value++;
        vlen--;
    }
    if (colon == s) {
        return ps->on_comment ? ps->on_comment(ps->comment_baton, value, vlen)
                              : APR_SUCCESS;
    }
    ps->in_event = 1;
    process_field(ps, s, colon ? (apr_size_t)(colon - s) : n, value, vlen);
    return APR_SUCCESS;
}

apr_status_t mcp_sse_parser_create(mcp_sse_parser_t **pp, apr_pool_t *p,
                                   apr_size_t max_event,
                                   mcp_sse_event_fn *on_event, void *baton)
{
    mcp_sse_parser_t *ps;

    *pp = NULL;
    if (max_event == 0 || max_event >= APR_SIZE_MAX / 2 || !on_event) {
        return APR_EINVAL;
    }
    ps = apr_pcalloc(p, sizeof(*ps));
    ps->pool = p;
    ps->max = max_event;
    ps->on_event = on_event;
    ps->baton = baton;
    ps->retry = ps->ev_retry = -1;
    ps->first_line = 1;
    *pp = ps;
    return APR_SUCCESS;
}

void mcp_sse_parser_on_comment(mcp_sse_parser_t *ps, mcp_sse_comment_fn *fn,
                               void *baton)
{
    ps->on_comment = fn;
    ps->comment_baton = baton;
}

static apr_status_t feed(mcp_sse_parser_t *ps, const char *buf,
                         apr_size_t len)
{
    apr_size_t pos = 0;
    apr_status_t rv;

    while (pos < len) {
        apr_size_t end = pos;

        if (ps->after_cr) {
            ps->after_cr = 0;
            if (buf[pos] == '\n') {
                pos++;
                continue;
            }
        }
        while (end < len && buf[end] != '\n' && buf[end] != '\r') {
            end++;
        }
        if (ps->data.len + ps->line.len + (end - pos) > ps->max) {
            return MCP_ETOOLARGE;
        }
        if (end == len) {
            /* The line goes on in the next chunk. */
            buf_append(ps, &ps->line, buf + pos, end - pos);
            break;
        }
        ps->after_cr = buf[end] == '\r';
        if (ps->line.len) {
            apr_size_t n;

            buf_append(ps, &ps->line, buf + pos, end - pos);
            n = ps->line.len;
            ps->line.len = 0;
            rv = process_line(ps, ps->line.s, n);
        }
        else {
            rv = process_line(ps, buf + pos, end - pos);
        }
        if (rv != APR_SUCCESS) {
            return rv;
        }
        pos = end + 1;
    }
    return APR_SUCCESS;
}

apr_status_t mcp_sse_parser_feed(mcp_sse_parser_t *ps, const char *buf,
                                 apr_size_t len)
{
    if (ps->status == APR_SUCCESS) {
        ps->status = feed(ps, buf, len);
    }
    return ps->status;
}

apr_status_t mcp_sse_parser_finish(mcp_sse_parser_t *ps)
{
    apr_status_t rv = ps->status;

    if (rv == APR_SUCCESS && (ps->line.len || ps->in_event)) {
        rv = MCP_EPROTO;
    }
    if (ps->status == APR_SUCCESS) {
        ps->status = APR_EOF;
    }
    ps->line.len = ps->data.len = ps->type.len = 0;
    ps->in_event = 0;
    return rv;
}

const char *mcp_sse_parser_last_event_id(const mcp_sse_parser_t *ps)
{
    return ps->id.len ? ps->id.s : "";
}

apr_int64_t mcp_sse_parser_retry(const mcp_sse_parser_t *ps)
{
    return ps->retry;
}

apr_size_t mcp_sse_parser_capacity(const mcp_sse_parser_t *ps)
{
    return ps->line.cap + ps->data.cap + ps->type.cap + ps->id.cap;
}

static apr_status_t sse_fail(const char **perr, const char *msg)
{
    if (perr) {
        *perr = msg;
    }
    return MCP_EINVALID;
}

static int has_line_break(const char *s)
{
    return s && strpbrk(s, "\r\n") != NULL;
}

/* "field: value" and LF at out + *pn. */
static void put_line(char *out, apr_size_t *pn, const char *field,
                     const char *value, apr_size_t vlen)
{
    apr_size_t flen = strlen(field);

    memcpy(out + *pn, field, flen);
    *pn += flen;
    if (vlen) {
        memcpy(out + *pn, value, vlen);
        *pn += vlen;
    }
    out[(*pn)++] = '\n';
}

apr_status_t mcp_sse_format(const char **pout, apr_size_t *plen,
                            apr_pool_t *p, const char *type, const char *id,
                            const char *data, apr_size_t len,
                            const char **perr)
{
    apr_size_t lines = 1, i, start, n = 0;
    char *out;

    *pout = NULL;
    if (has_line_break(type)) {
        return sse_fail(perr, "SSE event type must not hold CR or LF");
    }
    if (has_line_break(id)) {
        return sse_fail(perr, "SSE event id must not hold CR or LF");
    }
    for (i = 0; i < len; i++) {
        if (data[i] == '\n' || (data[i] == '\r' &&
                                (i + 1 == len || data[i + 1] != '\n'))) {
            lines++;
        }
    }
    /* "event: " type LF, "id: " id LF, "data: " LF per line, final LF. */
    out = apr_palloc(p, (type ? strlen(type) + 8 : 0)
                        + (id ? strlen(id) + 5 : 0)
                        + len + lines * 7 + 2);
    if (type) {
        put_line(out, &n, "event: ", type, strlen(type));
    }
    if (id) {
        put_line(out, &n, "id: ", id, strlen(id));
    }
    for (i = start = 0; i <= len; i++) {
        if (i < len && data[i] != '\n' && data[i] != '\r') {
            continue;
        }
        put_line(out, &n, "data: ", data + start, i - start);
        if (i + 1 < len && data[i] == '\r' && data[i + 1] == '\n') {
            i++;
        }
        start = i + 1;
    }
    out[n++] = '\n';
    out[n] = '\0';
    *pout = out;
    if (plen) {
        *plen = n;
    }
    return APR_SUCCESS;
}

apr_status_t mcp_sse_comment(const char **pout, apr_pool_t *p,
                             const char *text, const char **perr)
{
    *pout = NULL;
    if (has_line_break(text)) {
        return sse_fail(perr, "SSE comment must not hold CR or LF");
    }
    *pout = (text && *text) ? apr_pstrcat(p, ": ", text, "\n\n", NULL)
                            : ":\n\n";
    return APR_SUCCESS;
}
