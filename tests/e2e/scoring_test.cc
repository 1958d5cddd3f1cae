// The scoring service end to end, through the gateway, with every service in
// one process over real gRPC and a real PostgreSQL: a small province built
// through ingest and audit, whose every score is checked against values
// computed by hand; reproducible runs; a late correction and a deduction
// registered afterwards, each making a new run that leaves the published one
// intact; a half-year and a year scored on their own values, a missing volume
// on ingest's roll-up; a unit moved in July scored under its old parent for
// January; ranking with ties; score readings that trigger a monitor rule;
// refused requests.
#include <functional>

#include <catch2/catch.hpp>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "auditwatch/v1/audit.grpc.pb.h"
#include "auditwatch/v1/monitor.grpc.pb.h"
#include "auditwatch/v1/scoring.grpc.pb.h"
#include "tests/support/gateway.h"
#include "tests/support/readings.h"

namespace aw::testing {
namespace {

namespace v1 = ::auditwatch::v1;
using Code = grpc::StatusCode;

std::unique_ptr<grpc::ClientContext> Deadline(int seconds = 30) {
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(seconds));
  return ctx;
}

v1::Period P(const std::string& key) {
  v1::Period p;
  p.set_key(key);
  return p;
}

v1::SchemeItem Item(const std::string& code, v1::IndicatorClass cls, double base, double full) {
  v1::SchemeItem it;
  it.set_indicator_code(code);
  it.set_class_(cls);
  it.add_unit_types(v1::UNIT_TYPE_SUPPLY_STATION);
  it.set_base_value(base);
  it.set_full_score_value(full);
  it.set_direction(full > base ? v1::DIRECTION_HIGHER_IS_BETTER : v1::DIRECTION_LOWER_IS_BETTER);
  it.set_points(10);
  it.set_enabled(true);
  return it;
}

// The two-county tree (P → C1 → D1 {S1, S2}, D2 {S3}) with S2 moving to D2 on
// July 1st; RATE (higher is better, main: base 90, full 100) and LOSS (lower
// is better, process: base 5, full 1) for months and half-years; January's
// readings; a direct deduction of 5 points on D2 in January.
class ScoringStack {
 public:
  explicit ScoringStack(const TestDatabase& db)
      : gw_(db, {"--rerun_delay=300ms", "--evaluation_tick=100ms"}) {
    REQUIRE(WaitForHealth(gw_.process().address("scoring"), "", "SERVING") == "SERVING");
    admin_ = v1::ScoringService::NewStub(gw_.Channel(gw_.admin_key()));
    centre_ = v1::ScoringService::NewStub(gw_.Channel(gw_.Key("centre.li", {v1::ROLE_CENTRE_AUDITOR})));
    d1_ = v1::ScoringService::NewStub(gw_.Channel(gw_.Key("d1.wang", {v1::ROLE_UNIT_SPECIALIST}, {"D1"})));
    CreateUnits(gw_.ingest(), TwoCounties(), "2025-01-01");
    {
      v1::MoveUnitRequest move;
      move.set_code("S2");
      move.set_new_parent_code("D2");
      move.set_effective_from("2025-07-01");
      move.set_reason("re-organisation");
      v1::Unit out;
      const grpc::Status s = gw_.ingest().MoveUnit(Deadline().get(), move, &out);
      INFO(s.error_message());
      REQUIRE(s.ok());
    }
    for (const char* code : {"RATE", "LOSS"}) {
      CreateIndicator(gw_.ingest(), {.code = code,
                                     .period_types = {v1::PERIOD_TYPE_MONTH, v1::PERIOD_TYPE_HALF_YEAR,
                                                      v1::PERIOD_TYPE_YEAR},
                                     .direction = std::string(code) == "RATE" ? v1::DIRECTION_HIGHER_IS_BETTER
                                                                              : v1::DIRECTION_LOWER_IS_BETTER});
    }
    Readings("jan", {{"S1", "RATE", "2025-01", 95}, {"S1", "LOSS", "2025-01", 3},
                     {"S2", "RATE", "2025-01", 100}, {"S2", "LOSS", "2025-01", 1},
                     {"S3", "RATE", "2025-01", 95}, {"S3", "LOSS", "2025-01", 3},
                     // S1's half-year, reported on its own: not its months' figures.
                     {"S1", "RATE", "2025-H1", 100}, {"S1", "LOSS", "2025-H1", 1}});
    auto audit = v1::AuditService::NewStub(gw_.Channel(gw_.admin_key()));
    v1::UpsertDeductionStandardRequest standard;
    v1::DeductionStandard* d = standard.mutable_standard();
    d->set_code("ERR-L2");
    d->set_year(2025);
    d->set_category(v1::BUSINESS_CATEGORY_MARKETING_MANAGEMENT);
    d->set_description("二级营销差错");
    d->set_points(5);
    d->set_direct(true);
    d->set_incident_kind(v1::INCIDENT_KIND_MARKETING_ERROR);
    d->set_incident_level(2);
    d->set_enabled(true);
    v1::DeductionStandard saved;
    REQUIRE(audit->UpsertDeductionStandard(Deadline().get(), standard, &saved).ok());
    v1::RegisterIncidentRequest incident;
    incident.mutable_incident()->set_kind(v1::INCIDENT_KIND_MARKETING_ERROR);
    incident.mutable_incident()->set_level(2);
    incident.mutable_incident()->set_unit_code("D2");
    *incident.mutable_incident()->mutable_period() = P("2025-01");
    incident.mutable_incident()->set_description("错发电费通知单");
    incident.set_idempotency_key("incident-d2");
    REQUIRE(audit->RegisterIncident(Deadline().get(), incident, &incident_).ok());

    v1::UpsertSchemeRequest up;
    v1::Scheme* s = up.mutable_scheme();
    s->set_year(2025);
    s->set_name("2025 评价方案");
    s->set_bonus_cap(2);
    *s->add_items() = Item("RATE", v1::INDICATOR_CLASS_MAIN, 90, 100);
    *s->add_items() = Item("LOSS", v1::INDICATOR_CLASS_PROCESS, 5, 1);
    const grpc::Status saved_scheme = admin_->UpsertScheme(Deadline().get(), up, &scheme_);
    INFO(saved_scheme.error_message());
    REQUIRE(saved_scheme.ok());
  }

  void Readings(const std::string& batch, const std::vector<Row>& rows) {
    grpc::ClientContext ctx;
    v1::ImportReadingsResponse summary;
    auto stream = gw_.ingest().ImportReadings(&ctx, &summary);
    REQUIRE(stream->Write(MakeBatch(batch, rows)));
    stream->WritesDone();
    const grpc::Status s = stream->Finish();
    INFO(s.error_message());
    REQUIRE(s.ok());
    REQUIRE(summary.rejected() == 0);
  }

  v1::EvaluationRun Run(const std::string& period, bool publish) {
    v1::RunEvaluationRequest req;
    *req.mutable_period() = P(period);
    req.set_publish(publish);
    v1::EvaluationRun run;
    const grpc::Status s = centre_->RunEvaluation(Deadline(120).get(), req, &run);
    INFO(s.error_message());
    REQUIRE(s.ok());
    return run;
  }

  // The first run of `period` made by `trigger` that `wanted` accepts, waited for
  // (an empty run after 30 s). The feeds may also repeat a period for changes
  // made before its first run, when they reach the service after it.
  v1::EvaluationRun RunBy(const std::string& period, v1::RunTrigger trigger,
                          const std::function<bool(const v1::EvaluationRun&)>& wanted) {
    const absl::Time give_up = absl::Now() + absl::Seconds(30);
    while (absl::Now() < give_up) {
      v1::ListRunsRequest list;
      *list.mutable_period() = P(period);
      v1::ListRunsResponse runs;
      REQUIRE(centre_->ListRuns(Deadline().get(), list, &runs).ok());
      for (auto it = runs.runs().rbegin(); it != runs.runs().rend(); ++it) {
        if (it->trigger() == trigger && wanted(*it)) return *it;
      }
      absl::SleepFor(absl::Milliseconds(100));
    }
    return v1::EvaluationRun();
  }

  v1::Evaluation Of(const std::string& unit, const std::string& period, int64_t run_id = 0) {
    v1::GetEvaluationRequest req;
    req.set_unit_code(unit);
    *req.mutable_period() = P(period);
    req.set_run_id(run_id);
    v1::Evaluation e;
    const grpc::Status s = centre_->GetEvaluation(Deadline().get(), req, &e);
    INFO(unit << " " << period << ": " << s.error_message());
    REQUIRE(s.ok());
    return e;
  }

  Gateway gw_;
  std::unique_ptr<v1::ScoringService::Stub> admin_, centre_, d1_;
  v1::Scheme scheme_;
  v1::Incident incident_;
};

TEST_CASE("Every score of a small province matches the value computed by hand", "[e2e][scoring]") {
  TestDatabase db;
  ScoringStack s(db);
  const v1::EvaluationRun run = s.Run("2025-01", true);
  CHECK(run.published());
  CHECK(run.units() == 7);
  CHECK(run.readings() == 6);
  CHECK(run.deductions() == 1);
  CHECK(run.scheme_version() == 1);
  // S1: RATE 95 → 10 × (0.6 + 0.4 × 0.5) = 8 of 10: main 80; LOSS 3 → 8 of 10:
  // process 80; no deduction: business 100. 80 × 0.5 + 80 × 0.1 + 100 × 0.4 = 88.
  const v1::Evaluation s1 = s.Of("S1", "2025-01");
  CHECK(s1.main().total() == Approx(80).epsilon(1e-12));
  CHECK(s1.process().total() == Approx(80).epsilon(1e-12));
  CHECK(s1.business().total() == 100);
  CHECK(s1.composite() == Approx(88).epsilon(1e-12));
  REQUIRE(s1.indicators_size() == 2);
  CHECK(s1.indicators(0).indicator_code() == "RATE");
  CHECK(s1.indicators(0).value() == 95);
  CHECK(s1.indicators(0).progress() == Approx(0.5).epsilon(1e-12));
  CHECK(s1.indicators(0).reading().version() == 1);
  CHECK(s1.indicators(0).reading().seq() > 0);
  CHECK(s1.parent_code() == "D1");
  CHECK(s.Of("S2", "2025-01").composite() == Approx(100).epsilon(1e-12));
  CHECK(s.Of("S3", "2025-01").composite() == Approx(88).epsilon(1e-12));
  // D1 in January: the mean of S1 and S2 (S2 moved to D2 only in July).
  const v1::Evaluation d1 = s.Of("D1", "2025-01");
  REQUIRE(d1.children_size() == 2);
  CHECK(d1.children(1).unit_code() == "S2");
  CHECK(d1.composite() == 100);  // a county has no item here: business alone
  // D2's direct deduction hits D2 only, with its incident.
  const v1::Evaluation d2 = s.Of("D2", "2025-01");
  CHECK(d2.composite() == 95);
  REQUIRE(d2.direct_size() == 1);
  CHECK(d2.direct(0).incident_id() == s.incident_.id());
  CHECK(s.Of("C1", "2025-01").composite() == 100);
  CHECK(s.Of("P", "2025-01").composite() == 100);

  // Competition ranking of the province's stations: S2 first, S1 and S3 tie.
  v1::ListRankingsRequest rank;
  rank.set_parent_code("P");
  rank.set_unit_type(v1::UNIT_TYPE_SUPPLY_STATION);
  *rank.mutable_period() = P("2025-01");
  v1::ListRankingsResponse ranking;
  REQUIRE(s.centre_->ListRankings(Deadline().get(), rank, &ranking).ok());
  REQUIRE(ranking.rows_size() == 3);
  CHECK(ranking.rows(0).unit_code() == "S2");
  CHECK(ranking.rows(0).rank() == 1);
  CHECK(ranking.rows(1).unit_code() == "S1");
  CHECK(ranking.rows(1).rank() == 2);
  CHECK(ranking.rows(2).unit_code() == "S3");
  CHECK(ranking.rows(2).rank() == 2);
  CHECK(ranking.rows(0).percentile() == 100);
  // Without a type: C1's direct subordinates.
  rank.set_parent_code("C1");
  rank.set_unit_type(v1::UNIT_TYPE_UNSPECIFIED);
  REQUIRE(s.centre_->ListRankings(Deadline().get(), rank, &ranking).ok());
  REQUIRE(ranking.rows_size() == 2);
  CHECK(ranking.rows(0).unit_code() == "D1");

  // July: S2 is D2's now.
  s.Run("2025-07", false);
  CHECK(s.Of("S2", "2025-07").parent_code() == "D2");
  CHECK(s.Of("D2", "2025-07").children_size() == 2);
}

TEST_CASE("A half-year is scored on its own values and a missing one scores zero", "[e2e][scoring]") {
  TestDatabase db;
  ScoringStack s(db);
  s.Run("2025-H1", true);
  const v1::Evaluation s1 = s.Of("S1", "2025-H1");
  CHECK(s1.composite() == Approx(100).epsilon(1e-12));  // its H1 values, not January's 95 and 3
  CHECK(s1.indicators(0).value() == 100);
  CHECK_FALSE(s1.indicators(0).reading().derived());
  // S2 reported no half-year value; rates are never rolled up: zero points, flagged.
  const v1::Evaluation s2 = s.Of("S2", "2025-H1");
  CHECK(s2.missing_values() == 2);
  CHECK(s2.indicators(0).missing());
  CHECK(s2.composite() == Approx(40).epsilon(1e-12));
}

TEST_CASE("Runs are reproducible and a late correction makes a new run beside the published one",
          "[e2e][scoring]") {
  TestDatabase db;
  ScoringStack s(db);
  const v1::EvaluationRun first = s.Run("2025-01", true);
  const v1::EvaluationRun again = s.Run("2025-01", false);
  CHECK(again.id() != first.id());
  CHECK(again.inputs_digest() == first.inputs_digest());
  CHECK(again.results_digest() == first.results_digest());
  CHECK_FALSE(again.published());

  // A correction of S1's RATE: a new run follows by itself, unpublished.
  v1::CorrectReadingRequest correct;
  correct.mutable_key()->set_unit_code("S1");
  correct.mutable_key()->set_indicator_code("RATE");
  *correct.mutable_key()->mutable_period() = P("2025-01");
  correct.set_value(100);
  correct.set_reason("重新核对");
  v1::Reading corrected;
  REQUIRE(s.gw_.ingest().CorrectReading(Deadline().get(), correct, &corrected).ok());
  REQUIRE(corrected.seq() > 0);
  // The run with the corrected reading among its inputs.
  const v1::EvaluationRun late = s.RunBy("2025-01", v1::RUN_TRIGGER_LATE_DATA, [&](const v1::EvaluationRun& r) {
    return r.readings_max_seq() >= corrected.seq();
  });
  REQUIRE(late.id() > 0);
  CHECK_FALSE(late.published());
  CHECK(late.inputs_digest() != first.inputs_digest());
  // The published figures stand; the new run has the corrected one: 100 × 0.5 + 8 + 40.
  CHECK(s.Of("S1", "2025-01").run_id() == first.id());
  CHECK(s.Of("S1", "2025-01").composite() == Approx(88).epsilon(1e-12));
  const v1::Evaluation now = s.Of("S1", "2025-01", late.id());
  CHECK(now.composite() == Approx(98).epsilon(1e-12));
  CHECK(now.indicators(0).reading().version() == 2);
  // Publishing it moves the mark, with a reason.
  v1::PublishRunRequest publish;
  publish.set_run_id(late.id());
  v1::EvaluationRun published;
  CHECK(s.centre_->PublishRun(Deadline().get(), publish, &published).error_code() == Code::FAILED_PRECONDITION);
  publish.set_reason("更正后重新发布");
  REQUIRE(s.centre_->PublishRun(Deadline().get(), publish, &published).ok());
  CHECK(published.published());
  CHECK(s.Of("S1", "2025-01").composite() == Approx(98).epsilon(1e-12));
  v1::GetRunRequest get;
  get.set_run_id(first.id());
  v1::EvaluationRun old;
  REQUIRE(s.centre_->GetRun(Deadline().get(), get, &old).ok());
  CHECK_FALSE(old.published());
  CHECK(old.results_digest() == first.results_digest());
  CHECK(db.Query(absl::StrCat("SELECT composite FROM scoring.run_units WHERE run_id = ", first.id(),
                              " AND unit_code = 'S1'")) == "88");

  // A direct deduction registered in audit afterwards: another run follows, from audit's facts feed.
  auto audit = v1::AuditService::NewStub(s.gw_.Channel(s.gw_.admin_key()));
  v1::RegisterIncidentRequest incident;
  incident.mutable_incident()->set_kind(v1::INCIDENT_KIND_MARKETING_ERROR);
  incident.mutable_incident()->set_level(2);
  incident.mutable_incident()->set_unit_code("S1");
  *incident.mutable_incident()->mutable_period() = P("2025-01");
  incident.mutable_incident()->set_description("错发电费通知单");
  incident.set_idempotency_key("incident-s1");
  v1::Incident registered;
  REQUIRE(audit->RegisterIncident(Deadline().get(), incident, &registered).ok());
  // The run with S1's deduction among its inputs (besides D2's).
  const v1::EvaluationRun deducted =
      s.RunBy("2025-01", v1::RUN_TRIGGER_DEDUCTION, [](const v1::EvaluationRun& r) { return r.deductions() == 2; });
  REQUIRE(deducted.id() > 0);
  CHECK_FALSE(deducted.published());
  const v1::Evaluation after = s.Of("S1", "2025-01", deducted.id());
  CHECK(after.composite() == Approx(93).epsilon(1e-12));  // 98 − 5
  REQUIRE(after.direct_size() == 1);
  CHECK(after.direct(0).incident_id() == registered.id());
}

TEST_CASE("A year is scored on its own values and a missing volume on ingest's roll-up", "[e2e][scoring]") {
  TestDatabase db;
  ScoringStack s(db);
  CreateIndicator(s.gw_.ingest(), {.code = "CNT",
                                   .rollup = v1::ROLLUP_RULE_SUM,
                                   .unit_of_measure = "件",
                                   .max_value = 1000,
                                   .period_types = {v1::PERIOD_TYPE_MONTH, v1::PERIOD_TYPE_HALF_YEAR,
                                                    v1::PERIOD_TYPE_YEAR},
                                   .direction = v1::DIRECTION_LOWER_IS_BETTER});
  // CNT for every month (a sum rolls up only from a whole half or year): 1 + 2 + 0 × 10.
  std::vector<Row> rows = {{"S1", "RATE", "2025", 92}};
  for (int m = 1; m <= 12; ++m) rows.emplace_back("S1", "CNT", absl::StrFormat("2025-%02d", m), m <= 2 ? m : 0);
  s.Readings("cnt", rows);
  v1::UpsertSchemeRequest up;
  *up.mutable_scheme() = s.scheme_;
  up.mutable_scheme()->clear_audit();
  *up.mutable_scheme()->add_items() = Item("CNT", v1::INDICATOR_CLASS_PROCESS, 10, 2);
  up.set_expected_version(1);
  up.set_reason("差错件数纳入评价");
  v1::Scheme v2;
  const grpc::Status saved = s.admin_->UpsertScheme(Deadline().get(), up, &v2);
  INFO(saved.error_message());
  REQUIRE(saved.ok());
  CHECK(v2.audit().version() == 2);

  // H1: RATE 100 and LOSS 1 reported for the half; CNT rolled up from its months, 1 + 2 + 0 = 3:
  // progress 7/8, 10 × (0.6 + 0.4 × 0.875) = 9.5. Process (10 + 9.5)/20; 50 + 9.75 + 40.
  s.Run("2025-H1", false);
  const v1::Evaluation h1 = s.Of("S1", "2025-H1");
  CHECK(h1.scheme_version() == 2);
  REQUIRE(h1.indicators_size() == 3);
  CHECK(h1.indicators(2).indicator_code() == "CNT");
  CHECK(h1.indicators(2).value() == 3);
  CHECK(h1.indicators(2).reading().derived());
  CHECK(h1.indicators(2).reading().derived_by() == v1::ROLLUP_RULE_SUM);
  CHECK(h1.indicators(2).score() == Approx(9.5).epsilon(1e-12));
  CHECK(h1.composite() == Approx(99.75).epsilon(1e-12));
  // The year: RATE 92 reported for the year (6.8 of 10: main 68); LOSS has no year value and
  // is never rolled up (0 of 10); CNT rolled up again (9.5): 34 + 4.75 + 40.
  s.Run("2025", false);
  const v1::Evaluation year = s.Of("S1", "2025");
  CHECK(year.indicators(0).value() == 92);
  CHECK_FALSE(year.indicators(0).reading().derived());
  CHECK(year.indicators(1).missing());
  CHECK(year.indicators(2).value() == 3);
  CHECK(year.composite() == Approx(78.75).epsilon(1e-12));
}

TEST_CASE("Published scores become readings that a monitor rule alarms on", "[e2e][scoring]") {
  TestDatabase db;
  ScoringStack s(db);
  // In February S3 falls below both bases: 0 + 0 + 100 × 0.4 = 40.
  s.Readings("feb", {{"S3", "RATE", "2025-02", 80}, {"S3", "LOSS", "2025-02", 6},
                     {"S1", "RATE", "2025-02", 100}, {"S1", "LOSS", "2025-02", 1},
                     {"S2", "RATE", "2025-02", 100}, {"S2", "LOSS", "2025-02", 1}});
  s.Run("2025-02", true);
  CHECK(s.Of("S3", "2025-02").composite() == Approx(40).epsilon(1e-12));
  v1::GetReadingRequest get;
  get.mutable_key()->set_unit_code("S3");
  get.mutable_key()->set_indicator_code("SCORE-COMPOSITE");
  *get.mutable_key()->mutable_period() = P("2025-02");
  v1::Reading reading;
  const absl::Time give_up = absl::Now() + absl::Seconds(30);
  while (!s.gw_.ingest().GetReading(Deadline().get(), get, &reading).ok() && absl::Now() < give_up) {
    absl::SleepFor(absl::Milliseconds(100));
  }
  REQUIRE(reading.value() == Approx(40).epsilon(1e-12));
  CHECK(reading.source() == "scoring");
  auto monitor = v1::MonitorService::NewStub(s.gw_.Channel(s.gw_.admin_key()));
  v1::UpsertThemeRequest theme;
  theme.mutable_theme()->set_code("T-SCORE");
  theme.mutable_theme()->set_name("工作质量评价得分");
  theme.mutable_theme()->set_category(v1::BUSINESS_CATEGORY_MARKETING_MANAGEMENT);
  v1::Theme saved_theme;
  REQUIRE(monitor->UpsertTheme(Deadline().get(), theme, &saved_theme).ok());
  v1::UpsertRuleRequest rule;
  v1::Rule* r = rule.mutable_rule();
  r->set_code("R-SCORE-STATIC");
  r->set_name("综合得分 静态告警");
  r->set_theme_code("T-SCORE");
  r->set_kind(v1::RULE_KIND_STATIC_THRESHOLD);
  r->add_indicator_codes("SCORE-COMPOSITE");
  r->set_period_type(v1::PERIOD_TYPE_MONTH);
  r->set_enabled(true);
  for (double t : {60.0, 70.0}) {
    v1::RuleLevel* l = r->add_levels();
    l->set_level(r->levels_size());
    l->set_threshold(t);
    l->add_actions(v1::WARNING_ACTION_NOTIFY);
  }
  v1::Rule saved_rule;
  const grpc::Status upserted = monitor->UpsertRule(Deadline().get(), rule, &saved_rule);
  INFO(upserted.error_message());
  REQUIRE(upserted.ok());
  v1::ListEventsResponse events;
  while (absl::Now() < give_up + absl::Seconds(30)) {
    v1::ListEventsRequest list;
    list.add_theme_codes("T-SCORE");
    REQUIRE(monitor->ListEvents(Deadline().get(), list, &events).ok());
    if (events.events_size() > 0) break;
    absl::SleepFor(absl::Milliseconds(100));
  }
  REQUIRE(events.events_size() == 1);
  CHECK(events.events(0).unit_code() == "S3");
  CHECK(events.events(0).level() == 1);
  CHECK(events.events(0).period().key() == "2025-02");
}

TEST_CASE("Refused scoring requests name the field and the reason", "[e2e][scoring]") {
  TestDatabase db;
  ScoringStack s(db);
  v1::UpsertSchemeRequest up;
  *up.mutable_scheme() = s.scheme_;
  up.mutable_scheme()->clear_audit();
  up.set_expected_version(1);
  up.set_reason("weights");
  up.mutable_scheme()->set_business_weight_percent(30);
  v1::Scheme out;
  grpc::Status st = s.admin_->UpsertScheme(Deadline().get(), up, &out);
  CHECK(st.error_code() == Code::INVALID_ARGUMENT);
  CHECK(st.error_message().find("scheme.main_weight_percent") != std::string::npos);
  up.mutable_scheme()->set_business_weight_percent(40);
  up.mutable_scheme()->mutable_items(0)->set_indicator_code("NOPE");
  st = s.admin_->UpsertScheme(Deadline().get(), up, &out);
  CHECK(st.error_code() == Code::INVALID_ARGUMENT);
  CHECK(st.error_message().find("scheme.items[0].indicator_code: NOPE") != std::string::npos);
  up.mutable_scheme()->mutable_items(0)->set_indicator_code("RATE");
  up.set_expected_version(7);
  CHECK(s.admin_->UpsertScheme(Deadline().get(), up, &out).error_code() == Code::ABORTED);
  // A centre auditor may not change the scheme; a county specialist may not run evaluations.
  CHECK(s.centre_->UpsertScheme(Deadline().get(), up, &out).error_code() == Code::PERMISSION_DENIED);
  v1::RunEvaluationRequest run;
  *run.mutable_period() = P("2025-01");
  v1::EvaluationRun r;
  CHECK(s.d1_->RunEvaluation(Deadline().get(), run, &r).error_code() == Code::PERMISSION_DENIED);
  *run.mutable_period() = P("2025-W03");
  st = s.centre_->RunEvaluation(Deadline().get(), run, &r);
  CHECK(st.error_code() == Code::INVALID_ARGUMENT);
  CHECK(st.error_message().find("period: 2025-W03 is a week") != std::string::npos);
  *run.mutable_period() = P("2024-01");
  st = s.centre_->RunEvaluation(Deadline().get(), run, &r);
  CHECK(st.error_code() == Code::FAILED_PRECONDITION);
  CHECK(st.error_message().find("2024 has no scheme") != std::string::npos);
  // D1's specialist sees D1's units only.
  s.Run("2025-01", true);
  v1::GetEvaluationRequest get;
  get.set_unit_code("S3");
  *get.mutable_period() = P("2025-01");
  v1::Evaluation e;
  CHECK(s.d1_->GetEvaluation(Deadline().get(), get, &e).error_code() == Code::PERMISSION_DENIED);
  get.set_unit_code("S1");
  CHECK(s.d1_->GetEvaluation(Deadline().get(), get, &e).ok());
  *get.mutable_period() = P("2025-03");
  st = s.d1_->GetEvaluation(Deadline().get(), get, &e);
  CHECK(st.error_code() == Code::NOT_FOUND);
  CHECK(st.error_message().find("period: 2025-03 has not been evaluated") != std::string::npos);
  // Bonus points: the approver is the caller, a retry returns the first grant, the cap holds.
  v1::GrantBonusRequest bonus;
  bonus.set_unit_code("S3");
  *bonus.mutable_period() = P("2025-01");
  bonus.set_points(3);
  bonus.set_reason("抢修表彰");
  bonus.set_idempotency_key("bonus-1");
  v1::Bonus granted, twice;
  REQUIRE(s.centre_->GrantBonus(Deadline().get(), bonus, &granted).ok());
  CHECK(granted.approved_by() == "centre.li");
  REQUIRE(s.centre_->GrantBonus(Deadline().get(), bonus, &twice).ok());
  CHECK(twice.id() == granted.id());
  bonus.set_points(4);
  CHECK(s.centre_->GrantBonus(Deadline().get(), bonus, &twice).error_code() == Code::INVALID_ARGUMENT);
  const v1::EvaluationRun with_bonus = s.Run("2025-01", false);
  const v1::Evaluation s3 = s.Of("S3", "2025-01", with_bonus.id());
  CHECK(s3.bonus_granted() == 3);
  CHECK(s3.composite() == Approx(90).epsilon(1e-12));  // 88 + the cap of 2
}

}  // namespace
}  // namespace aw::testing
