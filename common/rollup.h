// How values of shorter periods combine into a longer one, by an indicator's
// roll-up rule (shared by ingest's derived values and monitor's consistency
// checks).
#pragma once

#include <vector>

#include "absl/status/statusor.h"
#include "auditwatch/v1/ingest.pb.h"

namespace aw {

// Combines `values` (in chronological order). FAILED_PRECONDITION for
// ROLLUP_RULE_NONE (rates must be reported, never derived) and for no values.
absl::StatusOr<double> RollUp(auditwatch::v1::RollupRule rule, const std::vector<double>& values);

}  // namespace aw
