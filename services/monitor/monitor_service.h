// The monitor service's gRPC edge: decodes and validates requests, calls the
// rules (monitor_logic), the store, the timers and ingest (for backtests) on
// the worker pool, and encodes answers; WatchEvents is the events feed
// (events_feed.h).
#pragma once

#include "auditwatch/v1/monitor.grpc.pb.h"
#include "common/clock.h"
#include "common/worker_pool.h"
#include "services/monitor/directory.h"
#include "services/monitor/events_feed.h"
#include "services/monitor/monitor_store.h"
#include "services/monitor/theft_analysis.h"
#include "services/monitor/theft_store.h"
#include "services/monitor/timers.h"

namespace aw::monitor {

class MonitorServiceImpl final : public v1::MonitorService::CallbackService {
 public:
  struct Parts {
    MonitorStore* store;
    Directory* directory;
    TimerRunner* timers;
    EventsFeed* feed;
    TheftAnalyzer* theft;
    TheftStore* theft_store;
    WorkerPool* workers;
    Clock* clock;
    // The longest freeze a whitelist entry may have.
    absl::Duration max_whitelist_freeze;
  };
  explicit MonitorServiceImpl(Parts parts) : p_(parts) {}

  using Ctx = grpc::CallbackServerContext;
  using Unary = grpc::ServerUnaryReactor;

  // MonitorService — themes and rules
  Unary* UpsertTheme(Ctx*, const v1::UpsertThemeRequest*, v1::Theme*) override;
  Unary* ListThemes(Ctx*, const v1::ListThemesRequest*, v1::ListThemesResponse*) override;
  Unary* UpsertRule(Ctx*, const v1::UpsertRuleRequest*, v1::Rule*) override;
  Unary* GetRule(Ctx*, const v1::GetRuleRequest*, v1::Rule*) override;
  Unary* ListRules(Ctx*, const v1::ListRulesRequest*, v1::ListRulesResponse*) override;
  Unary* SetRuleEnabled(Ctx*, const v1::SetRuleEnabledRequest*, v1::Rule*) override;
  Unary* GetRuleHistory(Ctx*, const v1::GetRuleRequest*, v1::RuleHistory*) override;
  Unary* Backtest(Ctx*, const v1::BacktestRequest*, v1::BacktestResponse*) override;
  // MonitorService — events
  Unary* ListEvents(Ctx*, const v1::ListEventsRequest*, v1::ListEventsResponse*) override;
  Unary* GetEvent(Ctx*, const v1::GetEventRequest*, v1::WarningEvent*) override;
  Unary* AcknowledgeEvent(Ctx*, const v1::AcknowledgeEventRequest*, v1::WarningEvent*) override;
  grpc::ServerWriteReactor<v1::EventChange>* WatchEvents(Ctx*, const v1::WatchEventsRequest*) override;
  Unary* GetEvaluatorStatus(Ctx*, const v1::GetEvaluatorStatusRequest*, v1::EvaluatorStatus*) override;
  Unary* GetAnomalySummary(Ctx*, const v1::GetAnomalySummaryRequest*, v1::GetAnomalySummaryResponse*) override;
  // MonitorService — whitelist
  Unary* CreateWhitelistEntry(Ctx*, const v1::CreateWhitelistEntryRequest*, v1::WhitelistEntry*) override;
  Unary* RevokeWhitelistEntry(Ctx*, const v1::RevokeWhitelistEntryRequest*, v1::WhitelistEntry*) override;
  Unary* ListWhitelist(Ctx*, const v1::ListWhitelistRequest*, v1::ListWhitelistResponse*) override;
  // MonitorService — notifications
  Unary* UpsertContact(Ctx*, const v1::UpsertContactRequest*, v1::Contact*) override;
  Unary* ListContacts(Ctx*, const v1::ListContactsRequest*, v1::ListContactsResponse*) override;
  Unary* ListNotifications(Ctx*, const v1::ListNotificationsRequest*, v1::ListNotificationsResponse*) override;
  // MonitorService — theft suspicion
  Unary* AnalyzeTheft(Ctx*, const v1::AnalyzeTheftRequest*, v1::TheftAnalysis*) override;
  Unary* GetTheftAnalysis(Ctx*, const v1::GetTheftAnalysisRequest*, v1::TheftAnalysis*) override;
  Unary* ListTheftAnalyses(Ctx*, const v1::ListTheftAnalysesRequest*, v1::ListTheftAnalysesResponse*) override;
  Unary* ListTheftSuspects(Ctx*, const v1::ListTheftSuspectsRequest*, v1::ListTheftSuspectsResponse*) override;
  Unary* ListTheftLabels(Ctx*, const v1::ListTheftLabelsRequest*, v1::ListTheftLabelsResponse*) override;
  Unary* TrainTheftModel(Ctx*, const v1::TrainTheftModelRequest*, v1::TheftModelVersion*) override;
  Unary* ListTheftModels(Ctx*, const v1::ListTheftModelsRequest*, v1::ListTheftModelsResponse*) override;

 private:
  // Facts of the rule's indicators; NOT_FOUND naming the first unknown one.
  absl::StatusOr<std::vector<IndicatorFacts>> Facts(const v1::Rule& rule);
  // Unit codes a scope covers (empty = every unit); NOT_FOUND naming `field`.
  absl::StatusOr<std::vector<std::string>> ScopeUnits(const v1::UnitScope& scope,
                                                      const std::string& field = "scope.unit_code");

  const Parts p_;
};

}  // namespace aw::monitor
