// The scoring service's PostgreSQL schema (sql/): scheme versions, units'
// selections with their history, bonus points, immutable runs with each
// unit's figures and breakdown, the published mark and its history, timer rows
// of due evaluations, cursors on other services' feeds and the outbox of
// score readings. Every statement is a named constant; columns are read by
// name; each write is one transaction. Time comes from the caller.
// Thread-safe.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "auditwatch/v1/scoring.pb.h"
#include "common/pg.h"
#include "services/scoring/scoring_logic.h"

namespace aw::scoring {

// A page of a list paged by key, newest first: ids below `before` (0: from
// the newest), at most `limit`.
struct KeyPage {
  int64_t before = 0;
  int limit = 100;
};

// A period as the store keeps it.
struct PeriodRow {
  int type = 0;  // auditwatch.v1.PeriodType
  std::string key;
  std::string first_day, last_day;  // ISO dates
};

// A due evaluation: a timer row.
struct Due {
  std::string period_key;
  int period_type = 0;
  v1::RunTrigger trigger = v1::RUN_TRIGGER_UNSPECIFIED;
  absl::Time due_at;
  int64_t generation = 0;
};

// What a run records besides its figures.
struct RunRecord {
  PeriodRow period;
  int32_t scheme_year = 0;
  int64_t scheme_version = 0;
  v1::RunTrigger trigger = v1::RUN_TRIGGER_ON_DEMAND;
  std::string requested_by;
  absl::Time started_at, finished_at;
  int readings = 0, deductions = 0, missing_values = 0;
  std::string inputs_digest, results_digest;
  int64_t readings_max_seq = 0;
};

// How a run is published with its commit.
enum class PublishMode {
  kNo,
  kYes,             // replaces the period's published run
  kIfNonePublished  // a scheduled run: only when the period has none yet
};

// One unit's figures in a run, as rankings and trends read them.
struct UnitFigures {
  std::string unit_code, parent_code;
  int unit_type = 0;
  double composite = 0, business_total = 0;
  std::optional<double> main_total, process_total;
  int rank = 0;
  int64_t run_id = 0;
  std::string period_key;
};

class ScoringStore {
 public:
  explicit ScoringStore(db::Pool* pool) : pool_(pool) {}

  // --- Schemes
  // Saves `scheme` as the version after `expected_version` (ABORTED naming
  // both when the latest is another) and the timer rows `schedule` of its
  // periods not yet due. Returns it with its audit info.
  absl::StatusOr<v1::Scheme> SaveScheme(const v1::Scheme& scheme, int64_t expected_version, const std::string& actor,
                                        const std::string& reason, absl::Time now, const std::vector<Due>& schedule);
  // The latest version (version 0) or the one asked for; NOT_FOUND naming the year.
  absl::StatusOr<v1::Scheme> GetScheme(int32_t year, int64_t version);
  absl::StatusOr<std::vector<v1::Scheme>> ListSchemeVersions(int32_t year, const KeyPage& page);

  // --- Selections
  absl::StatusOr<v1::UnitSelection> SetSelection(int32_t year, const std::string& unit,
                                                 const std::vector<std::string>& codes, int64_t expected_version,
                                                 const std::string& actor, const std::string& reason, absl::Time now);
  // NOT_FOUND when the unit has never chosen.
  absl::StatusOr<v1::UnitSelection> GetSelection(int32_t year, const std::string& unit);
  // Every non-empty selection of the year.
  absl::StatusOr<absl::flat_hash_map<std::string, std::vector<std::string>>> Selections(int32_t year);

  // --- Bonuses
  // Grants it; a retry with the same approver and key returns the first
  // bonus (INVALID_ARGUMENT when the request differs).
  absl::StatusOr<v1::Bonus> GrantBonus(const v1::Bonus& bonus, const PeriodRow& period, const std::string& key,
                                       const std::string& request, absl::Time now);
  // Bonuses of `units` (all when empty) dated inside `period` (all when unset).
  absl::StatusOr<std::vector<v1::Bonus>> ListBonuses(const std::vector<std::string>& units,
                                                     const std::optional<PeriodRow>& period, const KeyPage& page);
  absl::StatusOr<std::vector<BonusIn>> BonusesInside(const PeriodRow& period);

  // --- Runs
  // Commits a run with its figures, publishing it as `mode` says, and, when
  // it ran a timer row, ends that row (unless the row was touched again
  // meanwhile). A published run's scores go to the outbox with it.
  absl::StatusOr<v1::EvaluationRun> SaveRun(const RunRecord& record, const Outcome& outcome, PublishMode mode,
                                            const std::optional<Due>& ran);
  // Marks the run published (FAILED_PRECONDITION without a reason when its
  // period already has a published run), with its history row and outbox row.
  absl::StatusOr<v1::EvaluationRun> Publish(int64_t run_id, const std::string& actor, const std::string& reason,
                                            absl::Time now);
  absl::StatusOr<v1::EvaluationRun> GetRun(int64_t run_id);
  absl::StatusOr<std::vector<v1::EvaluationRun>> ListRuns(const std::string& period_key, const KeyPage& page);
  // The run a read of `period_key` uses: the published one, else the latest;
  // 0 when the period was never evaluated.
  absl::StatusOr<int64_t> RunOf(const std::string& period_key);
  // The unit's breakdown in the run; NOT_FOUND when the run did not score it.
  absl::StatusOr<v1::Evaluation> Breakdown(int64_t run_id, const std::string& unit);
  // The units below `parent` in the run: its direct subordinates, or with
  // `unit_type` every unit of that type below it.
  absl::StatusOr<std::vector<UnitFigures>> Below(int64_t run_id, const std::string& parent, int unit_type);
  // The unit's figures in the run read for each period (none for a period
  // never evaluated or a unit the run did not score).
  absl::StatusOr<std::vector<UnitFigures>> FiguresOver(const std::string& unit, const std::vector<std::string>& keys);

  // --- Due evaluations (timer rows)
  // Marks the periods among `keys` that have a run as due again at `due_at`
  // (or keeps an earlier due time), and moves the cursor `feed` to
  // `position`, in one transaction. Returns how many rows it touched.
  absl::StatusOr<int> MarkDirty(const std::vector<std::string>& keys, v1::RunTrigger trigger, absl::Time due_at,
                                const std::string& feed, int64_t position);
  // A due row not leased by another replica, leased to this one until
  // now + lease; nullopt when none is due.
  absl::StatusOr<std::optional<Due>> ClaimDue(absl::Time now, absl::Duration lease);
  // A run of the row failed: it is due again at `retry_at`.
  absl::Status FailDue(const Due& due, const std::string& error, absl::Time retry_at);
  absl::StatusOr<std::vector<Due>> ListDue();
  absl::StatusOr<int64_t> Cursor(const std::string& feed);

  // --- Outbox of score readings
  struct Outgoing {
    int64_t run_id = 0;
    PeriodRow period;
    std::vector<UnitFigures> units;
  };
  // A published run whose scores are still to be sent, leased until now + lease.
  absl::StatusOr<std::optional<Outgoing>> ClaimOutgoing(absl::Time now, absl::Duration lease);
  absl::Status SentOutgoing(int64_t run_id);
  absl::Status FailOutgoing(int64_t run_id, const std::string& error, absl::Time retry_at);

  struct Gauges {
    int64_t due = 0, outbox = 0, runs = 0;
  };
  absl::StatusOr<Gauges> ReadGauges();

 private:
  db::Pool* const pool_;
};

}  // namespace aw::scoring
