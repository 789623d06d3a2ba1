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

/* State of mod_mcp_authz beyond the SQL store:
 *
 *  - across processes (and, with a shared provider such as redis, across
 *    nodes), an ap_socache behind the glue's cache (mcp_glue_cache.h,
 *    which holds the global mutex for providers that need one and for
 *    the read-modify-write counters): the deny-list of revoked access
 *    token ids (RFC 7009) and the registration rate limits;
 *  - per process: a bounded cache of verified access tokens (a verified
 *    JWT costs an ECDSA verification; a cached one a hash lookup), the
 *    revocations of the store's mcp_revocations table (written by
 *    RFC 7009 revocations and by mcpctl on every node) polled every
 *    MCP_AUTHZ_REVOCATION_POLL seconds, and the HTTP client;
 *  - the expiry sweep of codes, tokens, consents and idle clients, run by
 *    a singleton child watchdog (mod_watchdog): mod_dbd has no connections
 *    in the parent process, where ap_hook_monitor runs. */

#include <httpd.h>
#include <http_config.h>
#include <http_log.h>
#include <apr_dbd.h>
#include <mod_dbd.h>
#include <mod_watchdog.h>
#include <apr_strings.h>
#include <apr_thread_mutex.h>
#include <apr_thread_rwlock.h>

#include "mcp/mcp_common.h"
#include "mcp/mcp_crypto.h"
#include "mcp/mcp_http.h"
#include "mcp/mcp_scope.h"
#include "mcp_glue.h"
#include "mcp_glue_cache.h"
#include "authz_private.h"

APLOG_USE_MODULE(mcp_authz);

#define MUTEX_TYPE "mcp-authz-cache"
#define CACHE_NAMESPACE "mcp-authz"
#define DEFAULT_CACHE "shmcb"

/* ---- process-wide, written in post_config / child_init only ---- */

static mcp_glue_cache_t *cache;
static mcp_http_t *http_client;
static const char *cimd_ca_file;

static apr_status_t mcp_authz_sweep(int state, void *data, apr_pool_t *pool);

/* ---- the verified-token cache ---- */

/* One direct-mapped slot: the token itself and a copy of what the bearer
 * check needs, in one malloc'd block. The token, not a hash of it: a
 * SHA-256 of a 600-byte token cost more instructions (18000) than the
 * rest of a cached check and of serving a small file together, and a
 * hit then needs exact equality, not an equal hash. */
typedef struct {
    apr_int64_t exp, iat, nbf;
    char *blob;             /* token \0 issuer \0 subject \0 client \0 jti \0 scope \0 aud... \0\0 */
    apr_size_t token_len;   /* the token's, at the start of blob */
    apr_size_t blob_len;
    int has_scope;
} slot_t;

static slot_t *slots;
static apr_thread_mutex_t *slots_mutex;

/* ---- polled revocations ---- */

typedef struct {
    apr_pool_t *pool;
    apr_hash_t *clients;    /* client_id -> apr_int64_t * revoked at */
    apr_hash_t *subjects;
    apr_hash_t *jtis;
} revocations_t;

static revocations_t *revs;
static apr_thread_rwlock_t *revs_lock;
static apr_thread_mutex_t *poll_mutex;
static apr_int64_t next_poll;
static apr_pool_t *revs_parent;

/* ---------------------------------------------------------------------
 * socache
 * ------------------------------------------------------------------- */

void mcp_authz_state_pre_config(apr_pool_t *pconf)
{
    mcp_glue_cache_pre_config(pconf, MUTEX_TYPE);
}

int mcp_authz_state_post_config(apr_pool_t *pconf, apr_pool_t *ptemp,
                                server_rec *s)
{
    mcp_authz_server_conf *main_conf = ap_get_module_config(s->module_config,
                                                            &mcp_authz_module);
    /* Values are "1" (deny-list) and small counters (rate limits). */
    static const mcp_glue_cache_options_t opts = {
        MUTEX_TYPE, CACHE_NAMESPACE, 15, 64, 64, APR_USEC_PER_SEC * 3600
    };
    const char *spec = main_conf->cache_spec ? main_conf->cache_spec
                                             : DEFAULT_CACHE;
    const char *err;
    apr_status_t rv;
    server_rec *sv;
    int cimd = 0;

    cimd_ca_file = NULL;
    for (sv = s->next; sv; sv = sv->next) {
        mcp_authz_server_conf *conf = ap_get_module_config(sv->module_config,
                                                           &mcp_authz_module);
        if (conf->issuer && conf->cache_spec
            && strcmp(conf->cache_spec, spec)) {
            ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s, MCPLOGNO(00864)
                         "MCPAuthzCache: %s names another cache than the main "
                         "server; one cache serves all virtual hosts: set it "
                         "in the main server only", mcp_glue_server_desc(ptemp, sv));
            return HTTP_INTERNAL_SERVER_ERROR;
        }
    }
    cache = NULL;
    if (mcp_glue_cache_create(&cache, pconf, spec, &opts, &err)
        != APR_SUCCESS) {
        const char *name = apr_pstrndup(ptemp, spec, strcspn(spec, ":"));

        ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s, MCPLOGNO(00850)
                     "mod_mcp_authz needs a shared object cache for revoked "
                     "tokens and rate limits: load mod_socache_%s (a2enmod "
                     "socache_%s) or name another provider with "
                     "MCPAuthzCache", name, name);
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    rv = mcp_glue_cache_post_config(cache, pconf, ptemp, s, &err);
    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, rv == APR_EGENERAL ? 0 : rv, s,
                     MCPLOGNO(00851) "MCPAuthzCache %s: %s", spec, err);
        cache = NULL;
        return HTTP_INTERNAL_SERVER_ERROR;
    }

    for (sv = s; sv; sv = sv->next) {
        mcp_authz_server_conf *conf = ap_get_module_config(sv->module_config,
                                                           &mcp_authz_module);
        if (!conf->issuer || !conf->cimd) {
            continue;
        }
        cimd = 1;
        /* One HTTP client per process fetches the documents of every
         * virtual host: one set of CAs. */
        if (conf->cimd_ca_file && cimd_ca_file
            && strcmp(conf->cimd_ca_file, cimd_ca_file)) {
            ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s, MCPLOGNO(00865)
                         "MCPAuthzClientMetadataCA: %s names another file than "
                         "%s; one set of CAs serves all virtual hosts",
                         mcp_glue_server_desc(ptemp, sv), cimd_ca_file);
            return HTTP_INTERNAL_SERVER_ERROR;
        }
        if (conf->cimd_ca_file) {
            cimd_ca_file = conf->cimd_ca_file;
        }
    }
    if (cimd) {
        /* Before any thread exists. */
        rv = mcp_http_global_init(pconf, &err);
        if (rv != APR_SUCCESS) {
            ap_log_error(APLOG_MARK, APLOG_EMERG, mcp_glue_log_status(rv), s,
                         MCPLOGNO(00854) "mod_mcp_authz: cannot set up the "
                         "HTTP client: %s", err ? err : "?");
            return HTTP_INTERNAL_SERVER_ERROR;
        }
    }
    return OK;
}

/* ---------------------------------------------------------------------
 * Per child
 * ------------------------------------------------------------------- */

static revocations_t *revocations_new(void)
{
    apr_pool_t *p;
    revocations_t *rv;

    if (apr_pool_create(&p, revs_parent) != APR_SUCCESS) {
        return NULL;
    }
    rv = apr_pcalloc(p, sizeof(*rv));
    rv->pool = p;
    rv->clients = apr_hash_make(p);
    rv->subjects = apr_hash_make(p);
    rv->jtis = apr_hash_make(p);
    return rv;
}

static apr_status_t slots_free(void *data)
{
    int i;

    for (i = 0; slots && i < MCP_AUTHZ_TOKEN_CACHE_SLOTS; i++) {
        free(slots[i].blob);
    }
    free(slots);
    slots = NULL;
    return APR_SUCCESS;
}

void mcp_authz_state_child_init(apr_pool_t *pchild, server_rec *s)
{
    apr_status_t rv;
    const char *err = NULL;

    if (cache) {
        rv = mcp_glue_cache_child_init(cache, pchild);
        if (rv != APR_SUCCESS) {
            ap_log_error(APLOG_MARK, APLOG_CRIT, rv, s, MCPLOGNO(00855)
                         "cannot attach to the MCPAuthzCache mutex");
        }
    }
    slots = calloc(MCP_AUTHZ_TOKEN_CACHE_SLOTS, sizeof(*slots));
    apr_pool_cleanup_register(pchild, NULL, slots_free, apr_pool_cleanup_null);
    apr_thread_mutex_create(&slots_mutex, APR_THREAD_MUTEX_DEFAULT, pchild);
    apr_thread_mutex_create(&poll_mutex, APR_THREAD_MUTEX_DEFAULT, pchild);
    apr_thread_rwlock_create(&revs_lock, pchild);
    revs_parent = pchild;
    revs = revocations_new();
    next_poll = 0;
    if (mcp_http_global_init(pchild, NULL) == APR_SUCCESS) {
        mcp_http_options_t o;

        memset(&o, 0, sizeof(o));
        o.connect_timeout = apr_time_from_sec(MCP_AUTHZ_CIMD_TIMEOUT);
        o.timeout = apr_time_from_sec(MCP_AUTHZ_CIMD_TIMEOUT);
        o.max_response_size = MCP_AUTHZ_CIMD_MAX_SIZE;
        o.ca_file = cimd_ca_file;
        if (mcp_http_create(&http_client, pchild, &o, &err) != APR_SUCCESS) {
            ap_log_error(APLOG_MARK, APLOG_ERR, 0, s, MCPLOGNO(00856)
                         "mod_mcp_authz: no HTTP client for client metadata "
                         "documents: %s", err ? err : "?");
        }
    }
}

mcp_http_t *mcp_authz_http(server_rec *s)
{
    return http_client;
}

/* ---------------------------------------------------------------------
 * Token cache
 * ------------------------------------------------------------------- */

/* The slot of a token: FNV-1a of its last 16 bytes, which are part of its
 * signature. It only spreads tokens over the slots (a hit compares the
 * whole token): ES256 signatures are random, and nobody who presents a
 * token can choose those of this server. */
static slot_t *slot_for(const char *token, apr_size_t len)
{
    apr_size_t i = len > 16 ? len - 16 : 0;
    apr_uint32_t h = 2166136261U;

    for (; i < len; i++) {
        h = (h ^ (unsigned char)token[i]) * 16777619U;
    }
    return &slots[h % MCP_AUTHZ_TOKEN_CACHE_SLOTS];
}

static const char *next_str(const char **pp)
{
    const char *s = *pp;

    *pp = s + strlen(s) + 1;
    return s;
}

const mcp_jwt_t *mcp_authz_token_cache_get(request_rec *r, const char *token,
                                           apr_size_t len)
{
    mcp_jwt_t *t = NULL;
    slot_t *sl;

    if (!slots || len > MCP_AUTHZ_TOKEN_CACHE_MAX_LEN) {
        return NULL;
    }
    sl = slot_for(token, len);
    apr_thread_mutex_lock(slots_mutex);
    /* In constant time: how much of a cached token a guess matches must
     * not show. */
    if (sl->blob && sl->token_len == len
        && mcp_crypto_equal(sl->blob, token, len)) {
        const char *b = apr_pmemdup(r->pool, sl->blob + len + 1,
                                    sl->blob_len - len - 1), *a;

        t = apr_pcalloc(r->pool, sizeof(*t));
        t->exp = sl->exp;
        t->iat = sl->iat;
        t->nbf = sl->nbf;
        t->issuer = next_str(&b);
        t->subject = next_str(&b);
        t->client_id = next_str(&b);
        t->jti = next_str(&b);
        t->scope = next_str(&b);
        if (!sl->has_scope) {
            t->scope = NULL;
        }
        t->audiences = apr_array_make(r->pool, 2, sizeof(const char *));
        while (*(a = next_str(&b))) {
            APR_ARRAY_PUSH(t->audiences, const char *) = a;
        }
    }
    apr_thread_mutex_unlock(slots_mutex);
    if (t && mcp_scope_parse(&t->scopes, r->pool, t->scope, NULL) != APR_SUCCESS) {
        t = NULL;
    }
    return t;
}

void mcp_authz_token_cache_put(request_rec *r, const char *token,
                               apr_size_t token_len, const mcp_jwt_t *t)
{
    apr_array_header_t *parts = apr_array_make(r->pool, 8, sizeof(const char *));
    apr_size_t len = 0, n;
    char *blob, *o;
    slot_t *sl;
    int i;

    if (!slots || token_len > MCP_AUTHZ_TOKEN_CACHE_MAX_LEN
        || strlen(token) != token_len) {
        return;
    }
    APR_ARRAY_PUSH(parts, const char *) = token;
    APR_ARRAY_PUSH(parts, const char *) = t->issuer;
    APR_ARRAY_PUSH(parts, const char *) = t->subject;
    APR_ARRAY_PUSH(parts, const char *) = t->client_id;
    APR_ARRAY_PUSH(parts, const char *) = t->jti;
    APR_ARRAY_PUSH(parts, const char *) = t->scope ? t->scope : "";
    for (i = 0; t->audiences && i < t->audiences->nelts; i++) {
        APR_ARRAY_PUSH(parts, const char *) = APR_ARRAY_IDX(t->audiences, i,
                                                            const char *);
    }
    APR_ARRAY_PUSH(parts, const char *) = "";
    for (i = 0; i < parts->nelts; i++) {
        len += strlen(APR_ARRAY_IDX(parts, i, const char *)) + 1;
    }
    if (!(blob = malloc(len))) {
        return;
    }
    for (o = blob, i = 0; i < parts->nelts; i++) {
        n = strlen(APR_ARRAY_IDX(parts, i, const char *)) + 1;
        memcpy(o, APR_ARRAY_IDX(parts, i, const char *), n);
        o += n;
    }
    sl = slot_for(token, token_len);
    apr_thread_mutex_lock(slots_mutex);
    free(sl->blob);
    sl->blob = blob;
    sl->token_len = token_len;
    sl->blob_len = len;
    sl->exp = t->exp;
    sl->iat = t->iat;
    sl->nbf = t->nbf;
    sl->has_scope = t->scope != NULL;
    apr_thread_mutex_unlock(slots_mutex);
}

/* ---------------------------------------------------------------------
 * Revocations
 * ------------------------------------------------------------------- */

static void deny_cache(request_rec *r, const char *jti, apr_int64_t exp)
{
    apr_status_t rv;

    if (!cache) {
        return;
    }
    rv = mcp_glue_cache_set(cache, r->server, r->pool,
                            apr_pstrcat(r->pool, "jti:", jti, NULL), "1",
                            apr_time_from_sec(exp));
    if (rv != APR_SUCCESS) {
        ap_log_rerror(APLOG_MARK, APLOG_WARNING, rv, r, MCPLOGNO(00857)
                      "cannot put token %s on the deny-list of the "
                      "MCPAuthzCache", jti);
    }
}

void mcp_authz_deny_jti(request_rec *r, mcp_authz_server_conf *conf,
                        mcp_store_t *st, const char *jti, apr_int64_t exp)
{
    deny_cache(r, jti, exp);
    if (st && mcp_store_revocation_put(st, "jti", jti, mcp_authz_now(), exp)
              != APR_SUCCESS) {
        ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r, MCPLOGNO(00858)
                      "cannot record the revocation of token %s in the store "
                      "(other nodes learn of it only through a shared "
                      "MCPAuthzCache): %s", jti, mcp_store_error(st));
    }
}

static int denied_in_cache(request_rec *r, const char *jti)
{
    const char *val;

    return cache && mcp_glue_cache_get(cache, r->server, r->pool,
                                       apr_pstrcat(r->pool, "jti:", jti,
                                                   NULL),
                                       &val) == APR_SUCCESS;
}

static void add_rev(apr_hash_t *h, apr_pool_t *p, const char *key,
                    apr_int64_t at)
{
    apr_int64_t *old = apr_hash_get(h, key, APR_HASH_KEY_STRING), *v;

    if (old && *old >= at) {
        return;
    }
    v = apr_palloc(p, sizeof(*v));
    *v = at;
    apr_hash_set(h, apr_pstrdup(p, key), APR_HASH_KEY_STRING, v);
}

/* Reload the recent revocations of the store, at most every
 * MCP_AUTHZ_REVOCATION_POLL seconds, by one thread at a time; the others
 * go on with the previous table. */
static void poll_revocations(request_rec *r, mcp_authz_server_conf *conf)
{
    apr_int64_t now = mcp_authz_now();
    apr_array_header_t *list;
    revocations_t *fresh, *old;
    mcp_store_t *st;
    apr_status_t status;
    void *dbd;
    int i;

    if (now < next_poll || apr_thread_mutex_trylock(poll_mutex) != APR_SUCCESS) {
        return;
    }
    if (now < next_poll) {
        apr_thread_mutex_unlock(poll_mutex);
        return;
    }
    next_poll = now + MCP_AUTHZ_REVOCATION_POLL;
    /* A connection of its own, given back at once: the request may be a
     * GET stream, which would keep one acquired for the request out of
     * mod_dbd's pool for as long as it lasts (with DBDMax 1, every other
     * request of the process that needs the store would wait for it). */
    st = mcp_glue_store_open(r, APLOG_MODULE_INDEX, &dbd);
    /* Only revocations younger than the longest-lived access token can
     * still refuse one. */
    status = st ? mcp_store_revocation_since(st, r->pool,
                                             now
                                             - mcp_authz_access_lifetime(conf)
                                             - 2 * MCP_AUTHZ_LEEWAY, &list)
                : MCP_ESTORE;
    if (status != APR_SUCCESS || !(fresh = revocations_new())) {
        ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r, MCPLOGNO(00859)
                      "cannot read the revocations from the store%s%s: using "
                      "the previous list", st ? ": " : "",
                      st ? mcp_store_error(st) : "");
        mcp_glue_store_close(r, dbd);
        apr_thread_mutex_unlock(poll_mutex);
        return;
    }
    mcp_glue_store_close(r, dbd);
    for (i = 0; i < list->nelts; i++) {
        mcp_store_revocation_t *rv = APR_ARRAY_IDX(list, i,
                                                   mcp_store_revocation_t *);
        apr_hash_t *h = !strcmp(rv->kind, "client") ? fresh->clients
                      : !strcmp(rv->kind, "subject") ? fresh->subjects
                      : fresh->jtis;

        add_rev(h, fresh->pool, rv->value, rv->created_at);
    }
    apr_thread_rwlock_wrlock(revs_lock);
    old = revs;
    revs = fresh;
    apr_thread_rwlock_unlock(revs_lock);
    if (old) {
        apr_pool_destroy(old->pool);
    }
    apr_thread_mutex_unlock(poll_mutex);
}

int mcp_authz_token_revoked(request_rec *r, mcp_authz_server_conf *conf,
                            const char *jti, const char *client_id,
                            const char *subject, apr_int64_t iat)
{
    apr_int64_t *at;
    int revoked = 0;

    if (denied_in_cache(r, jti)) {
        return 1;
    }
    poll_revocations(r, conf);
    if (!revs) {
        return 0;
    }
    apr_thread_rwlock_rdlock(revs_lock);
    if (apr_hash_get(revs->jtis, jti, APR_HASH_KEY_STRING)) {
        revoked = 1;
    }
    at = apr_hash_get(revs->clients, client_id, APR_HASH_KEY_STRING);
    if (at && iat <= *at) {
        revoked = 1;
    }
    at = apr_hash_get(revs->subjects, subject, APR_HASH_KEY_STRING);
    if (at && iat <= *at) {
        revoked = 1;
    }
    apr_thread_rwlock_unlock(revs_lock);
    return revoked;
}

/* ---------------------------------------------------------------------
 * Rate limits
 * ------------------------------------------------------------------- */

int mcp_authz_rate_limited(request_rec *r, mcp_authz_server_conf *conf,
                           const char *key, int max, int window, int *pretry)
{
    apr_int64_t now = mcp_authz_now(), slot = now / window;
    const char *k = apr_psprintf(r->pool, "rl:%s:%" APR_INT64_T_FMT, key, slot);
    apr_int64_t count = 0;

    *pretry = (int)((slot + 1) * window - now);
    if (!cache) {
        return 0;
    }
    /* Without the cache nothing is limited: a failed lock counts 0, a
     * failed store still counts this request. */
    mcp_glue_cache_incr(cache, r->server, r->pool, k,
                        apr_time_from_sec((slot + 1) * window + 1), &count);
    return count > max;
}

/* ---------------------------------------------------------------------
 * The expiry sweep
 * ------------------------------------------------------------------- */

int mcp_authz_sweep_post_config(apr_pool_t *pconf, server_rec *s)
{
    APR_OPTIONAL_FN_TYPE(ap_watchdog_get_instance) *wd_get =
        APR_RETRIEVE_OPTIONAL_FN(ap_watchdog_get_instance);
    APR_OPTIONAL_FN_TYPE(ap_watchdog_register_callback) *wd_register =
        APR_RETRIEVE_OPTIONAL_FN(ap_watchdog_register_callback);
    ap_watchdog_t *wd;

    if (!wd_get || !wd_register) {
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s, MCPLOGNO(00860)
                     "mod_watchdog is not loaded: expired codes, tokens and "
                     "consents are not swept from the store (run mcpctl db "
                     "purge from cron instead)");
        return OK;
    }
    /* Here, not in child_init: mod_watchdog's post_config (which runs
     * after this one) starts only the child watchdogs that have a
     * callback by then; the children inherit it. */
    if (wd_get(&wd, "mcp-authz-sweep", 0, 1, pconf) != APR_SUCCESS
        || wd_register(wd, apr_time_from_sec(MCP_AUTHZ_SWEEP_INTERVAL), s,
                       mcp_authz_sweep) != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s, MCPLOGNO(00861)
                     "cannot get a watchdog for the expiry sweep");
    }
    return OK;
}

static apr_status_t mcp_authz_sweep(int state, void *data, apr_pool_t *pool)
{
    APR_OPTIONAL_FN_TYPE(ap_dbd_open) *dbd_open =
        APR_RETRIEVE_OPTIONAL_FN(ap_dbd_open);
    APR_OPTIONAL_FN_TYPE(ap_dbd_close) *dbd_close =
        APR_RETRIEVE_OPTIONAL_FN(ap_dbd_close);
    server_rec *s = data, *sv;
    apr_hash_t *done;

    if (state != AP_WATCHDOG_STATE_RUNNING || !dbd_open || !dbd_close) {
        return APR_SUCCESS;
    }
    done = apr_hash_make(pool);
    for (sv = s; sv; sv = sv->next) {
        mcp_authz_server_conf *conf = ap_get_module_config(sv->module_config,
                                                           &mcp_authz_module);
        mcp_store_purge_t n;
        mcp_store_t *st = NULL;
        ap_dbd_t *dbd;

        if (!conf->issuer) {
            continue;
        }
        dbd = dbd_open(pool, sv);
        if (!dbd) {
            continue;
        }
        /* Servers sharing one database are swept once. */
        if (!apr_hash_get(done, &dbd->handle, sizeof(dbd->handle))
            && mcp_store_attach(&st, pool, dbd->driver, dbd->handle,
                                dbd->prepared, dbd->pool) == APR_SUCCESS) {
            apr_hash_set(done, apr_pmemdup(pool, &dbd->handle,
                                           sizeof(dbd->handle)),
                         sizeof(dbd->handle), sv);
            /* Logged to the main server: the store usually serves every
             * virtual host, and sv is merely the first of them in httpd's
             * list (the last one configured), whose ErrorLog may be its
             * own. */
            if (mcp_store_purge(st, mcp_authz_now(), &n) != APR_SUCCESS) {
                ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s, MCPLOGNO(00862)
                             "expiry sweep of the store of %s failed: %s",
                             mcp_glue_server_desc(pool, sv),
                             mcp_store_error(st));
            }
            else if (n.codes || n.refresh_tokens || n.consents || n.clients
                     || n.revocations || n.pending) {
                ap_log_error(APLOG_MARK, APLOG_INFO, 0, s, MCPLOGNO(00863)
                             "expiry sweep of the store of %s: %d codes, %d "
                             "refresh tokens, %d consents, %d clients, %d "
                             "revocations, %d pending authorizations removed",
                             mcp_glue_server_desc(pool, sv), n.codes,
                             n.refresh_tokens, n.consents, n.clients,
                             n.revocations, n.pending);
            }
        }
        dbd_close(sv, dbd);
    }
    return APR_SUCCESS;
}
