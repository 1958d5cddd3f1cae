#include "services/gateway/backend_watch.h"

#include <vector>

#include "absl/synchronization/notification.h"
#include "common/log.h"
#include "grpc/health/v1/health.grpc.pb.h"

namespace aw::gateway {

void BackendWatch::CheckAll() {
  struct Check {
    const std::string* name;
    const Backend* backend;
    grpc::ClientContext ctx;
    grpc::health::v1::HealthCheckRequest request;
    grpc::health::v1::HealthCheckResponse response;
    grpc::Status status;
    absl::Notification done;
  };
  std::vector<std::unique_ptr<Check>> checks;
  for (const auto& [name, backend] : backends_) {
    auto c = std::make_unique<Check>();
    c->name = &name;
    c->backend = &backend;
    c->ctx.set_deadline(absl::ToChronoTime(absl::Now() + timeout_));
    c->request.set_service(backend.grpc_service);
    Check* raw = c.get();
    grpc::health::v1::Health::NewStub(backend.channel)
        ->async()
        ->Check(&raw->ctx, &raw->request, &raw->response, [raw](grpc::Status s) {
          raw->status = std::move(s);
          raw->done.Notify();
        });
    checks.push_back(std::move(c));
  }
  for (auto& c : checks) {
    c->done.WaitForNotification();
    const bool up =
        c->status.ok() && c->response.status() == grpc::health::v1::HealthCheckResponse::SERVING;
    auto it = last_.find(*c->name);
    if (it != last_.end() && it->second == static_cast<int>(up)) continue;
    if (up) {
      Logger("gateway")->info("backend {} is SERVING: its routes are open", *c->name);
    } else {
      Logger("gateway")->warn("backend {} is down ({}): its routes answer UNAVAILABLE", *c->name,
                              c->status.ok() ? "NOT_SERVING" : c->status.error_message());
    }
    last_[*c->name] = up;
    metrics_->BackendUp(*c->name, up);
    report_(c->backend->grpc_service, up);
  }
}

}  // namespace aw::gateway
