// The reports themselves, pure: the data gathered from the other services for
// each kind of report, and how it becomes a report document — parts, each a
// table with the charts drawn from it — that every format then writes.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/time/time.h"
#include "auditwatch/v1/audit.pb.h"
#include "auditwatch/v1/monitor.pb.h"
#include "auditwatch/v1/report.pb.h"
#include "auditwatch/v1/scoring.pb.h"

namespace aw::report {

namespace v1 = ::auditwatch::v1;

// --- Data gathered, per kind -----------------------------------------------------

using Names = absl::flat_hash_map<std::string, std::string>;

struct EvaluationData {
  v1::Evaluation evaluation;
  std::string unit_name;
  std::vector<v1::TrendPoint> trend;  // the months of the period's year
  std::optional<v1::ForecastResponse> forecast;
  Names indicator_names;
};

// The day's (or week's) audit activity in a subtree.
struct ActivityData {
  std::vector<v1::WarningEvent> events;  // opened in the period
  std::vector<v1::AuditTask> tasks;      // launched in the period
  std::vector<v1::WorkOrder> orders;     // created in the period, not drafts
  std::vector<v1::WorkOrder> overdue;    // overdue now
  std::vector<v1::SupervisionOrder> supervision;  // open now
};

struct WeeklyData {
  ActivityData week;
  std::vector<v1::WarningEvent> previous_events;  // opened in the week before
  // The scope's direct subordinates (the scope itself when it has none), and
  // the group of every unit below the scope.
  std::vector<std::string> groups;
  absl::flat_hash_map<std::string, std::string> group_of;
  std::vector<v1::UnitRates> rates;  // the groups, in the week's month
};

struct MonthlyData {
  std::optional<v1::Evaluation> scope_evaluation;
  std::vector<v1::RankingRow> children;  // the scope's direct subordinates
  // Every unit below the scope, per unit type (nearest the scope first).
  std::vector<std::pair<v1::UnitType, std::vector<v1::RankingRow>>> by_type;
  std::vector<v1::UnitRates> rates;  // every unit of the scope
  std::vector<v1::SupervisionOrder> supervision;  // open now
};

struct ThemeData {
  std::string measure_name;
  // Region levels: the scope first, then each unit drilled into, breadth first.
  std::vector<v1::DrillDownResponse> regions;
  // Time levels of the scope: the year (its halves), then each half (its months).
  std::vector<v1::DrillDownResponse> times;
};

// What every document carries besides its parts.
struct DocumentHead {
  v1::ReportParams params;
  std::string scope_name;
  absl::Time as_of;
  absl::Time generated_at;
  std::string generated_by;
};

v1::ReportDocument BuildEvaluation(const DocumentHead& head, const EvaluationData& data);
v1::ReportDocument BuildDaily(const DocumentHead& head, const ActivityData& data, const Names& units,
                              const Names& themes);
v1::ReportDocument BuildWeekly(const DocumentHead& head, const WeeklyData& data, const Names& units,
                               const Names& themes);
v1::ReportDocument BuildMonthly(const DocumentHead& head, const MonthlyData& data, const Names& units);
v1::ReportDocument BuildTheme(const DocumentHead& head, const ThemeData& data);

// Part ids of the theme analysis, the targets of its drill-down links.
std::string RegionPartId(const std::string& unit_code);
std::string TimePartId(const std::string& period_key);

// Score bands of the monthly summary's distribution: about five of a round
// width over the scores there are ("85–90", "90–95", …), each with its count;
// a band holds its lower bound.
std::vector<std::pair<std::string, int>> ScoreBands(const std::vector<v1::RankingRow>& rows);

}  // namespace aw::report
