// Prometheus series of the scoring service: runs by period type and result,
// run duration, units scored, the lag of the feeds that repeat evaluations,
// due evaluations and the score-readings outbox.
#pragma once

#include <string>

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

namespace aw::scoring {

struct ScoringMetrics {
  explicit ScoringMetrics(prometheus::Registry& registry)
      : runs(prometheus::BuildCounter()
                 .Name("auditwatch_scoring_runs_total")
                 .Help("Evaluation runs by this process, by period type and result (ok or the error code)")
                 .Register(registry)),
        run_seconds(prometheus::BuildHistogram()
                        .Name("auditwatch_scoring_run_duration_seconds")
                        .Help("From gathering a run's inputs to its commit, by period type")
                        .Register(registry)),
        units_scored(prometheus::BuildCounter()
                         .Name("auditwatch_scoring_units_scored_total")
                         .Help("Units scored by the runs of this process")
                         .Register(registry)
                         .Add({{"service", "scoring"}})),
        feed_lag(prometheus::BuildGauge()
                     .Name("auditwatch_scoring_feed_lag_seconds")
                     .Help("Age of the newest change handled, by feed (readings, audit)")
                     .Register(registry)),
        due(prometheus::BuildGauge()
                .Name("auditwatch_scoring_due_evaluations")
                .Help("Timer rows of evaluations not yet run (scheduled and repeated)")
                .Register(registry)
                .Add({{"service", "scoring"}})),
        outbox(prometheus::BuildGauge()
                   .Name("auditwatch_scoring_outbox_backlog")
                   .Help("Published runs whose scores are not yet readings in ingest")
                   .Register(registry)
                   .Add({{"service", "scoring"}})) {}

  void Ran(const std::string& period_type, const std::string& result, double seconds) {
    runs.Add({{"service", "scoring"}, {"period_type", period_type}, {"result", result}}).Increment();
    if (result == "ok") {
      run_seconds
          .Add({{"service", "scoring"}, {"period_type", period_type}},
               prometheus::Histogram::BucketBoundaries{0.1, 0.25, 0.5, 1, 2, 5, 10, 30})
          .Observe(seconds);
    }
  }
  void Lag(const std::string& feed, double seconds) {
    feed_lag.Add({{"service", "scoring"}, {"feed", feed}}).Set(seconds);
  }

  prometheus::Family<prometheus::Counter>& runs;
  prometheus::Family<prometheus::Histogram>& run_seconds;
  prometheus::Counter& units_scored;
  prometheus::Family<prometheus::Gauge>& feed_lag;
  prometheus::Gauge& due;
  prometheus::Gauge& outbox;
};

}  // namespace aw::scoring
