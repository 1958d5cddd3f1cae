// Applies a service's migrations (common/migrations.h) to its own schema: in
// order at start, under an advisory lock, each exactly once. A file changed
// after it was applied makes the service refuse to start.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/migrations.h"
#include "common/pg.h"

namespace aw::db {

// Creates `schema` if needed and applies the migrations not yet recorded in
// `<schema>.schema_migrations`, each in its own transaction with search_path set
// to the schema. Serialised across processes by an advisory lock. A recorded
// migration whose checksum differs is FAILED_PRECONDITION; nothing is applied.
// Never throws.
absl::StatusOr<MigrationResult> ApplyMigrations(pqxx::connection& conn, const std::string& schema,
                                                const std::vector<Migration>& migrations);

// The same on a connection of `pool`.
absl::StatusOr<MigrationResult> ApplyMigrations(Pool& pool, const std::string& schema,
                                                const std::vector<Migration>& migrations);

}  // namespace aw::db
