#include "services/monitor/theft_analysis.h"

#include <algorithm>
#include <numeric>

#include "absl/strings/str_cat.h"
#include "common/call.h"
#include "common/log.h"
#include "common/number_text.h"
#include "common/period.h"
#include "common/status.h"
#include "common/timestamp.h"
#include "services/monitor/theft_logic.h"

namespace aw::monitor {
namespace {

// A customer's bills and meter events over the window, kept with its series
// so that a window moved on can drop and add them.
void AddExtras(const v1::CustomerConsumption& cc, TheftAnalyzer::Extras* x) {
  for (const v1::MonthlyBilling& b : cc.billing()) {
    absl::CivilMonth month;
    if (!absl::ParseCivilTime(b.month(), &month)) continue;
    x->bills[month] = b.billed_kwh();  // a month read again replaces what was kept
  }
  for (const v1::MeterEvent& e : cc.events()) {
    absl::CivilDay day;
    if (!absl::ParseCivilTime(e.day(), &day)) continue;
    x->events.push_back({day, e.type(), e.count()});
  }
}

// Billed against metered over the window's billed months, and the meter
// events of the window, into `c`.
void Summarise(const TheftAnalyzer::Extras& x, absl::CivilDay first, theft::Customer* c) {
  c->billed_kwh = c->metered_kwh = 0;
  for (const auto& [month, billed] : x.bills) {
    const int64_t from = absl::CivilDay(month) - first, to = absl::CivilDay(month + 1) - first;
    if (to <= 0 || from >= static_cast<int64_t>(c->daily.size())) continue;
    double metered = 0;
    for (int64_t d = std::max<int64_t>(0, from); d < std::min<int64_t>(to, c->daily.size()); ++d) {
      if (!theft::IsMissing(c->daily[d])) metered += c->daily[d];
    }
    c->billed_kwh += billed;
    c->metered_kwh += metered;
  }
  c->events = theft::MeterEventCounts{};
  for (const auto& e : x.events) {
    if (e.day < first || e.day - first >= static_cast<int64_t>(c->daily.size())) continue;
    switch (e.type) {
      case v1::METER_EVENT_TYPE_COVER_OPENED: c->events.cover_open += e.count; break;
      case v1::METER_EVENT_TYPE_REVERSE_CURRENT: c->events.reverse_energy += e.count; break;
      case v1::METER_EVENT_TYPE_PHASE_LOSS: c->events.phase_loss += e.count; break;
      case v1::METER_EVENT_TYPE_CURRENT_IMBALANCE: c->events.current_imbalance += e.count; break;
      case v1::METER_EVENT_TYPE_CLOCK_ERROR: c->events.clock_reset += e.count; break;
      default: break;
    }
  }
}

theft::Customer CustomerOf(const v1::CustomerConsumption& cc) {
  theft::Customer c;
  c.id = cc.customer().customer_id();
  c.station = cc.customer().station_code();
  c.category = cc.customer().category();
  c.contract_kva = cc.customer().contract_capacity_kva();
  c.daily.assign(cc.kwh().begin(), cc.kwh().end());
  return c;
}

std::vector<v1::TheftReason> ReasonsOf(const std::vector<theft::Reason>& reasons) {
  std::vector<v1::TheftReason> out;
  for (const theft::Reason& r : reasons) {
    v1::TheftReason& o = out.emplace_back();
    o.set_code(theft::FeatureCode(r.feature));
    o.set_message(theft::FeatureName(r.feature));
    o.set_weight(r.weight);
  }
  return out;
}

// "score 0.93 (level 1 from 0.9): 持续下降 SUSTAINED_DROP 61%, …"
std::string MessageOf(double score, int level, double cutoff, const std::vector<v1::TheftReason>& reasons) {
  std::string out = absl::StrCat("theft suspicion score ", NumberText(std::round(score * 1000) / 1000), " (level ",
                                 level, " from ", NumberText(cutoff), ")");
  for (size_t i = 0; i < reasons.size(); ++i) {
    absl::StrAppend(&out, i == 0 ? ": " : ", ", reasons[i].message(), " ", reasons[i].code(), " ",
                    static_cast<int>(std::round(reasons[i].weight() * 100)), "%");
  }
  return out;
}

}  // namespace

absl::StatusOr<v1::TheftAnalysis> TheftAnalyzer::Analyze(const v1::AnalyzeTheftRequest& request,
                                                         const std::string& actor,
                                                         const grpc::CallbackServerContext* parent) {
  const absl::Time started = options_.clock->Now();
  const absl::Time wall = absl::Now();
  if (request.rule_code().empty()) return absl::InvalidArgumentError("rule_code: required");
  AW_ASSIGN_OR_RETURN(std::optional<v1::TheftAnalysis> done, theft_->RunOf(request.request_id()));
  if (done) return *std::move(done);
  auto rule = store_->GetRule(request.rule_code());
  if (!rule.ok() && rule.status().code() == absl::StatusCode::kNotFound) {
    return absl::NotFoundError(absl::StrCat("rule_code: no rule ", request.rule_code()));
  }
  AW_RETURN_IF_ERROR(rule.status());
  if (rule->kind() != v1::RULE_KIND_THEFT_SUSPICION) {
    return absl::InvalidArgumentError(absl::StrCat("rule_code: ", rule->code(), " is not a THEFT_SUSPICION rule"));
  }
  if (!rule->enabled()) {
    return absl::FailedPreconditionError(absl::StrCat("rule_code: ", rule->code(), " is disabled"));
  }
  absl::CivilDay first, last;
  if (!absl::ParseCivilTime(request.first_day(), &first)) {
    return absl::InvalidArgumentError("first_day: an ISO date, e.g. 2025-01-01");
  }
  if (!absl::ParseCivilTime(request.last_day(), &last)) {
    return absl::InvalidArgumentError("last_day: an ISO date, e.g. 2025-12-31");
  }
  if (last < first) return absl::InvalidArgumentError("last_day: before first_day");

  // Every customer of the rule's scope: from ingest, or the series of the
  // rule's last run moved on to this window (only the days since read).
  AW_ASSIGN_OR_RETURN(Series series, Read(*rule, first, last, request.full_read(), parent));
  std::vector<theft::Customer>& customers = series.customers;
  for (size_t i = 0; i < customers.size(); ++i) Summarise(series.extras[i], first, &customers[i]);
  const absl::Time read_done = absl::Now();
  // Features, scores, levels.
  std::vector<theft::Features> signals;
  const std::vector<theft::Features> features = theft::ComputeFeatures(customers, &signals, options_.threads);
  std::vector<double> scores(customers.size());
  std::vector<std::vector<theft::Reason>> reasons(customers.size());
  v1::TheftAnalysis run;
  AW_ASSIGN_OR_RETURN(const std::optional<TheftStore::InUse> in_use, theft_->ModelInUse());
  if (in_use) {
    AW_ASSIGN_OR_RETURN(const theft::TheftModel model, theft::TheftModel::Load(in_use->model));
    AW_ASSIGN_OR_RETURN(scores, model.Predict(signals));
    AW_ASSIGN_OR_RETURN(const std::vector<theft::Contributions> why, model.Explain(signals));
    for (size_t i = 0; i < customers.size(); ++i) reasons[i] = theft::ModelReasons(why[i]);
    run.set_method(v1::THEFT_METHOD_MODEL);
    run.set_model_version(in_use->version);
  } else {
    const theft::Weights weights = theft::DefaultWeights();
    for (size_t i = 0; i < customers.size(); ++i) {
      theft::Scored s = theft::TransparentScore(features[i], weights);
      scores[i] = s.score;
      reasons[i] = std::move(s.reasons);
    }
    run.set_method(v1::THEFT_METHOD_TRANSPARENT);
  }
  const absl::Time scored = absl::Now();
  std::vector<size_t> order(customers.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return scores[a] != scores[b] ? scores[a] > scores[b] : customers[a].id < customers[b].id;
  });
  const std::array<double, 3> cutoffs = TheftCutoffs(*rule);
  std::array<int, 4> per_level{};
  std::vector<SuspectRow> suspects;
  std::vector<TheftVerdict> verdicts;
  for (size_t rank = 0; rank < order.size(); ++rank) {
    const size_t i = order[rank];
    const int level = theft::LevelOf(scores[i], cutoffs);
    ++per_level[level - 1];
    if (level > 3) continue;
    SuspectRow& s = suspects.emplace_back();
    s.customer = customers[i].id;
    s.station = customers[i].station;
    s.category = customers[i].category;
    s.rank = static_cast<int>(rank) + 1;
    s.level = level;
    s.score = scores[i];
    s.reasons = ReasonsOf(reasons[i]);
    s.features = features[i];
    s.signals = signals[i];
    if (level <= 2) {
      verdicts.push_back({.customer = s.customer, .station = s.station, .level = level, .score = s.score,
                          .message = MessageOf(s.score, level, cutoffs[level - 1], s.reasons)});
    }
  }
  run.set_rule_code(rule->code());
  run.set_days_read(series.days_read);
  run.set_first_day(request.first_day());
  run.set_last_day(request.last_day());
  run.set_customers(static_cast<int>(customers.size()));
  for (int n : per_level) run.add_per_level(n);

  // The run, its suspects and its events, together.
  AW_ASSIGN_OR_RETURN(auto dir, directory_->Get());
  AW_ASSIGN_OR_RETURN(const std::vector<v1::WhitelistEntry> whitelist, store_->Whitelist(false));
  const std::string period = Period::Containing(static_cast<PeriodType>(rule->period_type()), last).key();
  run.set_seconds(absl::ToDoubleSeconds(absl::Now() - wall));
  auto saved = theft_->SaveRun(
      run, suspects, request.request_id(), actor, options_.clock->Now(),
      [&](const std::vector<OpenTheftEvent>& open, int64_t run_id) {
        return PlanTheftEvents(*rule, period, verdicts, open,
                               [&](const TheftVerdict& v) {
                                 return Whitelisted(whitelist, started, rule->code(), rule->theme_code(), *dir,
                                                    v.station, v.customer);
                               },
                               run_id);
      });
  if (saved.ok()) Keep(std::move(series));
  if (saved.ok()) {
    Logger("monitor")->info(
        "theft analysis {} of rule {}: {} customers, levels 1–4 {}/{}/{}/{}, {} events opened; read {} days in "
        "{:.2f} s, features and scores {:.2f} s, saved {:.2f} s",
        saved->id(), rule->code(), saved->customers(), per_level[0], per_level[1], per_level[2], per_level[3],
        saved->events_opened(), saved->days_read(), absl::ToDoubleSeconds(read_done - wall), absl::ToDoubleSeconds(scored - read_done),
        absl::ToDoubleSeconds(absl::Now() - scored));
  }
  return saved;
}

absl::StatusOr<TheftAnalyzer::Series> TheftAnalyzer::Read(const v1::Rule& rule, absl::CivilDay first,
                                                           absl::CivilDay last, bool full,
                                                           const grpc::CallbackServerContext* parent) {
  Series series;
  {
    absl::MutexLock lock(&mu_);
    const auto it = cache_.find(rule.code());
    if (it != cache_.end()) {
      Series& c = it->second;
      // Moved on by up to a month, and read whole not too long ago.
      const bool fits = !full && c.version == rule.audit().version() && c.first <= first && c.last <= last &&
                        first <= c.last && last - c.last <= 31 &&
                        options_.clock->Now() - c.read_at < options_.cache_ttl;
      if (fits) series = std::move(c);
      cache_.erase(it);
    }
  }
  const bool incremental = !series.customers.empty();
  const absl::CivilDay from = incremental ? series.last + 1 : first;
  if (!incremental) {
    series = Series();
    series.read_at = options_.clock->Now();
  }
  series.rule = rule.code();
  series.version = rule.audit().version();
  std::vector<theft::Customer> kept = std::move(series.customers);
  std::vector<Extras> kept_extras = std::move(series.extras);
  series.customers.clear();
  series.extras.clear();
  const int64_t old_days = incremental ? series.last - series.first + 1 : 0;
  size_t k = 0;  // the next kept customer (both lists are in id order)
  auto add = [&](v1::CustomerConsumption& cc) {
    const std::string& id = cc.customer().customer_id();
    while (k < kept.size() && kept[k].id < id) ++k;  // gone from the scope
    if (k < kept.size() && kept[k].id == id) {
      theft::Customer c = std::move(kept[k]);
      Extras x = std::move(kept_extras[k]);
      ++k;
      c.station = cc.customer().station_code();
      c.category = cc.customer().category();
      c.contract_kva = cc.customer().contract_capacity_kva();
      c.daily.insert(c.daily.end(), cc.kwh().begin(), cc.kwh().end());
      AddExtras(cc, &x);
      series.customers.push_back(std::move(c));
      series.extras.push_back(std::move(x));
      return;
    }
    theft::Customer c = CustomerOf(cc);
    c.daily.insert(c.daily.begin(), static_cast<size_t>(old_days), theft::kMissing);  // new: no history kept
    Extras x;
    AddExtras(cc, &x);
    series.customers.push_back(std::move(c));
    series.extras.push_back(std::move(x));
  };
  if (from <= last) {
    v1::StreamConsumptionRequest read;
    *read.mutable_scope() = rule.scope();
    read.set_first_day(absl::FormatCivilTime(from));
    read.set_last_day(absl::FormatCivilTime(last));
    read.set_page_size(options_.page_size);
    std::unique_ptr<grpc::ClientContext> ctx = parent != nullptr ? ChildContext(*parent, options_.read_timeout)
                                                                 : CallContext(options_.read_timeout);
    auto reader = directory_->ingest().StreamConsumption(ctx.get(), read);
    v1::ConsumptionPage page;
    while (reader->Read(&page)) {
      if (page.total() > 0) series.customers.reserve(static_cast<size_t>(page.total()));
      for (v1::CustomerConsumption& cc : *page.mutable_customers()) add(cc);
    }
    if (const grpc::Status s = reader->Finish(); !s.ok()) return FromGrpcStatus(s, "ingest StreamConsumption");
  } else {
    series.customers = std::move(kept);  // nothing new: the same days
    series.extras = std::move(kept_extras);
  }
  // The window's start moved on: the days before it go.
  if (incremental && first > series.first) {
    const auto drop = static_cast<size_t>(first - series.first);
    for (theft::Customer& c : series.customers) c.daily.erase(c.daily.begin(), c.daily.begin() + std::min(drop, c.daily.size()));
  }
  series.first = first;
  series.last = last;
  series.days_read = from <= last ? static_cast<int>(last - from + 1) : 0;
  return series;
}

void TheftAnalyzer::Keep(Series series) {
  if (options_.cache_ttl <= absl::ZeroDuration() || series.customers.empty()) return;
  absl::MutexLock lock(&mu_);
  cache_[series.rule] = std::move(series);
}

absl::StatusOr<bool> TheftAnalyzer::NewLabelsSinceLastModel() {
  AW_ASSIGN_OR_RETURN(const std::vector<v1::TheftModelVersion> last, theft_->ListModels(0, 1));
  AW_ASSIGN_OR_RETURN(const std::vector<v1::TheftLabel> labels, theft_->ListLabels(0, 1));
  if (labels.empty()) return false;
  if (last.empty()) return true;
  return TimeOf(labels[0].recorded_at()) > TimeOf(last[0].audit().created_at());
}

absl::StatusOr<v1::TheftModelVersion> TheftAnalyzer::Train(const std::string& reason, const std::string& actor) {
  AW_ASSIGN_OR_RETURN(const std::vector<LabelRow> labels, theft_->LabelSet());
  std::vector<theft::Features> train_x, test_x, test_features;
  std::vector<int> train_y, test_y;
  int confirmed = 0, refuted = 0;
  for (const LabelRow& l : labels) {
    const int y = l.label.theft() ? 1 : 0;
    if (l.label.held_back()) {
      test_x.push_back(l.signals);
      test_features.push_back(l.features);
      test_y.push_back(y);
    } else {
      train_x.push_back(l.signals);
      train_y.push_back(y);
      (y == 1 ? confirmed : refuted)++;
    }
  }
  if (confirmed == 0 || refuted == 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        "a model learns from both outcomes: the labels not held back hold ", confirmed, " confirmed and ", refuted,
        " refuted thefts (", labels.size() - train_x.size(), " more are held back to judge models)"));
  }
  AW_ASSIGN_OR_RETURN(const theft::TheftModel challenger, theft::TheftModel::Train(train_x, train_y, options_.train));
  // The champion: the model in use, else the transparent score.
  std::vector<double> champion(test_x.size()), challenger_scores;
  AW_ASSIGN_OR_RETURN(const std::optional<TheftStore::InUse> in_use, theft_->ModelInUse());
  if (in_use) {
    AW_ASSIGN_OR_RETURN(const theft::TheftModel current, theft::TheftModel::Load(in_use->model));
    AW_ASSIGN_OR_RETURN(champion, current.Predict(test_x));
  } else {
    const theft::Weights weights = theft::DefaultWeights();
    for (size_t i = 0; i < test_features.size(); ++i) {
      champion[i] = theft::TransparentScore(test_features[i], weights).score;
    }
  }
  AW_ASSIGN_OR_RETURN(challenger_scores, challenger.Predict(test_x));
  const theft::Choice choice =
      theft::ChooseModel(champion, challenger_scores, test_y, options_.min_labels, options_.margin);
  v1::TheftModelVersion version;
  version.set_trained_on(static_cast<int>(train_x.size()));
  version.set_held_back(choice.held_back);
  version.set_champion_auc(choice.champion_auc);
  version.set_challenger_auc(choice.challenger_auc);
  version.set_adopted(choice.challenger_wins);
  version.set_verdict(absl::StrCat(choice.why, in_use ? absl::StrCat(" (against model ", in_use->version, ")")
                                                      : " (against the transparent score)"));
  AW_ASSIGN_OR_RETURN(const std::string bytes, challenger.Save());
  AW_ASSIGN_OR_RETURN(version, theft_->SaveModel(version, bytes, reason, actor, options_.clock->Now()));
  Logger("monitor")->info("theft model {} trained on {} labels: {}", version.version(), version.trained_on(),
                          version.verdict());
  return version;
}

}  // namespace aw::monitor
