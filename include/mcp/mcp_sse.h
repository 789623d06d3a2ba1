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
 * @file mcp_sse.h
 * @brief Server-Sent Events: an incremental text/event-stream parser and
 *        the writer of events and keep-alive comments.
 *
 * MCP servers answer a POST with text/event-stream; the proxy reads those
 * answers with an mcp_sse_parser_t and relays events to its own clients
 * with mcp_sse_format() and mcp_sse_comment().
 *
 * The parser follows the WHATWG HTML "event stream interpretation"
 * (section 9.2.6):
 *  - lines end with CRLF, LF or CR, wherever the chunks are cut (a CR at
 *    the end of one chunk and an LF at the start of the next are one line
 *    end);
 *  - one UTF-8 byte order mark at the very start of the stream is skipped;
 *  - a line starting with ':' is a comment (see
 *    mcp_sse_parser_on_comment());
 *  - otherwise the field name is what comes before the first ':' and the
 *    value what comes after it, less one leading space; a line without
 *    ':' is a field with an empty value;
 *  - "data" appends the value and an LF to the data buffer; "event" sets
 *    the event type; "id" sets the last event id unless the value holds a
 *    NUL (the id persists across events, and an empty value resets it);
 *    "retry" sets the reconnection time when the value is ASCII digits
 *    only; other fields are ignored;
 *  - a blank line dispatches the event: with an empty data buffer nothing
 *    is dispatched (the type is forgotten, the id kept), otherwise the
 *    data loses its last LF and the type defaults to "message";
 *  - at the end of the stream an event without its blank line is dropped,
 *    not dispatched.
 *
 * One deviation: bytes are not decoded, so invalid UTF-8 reaches the
 * callback as it came rather than as U+FFFD (the proxy relays or parses
 * the data as JSON, which checks UTF-8 itself).
 *
 * Memory is bounded by the maximum event size and does not grow with the
 * number of events: the parser reuses its buffers.
 */
#ifndef MCP_SSE_H
#define MCP_SSE_H

#include <apr_pools.h>

#include "mcp/mcp_common.h"

#ifdef __cplusplus
extern "C" {
#endif

/** One dispatched event. Valid only during the callback: copy what you keep. */
typedef struct {
    const char *type;    /**< the "event" field, "message" when none or empty */
    const char *data;    /**< NUL-terminated (it may also hold NULs) */
    apr_size_t data_len; /**< bytes in @a data, without the terminating NUL */
    const char *id;      /**< the last event id of the stream: never NULL,
                              "" when none was set (or an empty "id" reset
                              it) */
    apr_int64_t retry;   /**< a valid "retry" value among this event's lines
                              (the last one), in milliseconds; -1 when none */
} mcp_sse_event_t;

/**
 * Called for each dispatched event.
 * @return APR_SUCCESS to go on; anything else stops the parser, and
 *         mcp_sse_parser_feed() returns it (then and on every later call).
 */
typedef apr_status_t mcp_sse_event_fn(void *baton, const mcp_sse_event_t *ev);

/**
 * Called for each comment line (keep-alives, typically ": ping").
 * @param text what follows the ':', less one leading space; not
 *             NUL-terminated, valid only during the call
 * @return as for mcp_sse_event_fn
 */
typedef apr_status_t mcp_sse_comment_fn(void *baton, const char *text,
                                        apr_size_t len);

/** An incremental event stream parser. */
typedef struct mcp_sse_parser_t mcp_sse_parser_t;

/**
 * Create a parser for one stream.
 * @param max_event the most bytes one event may hold while it is read:
 *        its data buffer so far (each data value plus one LF) plus the
 *        line being read, without its line end. A one-line event
 *        "data:" + N bytes therefore fits when N + 5 <= max_event. From 1
 *        to APR_SIZE_MAX / 2 - 1.
 * @param on_event called for each event (not NULL)
 * @return APR_SUCCESS with *pp from @a p; APR_EINVAL for a
 *         @a max_event out of range or a NULL @a on_event.
 *
 * The parser allocates from @a p only when a buffer must grow, by
 * doubling up to max_event + 1 bytes; an event stream of any length
 * costs at most a few times max_event.
 */
apr_status_t mcp_sse_parser_create(mcp_sse_parser_t **pp, apr_pool_t *p,
                                   apr_size_t max_event,
                                   mcp_sse_event_fn *on_event, void *baton);

/** Also report comment lines to @a fn (NULL: ignore them, the default). */
void mcp_sse_parser_on_comment(mcp_sse_parser_t *parser,
                               mcp_sse_comment_fn *fn, void *baton);

/**
 * Parse the next @a len bytes of the stream, cut anywhere (inside a line,
 * a CRLF pair or a UTF-8 sequence); the callbacks run for every event and
 * comment the bytes complete.
 * @return APR_SUCCESS; MCP_ETOOLARGE when an event exceeds max_event; a
 *         callback's status; APR_EOF after mcp_sse_parser_finish(). Any
 *         failure is final: the parser refuses further input with the
 *         same status.
 */
apr_status_t mcp_sse_parser_feed(mcp_sse_parser_t *parser, const char *buf,
                                 apr_size_t len);

/**
 * The stream has ended. What was read since the last blank line is
 * dropped, never dispatched.
 * @return APR_SUCCESS when the stream ended between events; MCP_EPROTO
 *         when it was cut mid-event: an unterminated line, or field lines
 *         (not comments) without the blank line that ends the event; the
 *         earlier failure when feeding had failed; APR_EOF when called
 *         again.
 */
apr_status_t mcp_sse_parser_finish(mcp_sse_parser_t *parser);

/** The stream's last event id ("" when none), as in the next event. */
const char *mcp_sse_parser_last_event_id(const mcp_sse_parser_t *parser);

/** The stream's last valid "retry" value in milliseconds, -1 when none. */
apr_int64_t mcp_sse_parser_retry(const mcp_sse_parser_t *parser);

/**
 * Bytes of buffer the parser holds now: what mcp_sse_parser_create()
 * bounds. For status pages and for tests that check memory stays flat.
 */
apr_size_t mcp_sse_parser_capacity(const mcp_sse_parser_t *parser);

/**
 * The wire form of one event: "event: TYPE" when @a type is not NULL,
 * "id: ID" when @a id is not NULL, then one "data: LINE" per line of
 * @a data (split at CR, LF and CRLF; an empty @a data is one empty line),
 * then a blank line. Each line ends with LF.
 *
 * Parsing the result gives back the event, with every line break in the
 * data as LF (and type "message" for a NULL or empty @a type).
 * @param data may hold NULs; NULL only when @a len is 0
 * @return APR_SUCCESS with *pout (NUL-terminated, from @a p) and *plen
 *         (may be NULL); MCP_EINVALID, with *perr when @a perr is not NULL,
 *         when @a type or @a id holds a CR or LF.
 */
apr_status_t mcp_sse_format(const char **pout, apr_size_t *plen,
                            apr_pool_t *p, const char *type, const char *id,
                            const char *data, apr_size_t len,
                            const char **perr);

/**
 * A comment line and a blank line, ": TEXT\n\n" (":\n\n" for a NULL or
 * empty @a text): a keep-alive that readers ignore.
 * @return APR_SUCCESS with *pout (from @a p); MCP_EINVALID, with *perr
 *         when not NULL, when @a text holds a CR or LF.
 */
apr_status_t mcp_sse_comment(const char **pout, apr_pool_t *p,
                             const char *text, const char **perr);

#ifdef __cplusplus
}
#endif

#endif /* MCP_SSE_H */
