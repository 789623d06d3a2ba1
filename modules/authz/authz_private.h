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

/* Internal to mod_mcp_authz: its configuration and the parts of the module
 * that live in separate files.
 *
 *   mod_mcp_authz.c     module record, startup, request routing
 *   authz_config.c      directives and config merging
 *   authz_keys.c        signing keys, JWKS, the CSRF key
 *   authz_util.c        responses, client authentication, store access
 *   authz_metadata.c    RFC 8414 / RFC 9728 documents, JWKS handler
 *   authz_register.c    RFC 7591 dynamic client registration
 *   authz_cimd.c        Client ID Metadata Documents
 *   authz_authorize.c   the authorization endpoint and consent page
 *   authz_token.c       the token endpoint, revocation, introspection
 *   authz_bearer.c      AuthType mcp, Require mcp-scope, challenges, CORS
 *   authz_state.c       socache (jti deny-list, rate limits), token cache,
 *                       revocation polling, the expiry sweep */
#ifndef MCP_AUTHZ_PRIVATE_H
#define MCP_AUTHZ_PRIVATE_H

#include <httpd.h>
#include <http_config.h>
#include <ap_expr.h>
#include <mod_auth.h>
#include <apr_tables.h>

#include "mcp/mcp_http.h"
#include "mcp/mcp_jose.h"
#include "mcp/mcp_json.h"
#include "mcp/mcp_jwt.h"
#include "mcp/mcp_oauth.h"
#include "mcp/mcp_store.h"
#include "mod_mcp.h"

extern module AP_MODULE_DECLARE_DATA mcp_authz_module;

#define MCP_AUTHZ_JWKS_HANDLER "mcp-authz-jwks"
/** max-age of the JWKS: short, so a rotated key shows up quickly. */
#define MCP_AUTHZ_JWKS_MAX_AGE 300
/** The AuthType of bearer-protected locations. */
#define MCP_AUTHZ_AUTH_TYPE "mcp"
/** The authz provider of "Require mcp-scope ...". */
#define MCP_AUTHZ_SCOPE_PROVIDER "mcp-scope"
/** The scope that asks for a refresh token, always supported. */
#define MCP_AUTHZ_OFFLINE_ACCESS "offline_access"

/* Defaults and bounds of MCPAuthzLifetime, in seconds. */
#define MCP_AUTHZ_DEFAULT_CODE_LIFETIME     60
#define MCP_AUTHZ_DEFAULT_ACCESS_LIFETIME   300
#define MCP_AUTHZ_DEFAULT_REFRESH_LIFETIME  (30 * 86400)
#define MCP_AUTHZ_DEFAULT_REFRESH_GRACE     30
#define MCP_AUTHZ_DEFAULT_CONSENT_LIFETIME  (30 * 86400)
#define MCP_AUTHZ_DEFAULT_CLIENT_IDLE       (30 * 86400)
/** Clock skew allowed when checking exp/nbf/iat of access tokens. */
#define MCP_AUTHZ_LEEWAY                    30
/** How old a consent form may be when it is submitted. */
#define MCP_AUTHZ_CONSENT_FORM_MAX_AGE      600
/** Expiry sweep and revocation poll intervals. */
#define MCP_AUTHZ_SWEEP_INTERVAL            60
#define MCP_AUTHZ_REVOCATION_POLL           10
/** Client ID Metadata Documents: size, time and cache bounds. */
#define MCP_AUTHZ_CIMD_MAX_SIZE             5120
#define MCP_AUTHZ_CIMD_TIMEOUT              5
#define MCP_AUTHZ_CIMD_CACHE_MIN            60
#define MCP_AUTHZ_CIMD_CACHE_DEFAULT        3600
#define MCP_AUTHZ_CIMD_CACHE_MAX            86400
/** A client's idle expiry is moved when it is this many seconds short. */
#define MCP_AUTHZ_CLIENT_TOUCH_SLACK        60
/** Registration: default rate limit per client address. */
#define MCP_AUTHZ_DEFAULT_REG_RATE          20
#define MCP_AUTHZ_DEFAULT_REG_WINDOW        60
/** Entries of the per-process cache of verified access tokens. */
#define MCP_AUTHZ_TOKEN_CACHE_SLOTS         4096
/** Longer tokens are verified every time (bounds the cache's memory). */
#define MCP_AUTHZ_TOKEN_CACHE_MAX_LEN       4096

/** The endpoints the module serves itself, by path. */
typedef enum {
    MCP_EP_NONE = 0,
    MCP_EP_AS_METADATA,      /* /.well-known/oauth-authorization-server[...] */
    MCP_EP_PRM,              /* /.well-known/oauth-protected-resource[...] */
    MCP_EP_AUTHORIZE,
    MCP_EP_TOKEN,
    MCP_EP_REGISTER,
    MCP_EP_REVOKE,
    MCP_EP_INTROSPECT,
    MCP_EP_JWKS,
    MCP_EP_COUNT
} mcp_authz_endpoint_e;

/** Registration policies (MCPAuthzRegistration). */
typedef enum {
    MCP_REG_UNSET = 0,
    MCP_REG_OPEN,
    MCP_REG_TOKEN,           /* an initial access token is required */
    MCP_REG_OFF
} mcp_authz_reg_policy_e;

/** Private-use redirect URI schemes (MCPAuthzRedirectSchemes). */
typedef enum {
    MCP_SCHEMES_UNSET = 0,
    MCP_SCHEMES_NATIVE,      /* any safe private-use scheme, native clients */
    MCP_SCHEMES_LIST,        /* only the listed schemes, native clients */
    MCP_SCHEMES_OFF
} mcp_authz_schemes_e;

/** One MCPAuthzScope line. */
typedef struct {
    const char *name;
    const char *description;         /**< consent text */
    ap_expr_info_t *expr;            /**< expr=: who may be granted it */
    const authz_provider *provider;  /**< require=: a Require-style rule */
    const char *provider_name;
    const char *provider_args;
    const void *provider_parsed;
} mcp_authz_scope_t;

/** A protected resource: a section with Require mcp-scope or
 * MCPAuthzResource, found while the configuration is read. */
typedef struct mcp_authz_resource_t mcp_authz_resource_t;

/** Per-server configuration. NULL / 0 / -1 members are unset. */
typedef struct {
    /** MCPAuthzIssuer: the issuer URL; the module is enabled when set. */
    const char *issuer;
    /** MCPAuthzSigningKey: absolute PEM paths (const char *), first signs. */
    apr_array_header_t *key_files;
    /** MCPAuthzEndpoint: configured paths (NULL = default). */
    const char *paths[MCP_EP_COUNT];
    /** MCPAuthzScope lines (mcp_authz_scope_t). */
    apr_array_header_t *scopes;
    /** MCPAuthzLifetime values; -1 = default. */
    int code_lifetime, access_lifetime, refresh_lifetime, refresh_grace,
        consent_lifetime, client_idle;
    /** MCPAuthzRegistration. */
    mcp_authz_reg_policy_e reg_policy;
    const char *reg_token_file;
    /** MCPAuthzRegistrationRate: requests per window per address. */
    int reg_rate, reg_window;
    /** MCPAuthzRedirectSchemes. */
    mcp_authz_schemes_e schemes;
    apr_array_header_t *scheme_list;
    /** MCPAuthzClientMetadataDocuments on|off, and the test-only loopback. */
    int cimd;
    int cimd_loopback;
    /** MCPAuthzClientMetadataCA: CAs for fetching the documents. */
    const char *cimd_ca_file;
    /** MCPAuthzTemplate consent|error. */
    const char *consent_template_file, *error_template_file;
    /** MCPAuthzCache: "<socache provider>[:<args>]" (mcp_glue_cache.h). */
    const char *cache_spec;

    /* Filled in post_config, per server. */
    mcp_jose_keyset_t *keys;          /**< the signing keys (index 0 signs) */
    const char *jwks;                 /**< the JWKS document */
    unsigned char csrf_key[32];       /**< HMAC key of consent forms */
    const char *origin;               /**< scheme://host[:port] of the issuer */
    const char *issuer_path;          /**< the issuer's path, "" for none */
    const char *as_metadata;          /**< the RFC 8414 document */
    const char *reg_token;            /**< initial access token, when used */
    const char *consent_template, *error_template;
    apr_array_header_t *resources;    /**< mcp_authz_resource_t *, config order */
    struct mcp_authz_state_t *state;  /**< shared and per-process state */
} mcp_authz_server_conf;

struct mcp_authz_resource_t {
    const char *section;             /**< the <Location> path */
    const char *url;                 /**< MCPAuthzResource, or origin + section */
    const char *canonical;           /**< mcp_url_canonical() of url */
    const char *prm_url;             /**< its RFC 9728 metadata URL */
    const char *prm_path;            /**< the path of that URL */
    apr_array_header_t *scopes;      /**< scopes its Require lines name */
    const char *prm;                 /**< the PRM document */
    server_rec *server;
};

/** Per-directory configuration. */
typedef struct {
    /** MCPAuthzResource, or NULL. */
    const char *resource_url;
    /** The protected resource of the section (set in post_config for
     * sections that are one, inherited by nested ones). */
    mcp_authz_resource_t *resource;
    /** MCPAuthzAllowedOrigins (const char *); NULL = unset. */
    apr_array_header_t *origins;
    /** Set while reading Require mcp-scope lines of this section. */
    int protected_section;
    apr_array_header_t *required_scopes;
    const char *section;
} mcp_authz_dir_conf;

/** What the module knows about a request (its request_config). */
typedef struct {
    mcp_authz_endpoint_e endpoint;  /**< an endpoint served by the module */
    int bearer;                     /**< the bearer check ran */
    mcp_token_info_t *info;         /**< a valid token */
    const mcp_authz_resource_t *resource;
    const char *error;              /**< invalid_request, invalid_token, insufficient_scope */
    const char *description;
    apr_array_header_t *needed;     /**< scopes a failed Require line needs */
} mcp_authz_req_t;

/** The request's record, made when @a create. */
mcp_authz_req_t *mcp_authz_req(request_rec *r, int create);

extern const command_rec mcp_authz_cmds[];

/** parse_require_line of the mcp-scope authz provider. */
const char *mcp_authz_parse_require(cmd_parms *cmd, const char *line,
                                    const void **pparsed);

void *mcp_authz_create_server_conf(apr_pool_t *p, server_rec *s);
void *mcp_authz_merge_server_conf(apr_pool_t *p, void *basev, void *addv);
void *mcp_authz_create_dir_conf(apr_pool_t *p, char *dir);
void *mcp_authz_merge_dir_conf(apr_pool_t *p, void *basev, void *addv);

/** Effective lifetimes (defaults applied). */
int mcp_authz_code_lifetime(const mcp_authz_server_conf *conf);
int mcp_authz_access_lifetime(const mcp_authz_server_conf *conf);
int mcp_authz_refresh_lifetime(const mcp_authz_server_conf *conf);
int mcp_authz_refresh_grace(const mcp_authz_server_conf *conf);
int mcp_authz_consent_lifetime(const mcp_authz_server_conf *conf);
int mcp_authz_client_idle(const mcp_authz_server_conf *conf);

/** Fill the endpoints that were not configured with their defaults
 * (the issuer's path + "/oauth/<name>"); post_config, after issuer_path. */
void mcp_authz_default_paths(apr_pool_t *p, mcp_authz_server_conf *conf);
/** The path of endpoint @a ep (after mcp_authz_default_paths()). */
const char *mcp_authz_path(const mcp_authz_server_conf *conf,
                           mcp_authz_endpoint_e ep);
/** The absolute URL of endpoint @a ep. */
const char *mcp_authz_url(apr_pool_t *p, const mcp_authz_server_conf *conf,
                          mcp_authz_endpoint_e ep);

/** The declared scope @a name, or NULL. */
const mcp_authz_scope_t *mcp_authz_scope_find(const mcp_authz_server_conf *conf,
                                              const char *name);

/* ---- authz_keys.c ---- */

/** Load the signing keys of every enabled server, build their JWKS and
 * derive their CSRF keys. */
int mcp_authz_load_keys(apr_pool_t *pconf, apr_pool_t *ptemp, server_rec *s);

/* ---- authz_metadata.c ---- */

/** Build the metadata documents of every enabled server and its
 * protected resources (post_config). */
int mcp_authz_build_metadata(apr_pool_t *pconf, apr_pool_t *ptemp,
                             server_rec *s);
int mcp_authz_handle_as_metadata(request_rec *r, mcp_authz_server_conf *conf);
int mcp_authz_handle_prm(request_rec *r, mcp_authz_server_conf *conf);
int mcp_authz_handle_jwks(request_rec *r, mcp_authz_server_conf *conf);
/** The mcp-authz-jwks handler (SetHandler). */
int mcp_authz_jwks_handler(request_rec *r);
/** The resource whose canonical URL is @a url in server @a conf, or NULL. */
mcp_authz_resource_t *mcp_authz_resource_find(apr_pool_t *p,
                                              const mcp_authz_server_conf *conf,
                                              const char *url);
/** The default resource of a server (the first protected section). */
mcp_authz_resource_t *mcp_authz_resource_default(const mcp_authz_server_conf *conf);

/* ---- authz_util.c ---- */

/** A response has been sent and the endpoint stops: DONE for OK (httpd
 * takes a handler's DONE as a served request), else @a rc. Helpers that
 * may answer on the caller's behalf return it, so that OK always means
 * "go on". */
int mcp_authz_done(int rc);
/** Answer an OAuth error and stop: mcp_authz_done() of the answer. */
int mcp_authz_refuse(request_rec *r, int status, const char *error,
                     const char *desc);
/** Answer with a JSON body (Cache-Control: no-store). */
int mcp_authz_send_json(request_rec *r, int status, const char *json);
/** Answer with an OAuth error (RFC 6749 §5.2 shape). */
int mcp_authz_send_oauth_error(request_rec *r, int status, const char *error,
                               const char *description);
/** Answer with an HTML page (framing denied, no-store). */
int mcp_authz_send_html(request_rec *r, int status, const char *html);
/** Render and send the error page (never a redirect). */
int mcp_authz_error_page(request_rec *r, const mcp_authz_server_conf *conf,
                         int status, const char *title, const char *message);
/** Read a form body (application/x-www-form-urlencoded), at most
 * @a max bytes; NULL with *pstatus set on failure. */
apr_table_t *mcp_authz_read_form(request_rec *r, apr_size_t max, int *pstatus,
                                 const char **perr);
/** Read a JSON body of at most @a max bytes. */
apr_status_t mcp_authz_read_body(request_rec *r, apr_size_t max, char **pbody,
                                 apr_size_t *plen, int *pstatus);
/** The store for this request (mod_dbd connection), or NULL (logged). */
mcp_store_t *mcp_authz_store(request_rec *r);
/** Now, in Unix seconds. */
apr_int64_t mcp_authz_now(void);
/** The client's address, for rate limits and logs. */
const char *mcp_authz_client_ip(request_rec *r);

/** How the client at the token/revocation/introspection endpoint
 * authenticated. */
typedef struct {
    mcp_store_client_t *client;
    const char *method;      /**< "none", "client_secret_basic", "client_secret_post" */
    int basic;               /**< the Authorization header was used */
} mcp_authz_client_auth_t;

/**
 * Authenticate the client of a token, revocation or introspection
 * request (RFC 6749 §2.3). On failure it has answered (401/400 with an
 * OAuth error) and returns that status; on success OK and *pauth.
 * @a need_secret: refuse public clients (introspection).
 */
int mcp_authz_client_authenticate(request_rec *r, mcp_authz_server_conf *conf,
                                  mcp_store_t *st, apr_table_t *form,
                                  int need_secret,
                                  mcp_authz_client_auth_t **pauth);

/** Is @a c usable now (not disabled, not expired)? */
int mcp_authz_client_usable(const mcp_store_client_t *c, apr_int64_t now);

/* ---- authz_cimd.c ---- */

/** Is @a client_id a Client ID Metadata Document URL (https, a path)? */
int mcp_authz_is_cimd_id(apr_pool_t *p, const mcp_authz_server_conf *conf,
                         const char *client_id);
/** The redirect-URI policy of this server, for client metadata. */
mcp_oauth_client_rules_t *mcp_authz_client_rules(apr_pool_t *p,
                                                 const mcp_authz_server_conf *conf);
/**
 * The client of a Client ID Metadata Document: from the store when the
 * cached copy is fresh, else fetched, validated and cached.
 * @return APR_SUCCESS; MCP_ENOTFOUND / MCP_EINVALID / ... with *perr for
 *         the error page.
 */
apr_status_t mcp_authz_cimd_client(request_rec *r, mcp_authz_server_conf *conf,
                                   mcp_store_t *st, const char *client_id,
                                   mcp_store_client_t **pc, const char **perr);
/** Look up any client by id (CIMD URLs fetched as needed). */
apr_status_t mcp_authz_client_lookup(request_rec *r, mcp_authz_server_conf *conf,
                                     mcp_store_t *st, const char *client_id,
                                     mcp_store_client_t **pc, const char **perr);

/* ---- endpoints ---- */

int mcp_authz_handle_register(request_rec *r, mcp_authz_server_conf *conf);
int mcp_authz_handle_authorize(request_rec *r, mcp_authz_server_conf *conf);
int mcp_authz_handle_token(request_rec *r, mcp_authz_server_conf *conf);
int mcp_authz_handle_revoke(request_rec *r, mcp_authz_server_conf *conf);
int mcp_authz_handle_introspect(request_rec *r, mcp_authz_server_conf *conf);

/* ---- authz_bearer.c ---- */

/** Register the bearer check: check_authn, the authz provider, the
 * challenges, CORS and the optional function. */
void mcp_authz_bearer_register(apr_pool_t *p);
/** The token info of a request (the optional function). */
const mcp_token_info_t *mcp_authz_token_get(request_rec *r);
/** Answer CORS preflights and add CORS headers of protected locations
 * (header_parser). */
int mcp_authz_cors(request_rec *r);
/** Answer CORS preflights of the API endpoints (any origin). */
int mcp_authz_cors_endpoint(request_rec *r);

/* ---- authz_state.c ---- */

typedef struct mcp_authz_state_t mcp_authz_state_t;

/** Register the mutex type of the cache (pre_config). */
void mcp_authz_state_pre_config(apr_pool_t *pconf);
/** Create the socache, mutex and shared state (post_config). */
int mcp_authz_state_post_config(apr_pool_t *pconf, apr_pool_t *ptemp,
                                server_rec *s);
/** Per-child state: socache attach, the token cache, the HTTP client. */
void mcp_authz_state_child_init(apr_pool_t *pchild, server_rec *s);
/** Put a jti on the deny-list until @a exp (also in the store, so other
 * nodes learn of it). */
void mcp_authz_deny_jti(request_rec *r, mcp_authz_server_conf *conf,
                        mcp_store_t *st, const char *jti, apr_int64_t exp);
/** Is this token revoked (jti deny-list, client or subject revocations
 * newer than its iat)? */
int mcp_authz_token_revoked(request_rec *r, mcp_authz_server_conf *conf,
                            const char *jti, const char *client_id,
                            const char *subject, apr_int64_t iat);
/**
 * Count a request of @a key against a limit of @a max per @a window
 * seconds. @return 1 when it is over the limit (*pretry gets seconds).
 */
int mcp_authz_rate_limited(request_rec *r, mcp_authz_server_conf *conf,
                           const char *key, int max, int window, int *pretry);
/** The verified-token cache of this process: a hit is the very token
 * (@a len bytes) verified before. */
const mcp_jwt_t *mcp_authz_token_cache_get(request_rec *r, const char *token,
                                           apr_size_t len);
void mcp_authz_token_cache_put(request_rec *r, const char *token,
                               apr_size_t len, const mcp_jwt_t *t);
/** The HTTP client of this process (CIMD fetches). */
mcp_http_t *mcp_authz_http(server_rec *s);
/** Register the expiry sweep with a singleton child watchdog
 * (post_config: mod_watchdog starts only watchdogs with a callback). */
int mcp_authz_sweep_post_config(apr_pool_t *pconf, server_rec *s);

#endif /* MCP_AUTHZ_PRIVATE_H */
