// Prometheus series of the gateway: forwarded calls by method, code and role,
// how long they took, and which backends answer.
#pragma once

#include <string>

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"

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

  // Counts a call and its time. The series of each (method, code, role) is
  // looked up in the families once, then kept.
  void Call(const std::string& method, const std::string& code, const std::string& role, double elapsed) {
    const std::string key = absl::StrCat(method, "\x1f", code, "\x1f", role);
    Series series;
    {
      absl::MutexLock lock(&mu_);
      auto it = series_.find(key);
      if (it == series_.end()) {
        it = series_
                 .emplace(key, Series{&calls.Add({{"service", "gateway"}, {"method", method}, {"code", code},
                                                  {"role", role}}),
                                      &seconds.Add({{"service", "gateway"}, {"method", method}},
                                                   prometheus::Histogram::BucketBoundaries{
                                                       0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                                       0.5, 1, 2.5, 5, 10, 60})})
                 .first;
      }
      series = it->second;
    }
    series.calls->Increment();
    series.seconds->Observe(elapsed);
  }

  void BackendUp(const std::string& backend, bool up) {
    backend_up.Add({{"service", "gateway"}, {"backend", backend}}).Set(up ? 1 : 0);
  }

  prometheus::Family<prometheus::Counter>& calls;
  prometheus::Family<prometheus::Histogram>& seconds;
  prometheus::Family<prometheus::Gauge>& backend_up;

 private:
  struct Series {
    prometheus::Counter* calls;
    prometheus::Histogram* seconds;
  };
  absl::Mutex mu_;
  absl::flat_hash_map<std::string, Series> series_ ABSL_GUARDED_BY(mu_);
};

}  // namespace aw::gateway
