// The ingest service's gRPC edge: decodes and validates requests, calls the
// rules (ingest_logic) and the store on the worker pool, encodes answers. The
// two streams live in their own files: bulk ingest (bulk_ingest.h) and the
// readings feed (readings_feed.h).
#pragma once

#include "auditwatch/v1/ingest.grpc.pb.h"
#include "common/clock.h"
#include "common/worker_pool.h"
#include "services/ingest/bulk_ingest.h"
#include "services/ingest/consumption_store.h"
#include "services/ingest/ingest_metrics.h"
#include "services/ingest/ingest_store.h"
#include "services/ingest/puller.h"
#include "services/ingest/readings_feed.h"

namespace aw::ingest {

class IngestServiceImpl final : public v1::IngestService::CallbackService {
 public:
  struct Parts {
    IngestStore* store;
    ConsumptionStore* consumption;
    WorkerPool* workers;
    BulkIngest* bulk;
    ReadingsFeed* feed;
    IngestMetrics* metrics;
    Puller* puller;
    Clock* clock;
  };
  explicit IngestServiceImpl(Parts parts) : p_(parts) {}

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
  grpc::ServerReadReactor<v1::ReadingBatch>* ImportReadings(Ctx*, v1::ImportReadingsResponse*) override;
  Unary* SubmitReading(Ctx*, const v1::SubmitReadingRequest*, v1::Reading*) override;
  Unary* CorrectReading(Ctx*, const v1::CorrectReadingRequest*, v1::Reading*) override;
  Unary* GetReading(Ctx*, const v1::GetReadingRequest*, v1::Reading*) override;
  Unary* GetReadingHistory(Ctx*, const v1::ReadingKey*, v1::ReadingHistory*) override;
  Unary* QueryReadings(Ctx*, const v1::QueryReadingsRequest*, v1::QueryReadingsResponse*) override;
  Unary* GetCompleteness(Ctx*, const v1::GetCompletenessRequest*, v1::GetCompletenessResponse*) override;
  // IngestService — customer consumption
  grpc::ServerBidiReactor<v1::ConsumptionBatch, v1::BatchResult>* IngestConsumption(Ctx*) override;
  Unary* QueryConsumption(Ctx*, const v1::QueryConsumptionRequest*, v1::QueryConsumptionResponse*) override;
  grpc::ServerWriteReactor<v1::ConsumptionPage>* StreamConsumption(Ctx*, const v1::StreamConsumptionRequest*) override;
  grpc::ServerWriteReactor<v1::WatchReadingsResponse>* WatchReadings(Ctx*, const v1::WatchReadingsRequest*) override;
  // IngestService — scheduled pulls
  Unary* ListDataSources(Ctx*, const v1::ListDataSourcesRequest*, v1::ListDataSourcesResponse*) override;
  Unary* UpsertPullBinding(Ctx*, const v1::UpsertPullBindingRequest*, v1::PullBinding*) override;
  Unary* ListPullBindings(Ctx*, const v1::ListPullBindingsRequest*, v1::ListPullBindingsResponse*) override;
  Unary* RunPull(Ctx*, const v1::RunPullRequest*, v1::PullRun*) override;
  Unary* ListPullRuns(Ctx*, const v1::ListPullRunsRequest*, v1::ListPullRunsResponse*) override;

 private:
  // The days and supply stations a consumption query covers.
  struct ConsumptionWindow {
    absl::CivilDay first, last;
    std::vector<std::string> stations;
  };
  absl::StatusOr<ConsumptionWindow> WindowOf(const v1::UnitScope& scope, const std::string& first_day,
                                             const std::string& last_day);
  // SubmitReading and CorrectReading: one row through the batch path.
  absl::Status WriteOne(const v1::ReadingKey& key, double value, const std::string& entered_by,
                        const std::string& source, const std::string& reason, const std::string& request_id,
                        int expected_version, bool must_exist, v1::Reading* out);
  absl::Status ChangeUnit(const UnitChange& change, v1::Unit* out);
  // The current values of the shorter period `types` of the units and
  // indicators, for the periods starting in [first_day, last_day]: what
  // roll-ups are made of.
  absl::StatusOr<std::vector<StoredReading>> ReadShorter(const std::vector<int>& unit_ids,
                                                         const std::vector<int>& indicator_ids,
                                                         const std::vector<PeriodType>& types,
                                                         absl::CivilDay first_day, absl::CivilDay last_day);
  absl::CivilDay Today() const { return CivilDayOf(p_.clock->Now()); }

  const Parts p_;
};

}  // namespace aw::ingest
