#include "tests/support/test_db.h"

#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <pqxx/pqxx>

#include "absl/strings/str_cat.h"
#include "common/pg_migrations.h"

namespace aw::testing {
namespace {

std::string Port() {
  const char* port = std::getenv("AW_TEST_PG_PORT");
  return port != nullptr ? port : AW_TEST_PG_PORT_DEFAULT;
}

std::string UrlOf(const std::string& db) {
  return absl::StrCat("host=127.0.0.1 port=", Port(), " user=postgres dbname=", db);
}

}  // namespace

std::string AdminUrl() { return UrlOf("postgres"); }

void TestDatabase::Admin(const std::string& sql) {
  pqxx::connection c(AdminUrl());
  pqxx::nontransaction tx(c);
  tx.exec(sql);
}

TestDatabase::TestDatabase() {
  static std::atomic<int> counter{0};
  name_ = absl::StrCat("aw_test_", getpid(), "_", counter++);
  url_ = UrlOf(name_);
  Admin("DROP DATABASE IF EXISTS " + name_);
  Admin("CREATE DATABASE " + name_);
}

TestDatabase::~TestDatabase() {
  try {
    Admin("DROP DATABASE IF EXISTS " + name_ + " WITH (FORCE)");
  } catch (const std::exception&) {
    // The cluster goes away at the end of the run anyway.
  }
}

std::string TestDatabase::Query(const std::string& sql) const {
  pqxx::connection c(url_);
  pqxx::nontransaction tx(c);
  const pqxx::result r = tx.exec(sql);
  if (r.empty() || r[0][0].is_null()) return "";
  return r[0][0].as<std::string>();
}

void TestDatabase::Disconnect() {
  Admin("ALTER DATABASE " + name_ + " ALLOW_CONNECTIONS false");
  Admin("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '" + name_ + "'");
}

void TestDatabase::Reconnect() { Admin("ALTER DATABASE " + name_ + " ALLOW_CONNECTIONS true"); }

struct OpenTransaction::Held {
  explicit Held(const std::string& url) : connection(url), tx(connection) {}
  pqxx::connection connection;
  pqxx::work tx;
};

OpenTransaction::OpenTransaction(const TestDatabase& db, const std::string& sql)
    : held_(std::make_unique<Held>(db.url())) {
  held_->tx.exec(sql);
}

OpenTransaction::~OpenTransaction() { Abort(); }

void OpenTransaction::Abort() {
  if (held_ == nullptr) return;
  try {
    held_->tx.abort();
  } catch (const std::exception&) {
    // The connection may be gone already; the transaction with it.
  }
  held_.reset();
}

absl::Status MigrateSchema(const std::string& url, const std::string& schema,
                           const std::vector<db::EmbeddedFile>& files) {
  auto migrations = db::ParseMigrations(files);
  if (!migrations.ok()) return migrations.status();
  pqxx::connection c(url);
  return db::ApplyMigrations(c, schema, *migrations).status();
}

}  // namespace aw::testing
