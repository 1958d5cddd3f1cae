// Prometheus series of the gateway: forwarded calls by method, code and role,
// how long they took, and which backends answer.
#pragma once

#include <string>

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

namespace aw::gateway {

struct GatewayMetrics {
  explicit GatewayMetrics(prometheus::Registry& registry)
      : calls(prometheus::BuildCounter()
                  .Name("auditwatch_gateway_calls_total")
                  .Help("Calls through the gateway, by method, code and the caller's role")
                  .Register(registry)),
        seconds(prometheus::BuildHistogram()
                    .Name("auditwatch_gateway_call_seconds")
                    .Help("Time from a call's arrival at the gateway to its end, by method")
                    .Register(registry)),
        backend_up(prometheus::BuildGauge()
                       .Name("auditwatch_gateway_backend_up")
                       .Help("1 while the backend answers its health check SERVING, else 0 (its routes answer "
                             "UNAVAILABLE meanwhile)")
                       .Register(registry)) {}

  void Call(const std::string& method, const std::string& code, const std::string& role, double elapsed) {
    calls.Add({{"service", "gateway"}, {"method", method}, {"code", code}, {"role", role}}).Increment();
    seconds
        .Add({{"service", "gateway"}, {"method", method}},
             prometheus::Histogram::BucketBoundaries{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                                                     1, 2.5, 5, 10, 60})
        .Observe(elapsed);
  }

  void BackendUp(const std::string& backend, bool up) {
    backend_up.Add({{"service", "gateway"}, {"backend", backend}}).Set(up ? 1 : 0);
  }

  prometheus::Family<prometheus::Counter>& calls;
  prometheus::Family<prometheus::Histogram>& seconds;
  prometheus::Family<prometheus::Gauge>& backend_up;
};

}  // namespace aw::gateway
