#include "services/report/report_logic.h"

#include <catch2/catch.hpp>

#include "tests/support/report_params.h"

namespace aw::report {
namespace {

v1::ReportParams Params(v1::ReportKind kind, const std::string& period) {
  return testing::ReportParamsOf(kind, v1::EXPORT_FORMAT_XLSX, "P", period);
}

std::string Message(const absl::StatusOr<v1::ReportParams>& s) { return std::string(s.status().message()); }

TEST_CASE("Parameters: each kind takes its period type, and a refusal names the field", "[report][logic]") {
  auto monthly = NormalisedParams(Params(v1::REPORT_KIND_MONTHLY_SUMMARY, "2025-03"), "params");
  REQUIRE(monthly.ok());
  CHECK(monthly->period().type() == v1::PERIOD_TYPE_MONTH);

  auto evaluation = NormalisedParams(Params(v1::REPORT_KIND_EVALUATION, "2025-H1"), "params");
  REQUIRE(evaluation.ok());
  CHECK_FALSE(evaluation->scope().include_descendants());  // one unit

  auto theme = NormalisedParams(Params(v1::REPORT_KIND_THEME_ANALYSIS, "2025"), "params");
  REQUIRE(theme.ok());
  CHECK(theme->measure() == kCompositeMeasure);
  CHECK(theme->depth() == 2);

  auto daily = NormalisedParams(Params(v1::REPORT_KIND_DAILY_AUDIT, "2025-03"), "params");
  CHECK(daily.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(Message(daily) == "params.period: a daily-audit report covers a day");
  CHECK(Message(NormalisedParams(Params(v1::REPORT_KIND_EVALUATION, "2025-W09"), "params")) ==
        "params.period: a evaluation report covers a month or half_year or year");

  v1::ReportParams no_scope = Params(v1::REPORT_KIND_WEEKLY_ANALYSIS, "2025-W09");
  no_scope.clear_scope();
  CHECK(Message(NormalisedParams(no_scope, "params")) == "params.scope.unit_code: required");
  v1::ReportParams no_format = Params(v1::REPORT_KIND_WEEKLY_ANALYSIS, "2025-W09");
  no_format.clear_format();
  CHECK(Message(NormalisedParams(no_format, "params")).rfind("params.format: required", 0) == 0);
  v1::ReportParams deep = Params(v1::REPORT_KIND_THEME_ANALYSIS, "2025");
  deep.set_depth(4);
  CHECK(Message(NormalisedParams(deep, "params")) == "params.depth: must be 1 to 3");
  v1::ReportParams measured = Params(v1::REPORT_KIND_MONTHLY_SUMMARY, "2025-03");
  measured.set_measure("composite");
  CHECK(Message(NormalisedParams(measured, "params")) == "params.measure: only a theme analysis takes one");
  CHECK(NormalisedParams(Params(v1::REPORT_KIND_DAILY_AUDIT, "2025-13-01"), "params").status().code() ==
        absl::StatusCode::kInvalidArgument);
}

v1::ReportSchedule Schedule(v1::ReportKind kind, v1::Cadence cadence, const std::string& at) {
  v1::ReportSchedule s;
  *s.mutable_params() = Params(kind, "");
  s.set_cadence(cadence);
  s.set_at(at);
  return s;
}

absl::Time Utc(const std::string& text) {
  absl::Time t;
  std::string error;
  REQUIRE(absl::ParseTime("%Y-%m-%d %H:%M:%S", text, &t, &error));
  return t;
}

TEST_CASE("Schedules fire at the local time of their day, and report on the period just ended", "[report][logic]") {
  // Daily at 06:00 UTC+8 (the default offset) = 22:00 UTC the day before.
  auto daily = NormalisedSchedule(Schedule(v1::REPORT_KIND_DAILY_AUDIT, v1::CADENCE_DAILY, "06:00"), "schedule");
  REQUIRE(daily.ok());
  CHECK(daily->utc_offset_minutes() == 480);
  CHECK(NextFiring(*daily, Utc("2025-03-10 12:00:00")) == Utc("2025-03-10 22:00:00"));
  CHECK(NextFiring(*daily, Utc("2025-03-10 22:00:00")) == Utc("2025-03-11 22:00:00"));  // strictly after
  CHECK(PeriodOfFiring(*daily, Utc("2025-03-10 22:00:00")).key() == "2025-03-10");      // local 03-11

  // Weekly on Monday (1) at 07:30:15 UTC: the ISO week before.
  v1::ReportSchedule weekly_in = Schedule(v1::REPORT_KIND_WEEKLY_ANALYSIS, v1::CADENCE_WEEKLY, "07:30:15");
  weekly_in.set_weekday(1);
  weekly_in.set_utc_offset_minutes(0);
  auto weekly = NormalisedSchedule(weekly_in, "schedule");
  REQUIRE(weekly.ok());
  CHECK(weekly->utc_offset_minutes() == 0);  // an explicit UTC stays UTC
  CHECK(NextFiring(*weekly, Utc("2025-03-05 00:00:00")) == Utc("2025-03-10 07:30:15"));  // a Wednesday → Monday
  CHECK(PeriodOfFiring(*weekly, Utc("2025-03-10 07:30:15")).key() == "2025-W10");

  // Monthly on the 3rd: the month before; across a year end.
  v1::ReportSchedule monthly_in = Schedule(v1::REPORT_KIND_MONTHLY_SUMMARY, v1::CADENCE_MONTHLY, "01:00");
  monthly_in.set_month_day(3);
  auto monthly = NormalisedSchedule(monthly_in, "schedule");
  REQUIRE(monthly.ok());
  CHECK(NextFiring(*monthly, Utc("2025-12-20 00:00:00")) == Utc("2026-01-02 17:00:00"));
  CHECK(PeriodOfFiring(*monthly, Utc("2026-01-02 17:00:00")).key() == "2025-12");

  // Refusals name the field.
  v1::ReportSchedule bad = weekly_in;
  bad.set_weekday(8);
  CHECK(NormalisedSchedule(bad, "schedule").status().message() ==
        "schedule.weekday: a weekly schedule needs 1 (Monday) to 7 (Sunday)");
  bad = monthly_in;
  bad.set_month_day(31);
  CHECK(NormalisedSchedule(bad, "schedule").status().message() == "schedule.month_day: a monthly schedule needs 1 to 28");
  bad.set_month_day(3);
  bad.set_at("25:00");
  CHECK(NormalisedSchedule(bad, "schedule").status().message() ==
        "schedule.at: a time of day \"HH:MM\" or \"HH:MM:SS\"");
  bad.set_at("01:00");
  bad.clear_cadence();
  CHECK(NormalisedSchedule(bad, "schedule").status().message() == "schedule.cadence: required: DAILY, WEEKLY or MONTHLY");
}

}  // namespace
}  // namespace aw::report
