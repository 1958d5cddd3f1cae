// Who may do what through the gateway, end to end: roles per method, and a
// county's specialist held to the county's subtree — refused on another
// county's unit in a unary call, in the fifth message of a client stream (the
// first four applied, nothing after) and in a list, a list without a scope
// narrowed to the county, answers and feeds filtered; and a backend that is
// down turning only its own routes UNAVAILABLE.
#include <filesystem>
#include <fstream>
#include <functional>

#include <catch2/catch.hpp>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "auditwatch/v1/audit.grpc.pb.h"
#include "auditwatch/v1/gateway.grpc.pb.h"
#include "auditwatch/v1/ingest.grpc.pb.h"
#include "auditwatch/v1/monitor.grpc.pb.h"
#include "tests/support/gateway.h"
#include "tests/support/process.h"
#include "tests/support/readings.h"
#include "tests/support/test_db.h"

namespace aw::testing {
namespace {

namespace v1 = ::auditwatch::v1;

// The readings ingest holds (asked directly, as the centre would see them),
// as "unit period" texts, sorted.
std::vector<std::string> Stored(v1::IngestService::Stub& direct) {
  v1::QueryReadingsRequest q;
  q.mutable_periods()->mutable_first()->set_key("2025-01");
  q.mutable_periods()->mutable_last()->set_key("2025-12");
  q.mutable_page()->set_page_size(1000);
  v1::QueryReadingsResponse resp;
  grpc::ClientContext ctx;
  const grpc::Status s = direct.QueryReadings(&ctx, q, &resp);
  INFO(s.error_message());
  REQUIRE(s.ok());
  std::vector<std::string> out;
  for (const auto& r : resp.readings()) out.push_back(absl::StrCat(r.key().unit_code(), " ", r.key().period().key()));
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<std::string> Codes(const v1::ListUnitsResponse& resp) {
  std::vector<std::string> out;
  for (const auto& u : resp.units()) out.push_back(u.code());
  return out;
}

}  // namespace

TEST_CASE("A county specialist is held to the county's subtree: unary calls, stream messages and lists",
          "[e2e][gateway][access]") {
  TestDatabase db;
  Gateway gw(db);
  CreateUnits(gw.ingest(), TwoCounties());
  CreateIndicator(gw.ingest(), {.code = "RATE"});
  auto d1 = v1::IngestService::NewStub(gw.Channel(gw.Key("d1.specialist", {v1::ROLE_UNIT_SPECIALIST}, {"D1"})));

  // A unary call naming a unit of the other county is refused by the
  // gateway, naming the unit; nothing reaches ingest.
  v1::SubmitReadingRequest submit;
  submit.mutable_key()->set_unit_code("S3");
  submit.mutable_key()->set_indicator_code("RATE");
  submit.mutable_key()->mutable_period()->set_key("2025-01");
  submit.set_value(50);
  submit.set_entered_by("someone.else");
  {
    grpc::ClientContext ctx;
    v1::Reading out;
    const grpc::Status s = d1->SubmitReading(&ctx, submit, &out);
    CHECK(s.error_code() == grpc::StatusCode::PERMISSION_DENIED);
    CHECK(s.error_message() == "unit S3 is outside the units of d1.specialist (D1, with the units below them)");
  }
  CHECK(Stored(gw.direct()).empty());
  // Its own station goes through.
  submit.mutable_key()->set_unit_code("S1");
  {
    grpc::ClientContext ctx;
    v1::Reading out;
    const grpc::Status s = d1->SubmitReading(&ctx, submit, &out);
    INFO(s.error_message());
    REQUIRE(s.ok());  CHECK(out.entered_by() == "d1.specialist");  // the verified caller, whatever the body says
  }
  CHECK(Stored(gw.direct()) == std::vector<std::string>{"S1 2025-01"});

  // In a stream the fifth batch names S3: the first four are applied and
  // answered, the fifth and the sixth are not, and the call ends refused.
  {
    grpc::ClientContext ctx;
    auto stream = d1->IngestReadings(&ctx);
    for (int m = 1; m <= 6; ++m) {
      const std::string unit = m == 5 ? "S3" : (m % 2 ? "S1" : "S2");
      if (!stream->Write(MakeBatch(absl::StrCat("b", m), {{unit, "RATE", absl::StrCat("2025-0", m + 1), 60.0 + m}}))) {
        break;  // the gateway has stopped reading
      }
    }
    stream->WritesDone();
    std::vector<std::string> answered;
    v1::BatchResult result;
    while (stream->Read(&result)) answered.push_back(result.batch_id());
    CHECK(answered == std::vector<std::string>{"b1", "b2", "b3", "b4"});
    const grpc::Status s = stream->Finish();
    CHECK(s.error_code() == grpc::StatusCode::PERMISSION_DENIED);
    CHECK(s.error_message().find("unit S3 is outside") != std::string::npos);
  }
  CHECK(Stored(gw.direct()) ==
        std::vector<std::string>{"S1 2025-01", "S1 2025-02", "S1 2025-04", "S2 2025-03", "S2 2025-05"});
  // The same in a client stream (one answer at the end): the fifth message
  // names S3, and the call ends refused with the first four applied.
  {
    grpc::ClientContext ctx;
    v1::ImportReadingsResponse summary;
    auto stream = d1->ImportReadings(&ctx, &summary);
    for (int m = 1; m <= 6; ++m) {
      const std::string unit = m == 5 ? "S3" : "S2";
      if (!stream->Write(MakeBatch(absl::StrCat("c", m), {{unit, "RATE", absl::StrFormat("2025-%02d", 6 + m), 40.0 + m}}))) {
        break;
      }
    }
    stream->WritesDone();
    const grpc::Status s = stream->Finish();
    CHECK(s.error_code() == grpc::StatusCode::PERMISSION_DENIED);
    CHECK(s.error_message().find("unit S3 is outside") != std::string::npos);
  }
  CHECK(Stored(gw.direct()) == std::vector<std::string>{"S1 2025-01", "S1 2025-02", "S1 2025-04", "S2 2025-03",
                                                        "S2 2025-05", "S2 2025-07", "S2 2025-08", "S2 2025-09",
                                                        "S2 2025-10"});

  // A list scoped to the other county is refused; one without a scope is
  // narrowed to D1's subtree.
  {
    v1::ListUnitsRequest list;
    list.mutable_scope()->set_unit_code("D2");
    list.mutable_scope()->set_include_descendants(true);
    grpc::ClientContext ctx;
    v1::ListUnitsResponse resp;
    const grpc::Status s = d1->ListUnits(&ctx, list, &resp);
    CHECK(s.error_code() == grpc::StatusCode::PERMISSION_DENIED);
    CHECK(s.error_message().find("unit D2 is outside") != std::string::npos);
  }
  {
    grpc::ClientContext ctx;
    v1::ListUnitsResponse resp;
    REQUIRE(d1->ListUnits(&ctx, v1::ListUnitsRequest(), &resp).ok());
    CHECK(Codes(resp) == std::vector<std::string>{"D1", "S1", "S2"});
  }
  // The centre's view of the same list is the whole tree.
  {
    grpc::ClientContext ctx;
    v1::ListUnitsResponse resp;
    REQUIRE(gw.ingest().ListUnits(&ctx, v1::ListUnitsRequest(), &resp).ok());
    CHECK(resp.units_size() == 7);
  }
  // A record of another county is not answered.
  {
    v1::GetUnitRequest get;
    get.set_code("D2");
    grpc::ClientContext ctx;
    v1::Unit unit;
    CHECK(d1->GetUnit(&ctx, get, &unit).error_code() == grpc::StatusCode::PERMISSION_DENIED);
  }

  // Someone holding two subtrees cannot be narrowed to one scope: the answer
  // is filtered instead — here a list of readings and the readings feed.
  {
    grpc::ClientContext ctx;  // S3's reading, by the centre
    v1::Reading out;
    submit.mutable_key()->set_unit_code("S3");
    submit.mutable_key()->mutable_period()->set_key("2025-09");
    REQUIRE(gw.ingest().SubmitReading(&ctx, submit, &out).ok());
  }
  auto two = v1::IngestService::NewStub(gw.Channel(gw.Key("two.viewer", {v1::ROLE_UNIT_VIEWER}, {"S2", "S3"})));
  {
    v1::QueryReadingsRequest q;
    q.mutable_periods()->mutable_first()->set_key("2025-01");
    q.mutable_periods()->mutable_last()->set_key("2025-12");
    grpc::ClientContext ctx;
    v1::QueryReadingsResponse resp;
    REQUIRE(two->QueryReadings(&ctx, q, &resp).ok());
    std::vector<std::string> seen;
    for (const auto& r : resp.readings()) seen.push_back(r.key().unit_code());
    std::sort(seen.begin(), seen.end());
    CHECK(seen == std::vector<std::string>{"S2", "S2", "S2", "S2", "S2", "S2", "S3"});
  }
  // The feed: read up to where the centre's ends (its ten changes).
  auto watch = [](v1::IngestService::Stub& stub, const std::function<bool(int64_t, size_t)>& done) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    auto reader = stub.WatchReadings(&ctx, v1::WatchReadingsRequest());
    std::vector<std::string> seen;
    v1::WatchReadingsResponse page;
    int64_t last_seq = 0;
    while (!done(last_seq, seen.size()) && reader->Read(&page)) {
      for (const auto& c : page.changes()) seen.push_back(c.reading().key().unit_code());
      last_seq = std::max(last_seq, page.last_seq());
    }
    ctx.TryCancel();
    reader->Finish();
    std::sort(seen.begin(), seen.end());
    return std::make_pair(last_seq, seen);
  };
  const auto [end, all] = watch(gw.ingest(), [](int64_t, size_t n) { return n >= 10; });
  CHECK(all.size() == 10);
  const auto [read_to, seen] = watch(*two, [end = end](int64_t last, size_t) { return last >= end; });
  CHECK(read_to == end);  // every change was read past, the others' too
  CHECK(seen == std::vector<std::string>{"S2", "S2", "S2", "S2", "S2", "S2", "S3"});
}

TEST_CASE("A method is for the roles its contract names, as ListRoutes shows", "[e2e][gateway][access]") {
  TestDatabase db;
  Gateway gw(db);
  CreateUnits(gw.ingest(), TwoCounties());
  auto viewer = v1::IngestService::NewStub(gw.Channel(gw.Key("a.viewer", {v1::ROLE_UNIT_VIEWER}, {"D1"})));
  {
    v1::CreateUnitRequest create;
    create.set_code("S9");
    create.set_parent_code("D1");
    grpc::ClientContext ctx;
    v1::Unit out;
    const grpc::Status s = viewer->CreateUnit(&ctx, create, &out);
    CHECK(s.error_code() == grpc::StatusCode::PERMISSION_DENIED);
    CHECK(s.error_message() ==
          "/auditwatch.v1.IngestService/CreateUnit is for ROLE_CENTRE_ADMIN, ROLE_SYSTEM; a.viewer holds "
          "ROLE_UNIT_VIEWER");
  }
  {
    v1::GetUnitRequest get;
    get.set_code("S1");
    grpc::ClientContext ctx;
    v1::Unit out;
    CHECK(viewer->GetUnit(&ctx, get, &out).ok());
  }
  auto gateway = v1::GatewayService::NewStub(gw.Channel(gw.admin_key()));
  grpc::ClientContext ctx;
  v1::ListRoutesResponse routes;
  REQUIRE(gateway->ListRoutes(&ctx, v1::ListRoutesRequest(), &routes).ok());
  bool found = false;
  for (const auto& r : routes.routes()) {
    if (r.method() != "/auditwatch.v1.IngestService/CreateUnit") continue;
    found = true;
    CHECK(std::vector<int>(r.roles().begin(), r.roles().end()) ==
          std::vector<int>{v1::ROLE_CENTRE_ADMIN, v1::ROLE_SYSTEM});
  }
  CHECK(found);
}

TEST_CASE("A unit created after the gateway fetched the tree is known at its first use", "[e2e][gateway][access]") {
  TestDatabase db;
  Gateway gw(db);
  CreateUnits(gw.ingest(), TwoCounties());
  auto d1 = v1::IngestService::NewStub(gw.Channel(gw.Key("d1.system", {v1::ROLE_SYSTEM}, {"D1"})));
  v1::GetUnitRequest get;
  get.set_code("S1");
  {
    grpc::ClientContext ctx;
    v1::Unit out;
    REQUIRE(d1->GetUnit(&ctx, get, &out).ok());  // the tree is fetched by now
  }
  // D1's system creates a station under D1 (its parent is what it names),
  // then uses it at once.
  v1::CreateUnitRequest create;
  create.set_code("S4");
  create.set_name("Station 4");
  create.set_type(v1::UNIT_TYPE_SUPPLY_STATION);
  create.set_parent_code("D1");
  create.set_effective_from("2025-01-01");
  {
    grpc::ClientContext ctx;
    v1::Unit out;
    const grpc::Status s = d1->CreateUnit(&ctx, create, &out);
    INFO(s.error_message());
    REQUIRE(s.ok());
  }
  get.set_code("S4");
  {
    grpc::ClientContext ctx;
    v1::Unit out;
    const grpc::Status s = d1->GetUnit(&ctx, get, &out);
    INFO(s.error_message());
    CHECK(s.ok());
  }
  // Not under another county.
  create.set_code("S5");
  create.set_parent_code("D2");
  {
    grpc::ClientContext ctx;
    v1::Unit out;
    CHECK(d1->CreateUnit(&ctx, create, &out).error_code() == grpc::StatusCode::PERMISSION_DENIED);
  }
}

TEST_CASE("A backend that is down turns only its own routes UNAVAILABLE, and shows in health and metrics",
          "[e2e][gateway][access]") {
  TestDatabase db;
  char dir[] = "/tmp/aw-keys-XXXXXX";
  REQUIRE(mkdtemp(dir) != nullptr);
  const std::string key_file = std::string(dir) + "/identity";
  std::ofstream(key_file) << "the deployment's identity key\n";
  auto ingest = std::make_unique<AuditwatchProcess>("ingest", db.url(), std::vector<std::string>{
                                                                            "--identity_key_file=" + key_file});
  AuditwatchProcess rest("gateway,monitor,audit", db.url(),
                         {"--identity_key_file=" + key_file, "--ingest_addr=" + ingest->address("ingest")});
  REQUIRE(WaitForHealth(ingest->address("ingest"), "", "SERVING") == "SERVING");
  // Every backend is up before the one is killed.
  for (const char* backend : {"auditwatch.v1.IngestService", "auditwatch.v1.MonitorService", "auditwatch.v1.AuditService"}) {
    REQUIRE(WaitForHealth(rest.address("gateway"), backend, "SERVING") == "SERVING");
  }
  std::string secret;
  REQUIRE(WaitUntil([&] { return BootstrapAdminKey(rest.Channel("gateway"), &secret).ok(); }));
  auto channel = ChannelWithMetadata(rest.address("gateway"), "x-api-key", secret);
  auto units = v1::IngestService::NewStub(channel);
  auto monitor = v1::MonitorService::NewStub(channel);
  auto audit = v1::AuditService::NewStub(channel);
  auto list_units = [&] {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    v1::ListUnitsResponse resp;
    return units->ListUnits(&ctx, v1::ListUnitsRequest(), &resp);
  };
  auto list_themes = [&] {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    v1::ListThemesResponse resp;
    return monitor->ListThemes(&ctx, v1::ListThemesRequest(), &resp);
  };
  {
    const grpc::Status s = list_units();
    INFO(s.error_message());
    CHECK(s.ok());
  }
  {
    const grpc::Status s = list_themes();
    INFO(s.error_message());
    CHECK(s.ok());
  }
  CHECK(WaitUntil([&] { return MetricValue(rest, "auditwatch_gateway_backend_up", "backend=\"ingest\"") == 1; }));

  ingest.reset();  // killed
  CHECK(WaitForHealth(rest.address("gateway"), "auditwatch.v1.IngestService", "NOT_SERVING") == "NOT_SERVING");
  CHECK(WaitUntil([&] { return MetricValue(rest, "auditwatch_gateway_backend_up", "backend=\"ingest\"") == 0; }));
  CHECK(list_units().error_code() == grpc::StatusCode::UNAVAILABLE);
  // The gateway and the other routes go on: monitor answers from its own
  // data (it reports NOT_SERVING itself, ingest being one of its
  // dependencies), and audit's route reaches audit (which refuses a request
  // naming no task).
  CHECK(WaitForHealth(rest.address("gateway"), "", "SERVING") == "SERVING");
  CHECK(list_themes().ok());
  {
    grpc::ClientContext ctx;
    v1::AuditTask out;
    CHECK(audit->GetTask(&ctx, v1::GetTaskRequest(), &out).error_code() == grpc::StatusCode::INVALID_ARGUMENT);
  }
  std::filesystem::remove_all(dir);
}

}  // namespace aw::testing
