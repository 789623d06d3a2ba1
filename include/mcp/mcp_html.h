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

/**
 * @file mcp_html.h
 * @brief HTML escaping and the small template language of the pages
 *        people look at (consent, errors), which admins may replace.
 *
 * A template is HTML with placeholders:
 *   {{name}}     the variable, HTML-escaped (safe in text and in quoted
 *                attribute values);
 *   {{{name}}}   the variable as it is: only for fragments the module
 *                built and escaped itself (the list of scopes);
 *   {{#name}}...{{/name}}  the part in between only when the variable is
 *                set and not empty.
 * Unknown variables are empty. Sections do not nest.
 */
#ifndef MCP_HTML_H
#define MCP_HTML_H

#include <apr_pools.h>
#include <apr_tables.h>

#include "mcp/mcp_common.h"

#ifdef __cplusplus
extern "C" {
#endif

/** @a s with & < > " ' escaped (NULL gives ""). */
const char *mcp_html_escape(apr_pool_t *p, const char *s);

/**
 * Check a template: balanced sections, closed placeholders, names of
 * [A-Za-z0-9_], at most @a max bytes.
 * @return APR_SUCCESS or MCP_EINVALID with *perr.
 */
apr_status_t mcp_html_template_check(apr_pool_t *p, const char *tmpl,
                                     apr_size_t max, const char **perr);

/** Render a (checked) template with @a vars. */
const char *mcp_html_render(apr_pool_t *p, const char *tmpl,
                            const apr_table_t *vars);

#ifdef __cplusplus
}
#endif

#endif /* MCP_HTML_H */
