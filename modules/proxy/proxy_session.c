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

/* Gateway sessions: what one Mcp-Session-Id stands for (its subject, the
 * client's capabilities, the backend sessions), kept in an ap_socache
 * through the glue's cache (shmcb by default; memcache or redis when
 * several nodes serve one endpoint), so that any process or node serves
 * the next request of a session. Nothing of a session lives in a process.
 *
 * Entry: key "s:<id>", value a JSON object
 *   {"sub":..., "cid":..., "v":..., "caps":{...}, "ci":{...},
 *    "b":{"<backend name>":{"s":"<backend session id>","v":"<version>"}},
 *    "t":<touched, Unix seconds>, "lc":<changes>, "lg":<links generation>}
 * Links generation: key "l:<hash of the subject>", a counter that
 * mod_mcp_idp bumps (mcp_proxy_links_changed()) when the subject links or
 * unlinks an upstream; GET streams compare it with the session's "lg".
 * Backends are named, not numbered, so a session survives a
 * configuration change that reorders them (a removed one is dropped). */

#include <httpd.h>
#include <http_config.h>
#include <http_log.h>
#include <ap_mpm.h>
#include <apr_lib.h>
#include <apr_strings.h>

#include "mcp/mcp_b64.h"
#include "mcp/mcp_common.h"
#include "mcp/mcp_crypto.h"
#include "mcp/mcp_json.h"
#include "mcp_glue.h"
#include "mcp_glue_cache.h"
#include "proxy_private.h"

APLOG_USE_MODULE(mcp_proxy);

#define MUTEX_TYPE "mcp-proxy-sessions"
#define NAMESPACE "mcp-proxy"
/* The largest session entry: the client's capabilities and clientInfo
 * are bounded by this too (a session that would not fit is refused). */
#define MAX_ENTRY 65536
#define ID_BYTES 32

static mcp_glue_cache_t *cache;
static mcp_http_t *http;

mcp_http_t *mcp_proxy_http(void)
{
    return http;
}

void mcp_proxy_session_pre_config(apr_pool_t *pconf)
{
    mcp_glue_cache_pre_config(pconf, MUTEX_TYPE);
}

int mcp_proxy_session_post_config(apr_pool_t *pconf, apr_pool_t *ptemp,
                                  server_rec *s)
{
    mcp_proxy_server_conf *main_conf = ap_get_module_config(s->module_config,
                                                            &mcp_proxy_module);
    static const mcp_glue_cache_options_t opts = {
        MUTEX_TYPE, NAMESPACE, MAX_ENTRY, 48, 512, APR_USEC_PER_SEC * 600
    };
    const char *spec = main_conf->cache_spec ? main_conf->cache_spec
                                             : MCP_PROXY_DEFAULT_CACHE;
    const char *err;
    apr_status_t rv;
    server_rec *sv;

    for (sv = s->next; sv; sv = sv->next) {
        mcp_proxy_server_conf *conf = ap_get_module_config(sv->module_config,
                                                           &mcp_proxy_module);
        if (conf->cache_spec && strcmp(conf->cache_spec, spec)) {
            ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s, MCPLOGNO(01800)
                         "MCPProxySessionCache: %s names another cache than "
                         "the main server; one cache serves all virtual "
                         "hosts: set it in the main server only",
                         mcp_glue_server_desc(ptemp, sv));
            return HTTP_INTERNAL_SERVER_ERROR;
        }
    }
    cache = NULL;
    if (mcp_glue_cache_create(&cache, pconf, spec, &opts, &err)
        != APR_SUCCESS) {
        const char *name = apr_pstrndup(ptemp, spec, strcspn(spec, ":"));

        ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s, MCPLOGNO(01801)
                     "mod_mcp_proxy keeps its sessions in a shared object "
                     "cache: load mod_socache_%s (a2enmod socache_%s) or name "
                     "another provider with MCPProxySessionCache", name, name);
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    rv = mcp_glue_cache_post_config(cache, pconf, ptemp, s, &err);
    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, rv == APR_EGENERAL ? 0 : rv, s,
                     MCPLOGNO(01802) "MCPProxySessionCache %s: %s", spec, err);
        cache = NULL;
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    return OK;
}

void mcp_proxy_session_child_init(apr_pool_t *pchild, server_rec *s)
{
    mcp_http_options_t opts;
    const char *err = NULL;
    apr_status_t rv;

    if (!mcp_proxy_endpoints_all(pchild)->nelts) {
        return;                 /* no MCPProxyBackend: nothing to ask */
    }
    if (cache) {
        rv = mcp_glue_cache_child_init(cache, pchild);
        if (rv != APR_SUCCESS) {
            ap_log_error(APLOG_MARK, APLOG_CRIT, rv, s, MCPLOGNO(01803)
                         "cannot attach to the MCPProxySessionCache mutex");
        }
    }
    memset(&opts, 0, sizeof(opts));
    /* Idle connection sets: one per thread that may call backends at
     * once, so reuse holds with every worker busy. */
    {
        int threads = 0;

        ap_mpm_query(AP_MPMQ_MAX_THREADS, &threads);
        opts.max_idle = threads > MCP_HTTP_DEFAULT_MAX_IDLE
                        ? threads : MCP_HTTP_DEFAULT_MAX_IDLE;
    }
    http = NULL;
    rv = mcp_http_create(&http, pchild, &opts, &err);
    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, mcp_glue_log_status(rv), s,
                     MCPLOGNO(01804) "mod_mcp_proxy: cannot make the HTTP "
                     "client: %s", err ? err : "unknown error");
        http = NULL;
    }
}

/* A session without an id yet. */
static mcp_proxy_session_t *session_alloc(apr_pool_t *p,
                                          const mcp_proxy_endpoint_t *ep)
{
    mcp_proxy_session_t *s = apr_pcalloc(p, sizeof(*s));

    s->subject = "";
    s->client_id = "";
    s->nbackends = ep->nbackends;
    s->bsid = apr_pcalloc(p, sizeof(*s->bsid) * (ep->nbackends + 1));
    s->bversion = apr_pcalloc(p, sizeof(*s->bversion) * (ep->nbackends + 1));
    return s;
}

apr_status_t mcp_proxy_session_new(mcp_proxy_session_t **ps, apr_pool_t *p,
                                   const mcp_proxy_endpoint_t *ep)
{
    unsigned char raw[ID_BYTES];
    mcp_proxy_session_t *s;
    apr_status_t rv = mcp_crypto_random(raw, sizeof(raw));

    if (rv != APR_SUCCESS) {
        return rv;
    }
    s = session_alloc(p, ep);
    s->id = mcp_b64url_encode(p, raw, sizeof(raw));
    *ps = s;
    return APR_SUCCESS;
}

/* What names the endpoint a session belongs to, the same in every
 * process and node: the virtual host and the path of the request. */
static const char *endpoint_name(request_rec *r)
{
    return apr_pstrcat(r->pool, r->server->server_hostname
                       ? r->server->server_hostname : "", " ",
                       r->parsed_uri.path ? r->parsed_uri.path : r->uri,
                       NULL);
}

/* Ids the gateway mints: 43 characters of base64url. */
static int id_valid(const char *id)
{
    const char *c;

    if (strlen(id) != 43) {
        return 0;
    }
    for (c = id; *c; c++) {
        if (!apr_isalnum(*c) && *c != '-' && *c != '_') {
            return 0;
        }
    }
    return 1;
}

apr_status_t mcp_proxy_session_load(mcp_proxy_session_t **ps, request_rec *r,
                                    const mcp_proxy_endpoint_t *ep,
                                    const char *id, const char *subject)
{
    mcp_proxy_session_t *s;
    mcp_json_t *j, *b, *e;
    const char *value, *sub;
    apr_int64_t t = 0;
    int i;

    if (!cache || !id_valid(id)
        || mcp_glue_cache_get(cache, r->server, r->pool,
                              apr_pstrcat(r->pool, "s:", id, NULL), &value)
           != APR_SUCCESS
        || mcp_json_parse(&j, r->pool, value, strlen(value), NULL, NULL)
           != APR_SUCCESS
        || !mcp_json_is_object(j)) {
        return MCP_ENOTFOUND;
    }
    sub = mcp_json_get_str(r->pool, j, "sub");
    value = mcp_json_get_str(r->pool, j, "ep");
    if (!value || strcmp(value, endpoint_name(r))) {
        /* A session of another endpoint: its backends are not these. */
        return MCP_ENOTFOUND;
    }
    if (!sub || !mcp_crypto_str_equal(sub, subject)) {
        /* Another subject's session is as unknown as a made-up one. */
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, MCPLOGNO(01805)
                      "session of another subject presented by \"%s\"",
                      subject);
        return MCP_ENOTFOUND;
    }
    /* Its id is the one presented: no random bytes to draw. */
    s = session_alloc(r->pool, ep);
    s->id = apr_pstrdup(r->pool, id);
    s->subject = sub;
    s->client_id = mcp_json_get_str(r->pool, j, "cid");
    s->version = mcp_json_get_str(r->pool, j, "v");
    s->client_caps = mcp_json_get(r->pool, j, "caps");
    s->client_info = mcp_json_get(r->pool, j, "ci");
    mcp_json_get_int(j, "t", &t);
    s->touched = apr_time_from_sec(t);
    s->scope = mcp_json_get_str(r->pool, j, "sc");
    mcp_json_get_int(j, "lc", &s->changes);
    mcp_json_get_int(j, "lg", &s->links);
    if (!s->client_id) {
        s->client_id = "";
    }
    if (!s->version) {
        s->version = MCP_FED_LATEST_VERSION;
    }
    b = mcp_json_get(r->pool, j, "b");
    for (i = 0; b && i < ep->nbackends; i++) {
        e = mcp_json_get(r->pool, b, ep->backends[i].conf->name);
        if (e && mcp_json_is_object(e)) {
            s->bsid[i] = mcp_json_get_str(r->pool, e, "s");
            s->bversion[i] = mcp_json_get_str(r->pool, e, "v");
            if (!s->bsid[i]) {
                s->bsid[i] = "";
            }
        }
    }
    *ps = s;
    return APR_SUCCESS;
}

apr_status_t mcp_proxy_session_save(request_rec *r,
                                    const mcp_proxy_session_t *s,
                                    int timeout)
{
    const mcp_proxy_endpoint_t *ep;
    mcp_json_t *j = mcp_json_object(r->pool), *b = mcp_json_object(r->pool);
    const mcp_proxy_dir_conf *conf = ap_get_module_config(r->per_dir_config,
                                                          &mcp_proxy_module);
    const char *value;
    apr_size_t len;
    apr_status_t rv;
    int i;

    if (!cache) {
        return APR_EINIT;
    }
    ep = mcp_proxy_endpoint(conf);
    mcp_json_set_str(j, "ep", endpoint_name(r));
    mcp_json_set_str(j, "sub", s->subject);
    mcp_json_set_str(j, "cid", s->client_id);
    mcp_json_set_str(j, "v", s->version);
    mcp_json_set_str(j, "sc", s->scope ? s->scope : "");
    mcp_json_set_int(j, "lc", s->changes);
    mcp_json_set_int(j, "lg", s->links);
    if (s->client_caps) {
        mcp_json_set(j, "caps", s->client_caps);
    }
    if (s->client_info) {
        mcp_json_set(j, "ci", s->client_info);
    }
    for (i = 0; ep && i < s->nbackends && i < ep->nbackends; i++) {
        if (s->bsid[i]) {
            mcp_json_t *e = mcp_json_object(r->pool);

            mcp_json_set_str(e, "s", s->bsid[i]);
            if (s->bversion[i]) {
                mcp_json_set_str(e, "v", s->bversion[i]);
            }
            mcp_json_set(b, ep->backends[i].conf->name, e);
        }
    }
    mcp_json_set(j, "b", b);
    mcp_json_set_int(j, "t", apr_time_sec(apr_time_now()));
    value = mcp_json_dump(r->pool, j, 0, &len);
    if (!value || len >= MAX_ENTRY) {
        return MCP_ETOOLARGE;
    }
    rv = mcp_glue_cache_set(cache, r->server, r->pool,
                            apr_pstrcat(r->pool, "s:", s->id, NULL), value,
                            apr_time_now() + apr_time_from_sec(timeout));
    if (rv != APR_SUCCESS) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, rv, r, MCPLOGNO(01806)
                      "cannot store a session in the MCPProxySessionCache "
                      "(full? give it more room)");
    }
    return rv;
}

apr_status_t mcp_proxy_session_peek(request_rec *r, const char *id,
                                    apr_int64_t *pchanges)
{
    const char *value;
    mcp_json_t *j;
    apr_pool_t *tp;
    apr_status_t rv = APR_NOTFOUND;

    *pchanges = 0;
    if (!cache) {
        return APR_SUCCESS;     /* cannot tell: assume it lives */
    }
    apr_pool_create(&tp, r->pool);
    if (mcp_glue_cache_get(cache, r->server, tp,
                           apr_pstrcat(tp, "s:", id, NULL), &value)
        == APR_SUCCESS
        && mcp_json_parse(&j, tp, value, strlen(value), NULL, NULL)
           == APR_SUCCESS) {
        mcp_json_get_int(j, "lc", pchanges);
        rv = APR_SUCCESS;
    }
    apr_pool_destroy(tp);
    return rv;
}

/* How long a links generation outlives its last change: longer than any
 * session (a counter that expired reads 0, which a stream takes for a
 * change too: one list_changed more, never one less). */
#define LINKS_TTL apr_time_from_sec(7 * 86400)

/* The subject hashed: any subject fits a cache key (memcache takes no
 * spaces, at most 250 bytes). */
static const char *links_key(apr_pool_t *p, const char *subject)
{
    return apr_pstrcat(p, "l:", mcp_crypto_sha256_b64url(p, subject,
                                                         strlen(subject)),
                       NULL);
}

void mcp_proxy_links_changed(request_rec *r, const char *subject)
{
    apr_int64_t n = 0;
    apr_status_t rv;

    if (!cache || !subject || !*subject) {
        return;
    }
    rv = mcp_glue_cache_incr(cache, r->server, r->pool,
                             links_key(r->pool, subject),
                             apr_time_now() + LINKS_TTL, &n);
    if (rv != APR_SUCCESS) {
        ap_log_rerror(APLOG_MARK, APLOG_WARNING, rv, r, MCPLOGNO(02030)
                      "cannot note a change of the upstream links of \"%s\" "
                      "in the MCPProxySessionCache: open GET streams will not "
                      "announce it", subject);
        return;
    }
    ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r, MCPLOGNO(02031)
                  "upstream links of \"%s\" changed (generation %"
                  APR_INT64_T_FMT ")", subject, n);
}

/* The links generation of @a subject: 0 until a link of theirs changed
 * (or when the cache cannot tell). */
static apr_int64_t links_generation(request_rec *r, const char *subject)
{
    const char *value;
    apr_int64_t n = 0;
    apr_pool_t *tp;

    if (!cache || !subject || !*subject) {
        return 0;
    }
    apr_pool_create(&tp, r->pool);
    if (mcp_glue_cache_get(cache, r->server, tp, links_key(tp, subject),
                           &value) == APR_SUCCESS) {
        n = apr_atoi64(value);
    }
    apr_pool_destroy(tp);
    return n;
}

apr_int64_t mcp_proxy_session_links(request_rec *r,
                                    const mcp_proxy_endpoint_t *ep,
                                    const mcp_proxy_session_t *s)
{
    return ep->idp ? links_generation(r, s->subject) : s->links;
}

void mcp_proxy_session_remove(request_rec *r, const char *id)
{
    if (cache) {
        mcp_glue_cache_remove(cache, r->server, r->pool,
                              apr_pstrcat(r->pool, "s:", id, NULL));
    }
}

/* Health verdicts live in the same cache: "h:<backend>@<URL>". */
static const char *health_key(apr_pool_t *p, const mcp_proxy_rt_backend_t *b)
{
    return apr_pstrcat(p, "h:", b->conf->name, "@", b->conf->url, NULL);
}

apr_status_t mcp_proxy_health_get(server_rec *s, apr_pool_t *p,
                                  const mcp_proxy_rt_backend_t *b,
                                  const char **pverdict)
{
    if (!cache) {
        return APR_NOTFOUND;
    }
    return mcp_glue_cache_get(cache, s, p, health_key(p, b), pverdict);
}

void mcp_proxy_health_set(server_rec *s, apr_pool_t *p,
                          const mcp_proxy_rt_backend_t *b,
                          const char *verdict, int ttl)
{
    if (cache) {
        mcp_glue_cache_set(cache, s, p, health_key(p, b), verdict,
                           apr_time_now() + apr_time_from_sec(ttl));
    }
}
