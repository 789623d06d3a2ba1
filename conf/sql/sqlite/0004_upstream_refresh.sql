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

-- mod_mcp store, migration 4 (sqlite): what mod_mcp_idp needs to refresh
-- upstream tokens safely from several processes and nodes.

-- The vault row is updated compare-and-set: a refresh writes only when
-- version is still the one it read (then version + 1), so two concurrent
-- refreshes never overwrite a rotated upstream refresh token with a dead
-- one. The refresh lease (holder, until) lets one process refresh while
-- the others wait and read what it stored. refresh_expires_at: when the
-- upstream refresh token expires (NULL: unknown or never).
ALTER TABLE mcp_upstream_tokens ADD COLUMN version INTEGER NOT NULL DEFAULT 1;
ALTER TABLE mcp_upstream_tokens ADD COLUMN refresh_expires_at INTEGER;
ALTER TABLE mcp_upstream_tokens ADD COLUMN lease_holder TEXT;
ALTER TABLE mcp_upstream_tokens ADD COLUMN lease_until INTEGER;

-- Upstream authorizations under way, so that the callback may land on
-- any node: keyed by the SHA-256 of the state (never the state itself),
-- the PKCE verifier sealed with the vault key, taken once (deleted when
-- taken), purged when expired.
CREATE TABLE mcp_upstream_pending (
    state_hash       TEXT PRIMARY KEY,
    subject          TEXT NOT NULL,
    provider         TEXT NOT NULL,
    verifier_sealed  TEXT NOT NULL,
    scope            TEXT,
    return_to        TEXT,
    created_at       INTEGER NOT NULL,
    expires_at       INTEGER NOT NULL
);
CREATE INDEX mcp_upstream_pending_expires ON mcp_upstream_pending (expires_at);
