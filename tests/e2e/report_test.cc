// The report service end to end, through the gateway, with every service in
// one process over real gRPC and a real PostgreSQL: the generated workbooks
// are opened and their sheets, cells and charts compared with the scoring
// service's figures; the XML is validated against the shipped schema; JSON
// and CSV are parsed back and compared; the daily and weekly reports count
// what monitor and audit hold; progress is streamed, downloads resume from an
// offset, a queued job cancelled stores nothing, a report outside the
// caller's subtree is refused, and a schedule fires once with two report
// processes on one database.
#include <csv.h>
#include <signal.h>
#include <google/protobuf/util/json_util.h>

#include <catch2/catch.hpp>
#include <algorithm>
#include <cstdlib>
#include <fstream>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/digest.h"
#include "common/period.h"
#include "tests/support/reports.h"
#include "tests/support/xlsx_reader.h"

namespace aw::testing {
namespace {

namespace v1 = ::auditwatch::v1;
using Code = grpc::StatusCode;

struct ReportStack {
  explicit ReportStack(const TestDatabase& db, std::vector<std::string> args = {"--report_tick=100ms"})
      : gw(db, args), province(gw) {
    centre = v1::ReportService::NewStub(gw.Channel(gw.Key("centre.li", {v1::ROLE_CENTRE_AUDITOR})));
    d1 = v1::ReportService::NewStub(gw.Channel(gw.Key("d1.wang", {v1::ROLE_UNIT_SPECIALIST}, {"D1"})));
  }
  Gateway gw;
  ReportProvince province;
  std::unique_ptr<v1::ReportService::Stub> centre, d1;
};

v1::Evaluation EvaluationOf(v1::ScoringService::Stub& scoring, const std::string& unit, const std::string& period) {
  v1::GetEvaluationRequest req;
  req.set_unit_code(unit);
  req.mutable_period()->set_key(period);
  req.set_weakest(5);
  v1::Evaluation e;
  REQUIRE(scoring.GetEvaluation(ReportDeadline().get(), req, &e).ok());
  return e;
}

std::vector<v1::RankingRow> Rankings(v1::ScoringService::Stub& scoring, const std::string& parent, v1::UnitType type,
                                     const std::string& period) {
  v1::ListRankingsRequest req;
  req.set_parent_code(parent);
  req.set_unit_type(type);
  req.mutable_period()->set_key(period);
  v1::ListRankingsResponse r;
  REQUIRE(scoring.ListRankings(ReportDeadline().get(), req, &r).ok());
  return {r.rows().begin(), r.rows().end()};
}

int SheetIndex(const XlsxReader& x, const std::string& name) {
  const auto names = x.SheetNames();
  for (size_t i = 0; i < names.size(); ++i) {
    if (names[i] == name) return static_cast<int>(i);
  }
  FAIL("no sheet " << name);
  return -1;
}

const v1::ReportPart& PartOf(const v1::ReportDocument& doc, const std::string& id) {
  for (const auto& p : doc.parts()) {
    if (p.id() == id) return p;
  }
  FAIL("no part " << id);
  throw;
}

TEST_CASE("An evaluation report in Excel carries the scoring figures sheet by sheet, with native charts",
          "[e2e][report]") {
  TestDatabase db;
  ReportStack s(db);
  const auto g = GenerateAndWatch(*s.centre,
                                  ReportParamsOf(v1::REPORT_KIND_EVALUATION, v1::EXPORT_FORMAT_XLSX, "S1", "2025-03"),
                                  "eval-s1");
  INFO(g.status.error_message() << " " << g.job.error());
  REQUIRE(g.status.ok());
  REQUIRE(g.job.state() == v1::REPORT_STATE_READY);
  // Progress was streamed: it only grows, and the last state is the end.
  for (size_t i = 1; i < g.seen.size(); ++i) CHECK(g.seen[i].progress_percent() >= g.seen[i - 1].progress_percent());
  CHECK(g.job.progress_percent() == 100);
  CHECK(g.job.requested_by() == "centre.li");
  CHECK(g.job.file_name() == absl::StrCat("evaluation_S1_2025-03_", g.job.id(), ".xlsx"));
  CHECK(g.job.as_of().seconds() > 0);
  CHECK(g.job.expires_at().seconds() > g.job.finished_at().seconds());

  v1::ReportChunk header;
  const std::string bytes = DownloadReport(*s.centre, g.job.id(), 0, &header);
  CHECK(static_cast<int64_t>(bytes.size()) == g.job.size_bytes());
  CHECK(absl::BytesToHexString(Sha256(bytes)) == g.job.sha256());
  CHECK(header.sha256() == g.job.sha256());
  CHECK(header.content_type() == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet");
  // A broken download resumes from where it stopped.
  const int64_t half = g.job.size_bytes() / 2;
  CHECK(DownloadReport(*s.centre, g.job.id(), half) == bytes.substr(half));
  grpc::Status beyond;
  DownloadReport(*s.centre, g.job.id(), g.job.size_bytes() + 1, nullptr, &beyond);
  CHECK(beyond.error_code() == Code::OUT_OF_RANGE);

  const v1::Evaluation e = EvaluationOf(s.province.scoring(), "S1", "2025-03");
  XlsxReader x(bytes);
  CHECK(x.SheetNames() ==
        std::vector<std::string>{"综合评价", "分项得分", "指标明细", "扣分明细", "年度趋势", "短板", "预测"});
  const int summary = SheetIndex(x, "综合评价");
  // The title, the notes, then the header: the composite first.
  int head = 1;
  while (head < 10 && x.Cell(summary, "A" + std::to_string(head)) != "项目") ++head;
  CHECK(x.Cell(summary, "A2").rfind("排名 ", 0) == 0);
  CHECK(x.Cell(summary, CellRef(head, 0)) == "综合得分");
  CHECK(x.Number(summary, CellRef(head, 1)) == e.composite());
  CHECK(x.Number(summary, CellRef(head + 1, 1)) == e.main().total());
  CHECK(x.Number(summary, CellRef(head + 2, 1)) == e.process().total());
  CHECK(x.FrozenAt(summary) == CellRef(head, 0));
  const auto gauge = x.Charts(summary);
  REQUIRE(gauge.size() == 1);
  CHECK(gauge[0].type == "doughnutChart");
  CHECK(gauge[0].first_slice_angle == "270");
  CHECK(gauge[0].hidden_points == std::vector<bool>{false, false, true});

  const int indicators = SheetIndex(x, "指标明细");
  REQUIRE(e.indicators_size() == 2);
  for (int i = 0; i < e.indicators_size(); ++i) {
    const std::string row = std::to_string(3 + i);
    CHECK(x.Cell(indicators, "A" + row) == e.indicators(i).indicator_code());
    CHECK(x.Number(indicators, "D" + row) == e.indicators(i).value());
    CHECK(x.Number(indicators, "H" + row) == e.indicators(i).score());
  }
  const auto bars = x.Charts(indicators);
  REQUIRE(bars.size() == 1);
  CHECK(bars[0].type == "barChart");
  REQUIRE(bars[0].series.size() == 2);
  CHECK(bars[0].series[0].categories == "'指标明细'!$A$3:$A$4");
  CHECK(bars[0].series[1].values == "'指标明细'!$H$3:$H$4");

  const int parts = SheetIndex(x, "分项得分");
  const auto part_charts = x.Charts(parts);
  REQUIRE(part_charts.size() == 2);
  CHECK(part_charts[0].type == "barChart");
  CHECK(part_charts[1].type == "pieChart");
  // A row per part present: main, process and business (100 less no deductions).
  CHECK(part_charts[1].series[0].values == "'分项得分'!$E$3:$E$5");
  CHECK(x.Number(parts, "B5") == e.business().total());

  const int trend = SheetIndex(x, "年度趋势");
  const auto line = x.Charts(trend);
  REQUIRE(line.size() == 1);
  CHECK(line[0].type == "lineChart");
  CHECK(line[0].series[0].values == "'年度趋势'!$B$3:$B$5");  // January to March
  for (int m = 1; m <= 3; ++m) {
    const std::string row = std::to_string(2 + m);
    CHECK(x.Cell(trend, "A" + row) == absl::StrCat("2025-0", m));
    CHECK(x.Number(trend, "B" + row) == EvaluationOf(s.province.scoring(), "S1", absl::StrCat("2025-0", m)).composite());
  }
  // The same key gives the same job.
  v1::GenerateReportRequest again;
  *again.mutable_params() = ReportParamsOf(v1::REPORT_KIND_EVALUATION, v1::EXPORT_FORMAT_XLSX, "S1", "2025-03");
  again.set_idempotency_key("eval-s1");
  v1::ReportJob same;
  REQUIRE(s.centre->GenerateReport(ReportDeadline().get(), again, &same).ok());
  CHECK(same.id() == g.job.id());
}

// Parses CSV text (after its BOM) into rows of fields, blank lines skipped.
std::vector<std::vector<std::string>> ParseCsv(const std::string& text) {
  struct Rows {
    std::vector<std::vector<std::string>> rows{{}};
  } out;
  csv_parser p;
  REQUIRE(csv_init(&p, 0) == 0);
  REQUIRE(text.rfind("\xEF\xBB\xBF", 0) == 0);
  csv_parse(&p, text.data() + 3, text.size() - 3,
            [](void* s, size_t n, void* data) {
              static_cast<Rows*>(data)->rows.back().emplace_back(static_cast<const char*>(s), n);
            },
            [](int, void* data) { static_cast<Rows*>(data)->rows.emplace_back(); }, &out);
  csv_fini(&p, nullptr, nullptr, &out);
  csv_free(&p);
  std::vector<std::vector<std::string>> rows;
  for (auto& r : out.rows) {
    if (!r.empty()) rows.push_back(std::move(r));
  }
  return rows;
}

TEST_CASE("The monthly summary validates as XML, and its JSON and CSV read back to the scoring figures",
          "[e2e][report]") {
  TestDatabase db;
  ReportStack s(db);
  std::map<v1::ExportFormat, std::string> files;
  for (auto format : {v1::EXPORT_FORMAT_XML, v1::EXPORT_FORMAT_JSON, v1::EXPORT_FORMAT_CSV, v1::EXPORT_FORMAT_XLSX}) {
    const auto g = GenerateAndWatch(
        *s.centre, ReportParamsOf(v1::REPORT_KIND_MONTHLY_SUMMARY, format, "P", "2025-03"),
        absl::StrCat("monthly-", format));
    INFO(g.job.error());
    REQUIRE(g.job.state() == v1::REPORT_STATE_READY);
    files[format] = DownloadReport(*s.centre, g.job.id());
  }
  const std::string xml_path = "report_test_monthly.xml";
  std::ofstream(xml_path, std::ios::binary) << files[v1::EXPORT_FORMAT_XML];
  std::string out;
  CHECK(RunCommand(absl::StrCat("xmllint --noout --schema ", AW_REPORT_XSD, " ", xml_path), &out) == 0);
  CHECK(out.find("validates") != std::string::npos);

  v1::ReportDocument doc;
  REQUIRE(google::protobuf::util::JsonStringToMessage(files[v1::EXPORT_FORMAT_JSON], &doc).ok());
  CHECK(doc.params().period().key() == "2025-03");
  CHECK(doc.generated_by() == "centre.li");
  // The subordinates' ranking, and every station ranked, as scoring ranks them.
  const v1::ReportPart& children = PartOf(doc, "ranking");
  const auto c1 = Rankings(s.province.scoring(), "P", v1::UNIT_TYPE_UNSPECIFIED, "2025-03");
  REQUIRE(children.rows_size() == static_cast<int>(c1.size()));
  CHECK(children.rows(0).cells(1).text() == "C1");
  CHECK(children.rows(0).cells(3).number() == c1[0].composite());
  const v1::ReportPart& stations = PartOf(doc, "type-5");
  const auto ranked = Rankings(s.province.scoring(), "P", v1::UNIT_TYPE_SUPPLY_STATION, "2025-03");
  REQUIRE(stations.rows_size() == 3);
  for (int i = 0; i < 3; ++i) {
    CHECK(stations.rows(i).cells(0).number() == ranked[i].rank());
    CHECK(stations.rows(i).cells(1).text() == ranked[i].unit_code());
    CHECK(stations.rows(i).cells(3).number() == ranked[i].composite());
  }
  const v1::ReportPart& summary = PartOf(doc, "summary");
  CHECK(summary.rows(0).cells(1).number() == EvaluationOf(s.province.scoring(), "P", "2025-03").composite());
  CHECK(PartOf(doc, "rates").rows_size() == 7);  // every unit of the tree

  // The CSV holds the same cells: find the stations' block.
  const auto rows = ParseCsv(files[v1::EXPORT_FORMAT_CSV]);
  size_t at = 0;
  while (at < rows.size() && !(rows[at][0] == "#part" && rows[at][1] == "type-5")) ++at;
  REQUIRE(at < rows.size());
  CHECK(rows[at + 1][3] == "综合得分");
  for (int i = 0; i < 3; ++i) {
    const auto& r = rows[at + 2 + i];
    CHECK(r[1] == ranked[i].unit_code());
    CHECK(std::stod(r[3]) == ranked[i].composite());
  }

  // The workbook: a sheet per part, the top-20 chart over the stations.
  XlsxReader x(files[v1::EXPORT_FORMAT_XLSX]);
  const int sheet = SheetIndex(x, "供电所排名");
  CHECK(x.Number(sheet, "D3") == ranked[0].composite());
  const auto charts = x.Charts(sheet);
  REQUIRE(charts.size() == 1);
  CHECK(charts[0].series[0].values == "'供电所排名'!$D$3:$D$5");
  const auto pie = x.Charts(SheetIndex(x, "得分分布"));
  REQUIRE(pie.size() == 1);
  CHECK(pie[0].type == "pieChart");

  // One level of the drill-down as data: the composite of the city's counties
  // as scoring ranks them, and an indicator of a station over the half's months.
  v1::DrillDownRequest drill;
  drill.set_unit_code("C1");
  drill.mutable_period()->set_key("2025-03");
  v1::DrillDownResponse level;
  REQUIRE(s.centre->DrillDown(ReportDeadline().get(), drill, &level).ok());
  CHECK(level.measure() == "composite");
  CHECK(level.unit().value() == EvaluationOf(s.province.scoring(), "C1", "2025-03").composite());
  const auto counties = Rankings(s.province.scoring(), "C1", v1::UNIT_TYPE_UNSPECIFIED, "2025-03");
  REQUIRE(level.children_size() == 2);
  for (const auto& c : level.children()) {
    CHECK(c.has_children());
    const auto it = std::find_if(counties.begin(), counties.end(),
                                 [&](const v1::RankingRow& r) { return r.unit_code() == c.unit_code(); });
    REQUIRE(it != counties.end());
    CHECK(c.value() == it->composite());
  }
  CHECK(level.periods_size() == 0);  // a month has no parts
  drill.set_unit_code("S1");
  drill.mutable_period()->set_key("2025-H1");
  drill.set_measure("RATE");
  REQUIRE(s.centre->DrillDown(ReportDeadline().get(), drill, &level).ok());
  REQUIRE(level.periods_size() == 6);
  CHECK(level.periods(0).value() == 95);
  CHECK(level.periods(2).value() == 97);
  CHECK_FALSE(level.periods(3).has_value());  // April: not reported
  CHECK_FALSE(level.children_size());
  drill.set_measure("NO-SUCH");
  CHECK(s.centre->DrillDown(ReportDeadline().get(), drill, &level).error_code() == Code::INVALID_ARGUMENT);
  drill.set_measure("");
  drill.mutable_period()->set_key("2025-W10");
  const grpc::Status week = s.centre->DrillDown(ReportDeadline().get(), drill, &level);
  CHECK(week.error_code() == Code::INVALID_ARGUMENT);
  CHECK(week.error_message() == "period: a year, half-year or month");
}

TEST_CASE("The daily and weekly reports count the warnings, tasks and orders monitor and audit hold",
          "[e2e][report]") {
  TestDatabase db;
  ReportStack s(db);
  auto monitor = v1::MonitorService::NewStub(s.gw.Channel(s.gw.admin_key()));
  // The rule on RATE raises: S3 in January (85) and February (88) at level 2, in March (79) at level 1.
  v1::ListEventsResponse events;
  REQUIRE(WaitUntil([&] {
    v1::ListEventsRequest list;
    events.Clear();
    return monitor->ListEvents(ReportDeadline().get(), list, &events).ok() && events.events_size() == 3;
  }));
  const std::string today = absl::FormatTime("%Y-%m-%d", absl::Now(), absl::UTCTimeZone());
  const auto daily = GenerateAndWatch(
      *s.centre, ReportParamsOf(v1::REPORT_KIND_DAILY_AUDIT, v1::EXPORT_FORMAT_JSON, "P", today), "daily");
  INFO(daily.job.error());
  REQUIRE(daily.job.state() == v1::REPORT_STATE_READY);
  v1::ReportDocument doc;
  REQUIRE(google::protobuf::util::JsonStringToMessage(DownloadReport(*s.centre, daily.job.id()), &doc).ok());
  CHECK(PartOf(doc, "summary").rows(0).cells(1).number() == 3);
  const v1::ReportPart& levels = PartOf(doc, "levels");
  CHECK(levels.rows(0).cells(1).number() == 1);  // level 1
  CHECK(levels.rows(1).cells(1).number() == 2);  // level 2
  const v1::ReportPart& themes = PartOf(doc, "themes");
  REQUIRE(themes.rows_size() == 1);
  CHECK(themes.rows(0).cells(1).text() == "电费回收");
  CHECK(themes.rows(0).cells(6).number() == 3);
  CHECK(PartOf(doc, "events").rows_size() == 3);

  // A day with nothing: yesterday.
  const std::string yesterday =
      absl::FormatTime("%Y-%m-%d", absl::Now() - absl::Hours(24), absl::UTCTimeZone());
  const auto quiet = GenerateAndWatch(
      *s.centre, ReportParamsOf(v1::REPORT_KIND_DAILY_AUDIT, v1::EXPORT_FORMAT_JSON, "P", yesterday), "quiet");
  REQUIRE(quiet.job.state() == v1::REPORT_STATE_READY);
  v1::ReportDocument none;
  REQUIRE(google::protobuf::util::JsonStringToMessage(DownloadReport(*s.centre, quiet.job.id()), &none).ok());
  CHECK(PartOf(none, "summary").rows(0).cells(1).number() == 0);

  // The week: every warning this week, none the week before, all under C1.
  const std::string week = Period::Containing(PeriodType::kWeek, CivilDayOf(absl::Now())).key();
  const auto weekly = GenerateAndWatch(
      *s.centre, ReportParamsOf(v1::REPORT_KIND_WEEKLY_ANALYSIS, v1::EXPORT_FORMAT_JSON, "P", week), "weekly");
  REQUIRE(weekly.job.state() == v1::REPORT_STATE_READY);
  v1::ReportDocument w;
  REQUIRE(google::protobuf::util::JsonStringToMessage(DownloadReport(*s.centre, weekly.job.id()), &w).ok());
  const v1::ReportPart& units = PartOf(w, "units");
  REQUIRE(units.rows_size() == 1);
  CHECK(units.rows(0).cells(0).text() == "C1");
  CHECK(units.rows(0).cells(2).number() == 3);
  CHECK(units.rows(0).cells(3).number() == 0);
  const v1::ReportPart& worst = PartOf(w, "worst");
  REQUIRE(worst.rows_size() == 1);
  CHECK(worst.rows(0).cells(1).text() == "S3");
  CHECK(worst.rows(0).cells(3).number() == 4 + 3 + 3);  // one level 1, two level 2
}

TEST_CASE("Reports outside the caller's subtree are refused, bad requests name the field, a queued job cancelled "
          "stores nothing",
          "[e2e][report]") {
  TestDatabase db;
  // No generator in this process: the jobs stay queued.
  ReportStack s(db, {"--report_generators=0"});
  const auto params = ReportParamsOf(v1::REPORT_KIND_MONTHLY_SUMMARY, v1::EXPORT_FORMAT_HTML, "P", "2025-03");
  v1::GenerateReportRequest req;
  *req.mutable_params() = params;
  req.set_idempotency_key("p-monthly");
  v1::ReportJob job;
  REQUIRE(s.centre->GenerateReport(ReportDeadline().get(), req, &job).ok());
  CHECK(job.state() == v1::REPORT_STATE_QUEUED);

  // D1's specialist: not the province's report, neither a new one nor this one.
  v1::ReportJob refused;
  grpc::Status st = s.d1->GenerateReport(ReportDeadline().get(), req, &refused);
  CHECK(st.error_code() == Code::PERMISSION_DENIED);
  v1::GetReportRequest get;
  get.set_id(job.id());
  st = s.d1->GetReport(ReportDeadline().get(), get, &refused);
  CHECK(st.error_code() == Code::PERMISSION_DENIED);
  grpc::Status download;
  DownloadReport(*s.d1, job.id(), 0, nullptr, &download);
  CHECK(download.error_code() == Code::PERMISSION_DENIED);
  // Its own station's report is fine; the listing shows it only its own.
  v1::GenerateReportRequest own = req;
  *own.mutable_params() = ReportParamsOf(v1::REPORT_KIND_EVALUATION, v1::EXPORT_FORMAT_HTML, "S1", "2025-03");
  own.set_idempotency_key("s1-eval");
  v1::ReportJob mine;
  REQUIRE(s.d1->GenerateReport(ReportDeadline().get(), own, &mine).ok());
  v1::ListReportsRequest list;
  v1::ListReportsResponse listed;
  REQUIRE(s.d1->ListReports(ReportDeadline().get(), list, &listed).ok());
  REQUIRE(listed.reports_size() == 1);
  CHECK(listed.reports(0).id() == mine.id());
  REQUIRE(s.centre->ListReports(ReportDeadline().get(), list, &listed).ok());
  CHECK(listed.reports_size() == 2);

  // Bad requests.
  v1::GenerateReportRequest bad = req;
  bad.clear_idempotency_key();
  st = s.centre->GenerateReport(ReportDeadline().get(), bad, &refused);
  CHECK(st.error_code() == Code::INVALID_ARGUMENT);
  CHECK(st.error_message() == "idempotency_key: required (a retry sends the same key)");
  bad = req;
  bad.mutable_params()->set_kind(v1::REPORT_KIND_DAILY_AUDIT);
  st = s.centre->GenerateReport(ReportDeadline().get(), bad, &refused);
  CHECK(st.error_code() == Code::INVALID_ARGUMENT);
  CHECK(st.error_message() == "params.period: a daily-audit report covers a day");
  bad = req;
  bad.mutable_params()->set_kind(v1::REPORT_KIND_THEME_ANALYSIS);
  bad.mutable_params()->mutable_period()->set_key("2025");
  bad.mutable_params()->set_measure("NO-SUCH");
  st = s.centre->GenerateReport(ReportDeadline().get(), bad, &refused);
  CHECK(st.error_code() == Code::INVALID_ARGUMENT);
  CHECK(st.error_message().rfind("params.measure: \"NO-SUCH\"", 0) == 0);
  bad = req;
  bad.mutable_params()->mutable_scope()->set_unit_code("NOPE");
  st = s.centre->GenerateReport(ReportDeadline().get(), bad, &refused);
  CHECK((st.error_code() == Code::NOT_FOUND || st.error_code() == Code::PERMISSION_DENIED));
  bad = req;
  bad.set_idempotency_key("p-monthly");
  bad.mutable_params()->set_format(v1::EXPORT_FORMAT_CSV);
  st = s.centre->GenerateReport(ReportDeadline().get(), bad, &refused);
  CHECK(st.error_code() == Code::INVALID_ARGUMENT);
  CHECK(st.error_message().rfind("idempotency_key: p-monthly was used for another report", 0) == 0);

  // Cancelled while queued: the end at once, nothing stored, no second cancel.
  v1::CancelReportRequest cancel;
  cancel.set_id(job.id());
  v1::ReportJob cancelled;
  REQUIRE(s.centre->CancelReport(ReportDeadline().get(), cancel, &cancelled).ok());
  CHECK(cancelled.state() == v1::REPORT_STATE_CANCELLED);
  CHECK(cancelled.size_bytes() == 0);
  st = s.centre->CancelReport(ReportDeadline().get(), cancel, &cancelled);
  CHECK(st.error_code() == Code::FAILED_PRECONDITION);
  DownloadReport(*s.centre, job.id(), 0, nullptr, &download);
  CHECK(download.error_code() == Code::FAILED_PRECONDITION);
  v1::WatchReportRequest watch;
  watch.set_id(job.id());
  auto ctx = ReportDeadline();
  auto reader = s.centre->WatchReport(ctx.get(), watch);
  v1::ReportJob seen;
  REQUIRE(reader->Read(&seen));
  CHECK(seen.state() == v1::REPORT_STATE_CANCELLED);
  CHECK_FALSE(reader->Read(&seen));
  CHECK(reader->Finish().ok());
  CHECK(db.Query(absl::StrCat("SELECT count(*) FROM report.files WHERE job_id = ", job.id())) == "0");
  // Watching a report of another subtree is refused too.
  auto ctx2 = ReportDeadline();
  auto other = s.d1->WatchReport(ctx2.get(), watch);
  CHECK_FALSE(other->Read(&seen));
  CHECK(other->Finish().error_code() == Code::PERMISSION_DENIED);
}

TEST_CASE("A schedule fires exactly once with two report processes on one database", "[e2e][report]") {
  TestDatabase db;
  char dir[] = "/tmp/aw-report-key-XXXXXX";
  REQUIRE(mkdtemp(dir) != nullptr);
  const std::string key_file = std::string(dir) + "/identity";
  std::ofstream(key_file) << "report-schedule-test-identity-key";
  ReportStack s(db, {"--report_tick=100ms", "--identity_key_file=" + key_file});
  AuditwatchProcess second(
      "report", db.url(),
      {"--report_tick=100ms", "--identity_key_file=" + key_file,
       "--ingest_addr=" + s.gw.process().address("ingest"), "--monitor_addr=" + s.gw.process().address("monitor"),
       "--audit_addr=" + s.gw.process().address("audit"), "--scoring_addr=" + s.gw.process().address("scoring")});
  REQUIRE(WaitForHealth(second.address("report"), "", "SERVING") == "SERVING");

  // Daily, three seconds from now (UTC): it reports on yesterday.
  const absl::Time fire = absl::Now() + absl::Seconds(3);
  v1::CreateScheduleRequest create;
  v1::ReportSchedule* sc = create.mutable_schedule();
  *sc->mutable_params() = ReportParamsOf(v1::REPORT_KIND_DAILY_AUDIT, v1::EXPORT_FORMAT_JSON, "P", "");
  sc->mutable_params()->clear_period();
  sc->set_cadence(v1::CADENCE_DAILY);
  sc->set_at(absl::FormatTime("%H:%M:%S", fire, absl::UTCTimeZone()));
  sc->set_utc_offset_minutes(0);
  create.set_idempotency_key("daily-p");
  v1::ReportSchedule schedule;
  const grpc::Status created = s.centre->CreateSchedule(ReportDeadline().get(), create, &schedule);
  INFO(created.error_message());
  REQUIRE(created.ok());
  CHECK(schedule.next_run_at().seconds() == absl::ToUnixSeconds(fire));
  CHECK(schedule.audit().created_by() == "centre.li");

  v1::ListReportsRequest list;
  list.set_schedule_id(schedule.id());
  v1::ListReportsResponse listed;
  if (!WaitUntil([&] {
        return s.centre->ListReports(ReportDeadline().get(), list, &listed).ok() && listed.reports_size() > 0 &&
               listed.reports(0).state() == v1::REPORT_STATE_READY;
      })) {
    FAIL("no ready report of the schedule: " << listed.DebugString() << s.gw.process().Logs() << second.Logs());
  }
  absl::SleepFor(absl::Seconds(1));  // ten more ticks of each process
  REQUIRE(s.centre->ListReports(ReportDeadline().get(), list, &listed).ok());
  REQUIRE(listed.reports_size() == 1);
  const v1::ReportJob& job = listed.reports(0);
  CHECK(job.requested_by() == "centre.li");
  CHECK(job.params().period().key() ==
        absl::FormatTime("%Y-%m-%d", fire - absl::Hours(24), absl::UTCTimeZone()));
  v1::ListSchedulesResponse schedules;
  REQUIRE(s.centre->ListSchedules(ReportDeadline().get(), v1::ListSchedulesRequest(), &schedules).ok());
  REQUIRE(schedules.schedules_size() == 1);
  CHECK(schedules.schedules(0).next_run_at().seconds() == absl::ToUnixSeconds(fire + absl::Hours(24)));
  CHECK(schedules.schedules(0).last_run_at().seconds() == absl::ToUnixSeconds(fire));
  // Disabled, it is kept with its reason.
  v1::DeleteScheduleRequest del;
  del.set_id(schedule.id());
  v1::ReportSchedule deleted;
  grpc::Status st = s.centre->DeleteSchedule(ReportDeadline().get(), del, &deleted);
  CHECK(st.error_code() == Code::INVALID_ARGUMENT);
  del.set_reason("replaced by a weekly report");
  REQUIRE(s.centre->DeleteSchedule(ReportDeadline().get(), del, &deleted).ok());
  CHECK_FALSE(deleted.enabled());
  CHECK(deleted.audit().reason() == "replaced by a weekly report");
  second.Stop(SIGTERM);
}

}  // namespace
}  // namespace aw::testing
