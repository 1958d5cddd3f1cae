#include "services/gateway/gateway_logic.h"

#include <random>

#include <catch2/catch.hpp>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <google/protobuf/stubs/logging.h>

#include "absl/strings/match.h"
#include "auditwatch/v1/audit.grpc.pb.h"
#include "auditwatch/v1/gateway.grpc.pb.h"
#include "auditwatch/v1/ingest.grpc.pb.h"
#include "auditwatch/v1/monitor.grpc.pb.h"
#include "auditwatch/v1/report.grpc.pb.h"
#include "auditwatch/v1/scoring.grpc.pb.h"

namespace aw::gateway {
namespace {

// The contracts this binary links (as the auditwatch binary does): each
// contract's file is reached through one of its messages, which links it in.
const RouteTable& Routes() {
  for (const auto* linked : {v1::Reading::descriptor(), v1::Rule::descriptor(), v1::AuditTask::descriptor(),
                             v1::SchemeItem::descriptor(), v1::ReportJob::descriptor(), v1::ApiKey::descriptor()}) {
    (void)linked;
  }
  static const RouteTable* const kRoutes = new RouteTable(RouteTable::FromGeneratedPool());
  return *kRoutes;
}

TEST_CASE("Every public method of every backend is routed by its full name, the gateway's own left out",
          "[gateway]") {
  const RouteTable& routes = Routes();
  const auto* ingest = google::protobuf::DescriptorPool::generated_pool()->FindServiceByName(
      v1::IngestService::service_full_name());
  REQUIRE(ingest != nullptr);
  for (int i = 0; i < ingest->method_count(); ++i) {
    const Route* r = routes.Find(absl::StrCat("/auditwatch.v1.IngestService/", ingest->method(i)->name()));
    REQUIRE(r != nullptr);
    CHECK(r->backend == "ingest");
  }
  const Route* bulk = routes.Find("/auditwatch.v1.IngestService/IngestReadings");
  REQUIRE(bulk != nullptr);
  CHECK(bulk->client_streaming());
  CHECK(bulk->server_streaming());
  const Route* feed = routes.Find("/auditwatch.v1.MonitorService/WatchEvents");
  REQUIRE(feed != nullptr);
  CHECK_FALSE(feed->client_streaming());
  CHECK(feed->server_streaming());
  CHECK(routes.Find("/auditwatch.v1.MonitorService/UpsertRule")->unary());
  CHECK(routes.Find("/auditwatch.v1.IngestService/GetUnit")->idempotent());
  CHECK(routes.Find("/auditwatch.v1.MonitorService/ListEvents")->idempotent());
  CHECK_FALSE(routes.Find("/auditwatch.v1.IngestService/CreateUnit")->idempotent());
  CHECK_FALSE(feed->idempotent());  // streams are not retried
  CHECK(routes.Find("/auditwatch.v1.GatewayService/ListRoutes") == nullptr);
  CHECK(routes.Find("/auditwatch.v1.IngestService/NoSuchMethod") == nullptr);
  CHECK(routes.Backends() == std::vector<std::string>{"audit", "ingest", "monitor", "report", "scoring"});
  v1::ListRoutesResponse listed;
  routes.ToProto(&listed);
  CHECK(listed.routes_size() == static_cast<int>(routes.routes().size()));
}

TEST_CASE("A forwarded call keeps the caller's deadline within the cap, or gets the default", "[gateway]") {
  const DeadlinePolicy policy{.unary_default = absl::Seconds(30), .unary_max = absl::Minutes(5),
                              .stream_max = absl::Hours(24)};
  const absl::Time now = absl::FromUnixSeconds(1'800'000'000);
  CHECK(BackendDeadline(policy, false, now, now + absl::Seconds(2)) == now + absl::Seconds(2));
  CHECK(BackendDeadline(policy, false, now, now + absl::Hours(1)) == now + absl::Minutes(5));
  CHECK(BackendDeadline(policy, false, now, absl::InfiniteFuture()) == now + absl::Seconds(30));
  CHECK(BackendDeadline(policy, true, now, absl::InfiniteFuture()) == now + absl::Hours(24));
  CHECK(BackendDeadline(policy, true, now, now + absl::Minutes(10)) == now + absl::Minutes(10));
  CHECK(BackendDeadline(policy, true, now, now + absl::Hours(48)) == now + absl::Hours(24));
  // A deadline already past stays past: the backend call fails at once.
  CHECK(BackendDeadline(policy, false, now, now - absl::Seconds(1)) == now - absl::Seconds(1));
}

absl::Status DecodeCheck(const Route& route, const std::string& bytes,
                         std::unique_ptr<google::protobuf::Message>* decoded = nullptr) {
  google::protobuf::io::ArrayInputStream in(bytes.data(), static_cast<int>(bytes.size()));
  std::unique_ptr<google::protobuf::Message> scratch;
  return CheckDecodes(route, in, bytes.size(), decoded != nullptr ? decoded : &scratch);
}

TEST_CASE("A request that does not decode as its method's input is refused, saying so", "[gateway]") {
  const Route* route = Routes().Find("/auditwatch.v1.MonitorService/GetEvent");
  REQUIRE(route != nullptr);
  v1::GetEventRequest good;
  good.set_id(7);
  CHECK(DecodeCheck(*route, good.SerializeAsString()).ok());
  CHECK(DecodeCheck(*route, "").ok());  // every field at its default
  const absl::Status bad = DecodeCheck(*route, std::string("\xff\xff\xff\xff", 4));
  CHECK(bad.code() == absl::StatusCode::kInvalidArgument);
  CHECK(std::string(bad.message()) == "the request does not decode as auditwatch.v1.GetEventRequest (4 bytes)");
  // A field of another wire type than its declared one decodes (protobuf
  // keeps it as an unknown field); an end-group tag without its start does not.
  CHECK(DecodeCheck(*route, std::string("\x0a\x02\x01\x02", 4)).ok());
  CHECK(DecodeCheck(*route, std::string("\x0c", 1)).code() == absl::StatusCode::kInvalidArgument);
  // A length running past the end.
  const Route* batch = Routes().Find("/auditwatch.v1.IngestService/IngestReadings");
  CHECK(DecodeCheck(*batch, std::string("\x12\x7f\x01", 3)).code() == absl::StatusCode::kInvalidArgument);
}

// Malformed input for the decode-and-authorise path, from a fixed seed:
// random bytes, valid requests with bits flipped or cut short, fields of the
// wrong wire type, lengths far past the end, deep nesting, and large
// messages. What decodes is then checked for a unit-limited caller, narrowed,
// and filtered as if it were an answer.
TEST_CASE("The decode and authorise path answers every malformed request cleanly (seeded fuzz)", "[gateway]") {
  std::mt19937_64 rng(20261130);
  auto byte = [&] { return static_cast<char>(rng() & 0xff); };
  std::vector<const Route*> routes;
  for (const auto& [method, route] : Routes().routes()) routes.push_back(&route);
  v1::ReadingBatch batch;
  batch.set_batch_id("fuzz");
  for (int i = 0; i < 20; ++i) {
    auto* row = batch.add_rows();
    row->set_unit_code("S1");
    row->set_indicator_code("RATE");
    row->mutable_period()->set_key("2025-03");
    row->set_value(i);
  }
  const std::string valid = batch.SerializeAsString();
  UnitTree tree;
  tree.Add("P", {"P"});
  tree.Add("D1", {"P", "D1"});
  tree.Add("S1", {"P", "D1", "S1"});
  tree.Add("D2", {"P", "D2"});
  v1::Principal county;
  county.set_subject("d1");
  county.add_roles(v1::ROLE_UNIT_SPECIALIST);
  county.add_unit_codes("D1");
  int refused = 0, accepted = 0, within = 0, outside = 0;
  google::protobuf::LogSilencer quiet;  // protobuf logs each string that is not UTF-8
  for (int n = 0; n < 20000; ++n) {
    std::string bytes;
    switch (n % 6) {
      case 0:  // random bytes
        bytes.resize(rng() % 256);
        for (char& c : bytes) c = byte();
        break;
      case 1:  // a valid message with bits flipped
        bytes = valid;
        for (int k = 0; k < 1 + static_cast<int>(rng() % 8); ++k) bytes[rng() % bytes.size()] ^= 1 << (rng() % 8);
        break;
      case 2:  // cut short
        bytes = valid.substr(0, rng() % valid.size());
        break;
      case 3:  // a length-delimited field claiming far more than there is
        bytes = std::string("\x12\xff\xff\xff\xff\x0f", 6) + valid.substr(0, rng() % 64);
        break;
      case 4: {  // deep nesting: field 2 inside field 2 inside …
        std::string inner = "\x08\x01";
        for (int depth = 0; depth < 200; ++depth) {
          std::string wrapped = "\x12";
          size_t len = inner.size();
          do {
            wrapped.push_back(static_cast<char>((len & 0x7f) | (len > 0x7f ? 0x80 : 0)));
            len >>= 7;
          } while (len > 0);
          inner = wrapped + inner;
        }
        bytes = inner;
        break;
      }
      default:  // large: a megabyte of one repeated field, some of it garbage
        bytes.reserve(1 << 20);
        while (bytes.size() < (1 << 20)) bytes += valid;
        if (rng() % 2 == 0) bytes[rng() % bytes.size()] = byte();
        break;
    }
    const Route& route = *routes[rng() % routes.size()];
    std::unique_ptr<google::protobuf::Message> decoded;
    const absl::Status s = DecodeCheck(route, bytes, &decoded);
    if (s.ok()) {
      ++accepted;
      if (route.request_units != nullptr) {
        (void)FirstUnit(*route.request_units, *decoded);
        NarrowScopes(*route.request_units, decoded.get(), county);
        const absl::Status units = CheckUnits(*route.request_units, *decoded, county, tree);
        REQUIRE((units.ok() || units.code() == absl::StatusCode::kPermissionDenied));
        ++(units.ok() ? within : outside);
      }
      // The same bytes as an answer of the route, filtered.
      std::unique_ptr<google::protobuf::Message> as_answer;
      google::protobuf::io::ArrayInputStream in(bytes.data(), static_cast<int>(bytes.size()));
      if (route.response_units != nullptr &&
          DecodeAs(route.descriptor->output_type(), in, bytes.size(), &as_answer, "the answer").ok()) {
        bool changed = false;
        (void)FilterUnits(*route.response_units, as_answer.get(), county, tree, &changed);
        REQUIRE(as_answer->ByteSizeLong() <= bytes.size() + 64);  // filtering only takes away
      }
    } else {
      REQUIRE(s.code() == absl::StatusCode::kInvalidArgument);
      REQUIRE(absl::StartsWith(s.message(), "the request does not decode as "));
      ++refused;
    }
  }
  CHECK(refused > 1000);
  CHECK(accepted > 1000);  // protobuf keeps unknown and mistyped fields
  CHECK(within > 100);     // narrowed, or naming nothing
  CHECK(outside > 10);     // naming some garbled unit
}

TEST_CASE("Each credential gets its role's rate, with a burst of two seconds' worth", "[gateway]") {
  auto limits = RateLimiter::Parse({{"ROLE_UNIT_VIEWER", "5"}});
  REQUIRE(limits.ok());
  RateLimiter limiter(*limits);
  const absl::Time t0 = absl::FromUnixSeconds(1'800'000'000);
  for (int i = 0; i < 10; ++i) CHECK_FALSE(limiter.Take("viewer-1", v1::ROLE_UNIT_VIEWER, t0).has_value());
  const auto wait = limiter.Take("viewer-1", v1::ROLE_UNIT_VIEWER, t0);
  REQUIRE(wait.has_value());
  CHECK(*wait == absl::Milliseconds(200));  // one token at 5 a second
  CHECK_FALSE(limiter.Take("viewer-2", v1::ROLE_UNIT_VIEWER, t0).has_value());  // its own bucket
  CHECK_FALSE(limiter.Take("viewer-1", v1::ROLE_UNIT_VIEWER, t0 + absl::Milliseconds(200)).has_value());
  CHECK(limiter.Take("viewer-1", v1::ROLE_UNIT_VIEWER, t0 + absl::Milliseconds(200)).has_value());
  // Idle for a minute: the bucket is full again, no fuller than the burst.
  for (int i = 0; i < 10; ++i) {
    CHECK_FALSE(limiter.Take("viewer-1", v1::ROLE_UNIT_VIEWER, t0 + absl::Minutes(1)).has_value());
  }
  CHECK(limiter.Take("viewer-1", v1::ROLE_UNIT_VIEWER, t0 + absl::Minutes(1)).has_value());
  // A role without a limit is not limited.
  for (int i = 0; i < 1000; ++i) CHECK_FALSE(limiter.Take("system", v1::ROLE_SYSTEM, t0).has_value());
  CHECK(RateLimiter::Parse({{"ROLE_NOBODY", "5"}}).status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(RateLimiter::Parse({{"ROLE_SYSTEM", "-1"}}).status().code() == absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace aw::gateway
