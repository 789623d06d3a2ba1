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

/* mcpctl provider connections|revoke|purge NAME: the users' links to an
 * upstream provider (MCPIdPProvider), in the vault. mcpctl reads no httpd
 * configuration (the provider may be gone from it): to revoke the tokens
 * at the provider before deleting them, revoke and purge are told the
 * provider's revocation endpoint, the gateway's client there and the
 * vault keys (--revoke-url, --client-id, --secret-file, --vault-key).
 * Without --revoke-url they only delete, and the provider's tokens stay
 * valid there until they expire. */

#include <apr_strings.h>

#include "mcp/mcp_http.h"
#include "mcp/mcp_upstream.h"
#include "mcp/mcp_url.h"

#include "mcpctl.h"

/* What revoking at the provider takes. */
typedef struct {
    mcp_keyring_t *kr;
    mcp_http_t *http;
    const char *secret;         /* NULL: a public client */
    int post;                   /* the secret goes in the form */
} revoker_t;

/* The keys of --vault-key [ID=]FILE; an ID is [A-Za-z0-9_-]+ (a path
 * with '=' and no '/' before it: write it ./a=b). */
static int load_keys(mcpctl_t *ctl, mcp_keyring_t *kr)
{
    int i;

    for (i = 0; i < ctl->vault_keys->nelts; i++) {
        const char *arg = APR_ARRAY_IDX(ctl->vault_keys, i, const char *);
        const char *eq = strchr(arg, '='), *path = arg, *id = NULL;
        unsigned char key[MCP_AEAD_KEY_LEN];
        const char *err = NULL;
        apr_status_t rv;

        if (eq && eq > arg && eq[1]
            && strspn(arg, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                      "0123456789_-") == (apr_size_t)(eq - arg)) {
            id = apr_pstrmemdup(ctl->pool, arg, eq - arg);
            path = eq + 1;
        }
        rv = mcp_keyring_load_key_file(key, ctl->pool, path, &err);
        if (rv == APR_SUCCESS) {
            rv = mcp_keyring_add(kr, id ? id
                                 : mcp_keyring_default_kid(ctl->pool, key),
                                 key, 0, &err);
        }
        mcp_crypto_wipe(key, sizeof(key));
        if (rv != APR_SUCCESS) {
            return mcpctl_fail("--vault-key %s: %s", arg,
                               err ? err : mcp_strerror(ctl->pool, rv));
        }
    }
    return 0;
}

/* The revoker of the options, or *prv NULL without --revoke-url. */
static int revoker_make(mcpctl_t *ctl, revoker_t **prv)
{
    unsigned others = MCPCTL_OPTS_PROVIDER_REVOKE & ~MCPCTL_OPT_REVOKE_URL;
    const char *err = NULL;
    revoker_t *rk;
    apr_status_t rv;

    *prv = NULL;
    if (!ctl->revoke_url) {
        if (ctl->given & others) {
            return mcpctl_usage_fail(ctl, "--vault-key, --client-id, "
                                     "--secret-file and --auth-method go "
                                     "with --revoke-url");
        }
        return 0;
    }
    if (!ctl->client_id || !ctl->vault_keys->nelts) {
        return mcpctl_usage_fail(ctl, "--revoke-url needs --client-id and "
                                 "--vault-key (the vault keys, to read the "
                                 "tokens)");
    }
    rk = apr_pcalloc(ctl->pool, sizeof(*rk));
    if (ctl->auth_method && strcmp(ctl->auth_method, "client_secret_basic")
        && strcmp(ctl->auth_method, "client_secret_post")) {
        return mcpctl_usage_fail(ctl, "--auth-method for a provider is "
                                 "client_secret_basic or client_secret_post");
    }
    rk->post = ctl->auth_method
        && !strcmp(ctl->auth_method, "client_secret_post");
    if (ctl->auth_method && !ctl->secret_file) {
        return mcpctl_usage_fail(ctl, "--auth-method needs --secret-file");
    }
    if (mcp_url_check(ctl->pool, ctl->revoke_url, MCP_URL_ANY_HTTP, &err)
        != APR_SUCCESS) {
        return mcpctl_fail("--revoke-url %s: %s",
                           mcpctl_text(ctl->pool, ctl->revoke_url), err);
    }
    if (ctl->secret_file
        && (rv = mcp_crypto_read_secret_file(&rk->secret, ctl->pool,
                                             ctl->secret_file, 4096, &err))
           != APR_SUCCESS) {
        return mcpctl_fail("--secret-file: %s", err);
    }
    if (mcp_keyring_create(&rk->kr, ctl->pool) != APR_SUCCESS
        || load_keys(ctl, rk->kr) != 0) {
        return MCPCTL_ERROR;
    }
    if (mcp_http_global_init(ctl->pool, &err) != APR_SUCCESS
        || mcp_http_create(&rk->http, ctl->pool, NULL, &err) != APR_SUCCESS) {
        return mcpctl_fail("the HTTP client: %s", err ? err : "?");
    }
    *prv = rk;
    return 0;
}

/* Revoke the tokens of link @a u at the provider.
 * @return APR_SUCCESS; APR_ENOTIMPL when the provider does not revoke
 *         that type of token (typically a link left with only its access
 *         token, a JWT, after the provider refused its refresh token):
 *         asking again cannot help, so the link goes all the same; else
 *         why not in *perr. */
static apr_status_t revoke_at_provider(mcpctl_t *ctl, const revoker_t *rk,
                                       const mcp_store_upstream_t *u,
                                       const char **perr)
{
    mcp_upstream_tokens_t *tok;
    mcp_http_request_t *req;
    mcp_http_response_t *resp;
    const char *form;
    apr_status_t rv;

    rv = mcp_upstream_tokens_open(&tok, ctl->pool, rk->kr, u->sealed,
                                  u->subject, u->provider);
    if (rv == MCP_ENOTFOUND) {
        *perr = apr_psprintf(ctl->pool, "its tokens are sealed with key id "
                             "%s, which no --vault-key gives",
                             mcpctl_text(ctl->pool, u->key_id));
        return rv;
    }
    if (rv != APR_SUCCESS) {
        *perr = apr_psprintf(ctl->pool, "its vault record does not open with "
                             "key id %s (a changed record, or another key "
                             "under that id)",
                             mcpctl_text(ctl->pool, u->key_id));
        return rv;
    }
    form = mcp_upstream_revoke_form(ctl->pool, tok, ctl->client_id,
                                    rk->post ? rk->secret : NULL);
    if (!form) {
        return APR_SUCCESS;
    }
    rv = mcp_http_request_create(&req, ctl->pool, rk->http, "POST",
                                 ctl->revoke_url, perr);
    if (rv != APR_SUCCESS) {
        return rv;
    }
    /* The administrator's own URL: any http(s) host, no redirects. */
    req->url_rules = MCP_URL_ANY_HTTP;
    req->addr_allow = MCP_ADDR_ALLOW_ALL;
    req->max_redirects = 0;
    mcp_http_request_header(req, "Accept", "application/json", NULL);
    if (rk->secret && !rk->post) {
        mcp_http_request_header(req, "Authorization",
                                mcp_upstream_basic_auth(ctl->pool,
                                                        ctl->client_id,
                                                        rk->secret), NULL);
    }
    mcp_http_request_body(req, form, strlen(form),
                          "application/x-www-form-urlencoded", NULL);
    rv = mcp_http_perform(req, &resp, perr);
    if (rv == APR_SUCCESS) {
        rv = mcp_upstream_revoke_parse(ctl->pool, resp->status, resp->body,
                                       resp->body_len, perr);
    }
    return rv;
}

#define NOT_REVOKED "Its tokens were not revoked at the provider (no " \
    "--revoke-url): they stay valid there until they expire.\n"
#define KEPT_HINT "run again when the provider answers, or without " \
    "--revoke-url to delete only"
#define UNREVOCABLE "the provider does not revoke that type of token " \
    "(unsupported_token_type): it stays valid there until it expires"

static int cmd_connections(mcpctl_t *ctl, int argc, const char *const *argv)
{
    static const char *const head[] = {
        "USER", "SCOPES", "LINKED", "RENEWED", "LAST USED", "EXPIRES", "KEY"
    };
    enum { NCOLS = 7 };
    apr_array_header_t *list, *rows;
    mcp_store_t *st;
    int i, rc;

    if ((rc = mcpctl_open_store(ctl, &st)) != 0) {
        return rc;
    }
    if (mcp_store_upstream_list_provider(st, ctl->pool, argv[0], &list)
        != APR_SUCCESS) {
        return mcpctl_store_fail(st);
    }
    if (!list->nelts) {
        printf("no links to provider %s\n", mcpctl_text(ctl->pool, argv[0]));
        return MCPCTL_OK;
    }
    rows = apr_array_make(ctl->pool, list->nelts + 1, sizeof(const char **));
    APR_ARRAY_PUSH(rows, const char *const *) = head;
    for (i = 0; i < list->nelts; i++) {
        mcp_store_upstream_t *u = APR_ARRAY_IDX(list, i, mcp_store_upstream_t *);
        const char **row = apr_pcalloc(ctl->pool, NCOLS * sizeof(*row));

        row[0] = mcpctl_text(ctl->pool, u->subject);
        row[1] = mcpctl_text(ctl->pool, u->scope);
        row[2] = mcpctl_time(ctl->pool, u->created_at, "-");
        row[3] = mcpctl_time(ctl->pool, u->updated_at, "-");
        /* Written at most once a minute (mcp_store_upstream_touch()). */
        row[4] = mcpctl_time(ctl->pool, u->last_used_at, "never");
        row[5] = apr_pstrcat(ctl->pool, mcpctl_time(ctl->pool, u->expires_at,
                                                    "-"),
                             u->expires_at && u->expires_at <= ctl->now
                             ? " (expired)" : "", NULL);
        row[6] = mcpctl_text(ctl->pool, u->key_id);
        APR_ARRAY_PUSH(rows, const char **) = row;
    }
    mcpctl_print_table(ctl->pool, rows, NCOLS);
    return MCPCTL_OK;
}

static int cmd_revoke(mcpctl_t *ctl, int argc, const char *const *argv)
{
    const char *user = mcpctl_text(ctl->pool, ctl->user);
    const char *name = mcpctl_text(ctl->pool, argv[0]);
    mcp_store_upstream_t *u = NULL;
    mcp_store_t *st;
    revoker_t *rk;
    const char *err = NULL;
    apr_status_t rv;
    int rc, unrevocable;

    if ((rc = revoker_make(ctl, &rk)) != 0
        || (rc = mcpctl_open_store(ctl, &st)) != 0) {
        return rc;
    }
    rv = mcp_store_upstream_get(st, ctl->pool, ctl->user, argv[0], &u);
    if (rv == MCP_ENOTFOUND) {
        return mcpctl_fail("user %s has no link to provider %s", user, name);
    }
    if (rv != APR_SUCCESS) {
        return mcpctl_store_fail(st);
    }
    rv = rk ? revoke_at_provider(ctl, rk, u, &err) : APR_SUCCESS;
    if (rv != APR_SUCCESS && rv != APR_ENOTIMPL) {
        return mcpctl_fail("the link of user %s to provider %s is kept: %s; "
                           KEPT_HINT, user, name, err ? err : "?");
    }
    unrevocable = rv == APR_ENOTIMPL;
    rv = mcp_store_upstream_delete(st, ctl->user, argv[0]);
    if (rv != APR_SUCCESS && rv != MCP_ENOTFOUND) {
        return mcpctl_store_fail(st);
    }
    printf("Deleted the link of user %s to provider %s: the next call asks "
           "the user to link again.\n", user, name);
    if (unrevocable) {
        printf("Its token was not revoked at %s: " UNREVOCABLE ".\n",
               mcpctl_text(ctl->pool, mcp_url_for_log(ctl->pool,
                                                      ctl->revoke_url)));
    }
    else if (rk) {
        printf("Its tokens were revoked at %s.\n",
               mcpctl_text(ctl->pool, mcp_url_for_log(ctl->pool,
                                                      ctl->revoke_url)));
    }
    else {
        fputs(NOT_REVOKED, stdout);
    }
    return MCPCTL_OK;
}

/* purge with --revoke-url: link by link, each deleted once revoked. */
static int purge_revoking(mcpctl_t *ctl, mcp_store_t *st, const revoker_t *rk,
                          const char *provider)
{
    const char *name = mcpctl_text(ctl->pool, provider);
    apr_array_header_t *list;
    int i, done = 0, kept = 0, unrevocable = 0;

    if (mcp_store_upstream_list_provider(st, ctl->pool, provider, &list)
        != APR_SUCCESS) {
        return mcpctl_store_fail(st);
    }
    for (i = 0; i < list->nelts; i++) {
        mcp_store_upstream_t *u = APR_ARRAY_IDX(list, i, mcp_store_upstream_t *);
        const char *err = NULL;
        apr_status_t rv, drv;

        rv = revoke_at_provider(ctl, rk, u, &err);
        if (rv != APR_SUCCESS && rv != APR_ENOTIMPL) {
            mcpctl_fail("kept the link of user %s: %s",
                        mcpctl_text(ctl->pool, u->subject), err ? err : "?");
            kept++;
            continue;
        }
        drv = mcp_store_upstream_delete(st, u->subject, provider);
        if (drv != APR_SUCCESS && drv != MCP_ENOTFOUND) {
            return mcpctl_store_fail(st);
        }
        if (rv == APR_ENOTIMPL) {
            printf("Deleted the link of user %s without revoking its token: "
                   UNREVOCABLE ".\n",
                   mcpctl_text(ctl->pool, u->subject));
            unrevocable++;
            continue;
        }
        done++;
    }
    printf("Revoked at %s and deleted %d links to provider %s.\n",
           mcpctl_text(ctl->pool, mcp_url_for_log(ctl->pool, ctl->revoke_url)),
           done, name);
    if (unrevocable) {
        printf("Deleted %d more links to provider %s whose token the "
               "provider does not revoke (above).\n", unrevocable, name);
    }
    if (kept) {
        return mcpctl_fail("kept %d links to provider %s whose tokens could "
                           "not be revoked (above): " KEPT_HINT, kept, name);
    }
    return MCPCTL_OK;
}

static int cmd_purge(mcpctl_t *ctl, int argc, const char *const *argv)
{
    mcp_store_t *st;
    revoker_t *rk;
    int rc, n = 0;

    if ((rc = revoker_make(ctl, &rk)) != 0
        || (rc = mcpctl_open_store(ctl, &st)) != 0) {
        return rc;
    }
    if (rk) {
        return purge_revoking(ctl, st, rk, argv[0]);
    }
    if (mcp_store_upstream_delete_provider(st, argv[0], &n) != APR_SUCCESS) {
        return mcpctl_store_fail(st);
    }
    printf("Deleted %d links to provider %s.\n", n,
           mcpctl_text(ctl->pool, argv[0]));
    if (n) {
        fputs(NOT_REVOKED, stdout);
    }
    return MCPCTL_OK;
}

const mcpctl_cmd_t mcpctl_provider_cmds[] = {
    { "connections", "NAME", 1, 1, 0, 0, cmd_connections,
      "list every user's link to a provider" },
    { "revoke", "NAME", 1, 1, MCPCTL_OPT_USER | MCPCTL_OPTS_PROVIDER_REVOKE,
      MCPCTL_OPT_USER, cmd_revoke,
      "delete a user's link (--revoke-url: revoke it there first)" },
    { "purge", "NAME", 1, 1, MCPCTL_OPTS_PROVIDER_REVOKE, 0, cmd_purge,
      "delete every link to a provider (--revoke-url: revoke first)" },
    { NULL, NULL, 0, 0, 0, 0, NULL, NULL }
};
