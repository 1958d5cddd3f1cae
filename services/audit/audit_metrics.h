// Prometheus series of the audit service: orders by state, transitions,
// overdue orders, supervision orders raised, timer pickup delay, events-feed
// lag and the outbox backlog.
#pragma once

#include <string>

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include "absl/strings/ascii.h"
#include "services/audit/audit_logic.h"

namespace aw::audit {

struct AuditMetrics {
  explicit AuditMetrics(prometheus::Registry& registry)
      : orders(prometheus::BuildGauge()
                   .Name("auditwatch_audit_work_orders")
                   .Help("Work orders, by state (refreshed every few seconds)")
                   .Register(registry)),
        overdue(prometheus::BuildGauge()
                    .Name("auditwatch_audit_overdue_work_orders")
                    .Help("Work orders past their deadline without a submitted rectification")
                    .Register(registry)
                    .Add({{"service", "audit"}})),
        open_supervision(prometheus::BuildGauge()
                             .Name("auditwatch_audit_open_supervision_orders")
                             .Help("Supervision orders not yet closed")
                             .Register(registry)
                             .Add({{"service", "audit"}})),
        transitions(prometheus::BuildCounter()
                        .Name("auditwatch_audit_transitions_total")
                        .Help("Work-order transitions committed by this process, by action")
                        .Register(registry)),
        supervision_raised(prometheus::BuildCounter()
                               .Name("auditwatch_audit_supervision_orders_raised_total")
                               .Help("Supervision orders raised by this process, by escalation")
                               .Register(registry)),
        timer_delay(prometheus::BuildHistogram()
                        .Name("auditwatch_audit_timer_pickup_delay_seconds")
                        .Help("From a timer row's due time to the commit that acted on it")
                        .Register(registry)
                        .Add({{"service", "audit"}},
                             prometheus::Histogram::BucketBoundaries{0.05, 0.1, 0.25, 0.5, 1, 2, 5, 30, 300})),
        feed_lag(prometheus::BuildGauge()
                     .Name("auditwatch_audit_events_feed_lag_seconds")
                     .Help("Age of the newest warning event whose tasks are committed")
                     .Register(registry)
                     .Add({{"service", "audit"}})),
        outbox_backlog(prometheus::BuildGauge()
                           .Name("auditwatch_audit_outbox_backlog")
                           .Help("Outbox messages (whitelist requests to monitor) not yet delivered")
                           .Register(registry)
                           .Add({{"service", "audit"}})),
        outbox(prometheus::BuildCounter()
                   .Name("auditwatch_audit_outbox_deliveries_total")
                   .Help("Outbox delivery attempts, by result (delivered, retried)")
                   .Register(registry)),
        tasks_opened(prometheus::BuildCounter()
                         .Name("auditwatch_audit_tasks_from_events_total")
                         .Help("Tasks opened from warning events")
                         .Register(registry)
                         .Add({{"service", "audit"}})) {}

  void Transition(Action action) {
    transitions.Add({{"service", "audit"}, {"action", ActionName(action)}}).Increment();
  }
  void Raised(int escalation) {
    supervision_raised.Add({{"service", "audit"}, {"escalation", std::to_string(escalation)}}).Increment();
  }
  void Delivered(bool ok) { outbox.Add({{"service", "audit"}, {"result", ok ? "delivered" : "retried"}}).Increment(); }
  void OrdersInState(v1::WorkOrderState state, double n) {
    orders.Add({{"service", "audit"}, {"state", absl::AsciiStrToLower(StateName(state))}}).Set(n);
  }

  prometheus::Family<prometheus::Gauge>& orders;
  prometheus::Gauge& overdue;
  prometheus::Gauge& open_supervision;
  prometheus::Family<prometheus::Counter>& transitions;
  prometheus::Family<prometheus::Counter>& supervision_raised;
  prometheus::Histogram& timer_delay;
  prometheus::Gauge& feed_lag;
  prometheus::Gauge& outbox_backlog;
  prometheus::Family<prometheus::Counter>& outbox;
  prometheus::Counter& tasks_opened;
};

}  // namespace aw::audit
