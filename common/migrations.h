// Versioned schema migrations of one service: SQL files named NNNN_name.sql,
// embedded in the binary at build time, applied in order at start under an
// advisory lock, each exactly once. A file changed after it was applied makes
// the service refuse to start.
#pragma once

#include <string>
#include <vector>

#include <pqxx/pqxx>

#include "absl/status/statusor.h"

namespace aw::db {

struct Migration {
  int version = 0;
  std::string name;  // file name, e.g. "0001_init.sql"
  std::string sql;
};

// A migration file as embedded by the build: its name and contents.
struct EmbeddedFile {
  const char* name;
  const char* contents;
};

// Parses the embedded files of a service into migrations ordered by version.
// INVALID_ARGUMENT for a name not of the form NNNN_name.sql or a repeated version.
absl::StatusOr<std::vector<Migration>> ParseMigrations(const std::vector<EmbeddedFile>& files);

struct MigrationResult {
  int applied = 0;          // applied by this call
  int already_applied = 0;  // found applied before
  int latest_version = 0;
};

// Creates `schema` if needed and applies the migrations not yet recorded in
// `<schema>.schema_migrations`, each in its own transaction with search_path set
// to the schema. Serialised across processes by an advisory lock. A recorded
// migration whose checksum differs is FAILED_PRECONDITION; nothing is applied.
// Never throws.
absl::StatusOr<MigrationResult> ApplyMigrations(pqxx::connection& conn, const std::string& schema,
                                                const std::vector<Migration>& migrations);

}  // namespace aw::db
