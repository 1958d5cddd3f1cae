// PostgreSQL access over libpqxx 6.4: a bounded connection pool bound to one
// service's schema, with reconnect; the mapping of libpqxx exceptions to
// absl::Status so that no exception leaves a store; a listener for
// notifications (commits that wake change feeds); and a session lock held on a
// connection of its own (leader election). Only stores and common/pg* use it.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <pqxx/pqxx>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"

namespace aw::db {

// The status for an exception thrown by libpqxx (or anything else) while talking
// to PostgreSQL: lost connections are UNAVAILABLE, serialisation failures and
// deadlocks ABORTED, constraint violations ALREADY_EXISTS / FAILED_PRECONDITION /
// INVALID_ARGUMENT, a commit of unknown outcome UNKNOWN, bugs INTERNAL.
absl::Status StatusFromException(const std::exception& e);

struct PoolOptions {
  std::string url;
  // Schema put first on every connection's search_path; empty = leave it.
  std::string schema;
  int size = 4;
  // How long Run() waits for a free connection before UNAVAILABLE.
  absl::Duration acquire_timeout = absl::Seconds(5);
  std::string application_name = "auditwatch";
};

// Thread-safe. Hands out at most `size` connections, opened lazily. A connection
// that breaks is dropped and a fresh one is opened on next use, so the pool
// recovers by itself when the database comes back.
class Pool {
 public:
  explicit Pool(PoolOptions options);
  ~Pool();
  Pool(const Pool&) = delete;
  Pool& operator=(const Pool&) = delete;

  // Runs `fn` on a pooled connection. Exceptions thrown by `fn` become a status
  // (StatusFromException); `fn` must not let a transaction outlive the call.
  absl::Status Run(const std::function<absl::Status(pqxx::connection&)>& fn);

  // OK when a round trip to the database succeeds.
  absl::Status Ping();

  // Closes idle connections; connections in use close when returned.
  void Close();

  const PoolOptions& options() const { return options_; }
  int open_connections() const;

 private:
  absl::StatusOr<std::unique_ptr<pqxx::connection>> Acquire();
  void Release(std::unique_ptr<pqxx::connection> conn);
  absl::StatusOr<std::unique_ptr<pqxx::connection>> Open();

  const PoolOptions options_;
  mutable absl::Mutex mu_;
  std::vector<std::unique_ptr<pqxx::connection>> idle_ ABSL_GUARDED_BY(mu_);
  int open_ ABSL_GUARDED_BY(mu_) = 0;  // idle + in use + being opened
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
};

// Listens for notifications on `channels` (NOTIFY sent in committed
// transactions) on a connection of its own, and calls `on_notify(channel,
// payload)` for each on its own thread, then `on_drained()` once the
// notifications that had arrived are all handled (to act once per burst).
// Notifications sent while it is not connected are lost, so `on_connected`
// runs after every (re)connection: the listener's user should then assume
// that anything may have changed. Reconnects with backoff until stopped.
// Thread-safe.
class Listener {
 public:
  using OnNotify = std::function<void(const std::string& channel, const std::string& payload)>;
  Listener(std::string url, std::vector<std::string> channels, OnNotify on_notify,
           std::function<void()> on_connected, std::function<void()> on_drained = [] {});
  ~Listener();
  Listener(const Listener&) = delete;
  Listener& operator=(const Listener&) = delete;

  void Start();
  void Stop();
  bool connected() const { return connected_; }

 private:
  void Loop();

  const std::string url_;
  const std::vector<std::string> channels_;
  const OnNotify on_notify_;
  const std::function<void()> on_connected_;
  const std::function<void()> on_drained_;
  std::atomic<bool> connected_{false};
  absl::Notification stop_;
  std::thread thread_;
};

// A started Listener on `channel`, whose payloads are positions (the commit
// sequence a transaction announced): `committed(latest position)` once per
// burst of notifications.
std::unique_ptr<Listener> ListenForPositions(const std::string& url, const std::string& channel,
                                             std::function<void(int64_t position)> committed,
                                             std::function<void()> reconnected);

// A session-level advisory lock held on a connection of its own, for as long as
// the object lives (or until that connection is lost). Used to elect the one
// replica that runs a singleton loop.
class SessionLock {
 public:
  // The lock `key` on a new connection to `url` if no other session holds it;
  // nullptr when one does. UNAVAILABLE when the database cannot be reached.
  static absl::StatusOr<std::unique_ptr<SessionLock>> TryAcquire(const std::string& url, int64_t key);
  ~SessionLock();

  // OK while this session still holds the lock, asked of the server (after a
  // database restart the session is gone, and with it the lock);
  // UNAVAILABLE once it does not. The connection is never silently reopened.
  absl::Status Check();

 private:
  SessionLock(std::unique_ptr<pqxx::connection> conn, int64_t key) : conn_(std::move(conn)), key_(key) {}
  std::unique_ptr<pqxx::connection> conn_;
  const int64_t key_;
};

}  // namespace aw::db
