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

/* mod_mcp_authz directives. Handlers check one value each; what depends on
 * several directives is checked in post_config (mod_mcp_authz.c). */

#include <httpd.h>
#include <http_config.h>
#include <ap_provider.h>
#include <http_log.h>
#include <apr_lib.h>
#include <apr_strings.h>

#include "mcp/mcp_scope.h"
#include "mcp/mcp_url.h"
#include "mcp_glue.h"
#include "mcp_glue_cache.h"
#include "authz_private.h"

APLOG_USE_MODULE(mcp_authz);

#define UNSET_INT (-1)
#define MERGE_INT(f) conf->f = add->f != UNSET_INT ? add->f : base->f

void *mcp_authz_create_server_conf(apr_pool_t *p, server_rec *s)
{
    mcp_authz_server_conf *conf = apr_pcalloc(p, sizeof(*conf));

    conf->code_lifetime = UNSET_INT;
    conf->access_lifetime = UNSET_INT;
    conf->refresh_lifetime = UNSET_INT;
    conf->refresh_grace = UNSET_INT;
    conf->consent_lifetime = UNSET_INT;
    conf->client_idle = UNSET_INT;
    conf->reg_policy = MCP_REG_UNSET;
    conf->reg_rate = UNSET_INT;
    conf->reg_window = UNSET_INT;
    conf->schemes = MCP_SCHEMES_UNSET;
    conf->cimd = UNSET_INT;
    conf->cimd_loopback = UNSET_INT;
    return conf;
}

void *mcp_authz_merge_server_conf(apr_pool_t *p, void *basev, void *addv)
{
    mcp_authz_server_conf *base = basev, *add = addv;
    mcp_authz_server_conf *conf = apr_pcalloc(p, sizeof(*conf));
    int i;

    conf->issuer = add->issuer ? add->issuer : base->issuer;
    /* A virtual host that names keys replaces the whole list (rotation is
     * done per list, never by mixing two); the same for scopes. */
    conf->key_files = add->key_files ? add->key_files : base->key_files;
    for (i = 0; i < MCP_EP_COUNT; i++) {
        conf->paths[i] = add->paths[i] ? add->paths[i] : base->paths[i];
    }
    conf->scopes = add->scopes ? add->scopes : base->scopes;
    MERGE_INT(code_lifetime);
    MERGE_INT(access_lifetime);
    MERGE_INT(refresh_lifetime);
    MERGE_INT(refresh_grace);
    MERGE_INT(consent_lifetime);
    MERGE_INT(client_idle);
    if (add->reg_policy != MCP_REG_UNSET) {
        conf->reg_policy = add->reg_policy;
        conf->reg_token_file = add->reg_token_file;
    }
    else {
        conf->reg_policy = base->reg_policy;
        conf->reg_token_file = base->reg_token_file;
    }
    MERGE_INT(reg_rate);
    MERGE_INT(reg_window);
    if (add->schemes != MCP_SCHEMES_UNSET) {
        conf->schemes = add->schemes;
        conf->scheme_list = add->scheme_list;
    }
    else {
        conf->schemes = base->schemes;
        conf->scheme_list = base->scheme_list;
    }
    MERGE_INT(cimd);
    MERGE_INT(cimd_loopback);
    conf->cimd_ca_file = add->cimd_ca_file ? add->cimd_ca_file
                                           : base->cimd_ca_file;
    conf->consent_template_file = add->consent_template_file
        ? add->consent_template_file : base->consent_template_file;
    conf->error_template_file = add->error_template_file
        ? add->error_template_file : base->error_template_file;
    conf->cache_spec = add->cache_spec ? add->cache_spec : base->cache_spec;
    /* Protected sections belong to the server that holds them; the rest
     * is filled per server in post_config. */
    conf->resources = add->resources;
    return conf;
}

void *mcp_authz_create_dir_conf(apr_pool_t *p, char *dir)
{
    mcp_authz_dir_conf *conf = apr_pcalloc(p, sizeof(*conf));

    conf->section = dir ? apr_pstrdup(p, dir) : NULL;
    return conf;
}

void *mcp_authz_merge_dir_conf(apr_pool_t *p, void *basev, void *addv)
{
    mcp_authz_dir_conf *base = basev, *add = addv;
    mcp_authz_dir_conf *conf = apr_pcalloc(p, sizeof(*conf));

    conf->resource_url = add->resource_url ? add->resource_url
                                           : base->resource_url;
    /* A nested section that is not a protected resource of its own is
     * part of the enclosing one. */
    conf->resource = add->resource ? add->resource : base->resource;
    conf->origins = add->origins ? add->origins : base->origins;
    conf->protected_section = add->protected_section
                              || base->protected_section;
    conf->required_scopes = add->required_scopes ? add->required_scopes
                                                 : base->required_scopes;
    conf->section = add->section ? add->section : base->section;
    return conf;
}

static int lifetime(int v, int dflt)
{
    return v != UNSET_INT ? v : dflt;
}

int mcp_authz_code_lifetime(const mcp_authz_server_conf *conf)
{
    return lifetime(conf->code_lifetime, MCP_AUTHZ_DEFAULT_CODE_LIFETIME);
}

int mcp_authz_access_lifetime(const mcp_authz_server_conf *conf)
{
    return lifetime(conf->access_lifetime, MCP_AUTHZ_DEFAULT_ACCESS_LIFETIME);
}

int mcp_authz_refresh_lifetime(const mcp_authz_server_conf *conf)
{
    return lifetime(conf->refresh_lifetime, MCP_AUTHZ_DEFAULT_REFRESH_LIFETIME);
}

int mcp_authz_refresh_grace(const mcp_authz_server_conf *conf)
{
    return lifetime(conf->refresh_grace, MCP_AUTHZ_DEFAULT_REFRESH_GRACE);
}

int mcp_authz_consent_lifetime(const mcp_authz_server_conf *conf)
{
    return lifetime(conf->consent_lifetime, MCP_AUTHZ_DEFAULT_CONSENT_LIFETIME);
}

int mcp_authz_client_idle(const mcp_authz_server_conf *conf)
{
    return lifetime(conf->client_idle, MCP_AUTHZ_DEFAULT_CLIENT_IDLE);
}

/* Endpoint names of MCPAuthzEndpoint and their default paths below the
 * issuer's path. The well-known documents have fixed places (RFC 8414,
 * RFC 9728) and are not configurable. */
static const struct {
    const char *name;
    mcp_authz_endpoint_e ep;
    const char *dflt;
} endpoints[] = {
    { "authorize",  MCP_EP_AUTHORIZE,  "/oauth/authorize" },
    { "token",      MCP_EP_TOKEN,      "/oauth/token" },
    { "register",   MCP_EP_REGISTER,   "/oauth/register" },
    { "revoke",     MCP_EP_REVOKE,     "/oauth/revoke" },
    { "introspect", MCP_EP_INTROSPECT, "/oauth/introspect" },
    { "jwks",       MCP_EP_JWKS,       "/oauth/jwks" },
    { NULL, MCP_EP_NONE, NULL }
};

void mcp_authz_default_paths(apr_pool_t *p, mcp_authz_server_conf *conf)
{
    int i;

    for (i = 0; endpoints[i].name; i++) {
        if (!conf->paths[endpoints[i].ep]) {
            conf->paths[endpoints[i].ep] = apr_pstrcat(p, conf->issuer_path,
                                                       endpoints[i].dflt,
                                                       NULL);
        }
    }
}

const char *mcp_authz_path(const mcp_authz_server_conf *conf,
                           mcp_authz_endpoint_e ep)
{
    return conf->paths[ep];
}

const char *mcp_authz_url(apr_pool_t *p, const mcp_authz_server_conf *conf,
                          mcp_authz_endpoint_e ep)
{
    return apr_pstrcat(p, conf->origin, mcp_authz_path(conf, ep), NULL);
}

const mcp_authz_scope_t *mcp_authz_scope_find(const mcp_authz_server_conf *conf,
                                              const char *name)
{
    int i;

    for (i = 0; conf->scopes && i < conf->scopes->nelts; i++) {
        const mcp_authz_scope_t *sc = &APR_ARRAY_IDX(conf->scopes, i,
                                                     mcp_authz_scope_t);
        if (!strcmp(sc->name, name)) {
            return sc;
        }
    }
    return NULL;
}

/* ---- directive handlers ---- */

static mcp_authz_server_conf *server_conf(cmd_parms *cmd)
{
    return ap_get_module_config(cmd->server->module_config,
                                &mcp_authz_module);
}

static const char *fail(cmd_parms *cmd, const char *err)
{
    return apr_pstrcat(cmd->pool, cmd->cmd->name, ": ", err, NULL);
}

static const char *set_issuer(cmd_parms *cmd, void *dconf, const char *arg)
{
    mcp_authz_server_conf *conf = server_conf(cmd);
    const char *err = NULL;

    /* RFC 8414 §2: an issuer has no query or fragment. */
    if (mcp_url_check(cmd->temp_pool, arg, MCP_URL_SECURE | MCP_URL_NO_QUERY,
                      &err) != APR_SUCCESS) {
        return fail(cmd, err);
    }
    if (conf->issuer) {
        return fail(cmd, "given twice for the same server");
    }
    /* RFC 8414 §2: the issuer is compared as a string; a trailing slash
     * would make "<issuer>/.well-known/..." ambiguous. */
    if (arg[strlen(arg) - 1] == '/') {
        return fail(cmd, apr_psprintf(cmd->pool, "'%s' must not end with '/' "
                                      "(clients compare the issuer as an "
                                      "exact string)", arg));
    }
    conf->issuer = apr_pstrdup(cmd->pool, arg);
    return NULL;
}

static const char *add_signing_key(cmd_parms *cmd, void *dconf,
                                   const char *arg)
{
    mcp_authz_server_conf *conf = server_conf(cmd);
    const char *path = ap_server_root_relative(cmd->pool, arg);

    /* The key itself is loaded and checked in post_config, with the error
     * naming this directive and the file. */
    if (!path) {
        return fail(cmd, apr_psprintf(cmd->pool, "invalid path '%s'", arg));
    }
    if (!conf->key_files) {
        conf->key_files = apr_array_make(cmd->pool, 2, sizeof(const char *));
    }
    *(const char **)apr_array_push(conf->key_files) = path;
    return NULL;
}

static int is_path(const char *s)
{
    if (*s != '/' || strstr(s, "//") || strstr(s, "/./") || strstr(s, "/../")) {
        return 0;
    }
    for (; *s; s++) {
        if (!apr_isalnum(*s) && !strchr("/-._~", *s)) {
            return 0;
        }
    }
    return 1;
}

static const char *set_endpoint(cmd_parms *cmd, void *dconf, const char *name,
                                const char *path)
{
    mcp_authz_server_conf *conf = server_conf(cmd);
    int i;

    for (i = 0; endpoints[i].name; i++) {
        if (!strcmp(endpoints[i].name, name)) {
            break;
        }
    }
    if (!endpoints[i].name) {
        return fail(cmd, apr_psprintf(cmd->pool, "unknown endpoint '%s' "
                                      "(known: authorize, token, register, "
                                      "revoke, introspect, jwks)", name));
    }
    if (!is_path(path) || !strncmp(path, "/.well-known/", 13)) {
        return fail(cmd, apr_psprintf(cmd->pool, "'%s' must be an absolute "
                                      "URL path ([A-Za-z0-9/-._~], not under "
                                      "/.well-known/)", path));
    }
    conf->paths[endpoints[i].ep] = apr_pstrdup(cmd->pool, path);
    return NULL;
}

/* MCPAuthzScope <scope> "<consent text>" [expr=<ap_expr>] [require="<rule>"] */
static const char *add_scope(cmd_parms *cmd, void *dconf, const char *raw)
{
    mcp_authz_server_conf *conf = server_conf(cmd);
    apr_array_header_t *words;
    mcp_authz_scope_t *sc;
    const char **w, *err, *key, *val;
    int i;

    err = mcp_glue_split_words(cmd->temp_pool, raw, &words);
    if (err) {
        return fail(cmd, err);
    }
    w = (const char **)words->elts;
    if (words->nelts < 2) {
        return fail(cmd, "needs a scope and its consent text");
    }
    if (!mcp_scope_token_valid(w[0])) {
        return fail(cmd, apr_psprintf(cmd->pool, "'%s' is not an OAuth scope "
                                      "token", w[0]));
    }
    if (!strcmp(w[0], MCP_AUTHZ_OFFLINE_ACCESS)) {
        return fail(cmd, MCP_AUTHZ_OFFLINE_ACCESS " is built in");
    }
    if (!*w[1]) {
        return fail(cmd, apr_psprintf(cmd->pool, "scope '%s' needs a consent "
                                      "text", w[0]));
    }
    if (mcp_authz_scope_find(conf, w[0])) {
        return fail(cmd, apr_psprintf(cmd->pool, "scope '%s' is declared "
                                      "twice", w[0]));
    }
    sc = apr_pcalloc(cmd->pool, sizeof(*sc));
    sc->name = apr_pstrdup(cmd->pool, w[0]);
    sc->description = apr_pstrdup(cmd->pool, w[1]);
    for (i = 2; i < words->nelts; i++) {
        if (!mcp_glue_split_option(cmd->temp_pool, w[i], &key, &val)) {
            return fail(cmd, apr_psprintf(cmd->pool, "'%s' is not a key=value "
                                          "option", w[i]));
        }
        if (!strcmp(key, "expr") && !sc->expr) {
            sc->expr = ap_expr_parse_cmd(cmd, apr_pstrdup(cmd->pool, val),
                                         AP_EXPR_FLAG_DONT_VARY, &err, NULL);
            if (err) {
                return fail(cmd, apr_psprintf(cmd->pool, "scope '%s': cannot "
                                              "parse expr=%s: %s", sc->name,
                                              val, err));
            }
        }
        else if (!strcmp(key, "require") && !sc->provider) {
            const char *args = val;
            char *pname = ap_getword_white(cmd->pool, &args);

            sc->provider = ap_lookup_provider(AUTHZ_PROVIDER_GROUP, pname,
                                              AUTHZ_PROVIDER_VERSION);
            if (!sc->provider) {
                return fail(cmd, apr_psprintf(cmd->pool, "scope '%s': no "
                                              "authorization provider '%s' "
                                              "(is its module loaded before "
                                              "this line?)", sc->name, pname));
            }
            sc->provider_name = pname;
            sc->provider_args = apr_pstrdup(cmd->pool, args);
            if (sc->provider->parse_require_line) {
                err = sc->provider->parse_require_line(cmd, sc->provider_args,
                                                       &sc->provider_parsed);
                if (err) {
                    return fail(cmd, apr_psprintf(cmd->pool, "scope '%s': "
                                                  "require=%s: %s", sc->name,
                                                  val, err));
                }
            }
        }
        else {
            return fail(cmd, apr_psprintf(cmd->pool, "unknown or repeated "
                                          "option '%s' (known: expr=, "
                                          "require=)", key));
        }
    }
    if (!conf->scopes) {
        conf->scopes = apr_array_make(cmd->pool, 8, sizeof(*sc));
    }
    *(mcp_authz_scope_t *)apr_array_push(conf->scopes) = *sc;
    return NULL;
}

static const struct {
    const char *name;
    apr_size_t offset;
    int min, max;
} lifetimes[] = {
    { "code", APR_OFFSETOF(mcp_authz_server_conf, code_lifetime), 5,
      MCP_STORE_CODE_MAX_LIFETIME },
    { "access", APR_OFFSETOF(mcp_authz_server_conf, access_lifetime), 30, 86400 },
    { "refresh", APR_OFFSETOF(mcp_authz_server_conf, refresh_lifetime), 60,
      400 * 86400 },
    { "refresh-grace", APR_OFFSETOF(mcp_authz_server_conf, refresh_grace), 0, 300 },
    { "consent", APR_OFFSETOF(mcp_authz_server_conf, consent_lifetime), 0,
      400 * 86400 },
    { "client-idle", APR_OFFSETOF(mcp_authz_server_conf, client_idle), 3600,
      3650 * 86400 },
    { NULL, 0, 0, 0 }
};

static const char *set_lifetime(cmd_parms *cmd, void *dconf, const char *kind,
                                const char *secs)
{
    mcp_authz_server_conf *conf = server_conf(cmd);
    apr_int64_t v;
    int i;

    for (i = 0; lifetimes[i].name; i++) {
        if (!strcmp(lifetimes[i].name, kind)) {
            break;
        }
    }
    if (!lifetimes[i].name) {
        return fail(cmd, apr_psprintf(cmd->pool, "unknown kind '%s' (known: "
                                      "code, access, refresh, refresh-grace, "
                                      "consent, client-idle)", kind));
    }
    if (!strcmp(secs, "0") && lifetimes[i].min == 0) {
        v = 0;
    }
    else if (!mcp_glue_parse_int(secs, lifetimes[i].max, &v)
             || v < lifetimes[i].min) {
        return fail(cmd, apr_psprintf(cmd->pool, "%s lifetime '%s' must be a "
                                      "number of seconds from %d to %d", kind,
                                      secs, lifetimes[i].min, lifetimes[i].max));
    }
    *(int *)((char *)conf + lifetimes[i].offset) = (int)v;
    return NULL;
}

static const char *set_registration(cmd_parms *cmd, void *dconf,
                                    const char *policy, const char *file)
{
    mcp_authz_server_conf *conf = server_conf(cmd);
    const char *err;

    if (!strcasecmp(policy, "open") && !file) {
        conf->reg_policy = MCP_REG_OPEN;
    }
    else if (!strcasecmp(policy, "off") && !file) {
        conf->reg_policy = MCP_REG_OFF;
    }
    else if (!strcasecmp(policy, "token") && file) {
        err = mcp_glue_check_readable(cmd->pool, file, &conf->reg_token_file);
        if (err) {
            return fail(cmd, err);
        }
        conf->reg_policy = MCP_REG_TOKEN;
    }
    else {
        return fail(cmd, "use open, off, or token <file with the initial "
                    "access token>");
    }
    return NULL;
}

static const char *set_registration_rate(cmd_parms *cmd, void *dconf,
                                         const char *n, const char *secs)
{
    mcp_authz_server_conf *conf = server_conf(cmd);
    apr_int64_t a, b;

    if (!strcmp(n, "0") && !secs) {
        conf->reg_rate = 0;
        conf->reg_window = MCP_AUTHZ_DEFAULT_REG_WINDOW;
        return NULL;
    }
    if (!mcp_glue_parse_int(n, 100000, &a) || !secs
        || !mcp_glue_parse_int(secs, 86400, &b)) {
        return fail(cmd, "needs <requests> <seconds> (1-100000, 1-86400), or "
                    "0 for no limit");
    }
    conf->reg_rate = (int)a;
    conf->reg_window = (int)b;
    return NULL;
}

static const char *set_schemes(cmd_parms *cmd, void *dconf, const char *arg)
{
    mcp_authz_server_conf *conf = server_conf(cmd);
    mcp_redirect_kind_e kind;
    const char *err;

    if (!strcasecmp(arg, "native") || !strcasecmp(arg, "off")) {
        if (conf->scheme_list) {
            return fail(cmd, "native and off stand alone");
        }
        conf->schemes = !strcasecmp(arg, "off") ? MCP_SCHEMES_OFF
                                                : MCP_SCHEMES_NATIVE;
        return NULL;
    }
    if (conf->schemes == MCP_SCHEMES_NATIVE || conf->schemes == MCP_SCHEMES_OFF) {
        return fail(cmd, "native and off stand alone");
    }
    /* A scheme is allowed if a redirect URI with it would be a private-use
     * one: the URL unit keeps the list of dangerous schemes. */
    if (mcp_url_redirect_kind(cmd->temp_pool,
                              apr_pstrcat(cmd->temp_pool, arg, ":/cb", NULL),
                              &kind, &err) != APR_SUCCESS
        || kind != MCP_REDIRECT_PRIVATE_USE) {
        return fail(cmd, apr_psprintf(cmd->pool, "'%s' is not a usable "
                                      "private-use URI scheme", arg));
    }
    if (!conf->scheme_list) {
        conf->scheme_list = apr_array_make(cmd->pool, 4, sizeof(const char *));
    }
    *(const char **)apr_array_push(conf->scheme_list) =
        apr_pstrdup(cmd->pool, arg);
    conf->schemes = MCP_SCHEMES_LIST;
    return NULL;
}

static const char *set_cimd(cmd_parms *cmd, void *dconf, int on)
{
    server_conf(cmd)->cimd = on;
    return NULL;
}

static const char *set_cimd_loopback(cmd_parms *cmd, void *dconf, int on)
{
    server_conf(cmd)->cimd_loopback = on;
    return NULL;
}

static const char *set_cimd_ca(cmd_parms *cmd, void *dconf, const char *file)
{
    mcp_authz_server_conf *conf = server_conf(cmd);
    const char *err = mcp_glue_check_readable(cmd->pool, file,
                                              &conf->cimd_ca_file);

    return err ? fail(cmd, err) : NULL;
}

static const char *set_template(cmd_parms *cmd, void *dconf, const char *which,
                                const char *file)
{
    mcp_authz_server_conf *conf = server_conf(cmd);
    const char *path, *err;

    if (strcmp(which, "consent") && strcmp(which, "error")) {
        return fail(cmd, apr_psprintf(cmd->pool, "unknown template '%s' "
                                      "(known: consent, error)", which));
    }
    err = mcp_glue_check_readable(cmd->pool, file, &path);
    if (err) {
        return fail(cmd, err);
    }
    if (*which == 'c') {
        conf->consent_template_file = path;
    }
    else {
        conf->error_template_file = path;
    }
    return NULL;
}

static const char *set_cache(cmd_parms *cmd, void *dconf, const char *arg)
{
    mcp_authz_server_conf *conf = server_conf(cmd);
    const char *err = mcp_glue_cache_check_spec(cmd->temp_pool, arg);

    if (err) {
        return fail(cmd, err);
    }
    conf->cache_spec = apr_pstrdup(cmd->pool, arg);
    return NULL;
}

static const char *set_resource(cmd_parms *cmd, void *dconf, const char *arg)
{
    mcp_authz_dir_conf *d = dconf;
    mcp_authz_server_conf *conf = server_conf(cmd);
    const char *err = NULL;

    if (!cmd->path) {
        return fail(cmd, "belongs in a <Location> (or other section) of the "
                    "protected resource");
    }
    if (mcp_url_check(cmd->temp_pool, arg, MCP_URL_SECURE, &err)
        != APR_SUCCESS) {
        return fail(cmd, err);
    }
    if (d->resource_url) {
        return fail(cmd, "given twice in one section");
    }
    d->resource_url = apr_pstrdup(cmd->pool, arg);
    if (!d->protected_section) {
        d->protected_section = 1;
        if (!conf->resources) {
            conf->resources = apr_array_make(cmd->pool, 4,
                                             sizeof(mcp_authz_dir_conf *));
        }
        *(mcp_authz_dir_conf **)apr_array_push(conf->resources) = d;
    }
    return NULL;
}

static const char *add_origin(cmd_parms *cmd, void *dconf, const char *arg)
{
    mcp_authz_dir_conf *d = dconf;
    const char *err = mcp_glue_add_origin(cmd->pool, &d->origins, arg);

    return err ? fail(cmd, err) : NULL;
}

/* Called by mod_authz_core for every "Require mcp-scope ..." line while the
 * configuration is read: the scopes are checked, and the section is
 * recorded as a protected resource (its required scopes are what the 401
 * challenge and the resource metadata announce). */
const char *mcp_authz_parse_require(cmd_parms *cmd, const char *line,
                                    const void **pparsed)
{
    mcp_authz_server_conf *conf = server_conf(cmd);
    mcp_authz_dir_conf *d;
    apr_array_header_t *set;
    const char *err = NULL;

    if (mcp_scope_parse(&set, cmd->pool, line, &err) != APR_SUCCESS) {
        return apr_psprintf(cmd->pool, "Require " MCP_AUTHZ_SCOPE_PROVIDER
                            ": %s", err);
    }
    if (set->nelts == 0) {
        return "Require " MCP_AUTHZ_SCOPE_PROVIDER " needs at least one scope";
    }
    *pparsed = set;
    if (!cmd->context) {
        return NULL;
    }
    d = ap_set_config_vectors(cmd->server, cmd->context, cmd->path,
                              &mcp_authz_module, cmd->pool);
    d->required_scopes = mcp_scope_union(cmd->pool, d->required_scopes
                                         ? d->required_scopes
                                         : mcp_scope_set_make(cmd->pool), set);
    if (!d->protected_section) {
        d->protected_section = 1;
        if (!d->section && cmd->path) {
            d->section = apr_pstrdup(cmd->pool, cmd->path);
        }
        if (!conf->resources) {
            conf->resources = apr_array_make(cmd->pool, 4,
                                             sizeof(mcp_authz_dir_conf *));
        }
        *(mcp_authz_dir_conf **)apr_array_push(conf->resources) = d;
    }
    return NULL;
}

const command_rec mcp_authz_cmds[] = {
    AP_INIT_TAKE1("MCPAuthzIssuer", set_issuer, NULL, RSRC_CONF,
                  "The issuer URL of this authorization server (https, or "
                  "http for a loopback host; no query, fragment or trailing "
                  "slash). Enables mod_mcp_authz in this server."),
    AP_INIT_TAKE1("MCPAuthzSigningKey", add_signing_key, NULL, RSRC_CONF,
                  "PEM file with an EC P-256 private key for signing tokens; "
                  "repeat for rotation: the first signs, all are published "
                  "in the JWKS."),
    AP_INIT_TAKE2("MCPAuthzEndpoint", set_endpoint, NULL, RSRC_CONF,
                  "<authorize|token|register|revoke|introspect|jwks> <path>: "
                  "where an endpoint is served (default /oauth/<name> below "
                  "the issuer's path)"),
    AP_INIT_RAW_ARGS("MCPAuthzScope", add_scope, NULL, RSRC_CONF,
                     "<scope> \"<consent text>\" [expr=<expression>] "
                     "[require=\"<provider> <args>\"]: a scope clients may "
                     "ask for, and who may be granted it"),
    AP_INIT_TAKE2("MCPAuthzLifetime", set_lifetime, NULL, RSRC_CONF,
                  "<code|access|refresh|refresh-grace|consent|client-idle> "
                  "<seconds>: lifetimes of codes, tokens, remembered "
                  "consents and idle registered clients"),
    AP_INIT_TAKE12("MCPAuthzRegistration", set_registration, NULL, RSRC_CONF,
                   "open | off | token <file>: who may register clients "
                   "dynamically (RFC 7591); default open"),
    AP_INIT_TAKE12("MCPAuthzRegistrationRate", set_registration_rate, NULL,
                   RSRC_CONF,
                   "<requests> <seconds>: registrations allowed per client "
                   "address and time window (default 20 60), 0: no limit"),
    AP_INIT_ITERATE("MCPAuthzRedirectSchemes", set_schemes, NULL, RSRC_CONF,
                    "native | off | <scheme>...: private-use redirect URI "
                    "schemes (cursor://...) accepted for native clients "
                    "(default native: any safe scheme)"),
    AP_INIT_FLAG("MCPAuthzClientMetadataDocuments", set_cimd, NULL, RSRC_CONF,
                 "On|Off: accept https URLs as client_id (Client ID Metadata "
                 "Documents; default On)"),
    AP_INIT_FLAG("MCPAuthzClientMetadataLoopback", set_cimd_loopback, NULL,
                 RSRC_CONF,
                 "On|Off: for tests only, fetch Client ID Metadata Documents "
                 "from loopback addresses, also over http (default Off)"),
    AP_INIT_TAKE1("MCPAuthzClientMetadataCA", set_cimd_ca, NULL, RSRC_CONF,
                  "<PEM file>: the certificate authorities trusted, instead "
                  "of the system's, when fetching Client ID Metadata "
                  "Documents"),
    AP_INIT_TAKE2("MCPAuthzTemplate", set_template, NULL, RSRC_CONF,
                  "<consent|error> <file>: an HTML template that replaces "
                  "the built-in consent or error page"),
    AP_INIT_TAKE1("MCPAuthzCache", set_cache, NULL, RSRC_CONF,
                  "<provider>[:<args>]: the socache of revoked token ids and "
                  "rate limits (default shmcb)"),
    AP_INIT_TAKE1("MCPAuthzResource", set_resource, NULL, ACCESS_CONF,
                  "The canonical URL of the protected resource of this "
                  "section (default: the issuer's origin and the section's "
                  "path)"),
    AP_INIT_ITERATE("MCPAuthzAllowedOrigins", add_origin, NULL, ACCESS_CONF,
                    "Origins (scheme://host[:port], or *) whose browser "
                    "scripts may call this protected resource (CORS)"),
    { NULL }
};
