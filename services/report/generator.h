// The report worker: claims queued jobs (timer rows leased with FOR UPDATE
// SKIP LOCKED, so any number of replicas share them), gathers the data with
// the requester's identity, builds the document, writes the format and stores
// the file with its checksum; records progress after each stage and stops
// with nothing stored when a cancellation comes. Also fires due schedules
// into jobs and expires reports past retention. Time from the injected clock.
// Thread-safe.
#pragma once

#include <functional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "services/report/report_metrics.h"
#include "services/report/report_store.h"
#include "services/report/sources.h"

namespace aw::report {

class Generator {
 public:
  struct Options {
    absl::Duration lease = absl::Minutes(2);
    absl::Duration retention = absl::Hours(24 * 90);
    int max_attempts = 3;
    Clock* clock = nullptr;
    // Called after each change of a job's row (progress, its end): the
    // progress streams of this replica look at once.
    std::function<void()> changed = [] {};
  };
  Generator(ReportStore* store, Sources* sources, ReportMetrics* metrics, Options options)
      : store_(store), sources_(sources), metrics_(metrics), options_(options) {}

  // Claims and runs one queued job; false when none was queued.
  absl::StatusOr<bool> RunOne();
  // Queues the job of one due schedule and moves it on; false when none was due.
  absl::StatusOr<bool> FireOne();
  // Removes the files of reports past retention; how many.
  absl::StatusOr<int> Expire();

  // The document of a job, gathered for `identity`; `step(percent, stage)`
  // reports progress and answers false to stop (a cancellation).
  using Step = std::function<absl::StatusOr<bool>(int percent, const std::string& stage)>;
  absl::StatusOr<std::optional<v1::ReportDocument>> Document(const v1::ReportParams& params,
                                                             const v1::Identity& identity, const Step& step);

 private:
  ReportStore* const store_;
  Sources* const sources_;
  ReportMetrics* const metrics_;
  const Options options_;
};

}  // namespace aw::report
