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

/* IP address classes and IP literal parsing. Tables of prefixes, most
 * specific first: the first match decides. */

#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <apr_lib.h>
#include <apr_strings.h>

#include "mcp/mcp_addr.h"

typedef struct {
    unsigned char prefix[16];
    unsigned bits;
    mcp_addr_class_e cls;
} addr_range_t;

/* Does @a addr start with the first @a bits bits of @a prefix? */
static int in_prefix(const unsigned char *addr, const unsigned char *prefix,
                     unsigned bits)
{
    unsigned full = bits / 8, rest = bits % 8;

    if (memcmp(addr, prefix, full)) {
        return 0;
    }
    if (rest) {
        unsigned char mask = (unsigned char)(0xff << (8 - rest));

        return (addr[full] & mask) == (prefix[full] & mask);
    }
    return 1;
}

static mcp_addr_class_e lookup(const addr_range_t *t, apr_size_t n,
                               const unsigned char *addr,
                               mcp_addr_class_e otherwise)
{
    apr_size_t i;

    for (i = 0; i < n; i++) {
        if (in_prefix(addr, t[i].prefix, t[i].bits)) {
            return t[i].cls;
        }
    }
    return otherwise;
}

/* IANA IPv4 special-purpose registry, plus the metadata services. */
static const addr_range_t v4_ranges[] = {
    /* Metadata endpoints sit inside wider classes: they come first. */
    /* AWS, GCP, Azure, OCI; Alibaba Cloud; Azure WireServer */
    { { 169, 254, 169, 254 }, 32, MCP_ADDR_METADATA },
    { { 100, 100, 100, 200 }, 32, MCP_ADDR_METADATA },
    { { 168, 63, 129, 16 }, 32, MCP_ADDR_METADATA },
    { { 0 }, 8, MCP_ADDR_UNSPECIFIED },
    { { 127 }, 8, MCP_ADDR_LOOPBACK },
    { { 10 }, 8, MCP_ADDR_PRIVATE },
    { { 172, 16 }, 12, MCP_ADDR_PRIVATE },
    { { 192, 168 }, 16, MCP_ADDR_PRIVATE },
    { { 169, 254 }, 16, MCP_ADDR_LINK_LOCAL },
    { { 100, 64 }, 10, MCP_ADDR_CGNAT },
    { { 224 }, 4, MCP_ADDR_MULTICAST },
    { { 240 }, 4, MCP_ADDR_RESERVED },                   /* and broadcast */
    { { 192, 0, 0 }, 24, MCP_ADDR_RESERVED },            /* IETF protocol */
    { { 192, 0, 2 }, 24, MCP_ADDR_RESERVED },            /* TEST-NET-1 */
    { { 198, 51, 100 }, 24, MCP_ADDR_RESERVED },         /* TEST-NET-2 */
    { { 203, 0, 113 }, 24, MCP_ADDR_RESERVED },          /* TEST-NET-3 */
    { { 198, 18 }, 15, MCP_ADDR_RESERVED },              /* benchmarking */
    { { 192, 88, 99 }, 24, MCP_ADDR_RESERVED },          /* 6to4 relay */
};

/* IANA IPv6 special-purpose registry (the embedding prefixes are handled
 * in classify6() before this table). */
static const addr_range_t v6_ranges[] = {
    /* AWS fd00:ec2::254 */
    { { 0xfd, 0x00, 0x0e, 0xc2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x02, 0x54 },
      128, MCP_ADDR_METADATA },
    { { 0xfc }, 7, MCP_ADDR_PRIVATE },                   /* unique local */
    { { 0xfe, 0xc0 }, 10, MCP_ADDR_PRIVATE },            /* old site-local */
    { { 0xfe, 0x80 }, 10, MCP_ADDR_LINK_LOCAL },
    { { 0xff }, 8, MCP_ADDR_MULTICAST },
    /* local-use NAT64 (RFC 8215) */
    { { 0x00, 0x64, 0xff, 0x9b, 0x00, 0x01 }, 48, MCP_ADDR_RESERVED },
    { { 0x01, 0x00 }, 64, MCP_ADDR_RESERVED },           /* discard */
    /* IETF protocol assignments: Teredo, benchmarking, ORCHID, ... */
    { { 0x20, 0x01, 0x00, 0x00 }, 23, MCP_ADDR_RESERVED },
    { { 0x20, 0x01, 0x0d, 0xb8 }, 32, MCP_ADDR_RESERVED }, /* documentation */
    { { 0x3f, 0xff }, 20, MCP_ADDR_RESERVED },           /* documentation */
    { { 0x5f, 0x00 }, 16, MCP_ADDR_RESERVED },           /* SRv6 SIDs */
};

static mcp_addr_class_e classify4(const unsigned char *a)
{
    return lookup(v4_ranges, sizeof(v4_ranges) / sizeof(v4_ranges[0]), a,
                  MCP_ADDR_PUBLIC);
}

static int all_zero(const unsigned char *a, apr_size_t n)
{
    apr_size_t i;

    for (i = 0; i < n; i++) {
        if (a[i]) {
            return 0;
        }
    }
    return 1;
}

static const unsigned char v4_mapped[12] =
    { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

static mcp_addr_class_e classify6(const unsigned char *a)
{
    static const unsigned char translated[12] =
        { 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0 };
    static const unsigned char nat64[12] =
        { 0x00, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0 };

    if (all_zero(a, 15)) {
        return a[15] == 0 ? MCP_ADDR_UNSPECIFIED
             : a[15] == 1 ? MCP_ADDR_LOOPBACK
             : classify4(a + 12);                /* IPv4-compatible */
    }
    /* A connection to these reaches (or is translated to) the embedded
     * IPv4 address, so that is what decides. */
    if (all_zero(a, 12) || !memcmp(a, v4_mapped, 12)
        || !memcmp(a, translated, 12) || !memcmp(a, nat64, 12)) {
        return classify4(a + 12);
    }
    if (a[0] == 0x20 && a[1] == 0x02) {
        return classify4(a + 2);                 /* 6to4 */
    }
    return lookup(v6_ranges, sizeof(v6_ranges) / sizeof(v6_ranges[0]), a,
                  /* only 2000::/3 is allocated as global unicast */
                  (a[0] & 0xe0) == 0x20 ? MCP_ADDR_PUBLIC
                                        : MCP_ADDR_RESERVED);
}

mcp_addr_class_e mcp_addr_classify_bytes(int family,
                                         const unsigned char *addr)
{
    if (!addr) {
        return MCP_ADDR_RESERVED;
    }
    if (family == AF_INET) {
        return classify4(addr);
    }
    if (family == AF_INET6) {
        return classify6(addr);
    }
    return MCP_ADDR_RESERVED;
}

mcp_addr_class_e mcp_addr_classify(const struct sockaddr *sa,
                                   apr_size_t salen)
{
    if (!sa) {
        return MCP_ADDR_RESERVED;
    }
    if (sa->sa_family == AF_INET && salen >= sizeof(struct sockaddr_in)) {
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;

        return classify4((const unsigned char *)&s4->sin_addr);
    }
    if (sa->sa_family == AF_INET6 && salen >= sizeof(struct sockaddr_in6)) {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;

        return classify6((const unsigned char *)&s6->sin6_addr);
    }
    return MCP_ADDR_RESERVED;
}

int mcp_addr_is_loopback(int family, const unsigned char *addr)
{
    if (!addr) {
        return 0;
    }
    if (family == AF_INET) {
        return addr[0] == 127;
    }
    if (family == AF_INET6) {
        return (all_zero(addr, 15) && addr[15] == 1)
            || (!memcmp(addr, v4_mapped, 12) && addr[12] == 127);
    }
    return 0;
}

int mcp_addr_allowed(mcp_addr_class_e c, unsigned allow_mask)
{
    if (c == MCP_ADDR_PUBLIC) {
        return 1;
    }
    if ((unsigned)c >= 32) {
        return 0;
    }
    return (allow_mask & MCP_ADDR_ALLOW(c)) != 0;
}

const char *mcp_addr_class_name(mcp_addr_class_e c)
{
    switch (c) {
    case MCP_ADDR_PUBLIC:      return "public";
    case MCP_ADDR_LOOPBACK:    return "loopback";
    case MCP_ADDR_PRIVATE:     return "private";
    case MCP_ADDR_LINK_LOCAL:  return "link-local";
    case MCP_ADDR_CGNAT:       return "carrier-grade NAT";
    case MCP_ADDR_METADATA:    return "cloud metadata";
    case MCP_ADDR_MULTICAST:   return "multicast";
    case MCP_ADDR_UNSPECIFIED: return "unspecified";
    case MCP_ADDR_RESERVED:    return "reserved";
    }
    return "reserved";
}

static int digit_value(int c, int base)
{
    int v;

    if (apr_isdigit(c)) {
        v = c - '0';
    }
    else if (base == 16 && apr_isxdigit(c)) {
        v = apr_tolower(c) - 'a' + 10;
    }
    else {
        return -1;
    }
    return v < base ? v : -2;
}

/* inet_aton's grammar: 1-4 parts, C-style bases, the last part filling
 * the remaining bytes. A resolver turns "127.1" into 127.0.0.1, so a
 * check that took it for a name would be fooled. */
static int parse4(const char *s, unsigned char out[4])
{
    apr_uint64_t part[4], v, max;
    int n = 0, i;

    for (;;) {
        int base = 10, d;

        if (!apr_isdigit(*s) || n == 4) {
            return 0;
        }
        if (*s == '0') {
            s++;
            base = 8;
            if (*s == 'x' || *s == 'X') {
                /* "0x" alone is 0, as for inet_aton */
                base = 16;
                s++;
            }
        }
        for (v = 0; (d = digit_value((unsigned char)*s, base)) >= 0; s++) {
            v = v * (apr_uint64_t)base + (apr_uint64_t)d;
            if (v > 0xffffffffu) {
                return 0;
            }
        }
        if (d == -2) {
            return 0;                            /* 8 or 9 in octal */
        }
        part[n++] = v;
        if (*s == '\0') {
            break;
        }
        if (*s++ != '.') {
            return 0;
        }
    }
    for (i = 0; i < n - 1; i++) {
        if (part[i] > 255) {
            return 0;
        }
    }
    max = 0xffffffffu >> (8 * (n - 1));
    if (part[n - 1] > max) {
        return 0;
    }
    v = part[n - 1];
    for (i = 0; i < n - 1; i++) {
        v |= part[i] << (8 * (3 - i));
    }
    out[0] = (unsigned char)(v >> 24);
    out[1] = (unsigned char)(v >> 16);
    out[2] = (unsigned char)(v >> 8);
    out[3] = (unsigned char)v;
    return 1;
}

static int parse6(const char *host, unsigned char out[16])
{
    char buf[64];
    apr_size_t len = strlen(host);

    if (host[0] == '[') {
        if (len < 3 || host[len - 1] != ']') {
            return 0;
        }
        host++;
        len -= 2;
    }
    if (len >= sizeof(buf) || !memchr(host, ':', len)
        || memchr(host, '%', len) || memchr(host, '[', len)
        || memchr(host, ']', len)) {
        return 0;
    }
    memcpy(buf, host, len);
    buf[len] = '\0';
    return inet_pton(AF_INET6, buf, out) == 1;
}

int mcp_addr_parse(const char *host, int *pfamily, unsigned char addr[16])
{
    unsigned char tmp[16];

    if (!host || !*host) {
        return 0;
    }
    if (parse4(host, tmp)) {
        memcpy(addr, tmp, 4);
        *pfamily = AF_INET;
        return 1;
    }
    if (parse6(host, tmp)) {
        memcpy(addr, tmp, 16);
        *pfamily = AF_INET6;
        return 1;
    }
    return 0;
}

const char *mcp_addr_format(apr_pool_t *p, int family,
                            const unsigned char *addr)
{
    char buf[INET6_ADDRSTRLEN];

    if (addr && family == AF_INET) {
        return apr_psprintf(p, "%u.%u.%u.%u", addr[0], addr[1], addr[2],
                            addr[3]);
    }
    if (addr && family == AF_INET6
        && inet_ntop(AF_INET6, addr, buf, sizeof(buf))) {
        return apr_pstrdup(p, buf);
    }
    return "(invalid address)";
}
