// Scheduled pulls of system-computed indicators (报表数据的指向设置): a binding
// ties an indicator to a parameterised query on a configured read-only data
// source and a schedule. Due bindings are timer rows claimed with FOR UPDATE
// SKIP LOCKED, so any number of replicas run each due pull once; the rows go in
// through the normal batch path with source "pull:<binding>".
#pragma once

#include <map>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/synchronization/notification.h"
#include "auditwatch/v1/ingest.pb.h"
#include "services/ingest/ingest_service.h"
#include "services/ingest/ingest_store.h"

namespace aw::ingest {

// Thread-safe.
class Puller {
 public:
  Puller(IngestStore* store, std::map<std::string, std::string> data_sources,
         IngestMetrics* metrics, absl::Duration interval);
  ~Puller();

  void Start();  // runs due pulls every `interval` on its own thread
  void Stop();

  absl::StatusOr<v1::PullBinding> Upsert(const v1::UpsertPullBindingRequest& request);
  absl::Status List(int64_t offset, int limit, std::vector<v1::PullBinding>* out, int64_t* total);
  absl::Status ListRuns(const std::string& binding, int64_t offset, int limit,
                        std::vector<v1::PullRun>* out, int64_t* total);
  std::vector<v1::DataSource> DataSources();

  // Runs `binding` for `period` now, outside its schedule.
  absl::StatusOr<v1::PullRun> RunNow(const std::string& binding, const std::string& period_key,
                                     const std::string& actor);
  // Claims and runs every due binding; returns how many ran.
  absl::StatusOr<int> RunDue();

 private:
  struct Binding;
  // Reads the data source, ingests the rows and fills `run` (never fails: a
  // failure is the run's state and error).
  void Execute(const Binding& binding, const Period& period, const std::string& batch_id,
               v1::PullRun* run);

  IngestStore* store_;
  const std::map<std::string, std::string> data_sources_;
  IngestMetrics* metrics_;
  const absl::Duration interval_;
  absl::Notification stop_;
  std::thread thread_;
};

}  // namespace aw::ingest
