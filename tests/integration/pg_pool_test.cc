// The connection pool against a real PostgreSQL: schema binding, error mapping,
// recovery after lost connections, bounded size.
#include "common/pg.h"

#include <thread>

#include <catch2/catch.hpp>

#include "absl/synchronization/notification.h"
#include "tests/support/test_db.h"

namespace aw::db {
namespace {

using aw::testing::TestDatabase;

PoolOptions Options(const TestDatabase& db, int size = 2) {
  return PoolOptions{.url = db.url(), .schema = "svc", .size = size,
                     .acquire_timeout = absl::Milliseconds(300)};
}

absl::Status Exec(Pool& pool, const std::string& sql) {
  return pool.Run([&](pqxx::connection& c) {
    pqxx::work tx(c);
    tx.exec(sql);
    tx.commit();
    return absl::OkStatus();
  });
}

TEST_CASE("Pool connections resolve names in the service's schema", "[pg]") {
  TestDatabase db;
  db.Query("CREATE SCHEMA svc; CREATE TABLE svc.t (id int PRIMARY KEY); SELECT 1");
  Pool pool(Options(db));
  REQUIRE(Exec(pool, "INSERT INTO t VALUES (1)").ok());
  CHECK(db.Query("SELECT count(*) FROM svc.t") == "1");
}

TEST_CASE("Pool maps database errors to specific status codes", "[pg]") {
  TestDatabase db;
  db.Query("CREATE SCHEMA svc; CREATE TABLE svc.t (id int PRIMARY KEY, v int CHECK (v > 0)); SELECT 1");
  Pool pool(Options(db));
  REQUIRE(Exec(pool, "INSERT INTO t VALUES (1, 1)").ok());
  CHECK(Exec(pool, "INSERT INTO t VALUES (1, 1)").code() == absl::StatusCode::kAlreadyExists);
  CHECK(Exec(pool, "INSERT INTO t VALUES (2, -1)").code() == absl::StatusCode::kInvalidArgument);
  CHECK(Exec(pool, "SELECT 1/0").code() == absl::StatusCode::kInvalidArgument);
  CHECK(Exec(pool, "SET LOCAL statement_timeout = '50ms'; SELECT pg_sleep(1)").code() ==
        absl::StatusCode::kDeadlineExceeded);
  CHECK(Exec(pool, "SELECT * FROM no_such_table").code() == absl::StatusCode::kInternal);
  const absl::Status thrown = pool.Run([](pqxx::connection&) -> absl::Status {
    throw std::runtime_error("bug");
  });
  CHECK(thrown.code() == absl::StatusCode::kInternal);
  CHECK(pool.Ping().ok());  // the pool survived all of it
}

TEST_CASE("Pool reconnects after the database drops its connections", "[pg]") {
  TestDatabase db;
  Pool pool(Options(db, 1));
  REQUIRE(pool.Ping().ok());
  db.Disconnect();
  CHECK(pool.Ping().code() == absl::StatusCode::kUnavailable);  // the old connection is gone
  CHECK(pool.Ping().code() == absl::StatusCode::kUnavailable);  // and no new one is allowed
  db.Reconnect();
  CHECK(pool.Ping().ok());
  CHECK(pool.open_connections() == 1);
}

TEST_CASE("Pool never opens more than its size and times out waiting", "[pg]") {
  TestDatabase db;
  Pool pool(Options(db, 1));
  absl::Notification holding, release;
  std::thread holder([&] {
    (void)pool.Run([&](pqxx::connection&) {
      holding.Notify();
      release.WaitForNotification();
      return absl::OkStatus();
    });
  });
  holding.WaitForNotification();
  const absl::Status waited = pool.Ping();
  CHECK(waited.code() == absl::StatusCode::kUnavailable);
  CHECK(std::string(waited.message()).find("no free database connection") != std::string::npos);
  release.Notify();
  holder.join();
  CHECK(pool.Ping().ok());
  CHECK(pool.open_connections() == 1);
}

TEST_CASE("Pool reports an unreachable database as UNAVAILABLE", "[pg]") {
  Pool pool(PoolOptions{.url = "host=127.0.0.1 port=1 user=postgres dbname=none connect_timeout=2",
                        .schema = "",
                        .size = 1});
  const absl::Status s = pool.Ping();
  CHECK(s.code() == absl::StatusCode::kUnavailable);
  CHECK(std::string(s.message()).find("cannot connect") != std::string::npos);
}

}  // namespace
}  // namespace aw::db
