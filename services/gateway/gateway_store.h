// The gateway's PostgreSQL store (schema "gateway"), its only door to
// PostgreSQL: API keys, kept by the SHA-256 of their secret. Every statement
// is a named constant; columns are read by name. Thread-safe; returns
// statuses, never throws.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "auditwatch/v1/gateway.pb.h"
#include "common/clock.h"

namespace aw::db {
class Pool;
}

namespace aw::gateway {

namespace v1 = ::auditwatch::v1;

// A key as the authenticator checks it.
struct StoredKey {
  v1::ApiKey key;          // without secrets
  std::string secret_sha256;  // raw bytes
};

class GatewayStore {
 public:
  GatewayStore(db::Pool* pool, Clock* clock) : pool_(pool), clock_(clock) {}

  absl::StatusOr<v1::ApiKey> CreateKey(const std::string& id, const std::string& secret_sha256,
                                       const v1::CreateApiKeyRequest& request, const std::string& actor);
  // Creates the key only while no administrator key is in force (the
  // bootstrap); FAILED_PRECONDITION otherwise. Atomic across replicas.
  absl::StatusOr<v1::ApiKey> CreateFirstAdminKey(const std::string& id, const std::string& secret_sha256,
                                                 const v1::CreateApiKeyRequest& request);
  // NOT_FOUND when there is no such key.
  absl::StatusOr<StoredKey> FindKey(const std::string& id);
  absl::StatusOr<v1::ApiKey> RevokeKey(const std::string& id, const std::string& actor, const std::string& reason);
  absl::Status ListKeys(int64_t offset, int limit, std::vector<v1::ApiKey>* out, int64_t* total);
  // Records that the keys were used now.
  absl::Status TouchKeys(const std::vector<std::string>& ids);

 private:
  double Now() const;

  db::Pool* const pool_;
  Clock* const clock_;
};

}  // namespace aw::gateway
