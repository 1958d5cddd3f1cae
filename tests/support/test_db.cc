#include "tests/support/test_db.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <stdexcept>
#include <pqxx/pqxx>

#include "absl/strings/str_cat.h"
#include "common/pg_migrations.h"
#include "tests/support/process.h"

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

namespace {

std::string QueryAt(const std::string& url, const std::string& sql) {
  pqxx::connection c(url);
  pqxx::nontransaction tx(c);
  const pqxx::result r = tx.exec(sql);
  if (r.empty() || r[0][0].is_null()) return "";
  return r[0][0].as<std::string>();
}

// A loopback port nobody listens on now.
int FreePort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  int port = 0;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  close(fd);
  return port;
}

void PgScript(const std::string& args) {
  std::string output;
  const int rc = RunCommand(absl::StrCat("bash ", AW_PG_SCRIPT, " ", args), &output);
  if (rc != 0) throw std::runtime_error(absl::StrCat("pg.sh ", args, " failed: ", output));
}

}  // namespace

std::string TestDatabase::Query(const std::string& sql) const { return QueryAt(url_, sql); }

PrivateCluster::PrivateCluster() {
  char dir[] = "/tmp/aw-private-pg-XXXXXX";
  dir_ = mkdtemp(dir);
  port_ = std::to_string(FreePort());
  url_ = absl::StrCat("host=127.0.0.1 port=", port_, " user=postgres dbname=postgres");
  PgScript(absl::StrCat("start ", dir_, " ", port_));
}

PrivateCluster::~PrivateCluster() {
  std::string output;
  RunCommand(absl::StrCat("bash ", AW_PG_SCRIPT, " stop ", dir_, " && rm -rf ", dir_), &output);
}

std::string PrivateCluster::Query(const std::string& sql) const { return QueryAt(url_, sql); }

void PrivateCluster::Restart() {
  PgScript(absl::StrCat("stop ", dir_));
  PgScript(absl::StrCat("start ", dir_, " ", port_));
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
