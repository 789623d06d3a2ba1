// Licensed under the Apache License, Version 2.0 (the "License");
// you may not use this file except in compliance with the License.
// You may obtain a copy of the License at
//
//     http://www.apache.org/licenses/LICENSE-2.0
//
// Unless required by applicable law or agreed to in writing, software
// distributed under the License is distributed on an "AS IS" BASIS,
// WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
// See the License for the specific language governing permissions and
// limitations under the License.

// oidc-provider (npm) as bench/authz.mjs compares mod_mcp_authz with: on
// 127.0.0.1, with durable storage, one public client, refresh-token
// rotation, and RFC 9068-style ES256 JWT access tokens for one resource
// (so that, like mod_mcp_authz, it stores no access tokens; its default
// opaque ones would be one more write per grant).
//
// Storage: an adapter on SQLite (node:sqlite, WAL, synchronous=NORMAL:
// the settings of mod_mcp's SQLite store) or on PostgreSQL (pg), one row
// per model instance, as oidc-provider's SQL adapter examples do. Its
// default in-memory adapter is an LRU of 1000 entries, unfit for this.
//
// Environment:
//   OIDC_PORT        port on 127.0.0.1
//   OIDC_STORE       sqlite:<file> or pgsql:<connection string>
//   OIDC_KEY         PEM file of the EC P-256 signing key
//   OIDC_RESOURCE    the resource (aud) of its access tokens
//   OIDC_SEED        how many refresh tokens to issue before listening,
//   OIDC_SEED_FILE   written one a line to this file
//   OIDC_WORKERS     node:cluster workers sharing the port (1)
//   OIDC_READY_FILE  created once every worker listens
//
// The seed tokens are made through the provider's own models (a Grant and
// a RefreshToken, saved by the adapter): what its authorization_code grant
// stores, without scripting its interaction pages.

import cluster from 'node:cluster';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import Provider from 'oidc-provider';

const env = process.env;
const PORT = Number(env.OIDC_PORT);
const ISSUER = `http://127.0.0.1:${PORT}`;
const RESOURCE = env.OIDC_RESOURCE;
const STORE = env.OIDC_STORE || '';
const WORKERS = Math.max(1, Number(env.OIDC_WORKERS || 1));
const CLIENT_ID = 'bench';
const SUBJECT = 'bench-user';

function epoch() {
  return Math.floor(Date.now() / 1000);
}

// ---- storage ----

const COLUMNS = '(model, id, payload, grant_id, user_code, uid, expires_at, consumed_at)';

function rowOf(model, id, payload, expiresIn) {
  return [model, id, JSON.stringify(payload), payload.grantId ?? null,
    payload.userCode ?? null, payload.uid ?? null,
    expiresIn ? epoch() + expiresIn : null];
}

function payloadOf(row) {
  if (!row) {
    return undefined;
  }
  const p = JSON.parse(row.payload);
  if (row.consumed_at) {
    p.consumed = Number(row.consumed_at);
  }
  return p;
}

async function sqliteStore(file) {
  const { DatabaseSync } = await import('node:sqlite');
  const db = new DatabaseSync(file);
  db.exec('PRAGMA busy_timeout = 5000');
  db.exec('PRAGMA journal_mode = WAL');
  db.exec('PRAGMA synchronous = NORMAL');
  db.exec(`CREATE TABLE IF NOT EXISTS oidc_models (
    model TEXT NOT NULL, id TEXT NOT NULL, payload TEXT NOT NULL,
    grant_id TEXT, user_code TEXT, uid TEXT, expires_at INTEGER,
    consumed_at INTEGER, PRIMARY KEY (model, id))`);
  db.exec('CREATE INDEX IF NOT EXISTS oidc_models_grant ON oidc_models (grant_id)');
  db.exec('CREATE INDEX IF NOT EXISTS oidc_models_uid ON oidc_models (uid)');
  db.exec('CREATE INDEX IF NOT EXISTS oidc_models_user_code ON oidc_models (user_code)');
  const q = {
    upsert: db.prepare(`INSERT INTO oidc_models ${COLUMNS} VALUES (?, ?, ?, ?, ?, ?, ?, NULL)
      ON CONFLICT (model, id) DO UPDATE SET payload = excluded.payload,
      grant_id = excluded.grant_id, user_code = excluded.user_code,
      uid = excluded.uid, expires_at = excluded.expires_at, consumed_at = NULL`),
    find: db.prepare('SELECT payload, consumed_at FROM oidc_models WHERE model = ? AND id = ?'),
    byUid: db.prepare('SELECT payload, consumed_at FROM oidc_models WHERE model = ? AND uid = ?'),
    byUserCode: db.prepare('SELECT payload, consumed_at FROM oidc_models WHERE model = ? AND user_code = ?'),
    consume: db.prepare('UPDATE oidc_models SET consumed_at = ? WHERE model = ? AND id = ?'),
    destroy: db.prepare('DELETE FROM oidc_models WHERE model = ? AND id = ?'),
    revoke: db.prepare('DELETE FROM oidc_models WHERE grant_id = ?'),
  };
  return {
    upsert: async (m, id, p, e) => { q.upsert.run(...rowOf(m, id, p, e)); },
    find: async (m, id) => payloadOf(q.find.get(m, id)),
    findByUid: async (m, uid) => payloadOf(q.byUid.get(m, uid)),
    findByUserCode: async (m, c) => payloadOf(q.byUserCode.get(m, c)),
    consume: async (m, id) => { q.consume.run(epoch(), m, id); },
    destroy: async (m, id) => { q.destroy.run(m, id); },
    revokeByGrantId: async (g) => { q.revoke.run(g); },
    close: async () => db.close(),
  };
}

async function pgsqlStore(conninfo) {
  const { default: pg } = await import('pg');
  // As many connections as mod_dbd may open per httpd child.
  const pool = new pg.Pool({ connectionString: conninfo, max: 16 });
  await pool.query(`CREATE TABLE IF NOT EXISTS oidc_models (
    model TEXT NOT NULL, id TEXT NOT NULL, payload TEXT NOT NULL,
    grant_id TEXT, user_code TEXT, uid TEXT, expires_at BIGINT,
    consumed_at BIGINT, PRIMARY KEY (model, id))`).catch((e) => {
    // Workers start at once: one of them creates the table.
    if (e.code !== '23505' && e.code !== '42P07') throw e;
  });
  for (const c of ['grant_id', 'uid', 'user_code']) {
    await pool.query(`CREATE INDEX IF NOT EXISTS oidc_models_${c} ON oidc_models (${c})`)
      .catch((e) => { if (e.code !== '23505' && e.code !== '42P07') throw e; });
  }
  const one = async (sql, args) => payloadOf((await pool.query(sql, args)).rows[0]);
  return {
    upsert: async (m, id, p, e) => {
      await pool.query({
        name: 'upsert',
        text: `INSERT INTO oidc_models ${COLUMNS} VALUES ($1, $2, $3, $4, $5, $6, $7, NULL)
          ON CONFLICT (model, id) DO UPDATE SET payload = excluded.payload,
          grant_id = excluded.grant_id, user_code = excluded.user_code,
          uid = excluded.uid, expires_at = excluded.expires_at, consumed_at = NULL`,
        values: rowOf(m, id, p, e),
      });
    },
    find: (m, id) => one({ name: 'find', text: 'SELECT payload, consumed_at FROM oidc_models WHERE model = $1 AND id = $2', values: [m, id] }),
    findByUid: (m, uid) => one({ name: 'uid', text: 'SELECT payload, consumed_at FROM oidc_models WHERE model = $1 AND uid = $2', values: [m, uid] }),
    findByUserCode: (m, c) => one({ name: 'ucode', text: 'SELECT payload, consumed_at FROM oidc_models WHERE model = $1 AND user_code = $2', values: [m, c] }),
    consume: async (m, id) => {
      await pool.query({ name: 'consume', text: 'UPDATE oidc_models SET consumed_at = $1 WHERE model = $2 AND id = $3', values: [epoch(), m, id] });
    },
    destroy: async (m, id) => {
      await pool.query({ name: 'destroy', text: 'DELETE FROM oidc_models WHERE model = $1 AND id = $2', values: [m, id] });
    },
    revokeByGrantId: async (g) => {
      await pool.query({ name: 'revoke', text: 'DELETE FROM oidc_models WHERE grant_id = $1', values: [g] });
    },
    close: () => pool.end(),
  };
}

async function openStore() {
  if (STORE.startsWith('sqlite:')) {
    return sqliteStore(STORE.slice(7));
  }
  if (STORE.startsWith('pgsql:')) {
    return pgsqlStore(STORE.slice(6));
  }
  throw new Error(`OIDC_STORE must be sqlite:<file> or pgsql:<conninfo> (got "${STORE}")`);
}

// ---- the provider ----

function makeProvider(store) {
  class Adapter {
    constructor(model) { this.model = model; }
    upsert(id, payload, expiresIn) { return store.upsert(this.model, id, payload, expiresIn); }
    find(id) { return store.find(this.model, id); }
    findByUid(uid) { return store.findByUid(this.model, uid); }
    findByUserCode(code) { return store.findByUserCode(this.model, code); }
    consume(id) { return store.consume(this.model, id); }
    destroy(id) { return store.destroy(this.model, id); }
    revokeByGrantId(grantId) { return store.revokeByGrantId(grantId); }
  }
  const jwk = crypto.createPrivateKey(fs.readFileSync(env.OIDC_KEY)).export({ format: 'jwk' });
  const provider = new Provider(ISSUER, {
    adapter: Adapter,
    clients: [{
      client_id: CLIENT_ID,
      token_endpoint_auth_method: 'none',
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      redirect_uris: ['http://127.0.0.1:53682/callback'],
      id_token_signed_response_alg: 'ES256',
    }],
    jwks: { keys: [{ ...jwk, kid: 'bench', alg: 'ES256', use: 'sig' }] },
    cookies: { keys: ['mod_mcp bench, not a secret'] },
    findAccount: async (ctx, sub) => ({ accountId: sub, claims: async () => ({ sub }) }),
    scopes: ['openid', 'offline_access', 'mcp'],
    rotateRefreshToken: true,
    ttl: {
      AccessToken: 3600,
      AuthorizationCode: 60,
      Grant: 30 * 86400,
      RefreshToken: 30 * 86400,
      Session: 86400,
      Interaction: 3600,
    },
    features: {
      devInteractions: { enabled: false },
      resourceIndicators: {
        enabled: true,
        defaultResource: async () => RESOURCE,
        useGrantedResource: async () => true,
        getResourceServerInfo: async () => ({
          scope: 'mcp',
          audience: RESOURCE,
          accessTokenTTL: 3600,
          accessTokenFormat: 'jwt',
          jwt: { sign: { alg: 'ES256' } },
        }),
      },
    },
  });
  return provider;
}

async function seed(provider, n, file) {
  const client = await provider.Client.find(CLIENT_ID);
  const out = [];
  for (let i = 0; i < n; i++) {
    const grant = new provider.Grant({ accountId: SUBJECT, clientId: CLIENT_ID });
    grant.addOIDCScope('offline_access');
    grant.addResourceScope(RESOURCE, 'mcp');
    const grantId = await grant.save();
    const rt = new provider.RefreshToken({
      accountId: SUBJECT,
      client,
      grantId,
      gty: 'authorization_code',
      authTime: epoch(),
      scope: 'offline_access mcp',
      resource: RESOURCE,
    });
    out.push(await rt.save());
  }
  fs.writeFileSync(file, `${out.join('\n')}\n`);
}

async function serve(store) {
  const provider = makeProvider(store);
  const server = http.createServer(provider.callback());
  server.keepAliveTimeout = 30000;
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(PORT, '127.0.0.1', resolve);
  });
  const stop = () => server.close(() => store.close().finally(() => process.exit(0)));
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

if (cluster.isPrimary) {
  const store = await openStore();
  if (Number(env.OIDC_SEED || 0) > 0) {
    await seed(makeProvider(store), Number(env.OIDC_SEED), env.OIDC_SEED_FILE);
  }
  if (WORKERS === 1) {
    await serve(store);
    if (env.OIDC_READY_FILE) fs.writeFileSync(env.OIDC_READY_FILE, 'ready\n');
  }
  else {
    await store.close();
    let listening = 0;
    let stopping = false;
    for (let i = 0; i < WORKERS; i++) {
      const w = cluster.fork();
      w.on('listening', () => {
        if (++listening === WORKERS && env.OIDC_READY_FILE) {
          fs.writeFileSync(env.OIDC_READY_FILE, 'ready\n');
        }
      });
    }
    cluster.on('exit', (w, code) => {
      if (!stopping) {
        console.error(`oidc-provider worker ${w.process.pid} exited (${code})`);
        stopping = true;
        for (const o of Object.values(cluster.workers)) o.kill();
        process.exitCode = 1;
      }
    });
    const stop = () => {
      stopping = true;
      for (const w of Object.values(cluster.workers)) w.kill('SIGTERM');
    };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
  }
}
else {
  await serve(await openStore());
}
