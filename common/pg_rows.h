// Reading rows into messages, shared by the stores: nullable epoch columns as
// Timestamps, text arrays, bytea, and the AuditInfo columns every versioned
// record carries; and times as the epoch seconds statements take
// (`to_timestamp($n)`).
#pragma once

#include <string>
#include <vector>

#include <google/protobuf/timestamp.pb.h>
#include <pqxx/pqxx>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "auditwatch/v1/common.pb.h"

namespace aw::db {

// Seconds since the epoch, for `to_timestamp($n)`.
double Epoch(absl::Time t);

// An `extract(epoch FROM …)::float8` column into `out`; left unset when NULL.
void SetTime(const pqxx::field& f, google::protobuf::Timestamp* out);
// A text[] column (empty when NULL).
std::vector<std::string> TextArrayOf(const pqxx::field& f);
// A bytea column.
std::string Bytes(const pqxx::field& f);
// Bytes in bytea's text input form ("\\x" and two hex digits a byte), for
// COPY into a bytea column.
std::string ByteaText(absl::string_view bytes);

// The columns created_by, created_at, updated_by, updated_at (epoch seconds)
// and version, and reason when `with_reason`.
void FillAuditInfo(const pqxx::row& r, auditwatch::v1::AuditInfo* out, bool with_reason);

}  // namespace aw::db
