#include "services/ingest/ingest_logic.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace aw::ingest {
namespace {

std::string DayKey(absl::CivilDay d) {
  return absl::StrFormat("%04d-%02d-%02d", d.year(), d.month(), d.day());
}

v1::RowError Reject(int index, const char* code, std::string field, std::string message) {
  v1::RowError e;
  e.set_index(index);
  e.set_code(code);
  e.set_field(std::move(field));
  e.set_message(std::move(message));
  return e;
}

bool Allows(const google::protobuf::RepeatedField<int>& list, int value) {
  return std::find(list.begin(), list.end(), value) != list.end();
}

constexpr size_t kMaxTextBytes = 1000;

}  // namespace

absl::CivilDay CivilDayOf(absl::Time t) { return absl::ToCivilDay(t, absl::UTCTimeZone()); }

// --- Catalogue -------------------------------------------------------------------

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

// --- Unit hierarchy ------------------------------------------------------------

absl::Status CheckParentType(v1::UnitType child, v1::UnitType parent) {
  auto one_of = [&](std::initializer_list<v1::UnitType> allowed) {
    return std::find(allowed.begin(), allowed.end(), parent) != allowed.end();
  };
  bool ok = false;
  switch (child) {
    case v1::UNIT_TYPE_PROVINCE:
      ok = parent == v1::UNIT_TYPE_UNSPECIFIED;
      break;
    case v1::UNIT_TYPE_CITY_BUREAU:
      ok = one_of({v1::UNIT_TYPE_PROVINCE});
      break;
    case v1::UNIT_TYPE_DISTRICT_BUREAU:
    case v1::UNIT_TYPE_COUNTY_COMPANY:
      ok = one_of({v1::UNIT_TYPE_CITY_BUREAU});
      break;
    case v1::UNIT_TYPE_SUPPLY_STATION:
      ok = one_of({v1::UNIT_TYPE_DISTRICT_BUREAU, v1::UNIT_TYPE_COUNTY_COMPANY});
      break;
    case v1::UNIT_TYPE_CUSTOMER_SERVICE_CENTRE:
    case v1::UNIT_TYPE_METERING_CENTRE:
    case v1::UNIT_TYPE_AUDIT_CENTRE:
      ok = one_of({v1::UNIT_TYPE_PROVINCE, v1::UNIT_TYPE_CITY_BUREAU});
      break;
    default:
      return absl::InvalidArgumentError("type: must be set to a known unit type");
  }
  if (ok) return absl::OkStatus();
  if (parent == v1::UNIT_TYPE_UNSPECIFIED) {
    return absl::InvalidArgumentError(
        absl::StrCat("parent_code: a ", v1::UnitType_Name(child), " needs a parent"));
  }
  return absl::InvalidArgumentError(absl::StrCat("parent_code: a ", v1::UnitType_Name(child),
                                                 " cannot sit under a ",
                                                 v1::UnitType_Name(parent)));
}

// --- Indicator definitions ----------------------------------------------------

absl::Status ValidateIndicator(const v1::Indicator& in) {
  auto bad = [](const char* field, const std::string& why) {
    return absl::InvalidArgumentError(absl::StrCat("indicator.", field, ": ", why));
  };
  if (in.code().empty() || in.code().size() > 64) return bad("code", "required, at most 64 characters");
  for (char c : in.code()) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.')) {
      return bad("code", "only letters, digits, '_', '-' and '.'");
    }
  }
  if (in.name_zh().empty() && in.name_en().empty()) return bad("name_zh", "a name is required");
  if (!v1::BusinessCategory_IsValid(in.category()) || in.category() == 0) {
    return bad("category", "must be set");
  }
  if (in.kind() != v1::INDICATOR_KIND_SYSTEM && in.kind() != v1::INDICATOR_KIND_MANUAL) {
    return bad("kind", "must be SYSTEM or MANUAL");
  }
  if (in.direction() != v1::DIRECTION_HIGHER_IS_BETTER &&
      in.direction() != v1::DIRECTION_LOWER_IS_BETTER) {
    return bad("direction", "must be HIGHER_IS_BETTER or LOWER_IS_BETTER");
  }
  if (in.allowed_period_types().empty()) return bad("allowed_period_types", "at least one is required");
  for (int t : in.allowed_period_types()) {
    if (t < v1::PERIOD_TYPE_DAY || t > v1::PERIOD_TYPE_YEAR) {
      return bad("allowed_period_types", absl::StrCat("unknown period type ", t));
    }
  }
  for (int t : in.applicable_unit_types()) {
    if (!v1::UnitType_IsValid(t) || t == 0) {
      return bad("applicable_unit_types", absl::StrCat("unknown unit type ", t));
    }
  }
  if (!std::isfinite(in.min_value()) || !std::isfinite(in.max_value()) ||
      in.min_value() > in.max_value()) {
    return bad("max_value", "the valid range needs finite min_value <= max_value");
  }
  if (in.rollup() < v1::ROLLUP_RULE_NONE || in.rollup() > v1::ROLLUP_RULE_LAST) {
    return bad("rollup", "must be NONE, SUM, MEAN, MIN, MAX or LAST");
  }
  if (in.unit_of_measure() == "%" && in.rollup() != v1::ROLLUP_RULE_NONE &&
      in.rollup() != v1::ROLLUP_RULE_LAST && in.rollup() != v1::ROLLUP_RULE_MIN &&
      in.rollup() != v1::ROLLUP_RULE_MAX) {
    return bad("rollup", "a rate (unit of measure %) is reported, never summed or averaged");
  }
  if (in.deadline_days() < 0 || in.deadline_days() > 366) return bad("deadline_days", "0..366");
  if (in.effective_year() < 1900 || in.effective_year() > 9999) {
    return bad("effective_year", "1900..9999");
  }
  return absl::OkStatus();
}

// --- Periods -------------------------------------------------------------------

v1::PeriodType ToProtoType(PeriodType type) { return static_cast<v1::PeriodType>(type); }

absl::StatusOr<Period> FromProto(const v1::Period& period, const std::string& field) {
  if (period.key().empty()) {
    return absl::InvalidArgumentError(absl::StrCat(field, ".key: required"));
  }
  auto parsed = period.type() == v1::PERIOD_TYPE_UNSPECIFIED
                    ? Period::Parse(period.key())
                    : Period::Parse(static_cast<PeriodType>(period.type()), period.key());
  if (!parsed.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(field, ": ", parsed.status().message()));
  }
  return parsed;
}

void ToProto(const Period& period, v1::Period* out) {
  out->set_type(ToProtoType(period.type()));
  out->set_key(period.key());
}

// --- Rows ------------------------------------------------------------------------

Validation ValidateRows(const Catalogue& catalogue,
                        const google::protobuf::RepeatedPtrField<v1::ReadingInput>& rows,
                        const ValidationOptions& options) {
  Validation out;
  out.rows.reserve(rows.size());
  struct Key {
    int unit, indicator;
    Period period;
    bool operator==(const Key&) const = default;
  };
  struct KeyHash {
    size_t operator()(const Key& k) const {
      return absl::HashOf(k.unit, k.indicator, static_cast<int>(k.period.type()),
                          absl::CivilDay(k.period.first_day()) - absl::CivilDay());
    }
  };
  absl::flat_hash_map<Key, int, KeyHash> seen;
  seen.reserve(rows.size());
  const absl::CivilDay latest_start = options.today + options.max_future_days;

  for (int i = 0; i < rows.size(); ++i) {
    const v1::ReadingInput& r = rows[i];
    if (r.unit_code().empty()) {
      out.errors.push_back(Reject(i, kMissingField, "unit_code", "unit_code is required"));
      continue;
    }
    if (r.indicator_code().empty()) {
      out.errors.push_back(Reject(i, kMissingField, "indicator_code", "indicator_code is required"));
      continue;
    }
    if (r.entered_by().size() > kMaxTextBytes || r.reason().size() > kMaxTextBytes) {
      out.errors.push_back(Reject(i, kTooLong, r.reason().size() > kMaxTextBytes ? "reason" : "entered_by",
                                  absl::StrCat("at most ", kMaxTextBytes, " bytes")));
      continue;
    }
    auto period = FromProto(r.period(), "period");
    if (!period.ok()) {
      out.errors.push_back(Reject(i, kInvalidPeriod, "period", std::string(period.status().message())));
      continue;
    }
    const UnitInfo* unit = catalogue.FindUnit(r.unit_code());
    if (unit == nullptr) {
      out.errors.push_back(Reject(i, kUnknownUnit, "unit_code",
                                  absl::StrCat("no unit with code \"", r.unit_code(), "\"")));
      continue;
    }
    if (!unit->ActiveDuring(period->first_day(), period->last_day())) {
      out.errors.push_back(Reject(i, kUnitInactive, "unit_code",
                                  absl::StrCat("unit ", r.unit_code(), " is not active in ",
                                               period->key())));
      continue;
    }
    const IndicatorInfo* indicator = catalogue.FindIndicator(r.indicator_code());
    const v1::Indicator* def =
        indicator == nullptr ? nullptr
                             : indicator->InYear(static_cast<int>(period->first_day().year()));
    if (def == nullptr) {
      out.errors.push_back(Reject(
          i, kUnknownIndicator, "indicator_code",
          absl::StrCat("no indicator \"", r.indicator_code(), "\" defined for ",
                       period->first_day().year())));
      continue;
    }
    if (!def->enabled()) {
      out.errors.push_back(Reject(i, kIndicatorDisabled, "indicator_code",
                                  absl::StrCat("indicator ", r.indicator_code(), " is disabled")));
      continue;
    }
    if (!Allows(def->allowed_period_types(), static_cast<int>(period->type()))) {
      out.errors.push_back(Reject(
          i, kPeriodTypeNotAllowed, "period.type",
          absl::StrCat("indicator ", r.indicator_code(), " is not reported per ",
                       PeriodTypeName(period->type()))));
      continue;
    }
    if (!def->applicable_unit_types().empty() &&
        !Allows(def->applicable_unit_types(), unit->type)) {
      out.errors.push_back(Reject(
          i, kUnitTypeNotApplicable, "unit_code",
          absl::StrCat("indicator ", r.indicator_code(), " does not apply to a ",
                       v1::UnitType_Name(unit->type))));
      continue;
    }
    if (!std::isfinite(r.value())) {
      out.errors.push_back(Reject(i, kNotFinite, "value", "value must be a finite number"));
      continue;
    }
    if (r.value() < def->min_value() || r.value() > def->max_value()) {
      out.errors.push_back(Reject(
          i, kOutOfRange, "value",
          absl::StrCat("value ", r.value(), " is outside the valid range [", def->min_value(),
                       ", ", def->max_value(), "] of ", r.indicator_code())));
      continue;
    }
    if (period->first_day() > latest_start) {
      out.errors.push_back(Reject(i, kFuturePeriod, "period.key",
                                  absl::StrCat("period ", period->key(), " has not started yet")));
      continue;
    }
    auto [it, inserted] = seen.emplace(Key{unit->id, indicator->id, *period}, i);
    if (!inserted) {
      out.errors.push_back(Reject(i, kDuplicateInBatch, "period.key",
                                  absl::StrCat("same unit, indicator and period as row ", it->second)));
      continue;
    }
    out.rows.push_back(ValidRow{i, unit->id, indicator->id, *period, r.value(), r.entered_by(),
                                r.reason()});
  }
  return out;
}

// --- Pulls -------------------------------------------------------------------

absl::Time PullDueTime(const Period& period, int run_day_offset, absl::Duration time_of_day) {
  const absl::CivilDay day = period.last_day() + run_day_offset;
  return absl::FromCivil(day, absl::UTCTimeZone()) + time_of_day;
}

Period FirstPullPeriod(PeriodType type, absl::Time now) {
  return Period::Containing(type, CivilDayOf(now)).Previous();
}

absl::StatusOr<absl::Duration> ParseTimeOfDay(const std::string& text) {
  int h = 0, m = 0;
  if (text.size() != 5 || text[2] != ':' || !absl::SimpleAtoi(text.substr(0, 2), &h) ||
      !absl::SimpleAtoi(text.substr(3, 2), &m) || h < 0 || h > 23 || m < 0 || m > 59) {
    return absl::InvalidArgumentError(absl::StrCat("run_time: expected HH:MM, got \"", text, "\""));
  }
  return absl::Hours(h) + absl::Minutes(m);
}

}  // namespace aw::ingest
