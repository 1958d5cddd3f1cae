// Bulk ingest (IngestReadings): one bidirectional stream per client, reading
// batches ahead, applying them one at a time on the worker pool in arrival
// order and answering each once it is durable. ImportReadings, its
// client-streaming twin, applies batches the same way and answers once. When the drain begins, streams
// stop reading, answer every batch they took in, and end with UNAVAILABLE — so
// that no committed batch goes unanswered; the client re-sends the rest.
#pragma once

#include <memory>

#include <grpcpp/grpcpp.h>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "auditwatch/v1/ingest.grpc.pb.h"
#include "common/worker_pool.h"
#include "services/ingest/ingest_metrics.h"
#include "services/ingest/ingest_store.h"

namespace aw::ingest {

class BulkIngestStream;

// The open bulk-ingest streams of a service. Thread-safe.
class BulkIngest {
 public:
  BulkIngest(IngestStore* store, WorkerPool* workers, IngestMetrics* metrics)
      : store_(store), workers_(workers), metrics_(metrics) {}

  // A new stream; one that opens during the drain ends at once (UNAVAILABLE).
  grpc::ServerBidiReactor<v1::ReadingBatch, v1::BatchResult>* Open();
  // A new ImportReadings call answering into `response`.
  grpc::ServerReadReactor<v1::ReadingBatch>* OpenImport(v1::ImportReadingsResponse* response);
  // Streams answer what they took in and end.
  void Drain();

 private:
  friend class BulkIngestStream;
  friend class BulkImportCall;
  bool draining() {
    absl::MutexLock lock(&mu_);
    return draining_;
  }
  void Closed(BulkIngestStream* stream);

  IngestStore* const store_;
  WorkerPool* const workers_;
  IngestMetrics* const metrics_;
  absl::Mutex mu_;
  bool draining_ ABSL_GUARDED_BY(mu_) = false;
  // The registry owns the streams: Drain() can reach a stream that ends
  // meanwhile, and a stream is freed when it leaves the registry (OnDone).
  absl::flat_hash_map<BulkIngestStream*, std::shared_ptr<BulkIngestStream>> open_ ABSL_GUARDED_BY(mu_);
};

}  // namespace aw::ingest
