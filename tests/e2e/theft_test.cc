// Theft suspicion end to end, through the gateway, with every service in one
// process over real gRPC and a real PostgreSQL: consumption of two stations
// is loaded into ingest; an analysis under a THEFT_SUSPICION rule ranks the
// customers, puts the ones whose consumption dropped and stayed down at level
// 1 with their reasons, and raises one event each; audit turns each into an
// on-site inspection work order to the customer's station, except for the
// whitelisted customer, whose event is suppressed; an inspection archived
// confirms a theft and one closed as a false positive refutes it, and both
// come back to monitor as labels of the run's evidence; runs are kept and
// compared; bad requests are refused naming the field.
#include <cmath>

#include <catch2/catch.hpp>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "auditwatch/v1/audit.grpc.pb.h"
#include "auditwatch/v1/monitor.grpc.pb.h"
#include "common/timestamp.h"
#include "tests/support/gateway.h"
#include "tests/support/orders.h"
#include "tests/support/readings.h"
#include "tests/support/rules.h"

namespace aw::testing {
namespace {

namespace v1 = ::auditwatch::v1;

std::unique_ptr<grpc::ClientContext> Deadline(int seconds = 30) {
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(seconds));
  return ctx;
}

constexpr int kDays = 365;
const char kFirstDay[] = "2025-04-01";
const char kLastDay[] = "2026-03-31";

// A deterministic number in [0, 1) for (customer, day).
double Noise(int customer, int day) {
  uint64_t h = 1469598103934665603ULL ^ (static_cast<uint64_t>(customer) * 7919 + static_cast<uint64_t>(day));
  h *= 1099511628211ULL;
  h ^= h >> 29;
  h *= 0xbf58476d1ce4e5b9ULL;
  h ^= h >> 32;
  return static_cast<double>(h % 10000) / 10000.0;
}

// A residential customer's year: a weekly rhythm and day-to-day noise around
// its own level; a thief's consumption falls to a tenth from day 150 on.
std::vector<float> Year(int customer, bool thief) {
  std::vector<float> out;
  const double base = 6 + customer % 9;
  for (int d = 0; d < kDays; ++d) {
    double v = base * (1 + 0.25 * std::sin(2 * M_PI * d / 7.0 + customer)) * (0.85 + 0.3 * Noise(customer, d));
    if (thief && d >= 150) v *= 0.1;
    out.push_back(static_cast<float>(v));
  }
  return out;
}

// 100 customers at S1 (thieves: S1-C000 … S1-C005) and 50 at S2 (thieves:
// S2-C000, S2-C001), in one batch.
void LoadConsumption(v1::IngestService::Stub& ingest) {
  v1::ConsumptionBatch batch;
  batch.set_batch_id("theft-e2e");
  batch.set_source("metering");
  int n = 0;
  for (const auto& [station, customers, thieves] :
       std::vector<std::tuple<std::string, int, int>>{{"S1", 100, 6}, {"S2", 50, 2}}) {
    for (int i = 0; i < customers; ++i, ++n) {
      const std::string id = absl::StrFormat("%s-C%03d", station, i);
      v1::ConsumptionRow* c = batch.add_rows();
      c->mutable_customer()->set_customer_id(id);
      c->mutable_customer()->set_station_code(station);
      c->mutable_customer()->set_category("residential");
      c->mutable_customer()->set_contract_capacity_kva(8);
      v1::ConsumptionRow* d = batch.add_rows();
      d->mutable_daily()->set_customer_id(id);
      d->mutable_daily()->set_first_day(kFirstDay);
      const std::vector<float> year = Year(n, i < thieves);
      d->mutable_daily()->mutable_kwh()->Add(year.begin(), year.end());
    }
  }
  grpc::ClientContext ctx;
  auto stream = ingest.IngestConsumption(&ctx);
  REQUIRE(stream->Write(batch));
  stream->WritesDone();
  v1::BatchResult r;
  REQUIRE(stream->Read(&r));
  CHECK(r.accepted() == 300);
  REQUIRE(stream->Finish().ok());
}

// The rule of the tests: over the province, level 1 launching an inspection.
v1::Rule TheftRule() {
  v1::Rule r = MakeTheftRule("THEFT-1", "T-THEFT", "P");
  r.mutable_levels(1)->clear_actions();
  return r;
}

template <typename Stub, typename Method, typename Request, typename Response>
grpc::Status Call(Stub& stub, Method method, const Request& req, Response* out) {
  return (stub.*method)(Deadline().get(), req, out);
}

template <typename Stub, typename Method, typename Request, typename Response>
void Ok(Stub& stub, Method method, const Request& req, Response* out) {
  const grpc::Status s = Call(stub, method, req, out);
  INFO(s.error_message());
  REQUIRE(s.ok());
}

void SaveTheme(v1::MonitorService::Stub& monitor) {
  v1::UpsertThemeRequest theme;
  theme.mutable_theme()->set_code("T-THEFT");
  theme.mutable_theme()->set_name("违约窃电");
  theme.mutable_theme()->set_category(v1::BUSINESS_CATEGORY_METERING);
  v1::Theme saved;
  Ok(monitor, &v1::MonitorService::Stub::UpsertTheme, theme, &saved);
}

TEST_CASE("A theft suspect at level 1 becomes an inspection order, and its outcome comes back as a label",
          "[e2e][theft]") {
  TestDatabase db;
  Gateway gw(db);
  CreateUnits(gw.ingest(), TwoCounties(), "2025-01-01");
  LoadConsumption(gw.ingest());
  auto centre = v1::MonitorService::NewStub(gw.Channel(gw.Key("centre.li", {v1::ROLE_CENTRE_AUDITOR})));
  auto audit = v1::AuditService::NewStub(gw.Channel(gw.Key("centre.zhao", {v1::ROLE_CENTRE_AUDITOR})));
  auto wang = v1::AuditService::NewStub(gw.Channel(gw.Key("d1.wang", {v1::ROLE_UNIT_SPECIALIST}, {"D1"})));
  auto chen = v1::AuditService::NewStub(gw.Channel(gw.Key("d1.chen", {v1::ROLE_UNIT_SPECIALIST}, {"D1"})));
  auto s2_viewer = v1::MonitorService::NewStub(gw.Channel(gw.Key("s2.li", {v1::ROLE_UNIT_SPECIALIST}, {"S2"})));

  SaveTheme(*centre);
  v1::UpsertRuleRequest rule;
  *rule.mutable_rule() = TheftRule();
  v1::Rule saved_rule;
  Ok(*centre, &v1::MonitorService::Stub::UpsertRule, rule, &saved_rule);
  // S1-C005 is known to the centre (a registered sub-meter): whitelisted for this rule.
  v1::CreateWhitelistEntryRequest wl;
  wl.mutable_entry()->set_rule_code("THEFT-1");
  wl.mutable_entry()->mutable_scope()->set_unit_code("S1");
  wl.mutable_entry()->set_subject("S1-C005");
  wl.mutable_entry()->set_reason("登记的分表，用电量转移属正常");
  SetTimestamp(absl::Now() + absl::Hours(24 * 30), wl.mutable_entry()->mutable_frozen_until());
  wl.set_request_id("wl-c005");
  v1::WhitelistEntry entry;
  Ok(*centre, &v1::MonitorService::Stub::CreateWhitelistEntry, wl, &entry);

  v1::AnalyzeTheftRequest analyze;
  analyze.set_rule_code("THEFT-1");
  analyze.set_first_day(kFirstDay);
  analyze.set_last_day(kLastDay);
  analyze.set_request_id("run-1");
  v1::TheftAnalysis run;
  Ok(*centre, &v1::MonitorService::Stub::AnalyzeTheft, analyze, &run);
  CHECK(run.customers() == 150);
  CHECK(run.method() == v1::THEFT_METHOD_TRANSPARENT);
  REQUIRE(run.per_level_size() == 4);
  INFO("levels 1–4: " << run.per_level(0) << " " << run.per_level(1) << " " << run.per_level(2) << " "
                      << run.per_level(3));
  CHECK(run.per_level(0) == 8);  // the eight thieves
  CHECK(run.per_level(3) > 130);
  CHECK(run.events_opened() == 7);
  CHECK(run.events_suppressed() == 1);  // S1-C005
  CHECK(run.audit().created_by() == "centre.li");
  CHECK(run.days_read() == kDays);
  // The same request id: the same run.
  v1::TheftAnalysis again;
  Ok(*centre, &v1::MonitorService::Stub::AnalyzeTheft, analyze, &again);
  CHECK(again.id() == run.id());

  v1::ListTheftSuspectsRequest list;
  list.set_analysis_id(run.id());
  list.add_levels(1);
  v1::ListTheftSuspectsResponse suspects;
  Ok(*centre, &v1::MonitorService::Stub::ListTheftSuspects, list, &suspects);
  REQUIRE(suspects.suspects_size() == 8);
  std::map<std::string, v1::TheftSuspect> by_customer;
  for (const auto& s : suspects.suspects()) {
    CHECK(s.customer_id().find("-C00") != std::string::npos);
    CHECK(s.score() >= 0.9);
    REQUIRE(s.reasons_size() > 0);
    CHECK(s.reasons(0).code() == "SUSTAINED_DROP");
    by_customer[s.customer_id()] = s;
  }
  CHECK(by_customer.at("S1-C005").event_id() > 0);
  // A specialist of S2 sees the suspects of S2 only.
  v1::ListTheftSuspectsResponse s2_only;
  Ok(*s2_viewer, &v1::MonitorService::Stub::ListTheftSuspects, list, &s2_only);
  CHECK(s2_only.suspects_size() == 2);

  // The whitelisted customer's event is suppressed; the others are open.
  v1::GetEventRequest get;
  get.set_id(by_customer.at("S1-C005").event_id());
  v1::WarningEvent suppressed;
  Ok(*centre, &v1::MonitorService::Stub::GetEvent, get, &suppressed);
  CHECK(suppressed.state() == v1::EVENT_STATE_SUPPRESSED);
  CHECK(suppressed.subject() == "S1-C005");

  // Audit: one inspection order per open event, to the customer's station.
  std::map<std::string, v1::WorkOrder> orders;
  REQUIRE(WaitUntil(
      [&] {
        v1::ListWorkOrdersRequest req;
        req.mutable_page()->set_page_size(100);
        v1::ListWorkOrdersResponse r;
        if (!Call(*audit, &v1::AuditService::Stub::ListWorkOrders, req, &r).ok()) return false;
        orders.clear();
        for (const auto& o : r.work_orders()) orders[o.subject()] = o;
        return orders.size() >= 7;
      },
      absl::Seconds(20)));
  CHECK(orders.size() == 7);
  CHECK_FALSE(orders.contains("S1-C005"));
  for (const auto& [customer, o] : orders) {
    CHECK(o.event_id() == by_customer.at(customer).event_id());
    CHECK(o.unit_code() == by_customer.at(customer).station_code());
    CHECK(o.title().find(customer) != std::string::npos);
    CHECK(o.state() == v1::WORK_ORDER_STATE_DISPATCHED);
  }

  // S1-C000: inspected, theft confirmed, rectified and archived.
  v1::WorkOrder o = orders.at("S1-C000");
  Ok(*wang, &v1::AuditService::Stub::StartRectification, Cmd(o, "w1"), &o);
  v1::SubmitRectificationRequest submit;
  *submit.mutable_command() = Cmd(o, "w2");
  submit.mutable_rectification()->set_cause_analysis("现场检查：电表接线被短接");
  submit.mutable_rectification()->set_measures("恢复接线，追补电量电费及违约使用电费");
  submit.mutable_rectification()->set_result("窃电属实，已追补");
  Ok(*wang, &v1::AuditService::Stub::SubmitRectification, submit, &o);
  v1::ReviewWorkOrderRequest review;
  *review.mutable_command() = Cmd(o, "c1");
  review.set_stage(v1::REVIEW_STAGE_UNIT);
  review.set_approve(true);
  Ok(*chen, &v1::AuditService::Stub::ReviewWorkOrder, review, &o);
  *review.mutable_command() = Cmd(o, "z1");
  review.set_stage(v1::REVIEW_STAGE_CENTRE);
  Ok(*audit, &v1::AuditService::Stub::ReviewWorkOrder, review, &o);
  CHECK(o.state() == v1::WORK_ORDER_STATE_ARCHIVED);
  // S1-C001: inspected, nothing wrong (the house stood empty): a false positive.
  v1::WorkOrder fp = orders.at("S1-C001");
  v1::ConfirmFalsePositiveRequest confirm;
  *confirm.mutable_command() = Cmd(fp, "z2", "现场检查无异常，房屋空置");
  confirm.set_freeze_days(30);
  Ok(*audit, &v1::AuditService::Stub::ConfirmFalsePositive, confirm, &fp);
  CHECK(fp.state() == v1::WORK_ORDER_STATE_FALSE_POSITIVE);

  // Both outcomes come back to monitor as labels of run 1's evidence.
  v1::ListTheftLabelsResponse labels;
  REQUIRE(WaitUntil(
      [&] {
        v1::ListTheftLabelsRequest req;
        return Call(*centre, &v1::MonitorService::Stub::ListTheftLabels, req, &labels).ok() &&
               labels.labels_size() == 2;
      },
      absl::Seconds(20)));
  std::map<std::string, v1::TheftLabel> label_of;
  for (const auto& l : labels.labels()) label_of[l.customer_id()] = l;
  CHECK(label_of.at("S1-C000").theft());
  CHECK(label_of.at("S1-C000").work_order_id() == o.id());
  CHECK(label_of.at("S1-C000").analysis_id() == run.id());
  CHECK_FALSE(label_of.at("S1-C001").theft());
  CHECK(label_of.at("S1-C001").station_code() == "S1");
  // The false positive whitelisted that customer only, not the station.
  v1::ListWhitelistRequest wreq;
  v1::ListWhitelistResponse whitelist;
  REQUIRE(WaitUntil(
      [&] {
        return Call(*centre, &v1::MonitorService::Stub::ListWhitelist, wreq, &whitelist).ok() &&
               whitelist.entries_size() == 2;
      },
      absl::Seconds(20)));
  bool customer_only = false;
  for (const auto& e : whitelist.entries()) customer_only |= e.subject() == "S1-C001";
  CHECK(customer_only);

  // With two labels a model cannot yet be judged: refused, or kept and not used.
  v1::TrainTheftModelRequest train;
  train.set_reason("after the first inspections");
  v1::TheftModelVersion model;
  const grpc::Status trained = Call(*centre, &v1::MonitorService::Stub::TrainTheftModel, train, &model);
  if (label_of.at("S1-C000").held_back() || label_of.at("S1-C001").held_back()) {
    CHECK(trained.error_code() == grpc::StatusCode::FAILED_PRECONDITION);
  } else {
    REQUIRE(trained.ok());
    CHECK_FALSE(model.adopted());
  }

  // A second run, compared with the first: the same suspects at the same levels.
  analyze.set_request_id("run-2");
  v1::TheftAnalysis run2;
  Ok(*centre, &v1::MonitorService::Stub::AnalyzeTheft, analyze, &run2);
  CHECK(run2.id() != run.id());
  CHECK(run2.events_opened() == 0);  // their events are still open
  CHECK(run2.days_read() == 0);      // the same window: nothing new to read
  list.set_analysis_id(run2.id());
  list.set_compare_to(run.id());
  Ok(*centre, &v1::MonitorService::Stub::ListTheftSuspects, list, &suspects);
  REQUIRE(suspects.suspects_size() == 8);
  for (const auto& s : suspects.suspects()) CHECK(s.previous_level() == 1);
  v1::ListTheftAnalysesRequest runs;
  v1::ListTheftAnalysesResponse listed;
  Ok(*centre, &v1::MonitorService::Stub::ListTheftAnalyses, runs, &listed);
  REQUIRE(listed.analyses_size() == 2);
  CHECK(listed.analyses(0).id() == run2.id());  // newest first

  // A day's new data: the window moves on by a day and only that day is read;
  // the result is the one a whole read of the new window gives.
  v1::ConsumptionBatch day;
  day.set_batch_id("next-day");
  day.set_source("metering");
  for (int i = 0; i < 150; ++i) {
    v1::ConsumptionRow* d = day.add_rows();
    d->mutable_daily()->set_customer_id(absl::StrFormat("%s-C%03d", i < 100 ? "S1" : "S2", i < 100 ? i : i - 100));
    d->mutable_daily()->set_first_day("2026-04-01");
    d->mutable_daily()->add_kwh(i < 100 && i < 6 ? 0.8f : 9.0f);
  }
  {
    grpc::ClientContext ctx;
    auto stream = gw.ingest().IngestConsumption(&ctx);
    REQUIRE(stream->Write(day));
    stream->WritesDone();
    v1::BatchResult r;
    REQUIRE(stream->Read(&r));
    CHECK(r.accepted() == 150);
    REQUIRE(stream->Finish().ok());
  }
  analyze.set_first_day("2025-04-02");
  analyze.set_last_day("2026-04-01");
  analyze.set_request_id("run-3");
  v1::TheftAnalysis moved;
  Ok(*centre, &v1::MonitorService::Stub::AnalyzeTheft, analyze, &moved);
  CHECK(moved.days_read() == 1);
  analyze.set_request_id("run-4");
  analyze.set_full_read(true);
  v1::TheftAnalysis whole;
  Ok(*centre, &v1::MonitorService::Stub::AnalyzeTheft, analyze, &whole);
  CHECK(whole.days_read() == kDays);
  for (int level = 0; level < 4; ++level) CHECK(moved.per_level(level) == whole.per_level(level));
  auto all_of = [&](int64_t id) {
    v1::ListTheftSuspectsRequest req;
    req.set_analysis_id(id);
    req.mutable_page()->set_page_size(1000);
    v1::ListTheftSuspectsResponse r;
    Ok(*centre, &v1::MonitorService::Stub::ListTheftSuspects, req, &r);
    std::vector<std::tuple<std::string, int, double>> out;
    for (const auto& s : r.suspects()) out.emplace_back(s.customer_id(), s.rank(), s.score());
    return out;
  };
  CHECK(all_of(moved.id()) == all_of(whole.id()));
}

TEST_CASE("Theft analyses refuse what they cannot run, naming the field", "[e2e][theft]") {
  TestDatabase db;
  Gateway gw(db);
  CreateUnits(gw.ingest(), TwoCounties(), "2025-01-01");
  auto centre = v1::MonitorService::NewStub(gw.Channel(gw.Key("centre.li", {v1::ROLE_CENTRE_AUDITOR})));
  SaveTheme(*centre);

  v1::UpsertRuleRequest bad_rule;
  *bad_rule.mutable_rule() = TheftRule();
  bad_rule.mutable_rule()->mutable_levels(2)->add_actions(v1::WARNING_ACTION_ONLINE_AUDIT);
  v1::Rule out;
  grpc::Status s = Call(*centre, &v1::MonitorService::Stub::UpsertRule, bad_rule, &out);
  CHECK(s.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
  CHECK(s.error_message().find("levels[level 3].actions") != std::string::npos);

  v1::AnalyzeTheftRequest analyze;
  analyze.set_first_day(kFirstDay);
  analyze.set_last_day(kLastDay);
  v1::TheftAnalysis run;
  s = Call(*centre, &v1::MonitorService::Stub::AnalyzeTheft, analyze, &run);
  CHECK(s.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
  CHECK(s.error_message().find("rule_code") != std::string::npos);
  analyze.set_rule_code("NONE");
  s = Call(*centre, &v1::MonitorService::Stub::AnalyzeTheft, analyze, &run);
  CHECK(s.error_code() == grpc::StatusCode::NOT_FOUND);

  v1::UpsertRuleRequest rule;
  *rule.mutable_rule() = TheftRule();
  Ok(*centre, &v1::MonitorService::Stub::UpsertRule, rule, &out);
  analyze.set_rule_code("THEFT-1");
  analyze.set_last_day("31/03/2026");
  s = Call(*centre, &v1::MonitorService::Stub::AnalyzeTheft, analyze, &run);
  CHECK(s.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
  CHECK(s.error_message().find("last_day") != std::string::npos);

  v1::ListTheftSuspectsRequest list;
  list.set_analysis_id(12345);
  v1::ListTheftSuspectsResponse suspects;
  s = Call(*centre, &v1::MonitorService::Stub::ListTheftSuspects, list, &suspects);
  CHECK(s.error_code() == grpc::StatusCode::NOT_FOUND);

  // A unit specialist may read suspects but not run analyses.
  auto specialist = v1::MonitorService::NewStub(gw.Channel(gw.Key("d1.wang", {v1::ROLE_UNIT_SPECIALIST}, {"D1"})));
  analyze.set_last_day(kLastDay);
  s = Call(*specialist, &v1::MonitorService::Stub::AnalyzeTheft, analyze, &run);
  CHECK(s.error_code() == grpc::StatusCode::PERMISSION_DENIED);
}

}  // namespace
}  // namespace aw::testing
