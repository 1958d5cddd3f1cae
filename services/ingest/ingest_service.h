// The ingest service's gRPC adapter: decodes and validates requests, runs the
// store on the worker pool, streams bulk ingest and the change feed.
#pragma once

#include <atomic>
#include <memory>
#include <thread>

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>

#include "absl/synchronization/mutex.h"
#include "auditwatch/v1/ingest.grpc.pb.h"
#include "common/metrics.h"
#include "common/worker_pool.h"
#include "services/ingest/ingest_store.h"

namespace aw::ingest {

// Wakes change-feed subscribers when batches commit: polls the latest commit
// sequence (commits of other replicas) and is poked by this process's commits.
// Thread-safe.
class FeedHub {
 public:
  FeedHub(IngestStore* store, absl::Duration poll_interval);
  ~FeedHub();
  void Start();
  void Stop();
  // Called after a local commit.
  void Poke();
  // Blocks until a batch with commit_seq > `after` is known, `timeout` passes
  // or the hub stops; returns the latest commit_seq known.
  int64_t WaitBeyond(int64_t after, absl::Duration timeout);
  bool stopped() const;

 private:
  void Loop();

  IngestStore* store_;
  const absl::Duration poll_interval_;
  mutable absl::Mutex mu_;
  int64_t latest_ ABSL_GUARDED_BY(mu_) = 0;
  bool poked_ ABSL_GUARDED_BY(mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

// Prometheus series of the ingest service.
struct IngestMetrics {
  explicit IngestMetrics(prometheus::Registry& registry);
  void CountRows(const std::string& source, const v1::BatchResult& result);

  prometheus::Family<prometheus::Counter>& rows;
  prometheus::Histogram& batch_seconds;
  prometheus::Gauge& subscribers;
  prometheus::Gauge& feed_lag_batches;
  prometheus::Histogram& feed_delay_seconds;
  prometheus::Family<prometheus::Counter>& pull_runs;
};

class Puller;

class IngestServiceImpl final : public v1::IngestService::CallbackService {
 public:
  IngestServiceImpl(IngestStore* store, WorkerPool* workers, FeedHub* hub, IngestMetrics* metrics,
                    Puller* puller);

  using Ctx = grpc::CallbackServerContext;
  using Unary = grpc::ServerUnaryReactor;

  // IngestService — org units
  Unary* CreateUnit(Ctx*, const v1::CreateUnitRequest*, v1::Unit*) override;
  Unary* RenameUnit(Ctx*, const v1::RenameUnitRequest*, v1::Unit*) override;
  Unary* MoveUnit(Ctx*, const v1::MoveUnitRequest*, v1::Unit*) override;
  Unary* DeactivateUnit(Ctx*, const v1::DeactivateUnitRequest*, v1::Unit*) override;
  Unary* GetUnit(Ctx*, const v1::GetUnitRequest*, v1::Unit*) override;
  Unary* ListUnits(Ctx*, const v1::ListUnitsRequest*, v1::ListUnitsResponse*) override;
  Unary* GetUnitPath(Ctx*, const v1::GetUnitRequest*, v1::UnitPath*) override;
  Unary* GetUnitHistory(Ctx*, const v1::GetUnitRequest*, v1::UnitHistory*) override;
  // IngestService — indicator catalogue
  Unary* UpsertIndicator(Ctx*, const v1::UpsertIndicatorRequest*, v1::Indicator*) override;
  Unary* GetIndicator(Ctx*, const v1::GetIndicatorRequest*, v1::Indicator*) override;
  Unary* ListIndicators(Ctx*, const v1::ListIndicatorsRequest*, v1::ListIndicatorsResponse*) override;
  Unary* GetIndicatorHistory(Ctx*, const v1::GetIndicatorRequest*, v1::IndicatorHistory*) override;
  // IngestService — readings
  grpc::ServerBidiReactor<v1::ReadingBatch, v1::BatchResult>* IngestReadings(Ctx*) override;
  Unary* SubmitReading(Ctx*, const v1::SubmitReadingRequest*, v1::Reading*) override;
  Unary* CorrectReading(Ctx*, const v1::CorrectReadingRequest*, v1::Reading*) override;
  Unary* GetReading(Ctx*, const v1::GetReadingRequest*, v1::Reading*) override;
  Unary* GetReadingHistory(Ctx*, const v1::ReadingKey*, v1::ReadingHistory*) override;
  Unary* QueryReadings(Ctx*, const v1::QueryReadingsRequest*, v1::QueryReadingsResponse*) override;
  Unary* GetCompleteness(Ctx*, const v1::GetCompletenessRequest*,
                         v1::GetCompletenessResponse*) override;
  grpc::ServerWriteReactor<v1::WatchReadingsResponse>* WatchReadings(
      Ctx*, const v1::WatchReadingsRequest*) override;
  // IngestService — scheduled pulls
  Unary* ListDataSources(Ctx*, const v1::ListDataSourcesRequest*, v1::ListDataSourcesResponse*) override;
  Unary* UpsertPullBinding(Ctx*, const v1::UpsertPullBindingRequest*, v1::PullBinding*) override;
  Unary* ListPullBindings(Ctx*, const v1::ListPullBindingsRequest*, v1::ListPullBindingsResponse*) override;
  Unary* RunPull(Ctx*, const v1::RunPullRequest*, v1::PullRun*) override;
  Unary* ListPullRuns(Ctx*, const v1::ListPullRunsRequest*, v1::ListPullRunsResponse*) override;

 private:
  absl::Status WriteOne(const v1::ReadingKey& key, double value, const std::string& entered_by,
                        const std::string& source, const std::string& reason,
                        const std::string& request_id, int expected_version, bool must_exist,
                        v1::Reading* out);

  IngestStore* store_;
  WorkerPool* workers_;
  FeedHub* hub_;
  IngestMetrics* metrics_;
  Puller* puller_;
};

}  // namespace aw::ingest
