// The ingest service's PostgreSQL store: org units, indicator definitions,
// reading batches, queries, completeness, the change feed and pull bindings, all
// in schema "ingest". Thread-safe; every call takes a pooled connection and
// returns a status, never an exception.
#pragma once

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
};

struct FeedPage {
  std::vector<v1::ReadingChange> changes;
  int64_t last_seq = 0;  // position reached, filtered-out rows included
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

  // The change feed page after `from_seq`: at most `max_batches` batches.
  absl::StatusOr<FeedPage> ReadFeed(const Catalogue& catalogue, int64_t from_seq,
                                    const FeedFilter& filter, int max_batches);
  // Greatest committed commit_seq (0 when none).
  absl::StatusOr<int64_t> LatestCommitSeq();

  // Test seam: runs inside IngestBatch after the rows are written and before
  // the commit sequence is taken, so tests can interleave two writers.
  void SetBeforeCommitHookForTest(std::function<void()> hook) { before_commit_ = std::move(hook); }

  db::Pool* pool() { return pool_; }

 private:
  absl::StatusOr<std::shared_ptr<const Catalogue>> CatalogueIn(pqxx::transaction_base& tx);

  db::Pool* pool_;
  Options options_;
  std::function<void()> before_commit_;
  absl::Mutex mu_;
  std::shared_ptr<const Catalogue> catalogue_ ABSL_GUARDED_BY(mu_);
};

// Loads every unit and indicator version (used by the store; public for tests).
absl::StatusOr<std::shared_ptr<Catalogue>> LoadCatalogue(pqxx::transaction_base& tx);

// The COPY text of a PostgreSQL array literal of strings: {"a","b \"c\""}.
std::string TextArrayLiteral(const std::vector<const std::string*>& values);

}  // namespace aw::ingest
