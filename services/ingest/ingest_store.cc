#include "services/ingest/ingest_store.h"

#include <charconv>
#include <map>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "common/pg_arrays.h"
#include "common/status.h"

namespace aw::ingest {
namespace {

// Advisory lock keys (transaction-level) of schema "ingest".
constexpr int64_t kCatalogueLock = 0x1A6E5701;  // units and indicators change one at a time

constexpr char kCatalogueVersionSql[] = "SELECT version FROM catalogue_state";
constexpr char kBumpCatalogueSql[] =
    "UPDATE catalogue_state SET version = version + 1 RETURNING version";

constexpr char kLoadUnitsSql[] = R"sql(
SELECT u.id, u.code, u.type, v.revision, v.valid_from::text, coalesce(v.valid_to::text, ''),
       v.name, coalesce(v.parent_id, 0), v.active, v.change, v.actor, v.reason,
       extract(epoch FROM v.recorded_at)::float8
FROM units u JOIN unit_versions v ON v.unit_id = u.id
ORDER BY u.id, v.revision)sql";

constexpr char kLoadIndicatorsSql[] = R"sql(
SELECT i.id, i.code, v.effective_year, v.revision, v.name_zh, v.name_en, v.category,
       v.unit_of_measure, v.kind, v.direction, array_to_string(v.allowed_period_types, ','),
       v.min_value, v.max_value, array_to_string(v.applicable_unit_types, ','), v.rollup,
       v.deadline_days, v.enabled, v.description, v.actor, v.reason,
       extract(epoch FROM v.recorded_at)::float8
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
SELECT EXISTS (SELECT 1 FROM batches WHERE source = $1 AND client_batch_id = $2),
       (SELECT version FROM catalogue_state), nextval('batch_ids'))sql";
// Closes a batch: takes the commit sequence (under the commit lock, held to
// COMMIT) and records the batch, unless a concurrent copy got there first.
constexpr char kInsertBatchSql[] = R"sql(
INSERT INTO batches (id, source, client_batch_id, commit_seq, accepted, rejected, last_index,
                     result, committed_at)
VALUES ($1, $2, $3, next_commit_seq(), $4, $5, $6, $7, clock_timestamp())
ON CONFLICT (source, client_batch_id) DO NOTHING
RETURNING commit_seq, extract(epoch FROM committed_at)::float8)sql";
constexpr char kBatchResultSql[] =
    "SELECT result, commit_seq, last_index FROM batches WHERE source = $1 AND client_batch_id = $2";

constexpr char kReadVersionsSql[] = R"sql(
SELECT unit_id, indicator_id, period_start::text, value, commit_seq, idx, entered_by, reason,
       source, extract(epoch FROM committed_at)::float8, version, version = versions AS current
FROM (
  SELECT rv.*,
         row_number() OVER w AS version,
         count(*) OVER (PARTITION BY unit_id, indicator_id, period_start) AS versions
  FROM reading_versions rv
  WHERE unit_id = ANY ($1::int[])
    AND ($2::int[] = '{}' OR indicator_id = ANY ($2::int[]))
    AND period_type = $3 AND period_start BETWEEN $4::date AND $5::date
  WINDOW w AS (PARTITION BY unit_id, indicator_id, period_start ORDER BY commit_seq, idx)
) v
WHERE $6 OR version = versions
ORDER BY unit_id, indicator_id, period_start, version)sql";

// The next batches in commit order (the page), then the blocks of those not
// found in memory; unnested and ordered here, cheaper than in SQL.
constexpr char kFeedBatchesSql[] = R"sql(
SELECT id, commit_seq, source, extract(epoch FROM committed_at)::float8 FROM batches
WHERE commit_seq >= $1 ORDER BY commit_seq LIMIT $2)sql";
constexpr char kFeedBlocksSql[] = R"sql(
SELECT batch_id, unit_id, period_type, period_start::text, idx, indicator_id, value, entered_by, reason
FROM reading_blocks WHERE batch_id = ANY ($1::bigint[]))sql";
constexpr char kLatestCommitSql[] = "SELECT coalesce(max(commit_seq), 0) FROM batches";

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

using db::AppendExact;
using db::FromEpoch;
using db::NumberArray;
using db::ParseNumberArray;
using db::ParseTextArray;
using db::TextArray;

absl::StatusOr<absl::CivilDay> EffectiveDate(const std::string& text) {
  if (text.empty()) return CivilDayOf(absl::Now());
  absl::CivilDay day;
  if (!absl::ParseCivilTime(text, &day) || DayText(day) != text) {
    return absl::InvalidArgumentError(
        absl::StrCat("effective_from: expected an ISO date such as 2026-07-01, got \"", text, "\""));
  }
  return day;
}

absl::Status CheckCode(const std::string& field, const std::string& code) {
  if (code.empty() || code.size() > 64) return InvalidField(field, "required, at most 64 characters");
  for (char c : code) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.')) {
      return InvalidField(field, "only letters, digits, '_', '-' and '.'");
    }
  }
  return absl::OkStatus();
}

absl::Status CheckText(const std::string& field, const std::string& text, bool required,
                       size_t max = 200) {
  if (required && text.empty()) return InvalidField(field, "required");
  if (text.size() > max) return InvalidField(field, absl::StrCat("at most ", max, " bytes"));
  return absl::OkStatus();
}

}  // namespace

void ToProto(const Catalogue& catalogue, const StoredReading& r, v1::Reading* out) {
  auto* key = out->mutable_key();
  if (const UnitInfo* u = catalogue.UnitById(r.unit_id)) key->set_unit_code(u->code);
  if (const IndicatorInfo* i = catalogue.IndicatorById(r.indicator_id)) {
    key->set_indicator_code(i->code);
  }
  ToProto(r.period, key->mutable_period());
  out->set_value(r.value);
  out->set_source(r.source);
  out->set_entered_by(r.entered_by);
  out->set_reason(r.reason);
  db::SetTimestamp(r.recorded_at, out->mutable_recorded_at());
  out->set_version(r.version);
  out->set_current(r.current);
  out->set_seq(r.seq);
}

absl::StatusOr<std::shared_ptr<Catalogue>> LoadCatalogue(pqxx::transaction_base& tx) {
  auto catalogue = std::make_shared<Catalogue>();
  catalogue->version = tx.exec1(kCatalogueVersionSql)[0].as<int64_t>();
  UnitInfo unit;
  auto flush_unit = [&] {
    if (unit.id != 0) catalogue->AddUnit(std::move(unit));
    unit = UnitInfo();
  };
  for (const auto& row : tx.exec(kLoadUnitsSql)) {
    const int id = row[0].as<int>();
    if (id != unit.id) {
      flush_unit();
      unit.id = id;
      unit.code = row[1].as<std::string>();
      unit.type = static_cast<v1::UnitType>(row[2].as<int>());
    }
    UnitVersion v;
    v.revision = row[3].as<int>();
    v.valid_from = ParseDay(row[4].as<std::string>());
    if (const std::string to = row[5].as<std::string>(); !to.empty()) v.valid_to = ParseDay(to);
    v.name = row[6].as<std::string>();
    v.parent_id = row[7].as<int>();
    v.active = row[8].as<bool>();
    v.change = row[9].as<std::string>();
    v.actor = row[10].as<std::string>();
    v.reason = row[11].as<std::string>();
    v.recorded_at = FromEpoch(row[12].as<double>());
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
    const int id = row[0].as<int>();
    if (id != indicator.id) {
      flush_indicator();
      indicator.id = id;
      indicator.code = row[1].as<std::string>();
      created_by = row[18].as<std::string>();
      created_at = static_cast<int64_t>(row[20].as<double>());
    }
    v1::Indicator def;
    def.set_code(indicator.code);
    def.set_effective_year(row[2].as<int>());
    def.set_name_zh(row[4].as<std::string>());
    def.set_name_en(row[5].as<std::string>());
    def.set_category(static_cast<v1::BusinessCategory>(row[6].as<int>()));
    def.set_unit_of_measure(row[7].as<std::string>());
    def.set_kind(static_cast<v1::IndicatorKind>(row[8].as<int>()));
    def.set_direction(static_cast<v1::Direction>(row[9].as<int>()));
    for (int t : ParseIntList(row[10].as<std::string>())) {
      def.add_allowed_period_types(static_cast<v1::PeriodType>(t));
    }
    def.set_min_value(row[11].as<double>());
    def.set_max_value(row[12].as<double>());
    for (int t : ParseIntList(row[13].as<std::string>())) {
      def.add_applicable_unit_types(static_cast<v1::UnitType>(t));
    }
    def.set_rollup(static_cast<v1::RollupRule>(row[14].as<int>()));
    def.set_deadline_days(row[15].as<int>());
    def.set_enabled(row[16].as<bool>());
    def.set_description(row[17].as<std::string>());
    auto* audit = def.mutable_audit();
    audit->set_created_by(created_by);
    audit->mutable_created_at()->set_seconds(created_at);
    audit->set_updated_by(row[18].as<std::string>());
    audit->mutable_updated_at()->set_seconds(static_cast<int64_t>(row[20].as<double>()));
    audit->set_reason(row[19].as<std::string>());
    audit->set_version(++revisions);
    if (!indicator.versions.empty() &&
        indicator.versions.back().effective_year() == def.effective_year()) {
      indicator.versions.back() = std::move(def);  // a later revision of the same year
    } else {
      indicator.versions.push_back(std::move(def));
    }
  }
  flush_indicator();
  catalogue->Finish();
  return catalogue;
}

IngestStore::IngestStore(db::Pool* pool, Options options)
    : pool_(pool), options_(std::move(options)) {}

absl::StatusOr<std::shared_ptr<const Catalogue>> IngestStore::CatalogueIn(
    pqxx::transaction_base& tx) {
  return CatalogueAt(tx, tx.exec1(kCatalogueVersionSql)[0].as<int64_t>());
}

absl::StatusOr<std::shared_ptr<const Catalogue>> IngestStore::CatalogueAt(
    pqxx::transaction_base& tx, int64_t version) {
  {
    absl::MutexLock lock(&mu_);
    if (catalogue_ != nullptr && catalogue_->version == version) return catalogue_;
  }
  auto loaded = LoadCatalogue(tx);
  if (!loaded.ok()) return loaded.status();
  std::shared_ptr<const Catalogue> fresh = *std::move(loaded);
  absl::MutexLock lock(&mu_);
  if (catalogue_ == nullptr || catalogue_->version < fresh->version) catalogue_ = fresh;
  return fresh;
}

absl::StatusOr<std::shared_ptr<const Catalogue>> IngestStore::GetCatalogue() {
  std::shared_ptr<const Catalogue> out;
  absl::Status s = pool_->Run([&](pqxx::connection& c) {
    pqxx::read_transaction tx(c);
    auto catalogue = CatalogueIn(tx);
    if (!catalogue.ok()) return catalogue.status();
    out = *std::move(catalogue);
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return out;
}

absl::StatusOr<v1::Unit> IngestStore::CreateUnit(const v1::CreateUnitRequest& req) {
  AW_RETURN_IF_ERROR(CheckCode("code", req.code()));
  AW_RETURN_IF_ERROR(CheckText("name", req.name(), true));
  AW_RETURN_IF_ERROR(CheckText("actor", req.actor(), true));
  AW_RETURN_IF_ERROR(CheckText("reason", req.reason(), false, 1000));
  if (!v1::UnitType_IsValid(req.type()) || req.type() == v1::UNIT_TYPE_UNSPECIFIED) {
    return InvalidField("type", "must be set to a known unit type");
  }
  AW_ASSIGN_OR_RETURN(const absl::CivilDay effective, EffectiveDate(req.effective_from()));
  v1::Unit result;
  AW_RETURN_IF_ERROR(pool_->Run([&](pqxx::connection& c) -> absl::Status {
    pqxx::work tx(c);
    tx.exec_params("SELECT pg_advisory_xact_lock($1)", kCatalogueLock);
    // Under the lock the cached catalogue is current when its version is.
    AW_ASSIGN_OR_RETURN(auto catalogue, CatalogueIn(tx));
    if (catalogue->FindUnit(req.code()) != nullptr) {
      return absl::AlreadyExistsError(absl::StrCat("code: unit ", req.code(), " already exists"));
    }
    int parent_id = 0;
    v1::UnitType parent_type = v1::UNIT_TYPE_UNSPECIFIED;
    if (!req.parent_code().empty()) {
      const UnitInfo* parent = catalogue->FindUnit(req.parent_code());
      if (parent == nullptr) {
        return absl::NotFoundError(absl::StrCat("parent_code: no unit ", req.parent_code()));
      }
      const UnitVersion* pv = parent->AsOf(effective);
      if (pv == nullptr || !pv->active) {
        return absl::FailedPreconditionError(absl::StrCat(
            "parent_code: unit ", req.parent_code(), " is not active on ", DayText(effective)));
      }
      parent_id = parent->id;
      parent_type = parent->type;
    }
    AW_RETURN_IF_ERROR(CheckParentType(req.type(), parent_type));
    const int id = tx.exec_params1(kInsertUnitSql, req.code(), static_cast<int>(req.type()))[0].as<int>();
    tx.exec_params(kInsertUnitVersionSql, id, 1, DayText(effective), req.name(), parent_id, true,
                   "created", req.actor(), req.reason());
    const int64_t version = tx.exec1(kBumpCatalogueSql)[0].as<int64_t>();
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
    v.recorded_at = absl::Now();
    unit.versions.push_back(std::move(v));
    after->AddUnit(std::move(unit));
    after->Finish();
    after->version = version;
    tx.commit();
    {
      absl::MutexLock lock(&mu_);
      if (catalogue_ == nullptr || catalogue_->version < version) catalogue_ = after;
    }
    after->ToProto(*after->FindUnit(req.code()), effective, &result);
    return absl::OkStatus();
  }));
  return result;
}

absl::StatusOr<v1::Unit> IngestStore::ChangeUnit(const UnitChange& change) {
  AW_RETURN_IF_ERROR(CheckText("actor", change.actor, true));
  AW_RETURN_IF_ERROR(CheckText("reason", change.reason, false, 1000));
  if (change.kind == UnitChange::kRename) {
    AW_RETURN_IF_ERROR(CheckText("new_name", change.new_name, true));
  }
  AW_ASSIGN_OR_RETURN(const absl::CivilDay effective, EffectiveDate(change.effective_from));
  v1::Unit result;
  AW_RETURN_IF_ERROR(pool_->Run([&](pqxx::connection& c) -> absl::Status {
    pqxx::work tx(c);
    tx.exec_params("SELECT pg_advisory_xact_lock($1)", kCatalogueLock);
    AW_ASSIGN_OR_RETURN(auto catalogue, LoadCatalogue(tx));
    const UnitInfo* unit = catalogue->FindUnit(change.code);
    if (unit == nullptr) return absl::NotFoundError(absl::StrCat("code: no unit ", change.code));
    const UnitVersion& latest = unit->latest();
    if (change.expected_version != 0 && change.expected_version != latest.revision) {
      return absl::AbortedError(absl::StrCat("expected_version: unit ", change.code,
                                             " is at version ", latest.revision, ", not ",
                                             change.expected_version));
    }
    if (effective < latest.valid_from) {
      return absl::FailedPreconditionError(absl::StrCat(
          "effective_from: must be on or after ", DayText(latest.valid_from),
          ", when the unit's current version took effect"));
    }
    if (!latest.active) {
      return absl::FailedPreconditionError(absl::StrCat("unit ", change.code, " is deactivated"));
    }
    UnitVersion next = latest;
    switch (change.kind) {
      case UnitChange::kRename:
        if (change.new_name == latest.name) {
          return absl::FailedPreconditionError("new_name: the unit already has this name");
        }
        next.name = change.new_name;
        next.change = "renamed";
        break;
      case UnitChange::kMove: {
        const UnitInfo* parent = catalogue->FindUnit(change.new_parent_code);
        if (parent == nullptr) {
          return absl::NotFoundError(absl::StrCat("new_parent_code: no unit ", change.new_parent_code));
        }
        const UnitVersion* pv = parent->AsOf(effective);
        if (pv == nullptr || !pv->active) {
          return absl::FailedPreconditionError(absl::StrCat(
              "new_parent_code: unit ", change.new_parent_code, " is not active on ",
              DayText(effective)));
        }
        if (parent->id == latest.parent_id) {
          return absl::FailedPreconditionError("new_parent_code: the unit is already there");
        }
        for (const UnitInfo* ancestor : catalogue->PathAsOf(*parent, effective)) {
          if (ancestor->id == unit->id) {
            return absl::FailedPreconditionError(
                "new_parent_code: a unit cannot move under itself or its own subtree");
          }
        }
        AW_RETURN_IF_ERROR(CheckParentType(unit->type, parent->type));
        next.parent_id = parent->id;
        next.change = "moved";
        break;
      }
      case UnitChange::kDeactivate: {
        const auto subtree = catalogue->SubtreeAsOf(unit, effective, false);
        if (subtree.size() > 1) {
          return absl::FailedPreconditionError(absl::StrCat(
              "unit ", change.code, " still has ", subtree.size() - 1,
              " active unit(s) under it on ", DayText(effective), "; move or deactivate them first"));
        }
        next.active = false;
        next.change = "deactivated";
        break;
      }
    }
    tx.exec_params(kCloseUnitVersionSql, unit->id, latest.revision, DayText(effective));
    tx.exec_params(kInsertUnitVersionSql, unit->id, latest.revision + 1, DayText(effective),
                   next.name, next.parent_id, next.active, next.change, change.actor,
                   change.reason);
    tx.exec(kBumpCatalogueSql);
    AW_ASSIGN_OR_RETURN(auto after, LoadCatalogue(tx));
    tx.commit();
    const UnitInfo* changed = after->FindUnit(change.code);
    after->ToProto(*changed, effective, &result);
    return absl::OkStatus();
  }));
  return result;
}

absl::StatusOr<v1::Indicator> IngestStore::UpsertIndicator(const v1::UpsertIndicatorRequest& req) {
  const v1::Indicator& in = req.indicator();
  AW_RETURN_IF_ERROR(ValidateIndicator(in));
  AW_RETURN_IF_ERROR(CheckText("actor", req.actor(), true));
  AW_RETURN_IF_ERROR(CheckText("reason", req.reason(), false, 1000));
  v1::Indicator result;
  AW_RETURN_IF_ERROR(pool_->Run([&](pqxx::connection& c) -> absl::Status {
    pqxx::work tx(c);
    tx.exec_params("SELECT pg_advisory_xact_lock($1)", kCatalogueLock);
    AW_ASSIGN_OR_RETURN(auto before, LoadCatalogue(tx));
    if (const IndicatorInfo* info = before->FindIndicator(in.code())) {
      // Upserting the definition already in force for that year changes nothing.
      const v1::Indicator* current = info->InYear(in.effective_year());
      if (current != nullptr && current->effective_year() == in.effective_year()) {
        v1::Indicator a = *current, b = in;
        a.clear_audit();
        b.clear_audit();
        if (a.SerializeAsString() == b.SerializeAsString()) {
          result = *current;
          return absl::OkStatus();
        }
      }
    }
    const int id = tx.exec_params1(kUpsertIndicatorIdSql, in.code())[0].as<int>();
    tx.exec_params(kInsertIndicatorVersionSql, id, in.effective_year(), in.name_zh(), in.name_en(),
                   static_cast<int>(in.category()), in.unit_of_measure(),
                   static_cast<int>(in.kind()), static_cast<int>(in.direction()),
                   NumberArray(in.allowed_period_types()), in.min_value(), in.max_value(),
                   NumberArray(in.applicable_unit_types()), static_cast<int>(in.rollup()),
                   in.deadline_days(), in.enabled(), in.description(), req.actor(), req.reason());
    tx.exec(kBumpCatalogueSql);
    AW_ASSIGN_OR_RETURN(auto after, LoadCatalogue(tx));
    tx.commit();
    const IndicatorInfo* info = after->FindIndicator(in.code());
    result = *info->InYear(in.effective_year());
    return absl::OkStatus();
  }));
  return result;
}

absl::StatusOr<v1::BatchResult> IngestStore::IngestBatch(const v1::ReadingBatch& batch) {
  AW_RETURN_IF_ERROR(CheckText("batch_id", batch.batch_id(), true));
  AW_RETURN_IF_ERROR(CheckText("source", batch.source(), true));
  if (batch.rows_size() > kMaxBatchRows) {
    return InvalidField("rows", absl::StrCat(batch.rows_size(), " rows; at most ", kMaxBatchRows,
                                             " per batch"));
  }
  ValidationOptions validation = options_.validation;
  validation.today = CivilDayOf(absl::Now());
  v1::BatchResult result;
  bool duplicate = false;
  absl::Status s = pool_->Run([&](pqxx::connection& c) -> absl::Status {
    pqxx::work tx(c);
    const pqxx::row begin = tx.exec_params1(kBeginBatchSql, batch.source(), batch.batch_id());
    // A re-sent batch is answered from storage without redoing its work. (A
    // concurrent re-send is caught by the insert below.)
    if (begin[0].as<bool>()) {
      duplicate = true;
      return absl::OkStatus();
    }
    AW_ASSIGN_OR_RETURN(auto catalogue, CatalogueAt(tx, begin[1].as<int64_t>()));
    Validation checked = ValidateRows(*catalogue, batch.rows(), validation);
    result = v1::BatchResult();
    result.set_batch_id(batch.batch_id());
    for (auto& e : checked.errors) *result.add_errors() = std::move(e);
    if (batch.all_or_nothing() && !checked.errors.empty()) checked.rows.clear();
    result.set_accepted(static_cast<int>(checked.rows.size()));
    result.set_rejected(batch.rows_size() - result.accepted());

    const int64_t batch_pk = begin[2].as<int64_t>();
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
        const auto key = std::make_tuple(r.unit_id, static_cast<int>(r.period.type()),
                                         r.period.first_day() - absl::CivilDay());
        auto [it, inserted] = index.emplace(key, blocks.size());
        if (inserted) blocks.push_back(Block{r.unit_id, &r.period, {}});
        blocks[it->second].rows.push_back(&r);
      }
      pqxx::stream_to copy(tx, "reading_blocks",
                           std::vector<std::string>{"batch_id", "unit_id", "period_type",
                                                    "period_start", "idx", "indicator_id", "value",
                                                    "entered_by", "reason"});
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
                                DayText(b.period->first_day()), idx, ind, val,
                                TextArray(by), TextArray(why));
      }
      copy.complete();
    }
    if (before_commit_) before_commit_();
    const int last_index = checked.rows.empty() ? -1 : checked.rows.back().index;
    const pqxx::result inserted =
        tx.exec_params(kInsertBatchSql, batch_pk, batch.source(), batch.batch_id(), result.accepted(),
                       result.rejected(), last_index, pqxx::binarystring(result.SerializeAsString()));
    if (inserted.empty()) {
      duplicate = true;  // applied before (or concurrently): answer with that result
      return absl::OkStatus();  // and roll this attempt back
    }
    const int64_t commit_seq = inserted[0][0].as<int64_t>();
    if (last_index >= 0) result.set_last_seq(FeedSeq(commit_seq, last_index));
    auto recent = std::make_shared<RecentBatches::Batch>();
    recent->commit_seq = commit_seq;
    recent->source = batch.source();
    recent->committed_at = FromEpoch(inserted[0][1].as<double>());
    recent->rows = std::move(checked.rows);
    tx.commit();
    recent_.Add(std::move(recent));
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  if (duplicate) {
    AW_RETURN_IF_ERROR(pool_->Run([&](pqxx::connection& c) -> absl::Status {
      pqxx::read_transaction tx(c);
      const pqxx::result r = tx.exec_params(kBatchResultSql, batch.source(), batch.batch_id());
      if (r.empty()) return absl::AbortedError("batch was being applied concurrently; retry");
      const pqxx::binarystring bytes(r[0][0]);
      if (!result.ParseFromString(bytes.str())) return absl::DataLossError("stored batch result unreadable");
      if (const int last = r[0][2].as<int>(); last >= 0) {
        result.set_last_seq(FeedSeq(r[0][1].as<int64_t>(), last));
      }
      result.set_duplicate(true);
      return absl::OkStatus();
    }));
    return result;
  }
  if (options_.on_commit) options_.on_commit();
  return result;
}

absl::StatusOr<std::vector<StoredReading>> IngestStore::ReadVersions(
    const std::vector<int>& unit_ids, const std::vector<int>& indicator_ids, PeriodType type,
    absl::CivilDay first_day, absl::CivilDay last_day, bool history) {
  std::vector<StoredReading> out;
  AW_RETURN_IF_ERROR(pool_->Run([&](pqxx::connection& c) -> absl::Status {
    pqxx::read_transaction tx(c);
    const pqxx::result rows =
        tx.exec_params(kReadVersionsSql, NumberArray(unit_ids), NumberArray(indicator_ids),
                       static_cast<int>(type), DayText(first_day), DayText(last_day), history);
    out.reserve(rows.size());
    for (const auto& row : rows) {
      StoredReading r;
      r.unit_id = row[0].as<int>();
      r.indicator_id = row[1].as<int>();
      r.period = Period::Containing(type, ParseDay(row[2].as<std::string>()));
      r.value = row[3].as<double>();
      r.seq = FeedSeq(row[4].as<int64_t>(), row[5].as<int>());
      r.entered_by = row[6].as<std::string>();
      r.reason = row[7].as<std::string>();
      r.source = row[8].as<std::string>();
      r.recorded_at = FromEpoch(row[9].as<double>());
      r.version = row[10].as<int>();
      r.current = row[11].as<bool>();
      out.push_back(std::move(r));
    }
    return absl::OkStatus();
  }));
  return out;
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

absl::Status IngestStore::ReadFeed(const Catalogue& catalogue, int64_t from_seq,
                                  const FeedFilter& filter, int max_batches,
                                  v1::WatchReadingsResponse* page) {
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
    const Block* block;                 // from PostgreSQL: block and element
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
      const int64_t seq = b[1].as<int64_t>();
      if (seq > commit_seq) page->set_last_seq(FeedSeq(seq, (1 << kSeqIndexBits) - 1));
      if (auto cached = recent_.Find(seq)) {
        from_memory.push_back(std::move(cached));
      } else {
        to_read[b[0].as<int64_t>()] = {seq, b[2].as<std::string>(), FromEpoch(b[3].as<double>())};
      }
    }
    if (to_read.empty()) return absl::OkStatus();
    std::vector<int64_t> ids;
    for (const auto& [id, info] : to_read) ids.push_back(id);
    const pqxx::result blocks = tx.exec_params(kFeedBlocksSql, NumberArray(ids));
    parsed.resize(blocks.size());
    for (size_t b = 0; b < blocks.size(); ++b) {
      const pqxx::row block = blocks[b];
      const BatchInfo& info = to_read.at(block[0].as<int64_t>());
      const int period_type = block[2].as<int>();
      if (!wanted(filter.period_types, period_type)) continue;
      Block& out = parsed[b];
      if (!ParseNumberArray(block[4].c_str(), out.idx) ||
          !ParseNumberArray(block[5].c_str(), out.indicator) ||
          !ParseNumberArray(block[6].c_str(), out.value) || !ParseTextArray(block[7].c_str(), out.by) ||
          !ParseTextArray(block[8].c_str(), out.why) || out.idx.size() != out.value.size() ||
          out.by.size() != out.idx.size() || out.why.size() != out.idx.size() ||
          out.indicator.size() != out.idx.size()) {
        return absl::DataLossError(absl::StrCat("reading block of commit ", info.commit_seq, " is malformed"));
      }
      StoredReading shared;
      shared.unit_id = block[1].as<int>();
      shared.period = Period::Containing(static_cast<PeriodType>(period_type),
                                         ParseDay(block[3].as<std::string>()));
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
  std::sort(entries.begin(), entries.end(),
            [](const Entry& a, const Entry& b) { return a.seq < b.seq; });
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
      db::SetTimestamp(batch->committed_at, r->mutable_recorded_at());
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
    latest = tx.exec1(kLatestCommitSql)[0].as<int64_t>();
    return absl::OkStatus();
  }));
  return latest;
}

}  // namespace aw::ingest
