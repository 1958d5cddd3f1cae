// The ingest service's business metrics, in one place. (The readings feed's
// subscribers, lag and delay are the common feed metrics, feed="readings".)
#pragma once

#include <string>

#include <prometheus/counter.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include "auditwatch/v1/ingest.pb.h"

namespace aw::ingest {

struct IngestMetrics {
  explicit IngestMetrics(prometheus::Registry& registry);
  // Rows of a batch by source and result (accepted, or the rejection code).
  void CountRows(const std::string& source, const auditwatch::v1::BatchResult& result);
  void CountPull(auditwatch::v1::PullRunState state);

  prometheus::Family<prometheus::Counter>& rows;
  prometheus::Histogram& batch_seconds;
  prometheus::Family<prometheus::Counter>& pull_runs;
};

}  // namespace aw::ingest
