#include "services/report/generator.h"

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/digest.h"
#include "common/log.h"
#include "common/status.h"
#include "common/timestamp.h"
#include "services/report/documents.h"
#include "services/report/render.h"
#include "services/report/report_logic.h"

namespace aw::report {
namespace {

std::string Label(v1::ReportKind kind) {
  std::string name = v1::ReportKind_Name(kind).substr(std::string("REPORT_KIND_").size());
  for (char& c : name) c = static_cast<char>(std::tolower(c));
  return name;
}

std::string Label(v1::ExportFormat format) {
  std::string name = v1::ExportFormat_Name(format).substr(std::string("EXPORT_FORMAT_").size());
  for (char& c : name) c = static_cast<char>(std::tolower(c));
  return name;
}

absl::Time StartOf(absl::CivilDay day) { return absl::FromCivil(day, absl::UTCTimeZone()); }

// Stops the gathering when a step says so: a cancellation.
#define AW_STEP(percent, stage)                                 \
  do {                                                          \
    AW_ASSIGN_OR_RETURN(const bool go_on, step(percent, stage)); \
    if (!go_on) return std::nullopt;                            \
  } while (false)

}  // namespace

absl::StatusOr<std::optional<v1::ReportDocument>> Generator::Document(const v1::ReportParams& params,
                                                                      const v1::Identity& identity,
                                                                      const Step& step) {
  AW_ASSIGN_OR_RETURN(const Period period, Period::Parse(params.period().key()));
  Sources::For from = sources_->Caller(identity);
  AW_STEP(5, "reading the tree");
  const std::string& root = params.scope().unit_code();
  AW_ASSIGN_OR_RETURN(const Tree tree, from.TreeOf(root));
  DocumentHead head{.params = params,
                    .scope_name = tree.names.at(root),
                    .generated_by = identity.principal().subject()};
  v1::UnitScope subtree;
  subtree.set_unit_code(root);
  subtree.set_include_descendants(true);
  std::optional<v1::ReportDocument> doc;
  switch (params.kind()) {
    case v1::REPORT_KIND_EVALUATION: {
      AW_STEP(20, "gathering the evaluation, trend and forecast");
      AW_ASSIGN_OR_RETURN(const EvaluationData data, from.Evaluation(root, period, tree));
      head.as_of = options_.clock->Now();
      doc = BuildEvaluation(head, data);
      break;
    }
    case v1::REPORT_KIND_DAILY_AUDIT:
    case v1::REPORT_KIND_WEEKLY_ANALYSIS: {
      const bool weekly = params.kind() == v1::REPORT_KIND_WEEKLY_ANALYSIS;
      AW_STEP(20, weekly ? "gathering the week's warnings, tasks and orders"
                         : "gathering the day's warnings, tasks and orders");
      WeeklyData data;
      AW_ASSIGN_OR_RETURN(data.week, from.Activity(subtree, StartOf(period.first_day()),
                                                   StartOf(period.last_day()) + absl::Hours(24),
                                                   weekly ? &data.previous_events : nullptr));
      if (weekly) {
        AW_STEP(50, "gathering the rates");
        auto children = tree.children.find(root);
        data.groups = children == tree.children.end() ? std::vector<std::string>{root} : children->second;
        for (const v1::Unit& u : tree.units) {
          const std::string group = tree.GroupOf(u.code());
          data.group_of[u.code()] = group.empty() ? root : group;
        }
        AW_ASSIGN_OR_RETURN(auto rates,
                            from.Rates(subtree, Period::Containing(PeriodType::kMonth, period.last_day()), 1));
        for (auto& r : rates) {
          if (std::find(data.groups.begin(), data.groups.end(), r.unit_code()) != data.groups.end()) {
            data.rates.push_back(std::move(r));
          }
        }
      }
      AW_STEP(60, "reading the themes");
      AW_ASSIGN_OR_RETURN(const Names themes, from.ThemeNames());
      head.as_of = options_.clock->Now();
      doc = weekly ? BuildWeekly(head, data, tree.names, themes) : BuildDaily(head, data.week, tree.names, themes);
      break;
    }
    case v1::REPORT_KIND_MONTHLY_SUMMARY: {
      AW_STEP(20, "gathering the month's evaluation, rankings, rates and supervision");
      AW_ASSIGN_OR_RETURN(const MonthlyData data, from.Monthly(root, period, tree));
      head.as_of = options_.clock->Now();
      doc = BuildMonthly(head, data, tree.names);
      break;
    }
    case v1::REPORT_KIND_THEME_ANALYSIS: {
      ThemeData data;
      AW_ASSIGN_OR_RETURN(data.measure_name, from.MeasureName(params.measure()));
      // Regions breadth first, down to `depth` levels (the scope is the first).
      std::vector<std::pair<std::string, int>> queue = {{root, 1}};
      for (size_t i = 0; i < queue.size(); ++i) {
        const auto [unit, level] = queue[i];
        AW_STEP(10 + static_cast<int>(60 * i / queue.size()), absl::StrCat("drilling into ", unit));
        AW_ASSIGN_OR_RETURN(v1::DrillDownResponse drill, from.Drill(unit, period, params.measure(), tree));
        if (level < params.depth()) {
          for (const auto& c : drill.children()) {
            if (c.has_children()) queue.emplace_back(c.unit_code(), level + 1);
          }
        }
        data.regions.push_back(std::move(drill));
      }
      AW_STEP(75, "drilling into the half-years");
      data.times.push_back(data.regions.front());
      AW_ASSIGN_OR_RETURN(const std::vector<Period> halves, period.Split(PeriodType::kHalfYear));
      for (const Period& half : halves) {
        AW_ASSIGN_OR_RETURN(v1::DrillDownResponse drill, from.Drill(root, half, params.measure(), tree));
        data.times.push_back(std::move(drill));
      }
      head.as_of = options_.clock->Now();
      doc = BuildTheme(head, data);
      break;
    }
    default:
      return absl::InvalidArgumentError("params.kind: not a report kind");
  }
  SetTimestamp(options_.clock->Now(), doc->mutable_generated_at());
  return doc;
}

absl::StatusOr<bool> Generator::RunOne() {
  const absl::Time started = options_.clock->Now();
  AW_ASSIGN_OR_RETURN(const std::optional<Claimed> job, store_->ClaimJob(started, options_.lease));
  if (!job) return false;
  const std::string kind = Label(job->params.kind()), format = Label(job->params.format());
  auto ended = [&](const std::string& result) {
    metrics_->Ended(kind, format, result, absl::ToDoubleSeconds(options_.clock->Now() - started));
    options_.changed();
  };
  if (job->attempts > options_.max_attempts) {
    AW_RETURN_IF_ERROR(store_->Fail(job->id, absl::StrCat("gave up after ", options_.max_attempts, " attempts"),
                                    options_.clock->Now()));
    ended("gave_up");
    return true;
  }
  const Step step = [&](int percent, const std::string& stage) {
    auto go_on = store_->Progress(job->id, percent, stage, options_.clock->Now() + options_.lease);
    options_.changed();
    return go_on;
  };
  auto cancelled = [&]() -> absl::StatusOr<bool> {
    AW_RETURN_IF_ERROR(store_->MarkCancelled(job->id, options_.clock->Now()));
    ended("cancelled");
    return true;
  };
  absl::StatusOr<std::optional<v1::ReportDocument>> doc = Document(job->params, job->identity, step);
  absl::StatusOr<std::string> bytes;
  if (doc.ok() && *doc) {
    AW_ASSIGN_OR_RETURN(const bool go_on, step(80, absl::StrCat("writing ", format)));
    if (!go_on) return cancelled();
    bytes = Render(**doc, job->params.format());
  }
  const absl::Status failed = !doc.ok() ? doc.status() : !bytes.ok() && *doc ? bytes.status() : absl::OkStatus();
  if (!failed.ok()) {
    if (failed.code() == absl::StatusCode::kUnavailable && job->attempts < options_.max_attempts) {
      // A service is down: the lease runs out and the job is taken again.
      Logger("report")->warn("report {} waits for a retry: {}", job->id, failed.ToString());
      ended("retry");
      return true;
    }
    AW_RETURN_IF_ERROR(store_->Fail(job->id, failed.ToString(), options_.clock->Now()));
    ended(absl::StatusCodeToString(failed.code()));
    return true;
  }
  if (!*doc) return cancelled();

  const absl::Time now = options_.clock->Now();
  StoredFile file{.bytes = *std::move(bytes),
                  .file_name = FileName(job->params, job->id),
                  .content_type = ContentType(job->params.format()),
                  .as_of = TimeOf((*doc)->as_of()),
                  .expires_at = now + options_.retention};
  file.sha256 = absl::BytesToHexString(Sha256(file.bytes));
  AW_ASSIGN_OR_RETURN(const bool stored, store_->Finish(job->id, file, now));
  ended(stored ? "ok" : "cancelled");
  return true;
}

absl::StatusOr<bool> Generator::FireOne() {
  AW_ASSIGN_OR_RETURN(const std::optional<int64_t> job,
                      store_->FireDue(options_.clock->Now(), [](const v1::ReportSchedule& s, absl::Time fire_at) {
                        v1::ReportParams params = s.params();
                        const Period period = PeriodOfFiring(s, fire_at);
                        params.mutable_period()->set_type(static_cast<v1::PeriodType>(period.type()));
                        params.mutable_period()->set_key(period.key());
                        return std::pair{params, NextFiring(s, fire_at)};
                      }));
  return job.has_value();
}

absl::StatusOr<int> Generator::Expire() { return store_->Expire(options_.clock->Now()); }

}  // namespace aw::report
