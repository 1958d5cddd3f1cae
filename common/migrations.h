// Versioned schema migrations of one service: SQL files named NNNN_name.sql,
// embedded in the binary at build time and parsed here; common/pg_migrations.h
// applies them.
#pragma once

#include <string>
#include <vector>

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

}  // namespace aw::db
