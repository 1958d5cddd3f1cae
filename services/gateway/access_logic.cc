#include "services/gateway/access_logic.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "auditwatch/v1/options.pb.h"

namespace aw::gateway {

namespace pb = ::google::protobuf;

// --- Roles ----------------------------------------------------------------------

std::vector<v1::Role> RolesOf(const pb::MethodDescriptor* method) {
  std::vector<v1::Role> out{v1::ROLE_CENTRE_ADMIN};
  for (int role : method->options().GetExtension(v1::access).roles()) {
    if (role != v1::ROLE_CENTRE_ADMIN) out.push_back(static_cast<v1::Role>(role));
  }
  return out;
}

absl::Status CheckRoles(const std::vector<v1::Role>& allowed, const v1::Principal& principal,
                        absl::string_view method) {
  for (int role : principal.roles()) {
    if (std::find(allowed.begin(), allowed.end(), role) != allowed.end()) return absl::OkStatus();
  }
  std::vector<std::string> names;
  for (v1::Role role : allowed) names.push_back(v1::Role_Name(role));
  std::vector<std::string> held;
  for (int role : principal.roles()) held.push_back(v1::Role_Name(static_cast<v1::Role>(role)));
  return absl::PermissionDeniedError(absl::StrCat(method, " is for ", absl::StrJoin(names, ", "), "; ",
                                                  principal.subject(), " holds ",
                                                  held.empty() ? "no role" : absl::StrJoin(held, ", ")));
}

// --- The org tree ---------------------------------------------------------------

void UnitTree::Add(const std::string& code, std::vector<std::string> path) {
  if (path.empty() || path.back() != code) path.push_back(code);
  paths_[code] = std::move(path);
}

bool UnitTree::Within(absl::string_view unit, const pb::RepeatedPtrField<std::string>& roots) const {
  auto it = paths_.find(unit);
  if (it == paths_.end()) return false;
  for (const std::string& step : it->second) {
    if (std::find(roots.begin(), roots.end(), step) != roots.end()) return true;
  }
  return false;
}

// --- Unit fields ------------------------------------------------------------------

namespace {

// The unit a UnitScope names ("" when it names none). Requests and answers
// are decoded by the generated factory, so a UnitScope field holds the
// generated class.
const std::string& ScopeUnit(const pb::Message& scope) {
  return pb::DynamicCastToGenerated<v1::UnitScope>(&scope)->unit_code();
}

// Calls `fn` with each unit a marked field of `m` names, until it returns false.
template <typename Fn>
bool EachUnitOf(const pb::Message& m, const UnitPlan::Field& field, Fn&& fn) {
  const pb::Reflection* r = m.GetReflection();
  const pb::FieldDescriptor* f = field.field;
  if (field.scope) {
    if (f->is_repeated()) {
      for (int i = 0; i < r->FieldSize(m, f); ++i) {
        const std::string& unit = ScopeUnit(r->GetRepeatedMessage(m, f, i));
        if (!unit.empty() && !fn(unit)) return false;
      }
    } else if (r->HasField(m, f)) {
      const std::string& unit = ScopeUnit(r->GetMessage(m, f));
      if (!unit.empty() && !fn(unit)) return false;
    }
    return true;
  }
  if (f->is_repeated()) {
    for (int i = 0; i < r->FieldSize(m, f); ++i) {
      std::string scratch;
      const std::string& unit = r->GetRepeatedStringReference(m, f, i, &scratch);
      if (!unit.empty() && !fn(unit)) return false;
    }
  } else {
    std::string scratch;
    const std::string& unit = r->GetStringReference(m, f, &scratch);
    if (!unit.empty() && !fn(unit)) return false;
  }
  return true;
}

// Every unit `m` names, its nested messages included, until `fn` returns false.
template <typename Fn>
bool EachUnit(const UnitPlan& plan, const pb::Message& m, Fn&& fn) {
  for (const UnitPlan::Field& f : plan.units) {
    if (!EachUnitOf(m, f, fn)) return false;
  }
  const pb::Reflection* r = m.GetReflection();
  for (const auto& [f, inner] : plan.nested) {
    if (f->is_repeated()) {
      for (int i = 0; i < r->FieldSize(m, f); ++i) {
        if (!EachUnit(*inner, r->GetRepeatedMessage(m, f, i), fn)) return false;
      }
    } else if (r->HasField(m, f) && !EachUnit(*inner, r->GetMessage(m, f), fn)) {
      return false;
    }
  }
  return true;
}

}  // namespace

UnitPlans::UnitPlans(const std::vector<const pb::Descriptor*>& types) {
  for (const pb::Descriptor* type : types) Build(type);
}

const UnitPlan* UnitPlans::For(const pb::Descriptor* type) const {
  auto it = plans_.find(type);
  return it == plans_.end() ? nullptr : it->second.get();
}

const UnitPlan* UnitPlans::Build(const pb::Descriptor* type) {
  if (auto it = plans_.find(type); it != plans_.end()) return it->second.get();
  plans_[type] = nullptr;  // a type inside itself adds nothing more
  auto plan = std::make_unique<UnitPlan>();
  for (int i = 0; i < type->field_count(); ++i) {
    const pb::FieldDescriptor* f = type->field(i);
    const bool scope = f->message_type() == v1::UnitScope::descriptor();
    if (f->options().GetExtension(v1::unit)) {
      // A unit is named by a UnitScope or by text; the option on anything else names nothing.
      if (scope || f->cpp_type() == pb::FieldDescriptor::CPPTYPE_STRING) plan->units.push_back({f, scope});
    } else if (f->type() == pb::FieldDescriptor::TYPE_MESSAGE && !f->is_map()) {
      if (const UnitPlan* inner = Build(f->message_type())) plan->nested.emplace_back(f, inner);
    }
  }
  if (plan->units.empty() && plan->nested.empty()) return nullptr;
  return (plans_[type] = std::move(plan)).get();
}

absl::Status CheckUnits(const UnitPlan& plan, const pb::Message& request, const v1::Principal& principal,
                        const UnitTree& tree, std::string* unknown) {
  std::string outside;
  EachUnit(plan, request, [&](const std::string& unit) {
    if (tree.Within(unit, principal.unit_codes())) return true;
    outside = unit;
    if (unknown != nullptr && !tree.Knows(unit)) *unknown = unit;
    return false;
  });
  if (outside.empty()) return absl::OkStatus();
  return absl::PermissionDeniedError(absl::StrCat("unit ", outside, " is outside the units of ", principal.subject(),
                                                  " (", absl::StrJoin(principal.unit_codes(), ", "),
                                                  ", with the units below them)"));
}

std::string FirstUnit(const UnitPlan& plan, const pb::Message& message) {
  std::string first;
  EachUnit(plan, message, [&](const std::string& unit) {
    first = unit;
    return false;
  });
  return first;
}

std::string FirstUnknownUnit(const UnitPlan& plan, const pb::Message& message, const UnitTree& tree) {
  std::string first;
  EachUnit(plan, message, [&](const std::string& unit) {
    if (tree.Knows(unit)) return true;
    first = unit;
    return false;
  });
  return first;
}

bool NarrowScopes(const UnitPlan& plan, pb::Message* request, const v1::Principal& principal) {
  if (principal.unit_codes_size() != 1) return false;
  bool changed = false;
  const pb::Reflection* r = request->GetReflection();
  for (const auto& [f, scope] : plan.units) {
    if (!scope || f->is_repeated()) continue;
    auto* value = pb::DynamicCastToGenerated<v1::UnitScope>(r->MutableMessage(request, f));
    if (!value->unit_code().empty()) continue;
    value->set_unit_code(principal.unit_codes(0));
    value->set_include_descendants(true);
    changed = true;
  }
  for (const auto& [f, inner] : plan.nested) {
    if (!f->is_repeated() && r->HasField(*request, f)) {
      changed |= NarrowScopes(*inner, r->MutableMessage(request, f), principal);
    }
  }
  return changed;
}

std::string FilterUnits(const UnitPlan& plan, pb::Message* response, const v1::Principal& principal,
                        const UnitTree& tree, bool* changed) {
  std::string outside;
  auto check = [&](const std::string& unit) {
    if (tree.Within(unit, principal.unit_codes())) return true;
    outside = unit;
    return false;
  };
  for (const UnitPlan::Field& f : plan.units) {
    if (!EachUnitOf(*response, f, check)) return outside;
  }
  const pb::Reflection* r = response->GetReflection();
  for (const auto& [f, inner] : plan.nested) {
    if (!f->is_repeated()) {
      if (!r->HasField(*response, f)) continue;
      outside = FilterUnits(*inner, r->MutableMessage(response, f), principal, tree, changed);
      if (!outside.empty()) return outside;
      continue;
    }
    // Keeps the elements within, in order.
    const int n = r->FieldSize(*response, f);
    int kept = 0;
    for (int i = 0; i < n; ++i) {
      if (!FilterUnits(*inner, r->MutableRepeatedMessage(response, f, i), principal, tree, changed).empty()) continue;
      if (kept != i) r->SwapElements(response, f, kept, i);
      ++kept;
    }
    for (int i = kept; i < n; ++i) r->RemoveLast(response, f);
    if (kept != n) *changed = true;
  }
  return "";
}

}  // namespace aw::gateway
