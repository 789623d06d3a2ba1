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

/* Loading the MCPAuthzSigningKey files at startup and building the JWKS
 * the mcp-authz-jwks handler serves. */

#include <httpd.h>
#include <http_config.h>
#include <http_log.h>
#include <apr_hash.h>
#include <apr_strings.h>

#include "mcp/mcp_common.h"
#include "mcp/mcp_crypto.h"
#include "mcp/mcp_jose.h"
#include "mcp_glue.h"
#include "authz_private.h"

APLOG_USE_MODULE(mcp_authz);

/* The HMAC key of consent forms, derived from the signing key so that
 * every node with the same keys accepts the forms of every other one. */
static void derive_csrf_key(unsigned char out[32], const mcp_ec_key_t *ec)
{
    unsigned char x[MCP_EC_COORD_LEN], y[MCP_EC_COORD_LEN], d[MCP_EC_COORD_LEN];
    static const char label[] = "mod_mcp consent form CSRF key v1";

    if (mcp_ec_key_coords(ec, x, y, d) != APR_SUCCESS) {
        mcp_crypto_random(out, 32);
        return;
    }
    mcp_crypto_hmac_sha256(out, d, sizeof(d), label, sizeof(label) - 1);
    mcp_crypto_wipe(d, sizeof(d));
}

/* Load every file of @files into one key set, in order (the first signs);
 * *pcsrf gets the CSRF key derived from the first. */
static apr_status_t load_keyset(mcp_jose_keyset_t **pset, apr_pool_t *pconf,
                                apr_pool_t *ptemp, server_rec *s,
                                const apr_array_header_t *files,
                                unsigned char *pcsrf)
{
    mcp_jose_keyset_t *set;
    apr_status_t rv;
    int i;

    rv = mcp_jose_keyset_create(&set, pconf);
    if (rv != APR_SUCCESS) {
        return rv;
    }
    for (i = 0; i < files->nelts; i++) {
        const char *path = APR_ARRAY_IDX(files, i, const char *);
        const char *err = NULL;
        mcp_ec_key_t *ec;
        mcp_jose_key_t *key;

        rv = mcp_ec_key_load_file(&ec, pconf, path, &err);
        if (rv == APR_SUCCESS) {
            rv = mcp_jose_key_from_ec(&key, pconf, ec, NULL, &err);
        }
        if (rv != APR_SUCCESS) {
            /* The core's messages name the file already. */
            if (!err || !strstr(err, path)) {
                err = apr_psprintf(ptemp, "%s: %s", path,
                                   err ? err : mcp_strerror(ptemp, rv));
            }
            ap_log_error(APLOG_MARK, APLOG_EMERG, mcp_glue_log_status(rv), s,
                         MCPLOGNO(00530) "MCPAuthzSigningKey: %s (an "
                         "unencrypted EC P-256 private key in PEM is "
                         "needed)", err);
            return rv;
        }
        mcp_glue_check_key_file_perms(ptemp, s, APLOG_MODULE_INDEX,
                                      "MCPAuthzSigningKey", path);
        if (i == 0) {
            derive_csrf_key(pcsrf, ec);
        }
        rv = mcp_jose_keyset_add(set, key);
        if (rv != APR_SUCCESS) {
            ap_log_error(APLOG_MARK, APLOG_EMERG, mcp_glue_log_status(rv), s,
                         MCPLOGNO(00531)
                         "MCPAuthzSigningKey %s: the same key is configured "
                         "twice (key id %s)", path, mcp_jose_key_kid(key));
            return rv;
        }
    }
    *pset = set;
    return APR_SUCCESS;
}

int mcp_authz_load_keys(apr_pool_t *pconf, apr_pool_t *ptemp, server_rec *s)
{
    /* Virtual hosts that inherit the main server's list share its keys. */
    apr_hash_t *loaded = apr_hash_make(ptemp);
    apr_hash_t *csrf = apr_hash_make(ptemp);
    server_rec *sv;

    for (sv = s; sv; sv = sv->next) {
        mcp_authz_server_conf *conf =
            ap_get_module_config(sv->module_config, &mcp_authz_module);
        mcp_jose_keyset_t *set;

        if (!conf->issuer) {
            continue;
        }
        set = apr_hash_get(loaded, &conf->key_files, sizeof(void *));
        if (!set) {
            unsigned char *key = apr_palloc(ptemp, 32);

            if (load_keyset(&set, pconf, ptemp, s, conf->key_files, key)
                != APR_SUCCESS) {
                return HTTP_INTERNAL_SERVER_ERROR;
            }
            apr_hash_set(loaded, apr_pmemdup(ptemp, &conf->key_files,
                                             sizeof(void *)),
                         sizeof(void *), set);
            apr_hash_set(csrf, apr_pmemdup(ptemp, &conf->key_files,
                                           sizeof(void *)),
                         sizeof(void *), key);
            ap_log_error(APLOG_MARK, APLOG_DEBUG, 0, s, MCPLOGNO(00532)
                         "%s: %d signing key(s), signing with %s",
                         mcp_glue_server_desc(ptemp, sv),
                         mcp_jose_keyset_count(set),
                         mcp_jose_key_kid(mcp_jose_keyset_get(set, 0)));
        }
        conf->keys = set;
        memcpy(conf->csrf_key, apr_hash_get(csrf, &conf->key_files,
                                            sizeof(void *)), 32);
        conf->jwks = mcp_jose_jwks_json(pconf, set);
        if (!conf->jwks) {
            ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s, MCPLOGNO(00533)
                         "cannot build the JWKS of %s",
                         mcp_glue_server_desc(ptemp, sv));
            return HTTP_INTERNAL_SERVER_ERROR;
        }
    }
    return OK;
}
