#include "services/ingest/ingest_store.h"

#include <map>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/pg.h"
#include "common/pg_arrays.h"
#include "common/status.h"
#include "common/timestamp.h"

namespace aw::ingest {
namespace {

using db::AppendExact;
using db::FromEpoch;
using db::NumberArray;
using db::ParseNumberArray;
using db::ParseTextArray;
using db::TextArray;

// Advisory lock keys (transaction-level) of schema "ingest".
constexpr int64_t kCatalogueLock = 0x1A6E5701;  // units and indicators change one at a time

// The channel every committed batch is announced on, with its commit_seq.
constexpr char kCommitChannel[] = "auditwatch_ingest_readings";

constexpr char kCatalogueVersionSql[] = "SELECT version FROM catalogue_state";
constexpr char kBumpCatalogueSql[] = "UPDATE catalogue_state SET version = version + 1 RETURNING version";
constexpr char kCatalogueLockSql[] = "SELECT pg_advisory_xact_lock($1)";

constexpr char kLoadUnitsSql[] = R"sql(
SELECT u.id, u.code, u.type, v.revision, v.valid_from::text AS valid_from,
       coalesce(v.valid_to::text, '') AS valid_to, v.name, coalesce(v.parent_id, 0) AS parent_id, v.active,
       v.change, v.actor, v.reason, extract(epoch FROM v.recorded_at)::float8 AS recorded_at
FROM units u JOIN unit_versions v ON v.unit_id = u.id
ORDER BY u.id, v.revision)sql";

constexpr char kLoadIndicatorsSql[] = R"sql(
SELECT i.id, i.code, v.effective_year, v.revision, v.name_zh, v.name_en, v.category, v.unit_of_measure,
       v.kind, v.direction, array_to_string(v.allowed_period_types, ',') AS allowed_period_types,
       v.min_value, v.max_value, array_to_string(v.applicable_unit_types, ',') AS applicable_unit_types,
       v.rollup, v.deadline_days, v.enabled, v.description, v.actor, v.reason,
       extract(epoch FROM v.recorded_at)::float8 AS recorded_at
FROM indicators i JOIN indicator_versions v ON v.indicator_id = i.id
ORDER BY i.id, v.effective_year, v.revision)sql";

constexpr char kInsertUnitSql[] = "INSERT INTO units (code, type) VALUES ($1, $2) RETURNING id";
constexpr char kInsertUnitVersionSql[] = R"sql(
INSERT INTO unit_versions (unit_id, revision, valid_from, name, parent_id, active, change, actor, reason)
VALUES ($1, $2, $3::date, $4, nullif($5, 0), $6, $7, $8, $9))sql";
constexpr char kCloseUnitVersionSql[] =
    "UPDATE unit_versions SET valid_to = $3::date WHERE unit_id = $1 AND revision = $2";

constexpr char kUpsertIndicatorIdSql[] = R"sql(
INSERT INTO indicators (code) VALUES ($1)
ON CONFLICT (code) DO UPDATE SET code = excluded.code RETURNING id)sql";
constexpr char kInsertIndicatorVersionSql[] = R"sql(
INSERT INTO indicator_versions (indicator_id, effective_year, revision, name_zh, name_en, category,
  unit_of_measure, kind, direction, allowed_period_types, min_value, max_value,
  applicable_unit_types, rollup, deadline_days, enabled, description, actor, reason)
SELECT $1, $2, coalesce(max(revision), 0) + 1, $3, $4, $5, $6, $7, $8, $9::smallint[], $10, $11,
       $12::smallint[], $13, $14, $15, $16, $17, $18
FROM indicator_versions WHERE indicator_id = $1 AND effective_year = $2
RETURNING revision)sql";

// Opens a batch in one round trip: was it applied before, the catalogue
// version, and the batch id.
constexpr char kBeginBatchSql[] = R"sql(
SELECT EXISTS (SELECT 1 FROM batches WHERE source = $1 AND client_batch_id = $2) AS seen,
       (SELECT version FROM catalogue_state) AS catalogue_version, nextval('batch_ids') AS batch_id)sql";
// Closes a batch: takes the commit sequence (under the commit lock, held to
// COMMIT), records the batch unless a concurrent copy got there first, and
// announces the commit to the listeners of every replica.
constexpr char kInsertBatchSql[] = R"sql(
WITH inserted AS (
  INSERT INTO batches (id, source, client_batch_id, commit_seq, accepted, rejected, last_index, result,
                       committed_at)
  VALUES ($1, $2, $3, next_commit_seq(), $4, $5, $6, $7, clock_timestamp())
  ON CONFLICT (source, client_batch_id) DO NOTHING
  RETURNING commit_seq, committed_at
)
SELECT commit_seq, extract(epoch FROM committed_at)::float8 AS committed_at,
       pg_notify($8, commit_seq::text) AS announced
FROM inserted)sql";
constexpr char kBatchResultSql[] =
    "SELECT result, commit_seq, last_index FROM batches WHERE source = $1 AND client_batch_id = $2";

// Reading versions of a set of units, with the number of each version;
// $7..$10 the sort key after which to start (NULLs: from the start), $11 how
// many rows at most (NULL: all).
constexpr char kReadVersionsSql[] = R"sql(
SELECT unit_id, indicator_id, period_start::text AS period_start, value, commit_seq, idx, entered_by, reason,
       source, extract(epoch FROM committed_at)::float8 AS committed_at, version, version = versions AS current
FROM (
  SELECT rv.*,
         row_number() OVER w AS version,
         count(*) OVER (PARTITION BY unit_id, indicator_id, period_start) AS versions
  FROM reading_versions rv
  WHERE unit_id = ANY ($1::int[])
    AND ($2::int[] = '{}' OR indicator_id = ANY ($2::int[]))
    AND period_type = $3 AND period_start BETWEEN $4::date AND $5::date
    AND ($7::int IS NULL OR (unit_id, indicator_id, period_start) >= ($7, $8, $9::date))
  WINDOW w AS (PARTITION BY unit_id, indicator_id, period_start ORDER BY commit_seq, idx)
) v
WHERE ($6 OR version = versions)
  AND ($7::int IS NULL OR (unit_id, indicator_id, period_start, version) > ($7, $8, $9::date, $10))
ORDER BY unit_id, indicator_id, period_start, version
LIMIT $11)sql";

// What kReadVersionsSql would return, counted without reading the batches
// (grouping by key hashes; counting distinct keys would sort them).
constexpr char kCountVersionsSql[] = R"sql(
SELECT CASE WHEN $6 THEN sum(versions) ELSE count(*) END AS n FROM (
  SELECT count(*) AS versions
  FROM reading_blocks b CROSS JOIN LATERAL unnest(b.indicator_id) AS e (indicator_id)
  WHERE b.unit_id = ANY ($1::int[])
    AND ($2::int[] = '{}' OR e.indicator_id = ANY ($2::int[]))
    AND b.period_type = $3 AND b.period_start BETWEEN $4::date AND $5::date
  GROUP BY b.unit_id, e.indicator_id, b.period_start
) k)sql";

// The next batches in commit order (the page), then the blocks of those not
// found in memory; unnested and ordered here, cheaper than in SQL.
constexpr char kFeedBatchesSql[] = R"sql(
SELECT id, commit_seq, source, extract(epoch FROM committed_at)::float8 AS committed_at FROM batches
WHERE commit_seq >= $1 ORDER BY commit_seq LIMIT $2)sql";
constexpr char kFeedBlocksSql[] = R"sql(
SELECT batch_id, unit_id, period_type, period_start::text AS period_start, idx, indicator_id, value,
       entered_by, reason
FROM reading_blocks WHERE batch_id = ANY ($1::bigint[]))sql";
constexpr char kLatestCommitSql[] = "SELECT coalesce(max(commit_seq), 0) AS latest FROM batches";

// --- Pull bindings and runs
constexpr char kUpsertBindingSql[] = R"sql(
INSERT INTO pull_bindings (name, indicator_code, data_source, query, period_type, run_day_offset,
                           run_time, enabled, next_period, next_run_at, actor, reason)
VALUES ($1, $2, $3, $4, $5, $6, $7::time, $8, $9, to_timestamp($10), $11, $12)
ON CONFLICT (name) DO UPDATE SET
  indicator_code = excluded.indicator_code, data_source = excluded.data_source,
  query = excluded.query, run_day_offset = excluded.run_day_offset, run_time = excluded.run_time,
  enabled = excluded.enabled, actor = excluded.actor, reason = excluded.reason,
  -- a new period type restarts the schedule; otherwise the next period stays
  next_period = CASE WHEN pull_bindings.period_type = excluded.period_type
                     THEN pull_bindings.next_period ELSE excluded.next_period END,
  period_type = excluded.period_type,
  revision = pull_bindings.revision + 1, updated_at = now()
RETURNING next_period)sql";
constexpr char kSetNextRunSql[] = "UPDATE pull_bindings SET next_run_at = to_timestamp($2) WHERE name = $1";
constexpr char kBindingSql[] = R"sql(
SELECT name, indicator_code, data_source, query, period_type, run_day_offset,
       to_char(run_time, 'HH24:MI') AS run_time, enabled, next_period,
       extract(epoch FROM next_run_at)::float8 AS next_run_at, revision, actor, reason,
       extract(epoch FROM created_at)::float8 AS created_at, extract(epoch FROM updated_at)::float8 AS updated_at
FROM pull_bindings WHERE name = $1)sql";
constexpr char kListBindingsSql[] = R"sql(
SELECT name, indicator_code, data_source, query, period_type, run_day_offset,
       to_char(run_time, 'HH24:MI') AS run_time, enabled, next_period,
       extract(epoch FROM next_run_at)::float8 AS next_run_at, revision, actor, reason,
       extract(epoch FROM created_at)::float8 AS created_at, extract(epoch FROM updated_at)::float8 AS updated_at,
       count(*) OVER () AS total
FROM pull_bindings ORDER BY name OFFSET $1 LIMIT $2)sql";
constexpr char kCountBindingsSql[] = "SELECT count(*) AS total FROM pull_bindings";
constexpr char kClaimDueSql[] = R"sql(
SELECT name, indicator_code, data_source, query, period_type, run_day_offset,
       to_char(run_time, 'HH24:MI') AS run_time, next_period
FROM pull_bindings WHERE enabled AND next_run_at <= to_timestamp($1)
ORDER BY next_run_at LIMIT 1 FOR UPDATE SKIP LOCKED)sql";
constexpr char kAdvanceSql[] =
    "UPDATE pull_bindings SET next_period = $2, next_run_at = to_timestamp($3) WHERE name = $1";
constexpr char kRecordRunSql[] = R"sql(
INSERT INTO pull_runs (binding, period, state, started_at, finished_at, rows, rejected, errors, error, actor)
VALUES ($1, $2, $3, to_timestamp($4), to_timestamp($5), $6, $7, $8, $9, $10) RETURNING id)sql";
constexpr char kListRunsSql[] = R"sql(
SELECT id, binding, period, state, extract(epoch FROM started_at)::float8 AS started_at,
       extract(epoch FROM finished_at)::float8 AS finished_at, rows, rejected, errors, error
FROM pull_runs WHERE ($1 = '' OR binding = $1) AND ($2 = 0 OR id < $2) ORDER BY id DESC LIMIT $3)sql";
constexpr char kCountRunsSql[] = "SELECT count(*) AS total FROM pull_runs WHERE $1 = '' OR binding = $1";

constexpr char kStatementTimeoutSql[] = "SELECT set_config('statement_timeout', $1, true)";

absl::CivilDay ParseDay(const std::string& text) {
  absl::CivilDay day;
  absl::ParseCivilTime(text, &day);
  return day;
}

std::string DayText(absl::CivilDay d) { return absl::FormatCivilTime(d); }

std::vector<int> ParseIntList(const std::string& text) {
  std::vector<int> out;
  for (absl::string_view part : absl::StrSplit(text, ',', absl::SkipEmpty())) {
    int n = 0;
    if (absl::SimpleAtoi(part, &n)) out.push_back(n);
  }
  return out;
}

double EpochSeconds(absl::Time t) { return absl::ToDoubleSeconds(t - absl::UnixEpoch()); }

// A parameter that may be SQL NULL (libpqxx 6 passes a null char pointer as NULL).
const char* OrNull(const std::optional<std::string>& value) { return value ? value->c_str() : nullptr; }

// Loads every unit and indicator version.
std::shared_ptr<Catalogue> LoadCatalogue(pqxx::transaction_base& tx) {
  auto catalogue = std::make_shared<Catalogue>();
  catalogue->version = tx.exec1(kCatalogueVersionSql)["version"].as<int64_t>();
  UnitInfo unit;
  auto flush_unit = [&] {
    if (unit.id != 0) catalogue->AddUnit(std::move(unit));
    unit = UnitInfo();
  };
  for (const auto& row : tx.exec(kLoadUnitsSql)) {
    const int id = row["id"].as<int>();
    if (id != unit.id) {
      flush_unit();
      unit.id = id;
      unit.code = row["code"].as<std::string>();
      unit.type = static_cast<v1::UnitType>(row["type"].as<int>());
    }
    UnitVersion v;
    v.revision = row["revision"].as<int>();
    v.valid_from = ParseDay(row["valid_from"].as<std::string>());
    if (const std::string to = row["valid_to"].as<std::string>(); !to.empty()) v.valid_to = ParseDay(to);
    v.name = row["name"].as<std::string>();
    v.parent_id = row["parent_id"].as<int>();
    v.active = row["active"].as<bool>();
    v.change = row["change"].as<std::string>();
    v.actor = row["actor"].as<std::string>();
    v.reason = row["reason"].as<std::string>();
    v.recorded_at = FromEpoch(row["recorded_at"].as<double>());
    unit.versions.push_back(std::move(v));
  }
  flush_unit();

  IndicatorInfo indicator;
  std::string created_by;
  int64_t created_at = 0;
  int revisions = 0;
  auto flush_indicator = [&] {
    if (indicator.id != 0) catalogue->AddIndicator(std::move(indicator));
    indicator = IndicatorInfo();
    revisions = 0;
  };
  for (const auto& row : tx.exec(kLoadIndicatorsSql)) {
    const int id = row["id"].as<int>();
    if (id != indicator.id) {
      flush_indicator();
      indicator.id = id;
      indicator.code = row["code"].as<std::string>();
      created_by = row["actor"].as<std::string>();
      created_at = static_cast<int64_t>(row["recorded_at"].as<double>());
    }
    v1::Indicator def;
    def.set_code(indicator.code);
    def.set_effective_year(row["effective_year"].as<int>());
    def.set_name_zh(row["name_zh"].as<std::string>());
    def.set_name_en(row["name_en"].as<std::string>());
    def.set_category(static_cast<v1::BusinessCategory>(row["category"].as<int>()));
    def.set_unit_of_measure(row["unit_of_measure"].as<std::string>());
    def.set_kind(static_cast<v1::IndicatorKind>(row["kind"].as<int>()));
    def.set_direction(static_cast<v1::Direction>(row["direction"].as<int>()));
    for (int t : ParseIntList(row["allowed_period_types"].as<std::string>())) {
      def.add_allowed_period_types(static_cast<v1::PeriodType>(t));
    }
    def.set_min_value(row["min_value"].as<double>());
    def.set_max_value(row["max_value"].as<double>());
    for (int t : ParseIntList(row["applicable_unit_types"].as<std::string>())) {
      def.add_applicable_unit_types(static_cast<v1::UnitType>(t));
    }
    def.set_rollup(static_cast<v1::RollupRule>(row["rollup"].as<int>()));
    def.set_deadline_days(row["deadline_days"].as<int>());
    def.set_enabled(row["enabled"].as<bool>());
    def.set_description(row["description"].as<std::string>());
    auto* audit = def.mutable_audit();
    audit->set_created_by(created_by);
    audit->mutable_created_at()->set_seconds(created_at);
    audit->set_updated_by(row["actor"].as<std::string>());
    audit->mutable_updated_at()->set_seconds(static_cast<int64_t>(row["recorded_at"].as<double>()));
    audit->set_reason(row["reason"].as<std::string>());
    audit->set_version(++revisions);
    if (!indicator.versions.empty() && indicator.versions.back().effective_year() == def.effective_year()) {
      indicator.versions.back() = std::move(def);  // a later revision of the same year
    } else {
      indicator.versions.push_back(std::move(def));
    }
  }
  flush_indicator();
  catalogue->Finish();
  return catalogue;
}

// Reading versions in the column order of kReadVersionsSql.
std::vector<StoredReading> ReadingsFrom(const pqxx::result& rows, PeriodType type) {
  std::vector<StoredReading> out;
  out.reserve(rows.size());
  if (rows.empty()) return out;
  // Column numbers looked up by name once, not per row.
  const auto unit = rows.column_number("unit_id"), indicator = rows.column_number("indicator_id"),
             start = rows.column_number("period_start"), value = rows.column_number("value"),
             commit = rows.column_number("commit_seq"), idx = rows.column_number("idx"),
             by = rows.column_number("entered_by"), why = rows.column_number("reason"),
             source = rows.column_number("source"), at = rows.column_number("committed_at"),
             version = rows.column_number("version"), current = rows.column_number("current");
  for (const auto& row : rows) {
    StoredReading r;
    r.unit_id = row[unit].as<int>();
    r.indicator_id = row[indicator].as<int>();
    r.period = Period::Containing(type, ParseDay(row[start].as<std::string>()));
    r.value = row[value].as<double>();
    r.seq = FeedSeq(row[commit].as<int64_t>(), row[idx].as<int>());
    r.entered_by = row[by].as<std::string>();
    r.reason = row[why].as<std::string>();
    r.source = row[source].as<std::string>();
    r.recorded_at = FromEpoch(row[at].as<double>());
    r.version = row[version].as<int>();
    r.current = row[current].as<bool>();
    out.push_back(std::move(r));
  }
  return out;
}

v1::PullBinding BindingFromRow(const pqxx::row& r) {
  v1::PullBinding b;
  b.set_name(r["name"].as<std::string>());
  b.set_indicator_code(r["indicator_code"].as<std::string>());
  b.set_data_source(r["data_source"].as<std::string>());
  b.set_query(r["query"].as<std::string>());
  b.set_period_type(static_cast<v1::PeriodType>(r["period_type"].as<int>()));
  b.set_run_day_offset(r["run_day_offset"].as<int>());
  b.set_run_time(r["run_time"].as<std::string>());
  b.set_enabled(r["enabled"].as<bool>());
  db::SetTimestamp(r["next_run_at"].as<double>(), b.mutable_next_run_at());
  auto* audit = b.mutable_audit();
  audit->set_version(r["revision"].as<int64_t>());
  audit->set_updated_by(r["actor"].as<std::string>());
  audit->set_reason(r["reason"].as<std::string>());
  db::SetTimestamp(r["created_at"].as<double>(), audit->mutable_created_at());
  db::SetTimestamp(r["updated_at"].as<double>(), audit->mutable_updated_at());
  return b;
}

PullBindingRow DueBindingFromRow(const pqxx::row& r) {
  PullBindingRow b;
  b.name = r["name"].as<std::string>();
  b.indicator_code = r["indicator_code"].as<std::string>();
  b.data_source = r["data_source"].as<std::string>();
  b.query = r["query"].as<std::string>();
  b.period_type = static_cast<PeriodType>(r["period_type"].as<int>());
  b.run_day_offset = r["run_day_offset"].as<int>();
  b.run_time = ParseTimeOfDay(r["run_time"].as<std::string>()).value_or(absl::ZeroDuration());
  b.next_period = r["next_period"].as<std::string>();
  return b;
}

void InsertRun(pqxx::transaction_base& tx, v1::PullRun* run, const std::string& actor) {
  v1::BatchResult errors;
  *errors.mutable_errors() = run->errors();
  run->set_id(tx.exec_params1(kRecordRunSql, run->binding(), run->period().key(), static_cast<int>(run->state()),
                              run->started_at().seconds(), run->finished_at().seconds(), run->rows(),
                              run->rejected(), pqxx::binarystring(errors.SerializeAsString()), run->error(),
                              actor)["id"]
                  .as<int64_t>());
}

}  // namespace

IngestStore::IngestStore(db::Pool* pool, Options options) : pool_(pool), options_(std::move(options)) {}

IngestStore::~IngestStore() { StopListening(); }

void IngestStore::Remember(std::shared_ptr<const Catalogue> catalogue) {
  absl::MutexLock lock(&mu_);
  if (catalogue_ == nullptr || catalogue_->version < catalogue->version) catalogue_ = std::move(catalogue);
}

absl::StatusOr<std::shared_ptr<const Catalogue>> IngestStore::CatalogueIn(pqxx::transaction_base& tx) {
  return CatalogueAt(tx, tx.exec1(kCatalogueVersionSql)["version"].as<int64_t>());
}

absl::StatusOr<std::shared_ptr<const Catalogue>> IngestStore::CatalogueAt(pqxx::transaction_base& tx,
                                                                         int64_t version) {
  {
    absl::MutexLock lock(&mu_);
    if (catalogue_ != nullptr && catalogue_->version == version) return catalogue_;
  }
  std::shared_ptr<const Catalogue> fresh = LoadCatalogue(tx);
  Remember(fresh);
  return fresh;
}

absl::StatusOr<std::shared_ptr<const Catalogue>> IngestStore::GetCatalogue() {
  std::shared_ptr<const Catalogue> out;
  AW_RETURN_IF_ERROR(pool_->Run([&](pqxx::connection& c) -> absl::Status {
    pqxx::read_transaction tx(c);
    AW_ASSIGN_OR_RETURN(out, CatalogueIn(tx));
    return absl::OkStatus();
  }));
  return out;
}

absl::StatusOr<v1::Unit> IngestStore::CreateUnit(const v1::CreateUnitRequest& req) {
  AW_ASSIGN_OR_RETURN(const absl::CivilDay effective,
                      DateOrToday("effective_from", req.effective_from(), CivilDayOf(options_.clock->Now())));
  v1::Unit result;
  AW_RETURN_IF_ERROR(pool_->Run([&](pqxx::connection& c) -> absl::Status {
    pqxx::work tx(c);
    tx.exec_params(kCatalogueLockSql, kCatalogueLock);
    // Under the lock the cached catalogue is current when its version is.
    AW_ASSIGN_OR_RETURN(auto catalogue, CatalogueIn(tx));
    AW_ASSIGN_OR_RETURN(const int parent_id, PlaceNewUnit(*catalogue, req, effective));
    const int id = tx.exec_params1(kInsertUnitSql, req.code(), static_cast<int>(req.type()))["id"].as<int>();
    tx.exec_params(kInsertUnitVersionSql, id, 1, DayText(effective), req.name(), parent_id, true, "created",
                   req.actor(), req.reason());
    const int64_t version = tx.exec1(kBumpCatalogueSql)["version"].as<int64_t>();
    // The next catalogue is this one plus the new unit: no reload (loading the
    // whole tree per created unit would make building a tree quadratic).
    auto after = std::make_shared<Catalogue>(*catalogue);
    UnitInfo unit;
    unit.id = id;
    unit.code = req.code();
    unit.type = req.type();
    UnitVersion v;
    v.revision = 1;
    v.valid_from = effective;
    v.name = req.name();
    v.parent_id = parent_id;
    v.change = "created";
    v.actor = req.actor();
    v.reason = req.reason();
    v.recorded_at = options_.clock->Now();
    unit.versions.push_back(std::move(v));
    after->AddUnit(std::move(unit));
    after->Finish();
    after->version = version;
    tx.commit();
    Remember(after);
    after->ToProto(*after->FindUnit(req.code()), effective, &result);
    return absl::OkStatus();
  }));
  return result;
}

absl::StatusOr<v1::Unit> IngestStore::ChangeUnit(const UnitChange& change) {
  AW_ASSIGN_OR_RETURN(const absl::CivilDay effective,
                      DateOrToday("effective_from", change.effective_from, CivilDayOf(options_.clock->Now())));
  v1::Unit result;
  AW_RETURN_IF_ERROR(pool_->Run([&](pqxx::connection& c) -> absl::Status {
    pqxx::work tx(c);
    tx.exec_params(kCatalogueLockSql, kCatalogueLock);
    std::shared_ptr<const Catalogue> catalogue = LoadCatalogue(tx);
    AW_ASSIGN_OR_RETURN(const UnitInfo* unit, FindUnit(*catalogue, "code", change.code));
    AW_ASSIGN_OR_RETURN(const UnitVersion next, NextUnitVersion(*catalogue, *unit, change, effective));
    tx.exec_params(kCloseUnitVersionSql, unit->id, unit->latest().revision, DayText(effective));
    tx.exec_params(kInsertUnitVersionSql, unit->id, next.revision, DayText(effective), next.name, next.parent_id,
                   next.active, next.change, next.actor, next.reason);
    tx.exec(kBumpCatalogueSql);
    std::shared_ptr<const Catalogue> after = LoadCatalogue(tx);
    tx.commit();
    Remember(after);
    after->ToProto(*after->FindUnit(change.code), effective, &result);
    return absl::OkStatus();
  }));
  return result;
}

absl::StatusOr<v1::Indicator> IngestStore::UpsertIndicator(const v1::UpsertIndicatorRequest& req) {
  const v1::Indicator& in = req.indicator();
  v1::Indicator result;
  AW_RETURN_IF_ERROR(pool_->Run([&](pqxx::connection& c) -> absl::Status {
    pqxx::work tx(c);
    tx.exec_params(kCatalogueLockSql, kCatalogueLock);
    std::shared_ptr<const Catalogue> before = LoadCatalogue(tx);
    if (const IndicatorInfo* info = before->FindIndicator(in.code())) {
      const v1::Indicator* current = info->InYear(in.effective_year());
      if (current != nullptr && current->effective_year() == in.effective_year() && SameDefinition(*current, in)) {
        result = *current;
        return absl::OkStatus();
      }
    }
    const int id = tx.exec_params1(kUpsertIndicatorIdSql, in.code())["id"].as<int>();
    tx.exec_params(kInsertIndicatorVersionSql, id, in.effective_year(), in.name_zh(), in.name_en(),
                   static_cast<int>(in.category()), in.unit_of_measure(), static_cast<int>(in.kind()),
                   static_cast<int>(in.direction()), NumberArray(in.allowed_period_types()), in.min_value(),
                   in.max_value(), NumberArray(in.applicable_unit_types()), static_cast<int>(in.rollup()),
                   in.deadline_days(), in.enabled(), in.description(), req.actor(), req.reason());
    tx.exec(kBumpCatalogueSql);
    std::shared_ptr<const Catalogue> after = LoadCatalogue(tx);
    tx.commit();
    Remember(after);
    result = *after->FindIndicator(in.code())->InYear(in.effective_year());
    return absl::OkStatus();
  }));
  return result;
}

absl::StatusOr<v1::BatchResult> IngestStore::IngestBatch(const v1::ReadingBatch& batch) {
  AW_RETURN_IF_ERROR(CheckText("batch_id", batch.batch_id(), true));
  AW_RETURN_IF_ERROR(CheckText("source", batch.source(), true));
  if (batch.rows_size() > kMaxBatchRows) {
    return InvalidField("rows", absl::StrCat(batch.rows_size(), " rows; at most ", kMaxBatchRows, " per batch"));
  }
  ValidationOptions validation = options_.validation;
  validation.today = CivilDayOf(options_.clock->Now());
  v1::BatchResult result;
  bool duplicate = false;
  int64_t committed_seq = 0;
  absl::Status s = pool_->Run([&](pqxx::connection& c) -> absl::Status {
    pqxx::work tx(c);
    const pqxx::row begin = tx.exec_params1(kBeginBatchSql, batch.source(), batch.batch_id());
    // A re-sent batch is answered from storage without redoing its work. (A
    // concurrent re-send is caught by the insert below.)
    if (begin["seen"].as<bool>()) {
      duplicate = true;
      return absl::OkStatus();
    }
    AW_ASSIGN_OR_RETURN(auto catalogue, CatalogueAt(tx, begin["catalogue_version"].as<int64_t>()));
    Validation checked = ValidateRows(*catalogue, batch.rows(), validation);
    result = v1::BatchResult();
    result.set_batch_id(batch.batch_id());
    for (auto& e : checked.errors) *result.add_errors() = std::move(e);
    if (batch.all_or_nothing() && !checked.errors.empty()) checked.rows.clear();
    result.set_accepted(static_cast<int>(checked.rows.size()));
    result.set_rejected(batch.rows_size() - result.accepted());

    const int64_t batch_pk = begin["batch_id"].as<int64_t>();
    if (!checked.rows.empty()) {
      // One block per (unit, period), in order of first appearance.
      struct Block {
        int unit_id;
        const Period* period;
        std::vector<const ValidRow*> rows;
      };
      std::vector<Block> blocks;
      absl::flat_hash_map<std::tuple<int, int, int64_t>, size_t> index;
      for (const ValidRow& r : checked.rows) {
        const auto key = std::make_tuple(r.unit_id, static_cast<int>(r.period.type()), r.period.Ordinal());
        auto [it, inserted] = index.emplace(key, blocks.size());
        if (inserted) blocks.push_back(Block{r.unit_id, &r.period, {}});
        blocks[it->second].rows.push_back(&r);
      }
      pqxx::stream_to copy(tx, "reading_blocks",
                           std::vector<std::string>{"batch_id", "unit_id", "period_type", "period_start", "idx",
                                                    "indicator_id", "value", "entered_by", "reason"});
      std::string idx, ind, val;
      std::vector<const std::string*> by, why;
      for (const Block& b : blocks) {
        idx = "{";
        ind = "{";
        val = "{";
        by.clear();
        why.clear();
        for (size_t i = 0; i < b.rows.size(); ++i) {
          const ValidRow& r = *b.rows[i];
          if (i > 0) {
            idx += ',';
            ind += ',';
            val += ',';
          }
          absl::StrAppend(&idx, r.index);
          absl::StrAppend(&ind, r.indicator_id);
          AppendExact(val, r.value);
          by.push_back(&r.entered_by);
          why.push_back(&r.reason);
        }
        idx += '}';
        ind += '}';
        val += '}';
        copy << std::make_tuple(batch_pk, b.unit_id, static_cast<int>(b.period->type()),
                                DayText(b.period->first_day()), idx, ind, val, TextArray(by), TextArray(why));
      }
      copy.complete();
    }
    if (before_commit_) before_commit_();
    const int last_index = checked.rows.empty() ? -1 : checked.rows.back().index;
    const pqxx::result inserted =
        tx.exec_params(kInsertBatchSql, batch_pk, batch.source(), batch.batch_id(), result.accepted(),
                       result.rejected(), last_index, pqxx::binarystring(result.SerializeAsString()), kCommitChannel);
    if (inserted.empty()) {
      duplicate = true;         // applied before (or concurrently): answer with that result
      return absl::OkStatus();  // and roll this attempt back
    }
    const int64_t commit_seq = inserted[0]["commit_seq"].as<int64_t>();
    if (last_index >= 0) result.set_last_seq(FeedSeq(commit_seq, last_index));
    auto recent = std::make_shared<RecentBatches::Batch>();
    recent->commit_seq = commit_seq;
    recent->source = batch.source();
    recent->committed_at = FromEpoch(inserted[0]["committed_at"].as<double>());
    recent->rows = std::move(checked.rows);
    tx.commit();
    recent_.Add(std::move(recent));
    committed_seq = commit_seq;
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  if (duplicate) {
    AW_RETURN_IF_ERROR(pool_->Run([&](pqxx::connection& c) -> absl::Status {
      pqxx::read_transaction tx(c);
      const pqxx::result r = tx.exec_params(kBatchResultSql, batch.source(), batch.batch_id());
      if (r.empty()) return absl::AbortedError("batch was being applied concurrently; retry");
      const pqxx::binarystring bytes(r[0]["result"]);
      if (!result.ParseFromString(bytes.str())) return absl::DataLossError("stored batch result unreadable");
      if (const int last = r[0]["last_index"].as<int>(); last >= 0) {
        result.set_last_seq(FeedSeq(r[0]["commit_seq"].as<int64_t>(), last));
      }
      result.set_duplicate(true);
      return absl::OkStatus();
    }));
    return result;
  }
  if (options_.on_commit) options_.on_commit(committed_seq);
  return result;
}

absl::StatusOr<std::vector<StoredReading>> IngestStore::ReadVersions(const std::vector<int>& unit_ids,
                                                                     const std::vector<int>& indicator_ids,
                                                                     PeriodType type, absl::CivilDay first_day,
                                                                     absl::CivilDay last_day, bool history) {
  return ReadVersionsAfter(unit_ids, indicator_ids, type, first_day, last_day, history, {}, -1);
}

absl::StatusOr<std::vector<StoredReading>> IngestStore::ReadVersionsAfter(
    const std::vector<int>& unit_ids, const std::vector<int>& indicator_ids, PeriodType type,
    absl::CivilDay first_day, absl::CivilDay last_day, bool history, const std::vector<int64_t>& after,
    int limit) {
  std::vector<StoredReading> out;
  const bool keyed = after.size() == 4;
  std::optional<std::string> from_unit, from_indicator, from_day, from_version;
  if (keyed) {
    from_unit = absl::StrCat(after[0]);
    from_indicator = absl::StrCat(after[1]);
    from_day = DayText(Period::FromOrdinal(type, after[2]).first_day());
    from_version = absl::StrCat(after[3]);
  }
  // Units past the key, read a slice at a time: a slice is as large as the
  // rows still wanted suggest, so that a page reads about a page of rows.
  auto first = keyed ? std::lower_bound(unit_ids.begin(), unit_ids.end(), static_cast<int>(after[0]))
                     : unit_ids.begin();
  size_t slice = limit < 0 ? unit_ids.size() : 4;
  AW_RETURN_IF_ERROR(pool_->Run([&](pqxx::connection& c) -> absl::Status {
    pqxx::read_transaction tx(c);
    while (first != unit_ids.end() && (limit < 0 || static_cast<int>(out.size()) < limit)) {
      const auto last = first + std::min<size_t>(slice, unit_ids.end() - first);
      const std::vector<int> units(first, last);
      const int wanted = limit < 0 ? -1 : limit - static_cast<int>(out.size());
      const std::optional<std::string> rows_wanted =
          wanted < 0 ? std::nullopt : std::optional<std::string>(absl::StrCat(wanted));
      const pqxx::result rows = tx.exec_params(
          kReadVersionsSql, NumberArray(units), NumberArray(indicator_ids), static_cast<int>(type),
          DayText(first_day), DayText(last_day), history, OrNull(from_unit), OrNull(from_indicator),
          OrNull(from_day), OrNull(from_version), OrNull(rows_wanted));
      for (StoredReading& r : ReadingsFrom(rows, type)) out.push_back(std::move(r));
      first = last;
      if (wanted >= 0 && static_cast<int>(rows.size()) * 2 < wanted) slice *= 4;
    }
    return absl::OkStatus();
  }));
  return out;
}

absl::StatusOr<int64_t> IngestStore::CountVersions(const std::vector<int>& unit_ids,
                                                   const std::vector<int>& indicator_ids, PeriodType type,
                                                   absl::CivilDay first_day, absl::CivilDay last_day, bool history) {
  int64_t n = 0;
  AW_RETURN_IF_ERROR(pool_->Run([&](pqxx::connection& c) -> absl::Status {
    pqxx::read_transaction tx(c);
    const pqxx::row r = tx.exec_params1(kCountVersionsSql, NumberArray(unit_ids), NumberArray(indicator_ids),
                                        static_cast<int>(type), DayText(first_day), DayText(last_day), history);
    n = r["n"].is_null() ? 0 : r["n"].as<int64_t>();
    return absl::OkStatus();
  }));
  return n;
}

void RecentBatches::Add(std::shared_ptr<const Batch> batch) {
  absl::MutexLock lock(&mu_);
  order_.push_back(batch->commit_seq);
  by_seq_[batch->commit_seq] = std::move(batch);
  while (order_.size() > capacity_) {
    by_seq_.erase(order_.front());
    order_.pop_front();
  }
}

std::shared_ptr<const RecentBatches::Batch> RecentBatches::Find(int64_t commit_seq) const {
  absl::MutexLock lock(&mu_);
  auto it = by_seq_.find(commit_seq);
  return it == by_seq_.end() ? nullptr : it->second;
}

absl::Status IngestStore::ReadFeed(const Catalogue& catalogue, int64_t from_seq, const FeedFilter& filter,
                                   int max_batches, v1::WatchReadingsResponse* page,
                                   std::vector<absl::Time>* committed) {
  page->set_last_seq(from_seq);
  auto wanted = [](const std::vector<int>& filter, int value) {
    return filter.empty() || std::find(filter.begin(), filter.end(), value) != filter.end();
  };
  // One reading to emit: where it is (a batch in memory or a parsed block).
  struct Block {
    v1::Reading base;  // what the block's readings share
    std::vector<double> idx, indicator, value;
    std::vector<std::string> by, why;
  };
  struct Entry {
    int64_t seq;
    const RecentBatches::Batch* batch;  // from memory: batch and row, or
    const ValidRow* row;
    const Block* block;  // from PostgreSQL: block and element
    uint32_t element;
  };
  std::vector<std::shared_ptr<const RecentBatches::Batch>> from_memory;
  std::vector<Block> parsed;
  std::vector<Entry> entries;
  struct BatchInfo {
    int64_t commit_seq;
    std::string source;
    absl::Time committed_at;
  };
  AW_RETURN_IF_ERROR(pool_->Run([&](pqxx::connection& c) -> absl::Status {
    // One snapshot for both statements, so the blocks match the page.
    pqxx::transaction<pqxx::repeatable_read, pqxx::read_only> tx(c);
    const int64_t commit_seq = CommitSeqOf(from_seq);
    const pqxx::result batches = tx.exec_params(kFeedBatchesSql, commit_seq, max_batches);
    absl::flat_hash_map<int64_t, BatchInfo> to_read;  // batch id → info
    for (const auto& b : batches) {
      const int64_t seq = b["commit_seq"].as<int64_t>();
      // Every batch read is passed whole (also the one `from_seq` is in).
      page->set_last_seq(std::max(page->last_seq(), FeedSeq(seq, (1 << kSeqIndexBits) - 1)));
      if (seq > commit_seq && committed != nullptr) {
        committed->push_back(FromEpoch(b["committed_at"].as<double>()));
      }
      if (auto cached = recent_.Find(seq)) {
        from_memory.push_back(std::move(cached));
      } else {
        to_read[b["id"].as<int64_t>()] = {seq, b["source"].as<std::string>(),
                                          FromEpoch(b["committed_at"].as<double>())};
      }
    }
    if (to_read.empty()) return absl::OkStatus();
    std::vector<int64_t> ids;
    for (const auto& [id, info] : to_read) ids.push_back(id);
    const pqxx::result blocks = tx.exec_params(kFeedBlocksSql, NumberArray(ids));
    if (blocks.empty()) return absl::OkStatus();
    const auto batch_col = blocks.column_number("batch_id"), unit_col = blocks.column_number("unit_id"),
               type_col = blocks.column_number("period_type"), start_col = blocks.column_number("period_start"),
               idx_col = blocks.column_number("idx"), indicator_col = blocks.column_number("indicator_id"),
               value_col = blocks.column_number("value"), by_col = blocks.column_number("entered_by"),
               why_col = blocks.column_number("reason");
    parsed.resize(blocks.size());
    for (size_t b = 0; b < blocks.size(); ++b) {
      const pqxx::row block = blocks[b];
      const BatchInfo& info = to_read.at(block[batch_col].as<int64_t>());
      const int period_type = block[type_col].as<int>();
      if (!wanted(filter.period_types, period_type)) continue;
      Block& out = parsed[b];
      if (!ParseNumberArray(block[idx_col].c_str(), out.idx) ||
          !ParseNumberArray(block[indicator_col].c_str(), out.indicator) ||
          !ParseNumberArray(block[value_col].c_str(), out.value) ||
          !ParseTextArray(block[by_col].c_str(), out.by) || !ParseTextArray(block[why_col].c_str(), out.why) ||
          out.idx.size() != out.value.size() || out.by.size() != out.idx.size() ||
          out.why.size() != out.idx.size() || out.indicator.size() != out.idx.size()) {
        return absl::DataLossError(absl::StrCat("reading block of commit ", info.commit_seq, " is malformed"));
      }
      StoredReading shared;
      shared.unit_id = block[unit_col].as<int>();
      shared.period = Period::Containing(static_cast<PeriodType>(period_type),
                                         ParseDay(block[start_col].as<std::string>()));
      shared.source = info.source;
      shared.recorded_at = info.committed_at;
      ToProto(catalogue, shared, &out.base);
      out.base.clear_version();
      out.base.clear_current();
      for (size_t i = 0; i < out.idx.size(); ++i) {
        const int64_t seq = FeedSeq(info.commit_seq, static_cast<int>(out.idx[i]));
        if (seq <= from_seq || !wanted(filter.indicator_ids, static_cast<int>(out.indicator[i]))) continue;
        entries.push_back({seq, nullptr, nullptr, &out, static_cast<uint32_t>(i)});
      }
    }
    return absl::OkStatus();
  }));
  for (const auto& batch : from_memory) {
    for (const ValidRow& row : batch->rows) {
      const int64_t seq = FeedSeq(batch->commit_seq, row.index);
      if (seq <= from_seq || !wanted(filter.indicator_ids, row.indicator_id) ||
          !wanted(filter.period_types, static_cast<int>(row.period.type()))) {
        continue;
      }
      entries.push_back({seq, batch.get(), &row, nullptr, 0});
    }
  }
  std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) { return a.seq < b.seq; });
  page->mutable_changes()->Reserve(static_cast<int>(entries.size()));
  for (const Entry& e : entries) {
    v1::ReadingChange* change = page->add_changes();
    change->set_seq(e.seq);
    v1::Reading* r = change->mutable_reading();
    if (e.block != nullptr) {
      r->CopyFrom(e.block->base);
      if (const IndicatorInfo* info = catalogue.IndicatorById(static_cast<int>(e.block->indicator[e.element]))) {
        r->mutable_key()->set_indicator_code(info->code);
      }
      r->set_value(e.block->value[e.element]);
      if (!filter.values_only) {
        r->set_entered_by(e.block->by[e.element]);
        r->set_reason(e.block->why[e.element]);
      } else {
        r->clear_source();
      }
    } else {
      const ValidRow& row = *e.row;
      const RecentBatches::Batch* batch = e.batch;
      v1::ReadingKey* key = r->mutable_key();
      if (const UnitInfo* u = catalogue.UnitById(row.unit_id)) key->set_unit_code(u->code);
      if (const IndicatorInfo* i = catalogue.IndicatorById(row.indicator_id)) key->set_indicator_code(i->code);
      ToProto(row.period, key->mutable_period());
      r->set_value(row.value);
      SetTimestamp(batch->committed_at, r->mutable_recorded_at());
      if (!filter.values_only) {
        r->set_source(batch->source);
        r->set_entered_by(row.entered_by);
        r->set_reason(row.reason);
      }
    }
    r->set_seq(e.seq);
  }
  return absl::OkStatus();
}

absl::StatusOr<int64_t> IngestStore::LatestCommitSeq() {
  int64_t latest = 0;
  AW_RETURN_IF_ERROR(pool_->Run([&](pqxx::connection& c) {
    pqxx::read_transaction tx(c);
    latest = tx.exec1(kLatestCommitSql)["latest"].as<int64_t>();
    return absl::OkStatus();
  }));
  return latest;
}

void IngestStore::StartListening(std::function<void(int64_t)> committed, std::function<void()> reconnected) {
  listener_ = db::ListenForPositions(pool_->options().url, kCommitChannel, std::move(committed), std::move(reconnected));
}

void IngestStore::StopListening() {
  if (listener_ != nullptr) listener_->Stop();
}

// --- Scheduled pulls ---------------------------------------------------------

absl::StatusOr<v1::PullBinding> IngestStore::UpsertPullBinding(const v1::PullBinding& b, absl::Duration time_of_day,
                                                               const Period& first, const std::string& actor,
                                                               const std::string& reason) {
  v1::PullBinding out;
  AW_RETURN_IF_ERROR(pool_->Run([&](pqxx::connection& c) -> absl::Status {
    pqxx::work tx(c);
    const std::string next_key =
        tx.exec_params1(kUpsertBindingSql, b.name(), b.indicator_code(), b.data_source(), b.query(),
                        static_cast<int>(b.period_type()), b.run_day_offset(), b.run_time(), b.enabled(),
                        first.key(), EpochSeconds(PullDueTime(first, b.run_day_offset(), time_of_day)), actor,
                        reason)["next_period"]
            .as<std::string>();
    auto next = Period::Parse(next_key);
    if (!next.ok()) return absl::DataLossError(absl::StrCat("binding ", b.name(), ": bad next period ", next_key));
    tx.exec_params(kSetNextRunSql, b.name(), EpochSeconds(PullDueTime(*next, b.run_day_offset(), time_of_day)));
    out = BindingFromRow(tx.exec_params1(kBindingSql, b.name()));
    tx.commit();
    return absl::OkStatus();
  }));
  return out;
}

absl::Status IngestStore::ListPullBindings(int64_t offset, int limit, std::vector<v1::PullBinding>* out,
                                           int64_t* total) {
  return pool_->Run([&](pqxx::connection& c) -> absl::Status {
    pqxx::read_transaction tx(c);
    *total = tx.exec1(kCountBindingsSql)["total"].as<int64_t>();
    for (const auto& r : tx.exec_params(kListBindingsSql, offset, limit)) out->push_back(BindingFromRow(r));
    return absl::OkStatus();
  });
}

absl::StatusOr<PullBindingRow> IngestStore::GetPullBinding(const std::string& name) {
  PullBindingRow binding;
  AW_RETURN_IF_ERROR(pool_->Run([&](pqxx::connection& c) -> absl::Status {
    pqxx::read_transaction tx(c);
    const pqxx::result r = tx.exec_params(kBindingSql, name);
    if (r.empty()) return absl::NotFoundError(absl::StrCat("binding: no pull binding ", name));
    binding = DueBindingFromRow(r[0]);
    return absl::OkStatus();
  }));
  return binding;
}

absl::Status IngestStore::ListPullRuns(const std::string& binding, int64_t after, int limit, bool count,
                                       std::vector<v1::PullRun>* out, int64_t* total) {
  return pool_->Run([&](pqxx::connection& c) -> absl::Status {
    pqxx::read_transaction tx(c);
    if (count) *total = tx.exec_params1(kCountRunsSql, binding)["total"].as<int64_t>();
    for (const auto& r : tx.exec_params(kListRunsSql, binding, after, limit)) {
      v1::PullRun& run = out->emplace_back();
      run.set_id(r["id"].as<int64_t>());
      run.set_binding(r["binding"].as<std::string>());
      if (auto p = Period::Parse(r["period"].as<std::string>()); p.ok()) ToProto(*p, run.mutable_period());
      run.set_state(static_cast<v1::PullRunState>(r["state"].as<int>()));
      db::SetTimestamp(r["started_at"].as<double>(), run.mutable_started_at());
      if (!r["finished_at"].is_null()) db::SetTimestamp(r["finished_at"].as<double>(), run.mutable_finished_at());
      run.set_rows(r["rows"].as<int>());
      run.set_rejected(r["rejected"].as<int>());
      if (!r["errors"].is_null()) {
        v1::BatchResult errors;
        if (errors.ParseFromString(pqxx::binarystring(r["errors"]).str())) *run.mutable_errors() = errors.errors();
      }
      run.set_error(r["error"].as<std::string>());
    }
    return absl::OkStatus();
  });
}

absl::Status IngestStore::RecordPullRun(v1::PullRun* run, const std::string& actor) {
  return pool_->Run([&](pqxx::connection& c) -> absl::Status {
    pqxx::work tx(c);
    InsertRun(tx, run, actor);
    tx.commit();
    return absl::OkStatus();
  });
}

absl::StatusOr<bool> IngestStore::RunDuePull(
    absl::Duration retry_after, const std::function<v1::PullRun(const PullBindingRow&, const Period&)>& execute) {
  bool claimed = false;
  AW_RETURN_IF_ERROR(pool_->Run([&](pqxx::connection& c) -> absl::Status {
    pqxx::work tx(c);
    const absl::Time now = options_.clock->Now();
    const pqxx::result due = tx.exec_params(kClaimDueSql, EpochSeconds(now));
    if (due.empty()) return absl::OkStatus();
    claimed = true;
    const PullBindingRow b = DueBindingFromRow(due[0]);
    auto period = Period::Parse(b.period_type, b.next_period);
    if (!period.ok()) return absl::DataLossError(absl::StrCat("binding ", b.name, ": bad next period"));
    v1::PullRun run = execute(b, *period);
    InsertRun(tx, &run, "scheduler");
    if (run.state() != v1::PULL_RUN_STATE_FAILED) {
      const Period next = period->Next();
      tx.exec_params(kAdvanceSql, b.name, next.key(), EpochSeconds(PullDueTime(next, b.run_day_offset, b.run_time)));
    } else {
      tx.exec_params(kSetNextRunSql, b.name, EpochSeconds(now + retry_after));  // the same period, later
    }
    tx.commit();
    return absl::OkStatus();
  }));
  return claimed;
}

// --- Read-only data sources -------------------------------------------------

absl::StatusOr<std::vector<SourceRow>> IngestStore::QueryDataSource(const std::string& url, const std::string& query,
                                                                    const std::vector<std::string>& parameters,
                                                                    absl::Duration timeout) {
  std::vector<SourceRow> out;
  try {
    pqxx::connection source(url);
    pqxx::transaction<pqxx::read_committed, pqxx::read_only> tx(source);
    tx.exec_params(kStatementTimeoutSql, absl::StrCat(absl::ToInt64Milliseconds(timeout)));
    const pqxx::result rows = tx.exec_params(query, pqxx::prepare::make_dynamic_params(parameters));
    if (rows.columns() != 2) {
      return absl::InvalidArgumentError(
          absl::StrCat("the query returns ", rows.columns(), " columns; it must return unit_code, value"));
    }
    // The binding's query names its columns as it likes: they are taken by position.
    for (const auto& r : rows) {
      SourceRow& row = out.emplace_back();
      if (!r[0].is_null()) row.unit_code = r[0].as<std::string>();
      if (!r[1].is_null()) row.value = r[1].as<double>();
    }
  } catch (const std::exception& e) {
    return absl::UnavailableError(e.what());
  }
  return out;
}

bool IngestStore::DataSourceReachable(const std::string& url) {
  try {
    pqxx::connection c(url);
    return c.is_open();
  } catch (const std::exception&) {
    return false;
  }
}

}  // namespace aw::ingest
