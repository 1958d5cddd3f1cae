// Deadlines and supervision (督办) from timer rows: every tick it claims the
// rows come due (FOR UPDATE SKIP LOCKED, so replicas never fire one twice and
// a restart skips none — a row goes only with the commit that acted on it)
// and does what audit_logic's DecideTimer says: an order past its deadline is
// marked overdue and a supervision order goes to its unit's leader; then
// reminders repeat every `remind_every` and, after `escalate_after` overdue,
// the supervision escalates to the parent unit's leader, and so on up. Time
// comes from the clock it is given. Thread-safe.
#pragma once

#include "absl/status/statusor.h"
#include "common/background.h"
#include "common/clock.h"
#include "services/audit/audit_metrics.h"
#include "services/audit/audit_store.h"

namespace aw::audit {

class Supervisor {
 public:
  struct Options {
    SupervisionPolicy policy;
    absl::Duration tick = absl::Milliseconds(100);
    int batch = 200;  // rows per transaction
    Clock* clock = Clock::Real();
  };
  Supervisor(AuditStore* store, AuditMetrics* metrics, Options options);

  void Start() { loop_.Start(); }
  void Stop() { loop_.Stop(); }

  // Fires every timer due now; returns how many fired.
  absl::StatusOr<int> RunDue();

 private:
  AuditStore* const store_;
  AuditMetrics* const metrics_;
  const Options options_;
  PeriodicTask loop_;
};

}  // namespace aw::audit
