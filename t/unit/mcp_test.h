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

/* Shared scaffolding of the C unit tests: check (libcheck) suites that
 * write TAP to stdout, and a fresh APR pool per test.
 *
 *   MCP_TEST_MAIN(suite_fn) defines main(): it initializes APR, runs the
 *   suite and exits non-zero on any failure. Test bodies use the global
 *   `tp`, a pool created before and destroyed after each test. */
#ifndef MCP_TEST_H
#define MCP_TEST_H

#include <stdlib.h>
#include <string.h>
#include <check.h>
#include <apr_general.h>
#include <apr_pools.h>

#include "mcp/mcp_common.h"

static apr_pool_t *tp;

static void mcp_test_setup(void)
{
    apr_pool_create(&tp, NULL);
}

static void mcp_test_teardown(void)
{
    apr_pool_destroy(tp);
    tp = NULL;
}

/* A TCase with the per-test pool fixture and a generous timeout (the
 * valgrind and sanitizer runs are slow). */
static TCase *mcp_tcase(const char *name)
{
    TCase *tc = tcase_create(name);

    tcase_add_checked_fixture(tc, mcp_test_setup, mcp_test_teardown);
    tcase_set_timeout(tc, 120);
    return tc;
}

/* Status assertion that prints both statuses by name. */
#define ck_assert_status(got, want) do {                                   \
        apr_status_t got_ = (got), want_ = (want);                         \
        ck_assert_msg(got_ == want_, "status %d (%s), expected %d (%s)",   \
                      (int)got_, mcp_strerror(tp, got_),                   \
                      (int)want_, mcp_strerror(tp, want_));                \
    } while (0)

#define MCP_TEST_MAIN(suite_fn)                                            \
    int main(void)                                                         \
    {                                                                      \
        SRunner *sr;                                                       \
        int failed;                                                        \
        apr_initialize();                                                  \
        atexit(apr_terminate);                                             \
        sr = srunner_create(suite_fn());                                   \
        srunner_set_tap(sr, "-");                                          \
        srunner_run_all(sr, CK_SILENT);                                    \
        failed = srunner_ntests_failed(sr);                                \
        srunner_free(sr);                                                  \
        return failed ? EXIT_FAILURE : EXIT_SUCCESS;                       \
    }

#endif /* MCP_TEST_H */
