// The scoring service's gRPC edge: decodes and validates requests, takes the
// actor from the verified identity, checks schemes against ingest's
// catalogue, runs evaluations through the Evaluator, reads runs from the
// store and asks scoring_logic for ranks, comparisons and forecasts, on the
// worker pool.
#pragma once

#include "auditwatch/v1/scoring.grpc.pb.h"
#include "common/clock.h"
#include "common/worker_pool.h"
#include "services/scoring/evaluator.h"
#include "services/scoring/scoring_store.h"
#include "services/scoring/sources.h"

namespace aw::scoring {

class ScoringServiceImpl final : public v1::ScoringService::CallbackService {
 public:
  struct Parts {
    ScoringStore* store;
    Evaluator* evaluator;
    Sources* sources;
    WorkerPool* workers;
    Clock* clock;
  };
  explicit ScoringServiceImpl(Parts parts) : p_(parts) {}

  using Ctx = grpc::CallbackServerContext;
  using Unary = grpc::ServerUnaryReactor;

  Unary* UpsertScheme(Ctx*, const v1::UpsertSchemeRequest*, v1::Scheme*) override;
  Unary* GetScheme(Ctx*, const v1::GetSchemeRequest*, v1::Scheme*) override;
  Unary* ListSchemeVersions(Ctx*, const v1::ListSchemeVersionsRequest*, v1::ListSchemeVersionsResponse*) override;
  Unary* SetUnitSelection(Ctx*, const v1::SetUnitSelectionRequest*, v1::UnitSelection*) override;
  Unary* GetUnitSelection(Ctx*, const v1::GetUnitSelectionRequest*, v1::UnitSelection*) override;
  Unary* GrantBonus(Ctx*, const v1::GrantBonusRequest*, v1::Bonus*) override;
  Unary* ListBonuses(Ctx*, const v1::ListBonusesRequest*, v1::ListBonusesResponse*) override;
  Unary* RunEvaluation(Ctx*, const v1::RunEvaluationRequest*, v1::EvaluationRun*) override;
  Unary* PublishRun(Ctx*, const v1::PublishRunRequest*, v1::EvaluationRun*) override;
  Unary* GetRun(Ctx*, const v1::GetRunRequest*, v1::EvaluationRun*) override;
  Unary* ListRuns(Ctx*, const v1::ListRunsRequest*, v1::ListRunsResponse*) override;
  Unary* GetEvaluation(Ctx*, const v1::GetEvaluationRequest*, v1::Evaluation*) override;
  Unary* ListRankings(Ctx*, const v1::ListRankingsRequest*, v1::ListRankingsResponse*) override;
  Unary* GetTrend(Ctx*, const v1::GetTrendRequest*, v1::GetTrendResponse*) override;
  Unary* ComparePeriods(Ctx*, const v1::ComparePeriodsRequest*, v1::ComparePeriodsResponse*) override;
  Unary* Forecast(Ctx*, const v1::ForecastRequest*, v1::ForecastResponse*) override;

 private:
  // The run a read uses: `run_id` when given (it must be of `period`), else
  // the period's published run, else its latest; NOT_FOUND naming `period`.
  absl::StatusOr<int64_t> RunFor(const Period& period, int64_t run_id);
  // A unit's evaluation in the run read for `period`, with its weakest items.
  absl::StatusOr<v1::Evaluation> EvaluationOf(const std::string& unit, const Period& period, int64_t run_id,
                                              int weakest);

  const Parts p_;
};

}  // namespace aw::scoring
