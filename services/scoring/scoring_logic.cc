#include "services/scoring/scoring_logic.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <tuple>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "common/digest.h"

namespace aw::scoring {
namespace {

absl::Status Invalid(const std::string& field, absl::string_view reason) {
  return absl::InvalidArgumentError(absl::StrCat(field, ": ", reason));
}

bool Has(const google::protobuf::RepeatedField<int>& types, v1::UnitType type) {
  return std::find(types.begin(), types.end(), static_cast<int>(type)) != types.end();
}

v1::DeductionRef RefOf(const DeductionIn& d) {
  v1::DeductionRef r;
  r.set_deduction_id(d.id);
  r.set_type(d.type);
  r.set_points(d.points);
  r.set_work_order_id(d.work_order_id);
  r.set_incident_id(d.incident_id);
  r.set_standard_code(d.standard_code);
  *r.mutable_period() = d.period;
  return r;
}

// The scheme's items as the evaluation uses them, with their index in the scheme.
struct Item {
  const v1::SchemeItem* item;
  double base_share;
};

}  // namespace

v1::Scheme Normalised(v1::Scheme s) {
  if (s.main_weight_percent() == 0 && s.process_weight_percent() == 0 && s.business_weight_percent() == 0) {
    s.set_main_weight_percent(kDefaultMainWeight);
    s.set_process_weight_percent(kDefaultProcessWeight);
    s.set_business_weight_percent(kDefaultBusinessWeight);
  }
  if (s.base_share_percent() == 0) s.set_base_share_percent(kDefaultBaseShare);
  if (s.missing_value_policy() == v1::MISSING_VALUE_POLICY_UNSPECIFIED) {
    s.set_missing_value_policy(v1::MISSING_VALUE_POLICY_ZERO);
  }
  if (s.evaluate_after_days() == 0) s.set_evaluate_after_days(kDefaultEvaluateAfterDays);
  return s;
}

absl::Status ValidateScheme(const v1::Scheme& s) {
  if (s.year() < 2000 || s.year() > 2100) return Invalid("scheme.year", "must lie in 2000..2100");
  if (s.name().empty()) return Invalid("scheme.name", "required");
  const std::pair<const char*, double> weights[] = {{"scheme.main_weight_percent", s.main_weight_percent()},
                                                    {"scheme.process_weight_percent", s.process_weight_percent()},
                                                    {"scheme.business_weight_percent", s.business_weight_percent()}};
  for (const auto& [field, w] : weights) {
    if (!(w >= 0 && w <= 100)) return Invalid(field, "must lie in [0, 100]");
  }
  const double sum = s.main_weight_percent() + s.process_weight_percent() + s.business_weight_percent();
  if (std::abs(sum - 100) > 1e-9) {
    return Invalid("scheme.main_weight_percent",
                   absl::StrCat("the weights (main, process, business) sum to ", sum, ", not 100"));
  }
  if (!(s.base_share_percent() > 0 && s.base_share_percent() <= 100)) {
    return Invalid("scheme.base_share_percent", "must lie in (0, 100]");
  }
  if (!(s.bonus_cap() >= 0 && std::isfinite(s.bonus_cap()))) return Invalid("scheme.bonus_cap", "must be >= 0");
  if (s.evaluate_after_days() < 1 || s.evaluate_after_days() > 90) {
    return Invalid("scheme.evaluate_after_days", "must lie in 1..90");
  }
  if (s.items().empty()) return Invalid("scheme.items", "at least one item");
  absl::flat_hash_set<std::string> codes;
  for (int i = 0; i < s.items_size(); ++i) {
    const v1::SchemeItem& it = s.items(i);
    const std::string f = absl::StrCat("scheme.items[", i, "].");
    if (it.indicator_code().empty()) return Invalid(f + "indicator_code", "required");
    if (!codes.insert(it.indicator_code()).second) {
      return Invalid(f + "indicator_code", absl::StrCat(it.indicator_code(), " appears twice"));
    }
    if (it.class_() == v1::INDICATOR_CLASS_UNSPECIFIED) return Invalid(f + "class", "MAIN or PROCESS");
    if (it.unit_types().empty()) return Invalid(f + "unit_types", "at least one unit type");
    for (int t : it.unit_types()) {
      if (t == v1::UNIT_TYPE_UNSPECIFIED) return Invalid(f + "unit_types", "UNIT_TYPE_UNSPECIFIED is not a type");
    }
    if (!(it.points() > 0 && std::isfinite(it.points()))) return Invalid(f + "points", "must be > 0");
    if (!std::isfinite(it.base_value())) return Invalid(f + "base_value", "must be a number");
    if (!std::isfinite(it.full_score_value())) return Invalid(f + "full_score_value", "must be a number");
    switch (it.direction()) {
      case v1::DIRECTION_HIGHER_IS_BETTER:
        if (!(it.full_score_value() > it.base_value())) {
          return Invalid(f + "full_score_value",
                         absl::StrCat(it.full_score_value(), " is not above the base value ", it.base_value(),
                                      ", but higher is better for ", it.indicator_code()));
        }
        break;
      case v1::DIRECTION_LOWER_IS_BETTER:
        if (!(it.full_score_value() < it.base_value())) {
          return Invalid(f + "full_score_value",
                         absl::StrCat(it.full_score_value(), " is not below the base value ", it.base_value(),
                                      ", but lower is better for ", it.indicator_code()));
        }
        break;
      default:
        return Invalid(f + "direction", "HIGHER_IS_BETTER or LOWER_IS_BETTER");
    }
  }
  return absl::OkStatus();
}

Term ScoreValue(double value, double base, double full, double points, double base_share) {
  // (v − base)/(full − base) is the progress whichever way the item improves.
  const double progress = (value - base) / (full - base);
  Term t;
  if (progress < 0) return t;  // worse than base
  t.reached_base = true;
  t.progress = std::min(progress, 1.0);
  t.score = t.progress >= 1 ? points : points * (base_share + (1 - base_share) * t.progress);
  return t;
}

// --- Periods -------------------------------------------------------------------------------

bool IsEvaluated(PeriodType type) {
  return type == PeriodType::kMonth || type == PeriodType::kHalfYear || type == PeriodType::kYear;
}

std::vector<Period> EvaluationPeriods(int year) {
  const Period first = Period::Containing(PeriodType::kMonth, absl::CivilDay(year, 1, 1));
  std::vector<Period> out;
  for (int m = 0; m < 12; ++m) out.push_back(first.Shift(m));
  out.push_back(Period::Containing(PeriodType::kHalfYear, absl::CivilDay(year, 1, 1)));
  out.push_back(Period::Containing(PeriodType::kYear, absl::CivilDay(year, 1, 1)));
  return out;
}

std::vector<std::string> PeriodsAffectedBy(const Period& period) {
  std::vector<std::string> out;
  if (period.type() == PeriodType::kWeek) return out;
  for (PeriodType t : {PeriodType::kMonth, PeriodType::kHalfYear, PeriodType::kYear}) {
    if (t < period.type()) continue;
    out.push_back(Period::Containing(t, period.first_day()).key());
  }
  return out;
}

absl::Time ScheduledAt(const Period& period, int evaluate_after_days) {
  return SubmissionDeadline(period, evaluate_after_days);
}

std::vector<std::pair<Period, absl::Time>> ScheduleOf(const v1::Scheme& scheme, absl::Time now) {
  std::vector<std::pair<Period, absl::Time>> out;
  for (const Period& period : EvaluationPeriods(scheme.year())) {
    const absl::Time at = ScheduledAt(period, scheme.evaluate_after_days());
    if (at > now) out.emplace_back(period, at);
  }
  return out;
}

// --- One evaluation ---------------------------------------------------------------------------

void Canonicalise(Inputs& in) {
  std::sort(in.units.begin(), in.units.end(), [](const UnitIn& a, const UnitIn& b) { return a.code < b.code; });
  std::sort(in.readings.begin(), in.readings.end(), [](const ReadingIn& a, const ReadingIn& b) {
    return std::tie(a.unit, a.indicator) < std::tie(b.unit, b.indicator);
  });
  std::sort(in.deductions.begin(), in.deductions.end(),
            [](const DeductionIn& a, const DeductionIn& b) { return a.id < b.id; });
  std::sort(in.bonuses.begin(), in.bonuses.end(), [](const BonusIn& a, const BonusIn& b) { return a.id < b.id; });
  for (auto& [unit, codes] : in.selections) std::sort(codes.begin(), codes.end());
}

std::string InputsDigest(const Inputs& in) {
  Sha256Stream h;
  h.Add(in.period.key()).Add(in.scheme.SerializeAsString());
  h.Add(static_cast<int64_t>(in.units.size()));
  for (const UnitIn& u : in.units) h.Add(u.code).Add(u.parent).Add(static_cast<int64_t>(u.type));
  h.Add(static_cast<int64_t>(in.readings.size()));
  for (const ReadingIn& r : in.readings) {
    h.Add(r.unit).Add(r.indicator).Add(r.value).Add(r.ref.seq()).Add(static_cast<int64_t>(r.ref.version()));
  }
  h.Add(static_cast<int64_t>(in.deductions.size()));
  for (const DeductionIn& d : in.deductions) {
    h.Add(d.id).Add(d.unit).Add(static_cast<int64_t>(d.type)).Add(d.points);
  }
  h.Add(static_cast<int64_t>(in.bonuses.size()));
  for (const BonusIn& b : in.bonuses) h.Add(b.id).Add(b.unit).Add(b.points);
  std::vector<std::string> selected;
  for (const auto& [unit, codes] : in.selections) selected.push_back(unit);
  std::sort(selected.begin(), selected.end());
  for (const std::string& unit : selected) {
    h.Add(unit);
    for (const std::string& code : in.selections.at(unit)) h.Add(code);
  }
  return h.Hex();
}

Outcome Evaluate(const Inputs& in) {
  const v1::Scheme& s = in.scheme;
  const double share = s.base_share_percent() / 100;
  const bool exclude_missing = s.missing_value_policy() == v1::MISSING_VALUE_POLICY_EXCLUDE;
  Outcome out;
  out.evaluations.resize(in.units.size());

  absl::flat_hash_map<std::string, int> index;
  index.reserve(in.units.size());
  for (size_t i = 0; i < in.units.size(); ++i) index[in.units[i].code] = static_cast<int>(i);
  // Children in code order (units are).
  std::vector<std::vector<int>> children(in.units.size());
  for (size_t i = 0; i < in.units.size(); ++i) {
    auto p = index.find(in.units[i].parent);
    if (p != index.end()) children[p->second].push_back(static_cast<int>(i));
  }
  // Readings of a unit: a contiguous run of the sorted readings.
  absl::flat_hash_map<std::string, std::pair<size_t, size_t>> reading_span;
  for (size_t r = 0; r < in.readings.size();) {
    size_t e = r;
    while (e < in.readings.size() && in.readings[e].unit == in.readings[r].unit) ++e;
    reading_span[in.readings[r].unit] = {r, e};
    r = e;
  }
  auto reading_of = [&](const std::string& unit, const std::string& code) -> const ReadingIn* {
    auto span = reading_span.find(unit);
    if (span == reading_span.end()) return nullptr;
    auto first = in.readings.begin() + span->second.first, last = in.readings.begin() + span->second.second;
    auto it = std::lower_bound(first, last, code, [](const ReadingIn& r, const std::string& c) { return r.indicator < c; });
    return it != last && it->indicator == code ? &*it : nullptr;
  };
  // Items by unit type, in the scheme's order.
  absl::flat_hash_map<int, std::vector<const v1::SchemeItem*>> items_of_type;
  for (const UnitIn& u : in.units) {
    auto [items, added] = items_of_type.try_emplace(u.type);
    if (!added) continue;
    for (const v1::SchemeItem& it : s.items()) {
      if (it.enabled() && Has(it.unit_types(), u.type)) items->second.push_back(&it);
    }
  }
  absl::flat_hash_map<std::string, std::vector<const DeductionIn*>> deductions_of;
  for (const DeductionIn& d : in.deductions) deductions_of[d.unit].push_back(&d);
  absl::flat_hash_map<std::string, std::vector<const BonusIn*>> bonuses_of;
  for (const BonusIn& b : in.bonuses) bonuses_of[b.unit].push_back(&b);

  // Indicators, deductions and bonuses of each unit.
  for (size_t i = 0; i < in.units.size(); ++i) {
    const UnitIn& u = in.units[i];
    v1::Evaluation& e = out.evaluations[i];
    e.set_unit_code(u.code);
    e.set_unit_type(u.type);
    e.set_parent_code(u.parent);
    *e.mutable_period() = in.period;
    e.set_scheme_year(s.year());
    e.set_scheme_version(s.audit().version());
    const std::vector<std::string>* selection = nullptr;
    if (auto sel = in.selections.find(u.code); sel != in.selections.end() && !sel->second.empty()) {
      selection = &sel->second;
    }
    double earned[3] = {0, 0, 0}, possible[3] = {0, 0, 0};
    for (const v1::SchemeItem* it : items_of_type[u.type]) {
      if (selection != nullptr && !std::binary_search(selection->begin(), selection->end(), it->indicator_code())) {
        continue;
      }
      v1::IndicatorScore* sc = e.add_indicators();
      sc->set_indicator_code(it->indicator_code());
      sc->set_class_(it->class_());
      sc->set_base_value(it->base_value());
      sc->set_full_score_value(it->full_score_value());
      sc->set_direction(it->direction());
      sc->set_points(it->points());
      sc->set_base_share(share);
      const ReadingIn* r = reading_of(u.code, it->indicator_code());
      const int c = it->class_() == v1::INDICATOR_CLASS_MAIN ? 1 : 2;
      if (r == nullptr) {
        sc->set_missing(true);
        e.set_missing_values(e.missing_values() + 1);
        ++out.missing_values;
        if (!exclude_missing) possible[c] += it->points();
        continue;
      }
      sc->set_value(r->value);
      *sc->mutable_reading() = r->ref;
      const Term t = ScoreValue(r->value, it->base_value(), it->full_score_value(), it->points(), share);
      sc->set_progress(t.progress);
      sc->set_score(t.score);
      earned[c] += t.score;
      possible[c] += it->points();
    }
    v1::Part* parts[3] = {nullptr, e.mutable_main(), e.mutable_process()};
    for (int c = 1; c <= 2; ++c) {
      parts[c]->set_present(possible[c] > 0);
      parts[c]->set_earned(earned[c]);
      parts[c]->set_possible(possible[c]);
      parts[c]->set_total(possible[c] > 0 ? 100 * earned[c] / possible[c] : 0);
    }
    double direct = 0, own_business = 0;
    if (auto d = deductions_of.find(u.code); d != deductions_of.end()) {
      for (const DeductionIn* x : d->second) {
        if (x->type == v1::DEDUCTION_TYPE_DIRECT) {
          direct += x->points;
          *e.add_direct() = RefOf(*x);
        } else {
          own_business += x->points;
          *e.add_business_deductions() = RefOf(*x);
        }
      }
    }
    e.set_direct_deductions(direct);
    e.mutable_business()->set_present(true);
    e.mutable_business()->set_earned(own_business);  // deductions, replaced below for a parent
    double granted = 0;
    if (auto b = bonuses_of.find(u.code); b != bonuses_of.end()) {
      for (const BonusIn* x : b->second) {
        granted += x->points;
        v1::BonusRef* ref = e.add_bonuses();
        ref->set_bonus_id(x->id);
        ref->set_points(x->points);
        ref->set_reason(x->reason);
        ref->set_approved_by(x->approved_by);
      }
    }
    e.set_bonus_granted(granted);
    e.set_bonus(std::min(granted, s.bonus_cap()));
  }

  // Business totals bottom-up: a unit without subordinates scores 100 minus
  // its business deductions (never below 0); a parent the mean of its
  // direct subordinates' totals.
  std::vector<int> order;  // children before parents
  order.reserve(in.units.size());
  {
    std::vector<int> stack;
    for (size_t i = 0; i < in.units.size(); ++i) {
      if (!index.contains(in.units[i].parent)) stack.push_back(static_cast<int>(i));
    }
    std::vector<int> pre;
    while (!stack.empty()) {
      const int n = stack.back();
      stack.pop_back();
      pre.push_back(n);
      for (int c : children[n]) stack.push_back(c);
    }
    order.assign(pre.rbegin(), pre.rend());
  }
  for (int n : order) {
    v1::Evaluation& e = out.evaluations[n];
    v1::Part* b = e.mutable_business();
    if (children[n].empty()) {
      b->set_total(std::max(0.0, 100 - b->earned()));
    } else {
      double sum = 0;
      for (int c : children[n]) {
        const double t = out.evaluations[c].business().total();
        sum += t;
        v1::ChildBusiness* cb = e.add_children();
        cb->set_unit_code(in.units[c].code);
        cb->set_business_total(t);
      }
      b->set_total(sum / static_cast<double>(children[n].size()));
    }
    b->set_earned(b->total());
    b->set_possible(100);
  }

  // Weights, the composite and what each item costs.
  const double w[3] = {s.main_weight_percent(), s.process_weight_percent(), s.business_weight_percent()};
  for (v1::Evaluation& e : out.evaluations) {
    v1::Part* parts[3] = {e.mutable_main(), e.mutable_process(), e.mutable_business()};
    double present = 0;
    for (int k = 0; k < 3; ++k) {
      parts[k]->set_weight_percent(w[k]);
      if (parts[k]->present()) present += w[k];
    }
    double composite = 0;
    for (int k = 0; k < 3; ++k) {
      const double applied = parts[k]->present() && present > 0 ? 100 * w[k] / present : 0;
      parts[k]->set_applied_weight_percent(applied);
      composite += applied / 100 * parts[k]->total();
    }
    e.set_composite(composite - e.direct_deductions() + e.bonus());
    for (v1::IndicatorScore& sc : *e.mutable_indicators()) {
      const v1::Part& part = sc.class_() == v1::INDICATOR_CLASS_MAIN ? e.main() : e.process();
      if (part.possible() <= 0 || (sc.missing() && exclude_missing)) continue;
      sc.set_composite_loss(part.applied_weight_percent() * (sc.points() - sc.score()) / part.possible());
    }
  }

  // Ranks among the units of the same parent and type.
  absl::flat_hash_map<std::pair<std::string, int>, std::vector<int>> groups;
  for (size_t i = 0; i < in.units.size(); ++i) groups[{in.units[i].parent, in.units[i].type}].push_back(static_cast<int>(i));
  for (const auto& [key, members] : groups) {
    std::vector<double> values;
    values.reserve(members.size());
    for (int m : members) values.push_back(out.evaluations[m].composite());
    const std::vector<int> ranks = CompetitionRanks(values);
    for (size_t k = 0; k < members.size(); ++k) {
      out.evaluations[members[k]].set_rank(ranks[k]);
      out.evaluations[members[k]].set_ranked(static_cast<int>(members.size()));
    }
  }
  return out;
}

std::string ResultsDigest(const Outcome& outcome) {
  Sha256Stream h;
  for (const v1::Evaluation& e : outcome.evaluations) {
    h.Add(e.unit_code()).Add(e.composite()).Add(e.main().total()).Add(e.process().total());
    h.Add(e.business().total()).Add(e.direct_deductions()).Add(e.bonus()).Add(static_cast<int64_t>(e.rank()));
    for (const v1::IndicatorScore& sc : e.indicators()) {
      h.Add(sc.indicator_code()).Add(sc.value()).Add(sc.progress()).Add(sc.score()).Add(sc.composite_loss());
    }
  }
  return h.Hex();
}

// --- Reading evaluations ------------------------------------------------------------------

std::vector<int> CompetitionRanks(const std::vector<double>& values) {
  std::vector<int> order(values.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return values[a] > values[b]; });
  std::vector<int> ranks(values.size());
  double leader = 0;
  for (size_t k = 0; k < order.size(); ++k) {
    const double v = values[order[k]];
    if (k > 0 && leader - v <= kTieEpsilon) {
      ranks[order[k]] = ranks[order[k - 1]];
    } else {
      ranks[order[k]] = static_cast<int>(k) + 1;
      leader = v;
    }
  }
  return ranks;
}

double Percentile(int rank, int ranked) {
  if (ranked <= 1) return 100;
  return 100.0 * (ranked - rank) / (ranked - 1);
}

std::vector<v1::IndicatorScore> WeakestItems(const v1::Evaluation& e, int n) {
  std::vector<v1::IndicatorScore> items;
  for (const v1::IndicatorScore& sc : e.indicators()) {
    if (sc.composite_loss() > 0) items.push_back(sc);
  }
  std::sort(items.begin(), items.end(), [](const v1::IndicatorScore& a, const v1::IndicatorScore& b) {
    if (a.composite_loss() != b.composite_loss()) return a.composite_loss() > b.composite_loss();
    return a.indicator_code() < b.indicator_code();
  });
  if (static_cast<int>(items.size()) > n) items.resize(n);
  return items;
}

v1::ComparePeriodsResponse Compare(const v1::Evaluation& current, const v1::Evaluation& base) {
  v1::ComparePeriodsResponse r;
  *r.mutable_period() = current.period();
  *r.mutable_base_period() = base.period();
  r.set_composite_change(current.composite() - base.composite());
  r.set_main_change(current.main().total() - base.main().total());
  r.set_process_change(current.process().total() - base.process().total());
  r.set_business_change(current.business().total() - base.business().total());
  r.set_rank_change(base.rank() - current.rank());
  absl::flat_hash_map<std::string, const v1::IndicatorScore*> before;
  for (const v1::IndicatorScore& sc : base.indicators()) before[sc.indicator_code()] = &sc;
  for (const v1::IndicatorScore& sc : current.indicators()) {
    v1::IndicatorDelta* d = r.add_indicators();
    d->set_indicator_code(sc.indicator_code());
    d->set_value(sc.value());
    d->set_score(sc.score());
    d->set_missing(sc.missing());
    auto b = before.find(sc.indicator_code());
    if (b == before.end()) {
      d->set_base_missing(true);
      d->set_score_change(sc.score());
      continue;
    }
    d->set_base_value(b->second->value());
    d->set_base_score(b->second->score());
    d->set_base_missing(b->second->missing());
    d->set_value_change(sc.value() - b->second->value());
    d->set_score_change(sc.score() - b->second->score());
  }
  std::sort(r.mutable_indicators()->begin(), r.mutable_indicators()->end(),
            [](const v1::IndicatorDelta& a, const v1::IndicatorDelta& b) {
              if (std::abs(a.score_change()) != std::abs(b.score_change())) {
                return std::abs(a.score_change()) > std::abs(b.score_change());
              }
              return a.indicator_code() < b.indicator_code();
            });
  return r;
}

absl::StatusOr<Prediction> ForecastNext(const std::vector<double>& history) {
  if (history.empty()) return absl::InvalidArgumentError("history: no evaluated period to learn from");
  double level = history[0], sq = 0;
  int errors = 0;
  for (size_t t = 1; t < history.size(); ++t) {
    const double e = history[t] - level;
    sq += e * e;
    ++errors;
    level += kForecastAlpha * e;
  }
  Prediction p{.point = level, .lower = level, .upper = level};
  if (history.size() >= 3) {
    const double half = kForecastZ * std::sqrt(sq / errors);
    p.lower = level - half;
    p.upper = level + half;
  }
  return p;
}

Prediction LastValue(const std::vector<double>& history) {
  const double v = history.empty() ? 0 : history.back();
  return {.point = v, .lower = v, .upper = v};
}

}  // namespace aw::scoring
