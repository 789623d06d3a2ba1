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

/* mcp_idp_upstream_credential(): the user's upstream token for a backend,
 * refreshed before it expires, one refresh at a time per link.
 *
 * A refresh (see mcp_store.h, "the vault"): take the row's lease; the row
 * read again under the lease tells whether someone refreshed meanwhile
 * (then use theirs); else refresh at the provider and store the new tokens
 * compare-and-set on the version first read. Whoever finds the lease taken
 * polls the row until its version moves, and uses what the winner stored. */

#include <httpd.h>
#include <http_config.h>
#include <http_core.h>
#include <http_log.h>
#include <apr_strings.h>
#include <apr_thread_proc.h>
#include <apr_portable.h>

#include <unistd.h>

#include "mcp/mcp_common.h"
#include "mcp/mcp_crypto.h"
#include "mcp/mcp_scope.h"
#include "mcp/mcp_url.h"
#include "mcp_glue.h"
#include "idp_private.h"

APLOG_USE_MODULE(mcp_idp);

typedef struct {
    request_rec *r;
    mcp_idp_server_conf *conf;
    const mcp_idp_provider_t *pv;
    mcp_store_t *st;
    mcp_idp_error_t *err;
} cred_t;

const char *mcp_idp_authorize_url(request_rec *r,
                                  const mcp_idp_server_conf *conf,
                                  const mcp_idp_provider_t *pv,
                                  const char *scope)
{
    apr_pool_t *p = r->pool;
    const char *path;

    if (pv->mode == MCP_IDP_MODE_PERSONAL) {
        path = apr_pstrcat(p, mcp_idp_link_base(conf), "/connections", NULL);
    }
    else {
        apr_array_header_t *set = NULL;
        const char *list = "";
        int i;

        mcp_scope_parse(&set, p, scope, NULL);
        for (i = 0; set && i < set->nelts; i++) {
            list = apr_pstrcat(p, list, i ? "," : "",
                               mcp_url_encode(p, APR_ARRAY_IDX(set, i,
                                                               const char *)),
                               NULL);
        }
        path = apr_pstrcat(p, mcp_idp_link_base(conf),
                           "/authorize?provider_name=",
                           mcp_url_encode(p, pv->name),
                           *list ? "&scopes=" : "", list, NULL);
    }
    return ap_construct_url(p, path, r);
}

/* Fill in what the user must do (type NULL: nothing they can do). */
static apr_status_t fail(cred_t *c, const char *type, const char *reason,
                         const char *message)
{
    apr_pool_t *p = c->r->pool;
    mcp_idp_error_t *e = apr_pcalloc(p, sizeof(*e));
    const char *scope = c->pv ? c->pv->scope : NULL;

    e->type = type;
    e->provider = c->pv ? c->pv->name : NULL;
    e->reason = reason;
    if (mcp_scope_parse(&e->scopes, p, scope, NULL) != APR_SUCCESS) {
        e->scopes = mcp_scope_set_make(p);
    }
    if (type && c->pv) {
        e->authorize_url = mcp_idp_authorize_url(c->r, c->conf, c->pv, scope);
        e->message = apr_psprintf(p, "%s: open %s", message,
                                  e->authorize_url);
    }
    else {
        e->message = message;
    }
    c->err = e;
    return type ? MCP_ENOTFOUND : APR_EGENERAL;
}

static apr_status_t need_link(cred_t *c)
{
    return c->pv->mode == MCP_IDP_MODE_PERSONAL
        ? fail(c, "OAuthConnectionRequired", NULL,
               apr_psprintf(c->r->pool, "Add your %s token on the gateway's "
                            "Connections page first", c->pv->name))
        : fail(c, "OAuthConnectionRequired", NULL,
               apr_psprintf(c->r->pool, "Connect your %s account first",
                            c->pv->name));
}

static apr_status_t open_row(cred_t *c, const mcp_store_upstream_t *u,
                             mcp_upstream_tokens_t **ptok)
{
    apr_status_t rv = mcp_upstream_tokens_open(ptok, c->r->pool,
                                               c->conf->keyring, u->sealed,
                                               u->subject, u->provider);

    if (rv != APR_SUCCESS) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, mcp_glue_log_status(rv), c->r,
                      MCPLOGNO(01916) "the vault record of %s at %s does not "
                      "open (key id %s): the user must link again",
                      u->subject, u->provider, u->key_id);
    }
    return rv;
}

/* The lease holder: this thread of this process. The host name and pid
 * are for whoever reads the row; the process's random tag makes it
 * unique, as two nodes behind one origin share their ServerName and may
 * share pids (containers) and thread ids (addresses without ASLR), and a
 * holder that matches another's takes its lease. */
static const char *holder(request_rec *r)
{
    return apr_psprintf(r->pool, "%s:%ld:%s:%lu", r->server->server_hostname
                        ? r->server->server_hostname : "-", (long)getpid(),
                        mcp_idp_process_tag(),
                        (unsigned long)apr_os_thread_current());
}

/* The tokens of a row someone else refreshed (its version moved). */
static apr_status_t take_theirs(cred_t *c, mcp_store_upstream_t *u,
                                mcp_upstream_tokens_t **ptok)
{
    if (open_row(c, u, ptok) != APR_SUCCESS) {
        return need_link(c);
    }
    return APR_SUCCESS;
}

/* Wait for another holder's refresh, whose lease ends at @a until: poll
 * the row until its version moves (then use its tokens). APR_EAGAIN: the
 * lease was given back or ran out without new tokens, so the caller may
 * refresh itself. */
static apr_status_t wait_for_refresh(cred_t *c, apr_int64_t version,
                                     apr_int64_t until,
                                     mcp_upstream_tokens_t **ptok)
{
    request_rec *r = c->r;
    mcp_store_upstream_t *u;
    apr_time_t end = apr_time_now()
        + apr_time_from_sec(MCP_IDP_LEASE_WAIT_MAX);
    apr_status_t rv;

    if (until > 0 && apr_time_from_sec(until + 1) < end) {
        end = apr_time_from_sec(until + 1);
    }
    while (apr_time_now() < end) {
        apr_sleep(apr_time_from_msec(MCP_IDP_LEASE_POLL_MS));
        rv = mcp_store_upstream_get(c->st, r->pool, r->user, c->pv->name, &u);
        if (rv == MCP_ENOTFOUND) {
            return need_link(c);
        }
        if (rv == APR_SUCCESS && u->version != version) {
            return take_theirs(c, u, ptok);
        }
        if (rv == APR_SUCCESS
            && (!u->lease_holder || u->lease_until <= mcp_idp_now())) {
            /* Released without a new token (their refresh failed), or the
             * holder is gone: the caller may take the lease itself. */
            return APR_EAGAIN;
        }
    }
    ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r, MCPLOGNO(01917)
                  "refresh of %s's %s token by another process did not "
                  "finish in time", r->user, c->pv->name);
    return fail(c, NULL, NULL, apr_psprintf(r->pool, "The %s token is being "
                                            "renewed; try again", c->pv->name));
}

/* Seal @a tok into the row of @a u, compare-and-set on the version @a u
 * was read at; that also ends the lease (mcp_store_upstream_update_cas()). */
static apr_status_t store_tokens(cred_t *c, const mcp_store_upstream_t *u,
                                 const mcp_upstream_tokens_t *tok)
{
    mcp_store_upstream_t nu;
    apr_status_t rv;

    rv = mcp_idp_seal_row(&nu, c->r, c->conf, c->r->user, c->pv->name, tok,
                          tok->scope ? tok->scope : u->scope);
    return rv == APR_SUCCESS
        ? mcp_store_upstream_update_cas(c->st, &nu, u->version) : rv;
}

/* The provider said invalid_grant: the refresh token is dead (expired,
 * revoked, or its grant ended), and every later call would send it again
 * for the same answer. Keep the row without it (the access token may
 * still be good until it expires; then the user is asked to link again
 * without a call to the provider). A row someone changed meanwhile (a new
 * link) is left as it is. Ends the lease (held by @a who) either way. */
static void forget_refresh_token(cred_t *c, const mcp_store_upstream_t *u,
                                 const mcp_upstream_tokens_t *old,
                                 const char *who)
{
    request_rec *r = c->r;
    mcp_upstream_tokens_t kept = *old;
    apr_status_t rv;

    kept.refresh_token = NULL;
    kept.refresh_expires_at = 0;
    kept.expires_at = u->expires_at;    /* the row's, not the sealed text's */
    kept.scope = u->scope;
    rv = store_tokens(c, u, &kept);
    if (rv == APR_SUCCESS) {
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, MCPLOGNO(02034)
                      "dropped %s's dead %s refresh token: the link needs "
                      "to be made again once its access token expires",
                      r->user, c->pv->name);
        return;
    }
    mcp_store_upstream_release(c->st, r->user, c->pv->name, who);
    if (rv != MCP_ECONFLICT && rv != MCP_ENOTFOUND) {
        ap_log_rerror(APLOG_MARK, APLOG_WARNING, mcp_glue_log_status(rv), r,
                      MCPLOGNO(02035) "cannot drop %s's dead %s refresh "
                      "token from the store: %s", r->user, c->pv->name,
                      mcp_store_error(c->st));
    }
}

static apr_status_t refresh(cred_t *c, mcp_store_upstream_t *u,
                            const mcp_upstream_tokens_t *old,
                            mcp_upstream_tokens_t **ptok)
{
    request_rec *r = c->r;
    const mcp_idp_provider_t *pv = c->pv;
    const char *who = holder(r), *oerr = NULL, *err = NULL;
    mcp_upstream_tokens_t *tok;
    mcp_store_upstream_t *now_row;
    apr_int64_t now = mcp_idp_now(), until = 0;
    apr_status_t rv;

    rv = mcp_store_upstream_lease(c->st, r->user, pv->name, who, now,
                                  now + MCP_IDP_LEASE_SECONDS, &until);
    if (rv == MCP_ECONFLICT) {
        rv = wait_for_refresh(c, u->version, until, ptok);
        if (rv != APR_EAGAIN) {
            return rv;
        }
        /* Once more, ourselves (a failed or abandoned refresh). */
        now = mcp_idp_now();
        rv = mcp_store_upstream_lease(c->st, r->user, pv->name, who, now,
                                      now + MCP_IDP_LEASE_SECONDS, &until);
        if (rv == MCP_ECONFLICT) {
            return fail(c, NULL, NULL, apr_psprintf(r->pool, "The %s token is "
                                                    "being renewed; try "
                                                    "again", pv->name));
        }
    }
    if (rv == MCP_ENOTFOUND) {
        return need_link(c);
    }
    if (rv != APR_SUCCESS) {
        return fail(c, NULL, NULL, "The gateway's store is not available");
    }
    /* Someone may have refreshed between our read and the lease. */
    if (mcp_store_upstream_get(c->st, r->pool, r->user, pv->name, &now_row)
        == APR_SUCCESS && now_row->version != u->version) {
        mcp_store_upstream_release(c->st, r->user, pv->name, who);
        return take_theirs(c, now_row, ptok);
    }
    rv = mcp_idp_token_request(r, pv, NULL, NULL, NULL, old->refresh_token,
                               &tok, &oerr, &err);
    if (rv != APR_SUCCESS) {
        if (oerr && !strcmp(oerr, "invalid_grant")) {
            forget_refresh_token(c, u, old, who);
        }
        else {
            mcp_store_upstream_release(c->st, r->user, pv->name, who);
        }
        ap_log_rerror(APLOG_MARK, oerr ? APLOG_INFO : APLOG_ERR,
                      mcp_glue_log_status(rv), r, MCPLOGNO(01918)
                      "refreshing %s's %s token failed: %s", r->user,
                      pv->name, err ? err : "?");
        if (oerr) {
            return fail(c, "OAuthTokenExpired", oerr,
                        apr_psprintf(r->pool, "Your %s link has expired "
                                     "(%s); link it again", pv->name, oerr));
        }
        return fail(c, NULL, NULL, apr_psprintf(r->pool, "The %s token cannot "
                                                "be renewed right now",
                                                pv->name));
    }
    /* A provider that does not rotate refresh tokens sends none back. */
    if (!tok->refresh_token) {
        tok->refresh_token = old->refresh_token;
        tok->refresh_expires_at = u->refresh_expires_at;
    }
    rv = store_tokens(c, u, tok);
    if (rv == MCP_ECONFLICT) {
        /* A newer link or refresh won: its tokens, never ours over them. */
        if (mcp_store_upstream_get(c->st, r->pool, r->user, pv->name,
                                   &now_row) == APR_SUCCESS) {
            return take_theirs(c, now_row, ptok);
        }
        return need_link(c);
    }
    if (rv == MCP_ENOTFOUND) {
        return need_link(c);
    }
    if (rv != APR_SUCCESS) {
        mcp_store_upstream_release(c->st, r->user, pv->name, who);
        ap_log_rerror(APLOG_MARK, APLOG_ERR, mcp_glue_log_status(rv), r,
                      MCPLOGNO(01919) "storing the refreshed %s token of %s "
                      "failed: %s", pv->name, r->user, mcp_store_error(c->st));
        /* The new token is good for this call; the next one refreshes. */
    }
    ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r, MCPLOGNO(01920)
                  "refreshed %s's %s token (version %" APR_INT64_T_FMT ")",
                  r->user, pv->name, u->version + 1);
    *ptok = tok;
    return APR_SUCCESS;
}

/* How long before its expiry a token is refreshed: a minute, or half its
 * lifetime when it lives less than two (else a token of 30 seconds would
 * be refreshed at every call). */
static apr_int64_t margin(const mcp_store_upstream_t *u)
{
    apr_int64_t life = u->expires_at - u->updated_at;

    if (life > 0 && life / 2 < MCP_IDP_REFRESH_MARGIN) {
        return life / 2;
    }
    return MCP_IDP_REFRESH_MARGIN;
}

/* Note that the link's credential goes to a backend (its "last used" on
 * the Connections page and in mcpctl provider connections). The row read
 * for this call tells whether that was noted recently, so most calls do
 * not even send the store's conditional UPDATE; a failure here never
 * fails the call. */
static void note_use(cred_t *c, const mcp_store_upstream_t *u, apr_int64_t now)
{
    apr_status_t rv;

    if (u->last_used_at >= now - MCP_STORE_UPSTREAM_TOUCH_INTERVAL) {
        return;
    }
    rv = mcp_store_upstream_touch(c->st, u->subject, u->provider, now, NULL);
    if (rv != APR_SUCCESS) {
        ap_log_rerror(APLOG_MARK, APLOG_DEBUG, mcp_glue_log_status(rv), c->r,
                      MCPLOGNO(02020) "noting the use of %s's %s link "
                      "failed: %s", u->subject, u->provider,
                      mcp_store_error(c->st));
    }
}

static apr_status_t credential(request_rec *r, const char *provider,
                               const char *refused, const char **pheader,
                               const char **pvalue, mcp_idp_error_t **perr,
                               void **pdbd);

/* The store on a connection of its own, given back before returning: a
 * GET stream asks once and then holds its request for minutes, and must
 * not hold one of mod_dbd's few connections all that time. */
apr_status_t mcp_idp_upstream_credential(request_rec *r, const char *provider,
                                         const char *rejected,
                                         const char **pheader,
                                         const char **pvalue,
                                         mcp_idp_error_t **perr)
{
    void *dbd = NULL;
    apr_status_t rv = credential(r, provider, rejected, pheader, pvalue, perr,
                                 &dbd);

    mcp_glue_store_close(r, dbd);
    return rv;
}

/* The link is open (@a *ptok): is it fit for a call? A personal token
 * the backend refused, missing scopes, or a token that expires soon (or
 * was @a rejected) and is refreshed now. */
static apr_status_t check_row(cred_t *c, mcp_store_upstream_t *u,
                              mcp_upstream_tokens_t **ptok, int rejected,
                              apr_int64_t now)
{
    request_rec *r = c->r;
    const char *missing;

    if (c->pv->mode == MCP_IDP_MODE_PERSONAL) {
        return rejected ? fail(c, "OAuthTokenExpired", "token_rejected",
                               apr_psprintf(r->pool, "The backend refused "
                                            "your %s token; replace it",
                                            c->pv->name))
                        : APR_SUCCESS;
    }
    if (*(missing = mcp_upstream_missing_scopes(r->pool, c->pv->scope,
                                                u->scope))) {
        return fail(c, "OAuthConnectionRequired", "scope_upgrade_required",
                    apr_psprintf(r->pool, "Your %s link lacks the scopes %s; "
                                 "link it again", c->pv->name, missing));
    }
    if (!rejected && !(u->expires_at && u->expires_at - now <= margin(u))) {
        return APR_SUCCESS;
    }
    if ((*ptok)->refresh_token) {
        return refresh(c, u, *ptok, ptok);
    }
    if (rejected || (u->expires_at && u->expires_at <= now)) {
        return fail(c, "OAuthTokenExpired", rejected ? "token_rejected"
                                                     : "token_expired",
                    apr_psprintf(r->pool, "Your %s link has expired; link "
                                 "it again", c->pv->name));
    }
    return APR_SUCCESS;
}

static apr_status_t credential(request_rec *r, const char *provider,
                               const char *refused, const char **pheader,
                               const char **pvalue, mcp_idp_error_t **perr,
                               void **pdbd)
{
    cred_t c;
    mcp_store_upstream_t *u;
    mcp_upstream_tokens_t *tok = NULL;
    apr_int64_t now = mcp_idp_now();
    apr_status_t rv;
    int rejected = 0;

    memset(&c, 0, sizeof(c));
    c.r = r;
    c.conf = ap_get_module_config(r->server->module_config, &mcp_idp_module);
    *pheader = *pvalue = NULL;
    *perr = NULL;
    c.pv = mcp_idp_provider_find(c.conf, provider);
    if (!c.pv || !c.conf->keyring) {
        rv = fail(&c, NULL, NULL, apr_psprintf(r->pool, "%s is not an "
                                               "MCPIdPProvider of this server",
                                               provider));
        *perr = c.err;
        return rv;
    }
    if (!r->user || !*r->user) {
        rv = fail(&c, NULL, NULL, "the request has no user");
        *perr = c.err;
        return rv;
    }
    if (!(c.st = mcp_glue_store_open(r, APLOG_MODULE_INDEX, pdbd))) {
        rv = fail(&c, NULL, NULL, "The gateway's store is not available");
        *perr = c.err;
        return rv;
    }
    rv = mcp_store_upstream_get(c.st, r->pool, r->user, provider, &u);
    if (rv == MCP_ENOTFOUND) {
        rv = need_link(&c);
    }
    else if (rv != APR_SUCCESS) {
        rv = fail(&c, NULL, NULL, "The gateway's store is not available");
    }
    else if (open_row(&c, u, &tok) != APR_SUCCESS) {
        rv = need_link(&c);
    }
    else {
        /* Refused is the token the link still holds, not one a parallel
         * request has put in its place meanwhile (that one is given). */
        rejected = refused && !strcmp(refused,
                                      apr_pstrcat(r->pool, c.pv->prefix,
                                                  tok->access_token, NULL));
        rv = check_row(&c, u, &tok, rejected, now);
    }
    if (rv != APR_SUCCESS) {
        *perr = c.err;
        return rv;
    }
    note_use(&c, u, now);
    *pheader = c.pv->header;
    *pvalue = apr_pstrcat(r->pool, c.pv->prefix, tok->access_token, NULL);
    return APR_SUCCESS;
}
