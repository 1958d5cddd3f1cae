// Missing-data and consistency rules run from timer rows at their deadlines:
// each (rule, period) row is claimed with FOR UPDATE SKIP LOCKED by any
// replica, judged (monitor_logic) from ingest's completeness and values,
// looked at again daily while the problem lasts (so missing values escalate
// with the days overdue), and followed by the next period's row. Time comes
// from the clock it is given. Thread-safe.
#pragma once

#include "absl/status/statusor.h"
#include "common/background.h"
#include "common/clock.h"
#include "services/monitor/directory.h"
#include "services/monitor/monitor_metrics.h"
#include "services/monitor/monitor_store.h"

namespace aw::monitor {

class TimerRunner {
 public:
  // A round that could not be judged (ingest away) is tried again this much later.
  static constexpr absl::Duration kRetryAfter = absl::Minutes(5);

  TimerRunner(MonitorStore* store, Directory* directory, MonitorMetrics* metrics, absl::Duration interval,
              Clock* clock);
  void Start();
  void Stop();

  // Arms the first timer of a timer rule: the latest period already due.
  absl::Status Arm(const v1::Rule& rule);
  // Claims and runs every due timer; returns how many ran.
  absl::StatusOr<int> RunDue();

 private:
  // Judges one (rule, period) from ingest's answers.
  absl::StatusOr<TimerJudgement> Judge(const v1::Rule& rule, const Period& period,
                                       const std::map<std::string, OpenEvent>& open);

  MonitorStore* const store_;
  Directory* const directory_;
  MonitorMetrics* const metrics_;
  Clock* const clock_;
  PeriodicTask loop_;
};

}  // namespace aw::monitor
