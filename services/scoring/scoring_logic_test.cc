#include "services/scoring/scoring_logic.h"

#include <catch2/catch.hpp>

namespace aw::scoring {
namespace {

using Catch::Matchers::Contains;

v1::SchemeItem Item(const std::string& code, v1::IndicatorClass cls, double base, double full, double points,
                    std::vector<v1::UnitType> types = {v1::UNIT_TYPE_SUPPLY_STATION}) {
  v1::SchemeItem it;
  it.set_indicator_code(code);
  it.set_class_(cls);
  for (auto t : types) it.add_unit_types(t);
  it.set_base_value(base);
  it.set_full_score_value(full);
  it.set_direction(full > base ? v1::DIRECTION_HIGHER_IS_BETTER : v1::DIRECTION_LOWER_IS_BETTER);
  it.set_points(points);
  it.set_enabled(true);
  return it;
}

v1::Scheme BaseScheme() {
  v1::Scheme s;
  s.set_year(2026);
  s.set_name("2026 评价方案");
  s.set_bonus_cap(3);
  *s.add_items() = Item("M1", v1::INDICATOR_CLASS_MAIN, 90, 100, 10);   // higher is better
  *s.add_items() = Item("M2", v1::INDICATOR_CLASS_MAIN, 5, 1, 30);      // lower is better
  *s.add_items() = Item("P1", v1::INDICATOR_CLASS_PROCESS, 80, 100, 20);
  return Normalised(s);
}

ReadingIn Reading(const std::string& unit, const std::string& code, double value, int64_t seq = 1) {
  ReadingIn r{.unit = unit, .indicator = code, .value = value};
  r.ref.set_seq(seq);
  r.ref.set_version(1);
  return r;
}

const v1::Evaluation& Of(const Outcome& o, const std::string& unit) {
  for (const auto& e : o.evaluations) {
    if (e.unit_code() == unit) return e;
  }
  FAIL("no evaluation of " << unit);
  throw;
}

Inputs Tree(v1::Scheme scheme) {
  Inputs in;
  in.period.set_type(v1::PERIOD_TYPE_MONTH);
  in.period.set_key("2026-03");
  in.scheme = std::move(scheme);
  in.units = {{"D1", "", v1::UNIT_TYPE_COUNTY_COMPANY},
              {"S1", "D1", v1::UNIT_TYPE_SUPPLY_STATION},
              {"S2", "D1", v1::UNIT_TYPE_SUPPLY_STATION},
              {"S3", "D1", v1::UNIT_TYPE_SUPPLY_STATION}};
  return in;
}

TEST_CASE("The formula scores a higher-is-better value at and around every boundary", "[scoring]") {
  // base 90, full 100, 10 points, base share 60 %.
  CHECK(ScoreValue(89.999, 90, 100, 10, 0.6).score == 0);
  CHECK_FALSE(ScoreValue(89.999, 90, 100, 10, 0.6).reached_base);
  CHECK(ScoreValue(90, 90, 100, 10, 0.6).score == Approx(6).epsilon(1e-12));
  CHECK(ScoreValue(95, 90, 100, 10, 0.6).score == Approx(8).epsilon(1e-12));   // 10 × (0.6 + 0.4 × 0.5)
  CHECK(ScoreValue(99, 90, 100, 10, 0.6).score == Approx(9.6).epsilon(1e-12)); // 10 × (0.6 + 0.4 × 0.9)
  CHECK(ScoreValue(100, 90, 100, 10, 0.6).score == 10);
  CHECK(ScoreValue(100.5, 90, 100, 10, 0.6).score == 10);  // capped
  CHECK(ScoreValue(100.5, 90, 100, 10, 0.6).progress == 1);
}

TEST_CASE("The formula scores a lower-is-better value by the same rule", "[scoring]") {
  // base 5, full 1, 30 points: 3 is half way.
  CHECK(ScoreValue(5.001, 5, 1, 30, 0.6).score == 0);
  CHECK(ScoreValue(5, 5, 1, 30, 0.6).score == Approx(18).epsilon(1e-12));
  CHECK(ScoreValue(3, 5, 1, 30, 0.6).score == Approx(24).epsilon(1e-12));  // 30 × (0.6 + 0.4 × 0.5)
  CHECK(ScoreValue(3, 5, 1, 30, 0.6).progress == Approx(0.5).epsilon(1e-12));
  CHECK(ScoreValue(1, 5, 1, 30, 0.6).score == 30);
  CHECK(ScoreValue(0, 5, 1, 30, 0.6).score == 30);
  // A base share of 100 % makes the item all or nothing.
  CHECK(ScoreValue(4.9, 5, 1, 30, 1.0).score == 30);
}

TEST_CASE("A scheme that contradicts itself is refused naming the field", "[scoring]") {
  CHECK(ValidateScheme(BaseScheme()).ok());
  v1::Scheme s = BaseScheme();
  s.mutable_items(1)->set_full_score_value(9);  // lower is better, full above base
  CHECK_THAT(std::string(ValidateScheme(s).message()), Contains("scheme.items[1].full_score_value"));
  s = BaseScheme();
  s.mutable_items(0)->set_direction(v1::DIRECTION_LOWER_IS_BETTER);
  CHECK_THAT(std::string(ValidateScheme(s).message()), Contains("scheme.items[0].full_score_value"));
  s = BaseScheme();
  s.set_business_weight_percent(30);
  const absl::Status weights = ValidateScheme(s);
  CHECK(weights.code() == absl::StatusCode::kInvalidArgument);
  CHECK_THAT(std::string(weights.message()), Contains("sum to 90"));
  s = BaseScheme();
  *s.add_items() = s.items(0);
  CHECK_THAT(std::string(ValidateScheme(s).message()), Contains("scheme.items[3].indicator_code"));
  s = BaseScheme();
  s.mutable_items(2)->set_points(0);
  CHECK_THAT(std::string(ValidateScheme(s).message()), Contains("scheme.items[2].points"));
  s = BaseScheme();
  s.set_base_share_percent(120);
  CHECK_THAT(std::string(ValidateScheme(s).message()), Contains("scheme.base_share_percent"));
  s = BaseScheme();
  s.set_bonus_cap(-1);
  CHECK_THAT(std::string(ValidateScheme(s).message()), Contains("scheme.bonus_cap"));
}

TEST_CASE("Unset weights and base share take the defaults 50/10/40 and 60 %", "[scoring]") {
  v1::Scheme s;
  s = Normalised(s);
  CHECK(s.main_weight_percent() == 50);
  CHECK(s.process_weight_percent() == 10);
  CHECK(s.business_weight_percent() == 40);
  CHECK(s.base_share_percent() == 60);
  CHECK(s.missing_value_policy() == v1::MISSING_VALUE_POLICY_ZERO);
}

TEST_CASE("The composite weighs normalised main, process and business totals", "[scoring]") {
  Inputs in = Tree(BaseScheme());
  // S1: M1 95 → 8 of 10; M2 3 → 24 of 30; P1 90 → 20 × 0.8 = 16 of 20.
  in.readings = {Reading("S1", "M1", 95), Reading("S1", "M2", 3), Reading("S1", "P1", 90)};
  DeductionIn business{.id = 7, .unit = "S1", .type = v1::DEDUCTION_TYPE_BUSINESS, .points = 12.5, .work_order_id = 70};
  DeductionIn direct{.id = 8, .unit = "S1", .type = v1::DEDUCTION_TYPE_DIRECT, .points = 2, .incident_id = 80};
  in.deductions = {direct, business};
  in.bonuses = {{.id = 1, .unit = "S1", .points = 1.5, .reason = "表彰", .approved_by = "centre"}};
  Canonicalise(in);
  const Outcome o = Evaluate(in);
  const v1::Evaluation& s1 = Of(o, "S1");
  // main = 100 × 32/40 = 80; process = 100 × 16/20 = 80; business = 100 − 12.5.
  CHECK(s1.main().total() == Approx(80).epsilon(1e-12));
  CHECK(s1.process().total() == Approx(80).epsilon(1e-12));
  CHECK(s1.business().total() == 87.5);
  // 80 × 0.5 + 80 × 0.1 + 87.5 × 0.4 − 2 + 1.5 = 82.5
  CHECK(s1.composite() == Approx(82.5).epsilon(1e-12));
  REQUIRE(s1.business_deductions_size() == 1);
  CHECK(s1.business_deductions(0).work_order_id() == 70);
  REQUIRE(s1.direct_size() == 1);
  CHECK(s1.direct(0).incident_id() == 80);
  CHECK(s1.bonus() == 1.5);
  // M2 costs 50 × 6/40 = 7.5 composite points, M1 50 × 2/40 = 2.5, P1 10 × 4/20 = 2.
  const auto weakest = WeakestItems(s1, 2);
  REQUIRE(weakest.size() == 2);
  CHECK(weakest[0].indicator_code() == "M2");
  CHECK(weakest[0].composite_loss() == Approx(7.5).epsilon(1e-12));
  CHECK(weakest[1].indicator_code() == "M1");
  CHECK(weakest[1].composite_loss() == Approx(2.5).epsilon(1e-12));
}

TEST_CASE("A missing value scores zero and is flagged, or is left out by policy", "[scoring]") {
  Inputs in = Tree(BaseScheme());
  in.readings = {Reading("S1", "M1", 100), Reading("S1", "P1", 100)};  // M2 missing
  Canonicalise(in);
  Outcome o = Evaluate(in);
  CHECK(Of(o, "S1").missing_values() == 1);
  CHECK(Of(o, "S1").main().total() == Approx(25).epsilon(1e-12));  // 10 of 40
  CHECK(o.missing_values == 3 * 3 - 2);  // S2, S3 report nothing
  in.scheme.set_missing_value_policy(v1::MISSING_VALUE_POLICY_EXCLUDE);
  o = Evaluate(in);
  CHECK(Of(o, "S1").main().total() == 100);  // 10 of 10
  CHECK(Of(o, "S1").missing_values() == 1);
  // A unit with no value at all has no main or process part left.
  CHECK_FALSE(Of(o, "S2").main().present());
  CHECK(Of(o, "S2").composite() == 100);  // business alone, weight scaled to 100 %
}

TEST_CASE("A unit's own selection normalises over the indicators it has", "[scoring]") {
  Inputs in = Tree(BaseScheme());
  in.readings = {Reading("S1", "M1", 95), Reading("S1", "M2", 3), Reading("S1", "P1", 90),
                 Reading("S2", "M1", 95), Reading("S2", "M2", 3), Reading("S2", "P1", 90)};
  in.selections["S2"] = {"M2", "P1"};
  Canonicalise(in);
  const Outcome o = Evaluate(in);
  CHECK(Of(o, "S1").main().total() == Approx(80).epsilon(1e-12));
  CHECK(Of(o, "S2").indicators_size() == 2);
  CHECK(Of(o, "S2").main().total() == Approx(80).epsilon(1e-12));  // 24 of 30
  CHECK(Of(o, "S2").main().possible() == 30);
}

TEST_CASE("An empty class drops out and the remaining weights scale up", "[scoring]") {
  v1::Scheme s = BaseScheme();
  s.mutable_items()->DeleteSubrange(2, 1);  // no process indicator
  Inputs in = Tree(s);
  in.readings = {Reading("S1", "M1", 95), Reading("S1", "M2", 3)};
  Canonicalise(in);
  const v1::Evaluation& s1 = Of(Evaluate(in), "S1");
  CHECK_FALSE(s1.process().present());
  CHECK(s1.main().applied_weight_percent() == Approx(50.0 / 0.9).epsilon(1e-12));
  CHECK(s1.business().applied_weight_percent() == Approx(40.0 / 0.9).epsilon(1e-12));
  // (80 × 50 + 100 × 40) / 90
  CHECK(s1.composite() == Approx(8000.0 / 90).epsilon(1e-12));
}

TEST_CASE("A parent's business total is the mean of its subordinates' and direct deductions stay put",
          "[scoring]") {
  Inputs in = Tree(BaseScheme());
  in.deductions = {{.id = 1, .unit = "S1", .type = v1::DEDUCTION_TYPE_BUSINESS, .points = 30},
                   {.id = 2, .unit = "S2", .type = v1::DEDUCTION_TYPE_BUSINESS, .points = 130},  // floor 0
                   {.id = 3, .unit = "S3", .type = v1::DEDUCTION_TYPE_DIRECT, .points = 4},
                   {.id = 4, .unit = "D1", .type = v1::DEDUCTION_TYPE_DIRECT, .points = 1}};
  Canonicalise(in);
  const Outcome o = Evaluate(in);
  CHECK(Of(o, "S1").business().total() == 70);
  CHECK(Of(o, "S2").business().total() == 0);
  CHECK(Of(o, "S3").business().total() == 100);
  CHECK(Of(o, "S3").direct_deductions() == 4);
  const v1::Evaluation& d1 = Of(o, "D1");
  CHECK(d1.business().total() == Approx(170.0 / 3).epsilon(1e-12));
  CHECK(d1.children_size() == 3);
  CHECK(d1.direct_deductions() == 1);  // S3's do not reach its parent
  CHECK(d1.composite() == Approx(170.0 / 3 - 1).epsilon(1e-12));  // business alone for a county here
}

TEST_CASE("Bonus points count up to the scheme's cap", "[scoring]") {
  Inputs in = Tree(BaseScheme());
  in.bonuses = {{.id = 1, .unit = "S1", .points = 2}, {.id = 2, .unit = "S1", .points = 2.5}};
  Canonicalise(in);
  const v1::Evaluation& s1 = Of(Evaluate(in), "S1");
  CHECK(s1.bonus_granted() == 4.5);
  CHECK(s1.bonus() == 3);
  CHECK(s1.bonuses_size() == 2);
}

TEST_CASE("Competition ranking shares a rank within 1e-9 and skips after a tie", "[scoring]") {
  CHECK(CompetitionRanks({90, 95, 90, 80}) == std::vector<int>{2, 1, 2, 4});
  CHECK(CompetitionRanks({90, 90 + 5e-10, 90 - 5e-10, 89}) == std::vector<int>{1, 1, 1, 4});
  CHECK(CompetitionRanks({90, 90 + 2e-9}) == std::vector<int>{2, 1});
  CHECK(Percentile(1, 5) == 100);
  CHECK(Percentile(5, 5) == 0);
  CHECK(Percentile(2, 5) == 75);
  CHECK(Percentile(1, 1) == 100);
}

TEST_CASE("Siblings are ranked among their own type under their parent", "[scoring]") {
  Inputs in = Tree(BaseScheme());
  in.deductions = {{.id = 1, .unit = "S1", .type = v1::DEDUCTION_TYPE_DIRECT, .points = 1},
                   {.id = 2, .unit = "S3", .type = v1::DEDUCTION_TYPE_DIRECT, .points = 1}};
  Canonicalise(in);
  const Outcome o = Evaluate(in);
  CHECK(Of(o, "S2").rank() == 1);
  CHECK(Of(o, "S1").rank() == 2);
  CHECK(Of(o, "S3").rank() == 2);
  CHECK(Of(o, "S3").ranked() == 3);
  CHECK(Of(o, "D1").rank() == 1);
}

TEST_CASE("Equal inputs in another order give the same figures to the last bit", "[scoring]") {
  Inputs a = Tree(BaseScheme());
  a.readings = {Reading("S1", "M1", 95.3), Reading("S2", "M2", 2.7), Reading("S1", "P1", 91.1, 9),
                Reading("S3", "M1", 99.9)};
  a.deductions = {{.id = 1, .unit = "S1", .type = v1::DEDUCTION_TYPE_BUSINESS, .points = 0.3},
                  {.id = 2, .unit = "S2", .type = v1::DEDUCTION_TYPE_BUSINESS, .points = 0.1}};
  Inputs b = a;
  std::reverse(b.readings.begin(), b.readings.end());
  std::reverse(b.deductions.begin(), b.deductions.end());
  std::reverse(b.units.begin(), b.units.end());
  Canonicalise(a);
  Canonicalise(b);
  CHECK(InputsDigest(a) == InputsDigest(b));
  CHECK(ResultsDigest(Evaluate(a)) == ResultsDigest(Evaluate(b)));
  b.readings[0].ref.set_version(2);  // another version of a reading is another input
  CHECK(InputsDigest(a) != InputsDigest(b));
  b.readings[0].ref.set_version(1);
  b.readings[0].value += 1e-12;
  CHECK(ResultsDigest(Evaluate(a)) != ResultsDigest(Evaluate(b)));
}

TEST_CASE("Two periods compare down to each indicator", "[scoring]") {
  Inputs in = Tree(BaseScheme());
  in.readings = {Reading("S1", "M1", 95), Reading("S1", "M2", 3), Reading("S1", "P1", 90)};
  Canonicalise(in);
  const v1::Evaluation before = Of(Evaluate(in), "S1");
  in.readings[0].value = 100;  // M1 95 → 100: 8 → 10 points
  const v1::Evaluation after = Of(Evaluate(in), "S1");
  const v1::ComparePeriodsResponse c = Compare(after, before);
  REQUIRE(c.indicators_size() == 3);
  CHECK(c.indicators(0).indicator_code() == "M1");
  CHECK(c.indicators(0).value_change() == 5);
  CHECK(c.indicators(0).score_change() == Approx(2).epsilon(1e-12));
  CHECK(c.main_change() == Approx(5).epsilon(1e-12));            // 32/40 → 34/40
  CHECK(c.composite_change() == Approx(2.5).epsilon(1e-12));     // × 50 %
}

TEST_CASE("The forecast smooths the history and widens with its errors", "[scoring]") {
  CHECK_FALSE(ForecastNext({}).ok());
  // Levels 80 → 82 (err 4) → 82 (err 0) → 85 (err 6): RMS = sqrt(52/3).
  const Prediction p = *ForecastNext({80, 84, 82, 88});
  CHECK(p.point == Approx(85).epsilon(1e-12));
  CHECK(p.upper - p.point == Approx(kForecastZ * std::sqrt(52.0 / 3)).epsilon(1e-12));
  CHECK(p.point - p.lower == Approx(p.upper - p.point).epsilon(1e-12));
  const Prediction flat = *ForecastNext({70, 70});
  CHECK(flat.point == 70);
  CHECK(flat.lower == flat.upper);
  CHECK(LastValue({1, 2, 3}).point == 3);
}

}  // namespace
}  // namespace aw::scoring

namespace aw::scoring {
namespace {

TEST_CASE("A year has 14 evaluations and a value changes its own and the longer ones", "[scoring]") {
  const auto periods = EvaluationPeriods(2026);
  REQUIRE(periods.size() == 14);
  CHECK(periods.front().key() == "2026-01");
  CHECK(periods[11].key() == "2026-12");
  CHECK(periods[12].key() == "2026-H1");
  CHECK(periods[13].key() == "2026");
  CHECK(PeriodsAffectedBy(*Period::Parse("2026-08")) == std::vector<std::string>{"2026-08", "2026-H2", "2026"});
  CHECK(PeriodsAffectedBy(*Period::Parse("2026-Q1")) == std::vector<std::string>{"2026-H1", "2026"});
  CHECK(PeriodsAffectedBy(*Period::Parse("2026-03-15")) == std::vector<std::string>{"2026-03", "2026-H1", "2026"});
  CHECK(PeriodsAffectedBy(*Period::Parse("2026")) == std::vector<std::string>{"2026"});
  CHECK(PeriodsAffectedBy(*Period::Parse("2026-W09")).empty());
  // March ends on the 31st; ten whole days later (April 1st to 10th) the run starts on the 11th.
  CHECK(ScheduledAt(*Period::Parse("2026-03"), 10) == absl::FromCivil(absl::CivilDay(2026, 4, 11), absl::UTCTimeZone()));
  // Of a scheme saved on April 20th, March's evaluation has passed; April's and later are to come.
  v1::Scheme s;
  s.set_year(2026);
  s.set_evaluate_after_days(10);
  const auto schedule = ScheduleOf(s, absl::FromCivil(absl::CivilDay(2026, 4, 20), absl::UTCTimeZone()));
  REQUIRE(schedule.size() == 11);  // April … December, H1, the year
  CHECK(schedule.front().first.key() == "2026-04");
  CHECK(schedule.front().second == absl::FromCivil(absl::CivilDay(2026, 5, 11), absl::UTCTimeZone()));
  CHECK(schedule.back().first.key() == "2026");
}

}  // namespace
}  // namespace aw::scoring
