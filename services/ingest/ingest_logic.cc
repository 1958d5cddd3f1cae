#include "services/ingest/ingest_logic.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "common/status.h"
#include "common/timestamp.h"

namespace aw::ingest {
namespace {

bool Allows(const google::protobuf::RepeatedField<int>& list, int value) {
  return std::find(list.begin(), list.end(), value) != list.end();
}

constexpr size_t kMaxTextBytes = 1000;

}  // namespace

v1::RowError Reject(int index, const char* code, std::string field, std::string message) {
  v1::RowError e;
  e.set_index(index);
  e.set_code(code);
  e.set_field(std::move(field));
  e.set_message(std::move(message));
  return e;
}

// --- Checks of requests --------------------------------------------------------

absl::Status CheckCode(const std::string& field, const std::string& code) {
  if (code.empty() || code.size() > 64) return InvalidField(field, "required, at most 64 characters");
  for (char c : code) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.')) {
      return InvalidField(field, "only letters, digits, '_', '-' and '.'");
    }
  }
  return absl::OkStatus();
}

absl::Status CheckText(const std::string& field, const std::string& text, bool required, size_t max) {
  if (required && text.empty()) return InvalidField(field, "required");
  if (text.size() > max) return InvalidField(field, absl::StrCat("at most ", max, " bytes"));
  return absl::OkStatus();
}

absl::StatusOr<absl::CivilDay> DateOrToday(const std::string& field, const std::string& text,
                                           absl::CivilDay today) {
  if (text.empty()) return today;
  absl::CivilDay day;
  if (!absl::ParseCivilTime(text, &day) || absl::FormatCivilTime(day) != text) {
    return InvalidField(field, absl::StrCat("expected an ISO date such as 2026-07-01, got \"", text, "\""));
  }
  return day;
}

absl::StatusOr<const UnitInfo*> FindUnit(const Catalogue& c, const std::string& field, const std::string& code) {
  if (code.empty()) return InvalidField(field, "required");
  const UnitInfo* u = c.FindUnit(code);
  if (u == nullptr) return absl::NotFoundError(absl::StrCat(field, ": no unit ", code));
  return u;
}

absl::StatusOr<const IndicatorInfo*> FindIndicator(const Catalogue& c, const std::string& field,
                                                   const std::string& code) {
  if (code.empty()) return InvalidField(field, "required");
  const IndicatorInfo* i = c.FindIndicator(code);
  if (i == nullptr) return absl::NotFoundError(absl::StrCat(field, ": no indicator ", code));
  return i;
}

absl::StatusOr<std::vector<const UnitInfo*>> ScopeUnits(const Catalogue& c, const v1::UnitScope& scope,
                                                        absl::CivilDay day, bool include_inactive) {
  if (scope.unit_code().empty()) return c.SubtreeAsOf(nullptr, day, include_inactive);
  AW_ASSIGN_OR_RETURN(const UnitInfo* root, FindUnit(c, "scope.unit_code", scope.unit_code()));
  if (!scope.include_descendants()) return std::vector<const UnitInfo*>{root};
  return c.SubtreeAsOf(root, day, include_inactive);
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

absl::Status CheckNewUnitFields(const v1::CreateUnitRequest& req) {
  AW_RETURN_IF_ERROR(CheckCode("code", req.code()));
  AW_RETURN_IF_ERROR(CheckText("name", req.name(), true));
  AW_RETURN_IF_ERROR(CheckText("actor", req.actor(), true));
  AW_RETURN_IF_ERROR(CheckText("reason", req.reason(), false, 1000));
  if (!v1::UnitType_IsValid(req.type()) || req.type() == v1::UNIT_TYPE_UNSPECIFIED) {
    return InvalidField("type", "must be set to a known unit type");
  }
  return absl::OkStatus();
}

absl::Status CheckChangeFields(const UnitChange& change) {
  AW_RETURN_IF_ERROR(CheckText("actor", change.actor, true));
  AW_RETURN_IF_ERROR(CheckText("reason", change.reason, false, 1000));
  if (change.kind == UnitChange::kRename) AW_RETURN_IF_ERROR(CheckText("new_name", change.new_name, true));
  return absl::OkStatus();
}

absl::StatusOr<int> PlaceNewUnit(const Catalogue& catalogue, const v1::CreateUnitRequest& req,
                                 absl::CivilDay effective) {
  if (catalogue.FindUnit(req.code()) != nullptr) {
    return absl::AlreadyExistsError(absl::StrCat("code: unit ", req.code(), " already exists"));
  }
  int parent_id = 0;
  v1::UnitType parent_type = v1::UNIT_TYPE_UNSPECIFIED;
  if (!req.parent_code().empty()) {
    const UnitInfo* parent = catalogue.FindUnit(req.parent_code());
    if (parent == nullptr) return absl::NotFoundError(absl::StrCat("parent_code: no unit ", req.parent_code()));
    const UnitVersion* pv = parent->AsOf(effective);
    if (pv == nullptr || !pv->active) {
      return absl::FailedPreconditionError(absl::StrCat("parent_code: unit ", req.parent_code(),
                                                        " is not active on ", absl::FormatCivilTime(effective)));
    }
    parent_id = parent->id;
    parent_type = parent->type;
  }
  AW_RETURN_IF_ERROR(CheckParentType(req.type(), parent_type));
  return parent_id;
}

absl::StatusOr<UnitVersion> NextUnitVersion(const Catalogue& catalogue, const UnitInfo& unit,
                                            const UnitChange& change, absl::CivilDay effective) {
  const UnitVersion& latest = unit.latest();
  const std::string day = absl::FormatCivilTime(effective);
  if (change.expected_version != 0 && change.expected_version != latest.revision) {
    return absl::AbortedError(absl::StrCat("expected_version: unit ", change.code, " is at version ",
                                           latest.revision, ", not ", change.expected_version));
  }
  if (effective < latest.valid_from) {
    return absl::FailedPreconditionError(absl::StrCat("effective_from: must be on or after ",
                                                      absl::FormatCivilTime(latest.valid_from),
                                                      ", when the unit's current version took effect"));
  }
  if (!latest.active) return absl::FailedPreconditionError(absl::StrCat("unit ", change.code, " is deactivated"));
  UnitVersion next = latest;
  switch (change.kind) {
    case UnitChange::kRename:
      if (change.new_name == latest.name) {
        return absl::FailedPreconditionError("new_name: the unit already has this name");
      }
      next.name = change.new_name;
      next.change = "renamed";
      break;
    case UnitChange::kMove: {
      const UnitInfo* parent = catalogue.FindUnit(change.new_parent_code);
      if (parent == nullptr) {
        return absl::NotFoundError(absl::StrCat("new_parent_code: no unit ", change.new_parent_code));
      }
      const UnitVersion* pv = parent->AsOf(effective);
      if (pv == nullptr || !pv->active) {
        return absl::FailedPreconditionError(
            absl::StrCat("new_parent_code: unit ", change.new_parent_code, " is not active on ", day));
      }
      if (parent->id == latest.parent_id) {
        return absl::FailedPreconditionError("new_parent_code: the unit is already there");
      }
      for (const UnitInfo* ancestor : catalogue.PathAsOf(*parent, effective)) {
        if (ancestor->id == unit.id) {
          return absl::FailedPreconditionError(
              "new_parent_code: a unit cannot move under itself or its own subtree");
        }
      }
      AW_RETURN_IF_ERROR(CheckParentType(unit.type, parent->type));
      next.parent_id = parent->id;
      next.change = "moved";
      break;
    }
    case UnitChange::kDeactivate: {
      const auto subtree = catalogue.SubtreeAsOf(&unit, effective, false);
      if (subtree.size() > 1) {
        return absl::FailedPreconditionError(absl::StrCat("unit ", change.code, " still has ",
                                                          subtree.size() - 1, " active unit(s) under it on ", day,
                                                          "; move or deactivate them first"));
      }
      next.active = false;
      next.change = "deactivated";
      break;
    }
  }
  next.revision = latest.revision + 1;
  next.valid_from = effective;
  next.valid_to.reset();
  next.actor = change.actor;
  next.reason = change.reason;
  return next;
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

bool SameDefinition(const v1::Indicator& a, const v1::Indicator& b) {
  v1::Indicator x = a, y = b;
  x.clear_audit();
  y.clear_audit();
  return x.SerializeAsString() == y.SerializeAsString();
}

// --- Periods -------------------------------------------------------------------

v1::PeriodType ToProtoType(PeriodType type) { return static_cast<v1::PeriodType>(type); }

namespace {

// The period, or INVALID_ARGUMENT saying what is wrong with it (no field name).
absl::StatusOr<Period> ParseProto(const v1::Period& period) {
  if (period.key().empty()) return absl::InvalidArgumentError("a period key is required");
  return period.type() == v1::PERIOD_TYPE_UNSPECIFIED
             ? Period::Parse(period.key())
             : Period::Parse(static_cast<PeriodType>(period.type()), period.key());
}

}  // namespace

absl::StatusOr<Period> FromProto(const v1::Period& period, const std::string& field) {
  if (period.key().empty()) {
    return absl::InvalidArgumentError(absl::StrCat(field, ".key: required"));
  }
  auto parsed = ParseProto(period);
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
    // The row error names the field; its message does not repeat it.
    auto period = ParseProto(r.period());
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

// --- Stored readings and single writes ----------------------------------------

void ToProto(const Catalogue& catalogue, const StoredReading& r, v1::Reading* out) {
  auto* key = out->mutable_key();
  if (const UnitInfo* u = catalogue.UnitById(r.unit_id)) key->set_unit_code(u->code);
  if (const IndicatorInfo* i = catalogue.IndicatorById(r.indicator_id)) key->set_indicator_code(i->code);
  ToProto(r.period, key->mutable_period());
  out->set_value(r.value);
  out->set_source(r.source);
  out->set_entered_by(r.entered_by);
  out->set_reason(r.reason);
  SetTimestamp(r.recorded_at, out->mutable_recorded_at());
  out->set_version(r.version);
  out->set_current(r.current);
  out->set_seq(r.seq);
}

absl::Status CheckSingleWrite(const std::string& what, int current, bool must_exist, int expected_version) {
  if (must_exist && current == 0) {
    return absl::NotFoundError(absl::StrCat("no value for ", what, " to correct; use SubmitReading"));
  }
  if (!must_exist && current != 0) {
    return absl::AlreadyExistsError(absl::StrCat(what, " already has a value (version ", current,
                                                 "); correct it with CorrectReading"));
  }
  if (expected_version != 0 && expected_version != current) {
    return absl::AbortedError(
        absl::StrCat("expected_version: the current version is ", current, ", not ", expected_version));
  }
  return absl::OkStatus();
}

absl::Status RowStatus(const v1::RowError& e) {
  const std::string message = absl::StrCat(e.field(), ": ", e.message(), " (", e.code(), ")");
  if (e.code() == kUnknownUnit || e.code() == kUnknownIndicator) return absl::NotFoundError(message);
  if (e.code() == kUnitInactive || e.code() == kIndicatorDisabled) return absl::FailedPreconditionError(message);
  return absl::InvalidArgumentError(message);
}

// --- Roll-ups of readings -------------------------------------------------------

std::vector<PeriodType> ChildTypes(const v1::Indicator& def, PeriodType target) {
  std::vector<PeriodType> out;
  for (PeriodType type : NestedTypes(target)) {
    if (Allows(def.allowed_period_types(), static_cast<int>(type))) out.push_back(type);
  }
  return out;
}

void ReadingIndex::Add(const StoredReading* r) {
  by_key_[Key{r->unit_id, r->indicator_id, static_cast<int>(r->period.type()), r->period.Ordinal()}] = r;
}

const StoredReading* ReadingIndex::Find(int unit_id, int indicator_id, const Period& p) const {
  auto it = by_key_.find(Key{unit_id, indicator_id, static_cast<int>(p.type()), p.Ordinal()});
  return it == by_key_.end() ? nullptr : it->second;
}

std::optional<v1::Reading> Derive(const v1::Indicator& def, const UnitInfo& unit, const IndicatorInfo& indicator,
                                  const Period& period, const ReadingIndex& values, std::string* why) {
  for (PeriodType child : ChildTypes(def, period.type())) {
    auto parts = period.Split(child);
    if (!parts.ok()) continue;
    std::vector<double> found;
    std::vector<const StoredReading*> sources;
    for (const Period& p : *parts) {
      const StoredReading* r = values.Find(unit.id, indicator.id, p);
      if (r == nullptr) break;
      found.push_back(r->value);
      sources.push_back(r);
    }
    if (found.size() != parts->size()) {
      if (why != nullptr) {
        absl::StrAppend(why, found.size(), " of ", parts->size(), " ", PeriodTypeName(child), " values reported; ");
      }
      continue;
    }
    auto value = RollUp(def.rollup(), found);
    if (!value.ok()) return std::nullopt;
    v1::Reading r;
    r.mutable_key()->set_unit_code(unit.code);
    r.mutable_key()->set_indicator_code(indicator.code);
    ToProto(period, r.mutable_key()->mutable_period());
    r.set_value(*value);
    r.set_source("derived");
    r.set_derived(true);
    r.set_derived_by(def.rollup());
    for (const StoredReading* s : sources) {
      v1::ReadingKey* k = r.add_derived_from();
      k->set_unit_code(unit.code);
      k->set_indicator_code(indicator.code);
      ToProto(s->period, k->mutable_period());
    }
    return r;
  }
  return std::nullopt;
}

// --- Queries ----------------------------------------------------------------------

absl::StatusOr<ReadingQuery> PlanQuery(const Catalogue& catalogue, const v1::QueryReadingsRequest& req) {
  ReadingQuery q;
  AW_ASSIGN_OR_RETURN(q.first, FromProto(req.periods().first(), "periods.first"));
  AW_ASSIGN_OR_RETURN(q.last, FromProto(req.periods().last(), "periods.last"));
  if (q.first.type() != q.last.type()) return InvalidField("periods", "first and last must be of one type");
  if (q.last < q.first) return InvalidField("periods", "last comes before first");
  for (Period p = q.first; p <= q.last; p = p.Next()) {
    q.periods.push_back(p);
    if (q.periods.size() > kMaxPeriodsPerQuery) {
      return InvalidField("periods", absl::StrCat("at most ", kMaxPeriodsPerQuery, " periods per query"));
    }
  }
  AW_ASSIGN_OR_RETURN(q.units, ScopeUnits(catalogue, req.scope(), q.last.last_day(), true));
  std::sort(q.units.begin(), q.units.end(), [](const UnitInfo* a, const UnitInfo* b) { return a->id < b->id; });
  for (int i = 0; i < req.indicator_codes_size(); ++i) {
    AW_ASSIGN_OR_RETURN(const IndicatorInfo* indicator,
                        FindIndicator(catalogue, "indicator_codes", req.indicator_codes(i)));
    q.indicators.push_back(indicator);
    q.indicator_ids.push_back(indicator->id);
  }
  if (q.indicators.empty()) {
    for (const IndicatorInfo& i : catalogue.indicators()) q.indicators.push_back(&i);
  }
  std::sort(q.indicators.begin(), q.indicators.end(),
            [](const IndicatorInfo* a, const IndicatorInfo* b) { return a->id < b->id; });
  const int64_t keys = static_cast<int64_t>(q.units.size()) * q.indicators.size() * q.periods.size();
  if (req.include_derived() && keys > kMaxDerivedKeys) {
    return InvalidField("scope", absl::StrCat("with include_derived a query may cover at most ", kMaxDerivedKeys,
                                              " unit × indicator × period keys, not ", keys, "; narrow it"));
  }
  return q;
}

std::vector<int64_t> SortKey(int unit_id, int indicator_id, const Period& period, int version) {
  return {unit_id, indicator_id, period.Ordinal(), version};
}

std::vector<int64_t> SortKey(const StoredReading& r) {
  return SortKey(r.unit_id, r.indicator_id, r.period, r.version);
}

std::vector<std::pair<std::vector<int64_t>, v1::Reading>> DeriveMissing(
    const ReadingQuery& query, const std::vector<const UnitInfo*>& units, const std::vector<StoredReading>& reported,
    const std::vector<StoredReading>& children) {
  ReadingIndex have, values;
  for (const StoredReading& r : reported) have.Add(&r);
  for (const StoredReading& r : children) values.Add(&r);
  std::vector<std::pair<std::vector<int64_t>, v1::Reading>> out;
  for (const UnitInfo* u : units) {
    for (const IndicatorInfo* i : query.indicators) {
      for (const Period& p : query.periods) {
        if (have.Find(u->id, i->id, p) != nullptr) continue;
        const v1::Indicator* def = i->InYear(static_cast<int>(p.first_day().year()));
        if (def == nullptr || def->rollup() == v1::ROLLUP_RULE_NONE) continue;
        if (auto d = Derive(*def, *u, *i, p, values, nullptr)) {
          out.emplace_back(SortKey(u->id, i->id, p, 0), *std::move(d));
        }
      }
    }
  }
  return out;
}

// --- Completeness ---------------------------------------------------------------

std::vector<Due> DueIndicators(const Catalogue& catalogue, const CompletenessQuery& q) {
  std::vector<Due> due;
  for (const IndicatorInfo& i : catalogue.indicators()) {
    const v1::Indicator* def = i.InYear(static_cast<int>(q.period.first_day().year()));
    if (def == nullptr || !def->enabled()) continue;
    if (!q.indicator_codes.empty() &&
        std::find(q.indicator_codes.begin(), q.indicator_codes.end(), i.code) == q.indicator_codes.end()) {
      continue;
    }
    if (!Allows(def->allowed_period_types(), static_cast<int>(q.period.type()))) continue;
    const absl::Time deadline = SubmissionDeadline(q.period, def->deadline_days());
    if (deadline > q.as_of) continue;  // not due yet
    due.push_back({&i, def, deadline});
  }
  return due;
}

int64_t FillCompleteness(const CompletenessQuery& q, const std::vector<Due>& due,
                         const std::function<bool(int, int)>& reported, int64_t offset, int size,
                         v1::GetCompletenessResponse* out) {
  // Only the requested page of missing values becomes messages.
  int64_t missing = 0;
  const int64_t page_end = offset + size;
  for (const UnitInfo* u : q.units) {
    v1::UnitCompleteness* uc = out->add_units();
    uc->set_unit_code(u->code);
    int required = 0, present = 0;
    for (const Due& d : due) {
      if (!d.definition->applicable_unit_types().empty() &&
          !Allows(d.definition->applicable_unit_types(), u->type)) {
        continue;
      }
      ++required;
      if (reported(u->id, d.info->id)) {
        ++present;
        continue;
      }
      if (missing >= offset && missing < page_end) {
        v1::MissingValue* m = out->add_missing();
        m->set_unit_code(u->code);
        m->set_indicator_code(d.info->code);
        m->mutable_deadline()->set_seconds(absl::ToUnixSeconds(d.deadline));
      }
      ++missing;
    }
    uc->set_required(required);
    uc->set_reported(present);
    uc->set_rate(required == 0 ? 1.0 : static_cast<double>(present) / required);
  }
  return missing;
}

// --- Pulls -------------------------------------------------------------------

absl::Time PullDueTime(const Period& period, int run_day_offset, absl::Duration time_of_day) {
  const absl::CivilDay day = period.last_day() + run_day_offset;
  return absl::FromCivil(day, absl::UTCTimeZone()) + time_of_day;
}

Period FirstPullPeriod(PeriodType type, absl::Time now) {
  return Period::Containing(type, CivilDayOf(now)).Previous();
}

int MaxQueryParameter(const std::string& query) {
  int max = 0;
  for (size_t i = 0; i + 1 < query.size(); ++i) {
    if (query[i] != '$' || !std::isdigit(static_cast<unsigned char>(query[i + 1]))) continue;
    int n = 0;
    size_t j = i + 1;
    while (j < query.size() && std::isdigit(static_cast<unsigned char>(query[j]))) n = n * 10 + (query[j++] - '0');
    max = std::max(max, n);
  }
  return max;
}

absl::Status CheckPullBinding(const Catalogue& catalogue, const std::vector<std::string>& data_sources,
                              v1::PullBinding* b, absl::Duration* time_of_day) {
  if (b->name().empty() || b->name().size() > 64) return InvalidField("binding.name", "required, at most 64 characters");
  if (std::find(data_sources.begin(), data_sources.end(), b->data_source()) == data_sources.end()) {
    return InvalidField("binding.data_source",
                        absl::StrCat("no data source \"", b->data_source(), "\" is configured (",
                                     data_sources.empty() ? "none are" : "configured: " + absl::StrJoin(data_sources, ", "),
                                     "; see --data_sources)"));
  }
  b->set_query(std::string(absl::StripAsciiWhitespace(b->query())));
  if (!absl::StartsWithIgnoreCase(b->query(), "select") && !absl::StartsWithIgnoreCase(b->query(), "with")) {
    return InvalidField("binding.query", "a SELECT (or WITH … SELECT) returning unit_code, value");
  }
  if (MaxQueryParameter(b->query()) > 3) {
    return InvalidField("binding.query", "only $1 (period key), $2 (first day) and $3 (last day) exist");
  }
  if (b->period_type() < v1::PERIOD_TYPE_DAY || b->period_type() > v1::PERIOD_TYPE_YEAR) {
    return InvalidField("binding.period_type", "must be set");
  }
  if (b->run_day_offset() < 0 || b->run_day_offset() > 366) return InvalidField("binding.run_day_offset", "0..366");
  if (b->run_time().empty()) b->set_run_time("02:00");
  auto parsed = ParseTimeOfDay(b->run_time());
  if (!parsed.ok()) return InvalidField("binding.run_time", parsed.status().message());
  *time_of_day = *parsed;
  const IndicatorInfo* indicator = catalogue.FindIndicator(b->indicator_code());
  if (indicator == nullptr) {
    return absl::NotFoundError(absl::StrCat("binding.indicator_code: no indicator ", b->indicator_code()));
  }
  const v1::Indicator& def = indicator->versions.back();
  if (def.kind() != v1::INDICATOR_KIND_SYSTEM) {
    return InvalidField("binding.indicator_code",
                        absl::StrCat(b->indicator_code(), " is entered by hand, not computed by a system"));
  }
  if (!Allows(def.allowed_period_types(), b->period_type())) {
    return InvalidField("binding.period_type",
                        absl::StrCat(b->indicator_code(), " is not reported per ",
                                     PeriodTypeName(static_cast<PeriodType>(b->period_type()))));
  }
  return absl::OkStatus();
}

std::vector<std::string> PullParameters(const std::string& query, const Period& period) {
  const std::vector<std::string> all = {period.key(), absl::FormatCivilTime(period.first_day()),
                                        absl::FormatCivilTime(period.last_day())};
  return std::vector<std::string>(all.begin(), all.begin() + std::min<int>(3, MaxQueryParameter(query)));
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
