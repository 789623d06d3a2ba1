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

/* Internal to mod_mcp_proxy: its configuration and the parts of the module
 * that live in separate files. */
#ifndef MCP_PROXY_PRIVATE_H
#define MCP_PROXY_PRIVATE_H

#include <httpd.h>
#include <http_config.h>
#include <apr_tables.h>
#include <apr_buckets.h>

#include "mod_mcp.h"
#include "mcp/mcp_fed.h"
#include "mcp/mcp_http.h"
#include "mcp/mcp_json.h"
#include "mcp/mcp_jsonrpc.h"
#include "mcp/mcp_sse.h"

extern module AP_MODULE_DECLARE_DATA mcp_proxy_module;

#define MCP_PROXY_HANDLER "mcp-proxy"

#define MCP_PROXY_DEFAULT_MAX_BODY  4194304
#define MCP_PROXY_MAX_MAX_BODY      (1024 * 1024 * 1024)
#define MCP_PROXY_DEFAULT_MAX_DEPTH 64
#define MCP_PROXY_MAX_MAX_DEPTH     1024
#define MCP_PROXY_MAX_TIMEOUT       3600
#define MCP_PROXY_MAX_PREFIX        64

/** One MCPProxyBackend line. NULL members were not given. */
typedef struct {
    const char *name;         /**< [A-Za-z0-9_-]+, unique per location */
    const char *url;          /**< http or https */
    const char *prefix;       /**< prefix=: put before the backend's names */
    const char *scope;        /**< scope=: a token needs it to see the backend */
    const char *idp;          /**< idp=: MCPIdPProvider that supplies tokens */
    const char *bearer_file;  /**< bearer_file=: absolute path of a static token */
    int timeout;              /**< timeout= in seconds, 0 when not given */
    /** MCPProxyScopeRule lines naming this backend (mcp_fed_rule_t). */
    apr_array_header_t *rules;
    const char *defn_name;    /**< config file of the line, for messages */
    unsigned defn_line;       /**< and its line number */
} mcp_proxy_backend_t;

/** Per-directory configuration. Unset: NULL / -1. */
typedef struct {
    /** MCPProxyBackend lines (mcp_proxy_backend_t) of this section. */
    apr_array_header_t *backends;
    /** MCPProxyMaxBodySize */
    apr_off_t max_body;
    /** MCPProxyMaxDepth */
    int max_depth;
    /** MCPProxyAllowedOrigins (canonical origins or "*"); NULL = unset. */
    apr_array_header_t *origins;
    /** MCPProxyAllowedHosts (lower-case host names); NULL = unset. */
    apr_array_header_t *hosts;
    /** MCPProxyIdentityHeader; NULL = unset, "" = off. */
    const char *identity_header;
    /** MCPProxyKeepAlive in seconds; -1 = unset. */
    int keepalive;
    /** MCPProxySessionTimeout in seconds; -1 = unset. */
    int session_timeout;
} mcp_proxy_dir_conf;

/** Per-server configuration. */
typedef struct {
    const char *cache_spec;   /**< MCPProxySessionCache; NULL = default */
    int health_interval;      /**< MCPProxyHealthCheck seconds, 0 = off;
                                   -1 = unset */
} mcp_proxy_server_conf;

/** JSON-RPC code of "link this upstream first" (data.type
 * OAuthConnectionRequired or OAuthTokenExpired). */
#define MCP_PROXY_LINK_REQUIRED      (-32003)
/** MCP 2025-11-25's URLElicitationRequiredError. */
#define MCP_PROXY_URL_ELICITATION    (-32042)

#define MCP_PROXY_DEFAULT_TIMEOUT    30
/** How long a list waits for a backend the health check found down. */
#define MCP_PROXY_DOWN_WAIT          apr_time_from_sec(2)
#define MCP_PROXY_DEFAULT_KEEPALIVE  15
#define MCP_PROXY_DEFAULT_SESSION    3600
#define MCP_PROXY_MAX_SESSION        (7 * 86400)
#define MCP_PROXY_DEFAULT_CACHE      "shmcb"
#define MCP_PROXY_DEFAULT_HEALTH     30

/** What the handler needs of one backend at run time. */
typedef struct {
    const mcp_proxy_backend_t *conf;
    const char *bearer;        /**< contents of bearer_file, or NULL */
    apr_interval_time_t timeout;
} mcp_proxy_rt_backend_t;

/** The run-time form of one endpoint's backend list, made in post_config
 * (the same for every process: read only after that). */
typedef struct {
    mcp_fed_t *fed;
    int nbackends;
    mcp_proxy_rt_backend_t *backends;   /**< nbackends, fed's order */
    /** Some backend has idp=: its lists change as users link upstreams
     *  (the links generation is read only then). */
    int idp;
} mcp_proxy_endpoint_t;

extern const command_rec mcp_proxy_cmds[];

void *mcp_proxy_create_dir_conf(apr_pool_t *p, char *dir);
void *mcp_proxy_create_server_conf(apr_pool_t *p, server_rec *s);
void *mcp_proxy_merge_server_conf(apr_pool_t *p, void *basev, void *addv);
void *mcp_proxy_merge_dir_conf(apr_pool_t *p, void *basev, void *addv);

/** Effective values, defaults applied. */
apr_off_t mcp_proxy_max_body(const mcp_proxy_dir_conf *conf);
int mcp_proxy_max_depth(const mcp_proxy_dir_conf *conf);
int mcp_proxy_keepalive(const mcp_proxy_dir_conf *conf);
int mcp_proxy_session_timeout(const mcp_proxy_dir_conf *conf);

/** The endpoint of @a conf, or NULL when it has no backends. */
const mcp_proxy_endpoint_t *mcp_proxy_endpoint(const mcp_proxy_dir_conf *conf);

/** Forget the endpoints (a new configuration is being read). */
void mcp_proxy_endpoints_reset(apr_pool_t *pconf);

/** Every endpoint (const mcp_proxy_endpoint_t *), in @a p. */
apr_array_header_t *mcp_proxy_endpoints_all(apr_pool_t *p);

/* ---- health checks (proxy_health.c) ---- */

int mcp_proxy_health_interval(const mcp_proxy_server_conf *conf);
int mcp_proxy_health_post_config(apr_pool_t *pconf, server_rec *s);

/** The last health check's verdict of @a b ("up", "down: ..."), or
 * APR_NOTFOUND when none is known. */
apr_status_t mcp_proxy_health_get(server_rec *s, apr_pool_t *p,
                                  const mcp_proxy_rt_backend_t *b,
                                  const char **pverdict);
void mcp_proxy_health_set(server_rec *s, apr_pool_t *p,
                          const mcp_proxy_rt_backend_t *b,
                          const char *verdict, int ttl);

/* ---- sessions (proxy_session.c) ---- */

void mcp_proxy_session_pre_config(apr_pool_t *pconf);
int mcp_proxy_session_post_config(apr_pool_t *pconf, apr_pool_t *ptemp,
                                  server_rec *s);
void mcp_proxy_session_child_init(apr_pool_t *pchild, server_rec *s);

/** One gateway session, as kept in the cache. */
typedef struct {
    const char *id;            /**< Mcp-Session-Id */
    const char *subject;       /**< token subject ("" when anonymous) */
    const char *client_id;     /**< token client ("" when none) */
    const char *version;       /**< negotiated with the client */
    mcp_json_t *client_caps;   /**< the client's capabilities */
    mcp_json_t *client_info;   /**< the client's clientInfo */
    /** Per backend index: its session id ("" when it has none, NULL when
     *  not initialized), its negotiated version. */
    const char **bsid;
    const char **bversion;
    int nbackends;
    apr_time_t touched;
    const char *scope;         /**< the token's scope at the last request */
    apr_int64_t changes;       /**< counts changes of what the client may
                                    see (scopes): GET streams announce
                                    them as list_changed */
    apr_int64_t links;         /**< the subject's links generation when
                                    the client last listed (see
                                    mcp_proxy_session_links()) */
} mcp_proxy_session_t;

/** A new session (not stored yet) for @a ep with a fresh random id. */
apr_status_t mcp_proxy_session_new(mcp_proxy_session_t **ps, apr_pool_t *p,
                                   const mcp_proxy_endpoint_t *ep);

/**
 * The session @a id of endpoint @a ep, or MCP_ENOTFOUND (unknown, expired,
 * deleted, of another subject: the caller answers 404 either way).
 */
apr_status_t mcp_proxy_session_load(mcp_proxy_session_t **ps, request_rec *r,
                                    const mcp_proxy_endpoint_t *ep,
                                    const char *id, const char *subject);

/** Store @a s (created or changed) for @a timeout seconds. */
apr_status_t mcp_proxy_session_save(request_rec *r,
                                    const mcp_proxy_session_t *s,
                                    int timeout);

/**
 * Look at session @a id without taking it over: its change counter.
 * @return APR_SUCCESS, or APR_NOTFOUND when it is gone (deleted, expired).
 */
apr_status_t mcp_proxy_session_peek(request_rec *r, const char *id,
                                    apr_int64_t *pchanges);

/**
 * mcp_proxy_links_changed() of mod_mcp.h: one more in @a subject's links
 * generation.
 */
void mcp_proxy_links_changed(request_rec *r, const char *subject);

/** The links generation to compare session @a s of endpoint @a ep with:
 * its subject's (0 until a link of theirs changed, or when the cache
 * cannot tell) when @a ep has an idp= backend, else s->links as it is
 * (links change no list of @a ep, and the cache is not asked). */
apr_int64_t mcp_proxy_session_links(request_rec *r,
                                    const mcp_proxy_endpoint_t *ep,
                                    const mcp_proxy_session_t *s);

/** Remove session @a id. */
void mcp_proxy_session_remove(request_rec *r, const char *id);

/** The per-process HTTP client (made in child_init), or NULL. */
mcp_http_t *mcp_proxy_http(void);

/**
 * Checks across the MCPProxyBackend lines of one section (prefixes, idp=
 * against mod_mcp_idp's providers of server @a s), run in post_config;
 * then builds the section's endpoint (federation, credential files read)
 * in @a pconf, once per backend list, found with mcp_proxy_endpoint().
 * @return NULL or a message naming the directive.
 */
const char *mcp_proxy_check_section(apr_pool_t *pconf, apr_pool_t *p,
                                    server_rec *s,
                                    const mcp_proxy_dir_conf *conf);

/** Find the optional functions of other modules (post_config). */
void mcp_proxy_transport_init(void);

/**
 * The transport's checks of a request to the endpoint that come before
 * its method and body: the Origin header, and the Host header on a
 * loopback address (DNS rebinding); the Accept header; the
 * MCP-Protocol-Version of a POST.
 * @return OK, or the HTTP status of a refusal with *pmsg set.
 */
int mcp_proxy_check_transport(request_rec *r, const mcp_proxy_dir_conf *conf,
                              const char **pmsg);

/* ---- calls to backends (proxy_call.c) ---- */

/** One request to the endpoint, as the handler and the calls see it. */
typedef struct {
    request_rec *r;
    const mcp_proxy_dir_conf *conf;
    const mcp_proxy_endpoint_t *ep;
    const mcp_token_info_t *token;   /**< NULL: no mod_mcp token */
    const apr_array_header_t *granted; /**< the token's scopes (maybe empty) */
    const char *subject;             /**< "" when anonymous */
    mcp_proxy_session_t *sess;       /**< NULL before initialize */
    int sess_dirty;                  /**< backend sessions changed */
    int streaming;                   /**< the client's SSE answer began */
    int client_gone;                 /**< writing to the client failed */
    apr_time_t last_write;
    apr_time_t checked;              /**< last look at the client socket */
    apr_time_t peeked;               /**< last look at the session (GET) */
    apr_interval_time_t keepalive;
    apr_time_t list_changed[MCP_FED_NKINDS]; /**< last one relayed */
    apr_pool_t *evpool;              /**< cleared after each event */
    apr_bucket_brigade *bb;          /**< the client's event stream */
    /** Per backend: when this request stops waiting for it (its timeout
     *  counted from the first message to it, so making its session and
     *  asking it share one timeout); 0 until then. */
    apr_time_t *deadline;
    const char **init_reason;        /**< per backend: why initialize
                                          failed (word, text) */
    const char **init_text;
    mcp_json_t **init_results;       /**< per backend, while initializing */
    mcp_jsonrpc_msg_t *init_msg;     /**< the initialize the backends get */
    mcp_http_batch_t *batch;         /**< the request's calls run here */
    char *unlinked;                  /**< per backend: listed without the
                                          user's upstream link */
} mcp_proxy_ctx_t;

/** One message (or GET stream) to one backend. */
typedef struct mcp_proxy_call_t {
    mcp_proxy_ctx_t *ctx;
    int b;                       /**< backend index */
    const char *http_method;     /**< "POST" (default), "GET", "DELETE" */
    const char *body;            /**< the JSON-RPC message (POST) */
    const char *method;          /**< its method, when it has one */
    apr_size_t len;
    int expect;                  /**< an answer with id @a id is awaited */
    mcp_jsonrpc_id_t id;
    int relay;                   /**< relay the backend's other messages
                                      (and the answer) to the client */
    int stream;                  /**< a GET stream: no idle timeout */
    int short_wait;              /**< the backend was found down: wait
                                      MCP_PROXY_DOWN_WAIT at most */
    const char *last_event_id;   /**< the backend's own, for a GET */
    /* outcome */
    mcp_http_request_t *req;
    mcp_http_response_t *resp;
    mcp_sse_parser_t *sse;
    mcp_jsonrpc_msg_t *answer;   /**< the answer, when one came */
    int answered;                /**< the answer went to the client */
    int retried;
    int rejected;                /**< the backend refused the user's
                                      upstream credential: ask for a
                                      refreshed one */
    const char *credential;      /**< the upstream credential sent last
                                      (mod_mcp_idp's), the one refused */
    mcp_idp_error_t *idp_error;  /**< why mod_mcp_idp gave none */
    /** Called when the call is finished (in the batch's thread). */
    void (*then)(struct mcp_proxy_call_t *c);
    apr_array_header_t *waiters; /**< calls sent once this one is done */
    const char *reason;          /**< failure: one word (see the README) */
    const char *reason_text;     /**< and in plain words */
} mcp_proxy_call_t;

/** A new call of @a ctx to backend @a b carrying @a msg (may be NULL for
 * a GET or DELETE). */
mcp_proxy_call_t *mcp_proxy_call_make(mcp_proxy_ctx_t *ctx, int b,
                                      const mcp_jsonrpc_msg_t *msg);

/**
 * Run @a calls (n of them) in parallel, initializing backend sessions
 * that do not exist yet first and again for a backend that answers 404
 * (its session is gone), retrying such a call once. Each call ends with
 * an answer or a reason.
 */
void mcp_proxy_calls_run(mcp_proxy_ctx_t *ctx, mcp_proxy_call_t **calls,
                         int n);

/**
 * Initialize the sessions of the backends @a which (n indexes) with the
 * client's capabilities; results[i] (when @a results is not NULL, indexed
 * by backend) gets each InitializeResult, NULL on failure.
 */
void mcp_proxy_backends_init(mcp_proxy_ctx_t *ctx, const int *which, int n,
                             mcp_json_t **results);

/**
 * The GET stream of a session whose backends offer none (a backend the
 * user has not linked yet, a stateless one), held by the gateway itself:
 * keep-alive comments and the session's list_changed notifications (see
 * watch_session), until the client goes, the session ends or the child
 * stops. Holds the request's thread as a relayed stream does.
 */
void mcp_proxy_own_stream(mcp_proxy_ctx_t *ctx);

/** Can the token see backend @a b at all? */
int mcp_proxy_visible(const mcp_proxy_ctx_t *ctx, int b);

/** Write one SSE event (JSON @a data) to the client, starting the event
 * stream when it has not begun. @a id may be NULL. */
apr_status_t mcp_proxy_client_event(mcp_proxy_ctx_t *ctx, const char *id,
                                    const char *data, apr_size_t len,
                                    apr_int64_t retry);

/** Write a keep-alive comment when the stream has been idle long enough. */
apr_status_t mcp_proxy_client_keepalive(mcp_proxy_ctx_t *ctx);

/** The JSON-RPC error for a failed call (-32603, data.backend, reason). */
mcp_jsonrpc_msg_t *mcp_proxy_call_error(mcp_proxy_call_t *c,
                                        const mcp_jsonrpc_id_t *id);

/** The mcp-proxy handler. */
int mcp_proxy_handler(request_rec *r);

#endif /* MCP_PROXY_PRIVATE_H */
