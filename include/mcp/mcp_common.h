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
 * @file mcp_common.h
 * @brief Conventions shared by every unit of the mod_mcp core library.
 *
 * The core never includes httpd.h. It reports failures as an apr_status_t
 * plus, where a caller may show it, a message allocated from a pool the
 * caller passed in. It logs through a callback that the httpd glue (or
 * mcpctl, or a test) installs with mcp_log_set().
 */
#ifndef MCP_COMMON_H
#define MCP_COMMON_H

#include <stdarg.h>
#include <apr.h>
#include <apr_errno.h>
#include <apr_pools.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Version of the mod_mcp sources, logged by every module at startup. */
#define MCP_VERSION "0.1.0"

/**
 * Log message tag: MCPLOGNO(00001) expands to "MCP00001: ".
 * Numbers come from docs/log-message-tags/next-number; each is used once.
 * httpd's own AH numbers are never reused for our messages.
 */
#define MCPLOGNO(n) "MCP" #n ": "

/**
 * Status codes of our own, in APR's user error space. Everything else
 * is a plain APR (or errno) status.
 */
#define MCP_ERR_BASE        (APR_OS_START_USERERR + 7000)
/** Input could not be parsed (JSON, base64url, PEM, SQL result, ...). */
#define MCP_EPARSE          (MCP_ERR_BASE + 1)
/** Input parsed but is not acceptable (wrong shape, bad value, policy). */
#define MCP_EINVALID        (MCP_ERR_BASE + 2)
/** A configured size, depth or count limit was exceeded. */
#define MCP_ETOOLARGE       (MCP_ERR_BASE + 3)
/** Cryptographic verification failed (signature, GCM tag, AAD). */
#define MCP_EVERIFY         (MCP_ERR_BASE + 4)
/** A token or record has expired. */
#define MCP_EEXPIRED        (MCP_ERR_BASE + 5)
/** A record was not found. */
#define MCP_ENOTFOUND       (MCP_ERR_BASE + 6)
/** A record already exists / a single-use item was already used. */
#define MCP_ECONFLICT       (MCP_ERR_BASE + 7)
/** A timeout elapsed (connect, total, idle). */
#define MCP_ETIMEOUT        (MCP_ERR_BASE + 8)
/** The peer misbehaved (protocol error, closed mid-body, bad status). */
#define MCP_EPROTO          (MCP_ERR_BASE + 9)
/** The store schema is missing or older than this build expects. */
#define MCP_ESCHEMA         (MCP_ERR_BASE + 10)
/** The store (database) is unreachable or failed. */
#define MCP_ESTORE          (MCP_ERR_BASE + 11)
/** The operation was cancelled (by the caller, or its pool went away). */
#define MCP_ECANCELED       (MCP_ERR_BASE + 12)
/** The deadline of a whole batch of operations passed. */
#define MCP_EDEADLINE       (MCP_ERR_BASE + 13)

/**
 * Short name of one of our status codes ("MCP_EPARSE"), or NULL when @a rv
 * is not one of ours.
 */
const char *mcp_status_name(apr_status_t rv);

/**
 * Human-readable text for any status (ours or APR's), for log lines and
 * error messages. Allocated from @a p.
 */
const char *mcp_strerror(apr_pool_t *p, apr_status_t rv);

/** Log levels, numerically equal to httpd's APLOG_* values. */
typedef enum {
    MCP_LOG_EMERG = 0,
    MCP_LOG_ALERT,
    MCP_LOG_CRIT,
    MCP_LOG_ERR,
    MCP_LOG_WARNING,
    MCP_LOG_NOTICE,
    MCP_LOG_INFO,
    MCP_LOG_DEBUG,
    MCP_LOG_TRACE1,
    MCP_LOG_TRACE2
} mcp_log_level_e;

/**
 * The log sink. @a baton is what was given to mcp_log_set(). The message
 * is already formatted and never contains a secret: core code logs ids,
 * sizes and statuses, never tokens, codes, keys or passwords.
 */
typedef void mcp_log_fn(void *baton, const char *file, int line,
                        mcp_log_level_e level, apr_status_t rv,
                        const char *msg);

/** Check whether a message at @a level would be written. */
typedef int mcp_log_enabled_fn(void *baton, mcp_log_level_e level);

/**
 * Install the process-wide log sink (during configuration or child_init
 * only, never at request time). With none installed, messages at
 * MCP_LOG_WARNING or worse go to stderr and the rest is dropped.
 */
void mcp_log_set(mcp_log_fn *fn, mcp_log_enabled_fn *enabled, void *baton);

/** Is @a level currently logged? */
int mcp_log_is_enabled(mcp_log_level_e level);

/** Log a message; use the MCP_LOG_MARK macro for file/line. */
void mcp_log(const char *file, int line, mcp_log_level_e level,
             apr_status_t rv, apr_pool_t *p, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

#define MCP_LOG_MARK __FILE__, __LINE__

#ifdef __cplusplus
}
#endif

#endif /* MCP_COMMON_H */
