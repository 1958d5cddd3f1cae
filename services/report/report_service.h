// The report service's gRPC edge: decodes and validates requests, takes the
// requester from the verified identity, checks that a report or schedule
// belongs to the caller's units, queues jobs and schedules in the store, and
// streams progress (JobWatch) and files (in chunks from an offset). Blocking
// work runs on the worker pool.
#pragma once

#include <functional>

#include "auditwatch/v1/report.grpc.pb.h"
#include "common/clock.h"
#include "common/worker_pool.h"
#include "services/report/generator.h"
#include "services/report/job_watch.h"
#include "services/report/report_store.h"
#include "services/report/sources.h"

namespace aw::report {

class ReportServiceImpl final : public v1::ReportService::CallbackService {
 public:
  struct Parts {
    ReportStore* store;
    Sources* sources;
    JobWatch* watch;
    WorkerPool* workers;
    Clock* clock;
    // Called when a job is queued here: the generators start it at once.
    std::function<void()> queued = [] {};
    int64_t chunk_bytes = 256 * 1024;
  };
  explicit ReportServiceImpl(Parts parts) : p_(parts) {}

  using Ctx = grpc::CallbackServerContext;
  using Unary = grpc::ServerUnaryReactor;

  Unary* GenerateReport(Ctx*, const v1::GenerateReportRequest*, v1::ReportJob*) override;
  grpc::ServerWriteReactor<v1::ReportJob>* WatchReport(Ctx*, const v1::WatchReportRequest*) override;
  Unary* CancelReport(Ctx*, const v1::CancelReportRequest*, v1::ReportJob*) override;
  Unary* GetReport(Ctx*, const v1::GetReportRequest*, v1::ReportJob*) override;
  Unary* ListReports(Ctx*, const v1::ListReportsRequest*, v1::ListReportsResponse*) override;
  grpc::ServerWriteReactor<v1::ReportChunk>* DownloadReport(Ctx*, const v1::DownloadReportRequest*) override;
  Unary* DrillDown(Ctx*, const v1::DrillDownRequest*, v1::DrillDownResponse*) override;
  Unary* CreateSchedule(Ctx*, const v1::CreateScheduleRequest*, v1::ReportSchedule*) override;
  Unary* ListSchedules(Ctx*, const v1::ListSchedulesRequest*, v1::ListSchedulesResponse*) override;
  Unary* DeleteSchedule(Ctx*, const v1::DeleteScheduleRequest*, v1::ReportSchedule*) override;

 private:
  class Download;
  // The job `id` if the caller may see it: NOT_FOUND, PERMISSION_DENIED.
  absl::StatusOr<JobRecord> Readable(const grpc::ServerContextBase& ctx, int64_t id);

  const Parts p_;
};

}  // namespace aw::report
