#include "services/gateway/unit_directory.h"

#include "common/call.h"

namespace aw::gateway {

absl::Status UnitDirectory::Refresh() {
  absl::MutexLock one(&refresh_mu_);
  const absl::Time started = clock_->Now();
  auto tree = std::make_shared<UnitTree>();
  v1::ListUnitsRequest request;
  request.set_include_inactive(true);
  AW_RETURN_IF_ERROR(ForEachPage(*stub_, &v1::IngestService::Stub::ListUnits, request, "ingest ListUnits",
                                 [this] { return CallContext(call_timeout_); },
                                 [&](const v1::ListUnitsResponse& page) {
                                   for (const v1::Unit& u : page.units()) {
                                     tree->Add(u.code(), {u.path().begin(), u.path().end()});
                                   }
                                   return absl::OkStatus();
                                 }));
  absl::MutexLock lock(&mu_);
  tree_ = std::move(tree);
  fetched_ = started;
  return absl::OkStatus();
}

absl::Status UnitDirectory::RefreshSince(absl::Time since) {
  {
    absl::MutexLock one(&refresh_mu_);
    absl::MutexLock lock(&mu_);
    if (fetched_ >= since) return absl::OkStatus();  // a fetch begun since has what the caller needs
  }
  return Refresh();
}

}  // namespace aw::gateway
