#include "services/ingest/catalogue.h"

#include <algorithm>

#include "absl/strings/str_format.h"

namespace aw::ingest {
namespace {

std::string DayKey(absl::CivilDay d) {
  return absl::StrFormat("%04d-%02d-%02d", d.year(), d.month(), d.day());
}

}  // namespace

const UnitVersion* UnitInfo::AsOf(absl::CivilDay day) const {
  for (auto it = versions.rbegin(); it != versions.rend(); ++it) {
    if (it->InForce(day)) return &*it;
  }
  return nullptr;
}

bool UnitInfo::ActiveDuring(absl::CivilDay first, absl::CivilDay last) const {
  for (const UnitVersion& v : versions) {
    if (!v.active || (v.valid_to && *v.valid_to <= v.valid_from)) continue;
    if (v.valid_from <= last && (!v.valid_to || *v.valid_to > first)) return true;
  }
  return false;
}

const v1::Indicator* IndicatorInfo::InYear(int year) const {
  const v1::Indicator* found = nullptr;
  for (const v1::Indicator& v : versions) {
    if (v.effective_year() <= year) found = &v;
  }
  return found;
}

void Catalogue::AddUnit(UnitInfo unit) {
  unit_by_code_[unit.code] = static_cast<int>(units_.size());
  unit_by_id_[unit.id] = static_cast<int>(units_.size());
  units_.push_back(std::move(unit));
}

void Catalogue::AddIndicator(IndicatorInfo indicator) {
  indicator_by_code_[indicator.code] = static_cast<int>(indicators_.size());
  indicator_by_id_[indicator.id] = static_cast<int>(indicators_.size());
  indicators_.push_back(std::move(indicator));
}

void Catalogue::Finish() {
  ever_children_.clear();
  for (const UnitInfo& u : units_) {
    std::vector<int> parents;
    for (const UnitVersion& v : u.versions) {
      if (std::find(parents.begin(), parents.end(), v.parent_id) == parents.end()) {
        parents.push_back(v.parent_id);
        ever_children_[v.parent_id].push_back(u.id);
      }
    }
  }
  for (auto& [parent, children] : ever_children_) {
    std::sort(children.begin(), children.end(), [this](int a, int b) {
      return UnitById(a)->code < UnitById(b)->code;
    });
  }
}

const UnitInfo* Catalogue::FindUnit(const std::string& code) const {
  auto it = unit_by_code_.find(code);
  return it == unit_by_code_.end() ? nullptr : &units_[it->second];
}

const UnitInfo* Catalogue::UnitById(int id) const {
  auto it = unit_by_id_.find(id);
  return it == unit_by_id_.end() ? nullptr : &units_[it->second];
}

const IndicatorInfo* Catalogue::FindIndicator(const std::string& code) const {
  auto it = indicator_by_code_.find(code);
  return it == indicator_by_code_.end() ? nullptr : &indicators_[it->second];
}

const IndicatorInfo* Catalogue::IndicatorById(int id) const {
  auto it = indicator_by_id_.find(id);
  return it == indicator_by_id_.end() ? nullptr : &indicators_[it->second];
}

std::vector<const UnitInfo*> Catalogue::PathAsOf(const UnitInfo& unit, absl::CivilDay day) const {
  std::vector<const UnitInfo*> path;
  const UnitInfo* current = &unit;
  while (current != nullptr && path.size() <= units_.size()) {
    const UnitVersion* v = current->AsOf(day);
    if (v == nullptr) return {};
    path.push_back(current);
    current = v->parent_id == 0 ? nullptr : UnitById(v->parent_id);
  }
  std::reverse(path.begin(), path.end());
  return path;
}

std::vector<const UnitInfo*> Catalogue::RootsAsOf(absl::CivilDay day) const {
  std::vector<const UnitInfo*> roots;
  auto it = ever_children_.find(0);
  if (it == ever_children_.end()) return roots;
  for (int id : it->second) {
    const UnitInfo* u = UnitById(id);
    const UnitVersion* v = u->AsOf(day);
    if (v != nullptr && v->parent_id == 0) roots.push_back(u);
  }
  return roots;
}

std::vector<const UnitInfo*> Catalogue::SubtreeAsOf(const UnitInfo* root, absl::CivilDay day,
                                                    bool include_inactive) const {
  std::vector<const UnitInfo*> out;
  std::vector<const UnitInfo*> stack;
  if (root == nullptr) {
    auto roots = RootsAsOf(day);
    stack.assign(roots.rbegin(), roots.rend());
  } else if (root->AsOf(day) != nullptr) {
    stack.push_back(root);
  }
  while (!stack.empty()) {
    const UnitInfo* u = stack.back();
    stack.pop_back();
    const UnitVersion* v = u->AsOf(day);
    if (v->active || include_inactive) out.push_back(u);
    auto it = ever_children_.find(u->id);
    if (it == ever_children_.end()) continue;
    for (auto c = it->second.rbegin(); c != it->second.rend(); ++c) {
      const UnitInfo* child = UnitById(*c);
      const UnitVersion* cv = child->AsOf(day);
      if (cv != nullptr && cv->parent_id == u->id) stack.push_back(child);
    }
  }
  return out;
}

void Catalogue::VersionToProto(const UnitInfo& unit, const UnitVersion& version,
                               v1::Unit* out) const {
  out->set_code(unit.code);
  out->set_name(version.name);
  out->set_type(unit.type);
  if (const UnitInfo* parent = UnitById(version.parent_id)) out->set_parent_code(parent->code);
  out->set_active(version.active);
  out->set_valid_from(DayKey(version.valid_from));
  if (version.valid_to) out->set_valid_to(DayKey(*version.valid_to));
  const UnitVersion& first = unit.versions.front();
  auto* audit = out->mutable_audit();
  audit->set_created_by(first.actor);
  audit->mutable_created_at()->set_seconds(absl::ToUnixSeconds(first.recorded_at));
  audit->set_updated_by(version.actor);
  audit->mutable_updated_at()->set_seconds(absl::ToUnixSeconds(version.recorded_at));
  audit->set_version(version.revision);
  audit->set_reason(version.reason);
}

bool Catalogue::ToProto(const UnitInfo& unit, absl::CivilDay day, v1::Unit* out) const {
  const UnitVersion* v = unit.AsOf(day);
  if (v == nullptr) return false;
  VersionToProto(unit, *v, out);
  for (const UnitInfo* p : PathAsOf(unit, day)) out->add_path(p->code);
  // The audit version is the unit's latest revision, for optimistic concurrency.
  out->mutable_audit()->set_version(unit.latest().revision);
  return true;
}

}  // namespace aw::ingest
