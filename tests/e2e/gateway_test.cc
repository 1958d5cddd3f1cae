// The gateway end to end: every service in one process, calls made to the
// gateway's port and forwarded by its generic proxy over real gRPC — unary,
// server-streaming and bidirectional calls, deadlines and cancellation carried
// over, and what the gateway refuses itself (an unknown method, a request
// that does not decode).
#include <algorithm>
#include <thread>

#include <catch2/catch.hpp>
#include <grpcpp/generic/generic_stub.h>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "auditwatch/v1/gateway.grpc.pb.h"
#include "auditwatch/v1/ingest.grpc.pb.h"
#include "tests/support/process.h"
#include "tests/support/readings.h"
#include "tests/support/test_db.h"

namespace aw::testing {
namespace {

namespace v1 = ::auditwatch::v1;

// All services in one process, with stubs on the gateway's port and, to
// compare, on ingest's own.
class Gateway {
 public:
  explicit Gateway(const TestDatabase& db, std::vector<std::string> args = {})
      : process_("all", db.url(), std::move(args)) {
    REQUIRE(WaitForHealth(process_.address("ingest"), "", "SERVING") == "SERVING");
    REQUIRE(WaitForHealth(process_.address("gateway"), "auditwatch.v1.GatewayService", "SERVING") == "SERVING");
    via_gateway_ = v1::IngestService::NewStub(process_.Channel("gateway"));
    direct_ = v1::IngestService::NewStub(process_.Channel("ingest"));
  }

  v1::IngestService::Stub& ingest() { return *via_gateway_; }
  v1::IngestService::Stub& direct() { return *direct_; }
  AuditwatchProcess& process() { return process_; }

  // The number of open readings-feed streams, from /metrics.
  int ReadingsSubscribers() {
    const std::string body = HttpGet(process_.metrics_port(), "/metrics");
    const std::string name = "auditwatch_feed_subscribers{";
    for (size_t at = body.find(name); at != std::string::npos; at = body.find(name, at + 1)) {
      const size_t end = body.find('\n', at);
      const std::string line = body.substr(at, end - at);
      if (line.find("feed=\"readings\"") != std::string::npos) return std::atoi(line.c_str() + line.rfind(' ') + 1);
    }
    return -1;
  }

 private:
  AuditwatchProcess process_;
  std::unique_ptr<v1::IngestService::Stub> via_gateway_, direct_;
};

bool WaitFor(const std::function<bool()>& pred, absl::Duration timeout = absl::Seconds(10)) {
  const absl::Time give_up = absl::Now() + timeout;
  while (absl::Now() < give_up) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return pred();
}

TEST_CASE("Unary, server-streaming and bidirectional calls go through the gateway as they would directly",
          "[e2e][gateway]") {
  TestDatabase db;
  Gateway gw(db);
  // Unary: the catalogue made through the gateway reads the same both ways.
  CreateUnits(gw.ingest(), SmallTree());
  CreateIndicator(gw.ingest(), {.code = "RATE"});
  v1::GetUnitRequest get;
  get.set_code("S1");
  v1::Unit through, direct;
  {
    grpc::ClientContext ctx;
    REQUIRE(gw.ingest().GetUnit(&ctx, get, &through).ok());
  }
  {
    grpc::ClientContext ctx;
    REQUIRE(gw.direct().GetUnit(&ctx, get, &direct).ok());
  }
  CHECK(through.SerializeAsString() == direct.SerializeAsString());
  // A backend's error comes back as it was.
  get.set_code("NO-SUCH-UNIT");
  {
    grpc::ClientContext ctx;
    v1::Unit none;
    const grpc::Status s = gw.ingest().GetUnit(&ctx, get, &none);
    CHECK(s.error_code() == grpc::StatusCode::NOT_FOUND);
    CHECK(s.error_message().find("NO-SUCH-UNIT") != std::string::npos);
  }

  // Bidirectional: three batches, each acknowledged in order.
  {
    grpc::ClientContext ctx;
    auto stream = gw.ingest().IngestReadings(&ctx);
    for (int m = 1; m <= 3; ++m) {
      REQUIRE(stream->Write(MakeBatch(absl::StrCat("b", m), {{"S1", "RATE", absl::StrCat("2025-0", m), 90.0 + m},
                                                            {"S2", "RATE", absl::StrCat("2025-0", m), 80.0 + m}})));
    }
    stream->WritesDone();
    v1::BatchResult result;
    for (int m = 1; m <= 3; ++m) {
      REQUIRE(stream->Read(&result));
      CHECK(result.batch_id() == absl::StrCat("b", m));
      CHECK(result.accepted() == 2);
    }
    CHECK_FALSE(stream->Read(&result));
    CHECK(stream->Finish().ok());
  }

  // Server-streaming: the feed replays the six readings.
  {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    v1::WatchReadingsRequest req;
    auto reader = gw.ingest().WatchReadings(&ctx, req);
    v1::WatchReadingsResponse page;
    int seen = 0;
    while (seen < 6 && reader->Read(&page)) seen += page.changes_size();
    CHECK(seen == 6);
    ctx.TryCancel();
    reader->Finish();
  }

  // The route table, from the gateway's own API.
  auto gateway = v1::GatewayService::NewStub(gw.process().Channel("gateway"));
  grpc::ClientContext ctx;
  v1::ListRoutesResponse routes;
  REQUIRE(gateway->ListRoutes(&ctx, v1::ListRoutesRequest(), &routes).ok());
  auto bulk = std::find_if(routes.routes().begin(), routes.routes().end(), [](const v1::Route& r) {
    return r.method() == "/auditwatch.v1.IngestService/IngestReadings";
  });
  REQUIRE(bulk != routes.routes().end());
  CHECK(bulk->backend() == "ingest");
  CHECK(bulk->client_streaming());
  CHECK(bulk->server_streaming());
}

TEST_CASE("Deadlines and cancellation carry over through the gateway", "[e2e][gateway]") {
  TestDatabase db;
  Gateway gw(db, {"--gateway_stream_deadline=2s"});
  // The monitor's evaluator holds one stream once it leads.
  REQUIRE(WaitFor([&] { return gw.ReadingsSubscribers() == 1; }));
  const int before = 1;

  // Reads a feed through the gateway to its end: the status and how long it took.
  auto watch = [&](grpc::ClientContext& ctx) {
    const absl::Time started = absl::Now();
    auto reader = gw.ingest().WatchReadings(&ctx, v1::WatchReadingsRequest());
    v1::WatchReadingsResponse page;
    while (reader->Read(&page)) {
    }
    const grpc::Status status = reader->Finish();
    return std::make_pair(status.error_code(), absl::Now() - started);
  };
  // The caller's deadline ends the backend's stream with it, not at the cap.
  {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(700));
    const auto [code, took] = watch(ctx);
    CHECK(code == grpc::StatusCode::DEADLINE_EXCEEDED);
    CHECK(took >= absl::Milliseconds(650));
    CHECK(took < absl::Seconds(2));
    CHECK(WaitFor([&] { return gw.ReadingsSubscribers() == before; }, absl::Milliseconds(800)));
  }
  // A stream without a deadline gets the gateway's cap.
  {
    grpc::ClientContext ctx;
    const auto [code, took] = watch(ctx);
    CHECK(code == grpc::StatusCode::DEADLINE_EXCEEDED);
    CHECK(took >= absl::Milliseconds(1900));
    CHECK(took < absl::Seconds(5));
  }
  REQUIRE(WaitFor([&] { return gw.ReadingsSubscribers() == before; }));
  // A caller that cancels ends the backend's stream.
  {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    auto reader = gw.ingest().WatchReadings(&ctx, v1::WatchReadingsRequest());
    v1::WatchReadingsResponse page;
    REQUIRE(reader->Read(&page));  // a heartbeat: the backend stream is open
    CHECK(gw.ReadingsSubscribers() == before + 1);
    ctx.TryCancel();
    CHECK(reader->Finish().error_code() == grpc::StatusCode::CANCELLED);
    CHECK(WaitFor([&] { return gw.ReadingsSubscribers() == before; }, absl::Seconds(3)));
  }
}

// A bidirectional call that writes raw messages one after the other and
// collects the raw responses, through the callback API of the generic stub.
class RawStream final : public grpc::ClientBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer> {
 public:
  RawStream(grpc::GenericStub& stub, const std::string& method, std::vector<std::string> messages)
      : messages_(std::move(messages)) {
    ctx_.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
    stub.PrepareBidiStreamingCall(&ctx_, method, grpc::StubOptions(), this);
    StartRead(&in_);
    WriteNext();
    StartCall();
  }

  grpc::Status Wait() {
    done_.WaitForNotification();
    return status_;
  }
  const std::vector<std::string>& responses() const { return responses_; }

  void OnWriteDone(bool ok) override {
    if (ok) WriteNext();
  }
  void OnReadDone(bool ok) override {
    if (!ok) return;
    std::vector<grpc::Slice> slices;
    in_.Dump(&slices);
    std::string bytes;
    for (const auto& s : slices) bytes.append(reinterpret_cast<const char*>(s.begin()), s.size());
    responses_.push_back(std::move(bytes));
    StartRead(&in_);
  }
  void OnDone(const grpc::Status& status) override {
    status_ = status;
    done_.Notify();
  }

 private:
  void WriteNext() {
    if (next_ == messages_.size()) {
      StartWritesDone();
      return;
    }
    grpc::Slice slice(messages_[next_++]);
    out_ = grpc::ByteBuffer(&slice, 1);
    StartWrite(&out_);
  }

  std::vector<std::string> messages_;
  size_t next_ = 0;
  grpc::ClientContext ctx_;
  grpc::ByteBuffer out_, in_;
  std::vector<std::string> responses_;
  grpc::Status status_;
  absl::Notification done_;
};

TEST_CASE("The gateway itself refuses an unknown method and a request that does not decode, saying so",
          "[e2e][gateway]") {
  TestDatabase db;
  Gateway gw(db);
  grpc::GenericStub generic(gw.process().Channel("gateway"));
  auto call = [&](const std::string& method, const std::string& bytes) {
    grpc::Slice slice(bytes);
    grpc::ByteBuffer request(&slice, 1), response;
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    absl::Notification done;
    grpc::Status status;
    generic.UnaryCall(&ctx, method, grpc::StubOptions(), &request, &response, [&](grpc::Status s) {
      status = std::move(s);
      done.Notify();
    });
    done.WaitForNotification();
    return status;
  };
  const grpc::Status unknown = call("/auditwatch.v1.IngestService/NoSuchMethod", "");
  CHECK(unknown.error_code() == grpc::StatusCode::UNIMPLEMENTED);
  CHECK(unknown.error_message().find("/auditwatch.v1.IngestService/NoSuchMethod") != std::string::npos);
  const grpc::Status garbled = call("/auditwatch.v1.IngestService/GetUnit", std::string("\x0c", 1));
  CHECK(garbled.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
  CHECK(garbled.error_message() == "the request does not decode as auditwatch.v1.GetUnitRequest (1 bytes)");

  // In a stream: what came before the bad message is applied, nothing after.
  CreateUnits(gw.ingest(), SmallTree());
  CreateIndicator(gw.ingest(), {.code = "RATE"});
  RawStream stream(generic, "/auditwatch.v1.IngestService/IngestReadings",
                   {MakeBatch("before", {{"S1", "RATE", "2025-01", 90}}).SerializeAsString(), std::string("\x0c", 1),
                    MakeBatch("after", {{"S1", "RATE", "2025-02", 90}}).SerializeAsString()});
  const grpc::Status ended = stream.Wait();
  CHECK(ended.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
  CHECK(ended.error_message() == "the request does not decode as auditwatch.v1.ReadingBatch (1 bytes)");
  REQUIRE(stream.responses().size() == 1);
  v1::BatchResult result;
  REQUIRE(result.ParseFromString(stream.responses()[0]));
  CHECK(result.batch_id() == "before");
  v1::QueryReadingsRequest query;
  query.mutable_periods()->mutable_first()->set_key("2025-01");
  query.mutable_periods()->mutable_last()->set_key("2025-12");
  grpc::ClientContext ctx;
  v1::QueryReadingsResponse readings;
  REQUIRE(gw.direct().QueryReadings(&ctx, query, &readings).ok());
  REQUIRE(readings.readings_size() == 1);
  CHECK(readings.readings(0).key().period().key() == "2025-01");
}

}  // namespace
}  // namespace aw::testing
