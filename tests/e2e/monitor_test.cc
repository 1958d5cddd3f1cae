// The monitor service end to end: ingest and monitor in one process over real
// gRPC and a real PostgreSQL. Rules are validated, readings raise, escalate,
// de-escalate and resolve events with their history, the whitelist suppresses
// and its expiry reopens, backtests have no side effects, and a crash neither
// loses nor doubles an event.
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
    v1::UpsertThemeRequest theme;
    theme.mutable_theme()->set_code("T-BILL");
    theme.mutable_theme()->set_name("电费回收");
    theme.mutable_theme()->set_category(v1::BUSINESS_CATEGORY_BILLING);
    theme.set_actor("tester");
    grpc::ClientContext ctx;
    v1::Theme out;
    REQUIRE(monitor_->UpsertTheme(&ctx, theme, &out).ok());
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
  bad.push_back({StaticRule("R-X", "RATE", {0}), grpc::StatusCode::INVALID_ARGUMENT, "rule.levels[level 1].threshold"});
  bad.push_back({StaticRule("R-X", "LOSS", {100}), grpc::StatusCode::INVALID_ARGUMENT, "rule.levels[level 1].threshold"});
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
  CHECK(resp.evaluated() == 3);
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

bool WaitUntil(const std::function<bool()>& pred, absl::Duration timeout = absl::Seconds(30)) {
  const absl::Time give_up = absl::Now() + timeout;
  while (absl::Now() < give_up) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return pred();
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
  v1::CreateWhitelistEntryRequest wl;
  wl.set_actor("admin");
  wl.mutable_entry()->set_rule_code("R-RATE");
  wl.mutable_entry()->mutable_scope()->set_unit_code("S2");
  wl.mutable_entry()->set_reason("known meter fault");
  wl.mutable_entry()->mutable_frozen_until()->set_seconds(absl::ToUnixSeconds(absl::Now() + absl::Hours(1)));
  {
    grpc::ClientContext ctx;
    v1::WhitelistEntry out;
    REQUIRE(stack.monitor().CreateWhitelistEntry(&ctx, wl, &out).ok());
  }
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

}  // namespace
}  // namespace aw::testing
