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
 * **Backends.** An mcp_fed_t holds the backends of one endpoint in
 * configuration order; a backend is named by its index into that list.
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
 * left out and reported.
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
 * @return APR_SUCCESS, or MCP_ECONFLICT with *pother set to the index of
 *         the first owner.
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

#ifdef __cplusplus
}
#endif

#endif /* MCP_FED_H */
