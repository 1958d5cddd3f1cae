#include "services/monitor/timers.h"

#include "common/call.h"
#include "common/status.h"

namespace aw::monitor {

TimerRunner::TimerRunner(MonitorStore* store, Directory* directory, MonitorMetrics* metrics, absl::Duration interval,
                         Clock* clock)
    : store_(store),
      directory_(directory),
      metrics_(metrics),
      clock_(clock),
      loop_("aw-timers", "monitor", interval, clock, [this] { return RunDue().status(); }) {}

void TimerRunner::Start() { loop_.Start(); }

void TimerRunner::Stop() { loop_.Stop(); }

absl::Status TimerRunner::Arm(const v1::Rule& rule) {
  if (!IsTimerRule(rule.kind())) return absl::OkStatus();
  AW_ASSIGN_OR_RETURN(auto dir, directory_->Get());
  const Period p = LatestDuePeriod(rule, *dir, clock_->Now());
  return store_->ArmTimer(rule.code(), p.key(), RuleDeadline(rule, *dir, p));
}

absl::StatusOr<TimerJudgement> TimerRunner::Judge(const v1::Rule& rule, const Period& period,
                                                  const std::map<std::string, OpenEvent>& open) {
  AW_ASSIGN_OR_RETURN(auto dir, directory_->Refresh());
  const absl::Time now = clock_->Now();
  auto context = [this] { return CallContext(directory_->call_timeout()); };
  std::map<std::string, UnitVerdict> verdicts;
  TimerJudgement judgement;
  if (rule.kind() == v1::RULE_KIND_MISSING) {
    v1::GetCompletenessRequest req;
    req.mutable_period()->set_key(period.key());
    *req.mutable_scope() = rule.scope();
    for (const auto& code : rule.indicator_codes()) req.add_indicator_codes(code);
    std::vector<v1::MissingValue> missing;
    AW_RETURN_IF_ERROR(ForEachPage(directory_->ingest(), &v1::IngestService::Stub::GetCompleteness, req,
                                   "ingest GetCompleteness", context, [&](const v1::GetCompletenessResponse& resp) {
                                     missing.insert(missing.end(), resp.missing().begin(), resp.missing().end());
                                     return absl::OkStatus();
                                   }));
    int days_max = 0;
    verdicts = MissingVerdicts(rule, *dir, missing, period, now, &days_max);
    judgement.again = !verdicts.empty() && days_max < kMaxDaysWatched;
  } else {
    // Consistency: each parent's value against the roll-up of its children.
    v1::QueryReadingsRequest req;
    *req.mutable_scope() = rule.scope();
    if (req.scope().unit_code().empty()) req.mutable_scope()->set_include_descendants(true);
    for (const auto& code : rule.indicator_codes()) req.add_indicator_codes(code);
    req.mutable_periods()->mutable_first()->set_key(period.key());
    req.mutable_periods()->mutable_last()->set_key(period.key());
    std::map<std::pair<std::string, std::string>, double> values;  // (indicator, unit) → value
    AW_RETURN_IF_ERROR(ForEachPage(
        directory_->ingest(), &v1::IngestService::Stub::QueryReadings, req, "ingest QueryReadings", context,
        [&](const v1::QueryReadingsResponse& resp) {
          for (const auto& r : resp.readings()) values[{r.key().indicator_code(), r.key().unit_code()}] = r.value();
          return absl::OkStatus();
        }));
    verdicts = ConsistencyVerdicts(rule, *dir, values);
    judgement.again = now - RuleDeadline(rule, *dir, period) < kConsistencyWatched;
  }
  judgement.updates = TimerChanges(rule, period, verdicts, open);
  return judgement;
}

absl::StatusOr<int> TimerRunner::RunDue() {
  return DrainDue([this]() -> absl::StatusOr<bool> {
    std::pair<std::vector<EventUpdate>, std::vector<int>> applied;
    AW_ASSIGN_OR_RETURN(
        const bool ran,
        store_->RunDueTimer(
            [this](const v1::Rule& rule, const Period& period, const std::map<std::string, OpenEvent>& open) {
              return Judge(rule, period, open);
            },
            [&](const v1::Rule& rule, const Period& next) -> absl::StatusOr<absl::Time> {
              AW_ASSIGN_OR_RETURN(auto snapshot, directory_->Get());
              return RuleDeadline(rule, *snapshot, next);
            },
            kRetryAfter, &applied));
    if (ran) metrics_->Applied(applied.first, applied.second);
    return ran;
  });
}

}  // namespace aw::monitor
