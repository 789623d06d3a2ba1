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

/* Internal: the migrations embedded from conf/sql/ by support/sql2c.pl. */
#ifndef MCP_STORE_SCHEMA_H
#define MCP_STORE_SCHEMA_H

typedef struct {
    int version;                    /* 1, 2, ...; 0 ends the array */
    const char *file;               /* e.g. "0001_init.sql" */
    const char *const *statements;  /* NULL-terminated */
} mcp_store_migration_t;

extern const mcp_store_migration_t mcp_store_migrations_sqlite[];
extern const mcp_store_migration_t mcp_store_migrations_pgsql[];
extern const int mcp_store_migration_count;

#endif /* MCP_STORE_SCHEMA_H */
