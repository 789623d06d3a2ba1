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

#include <stdio.h>
#include <apr_strings.h>

#include "mcp/mcp_common.h"

/* Written only during configuration / child_init (see mcp_log_set). */
static mcp_log_fn *log_fn;
static mcp_log_enabled_fn *log_enabled_fn;
static void *log_baton;

void mcp_log_set(mcp_log_fn *fn, mcp_log_enabled_fn *enabled, void *baton)
{
    log_fn = fn;
    log_enabled_fn = enabled;
    log_baton = baton;
}

int mcp_log_is_enabled(mcp_log_level_e level)
{
    if (log_fn) {
        return log_enabled_fn ? log_enabled_fn(log_baton, level) : 1;
    }
    return level <= MCP_LOG_WARNING;
}

void mcp_log(const char *file, int line, mcp_log_level_e level,
             apr_status_t rv, apr_pool_t *p, const char *fmt, ...)
{
    apr_pool_t *scratch = NULL;
    const char *msg;
    va_list ap;

    if (!mcp_log_is_enabled(level)) {
        return;
    }
    /* A private subpool keeps a chatty caller from growing @p. */
    if (apr_pool_create(&scratch, p) != APR_SUCCESS) {
        return;
    }
    va_start(ap, fmt);
    msg = apr_pvsprintf(scratch, fmt, ap);
    va_end(ap);

    if (log_fn) {
        log_fn(log_baton, file, line, level, rv, msg);
    }
    else if (rv != APR_SUCCESS) {
        fprintf(stderr, "%s (%s)\n", msg, mcp_strerror(scratch, rv));
    }
    else {
        fprintf(stderr, "%s\n", msg);
    }
    apr_pool_destroy(scratch);
}

static const struct {
    apr_status_t rv;
    const char *name;
    const char *text;
} mcp_status_table[] = {
    { MCP_EPARSE,    "MCP_EPARSE",    "input could not be parsed" },
    { MCP_EINVALID,  "MCP_EINVALID",  "input is not acceptable" },
    { MCP_ETOOLARGE, "MCP_ETOOLARGE", "a size, depth or count limit was exceeded" },
    { MCP_EVERIFY,   "MCP_EVERIFY",   "cryptographic verification failed" },
    { MCP_EEXPIRED,  "MCP_EEXPIRED",  "expired" },
    { MCP_ENOTFOUND, "MCP_ENOTFOUND", "not found" },
    { MCP_ECONFLICT, "MCP_ECONFLICT", "already exists or already used" },
    { MCP_ETIMEOUT,  "MCP_ETIMEOUT",  "timed out" },
    { MCP_EPROTO,    "MCP_EPROTO",    "protocol error from the peer" },
    { MCP_ESCHEMA,   "MCP_ESCHEMA",   "store schema missing or outdated" },
    { MCP_ESTORE,    "MCP_ESTORE",    "store unavailable or failed" },
    { MCP_ECANCELED, "MCP_ECANCELED", "cancelled" },
    { MCP_EDEADLINE, "MCP_EDEADLINE", "the deadline of the batch passed" },
};

const char *mcp_status_name(apr_status_t rv)
{
    apr_size_t i;

    for (i = 0; i < sizeof(mcp_status_table) / sizeof(mcp_status_table[0]); i++) {
        if (mcp_status_table[i].rv == rv) {
            return mcp_status_table[i].name;
        }
    }
    return NULL;
}

const char *mcp_strerror(apr_pool_t *p, apr_status_t rv)
{
    char buf[256];
    apr_size_t i;

    for (i = 0; i < sizeof(mcp_status_table) / sizeof(mcp_status_table[0]); i++) {
        if (mcp_status_table[i].rv == rv) {
            return mcp_status_table[i].text;
        }
    }
    return apr_pstrdup(p, apr_strerror(rv, buf, sizeof(buf)));
}
