// The intake of warning events: follows monitor's WatchEvents feed from the
// durable cursor and, for each event whose level's actions ask for it, opens
// a task with a dispatched work order to the event's unit (ONLINE_AUDIT) or
// raises a supervision order to its leader (SUPERVISION_ORDER), in one
// transaction with the move of the cursor. An event yields one task ever
// (unique in the schema, also across a crash between commit and cursor); an
// escalation updates its task and says so in its open orders' logs; a
// suppressed (whitelisted) event yields nothing, and an event that resolves
// or is suppressed closes the supervision order its level raised. Any number of replicas may
// run it: each page is applied by the first to lock the cursor. The rules'
// actions come from monitor (ListRules), fetched again when a rule is unknown
// or the copy is older than a few seconds. Thread-safe.
#pragma once

#include <memory>

#include <grpcpp/grpcpp.h>

#include "absl/container/flat_hash_map.h"
#include "absl/time/time.h"
#include "auditwatch/v1/monitor.grpc.pb.h"
#include "common/clock.h"
#include "common/feed_client.h"
#include "services/audit/audit_metrics.h"
#include "services/audit/audit_store.h"
#include "services/audit/units.h"

namespace aw::audit {

class EventIntake {
 public:
  struct Options {
    // A work order opened from a warning is due this long after.
    absl::Duration order_deadline = absl::Hours(24 * 7);
    absl::Duration call_timeout = absl::Seconds(30);
    Clock* clock = Clock::Real();
  };
  EventIntake(AuditStore* store, std::shared_ptr<grpc::Channel> monitor, Units* units, AuditMetrics* metrics,
              Options options);
  ~EventIntake();

  void Start();
  void Stop();

  // Applies one change of the feed (the loop's step; tests call it directly).
  absl::Status Handle(const v1::EventChange& change);

 private:
  // The rule `code`, from the copy or fetched again.
  absl::StatusOr<v1::Rule> RuleOf(const std::string& code);

  AuditStore* const store_;
  std::unique_ptr<v1::MonitorService::Stub> monitor_;
  Units* const units_;
  AuditMetrics* const metrics_;
  const Options options_;
  // Owned by the loop's thread (Handle is not called concurrently).
  absl::flat_hash_map<std::string, v1::Rule> rules_;
  absl::Time rules_fetched_ = absl::InfinitePast();
  FeedFollower<v1::WatchEventsRequest, v1::EventChange> follower_;
};

}  // namespace aw::audit
