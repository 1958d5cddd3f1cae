#include "services/monitor/directory.h"

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/status.h"

namespace aw::monitor {

const UnitFacts* DirectorySnapshot::Unit(const std::string& code) const {
  auto it = units.find(code);
  return it == units.end() ? nullptr : &it->second;
}

const IndicatorFacts* DirectorySnapshot::Indicator(const std::string& code) const {
  auto it = indicators.find(code);
  return it == indicators.end() ? nullptr : &it->second;
}

bool DirectorySnapshot::InScope(const std::string& unit, const std::string& scope, bool descendants) const {
  if (scope.empty() || unit == scope) return true;
  if (!descendants) return false;
  const UnitFacts* u = Unit(unit);
  return u != nullptr && std::find(u->path.begin(), u->path.end(), scope) != u->path.end();
}

absl::StatusOr<std::shared_ptr<const DirectorySnapshot>> Directory::Get(absl::Duration max_age) {
  {
    absl::MutexLock lock(&mu_);
    if (snapshot_ != nullptr && absl::Now() - snapshot_->fetched < max_age) return snapshot_;
  }
  return Refresh();
}

absl::StatusOr<std::shared_ptr<const DirectorySnapshot>> Directory::Refresh() {
  auto snapshot = std::make_shared<DirectorySnapshot>();
  snapshot->fetched = absl::Now();
  v1::ListUnitsRequest units;
  units.set_include_inactive(true);
  units.mutable_page()->set_page_size(1000);
  for (;;) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    v1::ListUnitsResponse resp;
    const grpc::Status s = stub_->ListUnits(&ctx, units, &resp);
    if (!s.ok()) return absl::UnavailableError(absl::StrCat("ingest ListUnits: ", s.error_message()));
    for (const v1::Unit& u : resp.units()) {
      UnitFacts& f = snapshot->units[u.code()];
      f.code = u.code();
      f.type = u.type();
      f.parent = u.parent_code();
      f.path.assign(u.path().begin(), u.path().end());
      f.active = u.active();
    }
    if (resp.page().next_page_token().empty()) break;
    units.mutable_page()->set_page_token(resp.page().next_page_token());
  }
  v1::ListIndicatorsRequest indicators;
  indicators.set_include_disabled(true);
  indicators.mutable_page()->set_page_size(1000);
  for (;;) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    v1::ListIndicatorsResponse resp;
    const grpc::Status s = stub_->ListIndicators(&ctx, indicators, &resp);
    if (!s.ok()) return absl::UnavailableError(absl::StrCat("ingest ListIndicators: ", s.error_message()));
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
    if (resp.page().next_page_token().empty()) break;
    indicators.mutable_page()->set_page_token(resp.page().next_page_token());
  }
  absl::MutexLock lock(&mu_);
  snapshot_ = snapshot;
  return snapshot_;
}

}  // namespace aw::monitor
