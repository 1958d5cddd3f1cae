// Who may do what through the gateway, with no I/O: the roles a method allows
// (its (access) option), the org tree as the gateway knows it, and the unit
// fields of the contracts (the (unit) field option) — checked in requests,
// filled in where a list query names no scope, and filtered out of answers.
#pragma once

#include <string>
#include <vector>

#include <google/protobuf/descriptor.h>
#include <google/protobuf/message.h>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "auditwatch/v1/common.pb.h"

namespace aw::gateway {

namespace v1 = ::auditwatch::v1;

// --- Roles ----------------------------------------------------------------------

// The roles of a method's (access) option, ROLE_CENTRE_ADMIN first (an
// administrator may call every method).
std::vector<v1::Role> RolesOf(const google::protobuf::MethodDescriptor* method);

// OK when one of `principal`'s roles is among `allowed`; PERMISSION_DENIED
// naming the method and the roles it is for otherwise.
absl::Status CheckRoles(const std::vector<v1::Role>& allowed, const v1::Principal& principal,
                        absl::string_view method);

// --- The org tree ---------------------------------------------------------------

// Each known unit with its path from the root (ingest's Unit.path). A unit's
// subtree is the unit and every unit whose path passes through it.
class UnitTree {
 public:
  // `path` runs from the root to `code` itself.
  void Add(const std::string& code, std::vector<std::string> path);
  size_t size() const { return paths_.size(); }
  bool Knows(absl::string_view code) const { return paths_.contains(code); }

  // True when `unit` is one of `roots` or lies below one of them; false when
  // it does not, or is unknown.
  bool Within(absl::string_view unit, const google::protobuf::RepeatedPtrField<std::string>& roots) const;

 private:
  absl::flat_hash_map<std::string, std::vector<std::string>> paths_;
};

// --- Unit fields ------------------------------------------------------------------

// Where a message type names units: its own fields marked (unit) — a unit
// code, unit codes, or a UnitScope (single or repeated) — and its message
// fields whose types name units somewhere inside.
struct UnitPlan {
  struct Field {
    const google::protobuf::FieldDescriptor* field;
    bool scope;  // a UnitScope (single or repeated); else a unit code or codes
  };
  std::vector<Field> units;
  std::vector<std::pair<const google::protobuf::FieldDescriptor*, const UnitPlan*>> nested;
};

// The plans of every message type reachable from some roots, built once
// (immutable after, so shared by every thread).
class UnitPlans {
 public:
  // Plans for every type reachable from `types`.
  explicit UnitPlans(const std::vector<const google::protobuf::Descriptor*>& types);
  UnitPlans(const UnitPlans&) = delete;
  UnitPlans& operator=(const UnitPlans&) = delete;

  // nullptr when `type` names no unit anywhere inside (or was not a root's).
  const UnitPlan* For(const google::protobuf::Descriptor* type) const;

 private:
  const UnitPlan* Build(const google::protobuf::Descriptor* type);
  absl::flat_hash_map<const google::protobuf::Descriptor*, std::unique_ptr<UnitPlan>> plans_;  // null: none
};

// What a unit-limited caller (principal.unit_codes not empty) may touch.
// Callers with no unit limit may touch everything; these functions are not
// called for them.
//
// OK when every unit `request` names (by `plan`) lies in the caller's
// subtrees; PERMISSION_DENIED naming the first that does not otherwise. In
// `*unknown` (when not null) the first unit the tree does not know, so that
// the caller can refresh the tree and ask again.
absl::Status CheckUnits(const UnitPlan& plan, const google::protobuf::Message& request,
                        const v1::Principal& principal, const UnitTree& tree, std::string* unknown = nullptr);

// The first unit `message` names that `tree` does not know ("" when none).
std::string FirstUnknownUnit(const UnitPlan& plan, const google::protobuf::Message& message, const UnitTree& tree);

// The first unit `message` names ("" when none), for the access log.
std::string FirstUnit(const UnitPlan& plan, const google::protobuf::Message& message);

// Narrows every UnitScope field of `request` that names no unit to the
// caller's subtree — possible when the caller is limited to exactly one unit
// (with more, the answer is filtered instead). True when it changed anything.
bool NarrowScopes(const UnitPlan& plan, google::protobuf::Message* request, const v1::Principal& principal);

// Removes from `response` every element of a repeated field that names a
// unit outside the caller's subtrees. Returns the first unit outside named by
// `response` itself (outside any repeated field), which then must not reach
// the caller; empty when there is none. `*changed` says whether elements went.
std::string FilterUnits(const UnitPlan& plan, google::protobuf::Message* response, const v1::Principal& principal,
                        const UnitTree& tree, bool* changed);

}  // namespace aw::gateway
