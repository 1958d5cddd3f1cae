// The evaluator: consumes the ingest readings feed from its durable cursor,
// keeps its own in-memory projection of every value, judges each new value by
// the enabled rules that watch it, and commits the event changes together with
// the cursor. Judging and committing run on two threads: the next page is
// judged while the last one commits, and pages that queue up while a commit
// runs go into the next transaction together. One evaluator leads at a time:
// a PostgreSQL advisory lock elects it, a watchdog steps it down the moment
// the lock is gone (a database restart ends its session), a new leader waits
// longer than that before it leads, and a leadership epoch fences every
// commit, so a leader that lost its lock can change nothing. The others wait
// to take over. Thread-safe.
#pragma once

#include <atomic>
#include <cmath>
#include <optional>
#include <memory>
#include <string>
#include <thread>

#include <grpcpp/grpcpp.h>

#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "common/clock.h"
#include "common/feed_client.h"
#include "common/period.h"
#include "services/monitor/directory.h"
#include "services/monitor/monitor_store.h"

namespace aw::monitor {

struct MonitorMetrics;

class Evaluator {
 public:
  // The name of its cursor on the ingest readings feed.
  static constexpr const char* kFeed = MonitorStore::kReadingsFeed;

  Evaluator(MonitorStore* store, Directory* directory, MonitorMetrics* metrics, Clock* clock);
  ~Evaluator();

  void Start();
  void Stop();

  bool leader() const { return leader_; }
  int64_t cursor() const { return cursor_; }

 private:
  // Codes are interned to small integers so that the hot path allocates nothing.
  class Names {
   public:
    int Id(absl::string_view name);
    const std::string& Name(int id) const { return names_[id]; }

   private:
    absl::flat_hash_map<std::string, int> ids_;
    std::vector<std::string> names_;
  };
  // One unit's values of one indicator and period type, dense by period
  // ordinal (consecutive periods of a type are consecutive integers) from
  // `first`; NaN marks a period without a value (ingest accepts finite values
  // only). A look-back is an index, not a search.
  struct Series {
    int64_t first = 0;
    std::vector<double> values;

    void Set(int64_t ordinal, double value);
    bool Has(int64_t ordinal) const { return Get(ordinal).has_value(); }
    std::optional<double> Get(int64_t ordinal) const {
      if (ordinal < first || ordinal - first >= static_cast<int64_t>(values.size())) return std::nullopt;
      const double v = values[ordinal - first];
      return std::isnan(v) ? std::nullopt : std::optional<double>(v);
    }
  };
  // (indicator, unit, period type) and (rule, unit, period type, day) keys.
  static uint64_t SeriesId(int indicator, int unit, int type) {
    return (static_cast<uint64_t>(indicator) << 40) | (static_cast<uint64_t>(unit) << 8) | type;
  }
  struct EventId {
    int rule, unit, type;
    int64_t day;
    bool operator==(const EventId&) const = default;
    template <typename H>
    friend H AbslHashValue(H h, const EventId& k) {
      return H::combine(std::move(h), k.rule, k.unit, k.type, k.day);
    }
  };

  class Committer;

  void Loop();
  absl::Status Lead(LeaderLease& lease);
  // Stops leading at once (the lock is lost): the metric drops, the feed ends.
  void StepDown();
  absl::Status Handle(const v1::WatchReadingsResponse& page, int64_t replay_until);
  absl::Status SyncRules(bool force);
  void Track(const OpenEventRow& row);
  using Subscription = FeedSubscription<v1::WatchReadingsRequest, v1::WatchReadingsResponse>;
  // Appends the event change (if any) of `rule` on (unit, period).
  void Judge(size_t rule_index, const DirectorySnapshot& dir, int unit, const UnitFacts* facts,
             const IndicatorFacts& indicator, const Series& series, const Period& period, int64_t ordinal,
             int64_t cause_seq, std::vector<EventUpdate>& updates);
  // Queues `updates` for commit with a move of the cursor to `to` (none when
  // `to` is where the cursor already is); `newest` is the newest reading's time.
  absl::Status Commit(std::vector<EventUpdate> updates, int64_t to, absl::Time newest);
  absl::Status SweepWhitelist();
  // Loads the entries in force and suppresses what new ones cover.
  absl::Status LoadWhitelist(const DirectorySnapshot& dir);

  MonitorStore* const store_;
  Directory* const directory_;
  MonitorMetrics* const metrics_;
  Clock* const clock_;

  // Owned by the evaluator thread.
  Names units_, indicators_, rule_names_;
  absl::flat_hash_map<uint64_t, Series> projection_;
  std::vector<v1::Rule> rules_;
  std::vector<int> rule_ids_;                                       // by index in rules_
  absl::flat_hash_map<uint64_t, std::vector<size_t>> rules_by_series_;  // SeriesId(indicator, 0, type)
  int64_t rules_version_ = -1;
  bool synced_ = false;  // the rule set has judged the whole projection
  int64_t epoch_ = 0;    // of the leadership held
  absl::flat_hash_map<EventId, OpenEvent> open_;
  std::vector<v1::WhitelistEntry> whitelist_;
  int64_t whitelist_seen_ = 0;  // the newest entry applied to open events
  absl::Time last_sweep_;
  std::vector<std::optional<double>> window_ = std::vector<std::optional<double>>(64);  // Judge's scratch
  int64_t evaluations_ = 0;  // since the last page, for the metric
  Committer* committer_ = nullptr;  // while leading
  int64_t queued_to_ = 0;           // the cursor position of the last changes queued
  int64_t handled_ = 0;             // the feed position of the last page handled
  std::atomic<bool> leader_{false};
  std::atomic<int64_t> cursor_{0};
  absl::Notification stop_;
  absl::Mutex mu_;
  Subscription* feed_ ABSL_GUARDED_BY(mu_) = nullptr;  // while leading
  std::thread thread_;
};

}  // namespace aw::monitor
