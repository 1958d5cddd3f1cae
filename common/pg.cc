#include "common/pg.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace aw::db {
namespace {

absl::StatusCode CodeForSqlState(const std::string& state) {
  if (state == "23505") return absl::StatusCode::kAlreadyExists;        // unique_violation
  if (state == "23503") return absl::StatusCode::kFailedPrecondition;   // foreign_key_violation
  if (state == "40001" || state == "40P01" || state == "55P03") {
    return absl::StatusCode::kAborted;  // serialization, deadlock, lock not available
  }
  if (state == "57014") return absl::StatusCode::kDeadlineExceeded;     // query_canceled
  if (state == "3D000" || state == "3F000") return absl::StatusCode::kFailedPrecondition;
  if (absl::StartsWith(state, "23") || absl::StartsWith(state, "22")) {
    return absl::StatusCode::kInvalidArgument;  // other integrity / data exceptions
  }
  if (absl::StartsWith(state, "53")) return absl::StatusCode::kResourceExhausted;
  if (absl::StartsWith(state, "08") || absl::StartsWith(state, "57P")) {
    return absl::StatusCode::kUnavailable;  // connection exceptions, shutdown
  }
  return absl::StatusCode::kInternal;
}

}  // namespace

absl::Status StatusFromException(const std::exception& e) {
  if (dynamic_cast<const pqxx::broken_connection*>(&e) != nullptr) {
    return absl::UnavailableError(absl::StrCat("database connection lost: ", e.what()));
  }
  if (dynamic_cast<const pqxx::in_doubt_error*>(&e) != nullptr) {
    return absl::UnknownError(absl::StrCat("database commit outcome unknown: ", e.what()));
  }
  if (const auto* sql = dynamic_cast<const pqxx::sql_error*>(&e); sql != nullptr) {
    return absl::Status(CodeForSqlState(sql->sqlstate()),
                        absl::StrCat("database error ", sql->sqlstate(), ": ", e.what()));
  }
  return absl::InternalError(absl::StrCat("database client error: ", e.what()));
}

Pool::Pool(PoolOptions options) : options_(std::move(options)) {}

Pool::~Pool() { Close(); }

absl::StatusOr<std::unique_ptr<pqxx::connection>> Pool::Open() {
  try {
    auto conn = std::make_unique<pqxx::connection>(options_.url);
    pqxx::nontransaction setup(*conn);
    setup.exec("SET application_name TO " + setup.quote(options_.application_name));
    if (!options_.schema.empty()) {
      setup.exec("SET search_path TO " + setup.quote_name(options_.schema) + ", public");
    }
    return conn;
  } catch (const std::exception& e) {
    absl::Status s = StatusFromException(e);
    return absl::UnavailableError(absl::StrCat("cannot connect to the database: ", s.message()));
  }
}

absl::StatusOr<std::unique_ptr<pqxx::connection>> Pool::Acquire() {
  {
    absl::MutexLock lock(&mu_);
    auto available = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return closed_ || !idle_.empty() || open_ < options_.size;
    };
    if (!mu_.AwaitWithTimeout(absl::Condition(&available), options_.acquire_timeout)) {
      return absl::UnavailableError(absl::StrCat("no free database connection within ",
                                                 absl::FormatDuration(options_.acquire_timeout)));
    }
    if (closed_) return absl::UnavailableError("database pool is closed");
    if (!idle_.empty()) {
      auto conn = std::move(idle_.back());
      idle_.pop_back();
      return conn;
    }
    ++open_;  // reserve a slot, open outside the lock
  }
  auto conn = Open();
  if (!conn.ok()) {
    absl::MutexLock lock(&mu_);
    --open_;
  }
  return conn;
}

void Pool::Release(std::unique_ptr<pqxx::connection> conn) {
  absl::MutexLock lock(&mu_);
  if (closed_ || conn == nullptr || !conn->is_open()) {
    --open_;
    return;  // `conn` closes as it goes out of scope
  }
  idle_.push_back(std::move(conn));
}

absl::Status Pool::Run(const std::function<absl::Status(pqxx::connection&)>& fn) {
  auto conn = Acquire();
  if (!conn.ok()) return conn.status();
  absl::Status result;
  try {
    result = fn(**conn);
  } catch (const std::exception& e) {
    result = StatusFromException(e);
    if (result.code() == absl::StatusCode::kUnavailable ||
        result.code() == absl::StatusCode::kUnknown) {
      conn->reset();  // never reuse a connection in doubt
    }
  }
  Release(std::move(*conn));
  return result;
}

absl::Status Pool::Ping() {
  return Run([](pqxx::connection& c) {
    pqxx::nontransaction tx(c);
    tx.exec1("SELECT 1");
    return absl::OkStatus();
  });
}

void Pool::Close() {
  std::vector<std::unique_ptr<pqxx::connection>> idle;
  {
    absl::MutexLock lock(&mu_);
    closed_ = true;
    open_ -= static_cast<int>(idle_.size());
    idle.swap(idle_);
  }
}

int Pool::open_connections() const {
  absl::MutexLock lock(&mu_);
  return open_;
}

}  // namespace aw::db
