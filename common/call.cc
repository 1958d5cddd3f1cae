#include "common/call.h"

#include <chrono>

namespace aw {

std::unique_ptr<grpc::ClientContext> ChildContext(const grpc::CallbackServerContext& parent,
                                                  absl::Duration default_deadline) {
  std::unique_ptr<grpc::ClientContext> ctx = grpc::ClientContext::FromCallbackServerContext(parent);
  if (parent.deadline() == std::chrono::system_clock::time_point::max()) {
    ctx->set_deadline(std::chrono::system_clock::now() + absl::ToChronoMilliseconds(default_deadline));
  }
  return ctx;
}

std::unique_ptr<grpc::ClientContext> CallContext(absl::Duration deadline) {
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->set_deadline(std::chrono::system_clock::now() + absl::ToChronoMilliseconds(deadline));
  return ctx;
}

}  // namespace aw
