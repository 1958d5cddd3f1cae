#include "common/metrics.h"

#include <prometheus/text_serializer.h>

#include <catch2/catch.hpp>

namespace aw {
namespace {

std::string Exposition(Metrics& m) {
  return prometheus::TextSerializer().Serialize(m.registry().Collect());
}

TEST_CASE("Metrics count calls and errors by method and code", "[metrics]") {
  Metrics m;
  const std::string method = "/auditwatch.v1.IngestService/SubmitReading";
  m.CallStarted("ingest", method);
  m.RecordCall("ingest", method, 0, 0.002);
  m.CallStarted("ingest", method);
  m.RecordCall("ingest", method, 3, 0.001);
  const std::string text = Exposition(m);
  const std::string labels =
      "service=\"ingest\",grpc_service=\"auditwatch.v1.IngestService\",grpc_method=\"SubmitReading\"";
  CHECK(text.find("auditwatch_grpc_server_started_total{" ) != std::string::npos);
  CHECK(text.find("grpc_code=\"INVALID_ARGUMENT\"") != std::string::npos);
  CHECK(text.find("auditwatch_grpc_server_errors_total{grpc_code=\"INVALID_ARGUMENT\",grpc_method=\"SubmitReading\",grpc_service=\"auditwatch.v1.IngestService\",service=\"ingest\"} 1") != std::string::npos);
  CHECK(text.find("auditwatch_grpc_server_handling_seconds_count{grpc_method=\"SubmitReading\",grpc_service=\"auditwatch.v1.IngestService\",service=\"ingest\"} 2") != std::string::npos);
  CHECK(text.find("auditwatch_grpc_server_in_flight{grpc_method=\"SubmitReading\",grpc_service=\"auditwatch.v1.IngestService\",service=\"ingest\"} 0") != std::string::npos);
  (void)labels;
}

TEST_CASE("Metrics name gRPC codes", "[metrics]") {
  CHECK(GrpcCodeName(0) == "OK");
  CHECK(GrpcCodeName(8) == "RESOURCE_EXHAUSTED");
  CHECK(GrpcCodeName(16) == "UNAUTHENTICATED");
  CHECK(GrpcCodeName(99) == "CODE_99");
}

TEST_CASE("Metrics carry build info and serving state per service", "[metrics]") {
  Metrics m;
  m.SetBuildInfo("audit", "0.1.0", "abc123");
  m.SetServing("audit", true);
  const std::string text = Exposition(m);
  CHECK(text.find("auditwatch_build_info{commit=\"abc123\",service=\"audit\",version=\"0.1.0\"} 1") !=
        std::string::npos);
  CHECK(text.find("auditwatch_service_serving{service=\"audit\"} 1") != std::string::npos);
}

}  // namespace
}  // namespace aw
