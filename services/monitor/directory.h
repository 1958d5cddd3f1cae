// What the monitor knows of ingest's org units and indicators: a snapshot
// (DirectorySnapshot, monitor_logic.h) fetched over IngestService (ListUnits,
// ListIndicators), refreshed on demand. Also the monitor's one client of
// ingest, for the calls of the evaluator, the timers and backtests.
// Thread-safe.
#pragma once

#include <memory>

#include <grpcpp/grpcpp.h>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "auditwatch/v1/ingest.grpc.pb.h"
#include "common/clock.h"
#include "services/monitor/monitor_logic.h"

namespace aw::monitor {

class Directory {
 public:
  // `call_timeout`: the deadline of each call made with no caller to inherit one from.
  Directory(std::shared_ptr<grpc::Channel> ingest, absl::Duration call_timeout, Clock* clock)
      : stub_(v1::IngestService::NewStub(ingest)), call_timeout_(call_timeout), clock_(clock) {}

  // The snapshot, fetched first if there is none or it is older than `max_age`.
  absl::StatusOr<std::shared_ptr<const DirectorySnapshot>> Get(absl::Duration max_age = absl::Minutes(1));
  // Fetches a new snapshot now.
  absl::StatusOr<std::shared_ptr<const DirectorySnapshot>> Refresh();
  // The snapshot, fetched again when it does not know `unit` (created since).
  absl::StatusOr<std::shared_ptr<const DirectorySnapshot>> Knowing(const std::string& unit);

  v1::IngestService::Stub& ingest() { return *stub_; }
  absl::Duration call_timeout() const { return call_timeout_; }

 private:
  std::unique_ptr<v1::IngestService::Stub> stub_;
  const absl::Duration call_timeout_;
  Clock* const clock_;
  absl::Mutex mu_;
  std::shared_ptr<const DirectorySnapshot> snapshot_ ABSL_GUARDED_BY(mu_);
};

}  // namespace aw::monitor
