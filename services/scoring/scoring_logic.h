// The rules of the work-quality evaluation (SPEC §4), pure: no server, no
// database, no clock. A scheme is checked here; a value becomes points by one
// formula for both directions; a unit's composite is its main, process and
// business totals weighted, minus its direct deductions, plus its bonus up to
// the cap; units are ranked by competition ranking; the weakest items, the
// comparison of two periods and the forecast of the next month are computed
// here from stored evaluations.
//
// Evaluate() is deterministic: the same inputs, in any order, give the same
// figures to the last bit (inputs are put in a canonical order first, and
// every sum runs in that order).
#pragma once

#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "auditwatch/v1/scoring.pb.h"
#include "common/period.h"

namespace aw::scoring {

namespace v1 = ::auditwatch::v1;

// Composites closer than this share a rank (SPEC §4).
inline constexpr double kTieEpsilon = 1e-9;

// The defaults a scheme's unset fields take (Normalised()).
inline constexpr double kDefaultMainWeight = 50, kDefaultProcessWeight = 10, kDefaultBusinessWeight = 40;
inline constexpr double kDefaultBaseShare = 60;
inline constexpr int kDefaultEvaluateAfterDays = 10;

// `scheme` with its unset weights, base share, missing-value policy and
// evaluation delay given their defaults (all three weights unset → 50/10/40).
v1::Scheme Normalised(v1::Scheme scheme);

// INVALID_ARGUMENT naming the field (e.g. "scheme.items[3].full_score_value")
// and the reason: a year outside 2000..2100, weights outside [0, 100] or not
// summing to 100, a base share outside (0, 100], a negative bonus cap, an
// item without code, class, unit type or direction, points <= 0, a code twice,
// a full-score value not beyond the base value in the item's direction. Call
// on a Normalised() scheme.
absl::Status ValidateScheme(const v1::Scheme& scheme);

// How a value scores against one item: `progress` is how far from base to
// full it lies, clipped to [0, 1]; `score` the points it earns.
struct Term {
  bool reached_base = false;
  double progress = 0;
  double score = 0;
};
// The formula, one for both directions (the direction follows from which side
// of base the full-score value lies): worse than base → 0; at or beyond full
// → all points; between → points × (share + (1 − share) × (v − base)/(full − base)).
// `base_share` is a fraction in (0, 1].
Term ScoreValue(double value, double base, double full, double points, double base_share);

// --- Periods -------------------------------------------------------------------------------

// Months, half-years and years are evaluated (14 a year).
bool IsEvaluated(PeriodType type);
// The 14 evaluation periods of `year` (SPEC §4): its 12 months, its first
// half and the year. The second half is not evaluated on its own (the year
// covers it); it can still be run on demand.
std::vector<Period> EvaluationPeriods(int year);
// The evaluation periods a value or deduction of `period` can change: its
// own (when evaluated) and the half-year and year that contain it (whose
// roll-ups may use it). None for a week, which straddles months.
std::vector<std::string> PeriodsAffectedBy(const Period& period);
// When the scheduled evaluation of `period` runs: the start of the day
// `evaluate_after_days` after the period ends.
absl::Time ScheduledAt(const Period& period, int evaluate_after_days);
// The scheduled evaluations of `scheme`'s year still to come after `now`,
// with when each runs.
std::vector<std::pair<Period, absl::Time>> ScheduleOf(const v1::Scheme& scheme, absl::Time now);

// --- One evaluation ---------------------------------------------------------------------

struct UnitIn {
  std::string code;
  std::string parent;  // empty for a root
  v1::UnitType type = v1::UNIT_TYPE_UNSPECIFIED;
};

struct ReadingIn {
  std::string unit, indicator;
  double value = 0;
  v1::ReadingRef ref;
};

struct DeductionIn {
  int64_t id = 0;
  std::string unit;
  v1::DeductionType type = v1::DEDUCTION_TYPE_UNSPECIFIED;
  double points = 0;
  int64_t work_order_id = 0, incident_id = 0;
  std::string standard_code;
  v1::Period period;
};

struct BonusIn {
  int64_t id = 0;
  std::string unit;
  double points = 0;
  std::string reason, approved_by;
};

// Everything one run reads: the scheme, the tree as it stood in the period,
// the period's readings, the deductions and bonuses dated inside it, and the
// units' own selections of indicators.
struct Inputs {
  v1::Period period;
  v1::Scheme scheme;  // validated; its audit.version is recorded
  std::vector<UnitIn> units;
  std::vector<ReadingIn> readings;
  std::vector<DeductionIn> deductions;
  std::vector<BonusIn> bonuses;
  absl::flat_hash_map<std::string, std::vector<std::string>> selections;  // unit → codes
};

// Puts the inputs in canonical order (units, readings, deductions and bonuses
// by key) so that equal inputs are equal whatever order they arrived in.
void Canonicalise(Inputs& inputs);

// SHA-256 (hex) of the canonical inputs: equal for equal inputs.
std::string InputsDigest(const Inputs& inputs);

struct Outcome {
  // One per unit, by unit code; rank and ranked among the units of the same
  // parent and type; weakest left empty (WeakestItems picks on reading).
  std::vector<v1::Evaluation> evaluations;
  int missing_values = 0;
};

// Scores every unit. Call on Canonicalise()d inputs.
Outcome Evaluate(const Inputs& inputs);

// SHA-256 (hex) of the figures of an outcome: every composite, part, points
// and term, bit for bit.
std::string ResultsDigest(const Outcome& outcome);

// --- Reading evaluations ------------------------------------------------------------------

// Competition ranks (1, 2, 2, 4) of `values`, higher first; values within
// kTieEpsilon of the first of a group share its rank. Same order as `values`.
std::vector<int> CompetitionRanks(const std::vector<double>& values);

// 100 for the first of `ranked`, 0 for the last, linear in rank between.
double Percentile(int rank, int ranked);

// The `n` indicators that cost the unit the most composite points against
// full marks, worst first (ties by code); items at full marks are left out.
std::vector<v1::IndicatorScore> WeakestItems(const v1::Evaluation& evaluation, int n);

// `current` against `base`: part and composite changes, and per indicator the
// change of value and points, largest absolute change of points first.
v1::ComparePeriodsResponse Compare(const v1::Evaluation& current, const v1::Evaluation& base);

// A forecast of the value after `history` (oldest first).
struct Prediction {
  double point = 0, lower = 0, upper = 0;
};
inline constexpr double kForecastAlpha = 0.5;  // smoothing of the level
inline constexpr double kForecastZ = 1.2816;    // 80 % two-sided, normal errors
inline constexpr char kForecastMethod[] =
    "simple exponential smoothing (alpha 0.5); 80 % interval from the one-step errors of the history";
// Simple exponential smoothing: the level after the history is the point; the
// interval is ± z × the root mean square of the one-step-ahead errors within
// the history (empty interval — lower = upper = point — with fewer than three
// points). INVALID_ARGUMENT for an empty history.
absl::StatusOr<Prediction> ForecastNext(const std::vector<double>& history);
// The baselines a forecast is judged against.
Prediction LastValue(const std::vector<double>& history);

}  // namespace aw::scoring
