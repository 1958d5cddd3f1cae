// The monitor service's PostgreSQL store (schema "monitor"): themes, versioned
// rules, warning events with their history and change feed, the whitelist and
// the evaluator's cursor. Thread-safe; returns statuses, never throws.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "auditwatch/v1/monitor.pb.h"
#include "common/pg.h"
#include "services/monitor/monitor_logic.h"

namespace aw::monitor {

// One change the evaluator (or a timer) makes to the event of (rule, unit,
// period): kOpen inserts it; the other changes apply to its unresolved event,
// if there is one (at most one: a unique index keeps it so).
struct EventUpdate {
  // A change of the event of (rule, unit, period), watching `indicator_code`.
  static EventUpdate Of(const v1::Rule& rule, Change change, std::string unit_code, std::string period_key,
                        std::string indicator_code, Verdict verdict) {
    EventUpdate u;
    u.change = change;
    u.rule_code = rule.code();
    u.theme_code = rule.theme_code();
    u.unit_code = std::move(unit_code);
    u.period_key = std::move(period_key);
    u.indicator_code = std::move(indicator_code);
    u.verdict = std::move(verdict);
    return u;
  }

  Change change = Change::kNone;
  std::string rule_code, theme_code, unit_code, period_key, indicator_code;
  Verdict verdict;
  bool suppressed = false;     // kOpen under an active whitelist entry
  bool keep_observed = false;  // kResolve not judged from a value: keep what the event observed
  int64_t cause_seq = 0;       // reading feed sequence that caused it (0 for timers)
};

// An unresolved event as the evaluator tracks it.
struct OpenEvent {
  int level = 0;
};

// An unresolved event with its key.
struct OpenEventRow {
  std::string rule_code, unit_code, period_key;
  OpenEvent event;
};

struct EventFilter {
  std::vector<std::string> unit_codes;  // empty = all
  std::vector<int> levels, states;
  std::vector<std::string> theme_codes;
  std::string first_period, last_period;  // keys, inclusive; empty = open
  int64_t offset = 0;
  int limit = 100;
};

class MonitorStore {
 public:
  explicit MonitorStore(db::Pool* pool) : pool_(pool) {}

  absl::StatusOr<v1::Theme> UpsertTheme(const v1::UpsertThemeRequest& request);
  absl::Status ListThemes(int64_t offset, int limit, std::vector<v1::Theme>* out, int64_t* total);

  // Stores a validated rule as its next version.
  absl::StatusOr<v1::Rule> SaveRule(const v1::Rule& rule, const std::string& actor,
                                    const std::string& reason, int64_t expected_version);
  absl::StatusOr<v1::Rule> SetRuleEnabled(const std::string& code, bool enabled,
                                          const std::string& actor, const std::string& reason);
  absl::StatusOr<v1::Rule> GetRule(const std::string& code);
  absl::StatusOr<std::vector<v1::Rule>> RuleHistory(const std::string& code);
  absl::StatusOr<std::vector<v1::Rule>> ListRules(bool include_disabled);
  absl::StatusOr<int64_t> RulesVersion();
  absl::Status SetAppliedRulesVersion(int64_t version);
  absl::StatusOr<v1::EvaluatorStatus> EvaluatorStatus(const std::string& feed);
  absl::StatusOr<bool> ThemeExists(const std::string& code);

  // Applies the evaluator's event changes and moves its cursor on `feed` from
  // `from` to `to`, atomically (no cursor move when `feed` is empty). ABORTED
  // when the cursor is no longer at `from` (another evaluator moved it).
  // Changes apply in the order given. Returns the level of each event resolved.
  absl::StatusOr<std::vector<int>> Apply(absl::Span<const EventUpdate> updates, const std::string& feed,
                                         int64_t from, int64_t to);
  // The same within the caller's read-write transaction (which commits it).
  absl::StatusOr<std::vector<int>> ApplyIn(pqxx::transaction_base& tx, absl::Span<const EventUpdate> updates,
                                           const std::string& feed, int64_t from, int64_t to);
  // Resolves every unresolved event of a rule not in `live` (disabled or gone).
  absl::Status ResolveRulesOtherThan(const std::vector<std::string>& live, const std::string& message);
  // Reopens suppressed events whose whitelist entries expired; returns them.
  absl::StatusOr<std::vector<v1::WarningEvent>> ReopenExpired(
      const std::function<bool(const v1::WarningEvent&, const v1::WhitelistEntry&)>& matches,
      const std::function<bool(const v1::WarningEvent&)>& still_whitelisted);
  absl::StatusOr<int64_t> Cursor(const std::string& feed);
  // Every unresolved event (of the given rules, when `rules` is not empty).
  absl::StatusOr<std::vector<OpenEventRow>> OpenEvents(const std::vector<std::string>& rules = {});

  absl::StatusOr<v1::WarningEvent> GetEvent(int64_t id, bool with_history);
  absl::Status ListEvents(const EventFilter& filter, std::vector<v1::WarningEvent>* out, int64_t* total);
  absl::StatusOr<v1::WarningEvent> Acknowledge(int64_t id, const std::string& actor,
                                               const std::string& comment);
  // Event changes after `from_seq` (the latest change of each event), in order.
  absl::StatusOr<std::vector<v1::EventChange>> EventFeed(int64_t from_seq, int limit);
  absl::StatusOr<std::vector<v1::AnomalySummaryRow>> AnomalySummary(
      const std::vector<std::string>& unit_codes, const std::string& period_key);

  absl::StatusOr<v1::WhitelistEntry> AddWhitelist(const v1::WhitelistEntry& entry,
                                                  const std::string& actor,
                                                  const std::string& request_id);
  absl::StatusOr<v1::WhitelistEntry> RevokeWhitelist(int64_t id, const std::string& actor,
                                                     const std::string& reason);
  absl::StatusOr<std::vector<v1::WhitelistEntry>> Whitelist(bool include_expired);
  absl::StatusOr<v1::WhitelistEntry> WhitelistEntry(int64_t id);

  // Arms the timer of (rule, period) unless it exists.
  absl::Status ArmTimer(const std::string& rule, const std::string& period_key, absl::Time due);
  // Unresolved events of one rule and period, by unit.
  absl::StatusOr<std::vector<std::pair<std::string, OpenEvent>>> OpenEventsOf(const std::string& rule,
                                                                             const std::string& period_key);

  db::Pool* pool() { return pool_; }

 private:
  db::Pool* pool_;
};

}  // namespace aw::monitor
