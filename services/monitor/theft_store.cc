#include "services/monitor/theft_store.h"

#include <tuple>

#include "absl/base/casts.h"
#include "absl/base/internal/endian.h"
#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "common/pg.h"
#include "common/pg_arrays.h"
#include "common/pg_rows.h"
#include "common/status.h"

namespace aw::monitor {
namespace {

using db::Bytes;
using db::ByteaText;
using db::Epoch;
using db::ExactText;
using db::NumberArray;
using db::SetTime;
using db::TextArray;

const std::string kResolved = absl::StrCat(static_cast<int>(v1::EVENT_STATE_RESOLVED));

// Features as stored: float8 big-endian, in theft_logic's feature order.
std::string FeatureBytes(const theft::Features& f) {
  std::string out(f.size() * 8, '\0');
  for (size_t i = 0; i < f.size(); ++i) {
    absl::big_endian::Store64(out.data() + i * 8, absl::bit_cast<uint64_t>(f[i]));
  }
  return out;
}
theft::Features FeaturesOf(const std::string& bytes) {
  theft::Features f{};
  for (size_t i = 0; i < f.size() && (i + 1) * 8 <= bytes.size(); ++i) {
    f[i] = absl::bit_cast<double>(absl::big_endian::Load64(bytes.data() + i * 8));
  }
  return f;
}

constexpr char kRunLockSql[] = "SELECT pg_advisory_xact_lock(hashtext('monitor.theft_runs'), hashtext($1))";
constexpr char kRunColumns[] = R"sql(
  id, rule_code, first_day::text AS first_day, last_day::text AS last_day, method, model_version, customers,
  per_level::text AS per_level, events_opened, events_suppressed, events_resolved, seconds, days_read, created_by,
  extract(epoch FROM created_at)::float8 AS created_at)sql";
constexpr char kInsertRunSql[] = R"sql(
INSERT INTO theft_runs (rule_code, first_day, last_day, method, model_version, customers, per_level, events_opened,
                        events_suppressed, events_resolved, seconds, days_read, request_id, created_by, created_at)
VALUES ($1, $2::date, $3::date, $4, $5, $6, $7::int[], 0, 0, 0, $8, $12, nullif($9, ''), $10, to_timestamp($11))
RETURNING id)sql";
constexpr char kRunEventsSql[] = R"sql(
UPDATE theft_runs SET events_opened = $2, events_suppressed = $3, events_resolved = $4 WHERE id = $1)sql";
const std::string& OpenTheftEventsSql() {
  static const std::string* const kSql = new std::string(absl::StrCat(R"sql(
SELECT unit_code, period_key, subject, level, observed, threshold, message FROM events
WHERE rule_code = $1 AND subject <> '' AND state <> )sql", kResolved, " ORDER BY id"));
  return *kSql;
}
// The rule's unresolved events by customer, once the run's changes applied:
// its suspects at levels 1–2 are saved with theirs.
const std::string& EventIdsSql() {
  static const std::string* const kSql = new std::string(absl::StrCat(R"sql(
SELECT id, subject FROM events WHERE rule_code = $1 AND subject <> '' AND state <> )sql",
                                                                      kResolved));
  return *kSql;
}
constexpr char kSuspectFilter[] = R"sql(
  FROM theft_suspects s LEFT JOIN theft_suspects p ON p.run_id = $5 AND p.customer_id = s.customer_id
  WHERE s.run_id = $1 AND ($2::int[] = '{}' OR s.level = ANY ($2::int[]))
    AND ($3::text[] = '{}' OR s.station_code = ANY ($3::text[])) AND s.rank > $4)sql";
constexpr char kSuspectColumns[] = R"sql(
  s.customer_id, s.station_code, s.category, s.rank, s.level, s.score, s.reasons, coalesce(s.event_id, 0) AS event_id,
  coalesce(p.level, 0) AS previous_level, coalesce(p.rank, 0) AS previous_rank)sql";

constexpr char kSuspectOfEventSql[] = R"sql(
SELECT run_id, customer_id, station_code, features, signals FROM theft_suspects
WHERE event_id = $1 ORDER BY run_id DESC LIMIT 1)sql";
constexpr char kInsertLabelSql[] = R"sql(
INSERT INTO theft_labels (work_order_id, event_id, run_id, customer_id, station_code, theft, held_back, features,
                          signals, recorded_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, to_timestamp($10))
ON CONFLICT (work_order_id) DO NOTHING RETURNING 1 AS recorded)sql";
constexpr char kLabelColumns[] = R"sql(
  work_order_id, event_id, run_id, customer_id, station_code, theft, held_back, features, signals,
  extract(epoch FROM recorded_at)::float8 AS recorded_at)sql";

constexpr char kInsertModelSql[] = R"sql(
INSERT INTO theft_models (model, trained_on, held_back, champion_auc, challenger_auc, adopted, verdict, reason,
                          created_by, created_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, to_timestamp($10)) RETURNING version)sql";
constexpr char kModelColumns[] = R"sql(
  version, trained_on, held_back, champion_auc, challenger_auc, adopted, verdict, reason, created_by,
  extract(epoch FROM created_at)::float8 AS created_at)sql";
constexpr char kModelInUseSql[] =
    "SELECT version, model FROM theft_models WHERE adopted ORDER BY version DESC LIMIT 1";

v1::TheftAnalysis RunFromRow(const pqxx::row& r) {
  v1::TheftAnalysis a;
  a.set_id(r["id"].as<int64_t>());
  a.set_rule_code(r["rule_code"].as<std::string>());
  a.set_first_day(r["first_day"].as<std::string>());
  a.set_last_day(r["last_day"].as<std::string>());
  a.set_method(static_cast<v1::TheftMethod>(r["method"].as<int>()));
  a.set_model_version(r["model_version"].as<int>());
  a.set_customers(r["customers"].as<int>());
  std::vector<double> per_level;
  db::ParseNumberArray(r["per_level"].c_str(), per_level);
  for (double n : per_level) a.add_per_level(static_cast<int32_t>(n));
  a.set_events_opened(r["events_opened"].as<int>());
  a.set_events_suppressed(r["events_suppressed"].as<int>());
  a.set_events_resolved(r["events_resolved"].as<int>());
  a.set_seconds(r["seconds"].as<double>());
  a.set_days_read(r["days_read"].as<int>());
  a.mutable_audit()->set_created_by(r["created_by"].as<std::string>());
  SetTime(r["created_at"], a.mutable_audit()->mutable_created_at());
  a.mutable_audit()->set_updated_by(a.audit().created_by());
  *a.mutable_audit()->mutable_updated_at() = a.audit().created_at();
  a.mutable_audit()->set_version(1);
  return a;
}

v1::TheftModelVersion ModelFromRow(const pqxx::row& r) {
  v1::TheftModelVersion m;
  m.set_version(r["version"].as<int>());
  m.set_trained_on(r["trained_on"].as<int>());
  m.set_held_back(r["held_back"].as<int>());
  m.set_champion_auc(r["champion_auc"].as<double>());
  m.set_challenger_auc(r["challenger_auc"].as<double>());
  m.set_adopted(r["adopted"].as<bool>());
  m.set_verdict(r["verdict"].as<std::string>());
  m.mutable_audit()->set_reason(r["reason"].as<std::string>());
  m.mutable_audit()->set_created_by(r["created_by"].as<std::string>());
  SetTime(r["created_at"], m.mutable_audit()->mutable_created_at());
  m.mutable_audit()->set_updated_by(m.audit().created_by());
  *m.mutable_audit()->mutable_updated_at() = m.audit().created_at();
  m.mutable_audit()->set_version(1);
  return m;
}

LabelRow LabelFromRow(const pqxx::row& r) {
  LabelRow out;
  v1::TheftLabel& l = out.label;
  l.set_work_order_id(r["work_order_id"].as<int64_t>());
  l.set_event_id(r["event_id"].as<int64_t>());
  l.set_analysis_id(r["run_id"].as<int64_t>());
  l.set_customer_id(r["customer_id"].as<std::string>());
  l.set_station_code(r["station_code"].as<std::string>());
  l.set_theft(r["theft"].as<bool>());
  l.set_held_back(r["held_back"].as<bool>());
  SetTime(r["recorded_at"], l.mutable_recorded_at());
  out.features = FeaturesOf(Bytes(r["features"]));
  out.signals = FeaturesOf(Bytes(r["signals"]));
  return out;
}

}  // namespace

absl::StatusOr<std::optional<v1::TheftAnalysis>> TheftStore::RunOf(const std::string& request_id) {
  std::optional<v1::TheftAnalysis> out;
  if (request_id.empty()) return out;
  AW_RETURN_IF_ERROR(pool_->Run([&](pqxx::connection& c) -> absl::Status {
    pqxx::read_transaction tx(c);
    const pqxx::result r =
        tx.exec_params(absl::StrCat("SELECT ", kRunColumns, " FROM theft_runs WHERE request_id = $1"), request_id);
    if (!r.empty()) out = RunFromRow(r[0]);
    return absl::OkStatus();
  }));
  return out;
}

absl::StatusOr<v1::TheftAnalysis> TheftStore::SaveRun(
    const v1::TheftAnalysis& run, const std::vector<SuspectRow>& suspects, const std::string& request_id,
    const std::string& actor, absl::Time now,
    const std::function<TheftEventPlan(const std::vector<OpenTheftEvent>& open, int64_t run_id)>& plan) {
  int64_t id = 0;
  AW_RETURN_IF_ERROR(pool_->Run([&](pqxx::connection& c) -> absl::Status {
    pqxx::work tx(c);
    tx.exec_params(kRunLockSql, run.rule_code());
    if (!request_id.empty()) {
      const pqxx::result seen =
          tx.exec_params("SELECT id FROM theft_runs WHERE request_id = $1", request_id);
      if (!seen.empty()) {
        id = seen[0]["id"].as<int64_t>();
        return absl::OkStatus();
      }
    }
    std::vector<int64_t> per_level(run.per_level().begin(), run.per_level().end());
    id = tx.exec_params1(kInsertRunSql, run.rule_code(), run.first_day(), run.last_day(),
                         static_cast<int>(run.method()), run.model_version(), run.customers(),
                         NumberArray(per_level), ExactText(run.seconds()), request_id, actor, Epoch(now),
                         run.days_read())["id"]
             .as<int64_t>();
    // Runs of a rule are one at a time (the lock above), and the event
    // changes re-read each event's state as they apply: no row lock needed.
    std::vector<OpenTheftEvent> open;
    for (const auto& r : tx.exec_params(OpenTheftEventsSql(), run.rule_code())) {
      OpenTheftEvent& e = open.emplace_back();
      e.unit_code = r["unit_code"].as<std::string>();
      e.period_key = r["period_key"].as<std::string>();
      e.subject = r["subject"].as<std::string>();
      e.event = OpenEvent{r["level"].as<int>(), r["observed"].as<double>(), r["threshold"].as<double>(),
                          OpenEvent::Hash(r["message"].as<std::string>())};
    }
    const TheftEventPlan events = plan(open, id);
    AW_RETURN_IF_ERROR(events_->ApplyIn(tx, events.updates, "", 0, 0).status());
    absl::flat_hash_map<std::string, int64_t> event_of;
    for (const auto& r : tx.exec_params(EventIdsSql(), run.rule_code())) {
      event_of[r["subject"].as<std::string>()] = r["id"].as<int64_t>();
    }
    if (!suspects.empty()) {
      pqxx::stream_to copy(tx, "theft_suspects",
                           std::vector<std::string>{"run_id", "customer_id", "station_code", "category", "rank",
                                                    "level", "score", "reasons", "features", "signals",
                                                    "event_id"});
      v1::TheftSuspect reasons;
      for (const SuspectRow& s : suspects) {
        reasons.clear_reasons();
        for (const v1::TheftReason& r : s.reasons) *reasons.add_reasons() = r;
        const auto e = s.level <= 2 ? event_of.find(s.customer) : event_of.end();
        // libpqxx 6 writes a null pointer as NULL.
        const std::string event_id = e == event_of.end() ? "" : std::to_string(e->second);
        const char* event = e == event_of.end() ? nullptr : event_id.c_str();
        copy << std::make_tuple(id, s.customer, s.station, s.category, s.rank, s.level, ExactText(s.score),
                                ByteaText(reasons.SerializeAsString()), ByteaText(FeatureBytes(s.features)),
                                ByteaText(FeatureBytes(s.signals)), event);
      }
      copy.complete();
    }
    tx.exec_params(kRunEventsSql, id, events.opened, events.suppressed, events.resolved);
    tx.commit();
    return absl::OkStatus();
  }));
  return GetRun(id);
}

absl::StatusOr<v1::TheftAnalysis> TheftStore::GetRun(int64_t id) {
  std::optional<v1::TheftAnalysis> out;
  AW_RETURN_IF_ERROR(pool_->Run([&](pqxx::connection& c) -> absl::Status {
    pqxx::read_transaction tx(c);
    const pqxx::result r = tx.exec_params(absl::StrCat("SELECT ", kRunColumns, " FROM theft_runs WHERE id = $1"), id);
    if (!r.empty()) out = RunFromRow(r[0]);
    return absl::OkStatus();
  }));
  if (!out) return absl::NotFoundError(absl::StrCat("id: no theft analysis ", id));
  return *std::move(out);
}

absl::StatusOr<std::vector<v1::TheftAnalysis>> TheftStore::ListRuns(const std::string& rule_code, int64_t before_id,
                                                                    int limit) {
  std::vector<v1::TheftAnalysis> out;
  AW_RETURN_IF_ERROR(pool_->Run([&](pqxx::connection& c) -> absl::Status {
    pqxx::read_transaction tx(c);
    for (const auto& r : tx.exec_params(
             absl::StrCat("SELECT ", kRunColumns, " FROM theft_runs WHERE ($1 = '' OR rule_code = $1) ",
                          "AND ($2 = 0 OR id < $2) ORDER BY id DESC LIMIT $3"),
             rule_code, before_id, limit)) {
      out.push_back(RunFromRow(r));
    }
    return absl::OkStatus();
  }));
  return out;
}

absl::StatusOr<std::vector<v1::TheftSuspect>> TheftStore::ListSuspects(const SuspectFilter& f, int64_t* total) {
  std::vector<v1::TheftSuspect> out;
  std::vector<int64_t> levels(f.levels.begin(), f.levels.end());
  AW_RETURN_IF_ERROR(pool_->Run([&](pqxx::connection& c) -> absl::Status {
    pqxx::read_transaction tx(c);
    const std::string level_array = NumberArray(levels), stations = TextArray(f.stations);
    if (total != nullptr) {
      *total = tx.exec_params1(absl::StrCat("SELECT count(*) AS n", kSuspectFilter), f.run_id, level_array,
                               stations, 0, f.compare_to)["n"]
                   .as<int64_t>();
    }
    for (const auto& r : tx.exec_params(absl::StrCat("SELECT ", kSuspectColumns, kSuspectFilter,
                                                     " ORDER BY s.rank LIMIT $6"),
                                        f.run_id, level_array, stations, f.after_rank, f.compare_to, f.limit)) {
      v1::TheftSuspect& s = out.emplace_back();
      s.ParseFromString(Bytes(r["reasons"]));
      s.set_customer_id(r["customer_id"].as<std::string>());
      s.set_station_code(r["station_code"].as<std::string>());
      s.set_category(r["category"].as<std::string>());
      s.set_rank(r["rank"].as<int>());
      s.set_suspicion_level(r["level"].as<int>());
      s.set_score(r["score"].as<double>());
      s.set_event_id(r["event_id"].as<int64_t>());
      s.set_previous_level(r["previous_level"].as<int>());
      s.set_previous_rank(r["previous_rank"].as<int>());
    }
    return absl::OkStatus();
  }));
  return out;
}

absl::StatusOr<int> TheftStore::RecordOutcomes(const std::vector<Outcome>& outcomes,
                                               const std::function<bool(const std::string& customer)>& held_back,
                                               const std::string& feed, int64_t from, int64_t to, absl::Time now) {
  int recorded = 0;
  AW_RETURN_IF_ERROR(pool_->Run([&](pqxx::connection& c) -> absl::Status {
    recorded = 0;
    pqxx::work tx(c);
    for (const Outcome& o : outcomes) {
      const pqxx::result s = tx.exec_params(kSuspectOfEventSql, o.event_id);
      if (s.empty()) continue;  // not a theft suspect's event
      const std::string customer = s[0]["customer_id"].as<std::string>();
      const pqxx::result r =
          tx.exec_params(kInsertLabelSql, o.order_id, o.event_id, s[0]["run_id"].as<int64_t>(), customer,
                         s[0]["station_code"].as<std::string>(), o.theft, held_back(customer),
                         ByteaText(Bytes(s[0]["features"])), ByteaText(Bytes(s[0]["signals"])), Epoch(now));
      recorded += static_cast<int>(r.size());
    }
    AW_RETURN_IF_ERROR(events_->ApplyIn(tx, {}, feed, from, to).status());
    tx.commit();
    return absl::OkStatus();
  }));
  return recorded;
}

absl::StatusOr<int64_t> TheftStore::Cursor(const std::string& feed) { return events_->Cursor(feed); }

absl::StatusOr<std::vector<v1::TheftLabel>> TheftStore::ListLabels(int64_t before_order, int limit) {
  std::vector<v1::TheftLabel> out;
  AW_RETURN_IF_ERROR(pool_->Run([&](pqxx::connection& c) -> absl::Status {
    pqxx::read_transaction tx(c);
    for (const auto& r : tx.exec_params(absl::StrCat("SELECT ", kLabelColumns, " FROM theft_labels ",
                                                     "WHERE ($1 = 0 OR work_order_id < $1) ",
                                                     "ORDER BY work_order_id DESC LIMIT $2"),
                                        before_order, limit)) {
      out.push_back(LabelFromRow(r).label);
    }
    return absl::OkStatus();
  }));
  return out;
}

absl::StatusOr<std::vector<LabelRow>> TheftStore::LabelSet() {
  std::vector<LabelRow> out;
  AW_RETURN_IF_ERROR(pool_->Run([&](pqxx::connection& c) -> absl::Status {
    pqxx::read_transaction tx(c);
    for (const auto& r : tx.exec(absl::StrCat("SELECT ", kLabelColumns, " FROM theft_labels ORDER BY work_order_id"))) {
      out.push_back(LabelFromRow(r));
    }
    return absl::OkStatus();
  }));
  return out;
}

absl::StatusOr<v1::TheftModelVersion> TheftStore::SaveModel(v1::TheftModelVersion version, const std::string& model,
                                                            const std::string& reason, const std::string& actor,
                                                            absl::Time now) {
  AW_RETURN_IF_ERROR(pool_->Run([&](pqxx::connection& c) -> absl::Status {
    pqxx::work tx(c);
    const int v = tx.exec_params1(kInsertModelSql, pqxx::binarystring(model), version.trained_on(),
                                  version.held_back(), ExactText(version.champion_auc()),
                                  ExactText(version.challenger_auc()), version.adopted(), version.verdict(), reason,
                                  actor, Epoch(now))["version"]
                      .as<int>();
    const pqxx::result r =
        tx.exec_params(absl::StrCat("SELECT ", kModelColumns, " FROM theft_models WHERE version = $1"), v);
    version = ModelFromRow(r[0]);
    tx.commit();
    return absl::OkStatus();
  }));
  return version;
}

absl::StatusOr<std::vector<v1::TheftModelVersion>> TheftStore::ListModels(int before, int limit) {
  std::vector<v1::TheftModelVersion> out;
  AW_RETURN_IF_ERROR(pool_->Run([&](pqxx::connection& c) -> absl::Status {
    pqxx::read_transaction tx(c);
    for (const auto& r : tx.exec_params(absl::StrCat("SELECT ", kModelColumns, " FROM theft_models ",
                                                     "WHERE ($1 = 0 OR version < $1) ORDER BY version DESC LIMIT $2"),
                                        before, limit)) {
      out.push_back(ModelFromRow(r));
    }
    return absl::OkStatus();
  }));
  return out;
}

absl::StatusOr<std::optional<TheftStore::InUse>> TheftStore::ModelInUse() {
  std::optional<InUse> out;
  AW_RETURN_IF_ERROR(pool_->Run([&](pqxx::connection& c) -> absl::Status {
    pqxx::read_transaction tx(c);
    const pqxx::result r = tx.exec(kModelInUseSql);
    if (!r.empty()) out = InUse{r[0]["version"].as<int>(), Bytes(r[0]["model"])};
    return absl::OkStatus();
  }));
  return out;
}

}  // namespace aw::monitor
