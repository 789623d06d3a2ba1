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

/* A small real HTTP/1.1 server for the HTTP client's unit tests: APR
 * sockets and threads, 127.0.0.1 (or ::1) on an ephemeral port,
 * keep-alive, one thread per connection, absolute-form targets (so it can
 * play a forward proxy), and scripted paths:
 *
 *   /json                  {"ok":true,"conn_request":N}
 *   /large?n=N             N bytes of 'x' with Content-Length
 *   /large-chunked?n=N     N bytes of 'x', chunked, no Content-Length
 *   /drip                  Content-Length 1000, 10 bytes, then silence
 *   /hang                  reads the request, never answers
 *   /short                 Content-Length 100, 10 bytes, then close
 *   /cutchunk              chunked, one chunk, then close (no last chunk)
 *   /badchunk              chunked, then a chunk size that is not hex
 *   /sse                   chunked text/event-stream: one event, then waits
 *                          (at most 5 s) for http_server_release() before
 *                          the next events; "data: late" if not released
 *   /trickle?n=N&ms=M      chunked text/event-stream: N events "data: i",
 *                          M ms apart (defaults 10 and 100)
 *   /redirect?to=URL       302 to URL (Location: URL as given)
 *   /redirect?code=N&ms=M&to=URL  status N (default 302) after M ms
 *                          (default 0) to URL; "to" always comes last
 *   /loop                  302 to /loop
 *   /status?code=N         status N
 *   /echo                  JSON of method, target, path, headers, body
 *   /slow?ms=N             waits N ms, then {"ok":true}; counts overlap
 *   /close                 {"ok":true} with Connection: close, then closes
 *
 * Every wait is bounded and ends early when the server stops. */
#ifndef HTTP_SERVER_H
#define HTTP_SERVER_H

#include <apr_network_io.h>
#include <apr_pools.h>

typedef struct http_server_t http_server_t;

/** Start listening on 127.0.0.1 and serving; NULL on failure (message on
 *  stderr). */
http_server_t *http_server_start(void);

/** The same on loopback address @a ip ("127.0.0.1", "::1"); NULL on
 *  failure, with a message on stderr unless @a quiet (a machine without
 *  IPv6 loopback is no error). */
http_server_t *http_server_start_on(const char *ip, int quiet);

/** Stop, join every thread, free everything. */
void http_server_stop(http_server_t *srv);

apr_port_t http_server_port(const http_server_t *srv);

/** "http://127.0.0.1:<port><path>" (or "http://[::1]:...") in @a p. */
const char *http_server_url(const http_server_t *srv, apr_pool_t *p,
                            const char *path);

/** Connections accepted so far. */
unsigned http_server_accepted(const http_server_t *srv);

/** Requests read so far. */
unsigned http_server_requests(const http_server_t *srv);

/** Most /slow requests in progress at the same time. */
unsigned http_server_max_inflight(const http_server_t *srv);

/** Let a waiting /sse stream go on. */
void http_server_release(http_server_t *srv);

/**
 * A listener on 127.0.0.1 that never accepts and whose accept queue is
 * full, so a new connect hangs (for connect timeouts). Lives in @a p;
 * *pport gets its port.
 */
apr_status_t http_blackhole_start(apr_pool_t *p, apr_port_t *pport);

/** A port on 127.0.0.1 where nothing listens (bound, then closed). */
apr_port_t http_closed_port(apr_pool_t *p);

#endif /* HTTP_SERVER_H */
