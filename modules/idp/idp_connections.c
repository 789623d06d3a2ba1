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

/* <base>/connections: the signed-in user's links (HTML, or JSON with
 * ?format=json or Accept: application/json). */

#include <httpd.h>
#include <http_config.h>
#include <http_core.h>
#include <http_log.h>
#include <http_protocol.h>
#include <apr_strings.h>
#include <apr_time.h>

#include "mcp/mcp_common.h"
#include "mcp/mcp_html.h"
#include "mcp/mcp_json.h"
#include "mcp/mcp_url.h"
#include "mcp_glue.h"
#include "idp_private.h"

APLOG_USE_MODULE(mcp_idp);

int mcp_idp_connections(request_rec *r, mcp_idp_server_conf *conf);

static int wants_json(request_rec *r)
{
    const char *accept = apr_table_get(r->headers_in, "Accept");
    apr_table_t *q = NULL;
    const char *f;

    if (r->args && mcp_url_form_decode(&q, r->pool, r->args, strlen(r->args),
                                       16, 1024, NULL) == APR_SUCCESS
        && (f = apr_table_get(q, "format"))) {
        return !strcmp(f, "json");
    }
    return accept && strstr(accept, "application/json")
        && !strstr(accept, "text/html");
}

static const char *when(apr_pool_t *p, apr_int64_t t)
{
    char buf[APR_RFC822_DATE_LEN];

    if (!t) {
        return "";
    }
    apr_rfc822_date(buf, apr_time_from_sec(t));
    return apr_pstrdup(p, buf);
}

int mcp_idp_connections(request_rec *r, mcp_idp_server_conf *conf)
{
    apr_pool_t *p = r->pool;
    apr_array_header_t *links;
    mcp_store_t *st = mcp_idp_store(r);
    mcp_json_t *doc, *arr;
    const char *rows = "";
    int i;

    if (!st) {
        return mcp_idp_error_page(r, HTTP_SERVICE_UNAVAILABLE, "Try again "
                                  "later", "The gateway's store is not "
                                  "available right now.");
    }
    if (mcp_store_upstream_list(st, p, r->user, &links) != APR_SUCCESS) {
        return mcp_idp_error_page(r, HTTP_SERVICE_UNAVAILABLE, "Try again "
                                  "later", "The gateway's store is not "
                                  "available right now.");
    }
    doc = mcp_json_object(p);
    arr = mcp_json_array(p);
    mcp_json_set_str(doc, "user", r->user);
    for (i = 0; i < links->nelts; i++) {
        const mcp_store_upstream_t *u = APR_ARRAY_IDX(links, i,
                                                      mcp_store_upstream_t *);
        mcp_json_t *o = mcp_json_object(p);

        mcp_json_set_str(o, "provider", u->provider);
        mcp_json_set_str(o, "scope", u->scope ? u->scope : "");
        mcp_json_set_int(o, "linked_at", u->created_at);
        mcp_json_set_int(o, "updated_at", u->updated_at);
        if (u->expires_at) {
            mcp_json_set_int(o, "expires_at", u->expires_at);
        }
        mcp_json_set_bool(o, "configured",
                          mcp_idp_provider_find(conf, u->provider) != NULL);
        mcp_json_append(arr, o);
        rows = apr_pstrcat(p, rows, "<tr><td>", mcp_html_escape(p, u->provider),
                           "</td><td><code>", mcp_html_escape(p, u->scope),
                           "</code></td><td>", when(p, u->created_at),
                           "</td><td>", when(p, u->updated_at),
                           "</td></tr>\n", NULL);
    }
    mcp_json_set(doc, "connections", arr);
    if (wants_json(r)) {
        return mcp_idp_send_json(r, HTTP_OK, mcp_json_dump(p, doc, 0, NULL));
    }
    return mcp_idp_send_html(r, HTTP_OK, mcp_idp_page(p, "Your connections",
        apr_pstrcat(p, "<p>Signed in as <strong>", mcp_html_escape(p, r->user),
                    "</strong>.</p>\n",
                    *rows ? apr_pstrcat(p, "<table>\n<tr><th>Provider</th>"
                                        "<th>Scopes</th><th>Linked</th>"
                                        "<th>Last renewed</th></tr>\n", rows,
                                        "</table>\n", NULL)
                          : "<p>No linked accounts.</p>\n", NULL)));
}
