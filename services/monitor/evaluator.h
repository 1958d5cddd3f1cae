// The evaluator: consumes the ingest readings feed from its durable cursor,
// keeps its own in-memory projection of every value, judges each new value by
// the enabled rules that watch it, and commits the event changes together with
// the cursor. One evaluator runs at a time (a PostgreSQL advisory lock elects
// it); the others wait to take over. Thread-safe.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <string>
#include <thread>

#include <grpcpp/grpcpp.h>

#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "common/period.h"
#include "services/monitor/directory.h"
#include "services/monitor/monitor_store.h"

namespace aw::monitor {

struct MonitorMetrics;

class Evaluator {
 public:
  // The name of its cursor on the ingest readings feed.
  static const char kFeed[];

  Evaluator(MonitorStore* store, Directory* directory, MonitorMetrics* metrics, std::string database_url);
  ~Evaluator();

  void Start();
  void Stop();

  bool leader() const { return leader_; }
  int64_t cursor() const { return cursor_; }

 private:
  using Series = std::map<int64_t, double>;  // period first day (days since 1970) → value

  void Loop();
  absl::Status Lead();
  absl::Status Handle(const v1::WatchReadingsResponse& page, int64_t replay_until);
  absl::Status SyncRules(bool force);
  // Appends the event change (if any) of `rule` on (unit, period).
  void Judge(const v1::Rule& rule, const DirectorySnapshot& dir, const std::string& unit,
             const IndicatorFacts& indicator, const Period& period, int64_t cause_seq,
             std::vector<EventUpdate>& updates);
  absl::Status Commit(std::vector<EventUpdate>& updates, int64_t to);
  bool Whitelisted(const v1::Rule& rule, const DirectorySnapshot& dir, const std::string& unit,
                   const std::string& indicator) const;

  MonitorStore* store_;
  Directory* directory_;
  MonitorMetrics* metrics_;
  const std::string database_url_;

  // Owned by the evaluator thread.
  absl::flat_hash_map<std::string, Series> projection_;  // indicator, unit, period type
  std::vector<v1::Rule> rules_;
  absl::flat_hash_map<std::string, std::vector<size_t>> rules_by_series_;  // indicator, period type
  int64_t rules_version_ = -1;
  absl::flat_hash_map<std::string, OpenEvent> open_;
  std::vector<v1::WhitelistEntry> whitelist_;
  absl::Time last_sweep_;
  absl::Time last_missing_sync_;

  std::atomic<bool> leader_{false};
  std::atomic<int64_t> cursor_{0};
  absl::Notification stop_;
  absl::Mutex mu_;
  grpc::ClientContext* stream_ ABSL_GUARDED_BY(mu_) = nullptr;
  std::thread thread_;
};

}  // namespace aw::monitor
