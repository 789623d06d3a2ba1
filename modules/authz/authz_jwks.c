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

/* The mcp-authz-jwks handler: the public signing keys as a JWKS document
 * (RFC 7517), built once in post_config. */

#include <httpd.h>
#include <http_config.h>
#include <http_log.h>
#include <http_protocol.h>
#include <apr_strings.h>

#include "mcp/mcp_common.h"
#include "authz_private.h"

APLOG_USE_MODULE(mcp_authz);

int mcp_authz_jwks_handler(request_rec *r)
{
    mcp_authz_server_conf *conf;
    apr_size_t len;

    if (!r->handler || strcmp(r->handler, MCP_AUTHZ_JWKS_HANDLER)) {
        return DECLINED;
    }
    conf = ap_get_module_config(r->server->module_config, &mcp_authz_module);
    if (r->method_number != M_GET) {
        /* Set here: returning 405 would make httpd build its own list. */
        apr_table_setn(r->headers_out, "Allow", "GET, HEAD");
        r->status = HTTP_METHOD_NOT_ALLOWED;
        ap_set_content_type(r, "text/plain");
        ap_rputs("Method not allowed: use GET\n", r);
        return OK;
    }
    if (!conf->jwks) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, MCPLOGNO(00540)
                      "SetHandler " MCP_AUTHZ_JWKS_HANDLER " is used in a "
                      "server without MCPAuthzIssuer");
        return HTTP_NOT_FOUND;
    }
    len = strlen(conf->jwks);
    ap_set_content_type(r, "application/json");
    apr_table_setn(r->headers_out, "Cache-Control",
                   apr_psprintf(r->pool, "public, max-age=%d",
                                MCP_AUTHZ_JWKS_MAX_AGE));
    ap_set_content_length(r, len);
    if (!r->header_only) {
        ap_rwrite(conf->jwks, (int)len, r);
    }
    return OK;
}
