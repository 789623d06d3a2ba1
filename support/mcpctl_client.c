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

/* mcpctl client ...: pre-registered ("manual") OAuth clients, and what an
 * administrator does with any client (dynamically registered ones and
 * cached Client ID Metadata Documents too): list, show, disable, enable,
 * delete, revoke its tokens, rotate its secret.
 *
 * The metadata of a manual client is judged by the same rules as a
 * registration at the gateway (mcp_oauth_client_meta()): mcpctl builds
 * the registration document from the preset and the options and lets the
 * core decide. A secret is shown once, when it is made; only its hash is
 * stored. Access tokens are self-contained, so disabling or deleting a
 * client, or revoking its tokens, also writes a revocation row that every
 * gateway node polls. */

#include <string.h>

#include <apr_file_io.h>
#include <apr_strings.h>

#include "mcp/mcp_json.h"
#include "mcp/mcp_oauth.h"
#include "mcp/mcp_url.h"
#include "mcpctl.h"

/* The presets file is a small document we ship; anything larger is not
 * it. */
#define PRESETS_MAX (256 * 1024)

/* A client id mcpctl gives: it goes into URLs and configurations, so keep
 * it plain. */
#define NAME_MAX_LEN 64

static int name_valid(const char *s)
{
    apr_size_t i, n = strlen(s);

    if (n < 1 || n > NAME_MAX_LEN || s[0] == '-') {
        return 0;
    }
    for (i = 0; i < n; i++) {
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9')
              || s[i] == '-')) {
            return 0;
        }
    }
    return 1;
}

/* ---- presets ---- */

static int presets_load(mcpctl_t *ctl, mcp_json_t **ppresets)
{
    mcp_json_limits_t lim = { PRESETS_MAX, 16, 0 };
    apr_file_t *f;
    apr_finfo_t fi;
    mcp_json_t *doc;
    const char *err = NULL;
    char *buf;
    apr_size_t len = 0;
    apr_status_t rv;

    rv = apr_file_open(&f, ctl->presets, APR_FOPEN_READ, 0, ctl->pool);
    if (rv == APR_SUCCESS) {
        rv = apr_file_info_get(&fi, APR_FINFO_SIZE, f);
    }
    if (rv == APR_SUCCESS && fi.size > PRESETS_MAX) {
        rv = MCP_ETOOLARGE;
    }
    if (rv == APR_SUCCESS) {
        buf = apr_palloc(ctl->pool, (apr_size_t)fi.size + 1);
        rv = apr_file_read_full(f, buf, (apr_size_t)fi.size, &len);
        if (rv == APR_EOF && len == 0 && fi.size == 0) {
            rv = APR_SUCCESS;
        }
    }
    if (rv != APR_SUCCESS) {
        return mcpctl_fail("cannot read the presets file %s: %s (another one: "
                           "--presets FILE or MCP_PRESETS)", ctl->presets,
                           mcp_strerror(ctl->pool, rv));
    }
    if (mcp_json_parse(&doc, ctl->pool, buf, len, &lim, &err) != APR_SUCCESS
        || !mcp_json_is_object(*ppresets = mcp_json_get(ctl->pool, doc,
                                                        "presets"))) {
        return mcpctl_fail("the presets file %s is damaged: %s", ctl->presets,
                           err ? err : "it has no \"presets\" object");
    }
    return 0;
}

/* The preset of --preset; an unknown one is a usage error naming those
 * there are. */
static int preset_find(mcpctl_t *ctl, mcp_json_t **pentry)
{
    mcp_json_t *presets;
    int rc;

    if ((rc = presets_load(ctl, &presets)) != 0) {
        return rc;
    }
    *pentry = mcp_json_get(ctl->pool, presets, ctl->preset);
    if (!mcp_json_is_object(*pentry)) {
        apr_array_header_t *keys = mcp_json_keys(ctl->pool, presets);

        return mcpctl_usage_fail(ctl, "unknown preset '%s': %s has %s",
                                 mcpctl_text(ctl->pool, ctl->preset),
                                 ctl->presets, keys->nelts
                                 ? apr_array_pstrcat(ctl->pool, keys, ' ')
                                 : "none");
    }
    if (!mcp_json_is_array(mcp_json_get(ctl->pool, *pentry, "redirect_uris"))) {
        return mcpctl_fail("preset '%s' in %s has no redirect_uris",
                           ctl->preset, ctl->presets);
    }
    return 0;
}

/* ---- metadata ---- */

static mcp_json_t *split_array(apr_pool_t *p, const char *list)
{
    mcp_json_t *a = mcp_json_array(p);
    char *copy = apr_pstrdup(p, list ? list : ""), *last, *tok;

    for (tok = apr_strtok(copy, " ", &last); tok; tok = apr_strtok(NULL, " ", &last)) {
        mcp_json_append_str(a, tok);
    }
    return a;
}

static int json_array_has(apr_pool_t *p, const mcp_json_t *a, const char *s)
{
    apr_size_t i;

    for (i = 0; i < mcp_json_size(a); i++) {
        const char *e = mcp_json_str(mcp_json_array_get(p, a, i));

        if (e && !strcmp(e, s)) {
            return 1;
        }
    }
    return 0;
}

/* The registration document of a client stored without metadata. */
static mcp_json_t *record_doc(apr_pool_t *p, const mcp_store_client_t *c)
{
    mcp_json_t *doc = mcp_json_object(p), *uris = mcp_json_array(p);
    int i;

    for (i = 0; c->redirect_uris && i < c->redirect_uris->nelts; i++) {
        mcp_json_append_str(uris, APR_ARRAY_IDX(c->redirect_uris, i,
                                                const char *));
    }
    mcp_json_set(doc, "redirect_uris", uris);
    mcp_json_set_str(doc, "token_endpoint_auth_method",
                     c->token_endpoint_auth_method);
    mcp_json_set(doc, "grant_types", split_array(p, c->grant_types));
    if (c->client_name) {
        mcp_json_set_str(doc, "client_name", c->client_name);
    }
    if (c->scope) {
        mcp_json_set_str(doc, "scope", c->scope);
    }
    return doc;
}

/* Set a member from an option; when updating, an empty value removes it
 * (when registering, the rules refuse it). */
static void set_option(mcp_json_t *doc, const char *key, const char *value,
                       int updating)
{
    if (!value) {
        return;
    }
    if (updating && !*value) {
        mcp_json_del(doc, key);
    }
    else {
        mcp_json_set_str(doc, key, value);
    }
}

/*
 * The registration document to judge: @base (the client's metadata, when
 * updating; else NULL), then the preset's members, then the options. The
 * redirect URIs are the preset's followed by --redirect-uri's; without a
 * preset, --redirect-uri's replace the base's, and the application type
 * is derived from them again (the base's may have been derived from the
 * old ones).
 */
static int meta_doc(mcpctl_t *ctl, const mcp_json_t *base, mcp_json_t **pdoc)
{
    static const char *const from_preset[] = {
        "client_name", "token_endpoint_auth_method", "application_type",
        "grant_types", NULL
    };
    apr_pool_t *p = ctl->pool;
    mcp_json_t *doc = base ? mcp_json_copy(p, base) : mcp_json_object(p);
    mcp_json_t *uris = NULL, *pre;
    int i, rc;

    if (ctl->preset) {
        if ((rc = preset_find(ctl, &pre)) != 0) {
            return rc;
        }
        for (i = 0; from_preset[i]; i++) {
            mcp_json_t *v = mcp_json_get(p, pre, from_preset[i]);

            if (v) {
                mcp_json_set(doc, from_preset[i], v);
            }
            else {
                mcp_json_del(doc, from_preset[i]);
            }
        }
        uris = mcp_json_copy(p, mcp_json_get(p, pre, "redirect_uris"));
    }
    if (ctl->redirect_uris->nelts) {
        if (!uris) {
            uris = mcp_json_array(p);
            mcp_json_del(doc, "application_type");
        }
        for (i = 0; i < ctl->redirect_uris->nelts; i++) {
            const char *u = APR_ARRAY_IDX(ctl->redirect_uris, i, const char *);

            if (!json_array_has(p, uris, u)) {
                mcp_json_append_str(uris, u);
            }
        }
    }
    if (uris) {
        mcp_json_set(doc, "redirect_uris", uris);
    }
    if (!mcp_json_has(doc, "grant_types")) {
        mcp_json_set(doc, "grant_types",
                     split_array(p, "authorization_code refresh_token"));
    }
    if (ctl->auth_method) {
        mcp_json_set_str(doc, "token_endpoint_auth_method", ctl->auth_method);
    }
    set_option(doc, "client_name", ctl->name, base != NULL);
    set_option(doc, "scope", ctl->scope, base != NULL);
    *pdoc = doc;
    return 0;
}

/* "allowed_resources" of the new metadata: the canonical form of each
 * --allowed-resource (https, or http on a loopback host, as
 * MCPAuthzResource), else what @old had. The authorization endpoint
 * refuses other resources with invalid_target. */
static int meta_resources(mcpctl_t *ctl, const mcp_json_t *old,
                          mcp_json_t *meta)
{
    apr_pool_t *p = ctl->pool;
    mcp_json_t *list;
    int i;

    if (!ctl->resources->nelts) {
        list = old ? mcp_json_get(p, old, "allowed_resources") : NULL;
        if (list) {
            mcp_json_set(meta, "allowed_resources", list);
        }
        return 0;
    }
    list = mcp_json_array(p);
    for (i = 0; i < ctl->resources->nelts; i++) {
        const char *r = APR_ARRAY_IDX(ctl->resources, i, const char *);
        const char *err = NULL, *canon;
        mcp_url_t *u;

        if (!*r) {
            continue;   /* "": no restriction */
        }
        if (mcp_url_parse(&u, p, r, MCP_URL_SECURE, &err) != APR_SUCCESS) {
            return mcpctl_fail("--allowed-resource %s: %s",
                               mcp_url_for_log(p, r), err);
        }
        canon = mcp_url_canonical(p, u);
        if (!json_array_has(p, list, canon)) {
            mcp_json_append_str(list, canon);
        }
    }
    if (mcp_json_size(list)) {
        mcp_json_set(meta, "allowed_resources", list);
    }
    return 0;
}

/* Judge the document as the gateway's registration endpoint would, with
 * private-use schemes allowed (the administrator registers the client,
 * MCPAuthzRedirectSchemes is about strangers registering). */
static int meta_judge(mcpctl_t *ctl, const mcp_json_t *doc,
                      const mcp_json_t *old, mcp_oauth_client_meta_t **pm)
{
    mcp_oauth_client_rules_t rules;
    const char *error = NULL, *desc = NULL;

    memset(&rules, 0, sizeof(rules));
    rules.allow_private_use = 1;
    if (mcp_oauth_client_meta(pm, ctl->pool, doc, &rules, &error, &desc)
        != APR_SUCCESS) {
        return mcpctl_fail("%s (%s)", desc ? desc : "invalid client metadata",
                           error ? error : "invalid_client_metadata");
    }
    return meta_resources(ctl, old, (*pm)->metadata);
}

static void record_from_meta(apr_pool_t *p, mcp_store_client_t *c,
                             const mcp_oauth_client_meta_t *m)
{
    c->client_name = m->client_name;
    c->token_endpoint_auth_method = m->token_endpoint_auth_method;
    c->grant_types = m->grant_types;
    c->scope = m->scope;
    c->metadata = mcp_json_dump(p, m->metadata, MCP_JSON_FMT_COMPACT, NULL);
    c->redirect_uris = m->redirect_uris;
}

static int is_public(const char *method)
{
    return !strcmp(method, "none");
}

static int new_secret(mcpctl_t *ctl, const char **psecret, const char **phash)
{
    if (mcp_oauth_secret_new(psecret, phash, ctl->pool) != APR_SUCCESS) {
        return mcpctl_fail("cannot make a secret: no randomness");
    }
    return 0;
}

static void print_secret(const char *client_id, const char *secret)
{
    printf("client_id: %s\n", client_id);
    printf("client_secret: %s\n", secret);
    printf("This secret is shown only now and cannot be shown again (only "
           "its hash is stored): put it into the client's configuration.\n");
}

/* A NAME argument of the commands on existing clients: any client id
 * (dynamically registered ones and metadata document URLs too). */
static int arg_id(mcpctl_t *ctl, const char *id)
{
    return *id ? 0 : mcpctl_usage_fail(ctl, "the client id is empty");
}

/* The store and the client NAME of the commands on existing clients. */
static int open_client(mcpctl_t *ctl, const char *id, mcp_store_t **pst,
                       mcp_store_client_t **pc)
{
    int rc;

    if ((rc = arg_id(ctl, id)) != 0
        || (rc = mcpctl_open_store(ctl, pst)) != 0) {
        return rc;
    }
    return mcpctl_client_fetch(ctl, *pst, id, pc);
}

/* ---- commands ---- */

static int cmd_register(mcpctl_t *ctl, int argc, const char *const *argv)
{
    const char *id = argv[0], *secret = NULL;
    mcp_oauth_client_meta_t *m;
    mcp_store_client_t c;
    mcp_json_t *doc;
    mcp_store_t *st;
    apr_status_t rv;
    int rc;

    if ((rc = arg_id(ctl, id)) != 0) {
        return rc;
    }
    if (!name_valid(id)) {
        return mcpctl_usage_fail(ctl, "invalid client id '%s': 1 to %d "
                                 "lowercase letters, digits and hyphens, "
                                 "starting with a letter or digit",
                                 mcpctl_text(ctl->pool, id), NAME_MAX_LEN);
    }
    if (!ctl->preset && !ctl->redirect_uris->nelts) {
        return mcpctl_usage_fail(ctl, "'client register' needs --preset or "
                                 "--redirect-uri");
    }
    if ((rc = meta_doc(ctl, NULL, &doc)) != 0
        || (rc = meta_judge(ctl, doc, NULL, &m)) != 0) {
        return rc;
    }
    memset(&c, 0, sizeof(c));
    c.client_id = id;
    c.kind = "manual";
    record_from_meta(ctl->pool, &c, m);
    c.created_at = c.updated_at = ctl->now;
    if (!is_public(c.token_endpoint_auth_method)
        && (rc = new_secret(ctl, &secret, &c.secret_hash)) != 0) {
        return rc;
    }
    if ((rc = mcpctl_open_store(ctl, &st)) != 0) {
        return rc;
    }
    rv = mcp_store_client_put(st, &c);
    if (rv == MCP_ECONFLICT) {
        return mcpctl_fail("OAuth client '%s' exists already (client update "
                           "changes it)", id);
    }
    if (rv != APR_SUCCESS) {
        return mcpctl_store_fail(st);
    }
    printf("Registered OAuth client %s: %s (%s), %d redirect URIs\n", id,
           secret ? "confidential" : "public", c.token_endpoint_auth_method,
           c.redirect_uris->nelts);
    if (secret) {
        print_secret(id, secret);
    }
    else {
        printf("client_id: %s\n", id);
    }
    return MCPCTL_OK;
}

static int cmd_list(mcpctl_t *ctl, int argc, const char *const *argv)
{
    static const char *const head[] = {
        "CLIENT ID", "KIND", "NAME", "AUTH METHOD", "URIS", "TOKENS",
        "DISABLED", "EXPIRES"
    };
    enum { NCOLS = 8 };
    apr_array_header_t *clients, *rows;
    mcp_store_t *st;
    int i, rc;

    if ((rc = mcpctl_open_store(ctl, &st)) != 0) {
        return rc;
    }
    if (mcp_store_client_list(st, ctl->pool, &clients) != APR_SUCCESS) {
        return mcpctl_store_fail(st);
    }
    if (!clients->nelts) {
        printf("no OAuth clients\n");
        return MCPCTL_OK;
    }
    rows = apr_array_make(ctl->pool, clients->nelts + 1, sizeof(const char **));
    APR_ARRAY_PUSH(rows, const char *const *) = head;
    for (i = 0; i < clients->nelts; i++) {
        mcp_store_client_t *c = APR_ARRAY_IDX(clients, i, mcp_store_client_t *);
        const char **row = apr_pcalloc(ctl->pool, NCOLS * sizeof(*row));
        const char *name = mcpctl_text(ctl->pool, c->client_name);
        int n = 0;

        if (mcp_store_refresh_count(st, c->client_id, NULL, ctl->now, &n)
            != APR_SUCCESS) {
            return mcpctl_store_fail(st);
        }
        if (strlen(name) > 40) {
            name = apr_pstrcat(ctl->pool, apr_pstrndup(ctl->pool, name, 37),
                               "...", NULL);
        }
        row[0] = mcpctl_text(ctl->pool, c->client_id);
        row[1] = c->kind;
        row[2] = name;
        row[3] = c->token_endpoint_auth_method;
        row[4] = apr_itoa(ctl->pool, c->redirect_uris ? c->redirect_uris->nelts
                                                      : 0);
        row[5] = apr_itoa(ctl->pool, n);
        row[6] = c->disabled_at ? "yes" : "no";
        row[7] = mcpctl_time(ctl->pool, c->expires_at, "never");
        APR_ARRAY_PUSH(rows, const char **) = row;
    }
    mcpctl_print_table(ctl->pool, rows, NCOLS);
    return MCPCTL_OK;
}

/* The metadata as stored, pretty-printed, never with a secret in it (the
 * gateway stores none there; a hand-edited row might). */
static const char *metadata_text(apr_pool_t *p, const char *metadata)
{
    mcp_json_t *j;

    if (!metadata) {
        return NULL;
    }
    if (mcp_json_parse(&j, p, metadata, strlen(metadata), NULL, NULL)
        != APR_SUCCESS || !mcp_json_is_object(j)) {
        return "(not a JSON object)";
    }
    mcp_json_del(j, "client_secret");
    return mcp_json_dump(p, j, MCP_JSON_FMT_INDENT, NULL);
}

static void print_list(apr_pool_t *p, const char *label, const mcp_json_t *a,
                       const char *none)
{
    apr_size_t i;

    printf("%s:%s%s\n", label, mcp_json_size(a) ? "" : " ",
           mcp_json_size(a) ? "" : none);
    for (i = 0; i < mcp_json_size(a); i++) {
        printf("  %s\n", mcpctl_text(p, mcp_json_str(mcp_json_array_get(p, a, i))));
    }
}

static int cmd_show(mcpctl_t *ctl, int argc, const char *const *argv)
{
    apr_pool_t *p = ctl->pool;
    mcp_store_client_t *c;
    mcp_json_t *meta = NULL, *uris = mcp_json_array(p);
    mcp_store_t *st;
    const char *text;
    int i, n = 0, rc;

    if ((rc = open_client(ctl, argv[0], &st, &c)) != 0) {
        return rc;
    }
    if (mcp_store_refresh_count(st, c->client_id, NULL, ctl->now, &n)
        != APR_SUCCESS) {
        return mcpctl_store_fail(st);
    }
    if (c->metadata) {
        mcp_json_parse(&meta, p, c->metadata, strlen(c->metadata), NULL, NULL);
    }
    for (i = 0; c->redirect_uris && i < c->redirect_uris->nelts; i++) {
        mcp_json_append_str(uris, APR_ARRAY_IDX(c->redirect_uris, i,
                                                const char *));
    }
    printf("client_id: %s\n", mcpctl_text(p, c->client_id));
    printf("kind: %s\n", c->kind);
    printf("name: %s\n", mcpctl_text(p, c->client_name));
    printf("token_endpoint_auth_method: %s\n", c->token_endpoint_auth_method);
    printf("secret: %s\n", c->secret_hash ? "set" : "none");
    printf("grant_types: %s\n", c->grant_types);
    printf("scope: %s\n", mcpctl_text(p, c->scope));
    print_list(p, "redirect_uris", uris, "-");
    print_list(p, "allowed_resources",
               meta ? mcp_json_get(p, meta, "allowed_resources") : NULL,
               "any");
    printf("created: %s\n", mcpctl_time(p, c->created_at, "-"));
    printf("updated: %s\n", mcpctl_time(p, c->updated_at, "-"));
    printf("expires: %s\n", mcpctl_time(p, c->expires_at, "never"));
    printf("disabled: %s\n", c->disabled_at
           ? apr_pstrcat(p, "since ", mcpctl_time(p, c->disabled_at, ""), NULL)
           : "no");
    printf("live refresh tokens: %d\n", n);
    text = metadata_text(p, c->metadata);
    printf("metadata:%s%s\n", text ? "\n" : " ", text ? text : "-");
    return MCPCTL_OK;
}

static int cmd_update(mcpctl_t *ctl, int argc, const char *const *argv)
{
    apr_pool_t *p = ctl->pool;
    const char *secret = NULL, *old_method;
    mcp_oauth_client_meta_t *m;
    mcp_store_client_t *c;
    mcp_json_t *base = NULL, *doc;
    mcp_store_t *st;
    int rc, had_secret;

    if ((rc = arg_id(ctl, argv[0])) != 0) {
        return rc;
    }
    if (!(ctl->given & ~MCPCTL_OPT_PRESETS)) {
        return mcpctl_usage_fail(ctl, "nothing to change: give the options "
                                 "to change");
    }
    if ((rc = mcpctl_open_store(ctl, &st)) != 0
        || (rc = mcpctl_client_fetch(ctl, st, argv[0], &c)) != 0) {
        return rc;
    }
    if (!strcmp(c->kind, "cimd")) {
        return mcpctl_fail("OAuth client '%s' is a Client ID Metadata Document:"
                           " its metadata comes from that URL",
                           mcpctl_text(p, c->client_id));
    }
    if (!c->metadata
        || mcp_json_parse(&base, p, c->metadata, strlen(c->metadata), NULL,
                          NULL) != APR_SUCCESS
        || !mcp_json_is_object(base)) {
        base = record_doc(p, c);
    }
    if ((rc = meta_doc(ctl, base, &doc)) != 0
        || (rc = meta_judge(ctl, doc, base, &m)) != 0) {
        return rc;
    }
    old_method = c->token_endpoint_auth_method;
    had_secret = c->secret_hash != NULL;
    record_from_meta(p, c, m);
    c->updated_at = ctl->now;
    /* A client that becomes confidential gets a secret; one that becomes
     * public loses it; otherwise its secret stays. */
    if (is_public(c->token_endpoint_auth_method)) {
        c->secret_hash = NULL;
    }
    else if (!c->secret_hash && (rc = new_secret(ctl, &secret, &c->secret_hash))
             != 0) {
        return rc;
    }
    if (mcp_store_client_update(st, c) != APR_SUCCESS) {
        return mcpctl_store_fail(st);
    }
    printf("Updated OAuth client %s: %s (%s), %d redirect URIs\n",
           mcpctl_text(p, c->client_id),
           c->secret_hash ? "confidential" : "public",
           c->token_endpoint_auth_method, c->redirect_uris->nelts);
    if (secret) {
        print_secret(c->client_id, secret);
    }
    else if (had_secret && !c->secret_hash) {
        printf("Its secret was removed: the client is public now (it was %s)."
               "\n", old_method);
    }
    return MCPCTL_OK;
}

/* Disable or enable: the client stays, with its tokens. */
static int set_disabled(mcpctl_t *ctl, const char *id, int disable)
{
    mcp_store_client_t *c;
    mcp_store_t *st;
    int rc, was = 0;

    if ((rc = open_client(ctl, id, &st, &c)) != 0) {
        return rc;
    }
    was = c->disabled_at != 0;
    if (was != disable) {
        c->disabled_at = disable ? ctl->now : 0;
        c->updated_at = ctl->now;
        if (mcp_store_client_update(st, c) != APR_SUCCESS) {
            return mcpctl_store_fail(st);
        }
    }
    id = mcpctl_text(ctl->pool, id);
    if (!disable && !was) {
        printf("OAuth client %s is enabled already.\n", id);
        return MCPCTL_OK;
    }
    if (!disable) {
        printf("Enabled OAuth client %s. Access tokens issued before it was "
               "disabled stay refused until they expire; its refresh tokens "
               "work again.\n", id);
        return MCPCTL_OK;
    }
    /* Also when it was disabled already: a disable that failed half-way
     * is finished by running it again. */
    if ((rc = mcpctl_revoke_access(ctl, st, "client", c->client_id)) != 0) {
        return rc;
    }
    printf("%s OAuth client %s: the gateway refuses it (invalid_client) and "
           "the access tokens already issued to it. Its refresh tokens are "
           "kept for `client enable`.\n", was ? "Still disabled" : "Disabled",
           id);
    return MCPCTL_OK;
}

static int cmd_disable(mcpctl_t *ctl, int argc, const char *const *argv)
{
    return set_disabled(ctl, argv[0], 1);
}

static int cmd_enable(mcpctl_t *ctl, int argc, const char *const *argv)
{
    return set_disabled(ctl, argv[0], 0);
}

static int cmd_delete(mcpctl_t *ctl, int argc, const char *const *argv)
{
    mcp_store_client_t *c;
    mcp_store_t *st;
    int rc, n = 0;

    if ((rc = open_client(ctl, argv[0], &st, &c)) != 0) {
        return rc;
    }
    if (mcp_store_refresh_count(st, c->client_id, NULL, ctl->now, &n)
        != APR_SUCCESS) {
        return mcpctl_store_fail(st);
    }
    /* The revocation first: should the delete fail, running it again
     * finds the client and does both. */
    if ((rc = mcpctl_revoke_access(ctl, st, "client", c->client_id)) != 0) {
        return rc;
    }
    if (mcp_store_client_delete(st, c->client_id) != APR_SUCCESS) {
        return mcpctl_store_fail(st);
    }
    printf("Deleted OAuth client %s with its %d live refresh tokens, its codes "
           "and consents; access tokens already issued to it are refused.\n",
           mcpctl_text(ctl->pool, c->client_id), n);
    return MCPCTL_OK;
}

static int cmd_revoke_tokens(mcpctl_t *ctl, int argc, const char *const *argv)
{
    mcp_store_client_t *c;
    mcp_store_t *st;
    int rc, n = 0;

    if ((rc = open_client(ctl, argv[0], &st, &c)) != 0) {
        return rc;
    }
    if (mcp_store_refresh_revoke_client(st, c->client_id, ctl->now, &n)
        != APR_SUCCESS) {
        return mcpctl_store_fail(st);
    }
    if ((rc = mcpctl_revoke_access(ctl, st, "client", c->client_id)) != 0) {
        return rc;
    }
    printf("Revoked %d tokens for OAuth client %s\n", n,
           mcpctl_text(ctl->pool, c->client_id));
    return MCPCTL_OK;
}

static int cmd_rotate_secret(mcpctl_t *ctl, int argc, const char *const *argv)
{
    const char *secret;
    mcp_store_client_t *c;
    mcp_store_t *st;
    int rc;

    if ((rc = open_client(ctl, argv[0], &st, &c)) != 0) {
        return rc;
    }
    if (!c->secret_hash) {
        return mcpctl_fail("OAuth client '%s' is public "
                           "(token_endpoint_auth_method %s): it has no secret "
                           "to rotate (client update --auth-method "
                           "client_secret_basic makes it confidential)",
                           mcpctl_text(ctl->pool, c->client_id),
                           c->token_endpoint_auth_method);
    }
    if ((rc = new_secret(ctl, &secret, &c->secret_hash)) != 0) {
        return rc;
    }
    c->updated_at = ctl->now;
    if (mcp_store_client_update(st, c) != APR_SUCCESS) {
        return mcpctl_store_fail(st);
    }
    printf("Rotated the secret of OAuth client %s: the old one no longer "
           "works.\n", mcpctl_text(ctl->pool, c->client_id));
    print_secret(c->client_id, secret);
    return MCPCTL_OK;
}

static void print_preset(apr_pool_t *p, const char *name, const mcp_json_t *e)
{
    printf("%s: %s (%s, %s)\n", mcpctl_text(p, name),
           mcpctl_text(p, mcp_json_get_str(p, e, "client_name")),
           mcpctl_text(p, mcp_json_get_str(p, e, "token_endpoint_auth_method")),
           mcpctl_text(p, mcp_json_get_str(p, e, "application_type")));
    print_list(p, "  redirect_uris", mcp_json_get(p, e, "redirect_uris"), "-");
    printf("  source: %s\n", mcpctl_text(p, mcp_json_get_str(p, e, "source")));
}

static int cmd_presets(mcpctl_t *ctl, int argc, const char *const *argv)
{
    apr_array_header_t *keys;
    mcp_json_t *presets, *e;
    int i, rc;

    if (argc == 1) {
        ctl->preset = argv[0];
        if ((rc = preset_find(ctl, &e)) != 0) {
            return rc;
        }
        print_preset(ctl->pool, argv[0], e);
        return MCPCTL_OK;
    }
    if ((rc = presets_load(ctl, &presets)) != 0) {
        return rc;
    }
    keys = mcp_json_keys(ctl->pool, presets);
    for (i = 0; i < keys->nelts; i++) {
        const char *k = APR_ARRAY_IDX(keys, i, const char *);

        print_preset(ctl->pool, k, mcp_json_get(ctl->pool, presets, k));
    }
    return MCPCTL_OK;
}

const mcpctl_cmd_t mcpctl_client_cmds[] = {
    { "register", "NAME", 1, 1, MCPCTL_OPTS_CLIENT_META, 0, cmd_register,
      "register client NAME (a secret is shown once)" },
    { "list", "", 0, 0, 0, 0, cmd_list,
      "list the OAuth clients, of every kind" },
    { "show", "NAME", 1, 1, 0, 0, cmd_show,
      "show a client (never its secret)" },
    { "update", "NAME", 1, 1, MCPCTL_OPTS_CLIENT_META, 0, cmd_update,
      "change a client; --redirect-uri replaces URIs" },
    { "disable", "NAME", 1, 1, 0, 0, cmd_disable,
      "refuse a client and its access tokens" },
    { "enable", "NAME", 1, 1, 0, 0, cmd_enable,
      "accept again; old access tokens stay refused" },
    { "delete", "NAME", 1, 1, 0, 0, cmd_delete,
      "delete a client with its tokens and consents" },
    { "revoke-tokens", "NAME", 1, 1, 0, 0, cmd_revoke_tokens,
      "revoke all its refresh and access tokens" },
    { "rotate-secret", "NAME", 1, 1, 0, 0, cmd_rotate_secret,
      "a new secret; the old one stops working" },
    { "presets", "[PRESET]", 0, 1, MCPCTL_OPT_PRESETS, 0, cmd_presets,
      "show the known clients' presets and sources" },
    { NULL, NULL, 0, 0, 0, 0, NULL, NULL }
};
