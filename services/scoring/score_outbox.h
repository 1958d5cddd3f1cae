// Publishes scores to ingest as readings of derived indicators (source
// "scoring"), so that monitor's static and dynamic rules alarm on scores
// (SPEC §4 静态告警、动态预警): for each published run in the outbox, every
// unit's composite and its main, process and business totals for the run's
// period, in batches whose ids name the run (ingest applies a batch once, so
// a redelivery after a crash writes nothing twice). A later published run of
// the period corrects the values (a new version of each reading). The
// indicators are created in ingest's catalogue on first use. Thread-safe.
#pragma once

#include <memory>
#include <string>

#include <grpcpp/grpcpp.h>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "auditwatch/v1/ingest.grpc.pb.h"
#include "common/background.h"
#include "common/backoff.h"
#include "common/clock.h"
#include "services/scoring/scoring_metrics.h"
#include "services/scoring/scoring_store.h"

namespace aw::scoring {

// The derived indicators, and what each carries.
inline constexpr char kScoreComposite[] = "SCORE-COMPOSITE";
inline constexpr char kScoreMain[] = "SCORE-MAIN";
inline constexpr char kScoreProcess[] = "SCORE-PROCESS";
inline constexpr char kScoreBusiness[] = "SCORE-BUSINESS";

class ScoreOutbox {
 public:
  struct Options {
    absl::Duration tick = absl::Milliseconds(500);
    absl::Duration call_timeout = absl::Seconds(30);
    Backoff backoff{.initial = absl::Seconds(1), .max = absl::Minutes(5)};
    Clock* clock = Clock::Real();
  };
  ScoreOutbox(ScoringStore* store, std::shared_ptr<grpc::Channel> ingest, ScoringMetrics* metrics, Options options);

  void Start() { loop_.Start(); }
  void Stop() { loop_.Stop(); }

  // Sends every due run's scores (the loop's step); how many runs were sent.
  absl::StatusOr<int> SendDue();

 private:
  absl::Status EnsureIndicators();
  absl::Status Send(const ScoringStore::Outgoing& run);

  ScoringStore* const store_;
  std::unique_ptr<v1::IngestService::Stub> ingest_;
  ScoringMetrics* const metrics_;
  const Options options_;
  bool indicators_ready_ = false;  // the loop's thread only
  int failures_ = 0;
  PeriodicTask loop_;
};

}  // namespace aw::scoring
