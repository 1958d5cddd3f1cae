// awctl health: every service's grpc.health.v1 status, asked of each service
// directly (an operator's check of the processes, not through the gateway).
#include <chrono>
#include <cstdio>
#include <map>
#include <thread>

#include <grpcpp/grpcpp.h>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "auditwatch/v1/audit.grpc.pb.h"
#include "auditwatch/v1/gateway.grpc.pb.h"
#include "auditwatch/v1/ingest.grpc.pb.h"
#include "auditwatch/v1/monitor.grpc.pb.h"
#include "auditwatch/v1/options.pb.h"
#include "auditwatch/v1/report.grpc.pb.h"
#include "auditwatch/v1/scoring.grpc.pb.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "services/awctl/commands.h"

namespace aw::awctl {
namespace {

namespace v1 = ::auditwatch::v1;
using grpc::health::v1::HealthCheckResponse;

struct Target {
  std::string service;
  std::string grpc_service;
  std::string address;
};

// Every service of the suite, with the module name and default port its
// contract declares (auditwatch/v1/options.proto). Each contract's file is
// reached through one of its messages, which also links it in.
std::vector<Target> Services() {
  const std::vector<std::pair<const google::protobuf::FileDescriptor*, const char*>> contracts = {
      {v1::Reading::descriptor()->file(), "IngestService"},     {v1::Rule::descriptor()->file(), "MonitorService"},
      {v1::AuditTask::descriptor()->file(), "AuditService"},     {v1::SchemeItem::descriptor()->file(), "ScoringService"},
      {v1::ReportJob::descriptor()->file(), "ReportService"},       {v1::ApiKey::descriptor()->file(), "GatewayService"},
  };
  std::vector<Target> out;
  for (const auto& [file, name] : contracts) {
    const google::protobuf::ServiceDescriptor* service = file->FindServiceByName(name);
    const auto& options = service->options();
    out.push_back({options.GetExtension(v1::module), service->full_name(),
                   absl::StrCat("127.0.0.1:", options.GetExtension(v1::default_port))});
  }
  return out;
}

std::string Check(const Target& t, const std::shared_ptr<grpc::Channel>& channel) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
  grpc::health::v1::HealthCheckRequest request;
  request.set_service(t.grpc_service);
  HealthCheckResponse response;
  const grpc::Status s = grpc::health::v1::Health::NewStub(channel)->Check(&ctx, request, &response);
  if (!s.ok()) return absl::StrCat("UNREACHABLE (", s.error_message(), ")");
  return HealthCheckResponse::ServingStatus_Name(response.status());
}

}  // namespace

int Health(const Flags& flags) {
  absl::Duration wait = absl::ZeroDuration();
  if (!absl::ParseDuration(flags.Get("wait", "0s"), &wait)) {
    std::fprintf(stderr, "awctl: --wait: expected a duration such as 60s\n");
    return 2;
  }
  std::map<std::string, std::string> addrs;
  for (const std::string& a : flags.All("addr")) {
    const size_t eq = a.find('=');
    if (eq == std::string::npos) {
      std::fprintf(stderr, "awctl: --addr: expected SERVICE=HOST:PORT, got %s\n", a.c_str());
      return 2;
    }
    addrs[a.substr(0, eq)] = a.substr(eq + 1);
  }
  std::vector<Target> targets = Services();
  std::vector<std::shared_ptr<grpc::Channel>> channels;
  for (Target& t : targets) {
    if (auto it = addrs.find(t.service); it != addrs.end()) t.address = it->second;
    channels.push_back(grpc::CreateChannel(t.address, grpc::InsecureChannelCredentials()));
  }
  const absl::Time give_up = absl::Now() + wait;
  for (;;) {
    std::vector<std::string> states;
    bool all = true;
    for (size_t i = 0; i < targets.size(); ++i) {
      states.push_back(Check(targets[i], channels[i]));
      all = all && states.back() == "SERVING";
    }
    if (all || absl::Now() >= give_up) {
      std::printf("%-8s %-21s %-32s %s\n", "SERVICE", "ADDRESS", "GRPC SERVICE", "HEALTH");
      for (size_t i = 0; i < targets.size(); ++i) {
        std::printf("%-8s %-21s %-32s %s\n", targets[i].service.c_str(),
                    targets[i].address.c_str(), targets[i].grpc_service.c_str(),
                    states[i].c_str());
      }
      return all ? 0 : 1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
}

}  // namespace aw::awctl
