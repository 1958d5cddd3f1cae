#include "services/scoring/evaluator.h"

#include "absl/strings/str_cat.h"
#include "common/background.h"
#include "common/log.h"
#include "common/status.h"

namespace aw::scoring {

PeriodRow RowOf(const Period& period) {
  return PeriodRow{.type = static_cast<int>(period.type()),
                   .key = period.key(),
                   .first_day = absl::FormatCivilTime(period.first_day()),
                   .last_day = absl::FormatCivilTime(period.last_day())};
}

absl::StatusOr<Inputs> Evaluator::Gather(const Period& period, int64_t* readings_max_seq) {
  Inputs in;
  in.period = ProtoOf(period);
  const int year = static_cast<int>(period.first_day().year());
  auto scheme = store_->GetScheme(year, 0);
  if (absl::IsNotFound(scheme.status())) {
    return absl::FailedPreconditionError(absl::StrCat("period: ", period.key(), " cannot be evaluated, ", year,
                                                      " has no scheme (UpsertScheme)"));
  }
  AW_RETURN_IF_ERROR(scheme.status());
  in.scheme = *std::move(scheme);
  AW_ASSIGN_OR_RETURN(in.units, sources_->UnitsOn(period.last_day()));
  std::vector<std::string> codes;
  for (const v1::SchemeItem& it : in.scheme.items()) {
    if (it.enabled()) codes.push_back(it.indicator_code());
  }
  AW_ASSIGN_OR_RETURN(in.readings, sources_->Readings(period, codes, in.units, readings_max_seq));
  AW_ASSIGN_OR_RETURN(in.deductions, sources_->Deductions(period));
  AW_ASSIGN_OR_RETURN(in.bonuses, store_->BonusesInside(RowOf(period)));
  AW_ASSIGN_OR_RETURN(in.selections, store_->Selections(year));
  Canonicalise(in);
  return in;
}

absl::StatusOr<v1::EvaluationRun> Evaluator::Run(const Period& period, v1::RunTrigger trigger, const std::string& by,
                                                 PublishMode mode, const std::optional<Due>& ran) {
  const std::string type(PeriodTypeName(period.type()));
  const absl::Time started = options_.clock->Now();
  auto run = [&]() -> absl::StatusOr<v1::EvaluationRun> {
    if (!IsEvaluated(period.type())) {
      return absl::InvalidArgumentError(
          absl::StrCat("period: ", period.key(), " is a ", type, "; months, half-years and years are evaluated"));
    }
    RunRecord rec;
    AW_ASSIGN_OR_RETURN(Inputs in, Gather(period, &rec.readings_max_seq));
    const Outcome outcome = Evaluate(in);
    rec.period = RowOf(period);
    rec.scheme_year = in.scheme.year();
    rec.scheme_version = in.scheme.audit().version();
    rec.trigger = trigger;
    rec.requested_by = by;
    rec.started_at = started;
    rec.finished_at = options_.clock->Now();
    rec.readings = static_cast<int>(in.readings.size());
    rec.deductions = static_cast<int>(in.deductions.size());
    rec.missing_values = outcome.missing_values;
    rec.inputs_digest = InputsDigest(in);
    rec.results_digest = ResultsDigest(outcome);
    AW_ASSIGN_OR_RETURN(v1::EvaluationRun saved, store_->SaveRun(rec, outcome, mode, ran));
    metrics_->units_scored.Increment(static_cast<double>(outcome.evaluations.size()));
    return saved;
  };
  auto result = run();
  const double seconds = absl::ToDoubleSeconds(options_.clock->Now() - started);
  metrics_->Ran(type, result.ok() ? "ok" : absl::StatusCodeToString(result.status().code()), seconds);
  if (result.ok()) {
    Logger("scoring")->info("evaluated {} as run {} ({} units, {} readings, {} deductions) in {:.2f} s",
                            period.key(), result->id(), result->units(), result->readings(), result->deductions(),
                            seconds);
  }
  return result;
}

absl::StatusOr<int> Evaluator::RunDue() {
  return DrainDue([&]() -> absl::StatusOr<bool> {
    AW_ASSIGN_OR_RETURN(const std::optional<Due> due, store_->ClaimDue(options_.clock->Now(), options_.lease));
    if (!due) return false;
    auto period = Period::Parse(due->period_key);
    if (!period.ok()) return absl::InternalError(absl::StrCat("a due row names the period ", due->period_key));
    const PublishMode mode =
        due->trigger == v1::RUN_TRIGGER_SCHEDULE ? PublishMode::kIfNonePublished : PublishMode::kNo;
    auto ran = Run(*period, due->trigger, "scoring", mode, due);
    if (!ran.ok()) {
      Logger("scoring")->warn("evaluation of {} ({}) failed, retrying later: {}", due->period_key,
                              v1::RunTrigger_Name(due->trigger), ran.status().ToString());
      AW_RETURN_IF_ERROR(
          store_->FailDue(*due, ran.status().ToString(), options_.clock->Now() + options_.retry_after));
    }
    return true;
  });
}

}  // namespace aw::scoring
