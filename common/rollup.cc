#include "common/rollup.h"

#include <algorithm>

namespace aw {

namespace v1 = ::auditwatch::v1;

absl::StatusOr<double> RollUp(v1::RollupRule rule, const std::vector<double>& values) {
  if (rule == v1::ROLLUP_RULE_NONE || rule == v1::ROLLUP_RULE_UNSPECIFIED) {
    return absl::FailedPreconditionError(
        "this indicator is not rolled up (a rate must be reported for each period)");
  }
  if (values.empty()) return absl::FailedPreconditionError("no values to roll up");
  switch (rule) {
    case v1::ROLLUP_RULE_SUM:
    case v1::ROLLUP_RULE_MEAN: {
      double sum = 0;
      for (double v : values) sum += v;
      return rule == v1::ROLLUP_RULE_SUM ? sum : sum / static_cast<double>(values.size());
    }
    case v1::ROLLUP_RULE_MIN: return *std::min_element(values.begin(), values.end());
    case v1::ROLLUP_RULE_MAX: return *std::max_element(values.begin(), values.end());
    case v1::ROLLUP_RULE_LAST: return values.back();
    default: return absl::InvalidArgumentError("unknown roll-up rule");
  }
}

}  // namespace aw
