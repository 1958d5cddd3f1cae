// A fresh database in the throwaway PostgreSQL cluster that ctest starts for the
// whole run (fixture "pg"), dropped again when the test ends.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "common/migrations.h"

namespace aw::testing {

class TestDatabase {
 public:
  TestDatabase();
  ~TestDatabase();
  TestDatabase(const TestDatabase&) = delete;
  TestDatabase& operator=(const TestDatabase&) = delete;

  const std::string& name() const { return name_; }
  // libpq connection string of this database.
  const std::string& url() const { return url_; }
  // Runs SQL on the maintenance database (for ALTER DATABASE and the like).
  static void Admin(const std::string& sql);
  // Runs SQL on this database and returns the first column of the first row
  // ("" when there are no rows).
  std::string Query(const std::string& sql) const;

  // Refuses new connections and ends the existing ones, as when the database is lost.
  void Disconnect();
  // Allows connections again.
  void Reconnect();

 private:
  std::string name_;
  std::string url_;
};

// A transaction held open on a connection of its own, after running `sql` in
// it, until Abort() or destruction: to hold a lock across the steps of a test.
class OpenTransaction {
 public:
  OpenTransaction(const TestDatabase& db, const std::string& sql);
  ~OpenTransaction();
  void Abort();

 private:
  struct Held;
  std::unique_ptr<Held> held_;
};

// A PostgreSQL cluster of its own (deploy/pg.sh, on a free loopback port),
// for a test that restarts the server, which the shared cluster cannot do
// while other tests use it. Removed when destroyed.
class PrivateCluster {
 public:
  PrivateCluster();
  ~PrivateCluster();
  PrivateCluster(const PrivateCluster&) = delete;
  PrivateCluster& operator=(const PrivateCluster&) = delete;

  // libpq connection string of its "postgres" database.
  const std::string& url() const { return url_; }
  // Same as TestDatabase::Query.
  std::string Query(const std::string& sql) const;
  // A fast restart (pg_ctl -m fast stop, then start): every session ends.
  void Restart();

 private:
  std::string dir_, port_, url_;
};

// Connection string of the cluster's maintenance database.
std::string AdminUrl();

// Applies a service's embedded migrations to its schema in the database at `url`.
absl::Status MigrateSchema(const std::string& url, const std::string& schema,
                           const std::vector<db::EmbeddedFile>& files);

}  // namespace aw::testing
