#include "services/report/report_store.h"

#include "absl/strings/str_cat.h"
#include "common/paging.h"
#include "common/pg_arrays.h"
#include "common/pg_rows.h"
#include "common/status.h"
#include "common/timestamp.h"

namespace aw::report {
namespace {

using db::Bytes;
using db::Epoch;
using db::SetTime;
using db::TextArrayOf;

// --- Jobs -------------------------------------------------------------------------------

constexpr char kJobColumns[] = R"sql(
  id, params, state, progress, stage, error, file_name, content_type, size_bytes, sha256,
  extract(epoch FROM as_of)::float8 AS as_of, extract(epoch FROM finished_at)::float8 AS finished_at,
  extract(epoch FROM expires_at)::float8 AS expires_at, coalesce(schedule_id, 0) AS schedule_id,
  requested_by, extract(epoch FROM requested_at)::float8 AS requested_at, scope_path, version)sql";

constexpr char kInsertJobSql[] = R"sql(
  INSERT INTO jobs (params, kind, format, scope_unit, scope_path, period_key, identity, requested_by, requested_at,
                    idempotency_key, state)
  VALUES ($1, $2, $3, $4, $5::text[], $6, $7, $8, to_timestamp($9), $10, 1)
  ON CONFLICT (requested_by, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
  RETURNING id)sql";
constexpr char kJobByKeySql[] = "SELECT id, params FROM jobs WHERE requested_by = $1 AND idempotency_key = $2";
constexpr char kClaimJobSql[] = R"sql(
  WITH next AS (
    SELECT id FROM jobs
    WHERE state = 1 OR (state = 2 AND lease_until < to_timestamp($1))
    ORDER BY requested_at, id LIMIT 1 FOR UPDATE SKIP LOCKED)
  UPDATE jobs j SET state = 2, lease_until = to_timestamp($1) + make_interval(secs => $2), attempts = j.attempts + 1,
                    started_at = coalesce(j.started_at, to_timestamp($1)), stage = 'starting', version = j.version + 1
  FROM next WHERE j.id = next.id
  RETURNING j.id, j.params, j.identity, j.attempts)sql";
constexpr char kProgressSql[] = R"sql(
  UPDATE jobs SET progress = $2, stage = $3, lease_until = to_timestamp($4), version = version + 1
  WHERE id = $1 AND state = 2
  RETURNING cancel_requested)sql";
constexpr char kFinishSql[] = R"sql(
  UPDATE jobs SET state = 3, progress = 100, stage = 'ready', file_name = $2, content_type = $3, size_bytes = $4,
                  sha256 = $5, as_of = to_timestamp($6), expires_at = to_timestamp($7), finished_at = to_timestamp($8),
                  lease_until = NULL, version = version + 1
  WHERE id = $1 AND state = 2 AND NOT cancel_requested
  RETURNING id)sql";
constexpr char kInsertFileSql[] = "INSERT INTO files (job_id, content) VALUES ($1, $2)";
constexpr char kFailSql[] = R"sql(
  UPDATE jobs SET state = 4, stage = 'failed', error = $2, finished_at = to_timestamp($3), lease_until = NULL,
                  version = version + 1
  WHERE id = $1 AND state = 2)sql";
constexpr char kMarkCancelledSql[] = R"sql(
  UPDATE jobs SET state = 5, stage = 'cancelled', finished_at = to_timestamp($2), lease_until = NULL,
                  version = version + 1
  WHERE id = $1 AND state IN (1, 2))sql";
constexpr char kCancelSql[] = R"sql(
  UPDATE jobs SET cancel_requested = true,
                  state = CASE WHEN state = 1 THEN 5 ELSE state END,
                  stage = CASE WHEN state = 1 THEN 'cancelled' ELSE 'cancelling' END,
                  finished_at = CASE WHEN state = 1 THEN to_timestamp($2) ELSE finished_at END,
                  version = version + 1
  WHERE id = $1 AND state IN (1, 2)
  RETURNING id)sql";
constexpr char kChunkSql[] = R"sql(
  SELECT substring(f.content FROM ($2::bigint + 1)::int FOR $3::int) AS data
  FROM files f JOIN jobs j ON j.id = f.job_id WHERE f.job_id = $1 AND j.state = 3)sql";
constexpr char kExpireSql[] = R"sql(
  WITH gone AS (
    UPDATE jobs SET state = 6, stage = 'expired', version = version + 1
    WHERE state = 3 AND expires_at <= to_timestamp($1) RETURNING id)
  DELETE FROM files WHERE job_id IN (SELECT id FROM gone))sql";
constexpr char kGaugesSql[] = R"sql(
  SELECT count(*) FILTER (WHERE state = 1) AS queued, count(*) FILTER (WHERE state = 2) AS running,
         count(*) FILTER (WHERE state = 3) AS ready,
         coalesce(sum(size_bytes) FILTER (WHERE state = 3), 0)::bigint AS stored_bytes
  FROM jobs)sql";

JobRecord RecordOf(const pqxx::row& r) {
  JobRecord rec;
  v1::ReportJob& j = rec.job;
  j.set_id(r["id"].as<int64_t>());
  j.mutable_params()->ParseFromString(Bytes(r["params"]));
  j.set_state(static_cast<v1::ReportState>(r["state"].as<int>()));
  j.set_progress_percent(r["progress"].as<int>());
  j.set_stage(r["stage"].as<std::string>());
  j.set_error(r["error"].as<std::string>());
  j.set_file_name(r["file_name"].as<std::string>());
  j.set_content_type(r["content_type"].as<std::string>());
  j.set_size_bytes(r["size_bytes"].as<int64_t>());
  j.set_sha256(r["sha256"].as<std::string>());
  SetTime(r["as_of"], j.mutable_as_of());
  SetTime(r["finished_at"], j.mutable_finished_at());
  SetTime(r["expires_at"], j.mutable_expires_at());
  j.set_schedule_id(r["schedule_id"].as<int64_t>());
  j.set_requested_by(r["requested_by"].as<std::string>());
  SetTime(r["requested_at"], j.mutable_requested_at());
  rec.scope_path = TextArrayOf(r["scope_path"]);
  rec.version = r["version"].as<int64_t>();
  return rec;
}

// --- Schedules ----------------------------------------------------------------------------

constexpr char kScheduleColumns[] = R"sql(
  id, spec, enabled, extract(epoch FROM next_run_at)::float8 AS next_run_at,
  extract(epoch FROM last_run_at)::float8 AS last_run_at, created_by, extract(epoch FROM created_at)::float8 AS created_at,
  updated_by, extract(epoch FROM updated_at)::float8 AS updated_at, version, reason, identity, scope_path)sql";
constexpr char kInsertScheduleSql[] = R"sql(
  INSERT INTO schedules (spec, kind, scope_unit, scope_path, identity, next_run_at, idempotency_key, created_by,
                         created_at, updated_by, updated_at)
  VALUES ($1, $2, $3, $4::text[], $5, to_timestamp($6), $7, $8, to_timestamp($9), $8, to_timestamp($9))
  ON CONFLICT (created_by, idempotency_key) DO NOTHING
  RETURNING id)sql";
constexpr char kScheduleByKeySql[] = "SELECT id, spec FROM schedules WHERE created_by = $1 AND idempotency_key = $2";
constexpr char kDisableScheduleSql[] = R"sql(
  UPDATE schedules SET enabled = false, updated_by = $2, updated_at = to_timestamp($3), reason = $4,
                       version = version + 1
  WHERE id = $1 AND enabled
  RETURNING id)sql";
constexpr char kDueScheduleSql[] = R"sql(
  SELECT )sql";
constexpr char kDueScheduleTailSql[] = R"sql(
  FROM schedules WHERE enabled AND next_run_at <= to_timestamp($1)
  ORDER BY next_run_at, id LIMIT 1 FOR UPDATE SKIP LOCKED)sql";
constexpr char kInsertFiringSql[] = R"sql(
  INSERT INTO jobs (params, kind, format, scope_unit, scope_path, period_key, identity, requested_by, requested_at,
                    schedule_id, fire_at, state)
  VALUES ($1, $2, $3, $4, $5::text[], $6, $7, $8, to_timestamp($9), $10, to_timestamp($11), 1)
  ON CONFLICT (schedule_id, fire_at) WHERE schedule_id IS NOT NULL DO NOTHING
  RETURNING id)sql";
constexpr char kMoveScheduleSql[] =
    "UPDATE schedules SET next_run_at = to_timestamp($2), last_run_at = to_timestamp($3) WHERE id = $1";

v1::ReportSchedule ScheduleOf(const pqxx::row& r) {
  v1::ReportSchedule s;
  s.ParseFromString(Bytes(r["spec"]));
  s.set_id(r["id"].as<int64_t>());
  s.set_enabled(r["enabled"].as<bool>());
  SetTime(r["next_run_at"], s.mutable_next_run_at());
  SetTime(r["last_run_at"], s.mutable_last_run_at());
  db::FillAuditInfo(r, s.mutable_audit(), /*with_reason=*/true);
  return s;
}

// What a schedule's spec holds: what the creator chose, nothing the service keeps.
std::string SpecBytes(const v1::ReportSchedule& schedule) {
  v1::ReportSchedule spec = schedule;
  spec.clear_id();
  spec.clear_enabled();
  spec.clear_next_run_at();
  spec.clear_last_run_at();
  spec.clear_audit();
  return DeterministicBytes(spec);
}

}  // namespace

absl::StatusOr<v1::ReportJob> ReportStore::CreateJob(const NewJob& job, absl::Time now) {
  int64_t id = 0;
  const std::string params = DeterministicBytes(job.params);
  const std::string& actor = job.identity.principal().subject();
  AW_RETURN_IF_ERROR(pool_->Run([&](pqxx::connection& c) -> absl::Status {
    pqxx::work tx(c);
    const pqxx::result r =
        tx.exec_params(kInsertJobSql, pqxx::binarystring(params), static_cast<int>(job.params.kind()),
                       static_cast<int>(job.params.format()), job.params.scope().unit_code(),
                       db::TextArray(job.scope_path), job.params.period().key(),
                       pqxx::binarystring(job.identity.SerializeAsString()), actor, Epoch(now), job.idempotency_key);
    if (!r.empty()) {
      id = r[0]["id"].as<int64_t>();
    } else {
      const pqxx::row existing = tx.exec_params1(kJobByKeySql, actor, job.idempotency_key);
      if (Bytes(existing["params"]) != params) {
        return absl::InvalidArgumentError(absl::StrCat("idempotency_key: ", job.idempotency_key,
                                                       " was used for another report (job ",
                                                       existing["id"].as<int64_t>(), ")"));
      }
      id = existing["id"].as<int64_t>();
    }
    tx.commit();
    return absl::OkStatus();
  }));
  AW_ASSIGN_OR_RETURN(JobRecord rec, GetJob(id));
  return rec.job;
}

absl::StatusOr<JobRecord> ReportStore::GetJob(int64_t id) {
  AW_ASSIGN_OR_RETURN(std::vector<JobRecord> jobs, GetJobs({id}));
  if (jobs.empty()) return absl::NotFoundError(absl::StrCat("id: no report ", id));
  return std::move(jobs[0]);
}

absl::StatusOr<std::vector<JobRecord>> ReportStore::GetJobs(const std::vector<int64_t>& ids) {
  std::vector<JobRecord> out;
  AW_RETURN_IF_ERROR(pool_->Run([&](pqxx::connection& c) -> absl::Status {
    pqxx::read_transaction tx(c);
    for (const auto& r :
         tx.exec_params(absl::StrCat("SELECT ", kJobColumns, " FROM jobs WHERE id = ANY($1::bigint[]) ORDER BY id"),
                        db::NumberArray(ids))) {
      out.push_back(RecordOf(r));
    }
    return absl::OkStatus();
  }));
  return out;
}

absl::StatusOr<std::vector<v1::ReportJob>> ReportStore::ListJobs(const JobFilter& f, int64_t before, int limit) {
  std::vector<v1::ReportJob> out;
  AW_RETURN_IF_ERROR(pool_->Run([&](pqxx::connection& c) -> absl::Status {
    pqxx::read_transaction tx(c);
    const std::string sql = absl::StrCat(
        "SELECT ", kJobColumns, R"sql( FROM jobs
         WHERE ($1 = 0 OR id < $1) AND ($2 = '' OR scope_path @> ARRAY[$2::text])
           AND (cardinality($3::int[]) = 0 OR kind = ANY($3::int[]))
           AND (cardinality($4::int[]) = 0 OR state = ANY($4::int[]))
           AND ($5 = 0 OR schedule_id = $5)
         ORDER BY id DESC LIMIT $6)sql");
    for (const auto& r : tx.exec_params(sql, before, f.scope_unit, db::NumberArray(f.kinds),
                                        db::NumberArray(f.states), f.schedule_id, limit)) {
      out.push_back(RecordOf(r).job);
    }
    return absl::OkStatus();
  }));
  return out;
}

absl::StatusOr<std::optional<Claimed>> ReportStore::ClaimJob(absl::Time now, absl::Duration lease) {
  std::optional<Claimed> out;
  AW_RETURN_IF_ERROR(pool_->Run([&](pqxx::connection& c) -> absl::Status {
    pqxx::work tx(c);
    const pqxx::result r = tx.exec_params(kClaimJobSql, Epoch(now), absl::ToDoubleSeconds(lease));
    if (!r.empty()) {
      Claimed claimed{.id = r[0]["id"].as<int64_t>(), .attempts = r[0]["attempts"].as<int>()};
      claimed.params.ParseFromString(Bytes(r[0]["params"]));
      claimed.identity.ParseFromString(Bytes(r[0]["identity"]));
      out = std::move(claimed);
    }
    tx.commit();
    return absl::OkStatus();
  }));
  return out;
}

absl::StatusOr<bool> ReportStore::Progress(int64_t id, int percent, const std::string& stage, absl::Time lease_until) {
  bool go_on = false;
  AW_RETURN_IF_ERROR(pool_->Run([&](pqxx::connection& c) -> absl::Status {
    pqxx::work tx(c);
    const pqxx::result r = tx.exec_params(kProgressSql, id, percent, stage, Epoch(lease_until));
    go_on = !r.empty() && !r[0]["cancel_requested"].as<bool>();
    tx.commit();
    return absl::OkStatus();
  }));
  return go_on;
}

absl::StatusOr<bool> ReportStore::Finish(int64_t id, const StoredFile& file, absl::Time now) {
  bool stored = false;
  AW_RETURN_IF_ERROR(pool_->Run([&](pqxx::connection& c) -> absl::Status {
    pqxx::work tx(c);
    const pqxx::result r = tx.exec_params(kFinishSql, id, file.file_name, file.content_type,
                                          static_cast<int64_t>(file.bytes.size()), file.sha256, Epoch(file.as_of),
                                          Epoch(file.expires_at), Epoch(now));
    if (!r.empty()) {
      tx.exec_params(kInsertFileSql, id, pqxx::binarystring(file.bytes));
      stored = true;
    } else {
      tx.exec_params(kMarkCancelledSql, id, Epoch(now));
    }
    tx.commit();
    return absl::OkStatus();
  }));
  return stored;
}

absl::Status ReportStore::Fail(int64_t id, const std::string& error, absl::Time now) {
  return pool_->Run([&](pqxx::connection& c) -> absl::Status {
    pqxx::work tx(c);
    tx.exec_params(kFailSql, id, error, Epoch(now));
    tx.commit();
    return absl::OkStatus();
  });
}

absl::Status ReportStore::MarkCancelled(int64_t id, absl::Time now) {
  return pool_->Run([&](pqxx::connection& c) -> absl::Status {
    pqxx::work tx(c);
    tx.exec_params(kMarkCancelledSql, id, Epoch(now));
    tx.commit();
    return absl::OkStatus();
  });
}

absl::StatusOr<JobRecord> ReportStore::Cancel(int64_t id, absl::Time now) {
  bool changed = false;
  AW_RETURN_IF_ERROR(pool_->Run([&](pqxx::connection& c) -> absl::Status {
    pqxx::work tx(c);
    changed = !tx.exec_params(kCancelSql, id, Epoch(now)).empty();
    tx.commit();
    return absl::OkStatus();
  }));
  AW_ASSIGN_OR_RETURN(JobRecord rec, GetJob(id));
  if (!changed) {
    return absl::FailedPreconditionError(
        absl::StrCat("id: report ", id, " has already ended (", v1::ReportState_Name(rec.job.state()), ")"));
  }
  return rec;
}

absl::StatusOr<std::string> ReportStore::Chunk(int64_t id, int64_t offset, int64_t size) {
  std::string out;
  AW_RETURN_IF_ERROR(pool_->Run([&](pqxx::connection& c) -> absl::Status {
    pqxx::read_transaction tx(c);
    const pqxx::result r = tx.exec_params(kChunkSql, id, offset, static_cast<int>(size));
    if (r.empty()) return absl::FailedPreconditionError(absl::StrCat("id: report ", id, " has no stored file"));
    out = Bytes(r[0]["data"]);
    return absl::OkStatus();
  }));
  return out;
}

absl::StatusOr<int> ReportStore::Expire(absl::Time now) {
  int n = 0;
  AW_RETURN_IF_ERROR(pool_->Run([&](pqxx::connection& c) -> absl::Status {
    pqxx::work tx(c);
    n = static_cast<int>(tx.exec_params(kExpireSql, Epoch(now)).affected_rows());
    tx.commit();
    return absl::OkStatus();
  }));
  return n;
}

absl::StatusOr<v1::ReportSchedule> ReportStore::CreateSchedule(const v1::ReportSchedule& schedule,
                                                               const std::vector<std::string>& scope_path,
                                                               const v1::Identity& identity, const std::string& key,
                                                               absl::Time now) {
  const std::string spec = SpecBytes(schedule);
  const std::string& actor = identity.principal().subject();
  int64_t id = 0;
  AW_RETURN_IF_ERROR(pool_->Run([&](pqxx::connection& c) -> absl::Status {
    pqxx::work tx(c);
    const pqxx::result r = tx.exec_params(
        kInsertScheduleSql, pqxx::binarystring(spec), static_cast<int>(schedule.params().kind()),
        schedule.params().scope().unit_code(), db::TextArray(scope_path),
        pqxx::binarystring(identity.SerializeAsString()), Epoch(TimeOf(schedule.next_run_at())), key, actor,
        Epoch(now));
    if (!r.empty()) {
      id = r[0]["id"].as<int64_t>();
    } else {
      const pqxx::row existing = tx.exec_params1(kScheduleByKeySql, actor, key);
      if (Bytes(existing["spec"]) != spec) {
        return absl::InvalidArgumentError(absl::StrCat("idempotency_key: ", key, " was used for another schedule (",
                                                       existing["id"].as<int64_t>(), ")"));
      }
      id = existing["id"].as<int64_t>();
    }
    tx.commit();
    return absl::OkStatus();
  }));
  AW_ASSIGN_OR_RETURN(auto all, ListSchedules(false, id - 1, 1));
  if (all.empty() || all[0].id() != id) return absl::InternalError("schedule: not found after saving it");
  return all[0];
}

absl::StatusOr<std::vector<v1::ReportSchedule>> ReportStore::ListSchedules(bool enabled_only, int64_t after_id,
                                                                           int limit) {
  std::vector<v1::ReportSchedule> out;
  AW_RETURN_IF_ERROR(pool_->Run([&](pqxx::connection& c) -> absl::Status {
    pqxx::read_transaction tx(c);
    for (const auto& r : tx.exec_params(absl::StrCat("SELECT ", kScheduleColumns,
                                                     " FROM schedules WHERE id > $1 AND (enabled OR NOT $2)"
                                                     " ORDER BY id LIMIT $3"),
                                        after_id, enabled_only, limit)) {
      out.push_back(ScheduleOf(r));
    }
    return absl::OkStatus();
  }));
  return out;
}

absl::StatusOr<v1::ReportSchedule> ReportStore::DisableSchedule(int64_t id, const std::string& actor,
                                                                const std::string& reason, absl::Time now) {
  AW_RETURN_IF_ERROR(pool_->Run([&](pqxx::connection& c) -> absl::Status {
    pqxx::work tx(c);
    tx.exec_params(kDisableScheduleSql, id, actor, Epoch(now), reason);
    tx.commit();
    return absl::OkStatus();
  }));
  AW_ASSIGN_OR_RETURN(auto found, ListSchedules(false, id - 1, 1));
  if (found.empty() || found[0].id() != id) return absl::NotFoundError(absl::StrCat("id: no schedule ", id));
  return found[0];
}

absl::StatusOr<std::optional<int64_t>> ReportStore::FireDue(absl::Time now, const Plan& plan) {
  std::optional<int64_t> out;
  AW_RETURN_IF_ERROR(pool_->Run([&](pqxx::connection& c) -> absl::Status {
    pqxx::work tx(c);
    const pqxx::result due =
        tx.exec_params(absl::StrCat(kDueScheduleSql, kScheduleColumns, kDueScheduleTailSql), Epoch(now));
    if (due.empty()) return absl::OkStatus();
    const v1::ReportSchedule schedule = ScheduleOf(due[0]);
    const absl::Time fire_at = TimeOf(schedule.next_run_at());
    const auto [params, next] = plan(schedule, fire_at);
    const pqxx::result job = tx.exec_params(
        kInsertFiringSql, pqxx::binarystring(DeterministicBytes(params)), static_cast<int>(params.kind()),
        static_cast<int>(params.format()), params.scope().unit_code(), due[0]["scope_path"].c_str(),
        params.period().key(), pqxx::binarystring(Bytes(due[0]["identity"])), schedule.audit().created_by(), Epoch(now), schedule.id(),
        Epoch(fire_at));
    tx.exec_params(kMoveScheduleSql, schedule.id(), Epoch(next), Epoch(fire_at));
    tx.commit();
    if (!job.empty()) out = job[0]["id"].as<int64_t>();
    return absl::OkStatus();
  }));
  return out;
}

absl::StatusOr<ReportStore::Gauges> ReportStore::ReadGauges() {
  Gauges g;
  AW_RETURN_IF_ERROR(pool_->Run([&](pqxx::connection& c) -> absl::Status {
    pqxx::read_transaction tx(c);
    const pqxx::row r = tx.exec1(kGaugesSql);
    g.queued = r["queued"].as<int64_t>();
    g.running = r["running"].as<int64_t>();
    g.ready = r["ready"].as<int64_t>();
    g.stored_bytes = r["stored_bytes"].as<int64_t>();
    return absl::OkStatus();
  }));
  return g;
}

}  // namespace aw::report
