// The gateway's generic proxy: every call to the gateway's port for a method
// of the route table is forwarded to the backend that serves it, with no
// forwarding code per method. Unary calls go through the backend's unary
// path; streams of either direction are bridged message by message, each
// side reading its next message only when the other has taken the last one,
// so a slow reader slows the writer instead of making the gateway buffer
// (flow control end to end). Every call's credentials are checked first
// (UNAUTHENTICATED when missing or bad), then its rate (RESOURCE_EXHAUSTED
// with a retry-after-ms hint), and the verified principal goes to the
// backend as a signed identity; each call ends with an access log line and
// its metrics. Then who may do what: the caller's roles against the method's
// (access) option, and — for a caller limited to some units' subtrees — every
// unit its requests name (each message of a client stream too) against the
// org tree, an unset scope narrowed to its one unit, and every answer
// filtered so that nothing naming a unit outside reaches it
// (access_logic.h); PERMISSION_DENIED naming the method or the unit, before
// anything reaches the backend. Deadlines carry over, capped by the policy; a
// cancellation on either side ends the other. A request that does not decode
// as its method's input is refused with INVALID_ARGUMENT, and an unknown
// method with UNIMPLEMENTED naming it. Thread-safe.
#pragma once

#include <map>
#include <memory>
#include <string>

#include <grpcpp/generic/async_generic_service.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/worker_pool.h"
#include "services/gateway/gateway_metrics.h"
#include "services/gateway/authenticator.h"
#include "services/gateway/gateway_logic.h"
#include "services/gateway/unit_directory.h"

namespace aw::gateway {

class Proxy final : public grpc::CallbackGenericService {
 public:
  // `backends` maps a route's backend module to the channel that reaches it;
  // credentials that need a store read are checked on `workers`.
  Proxy(const RouteTable* routes, std::map<std::string, std::shared_ptr<grpc::Channel>> backends,
        DeadlinePolicy deadlines, Authenticator* auth, RateLimiter* limiter, UnitDirectory* units,
        WorkerPool* workers, GatewayMetrics* metrics, Clock* clock);
  ~Proxy() override;

  // Writes out the access log lines gathered (common/log.h RecordLogger).
  void FlushAccessLog() { access_->flush(); }

  // --- grpc::CallbackGenericService
  grpc::ServerGenericBidiReactor* CreateReactor(grpc::GenericCallbackServerContext* ctx) override;

 private:
  class CallRecord;
  class CallBase;
  class UnaryCall;
  class StreamCall;

  // The backend call's context: the caller's metadata (gRPC's own headers,
  // credentials and any identity it sent left out), the verified principal
  // signed (common/identity.h) and the deadline of the policy.
  std::unique_ptr<grpc::ClientContext> BackendContext(grpc::GenericCallbackServerContext* ctx, const Route& route,
                                                      const v1::Principal& principal, CallRecord& record) const;
  // Begins `call` once its credentials are checked, or finishes it refused.
  template <typename Call>
  Call* Authenticated(Call* call, grpc::GenericCallbackServerContext* ctx);
  // Checks the units a decoded request of a unit-limited caller names, and
  // narrows its unset scopes; `then` gets OK (and whether the request
  // changed) or the refusal — at once when the tree knows every unit named,
  // else from a worker once the tree has been fetched again.
  void AuthorizeUnits(const Route& route, const v1::Principal& principal, google::protobuf::Message* request,
                      std::function<void(absl::Status, bool changed)> then);

  const RouteTable* const routes_;
  std::map<std::string, std::unique_ptr<grpc::GenericStub>> stubs_;  // by backend module
  const DeadlinePolicy deadlines_;
  Authenticator* const auth_;
  RateLimiter* const limiter_;
  UnitDirectory* const units_;
  WorkerPool* const workers_;
  GatewayMetrics* const metrics_;
  const std::shared_ptr<spdlog::logger> access_;  // JSON lines, one per call
  Clock* const clock_;
};

}  // namespace aw::gateway
