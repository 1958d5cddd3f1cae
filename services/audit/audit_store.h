// The audit service's PostgreSQL schema (sql/): tasks, special plans, work
// orders with their rectifications and append-only log, idempotent command
// answers, supervision orders, timer rows, the whitelist outbox, deduction
// standards, incidents and deductions, the audit-facts feed and the cursor on
// monitor's events feed. Every statement is a named constant; columns are
// read by name; each write is one explicit transaction that also appends the
// facts it makes (unnumbered: SequenceFacts numbers them in commit order)
// and, for a command, its answer. Time comes from the caller. Thread-safe.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "auditwatch/v1/audit.pb.h"
#include "auditwatch/v1/monitor.pb.h"
#include "common/pg.h"
#include "services/audit/audit_logic.h"

namespace aw::audit {

// A command as it is remembered for retries: the caller, its key, the method
// and the request's bytes. An empty key is not remembered.
struct Command {
  std::string actor;
  std::string key;
  std::string method;
  std::string request;  // deterministic serialisation of the request
};

// A page of a list paged by key (newest first): ids below `before` (0: from
// the newest), at most `limit`.
struct KeyPage {
  int64_t before = 0;
  int limit = 100;
};

struct TaskFilter {
  std::string scope_unit;  // "" = every task
  bool descendants = true;
  std::vector<int> states, sources;
  std::vector<std::string> themes;
  std::vector<std::string> period_keys;  // any when empty
};

struct OrderFilter {
  std::string scope_unit;  // "" = every order
  bool descendants = true;
  std::vector<int> states, sources;
  std::vector<std::string> themes;
  std::vector<std::string> period_keys;
  bool overdue_only = false;
  int64_t task_id = 0;
  // Inbox: orders in these states, except those whose latest rectification
  // `not_submitted_by` submitted (for the unit review).
  std::string not_submitted_by;
  // Orders under any of these units (none: no such limit).
  std::vector<std::string> under_any;
};

// A transition decided by audit_logic, to be committed with its log row.
struct TransitionWrite {
  int64_t work_order_id = 0;
  int64_t expected_version = 0;
  v1::WorkOrderState from = v1::WORK_ORDER_STATE_UNSPECIFIED;
  v1::WorkOrderState to = v1::WORK_ORDER_STATE_UNSPECIFIED;
  Action action = Action::kDispatch;
  std::string actor, comment;
  const v1::Rectification* rectification = nullptr;   // kSubmit
  std::optional<absl::Time> deadline;                 // kExtend
  const v1::CreateWhitelistEntryRequest* whitelist = nullptr;  // kFalsePositive, for the outbox
  Command command;
};

// A warning event's effect, decided before its transaction.
struct EventWork {
  v1::WarningEvent event;
  EventActions actions;
  bool ended = false;  // resolved or suppressed: its supervision order closes
  std::vector<std::string> path;  // of the event's unit
  std::string task_title;
  absl::Time order_deadline;
};

// An undelivered outbox message.
struct OutboxMessage {
  int64_t id = 0;
  std::string key, kind;
  int64_t work_order_id = 0;
  std::string payload;
  int attempts = 0;
};

class AuditStore {
 public:
  static constexpr char kEventsFeed[] = "monitor.events";
  static constexpr char kFactsChannel[] = "audit_facts";

  explicit AuditStore(db::Pool* pool) : pool_(pool) {}

  // --- Idempotent commands
  // The first answer to (actor, key): nullopt when none; INVALID_ARGUMENT
  // when the key came with another method or request.
  absl::StatusOr<std::optional<std::string>> PriorAnswer(const Command& command);

  // --- Tasks and plans
  absl::StatusOr<v1::AuditTask> CreateTask(const v1::AuditTask& task, const std::vector<std::string>& scope_path,
                                           const std::string& actor, absl::Time now, const Command& command);
  absl::StatusOr<v1::AuditTask> GetTask(int64_t id);
  absl::StatusOr<std::vector<v1::AuditTask>> ListTasks(const TaskFilter& filter, const KeyPage& page);
  absl::StatusOr<v1::SpecialPlan> CreatePlan(const v1::SpecialPlan& plan, const std::string& actor, absl::Time now,
                                             const Command& command);
  absl::StatusOr<v1::SpecialPlan> GetPlan(int64_t id);
  absl::StatusOr<std::vector<v1::SpecialPlan>> ListPlans(const KeyPage& page);

  // --- Work orders
  absl::StatusOr<v1::WorkOrder> CreateWorkOrder(const v1::CreateWorkOrderRequest& request,
                                                const std::vector<std::string>& path, const std::string& actor,
                                                absl::Time now, const Command& command);
  // What a command on an order needs, read in one statement: the order as the
  // state machine sees it, the order itself (with its rectifications), and
  // the first answer to the caller's key if there is one (INVALID_ARGUMENT
  // when the key came with another request).
  struct Loaded {
    OrderFacts facts;
    v1::WorkOrder order;
    std::optional<std::string> prior_answer;
  };
  absl::StatusOr<Loaded> LoadForCommand(int64_t id, const Command& command);
  // Commits a transition of `current` (as loaded) in one statement — the
  // order, its log row, the rectification, timers, supervision, outbox, task
  // state, the fact and the remembered answer; ABORTED when the order changed
  // since it was read. Returns the order as left.
  absl::StatusOr<v1::WorkOrder> ApplyTransition(const TransitionWrite& write, const v1::WorkOrder& current,
                                                absl::Time now);
  // With its rectifications and, when `with_log`, its log.
  absl::StatusOr<v1::WorkOrder> GetWorkOrder(int64_t id, bool with_log);
  absl::StatusOr<std::vector<v1::WorkOrder>> ListWorkOrders(const OrderFilter& filter, const KeyPage& page);
  absl::StatusOr<std::vector<v1::SupervisionOrder>> ListSupervision(const std::string& scope_unit, bool descendants,
                                                                    bool open_only, int64_t work_order_id,
                                                                    const KeyPage& page);

  // --- Timers: claims up to `limit` due rows (FOR UPDATE SKIP LOCKED, with
  // their orders), decides each with `decide` and commits what it says; the
  // delay of each from its due time goes to `fired`. Returns how many fired.
  absl::StatusOr<int> RunDueTimers(absl::Time now, int limit,
                                   const std::function<TimerDecision(const DueTimer&)>& decide,
                                   const std::function<void(const DueTimer&, const TimerDecision&)>& fired);
  // The earliest due time of any timer row, if any.
  absl::StatusOr<std::optional<absl::Time>> NextTimer();

  // --- The outbox: claims one due message (SKIP LOCKED) and, in the same
  // transaction, hands it to `deliver`; on success marks it delivered (and
  // records the whitelist entry it made on its order), else schedules the
  // next attempt at `retry_at(attempts)`. False when none was due.
  absl::StatusOr<bool> DeliverOne(absl::Time now, const std::function<absl::StatusOr<int64_t>(const OutboxMessage&)>& deliver,
                                  const std::function<absl::Time(int attempts)>& retry_at);
  // Messages not yet delivered.
  absl::StatusOr<int64_t> OutboxBacklog();

  // --- Warning events: applies the work of a page of monitor's events feed
  // and moves the cursor to `to`, unless another replica already has.
  // Returns the tasks opened.
  absl::StatusOr<int> ApplyEvents(const std::vector<EventWork>& work, int64_t to, absl::Time now);
  absl::StatusOr<int64_t> Cursor(const std::string& feed);

  // --- Deductions
  absl::StatusOr<v1::DeductionStandard> SaveStandard(const v1::DeductionStandard& standard, const std::string& actor,
                                                     const std::string& reason, int64_t expected_version,
                                                     absl::Time now);
  // The latest version of each item of `year` (every year when 0).
  absl::StatusOr<std::vector<v1::DeductionStandard>> Standards(int year);
  absl::StatusOr<v1::Deduction> RecordFinding(const v1::RecordFindingRequest& request,
                                              const v1::DeductionStandard& standard, const std::string& actor,
                                              absl::Time now, const Command& command);
  absl::StatusOr<v1::Incident> RegisterIncident(const v1::Incident& incident, const std::vector<std::string>& path,
                                                const v1::DeductionStandard& standard, const std::string& actor,
                                                absl::Time now, const Command& command);
  absl::StatusOr<v1::Deduction> CorrectDeduction(const v1::CorrectDeductionRequest& request, const std::string& actor,
                                                 absl::Time now, const Command& command);
  absl::StatusOr<v1::Deduction> GetDeduction(int64_t id);
  // Deductions whose period lies within [first, last] (ISO dates).
  absl::StatusOr<std::vector<v1::Deduction>> ListDeductions(const std::string& scope_unit, bool descendants,
                                                            const std::string& first, const std::string& last,
                                                            const std::vector<int>& types, bool effective_only,
                                                            const KeyPage& page);

  // --- Rates and checks
  absl::StatusOr<std::vector<OrderTally>> Tallies(const std::string& scope_unit, const std::string& period_key);
  // Orders of the scope created within [first, last] (ISO dates).
  absl::StatusOr<std::vector<CheckedOrder>> OrdersToCheck(const std::string& scope_unit, const std::string& first,
                                                          const std::string& last);
  absl::StatusOr<std::vector<CheckedPlan>> PlansToCheck(const std::string& scope_unit, const std::string& first,
                                                        const std::string& last);

  // --- The facts feed
  // Numbers the committed facts not yet numbered; the last number given (0: none).
  absl::StatusOr<int64_t> SequenceFacts();
  // Numbered facts after `after`, in order.
  absl::StatusOr<std::vector<v1::AuditFactChange>> Facts(int64_t after, int limit);
  std::unique_ptr<db::Listener> ListenForFacts(std::function<void(int64_t)> committed, std::function<void()> reconnected);

  // Open orders by state, overdue orders and open supervision orders, for the gauges.
  struct Gauges {
    std::vector<std::pair<v1::WorkOrderState, int64_t>> orders_by_state;
    int64_t overdue = 0;
    int64_t open_supervision = 0;
    int64_t outbox_backlog = 0;
  };
  absl::StatusOr<Gauges> ReadGauges();

 private:
  db::Pool* const pool_;
};

}  // namespace aw::audit
