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
 * @file mcp_addr.h
 * @brief IP address classification: the one place that says which
 *        addresses are loopback, private, cloud metadata, ...
 *
 * Used by the URL rules (is this host loopback?) and by the HTTP client's
 * connect-time guard (may we connect to this resolved address?). Pure
 * functions: no sockets, no DNS, no allocation except where a pool is
 * passed.
 *
 * An IPv6 address that embeds an IPv4 address is classified by the
 * embedded address: IPv4-mapped (::ffff:0:0/96), IPv4-translated
 * (::ffff:0:0:0/96), IPv4-compatible (::/96 except :: and ::1), NAT64
 * (64:ff9b::/96) and 6to4 (2002::/16, the IPv4 address in bits 16-47).
 * So ::ffff:127.0.0.1 is loopback and 64:ff9b::a9fe:a9fe is metadata.
 *
 * Families are the system's AF_INET and AF_INET6 (<sys/socket.h>).
 */
#ifndef MCP_ADDR_H
#define MCP_ADDR_H

#include <apr_pools.h>

#include "mcp/mcp_common.h"

#ifdef __cplusplus
extern "C" {
#endif

struct sockaddr;

/** What an address is; more specific classes are checked first. */
typedef enum {
    MCP_ADDR_PUBLIC = 0,     /**< globally routable unicast */
    MCP_ADDR_LOOPBACK,       /**< 127.0.0.0/8, ::1 */
    MCP_ADDR_PRIVATE,        /**< 10/8, 172.16/12, 192.168/16, fc00::/7,
                                  fec0::/10 (deprecated site-local) */
    MCP_ADDR_LINK_LOCAL,     /**< 169.254/16, fe80::/10 */
    MCP_ADDR_CGNAT,          /**< 100.64.0.0/10 (RFC 6598 shared space) */
    MCP_ADDR_METADATA,       /**< cloud metadata services: 169.254.169.254,
                                  fd00:ec2::254, 100.100.100.200,
                                  168.63.129.16 (checked before the wider
                                  classes that contain them) */
    MCP_ADDR_MULTICAST,      /**< 224/4, ff00::/8 */
    MCP_ADDR_UNSPECIFIED,    /**< 0.0.0.0/8, :: */
    MCP_ADDR_RESERVED        /**< not globally routable for another reason:
                                  240/4 (with 255.255.255.255), 192.0.0/24,
                                  192.0.2/24, 198.51.100/24, 203.0.113/24,
                                  198.18/15, 192.88.99/24; 2001::/23
                                  (Teredo, benchmarking, ORCHID),
                                  2001:db8::/32, 3fff::/20, 100::/64,
                                  5f00::/16, 64:ff9b:1::/48, and IPv6
                                  outside 2000::/3 not named above;
                                  an unknown address family */
} mcp_addr_class_e;

/** Bit of class @a c in an allow mask (PUBLIC needs no bit). */
#define MCP_ADDR_ALLOW(c)   (1u << (c))
/** An allow mask that lets every class through. */
#define MCP_ADDR_ALLOW_ALL  0xffffffffu

/**
 * Classify a socket address (AF_INET or AF_INET6).
 * @param salen its length; too short for its family, a NULL @a sa or
 *        another family gives MCP_ADDR_RESERVED.
 */
mcp_addr_class_e mcp_addr_classify(const struct sockaddr *sa,
                                   apr_size_t salen);

/**
 * Classify a raw address in network byte order: 4 bytes for AF_INET,
 * 16 for AF_INET6. Another family (or a NULL @a addr) is
 * MCP_ADDR_RESERVED.
 */
mcp_addr_class_e mcp_addr_classify_bytes(int family,
                                         const unsigned char *addr);

/**
 * May an address of class @a c be used under @a allow_mask (an OR of
 * MCP_ADDR_ALLOW() bits)? MCP_ADDR_PUBLIC is always allowed.
 */
int mcp_addr_allowed(mcp_addr_class_e c, unsigned allow_mask);

/**
 * Name of a class for messages: "public", "loopback", "private",
 * "link-local", "carrier-grade NAT", "cloud metadata", "multicast",
 * "unspecified", "reserved". Never NULL.
 */
const char *mcp_addr_class_name(mcp_addr_class_e c);

/**
 * Does traffic to this address stay on this host: 127.0.0.0/8, ::1 or
 * ::ffff:127.0.0.0/104? mcp_addr_classify_bytes() also calls the tunnel
 * and translation forms of 127/8 (6to4, NAT64, IPv4-compatible) loopback,
 * since they must not be connected to either; their packets leave the
 * host, though, so they do not count here. This is the test for letting
 * plain http through.
 */
int mcp_addr_is_loopback(int family, const unsigned char *addr);

/**
 * Parse a host that is an IP literal, the way the system resolver
 * (inet_aton, then inet_pton for IPv6) would take it, so that a check
 * sees the address a connection would go to:
 *  - IPv4 as 1 to 4 dot-separated parts, each decimal, octal (leading 0)
 *    or hex (0x); the last part fills the remaining bytes: "127.1",
 *    "0x7f.1", "2130706433", "0177.0.0.1" are all 127.0.0.1. A part out
 *    of range ("256.1.1.1", "0x1ffffffff"), more than four parts, an
 *    empty part or trailing dot, or a sign is not an address;
 *  - IPv6 in the textual forms of RFC 4291 (also with an embedded
 *    dotted IPv4), with or without [brackets]. A zone id ("fe80::1%eth0")
 *    is refused.
 * @param pfamily set to AF_INET or AF_INET6 on success
 * @param addr    set to the address in network byte order (4 or 16 bytes)
 * @return 1 when @a host is an IP literal, 0 when it is a name, invalid
 *         or NULL (then nothing is written).
 */
int mcp_addr_parse(const char *host, int *pfamily, unsigned char addr[16]);

/**
 * The address in its usual text form ("127.0.0.1", "::1",
 * "::ffff:10.0.0.1"), from @a p; "(invalid address)" for a family other
 * than AF_INET/AF_INET6.
 */
const char *mcp_addr_format(apr_pool_t *p, int family,
                            const unsigned char *addr);

#ifdef __cplusplus
}
#endif

#endif /* MCP_ADDR_H */
