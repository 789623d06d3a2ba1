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

/* IP address classes: every range on both sides of its boundaries,
 * IPv6 forms that embed IPv4, and the numeric spellings a resolver takes
 * for an address. No sockets, no DNS. */

#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include "mcp_test.h"
#include "mcp/mcp_addr.h"

/* Parse @host (it must be an IP literal) and classify it. */
static mcp_addr_class_e cls(const char *host)
{
    unsigned char a[16];
    int family = 0;

    ck_assert_msg(mcp_addr_parse(host, &family, a) == 1,
                  "'%s' not parsed as an address", host);
    ck_assert(family == AF_INET || family == AF_INET6);
    return mcp_addr_classify_bytes(family, a);
}

#define ck_class(host, want) do {                                          \
        mcp_addr_class_e got_ = cls(host);                                 \
        ck_assert_msg(got_ == (want), "%s: %s, expected %s", (host),       \
                      mcp_addr_class_name(got_),                           \
                      mcp_addr_class_name(want));                          \
    } while (0)

/* @host parses to exactly the address @want (in the usual notation). */
static void ck_parses_to(const char *host, const char *want)
{
    unsigned char a[16];
    int family = 0;

    ck_assert_msg(mcp_addr_parse(host, &family, a) == 1, "'%s' not parsed",
                  host);
    ck_assert_str_eq(mcp_addr_format(tp, family, a), want);
}

static void ck_not_parsed(const char *host)
{
    unsigned char a[16];
    int family = 12345;

    memset(a, 0x5a, sizeof(a));
    ck_assert_msg(mcp_addr_parse(host, &family, a) == 0, "'%s' parsed as %s",
                  host ? host : "(null)", mcp_addr_format(tp, family, a));
    ck_assert_int_eq(family, 12345);
    ck_assert_int_eq(a[0], 0x5a);
}

START_TEST(v4_private)
{
    ck_class("9.255.255.255", MCP_ADDR_PUBLIC);
    ck_class("10.0.0.0", MCP_ADDR_PRIVATE);
    ck_class("10.255.255.255", MCP_ADDR_PRIVATE);
    ck_class("11.0.0.0", MCP_ADDR_PUBLIC);
    ck_class("172.15.255.255", MCP_ADDR_PUBLIC);
    ck_class("172.16.0.0", MCP_ADDR_PRIVATE);
    ck_class("172.31.255.255", MCP_ADDR_PRIVATE);
    ck_class("172.32.0.0", MCP_ADDR_PUBLIC);
    ck_class("192.167.255.255", MCP_ADDR_PUBLIC);
    ck_class("192.168.0.0", MCP_ADDR_PRIVATE);
    ck_class("192.168.255.255", MCP_ADDR_PRIVATE);
    ck_class("192.169.0.0", MCP_ADDR_PUBLIC);
}
END_TEST

START_TEST(v4_cgnat_link_local_metadata)
{
    ck_class("100.63.255.255", MCP_ADDR_PUBLIC);
    ck_class("100.64.0.0", MCP_ADDR_CGNAT);
    ck_class("100.127.255.255", MCP_ADDR_CGNAT);
    ck_class("100.128.0.0", MCP_ADDR_PUBLIC);
    ck_class("100.100.100.199", MCP_ADDR_CGNAT);
    ck_class("100.100.100.200", MCP_ADDR_METADATA);
    ck_class("169.253.255.255", MCP_ADDR_PUBLIC);
    ck_class("169.254.0.0", MCP_ADDR_LINK_LOCAL);
    ck_class("169.254.169.253", MCP_ADDR_LINK_LOCAL);
    ck_class("169.254.169.254", MCP_ADDR_METADATA);
    ck_class("169.254.169.255", MCP_ADDR_LINK_LOCAL);
    ck_class("169.254.255.255", MCP_ADDR_LINK_LOCAL);
    ck_class("169.255.0.0", MCP_ADDR_PUBLIC);
    ck_class("168.63.129.16", MCP_ADDR_METADATA);
    ck_class("168.63.129.17", MCP_ADDR_PUBLIC);
}
END_TEST

START_TEST(v4_loopback_unspecified)
{
    ck_class("0.0.0.0", MCP_ADDR_UNSPECIFIED);
    ck_class("0.255.255.255", MCP_ADDR_UNSPECIFIED);
    ck_class("1.0.0.0", MCP_ADDR_PUBLIC);
    ck_class("126.255.255.255", MCP_ADDR_PUBLIC);
    ck_class("127.0.0.0", MCP_ADDR_LOOPBACK);
    ck_class("127.0.0.1", MCP_ADDR_LOOPBACK);
    ck_class("127.255.255.255", MCP_ADDR_LOOPBACK);
    ck_class("128.0.0.0", MCP_ADDR_PUBLIC);
}
END_TEST

START_TEST(v4_multicast_reserved)
{
    ck_class("223.255.255.255", MCP_ADDR_PUBLIC);
    ck_class("224.0.0.0", MCP_ADDR_MULTICAST);
    ck_class("239.255.255.255", MCP_ADDR_MULTICAST);
    ck_class("240.0.0.0", MCP_ADDR_RESERVED);
    ck_class("255.255.255.254", MCP_ADDR_RESERVED);
    ck_class("255.255.255.255", MCP_ADDR_RESERVED);
    ck_class("191.255.255.255", MCP_ADDR_PUBLIC);
    ck_class("192.0.0.0", MCP_ADDR_RESERVED);
    ck_class("192.0.0.255", MCP_ADDR_RESERVED);
    ck_class("192.0.1.0", MCP_ADDR_PUBLIC);
    ck_class("192.0.2.0", MCP_ADDR_RESERVED);
    ck_class("192.0.2.255", MCP_ADDR_RESERVED);
    ck_class("192.0.3.0", MCP_ADDR_PUBLIC);
    ck_class("198.51.99.255", MCP_ADDR_PUBLIC);
    ck_class("198.51.100.0", MCP_ADDR_RESERVED);
    ck_class("198.51.100.255", MCP_ADDR_RESERVED);
    ck_class("198.51.101.0", MCP_ADDR_PUBLIC);
    ck_class("203.0.112.255", MCP_ADDR_PUBLIC);
    ck_class("203.0.113.0", MCP_ADDR_RESERVED);
    ck_class("203.0.114.0", MCP_ADDR_PUBLIC);
    ck_class("198.17.255.255", MCP_ADDR_PUBLIC);
    ck_class("198.18.0.0", MCP_ADDR_RESERVED);
    ck_class("198.19.255.255", MCP_ADDR_RESERVED);
    ck_class("198.20.0.0", MCP_ADDR_PUBLIC);
    ck_class("192.88.99.1", MCP_ADDR_RESERVED);
    ck_class("8.8.8.8", MCP_ADDR_PUBLIC);
    ck_class("1.1.1.1", MCP_ADDR_PUBLIC);
}
END_TEST

START_TEST(v6_ranges)
{
    ck_class("::", MCP_ADDR_UNSPECIFIED);
    ck_class("::1", MCP_ADDR_LOOPBACK);
    ck_class("[::1]", MCP_ADDR_LOOPBACK);
    ck_class("::2", MCP_ADDR_UNSPECIFIED);           /* ::0.0.0.2 */
    ck_class("fbff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", MCP_ADDR_RESERVED);
    ck_class("fc00::", MCP_ADDR_PRIVATE);
    ck_class("fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", MCP_ADDR_PRIVATE);
    ck_class("fd00:ec2::254", MCP_ADDR_METADATA);
    ck_class("fd00:ec2::253", MCP_ADDR_PRIVATE);
    ck_class("fe00::", MCP_ADDR_RESERVED);
    ck_class("fe7f:ffff:ffff:ffff:ffff:ffff:ffff:ffff", MCP_ADDR_RESERVED);
    ck_class("fe80::", MCP_ADDR_LINK_LOCAL);
    ck_class("fe80::1", MCP_ADDR_LINK_LOCAL);
    ck_class("febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff", MCP_ADDR_LINK_LOCAL);
    ck_class("fec0::1", MCP_ADDR_PRIVATE);
    ck_class("ff00::", MCP_ADDR_MULTICAST);
    ck_class("ff02::1", MCP_ADDR_MULTICAST);
    ck_class("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", MCP_ADDR_MULTICAST);
    ck_class("2001:db8::1", MCP_ADDR_RESERVED);
    ck_class("2001:db7:ffff::", MCP_ADDR_PUBLIC);
    ck_class("2001:db9::", MCP_ADDR_PUBLIC);
    ck_class("2001::1", MCP_ADDR_RESERVED);           /* Teredo */
    ck_class("2001:1ff::", MCP_ADDR_RESERVED);
    ck_class("2001:200::", MCP_ADDR_PUBLIC);
    ck_class("100::", MCP_ADDR_RESERVED);
    ck_class("100::ffff:ffff:ffff:ffff", MCP_ADDR_RESERVED);
    ck_class("100:0:0:1::", MCP_ADDR_RESERVED);       /* outside 2000::/3 */
    ck_class("3fff::1", MCP_ADDR_RESERVED);
    ck_class("3ffe:ffff::1", MCP_ADDR_PUBLIC);
    ck_class("2606:4700:4700::1111", MCP_ADDR_PUBLIC);
    ck_class("2a00:1450::1", MCP_ADDR_PUBLIC);
    ck_class("4000::1", MCP_ADDR_RESERVED);
    ck_class("1fff:ffff::", MCP_ADDR_RESERVED);
}
END_TEST

START_TEST(v6_embedded_v4)
{
    ck_class("::ffff:127.0.0.1", MCP_ADDR_LOOPBACK);
    ck_class("::ffff:7f00:1", MCP_ADDR_LOOPBACK);
    ck_class("::ffff:10.1.2.3", MCP_ADDR_PRIVATE);
    ck_class("::ffff:169.254.169.254", MCP_ADDR_METADATA);
    ck_class("::ffff:8.8.8.8", MCP_ADDR_PUBLIC);
    ck_class("::ffff:0:10.0.0.1", MCP_ADDR_PRIVATE);  /* IPv4-translated */
    ck_class("::127.0.0.1", MCP_ADDR_LOOPBACK);       /* IPv4-compatible */
    ck_class("::10.0.0.1", MCP_ADDR_PRIVATE);
    ck_class("::8.8.8.8", MCP_ADDR_PUBLIC);
    ck_class("64:ff9b::a9fe:a9fe", MCP_ADDR_METADATA);
    ck_class("64:ff9b::127.0.0.1", MCP_ADDR_LOOPBACK);
    ck_class("64:ff9b::8.8.8.8", MCP_ADDR_PUBLIC);
    ck_class("64:ff9b:1::1", MCP_ADDR_RESERVED);
    ck_class("2002:7f00:1::", MCP_ADDR_LOOPBACK);
    ck_class("2002:a9fe:a9fe::1", MCP_ADDR_METADATA);
    ck_class("2002:c0a8:101::", MCP_ADDR_PRIVATE);
    ck_class("2002:808:808::", MCP_ADDR_PUBLIC);
}
END_TEST

START_TEST(numeric_spellings)
{
    ck_parses_to("2130706433", "127.0.0.1");
    ck_parses_to("0x7f.1", "127.0.0.1");
    ck_parses_to("127.1", "127.0.0.1");
    ck_parses_to("127.0.1", "127.0.0.1");
    ck_parses_to("0177.0.0.1", "127.0.0.1");
    ck_parses_to("0x7f000001", "127.0.0.1");
    ck_parses_to("0X7F000001", "127.0.0.1");
    ck_parses_to("017700000001", "127.0.0.1");
    ck_parses_to("0xa9.0xfe.0xa9.0xfe", "169.254.169.254");
    ck_parses_to("10.0x10203", "10.1.2.3");
    ck_parses_to("0", "0.0.0.0");
    ck_parses_to("0x", "0.0.0.0");
    ck_parses_to("4294967295", "255.255.255.255");
    ck_parses_to("1.16777215", "1.255.255.255");
    ck_parses_to("1.2.65535", "1.2.255.255");
    ck_parses_to("00000000127.0.0.1", "87.0.0.1");    /* octal 127 */
    ck_class("2130706433", MCP_ADDR_LOOPBACK);
    ck_class("0x7f.1", MCP_ADDR_LOOPBACK);
    ck_class("0xa9fea9fe", MCP_ADDR_METADATA);
    /* IPv6 spellings. */
    ck_parses_to("[::1]", "::1");
    ck_parses_to("0:0:0:0:0:0:0:1", "::1");
    ck_parses_to("FE80::1", "fe80::1");
    ck_parses_to("::ffff:127.0.0.1", "::ffff:127.0.0.1");
}
END_TEST

START_TEST(not_addresses)
{
    ck_not_parsed(NULL);
    ck_not_parsed("");
    ck_not_parsed("256.1.1.1");
    ck_not_parsed("1.256.1.1");
    ck_not_parsed("1.1.1.256");
    ck_not_parsed("1.2.3.4.5");
    ck_not_parsed("0x1ffffffff");
    ck_not_parsed("4294967296");
    ck_not_parsed("99999999999999999999999");
    ck_not_parsed("1.16777216");
    ck_not_parsed("1.2.65536");
    ck_not_parsed("08.0.0.1");                         /* not octal */
    ck_not_parsed("0x7g.1");
    ck_not_parsed("1..2");
    ck_not_parsed(".1.2.3");
    ck_not_parsed("127.0.0.1.");
    ck_not_parsed("+1.2.3.4");
    ck_not_parsed("-1");
    ck_not_parsed("1.2.3.4 ");
    ck_not_parsed(" 1.2.3.4");
    ck_not_parsed("1e3");
    ck_not_parsed("example.com");
    ck_not_parsed("localhost");
    ck_not_parsed("127.0.0.1.nip.io");
    ck_not_parsed("1.2.3.4x");
    ck_not_parsed("fe80::1%eth0");
    ck_not_parsed("[fe80::1%25eth0]");
    ck_not_parsed("[::1");
    ck_not_parsed("::1]");
    ck_not_parsed("[]");
    ck_not_parsed("[127.0.0.1]");
    ck_not_parsed("[[::1]]");
    ck_not_parsed(":::1");
    ck_not_parsed("1:2:3:4:5:6:7:8:9");
    ck_not_parsed("::g");
    ck_not_parsed("::ffff:1.2.3");
    ck_not_parsed("[0000000000000000000000000000000000000000000000000000000000000::1]");
}
END_TEST

/* Does traffic to @host stay on this host? */
static int stays_local(const char *host)
{
    unsigned char a[16];
    int family = 0;

    ck_assert_msg(mcp_addr_parse(host, &family, a) == 1, "'%s' not parsed",
                  host);
    return mcp_addr_is_loopback(family, a);
}

START_TEST(loopback_stays_on_host)
{
    ck_assert(stays_local("127.0.0.1"));
    ck_assert(stays_local("127.255.255.255"));
    ck_assert(stays_local("127.1"));
    ck_assert(stays_local("0x7f000001"));
    ck_assert(stays_local("::1"));
    ck_assert(stays_local("[::1]"));
    ck_assert(stays_local("::ffff:127.0.0.1"));
    ck_assert(!stays_local("128.0.0.1"));
    ck_assert(!stays_local("126.255.255.255"));
    ck_assert(!stays_local("0.0.0.0"));
    ck_assert(!stays_local("::"));
    ck_assert(!stays_local("::2"));
    ck_assert(!stays_local("::ffff:128.0.0.1"));
    /* Loopback by class (never connect), yet routed off the host. */
    ck_assert(!stays_local("2002:7f00:1::"));
    ck_assert(!stays_local("64:ff9b::7f00:1"));
    ck_assert(!stays_local("::127.0.0.1"));
    ck_assert(!stays_local("::ffff:0:127.0.0.1"));
    ck_assert(!mcp_addr_is_loopback(AF_INET, NULL));
    ck_assert(!mcp_addr_is_loopback(AF_UNIX, (const unsigned char *)"\x7f\0\0\1"));
}
END_TEST

START_TEST(sockaddr_and_families)
{
    struct sockaddr_in s4;
    struct sockaddr_in6 s6;
    struct sockaddr sa;
    unsigned char b[16] = { 0 };

    memset(&s4, 0, sizeof(s4));
    s4.sin_family = AF_INET;
    s4.sin_addr.s_addr = htonl(0x7f000001);
    ck_assert_int_eq(mcp_addr_classify((struct sockaddr *)&s4, sizeof(s4)),
                     MCP_ADDR_LOOPBACK);
    /* A length too short for the family is not trusted. */
    ck_assert_int_eq(mcp_addr_classify((struct sockaddr *)&s4, 4),
                     MCP_ADDR_RESERVED);
    s4.sin_addr.s_addr = htonl(0x08080808);
    ck_assert_int_eq(mcp_addr_classify((struct sockaddr *)&s4, sizeof(s4)),
                     MCP_ADDR_PUBLIC);

    memset(&s6, 0, sizeof(s6));
    s6.sin6_family = AF_INET6;
    ck_assert_int_eq(inet_pton(AF_INET6, "::ffff:10.0.0.1", &s6.sin6_addr), 1);
    ck_assert_int_eq(mcp_addr_classify((struct sockaddr *)&s6, sizeof(s6)),
                     MCP_ADDR_PRIVATE);
    ck_assert_int_eq(mcp_addr_classify((struct sockaddr *)&s6, sizeof(s4)),
                     MCP_ADDR_RESERVED);

    memset(&sa, 0, sizeof(sa));
    sa.sa_family = AF_UNIX;
    ck_assert_int_eq(mcp_addr_classify(&sa, sizeof(sa)), MCP_ADDR_RESERVED);
    ck_assert_int_eq(mcp_addr_classify(NULL, 0), MCP_ADDR_RESERVED);
    ck_assert_int_eq(mcp_addr_classify_bytes(AF_UNIX, b), MCP_ADDR_RESERVED);
    ck_assert_int_eq(mcp_addr_classify_bytes(AF_INET, NULL), MCP_ADDR_RESERVED);
    ck_assert_str_eq(mcp_addr_format(tp, AF_UNIX, b), "(invalid address)");
}
END_TEST

START_TEST(allow_mask_and_names)
{
    unsigned m = MCP_ADDR_ALLOW(MCP_ADDR_LOOPBACK) | MCP_ADDR_ALLOW(MCP_ADDR_PRIVATE);
    int c;

    ck_assert(mcp_addr_allowed(MCP_ADDR_PUBLIC, 0));
    ck_assert(!mcp_addr_allowed(MCP_ADDR_LOOPBACK, 0));
    ck_assert(mcp_addr_allowed(MCP_ADDR_LOOPBACK, m));
    ck_assert(mcp_addr_allowed(MCP_ADDR_PRIVATE, m));
    ck_assert(!mcp_addr_allowed(MCP_ADDR_METADATA, m));
    ck_assert(!mcp_addr_allowed(MCP_ADDR_LINK_LOCAL, m));
    for (c = MCP_ADDR_PUBLIC; c <= MCP_ADDR_RESERVED; c++) {
        ck_assert(mcp_addr_allowed((mcp_addr_class_e)c, MCP_ADDR_ALLOW_ALL));
        ck_assert(mcp_addr_allowed((mcp_addr_class_e)c, MCP_ADDR_ALLOW(c)));
        ck_assert_ptr_nonnull(mcp_addr_class_name((mcp_addr_class_e)c));
    }
    ck_assert_str_eq(mcp_addr_class_name(MCP_ADDR_PUBLIC), "public");
    ck_assert_str_eq(mcp_addr_class_name(MCP_ADDR_LOOPBACK), "loopback");
    ck_assert_str_eq(mcp_addr_class_name(MCP_ADDR_PRIVATE), "private");
    ck_assert_str_eq(mcp_addr_class_name(MCP_ADDR_LINK_LOCAL), "link-local");
    ck_assert_str_eq(mcp_addr_class_name(MCP_ADDR_METADATA), "cloud metadata");
    ck_assert_str_eq(mcp_addr_class_name(MCP_ADDR_RESERVED), "reserved");
}
END_TEST

static Suite *addr_suite(void)
{
    Suite *s = suite_create("addr");
    TCase *tc;

    tc = mcp_tcase("ipv4");
    tcase_add_test(tc, v4_private);
    tcase_add_test(tc, v4_cgnat_link_local_metadata);
    tcase_add_test(tc, v4_loopback_unspecified);
    tcase_add_test(tc, v4_multicast_reserved);
    suite_add_tcase(s, tc);
    tc = mcp_tcase("ipv6");
    tcase_add_test(tc, v6_ranges);
    tcase_add_test(tc, v6_embedded_v4);
    suite_add_tcase(s, tc);
    tc = mcp_tcase("loopback");
    tcase_add_test(tc, loopback_stays_on_host);
    suite_add_tcase(s, tc);
    tc = mcp_tcase("parse");
    tcase_add_test(tc, numeric_spellings);
    tcase_add_test(tc, not_addresses);
    suite_add_tcase(s, tc);
    tc = mcp_tcase("api");
    tcase_add_test(tc, sockaddr_and_families);
    tcase_add_test(tc, allow_mask_and_names);
    suite_add_tcase(s, tc);
    return s;
}

MCP_TEST_MAIN(addr_suite)
