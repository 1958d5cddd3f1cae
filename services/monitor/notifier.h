// Notifications (短信 and others) through an outbox: raised events are routed
// to their unit's contacts by level, a unit's events raised close together are
// grouped into one message, events still open are notified again after the
// repeat interval, and any replica delivers due messages (claimed with SKIP
// LOCKED) by HTTP POST to the gateway with an Idempotency-Key header, retrying
// with exponential backoff; without a gateway they go to the log. Thread-safe.
#pragma once

#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "auditwatch/v1/monitor.pb.h"
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
    absl::Duration tick = absl::Milliseconds(500);
  };
  Notifier(MonitorStore* store, MonitorMetrics* metrics, Options options);
  ~Notifier();
  void Start();
  void Stop();

  // Queues notifications for raised events (opened, escalated, reopened).
  // Events raised by the evaluator and timers arrive through the notify_queue
  // table, written with the events; this is for everything else.
  absl::Status Enqueue(const std::vector<int64_t>& event_ids);
  // Delivers due notifications and queues repeats; returns how many were sent.
  absl::StatusOr<int> DeliverDue();

  absl::StatusOr<v1::Contact> UpsertContact(const v1::Contact& contact, const std::string& actor);
  absl::StatusOr<std::vector<v1::Contact>> Contacts(const std::vector<std::string>& unit_codes);
  absl::Status List(const std::vector<std::string>& unit_codes, const std::vector<int>& states, int64_t offset,
                    int limit, std::vector<v1::Notification>* out, int64_t* total);

 private:
  absl::Status EnqueueIn(pqxx::transaction_base& tx, const std::vector<int64_t>& event_ids);
  // POSTs `body`; OK on a 2xx answer.
  absl::Status Post(const std::string& key, const std::string& body);

  MonitorStore* store_;
  MonitorMetrics* metrics_;
  const Options options_;
  absl::Notification stop_;
  std::thread thread_;
};

}  // namespace aw::monitor
