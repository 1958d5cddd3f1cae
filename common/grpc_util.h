// Glue between gRPC callback handlers and blocking work.
#pragma once

#include <utility>

#include <grpcpp/grpcpp.h>

#include "absl/status/status.h"
#include "common/identity.h"
#include "common/status.h"
#include "common/worker_pool.h"

namespace aw {

// Runs `fn` (returning absl::Status) on `pool` and finishes the unary call with
// its result. A full pool answers RESOURCE_EXHAUSTED at once, a draining one
// UNAVAILABLE; a call whose client went away or whose deadline passed while
// queued is not run.
//
//   grpc::ServerUnaryReactor* Get(grpc::CallbackServerContext* ctx, const Req* req,
//                                 Resp* resp) override {
//     return FinishOnWorker(ctx, workers_, [=] { return logic_.Get(*req, resp); });
//   }
template <typename Fn>
grpc::ServerUnaryReactor* FinishOnWorker(grpc::CallbackServerContext* ctx, WorkerPool& pool,
                                         Fn fn) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  if (!pool.taking_calls()) {
    reactor->Finish(grpc::Status(grpc::StatusCode::UNAVAILABLE,
                                 "server shutting down; retry on another replica"));
    return reactor;
  }
  // A forged identity is refused before any work (see common/identity.h).
  if (auto identity = ProcessIdentityKey().Verify(*ctx); !identity.ok()) {
    reactor->Finish(ToGrpcStatus(identity.status()));
    return reactor;
  }
  const bool queued = pool.TrySubmit([ctx, reactor, fn = std::move(fn)]() mutable {
    if (ctx->IsCancelled()) {
      reactor->Finish(grpc::Status(grpc::StatusCode::CANCELLED,
                                   "call cancelled or deadline exceeded while queued"));
      return;
    }
    reactor->Finish(ToGrpcStatus(fn()));
  });
  if (!queued) {
    reactor->Finish(grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                                 "server busy: worker queue of " + pool.name() +
                                     " is full, retry with backoff"));
  }
  return reactor;
}

// A server-streaming reactor that ends the call at once with `status` (for
// requests refused before any work starts).
template <typename Response>
class FailedWriteReactor final : public grpc::ServerWriteReactor<Response> {
 public:
  explicit FailedWriteReactor(const grpc::Status& status) { this->Finish(status); }
  void OnDone() override { delete this; }
};

// The same for a bidirectional stream.
template <typename Request, typename Response>
class FailedBidiReactor final : public grpc::ServerBidiReactor<Request, Response> {
 public:
  explicit FailedBidiReactor(const grpc::Status& status) { this->Finish(status); }
  void OnDone() override { delete this; }
};

// The same for a client stream.
template <typename Request>
class FailedReadReactor final : public grpc::ServerReadReactor<Request> {
 public:
  explicit FailedReadReactor(const grpc::Status& status) { this->Finish(status); }
  void OnDone() override { delete this; }
};

// OK unless the call carries a forged identity (see common/identity.h): for
// streaming handlers, which FinishOnWorker does not wrap.
inline grpc::Status CheckIdentity(const grpc::ServerContextBase& ctx) {
  return ToGrpcStatus(ProcessIdentityKey().Verify(ctx).status());
}

}  // namespace aw
