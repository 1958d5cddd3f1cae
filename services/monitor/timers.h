// Missing-data and consistency rules run from timer rows at their deadlines:
// each (rule, period) row is claimed with FOR UPDATE SKIP LOCKED by any replica,
// judged from ingest's completeness and values, re-run daily while the problem
// lasts (so missing values escalate with the days overdue), and followed by the
// next period's row. Thread-safe.
#pragma once

#include <functional>
#include <thread>

#include "absl/synchronization/notification.h"
#include "common/period.h"
#include "services/monitor/directory.h"
#include "services/monitor/monitor_metrics.h"
#include "services/monitor/monitor_store.h"

namespace aw::monitor {

// When the values of `period` are due: after the latest deadline of the rule's
// indicators.
absl::Time RuleDeadline(const v1::Rule& rule, const DirectorySnapshot& dir, const Period& period);

class TimerRunner {
 public:
  TimerRunner(MonitorStore* store, Directory* directory, MonitorMetrics* metrics, absl::Duration interval);
  ~TimerRunner();
  void Start();
  void Stop();

  // Arms the first timer of a timer-driven rule: the latest period already due.
  absl::Status Arm(const v1::Rule& rule);
  // Claims and runs every due timer; returns how many ran.
  absl::StatusOr<int> RunDue();

 private:
  // Judges one (rule, period); `again` says whether to look again tomorrow.
  absl::Status Judge(const v1::Rule& rule, const Period& period, std::vector<EventUpdate>& updates, bool* again);

  MonitorStore* store_;
  Directory* directory_;
  MonitorMetrics* metrics_;
  const absl::Duration interval_;
  absl::Notification stop_;
  std::thread thread_;
};

}  // namespace aw::monitor
