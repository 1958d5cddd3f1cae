// The report service's timer rows and job protocol against a real
// PostgreSQL, with time driven by the test: a schedule fires once at its
// time however many replicas drain together, and catches up missed firings
// one period each; a job cancelled while it runs stores nothing; a job whose
// replica died is taken over after its lease; reports past retention lose
// their file.
#include <thread>

#include <catch2/catch.hpp>
#include <prometheus/registry.h>

#include "common/background.h"
#include "common/clock.h"
#include "common/migrations.h"
#include "common/pg.h"
#include "common/timestamp.h"
#include "services/report/generator.h"
#include "services/report/report_logic.h"
#include "services/report/report_store.h"
#include "tests/support/test_db.h"

namespace aw::report {
std::vector<db::EmbeddedFile> MigrationFiles();

namespace {

using aw::testing::TestDatabase;

// 2025-03-10 (a Monday) 12:00 UTC.
const absl::Time kStart = absl::FromCivil(absl::CivilSecond(2025, 3, 10, 12, 0, 0), absl::UTCTimeZone());

v1::Identity Centre() {
  v1::Identity id;
  id.mutable_principal()->set_subject("centre.li");
  id.mutable_principal()->add_roles(v1::ROLE_CENTRE_AUDITOR);
  return id;
}

v1::ReportParams Params(v1::ReportKind kind, const std::string& period) {
  v1::ReportParams p;
  p.set_kind(kind);
  p.set_format(v1::EXPORT_FORMAT_JSON);
  p.mutable_scope()->set_unit_code("P");
  p.mutable_scope()->set_include_descendants(true);
  p.mutable_period()->set_key(period);
  return *NormalisedParams(p, "params");
}

// One replica: its own pool and store over the migrated schema, and a
// generator (its sources lead nowhere: these cases gather nothing).
struct Replica {
  Replica(const TestDatabase& db, Clock* clock)
      : pool(db::PoolOptions{.url = db.url(), .schema = "report", .size = 2}),
        store(&pool),
        metrics(registry),
        sources({.ingest = Nowhere(), .monitor = Nowhere(), .audit = Nowhere(), .scoring = Nowhere()},
                absl::Seconds(1)),
        generator(&store, &sources, &metrics, {.lease = absl::Minutes(2), .retention = absl::Hours(24), .clock = clock}) {}
  static std::shared_ptr<grpc::Channel> Nowhere() {
    return grpc::CreateChannel("127.0.0.1:1", grpc::InsecureChannelCredentials());
  }
  db::Pool pool;
  ReportStore store;
  prometheus::Registry registry;
  ReportMetrics metrics;
  Sources sources;
  Generator generator;
};

struct Fixture {
  explicit Fixture(const TestDatabase& db) : clock(kStart), a(db, &clock), b(db, &clock) {
    REQUIRE(aw::testing::MigrateSchema(db.url(), "report", MigrationFiles()).ok());
  }
  FakeClock clock;
  Replica a, b;
};

TEST_CASE("A schedule fires once at its time across two replicas, and catches up missed firings one period each",
          "[integration][report]") {
  TestDatabase db;
  Fixture f(db);
  v1::ReportSchedule s;
  *s.mutable_params() = Params(v1::REPORT_KIND_DAILY_AUDIT, "2025-03-09");
  s.set_cadence(v1::CADENCE_DAILY);
  s.set_at("06:00");  // UTC+8: 22:00 UTC the day before
  auto schedule = NormalisedSchedule(s, "schedule");
  REQUIRE(schedule.ok());
  SetTimestamp(NextFiring(*schedule, f.clock.Now()), schedule->mutable_next_run_at());
  auto saved = f.a.store.CreateSchedule(*schedule, {"P"}, Centre(), "daily", f.clock.Now());
  REQUIRE(saved.ok());
  CHECK(TimeOf(saved->next_run_at()) == absl::FromCivil(absl::CivilSecond(2025, 3, 10, 22, 0, 0), absl::UTCTimeZone()));

  auto jobs = [&] {
    JobFilter filter{.schedule_id = saved->id()};
    auto listed = f.a.store.ListJobs(filter, 0, 100);
    REQUIRE(listed.ok());
    return *listed;
  };
  // Not yet.
  f.clock.Set(kStart + absl::Hours(9) + absl::Minutes(59));
  CHECK_FALSE(*f.a.generator.FireOne());
  CHECK(jobs().empty());
  // At 22:00 both replicas drain at once: one job.
  f.clock.Set(kStart + absl::Hours(10));
  absl::StatusOr<int> by_b = 0;
  std::thread other([&] { by_b = DrainDue([&] { return f.b.generator.FireOne(); }); });
  const absl::StatusOr<int> by_a = DrainDue([&] { return f.a.generator.FireOne(); });
  other.join();
  REQUIRE(by_a.ok());
  REQUIRE(by_b.ok());
  CHECK(*by_a + *by_b == 1);
  auto fired = jobs();
  REQUIRE(fired.size() == 1);
  CHECK(fired[0].params().period().key() == "2025-03-10");  // local day 03-11: the day before
  CHECK(fired[0].state() == v1::REPORT_STATE_QUEUED);
  CHECK(fired[0].requested_by() == "centre.li");
  CHECK(fired[0].schedule_id() == saved->id());

  // Down for three days: the missed firings come one period each, then none.
  f.clock.Set(kStart + absl::Hours(10 + 72));
  auto ran = DrainDue([&] { return f.b.generator.FireOne(); });
  REQUIRE(ran.ok());
  CHECK(*ran == 3);
  std::vector<std::string> periods;
  for (const auto& j : jobs()) periods.push_back(j.params().period().key());
  CHECK(periods == std::vector<std::string>{"2025-03-13", "2025-03-12", "2025-03-11", "2025-03-10"});
  auto after = f.a.store.ListSchedules(false, 0, 10);
  REQUIRE(after.ok());
  CHECK(TimeOf((*after)[0].next_run_at()) == kStart + absl::Hours(10 + 96));

  // A disabled schedule fires no more.
  REQUIRE(f.a.store.DisableSchedule(saved->id(), "centre.li", "not needed", f.clock.Now()).ok());
  f.clock.Set(kStart + absl::Hours(10 + 200));
  CHECK_FALSE(*f.a.generator.FireOne());
}

TEST_CASE("A job cancelled while it runs stores nothing, and a dead replica's job is taken over after its lease",
          "[integration][report]") {
  TestDatabase db;
  Fixture f(db);
  auto job = f.a.store.CreateJob(
      {.params = Params(v1::REPORT_KIND_MONTHLY_SUMMARY, "2025-02"), .scope_path = {"P"}, .identity = Centre(),
       .idempotency_key = "k1"},
      f.clock.Now());
  REQUIRE(job.ok());
  // Replica a takes it and makes progress.
  auto claimed = f.a.store.ClaimJob(f.clock.Now(), absl::Minutes(2));
  REQUIRE(claimed.ok());
  REQUIRE(claimed->has_value());
  CHECK((*claimed)->id == job->id());
  CHECK((*claimed)->identity.principal().subject() == "centre.li");
  CHECK(*f.a.store.Progress(job->id(), 20, "gathering", f.clock.Now() + absl::Minutes(2)));
  // Nobody else may take it while the lease holds.
  CHECK_FALSE(f.b.store.ClaimJob(f.clock.Now() + absl::Minutes(1), absl::Minutes(2))->has_value());
  // Cancelled while running: it stays RUNNING until its replica looks.
  auto cancelling = f.b.store.Cancel(job->id(), f.clock.Now());
  REQUIRE(cancelling.ok());
  CHECK(cancelling->job.state() == v1::REPORT_STATE_RUNNING);
  CHECK(cancelling->job.stage() == "cancelling");
  // The replica's next step is told to stop; a file it stores anyway is refused.
  CHECK_FALSE(*f.a.store.Progress(job->id(), 80, "writing json", f.clock.Now() + absl::Minutes(2)));
  StoredFile file{.bytes = "{}", .file_name = "x.json", .content_type = "application/json", .sha256 = "00",
                  .as_of = f.clock.Now(), .expires_at = f.clock.Now() + absl::Hours(24)};
  CHECK_FALSE(*f.a.store.Finish(job->id(), file, f.clock.Now()));
  auto ended = f.a.store.GetJob(job->id());
  CHECK(ended->job.state() == v1::REPORT_STATE_CANCELLED);
  CHECK(ended->job.size_bytes() == 0);
  CHECK(db.Query(absl::StrCat("SELECT count(*) FROM report.files WHERE job_id = ", job->id())) == "0");
  CHECK(f.a.store.Chunk(job->id(), 0, 10).status().code() == absl::StatusCode::kFailedPrecondition);
  CHECK(f.a.store.Cancel(job->id(), f.clock.Now()).status().code() == absl::StatusCode::kFailedPrecondition);

  // Another job; its replica dies after claiming it: taken over once the lease is over.
  auto second = f.a.store.CreateJob(
      {.params = Params(v1::REPORT_KIND_MONTHLY_SUMMARY, "2025-01"), .scope_path = {"P"}, .identity = Centre(),
       .idempotency_key = "k2"},
      f.clock.Now());
  REQUIRE(second.ok());
  REQUIRE(f.a.store.ClaimJob(f.clock.Now(), absl::Minutes(2))->has_value());
  CHECK_FALSE(f.b.store.ClaimJob(f.clock.Now() + absl::Seconds(119), absl::Minutes(2))->has_value());
  auto taken = f.b.store.ClaimJob(f.clock.Now() + absl::Seconds(121), absl::Minutes(2));
  REQUIRE(taken->has_value());
  CHECK((*taken)->id == second->id());
  CHECK((*taken)->attempts == 2);
  REQUIRE(*f.b.store.Finish(second->id(), file, f.clock.Now()));
  CHECK(*f.b.store.Chunk(second->id(), 0, 10) == "{}");
  CHECK(*f.b.store.Chunk(second->id(), 1, 10) == "}");
}

TEST_CASE("Reports past retention lose their file and stay listed as EXPIRED", "[integration][report]") {
  TestDatabase db;
  Fixture f(db);
  auto job = f.a.store.CreateJob(
      {.params = Params(v1::REPORT_KIND_MONTHLY_SUMMARY, "2025-02"), .scope_path = {"P", "C1"}, .identity = Centre(),
       .idempotency_key = "k1"},
      f.clock.Now());
  REQUIRE(job.ok());
  REQUIRE(f.a.store.ClaimJob(f.clock.Now(), absl::Minutes(2))->has_value());
  StoredFile file{.bytes = std::string(1000, 'x'), .file_name = "x.json", .content_type = "application/json",
                  .sha256 = "00", .as_of = f.clock.Now(), .expires_at = f.clock.Now() + absl::Hours(24)};
  REQUIRE(*f.a.store.Finish(job->id(), file, f.clock.Now()));
  CHECK(f.a.store.ReadGauges()->stored_bytes == 1000);
  f.clock.Advance(absl::Hours(23));
  CHECK(*f.a.generator.Expire() == 0);
  f.clock.Advance(absl::Hours(1));
  CHECK(*f.a.generator.Expire() == 1);
  auto expired = f.a.store.GetJob(job->id());
  CHECK(expired->job.state() == v1::REPORT_STATE_EXPIRED);
  CHECK(f.a.store.Chunk(job->id(), 0, 10).status().code() == absl::StatusCode::kFailedPrecondition);
  CHECK(f.a.store.ReadGauges()->stored_bytes == 0);
  // Still found by its scope, and by a unit above it.
  CHECK(f.a.store.ListJobs({.scope_unit = "C1"}, 0, 10)->size() == 1);
  CHECK(f.a.store.ListJobs({.scope_unit = "P"}, 0, 10)->size() == 1);
  CHECK(f.a.store.ListJobs({.scope_unit = "D1"}, 0, 10)->empty());
}

}  // namespace
}  // namespace aw::report
