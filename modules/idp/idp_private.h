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

/* Internal to mod_mcp_idp: its configuration and the parts of the module
 * that live in separate files. */
#ifndef MCP_IDP_PRIVATE_H
#define MCP_IDP_PRIVATE_H

#include <httpd.h>
#include <http_config.h>
#include <apr_tables.h>

#include "mcp/mcp_crypto.h"
#include "mcp/mcp_http.h"
#include "mcp/mcp_store.h"
#include "mcp/mcp_upstream.h"
#include "mod_mcp.h"

extern module AP_MODULE_DECLARE_DATA mcp_idp_module;

/** One MCPIdPVaultKey line. */
typedef struct {
    const char *path;         /**< absolute path of the key file */
    const char *id;           /**< id=, NULL when not given */
    const char *defn_name;    /**< config file of the line, for messages */
    unsigned defn_line;
} mcp_idp_vault_key_t;

/** Default MCPIdPLinkBase. */
#define MCP_IDP_DEFAULT_LINK_BASE "/oauth/v1"
/** How long a pending authorization waits for its callback (seconds). */
#define MCP_IDP_PENDING_LIFETIME 600
/** How long a confirmation form stays valid (seconds). */
#define MCP_IDP_FORM_MAX_AGE 600
/** A token expiring within this many seconds is refreshed first. */
#define MCP_IDP_REFRESH_MARGIN 60
/** How long one process may hold a refresh lease (seconds). */
#define MCP_IDP_LEASE_SECONDS 30
/** Limits of the requests to the providers. */
#define MCP_IDP_HTTP_TIMEOUT 15
/** Waiting for another holder's refresh: the pause between two looks at
 *  the row, and the longest wait (until its lease ends, at most one
 *  provider request's timeout and a little: a live holder is done by
 *  then, a dead one's lease runs out). */
#define MCP_IDP_LEASE_POLL_MS 200
#define MCP_IDP_LEASE_WAIT_MAX (MCP_IDP_HTTP_TIMEOUT + 2)
#define MCP_IDP_HTTP_MAX_RESPONSE (1024 * 1024)

typedef enum {
    MCP_IDP_MODE_OAUTH = 0,
    MCP_IDP_MODE_PERSONAL
} mcp_idp_mode_e;

/** What a provider learns at run time (discovery), per process. */
typedef struct mcp_idp_provider_rt mcp_idp_provider_rt;

/** One MCPIdPProvider line. NULL members were not given. */
typedef struct {
    const char *name;         /**< [A-Za-z0-9_-]+, unique per server */
    const char *issuer;       /**< issuer= (discovery), or NULL */
    const char *authorize;    /**< authorization endpoint */
    const char *token;        /**< token endpoint */
    const char *revoke;       /**< revocation endpoint (RFC 7009) */
    const char *client_id;
    const char *secret_file;  /**< absolute path of the client secret */
    const char *secret;       /**< its contents, read in post_config */
    const char *scope;        /**< space-separated scopes to ask for */
    const char *params;       /**< params= as given */
    apr_table_t *params_table; /**< the same, decoded */
    const char *header;       /**< header the backend gets the token in */
    const char *prefix;       /**< text before the token in that header */
    int pkce;                 /**< 1 (default): PKCE S256 */
    /** auth=: -1 not given (basic, or post when the discovered metadata
     *  offers only client_secret_post), 0 basic, 1 post */
    int auth_post;
    int internal;             /**< 1: no address guard, http allowed */
    mcp_idp_mode_e mode;
    mcp_idp_provider_rt *rt;  /**< shared by copies of this line */
    const char *defn_name;
    unsigned defn_line;
} mcp_idp_provider_t;

/** Per-server configuration. Unset: NULL. */
typedef struct {
    /** MCPIdPVaultKey lines (mcp_idp_vault_key_t); the first is current. */
    apr_array_header_t *vault_keys;
    /** MCPIdPProvider lines (mcp_idp_provider_t). */
    apr_array_header_t *providers;
    /** MCPIdPLinkBase; NULL: MCP_IDP_DEFAULT_LINK_BASE. */
    const char *link_base;
    /** Filled in post_config: the vault keys (the first seals). */
    mcp_keyring_t *keyring;
    /** Filled in post_config: the HMAC key of the confirmation forms,
     *  derived from the current vault key (the same on every node). */
    unsigned char csrf_key[32];
    int have_csrf_key;
} mcp_idp_server_conf;

extern const command_rec mcp_idp_cmds[];

void *mcp_idp_create_server_conf(apr_pool_t *p, server_rec *s);
void *mcp_idp_merge_server_conf(apr_pool_t *p, void *basev, void *addv);

/**
 * Load the vault keys of every server that has providers.
 * @return OK or an HTTP status after logging what failed.
 */
int mcp_idp_load_vault_keys(apr_pool_t *pconf, apr_pool_t *ptemp,
                            server_rec *s);

/** Read the secret_file= of every provider (post_config). */
int mcp_idp_load_secrets(apr_pool_t *pconf, server_rec *s);

/* ---- idp_util.c ---- */

/** The link base of @a conf (MCPIdPLinkBase or the default). */
const char *mcp_idp_link_base(const mcp_idp_server_conf *conf);

/** The provider @a name of @a conf, or NULL. */
const mcp_idp_provider_t *mcp_idp_provider_find(const mcp_idp_server_conf *conf,
                                                const char *name);

/** The store of this request (mod_dbd), or NULL (logged). */
mcp_store_t *mcp_idp_store(request_rec *r);

/** Unix seconds now. */
apr_int64_t mcp_idp_now(void);

/** Send an HTML page that cannot be framed. */
int mcp_idp_send_html(request_rec *r, int status, const char *html);

/** Send a JSON document. */
int mcp_idp_send_json(request_rec *r, int status, const char *json);

/** Send an error page with @a title and @a message (plain text). */
int mcp_idp_error_page(request_rec *r, int status, const char *title,
                       const char *message);

/** A page with a title and a body fragment the caller escaped. */
const char *mcp_idp_page(apr_pool_t *p, const char *title, const char *body);

/** The form of a POST (application/x-www-form-urlencoded), or NULL with
 *  *pstatus and *perr. */
apr_table_t *mcp_idp_read_form(request_rec *r, int *pstatus,
                               const char **perr);

/** Does a POST come from a page of this server (its Origin, when sent)? */
int mcp_idp_same_origin(request_rec *r);

/** A CSRF token of a form for @a binding, and its check. */
const char *mcp_idp_csrf_make(request_rec *r, const mcp_idp_server_conf *conf,
                              const char *binding);
int mcp_idp_csrf_check(request_rec *r, const mcp_idp_server_conf *conf,
                       const char *binding, const char *token);

/** Set up the process's HTTP client and the providers' run-time state
 *  (child_init). */
void mcp_idp_child_init(apr_pool_t *pchild, server_rec *s);

/** A random tag of this process, made in child_init: what tells refresh
 *  lease holders apart across processes and nodes ("-" before). */
const char *mcp_idp_process_tag(void);

/** Allocate the run-time state of a provider line (configuration time). */
mcp_idp_provider_rt *mcp_idp_provider_rt_make(apr_pool_t *p);

/** The endpoints of @a pv, discovered from its issuer at first use when
 *  not configured.
 * @return APR_SUCCESS with *pm; else a status with *perr (logged by the
 *         caller). */
apr_status_t mcp_idp_endpoints(request_rec *r, const mcp_idp_provider_t *pv,
                               const mcp_upstream_metadata_t **pm,
                               const char **perr);

/**
 * One request to a provider's token endpoint (a code or a refresh),
 * with the client's credentials and the address guard unless internal=on.
 * @return APR_SUCCESS with *ptok; MCP_EPROTO with *poauth_error (the
 *         provider's OAuth error) and *perr; another status (transport)
 *         with *perr.
 */
apr_status_t mcp_idp_token_request(request_rec *r, const mcp_idp_provider_t *pv,
                                   const char *code, const char *redirect_uri,
                                   const char *verifier,
                                   const char *refresh_token,
                                   mcp_upstream_tokens_t **ptok,
                                   const char **poauth_error,
                                   const char **perr);

/** Revoke the tokens of a link at the provider's revocation endpoint
 * (mcp_upstream_revoke_form(): the refresh token, else the access token).
 * Nothing to do for a personal token or a provider without one.
 * @return APR_SUCCESS, or why not (with *perr). */
apr_status_t mcp_idp_revoke_tokens(request_rec *r, const mcp_idp_provider_t *pv,
                                   const mcp_upstream_tokens_t *tok,
                                   const char **perr);

/** The links of @a user changed (stored, replaced or deleted): tell
 * mod_mcp_proxy, when loaded (mcp_proxy_links_changed()), so that the
 * user's open GET streams announce list_changed. */
void mcp_idp_links_changed(request_rec *r, const char *user);

/** Seal @a tok for (@a user, @a provider) into *@a row, with @a scope and
 * @a tok's expiries, updated_at now, created_at 0 (kept on an update).
 * @return APR_SUCCESS, or the vault's failure (row->sealed not set). */
apr_status_t mcp_idp_seal_row(mcp_store_upstream_t *row, request_rec *r,
                              const mcp_idp_server_conf *conf,
                              const char *user, const char *provider,
                              const mcp_upstream_tokens_t *tok,
                              const char *scope);

/** Seal @a tok for (user, provider) and store it as a new link (then
 * mcp_idp_links_changed()). */
apr_status_t mcp_idp_store_link(request_rec *r, mcp_store_t *st,
                                const mcp_idp_server_conf *conf,
                                const char *user, const char *provider,
                                const mcp_upstream_tokens_t *tok,
                                const char *scope, const char **perr);

/* ---- idp_link.c ---- */

/** The handler "mcp-idp": <base>/authorize, /callback, /connections. */
int mcp_idp_handler(request_rec *r);

/* ---- idp_credential.c ---- */

/** The contract's mcp_idp_upstream_credential(). */
apr_status_t mcp_idp_upstream_credential(request_rec *r, const char *provider,
                                         const char *rejected,
                                         const char **pheader,
                                         const char **pvalue,
                                         mcp_idp_error_t **perr);

/** The authorize_url of a link for the request's user. */
const char *mcp_idp_authorize_url(request_rec *r,
                                  const mcp_idp_server_conf *conf,
                                  const mcp_idp_provider_t *pv,
                                  const char *scope);

#endif /* MCP_IDP_PRIVATE_H */
