#include "tests/support/memory_load.h"

#include <atomic>
#include <cstdio>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "auditwatch/v1/ingest.grpc.pb.h"
#include "services/awctl/synthetic.h"

namespace aw::testing {
namespace {

namespace v1 = ::auditwatch::v1;

constexpr int kYear = 2024;

}  // namespace

MemoryFigures RunMemoryLoad(AuditwatchProcess& process, int64_t readings, int queries, int streams,
                            bool progress) {
  MemoryFigures out;
  auto stub = v1::IngestService::NewStub(process.Channel("ingest"));
  const demo::SyntheticProvince province(11, kYear);
  const demo::CatalogueLoad catalogue = demo::LoadCatalogue(*stub, province, "load");
  if (!catalogue.status.ok()) {
    std::fprintf(stderr, "%s\n", catalogue.status.error_message().c_str());
    return out;  // nothing loaded: the caller sees loaded == 0
  }
  {
    grpc::ClientContext ctx;
    auto stream = stub->IngestReadings(&ctx);
    std::thread writer([&] {
      int64_t sent = 0;
      province.ForEachBatch(500, [&](v1::ReadingBatch& b) {
        sent += b.rows_size();
        return sent <= readings && stream->Write(b);
      });
      stream->WritesDone();
    });
    v1::BatchResult r;
    while (stream->Read(&r)) out.loaded += r.accepted();
    writer.join();
    stream->Finish();
  }
  if (progress) std::printf("loaded %lld readings\n", static_cast<long long>(out.loaded));
  absl::SleepFor(absl::Seconds(1));
  out.idle_kib = process.RssKib();

  std::atomic<bool> sampling{true};
  std::atomic<int64_t> peak{out.idle_kib};
  std::thread sampler([&] {
    while (sampling) {
      peak = std::max<int64_t>(peak, process.RssKib());
      absl::SleepFor(absl::Milliseconds(50));
    }
  });
  // Idle streams at the head of the feed.
  std::vector<std::unique_ptr<grpc::ClientContext>> contexts;
  std::vector<std::unique_ptr<grpc::ClientReader<v1::WatchReadingsResponse>>> readers;
  std::atomic<int> open{0};
  std::vector<std::thread> stream_threads;
  absl::Notification close;
  for (int i = 0; i < streams; ++i) {
    stream_threads.emplace_back([&] {
      grpc::ClientContext ctx;
      v1::WatchReadingsRequest req;
      req.set_from_seq(int64_t{1} << 62);  // far beyond the head: nothing to replay
      auto reader = stub->WatchReadings(&ctx, req);
      ++open;
      close.WaitForNotification();
      ctx.TryCancel();
      v1::WatchReadingsResponse page;
      while (reader->Read(&page)) {
      }
      reader->Finish();
    });
  }
  // Heavy queries, all at once: every unit, every indicator, a year of months.
  std::atomic<int> ok{0}, busy{0};
  std::vector<std::thread> query_threads;
  for (int i = 0; i < queries; ++i) {
    query_threads.emplace_back([&] {
      v1::QueryReadingsRequest req;
      req.mutable_periods()->mutable_first()->set_key(absl::StrCat(kYear, "-01"));
      req.mutable_periods()->mutable_last()->set_key(absl::StrCat(kYear, "-12"));
      req.mutable_page()->set_page_size(1000);
      grpc::ClientContext ctx;
      ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(120));
      v1::QueryReadingsResponse resp;
      const grpc::Status s = stub->QueryReadings(&ctx, req, &resp);
      if (s.ok()) ++ok;
      if (s.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED) ++busy;
    });
  }
  for (auto& t : query_threads) t.join();
  out.streams = open;
  close.Notify();
  for (auto& t : stream_threads) t.join();
  out.queries_ok = ok;
  out.queries_busy = busy;
  if (progress) {
    std::printf("%d queries answered, %d refused as busy; %d streams were open; settling\n", out.queries_ok,
                out.queries_busy, out.streams);
  }
  absl::SleepFor(absl::Seconds(3));
  sampling = false;
  sampler.join();
  out.peak_kib = peak;
  out.after_kib = process.RssKib();
  return out;
}

}  // namespace aw::testing
