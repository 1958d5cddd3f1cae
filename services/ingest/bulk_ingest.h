// Bulk ingest (IngestReadings): one bidirectional stream per client, reading
// batches ahead, applying them one at a time on the worker pool in arrival
// order and answering each once it is durable. ImportReadings, its
// client-streaming twin, applies batches the same way and answers once. When the drain begins, streams
// stop reading, answer every batch they took in, and end with UNAVAILABLE — so
// that no committed batch goes unanswered; the client re-sends the rest.
#pragma once

#include <functional>
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

template <typename Batch>
class BulkIngestStream;

// The open bulk-ingest streams of a service. Thread-safe.
class BulkIngest {
 public:
  BulkIngest(IngestStore* store, WorkerPool* workers, IngestMetrics* metrics)
      : store_(store), workers_(workers), metrics_(metrics) {}

  // A new IngestReadings stream; one that opens during the drain ends at once (UNAVAILABLE).
  grpc::ServerBidiReactor<v1::ReadingBatch, v1::BatchResult>* Open();
  // A new IngestConsumption stream, each batch written by `apply`.
  grpc::ServerBidiReactor<v1::ConsumptionBatch, v1::BatchResult>* OpenConsumption(
      std::function<absl::StatusOr<v1::BatchResult>(const v1::ConsumptionBatch&)> apply);
  // A new ImportReadings call answering into `response`.
  grpc::ServerReadReactor<v1::ReadingBatch>* OpenImport(v1::ImportReadingsResponse* response);
  // Streams answer what they took in and end.
  void Drain();

 private:
  template <typename Batch>
  friend class BulkIngestStream;
  friend class BulkImportCall;
  // What the registry holds of a stream of any kind of batch.
  class Stream {
   public:
    virtual ~Stream() = default;
    virtual void Drain() = 0;
  };
  template <typename Batch>
  grpc::ServerBidiReactor<Batch, v1::BatchResult>* OpenStream(
      std::function<absl::StatusOr<v1::BatchResult>(const Batch&)> apply);
  bool draining() {
    absl::MutexLock lock(&mu_);
    return draining_;
  }
  void Closed(Stream* stream);

  IngestStore* const store_;
  WorkerPool* const workers_;
  IngestMetrics* const metrics_;
  absl::Mutex mu_;
  bool draining_ ABSL_GUARDED_BY(mu_) = false;
  // The registry owns the streams: Drain() can reach a stream that ends
  // meanwhile, and a stream is freed when it leaves the registry (OnDone).
  absl::flat_hash_map<Stream*, std::shared_ptr<Stream>> open_ ABSL_GUARDED_BY(mu_);
};

}  // namespace aw::ingest
