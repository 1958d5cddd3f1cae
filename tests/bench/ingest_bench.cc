// Ingest benchmark: bulk ingest over gRPC against raw COPY of the same rows,
// manual entry latency at a fixed rate, and change-feed delay under full load.
// Prints its figures; it is not a test. Run it with tests/bench/run.sh.
//
//   ingest_bench [--quick]
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <thread>

#include <pqxx/pqxx>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "auditwatch/v1/ingest.grpc.pb.h"
#include "services/awctl/synthetic.h"
#include "tests/support/process.h"
#include "tests/support/test_db.h"

namespace {

namespace v1 = ::auditwatch::v1;
using aw::demo::SyntheticProvince;
using aw::testing::AuditwatchProcess;
using aw::testing::TestDatabase;

constexpr uint64_t kSeed = 42;
constexpr int kBatchRows = 500;

std::vector<v1::ReadingBatch> Batches(int year, int limit_batches) {
  std::vector<v1::ReadingBatch> out;
  SyntheticProvince(kSeed, year).ForEachBatch(kBatchRows, [&](v1::ReadingBatch& b) {
    out.push_back(b);
    return static_cast<int>(out.size()) < limit_batches;
  });
  return out;
}

// The same rows regrouped indicator by indicator: each batch spans many units
// (the layout least kind to per-(unit, period) blocks).
std::vector<v1::ReadingBatch> IndicatorMajor(const std::vector<v1::ReadingBatch>& in) {
  std::vector<v1::ReadingInput> rows;
  for (const auto& b : in) rows.insert(rows.end(), b.rows().begin(), b.rows().end());
  std::stable_sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) {
    return std::tie(a.indicator_code(), a.period().key()) < std::tie(b.indicator_code(), b.period().key());
  });
  std::vector<v1::ReadingBatch> out;
  for (size_t i = 0; i < rows.size(); i += kBatchRows) {
    v1::ReadingBatch& b = out.emplace_back();
    b.set_batch_id(absl::StrCat("indicator-major-", out.size()));
    b.set_source("bench");
    for (size_t j = i; j < std::min(rows.size(), i + kBatchRows); ++j) *b.add_rows() = rows[j];
  }
  return out;
}

int64_t Rows(const std::vector<v1::ReadingBatch>& batches) {
  int64_t n = 0;
  for (const auto& b : batches) n += b.rows_size();
  return n;
}

// Raw COPY of the rows into a bare table (no index, no constraint), one
// transaction per batch, batches dealt round-robin to `conns` connections.
double RawCopy(const std::string& url, const std::vector<v1::ReadingBatch>& batches, int conns) {
  {
    pqxx::connection c(url);
    pqxx::nontransaction tx(c);
    tx.exec("DROP TABLE IF EXISTS raw_readings");
    tx.exec("CREATE TABLE raw_readings (unit_code text, indicator_code text, period_type smallint, "
            "period_key text, value double precision, entered_by text, reason text)");
  }
  const absl::Time start = absl::Now();
  std::vector<std::thread> workers;
  for (int w = 0; w < conns; ++w) {
    workers.emplace_back([&, w] {
      pqxx::connection c(url);
      for (size_t i = w; i < batches.size(); i += conns) {
        pqxx::work tx(c);
        pqxx::stream_to copy(tx, "raw_readings",
                             std::vector<std::string>{"unit_code", "indicator_code", "period_type",
                                                      "period_key", "value", "entered_by", "reason"});
        for (const auto& r : batches[i].rows()) {
          copy << std::make_tuple(r.unit_code(), r.indicator_code(), static_cast<int>(r.period().type()),
                                  r.period().key(), r.value(), r.entered_by(), r.reason());
        }
        copy.complete();
        tx.commit();
      }
    });
  }
  for (auto& t : workers) t.join();
  return Rows(batches) / absl::ToDoubleSeconds(absl::Now() - start);
}

// Greatest feed sequence acknowledged so far (where a new subscriber starts).
std::atomic<int64_t> g_last_seq{0};

// Streams the batches over `streams` gRPC streams, each batch acknowledged
// after it is durable; returns readings per second.
double Ingest(const std::string& address, const std::vector<v1::ReadingBatch>& batches, int streams) {
  std::atomic<int64_t> accepted{0};
  const absl::Time start = absl::Now();
  std::vector<std::thread> senders;
  for (int s = 0; s < streams; ++s) {
    senders.emplace_back([&, s] {
      // One channel per stream, so that streams do not share one connection.
      grpc::ChannelArguments args;
      args.SetInt("bench_stream", s);
      auto ch = grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), args);
      auto stub = v1::IngestService::NewStub(ch);
      grpc::ClientContext ctx;
      auto stream = stub->IngestReadings(&ctx);
      std::thread writer([&] {
        for (size_t i = s; i < batches.size(); i += streams) {
          if (!stream->Write(batches[i])) break;
        }
        stream->WritesDone();
      });
      v1::BatchResult r;
      while (stream->Read(&r)) {
        accepted += r.accepted();
        int64_t seen = g_last_seq.load();
        while (r.last_seq() > seen && !g_last_seq.compare_exchange_weak(seen, r.last_seq())) {
        }
      }
      writer.join();
      const grpc::Status st = stream->Finish();
      if (!st.ok()) std::fprintf(stderr, "stream %d: %s\n", s, st.error_message().c_str());
    });
  }
  for (auto& t : senders) t.join();
  const double secs = absl::ToDoubleSeconds(absl::Now() - start);
  if (accepted != Rows(batches)) {
    std::fprintf(stderr, "warning: %lld of %lld rows accepted\n", static_cast<long long>(accepted.load()),
                 static_cast<long long>(Rows(batches)));
  }
  return accepted / secs;
}

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * v.size()))];
}

}  // namespace

int main(int argc, char** argv) {
  const bool quick = argc > 1 && std::string(argv[1]) == "--quick";
  const int limit = quick ? 400 : 1 << 30;
  TestDatabase raw_db, db;
  AuditwatchProcess process("ingest", db.url(), {"--workers=4", "--db_pool_size=4"});
  const std::string address = process.address("ingest");
  if (aw::testing::WaitForHealth(address, "", "SERVING") != "SERVING") {
    std::fprintf(stderr, "ingest did not start: %s\n", process.Logs().c_str());
    return 1;
  }
  auto stub = v1::IngestService::NewStub(grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
  // The tree and catalogue, valid from 2021 on.
  const SyntheticProvince base(kSeed, 2021);
  if (!aw::demo::LoadCatalogue(*stub, base, "bench").status.ok()) return 1;
  std::printf("synthetic province: %zu units, %zu indicators; batches of %d readings\n",
              base.units().size(), base.indicators().size(), kBatchRows);
  std::printf("machine: %u cores; client, server and PostgreSQL share them\n\n",
              std::thread::hardware_concurrency());

  std::printf("== bulk ingest over gRPC, durable on ack, vs raw COPY of the same rows into a bare table\n");
  std::printf("%-28s %12s %14s %14s %7s\n", "layout", "rows", "raw COPY/s", "ingest/s", "ratio");
  int year = 2021;
  for (int streams : {1, 2}) {
    const auto batches = Batches(year++, limit);
    const double raw = RawCopy(raw_db.url(), batches, streams);
    const double ingest = Ingest(address, batches, streams);
    std::printf("%-28s %12lld %14.0f %14.0f %6.0f%%\n",
                absl::StrFormat("unit-major, %d stream(s)", streams).c_str(),
                static_cast<long long>(Rows(batches)), raw, ingest, 100 * ingest / raw);
    std::fflush(stdout);
  }
  {
    const auto batches = IndicatorMajor(Batches(year++, limit));
    const double raw = RawCopy(raw_db.url(), batches, 2);
    const double ingest = Ingest(address, batches, 2);
    std::printf("%-28s %12lld %14.0f %14.0f %6.0f%%\n", "indicator-major, 2 streams",
                static_cast<long long>(Rows(batches)), raw, ingest, 100 * ingest / raw);
  }

  std::printf("\n== change feed: replay of everything so far, alone\n");
  {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(120));
    v1::WatchReadingsRequest req;
    auto reader = stub->WatchReadings(&ctx, req);
    v1::WatchReadingsResponse page;
    int64_t n = 0;
    const absl::Time start = absl::Now();
    while (reader->Read(&page)) {
      n += page.changes_size();
      if (page.last_seq() >= g_last_seq.load()) break;
    }
    const double secs = absl::ToDoubleSeconds(absl::Now() - start);
    ctx.TryCancel();
    reader->Finish();
    std::printf("%lld readings in %.2f s: %.0f readings/s\n", static_cast<long long>(n), secs, n / secs);
  }

  std::printf("\n== change feed: commit-to-delivery delay while bulk ingest runs on 2 streams\n");
  {
    // Start at the end of the feed, then ingest a fresh year at full speed.
    const int64_t from = g_last_seq.load();
    const auto batches = Batches(year++, limit);
    std::vector<double> delays_ms;
    std::atomic<bool> done{false};
    int64_t delivered = 0;
    grpc::ClientContext watch_ctx;
    v1::WatchReadingsRequest req;
    req.set_from_seq(from);
    auto reader = stub->WatchReadings(&watch_ctx, req);
    std::thread watcher([&] {
      v1::WatchReadingsResponse page;
      int64_t last_batch_seq = -1;
      while (reader->Read(&page)) {
        const absl::Time now = absl::Now();
        for (const auto& c : page.changes()) {
          ++delivered;
          const int64_t batch_seq = c.seq() >> 20;
          if (batch_seq == last_batch_seq) continue;  // one sample per batch
          last_batch_seq = batch_seq;
          const absl::Time committed = absl::FromUnixSeconds(c.reading().recorded_at().seconds()) +
                                       absl::Nanoseconds(c.reading().recorded_at().nanos());
          delays_ms.push_back(absl::ToDoubleMilliseconds(now - committed));
        }
        if (done && delivered >= Rows(batches)) break;
      }
    });
    const double rate = Ingest(address, batches, 2);
    done = true;
    const absl::Time wait_until = absl::Now() + absl::Seconds(30);
    while (delivered < Rows(batches) && absl::Now() < wait_until) absl::SleepFor(absl::Milliseconds(10));
    watch_ctx.TryCancel();
    watcher.join();
    reader->Finish();
    std::printf("ingest %.0f readings/s; %lld of %lld readings delivered; %zu batches sampled\n", rate,
                static_cast<long long>(delivered), static_cast<long long>(Rows(batches)), delays_ms.size());
    std::printf("delay ms: p50 %.1f  p90 %.1f  p99 %.1f  max %.1f\n", Percentile(delays_ms, 0.5),
                Percentile(delays_ms, 0.9), Percentile(delays_ms, 0.99), Percentile(delays_ms, 1.0));
  }

  std::printf("\n== manual entry: CorrectReading at 200 calls/s on loopback\n");
  {
    const int calls = quick ? 400 : 2000;
    std::vector<double> latency_ms;
    const SyntheticProvince p(kSeed, 2021);
    std::vector<v1::ReadingKey> keys;
    p.ForEachBatch(kBatchRows, [&](v1::ReadingBatch& b) {
      for (const auto& r : b.rows()) {
        if (r.period().type() != v1::PERIOD_TYPE_MONTH) continue;
        v1::ReadingKey& k = keys.emplace_back();
        k.set_unit_code(r.unit_code());
        k.set_indicator_code(r.indicator_code());
        *k.mutable_period() = r.period();
        if (static_cast<int>(keys.size()) >= calls) return false;
      }
      return true;
    });
    const absl::Time start = absl::Now();
    for (int i = 0; i < calls; ++i) {
      absl::SleepFor(start + absl::Milliseconds(5) * i - absl::Now());  // 200 calls/s
      v1::CorrectReadingRequest req;
      *req.mutable_key() = keys[i];
      req.set_value(1);
      req.set_entered_by("bench");
      req.set_reason("benchmark correction");
      grpc::ClientContext ctx;
      v1::Reading out;
      const absl::Time t0 = absl::Now();
      const grpc::Status s = stub->CorrectReading(&ctx, req, &out);
      latency_ms.push_back(absl::ToDoubleMilliseconds(absl::Now() - t0));
      if (!s.ok()) {
        std::fprintf(stderr, "CorrectReading: %s\n", s.error_message().c_str());
        return 1;
      }
    }
    const double secs = absl::ToDoubleSeconds(absl::Now() - start);
    std::printf("%d calls in %.1f s (%.0f/s); latency ms: p50 %.2f  p90 %.2f  p99 %.2f  max %.2f\n", calls,
                secs, calls / secs, Percentile(latency_ms, 0.5), Percentile(latency_ms, 0.9),
                Percentile(latency_ms, 0.99), Percentile(latency_ms, 1.0));
  }
  process.Stop(SIGTERM);
  return 0;
}
