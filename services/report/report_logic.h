// The report service's rules, pure: which parameters a report takes, who may
// read a report, when a schedule fires and on which period, and what a file
// is called. (documents.h builds the reports themselves.)
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "auditwatch/v1/report.pb.h"
#include "common/period.h"

namespace aw::report {

namespace v1 = ::auditwatch::v1;

// The theme analysis's default measure; `depth` at most.
inline constexpr char kCompositeMeasure[] = "composite";
inline constexpr int kMaxDrillDepth = 3;

// --- Parameters ----------------------------------------------------------------

// `params` checked and completed: a known kind and format, a scope unit, a
// period of the kind's type (its type filled in), the theme measure and depth
// defaulted. INVALID_ARGUMENT names the field under `field` ("params.period").
absl::StatusOr<v1::ReportParams> NormalisedParams(const v1::ReportParams& params, absl::string_view field);

// The period types a kind reports on.
std::vector<PeriodType> PeriodTypesOf(v1::ReportKind kind);

// "monthly-summary_C02_2025-03_17.xlsx"
std::string FileName(const v1::ReportParams& params, int64_t id);
std::string ContentType(v1::ExportFormat format);

bool Terminal(v1::ReportState state);

// True when `principal` may see a report or schedule whose scope unit has
// `scope_path` (root first): an unrestricted principal, or one whose units
// include a unit on the path. A call from inside (no principal) may.
bool MayRead(const std::optional<v1::Principal>& principal, const std::vector<std::string>& scope_path);

// --- Schedules -------------------------------------------------------------------

// `schedule` checked and completed (offset defaulted to UTC+8, enabled):
// INVALID_ARGUMENT naming the field under `field`.
absl::StatusOr<v1::ReportSchedule> NormalisedSchedule(const v1::ReportSchedule& schedule, absl::string_view field);

// The first firing of `schedule` strictly after `after`.
absl::Time NextFiring(const v1::ReportSchedule& schedule, absl::Time after);

// The period a firing at `fired` reports on: the day, ISO week or month that
// ended before the firing's local date (for a daily evaluation or summary,
// the previous month).
Period PeriodOfFiring(const v1::ReportSchedule& schedule, absl::Time fired);

}  // namespace aw::report
