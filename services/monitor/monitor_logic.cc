#include "services/monitor/monitor_logic.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"

namespace aw::monitor {
namespace {

absl::Status Bad(const std::string& field, const std::string& why) {
  return absl::InvalidArgumentError(absl::StrCat("rule.", field, ": ", why));
}

bool HigherIsBetter(v1::Direction d) { return d != v1::DIRECTION_LOWER_IS_BETTER; }

// Levels sorted from most severe (1) to least.
std::vector<v1::RuleLevel> Sorted(const v1::Rule& rule) {
  std::vector<v1::RuleLevel> levels(rule.levels().begin(), rule.levels().end());
  std::sort(levels.begin(), levels.end(),
            [](const auto& a, const auto& b) { return a.level() < b.level(); });
  return levels;
}

// The most severe level (lowest number) whose condition holds, in any order of
// the levels; nullptr when none does. Runs per value: no copies.
template <typename Fires>
const v1::RuleLevel* MostSevere(const v1::Rule& rule, Fires fires) {
  const v1::RuleLevel* best = nullptr;
  for (const v1::RuleLevel& l : rule.levels()) {
    if ((best == nullptr || l.level() < best->level()) && fires(l)) best = &l;
  }
  return best;
}

// The most severe level whose threshold `measure` reaches, where a larger
// measure is worse.
Verdict ByMeasure(const v1::Rule& rule, double measure, const std::string& what) {
  Verdict v;
  v.observed = measure;
  if (const v1::RuleLevel* l = MostSevere(rule, [&](const v1::RuleLevel& l) { return measure >= l.threshold(); })) {
    v.level = l->level();
    v.threshold = l->threshold();
    v.message = absl::StrCat(what, " ", measure, " reaches level ", l->level(), " (", l->threshold(), ")");
  }
  return v;
}

bool Worse(v1::Direction d, double a, double b) { return HigherIsBetter(d) ? a < b : a > b; }

}  // namespace

bool IsValueRule(v1::RuleKind kind) {
  switch (kind) {
    case v1::RULE_KIND_STATIC_THRESHOLD:
    case v1::RULE_KIND_PERIOD_CHANGE:
    case v1::RULE_KIND_BASELINE_DEVIATION:
    case v1::RULE_KIND_CONSECUTIVE_WORSENING:
    case v1::RULE_KIND_QUALITY_RANGE:
    case v1::RULE_KIND_QUALITY_APPLICABILITY:
      return true;
    default:
      return false;
  }
}

int HistoryNeeded(const v1::Rule& rule) {
  switch (rule.kind()) {
    case v1::RULE_KIND_PERIOD_CHANGE: return 1;
    case v1::RULE_KIND_BASELINE_DEVIATION:
    case v1::RULE_KIND_CONSECUTIVE_WORSENING: return rule.window();
    default: return 0;
  }
}

absl::Status ValidateRule(const v1::Rule& rule, const std::vector<IndicatorFacts>& indicators) {
  if (rule.code().empty() || rule.code().size() > 64) return Bad("code", "required, at most 64 characters");
  if (rule.name().empty()) return Bad("name", "required");
  if (rule.theme_code().empty()) return Bad("theme_code", "required");
  if (rule.kind() == v1::RULE_KIND_UNSPECIFIED || !v1::RuleKind_IsValid(rule.kind())) {
    return Bad("kind", "must be set");
  }
  if (rule.period_type() < v1::PERIOD_TYPE_DAY || rule.period_type() > v1::PERIOD_TYPE_YEAR) {
    return Bad("period_type", "the monitoring frequency must be set (day, week, month …)");
  }
  const bool several = rule.kind() == v1::RULE_KIND_QUALITY_CONSISTENCY ||
                       rule.kind() == v1::RULE_KIND_QUALITY_APPLICABILITY;
  if (rule.indicator_codes().empty()) return Bad("indicator_codes", "at least one indicator");
  if (!several && rule.indicator_codes_size() != 1) return Bad("indicator_codes", "exactly one indicator for this kind");
  if (indicators.size() != static_cast<size_t>(rule.indicator_codes_size())) {
    return Bad("indicator_codes", "unknown indicator");
  }
  for (int i = 0; i < rule.indicator_codes_size(); ++i) {
    const IndicatorFacts& f = indicators[i];
    if (std::find(f.allowed_period_types.begin(), f.allowed_period_types.end(), rule.period_type()) ==
        f.allowed_period_types.end()) {
      return Bad(absl::StrCat("period_type"), absl::StrCat(f.code, " is not reported at this frequency"));
    }
  }
  for (int t : rule.unit_types()) {
    if (!v1::UnitType_IsValid(t) || t == 0) return Bad("unit_types", absl::StrCat("unknown unit type ", t));
  }

  const std::vector<v1::RuleLevel> levels = Sorted(rule);
  if (levels.empty()) return Bad("levels", "at least one warning level");
  for (size_t i = 0; i < levels.size(); ++i) {
    const v1::RuleLevel& l = levels[i];
    const std::string field = absl::StrCat("levels[level ", l.level(), "]");
    if (l.level() < 1 || l.level() > 4) return Bad(field, "levels are 1 (most severe) to 4");
    if (i > 0 && levels[i - 1].level() == l.level()) return Bad(field, "given twice");
    if (!std::isfinite(l.threshold())) return Bad(field + ".threshold", "must be a finite number");
    for (int a : l.actions()) {
      if (!v1::WarningAction_IsValid(a) || a == 0) return Bad(field + ".actions", "unknown action");
    }
  }
  const IndicatorFacts& f = indicators.front();
  const bool higher = HigherIsBetter(f.direction);

  // Every kind but STATIC measures "how bad" with a larger number: a more
  // severe level needs a strictly larger threshold.
  auto descending = [&](double floor, const char* unit) -> absl::Status {
    for (size_t i = 0; i < levels.size(); ++i) {
      const std::string field = absl::StrCat("levels[level ", levels[i].level(), "].threshold");
      if (levels[i].threshold() < floor) return Bad(field, absl::StrCat("must be at least ", floor, unit));
      if (i > 0 && !(levels[i - 1].threshold() > levels[i].threshold())) {
        return Bad(field, absl::StrCat("level ", levels[i - 1].level(), " is more severe, so its threshold (",
                                       levels[i - 1].threshold(), ") must be larger than level ",
                                       levels[i].level(), "'s (", levels[i].threshold(), ")"));
      }
    }
    return absl::OkStatus();
  };

  switch (rule.kind()) {
    case v1::RULE_KIND_STATIC_THRESHOLD:
      for (size_t i = 0; i < levels.size(); ++i) {
        const std::string field = absl::StrCat("levels[level ", levels[i].level(), "].threshold");
        if (i > 0 && !Worse(f.direction, levels[i - 1].threshold(), levels[i].threshold())) {
          return Bad(field, absl::StrCat(f.code, " is ", higher ? "higher" : "lower",
                                         "-is-better, so the more severe level ", levels[i - 1].level(),
                                         " needs a ", higher ? "lower" : "higher", " threshold than level ",
                                         levels[i].level()));
        }
      }
      // The most severe level must be reachable by some valid value.
      if (higher ? !(levels.front().threshold() > f.min_value) : !(levels.front().threshold() < f.max_value)) {
        return Bad(absl::StrCat("levels[level ", levels.front().level(), "].threshold"),
                   absl::StrCat("can never fire: no valid value of ", f.code, " is ", higher ? "below " : "above ",
                                levels.front().threshold(), " (valid range [", f.min_value, ", ", f.max_value, "])"));
      }
      return absl::OkStatus();
    case v1::RULE_KIND_PERIOD_CHANGE:
      return descending(1e-9, " percent");
    case v1::RULE_KIND_BASELINE_DEVIATION:
      if (rule.window() < 3 || rule.window() > 60) return Bad("window", "3 to 60 periods of baseline");
      return descending(1e-9, " standard deviations");
    case v1::RULE_KIND_CONSECUTIVE_WORSENING:
      if (rule.window() < 2 || rule.window() > 60) return Bad("window", "2 to 60 periods");
      for (const auto& l : levels) {
        if (l.threshold() != std::floor(l.threshold()) || l.threshold() > rule.window()) {
          return Bad(absl::StrCat("levels[level ", l.level(), "].threshold"),
                     absl::StrCat("a whole number of periods, at most the window (", rule.window(), ")"));
        }
      }
      return descending(2, " periods");
    case v1::RULE_KIND_MISSING:
      return descending(0, " days");
    case v1::RULE_KIND_QUALITY_RANGE:
      if (!(rule.plausible_min() < rule.plausible_max())) {
        return Bad("plausible_max", "the plausible range needs plausible_min < plausible_max");
      }
      if (rule.plausible_min() <= f.min_value && rule.plausible_max() >= f.max_value) {
        return Bad("plausible_min", absl::StrCat("can never fire: the plausible range covers every valid value of ",
                                                 f.code, " [", f.min_value, ", ", f.max_value, "]"));
      }
      return descending(0, " percent");
    case v1::RULE_KIND_QUALITY_CONSISTENCY:
      for (const IndicatorFacts& i : indicators) {
        if (i.rollup == v1::ROLLUP_RULE_NONE) {
          return Bad("indicator_codes", absl::StrCat(i.code, " has no roll-up rule, so a parent cannot be "
                                                             "compared with its children"));
        }
      }
      return descending(0, " percent");
    case v1::RULE_KIND_QUALITY_APPLICABILITY:
      if (levels.size() != 1) return Bad("levels", "exactly one level");
      if (rule.unit_types().empty()) return Bad("unit_types", "the unit types the indicators apply to");
      return absl::OkStatus();
    default:
      return Bad("kind", "unknown");
  }
}

Verdict Evaluate(const v1::Rule& rule, v1::Direction direction,
                 absl::Span<const std::optional<double>> series) {
  Verdict none;
  if (series.empty() || !series.back()) return none;
  const double value = *series.back();
  const bool higher = HigherIsBetter(direction);
  switch (rule.kind()) {
    case v1::RULE_KIND_STATIC_THRESHOLD: {
      Verdict v;
      v.observed = value;
      if (const v1::RuleLevel* l =
              MostSevere(rule, [&](const v1::RuleLevel& l) { return Worse(direction, value, l.threshold()); })) {
        v.level = l->level();
        v.threshold = l->threshold();
        v.message = absl::StrCat("value ", value, " is ", higher ? "below " : "above ", l->threshold(),
                                 " (level ", l->level(), ")");
      }
      return v;
    }
    case v1::RULE_KIND_PERIOD_CHANGE: {
      if (series.size() < 2 || !series[series.size() - 2] || *series[series.size() - 2] == 0) return none;
      const double previous = *series[series.size() - 2];
      const double change = (value - previous) / std::fabs(previous) * 100;
      const double deterioration = higher ? -change : change;
      if (deterioration <= 0) return none;
      return ByMeasure(rule, deterioration, "deterioration vs the previous period, in percent,");
    }
    case v1::RULE_KIND_BASELINE_DEVIATION: {
      std::vector<double> base;
      for (size_t i = 0; i + 1 < series.size(); ++i) {
        if (series[i]) base.push_back(*series[i]);
      }
      if (static_cast<int>(base.size()) < std::min(rule.window(), 3)) return none;
      double mean = 0;
      for (double b : base) mean += b;
      mean /= base.size();
      double var = 0;
      for (double b : base) var += (b - mean) * (b - mean);
      const double sd = std::sqrt(var / (base.size() - 1));
      if (sd == 0) return none;
      const double z = (value - mean) / sd;
      const double bad = higher ? -z : z;
      if (bad <= 0) return none;
      return ByMeasure(rule, bad, absl::StrCat("deviation from the mean of the last ", base.size(),
                                               " periods, in standard deviations,"));
    }
    case v1::RULE_KIND_CONSECUTIVE_WORSENING: {
      int run = 0;
      for (size_t i = series.size() - 1; i > 0; --i) {
        if (!series[i] || !series[i - 1] || !Worse(direction, *series[i], *series[i - 1])) break;
        ++run;
      }
      if (run == 0) return none;
      return ByMeasure(rule, run, "consecutive worsening periods:");
    }
    case v1::RULE_KIND_QUALITY_RANGE: {
      const double width = rule.plausible_max() - rule.plausible_min();
      double outside = 0;
      if (value < rule.plausible_min()) outside = rule.plausible_min() - value;
      if (value > rule.plausible_max()) outside = value - rule.plausible_max();
      if (outside <= 0) return none;
      Verdict v = ByMeasure(rule, outside / width * 100, "distance outside the plausible range, in percent,");
      if (v.level > 0) {
        v.observed = value;
        v.message = absl::StrCat("value ", value, " is outside the plausible range [", rule.plausible_min(), ", ",
                                 rule.plausible_max(), "] (level ", v.level, ")");
      }
      return v;
    }
    default:
      return none;
  }
}

Verdict EvaluateMissing(const v1::Rule& rule, double days_overdue) {
  if (days_overdue < 0) return Verdict();
  Verdict v = ByMeasure(rule, days_overdue, "days overdue:");
  return v;
}

Verdict EvaluateConsistency(const v1::Rule& rule, double parent, double rollup) {
  const double base = std::max(std::fabs(rollup), 1e-9);
  const double diff = std::fabs(parent - rollup) / base * 100;
  if (diff == 0) return Verdict();
  Verdict v = ByMeasure(rule, diff, "difference from the roll-up of the children, in percent,");
  return v;
}

Change NextChange(bool has_open_event, int open_level, int new_level) {
  if (!has_open_event) return new_level > 0 ? Change::kOpen : Change::kNone;
  if (new_level == 0) return Change::kResolve;
  if (new_level < open_level) return Change::kEscalate;  // 1 is the most severe
  if (new_level > open_level) return Change::kDeescalate;
  return Change::kNone;
}

}  // namespace aw::monitor
