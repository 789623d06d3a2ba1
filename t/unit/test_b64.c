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


/* base64url (RFC 4648 §5) as JOSE and OAuth use it: unpadded output, and a
 * decoder that takes exactly one encoding per value. Each rejection rule
 * has its own test. */

#include <apr_strings.h>

#include "mcp_test.h"
#include "mcp/mcp_b64.h"

static const char url_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* Decoding @s must fail with MCP_EPARSE and leave the outputs alone. */
static void assert_rejected(const char *s, apr_size_t len)
{
    unsigned char *dec = NULL;
    apr_size_t n = 99;

    ck_assert_msg(mcp_b64url_decode(&dec, &n, tp, s, len) == MCP_EPARSE,
                  "'%s' accepted", s ? s : "(null)");
    ck_assert_ptr_null(dec);
    ck_assert_uint_eq(n, 99);
}

START_TEST(rfc4648_vectors)
{
    /* RFC 4648 §10, without the padding. */
    static const char *in[] = { "", "f", "fo", "foo", "foob", "fooba", "foobar" };
    static const char *out[] = { "", "Zg", "Zm8", "Zm9v", "Zm9vYg", "Zm9vYmE", "Zm9vYmFy" };
    unsigned char *dec;
    apr_size_t n, i;

    for (i = 0; i < 7; i++) {
        ck_assert_str_eq(mcp_b64url_encode(tp, in[i], strlen(in[i])), out[i]);
        ck_assert_status(mcp_b64url_decode(&dec, &n, tp, out[i], (apr_size_t)-1),
                         APR_SUCCESS);
        ck_assert_uint_eq(n, strlen(in[i]));
        ck_assert(memcmp(dec, in[i], n) == 0);
        ck_assert_int_eq(dec[n], 0);
    }
    /* The URL alphabet: '-' and '_' where base64 has '+' and '/'. */
    ck_assert_str_eq(mcp_b64url_encode(tp, "\xfb\xff", 2), "-_8");
    ck_assert_str_eq(mcp_b64url_encode(tp, "\xfb\xef\xbe", 3), "----");
    ck_assert_str_eq(mcp_b64url_encode(tp, "\xff\xff\xff", 3), "____");
}
END_TEST

START_TEST(roundtrip_all_lengths)
{
    unsigned char all[300];
    unsigned char *dec;
    apr_size_t n, i, j;

    for (i = 0; i < sizeof(all); i++) {
        all[i] = (unsigned char)(i * 151 + 7);
    }
    for (i = 0; i <= sizeof(all); i++) {
        const char *e = mcp_b64url_encode(tp, all, i);

        /* No padding: ceil(4n/3) characters, all from the URL alphabet. */
        ck_assert_uint_eq(strlen(e), (4 * i + 2) / 3);
        for (j = 0; e[j]; j++) {
            ck_assert_msg(strchr(url_alphabet, e[j]) != NULL, "'%c' in output", e[j]);
        }
        ck_assert_status(mcp_b64url_decode(&dec, &n, tp, e, (apr_size_t)-1), APR_SUCCESS);
        ck_assert_uint_eq(n, i);
        ck_assert(memcmp(dec, all, i) == 0);
        /* The explicit length gives the same result. */
        ck_assert_status(mcp_b64url_decode(&dec, &n, tp, e, strlen(e)), APR_SUCCESS);
        ck_assert_uint_eq(n, i);
    }
}
END_TEST

START_TEST(rejects_padding)
{
    assert_rejected("Zg==", (apr_size_t)-1);
    assert_rejected("Zg=", (apr_size_t)-1);
    assert_rejected("Zm8=", (apr_size_t)-1);
    assert_rejected("Zm9v=", (apr_size_t)-1);
    assert_rejected("Zm9v====", (apr_size_t)-1);
    assert_rejected("=", (apr_size_t)-1);
    assert_rejected("====", (apr_size_t)-1);
    assert_rejected("Z=g", (apr_size_t)-1);
}
END_TEST

START_TEST(rejects_standard_alphabet)
{
    assert_rejected("Zm+v", (apr_size_t)-1);
    assert_rejected("Zm/v", (apr_size_t)-1);
    assert_rejected("+/8", (apr_size_t)-1);
    assert_rejected("++++", (apr_size_t)-1);
}
END_TEST

START_TEST(rejects_whitespace)
{
    assert_rejected("Zm9 v", (apr_size_t)-1);
    assert_rejected(" Zm9v", (apr_size_t)-1);
    assert_rejected("Zm9v ", (apr_size_t)-1);
    assert_rejected("Zm9v\n", (apr_size_t)-1);
    assert_rejected("Zm9v\r\n", (apr_size_t)-1);
    assert_rejected("Zm\t9v", (apr_size_t)-1);
    assert_rejected("Zm9v\nYmFy", (apr_size_t)-1);
}
END_TEST

START_TEST(rejects_impossible_lengths)
{
    /* 4k+1 characters cannot come from any byte string. */
    assert_rejected("Z", (apr_size_t)-1);
    assert_rejected("A", (apr_size_t)-1);
    assert_rejected("Zm9vY", (apr_size_t)-1);
    assert_rejected("AAAAAAAAA", (apr_size_t)-1);
    assert_rejected("Zm9vYmFy", 5);
}
END_TEST

START_TEST(rejects_nonzero_trailing_bits)
{
    unsigned char *dec;
    apr_size_t n;
    int v;

    /* "Zh" and "Zm9" decode to the same bytes as "Zg" and "Zm8" if the
     * unused bits are ignored: they must not be. */
    assert_rejected("Zh", (apr_size_t)-1);
    assert_rejected("Zm9", (apr_size_t)-1);
    /* Exhaustively: the last of two characters carries 2 data bits (4
     * unused), the last of three carries 4 (2 unused). */
    for (v = 0; v < 64; v++) {
        const char *two = apr_psprintf(tp, "A%c", url_alphabet[v]);
        const char *three = apr_psprintf(tp, "AA%c", url_alphabet[v]);
        apr_status_t rv2 = mcp_b64url_decode(&dec, &n, tp, two, (apr_size_t)-1);
        apr_status_t rv3 = mcp_b64url_decode(&dec, &n, tp, three, (apr_size_t)-1);

        ck_assert_msg(rv2 == ((v & 0x0f) ? MCP_EPARSE : APR_SUCCESS), "'%s'", two);
        ck_assert_msg(rv3 == ((v & 0x03) ? MCP_EPARSE : APR_SUCCESS), "'%s'", three);
    }
}
END_TEST

START_TEST(rejects_other_characters)
{
    char s[5];
    int c;

    /* Every byte outside the URL alphabet, at each place of a quantum. */
    for (c = 1; c < 256; c++) {
        int pos;

        if (strchr(url_alphabet, c)) {
            continue;
        }
        for (pos = 0; pos < 4; pos++) {
            memcpy(s, "AAAA", 5);
            s[pos] = (char)c;
            assert_rejected(s, (apr_size_t)-1);
        }
    }
    assert_rejected("Zm!v", (apr_size_t)-1);
    assert_rejected("\xc3\xa9", (apr_size_t)-1);
    assert_rejected("Zm9v.", (apr_size_t)-1);
    /* An embedded NUL inside the given length. */
    assert_rejected("Zm\0v", 4);
    /* No input at all. */
    assert_rejected(NULL, 0);
    assert_rejected(NULL, (apr_size_t)-1);
}
END_TEST

START_TEST(length_is_honoured)
{
    unsigned char *dec;
    apr_size_t n;

    /* Only the first two characters are read: what follows is not input. */
    ck_assert_status(mcp_b64url_decode(&dec, &n, tp, "Zg!!!", 2), APR_SUCCESS);
    ck_assert_uint_eq(n, 1);
    ck_assert_int_eq(dec[0], 'f');
    ck_assert_status(mcp_b64url_decode(&dec, &n, tp, "", 0), APR_SUCCESS);
    ck_assert_uint_eq(n, 0);
    ck_assert_status(mcp_b64url_decode(&dec, &n, tp, "Zg", 0), APR_SUCCESS);
    ck_assert_uint_eq(n, 0);
}
END_TEST

START_TEST(standard_base64_for_key_files)
{
    unsigned char *dec;
    apr_size_t n;

    /* Padding accepted only where it completes the last quantum. */
    ck_assert_status(mcp_b64_decode_any(&dec, &n, tp, "Zm9vYg==", (apr_size_t)-1), APR_SUCCESS);
    ck_assert_uint_eq(n, 4);
    ck_assert_status(mcp_b64_decode_any(&dec, &n, tp, "Zm9vYmE=", (apr_size_t)-1), APR_SUCCESS);
    ck_assert_uint_eq(n, 5);
    ck_assert_status(mcp_b64_decode_any(&dec, &n, tp, "Zm9vYg", (apr_size_t)-1), APR_SUCCESS);
    ck_assert_uint_eq(n, 4);
    ck_assert_status(mcp_b64_decode_any(&dec, &n, tp, "+/8=", (apr_size_t)-1), APR_SUCCESS);
    ck_assert_uint_eq(n, 2);
    ck_assert_int_eq(dec[0], 0xfb);
    ck_assert_int_eq(dec[1], 0xff);
    ck_assert_status(mcp_b64_decode_any(&dec, &n, tp, "-_8", (apr_size_t)-1), APR_SUCCESS);
    ck_assert_int_eq(dec[0], 0xfb);
    ck_assert_int_eq(mcp_b64_decode_any(&dec, &n, tp, "Zm9vYg=", (apr_size_t)-1), MCP_EPARSE);
    ck_assert_int_eq(mcp_b64_decode_any(&dec, &n, tp, "Zm9vYg===", (apr_size_t)-1), MCP_EPARSE);
    ck_assert_int_eq(mcp_b64_decode_any(&dec, &n, tp, "Zg=a", (apr_size_t)-1), MCP_EPARSE);
    ck_assert_int_eq(mcp_b64_decode_any(&dec, &n, tp, "Z===", (apr_size_t)-1), MCP_EPARSE);
    ck_assert_int_eq(mcp_b64_decode_any(&dec, &n, tp, "====", (apr_size_t)-1), MCP_EPARSE);
    ck_assert_int_eq(mcp_b64_decode_any(&dec, &n, tp, "Zh==", (apr_size_t)-1), MCP_EPARSE);
    ck_assert_int_eq(mcp_b64_decode_any(&dec, &n, tp, "Zm9v\n", (apr_size_t)-1), MCP_EPARSE);
    ck_assert_int_eq(mcp_b64_decode_any(&dec, &n, tp, NULL, 0), MCP_EPARSE);
}
END_TEST

static Suite *b64_suite(void)
{
    Suite *s = suite_create("b64");
    TCase *tc = mcp_tcase("b64");

    tcase_add_test(tc, rfc4648_vectors);
    tcase_add_test(tc, roundtrip_all_lengths);
    tcase_add_test(tc, rejects_padding);
    tcase_add_test(tc, rejects_standard_alphabet);
    tcase_add_test(tc, rejects_whitespace);
    tcase_add_test(tc, rejects_impossible_lengths);
    tcase_add_test(tc, rejects_nonzero_trailing_bits);
    tcase_add_test(tc, rejects_other_characters);
    tcase_add_test(tc, length_is_honoured);
    tcase_add_test(tc, standard_base64_for_key_files);
    suite_add_tcase(s, tc);
    return s;
}

MCP_TEST_MAIN(b64_suite)
