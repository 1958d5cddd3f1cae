#include "services/gateway/gateway_service.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/grpc_util.h"
#include "common/paging.h"
#include "common/status.h"

namespace aw::gateway {

absl::StatusOr<v1::Principal> GatewayServiceImpl::Caller(Ctx* ctx, v1::Role role) {
  AW_ASSIGN_OR_RETURN(v1::Principal p, auth_->Authenticate(CredentialsOf(*ctx)));
  if (role != v1::ROLE_UNSPECIFIED && std::find(p.roles().begin(), p.roles().end(), role) == p.roles().end()) {
    return absl::PermissionDeniedError(absl::StrCat(p.subject(), " is not a ", v1::Role_Name(role)));
  }
  return p;
}

grpc::ServerUnaryReactor* GatewayServiceImpl::WhoAmI(Ctx* ctx, const v1::WhoAmIRequest*, v1::Principal* resp) {
  return FinishOnWorker(ctx, *workers_, [=, this]() -> absl::Status {
    AW_ASSIGN_OR_RETURN(*resp, Caller(ctx, v1::ROLE_UNSPECIFIED));
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* GatewayServiceImpl::IssueToken(Ctx* ctx, const v1::IssueTokenRequest* req,
                                                         v1::IssueTokenResponse* resp) {
  return FinishOnWorker(ctx, *workers_, [=, this]() -> absl::Status {
    if (req->api_key().empty()) return InvalidField("api_key", "required");
    AW_ASSIGN_OR_RETURN(*resp, auth_->IssueToken(req->api_key()));
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* GatewayServiceImpl::CreateApiKey(Ctx* ctx, const v1::CreateApiKeyRequest* req,
                                                           v1::CreateApiKeyResponse* resp) {
  return FinishOnWorker(ctx, *workers_, [=, this]() -> absl::Status {
    const v1::Principal& p = req->principal();
    if (p.subject().empty()) return InvalidField("principal.subject", "required");
    if (p.roles().empty()) return InvalidField("principal.roles", "at least one role");
    for (int r : p.roles()) {
      if (r == v1::ROLE_UNSPECIFIED || !v1::Role_IsValid(r)) {
        return InvalidField("principal.roles", absl::StrCat("unknown role ", r));
      }
    }
    const NewKey key = GenerateKey();
    const Credentials credentials = CredentialsOf(*ctx);
    if (credentials.kind == Credentials::Kind::kNone) {
      // The bootstrap: the first administrator key, while none is in force.
      if (std::find(p.roles().begin(), p.roles().end(), v1::ROLE_CENTRE_ADMIN) == p.roles().end()) {
        return absl::UnauthenticatedError("credentials required (only a first administrator key needs none)");
      }
      AW_ASSIGN_OR_RETURN(*resp->mutable_key(), store_->CreateFirstAdminKey(key.id, Sha256(key.secret), *req));
    } else {
      AW_ASSIGN_OR_RETURN(const v1::Principal admin, Caller(ctx, v1::ROLE_CENTRE_ADMIN));
      AW_ASSIGN_OR_RETURN(*resp->mutable_key(), store_->CreateKey(key.id, Sha256(key.secret), *req, admin.subject()));
    }
    resp->set_secret(key.secret);
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* GatewayServiceImpl::RevokeApiKey(Ctx* ctx, const v1::RevokeApiKeyRequest* req,
                                                           v1::ApiKey* resp) {
  return FinishOnWorker(ctx, *workers_, [=, this]() -> absl::Status {
    AW_ASSIGN_OR_RETURN(const v1::Principal admin, Caller(ctx, v1::ROLE_CENTRE_ADMIN));
    if (req->id().empty()) return InvalidField("id", "required");
    if (req->reason().empty()) return InvalidField("reason", "say why the key is revoked");
    AW_ASSIGN_OR_RETURN(*resp, store_->RevokeKey(req->id(), admin.subject(), req->reason()));
    auth_->Forget(req->id());
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* GatewayServiceImpl::ListApiKeys(Ctx* ctx, const v1::ListApiKeysRequest* req,
                                                          v1::ListApiKeysResponse* resp) {
  return FinishOnWorker(ctx, *workers_, [=, this]() -> absl::Status {
    AW_RETURN_IF_ERROR(Caller(ctx, v1::ROLE_CENTRE_ADMIN).status());
    AW_ASSIGN_OR_RETURN(const Page page, ParsePage(req->page(), *req));
    std::vector<v1::ApiKey> keys;
    int64_t total = 0;
    AW_RETURN_IF_ERROR(store_->ListKeys(page.offset, page.size, &keys, &total));
    for (auto& k : keys) *resp->add_keys() = std::move(k);
    FillPageResponse(page, total, resp->mutable_page());
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* GatewayServiceImpl::ListRoutes(Ctx* ctx, const v1::ListRoutesRequest*,
                                                         v1::ListRoutesResponse* resp) {
  return FinishOnWorker(ctx, *workers_, [=, this]() -> absl::Status {
    AW_RETURN_IF_ERROR(Caller(ctx, v1::ROLE_UNSPECIFIED).status());
    routes_->ToProto(resp);
    return absl::OkStatus();
  });
}

}  // namespace aw::gateway
