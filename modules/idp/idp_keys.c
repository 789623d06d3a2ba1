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

/* Loading the MCPIdPVaultKey files into the vault's keyring at startup. */

#include <httpd.h>
#include <http_config.h>
#include <http_log.h>
#include <apr_hash.h>
#include <apr_strings.h>
#include <apr_file_io.h>

#include "mcp/mcp_common.h"
#include "mcp/mcp_crypto.h"
#include "mcp_glue.h"
#include "idp_private.h"

APLOG_USE_MODULE(mcp_idp);

/* The label of the key the link forms' CSRF tokens are made with: derived
 * from the current vault key, so every node that shares the keys accepts
 * the forms of the others, and no key of its own needs managing. */
#define CSRF_LABEL "mod_mcp_idp link forms v1"

typedef struct {
    mcp_keyring_t *kr;
    unsigned char csrf[32];
} loaded_t;

static apr_status_t add_key(mcp_keyring_t *kr, apr_pool_t *ptemp,
                            server_rec *s, const mcp_idp_vault_key_t *k,
                            unsigned char *csrf)
{
    unsigned char key[MCP_AEAD_KEY_LEN];
    const char *err = NULL;
    apr_status_t rv;

    rv = mcp_keyring_load_key_file(key, ptemp, k->path, &err);
    if (rv == APR_SUCCESS) {
        rv = mcp_keyring_add(kr, k->id, key, 0, &err);
    }
    if (rv == APR_SUCCESS && csrf) {
        mcp_crypto_hmac_sha256(csrf, key, sizeof(key), CSRF_LABEL,
                               sizeof(CSRF_LABEL) - 1);
    }
    mcp_crypto_wipe(key, sizeof(key));
    if (rv == APR_SUCCESS) {
        mcp_glue_check_key_file_perms(ptemp, s, APLOG_MODULE_INDEX,
                                      "MCPIdPVaultKey", k->path);
    }
    else {
        /* The core's file messages name the file already. */
        if (!err || !strstr(err, k->path)) {
            err = apr_psprintf(ptemp, "%s: %s", k->path,
                               err ? err : mcp_strerror(ptemp, rv));
        }
        ap_log_error(APLOG_MARK, APLOG_EMERG, mcp_glue_log_status(rv), s,
                     MCPLOGNO(00710) "MCPIdPVaultKey (%s:%u): %s",
                     k->defn_name, k->defn_line, err);
    }
    return rv;
}

static apr_status_t wipe_csrf(void *data)
{
    mcp_crypto_wipe(data, 32);
    return APR_SUCCESS;
}

int mcp_idp_load_vault_keys(apr_pool_t *pconf, apr_pool_t *ptemp,
                            server_rec *s)
{
    /* Virtual hosts that inherit the main server's keys share them. */
    apr_hash_t *loaded = apr_hash_make(ptemp);
    server_rec *sv;
    int i;

    for (sv = s; sv; sv = sv->next) {
        mcp_idp_server_conf *conf =
            ap_get_module_config(sv->module_config, &mcp_idp_module);
        loaded_t *l;

        if (!conf->vault_keys) {
            continue;
        }
        l = apr_hash_get(loaded, &conf->vault_keys, sizeof(void *));
        if (!l) {
            l = apr_pcalloc(ptemp, sizeof(*l));
            if (mcp_keyring_create(&l->kr, pconf) != APR_SUCCESS) {
                return HTTP_INTERNAL_SERVER_ERROR;
            }
            for (i = 0; i < conf->vault_keys->nelts; i++) {
                if (add_key(l->kr, ptemp, s,
                            &APR_ARRAY_IDX(conf->vault_keys, i,
                                           mcp_idp_vault_key_t),
                            i == 0 ? l->csrf : NULL) != APR_SUCCESS) {
                    return HTTP_INTERNAL_SERVER_ERROR;
                }
            }
            apr_pool_cleanup_register(ptemp, l->csrf, wipe_csrf,
                                      apr_pool_cleanup_null);
            apr_hash_set(loaded, apr_pmemdup(ptemp, &conf->vault_keys,
                                             sizeof(void *)),
                         sizeof(void *), l);
            ap_log_error(APLOG_MARK, APLOG_DEBUG, 0, s, MCPLOGNO(00711)
                         "%s: %d vault key(s), sealing with key id %s",
                         mcp_glue_server_desc(ptemp, sv),
                         mcp_keyring_count(l->kr), mcp_keyring_current(l->kr));
        }
        conf->keyring = l->kr;
        memcpy(conf->csrf_key, l->csrf, sizeof(conf->csrf_key));
        conf->have_csrf_key = 1;
    }
    return OK;
}

/* The client secrets: read once at startup, so a secret file may be
 * readable by root only (httpd reads its configuration as root). */
int mcp_idp_load_secrets(apr_pool_t *pconf, server_rec *s)
{
    server_rec *sv;
    int i;

    for (sv = s; sv; sv = sv->next) {
        mcp_idp_server_conf *conf =
            ap_get_module_config(sv->module_config, &mcp_idp_module);

        for (i = 0; conf->providers && i < conf->providers->nelts; i++) {
            mcp_idp_provider_t *pv = &APR_ARRAY_IDX(conf->providers, i,
                                                    mcp_idp_provider_t);
            const char *err = NULL;
            apr_status_t rv;

            if (!pv->secret_file || pv->secret) {
                continue;
            }
            rv = mcp_crypto_read_secret_file(&pv->secret, pconf,
                                             pv->secret_file, 4096, &err);
            if (rv != APR_SUCCESS) {
                ap_log_error(APLOG_MARK, APLOG_EMERG, mcp_glue_log_status(rv),
                             s, MCPLOGNO(01900) "MCPIdPProvider %s (%s:%u): "
                             "secret_file: %s", pv->name, pv->defn_name,
                             pv->defn_line, err);
                return HTTP_INTERNAL_SERVER_ERROR;
            }
        }
    }
    return OK;
}
