// The report service's PostgreSQL schema (sql/): schedules as timer rows,
// report jobs with their lease, progress and cancellation mark, and the files
// of ready reports. Every statement is a named constant; columns are read by
// name; each write is one transaction. Time comes from the caller.
// Thread-safe.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "auditwatch/v1/report.pb.h"
#include "common/pg.h"

namespace aw::report {

namespace v1 = ::auditwatch::v1;

struct NewJob {
  v1::ReportParams params;  // normalised
  std::vector<std::string> scope_path;
  v1::Identity identity;
  std::string idempotency_key;
};

// A job with what the edge checks access by.
struct JobRecord {
  v1::ReportJob job;
  std::vector<std::string> scope_path;
  int64_t version = 0;
};

// A job a replica took to run.
struct Claimed {
  int64_t id = 0;
  v1::ReportParams params;
  v1::Identity identity;
  int attempts = 0;
};

struct StoredFile {
  std::string bytes;
  std::string file_name, content_type, sha256;
  absl::Time as_of, expires_at;
};

struct JobFilter {
  std::string scope_unit;  // jobs whose scope lies under it; any when empty
  std::vector<int> kinds, states;
  int64_t schedule_id = 0;
};

class ReportStore {
 public:
  explicit ReportStore(db::Pool* pool) : pool_(pool) {}

  // --- Jobs ---
  // Queues a job; the requester's same idempotency key gives the job it gave
  // before (INVALID_ARGUMENT when its parameters differ).
  absl::StatusOr<v1::ReportJob> CreateJob(const NewJob& job, absl::Time now);
  absl::StatusOr<JobRecord> GetJob(int64_t id);
  absl::StatusOr<std::vector<JobRecord>> GetJobs(const std::vector<int64_t>& ids);
  // Newest first: ids below `before` (0: from the newest), at most `limit`.
  absl::StatusOr<std::vector<v1::ReportJob>> ListJobs(const JobFilter& filter, int64_t before, int limit);
  // The oldest queued job, or a running one whose lease ran out (its replica
  // died), now RUNNING under a lease until now + `lease`.
  absl::StatusOr<std::optional<Claimed>> ClaimJob(absl::Time now, absl::Duration lease);
  // Records progress and extends the lease; false when a cancellation was asked.
  absl::StatusOr<bool> Progress(int64_t id, int percent, const std::string& stage, absl::Time lease_until);
  // READY with its file in one transaction; false (and nothing stored, the
  // job CANCELLED) when a cancellation came first.
  absl::StatusOr<bool> Finish(int64_t id, const StoredFile& file, absl::Time now);
  absl::Status Fail(int64_t id, const std::string& error, absl::Time now);
  absl::Status MarkCancelled(int64_t id, absl::Time now);
  // A queued job ends CANCELLED at once; a running one is marked for its
  // replica to stop at its next step. FAILED_PRECONDITION once ended.
  absl::StatusOr<JobRecord> Cancel(int64_t id, absl::Time now);
  // Up to `size` bytes of a READY job's file from `offset`.
  absl::StatusOr<std::string> Chunk(int64_t id, int64_t offset, int64_t size);
  // READY jobs past their expiry lose their file and become EXPIRED; how many.
  absl::StatusOr<int> Expire(absl::Time now);

  // --- Schedules ---
  absl::StatusOr<v1::ReportSchedule> CreateSchedule(const v1::ReportSchedule& schedule,
                                                    const std::vector<std::string>& scope_path,
                                                    const v1::Identity& identity, const std::string& key,
                                                    absl::Time now);
  absl::StatusOr<std::vector<v1::ReportSchedule>> ListSchedules(bool enabled_only, int64_t after_id, int limit);
  absl::StatusOr<v1::ReportSchedule> DisableSchedule(int64_t id, const std::string& actor, const std::string& reason,
                                                     absl::Time now);
  // What a firing queues: the job's parameters (with the period), and the
  // schedule's next firing.
  using Plan = std::function<std::pair<v1::ReportParams, absl::Time>(const v1::ReportSchedule&, absl::Time fire_at)>;
  // Fires one due schedule, if any: queues its job and moves it on, in one
  // transaction. The queued job's id, or nullopt when none was due.
  absl::StatusOr<std::optional<int64_t>> FireDue(absl::Time now, const Plan& plan);

  struct Gauges {
    int64_t queued = 0, running = 0, ready = 0, stored_bytes = 0;
  };
  absl::StatusOr<Gauges> ReadGauges();

 private:
  db::Pool* pool_;
};

}  // namespace aw::report
