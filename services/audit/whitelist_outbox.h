// Delivers the audit service's outbox: each confirmed false positive asks
// monitor to whitelist its rule (or theme) for the order's unit, by
// CreateWhitelistEntry with the message's key as request_id, so that monitor
// makes one entry however often the request is delivered (a crash between
// the call and the commit delivers it again). Any replica delivers (messages
// are claimed with SKIP LOCKED); failures retry with exponential backoff.
// Thread-safe.
#pragma once

#include <memory>

#include <grpcpp/grpcpp.h>

#include "absl/status/statusor.h"
#include "auditwatch/v1/monitor.grpc.pb.h"
#include "common/background.h"
#include "common/backoff.h"
#include "common/clock.h"
#include "services/audit/audit_metrics.h"
#include "services/audit/audit_store.h"

namespace aw::audit {

class WhitelistOutbox {
 public:
  struct Options {
    Backoff backoff{.initial = absl::Seconds(1), .max = absl::Minutes(5)};
    absl::Duration tick = absl::Milliseconds(500);
    absl::Duration call_timeout = absl::Seconds(10);
    Clock* clock = Clock::Real();
  };
  WhitelistOutbox(AuditStore* store, std::shared_ptr<grpc::Channel> monitor, AuditMetrics* metrics, Options options);

  void Start() { loop_.Start(); }
  void Stop() { loop_.Stop(); }

  // Delivers every message due; returns how many were tried.
  absl::StatusOr<int> DeliverDue();

 private:
  absl::StatusOr<int64_t> Deliver(const OutboxMessage& message);

  AuditStore* const store_;
  std::unique_ptr<v1::MonitorService::Stub> monitor_;
  AuditMetrics* const metrics_;
  const Options options_;
  PeriodicTask loop_;
};

}  // namespace aw::audit
