// Scheduled pulls of system-computed indicators (报表数据的指向设置): a binding
// ties an indicator to a parameterised query on a configured read-only data
// source and a schedule. Due bindings are timer rows claimed with FOR UPDATE
// SKIP LOCKED, so any number of replicas run each due pull once; the rows go in
// through the normal batch path with source "pull:<binding>". Thread-safe.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "auditwatch/v1/ingest.pb.h"
#include "common/background.h"
#include "common/clock.h"
#include "services/ingest/ingest_metrics.h"
#include "services/ingest/ingest_store.h"

namespace aw::ingest {

class Puller {
 public:
  struct Options {
    // Read-only databases pulls read from, by name (--data_sources).
    std::map<std::string, std::string> data_sources;
    // How often due bindings are looked for.
    absl::Duration interval = absl::Seconds(5);
    Clock* clock = Clock::Real();
  };
  // A failed pull is tried again, for the same period, this much later.
  static constexpr absl::Duration kRetryAfter = absl::Minutes(5);
  // The longest a pull's query may run on its data source.
  static constexpr absl::Duration kQueryTimeout = absl::Seconds(60);

  Puller(IngestStore* store, IngestMetrics* metrics, Options options);

  void Start();  // runs due pulls every `interval` on its own thread
  void Stop();

  // Checks and saves a binding (CheckPullBinding).
  absl::StatusOr<v1::PullBinding> Upsert(const v1::UpsertPullBindingRequest& request);
  std::vector<v1::DataSource> DataSources() const;

  // Runs `binding` for `period` now, outside its schedule.
  absl::StatusOr<v1::PullRun> RunNow(const std::string& binding, const std::string& period_key,
                                     const std::string& actor);
  // Claims and runs every due binding; returns how many ran.
  absl::StatusOr<int> RunDue();

 private:
  // Reads the data source and ingests the rows (never fails: a failure is
  // the run's state and error).
  v1::PullRun Execute(const PullBindingRow& binding, const Period& period, const std::string& batch_id);

  IngestStore* const store_;
  IngestMetrics* const metrics_;
  const Options options_;
  PeriodicTask loop_;
};

}  // namespace aw::ingest
