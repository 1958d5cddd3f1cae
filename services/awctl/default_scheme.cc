#include "services/awctl/default_scheme.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace aw::demo {
namespace {
namespace v1 = ::auditwatch::v1;
}  // namespace

v1::Scheme DefaultScheme(const SyntheticProvince& province) {
  v1::Scheme s;
  s.set_year(province.year());
  s.set_name(absl::StrCat(province.year(), " 年营销服务工作质量评价方案"));
  s.set_main_weight_percent(50);
  s.set_process_weight_percent(10);
  s.set_business_weight_percent(40);
  s.set_base_share_percent(60);
  s.set_missing_value_policy(v1::MISSING_VALUE_POLICY_ZERO);
  s.set_bonus_cap(5);
  s.set_evaluate_after_days(10);
  const auto profiles = province.profiles();
  for (size_t k = 0; k < province.indicators().size(); ++k) {
    const v1::Indicator& i = province.indicators()[k];
    const auto& p = profiles[k];
    // Volumes scale with a unit's size and sum over a year: not quality measures.
    if (i.rollup() == v1::ROLLUP_RULE_SUM || i.rollup() == v1::ROLLUP_RULE_MAX) continue;
    const bool higher = i.direction() == v1::DIRECTION_HIGHER_IS_BETTER;
    const bool process = i.category() == v1::BUSINESS_CATEGORY_BUSINESS_EXPANSION ||
                         i.category() == v1::BUSINESS_CATEGORY_INSPECTION ||
                         i.category() == v1::BUSINESS_CATEGORY_MARKETING_MANAGEMENT;
    v1::SchemeItem* it = s.add_items();
    it->set_indicator_code(i.code());
    it->set_class_(process ? v1::INDICATOR_CLASS_PROCESS : v1::INDICATOR_CLASS_MAIN);
    for (int t : i.applicable_unit_types()) it->add_unit_types(static_cast<v1::UnitType>(t));
    const double worse = higher ? -1 : 1;
    double base = p.mean + worse * 1.5 * p.spread, full = p.mean - worse * 0.5 * p.spread;
    base = std::clamp(base, i.min_value(), i.max_value());
    full = std::clamp(full, i.min_value(), i.max_value());
    if (base == full) base = full + worse * 0.01;
    it->set_base_value(base);
    it->set_full_score_value(full);
    it->set_direction(i.direction());
    it->set_points(process ? 5 : 10);
    it->set_enabled(true);
  }
  return s;
}

RuleSet ScoreRules() {
  RuleSet set;
  v1::Theme& t = set.themes.emplace_back();
  t.set_code("T-SCORE");
  t.set_name("工作质量评价得分");
  t.set_category(v1::BUSINESS_CATEGORY_MARKETING_MANAGEMENT);
  auto rule = [&](const char* code, const char* name, v1::RuleKind kind, std::vector<double> thresholds) {
    v1::Rule& r = set.rules.emplace_back();
    r.set_code(code);
    r.set_name(name);
    r.set_theme_code("T-SCORE");
    r.set_kind(kind);
    r.add_indicator_codes("SCORE-COMPOSITE");
    r.set_period_type(v1::PERIOD_TYPE_MONTH);
    r.set_enabled(true);
    for (size_t i = 0; i < thresholds.size(); ++i) {
      v1::RuleLevel* l = r.add_levels();
      l->set_level(static_cast<int>(i) + 1);
      l->set_threshold(thresholds[i]);
      l->add_actions(i == 0 ? v1::WARNING_ACTION_SUPERVISION_ORDER : v1::WARNING_ACTION_NOTIFY);
    }
  };
  rule("R-SCORE-STATIC", "综合得分 静态告警", v1::RULE_KIND_STATIC_THRESHOLD, {60, 65, 70});
  rule("R-SCORE-CHANGE", "综合得分 动态预警", v1::RULE_KIND_PERIOD_CHANGE, {20, 10, 5});
  return set;
}

}  // namespace aw::demo
