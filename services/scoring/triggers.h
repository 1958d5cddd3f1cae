// What makes an evaluated period due again: follows ingest's WatchReadings
// and audit's WatchAuditFacts from durable cursors and, for a reading (late
// data, a correction) of an indicator the year's scheme scores, or a
// deduction fact, marks the evaluation periods it can change — those that
// already have a run — due after `rerun_delay` (so a burst of corrections
// makes one run), moving the cursor in the same transaction. Readings of the
// scores this service publishes are not in any scheme and change nothing.
// Thread-safe.
#pragma once

#include <memory>

#include <grpcpp/grpcpp.h>

#include "absl/time/time.h"
#include "auditwatch/v1/audit.grpc.pb.h"
#include "auditwatch/v1/ingest.grpc.pb.h"
#include "common/clock.h"
#include "common/feed_client.h"
#include "services/scoring/scoring_metrics.h"
#include "services/scoring/scoring_store.h"

namespace aw::scoring {

class Triggers {
 public:
  static constexpr char kReadingsFeed[] = "ingest.readings";
  static constexpr char kAuditFeed[] = "audit.facts";

  struct Options {
    absl::Duration rerun_delay = absl::Seconds(30);
    Clock* clock = Clock::Real();
  };
  Triggers(ScoringStore* store, std::shared_ptr<grpc::Channel> ingest, std::shared_ptr<grpc::Channel> audit,
           ScoringMetrics* metrics, Options options);
  ~Triggers();

  void Start();
  void Stop();

  // One page of each feed (the loops' steps; tests call them directly).
  absl::Status HandleReadings(const v1::WatchReadingsResponse& page);
  absl::Status HandleFacts(const v1::AuditFactChange& change);

 private:

  ScoringStore* const store_;
  std::unique_ptr<v1::IngestService::Stub> ingest_;
  std::unique_ptr<v1::AuditService::Stub> audit_;
  ScoringMetrics* const metrics_;
  const Options options_;

  FeedFollower<v1::WatchReadingsRequest, v1::WatchReadingsResponse> readings_;
  FeedFollower<v1::WatchAuditFactsRequest, v1::AuditFactChange> facts_;
};

}  // namespace aw::scoring
