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

/* The cache interface of mcp_glue_cache.h and its one kind today,
 * "socache": any ap_socache provider with the lifecycle of
 * mod_authn_socache (create and init in post_config, a global mutex
 * reattached per child, destroy when the configuration goes). */

#include <stdlib.h>

#include <httpd.h>
#include <http_config.h>
#include <ap_provider.h>
#include <ap_socache.h>
#include <util_mutex.h>
#include <apr_global_mutex.h>
#include <apr_strings.h>

#include "mcp_glue_cache.h"

struct mcp_glue_cache_t {
    const mcp_cache_provider_t *impl;
    mcp_glue_cache_options_t opts;
    const char *spec;
    const char *args;                 /* after the ':', NULL without */
    const ap_socache_provider_t *sp;
    ap_socache_instance_t *inst;
    server_rec *s;                    /* for the destroy at cleanup */
    apr_global_mutex_t *mutex;
    const char *mutex_file;
};

void mcp_glue_cache_pre_config(apr_pool_t *pconf, const char *mutex_type)
{
    ap_mutex_register(pconf, mutex_type, NULL, APR_LOCK_DEFAULT, 0);
}

static const ap_socache_provider_t *lookup(apr_pool_t *p, const char *spec,
                                           const char **pname,
                                           const char **pargs)
{
    const char *sep = strchr(spec, ':');

    *pname = sep ? apr_pstrmemdup(p, spec, sep - spec) : spec;
    *pargs = sep ? sep + 1 : NULL;
    return ap_lookup_provider(AP_SOCACHE_PROVIDER_GROUP, *pname,
                              AP_SOCACHE_PROVIDER_VERSION);
}

const char *mcp_glue_cache_check_spec(apr_pool_t *p, const char *spec)
{
    const char *name, *args;

    if (!lookup(p, spec, &name, &args)) {
        return apr_psprintf(p, "unknown socache provider '%s' (load it first, "
                            "e.g. a2enmod socache_%s)", name, name);
    }
    return NULL;
}

/* ---- the "socache" kind ---- */

static int locked(mcp_glue_cache_t *c, apr_status_t *prv)
{
    *prv = c->mutex ? apr_global_mutex_lock(c->mutex) : APR_EINIT;
    return *prv == APR_SUCCESS;
}

static apr_status_t socache_cleanup(void *data)
{
    mcp_glue_cache_t *c = data;

    if (c->inst) {
        c->sp->destroy(c->inst, c->s);
        c->inst = NULL;
    }
    c->mutex = NULL;
    return APR_SUCCESS;
}

static apr_status_t socache_post_config(mcp_glue_cache_t *c,
                                        apr_pool_t *pconf, apr_pool_t *ptemp,
                                        server_rec *s, const char **perr)
{
    struct ap_socache_hints hints;
    const char *err;
    apr_status_t rv;

    hints.avg_id_len = c->opts.avg_key_len;
    hints.avg_obj_size = c->opts.avg_value_len;
    hints.expiry_interval = c->opts.expiry_interval;
    err = c->sp->create(&c->inst, c->args, ptemp, pconf);
    if (err) {
        *perr = err;
        return APR_EGENERAL;
    }
    /* The namespace as instance id: instances sharing a mutex type get
     * mutexes of their own. */
    rv = ap_global_mutex_create(&c->mutex, &c->mutex_file,
                                c->opts.mutex_type, c->opts.ns, s, pconf, 0);
    if (rv != APR_SUCCESS) {
        *perr = "cannot create its global mutex";
        return rv;
    }
    rv = c->sp->init(c->inst, c->opts.ns, &hints, s, pconf);
    if (rv != APR_SUCCESS) {
        *perr = "cannot initialise it";
        return rv;
    }
    /* Destroyed with the configuration, as mod_authn_socache does, once
     * initialised. */
    c->s = s;
    apr_pool_cleanup_register(pconf, c, socache_cleanup,
                              apr_pool_cleanup_null);
    return APR_SUCCESS;
}

static apr_status_t socache_child_init(mcp_glue_cache_t *c,
                                       apr_pool_t *pchild)
{
    if (!c->mutex) {
        return APR_SUCCESS;
    }
    return apr_global_mutex_child_init(&c->mutex, c->mutex_file, pchild);
}

/* Values up to this size are retrieved into a buffer on the stack. */
#define SMALL_VALUE 4096

/* Retrieve into @a buf (@a size bytes) without taking the lock (the
 * caller holds it when needed); the value is copied to @a p. */
static apr_status_t retrieve(mcp_glue_cache_t *c, server_rec *s,
                             apr_pool_t *p, const char *key,
                             unsigned char *buf, apr_size_t size,
                             const char **pvalue)
{
    unsigned int vlen = (unsigned int)size;
    apr_status_t rv;

    rv = c->sp->retrieve(c->inst, s, (const unsigned char *)key,
                         (unsigned int)strlen(key), buf, &vlen, p);
    if (rv == APR_SUCCESS) {
        *pvalue = apr_pstrmemdup(p, (const char *)buf, vlen);
    }
    return rv;
}

/* Retrieve a value of up to max_value bytes: into a buffer on the stack
 * first, and only when the value may not have fitted (a provider says
 * APR_NOTFOUND, as shmcb does, or APR_ENOSPC for a value larger than
 * the buffer) once more into one of max_value bytes, malloc'd for that
 * and freed. Most values are small: a large malloc and free for every
 * lookup (sessions: 64 KB) cost more than the lookup itself. Not in @a p:
 * a request's pool, or a long stream's, would keep that much for a
 * value of a few hundred bytes. */
static apr_status_t retrieve_any(mcp_glue_cache_t *c, server_rec *s,
                                 apr_pool_t *p, const char *key,
                                 const char **pvalue)
{
    unsigned char small[SMALL_VALUE];
    unsigned char *big;
    apr_size_t size = c->opts.max_value < sizeof(small)
                    ? c->opts.max_value : sizeof(small);
    apr_status_t rv = retrieve(c, s, p, key, small, size, pvalue);

    if ((rv != APR_NOTFOUND && rv != APR_ENOSPC)
        || c->opts.max_value <= sizeof(small)) {
        return rv;
    }
    if (!(big = malloc(c->opts.max_value))) {
        return APR_ENOMEM;
    }
    rv = retrieve(c, s, p, key, big, c->opts.max_value, pvalue);
    free(big);
    return rv;
}

static apr_status_t store(mcp_glue_cache_t *c, server_rec *s, apr_pool_t *p,
                          const char *key, const char *value,
                          apr_time_t expiry)
{
    return c->sp->store(c->inst, s, (const unsigned char *)key,
                        (unsigned int)strlen(key), expiry,
                        (unsigned char *)value, (unsigned int)strlen(value),
                        p);
}

static apr_status_t socache_get(mcp_glue_cache_t *c, server_rec *s,
                                apr_pool_t *p, const char *key,
                                const char **pvalue)
{
    apr_status_t rv;

    if (!(c->sp->flags & AP_SOCACHE_FLAG_NOTMPSAFE)) {
        rv = retrieve_any(c, s, p, key, pvalue);
    }
    else if (locked(c, &rv)) {
        rv = retrieve_any(c, s, p, key, pvalue);
        apr_global_mutex_unlock(c->mutex);
    }
    return rv;
}

static apr_status_t socache_set(mcp_glue_cache_t *c, server_rec *s,
                                apr_pool_t *p, const char *key,
                                const char *value, apr_time_t expiry)
{
    apr_status_t rv;

    if (!locked(c, &rv)) {
        return rv;
    }
    rv = store(c, s, p, key, value, expiry);
    apr_global_mutex_unlock(c->mutex);
    return rv;
}

static apr_status_t socache_remove(mcp_glue_cache_t *c, server_rec *s,
                                   apr_pool_t *p, const char *key)
{
    apr_status_t rv;

    if (!locked(c, &rv)) {
        return rv;
    }
    rv = c->sp->remove(c->inst, s, (const unsigned char *)key,
                       (unsigned int)strlen(key), p);
    apr_global_mutex_unlock(c->mutex);
    return rv == APR_NOTFOUND ? APR_SUCCESS : rv;
}

static apr_status_t socache_incr(mcp_glue_cache_t *c, server_rec *s,
                                 apr_pool_t *p, const char *key,
                                 apr_time_t expiry, apr_int64_t *pcount)
{
    const char *val;
    apr_status_t rv;

    *pcount = 0;
    if (locked(c, &rv)) {
        if (retrieve_any(c, s, p, key, &val) == APR_SUCCESS) {
            *pcount = apr_atoi64(val);
        }
        (*pcount)++;
        rv = store(c, s, p, key,
                   apr_psprintf(p, "%" APR_INT64_T_FMT, *pcount), expiry);
        apr_global_mutex_unlock(c->mutex);
    }
    return rv;
}

static const mcp_cache_provider_t socache_impl = {
    "socache",
    socache_post_config,
    socache_child_init,
    socache_get,
    socache_set,
    socache_remove,
    socache_incr
};

/* ---- the interface ---- */

apr_status_t mcp_glue_cache_create(mcp_glue_cache_t **pc, apr_pool_t *p,
                                   const char *spec,
                                   const mcp_glue_cache_options_t *opts,
                                   const char **perr)
{
    mcp_glue_cache_t *c = apr_pcalloc(p, sizeof(*c));
    const char *name;

    *pc = NULL;
    c->spec = apr_pstrdup(p, spec);
    c->sp = lookup(p, c->spec, &name, &c->args);
    if (!c->sp) {
        *perr = mcp_glue_cache_check_spec(p, spec);
        return APR_NOTFOUND;
    }
    c->impl = &socache_impl;
    c->opts = *opts;
    c->opts.mutex_type = apr_pstrdup(p, opts->mutex_type);
    c->opts.ns = apr_pstrdup(p, opts->ns);
    *pc = c;
    return APR_SUCCESS;
}

apr_status_t mcp_glue_cache_post_config(mcp_glue_cache_t *c,
                                        apr_pool_t *pconf, apr_pool_t *ptemp,
                                        server_rec *s, const char **perr)
{
    return c->impl->post_config(c, pconf, ptemp, s, perr);
}

apr_status_t mcp_glue_cache_child_init(mcp_glue_cache_t *c,
                                       apr_pool_t *pchild)
{
    return c->impl->child_init(c, pchild);
}

apr_status_t mcp_glue_cache_get(mcp_glue_cache_t *c, server_rec *s,
                                apr_pool_t *p, const char *key,
                                const char **pvalue)
{
    return c->impl->get(c, s, p, key, pvalue);
}

apr_status_t mcp_glue_cache_set(mcp_glue_cache_t *c, server_rec *s,
                                apr_pool_t *p, const char *key,
                                const char *value, apr_time_t expiry)
{
    return c->impl->set(c, s, p, key, value, expiry);
}

apr_status_t mcp_glue_cache_remove(mcp_glue_cache_t *c, server_rec *s,
                                   apr_pool_t *p, const char *key)
{
    return c->impl->remove(c, s, p, key);
}

apr_status_t mcp_glue_cache_incr(mcp_glue_cache_t *c, server_rec *s,
                                 apr_pool_t *p, const char *key,
                                 apr_time_t expiry, apr_int64_t *pcount)
{
    return c->impl->incr(c, s, p, key, expiry, pcount);
}
