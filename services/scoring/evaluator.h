// Runs evaluations: gathers a period's inputs (the year's latest scheme, the
// tree as it stood at the period's end, the period's readings and
// deductions from ingest and audit, this service's bonuses and selections),
// scores them with scoring_logic and commits the run with its figures. Also
// the step of the background loop that runs due timer rows — scheduled
// evaluations after a period's deadline, and repeats after late data or a
// changed deduction — claimed with a lease so that replicas never run one
// twice at once. Thread-safe.
#pragma once

#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "common/period.h"
#include "services/scoring/scoring_metrics.h"
#include "services/scoring/scoring_store.h"
#include "services/scoring/sources.h"

namespace aw::scoring {

class Evaluator {
 public:
  struct Options {
    // How long a replica holds a due row while it runs it.
    absl::Duration lease = absl::Minutes(10);
    // A failed run of a due row is tried again after this long.
    absl::Duration retry_after = absl::Minutes(1);
    Clock* clock = Clock::Real();
  };
  Evaluator(ScoringStore* store, Sources* sources, ScoringMetrics* metrics, Options options)
      : store_(store), sources_(sources), metrics_(metrics), options_(options) {}

  // Evaluates `period` (a month, half-year or year) as a new run.
  // FAILED_PRECONDITION naming `period` when its year has no scheme.
  absl::StatusOr<v1::EvaluationRun> Run(const Period& period, v1::RunTrigger trigger, const std::string& by,
                                        PublishMode mode, const std::optional<Due>& ran = std::nullopt);

  // Gathers the inputs of `period` (for Run, and for tests and benchmarks).
  absl::StatusOr<Inputs> Gather(const Period& period, int64_t* readings_max_seq);

  // Runs every due row (the background step); how many ran.
  absl::StatusOr<int> RunDue();

 private:
  ScoringStore* const store_;
  Sources* const sources_;
  ScoringMetrics* const metrics_;
  const Options options_;
};

// A period as the store keeps it.
PeriodRow RowOf(const Period& period);

}  // namespace aw::scoring
