// Prometheus series of the monitor service.
#pragma once

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include "absl/types/span.h"
#include "services/monitor/monitor_logic.h"

namespace aw::monitor {

struct MonitorMetrics {
  explicit MonitorMetrics(prometheus::Registry& registry)
      : rules(prometheus::BuildGauge()
                  .Name("auditwatch_monitor_rules")
                  .Help("Rules, by state")
                  .Register(registry)),
        evaluations(prometheus::BuildCounter()
                        .Name("auditwatch_monitor_evaluations_total")
                        .Help("Rule verdicts computed")
                        .Register(registry)
                        .Add({{"service", "monitor"}})),
        events(prometheus::BuildCounter()
                   .Name("auditwatch_monitor_events_total")
                   .Help("Event changes, by change and level")
                   .Register(registry)),
        feed_lag_seconds(prometheus::BuildGauge()
                             .Name("auditwatch_monitor_feed_lag_seconds")
                             .Help("Age of the newest reading the evaluator has committed events for")
                             .Register(registry)
                             .Add({{"service", "monitor"}})),
        leader(prometheus::BuildGauge()
                   .Name("auditwatch_monitor_evaluator_leader")
                   .Help("1 while this process runs the evaluator")
                   .Register(registry)
                   .Add({{"service", "monitor"}})),
        notifications(prometheus::BuildCounter()
                          .Name("auditwatch_monitor_notifications_total")
                          .Help("Notification deliveries, by result (sent, failed, retried)")
                          .Register(registry)),
        evaluator_seconds(prometheus::BuildCounter()
                              .Name("auditwatch_monitor_evaluator_seconds_total")
                              .Help("Time the evaluator spent, by stage: waiting for the feed (read), "
                                    "projecting and judging (judge), waiting for room in the commit queue "
                                    "(wait); and on its committer thread, writing events and cursor (commit)")
                              .Register(registry)),
        stage_read(evaluator_seconds.Add({{"service", "monitor"}, {"stage", "read"}})),
        stage_judge(evaluator_seconds.Add({{"service", "monitor"}, {"stage", "judge"}})),
        stage_wait(evaluator_seconds.Add({{"service", "monitor"}, {"stage", "wait"}})),
        stage_commit(evaluator_seconds.Add({{"service", "monitor"}, {"stage", "commit"}})) {}

  void Notified(const char* result) { notifications.Add({{"service", "monitor"}, {"result", result}}).Increment(); }

  void Event(const char* change, int level) {
    events.Add({{"service", "monitor"}, {"change", change}, {"level", std::to_string(level)}}).Increment();
  }

  // Counts what MonitorStore::Apply did: `updates` as given (resolutions by
  // the levels of the events they resolved, as Apply returned them).
  void Applied(absl::Span<const EventUpdate> updates, const std::vector<int>& resolved_levels) {
    for (const EventUpdate& u : updates) {
      switch (u.change) {
        case Change::kOpen: Event(u.suppressed ? "suppressed" : "opened", u.verdict.level); break;
        case Change::kEscalate: Event("escalated", u.verdict.level); break;
        case Change::kDeescalate: Event("de-escalated", u.verdict.level); break;
        case Change::kRejudge: Event("re-judged", u.verdict.level); break;
        default: break;
      }
    }
    for (int level : resolved_levels) Event("resolved", level);
  }

  prometheus::Family<prometheus::Gauge>& rules;
  prometheus::Counter& evaluations;
  prometheus::Family<prometheus::Counter>& events;
  prometheus::Gauge& feed_lag_seconds;
  prometheus::Gauge& leader;
  prometheus::Family<prometheus::Counter>& notifications;
  prometheus::Family<prometheus::Counter>& evaluator_seconds;
  prometheus::Counter& stage_read;
  prometheus::Counter& stage_judge;
  prometheus::Counter& stage_wait;
  prometheus::Counter& stage_commit;
};

}  // namespace aw::monitor
