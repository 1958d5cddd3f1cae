#include "services/monitor/monitor_store.h"

#include <random>
#include <tuple>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "common/pg.h"
#include "common/pg_arrays.h"
#include "common/status.h"

namespace aw::monitor {
namespace {

using db::ExactText;
using db::NumberArray;
using db::TextArray;

// --- The numbers of stored enums, written once -------------------------------
// Statements name them ({state.resolved}, {change.open} …) and get the numbers
// when they are built, as literals: partial indexes such as
// "WHERE state <> 4" are then usable by the planner.
std::string Sql(const char* text) {
  static const std::vector<std::pair<std::string, std::string>>* const kNames =
      new std::vector<std::pair<std::string, std::string>>{
          {"{state.open}", absl::StrCat(v1::EVENT_STATE_OPEN)},
          {"{state.acknowledged}", absl::StrCat(v1::EVENT_STATE_ACKNOWLEDGED)},
          {"{state.suppressed}", absl::StrCat(v1::EVENT_STATE_SUPPRESSED)},
          {"{state.resolved}", absl::StrCat(v1::EVENT_STATE_RESOLVED)},
          {"{change.open}", absl::StrCat(static_cast<int>(Change::kOpen))},
          {"{change.escalate}", absl::StrCat(static_cast<int>(Change::kEscalate))},
          {"{change.deescalate}", absl::StrCat(static_cast<int>(Change::kDeescalate))},
          {"{change.resolve}", absl::StrCat(static_cast<int>(Change::kResolve))},
          {"{change.rejudge}", absl::StrCat(static_cast<int>(Change::kRejudge))},
          {"{notification.pending}", absl::StrCat(v1::NOTIFICATION_STATE_PENDING)},
          {"{notification.sent}", absl::StrCat(v1::NOTIFICATION_STATE_SENT)},
          {"{notification.retrying}", absl::StrCat(v1::NOTIFICATION_STATE_RETRYING)},
          {"{notification.failed}", absl::StrCat(v1::NOTIFICATION_STATE_FAILED)},
      };
  return absl::StrReplaceAll(text, *kNames);
}

// Event changes are numbered under this lock (see next_event_seq() in
// 0002_rules_events.sql); Apply takes it once and numbers its rows directly.
constexpr int64_t kEventSeqLock = 443438851;
// The evaluator's leader lock (session level, on a connection of its own).
constexpr int64_t kEvaluatorLock = 443438852;
// The channel committed event changes are announced on, with the latest seq.
constexpr char kEventsChannel[] = "auditwatch_monitor_events";

constexpr char kEventColumns[] = R"sql(
  id, rule_code, theme_code, unit_code, period_key, indicator_code, subject, level, state, observed, threshold,
  message, extract(epoch FROM opened_at)::float8 AS opened_at, extract(epoch FROM updated_at)::float8 AS updated_at,
  extract(epoch FROM resolved_at)::float8 AS resolved_at, seq, cause_seq)sql";

constexpr char kWhitelistColumns[] = R"sql(
  id, rule_code, theme_code, unit_code, include_descendants, subject, reason,
  extract(epoch FROM frozen_from)::float8 AS frozen_from, extract(epoch FROM frozen_until)::float8 AS frozen_until,
  revoked, NOT revoked AND frozen_until > to_timestamp($1) AND frozen_from <= to_timestamp($1) AS active,
  created_by, extract(epoch FROM created_at)::float8 AS created_at, revoked_by, revoke_reason,
  extract(epoch FROM coalesce(revoked_at, created_at))::float8 AS updated_at)sql";

constexpr char kRuleColumns[] = R"sql(
  r.definition, r.enabled, r.revision, extract(epoch FROM r.updated_at)::float8 AS updated_at,
  v.actor AS updated_by, v.reason, f.actor AS created_by, extract(epoch FROM f.recorded_at)::float8 AS created_at)sql";
constexpr char kRuleJoins[] = R"sql(
  FROM rules r JOIN rule_versions v ON v.code = r.code AND v.revision = r.revision
  JOIN rule_versions f ON f.code = r.code AND f.revision = 1)sql";

// --- Themes and rules
constexpr char kUpsertThemeSql[] = R"sql(
INSERT INTO themes (code, name, category, description, actor, reason, created_by) VALUES ($1, $2, $3, $4, $5, $6, $5)
ON CONFLICT (code) DO UPDATE SET name = excluded.name, category = excluded.category,
  description = excluded.description, actor = excluded.actor, reason = excluded.reason,
  -- a theme saved as it is keeps its revision
  revision = themes.revision + CASE WHEN (themes.name, themes.category, themes.description)
             IS DISTINCT FROM (excluded.name, excluded.category, excluded.description) THEN 1 ELSE 0 END,
  updated_at = now()
RETURNING revision, created_by, extract(epoch FROM created_at)::float8 AS created_at,
          extract(epoch FROM updated_at)::float8 AS updated_at)sql";
constexpr char kCountThemesSql[] = "SELECT count(*) AS total FROM themes";
constexpr char kListThemesSql[] = R"sql(
SELECT code, name, category, description, revision, actor, reason, created_by,
       extract(epoch FROM created_at)::float8 AS created_at, extract(epoch FROM updated_at)::float8 AS updated_at
FROM themes ORDER BY code OFFSET $1 LIMIT $2)sql";
constexpr char kThemeExistsSql[] = "SELECT 1 FROM themes WHERE code = $1";
constexpr char kCurrentRuleSql[] = "SELECT revision, definition, enabled FROM rules WHERE code = $1 FOR UPDATE";
constexpr char kUpsertRuleSql[] = R"sql(
INSERT INTO rules (code, theme_code, kind, enabled, revision, definition) VALUES ($1, $2, $3, $4, $5, $6)
ON CONFLICT (code) DO UPDATE SET theme_code = excluded.theme_code, kind = excluded.kind,
  enabled = excluded.enabled, revision = excluded.revision, definition = excluded.definition,
  updated_at = now())sql";
constexpr char kInsertRuleVersionSql[] = R"sql(
INSERT INTO rule_versions (code, revision, enabled, definition, actor, reason) VALUES ($1, $2, $3, $4, $5, $6))sql";
constexpr char kBumpRulesSql[] = "UPDATE rules_state SET version = version + 1";
constexpr char kRuleHistorySql[] = R"sql(
SELECT definition, enabled, revision, extract(epoch FROM recorded_at)::float8 AS recorded_at, actor, reason
FROM rule_versions WHERE code = $1 ORDER BY revision)sql";
constexpr char kRulesVersionSql[] = "SELECT version FROM rules_state";
constexpr char kSetAppliedSql[] = "UPDATE rules_state SET applied_version = greatest(applied_version, $1)";
constexpr char kTakeLeadSql[] = R"sql(
UPDATE evaluator_leader SET epoch = epoch + 1, holder = $1, since = now() RETURNING epoch)sql";
// Shared: commits of the leader run side by side; a new leader's epoch bump waits for them.
constexpr char kLeaderEpochSql[] = "SELECT epoch FROM evaluator_leader FOR SHARE";
constexpr char kEvaluatorStatusSql[] = R"sql(
SELECT s.version, s.applied_version, coalesce(f.position, 0) AS position,
       extract(epoch FROM f.updated_at)::float8 AS updated_at
FROM rules_state s LEFT JOIN feed_cursors f ON f.feed = $1)sql";

// --- Events
// One round of event changes (no key twice) in one statement: opens insert,
// level changes, re-judgements and resolutions update the unresolved event of
// their key, each with its history row; opens and escalations of open events
// are queued for notification. Returns the level of each event it resolved.
const std::string& ApplySql() {
  static const std::string* const kSql = new std::string(Sql(R"sql(
WITH input AS (
  SELECT * FROM unnest($1::smallint[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::int[],
                       $8::smallint[], $9::float8[], $10::float8[], $11::text[], $12::bigint[], $13::bool[],
                       $14::text[], $15::text[])
    WITH ORDINALITY AS i (change, rule_code, theme_code, unit_code, period_key, indicator_code, level, state,
                          observed, threshold, message, cause_seq, keep_observed, comment, subject, n)
), opened AS (
  INSERT INTO events (rule_code, theme_code, unit_code, period_key, indicator_code, subject, level, state, observed,
                      threshold, message, seq, cause_seq)
  SELECT rule_code, theme_code, unit_code, period_key, indicator_code, subject, level, state, observed, threshold,
         message, nextval('event_seqs'), cause_seq
  FROM input WHERE change = {change.open} ORDER BY n
  RETURNING id, level, state, observed, message
), changed AS (
  UPDATE events e SET
    level = CASE WHEN i.change = {change.resolve} THEN e.level ELSE i.level END,
    -- an escalation asks for a new acknowledgement; suppressed events stay suppressed
    state = CASE WHEN i.change = {change.resolve} THEN {state.resolved}
                 WHEN i.change = {change.escalate} AND e.state = {state.acknowledged} THEN {state.open}
                 ELSE e.state END,
    observed = CASE WHEN i.keep_observed THEN e.observed ELSE i.observed END,
    threshold = CASE WHEN i.change = {change.resolve} THEN e.threshold ELSE i.threshold END,
    message = i.message, cause_seq = i.cause_seq,
    resolved_at = CASE WHEN i.change = {change.resolve} THEN clock_timestamp() ELSE e.resolved_at END,
    updated_at = clock_timestamp(), seq = nextval('event_seqs')
  -- Each change finds its event through the key's index, one lookup a row,
  -- whatever the planner guesses of the input's size.
  FROM (SELECT i.*, x.id AS event_id FROM input i
        CROSS JOIN LATERAL (SELECT id FROM events x
                            WHERE x.rule_code = i.rule_code AND x.unit_code = i.unit_code
                              AND x.period_key = i.period_key AND x.subject = i.subject
                              AND x.state <> {state.resolved} LIMIT 1) x
        WHERE i.change IN ({change.escalate}, {change.deescalate}, {change.resolve}, {change.rejudge})) i
  WHERE e.id = i.event_id
  RETURNING e.id, e.level, e.state, e.observed, e.message, i.change, i.comment
), history AS (
  INSERT INTO event_history (event_id, actor, change, level, state, value, comment)
  SELECT id, 'system', CASE WHEN state = {state.suppressed} THEN 'suppressed' ELSE 'opened' END, level, state,
         observed, message
  FROM opened
  UNION ALL
  SELECT id, 'system', CASE change WHEN {change.escalate} THEN 'escalated' WHEN {change.deescalate} THEN 'de-escalated'
                                   WHEN {change.rejudge} THEN 're-judged' ELSE 'resolved' END,
         level, state, observed, coalesce(nullif(comment, ''), message)
  FROM changed
), queued AS (
  INSERT INTO notify_queue (event_id)
  SELECT id FROM opened WHERE state = {state.open}
  UNION ALL
  SELECT id FROM changed WHERE change = {change.escalate} AND state = {state.open}
  ON CONFLICT DO NOTHING
)
SELECT level FROM changed WHERE change = {change.resolve})sql"));
  return *kSql;
}
constexpr char kApplyStatement[] = "monitor_apply_events";
constexpr char kEventSeqLockSql[] = "SELECT pg_advisory_xact_lock($1)";
// The latest event change, announced at commit. The sequence's last value is
// ours while the event-sequence lock is held.
constexpr char kAnnounceEventsSql[] = "SELECT pg_notify($1, last_value::text) FROM event_seqs";
constexpr char kMoveCursorSql[] = R"sql(
INSERT INTO feed_cursors (feed, position) VALUES ($1, $3)
ON CONFLICT (feed) DO UPDATE SET position = excluded.position, updated_at = now()
WHERE feed_cursors.position = $2 RETURNING 1 AS moved)sql";
const std::string& ResolveRulesSql() {
  static const std::string* const kSql = new std::string(Sql(R"sql(
WITH resolved AS (
  UPDATE events SET state = {state.resolved}, message = $2, resolved_at = clock_timestamp(),
    updated_at = clock_timestamp(), seq = next_event_seq()
  WHERE state <> {state.resolved} AND NOT (rule_code = ANY ($1::text[]))
  RETURNING id, level, observed
)
INSERT INTO event_history (event_id, actor, change, level, state, value, comment)
SELECT id, 'system', 'resolved', level, {state.resolved}, observed, $2 FROM resolved
RETURNING event_id)sql"));
  return *kSql;
}
const std::string& SuppressedForUpdateSql() {
  static const std::string* const kSql = new std::string(
      Sql(absl::StrCat("SELECT ", kEventColumns, " FROM events WHERE state = {state.suppressed} FOR UPDATE").c_str()));
  return *kSql;
}
const std::string& ReopenSql() {
  static const std::string* const kSql = new std::string(Sql(
      "UPDATE events SET state = {state.open}, updated_at = clock_timestamp(), seq = next_event_seq() WHERE id = $1"));
  return *kSql;
}
constexpr char kInForceCondition[] = "NOT revoked AND frozen_until > to_timestamp($1)";
constexpr char kExpiredEntriesWhere[] =
    " FROM whitelist WHERE NOT expiry_handled AND frozen_until <= to_timestamp($1) FOR UPDATE SKIP LOCKED";
constexpr char kExpiryHandledSql[] = "UPDATE whitelist SET expiry_handled = true WHERE id = $1";
constexpr char kQueueEventSql[] = "INSERT INTO notify_queue (event_id) VALUES ($1) ON CONFLICT DO NOTHING";
constexpr char kHistorySql[] = R"sql(
INSERT INTO event_history (event_id, actor, change, level, state, value, comment)
VALUES ($1, $2, $3, $4, $5, $6, $7))sql";
constexpr char kCursorSql[] = "SELECT position FROM feed_cursors WHERE feed = $1";
const std::string& OpenEventsSql() {
  static const std::string* const kSql = new std::string(Sql(R"sql(
SELECT rule_code, unit_code, period_key, level, observed, threshold, message FROM events
WHERE state <> {state.resolved} AND subject = ''
AND ($1::text[] = '{}' OR rule_code = ANY ($1::text[])))sql"));
  return *kSql;
}
const std::string& OpenEventsOfSql() {
  static const std::string* const kSql = new std::string(Sql(
      "SELECT unit_code, level, observed, threshold, message FROM events "
      "WHERE rule_code = $1 AND period_key = $2 AND state <> {state.resolved}"));
  return *kSql;
}
constexpr char kEventHistorySql[] = R"sql(
SELECT extract(epoch FROM at)::float8 AS at, actor, change, level, state, value, comment
FROM event_history WHERE event_id = $1 ORDER BY at, ctid)sql";
constexpr char kEventFilter[] = R"sql(
  WHERE ($1::text[] = '{}' OR unit_code = ANY ($1::text[]))
    AND ($2::int[] = '{}' OR level = ANY ($2::int[]))
    AND ($3::int[] = '{}' OR state = ANY ($3::int[]))
    AND ($4::text[] = '{}' OR theme_code = ANY ($4::text[]))
    AND ($5 = '' OR period_key >= $5) AND ($6 = '' OR period_key <= $6))sql";
constexpr char kAckStateSql[] = "SELECT state, level FROM events WHERE id = $1 FOR UPDATE";
const std::string& AcknowledgeSql() {
  static const std::string* const kSql = new std::string(Sql(
      "UPDATE events SET state = {state.acknowledged}, updated_at = clock_timestamp(), seq = next_event_seq() "
      "WHERE id = $1"));
  return *kSql;
}
constexpr char kAnomalySummarySql[] = R"sql(
SELECT unit_code, theme_code, period_key, count(*) AS events, min(level) AS worst_level FROM events
WHERE ($1::text[] = '{}' OR unit_code = ANY ($1::text[])) AND period_key = $2
GROUP BY unit_code, theme_code, period_key ORDER BY unit_code, theme_code)sql";

// --- Whitelist
constexpr char kWhitelistByRequestSql[] = "SELECT id FROM whitelist WHERE request_id = $1";
constexpr char kAddWhitelistSql[] = R"sql(
INSERT INTO whitelist (rule_code, theme_code, unit_code, include_descendants, subject, reason, frozen_from,
                       frozen_until, created_by, request_id)
VALUES ($1, $2, $3, $4, $5, $6, to_timestamp($7), to_timestamp($8), $9, nullif($10, '')) RETURNING id)sql";
constexpr char kRevokeWhitelistSql[] = R"sql(
UPDATE whitelist SET revoked = true, revoked_by = $2, revoke_reason = $3, revoked_at = to_timestamp($4),
  frozen_until = least(frozen_until, greatest(to_timestamp($4), frozen_from + interval '1 second'))
WHERE id = $1 AND NOT revoked RETURNING id)sql";
constexpr char kWhitelistExistsSql[] = "SELECT 1 FROM whitelist WHERE id = $1";
// Unresolved, unsuppressed events of a rule or theme: those a new entry may cover.
const std::string& CoverableEventsSql() {
  static const std::string* const kSql = new std::string(Sql(absl::StrCat(
      "SELECT ", kEventColumns, " FROM events WHERE state IN ({state.open}, {state.acknowledged}) ",
      "AND (rule_code = $1 OR theme_code = $2) ORDER BY id FOR UPDATE").c_str()));
  return *kSql;
}
const std::string& SuppressSql() {
  static const std::string* const kSql = new std::string(Sql(
      "UPDATE events SET state = {state.suppressed}, updated_at = clock_timestamp(), seq = next_event_seq() "
      "WHERE id = $1"));
  return *kSql;
}
constexpr char kUnqueueEventSql[] = "DELETE FROM notify_queue WHERE event_id = $1";
constexpr char kExpiryDueSql[] =
    "SELECT EXISTS (SELECT 1 FROM whitelist WHERE NOT expiry_handled AND frozen_until <= to_timestamp($1)) AS due";

// --- Timer rows
constexpr char kArmTimerSql[] = R"sql(
INSERT INTO timers (rule_code, period_key, due_at) VALUES ($1, $2, to_timestamp($3)) ON CONFLICT DO NOTHING)sql";
constexpr char kClaimTimerSql[] = R"sql(
SELECT rule_code, period_key FROM timers WHERE due_at <= to_timestamp($1) ORDER BY due_at LIMIT 1
FOR UPDATE SKIP LOCKED)sql";
constexpr char kDropRuleTimersSql[] = "DELETE FROM timers WHERE rule_code = $1";
constexpr char kDropTimerSql[] = "DELETE FROM timers WHERE rule_code = $1 AND period_key = $2";
constexpr char kTimerFailedSql[] = R"sql(
UPDATE timers SET due_at = to_timestamp($3), runs = runs + 1, last_error = $4
WHERE rule_code = $1 AND period_key = $2)sql";
// Again after whole recheck intervals past the due time: a timer that fell
// behind catches up in one run.
constexpr char kTimerAgainSql[] = R"sql(
UPDATE timers SET due_at = due_at + make_interval(secs => $4) * greatest(1, ceil(extract(epoch FROM
  to_timestamp($3) - due_at) / $4)), runs = runs + 1, last_error = ''
WHERE rule_code = $1 AND period_key = $2)sql";

// --- Contacts and the notification outbox
constexpr char kUpsertContactSql[] = R"sql(
INSERT INTO contacts (unit_code, role, name, phone, email, levels, active, updated_by, created_by)
VALUES ($1, $2, $3, $4, $5, $6::int[], $7, $8, $8)
ON CONFLICT (unit_code, role, name) DO UPDATE SET phone = excluded.phone, email = excluded.email,
  levels = excluded.levels, active = excluded.active, updated_by = excluded.updated_by, updated_at = now()
RETURNING created_by, extract(epoch FROM created_at)::float8 AS created_at, updated_by,
          extract(epoch FROM updated_at)::float8 AS updated_at)sql";
constexpr char kContactsSql[] = R"sql(
SELECT unit_code, role, name, phone, email, array_to_string(levels, ',') AS levels, active, created_by,
       extract(epoch FROM created_at)::float8 AS created_at, updated_by,
       extract(epoch FROM updated_at)::float8 AS updated_at
FROM contacts
WHERE $1::text[] = '{}' OR unit_code = ANY ($1::text[]) ORDER BY unit_code, role, name)sql";
constexpr char kNotificationFilter[] = R"sql(
WHERE ($1::text[] = '{}' OR unit_code = ANY ($1::text[])) AND ($2::int[] = '{}' OR state = ANY ($2::int[])))sql";
constexpr char kTakeRaisedSql[] = R"sql(
DELETE FROM notify_queue WHERE event_id IN (SELECT event_id FROM notify_queue ORDER BY event_id
LIMIT $1 FOR UPDATE SKIP LOCKED) RETURNING event_id)sql";
// Raised events (not suppressed) of units with someone to tell, with their rules.
const std::string& RaisedEventsSql() {
  static const std::string* const kSql = new std::string(Sql(R"sql(
SELECT e.id, e.level, e.rule_code, r.revision, r.definition
FROM events e JOIN rules r ON r.code = e.rule_code
WHERE e.id = ANY ($1::bigint[]) AND e.state <> {state.suppressed}
  AND EXISTS (SELECT 1 FROM contacts c WHERE c.unit_code = e.unit_code AND c.active)
ORDER BY e.id)sql"));
  return *kSql;
}
// Queues one raised event for every matching contact: into the pending message
// of that contact and unit while its grouping window is open, else a new one.
const std::string& RouteEventSql() {
  static const std::string* const kSql = new std::string(Sql(R"sql(
WITH targets AS (
  SELECT CASE WHEN c.phone <> '' THEN 'sms' ELSE 'email' END AS channel,
         coalesce(nullif(c.phone, ''), nullif(c.email, ''), c.name) AS recipient, e.unit_code
  FROM events e JOIN contacts c ON c.unit_code = e.unit_code AND c.active
  WHERE e.id = $1 AND (c.levels = '{}' OR e.level = ANY (c.levels))
), grouped AS (
  UPDATE notifications n SET event_ids = array_append(n.event_ids, $1)
  FROM targets t
  WHERE n.state = {notification.pending} AND n.recipient = t.recipient AND n.unit_code = t.unit_code
    AND n.not_before > to_timestamp($4) AND NOT ($1 = ANY (n.event_ids))
  RETURNING n.recipient
)
INSERT INTO notifications (channel, recipient, unit_code, event_ids, state, idempotency_key, not_before)
SELECT t.channel, t.recipient, t.unit_code, ARRAY[$1::bigint], {notification.pending}, $2 || '-' || t.recipient,
       to_timestamp($4) + make_interval(secs => $3)
FROM targets t
WHERE NOT EXISTS (SELECT 1 FROM grouped g WHERE g.recipient = t.recipient)
  AND NOT EXISTS (SELECT 1 FROM notifications n WHERE n.state = {notification.pending}
                  AND n.recipient = t.recipient AND n.unit_code = t.unit_code
                  AND n.not_before > to_timestamp($4) AND $1 = ANY (n.event_ids)))sql"));
  return *kSql;
}
// Events still open (not acknowledged) and not notified for a while.
const std::string& RepeatsSql() {
  static const std::string* const kSql = new std::string(Sql(R"sql(
UPDATE events SET notified_at = to_timestamp($1) WHERE state = {state.open} AND notified_at IS NOT NULL
AND notified_at < to_timestamp($1) - make_interval(secs => $2) RETURNING id)sql"));
  return *kSql;
}
const std::string& ClaimNotificationSql() {
  static const std::string* const kSql = new std::string(Sql(R"sql(
SELECT id, channel, recipient, unit_code, event_ids::text AS event_ids, idempotency_key, attempts FROM notifications
WHERE state IN ({notification.pending}, {notification.retrying}) AND not_before <= to_timestamp($1)
ORDER BY not_before LIMIT 1 FOR UPDATE SKIP LOCKED)sql"));
  return *kSql;
}
constexpr char kNotifiedEventsSql[] =
    "SELECT id, rule_code, period_key, level, message FROM events WHERE id = ANY ($1::bigint[]) ORDER BY id";
const std::string& SentSql() {
  static const std::string* const kSql = new std::string(Sql(R"sql(
UPDATE notifications SET state = {notification.sent}, attempts = $2, body = $3, sent_at = to_timestamp($4),
  last_error = '' WHERE id = $1)sql"));
  return *kSql;
}
constexpr char kEventsNotifiedSql[] = "UPDATE events SET notified_at = to_timestamp($2) WHERE id = ANY ($1::bigint[])";
const std::string& GaveUpSql() {
  static const std::string* const kSql = new std::string(Sql(R"sql(
UPDATE notifications SET state = {notification.failed}, attempts = $2, body = $3, last_error = $4 WHERE id = $1)sql"));
  return *kSql;
}
const std::string& RetrySql() {
  static const std::string* const kSql = new std::string(Sql(R"sql(
UPDATE notifications SET state = {notification.retrying}, attempts = $2, body = $3, last_error = $4,
  not_before = to_timestamp($5) WHERE id = $1)sql"));
  return *kSql;
}

// --- Reading rows -----------------------------------------------------------

v1::WarningEvent EventFromRow(const pqxx::row& r) {
  v1::WarningEvent e;
  e.set_id(r["id"].as<int64_t>());
  e.set_rule_code(r["rule_code"].as<std::string>());
  e.set_theme_code(r["theme_code"].as<std::string>());
  e.set_unit_code(r["unit_code"].as<std::string>());
  const std::string key = r["period_key"].as<std::string>();
  e.mutable_period()->set_key(key);
  if (auto p = Period::Parse(key); p.ok()) e.mutable_period()->set_type(static_cast<v1::PeriodType>(p->type()));
  e.set_indicator_code(r["indicator_code"].as<std::string>());
  e.set_subject(r["subject"].as<std::string>());
  e.set_level(r["level"].as<int>());
  e.set_state(static_cast<v1::EventState>(r["state"].as<int>()));
  e.set_observed(r["observed"].as<double>());
  e.set_threshold(r["threshold"].as<double>());
  e.set_message(r["message"].as<std::string>());
  db::SetTimestamp(r["opened_at"].as<double>(), e.mutable_opened_at());
  db::SetTimestamp(r["updated_at"].as<double>(), e.mutable_updated_at());
  if (!r["resolved_at"].is_null()) db::SetTimestamp(r["resolved_at"].as<double>(), e.mutable_resolved_at());
  e.set_seq(r["seq"].as<int64_t>());
  e.set_cause_seq(r["cause_seq"].as<int64_t>());
  return e;
}

OpenEvent OpenEventFromRow(const pqxx::row& r) {
  return OpenEvent{r["level"].as<int>(), r["observed"].as<double>(), r["threshold"].as<double>(),
                   OpenEvent::Hash(r["message"].as<std::string>())};
}

v1::Rule RuleFromRow(const pqxx::row& r) {
  v1::Rule rule;
  rule.ParseFromString(pqxx::binarystring(r["definition"]).str());
  rule.set_enabled(r["enabled"].as<bool>());
  auto* audit = rule.mutable_audit();
  audit->set_version(r["revision"].as<int64_t>());
  db::SetTimestamp(r["updated_at"].as<double>(), audit->mutable_updated_at());
  audit->set_updated_by(r["updated_by"].as<std::string>());
  audit->set_reason(r["reason"].as<std::string>());
  audit->set_created_by(r["created_by"].as<std::string>());
  db::SetTimestamp(r["created_at"].as<double>(), audit->mutable_created_at());
  return rule;
}

v1::WhitelistEntry WhitelistFromRow(const pqxx::row& r) {
  v1::WhitelistEntry w;
  w.set_id(r["id"].as<int64_t>());
  w.set_rule_code(r["rule_code"].as<std::string>());
  w.set_theme_code(r["theme_code"].as<std::string>());
  w.mutable_scope()->set_unit_code(r["unit_code"].as<std::string>());
  w.mutable_scope()->set_include_descendants(r["include_descendants"].as<bool>());
  w.set_subject(r["subject"].as<std::string>());
  w.set_reason(r["reason"].as<std::string>());
  db::SetTimestamp(r["frozen_from"].as<double>(), w.mutable_frozen_from());
  db::SetTimestamp(r["frozen_until"].as<double>(), w.mutable_frozen_until());
  w.set_revoked(r["revoked"].as<bool>());
  w.set_active(r["active"].as<bool>());
  auto* audit = w.mutable_audit();
  audit->set_created_by(r["created_by"].as<std::string>());
  db::SetTimestamp(r["created_at"].as<double>(), audit->mutable_created_at());
  const std::string revoked_by = r["revoked_by"].as<std::string>();
  audit->set_updated_by(revoked_by.empty() ? audit->created_by() : revoked_by);
  db::SetTimestamp(r["updated_at"].as<double>(), audit->mutable_updated_at());
  audit->set_reason(revoked_by.empty() ? w.reason() : r["revoke_reason"].as<std::string>());
  return w;
}

void SetContactAudit(const pqxx::row& r, v1::Contact* c) {
  auto* audit = c->mutable_audit();
  audit->set_created_by(r["created_by"].as<std::string>());
  db::SetTimestamp(r["created_at"].as<double>(), audit->mutable_created_at());
  audit->set_updated_by(r["updated_by"].as<std::string>());
  db::SetTimestamp(r["updated_at"].as<double>(), audit->mutable_updated_at());
}

std::vector<int64_t> ParseIds(const std::string& text) {
  std::vector<int64_t> out;
  if (text.size() < 2) return out;
  for (absl::string_view part : absl::StrSplit(absl::string_view(text).substr(1, text.size() - 2), ',',
                                               absl::SkipEmpty())) {
    int64_t id = 0;
    if (absl::SimpleAtoi(part, &id)) out.push_back(id);
  }
  return out;
}

std::string IdempotencyPrefix() {
  static thread_local std::mt19937_64 rng(std::random_device{}());
  return absl::StrCat("aw-", absl::Hex(rng(), absl::kZeroPad16), absl::Hex(rng(), absl::kZeroPad16));
}

// The parameters of the apply statement for one round.
struct ApplyColumns {
  std::vector<std::string> change, rule, theme, unit, period, indicator, level, state, observed, threshold, message,
      cause, keep_observed, comment, subject;

  void Add(const EventUpdate& u) {
    change.push_back(absl::StrCat(static_cast<int>(u.change)));
    rule.push_back(u.rule_code);
    theme.push_back(u.theme_code);
    unit.push_back(u.unit_code);
    period.push_back(u.period_key);
    indicator.push_back(u.indicator_code);
    level.push_back(absl::StrCat(u.verdict.level));
    state.push_back(absl::StrCat(u.suppressed ? v1::EVENT_STATE_SUPPRESSED : v1::EVENT_STATE_OPEN));
    observed.push_back(ExactText(u.verdict.observed));
    threshold.push_back(ExactText(u.verdict.threshold));
    message.push_back(u.verdict.message);
    cause.push_back(absl::StrCat(u.cause_seq));
    keep_observed.push_back(u.keep_observed ? "t" : "f");
    comment.push_back(u.comment);
    subject.push_back(u.subject);
  }
  bool empty() const { return change.empty(); }
};

}  // namespace

MonitorStore::MonitorStore(db::Pool* pool, Clock* clock) : pool_(pool), clock_(clock) {}

MonitorStore::~MonitorStore() { StopListening(); }

double MonitorStore::Now() const { return absl::ToDoubleSeconds(clock_->Now() - absl::UnixEpoch()); }

// --- Themes and rules --------------------------------------------------------------

absl::StatusOr<v1::Theme> MonitorStore::UpsertTheme(const v1::UpsertThemeRequest& req) {
  const v1::Theme& t = req.theme();
  v1::Theme out;
  AW_RETURN_IF_ERROR(pool_->Run([&](pqxx::connection& c) {
    pqxx::work tx(c);
    const pqxx::row r = tx.exec_params1(kUpsertThemeSql, t.code(), t.name(), static_cast<int>(t.category()),
                                        t.description(), req.actor(), req.reason());
    tx.commit();
    out = t;
    out.mutable_audit()->set_version(r["revision"].as<int64_t>());
    out.mutable_audit()->set_created_by(r["created_by"].as<std::string>());
    db::SetTimestamp(r["created_at"].as<double>(), out.mutable_audit()->mutable_created_at());
    db::SetTimestamp(r["updated_at"].as<double>(), out.mutable_audit()->mutable_updated_at());
    out.mutable_audit()->set_updated_by(req.actor());
    out.mutable_audit()->set_reason(req.reason());
    return absl::OkStatus();
  }));
  return out;
}

absl::Status MonitorStore::ListThemes(int64_t offset, int limit, std::vector<v1::Theme>* out, int64_t* total) {
  return pool_->Run([&](pqxx::connection& c) {
    pqxx::read_transaction tx(c);
    *total = tx.exec1(kCountThemesSql)["total"].as<int64_t>();
    for (const auto& r : tx.exec_params(kListThemesSql, offset, limit)) {
      v1::Theme& t = out->emplace_back();
      t.set_code(r["code"].as<std::string>());
      t.set_name(r["name"].as<std::string>());
      t.set_category(static_cast<v1::BusinessCategory>(r["category"].as<int>()));
      t.set_description(r["description"].as<std::string>());
      t.mutable_audit()->set_version(r["revision"].as<int64_t>());
      t.mutable_audit()->set_updated_by(r["actor"].as<std::string>());
      t.mutable_audit()->set_reason(r["reason"].as<std::string>());
      t.mutable_audit()->set_created_by(r["created_by"].as<std::string>());
      db::SetTimestamp(r["created_at"].as<double>(), t.mutable_audit()->mutable_created_at());
      db::SetTimestamp(r["updated_at"].as<double>(), t.mutable_audit()->mutable_updated_at());
    }
    return absl::OkStatus();
  });
}

absl::StatusOr<bool> MonitorStore::ThemeExists(const std::string& code) {
  bool exists = false;
  AW_RETURN_IF_ERROR(pool_->Run([&](pqxx::connection& c) {
    pqxx::read_transaction tx(c);
    exists = !tx.exec_params(kThemeExistsSql, code).empty();
    return absl::OkStatus();
  }));
  return exists;
}

absl::StatusOr<v1::Rule> MonitorStore::SaveRule(const v1::Rule& rule, const std::string& actor,
                                                const std::string& reason, int64_t expected_version) {
  v1::Rule definition = rule;
  definition.clear_audit();
  AW_RETURN_IF_ERROR(pool_->Run([&](pqxx::connection& c) -> absl::Status {
    pqxx::work tx(c);
    const pqxx::result current = tx.exec_params(kCurrentRuleSql, rule.code());
    const int64_t revision = current.empty() ? 0 : current[0]["revision"].as<int64_t>();
    const std::string bytes = definition.SerializeAsString();
    if (!current.empty() && pqxx::binarystring(current[0]["definition"]).str() == bytes &&
        current[0]["enabled"].as<bool>() == rule.enabled()) {
      return absl::OkStatus();  // saving the rule as it is changes nothing
    }
    if (expected_version != 0 && expected_version != revision) {
      return absl::AbortedError(absl::StrCat("expected_version: rule ", rule.code(), " is at version ", revision,
                                             ", not ", expected_version));
    }
    tx.exec_params(kUpsertRuleSql, rule.code(), rule.theme_code(), static_cast<int>(rule.kind()), rule.enabled(),
                   revision + 1, pqxx::binarystring(bytes));
    tx.exec_params(kInsertRuleVersionSql, rule.code(), revision + 1, rule.enabled(), pqxx::binarystring(bytes),
                   actor, reason);
    tx.exec(kBumpRulesSql);
    tx.commit();
    return absl::OkStatus();
  }));
  return GetRule(rule.code());
}

absl::StatusOr<v1::Rule> MonitorStore::SetRuleEnabled(const std::string& code, bool enabled,
                                                      const std::string& actor, const std::string& reason) {
  AW_ASSIGN_OR_RETURN(v1::Rule rule, GetRule(code));
  if (rule.enabled() == enabled) return rule;
  rule.set_enabled(enabled);
  return SaveRule(rule, actor, reason, rule.audit().version());
}

absl::StatusOr<v1::Rule> MonitorStore::GetRule(const std::string& code) {
  v1::Rule out;
  AW_RETURN_IF_ERROR(pool_->Run([&](pqxx::connection& c) -> absl::Status {
    pqxx::read_transaction tx(c);
    const pqxx::result r =
        tx.exec_params(absl::StrCat("SELECT ", kRuleColumns, kRuleJoins, " WHERE r.code = $1"), code);
    if (r.empty()) return absl::NotFoundError(absl::StrCat("code: no rule ", code));
    out = RuleFromRow(r[0]);
    return absl::OkStatus();
  }));
  return out;
}

absl::StatusOr<std::vector<v1::Rule>> MonitorStore::RuleHistory(const std::string& code) {
  std::vector<v1::Rule> out;
  AW_RETURN_IF_ERROR(pool_->Run([&](pqxx::connection& c) -> absl::Status {
    pqxx::read_transaction tx(c);
    for (const auto& r : tx.exec_params(kRuleHistorySql, code)) {
      v1::Rule& rule = out.emplace_back();
      rule.ParseFromString(pqxx::binarystring(r["definition"]).str());
      rule.set_enabled(r["enabled"].as<bool>());
      rule.mutable_audit()->set_version(r["revision"].as<int64_t>());
      db::SetTimestamp(r["recorded_at"].as<double>(), rule.mutable_audit()->mutable_updated_at());
      rule.mutable_audit()->set_updated_by(r["actor"].as<std::string>());
      rule.mutable_audit()->set_reason(r["reason"].as<std::string>());
    }
    if (out.empty()) return absl::NotFoundError(absl::StrCat("code: no rule ", code));
    return absl::OkStatus();
  }));
  return out;
}

absl::StatusOr<std::vector<v1::Rule>> MonitorStore::ListRules(bool include_disabled) {
  std::vector<v1::Rule> out;
  AW_RETURN_IF_ERROR(pool_->Run([&](pqxx::connection& c) -> absl::Status {
    pqxx::read_transaction tx(c);
    for (const auto& r : tx.exec_params(
             absl::StrCat("SELECT ", kRuleColumns, kRuleJoins, " WHERE $1 OR r.enabled ORDER BY r.code"),
             include_disabled)) {
      out.push_back(RuleFromRow(r));
    }
    return absl::OkStatus();
  }));
  return out;
}

absl::StatusOr<int64_t> MonitorStore::RulesVersion() {
  int64_t v = 0;
  AW_RETURN_IF_ERROR(pool_->Run([&](pqxx::connection& c) {
    pqxx::read_transaction tx(c);
    v = tx.exec1(kRulesVersionSql)["version"].as<int64_t>();
    return absl::OkStatus();
  }));
  return v;
}

absl::Status MonitorStore::CheckEpoch(pqxx::transaction_base& tx, int64_t epoch) {
  if (epoch == 0) return absl::OkStatus();
  const int64_t now = tx.exec1(kLeaderEpochSql)["epoch"].as<int64_t>();
  if (now != epoch) {
    return absl::AbortedError(absl::StrCat("this evaluator lost its leadership (epoch ", epoch,
                                           "; another evaluator leads with epoch ", now, ")"));
  }
  return absl::OkStatus();
}

absl::Status MonitorStore::SetAppliedRulesVersion(int64_t version, int64_t epoch) {
  return pool_->Run([&](pqxx::connection& c) -> absl::Status {
    pqxx::work tx(c);
    AW_RETURN_IF_ERROR(CheckEpoch(tx, epoch));
    tx.exec_params(kSetAppliedSql, version);
    tx.commit();
    return absl::OkStatus();
  });
}

absl::StatusOr<v1::EvaluatorStatus> MonitorStore::EvaluatorStatus(const std::string& feed) {
  v1::EvaluatorStatus out;
  AW_RETURN_IF_ERROR(pool_->Run([&](pqxx::connection& c) {
    pqxx::read_transaction tx(c);
    const pqxx::row r = tx.exec_params1(kEvaluatorStatusSql, feed);
    out.set_rules_version(r["version"].as<int64_t>());
    out.set_rules_version_applied(r["applied_version"].as<int64_t>());
    out.set_cursor(r["position"].as<int64_t>());
    if (!r["updated_at"].is_null()) db::SetTimestamp(r["updated_at"].as<double>(), out.mutable_cursor_updated_at());
    return absl::OkStatus();
  }));
  return out;
}

// --- Events ----------------------------------------------------------------------------

absl::StatusOr<std::vector<int>> MonitorStore::Apply(absl::Span<const EventUpdate> updates, const std::string& feed,
                                                     int64_t from, int64_t to, int64_t epoch) {
  std::vector<int> resolved;
  AW_RETURN_IF_ERROR(pool_->Run([&](pqxx::connection& c) -> absl::Status {
    pqxx::work tx(c);
    AW_RETURN_IF_ERROR(CheckEpoch(tx, epoch));
    AW_ASSIGN_OR_RETURN(resolved, ApplyIn(tx, updates, feed, from, to));
    tx.commit();
    return absl::OkStatus();
  }));
  return resolved;
}

absl::StatusOr<std::vector<int>> MonitorStore::ApplyIn(pqxx::transaction_base& tx,
                                                       absl::Span<const EventUpdate> updates,
                                                       const std::string& feed, int64_t from, int64_t to) {
  std::vector<int> resolved;
  tx.conn().prepare(kApplyStatement, ApplySql());  // once per connection; planned once per session
  bool changed = false;
  for (const EventUpdate& u : updates) changed = changed || u.change != Change::kNone;
  if (changed) tx.exec_params(kEventSeqLockSql, kEventSeqLock);
  // Rounds in which no key comes twice, applied in order: a later change of a
  // key sees the earlier one.
  size_t start = 0;
  while (start < updates.size()) {
    absl::flat_hash_set<std::tuple<absl::string_view, absl::string_view, absl::string_view, absl::string_view>> keys;
    ApplyColumns round;
    size_t end = start;
    for (; end < updates.size(); ++end) {
      const EventUpdate& u = updates[end];
      if (u.change == Change::kNone) continue;
      if (!keys.emplace(u.rule_code, u.unit_code, u.period_key, u.subject).second) break;
      round.Add(u);
    }
    start = end;
    if (round.empty()) continue;
    const pqxx::result levels =
        tx.exec_prepared(kApplyStatement, NumberArray(round.change), TextArray(round.rule), TextArray(round.theme),
                         TextArray(round.unit), TextArray(round.period), TextArray(round.indicator),
                         NumberArray(round.level), NumberArray(round.state), NumberArray(round.observed),
                         NumberArray(round.threshold), TextArray(round.message), NumberArray(round.cause),
                         NumberArray(round.keep_observed), TextArray(round.comment), TextArray(round.subject));
    for (const auto& row : levels) resolved.push_back(row["level"].as<int>());
  }
  if (changed) tx.exec_params(kAnnounceEventsSql, kEventsChannel);
  if (!feed.empty()) {
    const pqxx::result moved = tx.exec_params(kMoveCursorSql, feed, from, to);
    if (moved.empty()) {
      return absl::AbortedError(absl::StrCat("cursor of ", feed, " moved elsewhere; another evaluator runs"));
    }
  }
  return resolved;
}

absl::Status MonitorStore::ResolveRulesOtherThan(const std::vector<std::string>& live, const std::string& message,
                                                int64_t epoch) {
  return pool_->Run([&](pqxx::connection& c) -> absl::Status {
    pqxx::work tx(c);
    AW_RETURN_IF_ERROR(CheckEpoch(tx, epoch));
    if (!tx.exec_params(ResolveRulesSql(), TextArray(live), message).empty()) {
      tx.exec_params(kAnnounceEventsSql, kEventsChannel);
    }
    tx.commit();
    return absl::OkStatus();
  });
}

absl::StatusOr<bool> MonitorStore::ExpiryDue() {
  bool due = false;
  AW_RETURN_IF_ERROR(pool_->Run([&](pqxx::connection& c) {
    pqxx::read_transaction tx(c);
    due = tx.exec_params1(kExpiryDueSql, Now())["due"].as<bool>();
    return absl::OkStatus();
  }));
  return due;
}

absl::StatusOr<std::vector<v1::WarningEvent>> MonitorStore::ReopenExpired(const DirectorySnapshot& dir) {
  std::vector<v1::WarningEvent> reopened;
  AW_RETURN_IF_ERROR(pool_->Run([&](pqxx::connection& c) -> absl::Status {
    reopened.clear();
    pqxx::work tx(c);
    const double now = Now();
    const pqxx::result expired =
        tx.exec_params(absl::StrCat("SELECT ", kWhitelistColumns, kExpiredEntriesWhere), now);
    if (expired.empty()) return absl::OkStatus();
    std::vector<v1::WhitelistEntry> entries;
    for (const auto& r : expired) entries.push_back(WhitelistFromRow(r));
    // Entries still in force (other than those that just expired).
    std::vector<v1::WhitelistEntry> in_force;
    for (const auto& r : tx.exec_params(absl::StrCat("SELECT ", kWhitelistColumns, " FROM whitelist WHERE ", kInForceCondition), now)) {
      in_force.push_back(WhitelistFromRow(r));
    }
    const absl::Time at = absl::FromUnixSeconds(static_cast<int64_t>(now));
    for (const auto& r : tx.exec(SuppressedForUpdateSql())) {
      v1::WarningEvent e = EventFromRow(r);
      const bool hit = std::any_of(entries.begin(), entries.end(), [&](const auto& w) {
        return WhitelistCovers(w, e.rule_code(), e.theme_code(), dir, e.unit_code(), WhitelistSubject(e));
      });
      if (!hit || Whitelisted(in_force, at, e.rule_code(), e.theme_code(), dir, e.unit_code(), WhitelistSubject(e))) {
        continue;
      }
      tx.exec_params(ReopenSql(), e.id());
      tx.exec_params(kHistorySql, e.id(), "system", "reopened", e.level(), static_cast<int>(v1::EVENT_STATE_OPEN),
                     e.observed(), "the whitelist entry expired and the condition still holds");
      tx.exec_params(kQueueEventSql, e.id());
      e.set_state(v1::EVENT_STATE_OPEN);
      reopened.push_back(e);
    }
    for (const auto& w : entries) tx.exec_params(kExpiryHandledSql, w.id());
    if (!reopened.empty()) tx.exec_params(kAnnounceEventsSql, kEventsChannel);
    tx.commit();
    return absl::OkStatus();
  }));
  return reopened;
}

absl::StatusOr<int64_t> MonitorStore::Cursor(const std::string& feed) {
  int64_t position = 0;
  AW_RETURN_IF_ERROR(pool_->Run([&](pqxx::connection& c) {
    pqxx::read_transaction tx(c);
    const pqxx::result r = tx.exec_params(kCursorSql, feed);
    if (!r.empty()) position = r[0]["position"].as<int64_t>();
    return absl::OkStatus();
  }));
  return position;
}

absl::StatusOr<std::vector<OpenEventRow>> MonitorStore::OpenEvents(const std::vector<std::string>& rules) {
  std::vector<OpenEventRow> out;
  AW_RETURN_IF_ERROR(pool_->Run([&](pqxx::connection& c) {
    pqxx::read_transaction tx(c);
    for (const auto& r : tx.exec_params(OpenEventsSql(), TextArray(rules))) {
      out.push_back({r["rule_code"].as<std::string>(), r["unit_code"].as<std::string>(),
                     r["period_key"].as<std::string>(), OpenEventFromRow(r)});
    }
    return absl::OkStatus();
  }));
  return out;
}

absl::StatusOr<v1::WarningEvent> MonitorStore::GetEvent(int64_t id, bool with_history) {
  v1::WarningEvent out;
  AW_RETURN_IF_ERROR(pool_->Run([&](pqxx::connection& c) -> absl::Status {
    pqxx::read_transaction tx(c);
    const pqxx::result r = tx.exec_params(absl::StrCat("SELECT ", kEventColumns, " FROM events WHERE id = $1"), id);
    if (r.empty()) return absl::NotFoundError(absl::StrCat("id: no event ", id));
    out = EventFromRow(r[0]);
    if (with_history) {
      for (const auto& h : tx.exec_params(kEventHistorySql, id)) {
        v1::EventHistoryEntry* e = out.add_history();
        db::SetTimestamp(h["at"].as<double>(), e->mutable_at());
        e->set_actor(h["actor"].as<std::string>());
        e->set_change(h["change"].as<std::string>());
        e->set_level(h["level"].as<int>());
        e->set_state(static_cast<v1::EventState>(h["state"].as<int>()));
        e->set_value(h["value"].as<double>());
        e->set_comment(h["comment"].as<std::string>());
      }
    }
    return absl::OkStatus();
  }));
  return out;
}

absl::Status MonitorStore::ListEvents(const EventFilter& f, bool count, std::vector<v1::WarningEvent>* out,
                                      int64_t* total) {
  return pool_->Run([&](pqxx::connection& c) {
    pqxx::read_transaction tx(c);
    if (count) {
      *total = tx.exec_params1(absl::StrCat("SELECT count(*) AS total FROM events", kEventFilter),
                               TextArray(f.unit_codes), NumberArray(f.levels), NumberArray(f.states),
                               TextArray(f.theme_codes), f.first_period, f.last_period)["total"]
                   .as<int64_t>();
    }
    for (const auto& r : tx.exec_params(absl::StrCat("SELECT ", kEventColumns, " FROM events", kEventFilter,
                                                     " AND ($7 = 0 OR id < $7) ORDER BY id DESC LIMIT $8"),
                                        TextArray(f.unit_codes), NumberArray(f.levels), NumberArray(f.states),
                                        TextArray(f.theme_codes), f.first_period, f.last_period, f.before_id,
                                        f.limit)) {
      out->push_back(EventFromRow(r));
    }
    return absl::OkStatus();
  });
}

absl::StatusOr<v1::WarningEvent> MonitorStore::Acknowledge(int64_t id, const std::string& actor,
                                                           const std::string& comment) {
  AW_RETURN_IF_ERROR(pool_->Run([&](pqxx::connection& c) -> absl::Status {
    pqxx::work tx(c);
    const pqxx::result r = tx.exec_params(kAckStateSql, id);
    if (r.empty()) return absl::NotFoundError(absl::StrCat("id: no event ", id));
    const int state = r[0]["state"].as<int>();
    if (state == v1::EVENT_STATE_RESOLVED) {
      return absl::FailedPreconditionError(absl::StrCat("event ", id, " is resolved"));
    }
    if (state == v1::EVENT_STATE_ACKNOWLEDGED) return absl::OkStatus();  // already
    tx.exec_params(AcknowledgeSql(), id);
    tx.exec_params(kHistorySql, id, actor, "acknowledged", r[0]["level"].as<int>(),
                   static_cast<int>(v1::EVENT_STATE_ACKNOWLEDGED), 0.0, comment);
    tx.exec_params(kAnnounceEventsSql, kEventsChannel);
    tx.commit();
    return absl::OkStatus();
  }));
  return GetEvent(id, true);
}

absl::StatusOr<std::vector<v1::EventChange>> MonitorStore::EventFeed(int64_t from_seq, int limit) {
  std::vector<v1::EventChange> out;
  AW_RETURN_IF_ERROR(pool_->Run([&](pqxx::connection& c) {
    pqxx::read_transaction tx(c);
    for (const auto& r : tx.exec_params(
             absl::StrCat("SELECT ", kEventColumns, " FROM events WHERE seq > $1 ORDER BY seq LIMIT $2"), from_seq,
             limit)) {
      v1::EventChange& ch = out.emplace_back();
      *ch.mutable_event() = EventFromRow(r);
      ch.set_seq(ch.event().seq());
    }
    return absl::OkStatus();
  }));
  return out;
}

absl::StatusOr<std::vector<v1::AnomalySummaryRow>> MonitorStore::AnomalySummary(
    const std::vector<std::string>& unit_codes, const std::string& period_key) {
  std::vector<v1::AnomalySummaryRow> out;
  AW_RETURN_IF_ERROR(pool_->Run([&](pqxx::connection& c) {
    pqxx::read_transaction tx(c);
    for (const auto& r : tx.exec_params(kAnomalySummarySql, TextArray(unit_codes), period_key)) {
      v1::AnomalySummaryRow& row = out.emplace_back();
      row.set_unit_code(r["unit_code"].as<std::string>());
      row.set_theme_code(r["theme_code"].as<std::string>());
      row.mutable_period()->set_key(r["period_key"].as<std::string>());
      if (auto p = Period::Parse(row.period().key()); p.ok()) {
        row.mutable_period()->set_type(static_cast<v1::PeriodType>(p->type()));
      }
      row.set_events(r["events"].as<int>());
      row.set_worst_level(r["worst_level"].as<int>());
    }
    return absl::OkStatus();
  }));
  return out;
}

void MonitorStore::StartListening(std::function<void(int64_t)> committed, std::function<void()> reconnected) {
  listener_ = db::ListenForPositions(pool_->options().url, kEventsChannel, std::move(committed), std::move(reconnected));
}

void MonitorStore::StopListening() {
  if (listener_ != nullptr) listener_->Stop();
}

LeaderLease::LeaderLease(std::unique_ptr<db::SessionLock> lock, int64_t epoch)
    : lock_(std::move(lock)), epoch_(epoch) {}
LeaderLease::~LeaderLease() = default;

absl::Status LeaderLease::Check() { return lock_->Check(); }

absl::StatusOr<std::unique_ptr<LeaderLease>> MonitorStore::TryLeadEvaluator(const std::string& holder) {
  AW_ASSIGN_OR_RETURN(auto lock, db::SessionLock::TryAcquire(pool_->options().url, kEvaluatorLock));
  if (lock == nullptr) return std::unique_ptr<LeaderLease>();
  int64_t epoch = 0;
  AW_RETURN_IF_ERROR(pool_->Run([&](pqxx::connection& c) {
    pqxx::work tx(c);
    epoch = tx.exec_params1(kTakeLeadSql, holder)["epoch"].as<int64_t>();
    tx.commit();
    return absl::OkStatus();
  }));
  return std::make_unique<LeaderLease>(std::move(lock), epoch);
}

// --- Whitelist ---------------------------------------------------------------------------

absl::StatusOr<v1::WhitelistEntry> MonitorStore::AddWhitelist(const v1::WhitelistEntry& w, const std::string& actor,
                                                             const std::string& request_id, const DirectorySnapshot& dir) {
  int64_t id = 0;
  AW_RETURN_IF_ERROR(pool_->Run([&](pqxx::connection& c) -> absl::Status {
    pqxx::work tx(c);
    if (!request_id.empty()) {
      const pqxx::result seen = tx.exec_params(kWhitelistByRequestSql, request_id);
      if (!seen.empty()) {
        id = seen[0]["id"].as<int64_t>();
        return absl::OkStatus();
      }
    }
    id = tx.exec_params1(kAddWhitelistSql, w.rule_code(), w.theme_code(), w.scope().unit_code(),
                         w.scope().include_descendants(), w.subject(), w.reason(),
                         static_cast<double>(w.frozen_from().seconds()), static_cast<double>(w.frozen_until().seconds()),
                         actor, request_id)["id"]
             .as<int64_t>();
    // An entry in force covers what is already open: suppressed now, without a notification.
    SuppressCoveredIn(tx, w, id, actor, dir);
    tx.commit();
    return absl::OkStatus();
  }));
  return WhitelistEntry(id);
}

int MonitorStore::SuppressCoveredIn(pqxx::transaction_base& tx, const v1::WhitelistEntry& w, int64_t id,
                                    const std::string& actor, const DirectorySnapshot& dir) {
  const int64_t now = static_cast<int64_t>(Now());
  if (w.revoked() || w.frozen_from().seconds() > now || now >= w.frozen_until().seconds()) return 0;
  int suppressed = 0;
  for (const auto& r : tx.exec_params(CoverableEventsSql(), w.rule_code(), w.theme_code())) {
    const v1::WarningEvent e = EventFromRow(r);
    if (!WhitelistCovers(w, e.rule_code(), e.theme_code(), dir, e.unit_code(), WhitelistSubject(e))) continue;
    tx.exec_params(SuppressSql(), e.id());
    tx.exec_params(kUnqueueEventSql, e.id());
    tx.exec_params(kHistorySql, e.id(), actor, "suppressed", e.level(), static_cast<int>(v1::EVENT_STATE_SUPPRESSED),
                   e.observed(), absl::StrCat("whitelist entry ", id, ": ", w.reason()));
    ++suppressed;
  }
  if (suppressed > 0) tx.exec_params(kAnnounceEventsSql, kEventsChannel);
  return suppressed;
}

absl::StatusOr<int> MonitorStore::SuppressCovered(const v1::WhitelistEntry& entry, const DirectorySnapshot& dir) {
  int suppressed = 0;
  AW_RETURN_IF_ERROR(pool_->Run([&](pqxx::connection& c) {
    pqxx::work tx(c);
    suppressed = SuppressCoveredIn(tx, entry, entry.id(), entry.audit().created_by(), dir);
    tx.commit();
    return absl::OkStatus();
  }));
  return suppressed;
}

absl::StatusOr<v1::WhitelistEntry> MonitorStore::WhitelistEntry(int64_t id) {
  v1::WhitelistEntry out;
  AW_RETURN_IF_ERROR(pool_->Run([&](pqxx::connection& c) -> absl::Status {
    pqxx::read_transaction tx(c);
    const pqxx::result r =
        tx.exec_params(absl::StrCat("SELECT ", kWhitelistColumns, " FROM whitelist WHERE id = $2"), Now(), id);
    if (r.empty()) return absl::NotFoundError(absl::StrCat("id: no whitelist entry ", id));
    out = WhitelistFromRow(r[0]);
    return absl::OkStatus();
  }));
  return out;
}

absl::StatusOr<v1::WhitelistEntry> MonitorStore::RevokeWhitelist(int64_t id, const std::string& actor,
                                                                const std::string& reason) {
  AW_RETURN_IF_ERROR(pool_->Run([&](pqxx::connection& c) -> absl::Status {
    pqxx::work tx(c);
    if (tx.exec_params(kRevokeWhitelistSql, id, actor, reason, Now()).empty()) {
      if (tx.exec_params(kWhitelistExistsSql, id).empty()) {
        return absl::NotFoundError(absl::StrCat("id: no whitelist entry ", id));
      }
      return absl::FailedPreconditionError(absl::StrCat("whitelist entry ", id, " is already revoked"));
    }
    tx.commit();
    return absl::OkStatus();
  }));
  return WhitelistEntry(id);
}

absl::StatusOr<std::vector<v1::WhitelistEntry>> MonitorStore::Whitelist(bool include_expired) {
  std::vector<v1::WhitelistEntry> out;
  AW_RETURN_IF_ERROR(pool_->Run([&](pqxx::connection& c) {
    pqxx::read_transaction tx(c);
    for (const auto& r : tx.exec_params(
             absl::StrCat("SELECT ", kWhitelistColumns, " FROM whitelist WHERE $2 OR (", kInForceCondition,
                          ") ORDER BY id"),
             Now(), include_expired)) {
      out.push_back(WhitelistFromRow(r));
    }
    return absl::OkStatus();
  }));
  return out;
}

// --- Timer rows ---------------------------------------------------------------------------

absl::Status MonitorStore::ArmTimer(const std::string& rule, const std::string& period_key, absl::Time due) {
  return pool_->Run([&](pqxx::connection& c) {
    pqxx::work tx(c);
    tx.exec_params(kArmTimerSql, rule, period_key, absl::ToDoubleSeconds(due - absl::UnixEpoch()));
    tx.commit();
    return absl::OkStatus();
  });
}

absl::StatusOr<bool> MonitorStore::RunDueTimer(
    const std::function<absl::StatusOr<TimerJudgement>(const v1::Rule&, const Period&,
                                                        const std::map<std::string, OpenEvent>&)>& judge,
    const std::function<absl::StatusOr<absl::Time>(const v1::Rule&, const Period&)>& next_due, absl::Duration retry_after,
    std::pair<std::vector<EventUpdate>, std::vector<int>>* applied) {
  bool claimed = false;
  applied->first.clear();
  applied->second.clear();
  AW_RETURN_IF_ERROR(pool_->Run([&](pqxx::connection& c) -> absl::Status {
    pqxx::work tx(c);
    const double now = Now();
    const pqxx::result due = tx.exec_params(kClaimTimerSql, now);
    if (due.empty()) return absl::OkStatus();
    claimed = true;
    const std::string code = due[0]["rule_code"].as<std::string>(), key = due[0]["period_key"].as<std::string>();
    const pqxx::result rule_row =
        tx.exec_params(absl::StrCat("SELECT ", kRuleColumns, kRuleJoins, " WHERE r.code = $1"), code);
    const std::optional<v1::Rule> rule =
        rule_row.empty() ? std::nullopt : std::optional<v1::Rule>(RuleFromRow(rule_row[0]));
    if (!rule || !rule->enabled() || !IsTimerRule(rule->kind())) {
      tx.exec_params(kDropRuleTimersSql, code);  // the rule is gone or changed
      tx.commit();
      return absl::OkStatus();
    }
    auto period = Period::Parse(static_cast<PeriodType>(rule->period_type()), key);
    if (!period.ok()) {
      tx.exec_params(kDropTimerSql, code, key);
      tx.commit();
      return absl::OkStatus();
    }
    std::map<std::string, OpenEvent> open;
    for (const auto& r : tx.exec_params(OpenEventsOfSql(), code, key)) {
      open[r["unit_code"].as<std::string>()] = OpenEventFromRow(r);
    }
    absl::StatusOr<TimerJudgement> judged = judge(*rule, *period, open);
    if (!judged.ok()) {
      tx.exec_params(kTimerFailedSql, code, key, now + absl::ToDoubleSeconds(retry_after),
                     std::string(judged.status().message()));
      tx.commit();
      return absl::OkStatus();
    }
    // The events change in the transaction that holds the timer: both or neither.
    AW_ASSIGN_OR_RETURN(applied->second, ApplyIn(tx, judged->updates, "", 0, 0));
    if (judged->again) {
      tx.exec_params(kTimerAgainSql, code, key, now, absl::ToDoubleSeconds(kTimerRecheck));
    } else {
      tx.exec_params(kDropTimerSql, code, key);
    }
    const Period next = period->Next();
    AW_ASSIGN_OR_RETURN(const absl::Time next_at, next_due(*rule, next));
    tx.exec_params(kArmTimerSql, code, next.key(), absl::ToDoubleSeconds(next_at - absl::UnixEpoch()));
    tx.commit();
    applied->first = std::move(judged->updates);
    return absl::OkStatus();
  }));
  return claimed;
}

// --- Contacts and the notification outbox -----------------------------------------------

absl::StatusOr<v1::Contact> MonitorStore::UpsertContact(const v1::Contact& contact, const std::string& actor) {
  v1::Contact out = contact;
  AW_RETURN_IF_ERROR(pool_->Run([&](pqxx::connection& conn) {
    pqxx::work tx(conn);
    const pqxx::row r = tx.exec_params1(
        kUpsertContactSql, contact.unit_code(), contact.role(), contact.name(), contact.phone(), contact.email(),
        NumberArray(std::vector<int>(contact.levels().begin(), contact.levels().end())), contact.active(), actor);
    tx.commit();
    SetContactAudit(r, &out);
    return absl::OkStatus();
  }));
  return out;
}

absl::StatusOr<std::vector<v1::Contact>> MonitorStore::Contacts(const std::vector<std::string>& units) {
  std::vector<v1::Contact> out;
  AW_RETURN_IF_ERROR(pool_->Run([&](pqxx::connection& conn) {
    pqxx::read_transaction tx(conn);
    for (const auto& r : tx.exec_params(kContactsSql, TextArray(units))) {
      v1::Contact& c = out.emplace_back();
      c.set_unit_code(r["unit_code"].as<std::string>());
      c.set_role(r["role"].as<std::string>());
      c.set_name(r["name"].as<std::string>());
      c.set_phone(r["phone"].as<std::string>());
      c.set_email(r["email"].as<std::string>());
      for (absl::string_view l : absl::StrSplit(r["levels"].as<std::string>(), ',', absl::SkipEmpty())) {
        int level = 0;
        if (absl::SimpleAtoi(l, &level)) c.add_levels(level);
      }
      c.set_active(r["active"].as<bool>());
      SetContactAudit(r, &c);
    }
    return absl::OkStatus();
  }));
  return out;
}

absl::Status MonitorStore::ListNotifications(const std::vector<std::string>& units, const std::vector<int>& states,
                                             int64_t after_id, int limit, bool count,
                                             std::vector<v1::Notification>* out, int64_t* total) {
  return pool_->Run([&](pqxx::connection& conn) {
    pqxx::read_transaction tx(conn);
    if (count) {
      *total = tx.exec_params1(absl::StrCat("SELECT count(*) AS total FROM notifications", kNotificationFilter),
                               TextArray(units), NumberArray(states))["total"]
                   .as<int64_t>();
    }
    for (const auto& r : tx.exec_params(
             absl::StrCat("SELECT id, channel, recipient, unit_code, event_ids::text AS event_ids, body, state, "
                          "attempts, last_error, idempotency_key, extract(epoch FROM created_at)::bigint AS created_at, "
                          "extract(epoch FROM sent_at)::bigint AS sent_at FROM notifications",
                          kNotificationFilter, " AND id > $3 ORDER BY id LIMIT $4"),
             TextArray(units), NumberArray(states), after_id, limit)) {
      v1::Notification& n = out->emplace_back();
      n.set_id(r["id"].as<int64_t>());
      n.set_channel(r["channel"].as<std::string>());
      n.set_recipient(r["recipient"].as<std::string>());
      n.set_unit_code(r["unit_code"].as<std::string>());
      for (int64_t id : ParseIds(r["event_ids"].as<std::string>())) n.add_event_ids(id);
      n.set_body(r["body"].as<std::string>());
      n.set_state(static_cast<v1::NotificationState>(r["state"].as<int>()));
      n.set_attempts(r["attempts"].as<int>());
      n.set_last_error(r["last_error"].as<std::string>());
      n.set_idempotency_key(r["idempotency_key"].as<std::string>());
      n.mutable_created_at()->set_seconds(r["created_at"].as<int64_t>());
      if (!r["sent_at"].is_null()) n.mutable_sent_at()->set_seconds(r["sent_at"].as<int64_t>());
    }
    return absl::OkStatus();
  });
}

absl::Status MonitorStore::RouteIn(pqxx::transaction_base& tx, const std::vector<int64_t>& event_ids,
                                   absl::Duration group_window) {
  // Each rule's definition is parsed once per batch.
  absl::flat_hash_map<std::string, std::pair<int, v1::Rule>> rules;  // code → (revision, definition)
  const double now = Now();
  for (const auto& r : tx.exec_params(RaisedEventsSql(), NumberArray(event_ids))) {
    const std::string code = r["rule_code"].as<std::string>();
    const int revision = r["revision"].as<int>();
    auto it = rules.find(code);
    if (it == rules.end() || it->second.first != revision) {
      v1::Rule rule;
      rule.ParseFromString(pqxx::binarystring(r["definition"]).str());
      it = rules.insert_or_assign(code, std::make_pair(revision, std::move(rule))).first;
    }
    if (!NotifiesAt(it->second.second, r["level"].as<int>())) continue;
    tx.exec_params(RouteEventSql(), r["id"].as<int64_t>(), IdempotencyPrefix(), absl::ToDoubleSeconds(group_window),
                   now);
  }
  return absl::OkStatus();
}

absl::StatusOr<bool> MonitorStore::RouteRaisedEvents(int batch, absl::Duration group_window) {
  bool took = false;
  AW_RETURN_IF_ERROR(pool_->Run([&](pqxx::connection& c) -> absl::Status {
    pqxx::work tx(c);
    std::vector<int64_t> raised;
    for (const auto& r : tx.exec_params(kTakeRaisedSql, batch)) raised.push_back(r["event_id"].as<int64_t>());
    if (raised.empty()) return absl::OkStatus();
    took = true;
    AW_RETURN_IF_ERROR(RouteIn(tx, raised, group_window));
    tx.commit();
    return absl::OkStatus();
  }));
  return took;
}

absl::Status MonitorStore::QueueRepeats(absl::Duration repeat, absl::Duration group_window) {
  return pool_->Run([&](pqxx::connection& c) -> absl::Status {
    pqxx::work tx(c);
    std::vector<int64_t> repeats;
    for (const auto& r : tx.exec_params(RepeatsSql(), Now(), absl::ToDoubleSeconds(repeat))) {
      repeats.push_back(r["id"].as<int64_t>());
    }
    if (!repeats.empty()) AW_RETURN_IF_ERROR(RouteIn(tx, repeats, group_window));
    tx.commit();
    return absl::OkStatus();
  });
}

absl::StatusOr<Delivery> MonitorStore::DeliverNext(
    const std::function<absl::Status(const v1::Notification&, const std::vector<NotifiedEvent>&)>& deliver,
    const Backoff& backoff, int max_attempts) {
  Delivery outcome = Delivery::kNone;
  AW_RETURN_IF_ERROR(pool_->Run([&](pqxx::connection& c) -> absl::Status {
    pqxx::work tx(c);
    const double now = Now();
    const pqxx::result r = tx.exec_params(ClaimNotificationSql(), now);
    if (r.empty()) return absl::OkStatus();
    v1::Notification message;
    message.set_id(r[0]["id"].as<int64_t>());
    message.set_channel(r[0]["channel"].as<std::string>());
    message.set_recipient(r[0]["recipient"].as<std::string>());
    message.set_unit_code(r[0]["unit_code"].as<std::string>());
    message.set_idempotency_key(r[0]["idempotency_key"].as<std::string>());
    const std::vector<int64_t> ids = ParseIds(r[0]["event_ids"].as<std::string>());
    for (int64_t id : ids) message.add_event_ids(id);
    const int attempts = r[0]["attempts"].as<int>() + 1;
    message.set_attempts(attempts);
    std::vector<NotifiedEvent> events;
    for (const auto& e : tx.exec_params(kNotifiedEventsSql, NumberArray(ids))) {
      events.push_back({e["id"].as<int64_t>(), e["rule_code"].as<std::string>(), e["period_key"].as<std::string>(),
                        e["message"].as<std::string>(), e["level"].as<int>()});
    }
    const std::string text = NotificationText(message.unit_code(), events);
    const absl::Status delivered = deliver(message, events);
    if (delivered.ok()) {
      tx.exec_params(SentSql(), message.id(), attempts, text, now);
      tx.exec_params(kEventsNotifiedSql, NumberArray(ids), now);
      outcome = Delivery::kSent;
    } else if (attempts >= max_attempts) {
      tx.exec_params(GaveUpSql(), message.id(), attempts, text, std::string(delivered.message()));
      outcome = Delivery::kFailed;
    } else {
      tx.exec_params(RetrySql(), message.id(), attempts, text, std::string(delivered.message()),
                     now + absl::ToDoubleSeconds(backoff.After(attempts)));
      outcome = Delivery::kRetrying;
    }
    tx.commit();
    return absl::OkStatus();
  }));
  return outcome;
}

}  // namespace aw::monitor
