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

/* mod_mcp_proxy directives. Each handler checks its own line; checks
 * across lines run in post_config (mcp_proxy_check_section). */

#include <httpd.h>
#include <http_config.h>
#include <apr_lib.h>
#include <apr_strings.h>

#include "mod_mcp.h"
#include "mcp/mcp_crypto.h"
#include "mcp/mcp_fed.h"
#include "mcp/mcp_scope.h"
#include "mcp/mcp_url.h"
#include "mcp_glue.h"
#include "mcp_glue_cache.h"
#include "proxy_private.h"

void *mcp_proxy_create_dir_conf(apr_pool_t *p, char *dir)
{
    mcp_proxy_dir_conf *conf = apr_pcalloc(p, sizeof(*conf));

    conf->backends = NULL;
    conf->max_body = -1;
    conf->max_depth = -1;
    conf->origins = NULL;
    conf->hosts = NULL;
    conf->identity_header = NULL;
    conf->keepalive = -1;
    conf->session_timeout = -1;
    return conf;
}

void *mcp_proxy_create_server_conf(apr_pool_t *p, server_rec *s)
{
    mcp_proxy_server_conf *conf = apr_pcalloc(p, sizeof(*conf));

    conf->health_interval = -1;
    return conf;
}

void *mcp_proxy_merge_server_conf(apr_pool_t *p, void *basev, void *addv)
{
    mcp_proxy_server_conf *base = basev, *add = addv;
    mcp_proxy_server_conf *conf = apr_pcalloc(p, sizeof(*conf));

    conf->cache_spec = add->cache_spec ? add->cache_spec : base->cache_spec;
    conf->health_interval = add->health_interval >= 0 ? add->health_interval
                                                      : base->health_interval;
    return conf;
}

void *mcp_proxy_merge_dir_conf(apr_pool_t *p, void *basev, void *addv)
{
    mcp_proxy_dir_conf *base = basev, *add = addv;
    mcp_proxy_dir_conf *conf = apr_pcalloc(p, sizeof(*conf));

    /* A section with its own backends replaces the outer list: an MCP
     * endpoint federates exactly what its section names. */
    conf->backends = add->backends ? add->backends : base->backends;
    conf->max_body = add->max_body >= 0 ? add->max_body : base->max_body;
    conf->max_depth = add->max_depth >= 0 ? add->max_depth : base->max_depth;
    conf->origins = add->origins ? add->origins : base->origins;
    conf->hosts = add->hosts ? add->hosts : base->hosts;
    conf->identity_header = add->identity_header ? add->identity_header
                                                 : base->identity_header;
    conf->keepalive = add->keepalive >= 0 ? add->keepalive : base->keepalive;
    conf->session_timeout = add->session_timeout >= 0 ? add->session_timeout
                                                      : base->session_timeout;
    return conf;
}

apr_off_t mcp_proxy_max_body(const mcp_proxy_dir_conf *conf)
{
    return conf->max_body >= 0 ? conf->max_body : MCP_PROXY_DEFAULT_MAX_BODY;
}

int mcp_proxy_max_depth(const mcp_proxy_dir_conf *conf)
{
    return conf->max_depth >= 0 ? conf->max_depth
                                : MCP_PROXY_DEFAULT_MAX_DEPTH;
}

int mcp_proxy_keepalive(const mcp_proxy_dir_conf *conf)
{
    return conf->keepalive >= 0 ? conf->keepalive
                                : MCP_PROXY_DEFAULT_KEEPALIVE;
}

int mcp_proxy_session_timeout(const mcp_proxy_dir_conf *conf)
{
    return conf->session_timeout >= 0 ? conf->session_timeout
                                      : MCP_PROXY_DEFAULT_SESSION;
}

/* A prefix joins tool names, so it uses the tool-name alphabet. */
static int is_prefix(const char *s)
{
    const char *c;

    if (!*s || strlen(s) > MCP_PROXY_MAX_PREFIX) {
        return 0;
    }
    for (c = s; *c; c++) {
        if (!apr_isalnum(*c) && *c != '_' && *c != '-' && *c != '.') {
            return 0;
        }
    }
    return 1;
}

/* Apply one key=value option to @b; NULL or an error (without the
 * directive name). */
static const char *backend_option(cmd_parms *cmd, mcp_proxy_backend_t *b,
                                  const char *key, const char *val)
{
    apr_pool_t *p = cmd->pool;
    apr_int64_t n;
    const char *err;

    if (!strcmp(key, "prefix")) {
        if (!is_prefix(val)) {
            return apr_psprintf(p, "prefix '%s' must be 1-%d characters of "
                                "[A-Za-z0-9_.-]", val, MCP_PROXY_MAX_PREFIX);
        }
        b->prefix = apr_pstrdup(p, val);
    }
    else if (!strcmp(key, "scope")) {
        if (!mcp_scope_token_valid(val)) {
            return apr_psprintf(p, "scope '%s' is not a single OAuth scope "
                                "token", val);
        }
        b->scope = apr_pstrdup(p, val);
    }
    else if (!strcmp(key, "idp")) {
        if (!mcp_glue_is_name(val)) {
            return apr_psprintf(p, "idp '%s' must be an MCPIdPProvider name "
                                "([A-Za-z0-9_-]+)", val);
        }
        b->idp = apr_pstrdup(p, val);
    }
    else if (!strcmp(key, "bearer_file")) {
        err = mcp_glue_check_readable(p, val, &b->bearer_file);
        if (err) {
            return apr_psprintf(p, "bearer_file: %s", err);
        }
    }
    else if (!strcmp(key, "timeout")) {
        if (!mcp_glue_parse_int(val, MCP_PROXY_MAX_TIMEOUT, &n)) {
            return apr_psprintf(p, "timeout '%s' must be a number of seconds "
                                "from 1 to %d", val, MCP_PROXY_MAX_TIMEOUT);
        }
        b->timeout = (int)n;
    }
    else {
        return apr_psprintf(p, "unknown option '%s' (known: prefix, scope, "
                            "idp, bearer_file, timeout)", key);
    }
    return NULL;
}

static const char *fail(cmd_parms *cmd, const char *err)
{
    return apr_pstrcat(cmd->pool, cmd->cmd->name, ": ", err, NULL);
}

static const char *add_backend(cmd_parms *cmd, void *dconf, const char *raw)
{
    mcp_proxy_dir_conf *conf = dconf;
    mcp_proxy_backend_t *b;
    apr_array_header_t *words;
    const char **w, *err, *key, *val;
    int i;

    err = mcp_glue_split_words(cmd->temp_pool, raw, &words);
    if (err) {
        return fail(cmd, err);
    }
    if (words->nelts < 2) {
        return fail(cmd, "needs a name and a URL");
    }
    w = (const char **)words->elts;
    if (!mcp_glue_is_name(w[0])) {
        return fail(cmd, apr_psprintf(cmd->pool, "name '%s' must be "
                                      "[A-Za-z0-9_-]+", w[0]));
    }
    if (mcp_url_check(cmd->temp_pool, w[1], MCP_URL_ANY_HTTP, &err)
        != APR_SUCCESS) {
        return fail(cmd, err);
    }
    if (!conf->backends) {
        conf->backends = apr_array_make(cmd->pool, 4, sizeof(*b));
    }
    for (i = 0; i < conf->backends->nelts; i++) {
        b = &APR_ARRAY_IDX(conf->backends, i, mcp_proxy_backend_t);
        if (!strcmp(b->name, w[0])) {
            return fail(cmd, apr_psprintf(cmd->pool, "backend name '%s' is "
                                          "used twice in this section "
                                          "(first at %s:%u)", w[0],
                                          b->defn_name, b->defn_line));
        }
    }
    b = apr_pcalloc(cmd->pool, sizeof(*b));
    b->name = apr_pstrdup(cmd->pool, w[0]);
    b->url = apr_pstrdup(cmd->pool, w[1]);
    b->defn_name = cmd->directive->filename;
    b->defn_line = cmd->directive->line_num;
    for (i = 2; i < words->nelts; i++) {
        if (!mcp_glue_split_option(cmd->temp_pool, w[i], &key, &val)) {
            return fail(cmd, apr_psprintf(cmd->pool, "'%s' is not a "
                                          "key=value option", w[i]));
        }
        err = backend_option(cmd, b, key, val);
        if (err) {
            return fail(cmd, err);
        }
    }
    *(mcp_proxy_backend_t *)apr_array_push(conf->backends) = *b;
    return NULL;
}

static const char *set_max_body(cmd_parms *cmd, void *dconf, const char *arg)
{
    mcp_proxy_dir_conf *conf = dconf;
    apr_int64_t n;

    if (!mcp_glue_parse_int(arg, MCP_PROXY_MAX_MAX_BODY, &n)) {
        return fail(cmd, apr_psprintf(cmd->pool, "'%s' must be a number of "
                                      "bytes from 1 to %d", arg,
                                      MCP_PROXY_MAX_MAX_BODY));
    }
    conf->max_body = (apr_off_t)n;
    return NULL;
}

static const char *set_max_depth(cmd_parms *cmd, void *dconf, const char *arg)
{
    mcp_proxy_dir_conf *conf = dconf;
    apr_int64_t n;

    if (!mcp_glue_parse_int(arg, MCP_PROXY_MAX_MAX_DEPTH, &n)) {
        return fail(cmd, apr_psprintf(cmd->pool, "'%s' must be a nesting "
                                      "depth from 1 to %d", arg,
                                      MCP_PROXY_MAX_MAX_DEPTH));
    }
    conf->max_depth = (int)n;
    return NULL;
}

static const char *add_origin(cmd_parms *cmd, void *dconf, const char *arg)
{
    mcp_proxy_dir_conf *conf = dconf;
    const char *err = mcp_glue_add_origin(cmd->pool, &conf->origins, arg);

    return err ? fail(cmd, err) : NULL;
}

/* MCPProxyAllowedHosts <host>...: names a loopback listener also
 * answers to (a reverse proxy on the same machine forwarding its Host). */
static const char *add_host(cmd_parms *cmd, void *dconf, const char *arg)
{
    mcp_proxy_dir_conf *conf = dconf;
    char *host;

    if (strchr(arg, ':') || strchr(arg, '/') || strchr(arg, '@')
        || mcp_url_check(cmd->temp_pool,
                         apr_pstrcat(cmd->temp_pool, "http://", arg, "/",
                                     NULL), MCP_URL_ANY_HTTP, NULL) != APR_SUCCESS) {
        return fail(cmd, apr_psprintf(cmd->pool, "'%s' is not a host name "
                                      "(no scheme, port or path)", arg));
    }
    if (!conf->hosts) {
        conf->hosts = apr_array_make(cmd->pool, 2, sizeof(const char *));
    }
    host = apr_pstrdup(cmd->pool, arg);
    ap_str_tolower(host);
    APR_ARRAY_PUSH(conf->hosts, const char *) = host;
    return NULL;
}

/* idp= names a provider mod_mcp_idp knows for server @s; NULL or a
 * message. */
static const char *check_idp(apr_pool_t *p, server_rec *s,
                             const mcp_proxy_backend_t *a)
{
    APR_OPTIONAL_FN_TYPE(mcp_idp_provider_known) *known =
        APR_RETRIEVE_OPTIONAL_FN(mcp_idp_provider_known);
    const char *declared;

    if (!known) {
        return apr_psprintf(p, "MCPProxyBackend %s (%s:%u): idp=%s needs "
                            "mod_mcp_idp: LoadModule mcp_idp_module "
                            "(a2enmod mcp_idp)", a->name,
                            a->defn_name, a->defn_line, a->idp);
    }
    if (!known(s, a->idp, p, &declared)) {
        return apr_psprintf(p, "MCPProxyBackend %s (%s:%u): idp=%s is not an "
                            "MCPIdPProvider of %s (declared there: %s)",
                            a->name, a->defn_name, a->defn_line, a->idp,
                            mcp_glue_server_desc(p, s),
                            *declared ? declared : "none");
    }
    return NULL;
}

/* The endpoint's backends as the federation holds them. */
static const char *fed_backends(apr_pool_t *p,
                                const apr_array_header_t *backends,
                                apr_array_header_t **pfb)
{
    apr_array_header_t *fb = apr_array_make(p, backends->nelts,
                                            sizeof(mcp_fed_backend_t));
    const char *err = NULL;
    int i;

    for (i = 0; i < backends->nelts; i++) {
        const mcp_proxy_backend_t *a = &APR_ARRAY_IDX(backends, i,
                                                      mcp_proxy_backend_t);
        mcp_fed_backend_t *b = apr_array_push(fb);

        memset(b, 0, sizeof(*b));
        b->name = a->name;
        b->prefix = a->prefix;
        b->rules = a->rules;
        if (a->scope && mcp_scope_parse(&b->scopes, p, a->scope, &err)
                        != APR_SUCCESS) {
            return apr_psprintf(p, "MCPProxyBackend %s (%s:%u): scope=%s: %s",
                                a->name, a->defn_name, a->defn_line,
                                a->scope, err);
        }
    }
    *pfb = fb;
    return NULL;
}

/* The endpoints built in post_config, by the address of their backend
 * list (merged sections share it). */
static apr_hash_t *endpoints;

void mcp_proxy_endpoints_reset(apr_pool_t *pconf)
{
    endpoints = apr_hash_make(pconf);
}

apr_array_header_t *mcp_proxy_endpoints_all(apr_pool_t *p)
{
    apr_array_header_t *all = apr_array_make(p, 4, sizeof(void *));
    apr_hash_index_t *hi;

    for (hi = endpoints ? apr_hash_first(p, endpoints) : NULL; hi;
         hi = apr_hash_next(hi)) {
        APR_ARRAY_PUSH(all, const mcp_proxy_endpoint_t *) = apr_hash_this_val(hi);
    }
    return all;
}

const mcp_proxy_endpoint_t *mcp_proxy_endpoint(const mcp_proxy_dir_conf *conf)
{
    if (!endpoints || !conf->backends) {
        return NULL;
    }
    return apr_hash_get(endpoints, &conf->backends, sizeof(void *));
}

/* The token of bearer_file: the file's first line, without its line end
 * and surrounding blanks. */
static const char *read_bearer(apr_pool_t *p, const mcp_proxy_backend_t *a,
                               const char **ptoken)
{
    const char *err = NULL;

    if (mcp_crypto_read_secret_file(ptoken, p, a->bearer_file, 8192, &err)
        != APR_SUCCESS) {
        return apr_psprintf(p, "MCPProxyBackend %s (%s:%u): bearer_file: %s",
                            a->name, a->defn_name, a->defn_line, err);
    }
    return NULL;
}

static const char *build_endpoint(apr_pool_t *pconf, apr_pool_t *ptemp,
                                  const mcp_proxy_dir_conf *conf)
{
    const apr_array_header_t *backends = conf->backends;
    const mcp_proxy_backend_t *first = &APR_ARRAY_IDX(backends, 0,
                                                      mcp_proxy_backend_t);
    unsigned char key[MCP_FED_MIN_KEY];
    mcp_fed_options_t opts = { key, sizeof(key), 0 };
    mcp_proxy_endpoint_t *ep;
    apr_array_header_t *fb = NULL;
    const char *err = NULL;
    int i;

    if (!endpoints) {
        mcp_proxy_endpoints_reset(pconf);
    }
    if (apr_hash_get(endpoints, &conf->backends, sizeof(void *))) {
        return NULL;
    }
    err = fed_backends(pconf, backends, &fb);
    if (err) {
        return err;
    }
    /* The key of the gateway cursors: made in the parent, so every child
     * process shares it; a restart makes a new one (old cursors then get
     * -32602 and the client lists again). */
    if (mcp_crypto_random(key, sizeof(key)) != APR_SUCCESS) {
        return "MCPProxyBackend: no random bytes for the cursor key";
    }
    ep = apr_pcalloc(pconf, sizeof(*ep));
    if (mcp_fed_create(&ep->fed, pconf, fb, &opts, &err) != APR_SUCCESS) {
        mcp_crypto_wipe(key, sizeof(key));
        return apr_psprintf(ptemp, "MCPProxyBackend lines of the endpoint "
                            "starting at %s:%u: %s", first->defn_name,
                            first->defn_line, err ? err : "refused");
    }
    mcp_crypto_wipe(key, sizeof(key));
    ep->nbackends = backends->nelts;
    ep->backends = apr_pcalloc(pconf, sizeof(*ep->backends) * ep->nbackends);
    for (i = 0; i < backends->nelts; i++) {
        const mcp_proxy_backend_t *a = &APR_ARRAY_IDX(backends, i,
                                                      mcp_proxy_backend_t);
        mcp_proxy_rt_backend_t *b = &ep->backends[i];

        b->conf = a;
        ep->idp |= a->idp != NULL;
        b->timeout = apr_time_from_sec(a->timeout ? a->timeout
                                                  : MCP_PROXY_DEFAULT_TIMEOUT);
        if (a->bearer_file && (err = read_bearer(pconf, a, &b->bearer))) {
            return err;
        }
    }
    apr_hash_set(endpoints, apr_pmemdup(pconf, &conf->backends, sizeof(void *)),
                 sizeof(void *), ep);
    return NULL;
}

const char *mcp_proxy_check_section(apr_pool_t *pconf, apr_pool_t *p,
                                    server_rec *s,
                                    const mcp_proxy_dir_conf *conf)
{
    const mcp_proxy_backend_t *a, *b;
    const char *err;
    int i, j;

    if (!conf->backends) {
        return NULL;
    }
    for (i = 0; i < conf->backends->nelts; i++) {
        a = &APR_ARRAY_IDX(conf->backends, i, mcp_proxy_backend_t);
        if (a->idp && a->bearer_file) {
            return apr_psprintf(p, "MCPProxyBackend %s (%s:%u): give idp= or "
                                "bearer_file=, not both", a->name,
                                a->defn_name, a->defn_line);
        }
        if (a->idp && (err = check_idp(p, s, a))) {
            return err;
        }
        /* The prefix is what tells two backends' names apart: the same
         * prefix twice in one endpoint is always a mistake. */
        for (j = 0; j < i && a->prefix; j++) {
            b = &APR_ARRAY_IDX(conf->backends, j, mcp_proxy_backend_t);
            if (b->prefix && !strcmp(a->prefix, b->prefix)) {
                return apr_psprintf(p, "MCPProxyBackend %s (%s:%u) and %s "
                                    "(%s:%u) use the same prefix=%s in one "
                                    "endpoint", b->name, b->defn_name,
                                    b->defn_line, a->name, a->defn_name,
                                    a->defn_line, a->prefix);
            }
        }
    }
    return conf->backends->nelts ? build_endpoint(pconf, p, conf) : NULL;
}

/* MCPProxyScopeRule <backend> <glob> <scope>... [kinds=tools,prompts,
 * resources]: after the backend's MCPProxyBackend line, in its section. */
static const char *add_rule(cmd_parms *cmd, void *dconf, const char *raw)
{
    mcp_proxy_dir_conf *conf = dconf;
    mcp_proxy_backend_t *b = NULL;
    apr_array_header_t *words;
    mcp_fed_rule_t *rule;
    const char **w, *err, *key, *val;
    char *list, *kind, *last;
    int i;

    err = mcp_glue_split_words(cmd->temp_pool, raw, &words);
    if (err) {
        return fail(cmd, err);
    }
    if (words->nelts < 3) {
        return fail(cmd, "needs a backend name, a name pattern and at least "
                    "one scope");
    }
    w = (const char **)words->elts;
    for (i = 0; conf->backends && i < conf->backends->nelts; i++) {
        if (!strcmp(APR_ARRAY_IDX(conf->backends, i,
                                  mcp_proxy_backend_t).name, w[0])) {
            b = &APR_ARRAY_IDX(conf->backends, i, mcp_proxy_backend_t);
        }
    }
    if (!b) {
        return fail(cmd, apr_psprintf(cmd->pool, "no MCPProxyBackend %s "
                                      "before this line in this section",
                                      w[0]));
    }
    rule = apr_pcalloc(cmd->pool, sizeof(*rule));
    rule->pattern = apr_pstrdup(cmd->pool, w[1]);
    rule->scopes = mcp_scope_set_make(cmd->pool);
    for (i = 2; i < words->nelts; i++) {
        if (mcp_glue_split_option(cmd->temp_pool, w[i], &key, &val)) {
            if (strcmp(key, "kinds")) {
                return fail(cmd, apr_psprintf(cmd->pool, "unknown option "
                                              "'%s' (known: kinds)", key));
            }
            list = apr_pstrdup(cmd->temp_pool, val);
            for (kind = apr_strtok(list, ",", &last); kind;
                 kind = apr_strtok(NULL, ",", &last)) {
                if (!strcmp(kind, "tools")) {
                    rule->kinds |= MCP_FED_RULE_TOOLS;
                }
                else if (!strcmp(kind, "prompts")) {
                    rule->kinds |= MCP_FED_RULE_PROMPTS;
                }
                else if (!strcmp(kind, "resources")) {
                    rule->kinds |= MCP_FED_RULE_RESOURCES;
                }
                else {
                    return fail(cmd, apr_psprintf(cmd->pool, "kinds: '%s' is "
                                                  "not tools, prompts or "
                                                  "resources", kind));
                }
            }
            continue;
        }
        if (!mcp_scope_token_valid(w[i])) {
            return fail(cmd, apr_psprintf(cmd->pool, "scope '%s' is not a "
                                          "single OAuth scope token", w[i]));
        }
        mcp_scope_set_add(rule->scopes, apr_pstrdup(cmd->pool, w[i]));
    }
    if (!rule->scopes->nelts) {
        return fail(cmd, "needs at least one scope");
    }
    if (!rule->kinds) {
        rule->kinds = MCP_FED_RULE_TOOLS;
    }
    if (!b->rules) {
        b->rules = apr_array_make(cmd->pool, 2, sizeof(mcp_fed_rule_t));
    }
    *(mcp_fed_rule_t *)apr_array_push(b->rules) = *rule;
    return NULL;
}

static const char *set_identity_header(cmd_parms *cmd, void *dconf,
                                       const char *arg)
{
    mcp_proxy_dir_conf *conf = dconf;
    const char *c;

    if (!strcasecmp(arg, "off")) {
        conf->identity_header = "";
        return NULL;
    }
    for (c = arg; *c; c++) {
        if (!apr_isalnum(*c) && *c != '-' && *c != '_') {
            return fail(cmd, apr_psprintf(cmd->pool, "'%s' is not a header "
                                          "name ([A-Za-z0-9_-]+) or Off",
                                          arg));
        }
    }
    if (!strcasecmp(arg, "Authorization") || !strcasecmp(arg, "Cookie")
        || !strcasecmp(arg, "Host") || !strcasecmp(arg, "Mcp-Session-Id")
        || !strcasecmp(arg, "MCP-Protocol-Version")
        || !strcasecmp(arg, "Content-Type") || !strcasecmp(arg, "Accept")) {
        return fail(cmd, apr_psprintf(cmd->pool, "'%s' is a header the "
                                      "gateway sets itself", arg));
    }
    conf->identity_header = apr_pstrdup(cmd->pool, arg);
    return NULL;
}

static const char *set_seconds(cmd_parms *cmd, int *dst, const char *arg,
                               int min, int max)
{
    apr_int64_t n;

    if (!mcp_glue_parse_int(arg, max, &n) || n < min) {
        return fail(cmd, apr_psprintf(cmd->pool, "'%s' must be a number of "
                                      "seconds from %d to %d", arg, min,
                                      max));
    }
    *dst = (int)n;
    return NULL;
}

static const char *set_keepalive(cmd_parms *cmd, void *dconf,
                                 const char *arg)
{
    return set_seconds(cmd, &((mcp_proxy_dir_conf *)dconf)->keepalive, arg,
                       1, 3600);
}

static const char *set_session_timeout(cmd_parms *cmd, void *dconf,
                                       const char *arg)
{
    return set_seconds(cmd, &((mcp_proxy_dir_conf *)dconf)->session_timeout,
                       arg, 60, MCP_PROXY_MAX_SESSION);
}

static const char *set_session_cache(cmd_parms *cmd, void *dconf,
                                     const char *arg)
{
    mcp_proxy_server_conf *conf = ap_get_module_config(cmd->server->module_config,
                                                       &mcp_proxy_module);
    const char *err = mcp_glue_cache_check_spec(cmd->temp_pool, arg);

    if (err) {
        return fail(cmd, err);
    }
    conf->cache_spec = apr_pstrdup(cmd->pool, arg);
    return NULL;
}

static const char *set_health(cmd_parms *cmd, void *dconf, const char *arg)
{
    mcp_proxy_server_conf *conf = ap_get_module_config(cmd->server->module_config,
                                                       &mcp_proxy_module);
    const char *err = ap_check_cmd_context(cmd, GLOBAL_ONLY);

    if (err) {
        return err;
    }
    if (!strcasecmp(arg, "off")) {
        conf->health_interval = 0;
        return NULL;
    }
    return set_seconds(cmd, &conf->health_interval, arg, 5, 3600);
}

const command_rec mcp_proxy_cmds[] = {
    AP_INIT_RAW_ARGS("MCPProxyBackend", add_backend, NULL,
                     RSRC_CONF | ACCESS_CONF,
                     "<name> <URL> [prefix=...] [scope=...] [idp=...] "
                     "[bearer_file=...] [timeout=<seconds>]: an upstream MCP "
                     "server federated at this location (repeatable)"),
    AP_INIT_TAKE1("MCPProxyMaxBodySize", set_max_body, NULL,
                  RSRC_CONF | ACCESS_CONF,
                  "Largest JSON-RPC request body accepted, in bytes "
                  "(default 4194304)"),
    AP_INIT_TAKE1("MCPProxyMaxDepth", set_max_depth, NULL,
                  RSRC_CONF | ACCESS_CONF,
                  "Deepest JSON nesting accepted in a request (default 64)"),
    AP_INIT_ITERATE("MCPProxyAllowedOrigins", add_origin, NULL, ACCESS_CONF,
                    "Origins (scheme://host[:port], or *) whose browser "
                    "pages may use this endpoint besides its own origin "
                    "and the MCPAuthzAllowedOrigins of the location"),
    AP_INIT_ITERATE("MCPProxyAllowedHosts", add_host, NULL, ACCESS_CONF,
                    "Host names besides the loopback ones that an endpoint "
                    "on a loopback address answers to (behind a reverse "
                    "proxy on the same machine)"),
    AP_INIT_RAW_ARGS("MCPProxyScopeRule", add_rule, NULL,
                     RSRC_CONF | ACCESS_CONF,
                     "<backend> <name pattern> <scope>... "
                     "[kinds=tools,prompts,resources]: scopes a token also "
                     "needs for the backend's items whose name matches "
                     "(default kinds=tools)"),
    AP_INIT_TAKE1("MCPProxyIdentityHeader", set_identity_header, NULL,
                  RSRC_CONF | ACCESS_CONF,
                  "Request header that tells backends the signed-in user "
                  "(default Off)"),
    AP_INIT_TAKE1("MCPProxyKeepAlive", set_keepalive, NULL,
                  RSRC_CONF | ACCESS_CONF,
                  "Seconds between keep-alive comments on idle event "
                  "streams (default 15)"),
    AP_INIT_TAKE1("MCPProxySessionTimeout", set_session_timeout, NULL,
                  RSRC_CONF | ACCESS_CONF,
                  "Seconds an unused gateway session is kept (default "
                  "3600)"),
    AP_INIT_TAKE1("MCPProxySessionCache", set_session_cache, NULL, RSRC_CONF,
                  "The ap_socache provider[:args] that holds gateway "
                  "sessions (default shmcb; memcache or redis for several "
                  "nodes)"),
    AP_INIT_TAKE1("MCPProxyHealthCheck", set_health, NULL, RSRC_CONF,
                  "Seconds between health checks of every backend, or Off "
                  "(default 30; needs mod_watchdog)"),
    { NULL }
};
