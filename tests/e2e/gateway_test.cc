// The gateway end to end: every service in one process, calls made to the
// gateway's port and forwarded by its generic proxy over real gRPC — unary,
// server-streaming and bidirectional calls, deadlines and cancellation carried
// over, what the gateway refuses itself (an unknown method, a request that
// does not decode, missing or bad credentials), API keys and tokens, and the
// signed identity the backends take the actor from and refuse when forged.
#include <signal.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <thread>

#include <catch2/catch.hpp>
#include <grpcpp/generic/generic_stub.h>
#include <nlohmann/json.hpp>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "auditwatch/v1/gateway.grpc.pb.h"
#include "auditwatch/v1/ingest.grpc.pb.h"
#include "auditwatch/v1/monitor.grpc.pb.h"
#include "tests/support/gateway.h"
#include "tests/support/process.h"
#include "tests/support/readings.h"
#include "services/awctl/synthetic.h"
#include "tests/support/test_db.h"

namespace aw::testing {
namespace {

namespace v1 = ::auditwatch::v1;

TEST_CASE("Unary, client-streaming, server-streaming and bidirectional calls go through the gateway as directly",
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

  // Client-streaming: two batches, one answer summing them up; the second
  // batch sent again is applied once.
  {
    grpc::ClientContext ctx;
    v1::ImportReadingsResponse summary;
    auto stream = gw.ingest().ImportReadings(&ctx, &summary);
    REQUIRE(stream->Write(MakeBatch("i1", {{"S1", "RATE", "2025-04", 70}, {"S2", "RATE", "2025-04", 71}})));
    REQUIRE(stream->Write(MakeBatch("i2", {{"S1", "RATE", "2025-05", 72}, {"S2", "RATE", "2025-05", 999}})));
    REQUIRE(stream->Write(MakeBatch("i2", {{"S1", "RATE", "2025-05", 72}, {"S2", "RATE", "2025-05", 999}})));
    stream->WritesDone();
    const grpc::Status s = stream->Finish();
    INFO(s.error_message());
    REQUIRE(s.ok());
    CHECK(summary.batches() == 3);
    CHECK(summary.accepted() == 4);  // the duplicate counts its original result again
    CHECK(summary.rejected() == 2);
    CHECK(summary.duplicates() == 1);
    REQUIRE(summary.results_size() == 3);
    CHECK(summary.results(1).errors(0).code() == "OUT_OF_RANGE");
    CHECK(summary.results(2).duplicate());
  }

  // Server-streaming: the feed replays the six readings.
  {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    v1::WatchReadingsRequest req;
    auto reader = gw.ingest().WatchReadings(&ctx, req);
    v1::WatchReadingsResponse page;
    int seen = 0;
    while (seen < 9 && reader->Read(&page)) seen += page.changes_size();
    CHECK(seen == 9);
    ctx.TryCancel();
    reader->Finish();
  }

  // The route table, from the gateway's own API.
  auto gateway = v1::GatewayService::NewStub(gw.Channel(gw.admin_key()));
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

  // Every call is an access log line (written out within a second) and
  // counts in the metrics, by role.
  nlohmann::json record;
  REQUIRE(WaitUntil(
      [&] {
        for (absl::string_view line : absl::StrSplit(gw.process().Logs(), '\n')) {
          if (line.find("\"logger\":\"gateway.access\"") != std::string::npos &&
              line.find("\"method\":\"/auditwatch.v1.IngestService/IngestReadings\"") != std::string::npos) {
            record = nlohmann::json::parse(line.begin(), line.end());
            return true;
          }
        }
        return false;
      },
      absl::Seconds(5)));
  {
    CHECK(record["subject"] == "ops.admin");
    CHECK(record["role"] == "ROLE_CENTRE_ADMIN");
    CHECK(record["code"] == "OK");
    CHECK(record["bytes_in"].get<int>() > 0);
    CHECK(record["bytes_out"].get<int>() > 0);
    CHECK(record["request_id"].get<std::string>().size() > 8);
    CHECK(record["latency_ms"].get<double>() > 0);
    CHECK(record["unit"] == "S1");  // the first unit the call named
  }
  const std::string metrics = HttpGet(gw.process().metrics_port(), "/metrics");
  CHECK(metrics.find("auditwatch_gateway_calls_total{code=\"NOT_FOUND\",method=\"/auditwatch.v1.IngestService/"
                     "GetUnit\",role=\"ROLE_CENTRE_ADMIN\",service=\"gateway\"} 1") != std::string::npos);
}

TEST_CASE("Deadlines and cancellation carry over through the gateway", "[e2e][gateway]") {
  TestDatabase db;
  Gateway gw(db, {"--gateway_stream_deadline=2s"});
  // The monitor's evaluator holds one stream once it leads; scoring's triggers another.
  REQUIRE(WaitUntil([&] { return gw.ReadingsSubscribers() == 2; }));
  const int before = 2;

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
    CHECK(WaitUntil([&] { return gw.ReadingsSubscribers() == before; }, absl::Milliseconds(800)));
  }
  // A stream without a deadline gets the gateway's cap.
  {
    grpc::ClientContext ctx;
    const auto [code, took] = watch(ctx);
    CHECK(code == grpc::StatusCode::DEADLINE_EXCEEDED);
    CHECK(took >= absl::Milliseconds(1900));
    CHECK(took < absl::Seconds(5));
  }
  REQUIRE(WaitUntil([&] { return gw.ReadingsSubscribers() == before; }));
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
    CHECK(WaitUntil([&] { return gw.ReadingsSubscribers() == before; }, absl::Seconds(3)));
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
  grpc::GenericStub generic(gw.Channel(gw.admin_key()));
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

// WhoAmI through `channel`: the status and the subject.
std::pair<grpc::StatusCode, std::string> WhoAmI(const std::shared_ptr<grpc::Channel>& channel) {
  auto stub = v1::GatewayService::NewStub(channel);
  grpc::ClientContext ctx;
  v1::Principal p;
  const grpc::Status s = stub->WhoAmI(&ctx, v1::WhoAmIRequest(), &p);
  return {s.error_code(), s.ok() ? p.subject() : s.error_message()};
}

TEST_CASE("Every call through the gateway needs credentials: API keys, bearer tokens, expiry and revocation",
          "[e2e][gateway]") {
  TestDatabase db;
  Gateway gw(db);
  const std::string address = gw.process().address("gateway");
  auto admin = v1::GatewayService::NewStub(gw.Channel(gw.admin_key()));
  CHECK(WhoAmI(gw.Channel(gw.admin_key())) == std::make_pair(grpc::StatusCode::OK, std::string("ops.admin")));

  // No credentials, or bad ones: refused before any backend is called.
  {
    auto anonymous = v1::IngestService::NewStub(gw.process().Channel("gateway"));
    grpc::ClientContext ctx;
    v1::Unit unit;
    v1::GetUnitRequest req;
    req.set_code("S1");
    const grpc::Status s = anonymous->GetUnit(&ctx, req, &unit);
    CHECK(s.error_code() == grpc::StatusCode::UNAUTHENTICATED);
    CHECK(s.error_message().find("no credentials") == 0);
    grpc::ClientContext stream_ctx;
    auto reader = anonymous->WatchReadings(&stream_ctx, v1::WatchReadingsRequest());
    v1::WatchReadingsResponse page;
    CHECK_FALSE(reader->Read(&page));
    CHECK(reader->Finish().error_code() == grpc::StatusCode::UNAUTHENTICATED);
  }
  CHECK(WhoAmI(gw.Channel("not-a-key")).first == grpc::StatusCode::UNAUTHENTICATED);
  CHECK(WhoAmI(gw.Channel("awk_000000000000_" + std::string(64, '0'))).first == grpc::StatusCode::UNAUTHENTICATED);
  // The bootstrap holds once: an administrator key is in force now.
  {
    auto anonymous = v1::GatewayService::NewStub(gw.process().Channel("gateway"));
    v1::CreateApiKeyRequest req;
    req.mutable_principal()->set_subject("intruder");
    req.mutable_principal()->add_roles(v1::ROLE_CENTRE_ADMIN);
    grpc::ClientContext ctx;
    v1::CreateApiKeyResponse resp;
    CHECK(anonymous->CreateApiKey(&ctx, req, &resp).error_code() == grpc::StatusCode::UNAUTHENTICATED);
  }

  // A county specialist's key, made by the administrator.
  v1::CreateApiKeyRequest create;
  create.mutable_principal()->set_subject("d1.specialist");
  create.mutable_principal()->add_roles(v1::ROLE_UNIT_SPECIALIST);
  create.mutable_principal()->add_unit_codes("D1");
  create.set_description("county D1 audit specialist");
  v1::CreateApiKeyResponse made;
  {
    grpc::ClientContext ctx;
    REQUIRE(admin->CreateApiKey(&ctx, create, &made).ok());
  }
  CHECK(made.secret().find("awk_" + made.key().id() + "_") == 0);
  CHECK(made.key().audit().created_by() == "ops.admin");
  const auto specialist = gw.Channel(made.secret());
  CHECK(WhoAmI(specialist) == std::make_pair(grpc::StatusCode::OK, std::string("d1.specialist")));
  // Not an administrator: no keys for it.
  {
    auto stub = v1::GatewayService::NewStub(specialist);
    grpc::ClientContext ctx;
    v1::CreateApiKeyResponse resp;
    const grpc::Status s = stub->CreateApiKey(&ctx, create, &resp);
    CHECK(s.error_code() == grpc::StatusCode::PERMISSION_DENIED);
  }
  // A token for the key: the same principal, without a lookup.
  v1::IssueTokenResponse token;
  {
    auto anonymous = v1::GatewayService::NewStub(gw.process().Channel("gateway"));
    v1::IssueTokenRequest req;
    req.set_api_key(made.secret());
    grpc::ClientContext ctx;
    REQUIRE(anonymous->IssueToken(&ctx, req, &token).ok());
  }
  CHECK(token.expires_at().seconds() > absl::ToUnixSeconds(absl::Now()));
  CHECK(WhoAmI(ChannelWithMetadata(address, "authorization", "Bearer " + token.token())) ==
        std::make_pair(grpc::StatusCode::OK, std::string("d1.specialist")));
  std::string tampered = token.token();
  tampered[tampered.size() - 3] = tampered[tampered.size() - 3] == 'A' ? 'B' : 'A';
  CHECK(WhoAmI(ChannelWithMetadata(address, "authorization", "Bearer " + tampered)).first ==
        grpc::StatusCode::UNAUTHENTICATED);
  CHECK(WhoAmI(ChannelWithMetadata(address, "authorization", "Basic b3BzOnB3")).first ==
        grpc::StatusCode::UNAUTHENTICATED);
  // Listed without secrets.
  {
    grpc::ClientContext ctx;
    v1::ListApiKeysResponse keys;
    REQUIRE(admin->ListApiKeys(&ctx, v1::ListApiKeysRequest(), &keys).ok());
    REQUIRE(keys.keys_size() == 2);
    CHECK(keys.DebugString().find(made.secret()) == std::string::npos);
  }
  // Revoked: refused at once.
  {
    v1::RevokeApiKeyRequest revoke;
    revoke.set_id(made.key().id());
    revoke.set_reason("left the county office");
    grpc::ClientContext ctx;
    v1::ApiKey revoked;
    REQUIRE(admin->RevokeApiKey(&ctx, revoke, &revoked).ok());
    CHECK(revoked.revoked());
    CHECK(revoked.audit().updated_by() == "ops.admin");
  }
  const auto [code, why] = WhoAmI(specialist);
  CHECK(code == grpc::StatusCode::UNAUTHENTICATED);
  CHECK(why.find("revoked") != std::string::npos);
  // Expired: refused once its time is up.
  create.mutable_principal()->set_subject("temp");
  create.mutable_expires_at()->set_seconds(absl::ToUnixSeconds(absl::Now()) + 2);
  v1::CreateApiKeyResponse temp;
  {
    grpc::ClientContext ctx;
    REQUIRE(admin->CreateApiKey(&ctx, create, &temp).ok());
  }
  CHECK(WhoAmI(gw.Channel(temp.secret())).first == grpc::StatusCode::OK);
  std::this_thread::sleep_for(std::chrono::milliseconds(2600));
  CHECK(WhoAmI(gw.Channel(temp.secret())).second.find("expired") != std::string::npos);
}

TEST_CASE("Backends take the actor from the gateway's signed identity and refuse a forged one", "[e2e][gateway]") {
  TestDatabase db;
  Gateway gw(db);
  auto theme = [](const std::string& code) {
    v1::UpsertThemeRequest req;
    req.mutable_theme()->set_code(code);
    req.mutable_theme()->set_name("电费回收");
    req.mutable_theme()->set_category(v1::BUSINESS_CATEGORY_BILLING);
    req.set_actor("whoever.the.body.says");
    return req;
  };
  // Through the gateway: the key's subject, whatever the body says.
  auto via = v1::MonitorService::NewStub(gw.Channel(gw.admin_key()));
  {
    grpc::ClientContext ctx;
    v1::Theme out;
    REQUIRE(via->UpsertTheme(&ctx, theme("T-A"), &out).ok());
    CHECK(out.audit().created_by() == "ops.admin");
  }
  // An identity a client sends to the gateway is dropped, not passed on.
  {
    auto forging = v1::MonitorService::NewStub(ChannelWithMetadata(gw.process().address("gateway"), "x-api-key",
                                                                  gw.admin_key()));
    grpc::ClientContext ctx;
    v1::Identity fake;
    fake.mutable_principal()->set_subject("someone.important");
    ctx.AddMetadata("x-aw-identity-bin", fake.SerializeAsString());
    ctx.AddMetadata("x-aw-identity-sig-bin", std::string(32, 'x'));
    v1::Theme out;
    REQUIRE(forging->UpsertTheme(&ctx, theme("T-B"), &out).ok());
    CHECK(out.audit().created_by() == "ops.admin");
  }
  // Straight to a backend with a forged identity: refused, unary or stream.
  auto direct = v1::MonitorService::NewStub(gw.process().Channel("monitor"));
  v1::Identity fake;
  fake.mutable_principal()->set_subject("someone.important");
  fake.mutable_principal()->add_roles(v1::ROLE_CENTRE_ADMIN);
  {
    grpc::ClientContext ctx;
    ctx.AddMetadata("x-aw-identity-bin", fake.SerializeAsString());
    ctx.AddMetadata("x-aw-identity-sig-bin", std::string(32, 'x'));
    v1::Theme out;
    const grpc::Status s = direct->UpsertTheme(&ctx, theme("T-C"), &out);
    CHECK(s.error_code() == grpc::StatusCode::UNAUTHENTICATED);
    CHECK(s.error_message().find("signature does not verify") != std::string::npos);
  }
  {
    grpc::ClientContext ctx;
    ctx.AddMetadata("x-aw-identity-bin", fake.SerializeAsString());  // no signature at all
    auto reader = direct->WatchEvents(&ctx, v1::WatchEventsRequest());
    v1::EventChange change;
    CHECK_FALSE(reader->Read(&change));
    CHECK(reader->Finish().error_code() == grpc::StatusCode::UNAUTHENTICATED);
  }
  // Without any identity (a service inside): the body's actor, as before.
  {
    grpc::ClientContext ctx;
    v1::Theme out;
    REQUIRE(direct->UpsertTheme(&ctx, theme("T-D"), &out).ok());
    CHECK(out.audit().created_by() == "whoever.the.body.says");
  }
}

TEST_CASE("A gateway and a backend in two processes share the identity key from a file", "[e2e][gateway]") {
  TestDatabase db;
  char dir[] = "/tmp/aw-keys-XXXXXX";
  REQUIRE(mkdtemp(dir) != nullptr);
  const std::string shared = std::string(dir) + "/identity", other = std::string(dir) + "/other";
  std::ofstream(shared) << "a key the whole deployment shares\n";
  std::ofstream(other) << "a key of some other deployment\n";
  auto run = [&](const std::string& gateway_key) {
    AuditwatchProcess backend("ingest,monitor", db.url(), {"--identity_key_file=" + shared});
    AuditwatchProcess gateway("gateway", db.url(),
                              {"--identity_key_file=" + gateway_key, "--ingest_addr=" + backend.address("ingest"),
                               "--monitor_addr=" + backend.address("monitor")});
    REQUIRE(WaitForHealth(backend.address("monitor"), "", "SERVING") == "SERVING");
    std::string secret;
    REQUIRE(WaitUntil([&] { return BootstrapAdminKey(gateway.Channel("gateway"), &secret).ok(); }));
    auto monitor = v1::MonitorService::NewStub(ChannelWithMetadata(gateway.address("gateway"), "x-api-key",
                                                                  secret));
    v1::UpsertThemeRequest theme;
    theme.mutable_theme()->set_code(absl::StrCat("T-", gateway_key.size()));
    theme.mutable_theme()->set_name("电费回收");
    theme.mutable_theme()->set_category(v1::BUSINESS_CATEGORY_BILLING);
    theme.set_actor("body");
    grpc::ClientContext ctx;
    v1::Theme out;
    const grpc::Status s = monitor->UpsertTheme(&ctx, theme, &out);
    return std::make_pair(s, out.audit().created_by());
  };
  const auto [same, by] = run(shared);
  CHECK(same.ok());
  CHECK(by == "ops.admin");
  db.Query("DELETE FROM gateway.api_keys");  // bootstrap again for the second deployment
  const auto [mismatch, ignored] = run(other);
  CHECK(mismatch.error_code() == grpc::StatusCode::UNAUTHENTICATED);
  // A key file that cannot be read is bad configuration.
  std::string out;
  CHECK(RunCommand(absl::StrCat(AW_BINARY_PATH, " --target=ingest --identity_key_file=", dir, "/missing"), &out) == 2);
  CHECK(out.find("--identity_key_file") != std::string::npos);
  std::filesystem::remove_all(dir);
}

TEST_CASE("A credential past its role's rate is refused with a hint of when to retry", "[e2e][gateway]") {
  TestDatabase db;
  Gateway gw(db, {"--rate_limits=ROLE_UNIT_VIEWER=5"});
  CreateUnits(gw.ingest(), SmallTree());
  auto stub = v1::IngestService::NewStub(gw.Channel(gw.Key("viewer", {v1::ROLE_UNIT_VIEWER})));
  v1::GetUnitRequest req;
  req.set_code("S1");
  auto get = [&](std::string* retry_after) {
    grpc::ClientContext ctx;
    v1::Unit unit;
    const grpc::Status s = stub->GetUnit(&ctx, req, &unit);
    const auto& trailers = ctx.GetServerTrailingMetadata();
    if (auto it = trailers.find("retry-after-ms"); it != trailers.end() && retry_after != nullptr) {
      *retry_after = std::string(it->second.data(), it->second.size());
    }
    return s;
  };
  // The burst (two seconds' worth) goes through, then the limit holds.
  int ok = 0;
  grpc::Status refused;
  std::string retry_after;
  for (int i = 0; i < 30 && refused.ok(); ++i) {
    const grpc::Status s = get(&retry_after);
    if (s.ok()) {
      ++ok;
    } else {
      refused = s;
    }
  }
  CHECK(ok >= 10);
  CHECK(ok <= 12);
  CHECK(refused.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED);
  CHECK(refused.error_message().find("ROLE_UNIT_VIEWER") != std::string::npos);
  int wait_ms = 0;
  REQUIRE(absl::SimpleAtoi(retry_after, &wait_ms));
  CHECK(wait_ms > 0);
  CHECK(wait_ms <= 200);
  std::this_thread::sleep_for(std::chrono::milliseconds(wait_ms + 20));
  CHECK(get(nullptr).ok());
  // The administrator's role has no limit.
  for (int i = 0; i < 30; ++i) {
    grpc::ClientContext ctx;
    v1::Unit unit;
    REQUIRE(gw.ingest().GetUnit(&ctx, req, &unit).ok());
  }
}

TEST_CASE("The gateway speaks TLS with the certificate and key it is given", "[e2e][gateway]") {
  TestDatabase db;
  char dir[] = "/tmp/aw-tls-XXXXXX";
  REQUIRE(mkdtemp(dir) != nullptr);
  const std::string cert = std::string(dir) + "/cert.pem", key = std::string(dir) + "/key.pem";
  std::string out;
  REQUIRE(RunCommand(absl::StrCat("openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=localhost "
                                  "-addext subjectAltName=DNS:localhost,IP:127.0.0.1 -keyout ",
                                  key, " -out ", cert),
                     &out) == 0);
  AuditwatchProcess process("ingest,gateway", db.url(),
                            {"--gateway_tls_cert_file=" + cert, "--gateway_tls_key_file=" + key});
  REQUIRE(WaitForHealth(process.address("ingest"), "", "SERVING") == "SERVING");
  std::ifstream in(cert);
  grpc::SslCredentialsOptions options;
  options.pem_root_certs.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  auto tls = grpc::CreateChannel(process.address("gateway"), grpc::SslCredentials(options));
  std::string secret;
  REQUIRE(BootstrapAdminKey(tls, &secret).ok());
  // A proxied call over TLS.
  auto ingest = v1::IngestService::NewStub(tls);
  {
    grpc::ClientContext ctx;
    ctx.AddMetadata("x-api-key", secret);
    v1::ListUnitsResponse units;
    CHECK(ingest->ListUnits(&ctx, v1::ListUnitsRequest(), &units).ok());
  }
  // Plaintext is not spoken there.
  {
    auto plain = v1::GatewayService::NewStub(process.Channel("gateway"));
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(3));
    v1::Principal p;
    CHECK(plain->WhoAmI(&ctx, v1::WhoAmIRequest(), &p).error_code() == grpc::StatusCode::UNAVAILABLE);
  }
  std::filesystem::remove_all(dir);
}

TEST_CASE("An idempotent call is retried across a backend restart, and another one is not", "[e2e][gateway]") {
  TestDatabase db;
  char dir[] = "/tmp/aw-keys-XXXXXX";
  REQUIRE(mkdtemp(dir) != nullptr);
  const std::string identity = "--identity_key_file=" + std::string(dir) + "/identity";
  std::ofstream(std::string(dir) + "/identity") << "a key the gateway and ingest share\n";
  auto backend = std::make_unique<AuditwatchProcess>("ingest", db.url(), std::vector<std::string>{identity});
  const int port = backend->port("ingest");
  AuditwatchProcess gateway("gateway", db.url(), {identity, "--ingest_addr=" + backend->address("ingest")});
  REQUIRE(WaitForHealth(backend->address("ingest"), "", "SERVING") == "SERVING");
  std::string secret;
  REQUIRE(BootstrapAdminKey(gateway.Channel("gateway"), &secret).ok());
  auto ingest = v1::IngestService::NewStub(ChannelWithMetadata(gateway.address("gateway"), "x-api-key", secret));
  CreateUnits(*ingest, SmallTree());
  CHECK(backend->Stop(SIGTERM) == 0);
  backend.reset();

  // While the backend is down: a write fails at once, a read waits for it.
  {
    v1::CreateUnitRequest unit;
    unit.set_code("S9");
    unit.set_name("S9");
    unit.set_type(v1::UNIT_TYPE_SUPPLY_STATION);
    unit.set_parent_code("D1");
    unit.set_actor("tester");
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    v1::Unit out;
    CHECK(ingest->CreateUnit(&ctx, unit, &out).error_code() == grpc::StatusCode::UNAVAILABLE);
  }
  std::thread restart([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(800));
    backend = std::make_unique<AuditwatchProcess>(
        "ingest", db.url(), std::vector<std::string>{identity, absl::StrCat("--ingest_port=", port)});
  });
  v1::GetUnitRequest get;
  get.set_code("S1");
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
  v1::Unit unit;
  const grpc::Status s = ingest->GetUnit(&ctx, get, &unit);
  restart.join();
  CHECK(s.ok());
  CHECK(unit.code() == "S1");
  std::filesystem::remove_all(dir);
}

TEST_CASE("A slow reader of a large replay keeps the gateway's memory flat (flow control end to end)",
          "[e2e][gateway]") {
  TestDatabase db;
  char dir[] = "/tmp/aw-keys-XXXXXX";
  REQUIRE(mkdtemp(dir) != nullptr);
  const std::string key_file = std::string(dir) + "/identity";
  std::ofstream(key_file) << "the deployment's identity key\n";
  AuditwatchProcess backend("ingest", db.url(), {"--identity_key_file=" + key_file});
  AuditwatchProcess gateway("gateway", db.url(),
                            {"--identity_key_file=" + key_file, "--ingest_addr=" + backend.address("ingest")});
  REQUIRE(WaitForHealth(backend.address("ingest"), "", "SERVING") == "SERVING");
  // A replay far larger than what the gateway may hold: 200,000 readings.
  auto direct = v1::IngestService::NewStub(backend.Channel("ingest"));
  const demo::SyntheticProvince province(5, 2024);
  REQUIRE(demo::LoadCatalogue(*direct, province, "flow").status.ok());
  int64_t loaded = 0;
  {
    grpc::ClientContext ctx;
    auto stream = direct->IngestReadings(&ctx);
    std::thread writer([&] {
      int64_t sent = 0;
      province.ForEachBatch(1000, [&](v1::ReadingBatch& b) {
        sent += b.rows_size();
        return sent <= 200000 && stream->Write(b);
      });
      stream->WritesDone();
    });
    v1::BatchResult r;
    while (stream->Read(&r)) loaded += r.accepted();
    writer.join();
    REQUIRE(stream->Finish().ok());
  }
  REQUIRE(loaded >= 190000);

  std::string secret;
  REQUIRE(WaitUntil([&] { return BootstrapAdminKey(gateway.Channel("gateway"), &secret).ok(); }));
  auto stub = v1::IngestService::NewStub(ChannelWithMetadata(gateway.address("gateway"), "x-api-key", secret));
  grpc::ClientContext ctx;
  auto reader = stub->WatchReadings(&ctx, v1::WatchReadingsRequest());
  v1::WatchReadingsResponse page;
  int64_t read = 0, bytes = 0;
  auto next = [&] {
    if (!reader->Read(&page)) return false;
    read += page.changes_size();
    bytes += static_cast<int64_t>(page.ByteSizeLong());
    return true;
  };
  // The stream under way, the gateway warm: where its memory stands.
  for (int i = 0; i < 2; ++i) REQUIRE(next());
  absl::SleepFor(absl::Milliseconds(500));
  const int64_t before_kib = gateway.RssKib();
  // Two seconds of reading slowly (a page every half second; a page holds
  // thousands of readings), while ingest could send it all at once.
  int64_t peak_kib = before_kib;
  const absl::Time slow_until = absl::Now() + absl::Seconds(2);
  while (absl::Now() < slow_until && next()) {
    absl::SleepFor(absl::Milliseconds(500));
    peak_kib = std::max(peak_kib, gateway.RssKib());
  }
  const int64_t read_slowly = read, bytes_slowly = bytes;
  // Then the rest, as fast as it comes.
  while (read < loaded && next()) {
  }
  ctx.TryCancel();
  reader->Finish();
  INFO("replay: " << read << " readings, " << bytes / 1024 << " KiB; read slowly: " << read_slowly << " readings, "
                  << bytes_slowly / 1024 << " KiB; gateway resident KiB before " << before_kib
                  << ", peak while slow " << peak_kib);
  CHECK(read >= loaded);
  // While the reader dawdled, more than 8 MiB of the replay was still to
  // come; the gateway held a bounded window of it, not the rest.
  CHECK(bytes - bytes_slowly > 8 * 1024 * 1024);
  CHECK(peak_kib - before_kib < 4 * 1024);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace aw::testing
