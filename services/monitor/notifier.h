// Notifications (短信 and others) through an outbox: raised events are routed
// to their unit's contacts by level, a unit's events raised close together are
// grouped into one message, events still open are notified again after the
// repeat interval, and any replica delivers due messages (claimed with SKIP
// LOCKED in the store) by HTTP POST of a JSON body to the gateway with an
// Idempotency-Key header, retrying with exponential backoff; without a gateway
// they go to the log. Time comes from the clock it is given. Thread-safe.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/background.h"
#include "common/backoff.h"
#include "common/clock.h"
#include "services/monitor/monitor_metrics.h"
#include "services/monitor/monitor_store.h"

namespace aw::monitor {

class Notifier {
 public:
  struct Options {
    std::string gateway_url;  // empty = log channel
    absl::Duration group_window = absl::Seconds(60);
    absl::Duration repeat = absl::Hours(24);
    int max_attempts = 8;
    // Between delivery attempts of one message: 1 s, 2 s, 4 s … at most 5 minutes.
    Backoff backoff{.initial = absl::Seconds(1), .max = absl::Minutes(5)};
    absl::Duration tick = absl::Milliseconds(500);
    Clock* clock = Clock::Real();
  };
  Notifier(MonitorStore* store, MonitorMetrics* metrics, Options options);

  void Start();
  void Stop();

  // Routes raised events into messages, queues repeats and delivers the
  // messages due; returns how many were sent.
  absl::StatusOr<int> DeliverDue();

 private:
  // POSTs `body`; OK on a 2xx answer.
  absl::Status Post(const std::string& key, const std::string& body);

  MonitorStore* const store_;
  MonitorMetrics* const metrics_;
  const Options options_;
  PeriodicTask loop_;
};

}  // namespace aw::monitor
