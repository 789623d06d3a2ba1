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

/* The libcurl half of the HTTP client; the only file that includes curl.
 *
 * Every transfer, alone or in a batch, runs on a curl multi handle driven
 * by our own loop, so there is one code path for timeouts, size caps and
 * callbacks. Connections live in a multi handle's connection cache; idle
 * multi handles wait in a mutex-guarded stack of the client and are taken
 * by the next request of any thread (last in, first out, so a thread that
 * makes requests one after another gets its warm connections back).
 *
 * We do not put the connection cache into the share handle: libcurl does
 * not support sharing connections between concurrent threads. The share
 * handle holds what it supports across threads, the DNS cache and TLS
 * sessions, with one APR mutex per kind of data. */

#include <errno.h>
#include <stdlib.h>
#include <strings.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <curl/curl.h>
#include <apr_strings.h>
#include <apr_thread_mutex.h>

#include "mcp/mcp_addr.h"
#include "mcp/mcp_http.h"
#include "mcp_http_private.h"

#if !APR_HAS_THREADS
#error "mod_mcp needs APR with thread support"
#endif

/* Response header lines accepted per response. */
#define MCP_CURL_MAX_HEADERS 256
/* Longest wait in our loop before looking at the timers and the cancel
 * flags again (a cancel also wakes the loop at once). */
#define MCP_CURL_MAX_WAIT_MS 100
/* A batch's pool cleanup waits up to this many times 10 ms for the thread
 * running it to let go. */
#define MCP_CURL_CLEANUP_WAITS 3000
/* Easy handles a connection set keeps for its next transfers: making one
 * (a large calloc) and freeing it cost more than curl_easy_reset(). */
#define MCP_CURL_SET_EASY 4
/* Room a response body starts with when its length is not known. */
#define MCP_CURL_BODY_START 512

/* A connection set: a multi handle, whose connection cache it is, and the
 * easy handles its finished transfers left, reset. Used by one thread at
 * a time (a running batch), so without a lock. */
typedef struct {
    CURLM *multi;
    CURL *easy[MCP_CURL_SET_EASY];
    int neasy;
} conn_set_t;

struct mcp_http_t {
    apr_pool_t *pool;
    mcp_http_options_t opts;
    CURLSH *share;
    apr_thread_mutex_t *share_locks[CURL_LOCK_DATA_LAST];
    apr_thread_mutex_t *idle_lock;
    apr_thread_mutex_t *run_lock;   /* batches' multi and running, requests'
                                     * ctl->batch and ctl->xfer */
    conn_set_t **idle;          /* stack of max_idle connection sets */
    int nidle;
};

/* One request of a perform call. Each hop (the request, then each
 * redirect we follow) is a curl transfer of its own, on a new easy
 * handle. */
typedef struct {
    mcp_http_request_t *req;
    mcp_http_response_t *resp;
    mcp_http_hop_t hop;         /* what the current hop sends */
    CURL *easy;
    conn_set_t *set;            /* where the easy handle comes from and
                                 * goes back to (NULL: made and freed) */
    struct curl_slist *hdrs;
    apr_time_t start;
    apr_interval_time_t budget; /* total time this hop was given; 0 = none */
    apr_time_t last_rx;         /* last byte received (idle timer) */
    int receiving;              /* first response byte has arrived */
    int headers_done;           /* on_headers called / status fixed */
    int nheaders;
    int active;                 /* added to the multi, not yet finished */
    int started;                /* the first hop was started */
    int finished;               /* the response is complete */
    int paused;                 /* on_body asked for a pause */
    int redirecting;            /* this response is a redirect we follow */
    int own_timer;              /* total timeout kept by our loop, not curl */
    int streaming;              /* the body goes to on_body */
    int stream_limits;          /* streaming with stream limits (no cap, no
                                 * total timeout once the headers are in) */
    apr_size_t hop_received;    /* body bytes of that redirect (dropped) */
    apr_status_t abort_rv;      /* why we aborted, when we did */
    const char *abort_msg;
    const char *guard_msg;      /* the address guard refused an address */
    char *buf;                  /* body, malloc'd, freed by a pool cleanup */
    apr_size_t buf_len;
    apr_size_t buf_cap;
    char errbuf[CURL_ERROR_SIZE];
} xfer_t;

/* ---- process-wide init ---- */

static int global_inits;

static apr_status_t global_cleanup(void *baton)
{
    (void)baton;
    if (global_inits > 0 && --global_inits == 0) {
        curl_global_cleanup();
    }
    return APR_SUCCESS;
}

apr_status_t mcp_http_global_init(apr_pool_t *p, const char **perr)
{
    const curl_version_info_data *vi;
    CURLcode rc;

    if (global_inits > 0) {
        return APR_SUCCESS;
    }
    rc = curl_global_init(CURL_GLOBAL_DEFAULT);
    if (rc != CURLE_OK) {
        if (perr) {
            *perr = apr_psprintf(p, "curl_global_init failed: %s",
                                 curl_easy_strerror(rc));
        }
        mcp_log(MCP_LOG_MARK, MCP_LOG_ERR, APR_EGENERAL, p,
                MCPLOGNO(00200) "curl_global_init failed: %s",
                curl_easy_strerror(rc));
        return APR_EGENERAL;
    }
    global_inits++;
    apr_pool_cleanup_register(p, NULL, global_cleanup,
                              apr_pool_cleanup_null);
    vi = curl_version_info(CURLVERSION_NOW);
    mcp_log(MCP_LOG_MARK, MCP_LOG_DEBUG, APR_SUCCESS, p,
            MCPLOGNO(00201) "HTTP client: libcurl %s, %s",
            vi->version, vi->ssl_version ? vi->ssl_version : "no TLS");
    return APR_SUCCESS;
}

/* ---- the client ---- */

static void share_lock(CURL *easy, curl_lock_data data,
                       curl_lock_access access, void *baton)
{
    mcp_http_t *http = baton;

    (void)easy;
    (void)access;
    if ((int)data >= 0 && data < CURL_LOCK_DATA_LAST) {
        apr_thread_mutex_lock(http->share_locks[data]);
    }
}

static void share_unlock(CURL *easy, curl_lock_data data, void *baton)
{
    mcp_http_t *http = baton;

    (void)easy;
    if ((int)data >= 0 && data < CURL_LOCK_DATA_LAST) {
        apr_thread_mutex_unlock(http->share_locks[data]);
    }
}

static void set_free(conn_set_t *set)
{
    while (set->neasy > 0) {
        curl_easy_cleanup(set->easy[--set->neasy]);
    }
    curl_multi_cleanup(set->multi);
    free(set);
}

static apr_status_t http_cleanup(void *baton)
{
    mcp_http_t *http = baton;

    /* Runs before the mutexes' own cleanups (registered earlier). */
    while (http->nidle > 0) {
        set_free(http->idle[--http->nidle]);
    }
    if (http->share) {
        curl_share_cleanup(http->share);
        http->share = NULL;
    }
    return APR_SUCCESS;
}

static apr_status_t resolve_options(mcp_http_t *http, apr_pool_t *p,
                                    const mcp_http_options_t *opts,
                                    const char **perr)
{
    mcp_http_options_t *o = &http->opts;

    if (opts) {
        *o = *opts;
    }
    if (o->connect_timeout == 0) {
        o->connect_timeout = MCP_HTTP_DEFAULT_CONNECT_TIMEOUT;
    }
    if (o->timeout == 0) {
        o->timeout = MCP_HTTP_DEFAULT_TIMEOUT;
    }
    if (o->idle_timeout == 0) {
        o->idle_timeout = MCP_HTTP_DEFAULT_IDLE_TIMEOUT;
    }
    if (o->max_response_size == 0) {
        o->max_response_size = MCP_HTTP_DEFAULT_MAX_RESPONSE;
    }
    if (o->max_idle <= 0) {
        o->max_idle = MCP_HTTP_DEFAULT_MAX_IDLE;
    }
    if (o->max_redirects < 0) {
        o->max_redirects = 0;
    }
    if (!o->user_agent) {
        o->user_agent = "mod_mcp/" MCP_VERSION;
    }
    o->user_agent = apr_pstrdup(p, o->user_agent);
    o->ca_file = o->ca_file ? apr_pstrdup(p, o->ca_file) : NULL;
    o->ca_path = o->ca_path ? apr_pstrdup(p, o->ca_path) : NULL;
    if (o->proxy && *o->proxy) {
        const char *err = NULL;

        if (mcp_http_url_check(p, o->proxy, &err) != APR_SUCCESS) {
            if (perr) {
                *perr = apr_psprintf(p, "proxy: %s", err);
            }
            return MCP_EINVALID;
        }
        o->proxy = apr_pstrdup(p, o->proxy);
    }
    else {
        o->proxy = NULL;
    }
    return APR_SUCCESS;
}

apr_status_t mcp_http_create(mcp_http_t **phttp, apr_pool_t *p,
                             const mcp_http_options_t *opts,
                             const char **perr)
{
    mcp_http_t *http;
    apr_status_t rv;
    int i;

    *phttp = NULL;
    if (global_inits == 0) {
        if (perr) {
            *perr = "mcp_http_global_init() was not called";
        }
        return APR_EINIT;
    }
    http = apr_pcalloc(p, sizeof(*http));
    http->pool = p;
    if ((rv = resolve_options(http, p, opts, perr)) != APR_SUCCESS) {
        return rv;
    }
    for (i = 0; i < CURL_LOCK_DATA_LAST; i++) {
        rv = apr_thread_mutex_create(&http->share_locks[i],
                                     APR_THREAD_MUTEX_DEFAULT, p);
        if (rv != APR_SUCCESS) {
            goto fail;
        }
    }
    rv = apr_thread_mutex_create(&http->idle_lock, APR_THREAD_MUTEX_DEFAULT, p);
    if (rv == APR_SUCCESS) {
        rv = apr_thread_mutex_create(&http->run_lock, APR_THREAD_MUTEX_DEFAULT,
                                     p);
    }
    if (rv != APR_SUCCESS) {
        goto fail;
    }
    http->idle = apr_pcalloc(p, sizeof(*http->idle)
                                * (apr_size_t)http->opts.max_idle);
    apr_pool_cleanup_register(p, http, http_cleanup, apr_pool_cleanup_null);

    http->share = curl_share_init();
    if (!http->share
        || curl_share_setopt(http->share, CURLSHOPT_LOCKFUNC, share_lock)
        || curl_share_setopt(http->share, CURLSHOPT_UNLOCKFUNC, share_unlock)
        || curl_share_setopt(http->share, CURLSHOPT_USERDATA, http)
        || curl_share_setopt(http->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS)
        || curl_share_setopt(http->share, CURLSHOPT_SHARE,
                             CURL_LOCK_DATA_SSL_SESSION)) {
        rv = APR_ENOMEM;
        goto fail;
    }
    *phttp = http;
    return APR_SUCCESS;

fail:
    if (perr) {
        *perr = "cannot set up the HTTP client (mutex or curl share)";
    }
    return rv;
}

const mcp_http_options_t *mcp_http_options(const mcp_http_t *http)
{
    return &http->opts;
}

static conn_set_t *set_get(mcp_http_t *http)
{
    conn_set_t *set = NULL;

    apr_thread_mutex_lock(http->idle_lock);
    if (http->nidle > 0) {
        set = http->idle[--http->nidle];
    }
    apr_thread_mutex_unlock(http->idle_lock);
    if (!set && (set = calloc(1, sizeof(*set))) != NULL) {
        if (!(set->multi = curl_multi_init())) {
            free(set);
            return NULL;
        }
        curl_multi_setopt(set->multi, CURLMOPT_MAXCONNECTS,
                          (long)MCP_HTTP_MAX_CACHED_CONNS);
    }
    return set;
}

static void set_put(mcp_http_t *http, conn_set_t *set)
{
    apr_thread_mutex_lock(http->idle_lock);
    if (http->nidle < http->opts.max_idle) {
        http->idle[http->nidle++] = set;
        set = NULL;
    }
    apr_thread_mutex_unlock(http->idle_lock);
    if (set) {
        set_free(set);
    }
}

/* An easy handle for a transfer: one the set kept, else a new one. */
static CURL *easy_get(conn_set_t *set)
{
    if (set && set->neasy > 0) {
        return set->easy[--set->neasy];
    }
    return curl_easy_init();
}

/* Done with @a e (out of its multi): reset and kept, or freed. The reset
 * drops every option and callback of the transfer. */
static void easy_put(conn_set_t *set, CURL *e)
{
    if (set && set->neasy < MCP_CURL_SET_EASY) {
        curl_easy_reset(e);
        set->easy[set->neasy++] = e;
    }
    else {
        curl_easy_cleanup(e);
    }
}

/* ---- callbacks ---- */

/* The URL being fetched, fit for a message. */
static const char *host_of(xfer_t *x)
{
    return mcp_http_url_for_log(x->req->pool, x->hop.url);
}

static void xfer_abort(xfer_t *x, apr_status_t rv, const char *msg)
{
    if (x->abort_rv == APR_SUCCESS) {
        x->abort_rv = rv;
        x->abort_msg = msg;
    }
}

static void xfer_fail(xfer_t *x, apr_status_t rv, const char *msg)
{
    x->resp->rv = rv;
    x->resp->error = msg;
}

/* Buffer or stream, once the final response's headers are known. */
static void xfer_decide_mode(xfer_t *x)
{
    mcp_http_request_t *req = x->req;
    mcp_http_mode_e mode = req->mode;

    if (mode == MCP_HTTP_MODE_AUTO) {
        mode = req->on_mode ? req->on_mode(x->resp, req->baton)
                            : MCP_HTTP_MODE_AUTO;
        if (mode != MCP_HTTP_MODE_BUFFER && mode != MCP_HTTP_MODE_STREAM) {
            const char *mt = mcp_http_response_media_type(req->pool, x->resp);

            mode = (mt && !strcmp(mt, "text/event-stream"))
                 ? MCP_HTTP_MODE_STREAM : MCP_HTTP_MODE_BUFFER;
        }
    }
    switch (mode) {
    case MCP_HTTP_MODE_BUFFER:
        x->streaming = 0;
        break;
    case MCP_HTTP_MODE_STREAM:
        x->streaming = x->stream_limits = 1;
        break;
    default:
        x->streaming = req->on_body != NULL;
        break;
    }
    x->resp->streamed = x->streaming;
}

/* The status line and headers of the final response are known: fix the
 * status and tell the caller, once. */
static apr_status_t xfer_headers_done(xfer_t *x)
{
    long code = 0;
    apr_status_t rv;

    if (x->headers_done) {
        return APR_SUCCESS;
    }
    x->headers_done = 1;
    curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &code);
    x->resp->status = (int)code;
    xfer_decide_mode(x);
    if (x->req->on_headers) {
        rv = x->req->on_headers(x->resp, x->req->baton);
        if (rv != APR_SUCCESS) {
            xfer_abort(x, rv, "request aborted by the response headers callback");
            return rv;
        }
    }
    return APR_SUCCESS;
}

/* A redirect that we follow (or refuse to, being one too many), not a
 * response for the caller. */
static int is_followed_redirect(xfer_t *x, long code)
{
    const char *location;

    return x->req->max_redirects > 0 && mcp_http_is_redirect((int)code)
        && (location = apr_table_get(x->resp->headers, "Location")) != NULL
        && *location;
}

/* End of one header block: the final response's, unless it is a 1xx or
 * a redirect we follow once its body has been read (xfer_follow()). */
static int header_block_end(xfer_t *x)
{
    mcp_http_request_t *req = x->req;
    long code = 0;

    curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &code);
    if (code < 200) {
        return 1;
    }
    if (is_followed_redirect(x, code)) {
        if (x->resp->redirects >= req->max_redirects) {
            xfer_abort(x, MCP_EPROTO, apr_psprintf(req->pool,
                       "more than %d redirects", req->max_redirects));
            return 0;
        }
        x->redirecting = 1;
        return 1;
    }
    return xfer_headers_done(x) == APR_SUCCESS;
}

static int header_line(xfer_t *x, const char *line, apr_size_t len)
{
    const char *colon, *v, *end = line + len;

    if (len >= 5 && !memcmp(line, "HTTP/", 5)) {
        /* A new response (after a 1xx or a followed redirect). */
        apr_table_clear(x->resp->headers);
        x->nheaders = 0;
        return 1;
    }
    while (end > line && (end[-1] == '\r' || end[-1] == '\n')) {
        end--;
    }
    if (end == line) {
        return header_block_end(x);
    }
    if (++x->nheaders > MCP_CURL_MAX_HEADERS) {
        xfer_abort(x, MCP_EPROTO, apr_psprintf(x->req->pool,
                   "response has more than %d header lines",
                   MCP_CURL_MAX_HEADERS));
        return 0;
    }
    colon = memchr(line, ':', (apr_size_t)(end - line));
    if (!colon || colon == line) {
        return 1;   /* obsolete folding or junk: ignored */
    }
    for (v = colon + 1; v < end && (*v == ' ' || *v == '\t'); v++)
        ;
    while (end > v && (end[-1] == ' ' || end[-1] == '\t')) {
        end--;
    }
    apr_table_addn(x->resp->headers,
                   apr_pstrmemdup(x->req->pool, line, (apr_size_t)(colon - line)),
                   apr_pstrmemdup(x->req->pool, v, (apr_size_t)(end - v)));
    return 1;
}

static size_t on_header(char *data, size_t size, size_t nitems, void *baton)
{
    xfer_t *x = baton;
    size_t len = size * nitems;

    x->receiving = 1;
    x->last_rx = apr_time_now();
    return header_line(x, data, len) ? len : 0;
}

/* The room a body buffer starts with: the whole body when its length is
 * known and within the cap, else a small start that doubles as needed.
 * Most answers are small JSON: a large malloc and free per request cost
 * more than the copy (glibc tidies its free lists for a large one). */
static apr_size_t buf_first_cap(xfer_t *x)
{
    curl_off_t cl = -1;

    if (curl_easy_getinfo(x->easy, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &cl)
        == CURLE_OK && cl > 0
        && (!x->req->max_response_size
            || (apr_uint64_t)cl <= (apr_uint64_t)x->req->max_response_size)) {
        return (apr_size_t)cl + 1;
    }
    return MCP_CURL_BODY_START;
}

static int buf_append(xfer_t *x, const char *data, apr_size_t len)
{
    if (x->buf_len + len + 1 > x->buf_cap) {
        apr_size_t cap = x->buf_cap ? x->buf_cap : buf_first_cap(x);
        char *nbuf;

        while (cap < x->buf_len + len + 1) {
            cap *= 2;
        }
        if (!(nbuf = realloc(x->buf, cap))) {
            return 0;
        }
        x->buf = nbuf;
        x->buf_cap = cap;
    }
    memcpy(x->buf + x->buf_len, data, len);
    x->buf_len += len;
    x->buf[x->buf_len] = '\0';
    return 1;
}

#ifdef CURL_WRITEFUNC_ERROR
#define WRITE_FAIL CURL_WRITEFUNC_ERROR
#else
#define WRITE_FAIL 0
#endif

static size_t on_body(char *data, size_t size, size_t nmemb, void *baton)
{
    xfer_t *x = baton;
    mcp_http_request_t *req = x->req;
    size_t len = size * nmemb;
    apr_status_t rv;

    x->receiving = 1;
    x->last_rx = apr_time_now();
    if (!len) {
        return 0;
    }
    if (x->redirecting) {
        /* Read so the connection can be reused, within the same cap, and
         * dropped: the caller sees only the final response. */
        x->hop_received += len;
        if (req->max_response_size
            && x->hop_received > req->max_response_size) {
            xfer_abort(x, MCP_ETOOLARGE, apr_psprintf(req->pool,
                       "redirect body exceeds the limit of %" APR_SIZE_T_FMT
                       " bytes", req->max_response_size));
            return WRITE_FAIL;
        }
        return len;
    }
    if (xfer_headers_done(x) != APR_SUCCESS) {
        return WRITE_FAIL;
    }
    x->resp->received += len;
    if (req->max_response_size && !x->stream_limits
        && x->resp->received > req->max_response_size) {
        xfer_abort(x, MCP_ETOOLARGE, apr_psprintf(req->pool,
                   "response body exceeds the limit of %" APR_SIZE_T_FMT
                   " bytes", req->max_response_size));
        return WRITE_FAIL;
    }
    if (x->streaming) {
        rv = req->on_body(x->resp, data, len, req->baton);
        if (rv == MCP_HTTP_PAUSE) {
            /* Not consumed: curl keeps it and gives it again on resume,
             * and reads nothing more meanwhile. */
            x->resp->received -= len;
            x->paused = 1;
            return CURL_WRITEFUNC_PAUSE;
        }
        if (rv != APR_SUCCESS) {
            xfer_abort(x, rv, "request aborted by the response body callback");
            return WRITE_FAIL;
        }
        return len;
    }
    if (!buf_append(x, data, len)) {
        xfer_abort(x, APR_ENOMEM, "out of memory for the response body");
        return WRITE_FAIL;
    }
    return len;
}

/* ---- setting up one transfer ---- */

static apr_status_t xfer_buf_cleanup(void *baton)
{
    xfer_t *x = baton;

    free(x->buf);
    x->buf = NULL;
    return APR_SUCCESS;
}

static long to_ms(apr_interval_time_t t)
{
    return t > 0 ? (long)((t + 999) / 1000) : 0L;
}

static int set_headers(xfer_t *x)
{
    const apr_array_header_t *arr = apr_table_elts(x->hop.headers);
    const apr_table_entry_t *e = (const apr_table_entry_t *)arr->elts;
    struct curl_slist *l;
    int i;

    for (i = 0; i < arr->nelts; i++) {
        /* "Name;" is curl's way to send a header with an empty value. */
        const char *line = *e[i].val
            ? apr_pstrcat(x->req->pool, e[i].key, ": ", e[i].val, NULL)
            : apr_pstrcat(x->req->pool, e[i].key, ";", NULL);
        if (!(l = curl_slist_append(x->hdrs, line))) {
            return 0;
        }
        x->hdrs = l;
    }
    if (x->hop.body && !apr_table_get(x->hop.headers, "Expect")) {
        /* No 100-continue round trip: our bodies are small JSON. */
        if (!(l = curl_slist_append(x->hdrs, "Expect:"))) {
            return 0;
        }
        x->hdrs = l;
    }
    return !x->hdrs || curl_easy_setopt(x->easy, CURLOPT_HTTPHEADER, x->hdrs) == CURLE_OK;
}

static CURLcode set_method(xfer_t *x)
{
    const mcp_http_hop_t *hop = &x->hop;
    CURL *e = x->easy;
    CURLcode rc = CURLE_OK;

    if (!strcmp(hop->method, "HEAD")) {
        return curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
    }
    if (!strcmp(hop->method, "GET") && !hop->body) {
        return curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
    }
    if (hop->body || !strcmp(hop->method, "POST") || !strcmp(hop->method, "PUT")
        || !strcmp(hop->method, "PATCH")) {
        rc = curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE,
                              (curl_off_t)hop->body_len);
        if (rc == CURLE_OK) {
            rc = curl_easy_setopt(e, CURLOPT_POSTFIELDS,
                                  hop->body ? hop->body : "");
        }
    }
    if (rc == CURLE_OK && strcmp(hop->method, "POST")) {
        rc = curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, hop->method);
    }
    return rc;
}

static CURLcode set_protocols(CURL *e)
{
    CURLcode rc;

#if LIBCURL_VERSION_NUM >= 0x075500
    rc = curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    if (rc == CURLE_OK) {
        rc = curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    }
#else
    rc = curl_easy_setopt(e, CURLOPT_PROTOCOLS,
                          (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
    if (rc == CURLE_OK) {
        rc = curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS,
                              (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
    }
#endif
    return rc;
}

/* The proxy of the transfer: the request's ("" = none), else the
 * client's; NULL = direct. */
static const char *xfer_proxy(const xfer_t *x)
{
    const char *proxy = x->req->proxy;

    if (!proxy) {
        return x->req->http->opts.proxy;
    }
    return *proxy ? proxy : NULL;
}

/* Options that make the client's promises: TLS verified, no proxy from
 * the environment, only http(s), no signals (threads). */
static CURLcode set_policy(xfer_t *x)
{
    const mcp_http_options_t *o = &x->req->http->opts;
    const mcp_http_request_t *req = x->req;
    const char *proxy = xfer_proxy(x);
    const char *ca_file = req->ca_file ? req->ca_file : o->ca_file;
    const char *ca_path = req->ca_path ? req->ca_path : o->ca_path;
    CURL *e = x->easy;
    CURLcode rc;

    if ((rc = set_protocols(e)) != CURLE_OK
        || (rc = curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L)) != CURLE_OK
        || (rc = curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L)) != CURLE_OK
        || (rc = curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L)) != CURLE_OK
        /* "" rather than NULL: NULL would let curl read the environment. */
        || (rc = curl_easy_setopt(e, CURLOPT_PROXY, proxy ? proxy : ""))
           != CURLE_OK
        || (rc = curl_easy_setopt(e, CURLOPT_SUPPRESS_CONNECT_HEADERS, 1L))
           != CURLE_OK
        || (rc = curl_easy_setopt(e, CURLOPT_SHARE, x->req->http->share))
           != CURLE_OK
        || (rc = curl_easy_setopt(e, CURLOPT_USERAGENT, o->user_agent))
           != CURLE_OK
        || (rc = curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L)) != CURLE_OK) {
        return rc;
    }
    if (ca_file
        && (rc = curl_easy_setopt(e, CURLOPT_CAINFO, ca_file)) != CURLE_OK) {
        return rc;
    }
    if (ca_path
        && (rc = curl_easy_setopt(e, CURLOPT_CAPATH, ca_path)) != CURLE_OK) {
        return rc;
    }
    if (req->client_cert
        && ((rc = curl_easy_setopt(e, CURLOPT_SSLCERT, req->client_cert))
            != CURLE_OK
            || (rc = curl_easy_setopt(e, CURLOPT_SSLKEY, req->client_key
                                      ? req->client_key : req->client_cert))
               != CURLE_OK)) {
        return rc;
    }
    return CURLE_OK;
}

static CURLcode set_limits(xfer_t *x)
{
    mcp_http_request_t *req = x->req;
    CURL *e = x->easy;
    CURLcode rc;

    /* The total timeout is the request's, whatever its hops: a hop gets
     * what the earlier ones left (xfer_follow() stops at none). */
    x->budget = 0;
    /* A request that may become a stream keeps its total timeout in our
     * loop (check_timers()), which drops it once the stream has begun:
     * curl's could not be lifted mid-transfer. */
    x->own_timer = req->mode == MCP_HTTP_MODE_STREAM
                || req->mode == MCP_HTTP_MODE_AUTO;
    if (req->timeout) {
        x->budget = req->timeout - (apr_time_now() - x->start);
        if (x->budget < 1000) {
            x->budget = 1000;
        }
    }
    /* Redirects are ours to follow, hop by hop (xfer_follow()), never
     * curl's: each hop passes our checks and gets its own headers. */
    if ((rc = curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS,
                               to_ms(req->connect_timeout))) != CURLE_OK
        || (rc = curl_easy_setopt(e, CURLOPT_TIMEOUT_MS,
                                  x->own_timer ? 0L : to_ms(x->budget)))
           != CURLE_OK
        || (rc = curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L)) != CURLE_OK) {
        return rc;
    }
    if (req->max_response_size && !x->own_timer) {
        /* Refuses early when Content-Length is known; on_body counts
         * (alone when the body may turn out a stream, without cap). */
        rc = curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE,
                              (curl_off_t)req->max_response_size);
    }
    return rc;
}

/* ---- the address guard ---- */

/* Without CURLOPT_PREREQFUNCTION (libcurl 7.80) a reused connection would
 * escape the guard: it is not built then, and set_guard() refuses. */
#if LIBCURL_VERSION_NUM >= 0x075000
static const char *sockaddr_text(apr_pool_t *p, const struct sockaddr *sa,
                                 apr_size_t len)
{
    struct sockaddr_in in4;
    struct sockaddr_in6 in6;

    /* Copies: curl's buffer need not be aligned for these types. */
    if (sa->sa_family == AF_INET && len >= sizeof(in4)) {
        memcpy(&in4, sa, sizeof(in4));
        return mcp_addr_format(p, AF_INET,
                               (const unsigned char *)&in4.sin_addr);
    }
    if (sa->sa_family == AF_INET6 && len >= sizeof(in6)) {
        memcpy(&in6, sa, sizeof(in6));
        return mcp_addr_format(p, AF_INET6, in6.sin6_addr.s6_addr);
    }
    return "an address of another family";
}

static const char *guard_message(xfer_t *x, const char *addr,
                                 mcp_addr_class_e c)
{
    return apr_psprintf(x->req->pool, "refused to connect to %s (%s) for %s",
                        addr, mcp_addr_class_name(c), host_of(x));
}

/* CURLOPT_OPENSOCKETFUNCTION: called with each address curl is about to
 * connect to, after name resolution. What is checked is what is used, so
 * a name whose DNS answer changes between a check and the connect (DNS
 * rebinding) gains nothing. On a refusal curl tries the next address of
 * the name, if any; the message is kept for when none is left. */
static curl_socket_t guard_open(void *baton, curlsocktype purpose,
                                struct curl_sockaddr *a)
{
    xfer_t *x = baton;
    mcp_addr_class_e c = mcp_addr_classify(&a->addr, a->addrlen);
    int type = a->socktype;

    if (purpose != CURLSOCKTYPE_IPCXN
        || !mcp_addr_allowed(c, x->req->addr_allow)) {
        const char *msg = guard_message(x, sockaddr_text(x->req->pool,
                                        &a->addr, a->addrlen), c);

        mcp_log(MCP_LOG_MARK, MCP_LOG_DEBUG, MCP_EINVALID, x->req->pool,
                MCPLOGNO(01100) "HTTP address guard: %s", msg);
        if (!x->guard_msg) {
            x->guard_msg = msg;
        }
        return CURL_SOCKET_BAD;
    }
#ifdef SOCK_CLOEXEC
    /* Not inherited by the processes httpd forks (CGI, piped logs). */
    type |= SOCK_CLOEXEC;
#endif
    return socket(a->family, type, a->protocol);
}

/* CURLOPT_PREREQFUNCTION: the connection's address once more, just before
 * the request is sent. A reused connection was opened by an earlier
 * request, maybe one without a guard or with a laxer one, and never went
 * through guard_open(): this is where it is refused. */
static int guard_prereq(void *baton, char *primary_ip, char *local_ip,
                        int primary_port, int local_port)
{
    xfer_t *x = baton;
    unsigned char addr[16];
    int family = 0;
    mcp_addr_class_e c = MCP_ADDR_RESERVED;
    const char *text = "an address that cannot be read";

    if (primary_ip && mcp_addr_parse(primary_ip, &family, addr)) {
        c = mcp_addr_classify_bytes(family, addr);
        if (mcp_addr_allowed(c, x->req->addr_allow)) {
            return CURL_PREREQFUNC_OK;
        }
        text = mcp_addr_format(x->req->pool, family, addr);
    }
    /* An address we cannot read is refused too: fail closed. */
    xfer_abort(x, MCP_EINVALID, guard_message(x, text, c));
    return CURL_PREREQFUNC_ABORT;
}
#endif

/* The address guard, set only on a request that has one: the others keep
 * curl's own socket handling. */
static apr_status_t set_guard(xfer_t *x)
{
    mcp_http_request_t *req = x->req;
    CURL *e = x->easy;

    if (req->addr_allow == MCP_ADDR_ALLOW_ALL) {
        return APR_SUCCESS;
    }
    if (xfer_proxy(x)) {
        /* curl connects to the proxy, which resolves the target: no
         * address of the target is ever seen here. */
        xfer_fail(x, MCP_EINVALID, apr_psprintf(req->pool, "refused to "
                  "send the request for %s through a proxy: the address "
                  "guard cannot see the target's address", host_of(x)));
        return MCP_EINVALID;
    }
#if LIBCURL_VERSION_NUM >= 0x075000
    {
        CURLcode rc;

        if ((rc = curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, guard_open))
            != CURLE_OK
            || (rc = curl_easy_setopt(e, CURLOPT_OPENSOCKETDATA, x))
               != CURLE_OK
            || (rc = curl_easy_setopt(e, CURLOPT_PREREQFUNCTION, guard_prereq))
               != CURLE_OK
            || (rc = curl_easy_setopt(e, CURLOPT_PREREQDATA, x)) != CURLE_OK) {
            /* E.g. an older libcurl at run time than at build time. */
            xfer_fail(x, MCP_EINVALID, apr_psprintf(req->pool, "cannot set "
                      "up the address guard for %s: %s", host_of(x),
                      curl_easy_strerror(rc)));
            return MCP_EINVALID;
        }
    }
    return APR_SUCCESS;
#else
    (void)e;
    /* Without a check of reused connections the guard has a hole. */
    xfer_fail(x, MCP_EINVALID, apr_psprintf(req->pool, "refused the request "
              "for %s: the address guard needs libcurl 7.80 or later "
              "(CURLOPT_PREREQFUNCTION)", host_of(x)));
    return MCP_EINVALID;
#endif
}

static CURLcode set_io(xfer_t *x)
{
    CURL *e = x->easy;
    CURLcode rc;

    if ((rc = curl_easy_setopt(e, CURLOPT_URL, x->hop.url)) != CURLE_OK
        || (rc = curl_easy_setopt(e, CURLOPT_PRIVATE, x)) != CURLE_OK
        || (rc = curl_easy_setopt(e, CURLOPT_ERRORBUFFER, x->errbuf)) != CURLE_OK
        || (rc = curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header))
           != CURLE_OK
        || (rc = curl_easy_setopt(e, CURLOPT_HEADERDATA, x)) != CURLE_OK
        || (rc = curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body)) != CURLE_OK
        || (rc = curl_easy_setopt(e, CURLOPT_WRITEDATA, x)) != CURLE_OK) {
        return rc;
    }
    return CURLE_OK;
}

/* Make the easy handle; on failure the response says why. */
static apr_status_t xfer_setup(xfer_t *x)
{
    mcp_http_request_t *req = x->req;
    const char *err = NULL;
    apr_status_t rv;
    CURLcode rc;

    if (mcp_http_url_allowed(req->pool, req, x->hop.url, &err)
        != APR_SUCCESS) {
        xfer_fail(x, MCP_EINVALID, err);
        return MCP_EINVALID;
    }
    if (req->proxy && *req->proxy
        && mcp_http_url_check(req->pool, req->proxy, &err) != APR_SUCCESS) {
        xfer_fail(x, MCP_EINVALID, apr_psprintf(req->pool, "proxy: %s", err));
        return MCP_EINVALID;
    }
    if ((req->mode == MCP_HTTP_MODE_STREAM || req->mode == MCP_HTTP_MODE_AUTO)
        && !req->on_body) {
        xfer_fail(x, MCP_EINVALID, "a request that may stream its body "
                  "needs a body callback (on_body)");
        return MCP_EINVALID;
    }
    if (!(x->easy = easy_get(x->set))) {
        xfer_fail(x, APR_ENOMEM, "cannot create a curl handle");
        return APR_ENOMEM;
    }
    if ((rc = set_io(x)) != CURLE_OK
        || (rc = set_policy(x)) != CURLE_OK
        || (rc = set_limits(x)) != CURLE_OK
        || (rc = set_method(x)) != CURLE_OK) {
        xfer_fail(x, APR_EGENERAL, apr_psprintf(req->pool,
                  "cannot configure the transfer: %s", curl_easy_strerror(rc)));
        return APR_EGENERAL;
    }
    if ((rv = set_guard(x)) != APR_SUCCESS) {
        return rv;
    }
    if (!set_headers(x)) {
        xfer_fail(x, APR_ENOMEM, "cannot set the request headers");
        return APR_ENOMEM;
    }
    return APR_SUCCESS;
}

static void xfer_release(xfer_t *x)
{
    if (x->easy) {
        easy_put(x->set, x->easy);
        x->easy = NULL;
    }
    if (x->hdrs) {
        curl_slist_free_all(x->hdrs);
        x->hdrs = NULL;
    }
}

/* ---- results ---- */

static const char *curl_reason(xfer_t *x, CURLcode rc)
{
    return x->errbuf[0] ? x->errbuf : curl_easy_strerror(rc);
}

static void timeout_result(xfer_t *x)
{
    mcp_http_request_t *req = x->req;
    curl_off_t connect_us = 0, app_us = 0, pre_us = 0;
    int https = !strncasecmp(x->hop.url, "https:", 6);
    int connected;

    curl_easy_getinfo(x->easy, CURLINFO_CONNECT_TIME_T, &connect_us);
    curl_easy_getinfo(x->easy, CURLINFO_APPCONNECT_TIME_T, &app_us);
    curl_easy_getinfo(x->easy, CURLINFO_PRETRANSFER_TIME_T, &pre_us);
    /* A reused connection has no connect time, but the request went out
     * on it. */
    connected = pre_us > 0 || (https ? app_us > 0 : connect_us > 0);
    if (!connected && req->connect_timeout
        && (!x->budget || req->connect_timeout <= x->budget)) {
        xfer_fail(x, MCP_ETIMEOUT, apr_psprintf(req->pool,
                  "connect timeout (%ld ms) connecting to %s",
                  to_ms(req->connect_timeout), host_of(x)));
    }
    else {
        xfer_fail(x, MCP_ETIMEOUT, apr_psprintf(req->pool,
                  "total timeout (%ld ms) of the request to %s %s",
                  to_ms(req->timeout), host_of(x),
                  connected ? "exceeded" : "exceeded while connecting"));
    }
}

static void connect_result(xfer_t *x, CURLcode rc)
{
    long oserr = 0;

    curl_easy_getinfo(x->easy, CURLINFO_OS_ERRNO, &oserr);
    if (oserr == ECONNREFUSED) {
        xfer_fail(x, APR_ECONNREFUSED, apr_psprintf(x->req->pool,
                  "connection refused by %s", host_of(x)));
        return;
    }
    xfer_fail(x, oserr ? APR_FROM_OS_ERROR(oserr) : APR_EGENERAL,
              apr_psprintf(x->req->pool, "cannot connect to %s: %s",
                           host_of(x), curl_reason(x, rc)));
}

static void error_result(xfer_t *x, CURLcode rc)
{
    apr_pool_t *p = x->req->pool;

    switch (rc) {
    case CURLE_OPERATION_TIMEDOUT:
        timeout_result(x);
        break;
    case CURLE_COULDNT_CONNECT:
        connect_result(x, rc);
        break;
    case CURLE_UNSUPPORTED_PROTOCOL:
        xfer_fail(x, MCP_EINVALID, apr_psprintf(p, "only http and https are "
                  "allowed (also on redirects): %s", curl_reason(x, rc)));
        break;
    case CURLE_URL_MALFORMAT:
        xfer_fail(x, MCP_EINVALID, apr_psprintf(p, "malformed URL: %s",
                                                curl_reason(x, rc)));
        break;
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
        xfer_fail(x, MCP_ENOTFOUND, apr_psprintf(p, "cannot resolve host: %s",
                                                 curl_reason(x, rc)));
        break;
    case CURLE_FILESIZE_EXCEEDED:
        xfer_fail(x, MCP_ETOOLARGE, apr_psprintf(p, "response body exceeds "
                  "the limit of %" APR_SIZE_T_FMT " bytes",
                  x->req->max_response_size));
        break;
    case CURLE_PARTIAL_FILE:
        xfer_fail(x, MCP_EPROTO, apr_psprintf(p, "%s closed the connection "
                  "before the end of the body (%" APR_SIZE_T_FMT " bytes "
                  "received): %s", host_of(x), x->resp->received,
                  curl_reason(x, rc)));
        break;
    case CURLE_GOT_NOTHING:
    case CURLE_WEIRD_SERVER_REPLY:
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_BAD_CONTENT_ENCODING:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
        xfer_fail(x, MCP_EPROTO, apr_psprintf(p, "HTTP exchange with %s "
                  "failed: %s", host_of(x), curl_reason(x, rc)));
        break;
    case CURLE_PEER_FAILED_VERIFICATION:
        xfer_fail(x, MCP_EVERIFY, apr_psprintf(p, "TLS peer %s did not "
                  "verify: %s", host_of(x), curl_reason(x, rc)));
        break;
    case CURLE_SSL_CONNECT_ERROR:
        xfer_fail(x, APR_EGENERAL, apr_psprintf(p, "TLS handshake with %s "
                  "failed: %s", host_of(x), curl_reason(x, rc)));
        break;
    case CURLE_SSL_CERTPROBLEM:
        xfer_fail(x, MCP_EINVALID, apr_psprintf(p, "client certificate or "
                  "key cannot be used: %s", curl_reason(x, rc)));
        break;
    case CURLE_SSL_CACERT_BADFILE:
        xfer_fail(x, MCP_EINVALID, apr_psprintf(p, "CA certificates cannot "
                  "be loaded: %s", curl_reason(x, rc)));
        break;
    case CURLE_OUT_OF_MEMORY:
        xfer_fail(x, APR_ENOMEM, "out of memory in libcurl");
        break;
    default:
        xfer_fail(x, APR_EGENERAL, apr_psprintf(p, "request to %s failed: %s",
                                                host_of(x), curl_reason(x, rc)));
        break;
    }
}

static void xfer_success(xfer_t *x)
{
    mcp_http_response_t *resp = x->resp;
    long code = 0;
    char *url = NULL;

    if (xfer_headers_done(x) != APR_SUCCESS) {
        xfer_fail(x, x->abort_rv, x->abort_msg);
        return;
    }
    curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &code);
    curl_easy_getinfo(x->easy, CURLINFO_EFFECTIVE_URL, &url);
    resp->status = (int)code;
    if (url) {
        resp->effective_url = apr_pstrdup(x->req->pool, url);
    }
    if (!x->streaming) {
        /* The buffer stays owned by the pool cleanup registered in
         * xfer_start(): one owner, freed with the request pool. */
        resp->body = x->buf ? x->buf : "";
        resp->body_len = x->buf_len;
    }
}

static void xfer_finish(xfer_t *x, CURLcode rc)
{
    mcp_http_request_t *req = x->req;

    x->active = 0;
    if (x->abort_rv != APR_SUCCESS) {
        xfer_fail(x, x->abort_rv, x->abort_msg);
    }
    else if (rc == CURLE_COULDNT_CONNECT && x->guard_msg) {
        xfer_fail(x, MCP_EINVALID, x->guard_msg);
    }
    else if (rc != CURLE_OK) {
        error_result(x, rc);
    }
    else {
        xfer_success(x);
    }
    if (x->resp->rv != APR_SUCCESS) {
        mcp_log(MCP_LOG_MARK, MCP_LOG_DEBUG, x->resp->rv, req->pool,
                MCPLOGNO(00202) "HTTP %s %s failed after %" APR_TIME_T_FMT
                " ms: %s", req->method, host_of(x),
                apr_time_as_msec(apr_time_now() - x->start), x->resp->error);
    }
    else {
        mcp_log(MCP_LOG_MARK, MCP_LOG_TRACE1, APR_SUCCESS, req->pool,
                MCPLOGNO(00203) "HTTP %s %s: %d, %" APR_SIZE_T_FMT
                " bytes in %" APR_TIME_T_FMT " ms", req->method, host_of(x),
                x->resp->status, x->resp->received,
                apr_time_as_msec(apr_time_now() - x->start));
    }
    xfer_release(x);
}

/* ---- the loop ---- */

static xfer_t *xfer_make(mcp_http_request_t *req)
{
    xfer_t *x = apr_pcalloc(req->pool, sizeof(*x));

    x->req = req;
    x->resp = apr_pcalloc(req->pool, sizeof(*x->resp));
    x->resp->req = req;
    x->resp->headers = apr_table_make(req->pool, 16);
    mcp_http_hop_init(&x->hop, req);
    x->start = x->last_rx = apr_time_now();
    apr_pool_cleanup_register(req->pool, x, xfer_buf_cleanup,
                              apr_pool_cleanup_null);
    return x;
}

static int xfer_start(CURLM *m, xfer_t *x)
{
    CURLMcode mc;

    if (!x->started) {
        /* Timeouts count from here, not from a wait in the queue. */
        x->started = 1;
        x->start = x->last_rx = apr_time_now();
    }
    if (xfer_setup(x) != APR_SUCCESS) {
        xfer_release(x);
        return 0;
    }
    if ((mc = curl_multi_add_handle(m, x->easy)) != CURLM_OK) {
        xfer_fail(x, APR_EGENERAL, apr_psprintf(x->req->pool,
                  "cannot start the transfer: %s", curl_multi_strerror(mc)));
        xfer_release(x);
        return 0;
    }
    x->active = 1;
    return 1;
}

/* A redirect response is complete: check the hop and start the next one
 * as a new transfer on the same multi handle, while the others of a batch
 * go on. Returns 1 when the next hop runs, 0 when the request is to be
 * finished (not a redirect we follow, or a refused hop: abort_rv says
 * why). */
static int xfer_follow(CURLM *m, xfer_t *x, CURLcode rc)
{
    mcp_http_request_t *req = x->req;
    const char *err = NULL, *from;
    char *to = NULL;
    long code = 0;
    apr_status_t rv;

    if (!x->redirecting || rc != CURLE_OK || x->abort_rv != APR_SUCCESS) {
        return 0;
    }
    curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &code);
    /* The Location resolved against this hop's URL, as curl would follow
     * it (it is not followed: redirects are off on the handle). */
    curl_easy_getinfo(x->easy, CURLINFO_REDIRECT_URL, &to);
    if (!to) {
        xfer_abort(x, MCP_EPROTO, apr_psprintf(req->pool, "redirect from %s "
                   "without a usable Location", host_of(x)));
        return 0;
    }
    from = host_of(x);
    if ((rv = mcp_http_hop_next(&x->hop, req, (int)code, to, &err))
        != APR_SUCCESS) {
        xfer_abort(x, rv, err);
        return 0;
    }
    x->resp->redirects++;
    mcp_log(MCP_LOG_MARK, MCP_LOG_TRACE1, APR_SUCCESS, req->pool,
            MCPLOGNO(01101) "HTTP %s %s: %ld, following to %s", req->method,
            from, code, host_of(x));
    xfer_release(x);
    apr_table_clear(x->resp->headers);
    x->nheaders = 0;
    x->receiving = 0;
    x->redirecting = 0;
    x->hop_received = 0;
    x->guard_msg = NULL;
    x->errbuf[0] = '\0';
    if (req->timeout && apr_time_now() - x->start >= req->timeout) {
        xfer_abort(x, MCP_ETIMEOUT, apr_psprintf(req->pool, "total timeout "
                   "(%ld ms) of the request to %s exceeded in redirects",
                   to_ms(req->timeout), host_of(x)));
        return 0;
    }
    if (!xfer_start(m, x)) {
        xfer_abort(x, x->resp->rv, x->resp->error);
        return 0;
    }
    return 1;
}

/* Finish the transfers curl reports done, or start their next hop;
 * returns how many finished. */
/* ---- batches ---- */

struct mcp_http_batch_t {
    apr_pool_t *pool;           /* NULL for the batch of a perform call */
    mcp_http_t *http;
    CURLM *multi;               /* while running; under http->run_lock */
    conn_set_t *set;            /* while running: its multi is multi */
    int running;                /* under http->run_lock */
    volatile apr_uint32_t cancel;
    xfer_t **xs;                /* malloc'd: the batch's pool may be shared */
    apr_size_t n, cap;
    apr_size_t next;            /* first transfer not started yet */
    apr_size_t finished;
    apr_size_t in_flight;       /* started, not finished */
    apr_size_t max_in_flight;   /* 0 = no cap */
    apr_interval_time_t deadline;   /* 0 = none */
    apr_time_t deadline_at;     /* set by the first run */
};

static void batch_init(mcp_http_batch_t *b, mcp_http_t *http)
{
    memset(b, 0, sizeof(*b));
    b->http = http;
}

static void batch_free(mcp_http_batch_t *b)
{
    apr_size_t i;

    apr_thread_mutex_lock(b->http->run_lock);
    for (i = 0; i < b->n; i++) {
        /* Done with: the request may be performed again. */
        b->xs[i]->req->ctl->batch = NULL;
        b->xs[i]->req->ctl->xfer = NULL;
    }
    apr_thread_mutex_unlock(b->http->run_lock);
    free(b->xs);
    b->xs = NULL;
    b->n = b->cap = 0;
}

static apr_status_t batch_append(mcp_http_batch_t *b, mcp_http_request_t *req,
                                 mcp_http_response_t **presp)
{
    xfer_t *x;

    if (!req || req->http != b->http || !req->ctl || req->ctl->xfer
        || b->n >= MCP_HTTP_MAX_BATCH) {
        return APR_EINVAL;
    }
    if (b->n == b->cap) {
        apr_size_t cap = b->cap ? b->cap * 2 : 8;
        xfer_t **nxs = realloc(b->xs, cap * sizeof(*nxs));

        if (!nxs) {
            return APR_ENOMEM;
        }
        b->xs = nxs;
        b->cap = cap;
    }
    x = xfer_make(req);
    apr_thread_mutex_lock(b->http->run_lock);
    req->ctl->batch = b;
    req->ctl->xfer = x;
    apr_thread_mutex_unlock(b->http->run_lock);
    b->xs[b->n++] = x;
    if (presp) {
        *presp = x->resp;
    }
    return APR_SUCCESS;
}

/* Wake the loop of the batch @a req is in, if it runs. */
static void wake_request(mcp_http_request_t *req)
{
    apr_thread_mutex_lock(req->http->run_lock);
    if (req->ctl->batch && req->ctl->batch->multi) {
        curl_multi_wakeup(req->ctl->batch->multi);
    }
    apr_thread_mutex_unlock(req->http->run_lock);
}

void mcp_http_cancel(mcp_http_request_t *req)
{
    if (req && req->ctl) {
        apr_atomic_set32(&req->ctl->cancel, 1);
        wake_request(req);
    }
}

void mcp_http_resume(mcp_http_request_t *req)
{
    if (req && req->ctl) {
        apr_atomic_set32(&req->ctl->resume, 1);
        wake_request(req);
    }
}

void mcp_http_batch_cancel(mcp_http_batch_t *b)
{
    if (!b) {
        return;
    }
    apr_atomic_set32(&b->cancel, 1);
    apr_thread_mutex_lock(b->http->run_lock);
    if (b->multi) {
        curl_multi_wakeup(b->multi);
    }
    apr_thread_mutex_unlock(b->http->run_lock);
}

/* Is the batch still run by some thread? */
static int batch_running(mcp_http_batch_t *b)
{
    int running;

    apr_thread_mutex_lock(b->http->run_lock);
    running = b->running;
    apr_thread_mutex_unlock(b->http->run_lock);
    return running;
}

/* The cleanup of the batch's pool: cancel what runs, wait for the loop
 * to let go (it notices within MCP_CURL_MAX_WAIT_MS), release. */
static apr_status_t batch_cleanup(void *baton)
{
    mcp_http_batch_t *b = baton;
    int i;

    mcp_http_batch_cancel(b);
    for (i = 0; i < MCP_CURL_CLEANUP_WAITS && batch_running(b); i++) {
        apr_sleep(apr_time_from_msec(10));
    }
    batch_free(b);
    return APR_SUCCESS;
}

apr_status_t mcp_http_batch_create(mcp_http_batch_t **pb, apr_pool_t *p,
                                   mcp_http_t *http, const char **perr)
{
    mcp_http_batch_t *b;

    *pb = NULL;
    if (!http) {
        if (perr) {
            *perr = "no HTTP client";
        }
        return APR_EINVAL;
    }
    b = apr_palloc(p, sizeof(*b));
    batch_init(b, http);
    b->pool = p;
    /* Before the subpools go, which may hold the requests. */
    apr_pool_pre_cleanup_register(p, b, batch_cleanup);
    *pb = b;
    return APR_SUCCESS;
}

void mcp_http_batch_limits(mcp_http_batch_t *b, int max_in_flight,
                           apr_interval_time_t deadline)
{
    if (b) {
        b->max_in_flight = max_in_flight > 0 ? (apr_size_t)max_in_flight : 0;
        b->deadline = deadline > 0 ? deadline : 0;
    }
}

apr_status_t mcp_http_batch_add(mcp_http_batch_t *b, mcp_http_request_t *req,
                                mcp_http_response_t **presp)
{
    return b ? batch_append(b, req, presp) : APR_EINVAL;
}

/* ---- the loop ---- */

/* The response of @a x is complete: count it, tell the caller. */
static void batch_done(mcp_http_batch_t *b, xfer_t *x)
{
    mcp_http_request_t *req = x->req;

    x->finished = 1;
    b->finished++;
    if (x->started) {
        b->in_flight--;
    }
    if (req->on_done) {
        req->on_done(x->resp, req->baton);
    }
}

/* A transfer is finished: make its response, tell the caller. */
static void batch_finish(mcp_http_batch_t *b, xfer_t *x, CURLcode rc)
{
    if (x->active) {
        curl_multi_remove_handle(b->multi, x->easy);
    }
    xfer_finish(x, rc);
    batch_done(b, x);
}

/* End @a x with @a rv and @a msg, whether it runs or waits to start. */
static void batch_abort(mcp_http_batch_t *b, xfer_t *x, apr_status_t rv,
                        const char *msg)
{
    xfer_abort(x, rv, msg);
    batch_finish(b, x, CURLE_OK);
}

static int is_cancelled(mcp_http_batch_t *b, xfer_t *x)
{
    return apr_atomic_read32(&b->cancel)
        || apr_atomic_read32(&x->req->ctl->cancel);
}

static const char *cancel_message(xfer_t *x)
{
    return apr_psprintf(x->req->pool, "request to %s cancelled", host_of(x));
}

/* Start the transfers added and not started yet. */
static void start_queued(mcp_http_batch_t *b)
{
    while (b->next < b->n
           && (!b->max_in_flight || b->in_flight < b->max_in_flight)) {
        xfer_t *x = b->xs[b->next++];

        if (x->finished) {
            continue;
        }
        if (is_cancelled(b, x)) {
            batch_abort(b, x, MCP_ECANCELED, cancel_message(x));
            continue;
        }
        b->in_flight++;
        x->set = b->set;
        if (!xfer_start(b->multi, x)) {
            batch_abort(b, x, x->resp->rv, x->resp->error);
        }
    }
}

/* Finish the transfers curl reports done, or start their next hop. */
static void collect_done(mcp_http_batch_t *b)
{
    CURLMsg *msg;
    int left;

    while ((msg = curl_multi_info_read(b->multi, &left)) != NULL) {
        if (msg->msg == CURLMSG_DONE) {
            CURL *e = msg->easy_handle;
            CURLcode rc = msg->data.result;
            char *priv = NULL;
            xfer_t *x;

            curl_easy_getinfo(e, CURLINFO_PRIVATE, &priv);
            x = (xfer_t *)(void *)priv;
            curl_multi_remove_handle(b->multi, e);
            if (x && x->active) {
                x->active = 0;
                if (xfer_follow(b->multi, x, rc)) {
                    continue;
                }
                batch_finish(b, x, rc);
            }
        }
    }
}

/* Has @a deadline passed? Else *wait_ms is lowered to it. */
static int passed(apr_time_t deadline, apr_time_t now, long *wait_ms)
{
    if (now >= deadline) {
        return 1;
    }
    if (to_ms(deadline - now) < *wait_ms) {
        *wait_ms = to_ms(deadline - now);
    }
    return 0;
}

/* The total timeout of a transfer that keeps it in our loop, until its
 * body streams. */
static int total_expired(xfer_t *x, apr_time_t now, long *wait_ms)
{
    return x->own_timer && !x->stream_limits && x->req->timeout
        && passed(x->start + x->req->timeout, now, wait_ms);
}

/* Has @a x been silent for longer than its idle timeout? A pause is our
 * silence, not the peer's. */
static int idle_expired(xfer_t *x, apr_time_t now, long *wait_ms)
{
    return x->receiving && x->req->idle_timeout && !x->paused
        && passed(x->last_rx + x->req->idle_timeout, now, wait_ms);
}

/* Why a transfer that is not finished must end now, or APR_SUCCESS:
 * cancelled (the batch or the request), or its on_tick said so. */
static apr_status_t must_end(mcp_http_batch_t *b, xfer_t *x, const char **msg)
{
    mcp_http_request_t *req = x->req;
    apr_status_t rv;

    if (is_cancelled(b, x)) {
        *msg = cancel_message(x);
        return MCP_ECANCELED;
    }
    if (b->deadline_at && apr_time_now() >= b->deadline_at) {
        *msg = apr_psprintf(req->pool, "the deadline of the batch (%ld ms) "
                            "passed before the request to %s was done",
                            to_ms(b->deadline), host_of(x));
        return MCP_EDEADLINE;
    }
    if (x->active && req->on_tick
        && (rv = req->on_tick(x->resp, req->baton)) != APR_SUCCESS) {
        *msg = "request aborted by the tick callback";
        return rv;
    }
    return APR_SUCCESS;
}

/* Resume @a x when it is paused and mcp_http_resume() was called. curl
 * gives the kept piece to on_body at once, which may pause again. */
static void resume_if_asked(mcp_http_batch_t *b, xfer_t *x)
{
    CURLcode rc;

    if (!x->paused || !apr_atomic_xchg32(&x->req->ctl->resume, 0)) {
        return;
    }
    x->paused = 0;
    x->last_rx = apr_time_now();
    if ((rc = curl_easy_pause(x->easy, CURLPAUSE_CONT)) != CURLE_OK) {
        batch_abort(b, x, APR_EGENERAL, apr_psprintf(x->req->pool,
                    "cannot resume the transfer from %s: %s", host_of(x),
                    curl_easy_strerror(rc)));
    }
}

/* Look at each transfer not finished: cancelled, timed out, idle too
 * long; lowers *wait_ms to the nearest deadline. Callbacks may add
 * transfers: b->xs is read again for each. */
static void check_timers(mcp_http_batch_t *b, long *wait_ms)
{
    apr_time_t now = apr_time_now();
    apr_size_t i;

    if (b->deadline_at) {
        passed(b->deadline_at, now, wait_ms);
    }
    for (i = 0; i < b->n; i++) {
        xfer_t *x = b->xs[i];
        const char *msg = NULL;
        apr_status_t rv;

        if (x->finished) {
            continue;
        }
        if ((rv = must_end(b, x, &msg)) != APR_SUCCESS) {
            batch_abort(b, x, rv, msg);
        }
        else if (!x->active) {
            continue;
        }
        else if (x->paused) {
            resume_if_asked(b, x);
        }
        else if (total_expired(x, now, wait_ms)) {
            batch_finish(b, x, CURLE_OPERATION_TIMEDOUT);
        }
        else if (idle_expired(x, now, wait_ms)) {
            batch_abort(b, x, MCP_ETIMEOUT, apr_psprintf(x->req->pool,
                        "idle timeout (%ld ms): no data from %s",
                        to_ms(x->req->idle_timeout), host_of(x)));
        }
    }
}

static void fail_unfinished(mcp_http_batch_t *b, const char *msg)
{
    apr_size_t i;

    for (i = 0; i < b->n; i++) {
        if (!b->xs[i]->finished) {
            batch_abort(b, b->xs[i], APR_EGENERAL, msg);
        }
    }
}

static void run_loop(mcp_http_batch_t *b)
{
    while (b->finished < b->n) {
        long wait_ms = MCP_CURL_MAX_WAIT_MS;
        int running = 0;
        CURLMcode mc;

        start_queued(b);
        mc = curl_multi_perform(b->multi, &running);
        if (mc == CURLM_OK) {
            collect_done(b);
            check_timers(b, &wait_ms);
            start_queued(b);
        }
        if (mc != CURLM_OK) {
            fail_unfinished(b, curl_multi_strerror(mc));
            return;
        }
        if (b->finished == b->n) {
            break;
        }
        mc = curl_multi_poll(b->multi, NULL, 0, wait_ms > 0 ? (int)wait_ms : 1,
                             NULL);
        if (mc != CURLM_OK) {
            fail_unfinished(b, curl_multi_strerror(mc));
            return;
        }
    }
}

/* ---- a transport in place of curl ---- */

/* What the client does with the answer of a transport, as with one from
 * the network; abort_rv says when it fails. */
static void transport_answer(xfer_t *x, const char *body, apr_size_t len)
{
    mcp_http_request_t *req = x->req;
    mcp_http_response_t *resp = x->resp;
    apr_status_t rv;

    xfer_decide_mode(x);
    x->headers_done = 1;
    if (req->on_headers && (rv = req->on_headers(resp, req->baton))
        != APR_SUCCESS) {
        xfer_abort(x, rv, "request aborted by the response headers callback");
    }
    else if (!x->stream_limits && req->max_response_size
             && len > req->max_response_size) {
        xfer_abort(x, MCP_ETOOLARGE, apr_psprintf(req->pool,
                   "response body exceeds the limit of %" APR_SIZE_T_FMT
                   " bytes", req->max_response_size));
    }
    else if (!x->streaming) {
        resp->body = body;
        resp->body_len = resp->received = len;
    }
    else if (len && (rv = req->on_body(resp, body, len, req->baton))
             != APR_SUCCESS && rv != MCP_HTTP_PAUSE) {
        xfer_abort(x, rv, "request aborted by the response body callback");
    }
    else {
        resp->received = len;
    }
}

static void transport_exchange(mcp_http_batch_t *b, xfer_t *x)
{
    const mcp_http_transport_t *t = b->http->opts.transport;
    mcp_http_request_t *req = x->req;
    mcp_http_response_t *resp = x->resp;
    const char *err = NULL, *body;
    apr_size_t len;
    apr_status_t rv;

    if ((rv = mcp_http_url_allowed(req->pool, req, req->url, &err))
        != APR_SUCCESS) {
        xfer_abort(x, rv, err);
    }
    else if ((rv = t->exchange(req, resp, t->baton)) != APR_SUCCESS) {
        xfer_abort(x, rv, resp->error ? resp->error : apr_psprintf(req->pool,
                   "transport %s failed", t->name ? t->name : "?"));
    }
    else {
        body = resp->body ? resp->body : "";
        len = resp->body ? resp->body_len : 0;
        resp->body = NULL;
        resp->body_len = 0;
        resp->effective_url = req->url;
        transport_answer(x, body, len);
    }
    if (x->abort_rv != APR_SUCCESS) {
        resp->body = NULL;
        resp->body_len = 0;
        xfer_fail(x, x->abort_rv, x->abort_msg);
    }
    batch_done(b, x);
}

/* The requests of @a b one after another, also those added meanwhile. */
static void transport_loop(mcp_http_batch_t *b)
{
    while (b->next < b->n) {
        xfer_t *x = b->xs[b->next++];
        const char *msg = NULL;
        apr_status_t rv;

        if (x->finished) {
            continue;
        }
        x->started = 1;
        b->in_flight++;
        if ((rv = must_end(b, x, &msg)) != APR_SUCCESS) {
            xfer_fail(x, rv, msg);
            batch_done(b, x);
            continue;
        }
        transport_exchange(b, x);
    }
}

/* Claim the batch for this thread, with a multi handle. */
static apr_status_t batch_begin(mcp_http_batch_t *b)
{
    mcp_http_t *http = b->http;
    conn_set_t *set;

    apr_thread_mutex_lock(http->run_lock);
    if (b->running) {
        apr_thread_mutex_unlock(http->run_lock);
        return APR_EINVAL;
    }
    b->running = 1;
    apr_thread_mutex_unlock(http->run_lock);
    if (b->deadline && !b->deadline_at) {
        b->deadline_at = apr_time_now() + b->deadline;
    }
    if (http->opts.transport) {
        return APR_SUCCESS;
    }
    if (!(set = set_get(http))) {
        apr_thread_mutex_lock(http->run_lock);
        b->running = 0;
        apr_thread_mutex_unlock(http->run_lock);
        return APR_ENOMEM;
    }
    b->set = set;
    apr_thread_mutex_lock(http->run_lock);
    b->multi = set->multi;
    apr_thread_mutex_unlock(http->run_lock);
    return APR_SUCCESS;
}

static void batch_end(mcp_http_batch_t *b)
{
    mcp_http_t *http = b->http;
    conn_set_t *set = b->set;

    apr_thread_mutex_lock(http->run_lock);
    b->multi = NULL;
    b->running = 0;
    apr_thread_mutex_unlock(http->run_lock);
    b->set = NULL;
    if (set) {
        set_put(http, set);
    }
}

apr_status_t mcp_http_batch_run(mcp_http_batch_t *b)
{
    apr_status_t rv;
    apr_size_t i;

    if (!b) {
        return APR_EINVAL;
    }
    if ((rv = batch_begin(b)) != APR_SUCCESS) {
        if (rv == APR_ENOMEM) {
            for (i = 0; i < b->n; i++) {
                if (!b->xs[i]->finished) {
                    xfer_fail(b->xs[i], APR_ENOMEM,
                              "cannot create a curl multi handle");
                }
            }
        }
        return rv;
    }
    if (b->http->opts.transport) {
        transport_loop(b);
    }
    else {
        run_loop(b);
    }
    batch_end(b);
    return APR_SUCCESS;
}

apr_status_t mcp_http_perform(mcp_http_request_t *req,
                              mcp_http_response_t **presp,
                              const char **perr)
{
    mcp_http_batch_t b;
    mcp_http_response_t *resp = NULL;

    if (!req || !req->http || !presp) {
        return APR_EINVAL;
    }
    batch_init(&b, req->http);
    if (batch_append(&b, req, &resp) != APR_SUCCESS) {
        batch_free(&b);
        return APR_EINVAL;
    }
    mcp_http_batch_run(&b);
    batch_free(&b);
    *presp = resp;
    if (perr) {
        *perr = resp->error;
    }
    return resp->rv;
}

apr_status_t mcp_http_perform_all(mcp_http_request_t **reqs, apr_size_t n,
                                  mcp_http_response_t **resps)
{
    mcp_http_batch_t b;
    apr_size_t i;

    if (!reqs || !resps || n == 0 || n > MCP_HTTP_MAX_BATCH || !reqs[0]) {
        return APR_EINVAL;
    }
    for (i = 0; i < n; i++) {
        if (!reqs[i] || reqs[i]->http != reqs[0]->http || !reqs[i]->ctl
            || reqs[i]->ctl->xfer) {
            return APR_EINVAL;
        }
    }
    batch_init(&b, reqs[0]->http);
    for (i = 0; i < n; i++) {
        if (batch_append(&b, reqs[i], &resps[i]) != APR_SUCCESS) {
            batch_free(&b);
            return APR_ENOMEM;
        }
    }
    mcp_http_batch_run(&b);
    batch_free(&b);
    return APR_SUCCESS;
}
