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

/* Figures for the JOSE and AEAD paths: ES256 sign and verify per second
 * (every bearer request verifies one token; every /token call signs one)
 * and AES-256-GCM seal/open throughput. Bounded: about a second each. */

#include <stdio.h>
#include <string.h>

#include <apr_general.h>
#include <apr_time.h>

#include "mcp/mcp_crypto.h"
#include "mcp/mcp_jose.h"
#include "mcp/mcp_jwt.h"

#define RUN_USEC (apr_time_from_sec(1))

int main(void)
{
    apr_pool_t *p, *scratch;
    mcp_ec_key_t *ec;
    mcp_jose_key_t *key;
    mcp_jose_keyset_t *set;
    mcp_keyring_t *kr;
    unsigned char k[MCP_AEAD_KEY_LEN];
    mcp_jwt_claims_t c;
    mcp_jwt_verify_opts_t o;
    const char *tok, *env, *err = NULL;
    static char block[16384];
    apr_time_t start;
    long n;
    double sign_s, verify_s, secs;

    apr_initialize();
    apr_pool_create(&p, NULL);
    apr_pool_create(&scratch, p);
    if (mcp_ec_key_generate(&ec, p) != APR_SUCCESS
        || mcp_jose_key_from_ec(&key, p, ec, "bench", &err) != APR_SUCCESS) {
        fprintf(stderr, "key setup failed\n");
        return 1;
    }
    mcp_jose_keyset_create(&set, p);
    mcp_jose_keyset_add(set, key);

    memset(&c, 0, sizeof(c));
    c.iss = "https://gw.example";
    c.sub = "alice";
    c.aud = "https://gw.example/mcp";
    c.client_id = "client";
    c.scope = "mcp";
    c.exp = apr_time_sec(apr_time_now()) + 3600;
    o.issuer = c.iss;
    o.audience = c.aud;
    o.now = 0;
    o.leeway = 0;

    for (n = 0, start = apr_time_now(); apr_time_now() - start < RUN_USEC; n++) {
        mcp_jwt_sign_access_token(&tok, scratch, key, &c, &err);
        apr_pool_clear(scratch);
    }
    secs = (double)(apr_time_now() - start) / APR_USEC_PER_SEC;
    sign_s = n / secs;
    mcp_jwt_sign_access_token(&tok, p, key, &c, &err);
    for (n = 0, start = apr_time_now(); apr_time_now() - start < RUN_USEC; n++) {
        mcp_jwt_t *t;
        if (mcp_jwt_verify_access_token(&t, scratch, set, tok, &o, &err) != APR_SUCCESS) {
            fprintf(stderr, "verify failed: %s\n", err);
            return 1;
        }
        apr_pool_clear(scratch);
    }
    secs = (double)(apr_time_now() - start) / APR_USEC_PER_SEC;
    verify_s = n / secs;
    printf("es256 access token sign:   %10.0f /s\n", sign_s);
    printf("es256 access token verify: %10.0f /s\n", verify_s);
    printf("verify/sign ratio:         %10.2f\n", verify_s / sign_s);

    mcp_crypto_random(k, sizeof(k));
    mcp_keyring_create(&kr, p);
    mcp_keyring_add(kr, "bench", k, 1, NULL);
    for (n = 0, start = apr_time_now(); apr_time_now() - start < RUN_USEC; n++) {
        mcp_aead_seal(&env, scratch, kr, block, sizeof(block), "aad", 3);
        apr_pool_clear(scratch);
    }
    secs = (double)(apr_time_now() - start) / APR_USEC_PER_SEC;
    printf("aes-256-gcm seal (16 KiB): %10.1f MB/s\n", n * sizeof(block) / secs / 1e6);
    mcp_aead_seal(&env, p, kr, block, sizeof(block), "aad", 3);
    for (n = 0, start = apr_time_now(); apr_time_now() - start < RUN_USEC; n++) {
        unsigned char *pt;
        apr_size_t len;
        mcp_aead_open(&pt, &len, scratch, kr, env, "aad", 3, NULL);
        apr_pool_clear(scratch);
    }
    secs = (double)(apr_time_now() - start) / APR_USEC_PER_SEC;
    printf("aes-256-gcm open (16 KiB): %10.1f MB/s\n", n * sizeof(block) / secs / 1e6);
    apr_pool_destroy(p);
    apr_terminate();
    return 0;
}
