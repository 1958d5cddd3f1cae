// Monitor benchmark: 200 enabled rules while bulk ingest runs at full speed on
// two streams for a fixed time. Prints the ingest rate, the lag from a
// reading's commit to the commit of the event it caused (percentiles), and the
// evaluator's cursor gap over the run. Prints figures; it is not a test.
//
//   monitor_bench [--seconds=60]
#include <signal.h>

#include <atomic>
#include <cstdio>
#include <thread>

#include <pqxx/pqxx>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "auditwatch/v1/ingest.grpc.pb.h"
#include "auditwatch/v1/monitor.grpc.pb.h"
#include "services/awctl/synthetic.h"
#include "services/awctl/default_rules.h"
#include "tests/support/process.h"
#include "tests/support/test_db.h"

namespace {

namespace v1 = ::auditwatch::v1;
using aw::demo::SyntheticProvince;

constexpr uint64_t kSeed = 7;
constexpr int kFirstYear = 2000;

}  // namespace

int main(int argc, char** argv) {
  int seconds = 60;
  if (argc > 1 && absl::StartsWith(argv[1], "--seconds=")) (void)absl::SimpleAtoi(argv[1] + 10, &seconds);
  aw::testing::TestDatabase db;
  aw::testing::AuditwatchProcess process("ingest,monitor", db.url(), {"--workers=4", "--db_pool_size=8"});
  if (aw::testing::WaitForHealth(process.address("monitor"), "", "SERVING") != "SERVING") {
    std::fprintf(stderr, "did not start: %s\n", process.Logs().c_str());
    return 1;
  }
  auto ingest = v1::IngestService::NewStub(process.Channel("ingest"));
  auto monitor = v1::MonitorService::NewStub(process.Channel("monitor"));
  const SyntheticProvince base(kSeed, kFirstYear);
  if (!aw::demo::LoadCatalogue(*ingest, base, "bench").status.ok()) return 1;
  std::vector<aw::demo::IndicatorSpread> spreads;
  const auto profiles = base.profiles();
  for (size_t i = 0; i < base.indicators().size(); ++i) {
    spreads.push_back({base.indicators()[i], profiles[i].mean, profiles[i].spread});
  }
  const auto set = aw::demo::DefaultRules(spreads, 3, 200);
  for (const auto& t : set.themes) {
    grpc::ClientContext ctx;
    v1::UpsertThemeRequest req;
    *req.mutable_theme() = t;
    req.set_actor("bench");
    v1::Theme out;
    if (!monitor->UpsertTheme(&ctx, req, &out).ok()) return 1;
  }
  for (const auto& r : set.rules) {
    grpc::ClientContext ctx;
    v1::UpsertRuleRequest req;
    *req.mutable_rule() = r;
    req.set_actor("bench");
    v1::Rule out;
    if (const grpc::Status s = monitor->UpsertRule(&ctx, req, &out); !s.ok()) {
      std::fprintf(stderr, "rule %s: %s\n", r.code().c_str(), s.error_message().c_str());
      return 1;
    }
  }
  std::printf("synthetic province: %zu units, %zu indicators; %zu enabled rules\n", base.units().size(),
              base.indicators().size(), set.rules.size());
  std::printf("bulk ingest on 2 streams for %d s, batches of 500, durable on ack\n\n", seconds);
  std::fflush(stdout);

  std::atomic<bool> stop{false};
  std::atomic<int64_t> accepted{0};
  std::atomic<int> next_year{kFirstYear};
  auto sender = [&](int s) {
    auto stub = v1::IngestService::NewStub(grpc::CreateCustomChannel(
        process.address("ingest"), grpc::InsecureChannelCredentials(), [&] {
          grpc::ChannelArguments a;
          a.SetInt("bench_stream", s);
          return a;
        }()));
    while (!stop) {
      const int year = next_year++;
      grpc::ClientContext ctx;
      auto stream = stub->IngestReadings(&ctx);
      std::thread writer([&] {
        SyntheticProvince(kSeed, year).ForEachBatch(500, [&](v1::ReadingBatch& b) {
          return !stop && stream->Write(b);
        });
        stream->WritesDone();
      });
      v1::BatchResult r;
      while (stream->Read(&r)) accepted += r.accepted();
      writer.join();
      stream->Finish();
    }
  };
  // The cursor gap: committed batches the evaluator has not judged yet.
  pqxx::connection sql(db.url());
  auto gap = [&]() {
    pqxx::nontransaction tx(sql);
    const pqxx::row r = tx.exec1(R"sql(
      SELECT coalesce((SELECT max(commit_seq) FROM ingest.batches), 0)
             - coalesce((SELECT position >> 20 FROM monitor.feed_cursors), 0),
             coalesce(extract(epoch FROM now() - (SELECT committed_at FROM ingest.batches
               WHERE commit_seq = (SELECT position >> 20 FROM monitor.feed_cursors))), 0))sql");
    return std::make_pair(r[0].as<int64_t>(), r[1].as<double>());
  };
  const absl::Time start = absl::Now();
  std::thread a(sender, 0), b(sender, 1);
  std::printf("%6s %14s %12s %16s\n", "t (s)", "readings", "cursor gap", "cursor age (s)");
  int64_t worst_gap = 0;
  for (int t = 10; t <= seconds; t += 10) {
    absl::SleepFor(start + absl::Seconds(t) - absl::Now());
    const auto [batches, age] = gap();
    worst_gap = std::max(worst_gap, batches);
    std::printf("%6d %14lld %12lld %16.2f\n", t, static_cast<long long>(accepted.load()),
                static_cast<long long>(batches), age);
    std::fflush(stdout);
  }
  stop = true;
  a.join();
  b.join();
  const double secs = absl::ToDoubleSeconds(absl::Now() - start);
  std::printf("\ningest: %lld readings in %.1f s = %.0f readings/s\n", static_cast<long long>(accepted.load()),
              secs, accepted / secs);
  // Let the evaluator finish, then measure commit-to-event lag of every event a reading caused.
  const absl::Time settle = absl::Now() + absl::Seconds(120);
  while (gap().first > 0 && absl::Now() < settle) absl::SleepFor(absl::Milliseconds(200));
  std::printf("after the run: cursor gap %lld batches (caught up in %.1f s)\n",
              static_cast<long long>(gap().first), absl::ToDoubleSeconds(absl::Now() - start) - secs);
  pqxx::nontransaction tx(sql);
  const pqxx::row lag = tx.exec1(R"sql(
    SELECT count(*),
           percentile_cont(0.5) WITHIN GROUP (ORDER BY l), percentile_cont(0.9) WITHIN GROUP (ORDER BY l),
           percentile_cont(0.99) WITHIN GROUP (ORDER BY l), max(l)
    FROM (SELECT extract(epoch FROM e.opened_at - b.committed_at) * 1000 AS l
          FROM monitor.events e JOIN ingest.batches b ON b.commit_seq = e.cause_seq >> 20
          WHERE e.cause_seq > 0) s)sql");
  std::printf("events caused by readings: %lld; commit-to-event lag ms: p50 %.0f  p90 %.0f  p99 %.0f  max %.0f\n",
              lag[0].as<long long>(), lag[1].is_null() ? 0 : lag[1].as<double>(),
              lag[2].is_null() ? 0 : lag[2].as<double>(), lag[3].is_null() ? 0 : lag[3].as<double>(),
              lag[4].is_null() ? 0 : lag[4].as<double>());
  std::printf("largest cursor gap during the run: %lld batches\n", static_cast<long long>(worst_gap));
  // Where the evaluator's time went, and what the events did.
  std::printf("\nfrom /metrics:\n");
  for (absl::string_view line : absl::StrSplit(aw::testing::HttpGet(process.metrics_port(), "/metrics"), '\n')) {
    if (absl::StartsWith(line, "auditwatch_monitor_evaluator_seconds_total{") ||
        absl::StartsWith(line, "auditwatch_monitor_events_total{")) {
      std::printf("  %.*s\n", static_cast<int>(line.size()), line.data());
    }
  }
  process.Stop(SIGTERM);
  return 0;
}
