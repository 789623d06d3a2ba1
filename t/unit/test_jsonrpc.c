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

#include <stdio.h>
#include <apr_strings.h>
#include <apr_time.h>

#include "mcp_test.h"
#include "mcp/mcp_jsonrpc.h"

static mcp_jsonrpc_msg_t *parse_ok(const char *text)
{
    mcp_jsonrpc_msg_t *msg = NULL, *err = NULL;
    apr_status_t rv = mcp_jsonrpc_parse(&msg, tp, text, strlen(text), NULL, &err);

    ck_assert_msg(rv == APR_SUCCESS, "parse of '%s' failed: %s", text,
                  err ? err->error_message : "?");
    ck_assert_ptr_nonnull(msg);
    ck_assert_ptr_null(err);
    return msg;
}

/* An error response must itself be a valid message: serialize it, parse it
 * back and compare. */
static void check_error_msg(const mcp_jsonrpc_msg_t *err, apr_int64_t code)
{
    mcp_jsonrpc_msg_t *back = NULL, *err2 = NULL;
    const char *text;
    apr_size_t len, i;

    ck_assert_ptr_nonnull(err);
    ck_assert_int_eq(err->kind, MCP_JSONRPC_ERROR);
    ck_assert_int_eq(err->error_code, code);
    ck_assert_ptr_nonnull(err->error_message);
    ck_assert_int_gt(strlen(err->error_message), 0);
    text = mcp_jsonrpc_dump(tp, err, &len);
    ck_assert_ptr_nonnull(text);
    ck_assert_uint_eq(strlen(text), len);
    ck_assert_status(mcp_jsonrpc_parse(&back, tp, text, len, NULL, &err2),
                     APR_SUCCESS);
    ck_assert_int_eq(back->kind, MCP_JSONRPC_ERROR);
    ck_assert_int_eq(back->error_code, code);
    ck_assert_str_eq(back->error_message, err->error_message);
    ck_assert(mcp_jsonrpc_id_equal(&back->id, &err->id));
    /* Messages we make are printable ASCII: no input bytes leak through. */
    for (i = 0; err->error_message[i]; i++) {
        ck_assert_msg((unsigned char)err->error_message[i] >= 0x20
                      && (unsigned char)err->error_message[i] < 0x7f,
                      "byte 0x%02x in error message",
                      (unsigned char)err->error_message[i]);
    }
}

/* Parse something invalid; check status, code, message and the answer's id
 * (as mcp_jsonrpc_id_key()). Returns the error response. */
static mcp_jsonrpc_msg_t *parse_bad(const char *text, apr_size_t len,
                                    const mcp_jsonrpc_limits_t *lim,
                                    apr_status_t want_rv, const char *want_msg,
                                    const char *want_id)
{
    mcp_jsonrpc_msg_t *msg = (mcp_jsonrpc_msg_t *)1, *err = NULL;
    apr_status_t rv = mcp_jsonrpc_parse(&msg, tp, text, len, lim, &err);

    ck_assert_msg(rv == want_rv, "'%.200s': status %s, expected %s",
                  text ? text : "(null)",
                  mcp_strerror(tp, rv), mcp_strerror(tp, want_rv));
    ck_assert_ptr_null(msg);
    check_error_msg(err, rv == MCP_EPARSE ? MCP_JSONRPC_PARSE_ERROR
                                          : MCP_JSONRPC_INVALID_REQUEST);
    if (want_msg) {
        ck_assert_msg(strstr(err->error_message, want_msg) != NULL,
                      "'%.200s': message '%s' lacks '%s'", text ? text : "(null)",
                      err->error_message, want_msg);
    }
    if (want_id) {
        ck_assert_str_eq(mcp_jsonrpc_id_key(tp, &err->id), want_id);
    }
    return err;
}

#define BAD(text, rv, m, id) parse_bad((text), strlen(text), NULL, (rv), (m), (id))

/* The "id" member of a serialized message, as JSON text. */
static const char *id_text_of(const char *text)
{
    mcp_json_t *j = NULL;
    const char *err = NULL;

    ck_assert_status(mcp_json_parse(&j, tp, text, strlen(text), NULL, &err),
                     APR_SUCCESS);
    return mcp_json_dump(tp, mcp_json_get(tp, j, "id"), 0, NULL);
}

START_TEST(classify_request)
{
    mcp_jsonrpc_msg_t *m;

    m = parse_ok("{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"tools/call\","
                 "\"params\":{\"name\":\"x\"}}");
    ck_assert_int_eq(m->kind, MCP_JSONRPC_REQUEST);
    ck_assert_int_eq(m->id.type, MCP_JSONRPC_ID_INT);
    ck_assert_int_eq(m->id.num, 7);
    ck_assert_str_eq(m->method, "tools/call");
    ck_assert(mcp_json_is_object(m->params));
    ck_assert_str_eq(mcp_json_get_str(tp, m->params, "name"), "x");
    ck_assert_ptr_null(m->result);
    ck_assert_ptr_null(m->batch);

    m = parse_ok("{\"jsonrpc\":\"2.0\",\"id\":\"abc\",\"method\":\"ping\"}");
    ck_assert_int_eq(m->kind, MCP_JSONRPC_REQUEST);
    ck_assert_int_eq(m->id.type, MCP_JSONRPC_ID_STRING);
    ck_assert_str_eq(m->id.str, "abc");
    ck_assert_ptr_null(m->params);

    m = parse_ok(" {\"method\":\"sum\",\"params\":[1,2],\"id\":0,\"jsonrpc\":\"2.0\"} ");
    ck_assert_int_eq(m->kind, MCP_JSONRPC_REQUEST);
    ck_assert(mcp_json_is_array(m->params));
    ck_assert_uint_eq(mcp_json_size(m->params), 2);
}
END_TEST

START_TEST(classify_notification)
{
    mcp_jsonrpc_msg_t *m;

    m = parse_ok("{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}");
    ck_assert_int_eq(m->kind, MCP_JSONRPC_NOTIFICATION);
    ck_assert_int_eq(m->id.type, MCP_JSONRPC_ID_NONE);
    ck_assert_str_eq(m->method, "notifications/initialized");
    ck_assert_ptr_null(m->params);

    m = parse_ok("{\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\","
                 "\"params\":{\"progress\":1}}");
    ck_assert_int_eq(m->kind, MCP_JSONRPC_NOTIFICATION);
    ck_assert(mcp_json_is_object(m->params));
}
END_TEST

START_TEST(classify_responses)
{
    mcp_jsonrpc_msg_t *m;

    m = parse_ok("{\"jsonrpc\":\"2.0\",\"id\":3,\"result\":{\"tools\":[]}}");
    ck_assert_int_eq(m->kind, MCP_JSONRPC_RESULT);
    ck_assert_int_eq(m->id.num, 3);
    ck_assert(mcp_json_is_object(m->result));
    ck_assert_ptr_null(m->method);

    /* Any JSON value is a result, null included. */
    m = parse_ok("{\"jsonrpc\":\"2.0\",\"id\":\"q\",\"result\":null}");
    ck_assert_int_eq(m->kind, MCP_JSONRPC_RESULT);
    ck_assert(mcp_json_is_null(m->result));

    m = parse_ok("{\"jsonrpc\":\"2.0\",\"id\":\"r1\",\"error\":{\"code\":-32601,"
                 "\"message\":\"Method not found\",\"data\":{\"m\":\"x\"}}}");
    ck_assert_int_eq(m->kind, MCP_JSONRPC_ERROR);
    ck_assert_str_eq(m->id.str, "r1");
    ck_assert_int_eq(m->error_code, MCP_JSONRPC_METHOD_NOT_FOUND);
    ck_assert_str_eq(m->error_message, "Method not found");
    ck_assert(mcp_json_is_object(m->error_data));

    /* An error may carry a null id (answer to an unreadable message). */
    m = parse_ok("{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":-32700,"
                 "\"message\":\"Parse error\"}}");
    ck_assert_int_eq(m->kind, MCP_JSONRPC_ERROR);
    ck_assert_int_eq(m->id.type, MCP_JSONRPC_ID_NULL);
    ck_assert_ptr_null(m->error_data);
    ck_assert_str_eq(mcp_jsonrpc_kind_name(m->kind), "error");
}
END_TEST

START_TEST(unknown_members_tolerated)
{
    const char *text = "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"x\","
                       "\"extra\":[1,{\"y\":null}],\"_meta\":{}}";
    mcp_jsonrpc_msg_t *m = parse_ok(text);

    ck_assert_int_eq(m->kind, MCP_JSONRPC_REQUEST);
    /* Relayed unchanged, unknown members included. */
    ck_assert_str_eq(mcp_jsonrpc_dump(tp, m, NULL), text);
}
END_TEST

START_TEST(not_nul_terminated)
{
    const char *text = "{\"jsonrpc\":\"2.0\",\"method\":\"a\"}";
    apr_size_t len = strlen(text);
    char *buf = apr_palloc(tp, len + 4);
    mcp_jsonrpc_msg_t *m = NULL, *err = NULL;

    memcpy(buf, text, len);
    memcpy(buf + len, "}}}x", 4);
    ck_assert_status(mcp_jsonrpc_parse(&m, tp, buf, len, NULL, &err), APR_SUCCESS);
    ck_assert_int_eq(m->kind, MCP_JSONRPC_NOTIFICATION);
}
END_TEST

/* Every way a JSON value can fail to be a message, with the message the
 * client gets and the id its answer carries. */
START_TEST(invalid_shapes)
{
    static const struct {
        const char *text, *msg, *id;
    } cases[] = {
        { "{\"id\":1,\"method\":\"x\"}", "\"jsonrpc\" must be \"2.0\"", "i:1" },
        { "{\"jsonrpc\":\"1.0\",\"id\":\"a\",\"method\":\"x\"}",
          "\"jsonrpc\" must be \"2.0\"", "s:a" },
        { "{\"jsonrpc\":2.0,\"id\":2,\"method\":\"x\"}",
          "\"jsonrpc\" must be \"2.0\"", "i:2" },
        { "{\"jsonrpc\":\"2.0 \",\"method\":\"x\"}", "\"jsonrpc\" must be \"2.0\"", "null" },
        { "{\"jsonrpc\":\"2\",\"method\":\"x\"}", "\"jsonrpc\" must be \"2.0\"", "null" },
        { "{\"jsonrpc\":null,\"method\":\"x\"}", "\"jsonrpc\" must be \"2.0\"", "null" },
        { "{\"jsonrpc\":\"2.0\",\"id\":null,\"method\":\"x\"}",
          "\"id\" must be a string or an integer, not null", "null" },
        { "{\"jsonrpc\":\"2.0\",\"id\":1.5,\"method\":\"x\"}",
          "\"id\" must be a string or an integer, not number", "null" },
        { "{\"jsonrpc\":\"2.0\",\"id\":1.0,\"method\":\"x\"}",
          "\"id\" must be a string or an integer, not number", "null" },
        { "{\"jsonrpc\":\"2.0\",\"id\":1e3,\"method\":\"x\"}",
          "\"id\" must be a string or an integer, not number", "null" },
        { "{\"jsonrpc\":\"2.0\",\"id\":true,\"method\":\"x\"}",
          "\"id\" must be a string or an integer, not boolean", "null" },
        { "{\"jsonrpc\":\"2.0\",\"id\":{\"a\":1},\"method\":\"x\"}",
          "\"id\" must be a string or an integer, not object", "null" },
        { "{\"jsonrpc\":\"2.0\",\"id\":[1],\"method\":\"x\"}",
          "\"id\" must be a string or an integer, not array", "null" },
        { "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":1}",
          "\"method\" must be a non-empty string", "i:1" },
        { "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"\"}",
          "\"method\" must be a non-empty string", "i:1" },
        { "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":null}",
          "\"method\" must be a non-empty string", "i:1" },
        { "{\"jsonrpc\":\"2.0\",\"method\":[\"x\"]}",
          "\"method\" must be a non-empty string", "null" },
        { "{\"jsonrpc\":\"2.0\",\"id\":\"p\",\"method\":\"x\",\"params\":\"s\"}",
          "\"params\" must be an object or an array, not string", "s:p" },
        { "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"x\",\"params\":null}",
          "\"params\" must be an object or an array, not null", "i:1" },
        { "{\"jsonrpc\":\"2.0\",\"method\":\"x\",\"params\":3}",
          "\"params\" must be an object or an array, not integer", "null" },
        { "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"x\",\"result\":{}}",
          "a request must not have \"result\" or \"error\"", "i:1" },
        { "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"x\",\"error\":{}}",
          "a request must not have \"result\" or \"error\"", "i:1" },
        { "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{},\"error\":{\"code\":1,"
          "\"message\":\"m\"}}",
          "a response must not have both \"result\" and \"error\"", "i:1" },
        { "{\"jsonrpc\":\"2.0\",\"id\":1}",
          "a message must have \"method\", \"result\" or \"error\"", "i:1" },
        { "{\"jsonrpc\":\"2.0\"}",
          "a message must have \"method\", \"result\" or \"error\"", "null" },
        { "{}", "\"jsonrpc\" must be \"2.0\"", "null" },
        { "{\"jsonrpc\":\"2.0\",\"result\":{}}", "a response must have an \"id\"", "null" },
        { "{\"jsonrpc\":\"2.0\",\"error\":{\"code\":1,\"message\":\"m\"}}",
          "a response must have an \"id\"", "null" },
        { "{\"jsonrpc\":\"2.0\",\"id\":null,\"result\":{}}",
          "\"id\" must be a string or an integer, not null", "null" },
        { "{\"jsonrpc\":\"2.0\",\"id\":false,\"result\":{}}",
          "\"id\" must be a string or an integer, not boolean", "null" },
        { "{\"jsonrpc\":\"2.0\",\"id\":2.5,\"error\":{\"code\":1,\"message\":\"m\"}}",
          "\"id\" must be a string or an integer, not number", "null" },
        { "{\"jsonrpc\":\"2.0\",\"id\":4,\"error\":\"boom\"}",
          "\"error\" must be an object, not string", "i:4" },
        { "{\"jsonrpc\":\"2.0\",\"id\":4,\"error\":null}",
          "\"error\" must be an object, not null", "i:4" },
        { "{\"jsonrpc\":\"2.0\",\"id\":4,\"error\":{\"message\":\"m\"}}",
          "\"error.code\" must be an integer", "i:4" },
        { "{\"jsonrpc\":\"2.0\",\"id\":4,\"error\":{\"code\":\"1\",\"message\":\"m\"}}",
          "\"error.code\" must be an integer", "i:4" },
        { "{\"jsonrpc\":\"2.0\",\"id\":4,\"error\":{\"code\":1.5,\"message\":\"m\"}}",
          "\"error.code\" must be an integer", "i:4" },
        { "{\"jsonrpc\":\"2.0\",\"id\":4,\"error\":{\"code\":1}}",
          "\"error.message\" must be a string", "i:4" },
        { "{\"jsonrpc\":\"2.0\",\"id\":4,\"error\":{\"code\":1,\"message\":7}}",
          "\"error.message\" must be a string", "i:4" },
        { "1", "a message must be a JSON object, not integer", "null" },
        { "\"x\"", "a message must be a JSON object, not string", "null" },
        { "null", "a message must be a JSON object, not null", "null" },
        { "true", "a message must be a JSON object, not boolean", "null" },
        { "2.5", "a message must be a JSON object, not number", "null" },
    };
    apr_size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        mcp_jsonrpc_msg_t *err = BAD(cases[i].text, MCP_EINVALID, cases[i].msg,
                                     cases[i].id);
        ck_assert_msg(strncmp(err->error_message, "Invalid Request: ", 17) == 0,
                      "%s", err->error_message);
    }
}
END_TEST

START_TEST(parse_errors)
{
    static const char *bad[] = {
        "", " ", "{", "[", "{\"jsonrpc\":\"2.0\",}", "{'jsonrpc':'2.0'}",
        "{\"jsonrpc\":\"2.0\"}x", "nul", "\xff\xfe", "{\"a\":\"\xc3\x28\"}",
        "{\"jsonrpc\":\"2.0\",\"method\":\"a\\u0000b\"}",
        /* duplicate keys would be ambiguous between us and a backend */
        "{\"jsonrpc\":\"2.0\",\"method\":\"a\",\"method\":\"b\"}",
        /* beyond 64 bits: valid JSON that jansson cannot hold */
        "{\"jsonrpc\":\"2.0\",\"id\":99999999999999999999,\"method\":\"a\"}",
    };
    apr_size_t i;
    mcp_jsonrpc_msg_t *err;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err = BAD(bad[i], MCP_EPARSE, "Parse error: ", "null");
    }
    /* The parser's position is in the message. */
    err = BAD("{\"jsonrpc\":\"2.0\",}", MCP_EPARSE, "line 1, column", "null");
    err = BAD("{\n\"jsonrpc\":\n\"2.0\" x}", MCP_EPARSE, "line 3", "null");
    (void)err;

    /* A NULL buffer is empty input, not a crash. */
    parse_bad(NULL, 0, NULL, MCP_EPARSE, "Parse error", "null");
    /* Without perror the status alone comes back. */
    {
        mcp_jsonrpc_msg_t *m = NULL;
        ck_assert_status(mcp_jsonrpc_parse(&m, tp, "{", 1, NULL, NULL), MCP_EPARSE);
        ck_assert_status(mcp_jsonrpc_parse(&m, tp, "{}", 2, NULL, NULL), MCP_EINVALID);
        ck_assert_ptr_null(m);
    }
}
END_TEST

/* Each id type survives the way back exactly: parse a request, answer it
 * with its own id, and compare the serialized ids. */
START_TEST(ids_preserved)
{
    static const char *ids[] = {
        "1", "\"1\"", "0", "-1", "\"\"", "9223372036854775807",
        "-9223372036854775808", "\"9223372036854775808\"",
        "\"caf\xc3\xa9 \xf0\x9f\x98\x80\"", "\"\\u00e9\\ud83d\\ude00\"",
        "\"tab\\there \\\"quoted\\\" \\\\\"", "\"01\"", "\"1.0\"",
    };
    apr_size_t i;

    for (i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
        const char *req = apr_psprintf(tp, "{\"jsonrpc\":\"2.0\",\"id\":%s,"
                                       "\"method\":\"m\"}", ids[i]);
        const char *bad = apr_psprintf(tp, "{\"jsonrpc\":\"1.0\",\"id\":%s,"
                                       "\"method\":\"m\"}", ids[i]);
        mcp_jsonrpc_msg_t *m = parse_ok(req), *res = NULL, *err;
        const char *want = id_text_of(req);

        ck_assert_status(mcp_jsonrpc_result_create(&res, tp, &m->id, NULL),
                         APR_SUCCESS);
        ck_assert_str_eq(id_text_of(mcp_jsonrpc_dump(tp, res, NULL)), want);
        ck_assert_status(mcp_jsonrpc_error_create(&res, tp, &m->id, -32603,
                                                  "x", NULL), APR_SUCCESS);
        ck_assert_str_eq(id_text_of(mcp_jsonrpc_dump(tp, res, NULL)), want);
        /* The answer to an invalid request keeps its id too. */
        err = BAD(bad, MCP_EINVALID, "\"jsonrpc\"", NULL);
        ck_assert_str_eq(id_text_of(mcp_jsonrpc_dump(tp, err, NULL)), want);
        ck_assert(mcp_jsonrpc_id_equal(&err->id, &m->id));
    }

    /* "1" and 1 are different ids. */
    {
        mcp_jsonrpc_msg_t *a = parse_ok("{\"jsonrpc\":\"2.0\",\"id\":\"1\",\"method\":\"m\"}");
        mcp_jsonrpc_msg_t *b = parse_ok("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"m\"}");
        ck_assert(!mcp_jsonrpc_id_equal(&a->id, &b->id));
        ck_assert_str_eq(mcp_jsonrpc_id_key(tp, &a->id), "s:1");
        ck_assert_str_eq(mcp_jsonrpc_id_key(tp, &b->id), "i:1");
        ck_assert_int_eq(b->id.num, 1);
    }
    {
        mcp_jsonrpc_msg_t *big = parse_ok("{\"jsonrpc\":\"2.0\",\"id\":"
                                          "-9223372036854775808,\"method\":\"m\"}");
        ck_assert(big->id.num == INT64_MIN);
        ck_assert_str_eq(mcp_jsonrpc_id_key(tp, &big->id), "i:-9223372036854775808");
    }
}
END_TEST

START_TEST(id_helpers)
{
    mcp_jsonrpc_id_t a, b, c, none;
    apr_pool_t *sub;
    char *s;
    const char *log;

    memset(&none, 0, sizeof(none));
    mcp_jsonrpc_id_from_int(&a, 42);
    ck_assert_str_eq(mcp_jsonrpc_id_key(tp, &a), "i:42");
    ck_assert_str_eq(mcp_jsonrpc_id_key(tp, &none), "none");
    ck_assert_str_eq(mcp_jsonrpc_id_key(tp, NULL), "none");
    ck_assert(mcp_jsonrpc_id_equal(&none, NULL));
    ck_assert(!mcp_jsonrpc_id_equal(&a, NULL));

    /* A copy outlives the pool of its source. */
    apr_pool_create(&sub, tp);
    s = apr_pstrdup(sub, "req-\xc3\xa9");
    mcp_jsonrpc_id_from_str(&b, s);
    mcp_jsonrpc_id_copy(&c, tp, &b);
    ck_assert(mcp_jsonrpc_id_equal(&b, &c));
    ck_assert_ptr_ne(b.str, c.str);
    apr_pool_destroy(sub);
    ck_assert_str_eq(c.str, "req-\xc3\xa9");
    ck_assert_str_eq(mcp_jsonrpc_id_key(tp, &c), "s:req-\xc3\xa9");
    mcp_jsonrpc_id_copy(&b, tp, &a);
    ck_assert(mcp_jsonrpc_id_equal(&a, &b));
    mcp_jsonrpc_id_copy(&b, tp, NULL);
    ck_assert_int_eq(b.type, MCP_JSONRPC_ID_NONE);

    mcp_jsonrpc_id_from_int(&b, 42);
    ck_assert(mcp_jsonrpc_id_equal(&a, &b));
    mcp_jsonrpc_id_from_int(&b, 43);
    ck_assert(!mcp_jsonrpc_id_equal(&a, &b));
    mcp_jsonrpc_id_from_str(&b, "42");
    ck_assert(!mcp_jsonrpc_id_equal(&a, &b));
    mcp_jsonrpc_id_from_str(&c, "42");
    ck_assert(mcp_jsonrpc_id_equal(&c, &b));
    mcp_jsonrpc_id_from_str(&c, "420");
    ck_assert(!mcp_jsonrpc_id_equal(&c, &b));
    b.type = MCP_JSONRPC_ID_NULL;
    ck_assert_str_eq(mcp_jsonrpc_id_key(tp, &b), "null");

    /* The log form escapes and cuts; the key form is exact. */
    mcp_jsonrpc_id_from_str(&b, "a\nb\"c\\d\xc3\xa9");
    ck_assert_str_eq(mcp_jsonrpc_id_log(tp, &b), "s:a\\x0ab\\x22c\\x5cd\\xc3\\xa9");
    ck_assert_str_eq(mcp_jsonrpc_id_key(tp, &b), "s:a\nb\"c\\d\xc3\xa9");
    s = apr_palloc(tp, 201);
    memset(s, 'z', 200);
    s[200] = '\0';
    mcp_jsonrpc_id_from_str(&b, s);
    log = mcp_jsonrpc_id_log(tp, &b);
    ck_assert_uint_eq(strlen(log), 2 + 64 + 3);
    ck_assert_str_eq(log + 2 + 64, "...");
    s[64] = '\0';
    ck_assert_str_eq(mcp_jsonrpc_id_log(tp, &b), apr_pstrcat(tp, "s:", s, NULL));
    ck_assert_str_eq(mcp_jsonrpc_id_log(tp, &a), "i:42");
}
END_TEST

START_TEST(build_messages)
{
    mcp_jsonrpc_msg_t *m = NULL;
    mcp_jsonrpc_id_t id;
    mcp_json_t *params = mcp_json_object(tp);

    mcp_json_set_str(params, "name", "t\xc3\xa9");
    mcp_jsonrpc_id_from_int(&id, 5);
    ck_assert_status(mcp_jsonrpc_request_create(&m, tp, &id, "tools/call", params),
                     APR_SUCCESS);
    ck_assert_int_eq(m->kind, MCP_JSONRPC_REQUEST);
    ck_assert_str_eq(mcp_jsonrpc_dump(tp, m, NULL),
                     "{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"tools/call\","
                     "\"params\":{\"name\":\"t\xc3\xa9\"}}");

    ck_assert_status(mcp_jsonrpc_notification_create(&m, tp, "notifications/x", NULL),
                     APR_SUCCESS);
    ck_assert_int_eq(m->kind, MCP_JSONRPC_NOTIFICATION);
    ck_assert_str_eq(mcp_jsonrpc_dump(tp, m, NULL),
                     "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/x\"}");

    mcp_jsonrpc_id_from_str(&id, "a\"b");
    ck_assert_status(mcp_jsonrpc_result_create(&m, tp, &id, NULL), APR_SUCCESS);
    ck_assert_str_eq(mcp_jsonrpc_dump(tp, m, NULL),
                     "{\"jsonrpc\":\"2.0\",\"id\":\"a\\\"b\",\"result\":{}}");

    ck_assert_status(mcp_jsonrpc_error_create(&m, tp, NULL, MCP_JSONRPC_METHOD_NOT_FOUND,
                                              "Method not found", NULL), APR_SUCCESS);
    ck_assert_int_eq(m->id.type, MCP_JSONRPC_ID_NULL);
    ck_assert_str_eq(mcp_jsonrpc_dump(tp, m, NULL),
                     "{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":-32601,"
                     "\"message\":\"Method not found\"}}");

    {
        mcp_json_t *data = mcp_json_object(tp);
        apr_size_t len = 0;
        const char *out;

        mcp_json_set_str(data, "authorize_url", "https://gw/x");
        mcp_jsonrpc_id_from_int(&id, -1);
        ck_assert_status(mcp_jsonrpc_error_create(&m, tp, &id,
                                                  MCP_JSONRPC_URL_ELICITATION_REQUIRED,
                                                  "link needed", data), APR_SUCCESS);
        out = mcp_jsonrpc_dump(tp, m, &len);
        ck_assert_str_eq(out, "{\"jsonrpc\":\"2.0\",\"id\":-1,\"error\":{\"code\":-32042,"
                         "\"message\":\"link needed\",\"data\":"
                         "{\"authorize_url\":\"https://gw/x\"}}}");
        ck_assert_uint_eq(len, strlen(out));
        ck_assert_int_eq(m->error_code, -32042);
        ck_assert_ptr_nonnull(m->error_data);
    }

    /* The constants are the ones of the specs. */
    ck_assert_int_eq(MCP_JSONRPC_PARSE_ERROR, -32700);
    ck_assert_int_eq(MCP_JSONRPC_INVALID_REQUEST, -32600);
    ck_assert_int_eq(MCP_JSONRPC_INVALID_PARAMS, -32602);
    ck_assert_int_eq(MCP_JSONRPC_INTERNAL_ERROR, -32603);
    ck_assert_int_eq(MCP_JSONRPC_RESOURCE_NOT_FOUND, -32002);
    ck_assert_ptr_null(mcp_jsonrpc_dump(tp, NULL, NULL));
}
END_TEST

START_TEST(build_rejects_bad_arguments)
{
    mcp_jsonrpc_msg_t *m = (mcp_jsonrpc_msg_t *)1;
    mcp_jsonrpc_id_t id, none, null_id;

    memset(&none, 0, sizeof(none));
    memset(&null_id, 0, sizeof(null_id));
    null_id.type = MCP_JSONRPC_ID_NULL;
    mcp_jsonrpc_id_from_int(&id, 1);

    ck_assert_status(mcp_jsonrpc_request_create(&m, tp, NULL, "m", NULL), MCP_EINVALID);
    ck_assert_ptr_null(m);
    ck_assert_status(mcp_jsonrpc_request_create(&m, tp, &none, "m", NULL), MCP_EINVALID);
    ck_assert_status(mcp_jsonrpc_request_create(&m, tp, &null_id, "m", NULL), MCP_EINVALID);
    ck_assert_status(mcp_jsonrpc_request_create(&m, tp, &id, "", NULL), MCP_EINVALID);
    ck_assert_status(mcp_jsonrpc_request_create(&m, tp, &id, NULL, NULL), MCP_EINVALID);
    ck_assert_status(mcp_jsonrpc_request_create(&m, tp, &id, "\xff", NULL), MCP_EINVALID);
    ck_assert_status(mcp_jsonrpc_request_create(&m, tp, &id, "m",
                                                mcp_json_string(tp, "s")), MCP_EINVALID);
    ck_assert_status(mcp_jsonrpc_notification_create(&m, tp, "", NULL), MCP_EINVALID);
    ck_assert_status(mcp_jsonrpc_notification_create(&m, tp, "m",
                                                     mcp_json_null(tp)), MCP_EINVALID);
    ck_assert_status(mcp_jsonrpc_result_create(&m, tp, NULL, NULL), MCP_EINVALID);
    ck_assert_status(mcp_jsonrpc_result_create(&m, tp, &null_id, NULL), MCP_EINVALID);
    ck_assert_status(mcp_jsonrpc_error_create(&m, tp, &id, 1, NULL, NULL), MCP_EINVALID);
    ck_assert_status(mcp_jsonrpc_error_create(&m, tp, &id, 1, "\xc3", NULL), MCP_EINVALID);
    mcp_jsonrpc_id_from_str(&id, "\xff");
    ck_assert_status(mcp_jsonrpc_result_create(&m, tp, &id, NULL), MCP_EINVALID);
    ck_assert_ptr_null(m);
}
END_TEST

/* What we build parses back to the same thing. */
START_TEST(build_parse_roundtrip)
{
    mcp_jsonrpc_msg_t *m = NULL, *back;
    mcp_jsonrpc_id_t id;
    mcp_json_t *params = mcp_json_array(tp);

    mcp_json_append_str(params, "x");
    mcp_jsonrpc_id_from_str(&id, "\xe2\x82\xac");
    ck_assert_status(mcp_jsonrpc_request_create(&m, tp, &id, "a/b", params), APR_SUCCESS);
    back = parse_ok(mcp_jsonrpc_dump(tp, m, NULL));
    ck_assert_int_eq(back->kind, MCP_JSONRPC_REQUEST);
    ck_assert(mcp_jsonrpc_id_equal(&back->id, &id));
    ck_assert_str_eq(back->method, "a/b");
    ck_assert(mcp_json_equal(back->params, params));

    ck_assert_status(mcp_jsonrpc_result_create(&m, tp, &id, params), APR_SUCCESS);
    back = parse_ok(mcp_jsonrpc_dump(tp, m, NULL));
    ck_assert_int_eq(back->kind, MCP_JSONRPC_RESULT);
    ck_assert(mcp_json_equal(back->result, params));
}
END_TEST

START_TEST(set_id_maps_ids)
{
    mcp_jsonrpc_msg_t *m = parse_ok("{\"jsonrpc\":\"2.0\",\"id\":\"client-1\","
                                    "\"method\":\"tools/call\",\"x\":1}");
    mcp_jsonrpc_msg_t *resp, *n;
    mcp_jsonrpc_id_t orig, up, null_id;
    char buf[16];

    /* Proxy: remember the client id, send upstream with our own id. */
    mcp_jsonrpc_id_copy(&orig, tp, &m->id);
    mcp_jsonrpc_id_from_int(&up, 1001);
    ck_assert_status(mcp_jsonrpc_set_id(m, &up), APR_SUCCESS);
    ck_assert_str_eq(mcp_jsonrpc_dump(tp, m, NULL),
                     "{\"jsonrpc\":\"2.0\",\"id\":1001,\"method\":\"tools/call\",\"x\":1}");
    ck_assert(mcp_jsonrpc_id_equal(&m->id, &up));

    /* The upstream answer gets the client's id back. */
    resp = parse_ok("{\"jsonrpc\":\"2.0\",\"id\":1001,\"result\":{\"ok\":true}}");
    ck_assert(mcp_jsonrpc_id_equal(&resp->id, &up));
    ck_assert_status(mcp_jsonrpc_set_id(resp, &orig), APR_SUCCESS);
    ck_assert_str_eq(mcp_jsonrpc_dump(tp, resp, NULL),
                     "{\"jsonrpc\":\"2.0\",\"id\":\"client-1\",\"result\":{\"ok\":true}}");

    /* A string id is copied, not referenced. */
    strcpy(buf, "temp");
    mcp_jsonrpc_id_from_str(&up, buf);
    ck_assert_status(mcp_jsonrpc_set_id(resp, &up), APR_SUCCESS);
    strcpy(buf, "XXXX");
    ck_assert_str_eq(resp->id.str, "temp");
    ck_assert_str_eq(id_text_of(mcp_jsonrpc_dump(tp, resp, NULL)), "\"temp\"");

    memset(&null_id, 0, sizeof(null_id));
    null_id.type = MCP_JSONRPC_ID_NULL;
    ck_assert_status(mcp_jsonrpc_set_id(resp, &null_id), MCP_EINVALID);
    ck_assert_status(mcp_jsonrpc_set_id(m, NULL), MCP_EINVALID);
    n = parse_ok("{\"jsonrpc\":\"2.0\",\"method\":\"n\"}");
    ck_assert_status(mcp_jsonrpc_set_id(n, &orig), MCP_EINVALID);
    ck_assert_status(mcp_jsonrpc_set_id(NULL, &orig), MCP_EINVALID);

    /* An error may go back to null. */
    resp = parse_ok("{\"jsonrpc\":\"2.0\",\"id\":3,\"error\":{\"code\":1,\"message\":\"m\"}}");
    ck_assert_status(mcp_jsonrpc_set_id(resp, NULL), APR_SUCCESS);
    ck_assert_int_eq(resp->id.type, MCP_JSONRPC_ID_NULL);
    ck_assert_str_eq(id_text_of(mcp_jsonrpc_dump(tp, resp, NULL)), "null");
}
END_TEST

/* Every proper prefix of a valid message is a parse error. */
START_TEST(truncated_inputs)
{
    static const char *texts[] = {
        "{\"jsonrpc\":\"2.0\",\"id\":\"caf\xc3\xa9\",\"method\":\"tools/call\","
        "\"params\":{\"name\":\"x\",\"arguments\":{\"a\":[1,2.5,true,null]}}}",
        "[{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}},"
        "{\"jsonrpc\":\"2.0\",\"method\":\"n\"}]",
        "{\"jsonrpc\":\"2.0\",\"id\":-12,\"error\":{\"code\":-32601,\"message\":\"no\"}}",
    };
    apr_size_t t, n, len;

    for (t = 0; t < sizeof(texts) / sizeof(texts[0]); t++) {
        len = strlen(texts[t]);
        for (n = 0; n < len; n++) {
            parse_bad(texts[t], n, NULL, MCP_EPARSE, "Parse error: ", "null");
        }
        parse_ok(texts[t]);
    }
}
END_TEST

/* Simple deterministic generator (xorshift64*), the same on every libc. */
static apr_uint64_t rng_state;

static apr_uint64_t rng(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * APR_UINT64_C(2685821657736338717);
}

/* Classify whatever came back: a message, or an error matching the status.
 * Returns the status. */
static apr_status_t parse_any(apr_pool_t *p, const char *data, apr_size_t len,
                              const mcp_jsonrpc_limits_t *lim)
{
    mcp_jsonrpc_msg_t *m = NULL, *err = NULL;
    apr_status_t rv = mcp_jsonrpc_parse(&m, p, data, len, lim, &err);

    if (rv == APR_SUCCESS) {
        ck_assert_ptr_nonnull(m);
        ck_assert_ptr_null(err);
        ck_assert_ptr_nonnull(mcp_jsonrpc_dump(p, m, NULL));
        if (m->kind == MCP_JSONRPC_BATCH) {
            int i;
            ck_assert_int_gt(m->batch->nelts, 0);
            for (i = 0; i < m->batch->nelts; i++) {
                mcp_jsonrpc_msg_t *b = APR_ARRAY_IDX(m->batch, i, mcp_jsonrpc_msg_t *);
                ck_assert(b->kind >= MCP_JSONRPC_REQUEST
                          && b->kind <= MCP_JSONRPC_INVALID
                          && b->kind != MCP_JSONRPC_BATCH);
                if (b->kind == MCP_JSONRPC_INVALID) {
                    ck_assert_ptr_nonnull(b->error_response);
                    ck_assert_int_eq(b->error_response->error_code,
                                     MCP_JSONRPC_INVALID_REQUEST);
                }
            }
        }
        else {
            ck_assert(m->kind >= MCP_JSONRPC_REQUEST && m->kind <= MCP_JSONRPC_ERROR);
        }
        return rv;
    }
    ck_assert_ptr_null(m);
    ck_assert_msg(rv == MCP_EPARSE || rv == MCP_EINVALID || rv == MCP_ETOOLARGE,
                  "unexpected status %s", mcp_strerror(p, rv));
    ck_assert_ptr_nonnull(err);
    ck_assert_int_eq(err->kind, MCP_JSONRPC_ERROR);
    ck_assert_int_eq(err->error_code, rv == MCP_EPARSE ? MCP_JSONRPC_PARSE_ERROR
                                                       : MCP_JSONRPC_INVALID_REQUEST);
    ck_assert_ptr_nonnull(mcp_jsonrpc_dump(p, err, NULL));
    return rv;
}

START_TEST(garbage_bytes)
{
#define LIT(x) { (x), sizeof(x) - 1 }
    static const struct {
        const char *s;
        apr_size_t len;
    } bad[] = {
        LIT("\x00"), LIT("\x00\x00\x00\x00"), LIT("\xef\xbb\xbf{}"),
        LIT("GET / HTTP/1.1\r\n\r\n"), LIT("<xml/>"),
        LIT("{\"jsonrpc\":\"2.0\",\"method\":\"a\x00\"}"), LIT("]]]]"),
        LIT("}}}}{{{{"), LIT("\"\\"), LIT("\"\\u12\""), LIT("[\"\\ud800\"]"),
        LIT("{\"\":\"\"}"), LIT("-0"), LIT("1e99999"),
    };
#undef LIT
    apr_size_t i, j;
    char buf[256];

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ck_assert_msg(parse_any(tp, bad[i].s, bad[i].len, NULL) != APR_SUCCESS,
                      "garbage %d accepted", (int)i);
    }
    /* 2000 buffers of random bytes, fixed seed. */
    rng_state = APR_UINT64_C(0x9e3779b97f4a7c15);
    for (i = 0; i < 2000; i++) {
        apr_size_t len = (apr_size_t)(rng() % sizeof(buf));
        for (j = 0; j < len; j++) {
            buf[j] = (char)(rng() & 0xff);
        }
        ck_assert_int_ne(parse_any(tp, buf, len, NULL), APR_SUCCESS);
    }
}
END_TEST

static char *nested(apr_pool_t *p, const char *head, const char *tail,
                    apr_size_t n, char open, char close, const char *inner)
{
    apr_size_t hl = strlen(head), tl = strlen(tail), il = strlen(inner);
    char *s = apr_palloc(p, hl + 2 * n + il + tl + 1), *o = s;

    memcpy(o, head, hl);
    o += hl;
    memset(o, open, n);
    o += n;
    memcpy(o, inner, il);
    o += il;
    memset(o, close, n);
    o += n;
    memcpy(o, tail, tl + 1);
    return s;
}

START_TEST(deep_nesting)
{
    mcp_jsonrpc_limits_t lim = { 0, 4, 0 };
    const char *head = "{\"jsonrpc\":\"2.0\",\"id\":9,\"method\":\"m\",\"params\":";
    char *s;

    /* 100000 levels, bare and inside params: refused, no recursion. */
    s = nested(tp, "", "", 100000, '[', ']', "");
    BAD(s, MCP_ETOOLARGE, "deeper than 64 levels", "null");
    s = nested(tp, "", "", 100000, '[', ']', "{}");
    BAD(s, MCP_ETOOLARGE, "Invalid Request: JSON nesting deeper than 64", "null");
    s = nested(tp, head, "}", 100000, '[', ']', "");
    BAD(s, MCP_ETOOLARGE, "deeper than 64", "null");
    /* Unbalanced deep input too. */
    s = nested(tp, "", "", 100000, '{', '{', "");
    BAD(s, MCP_ETOOLARGE, "deeper than 64", "null");

    /* The limit is exact: 64 levels pass (the message object is one). */
    s = nested(tp, head, "}", 63, '[', ']', "");
    ck_assert_int_eq(parse_ok(s)->kind, MCP_JSONRPC_REQUEST);
    s = nested(tp, head, "}", 64, '[', ']', "");
    BAD(s, MCP_ETOOLARGE, "deeper than 64", "null");

    /* A configured limit. */
    s = nested(tp, head, "}", 3, '[', ']', "");
    ck_assert_int_eq(parse_any(tp, s, strlen(s), &lim), APR_SUCCESS);
    s = nested(tp, head, "}", 4, '[', ']', "");
    parse_bad(s, strlen(s), &lim, MCP_ETOOLARGE, "deeper than 4 levels", "null");
}
END_TEST

START_TEST(oversized_bodies)
{
    mcp_jsonrpc_limits_t lim = { 100, 0, 0 };
    const char *msg = "{\"jsonrpc\":\"2.0\",\"method\":\"m\"}";
    apr_size_t big = MCP_JSONRPC_DEFAULT_MAX_BODY;
    char *s;

    /* Exactly at the limit passes (padded with whitespace), one more not. */
    s = apr_palloc(tp, 102);
    memset(s, ' ', 101);
    memcpy(s, msg, strlen(msg));
    s[101] = '\0';
    ck_assert_int_eq(parse_any(tp, s, 100, &lim), APR_SUCCESS);
    parse_bad(s, 101, &lim, MCP_ETOOLARGE,
              "message of 101 bytes exceeds the limit of 100 bytes", "null");

    /* The default is 4 MiB. */
    s = apr_palloc(tp, big + 2);
    memset(s, ' ', big + 1);
    memcpy(s, msg, strlen(msg));
    s[big + 1] = '\0';
    ck_assert_int_eq(parse_any(tp, s, big, NULL), APR_SUCCESS);
    parse_bad(s, big + 1, NULL, MCP_ETOOLARGE, "exceeds the limit of 4194304 bytes",
              "null");
    /* A huge claimed length is refused before the bytes are read. */
    parse_bad(s, (apr_size_t)-1, NULL, MCP_ETOOLARGE, "exceeds the limit", "null");
}
END_TEST

START_TEST(batch_mixed)
{
    const char *text =
        "[{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"a\"},"
        "{\"jsonrpc\":\"2.0\",\"method\":\"n\"},"
        "1,"
        "{\"jsonrpc\":\"2.0\",\"id\":\"x\"},"
        "{\"jsonrpc\":\"2.0\",\"id\":2,\"result\":[]},"
        "{\"foo\":\"bar\"},"
        "[],"
        "{\"jsonrpc\":\"2.0\",\"id\":3,\"error\":{\"code\":5,\"message\":\"e\"}},"
        "{\"jsonrpc\":\"2.0\",\"id\":true,\"method\":\"b\"}]";
    static const mcp_jsonrpc_kind_e kinds[] = {
        MCP_JSONRPC_REQUEST, MCP_JSONRPC_NOTIFICATION, MCP_JSONRPC_INVALID,
        MCP_JSONRPC_INVALID, MCP_JSONRPC_RESULT, MCP_JSONRPC_INVALID,
        MCP_JSONRPC_INVALID, MCP_JSONRPC_ERROR, MCP_JSONRPC_INVALID,
    };
    static const char *ids[] = {
        "i:1", "none", "none", "s:x", "i:2", "none", "none", "i:3", "none"
    };
    mcp_jsonrpc_msg_t *m = parse_ok(text), *out;
    apr_array_header_t *answers = apr_array_make(tp, 4, sizeof(mcp_jsonrpc_msg_t *));
    int i;

    ck_assert_int_eq(m->kind, MCP_JSONRPC_BATCH);
    ck_assert_int_eq(m->batch->nelts, 9);
    for (i = 0; i < m->batch->nelts; i++) {
        mcp_jsonrpc_msg_t *b = APR_ARRAY_IDX(m->batch, i, mcp_jsonrpc_msg_t *);

        ck_assert_msg(b->kind == kinds[i], "member %d: %s", i,
                      mcp_jsonrpc_kind_name(b->kind));
        ck_assert_str_eq(mcp_jsonrpc_id_key(tp, &b->id), ids[i]);
        if (b->kind == MCP_JSONRPC_INVALID) {
            check_error_msg(b->error_response, MCP_JSONRPC_INVALID_REQUEST);
            ck_assert_ptr_null(b->method);
            APR_ARRAY_PUSH(answers, mcp_jsonrpc_msg_t *) = b;
        }
        else {
            ck_assert_ptr_null(b->error_response);
        }
    }
    ck_assert_ptr_nonnull(strstr(APR_ARRAY_IDX(m->batch, 2, mcp_jsonrpc_msg_t *)
                                 ->error_response->error_message,
                                 "must be a JSON object, not integer"));
    ck_assert_ptr_nonnull(strstr(APR_ARRAY_IDX(m->batch, 6, mcp_jsonrpc_msg_t *)
                                 ->error_response->error_message,
                                 "must be a JSON object, not array"));
    ck_assert_ptr_nonnull(strstr(APR_ARRAY_IDX(m->batch, 8, mcp_jsonrpc_msg_t *)
                                 ->error_response->error_message,
                                 "not boolean"));

    /* The answer to the batch: the INVALID members give their errors. */
    ck_assert_status(mcp_jsonrpc_batch_create(&out, tp, answers), APR_SUCCESS);
    ck_assert_int_eq(out->batch->nelts, 5);
    ck_assert_str_eq(mcp_jsonrpc_dump(tp, out, NULL),
        "[{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":-32600,\"message\":"
        "\"Invalid Request: a message must be a JSON object, not integer\"}},"
        "{\"jsonrpc\":\"2.0\",\"id\":\"x\",\"error\":{\"code\":-32600,\"message\":"
        "\"Invalid Request: a message must have \\\"method\\\", \\\"result\\\" "
        "or \\\"error\\\"\"}},"
        "{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":-32600,\"message\":"
        "\"Invalid Request: \\\"jsonrpc\\\" must be \\\"2.0\\\"\"}},"
        "{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":-32600,\"message\":"
        "\"Invalid Request: a message must be a JSON object, not array\"}},"
        "{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":-32600,\"message\":"
        "\"Invalid Request: \\\"id\\\" must be a string or an integer, not boolean\"}}]");
}
END_TEST

START_TEST(batch_limits)
{
    mcp_jsonrpc_limits_t lim = { 0, 0, 3 };
    const char *one = "{\"jsonrpc\":\"2.0\",\"method\":\"n\"}";
    mcp_jsonrpc_msg_t *m, *out = NULL;
    char *s;
    int i;

    /* An empty batch is itself one Invalid Request. */
    BAD("[]", MCP_EINVALID, "empty batch", "null");
    BAD(" [ ] ", MCP_EINVALID, "empty batch", "null");
    /* A batch of only invalid members still parses: each gets an answer. */
    m = parse_ok("[1,2,3]");
    ck_assert_int_eq(m->batch->nelts, 3);
    for (i = 0; i < 3; i++) {
        ck_assert_int_eq(APR_ARRAY_IDX(m->batch, i, mcp_jsonrpc_msg_t *)->kind,
                         MCP_JSONRPC_INVALID);
    }

    s = apr_pstrcat(tp, "[", one, ",", one, ",", one, "]", NULL);
    ck_assert_int_eq(parse_any(tp, s, strlen(s), &lim), APR_SUCCESS);
    s = apr_pstrcat(tp, "[", one, ",", one, ",", one, ",", one, "]", NULL);
    parse_bad(s, strlen(s), &lim, MCP_ETOOLARGE,
              "batch of 4 messages exceeds the limit of 3", "null");

    /* The default is 100. */
    s = apr_pstrcat(tp, "[", one, NULL);
    for (i = 1; i < 100; i++) {
        s = apr_pstrcat(tp, s, ",", one, NULL);
    }
    m = parse_ok(apr_pstrcat(tp, s, "]", NULL));
    ck_assert_int_eq(m->batch->nelts, 100);
    s = apr_pstrcat(tp, s, ",", one, "]", NULL);
    BAD(s, MCP_ETOOLARGE, "batch of 101 messages exceeds the limit of 100", "null");

    /* Building: an empty batch is fine to build, nested batches are not. */
    ck_assert_status(mcp_jsonrpc_batch_create(&out, tp, NULL), APR_SUCCESS);
    ck_assert_str_eq(mcp_jsonrpc_dump(tp, out, NULL), "[]");
    {
        apr_array_header_t *a = apr_array_make(tp, 1, sizeof(mcp_jsonrpc_msg_t *));
        APR_ARRAY_PUSH(a, mcp_jsonrpc_msg_t *) = m;
        ck_assert_status(mcp_jsonrpc_batch_create(&out, tp, a), MCP_EINVALID);
        APR_ARRAY_IDX(a, 0, mcp_jsonrpc_msg_t *) = NULL;
        ck_assert_status(mcp_jsonrpc_batch_create(&out, tp, a), MCP_EINVALID);
        ck_assert_ptr_null(out);
    }
}
END_TEST

START_TEST(from_json)
{
    mcp_json_t *j = NULL;
    const char *jerr = NULL;
    mcp_jsonrpc_msg_t *m = NULL, *err = NULL;
    const char *text = "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}";

    ck_assert_status(mcp_json_parse(&j, tp, text, strlen(text), NULL, &jerr),
                     APR_SUCCESS);
    ck_assert_status(mcp_jsonrpc_from_json(&m, tp, j, NULL, &err), APR_SUCCESS);
    ck_assert_int_eq(m->kind, MCP_JSONRPC_RESULT);
    ck_assert_status(mcp_jsonrpc_from_json(&m, tp, mcp_json_object(tp), NULL, &err),
                     MCP_EINVALID);
    ck_assert_ptr_null(m);
    check_error_msg(err, MCP_JSONRPC_INVALID_REQUEST);
    ck_assert_status(mcp_jsonrpc_from_json(&m, tp, NULL, NULL, &err), MCP_EINVALID);
    check_error_msg(err, MCP_JSONRPC_INVALID_REQUEST);
}
END_TEST

/* Valid messages the mutation test starts from. */
static const char *seeds[] = {
    "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":"
    "{\"name\":\"gh_search\",\"arguments\":{\"q\":\"caf\xc3\xa9\",\"n\":[1,2.5,-3e2]}}}",
    "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/cancelled\",\"params\":"
    "{\"requestId\":\"abc\",\"reason\":null}}",
    "{\"jsonrpc\":\"2.0\",\"id\":\"r-\\u00e9\",\"result\":{\"tools\":[{\"name\":\"x\"}]}}",
    "{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":-32600,\"message\":\"m\","
    "\"data\":{\"d\":true}}}",
    "[{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"a\",\"params\":[]},"
    "{\"jsonrpc\":\"2.0\",\"method\":\"n\"},"
    "{\"jsonrpc\":\"2.0\",\"id\":2,\"result\":{}}]",
};

static const char *tokens[] = {
    "null", "true", "1.5", "-0", "1e400", "99999999999999999999", "\"2.0\"",
    "\"id\"", "\"method\"", "\"result\"", "\"error\"", "\"params\"", "[", "]",
    "{", "}", ",", ":", "\"", "\\", "\\u0000", "\\ud800", "\xff", "\xc3",
    "\xf0\x9f\x98\x80", "[[[[[[[[", "{\"a\":", " ", "\n", "[]", "{}",
};

/* Apply one random mutation to buf[0..*len) (capacity cap). */
static void mutate(char *buf, apr_size_t *len, apr_size_t cap)
{
    apr_size_t n = *len, pos = n ? (apr_size_t)(rng() % n) : 0;
    const char *tok;
    apr_size_t tl, cl;

    switch (rng() % 6) {
    case 0:                                         /* flip bits */
        if (n) {
            buf[pos] = (char)(buf[pos] ^ (1 << (rng() % 8)));
        }
        break;
    case 1:                                         /* random byte */
        if (n) {
            buf[pos] = (char)(rng() & 0xff);
        }
        break;
    case 2:                                         /* delete a run */
        cl = n ? 1 + (apr_size_t)(rng() % 8) : 0;
        if (pos + cl > n) {
            cl = n - pos;
        }
        memmove(buf + pos, buf + pos + cl, n - pos - cl);
        *len = n - cl;
        break;
    case 3:                                         /* truncate */
        *len = pos;
        break;
    case 4:                                         /* insert a token */
        tok = tokens[rng() % (sizeof(tokens) / sizeof(tokens[0]))];
        tl = strlen(tok);
        if (n + tl <= cap) {
            memmove(buf + pos + tl, buf + pos, n - pos);
            memcpy(buf + pos, tok, tl);
            *len = n + tl;
        }
        break;
    default:                                        /* duplicate a run */
        cl = 1 + (apr_size_t)(rng() % 32);
        if (pos + cl <= n && n + cl <= cap) {
            memmove(buf + pos + cl, buf + pos, n - pos);
            *len = n + cl;
        }
        break;
    }
}

START_TEST(mutation_fuzz)
{
    enum { ROUNDS = 20000, CAP = 1024 };
    apr_time_t deadline = apr_time_now() + apr_time_from_sec(60);
    int counts[4] = { 0, 0, 0, 0 }, i, k, done = 0;
    apr_pool_t *sub;
    char buf[CAP];

    apr_pool_create(&sub, tp);
    rng_state = APR_UINT64_C(20240601);
    for (i = 0; i < ROUNDS && apr_time_now() < deadline; i++) {
        const char *seed = seeds[rng() % (sizeof(seeds) / sizeof(seeds[0]))];
        apr_size_t len = strlen(seed);
        int muts = 1 + (int)(rng() % 4);
        apr_status_t rv;

        memcpy(buf, seed, len);
        for (k = 0; k < muts; k++) {
            mutate(buf, &len, CAP);
        }
        rv = parse_any(sub, buf, len, NULL);
        counts[rv == APR_SUCCESS ? 0 : rv == MCP_EPARSE ? 1
               : rv == MCP_EINVALID ? 2 : 3]++;
        apr_pool_clear(sub);
        done++;
    }
    apr_pool_destroy(sub);
    fprintf(stderr, "# mutation_fuzz: %d inputs: %d messages, %d parse errors, "
            "%d invalid, %d too large\n", done, counts[0], counts[1], counts[2],
            counts[3]);
    /* The time bound is for slow (valgrind) runs; a normal run does all. */
    ck_assert_int_ge(done, 2000);
    /* The mutations reach every outcome, not only the parser's errors. */
    ck_assert_int_gt(counts[0], 0);
    ck_assert_int_gt(counts[1], 0);
    ck_assert_int_gt(counts[2], 0);
}
END_TEST

static Suite *jsonrpc_suite(void)
{
    Suite *s = suite_create("jsonrpc");
    TCase *tc = mcp_tcase("jsonrpc");

    tcase_add_test(tc, classify_request);
    tcase_add_test(tc, classify_notification);
    tcase_add_test(tc, classify_responses);
    tcase_add_test(tc, unknown_members_tolerated);
    tcase_add_test(tc, not_nul_terminated);
    tcase_add_test(tc, invalid_shapes);
    tcase_add_test(tc, parse_errors);
    tcase_add_test(tc, ids_preserved);
    tcase_add_test(tc, id_helpers);
    tcase_add_test(tc, build_messages);
    tcase_add_test(tc, build_rejects_bad_arguments);
    tcase_add_test(tc, build_parse_roundtrip);
    tcase_add_test(tc, set_id_maps_ids);
    tcase_add_test(tc, truncated_inputs);
    tcase_add_test(tc, garbage_bytes);
    tcase_add_test(tc, deep_nesting);
    tcase_add_test(tc, oversized_bodies);
    tcase_add_test(tc, batch_mixed);
    tcase_add_test(tc, batch_limits);
    tcase_add_test(tc, from_json);
    tcase_add_test(tc, mutation_fuzz);
    suite_add_tcase(s, tc);
    return s;
}

MCP_TEST_MAIN(jsonrpc_suite)
