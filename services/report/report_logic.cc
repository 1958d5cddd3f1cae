#include "services/report/report_logic.h"

#include <algorithm>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/period_field.h"
#include "common/status.h"

namespace aw::report {
namespace {

std::string KindName(v1::ReportKind kind) {
  switch (kind) {
    case v1::REPORT_KIND_EVALUATION: return "evaluation";
    case v1::REPORT_KIND_DAILY_AUDIT: return "daily-audit";
    case v1::REPORT_KIND_WEEKLY_ANALYSIS: return "weekly-analysis";
    case v1::REPORT_KIND_MONTHLY_SUMMARY: return "monthly-summary";
    case v1::REPORT_KIND_THEME_ANALYSIS: return "theme-analysis";
    default: return "report";
  }
}

absl::StatusOr<v1::ReportParams> CheckedParams(const v1::ReportParams& in, absl::string_view field, bool with_period) {
  v1::ReportParams p = in;
  if (p.kind() == v1::REPORT_KIND_UNSPECIFIED || !v1::ReportKind_IsValid(p.kind())) {
    return InvalidField(absl::StrCat(field, ".kind"), "required: a report kind");
  }
  if (p.format() == v1::EXPORT_FORMAT_UNSPECIFIED || !v1::ExportFormat_IsValid(p.format())) {
    return InvalidField(absl::StrCat(field, ".format"), "required: XLSX, HTML, CSV, XML or JSON");
  }
  if (p.scope().unit_code().empty()) {
    return InvalidField(absl::StrCat(field, ".scope.unit_code"), "required");
  }
  if (p.kind() == v1::REPORT_KIND_EVALUATION) p.mutable_scope()->set_include_descendants(false);
  if (with_period) {
    const std::string period_field = absl::StrCat(field, ".period");
    AW_ASSIGN_OR_RETURN(const Period period, RequiredPeriod(p.period(), period_field.c_str()));
    const std::vector<PeriodType> types = PeriodTypesOf(p.kind());
    if (std::find(types.begin(), types.end(), period.type()) == types.end()) {
      std::string allowed;
      for (PeriodType t : types) absl::StrAppend(&allowed, allowed.empty() ? "" : " or ", PeriodTypeName(t));
      return InvalidField(period_field, absl::StrCat("a ", KindName(p.kind()), " report covers a ", allowed));
    }
    p.mutable_period()->set_type(static_cast<v1::PeriodType>(period.type()));
    p.mutable_period()->set_key(period.key());
  } else {
    p.clear_period();
  }
  if (p.kind() == v1::REPORT_KIND_THEME_ANALYSIS) {
    if (p.measure().empty()) p.set_measure(kCompositeMeasure);
    if (p.depth() == 0) p.set_depth(2);
    if (p.depth() < 1 || p.depth() > kMaxDrillDepth) {
      return InvalidField(absl::StrCat(field, ".depth"), absl::StrCat("must be 1 to ", kMaxDrillDepth));
    }
  } else {
    if (!p.measure().empty()) return InvalidField(absl::StrCat(field, ".measure"), "only a theme analysis takes one");
    if (p.depth() != 0) return InvalidField(absl::StrCat(field, ".depth"), "only a theme analysis takes one");
  }
  return p;
}

// "HH:MM" or "HH:MM:SS" → seconds after midnight.
std::optional<int> TimeOfDay(absl::string_view text) {
  std::vector<absl::string_view> parts = absl::StrSplit(text, ':');
  if (parts.size() != 2 && parts.size() != 3) return std::nullopt;
  int fields[3] = {0, 0, 0};
  const int limits[3] = {23, 59, 59};
  for (size_t i = 0; i < parts.size(); ++i) {
    if (parts[i].size() != 2 || !absl::SimpleAtoi(parts[i], &fields[i]) || fields[i] < 0 || fields[i] > limits[i]) {
      return std::nullopt;
    }
  }
  return fields[0] * 3600 + fields[1] * 60 + fields[2];
}

absl::Duration OffsetOf(const v1::ReportSchedule& s) { return absl::Minutes(s.utc_offset_minutes()); }


}  // namespace

std::vector<PeriodType> PeriodTypesOf(v1::ReportKind kind) {
  switch (kind) {
    case v1::REPORT_KIND_EVALUATION: return {PeriodType::kMonth, PeriodType::kHalfYear, PeriodType::kYear};
    case v1::REPORT_KIND_DAILY_AUDIT: return {PeriodType::kDay};
    case v1::REPORT_KIND_WEEKLY_ANALYSIS: return {PeriodType::kWeek};
    case v1::REPORT_KIND_MONTHLY_SUMMARY: return {PeriodType::kMonth};
    case v1::REPORT_KIND_THEME_ANALYSIS: return {PeriodType::kYear};
    default: return {};
  }
}

absl::StatusOr<v1::ReportParams> NormalisedParams(const v1::ReportParams& params, absl::string_view field) {
  return CheckedParams(params, field, /*with_period=*/true);
}

std::string FileName(const v1::ReportParams& params, int64_t id) {
  std::string ext;
  switch (params.format()) {
    case v1::EXPORT_FORMAT_XLSX: ext = "xlsx"; break;
    case v1::EXPORT_FORMAT_CSV: ext = "csv"; break;
    case v1::EXPORT_FORMAT_XML: ext = "xml"; break;
    case v1::EXPORT_FORMAT_JSON: ext = "json"; break;
    case v1::EXPORT_FORMAT_HTML: ext = "html"; break;
    default: ext = "bin";
  }
  return absl::StrCat(KindName(params.kind()), "_", params.scope().unit_code(), "_", params.period().key(), "_", id,
                      ".", ext);
}

std::string ContentType(v1::ExportFormat format) {
  switch (format) {
    case v1::EXPORT_FORMAT_XLSX: return "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";
    case v1::EXPORT_FORMAT_CSV: return "text/csv; charset=utf-8";
    case v1::EXPORT_FORMAT_XML: return "application/xml";
    case v1::EXPORT_FORMAT_JSON: return "application/json";
    case v1::EXPORT_FORMAT_HTML: return "text/html; charset=utf-8";
    default: return "application/octet-stream";
  }
}

bool Terminal(v1::ReportState state) {
  return state == v1::REPORT_STATE_READY || state == v1::REPORT_STATE_FAILED ||
         state == v1::REPORT_STATE_CANCELLED || state == v1::REPORT_STATE_EXPIRED;
}

bool MayRead(const std::optional<v1::Principal>& principal, const std::vector<std::string>& scope_path) {
  if (!principal || principal->unit_codes().empty()) return true;
  return std::any_of(scope_path.begin(), scope_path.end(), [&](const std::string& unit) {
    return std::find(principal->unit_codes().begin(), principal->unit_codes().end(), unit) !=
           principal->unit_codes().end();
  });
}

// --- Schedules ------------------------------------------------------------------------

absl::StatusOr<v1::ReportSchedule> NormalisedSchedule(const v1::ReportSchedule& in, absl::string_view field) {
  v1::ReportSchedule s = in;
  AW_ASSIGN_OR_RETURN(*s.mutable_params(),
                      CheckedParams(s.params(), absl::StrCat(field, ".params"), /*with_period=*/false));
  if (s.cadence() == v1::CADENCE_UNSPECIFIED || !v1::Cadence_IsValid(s.cadence())) {
    return InvalidField(absl::StrCat(field, ".cadence"), "required: DAILY, WEEKLY or MONTHLY");
  }
  if (!TimeOfDay(s.at())) return InvalidField(absl::StrCat(field, ".at"), "a time of day \"HH:MM\" or \"HH:MM:SS\"");
  if (!s.has_utc_offset_minutes()) s.set_utc_offset_minutes(480);
  if (s.utc_offset_minutes() < -720 || s.utc_offset_minutes() > 840) {
    return InvalidField(absl::StrCat(field, ".utc_offset_minutes"), "must be -720 to 840");
  }
  if (s.cadence() == v1::CADENCE_WEEKLY && (s.weekday() < 1 || s.weekday() > 7)) {
    return InvalidField(absl::StrCat(field, ".weekday"), "a weekly schedule needs 1 (Monday) to 7 (Sunday)");
  }
  if (s.cadence() != v1::CADENCE_WEEKLY) s.set_weekday(0);
  if (s.cadence() == v1::CADENCE_MONTHLY && (s.month_day() < 1 || s.month_day() > 28)) {
    return InvalidField(absl::StrCat(field, ".month_day"), "a monthly schedule needs 1 to 28");
  }
  if (s.cadence() != v1::CADENCE_MONTHLY) s.set_month_day(0);
  s.set_enabled(true);
  return s;
}

absl::Time NextFiring(const v1::ReportSchedule& s, absl::Time after) {
  const absl::Duration offset = OffsetOf(s);
  const int at = TimeOfDay(s.at()).value_or(0);
  const absl::CivilDay local = CivilDayOf(after + offset);
  for (absl::CivilDay day = local;; ++day) {
    bool fits = true;
    if (s.cadence() == v1::CADENCE_WEEKLY) {
      const int weekday = static_cast<int>(absl::GetWeekday(day)) + 1;  // absl: Monday = 0
      fits = weekday == s.weekday();
    } else if (s.cadence() == v1::CADENCE_MONTHLY) {
      fits = day.day() == s.month_day();
    }
    if (!fits) continue;
    const absl::Time t = absl::FromCivil(day, absl::UTCTimeZone()) + absl::Seconds(at) - offset;
    if (t > after) return t;
  }
}

Period PeriodOfFiring(const v1::ReportSchedule& s, absl::Time fired) {
  const absl::CivilDay local = CivilDayOf(fired + OffsetOf(s));
  switch (s.params().kind()) {
    case v1::REPORT_KIND_DAILY_AUDIT: return Period::Containing(PeriodType::kDay, local).Previous();
    case v1::REPORT_KIND_WEEKLY_ANALYSIS: return Period::Containing(PeriodType::kWeek, local).Previous();
    case v1::REPORT_KIND_THEME_ANALYSIS:
      return Period::Containing(PeriodType::kYear, Period::Containing(PeriodType::kMonth, local).Previous().first_day());
    default: return Period::Containing(PeriodType::kMonth, local).Previous();
  }
}

}  // namespace aw::report
