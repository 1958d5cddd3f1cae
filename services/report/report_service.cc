#include "services/report/report_service.h"

#include "absl/strings/str_cat.h"
#include "common/grpc_util.h"
#include "common/identity.h"
#include "common/paging.h"
#include "common/period_field.h"
#include "common/status.h"
#include "common/timestamp.h"
#include "services/report/report_logic.h"

namespace aw::report {
namespace {

// The caller's principal: nullopt for a call from inside (no identity);
// UNAUTHENTICATED for a forged one.
absl::StatusOr<std::optional<v1::Principal>> CallerOf(const grpc::ServerContextBase& ctx) {
  AW_ASSIGN_OR_RETURN(const std::optional<v1::Identity> identity, ProcessIdentityKey().Verify(ctx));
  if (!identity) return std::optional<v1::Principal>();
  return std::optional<v1::Principal>(identity->principal());
}

absl::Status RequiredId(int64_t id) {
  return id > 0 ? absl::OkStatus() : absl::InvalidArgumentError("id: required (a positive report id)");
}

}  // namespace

absl::StatusOr<JobRecord> ReportServiceImpl::Readable(const grpc::ServerContextBase& ctx, int64_t id) {
  AW_RETURN_IF_ERROR(RequiredId(id));
  AW_ASSIGN_OR_RETURN(const std::optional<v1::Principal> caller, CallerOf(ctx));
  AW_ASSIGN_OR_RETURN(JobRecord rec, p_.store->GetJob(id));
  if (!MayRead(caller, rec.scope_path)) {
    return absl::PermissionDeniedError(absl::StrCat("id: report ", id, " is of a unit outside the caller's units"));
  }
  return rec;
}

grpc::ServerUnaryReactor* ReportServiceImpl::GenerateReport(Ctx* ctx, const v1::GenerateReportRequest* req, v1::ReportJob* resp) {
  return FinishOnWorker(ctx, *p_.workers, [=, this]() -> absl::Status {
    AW_ASSIGN_OR_RETURN(const v1::Identity identity, RequiredIdentity(*ctx));
    AW_ASSIGN_OR_RETURN(const v1::ReportParams params, NormalisedParams(req->params(), "params"));
    if (req->idempotency_key().empty()) {
      return absl::InvalidArgumentError("idempotency_key: required (a retry sends the same key)");
    }
    Sources::For from = p_.sources->Caller(identity);
    if (params.kind() == v1::REPORT_KIND_THEME_ANALYSIS) {
      if (auto name = from.MeasureName(params.measure()); !name.ok()) {
        return name.status().code() == absl::StatusCode::kInvalidArgument
                   ? absl::InvalidArgumentError(absl::StrCat("params.", name.status().message()))
                   : name.status();
      }
    }
    NewJob job{.params = params, .identity = identity, .idempotency_key = req->idempotency_key()};
    AW_ASSIGN_OR_RETURN(job.scope_path, from.UnitPath(params.scope().unit_code(), "params.scope.unit_code"));
    AW_ASSIGN_OR_RETURN(*resp, p_.store->CreateJob(job, p_.clock->Now()));
    if (resp->state() == v1::REPORT_STATE_QUEUED) p_.queued();
    return absl::OkStatus();
  });
}

grpc::ServerWriteReactor<v1::ReportJob>* ReportServiceImpl::WatchReport(Ctx* ctx, const v1::WatchReportRequest* req) {
  auto caller = CallerOf(*ctx);
  if (!caller.ok()) return new FailedWriteReactor<v1::ReportJob>(ToGrpcStatus(caller.status()));
  if (absl::Status s = RequiredId(req->id()); !s.ok()) return new FailedWriteReactor<v1::ReportJob>(ToGrpcStatus(s));
  return p_.watch->Watch(req->id(), *caller);
}

grpc::ServerUnaryReactor* ReportServiceImpl::CancelReport(Ctx* ctx, const v1::CancelReportRequest* req, v1::ReportJob* resp) {
  return FinishOnWorker(ctx, *p_.workers, [=, this]() -> absl::Status {
    AW_RETURN_IF_ERROR(RequiredPrincipal(*ctx).status());
    AW_RETURN_IF_ERROR(Readable(*ctx, req->id()).status());
    AW_ASSIGN_OR_RETURN(JobRecord rec, p_.store->Cancel(req->id(), p_.clock->Now()));
    p_.watch->Poke();
    *resp = std::move(rec.job);
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* ReportServiceImpl::GetReport(Ctx* ctx, const v1::GetReportRequest* req, v1::ReportJob* resp) {
  return FinishOnWorker(ctx, *p_.workers, [=, this]() -> absl::Status {
    AW_ASSIGN_OR_RETURN(JobRecord rec, Readable(*ctx, req->id()));
    *resp = std::move(rec.job);
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* ReportServiceImpl::ListReports(Ctx* ctx, const v1::ListReportsRequest* req, v1::ListReportsResponse* resp) {
  return FinishOnWorker(ctx, *p_.workers, [=, this]() -> absl::Status {
    AW_ASSIGN_OR_RETURN(const Page page, ParsePage(req->page(), *req));
    JobFilter filter{.scope_unit = req->scope().unit_code(), .schedule_id = req->schedule_id()};
    for (int k : req->kinds()) filter.kinds.push_back(k);
    for (int s : req->states()) filter.states.push_back(s);
    AW_ASSIGN_OR_RETURN(std::vector<v1::ReportJob> jobs, p_.store->ListJobs(filter, page.after_id(), page.size + 1));
    FinishKeysetPage(page, jobs, [](const v1::ReportJob& j) { return std::vector<int64_t>{j.id()}; }, -1,
                     resp->mutable_page());
    for (auto& j : jobs) *resp->add_reports() = std::move(j);
    return absl::OkStatus();
  });
}

// Streams a stored file: each chunk is read on the worker pool once the one
// before is written.
class ReportServiceImpl::Download final : public grpc::ServerWriteReactor<v1::ReportChunk> {
 public:
  Download(ReportServiceImpl* service, Ctx* ctx, int64_t id, int64_t offset)
      : service_(service), ctx_(ctx), id_(id), offset_(offset) {
    Next(/*first=*/true);
  }
  void OnWriteDone(bool ok) override {
    if (!ok) {
      Finish(grpc::Status::CANCELLED);
    } else if (offset_ >= size_) {
      Finish(grpc::Status::OK);
    } else {
      Next(/*first=*/false);
    }
  }
  void OnDone() override { delete this; }

 private:
  void Next(bool first) {
    if (!service_->p_.workers->TrySubmit([this, first] { Read(first); })) {
      Finish(grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED, "report service busy; retry from the offset"));
    }
  }
  void Read(bool first) {
    if (ctx_->IsCancelled()) {
      Finish(grpc::Status::CANCELLED);
      return;
    }
    chunk_.Clear();
    if (first) {
      auto rec = service_->Readable(*ctx_, id_);
      absl::Status s = rec.status();
      if (s.ok() && rec->job.state() != v1::REPORT_STATE_READY) {
        s = absl::FailedPreconditionError(absl::StrCat("id: report ", id_, " is ",
                                                       v1::ReportState_Name(rec->job.state()), ", not READY"));
      }
      if (s.ok() && (offset_ < 0 || offset_ > rec->job.size_bytes())) {
        s = absl::OutOfRangeError(absl::StrCat("offset: must be 0 to ", rec->job.size_bytes()));
      }
      if (!s.ok()) {
        Finish(ToGrpcStatus(s));
        return;
      }
      size_ = rec->job.size_bytes();
      chunk_.set_content_type(rec->job.content_type());
      chunk_.set_file_name(rec->job.file_name());
      chunk_.set_size_bytes(size_);
      chunk_.set_sha256(rec->job.sha256());
    }
    auto data = service_->p_.store->Chunk(id_, offset_, service_->p_.chunk_bytes);
    if (!data.ok()) {
      Finish(ToGrpcStatus(data.status()));
      return;
    }
    chunk_.set_offset(offset_);
    offset_ += static_cast<int64_t>(data->size());
    if (data->empty()) offset_ = size_;  // at the end already (an offset equal to the size)
    chunk_.set_data(*std::move(data));
    StartWrite(&chunk_);
  }

  ReportServiceImpl* const service_;
  Ctx* const ctx_;
  const int64_t id_;
  int64_t offset_;
  int64_t size_ = 0;
  v1::ReportChunk chunk_;
};

grpc::ServerWriteReactor<v1::ReportChunk>* ReportServiceImpl::DownloadReport(Ctx* ctx,
                                                                            const v1::DownloadReportRequest* req) {
  if (grpc::Status s = CheckIdentity(*ctx); !s.ok()) return new FailedWriteReactor<v1::ReportChunk>(s);
  return new Download(this, ctx, req->id(), req->offset());
}

grpc::ServerUnaryReactor* ReportServiceImpl::DrillDown(Ctx* ctx, const v1::DrillDownRequest* req, v1::DrillDownResponse* resp) {
  return FinishOnWorker(ctx, *p_.workers, [=, this]() -> absl::Status {
    if (req->unit_code().empty()) return absl::InvalidArgumentError("unit_code: required");
    AW_ASSIGN_OR_RETURN(const Period period, RequiredPeriod(req->period(), "period"));
    if (period.type() != PeriodType::kYear && period.type() != PeriodType::kHalfYear &&
        period.type() != PeriodType::kMonth) {
      return absl::InvalidArgumentError("period: a year, half-year or month");
    }
    AW_ASSIGN_OR_RETURN(const std::optional<v1::Identity> identity, ProcessIdentityKey().Verify(*ctx));
    Sources::For from = p_.sources->Caller(identity.value_or(v1::Identity()));
    const std::string measure = req->measure().empty() ? kCompositeMeasure : req->measure();
    AW_RETURN_IF_ERROR(from.MeasureName(measure).status());
    AW_ASSIGN_OR_RETURN(const Tree tree, from.TreeOf(req->unit_code()));
    AW_ASSIGN_OR_RETURN(*resp, from.Drill(req->unit_code(), period, measure, tree));
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* ReportServiceImpl::CreateSchedule(Ctx* ctx, const v1::CreateScheduleRequest* req, v1::ReportSchedule* resp) {
  return FinishOnWorker(ctx, *p_.workers, [=, this]() -> absl::Status {
    AW_ASSIGN_OR_RETURN(const v1::Identity identity, RequiredIdentity(*ctx));
    AW_ASSIGN_OR_RETURN(v1::ReportSchedule schedule, NormalisedSchedule(req->schedule(), "schedule"));
    if (req->idempotency_key().empty()) {
      return absl::InvalidArgumentError("idempotency_key: required (a retry sends the same key)");
    }
    Sources::For from = p_.sources->Caller(identity);
    if (schedule.params().kind() == v1::REPORT_KIND_THEME_ANALYSIS) {
      AW_RETURN_IF_ERROR(from.MeasureName(schedule.params().measure()).status());
    }
    AW_ASSIGN_OR_RETURN(const std::vector<std::string> path,
                        from.UnitPath(schedule.params().scope().unit_code(), "schedule.params.scope.unit_code"));
    const absl::Time now = p_.clock->Now();
    SetTimestamp(NextFiring(schedule, now), schedule.mutable_next_run_at());
    AW_ASSIGN_OR_RETURN(*resp, p_.store->CreateSchedule(schedule, path, identity, req->idempotency_key(), now));
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* ReportServiceImpl::ListSchedules(Ctx* ctx, const v1::ListSchedulesRequest* req,
                                        v1::ListSchedulesResponse* resp) {
  return FinishOnWorker(ctx, *p_.workers, [=, this]() -> absl::Status {
    AW_ASSIGN_OR_RETURN(const Page page, ParsePage(req->page(), *req));
    AW_ASSIGN_OR_RETURN(auto schedules, p_.store->ListSchedules(req->enabled_only(), page.after_id(), page.size + 1));
    FinishKeysetPage(page, schedules, [](const v1::ReportSchedule& s) { return std::vector<int64_t>{s.id()}; }, -1,
                     resp->mutable_page());
    for (auto& s : schedules) *resp->add_schedules() = std::move(s);
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* ReportServiceImpl::DeleteSchedule(Ctx* ctx, const v1::DeleteScheduleRequest* req, v1::ReportSchedule* resp) {
  return FinishOnWorker(ctx, *p_.workers, [=, this]() -> absl::Status {
    AW_ASSIGN_OR_RETURN(const v1::Principal principal, RequiredPrincipal(*ctx));
    if (req->id() <= 0) return absl::InvalidArgumentError("id: required (a positive schedule id)");
    if (req->reason().empty()) return absl::InvalidArgumentError("reason: required");
    AW_ASSIGN_OR_RETURN(*resp, p_.store->DisableSchedule(req->id(), principal.subject(), req->reason(),
                                                         p_.clock->Now()));
    return absl::OkStatus();
  });
}

}  // namespace aw::report
