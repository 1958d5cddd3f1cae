// PostgreSQL access over libpqxx 6.4: a bounded connection pool bound to one
// service's schema, with reconnect, and the mapping of libpqxx exceptions to
// absl::Status so that no exception leaves a store.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <pqxx/pqxx>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
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

}  // namespace aw::db
