-- Licensed under the Apache License, Version 2.0 (the "License");
-- you may not use this file except in compliance with the License.
-- You may obtain a copy of the License at
--
--     http://www.apache.org/licenses/LICENSE-2.0
--
-- Unless required by applicable law or agreed to in writing, software
-- distributed under the License is distributed on an "AS IS" BASIS,
-- WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
-- See the License for the specific language governing permissions and
-- limitations under the License.

-- mod_mcp store, migration 1 (pgsql): the initial schema.
-- Applied by `mcpctl db upgrade` inside one transaction, which also
-- records the version. Statements end with a semicolon at the end of a
-- line. Times are Unix seconds; hashes and sealed values are base64url.

CREATE TABLE mcp_schema_version (
    version     INTEGER PRIMARY KEY,
    applied_at  BIGINT NOT NULL
);

-- OAuth clients: pre-registered (manual), dynamically registered (dcr)
-- or cached Client ID Metadata Documents (cimd). client_id never changes.
CREATE TABLE mcp_clients (
    client_id                   TEXT PRIMARY KEY,
    secret_hash                 TEXT,
    client_name                 TEXT,
    kind                        TEXT NOT NULL CHECK (kind IN ('manual', 'dcr', 'cimd')),
    token_endpoint_auth_method  TEXT NOT NULL,
    grant_types                 TEXT NOT NULL,
    scope                       TEXT,
    metadata                    TEXT,
    created_at                  BIGINT NOT NULL,
    updated_at                  BIGINT NOT NULL,
    expires_at                  BIGINT
);
CREATE INDEX mcp_clients_expires ON mcp_clients (expires_at);

CREATE TABLE mcp_client_redirect_uris (
    client_id   TEXT NOT NULL REFERENCES mcp_clients (client_id) ON DELETE CASCADE,
    uri         TEXT NOT NULL,
    PRIMARY KEY (client_id, uri)
);

-- Authorization codes: stored hashed, single use, short-lived.
CREATE TABLE mcp_auth_codes (
    code_hash               TEXT PRIMARY KEY,
    client_id               TEXT NOT NULL REFERENCES mcp_clients (client_id) ON DELETE CASCADE,
    redirect_uri            TEXT NOT NULL,
    code_challenge          TEXT NOT NULL,
    code_challenge_method   TEXT NOT NULL,
    resource                TEXT,
    scope                   TEXT,
    subject                 TEXT NOT NULL,
    issued_family           TEXT,
    created_at              BIGINT NOT NULL,
    expires_at              BIGINT NOT NULL,
    used_at                 BIGINT
);
CREATE INDEX mcp_auth_codes_expires ON mcp_auth_codes (expires_at);

-- Refresh tokens: stored hashed, rotated within a family.
CREATE TABLE mcp_refresh_tokens (
    token_hash  TEXT PRIMARY KEY,
    family_id   TEXT NOT NULL,
    client_id   TEXT NOT NULL REFERENCES mcp_clients (client_id) ON DELETE CASCADE,
    subject     TEXT NOT NULL,
    resource    TEXT,
    scope       TEXT,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    rotated_at  BIGINT,
    replaced_by TEXT,
    revoked_at  BIGINT
);
CREATE INDEX mcp_refresh_tokens_family ON mcp_refresh_tokens (family_id);
CREATE INDEX mcp_refresh_tokens_subject ON mcp_refresh_tokens (subject);
CREATE INDEX mcp_refresh_tokens_client ON mcp_refresh_tokens (client_id);
CREATE INDEX mcp_refresh_tokens_expires ON mcp_refresh_tokens (expires_at);

-- Consents a user gave a client for a resource and scopes.
CREATE TABLE mcp_consents (
    subject     TEXT NOT NULL,
    client_id   TEXT NOT NULL REFERENCES mcp_clients (client_id) ON DELETE CASCADE,
    resource    TEXT NOT NULL,
    scope       TEXT NOT NULL,
    granted_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    PRIMARY KEY (subject, client_id, resource)
);
CREATE INDEX mcp_consents_expires ON mcp_consents (expires_at);

-- Upstream tokens of a user at a provider, sealed with AES-256-GCM.
CREATE TABLE mcp_upstream_tokens (
    subject     TEXT NOT NULL,
    provider    TEXT NOT NULL,
    sealed      TEXT NOT NULL,
    key_id      TEXT NOT NULL,
    scope       TEXT,
    expires_at  BIGINT,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    PRIMARY KEY (subject, provider)
);
