#include "common/metrics.h"

#include <array>
#include <chrono>

#include "absl/strings/str_cat.h"

namespace aw {
namespace {

const prometheus::Histogram::BucketBoundaries kLatencyBuckets = {
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30};

// Splits "/pkg.Service/Method" into its two parts.
std::pair<std::string, std::string> SplitMethod(const std::string& path) {
  const size_t slash = path.rfind('/');
  if (path.empty() || path[0] != '/' || slash == 0 || slash == std::string::npos) {
    return {"unknown", path};
  }
  return {path.substr(1, slash - 1), path.substr(slash + 1)};
}

// Health checks and reflection: grpc.* services, not the suite's own.
bool IsInfrastructure(const std::string& method) { return method.rfind("/grpc.", 0) == 0; }

class MetricsInterceptor : public grpc::experimental::Interceptor {
 public:
  MetricsInterceptor(Metrics* metrics, std::string service, std::string method)
      : metrics_(metrics),
        service_(std::move(service)),
        method_(std::move(method)),
        start_(std::chrono::steady_clock::now()) {
    metrics_->CallStarted(service_, method_);
  }

  // A call that ends without sending a status (the client went away) is
  // recorded as CANCELLED.
  ~MetricsInterceptor() override {
    if (!recorded_) Record(static_cast<int>(grpc::StatusCode::CANCELLED));
  }

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(
            grpc::experimental::InterceptionHookPoints::PRE_SEND_STATUS)) {
      Record(static_cast<int>(methods->GetSendStatus().error_code()));
    }
    methods->Proceed();
  }

 private:
  void Record(int code) {
    recorded_ = true;
    const std::chrono::duration<double> elapsed = std::chrono::steady_clock::now() - start_;
    metrics_->RecordCall(service_, method_, code, elapsed.count());
  }

  Metrics* metrics_;
  const std::string service_;
  const std::string method_;
  const std::chrono::steady_clock::time_point start_;
  bool recorded_ = false;
};

class MetricsInterceptorFactory : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  MetricsInterceptorFactory(Metrics* metrics, std::string service)
      : metrics_(metrics), service_(std::move(service)) {}

  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override {
    return new MetricsInterceptor(metrics_, service_, info->method());
  }

 private:
  Metrics* metrics_;
  const std::string service_;
};

}  // namespace

std::string GrpcCodeName(int code) {
  static constexpr std::array<const char*, 17> kNames = {
      "OK",           "CANCELLED",          "UNKNOWN",           "INVALID_ARGUMENT",
      "DEADLINE_EXCEEDED", "NOT_FOUND",     "ALREADY_EXISTS",    "PERMISSION_DENIED",
      "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION", "ABORTED",    "OUT_OF_RANGE",
      "UNIMPLEMENTED", "INTERNAL",          "UNAVAILABLE",       "DATA_LOSS",
      "UNAUTHENTICATED"};
  if (code < 0 || code >= static_cast<int>(kNames.size())) return absl::StrCat("CODE_", code);
  return kNames[code];
}

Metrics::Metrics()
    : registry_(std::make_shared<prometheus::Registry>()),
      started_(prometheus::BuildCounter()
                   .Name("auditwatch_grpc_server_started_total")
                   .Help("gRPC calls started, by method")
                   .Register(*registry_)),
      handled_(prometheus::BuildCounter()
                   .Name("auditwatch_grpc_server_handled_total")
                   .Help("gRPC calls completed, by method and status code")
                   .Register(*registry_)),
      errors_(prometheus::BuildCounter()
                  .Name("auditwatch_grpc_server_errors_total")
                  .Help("gRPC calls completed with a status other than OK, by method and code")
                  .Register(*registry_)),
      latency_(prometheus::BuildHistogram()
                   .Name("auditwatch_grpc_server_handling_seconds")
                   .Help("Time from the start of a gRPC call to its status, by method")
                   .Register(*registry_)),
      in_flight_(prometheus::BuildGauge()
                     .Name("auditwatch_grpc_server_in_flight")
                     .Help("gRPC calls in progress, by method")
                     .Register(*registry_)),
      build_info_(prometheus::BuildGauge()
                      .Name("auditwatch_build_info")
                      .Help("Always 1; labels carry the version and commit of the binary")
                      .Register(*registry_)),
      serving_(prometheus::BuildGauge()
                   .Name("auditwatch_service_serving")
                   .Help("1 while the service reports SERVING on grpc.health.v1, else 0")
                   .Register(*registry_)) {}

absl::Status Metrics::Serve(const std::string& host, int port) {
  try {
    exposer_ = std::make_unique<prometheus::Exposer>(absl::StrCat(host, ":", port));
  } catch (const std::exception& e) {
    return absl::UnavailableError(
        absl::StrCat("cannot serve /metrics on ", host, ":", port, ": ", e.what()));
  }
  exposer_->RegisterCollectable(registry_);
  return absl::OkStatus();
}

int Metrics::port() const {
  if (!exposer_) return 0;
  const auto ports = exposer_->GetListeningPorts();
  return ports.empty() ? 0 : ports.front();
}

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface> Metrics::InterceptorFactory(
    const std::string& service) {
  return std::make_unique<MetricsInterceptorFactory>(this, service);
}

void Metrics::SetBuildInfo(const std::string& service, const std::string& version,
                           const std::string& commit) {
  build_info_.Add({{"service", service}, {"version", version}, {"commit", commit}}).Set(1);
}

void Metrics::SetServing(const std::string& service, bool serving) {
  serving_.Add({{"service", service}}).Set(serving ? 1 : 0);
}

void Metrics::CallStarted(const std::string& service, const std::string& method) {
  const auto [grpc_service, grpc_method] = SplitMethod(method);
  const prometheus::Labels labels = {
      {"service", service}, {"grpc_service", grpc_service}, {"grpc_method", grpc_method}};
  started_.Add(labels).Increment();
  in_flight_.Add(labels).Increment();
  if (!IsInfrastructure(method)) ++calls_in_flight_;
}

void Metrics::RecordCall(const std::string& service, const std::string& method, int code,
                         double seconds) {
  const auto [grpc_service, grpc_method] = SplitMethod(method);
  const prometheus::Labels labels = {
      {"service", service}, {"grpc_service", grpc_service}, {"grpc_method", grpc_method}};
  in_flight_.Add(labels).Decrement();
  if (!IsInfrastructure(method)) --calls_in_flight_;
  latency_.Add(labels, kLatencyBuckets).Observe(seconds);
  prometheus::Labels with_code = labels;
  with_code["grpc_code"] = GrpcCodeName(code);
  handled_.Add(with_code).Increment();
  if (code != 0) errors_.Add(with_code).Increment();
}

}  // namespace aw
