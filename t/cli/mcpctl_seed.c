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

/* The other side of mcpctl in t/cli/mcpctl.t: puts into the store what
 * only the gateway makes (codes, refresh tokens, consents) and reads back
 * what mcpctl must have written, through the same store API on SQLite and
 * PostgreSQL alike.
 *
 *   mcpctl_seed DRIVER PARAMS refresh CLIENT SUBJECT HASH EXPIRES_IN
 *   mcpctl_seed DRIVER PARAMS code CLIENT SUBJECT HASH EXPIRES_IN
 *   mcpctl_seed DRIVER PARAMS consent SUBJECT CLIENT RESOURCE SCOPE EXPIRES_IN
 *   mcpctl_seed DRIVER PARAMS upstream SUBJECT PROVIDER SCOPE EXPIRES_IN
 *   mcpctl_seed DRIVER PARAMS upstream-sealed SUBJECT PROVIDER KEYFILE KEYID
 *                                             ACCESS [REFRESH]
 *   mcpctl_seed DRIVER PARAMS upstream-used SUBJECT PROVIDER AGO
 *   mcpctl_seed DRIVER PARAMS refresh-state HASH     live|revoked|absent
 *   mcpctl_seed DRIVER PARAMS code-state HASH        present|absent
 *   mcpctl_seed DRIVER PARAMS consent-state SUBJECT CLIENT RESOURCE
 *                                                    present|expired|absent
 *   mcpctl_seed DRIVER PARAMS revocations            KIND VALUE CREATED EXPIRES
 *   mcpctl_seed DRIVER PARAMS secret-hash CLIENT     the stored hash, or none
 *   mcpctl_seed DRIVER PARAMS secret-ok CLIENT SECRET   exit 0 when it matches
 *
 * EXPIRES_IN is seconds from now, negative for what has expired; AGO
 * seconds before now (when mod_mcp_idp used the link). Exit 0,
 * 1 for a secret that does not match, 2 on errors. */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <apr_general.h>
#include <apr_strings.h>
#include <apr_time.h>

#include "mcp/mcp_crypto.h"
#include "mcp/mcp_oauth.h"
#include "mcp/mcp_store.h"
#include "mcp/mcp_upstream.h"

static int fail(mcp_store_t *st, const char *what)
{
    fprintf(stderr, "mcpctl_seed: %s: %s\n", what, mcp_store_error(st));
    return 2;
}

static int put(mcp_store_t *st, apr_pool_t *p, apr_int64_t now, int argc,
               const char **argv)
{
    const char *what = argv[0];

    if (!strcmp(what, "refresh") && argc == 5) {
        mcp_store_refresh_t r;

        memset(&r, 0, sizeof(r));
        r.client_id = argv[1];
        r.subject = argv[2];
        r.token_hash = argv[3];
        r.family_id = argv[3];
        r.expires_at = now + apr_atoi64(argv[4]);
        r.created_at = r.expires_at - 3600;
        return mcp_store_refresh_put(st, &r) ? fail(st, what) : 0;
    }
    if (!strcmp(what, "code") && argc == 5) {
        mcp_store_code_t c;

        memset(&c, 0, sizeof(c));
        c.client_id = argv[1];
        c.subject = argv[2];
        c.code_hash = argv[3];
        c.redirect_uri = "http://localhost/callback";
        c.code_challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
        c.code_challenge_method = "S256";
        c.expires_at = now + apr_atoi64(argv[4]);
        c.created_at = c.expires_at - 30;
        return mcp_store_code_put(st, &c) ? fail(st, what) : 0;
    }
    if (!strcmp(what, "consent") && argc == 6) {
        mcp_store_consent_t c;

        memset(&c, 0, sizeof(c));
        c.subject = argv[1];
        c.client_id = argv[2];
        c.resource = argv[3];
        c.scope = argv[4];
        c.expires_at = now + apr_atoi64(argv[5]);
        c.granted_at = c.expires_at - 3600;
        return mcp_store_consent_put(st, &c) ? fail(st, what) : 0;
    }
    /* upstream SUBJECT PROVIDER SCOPE EXPIRES_IN: a vault row (sealed
     * with no key: mcpctl only lists and deletes them). */
    if (!strcmp(what, "upstream") && argc == 5) {
        mcp_store_upstream_t u;

        memset(&u, 0, sizeof(u));
        u.subject = argv[1];
        u.provider = argv[2];
        u.scope = argv[3];
        u.sealed = "v1.k1.not-a-real-envelope";
        u.key_id = "k1";
        u.expires_at = now + apr_atoi64(argv[4]);
        u.created_at = u.updated_at = now - 60;
        return mcp_store_upstream_put(st, &u) ? fail(st, what) : 0;
    }
    /* upstream-sealed ...: a vault row as mod_mcp_idp seals it, with the
     * key of KEYFILE under KEYID. */
    if (!strcmp(what, "upstream-sealed") && (argc == 6 || argc == 7)) {
        unsigned char key[MCP_AEAD_KEY_LEN];
        mcp_upstream_tokens_t tok;
        mcp_store_upstream_t u;
        mcp_keyring_t *kr;
        const char *text, *err = NULL;

        memset(&tok, 0, sizeof(tok));
        tok.access_token = argv[5];
        tok.refresh_token = argc == 7 ? argv[6] : NULL;
        text = mcp_upstream_tokens_text(p, &tok);
        memset(&u, 0, sizeof(u));
        u.subject = argv[1];
        u.provider = argv[2];
        u.key_id = argv[4];
        u.created_at = u.updated_at = now;
        if (mcp_keyring_create(&kr, p) != APR_SUCCESS
            || mcp_keyring_load_key_file(key, p, argv[3], &err) != APR_SUCCESS
            || mcp_keyring_add(kr, argv[4], key, 1, &err) != APR_SUCCESS
            || mcp_vault_seal(&u.sealed, p, kr, u.subject, u.provider, text,
                              strlen(text)) != APR_SUCCESS) {
            fprintf(stderr, "mcpctl_seed: %s: %s\n", what, err ? err : "seal");
            return 2;
        }
        return mcp_store_upstream_put(st, &u) ? fail(st, what) : 0;
    }
    /* upstream-used SUBJECT PROVIDER AGO: what mod_mcp_idp notes when it
     * hands the link's credential to a backend. */
    if (!strcmp(what, "upstream-used") && argc == 4) {
        int written = 0;

        if (mcp_store_upstream_touch(st, argv[1], argv[2],
                                     now - apr_atoi64(argv[3]), &written)) {
            return fail(st, what);
        }
        if (!written) {
            fprintf(stderr, "mcpctl_seed: %s: no link of %s to %s, or used "
                    "within the last minute\n", what, argv[1], argv[2]);
            return 2;
        }
        return 0;
    }
    return -1;
}

static int get(mcp_store_t *st, apr_pool_t *p, apr_int64_t now, int argc,
               const char **argv)
{
    const char *what = argv[0];
    apr_status_t rv;

    if (!strcmp(what, "refresh-state") && argc == 2) {
        mcp_store_refresh_t *r;

        rv = mcp_store_refresh_get(st, p, argv[1], &r);
        if (rv && rv != MCP_ENOTFOUND) {
            return fail(st, what);
        }
        puts(rv ? "absent" : r->revoked_at ? "revoked" : "live");
        return 0;
    }
    if (!strcmp(what, "code-state") && argc == 2) {
        mcp_store_code_t *c;

        rv = mcp_store_code_get(st, p, argv[1], &c);
        if (rv && rv != MCP_ENOTFOUND) {
            return fail(st, what);
        }
        puts(rv ? "absent" : "present");
        return 0;
    }
    if (!strcmp(what, "consent-state") && argc == 4) {
        mcp_store_consent_t *c;

        rv = mcp_store_consent_get(st, p, argv[1], argv[2], argv[3], now, &c);
        if (rv && rv != MCP_ENOTFOUND && rv != MCP_EEXPIRED) {
            return fail(st, what);
        }
        puts(rv == MCP_ENOTFOUND ? "absent" : rv ? "expired" : "present");
        return 0;
    }
    return -1;
}

static int check(mcp_store_t *st, apr_pool_t *p, int argc, const char **argv)
{
    const char *what = argv[0];
    apr_array_header_t *list;
    mcp_store_client_t *c;
    int i;

    if (!strcmp(what, "revocations") && argc == 1) {
        if (mcp_store_revocation_since(st, p, 0, &list)) {
            return fail(st, what);
        }
        for (i = 0; i < list->nelts; i++) {
            mcp_store_revocation_t *r = APR_ARRAY_IDX(list, i,
                                                      mcp_store_revocation_t *);

            printf("%s %s %" APR_INT64_T_FMT " %" APR_INT64_T_FMT "\n",
                   r->kind, r->value, r->created_at, r->expires_at);
        }
        return 0;
    }
    if ((!strcmp(what, "secret-hash") && argc == 2)
        || (!strcmp(what, "secret-ok") && argc == 3)) {
        if (mcp_store_client_get(st, p, argv[1], &c)) {
            return fail(st, what);
        }
        if (argc == 2) {
            puts(c->secret_hash ? c->secret_hash : "none");
            return 0;
        }
        return c->secret_hash
               && mcp_oauth_secret_verify(p, c->secret_hash, argv[2]) ? 0 : 1;
    }
    return -1;
}

int main(int argc, const char *const *argv)
{
    apr_pool_t *p;
    mcp_store_t *st;
    const char *err = NULL;
    apr_int64_t now;
    int rc;

    if (argc < 4) {
        fputs("usage: mcpctl_seed DRIVER PARAMS WHAT ARGS... (see the "
              "source)\n", stderr);
        return 2;
    }
    if (apr_app_initialize(&argc, &argv, NULL) != APR_SUCCESS
        || apr_pool_create(&p, NULL) != APR_SUCCESS) {
        return 2;
    }
    atexit(apr_terminate);
    if (mcp_store_open(&st, p, argv[1], argv[2], &err) != APR_SUCCESS) {
        fprintf(stderr, "mcpctl_seed: %s\n", err ? err : "cannot open");
        return 2;
    }
    now = apr_time_sec(apr_time_now());
    argc -= 3;
    argv += 3;
    if ((rc = put(st, p, now, argc, (const char **)argv)) < 0
        && (rc = get(st, p, now, argc, (const char **)argv)) < 0
        && (rc = check(st, p, argc, (const char **)argv)) < 0) {
        fprintf(stderr, "mcpctl_seed: bad arguments for '%s'\n", argv[0]);
        rc = 2;
    }
    apr_pool_destroy(p);
    return rc;
}
