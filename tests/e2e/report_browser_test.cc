// The HTML reports in a real browser: Debian's Chromium, headless, driven over
// the DevTools protocol (browser_check.py). Each page renders with no console
// error; its charts have as many bars, points and slices as the scoring
// service has figures; a drill-down link leads to the next level; a
// screenshot of each is kept in the build's artifacts folder.
#include <nlohmann/json.hpp>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "tests/support/reports.h"

namespace aw::testing {
namespace {

namespace v1 = ::auditwatch::v1;

// Runs the browser on `page`; its JSON answer.
nlohmann::json Browse(const std::string& page, const std::vector<std::pair<std::string, std::string>>& counts,
                      const std::string& click, const std::string& screenshot) {
  std::string command = absl::StrCat("/usr/bin/python3 ", AW_BROWSER_CHECK, " --page ", page, " --screenshot ", screenshot);
  for (const auto& [name, selector] : counts) absl::StrAppend(&command, " --count '", name, "=", selector, "'");
  if (!click.empty()) absl::StrAppend(&command, " --click '", click, "'");
  std::string out;
  const int rc = RunCommand(command + " 2>&1", &out);
  INFO(command << "\n" << out);
  REQUIRE(rc == 0);
  return nlohmann::json::parse(out);
}

std::string Save(v1::ReportService::Stub& stub, const v1::ReportJob& job, const std::string& name) {
  std::filesystem::create_directories(AW_ARTIFACTS_DIR);
  const std::string path = absl::StrCat(AW_ARTIFACTS_DIR, "/", name);
  std::ofstream(path, std::ios::binary) << DownloadReport(stub, job.id());
  return path;
}

TEST_CASE("HTML reports render in headless Chromium with no console error, their charts and drill-down links work",
          "[e2e][report][browser]") {
  TestDatabase db;
  Gateway gw(db, {"--report_tick=100ms"});
  ReportProvince province(gw);
  auto centre = v1::ReportService::NewStub(gw.Channel(gw.Key("centre.li", {v1::ROLE_CENTRE_AUDITOR})));

  // The theme analysis of the composite: province → city → counties, year → halves → months.
  v1::ReportParams theme = ReportParamsOf(v1::REPORT_KIND_THEME_ANALYSIS, v1::EXPORT_FORMAT_HTML, "P", "2025");
  theme.set_depth(3);
  const auto t = GenerateAndWatch(*centre, theme, "theme");
  INFO(t.job.error());
  REQUIRE(t.job.state() == v1::REPORT_STATE_READY);
  const std::string theme_page = Save(*centre, t.job, "theme-analysis.html");
  const nlohmann::json r = Browse(theme_page,
                                  {{"p_bars", "#region-P rect.bar"},
                                   {"c1_bars", "#region-C1 rect.bar"},
                                   {"d1_bars", "#region-D1 rect.bar"},
                                   {"halves", "#time-2025 rect.bar"},
                                   {"months", "#time-2025-H1 circle.point"},
                                   {"sections", "section.part"}},
                                  "#region-P a.drill", absl::StrCat(AW_ARTIFACTS_DIR, "/theme-analysis.png"));
  INFO(r.dump(2));
  CHECK(r["errors"].empty());
  CHECK(r["title"] == "专题分析 综合得分 Unit P 2025");
  CHECK(r["counts"]["p_bars"] == 1);   // C1
  CHECK(r["counts"]["c1_bars"] == 2);  // D1, D2
  CHECK(r["counts"]["d1_bars"] == 2);  // S1, S2
  CHECK(r["counts"]["halves"] == 2);
  CHECK(r["counts"]["months"] == 6);
  // P, C1, D1, D2 by region; the year and its halves by time.
  CHECK(r["counts"]["sections"] == 4 + 3);
  CHECK(r["click"]["found"] == true);
  CHECK(r["click"]["href"] == "#region-C1");
  CHECK(r["click"]["hash"] == "#region-C1");
  CHECK(r["click"]["target_title"] == "Unit C1 分区域");
  CHECK(std::abs(r["click"]["target_top"].get<double>()) < 2);  // scrolled to the next level
  CHECK(r["click"]["scrolled"].get<double>() > 0);
  CHECK(std::filesystem::file_size(absl::StrCat(AW_ARTIFACTS_DIR, "/theme-analysis.png")) > 10000);

  // One station's evaluation: the gauge, a pie slice per part, a point per month.
  const auto e = GenerateAndWatch(
      *centre, ReportParamsOf(v1::REPORT_KIND_EVALUATION, v1::EXPORT_FORMAT_HTML, "S1", "2025-03"), "eval");
  REQUIRE(e.job.state() == v1::REPORT_STATE_READY);
  v1::GetEvaluationRequest get;
  get.set_unit_code("S1");
  get.mutable_period()->set_key("2025-03");
  v1::Evaluation evaluation;
  REQUIRE(province.scoring().GetEvaluation(ReportDeadline().get(), get, &evaluation).ok());
  int parts = 0;
  for (const v1::Part* p : {&evaluation.main(), &evaluation.process(), &evaluation.business()}) {
    if (p->present() && p->total() * p->applied_weight_percent() > 0) ++parts;
  }
  const nlohmann::json v = Browse(Save(*centre, e.job, "evaluation.html"),
                                  {{"gauge", "#summary path.gauge-value"},
                                   {"slices", "#parts path.slice"},
                                   {"points", "#trend circle.point"},
                                   {"indicator_bars", "#indicators rect.bar"}},
                                  "", absl::StrCat(AW_ARTIFACTS_DIR, "/evaluation.png"));
  INFO(v.dump(2));
  CHECK(v["errors"].empty());
  CHECK(v["counts"]["gauge"] == 1);
  CHECK(v["counts"]["slices"] == parts);
  CHECK(v["counts"]["points"] == 3);
  CHECK(v["counts"]["indicator_bars"] == 2 * evaluation.indicators_size());  // points and score per indicator
}

}  // namespace
}  // namespace aw::testing
