#include "services/gateway/authenticator.h"

#include <jwt.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>

#include <nlohmann/json.hpp>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/status.h"

namespace aw::gateway {
namespace {

constexpr char kApiKeyHeader[] = "x-api-key";
constexpr char kAuthorizationHeader[] = "authorization";
constexpr char kIssuer[] = "auditwatch";
constexpr char kKeyPrefix[] = "awk_";

std::string RandomHex(size_t bytes) {
  std::string raw(bytes, '\0');
  RAND_bytes(reinterpret_cast<unsigned char*>(raw.data()), static_cast<int>(raw.size()));
  return absl::BytesToHexString(raw);
}

// "awk_<id>_<secret>" → id; empty when malformed.
std::string KeyIdOf(absl::string_view secret) {
  if (!absl::StartsWith(secret, kKeyPrefix)) return "";
  std::vector<absl::string_view> parts = absl::StrSplit(secret.substr(4), '_');
  if (parts.size() != 2 || parts[0].empty() || parts[1].empty()) return "";
  return std::string(parts[0]);
}

absl::Status Refused(absl::string_view why) {
  return absl::UnauthenticatedError(absl::StrCat(why, ": send \"x-api-key: <secret>\" or "
                                                      "\"authorization: Bearer <token>\""));
}

struct JwtDeleter {
  void operator()(jwt_t* j) const { jwt_free(j); }
};
using Jwt = std::unique_ptr<jwt_t, JwtDeleter>;

}  // namespace

Credentials CredentialsOf(const grpc::ServerContextBase& ctx) {
  const auto& md = ctx.client_metadata();
  if (auto it = md.find(kApiKeyHeader); it != md.end()) {
    return {Credentials::Kind::kApiKey, std::string(it->second.data(), it->second.size())};
  }
  if (auto it = md.find(kAuthorizationHeader); it != md.end()) {
    const std::string value(it->second.data(), it->second.size());
    if (absl::StartsWithIgnoreCase(value, "bearer ")) return {Credentials::Kind::kBearer, value.substr(7)};
    return {Credentials::Kind::kBearer, ""};  // a scheme we do not take
  }
  return {};
}

bool IsCredentialMetadata(absl::string_view key) { return key == kApiKeyHeader || key == kAuthorizationHeader; }

NewKey GenerateKey() {
  NewKey k;
  k.id = RandomHex(6);
  k.secret = absl::StrCat(kKeyPrefix, k.id, "_", RandomHex(32));
  return k;
}

Authenticator::Authenticator(GatewayStore* store, std::string jwt_key, absl::Duration token_ttl, Clock* clock)
    : store_(store), jwt_key_(std::move(jwt_key)), token_ttl_(token_ttl), clock_(clock) {}

absl::StatusOr<v1::Principal> Authenticator::CheckKey(const StoredKey& key, absl::string_view secret) const {
  const std::string sha = Sha256(secret);
  if (sha.size() != key.secret_sha256.size() ||
      CRYPTO_memcmp(sha.data(), key.secret_sha256.data(), sha.size()) != 0) {
    return Refused("unknown API key");
  }
  if (key.key.revoked()) return Refused(absl::StrCat("API key ", key.key.id(), " is revoked"));
  if (key.key.has_expires_at() && absl::FromUnixSeconds(key.key.expires_at().seconds()) <= clock_->Now()) {
    return Refused(absl::StrCat("API key ", key.key.id(), " has expired"));
  }
  return key.key.principal();
}

absl::StatusOr<v1::Principal> Authenticator::CheckToken(const std::string& token) const {
  if (token.empty()) return Refused("unsupported authorization scheme");
  jwt_t* raw = nullptr;
  if (jwt_decode(&raw, token.c_str(), reinterpret_cast<const unsigned char*>(jwt_key_.data()),
                 static_cast<int>(jwt_key_.size())) != 0) {
    return Refused("the bearer token does not verify");
  }
  Jwt jwt(raw);
  if (jwt_get_alg(jwt.get()) != JWT_ALG_HS256) return Refused("the bearer token is not HS256");
  const char* iss = jwt_get_grant(jwt.get(), "iss");
  if (iss == nullptr || std::string(iss) != kIssuer) return Refused("the bearer token has another issuer");
  const long exp = jwt_get_grant_int(jwt.get(), "exp");
  if (exp <= absl::ToUnixSeconds(clock_->Now())) return Refused("the bearer token has expired");
  v1::Principal p;
  const char* sub = jwt_get_grant(jwt.get(), "sub");
  if (sub == nullptr) return Refused("the bearer token names no subject");
  p.set_subject(sub);
  char* grants = jwt_get_grants_json(jwt.get(), nullptr);
  const nlohmann::json claims = nlohmann::json::parse(grants != nullptr ? grants : "{}", nullptr, false);
  free(grants);
  if (claims.is_discarded()) return Refused("the bearer token's claims do not decode");
  for (const auto& r : claims.value("roles", nlohmann::json::array())) {
    if (r.is_number_integer() && v1::Role_IsValid(r.get<int>())) p.add_roles(static_cast<v1::Role>(r.get<int>()));
  }
  for (const auto& u : claims.value("units", nlohmann::json::array())) {
    if (u.is_string()) p.add_unit_codes(u.get<std::string>());
  }
  return p;
}

std::optional<absl::StatusOr<v1::Principal>> Authenticator::Known(const Credentials& c) {
  switch (c.kind) {
    case Credentials::Kind::kNone:
      return absl::StatusOr<v1::Principal>(Refused("no credentials"));
    case Credentials::Kind::kBearer:
      return CheckToken(c.value);
    case Credentials::Kind::kApiKey: {
      const std::string id = KeyIdOf(c.value);
      if (id.empty()) return absl::StatusOr<v1::Principal>(Refused("malformed API key"));
      absl::MutexLock lock(&mu_);
      auto it = keys_.find(id);
      if (it == keys_.end() || clock_->Now() - it->second.fetched > kKeyCache) return std::nullopt;
      used_.insert(id);
      return CheckKey(it->second.key, c.value);
    }
  }
  return std::nullopt;
}

absl::StatusOr<v1::Principal> Authenticator::Authenticate(const Credentials& c) {
  if (auto known = Known(c)) return *std::move(known);
  const std::string id = KeyIdOf(c.value);
  auto key = store_->FindKey(id);
  if (absl::IsNotFound(key.status())) return Refused("unknown API key");
  if (!key.ok()) return key.status();
  absl::MutexLock lock(&mu_);
  keys_[id] = Cached{*key, clock_->Now()};
  used_.insert(id);
  return CheckKey(*key, c.value);
}

absl::StatusOr<v1::IssueTokenResponse> Authenticator::IssueToken(const std::string& api_key) {
  AW_ASSIGN_OR_RETURN(const v1::Principal p, Authenticate({Credentials::Kind::kApiKey, api_key}));
  jwt_t* raw = nullptr;
  if (jwt_new(&raw) != 0) return absl::InternalError("cannot make a token");
  Jwt jwt(raw);
  const int64_t now = absl::ToUnixSeconds(clock_->Now());
  const int64_t exp = now + absl::ToInt64Seconds(token_ttl_);
  nlohmann::json extra = {{"roles", nlohmann::json::array()}, {"units", nlohmann::json::array()}};
  for (int r : p.roles()) extra["roles"].push_back(r);
  for (const auto& u : p.unit_codes()) extra["units"].push_back(u);
  if (jwt_add_grant(jwt.get(), "iss", kIssuer) != 0 || jwt_add_grant(jwt.get(), "sub", p.subject().c_str()) != 0 ||
      jwt_add_grant_int(jwt.get(), "iat", now) != 0 || jwt_add_grant_int(jwt.get(), "exp", exp) != 0 ||
      jwt_add_grants_json(jwt.get(), extra.dump().c_str()) != 0 ||
      jwt_set_alg(jwt.get(), JWT_ALG_HS256, reinterpret_cast<const unsigned char*>(jwt_key_.data()),
                  static_cast<int>(jwt_key_.size())) != 0) {
    return absl::InternalError("cannot sign a token");
  }
  char* token = jwt_encode_str(jwt.get());
  if (token == nullptr) return absl::InternalError("cannot encode a token");
  v1::IssueTokenResponse out;
  out.set_token(token);
  free(token);
  out.mutable_expires_at()->set_seconds(exp);
  return out;
}

void Authenticator::Forget(const std::string& key_id) {
  absl::MutexLock lock(&mu_);
  keys_.erase(key_id);
}

absl::Status Authenticator::FlushUsage() {
  std::vector<std::string> ids;
  {
    absl::MutexLock lock(&mu_);
    ids.assign(used_.begin(), used_.end());
    used_.clear();
  }
  return store_->TouchKeys(ids);
}

}  // namespace aw::gateway
