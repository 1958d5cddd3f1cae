// Who is calling: the gateway checks the credentials of every call — an API
// key ("x-api-key: <secret>", looked up by the SHA-256 of its secret, cached
// a few seconds) or a bearer token ("authorization: Bearer <jwt>", HS256,
// issuer and expiry checked, no lookup) — and issues tokens for keys. Missing,
// unknown, expired or revoked credentials are UNAUTHENTICATED. Thread-safe.
#pragma once

#include <optional>
#include <string>

#include <grpcpp/grpcpp.h>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "auditwatch/v1/gateway.pb.h"
#include "common/clock.h"
#include "common/digest.h"
#include "services/gateway/gateway_store.h"

namespace aw::gateway {

// The credentials a call carries.
struct Credentials {
  enum class Kind { kNone, kApiKey, kBearer };
  Kind kind = Kind::kNone;
  std::string value;
};
Credentials CredentialsOf(const grpc::ServerContextBase& ctx);
// True for metadata that carries credentials: never forwarded to a backend.
bool IsCredentialMetadata(absl::string_view key);

// A new key's id and secret ("awk_<id>_<64 hex digits>").
struct NewKey {
  std::string id, secret;
};
NewKey GenerateKey();

class Authenticator {
 public:
  // How long a looked-up key is trusted before it is read again (so that a
  // revocation on another replica takes effect within it).
  static constexpr absl::Duration kKeyCache = absl::Seconds(5);

  Authenticator(GatewayStore* store, std::string jwt_key, absl::Duration token_ttl, Clock* clock);

  // The principal, when it is known without reading the store (a token, a
  // key looked up a moment ago): never blocks. std::nullopt when Authenticate
  // must read the store.
  std::optional<absl::StatusOr<v1::Principal>> Known(const Credentials& credentials);
  // The principal; reads the store on a cache miss (blocking: on a worker).
  absl::StatusOr<v1::Principal> Authenticate(const Credentials& credentials);
  // A token for an API key (blocking).
  absl::StatusOr<v1::IssueTokenResponse> IssueToken(const std::string& api_key);
  // A key revoked here is refused at once.
  void Forget(const std::string& key_id);
  // Writes when the keys used since the last call were used.
  absl::Status FlushUsage();

 private:
  struct Cached {
    StoredKey key;
    absl::Time fetched;
  };
  absl::StatusOr<v1::Principal> CheckKey(const StoredKey& key, absl::string_view secret) const;
  absl::StatusOr<v1::Principal> CheckToken(const std::string& token) const;

  GatewayStore* const store_;
  const std::string jwt_key_;
  const absl::Duration token_ttl_;
  Clock* const clock_;
  absl::Mutex mu_;
  absl::flat_hash_map<std::string, Cached> keys_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_set<std::string> used_ ABSL_GUARDED_BY(mu_);
};

}  // namespace aw::gateway
