#include "services/monitor/monitor_logic.h"

#include <catch2/catch.hpp>

#include "tests/support/rules.h"

namespace aw::monitor {
namespace {

IndicatorFacts Facts(v1::Direction direction, v1::RollupRule rollup = v1::ROLLUP_RULE_NONE) {
  IndicatorFacts f;
  f.code = "IND";
  f.direction = direction;
  f.min_value = 0;
  f.max_value = 100;
  f.allowed_period_types = {v1::PERIOD_TYPE_MONTH};
  f.rollup = rollup;
  return f;
}

v1::Rule Rule(v1::RuleKind kind, std::vector<double> thresholds, int window = 0) {
  v1::Rule r = aw::testing::MakeRule("R1", "T1", kind, "IND", thresholds);
  r.set_window(window);
  return r;
}

using Series = std::vector<std::optional<double>>;
constexpr auto kUp = v1::DIRECTION_HIGHER_IS_BETTER;
constexpr auto kDown = v1::DIRECTION_LOWER_IS_BETTER;

TEST_CASE("Static thresholds fire at each level in both directions", "[monitor]") {
  const v1::Rule up = Rule(v1::RULE_KIND_STATIC_THRESHOLD, {80, 85, 90, 95});
  REQUIRE(ValidateRule(up, {Facts(kUp)}).ok());
  CHECK(Evaluate(up, kUp, {96.0}).level == 0);
  CHECK(Evaluate(up, kUp, {94.0}).level == 4);
  CHECK(Evaluate(up, kUp, {89.0}).level == 3);
  CHECK(Evaluate(up, kUp, {84.0}).level == 2);
  CHECK(Evaluate(up, kUp, {10.0}).level == 1);
  CHECK(Evaluate(up, kUp, {10.0}).threshold == 80);
  const v1::Rule down = Rule(v1::RULE_KIND_STATIC_THRESHOLD, {20, 15, 10, 5});
  REQUIRE(ValidateRule(down, {Facts(kDown)}).ok());
  CHECK(Evaluate(down, kDown, {4.0}).level == 0);
  CHECK(Evaluate(down, kDown, {6.0}).level == 4);
  CHECK(Evaluate(down, kDown, {11.0}).level == 3);
  CHECK(Evaluate(down, kDown, {16.0}).level == 2);
  CHECK(Evaluate(down, kDown, {21.0}).level == 1);
  CHECK(Evaluate(down, kDown, {std::nullopt}).level == 0);
}

TEST_CASE("Period-over-period deterioration respects the direction", "[monitor]") {
  const v1::Rule r = Rule(v1::RULE_KIND_PERIOD_CHANGE, {30, 20, 10});
  REQUIRE(ValidateRule(r, {Facts(kUp)}).ok());
  CHECK(Evaluate(r, kUp, {100.0, 95.0}).level == 0);   // -5 %
  CHECK(Evaluate(r, kUp, {100.0, 88.0}).level == 3);   // -12 %
  CHECK(Evaluate(r, kUp, {100.0, 75.0}).level == 2);
  CHECK(Evaluate(r, kUp, {100.0, 60.0}).level == 1);
  CHECK(Evaluate(r, kUp, {100.0, 160.0}).level == 0);  // an improvement
  CHECK(Evaluate(r, kDown, {100.0, 125.0}).level == 2);  // lower is better: a rise is worse
  CHECK(Evaluate(r, kDown, {100.0, 60.0}).level == 0);
  CHECK(Evaluate(r, kUp, {std::nullopt, 60.0}).level == 0);  // no previous value
}

TEST_CASE("Deviation from the unit's own baseline is measured in standard deviations", "[monitor]") {
  const v1::Rule r = Rule(v1::RULE_KIND_BASELINE_DEVIATION, {3, 2}, 6);
  REQUIRE(ValidateRule(r, {Facts(kUp)}).ok());
  const Series base = {10.0, 11.0, 9.0, 10.0, 11.0, 9.0};  // mean 10, sd ~0.89
  auto with = [&](double v) {
    Series s = base;
    s.push_back(v);
    return s;
  };
  CHECK(Evaluate(r, kUp, with(9.5)).level == 0);
  CHECK(Evaluate(r, kUp, with(8.1)).level == 2);
  CHECK(Evaluate(r, kUp, with(7.0)).level == 1);
  CHECK(Evaluate(r, kUp, with(13.0)).level == 0);
  CHECK(Evaluate(r, kDown, with(13.0)).level == 1);
}

TEST_CASE("Consecutive worsening counts the run that ends now", "[monitor]") {
  const v1::Rule r = Rule(v1::RULE_KIND_CONSECUTIVE_WORSENING, {4, 3, 2}, 6);
  REQUIRE(ValidateRule(r, {Facts(kUp)}).ok());
  CHECK(Evaluate(r, kUp, {10.0, 9.0, 8.0, 7.0, 6.0}).level == 1);
  CHECK(Evaluate(r, kUp, {10.0, 11.0, 10.0, 9.0, 8.0}).level == 2);
  CHECK(Evaluate(r, kUp, {10.0, 11.0, 12.0, 11.0, 10.0}).level == 3);
  CHECK(Evaluate(r, kUp, {10.0, 11.0, 12.0, 13.0, 12.0}).level == 0);
  CHECK(Evaluate(r, kDown, {6.0, 7.0, 8.0, 9.0, 10.0}).level == 1);
  CHECK(Evaluate(r, kUp, {10.0, std::nullopt, 8.0, 7.0}).level == 0);  // a gap ends the run
}

TEST_CASE("Missing values escalate with the days overdue", "[monitor]") {
  const v1::Rule r = Rule(v1::RULE_KIND_MISSING, {10, 5, 1, 0});
  REQUIRE(ValidateRule(r, {Facts(kUp)}).ok());
  CHECK(EvaluateMissing(r, -1).level == 0);
  CHECK(EvaluateMissing(r, 0).level == 4);
  CHECK(EvaluateMissing(r, 2).level == 3);
  CHECK(EvaluateMissing(r, 7).level == 2);
  CHECK(EvaluateMissing(r, 30).level == 1);
}

TEST_CASE("Data quality: plausible range and parent-children consistency", "[monitor]") {
  v1::Rule range = Rule(v1::RULE_KIND_QUALITY_RANGE, {50, 0});
  range.set_plausible_min(80);
  range.set_plausible_max(100);
  REQUIRE(ValidateRule(range, {Facts(kUp)}).ok());
  CHECK(Evaluate(range, kUp, {90.0}).level == 0);
  CHECK(Evaluate(range, kUp, {75.0}).level == 2);  // 25 % of the width outside
  CHECK(Evaluate(range, kUp, {60.0}).level == 1);
  const v1::Rule consistency = Rule(v1::RULE_KIND_QUALITY_CONSISTENCY, {10, 1});
  REQUIRE(ValidateRule(consistency, {Facts(kUp, v1::ROLLUP_RULE_SUM)}).ok());
  CHECK(EvaluateConsistency(consistency, 100, 100).level == 0);
  CHECK(EvaluateConsistency(consistency, 105, 100).level == 2);
  CHECK(EvaluateConsistency(consistency, 80, 100).level == 1);
}

TEST_CASE("Rules that could never fire are refused, naming the field", "[monitor]") {
  auto field_of = [](const v1::Rule& r, const std::vector<IndicatorFacts>& f) {
    const absl::Status s = ValidateRule(r, f);
    REQUIRE(s.code() == absl::StatusCode::kInvalidArgument);
    return std::string(s.message().substr(0, s.message().find(':')));
  };
  // Unordered thresholds: level 1 must be the most severe.
  CHECK(field_of(Rule(v1::RULE_KIND_STATIC_THRESHOLD, {90, 80}), {Facts(kUp)}) == "rule.levels[level 2].threshold");
  CHECK(field_of(Rule(v1::RULE_KIND_STATIC_THRESHOLD, {5, 10}), {Facts(kDown)}) == "rule.levels[level 2].threshold");
  CHECK(field_of(Rule(v1::RULE_KIND_PERIOD_CHANGE, {10, 20}), {Facts(kUp)}) == "rule.levels[level 2].threshold");
  // Impossible direction: nothing valid is below the bottom of the range.
  const absl::Status never = ValidateRule(Rule(v1::RULE_KIND_STATIC_THRESHOLD, {0}), {Facts(kUp)});
  CHECK(std::string(never.message()).find("can never fire") != std::string::npos);
  CHECK(field_of(Rule(v1::RULE_KIND_STATIC_THRESHOLD, {100}), {Facts(kDown)}) == "rule.levels[level 1].threshold");
  CHECK(field_of(Rule(v1::RULE_KIND_PERIOD_CHANGE, {-5}), {Facts(kUp)}) == "rule.levels[level 1].threshold");
  CHECK(field_of(Rule(v1::RULE_KIND_BASELINE_DEVIATION, {2}, 1), {Facts(kUp)}) == "rule.window");
  CHECK(field_of(Rule(v1::RULE_KIND_CONSECUTIVE_WORSENING, {8}, 6), {Facts(kUp)}) == "rule.levels[level 1].threshold");
  v1::Rule range = Rule(v1::RULE_KIND_QUALITY_RANGE, {0});
  range.set_plausible_min(-10);
  range.set_plausible_max(200);
  CHECK(field_of(range, {Facts(kUp)}) == "rule.plausible_min");
  CHECK(field_of(Rule(v1::RULE_KIND_QUALITY_CONSISTENCY, {5}), {Facts(kUp)}) == "rule.indicator_codes");
  v1::Rule twice = Rule(v1::RULE_KIND_STATIC_THRESHOLD, {80, 90});
  twice.mutable_levels(1)->set_level(1);
  CHECK(field_of(twice, {Facts(kUp)}) == "rule.levels[level 1]");
  v1::Rule weekly = Rule(v1::RULE_KIND_STATIC_THRESHOLD, {80});
  weekly.set_period_type(v1::PERIOD_TYPE_WEEK);
  CHECK(field_of(weekly, {Facts(kUp)}) == "rule.period_type");
  CHECK(field_of(Rule(v1::RULE_KIND_STATIC_THRESHOLD, {}), {Facts(kUp)}) == "rule.levels");
  CHECK(field_of(Rule(v1::RULE_KIND_STATIC_THRESHOLD, {80}), {}) == "rule.indicator_codes");
}

TEST_CASE("Events open, escalate, de-escalate and resolve", "[monitor]") {
  CHECK(NextChange(false, 0, 0) == Change::kNone);
  CHECK(NextChange(false, 0, 3) == Change::kOpen);
  CHECK(NextChange(true, 3, 1) == Change::kEscalate);
  CHECK(NextChange(true, 1, 2) == Change::kDeescalate);
  CHECK(NextChange(true, 2, 2) == Change::kNone);
  CHECK(NextChange(true, 2, 0) == Change::kResolve);
}

}  // namespace
}  // namespace aw::monitor
