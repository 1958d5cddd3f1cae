// absl::Status helpers: early-return macros and the conversion to grpc::Status at
// the service edge (the codes match one to one).
#pragma once

#include "absl/strings/string_view.h"

#include <grpcpp/support/status.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define AW_STATUS_CONCAT_INNER_(a, b) a##b
#define AW_STATUS_CONCAT_(a, b) AW_STATUS_CONCAT_INNER_(a, b)

// Returns from the enclosing function when `expr` (an absl::Status) is not OK.
#define AW_RETURN_IF_ERROR(expr)                  \
  do {                                            \
    ::absl::Status aw_status_ = (expr);           \
    if (!aw_status_.ok()) return aw_status_;      \
  } while (false)

// `lhs = value of expr` (an absl::StatusOr<T>), or returns its error.
#define AW_ASSIGN_OR_RETURN(lhs, expr) \
  AW_ASSIGN_OR_RETURN_IMPL_(AW_STATUS_CONCAT_(aw_statusor_, __LINE__), lhs, expr)
#define AW_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                              \
  if (!tmp.ok()) return tmp.status();             \
  lhs = std::move(*tmp)

namespace aw {

grpc::Status ToGrpcStatus(const absl::Status& status);
// The status of a finished gRPC call as an absl::Status of the same code; its
// message is prefixed with `what` (the callee and method, e.g. "ingest
// ListUnits") when given.
absl::Status FromGrpcStatus(const grpc::Status& status, absl::string_view what = "");

// INVALID_ARGUMENT whose message starts with the offending field: "field: reason".
absl::Status InvalidField(absl::string_view field, absl::string_view reason);

}  // namespace aw
