#include "common/pg.h"

#include <algorithm>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/backoff.h"
#include "common/log.h"
#include "common/worker_pool.h"

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

namespace {

class Receiver final : public pqxx::notification_receiver {
 public:
  Receiver(pqxx::connection_base& conn, const std::string& channel, const Listener::OnNotify& on_notify)
      : notification_receiver(conn, channel), on_notify_(on_notify) {}
  void operator()(const std::string& payload, int) override { on_notify_(channel(), payload); }

 private:
  const Listener::OnNotify& on_notify_;
};

// How long a wait for notifications lasts before the stop flag is looked at.
constexpr long kListenWaitMicros = 200 * 1000;

}  // namespace

Listener::Listener(std::string url, std::vector<std::string> channels, OnNotify on_notify,
                   std::function<void()> on_connected, std::function<void()> on_drained)
    : url_(std::move(url)),
      channels_(std::move(channels)),
      on_notify_(std::move(on_notify)),
      on_connected_(std::move(on_connected)),
      on_drained_(std::move(on_drained)) {}

Listener::~Listener() { Stop(); }

void Listener::Start() { thread_ = NamedThread("aw-pg-listen", [this] { Loop(); }); }

void Listener::Stop() {
  if (!stop_.HasBeenNotified()) stop_.Notify();
  if (thread_.joinable()) thread_.join();
}

void Listener::Loop() {
  const Backoff backoff{.initial = absl::Milliseconds(100), .max = absl::Seconds(5)};
  int failures = 0;
  while (!stop_.HasBeenNotified()) {
    try {
      pqxx::connection conn(url_);
      std::vector<std::unique_ptr<Receiver>> receivers;
      for (const std::string& channel : channels_) {
        receivers.push_back(std::make_unique<Receiver>(conn, channel, on_notify_));
      }
      conn.get_notifs();  // LISTEN is sent once the receivers exist
      connected_ = true;
      failures = 0;
      on_connected_();
      while (!stop_.HasBeenNotified()) {
        if (conn.await_notification(0, kListenWaitMicros) > 0) {
          while (conn.get_notifs() > 0) {  // what arrived meanwhile joins the burst
          }
          on_drained_();
        }
      }
    } catch (const std::exception& e) {
      if (failures == 0) Logger("db")->warn("listener on {}: {}", absl::StrJoin(channels_, ","), e.what());
    }
    connected_ = false;
    if (stop_.HasBeenNotified()) break;
    stop_.WaitForNotificationWithTimeout(backoff.After(++failures));
  }
}

std::unique_ptr<Listener> ListenForPositions(const std::string& url, const std::string& channel,
                                             std::function<void(int64_t)> committed,
                                             std::function<void()> reconnected) {
  // Positions only grow: the latest of a burst says all the others do.
  auto latest = std::make_shared<int64_t>(0);  // the listener's thread only
  auto listener = std::make_unique<Listener>(
      url, std::vector<std::string>{channel},
      [latest](const std::string&, const std::string& payload) {
        int64_t position = 0;
        if (absl::SimpleAtoi(payload, &position)) *latest = std::max(*latest, position);
      },
      std::move(reconnected), [latest, committed = std::move(committed)] { committed(*latest); });
  listener->Start();
  return listener;
}

absl::StatusOr<std::unique_ptr<SessionLock>> SessionLock::TryAcquire(const std::string& url, int64_t key) {
  try {
    auto conn = std::make_unique<pqxx::connection>(url);
    // libpqxx 6 would reconnect a broken connection on the next query: a new
    // session, without the lock. A lock holder must see the break instead.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"  // deprecated in 6.x, and what 6.4 needs here
    conn->inhibit_reactivation(true);
#pragma GCC diagnostic pop
    bool won = false;
    {
      pqxx::nontransaction tx(*conn);
      won = tx.exec_params1("SELECT pg_try_advisory_lock($1) AS won", key)["won"].as<bool>();
    }
    if (!won) return std::unique_ptr<SessionLock>();
    return std::unique_ptr<SessionLock>(new SessionLock(std::move(conn), key));
  } catch (const std::exception& e) {
    return absl::UnavailableError(absl::StrCat("session lock ", key, ": ", StatusFromException(e).message()));
  }
}

SessionLock::~SessionLock() = default;  // closing the connection releases the lock

absl::Status SessionLock::Check() {
  try {
    pqxx::nontransaction tx(*conn_);
    // A bigint advisory key shows in pg_locks as classid (high half), objid
    // (low half) and objsubid 1.
    const bool held =
        tx.exec_params1(
              "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid() "
              "AND granted AND objsubid = 1 AND ((classid::bigint << 32) | objid::bigint) = $1) AS held",
              key_)["held"]
            .as<bool>();
    if (!held) return absl::UnavailableError(absl::StrCat("session lock ", key_, " is no longer held"));
    return absl::OkStatus();
  } catch (const std::exception& e) {
    return absl::UnavailableError(absl::StrCat("session lock ", key_, ": ", StatusFromException(e).message()));
  }
}

}  // namespace aw::db
