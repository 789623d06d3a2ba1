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

/* Compiled by `make check-install` after every installed header: a
 * third-party module using the contract of include/mod_mcp.h the way the
 * header documents it (optional functions looked up, the optional hook
 * registered). It is compiled with the installed headers only. */

#include <httpd.h>
#include <http_config.h>
#include <mod_mcp.h>

static int on_token(request_rec *r, const mcp_token_info_t *info)
{
    return (info && info->expires_at > info->issued_at && r) ? DECLINED : OK;
}

void use_mod_mcp(apr_pool_t *p);

void use_mod_mcp(apr_pool_t *p)
{
    APR_OPTIONAL_FN_TYPE(mcp_authz_token_get) *token_get =
        APR_RETRIEVE_OPTIONAL_FN(mcp_authz_token_get);
    APR_OPTIONAL_FN_TYPE(mcp_authz_origin_allowed) *origin_allowed =
        APR_RETRIEVE_OPTIONAL_FN(mcp_authz_origin_allowed);
    APR_OPTIONAL_FN_TYPE(mcp_idp_upstream_credential) *upstream =
        APR_RETRIEVE_OPTIONAL_FN(mcp_idp_upstream_credential);
    APR_OPTIONAL_FN_TYPE(mcp_authz_insufficient_scope) *challenge =
        APR_RETRIEVE_OPTIONAL_FN(mcp_authz_insufficient_scope);
    APR_OPTIONAL_FN_TYPE(mcp_idp_provider_known) *provider_known =
        APR_RETRIEVE_OPTIONAL_FN(mcp_idp_provider_known);

    (void)p;
    (void)token_get;
    (void)origin_allowed;
    (void)upstream;
    (void)challenge;
    (void)provider_known;
    mcp_hook_token_accepted(on_token, NULL, NULL, APR_HOOK_MIDDLE);
}
