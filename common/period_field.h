// Periods as requests name them (auditwatch.v1.Period, PeriodRange): parsed
// and checked, with INVALID_ARGUMENT naming the request's field.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "auditwatch/v1/common.pb.h"
#include "common/period.h"

namespace aw {

// The period `field` names; its key is required and its type, when given,
// must agree with the key.
absl::StatusOr<Period> RequiredPeriod(const auditwatch::v1::Period& period, const char* field);

// The period keys of an inclusive range of one type (none when the range is
// empty; `last` defaults to `first`), at most 1000.
absl::StatusOr<std::vector<std::string>> PeriodKeys(const auditwatch::v1::PeriodRange& range, const char* field);

// `period` as messages carry it.
auditwatch::v1::Period ProtoOf(const Period& period);

}  // namespace aw
