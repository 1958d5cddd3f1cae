// Migrations against a real PostgreSQL: applied once, idempotent, refused when
// an applied file changes, safe when several replicas start at once.
#include "common/pg_migrations.h"

#include <thread>

#include <catch2/catch.hpp>

#include "tests/support/test_db.h"

namespace aw::db {
namespace {

using aw::testing::TestDatabase;

const std::vector<Migration> kMigrations = {
    {1, "0001_init.sql", "CREATE TABLE items (id bigint PRIMARY KEY, name text NOT NULL);"},
    {2, "0002_more.sql", "ALTER TABLE items ADD COLUMN note text; INSERT INTO items VALUES (1, 'seed', NULL);"},
};

absl::StatusOr<MigrationResult> Apply(const TestDatabase& db, const std::vector<Migration>& m) {
  pqxx::connection c(db.url());
  return ApplyMigrations(c, "svc", m);
}

TEST_CASE("Migrations apply in order, once, into the service's own schema", "[migrations]") {
  TestDatabase db;
  auto first = Apply(db, kMigrations);
  REQUIRE(first.ok());
  CHECK(first->applied == 2);
  CHECK(first->already_applied == 0);
  CHECK(first->latest_version == 2);
  CHECK(db.Query("SELECT count(*) FROM svc.items") == "1");
  CHECK(db.Query("SELECT string_agg(version::text, ',' ORDER BY version) FROM svc.schema_migrations") == "1,2");
  CHECK(db.Query("SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public' AND table_name = 'items'") == "0");

  auto again = Apply(db, kMigrations);
  REQUIRE(again.ok());
  CHECK(again->applied == 0);
  CHECK(again->already_applied == 2);
  CHECK(db.Query("SELECT count(*) FROM svc.items") == "1");  // the seed row was not inserted twice
}

TEST_CASE("Migrations add only the new file on upgrade", "[migrations]") {
  TestDatabase db;
  REQUIRE(Apply(db, {kMigrations[0]})->applied == 1);
  auto upgrade = Apply(db, kMigrations);
  REQUIRE(upgrade.ok());
  CHECK(upgrade->applied == 1);
  CHECK(upgrade->already_applied == 1);
}

TEST_CASE("Migrations refuse an applied file that changed, applying nothing", "[migrations]") {
  TestDatabase db;
  REQUIRE(Apply(db, {kMigrations[0]}).ok());
  std::vector<Migration> edited = kMigrations;
  edited[0].sql += " -- edited";
  auto refused = Apply(db, edited);
  REQUIRE(refused.status().code() == absl::StatusCode::kFailedPrecondition);
  CHECK(std::string(refused.status().message()).find("0001_init.sql") != std::string::npos);
  CHECK(db.Query("SELECT count(*) FROM svc.schema_migrations") == "1");  // 0002 not applied
}

TEST_CASE("Migrations with a failing statement roll back that file only", "[migrations]") {
  TestDatabase db;
  std::vector<Migration> broken = kMigrations;
  broken.push_back({3, "0003_broken.sql", "CREATE TABLE other (x int); SELECT * FROM missing_table;"});
  auto result = Apply(db, broken);
  CHECK_FALSE(result.ok());
  CHECK(db.Query("SELECT max(version) FROM svc.schema_migrations") == "2");
  CHECK(db.Query("SELECT count(*) FROM information_schema.tables WHERE table_name = 'other'") == "0");
}

TEST_CASE("Migrations run once when several replicas start together", "[migrations]") {
  TestDatabase db;
  std::vector<Migration> slow = kMigrations;
  slow[0].sql += " SELECT pg_sleep(0.3);";
  std::vector<absl::StatusOr<MigrationResult>> results(4, absl::UnknownError("not run"));
  std::vector<std::thread> replicas;
  for (int i = 0; i < 4; ++i) {
    replicas.emplace_back([&, i] { results[i] = Apply(db, slow); });
  }
  for (auto& t : replicas) t.join();
  int applied = 0;
  for (const auto& r : results) {
    REQUIRE(r.ok());
    applied += r->applied;
  }
  CHECK(applied == 2);
  CHECK(db.Query("SELECT count(*) FROM svc.items") == "1");
}

}  // namespace
}  // namespace aw::db
