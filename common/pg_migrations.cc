#include "common/pg_migrations.h"

#include <map>

#include "absl/strings/str_cat.h"

namespace aw::db {
namespace {

constexpr char kChecksumSql[] = "SELECT encode(sha256(convert_to($1, 'UTF8')), 'hex')";

// Releases the session-level advisory lock however the migration ends.
class AdvisoryLock {
 public:
  AdvisoryLock(pqxx::connection& conn, std::string key) : conn_(conn), key_(std::move(key)) {
    pqxx::nontransaction tx(conn_);
    tx.exec_params("SELECT pg_advisory_lock(hashtext($1))", key_);
  }
  ~AdvisoryLock() {
    try {
      if (conn_.is_open()) {
        pqxx::nontransaction tx(conn_);
        tx.exec_params("SELECT pg_advisory_unlock(hashtext($1))", key_);
      }
    } catch (const std::exception&) {
      // The lock ends with the session anyway.
    }
  }

 private:
  pqxx::connection& conn_;
  const std::string key_;
};

absl::StatusOr<MigrationResult> Apply(pqxx::connection& conn, const std::string& schema,
                                      const std::vector<Migration>& migrations) {
  AdvisoryLock lock(conn, "auditwatch.migrations." + schema);
  const std::string qschema = conn.quote_name(schema);
  {
    pqxx::work tx(conn);
    tx.exec("CREATE SCHEMA IF NOT EXISTS " + qschema);
    tx.exec("CREATE TABLE IF NOT EXISTS " + qschema +
            ".schema_migrations ("
            " version integer PRIMARY KEY,"
            " name text NOT NULL,"
            " checksum text NOT NULL,"
            " applied_at timestamptz NOT NULL DEFAULT now())");
    tx.commit();
  }

  std::map<int, std::pair<std::string, std::string>> recorded;  // version → name, checksum
  {
    pqxx::read_transaction tx(conn);
    for (const auto& row : tx.exec("SELECT version, name, checksum FROM " + qschema +
                                   ".schema_migrations")) {
      recorded[row[0].as<int>()] = {row[1].as<std::string>(), row[2].as<std::string>()};
    }
  }

  MigrationResult result;
  // Check every recorded file first, so that a changed file applies nothing.
  std::vector<std::pair<const Migration*, std::string>> pending;
  for (const Migration& m : migrations) {
    pqxx::nontransaction tx(conn);
    const std::string checksum = tx.exec_params1(kChecksumSql, m.sql)[0].as<std::string>();
    if (auto it = recorded.find(m.version); it != recorded.end()) {
      if (it->second.second != checksum) {
        return absl::FailedPreconditionError(absl::StrCat(
            "migration ", m.name, " of schema ", schema,
            " differs from the one applied as version ", m.version, " (", it->second.first,
            "); never edit an applied migration, add a new one"));
      }
      ++result.already_applied;
    } else {
      pending.emplace_back(&m, checksum);
    }
    result.latest_version = std::max(result.latest_version, m.version);
  }
  for (const auto& [m, checksum] : pending) {
    pqxx::work tx(conn);
    tx.exec("SET LOCAL search_path TO " + qschema + ", public");
    tx.exec(m->sql);
    tx.exec_params("INSERT INTO " + qschema +
                       ".schema_migrations (version, name, checksum) VALUES ($1, $2, $3)",
                   m->version, m->name, checksum);
    tx.commit();
    ++result.applied;
  }
  return result;
}

}  // namespace

absl::StatusOr<MigrationResult> ApplyMigrations(pqxx::connection& conn, const std::string& schema,
                                                const std::vector<Migration>& migrations) {
  try {
    return Apply(conn, schema, migrations);
  } catch (const std::exception& e) {
    return StatusFromException(e);
  }
}

absl::StatusOr<MigrationResult> ApplyMigrations(Pool& pool, const std::string& schema,
                                                const std::vector<Migration>& migrations) {
  MigrationResult result;
  absl::Status s = pool.Run([&](pqxx::connection& c) -> absl::Status {
    auto applied = ApplyMigrations(c, schema, migrations);
    if (!applied.ok()) return applied.status();
    result = *applied;
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return result;
}

}  // namespace aw::db
