// Scoring's timer rows against a real PostgreSQL and real ingest and audit
// services, with the evaluator's clock driven by the test: a scheme schedules
// its year's evaluations; each runs once after its deadline however many
// replicas drain together, and is published when its period has none; a row
// leased by a replica that died runs once its lease is over; late data makes
// an evaluated period due again as an unpublished run; a row touched while it
// runs stays due; a failed run is tried again after the retry delay.
#include <thread>

#include <catch2/catch.hpp>
#include <prometheus/registry.h>

#include "auditwatch/v1/ingest.grpc.pb.h"
#include "common/clock.h"
#include "common/migrations.h"
#include "common/pg.h"
#include "services/scoring/evaluator.h"
#include "services/scoring/scoring_logic.h"
#include "services/scoring/scoring_store.h"
#include "services/scoring/sources.h"
#include "tests/support/process.h"
#include "tests/support/readings.h"
#include "tests/support/test_db.h"

namespace aw::scoring {
std::vector<db::EmbeddedFile> MigrationFiles();

namespace {

using aw::testing::TestDatabase;

// 2025-01-15 09:00 UTC.
const absl::Time kStart = absl::FromCivil(absl::CivilSecond(2025, 1, 15, 9, 0, 0), absl::UTCTimeZone());
absl::Time Day(int month, int day) { return absl::FromCivil(absl::CivilDay(2025, month, day), absl::UTCTimeZone()); }

// Ingest and audit in a process of their own (the scoring module is not
// running: the test drives the evaluator), a two-county tree with one
// indicator, a migrated scoring schema and its store.
struct Scoring {
  explicit Scoring(const TestDatabase& db)
      : process("ingest,monitor,audit", db.url()),
        clock(kStart),
        pool(db::PoolOptions{.url = db.url(), .schema = "scoring", .size = 4}),
        store(&pool),
        metrics(registry),
        sources(process.Channel("ingest"), process.Channel("audit"), absl::Seconds(30)),
        evaluator(&store, &sources, &metrics, {.lease = absl::Minutes(10), .retry_after = absl::Minutes(1), .clock = &clock}) {
    REQUIRE(aw::testing::WaitForHealth(process.address("audit"), "", "SERVING") == "SERVING");
    REQUIRE(aw::testing::MigrateSchema(db.url(), "scoring", MigrationFiles()).ok());
    auto ingest = v1::IngestService::NewStub(process.Channel("ingest"));
    aw::testing::CreateUnits(*ingest, aw::testing::TwoCounties(), "2025-01-01");
    aw::testing::CreateIndicator(*ingest, {.code = "RATE"});
    grpc::ClientContext ctx;
    v1::ImportReadingsResponse summary;
    auto stream = ingest->ImportReadings(&ctx, &summary);
    REQUIRE(stream->Write(aw::testing::MakeBatch(
        "jan", {{"S1", "RATE", "2025-01", 95}, {"S2", "RATE", "2025-01", 100}, {"S3", "RATE", "2025-01", 90}})));
    stream->WritesDone();
    REQUIRE(stream->Finish().ok());
    REQUIRE(summary.accepted() == 3);

    scheme.set_year(2025);
    scheme.set_name("2025");
    v1::SchemeItem* it = scheme.add_items();
    it->set_indicator_code("RATE");
    it->set_class_(v1::INDICATOR_CLASS_MAIN);
    it->add_unit_types(v1::UNIT_TYPE_SUPPLY_STATION);
    it->set_base_value(90);
    it->set_full_score_value(100);
    it->set_direction(v1::DIRECTION_HIGHER_IS_BETTER);
    it->set_points(10);
    it->set_enabled(true);
    scheme = Normalised(scheme);
    REQUIRE(ValidateScheme(scheme).ok());
    std::vector<Due> schedule;
    for (const auto& [period, at] : ScheduleOf(scheme, clock.Now())) {
      schedule.push_back({.period_key = period.key(),
                          .period_type = static_cast<int>(period.type()),
                          .trigger = v1::RUN_TRIGGER_SCHEDULE,
                          .due_at = at});
    }
    REQUIRE(store.SaveScheme(scheme, 0, "admin", "", clock.Now(), schedule).ok());
  }

  std::vector<v1::EvaluationRun> Runs(const std::string& period) {
    auto runs = store.ListRuns(period, KeyPage{.limit = 100});
    REQUIRE(runs.ok());
    return *runs;
  }
  int DrainNow(Evaluator& e) {
    auto ran = e.RunDue();
    INFO(ran.status().ToString());
    REQUIRE(ran.ok());
    return *ran;
  }

  aw::testing::AuditwatchProcess process;
  FakeClock clock;
  db::Pool pool;
  ScoringStore store;
  prometheus::Registry registry;
  ScoringMetrics metrics;
  Sources sources;
  Evaluator evaluator;
  v1::Scheme scheme;
};

TEST_CASE("A scheduled evaluation runs once after its deadline however many replicas drain", "[integration][scoring]") {
  TestDatabase db;
  Scoring s(db);
  REQUIRE(s.store.ListDue()->size() == 14);  // all of 2025 lies ahead on January 15th
  CHECK(s.DrainNow(s.evaluator) == 0);

  // January's evaluation is due at the start of February 11th (10 days after the month).
  s.clock.Set(Day(2, 11) - absl::Seconds(1));
  CHECK(s.DrainNow(s.evaluator) == 0);
  s.clock.Set(Day(2, 11));
  // A second replica with its own connections drains at the same moment.
  db::Pool other_pool(db::PoolOptions{.url = db.url(), .schema = "scoring", .size = 2});
  ScoringStore other_store(&other_pool);
  Evaluator other(&other_store, &s.sources, &s.metrics, {.clock = &s.clock});
  int a = 0, b = 0;
  std::thread t([&] { a = *other.RunDue(); });
  b = s.DrainNow(s.evaluator);
  t.join();
  CHECK(a + b == 1);
  const auto runs = s.Runs("2025-01");
  REQUIRE(runs.size() == 1);
  CHECK(runs[0].trigger() == v1::RUN_TRIGGER_SCHEDULE);
  CHECK(runs[0].published());  // the period had no published run
  CHECK(runs[0].units() == 7);
  CHECK(s.store.ListDue()->size() == 13);
  CHECK(s.DrainNow(s.evaluator) == 0);
  // S1: RATE 95 → 8 of 10: main 80; composite 80 × 0.5 + 100 × 0.4 = 80 (no process item: 50 / 40 of 90).
  auto s1 = s.store.Breakdown(runs[0].id(), "S1");
  REQUIRE(s1.ok());
  CHECK(s1->composite() == Approx(80 * 50.0 / 90 + 100 * 40.0 / 90).epsilon(1e-12));

  // A replica that claimed February's row and died: the row waits for its lease.
  s.clock.Set(Day(3, 11));
  auto claimed = s.store.ClaimDue(s.clock.Now(), absl::Minutes(10));
  REQUIRE(claimed.ok());
  REQUIRE(claimed->has_value());
  CHECK((*claimed)->period_key == "2025-02");
  CHECK(s.DrainNow(s.evaluator) == 0);
  s.clock.Advance(absl::Minutes(10) + absl::Seconds(1));
  CHECK(s.DrainNow(s.evaluator) == 1);
  CHECK(s.Runs("2025-02").size() == 1);
}

TEST_CASE("Late data makes an evaluated period due again as an unpublished run", "[integration][scoring]") {
  TestDatabase db;
  Scoring s(db);
  s.clock.Set(Day(2, 11));
  REQUIRE(s.DrainNow(s.evaluator) == 1);
  const v1::EvaluationRun published = s.Runs("2025-01")[0];

  // A period without a run is not marked; January is, after the delay.
  auto touched = s.store.MarkDirty({"2025-01", "2025-05"}, v1::RUN_TRIGGER_LATE_DATA, s.clock.Now() + absl::Seconds(30),
                                   "ingest.readings", 41);
  REQUIRE(touched.ok());
  CHECK(*touched == 1);
  CHECK(*s.store.Cursor("ingest.readings") == 41);
  CHECK(s.DrainNow(s.evaluator) == 0);
  s.clock.Advance(absl::Seconds(30));
  CHECK(s.DrainNow(s.evaluator) == 1);
  auto runs = s.Runs("2025-01");
  REQUIRE(runs.size() == 2);
  CHECK(runs[0].trigger() == v1::RUN_TRIGGER_LATE_DATA);
  CHECK_FALSE(runs[0].published());
  CHECK(runs[1].id() == published.id());
  CHECK(runs[1].published());
  CHECK(runs[0].results_digest() == published.results_digest());  // the inputs did not change

  // Touched again while it runs: the row stays due for another run.
  REQUIRE(s.store.MarkDirty({"2025-01"}, v1::RUN_TRIGGER_DEDUCTION, s.clock.Now(), "audit.facts", 7).ok());
  auto claimed = s.store.ClaimDue(s.clock.Now(), absl::Minutes(10));
  REQUIRE(claimed.ok());
  REQUIRE(claimed->has_value());
  REQUIRE(s.store.MarkDirty({"2025-01"}, v1::RUN_TRIGGER_DEDUCTION, s.clock.Now(), "audit.facts", 8).ok());
  auto period = Period::Parse("2025-01");
  REQUIRE(s.evaluator.Run(*period, v1::RUN_TRIGGER_DEDUCTION, "scoring", PublishMode::kNo, **claimed).ok());
  CHECK(s.DrainNow(s.evaluator) == 1);  // the second touch
  CHECK(s.DrainNow(s.evaluator) == 0);
  CHECK(s.Runs("2025-01").size() == 4);
}

TEST_CASE("A failed evaluation is due again after the retry delay", "[integration][scoring]") {
  TestDatabase db;
  Scoring s(db);
  s.clock.Set(Day(2, 11));
  // A replica whose ingest cannot be reached.
  Sources away(grpc::CreateChannel("127.0.0.1:1", grpc::InsecureChannelCredentials()),
               grpc::CreateChannel("127.0.0.1:1", grpc::InsecureChannelCredentials()), absl::Seconds(2));
  Evaluator cut_off(&s.store, &away, &s.metrics, {.retry_after = absl::Minutes(1), .clock = &s.clock});
  CHECK(*cut_off.RunDue() == 1);  // tried, failed
  CHECK(s.Runs("2025-01").empty());
  CHECK(s.DrainNow(s.evaluator) == 0);  // not due again yet
  s.clock.Advance(absl::Minutes(1));
  CHECK(s.DrainNow(s.evaluator) == 1);
  CHECK(s.Runs("2025-01").size() == 1);
}

}  // namespace
}  // namespace aw::scoring
