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
 * @file mcp_glue_cache.h
 * @brief One small cache interface over ap_socache, for every module.
 *
 * Each module (and each use within one) creates its own instance: its own
 * ap_socache provider and arguments ("shmcb", "shmcb:/run/x(512000)",
 * "redis:host:6379", ...), namespace and global mutex. The instance does
 * its own locking: writes and counters always hold the global mutex (so
 * read-modify-write is atomic across processes), reads hold it when the
 * provider is not multi-process safe (AP_SOCACHE_FLAG_NOTMPSAFE).
 *
 * The lifecycle is mod_authn_socache's:
 *  - pre_config:  mcp_glue_cache_pre_config() registers the mutex type,
 *    so the `Mutex` directive can configure it;
 *  - config or post_config: mcp_glue_cache_create() checks the spec and
 *    finds the provider;
 *  - post_config: mcp_glue_cache_post_config() creates the provider's
 *    instance and the global mutex (both live until @a pconf is cleared);
 *  - child_init: mcp_glue_cache_child_init() reattaches the mutex;
 *  - requests: get, set, remove, incr.
 *
 * Behind the functions is a const table of operations per kind of cache
 * (mcp_cache_provider_t), the way mod_auth_openidc keeps its cache
 * backends; one kind exists today, "socache", which serves every
 * ap_socache provider.
 */
#ifndef MCP_GLUE_CACHE_H
#define MCP_GLUE_CACHE_H

#include <httpd.h>
#include <apr_time.h>

#ifdef __cplusplus
extern "C" {
#endif

/** One cache instance (opaque). */
typedef struct mcp_glue_cache_t mcp_glue_cache_t;

/** What a module wants from its instance. */
typedef struct {
    /** Registered with mcp_glue_cache_pre_config(); several instances of
     * one module may share it (the namespace tells them apart). */
    const char *mutex_type;
    /** Namespace given to the provider (shmcb names its segment after
     * it): unique per instance. */
    const char *ns;
    /** Longest value mcp_glue_cache_get() returns (longer: an error). */
    apr_size_t max_value;
    /** Sizing hints for the provider: typical key and value lengths, and
     * how often expired entries are swept. */
    apr_size_t avg_key_len, avg_value_len;
    apr_time_t expiry_interval;
} mcp_glue_cache_options_t;

/** The operations of one kind of cache (see the functions below). */
typedef struct {
    const char *name;
    apr_status_t (*post_config)(mcp_glue_cache_t *c, apr_pool_t *pconf,
                                apr_pool_t *ptemp, server_rec *s,
                                const char **perr);
    apr_status_t (*child_init)(mcp_glue_cache_t *c, apr_pool_t *pchild);
    apr_status_t (*get)(mcp_glue_cache_t *c, server_rec *s, apr_pool_t *p,
                        const char *key, const char **pvalue);
    apr_status_t (*set)(mcp_glue_cache_t *c, server_rec *s, apr_pool_t *p,
                        const char *key, const char *value,
                        apr_time_t expiry);
    apr_status_t (*remove)(mcp_glue_cache_t *c, server_rec *s,
                           apr_pool_t *p, const char *key);
    apr_status_t (*incr)(mcp_glue_cache_t *c, server_rec *s, apr_pool_t *p,
                         const char *key, apr_time_t expiry,
                         apr_int64_t *pcount);
} mcp_cache_provider_t;

/**
 * Register @a mutex_type (pre_config), once per type.
 */
void mcp_glue_cache_pre_config(apr_pool_t *pconf, const char *mutex_type);

/**
 * Check @a spec, "<provider>[:<args>]" of ap_socache, and find its
 * provider (it must be loaded: from a directive handler that is when the
 * LoadModule line comes first).
 * @return NULL or a message (without a directive name) from @a p.
 */
const char *mcp_glue_cache_check_spec(apr_pool_t *p, const char *spec);

/**
 * A new instance for @a spec (see mcp_glue_cache_check_spec()) with
 * options @a opts (copied), allocated from @a p (pconf or a config pool).
 * @return APR_SUCCESS; APR_NOTFOUND with *perr when the provider is not
 *         loaded.
 */
apr_status_t mcp_glue_cache_create(mcp_glue_cache_t **pc, apr_pool_t *p,
                                   const char *spec,
                                   const mcp_glue_cache_options_t *opts,
                                   const char **perr);

/**
 * Create the provider's instance and the global mutex, from post_config.
 * Both are released when @a pconf is cleared.
 * @return APR_SUCCESS, or a failure with *perr (the provider's message,
 *         or which step failed).
 */
apr_status_t mcp_glue_cache_post_config(mcp_glue_cache_t *c,
                                        apr_pool_t *pconf, apr_pool_t *ptemp,
                                        server_rec *s, const char **perr);

/** Reattach the global mutex in a new child (child_init). */
apr_status_t mcp_glue_cache_child_init(mcp_glue_cache_t *c,
                                       apr_pool_t *pchild);

/**
 * The value of @a key, NUL-terminated, from @a p.
 * @return APR_SUCCESS; APR_NOTFOUND when absent or expired; another
 *         failure (the lock, the provider, a value over max_value).
 */
apr_status_t mcp_glue_cache_get(mcp_glue_cache_t *c, server_rec *s,
                                apr_pool_t *p, const char *key,
                                const char **pvalue);

/** Store @a value under @a key until @a expiry (absolute time). */
apr_status_t mcp_glue_cache_set(mcp_glue_cache_t *c, server_rec *s,
                                apr_pool_t *p, const char *key,
                                const char *value, apr_time_t expiry);

/** Remove @a key; APR_SUCCESS also when it was absent. */
apr_status_t mcp_glue_cache_remove(mcp_glue_cache_t *c, server_rec *s,
                                   apr_pool_t *p, const char *key);

/**
 * Add one to the decimal counter under @a key (absent counts as 0) and
 * store it until @a expiry, atomically across processes.
 * @param pcount the new value, also when storing it failed
 * @return APR_SUCCESS, or the failure of the lock or of the store.
 */
apr_status_t mcp_glue_cache_incr(mcp_glue_cache_t *c, server_rec *s,
                                 apr_pool_t *p, const char *key,
                                 apr_time_t expiry, apr_int64_t *pcount);

#ifdef __cplusplus
}
#endif

#endif /* MCP_GLUE_CACHE_H */
