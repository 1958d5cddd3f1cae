#include "common/identity.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <fstream>
#include <iterator>
#include <memory>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"

namespace aw {
namespace {

absl::Mutex g_key_mu;
IdentityKey* g_key ABSL_GUARDED_BY(g_key_mu) = nullptr;

std::string Value(const grpc::string_ref& s) { return std::string(s.data(), s.size()); }

}  // namespace

bool IsIdentityMetadata(absl::string_view key) { return absl::StartsWith(key, "x-aw-identity"); }

IdentityKey IdentityKey::Random() {
  std::string secret(32, '\0');
  RAND_bytes(reinterpret_cast<unsigned char*>(secret.data()), static_cast<int>(secret.size()));
  return IdentityKey(std::move(secret));
}

std::string IdentityKey::Mac(absl::string_view bytes) const {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), secret_.data(), static_cast<int>(secret_.size()),
       reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(), out, &len);
  return std::string(reinterpret_cast<const char*>(out), len);
}

void IdentityKey::Sign(const auditwatch::v1::Identity& identity, grpc::ClientContext* ctx) const {
  const std::string bytes = identity.SerializeAsString();
  ctx->AddMetadata(kIdentityMetadata, bytes);
  ctx->AddMetadata(kIdentitySignatureMetadata, Mac(bytes));
}

absl::StatusOr<std::optional<auditwatch::v1::Identity>> IdentityKey::Verify(
    const grpc::ServerContextBase& ctx) const {
  const auto& md = ctx.client_metadata();
  auto identity = md.find(kIdentityMetadata);
  auto signature = md.find(kIdentitySignatureMetadata);
  if (identity == md.end() && signature == md.end()) return std::optional<auditwatch::v1::Identity>();
  if (identity == md.end() || signature == md.end() || md.count(kIdentityMetadata) != 1 ||
      md.count(kIdentitySignatureMetadata) != 1) {
    return absl::UnauthenticatedError("the forwarded identity is incomplete: call through the gateway");
  }
  const std::string bytes = Value(identity->second);
  const std::string expected = Mac(bytes);
  const std::string given = Value(signature->second);
  if (given.size() != expected.size() || CRYPTO_memcmp(given.data(), expected.data(), given.size()) != 0) {
    return absl::UnauthenticatedError("the forwarded identity's signature does not verify: call through the gateway");
  }
  auditwatch::v1::Identity out;
  if (!out.ParseFromString(bytes)) return absl::UnauthenticatedError("the forwarded identity does not decode");
  return std::optional<auditwatch::v1::Identity>(std::move(out));
}

absl::StatusOr<std::string> ReadKeyFile(const std::string& path, absl::string_view flag) {
  std::ifstream in(path, std::ios::binary);
  std::string key((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  while (!key.empty() && (key.back() == '\n' || key.back() == '\r')) key.pop_back();
  if (!in.is_open() || key.size() < 16) {
    return absl::InvalidArgumentError(absl::StrCat("--", flag, " ", path, ": cannot read a key of at least 16 bytes"));
  }
  return key;
}

const IdentityKey& ProcessIdentityKey() {
  absl::MutexLock lock(&g_key_mu);
  if (g_key == nullptr) g_key = new IdentityKey(IdentityKey::Random());
  return *g_key;
}

void SetProcessIdentityKey(IdentityKey key) {
  absl::MutexLock lock(&g_key_mu);
  // The previous key stays allocated: references to it may still be held.
  g_key = new IdentityKey(std::move(key));
}

absl::StatusOr<std::string> ActorOf(const grpc::ServerContextBase& ctx, const std::string& body_actor) {
  auto identity = ProcessIdentityKey().Verify(ctx);
  if (!identity.ok()) return identity.status();
  if (identity->has_value()) return (*identity)->principal().subject();
  return body_actor;
}

absl::StatusOr<std::string> RequiredActor(const grpc::ServerContextBase& ctx, const std::string& body_actor) {
  auto actor = ActorOf(ctx, body_actor);
  if (actor.ok() && actor->empty()) return absl::InvalidArgumentError("actor: required");
  return actor;
}

absl::StatusOr<auditwatch::v1::Identity> RequiredIdentity(const grpc::ServerContextBase& ctx) {
  auto identity = ProcessIdentityKey().Verify(ctx);
  if (!identity.ok()) return identity.status();
  if (!identity->has_value()) {
    return absl::UnauthenticatedError("this command needs the caller's verified identity: call through the gateway");
  }
  if ((*identity)->principal().subject().empty()) return absl::UnauthenticatedError("the identity names no subject");
  return **identity;
}

absl::StatusOr<auditwatch::v1::Principal> RequiredPrincipal(const grpc::ServerContextBase& ctx) {
  auto identity = RequiredIdentity(ctx);
  if (!identity.ok()) return identity.status();
  return identity->principal();
}

}  // namespace aw
