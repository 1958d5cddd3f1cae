#include "services/audit/supervisor.h"

#include "common/status.h"

namespace aw::audit {

Supervisor::Supervisor(AuditStore* store, AuditMetrics* metrics, Options options)
    : store_(store),
      metrics_(metrics),
      options_(options),
      loop_("audit-timers", "audit", options.tick, options.clock, [this] { return RunDue().status(); }) {}

absl::StatusOr<int> Supervisor::RunDue() {
  int total = 0;
  for (;;) {
    const absl::Time now = options_.clock->Now();
    AW_ASSIGN_OR_RETURN(
        const int fired,
        store_->RunDueTimers(
            now, options_.batch, [&](const DueTimer& t) { return DecideTimer(t, now, options_.policy); },
            [&](const DueTimer& t, const TimerDecision& d) {
              const absl::Time committed = options_.clock->Now();
              metrics_->timer_delay.Observe(absl::ToDoubleSeconds(committed - t.due_at));
              for (int e : d.raise) metrics_->Raised(e);
            }));
    total += fired;
    if (fired < options_.batch) return total;
  }
}

}  // namespace aw::audit
