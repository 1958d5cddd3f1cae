// The ingest service's PostgreSQL store: org units, indicator definitions,
// reading batches, queries, completeness, the change feed and pull bindings, all
// in schema "ingest". Thread-safe; every call takes a pooled connection and
// returns a status, never an exception.
#pragma once

#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "auditwatch/v1/ingest.pb.h"
#include "common/pg.h"
#include "services/ingest/ingest_logic.h"

namespace aw::ingest {

// A change to a unit, as the three RPCs ask for it.
struct UnitChange {
  enum Kind { kRename, kMove, kDeactivate } kind;
  std::string code;
  std::string new_name;         // kRename
  std::string new_parent_code;  // kMove
  std::string effective_from;   // ISO date; today when empty
  std::string actor;
  std::string reason;
  int64_t expected_version = 0;
};

// One stored reading version.
struct StoredReading {
  int unit_id = 0;
  int indicator_id = 0;
  Period period;
  double value = 0;
  int64_t seq = 0;
  std::string entered_by;
  std::string reason;
  std::string source;
  absl::Time recorded_at;
  int version = 0;
  bool current = false;
};

// Fills a Reading message; codes come from the catalogue.
void ToProto(const Catalogue& catalogue, const StoredReading& r, v1::Reading* out);

struct FeedFilter {
  std::vector<int> indicator_ids;   // empty = all
  std::vector<int> period_types;    // empty = all
  bool values_only = false;         // key, value, seq and commit time only
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

class IngestStore {
 public:
  struct Options {
    ValidationOptions validation;  // `today` is refreshed on every batch
    int max_future_days = 0;
    // Called after each committed batch (wakes feed subscribers).
    std::function<void()> on_commit;
  };

  IngestStore(db::Pool* pool, Options options);

  // The catalogue as committed now; reloaded only when it changed.
  absl::StatusOr<std::shared_ptr<const Catalogue>> GetCatalogue();

  absl::StatusOr<v1::Unit> CreateUnit(const v1::CreateUnitRequest& request);
  absl::StatusOr<v1::Unit> ChangeUnit(const UnitChange& change);
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

  // Fills `page` with the change feed after `from_seq`: the readings of at most
  // `max_batches` batches in sequence order, and the position reached
  // (filtered-out rows included). Allocate `page` on an arena for speed.
  absl::Status ReadFeed(const Catalogue& catalogue, int64_t from_seq, const FeedFilter& filter,
                        int max_batches, v1::WatchReadingsResponse* page);
  // Greatest committed commit_seq (0 when none).
  absl::StatusOr<int64_t> LatestCommitSeq();

  // Test seam: runs inside IngestBatch after the rows are written and before
  // the commit sequence is taken, so tests can interleave two writers.
  void SetBeforeCommitHookForTest(std::function<void()> hook) { before_commit_ = std::move(hook); }

  db::Pool* pool() { return pool_; }

 private:
  absl::StatusOr<std::shared_ptr<const Catalogue>> CatalogueIn(pqxx::transaction_base& tx);
  // The catalogue at `version` (read in `tx`): the cached one, or reloaded.
  absl::StatusOr<std::shared_ptr<const Catalogue>> CatalogueAt(pqxx::transaction_base& tx,
                                                               int64_t version);

  db::Pool* pool_;
  Options options_;
  std::function<void()> before_commit_;
  RecentBatches recent_{256};
  absl::Mutex mu_;
  std::shared_ptr<const Catalogue> catalogue_ ABSL_GUARDED_BY(mu_);
};

// Loads every unit and indicator version (used by the store; public for tests).
absl::StatusOr<std::shared_ptr<Catalogue>> LoadCatalogue(pqxx::transaction_base& tx);


}  // namespace aw::ingest
