// The change-feed primitive and its client helper over real gRPC on loopback
// (an in-process server, no database): replay then live tail woken by commits
// with no polling, heartbeats on the clock's time, no thread per idle stream,
// the bound on streams, a clean end on shutdown, per-feed metrics, and a
// subscription that resumes from the consumer's cursor.
#include "common/feed.h"

#include <dirent.h>

#include <thread>

#include <catch2/catch.hpp>
#include <prometheus/registry.h>

#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "auditwatch/v1/ingest.grpc.pb.h"
#include "common/feed_client.h"

namespace aw {
namespace {

namespace v1 = ::auditwatch::v1;
using Page = v1::WatchReadingsResponse;

// The committed positions of a feed, in order, and how often they were read.
class Log {
 public:
  void Append(int64_t position) {
    absl::MutexLock lock(&mu_);
    positions_.push_back(position);
  }
  // The next read fails with `status` (once).
  void FailNextRead(absl::Status status) {
    absl::MutexLock lock(&mu_);
    fail_ = std::move(status);
  }
  int reads() const {
    absl::MutexLock lock(&mu_);
    return reads_;
  }

  absl::Status Read(int64_t position, std::vector<int64_t>* out) {
    absl::MutexLock lock(&mu_);
    ++reads_;
    if (!fail_.ok()) return std::exchange(fail_, absl::OkStatus());
    for (int64_t p : positions_) {
      if (p > position && out->size() < 2) out->push_back(p);
    }
    return absl::OkStatus();
  }

 private:
  mutable absl::Mutex mu_;
  std::vector<int64_t> positions_;
  absl::Status fail_;
  int reads_ = 0;
};

// Serves the log as pages of at most two changes.
class LogReader final : public FeedReader<Page> {
 public:
  explicit LogReader(Log* log) : log_(log) {}
  absl::Status Read(int64_t position, google::protobuf::Arena* arena, Batch* batch) override {
    std::vector<int64_t> found;
    if (absl::Status s = log_->Read(position, &found); !s.ok()) return s;
    batch->reached = found.empty() ? position : found.back();
    if (found.empty()) return absl::OkStatus();
    auto* page = google::protobuf::Arena::CreateMessage<Page>(arena);
    for (int64_t p : found) page->add_changes()->set_seq(p);
    page->set_last_seq(batch->reached);
    batch->messages.push_back(page);
    return absl::OkStatus();
  }
  Page* Heartbeat(int64_t position, google::protobuf::Arena* arena) override {
    auto* page = google::protobuf::Arena::CreateMessage<Page>(arena);
    page->set_last_seq(position);
    return page;
  }

 private:
  Log* log_;
};

class FeedService final : public v1::IngestService::CallbackService {
 public:
  FeedService(Feed<Page>* feed, Log* log) : feed_(feed), log_(log) {}
  grpc::ServerWriteReactor<Page>* WatchReadings(grpc::CallbackServerContext*,
                                                const v1::WatchReadingsRequest* req) override {
    return feed_->Subscribe(std::make_unique<LogReader>(log_), req->from_seq());
  }

 private:
  Feed<Page>* feed_;
  Log* log_;
};

// A feed named "test" behind a server on a free loopback port.
struct Fixture {
  explicit Fixture(int max_subscribers = 64)
      : clock(absl::FromUnixSeconds(1'800'000'000)),
        feed(FeedOptions{.service = "test", .name = "test", .max_subscribers = max_subscribers}, registry, &clock),
        service(&feed, &log) {
    feed.Start();
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    builder.RegisterService(&service);
    server = builder.BuildAndStart();
    REQUIRE(server != nullptr);
    stub = v1::IngestService::NewStub(
        grpc::CreateChannel("127.0.0.1:" + std::to_string(port), grpc::InsecureChannelCredentials()));
  }
  ~Fixture() {
    feed.Shutdown();
    server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
    feed.Stop();
  }

  double Gauge(const std::string& name) {
    for (const auto& family : registry.Collect()) {
      if (family.name == name && !family.metric.empty()) return family.metric[0].gauge.value;
    }
    return -1;
  }
  // Waits until `n` streams are registered with the feed.
  bool WaitSubscribers(int n) {
    for (int i = 0; i < 500; ++i) {
      if (Gauge("auditwatch_feed_subscribers") == n) return true;
      absl::SleepFor(absl::Milliseconds(10));
    }
    return false;
  }

  FakeClock clock;
  prometheus::Registry registry;
  Log log;
  Feed<Page> feed;
  FeedService service;
  int port = 0;
  std::unique_ptr<grpc::Server> server;
  std::unique_ptr<v1::IngestService::Stub> stub;
};

struct Stream {
  Stream(v1::IngestService::Stub& stub, int64_t from) {
    v1::WatchReadingsRequest req;
    req.set_from_seq(from);
    reader = stub.WatchReadings(&ctx, req);
  }
  grpc::ClientContext ctx;
  std::unique_ptr<grpc::ClientReader<Page>> reader;
};

int Threads() {
  int n = 0;
  if (DIR* d = opendir("/proc/self/task")) {
    while (dirent* e = readdir(d)) n += e->d_name[0] != '.';
    closedir(d);
  }
  return n;
}

TEST_CASE("A feed replays from the cursor, then follows commits with no polling", "[feed]") {
  Fixture f;
  for (int64_t p : {1, 2, 3}) f.log.Append(p);
  Stream s(*f.stub, 1);
  Page page;
  std::vector<int64_t> seen;
  while (seen.size() < 2 && s.reader->Read(&page)) {
    for (const auto& c : page.changes()) seen.push_back(c.seq());
  }
  CHECK(seen == std::vector<int64_t>{2, 3});
  // At the head the stream waits for a commit: no reads while nothing happens.
  const int reads = f.log.reads();
  absl::SleepFor(absl::Milliseconds(300));
  CHECK(f.log.reads() <= reads + 1);
  f.log.Append(4);
  f.feed.Committed(4);
  REQUIRE(s.reader->Read(&page));
  REQUIRE(page.changes_size() == 1);
  CHECK(page.changes(0).seq() == 4);
  CHECK(page.last_seq() == 4);
  // A poke (a commit of unknown position) also makes waiting streams look.
  f.log.Append(5);
  f.feed.Poke();
  REQUIRE(s.reader->Read(&page));
  CHECK(page.changes(0).seq() == 5);
  s.ctx.TryCancel();
}

TEST_CASE("Idle streams hold no thread and get heartbeats on the clock's time", "[feed]") {
  Fixture f;
  f.log.Append(7);
  const int before = Threads();
  std::vector<std::unique_ptr<Stream>> streams;
  for (int i = 0; i < 40; ++i) streams.push_back(std::make_unique<Stream>(*f.stub, 7));
  REQUIRE(f.WaitSubscribers(40));
  absl::SleepFor(absl::Milliseconds(100));
  INFO("threads before " << before << ", with 40 idle streams " << Threads());
  CHECK(Threads() - before < 10);  // a thread per stream would add 40
  // Nothing is sent until the feed's clock passes the heartbeat interval.
  f.clock.Advance(absl::Milliseconds(1500));
  for (auto& s : streams) {
    Page beat;
    REQUIRE(s->reader->Read(&beat));
    CHECK(beat.changes().empty());
    CHECK(beat.last_seq() == 7);
  }
  for (auto& s : streams) s->ctx.TryCancel();
  CHECK(f.WaitSubscribers(0));
}

TEST_CASE("A feed serves a bounded number of streams and ends them on shutdown", "[feed]") {
  Fixture f(/*max_subscribers=*/2);
  Stream a(*f.stub, 0), b(*f.stub, 0);
  REQUIRE(f.WaitSubscribers(2));
  Stream refused(*f.stub, 0);
  Page page;
  CHECK_FALSE(refused.reader->Read(&page));
  const grpc::Status full = refused.reader->Finish();
  CHECK(full.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED);
  CHECK(full.error_message().find("2 streams") != std::string::npos);

  f.feed.Shutdown();
  for (Stream* s : {&a, &b}) {
    while (s->reader->Read(&page)) {
    }
    const grpc::Status ended = s->reader->Finish();
    CHECK(ended.error_code() == grpc::StatusCode::UNAVAILABLE);
    CHECK(ended.error_message().find("resume") != std::string::npos);
  }
  CHECK(f.WaitSubscribers(0));
}

TEST_CASE("A subscription resumes from the consumer's cursor and stops on errors retrying cannot mend", "[feed]") {
  Fixture f;
  for (int64_t p : {1, 2, 3}) f.log.Append(p);
  int64_t cursor = 0;  // what the consumer has processed (its durable cursor)
  FeedSubscription<v1::WatchReadingsRequest, Page> sub(
      [&](grpc::ClientContext* ctx, const v1::WatchReadingsRequest& r) { return f.stub->WatchReadings(ctx, r); },
      v1::WatchReadingsRequest(), [&]() -> absl::StatusOr<int64_t> { return cursor; },
      {.name = "test", .backoff = {.initial = absl::Milliseconds(1), .max = absl::Milliseconds(10)}});
  std::vector<int64_t> seen;
  Page page;
  auto take = [&](size_t n) {
    while (seen.size() < n) {
      REQUIRE(sub.Next(&page).ok());
      for (const auto& c : page.changes()) seen.push_back(c.seq());
      cursor = page.last_seq();
    }
  };
  take(3);
  // The stream breaks: the next read fails on the server.
  f.log.FailNextRead(absl::UnavailableError("database away"));
  f.log.Append(4);
  f.feed.Committed(4);
  take(4);
  CHECK(seen == std::vector<int64_t>{1, 2, 3, 4});  // nothing lost, nothing twice
  CHECK(sub.reconnects() == 1);

  f.log.FailNextRead(absl::InvalidArgumentError("indicator_codes: no indicator X"));
  f.log.Append(5);
  f.feed.Committed(5);
  const absl::Status end = sub.Next(&page);
  CHECK(end.code() == absl::StatusCode::kInvalidArgument);
  CHECK(std::string(end.message()).find("no indicator X") != std::string::npos);
}

TEST_CASE("A subscription waiting for a message ends when stopped", "[feed]") {
  Fixture f;
  FeedSubscription<v1::WatchReadingsRequest, Page> sub(
      [&](grpc::ClientContext* ctx, const v1::WatchReadingsRequest& r) { return f.stub->WatchReadings(ctx, r); },
      v1::WatchReadingsRequest(), []() -> absl::StatusOr<int64_t> { return 0; }, {.name = "test"});
  std::thread stopper([&] {
    absl::SleepFor(absl::Milliseconds(200));
    sub.Stop();
  });
  Page page;
  CHECK(sub.Next(&page).code() == absl::StatusCode::kCancelled);
  stopper.join();
}

}  // namespace
}  // namespace aw
