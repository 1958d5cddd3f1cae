#include "services/gateway/gateway_service.h"

namespace aw::gateway {

grpc::ServerUnaryReactor* GatewayServiceImpl::ListRoutes(grpc::CallbackServerContext* ctx,
                                                         const v1::ListRoutesRequest*,
                                                         v1::ListRoutesResponse* resp) {
  routes_->ToProto(resp);  // in memory: answered on the reactor
  auto* reactor = ctx->DefaultReactor();
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

}  // namespace aw::gateway
