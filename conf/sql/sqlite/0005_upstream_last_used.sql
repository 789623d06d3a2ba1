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

-- mod_mcp store, migration 5 (sqlite): when a link was last used.

-- last_used_at: when mod_mcp_idp last handed the link's credential to a
-- backend, 0 for never (the Connections page and mcpctl provider
-- connections show it). It is written at most once a minute per link
-- (mcp_store_upstream_touch()), never bumps version (a refresh's
-- compare-and-set must not fail because the link was used meanwhile)
-- and leaves updated_at, the time of the last token write, alone. NOT
-- NULL DEFAULT 0, so that the touch is one comparison and a link of an
-- older release reads as never used.
ALTER TABLE mcp_upstream_tokens ADD COLUMN last_used_at INTEGER NOT NULL DEFAULT 0;
