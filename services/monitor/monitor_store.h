// The monitor service's PostgreSQL store (schema "monitor"), its only door to
// PostgreSQL: themes, versioned rules, warning events with their history and
// change feed (and the notifications that announce its commits), the
// whitelist, the evaluator's cursor and leader lock, timer rows, contacts and
// the notification outbox. Every statement is a named constant here; columns
// are read by name; the numbers of stored enums are written once. Time comes
// from the clock it is given. Thread-safe; returns statuses, never throws.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "auditwatch/v1/monitor.pb.h"
#include "common/backoff.h"
#include "common/clock.h"
#include "services/monitor/monitor_logic.h"

namespace pqxx {
class transaction_base;
}

namespace aw::db {
class Pool;
class Listener;
class SessionLock;
}  // namespace aw::db

namespace aw::monitor {

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
  int64_t before_id = 0;                  // newest first, ids below this one (0 = from the newest)
  int limit = 100;
};

// A timer round's result: the event changes and whether to look again.
struct TimerJudgement {
  std::vector<EventUpdate> updates;
  bool again = false;
};

// Held while this replica leads the evaluator (its lock lives on a
// connection of its own); released when destroyed. Its epoch fences the
// leader's writes: they are refused once another replica has taken over.
class LeaderLease {
 public:
  LeaderLease(std::unique_ptr<db::SessionLock> lock, int64_t epoch);
  ~LeaderLease();

  int64_t epoch() const { return epoch_; }
  // OK while the lock is still held (asked of the database).
  absl::Status Check();

 private:
  std::unique_ptr<db::SessionLock> lock_;
  const int64_t epoch_;
};

// What DeliverNext did with the message it claimed.
enum class Delivery { kNone, kSent, kRetrying, kFailed };

class MonitorStore {
 public:
  // The name of the evaluator's cursor on the ingest readings feed.
  static constexpr char kReadingsFeed[] = "ingest.readings";

  MonitorStore(db::Pool* pool, Clock* clock);
  ~MonitorStore();

  // --- Themes and rules
  absl::StatusOr<v1::Theme> UpsertTheme(const v1::UpsertThemeRequest& request);
  absl::Status ListThemes(int64_t offset, int limit, std::vector<v1::Theme>* out, int64_t* total);
  absl::StatusOr<bool> ThemeExists(const std::string& code);
  // Stores a validated rule as its next version.
  absl::StatusOr<v1::Rule> SaveRule(const v1::Rule& rule, const std::string& actor, const std::string& reason,
                                    int64_t expected_version);
  absl::StatusOr<v1::Rule> SetRuleEnabled(const std::string& code, bool enabled, const std::string& actor,
                                          const std::string& reason);
  absl::StatusOr<v1::Rule> GetRule(const std::string& code);
  absl::StatusOr<std::vector<v1::Rule>> RuleHistory(const std::string& code);
  absl::StatusOr<std::vector<v1::Rule>> ListRules(bool include_disabled);
  absl::StatusOr<int64_t> RulesVersion();
  // Records the rule set the evaluator of `epoch` has applied.
  absl::Status SetAppliedRulesVersion(int64_t version, int64_t epoch);
  absl::StatusOr<v1::EvaluatorStatus> EvaluatorStatus(const std::string& feed);

  // --- Events
  // Applies the evaluator's event changes and moves its cursor on `feed` from
  // `from` to `to`, atomically (no cursor move when `feed` is empty). ABORTED
  // when the leadership epoch is no longer `epoch` (0: not asked) or the
  // cursor is no longer at `from` (another evaluator took over). Changes
  // apply in the order given. Returns the level of each event resolved.
  absl::StatusOr<std::vector<int>> Apply(absl::Span<const EventUpdate> updates, const std::string& feed,
                                         int64_t from, int64_t to, int64_t epoch = 0);
  // Resolves every unresolved event of a rule not in `live` (disabled or
  // gone), fenced by the leadership `epoch` like Apply.
  absl::Status ResolveRulesOtherThan(const std::vector<std::string>& live, const std::string& message,
                                     int64_t epoch);
  // True when a whitelist entry expired (or was revoked) and what it
  // suppressed has not been looked at yet.
  absl::StatusOr<bool> ExpiryDue();
  // Reopens the suppressed (so still unresolved) events of whitelist entries
  // that expired or were revoked, unless another entry in force covers them;
  // returns them.
  absl::StatusOr<std::vector<v1::WarningEvent>> ReopenExpired(const DirectorySnapshot& dir);
  absl::StatusOr<int64_t> Cursor(const std::string& feed);
  // Every unresolved event (of the given rules, when `rules` is not empty).
  absl::StatusOr<std::vector<OpenEventRow>> OpenEvents(const std::vector<std::string>& rules = {});
  absl::StatusOr<v1::WarningEvent> GetEvent(int64_t id, bool with_history);
  // Events newest first (by id), after `filter.before_id`; `total` counts every
  // match when `count` is set.
  absl::Status ListEvents(const EventFilter& filter, bool count, std::vector<v1::WarningEvent>* out,
                          int64_t* total);
  absl::StatusOr<v1::WarningEvent> Acknowledge(int64_t id, const std::string& actor, const std::string& comment);
  // Event changes after `from_seq` (the latest change of each event), in order.
  absl::StatusOr<std::vector<v1::EventChange>> EventFeed(int64_t from_seq, int limit);
  absl::StatusOr<std::vector<v1::AnomalySummaryRow>> AnomalySummary(const std::vector<std::string>& unit_codes,
                                                                    const std::string& period_key);
  // Listens for the event commits of every replica: `committed(seq)` for each,
  // `reconnected()` after (re)connecting.
  void StartListening(std::function<void(int64_t seq)> committed, std::function<void()> reconnected);
  void StopListening();

  // --- The evaluator
  // The evaluator's leader lock on a connection of its own, with the next
  // leadership epoch (recorded with `holder`); nullptr when another replica
  // holds it.
  absl::StatusOr<std::unique_ptr<LeaderLease>> TryLeadEvaluator(const std::string& holder);

  // --- Whitelist
  // Adds an entry (once per `request_id`) and, when it is in force, suppresses
  // the unresolved events it covers in the same transaction (history, feed;
  // no notification).
  absl::StatusOr<v1::WhitelistEntry> AddWhitelist(const v1::WhitelistEntry& entry, const std::string& actor,
                                                  const std::string& request_id, const DirectorySnapshot& dir);
  // Suppresses the unresolved events an entry in force covers (as its
  // author), again: for events that opened after it was made from verdicts
  // judged before it. Returns how many.
  absl::StatusOr<int> SuppressCovered(const v1::WhitelistEntry& entry, const DirectorySnapshot& dir);
  absl::StatusOr<v1::WhitelistEntry> RevokeWhitelist(int64_t id, const std::string& actor, const std::string& reason);
  // Entries in force now, or every entry.
  absl::StatusOr<std::vector<v1::WhitelistEntry>> Whitelist(bool include_expired);
  absl::StatusOr<v1::WhitelistEntry> WhitelistEntry(int64_t id);

  // --- Timer rows
  // Arms the timer of (rule, period) unless it exists.
  absl::Status ArmTimer(const std::string& rule, const std::string& period_key, absl::Time due);
  // Claims one timer row due now (FOR UPDATE SKIP LOCKED) and, in the same
  // transaction: drops the rule's rows when it is gone, disabled or no longer
  // a timer rule; else judges the rule's unresolved events of the period with
  // `judge(rule, period, open events by unit)`, applies the changes, looks
  // again `kTimerRecheck` later (or drops the row when the judgement says so)
  // and arms the next period, due at `next_due(rule, next period)`. A failed
  // judgement is recorded on the row and tried again `retry_after` later.
  // False when no row was due; `applied` gets the changes and the levels of
  // the events resolved.
  absl::StatusOr<bool> RunDueTimer(
      const std::function<absl::StatusOr<TimerJudgement>(const v1::Rule& rule, const Period& period,
                                                          const std::map<std::string, OpenEvent>& open)>& judge,
      const std::function<absl::StatusOr<absl::Time>(const v1::Rule& rule, const Period& period)>& next_due,
      absl::Duration retry_after, std::pair<std::vector<EventUpdate>, std::vector<int>>* applied);

  // --- Contacts and the notification outbox
  absl::StatusOr<v1::Contact> UpsertContact(const v1::Contact& contact, const std::string& actor);
  absl::StatusOr<std::vector<v1::Contact>> Contacts(const std::vector<std::string>& unit_codes);
  // Notifications by id, after `after_id`; `total` counts every match when
  // `count` is set.
  absl::Status ListNotifications(const std::vector<std::string>& unit_codes, const std::vector<int>& states,
                                 int64_t after_id, int limit, bool count, std::vector<v1::Notification>* out,
                                 int64_t* total);
  // Takes up to `batch` raised events from the queue their transactions wrote
  // and routes those whose rule notifies at their level to their unit's
  // contacts: into the pending message of a contact whose grouping window is
  // still open, else a new one. False when the queue was empty.
  absl::StatusOr<bool> RouteRaisedEvents(int batch, absl::Duration group_window);
  // Routes again the events still open that were last notified `repeat` ago.
  absl::Status QueueRepeats(absl::Duration repeat, absl::Duration group_window);
  // Claims one message due now and delivers it with `deliver(message, its
  // events)`: sent, or retried after `backoff`, or failed after
  // `max_attempts`. kNone when none was due.
  absl::StatusOr<Delivery> DeliverNext(
      const std::function<absl::Status(const v1::Notification& message, const std::vector<NotifiedEvent>& events)>&
          deliver,
      const Backoff& backoff, int max_attempts);

  // Apply's work inside the caller's transaction `tx` (the theft store
  // saves an analysis and its events together), without the epoch check.
  absl::StatusOr<std::vector<int>> ApplyIn(pqxx::transaction_base& tx, absl::Span<const EventUpdate> updates,
                                           const std::string& feed, int64_t from, int64_t to);

 private:
  int SuppressCoveredIn(pqxx::transaction_base& tx, const v1::WhitelistEntry& entry, int64_t id,
                        const std::string& actor, const DirectorySnapshot& dir);
  // ABORTED unless the leadership epoch is `epoch` (0 passes); holds it to COMMIT.
  static absl::Status CheckEpoch(pqxx::transaction_base& tx, int64_t epoch);
  absl::Status RouteIn(pqxx::transaction_base& tx, const std::vector<int64_t>& event_ids,
                       absl::Duration group_window);
  double Now() const;  // the clock's time, in epoch seconds for SQL

  db::Pool* const pool_;
  Clock* const clock_;
  std::unique_ptr<db::Listener> listener_;
};

}  // namespace aw::monitor
