// Which backends answer: each backend's health check (grpc.health.v1, its own
// service name) every --health_interval. A backend that does not answer
// SERVING turns only its own routes UNAVAILABLE (the proxy's calls to it
// fail on their own); the watch makes that visible — in the gateway's health
// under the backend's service name (e.g. "auditwatch.v1.IngestService"), in
// auditwatch_gateway_backend_up{backend}, and in the log when it changes.
// The gateway itself stays SERVING for the routes that work.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>

#include <grpcpp/grpcpp.h>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "services/gateway/gateway_metrics.h"

namespace aw::gateway {

class BackendWatch {
 public:
  struct Backend {
    std::string grpc_service;  // its name on grpc.health.v1
    std::shared_ptr<grpc::Channel> channel;
  };
  BackendWatch(std::map<std::string, Backend> backends, absl::Duration timeout, GatewayMetrics* metrics,
               std::function<void(const std::string& name, bool serving)> report_health)
      : backends_(std::move(backends)), timeout_(timeout), metrics_(metrics), report_(std::move(report_health)) {}

  // Checks every backend once (all at the same time) and reports what changed.
  void CheckAll();

 private:
  const std::map<std::string, Backend> backends_;
  const absl::Duration timeout_;
  GatewayMetrics* const metrics_;
  const std::function<void(const std::string&, bool)> report_;
  std::map<std::string, int> last_;  // by backend: 1 up, 0 down; absent before the first check
};

}  // namespace aw::gateway
