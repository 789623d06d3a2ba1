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

/* mod_mcp_idp directives. Each handler checks its own line; checks across
 * lines run in post_config (mod_mcp_idp.c). */

#include <httpd.h>
#include <http_config.h>
#include <apr_strings.h>
#include <apr_lib.h>

#include "mcp/mcp_scope.h"
#include "mcp/mcp_upstream.h"
#include "mcp/mcp_url.h"
#include "mcp_glue.h"
#include "idp_private.h"

void *mcp_idp_create_server_conf(apr_pool_t *p, server_rec *s)
{
    mcp_idp_server_conf *conf = apr_pcalloc(p, sizeof(*conf));

    conf->vault_keys = NULL;
    conf->providers = NULL;
    conf->link_base = NULL;
    conf->keyring = NULL;
    return conf;
}

void *mcp_idp_merge_server_conf(apr_pool_t *p, void *basev, void *addv)
{
    mcp_idp_server_conf *base = basev, *add = addv;
    mcp_idp_server_conf *conf = apr_pcalloc(p, sizeof(*conf));

    /* Lists are replaced, never mixed: a virtual host that names its own
     * keys or providers gets exactly those. */
    conf->vault_keys = add->vault_keys ? add->vault_keys : base->vault_keys;
    conf->providers = add->providers ? add->providers : base->providers;
    conf->link_base = add->link_base ? add->link_base : base->link_base;
    conf->keyring = NULL; /* loaded per server in post_config */
    return conf;
}

static mcp_idp_server_conf *server_conf(cmd_parms *cmd)
{
    return ap_get_module_config(cmd->server->module_config, &mcp_idp_module);
}

static const char *fail(cmd_parms *cmd, const char *err)
{
    return apr_pstrcat(cmd->pool, cmd->cmd->name, ": ", err, NULL);
}

static const char *add_vault_key(cmd_parms *cmd, void *dconf,
                                 const char *path, const char *opt)
{
    mcp_idp_server_conf *conf = server_conf(cmd);
    mcp_idp_vault_key_t *k;
    const char *key, *val;

    k = apr_pcalloc(cmd->pool, sizeof(*k));
    k->path = ap_server_root_relative(cmd->pool, path);
    if (!k->path) {
        return fail(cmd, apr_psprintf(cmd->pool, "invalid path '%s'", path));
    }
    if (opt) {
        if (!mcp_glue_split_option(cmd->temp_pool, opt, &key, &val)
            || strcmp(key, "id")) {
            return fail(cmd, apr_psprintf(cmd->pool, "unknown option '%s' "
                                          "(known: id=<keyid>)", opt));
        }
        if (!mcp_glue_is_name(val)) {
            return fail(cmd, apr_psprintf(cmd->pool, "key id '%s' must be "
                                          "[A-Za-z0-9_-]+", val));
        }
        k->id = apr_pstrdup(cmd->pool, val);
    }
    k->defn_name = cmd->directive->filename;
    k->defn_line = cmd->directive->line_num;
    if (!conf->vault_keys) {
        conf->vault_keys = apr_array_make(cmd->pool, 2, sizeof(*k));
    }
    *(mcp_idp_vault_key_t *)apr_array_push(conf->vault_keys) = *k;
    return NULL;
}

static const char *on_off(apr_pool_t *p, const char *key, const char *val,
                          int *pv)
{
    if (!strcasecmp(val, "on")) {
        *pv = 1;
    }
    else if (!strcasecmp(val, "off")) {
        *pv = 0;
    }
    else {
        return apr_psprintf(p, "%s= must be on or off, not '%s'", key, val);
    }
    return NULL;
}

static int is_header_name(const char *s)
{
    if (!s || !*s) {
        return 0;
    }
    for (; *s; s++) {
        if (!apr_isalnum(*s) && !strchr("!#$%&'*+-.^_`|~", *s)) {
            return 0;
        }
    }
    return 1;
}

static const char *provider_option(cmd_parms *cmd, mcp_idp_provider_t *pv,
                                   const char *key, const char *val)
{
    apr_pool_t *p = cmd->pool;
    const char *err = NULL;

    if (!strcmp(key, "authorize")) {
        pv->authorize = apr_pstrdup(p, val);
    }
    else if (!strcmp(key, "token")) {
        pv->token = apr_pstrdup(p, val);
    }
    else if (!strcmp(key, "issuer")) {
        pv->issuer = apr_pstrdup(p, val);
    }
    else if (!strcmp(key, "revoke")) {
        pv->revoke = apr_pstrdup(p, val);
    }
    else if (!strcmp(key, "client_id")) {
        if (!*val) {
            return "client_id= must not be empty";
        }
        pv->client_id = apr_pstrdup(p, val);
    }
    else if (!strcmp(key, "secret_file")) {
        err = mcp_glue_check_readable(p, val, &pv->secret_file);
        if (err) {
            return apr_psprintf(p, "secret_file=: %s", err);
        }
    }
    else if (!strcmp(key, "scope")) {
        apr_array_header_t *scopes;

        if (mcp_scope_parse(&scopes, cmd->temp_pool, val, &err)
            != APR_SUCCESS) {
            return apr_psprintf(p, "scope= is not a list of OAuth scope "
                                "tokens: %s", err);
        }
        if (scopes->nelts == 0) {
            return "scope= is not a list of OAuth scope tokens: it is empty";
        }
        pv->scope = apr_pstrdup(p, val);
    }
    else if (!strcmp(key, "pkce")) {
        return on_off(p, key, val, &pv->pkce);
    }
    else if (!strcmp(key, "auth")) {
        if (!strcmp(val, "basic")) {
            pv->auth_post = 0;
        }
        else if (!strcmp(val, "post")) {
            pv->auth_post = 1;
        }
        else {
            return apr_psprintf(p, "auth= must be basic or post, not '%s'",
                                val);
        }
    }
    else if (!strcmp(key, "internal")) {
        return on_off(p, key, val, &pv->internal);
    }
    else if (!strcmp(key, "params")) {
        if (mcp_upstream_parse_params(&pv->params_table, p, val, &err)
            != APR_SUCCESS) {
            return apr_psprintf(p, "params=: %s", err);
        }
        pv->params = apr_pstrdup(p, val);
    }
    else if (!strcmp(key, "header")) {
        if (!is_header_name(val)) {
            return apr_psprintf(p, "header= '%s' is not an HTTP header name",
                                val);
        }
        pv->header = apr_pstrdup(p, val);
    }
    else if (!strcmp(key, "prefix")) {
        if (strpbrk(val, "\r\n")) {
            return "prefix= must not hold a line break";
        }
        pv->prefix = apr_pstrdup(p, val);
    }
    else if (!strcmp(key, "mode")) {
        if (!strcmp(val, "oauth")) {
            pv->mode = MCP_IDP_MODE_OAUTH;
        }
        else if (!strcmp(val, "personal")) {
            pv->mode = MCP_IDP_MODE_PERSONAL;
        }
        else {
            return apr_psprintf(p, "mode= must be oauth or personal, not "
                                "'%s'", val);
        }
    }
    else {
        return apr_psprintf(p, "unknown option '%s' (known: issuer, "
                            "authorize, token, client_id, secret_file, auth, "
                            "scope, pkce, params, header, prefix, revoke, "
                            "internal, mode)", key);
    }
    return NULL;
}

/* The endpoints must be https (or http on loopback); an internal provider
 * may use http to any host of its network. */
static const char *check_url(apr_pool_t *p, const mcp_idp_provider_t *pv,
                             const char *key, const char *url)
{
    const char *err = NULL;
    unsigned rules = pv->internal ? MCP_URL_ANY_HTTP : MCP_URL_SECURE;

    if (key[0] == 'i') {
        rules |= MCP_URL_NO_QUERY;
    }
    if (url && mcp_url_check(p, url, rules, &err) != APR_SUCCESS) {
        return apr_psprintf(p, "%s=: %s", key, err);
    }
    return NULL;
}

/* What a whole line must have, once all its options are read. */
static const char *check_provider(apr_pool_t *p, mcp_idp_provider_t *pv)
{
    const char *err;

    if (pv->mode == MCP_IDP_MODE_PERSONAL) {
        if (pv->issuer || pv->authorize || pv->token || pv->client_id
            || pv->secret_file || pv->revoke || pv->params
            || pv->auth_post >= 0) {
            return apr_psprintf(p, "provider '%s' has mode=personal: users "
                                "paste their own tokens, so it takes none of "
                                "issuer=, authorize=, token=, client_id=, "
                                "secret_file=, auth=, revoke=, params=",
                                pv->name);
        }
        return NULL;
    }
    if (!pv->client_id || (!pv->issuer && (!pv->authorize || !pv->token))) {
        return apr_psprintf(p, "provider '%s' needs client_id= and either "
                            "issuer= or authorize= and token=", pv->name);
    }
    if ((err = check_url(p, pv, "issuer", pv->issuer))
        || (err = check_url(p, pv, "authorize", pv->authorize))
        || (err = check_url(p, pv, "token", pv->token))
        || (err = check_url(p, pv, "revoke", pv->revoke))) {
        return err;
    }
    return NULL;
}

static const char *add_provider(cmd_parms *cmd, void *dconf, const char *raw)
{
    mcp_idp_server_conf *conf = server_conf(cmd);
    mcp_idp_provider_t *pv;
    apr_array_header_t *words;
    const char **w, *err, *key, *val;
    int i;

    err = mcp_glue_split_words(cmd->temp_pool, raw, &words);
    if (err) {
        return fail(cmd, err);
    }
    w = (const char **)words->elts;
    if (words->nelts < 1 || !mcp_glue_is_name(w[0])) {
        return fail(cmd, apr_psprintf(cmd->pool, "needs a provider name "
                                      "([A-Za-z0-9_-]+) first, got '%s'",
                                      words->nelts ? w[0] : ""));
    }
    for (i = 0; conf->providers && i < conf->providers->nelts; i++) {
        pv = &APR_ARRAY_IDX(conf->providers, i, mcp_idp_provider_t);
        if (!strcmp(pv->name, w[0])) {
            return fail(cmd, apr_psprintf(cmd->pool, "provider '%s' is "
                                          "defined twice (first at %s:%u)",
                                          w[0], pv->defn_name,
                                          pv->defn_line));
        }
    }
    pv = apr_pcalloc(cmd->pool, sizeof(*pv));
    pv->name = apr_pstrdup(cmd->pool, w[0]);
    pv->pkce = 1;
    pv->auth_post = -1;
    pv->header = "Authorization";
    pv->prefix = "Bearer ";
    pv->mode = MCP_IDP_MODE_OAUTH;
    pv->defn_name = cmd->directive->filename;
    pv->defn_line = cmd->directive->line_num;
    for (i = 1; i < words->nelts; i++) {
        if (!mcp_glue_split_option(cmd->temp_pool, w[i], &key, &val)) {
            return fail(cmd, apr_psprintf(cmd->pool, "'%s' is not a "
                                          "key=value option", w[i]));
        }
        if ((err = provider_option(cmd, pv, key, val))) {
            return fail(cmd, err);
        }
    }
    if ((err = check_provider(cmd->pool, pv))) {
        return fail(cmd, err);
    }
    pv->rt = mcp_idp_provider_rt_make(cmd->pool);
    if (!conf->providers) {
        conf->providers = apr_array_make(cmd->pool, 4, sizeof(*pv));
    }
    *(mcp_idp_provider_t *)apr_array_push(conf->providers) = *pv;
    return NULL;
}

static const char *set_link_base(cmd_parms *cmd, void *dconf,
                                 const char *path)
{
    mcp_idp_server_conf *conf = server_conf(cmd);
    apr_size_t n = strlen(path);

    if (path[0] != '/' || strpbrk(path, "?#%\"\\ \t") || strstr(path, "//")
        || strstr(path, "/./") || strstr(path, "/../")) {
        return fail(cmd, apr_psprintf(cmd->pool, "'%s' is not a plain URL "
                                      "path starting with '/'", path));
    }
    /* "/" and "/oauth/v1/" mean "" and "/oauth/v1" below them. */
    while (n > 1 && path[n - 1] == '/') {
        n--;
    }
    conf->link_base = n == 1 ? "" : apr_pstrndup(cmd->pool, path, n);
    return NULL;
}

const command_rec mcp_idp_cmds[] = {
    AP_INIT_TAKE12("MCPIdPVaultKey", add_vault_key, NULL, RSRC_CONF,
                   "<path> [id=<keyid>]: an AES-256-GCM key file (32 bytes, raw, "
                   "base64 or hex) for "
                   "the upstream token vault; repeat for rotation: the first "
                   "encrypts, all decrypt"),
    AP_INIT_TAKE1("MCPIdPLinkBase", set_link_base, NULL, RSRC_CONF,
                  "<path>: where SetHandler mcp-idp serves the link pages "
                  "(<path>/authorize, /callback, /connections; default "
                  "/oauth/v1)"),
    AP_INIT_RAW_ARGS("MCPIdPProvider", add_provider, NULL, RSRC_CONF,
                     "<name> [issuer=<URL>] [authorize=<URL> token=<URL>] "
                     "client_id=<id> [secret_file=<path>] [auth=basic|post] "
                     "[scope=\"a b\"] "
                     "[pkce=on|off] [params=\"k=v&...\"] [header=<name>] "
                     "[prefix=\"<text>\"] [revoke=<URL>] [internal=on] "
                     "[mode=oauth|personal]: an upstream OAuth provider users "
                     "link their accounts with"),
    { NULL }
};
