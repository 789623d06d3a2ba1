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

/* Figures for the JOSE and AEAD paths: ES256 sign and verify per second,
 * for a bare JWS (mcp_jose) and for a whole RFC 9068 access token with its
 * claim checks (mcp_jwt) -- every bearer request verifies one token, every
 * /token call signs one -- and AES-256-GCM seal/open throughput for vault
 * entries. Bounded: 0.6 s per figure, about 4 s in all. */

#include <stdio.h>
#include <string.h>

#include <apr_general.h>
#include <apr_time.h>

#include "mcp/mcp_crypto.h"
#include "mcp/mcp_jose.h"
#include "mcp/mcp_jwt.h"

#define RUN_USEC (apr_time_from_msec(600))
#define BLOCK 16384

typedef struct {
    apr_pool_t *scratch;
    const mcp_jose_key_t *key;
    const mcp_jose_keyset_t *set;
    mcp_keyring_t *kr;
    mcp_jwt_claims_t claims;
    mcp_jwt_verify_opts_t opts;
    const char *jws, *token, *env;
    char block[BLOCK];
    int failed;
} bench_t;

typedef void op_fn(bench_t *b);

static void op_jws_sign(bench_t *b)
{
    const char *out;
    b->failed |= mcp_jose_sign(&out, b->scratch, b->key, "at+jwt", "{\"sub\":\"alice\"}",
                               15, NULL) != APR_SUCCESS;
}

static void op_jws_verify(bench_t *b)
{
    mcp_jose_verified_t *v;
    b->failed |= mcp_jose_verify(&v, b->scratch, b->set, b->jws, strlen(b->jws),
                                 NULL) != APR_SUCCESS;
}

static void op_at_sign(bench_t *b)
{
    const char *out;
    b->failed |= mcp_jwt_sign_access_token(&out, b->scratch, b->key, &b->claims,
                                           NULL) != APR_SUCCESS;
}

static void op_at_verify(bench_t *b)
{
    mcp_jwt_t *t;
    b->failed |= mcp_jwt_verify_access_token(&t, b->scratch, b->set, b->token, &b->opts,
                                             NULL) != APR_SUCCESS;
}

static void op_seal(bench_t *b)
{
    const char *out;
    b->failed |= mcp_aead_seal(&out, b->scratch, b->kr, b->block, BLOCK, "alice|github",
                               12) != APR_SUCCESS;
}

static void op_open(bench_t *b)
{
    unsigned char *pt;
    apr_size_t len;
    b->failed |= mcp_aead_open(&pt, &len, b->scratch, b->kr, b->env, "alice|github", 12,
                               NULL) != APR_SUCCESS;
}

/* Operations per second of @fn over RUN_USEC of wall time. */
static double per_second(bench_t *b, op_fn *fn)
{
    apr_time_t start = apr_time_now(), el;
    long n = 0;

    do {
        fn(b);
        apr_pool_clear(b->scratch);
        n++;
        el = apr_time_now() - start;
    } while (el < RUN_USEC);
    return (double)n * APR_USEC_PER_SEC / (double)el;
}

int main(void)
{
    static bench_t b;
    apr_pool_t *p;
    mcp_ec_key_t *ec;
    mcp_jose_key_t *key;
    mcp_jose_keyset_t *set;
    unsigned char k[MCP_AEAD_KEY_LEN];
    const char *err = NULL;
    double js, jv, as, av, seal, open;

    apr_initialize();
    apr_pool_create(&p, NULL);
    apr_pool_create(&b.scratch, p);
    if (mcp_ec_key_generate(&ec, p) != APR_SUCCESS
        || mcp_jose_key_from_ec(&key, p, ec, "bench", &err) != APR_SUCCESS
        || mcp_jose_keyset_create(&set, p) != APR_SUCCESS
        || mcp_jose_keyset_add(set, key) != APR_SUCCESS
        || mcp_crypto_random(k, sizeof(k)) != APR_SUCCESS
        || mcp_keyring_create(&b.kr, p) != APR_SUCCESS
        || mcp_keyring_add(b.kr, "bench", k, 1, NULL) != APR_SUCCESS) {
        fprintf(stderr, "bench setup failed\n");
        return 1;
    }
    b.key = key;
    b.set = set;
    b.claims.iss = "https://gw.example";
    b.claims.sub = "alice";
    b.claims.aud = "https://gw.example/mcp";
    b.claims.client_id = "client";
    b.claims.scope = "mcp github:read";
    b.claims.exp = apr_time_sec(apr_time_now()) + 3600;
    b.opts.issuer = b.claims.iss;
    b.opts.audience = b.claims.aud;
    b.opts.leeway = 30;
    memset(b.block, 'x', BLOCK);
    if (mcp_jose_sign(&b.jws, p, key, "at+jwt", "{\"sub\":\"alice\"}", 15, &err)
        || mcp_jwt_sign_access_token(&b.token, p, key, &b.claims, &err)
        || mcp_aead_seal(&b.env, p, b.kr, b.block, BLOCK, "alice|github", 12)) {
        fprintf(stderr, "bench setup failed: %s\n", err ? err : "seal");
        return 1;
    }

    js = per_second(&b, op_jws_sign);
    jv = per_second(&b, op_jws_verify);
    as = per_second(&b, op_at_sign);
    av = per_second(&b, op_at_verify);
    seal = per_second(&b, op_seal);
    open = per_second(&b, op_open);
    if (b.failed) {
        fprintf(stderr, "an operation failed during the run\n");
        return 1;
    }
    printf("es256 jws sign:            %10.0f /s\n", js);
    printf("es256 jws verify:          %10.0f /s\n", jv);
    printf("jws verify/sign ratio:     %10.2f\n", jv / js);
    printf("access token sign:         %10.0f /s\n", as);
    printf("access token verify:       %10.0f /s\n", av);
    printf("token verify/sign ratio:   %10.2f\n", av / as);
    printf("aes-256-gcm seal (16 KiB): %10.1f MB/s\n", seal * BLOCK / 1e6);
    printf("aes-256-gcm open (16 KiB): %10.1f MB/s\n", open * BLOCK / 1e6);
    apr_pool_destroy(p);
    apr_terminate();
    return 0;
}
