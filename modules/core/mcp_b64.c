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

#include <string.h>
#include <apr_strings.h>

#include "mcp/mcp_b64.h"
#include "mcp/mcp_crypto.h"

static const char b64url_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

const char *mcp_b64url_encode(apr_pool_t *p, const void *data, apr_size_t len)
{
    const unsigned char *in = data;
    char *out = apr_palloc(p, (len + 2) / 3 * 4 + 1), *o = out;
    apr_size_t i;

    for (i = 0; i + 2 < len; i += 3) {
        *o++ = b64url_alphabet[in[i] >> 2];
        *o++ = b64url_alphabet[((in[i] & 0x03) << 4) | (in[i + 1] >> 4)];
        *o++ = b64url_alphabet[((in[i + 1] & 0x0f) << 2) | (in[i + 2] >> 6)];
        *o++ = b64url_alphabet[in[i + 2] & 0x3f];
    }
    if (len - i == 1) {
        *o++ = b64url_alphabet[in[i] >> 2];
        *o++ = b64url_alphabet[(in[i] & 0x03) << 4];
    }
    else if (len - i == 2) {
        *o++ = b64url_alphabet[in[i] >> 2];
        *o++ = b64url_alphabet[((in[i] & 0x03) << 4) | (in[i + 1] >> 4)];
        *o++ = b64url_alphabet[(in[i + 1] & 0x0f) << 2];
    }
    *o = '\0';
    return out;
}

/* Values of the base64url alphabet, -1 elsewhere (bytes >= 0x80 too). */
static const signed char b64url_values[128] = {
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, 62, -1, -1,
    52, 53, 54, 55, 56, 57, 58, 59, 60, 61, -1, -1, -1, -1, -1, -1,
    -1,  0,  1,  2,  3,  4,  5,  6,  7,  8,  9, 10, 11, 12, 13, 14,
    15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, -1, -1, -1, -1, 63,
    -1, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40,
    41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, -1, -1, -1, -1, -1,
};

/* Value of one character, or -1. @std selects '+' '/' in addition to
 * '-' '_' (the standard alphabet); base64url alone otherwise. */
static int b64_value(unsigned char c, int std)
{
    if (c < 128 && b64url_values[c] >= 0) {
        return b64url_values[c];
    }
    if (std && c == '+') return 62;
    if (std && c == '/') return 63;
    return -1;
}

static apr_status_t decode(unsigned char **pout, apr_size_t *plen,
                           apr_pool_t *p, const char *s, apr_size_t slen,
                           int std)
{
    unsigned char *out;
    apr_size_t i, o = 0;
    apr_uint32_t acc = 0;
    int bits = 0;

    if (!s) {
        return MCP_EPARSE;
    }
    if (slen == (apr_size_t)-1) {
        slen = strlen(s);
    }
    if (std && slen % 4 == 0 && slen > 0) {
        /* Padding only where it completes the last quantum. */
        if (s[slen - 1] == '=') {
            slen--;
            if (s[slen - 1] == '=') {
                slen--;
            }
        }
    }
    if (slen % 4 == 1) {
        return MCP_EPARSE;
    }
    out = apr_palloc(p, slen / 4 * 3 + 3);
    for (i = 0; i < slen; i++) {
        int v = b64_value((unsigned char)s[i], std);

        if (v < 0) {
            /* What was decoded may be part of a key (key files are read
             * with this decoder): leave none of it in the pool. */
            mcp_crypto_wipe(out, o);
            return MCP_EPARSE;
        }
        acc = (acc << 6) | (apr_uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (unsigned char)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    /* Unused low bits of the last character must be zero (canonical). */
    if (acc != 0) {
        mcp_crypto_wipe(out, o);
        return MCP_EPARSE;
    }
    out[o] = '\0';
    *pout = out;
    *plen = o;
    return APR_SUCCESS;
}

apr_status_t mcp_b64url_decode(unsigned char **pout, apr_size_t *plen,
                               apr_pool_t *p, const char *s, apr_size_t slen)
{
    return decode(pout, plen, p, s, slen, 0);
}

apr_status_t mcp_b64_decode_any(unsigned char **pout, apr_size_t *plen,
                                apr_pool_t *p, const char *s, apr_size_t slen)
{
    return decode(pout, plen, p, s, slen, 1);
}
