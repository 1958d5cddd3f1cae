// The verified caller, as the gateway forwards it to the backends: the
// principal and the request id, in metadata signed with HMAC-SHA256 under the
// key the services share (--identity_key). The gateway strips whatever such
// metadata a client sent and signs its own; a backend trusts the identity
// only when the signature verifies, refuses a call whose signature does not,
// and takes the actor of history rows and transitions from it — never from a
// request field when an identity is present.
#pragma once

#include <optional>
#include <string>

#include <grpcpp/grpcpp.h>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "auditwatch/v1/common.pb.h"

namespace aw {

inline constexpr char kIdentityMetadata[] = "x-aw-identity-bin";
inline constexpr char kIdentitySignatureMetadata[] = "x-aw-identity-sig-bin";

// True for metadata keys that carry an identity: never forwarded from a client.
bool IsIdentityMetadata(absl::string_view key);

class IdentityKey {
 public:
  explicit IdentityKey(std::string secret) : secret_(std::move(secret)) {}
  // 32 random bytes: for a process that signs and verifies its own calls.
  static IdentityKey Random();

  // Adds `identity`, signed, to a backend call.
  void Sign(const auditwatch::v1::Identity& identity, grpc::ClientContext* ctx) const;
  // The identity a call carries: std::nullopt when none (a call from inside,
  // not through the gateway); UNAUTHENTICATED when its signature does not
  // verify (forged, or signed under another key).
  absl::StatusOr<std::optional<auditwatch::v1::Identity>> Verify(const grpc::ServerContextBase& ctx) const;

  // HMAC-SHA256 of `bytes` under the key.
  std::string Mac(absl::string_view bytes) const;

 private:
  std::string secret_;
};

// A secret key from a file (trailing newlines dropped), at least 16 bytes;
// INVALID_ARGUMENT naming `flag` otherwise. The key itself is never logged.
absl::StatusOr<std::string> ReadKeyFile(const std::string& path, absl::string_view flag);

// The key of this process: set once by the runtime before the servers start.
const IdentityKey& ProcessIdentityKey();
void SetProcessIdentityKey(IdentityKey key);

// The actor of a write: the verified identity's subject, or `body_actor` when
// the call carries no identity. UNAUTHENTICATED for a forged identity.
absl::StatusOr<std::string> ActorOf(const grpc::ServerContextBase& ctx, const std::string& body_actor);
// ActorOf, and INVALID_ARGUMENT ("actor: required") when there is none.
absl::StatusOr<std::string> RequiredActor(const grpc::ServerContextBase& ctx, const std::string& body_actor);

// The verified caller of a command that needs to know who acts, with what
// roles and over which units: UNAUTHENTICATED when the call carries no
// identity (it did not come through the gateway) or a forged one.
absl::StatusOr<auditwatch::v1::Principal> RequiredPrincipal(const grpc::ServerContextBase& ctx);
// The same, with the gateway's request id: for work done later on the
// caller's behalf (a report gathered with the requester's identity).
absl::StatusOr<auditwatch::v1::Identity> RequiredIdentity(const grpc::ServerContextBase& ctx);

}  // namespace aw
