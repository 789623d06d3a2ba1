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
 * @file mcp_store.h
 * @brief The SQL store (clients, codes, refresh tokens, consents, upstream
 *        tokens) over apr_dbd, for SQLite and PostgreSQL.
 *
 * In httpd the connection comes from mod_dbd (one per request,
 * ap_dbd_acquire); mcpctl and the tests open their own. Either way the
 * store prepares its statements lazily, once per connection, into that
 * connection's hash of prepared statements (labels "mcp_...", memory from
 * the connection's pool), after checking that the schema is the one this
 * build expects (so a missing schema gives a clear "run mcpctl db upgrade"
 * instead of a failed prepare). They are not registered with
 * ap_dbd_prepare: mod_dbd would then fail every connection to a database
 * without our schema and hide why. Every statement that takes input is
 * prepared; no SQL is built from input.
 *
 * Times are Unix seconds; 0 in a record means "none" (SQL NULL). Secrets
 * are stored as the caller gives them: callers pass hashes (codes, refresh
 * tokens, client secrets, the state of a pending upstream authorization)
 * and sealed envelopes (upstream tokens, PKCE verifiers).
 *
 * Failures return a status and leave a message in mcp_store_error() that
 * never contains a secret, hash or sealed value (it may name a client id,
 * subject or provider). The statuses are documented per function; besides
 * those, every function that reaches the database may return MCP_ESCHEMA
 * (a missing, old, newer or damaged schema: the message says what to
 * run) and MCP_ESTORE (a database failure, with the driver's first line).
 * A function that fails changes nothing, unless documented (a replay
 * revokes what it must, committed, and still fails).
 *
 * Arguments: the store handle must not be NULL. Any other pointer may be
 * NULL only where documented ("may be NULL"); otherwise a NULL argument,
 * a NULL record or a NULL required member is refused with MCP_EINVALID
 * and a message before the database is touched. Required identifiers
 * (ids, hashes, subjects, providers, kinds, values, jti) must not be empty
 * either. Unless documented, an output is meaningful only on success.
 *
 * A store handle is cheap, lives in the pool given to attach (usually the
 * request pool) and is used by one thread at a time, like the connection.
 * Each call allocates a little from that pool (messages, bound values), so
 * attach a handle per unit of work (request, sweep) rather than keeping
 * one for the life of a process. Do not call the store inside a
 * transaction someone else opened on the same connection.
 */
#ifndef MCP_STORE_H
#define MCP_STORE_H

#include <apr_pools.h>
#include <apr_hash.h>
#include <apr_tables.h>
#include <apr_dbd.h>

#include "mcp/mcp_common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mcp_store_t mcp_store_t;

/** Longest lifetime of an authorization code, in seconds. */
#define MCP_STORE_CODE_MAX_LIFETIME 60

/**
 * Use a connection someone else owns (mod_dbd's ap_dbd_t members): the
 * store's statements are prepared into @a prepared with memory from
 * @a conn_pool (the connection's lifetime) the first time they are needed.
 * The store handle itself lives in @a p (e.g. the request pool).
 * @return APR_EINVAL when an argument is NULL (*pst untouched);
 *         MCP_ESTORE for a driver other than sqlite3/pgsql (*pst is set,
 *         mcp_store_error() says why); else APR_SUCCESS.
 */
apr_status_t mcp_store_attach(mcp_store_t **pst, apr_pool_t *p,
                              const apr_dbd_driver_t *driver,
                              apr_dbd_t *handle, apr_hash_t *prepared,
                              apr_pool_t *conn_pool);

/**
 * Open a connection of our own ("sqlite3" or "pgsql", apr_dbd params),
 * closed when @a p is cleaned up. Calls apr_dbd_init(). For SQLite it
 * applies the connection settings at once (see mcp_store_sqlite_setup()).
 *
 * A SQLite database file that does not exist yet is created mode 0600,
 * whatever the umask (SQLite gives its -wal and -shm files the same
 * mode). An existing one keeps its mode; when other users may read or
 * write it, a warning (MCP01051) names the file and its mode. Group bits
 * are the administrator's choice (e.g. 0640 for a group of readers) and
 * get no warning. ":memory:" and "file:" URIs are left to SQLite.
 * @param perr may be NULL; gets why on failure.
 * @return APR_SUCCESS; MCP_EINVALID for an unknown driver, empty params,
 *         or a NULL @a pst or @a p; MCP_ESTORE when the driver cannot be
 *         loaded (*perr names the Debian package to install), the
 *         database cannot be opened (*perr has the driver's reason, and
 *         for SQLite the file name; PostgreSQL parameters are never
 *         repeated, they may hold a password) or is not a SQLite
 *         database. On failure *pst (when given) is NULL.
 */
apr_status_t mcp_store_open(mcp_store_t **pst, apr_pool_t *p,
                            const char *driver_name, const char *params,
                            const char **perr);

/** The message of the last failure (never NULL; "no store" for NULL). */
const char *mcp_store_error(const mcp_store_t *st);

/** "sqlite3" or "pgsql". */
const char *mcp_store_driver_name(const mcp_store_t *st);

/** For SQLite connections: apply the connection settings (busy timeout
 * 5 s, journal_mode=WAL, synchronous=NORMAL, foreign_keys=ON). Done by
 * mcp_store_open() and, once per connection, before the first statement
 * of an attached store. */
apr_status_t mcp_store_sqlite_setup(mcp_store_t *st);

/* ---------------------------------------------------------------------
 * Schema
 * ------------------------------------------------------------------- */

/** The schema version this build writes and expects. */
int mcp_store_schema_latest(void);

typedef struct {
    int initialized;   /**< the version table exists */
    int version;       /**< highest applied migration (0 if none) */
    int expected;      /**< mcp_store_schema_latest() */
} mcp_store_schema_t;

/** Read the schema state with catalog queries only: works on an empty
 * database and on a connection where nothing is prepared, and prepares
 * nothing (on SQLite it sets the busy timeout, so that it waits for a
 * concurrent writer). MCP_EINVALID when @a s is NULL. */
apr_status_t mcp_store_schema_status(mcp_store_t *st, mcp_store_schema_t *s);

/**
 * APR_SUCCESS when the schema is the expected one, else MCP_ESCHEMA with a
 * message naming `mcpctl db upgrade` (missing or older) or saying the
 * database is newer than this build; MCP_ESTORE when it cannot be read.
 */
apr_status_t mcp_store_schema_check(mcp_store_t *st);

/**
 * Apply the pending migrations, each in its own transaction, recording
 * each version. Works on an empty database. Concurrent upgrades of one
 * database are serialized (SQLite write lock, PostgreSQL advisory lock)
 * and apply each migration once. *pfrom / *pto (may be NULL) get the
 * versions before and after (after: the last one applied, when a later
 * one failed: its message names the migration file). A database newer
 * than this build is refused with MCP_ESCHEMA and left alone.
 */
apr_status_t mcp_store_schema_upgrade(mcp_store_t *st, int *pfrom, int *pto);

/* ---------------------------------------------------------------------
 * OAuth clients
 * ------------------------------------------------------------------- */

typedef struct {
    const char *client_id;          /**< immutable key */
    const char *secret_hash;        /**< NULL for public clients */
    const char *client_name;        /**< may be NULL */
    const char *kind;               /**< "manual", "dcr" or "cimd" */
    const char *token_endpoint_auth_method; /**< "none", "client_secret_basic", ... */
    const char *grant_types;        /**< space-separated */
    const char *scope;              /**< space-separated, may be NULL */
    const char *metadata;           /**< JSON text, may be NULL */
    apr_array_header_t *redirect_uris; /**< const char *, may be NULL */
    apr_int64_t created_at;
    apr_int64_t updated_at;
    apr_int64_t expires_at;         /**< idle expiry; 0: never (e.g. manual) */
    apr_int64_t disabled_at;        /**< 0: enabled */
} mcp_store_client_t;

/** Insert a client and its redirect URIs, in one transaction.
 * @return APR_SUCCESS; MCP_ECONFLICT when the id exists; MCP_EINVALID
 *         when client_id, kind, token_endpoint_auth_method or grant_types
 *         is missing or a redirect URI is NULL; MCP_ESTORE when the schema
 *         refuses it (another kind, a redirect URI given twice). */
apr_status_t mcp_store_client_put(mcp_store_t *st, const mcp_store_client_t *c);

/** Replace everything but client_id and created_at (redirect URIs and
 * disabled_at too), in one transaction.
 * @return APR_SUCCESS; MCP_ENOTFOUND when absent; MCP_EINVALID as for
 *         mcp_store_client_put(). */
apr_status_t mcp_store_client_update(mcp_store_t *st, const mcp_store_client_t *c);

/** Fetch a client with its redirect URIs, also when it has expired or is
 * disabled: the caller decides (see expires_at, disabled_at).
 * @return APR_SUCCESS; MCP_ENOTFOUND; MCP_EINVALID for a NULL argument or
 *         an empty @a client_id. */
apr_status_t mcp_store_client_get(mcp_store_t *st, apr_pool_t *p,
                                  const char *client_id,
                                  mcp_store_client_t **pc);

/** Delete a client; its redirect URIs, codes, refresh tokens and consents
 * go with it (ON DELETE CASCADE).
 * @return APR_SUCCESS; MCP_ENOTFOUND when absent; MCP_EINVALID when
 *         @a client_id is NULL or empty. */
apr_status_t mcp_store_client_delete(mcp_store_t *st, const char *client_id);

/**
 * Extend the idle expiry of a client that has one (DCR, CIMD) to
 * @a expires_at; a later expiry is kept (never shortened), and a client
 * that never expires (expires_at NULL, e.g. manual) stays so. updated_at
 * is not changed.
 * @return APR_SUCCESS (also when nothing needed changing); MCP_ENOTFOUND
 *         when absent; MCP_EINVALID when @a client_id is NULL or empty or
 *         @a expires_at is not positive.
 */
apr_status_t mcp_store_client_touch(mcp_store_t *st, const char *client_id,
                                    apr_int64_t expires_at);

/** All clients (mcp_store_client_t *), ordered by client_id, expired and
 * disabled ones too. MCP_EINVALID when an argument is NULL. */
apr_status_t mcp_store_client_list(mcp_store_t *st, apr_pool_t *p,
                                   apr_array_header_t **pclients);

/* ---------------------------------------------------------------------
 * Refresh tokens (rotating, in families) and authorization codes
 *
 * A family is what one grant (one code redeemed) issued: its first
 * refresh token and every successor rotated from it. Reuse of a rotated
 * token, a code redeemed twice and RFC 7009 revocation end the family.
 * ------------------------------------------------------------------- */

typedef struct {
    const char *token_hash;
    const char *family_id;
    const char *client_id;
    const char *subject;
    const char *resource;           /**< may be NULL */
    const char *scope;              /**< may be NULL */
    const char *replaced_by;        /**< hash of the successor, or NULL */
    apr_int64_t created_at;
    apr_int64_t expires_at;
    apr_int64_t rotated_at;         /**< 0: current */
    apr_int64_t revoked_at;         /**< 0: not revoked */
} mcp_store_refresh_t;

typedef struct {
    const char *code_hash;
    const char *client_id;
    const char *redirect_uri;
    const char *code_challenge;
    const char *code_challenge_method;
    const char *resource;           /**< may be NULL */
    const char *scope;              /**< may be NULL */
    const char *subject;
    const char *issued_family;      /**< refresh family issued from it, or NULL */
    const char *issued_jti;         /**< jti of the access token issued from it, or NULL */
    apr_int64_t created_at;
    apr_int64_t expires_at;
    apr_int64_t used_at;            /**< 0: not redeemed yet */
} mcp_store_code_t;

/** Store a new code.
 * @return APR_SUCCESS; MCP_ECONFLICT when the hash exists; MCP_EINVALID
 *         when a field is missing or it does not expire within
 *         MCP_STORE_CODE_MAX_LIFETIME seconds after created_at;
 *         MCP_ESTORE for an unknown client. */
apr_status_t mcp_store_code_put(mcp_store_t *st, const mcp_store_code_t *c);

/**
 * Fetch a code without consuming it, whatever its state (redeemed,
 * expired: see used_at, expires_at), so that the token endpoint can check
 * the client, redirect URI and PKCE verifier before it redeems the code
 * with mcp_store_code_redeem(), which decides.
 * @return APR_SUCCESS with *pc; MCP_ENOTFOUND; MCP_EINVALID for a NULL
 *         argument or an empty @a code_hash.
 */
apr_status_t mcp_store_code_get(mcp_store_t *st, apr_pool_t *p,
                                const char *code_hash, mcp_store_code_t **pc);

/**
 * Redeem a code, in one transaction: a conditional update marks it used
 * at @a now and records @a family_id and @a jti as issued_family and
 * issued_jti, if it is unused and expires after @a now; then @a refresh
 * is stored. Of concurrent redeems of one code exactly one succeeds; the
 * others are replays.
 *
 * A code presented again is a replay (RFC 6749 4.1.2): every refresh
 * token of the family recorded by the first redeem is revoked, in the
 * same transaction, committed; the caller gets the code (*pc) to deny-list
 * issued_jti. A warning (MCP01050) names client, subject and family.
 *
 * @param family_id the family of @a refresh; may be NULL when @a refresh
 *                  is NULL (no refresh token issued).
 * @param jti       the jti of the access token issued from the code.
 * @param refresh   may be NULL; the refresh token issued with it, stored
 *                  as given (see mcp_store_refresh_put()), but its
 *                  family_id must be @a family_id and its client_id and
 *                  subject those of the code.
 * @param pc        may be NULL; on APR_SUCCESS the code as redeemed, on
 *                  MCP_ECONFLICT as the first redeem left it, on
 *                  MCP_EEXPIRED as stored; else NULL.
 * @param prevoked  may be NULL; on MCP_ECONFLICT how many refresh tokens
 *                  the replay revoked (0 when the family was revoked
 *                  before or none was issued); else 0.
 * @return APR_SUCCESS: redeemed, @a refresh stored;
 *         MCP_ENOTFOUND: no such code;
 *         MCP_EEXPIRED: the code expired unused (it stays unused);
 *         MCP_ECONFLICT: the code was redeemed before (see above);
 *         MCP_EINVALID: an argument is missing, @a refresh is incomplete
 *         or not of @a family_id or of the code's client and subject
 *         (nothing changes);
 *         MCP_ESTORE: e.g. @a refresh's hash exists (nothing changes).
 */
apr_status_t mcp_store_code_redeem(mcp_store_t *st, apr_pool_t *p,
                                   const char *code_hash, apr_int64_t now,
                                   const char *family_id, const char *jti,
                                   const mcp_store_refresh_t *refresh,
                                   mcp_store_code_t **pc, int *prevoked);

/** Store a new refresh token (mcp_store_code_redeem() does for the first
 * of a family, mcp_store_refresh_rotate() for successors).
 * @return APR_SUCCESS; MCP_ECONFLICT when the hash exists; MCP_EINVALID
 *         when token_hash, family_id, client_id or subject is missing or
 *         expires_at is not positive; MCP_ESTORE for an unknown client. */
apr_status_t mcp_store_refresh_put(mcp_store_t *st, const mcp_store_refresh_t *r);

/** Fetch one, whatever its state.
 * @return APR_SUCCESS; MCP_ENOTFOUND; MCP_EINVALID for a NULL argument or
 *         an empty @a token_hash. */
apr_status_t mcp_store_refresh_get(mcp_store_t *st, apr_pool_t *p,
                                   const char *token_hash,
                                   mcp_store_refresh_t **pr);

typedef enum {
    MCP_REFRESH_ROTATED = 0,     /**< old marked rotated, its successor stored */
    MCP_REFRESH_NOT_FOUND,       /**< no such token, or another client's */
    MCP_REFRESH_EXPIRED,
    MCP_REFRESH_REVOKED,
    MCP_REFRESH_REUSED_IN_GRACE, /**< a retry: a further successor stored */
    MCP_REFRESH_REUSED           /**< replayed: the whole family is revoked */
} mcp_store_refresh_outcome_e;

/**
 * Rotate the refresh token @a old_hash that @a client_id presented, in one
 * transaction. The new token is @a next's token_hash, expires_at,
 * created_at (0: @a now), resource and scope, in the old token's family,
 * for its client and subject.
 *
 * - ROTATED: the old token is current and @a client_id's: a conditional
 *   update (that checks the client too) marks it rotated, replaced_by the
 *   new one, and the new one is stored. Of concurrent rotations exactly
 *   one does this; the others are retries (below).
 * - REUSED_IN_GRACE: the old token was rotated at most @a grace seconds
 *   ago and its successor (replaced_by) is still current (not rotated,
 *   revoked or expired): the client retried without getting or using the
 *   answer. @a next is stored as a further successor in the family and
 *   the old token's replaced_by names it; the family stays alive (the
 *   earlier successor too). Again within the grace: the same once more.
 * - REUSED: any other use of a rotated token (longer ago than @a grace, or
 *   its successor already rotated, revoked or expired): every token of the
 *   family is revoked, committed; a warning (MCP00402) names client,
 *   subject and family.
 * - NOT_FOUND: no such token, or it was issued to another client: the
 *   status and message do not tell the two apart (a debug line, MCP01052,
 *   does) and nothing changes.
 * - EXPIRED, REVOKED: nothing changes.
 *
 * A negative @a grace allows no retry at all; 0 one in the same second.
 * @param poutcome may be NULL; gets the outcome (NOT_FOUND as well for
 *        MCP_EINVALID arguments, MCP_ESTORE and MCP_ESCHEMA).
 * @param pold may be NULL; gets the old token when it exists and is
 *        @a client_id's (as it is after the call), else NULL.
 * @return APR_SUCCESS for ROTATED and REUSED_IN_GRACE (answer with the new
 *         token); MCP_ENOTFOUND (NOT_FOUND); MCP_EEXPIRED (EXPIRED);
 *         MCP_EINVALID (REVOKED, or an argument is missing);
 *         MCP_ECONFLICT (REUSED); MCP_ESTORE (e.g. the new token's hash
 *         exists: nothing changes).
 */
apr_status_t mcp_store_refresh_rotate(mcp_store_t *st, apr_pool_t *p,
                                      const char *old_hash,
                                      const char *client_id,
                                      const mcp_store_refresh_t *next,
                                      apr_int64_t now, int grace,
                                      mcp_store_refresh_outcome_e *poutcome,
                                      mcp_store_refresh_t **pold);

/**
 * Revoke a refresh token and, with it, every token of its family (RFC
 * 7009 2.1), rotated ones too, in one transaction.
 * @param client_id the client asking (the revocation endpoint
 *        authenticated it), or NULL for any client (administration): a
 *        token of another client is not revoked and is reported as not
 *        found, with the same message as an unknown one.
 * @param pn may be NULL; gets how many tokens were revoked now (0 when
 *        the family was revoked already), else 0.
 * @return APR_SUCCESS (also for a token revoked before); MCP_ENOTFOUND
 *         (no such token, or another client's: nothing changes);
 *         MCP_EINVALID when @a token_hash is NULL or empty.
 */
apr_status_t mcp_store_refresh_revoke(mcp_store_t *st, const char *token_hash,
                                      const char *client_id, apr_int64_t now,
                                      int *pn);

/** Revoke every token of a family; *pn (may be NULL) gets how many were
 * revoked now. APR_SUCCESS also when there were none; MCP_EINVALID when
 * @a family_id is NULL or empty. */
apr_status_t mcp_store_refresh_revoke_family(mcp_store_t *st, const char *family_id,
                                             apr_int64_t now, int *pn);

/** Revoke every token of @a subject issued to @a client_id, or to any
 * client when @a client_id is NULL; *pn (may be NULL) gets how many were
 * revoked now. APR_SUCCESS also when there were none; MCP_EINVALID when
 * @a subject is NULL or empty. */
apr_status_t mcp_store_refresh_revoke_user(mcp_store_t *st, const char *subject,
                                           const char *client_id, apr_int64_t now,
                                           int *pn);

/** Revoke every token of a client; *pn (may be NULL) gets how many were
 * revoked now. APR_SUCCESS also when there were none; MCP_EINVALID when
 * @a client_id is NULL or empty. */
apr_status_t mcp_store_refresh_revoke_client(mcp_store_t *st, const char *client_id,
                                             apr_int64_t now, int *pn);

/** *pn gets how many refresh tokens are live at @a now (not rotated,
 * revoked or expired) of @a client_id and of @a subject (each may be
 * NULL: any). APR_SUCCESS; MCP_EINVALID when @a pn is NULL. */
apr_status_t mcp_store_refresh_count(mcp_store_t *st, const char *client_id,
                                     const char *subject, apr_int64_t now, int *pn);

/* ---------------------------------------------------------------------
 * Consents
 * ------------------------------------------------------------------- */

typedef struct {
    const char *subject;
    const char *client_id;
    const char *resource;           /**< "" when none */
    const char *scope;
    apr_int64_t granted_at;
    apr_int64_t expires_at;
} mcp_store_consent_t;

/** Insert or replace the consent for (subject, client, resource).
 * @return APR_SUCCESS; MCP_EINVALID when subject or client_id is missing,
 *         resource or scope NULL, or expires_at not positive; MCP_ESTORE
 *         for an unknown client. */
apr_status_t mcp_store_consent_put(mcp_store_t *st, const mcp_store_consent_t *c);

/** Fetch a consent.
 * @return APR_SUCCESS; MCP_ENOTFOUND; MCP_EEXPIRED when expired at @a now
 *         (*pc is set then too); MCP_EINVALID for a NULL argument or an
 *         empty subject or client (@a resource is "" for none). */
apr_status_t mcp_store_consent_get(mcp_store_t *st, apr_pool_t *p,
                                   const char *subject, const char *client_id,
                                   const char *resource, apr_int64_t now,
                                   mcp_store_consent_t **pc);

/** Delete a consent.
 * @return APR_SUCCESS; MCP_ENOTFOUND when absent; MCP_EINVALID as for
 *         mcp_store_consent_get(). */
apr_status_t mcp_store_consent_delete(mcp_store_t *st, const char *subject,
                                      const char *client_id, const char *resource);

/** A subject's consents (mcp_store_consent_t *), expired ones too,
 * ordered by client_id, then resource. APR_SUCCESS (an empty array when
 * there are none); MCP_EINVALID for a NULL argument or an empty
 * @a subject. */
apr_status_t mcp_store_consent_list(mcp_store_t *st, apr_pool_t *p,
                                    const char *subject,
                                    apr_array_header_t **plist);

/** Delete a subject's consents for @a client_id, or for every client when
 * it is NULL; *pn (may be NULL) gets how many. APR_SUCCESS also when there
 * were none; MCP_EINVALID when @a subject is NULL or empty. */
apr_status_t mcp_store_consent_revoke(mcp_store_t *st, const char *subject,
                                      const char *client_id, int *pn);

/* ---------------------------------------------------------------------
 * Upstream tokens (the vault)
 * ------------------------------------------------------------------- */

/*
 * One row per (subject, provider): the upstream tokens of a linked
 * account, sealed (see mcp_vault_seal()). Several processes and nodes may
 * need a fresh access token at once, and an upstream that rotates refresh
 * tokens invalidates the old one when it issues a new one; so a refresh
 * goes like this:
 *
 * 1. mcp_store_upstream_get(): the row and its version;
 * 2. mcp_store_upstream_lease(): one holder at a time refreshes; the
 *    others (MCP_ECONFLICT) wait a little and read the row again;
 * 3. refresh upstream with the refresh token of that row;
 * 4. mcp_store_upstream_update_cas() with the version read in 1: it
 *    stores the new tokens and releases the lease; MCP_ECONFLICT means
 *    someone stored newer tokens meanwhile (a new link, or a refresh after
 *    the lease ran out): read the row again and use those, never store
 *    ours over them. When the refresh failed, mcp_store_upstream_release().
 *
 * The lease is an optimization (fewer upstream calls); the version check
 * is what keeps a rotated refresh token from being overwritten.
 */
typedef struct {
    const char *subject;
    const char *provider;
    const char *sealed;             /**< AES-GCM envelope text */
    const char *key_id;             /**< vault key that sealed it */
    const char *scope;              /**< may be NULL */
    apr_int64_t expires_at;         /**< access token expiry, 0: unknown */
    apr_int64_t created_at;         /**< kept on update */
    apr_int64_t updated_at;
    apr_int64_t version;            /**< 1 when linked, +1 on every write;
                                         set by the store */
    apr_int64_t refresh_expires_at; /**< upstream refresh token expiry,
                                         0: unknown or never */
    const char *lease_holder;       /**< who holds the refresh lease, or
                                         NULL; set by the store */
    apr_int64_t lease_until;        /**< end of that lease, 0: none; set
                                         by the store */
    apr_int64_t last_used_at;       /**< when the credential was last
                                         handed to a backend, 0: never;
                                         set by the store (see
                                         mcp_store_upstream_touch()),
                                         precise to
                                         MCP_STORE_UPSTREAM_TOUCH_INTERVAL */
} mcp_store_upstream_t;

/** How stale last_used_at may get, in seconds: mcp_store_upstream_touch()
 * writes only when the stored value is older than this. */
#define MCP_STORE_UPSTREAM_TOUCH_INTERVAL 60

/** Store the tokens of a new link (the user authorized at the provider):
 * insert the row with version 1, or replace what (subject, provider) had,
 * whatever its version, with version + 1 (a new authorization supersedes
 * the old tokens, and a refresh still under way with those then fails its
 * compare-and-set). created_at is kept on replace, and a refresh lease
 * held on the old tokens is dropped. @a u's version, lease_holder,
 * lease_until and last_used_at are ignored (a new link starts never
 * used; a replaced one keeps when it was last used).
 * @return APR_SUCCESS; MCP_EINVALID when subject, provider, sealed or
 *         key_id is missing. */
apr_status_t mcp_store_upstream_put(mcp_store_t *st, const mcp_store_upstream_t *u);

/**
 * Store refreshed tokens compare-and-set: sealed, key_id, scope,
 * expires_at, refresh_expires_at and updated_at of @a u replace the row's
 * only when its version is still @a expected_version; the version becomes
 * @a expected_version + 1 and the refresh lease is released (whoever
 * held it). Of concurrent updates with the same expected version exactly
 * one succeeds.
 * @return APR_SUCCESS; MCP_ECONFLICT when the version changed meanwhile
 *         (nothing changes: read the row again and use its tokens);
 *         MCP_ENOTFOUND when the row is gone (unlinked meanwhile);
 *         MCP_EINVALID as for mcp_store_upstream_put(), or when
 *         @a expected_version is not positive.
 */
apr_status_t mcp_store_upstream_update_cas(mcp_store_t *st,
                                           const mcp_store_upstream_t *u,
                                           apr_int64_t expected_version);

/**
 * Take the refresh lease of (subject, provider) for @a holder until
 * @a until: granted when nobody holds it, when the lease held ended at or
 * before @a now, or when @a holder holds it already (then it is extended
 * or shortened to @a until). @a holder names a process of a node (e.g.
 * "host:pid:thread"); it is not a secret.
 * @param puntil may be NULL; on MCP_ECONFLICT gets when the other lease
 *        ends (wait at most until then, then read the row again), else 0.
 * @return APR_SUCCESS (taken); MCP_ECONFLICT (another holder's lease runs
 *         after @a now); MCP_ENOTFOUND (no such row); MCP_EINVALID for a
 *         NULL or empty subject, provider or holder, or @a until not after
 *         @a now.
 */
apr_status_t mcp_store_upstream_lease(mcp_store_t *st, const char *subject,
                                      const char *provider, const char *holder,
                                      apr_int64_t now, apr_int64_t until,
                                      apr_int64_t *puntil);

/** Give the refresh lease back (the refresh failed): only @a holder's
 * lease is released, someone else's stays.
 * @return APR_SUCCESS (also when @a holder held none); MCP_EINVALID as for
 *         mcp_store_upstream_lease(). */
apr_status_t mcp_store_upstream_release(mcp_store_t *st, const char *subject,
                                        const char *provider, const char *holder);

/**
 * Note that (subject, provider)'s credential was used at @a now: sets
 * last_used_at to @a now, but only when the stored value is older than
 * @a now - MCP_STORE_UPSTREAM_TOUCH_INTERVAL, in one conditional UPDATE,
 * so that a link used on every request is written at most once a
 * minute. Neither version (a refresh's mcp_store_upstream_update_cas()
 * still succeeds), updated_at nor the lease change.
 * @param pwritten may be NULL; gets 1 when the row was written, 0 when
 *        it was used recently, or is absent (nothing is read to tell).
 * @return APR_SUCCESS (also when nothing was written); MCP_EINVALID for
 *         an empty subject or provider, or @a now not positive.
 */
apr_status_t mcp_store_upstream_touch(mcp_store_t *st, const char *subject,
                                      const char *provider, apr_int64_t now,
                                      int *pwritten);

/** Fetch.
 * @return APR_SUCCESS; MCP_ENOTFOUND; MCP_EINVALID for a NULL argument or
 *         an empty subject or provider. */
apr_status_t mcp_store_upstream_get(mcp_store_t *st, apr_pool_t *p,
                                    const char *subject, const char *provider,
                                    mcp_store_upstream_t **pu);

/** Delete.
 * @return APR_SUCCESS; MCP_ENOTFOUND when absent; MCP_EINVALID as for
 *         mcp_store_upstream_get(). */
apr_status_t mcp_store_upstream_delete(mcp_store_t *st, const char *subject,
                                       const char *provider);

/** A subject's links (mcp_store_upstream_t *), ordered by provider.
 * APR_SUCCESS (an empty array when there are none); MCP_EINVALID for a
 * NULL argument or an empty @a subject. */
apr_status_t mcp_store_upstream_list(mcp_store_t *st, apr_pool_t *p,
                                     const char *subject,
                                     apr_array_header_t **plist);

/** Every user's link to @a provider (mcp_store_upstream_t *), ordered by
 * subject (mcpctl provider connections / purge).
 * @return APR_SUCCESS (an empty array when there are none); MCP_EINVALID
 *         for a NULL argument or an empty @a provider. */
apr_status_t mcp_store_upstream_list_provider(mcp_store_t *st, apr_pool_t *p,
                                              const char *provider,
                                              apr_array_header_t **plist);

/** Delete every user's link to @a provider; *@a pn (may be NULL) gets how
 * many.
 * @return APR_SUCCESS (also when there were none); MCP_EINVALID for an
 *         empty @a provider. */
apr_status_t mcp_store_upstream_delete_provider(mcp_store_t *st,
                                                const char *provider, int *pn);

/* ---------------------------------------------------------------------
 * Pending upstream authorizations
 *
 * Between the redirect to an upstream provider and its callback, which
 * may land on another node. Like codes, they are stored by the hash of
 * the state the caller gives (mcp_crypto_sha256_b64url() of the state),
 * and the PKCE verifier sealed (see mcp_vault_pending_aad()): the store
 * holds no key and never sees either secret.
 * ------------------------------------------------------------------- */

/** Longest lifetime of a pending authorization, in seconds. */
#define MCP_STORE_PENDING_MAX_LIFETIME 3600

typedef struct {
    const char *state_hash;
    const char *subject;
    const char *provider;
    const char *verifier_sealed;    /**< the sealed PKCE verifier */
    const char *scope;              /**< may be NULL */
    const char *return_to;          /**< where to go afterwards, may be NULL */
    apr_int64_t created_at;
    apr_int64_t expires_at;
} mcp_store_pending_t;

/** Store a pending authorization.
 * @return APR_SUCCESS; MCP_ECONFLICT when the state hash exists;
 *         MCP_EINVALID when state_hash, subject, provider or
 *         verifier_sealed is missing or it does not expire within
 *         MCP_STORE_PENDING_MAX_LIFETIME seconds after created_at. */
apr_status_t mcp_store_pending_put(mcp_store_t *st, const mcp_store_pending_t *a);

/**
 * Take a pending authorization, once: in one transaction it is read and
 * deleted. Of concurrent takes of one state exactly one gets it; the
 * others, and every later take, get MCP_ENOTFOUND. An expired one is
 * deleted too and not given out.
 * @param pa gets the authorization on APR_SUCCESS, else NULL.
 * @return APR_SUCCESS; MCP_ENOTFOUND (unknown, or taken before);
 *         MCP_EEXPIRED (it expired at or before @a now); MCP_EINVALID for
 *         a NULL argument or an empty @a state_hash.
 */
apr_status_t mcp_store_pending_take(mcp_store_t *st, apr_pool_t *p,
                                    const char *state_hash, apr_int64_t now,
                                    mcp_store_pending_t **pa);

/* ---------------------------------------------------------------------
 * Revocations of access tokens
 *
 * Access tokens are self-contained and checked without the store, so
 * taking them back before they expire (mcpctl, across nodes) goes
 * through this table, which every gateway process polls.
 * ------------------------------------------------------------------- */

typedef struct {
    const char *kind;               /**< "client", "subject" or "jti" */
    const char *value;              /**< the client_id, subject or jti */
    apr_int64_t created_at;         /**< when it was (last) made */
    apr_int64_t expires_at;         /**< when no token it concerns is valid */
} mcp_store_revocation_t;

/**
 * Revoke the access tokens of a client, of a subject, or one by its jti,
 * until @a expires_at (the longest any of them can live). Made again, it
 * gets created_at @a now (pollers see it anew) and keeps the later of
 * both expiries.
 * @return APR_SUCCESS; MCP_EINVALID for another kind, a NULL or empty
 *         value, or @a expires_at not after @a now; MCP_ESTORE when the
 *         database cannot index so long a value (PostgreSQL: about 2 KB).
 */
apr_status_t mcp_store_revocation_put(mcp_store_t *st, const char *kind,
                                      const char *value, apr_int64_t now,
                                      apr_int64_t expires_at);

/**
 * The revocations (mcp_store_revocation_t *) made at or after @a since
 * that have not expired by this host's clock, ordered by created_at (then
 * kind, value). A poller asks again with the largest created_at it saw
 * (the same second may bring more rows); at startup with 0.
 * @return APR_SUCCESS (an empty array when there are none); MCP_EINVALID
 *         when @a p or @a plist is NULL.
 */
apr_status_t mcp_store_revocation_since(mcp_store_t *st, apr_pool_t *p,
                                        apr_int64_t since,
                                        apr_array_header_t **plist);

/* ---------------------------------------------------------------------
 * Expiry
 * ------------------------------------------------------------------- */

typedef struct {
    int codes;              /**< expired codes (redeemed or not) */
    int refresh_tokens;     /**< expired refresh tokens */
    int consents;           /**< expired consents */
    int clients;            /**< expired clients (e.g. cached CIMD) */
    int revocations;        /**< expired revocations */
    int pending;            /**< expired pending upstream authorizations */
} mcp_store_purge_t;

/** Delete rows that expired before @a now (pending upstream
 * authorizations too); @a counts (may be NULL) gets how many of each. A
 * redeemed code is kept until it expires, so that a replay within its
 * lifetime is recognized. Upstream tokens are not purged (an expired
 * access token is refreshed), nor leases (a lease that ended is taken
 * over). */
apr_status_t mcp_store_purge(mcp_store_t *st, apr_int64_t now,
                             mcp_store_purge_t *counts);

#ifdef __cplusplus
}
#endif

#endif /* MCP_STORE_H */
