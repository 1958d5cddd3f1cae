#include "services/ingest/ingest_service.h"

#include <deque>

#include <google/protobuf/arena.h>
#include <random>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/grpc_util.h"
#include "common/log.h"
#include "common/paging.h"
#include "common/status.h"
#include "common/stream_writer.h"
#include "services/ingest/puller.h"

namespace aw::ingest {
namespace {

constexpr int kFeedBatchesPerPage = 16;
constexpr absl::Duration kHeartbeatInterval = absl::Seconds(1);
constexpr int kMaxQueryRows = 200000;
constexpr int kMaxPeriodsPerQuery = 400;

using StatusCode = absl::StatusCode;

absl::StatusOr<absl::CivilDay> AsOfDate(const std::string& text) {
  if (text.empty()) return CivilDayOf(absl::Now());
  absl::CivilDay day;
  if (!absl::ParseCivilTime(text, &day) || absl::FormatCivilTime(day) != text) {
    return InvalidField("as_of", absl::StrCat("expected an ISO date, got \"", text, "\""));
  }
  return day;
}

absl::StatusOr<const UnitInfo*> FindUnit(const Catalogue& c, const std::string& field,
                                         const std::string& code) {
  if (code.empty()) return InvalidField(field, "required");
  const UnitInfo* u = c.FindUnit(code);
  if (u == nullptr) return absl::NotFoundError(absl::StrCat(field, ": no unit ", code));
  return u;
}

absl::StatusOr<const IndicatorInfo*> FindIndicator(const Catalogue& c, const std::string& field,
                                                   const std::string& code) {
  if (code.empty()) return InvalidField(field, "required");
  const IndicatorInfo* i = c.FindIndicator(code);
  if (i == nullptr) return absl::NotFoundError(absl::StrCat(field, ": no indicator ", code));
  return i;
}

// Units a scope covers as of `day` (every unit when the code is empty).
absl::StatusOr<std::vector<const UnitInfo*>> ScopeUnits(const Catalogue& c, const v1::UnitScope& scope,
                                                       absl::CivilDay day, bool include_inactive) {
  if (scope.unit_code().empty()) return c.SubtreeAsOf(nullptr, day, include_inactive);
  AW_ASSIGN_OR_RETURN(const UnitInfo* root, FindUnit(c, "scope.unit_code", scope.unit_code()));
  if (!scope.include_descendants()) return std::vector<const UnitInfo*>{root};
  return c.SubtreeAsOf(root, day, include_inactive);
}

// The status for a rejected single-row write.
absl::Status RowStatus(const v1::RowError& e) {
  const std::string message = absl::StrCat(e.field(), ": ", e.message(), " (", e.code(), ")");
  if (e.code() == kUnknownUnit || e.code() == kUnknownIndicator) return absl::NotFoundError(message);
  if (e.code() == kUnitInactive || e.code() == kIndicatorDisabled) {
    return absl::FailedPreconditionError(message);
  }
  return absl::InvalidArgumentError(message);
}

std::string RandomId() {
  static thread_local std::mt19937_64 rng(std::random_device{}());
  return absl::StrCat(absl::Hex(rng(), absl::kZeroPad16), absl::Hex(rng(), absl::kZeroPad16));
}

// Shorter period types an indicator could be rolled up from, longest first.
std::vector<PeriodType> ChildTypes(const v1::Indicator& def, PeriodType target) {
  std::vector<PeriodType> out;
  for (int t = static_cast<int>(target) - 1; t >= static_cast<int>(PeriodType::kDay); --t) {
    const auto type = static_cast<PeriodType>(t);
    const bool allowed = std::find(def.allowed_period_types().begin(),
                                   def.allowed_period_types().end(), t) !=
                         def.allowed_period_types().end();
    if (allowed && Nests(type, target)) out.push_back(type);
  }
  return out;
}

using ValueKey = std::tuple<int, int, int, int64_t>;  // unit, indicator, period type, first day
ValueKey KeyOf(int unit, int indicator, const Period& p) {
  return {unit, indicator, static_cast<int>(p.type()), p.first_day() - absl::CivilDay()};
}

// Rolls `period` up from the values in `values` when every shorter period of
// one allowed type is there; `why` says what is missing otherwise.
std::optional<v1::Reading> Derive(const Catalogue& catalogue, const v1::Indicator& def,
                                  const UnitInfo& unit, const IndicatorInfo& indicator,
                                  const Period& period,
                                  const absl::flat_hash_map<ValueKey, const StoredReading*>& values,
                                  std::string* why) {
  for (PeriodType child : ChildTypes(def, period.type())) {
    auto parts = period.Split(child);
    if (!parts.ok()) continue;
    std::vector<double> found;
    std::vector<const StoredReading*> sources;
    for (const Period& p : *parts) {
      auto it = values.find(KeyOf(unit.id, indicator.id, p));
      if (it == values.end()) break;
      found.push_back(it->second->value);
      sources.push_back(it->second);
    }
    if (found.size() != parts->size()) {
      if (why != nullptr) {
        absl::StrAppend(why, found.size(), " of ", parts->size(), " ", PeriodTypeName(child),
                        " values reported; ");
      }
      continue;
    }
    auto value = RollUp(def.rollup(), found);
    if (!value.ok()) return std::nullopt;
    v1::Reading r;
    r.mutable_key()->set_unit_code(unit.code);
    r.mutable_key()->set_indicator_code(indicator.code);
    ToProto(period, r.mutable_key()->mutable_period());
    r.set_value(*value);
    r.set_source("derived");
    r.set_derived(true);
    r.set_derived_by(def.rollup());
    for (const StoredReading* s : sources) {
      v1::ReadingKey* k = r.add_derived_from();
      k->set_unit_code(unit.code);
      k->set_indicator_code(indicator.code);
      ToProto(s->period, k->mutable_period());
    }
    return r;
  }
  return std::nullopt;
}

// --- Bulk ingest: one reactor per stream ---------------------------------------

// Reads batches ahead (up to kReadAhead), applies them one at a time on the
// worker pool in arrival order and writes each result once the batch is durable.
class IngestReactor final : public grpc::ServerBidiReactor<v1::ReadingBatch, v1::BatchResult> {
 public:
  IngestReactor(IngestStore* store, WorkerPool* workers, IngestMetrics* metrics)
      : store_(store), workers_(workers), metrics_(metrics) {
    absl::MutexLock lock(&mu_);
    reading_ = true;
    StartRead(&incoming_);
  }

  void OnReadDone(bool ok) override {
    Actions act;
    {
      absl::MutexLock lock(&mu_);
      reading_ = false;
      if (!ok) {
        read_done_ = true;
      } else {
        queue_.push_back(std::move(incoming_));
        incoming_.Clear();
      }
      Plan(act);
    }
    Run(act);
  }

  void OnWriteDone(bool ok) override {
    Actions act;
    {
      absl::MutexLock lock(&mu_);
      writing_ = false;
      if (!ok && error_.ok()) error_ = absl::CancelledError("client stopped reading results");
      Plan(act);
    }
    Run(act);
  }

  void OnCancel() override {
    Actions act;
    {
      absl::MutexLock lock(&mu_);
      if (error_.ok()) error_ = absl::CancelledError("cancelled by the client");
      Plan(act);
    }
    Run(act);
  }

  void OnDone() override { delete this; }

 private:
  static constexpr size_t kReadAhead = 2;

  // What to start once the lock is released (reactions never run under it).
  struct Actions {
    bool read = false;
    const v1::BatchResult* write = nullptr;
    std::optional<v1::ReadingBatch> process;
    std::optional<grpc::Status> finish;
  };

  void Plan(Actions& act) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (finished_) return;
    if (!error_.ok()) {
      if (!processing_ && !writing_) {
        finished_ = true;
        act.finish = ToGrpcStatus(error_);
      }
      return;
    }
    if (!writing_ && !results_.empty()) {
      current_ = std::move(results_.front());
      results_.pop_front();
      writing_ = true;
      act.write = &current_;
    }
    if (!processing_ && !queue_.empty()) {
      processing_ = true;
      act.process = std::move(queue_.front());
      queue_.pop_front();
    }
    if (!reading_ && !read_done_ && queue_.size() < kReadAhead) {
      reading_ = true;
      act.read = true;
    }
    if (read_done_ && queue_.empty() && !processing_ && !writing_ && results_.empty()) {
      finished_ = true;
      act.finish = grpc::Status::OK;
    }
  }

  void Run(Actions& act) {
    if (act.read) StartRead(&incoming_);
    if (act.write != nullptr) StartWrite(act.write);
    if (act.process) {
      auto batch = std::make_shared<v1::ReadingBatch>(std::move(*act.process));
      if (!workers_->TrySubmit([this, batch] { Process(*batch); })) {
        Actions next;
        {
          absl::MutexLock lock(&mu_);
          processing_ = false;
          error_ = absl::ResourceExhaustedError("server busy: ingest worker queue is full, retry");
          Plan(next);
        }
        Run(next);
      }
    }
    if (act.finish) Finish(*act.finish);
  }

  void Process(const v1::ReadingBatch& batch) {
    const absl::Time start = absl::Now();
    auto result = store_->IngestBatch(batch);
    metrics_->batch_seconds.Observe(absl::ToDoubleSeconds(absl::Now() - start));
    if (result.ok() && !result->duplicate()) metrics_->CountRows(batch.source(), *result);
    Actions act;
    {
      absl::MutexLock lock(&mu_);
      processing_ = false;
      if (result.ok()) {
        results_.push_back(*std::move(result));
      } else if (error_.ok()) {
        error_ = absl::Status(result.status().code(),
                              absl::StrCat("batch ", batch.batch_id(), ": ", result.status().message()));
      }
      Plan(act);
    }
    Run(act);
  }

  IngestStore* store_;
  WorkerPool* workers_;
  IngestMetrics* metrics_;
  absl::Mutex mu_;
  v1::ReadingBatch incoming_;  // owned by the read in flight
  v1::BatchResult current_;    // owned by the write in flight
  std::deque<v1::ReadingBatch> queue_ ABSL_GUARDED_BY(mu_);
  std::deque<v1::BatchResult> results_ ABSL_GUARDED_BY(mu_);
  bool reading_ ABSL_GUARDED_BY(mu_) = false;
  bool read_done_ ABSL_GUARDED_BY(mu_) = false;
  bool processing_ ABSL_GUARDED_BY(mu_) = false;
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  absl::Status error_ ABSL_GUARDED_BY(mu_);
};

// --- Change feed: one thread per subscriber ------------------------------------

// Subscribers are few (one per consuming replica) and long-lived, so each gets a
// thread that pages through the feed and waits on the hub.
class WatchReactor final : public ThreadedWriteReactor<v1::WatchReadingsResponse> {
 public:
  WatchReactor(IngestStore* store, FeedHub* hub, IngestMetrics* metrics, const v1::WatchReadingsRequest& request)
      : store_(store), hub_(hub), metrics_(metrics), cursor_(request.from_seq()) {
    for (int t : request.period_types()) filter_.period_types.push_back(t);
    filter_.values_only = request.values_only();
    indicator_codes_.assign(request.indicator_codes().begin(), request.indicator_codes().end());
    metrics_->subscribers.Increment();
    Start();
  }
  ~WatchReactor() override { metrics_->subscribers.Decrement(); }

 private:
  grpc::Status Run() override {
    absl::Time last_sent = absl::Now();
    while (!Cancelled() && !hub_->stopped()) {
      auto catalogue = store_->GetCatalogue();
      if (!catalogue.ok()) return ToGrpcStatus(catalogue.status());
      if (!indicator_codes_.empty() && filter_.indicator_ids.empty()) {
        for (const std::string& code : indicator_codes_) {
          const IndicatorInfo* i = (*catalogue)->FindIndicator(code);
          if (i == nullptr) return grpc::Status(grpc::StatusCode::NOT_FOUND, "indicator_codes: no indicator " + code);
          filter_.indicator_ids.push_back(i->id);
        }
      }
      // Pages live on an arena, reset once the previous page is written.
      arena_.Reset();
      auto* page = google::protobuf::Arena::CreateMessage<v1::WatchReadingsResponse>(&arena_);
      if (absl::Status read = store_->ReadFeed(**catalogue, cursor_, filter_, kFeedBatchesPerPage, page);
          !read.ok()) {
        return ToGrpcStatus(read);
      }
      const bool advanced = page->last_seq() > cursor_;
      if (page->changes_size() > 0 || (advanced && absl::Now() - last_sent > kHeartbeatInterval)) {
        const absl::Time now = absl::Now();
        int64_t last_batch = -1;
        for (const auto& change : page->changes()) {
          if (CommitSeqOf(change.seq()) != last_batch) {  // one sample per batch
            last_batch = CommitSeqOf(change.seq());
            metrics_->feed_delay_seconds.Observe(absl::ToDoubleSeconds(
                now - absl::FromUnixSeconds(change.reading().recorded_at().seconds()) -
                absl::Nanoseconds(change.reading().recorded_at().nanos())));
          }
        }
        if (!Write(page)) return grpc::Status::CANCELLED;
        last_sent = absl::Now();
      }
      cursor_ = page->last_seq();
      if (advanced) continue;  // more may be waiting
      const int64_t latest = hub_->WaitBeyond(CommitSeqOf(cursor_), kHeartbeatInterval);
      metrics_->feed_lag_batches.Set(static_cast<double>(latest - CommitSeqOf(cursor_)));
      if (latest <= CommitSeqOf(cursor_) && absl::Now() - last_sent >= kHeartbeatInterval) {
        arena_.Reset();
        auto* heartbeat = google::protobuf::Arena::CreateMessage<v1::WatchReadingsResponse>(&arena_);
        heartbeat->set_last_seq(cursor_);
        if (!Write(heartbeat)) return grpc::Status::CANCELLED;
        last_sent = absl::Now();
      }
    }
    return grpc::Status(grpc::StatusCode::UNAVAILABLE, "server shutting down; resume from last_seq");
  }

  IngestStore* store_;
  FeedHub* hub_;
  IngestMetrics* metrics_;
  int64_t cursor_;
  FeedFilter filter_;
  std::vector<std::string> indicator_codes_;
  google::protobuf::Arena arena_;
};

}  // namespace

// --- FeedHub ---------------------------------------------------------------------

FeedHub::FeedHub(IngestStore* store, absl::Duration poll_interval)
    : store_(store), poll_interval_(poll_interval) {}

FeedHub::~FeedHub() { Stop(); }

void FeedHub::Start() { thread_ = NamedThread("aw-feed-hub", [this] { Loop(); }); }

void FeedHub::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

bool FeedHub::stopped() const {
  absl::MutexLock lock(&mu_);
  return stopping_;
}

void FeedHub::Poke() {
  absl::MutexLock lock(&mu_);
  poked_ = true;
}

void FeedHub::Loop() {
  for (;;) {
    auto latest = store_->LatestCommitSeq();
    absl::MutexLock lock(&mu_);
    if (latest.ok() && *latest > latest_) latest_ = *latest;
    poked_ = false;
    auto wake = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stopping_ || poked_; };
    mu_.AwaitWithTimeout(absl::Condition(&wake), poll_interval_);
    if (stopping_) return;
  }
}

int64_t FeedHub::WaitBeyond(int64_t after, absl::Duration timeout) {
  absl::MutexLock lock(&mu_);
  auto ready = [this, after]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return stopping_ || latest_ > after;
  };
  mu_.AwaitWithTimeout(absl::Condition(&ready), timeout);
  return latest_;
}

// --- Metrics -----------------------------------------------------------------------

IngestMetrics::IngestMetrics(prometheus::Registry& registry)
    : rows(prometheus::BuildCounter()
               .Name("auditwatch_ingest_rows_total")
               .Help("Reading rows ingested, by source and result (accepted, or the rejection code)")
               .Register(registry)),
      batch_seconds(prometheus::BuildHistogram()
                        .Name("auditwatch_ingest_batch_seconds")
                        .Help("Time to validate and durably commit one batch")
                        .Register(registry)
                        .Add({{"service", "ingest"}},
                             prometheus::Histogram::BucketBoundaries{
                                 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 1})),
      subscribers(prometheus::BuildGauge()
                      .Name("auditwatch_ingest_feed_subscribers")
                      .Help("Open WatchReadings streams")
                      .Register(registry)
                      .Add({{"service", "ingest"}})),
      feed_lag_batches(prometheus::BuildGauge()
                           .Name("auditwatch_ingest_feed_lag_batches")
                           .Help("Committed batches not yet sent, as last seen by a subscriber")
                           .Register(registry)
                           .Add({{"service", "ingest"}})),
      feed_delay_seconds(prometheus::BuildHistogram()
                             .Name("auditwatch_ingest_feed_delay_seconds")
                             .Help("Time from a batch's commit to its delivery on the feed")
                             .Register(registry)
                             .Add({{"service", "ingest"}},
                                  prometheus::Histogram::BucketBoundaries{
                                      0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5, 30})),
      pull_runs(prometheus::BuildCounter()
                    .Name("auditwatch_ingest_pull_runs_total")
                    .Help("Scheduled pull runs, by result")
                    .Register(registry)) {}

void IngestMetrics::CountRows(const std::string& source, const v1::BatchResult& result) {
  if (result.accepted() > 0) {
    rows.Add({{"service", "ingest"}, {"source", source}, {"result", "accepted"}})
        .Increment(result.accepted());
  }
  for (const v1::RowError& e : result.errors()) {
    rows.Add({{"service", "ingest"}, {"source", source}, {"result", e.code()}}).Increment();
  }
}

// --- Service ---------------------------------------------------------------------

IngestServiceImpl::IngestServiceImpl(IngestStore* store, WorkerPool* workers, FeedHub* hub,
                                     IngestMetrics* metrics, Puller* puller)
    : store_(store), workers_(workers), hub_(hub), metrics_(metrics), puller_(puller) {}

grpc::ServerUnaryReactor* IngestServiceImpl::CreateUnit(Ctx* ctx, const v1::CreateUnitRequest* req,
                                                        v1::Unit* resp) {
  return FinishOnWorker(ctx, *workers_, [=, this]() -> absl::Status {
    AW_ASSIGN_OR_RETURN(*resp, store_->CreateUnit(*req));
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* IngestServiceImpl::RenameUnit(Ctx* ctx, const v1::RenameUnitRequest* req,
                                                        v1::Unit* resp) {
  return FinishOnWorker(ctx, *workers_, [=, this]() -> absl::Status {
    AW_ASSIGN_OR_RETURN(*resp, store_->ChangeUnit({UnitChange::kRename, req->code(), req->new_name(),
                                                   "", req->effective_from(), req->actor(),
                                                   req->reason(), req->expected_version()}));
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* IngestServiceImpl::MoveUnit(Ctx* ctx, const v1::MoveUnitRequest* req,
                                                      v1::Unit* resp) {
  return FinishOnWorker(ctx, *workers_, [=, this]() -> absl::Status {
    AW_ASSIGN_OR_RETURN(*resp, store_->ChangeUnit({UnitChange::kMove, req->code(), "",
                                                   req->new_parent_code(), req->effective_from(),
                                                   req->actor(), req->reason(),
                                                   req->expected_version()}));
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* IngestServiceImpl::DeactivateUnit(Ctx* ctx,
                                                            const v1::DeactivateUnitRequest* req,
                                                            v1::Unit* resp) {
  return FinishOnWorker(ctx, *workers_, [=, this]() -> absl::Status {
    AW_ASSIGN_OR_RETURN(*resp, store_->ChangeUnit({UnitChange::kDeactivate, req->code(), "", "",
                                                   req->effective_from(), req->actor(),
                                                   req->reason(), req->expected_version()}));
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* IngestServiceImpl::GetUnit(Ctx* ctx, const v1::GetUnitRequest* req,
                                                     v1::Unit* resp) {
  return FinishOnWorker(ctx, *workers_, [=, this]() -> absl::Status {
    AW_ASSIGN_OR_RETURN(const absl::CivilDay day, AsOfDate(req->as_of()));
    AW_ASSIGN_OR_RETURN(auto catalogue, store_->GetCatalogue());
    AW_ASSIGN_OR_RETURN(const UnitInfo* unit, FindUnit(*catalogue, "code", req->code()));
    if (!catalogue->ToProto(*unit, day, resp)) {
      return absl::NotFoundError(absl::StrCat("unit ", req->code(), " did not exist on ",
                                              absl::FormatCivilTime(day)));
    }
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* IngestServiceImpl::ListUnits(Ctx* ctx, const v1::ListUnitsRequest* req,
                                                       v1::ListUnitsResponse* resp) {
  return FinishOnWorker(ctx, *workers_, [=, this]() -> absl::Status {
    AW_ASSIGN_OR_RETURN(const Page page, ParsePage(req->page(), *req));
    AW_ASSIGN_OR_RETURN(const absl::CivilDay day, AsOfDate(req->as_of()));
    AW_ASSIGN_OR_RETURN(auto catalogue, store_->GetCatalogue());
    v1::UnitScope scope = req->scope();
    if (!scope.unit_code().empty() && !scope.include_descendants()) {
      scope.set_include_descendants(false);
    }
    AW_ASSIGN_OR_RETURN(auto units, ScopeUnits(*catalogue, scope, day, req->include_inactive()));
    std::vector<const UnitInfo*> selected;
    for (const UnitInfo* u : units) {
      if (req->types().empty() ||
          std::find(req->types().begin(), req->types().end(), u->type) != req->types().end()) {
        selected.push_back(u);
      }
    }
    for (int64_t i = page.offset; i < std::min<int64_t>(selected.size(), page.offset + page.size); ++i) {
      catalogue->ToProto(*selected[i], day, resp->add_units());
    }
    FillPageResponse(page, static_cast<int64_t>(selected.size()), resp->mutable_page());
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* IngestServiceImpl::GetUnitPath(Ctx* ctx, const v1::GetUnitRequest* req,
                                                         v1::UnitPath* resp) {
  return FinishOnWorker(ctx, *workers_, [=, this]() -> absl::Status {
    AW_ASSIGN_OR_RETURN(const absl::CivilDay day, AsOfDate(req->as_of()));
    AW_ASSIGN_OR_RETURN(auto catalogue, store_->GetCatalogue());
    AW_ASSIGN_OR_RETURN(const UnitInfo* unit, FindUnit(*catalogue, "code", req->code()));
    const auto path = catalogue->PathAsOf(*unit, day);
    if (path.empty()) {
      return absl::NotFoundError(absl::StrCat("unit ", req->code(), " did not exist on ",
                                              absl::FormatCivilTime(day)));
    }
    for (const UnitInfo* u : path) catalogue->ToProto(*u, day, resp->add_units());
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* IngestServiceImpl::GetUnitHistory(Ctx* ctx, const v1::GetUnitRequest* req,
                                                            v1::UnitHistory* resp) {
  return FinishOnWorker(ctx, *workers_, [=, this]() -> absl::Status {
    AW_ASSIGN_OR_RETURN(auto catalogue, store_->GetCatalogue());
    AW_ASSIGN_OR_RETURN(const UnitInfo* unit, FindUnit(*catalogue, "code", req->code()));
    for (const UnitVersion& v : unit->versions) {
      catalogue->VersionToProto(*unit, v, resp->add_versions());
    }
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* IngestServiceImpl::UpsertIndicator(Ctx* ctx,
                                                             const v1::UpsertIndicatorRequest* req,
                                                             v1::Indicator* resp) {
  return FinishOnWorker(ctx, *workers_, [=, this]() -> absl::Status {
    AW_ASSIGN_OR_RETURN(*resp, store_->UpsertIndicator(*req));
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* IngestServiceImpl::GetIndicator(Ctx* ctx,
                                                          const v1::GetIndicatorRequest* req,
                                                          v1::Indicator* resp) {
  return FinishOnWorker(ctx, *workers_, [=, this]() -> absl::Status {
    AW_ASSIGN_OR_RETURN(auto catalogue, store_->GetCatalogue());
    AW_ASSIGN_OR_RETURN(const IndicatorInfo* info, FindIndicator(*catalogue, "code", req->code()));
    const v1::Indicator* def = req->year() == 0 ? &info->versions.back() : info->InYear(req->year());
    if (def == nullptr) {
      return absl::NotFoundError(absl::StrCat("indicator ", req->code(), " has no definition for ",
                                              req->year()));
    }
    *resp = *def;
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* IngestServiceImpl::ListIndicators(Ctx* ctx,
                                                            const v1::ListIndicatorsRequest* req,
                                                            v1::ListIndicatorsResponse* resp) {
  return FinishOnWorker(ctx, *workers_, [=, this]() -> absl::Status {
    AW_ASSIGN_OR_RETURN(const Page page, ParsePage(req->page(), *req));
    AW_ASSIGN_OR_RETURN(auto catalogue, store_->GetCatalogue());
    std::vector<const v1::Indicator*> selected;
    for (const IndicatorInfo& info : catalogue->indicators()) {
      const v1::Indicator* def = req->year() == 0 ? &info.versions.back() : info.InYear(req->year());
      if (def == nullptr || (!def->enabled() && !req->include_disabled())) continue;
      if (!req->categories().empty() &&
          std::find(req->categories().begin(), req->categories().end(), def->category()) ==
              req->categories().end()) {
        continue;
      }
      selected.push_back(def);
    }
    std::sort(selected.begin(), selected.end(),
              [](const auto* a, const auto* b) { return a->code() < b->code(); });
    for (int64_t i = page.offset; i < std::min<int64_t>(selected.size(), page.offset + page.size); ++i) {
      *resp->add_indicators() = *selected[i];
    }
    FillPageResponse(page, static_cast<int64_t>(selected.size()), resp->mutable_page());
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* IngestServiceImpl::GetIndicatorHistory(Ctx* ctx,
                                                                 const v1::GetIndicatorRequest* req,
                                                                 v1::IndicatorHistory* resp) {
  return FinishOnWorker(ctx, *workers_, [=, this]() -> absl::Status {
    AW_ASSIGN_OR_RETURN(auto catalogue, store_->GetCatalogue());
    AW_ASSIGN_OR_RETURN(const IndicatorInfo* info, FindIndicator(*catalogue, "code", req->code()));
    for (const v1::Indicator& v : info->versions) *resp->add_versions() = v;
    return absl::OkStatus();
  });
}

grpc::ServerBidiReactor<v1::ReadingBatch, v1::BatchResult>* IngestServiceImpl::IngestReadings(Ctx*) {
  return new IngestReactor(store_, workers_, metrics_);
}

absl::Status IngestServiceImpl::WriteOne(const v1::ReadingKey& key, double value,
                                         const std::string& entered_by, const std::string& source,
                                         const std::string& reason, const std::string& request_id,
                                         int expected_version, bool must_exist, v1::Reading* out) {
  AW_ASSIGN_OR_RETURN(auto catalogue, store_->GetCatalogue());
  AW_ASSIGN_OR_RETURN(const UnitInfo* unit, FindUnit(*catalogue, "key.unit_code", key.unit_code()));
  AW_ASSIGN_OR_RETURN(const IndicatorInfo* indicator,
                      FindIndicator(*catalogue, "key.indicator_code", key.indicator_code()));
  AW_ASSIGN_OR_RETURN(const Period period, FromProto(key.period(), "key.period"));
  if (entered_by.empty()) return InvalidField("entered_by", "required");
  const std::string src = source.empty() ? "manual" : source;
  if (request_id.size() > 200) return InvalidField("request_id", "at most 200 bytes");

  AW_ASSIGN_OR_RETURN(auto before, store_->ReadVersions({unit->id}, {indicator->id}, period.type(),
                                                        period.first_day(), period.first_day(), false));
  const int current = before.empty() ? 0 : before.front().version;
  if (request_id.empty()) {
    if (must_exist && current == 0) {
      return absl::NotFoundError(absl::StrCat("no value for ", key.unit_code(), " / ",
                                              key.indicator_code(), " / ", period.key(),
                                              " to correct; use SubmitReading"));
    }
    if (!must_exist && current != 0) {
      return absl::AlreadyExistsError(absl::StrCat(
          key.unit_code(), " / ", key.indicator_code(), " / ", period.key(),
          " already has a value (version ", current, "); correct it with CorrectReading"));
    }
    if (expected_version != 0 && expected_version != current) {
      return absl::AbortedError(absl::StrCat("expected_version: the current version is ", current,
                                             ", not ", expected_version));
    }
  }
  v1::ReadingBatch batch;
  batch.set_batch_id(request_id.empty() ? "unary-" + RandomId() : "request-" + request_id);
  batch.set_source(src);
  batch.set_all_or_nothing(true);
  v1::ReadingInput* row = batch.add_rows();
  row->set_unit_code(key.unit_code());
  row->set_indicator_code(key.indicator_code());
  ToProto(period, row->mutable_period());
  row->set_value(value);
  row->set_entered_by(entered_by);
  row->set_reason(reason);
  AW_ASSIGN_OR_RETURN(const v1::BatchResult result, store_->IngestBatch(batch));
  if (!result.errors().empty()) return RowStatus(result.errors(0));
  if (!result.duplicate()) metrics_->CountRows(src, result);
  AW_ASSIGN_OR_RETURN(auto history, store_->ReadVersions({unit->id}, {indicator->id}, period.type(),
                                                         period.first_day(), period.first_day(), true));
  for (const StoredReading& r : history) {
    if (r.seq == result.last_seq()) {
      ToProto(*catalogue, r, out);
      return absl::OkStatus();
    }
  }
  return absl::InternalError("the written reading is not readable");
}

grpc::ServerUnaryReactor* IngestServiceImpl::SubmitReading(Ctx* ctx, const v1::SubmitReadingRequest* req,
                                                           v1::Reading* resp) {
  return FinishOnWorker(ctx, *workers_, [=, this] {
    return WriteOne(req->key(), req->value(), req->entered_by(), req->source(), req->reason(),
                    req->request_id(), 0, false, resp);
  });
}

grpc::ServerUnaryReactor* IngestServiceImpl::CorrectReading(Ctx* ctx,
                                                            const v1::CorrectReadingRequest* req,
                                                            v1::Reading* resp) {
  return FinishOnWorker(ctx, *workers_, [=, this]() -> absl::Status {
    if (req->reason().empty()) return InvalidField("reason", "a correction needs a reason");
    return WriteOne(req->key(), req->value(), req->entered_by(), req->source(), req->reason(),
                    req->request_id(), req->expected_version(), true, resp);
  });
}

grpc::ServerUnaryReactor* IngestServiceImpl::GetReading(Ctx* ctx, const v1::GetReadingRequest* req,
                                                        v1::Reading* resp) {
  return FinishOnWorker(ctx, *workers_, [=, this]() -> absl::Status {
    const v1::ReadingKey& key = req->key();
    AW_ASSIGN_OR_RETURN(auto catalogue, store_->GetCatalogue());
    AW_ASSIGN_OR_RETURN(const UnitInfo* unit, FindUnit(*catalogue, "key.unit_code", key.unit_code()));
    AW_ASSIGN_OR_RETURN(const IndicatorInfo* indicator,
                        FindIndicator(*catalogue, "key.indicator_code", key.indicator_code()));
    AW_ASSIGN_OR_RETURN(const Period period, FromProto(key.period(), "key.period"));
    AW_ASSIGN_OR_RETURN(auto current, store_->ReadVersions({unit->id}, {indicator->id}, period.type(),
                                                           period.first_day(), period.first_day(), false));
    if (!current.empty()) {
      ToProto(*catalogue, current.front(), resp);
      return absl::OkStatus();
    }
    const std::string what = absl::StrCat(key.unit_code(), " / ", key.indicator_code(), " / ", period.key());
    if (!req->allow_derived()) return absl::NotFoundError(absl::StrCat("no value reported for ", what));
    const v1::Indicator* def = indicator->InYear(static_cast<int>(period.first_day().year()));
    if (def == nullptr) return absl::NotFoundError(absl::StrCat("indicator ", indicator->code, " not defined then"));
    if (def->rollup() == v1::ROLLUP_RULE_NONE) {
      return absl::FailedPreconditionError(absl::StrCat(
          "no value reported for ", what, ", and indicator ", indicator->code,
          " is never rolled up (roll-up rule NONE: a rate must be reported for each period)"));
    }
    std::vector<StoredReading> children;
    absl::flat_hash_map<ValueKey, const StoredReading*> values;
    for (PeriodType child : ChildTypes(*def, period.type())) {
      AW_ASSIGN_OR_RETURN(auto part, store_->ReadVersions({unit->id}, {indicator->id}, child,
                                                          period.first_day(), period.last_day(), false));
      for (auto& r : part) children.push_back(std::move(r));
    }
    for (const StoredReading& r : children) values[KeyOf(r.unit_id, r.indicator_id, r.period)] = &r;
    std::string why;
    auto derived = Derive(*catalogue, *def, *unit, *indicator, period, values, &why);
    if (!derived) {
      return absl::NotFoundError(absl::StrCat("no value reported for ", what,
                                              " and none can be rolled up: ",
                                              why.empty() ? "no shorter period type is allowed" : why));
    }
    *resp = *std::move(derived);
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* IngestServiceImpl::GetReadingHistory(Ctx* ctx, const v1::ReadingKey* key,
                                                               v1::ReadingHistory* resp) {
  return FinishOnWorker(ctx, *workers_, [=, this]() -> absl::Status {
    AW_ASSIGN_OR_RETURN(auto catalogue, store_->GetCatalogue());
    AW_ASSIGN_OR_RETURN(const UnitInfo* unit, FindUnit(*catalogue, "unit_code", key->unit_code()));
    AW_ASSIGN_OR_RETURN(const IndicatorInfo* indicator,
                        FindIndicator(*catalogue, "indicator_code", key->indicator_code()));
    AW_ASSIGN_OR_RETURN(const Period period, FromProto(key->period(), "period"));
    AW_ASSIGN_OR_RETURN(auto history, store_->ReadVersions({unit->id}, {indicator->id}, period.type(),
                                                           period.first_day(), period.first_day(), true));
    if (history.empty()) return absl::NotFoundError("no value has been reported for this key");
    for (const StoredReading& r : history) ToProto(*catalogue, r, resp->add_versions());
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* IngestServiceImpl::QueryReadings(Ctx* ctx,
                                                           const v1::QueryReadingsRequest* req,
                                                           v1::QueryReadingsResponse* resp) {
  return FinishOnWorker(ctx, *workers_, [=, this]() -> absl::Status {
    AW_ASSIGN_OR_RETURN(const Page page, ParsePage(req->page(), *req));
    AW_ASSIGN_OR_RETURN(const Period first, FromProto(req->periods().first(), "periods.first"));
    AW_ASSIGN_OR_RETURN(const Period last, FromProto(req->periods().last(), "periods.last"));
    if (first.type() != last.type()) return InvalidField("periods", "first and last must be of one type");
    if (last < first) return InvalidField("periods", "last comes before first");
    std::vector<Period> periods;
    for (Period p = first; p <= last; p = p.Next()) {
      periods.push_back(p);
      if (periods.size() > kMaxPeriodsPerQuery) {
        return InvalidField("periods", absl::StrCat("at most ", kMaxPeriodsPerQuery, " periods per query"));
      }
    }
    AW_ASSIGN_OR_RETURN(auto catalogue, store_->GetCatalogue());
    AW_ASSIGN_OR_RETURN(auto units, ScopeUnits(*catalogue, req->scope(), last.last_day(), true));
    std::vector<int> unit_ids;
    for (const UnitInfo* u : units) unit_ids.push_back(u->id);
    std::vector<const IndicatorInfo*> indicators;
    std::vector<int> indicator_ids;
    for (const std::string& code : req->indicator_codes()) {
      AW_ASSIGN_OR_RETURN(const IndicatorInfo* i, FindIndicator(*catalogue, "indicator_codes", code));
      indicators.push_back(i);
      indicator_ids.push_back(i->id);
    }
    if (indicators.empty()) {
      for (const IndicatorInfo& i : catalogue->indicators()) indicators.push_back(&i);
    }
    const int64_t scope_size = static_cast<int64_t>(unit_ids.size()) * indicators.size() * periods.size();
    if (req->include_derived() && scope_size > kMaxQueryRows) {
      return InvalidField("scope", absl::StrCat("with include_derived a query may cover at most ",
                                                kMaxQueryRows, " unit × indicator × period keys, not ",
                                                scope_size, "; narrow it"));
    }
    AW_ASSIGN_OR_RETURN(auto rows, store_->ReadVersions(unit_ids, indicator_ids, first.type(),
                                                        first.first_day(), last.first_day(),
                                                        req->include_history()));
    if (static_cast<int64_t>(rows.size()) > kMaxQueryRows) {
      return InvalidField("scope", absl::StrCat("the query matches more than ", kMaxQueryRows,
                                                " readings; narrow it"));
    }
    std::vector<v1::Reading> out;
    out.reserve(rows.size());
    for (const StoredReading& r : rows) ToProto(*catalogue, r, &out.emplace_back());
    if (req->include_derived()) {
      absl::flat_hash_map<ValueKey, bool> reported;
      for (const StoredReading& r : rows) reported[KeyOf(r.unit_id, r.indicator_id, r.period)] = true;
      std::vector<StoredReading> children;
      absl::flat_hash_map<ValueKey, const StoredReading*> values;
      for (int t = static_cast<int>(first.type()) - 1; t >= static_cast<int>(PeriodType::kDay); --t) {
        if (!Nests(static_cast<PeriodType>(t), first.type())) continue;
        AW_ASSIGN_OR_RETURN(auto part, store_->ReadVersions(unit_ids, indicator_ids,
                                                            static_cast<PeriodType>(t),
                                                            first.first_day(), last.last_day(), false));
        for (auto& r : part) children.push_back(std::move(r));
      }
      for (const StoredReading& r : children) values[KeyOf(r.unit_id, r.indicator_id, r.period)] = &r;
      for (const UnitInfo* u : units) {
        for (const IndicatorInfo* i : indicators) {
          for (const Period& p : periods) {
            if (reported.contains(KeyOf(u->id, i->id, p))) continue;
            const v1::Indicator* def = i->InYear(static_cast<int>(p.first_day().year()));
            if (def == nullptr || def->rollup() == v1::ROLLUP_RULE_NONE) continue;
            if (auto d = Derive(*catalogue, *def, *u, *i, p, values, nullptr)) out.push_back(*std::move(d));
          }
        }
      }
      std::stable_sort(out.begin(), out.end(), [](const v1::Reading& a, const v1::Reading& b) {
        return std::tie(a.key().unit_code(), a.key().indicator_code(), a.key().period().key()) <
               std::tie(b.key().unit_code(), b.key().indicator_code(), b.key().period().key());
      });
    }
    for (int64_t i = page.offset; i < std::min<int64_t>(out.size(), page.offset + page.size); ++i) {
      *resp->add_readings() = std::move(out[i]);
    }
    FillPageResponse(page, static_cast<int64_t>(out.size()), resp->mutable_page());
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* IngestServiceImpl::GetCompleteness(Ctx* ctx,
                                                             const v1::GetCompletenessRequest* req,
                                                             v1::GetCompletenessResponse* resp) {
  return FinishOnWorker(ctx, *workers_, [=, this]() -> absl::Status {
    AW_ASSIGN_OR_RETURN(const Page page, ParsePage(req->page(), *req));
    AW_ASSIGN_OR_RETURN(const Period period, FromProto(req->period(), "period"));
    const absl::Time as_of = req->has_as_of()
                                 ? absl::FromUnixSeconds(req->as_of().seconds())
                                 : absl::Now();
    AW_ASSIGN_OR_RETURN(auto catalogue, store_->GetCatalogue());
    AW_ASSIGN_OR_RETURN(auto scoped, ScopeUnits(*catalogue, req->scope(), period.last_day(), true));
    for (int i = 0; i < req->indicator_codes_size(); ++i) {
      if (catalogue->FindIndicator(req->indicator_codes(i)) == nullptr) {
        return absl::InvalidArgumentError(
            absl::StrCat("indicator_codes[", i, "]: no indicator ", req->indicator_codes(i)));
      }
    }
    // What each indicator owes for this period, worked out once, not per unit.
    struct Due {
      const IndicatorInfo* info;
      const v1::Indicator* def;
      absl::Time deadline;
    };
    std::vector<Due> due;
    for (const IndicatorInfo& i : catalogue->indicators()) {
      const v1::Indicator* def = i.InYear(static_cast<int>(period.first_day().year()));
      if (def == nullptr || !def->enabled()) continue;
      if (!req->indicator_codes().empty() &&
          std::find(req->indicator_codes().begin(), req->indicator_codes().end(), i.code) ==
              req->indicator_codes().end()) {
        continue;
      }
      if (std::find(def->allowed_period_types().begin(), def->allowed_period_types().end(),
                    static_cast<int>(period.type())) == def->allowed_period_types().end()) {
        continue;
      }
      const absl::Time deadline =
          absl::FromCivil(period.last_day() + def->deadline_days() + 1, absl::UTCTimeZone());
      if (deadline > as_of) continue;  // not due yet
      due.push_back({&i, def, deadline});
    }
    std::vector<const UnitInfo*> units;
    std::vector<int> unit_ids;
    for (const UnitInfo* u : scoped) {
      if (!u->ActiveDuring(period.first_day(), period.last_day())) continue;
      units.push_back(u);
      unit_ids.push_back(u->id);
    }
    std::vector<int> indicator_ids;  // all when no filter was given
    if (!req->indicator_codes().empty()) {
      for (const Due& d : due) indicator_ids.push_back(d.info->id);
    }
    if (due.empty()) unit_ids.clear();  // nothing is owed: no need to read
    AW_ASSIGN_OR_RETURN(auto rows, store_->ReadVersions(unit_ids, indicator_ids, period.type(), period.first_day(),
                                                        period.first_day(), false));
    absl::flat_hash_set<std::pair<int, int>> reported;
    for (const StoredReading& r : rows) reported.insert({r.unit_id, r.indicator_id});
    // Only the requested page of missing values becomes messages.
    int64_t missing = 0;
    const int64_t page_end = page.offset + page.size;
    for (const UnitInfo* u : units) {
      v1::UnitCompleteness* uc = resp->add_units();
      uc->set_unit_code(u->code);
      int required = 0, present = 0;
      for (const Due& d : due) {
        if (!d.def->applicable_unit_types().empty() &&
            std::find(d.def->applicable_unit_types().begin(), d.def->applicable_unit_types().end(),
                      u->type) == d.def->applicable_unit_types().end()) {
          continue;
        }
        ++required;
        if (reported.contains({u->id, d.info->id})) {
          ++present;
          continue;
        }
        if (missing >= page.offset && missing < page_end) {
          v1::MissingValue* m = resp->add_missing();
          m->set_unit_code(u->code);
          m->set_indicator_code(d.info->code);
          m->mutable_deadline()->set_seconds(absl::ToUnixSeconds(d.deadline));
        }
        ++missing;
      }
      uc->set_required(required);
      uc->set_reported(present);
      uc->set_rate(required == 0 ? 1.0 : static_cast<double>(present) / required);
    }
    FillPageResponse(page, missing, resp->mutable_page());
    return absl::OkStatus();
  });
}

grpc::ServerWriteReactor<v1::WatchReadingsResponse>* IngestServiceImpl::WatchReadings(
    Ctx*, const v1::WatchReadingsRequest* req) {
  if (req->from_seq() < 0) {
    return new FailedWriteReactor<v1::WatchReadingsResponse>(
        grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "from_seq: must not be negative"));
  }
  return new WatchReactor(store_, hub_, metrics_, *req);
}

grpc::ServerUnaryReactor* IngestServiceImpl::ListDataSources(Ctx* ctx, const v1::ListDataSourcesRequest*,
                                                             v1::ListDataSourcesResponse* resp) {
  return FinishOnWorker(ctx, *workers_, [=, this] {
    for (auto& ds : puller_->DataSources()) *resp->add_sources() = std::move(ds);
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* IngestServiceImpl::UpsertPullBinding(Ctx* ctx, const v1::UpsertPullBindingRequest* req,
                                                               v1::PullBinding* resp) {
  return FinishOnWorker(ctx, *workers_, [=, this]() -> absl::Status {
    AW_ASSIGN_OR_RETURN(*resp, puller_->Upsert(*req));
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* IngestServiceImpl::ListPullBindings(Ctx* ctx, const v1::ListPullBindingsRequest* req,
                                                              v1::ListPullBindingsResponse* resp) {
  return FinishOnWorker(ctx, *workers_, [=, this]() -> absl::Status {
    AW_ASSIGN_OR_RETURN(const Page page, ParsePage(req->page(), *req));
    std::vector<v1::PullBinding> bindings;
    int64_t total = 0;
    AW_RETURN_IF_ERROR(puller_->List(page.offset, page.size, &bindings, &total));
    for (auto& b : bindings) *resp->add_bindings() = std::move(b);
    FillPageResponse(page, total, resp->mutable_page());
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* IngestServiceImpl::RunPull(Ctx* ctx, const v1::RunPullRequest* req, v1::PullRun* resp) {
  return FinishOnWorker(ctx, *workers_, [=, this]() -> absl::Status {
    if (req->period().key().empty()) return InvalidField("period.key", "required");
    AW_ASSIGN_OR_RETURN(*resp, puller_->RunNow(req->binding(), req->period().key(), req->actor()));
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* IngestServiceImpl::ListPullRuns(Ctx* ctx, const v1::ListPullRunsRequest* req,
                                                          v1::ListPullRunsResponse* resp) {
  return FinishOnWorker(ctx, *workers_, [=, this]() -> absl::Status {
    AW_ASSIGN_OR_RETURN(const Page page, ParsePage(req->page(), *req));
    std::vector<v1::PullRun> runs;
    int64_t total = 0;
    AW_RETURN_IF_ERROR(puller_->ListRuns(req->binding(), page.offset, page.size, &runs, &total));
    for (auto& r : runs) *resp->add_runs() = std::move(r);
    FillPageResponse(page, total, resp->mutable_page());
    return absl::OkStatus();
  });
}

}  // namespace aw::ingest
