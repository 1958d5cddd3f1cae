// Prometheus metrics of one process: the /metrics exposer, RED metrics for every
// gRPC method (a server interceptor), build info and service health gauges.
// Every series carries a `service` label naming the auditwatch service.
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include <grpcpp/support/server_interceptor.h>
#include <prometheus/counter.h>
#include <prometheus/exposer.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include "absl/status/statusor.h"

namespace aw {

// Thread-safe. One per process; services register their own metrics on
// registry() and always add a {service="<name>"} label.
class Metrics {
 public:
  Metrics();

  // Starts serving /metrics on host:port (port 0 picks one). Call once.
  absl::Status Serve(const std::string& host, int port);
  int port() const;

  prometheus::Registry& registry() { return *registry_; }
  std::shared_ptr<prometheus::Registry> shared_registry() { return registry_; }

  // An interceptor factory for a gRPC server of `service`: counts requests,
  // errors by gRPC code and observes latency for every method.
  std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface> InterceptorFactory(
      const std::string& service);

  void SetBuildInfo(const std::string& service, const std::string& version,
                    const std::string& commit);
  void SetServing(const std::string& service, bool serving);

  // Called by the interceptor; `method` is the full gRPC path.
  void RecordCall(const std::string& service, const std::string& method, int code,
                  double seconds);
  void CallStarted(const std::string& service, const std::string& method);

  // Calls of the services' own methods in progress in this process (health
  // checks and reflection left out): what a drain waits for.
  int64_t calls_in_flight() const { return calls_in_flight_; }

 private:
  std::shared_ptr<prometheus::Registry> registry_;
  std::unique_ptr<prometheus::Exposer> exposer_;
  prometheus::Family<prometheus::Counter>& started_;
  prometheus::Family<prometheus::Counter>& handled_;
  prometheus::Family<prometheus::Counter>& errors_;
  prometheus::Family<prometheus::Histogram>& latency_;
  prometheus::Family<prometheus::Gauge>& in_flight_;
  prometheus::Family<prometheus::Gauge>& build_info_;
  prometheus::Family<prometheus::Gauge>& serving_;
  std::atomic<int64_t> calls_in_flight_{0};
};

// "OK", "INVALID_ARGUMENT", … for a numeric gRPC status code.
std::string GrpcCodeName(int code);

}  // namespace aw
