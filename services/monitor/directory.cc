#include "services/monitor/directory.h"

#include "common/call.h"
#include "common/status.h"

namespace aw::monitor {

absl::StatusOr<std::shared_ptr<const DirectorySnapshot>> Directory::Get(absl::Duration max_age) {
  {
    absl::MutexLock lock(&mu_);
    if (snapshot_ != nullptr && clock_->Now() - snapshot_->fetched < max_age) return snapshot_;
  }
  return Refresh();
}

absl::StatusOr<std::shared_ptr<const DirectorySnapshot>> Directory::Knowing(const std::string& unit) {
  AW_ASSIGN_OR_RETURN(auto dir, Get());
  if (dir->Unit(unit) != nullptr) return dir;
  return Refresh();
}

absl::StatusOr<std::shared_ptr<const DirectorySnapshot>> Directory::Refresh() {
  auto snapshot = std::make_shared<DirectorySnapshot>();
  snapshot->fetched = clock_->Now();
  auto context = [this] { return CallContext(call_timeout_); };
  v1::ListUnitsRequest units;
  units.set_include_inactive(true);
  AW_RETURN_IF_ERROR(ForEachPage(
      *stub_, &v1::IngestService::Stub::ListUnits, units, "ingest ListUnits", context,
      [&](const v1::ListUnitsResponse& resp) {
        for (const v1::Unit& u : resp.units()) {
          UnitFacts& f = snapshot->units[u.code()];
          f.code = u.code();
          f.type = u.type();
          f.parent = u.parent_code();
          f.path.assign(u.path().begin(), u.path().end());
          f.active = u.active();
        }
        return absl::OkStatus();
      }));
  v1::ListIndicatorsRequest indicators;
  indicators.set_include_disabled(true);
  AW_RETURN_IF_ERROR(ForEachPage(
      *stub_, &v1::IngestService::Stub::ListIndicators, indicators, "ingest ListIndicators", context,
      [&](const v1::ListIndicatorsResponse& resp) {
        for (const v1::Indicator& i : resp.indicators()) {
          IndicatorFacts& f = snapshot->indicators[i.code()];
          f.code = i.code();
          f.direction = i.direction();
          f.min_value = i.min_value();
          f.max_value = i.max_value();
          f.allowed_period_types.assign(i.allowed_period_types().begin(), i.allowed_period_types().end());
          f.rollup = i.rollup();
          f.deadline_days = i.deadline_days();
        }
        return absl::OkStatus();
      }));
  absl::MutexLock lock(&mu_);
  snapshot_ = snapshot;
  return snapshot_;
}

}  // namespace aw::monitor
