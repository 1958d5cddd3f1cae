#include "common/pg_rows.h"

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

#include "common/pg_arrays.h"

namespace aw::db {

double Epoch(absl::Time t) { return absl::ToDoubleSeconds(t - absl::UnixEpoch()); }

void SetTime(const pqxx::field& f, google::protobuf::Timestamp* out) {
  if (!f.is_null()) SetTimestamp(f.as<double>(), out);
}

std::vector<std::string> TextArrayOf(const pqxx::field& f) {
  std::vector<std::string> out;
  if (!f.is_null()) ParseTextArray(f.c_str(), out);
  return out;
}

std::string Bytes(const pqxx::field& f) { return pqxx::binarystring(f).str(); }

std::string ByteaText(absl::string_view bytes) { return absl::StrCat("\\x", absl::BytesToHexString(bytes)); }

void FillAuditInfo(const pqxx::row& r, auditwatch::v1::AuditInfo* out, bool with_reason) {
  out->set_created_by(r["created_by"].as<std::string>());
  SetTime(r["created_at"], out->mutable_created_at());
  out->set_updated_by(r["updated_by"].as<std::string>());
  SetTime(r["updated_at"], out->mutable_updated_at());
  out->set_version(r["version"].as<int64_t>());
  if (with_reason) out->set_reason(r["reason"].as<std::string>());
}

}  // namespace aw::db
