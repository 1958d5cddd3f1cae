// The outcomes of inspections, from audit's facts feed (WatchAuditFacts): a
// work order of a theft event (its `subject` a customer) that is archived
// confirms the theft; one closed as a false positive refutes it. Each becomes
// a label of the suspect's evidence (theft_store), with the feed's cursor
// moved in the same transaction; facts of other orders pass by.
#pragma once

#include <functional>
#include <memory>

#include <grpcpp/grpcpp.h>

#include "auditwatch/v1/audit.grpc.pb.h"
#include "common/clock.h"
#include "common/feed_client.h"
#include "services/monitor/theft_store.h"

namespace aw::monitor {

class OutcomeIntake {
 public:
  static constexpr char kFeed[] = "audit.facts";

  // `audit` makes the channel to audit at each (re)connection: audit may start
  // after monitor in the same process, and is then reached in-process.
  OutcomeIntake(TheftStore* store, std::function<std::shared_ptr<grpc::Channel>()> audit, Clock* clock);
  ~OutcomeIntake();

  void Start();
  void Stop();

  // Applies one change of the feed (the loop's step; tests call it directly).
  absl::Status Handle(const v1::AuditFactChange& change);

 private:
  TheftStore* const store_;
  const std::function<std::shared_ptr<grpc::Channel>()> audit_channel_;
  std::unique_ptr<v1::AuditService::Stub> audit_;  // of the current connection
  Clock* const clock_;
  // The durable cursor, as last read or written (owned by the loop's thread).
  int64_t cursor_ = 0;
  FeedFollower<v1::WatchAuditFactsRequest, v1::AuditFactChange> follower_;
};

}  // namespace aw::monitor
