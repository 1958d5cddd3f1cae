#include "services/ingest/puller.h"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "common/status.h"

namespace aw::ingest {

Puller::Puller(IngestStore* store, IngestMetrics* metrics, Options options)
    : store_(store),
      metrics_(metrics),
      options_(std::move(options)),
      loop_("aw-puller", "ingest", options_.interval, options_.clock, [this] { return RunDue().status(); }) {}

void Puller::Start() { loop_.Start(); }

void Puller::Stop() { loop_.Stop(); }

std::vector<v1::DataSource> Puller::DataSources() const {
  std::vector<v1::DataSource> out;
  for (const auto& [name, url] : options_.data_sources) {
    v1::DataSource& ds = out.emplace_back();
    ds.set_name(name);
    ds.set_reachable(IngestStore::DataSourceReachable(url));
  }
  return out;
}

absl::StatusOr<v1::PullBinding> Puller::Upsert(const v1::UpsertPullBindingRequest& req) {
  if (req.actor().empty()) return InvalidField("actor", "required");
  v1::PullBinding binding = req.binding();
  std::vector<std::string> sources;
  for (const auto& [name, url] : options_.data_sources) sources.push_back(name);
  AW_ASSIGN_OR_RETURN(auto catalogue, store_->GetCatalogue());
  absl::Duration time_of_day;
  AW_RETURN_IF_ERROR(CheckPullBinding(*catalogue, sources, &binding, &time_of_day));
  const Period first = FirstPullPeriod(static_cast<PeriodType>(binding.period_type()), options_.clock->Now());
  return store_->UpsertPullBinding(binding, time_of_day, first, req.actor(), req.reason());
}

v1::PullRun Puller::Execute(const PullBindingRow& binding, const Period& period, const std::string& batch_id) {
  v1::PullRun run;
  run.set_binding(binding.name);
  ToProto(period, run.mutable_period());
  run.mutable_started_at()->set_seconds(absl::ToUnixSeconds(options_.clock->Now()));
  v1::ReadingBatch batch;
  batch.set_batch_id(batch_id);
  batch.set_source("pull:" + binding.name);
  auto source = options_.data_sources.find(binding.data_source);
  absl::StatusOr<std::vector<SourceRow>> rows =
      source == options_.data_sources.end()
          ? absl::FailedPreconditionError(absl::StrCat("data source ", binding.data_source, " is not configured"))
          : IngestStore::QueryDataSource(source->second, binding.query, PullParameters(binding.query, period),
                                         kQueryTimeout);
  if (!rows.ok()) {
    run.set_state(v1::PULL_RUN_STATE_FAILED);
    run.set_error(absl::StrCat("data source ", binding.data_source, ": ", rows.status().message()));
  } else {
    for (const SourceRow& r : *rows) {
      v1::ReadingInput* in = batch.add_rows();
      in->set_unit_code(r.unit_code.value_or(""));
      in->set_indicator_code(binding.indicator_code);
      ToProto(period, in->mutable_period());
      in->set_value(r.value.value_or(std::nan("")));
      in->set_entered_by("pull:" + binding.name);
    }
    auto result = store_->IngestBatch(batch);
    if (!result.ok()) {
      run.set_state(v1::PULL_RUN_STATE_FAILED);
      run.set_error(absl::StrCat("ingest: ", result.status().message()));
    } else {
      run.set_rows(result->accepted());
      run.set_rejected(result->rejected());
      *run.mutable_errors() = result->errors();
      run.set_state(result->rejected() > 0 ? v1::PULL_RUN_STATE_PARTIAL : v1::PULL_RUN_STATE_SUCCEEDED);
      if (!result->duplicate()) metrics_->CountRows(batch.source(), *result);
    }
  }
  run.mutable_finished_at()->set_seconds(absl::ToUnixSeconds(options_.clock->Now()));
  metrics_->CountPull(run.state());
  return run;
}

absl::StatusOr<v1::PullRun> Puller::RunNow(const std::string& name, const std::string& period_key,
                                           const std::string& actor) {
  if (actor.empty()) return InvalidField("actor", "required");
  AW_ASSIGN_OR_RETURN(const PullBindingRow binding, store_->GetPullBinding(name));
  auto period = Period::Parse(binding.period_type, period_key);
  if (!period.ok()) return InvalidField("period", period.status().message());
  // A manual run always reads the source again, so it gets its own batch id.
  v1::PullRun run = Execute(binding, *period,
                            absl::StrCat("pull:", name, ":", period->key(), ":manual:",
                                         absl::ToUnixMicros(options_.clock->Now())));
  AW_RETURN_IF_ERROR(store_->RecordPullRun(&run, actor));
  return run;
}

absl::StatusOr<int> Puller::RunDue() {
  return DrainDue([this] {
    return store_->RunDuePull(kRetryAfter, [this](const PullBindingRow& b, const Period& period) {
      // The batch id names binding and period: a pull re-run after a crash
      // between ingest and the commit of its run is applied once.
      v1::PullRun run = Execute(b, period, absl::StrCat("pull:", b.name, ":", period.key()));
      Logger("ingest")->info("pull {} for {}: {}, {} rows, {} rejected{}", b.name, period.key(),
                             v1::PullRunState_Name(run.state()), run.rows(), run.rejected(),
                             run.error().empty() ? "" : ": " + run.error());
      return run;
    });
  });
}

}  // namespace aw::ingest
