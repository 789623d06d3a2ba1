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
 * @file mcp_http.h
 * @brief Outgoing HTTP(S) client: one request, or many in parallel.
 *
 * The client (mcp_http_t) is made once per process, in the child_init pool,
 * and is then used by any number of threads at once. It keeps connections
 * open between requests, so a second request to the same host reuses the
 * connection of the first.
 *
 * A request (mcp_http_request_t) lives in a pool of the caller (usually the
 * request pool); its response is allocated from the same pool. A request is
 * performed alone with mcp_http_perform() or together with others, in
 * parallel, with mcp_http_perform_all() (the fan-out of tools/list), or
 * in a batch (mcp_http_batch_create()) that can grow while it runs, caps
 * the transfers in flight, has a deadline and is cancelled by its pool's
 * cleanup. Any request can be cancelled (mcp_http_cancel()) and a
 * streamed one paused by its body callback (MCP_HTTP_PAUSE) and resumed
 * (mcp_http_resume()), from any thread.
 *
 * Rules the client enforces, whatever the caller asks:
 *  - only http: and https: URLs, for the request and for every redirect;
 *    anything else is refused with MCP_EINVALID before any connection;
 *  - TLS peers are always verified (a CA file or path may be added for a
 *    private CA; verification cannot be turned off);
 *  - proxy environment variables (http_proxy, HTTPS_PROXY, ...) are ignored;
 *    a proxy is used only when mcp_http_options_t.proxy or
 *    mcp_http_request_t.proxy names one;
 *  - redirects are not followed unless a request allows some;
 *  - every buffered response body has a size cap, and every request a
 *    total or (a stream, see mcp_http_mode_e) an idle timeout.
 *
 * URL rules (mcp_http_request_t.url_rules, MCP_URL_* flags of mcp_url.h,
 * default MCP_HTTP_DEFAULT_URL_RULES): req->url must pass them
 * (mcp_url_check()) when the request is performed, and so must every
 * redirect target. MCP_URL_OTHER_SCHEMES is ignored; a fragment is
 * refused unless MCP_URL_ALLOW_FRAGMENT is given.
 *
 * Redirects (mcp_http_request_t.max_redirects > 0) are followed by the
 * client, hop by hop, each one a new transfer; 301, 302, 303, 307 and 308
 * with a Location are followed, any other 3xx is a response. Each hop:
 *  - goes to the Location resolved against the current URL, which must
 *    pass the URL rules, and which may not be http when the current URL
 *    is https, whatever the rules allow (mcp_http_redirect_check());
 *  - passes the address guard below, when the request has one;
 *  - 303 makes a GET (HEAD stays HEAD), 301 and 302 make a GET of a POST;
 *    then the body and its Content-Type, Content-Encoding,
 *    Content-Language and Content-Location headers are dropped; 307 and
 *    308 keep method and body (to whatever origin: a request whose body
 *    must not go elsewhere does not follow redirects);
 *  - to the same origin (scheme, host and port) keeps the caller's
 *    headers; to another origin sends only those named in
 *    mcp_http_request_t.cross_origin_headers, none by default (so
 *    Authorization and Cookie never cross unless named); a header
 *    dropped at one hop is not sent at later hops, back home or not;
 *  - shares the request's total timeout and body cap; the body of a
 *    redirect response is read and dropped (on_headers and on_body see
 *    the final response only).
 * One redirect more than max_redirects is MCP_EPROTO. The response gives
 * the number of redirects followed and the final URL.
 *
 * The address guard (mcp_http_request_t.addr_allow). By default a request
 * may connect to any address, as a configured upstream on a private
 * network needs. A request for a URL chosen by someone else (a Client ID
 * Metadata Document, say) sets addr_allow to the mcp_addr.h classes it may
 * reach besides MCP_ADDR_PUBLIC, usually 0. Then:
 *  - every address curl is about to connect to, after name resolution, is
 *    classified (mcp_addr_classify()) and refused unless allowed; a name
 *    with several addresses goes on to the next one. What is checked is
 *    the address the socket connects to, so a DNS answer that changes
 *    after a check (DNS rebinding) gains nothing;
 *  - just before the request is sent, the connection's address is checked
 *    again; this covers a connection kept open by an earlier request
 *    (with a laxer guard or none), which is then refused;
 *  - a request with a proxy (its own or the client's) is refused:
 *    the proxy resolves the target, so its address is never seen here;
 *  - built against a libcurl older than 7.80 (no CURLOPT_PREREQFUNCTION,
 *    so no check of reused connections), guarded requests are refused.
 * A refusal is MCP_EINVALID with a message such as "refused to connect to
 * 127.0.0.1 (loopback) for https://host/path", made before any byte of
 * the request is sent.
 *
 * Failures are an apr_status_t plus a message (never containing a query
 * string, header value or body, which may carry secrets):
 *  - MCP_EINVALID   bad URL, scheme other than http/https (also on a redirect),
 *                   a URL or redirect refused by the URL rules or as a
 *                   downgrade from https to http,
 *                   bad header name/value, a callback refused the response,
 *                   an address refused by the address guard (also a guarded
 *                   request on a client with a proxy);
 *  - MCP_ETIMEOUT   the connect, total or idle timeout elapsed (the message
 *                   says which);
 *  - MCP_ETOOLARGE  the response body exceeds max_response_size;
 *  - MCP_EPROTO     the peer broke HTTP: closed mid-body, bad chunking,
 *                   empty or garbled reply, too many redirects, a redirect
 *                   without a usable Location;
 *  - APR_ECONNREFUSED  nothing listens at the host and port;
 *  - MCP_ENOTFOUND  the host name does not resolve;
 *  - MCP_EVERIFY    the TLS peer's certificate or name did not verify;
 *  - APR_EGENERAL   other transport failures (TLS handshake, network
 *                   unreachable, ...), with curl's reason in the message.
 * An HTTP error status (404, 500, ...) is not a failure: the status is in
 * the response and the call returns APR_SUCCESS.
 *
 * This file knows nothing about libcurl; only mcp_curl.c does.
 */
#ifndef MCP_HTTP_H
#define MCP_HTTP_H

#include <apr_pools.h>
#include <apr_tables.h>
#include <apr_time.h>

#include "mcp/mcp_addr.h"
#include "mcp/mcp_common.h"
#include "mcp/mcp_url.h"

#ifdef __cplusplus
extern "C" {
#endif

/** The client: one per process, shared by all threads. */
typedef struct mcp_http_t mcp_http_t;
typedef struct mcp_http_request_t mcp_http_request_t;
typedef struct mcp_http_response_t mcp_http_response_t;
/** A fan-out: requests performed together (see mcp_http_batch_create()). */
typedef struct mcp_http_batch_t mcp_http_batch_t;
/** The client's own state of a request; not for callers. */
typedef struct mcp_http_ctl_t mcp_http_ctl_t;

/**
 * A transport in place of the network (mcp_http_options_t.transport),
 * mod_md's habit: the logic above the client (fan-out, merging, routing,
 * buffer-or-stream decisions) then runs in tests without sockets.
 */
typedef struct mcp_http_transport_t {
    const char *name;
    /**
     * Answer @a req as a server would: set resp->status, add to
     * resp->headers, point resp->body / body_len at the body (allocated
     * from req->pool); or return a failure status, with resp->error, as
     * the network would fail. Called from the thread that runs the batch,
     * in the order the requests were added (also those added meanwhile).
     * The client then does the rest as for a real exchange: URL rules
     * (before the call), mode decision, on_headers, the size cap of a
     * buffered body, on_body (the whole body in one piece; MCP_HTTP_PAUSE
     * means go on), on_done, cancellation and the batch deadline.
     * Redirects are not followed, and there are no timeouts.
     */
    apr_status_t (*exchange)(const mcp_http_request_t *req,
                             mcp_http_response_t *resp, void *baton);
    void *baton;
} mcp_http_transport_t;

/** Default connect timeout (10 s). */
#define MCP_HTTP_DEFAULT_CONNECT_TIMEOUT apr_time_from_sec(10)
/** Default total timeout of one request (60 s). */
#define MCP_HTTP_DEFAULT_TIMEOUT         apr_time_from_sec(60)
/** Default idle timeout: longest silence once the response has begun (30 s). */
#define MCP_HTTP_DEFAULT_IDLE_TIMEOUT    apr_time_from_sec(30)
/** Default cap on a response body (16 MiB). */
#define MCP_HTTP_DEFAULT_MAX_RESPONSE    (16 * 1024 * 1024)
/**
 * Default number of idle connection sets kept for reuse: room for 64
 * threads (or batches) at once, well above httpd's 25 ThreadsPerChild
 * plus long streams that keep theirs busy.
 */
#define MCP_HTTP_DEFAULT_MAX_IDLE        64
/** Connections one connection set keeps open for reuse (all hosts). */
#define MCP_HTTP_MAX_CACHED_CONNS        32
/** Upper bound on the number of requests in one mcp_http_perform_all(). */
#define MCP_HTTP_MAX_BATCH               1024

/** In mcp_http_options_t: "no limit" for a timeout (0 means the default). */
#define MCP_HTTP_NO_LIMIT                (-1)

/** Default mcp_http_request_t.url_rules: http and https to any host. */
#define MCP_HTTP_DEFAULT_URL_RULES       MCP_URL_ANY_HTTP

/**
 * Client options. Zero / NULL members take the defaults above, so a
 * zero-initialised struct (or NULL) gives a safe client.
 */
typedef struct {
    /** Connect timeout (TCP + TLS handshake); 0 = default; MCP_HTTP_NO_LIMIT. */
    apr_interval_time_t connect_timeout;
    /** Total time a request may take; 0 = default; MCP_HTTP_NO_LIMIT. */
    apr_interval_time_t timeout;
    /**
     * Longest time without receiving a byte once the first byte of the
     * response has arrived (a stalled body or SSE stream); before that the
     * total timeout applies. 0 = default; MCP_HTTP_NO_LIMIT.
     */
    apr_interval_time_t idle_timeout;
    /** Cap on a response body in bytes; 0 = default. */
    apr_size_t max_response_size;
    /** Redirects followed by default (0 = none, the default). */
    int max_redirects;
    /** PEM file of CAs trusted in addition to / instead of the system's. */
    const char *ca_file;
    /** Directory of hashed CA certificates (c_rehash). */
    const char *ca_path;
    /**
     * Proxy URL (e.g. "http://proxy.example:3128"). NULL or "" = connect
     * directly; the environment is never consulted.
     */
    const char *proxy;
    /** User-Agent header; NULL = "mod_mcp/<version>". */
    const char *user_agent;
    /**
     * Idle connection sets kept for reuse between requests; at least the
     * number of threads making requests at once. 0 = default.
     *
     * A connection set is a cache of up to MCP_HTTP_MAX_CACHED_CONNS open
     * connections (to any hosts). A request or batch takes the set used
     * last for its whole run and gives it back at the end, so a thread's
     * next request finds its warm connections. A long stream keeps its
     * set busy: the others take other sets (or make new ones), and none
     * waits for it. Sets beyond max_idle are closed when given back:
     * with fewer sets than concurrent threads, reuse collapses.
     */
    int max_idle;
    /**
     * NULL (the default): the network, through libcurl. Else every request
     * goes to this transport instead (tests); not copied.
     */
    const mcp_http_transport_t *transport;
} mcp_http_options_t;

/**
 * Called once per request when the status line and headers of the final
 * response are complete (redirects that are followed and 1xx responses are
 * skipped), always before the first call of the body callback. resp->status
 * and resp->headers are set; the body is not. Return APR_SUCCESS to go on;
 * any other status aborts the request, which then fails with that status.
 */
typedef apr_status_t mcp_http_headers_cb(const mcp_http_response_t *resp,
                                         void *baton);

/**
 * Returned by a body callback (mcp_http_body_cb): not an error, but "pause
 * this transfer": the piece given was NOT consumed and is given again,
 * whole, once mcp_http_resume() is called. Only that transfer pauses; the
 * others of its batch go on. While paused nothing more is read from the
 * connection (memory stays bounded: the piece at hand only) and the idle
 * timeout does not run; in MCP_HTTP_MODE_DEFAULT the total timeout still
 * does (use MCP_HTTP_MODE_STREAM or MCP_HTTP_MODE_AUTO for long streams).
 */
#define MCP_HTTP_PAUSE                   (MCP_ERR_BASE + 100)

/**
 * Streaming body callback: called with each piece of the response body as
 * it arrives (@a len > 0). With this callback set, the body is not kept in
 * the response. Return APR_SUCCESS to go on, MCP_HTTP_PAUSE to pause the
 * transfer (the piece is given again after mcp_http_resume()); any other
 * status aborts the request, which then fails with that status.
 */
typedef apr_status_t mcp_http_body_cb(const mcp_http_response_t *resp,
                                      const char *data, apr_size_t len,
                                      void *baton);

/**
 * How a request handles its response body (mcp_http_request_t.mode).
 *
 * A buffered body is kept in the response (resp->body), within
 * max_response_size, and the whole request within the total timeout.
 * A streamed body goes to on_body piece by piece and is never kept.
 * In MCP_HTTP_MODE_STREAM, and in MCP_HTTP_MODE_AUTO once it has decided
 * to stream, a stream has stream limits: the total timeout applies only
 * until the response headers are complete, then only the idle timeout
 * (no bytes for idle_timeout: MCP_ETIMEOUT), and there is no cap on the
 * whole stream (max_response_size is ignored: a cap per event is the
 * business of whoever parses the stream).
 */
typedef enum {
    /** Stream to on_body when it is set, else buffer; the total timeout
     *  and max_response_size apply to both (the behaviour of old). */
    MCP_HTTP_MODE_DEFAULT = 0,
    /** Buffer the body; on_body is not called. */
    MCP_HTTP_MODE_BUFFER,
    /** Stream to on_body (which must be set), with stream limits. */
    MCP_HTTP_MODE_STREAM,
    /**
     * Decided once the final response's status line and headers are in:
     * by on_mode when set, else by the rule "Content-Type
     * text/event-stream streams, anything else is buffered". on_body
     * must be set. A buffered answer keeps the buffered limits, counted
     * from the start of the request.
     */
    MCP_HTTP_MODE_AUTO
} mcp_http_mode_e;

/**
 * In MCP_HTTP_MODE_AUTO: called once, when the status line and headers of
 * the final response are complete and before on_headers, to choose
 * between MCP_HTTP_MODE_BUFFER and MCP_HTTP_MODE_STREAM (any other value
 * means: apply the rule, see MCP_HTTP_MODE_AUTO).
 */
typedef mcp_http_mode_e mcp_http_mode_cb(const mcp_http_response_t *resp,
                                         void *baton);

/**
 * Optional check called from the loop that runs the request, at least
 * ten times a second while it is under way, e.g. to notice that
 * the client a response is relayed to has gone away. Return APR_SUCCESS to
 * go on; any other status aborts the request, which then fails with it.
 */
typedef apr_status_t mcp_http_tick_cb(const mcp_http_response_t *resp,
                                      void *baton);

/**
 * Called once per request when it is finished (done, failed, timed out or
 * cancelled), with its complete response, from the thread that runs it.
 * The callback may add requests to the running batch
 * (mcp_http_batch_add()).
 */
typedef void mcp_http_done_cb(const mcp_http_response_t *resp, void *baton);

/**
 * One request. Made by mcp_http_request_create(), which fills the limits
 * from the client's options; the caller may then change any member.
 * In a request, a limit of 0 means "no limit".
 */
struct mcp_http_request_t {
    apr_pool_t *pool;            /**< request and its response live here */
    mcp_http_t *http;            /**< the client the limits came from */
    const char *method;          /**< "GET", "POST", ... */
    const char *url;             /**< absolute http: or https: URL */
    apr_table_t *headers;        /**< request headers; use mcp_http_request_header() */
    const char *body;            /**< request body or NULL */
    apr_size_t body_len;

    apr_interval_time_t connect_timeout;
    apr_interval_time_t timeout;
    apr_interval_time_t idle_timeout;
    apr_size_t max_response_size;
    /** Redirects followed; 0 = none: a 3xx is then the response. */
    int max_redirects;
    /**
     * Rules (MCP_URL_* flags) that url and every redirect target must
     * pass; default MCP_HTTP_DEFAULT_URL_RULES. See the file comment.
     */
    unsigned url_rules;
    /**
     * Names (case-insensitive) of the request headers still sent after a
     * redirect to another origin, NULL-terminated; NULL = none. Not
     * copied: it must live as long as the request.
     */
    const char *const *cross_origin_headers;
    /**
     * Address guard: an OR of MCP_ADDR_ALLOW() bits, the address classes
     * this request may connect to besides MCP_ADDR_PUBLIC (0 = public
     * addresses only). Default MCP_ADDR_ALLOW_ALL: no guard. See the
     * file comment.
     */
    unsigned addr_allow;

    /** Buffer or stream the body; default MCP_HTTP_MODE_DEFAULT. */
    mcp_http_mode_e mode;
    mcp_http_mode_cb *on_mode;        /**< optional, MCP_HTTP_MODE_AUTO only */
    /**
     * TLS and proxy settings of this request; NULL = the client's
     * (mcp_http_options_t), so requests to backends with different
     * settings can share one batch. Not copied: they must live as long
     * as the request.
     */
    const char *ca_file;         /**< PEM file of CAs; NULL = client's */
    const char *ca_path;         /**< hashed CA directory; NULL = client's */
    /** PEM client certificate for mutual TLS; NULL = none. */
    const char *client_cert;
    /** PEM private key of client_cert (unencrypted); NULL = in client_cert. */
    const char *client_key;
    /**
     * Proxy URL (http: or https:); NULL = the client's option, "" = no
     * proxy. The environment is never consulted.
     */
    const char *proxy;

    mcp_http_headers_cb *on_headers;  /**< optional */
    mcp_http_body_cb *on_body;        /**< optional: stream the body */
    mcp_http_tick_cb *on_tick;        /**< optional: periodic check */
    mcp_http_done_cb *on_done;        /**< optional: request finished */
    void *baton;                      /**< given to all callbacks */
    /** The client's own state (cancel flag, ...); do not touch. */
    mcp_http_ctl_t *ctl;
};

/** The outcome of one request, allocated from its request's pool. */
struct mcp_http_response_t {
    const mcp_http_request_t *req;
    /** APR_SUCCESS or why the request failed (see the file comment). */
    apr_status_t rv;
    /** Message when rv is not APR_SUCCESS, else NULL. */
    const char *error;
    /** HTTP status of the final response; 0 when none was received. */
    int status;
    /** Headers of the final response (never NULL; names case-insensitive). */
    apr_table_t *headers;
    /**
     * The body, NUL-terminated for convenience (the NUL is not counted in
     * body_len). NULL when the body was streamed to on_body or the request
     * failed.
     */
    const char *body;
    apr_size_t body_len;
    /**
     * 1 when the body went to on_body, 0 when it was buffered (known once
     * the headers are complete: on_headers may look at it).
     */
    int streamed;
    /** Body bytes received, whether kept or streamed. */
    apr_size_t received;
    /** URL of the final response (differs from req->url after redirects). */
    const char *effective_url;
    /** Number of redirects followed. */
    int redirects;
};

/**
 * Process-wide initialisation of the HTTP library. Call once at startup,
 * before any thread exists (post_config or child_init); later calls do
 * nothing. The library is cleaned up when @a p is destroyed.
 */
apr_status_t mcp_http_global_init(apr_pool_t *p, const char **perr);

/**
 * Make a client. @a opts may be NULL (all defaults); it is copied.
 * The client lives until @a p is destroyed (use the child_init pool).
 * Requires mcp_http_global_init().
 * @return APR_SUCCESS, MCP_EINVALID (bad option, e.g. a proxy URL that is
 *         not http/https), or APR_ENOMEM.
 */
apr_status_t mcp_http_create(mcp_http_t **phttp, apr_pool_t *p,
                             const mcp_http_options_t *opts,
                             const char **perr);

/** The client's options with the defaults filled in. */
const mcp_http_options_t *mcp_http_options(const mcp_http_t *http);

/**
 * Make a request for @a method and @a url in pool @a p (which also holds
 * its response). The URL is checked with MCP_HTTP_DEFAULT_URL_RULES
 * (mcp_url_check()); url_rules set later apply when it is performed.
 * @return APR_SUCCESS or MCP_EINVALID with *perr.
 */
apr_status_t mcp_http_request_create(mcp_http_request_t **preq,
                                     apr_pool_t *p, mcp_http_t *http,
                                     const char *method, const char *url,
                                     const char **perr);

/**
 * Add a request header. Names must be HTTP tokens; values must not contain
 * CR, LF or NUL (no header injection). Repeated names are sent repeatedly.
 * @return APR_SUCCESS or MCP_EINVALID with *perr.
 */
apr_status_t mcp_http_request_header(mcp_http_request_t *req,
                                     const char *name, const char *value,
                                     const char **perr);

/**
 * Set the request body (not copied: it must live as long as the request)
 * and, when @a content_type is not NULL, its Content-Type.
 */
apr_status_t mcp_http_request_body(mcp_http_request_t *req,
                                   const char *data, apr_size_t len,
                                   const char *content_type,
                                   const char **perr);

/**
 * Perform one request; blocks until it is done, failed or timed out.
 * *presp is always set (also on failure, then with rv and error set).
 * @return resp->rv; *perr (when perr is not NULL) gets resp->error;
 *         APR_EINVAL (and no response) when @a req or @a presp is NULL.
 */
apr_status_t mcp_http_perform(mcp_http_request_t *req,
                              mcp_http_response_t **presp,
                              const char **perr);

/**
 * Perform @a n requests in parallel (all made with the same client);
 * returns when every one is done, failed or timed out, each by its own
 * limits. resps[i] is set to the response of reqs[i], each with its own rv
 * and error. The callbacks are called from the calling thread, one at a
 * time.
 * @return APR_SUCCESS when the batch ran (look at each resps[i]->rv);
 *         APR_EINVAL for a bad argument (n == 0 or > MCP_HTTP_MAX_BATCH,
 *         requests of different clients).
 */
apr_status_t mcp_http_perform_all(mcp_http_request_t **reqs, apr_size_t n,
                                  mcp_http_response_t **resps);

/* ---- fan-out and cancellation ---- */

/**
 * Make an empty batch of requests of client @a http in pool @a p. The
 * batch lives until @a p is destroyed; the cleanup of @a p (in httpd the
 * request pool, which goes when the request ends or its client is gone)
 * cancels whatever of the batch still runs, waits (boundedly) for the
 * thread that runs it to let go, and releases the transfers. The pools
 * of its requests must live as long as the batch: @a p itself, a subpool
 * of it or a longer-lived pool.
 * mcp_http_perform() and mcp_http_perform_all() are a batch too: their
 * requests can be cancelled as well.
 * @return APR_SUCCESS, APR_EINVAL (no client) or APR_ENOMEM.
 */
apr_status_t mcp_http_batch_create(mcp_http_batch_t **pbatch, apr_pool_t *p,
                                   mcp_http_t *http, const char **perr);

/**
 * Add @a req (a request of the batch's client, not yet performed) to
 * @a batch, before mcp_http_batch_run() or while it runs, from one of the
 * batch's callbacks (on_done after a first answer, say); a request added
 * to a running batch starts at once. *presp (when not NULL) is set to the
 * request's response, complete once the request is finished.
 * Only from the thread that runs (or will run) the batch.
 * @return APR_SUCCESS; APR_EINVAL for a request of another client, one
 *         already added somewhere, or a batch of MCP_HTTP_MAX_BATCH
 *         requests already.
 */
apr_status_t mcp_http_batch_add(mcp_http_batch_t *batch,
                                mcp_http_request_t *req,
                                mcp_http_response_t **presp);

/**
 * Limits of @a batch, set before it runs: at most @a max_in_flight
 * requests run at once (0 = no cap), the others wait in the order they
 * were added; and @a deadline (0 = none) for the whole batch, counted
 * from the first mcp_http_batch_run(): when it passes, every request not
 * finished yet, running or waiting, fails with MCP_EDEADLINE (each
 * request's own timeouts still give MCP_ETIMEOUT).
 */
void mcp_http_batch_limits(mcp_http_batch_t *batch, int max_in_flight,
                           apr_interval_time_t deadline);

/**
 * Run @a batch: performs its requests in parallel and returns when every
 * one, also those added meanwhile, is finished, each by its own limits
 * (each response has its own rv). The callbacks are called from the
 * calling thread, one at a time. May be called again after more
 * requests were added.
 * @return APR_SUCCESS when the batch ran; APR_EINVAL when it is already
 *         running; APR_ENOMEM.
 */
apr_status_t mcp_http_batch_run(mcp_http_batch_t *batch);

/**
 * Cancel every request of @a batch not finished yet (also those added
 * later): each fails with MCP_ECANCELED. Safe from any thread; the thread
 * running the batch notices within about 100 ms (at once when it waits
 * for the network: it is woken up).
 */
void mcp_http_batch_cancel(mcp_http_batch_t *batch);

/**
 * Cancel @a req, whether it is performed alone or in a batch, running or
 * not started yet: it fails with MCP_ECANCELED (unless it finished
 * first). Safe from any thread while the request's pool lives; noticed as
 * fast as mcp_http_batch_cancel(). A request cancelled before it is
 * performed fails at once, without a connection.
 */
void mcp_http_cancel(mcp_http_request_t *req);

/**
 * Resume @a req, paused by its body callback (MCP_HTTP_PAUSE): the loop
 * running it goes on with it within about 100 ms (at once when called
 * from one of its batch's callbacks or when it waits for the network: it
 * is woken up), starting with the piece that was not consumed. Safe from
 * any thread while the request's pool lives. A resume when the request is
 * not paused is kept for its next pause, which then ends at once.
 */
void mcp_http_resume(mcp_http_request_t *req);

/* ---- helpers that need no request ---- */

/**
 * Is @a url an absolute http: or https: URL with a host, without user
 * credentials, spaces or control characters? This is mcp_url_check()
 * with MCP_URL_ANY_HTTP (mcp_url.h has the whole rule set: also no
 * fragment, ports 1-65535, printable ASCII only), the check the
 * configuration directives use too.
 * @return APR_SUCCESS or MCP_EINVALID with *perr (from @a p).
 */
apr_status_t mcp_http_url_check(apr_pool_t *p, const char *url,
                                const char **perr);

/**
 * @a url reduced to scheme://host[:port]/path, without credentials, query
 * or fragment: what may appear in a log line or an error message. The
 * same as mcp_url_for_log().
 */
const char *mcp_http_url_for_log(apr_pool_t *p, const char *url);

/**
 * May a request at @a from_url follow a redirect to @a to_url (absolute,
 * resolved against @a from_url)? This is the check the client applies to
 * every hop: @a to_url passes @a rules (MCP_URL_* flags, less
 * MCP_URL_OTHER_SCHEMES), and an https URL never redirects to http.
 * @return APR_SUCCESS, or MCP_EINVALID with *perr (from @a p; without
 *         either URL's query).
 */
apr_status_t mcp_http_redirect_check(apr_pool_t *p, const char *from_url,
                                     const char *to_url, unsigned rules,
                                     const char **perr);

/** First value of response header @a name, or NULL. */
const char *mcp_http_response_header(const mcp_http_response_t *resp,
                                     const char *name);

/**
 * Media type of the response's Content-Type, lower-cased and without
 * parameters ("application/json", "text/event-stream"), or NULL.
 */
const char *mcp_http_response_media_type(apr_pool_t *p,
                                         const mcp_http_response_t *resp);

#ifdef __cplusplus
}
#endif

#endif /* MCP_HTTP_H */
