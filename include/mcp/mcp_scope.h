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
 * @file mcp_scope.h
 * @brief OAuth scopes: the grammar, scope sets and the scope hierarchy.
 *
 * RFC 6749 §3.3: scope = scope-token *( SP scope-token ), scope-token =
 * 1*( %x21 / %x23-5B / %x5D-7E ), i.e. printable ASCII without SP, '"'
 * and '\\'. Tokens are case-sensitive.
 *
 * A scope set is an apr_array_header_t of const char *, kept sorted
 * (strcmp order) and without duplicates, so that mcp_scope_join() of
 * equal sets gives equal strings. Make sets with mcp_scope_set_make() or
 * mcp_scope_parse() and change them only with mcp_scope_set_add().
 *
 * Hierarchy: a granted scope that ends in ":*" after at least one other
 * character covers every scope that starts with what comes before the
 * '*': "github:*" covers "github:read", "github:repo:write" and
 * "github:*", but not "github" or "gitlab:read". There is no catch-all:
 * "*" (or ":*") is an ordinary token that covers only itself.
 */
#ifndef MCP_SCOPE_H
#define MCP_SCOPE_H

#include <apr_pools.h>
#include <apr_tables.h>

#include "mcp/mcp_common.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Longest scope token accepted, in bytes. */
#define MCP_SCOPE_MAX_TOKEN 128
/** Most tokens accepted in one scope list. */
#define MCP_SCOPE_MAX_TOKENS 64

/**
 * Is @a s one scope token: 1 to MCP_SCOPE_MAX_TOKEN bytes of %x21,
 * %x23-5B, %x5D-7E? NULL is not.
 */
int mcp_scope_token_valid(const char *s);

/**
 * Parse a space-separated scope list into a new set (sorted, duplicates
 * dropped). Runs of spaces are taken as one; any other whitespace is an
 * invalid character.
 * @param list NULL or "" give an empty set
 * @return APR_SUCCESS with *pset; MCP_EINVALID for an invalid token (the
 *         message names it, non-printable bytes escaped and long tokens
 *         cut); MCP_ETOOLARGE for more than MCP_SCOPE_MAX_TOKENS tokens.
 *         *pset is NULL on failure.
 */
apr_status_t mcp_scope_parse(apr_array_header_t **pset, apr_pool_t *p,
                             const char *list, const char **perr);

/** A new, empty scope set in @a p. */
apr_array_header_t *mcp_scope_set_make(apr_pool_t *p);

/**
 * Add @a scope (copied into the set's pool) where it sorts; nothing
 * happens when the set has it already.
 * @return APR_SUCCESS, or MCP_EINVALID when @a scope is not a token.
 */
apr_status_t mcp_scope_set_add(apr_array_header_t *set, const char *scope);

/** The set as a scope string: "a b c"; "" for an empty or NULL set. */
const char *mcp_scope_join(apr_pool_t *p, const apr_array_header_t *set);

/** Is @a scope in @a set (exact, no hierarchy)? */
int mcp_scope_set_has(const apr_array_header_t *set, const char *scope);

/** Does @a granted hold @a needed itself or a wildcard covering it? */
int mcp_scope_covers(const apr_array_header_t *granted, const char *needed);

/** mcp_scope_covers() for every scope of @a needed (1 when it is empty). */
int mcp_scope_covers_all(const apr_array_header_t *granted,
                         const apr_array_header_t *needed);

/** A new set with the scopes of @a a and of @a b. */
apr_array_header_t *mcp_scope_union(apr_pool_t *p,
                                    const apr_array_header_t *a,
                                    const apr_array_header_t *b);

/** A new set with the scopes in both @a a and @a b (exact, no hierarchy). */
apr_array_header_t *mcp_scope_intersect(apr_pool_t *p,
                                        const apr_array_header_t *a,
                                        const apr_array_header_t *b);

/** A new set with the scopes of @a a that @a b does not cover. */
apr_array_header_t *mcp_scope_minus(apr_pool_t *p,
                                    const apr_array_header_t *a,
                                    const apr_array_header_t *b);

/**
 * Glob match for names (the proxy's per-tool rules, "create_*",
 * "*_issue"): '*' matches any run of characters (also none), '?' exactly
 * one, everything else itself, case-sensitive. Linear in the name for
 * each '*' (no backtracking blow-up). NULL matches nothing.
 */
int mcp_scope_glob_match(const char *pattern, const char *name);

#ifdef __cplusplus
}
#endif

#endif /* MCP_SCOPE_H */
