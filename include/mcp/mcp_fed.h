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
 * @file mcp_fed.h
 * @brief Federation of several upstream MCP servers behind one endpoint:
 *        names, merged lists, gateway cursors, routing, initialize.
 *
 * Pure logic on mcp_json_t values, without sockets or httpd: the proxy
 * handler fetches from the backends and hands the answers here.
 *
 * **Handler flow.** Configuration: mcp_fed_create() once per endpoint.
 * initialize: ask the visible backends, mcp_fed_initialize_merge(). A
 * list method: mcp_fed_list_plan(), ask plan->fetch in parallel,
 * mcp_fed_list_merge(), log the problems. tools/call and the other routed
 * methods: mcp_fed_route(), send route->params to route->backend (or a
 * 403 with route->challenge). Server-to-client requests and the client's
 * responses: mcp_fed_id_to_gateway() and mcp_fed_id_from_gateway().
 *
 * **Backends.** An mcp_fed_t holds the backends of one endpoint in
 * configuration order; a backend is named by its index into that list.
 * It does not change after mcp_fed_create(), so threads may share it; a
 * catalog is mutable and belongs to one session (one thread at a time).
 *
 * **Tool and prompt names.** A backend with a prefix publishes every tool
 * and prompt as prefix + name ("github_" + "search" = "github_search").
 * Tool names (prefix included) must be 1..MCP_FED_MAX_NAME characters of
 * [A-Za-z0-9_.-] (SEP-986); a tool whose gateway name would break that
 * is left out and reported, never truncated. Prompt names only need to
 * be non-empty.
 *
 * **Resource URIs and URI templates** are prefixed too, so routing needs
 * no state: the URI prefix is the name prefix with every '_' turned into
 * '-' ("github_" gives "github-" and "repo://a/b" becomes
 * "github-repo://a/b"). With a prefix that starts with a letter this keeps
 * the gateway URI an RFC 3986 URI (a scheme may hold letters, digits, '+',
 * '-' and '.', not '_'); template expressions are untouched because only
 * literal text is put in front. Reverse: strip the prefix (exact,
 * case-sensitive). URIs in tool results or notifications are not rewritten
 * here; mcp_fed_to_gateway() maps them when the handler wants that.
 *
 * **Unambiguous by construction.** mcp_fed_create() refuses two backends
 * whose name prefixes or URI prefixes are equal or one a prefix of the
 * other, so at most one prefixed backend can own a gateway name. Names
 * that match no prefix belong to the backends without one: with a single
 * such backend it owns them; with several, ownership comes from a catalog
 * filled while merging lists (mcp_fed_catalog_t), and a name two of them
 * publish is a conflict: left out of lists from both, reported naming both
 * backends, and refused by routing. An unprefixed backend's name that
 * starts with another backend's prefix would be shadowed by it: also
 * left out and reported. The catalog knows only names and URIs that were
 * listed: with several unprefixed backends, a URI expanded from one of
 * their templates cannot be routed (give those backends prefixes).
 *
 * **Reserved prefix.** Tool and prompt names starting with
 * MCP_FED_RESERVED_PREFIX ("gateway_") are the gateway's own builtins. No
 * backend prefix may start with it or be a beginning of it ("gate" would
 * make "gateway_x" ambiguous), and names of unprefixed backends that start
 * with it are left out and reported.
 *
 * **Scopes.** A backend needs its scope set (scope= of MCPProxyBackend) to
 * be seen at all; rules add scopes for the items whose original name (or
 * URI) matches a glob (mcp_scope_glob_match()): an item needs the union of
 * the backend's scopes and of every matching rule's scopes, all covered by
 * the token's granted set (mcp_scope_covers_all(), so "github:*" covers
 * "github:write"). Every rule that matches counts, so the order of rules
 * never weakens one.
 */
#ifndef MCP_FED_H
#define MCP_FED_H

#include <apr_pools.h>
#include <apr_tables.h>
#include <apr_hash.h>

#include "mcp/mcp_common.h"
#include "mcp/mcp_json.h"
#include "mcp/mcp_jsonrpc.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Longest tool name, prefix included (SEP-986). */
#define MCP_FED_MAX_NAME 128
/** Longest backend prefix. */
#define MCP_FED_MAX_PREFIX 64
/** Longest resource URI or URI template, prefix included, in bytes. */
#define MCP_FED_MAX_URI 8192
/** Prefix of the gateway's own tools and prompts; no backend may use it. */
#define MCP_FED_RESERVED_PREFIX "gateway_"

/** The four list methods, and the kind of item each returns. */
typedef enum {
    MCP_FED_TOOLS = 0,   /**< tools/list: "tools", keyed by "name" */
    MCP_FED_PROMPTS,     /**< prompts/list: "prompts", keyed by "name" */
    MCP_FED_RESOURCES,   /**< resources/list: "resources", keyed by "uri" */
    MCP_FED_TEMPLATES,   /**< resources/templates/list: "resourceTemplates",
                              keyed by "uriTemplate" */
    MCP_FED_NKINDS
} mcp_fed_kind_e;

/** @name Kinds a scope rule applies to (bits of mcp_fed_rule_t.kinds) */
/** @{ */
#define MCP_FED_RULE_TOOLS     0x01
#define MCP_FED_RULE_PROMPTS   0x02
/** resources and resource templates, matched on the URI or template */
#define MCP_FED_RULE_RESOURCES 0x04
/** @} */

/** An extra scope requirement for the items whose name matches. */
typedef struct {
    int kinds;                   /**< MCP_FED_RULE_* bits */
    const char *pattern;         /**< glob over the original name or URI */
    apr_array_header_t *scopes;  /**< scope set (mcp_scope); all needed */
} mcp_fed_rule_t;

/** What the federation needs to know of one backend. */
typedef struct {
    const char *name;            /**< [A-Za-z0-9_-]+, unique */
    const char *prefix;          /**< NULL: names published unchanged */
    apr_array_header_t *scopes;  /**< scope set needed to see it; NULL: none */
    apr_array_header_t *rules;   /**< mcp_fed_rule_t; NULL: none */
} mcp_fed_backend_t;

/** Settings of one federation. */
typedef struct {
    /** HMAC-SHA-256 key of gateway cursors, at least 32 bytes; copied. */
    const unsigned char *cursor_key;
    apr_size_t cursor_key_len;
    /** Most items in one merged list; 0 means MCP_FED_DEFAULT_MAX_ITEMS. */
    apr_size_t max_items;
} mcp_fed_options_t;

#define MCP_FED_DEFAULT_MAX_ITEMS 10000
/** Shortest cursor key accepted. */
#define MCP_FED_MIN_KEY 32

typedef struct mcp_fed_t mcp_fed_t;

/**
 * Check and copy the backends (array of mcp_fed_backend_t) into a new
 * federation in @a p.
 * @return APR_SUCCESS; MCP_EINVALID for a bad backend name, a duplicate
 *         name, a bad or reserved prefix, two prefixes that overlap, a rule
 *         without pattern or kinds, a missing or short cursor key. *perr
 *         names the backend(s).
 */
apr_status_t mcp_fed_create(mcp_fed_t **pfed, apr_pool_t *p,
                            const apr_array_header_t *backends,
                            const mcp_fed_options_t *opts,
                            const char **perr);

/** Number of backends. */
int mcp_fed_count(const mcp_fed_t *fed);

/** Backend @a i (0 <= i < count), or NULL. */
const mcp_fed_backend_t *mcp_fed_backend(const mcp_fed_t *fed, int i);

/** Is @a s a valid tool name: 1..128 characters of [A-Za-z0-9_.-]? */
int mcp_fed_name_valid(const char *s);

/** Is @a name one of the gateway's own (starts with the reserved prefix)? */
int mcp_fed_is_builtin(const char *name);

/**
 * Scopes item @a original of @a kind of backend @a i needs (a new set in
 * @a p): the backend's scopes and those of every matching rule.
 */
apr_array_header_t *mcp_fed_needed(apr_pool_t *p, const mcp_fed_t *fed,
                                   int i, mcp_fed_kind_e kind,
                                   const char *original);

/**
 * Gateway form of backend @a i's name or URI @a original.
 * @return APR_SUCCESS with *pout; MCP_EINVALID (tools: not a valid tool
 *         name once prefixed; prompts: empty), MCP_ETOOLARGE (longer than
 *         MCP_FED_MAX_NAME for tools, MCP_FED_MAX_URI for URIs). *perr
 *         names the backend and the name, escaped.
 */
apr_status_t mcp_fed_to_gateway(const char **pout, apr_pool_t *p,
                                const mcp_fed_t *fed, int i,
                                mcp_fed_kind_e kind, const char *original,
                                const char **perr);

/**
 * Who owns the gateway names the backends without a prefix publish, filled
 * by mcp_fed_list_merge(). Keep one per client session (or per request
 * when every backend has a prefix, where it is never consulted).
 */
typedef struct mcp_fed_catalog_t mcp_fed_catalog_t;

/** An empty catalog in @a p. */
mcp_fed_catalog_t *mcp_fed_catalog_make(apr_pool_t *p);

/**
 * Record that backend @a i publishes @a gwname of @a kind. A name another
 * backend already has becomes a conflict (and stays one).
 * @param i a backend index of the federation the catalog is used with
 * @return APR_SUCCESS; MCP_ECONFLICT with *pother set to the index of
 *         the other owner; APR_EINVAL for a bad kind or index.
 */
apr_status_t mcp_fed_catalog_add(mcp_fed_catalog_t *cat, mcp_fed_kind_e kind,
                                 const char *gwname, int i, int *pother);

/**
 * The backend owning gateway name or URI @a gwname and its original form.
 * @param cat NULL or the session's catalog (needed when several backends
 *        have no prefix)
 * @return APR_SUCCESS with *pi and *poriginal; MCP_ENOTFOUND when no
 *         backend owns it (reserved names included); MCP_ECONFLICT when
 *         two backends without a prefix publish it. *perr says which.
 */
apr_status_t mcp_fed_from_gateway(int *pi, const char **poriginal,
                                  apr_pool_t *p, const mcp_fed_t *fed,
                                  mcp_fed_kind_e kind, const char *gwname,
                                  const mcp_fed_catalog_t *cat,
                                  const char **perr);

/* ---------------------------------------------------------------------
 * Merged lists and gateway cursors
 * ------------------------------------------------------------------- */

/** Longest nextCursor a backend may hand out (longer: its paging ends). */
#define MCP_FED_MAX_BACKEND_CURSOR 1024
/** Longest gateway cursor accepted or minted. */
#define MCP_FED_MAX_CURSOR 32768

/** The list method of @a kind ("tools/list", ...). */
const char *mcp_fed_list_method(mcp_fed_kind_e kind);

/** The kind whose list method is @a method; -1 for another method. */
int mcp_fed_kind_of_method(const char *method);

/** Where a listing stands for one backend. */
typedef struct {
    int backend;         /**< index of the backend */
    const char *cursor;  /**< its own cursor; NULL: its first page */
} mcp_fed_pos_t;

/**
 * What to ask for one list request.
 *
 * Paging: a request without a cursor asks every backend the token may see
 * for its first page (in parallel) and merges them. Each backend that
 * answered with a nextCursor stays pending, in configuration order. A
 * request with a gateway cursor asks the first pending backend only, for
 * its next page; while it keeps answering with a nextCursor it stays
 * first, then the next pending backend follows, until nothing is pending
 * and the merged result has no nextCursor. The token's scopes are checked
 * again on every page: a cursor never shows a backend the token may not
 * see (such positions are dropped). A cursor is bound to what the plan
 * that led to it was given as binding (the client session): another
 * binding does not verify it.
 */
typedef struct {
    mcp_fed_kind_e kind;
    const char *binding;        /**< the cursors' binding, or NULL */
    apr_array_header_t *fetch;  /**< mcp_fed_pos_t: ask these now */
    apr_array_header_t *rest;   /**< mcp_fed_pos_t: pending after them */
} mcp_fed_plan_t;

/**
 * Plan one list request of @a kind for a token with scope set @a granted.
 * @param cursor the request's params.cursor, or NULL for the first page
 * @param binding what the cursor must have been minted for (the client
 *        session's id), and what the next cursor is minted for; NULL is
 *        the same as ""
 * @return APR_SUCCESS with *pplan (plan->fetch may be empty); for a cursor
 *         that does not verify (forged, truncated, cut, minted under
 *         another key or for another binding, not a gateway cursor)
 *         MCP_EVERIFY; for an authentic cursor of another list method or
 *         naming a backend this endpoint no longer has, MCP_EINVALID.
 *         The handler answers either with JSON-RPC -32602.
 */
apr_status_t mcp_fed_list_plan(mcp_fed_plan_t **pplan, apr_pool_t *p,
                               const mcp_fed_t *fed, mcp_fed_kind_e kind,
                               const char *cursor, const char *binding,
                               const apr_array_header_t *granted,
                               const char **perr);

/** Something the caller should log about one backend's answer. */
typedef struct {
    const char *backend;   /**< its name */
    apr_status_t status;   /**< MCP_EPROTO (failed), MCP_EINVALID (bad
                                shape or name), MCP_ETOOLARGE (too many
                                items, too long a cursor), MCP_ECONFLICT
                                (a name collision) */
    const char *message;   /**< names the backend(s) and the item */
} mcp_fed_problem_t;

/**
 * Merge the backends' answers to @a plan into the gateway's list result.
 *
 * Each item is a copy of the backend's, every member kept as it was
 * (icons, _meta, annotations, inputSchema, outputSchema, unknown ones),
 * with only the name (tools, prompts) or uri / uriTemplate (resources,
 * templates) in gateway form. Items the token's @a granted scopes do not
 * cover (mcp_fed_needed()) are left out silently. Left out and reported:
 * items that are not objects or lack a string key member, names that
 * break the tool-name rule once prefixed, names of unprefixed backends
 * that collide with another backend's (both left out, both named) or that
 * another backend's prefix or the reserved prefix would shadow, and every
 * item of a backend whose items would take the list beyond max_items.
 * Backend members other than the item array and nextCursor are dropped.
 *
 * @param results per plan->fetch entry: the backend's result object, or
 *        NULL when it failed (then @a errors' entry says why and goes into
 *        the problems; NULL error too: skipped without a report, e.g. for
 *        a backend without that capability). @a errors may be NULL.
 * @param cat NULL, or the session's catalog to record names in
 * @param pproblems gets an array of mcp_fed_problem_t (maybe empty)
 * @return APR_SUCCESS with *presult, also when backends failed (partial
 *         result); MCP_ETOOLARGE when the next cursor would be longer than
 *         MCP_FED_MAX_CURSOR.
 */
apr_status_t mcp_fed_list_merge(mcp_json_t **presult,
                                apr_array_header_t **pproblems,
                                apr_pool_t *p, const mcp_fed_t *fed,
                                const mcp_fed_plan_t *plan,
                                const mcp_json_t *const *results,
                                const char *const *errors,
                                const apr_array_header_t *granted,
                                mcp_fed_catalog_t *cat, const char **perr);

/**
 * Mint the gateway cursor for @a pending (mcp_fed_pos_t, at least one) of
 * list @a kind: base64url(JSON {"m":method,"p":[[backend name, cursor or
 * null], ...]}) "." base64url(HMAC-SHA-256(key, "mcp-fed-cursor:" +
 * @a binding (NULL: none) + NUL + the first part)), no padding. The
 * binding is not in the cursor: only a decode given the same one verifies
 * it. Backends are named, not numbered, so a cursor from before a
 * configuration change fails clearly instead of pointing at another
 * backend. mcp_fed_list_merge() calls it; exposed for tests.
 * @return APR_SUCCESS, MCP_EINVALID (empty @a pending), MCP_ETOOLARGE.
 */
apr_status_t mcp_fed_cursor_encode(const char **pcursor, apr_pool_t *p,
                                   const mcp_fed_t *fed, mcp_fed_kind_e kind,
                                   const apr_array_header_t *pending,
                                   const char *binding, const char **perr);

/**
 * Verify (HMAC compared in constant time) and decode a gateway cursor of
 * list @a kind, minted for @a binding, into *ppending (mcp_fed_pos_t).
 * @return as mcp_fed_list_plan(): APR_SUCCESS, MCP_EVERIFY, MCP_EINVALID.
 */
apr_status_t mcp_fed_cursor_decode(apr_array_header_t **ppending,
                                   apr_pool_t *p, const mcp_fed_t *fed,
                                   mcp_fed_kind_e kind, const char *cursor,
                                   const char *binding, const char **perr);

/* ---------------------------------------------------------------------
 * Routing one request to its backend
 * ------------------------------------------------------------------- */

/** Where a request goes, and as what. */
typedef struct {
    int backend;                    /**< index of the owning backend */
    mcp_fed_kind_e kind;            /**< the name space that was looked up */
    const char *gwname;             /**< the name or URI the client sent */
    const char *original;           /**< the backend's own name or URI */
    /** A copy of params with the name, uri or ref rewritten to the
     *  backend's form; every other member (arguments, _meta with its
     *  progressToken, ...) as it came. NULL when not allowed. */
    mcp_json_t *params;
    apr_array_header_t *needed;     /**< scopes the item needs */
    apr_array_header_t *missing;    /**< of those, what the token lacks */
    /** For the 403 challenge: granted + needed, so a client that replaces
     *  its scopes with the challenge's loses none (checklist B4.2). */
    apr_array_header_t *challenge;
} mcp_fed_route_t;

/**
 * Find the backend of a request and rewrite its params. Routed methods:
 * tools/call and prompts/get (params.name), resources/read,
 * resources/subscribe and resources/unsubscribe (params.uri), and
 * completion/complete (params.ref: "ref/prompt" by name, "ref/resource" by
 * uri, a URI template).
 * @param cat NULL or the session's catalog (see mcp_fed_from_gateway())
 * @return APR_SUCCESS with *proute; APR_EACCES when the token's scopes do
 *         not cover what the item needs, *proute then set too with
 *         needed, missing and challenge (params NULL) for a 403
 *         insufficient_scope; MCP_ENOTFOUND for a name or URI no backend
 *         owns and MCP_ECONFLICT for one two unprefixed backends publish
 *         (-32602; resources/read may prefer -32002); MCP_EINVALID for
 *         params without the member a method needs (-32602);
 *         APR_ENOTIMPL for a method this function does not route.
 */
apr_status_t mcp_fed_route(mcp_fed_route_t **proute, apr_pool_t *p,
                           const mcp_fed_t *fed, const char *method,
                           const mcp_json_t *params,
                           const apr_array_header_t *granted,
                           const mcp_fed_catalog_t *cat, const char **perr);

/* ---------------------------------------------------------------------
 * initialize: protocol version and merged capabilities
 * ------------------------------------------------------------------- */

/** The newest protocol version the gateway speaks. */
#define MCP_FED_LATEST_VERSION "2025-11-25"

/** Does the gateway speak @a version (2025-03-26, 2025-06-18, 2025-11-25)? */
int mcp_fed_version_supported(const char *version);

/** The versions the gateway speaks, oldest first, joined by ", " (for
 * messages), in @a p. */
const char *mcp_fed_versions_text(apr_pool_t *p);

/**
 * The version to answer a client's initialize with: @a requested when the
 * gateway speaks it, else MCP_FED_LATEST_VERSION (the client then decides
 * whether it can go on). NULL @a requested gives the latest.
 */
const char *mcp_fed_negotiate_version(const char *requested);

/**
 * The gateway's InitializeResult from its backends' ones.
 *
 * capabilities: tools, prompts, resources, logging and completions are
 * present when any backend has them; tools/prompts/resources.listChanged
 * and resources.subscribe are true when any backend's is. experimental is
 * the union of the backends' keys, the first backend's value winning when
 * two differ (reported). Anything else (tasks, unknown members) is left
 * out, since the gateway cannot promise to pass it through. instructions
 * are the backends' own, each as "<backend name>: <text>", joined by a
 * blank line; absent when no backend has any. serverInfo is
 * @a server_info, the gateway's own.
 *
 * @param results per backend index (mcp_fed_count() entries): its
 *        InitializeResult, or NULL when the token may not see it or it
 *        failed
 * @param pproblems gets an array of mcp_fed_problem_t for results of a
 *        wrong shape (skipped wholly or in part) and experimental clashes
 * @return APR_SUCCESS with *presult
 */
apr_status_t mcp_fed_initialize_merge(mcp_json_t **presult,
                                      apr_array_header_t **pproblems,
                                      apr_pool_t *p, const mcp_fed_t *fed,
                                      const char *requested_version,
                                      const mcp_json_t *const *results,
                                      const mcp_json_t *server_info);

/* ---------------------------------------------------------------------
 * JSON-RPC ids of server-to-client requests
 * ------------------------------------------------------------------- */

/**
 * The id under which the gateway relays backend @a i's server-to-client
 * request (sampling, elicitation, roots, ping) to the client: the string
 * "fed:" + backend name + ":" + mcp_jsonrpc_id_key(@a id), e.g.
 * "fed:github:i:7" or "fed:github:s:abc". The mapping is kept in the id
 * itself rather than in a table: the client's response may be POSTed to
 * any process or node, and nothing has to expire. Ids of two backends
 * never collide (names differ), and ids of one backend are unique as long
 * as that backend does not reuse ids within its session, which JSON-RPC
 * and MCP require. A backend session that is re-initialized may start
 * its ids again; the handler then drops responses for the old session.
 * @return APR_SUCCESS with *gwid (a string id in @a p), or MCP_EINVALID
 *         for an absent or null @a id or a bad backend index.
 */
apr_status_t mcp_fed_id_to_gateway(mcp_jsonrpc_id_t *gwid, apr_pool_t *p,
                                   const mcp_fed_t *fed, int i,
                                   const mcp_jsonrpc_id_t *id);

/**
 * The backend and its original id for the id of a client's response,
 * restored exactly (string "7" stays a string, integer 7 an integer).
 * @return APR_SUCCESS with *pi and *id; MCP_ENOTFOUND when @a gwid is not
 *         one the gateway minted (not a "fed:" string, unknown backend);
 *         MCP_EINVALID when it is malformed after the backend name.
 */
apr_status_t mcp_fed_id_from_gateway(int *pi, mcp_jsonrpc_id_t *id,
                                     apr_pool_t *p, const mcp_fed_t *fed,
                                     const mcp_jsonrpc_id_t *gwid);

#ifdef __cplusplus
}
#endif

#endif /* MCP_FED_H */
