// The gateway under test: every service in one process, stubs on the
// gateway's port (and, to compare, on ingest's own), and API keys made by the
// bootstrap administrator.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "auditwatch/v1/gateway.grpc.pb.h"
#include "auditwatch/v1/ingest.grpc.pb.h"
#include "tests/support/process.h"
#include "tests/support/test_db.h"

namespace aw::testing {

// All services in one process, with stubs on the gateway's port and, to
// compare, on ingest's own.
class Gateway {
 public:
  explicit Gateway(const TestDatabase& db, std::vector<std::string> args = {})
      : process_("all", db.url(), std::move(args)) {
    for (const char* backend : {"ingest", "monitor", "audit", "scoring", "report"}) {
      REQUIRE(WaitForHealth(process_.address(backend), "", "SERVING") == "SERVING");
    }
    REQUIRE(WaitForHealth(process_.address("gateway"), "auditwatch.v1.GatewayService", "SERVING") == "SERVING");
    admin_key_ = Bootstrap();
    via_gateway_ = auditwatch::v1::IngestService::NewStub(Channel(admin_key_));
    direct_ = auditwatch::v1::IngestService::NewStub(process_.Channel("ingest"));
  }

  // The first administrator key, made without credentials; its secret.
  std::string Bootstrap() {
    std::string secret;
    REQUIRE(BootstrapAdminKey(process_.Channel("gateway"), &secret).ok());
    return secret;
  }

  // A channel to the gateway whose calls carry the API key `secret`.
  std::shared_ptr<grpc::Channel> Channel(const std::string& secret) {
    return ChannelWithMetadata(process_.address("gateway"), "x-api-key", secret);
  }
  const std::string& admin_key() const { return admin_key_; }

  // A new API key of `subject` with `roles`, limited to the subtrees of
  // `units` (none: the whole tree); its secret.
  std::string Key(const std::string& subject, const std::vector<auditwatch::v1::Role>& roles,
                  const std::vector<std::string>& units = {}) {
    auto admin = auditwatch::v1::GatewayService::NewStub(Channel(admin_key_));
    auditwatch::v1::CreateApiKeyRequest create;
    create.mutable_principal()->set_subject(subject);
    for (auto role : roles) create.mutable_principal()->add_roles(role);
    for (const auto& unit : units) create.mutable_principal()->add_unit_codes(unit);
    auditwatch::v1::CreateApiKeyResponse made;
    grpc::ClientContext ctx;
    const grpc::Status s = admin->CreateApiKey(&ctx, create, &made);
    REQUIRE(s.ok());
    return made.secret();
  }

  auditwatch::v1::IngestService::Stub& ingest() { return *via_gateway_; }
  auditwatch::v1::IngestService::Stub& direct() { return *direct_; }
  AuditwatchProcess& process() { return process_; }

  // The number of open readings-feed streams, from /metrics.
  int ReadingsSubscribers() {
    return static_cast<int>(MetricValue(process_, "auditwatch_feed_subscribers", "feed=\"readings\""));
  }

 private:
  AuditwatchProcess process_;
  std::string admin_key_;
  std::unique_ptr<auditwatch::v1::IngestService::Stub> via_gateway_, direct_;
};

}  // namespace aw::testing
