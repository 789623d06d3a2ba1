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

/* Server-Sent Events: the parser against the WHATWG event stream rules,
 * cut into chunks at every byte, its size limit and end-of-stream report,
 * and the writer's round trip through the parser. */

#include <stdio.h>
#include <apr_strings.h>

#include "mcp_test.h"
#include "mcp/mcp_sse.h"

/* What the callbacks saw: one "type|id|retry|data" line per event (data
 * with LF shown as "\n") and one "[text]" per comment. */
typedef struct {
    const char *events;
    const char *comments;
    int n;
    int fail_at;          /* event number whose callback fails, 0: none */
} got_t;

static const char *shown(const char *s, apr_size_t len)
{
    char *out = apr_palloc(tp, len * 2 + 1), *o = out;
    apr_size_t i;

    for (i = 0; i < len; i++) {
        if (s[i] == '\n') {
            *o++ = '\\';
            *o++ = 'n';
        }
        else if (s[i] == '\0') {
            *o++ = '\\';
            *o++ = '0';
        }
        else {
            *o++ = s[i];
        }
    }
    *o = '\0';
    return out;
}

static apr_status_t on_event(void *baton, const mcp_sse_event_t *ev)
{
    got_t *g = baton;

    ck_assert_ptr_nonnull(ev->id);
    ck_assert_int_eq(ev->data[ev->data_len], '\0');
    if (++g->n == g->fail_at) {
        return APR_EGENERAL;
    }
    g->events = apr_psprintf(tp, "%s%s|%s|%" APR_INT64_T_FMT "|%s\n",
                             g->events, ev->type, ev->id, ev->retry,
                             shown(ev->data, ev->data_len));
    return APR_SUCCESS;
}

static apr_status_t on_comment(void *baton, const char *text, apr_size_t len)
{
    got_t *g = baton;

    g->comments = apr_psprintf(tp, "%s[%s]", g->comments, shown(text, len));
    return APR_SUCCESS;
}

static mcp_sse_parser_t *new_parser(got_t *g, apr_size_t max)
{
    mcp_sse_parser_t *ps = NULL;

    memset(g, 0, sizeof(*g));
    g->events = g->comments = "";
    ck_assert_status(mcp_sse_parser_create(&ps, tp, max, on_event, g),
                     APR_SUCCESS);
    mcp_sse_parser_on_comment(ps, on_comment, g);
    return ps;
}

/* The events of @a s (@a len bytes) fed in pieces of @a step bytes (0:
 * whole); the stream must end cleanly. */
static const char *parse_n(const char *s, apr_size_t len, apr_size_t step)
{
    got_t g;
    mcp_sse_parser_t *ps = new_parser(&g, 4096);
    apr_size_t i;

    if (!step) {
        step = len ? len : 1;
    }
    for (i = 0; i < len; i += step) {
        ck_assert_status(mcp_sse_parser_feed(ps, s + i,
                                             len - i < step ? len - i : step),
                         APR_SUCCESS);
    }
    ck_assert_status(mcp_sse_parser_finish(ps), APR_SUCCESS);
    return g.events;
}

/* The events of the string @a s, whole and byte by byte (the same). */
static const char *parse(const char *s)
{
    const char *whole = parse_n(s, strlen(s), 0);

    ck_assert_str_eq(parse_n(s, strlen(s), 1), whole);
    return whole;
}

/* A stream and the events it gives. */
typedef struct {
    const char *stream;
    const char *events;
} sse_case_t;

static void parse_cases(const sse_case_t *cases, apr_size_t n)
{
    apr_size_t i;

    for (i = 0; i < n; i++) {
        const char *got = parse(cases[i].stream);

        ck_assert_msg(strcmp(got, cases[i].events) == 0,
                      "case %d: got '%s', expected '%s'", (int)i + 1, got,
                      cases[i].events);
    }
}

#define PARSE_CASES(c) parse_cases((c), sizeof(c) / sizeof((c)[0]))

START_TEST(line_endings)
{
    static const sse_case_t cases[] = {
        { "data: a\n\n", "message||-1|a\n" },
        { "data: a\r\n\r\n", "message||-1|a\n" },
        { "data: a\r\r", "message||-1|a\n" },
        { "data: a\rdata: b\ndata: c\r\n\r", "message||-1|a\\nb\\nc\n" },
        /* CR CR is two line ends, LF CR two, CR LF one. */
        { "data: a\r\rdata: b\n\rdata: c\r\n\n",
          "message||-1|a\nmessage||-1|b\nmessage||-1|c\n" },
    };

    PARSE_CASES(cases);
}
END_TEST

/* A stream that uses every feature, for the chunking tests. */
static const char stream[] =
    "\xEF\xBB\xBF: hello\r\n"
    "retry: 3000\n"
    "id: 1\r"
    "event: note\r\n"
    "data: first \xC3\xA9 line\r"
    "data:second\n"
    "\r\n"
    "data\n"
    "\n"
    "id:\n"
    "event: empty\n"
    "\n"
    ": ping\r"
    "foo: bar\r\n"
    "id: 2\n"
    "data:  {\"jsonrpc\":\"2.0\"}\r"
    "\r"
    "data: \xE2\x82\xAC\n"
    "\n";

static const char stream_events[] =
    "note|1|3000|first \xC3\xA9 line\\nsecond\n"
    "message|1|-1|\n"
    "message|2|-1| {\"jsonrpc\":\"2.0\"}\n"
    "message|2|-1|\xE2\x82\xAC\n";

START_TEST(every_split_point)
{
    apr_size_t len = sizeof(stream) - 1, i, j;
    const char *whole = parse_n(stream, len, 0);

    ck_assert_str_eq(whole, stream_events);
    for (i = 0; i <= len; i++) {
        got_t g;
        mcp_sse_parser_t *ps = new_parser(&g, 4096);

        ck_assert_status(mcp_sse_parser_feed(ps, stream, i), APR_SUCCESS);
        ck_assert_status(mcp_sse_parser_feed(ps, stream + i, len - i),
                         APR_SUCCESS);
        ck_assert_status(mcp_sse_parser_finish(ps), APR_SUCCESS);
        ck_assert_msg(strcmp(g.events, whole) == 0, "split at %d: %s",
                      (int)i, g.events);
        ck_assert_str_eq(g.comments, "[hello][ping]");
    }
    /* Three pieces, every pair of cut points (empty pieces included),
     * each in a pool of its own so the test's memory stays small. */
    for (i = 0; i <= len; i++) {
        for (j = i; j <= len; j++) {
            apr_pool_t *test_pool = tp;
            got_t g;
            mcp_sse_parser_t *ps;

            apr_pool_create(&tp, test_pool);
            ps = new_parser(&g, 4096);
            mcp_sse_parser_feed(ps, stream, i);
            mcp_sse_parser_feed(ps, stream + i, j - i);
            ck_assert_status(mcp_sse_parser_feed(ps, stream + j, len - j),
                             APR_SUCCESS);
            ck_assert_status(mcp_sse_parser_finish(ps), APR_SUCCESS);
            ck_assert_msg(strcmp(g.events, whole) == 0, "cuts %d %d: %s",
                          (int)i, (int)j, g.events);
            apr_pool_destroy(tp);
            tp = test_pool;
        }
    }
    for (i = 1; i <= 7; i++) {
        ck_assert_str_eq(parse_n(stream, len, i), whole);
    }
}
END_TEST

START_TEST(cr_lf_in_separate_chunks)
{
    got_t g;
    mcp_sse_parser_t *ps = new_parser(&g, 4096);

    ck_assert_str_eq(mcp_sse_parser_last_event_id(ps), "");
    ck_assert_int_eq(mcp_sse_parser_retry(ps), -1);
    /* Were the LF a line end of its own, it would dispatch "a" alone. */
    ck_assert_status(mcp_sse_parser_feed(ps, "data: a\r", 8), APR_SUCCESS);
    ck_assert_status(mcp_sse_parser_feed(ps, "\n", 1), APR_SUCCESS);
    ck_assert_status(mcp_sse_parser_feed(ps, "data: b\r", 8), APR_SUCCESS);
    ck_assert_str_eq(g.events, "");
    ck_assert_status(mcp_sse_parser_feed(ps, "\n\r", 2), APR_SUCCESS);
    ck_assert_str_eq(g.events, "message||-1|a\\nb\n");
    /* An empty chunk between CR and LF changes nothing. */
    ck_assert_status(mcp_sse_parser_feed(ps, "data: c\r", 8), APR_SUCCESS);
    ck_assert_status(mcp_sse_parser_feed(ps, "", 0), APR_SUCCESS);
    ck_assert_status(mcp_sse_parser_feed(ps, "\ndata: d\r", 9), APR_SUCCESS);
    ck_assert_status(mcp_sse_parser_feed(ps, "\n", 1), APR_SUCCESS);
    ck_assert_status(mcp_sse_parser_feed(ps, "\r", 1), APR_SUCCESS);
    ck_assert_status(mcp_sse_parser_feed(ps, "\n", 1), APR_SUCCESS);
    ck_assert_str_eq(g.events, "message||-1|a\\nb\nmessage||-1|c\\nd\n");
    ck_assert_status(mcp_sse_parser_finish(ps), APR_SUCCESS);
}
END_TEST

START_TEST(multi_line_data)
{
    static const sse_case_t cases[] = {
        { "data: a\ndata: b\ndata: c\n\n", "message||-1|a\\nb\\nc\n" },
        /* Empty data lines are empty lines of the data. */
        { "data:\ndata: x\ndata:\ndata:\n\n", "message||-1|\\nx\\n\\n\n" },
        /* Only the last LF goes. */
        { "data: x\ndata:\n\n", "message||-1|x\\n\n" },
    };

    PARSE_CASES(cases);
}
END_TEST

START_TEST(empty_data_not_dispatched)
{
    static const sse_case_t cases[] = {
        /* No data field at all: nothing, and the type is forgotten. */
        { "event: foo\n\ndata: x\n\n", "message||-1|x\n" },
        { "id: 4\nretry: 5\n\n", "" },
        { "\n\n\n", "" },
        /* A data field with an empty value is an event with empty data. */
        { "event: e\ndata\n\n", "e||-1|\n" },
        { "data:\n\n", "message||-1|\n" },
        /* An empty event field gives "message". */
        { "event:\ndata: x\n\n", "message||-1|x\n" },
    };

    PARSE_CASES(cases);
}
END_TEST

/* A parser that was fed the @a len bytes of @a s, which give @a want. */
static mcp_sse_parser_t *parsed(got_t *g, const char *s, apr_size_t len,
                                const char *want)
{
    mcp_sse_parser_t *ps = new_parser(g, 4096);

    ck_assert_status(mcp_sse_parser_feed(ps, s, len), APR_SUCCESS);
    ck_assert_str_eq(g->events, want);
    return ps;
}

START_TEST(id_persists)
{
    got_t g;
    mcp_sse_parser_t *ps;
    static const char s[] =
        "id: 7\ndata: a\n\n"
        "data: b\n\n"
        "id: 8\0x\ndata: c\n\n"          /* NUL: ignored, 7 stays */
        "id: 9\n\n"                      /* no event, but the id is set */
        "data: d\n\n"
        "id\ndata: e\n\n"                /* an empty id resets it */
        "id:  sp\ndata: f\n\n";

    ps = parsed(&g, s, sizeof(s) - 1,
                "message|7|-1|a\n"
                "message|7|-1|b\n"
                "message|7|-1|c\n"
                "message|9|-1|d\n"
                "message||-1|e\n"
                "message| sp|-1|f\n");
    ck_assert_str_eq(mcp_sse_parser_last_event_id(ps), " sp");
    ck_assert_status(mcp_sse_parser_finish(ps), APR_SUCCESS);
}
END_TEST

START_TEST(retry_digits_only)
{
    got_t g;
    mcp_sse_parser_t *ps;
    static const char s[] =
        "retry: 1000\ndata: a\n\n"
        "data: b\n\n"                    /* none in this event */
        "retry: 10a\ndata: c\n\n"
        "retry: -5\ndata: d\n\n"
        "retry:  5\ndata: e\n\n"         /* " 5" after the one space */
        "retry:\ndata: f\n\n"
        "retry: 99999999999999999999\ndata: g\n\n"
        "retry:0\nretry: 42\ndata: h\n\n";

    ps = parsed(&g, s, sizeof(s) - 1,
                "message||1000|a\n"
                "message||-1|b\n"
                "message||-1|c\n"
                "message||-1|d\n"
                "message||-1|e\n"
                "message||-1|f\n"
                "message||-1|g\n"
                "message||42|h\n");
    ck_assert_int_eq(mcp_sse_parser_retry(ps), 42);
    ck_assert_status(mcp_sse_parser_feed(ps, "retry: 7\n\n", 10),
                     APR_SUCCESS);
    ck_assert_int_eq(mcp_sse_parser_retry(ps), 7);
}
END_TEST

static apr_status_t comment_fails(void *baton, const char *text,
                                  apr_size_t len)
{
    (void)baton;
    (void)text;
    (void)len;
    return APR_ECONNABORTED;
}

START_TEST(comments)
{
    got_t g;
    mcp_sse_parser_t *ps = new_parser(&g, 4096);
    static const char s[] =
        ": ping\n:\n:  two\n::x\ndata: a\n: inside\n\n";

    ck_assert_status(mcp_sse_parser_feed(ps, s, sizeof(s) - 1), APR_SUCCESS);
    ck_assert_str_eq(g.comments, "[ping][][ two][:x][inside]");
    ck_assert_str_eq(g.events, "message||-1|a\n");
    /* Comments alone are not an event cut short. */
    ck_assert_status(mcp_sse_parser_feed(ps, ": bye\n", 6), APR_SUCCESS);
    ck_assert_status(mcp_sse_parser_finish(ps), APR_SUCCESS);

    /* Without a comment callback they are ignored. */
    ck_assert_status(mcp_sse_parser_create(&ps, tp, 64, on_event, &g),
                     APR_SUCCESS);
    ck_assert_status(mcp_sse_parser_feed(ps, ": x\ndata: b\n\n", 13),
                     APR_SUCCESS);
    ck_assert_str_eq(g.events, "message||-1|a\nmessage||-1|b\n");

    /* A comment callback's failure stops the parser. */
    mcp_sse_parser_on_comment(ps, comment_fails, NULL);
    ck_assert_status(mcp_sse_parser_feed(ps, ": x\ndata: c\n\n", 13),
                     APR_ECONNABORTED);
    ck_assert_str_eq(g.events, "message||-1|a\nmessage||-1|b\n");
}
END_TEST

START_TEST(byte_order_mark)
{
    static const sse_case_t cases[] = {
        { "\xEF\xBB\xBF" "data: a\n\n", "message||-1|a\n" },
        { "\xEF\xBB\xBF\n" "data: a\n\n", "message||-1|a\n" },
        /* Only one: a second BOM is part of the first field's name. */
        { "\xEF\xBB\xBF\xEF\xBB\xBF" "data: a\n\n", "" },
        /* Only at the start of the stream. */
        { "data: a\n\n\xEF\xBB\xBF" "data: b\n\n", "message||-1|a\n" },
        /* Not a BOM: bytes of a field name (unknown field). */
        { "\xEF\xBB" "data: a\n\n", "" },
    };

    PARSE_CASES(cases);
}
END_TEST

START_TEST(field_without_colon)
{
    static const sse_case_t cases[] = {
        { "data\ndata\n\n", "message||-1|\\n\n" },
        { "event\ndata: x\n\n", "message||-1|x\n" },
        { "event: t\ndata: x\nevent\n\n", "message||-1|x\n" },
        /* Unknown fields, and field names are case-sensitive. */
        { "Data: x\nfoo\nfoo: bar\ndata : y\n\n", "" },
        /* The field ends at the first colon. */
        { "data:a:b\n\n", "message||-1|a:b\n" },
    };

    PARSE_CASES(cases);
}
END_TEST

START_TEST(one_space_stripped)
{
    static const sse_case_t cases[] = {
        { "data:x\n\n", "message||-1|x\n" },
        { "data: x\n\n", "message||-1|x\n" },
        { "data:  x\n\n", "message||-1| x\n" },
        { "data: \n\n", "message||-1|\n" },
        { "data:\tx\n\n", "message||-1|\tx\n" },
        { "event:  t\ndata: x \n\n", " t||-1|x \n" },
    };

    PARSE_CASES(cases);
}
END_TEST

/* "data:" and @a n bytes of 'x', as one line. */
static const char *data_line(apr_size_t n)
{
    char *s = apr_palloc(tp, n + 7);

    memcpy(s, "data:", 5);
    memset(s + 5, 'x', n);
    s[n + 5] = '\n';
    s[n + 6] = '\0';
    return s;
}

/* Feed @a s to a parser with limit @a max, whole or byte by byte. */
static apr_status_t feed_limited(const char *s, apr_size_t max, int bytewise,
                                 got_t *g)
{
    mcp_sse_parser_t *ps = new_parser(g, max);
    apr_size_t i, len = strlen(s);
    apr_status_t rv = APR_SUCCESS;

    if (!bytewise) {
        return mcp_sse_parser_feed(ps, s, len);
    }
    for (i = 0; i < len && rv == APR_SUCCESS; i++) {
        rv = mcp_sse_parser_feed(ps, s + i, 1);
    }
    return rv;
}

START_TEST(max_event_size)
{
    got_t g;
    mcp_sse_parser_t *ps;
    int bytewise;
    char big[200];

    for (bytewise = 0; bytewise <= 1; bytewise++) {
        /* One line of exactly 100 bytes fits a limit of 100. */
        ck_assert_status(feed_limited(apr_pstrcat(tp, data_line(95), "\n",
                                                  NULL), 100, bytewise, &g),
                         APR_SUCCESS);
        ck_assert_int_eq(g.n, 1);
        ck_assert_status(feed_limited(apr_pstrcat(tp, data_line(96), "\n",
                                                  NULL), 100, bytewise, &g),
                         MCP_ETOOLARGE);
        ck_assert_int_eq(g.n, 0);
        /* Data so far (46 bytes) plus the line being read (54). */
        ck_assert_status(feed_limited(apr_pstrcat(tp, data_line(45),
                                                  data_line(49), "\n", NULL),
                                      100, bytewise, &g), APR_SUCCESS);
        ck_assert_int_eq(g.n, 1);
        ck_assert_uint_eq(strlen(g.events), 12 + 45 + 2 + 49 + 1);
        ck_assert_status(feed_limited(apr_pstrcat(tp, data_line(45),
                                                  data_line(50), "\n", NULL),
                                      100, bytewise, &g), MCP_ETOOLARGE);
        /* The limit is per event: many events of 60 bytes each pass. */
        ck_assert_status(feed_limited(apr_pstrcat(tp, data_line(55), "\n",
                                                  data_line(55), "\n",
                                                  data_line(55), "\n", NULL),
                                      100, bytewise, &g), APR_SUCCESS);
        ck_assert_int_eq(g.n, 3);
    }

    /* Empty data lines add up: 97 LFs and a 4-byte line make 101. */
    ps = new_parser(&g, 100);
    for (bytewise = 0; bytewise < 97; bytewise++) {
        ck_assert_status(mcp_sse_parser_feed(ps, "data\n", 5), APR_SUCCESS);
    }
    ck_assert_status(mcp_sse_parser_feed(ps, "data\n", 5), MCP_ETOOLARGE);
    /* A line that never ends is cut too. */
    ps = new_parser(&g, 100);
    memset(big, ':', sizeof(big));
    ck_assert_status(mcp_sse_parser_feed(ps, big, 100), APR_SUCCESS);
    ck_assert_status(mcp_sse_parser_feed(ps, big, 1), MCP_ETOOLARGE);
    /* Refused for good, finish included. */
    ck_assert_status(mcp_sse_parser_feed(ps, "\n", 1), MCP_ETOOLARGE);
    ck_assert_status(mcp_sse_parser_finish(ps), MCP_ETOOLARGE);
    ck_assert_uint_le(mcp_sse_parser_capacity(ps), 4 * 101);

    ck_assert_status(mcp_sse_parser_create(&ps, tp, 0, on_event, &g),
                     APR_EINVAL);
    ck_assert_ptr_null(ps);
    ck_assert_status(mcp_sse_parser_create(&ps, tp, 10, NULL, &g),
                     APR_EINVAL);
}
END_TEST

static apr_status_t finish_after(const char *s)
{
    got_t g;
    mcp_sse_parser_t *ps = new_parser(&g, 4096);

    ck_assert_status(mcp_sse_parser_feed(ps, s, strlen(s)), APR_SUCCESS);
    return mcp_sse_parser_finish(ps);
}

START_TEST(finish_reports_partial_event)
{
    got_t g;
    mcp_sse_parser_t *ps = new_parser(&g, 4096);

    ck_assert_status(mcp_sse_parser_feed(ps, "data: a\n\ndata: b\n", 17),
                     APR_SUCCESS);
    ck_assert_status(mcp_sse_parser_finish(ps), MCP_EPROTO);
    ck_assert_str_eq(g.events, "message||-1|a\n");
    /* Finished: no more input. */
    ck_assert_status(mcp_sse_parser_feed(ps, "\n", 1), APR_EOF);
    ck_assert_str_eq(g.events, "message||-1|a\n");

    ck_assert_status(finish_after(""), APR_SUCCESS);
    ck_assert_status(finish_after("data: a\n\n"), APR_SUCCESS);
    ck_assert_status(finish_after("data: a\r\n\r"), APR_SUCCESS);
    ck_assert_status(finish_after("data: a\n\n: ping\n"), APR_SUCCESS);
    ck_assert_status(finish_after("data: a"), MCP_EPROTO);
    ck_assert_status(finish_after("data: a\n\nid: 3\n"), MCP_EPROTO);
    ck_assert_status(finish_after("data: a\n\nfoo\n"), MCP_EPROTO);
    ck_assert_status(finish_after("data: a\n\n: pi"), MCP_EPROTO);
    ck_assert_status(finish_after("\xEF\xBB"), MCP_EPROTO);
}
END_TEST

START_TEST(callback_error_stops)
{
    got_t g;
    mcp_sse_parser_t *ps = new_parser(&g, 4096);
    static const char s[] = "data: a\n\ndata: b\n\ndata: c\n\n";

    g.fail_at = 2;
    ck_assert_status(mcp_sse_parser_feed(ps, s, sizeof(s) - 1), APR_EGENERAL);
    ck_assert_int_eq(g.n, 2);
    ck_assert_str_eq(g.events, "message||-1|a\n");
    ck_assert_status(mcp_sse_parser_feed(ps, "data: d\n\n", 9), APR_EGENERAL);
    ck_assert_int_eq(g.n, 2);
    ck_assert_status(mcp_sse_parser_finish(ps), APR_EGENERAL);
}
END_TEST

/* Format, parse, and compare with @a want (the "type|id|retry|data"). */
static void round_trip(const char *type, const char *id, const char *data,
                       apr_size_t len, const char *want)
{
    const char *out = NULL, *err = NULL;
    apr_size_t olen = 0;

    ck_assert_status(mcp_sse_format(&out, &olen, tp, type, id, data, len,
                                    &err), APR_SUCCESS);
    ck_assert_ptr_nonnull(out);
    ck_assert_int_eq(out[olen], '\0');
    ck_assert_str_eq(parse_n(out, olen, 0), want);
    ck_assert_str_eq(parse_n(out, olen, 1), want);
}

START_TEST(format_round_trip)
{
    const char *out;
    apr_size_t len;

    ck_assert_status(mcp_sse_format(&out, &len, tp, NULL, NULL, "x", 1, NULL),
                     APR_SUCCESS);
    ck_assert_str_eq(out, "data: x\n\n");
    ck_assert_uint_eq(len, 9);
    ck_assert_status(mcp_sse_format(&out, NULL, tp, "message", "42",
                                    "a\r\nb", 4, NULL), APR_SUCCESS);
    ck_assert_str_eq(out, "event: message\nid: 42\ndata: a\ndata: b\n\n");

    round_trip(NULL, NULL, "{\"jsonrpc\":\"2.0\"}", 17,
               "message||-1|{\"jsonrpc\":\"2.0\"}\n");
    round_trip("note", "7", "a\rb\nc\r\nd", 8, "note|7|-1|a\\nb\\nc\\nd\n");
    round_trip("", "", "", 0, "message||-1|\n");
    round_trip(NULL, NULL, NULL, 0, "message||-1|\n");
    round_trip(NULL, NULL, "\n", 1, "message||-1|\\n\n");
    round_trip(NULL, NULL, "x\r\n", 3, "message||-1|x\\n\n");
    round_trip(NULL, NULL, "x\r", 2, "message||-1|x\\n\n");
    round_trip(NULL, NULL, "\r\n\r\n", 4, "message||-1|\\n\\n\n");
    round_trip(NULL, NULL, "\n\r", 2, "message||-1|\\n\\n\n");
    round_trip(" t", " 1", "  lead", 6, " t| 1|-1|  lead\n");
    round_trip("t:x", "a:b", ":colon", 6, "t:x|a:b|-1|:colon\n");
    round_trip(NULL, NULL, "a\0b", 3, "message||-1|a\\0b\n");
    round_trip(NULL, "\xC3\xA9", "\xE2\x82\xAC", 3,
               "message|\xC3\xA9|-1|\xE2\x82\xAC\n");
}
END_TEST

START_TEST(format_refuses_line_breaks)
{
    const char *out = "x", *err = NULL;

    ck_assert_status(mcp_sse_format(&out, NULL, tp, "a\nb", NULL, "x", 1,
                                    &err), MCP_EINVALID);
    ck_assert_ptr_null(out);
    ck_assert_ptr_nonnull(strstr(err, "type"));
    ck_assert_status(mcp_sse_format(&out, NULL, tp, "a\r", NULL, "x", 1,
                                    NULL), MCP_EINVALID);
    err = NULL;
    ck_assert_status(mcp_sse_format(&out, NULL, tp, NULL, "1\r", "x", 1,
                                    &err), MCP_EINVALID);
    ck_assert_ptr_nonnull(strstr(err, "id"));
    ck_assert_status(mcp_sse_format(&out, NULL, tp, NULL, "\n1", "x", 1,
                                    NULL), MCP_EINVALID);

    ck_assert_status(mcp_sse_comment(&out, tp, "keep-alive", NULL),
                     APR_SUCCESS);
    ck_assert_str_eq(out, ": keep-alive\n\n");
    ck_assert_status(mcp_sse_comment(&out, tp, NULL, NULL), APR_SUCCESS);
    ck_assert_str_eq(out, ":\n\n");
    ck_assert_status(mcp_sse_comment(&out, tp, "", NULL), APR_SUCCESS);
    ck_assert_str_eq(out, ":\n\n");
    err = NULL;
    ck_assert_status(mcp_sse_comment(&out, tp, "a\nb", &err), MCP_EINVALID);
    ck_assert_ptr_null(out);
    ck_assert_ptr_nonnull(err);
    ck_assert_status(mcp_sse_comment(&out, tp, "a\r", NULL), MCP_EINVALID);
}
END_TEST

START_TEST(comment_round_trip)
{
    got_t g;
    mcp_sse_parser_t *ps = new_parser(&g, 4096);
    const char *out;

    ck_assert_status(mcp_sse_comment(&out, tp, " two", NULL), APR_SUCCESS);
    ck_assert_status(mcp_sse_parser_feed(ps, out, strlen(out)), APR_SUCCESS);
    ck_assert_status(mcp_sse_comment(&out, tp, NULL, NULL), APR_SUCCESS);
    ck_assert_status(mcp_sse_parser_feed(ps, out, strlen(out)), APR_SUCCESS);
    ck_assert_str_eq(g.comments, "[ two][]");
    ck_assert_str_eq(g.events, "");
    ck_assert_status(mcp_sse_parser_finish(ps), APR_SUCCESS);
}
END_TEST

static apr_status_t count_event(void *baton, const mcp_sse_event_t *ev)
{
    (void)ev;
    ++*(long *)baton;
    return APR_SUCCESS;
}

/* Feed @a n events, each cut in two at a different place. */
static void feed_events(mcp_sse_parser_t *ps, long from, long n)
{
    char ev[128];
    long i;

    for (i = from; i < from + n; i++) {
        int len = snprintf(ev, sizeof(ev), ": k\nid: %ld\nevent: e\r\n"
                           "data: {\"n\":%ld}\r\ndata: x\r\n\r\n", i, i);
        int cut = (int)(i % len);

        ck_assert_status(mcp_sse_parser_feed(ps, ev, cut), APR_SUCCESS);
        ck_assert_status(mcp_sse_parser_feed(ps, ev + cut, len - cut),
                         APR_SUCCESS);
    }
}

START_TEST(memory_stays_flat)
{
    apr_pool_t *sub;
    mcp_sse_parser_t *ps;
    long count = 0;
    apr_size_t cap;
    void *before, *after;

    /* The parser alone in a subpool: after a warm-up, 100000 more events
     * must neither grow its buffers nor take a new block from the pool (a
     * probe allocation would then land past a new block). */
    apr_pool_create(&sub, tp);
    ck_assert_status(mcp_sse_parser_create(&ps, sub, 1024, count_event,
                                           &count), APR_SUCCESS);
    feed_events(ps, 0, 1000);
    cap = mcp_sse_parser_capacity(ps);
    ck_assert_uint_le(cap, 4 * 1025);
    before = apr_palloc(sub, 1);
    feed_events(ps, 1000, 100000);
    after = apr_palloc(sub, 1);
    ck_assert_int_eq(count, 101000);
    ck_assert_uint_eq(mcp_sse_parser_capacity(ps), cap);
    ck_assert_msg((char *)after > (char *)before &&
                  (char *)after - (char *)before < 64,
                  "the pool grew between events");
    ck_assert_str_eq(mcp_sse_parser_last_event_id(ps), "100999");
    ck_assert_status(mcp_sse_parser_finish(ps), APR_SUCCESS);
    apr_pool_destroy(sub);
}
END_TEST

static Suite *sse_suite(void)
{
    Suite *s = suite_create("sse");
    TCase *tc;

    tc = mcp_tcase("lines");
    tcase_add_test(tc, line_endings);
    tcase_add_test(tc, every_split_point);
    tcase_add_test(tc, cr_lf_in_separate_chunks);
    tcase_add_test(tc, byte_order_mark);
    tcase_add_test(tc, comments);
    suite_add_tcase(s, tc);
    tc = mcp_tcase("fields");
    tcase_add_test(tc, multi_line_data);
    tcase_add_test(tc, empty_data_not_dispatched);
    tcase_add_test(tc, id_persists);
    tcase_add_test(tc, retry_digits_only);
    tcase_add_test(tc, field_without_colon);
    tcase_add_test(tc, one_space_stripped);
    suite_add_tcase(s, tc);
    tc = mcp_tcase("limits");
    tcase_add_test(tc, max_event_size);
    tcase_add_test(tc, finish_reports_partial_event);
    tcase_add_test(tc, callback_error_stops);
    tcase_add_test(tc, memory_stays_flat);
    suite_add_tcase(s, tc);
    tc = mcp_tcase("writer");
    tcase_add_test(tc, format_round_trip);
    tcase_add_test(tc, format_refuses_line_breaks);
    tcase_add_test(tc, comment_round_trip);
    suite_add_tcase(s, tc);
    return s;
}

MCP_TEST_MAIN(sse_suite)
