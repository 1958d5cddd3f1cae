// Theft-suspicion runs, labels and models against a real PostgreSQL: a run is
// saved with its suspects and the events it opens, each suspect linked to its
// event; inspection outcomes become labels of the suspect's evidence once,
// with the feed cursor fenced; a retrained model is adopted only when it ranks
// the held-back outcomes better than the method in use — a worse one is kept
// on record and not used.
#include <random>

#include <catch2/catch.hpp>

#include "absl/strings/str_format.h"
#include "common/pg.h"
#include "services/monitor/directory.h"
#include "services/monitor/monitor_store.h"
#include "services/monitor/theft_analysis.h"
#include "services/monitor/theft_logic.h"
#include "services/monitor/theft_store.h"
#include "tests/support/rules.h"
#include "tests/support/test_db.h"

namespace aw::monitor {
std::vector<db::EmbeddedFile> MigrationFiles();

namespace {

using aw::testing::TestDatabase;

v1::Rule Rule() { return aw::testing::MakeTheftRule("THEFT", "T-THEFT"); }

struct Stack {
  explicit Stack(const TestDatabase& db)
      : pool(db::PoolOptions{.url = db.url(), .schema = "monitor", .size = 2}),
        store(&pool, Clock::Real()),
        theft(&pool, &store),
        // Training reads no consumption: the directory's channel goes nowhere.
        directory(grpc::CreateChannel("127.0.0.1:1", grpc::InsecureChannelCredentials()), absl::Seconds(1),
                  Clock::Real()),
        analyzer(&store, &theft, &directory, {.min_labels = 30}) {
    REQUIRE(aw::testing::MigrateSchema(db.url(), "monitor", MigrationFiles()).ok());
  }

  db::Pool pool;
  MonitorStore store;
  TheftStore theft;
  Directory directory;
  TheftAnalyzer analyzer;
};

// 400 suspects, one in three a thief. `features` (what the transparent score
// reads) and `signals` (what a model learns from) each either tell thieves
// apart or are noise.
struct Population {
  std::vector<SuspectRow> rows;
  std::vector<bool> theft;
};
Population MakePopulation(bool features_tell, bool signals_tell) {
  Population p;
  std::mt19937 rng(7);
  std::uniform_real_distribution<double> noise(0, 1);
  for (int i = 0; i < 400; ++i) {
    const bool thief = i % 3 == 0;
    SuspectRow r;
    r.customer = absl::StrFormat("C%03d", i);
    r.station = i % 2 == 0 ? "S1" : "S2";
    r.category = "residential";
    r.rank = i + 1;
    r.level = 1;
    r.score = 0.99 - i * 0.0001;
    for (int f = 0; f < theft::kFeatureCount; ++f) {
      r.features[f] = features_tell ? (f == theft::kSustainedDrop ? (thief ? 0.8 : 0.1) + 0.1 * noise(rng) : 0)
                                    : noise(rng);
      r.signals[f] = signals_tell ? (thief ? 1.0 : -1.0) * (f + 1) + 0.2 * noise(rng) : noise(rng);
    }
    v1::TheftReason reason;
    reason.set_code("SUSTAINED_DROP");
    reason.set_weight(1);
    r.reasons.push_back(reason);
    p.rows.push_back(std::move(r));
    p.theft.push_back(thief);
  }
  return p;
}

// Saves a run of the population (every suspect at level 1 opens an event)
// and records each suspect's inspection outcome; the run's id.
int64_t RunAndLabel(Stack& s, const Population& p) {
  const v1::Rule rule = Rule();
  v1::TheftAnalysis run;
  run.set_rule_code(rule.code());
  run.set_first_day("2025-03-01");
  run.set_last_day("2026-03-31");
  run.set_method(v1::THEFT_METHOD_TRANSPARENT);
  run.set_customers(400);
  for (int n : {400, 0, 0, 0}) run.add_per_level(n);
  std::vector<TheftVerdict> verdicts;
  for (const SuspectRow& r : p.rows) verdicts.push_back({r.customer, r.station, r.level, r.score, "suspect"});
  auto saved = s.theft.SaveRun(run, p.rows, "run-1", "centre.li", absl::Now(),
                               [&](const std::vector<OpenTheftEvent>& open, int64_t id) {
                                 return PlanTheftEvents(rule, "2026-03", verdicts, open,
                                                        [](const TheftVerdict&) { return false; }, id);
                               });
  REQUIRE(saved.ok());
  CHECK(saved->events_opened() == 400);
  CHECK(saved->per_level(0) == 400);

  TheftStore::SuspectFilter all{.run_id = saved->id(), .limit = 1000};
  int64_t total = 0;
  auto suspects = s.theft.ListSuspects(all, &total);
  REQUIRE(suspects.ok());
  REQUIRE(total == 400);
  std::vector<TheftStore::Outcome> outcomes;
  for (const v1::TheftSuspect& x : *suspects) {
    REQUIRE(x.event_id() > 0);
    const int i = x.rank() - 1;
    outcomes.push_back({.order_id = 1000 + i, .event_id = x.event_id(), .theft = p.theft[i]});
  }
  auto held = [](const std::string& c) { return theft::HeldBack(c); };
  auto recorded = s.theft.RecordOutcomes(outcomes, held, "audit.facts", 0, 50, absl::Now());
  REQUIRE(recorded.ok());
  CHECK(*recorded == 400);
  return saved->id();
}

TEST_CASE("A run is saved with its suspects and their events, and inspection outcomes label them once",
          "[integration][theft]") {
  TestDatabase db;
  Stack s(db);
  const Population p = MakePopulation(true, false);
  const int64_t run = RunAndLabel(s, p);

  // The same request id again: the run it made, nothing saved twice.
  auto again = s.theft.SaveRun(v1::TheftAnalysis(), {}, "run-1", "centre.li", absl::Now(),
                               [](const std::vector<OpenTheftEvent>&, int64_t) { return TheftEventPlan(); });
  REQUIRE(again.ok());
  CHECK(again->id() == run);
  CHECK(std::stoi(db.Query("SELECT count(*) FROM monitor.theft_runs")) == 1);
  CHECK(std::stoi(db.Query("SELECT count(*) FROM monitor.events WHERE subject <> ''")) == 400);

  // Suspects by station, and compared with a run that does not have them.
  TheftStore::SuspectFilter s1{.run_id = run, .stations = {"S1"}, .limit = 1000};
  auto only_s1 = s.theft.ListSuspects(s1, nullptr);
  REQUIRE(only_s1.ok());
  CHECK(only_s1->size() == 200);
  CHECK(only_s1->front().reasons(0).code() == "SUSTAINED_DROP");
  CHECK(only_s1->front().previous_level() == 0);

  auto labels = s.theft.ListLabels(0, 1000);
  REQUIRE(labels.ok());
  REQUIRE(labels->size() == 400);
  int held_back = 0;
  for (const v1::TheftLabel& l : *labels) {
    CHECK(l.analysis_id() == run);
    CHECK(l.held_back() == theft::HeldBack(l.customer_id()));
    CHECK(l.theft() == p.theft[l.work_order_id() - 1000]);
    held_back += l.held_back();
  }
  CHECK(held_back > 80);
  CHECK(held_back < 160);

  // An outcome recorded again adds nothing; a writer whose cursor is stale is refused.
  const TheftStore::Outcome first{.order_id = 1000, .event_id = (*labels).back().event_id(), .theft = true};
  auto twice = s.theft.RecordOutcomes({first}, [](const std::string&) { return false; }, "audit.facts", 50, 60,
                                      absl::Now());
  REQUIRE(twice.ok());
  CHECK(*twice == 0);
  auto stale = s.theft.RecordOutcomes({first}, [](const std::string&) { return false; }, "audit.facts", 50, 70,
                                      absl::Now());
  CHECK(stale.status().code() == absl::StatusCode::kAborted);
  CHECK(*s.theft.Cursor("audit.facts") == 60);
}

TEST_CASE("A retrained theft model is used only when it beats the method in use on the held-back outcomes",
          "[integration][theft]") {
  TestDatabase db;
  Stack s(db);
  SECTION("a model of noise against a transparent score that ranks well: kept on record, not used") {
    RunAndLabel(s, MakePopulation(/*features_tell=*/true, /*signals_tell=*/false));
    auto v = s.analyzer.Train("weekly", "centre.li");
    REQUIRE(v.ok());
    CHECK(v->version() == 1);
    CHECK_FALSE(v->adopted());
    CHECK(v->champion_auc() > 0.99);
    CHECK(v->challenger_auc() < 0.8);
    CHECK(v->verdict().find("transparent score") != std::string::npos);
    CHECK(v->audit().created_by() == "centre.li");
    CHECK(v->audit().reason() == "weekly");
    auto in_use = s.theft.ModelInUse();
    REQUIRE(in_use.ok());
    CHECK_FALSE(in_use->has_value());
  }
  SECTION("a model that ranks better than the transparent score is adopted, and one no better after it is not") {
    RunAndLabel(s, MakePopulation(/*features_tell=*/false, /*signals_tell=*/true));
    auto v = s.analyzer.Train("first", "centre.li");
    REQUIRE(v.ok());
    CHECK(v->adopted());
    CHECK(v->challenger_auc() > 0.99);
    CHECK(v->champion_auc() < 0.8);
    auto in_use = s.theft.ModelInUse();
    REQUIRE(in_use.ok());
    REQUIRE(in_use->has_value());
    CHECK((*in_use)->version == 1);
    // Retrained on the same outcomes it cannot do better than the model in use.
    auto again = s.analyzer.Train("again", "centre.li");
    REQUIRE(again.ok());
    CHECK_FALSE(again->adopted());
    CHECK(again->verdict().find("against model 1") != std::string::npos);
    CHECK((*s.theft.ModelInUse())->version == 1);
    auto models = s.theft.ListModels(0, 10);
    REQUIRE(models.ok());
    REQUIRE(models->size() == 2);
    CHECK(models->front().version() == 2);
  }
}

TEST_CASE("Training without both outcomes among the labels not held back is refused, saying what is missing",
          "[integration][theft]") {
  TestDatabase db;
  Stack s(db);
  auto v = s.analyzer.Train("", "centre.li");
  CHECK(v.status().code() == absl::StatusCode::kFailedPrecondition);
  CHECK(std::string(v.status().message()).find("0 confirmed and 0 refuted") != std::string::npos);
}

}  // namespace
}  // namespace aw::monitor
