// The gateway's own gRPC API (auditwatch.v1.GatewayService): for now the
// route table; identities and API keys answer UNIMPLEMENTED until they land.
#pragma once

#include "auditwatch/v1/gateway.grpc.pb.h"
#include "services/gateway/gateway_logic.h"

namespace aw::gateway {

class GatewayServiceImpl final : public v1::GatewayService::CallbackService {
 public:
  explicit GatewayServiceImpl(const RouteTable* routes) : routes_(routes) {}

  grpc::ServerUnaryReactor* ListRoutes(grpc::CallbackServerContext* ctx, const v1::ListRoutesRequest* req,
                                       v1::ListRoutesResponse* resp) override;

 private:
  const RouteTable* const routes_;
};

}  // namespace aw::gateway
