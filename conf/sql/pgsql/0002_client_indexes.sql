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

-- mod_mcp store, migration 2 (pgsql): indexes on client_id where the
-- primary key does not start with it. Deleting a client cascades to its
-- codes and consents, and a revocation by client looks them up: without
-- these, both scan the whole table.

CREATE INDEX mcp_auth_codes_client ON mcp_auth_codes (client_id);
CREATE INDEX mcp_consents_client ON mcp_consents (client_id);
