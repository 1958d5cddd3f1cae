#include "services/monitor/monitor_logic.h"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

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
  // Impossible direction: nothing valid is at or below a threshold under the
  // bottom of the range; the bottom itself can be reached.
  const absl::Status never = ValidateRule(Rule(v1::RULE_KIND_STATIC_THRESHOLD, {-1}), {Facts(kUp)});
  CHECK(std::string(never.message()).find("can never fire") != std::string::npos);
  CHECK(ValidateRule(Rule(v1::RULE_KIND_STATIC_THRESHOLD, {0}), {Facts(kUp)}).ok());
  CHECK(ValidateRule(Rule(v1::RULE_KIND_STATIC_THRESHOLD, {100}), {Facts(kDown)}).ok());
  CHECK(field_of(Rule(v1::RULE_KIND_STATIC_THRESHOLD, {100.5}), {Facts(kDown)}) == "rule.levels[level 1].threshold");
  v1::Rule thin = Rule(v1::RULE_KIND_BASELINE_DEVIATION, {2}, 6);
  thin.set_min_history(2);
  CHECK(field_of(thin, {Facts(kUp)}) == "rule.min_history");
  thin.set_min_history(7);
  CHECK(field_of(thin, {Facts(kUp)}) == "rule.min_history");
  thin.set_min_history(4);
  CHECK(ValidateRule(thin, {Facts(kUp)}).ok());
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

Verdict At(int level, double observed = 0, double threshold = 0, std::string message = "") {
  Verdict v;
  v.level = level;
  v.observed = observed;
  v.threshold = threshold;
  v.message = std::move(message);
  return v;
}

TEST_CASE("Events open, escalate, de-escalate, re-judge and resolve", "[monitor]") {
  const OpenEvent two{2, 70, 80, OpenEvent::Hash("value 70 is at or below 80 (level 2)")};
  const OpenEvent three{3, 70, 80, 0};
  const OpenEvent one{1, 70, 80, 0};
  CHECK(NextChange(nullptr, At(0)) == Change::kNone);
  CHECK(NextChange(nullptr, At(3)) == Change::kOpen);
  CHECK(NextChange(&three, At(1)) == Change::kEscalate);
  CHECK(NextChange(&one, At(2)) == Change::kDeescalate);
  CHECK(NextChange(&two, At(2, 70, 80, "value 70 is at or below 80 (level 2)")) == Change::kNone);
  CHECK(NextChange(&two, At(0)) == Change::kResolve);
  // The same level, judged again with a new observation, threshold or message.
  CHECK(NextChange(&two, At(2, 65, 80, "value 65 is at or below 80 (level 2)")) == Change::kRejudge);
  CHECK(NextChange(&two, At(2, 70, 75, "value 70 is at or below 80 (level 2)")) == Change::kRejudge);
  CHECK(NextChange(&two, At(2, 70, 80, "another wording")) == Change::kRejudge);
}

TEST_CASE("A re-judgement tells the old and the new observation", "[monitor]") {
  const v1::Rule rule = Rule(v1::RULE_KIND_STATIC_THRESHOLD, {5});
  const OpenEvent before{1, 4, 6, OpenEvent::Hash("value 4 is at or below 6 (level 1)")};
  auto u = Judged(rule, &before, "S1", *Period::Parse("2025-03"), "IND", At(1, 4, 5, "value 4 is at or below 5 (level 1)"));
  REQUIRE(u.has_value());
  CHECK(u->change == Change::kRejudge);
  CHECK(u->comment == "observed 4 → 4, threshold 6 → 5: value 4 is at or below 5 (level 1)");
  const OpenEvent after = AfterUpdate(*u);
  CHECK(after.threshold == 5);
  CHECK_FALSE(Judged(rule, &after, "S1", *Period::Parse("2025-03"), "IND", At(1, 4, 5, "value 4 is at or below 5 (level 1)")));
}

// One convention for every kind: a level fires when its measure reaches the
// threshold. Each kind, in each direction it has, exactly at the threshold
// and a hair on the better side.
TEST_CASE("Every kind fires exactly at its threshold and not a hair before, in both directions", "[monitor]") {
  const double kHair = 1e-9;
  SECTION("static") {
    const v1::Rule up = Rule(v1::RULE_KIND_STATIC_THRESHOLD, {80});
    CHECK(Evaluate(up, kUp, {80.0}).level == 1);
    CHECK(Evaluate(up, kUp, {80.0 + kHair}).level == 0);
    const v1::Rule down = Rule(v1::RULE_KIND_STATIC_THRESHOLD, {20});
    CHECK(Evaluate(down, kDown, {20.0}).level == 1);
    CHECK(Evaluate(down, kDown, {20.0 - kHair}).level == 0);
  }
  SECTION("period change") {
    const v1::Rule r = Rule(v1::RULE_KIND_PERIOD_CHANGE, {25});
    CHECK(Evaluate(r, kUp, {80.0, 60.0}).level == 1);  // -25 %
    CHECK(Evaluate(r, kUp, {80.0, 60.0 + 1e-6}).level == 0);
    CHECK(Evaluate(r, kDown, {80.0, 100.0}).level == 1);  // +25 %
    CHECK(Evaluate(r, kDown, {80.0, 100.0 - 1e-6}).level == 0);
  }
  SECTION("baseline deviation") {
    const v1::Rule r = Rule(v1::RULE_KIND_BASELINE_DEVIATION, {2}, 3);  // mean 2, sd 1
    CHECK(Evaluate(r, kUp, {1.0, 2.0, 3.0, 0.0}).level == 1);
    CHECK(Evaluate(r, kUp, {1.0, 2.0, 3.0, 1e-6}).level == 0);
    CHECK(Evaluate(r, kDown, {1.0, 2.0, 3.0, 4.0}).level == 1);
    CHECK(Evaluate(r, kDown, {1.0, 2.0, 3.0, 4.0 - 1e-6}).level == 0);
  }
  SECTION("consecutive worsening") {
    const v1::Rule r = Rule(v1::RULE_KIND_CONSECUTIVE_WORSENING, {3}, 4);
    CHECK(Evaluate(r, kUp, {9.0, 10.0, 9.0, 8.0, 7.0}).level == 1);
    CHECK(Evaluate(r, kUp, {9.0, 8.0, 9.0, 8.0, 7.0}).level == 0);  // a run of 2
    CHECK(Evaluate(r, kDown, {9.0, 8.0, 9.0, 10.0, 11.0}).level == 1);
    CHECK(Evaluate(r, kDown, {9.0, 10.0, 9.0, 10.0, 11.0}).level == 0);
  }
  SECTION("plausible range, below and above") {
    v1::Rule r = Rule(v1::RULE_KIND_QUALITY_RANGE, {25});
    r.set_plausible_min(0);
    r.set_plausible_max(200);
    CHECK(Evaluate(r, kUp, {250.0}).level == 1);  // 50 outside a width of 200: 25 %
    CHECK(Evaluate(r, kUp, {250.0 - 1e-6}).level == 0);
    CHECK(Evaluate(r, kUp, {-50.0}).level == 1);
    CHECK(Evaluate(r, kUp, {-50.0 + 1e-6}).level == 0);
    r.mutable_levels(0)->set_threshold(0);
    CHECK(Evaluate(r, kUp, {200.0}).level == 0);  // on the edge is inside
  }
  SECTION("consistency, above and below the roll-up") {
    const v1::Rule r = Rule(v1::RULE_KIND_QUALITY_CONSISTENCY, {25});
    CHECK(EvaluateConsistency(r, 100, 80).level == 1);
    CHECK(EvaluateConsistency(r, 100 - 1e-6, 80).level == 0);
    CHECK(EvaluateConsistency(r, 60, 80).level == 1);
    CHECK(EvaluateConsistency(r, 60 + 1e-6, 80).level == 0);
  }
  SECTION("missing") {
    const v1::Rule r = Rule(v1::RULE_KIND_MISSING, {3});
    CHECK(EvaluateMissing(r, 3).level == 1);
    CHECK(EvaluateMissing(r, 2).level == 0);
  }
}

TEST_CASE("A baseline judges only with the history it asks for, and says how much it used", "[monitor]") {
  v1::Rule r = Rule(v1::RULE_KIND_BASELINE_DEVIATION, {2}, 6);
  const Series half = {std::nullopt, std::nullopt, std::nullopt, 1.0, 2.0, 3.0, 0.0};
  Verdict v = Evaluate(r, kUp, half);
  CHECK(v.level == 0);
  CHECK(v.not_judged == "only 3 of the last 6 periods have values; 6 needed");
  r.set_min_history(3);
  v = Evaluate(r, kUp, half);
  CHECK(v.level == 1);
  CHECK(v.message.find("3 of the last 6 periods") != std::string::npos);
  // No spread, nothing to measure against.
  v = Evaluate(r, kUp, {5.0, 5.0, 5.0, 5.0, 5.0, 5.0, 1.0});
  CHECK(v.level == 0);
  CHECK(v.not_judged == "no spread: the 6 of the last 6 periods all have the value 5");
}

TEST_CASE("A change after a zero says why it was not judged", "[monitor]") {
  const v1::Rule r = Rule(v1::RULE_KIND_PERIOD_CHANGE, {10});
  const Verdict v = Evaluate(r, kUp, {0.0, 50.0});
  CHECK(v.level == 0);
  CHECK(v.not_judged.find("previous period's value is 0") != std::string::npos);
  CHECK(Evaluate(r, kUp, {std::nullopt, 50.0}).not_judged == "no value for the previous period");
  CHECK(Evaluate(r, kUp, {100.0, 95.0}).not_judged.empty());
}

TEST_CASE("Messages print numbers as they were written", "[monitor]") {
  IndicatorFacts big = Facts(kDown);
  big.max_value = 1e9;
  const v1::Rule r = Rule(v1::RULE_KIND_STATIC_THRESHOLD, {1000000});
  REQUIRE(ValidateRule(r, {big}).ok());
  const Verdict v = Evaluate(r, kDown, {1000001.0});
  CHECK(v.message == "value 1000001 is at or above 1000000 (level 1)");
  const Verdict change = Evaluate(Rule(v1::RULE_KIND_PERIOD_CHANGE, {10}), kUp, {3.0, 2.0});
  CHECK(change.message == "deterioration vs the previous period of 33.33% (3 → 2) reaches level 1 (threshold 10)");
  const absl::Status refused = ValidateRule(Rule(v1::RULE_KIND_STATIC_THRESHOLD, {-2000000}), {Facts(kUp)});
  CHECK(std::string(refused.message()).find("-2000000") != std::string::npos);
  CHECK(std::string(refused.message()).find("e+") == std::string::npos);
}

// P → C1 → D1 → S1, S2, with the types of the real tree.
DirectorySnapshot Tree() {
  DirectorySnapshot d;
  auto unit = [&](const std::string& code, v1::UnitType type, std::vector<std::string> path) {
    UnitFacts& u = d.units[code];
    u.code = code;
    u.type = type;
    u.path = std::move(path);
    u.parent = u.path.size() > 1 ? u.path[u.path.size() - 2] : "";
  };
  unit("P", v1::UNIT_TYPE_PROVINCE, {"P"});
  unit("C1", v1::UNIT_TYPE_CITY_BUREAU, {"P", "C1"});
  unit("D1", v1::UNIT_TYPE_DISTRICT_BUREAU, {"P", "C1", "D1"});
  unit("S1", v1::UNIT_TYPE_SUPPLY_STATION, {"P", "C1", "D1", "S1"});
  unit("S2", v1::UNIT_TYPE_SUPPLY_STATION, {"P", "C1", "D1", "S2"});
  IndicatorFacts& sold = d.indicators["SOLD"];
  sold.code = "SOLD";
  sold.rollup = v1::ROLLUP_RULE_SUM;
  sold.deadline_days = 3;
  return d;
}

TEST_CASE("A rule applies by unit type and scope, written once for every caller", "[monitor]") {
  const DirectorySnapshot dir = Tree();
  v1::Rule rule = Rule(v1::RULE_KIND_STATIC_THRESHOLD, {80});
  CHECK(AppliesToType(rule, dir.Unit("D1")));
  CHECK(AppliesToType(rule, nullptr));
  rule.add_unit_types(v1::UNIT_TYPE_SUPPLY_STATION);
  CHECK(AppliesToType(rule, dir.Unit("S1")));
  CHECK_FALSE(AppliesToType(rule, dir.Unit("D1")));
  CHECK_FALSE(AppliesToType(rule, nullptr));
  CHECK(InRuleScope(rule, dir, "S2"));
  rule.mutable_scope()->set_unit_code("D1");
  CHECK_FALSE(InRuleScope(rule, dir, "S2"));
  rule.mutable_scope()->set_include_descendants(true);
  CHECK(InRuleScope(rule, dir, "S2"));
  CHECK_FALSE(InRuleScope(rule, dir, "C1"));
  v1::UnitScope scope;
  scope.set_unit_code("D1");
  scope.set_include_descendants(true);
  CHECK(dir.UnitsIn(scope) == std::vector<std::string>{"D1", "S1", "S2"});
  v1::Rule applicability = Rule(v1::RULE_KIND_QUALITY_APPLICABILITY, {80});
  applicability.add_unit_types(v1::UNIT_TYPE_SUPPLY_STATION);
  CHECK(JudgeApplicability(applicability, "S1", dir.Unit("S1"), "IND").level == 0);
  const Verdict wrong = JudgeApplicability(applicability, "D1", dir.Unit("D1"), "IND");
  CHECK(wrong.level == 1);
  CHECK(wrong.message == "D1 reports IND, which does not apply to a UNIT_TYPE_DISTRICT_BUREAU");
}

TEST_CASE("Whitelist entries cover rule or theme, unit or subtree and indicator, while in force", "[monitor]") {
  const DirectorySnapshot dir = Tree();
  const absl::Time now = absl::FromUnixSeconds(1'800'000'000);
  v1::WhitelistEntry e;
  e.set_theme_code("T1");
  e.mutable_scope()->set_unit_code("D1");
  e.mutable_scope()->set_include_descendants(true);
  e.set_subject("IND");
  e.set_reason("meter campaign");
  CHECK(WhitelistCovers(e, "R9", "T1", dir, "S1", "IND"));
  CHECK_FALSE(WhitelistCovers(e, "R9", "T2", dir, "S1", "IND"));
  CHECK_FALSE(WhitelistCovers(e, "R9", "T1", dir, "C1", "IND"));
  CHECK_FALSE(WhitelistCovers(e, "R9", "T1", dir, "S1", "OTHER"));
  REQUIRE(CheckWhitelistEntry(&e, now, absl::Hours(24 * 90)).code() == absl::StatusCode::kInvalidArgument);
  e.mutable_frozen_until()->set_seconds(absl::ToUnixSeconds(now + absl::Hours(24)));
  REQUIRE(CheckWhitelistEntry(&e, now, absl::Hours(24 * 90)).ok());
  CHECK(e.frozen_from().seconds() == absl::ToUnixSeconds(now));  // from now unless said
  const std::vector<v1::WhitelistEntry> entries = {e};
  CHECK(Whitelisted(entries, now, "R9", "T1", dir, "S2", "IND"));
  CHECK(Whitelisted(entries, now + absl::Hours(23), "R9", "T1", dir, "S2", "IND"));
  CHECK_FALSE(Whitelisted(entries, now + absl::Hours(24), "R9", "T1", dir, "S2", "IND"));  // expired
  CHECK_FALSE(Whitelisted(entries, now - absl::Seconds(1), "R9", "T1", dir, "S2", "IND"));  // not yet
  const absl::Status too_long = CheckWhitelistEntry(&e, now, absl::Hours(12));
  CHECK(std::string(too_long.message()).find("entry.frozen_until") == 0);
  e.set_rule_code("R9");
  CHECK(std::string(CheckWhitelistEntry(&e, now, absl::Hours(48)).message()).find("entry.rule_code") == 0);
}

TEST_CASE("Timer rules are due after their indicators' deadlines, judged by days overdue", "[monitor]") {
  const DirectorySnapshot dir = Tree();
  v1::Rule missing = Rule(v1::RULE_KIND_MISSING, {10, 3, 0});
  missing.clear_indicator_codes();
  missing.add_indicator_codes("SOLD");
  missing.add_unit_types(v1::UNIT_TYPE_SUPPLY_STATION);
  const Period march = *Period::Parse("2026-03");
  // SOLD may come in up to 3 days after the month: due at the start of April 4th.
  const absl::Time due = absl::FromCivil(absl::CivilDay(2026, 4, 4), absl::UTCTimeZone());
  CHECK(RuleDeadline(missing, dir, march) == due);
  CHECK(LatestDuePeriod(missing, dir, due - absl::Seconds(1)).key() == "2026-02");
  CHECK(LatestDuePeriod(missing, dir, due).key() == "2026-03");
  std::vector<v1::MissingValue> owed(3);
  for (auto& [m, unit] : std::vector<std::pair<v1::MissingValue*, std::string>>{
           {&owed[0], "S1"}, {&owed[1], "S2"}, {&owed[2], "D1"}}) {
    m->set_unit_code(unit);
    m->set_indicator_code("SOLD");
    m->mutable_deadline()->set_seconds(absl::ToUnixSeconds(due));
  }
  int days_max = 0;
  auto verdicts = MissingVerdicts(missing, dir, owed, march, due + absl::Hours(24 * 4 + 1), &days_max);
  CHECK(days_max == 4);
  REQUIRE(verdicts.size() == 2);  // D1 is no station
  CHECK(verdicts["S1"].verdict.level == 2);
  CHECK(verdicts["S1"].verdict.message == "SOLD for 2026-03 is 4 day(s) overdue (level 2)");
  verdicts = MissingVerdicts(missing, dir, owed, march, due + absl::Hours(24 * 11), &days_max);
  CHECK(verdicts["S2"].verdict.level == 1);
  // One open event escalates, the other opens; an event of a unit no longer owing resolves.
  const std::map<std::string, OpenEvent> open = {{"S1", {2}}, {"S9", {3}}};
  const auto changes = TimerChanges(missing, march, verdicts, open);
  REQUIRE(changes.size() == 3);
  CHECK(changes[0].unit_code == "S1");
  CHECK(changes[0].change == Change::kEscalate);
  CHECK(changes[1].change == Change::kOpen);
  CHECK(changes[2].unit_code == "S9");
  CHECK(changes[2].change == Change::kResolve);
  CHECK(changes[2].keep_observed);
}

TEST_CASE("Consistency verdicts compare a parent with the complete roll-up of its children", "[monitor]") {
  const DirectorySnapshot dir = Tree();
  v1::Rule rule = Rule(v1::RULE_KIND_QUALITY_CONSISTENCY, {15, 5});
  rule.clear_indicator_codes();
  rule.add_indicator_codes("SOLD");
  auto verdicts = ConsistencyVerdicts(rule, dir, {{{"SOLD", "D1"}, 100}, {{"SOLD", "S1"}, 40}, {{"SOLD", "S2"}, 45}});
  REQUIRE(verdicts.count("D1") == 1);
  CHECK(verdicts["D1"].verdict.level == 1);
  CHECK(verdicts["D1"].verdict.message.find("children add up to 85") != std::string::npos);
  // Without every child's value there is nothing to compare.
  verdicts = ConsistencyVerdicts(rule, dir, {{{"SOLD", "D1"}, 100}, {{"SOLD", "S1"}, 40}});
  CHECK(verdicts.empty());
}

TEST_CASE("Backtests judge a draft rule's periods from the values given, with the history it needs", "[monitor]") {
  const DirectorySnapshot dir = Tree();
  v1::Rule change = Rule(v1::RULE_KIND_PERIOD_CHANGE, {20, 10});
  change.add_unit_types(v1::UNIT_TYPE_SUPPLY_STATION);
  const std::map<std::string, std::map<std::string, double>> series = {
      {"S1", {{"2025-12", 100}, {"2026-01", 85}, {"2026-02", 60}}},
      {"D1", {{"2026-01", 10}, {"2026-02", 1}}},
      {"S2", {{"2025-12", 0}, {"2026-01", 30}, {"2026-02", 30}}}};
  const BacktestResult result =
      Backtest(change, Facts(kUp), dir, series, *Period::Parse("2026-01"), *Period::Parse("2026-02"));
  CHECK(result.evaluated == 3);  // D1 is no station; December is history only
  const auto& events = result.events;
  REQUIRE(events.size() == 2);
  CHECK(events[0].period().key() == "2026-01");
  CHECK(events[0].level() == 2);  // 15 % worse
  CHECK(events[1].level() == 1);  // 29 % worse
  CHECK(events[1].unit_code() == "S1");
  CHECK(events[1].state() == v1::EVENT_STATE_OPEN);
  // S2's January follows a zero: not judged, and the output says why.
  CHECK(result.not_judged_count == 1);
  REQUIRE(result.not_judged.size() == 1);
  CHECK(result.not_judged[0].unit_code() == "S2");
  CHECK(result.not_judged[0].period().key() == "2026-01");
  CHECK(result.not_judged[0].reason().find("previous period's value is 0") != std::string::npos);
}

TEST_CASE("Notifications say which events, in a JSON body written by a library", "[monitor]") {
  v1::Rule rule = Rule(v1::RULE_KIND_STATIC_THRESHOLD, {80, 90});
  rule.mutable_levels(1)->clear_actions();
  CHECK(NotifiesAt(rule, 1));
  CHECK_FALSE(NotifiesAt(rule, 2));
  CHECK_FALSE(NotifiesAt(rule, 3));
  const std::vector<NotifiedEvent> events = {{7, "R1", "2026-03", "value 70 is below \"80\"\n", 1},
                                             {9, "R1", "2026-04", "电费回收率低", 2}};
  const std::string text = NotificationText("S1", events);
  CHECK(text == "【稽查监控】S1 2 warning(s): [L1] value 70 is below \"80\"\n; [L2] 电费回收率低;");
  const auto body = nlohmann::json::parse(NotificationBody("aw-1-13800000001", "sms", "13800000001", "S1", text, events));
  CHECK(body["idempotency_key"] == "aw-1-13800000001");
  CHECK(body["text"] == text);
  REQUIRE(body["events"].size() == 2);
  CHECK(body["events"][0]["id"] == 7);
  CHECK(body["events"][0]["level"] == 1);
  CHECK(body["events"][1]["message"] == "电费回收率低");
}

v1::Rule TheftRule() { return aw::testing::MakeTheftRule("THEFT", "T-THEFT"); }

TEST_CASE("A theft-suspicion rule has levels 1 to 3 as falling score cut-offs, no indicator, and no action at level 3",
          "[monitor][theft]") {
  v1::Rule r = TheftRule();
  REQUIRE(ValidateRule(r, {}).ok());
  CHECK(TheftCutoffs(r) == std::array<double, 3>{0.9, 0.75, 0.5});

  v1::Rule bad = r;
  bad.add_indicator_codes("RATE");
  CHECK(std::string(ValidateRule(bad, {}).message()).find("indicator_codes") != std::string::npos);
  bad = r;
  bad.mutable_levels(1)->set_threshold(0.95);  // level 2 above level 1
  auto s = ValidateRule(bad, {});
  CHECK(s.code() == absl::StatusCode::kInvalidArgument);
  CHECK(std::string(s.message()).find("levels[level 2].threshold") != std::string::npos);
  bad = r;
  bad.mutable_levels(0)->set_threshold(1.5);
  CHECK(std::string(ValidateRule(bad, {}).message()).find("between 0 and 1") != std::string::npos);
  bad = r;
  bad.mutable_levels(2)->add_actions(v1::WARNING_ACTION_ONLINE_AUDIT);
  CHECK(std::string(ValidateRule(bad, {}).message()).find("levels[level 3].actions") != std::string::npos);
  bad = r;
  bad.mutable_levels()->RemoveLast();
  CHECK(std::string(ValidateRule(bad, {}).message()).find("levels 1, 2 and 3") != std::string::npos);
}

TEST_CASE("An analysis opens one event per suspect at levels 1-2, keeps an open one in its period, and resolves the rest",
          "[monitor][theft]") {
  const v1::Rule rule = TheftRule();
  const std::vector<TheftVerdict> suspects = {
      {.customer = "C1", .station = "S1", .level = 1, .score = 0.95, .message = "drop"},
      {.customer = "C2", .station = "S1", .level = 2, .score = 0.8, .message = "zeros"},
      {.customer = "C3", .station = "S2", .level = 1, .score = 0.97, .message = "flat"},
      {.customer = "C4", .station = "S2", .level = 3, .score = 0.6, .message = "weak"},  // no event at level 3
  };
  // C2 has an event from February at level 1; C9's event is no longer deserved.
  std::vector<OpenTheftEvent> open = {
      {.unit_code = "S1", .period_key = "2026-02", .subject = "C2", .event = {1, 0.92, 0.9, OpenEvent::Hash("x")}},
      {.unit_code = "S2", .period_key = "2026-02", .subject = "C9", .event = {2, 0.8, 0.75, OpenEvent::Hash("y")}},
  };
  const TheftEventPlan plan = PlanTheftEvents(
      rule, "2026-03", suspects, open, [](const TheftVerdict& v) { return v.customer == "C3"; }, 7);
  REQUIRE(plan.updates.size() == 4);
  CHECK(plan.opened == 1);
  CHECK(plan.suppressed == 1);
  CHECK(plan.resolved == 1);

  const EventUpdate& c1 = plan.updates[0];
  CHECK(c1.change == Change::kOpen);
  CHECK(c1.subject == "C1");
  CHECK(c1.unit_code == "S1");
  CHECK(c1.period_key == "2026-03");
  CHECK(c1.indicator_code.empty());
  CHECK(c1.verdict.level == 1);
  CHECK(c1.verdict.observed == 0.95);
  CHECK(c1.verdict.threshold == 0.9);
  CHECK_FALSE(c1.suppressed);

  const EventUpdate& c2 = plan.updates[1];
  CHECK(c2.change == Change::kDeescalate);  // level 1 → 2, in the event it has
  CHECK(c2.period_key == "2026-02");
  CHECK(c2.verdict.threshold == 0.75);

  const EventUpdate& c3 = plan.updates[2];
  CHECK(c3.change == Change::kOpen);
  CHECK(c3.suppressed);  // whitelisted

  const EventUpdate& c9 = plan.updates[3];
  CHECK(c9.change == Change::kResolve);
  CHECK(c9.subject == "C9");
  CHECK(c9.unit_code == "S2");
  CHECK(c9.keep_observed);
  CHECK(c9.verdict.message.find("analysis 7") != std::string::npos);

  // The same verdicts again, their events as they now stand: nothing changes.
  std::vector<OpenTheftEvent> now;
  for (const EventUpdate& u : plan.updates) {
    if (u.change == Change::kResolve) continue;
    now.push_back({.unit_code = u.unit_code, .period_key = u.period_key, .subject = u.subject,
                   .event = AfterUpdate(u)});
  }
  CHECK(PlanTheftEvents(rule, "2026-04", suspects, now, [](const TheftVerdict&) { return false; }, 8)
            .updates.empty());
  // A score that moved within its level changes nothing; a level that moved does.
  std::vector<TheftVerdict> moved = suspects;
  moved[0].score = 0.96;
  moved[0].message = "drop, a little more";
  moved[2].level = 2;
  moved[2].score = 0.8;
  const TheftEventPlan next =
      PlanTheftEvents(rule, "2026-04", moved, now, [](const TheftVerdict&) { return false; }, 9);
  REQUIRE(next.updates.size() == 1);
  CHECK(next.updates[0].subject == "C3");
  CHECK(next.updates[0].change == Change::kDeescalate);
  CHECK(next.updates[0].period_key == "2026-03");
  CHECK(next.updates[0].comment.find("analysis 9") != std::string::npos);
}

}  // namespace
}  // namespace aw::monitor
