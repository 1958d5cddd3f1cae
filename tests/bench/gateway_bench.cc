// Gateway benchmark: the same calls made directly to ingest and through the
// gateway's proxy, against the same backend in the same run, in alternating
// rounds (the machine's speed drifts): unary latency (sequential GetUnit,
// p50/p90/p99 and the p50 the gateway adds), unary throughput (16 callers)
// and bulk ingest (IngestReadings, batches of 500, two streams). Calls
// through the gateway carry an API key (checked on each). Prints both sides
// and the ratios. Prints figures; it is not a test.
//
//   gateway_bench [--seconds=5] [--split]
//   (--split: the gateway in a process of its own, reaching ingest over TCP,
//   as in the k8s manifests; else both in one process, as --target=all runs)
//   AW_BINARY=/path/to/another/auditwatch gateway_bench   (to measure another build)
#include <algorithm>
#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/time/clock.h"
#include "auditwatch/v1/ingest.grpc.pb.h"
#include "services/awctl/synthetic.h"
#include "tests/support/process.h"
#include "tests/support/test_db.h"

namespace {

namespace v1 = ::auditwatch::v1;
using aw::demo::SyntheticProvince;
constexpr uint64_t kSeed = 42;
constexpr int kCallers = 16;
constexpr int kStreams = 2;

// Calls to the gateway carry this API key.
std::string g_gateway, g_key;

std::unique_ptr<v1::IngestService::Stub> StubOn(const std::string& address, int n = 0) {
  grpc::ChannelArguments args;
  args.SetInt("bench_channel", n);  // a connection of its own
  return v1::IngestService::NewStub(
      address == g_gateway ? aw::testing::ChannelWithMetadata(address, "x-api-key", g_key, args)
                           : grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), args));
}

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * v.size()))];
}

// Sequential GetUnit calls; their latencies in microseconds are appended.
void Latencies(v1::IngestService::Stub& stub, const std::string& unit, int calls, std::vector<double>* us) {
  v1::GetUnitRequest req;
  req.set_code(unit);
  for (int i = 0; i < calls; ++i) {
    grpc::ClientContext ctx;
    v1::Unit out;
    const absl::Time t0 = absl::Now();
    if (!stub.GetUnit(&ctx, req, &out).ok()) std::abort();
    us->push_back(absl::ToDoubleMicroseconds(absl::Now() - t0));
  }
}

// GetUnit calls per second from kCallers callers for `seconds`.
double Throughput(const std::string& address, const std::string& unit, absl::Duration seconds) {
  std::atomic<int64_t> calls{0};
  const absl::Time end = absl::Now() + seconds;
  std::vector<std::thread> callers;
  for (int c = 0; c < kCallers; ++c) {
    callers.emplace_back([&, c] {
      auto stub = StubOn(address, c % 4);
      v1::GetUnitRequest req;
      req.set_code(unit);
      while (absl::Now() < end) {
        grpc::ClientContext ctx;
        v1::Unit out;
        if (stub->GetUnit(&ctx, req, &out).ok()) ++calls;
      }
    });
  }
  for (auto& t : callers) t.join();
  return calls / absl::ToDoubleSeconds(seconds);
}

// Streams the batches over kStreams streams, each batch acknowledged once
// durable; readings per second.
double Ingest(const std::string& address, const std::vector<v1::ReadingBatch>& batches) {
  std::atomic<int64_t> accepted{0};
  const absl::Time start = absl::Now();
  std::vector<std::thread> senders;
  for (int s = 0; s < kStreams; ++s) {
    senders.emplace_back([&, s] {
      auto stub = StubOn(address, 100 + s);
      grpc::ClientContext ctx;
      auto stream = stub->IngestReadings(&ctx);
      std::thread writer([&] {
        for (size_t i = s; i < batches.size(); i += kStreams) {
          if (!stream->Write(batches[i])) break;
        }
        stream->WritesDone();
      });
      v1::BatchResult r;
      while (stream->Read(&r)) accepted += r.accepted();
      writer.join();
      if (const grpc::Status st = stream->Finish(); !st.ok()) std::fprintf(stderr, "%s\n", st.error_message().c_str());
    });
  }
  for (auto& t : senders) t.join();
  return accepted / absl::ToDoubleSeconds(absl::Now() - start);
}

// About `rows` readings of the synthetic province's `year`.
std::vector<v1::ReadingBatch> Batches(int year, int64_t rows) {
  std::vector<v1::ReadingBatch> out;
  int64_t n = 0;
  SyntheticProvince(kSeed, year).ForEachBatch(500, [&](v1::ReadingBatch& b) {
    n += b.rows_size();
    out.push_back(std::move(b));
    return n < rows;
  });
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  absl::Duration round = absl::Seconds(5);
  bool split = false;
  for (int i = 1; i < argc; ++i) {
    int s = 0;
    if (absl::StartsWith(argv[i], "--seconds=") && absl::SimpleAtoi(argv[i] + 10, &s) && s > 0) {
      round = absl::Seconds(s);
    } else if (std::string(argv[i]) == "--split") {
      split = true;
    }
  }
  aw::testing::TestDatabase db;
  // The processes share the identity key the gateway signs with.
  char dir[] = "/tmp/aw-bench-XXXXXX";
  if (mkdtemp(dir) == nullptr) return 1;
  const std::string key_file = std::string(dir) + "/identity";
  std::ofstream(key_file) << "the benchmark's identity key\n";
  const std::vector<std::string> common = {"--workers=4", "--db_pool_size=4", "--identity_key_file=" + key_file};
  aw::testing::AuditwatchProcess process(split ? "ingest" : "ingest,gateway", db.url(), common);
  std::unique_ptr<aw::testing::AuditwatchProcess> own;
  if (split) {
    std::vector<std::string> args = common;
    args.push_back("--ingest_addr=" + process.address("ingest"));
    own = std::make_unique<aw::testing::AuditwatchProcess>("gateway", db.url(), args);
  }
  aw::testing::AuditwatchProcess& gateway_process = split ? *own : process;
  const std::string direct = process.address("ingest"), gateway = gateway_process.address("gateway");
  if (aw::testing::WaitForHealth(direct, "", "SERVING") != "SERVING" ||
      aw::testing::WaitForHealth(gateway, "auditwatch.v1.IngestService", "SERVING") != "SERVING") {
    std::fprintf(stderr, "ingest or the gateway did not start: %s\n", process.Logs().c_str());
    return 1;
  }
  std::filesystem::remove_all(dir);  // read at start-up
  // The bootstrap administrator key, which every call through the gateway carries.
  if (!aw::testing::BootstrapAdminKey(gateway_process.Channel("gateway"), &g_key).ok()) return 1;
  g_gateway = gateway;
  const SyntheticProvince province(kSeed, 2021);
  auto setup = StubOn(direct);
  if (!aw::demo::LoadCatalogue(*setup, province, "bench").status.ok()) return 1;
  const std::string unit = province.units().back().code();
  std::printf("%s; %zu units; rounds of %.0f s, alternating direct and gateway\n\n",
              split ? "the gateway in a process of its own, reaching ingest over TCP (--split)"
                    : "ingest and gateway in one process, the gateway reaching ingest in-process",
              province.units().size(), absl::ToDoubleSeconds(round));

  // Unary latency: sequential calls in alternating blocks.
  auto d_stub = StubOn(direct), g_stub = StubOn(gateway);
  std::vector<double> d_us, g_us;
  Latencies(*d_stub, unit, 200, &d_us);  // warm both paths
  Latencies(*g_stub, unit, 200, &g_us);
  d_us.clear();
  g_us.clear();
  for (int block = 0; block < 10; ++block) {
    Latencies(*d_stub, unit, 300, &d_us);
    Latencies(*g_stub, unit, 300, &g_us);
  }
  std::printf("unary latency (GetUnit, sequential, %zu calls each), microseconds:\n", d_us.size());
  std::printf("  direct   p50 %7.0f  p90 %7.0f  p99 %7.0f\n", Percentile(d_us, 0.5), Percentile(d_us, 0.9),
              Percentile(d_us, 0.99));
  std::printf("  gateway  p50 %7.0f  p90 %7.0f  p99 %7.0f\n", Percentile(g_us, 0.5), Percentile(g_us, 0.9),
              Percentile(g_us, 0.99));
  std::printf("  added by the gateway: p50 %.0f us, p90 %.0f us\n\n", Percentile(g_us, 0.5) - Percentile(d_us, 0.5),
              Percentile(g_us, 0.9) - Percentile(d_us, 0.9));

  // Unary throughput: two rounds each side.
  double d_calls = 0, g_calls = 0;
  for (int r = 0; r < 2; ++r) {
    d_calls += Throughput(direct, unit, round) / 2;
    g_calls += Throughput(gateway, unit, round) / 2;
  }
  std::printf("unary throughput (GetUnit, %d callers): direct %.0f calls/s, gateway %.0f calls/s = %.0f %%\n\n",
              kCallers, d_calls, g_calls, 100 * g_calls / d_calls);

  // Bulk ingest: the same amount of fresh readings each side, two rounds.
  const int64_t rows = 400000;
  double d_rows = 0, g_rows = 0;
  int year = 2022;
  for (int r = 0; r < 2; ++r) {
    d_rows += Ingest(direct, Batches(year++, rows)) / 2;
    g_rows += Ingest(gateway, Batches(year++, rows)) / 2;
  }
  std::printf("bulk ingest (IngestReadings, %d streams, batches of 500, ~%lld readings a round): direct %.0f "
              "readings/s, gateway %.0f readings/s = %.0f %%\n",
              kStreams, static_cast<long long>(rows), d_rows, g_rows, 100 * g_rows / d_rows);
  return 0;
}
