// The ingest service's PostgreSQL store (schema "ingest"), its only door to
// PostgreSQL: org units, indicator definitions, reading batches, queries, the
// change feed and the notifications that announce its commits, pull bindings
// with their runs, and the read-only data sources pulls read from. Every
// statement is a named constant here; columns are read by name. Thread-safe;
// every call takes a pooled connection and returns a status, never an
// exception.
#pragma once

#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "auditwatch/v1/ingest.pb.h"
#include "common/clock.h"
#include "services/ingest/ingest_logic.h"

namespace pqxx {
class transaction_base;
}

namespace aw::db {
class Pool;
class Listener;
}  // namespace aw::db

namespace aw::ingest {

struct FeedFilter {
  std::vector<int> indicator_ids;  // empty = all
  std::vector<int> period_types;   // empty = all
  bool values_only = false;        // key, value, seq and commit time only
};

// The batches this process committed most recently, kept so that feed
// subscribers near the head are served from memory instead of re-reading
// PostgreSQL. Only ever a shortcut: the feed still asks PostgreSQL which
// batches are committed, and reads any it does not find here. Thread-safe.
class RecentBatches {
 public:
  struct Batch {
    int64_t commit_seq = 0;
    std::string source;
    absl::Time committed_at;
    std::vector<ValidRow> rows;
  };
  explicit RecentBatches(size_t capacity) : capacity_(capacity) {}
  void Add(std::shared_ptr<const Batch> batch);
  std::shared_ptr<const Batch> Find(int64_t commit_seq) const;

 private:
  const size_t capacity_;
  mutable absl::Mutex mu_;
  std::deque<int64_t> order_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<int64_t, std::shared_ptr<const Batch>> by_seq_ ABSL_GUARDED_BY(mu_);
};

// A pull binding as the scheduler runs it.
struct PullBindingRow {
  std::string name, indicator_code, data_source, query;
  PeriodType period_type = PeriodType::kMonth;
  int run_day_offset = 0;
  absl::Duration run_time;
  std::string next_period;
};

// A row a data source returned for a pull: unit code and value, either NULL.
struct SourceRow {
  std::optional<std::string> unit_code;
  std::optional<double> value;
};

class IngestStore {
 public:
  struct Options {
    ValidationOptions validation;  // `today` is refreshed on every batch
    // Called after each committed batch with its commit sequence (wakes this
    // process's feed subscribers at once; other replicas hear of it through
    // the commit notification).
    std::function<void(int64_t commit_seq)> on_commit;
    Clock* clock = Clock::Real();
  };

  IngestStore(db::Pool* pool, Options options);
  ~IngestStore();

  // The catalogue as committed now; reloaded only when it changed.
  absl::StatusOr<std::shared_ptr<const Catalogue>> GetCatalogue();

  // Creates a unit whose fields were checked (CheckNewUnitFields), effective
  // from its effective_from (today when empty).
  absl::StatusOr<v1::Unit> CreateUnit(const v1::CreateUnitRequest& request);
  // Applies a checked change (CheckChangeFields), effective likewise.
  absl::StatusOr<v1::Unit> ChangeUnit(const UnitChange& change);
  // Stores a validated definition (ValidateIndicator) as its next revision.
  absl::StatusOr<v1::Indicator> UpsertIndicator(const v1::UpsertIndicatorRequest& request);

  // Validates and writes one batch; durable when it returns. A batch id seen
  // before returns the stored result with duplicate = true.
  absl::StatusOr<v1::BatchResult> IngestBatch(const v1::ReadingBatch& batch);

  // Reading versions of `unit_ids` × `indicator_ids` (all when empty) for the
  // periods of `type` starting in [first_day, last_day], ordered by unit,
  // indicator, period and version; only current versions unless `history`.
  absl::StatusOr<std::vector<StoredReading>> ReadVersions(const std::vector<int>& unit_ids,
                                                          const std::vector<int>& indicator_ids,
                                                          PeriodType type, absl::CivilDay first_day,
                                                          absl::CivilDay last_day, bool history);
  // The same, after the sort key `after` (SortKey; empty = from the start), at
  // most `limit` rows. `unit_ids` must be in ascending order. Reads the units
  // in slices, so that a page costs the same however deep it is.
  absl::StatusOr<std::vector<StoredReading>> ReadVersionsAfter(const std::vector<int>& unit_ids,
                                                               const std::vector<int>& indicator_ids,
                                                               PeriodType type, absl::CivilDay first_day,
                                                               absl::CivilDay last_day, bool history,
                                                               const std::vector<int64_t>& after, int limit);
  // How many rows ReadVersions would return.
  absl::StatusOr<int64_t> CountVersions(const std::vector<int>& unit_ids, const std::vector<int>& indicator_ids,
                                        PeriodType type, absl::CivilDay first_day, absl::CivilDay last_day,
                                        bool history);

  // Fills `page` with the change feed after `from_seq`: the readings of at most
  // `max_batches` batches in sequence order, and the position reached
  // (filtered-out rows included). Allocate `page` on an arena for speed.
  // `committed` gets the commit time of each batch passed.
  absl::Status ReadFeed(const Catalogue& catalogue, int64_t from_seq, const FeedFilter& filter, int max_batches,
                        v1::WatchReadingsResponse* page, std::vector<absl::Time>* committed = nullptr);
  // Greatest committed commit_seq (0 when none).
  absl::StatusOr<int64_t> LatestCommitSeq();
  // Listens for the commits of every replica: `committed(commit_seq)` for each,
  // `reconnected()` after (re)connecting (commits meanwhile were not heard).
  void StartListening(std::function<void(int64_t commit_seq)> committed, std::function<void()> reconnected);
  void StopListening();

  // --- Scheduled pulls
  // Creates or changes a checked binding (CheckPullBinding). A new binding
  // starts with `first`; a changed one keeps its next period unless its period
  // type changed.
  absl::StatusOr<v1::PullBinding> UpsertPullBinding(const v1::PullBinding& binding, absl::Duration time_of_day,
                                                    const Period& first, const std::string& actor,
                                                    const std::string& reason);
  absl::Status ListPullBindings(int64_t offset, int limit, std::vector<v1::PullBinding>* out, int64_t* total);
  absl::StatusOr<PullBindingRow> GetPullBinding(const std::string& name);
  // Runs after pull run id `after` (0 = from the newest), newest first, at
  // most `limit`; with `count`, `total` gets the number of every run of the
  // binding (all when empty).
  absl::Status ListPullRuns(const std::string& binding, int64_t after, int limit, bool count,
                            std::vector<v1::PullRun>* out, int64_t* total);
  // Records a run (filling its id).
  absl::Status RecordPullRun(v1::PullRun* run, const std::string& actor);
  // Claims one binding due at `now` (FOR UPDATE SKIP LOCKED), runs `execute`
  // for its next period and, in the same transaction, records the run and
  // moves the binding to the next period — or, when the run failed, retries
  // the same period `retry_after` later. False when none was due.
  absl::StatusOr<bool> RunDuePull(
      absl::Duration retry_after,
      const std::function<v1::PullRun(const PullBindingRow& binding, const Period& period)>& execute);

  // --- Read-only data sources
  // The rows of `query` with `parameters` on the database at `url`, read-only,
  // within `timeout`; the query must return two columns (unit code, value).
  static absl::StatusOr<std::vector<SourceRow>> QueryDataSource(const std::string& url, const std::string& query,
                                                                const std::vector<std::string>& parameters,
                                                                absl::Duration timeout);
  static bool DataSourceReachable(const std::string& url);

  // Test seam: runs inside IngestBatch after the rows are written and before
  // the commit sequence is taken, so tests can interleave two writers.
  void SetBeforeCommitHookForTest(std::function<void()> hook) { before_commit_ = std::move(hook); }

 private:
  absl::StatusOr<std::shared_ptr<const Catalogue>> CatalogueIn(pqxx::transaction_base& tx);
  // The catalogue at `version` (read in `tx`): the cached one, or reloaded.
  absl::StatusOr<std::shared_ptr<const Catalogue>> CatalogueAt(pqxx::transaction_base& tx, int64_t version);
  void Remember(std::shared_ptr<const Catalogue> catalogue);

  db::Pool* pool_;
  Options options_;
  std::function<void()> before_commit_;
  RecentBatches recent_{256};
  std::unique_ptr<db::Listener> listener_;
  absl::Mutex mu_;
  std::shared_ptr<const Catalogue> catalogue_ ABSL_GUARDED_BY(mu_);
};

}  // namespace aw::ingest
