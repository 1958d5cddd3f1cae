#include "services/audit/units.h"

#include "absl/strings/str_cat.h"
#include "common/call.h"
#include "common/status.h"

namespace aw::audit {
namespace {
// A cached path is used for this long (units move rarely; a move shows after it).
constexpr absl::Duration kPathTtl = absl::Minutes(5);
}  // namespace

absl::StatusOr<std::vector<std::string>> Units::PathOf(const std::string& code, const std::string& field) {
  if (code.empty()) return absl::InvalidArgumentError(absl::StrCat(field, ": required"));
  const absl::Time now = clock_->Now();
  {
    absl::MutexLock lock(&mu_);
    auto it = paths_.find(code);
    if (it != paths_.end() && now - it->second.fetched < kPathTtl) return it->second.path;
  }
  v1::GetUnitRequest request;
  request.set_code(code);
  v1::UnitPath answer;
  std::unique_ptr<grpc::ClientContext> ctx = CallContext(call_timeout_);
  const grpc::Status s = stub_->GetUnitPath(ctx.get(), request, &answer);
  if (s.error_code() == grpc::StatusCode::NOT_FOUND) {
    return absl::NotFoundError(absl::StrCat(field, ": no unit ", code));
  }
  if (!s.ok()) return FromGrpcStatus(s, "ingest GetUnitPath");
  std::vector<std::string> path;
  for (const v1::Unit& u : answer.units()) path.push_back(u.code());
  if (path.empty() || path.back() != code) return absl::NotFoundError(absl::StrCat(field, ": no unit ", code));
  absl::MutexLock lock(&mu_);
  paths_[code] = {path, now};
  return path;
}

absl::StatusOr<std::vector<v1::Unit>> Units::Subtree(const std::string& root) {
  v1::ListUnitsRequest request;
  request.mutable_scope()->set_unit_code(root);
  request.mutable_scope()->set_include_descendants(true);
  request.set_include_inactive(true);
  std::vector<v1::Unit> out;
  AW_RETURN_IF_ERROR(ForEachPage(*stub_, &v1::IngestService::Stub::ListUnits, request, "ingest ListUnits",
                                 [&] { return CallContext(call_timeout_); },
                                 [&](const v1::ListUnitsResponse& page) {
                                   for (const v1::Unit& u : page.units()) out.push_back(u);
                                   return absl::OkStatus();
                                 }));
  absl::MutexLock lock(&mu_);
  for (const v1::Unit& u : out) paths_[u.code()] = {std::vector<std::string>(u.path().begin(), u.path().end()), clock_->Now()};
  return out;
}

}  // namespace aw::audit
