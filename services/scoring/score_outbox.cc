#include "services/scoring/score_outbox.h"

#include "absl/strings/str_cat.h"
#include "common/call.h"
#include "common/log.h"
#include "common/status.h"

namespace aw::scoring {
namespace {

constexpr int kBatchRows = 5000;

struct ScoreIndicator {
  const char* code;
  const char* name_zh;
  const char* name_en;
};
constexpr ScoreIndicator kIndicators[] = {
    {kScoreComposite, "综合得分", "Composite work-quality score"},
    {kScoreMain, "主要指标得分", "Main-indicator total (of 100)"},
    {kScoreProcess, "过程指标得分", "Process-indicator total (of 100)"},
    {kScoreBusiness, "业务评价得分", "Business-evaluation total (of 100)"},
};

v1::Indicator IndicatorOf(const ScoreIndicator& s) {
  v1::Indicator i;
  i.set_code(s.code);
  i.set_name_zh(s.name_zh);
  i.set_name_en(s.name_en);
  i.set_category(v1::BUSINESS_CATEGORY_MARKETING_MANAGEMENT);
  i.set_unit_of_measure("分");
  i.set_kind(v1::INDICATOR_KIND_SYSTEM);
  i.set_direction(v1::DIRECTION_HIGHER_IS_BETTER);
  for (auto t : {v1::PERIOD_TYPE_MONTH, v1::PERIOD_TYPE_HALF_YEAR, v1::PERIOD_TYPE_YEAR}) i.add_allowed_period_types(t);
  // Direct deductions can take a composite below 0, bonus points above 100.
  i.set_min_value(-1000);
  i.set_max_value(1000);
  i.set_rollup(v1::ROLLUP_RULE_NONE);
  i.set_deadline_days(90);
  i.set_enabled(true);
  i.set_effective_year(2000);
  i.set_description("Published by the scoring service from each period's published evaluation run");
  return i;
}

}  // namespace

ScoreOutbox::ScoreOutbox(ScoringStore* store, std::shared_ptr<grpc::Channel> ingest, ScoringMetrics* metrics,
                         Options options)
    : store_(store),
      ingest_(v1::IngestService::NewStub(std::move(ingest))),
      metrics_(metrics),
      options_(options),
      loop_("scoring-outbox", "scoring", options.tick, options.clock, [this] { return SendDue().status(); }) {}

absl::Status ScoreOutbox::EnsureIndicators() {
  if (indicators_ready_) return absl::OkStatus();
  for (const ScoreIndicator& s : kIndicators) {
    v1::GetIndicatorRequest get;
    get.set_code(s.code);
    v1::Indicator existing;
    auto ctx = CallContext(options_.call_timeout);
    const absl::Status found = FromGrpcStatus(ingest_->GetIndicator(ctx.get(), get, &existing), "ingest GetIndicator");
    if (found.ok()) continue;
    if (!absl::IsNotFound(found)) return found;
    v1::UpsertIndicatorRequest upsert;
    *upsert.mutable_indicator() = IndicatorOf(s);
    upsert.set_actor("scoring");
    upsert.set_reason("score readings of the evaluation");
    auto put = CallContext(options_.call_timeout);
    AW_RETURN_IF_ERROR(
        FromGrpcStatus(ingest_->UpsertIndicator(put.get(), upsert, &existing), "ingest UpsertIndicator"));
  }
  indicators_ready_ = true;
  return absl::OkStatus();
}

absl::Status ScoreOutbox::Send(const ScoringStore::Outgoing& run) {
  auto ctx = CallContext(options_.call_timeout);
  v1::ImportReadingsResponse summary;
  auto stream = ingest_->ImportReadings(ctx.get(), &summary);
  v1::ReadingBatch batch;
  int batch_no = 0;
  bool written = true;
  auto flush = [&] {
    if (batch.rows_size() == 0 || !written) return;
    batch.set_batch_id(absl::StrCat("scoring-run-", run.run_id, "-", batch_no++));
    batch.set_source("scoring");
    written = stream->Write(batch);
    batch.clear_rows();
  };
  auto row = [&](const UnitFigures& u, const char* code, double value) {
    v1::ReadingInput* r = batch.add_rows();
    r->set_unit_code(u.unit_code);
    r->set_indicator_code(code);
    r->mutable_period()->set_type(static_cast<v1::PeriodType>(run.period.type));
    r->mutable_period()->set_key(run.period.key);
    r->set_value(value);
    r->set_entered_by("scoring");
    r->set_reason(absl::StrCat("evaluation run ", run.run_id));
    if (batch.rows_size() >= kBatchRows) flush();
  };
  for (const UnitFigures& u : run.units) {
    row(u, kScoreComposite, u.composite);
    if (u.main_total) row(u, kScoreMain, *u.main_total);
    if (u.process_total) row(u, kScoreProcess, *u.process_total);
    row(u, kScoreBusiness, u.business_total);
  }
  flush();
  stream->WritesDone();
  AW_RETURN_IF_ERROR(FromGrpcStatus(stream->Finish(), "ingest ImportReadings"));
  if (summary.rejected() > 0) {
    const auto& first = summary.results(0);
    return absl::FailedPreconditionError(absl::StrCat(
        "ingest rejected ", summary.rejected(), " score readings of run ", run.run_id,
        first.errors_size() > 0 ? absl::StrCat(", e.g. ", first.errors(0).code(), ": ", first.errors(0).message())
                                : std::string()));
  }
  return absl::OkStatus();
}

absl::StatusOr<int> ScoreOutbox::SendDue() {
  int sent = 0;
  AW_RETURN_IF_ERROR(DrainDue([&]() -> absl::StatusOr<bool> {
                       const absl::Time now = options_.clock->Now();
                       AW_ASSIGN_OR_RETURN(auto run, store_->ClaimOutgoing(now, options_.call_timeout * 2));
                       if (!run) return false;
                       absl::Status s = EnsureIndicators();
                       if (s.ok()) s = Send(*run);
                       if (!s.ok()) {
                         Logger("scoring")->warn("score readings of run {}: {}", run->run_id, s.ToString());
                         AW_RETURN_IF_ERROR(
                             store_->FailOutgoing(run->run_id, s.ToString(), now + options_.backoff.After(++failures_)));
                         return false;  // the next tick tries again
                       }
                       failures_ = 0;
                       AW_RETURN_IF_ERROR(store_->SentOutgoing(run->run_id));
                       ++sent;
                       return true;
                     }).status());
  return sent;
}

}  // namespace aw::scoring
