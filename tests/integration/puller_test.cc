// Scheduled pulls against a second database in the throwaway cluster acting as
// the utility's reporting system.
#include "services/ingest/puller.h"

#include <prometheus/registry.h>

#include <thread>

#include <catch2/catch.hpp>

#include "common/clock.h"
#include "common/migrations.h"
#include "common/pg.h"
#include "tests/support/test_db.h"

namespace aw::ingest {
std::vector<db::EmbeddedFile> MigrationFiles();

namespace {

using aw::testing::TestDatabase;

struct Replica {
  Replica(const TestDatabase& db, const TestDatabase& reporting, Clock* clock = Clock::Real())
      : pool(db::PoolOptions{.url = db.url(), .schema = "ingest", .size = 3}),
        store(&pool, IngestStore::Options{.clock = clock}),
        metrics(registry),
        puller(&store, &metrics,
               {.data_sources = {{"reporting", reporting.url()}}, .interval = absl::Seconds(3600), .clock = clock}) {
    REQUIRE(aw::testing::MigrateSchema(db.url(), "ingest", MigrationFiles()).ok());
  }
  db::Pool pool;
  IngestStore store;
  prometheus::Registry registry;
  IngestMetrics metrics;
  Puller puller;
};

void Seed(IngestStore& store) {
  for (auto [code, type, parent] : {std::tuple{"P", v1::UNIT_TYPE_PROVINCE, ""},
                                    {"C1", v1::UNIT_TYPE_CITY_BUREAU, "P"},
                                    {"C2", v1::UNIT_TYPE_CITY_BUREAU, "P"}}) {
    v1::CreateUnitRequest u;
    u.set_code(code);
    u.set_name(code);
    u.set_type(type);
    u.set_parent_code(parent);
    u.set_effective_from("2025-01-01");
    u.set_actor("tester");
    REQUIRE(store.CreateUnit(u).ok());
  }
  for (auto [code, kind] : {std::pair{"SOLD", v1::INDICATOR_KIND_SYSTEM}, {"SURVEY", v1::INDICATOR_KIND_MANUAL}}) {
    v1::UpsertIndicatorRequest r;
    v1::Indicator* i = r.mutable_indicator();
    i->set_code(code);
    i->set_name_zh(code);
    i->set_category(v1::BUSINESS_CATEGORY_BILLING);
    i->set_kind(kind);
    i->set_direction(v1::DIRECTION_HIGHER_IS_BETTER);
    i->add_allowed_period_types(v1::PERIOD_TYPE_MONTH);
    i->set_min_value(0);
    i->set_max_value(1e6);
    i->set_rollup(v1::ROLLUP_RULE_SUM);
    i->set_unit_of_measure("kWh");
    i->set_enabled(true);
    i->set_effective_year(2025);
    r.set_actor("tester");
    REQUIRE(store.UpsertIndicator(r).ok());
  }
}

// The latest month already over, and the one before it.
const std::string kLast = FirstPullPeriod(PeriodType::kMonth, absl::Now()).key();
const std::string kBefore = FirstPullPeriod(PeriodType::kMonth, absl::Now()).Previous().key();

// The reporting system: one table of monthly electricity sold by unit.
void SeedReporting(const TestDatabase& reporting) {
  reporting.Query("CREATE TABLE monthly_sales (unit_code text, month text, kwh double precision);"
                  "INSERT INTO monthly_sales VALUES ('C1', '" + kLast + "', 1200.5), ('C2', '" + kLast +
                  "', 980), ('ZZ', '" + kLast + "', 5), ('C1', '" + kBefore + "', 1300); SELECT 1");
}

v1::UpsertPullBindingRequest Binding(std::string query = "SELECT unit_code, kwh FROM monthly_sales WHERE month = $1") {
  v1::UpsertPullBindingRequest r;
  v1::PullBinding* b = r.mutable_binding();
  b->set_name("sales");
  b->set_indicator_code("SOLD");
  b->set_data_source("reporting");
  b->set_query(std::move(query));
  b->set_period_type(v1::PERIOD_TYPE_MONTH);
  b->set_run_day_offset(3);
  b->set_run_time("02:00");
  b->set_enabled(true);
  r.set_actor("tester");
  return r;
}

void MakeDue(const TestDatabase& db, const std::string& period) {
  db.Query("UPDATE ingest.pull_bindings SET next_period = '" + period +
           "', next_run_at = now() - interval '1 minute' RETURNING 1");
}

TEST_CASE("A due pull runs once across replicas and writes readings from the data source", "[pull]") {
  TestDatabase db, reporting;
  SeedReporting(reporting);
  Replica a(db, reporting), b(db, reporting);
  Seed(a.store);
  auto binding = a.puller.Upsert(Binding());
  REQUIRE(binding.ok());
  CHECK(binding->next_run_at().seconds() > 0);
  MakeDue(db, kLast);

  absl::StatusOr<int> ran_a = 0, ran_b = 0;
  std::thread ta([&] { ran_a = a.puller.RunDue(); });
  std::thread tb([&] { ran_b = b.puller.RunDue(); });
  ta.join();
  tb.join();
  REQUIRE(ran_a.ok());
  REQUIRE(ran_b.ok());
  CHECK(*ran_a + *ran_b == 1);
  CHECK(db.Query("SELECT count(*) FROM ingest.pull_runs") == "1");
  CHECK(db.Query("SELECT string_agg(source || ':' || value, ',' ORDER BY value) FROM ingest.reading_versions") ==
        "pull:sales:980,pull:sales:1200.5");
  const Period next = Period::Parse(kLast)->Next();
  CHECK(db.Query("SELECT next_period FROM ingest.pull_bindings") == next.key());
  CHECK(db.Query("SELECT next_run_at = '" + absl::FormatCivilTime(next.last_day() + 3) +
                 " 02:00+00' FROM ingest.pull_bindings") == "t");

  std::vector<v1::PullRun> runs;
  int64_t total = 0;
  REQUIRE(a.store.ListPullRuns("sales", 0, 10, /*count=*/true, &runs, &total).ok());
  REQUIRE(runs.size() == 1);
  CHECK(runs[0].state() == v1::PULL_RUN_STATE_PARTIAL);  // ZZ is not a unit
  CHECK(runs[0].rows() == 2);
  CHECK(runs[0].rejected() == 1);
  REQUIRE(runs[0].errors_size() == 1);
  CHECK(runs[0].errors(0).code() == "UNKNOWN_UNIT");
  CHECK(runs[0].period().key() == kLast);
  // Nothing else is due.
  CHECK(*a.puller.RunDue() == 0);
}

TEST_CASE("A new binding pulls the last period at its run time on the clock, then each next one", "[pull]") {
  TestDatabase db, reporting;
  reporting.Query("CREATE TABLE monthly_sales (unit_code text, month text, kwh double precision);"
                  "INSERT INTO monthly_sales VALUES ('C1', '2026-02', 700), ('C1', '2026-03', 800); SELECT 1");
  // 2026-03-02 12:00 UTC: February is over; it is pulled on March 3rd at 02:00.
  FakeClock clock(absl::FromCivil(absl::CivilSecond(2026, 3, 2, 12, 0, 0), absl::UTCTimeZone()));
  Replica r(db, reporting, &clock);
  Seed(r.store);
  auto binding = r.puller.Upsert(Binding());
  REQUIRE(binding.ok());
  const absl::Time due = absl::FromCivil(absl::CivilSecond(2026, 3, 3, 2, 0, 0), absl::UTCTimeZone());
  CHECK(binding->next_run_at().seconds() == absl::ToUnixSeconds(due));
  CHECK(*r.puller.RunDue() == 0);
  clock.Set(due - absl::Seconds(1));
  CHECK(*r.puller.RunDue() == 0);
  clock.Set(due);
  CHECK(*r.puller.RunDue() == 1);
  CHECK(*r.puller.RunDue() == 0);  // March is due on April 3rd
  CHECK(db.Query("SELECT next_period FROM ingest.pull_bindings") == "2026-03");
  clock.Set(absl::FromCivil(absl::CivilSecond(2026, 4, 3, 2, 0, 0), absl::UTCTimeZone()));
  CHECK(*r.puller.RunDue() == 1);
  CHECK(db.Query("SELECT string_agg(value::text, ',' ORDER BY period_start) FROM ingest.reading_versions") ==
        "700,800");
}

TEST_CASE("A pull that fell behind catches up period by period", "[pull]") {
  TestDatabase db, reporting;
  SeedReporting(reporting);
  Replica r(db, reporting);
  Seed(r.store);
  REQUIRE(r.puller.Upsert(Binding()).ok());
  MakeDue(db, kBefore);
  CHECK(*r.puller.RunDue() == 2);
  CHECK(db.Query("SELECT string_agg(period, ',' ORDER BY id) FROM ingest.pull_runs") == kBefore + "," + kLast);
  CHECK(db.Query("SELECT count(*) FROM ingest.reading_versions") == "3");
}

TEST_CASE("A failing pull is recorded and retried later for the same period", "[pull]") {
  TestDatabase db, reporting;
  SeedReporting(reporting);
  Replica r(db, reporting);
  Seed(r.store);
  REQUIRE(r.puller.Upsert(Binding("SELECT unit_code, kwh FROM no_such_table WHERE $1 <> ''")).ok());
  MakeDue(db, kLast);
  REQUIRE(*r.puller.RunDue() == 1);
  std::vector<v1::PullRun> runs;
  int64_t total = 0;
  REQUIRE(r.store.ListPullRuns("", 0, 10, /*count=*/true, &runs, &total).ok());
  REQUIRE(runs.size() == 1);
  CHECK(runs[0].state() == v1::PULL_RUN_STATE_FAILED);
  CHECK(runs[0].error().find("no_such_table") != std::string::npos);
  CHECK(db.Query("SELECT next_period FROM ingest.pull_bindings") == kLast);
  CHECK(db.Query("SELECT next_run_at > now() FROM ingest.pull_bindings") == "t");
}

TEST_CASE("A manual pull run reads the source again and is recorded", "[pull]") {
  TestDatabase db, reporting;
  SeedReporting(reporting);
  Replica r(db, reporting);
  Seed(r.store);
  REQUIRE(r.puller.Upsert(Binding()).ok());
  auto run = r.puller.RunNow("sales", kBefore, "operator");
  REQUIRE(run.ok());
  CHECK(run->state() == v1::PULL_RUN_STATE_SUCCEEDED);
  CHECK(run->rows() == 1);
  CHECK(run->id() > 0);
  CHECK(r.puller.RunNow("nope", kBefore, "operator").status().code() == absl::StatusCode::kNotFound);
  CHECK(r.puller.RunNow("sales", "2025-Q1", "operator").status().code() == absl::StatusCode::kInvalidArgument);
}

TEST_CASE("Pull bindings are validated field by field", "[pull]") {
  TestDatabase db, reporting;
  Replica r(db, reporting);
  Seed(r.store);
  auto field_of = [&](const v1::UpsertPullBindingRequest& req) {
    const absl::Status s = r.puller.Upsert(req).status();
    REQUIRE_FALSE(s.ok());
    return std::string(s.message().substr(0, s.message().find(':')));
  };
  auto bad = Binding();
  bad.mutable_binding()->set_data_source("warehouse");
  CHECK(field_of(bad) == "binding.data_source");
  bad = Binding("DELETE FROM monthly_sales");
  CHECK(field_of(bad) == "binding.query");
  bad = Binding();
  bad.mutable_binding()->set_indicator_code("SURVEY");
  CHECK(field_of(bad) == "binding.indicator_code");
  bad = Binding();
  bad.mutable_binding()->set_period_type(v1::PERIOD_TYPE_YEAR);
  CHECK(field_of(bad) == "binding.period_type");
  bad = Binding();
  bad.mutable_binding()->set_run_time("25:00");
  CHECK(field_of(bad) == "binding.run_time");
  // An update keeps the schedule position and counts the revision.
  REQUIRE(r.puller.Upsert(Binding()).ok());
  auto again = Binding();
  again.mutable_binding()->set_run_time("04:30");
  auto updated = r.puller.Upsert(again);
  REQUIRE(updated.ok());
  CHECK(updated->audit().version() == 2);
  CHECK(updated->run_time() == "04:30");
}

}  // namespace
}  // namespace aw::ingest
