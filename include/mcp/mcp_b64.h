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
 * @file mcp_b64.h
 * @brief Strict base64url (RFC 4648 §5) and standard base64 decoding.
 *
 * base64url is written without padding, as JOSE and OAuth use it. The
 * decoder is strict so that one value has exactly one encoding: it
 * rejects '=' padding, '+' and '/', whitespace, any other character, a
 * length that leaves a single trailing character, and non-zero unused
 * bits in the last character.
 */
#ifndef MCP_B64_H
#define MCP_B64_H

#include <apr_pools.h>

#include "mcp/mcp_common.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Encode @a len bytes as unpadded base64url, NUL-terminated, from @a p. */
const char *mcp_b64url_encode(apr_pool_t *p, const void *data, apr_size_t len);

/**
 * Decode unpadded base64url. @a slen is the length of @a s, or
 * (apr_size_t)-1 for a NUL-terminated string. The output is NUL-terminated
 * (not counted in *plen) so text can be used as a C string.
 * @return APR_SUCCESS or MCP_EPARSE (nothing is written to *pout then).
 */
apr_status_t mcp_b64url_decode(unsigned char **pout, apr_size_t *plen,
                               apr_pool_t *p, const char *s, apr_size_t slen);

/**
 * Decode standard base64 (RFC 4648 §4, '+' '/'), with or without correct
 * '=' padding; also accepts the base64url alphabet. Used for key files
 * made with `openssl rand -base64 32`. Whitespace is not skipped: callers
 * trim line ends first.
 */
apr_status_t mcp_b64_decode_any(unsigned char **pout, apr_size_t *plen,
                                apr_pool_t *p, const char *s, apr_size_t slen);

#ifdef __cplusplus
}
#endif

#endif /* MCP_B64_H */
