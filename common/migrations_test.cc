#include "common/migrations.h"

#include <catch2/catch.hpp>

namespace aw::db {
namespace {

TEST_CASE("Migration files are ordered by their version prefix", "[migrations]") {
  auto m = ParseMigrations({{"0002_events.sql", "B"}, {"0001_init.sql", "A"}, {"0010_x.sql", "C"}});
  REQUIRE(m.ok());
  REQUIRE(m->size() == 3);
  CHECK((*m)[0].version == 1);
  CHECK((*m)[0].name == "0001_init.sql");
  CHECK((*m)[0].sql == "A");
  CHECK((*m)[1].version == 2);
  CHECK((*m)[2].version == 10);
}

TEST_CASE("Migration files with bad names or repeated versions are refused", "[migrations]") {
  for (const char* name : {"init.sql", "1_init.sql", "0000_zero.sql", "0001_init.txt", "00a1_x.sql",
                           "0001.sql"}) {
    INFO(name);
    CHECK(ParseMigrations({{name, ""}}).status().code() == absl::StatusCode::kInvalidArgument);
  }
  auto twice = ParseMigrations({{"0001_a.sql", ""}, {"0001_b.sql", ""}});
  CHECK(twice.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(std::string(twice.status().message()).find("share version 1") != std::string::npos);
}

}  // namespace
}  // namespace aw::db
