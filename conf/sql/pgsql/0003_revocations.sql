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

-- mod_mcp store, migration 3 (pgsql): what the token endpoint and mcpctl
-- need to take tokens back.

-- The jti of the access token issued from a code: when the code is
-- presented again, the caller deny-lists it.
ALTER TABLE mcp_auth_codes ADD COLUMN issued_jti TEXT;

-- A client an administrator disabled (NULL: enabled). It stays, with
-- its tokens, so that it can be enabled again.
ALTER TABLE mcp_clients ADD COLUMN disabled_at BIGINT;

-- Revocations of access tokens (self-contained JWTs) that every gateway
-- process polls by created_at: all tokens of a client or a subject, or
-- one token by its jti. A row is kept until the longest-lived token it
-- can concern has expired (expires_at), then purged.
CREATE TABLE mcp_revocations (
    kind        TEXT NOT NULL CHECK (kind IN ('client', 'subject', 'jti')),
    value       TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    PRIMARY KEY (kind, value)
);
CREATE INDEX mcp_revocations_created ON mcp_revocations (created_at);
