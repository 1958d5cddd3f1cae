#include "services/monitor/monitor_store.h"

#include <tuple>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "common/period.h"
#include "common/pg_arrays.h"
#include "common/status.h"

namespace aw::monitor {
namespace {

using db::ExactText;
using db::NumberArray;
using db::TextArray;

constexpr char kEventColumns[] = R"sql(
  id, rule_code, theme_code, unit_code, period_key, indicator_code, level, state, observed, threshold,
  message, extract(epoch FROM opened_at)::float8, extract(epoch FROM updated_at)::float8,
  extract(epoch FROM resolved_at)::float8, seq, cause_seq)sql";

constexpr char kOpenEventSql[] = R"sql(
INSERT INTO events (rule_code, theme_code, unit_code, period_key, indicator_code, level, state, observed,
                    threshold, message, seq, cause_seq)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, next_event_seq(), $11) RETURNING id)sql";
// Escalation asks for a new acknowledgement; suppressed events stay suppressed.
// Event changes are numbered under the lock next_event_seq() takes (see
// 0002_rules_events.sql); Apply takes it once and numbers its rows directly.
constexpr int64_t kEventSeqLock = 443438851;

// One round of event changes (no key twice) in one statement: opens insert,
// level changes and resolutions update the unresolved event of their key, each
// with its history row; opens and escalations of open events are queued for
// notification. Returns the level of each event it resolved.
constexpr char kApplySql[] = R"sql(
WITH input AS (
  SELECT * FROM unnest($1::smallint[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::int[],
                       $8::smallint[], $9::float8[], $10::float8[], $11::text[], $12::bigint[], $13::bool[])
    WITH ORDINALITY AS i (change, rule_code, theme_code, unit_code, period_key, indicator_code, level, state,
                          observed, threshold, message, cause_seq, keep_observed, n)
), opened AS (
  INSERT INTO events (rule_code, theme_code, unit_code, period_key, indicator_code, level, state, observed,
                      threshold, message, seq, cause_seq)
  SELECT rule_code, theme_code, unit_code, period_key, indicator_code, level, state, observed, threshold, message,
         nextval('event_seqs'), cause_seq
  FROM input WHERE change = 1 ORDER BY n
  RETURNING id, level, state, observed, message
), changed AS (
  UPDATE events e SET
    level = CASE WHEN i.change = 4 THEN e.level ELSE i.level END,
    state = CASE WHEN i.change = 4 THEN 4 WHEN i.change = 2 AND e.state = 2 THEN 1 ELSE e.state END,
    observed = CASE WHEN i.keep_observed THEN e.observed ELSE i.observed END,
    threshold = CASE WHEN i.change = 4 THEN e.threshold ELSE i.threshold END,
    message = i.message, cause_seq = i.cause_seq,
    resolved_at = CASE WHEN i.change = 4 THEN clock_timestamp() ELSE e.resolved_at END,
    updated_at = clock_timestamp(), seq = nextval('event_seqs')
  FROM input i
  WHERE i.change IN (2, 3, 4) AND e.rule_code = i.rule_code AND e.unit_code = i.unit_code
    AND e.period_key = i.period_key AND e.state <> 4
  RETURNING e.id, e.level, e.state, e.observed, e.message, i.change
), history AS (
  INSERT INTO event_history (event_id, actor, change, level, state, value, comment)
  SELECT id, 'system', CASE WHEN state = 3 THEN 'suppressed' ELSE 'opened' END, level, state, observed, message
  FROM opened
  UNION ALL
  SELECT id, 'system', CASE change WHEN 2 THEN 'escalated' WHEN 3 THEN 'de-escalated' ELSE 'resolved' END,
         level, state, observed, message
  FROM changed
), queued AS (
  INSERT INTO notify_queue (event_id)
  SELECT id FROM opened WHERE state = 1
  UNION ALL
  SELECT id FROM changed WHERE change = 2 AND state = 1
  ON CONFLICT DO NOTHING
)
SELECT level FROM changed WHERE change = 4)sql";
constexpr char kApplyStatement[] = "monitor_apply_events";

constexpr char kHistorySql[] = R"sql(
INSERT INTO event_history (event_id, actor, change, level, state, value, comment)
VALUES ($1, $2, $3, $4, $5, $6, $7))sql";

constexpr char kRuleColumns[] = R"sql(
  r.definition, r.enabled, r.revision, extract(epoch FROM r.updated_at)::float8,
  v.actor, v.reason, f.actor, extract(epoch FROM f.recorded_at)::float8)sql";

v1::WarningEvent EventFromRow(const pqxx::row& r) {
  v1::WarningEvent e;
  e.set_id(r[0].as<int64_t>());
  e.set_rule_code(r[1].as<std::string>());
  e.set_theme_code(r[2].as<std::string>());
  e.set_unit_code(r[3].as<std::string>());
  const std::string key = r[4].as<std::string>();
  e.mutable_period()->set_key(key);
  if (auto p = Period::Parse(key); p.ok()) e.mutable_period()->set_type(static_cast<v1::PeriodType>(p->type()));
  e.set_indicator_code(r[5].as<std::string>());
  e.set_level(r[6].as<int>());
  e.set_state(static_cast<v1::EventState>(r[7].as<int>()));
  e.set_observed(r[8].as<double>());
  e.set_threshold(r[9].as<double>());
  e.set_message(r[10].as<std::string>());
  db::SetTimestamp(r[11].as<double>(), e.mutable_opened_at());
  db::SetTimestamp(r[12].as<double>(), e.mutable_updated_at());
  if (!r[13].is_null()) db::SetTimestamp(r[13].as<double>(), e.mutable_resolved_at());
  e.set_seq(r[14].as<int64_t>());
  e.set_cause_seq(r[15].as<int64_t>());
  return e;
}

v1::Rule RuleFromRow(const pqxx::row& r) {
  v1::Rule rule;
  rule.ParseFromString(pqxx::binarystring(r[0]).str());
  rule.set_enabled(r[1].as<bool>());
  auto* audit = rule.mutable_audit();
  audit->set_version(r[2].as<int64_t>());
  db::SetTimestamp(r[3].as<double>(), audit->mutable_updated_at());
  audit->set_updated_by(r[4].as<std::string>());
  audit->set_reason(r[5].as<std::string>());
  audit->set_created_by(r[6].as<std::string>());
  db::SetTimestamp(r[7].as<double>(), audit->mutable_created_at());
  return rule;
}

v1::WhitelistEntry WhitelistFromRow(const pqxx::row& r) {
  v1::WhitelistEntry w;
  w.set_id(r[0].as<int64_t>());
  w.set_rule_code(r[1].as<std::string>());
  w.set_theme_code(r[2].as<std::string>());
  w.mutable_scope()->set_unit_code(r[3].as<std::string>());
  w.mutable_scope()->set_include_descendants(r[4].as<bool>());
  w.set_subject(r[5].as<std::string>());
  w.set_reason(r[6].as<std::string>());
  db::SetTimestamp(r[7].as<double>(), w.mutable_frozen_from());
  db::SetTimestamp(r[8].as<double>(), w.mutable_frozen_until());
  w.set_revoked(r[9].as<bool>());
  w.set_active(r[10].as<bool>());
  auto* audit = w.mutable_audit();
  audit->set_created_by(r[11].as<std::string>());
  db::SetTimestamp(r[12].as<double>(), audit->mutable_created_at());
  audit->set_updated_by(r[13].as<std::string>());
  audit->set_reason(r[14].as<std::string>());
  return w;
}

constexpr char kWhitelistColumns[] = R"sql(
  id, rule_code, theme_code, unit_code, include_descendants, subject, reason,
  extract(epoch FROM frozen_from)::float8, extract(epoch FROM frozen_until)::float8, revoked,
  NOT revoked AND frozen_until > now() AND frozen_from <= now(), created_by,
  extract(epoch FROM created_at)::float8, revoked_by, revoke_reason)sql";

}  // namespace

absl::StatusOr<v1::Theme> MonitorStore::UpsertTheme(const v1::UpsertThemeRequest& req) {
  const v1::Theme& t = req.theme();
  if (t.code().empty() || t.code().size() > 64) return InvalidField("theme.code", "required, at most 64 characters");
  if (t.name().empty()) return InvalidField("theme.name", "required");
  if (t.category() == v1::BUSINESS_CATEGORY_UNSPECIFIED || !v1::BusinessCategory_IsValid(t.category())) {
    return InvalidField("theme.category", "must be set");
  }
  if (req.actor().empty()) return InvalidField("actor", "required");
  v1::Theme out;
  AW_RETURN_IF_ERROR(pool_->Run([&](pqxx::connection& c) {
    pqxx::work tx(c);
    // A theme saved as it is keeps its revision.
    const pqxx::row r = tx.exec_params1(R"sql(
      INSERT INTO themes (code, name, category, description, actor, reason) VALUES ($1, $2, $3, $4, $5, $6)
      ON CONFLICT (code) DO UPDATE SET name = excluded.name, category = excluded.category,
        description = excluded.description, actor = excluded.actor, reason = excluded.reason,
        revision = themes.revision + CASE WHEN (themes.name, themes.category, themes.description)
                   IS DISTINCT FROM (excluded.name, excluded.category, excluded.description) THEN 1 ELSE 0 END,
        updated_at = now()
      RETURNING revision, extract(epoch FROM created_at)::float8, extract(epoch FROM updated_at)::float8)sql",
                                        t.code(), t.name(), static_cast<int>(t.category()), t.description(),
                                        req.actor(), req.reason());
    tx.commit();
    out = t;
    out.mutable_audit()->set_version(r[0].as<int64_t>());
    db::SetTimestamp(r[1].as<double>(), out.mutable_audit()->mutable_created_at());
    db::SetTimestamp(r[2].as<double>(), out.mutable_audit()->mutable_updated_at());
    out.mutable_audit()->set_updated_by(req.actor());
    out.mutable_audit()->set_reason(req.reason());
    return absl::OkStatus();
  }));
  return out;
}

absl::Status MonitorStore::ListThemes(int64_t offset, int limit, std::vector<v1::Theme>* out, int64_t* total) {
  return pool_->Run([&](pqxx::connection& c) {
    pqxx::read_transaction tx(c);
    *total = tx.exec1("SELECT count(*) FROM themes")[0].as<int64_t>();
    for (const auto& r : tx.exec_params(
             "SELECT code, name, category, description, revision, actor, reason FROM themes ORDER BY code "
             "OFFSET $1 LIMIT $2",
             offset, limit)) {
      v1::Theme& t = out->emplace_back();
      t.set_code(r[0].as<std::string>());
      t.set_name(r[1].as<std::string>());
      t.set_category(static_cast<v1::BusinessCategory>(r[2].as<int>()));
      t.set_description(r[3].as<std::string>());
      t.mutable_audit()->set_version(r[4].as<int64_t>());
      t.mutable_audit()->set_updated_by(r[5].as<std::string>());
      t.mutable_audit()->set_reason(r[6].as<std::string>());
    }
    return absl::OkStatus();
  });
}

absl::StatusOr<bool> MonitorStore::ThemeExists(const std::string& code) {
  bool exists = false;
  AW_RETURN_IF_ERROR(pool_->Run([&](pqxx::connection& c) {
    pqxx::read_transaction tx(c);
    exists = !tx.exec_params("SELECT 1 FROM themes WHERE code = $1", code).empty();
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
    const pqxx::result current =
        tx.exec_params("SELECT revision, definition, enabled FROM rules WHERE code = $1 FOR UPDATE", rule.code());
    const int64_t revision = current.empty() ? 0 : current[0][0].as<int64_t>();
    if (!current.empty() && pqxx::binarystring(current[0][1]).str() == definition.SerializeAsString() &&
        current[0][2].as<bool>() == rule.enabled()) {
      return absl::OkStatus();  // saving the rule as it is changes nothing
    }
    if (expected_version != 0 && expected_version != revision) {
      return absl::AbortedError(absl::StrCat("expected_version: rule ", rule.code(), " is at version ", revision,
                                             ", not ", expected_version));
    }
    const std::string bytes = definition.SerializeAsString();
    tx.exec_params(R"sql(
      INSERT INTO rules (code, theme_code, kind, enabled, revision, definition) VALUES ($1, $2, $3, $4, $5, $6)
      ON CONFLICT (code) DO UPDATE SET theme_code = excluded.theme_code, kind = excluded.kind,
        enabled = excluded.enabled, revision = excluded.revision, definition = excluded.definition,
        updated_at = now())sql",
                   rule.code(), rule.theme_code(), static_cast<int>(rule.kind()), rule.enabled(), revision + 1,
                   pqxx::binarystring(bytes));
    tx.exec_params("INSERT INTO rule_versions (code, revision, enabled, definition, actor, reason) "
                   "VALUES ($1, $2, $3, $4, $5, $6)",
                   rule.code(), revision + 1, rule.enabled(), pqxx::binarystring(bytes), actor, reason);
    tx.exec("UPDATE rules_state SET version = version + 1");
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
    const pqxx::result r = tx.exec_params(
        absl::StrCat("SELECT ", kRuleColumns, R"sql( FROM rules r
          JOIN rule_versions v ON v.code = r.code AND v.revision = r.revision
          JOIN rule_versions f ON f.code = r.code AND f.revision = 1 WHERE r.code = $1)sql"),
        code);
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
    for (const auto& r : tx.exec_params(R"sql(
        SELECT definition, enabled, revision, extract(epoch FROM recorded_at)::float8, actor, reason
        FROM rule_versions WHERE code = $1 ORDER BY revision)sql",
                                        code)) {
      v1::Rule& rule = out.emplace_back();
      rule.ParseFromString(pqxx::binarystring(r[0]).str());
      rule.set_enabled(r[1].as<bool>());
      rule.mutable_audit()->set_version(r[2].as<int64_t>());
      db::SetTimestamp(r[3].as<double>(), rule.mutable_audit()->mutable_updated_at());
      rule.mutable_audit()->set_updated_by(r[4].as<std::string>());
      rule.mutable_audit()->set_reason(r[5].as<std::string>());
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
    for (const auto& r : tx.exec_params(absl::StrCat("SELECT ", kRuleColumns, R"sql( FROM rules r
          JOIN rule_versions v ON v.code = r.code AND v.revision = r.revision
          JOIN rule_versions f ON f.code = r.code AND f.revision = 1
          WHERE $1 OR r.enabled ORDER BY r.code)sql"),
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
    v = tx.exec1("SELECT version FROM rules_state")[0].as<int64_t>();
    return absl::OkStatus();
  }));
  return v;
}

absl::Status MonitorStore::SetAppliedRulesVersion(int64_t version) {
  return pool_->Run([&](pqxx::connection& c) {
    pqxx::work tx(c);
    tx.exec_params("UPDATE rules_state SET applied_version = greatest(applied_version, $1)", version);
    tx.commit();
    return absl::OkStatus();
  });
}

absl::StatusOr<v1::EvaluatorStatus> MonitorStore::EvaluatorStatus(const std::string& feed) {
  v1::EvaluatorStatus out;
  AW_RETURN_IF_ERROR(pool_->Run([&](pqxx::connection& c) {
    pqxx::read_transaction tx(c);
    const pqxx::row r = tx.exec_params1(R"sql(
      SELECT s.version, s.applied_version, coalesce(f.position, 0), extract(epoch FROM f.updated_at)::float8
      FROM rules_state s LEFT JOIN feed_cursors f ON f.feed = $1)sql",
                                        feed);
    out.set_rules_version(r[0].as<int64_t>());
    out.set_rules_version_applied(r[1].as<int64_t>());
    out.set_cursor(r[2].as<int64_t>());
    if (!r[3].is_null()) db::SetTimestamp(r[3].as<double>(), out.mutable_cursor_updated_at());
    return absl::OkStatus();
  }));
  return out;
}

namespace {

// The parameters of kApplySql for one round.
struct ApplyColumns {
  std::vector<std::string> change, rule, theme, unit, period, indicator, level, state, observed, threshold, message,
      cause, keep_observed;

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
  }
  bool empty() const { return change.empty(); }
};

}  // namespace

absl::StatusOr<std::vector<int>> MonitorStore::Apply(absl::Span<const EventUpdate> updates,
                                                     const std::string& feed, int64_t from, int64_t to) {
  std::vector<int> resolved;
  AW_RETURN_IF_ERROR(pool_->Run([&](pqxx::connection& c) -> absl::Status {
    pqxx::work tx(c);
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
  tx.conn().prepare(kApplyStatement, kApplySql);  // once per connection; planned once per session
  if (!updates.empty()) tx.exec_params("SELECT pg_advisory_xact_lock($1)", kEventSeqLock);
  // Rounds in which no key comes twice, applied in order: a later change of a
  // key sees the earlier one.
  size_t start = 0;
  while (start < updates.size()) {
    absl::flat_hash_set<std::tuple<absl::string_view, absl::string_view, absl::string_view>> keys;
    ApplyColumns round;
    size_t end = start;
    for (; end < updates.size(); ++end) {
      const EventUpdate& u = updates[end];
      if (u.change == Change::kNone) continue;
      if (!keys.emplace(u.rule_code, u.unit_code, u.period_key).second) break;
      round.Add(u);
    }
    start = end;
    if (round.empty()) continue;
    const pqxx::result levels =
        tx.exec_prepared(kApplyStatement, NumberArray(round.change), TextArray(round.rule), TextArray(round.theme),
                         TextArray(round.unit), TextArray(round.period), TextArray(round.indicator),
                         NumberArray(round.level), NumberArray(round.state), NumberArray(round.observed),
                         NumberArray(round.threshold), TextArray(round.message), NumberArray(round.cause),
                         NumberArray(round.keep_observed));
    for (const auto& row : levels) resolved.push_back(row[0].as<int>());
  }
  if (!feed.empty()) {
    const pqxx::result moved = tx.exec_params(R"sql(
      INSERT INTO feed_cursors (feed, position) VALUES ($1, $3)
      ON CONFLICT (feed) DO UPDATE SET position = excluded.position, updated_at = now()
      WHERE feed_cursors.position = $2 RETURNING 1)sql",
                                              feed, from, to);
    if (moved.empty()) {
      return absl::AbortedError(absl::StrCat("cursor of ", feed, " moved elsewhere; another evaluator runs"));
    }
  }
  return resolved;
}

absl::Status MonitorStore::ResolveRulesOtherThan(const std::vector<std::string>& live, const std::string& message) {
  return pool_->Run([&](pqxx::connection& c) {
    pqxx::work tx(c);
    tx.exec_params(R"sql(
      WITH resolved AS (
        UPDATE events SET state = 4, message = $2, resolved_at = clock_timestamp(), updated_at = clock_timestamp(),
          seq = next_event_seq()
        WHERE state <> 4 AND NOT (rule_code = ANY ($1::text[]))
        RETURNING id, level, observed
      )
      INSERT INTO event_history (event_id, actor, change, level, state, value, comment)
      SELECT id, 'system', 'resolved', level, 4, observed, $2 FROM resolved)sql",
                   TextArray(live), message);
    tx.commit();
    return absl::OkStatus();
  });
}

absl::StatusOr<std::vector<v1::WarningEvent>> MonitorStore::ReopenExpired(
    const std::function<bool(const v1::WarningEvent&, const v1::WhitelistEntry&)>& matches,
    const std::function<bool(const v1::WarningEvent&)>& still_whitelisted) {
  std::vector<v1::WarningEvent> reopened;
  AW_RETURN_IF_ERROR(pool_->Run([&](pqxx::connection& c) -> absl::Status {
    reopened.clear();
    pqxx::work tx(c);
    const pqxx::result expired = tx.exec(absl::StrCat(
        "SELECT ", kWhitelistColumns,
        " FROM whitelist WHERE NOT expiry_handled AND frozen_until <= now() FOR UPDATE SKIP LOCKED"));
    if (expired.empty()) return absl::OkStatus();
    std::vector<v1::WhitelistEntry> entries;
    for (const auto& r : expired) entries.push_back(WhitelistFromRow(r));
    for (const auto& r : tx.exec(absl::StrCat("SELECT ", kEventColumns, " FROM events WHERE state = 3 FOR UPDATE"))) {
      v1::WarningEvent e = EventFromRow(r);
      const bool hit = std::any_of(entries.begin(), entries.end(), [&](const auto& w) { return matches(e, w); });
      if (!hit || still_whitelisted(e)) continue;
      tx.exec_params("UPDATE events SET state = 1, updated_at = clock_timestamp(), seq = next_event_seq() WHERE id = $1",
                     e.id());
      tx.exec_params(kHistorySql, e.id(), "system", "reopened", e.level(), static_cast<int>(v1::EVENT_STATE_OPEN),
                     e.observed(), "the whitelist entry expired and the condition still holds");
      tx.exec_params("INSERT INTO notify_queue (event_id) VALUES ($1) ON CONFLICT DO NOTHING", e.id());
      e.set_state(v1::EVENT_STATE_OPEN);
      reopened.push_back(e);
    }
    for (const auto& w : entries) {
      tx.exec_params("UPDATE whitelist SET expiry_handled = true WHERE id = $1", w.id());
    }
    tx.commit();
    return absl::OkStatus();
  }));
  return reopened;
}

absl::StatusOr<int64_t> MonitorStore::Cursor(const std::string& feed) {
  int64_t position = 0;
  AW_RETURN_IF_ERROR(pool_->Run([&](pqxx::connection& c) {
    pqxx::read_transaction tx(c);
    const pqxx::result r = tx.exec_params("SELECT position FROM feed_cursors WHERE feed = $1", feed);
    if (!r.empty()) position = r[0][0].as<int64_t>();
    return absl::OkStatus();
  }));
  return position;
}

absl::StatusOr<std::vector<OpenEventRow>> MonitorStore::OpenEvents(const std::vector<std::string>& rules) {
  std::vector<OpenEventRow> out;
  AW_RETURN_IF_ERROR(pool_->Run([&](pqxx::connection& c) {
    pqxx::read_transaction tx(c);
    for (const auto& r : tx.exec_params(
             "SELECT rule_code, unit_code, period_key, level FROM events WHERE state <> 4 "
             "AND ($1::text[] = '{}' OR rule_code = ANY ($1::text[]))",
             TextArray(rules))) {
      out.push_back({r[0].as<std::string>(), r[1].as<std::string>(), r[2].as<std::string>(),
                     OpenEvent{r[3].as<int>()}});
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
      for (const auto& h : tx.exec_params(R"sql(
          SELECT extract(epoch FROM at)::float8, actor, change, level, state, value, comment
          FROM event_history WHERE event_id = $1 ORDER BY at, ctid)sql",
                                          id)) {
        v1::EventHistoryEntry* e = out.add_history();
        db::SetTimestamp(h[0].as<double>(), e->mutable_at());
        e->set_actor(h[1].as<std::string>());
        e->set_change(h[2].as<std::string>());
        e->set_level(h[3].as<int>());
        e->set_state(static_cast<v1::EventState>(h[4].as<int>()));
        e->set_value(h[5].as<double>());
        e->set_comment(h[6].as<std::string>());
      }
    }
    return absl::OkStatus();
  }));
  return out;
}

absl::Status MonitorStore::ListEvents(const EventFilter& f, std::vector<v1::WarningEvent>* out, int64_t* total) {
  return pool_->Run([&](pqxx::connection& c) {
    pqxx::read_transaction tx(c);
    const std::string where = R"sql(
      WHERE ($1::text[] = '{}' OR unit_code = ANY ($1::text[]))
        AND ($2::int[] = '{}' OR level = ANY ($2::int[]))
        AND ($3::int[] = '{}' OR state = ANY ($3::int[]))
        AND ($4::text[] = '{}' OR theme_code = ANY ($4::text[]))
        AND ($5 = '' OR period_key >= $5) AND ($6 = '' OR period_key <= $6))sql";
    *total = tx.exec_params1("SELECT count(*) FROM events " + where, TextArray(f.unit_codes), NumberArray(f.levels),
                             NumberArray(f.states), TextArray(f.theme_codes), f.first_period, f.last_period)[0]
                 .as<int64_t>();
    for (const auto& r : tx.exec_params(
             absl::StrCat("SELECT ", kEventColumns, " FROM events ", where, " ORDER BY id DESC OFFSET $7 LIMIT $8"),
             TextArray(f.unit_codes), NumberArray(f.levels), NumberArray(f.states), TextArray(f.theme_codes),
             f.first_period, f.last_period, f.offset, f.limit)) {
      out->push_back(EventFromRow(r));
    }
    return absl::OkStatus();
  });
}

absl::StatusOr<v1::WarningEvent> MonitorStore::Acknowledge(int64_t id, const std::string& actor,
                                                           const std::string& comment) {
  if (actor.empty()) return InvalidField("actor", "required");
  AW_RETURN_IF_ERROR(pool_->Run([&](pqxx::connection& c) -> absl::Status {
    pqxx::work tx(c);
    const pqxx::result r = tx.exec_params("SELECT state, level FROM events WHERE id = $1 FOR UPDATE", id);
    if (r.empty()) return absl::NotFoundError(absl::StrCat("id: no event ", id));
    const int state = r[0][0].as<int>();
    if (state == v1::EVENT_STATE_RESOLVED) {
      return absl::FailedPreconditionError(absl::StrCat("event ", id, " is resolved"));
    }
    if (state == v1::EVENT_STATE_ACKNOWLEDGED) return absl::OkStatus();  // already
    tx.exec_params("UPDATE events SET state = 2, updated_at = clock_timestamp(), seq = next_event_seq() "
                   "WHERE id = $1",
                   id);
    tx.exec_params(kHistorySql, id, actor, "acknowledged", r[0][1].as<int>(),
                   static_cast<int>(v1::EVENT_STATE_ACKNOWLEDGED), 0.0, comment);
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
    for (const auto& r : tx.exec_params(R"sql(
        SELECT unit_code, theme_code, period_key, count(*), min(level) FROM events
        WHERE ($1::text[] = '{}' OR unit_code = ANY ($1::text[])) AND period_key = $2
        GROUP BY unit_code, theme_code, period_key ORDER BY unit_code, theme_code)sql",
                                        TextArray(unit_codes), period_key)) {
      v1::AnomalySummaryRow& row = out.emplace_back();
      row.set_unit_code(r[0].as<std::string>());
      row.set_theme_code(r[1].as<std::string>());
      row.mutable_period()->set_key(r[2].as<std::string>());
      if (auto p = Period::Parse(row.period().key()); p.ok()) {
        row.mutable_period()->set_type(static_cast<v1::PeriodType>(p->type()));
      }
      row.set_events(r[3].as<int>());
      row.set_worst_level(r[4].as<int>());
    }
    return absl::OkStatus();
  }));
  return out;
}

absl::StatusOr<v1::WhitelistEntry> MonitorStore::AddWhitelist(const v1::WhitelistEntry& w, const std::string& actor,
                                                             const std::string& request_id) {
  int64_t id = 0;
  AW_RETURN_IF_ERROR(pool_->Run([&](pqxx::connection& c) -> absl::Status {
    pqxx::work tx(c);
    if (!request_id.empty()) {
      const pqxx::result seen = tx.exec_params("SELECT id FROM whitelist WHERE request_id = $1", request_id);
      if (!seen.empty()) {
        id = seen[0][0].as<int64_t>();
        return absl::OkStatus();
      }
    }
    id = tx.exec_params1(R"sql(
      INSERT INTO whitelist (rule_code, theme_code, unit_code, include_descendants, subject, reason, frozen_from,
                             frozen_until, created_by, request_id)
      VALUES ($1, $2, $3, $4, $5, $6, to_timestamp($7), to_timestamp($8), $9, nullif($10, '')) RETURNING id)sql",
                         w.rule_code(), w.theme_code(), w.scope().unit_code(), w.scope().include_descendants(),
                         w.subject(), w.reason(), static_cast<double>(w.frozen_from().seconds()),
                         static_cast<double>(w.frozen_until().seconds()), actor, request_id)[0]
             .as<int64_t>();
    tx.commit();
    return absl::OkStatus();
  }));
  return WhitelistEntry(id);
}

absl::StatusOr<v1::WhitelistEntry> MonitorStore::WhitelistEntry(int64_t id) {
  v1::WhitelistEntry out;
  AW_RETURN_IF_ERROR(pool_->Run([&](pqxx::connection& c) -> absl::Status {
    pqxx::read_transaction tx(c);
    const pqxx::result r =
        tx.exec_params(absl::StrCat("SELECT ", kWhitelistColumns, " FROM whitelist WHERE id = $1"), id);
    if (r.empty()) return absl::NotFoundError(absl::StrCat("id: no whitelist entry ", id));
    out = WhitelistFromRow(r[0]);
    return absl::OkStatus();
  }));
  return out;
}

absl::StatusOr<v1::WhitelistEntry> MonitorStore::RevokeWhitelist(int64_t id, const std::string& actor,
                                                                const std::string& reason) {
  if (actor.empty()) return InvalidField("actor", "required");
  if (reason.empty()) return InvalidField("reason", "say why the entry is revoked");
  AW_RETURN_IF_ERROR(pool_->Run([&](pqxx::connection& c) -> absl::Status {
    pqxx::work tx(c);
    const pqxx::result r = tx.exec_params(
        "UPDATE whitelist SET revoked = true, revoked_by = $2, revoke_reason = $3, revoked_at = now(), "
        "frozen_until = least(frozen_until, greatest(now(), frozen_from + interval '1 second')) "
        "WHERE id = $1 AND NOT revoked RETURNING id",
        id, actor, reason);
    if (r.empty()) {
      if (tx.exec_params("SELECT 1 FROM whitelist WHERE id = $1", id).empty()) {
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
             absl::StrCat("SELECT ", kWhitelistColumns,
                          " FROM whitelist WHERE $1 OR (NOT revoked AND frozen_until > now()) ORDER BY id"),
             include_expired)) {
      out.push_back(WhitelistFromRow(r));
    }
    return absl::OkStatus();
  }));
  return out;
}

absl::Status MonitorStore::ArmTimer(const std::string& rule, const std::string& period_key, absl::Time due) {
  return pool_->Run([&](pqxx::connection& c) {
    pqxx::work tx(c);
    tx.exec_params("INSERT INTO timers (rule_code, period_key, due_at) VALUES ($1, $2, to_timestamp($3)) "
                   "ON CONFLICT DO NOTHING",
                   rule, period_key, absl::ToDoubleSeconds(due - absl::UnixEpoch()));
    tx.commit();
    return absl::OkStatus();
  });
}

absl::StatusOr<std::vector<std::pair<std::string, OpenEvent>>> MonitorStore::OpenEventsOf(
    const std::string& rule, const std::string& period_key) {
  std::vector<std::pair<std::string, OpenEvent>> out;
  AW_RETURN_IF_ERROR(pool_->Run([&](pqxx::connection& c) {
    pqxx::read_transaction tx(c);
    for (const auto& r : tx.exec_params(
             "SELECT unit_code, level FROM events WHERE rule_code = $1 AND period_key = $2 AND state <> 4", rule,
             period_key)) {
      out.emplace_back(r[0].as<std::string>(), OpenEvent{r[1].as<int>()});
    }
    return absl::OkStatus();
  }));
  return out;
}

}  // namespace aw::monitor
