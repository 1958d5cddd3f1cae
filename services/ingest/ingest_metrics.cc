#include "services/ingest/ingest_metrics.h"

namespace aw::ingest {

namespace v1 = ::auditwatch::v1;

IngestMetrics::IngestMetrics(prometheus::Registry& registry)
    : rows(prometheus::BuildCounter()
               .Name("auditwatch_ingest_rows_total")
               .Help("Reading rows ingested, by source and result (accepted, or the rejection code)")
               .Register(registry)),
      batch_seconds(prometheus::BuildHistogram()
                        .Name("auditwatch_ingest_batch_seconds")
                        .Help("Time to validate and durably commit one batch")
                        .Register(registry)
                        .Add({{"service", "ingest"}}, prometheus::Histogram::BucketBoundaries{
                                                          0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 1})),
      pull_runs(prometheus::BuildCounter()
                    .Name("auditwatch_ingest_pull_runs_total")
                    .Help("Scheduled pull runs, by result")
                    .Register(registry)) {}

void IngestMetrics::CountRows(const std::string& source, const v1::BatchResult& result) {
  if (result.accepted() > 0) {
    rows.Add({{"service", "ingest"}, {"source", source}, {"result", "accepted"}}).Increment(result.accepted());
  }
  for (const v1::RowError& e : result.errors()) {
    rows.Add({{"service", "ingest"}, {"source", source}, {"result", e.code()}}).Increment();
  }
}

void IngestMetrics::CountPull(v1::PullRunState state) {
  const char* result = state == v1::PULL_RUN_STATE_FAILED    ? "failed"
                       : state == v1::PULL_RUN_STATE_PARTIAL ? "partial"
                                                             : "succeeded";
  pull_runs.Add({{"service", "ingest"}, {"result", result}}).Increment();
}

}  // namespace aw::ingest
