#include "services/awctl/default_rules.h"

#include <algorithm>
#include <map>

#include "absl/strings/str_cat.h"

namespace aw::demo {
namespace {

namespace v1 = ::auditwatch::v1;

const std::map<v1::BusinessCategory, std::pair<const char*, const char*>> kThemes = {
    {v1::BUSINESS_CATEGORY_BILLING, {"T-BIL", "电量电费"}},
    {v1::BUSINESS_CATEGORY_BUSINESS_EXPANSION, {"T-BEX", "业扩报装"}},
    {v1::BUSINESS_CATEGORY_CUSTOMER_SERVICE, {"T-CS", "客户服务"}},
    {v1::BUSINESS_CATEGORY_METERING, {"T-MET", "计量管理"}},
    {v1::BUSINESS_CATEGORY_LINE_LOSS, {"T-LL", "线损管理"}},
    {v1::BUSINESS_CATEGORY_INSPECTION, {"T-INS", "用电检查"}},
    {v1::BUSINESS_CATEGORY_OUTAGE, {"T-OUT", "停电管理"}},
    {v1::BUSINESS_CATEGORY_MARKETING_MANAGEMENT, {"T-MKT", "营销管理"}},
};

v1::Rule Base(const v1::Indicator& i, const std::string& suffix, v1::RuleKind kind) {
  v1::Rule r;
  r.set_code(absl::StrCat("R-", i.code(), "-", suffix));
  r.set_name(absl::StrCat(i.name_zh(), " ", suffix));
  r.set_theme_code(kThemes.at(i.category()).first);
  r.set_kind(kind);
  r.add_indicator_codes(i.code());
  r.set_period_type(v1::PERIOD_TYPE_MONTH);
  r.set_enabled(true);
  for (int t : i.applicable_unit_types()) r.add_unit_types(static_cast<v1::UnitType>(t));
  return r;
}

void Levels(v1::Rule& r, const std::vector<double>& thresholds) {
  static const v1::WarningAction kActions[] = {v1::WARNING_ACTION_ONLINE_AUDIT, v1::WARNING_ACTION_SUPERVISION_ORDER,
                                               v1::WARNING_ACTION_NOTIFY, v1::WARNING_ACTION_NOTIFY};
  for (size_t i = 0; i < thresholds.size(); ++i) {
    v1::RuleLevel* l = r.add_levels();
    l->set_level(static_cast<int>(i) + 1);
    l->set_threshold(thresholds[i]);
    l->add_actions(kActions[i]);
    if (kActions[i] != v1::WARNING_ACTION_NOTIFY) l->add_actions(v1::WARNING_ACTION_NOTIFY);
  }
}

}  // namespace

RuleSet DefaultRules(const std::vector<IndicatorSpread>& indicators, int variants, int limit) {
  RuleSet set;
  for (const auto& [category, theme] : kThemes) {
    v1::Theme& t = set.themes.emplace_back();
    t.set_code(theme.first);
    t.set_name(theme.second);
    t.set_category(category);
  }
  for (const IndicatorSpread& s : indicators) {
    const v1::Indicator& i = s.indicator;
    const bool higher = i.direction() == v1::DIRECTION_HIGHER_IS_BETTER;
    const bool volume = i.rollup() == v1::ROLLUP_RULE_SUM || i.rollup() == v1::ROLLUP_RULE_MAX;
    if (!volume) {
      v1::Rule r = Base(i, "STATIC", v1::RULE_KIND_STATIC_THRESHOLD);
      std::vector<double> t;
      for (double k : {3.0, 2.5, 2.0}) {
        const double v = higher ? s.mean - k * s.spread : s.mean + k * s.spread;
        t.push_back(std::clamp(v, i.min_value() + 1e-6, i.max_value() - 1e-6));
      }
      Levels(r, t);
      set.rules.push_back(std::move(r));
    } else if (variants > 1 || s.spread < 0.3 * s.mean) {
      // Small counts swing by large percentages: judge only steady volumes.
      v1::Rule r = Base(i, "CHANGE", v1::RULE_KIND_PERIOD_CHANGE);
      Levels(r, {80, 60, 40});
      set.rules.push_back(std::move(r));
    }
    if (i.kind() == v1::INDICATOR_KIND_MANUAL) {
      v1::Rule r = Base(i, "MISSING", v1::RULE_KIND_MISSING);
      Levels(r, {30, 10, 3, 0});
      set.rules.push_back(std::move(r));
    }
    if (variants > 1) {
      v1::Rule baseline = Base(i, "BASELINE", v1::RULE_KIND_BASELINE_DEVIATION);
      baseline.set_window(6);
      Levels(baseline, {6, 5, 4});
      set.rules.push_back(std::move(baseline));
      v1::Rule trend = Base(i, "TREND", v1::RULE_KIND_CONSECUTIVE_WORSENING);
      trend.set_window(6);
      Levels(trend, {6, 5});
      set.rules.push_back(std::move(trend));
    }
    if (variants > 2) {
      v1::Rule range = Base(i, "RANGE", v1::RULE_KIND_QUALITY_RANGE);
      range.set_plausible_min(std::max(i.min_value(), s.mean - 6 * s.spread));
      range.set_plausible_max(std::min(i.max_value(), s.mean + 6 * s.spread));
      if (range.plausible_min() > i.min_value() || range.plausible_max() < i.max_value()) {
        Levels(range, {50, 0});
        set.rules.push_back(std::move(range));
      }
    }
  }
  if (static_cast<int>(set.rules.size()) > limit) set.rules.resize(limit);
  return set;
}

}  // namespace aw::demo
