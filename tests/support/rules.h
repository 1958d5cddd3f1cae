// A warning rule for tests: one indicator, monthly, levels 1..n with the given
// thresholds, each notifying. Callers add what their case needs.
#pragma once

#include <string>
#include <vector>

#include "auditwatch/v1/monitor.pb.h"

namespace aw::testing {

inline auditwatch::v1::Rule MakeRule(const std::string& code, const std::string& theme, auditwatch::v1::RuleKind kind,
                                     const std::string& indicator, const std::vector<double>& thresholds) {
  auditwatch::v1::Rule r;
  r.set_code(code);
  r.set_name(code);
  r.set_theme_code(theme);
  r.set_kind(kind);
  r.add_indicator_codes(indicator);
  r.set_period_type(auditwatch::v1::PERIOD_TYPE_MONTH);
  r.set_enabled(true);
  for (size_t i = 0; i < thresholds.size(); ++i) {
    auditwatch::v1::RuleLevel* l = r.add_levels();
    l->set_level(static_cast<int>(i) + 1);
    l->set_threshold(thresholds[i]);
    l->add_actions(auditwatch::v1::WARNING_ACTION_NOTIFY);
  }
  return r;
}

// A THEFT_SUSPICION rule: monthly, cut-offs 0.9 / 0.75 / 0.5, level 1
// launching an on-site inspection and level 2 notifying; over `scope` (and
// its subtree) when given.
inline auditwatch::v1::Rule MakeTheftRule(const std::string& code, const std::string& theme,
                                          const std::string& scope = "") {
  auditwatch::v1::Rule r;
  r.set_code(code);
  r.set_name("违约窃电嫌疑");
  r.set_theme_code(theme);
  r.set_kind(auditwatch::v1::RULE_KIND_THEFT_SUSPICION);
  r.set_period_type(auditwatch::v1::PERIOD_TYPE_MONTH);
  if (!scope.empty()) {
    r.mutable_scope()->set_unit_code(scope);
    r.mutable_scope()->set_include_descendants(true);
  }
  r.set_enabled(true);
  const double cutoffs[] = {0.9, 0.75, 0.5};
  for (int level = 1; level <= 3; ++level) {
    auditwatch::v1::RuleLevel* l = r.add_levels();
    l->set_level(level);
    l->set_threshold(cutoffs[level - 1]);
    if (level == 1) l->add_actions(auditwatch::v1::WARNING_ACTION_ONLINE_AUDIT);
    if (level == 2) l->add_actions(auditwatch::v1::WARNING_ACTION_NOTIFY);
  }
  return r;
}

}  // namespace aw::testing
