#include "services/scoring/scoring_store.h"

#include <pqxx/pqxx>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/pg_arrays.h"
#include "common/pg_rows.h"
#include "common/status.h"

namespace aw::scoring {
namespace {

using db::ExactText;
using db::FromEpoch;
using db::ParseTextArray;
using db::SetTimestamp;
using db::TextArray;

using db::Bytes;
using db::Epoch;

// --- Schemes -----------------------------------------------------------------------------------

constexpr char kLatestSchemeVersionSql[] =
    "SELECT coalesce(max(version), 0) AS version FROM schemes WHERE year = $1";
constexpr char kInsertSchemeSql[] = R"sql(
  INSERT INTO schemes (year, version, scheme, created_by, created_at, reason)
  VALUES ($1, $2, $3, $4, to_timestamp($5), $6))sql";
// A scheduled evaluation; an existing one not yet leased takes the new due time.
constexpr char kScheduleSql[] = R"sql(
  INSERT INTO pending (period_key, trigger, period_type, due_at)
  VALUES ($1, $2, $3, to_timestamp($4))
  ON CONFLICT (period_key, trigger) DO UPDATE SET due_at = EXCLUDED.due_at
    WHERE pending.lease_until IS NULL)sql";
constexpr char kSchemeSql[] = R"sql(
  SELECT s.scheme, s.version, s.created_by, extract(epoch FROM s.created_at)::float8 AS created_at, s.reason,
         first.created_by AS first_by, extract(epoch FROM first.created_at)::float8 AS first_at
  FROM schemes s JOIN schemes first ON first.year = s.year AND first.version = 1
  WHERE s.year = $1 AND ($2 = 0 OR s.version = $2)
  ORDER BY s.version DESC LIMIT 1)sql";
constexpr char kSchemeVersionsSql[] = R"sql(
  SELECT s.scheme, s.version, s.created_by, extract(epoch FROM s.created_at)::float8 AS created_at, s.reason,
         first.created_by AS first_by, extract(epoch FROM first.created_at)::float8 AS first_at
  FROM schemes s JOIN schemes first ON first.year = s.year AND first.version = 1
  WHERE s.year = $1 AND ($2 = 0 OR s.version < $2)
  ORDER BY s.version DESC LIMIT $3)sql";

v1::Scheme SchemeOf(const pqxx::row& r) {
  v1::Scheme s;
  s.ParseFromString(Bytes(r["scheme"]));
  v1::AuditInfo* a = s.mutable_audit();
  a->set_version(r["version"].as<int64_t>());
  a->set_created_by(r["first_by"].as<std::string>());
  SetTimestamp(r["first_at"].as<double>(), a->mutable_created_at());
  a->set_updated_by(r["created_by"].as<std::string>());
  SetTimestamp(r["created_at"].as<double>(), a->mutable_updated_at());
  a->set_reason(r["reason"].as<std::string>());
  return s;
}

// --- Selections --------------------------------------------------------------------------------

constexpr char kSelectionVersionSql[] =
    "SELECT version FROM selections WHERE year = $1 AND unit_code = $2 FOR UPDATE";
constexpr char kUpsertSelectionSql[] = R"sql(
  INSERT INTO selections (year, unit_code, codes, version, created_by, created_at, updated_by, updated_at, reason)
  VALUES ($1, $2, $3::text[], $4, $5, to_timestamp($6), $5, to_timestamp($6), $7)
  ON CONFLICT (year, unit_code) DO UPDATE
    SET codes = EXCLUDED.codes, version = EXCLUDED.version, updated_by = EXCLUDED.updated_by,
        updated_at = EXCLUDED.updated_at, reason = EXCLUDED.reason)sql";
constexpr char kSelectionHistorySql[] = R"sql(
  INSERT INTO selection_history (year, unit_code, version, codes, changed_by, changed_at, reason)
  VALUES ($1, $2, $3, $4::text[], $5, to_timestamp($6), $7))sql";
constexpr char kSelectionSql[] = R"sql(
  SELECT year, unit_code, codes, version, created_by, extract(epoch FROM created_at)::float8 AS created_at,
         updated_by, extract(epoch FROM updated_at)::float8 AS updated_at, reason
  FROM selections WHERE year = $1 AND unit_code = $2)sql";
constexpr char kSelectionsSql[] =
    "SELECT unit_code, codes FROM selections WHERE year = $1 AND cardinality(codes) > 0";

// --- Bonuses -----------------------------------------------------------------------------------

constexpr char kBonusColumns[] = R"sql(id, unit_code, period_type, period_key, points, reason, approved_by,
  extract(epoch FROM approved_at)::float8 AS approved_at)sql";
constexpr char kBonusByKeySql[] = "SELECT request, id FROM bonuses WHERE approved_by = $1 AND idempotency_key = $2";
constexpr char kInsertBonusSql[] = R"sql(
  INSERT INTO bonuses (unit_code, period_type, period_key, period_first, period_last, points, reason, approved_by,
                       approved_at, idempotency_key, request)
  VALUES ($1, $2, $3, $4::date, $5::date, $6, $7, $8, to_timestamp($9), $10, $11)
  ON CONFLICT (approved_by, idempotency_key) DO NOTHING
  RETURNING id)sql";

v1::Bonus BonusOf(const pqxx::row& r) {
  v1::Bonus b;
  b.set_id(r["id"].as<int64_t>());
  b.set_unit_code(r["unit_code"].as<std::string>());
  b.mutable_period()->set_type(static_cast<v1::PeriodType>(r["period_type"].as<int>()));
  b.mutable_period()->set_key(r["period_key"].as<std::string>());
  b.set_points(r["points"].as<double>());
  b.set_reason(r["reason"].as<std::string>());
  b.set_approved_by(r["approved_by"].as<std::string>());
  SetTimestamp(r["approved_at"].as<double>(), b.mutable_approved_at());
  return b;
}

// --- Runs --------------------------------------------------------------------------------------

constexpr char kRunColumns[] = R"sql(id, period_type, period_key, scheme_year, scheme_version, trigger, requested_by,
  extract(epoch FROM started_at)::float8 AS started_at, extract(epoch FROM finished_at)::float8 AS finished_at,
  published, extract(epoch FROM published_at)::float8 AS published_at, coalesce(published_by, '') AS published_by,
  units, readings, deductions, missing_values, inputs_digest, results_digest, readings_max_seq)sql";
constexpr char kInsertRunSql[] = R"sql(
  INSERT INTO runs (period_type, period_key, scheme_year, scheme_version, trigger, requested_by, started_at,
                    finished_at, units, readings, deductions, missing_values, inputs_digest, results_digest,
                    readings_max_seq)
  VALUES ($1, $2, $3, $4, $5, $6, to_timestamp($7), to_timestamp($8), $9, $10, $11, $12, $13, $14, $15)
  RETURNING id)sql";
constexpr char kHasPublishedSql[] = "SELECT id FROM runs WHERE period_key = $1 AND published FOR UPDATE";
constexpr char kUnpublishSql[] =
    "UPDATE runs SET published = false, published_at = NULL, published_by = NULL WHERE id = $1";
constexpr char kPublishSql[] =
    "UPDATE runs SET published = true, published_at = to_timestamp($2), published_by = $3 WHERE id = $1";
constexpr char kPublicationSql[] = R"sql(
  INSERT INTO publications (period_key, run_id, published_by, published_at, reason)
  VALUES ($1, $2, $3, to_timestamp($4), $5))sql";
constexpr char kEnqueueOutboxSql[] = R"sql(
  INSERT INTO outbox (run_id, created_at, next_attempt_at) VALUES ($1, to_timestamp($2), to_timestamp($2))
  ON CONFLICT (run_id) DO NOTHING)sql";
// The row ends with the run unless it was touched again meanwhile; then it
// stays, due again, unleased.
constexpr char kEndDueSql[] = "DELETE FROM pending WHERE period_key = $1 AND trigger = $2 AND generation = $3";
constexpr char kReleaseDueSql[] =
    "UPDATE pending SET lease_until = NULL, attempts = 0, last_error = NULL WHERE period_key = $1 AND trigger = $2";
constexpr char kRunOfPeriodSql[] = R"sql(
  SELECT id FROM runs WHERE period_key = $1 ORDER BY published DESC, id DESC LIMIT 1)sql";
constexpr char kBreakdownSql[] = R"sql(
  SELECT u.breakdown, r.published FROM run_units u JOIN runs r ON r.id = u.run_id
  WHERE u.run_id = $1 AND u.unit_code = $2)sql";
constexpr char kFigureColumns[] = R"sql(u.unit_code, u.parent_code, u.unit_type, u.composite, u.main_total,
  u.process_total, u.business_total, u.rank, u.run_id)sql";
constexpr char kBelowSql[] = R"sql(
  WITH RECURSIVE below AS (
    SELECT unit_code, 1 AS depth FROM run_units WHERE run_id = $1 AND parent_code = $2
    UNION ALL
    SELECT r.unit_code, b.depth + 1 FROM run_units r JOIN below b ON r.parent_code = b.unit_code
    WHERE r.run_id = $1)
  SELECT )sql";
constexpr char kBelowTailSql[] = R"sql(, '' AS period_key
  FROM below b JOIN run_units u ON u.run_id = $1 AND u.unit_code = b.unit_code
  WHERE ($3 = 0 AND b.depth = 1) OR ($3 <> 0 AND u.unit_type = $3)
  ORDER BY u.unit_code)sql";
constexpr char kFiguresOverSql[] = R"sql(
  SELECT )sql";
constexpr char kFiguresOverTailSql[] = R"sql(, k.key AS period_key
  FROM unnest($2::text[]) WITH ORDINALITY AS k(key, n)
  CROSS JOIN LATERAL (SELECT id FROM runs WHERE period_key = k.key ORDER BY published DESC, id DESC LIMIT 1) run
  JOIN run_units u ON u.run_id = run.id AND u.unit_code = $1
  ORDER BY k.n)sql";

v1::EvaluationRun RunFrom(const pqxx::row& r) {
  v1::EvaluationRun run;
  run.set_id(r["id"].as<int64_t>());
  run.mutable_period()->set_type(static_cast<v1::PeriodType>(r["period_type"].as<int>()));
  run.mutable_period()->set_key(r["period_key"].as<std::string>());
  run.set_scheme_year(r["scheme_year"].as<int32_t>());
  run.set_scheme_version(r["scheme_version"].as<int64_t>());
  run.set_trigger(static_cast<v1::RunTrigger>(r["trigger"].as<int>()));
  run.set_requested_by(r["requested_by"].as<std::string>());
  SetTimestamp(r["started_at"].as<double>(), run.mutable_started_at());
  SetTimestamp(r["finished_at"].as<double>(), run.mutable_finished_at());
  run.set_published(r["published"].as<bool>());
  if (!r["published_at"].is_null()) SetTimestamp(r["published_at"].as<double>(), run.mutable_published_at());
  run.set_published_by(r["published_by"].as<std::string>());
  run.set_units(r["units"].as<int32_t>());
  run.set_readings(r["readings"].as<int32_t>());
  run.set_deductions(r["deductions"].as<int32_t>());
  run.set_missing_values(r["missing_values"].as<int32_t>());
  run.set_inputs_digest(r["inputs_digest"].as<std::string>());
  run.set_results_digest(r["results_digest"].as<std::string>());
  run.set_readings_max_seq(r["readings_max_seq"].as<int64_t>());
  return run;
}

UnitFigures FiguresOf(const pqxx::row& r) {
  UnitFigures f;
  f.unit_code = r["unit_code"].as<std::string>();
  f.parent_code = r["parent_code"].as<std::string>();
  f.unit_type = r["unit_type"].as<int>();
  f.composite = r["composite"].as<double>();
  if (!r["main_total"].is_null()) f.main_total = r["main_total"].as<double>();
  if (!r["process_total"].is_null()) f.process_total = r["process_total"].as<double>();
  f.business_total = r["business_total"].as<double>();
  f.rank = r["rank"].as<int>();
  f.run_id = r["run_id"].as<int64_t>();
  f.period_key = r["period_key"].as<std::string>();
  return f;
}

absl::StatusOr<v1::EvaluationRun> ReadRun(pqxx::transaction_base& tx, int64_t id) {
  const pqxx::result r = tx.exec_params(absl::StrCat("SELECT ", kRunColumns, " FROM runs WHERE id = $1"), id);
  if (r.empty()) return absl::NotFoundError(absl::StrCat("run_id: no run ", id));
  return RunFrom(r[0]);
}

// Marks `run_id` the published run of its period, with its history and outbox rows.
void MarkPublished(pqxx::work& tx, int64_t run_id, const std::string& period_key, std::optional<int64_t> previous,
                   const std::string& actor, const std::string& reason, absl::Time now) {
  if (previous) tx.exec_params(kUnpublishSql, *previous);
  tx.exec_params(kPublishSql, run_id, Epoch(now), actor);
  tx.exec_params(kPublicationSql, period_key, run_id, actor, Epoch(now), reason);
  tx.exec_params(kEnqueueOutboxSql, run_id, Epoch(now));
}

// --- Due evaluations ---------------------------------------------------------------------------

// Periods that have a run become due again; a row already due keeps its
// earlier time and counts one more touch.
constexpr char kMarkDirtySql[] = R"sql(
  INSERT INTO pending (period_key, trigger, period_type, due_at)
  SELECT DISTINCT r.period_key, $2::smallint, r.period_type, to_timestamp($3)
  FROM runs r WHERE r.period_key = ANY($1::text[])
  ON CONFLICT (period_key, trigger) DO UPDATE
    SET generation = pending.generation + 1, due_at = least(pending.due_at, EXCLUDED.due_at)
  RETURNING period_key)sql";
constexpr char kMoveCursorSql[] = R"sql(
  INSERT INTO cursors (name, position) VALUES ($1, $2)
  ON CONFLICT (name) DO UPDATE SET position = greatest(cursors.position, EXCLUDED.position))sql";
constexpr char kCursorSql[] = "SELECT position FROM cursors WHERE name = $1";
constexpr char kClaimDueSql[] = R"sql(
  WITH next AS (
    SELECT period_key, trigger FROM pending
    WHERE due_at <= to_timestamp($1) AND (lease_until IS NULL OR lease_until < to_timestamp($1))
    ORDER BY due_at, period_key, trigger LIMIT 1 FOR UPDATE SKIP LOCKED)
  UPDATE pending p SET lease_until = to_timestamp($1) + make_interval(secs => $2), attempts = p.attempts + 1
  FROM next WHERE p.period_key = next.period_key AND p.trigger = next.trigger
  RETURNING p.period_key, p.trigger, p.period_type, extract(epoch FROM p.due_at)::float8 AS due_at, p.generation)sql";
constexpr char kFailDueSql[] = R"sql(
  UPDATE pending SET lease_until = NULL, due_at = to_timestamp($3), last_error = $4
  WHERE period_key = $1 AND trigger = $2)sql";
constexpr char kListDueSql[] = R"sql(
  SELECT period_key, trigger, period_type, extract(epoch FROM due_at)::float8 AS due_at, generation
  FROM pending ORDER BY due_at, period_key, trigger)sql";

Due DueOf(const pqxx::row& r) {
  return Due{.period_key = r["period_key"].as<std::string>(),
             .period_type = r["period_type"].as<int>(),
             .trigger = static_cast<v1::RunTrigger>(r["trigger"].as<int>()),
             .due_at = FromEpoch(r["due_at"].as<double>()),
             .generation = r["generation"].as<int64_t>()};
}

// --- Outbox --------------------------------------------------------------------------------------

constexpr char kClaimOutgoingSql[] = R"sql(
  WITH next AS (
    SELECT run_id FROM outbox WHERE next_attempt_at <= to_timestamp($1)
    ORDER BY next_attempt_at, run_id LIMIT 1 FOR UPDATE SKIP LOCKED)
  UPDATE outbox o SET next_attempt_at = to_timestamp($1) + make_interval(secs => $2), attempts = o.attempts + 1
  FROM next, runs r WHERE o.run_id = next.run_id AND r.id = o.run_id
  RETURNING o.run_id, r.period_type, r.period_key)sql";
constexpr char kRunFiguresSql[] = R"sql(
  SELECT )sql";
constexpr char kRunFiguresTailSql[] = R"sql(, '' AS period_key FROM run_units u WHERE u.run_id = $1
  ORDER BY u.unit_code)sql";
constexpr char kSentOutgoingSql[] = "DELETE FROM outbox WHERE run_id = $1";
constexpr char kFailOutgoingSql[] =
    "UPDATE outbox SET next_attempt_at = to_timestamp($2), last_error = $3 WHERE run_id = $1";
constexpr char kGaugesSql[] = R"sql(
  SELECT (SELECT count(*) FROM pending) AS due, (SELECT count(*) FROM outbox) AS outbox,
         (SELECT count(*) FROM runs) AS runs)sql";

}  // namespace

// --- Schemes -----------------------------------------------------------------------------------

absl::StatusOr<v1::Scheme> ScoringStore::SaveScheme(const v1::Scheme& scheme, int64_t expected_version,
                                                    const std::string& actor, const std::string& reason,
                                                    absl::Time now, const std::vector<Due>& schedule) {
  AW_RETURN_IF_ERROR(pool_->Run([&](pqxx::connection& c) -> absl::Status {
    pqxx::work tx(c);
    // One writer of a year's schemes at a time.
    tx.exec_params("SELECT pg_advisory_xact_lock(hashtext('scoring.scheme'), $1)", scheme.year());
    const int64_t latest = tx.exec_params1(kLatestSchemeVersionSql, scheme.year())["version"].as<int64_t>();
    if (latest != expected_version) {
      return absl::AbortedError(absl::StrCat("expected_version: the ", scheme.year(), " scheme is at version ",
                                             latest, ", not ", expected_version));
    }
    v1::Scheme stored = scheme;
    stored.clear_audit();
    tx.exec_params(kInsertSchemeSql, scheme.year(), latest + 1, pqxx::binarystring(stored.SerializeAsString()), actor,
                   Epoch(now), reason);
    for (const Due& d : schedule) {
      tx.exec_params(kScheduleSql, d.period_key, static_cast<int>(d.trigger), d.period_type, Epoch(d.due_at));
    }
    tx.commit();
    return absl::OkStatus();
  }));
  return GetScheme(scheme.year(), 0);
}

absl::StatusOr<v1::Scheme> ScoringStore::GetScheme(int32_t year, int64_t version) {
  v1::Scheme out;
  AW_RETURN_IF_ERROR(pool_->Run([&](pqxx::connection& c) -> absl::Status {
    pqxx::read_transaction tx(c);
    const pqxx::result r = tx.exec_params(kSchemeSql, year, version);
    if (r.empty()) {
      return absl::NotFoundError(version == 0 ? absl::StrCat("year: no scheme for ", year)
                                              : absl::StrCat("version: the ", year, " scheme has no version ", version));
    }
    out = SchemeOf(r[0]);
    return absl::OkStatus();
  }));
  return out;
}

absl::StatusOr<std::vector<v1::Scheme>> ScoringStore::ListSchemeVersions(int32_t year, const KeyPage& page) {
  std::vector<v1::Scheme> out;
  AW_RETURN_IF_ERROR(pool_->Run([&](pqxx::connection& c) -> absl::Status {
    pqxx::read_transaction tx(c);
    for (const auto& r : tx.exec_params(kSchemeVersionsSql, year, page.before, page.limit)) out.push_back(SchemeOf(r));
    return absl::OkStatus();
  }));
  return out;
}

// --- Selections --------------------------------------------------------------------------------

absl::StatusOr<v1::UnitSelection> ScoringStore::SetSelection(int32_t year, const std::string& unit,
                                                             const std::vector<std::string>& codes,
                                                             int64_t expected_version, const std::string& actor,
                                                             const std::string& reason, absl::Time now) {
  AW_RETURN_IF_ERROR(pool_->Run([&](pqxx::connection& c) -> absl::Status {
    pqxx::work tx(c);
    tx.exec_params("SELECT pg_advisory_xact_lock(hashtext('scoring.selection'), hashtext($1))", unit);
    const pqxx::result r = tx.exec_params(kSelectionVersionSql, year, unit);
    const int64_t current = r.empty() ? 0 : r[0]["version"].as<int64_t>();
    if (current != expected_version) {
      return absl::AbortedError(absl::StrCat("expected_version: ", unit, "'s ", year, " selection is at version ",
                                             current, ", not ", expected_version));
    }
    const std::string array = TextArray(codes);
    tx.exec_params(kUpsertSelectionSql, year, unit, array, current + 1, actor, Epoch(now), reason);
    tx.exec_params(kSelectionHistorySql, year, unit, current + 1, array, actor, Epoch(now), reason);
    tx.commit();
    return absl::OkStatus();
  }));
  return GetSelection(year, unit);
}

absl::StatusOr<v1::UnitSelection> ScoringStore::GetSelection(int32_t year, const std::string& unit) {
  v1::UnitSelection out;
  AW_RETURN_IF_ERROR(pool_->Run([&](pqxx::connection& c) -> absl::Status {
    pqxx::read_transaction tx(c);
    const pqxx::result r = tx.exec_params(kSelectionSql, year, unit);
    if (r.empty()) return absl::NotFoundError(absl::StrCat("unit_code: ", unit, " has no ", year, " selection"));
    out.set_year(year);
    out.set_unit_code(unit);
    std::vector<std::string> codes;
    ParseTextArray(r[0]["codes"].c_str(), codes);
    for (auto& code : codes) out.add_indicator_codes(std::move(code));
    v1::AuditInfo* a = out.mutable_audit();
    a->set_version(r[0]["version"].as<int64_t>());
    a->set_created_by(r[0]["created_by"].as<std::string>());
    SetTimestamp(r[0]["created_at"].as<double>(), a->mutable_created_at());
    a->set_updated_by(r[0]["updated_by"].as<std::string>());
    SetTimestamp(r[0]["updated_at"].as<double>(), a->mutable_updated_at());
    a->set_reason(r[0]["reason"].as<std::string>());
    return absl::OkStatus();
  }));
  return out;
}

absl::StatusOr<absl::flat_hash_map<std::string, std::vector<std::string>>> ScoringStore::Selections(int32_t year) {
  absl::flat_hash_map<std::string, std::vector<std::string>> out;
  AW_RETURN_IF_ERROR(pool_->Run([&](pqxx::connection& c) -> absl::Status {
    pqxx::read_transaction tx(c);
    for (const auto& r : tx.exec_params(kSelectionsSql, year)) {
      ParseTextArray(r["codes"].c_str(), out[r["unit_code"].as<std::string>()]);
    }
    return absl::OkStatus();
  }));
  return out;
}

// --- Bonuses -----------------------------------------------------------------------------------

absl::StatusOr<v1::Bonus> ScoringStore::GrantBonus(const v1::Bonus& bonus, const PeriodRow& period,
                                                   const std::string& key, const std::string& request,
                                                   absl::Time now) {
  int64_t id = 0;
  AW_RETURN_IF_ERROR(pool_->Run([&](pqxx::connection& c) -> absl::Status {
    pqxx::work tx(c);
    pqxx::result r = tx.exec_params(kInsertBonusSql, bonus.unit_code(), period.type, period.key, period.first_day,
                                    period.last_day, bonus.points(), bonus.reason(), bonus.approved_by(), Epoch(now),
                                    key, pqxx::binarystring(request));
    if (r.empty()) {
      r = tx.exec_params(kBonusByKeySql, bonus.approved_by(), key);
      if (r.empty()) return absl::AbortedError("idempotency_key: a concurrent grant with this key; retry");
      if (Bytes(r[0]["request"]) != request) {
        return absl::InvalidArgumentError(
            absl::StrCat("idempotency_key: ", key, " was used for another request"));
      }
    }
    id = r[0]["id"].as<int64_t>();
    tx.commit();
    return absl::OkStatus();
  }));
  std::vector<v1::Bonus> one;
  AW_RETURN_IF_ERROR(pool_->Run([&](pqxx::connection& c) -> absl::Status {
    pqxx::read_transaction tx(c);
    one.push_back(BonusOf(tx.exec_params1(absl::StrCat("SELECT ", kBonusColumns, " FROM bonuses WHERE id = $1"), id)));
    return absl::OkStatus();
  }));
  return one[0];
}

absl::StatusOr<std::vector<v1::Bonus>> ScoringStore::ListBonuses(const std::vector<std::string>& units,
                                                                  const std::optional<PeriodRow>& period,
                                                                  const KeyPage& page) {
  std::vector<v1::Bonus> out;
  AW_RETURN_IF_ERROR(pool_->Run([&](pqxx::connection& c) -> absl::Status {
    pqxx::read_transaction tx(c);
    const std::string sql = absl::StrCat(
        "SELECT ", kBonusColumns, " FROM bonuses WHERE ($1 = '{}' OR unit_code = ANY($1::text[]))",
        " AND ($2 = '' OR (period_first >= $2::date AND period_last <= $3::date))",
        " AND ($4 = 0 OR id < $4) ORDER BY id DESC LIMIT $5");
    for (const auto& r : tx.exec_params(sql, TextArray(units), period ? period->first_day : "",
                                        period ? period->last_day : "", page.before, page.limit)) {
      out.push_back(BonusOf(r));
    }
    return absl::OkStatus();
  }));
  return out;
}

absl::StatusOr<std::vector<BonusIn>> ScoringStore::BonusesInside(const PeriodRow& period) {
  std::vector<BonusIn> out;
  AW_RETURN_IF_ERROR(pool_->Run([&](pqxx::connection& c) -> absl::Status {
    pqxx::read_transaction tx(c);
    const std::string sql =
        absl::StrCat("SELECT ", kBonusColumns,
                     " FROM bonuses WHERE period_first >= $1::date AND period_last <= $2::date ORDER BY id");
    for (const auto& r : tx.exec_params(sql, period.first_day, period.last_day)) {
      out.push_back(BonusIn{.id = r["id"].as<int64_t>(),
                            .unit = r["unit_code"].as<std::string>(),
                            .points = r["points"].as<double>(),
                            .reason = r["reason"].as<std::string>(),
                            .approved_by = r["approved_by"].as<std::string>()});
    }
    return absl::OkStatus();
  }));
  return out;
}

// --- Runs --------------------------------------------------------------------------------------

absl::StatusOr<v1::EvaluationRun> ScoringStore::SaveRun(const RunRecord& rec, const Outcome& outcome,
                                                        PublishMode mode, const std::optional<Due>& ran) {
  int64_t id = 0;
  AW_RETURN_IF_ERROR(pool_->Run([&](pqxx::connection& c) -> absl::Status {
    pqxx::work tx(c);
    id = tx.exec_params1(kInsertRunSql, rec.period.type, rec.period.key, rec.scheme_year, rec.scheme_version,
                         static_cast<int>(rec.trigger), rec.requested_by, Epoch(rec.started_at),
                         Epoch(rec.finished_at), static_cast<int>(outcome.evaluations.size()), rec.readings,
                         rec.deductions, rec.missing_values, rec.inputs_digest, rec.results_digest,
                         rec.readings_max_seq)["id"]
             .as<int64_t>();
    {
      pqxx::stream_to copy(tx, "run_units",
                           std::vector<std::string>{"run_id", "unit_code", "parent_code", "unit_type", "composite",
                                                    "main_total", "process_total", "business_total", "rank",
                                                    "breakdown"});
      std::string bytes, hex;
      for (const v1::Evaluation& e : outcome.evaluations) {
        e.SerializeToString(&bytes);
        // bytea in COPY's text form: "\x" and hex digits (stream_to escapes the backslash).
        hex = absl::StrCat("\\x", absl::BytesToHexString(bytes));
        std::optional<std::string> main, process;
        if (e.main().present()) main = ExactText(e.main().total());
        if (e.process().present()) process = ExactText(e.process().total());
        copy << std::make_tuple(id, e.unit_code(), e.parent_code(), static_cast<int>(e.unit_type()),
                                ExactText(e.composite()), main, process, ExactText(e.business().total()), e.rank(),
                                hex);
      }
      copy.complete();
    }
    const pqxx::result published = tx.exec_params(kHasPublishedSql, rec.period.key);
    const std::optional<int64_t> previous =
        published.empty() ? std::nullopt : std::optional<int64_t>(published[0]["id"].as<int64_t>());
    if (mode == PublishMode::kYes || (mode == PublishMode::kIfNonePublished && !previous)) {
      MarkPublished(tx, id, rec.period.key, previous, rec.requested_by,
                    mode == PublishMode::kYes ? "published with the run" : "scheduled evaluation", rec.finished_at);
    }
    if (ran) {
      if (tx.exec_params(kEndDueSql, ran->period_key, static_cast<int>(ran->trigger), ran->generation).affected_rows() ==
          0) {
        tx.exec_params(kReleaseDueSql, ran->period_key, static_cast<int>(ran->trigger));
      }
    }
    tx.commit();
    return absl::OkStatus();
  }));
  return GetRun(id);
}

absl::StatusOr<v1::EvaluationRun> ScoringStore::Publish(int64_t run_id, const std::string& actor,
                                                        const std::string& reason, absl::Time now) {
  AW_RETURN_IF_ERROR(pool_->Run([&](pqxx::connection& c) -> absl::Status {
    pqxx::work tx(c);
    AW_ASSIGN_OR_RETURN(const v1::EvaluationRun run, ReadRun(tx, run_id));
    if (run.published()) return absl::OkStatus();  // already: publishing again changes nothing
    const pqxx::result published = tx.exec_params(kHasPublishedSql, run.period().key());
    std::optional<int64_t> previous;
    if (!published.empty()) {
      previous = published[0]["id"].as<int64_t>();
      if (reason.empty()) {
        return absl::FailedPreconditionError(absl::StrCat("reason: required, ", run.period().key(),
                                                          " already has the published run ", *previous));
      }
    }
    MarkPublished(tx, run_id, run.period().key(), previous, actor, reason, now);
    tx.commit();
    return absl::OkStatus();
  }));
  return GetRun(run_id);
}

absl::StatusOr<v1::EvaluationRun> ScoringStore::GetRun(int64_t run_id) {
  v1::EvaluationRun out;
  AW_RETURN_IF_ERROR(pool_->Run([&](pqxx::connection& c) -> absl::Status {
    pqxx::read_transaction tx(c);
    AW_ASSIGN_OR_RETURN(out, ReadRun(tx, run_id));
    return absl::OkStatus();
  }));
  return out;
}

absl::StatusOr<std::vector<v1::EvaluationRun>> ScoringStore::ListRuns(const std::string& period_key,
                                                                      const KeyPage& page) {
  std::vector<v1::EvaluationRun> out;
  AW_RETURN_IF_ERROR(pool_->Run([&](pqxx::connection& c) -> absl::Status {
    pqxx::read_transaction tx(c);
    const std::string sql = absl::StrCat("SELECT ", kRunColumns,
                                         " FROM runs WHERE ($1 = '' OR period_key = $1) AND ($2 = 0 OR id < $2)"
                                         " ORDER BY id DESC LIMIT $3");
    for (const auto& r : tx.exec_params(sql, period_key, page.before, page.limit)) out.push_back(RunFrom(r));
    return absl::OkStatus();
  }));
  return out;
}

absl::StatusOr<int64_t> ScoringStore::RunOf(const std::string& period_key) {
  int64_t out = 0;
  AW_RETURN_IF_ERROR(pool_->Run([&](pqxx::connection& c) -> absl::Status {
    pqxx::read_transaction tx(c);
    const pqxx::result r = tx.exec_params(kRunOfPeriodSql, period_key);
    if (!r.empty()) out = r[0]["id"].as<int64_t>();
    return absl::OkStatus();
  }));
  return out;
}

absl::StatusOr<v1::Evaluation> ScoringStore::Breakdown(int64_t run_id, const std::string& unit) {
  v1::Evaluation out;
  AW_RETURN_IF_ERROR(pool_->Run([&](pqxx::connection& c) -> absl::Status {
    pqxx::read_transaction tx(c);
    const pqxx::result r = tx.exec_params(kBreakdownSql, run_id, unit);
    if (r.empty()) return absl::NotFoundError(absl::StrCat("unit_code: run ", run_id, " did not score ", unit));
    if (!out.ParseFromString(Bytes(r[0]["breakdown"]))) return absl::DataLossError("a stored breakdown does not decode");
    out.set_run_id(run_id);
    out.set_published(r[0]["published"].as<bool>());
    return absl::OkStatus();
  }));
  return out;
}

absl::StatusOr<std::vector<UnitFigures>> ScoringStore::Below(int64_t run_id, const std::string& parent,
                                                             int unit_type) {
  std::vector<UnitFigures> out;
  AW_RETURN_IF_ERROR(pool_->Run([&](pqxx::connection& c) -> absl::Status {
    pqxx::read_transaction tx(c);
    for (const auto& r : tx.exec_params(absl::StrCat(kBelowSql, kFigureColumns, kBelowTailSql), run_id, parent,
                                        unit_type)) {
      out.push_back(FiguresOf(r));
    }
    return absl::OkStatus();
  }));
  return out;
}

absl::StatusOr<std::vector<UnitFigures>> ScoringStore::FiguresOver(const std::string& unit,
                                                                   const std::vector<std::string>& keys) {
  std::vector<UnitFigures> out;
  AW_RETURN_IF_ERROR(pool_->Run([&](pqxx::connection& c) -> absl::Status {
    pqxx::read_transaction tx(c);
    for (const auto& r :
         tx.exec_params(absl::StrCat(kFiguresOverSql, kFigureColumns, kFiguresOverTailSql), unit, TextArray(keys))) {
      out.push_back(FiguresOf(r));
    }
    return absl::OkStatus();
  }));
  return out;
}

// --- Due evaluations ---------------------------------------------------------------------------

absl::StatusOr<int> ScoringStore::MarkDirty(const std::vector<std::string>& keys, v1::RunTrigger trigger,
                                            absl::Time due_at, const std::string& feed, int64_t position) {
  int touched = 0;
  AW_RETURN_IF_ERROR(pool_->Run([&](pqxx::connection& c) -> absl::Status {
    pqxx::work tx(c);
    if (!keys.empty()) {
      touched = static_cast<int>(
          tx.exec_params(kMarkDirtySql, TextArray(keys), static_cast<int>(trigger), Epoch(due_at)).size());
    }
    tx.exec_params(kMoveCursorSql, feed, position);
    tx.commit();
    return absl::OkStatus();
  }));
  return touched;
}

absl::StatusOr<std::optional<Due>> ScoringStore::ClaimDue(absl::Time now, absl::Duration lease) {
  std::optional<Due> out;
  AW_RETURN_IF_ERROR(pool_->Run([&](pqxx::connection& c) -> absl::Status {
    pqxx::work tx(c);
    const pqxx::result r = tx.exec_params(kClaimDueSql, Epoch(now), absl::ToDoubleSeconds(lease));
    if (!r.empty()) out = DueOf(r[0]);
    tx.commit();
    return absl::OkStatus();
  }));
  return out;
}

absl::Status ScoringStore::FailDue(const Due& due, const std::string& error, absl::Time retry_at) {
  return pool_->Run([&](pqxx::connection& c) -> absl::Status {
    pqxx::work tx(c);
    tx.exec_params(kFailDueSql, due.period_key, static_cast<int>(due.trigger), Epoch(retry_at), error);
    tx.commit();
    return absl::OkStatus();
  });
}

absl::StatusOr<std::vector<Due>> ScoringStore::ListDue() {
  std::vector<Due> out;
  AW_RETURN_IF_ERROR(pool_->Run([&](pqxx::connection& c) -> absl::Status {
    pqxx::read_transaction tx(c);
    for (const auto& r : tx.exec(kListDueSql)) out.push_back(DueOf(r));
    return absl::OkStatus();
  }));
  return out;
}

absl::StatusOr<int64_t> ScoringStore::Cursor(const std::string& feed) {
  int64_t out = 0;
  AW_RETURN_IF_ERROR(pool_->Run([&](pqxx::connection& c) -> absl::Status {
    pqxx::read_transaction tx(c);
    const pqxx::result r = tx.exec_params(kCursorSql, feed);
    if (!r.empty()) out = r[0]["position"].as<int64_t>();
    return absl::OkStatus();
  }));
  return out;
}

// --- Outbox --------------------------------------------------------------------------------------

absl::StatusOr<std::optional<ScoringStore::Outgoing>> ScoringStore::ClaimOutgoing(absl::Time now,
                                                                                absl::Duration lease) {
  std::optional<Outgoing> out;
  AW_RETURN_IF_ERROR(pool_->Run([&](pqxx::connection& c) -> absl::Status {
    pqxx::work tx(c);
    const pqxx::result r = tx.exec_params(kClaimOutgoingSql, Epoch(now), absl::ToDoubleSeconds(lease));
    if (r.empty()) return absl::OkStatus();
    Outgoing o;
    o.run_id = r[0]["run_id"].as<int64_t>();
    o.period.type = r[0]["period_type"].as<int>();
    o.period.key = r[0]["period_key"].as<std::string>();
    for (const auto& u : tx.exec_params(absl::StrCat(kRunFiguresSql, kFigureColumns, kRunFiguresTailSql), o.run_id)) {
      o.units.push_back(FiguresOf(u));
    }
    tx.commit();
    out = std::move(o);
    return absl::OkStatus();
  }));
  return out;
}

absl::Status ScoringStore::SentOutgoing(int64_t run_id) {
  return pool_->Run([&](pqxx::connection& c) -> absl::Status {
    pqxx::work tx(c);
    tx.exec_params(kSentOutgoingSql, run_id);
    tx.commit();
    return absl::OkStatus();
  });
}

absl::Status ScoringStore::FailOutgoing(int64_t run_id, const std::string& error, absl::Time retry_at) {
  return pool_->Run([&](pqxx::connection& c) -> absl::Status {
    pqxx::work tx(c);
    tx.exec_params(kFailOutgoingSql, run_id, Epoch(retry_at), error);
    tx.commit();
    return absl::OkStatus();
  });
}

absl::StatusOr<ScoringStore::Gauges> ScoringStore::ReadGauges() {
  Gauges g;
  AW_RETURN_IF_ERROR(pool_->Run([&](pqxx::connection& c) -> absl::Status {
    pqxx::read_transaction tx(c);
    const pqxx::row r = tx.exec1(kGaugesSql);
    g.due = r["due"].as<int64_t>();
    g.outbox = r["outbox"].as<int64_t>();
    g.runs = r["runs"].as<int64_t>();
    return absl::OkStatus();
  }));
  return g;
}

}  // namespace aw::scoring
