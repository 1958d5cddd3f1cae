#include "services/monitor/monitor_logic.h"

#include <algorithm>
#include <cmath>

#include <nlohmann/json.hpp>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/hash/hash.h"
#include "absl/strings/str_cat.h"
#include "common/number_text.h"
#include "common/rollup.h"

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

bool Worse(v1::Direction d, double a, double b) { return HigherIsBetter(d) ? a < b : a > b; }

// Builds a verdict; the texts are made only when they are kept: the message
// of a level reached always, the message of no level and the reason for not
// judging only when explaining (the evaluator's hot path does not).
class Verdicts {
 public:
  Verdicts(const v1::Rule& rule, bool explain) : rule_(rule), explain_(explain) {}

  // The most severe level whose threshold `measure` reaches (equality
  // included), where a larger measure is worse; `shown()` is how the measure
  // is printed after `what`.
  template <typename Shown>
  Verdict ByMeasure(double measure, const char* what, Shown shown) const {
    Verdict v;
    v.observed = measure;
    if (const v1::RuleLevel* l =
            MostSevere(rule_, [&](const v1::RuleLevel& l) { return measure >= l.threshold(); })) {
      v.level = l->level();
      v.threshold = l->threshold();
      v.message = absl::StrCat(what, " ", shown(), " reaches level ", l->level(), " (threshold ",
                               NumberText(l->threshold()), ")");
    } else if (explain_) {
      v.message = absl::StrCat(what, " ", shown(), " reaches no level");
    }
    return v;
  }

  // No problem to judge: level 0, saying what was seen.
  template <typename Text>
  Verdict Fine(double observed, Text text) const {
    Verdict v;
    v.observed = observed;
    if (explain_) v.message = text();
    return v;
  }

  // The rule could not judge, saying why.
  template <typename Text>
  Verdict NotJudged(Text why) const {
    Verdict v;
    v.judged = false;
    if (explain_) {
      v.not_judged = why();
      v.message = v.not_judged;
    }
    return v;
  }

  bool explain() const { return explain_; }

 private:
  const v1::Rule& rule_;
  const bool explain_;
};

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

namespace {

// THEFT_SUSPICION: no indicator; levels 1, 2 and 3 with strictly falling
// score cut-offs in (0, 1); level 3 raises no event, so it takes no action.
absl::Status ValidateTheftRule(const v1::Rule& rule) {
  if (!rule.indicator_codes().empty()) return Bad("indicator_codes", "a theft-suspicion rule judges no indicator");
  const std::vector<v1::RuleLevel> levels = Sorted(rule);
  if (levels.size() != 3 || levels[0].level() != 1 || levels[1].level() != 2 || levels[2].level() != 3) {
    return Bad("levels", "levels 1, 2 and 3, each with its score cut-off (below level 3's: level 4)");
  }
  for (size_t i = 0; i < levels.size(); ++i) {
    const std::string field = absl::StrCat("levels[level ", levels[i].level(), "]");
    const double t = levels[i].threshold();
    if (!(t > 0 && t < 1)) return Bad(field + ".threshold", "a suspicion score between 0 and 1");
    if (i > 0 && !(levels[i - 1].threshold() > t)) {
      return Bad(field + ".threshold", absl::StrCat("level ", levels[i - 1].level(),
                                                    " is more likely theft, so its cut-off (",
                                                    NumberText(levels[i - 1].threshold()), ") must be higher"));
    }
    for (int a : levels[i].actions()) {
      if (!v1::WarningAction_IsValid(a) || a == 0) return Bad(field + ".actions", "unknown action");
    }
  }
  if (!levels[2].actions().empty()) return Bad("levels[level 3].actions", "level 3 raises no event, so no action");
  return absl::OkStatus();
}

}  // namespace

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
  if (rule.kind() == v1::RULE_KIND_THEFT_SUSPICION) return ValidateTheftRule(rule);
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
      if (levels[i].threshold() < floor) {
        return Bad(field, absl::StrCat("must be at least ", NumberText(floor), unit));
      }
      if (i > 0 && !(levels[i - 1].threshold() > levels[i].threshold())) {
        return Bad(field, absl::StrCat("level ", levels[i - 1].level(), " is more severe, so its threshold (",
                                       NumberText(levels[i - 1].threshold()), ") must be larger than level ",
                                       levels[i].level(), "'s (", NumberText(levels[i].threshold()), ")"));
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
      if (higher ? levels.front().threshold() < f.min_value : levels.front().threshold() > f.max_value) {
        return Bad(absl::StrCat("levels[level ", levels.front().level(), "].threshold"),
                   absl::StrCat("can never fire: no valid value of ", f.code, " is at or ",
                                higher ? "below " : "above ", NumberText(levels.front().threshold()),
                                " (valid range [", NumberText(f.min_value), ", ", NumberText(f.max_value), "])"));
      }
      return absl::OkStatus();
    case v1::RULE_KIND_PERIOD_CHANGE:
      return descending(1e-9, " percent");
    case v1::RULE_KIND_BASELINE_DEVIATION:
      if (rule.window() < 3 || rule.window() > 60) return Bad("window", "3 to 60 periods of baseline");
      if (rule.min_history() != 0 && (rule.min_history() < 3 || rule.min_history() > rule.window())) {
        return Bad("min_history", absl::StrCat("3 to the window (", rule.window(), ") periods, or 0 for all of them"));
      }
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
                                                 f.code, " [", NumberText(f.min_value), ", ",
                                                 NumberText(f.max_value), "]"));
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

Verdict Evaluate(const v1::Rule& rule, v1::Direction direction, absl::Span<const std::optional<double>> series,
                 bool explain) {
  const Verdicts make(rule, explain);
  if (series.empty() || !series.back()) return make.NotJudged([] { return "no value for the period"; });
  const double value = *series.back();
  const bool higher = HigherIsBetter(direction);
  switch (rule.kind()) {
    case v1::RULE_KIND_STATIC_THRESHOLD: {
      // At the threshold, or worse, reaches it.
      if (const v1::RuleLevel* l = MostSevere(rule, [&](const v1::RuleLevel& l) {
            return value == l.threshold() || Worse(direction, value, l.threshold());
          })) {
        Verdict v;
        v.observed = value;
        v.level = l->level();
        v.threshold = l->threshold();
        v.message = absl::StrCat("value ", NumberText(value), " is at or ", higher ? "below " : "above ",
                                 NumberText(l->threshold()), " (level ", l->level(), ")");
        return v;
      }
      return make.Fine(value, [&] { return absl::StrCat("value ", NumberText(value), " reaches no level"); });
    }
    case v1::RULE_KIND_PERIOD_CHANGE: {
      if (series.size() < 2 || !series[series.size() - 2]) {
        return make.NotJudged([] { return "no value for the previous period"; });
      }
      const double previous = *series[series.size() - 2];
      if (previous == 0) {
        return make.NotJudged([] { return "the previous period's value is 0: a change in percent is undefined"; });
      }
      const double change = (value - previous) / std::fabs(previous) * 100;
      const double deterioration = higher ? -change : change;
      auto vs = [&] { return absl::StrCat(" (", NumberText(previous), " → ", NumberText(value), ")"); };
      if (deterioration <= 0) {
        return make.Fine(deterioration, [&] { return absl::StrCat("no deterioration vs the previous period", vs()); });
      }
      return make.ByMeasure(deterioration, "deterioration vs the previous period of",
                            [&] { return absl::StrCat(RoundedText(deterioration), "%", vs()); });
    }
    case v1::RULE_KIND_BASELINE_DEVIATION: {
      const int window = static_cast<int>(series.size()) - 1;
      int used = 0;
      double mean = 0;
      for (int i = 0; i < window; ++i) {
        if (series[i]) {
          mean += *series[i];
          ++used;
        }
      }
      const int needed = rule.min_history() > 0 ? rule.min_history() : window;
      if (used < needed || used < 2) {
        return make.NotJudged([&] {
          return absl::StrCat("only ", used, " of the last ", window, " periods have values; ", needed, " needed");
        });
      }
      mean /= used;
      double var = 0;
      for (int i = 0; i < window; ++i) {
        if (series[i]) var += (*series[i] - mean) * (*series[i] - mean);
      }
      const double sd = std::sqrt(var / (used - 1));
      auto over = [&] { return absl::StrCat(used, " of the last ", window, " periods"); };
      if (sd == 0) {
        return make.NotJudged(
            [&] { return absl::StrCat("no spread: the ", over(), " all have the value ", NumberText(mean)); });
      }
      const double z = (value - mean) / sd;
      const double bad = higher ? -z : z;
      if (bad <= 0) {
        return make.Fine(bad, [&] { return absl::StrCat("no deterioration against the mean of ", over()); });
      }
      return make.ByMeasure(bad, "deterioration of", [&] {
        return absl::StrCat(RoundedText(bad), " standard deviations (value ", NumberText(value), ", mean ",
                            RoundedText(mean, 4), " over ", over(), ")");
      });
    }
    case v1::RULE_KIND_CONSECUTIVE_WORSENING: {
      int run = 0;
      for (size_t i = series.size() - 1; i > 0; --i) {
        if (!series[i] || !series[i - 1] || !Worse(direction, *series[i], *series[i - 1])) break;
        ++run;
      }
      if (run == 0) return make.Fine(0, [] { return "no worsening vs the previous period"; });
      return make.ByMeasure(run, "consecutive worsening periods:", [&] { return absl::StrCat(run); });
    }
    case v1::RULE_KIND_QUALITY_RANGE: {
      const double width = rule.plausible_max() - rule.plausible_min();
      double outside = 0;
      if (value < rule.plausible_min()) outside = rule.plausible_min() - value;
      if (value > rule.plausible_max()) outside = value - rule.plausible_max();
      auto range = [&] {
        return absl::StrCat("[", NumberText(rule.plausible_min()), ", ", NumberText(rule.plausible_max()), "]");
      };
      if (outside <= 0) {
        return make.Fine(value, [&] { return absl::StrCat("value ", NumberText(value), " is inside ", range()); });
      }
      const double percent = outside / width * 100;
      Verdict v = make.ByMeasure(percent, "", [] { return ""; });
      v.observed = value;
      if (v.level > 0 || explain) {
        v.message = absl::StrCat("value ", NumberText(value), " is outside the plausible range ", range(), " by ",
                                 RoundedText(percent), "% of its width",
                                 v.level > 0 ? absl::StrCat(" (level ", v.level, ")") : std::string(", no level"));
      }
      return v;
    }
    default:
      return make.NotJudged([] { return "not a value rule"; });
  }
}

Verdict EvaluateMissing(const v1::Rule& rule, double days_overdue) {
  const Verdicts make(rule, true);
  if (days_overdue < 0) return make.Fine(days_overdue, [] { return "not yet due"; });
  return make.ByMeasure(days_overdue, "days overdue:", [&] { return NumberText(days_overdue); });
}

Verdict EvaluateConsistency(const v1::Rule& rule, double parent, double rollup) {
  const Verdicts make(rule, true);
  const double base = std::max(std::fabs(rollup), 1e-9);
  const double diff = std::fabs(parent - rollup) / base * 100;
  if (diff == 0) return make.Fine(0, [] { return "consistent with the roll-up of the children"; });
  return make.ByMeasure(diff, "difference from the roll-up of the children of",
                        [&] { return absl::StrCat(RoundedText(diff), "%"); });
}

uint64_t OpenEvent::Hash(absl::string_view message) { return absl::HashOf(message); }

Change NextChange(const OpenEvent* open, const Verdict& v) {
  if (open == nullptr) return v.level > 0 ? Change::kOpen : Change::kNone;
  if (v.level == 0) return Change::kResolve;
  if (v.level < open->level) return Change::kEscalate;  // 1 is the most severe
  if (v.level > open->level) return Change::kDeescalate;
  if (v.observed != open->observed || v.threshold != open->threshold ||
      OpenEvent::Hash(v.message) != open->message_hash) {
    return Change::kRejudge;
  }
  return Change::kNone;
}

std::optional<EventUpdate> Judged(const v1::Rule& rule, const OpenEvent* open, const std::string& unit_code,
                                  const Period& period, const std::string& indicator_code, Verdict verdict) {
  const Change change = NextChange(open, verdict);
  if (change == Change::kNone) return std::nullopt;
  std::string comment;
  if (change == Change::kRejudge) {
    comment = absl::StrCat("observed ", NumberText(open->observed), " → ", NumberText(verdict.observed));
    if (open->threshold != verdict.threshold) {
      absl::StrAppend(&comment, ", threshold ", NumberText(open->threshold), " → ", NumberText(verdict.threshold));
    }
    absl::StrAppend(&comment, ": ", verdict.message);
  }
  EventUpdate u = EventUpdate::Of(rule, change, unit_code, period.key(), indicator_code, std::move(verdict));
  u.comment = std::move(comment);
  return u;
}

OpenEvent AfterUpdate(const EventUpdate& u) {
  return OpenEvent{u.verdict.level, u.verdict.observed, u.verdict.threshold, OpenEvent::Hash(u.verdict.message)};
}

bool IsTimerRule(v1::RuleKind kind) {
  return kind == v1::RULE_KIND_MISSING || kind == v1::RULE_KIND_QUALITY_CONSISTENCY;
}

// --- Themes and contacts ----------------------------------------------------------

absl::Status CheckTheme(const v1::UpsertThemeRequest& req) {
  const v1::Theme& t = req.theme();
  auto bad = [](const char* field, const char* why) {
    return absl::InvalidArgumentError(absl::StrCat(field, ": ", why));
  };
  if (t.code().empty() || t.code().size() > 64) return bad("theme.code", "required, at most 64 characters");
  if (t.name().empty()) return bad("theme.name", "required");
  if (t.category() == v1::BUSINESS_CATEGORY_UNSPECIFIED || !v1::BusinessCategory_IsValid(t.category())) {
    return bad("theme.category", "must be set");
  }
  if (req.actor().empty()) return bad("actor", "required");
  return absl::OkStatus();
}

absl::Status CheckContact(const v1::Contact& c, const std::string& actor) {
  auto bad = [](const char* field, const char* why) {
    return absl::InvalidArgumentError(absl::StrCat(field, ": ", why));
  };
  if (c.unit_code().empty()) return bad("contact.unit_code", "required");
  if (c.role().empty()) return bad("contact.role", "required (leader, audit_specialist, duty_officer …)");
  if (c.name().empty()) return bad("contact.name", "required");
  if (c.phone().empty() && c.email().empty()) return bad("contact.phone", "a phone number or an e-mail");
  for (int l : c.levels()) {
    if (l < 1 || l > 4) return bad("contact.levels", "levels are 1 to 4");
  }
  if (actor.empty()) return bad("actor", "required");
  return absl::OkStatus();
}

// --- Directory ----------------------------------------------------------------------

const UnitFacts* DirectorySnapshot::Unit(const std::string& code) const {
  auto it = units.find(code);
  return it == units.end() ? nullptr : &it->second;
}

const IndicatorFacts* DirectorySnapshot::Indicator(const std::string& code) const {
  auto it = indicators.find(code);
  return it == indicators.end() ? nullptr : &it->second;
}

bool DirectorySnapshot::InScope(const std::string& unit, const std::string& scope, bool descendants) const {
  if (scope.empty() || unit == scope) return true;
  if (!descendants) return false;
  const UnitFacts* u = Unit(unit);
  return u != nullptr && std::find(u->path.begin(), u->path.end(), scope) != u->path.end();
}

std::vector<std::string> DirectorySnapshot::UnitsIn(const v1::UnitScope& scope) const {
  std::vector<std::string> out;
  for (const auto& [code, unit] : units) {
    if (InScope(code, scope.unit_code(), scope.include_descendants())) out.push_back(code);
  }
  std::sort(out.begin(), out.end());
  return out;
}

// --- Where a rule applies ---------------------------------------------------------

bool AppliesToType(const v1::Rule& rule, const UnitFacts* u) {
  return rule.unit_types().empty() ||
         (u != nullptr && std::find(rule.unit_types().begin(), rule.unit_types().end(), u->type) !=
                              rule.unit_types().end());
}

bool InRuleScope(const v1::Rule& rule, const DirectorySnapshot& dir, const std::string& unit) {
  return rule.scope().unit_code().empty() ||
         dir.InScope(unit, rule.scope().unit_code(), rule.scope().include_descendants());
}

Verdict JudgeApplicability(const v1::Rule& rule, const std::string& unit, const UnitFacts* facts,
                           const std::string& indicator) {
  Verdict v;
  if (AppliesToType(rule, facts)) return v;
  v.level = rule.levels(0).level();
  v.message = absl::StrCat(unit, " reports ", indicator, ", which does not apply to a ",
                           facts != nullptr ? v1::UnitType_Name(facts->type) : "unit of unknown type");
  return v;
}

// --- Event changes ------------------------------------------------------------------

EventUpdate EventUpdate::Of(const v1::Rule& rule, Change change, std::string unit_code, std::string period_key,
                            std::string indicator_code, Verdict verdict) {
  EventUpdate u;
  u.change = change;
  u.rule_code = rule.code();
  u.theme_code = rule.theme_code();
  u.unit_code = std::move(unit_code);
  u.period_key = std::move(period_key);
  u.indicator_code = std::move(indicator_code);
  u.verdict = std::move(verdict);
  return u;
}

// --- Theft suspicion ------------------------------------------------------------------

std::array<double, 3> TheftCutoffs(const v1::Rule& rule) {
  std::array<double, 3> out = {1, 1, 1};
  for (const v1::RuleLevel& l : rule.levels()) {
    if (l.level() >= 1 && l.level() <= 3) out[l.level() - 1] = l.threshold();
  }
  return out;
}

TheftEventPlan PlanTheftEvents(const v1::Rule& rule, const std::string& period_key,
                               const std::vector<TheftVerdict>& suspects, const std::vector<OpenTheftEvent>& open,
                               const std::function<bool(const TheftVerdict&)>& whitelisted, int64_t run_id) {
  TheftEventPlan plan;
  absl::flat_hash_map<std::string, const OpenTheftEvent*> open_of;
  for (const OpenTheftEvent& e : open) open_of[e.subject] = &e;
  const std::array<double, 3> cutoffs = TheftCutoffs(rule);
  absl::flat_hash_set<std::string> raised;
  for (const TheftVerdict& s : suspects) {
    if (s.level < 1 || s.level > 2) continue;
    raised.insert(s.customer);
    Verdict v;
    v.level = s.level;
    v.observed = s.score;
    v.threshold = cutoffs[s.level - 1];
    v.message = s.message;
    const auto it = open_of.find(s.customer);
    const OpenTheftEvent* o = it == open_of.end() ? nullptr : it->second;
    Change change = NextChange(o == nullptr ? nullptr : &o->event, v);
    // A suspect's score moves a little with every run: its event changes
    // only with its level (the run's suspect list has the current score).
    if (change == Change::kRejudge) change = Change::kNone;
    if (change == Change::kNone) continue;
    // An open event keeps its station and the period it was raised in: one
    // event (and one inspection) per suspect until it resolves.
    EventUpdate u = EventUpdate::Of(rule, change, o == nullptr ? s.station : o->unit_code,
                                    o == nullptr ? period_key : o->period_key, "", std::move(v));
    u.subject = s.customer;
    if (change == Change::kOpen) {
      u.suppressed = whitelisted(s);
      ++(u.suppressed ? plan.suppressed : plan.opened);
    } else {
      u.comment = absl::StrCat("analysis ", run_id, ": score ", NumberText(o->event.observed), " → ",
                               NumberText(u.verdict.observed), ": ", u.verdict.message);
    }
    plan.updates.push_back(std::move(u));
  }
  for (const OpenTheftEvent& e : open) {
    if (raised.contains(e.subject)) continue;
    Verdict v;
    v.message = absl::StrCat("analysis ", run_id, " no longer puts the customer at level 1 or 2");
    EventUpdate u = EventUpdate::Of(rule, Change::kResolve, e.unit_code, e.period_key, "", std::move(v));
    u.subject = e.subject;
    u.keep_observed = true;
    plan.updates.push_back(std::move(u));
    ++plan.resolved;
  }
  return plan;
}

// --- Whitelist --------------------------------------------------------------------------

bool WhitelistCovers(const v1::WhitelistEntry& w, const std::string& rule_code, const std::string& theme_code,
                     const DirectorySnapshot& dir, const std::string& unit, const std::string& indicator) {
  const bool rule_hit = !w.rule_code().empty() ? w.rule_code() == rule_code : w.theme_code() == theme_code;
  return rule_hit && dir.InScope(unit, w.scope().unit_code(), w.scope().include_descendants()) &&
         (w.subject().empty() || w.subject() == indicator);
}

const std::string& WhitelistSubject(const v1::WarningEvent& event) {
  return event.subject().empty() ? event.indicator_code() : event.subject();
}

bool Whitelisted(const std::vector<v1::WhitelistEntry>& entries, absl::Time now, const std::string& rule_code,
                 const std::string& theme_code, const DirectorySnapshot& dir, const std::string& unit,
                 const std::string& indicator) {
  const int64_t at = absl::ToUnixSeconds(now);
  for (const auto& w : entries) {
    if (w.revoked() || w.frozen_from().seconds() > at || w.frozen_until().seconds() <= at) continue;
    if (WhitelistCovers(w, rule_code, theme_code, dir, unit, indicator)) return true;
  }
  return false;
}

absl::Status CheckWhitelistEntry(v1::WhitelistEntry* entry, absl::Time now, absl::Duration max_freeze) {
  auto bad = [](const std::string& field, const std::string& why) {
    return absl::InvalidArgumentError(absl::StrCat("entry.", field, ": ", why));
  };
  if (entry->rule_code().empty() == entry->theme_code().empty()) {
    return bad("rule_code", "set exactly one of rule_code and theme_code");
  }
  if (entry->reason().empty()) return bad("reason", "a whitelist entry needs a reason");
  if (entry->scope().unit_code().empty()) return bad("scope.unit_code", "required");
  if (!entry->has_frozen_from()) entry->mutable_frozen_from()->set_seconds(absl::ToUnixSeconds(now));
  if (!entry->has_frozen_until() || entry->frozen_until().seconds() <= entry->frozen_from().seconds()) {
    return bad("frozen_until", "the end of the freeze period, after frozen_from");
  }
  const absl::Duration freeze = absl::Seconds(entry->frozen_until().seconds() - entry->frozen_from().seconds());
  if (freeze > max_freeze) {
    return bad("frozen_until", absl::StrCat("a freeze of ", absl::FormatDuration(freeze), " is longer than the allowed ",
                                            absl::FormatDuration(max_freeze)));
  }
  return absl::OkStatus();
}

// --- Timer rules ---------------------------------------------------------------------

absl::Time RuleDeadline(const v1::Rule& rule, const DirectorySnapshot& dir, const Period& period) {
  int days = 0;
  for (const std::string& code : rule.indicator_codes()) {
    if (const IndicatorFacts* f = dir.Indicator(code)) days = std::max(days, f->deadline_days);
  }
  return SubmissionDeadline(period, days);
}

Period LatestDuePeriod(const v1::Rule& rule, const DirectorySnapshot& dir, absl::Time now) {
  return LatestDue(static_cast<PeriodType>(rule.period_type()), now,
                   [&](const Period& p) { return RuleDeadline(rule, dir, p); });
}

namespace {

// Keeps the most severe verdict of a unit.
void KeepWorst(std::map<std::string, UnitVerdict>& verdicts, const std::string& unit, const Verdict& v,
               const std::string& indicator) {
  auto [it, inserted] = verdicts.emplace(unit, UnitVerdict{v, indicator});
  if (!inserted && v.level > 0 && (it->second.verdict.level == 0 || v.level < it->second.verdict.level)) {
    it->second = {v, indicator};
  }
}

}  // namespace

std::map<std::string, UnitVerdict> MissingVerdicts(const v1::Rule& rule, const DirectorySnapshot& dir,
                                                   const std::vector<v1::MissingValue>& missing,
                                                   const Period& period, absl::Time now, int* days_max) {
  std::map<std::string, UnitVerdict> verdicts;
  *days_max = 0;
  for (const v1::MissingValue& m : missing) {
    if (!AppliesToType(rule, dir.Unit(m.unit_code()))) continue;
    const double days = std::floor(absl::ToDoubleHours(now - absl::FromUnixSeconds(m.deadline().seconds())) / 24);
    Verdict v = EvaluateMissing(rule, days);
    if (v.level > 0) {
      v.message = absl::StrCat(m.indicator_code(), " for ", period.key(), " is ", NumberText(days),
                               " day(s) overdue (level ", v.level, ")");
    }
    *days_max = std::max(*days_max, static_cast<int>(days));
    KeepWorst(verdicts, m.unit_code(), v, m.indicator_code());
  }
  return verdicts;
}

std::map<std::string, UnitVerdict> ConsistencyVerdicts(
    const v1::Rule& rule, const DirectorySnapshot& dir,
    const std::map<std::pair<std::string, std::string>, double>& values) {
  std::map<std::string, std::vector<std::string>> children;
  for (const auto& [code, u] : dir.units) {
    if (u.active && !u.parent.empty()) children[u.parent].push_back(code);
  }
  std::map<std::string, UnitVerdict> verdicts;
  for (const auto& [key, parent_value] : values) {
    const auto& [indicator, unit] = key;
    auto kids = children.find(unit);
    const IndicatorFacts* facts = dir.Indicator(indicator);
    if (kids == children.end() || facts == nullptr || !AppliesToType(rule, dir.Unit(unit))) continue;
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
      v.message = absl::StrCat(indicator, " of ", unit, " is ", NumberText(parent_value), " but its ",
                               child_values.size(), " children add up to ", NumberText(*rollup), ", ",
                               RoundedText(v.observed), "% apart (level ", v.level, ")");
      v.observed = parent_value;
    }
    KeepWorst(verdicts, unit, v, indicator);
  }
  return verdicts;
}

std::vector<EventUpdate> TimerChanges(const v1::Rule& rule, const Period& period,
                                      const std::map<std::string, UnitVerdict>& verdicts,
                                      const std::map<std::string, OpenEvent>& open) {
  std::vector<EventUpdate> updates;
  for (const auto& [unit, v] : verdicts) {
    auto it = open.find(unit);
    auto update = Judged(rule, it == open.end() ? nullptr : &it->second, unit, period, v.indicator, v.verdict);
    if (update) updates.push_back(*std::move(update));
  }
  // Problems that went away resolve their events.
  for (const auto& [unit, event] : open) {
    auto v = verdicts.find(unit);
    if (v != verdicts.end() && v->second.verdict.level > 0) continue;
    Verdict cleared;
    cleared.message = rule.kind() == v1::RULE_KIND_MISSING ? "the value was reported" : "consistent again";
    EventUpdate u = EventUpdate::Of(rule, Change::kResolve, unit, period.key(), "", std::move(cleared));
    u.keep_observed = true;
    updates.push_back(std::move(u));
  }
  return updates;
}

// --- Backtests -------------------------------------------------------------------------

BacktestResult Backtest(const v1::Rule& rule, const IndicatorFacts& indicator, const DirectorySnapshot& dir,
                        const std::map<std::string, std::map<std::string, double>>& series, const Period& first,
                        const Period& last) {
  BacktestResult out;
  for (const auto& [unit, values] : series) {
    const UnitFacts* u = dir.Unit(unit);
    for (Period p = first; p <= last; p = p.Next()) {
      if (!values.contains(p.key())) continue;
      Verdict v;
      if (rule.kind() == v1::RULE_KIND_QUALITY_APPLICABILITY) {
        v = JudgeApplicability(rule, unit, u, indicator.code);
      } else {
        if (!AppliesToType(rule, u)) continue;
        std::vector<std::optional<double>> window;
        for (int i = HistoryNeeded(rule); i >= 0; --i) {
          auto it = values.find(p.Shift(-i).key());
          window.push_back(it == values.end() ? std::nullopt : std::optional<double>(it->second));
        }
        v = Evaluate(rule, indicator.direction, window);
      }
      if (!v.judged) {
        if (out.not_judged.size() < BacktestResult::kMaxNotJudged) {
          v1::NotJudged& n = out.not_judged.emplace_back();
          n.set_unit_code(unit);
          n.mutable_period()->set_key(p.key());
          n.mutable_period()->set_type(rule.period_type());
          n.set_reason(v.not_judged);
        }
        ++out.not_judged_count;
        continue;
      }
      ++out.evaluated;
      if (v.level == 0) continue;
      v1::WarningEvent& e = out.events.emplace_back();
      e.set_rule_code(rule.code());
      e.set_theme_code(rule.theme_code());
      e.set_unit_code(unit);
      e.mutable_period()->set_key(p.key());
      e.mutable_period()->set_type(rule.period_type());
      e.set_indicator_code(indicator.code);
      e.set_level(v.level);
      e.set_state(v1::EVENT_STATE_OPEN);
      e.set_observed(v.observed);
      e.set_threshold(v.threshold);
      e.set_message(v.message);
    }
  }
  return out;
}

// --- Notifications --------------------------------------------------------------------

bool NotifiesAt(const v1::Rule& rule, int level) {
  for (const auto& l : rule.levels()) {
    if (l.level() != level) continue;
    return std::find(l.actions().begin(), l.actions().end(), v1::WARNING_ACTION_NOTIFY) != l.actions().end();
  }
  return false;
}

std::string NotificationText(const std::string& unit, const std::vector<NotifiedEvent>& events) {
  std::string text = absl::StrCat("【稽查监控】", unit, " ", events.size(), " warning(s):");
  for (const NotifiedEvent& e : events) absl::StrAppend(&text, " [L", e.level, "] ", e.message, ";");
  return text;
}

std::string NotificationBody(const std::string& idempotency_key, const std::string& channel,
                             const std::string& recipient, const std::string& unit, const std::string& text,
                             const std::vector<NotifiedEvent>& events) {
  nlohmann::ordered_json body;
  body["idempotency_key"] = idempotency_key;
  body["channel"] = channel;
  body["recipient"] = recipient;
  body["unit"] = unit;
  body["text"] = text;
  body["events"] = nlohmann::ordered_json::array();
  for (const NotifiedEvent& e : events) {
    body["events"].push_back(
        {{"id", e.id}, {"rule", e.rule_code}, {"period", e.period_key}, {"level", e.level}, {"message", e.message}});
  }
  return body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace aw::monitor
