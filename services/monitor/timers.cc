#include "services/monitor/timers.h"

#include <map>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/log.h"
#include "common/rollup.h"
#include "common/status.h"
#include "common/worker_pool.h"

namespace aw::monitor {
namespace {

constexpr absl::Duration kRecheck = absl::Hours(24);
constexpr int kMaxDaysWatched = 90;

bool TypeApplies(const v1::Rule& rule, const UnitFacts* u) {
  return rule.unit_types().empty() ||
         (u != nullptr &&
          std::find(rule.unit_types().begin(), rule.unit_types().end(), u->type) != rule.unit_types().end());
}

}  // namespace

absl::Time RuleDeadline(const v1::Rule& rule, const DirectorySnapshot& dir, const Period& period) {
  int days = 0;
  for (const std::string& code : rule.indicator_codes()) {
    if (const IndicatorFacts* f = dir.Indicator(code)) days = std::max(days, f->deadline_days);
  }
  return absl::FromCivil(period.last_day() + days + 1, absl::UTCTimeZone());
}

TimerRunner::TimerRunner(MonitorStore* store, Directory* directory, MonitorMetrics* metrics, absl::Duration interval)
    : store_(store), directory_(directory), metrics_(metrics), interval_(interval) {}

TimerRunner::~TimerRunner() { Stop(); }

void TimerRunner::Start() {
  thread_ = NamedThread("aw-timers", [this] {
    while (!stop_.WaitForNotificationWithTimeout(interval_)) {
      auto ran = RunDue();
      if (!ran.ok()) Logger("monitor")->warn("timers: {}", ran.status().ToString());
    }
  });
}

void TimerRunner::Stop() {
  if (!stop_.HasBeenNotified()) stop_.Notify();
  if (thread_.joinable()) thread_.join();
}

absl::Status TimerRunner::Arm(const v1::Rule& rule) {
  if (rule.kind() != v1::RULE_KIND_MISSING && rule.kind() != v1::RULE_KIND_QUALITY_CONSISTENCY) {
    return absl::OkStatus();
  }
  AW_ASSIGN_OR_RETURN(auto dir, directory_->Get());
  const absl::Time now = absl::Now();
  Period p = Period::Containing(static_cast<PeriodType>(rule.period_type()), absl::ToCivilDay(now, absl::UTCTimeZone()));
  while (RuleDeadline(rule, *dir, p) > now) p = p.Previous();
  return store_->ArmTimer(rule.code(), p.key(), RuleDeadline(rule, *dir, p));
}

absl::Status TimerRunner::Judge(const v1::Rule& rule, const Period& period, std::vector<EventUpdate>& updates,
                                bool* again) {
  AW_ASSIGN_OR_RETURN(auto dir, directory_->Refresh());
  AW_ASSIGN_OR_RETURN(auto open_list, store_->OpenEventsOf(rule.code(), period.key()));
  std::map<std::string, OpenEvent> open(open_list.begin(), open_list.end());
  std::map<std::string, std::pair<Verdict, std::string>> verdicts;  // unit → worst verdict, indicator
  auto keep_worst = [&](const std::string& unit, const Verdict& v, const std::string& indicator) {
    auto [it, inserted] = verdicts.emplace(unit, std::make_pair(v, indicator));
    if (!inserted && v.level > 0 && (it->second.first.level == 0 || v.level < it->second.first.level)) {
      it->second = {v, indicator};
    }
  };
  const absl::Time now = absl::Now();
  if (rule.kind() == v1::RULE_KIND_MISSING) {
    v1::GetCompletenessRequest req;
    req.mutable_period()->set_key(period.key());
    *req.mutable_scope() = rule.scope();
    for (const auto& code : rule.indicator_codes()) req.add_indicator_codes(code);
    req.mutable_page()->set_page_size(1000);
    int days_max = 0;
    for (;;) {
      grpc::ClientContext ctx;
      ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
      v1::GetCompletenessResponse resp;
      const grpc::Status s = directory_->ingest().GetCompleteness(&ctx, req, &resp);
      if (!s.ok()) return absl::UnavailableError(absl::StrCat("ingest GetCompleteness: ", s.error_message()));
      for (const v1::MissingValue& m : resp.missing()) {
        if (!TypeApplies(rule, dir->Unit(m.unit_code()))) continue;
        const double days = std::floor(absl::ToDoubleHours(now - absl::FromUnixSeconds(m.deadline().seconds())) / 24);
        Verdict v = EvaluateMissing(rule, days);
        if (v.level > 0) {
          v.message = absl::StrCat(m.indicator_code(), " for ", period.key(), " is ", days,
                                   " day(s) overdue (level ", v.level, ")");
        }
        days_max = std::max(days_max, static_cast<int>(days));
        keep_worst(m.unit_code(), v, m.indicator_code());
      }
      if (resp.page().next_page_token().empty()) break;
      req.mutable_page()->set_page_token(resp.page().next_page_token());
    }
    *again = !verdicts.empty() && days_max < kMaxDaysWatched;
  } else {
    // Consistency: each parent's value against the roll-up of its children.
    v1::QueryReadingsRequest req;
    *req.mutable_scope() = rule.scope();
    if (req.scope().unit_code().empty()) req.mutable_scope()->set_include_descendants(true);
    for (const auto& code : rule.indicator_codes()) req.add_indicator_codes(code);
    req.mutable_periods()->mutable_first()->set_key(period.key());
    req.mutable_periods()->mutable_last()->set_key(period.key());
    req.mutable_page()->set_page_size(1000);
    std::map<std::pair<std::string, std::string>, double> values;  // (indicator, unit) → value
    for (;;) {
      grpc::ClientContext ctx;
      ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
      v1::QueryReadingsResponse resp;
      const grpc::Status s = directory_->ingest().QueryReadings(&ctx, req, &resp);
      if (!s.ok()) return absl::UnavailableError(absl::StrCat("ingest QueryReadings: ", s.error_message()));
      for (const auto& r : resp.readings()) values[{r.key().indicator_code(), r.key().unit_code()}] = r.value();
      if (resp.page().next_page_token().empty()) break;
      req.mutable_page()->set_page_token(resp.page().next_page_token());
    }
    std::map<std::string, std::vector<std::string>> children;
    for (const auto& [code, u] : dir->units) {
      if (u.active && !u.parent.empty()) children[u.parent].push_back(code);
    }
    for (const auto& [key, parent_value] : values) {
      const auto& [indicator, unit] = key;
      auto kids = children.find(unit);
      const IndicatorFacts* facts = dir->Indicator(indicator);
      if (kids == children.end() || facts == nullptr || !TypeApplies(rule, dir->Unit(unit))) continue;
      std::vector<double> child_values;
      for (const std::string& child : kids->second) {
        auto v = values.find({indicator, child});
        if (v != values.end()) child_values.push_back(v->second);
      }
      if (child_values.size() != kids->second.size()) continue;  // incomplete: nothing to compare
      auto rollup = RollUp(facts->rollup, child_values);
      if (!rollup.ok()) continue;
      Verdict v = EvaluateConsistency(rule, parent_value, *rollup);
      if (v.level > 0) {
        v.observed = parent_value;
        v.message = absl::StrCat(indicator, " of ", unit, " is ", parent_value, " but its ", child_values.size(),
                                 " children add up to ", *rollup, " (level ", v.level, ")");
      }
      keep_worst(unit, v, indicator);
    }
    *again = absl::Now() - RuleDeadline(rule, *dir, period) < absl::Hours(24 * 30);
  }
  for (const auto& [unit, vi] : verdicts) {
    const auto& [verdict, indicator] = vi;
    auto it = open.find(unit);
    const Change change = NextChange(it != open.end(), it == open.end() ? 0 : it->second.level, verdict.level);
    if (change == Change::kNone) continue;
    updates.push_back(EventUpdate::Of(rule, change, unit, period.key(), indicator, verdict));
  }
  // Problems that went away resolve their events.
  for (const auto& [unit, event] : open) {
    auto v = verdicts.find(unit);
    if (v != verdicts.end() && v->second.first.level > 0) continue;
    Verdict cleared;
    cleared.message = rule.kind() == v1::RULE_KIND_MISSING ? "the value was reported" : "consistent again";
    EventUpdate u = EventUpdate::Of(rule, Change::kResolve, unit, period.key(), "", std::move(cleared));
    u.keep_observed = true;
    updates.push_back(std::move(u));
  }
  return absl::OkStatus();
}

absl::StatusOr<int> TimerRunner::RunDue() {
  int ran = 0;
  for (;;) {
    bool claimed = false;
    absl::Status s = store_->pool()->Run([&](pqxx::connection& c) -> absl::Status {
      pqxx::work tx(c);
      const pqxx::result r = tx.exec(
          "SELECT rule_code, period_key FROM timers WHERE due_at <= now() ORDER BY due_at LIMIT 1 "
          "FOR UPDATE SKIP LOCKED");
      if (r.empty()) return absl::OkStatus();
      claimed = true;
      const std::string code = r[0][0].as<std::string>(), key = r[0][1].as<std::string>();
      auto rule = store_->GetRule(code);
      if (!rule.ok() || !rule->enabled() ||
          (rule->kind() != v1::RULE_KIND_MISSING && rule->kind() != v1::RULE_KIND_QUALITY_CONSISTENCY)) {
        tx.exec_params("DELETE FROM timers WHERE rule_code = $1", code);  // the rule is gone or changed
        tx.commit();
        return absl::OkStatus();
      }
      auto period = Period::Parse(static_cast<PeriodType>(rule->period_type()), key);
      if (!period.ok()) {
        tx.exec_params("DELETE FROM timers WHERE rule_code = $1 AND period_key = $2", code, key);
        tx.commit();
        return absl::OkStatus();
      }
      std::vector<EventUpdate> updates;
      bool again = false;
      absl::Status judged = Judge(*rule, *period, updates, &again);
      if (!judged.ok()) {
        tx.exec_params("UPDATE timers SET due_at = now() + interval '5 minutes', runs = runs + 1, last_error = $3 "
                       "WHERE rule_code = $1 AND period_key = $2",
                       code, key, std::string(judged.message()));
        tx.commit();
        return absl::OkStatus();
      }
      // The events change in the transaction that holds the timer: both or neither.
      AW_ASSIGN_OR_RETURN(const std::vector<int> resolved, store_->ApplyIn(tx, updates, "", 0, 0));
      if (again) {
        tx.exec_params("UPDATE timers SET due_at = due_at + interval '1 day' * greatest(1, ceil(extract(epoch FROM "
                       "now() - due_at) / 86400)), runs = runs + 1, last_error = '' "
                       "WHERE rule_code = $1 AND period_key = $2",
                       code, key);
      } else {
        tx.exec_params("DELETE FROM timers WHERE rule_code = $1 AND period_key = $2", code, key);
      }
      AW_ASSIGN_OR_RETURN(auto dir, directory_->Get());
      const Period next = period->Next();
      tx.exec_params("INSERT INTO timers (rule_code, period_key, due_at) VALUES ($1, $2, to_timestamp($3)) "
                     "ON CONFLICT DO NOTHING",
                     code, next.key(), absl::ToDoubleSeconds(RuleDeadline(*rule, *dir, next) - absl::UnixEpoch()));
      tx.commit();
      metrics_->Applied(updates, resolved);
      return absl::OkStatus();
    });
    if (!s.ok()) return s;
    if (!claimed) return ran;
    ++ran;
  }
}

}  // namespace aw::monitor
