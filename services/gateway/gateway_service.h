// The gateway's own gRPC API (auditwatch.v1.GatewayService): who the caller
// is, tokens for keys, API keys (centre administrators; the first one by
// bootstrap), and the route table.
#pragma once

#include "auditwatch/v1/gateway.grpc.pb.h"
#include "common/worker_pool.h"
#include "services/gateway/authenticator.h"
#include "services/gateway/gateway_logic.h"
#include "services/gateway/gateway_store.h"

namespace aw::gateway {

class GatewayServiceImpl final : public v1::GatewayService::CallbackService {
 public:
  GatewayServiceImpl(const RouteTable* routes, GatewayStore* store, Authenticator* auth, WorkerPool* workers)
      : routes_(routes), store_(store), auth_(auth), workers_(workers) {}

  using Ctx = grpc::CallbackServerContext;
  grpc::ServerUnaryReactor* WhoAmI(Ctx* ctx, const v1::WhoAmIRequest* req, v1::Principal* resp) override;
  grpc::ServerUnaryReactor* IssueToken(Ctx* ctx, const v1::IssueTokenRequest* req,
                                       v1::IssueTokenResponse* resp) override;
  grpc::ServerUnaryReactor* CreateApiKey(Ctx* ctx, const v1::CreateApiKeyRequest* req,
                                         v1::CreateApiKeyResponse* resp) override;
  grpc::ServerUnaryReactor* RevokeApiKey(Ctx* ctx, const v1::RevokeApiKeyRequest* req, v1::ApiKey* resp) override;
  grpc::ServerUnaryReactor* ListApiKeys(Ctx* ctx, const v1::ListApiKeysRequest* req,
                                        v1::ListApiKeysResponse* resp) override;
  grpc::ServerUnaryReactor* ListRoutes(Ctx* ctx, const v1::ListRoutesRequest* req,
                                       v1::ListRoutesResponse* resp) override;

 private:
  // The caller, who must hold `role` unless it is ROLE_UNSPECIFIED.
  absl::StatusOr<v1::Principal> Caller(Ctx* ctx, v1::Role role);

  const RouteTable* const routes_;
  GatewayStore* const store_;
  Authenticator* const auth_;
  WorkerPool* const workers_;
};

}  // namespace aw::gateway
