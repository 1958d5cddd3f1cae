#include "services/audit/audit_logic.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/timestamp.h"

namespace aw::audit {

// --- Who acts ----------------------------------------------------------------------

bool HasRole(const v1::Principal& principal, v1::Role role) {
  for (int r : principal.roles()) {
    if (r == role || r == v1::ROLE_CENTRE_ADMIN) return true;
  }
  return false;
}

bool CoversPath(const v1::Principal& principal, const std::vector<std::string>& path) {
  if (principal.unit_codes().empty()) return true;
  for (const std::string& unit : principal.unit_codes()) {
    if (std::find(path.begin(), path.end(), unit) != path.end()) return true;
  }
  return false;
}

// --- The state machine ------------------------------------------------------------

namespace {

using S = v1::WorkOrderState;

constexpr Action kAllActions[] = {Action::kDispatch,      Action::kStart,        Action::kSubmit,
                                  Action::kUnitApprove,   Action::kUnitReject,   Action::kCentreApprove,
                                  Action::kCentreReject,  Action::kCancel,       Action::kFalsePositive,
                                  Action::kExtend};

// Which side acts: the centre, or the order's unit.
bool ByCentre(Action action) {
  switch (action) {
    case Action::kStart:
    case Action::kSubmit:
    case Action::kUnitApprove:
    case Action::kUnitReject:
      return false;
    default:
      return true;
  }
}

bool IsReview(Action action) {
  return action == Action::kUnitApprove || action == Action::kUnitReject || action == Action::kCentreApprove ||
         action == Action::kCentreReject;
}

}  // namespace

const char* ActionName(Action action) {
  switch (action) {
    case Action::kDispatch: return "dispatched";
    case Action::kStart: return "started";
    case Action::kSubmit: return "submitted";
    case Action::kUnitApprove: return "unit_approved";
    case Action::kUnitReject: return "unit_rejected";
    case Action::kCentreApprove: return "centre_approved";
    case Action::kCentreReject: return "centre_rejected";
    case Action::kCancel: return "cancelled";
    case Action::kFalsePositive: return "false_positive";
    case Action::kExtend: return "deadline_extended";
  }
  return "?";
}

std::string StateName(v1::WorkOrderState state) {
  std::string name = v1::WorkOrderState_Name(state);
  constexpr absl::string_view kPrefix = "WORK_ORDER_STATE_";
  if (absl::StartsWith(name, kPrefix)) name.erase(0, kPrefix.size());
  return name;
}

bool Ended(v1::WorkOrderState state) {
  return state == S::WORK_ORDER_STATE_ARCHIVED || state == S::WORK_ORDER_STATE_CANCELLED ||
         state == S::WORK_ORDER_STATE_FALSE_POSITIVE;
}

bool AwaitsUnit(v1::WorkOrderState state) {
  return state == S::WORK_ORDER_STATE_DISPATCHED || state == S::WORK_ORDER_STATE_RECTIFYING;
}

v1::WorkOrderState Target(Action action, v1::WorkOrderState from) {
  switch (action) {
    case Action::kDispatch:
      return from == S::WORK_ORDER_STATE_DRAFT ? S::WORK_ORDER_STATE_DISPATCHED : S::WORK_ORDER_STATE_UNSPECIFIED;
    case Action::kStart:
      return from == S::WORK_ORDER_STATE_DISPATCHED ? S::WORK_ORDER_STATE_RECTIFYING
                                                    : S::WORK_ORDER_STATE_UNSPECIFIED;
    case Action::kSubmit:
      return from == S::WORK_ORDER_STATE_RECTIFYING ? S::WORK_ORDER_STATE_SUBMITTED
                                                    : S::WORK_ORDER_STATE_UNSPECIFIED;
    case Action::kUnitApprove:
      return from == S::WORK_ORDER_STATE_SUBMITTED ? S::WORK_ORDER_STATE_UNIT_APPROVED
                                                   : S::WORK_ORDER_STATE_UNSPECIFIED;
    case Action::kUnitReject:
      return from == S::WORK_ORDER_STATE_SUBMITTED ? S::WORK_ORDER_STATE_RECTIFYING
                                                   : S::WORK_ORDER_STATE_UNSPECIFIED;
    case Action::kCentreApprove:
      return from == S::WORK_ORDER_STATE_UNIT_APPROVED ? S::WORK_ORDER_STATE_ARCHIVED
                                                       : S::WORK_ORDER_STATE_UNSPECIFIED;
    case Action::kCentreReject:
      return from == S::WORK_ORDER_STATE_UNIT_APPROVED ? S::WORK_ORDER_STATE_RECTIFYING
                                                       : S::WORK_ORDER_STATE_UNSPECIFIED;
    case Action::kCancel:
      return Ended(from) || from == S::WORK_ORDER_STATE_UNSPECIFIED ? S::WORK_ORDER_STATE_UNSPECIFIED
                                                                    : S::WORK_ORDER_STATE_CANCELLED;
    case Action::kFalsePositive:
      return Ended(from) || from == S::WORK_ORDER_STATE_DRAFT || from == S::WORK_ORDER_STATE_UNSPECIFIED
                 ? S::WORK_ORDER_STATE_UNSPECIFIED
                 : S::WORK_ORDER_STATE_FALSE_POSITIVE;
    case Action::kExtend:
      return Ended(from) || from == S::WORK_ORDER_STATE_UNSPECIFIED ? S::WORK_ORDER_STATE_UNSPECIFIED : from;
  }
  return S::WORK_ORDER_STATE_UNSPECIFIED;
}

std::vector<Action> AllowedFrom(v1::WorkOrderState state) {
  std::vector<Action> out;
  for (Action a : kAllActions) {
    if (Target(a, state) != S::WORK_ORDER_STATE_UNSPECIFIED) out.push_back(a);
  }
  return out;
}

absl::StatusOr<v1::WorkOrderState> Decide(Action action, const OrderFacts& order, const v1::Principal& caller,
                                          int64_t expected_version) {
  const v1::Role role = ByCentre(action) ? v1::ROLE_CENTRE_AUDITOR : v1::ROLE_UNIT_SPECIALIST;
  if (!HasRole(caller, role)) {
    return absl::PermissionDeniedError(absl::StrCat("work order: ", ActionName(action), " needs the role ",
                                                    v1::Role_Name(role), "; ", caller.subject(), " lacks it"));
  }
  if (!CoversPath(caller, order.path)) {
    return absl::PermissionDeniedError(absl::StrCat("work order: its unit ", order.path.empty() ? "" : order.path.back(),
                                                    " is outside the units of ", caller.subject()));
  }
  if (order.version != expected_version) {
    return absl::AbortedError(absl::StrCat("expected_version: the order is at version ", order.version, ", not ",
                                           expected_version, "; read it again"));
  }
  const v1::WorkOrderState to = Target(action, order.state);
  if (to == S::WORK_ORDER_STATE_UNSPECIFIED) {
    std::vector<std::string> allowed;
    for (Action a : AllowedFrom(order.state)) allowed.push_back(ActionName(a));
    return absl::FailedPreconditionError(absl::StrCat(
        "work order is ", StateName(order.state), ": cannot be ", ActionName(action), "; allowed: ",
        allowed.empty() ? "nothing (it has ended)" : absl::StrJoin(allowed, ", ")));
  }
  if (IsReview(action) && !order.last_submitter.empty() && order.last_submitter == caller.subject()) {
    return absl::PermissionDeniedError(absl::StrCat("four eyes: ", caller.subject(),
                                                    " submitted this rectification and cannot review it"));
  }
  return to;
}

v1::WorkOrder AfterTransition(const v1::WorkOrder& current, v1::WorkOrderState to, const std::string& actor,
                              const std::string& comment, absl::Time now, const v1::Rectification* rectification,
                              std::optional<absl::Time> deadline) {
  now = absl::FromUnixMicros(absl::ToUnixMicros(now));
  v1::WorkOrder next = current;
  next.clear_log();
  next.set_state(to);
  v1::AuditInfo* a = next.mutable_audit();
  a->set_version(current.audit().version() + 1);
  a->set_updated_by(actor);
  SetTimestamp(now, a->mutable_updated_at());
  a->set_reason(comment);
  if (deadline) SetTimestamp(*deadline, next.mutable_deadline());
  next.set_overdue(current.overdue() && AwaitsUnit(to) && (!deadline || *deadline <= now));
  if (rectification != nullptr) {
    v1::Rectification* r = next.add_rectifications();
    *r = *rectification;
    r->set_submitted_by(actor);
    SetTimestamp(now, r->mutable_submitted_at());
  }
  return next;
}

// --- Validation ----------------------------------------------------------------------

bool Blank(absl::string_view text, int min_chars) {
  return static_cast<int>(absl::StripAsciiWhitespace(text).size()) < min_chars;
}

absl::Status ValidateCommand(const v1::WorkOrderCommand& command, absl::string_view field) {
  if (command.work_order_id() <= 0) {
    return absl::InvalidArgumentError(absl::StrCat(field, ".work_order_id: required"));
  }
  if (command.expected_version() <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ".expected_version: required (the order's audit.version as last read)"));
  }
  if (command.idempotency_key().empty()) {
    return absl::InvalidArgumentError(absl::StrCat(field, ".idempotency_key: required (a retry sends the same key)"));
  }
  if (command.idempotency_key().size() > 200) {
    return absl::InvalidArgumentError(absl::StrCat(field, ".idempotency_key: at most 200 characters"));
  }
  if (command.comment().size() > 8000) {
    return absl::InvalidArgumentError(absl::StrCat(field, ".comment: at most 8000 characters"));
  }
  return absl::OkStatus();
}

absl::Status ValidateRectification(const v1::Rectification& r) {
  if (Blank(r.result())) {
    return absl::InvalidArgumentError("rectification.result: required (整改结果)");
  }
  for (const auto& [name, text] : {std::pair<const char*, const std::string*>{"cause_analysis", &r.cause_analysis()},
                                   {"measures", &r.measures()},
                                   {"result", &r.result()}}) {
    if (text->size() > 8000) {
      return absl::InvalidArgumentError(absl::StrCat("rectification.", name, ": at most 8000 characters"));
    }
  }
  if (r.attachments_size() > 20) return absl::InvalidArgumentError("rectification.attachments: at most 20");
  for (int i = 0; i < r.attachments_size(); ++i) {
    if (r.attachments(i).empty() || r.attachments(i).size() > 500) {
      return absl::InvalidArgumentError(
          absl::StrCat("rectification.attachments[", i, "]: a reference of 1 to 500 characters"));
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateDeadline(const google::protobuf::Timestamp& deadline, absl::Time now, absl::string_view field) {
  if (deadline.seconds() == 0 && deadline.nanos() == 0) return absl::InvalidArgumentError(absl::StrCat(field, ": required"));
  if (TimeOf(deadline) <= now) {
    return absl::InvalidArgumentError(absl::StrCat(field, ": ", absl::FormatTime(TimeOf(deadline), absl::UTCTimeZone()),
                                                   " is not in the future"));
  }
  return absl::OkStatus();
}

// --- Events ----------------------------------------------------------------------------

EventActions ActionsOf(const v1::Rule& rule, int level) {
  EventActions out;
  for (const v1::RuleLevel& l : rule.levels()) {
    if (l.level() != level) continue;
    for (int a : l.actions()) {
      if (a == v1::WARNING_ACTION_ONLINE_AUDIT) out.task = true;
      if (a == v1::WARNING_ACTION_SUPERVISION_ORDER) out.supervision = true;
    }
  }
  return out;
}

// --- Supervision -------------------------------------------------------------------------

int EscalationAfter(absl::Duration overdue_for, absl::Duration escalate_after, size_t path_size) {
  if (path_size == 0) return 1;
  int64_t steps = 0;
  if (escalate_after > absl::ZeroDuration() && overdue_for > absl::ZeroDuration()) {
    steps = absl::IDivDuration(overdue_for, escalate_after, &overdue_for);
  }
  return static_cast<int>(std::min<int64_t>(1 + steps, static_cast<int64_t>(path_size)));
}

const std::string& SupervisedUnit(const std::vector<std::string>& path, int escalation) {
  const size_t up = static_cast<size_t>(std::clamp<int>(escalation, 1, static_cast<int>(path.size()))) - 1;
  return path[path.size() - 1 - up];
}

std::string LeaderOf(absl::string_view unit) { return absl::StrCat("leader of ", unit); }

TimerDecision DecideTimer(const DueTimer& t, absl::Time now, const SupervisionPolicy& policy) {
  TimerDecision d;
  if (!t.has_deadline || Ended(t.state)) return d;  // nothing left to supervise: drop it
  const size_t levels = std::max<size_t>(t.path.size(), 1);
  if (t.kind == "deadline") {
    if (!AwaitsUnit(t.state)) return d;  // submitted in time; a rejection arms it again
    if (t.deadline > now) {
      d.rearm = t.deadline;
      return d;
    }
    d.mark_overdue = !t.overdue;
  } else if (!t.overdue) {
    return d;
  }
  const int target = EscalationAfter(now - t.deadline, policy.escalate_after, levels);
  for (int e = std::max(t.escalation, 0) + 1; e <= target; ++e) d.raise.push_back(e);
  d.remind = t.kind == "remind" && d.raise.empty();
  // The next reminder, or the next escalation if that comes first.
  absl::Time next = now + policy.remind_every;
  if (static_cast<size_t>(target) < levels && policy.escalate_after > absl::ZeroDuration()) {
    next = std::min(next, t.deadline + policy.escalate_after * target);
  }
  if (t.kind == "deadline") {
    d.arm_remind = next;
  } else {
    d.rearm = next;
  }
  return d;
}

// --- Rates ------------------------------------------------------------------------------------

v1::Rate MakeRate(int64_t numerator, int64_t denominator) {
  v1::Rate rate;
  rate.set_numerator(numerator);
  rate.set_denominator(denominator);
  rate.set_defined(denominator != 0);
  rate.set_value(denominator != 0 ? static_cast<double>(numerator) / static_cast<double>(denominator) : 0.0);
  return rate;
}

void FillRates(const OrderCounts& o, const AnomalyCounts& a, v1::UnitRates* rates) {
  *rates->mutable_initiation() = MakeRate(a.initiated, a.pairs);
  *rates->mutable_completion() = MakeRate(o.archived + o.false_positive, o.dispatched);
  *rates->mutable_rectification() = MakeRate(o.archived, o.dispatched - o.false_positive);
  *rates->mutable_overdue() = MakeRate(o.ever_overdue, o.dispatched);
  *rates->mutable_indicator_change() = MakeRate(a.pairs - a.pairs_before, a.pairs_before);
  *rates->mutable_cumulative_completion() = MakeRate(a.pairs_year_first - a.pairs, a.pairs_year_first);
}

std::vector<v1::UnitRates> ComputeRates(const std::vector<std::string>& units,
                                        const absl::flat_hash_map<std::string, std::vector<std::string>>& paths,
                                        const std::vector<OrderTally>& tallies, const AnomalyRows& anomalies,
                                        const v1::Period& period) {
  auto within = [&](const std::string& unit, const std::string& root) {
    auto it = paths.find(unit);
    if (it == paths.end()) return unit == root;
    return std::find(it->second.begin(), it->second.end(), root) != it->second.end();
  };
  using Pair = std::pair<std::string, std::string>;  // (theme, unit)
  std::vector<v1::UnitRates> out;
  for (const std::string& root : units) {
    OrderCounts orders;
    absl::flat_hash_map<Pair, bool> initiated;  // pairs with a work order
    for (const OrderTally& t : tallies) {
      if (!within(t.unit_code, root)) continue;
      if (t.state == v1::WORK_ORDER_STATE_DRAFT || t.state == v1::WORK_ORDER_STATE_CANCELLED) continue;
      orders.dispatched += t.count;
      if (t.state == v1::WORK_ORDER_STATE_ARCHIVED) orders.archived += t.count;
      if (t.state == v1::WORK_ORDER_STATE_FALSE_POSITIVE) orders.false_positive += t.count;
      if (t.ever_overdue) orders.ever_overdue += t.count;
      initiated[{t.theme_code, t.unit_code}] = true;
    }
    auto pairs = [&](const std::vector<v1::AnomalySummaryRow>& rows, int64_t* with_orders) {
      absl::flat_hash_map<Pair, bool> seen;
      for (const v1::AnomalySummaryRow& r : rows) {
        if (r.events() > 0 && within(r.unit_code(), root)) seen[{r.theme_code(), r.unit_code()}] = true;
      }
      if (with_orders != nullptr) {
        for (const auto& [pair, unused] : seen) *with_orders += initiated.contains(pair) ? 1 : 0;
      }
      return static_cast<int64_t>(seen.size());
    };
    AnomalyCounts a;
    a.pairs = pairs(anomalies.now, &a.initiated);
    a.pairs_before = pairs(anomalies.before, nullptr);
    a.pairs_year_first = pairs(anomalies.year_first, nullptr);
    v1::UnitRates& rates = out.emplace_back();
    rates.set_unit_code(root);
    *rates.mutable_period() = period;
    FillRates(orders, a, &rates);
  }
  return out;
}

// --- Quality checks ----------------------------------------------------------------------------

namespace {

v1::QualityFinding Finding(const char* code, std::string subject, const std::string& unit, std::string message) {
  v1::QualityFinding f;
  f.set_code(code);
  f.set_subject(std::move(subject));
  f.set_unit_code(unit);
  f.set_message(std::move(message));
  return f;
}

std::string Days(absl::Duration d) { return absl::StrCat(absl::ToDoubleHours(d) / 24.0); }

}  // namespace

std::vector<v1::QualityFinding> CheckOrders(const std::vector<CheckedOrder>& orders, const QualityLimits& limits) {
  std::vector<v1::QualityFinding> out;
  for (const CheckedOrder& o : orders) {
    const std::string subject = absl::StrCat("work_order ", o.id);
    if (o.state == S::WORK_ORDER_STATE_CANCELLED) continue;
    if (!o.has_deadline) {
      out.push_back(Finding("MISSING_DEADLINE", subject, o.unit_code, "the order has no deadline"));
    } else if (o.dispatched_at != absl::InfinitePast()) {
      const absl::Duration given = o.deadline - o.dispatched_at;
      if (given < limits.min_deadline || given > limits.max_deadline) {
        out.push_back(Finding("UNREALISTIC_DEADLINE", subject, o.unit_code,
                              absl::StrCat("the deadline gives ", Days(given), " days; expected ",
                                           Days(limits.min_deadline), " to ", Days(limits.max_deadline))));
      }
    }
    if (o.rectified && Blank(o.cause_analysis)) {
      out.push_back(Finding("MISSING_CAUSE_ANALYSIS", subject, o.unit_code, "the rectification has no cause analysis"));
    }
    if (o.rectified && Blank(o.measures)) {
      out.push_back(Finding("MISSING_MEASURES", subject, o.unit_code, "the rectification names no measures"));
    }
  }
  return out;
}

std::vector<v1::QualityFinding> CheckPlans(const std::vector<CheckedPlan>& plans, absl::CivilDay today) {
  std::vector<v1::QualityFinding> out;
  for (const CheckedPlan& p : plans) {
    if (p.first_day > today) continue;  // its audit days have not begun
    for (const std::string& theme : p.themes) {
      if (std::find(p.themes_with_tasks.begin(), p.themes_with_tasks.end(), theme) != p.themes_with_tasks.end()) {
        continue;
      }
      out.push_back(Finding("TASK_NOT_INITIATED", absl::StrCat("plan ", p.id), p.unit_code,
                            absl::StrCat("special plan \"", p.name, "\" (", absl::FormatCivilTime(p.first_day), " to ",
                                         absl::FormatCivilTime(p.last_day), ") has no task for theme ", theme)));
    }
  }
  return out;
}

std::vector<v1::QualityFinding> CheckWhitelist(const std::vector<v1::WhitelistEntry>& entries,
                                               const QualityLimits& limits) {
  std::vector<v1::QualityFinding> out;
  for (const v1::WhitelistEntry& e : entries) {
    const std::string subject = absl::StrCat("whitelist ", e.id());
    if (Blank(e.reason(), limits.min_reason_chars)) {
      out.push_back(Finding("WHITELIST_NO_REASON", subject, e.scope().unit_code(),
                            absl::StrCat("the entry's reason \"", e.reason(), "\" says nothing")));
    }
    const absl::Duration freeze = TimeOf(e.frozen_until()) - TimeOf(e.frozen_from());
    if (freeze > absl::Hours(24) * limits.max_freeze_days) {
      out.push_back(Finding("WHITELIST_FREEZE_TOO_LONG", subject, e.scope().unit_code(),
                            absl::StrCat("frozen for ", Days(freeze), " days; at most ", limits.max_freeze_days)));
    }
  }
  return out;
}

// --- Deductions ------------------------------------------------------------------------------------

absl::Status ValidateStandard(const v1::DeductionStandard& s) {
  if (s.code().empty() || s.code().size() > 64) {
    return absl::InvalidArgumentError("standard.code: required, at most 64 characters");
  }
  if (s.year() < 2000 || s.year() > 2100) return absl::InvalidArgumentError("standard.year: 2000 to 2100");
  if (s.description().empty()) return absl::InvalidArgumentError("standard.description: required");
  if (!(s.points() > 0) || !std::isfinite(s.points()) || s.points() > 100) {
    return absl::InvalidArgumentError("standard.points: more than 0, at most 100");
  }
  if (s.direct()) {
    if (s.incident_kind() == v1::INCIDENT_KIND_UNSPECIFIED) {
      return absl::InvalidArgumentError("standard.incident_kind: required for a direct item");
    }
    if (s.incident_level() < 1 || s.incident_level() > 4) {
      return absl::InvalidArgumentError("standard.incident_level: 1 to 4 for a direct item");
    }
  } else if (s.incident_kind() != v1::INCIDENT_KIND_UNSPECIFIED || s.incident_level() != 0) {
    return absl::InvalidArgumentError("standard.incident_kind: only direct items name an incident kind and level");
  }
  return absl::OkStatus();
}

absl::StatusOr<v1::DeductionStandard> DirectItemFor(const std::vector<v1::DeductionStandard>& items,
                                                    v1::IncidentKind kind, int level, int year) {
  for (const v1::DeductionStandard& s : items) {
    if (s.direct() && s.enabled() && s.year() == year && s.incident_kind() == kind && s.incident_level() == level) {
      return s;
    }
  }
  return absl::NotFoundError(absl::StrCat("incident: the standard of ", year, " has no enabled direct item for ",
                                          v1::IncidentKind_Name(kind), " at level ", level));
}

}  // namespace aw::audit
