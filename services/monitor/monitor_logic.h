// Monitor rules with no I/O: rule validation (a rule that cannot fire is
// refused, naming the field), the verdict of each rule kind on a unit's series of
// values, and how an event moves when a new verdict arrives.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/types/span.h"
#include "auditwatch/v1/ingest.pb.h"
#include "auditwatch/v1/monitor.pb.h"

namespace aw::monitor {

namespace v1 = ::auditwatch::v1;

// What the monitor needs to know of an indicator (it comes from ingest).
struct IndicatorFacts {
  std::string code;
  v1::Direction direction = v1::DIRECTION_HIGHER_IS_BETTER;
  double min_value = 0;
  double max_value = 0;
  std::vector<int> allowed_period_types;
  v1::RollupRule rollup = v1::ROLLUP_RULE_NONE;
  int deadline_days = 0;
};

// INVALID_ARGUMENT naming the field when `rule` is malformed or could never
// fire. `indicators` are the facts of rule.indicator_codes, in order.
absl::Status ValidateRule(const v1::Rule& rule, const std::vector<IndicatorFacts>& indicators);

// A rule's verdict on one (unit, indicator, period).
struct Verdict {
  int level = 0;         // 0 = no warning
  double observed = 0;   // the value, change, z-score, count … that was judged
  double threshold = 0;  // the threshold of `level`
  std::string message;
};

// The verdict of a value-based rule (static, change, baseline, trend, range) on
// a series of one unit's values of one indicator in period order, ending with
// the period judged; std::nullopt marks a period without a value.
Verdict Evaluate(const v1::Rule& rule, v1::Direction direction,
                 absl::Span<const std::optional<double>> series);
// MISSING: the value is `days_overdue` days past its deadline.
Verdict EvaluateMissing(const v1::Rule& rule, double days_overdue);
// QUALITY_CONSISTENCY: a parent's value against the roll-up of its children.
Verdict EvaluateConsistency(const v1::Rule& rule, double parent, double rollup);

// How many periods of history a rule needs besides the judged one.
int HistoryNeeded(const v1::Rule& rule);

// What happens to the open event of (rule, unit, period), if any, on a verdict.
enum class Change { kNone, kOpen, kEscalate, kDeescalate, kResolve };
Change NextChange(bool has_open_event, int open_level, int new_level);

// True for the kinds judged on each new value (not on timers).
bool IsValueRule(v1::RuleKind kind);

}  // namespace aw::monitor
