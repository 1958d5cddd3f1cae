// The monitor service end to end: ingest and monitor in one process over real
// gRPC and a real PostgreSQL. Rules are validated, readings raise, escalate,
// de-escalate, re-judge and resolve events with their history, the whitelist
// suppresses (also what is open when it is made) and its expiry or revocation
// reopens, backtests have no side effects and say what they could not judge, a
// crash neither loses nor doubles an event, and across a database restart two
// monitor processes never lead at once.
#include <signal.h>

#include <algorithm>
#include <cmath>
#include <thread>

#include <catch2/catch.hpp>
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "auditwatch/v1/ingest.grpc.pb.h"
#include "auditwatch/v1/monitor.grpc.pb.h"
#include "common/period.h"
#include "tests/support/http_receiver.h"
#include "tests/support/process.h"
#include "tests/support/readings.h"
#include "tests/support/rules.h"
#include "tests/support/test_db.h"

namespace aw::testing {
namespace {

namespace v1 = ::auditwatch::v1;

// Creates (or saves again) a theme as `actor`; the saved theme.
v1::Theme CreateTheme(v1::MonitorService::Stub& monitor, const std::string& code, const std::string& actor,
                      const std::string& description = "") {
  v1::UpsertThemeRequest theme;
  theme.mutable_theme()->set_code(code);
  theme.mutable_theme()->set_name("电费回收");
  theme.mutable_theme()->set_category(v1::BUSINESS_CATEGORY_BILLING);
  theme.mutable_theme()->set_description(description);
  theme.set_actor(actor);
  grpc::ClientContext ctx;
  v1::Theme out;
  REQUIRE(monitor.UpsertTheme(&ctx, theme, &out).ok());
  return out;
}

// Ingest and monitor with a small tree (P → C1 → D1 → S1, S2), the indicators
// RATE (%, higher is better) and LOSS (%, lower is better), monthly, and the
// theme T-BILL.
class Stack {
 public:
  explicit Stack(const TestDatabase& db, std::vector<std::string> args = {})
      : process_("ingest,monitor", db.url(), args) {
    Init();
  }

  void Init() {
    REQUIRE(WaitForHealth(process_.address("monitor"), "", "SERVING") == "SERVING");
    ingest_ = v1::IngestService::NewStub(process_.Channel("ingest"));
    monitor_ = v1::MonitorService::NewStub(process_.Channel("monitor"));
  }

  void Seed() {
    CreateUnits(*ingest_, SmallTree());
    CreateIndicator(*ingest_, {.code = "RATE"});
    CreateIndicator(*ingest_, {.code = "LOSS", .direction = v1::DIRECTION_LOWER_IS_BETTER});
    CreateIndicator(*ingest_, {.code = "SOLD", .rollup = v1::ROLLUP_RULE_SUM, .unit_of_measure = "kWh"});
    CreateTheme(*monitor_, "T-BILL", "tester");
  }

  // Whitelists `rule` for `unit` for an hour, as `actor`.
  v1::WhitelistEntry Whitelist(const std::string& rule, const std::string& unit, const std::string& reason,
                               const std::string& actor) {
    v1::CreateWhitelistEntryRequest req;
    req.set_actor(actor);
    req.mutable_entry()->set_rule_code(rule);
    req.mutable_entry()->mutable_scope()->set_unit_code(unit);
    req.mutable_entry()->set_reason(reason);
    req.mutable_entry()->mutable_frozen_until()->set_seconds(absl::ToUnixSeconds(absl::Now() + absl::Hours(1)));
    grpc::ClientContext ctx;
    v1::WhitelistEntry entry;
    REQUIRE(monitor_->CreateWhitelistEntry(&ctx, req, &entry).ok());
    return entry;
  }

  grpc::Status SaveRule(const v1::Rule& rule, v1::Rule* out = nullptr) {
    v1::UpsertRuleRequest req;
    *req.mutable_rule() = rule;
    req.set_actor("tester");
    grpc::ClientContext ctx;
    v1::Rule ignored;
    return monitor_->UpsertRule(&ctx, req, out != nullptr ? out : &ignored);
  }

  void Ingest(const std::string& id, const std::vector<Row>& rows) {
    grpc::ClientContext ctx;
    auto stream = ingest_->IngestReadings(&ctx);
    REQUIRE(stream->Write(MakeBatch(id, rows)));
    stream->WritesDone();
    v1::BatchResult r;
    REQUIRE(stream->Read(&r));
    REQUIRE(r.rejected() == 0);
    REQUIRE(stream->Finish().ok());
  }

  std::vector<v1::WarningEvent> Events(std::vector<v1::EventState> states = {}) {
    v1::ListEventsRequest req;
    for (auto s : states) req.add_states(s);
    req.mutable_page()->set_page_size(1000);
    grpc::ClientContext ctx;
    v1::ListEventsResponse resp;
    REQUIRE(monitor_->ListEvents(&ctx, req, &resp).ok());
    return {resp.events().begin(), resp.events().end()};
  }

  // Polls until `pred` holds on the event list (the evaluator is asynchronous).
  std::vector<v1::WarningEvent> WaitEvents(const std::function<bool(const std::vector<v1::WarningEvent>&)>& pred) {
    const absl::Time give_up = absl::Now() + absl::Seconds(20);
    std::vector<v1::WarningEvent> events;
    do {
      events = Events();
      if (pred(events)) return events;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    } while (absl::Now() < give_up);
    return events;
  }

  v1::WarningEvent Get(int64_t id) {
    v1::GetEventRequest req;
    req.set_id(id);
    grpc::ClientContext ctx;
    v1::WarningEvent e;
    REQUIRE(monitor_->GetEvent(&ctx, req, &e).ok());
    return e;
  }

  v1::EvaluatorStatus Status() {
    grpc::ClientContext ctx;
    v1::EvaluatorStatus status;
    REQUIRE(monitor_->GetEvaluatorStatus(&ctx, v1::GetEvaluatorStatusRequest(), &status).ok());
    return status;
  }

  v1::MonitorService::Stub& monitor() { return *monitor_; }
  v1::IngestService::Stub& ingest() { return *ingest_; }
  AuditwatchProcess& process() { return process_; }

 private:
  AuditwatchProcess process_;
  std::unique_ptr<v1::IngestService::Stub> ingest_;
  std::unique_ptr<v1::MonitorService::Stub> monitor_;
};

v1::Rule StaticRule(const std::string& code, const std::string& indicator, std::vector<double> thresholds) {
  v1::Rule r = MakeRule(code, "T-BILL", v1::RULE_KIND_STATIC_THRESHOLD, indicator, thresholds);
  r.add_unit_types(v1::UNIT_TYPE_SUPPLY_STATION);
  return r;
}

const v1::WarningEvent* Find(const std::vector<v1::WarningEvent>& events, const std::string& rule,
                             const std::string& unit, const std::string& period) {
  for (const auto& e : events) {
    if (e.rule_code() == rule && e.unit_code() == unit && e.period().key() == period) return &e;
  }
  return nullptr;
}

TEST_CASE("Rules are validated against the catalogue and versioned", "[e2e][monitor]") {
  TestDatabase db;
  Stack stack(db);
  stack.Seed();
  v1::Rule rule = StaticRule("R-RATE", "RATE", {80, 90});
  v1::Rule saved;
  REQUIRE(stack.SaveRule(rule, &saved).ok());
  CHECK(saved.audit().version() == 1);
  struct Bad {
    v1::Rule rule;
    grpc::StatusCode code;
    std::string field;
  };
  std::vector<Bad> bad;
  bad.push_back({StaticRule("R-X", "RATE", {90, 80}), grpc::StatusCode::INVALID_ARGUMENT, "rule.levels[level 2].threshold"});
  bad.push_back({StaticRule("R-X", "NOPE", {80}), grpc::StatusCode::NOT_FOUND, "rule.indicator_codes[0]"});
  // At the threshold fires: 0 can fire for RATE (valid from 0), -1 never can.
  bad.push_back({StaticRule("R-X", "RATE", {-1}), grpc::StatusCode::INVALID_ARGUMENT, "rule.levels[level 1].threshold"});
  bad.push_back({StaticRule("R-X", "LOSS", {101}), grpc::StatusCode::INVALID_ARGUMENT, "rule.levels[level 1].threshold"});
  v1::Rule no_theme = StaticRule("R-X", "RATE", {80});
  no_theme.set_theme_code("T-NONE");
  bad.push_back({no_theme, grpc::StatusCode::NOT_FOUND, "rule.theme_code"});
  for (const Bad& b : bad) {
    const grpc::Status s = stack.SaveRule(b.rule);
    INFO(s.error_message());
    CHECK(s.error_code() == b.code);
    CHECK(s.error_message().find(b.field) == 0);
  }
  rule.mutable_levels(0)->set_threshold(70);
  REQUIRE(stack.SaveRule(rule, &saved).ok());
  CHECK(saved.audit().version() == 2);
  v1::GetRuleRequest get;
  get.set_code("R-RATE");
  grpc::ClientContext ctx;
  v1::RuleHistory history;
  REQUIRE(stack.monitor().GetRuleHistory(&ctx, get, &history).ok());
  REQUIRE(history.versions_size() == 2);
  CHECK(history.versions(0).levels(0).threshold() == 80);
  CHECK(history.versions(1).levels(0).threshold() == 70);
}

TEST_CASE("Readings raise, escalate, de-escalate and resolve events with history", "[e2e][monitor]") {
  TestDatabase db;
  Stack stack(db);
  stack.Seed();
  REQUIRE(stack.SaveRule(StaticRule("R-RATE", "RATE", {80, 90})).ok());   // higher is better
  REQUIRE(stack.SaveRule(StaticRule("R-LOSS", "LOSS", {20, 10})).ok());   // lower is better
  stack.Ingest("a", {{"S1", "RATE", "2025-03", 85}, {"S2", "RATE", "2025-03", 95}, {"D1", "RATE", "2025-03", 50},
                     {"S1", "LOSS", "2025-03", 12}, {"S2", "LOSS", "2025-03", 25}});
  auto events = stack.WaitEvents([](const auto& e) { return e.size() >= 3; });
  REQUIRE(events.size() == 3);  // D1 is not a station: the rules do not apply
  const auto* s1_rate = Find(events, "R-RATE", "S1", "2025-03");
  REQUIRE(s1_rate != nullptr);
  CHECK(s1_rate->level() == 2);
  CHECK(s1_rate->state() == v1::EVENT_STATE_OPEN);
  CHECK(s1_rate->observed() == 85);
  REQUIRE(Find(events, "R-LOSS", "S1", "2025-03") != nullptr);
  CHECK(Find(events, "R-LOSS", "S1", "2025-03")->level() == 2);
  CHECK(Find(events, "R-LOSS", "S2", "2025-03")->level() == 1);
  const int64_t id = s1_rate->id();

  // Acknowledge, then a correction makes it worse: escalated and open again.
  {
    v1::AcknowledgeEventRequest ack;
    ack.set_id(id);
    ack.set_actor("duty.officer");
    ack.set_comment("looking into it");
    grpc::ClientContext ctx;
    v1::WarningEvent out;
    REQUIRE(stack.monitor().AcknowledgeEvent(&ctx, ack, &out).ok());
    CHECK(out.state() == v1::EVENT_STATE_ACKNOWLEDGED);
  }
  stack.Ingest("b", {{"S1", "RATE", "2025-03", 75}});
  stack.WaitEvents([&](const auto&) { return stack.Get(id).level() == 1; });
  CHECK(stack.Get(id).level() == 1);
  CHECK(stack.Get(id).state() == v1::EVENT_STATE_OPEN);
  stack.Ingest("c", {{"S1", "RATE", "2025-03", 88}});
  stack.WaitEvents([&](const auto&) { return stack.Get(id).level() == 2; });
  CHECK(stack.Get(id).level() == 2);
  stack.Ingest("d", {{"S1", "RATE", "2025-03", 93}});
  stack.WaitEvents([&](const auto&) { return stack.Get(id).state() == v1::EVENT_STATE_RESOLVED; });
  const v1::WarningEvent done = stack.Get(id);
  CHECK(done.state() == v1::EVENT_STATE_RESOLVED);
  std::vector<std::string> changes;
  for (const auto& h : done.history()) changes.push_back(h.change());
  CHECK(changes == std::vector<std::string>{"opened", "acknowledged", "escalated", "de-escalated", "resolved"});
  CHECK(done.history(1).actor() == "duty.officer");
  CHECK(done.history(1).comment() == "looking into it");
  // Resolutions are counted at the level the event had.
  const std::string metrics = HttpGet(stack.process().metrics_port(), "/metrics");
  CHECK(metrics.find(R"(auditwatch_monitor_events_total{change="resolved",level="2",service="monitor"} 1)") !=
        std::string::npos);
  // A new bad value for the same key opens a new event.
  stack.Ingest("e", {{"S1", "RATE", "2025-03", 60}});
  auto again = stack.WaitEvents([](const auto& e) { return e.size() == 4; });
  CHECK(again.size() == 4);

  // The audit service's feed sees every event at its latest change, in order.
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  v1::WatchEventsRequest watch;
  auto reader = stack.monitor().WatchEvents(&ctx, watch);
  v1::EventChange change;
  std::set<int64_t> ids;
  int64_t last = 0;
  while (ids.size() < 4 && reader->Read(&change)) {
    if (change.heartbeat()) continue;
    CHECK(change.seq() > last);
    last = change.seq();
    ids.insert(change.event().id());
  }
  CHECK(ids.size() == 4);
  ctx.TryCancel();
  reader->Finish();
}

TEST_CASE("Every value rule kind raises each of its levels in both indicator directions", "[e2e][monitor]") {
  TestDatabase db;
  Stack stack(db);
  stack.Seed();
  // Each kind on RATE (higher is better) with a series per level whose last
  // value must raise exactly that level, and a quiet series that raises none.
  // LOSS (lower is better) gets the mirrored series (100 - v): the same
  // deterioration the other way round.
  struct Kind {
    std::string name;
    v1::RuleKind kind;
    std::vector<double> thresholds;  // levels 1..4, for RATE
    std::vector<std::vector<double>> by_level;  // levels 1..4
    std::vector<double> quiet;
    int window = 0;
  };
  const double sd = std::sqrt(16.0 / 3);  // of the baseline 48, 52, 48, 52 (mean 50)
  const std::vector<double> base = {48, 52, 48, 52};
  auto baseline = [&](double z) {
    std::vector<double> v = base;
    v.push_back(50 - z * sd);
    return v;
  };
  const std::vector<Kind> kinds = {
      {"STATIC", v1::RULE_KIND_STATIC_THRESHOLD, {60, 70, 80, 90}, {{50}, {65}, {75}, {85}}, {95}},
      {"CHANGE", v1::RULE_KIND_PERIOD_CHANGE, {40, 30, 20, 10}, {{50, 27.5}, {50, 32.5}, {50, 37.5}, {50, 42.5}},
       {50, 55}},
      {"BASELINE", v1::RULE_KIND_BASELINE_DEVIATION, {4, 3, 2, 1},
       {baseline(4.5), baseline(3.5), baseline(2.5), baseline(1.5)}, baseline(-1), 4},
      {"TREND", v1::RULE_KIND_CONSECUTIVE_WORSENING, {5, 4, 3, 2},
       {{60, 58, 56, 54, 52, 50}, {60, 58, 56, 54, 52}, {60, 58, 56, 54}, {60, 58, 56}}, {60, 58, 59}, 5},
      {"RANGE", v1::RULE_KIND_QUALITY_RANGE, {40, 30, 20, 10}, {{31}, {33}, {35}, {37}}, {50}},
  };
  struct Expect {
    std::string rule, unit, period;
    int level;  // 0: no event
  };
  std::vector<Expect> expect;
  std::vector<Row> rows, quiet_rows;
  for (const Kind& k : kinds) {
    // A district per kind with a station per series; the kind's rules are
    // scoped to its district.
    const std::string district = "D-" + k.name;
    auto station = [&](int level) { return absl::StrCat("S-", k.name, "-", level); };
    CreateUnits(stack.ingest(), {{district, v1::UNIT_TYPE_DISTRICT_BUREAU, "C1"}});
    for (int level = 0; level <= 4; ++level) {
      CreateUnits(stack.ingest(), {{station(level), v1::UNIT_TYPE_SUPPLY_STATION, district}});
    }
    for (const std::string indicator : {"RATE", "LOSS"}) {
      const bool mirror = indicator == "LOSS";
      auto value = [&](double v) { return mirror ? 100 - v : v; };
      v1::Rule rule = StaticRule(absl::StrCat("K-", k.name, "-", indicator), indicator, {});
      rule.set_kind(k.kind);
      rule.set_window(k.window);
      rule.mutable_scope()->set_unit_code(district);
      rule.mutable_scope()->set_include_descendants(true);
      if (k.kind == v1::RULE_KIND_QUALITY_RANGE) {
        rule.set_plausible_min(40);
        rule.set_plausible_max(60);
      }
      for (int level = 1; level <= 4; ++level) {
        v1::RuleLevel* l = rule.add_levels();
        l->set_level(level);
        const double t = k.thresholds[level - 1];
        l->set_threshold(k.kind == v1::RULE_KIND_STATIC_THRESHOLD ? value(t) : t);
      }
      const grpc::Status saved = stack.SaveRule(rule);
      INFO(rule.code() << ": " << saved.error_message());
      REQUIRE(saved.ok());
      // Each series from January 2025 at a station of its own (level 0: the quiet one).
      auto add = [&](const std::vector<double>& series, int level, std::vector<Row>& out) {
        for (size_t m = 0; m < series.size(); ++m) {
          out.push_back({station(level), indicator, absl::StrFormat("2025-%02d", m + 1), value(series[m])});
        }
        expect.push_back({rule.code(), station(level), absl::StrFormat("2025-%02d", series.size()), level});
      };
      for (int level = 1; level <= 4; ++level) add(k.by_level[level - 1], level, rows);
      add(k.quiet, 0, quiet_rows);
    }
  }
  stack.Ingest("quiet", quiet_rows);  // judged before the next batch
  stack.Ingest("levels", rows);
  auto found = [&](const std::vector<v1::WarningEvent>& events) {
    for (const Expect& e : expect) {
      if (e.level > 0 && Find(events, e.rule, e.unit, e.period) == nullptr) return false;
    }
    return true;
  };
  const auto events = stack.WaitEvents(found);
  REQUIRE(found(events));
  for (const Expect& e : expect) {
    INFO(e.rule << " " << e.unit << " " << e.period);
    const v1::WarningEvent* event = Find(events, e.rule, e.unit, e.period);
    if (e.level == 0) {
      CHECK(event == nullptr);
    } else {
      REQUIRE(event != nullptr);
      CHECK(event->level() == e.level);
      CHECK(event->state() == v1::EVENT_STATE_OPEN);
    }
  }
}

TEST_CASE("A unit reporting an indicator that does not apply to its type raises a data-quality event",
          "[e2e][monitor]") {
  TestDatabase db;
  Stack stack(db);
  stack.Seed();
  v1::Rule rule = StaticRule("K-APPLIES", "RATE", {});
  rule.set_kind(v1::RULE_KIND_QUALITY_APPLICABILITY);
  rule.add_indicator_codes("LOSS");
  rule.add_levels()->set_level(3);
  REQUIRE(stack.SaveRule(rule).ok());  // RATE and LOSS are reported by stations only
  stack.Ingest("a", {{"S1", "RATE", "2025-03", 90}, {"D1", "LOSS", "2025-03", 5}, {"S2", "LOSS", "2025-03", 5}});
  const auto events = stack.WaitEvents([](const auto& e) { return !e.empty(); });
  REQUIRE(events.size() == 1);
  CHECK(events[0].unit_code() == "D1");
  CHECK(events[0].indicator_code() == "LOSS");
  CHECK(events[0].level() == 3);
  CHECK(events[0].message().find("does not apply") != std::string::npos);
}

TEST_CASE("Change rules look back across a year boundary, and a late value re-judges the next period",
          "[e2e][monitor]") {
  TestDatabase db;
  Stack stack(db);
  stack.Seed();
  v1::Rule rule = StaticRule("R-DROP", "RATE", {30, 10});
  rule.set_kind(v1::RULE_KIND_PERIOD_CHANGE);
  REQUIRE(stack.SaveRule(rule).ok());
  stack.Ingest("a", {{"S1", "RATE", "2025-12", 80}, {"S1", "RATE", "2026-01", 65}});  // -18.75 %
  auto events = stack.WaitEvents([](const auto& e) { return !e.empty(); });
  REQUIRE(events.size() == 1);
  CHECK(events[0].period().key() == "2026-01");
  CHECK(events[0].level() == 2);
  // December corrected upwards: January's drop becomes -31.6 %, level 1.
  stack.Ingest("b", {{"S1", "RATE", "2025-12", 95}});
  auto escalated = stack.WaitEvents([](const auto& e) { return !e.empty() && e[0].level() == 1; });
  REQUIRE(escalated.size() == 1);
  CHECK(escalated[0].level() == 1);
}

TEST_CASE("The whitelist suppresses matching events until it expires, then they reopen", "[e2e][monitor]") {
  TestDatabase db;
  Stack stack(db);
  stack.Seed();
  REQUIRE(stack.SaveRule(StaticRule("R-RATE", "RATE", {80, 90})).ok());
  v1::CreateWhitelistEntryRequest req;
  req.set_actor("centre.admin");
  req.set_request_id("wl-1");
  v1::WhitelistEntry* w = req.mutable_entry();
  w->set_rule_code("R-RATE");
  w->mutable_scope()->set_unit_code("D1");
  w->mutable_scope()->set_include_descendants(true);
  w->set_reason("meter replacement campaign in D1");
  w->mutable_frozen_until()->set_seconds(absl::ToUnixSeconds(absl::Now() + absl::Seconds(3)));
  v1::WhitelistEntry entry;
  {
    grpc::ClientContext ctx;
    REQUIRE(stack.monitor().CreateWhitelistEntry(&ctx, req, &entry).ok());
  }
  CHECK(entry.active());
  CHECK(entry.audit().created_by() == "centre.admin");
  {  // the same request id returns the same entry
    grpc::ClientContext ctx;
    v1::WhitelistEntry again;
    REQUIRE(stack.monitor().CreateWhitelistEntry(&ctx, req, &again).ok());
    CHECK(again.id() == entry.id());
  }
  stack.Ingest("a", {{"S1", "RATE", "2025-03", 70}});
  auto events = stack.WaitEvents([](const auto& e) { return !e.empty(); });
  REQUIRE(events.size() == 1);
  CHECK(events[0].state() == v1::EVENT_STATE_SUPPRESSED);
  // After the freeze ends the condition still holds: the event reopens.
  auto reopened = stack.WaitEvents([](const auto& e) { return !e.empty() && e[0].state() == v1::EVENT_STATE_OPEN; });
  REQUIRE(reopened.size() == 1);
  CHECK(reopened[0].state() == v1::EVENT_STATE_OPEN);
  const auto full = stack.Get(reopened[0].id());
  CHECK(full.history(0).change() == "suppressed");
  CHECK(full.history(full.history_size() - 1).change() == "reopened");

  // Too long a freeze, or no reason, is refused naming the field.
  w->set_reason("");
  req.set_request_id("");
  {
    grpc::ClientContext ctx;
    v1::WhitelistEntry out;
    const grpc::Status s = stack.monitor().CreateWhitelistEntry(&ctx, req, &out);
    CHECK(s.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
    CHECK(s.error_message().find("entry.reason") == 0);
  }
  w->set_reason("long");
  w->mutable_frozen_until()->set_seconds(absl::ToUnixSeconds(absl::Now() + absl::Hours(24 * 400)));
  {
    grpc::ClientContext ctx;
    v1::WhitelistEntry out;
    const grpc::Status s = stack.monitor().CreateWhitelistEntry(&ctx, req, &out);
    CHECK(s.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
    CHECK(s.error_message().find("entry.frozen_until") == 0);
  }
  v1::ListWhitelistRequest list;
  list.set_include_expired(true);
  grpc::ClientContext ctx;
  v1::ListWhitelistResponse listed;
  REQUIRE(stack.monitor().ListWhitelist(&ctx, list, &listed).ok());
  REQUIRE(listed.entries_size() == 1);
  CHECK_FALSE(listed.entries(0).active());
}

TEST_CASE("Backtests return the events a draft rule would raise, with no side effects", "[e2e][monitor]") {
  TestDatabase db;
  Stack stack(db);
  stack.Seed();
  stack.Ingest("a", {{"S1", "RATE", "2025-01", 95}, {"S1", "RATE", "2025-02", 85}, {"S1", "RATE", "2025-03", 70},
                     {"S2", "RATE", "2025-02", 99}});
  v1::BacktestRequest req;
  v1::Rule draft = StaticRule("DRAFT", "RATE", {80, 90});
  draft.set_kind(v1::RULE_KIND_PERIOD_CHANGE);
  draft.mutable_levels(0)->set_threshold(15);
  draft.mutable_levels(1)->set_threshold(5);
  *req.mutable_rule() = draft;
  req.mutable_periods()->mutable_first()->set_key("2025-02");
  req.mutable_periods()->mutable_last()->set_key("2025-03");
  grpc::ClientContext ctx;
  v1::BacktestResponse resp;
  REQUIRE(stack.monitor().Backtest(&ctx, req, &resp).ok());
  REQUIRE(resp.events_size() == 2);
  CHECK(resp.events(0).period().key() == "2025-02");
  CHECK(resp.events(0).level() == 2);   // -10.5 %
  CHECK(resp.events(1).level() == 1);   // -17.6 %
  CHECK(resp.evaluated() == 2);
  // S2's February has no January to compare with: not judged, and said why.
  CHECK(resp.not_judged_count() == 1);
  REQUIRE(resp.not_judged_size() == 1);
  CHECK(resp.not_judged(0).unit_code() == "S2");
  CHECK(resp.not_judged(0).period().key() == "2025-02");
  CHECK(resp.not_judged(0).reason() == "no value for the previous period");
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  CHECK(stack.Events().empty());
  v1::GetRuleRequest get;
  get.set_code("DRAFT");
  grpc::ClientContext gctx;
  v1::Rule out;
  CHECK(stack.monitor().GetRule(&gctx, get, &out).error_code() == grpc::StatusCode::NOT_FOUND);
}

TEST_CASE("A rule saved after the data judges the history, and disabling it resolves its events",
          "[e2e][monitor]") {
  TestDatabase db;
  Stack stack(db);
  stack.Seed();
  stack.Ingest("a", {{"S1", "RATE", "2025-01", 70}, {"S2", "RATE", "2025-01", 85}});
  REQUIRE(stack.SaveRule(StaticRule("R-RATE", "RATE", {80, 90})).ok());
  auto events = stack.WaitEvents([](const auto& e) { return e.size() == 2; });
  REQUIRE(events.size() == 2);
  v1::SetRuleEnabledRequest off;
  off.set_code("R-RATE");
  off.set_enabled(false);
  off.set_actor("tester");
  grpc::ClientContext ctx;
  v1::Rule out;
  REQUIRE(stack.monitor().SetRuleEnabled(&ctx, off, &out).ok());
  auto resolved = stack.WaitEvents([](const auto& e) {
    return std::all_of(e.begin(), e.end(), [](const auto& x) { return x.state() == v1::EVENT_STATE_RESOLVED; });
  });
  for (const auto& e : resolved) CHECK(e.state() == v1::EVENT_STATE_RESOLVED);
  v1::GetAnomalySummaryRequest summary;
  summary.mutable_period()->set_key("2025-01");
  summary.mutable_scope()->set_unit_code("D1");
  summary.mutable_scope()->set_include_descendants(true);
  grpc::ClientContext sctx;
  v1::GetAnomalySummaryResponse rows;
  REQUIRE(stack.monitor().GetAnomalySummary(&sctx, summary, &rows).ok());
  REQUIRE(rows.rows_size() == 2);
  CHECK(rows.rows(0).theme_code() == "T-BILL");
}

TEST_CASE("A crash of the evaluator neither loses nor doubles events", "[e2e][monitor]") {
  TestDatabase db;
  std::vector<Row> rows;
  {
    Stack stack(db);
    stack.Seed();
    REQUIRE(stack.SaveRule(StaticRule("R-RATE", "RATE", {80, 90})).ok());
    for (int m = 1; m <= 12; ++m) {
      for (const char* unit : {"S1", "S2"}) rows.emplace_back(unit, "RATE", absl::StrFormat("2025-%02d", m), 50.0 + m);
    }
    // Send in many small batches and crash while the evaluator works on them.
    std::thread sender([&] {
      for (size_t i = 0; i < rows.size(); i += 2) {
        stack.Ingest(absl::StrCat("k", i), {rows[i], rows[i + 1]});
      }
    });
    sender.join();
    stack.process().Stop(SIGKILL);
  }
  Stack restarted(db);
  auto events = restarted.WaitEvents([](const auto& e) { return e.size() >= 24; });
  CHECK(events.size() == 24);
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  CHECK(restarted.Events().size() == 24);
  CHECK(db.Query("SELECT count(*) FROM monitor.events") == "24");
  CHECK(db.Query("SELECT count(DISTINCT (rule_code, unit_code, period_key)) FROM monitor.events") == "24");
}

TEST_CASE("Losing the database or a commit pauses the evaluator, which resumes without losing or doubling events",
          "[e2e][monitor]") {
  TestDatabase db;
  Stack stack(db);
  stack.Seed();
  REQUIRE(stack.SaveRule(StaticRule("R-RATE", "RATE", {80, 90})).ok());
  stack.Ingest("a", {{"S1", "RATE", "2025-01", 50}, {"S2", "RATE", "2025-01", 95}});
  REQUIRE(stack.WaitEvents([](const auto& e) { return e.size() == 1; }).size() == 1);
  const std::string monitor = stack.process().address("monitor");
  db.Disconnect();
  REQUIRE(WaitForHealth(monitor, "", "NOT_SERVING") == "NOT_SERVING");
  std::this_thread::sleep_for(std::chrono::milliseconds(500));  // the evaluator's commits fail meanwhile
  db.Reconnect();
  REQUIRE(WaitForHealth(monitor, "", "SERVING") == "SERVING");
  stack.Ingest("b", {{"S1", "RATE", "2025-02", 50}, {"S2", "RATE", "2025-02", 85}});
  auto events = stack.WaitEvents([](const auto& e) { return e.size() >= 3; });
  CHECK(events.size() == 3);
  REQUIRE(Find(events, "R-RATE", "S2", "2025-02") != nullptr);
  CHECK(Find(events, "R-RATE", "S2", "2025-02")->level() == 2);
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  CHECK(db.Query("SELECT count(*) FROM monitor.events") == "3");
  CHECK(db.Query("SELECT count(*) FROM monitor.event_history") == "3");

  // A commit that fails: the evaluator's transaction waits on a lock and is
  // terminated. It starts over from its cursor and commits the events once.
  {
    OpenTransaction lock(db, "LOCK TABLE monitor.events IN EXCLUSIVE MODE");
    stack.Ingest("c", {{"S1", "RATE", "2025-03", 50}});
    std::string blocked;
    for (int i = 0; i < 200 && blocked.empty(); ++i) {
      blocked = db.Query(
          "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' "
          "AND query LIKE '%INSERT INTO events%' LIMIT 1");  // the evaluator's, not the notifier's
      if (blocked.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    REQUIRE(!blocked.empty());
    CHECK(db.Query("SELECT pg_terminate_backend(" + blocked + ")") == "t");
    lock.Abort();
  }
  events = stack.WaitEvents([](const auto& e) { return e.size() >= 4; });
  CHECK(events.size() == 4);
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));  // the restarted evaluator has replayed
  CHECK(db.Query("SELECT count(*) FROM monitor.events") == "4");
  CHECK(db.Query("SELECT count(*) FROM monitor.event_history") == "4");
  CHECK(stack.process().Logs().find("evaluator stopped") != std::string::npos);
}

// The latest month whose values are due (deadline: the day after it ends).
std::string LastDueMonth() {
  return Period::Containing(PeriodType::kMonth, absl::ToCivilDay(absl::Now(), absl::UTCTimeZone())).Previous().key();
}

TEST_CASE("Missing values raise events from timers by days overdue and resolve when reported",
          "[e2e][monitor]") {
  TestDatabase db;
  Stack stack(db, {"--timer_interval=200ms"});
  stack.Seed();
  const std::string month = LastDueMonth();
  // RATE's deadline is the day after the month ends: it is this many whole days overdue.
  const int days = static_cast<int>(absl::ToInt64Hours(
                       absl::Now() - absl::FromCivil(Period::Parse(month)->last_day() + 1, absl::UTCTimeZone())) /
                   24);
  stack.Ingest("a", {{"S1", "RATE", month, 95}});
  // One rule per level, each with thresholds that put today's lateness at that level.
  for (int level = 1; level <= 4; ++level) {
    std::vector<double> thresholds;
    for (int l = 1; l < level; ++l) thresholds.push_back(days + 100 * (level - l));
    thresholds.push_back(0);
    v1::Rule rule = StaticRule(absl::StrCat("R-MISS-", level), "RATE", thresholds);
    rule.set_kind(v1::RULE_KIND_MISSING);
    const grpc::Status saved = stack.SaveRule(rule);
    INFO(saved.error_message());
    REQUIRE(saved.ok());
  }
  auto events = stack.WaitEvents([](const auto& e) { return e.size() >= 4; });
  REQUIRE(events.size() == 4);  // S2 owes the value, S1 reported it; D1 is not a station
  for (int level = 1; level <= 4; ++level) {
    const v1::WarningEvent* e = Find(events, absl::StrCat("R-MISS-", level), "S2", month);
    REQUIRE(e != nullptr);
    CHECK(e->level() == level);
    CHECK(e->message().find("overdue") != std::string::npos);
  }
  CHECK(db.Query("SELECT count(*) FROM monitor.timers WHERE rule_code = 'R-MISS-1'") == "2");  // again, and next month
  stack.Ingest("b", {{"S2", "RATE", month, 91}});
  auto resolved = stack.WaitEvents([](const auto& e) {
    return std::all_of(e.begin(), e.end(), [](const auto& x) { return x.state() == v1::EVENT_STATE_RESOLVED; });
  });
  REQUIRE(resolved.size() == 4);
  for (const auto& e : resolved) CHECK(e.state() == v1::EVENT_STATE_RESOLVED);
}

TEST_CASE("Consistency rules compare a parent with the roll-up of its children on timers", "[e2e][monitor]") {
  TestDatabase db;
  Stack stack(db, {"--timer_interval=200ms"});
  stack.Seed();
  const std::string month = LastDueMonth();
  // D1 above its stations, C1 below its district, P equal to its city.
  stack.Ingest("a", {{"D1", "SOLD", month, 100}, {"S1", "SOLD", month, 40}, {"S2", "SOLD", month, 45},
                     {"C1", "SOLD", month, 92}, {"P", "SOLD", month, 92}});
  v1::Rule rule = StaticRule("R-CONS", "SOLD", {15, 5});
  rule.set_kind(v1::RULE_KIND_QUALITY_CONSISTENCY);
  rule.clear_unit_types();
  REQUIRE(stack.SaveRule(rule).ok());
  auto events = stack.WaitEvents([](const auto& e) { return e.size() >= 2; });
  REQUIRE(events.size() == 2);
  const v1::WarningEvent* d1 = Find(events, "R-CONS", "D1", month);
  REQUIRE(d1 != nullptr);
  CHECK(d1->level() == 1);  // 100 against 85: 17.6 %
  CHECK(d1->message().find("children add up to 85") != std::string::npos);
  const v1::WarningEvent* c1 = Find(events, "R-CONS", "C1", month);
  REQUIRE(c1 != nullptr);
  CHECK(c1->level() == 2);  // 92 against 100: 8 %
  CHECK(Find(events, "R-CONS", "P", month) == nullptr);
}

void AddContact(Stack& stack, const std::string& unit, const std::string& phone) {
  v1::UpsertContactRequest req;
  req.mutable_contact()->set_unit_code(unit);
  req.mutable_contact()->set_role("leader");
  req.mutable_contact()->set_name("Wang Fang");
  req.mutable_contact()->set_phone(phone);
  req.mutable_contact()->set_active(true);
  req.set_actor("tester");
  grpc::ClientContext ctx;
  v1::Contact out;
  REQUIRE(stack.monitor().UpsertContact(&ctx, req, &out).ok());
}

std::vector<v1::Notification> Notifications(Stack& stack) {
  v1::ListNotificationsRequest req;
  grpc::ClientContext ctx;
  v1::ListNotificationsResponse resp;
  REQUIRE(stack.monitor().ListNotifications(&ctx, req, &resp).ok());
  return {resp.notifications().begin(), resp.notifications().end()};
}

TEST_CASE("Notifications group a unit's events and are retried until the gateway takes them",
          "[e2e][monitor]") {
  TestDatabase db;
  HttpReceiver gateway;
  gateway.SetFailing(true);
  Stack stack(db, {"--sms_gateway_url=" + gateway.url(), "--notify_group_window=1s", "--notify_repeat=1h"});
  stack.Seed();
  AddContact(stack, "S1", "13800000001");
  REQUIRE(stack.SaveRule(StaticRule("R-RATE", "RATE", {80, 90})).ok());
  stack.Ingest("a", {{"S1", "RATE", "2025-03", 70}});
  stack.Ingest("b", {{"S1", "RATE", "2025-04", 85}});
  REQUIRE(WaitUntil([&] { return gateway.refused() >= 2; }));  // tried and failed, with backoff
  auto pending = Notifications(stack);
  REQUIRE(pending.size() == 1);
  CHECK(pending[0].event_ids_size() == 2);  // both events in one message
  CHECK(pending[0].state() == v1::NOTIFICATION_STATE_RETRYING);
  CHECK(pending[0].last_error().find("503") != std::string::npos);
  gateway.SetFailing(false);
  REQUIRE(WaitUntil([&] { return !gateway.accepted().empty(); }));
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  const auto got = gateway.accepted();
  REQUIRE(got.size() == 1);
  CHECK(got[0].idempotency_key == pending[0].idempotency_key());
  CHECK(got[0].body.find("13800000001") != std::string::npos);
  CHECK(got[0].body.find("\"level\":1") != std::string::npos);
  const auto sent = Notifications(stack);
  CHECK(sent[0].state() == v1::NOTIFICATION_STATE_SENT);
  CHECK(sent[0].attempts() >= 3);
}

TEST_CASE("Events still open are notified again, suppressed ones never", "[e2e][monitor]") {
  TestDatabase db;
  HttpReceiver gateway;
  Stack stack(db, {"--sms_gateway_url=" + gateway.url(), "--notify_group_window=200ms", "--notify_repeat=2s"});
  stack.Seed();
  AddContact(stack, "S1", "13800000001");
  AddContact(stack, "S2", "13800000002");
  REQUIRE(stack.SaveRule(StaticRule("R-RATE", "RATE", {80, 90})).ok());
  stack.Whitelist("R-RATE", "S2", "known meter fault", "admin");
  stack.Ingest("a", {{"S1", "RATE", "2025-03", 70}, {"S2", "RATE", "2025-03", 70}});
  REQUIRE(WaitUntil([&] { return gateway.accepted().size() >= 2; }));
  const auto got = gateway.accepted();
  CHECK(got[0].idempotency_key != got[1].idempotency_key);  // the first message, then its repeat
  for (const auto& r : got) {
    CHECK(r.body.find("13800000001") != std::string::npos);
    CHECK(r.body.find("13800000002") == std::string::npos);  // S2's event is whitelisted
  }
}

TEST_CASE("Nothing is dropped while the gateway is down, nor sent twice after a restart", "[e2e][monitor]") {
  TestDatabase db;
  HttpReceiver gateway;
  gateway.SetFailing(true);
  const std::vector<std::string> args = {"--sms_gateway_url=" + gateway.url(), "--notify_group_window=200ms"};
  {
    Stack stack(db, args);
    stack.Seed();
    AddContact(stack, "S1", "13800000001");
    AddContact(stack, "S2", "13800000002");
    REQUIRE(stack.SaveRule(StaticRule("R-RATE", "RATE", {80, 90})).ok());
    stack.Ingest("a", {{"S1", "RATE", "2025-03", 70}, {"S2", "RATE", "2025-03", 70}});
    REQUIRE(WaitUntil([&] { return gateway.refused() >= 2; }));
    stack.process().Stop(SIGKILL);
  }
  gateway.SetFailing(false);
  Stack restarted(db, args);
  REQUIRE(WaitUntil([&] { return gateway.accepted().size() >= 2; }));
  std::this_thread::sleep_for(std::chrono::seconds(2));
  const auto got = gateway.accepted();
  CHECK(got.size() == 2);
  std::set<std::string> keys;
  for (const auto& r : got) keys.insert(r.idempotency_key);
  CHECK(keys.size() == 2);
  CHECK(db.Query("SELECT count(*) FROM monitor.notifications WHERE state = 2") == "2");
}

// --- Warnings that tell the truth -------------------------------------------------

// The evaluator leader gauge a process exposes: 0 or 1, -1 when unreadable.
int LeaderGauge(const AuditwatchProcess& process) {
  return static_cast<int>(MetricValue(process, "auditwatch_monitor_evaluator_leader"));
}

// The first change the events feed has after `from_seq`.
v1::EventChange FirstChangeAfter(Stack& stack, int64_t from_seq) {
  v1::WatchEventsRequest req;
  req.set_from_seq(from_seq);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  auto reader = stack.monitor().WatchEvents(&ctx, req);
  v1::EventChange change;
  do {
    REQUIRE(reader->Read(&change));
  } while (change.heartbeat());
  ctx.TryCancel();
  reader->Finish();
  return change;
}

TEST_CASE("A revision that keeps the level but moves the threshold re-judges the open event, in its history and "
          "on the feed",
          "[e2e][monitor]") {
  TestDatabase db;
  Stack stack(db);
  stack.Seed();
  v1::Rule rule = StaticRule("R-LOSS", "LOSS", {6});
  REQUIRE(stack.SaveRule(rule).ok());
  stack.Ingest("a", {{"S1", "LOSS", "2025-03", 7}});
  auto events = stack.WaitEvents([](const auto& e) { return e.size() == 1; });
  REQUIRE(events.size() == 1);
  CHECK(events[0].message() == "value 7 is at or above 6 (level 1)");
  const int64_t seq = events[0].seq();
  rule.mutable_levels(0)->set_threshold(5);
  REQUIRE(stack.SaveRule(rule).ok());
  events = stack.WaitEvents([](const auto& e) { return e.size() == 1 && e[0].threshold() == 5; });
  REQUIRE(events.size() == 1);
  CHECK(events[0].level() == 1);
  CHECK(events[0].state() == v1::EVENT_STATE_OPEN);
  CHECK(events[0].message() == "value 7 is at or above 5 (level 1)");
  CHECK(events[0].seq() > seq);
  const auto full = stack.Get(events[0].id());
  REQUIRE(full.history_size() == 2);
  CHECK(full.history(1).change() == "re-judged");
  CHECK(full.history(1).comment() == "observed 7 → 7, threshold 6 → 5: value 7 is at or above 5 (level 1)");
  const v1::EventChange change = FirstChangeAfter(stack, seq);
  CHECK(change.event().id() == events[0].id());
  CHECK(change.event().threshold() == 5);
  // Saved again as it is: nothing to re-judge.
  REQUIRE(stack.SaveRule(rule).ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  CHECK(stack.Get(events[0].id()).history_size() == 2);
}

TEST_CASE("At the threshold fires, the same for every kind", "[e2e][monitor]") {
  TestDatabase db;
  Stack stack(db);
  stack.Seed();
  REQUIRE(stack.SaveRule(StaticRule("R-RATE", "RATE", {80})).ok());
  REQUIRE(stack.SaveRule(StaticRule("R-LOSS", "LOSS", {20})).ok());
  v1::Rule change = StaticRule("R-CHG", "SOLD", {25});
  change.set_kind(v1::RULE_KIND_PERIOD_CHANGE);
  REQUIRE(stack.SaveRule(change).ok());
  stack.Ingest("a", {{"S1", "RATE", "2025-03", 80}, {"S2", "RATE", "2025-03", 80.5},
                     {"S1", "LOSS", "2025-03", 20}, {"S2", "LOSS", "2025-03", 19.5},
                     {"S1", "SOLD", "2025-02", 80}, {"S1", "SOLD", "2025-03", 60},
                     {"S2", "SOLD", "2025-02", 80}, {"S2", "SOLD", "2025-03", 60.5}});
  auto events = stack.WaitEvents([](const auto& e) { return e.size() >= 3; });
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  events = stack.Events();
  REQUIRE(events.size() == 3);
  for (const auto& e : events) CHECK(e.unit_code() == "S1");
  REQUIRE(Find(events, "R-CHG", "S1", "2025-03") != nullptr);
  CHECK(Find(events, "R-CHG", "S1", "2025-03")->observed() == 25);
}

TEST_CASE("Months out of order re-judge the periods that look back on them", "[e2e][monitor]") {
  TestDatabase db;
  Stack stack(db);
  stack.Seed();
  v1::Rule trend = StaticRule("R-TREND", "RATE", {3});
  trend.set_kind(v1::RULE_KIND_CONSECUTIVE_WORSENING);
  trend.set_window(6);
  REQUIRE(stack.SaveRule(trend).ok());
  v1::Rule baseline = StaticRule("R-BASE", "LOSS", {2});
  baseline.set_kind(v1::RULE_KIND_BASELINE_DEVIATION);
  baseline.set_window(4);
  baseline.set_min_history(3);
  REQUIRE(stack.SaveRule(baseline).ok());
  // March to June first: a run of 3 worsening months ends in June; May's
  // loss judged on 3 of the 4 months before it.
  stack.Ingest("a", {{"S1", "RATE", "2025-03", 90}, {"S1", "RATE", "2025-04", 89}, {"S1", "RATE", "2025-05", 88},
                     {"S1", "RATE", "2025-06", 87}, {"S2", "LOSS", "2025-02", 10}, {"S2", "LOSS", "2025-03", 12},
                     {"S2", "LOSS", "2025-04", 14}, {"S2", "LOSS", "2025-05", 22}});
  auto events = stack.WaitEvents([](const auto& e) {
    return Find(e, "R-TREND", "S1", "2025-06") != nullptr && Find(e, "R-BASE", "S2", "2025-05") != nullptr;
  });
  REQUIRE(Find(events, "R-TREND", "S1", "2025-06") != nullptr);
  CHECK(Find(events, "R-TREND", "S1", "2025-06")->observed() == 3);
  const v1::WarningEvent base_before = *Find(events, "R-BASE", "S2", "2025-05");
  CHECK(base_before.observed() == 5);  // (22 - 12) / 2
  CHECK(base_before.message().find("3 of the last 4 periods") != std::string::npos);
  // January and February arrive late: the run is 5 long, the baseline whole.
  stack.Ingest("b", {{"S1", "RATE", "2025-01", 92}, {"S1", "RATE", "2025-02", 91}, {"S2", "LOSS", "2025-01", 12}});
  events = stack.WaitEvents([](const auto& e) {
    const auto* t = Find(e, "R-TREND", "S1", "2025-06");
    const auto* b = Find(e, "R-BASE", "S2", "2025-05");
    return t != nullptr && t->observed() == 5 && b != nullptr && b->observed() != 5;
  });
  const v1::WarningEvent* run = Find(events, "R-TREND", "S1", "2025-06");
  REQUIRE(run != nullptr);
  CHECK(run->observed() == 5);
  CHECK(run->level() == 1);
  CHECK(run->message() == "consecutive worsening periods: 5 reaches level 1 (threshold 3)");
  const auto run_history = stack.Get(run->id());
  CHECK(run_history.history(run_history.history_size() - 1).change() == "re-judged");
  CHECK(run_history.history(run_history.history_size() - 1).comment().find("observed 3 → 5") == 0);
  const v1::WarningEvent* base = Find(events, "R-BASE", "S2", "2025-05");
  REQUIRE(base != nullptr);
  CHECK(base->observed() == Approx((22 - 12) / std::sqrt(8.0 / 3)));
  CHECK(base->message().find("4 of the last 4 periods") != std::string::npos);
  CHECK(base->id() == base_before.id());
}

TEST_CASE("A whitelist entry covers the events already open, and revoking it reopens what still holds",
          "[e2e][monitor]") {
  TestDatabase db;
  Stack stack(db);
  stack.Seed();
  REQUIRE(stack.SaveRule(StaticRule("R-RATE", "RATE", {80, 90})).ok());
  stack.Ingest("a", {{"S1", "RATE", "2025-03", 70}, {"S2", "RATE", "2025-03", 70}});
  auto events = stack.WaitEvents([](const auto& e) { return e.size() == 2; });
  REQUIRE(events.size() == 2);
  const int64_t s1 = Find(events, "R-RATE", "S1", "2025-03")->id();
  const int64_t seq = std::max(events[0].seq(), events[1].seq());
  const v1::WhitelistEntry entry = stack.Whitelist("R-RATE", "S1", "meter replacement", "centre.admin");
  // At once, in the same transaction as the entry.
  auto covered = stack.Get(s1);
  CHECK(covered.state() == v1::EVENT_STATE_SUPPRESSED);
  CHECK(covered.history(covered.history_size() - 1).change() == "suppressed");
  CHECK(covered.history(covered.history_size() - 1).actor() == "centre.admin");
  CHECK(stack.Get(Find(events, "R-RATE", "S2", "2025-03")->id()).state() == v1::EVENT_STATE_OPEN);
  const v1::EventChange change = FirstChangeAfter(stack, seq);
  CHECK(change.event().id() == s1);
  CHECK(change.event().state() == v1::EVENT_STATE_SUPPRESSED);

  v1::RevokeWhitelistEntryRequest revoke;
  revoke.set_id(entry.id());
  revoke.set_actor("centre.admin");
  revoke.set_reason("replacement done");
  {
    grpc::ClientContext ctx;
    v1::WhitelistEntry out;
    REQUIRE(stack.monitor().RevokeWhitelistEntry(&ctx, revoke, &out).ok());
    CHECK(out.audit().updated_by() == "centre.admin");
    CHECK(out.audit().reason() == "replacement done");
  }
  REQUIRE(WaitUntil([&] { return stack.Get(s1).state() == v1::EVENT_STATE_OPEN; }, absl::Seconds(10)));
  const auto reopened = stack.Get(s1);
  CHECK(reopened.history(reopened.history_size() - 1).change() == "reopened");
}

TEST_CASE("An entry covers events opened from verdicts judged before the evaluator knew of it", "[e2e][monitor]") {
  TestDatabase db;
  {
    Stack stack(db);
    stack.Seed();
    REQUIRE(stack.SaveRule(StaticRule("R-RATE", "RATE", {80})).ok());
    stack.Ingest("a", {{"S1", "RATE", "2025-03", 70}});
    REQUIRE(stack.WaitEvents([](const auto& e) { return e.size() == 1; }).size() == 1);
    CHECK(stack.process().Stop(SIGTERM) == 0);
  }
  // An entry the event slipped past (as when its opening was queued while the
  // entry was made): the next evaluator applies every entry in force once more.
  db.Query(
      "INSERT INTO monitor.whitelist (rule_code, unit_code, reason, frozen_from, frozen_until, created_by) "
      "VALUES ('R-RATE', 'S1', 'meter replacement', now() - interval '1 minute', now() + interval '1 hour', "
      "'centre.admin') RETURNING id");
  Stack restarted(db);
  const auto events = restarted.WaitEvents(
      [](const auto& e) { return e.size() == 1 && e[0].state() == v1::EVENT_STATE_SUPPRESSED; });
  REQUIRE(events.size() == 1);
  CHECK(events[0].state() == v1::EVENT_STATE_SUPPRESSED);
  const auto full = restarted.Get(events[0].id());
  CHECK(full.history(full.history_size() - 1).change() == "suppressed");
  CHECK(full.history(full.history_size() - 1).actor() == "centre.admin");
}

TEST_CASE("Messages read as written and every write names who made it", "[e2e][monitor]") {
  TestDatabase db;
  Stack stack(db);
  stack.Seed();
  CreateIndicator(stack.ingest(), {.code = "KWH", .unit_of_measure = "kWh", .max_value = 1e9,
                                   .direction = v1::DIRECTION_LOWER_IS_BETTER});
  REQUIRE(stack.SaveRule(StaticRule("R-KWH", "KWH", {1000000})).ok());
  stack.Ingest("a", {{"S1", "KWH", "2025-03", 1000001}});
  auto events = stack.WaitEvents([](const auto& e) { return e.size() == 1; });
  REQUIRE(events.size() == 1);
  CHECK(events[0].message() == "value 1000001 is at or above 1000000 (level 1)");

  const v1::Theme created = CreateTheme(stack.monitor(), "T-NEW", "centre.admin");
  CHECK(created.audit().created_by() == "centre.admin");
  CHECK(created.audit().updated_by() == "centre.admin");
  CHECK(created.audit().created_at().seconds() > 0);
  const v1::Theme changed = CreateTheme(stack.monitor(), "T-NEW", "someone.else", "changed");
  CHECK(changed.audit().created_by() == "centre.admin");
  CHECK(changed.audit().version() == 2);
  {
    grpc::ClientContext ctx;
    v1::ListThemesResponse listed;
    REQUIRE(stack.monitor().ListThemes(&ctx, v1::ListThemesRequest(), &listed).ok());
    const v1::Theme* mine = nullptr;
    for (const auto& t : listed.themes()) {
      if (t.code() == "T-NEW") mine = &t;
    }
    REQUIRE(mine != nullptr);
    CHECK(mine->audit().created_by() == "centre.admin");
    CHECK(mine->audit().updated_by() == "someone.else");
    CHECK(mine->audit().updated_at().seconds() > 0);
  }
  {
    v1::UpsertContactRequest req;
    req.mutable_contact()->set_unit_code("S1");
    req.mutable_contact()->set_role("leader");
    req.mutable_contact()->set_name("Wang Fang");
    req.mutable_contact()->set_phone("13800000001");
    req.set_actor("centre.admin");
    grpc::ClientContext ctx;
    v1::Contact out;
    REQUIRE(stack.monitor().UpsertContact(&ctx, req, &out).ok());
    CHECK(out.audit().created_by() == "centre.admin");
    CHECK(out.audit().updated_at().seconds() > 0);
  }
  // A bad period is named once, not "period: period …".
  grpc::ClientContext ctx;
  auto stream = stack.ingest().IngestReadings(&ctx);
  REQUIRE(stream->Write(MakeBatch("bad", {{"S1", "RATE", "2025-13", 50}})));
  stream->WritesDone();
  v1::BatchResult result;
  REQUIRE(stream->Read(&result));
  REQUIRE(result.errors_size() == 1);
  CHECK(result.errors(0).field() == "period");
  CHECK(result.errors(0).message().find("period:") == std::string::npos);
  stream->Finish();
  // An unknown indicator in a rule is NOT_FOUND, as monitor.proto says.
  const grpc::Status unknown = stack.SaveRule(StaticRule("R-X", "NOPE", {1}));
  CHECK(unknown.error_code() == grpc::StatusCode::NOT_FOUND);
  CHECK(unknown.error_message() == "rule.indicator_codes[0]: no indicator NOPE");
}

// --- The evaluator under faults --------------------------------------------------------

// Seeds the stack, saves `rule` and ingests one value it raises an event on.
void OneEventUnder(Stack& stack, const v1::Rule& rule) {
  stack.Seed();
  REQUIRE(stack.SaveRule(rule).ok());
  stack.Ingest("a", {{"S1", "RATE", "2025-01", 75}});
  REQUIRE(stack.WaitEvents([](const auto& e) { return e.size() == 1; }).size() == 1);
}

TEST_CASE("A rule revision saved just before a SIGKILL is applied to every value after the restart",
          "[e2e][monitor]") {
  TestDatabase db;
  v1::Rule rule = StaticRule("R-RATE", "RATE", {80});
  {
    Stack stack(db);
    OneEventUnder(stack, rule);
    // The newest batch and the revision, then a crash within milliseconds.
    stack.Ingest("b", {{"S1", "RATE", "2025-02", 75}, {"S2", "RATE", "2025-02", 65}});
    rule.mutable_levels(0)->set_threshold(70);
    REQUIRE(stack.SaveRule(rule).ok());
    stack.process().Stop(SIGKILL);
  }
  Stack restarted(db);
  REQUIRE(WaitUntil([&] {
    const auto s = restarted.Status();
    return s.rules_version_applied() == s.rules_version() && s.cursor() > 0;
  }));
  const auto open = restarted.WaitEvents([](const auto& events) {
    int unresolved = 0;
    for (const auto& e : events) unresolved += e.state() != v1::EVENT_STATE_RESOLVED;
    return unresolved == 1;
  });
  for (const auto& e : open) {
    INFO(e.unit_code() << " " << e.period().key() << " " << e.message());
    if (e.state() == v1::EVENT_STATE_RESOLVED) {
      CHECK(e.unit_code() == "S1");
    } else {
      CHECK(e.unit_code() == "S2");
      CHECK(e.threshold() == 70);
    }
  }
  CHECK(db.Query("SELECT count(*) FROM monitor.events WHERE state <> 4") == "1");
  CHECK(db.Query("SELECT count(*) FROM monitor.events WHERE state <> 4 AND threshold <> 70") == "0");
}

TEST_CASE("After a restart a rule revision is applied while no readings arrive", "[e2e][monitor]") {
  TestDatabase db;
  v1::Rule rule = StaticRule("R-RATE", "RATE", {80});
  {
    Stack stack(db);
    OneEventUnder(stack, rule);
    CHECK(stack.process().Stop(SIGTERM) == 0);
  }
  Stack restarted(db);
  REQUIRE(WaitUntil([&] { return LeaderGauge(restarted.process()) == 1; }));
  REQUIRE(WaitUntil([&] { return restarted.Status().rules_version_applied() == restarted.Status().rules_version(); }));
  rule.mutable_levels(0)->set_threshold(70);
  REQUIRE(restarted.SaveRule(rule).ok());
  const auto events = restarted.WaitEvents(
      [](const auto& e) { return e.size() == 1 && e[0].state() == v1::EVENT_STATE_RESOLVED; });
  REQUIRE(events.size() == 1);
  CHECK(events[0].state() == v1::EVENT_STATE_RESOLVED);
  const auto status = restarted.Status();
  CHECK(status.rules_version_applied() == status.rules_version());
}

TEST_CASE("Two monitors across a PostgreSQL restart: never two leaders, one takes over, no event lost or doubled",
          "[e2e][monitor]") {
  PrivateCluster pg;
  AuditwatchProcess first("ingest,monitor", pg.url());
  AuditwatchProcess second("monitor", pg.url(), {"--ingest_addr=" + first.address("ingest")});
  REQUIRE(WaitForHealth(second.address("monitor"), "", "SERVING") == "SERVING");
  auto ingest = v1::IngestService::NewStub(first.Channel("ingest"));
  auto monitor = v1::MonitorService::NewStub(second.Channel("monitor"));
  CreateUnits(*ingest, SmallTree());
  CreateIndicator(*ingest, {.code = "RATE"});
  CreateTheme(*monitor, "T-BILL", "tester");
  {
    v1::UpsertRuleRequest rule;
    *rule.mutable_rule() = StaticRule("R-RATE", "RATE", {80});
    rule.set_actor("tester");
    grpc::ClientContext rctx;
    v1::Rule saved;
    REQUIRE(monitor->UpsertRule(&rctx, rule, &saved).ok());
  }
  auto send = [&](const std::string& id, const std::vector<Row>& rows) {
    return WaitUntil([&] {
      grpc::ClientContext ctx;
      auto stream = ingest->IngestReadings(&ctx);
      if (!stream->Write(MakeBatch(id, rows))) return false;
      stream->WritesDone();
      v1::BatchResult r;
      const bool read = stream->Read(&r);
      return stream->Finish().ok() && read && r.rejected() == 0;
    });
  };
  auto count = [&](const std::string& sql) {
    try {
      return pg.Query(sql);
    } catch (const std::exception&) {
      return std::string("unreachable");
    }
  };
  // Watch both gauges all along.
  std::atomic<bool> watching{true};
  std::atomic<int> both{0}, samples{0};
  std::thread watcher([&] {
    while (watching) {
      const int a = LeaderGauge(first), b = LeaderGauge(second);
      if (a == 1 && b == 1) ++both;
      ++samples;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  });
  auto one_leader = [&] { return LeaderGauge(first) + LeaderGauge(second) == 1; };
  REQUIRE(WaitUntil(one_leader));
  REQUIRE(send("a", {{"S1", "RATE", "2025-01", 70}, {"S2", "RATE", "2025-01", 95}}));
  REQUIRE(WaitUntil([&] { return count("SELECT count(*) FROM monitor.events") == "1"; }));

  pg.Restart();
  // The old leader's lock went with its session: exactly one leads again
  // within a few seconds, and the lock table agrees.
  const absl::Time restarted = absl::Now();
  REQUIRE(WaitUntil([&] {
    return one_leader() &&
           count("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = 443438852 AND granted") == "1";
  }));
  const absl::Duration takeover = absl::Now() - restarted;
  INFO("took over in " << absl::FormatDuration(takeover));
  CHECK(takeover < absl::Seconds(10));
  REQUIRE(send("b", {{"S1", "RATE", "2025-02", 70}, {"S2", "RATE", "2025-02", 60}}));
  REQUIRE(send("c", {{"S1", "RATE", "2025-03", 95}, {"S2", "RATE", "2025-03", 75}}));
  REQUIRE(WaitUntil([&] { return count("SELECT count(*) FROM monitor.events") == "4"; }));
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  watching = false;
  watcher.join();
  CHECK(samples > 50);
  CHECK(both == 0);
  CHECK(one_leader());
  CHECK(count("SELECT count(*) FROM monitor.events") == "4");
  CHECK(count("SELECT count(DISTINCT (rule_code, unit_code, period_key)) FROM monitor.events") == "4");
  CHECK(count("SELECT count(*) FROM monitor.event_history") == "4");
  const std::string logs = first.Logs() + second.Logs();
  CHECK(logs.find("ALREADY_EXISTS") == std::string::npos);
}

}  // namespace
}  // namespace aw::testing
