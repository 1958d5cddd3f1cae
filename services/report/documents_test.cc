#include "services/report/documents.h"

#include <catch2/catch.hpp>

#include "tests/support/report_params.h"

namespace aw::report {
namespace {

v1::ReportParams Params(v1::ReportKind kind, const std::string& period) {
  return testing::ReportParamsOf(kind, v1::EXPORT_FORMAT_XLSX, "P", period);
}

DocumentHead Head(v1::ReportKind kind, const std::string& period) {
  return {.params = Params(kind, period), .scope_name = "测试省", .generated_by = "auditor-1"};
}

const v1::ReportPart& PartOf(const v1::ReportDocument& doc, const std::string& id) {
  for (const auto& p : doc.parts()) {
    if (p.id() == id) return p;
  }
  FAIL("no part " << id);
  throw;
}

TEST_CASE("The evaluation document carries the evaluation's figures part by part", "[report][logic]") {
  EvaluationData data;
  v1::Evaluation& e = data.evaluation;
  e.set_unit_code("S1");
  e.mutable_period()->set_key("2025-03");
  e.set_composite(88.5);
  e.mutable_main()->set_present(true);
  e.mutable_main()->set_total(90);
  e.mutable_main()->set_applied_weight_percent(62.5);
  e.mutable_business()->set_present(true);
  e.mutable_business()->set_total(86);
  e.mutable_business()->set_applied_weight_percent(37.5);
  e.set_rank(2);
  e.set_ranked(5);
  auto* s = e.add_indicators();
  s->set_indicator_code("BILL-ACC");
  s->set_class_(v1::INDICATOR_CLASS_MAIN);
  s->set_value(97.5);
  s->set_points(10);
  s->set_score(8.75);
  s->set_composite_loss(0.78);
  *e.add_weakest() = *s;
  auto* d = e.add_business_deductions();
  d->set_deduction_id(7);
  d->set_points(14);
  d->set_work_order_id(31);
  data.indicator_names["BILL-ACC"] = "电费差错率";
  data.unit_name = "一所";
  for (int m = 1; m <= 3; ++m) {
    v1::TrendPoint p;
    p.mutable_period()->set_key("2025-0" + std::to_string(m));
    p.set_evaluated(m != 2);
    p.set_composite(80 + m);
    data.trend.push_back(p);
  }
  const v1::ReportDocument doc = BuildEvaluation(Head(v1::REPORT_KIND_EVALUATION, "2025-03"), data);
  CHECK(doc.title() == "质量评价报告 一所 2025-03");

  const v1::ReportPart& summary = PartOf(doc, "summary");
  CHECK(summary.rows(0).cells(1).number() == 88.5);
  CHECK(summary.rows(1).cells(1).number() == 90);
  CHECK_FALSE(summary.rows(2).cells(1).has_number());  // no process part
  CHECK(summary.notes(0) == "排名 2 / 5（同一上级、同类单位）");
  CHECK(summary.charts(0).type() == v1::CHART_TYPE_GAUGE);

  const v1::ReportPart& parts = PartOf(doc, "parts");
  REQUIRE(parts.rows_size() == 2);  // main and business
  CHECK(parts.rows(0).cells(4).number() == Approx(56.25));  // 90 × 62.5 %
  CHECK(parts.rows(1).cells(4).number() == Approx(32.25));  // 86 × 37.5 %

  const v1::ReportPart& indicators = PartOf(doc, "indicators");
  CHECK(indicators.rows(0).cells(1).text() == "电费差错率");
  CHECK(indicators.rows(0).cells(7).number() == 8.75);
  CHECK(PartOf(doc, "deductions").rows(0).cells(4).number() == 31);
  // The trend leaves out months not evaluated.
  const v1::ReportPart& trend = PartOf(doc, "trend");
  REQUIRE(trend.rows_size() == 2);
  CHECK(trend.rows(1).cells(0).text() == "2025-03");
  CHECK(trend.charts(0).type() == v1::CHART_TYPE_LINE);
  CHECK(PartOf(doc, "weakest").rows_size() == 1);
  CHECK(PartOf(doc, "forecast").rows_size() == 0);
}

TEST_CASE("Daily and weekly documents count warnings by level, theme and unit, the worst weighted by level",
          "[report][logic]") {
  auto event = [](const std::string& unit, const std::string& theme, int level) {
    v1::WarningEvent e;
    e.set_unit_code(unit);
    e.set_theme_code(theme);
    e.set_level(level);
    return e;
  };
  WeeklyData w;
  w.week.events = {event("S1", "T-A", 1), event("S1", "T-A", 3), event("S2", "T-B", 2), event("S3", "T-B", 4)};
  w.previous_events = {event("S1", "T-A", 4)};
  w.groups = {"D1", "D2"};
  w.group_of = {{"S1", "D1"}, {"S2", "D1"}, {"S3", "D2"}};
  const Names units = {{"D1", "一局"}, {"S1", "一所"}};
  const v1::ReportDocument doc = BuildWeekly(Head(v1::REPORT_KIND_WEEKLY_ANALYSIS, "2025-W10"), w, units, {});
  const v1::ReportPart& by_unit = PartOf(doc, "units");
  REQUIRE(by_unit.rows_size() == 2);
  CHECK(by_unit.rows(0).cells(1).text() == "一局");
  CHECK(by_unit.rows(0).cells(2).number() == 3);   // this week
  CHECK(by_unit.rows(0).cells(3).number() == 1);   // the week before
  CHECK(by_unit.rows(0).cells(4).number() == 2);   // change
  CHECK(by_unit.rows(0).cells(5).number() == 2);   // levels 1–2
  CHECK(by_unit.rows(1).cells(2).number() == 1);
  const v1::ReportPart& worst = PartOf(doc, "worst");
  REQUIRE(worst.rows_size() == 3);
  CHECK(worst.rows(0).cells(1).text() == "S1");  // 4 + 2
  CHECK(worst.rows(0).cells(3).number() == 6);
  CHECK(worst.rows(1).cells(1).text() == "S2");  // 3
  const v1::ReportPart& levels = PartOf(doc, "levels");
  CHECK(levels.rows(0).cells(1).number() == 1);
  CHECK(levels.rows(3).cells(1).number() == 1);
  CHECK(levels.charts(0).type() == v1::CHART_TYPE_PIE);

  ActivityData day;
  day.events = w.week.events;
  const v1::ReportDocument daily = BuildDaily(Head(v1::REPORT_KIND_DAILY_AUDIT, "2025-03-10"), day, units, {});
  const v1::ReportPart& themes = PartOf(daily, "themes");
  REQUIRE(themes.rows_size() == 2);
  CHECK(themes.rows(0).cells(0).text() == "T-A");
  CHECK(themes.rows(0).cells(2).number() == 1);  // level 1
  CHECK(themes.rows(0).cells(4).number() == 1);  // level 3
  CHECK(themes.rows(0).cells(6).number() == 2);
  CHECK(PartOf(daily, "summary").rows(0).cells(1).number() == 4);
}

TEST_CASE("The monthly document ranks every type and bands the scores, the theme document links level to level",
          "[report][logic]") {
  auto row = [](const std::string& unit, int rank, double composite) {
    v1::RankingRow r;
    r.set_unit_code(unit);
    r.set_rank(rank);
    r.set_composite(composite);
    return r;
  };
  MonthlyData m;
  m.children = {row("D1", 1, 91), row("D2", 2, 75)};
  m.by_type = {{v1::UNIT_TYPE_CITY_BUREAU, m.children},
               {v1::UNIT_TYPE_SUPPLY_STATION, {row("S1", 1, 95), row("S2", 2, 89.99), row("S3", 3, 59.5)}}};
  const v1::ReportDocument doc = BuildMonthly(Head(v1::REPORT_KIND_MONTHLY_SUMMARY, "2025-03"), m, {});
  CHECK(PartOf(doc, "type-5").title() == "供电所排名");
  CHECK(PartOf(doc, "type-5").charts(0).rows() == 20);
  const v1::ReportPart& bands = PartOf(doc, "distribution");
  std::vector<std::string> labels;
  std::vector<double> counts;
  for (const auto& r : bands.rows()) {
    labels.push_back(r.cells(0).text());
    counts.push_back(r.cells(1).number());
  }
  // 59.5 to 95: a width of 10 from 50.
  CHECK(labels == std::vector<std::string>{"50–60", "60–70", "70–80", "80–90", "90–100"});
  CHECK(counts == std::vector<double>{1, 0, 0, 1, 1});
  // Close scores get narrow bands; the top score falls in the last band.
  const auto close = ScoreBands({row("A", 1, 96.2), row("B", 2, 93.1), row("C", 3, 91.0), row("D", 4, 90)});
  CHECK(close == std::vector<std::pair<std::string, int>>{{"90–92", 2}, {"92–94", 1}, {"94–96", 0}, {"96–98", 1}});
  CHECK(ScoreBands({}).empty());
  CHECK(PartOf(doc, "summary").notes(0) == "参评单位 5 个；督办中 0 件");

  ThemeData t;
  t.measure_name = "综合得分";
  v1::DrillDownResponse top;
  top.mutable_unit()->set_unit_code("P");
  top.mutable_unit()->mutable_period()->set_key("2025");
  for (const char* c : {"D1", "D2"}) {
    auto* child = top.add_children();
    child->set_unit_code(c);
    child->set_unit_name(std::string(c) + "局");
    child->set_has_value(true);
    child->set_value(80);
  }
  v1::DrillDownResponse d1;
  d1.mutable_unit()->set_unit_code("D1");
  t.regions = {top, d1};
  v1::DrillDownResponse year;
  year.mutable_unit()->mutable_period()->set_key("2025");
  year.add_periods()->mutable_period()->set_key("2025-H1");
  year.add_periods()->mutable_period()->set_key("2025-H2");
  v1::DrillDownResponse h1;
  h1.mutable_unit()->mutable_period()->set_key("2025-H1");
  t.times = {year, h1};
  const v1::ReportDocument theme = BuildTheme(Head(v1::REPORT_KIND_THEME_ANALYSIS, "2025"), t);
  const v1::ReportPart& region = PartOf(theme, RegionPartId("P"));
  CHECK(region.rows(0).cells(1).link() == "region-D1");  // drilled into
  CHECK(region.rows(1).cells(1).link().empty());         // not drilled
  const v1::ReportPart& time = PartOf(theme, TimePartId("2025"));
  CHECK(time.rows(0).cells(0).link() == "time-2025-H1");
  CHECK(time.rows(1).cells(0).link().empty());
  CHECK(PartOf(theme, "time-2025-H1").rows_size() == 0);
}

}  // namespace
}  // namespace aw::report
