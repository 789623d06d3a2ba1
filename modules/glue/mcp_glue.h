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
 * @file mcp_glue.h
 * @brief httpd-side helpers compiled into each mod_mcp module.
 *
 * Every module links its own copy of the glue and of the core library
 * (their symbols stay private to each .so), so the process-wide state
 * below (the log bridge) exists once per module.
 */
#ifndef MCP_GLUE_H
#define MCP_GLUE_H

#include <httpd.h>
#include <http_config.h>
#include <apr_tables.h>

#ifdef __cplusplus
extern "C" {
#endif

/**
 * Route the core's mcp_log() to ap_log_error() on @a s, logged as module
 * @a module_index (so LogLevel mcp_authz:debug works). Call in post_config;
 * the bridge is removed again when @a pconf is cleared.
 */
void mcp_glue_log_install(apr_pool_t *pconf, server_rec *s, int module_index);

/**
 * The status to hand to ap_log_error(): @a rv itself for APR and errno
 * codes, 0 for mod_mcp's own MCP_E* codes (httpd would print "APR does
 * not understand this error code"; our messages say what went wrong).
 */
apr_status_t mcp_glue_log_status(apr_status_t rv);

/**
 * Is this the real configuration pass (not httpd's first, dry one)?
 * Used to log the startup line once.
 */
int mcp_glue_is_final_config(void);

/**
 * "the main server" or "virtual host NAME:PORT (FILE:LINE)", for messages
 * that say where a configuration problem is.
 */
const char *mcp_glue_server_desc(apr_pool_t *p, const server_rec *s);

/**
 * Resolve @a path against ServerRoot and check that it is a regular file
 * this process can open for reading.
 * @param presolved the absolute path (may be NULL)
 * @return NULL or a message naming the file, allocated from @a p.
 */
const char *mcp_glue_check_readable(apr_pool_t *p, const char *path,
                                    const char **presolved);

/**
 * Warn (APLOG_WARNING, logged as @a module_index on @a s) when the key
 * file @a path, named by @a directive, may be read by more than root and
 * httpd's user: when any permission bit for others is set; when it is
 * group-readable or -writable and its group is neither root's (0) nor
 * the group httpd's children run as; or when its owner is neither root
 * nor the user httpd's children run as (User and Group, or the user who
 * started httpd when that was not root). The message names the directive,
 * the file, its mode and owner, never its contents. Does nothing on
 * httpd's first, dry configuration pass, so the warning appears once per
 * configuration, nor when the file cannot be looked at (the loader says
 * so). Call from post_config, after the key has loaded.
 */
void mcp_glue_check_key_file_perms(apr_pool_t *p, server_rec *s,
                                   int module_index, const char *directive,
                                   const char *path);

/** Is @a s a non-empty run of [A-Za-z0-9_-]? */
int mcp_glue_is_name(const char *s);

/**
 * Split the raw arguments of a directive into words: words are separated
 * by blanks; double quotes group blanks into a word anywhere in it
 * (key="a b" gives key=a b) and are removed; inside quotes \" and \\ stand
 * for " and \.
 * @return NULL with *pwords (const char *) filled in, or a message.
 */
const char *mcp_glue_split_words(apr_pool_t *p, const char *raw,
                                 apr_array_header_t **pwords);

/**
 * Split "key=value" into its parts (the value may be empty).
 * @return 1 when @a word has a non-empty key and an '=', else 0.
 */
int mcp_glue_split_option(apr_pool_t *p, const char *word,
                          const char **pkey, const char **pval);

/**
 * Parse a positive decimal integer no larger than @a max.
 * @return 1 and *pv on success, else 0.
 */
int mcp_glue_parse_int(const char *s, apr_int64_t max, apr_int64_t *pv);

/**
 * Add one origin argument of a directive (MCPAuthzAllowedOrigins,
 * MCPProxyAllowedOrigins) to *@a porigins (const char *, created from
 * @a p when NULL): "*", or "scheme://host[:port]" kept in its canonical
 * form (mcp_url_origin_parse()), so that lookups compare with strcmp().
 * @return NULL, or a message (without the directive's name).
 */
const char *mcp_glue_add_origin(apr_pool_t *p, apr_array_header_t **porigins,
                                const char *arg);

/**
 * Is mod_dbd loaded (its optional functions are registered)? Call in
 * post_config or later.
 */
int mcp_glue_dbd_present(void);

/**
 * Check from child_init (after mod_dbd's) that the store of server @a s is
 * reachable and has the schema this build expects. Logs as @a module_index
 * and never logs DBDParams (it may hold a password).
 * @return APR_SUCCESS; MCP_ESCHEMA when the schema is missing, older or
 *         newer (logged at CRIT, naming `mcpctl db upgrade`: the caller
 *         stops the child with APEXIT_CHILDFATAL); MCP_ESTORE when the
 *         database cannot be reached (logged at ERR: requests that need it
 *         will get 503, so the caller goes on).
 */
apr_status_t mcp_glue_store_check(apr_pool_t *pchild, server_rec *s,
                                  int module_index, const char *modname);

/**
 * Read the whole request body (dechunked), at most @a max bytes, into
 * *pbody / *plen (NUL-terminated, from r->pool). A Content-Length that is
 * already too large is refused before anything is read. On a failure the
 * connection is not kept alive (an unread body must not be taken for the
 * next request).
 * @return APR_SUCCESS; MCP_ETOOLARGE; else a failure with *pstatus set to
 *         the HTTP status to answer with.
 */
apr_status_t mcp_glue_read_body(request_rec *r, apr_off_t max, char **pbody,
                                apr_size_t *plen, int *pstatus);

/**
 * The store on this request's mod_dbd connection (ap_dbd_acquire), or
 * NULL when the database cannot be reached (logged as @a module_index;
 * the caller answers 503).
 */
struct mcp_store_t *mcp_glue_store(request_rec *r, int module_index);

/**
 * The store on a mod_dbd connection of its own (ap_dbd_open), for work
 * done in the middle of a long request (a GET stream holds its request
 * for minutes: a connection acquired for the request would stay out of
 * mod_dbd's pool all that time). Give it back with
 * mcp_glue_store_close() as soon as the work is done.
 * @return the store with *pdbd, or NULL (logged).
 */
struct mcp_store_t *mcp_glue_store_open(request_rec *r, int module_index,
                                        void **pdbd);

/** Give back the connection of mcp_glue_store_open(). */
void mcp_glue_store_close(request_rec *r, void *dbd);

/** The message every module gives when it needs mod_dbd and it is missing. */
#define MCP_GLUE_NEEDS_DBD(modname) \
    modname " needs mod_dbd: a2enmod dbd and set DBDriver/DBDParams"

#ifdef __cplusplus
}
#endif

#endif /* MCP_GLUE_H */
