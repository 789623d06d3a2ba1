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

/* Between the two halves of the HTTP client (mcp_http.c, mcp_curl.c) and
 * its unit test. */
#ifndef MCP_HTTP_PRIVATE_H
#define MCP_HTTP_PRIVATE_H

#include "mcp/mcp_http.h"

/* Does @a url (the request's own) pass req->url_rules, as the client
 * applies them (MCP_URL_OTHER_SCHEMES ignored)? MCP_EINVALID with *perr
 * when not. */
apr_status_t mcp_http_url_allowed(apr_pool_t *p, const mcp_http_request_t *req,
                                  const char *url, const char **perr);

#endif /* MCP_HTTP_PRIVATE_H */
