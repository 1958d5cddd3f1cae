#include "services/audit/audit_store.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "common/period.h"
#include "common/pg_arrays.h"
#include "common/pg_rows.h"
#include "common/status.h"
#include "common/timestamp.h"

namespace aw::audit {
namespace {

using db::FromEpoch;
using db::NumberArray;
using db::TextArray;

// Enum numbers in statements, by name.
std::string Sql(const char* text) {
  static const std::vector<std::pair<std::string, std::string>>* const kNames =
      new std::vector<std::pair<std::string, std::string>>{
          {"{draft}", absl::StrCat(v1::WORK_ORDER_STATE_DRAFT)},
          {"{dispatched}", absl::StrCat(v1::WORK_ORDER_STATE_DISPATCHED)},
          {"{rectifying}", absl::StrCat(v1::WORK_ORDER_STATE_RECTIFYING)},
          {"{archived}", absl::StrCat(v1::WORK_ORDER_STATE_ARCHIVED)},
          {"{cancelled}", absl::StrCat(v1::WORK_ORDER_STATE_CANCELLED)},
          {"{false_positive}", absl::StrCat(v1::WORK_ORDER_STATE_FALSE_POSITIVE)},
          {"{task.open}", absl::StrCat(v1::TASK_STATE_OPEN)},
          {"{task.in_progress}", absl::StrCat(v1::TASK_STATE_IN_PROGRESS)},
          {"{task.closed}", absl::StrCat(v1::TASK_STATE_CLOSED)},
          {"{source.warning}", absl::StrCat(v1::TASK_SOURCE_WARNING)},
          {"{fact.deduction}", "1"},
          {"{fact.work_order}", "2"},
          {"{fact.incident}", "3"},
      };
  return absl::StrReplaceAll(text, *kNames);
}

using db::Epoch;

// --- Statements ----------------------------------------------------------------------

constexpr char kPriorAnswerSql[] = "SELECT method, request, answer FROM commands WHERE actor = $1 AND key = $2";
constexpr char kRecordCommandSql[] =
    "INSERT INTO commands (actor, key, method, request, answer, at) VALUES ($1, $2, $3, $4, $5, to_timestamp($6))";

constexpr char kInsertFactSql[] = "INSERT INTO facts (kind, record) VALUES ($1, $2)";
constexpr char kSequenceFactsSql[] = "SELECT sequence_facts()";

constexpr char kTaskColumns[] = R"sql(
  t.id, t.source, t.theme_code, t.title, t.description, t.scope_unit, t.scope_descendants, t.period_key,
  extract(epoch FROM t.deadline)::float8 AS deadline, t.owner, coalesce(t.event_id, 0) AS event_id, t.rule_code,
  t.subject, t.event_level, coalesce(t.special_plan_id, 0) AS special_plan_id, t.state, t.version, t.created_by,
  extract(epoch FROM t.created_at)::float8 AS created_at, t.updated_by,
  extract(epoch FROM t.updated_at)::float8 AS updated_at,
  ARRAY(SELECT o.id FROM work_orders o WHERE o.task_id = t.id ORDER BY o.id)::text AS work_order_ids)sql";

constexpr char kInsertTaskSql[] = R"sql(
INSERT INTO tasks (source, theme_code, title, description, scope_unit, scope_descendants, scope_path, period_key,
                   deadline, owner, special_plan_id, state, created_by, created_at, updated_by, updated_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, to_timestamp($9), $10, nullif($11, 0), {task.open}, $12, to_timestamp($13),
        $12, to_timestamp($13))
RETURNING id)sql";

// An event's task: inserted once; an escalation updates its level.
constexpr char kUpsertEventTaskSql[] = R"sql(
INSERT INTO tasks (source, theme_code, title, description, scope_unit, scope_descendants, scope_path, period_key,
                   owner, event_id, rule_code, subject, event_level, state, created_by, created_at, updated_by,
                   updated_at)
VALUES ({source.warning}, $1, $2, $3, $4, false, $5, $6, 'system', $7, $8, $11, $9, {task.open}, 'system',
        to_timestamp($10), 'system', to_timestamp($10))
ON CONFLICT (event_id) DO UPDATE SET event_level = EXCLUDED.event_level, description = EXCLUDED.description,
  version = tasks.version + 1, updated_at = EXCLUDED.updated_at
  WHERE tasks.event_level <> EXCLUDED.event_level
RETURNING id, (xmax = 0) AS inserted)sql";

constexpr char kPlanColumns[] = R"sql(
  id, name, description, first_day::text AS first_day, last_day::text AS last_day, theme_codes::text AS theme_codes,
  scope_unit, scope_descendants, created_by, extract(epoch FROM created_at)::float8 AS created_at)sql";
constexpr char kInsertPlanSql[] = R"sql(
INSERT INTO special_plans (name, description, first_day, last_day, theme_codes, scope_unit, scope_descendants,
                           created_by, created_at)
VALUES ($1, $2, $3::date, $4::date, $5, $6, $7, $8, to_timestamp($9)) RETURNING id)sql";

constexpr char kOrderColumns[] = R"sql(
  o.id, o.task_id, o.unit_code, o.unit_path::text AS unit_path, o.title, o.finding, o.state,
  extract(epoch FROM o.deadline)::float8 AS deadline, o.overdue, o.ever_overdue, o.period_key, o.theme_code,
  o.whitelist_entry_id, o.version, o.created_by, extract(epoch FROM o.created_at)::float8 AS created_at,
  coalesce((SELECT t.event_id FROM tasks t WHERE t.id = o.task_id), 0) AS event_id,
  coalesce((SELECT t.subject FROM tasks t WHERE t.id = o.task_id), '') AS subject,
  o.updated_by, extract(epoch FROM o.updated_at)::float8 AS updated_at, o.reason,
  coalesce((SELECT r.submitted_by FROM rectifications r WHERE r.work_order_id = o.id ORDER BY r.n DESC LIMIT 1), '')
    AS last_submitter)sql";

// A new order of a task (locked, so that its state is written once at a
// time), with its "created" (and "dispatched") log rows and deadline timer;
// the task is in progress from then on. Returns the order, none when the task
// does not exist.
constexpr char kNewOrderStatement[] = "audit_new_order";
constexpr char kNewOrderSql[] = R"sql(
WITH task AS (
  SELECT id, period_key, theme_code, source FROM tasks WHERE id = $1 FOR NO KEY UPDATE
), o AS (
  INSERT INTO work_orders (task_id, unit_code, unit_path, title, finding, state, deadline, period_key, theme_code,
                           source, created_by, created_at, updated_by, updated_at)
  SELECT id, $2, $3::text[], $4, $5, $6::smallint, to_timestamp($7::float8), period_key, theme_code, source, $8,
         to_timestamp($9::float8), $8, to_timestamp($9::float8)
  FROM task
  RETURNING *
), logged AS (
  INSERT INTO work_order_log (work_order_id, at, actor, action, from_state, to_state, comment)
  SELECT o.id, o.created_at, $8, a.action, a.from_state, a.to_state, ''
  FROM o, (VALUES (1, 'created', 0, {draft}), (2, 'dispatched', {draft}, {dispatched}))
          AS a(n, action, from_state, to_state)
  WHERE a.n = 1 OR o.state = {dispatched}
  ORDER BY a.n
), armed AS (
  INSERT INTO timers (kind, work_order_id, due_at, armed_at)
  SELECT 'deadline', id, deadline, created_at FROM o WHERE state = {dispatched} AND deadline IS NOT NULL
), tasked AS (
  UPDATE tasks SET state = {task.in_progress} WHERE id IN (SELECT task_id FROM o) AND state <> {task.in_progress}
)
SELECT {order_columns} FROM o)sql";

// A work order's fact and the command's answer (the same record), in one statement.
constexpr char kOrderRecordStatement[] = "audit_order_record";
constexpr char kOrderRecordSql[] = R"sql(
WITH fact AS (INSERT INTO facts (kind, record) VALUES ({fact.work_order}, $1))
INSERT INTO commands (actor, key, method, request, answer, at)
SELECT $2, $3, $4, $5, $1, to_timestamp($6::float8) WHERE $3::text <> '')sql";

constexpr char kInsertLogSql[] = R"sql(
INSERT INTO work_order_log (work_order_id, at, actor, action, from_state, to_state, comment)
VALUES ($1, to_timestamp($2), $3, $4, $5, $6, $7))sql";

// A whole transition in one statement (one round trip, one commit), made of
// data-modifying CTEs: the order and its log row always, then only the parts
// the transition needs (each table a statement names costs its locks and
// index opens even when nothing is written there), then its fact and the
// remembered answer. Every variant takes the same parameters, whose types the
// last line declares; $5 is the time in microseconds since the epoch, exact.
constexpr char kTransitionHead[] = R"sql(
WITH moved AS (
  UPDATE work_orders SET state = $3::smallint, version = version + 1, updated_by = $4,
    updated_at = timestamptz 'epoch' + $5::bigint * interval '1 microsecond', reason = $6,
    deadline = coalesce(to_timestamp($9::float8), deadline),
    overdue = overdue AND $3::smallint IN ({dispatched}, {rectifying})
              AND ($9::float8 IS NULL OR to_timestamp($9::float8) <= timestamptz 'epoch' + $5::bigint * interval '1 microsecond')
  WHERE id = $1 AND version = $2 AND state = $7::smallint
  RETURNING id, task_id, deadline, overdue
), logged AS (
  INSERT INTO work_order_log (work_order_id, at, actor, action, from_state, to_state, comment)
  SELECT id, timestamptz 'epoch' + $5::bigint * interval '1 microsecond', $4, $8, $7::smallint, $3::smallint, $6
  FROM moved
))sql";
// The optional parts, in the order of TransitionPart.
constexpr const char* kTransitionParts[] = {
    // kRectification: the submitted rectification.
    R"sql(, rectified AS (
  INSERT INTO rectifications (work_order_id, n, cause_analysis, measures, result, attachments, submitted_by,
                              submitted_at)
  SELECT id, (SELECT coalesce(max(r.n), 0) + 1 FROM rectifications r WHERE r.work_order_id = moved.id), $10, $11,
         $12, $13::text[], $4, timestamptz 'epoch' + $5::bigint * interval '1 microsecond'
  FROM moved
))sql",
    // kCloseSupervision: nothing is owed any more.
    R"sql(, closed AS (
  UPDATE supervision_orders SET closed_at = timestamptz 'epoch' + $5::bigint * interval '1 microsecond'
  WHERE work_order_id IN (SELECT id FROM moved) AND closed_at IS NULL
))sql",
    // kDropTimers: the kinds in $16.
    R"sql(, dropped AS (
  DELETE FROM timers WHERE work_order_id IN (SELECT id FROM moved) AND kind = ANY($16::text[])
))sql",
    // kArmDeadline: the order is owed again (kept when armed); $17 replaces it (an extension).
    R"sql(, armed AS (
  INSERT INTO timers (kind, work_order_id, due_at, armed_at)
  SELECT 'deadline', id,
         CASE WHEN $17::boolean THEN deadline
              ELSE greatest(deadline, timestamptz 'epoch' + $5::bigint * interval '1 microsecond') END,
         timestamptz 'epoch' + $5::bigint * interval '1 microsecond'
  FROM moved WHERE deadline IS NOT NULL AND ($17::boolean OR NOT overdue)
  ON CONFLICT (work_order_id, kind) DO UPDATE SET due_at = EXCLUDED.due_at, armed_at = EXCLUDED.armed_at
    WHERE $17::boolean
))sql",
    // kOutbox: the whitelist request of a false positive.
    R"sql(, queued AS (
  INSERT INTO outbox (key, kind, work_order_id, payload, created_at, next_at)
  SELECT $19, 'whitelist', id, $20, timestamptz 'epoch' + $5::bigint * interval '1 microsecond',
         timestamptz 'epoch' + $5::bigint * interval '1 microsecond'
  FROM moved
  ON CONFLICT (key) DO NOTHING
))sql",
    // kTaskState: the task's state follows its orders.
    R"sql(, tasked AS (
  UPDATE tasks t SET state = CASE
      WHEN $3::smallint NOT IN ({archived}, {cancelled}, {false_positive})
        OR EXISTS (SELECT 1 FROM work_orders o WHERE o.task_id = t.id AND o.id <> $1
                   AND o.state NOT IN ({archived}, {cancelled}, {false_positive})) THEN {task.in_progress}
      ELSE {task.closed} END
  FROM moved WHERE t.id = moved.task_id
))sql",
};
constexpr char kTransitionTail[] = R"sql(, fact AS (
  INSERT INTO facts (kind, record) SELECT {fact.work_order}, $22 FROM moved
), remembered AS (
  INSERT INTO commands (actor, key, method, request, answer, at)
  SELECT $4, $23, $24, $25, $22, timestamptz 'epoch' + $5::bigint * interval '1 microsecond'
  FROM moved WHERE $23::text <> ''
)
SELECT task_id FROM moved
WHERE ($10::text, $11::text, $12::text, $13::text[], $14::boolean, $15::boolean, $16::text[], $17::boolean,
       $18::boolean, $19::text, $20::bytea, $21::boolean) IS NOT NULL OR true)sql";

enum TransitionPart { kRectification, kCloseSupervision, kDropTimers, kArmDeadline, kOutbox, kTaskState, kParts };

// The statement of the variant with the parts in `mask` (bit i: part i).
const std::string& TransitionSql(int mask) {
  static const std::vector<std::string>* const kVariants = [] {
    auto* v = new std::vector<std::string>(1 << kParts);
    for (int m = 0; m < (1 << kParts); ++m) {
      std::string sql = kTransitionHead;
      for (int part = 0; part < kParts; ++part) {
        if (m & (1 << part)) sql += kTransitionParts[part];
      }
      (*v)[m] = Sql(absl::StrCat(sql, kTransitionTail).c_str());
    }
    return v;
  }();
  return (*kVariants)[mask];
}

// The order, its latest submitter and the caller's remembered answer, in one statement.
constexpr char kLoadForCommandSql[] = R"sql(
SELECT {order_columns}, o.unit_path::text AS path, c.method AS prior_method, c.request AS prior_request,
       c.answer AS prior_answer
FROM work_orders o LEFT JOIN commands c ON c.actor = $2 AND c.key = $3
WHERE o.id = $1)sql";

constexpr char kRectificationsSql[] = R"sql(
SELECT cause_analysis, measures, result, attachments::text AS attachments, submitted_by,
       extract(epoch FROM submitted_at)::float8 AS submitted_at
FROM rectifications WHERE work_order_id = $1 ORDER BY n)sql";

constexpr char kLogSql[] = R"sql(
SELECT extract(epoch FROM at)::float8 AS at, actor, action, from_state, to_state, comment
FROM work_order_log WHERE work_order_id = $1 ORDER BY n)sql";

constexpr char kDueTimersSql[] = R"sql(
SELECT t.kind, t.work_order_id, extract(epoch FROM t.due_at)::float8 AS due_at, o.state,
       extract(epoch FROM o.deadline)::float8 AS deadline, o.overdue, o.unit_path::text AS unit_path,
       coalesce((SELECT max(s.escalation) FROM supervision_orders s WHERE s.work_order_id = o.id
                 AND s.closed_at IS NULL), 0) AS escalation
FROM timers t JOIN work_orders o ON o.id = t.work_order_id
WHERE t.due_at <= to_timestamp($1)
ORDER BY t.due_at
LIMIT $2
FOR UPDATE OF t, o SKIP LOCKED)sql";
constexpr char kMarkOverdueSql[] = "UPDATE work_orders SET overdue = true, ever_overdue = true WHERE id = $1";
constexpr char kRaiseSupervisionSql[] = R"sql(
INSERT INTO supervision_orders (work_order_id, unit_code, unit_path, escalation, addressed_to, reason, issued_at)
VALUES ($1, $2, $3, $4, $5, $6, to_timestamp($7))
ON CONFLICT (work_order_id, escalation) WHERE work_order_id IS NOT NULL DO UPDATE
  SET closed_at = NULL, reason = EXCLUDED.reason, issued_at = EXCLUDED.issued_at, recorded_at = clock_timestamp(),
      reminders = 0,
      last_reminded_at = NULL
  WHERE supervision_orders.closed_at IS NOT NULL)sql";
constexpr char kRemindSql[] = R"sql(
UPDATE supervision_orders SET reminders = reminders + 1, last_reminded_at = to_timestamp($2)
WHERE work_order_id = $1 AND closed_at IS NULL)sql";
constexpr char kRearmTimerSql[] =
    "UPDATE timers SET due_at = to_timestamp($3), armed_at = to_timestamp($4) WHERE work_order_id = $1 AND kind = $2";
constexpr char kDeleteTimerSql[] = "DELETE FROM timers WHERE work_order_id = $1 AND kind = $2";
constexpr char kArmRemindSql[] = R"sql(
INSERT INTO timers (kind, work_order_id, due_at, armed_at) VALUES ('remind', $1, to_timestamp($2), to_timestamp($3))
ON CONFLICT (work_order_id, kind) DO UPDATE SET due_at = EXCLUDED.due_at)sql";
constexpr char kNextTimerSql[] = "SELECT extract(epoch FROM min(due_at))::float8 AS due FROM timers";

constexpr char kSupervisionColumns[] = R"sql(
  id, coalesce(work_order_id, 0) AS work_order_id, coalesce(event_id, 0) AS event_id, unit_code, escalation,
  addressed_to, reason, extract(epoch FROM issued_at)::float8 AS issued_at, reminders,
  extract(epoch FROM last_reminded_at)::float8 AS last_reminded_at,
  extract(epoch FROM closed_at)::float8 AS closed_at)sql";
constexpr char kEventSupervisionSql[] = R"sql(
INSERT INTO supervision_orders (event_id, unit_code, unit_path, escalation, addressed_to, reason, issued_at)
VALUES ($1, $2, $3, 1, $4, $5, to_timestamp($6))
ON CONFLICT (event_id) WHERE event_id IS NOT NULL DO UPDATE SET reason = EXCLUDED.reason
  WHERE supervision_orders.reason <> EXCLUDED.reason)sql";

constexpr char kCloseEventSupervisionSql[] =
    "UPDATE supervision_orders SET closed_at = to_timestamp($2) WHERE event_id = $1 AND closed_at IS NULL";

constexpr char kClaimOutboxSql[] = R"sql(
SELECT id, key, kind, coalesce(work_order_id, 0) AS work_order_id, payload, attempts FROM outbox
WHERE delivered_at IS NULL AND next_at <= to_timestamp($1)
ORDER BY next_at LIMIT 1 FOR UPDATE SKIP LOCKED)sql";
constexpr char kDeliveredSql[] = "UPDATE outbox SET delivered_at = to_timestamp($2), attempts = attempts + 1 WHERE id = $1";
constexpr char kRetrySql[] = R"sql(
UPDATE outbox SET attempts = attempts + 1, next_at = to_timestamp($2), last_error = $3 WHERE id = $1)sql";
constexpr char kWhitelistedSql[] = "UPDATE work_orders SET whitelist_entry_id = $2 WHERE id = $1";
constexpr char kBacklogSql[] = "SELECT count(*) FROM outbox WHERE delivered_at IS NULL";

constexpr char kLockCursorSql[] = "SELECT position FROM feed_cursors WHERE feed = $1 FOR UPDATE";
constexpr char kMoveCursorSql[] = "UPDATE feed_cursors SET position = $2, updated_at = to_timestamp($3) WHERE feed = $1";
constexpr char kCursorSql[] = "SELECT position FROM feed_cursors WHERE feed = $1";
constexpr char kOpenOrdersOfTaskSql[] = R"sql(
SELECT id, state FROM work_orders WHERE task_id = $1 AND state NOT IN ({archived}, {cancelled}, {false_positive}))sql";

constexpr char kStandardColumns[] = R"sql(
  code, year, version, category, description, points, direct, incident_kind, incident_level, enabled,
  created_by, extract(epoch FROM created_at)::float8 AS created_at, reason,
  (SELECT s0.created_by FROM deduction_standards s0 WHERE s0.code = s.code AND s0.year = s.year
   AND s0.version = 1) AS first_by,
  (SELECT extract(epoch FROM s0.created_at)::float8 FROM deduction_standards s0 WHERE s0.code = s.code
   AND s0.year = s.year AND s0.version = 1) AS first_at)sql";
constexpr char kCurrentStandardVersionSql[] =
    "SELECT max(version) FROM deduction_standards WHERE code = $1 AND year = $2";
constexpr char kInsertStandardSql[] = R"sql(
INSERT INTO deduction_standards (code, year, version, category, description, points, direct, incident_kind,
                                 incident_level, enabled, created_by, created_at, reason)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, to_timestamp($12), $13))sql";

constexpr char kDeductionColumns[] = R"sql(
  d.id, d.type, d.unit_code, d.period_key, d.points, d.standard_code, d.standard_version,
  coalesce(d.work_order_id, 0) AS work_order_id, coalesce(d.incident_id, 0) AS incident_id, d.description,
  coalesce(d.supersedes_id, 0) AS supersedes_id,
  coalesce((SELECT n.id FROM deductions n WHERE n.supersedes_id = d.id), 0) AS superseded_by_id,
  d.created_by, extract(epoch FROM d.created_at)::float8 AS created_at, d.reason)sql";
constexpr char kInsertDeductionSql[] = R"sql(
INSERT INTO deductions (type, unit_code, unit_path, period_key, period_first, period_last, points, standard_code,
                        standard_version, work_order_id, incident_id, description, supersedes_id, created_by,
                        created_at, reason)
VALUES ($1, $2, $3, $4, $5::date, $6::date, $7, $8, $9, nullif($10, 0), nullif($11, 0), $12, nullif($13, 0), $14,
        to_timestamp($15), $16)
RETURNING id)sql";
constexpr char kDeductionSourceSql[] = R"sql(
SELECT type, unit_code, unit_path::text AS unit_path, period_key, period_first::text AS period_first,
       period_last::text AS period_last, standard_code, standard_version, coalesce(work_order_id, 0) AS work_order_id,
       coalesce(incident_id, 0) AS incident_id, description,
       EXISTS (SELECT 1 FROM deductions n WHERE n.supersedes_id = d.id) AS superseded
FROM deductions d WHERE id = $1 FOR UPDATE)sql";
constexpr char kInsertIncidentSql[] = R"sql(
INSERT INTO incidents (kind, level, unit_code, unit_path, period_key, description, work_order_id, created_by,
                       created_at)
VALUES ($1, $2, $3, $4, $5, $6, nullif($7, 0), $8, to_timestamp($9)) RETURNING id)sql";

constexpr char kTalliesSql[] = R"sql(
SELECT unit_code, theme_code, state, ever_overdue, count(*) AS n FROM work_orders
WHERE ($1 = '' OR $1 = ANY(unit_path)) AND period_key = $2 AND state <> {draft}
GROUP BY unit_code, theme_code, state, ever_overdue)sql";

constexpr char kOrdersToCheckSql[] = R"sql(
SELECT o.id, o.unit_code, o.state, extract(epoch FROM o.deadline)::float8 AS deadline,
       extract(epoch FROM (SELECT min(l.at) FROM work_order_log l WHERE l.work_order_id = o.id
                           AND l.to_state = {dispatched}))::float8 AS dispatched_at,
       r.cause_analysis, r.measures, r.work_order_id IS NOT NULL AS rectified
FROM work_orders o
LEFT JOIN LATERAL (SELECT * FROM rectifications r WHERE r.work_order_id = o.id ORDER BY n DESC LIMIT 1) r ON true
WHERE ($1 = '' OR $1 = ANY(o.unit_path)) AND o.created_at >= $2::date AND o.created_at < $3::date + 1
ORDER BY o.id)sql";
constexpr char kPlansToCheckSql[] = R"sql(
SELECT p.id, p.name, p.scope_unit, p.first_day::text AS first_day, p.last_day::text AS last_day,
       p.theme_codes::text AS themes,
       ARRAY(SELECT DISTINCT t.theme_code FROM tasks t WHERE t.special_plan_id = p.id)::text AS with_tasks
FROM special_plans p
WHERE ($1 = '' OR p.scope_unit = $1 OR EXISTS (SELECT 1 FROM tasks t WHERE t.special_plan_id = p.id))
  AND p.first_day <= $3::date AND p.last_day >= $2::date
ORDER BY p.id)sql";

constexpr char kFactsSql[] = R"sql(
SELECT seq, kind, record, extract(epoch FROM committed_at)::float8 AS committed_at FROM facts
WHERE seq > $1 ORDER BY seq LIMIT $2)sql";

constexpr char kGaugesSql[] = R"sql(
SELECT state, count(*) AS n, count(*) FILTER (WHERE overdue) AS overdue FROM work_orders GROUP BY state)sql";
constexpr char kOpenSupervisionSql[] = "SELECT count(*) FROM supervision_orders WHERE closed_at IS NULL";

// Records by id, built once from the column lists above.
struct ByIdSql {
  const std::string order = absl::StrCat("SELECT ", kOrderColumns, " FROM work_orders o WHERE o.id = $1");
  const std::string task = absl::StrCat("SELECT ", kTaskColumns, " FROM tasks t WHERE t.id = $1");
  const std::string plan = absl::StrCat("SELECT ", kPlanColumns, " FROM special_plans WHERE id = $1");
  const std::string deduction = absl::StrCat("SELECT ", kDeductionColumns, " FROM deductions d WHERE d.id = $1");
};
const ByIdSql& ById() {
  static const ByIdSql* const kSql = new ByIdSql;
  return *kSql;
}

// --- Rows to messages ------------------------------------------------------------------

using db::SetTime;
using db::TextArrayOf;

void SetPeriod(const std::string& key, v1::Period* out) {
  out->set_key(key);
  if (auto p = Period::Parse(key); p.ok()) out->set_type(static_cast<v1::PeriodType>(p->type()));
}

v1::AuditTask TaskFromRow(const pqxx::row& r) {
  v1::AuditTask t;
  t.set_id(r["id"].as<int64_t>());
  t.set_source(static_cast<v1::TaskSource>(r["source"].as<int>()));
  t.set_theme_code(r["theme_code"].as<std::string>());
  t.set_title(r["title"].as<std::string>());
  t.set_description(r["description"].as<std::string>());
  t.mutable_scope()->set_unit_code(r["scope_unit"].as<std::string>());
  t.mutable_scope()->set_include_descendants(r["scope_descendants"].as<bool>());
  SetPeriod(r["period_key"].as<std::string>(), t.mutable_period());
  SetTime(r["deadline"], t.mutable_deadline());
  t.set_owner(r["owner"].as<std::string>());
  t.set_event_id(r["event_id"].as<int64_t>());
  t.set_rule_code(r["rule_code"].as<std::string>());
  t.set_subject(r["subject"].as<std::string>());
  t.set_event_level(r["event_level"].as<int>());
  t.set_special_plan_id(r["special_plan_id"].as<int64_t>());
  t.set_state(static_cast<v1::TaskState>(r["state"].as<int>()));
  for (const std::string& id : TextArrayOf(r["work_order_ids"])) t.add_work_order_ids(std::stoll(id));
  db::FillAuditInfo(r, t.mutable_audit(), /*with_reason=*/false);
  return t;
}

v1::SpecialPlan PlanFromRow(const pqxx::row& r) {
  v1::SpecialPlan p;
  p.set_id(r["id"].as<int64_t>());
  p.set_name(r["name"].as<std::string>());
  p.set_description(r["description"].as<std::string>());
  p.set_first_day(r["first_day"].as<std::string>());
  p.set_last_day(r["last_day"].as<std::string>());
  for (auto& theme : TextArrayOf(r["theme_codes"])) p.add_theme_codes(std::move(theme));
  p.mutable_scope()->set_unit_code(r["scope_unit"].as<std::string>());
  p.mutable_scope()->set_include_descendants(r["scope_descendants"].as<bool>());
  p.mutable_audit()->set_created_by(r["created_by"].as<std::string>());
  SetTime(r["created_at"], p.mutable_audit()->mutable_created_at());
  p.mutable_audit()->set_version(1);
  return p;
}

v1::WorkOrder OrderFromRow(const pqxx::row& r) {
  v1::WorkOrder o;
  o.set_id(r["id"].as<int64_t>());
  o.set_task_id(r["task_id"].as<int64_t>());
  o.set_unit_code(r["unit_code"].as<std::string>());
  o.set_title(r["title"].as<std::string>());
  o.set_finding(r["finding"].as<std::string>());
  o.set_state(static_cast<v1::WorkOrderState>(r["state"].as<int>()));
  SetTime(r["deadline"], o.mutable_deadline());
  o.set_overdue(r["overdue"].as<bool>());
  o.set_ever_overdue(r["ever_overdue"].as<bool>());
  SetPeriod(r["period_key"].as<std::string>(), o.mutable_period());
  o.set_theme_code(r["theme_code"].as<std::string>());
  o.set_whitelist_entry_id(r["whitelist_entry_id"].as<int64_t>());
  o.set_event_id(r["event_id"].as<int64_t>());
  o.set_subject(r["subject"].as<std::string>());
  db::FillAuditInfo(r, o.mutable_audit(), /*with_reason=*/true);
  return o;
}

v1::SupervisionOrder SupervisionFromRow(const pqxx::row& r) {
  v1::SupervisionOrder s;
  s.set_id(r["id"].as<int64_t>());
  s.set_work_order_id(r["work_order_id"].as<int64_t>());
  s.set_event_id(r["event_id"].as<int64_t>());
  s.set_unit_code(r["unit_code"].as<std::string>());
  s.set_escalation(r["escalation"].as<int>());
  s.set_addressed_to(r["addressed_to"].as<std::string>());
  s.set_reason(r["reason"].as<std::string>());
  SetTime(r["issued_at"], s.mutable_issued_at());
  s.set_reminders(r["reminders"].as<int>());
  SetTime(r["last_reminded_at"], s.mutable_last_reminded_at());
  s.set_closed(!r["closed_at"].is_null());
  SetTime(r["closed_at"], s.mutable_closed_at());
  return s;
}

v1::DeductionStandard StandardFromRow(const pqxx::row& r) {
  v1::DeductionStandard s;
  s.set_code(r["code"].as<std::string>());
  s.set_year(r["year"].as<int>());
  s.set_category(static_cast<v1::BusinessCategory>(r["category"].as<int>()));
  s.set_description(r["description"].as<std::string>());
  s.set_points(r["points"].as<double>());
  s.set_direct(r["direct"].as<bool>());
  s.set_incident_kind(static_cast<v1::IncidentKind>(r["incident_kind"].as<int>()));
  s.set_incident_level(r["incident_level"].as<int>());
  s.set_enabled(r["enabled"].as<bool>());
  v1::AuditInfo* a = s.mutable_audit();
  a->set_version(r["version"].as<int64_t>());
  a->set_created_by(r["first_by"].as<std::string>());
  SetTime(r["first_at"], a->mutable_created_at());
  a->set_updated_by(r["created_by"].as<std::string>());
  SetTime(r["created_at"], a->mutable_updated_at());
  a->set_reason(r["reason"].as<std::string>());
  return s;
}

v1::Deduction DeductionFromRow(const pqxx::row& r) {
  v1::Deduction d;
  d.set_id(r["id"].as<int64_t>());
  d.set_type(static_cast<v1::DeductionType>(r["type"].as<int>()));
  d.set_unit_code(r["unit_code"].as<std::string>());
  SetPeriod(r["period_key"].as<std::string>(), d.mutable_period());
  d.set_points(r["points"].as<double>());
  d.set_standard_code(r["standard_code"].as<std::string>());
  d.set_standard_version(r["standard_version"].as<int64_t>());
  d.set_work_order_id(r["work_order_id"].as<int64_t>());
  d.set_incident_id(r["incident_id"].as<int64_t>());
  d.set_description(r["description"].as<std::string>());
  d.set_supersedes_id(r["supersedes_id"].as<int64_t>());
  d.set_superseded_by_id(r["superseded_by_id"].as<int64_t>());
  v1::AuditInfo* a = d.mutable_audit();
  a->set_created_by(r["created_by"].as<std::string>());
  SetTime(r["created_at"], a->mutable_created_at());
  a->set_updated_by(a->created_by());
  *a->mutable_updated_at() = a->created_at();
  a->set_version(1);
  a->set_reason(r["reason"].as<std::string>());
  return d;
}

// The one record `sql` ($1 = id) selects, as `from_row` makes it; NOT_FOUND
// saying `missing` when there is none.
template <typename T>
absl::StatusOr<T> ReadOne(db::Pool* pool, const std::string& sql, int64_t id, T (*from_row)(const pqxx::row&),
                          const std::string& missing) {
  T out;
  AW_RETURN_IF_ERROR(pool->Run([&](pqxx::connection& c) -> absl::Status {
    pqxx::read_transaction tx(c);
    const pqxx::result r = tx.exec_params(sql, id);
    if (r.empty()) return absl::NotFoundError(missing);
    out = from_row(r[0]);
    return absl::OkStatus();
  }));
  return out;
}

// The remembered answer of `command`'s key, as stored with `method` and
// `request`; INVALID_ARGUMENT when the key came with another request.
absl::StatusOr<std::string> Replayed(const Command& command, const pqxx::field& method, const pqxx::field& request,
                                     const pqxx::field& answer) {
  if (method.as<std::string>() != command.method || pqxx::binarystring(request).str() != command.request) {
    return absl::InvalidArgumentError(absl::StrCat("idempotency_key: ", command.key, " was used for another request (",
                                                   method.as<std::string>(), ")"));
  }
  return pqxx::binarystring(answer).str();
}

// --- Pieces of transactions --------------------------------------------------------------

void AppendFact(pqxx::work& tx, int kind, const google::protobuf::Message& record) {
  tx.exec_params(kInsertFactSql, kind, pqxx::binarystring(record.SerializeAsString()));
}

void RecordCommand(pqxx::work& tx, const Command& command, const google::protobuf::Message& answer, absl::Time now) {
  if (command.key.empty()) return;
  tx.exec_params(kRecordCommandSql, command.actor, command.key, command.method, pqxx::binarystring(command.request),
                 pqxx::binarystring(answer.SerializeAsString()), Epoch(now));
}

void Log(pqxx::work& tx, int64_t order, absl::Time at, const std::string& actor, const std::string& action,
         v1::WorkOrderState from, v1::WorkOrderState to, const std::string& comment) {
  tx.exec_params(kInsertLogSql, order, Epoch(at), actor, action, static_cast<int>(from), static_cast<int>(to), comment);
}

// Reads an order's rectifications into it, oldest first.
void AddRectifications(pqxx::transaction_base& tx, v1::WorkOrder* order) {
  for (const auto& r : tx.exec_params(kRectificationsSql, order->id())) {
    v1::Rectification* rect = order->add_rectifications();
    rect->set_cause_analysis(r["cause_analysis"].as<std::string>());
    rect->set_measures(r["measures"].as<std::string>());
    rect->set_result(r["result"].as<std::string>());
    for (auto& a : TextArrayOf(r["attachments"])) rect->add_attachments(std::move(a));
    rect->set_submitted_by(r["submitted_by"].as<std::string>());
    SetTime(r["submitted_at"], rect->mutable_submitted_at());
  }
}

absl::StatusOr<v1::WorkOrder> ReadOrder(pqxx::transaction_base& tx, int64_t id, bool with_log) {
  const pqxx::result rows = tx.exec_params(ById().order, id);
  if (rows.empty()) return absl::NotFoundError(absl::StrCat("work_order_id: no work order ", id));
  v1::WorkOrder o = OrderFromRow(rows[0]);
  AddRectifications(tx, &o);
  if (with_log) {
    for (const auto& r : tx.exec_params(kLogSql, id)) {
      v1::WorkOrderLogEntry* e = o.add_log();
      SetTime(r["at"], e->mutable_at());
      e->set_actor(r["actor"].as<std::string>());
      e->set_action(r["action"].as<std::string>());
      e->set_from_state(static_cast<v1::WorkOrderState>(r["from_state"].as<int>()));
      e->set_to_state(static_cast<v1::WorkOrderState>(r["to_state"].as<int>()));
      e->set_comment(r["comment"].as<std::string>());
    }
  }
  return o;
}

// Writes a work order's fact: the order as committed, without its log.
absl::StatusOr<v1::WorkOrder> OrderFact(pqxx::work& tx, int64_t id) {
  AW_ASSIGN_OR_RETURN(v1::WorkOrder order, ReadOrder(tx, id, /*with_log=*/false));
  AppendFact(tx, 2, order);
  return order;
}

// Inserts a new work order (see kNewOrderSql) and writes its fact and the
// command's answer; NOT_FOUND when the task does not exist.
absl::StatusOr<v1::WorkOrder> InsertOrder(pqxx::work& tx, int64_t task_id, const std::string& unit,
                                          const std::vector<std::string>& path, const std::string& title,
                                          const std::string& finding, bool dispatch,
                                          std::optional<absl::Time> deadline, const std::string& actor,
                                          absl::Time now, const Command& command) {
  static const std::string* const kSql =
      new std::string(absl::StrReplaceAll(Sql(kNewOrderSql), {{"{order_columns}", kOrderColumns}}));
  tx.conn().prepare(kNewOrderStatement, *kSql);  // once per connection
  tx.conn().prepare(kOrderRecordStatement, Sql(kOrderRecordSql));
  const v1::WorkOrderState state = dispatch ? v1::WORK_ORDER_STATE_DISPATCHED : v1::WORK_ORDER_STATE_DRAFT;
  const pqxx::result r =
      tx.exec_prepared(kNewOrderStatement, task_id, unit, TextArray(path), title, finding, static_cast<int>(state),
                       deadline ? std::optional<double>(Epoch(*deadline)) : std::nullopt, actor, Epoch(now));
  if (r.empty()) return absl::NotFoundError(absl::StrCat("task_id: no task ", task_id));
  v1::WorkOrder order = OrderFromRow(r[0]);
  tx.exec_prepared(kOrderRecordStatement, pqxx::binarystring(order.SerializeAsString()), command.actor, command.key,
                   command.method, pqxx::binarystring(command.request), Epoch(now));
  return order;
}

std::string PeriodDay(const std::string& key, bool last) {
  auto p = Period::Parse(key);
  if (!p.ok()) return "";
  return absl::FormatCivilTime(last ? p->last_day() : p->first_day());
}

}  // namespace

// --- Idempotent commands ----------------------------------------------------------------

absl::StatusOr<std::optional<std::string>> AuditStore::PriorAnswer(const Command& command) {
  std::optional<std::string> out;
  if (command.key.empty()) return out;
  AW_RETURN_IF_ERROR(pool_->Run([&](pqxx::connection& c) -> absl::Status {
    pqxx::read_transaction tx(c);
    const pqxx::result r = tx.exec_params(kPriorAnswerSql, command.actor, command.key);
    if (r.empty()) return absl::OkStatus();
    AW_ASSIGN_OR_RETURN(out, Replayed(command, r[0]["method"], r[0]["request"], r[0]["answer"]));
    return absl::OkStatus();
  }));
  return out;
}

// --- Tasks and plans ----------------------------------------------------------------------

absl::StatusOr<v1::AuditTask> AuditStore::CreateTask(const v1::AuditTask& task, const std::vector<std::string>& scope_path,
                                                     const std::string& actor, absl::Time now, const Command& command) {
  v1::AuditTask out;
  AW_RETURN_IF_ERROR(pool_->Run([&](pqxx::connection& c) -> absl::Status {
    pqxx::work tx(c);
    const bool has_deadline = task.has_deadline();
    const int64_t id =
        tx.exec_params1(Sql(kInsertTaskSql), static_cast<int>(task.source()), task.theme_code(), task.title(),
                        task.description(), task.scope().unit_code(), task.scope().include_descendants(),
                        TextArray(scope_path), task.period().key(),
                        has_deadline ? std::optional<double>(Epoch(TimeOf(task.deadline()))) : std::nullopt,
                        task.owner(), task.special_plan_id(), actor, Epoch(now))[0]
            .as<int64_t>();
    out = TaskFromRow(tx.exec_params1(ById().task, id));
    RecordCommand(tx, command, out, now);
    tx.commit();
    return absl::OkStatus();
  }));
  return out;
}

absl::StatusOr<v1::AuditTask> AuditStore::GetTask(int64_t id) {
  return ReadOne(pool_, ById().task, id, &TaskFromRow, absl::StrCat("id: no task ", id));
}

absl::StatusOr<std::vector<v1::AuditTask>> AuditStore::ListTasks(const TaskFilter& f, const KeyPage& page) {
  std::vector<v1::AuditTask> out;
  AW_RETURN_IF_ERROR(pool_->Run([&](pqxx::connection& c) -> absl::Status {
    pqxx::read_transaction tx(c);
    const std::string sql = absl::StrCat(
        "SELECT ", kTaskColumns, " FROM tasks t WHERE ($1 = '' OR (CASE WHEN $2 THEN $1 = ANY(t.scope_path) ",
        "ELSE t.scope_unit = $1 END)) AND (cardinality($3::int[]) = 0 OR t.state = ANY($3::int[])) ",
        "AND (cardinality($4::int[]) = 0 OR t.source = ANY($4::int[])) ",
        "AND (cardinality($5::text[]) = 0 OR t.theme_code = ANY($5::text[])) ",
        "AND (cardinality($6::text[]) = 0 OR t.period_key = ANY($6::text[])) ",
        "AND ($7 = 0 OR t.id < $7) ORDER BY t.id DESC LIMIT $8");
    for (const auto& r : tx.exec_params(sql, f.scope_unit, f.descendants, NumberArray(f.states),
                                        NumberArray(f.sources), TextArray(f.themes), TextArray(f.period_keys),
                                        page.before, page.limit)) {
      out.push_back(TaskFromRow(r));
    }
    return absl::OkStatus();
  }));
  return out;
}

absl::StatusOr<v1::SpecialPlan> AuditStore::CreatePlan(const v1::SpecialPlan& plan, const std::string& actor,
                                                       absl::Time now, const Command& command) {
  v1::SpecialPlan out;
  AW_RETURN_IF_ERROR(pool_->Run([&](pqxx::connection& c) -> absl::Status {
    pqxx::work tx(c);
    std::vector<std::string> themes(plan.theme_codes().begin(), plan.theme_codes().end());
    const int64_t id =
        tx.exec_params1(kInsertPlanSql, plan.name(), plan.description(), plan.first_day(), plan.last_day(),
                        TextArray(themes), plan.scope().unit_code(), plan.scope().include_descendants(), actor,
                        Epoch(now))[0]
            .as<int64_t>();
    out = PlanFromRow(tx.exec_params1(ById().plan, id));
    RecordCommand(tx, command, out, now);
    tx.commit();
    return absl::OkStatus();
  }));
  return out;
}

absl::StatusOr<v1::SpecialPlan> AuditStore::GetPlan(int64_t id) {
  return ReadOne(pool_, ById().plan, id, &PlanFromRow, absl::StrCat("task.special_plan_id: no special plan ", id));
}

absl::StatusOr<std::vector<v1::SpecialPlan>> AuditStore::ListPlans(const KeyPage& page) {
  std::vector<v1::SpecialPlan> out;
  AW_RETURN_IF_ERROR(pool_->Run([&](pqxx::connection& c) -> absl::Status {
    pqxx::read_transaction tx(c);
    for (const auto& r : tx.exec_params(absl::StrCat("SELECT ", kPlanColumns,
                                                     " FROM special_plans WHERE ($1 = 0 OR id < $1) "
                                                     "ORDER BY id DESC LIMIT $2"),
                                        page.before, page.limit)) {
      out.push_back(PlanFromRow(r));
    }
    return absl::OkStatus();
  }));
  return out;
}

// --- Work orders ----------------------------------------------------------------------------

absl::StatusOr<v1::WorkOrder> AuditStore::CreateWorkOrder(const v1::CreateWorkOrderRequest& request,
                                                          const std::vector<std::string>& path,
                                                          const std::string& actor, absl::Time now,
                                                          const Command& command) {
  v1::WorkOrder out;
  AW_RETURN_IF_ERROR(pool_->Run([&](pqxx::connection& c) -> absl::Status {
    pqxx::work tx(c);
    AW_ASSIGN_OR_RETURN(
        out, InsertOrder(tx, request.task_id(), request.unit_code(), path, request.title(), request.finding(),
                         request.dispatch(),
                         request.has_deadline() ? std::optional<absl::Time>(TimeOf(request.deadline())) : std::nullopt,
                         actor, now, command));
    tx.commit();
    return absl::OkStatus();
  }));
  return out;
}

absl::StatusOr<AuditStore::Loaded> AuditStore::LoadForCommand(int64_t id, const Command& command) {
  Loaded out;
  AW_RETURN_IF_ERROR(pool_->Run([&](pqxx::connection& c) -> absl::Status {
    static const std::string* const kSql =
        new std::string(absl::StrReplaceAll(kLoadForCommandSql, {{"{order_columns}", kOrderColumns}}));
    c.prepare("audit_load_for_command", *kSql);  // once per connection
    pqxx::nontransaction tx(c);
    const pqxx::result r = tx.exec_prepared("audit_load_for_command", id, command.actor, command.key);
    if (r.empty()) return absl::NotFoundError(absl::StrCat("work_order_id: no work order ", id));
    out.order = OrderFromRow(r[0]);
    out.facts.state = out.order.state();
    out.facts.version = out.order.audit().version();
    out.facts.path = TextArrayOf(r[0]["path"]);
    out.facts.last_submitter = r[0]["last_submitter"].as<std::string>();
    if (!r[0]["prior_method"].is_null()) {
      AW_ASSIGN_OR_RETURN(out.prior_answer,
                          Replayed(command, r[0]["prior_method"], r[0]["prior_request"], r[0]["prior_answer"]));
      return absl::OkStatus();
    }
    // The rectifications, for the record the transition writes (there are
    // some exactly when someone has submitted one).
    if (out.facts.last_submitter.empty()) return absl::OkStatus();
    AddRectifications(tx, &out.order);
    return absl::OkStatus();
  }));
  return out;
}

absl::StatusOr<v1::WorkOrder> AuditStore::ApplyTransition(const TransitionWrite& w, const v1::WorkOrder& current,
                                                          absl::Time now) {
  const v1::WorkOrder next =
      AfterTransition(current, w.to, w.actor, w.comment, now, w.rectification, w.deadline);
  const int64_t micros = absl::ToUnixMicros(now);
  const bool leaves_unit = Ended(w.to) || (AwaitsUnit(w.from) && !AwaitsUnit(w.to));
  const bool extend_future = w.action == Action::kExtend && w.deadline && *w.deadline > now;
  std::vector<std::string> drop;
  // A deadline timer outlives a submission (it drops itself if it fires
  // while nothing is owed, and a rejection finds it still armed).
  if (leaves_unit) drop = Ended(w.to) ? std::vector<std::string>{"deadline", "remind"} : std::vector<std::string>{"remind"};
  if (extend_future) drop = {"remind"};
  const bool replace_deadline = w.action == Action::kExtend && AwaitsUnit(w.to);
  const bool arm = replace_deadline || (AwaitsUnit(w.to) && !leaves_unit);
  const v1::Rectification none;
  const v1::Rectification& rect = w.rectification != nullptr ? *w.rectification : none;
  const std::string record = next.SerializeAsString();
  const int mask = (w.rectification != nullptr ? 1 << kRectification : 0) |
                   (leaves_unit || extend_future ? 1 << kCloseSupervision : 0) |
                   (!drop.empty() ? 1 << kDropTimers : 0) | (arm ? 1 << kArmDeadline : 0) |
                   (w.whitelist != nullptr ? 1 << kOutbox : 0) |
                   (Ended(w.to) || w.action == Action::kDispatch ? 1 << kTaskState : 0);
  AW_RETURN_IF_ERROR(pool_->Run([&](pqxx::connection& c) -> absl::Status {
    const std::string name = absl::StrCat("audit_transition_", mask);
    c.prepare(name, TransitionSql(mask));  // once per connection and variant
    pqxx::nontransaction tx(c);
    const pqxx::result moved = tx.exec_prepared(
        name, w.work_order_id, w.expected_version, static_cast<int>(w.to), w.actor, micros,
        w.comment, static_cast<int>(w.from), std::string(ActionName(w.action)),
        w.deadline ? std::optional<double>(Epoch(*w.deadline)) : std::nullopt, rect.cause_analysis(),
        rect.measures(), rect.result(),
        TextArray(std::vector<std::string>(rect.attachments().begin(), rect.attachments().end())),
        w.rectification != nullptr, leaves_unit || extend_future, TextArray(drop), replace_deadline, arm,
        w.whitelist != nullptr ? absl::StrCat("audit-false-positive-", w.work_order_id) : std::string(),
        pqxx::binarystring(w.whitelist != nullptr ? w.whitelist->SerializeAsString() : std::string()),
        Ended(w.to) || w.action == Action::kDispatch, pqxx::binarystring(record), w.command.key,
        w.command.method, pqxx::binarystring(w.command.request));
    if (moved.empty()) {
      return absl::AbortedError(absl::StrCat("work order ", w.work_order_id,
                                             " changed while the command was decided; read it again"));
    }
    return absl::OkStatus();
  }));
  return next;
}

absl::StatusOr<v1::WorkOrder> AuditStore::GetWorkOrder(int64_t id, bool with_log) {
  v1::WorkOrder out;
  AW_RETURN_IF_ERROR(pool_->Run([&](pqxx::connection& c) -> absl::Status {
    pqxx::read_transaction tx(c);
    AW_ASSIGN_OR_RETURN(out, ReadOrder(tx, id, with_log));
    return absl::OkStatus();
  }));
  return out;
}

absl::StatusOr<std::vector<v1::WorkOrder>> AuditStore::ListWorkOrders(const OrderFilter& f, const KeyPage& page) {
  std::vector<v1::WorkOrder> out;
  AW_RETURN_IF_ERROR(pool_->Run([&](pqxx::connection& c) -> absl::Status {
    pqxx::read_transaction tx(c);
    const std::string sql = absl::StrCat(
        "SELECT ", kOrderColumns, " FROM work_orders o WHERE ($1 = '' OR (CASE WHEN $2 THEN $1 = ANY(o.unit_path) ",
        "ELSE o.unit_code = $1 END)) AND (cardinality($3::int[]) = 0 OR o.state = ANY($3::int[])) ",
        "AND (cardinality($4::int[]) = 0 OR o.source = ANY($4::int[])) ",
        "AND (cardinality($5::text[]) = 0 OR o.theme_code = ANY($5::text[])) ",
        "AND (cardinality($6::text[]) = 0 OR o.period_key = ANY($6::text[])) ",
        "AND (NOT $7 OR o.overdue) AND ($8 = 0 OR o.task_id = $8) ",
        "AND ($9 = '' OR coalesce((SELECT r.submitted_by FROM rectifications r WHERE r.work_order_id = o.id ",
        "ORDER BY r.n DESC LIMIT 1), '') <> $9) ",
        "AND (cardinality($12::text[]) = 0 OR o.unit_path && $12::text[]) ",
        "AND ($10 = 0 OR o.id < $10) ORDER BY o.id DESC LIMIT $11");
    for (const auto& r : tx.exec_params(sql, f.scope_unit, f.descendants, NumberArray(f.states),
                                        NumberArray(f.sources), TextArray(f.themes), TextArray(f.period_keys),
                                        f.overdue_only, f.task_id, f.not_submitted_by, page.before, page.limit,
                                        TextArray(f.under_any))) {
      out.push_back(OrderFromRow(r));
    }
    return absl::OkStatus();
  }));
  return out;
}

absl::StatusOr<std::vector<v1::SupervisionOrder>> AuditStore::ListSupervision(const std::string& scope_unit,
                                                                              bool descendants, bool open_only,
                                                                              int64_t work_order_id,
                                                                              const KeyPage& page) {
  std::vector<v1::SupervisionOrder> out;
  AW_RETURN_IF_ERROR(pool_->Run([&](pqxx::connection& c) -> absl::Status {
    pqxx::read_transaction tx(c);
    const std::string sql = absl::StrCat(
        "SELECT ", kSupervisionColumns, " FROM supervision_orders WHERE ($1 = '' OR (CASE WHEN $2 THEN ",
        "$1 = ANY(unit_path) ELSE unit_code = $1 END)) AND (NOT $3 OR closed_at IS NULL) ",
        "AND ($4 = 0 OR work_order_id = $4) AND ($5 = 0 OR id < $5) ORDER BY id DESC LIMIT $6");
    for (const auto& r :
         tx.exec_params(sql, scope_unit, descendants, open_only, work_order_id, page.before, page.limit)) {
      out.push_back(SupervisionFromRow(r));
    }
    return absl::OkStatus();
  }));
  return out;
}

// --- Timers -----------------------------------------------------------------------------------

absl::StatusOr<int> AuditStore::RunDueTimers(absl::Time now, int limit,
                                             const std::function<TimerDecision(const DueTimer&)>& decide,
                                             const std::function<void(const DueTimer&, const TimerDecision&)>& fired) {
  std::vector<std::pair<DueTimer, TimerDecision>> done;
  AW_RETURN_IF_ERROR(pool_->Run([&](pqxx::connection& c) -> absl::Status {
    done.clear();
    pqxx::work tx(c);
    for (const auto& r : tx.exec_params(kDueTimersSql, Epoch(now), limit)) {
      DueTimer t;
      t.kind = r["kind"].as<std::string>();
      t.work_order_id = r["work_order_id"].as<int64_t>();
      t.due_at = FromEpoch(r["due_at"].as<double>());
      t.state = static_cast<v1::WorkOrderState>(r["state"].as<int>());
      t.has_deadline = !r["deadline"].is_null();
      if (t.has_deadline) t.deadline = FromEpoch(r["deadline"].as<double>());
      t.overdue = r["overdue"].as<bool>();
      t.path = TextArrayOf(r["unit_path"]);
      t.escalation = r["escalation"].as<int>();
      const TimerDecision d = decide(t);
      if (d.mark_overdue) {
        tx.exec_params(kMarkOverdueSql, t.work_order_id);
        Log(tx, t.work_order_id, now, "system", "overdue", t.state, t.state,
            absl::StrCat("deadline ", absl::FormatTime(t.deadline, absl::UTCTimeZone()), " passed"));
      }
      for (int e : d.raise) {
        const std::string& unit = SupervisedUnit(t.path, e);
        std::vector<std::string> unit_path(t.path.begin(), t.path.end() - (e - 1));
        tx.exec_params(kRaiseSupervisionSql, t.work_order_id, unit, TextArray(unit_path), e, LeaderOf(unit),
                       absl::StrCat("work order ", t.work_order_id, " of ", t.path.back(), " is overdue since ",
                                    absl::FormatTime(t.deadline, absl::UTCTimeZone())),
                       Epoch(now));
        Log(tx, t.work_order_id, now, "system", e == 1 ? "supervised" : "escalated", t.state, t.state,
            absl::StrCat("supervision order to ", LeaderOf(unit), " (escalation ", e, ")"));
      }
      if (d.remind) tx.exec_params(kRemindSql, t.work_order_id, Epoch(now));
      if (d.rearm) {
        tx.exec_params(kRearmTimerSql, t.work_order_id, t.kind, Epoch(*d.rearm), Epoch(now));
      } else {
        tx.exec_params(kDeleteTimerSql, t.work_order_id, t.kind);
      }
      if (d.arm_remind) tx.exec_params(kArmRemindSql, t.work_order_id, Epoch(*d.arm_remind), Epoch(now));
      if (d.mark_overdue || !d.raise.empty()) AW_RETURN_IF_ERROR(OrderFact(tx, t.work_order_id).status());
      done.emplace_back(std::move(t), d);
    }
    tx.commit();
    return absl::OkStatus();
  }));
  for (const auto& [t, d] : done) fired(t, d);
  return static_cast<int>(done.size());
}

absl::StatusOr<std::optional<absl::Time>> AuditStore::NextTimer() {
  std::optional<absl::Time> out;
  AW_RETURN_IF_ERROR(pool_->Run([&](pqxx::connection& c) -> absl::Status {
    pqxx::read_transaction tx(c);
    const pqxx::row r = tx.exec1(kNextTimerSql);
    if (!r["due"].is_null()) out = FromEpoch(r["due"].as<double>());
    return absl::OkStatus();
  }));
  return out;
}

// --- Outbox -------------------------------------------------------------------------------------

absl::StatusOr<bool> AuditStore::DeliverOne(absl::Time now,
                                            const std::function<absl::StatusOr<int64_t>(const OutboxMessage&)>& deliver,
                                            const std::function<absl::Time(int attempts)>& retry_at) {
  bool claimed = false;
  AW_RETURN_IF_ERROR(pool_->Run([&](pqxx::connection& c) -> absl::Status {
    pqxx::work tx(c);
    const pqxx::result r = tx.exec_params(kClaimOutboxSql, Epoch(now));
    claimed = !r.empty();
    if (!claimed) return absl::OkStatus();
    OutboxMessage m;
    m.id = r[0]["id"].as<int64_t>();
    m.key = r[0]["key"].as<std::string>();
    m.kind = r[0]["kind"].as<std::string>();
    m.work_order_id = r[0]["work_order_id"].as<int64_t>();
    m.payload = pqxx::binarystring(r[0]["payload"]).str();
    m.attempts = r[0]["attempts"].as<int>();
    const absl::StatusOr<int64_t> made = deliver(m);
    if (made.ok()) {
      tx.exec_params(kDeliveredSql, m.id, Epoch(now));
      if (m.work_order_id != 0) {
        tx.exec_params(kWhitelistedSql, m.work_order_id, *made);
        const pqxx::row state =
            tx.exec_params1("SELECT state FROM work_orders WHERE id = $1", m.work_order_id);
        const auto s = static_cast<v1::WorkOrderState>(state["state"].as<int>());
        Log(tx, m.work_order_id, now, "system", "whitelisted", s, s,
            absl::StrCat("monitor whitelist entry ", *made));
        AW_RETURN_IF_ERROR(OrderFact(tx, m.work_order_id).status());
      }
    } else {
      tx.exec_params(kRetrySql, m.id, Epoch(retry_at(m.attempts + 1)), made.status().ToString());
    }
    tx.commit();
    return absl::OkStatus();
  }));
  return claimed;
}

absl::StatusOr<int64_t> AuditStore::OutboxBacklog() {
  int64_t n = 0;
  AW_RETURN_IF_ERROR(pool_->Run([&](pqxx::connection& c) -> absl::Status {
    pqxx::read_transaction tx(c);
    n = tx.exec1(kBacklogSql)[0].as<int64_t>();
    return absl::OkStatus();
  }));
  return n;
}

// --- Warning events ---------------------------------------------------------------------------------

absl::StatusOr<int> AuditStore::ApplyEvents(const std::vector<EventWork>& work, int64_t to, absl::Time now) {
  int opened = 0;
  AW_RETURN_IF_ERROR(pool_->Run([&](pqxx::connection& c) -> absl::Status {
    opened = 0;
    pqxx::work tx(c);
    const int64_t at = tx.exec_params1(kLockCursorSql, kEventsFeed)[0].as<int64_t>();
    if (at >= to) return absl::OkStatus();  // another replica got here first
    for (const EventWork& w : work) {
      const v1::WarningEvent& e = w.event;
      if (w.ended) tx.exec_params(kCloseEventSupervisionSql, e.id(), Epoch(now));
      if (w.actions.task) {
        const pqxx::result t =
            tx.exec_params(Sql(kUpsertEventTaskSql), e.theme_code(), w.task_title, e.message(), e.unit_code(),
                           TextArray(w.path), e.period().key(), e.id(), e.rule_code(), e.level(), Epoch(now),
                           e.subject());
        if (!t.empty() && t[0]["inserted"].as<bool>()) {
          ++opened;
          AW_RETURN_IF_ERROR(InsertOrder(tx, t[0]["id"].as<int64_t>(), e.unit_code(), w.path, w.task_title,
                                         e.message(), /*dispatch=*/true, w.order_deadline, "system", now, Command{})
                                 .status());
        } else if (!t.empty()) {  // the event changed level: its open orders say so
          for (const auto& o : tx.exec_params(Sql(kOpenOrdersOfTaskSql), t[0]["id"].as<int64_t>())) {
            const auto s = static_cast<v1::WorkOrderState>(o["state"].as<int>());
            Log(tx, o["id"].as<int64_t>(), now, "system", "escalated", s, s,
                absl::StrCat("warning event ", e.id(), " is now at level ", e.level(), ": ", e.message()));
          }
        }
      }
      if (w.actions.supervision) {
        tx.exec_params(kEventSupervisionSql, e.id(), e.unit_code(), TextArray(w.path), LeaderOf(e.unit_code()),
                       absl::StrCat("warning ", e.rule_code(), " at level ", e.level(), ": ", e.message()), Epoch(now));
      }
    }
    tx.exec_params(kMoveCursorSql, kEventsFeed, to, Epoch(now));
    tx.commit();
    return absl::OkStatus();
  }));
  return opened;
}

absl::StatusOr<int64_t> AuditStore::Cursor(const std::string& feed) {
  int64_t out = 0;
  AW_RETURN_IF_ERROR(pool_->Run([&](pqxx::connection& c) -> absl::Status {
    pqxx::read_transaction tx(c);
    const pqxx::result r = tx.exec_params(kCursorSql, feed);
    if (!r.empty()) out = r[0][0].as<int64_t>();
    return absl::OkStatus();
  }));
  return out;
}

// --- Deductions ---------------------------------------------------------------------------------------

absl::StatusOr<v1::DeductionStandard> AuditStore::SaveStandard(const v1::DeductionStandard& s, const std::string& actor,
                                                               const std::string& reason, int64_t expected_version,
                                                               absl::Time now) {
  v1::DeductionStandard out;
  AW_RETURN_IF_ERROR(pool_->Run([&](pqxx::connection& c) -> absl::Status {
    pqxx::work tx(c);
    // Serialises saves of one item: the version is read and written under the lock.
    tx.exec_params("SELECT pg_advisory_xact_lock(hashtext($1))", absl::StrCat(s.code(), "/", s.year()));
    const pqxx::row cur = tx.exec_params1(kCurrentStandardVersionSql, s.code(), s.year());
    const int64_t version = cur[0].is_null() ? 0 : cur[0].as<int64_t>();
    if (version != expected_version) {
      return absl::AbortedError(absl::StrCat("expected_version: item ", s.code(), " of ", s.year(), " is at version ",
                                             version, ", not ", expected_version));
    }
    tx.exec_params(kInsertStandardSql, s.code(), s.year(), version + 1, static_cast<int>(s.category()),
                   s.description(), s.points(), s.direct(), static_cast<int>(s.incident_kind()), s.incident_level(),
                   s.enabled(), actor, Epoch(now), reason);
    out = StandardFromRow(tx.exec_params1(
        absl::StrCat("SELECT ", kStandardColumns,
                     " FROM deduction_standards s WHERE code = $1 AND year = $2 AND version = $3"),
        s.code(), s.year(), version + 1));
    tx.commit();
    return absl::OkStatus();
  }));
  return out;
}

absl::StatusOr<std::vector<v1::DeductionStandard>> AuditStore::Standards(int year) {
  std::vector<v1::DeductionStandard> out;
  AW_RETURN_IF_ERROR(pool_->Run([&](pqxx::connection& c) -> absl::Status {
    pqxx::read_transaction tx(c);
    for (const auto& r : tx.exec_params(
             absl::StrCat("SELECT ", kStandardColumns,
                          " FROM deduction_standards s WHERE ($1 = 0 OR year = $1) AND version = (SELECT max(version) "
                          "FROM deduction_standards m WHERE m.code = s.code AND m.year = s.year) ORDER BY year, code"),
             year)) {
      out.push_back(StandardFromRow(r));
    }
    return absl::OkStatus();
  }));
  return out;
}

absl::StatusOr<v1::Deduction> AuditStore::RecordFinding(const v1::RecordFindingRequest& request,
                                                        const v1::DeductionStandard& standard,
                                                        const std::string& actor, absl::Time now,
                                                        const Command& command) {
  v1::Deduction out;
  AW_RETURN_IF_ERROR(pool_->Run([&](pqxx::connection& c) -> absl::Status {
    pqxx::work tx(c);
    const pqxx::result o = tx.exec_params(
        "SELECT unit_code, unit_path::text AS unit_path, period_key, state FROM work_orders WHERE id = $1 FOR SHARE",
        request.work_order_id());
    if (o.empty()) return absl::NotFoundError(absl::StrCat("work_order_id: no work order ", request.work_order_id()));
    const std::string period = o[0]["period_key"].as<std::string>();
    const int occurrences = std::max(request.occurrences(), 1);
    const std::string description =
        request.description().empty() ? standard.description() : request.description();
    const int64_t id =
        tx.exec_params1(kInsertDeductionSql, static_cast<int>(v1::DEDUCTION_TYPE_BUSINESS),
                        o[0]["unit_code"].as<std::string>(), o[0]["unit_path"].as<std::string>(), period,
                        PeriodDay(period, false), PeriodDay(period, true), standard.points() * occurrences,
                        standard.code(), standard.audit().version(), request.work_order_id(), int64_t{0},
                        description, int64_t{0}, actor, Epoch(now), absl::StrCat(occurrences, " × ", standard.code()))[0]
            .as<int64_t>();
    const auto s = static_cast<v1::WorkOrderState>(o[0]["state"].as<int>());
    Log(tx, request.work_order_id(), now, actor, "finding", s, s,
        absl::StrCat(standard.code(), " × ", occurrences, ": deduction ", id));
    out = DeductionFromRow(tx.exec_params1(ById().deduction, id));
    AppendFact(tx, 1, out);
    RecordCommand(tx, command, out, now);
    tx.commit();
    return absl::OkStatus();
  }));
  return out;
}

absl::StatusOr<v1::Incident> AuditStore::RegisterIncident(const v1::Incident& incident,
                                                          const std::vector<std::string>& path,
                                                          const v1::DeductionStandard& standard,
                                                          const std::string& actor, absl::Time now,
                                                          const Command& command) {
  v1::Incident out = incident;
  AW_RETURN_IF_ERROR(pool_->Run([&](pqxx::connection& c) -> absl::Status {
    pqxx::work tx(c);
    const std::string& period = incident.period().key();
    const int64_t id =
        tx.exec_params1(kInsertIncidentSql, static_cast<int>(incident.kind()), incident.level(), incident.unit_code(),
                        TextArray(path), period, incident.description(), incident.work_order_id(), actor, Epoch(now))[0]
            .as<int64_t>();
    const int64_t deduction =
        tx.exec_params1(kInsertDeductionSql, static_cast<int>(v1::DEDUCTION_TYPE_DIRECT), incident.unit_code(),
                        TextArray(path), period, PeriodDay(period, false), PeriodDay(period, true), standard.points(),
                        standard.code(), standard.audit().version(), incident.work_order_id(), id,
                        incident.description(), int64_t{0}, actor, Epoch(now),
                        absl::StrCat(v1::IncidentKind_Name(incident.kind()), " level ", incident.level()))[0]
            .as<int64_t>();
    if (incident.work_order_id() != 0) {
      const pqxx::row s = tx.exec_params1("SELECT state FROM work_orders WHERE id = $1", incident.work_order_id());
      const auto st = static_cast<v1::WorkOrderState>(s["state"].as<int>());
      Log(tx, incident.work_order_id(), now, actor, "incident", st, st,
          absl::StrCat("incident ", id, " registered: direct deduction ", deduction));
    }
    out.set_id(id);
    out.set_deduction_id(deduction);
    out.set_points(standard.points());
    SetPeriod(period, out.mutable_period());
    v1::AuditInfo* a = out.mutable_audit();
    a->set_created_by(actor);
    SetTimestamp(now, a->mutable_created_at());
    a->set_updated_by(actor);
    SetTimestamp(now, a->mutable_updated_at());
    a->set_version(1);
    AppendFact(tx, 3, out);
    AppendFact(tx, 1,
               DeductionFromRow(tx.exec_params1(
                   ById().deduction, deduction)));
    RecordCommand(tx, command, out, now);
    tx.commit();
    return absl::OkStatus();
  }));
  return out;
}

absl::StatusOr<v1::Deduction> AuditStore::CorrectDeduction(const v1::CorrectDeductionRequest& request,
                                                           const std::string& actor, absl::Time now,
                                                           const Command& command) {
  v1::Deduction out;
  AW_RETURN_IF_ERROR(pool_->Run([&](pqxx::connection& c) -> absl::Status {
    pqxx::work tx(c);
    const pqxx::result old = tx.exec_params(kDeductionSourceSql, request.deduction_id());
    if (old.empty()) return absl::NotFoundError(absl::StrCat("deduction_id: no deduction ", request.deduction_id()));
    const pqxx::row o = old[0];
    if (o["superseded"].as<bool>()) {
      return absl::FailedPreconditionError(absl::StrCat("deduction_id: deduction ", request.deduction_id(),
                                                        " is already superseded; correct the latest one"));
    }
    const int64_t id =
        tx.exec_params1(kInsertDeductionSql, o["type"].as<int>(), o["unit_code"].as<std::string>(),
                        o["unit_path"].as<std::string>(), o["period_key"].as<std::string>(),
                        o["period_first"].as<std::string>(), o["period_last"].as<std::string>(), request.points(),
                        o["standard_code"].as<std::string>(), o["standard_version"].as<int64_t>(),
                        o["work_order_id"].as<int64_t>(), o["incident_id"].as<int64_t>(),
                        o["description"].as<std::string>(), request.deduction_id(), actor, Epoch(now),
                        request.reason())[0]
            .as<int64_t>();
    out = DeductionFromRow(tx.exec_params1(ById().deduction, id));
    AppendFact(tx, 1, out);
    RecordCommand(tx, command, out, now);
    tx.commit();
    return absl::OkStatus();
  }));
  return out;
}

absl::StatusOr<v1::Deduction> AuditStore::GetDeduction(int64_t id) {
  return ReadOne(pool_, ById().deduction, id, &DeductionFromRow, absl::StrCat("deduction_id: no deduction ", id));
}

absl::StatusOr<std::vector<v1::Deduction>> AuditStore::ListDeductions(const std::string& scope_unit, bool descendants,
                                                                      const std::string& first, const std::string& last,
                                                                      const std::vector<int>& types,
                                                                      bool effective_only, const KeyPage& page) {
  std::vector<v1::Deduction> out;
  AW_RETURN_IF_ERROR(pool_->Run([&](pqxx::connection& c) -> absl::Status {
    pqxx::read_transaction tx(c);
    const std::string sql = absl::StrCat(
        "SELECT ", kDeductionColumns, " FROM deductions d WHERE ($1 = '' OR (CASE WHEN $2 THEN $1 = ANY(d.unit_path) ",
        "ELSE d.unit_code = $1 END)) AND ($3 = '' OR d.period_first >= $3::date) ",
        "AND ($4 = '' OR d.period_last <= $4::date) AND (cardinality($5::int[]) = 0 OR d.type = ANY($5::int[])) ",
        "AND (NOT $6 OR NOT EXISTS (SELECT 1 FROM deductions n WHERE n.supersedes_id = d.id)) ",
        "AND ($7 = 0 OR d.id < $7) ORDER BY d.id DESC LIMIT $8");
    for (const auto& r : tx.exec_params(sql, scope_unit, descendants, first, last, NumberArray(types), effective_only,
                                        page.before, page.limit)) {
      out.push_back(DeductionFromRow(r));
    }
    return absl::OkStatus();
  }));
  return out;
}

// --- Rates and checks --------------------------------------------------------------------------------------

absl::StatusOr<std::vector<OrderTally>> AuditStore::Tallies(const std::string& scope_unit,
                                                            const std::string& period_key) {
  std::vector<OrderTally> out;
  AW_RETURN_IF_ERROR(pool_->Run([&](pqxx::connection& c) -> absl::Status {
    pqxx::read_transaction tx(c);
    for (const auto& r : tx.exec_params(Sql(kTalliesSql), scope_unit, period_key)) {
      out.push_back({.unit_code = r["unit_code"].as<std::string>(),
                     .theme_code = r["theme_code"].as<std::string>(),
                     .state = static_cast<v1::WorkOrderState>(r["state"].as<int>()),
                     .ever_overdue = r["ever_overdue"].as<bool>(),
                     .count = r["n"].as<int64_t>()});
    }
    return absl::OkStatus();
  }));
  return out;
}

absl::StatusOr<std::vector<CheckedOrder>> AuditStore::OrdersToCheck(const std::string& scope_unit,
                                                                    const std::string& first, const std::string& last) {
  std::vector<CheckedOrder> out;
  AW_RETURN_IF_ERROR(pool_->Run([&](pqxx::connection& c) -> absl::Status {
    pqxx::read_transaction tx(c);
    for (const auto& r : tx.exec_params(Sql(kOrdersToCheckSql), scope_unit, first, last)) {
      CheckedOrder o;
      o.id = r["id"].as<int64_t>();
      o.unit_code = r["unit_code"].as<std::string>();
      o.state = static_cast<v1::WorkOrderState>(r["state"].as<int>());
      o.has_deadline = !r["deadline"].is_null();
      if (o.has_deadline) o.deadline = FromEpoch(r["deadline"].as<double>());
      if (!r["dispatched_at"].is_null()) o.dispatched_at = FromEpoch(r["dispatched_at"].as<double>());
      o.rectified = r["rectified"].as<bool>();
      if (o.rectified) {
        o.cause_analysis = r["cause_analysis"].as<std::string>();
        o.measures = r["measures"].as<std::string>();
      }
      out.push_back(std::move(o));
    }
    return absl::OkStatus();
  }));
  return out;
}

absl::StatusOr<std::vector<CheckedPlan>> AuditStore::PlansToCheck(const std::string& scope_unit,
                                                                  const std::string& first, const std::string& last) {
  std::vector<CheckedPlan> out;
  AW_RETURN_IF_ERROR(pool_->Run([&](pqxx::connection& c) -> absl::Status {
    pqxx::read_transaction tx(c);
    for (const auto& r : tx.exec_params(kPlansToCheckSql, scope_unit, first, last)) {
      CheckedPlan p;
      p.id = r["id"].as<int64_t>();
      p.name = r["name"].as<std::string>();
      p.unit_code = r["scope_unit"].as<std::string>();
      absl::ParseCivilTime(r["first_day"].as<std::string>(), &p.first_day);
      absl::ParseCivilTime(r["last_day"].as<std::string>(), &p.last_day);
      p.themes = TextArrayOf(r["themes"]);
      p.themes_with_tasks = TextArrayOf(r["with_tasks"]);
      out.push_back(std::move(p));
    }
    return absl::OkStatus();
  }));
  return out;
}

// --- Feed --------------------------------------------------------------------------------------------------

absl::StatusOr<std::vector<v1::AuditFactChange>> AuditStore::Facts(int64_t after, int limit) {
  std::vector<v1::AuditFactChange> out;
  AW_RETURN_IF_ERROR(pool_->Run([&](pqxx::connection& c) -> absl::Status {
    pqxx::read_transaction tx(c);
    for (const auto& r : tx.exec_params(kFactsSql, after, limit)) {
      v1::AuditFactChange& f = out.emplace_back();
      f.set_seq(r["seq"].as<int64_t>());
      const std::string bytes = pqxx::binarystring(r["record"]).str();
      bool parsed = false;
      switch (r["kind"].as<int>()) {
        case 1: parsed = f.mutable_deduction()->ParseFromString(bytes); break;
        case 2: parsed = f.mutable_work_order()->ParseFromString(bytes); break;
        case 3: parsed = f.mutable_incident()->ParseFromString(bytes); break;
      }
      if (!parsed) return absl::InternalError(absl::StrCat("audit fact ", f.seq(), " does not decode"));
      SetTime(r["committed_at"], f.mutable_committed_at());
    }
    return absl::OkStatus();
  }));
  return out;
}

absl::StatusOr<int64_t> AuditStore::SequenceFacts() {
  int64_t last = 0;
  AW_RETURN_IF_ERROR(pool_->Run([&](pqxx::connection& c) -> absl::Status {
    pqxx::work tx(c);
    last = tx.exec1(kSequenceFactsSql)[0].as<int64_t>();
    tx.commit();
    return absl::OkStatus();
  }));
  return last;
}

std::unique_ptr<db::Listener> AuditStore::ListenForFacts(std::function<void(int64_t)> committed,
                                                         std::function<void()> reconnected) {
  return db::ListenForPositions(pool_->options().url, kFactsChannel, std::move(committed), std::move(reconnected));
}

absl::StatusOr<AuditStore::Gauges> AuditStore::ReadGauges() {
  Gauges g;
  AW_RETURN_IF_ERROR(pool_->Run([&](pqxx::connection& c) -> absl::Status {
    pqxx::read_transaction tx(c);
    for (const auto& r : tx.exec(kGaugesSql)) {
      g.orders_by_state.emplace_back(static_cast<v1::WorkOrderState>(r["state"].as<int>()), r["n"].as<int64_t>());
      g.overdue += r["overdue"].as<int64_t>();
    }
    g.open_supervision = tx.exec1(kOpenSupervisionSql)[0].as<int64_t>();
    g.outbox_backlog = tx.exec1(kBacklogSql)[0].as<int64_t>();
    return absl::OkStatus();
  }));
  return g;
}

}  // namespace aw::audit
