// awctl keys bootstrap|create|list|revoke, awctl token and awctl whoami: API
// keys, bearer tokens and the caller's identity, through the gateway's own API. A secret is shown once — on
// stdout alone, or written to --secret-file (mode 0600) — and never logged.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>

#include <google/protobuf/util/time_util.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "auditwatch/v1/gateway.grpc.pb.h"
#include "services/awctl/commands.h"

namespace aw::awctl {
namespace {

namespace v1 = ::auditwatch::v1;
using google::protobuf::util::TimeUtil;

// Hands a secret over: to --secret-file (created 0600), else to stdout.
int HandOver(const Flags& flags, const std::string& secret, const std::string& what) {
  if (!flags.Has("secret-file")) {
    std::printf("%s\n", secret.c_str());
    std::fprintf(stderr, "%s: shown once; keep it now\n", what.c_str());
    return 0;
  }
  const std::string path = flags.Get("secret-file", "");
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  const std::string line = secret + "\n";
  if (fd < 0 || ::fchmod(fd, 0600) != 0 || ::write(fd, line.data(), line.size()) != static_cast<ssize_t>(line.size())) {
    if (fd >= 0) ::close(fd);
    std::fprintf(stderr, "awctl: cannot write %s\n", path.c_str());
    return 1;
  }
  ::close(fd);
  std::fprintf(stderr, "%s written to %s\n", what.c_str(), path.c_str());
  return 0;
}

std::string Roles(const v1::Principal& p) {
  std::vector<std::string> out;
  for (int r : p.roles()) out.push_back(v1::Role_Name(static_cast<v1::Role>(r)));
  return absl::StrJoin(out, ",");
}

int Create(const Flags& flags, bool bootstrap) {
  v1::CreateApiKeyRequest req;
  req.mutable_principal()->set_subject(flags.Get("subject", bootstrap ? "admin" : ""));
  if (bootstrap) {
    req.mutable_principal()->add_roles(v1::ROLE_CENTRE_ADMIN);
  } else {
    for (const std::string& name : flags.All("role")) {
      v1::Role role = v1::ROLE_UNSPECIFIED;
      if (!v1::Role_Parse(name, &role) || role == v1::ROLE_UNSPECIFIED) {
        std::fprintf(stderr, "awctl keys create: --role: unknown role %s (ROLE_SYSTEM, ROLE_UNIT_SPECIALIST …)\n",
                     name.c_str());
        return 2;
      }
      req.mutable_principal()->add_roles(role);
    }
    for (const std::string& unit : flags.All("unit")) req.mutable_principal()->add_unit_codes(unit);
  }
  req.set_description(flags.Get("description", bootstrap ? "the first administrator key" : ""));
  if (flags.Has("expires-in")) {
    absl::Duration ttl;
    if (!absl::ParseDuration(flags.Get("expires-in", ""), &ttl) || ttl <= absl::ZeroDuration()) {
      std::fprintf(stderr, "awctl keys create: --expires-in takes a duration such as 720h\n");
      return 2;
    }
    *req.mutable_expires_at() = TimeUtil::SecondsToTimestamp(absl::ToUnixSeconds(absl::Now() + ttl));
  }
  auto channel = Connect(flags, /*need_credentials=*/!bootstrap);
  if (channel == nullptr) return 2;
  grpc::ClientContext ctx;
  v1::CreateApiKeyResponse resp;
  if (grpc::Status s = v1::GatewayService::NewStub(channel)->CreateApiKey(&ctx, req, &resp); !s.ok()) {
    return Failed("CreateApiKey", s);
  }
  std::fprintf(stderr, "key %s of %s (%s%s)\n", resp.key().id().c_str(), resp.key().principal().subject().c_str(),
               Roles(resp.key().principal()).c_str(),
               resp.key().principal().unit_codes().empty()
                   ? ""
                   : absl::StrCat("; units ", absl::StrJoin(resp.key().principal().unit_codes(), ",")).c_str());
  return HandOver(flags, resp.secret(), "the key's secret");
}

int List(const Flags& flags) {
  auto channel = Connect(flags);
  if (channel == nullptr) return 2;
  auto gateway = v1::GatewayService::NewStub(channel);
  v1::ListApiKeysRequest req;
  req.mutable_page()->set_page_size(1000);
  std::printf("%-24s %-20s %-40s %-16s %-8s %-20s %s\n", "ID", "SUBJECT", "ROLES", "UNITS", "REVOKED", "EXPIRES",
              "LAST USED");
  for (;;) {
    grpc::ClientContext ctx;
    v1::ListApiKeysResponse resp;
    if (grpc::Status s = gateway->ListApiKeys(&ctx, req, &resp); !s.ok()) return Failed("ListApiKeys", s);
    for (const v1::ApiKey& k : resp.keys()) {
      std::printf("%-24s %-20s %-40s %-16s %-8s %-20s %s\n", k.id().c_str(), k.principal().subject().c_str(),
                  Roles(k.principal()).c_str(),
                  k.principal().unit_codes().empty() ? "(all)" : absl::StrJoin(k.principal().unit_codes(), ",").c_str(),
                  k.revoked() ? "yes" : "no", k.has_expires_at() ? TimeUtil::ToString(k.expires_at()).c_str() : "never",
                  k.has_last_used_at() ? TimeUtil::ToString(k.last_used_at()).c_str() : "never");
    }
    if (resp.page().next_page_token().empty()) return 0;
    req.mutable_page()->set_page_token(resp.page().next_page_token());
  }
}

int Revoke(const Flags& flags) {
  if (!flags.Has("id") || !flags.Has("reason")) {
    std::fprintf(stderr, "awctl keys revoke: --id=ID and --reason=TEXT are required\n");
    return 2;
  }
  auto channel = Connect(flags);
  if (channel == nullptr) return 2;
  v1::RevokeApiKeyRequest req;
  req.set_id(flags.Get("id", ""));
  req.set_reason(flags.Get("reason", ""));
  grpc::ClientContext ctx;
  v1::ApiKey key;
  if (grpc::Status s = v1::GatewayService::NewStub(channel)->RevokeApiKey(&ctx, req, &key); !s.ok()) {
    return Failed("RevokeApiKey", s);
  }
  std::printf("key %s of %s revoked\n", key.id().c_str(), key.principal().subject().c_str());
  return 0;
}

}  // namespace

int Keys(const std::string& action, const Flags& flags) {
  if (action == "bootstrap") return Create(flags, true);
  if (action == "create") {
    if (!flags.Has("subject") || !flags.Has("role")) {
      std::fprintf(stderr, "awctl keys create: --subject and at least one --role are required\n");
      return 2;
    }
    return Create(flags, false);
  }
  if (action == "list") return List(flags);
  if (action == "revoke") return Revoke(flags);
  std::fprintf(stderr, "awctl keys: bootstrap, create, list or revoke\n");
  return 2;
}

int WhoAmI(const Flags& flags) {
  auto channel = Connect(flags);
  if (channel == nullptr) return 2;
  grpc::ClientContext ctx;
  v1::Principal me;
  if (grpc::Status s = v1::GatewayService::NewStub(channel)->WhoAmI(&ctx, v1::WhoAmIRequest(), &me); !s.ok()) {
    return Failed("WhoAmI", s);
  }
  std::printf("%s %s %s\n", me.subject().c_str(), Roles(me).c_str(),
              me.unit_codes().empty() ? "(all units)" : absl::StrJoin(me.unit_codes(), ",").c_str());
  return 0;
}

int Token(const Flags& flags) {
  auto key = ApiKey(flags);
  if (!key.ok() || key->empty()) {
    std::fprintf(stderr, "awctl token: needs an API key (--key-file=PATH or AW_API_KEY) to exchange\n");
    return 2;
  }
  // The key goes in the request (as credentials too, which IssueToken does not need).
  auto channel = Connect(flags, /*need_credentials=*/false);
  if (channel == nullptr) return 2;
  v1::IssueTokenRequest req;
  req.set_api_key(*key);
  grpc::ClientContext ctx;
  v1::IssueTokenResponse resp;
  if (grpc::Status s = v1::GatewayService::NewStub(channel)->IssueToken(&ctx, req, &resp); !s.ok()) {
    return Failed("IssueToken", s);
  }
  std::fprintf(stderr, "token valid until %s\n", TimeUtil::ToString(resp.expires_at()).c_str());
  return HandOver(flags, resp.token(), "the token");
}

}  // namespace aw::awctl
