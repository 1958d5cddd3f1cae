#include "services/gateway/gateway_store.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/pg.h"
#include "common/pg_arrays.h"
#include "common/status.h"

namespace aw::gateway {
namespace {

using db::NumberArray;
using db::TextArray;

constexpr char kKeyColumns[] = R"sql(
  id, secret_sha256, subject, array_to_string(roles, ',') AS roles, array_to_string(unit_codes, E'\x1f') AS units,
  description, extract(epoch FROM expires_at)::float8 AS expires_at, revoked, created_by,
  extract(epoch FROM created_at)::float8 AS created_at, revoked_by, revoke_reason,
  extract(epoch FROM coalesce(revoked_at, created_at))::float8 AS updated_at,
  extract(epoch FROM last_used_at)::float8 AS last_used_at)sql";
constexpr char kInsertKeySql[] = R"sql(
INSERT INTO api_keys (id, secret_sha256, subject, roles, unit_codes, description, expires_at, created_by)
VALUES ($1, $2, $3, $4::int[], $5::text[], $6, CASE WHEN $7 = 0 THEN NULL ELSE to_timestamp($7) END, $8))sql";
// Serialises bootstraps of every replica: the check and the insert under one lock.
constexpr char kBootstrapLockSql[] = "SELECT pg_advisory_xact_lock(443438861)";
constexpr char kAdminInForceSql[] = R"sql(
SELECT EXISTS (SELECT 1 FROM api_keys WHERE NOT revoked AND $1 = ANY (roles)
               AND (expires_at IS NULL OR expires_at > to_timestamp($2))) AS any)sql";
constexpr char kRevokeKeySql[] = R"sql(
UPDATE api_keys SET revoked = true, revoked_by = $2, revoke_reason = $3, revoked_at = to_timestamp($4)
WHERE id = $1 AND NOT revoked RETURNING id)sql";
constexpr char kKeyExistsSql[] = "SELECT 1 FROM api_keys WHERE id = $1";
constexpr char kCountKeysSql[] = "SELECT count(*) AS total FROM api_keys";
constexpr char kTouchKeysSql[] = "UPDATE api_keys SET last_used_at = to_timestamp($2) WHERE id = ANY ($1::text[])";

StoredKey KeyFromRow(const pqxx::row& r) {
  StoredKey k;
  v1::ApiKey& key = k.key;
  key.set_id(r["id"].as<std::string>());
  k.secret_sha256 = pqxx::binarystring(r["secret_sha256"]).str();
  v1::Principal* p = key.mutable_principal();
  p->set_subject(r["subject"].as<std::string>());
  for (absl::string_view role : absl::StrSplit(r["roles"].as<std::string>(), ',', absl::SkipEmpty())) {
    int n = 0;
    if (absl::SimpleAtoi(role, &n)) p->add_roles(static_cast<v1::Role>(n));
  }
  for (absl::string_view unit : absl::StrSplit(r["units"].as<std::string>(), '\x1f', absl::SkipEmpty())) {
    p->add_unit_codes(std::string(unit));
  }
  key.set_description(r["description"].as<std::string>());
  if (!r["expires_at"].is_null()) db::SetTimestamp(r["expires_at"].as<double>(), key.mutable_expires_at());
  if (!r["last_used_at"].is_null()) db::SetTimestamp(r["last_used_at"].as<double>(), key.mutable_last_used_at());
  key.set_revoked(r["revoked"].as<bool>());
  auto* audit = key.mutable_audit();
  audit->set_created_by(r["created_by"].as<std::string>());
  db::SetTimestamp(r["created_at"].as<double>(), audit->mutable_created_at());
  const std::string revoked_by = r["revoked_by"].as<std::string>();
  audit->set_updated_by(revoked_by.empty() ? audit->created_by() : revoked_by);
  db::SetTimestamp(r["updated_at"].as<double>(), audit->mutable_updated_at());
  audit->set_reason(r["revoke_reason"].as<std::string>());
  return k;
}

void Insert(pqxx::transaction_base& tx, const std::string& id, const std::string& sha,
            const v1::CreateApiKeyRequest& req, const std::string& actor) {
  const v1::Principal& p = req.principal();
  std::vector<int> roles(p.roles().begin(), p.roles().end());
  std::vector<std::string> units(p.unit_codes().begin(), p.unit_codes().end());
  tx.exec_params(kInsertKeySql, id, pqxx::binarystring(sha), p.subject(), NumberArray(roles), TextArray(units),
                 req.description(), static_cast<double>(req.expires_at().seconds()), actor);
}

}  // namespace

double GatewayStore::Now() const { return absl::ToDoubleSeconds(clock_->Now() - absl::UnixEpoch()); }

absl::StatusOr<v1::ApiKey> GatewayStore::CreateKey(const std::string& id, const std::string& sha,
                                                   const v1::CreateApiKeyRequest& req, const std::string& actor) {
  AW_RETURN_IF_ERROR(pool_->Run([&](pqxx::connection& c) {
    pqxx::work tx(c);
    Insert(tx, id, sha, req, actor);
    tx.commit();
    return absl::OkStatus();
  }));
  AW_ASSIGN_OR_RETURN(StoredKey k, FindKey(id));
  return k.key;
}

absl::StatusOr<v1::ApiKey> GatewayStore::CreateFirstAdminKey(const std::string& id, const std::string& sha,
                                                             const v1::CreateApiKeyRequest& req) {
  AW_RETURN_IF_ERROR(pool_->Run([&](pqxx::connection& c) -> absl::Status {
    pqxx::work tx(c);
    tx.exec(kBootstrapLockSql);
    if (tx.exec_params1(kAdminInForceSql, static_cast<int>(v1::ROLE_CENTRE_ADMIN), Now())["any"].as<bool>()) {
      return absl::UnauthenticatedError(
          "credentials required: an administrator key is in force, so the bootstrap key cannot be created");
    }
    Insert(tx, id, sha, req, "bootstrap");
    tx.commit();
    return absl::OkStatus();
  }));
  AW_ASSIGN_OR_RETURN(StoredKey k, FindKey(id));
  return k.key;
}

absl::StatusOr<StoredKey> GatewayStore::FindKey(const std::string& id) {
  StoredKey out;
  AW_RETURN_IF_ERROR(pool_->Run([&](pqxx::connection& c) -> absl::Status {
    pqxx::read_transaction tx(c);
    const pqxx::result r = tx.exec_params(absl::StrCat("SELECT ", kKeyColumns, " FROM api_keys WHERE id = $1"), id);
    if (r.empty()) return absl::NotFoundError(absl::StrCat("id: no API key ", id));
    out = KeyFromRow(r[0]);
    return absl::OkStatus();
  }));
  return out;
}

absl::StatusOr<v1::ApiKey> GatewayStore::RevokeKey(const std::string& id, const std::string& actor,
                                                   const std::string& reason) {
  AW_RETURN_IF_ERROR(pool_->Run([&](pqxx::connection& c) -> absl::Status {
    pqxx::work tx(c);
    if (tx.exec_params(kRevokeKeySql, id, actor, reason, Now()).empty()) {
      if (tx.exec_params(kKeyExistsSql, id).empty()) return absl::NotFoundError(absl::StrCat("id: no API key ", id));
      return absl::FailedPreconditionError(absl::StrCat("API key ", id, " is already revoked"));
    }
    tx.commit();
    return absl::OkStatus();
  }));
  AW_ASSIGN_OR_RETURN(StoredKey k, FindKey(id));
  return k.key;
}

absl::Status GatewayStore::ListKeys(int64_t offset, int limit, std::vector<v1::ApiKey>* out, int64_t* total) {
  return pool_->Run([&](pqxx::connection& c) {
    pqxx::read_transaction tx(c);
    *total = tx.exec1(kCountKeysSql)["total"].as<int64_t>();
    for (const auto& r : tx.exec_params(
             absl::StrCat("SELECT ", kKeyColumns, " FROM api_keys ORDER BY created_at, id OFFSET $1 LIMIT $2"), offset,
             limit)) {
      out->push_back(KeyFromRow(r).key);
    }
    return absl::OkStatus();
  });
}

absl::Status GatewayStore::TouchKeys(const std::vector<std::string>& ids) {
  if (ids.empty()) return absl::OkStatus();
  return pool_->Run([&](pqxx::connection& c) {
    pqxx::work tx(c);
    tx.exec_params(kTouchKeysSql, TextArray(ids), Now());
    tx.commit();
    return absl::OkStatus();
  });
}

}  // namespace aw::gateway
