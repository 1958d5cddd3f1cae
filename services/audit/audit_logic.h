// The rules of the closed audit loop, with no I/O: the work-order state
// machine with its role, subtree and four-eyes checks; what a warning event's
// level asks for; when an overdue order's supervision escalates; the rates
// with their numerators and denominators; the quality checks of the audit
// work; and the validation of commands.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "auditwatch/v1/audit.pb.h"
#include "auditwatch/v1/monitor.pb.h"

namespace aw::audit {

namespace v1 = ::auditwatch::v1;

// --- Who acts ----------------------------------------------------------------------

// True when the principal has `role` (administrators have every role).
bool HasRole(const v1::Principal& principal, v1::Role role);
// True when the principal may act on a unit whose path (root first, the unit
// last) is `path`: it is limited to no units, or to one on the path.
bool CoversPath(const v1::Principal& principal, const std::vector<std::string>& path);

// --- The work-order state machine ----------------------------------------------

enum class Action {
  kDispatch,       // draft → dispatched (centre)
  kStart,          // dispatched → rectifying (unit)
  kSubmit,         // rectifying → submitted (unit)
  kUnitApprove,    // submitted → unit approved (unit, not the submitter)
  kUnitReject,     // submitted → rectifying (unit, not the submitter)
  kCentreApprove,  // unit approved → archived (centre, not the submitter)
  kCentreReject,   // unit approved → rectifying (centre, not the submitter)
  kCancel,         // any open state → cancelled (centre)
  kFalsePositive,  // dispatched … unit approved → false positive (centre)
  kExtend,         // a new deadline, state unchanged (centre)
};

// The log's name of an action ("dispatched", "unit_rejected" …).
const char* ActionName(Action action);
// "DISPATCHED", "UNIT_APPROVED" …
std::string StateName(v1::WorkOrderState state);

// True for archived, cancelled and false positive.
bool Ended(v1::WorkOrderState state);
// True while the unit owes the rectification (dispatched, rectifying): the
// states in which a passed deadline makes the order overdue.
bool AwaitsUnit(v1::WorkOrderState state);

// The state an action leads to from `from`; nullopt-like UNSPECIFIED when it
// is not allowed there.
v1::WorkOrderState Target(Action action, v1::WorkOrderState from);
// The actions allowed from a state, in the enum's order.
std::vector<Action> AllowedFrom(v1::WorkOrderState state);

// What the state machine knows of an order when a command arrives.
struct OrderFacts {
  v1::WorkOrderState state = v1::WORK_ORDER_STATE_UNSPECIFIED;
  int64_t version = 0;
  std::vector<std::string> path;  // of the order's unit, root first
  std::string last_submitter;     // of the latest rectification; "" when none
};

// Decides a command: the state it leads to, or why not —
//   ABORTED             the order is at another version than expected;
//   FAILED_PRECONDITION the action is not allowed in the current state
//                       (naming it and the actions that are);
//   PERMISSION_DENIED   the caller lacks the role, the order's unit is outside
//                       its subtree, or it reviews its own submission.
absl::StatusOr<v1::WorkOrderState> Decide(Action action, const OrderFacts& order, const v1::Principal& caller,
                                          int64_t expected_version);

// The order as a transition leaves it: the record answered and written to the
// feed. `now` is taken to the microsecond, as the database keeps it.
v1::WorkOrder AfterTransition(const v1::WorkOrder& current, v1::WorkOrderState to, const std::string& actor,
                              const std::string& comment, absl::Time now, const v1::Rectification* rectification,
                              std::optional<absl::Time> deadline);

// --- Validation of commands ------------------------------------------------------------

// True when `text` has fewer than `min_chars` characters besides white space.
bool Blank(absl::string_view text, int min_chars = 1);

// INVALID_ARGUMENT naming the field: work_order_id, expected_version and
// idempotency_key are required.
absl::Status ValidateCommand(const v1::WorkOrderCommand& command, absl::string_view field = "command");
// The result is required; every text is at most 8,000 characters; at most 20
// attachments, each a non-empty reference of at most 500 characters.
absl::Status ValidateRectification(const v1::Rectification& rectification);
// A deadline after `now`.
absl::Status ValidateDeadline(const google::protobuf::Timestamp& deadline, absl::Time now, absl::string_view field);

// --- Tasks from warning events ----------------------------------------------------------

// What a warning event's level asks of the audit service.
struct EventActions {
  bool task = false;         // ONLINE_AUDIT: a task and a work order to the event's unit
  bool supervision = false;  // SUPERVISION_ORDER: a supervision order to the unit's leader
};
// The actions of `level` in `rule` (none when the rule has no such level).
EventActions ActionsOf(const v1::Rule& rule, int level);

// --- Supervision ------------------------------------------------------------------------

// The escalation an overdue order has reached `overdue_for` after its
// deadline: 1 (the unit's leader) until `escalate_after`, then one more per
// `escalate_after`, never above the root of `path` (so at most path.size()).
int EscalationAfter(absl::Duration overdue_for, absl::Duration escalate_after, size_t path_size);
// The unit addressed at `escalation`: the order's unit for 1, its parent for 2 …
const std::string& SupervisedUnit(const std::vector<std::string>& path, int escalation);
// "leader of <unit>".
std::string LeaderOf(absl::string_view unit);

struct SupervisionPolicy {
  absl::Duration remind_every = absl::Hours(24);    // reminders on open supervision orders
  absl::Duration escalate_after = absl::Hours(72);  // overdue this long: one level up, and again
};

// A timer row that has come due, with what it needs of its order.
struct DueTimer {
  int64_t work_order_id = 0;
  std::string kind;  // "deadline" or "remind"
  absl::Time due_at;
  v1::WorkOrderState state = v1::WORK_ORDER_STATE_UNSPECIFIED;
  bool has_deadline = false;
  absl::Time deadline;
  bool overdue = false;
  std::vector<std::string> path;  // of the order's unit, root first
  int escalation = 0;             // the highest open supervision of the order (0: none open)
};

// What firing a timer does.
struct TimerDecision {
  bool mark_overdue = false;
  std::vector<int> raise;             // supervision escalations to raise, ascending
  bool remind = false;                // remind the open supervision orders
  std::optional<absl::Time> rearm;    // fire this timer again then; dropped otherwise
  std::optional<absl::Time> arm_remind;  // a deadline that passed starts the reminders
};
TimerDecision DecideTimer(const DueTimer& timer, absl::Time now, const SupervisionPolicy& policy);

// --- Rates --------------------------------------------------------------------------------

// A rate of `numerator` over `denominator`; undefined when the denominator is 0.
v1::Rate MakeRate(int64_t numerator, int64_t denominator);

// The counts behind a subtree's order rates.
struct OrderCounts {
  int64_t dispatched = 0;      // not drafts, not cancelled
  int64_t archived = 0;
  int64_t false_positive = 0;
  int64_t ever_overdue = 0;
};
// The counts behind a subtree's anomaly rates.
struct AnomalyCounts {
  int64_t pairs = 0;            // anomalous (theme, unit) pairs in the period
  int64_t initiated = 0;        // of which have a work order of the theme to the unit
  int64_t pairs_before = 0;     // in the period before
  int64_t pairs_year_first = 0; // in the first period of the year
};
void FillRates(const OrderCounts& orders, const AnomalyCounts& anomalies, v1::UnitRates* rates);

// Orders of one (unit, theme, state, ever overdue) in the period.
struct OrderTally {
  std::string unit_code, theme_code;
  v1::WorkOrderState state = v1::WORK_ORDER_STATE_UNSPECIFIED;
  bool ever_overdue = false;
  int64_t count = 0;
};
// The anomaly summaries the rates need: the period's, the one before, and the
// first period of its year.
struct AnomalyRows {
  std::vector<v1::AnomalySummaryRow> now, before, year_first;
};
// The rates of each of `units`, each over its subtree, from the orders and
// anomalies of the whole scope; `paths` holds the path (root first) of every
// unit named in `tallies` and `anomalies`.
std::vector<v1::UnitRates> ComputeRates(const std::vector<std::string>& units,
                                        const absl::flat_hash_map<std::string, std::vector<std::string>>& paths,
                                        const std::vector<OrderTally>& tallies, const AnomalyRows& anomalies,
                                        const v1::Period& period);

// --- Quality checks (质检) -------------------------------------------------------------------

struct QualityLimits {
  absl::Duration min_deadline = absl::Hours(24);    // from dispatch
  absl::Duration max_deadline = absl::Hours(24 * 90);
  int max_freeze_days = 30;                         // whitelist entries
  int min_reason_chars = 4;
};
// An order as the checks see it.
struct CheckedOrder {
  int64_t id = 0;
  std::string unit_code;
  v1::WorkOrderState state = v1::WORK_ORDER_STATE_UNSPECIFIED;
  bool has_deadline = false;
  absl::Time dispatched_at = absl::InfinitePast();  // InfinitePast while a draft
  absl::Time deadline = absl::InfinitePast();
  // The latest rectification, when there is one.
  bool rectified = false;
  std::string cause_analysis, measures;
};
// A special plan with the themes it has tasks for.
struct CheckedPlan {
  int64_t id = 0;
  std::string name, unit_code;
  absl::CivilDay first_day, last_day;
  std::vector<std::string> themes;
  std::vector<std::string> themes_with_tasks;
};
std::vector<v1::QualityFinding> CheckOrders(const std::vector<CheckedOrder>& orders, const QualityLimits& limits);
// Plans whose audit days have begun by `today` with a theme that has no task.
std::vector<v1::QualityFinding> CheckPlans(const std::vector<CheckedPlan>& plans, absl::CivilDay today);
std::vector<v1::QualityFinding> CheckWhitelist(const std::vector<v1::WhitelistEntry>& entries,
                                               const QualityLimits& limits);

// --- Deductions ---------------------------------------------------------------------------------

// INVALID_ARGUMENT naming the field when a standard item is malformed.
absl::Status ValidateStandard(const v1::DeductionStandard& standard);
// The enabled direct item of `year` for an incident kind and level, from
// `items` (the current version of each); NOT_FOUND naming what is missing.
absl::StatusOr<v1::DeductionStandard> DirectItemFor(const std::vector<v1::DeductionStandard>& items,
                                                    v1::IncidentKind kind, int level, int year);

}  // namespace aw::audit
