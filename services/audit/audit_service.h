// The audit service's gRPC edge: decodes and validates requests, takes the
// caller from the verified identity, asks audit_logic whether a command may
// be done, remembers idempotent answers, calls the store, ingest (unit paths)
// and monitor (rules, anomaly summaries, whitelist) on the worker pool, and
// encodes answers; WatchAuditFacts is the facts feed (facts_feed.h).
#pragma once

#include <functional>

#include "auditwatch/v1/audit.grpc.pb.h"
#include "auditwatch/v1/monitor.grpc.pb.h"
#include "common/clock.h"
#include "common/worker_pool.h"
#include "services/audit/audit_metrics.h"
#include "services/audit/audit_store.h"
#include "services/audit/facts_feed.h"
#include "services/audit/units.h"

namespace aw::audit {

class AuditServiceImpl final : public v1::AuditService::CallbackService {
 public:
  struct Parts {
    AuditStore* store;
    Units* units;
    v1::MonitorService::Stub* monitor;
    FactsFeed* feed;
    AuditMetrics* metrics;
    WorkerPool* workers;
    Clock* clock;
    absl::Duration call_timeout;
    // The longest freeze a false positive's whitelist entry may ask for.
    int max_false_positive_freeze_days = 90;
    QualityLimits quality;
  };
  explicit AuditServiceImpl(Parts parts) : p_(parts) {}

  using Ctx = grpc::CallbackServerContext;
  using Unary = grpc::ServerUnaryReactor;

  // AuditService — tasks
  Unary* CreateTask(Ctx*, const v1::CreateTaskRequest*, v1::AuditTask*) override;
  Unary* GetTask(Ctx*, const v1::GetTaskRequest*, v1::AuditTask*) override;
  Unary* ListTasks(Ctx*, const v1::ListTasksRequest*, v1::ListTasksResponse*) override;
  Unary* CreateSpecialPlan(Ctx*, const v1::CreateSpecialPlanRequest*, v1::SpecialPlan*) override;
  Unary* ListSpecialPlans(Ctx*, const v1::ListSpecialPlansRequest*, v1::ListSpecialPlansResponse*) override;
  // AuditService — work orders
  Unary* CreateWorkOrder(Ctx*, const v1::CreateWorkOrderRequest*, v1::WorkOrder*) override;
  Unary* DispatchWorkOrder(Ctx*, const v1::WorkOrderCommand*, v1::WorkOrder*) override;
  Unary* StartRectification(Ctx*, const v1::WorkOrderCommand*, v1::WorkOrder*) override;
  Unary* SubmitRectification(Ctx*, const v1::SubmitRectificationRequest*, v1::WorkOrder*) override;
  Unary* ReviewWorkOrder(Ctx*, const v1::ReviewWorkOrderRequest*, v1::WorkOrder*) override;
  Unary* CancelWorkOrder(Ctx*, const v1::WorkOrderCommand*, v1::WorkOrder*) override;
  Unary* ConfirmFalsePositive(Ctx*, const v1::ConfirmFalsePositiveRequest*, v1::WorkOrder*) override;
  Unary* ExtendDeadline(Ctx*, const v1::ExtendDeadlineRequest*, v1::WorkOrder*) override;
  Unary* GetWorkOrder(Ctx*, const v1::GetWorkOrderRequest*, v1::WorkOrder*) override;
  Unary* ListWorkOrders(Ctx*, const v1::ListWorkOrdersRequest*, v1::ListWorkOrdersResponse*) override;
  Unary* GetInbox(Ctx*, const v1::GetInboxRequest*, v1::ListWorkOrdersResponse*) override;
  Unary* ListSupervisionOrders(Ctx*, const v1::ListSupervisionOrdersRequest*,
                               v1::ListSupervisionOrdersResponse*) override;
  // AuditService — deductions
  Unary* UpsertDeductionStandard(Ctx*, const v1::UpsertDeductionStandardRequest*, v1::DeductionStandard*) override;
  Unary* ListDeductionStandards(Ctx*, const v1::ListDeductionStandardsRequest*,
                                v1::ListDeductionStandardsResponse*) override;
  Unary* RecordFinding(Ctx*, const v1::RecordFindingRequest*, v1::Deduction*) override;
  Unary* RegisterIncident(Ctx*, const v1::RegisterIncidentRequest*, v1::Incident*) override;
  Unary* CorrectDeduction(Ctx*, const v1::CorrectDeductionRequest*, v1::Deduction*) override;
  Unary* ListDeductions(Ctx*, const v1::ListDeductionsRequest*, v1::ListDeductionsResponse*) override;
  // AuditService — rates, checks, feed
  Unary* GetRates(Ctx*, const v1::GetRatesRequest*, v1::GetRatesResponse*) override;
  Unary* RunQualityCheck(Ctx*, const v1::RunQualityCheckRequest*, v1::RunQualityCheckResponse*) override;
  grpc::ServerWriteReactor<v1::AuditFactChange>* WatchAuditFacts(Ctx*, const v1::WatchAuditFactsRequest*) override;

 private:
  // Adds what a transition needs besides the state machine's verdict (the
  // rectification, the new deadline, the whitelist request), after checking it.
  using Prepare = std::function<absl::Status(const v1::WorkOrder& current, TransitionWrite* write)>;

  // Runs an idempotent command: the first answer to the caller's key when
  // there is one, else `run` (whose answer is recorded with its commit).
  absl::Status Idempotent(const Command& command, google::protobuf::Message* answer,
                          const std::function<absl::Status()>& run);
  // One work-order transition, decided by audit_logic and committed with its log row.
  absl::Status Transit(const Ctx& ctx, const char* method, const google::protobuf::Message& request,
                       const v1::WorkOrderCommand& command, Action action, const Prepare& prepare,
                       v1::WorkOrder* answer);

  const Parts p_;
};

}  // namespace aw::audit
