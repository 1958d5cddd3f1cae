// Monitor rules with no I/O, tested without a server or a database: rule
// validation (a rule that cannot fire is refused, naming the field), where a
// rule applies, the verdict of each rule kind on a unit's series of values, how
// an event moves when a new verdict arrives, whitelist matching, the deadlines
// of timer rules and their verdicts, backtests, and what a notification says.
#pragma once

#include <array>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "auditwatch/v1/ingest.pb.h"
#include "auditwatch/v1/monitor.pb.h"
#include "common/period.h"

namespace aw::monitor {

namespace v1 = ::auditwatch::v1;

// What the monitor needs to know of an indicator (it comes from ingest).
struct IndicatorFacts {
  std::string code;
  v1::Direction direction = v1::DIRECTION_HIGHER_IS_BETTER;
  double min_value = 0;
  double max_value = 0;
  std::vector<int> allowed_period_types;
  v1::RollupRule rollup = v1::ROLLUP_RULE_NONE;
  int deadline_days = 0;
};

// What the monitor needs to know of a unit (it comes from ingest).
struct UnitFacts {
  std::string code;
  v1::UnitType type = v1::UNIT_TYPE_UNSPECIFIED;
  std::string parent;
  std::vector<std::string> path;  // root first, the unit last
  bool active = true;
};

// A snapshot of ingest's units and indicators (directory.h fetches it).
struct DirectorySnapshot {
  absl::flat_hash_map<std::string, UnitFacts> units;
  absl::flat_hash_map<std::string, IndicatorFacts> indicators;
  absl::Time fetched;

  const UnitFacts* Unit(const std::string& code) const;
  const IndicatorFacts* Indicator(const std::string& code) const;
  // True when `unit` is `scope` or (with descendants) under it; every unit is
  // in the empty scope.
  bool InScope(const std::string& unit, const std::string& scope, bool descendants) const;
  // The codes of the units a scope covers, sorted; every unit for an empty scope.
  std::vector<std::string> UnitsIn(const v1::UnitScope& scope) const;
};

// INVALID_ARGUMENT naming the field when `rule` is malformed or could never
// fire. `indicators` are the facts of rule.indicator_codes, in order.
absl::Status ValidateRule(const v1::Rule& rule, const std::vector<IndicatorFacts>& indicators);

// A rule's verdict on one (unit, indicator, period). Every kind follows one
// convention (stated in monitor.proto): a level is reached when the measure
// reaches its threshold, equality included; a measure that shows no problem at
// all (no deterioration, inside the range, consistent) reaches no level.
struct Verdict {
  int level = 0;         // 0 = no warning
  double observed = 0;   // the value, change, z-score, count … that was judged
  double threshold = 0;  // the threshold of `level`
  std::string message;   // what was judged, in words (at level 0 only when explained)
  // False (with level 0) when the rule could not judge: too little history, a
  // zero to compare with, no spread in the baseline; `not_judged` says why
  // when explained.
  bool judged = true;
  std::string not_judged;
};

// The verdict of a value-based rule (static, change, baseline, trend, range) on
// a series of one unit's values of one indicator in period order, ending with
// the period judged; std::nullopt marks a period without a value.
// The texts of a verdict that reaches no level (its message, why it was not
// judged) are made only when `explain` is set: the evaluator asks for them
// only for a verdict that resolves an event.
Verdict Evaluate(const v1::Rule& rule, v1::Direction direction,
                 absl::Span<const std::optional<double>> series, bool explain = true);
// MISSING: the value is `days_overdue` days past its deadline.
Verdict EvaluateMissing(const v1::Rule& rule, double days_overdue);
// QUALITY_CONSISTENCY: a parent's value against the roll-up of its children.
Verdict EvaluateConsistency(const v1::Rule& rule, double parent, double rollup);

// How many periods of history a rule needs besides the judged one.
int HistoryNeeded(const v1::Rule& rule);

// An unresolved event as the evaluator and the timers track it: its level
// and what it says (the message by its hash).
struct OpenEvent {
  int level = 0;
  double observed = 0;
  double threshold = 0;
  uint64_t message_hash = 0;

  static uint64_t Hash(absl::string_view message);
};

// What happens to the open event of (rule, unit, period), if any, on a
// verdict: kRejudge keeps the level but refreshes what the event says.
enum class Change { kNone, kOpen, kEscalate, kDeescalate, kResolve, kRejudge };
Change NextChange(const OpenEvent* open, const Verdict& verdict);

// True for the kinds judged on each new value (not on timers).
bool IsValueRule(v1::RuleKind kind);
// True for the kinds judged on timer rows at each period's deadline.
bool IsTimerRule(v1::RuleKind kind);

// --- Themes and contacts ------------------------------------------------------

// INVALID_ARGUMENT naming the field when a theme or a contact cannot be saved.
absl::Status CheckTheme(const v1::UpsertThemeRequest& request);
absl::Status CheckContact(const v1::Contact& contact, const std::string& actor);

// --- Where a rule applies --------------------------------------------------

// True when the rule watches units of `unit`'s type (every type when the rule
// names none; never an unknown unit when it names some).
bool AppliesToType(const v1::Rule& rule, const UnitFacts* unit);
// True when `unit` lies in the rule's scope (every unit when it has none).
bool InRuleScope(const v1::Rule& rule, const DirectorySnapshot& dir, const std::string& unit);
// QUALITY_APPLICABILITY: `unit` reports `indicator`, which the rule says
// applies only to its unit types.
Verdict JudgeApplicability(const v1::Rule& rule, const std::string& unit, const UnitFacts* facts,
                           const std::string& indicator);

// --- Event changes ------------------------------------------------------------

// One change the evaluator (or a timer) makes to the event of (rule, unit,
// period): kOpen inserts it; the other changes apply to its unresolved event,
// if there is one (at most one: a unique index keeps it so).
struct EventUpdate {
  // A change of the event of (rule, unit, period), watching `indicator_code`.
  static EventUpdate Of(const v1::Rule& rule, Change change, std::string unit_code, std::string period_key,
                        std::string indicator_code, Verdict verdict);

  Change change = Change::kNone;
  std::string rule_code, theme_code, unit_code, period_key, indicator_code;
  std::string subject;  // within the unit: a theft suspect's customer id ("" for value rules)
  Verdict verdict;
  bool suppressed = false;     // kOpen under an active whitelist entry
  bool keep_observed = false;  // kResolve not judged from a value: keep what the event observed
  int64_t cause_seq = 0;       // reading feed sequence that caused it (0 for timers)
  std::string comment;         // for the history entry, when not the verdict's message
};

// The change (if any) that brings the event of (rule, unit, period) — `open`,
// nullptr when there is none — to `verdict`; a re-judgement's comment tells
// the old and the new observation.
// The evaluator calls it for every verdict: nothing is built unless there is a change.
std::optional<EventUpdate> Judged(const v1::Rule& rule, const OpenEvent* open, const std::string& unit_code,
                                  const Period& period, const std::string& indicator_code, Verdict verdict);
// The event as `update` leaves it, for whoever tracks open events.
OpenEvent AfterUpdate(const EventUpdate& update);

// --- Theft suspicion (违约窃电) --------------------------------------------------

// The score cut-offs of a (valid) THEFT_SUSPICION rule's levels 1, 2 and 3.
std::array<double, 3> TheftCutoffs(const v1::Rule& rule);

// A customer's place in an analysis.
struct TheftVerdict {
  std::string customer, station;
  int level = 4;
  double score = 0;
  std::string message;  // the score and its reasons, in words
};
// An unresolved event of the rule about a customer.
struct OpenTheftEvent {
  std::string unit_code, period_key, subject;
  OpenEvent event;
};
struct TheftEventPlan {
  std::vector<EventUpdate> updates;
  int opened = 0, suppressed = 0, resolved = 0;
};
// The event changes analysis `run_id` of `rule` brings: a customer at level 1
// or 2 without an open event gets one in `period_key` (suppressed when
// `whitelisted`), one with an event has it escalated or de-escalated when its
// level changed (its station and period kept: one event, one inspection, per
// suspect until it resolves; a score that moved within the level changes
// nothing); an open event whose customer is no longer at level 1 or 2
// resolves.
TheftEventPlan PlanTheftEvents(const v1::Rule& rule, const std::string& period_key,
                               const std::vector<TheftVerdict>& suspects, const std::vector<OpenTheftEvent>& open,
                               const std::function<bool(const TheftVerdict&)>& whitelisted, int64_t run_id);

// --- Whitelist (白名单) ---------------------------------------------------------

// True when `entry` names the rule (or its theme), the unit (or a unit above
// it, with descendants) and, when it names one, the indicator; whether it is
// in force is not asked.
bool WhitelistCovers(const v1::WhitelistEntry& entry, const std::string& rule_code, const std::string& theme_code,
                     const DirectorySnapshot& dir, const std::string& unit, const std::string& indicator);
// What a whitelist entry's subject is compared with: the event's subject
// (a customer id) when it has one, else its indicator.
const std::string& WhitelistSubject(const v1::WarningEvent& event);
// True when an entry of `entries` in force at `now` covers the event.
bool Whitelisted(const std::vector<v1::WhitelistEntry>& entries, absl::Time now, const std::string& rule_code,
                 const std::string& theme_code, const DirectorySnapshot& dir, const std::string& unit,
                 const std::string& indicator);
// Checks a new entry (fields named "entry.…"), its freeze from `now` (when it
// names no start) at most `max_freeze` long.
absl::Status CheckWhitelistEntry(v1::WhitelistEntry* entry, absl::Time now, absl::Duration max_freeze);

// --- Timer rules ---------------------------------------------------------------

// When the values of `period` are due for a rule: after the latest deadline of
// its indicators.
absl::Time RuleDeadline(const v1::Rule& rule, const DirectorySnapshot& dir, const Period& period);
// The latest period whose values are due at `now`: where a new timer rule starts.
Period LatestDuePeriod(const v1::Rule& rule, const DirectorySnapshot& dir, absl::Time now);

// A unit's worst verdict of a timer round, with the indicator that caused it.
struct UnitVerdict {
  Verdict verdict;
  std::string indicator;
};
// MISSING: the verdicts on the values still missing of `period` at `now`
// (units of other types left out); `days_max` gets the most days overdue.
std::map<std::string, UnitVerdict> MissingVerdicts(const v1::Rule& rule, const DirectorySnapshot& dir,
                                                   const std::vector<v1::MissingValue>& missing,
                                                   const Period& period, absl::Time now, int* days_max);
// QUALITY_CONSISTENCY: each parent's value of `values` ((indicator, unit) →
// value) against the roll-up of its active children's, when all of them are there.
std::map<std::string, UnitVerdict> ConsistencyVerdicts(
    const v1::Rule& rule, const DirectorySnapshot& dir,
    const std::map<std::pair<std::string, std::string>, double>& values);
// The changes that bring the open events of (rule, period) (by unit) to the
// verdicts: open, escalate, de-escalate, and resolve those whose problem went away.
std::vector<EventUpdate> TimerChanges(const v1::Rule& rule, const Period& period,
                                      const std::map<std::string, UnitVerdict>& verdicts,
                                      const std::map<std::string, OpenEvent>& open);
// Timer rows of a rule whose problem lasts are looked at again this often.
constexpr absl::Duration kTimerRecheck = absl::Hours(24);
// Missing values are watched for at most this many days overdue, consistency
// for this long after the deadline.
constexpr int kMaxDaysWatched = 90;
constexpr absl::Duration kConsistencyWatched = absl::Hours(24 * 30);

// --- Backtests --------------------------------------------------------------------

// The events a value rule would raise for the periods [first, last] of the
// values in `series` (unit → period key → value), with no side effects, and
// the periods it could not judge, with why.
struct BacktestResult {
  std::vector<v1::WarningEvent> events;
  int evaluated = 0;  // verdicts given
  // The first kMaxNotJudged periods the rule could not judge, and how many in all.
  std::vector<v1::NotJudged> not_judged;
  int not_judged_count = 0;
  static constexpr size_t kMaxNotJudged = 1000;
};
BacktestResult Backtest(const v1::Rule& rule, const IndicatorFacts& indicator, const DirectorySnapshot& dir,
                        const std::map<std::string, std::map<std::string, double>>& series, const Period& first,
                        const Period& last);

// --- Notifications (短信) --------------------------------------------------------

// True when the rule asks to notify at `level`.
bool NotifiesAt(const v1::Rule& rule, int level);
// An event as a notification tells it.
struct NotifiedEvent {
  int64_t id = 0;
  std::string rule_code, period_key, message;
  int level = 0;
};
// What a notification says, and the JSON body the gateway receives.
std::string NotificationText(const std::string& unit, const std::vector<NotifiedEvent>& events);
std::string NotificationBody(const std::string& idempotency_key, const std::string& channel,
                             const std::string& recipient, const std::string& unit, const std::string& text,
                             const std::vector<NotifiedEvent>& events);

}  // namespace aw::monitor
