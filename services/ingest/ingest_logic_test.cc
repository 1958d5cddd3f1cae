#include "services/ingest/ingest_logic.h"

#include <cmath>
#include <limits>

#include <catch2/catch.hpp>


namespace aw::ingest {
namespace {

absl::CivilDay Day(int y, int m, int d) { return absl::CivilDay(y, m, d); }

// A small tree: province P → city C1 → district D1 → stations S1 (active) and
// S2 (deactivated from 2026-07-01); indicator RATE (%, monthly, stations only)
// and VOL (sum, monthly and yearly, any unit).
Catalogue TestCatalogue() {
  Catalogue c;
  auto unit = [&](int id, std::string code, v1::UnitType type, int parent) {
    UnitInfo u;
    u.id = id;
    u.code = std::move(code);
    u.type = type;
    UnitVersion v;
    v.revision = 1;
    v.valid_from = Day(2020, 1, 1);
    v.name = u.code;
    v.parent_id = parent;
    u.versions.push_back(v);
    return u;
  };
  c.AddUnit(unit(1, "P", v1::UNIT_TYPE_PROVINCE, 0));
  c.AddUnit(unit(2, "C1", v1::UNIT_TYPE_CITY_BUREAU, 1));
  c.AddUnit(unit(3, "D1", v1::UNIT_TYPE_DISTRICT_BUREAU, 2));
  c.AddUnit(unit(4, "S1", v1::UNIT_TYPE_SUPPLY_STATION, 3));
  UnitInfo s2 = unit(5, "S2", v1::UNIT_TYPE_SUPPLY_STATION, 3);
  s2.versions[0].valid_to = Day(2026, 7, 1);
  UnitVersion gone = s2.versions[0];
  gone.revision = 2;
  gone.valid_from = Day(2026, 7, 1);
  gone.valid_to.reset();
  gone.active = false;
  s2.versions.push_back(gone);
  c.AddUnit(s2);

  IndicatorInfo rate;
  rate.id = 10;
  rate.code = "RATE";
  v1::Indicator def;
  def.set_code("RATE");
  def.set_effective_year(2020);
  def.add_allowed_period_types(v1::PERIOD_TYPE_MONTH);
  def.add_applicable_unit_types(v1::UNIT_TYPE_SUPPLY_STATION);
  def.set_min_value(0);
  def.set_max_value(100);
  def.set_rollup(v1::ROLLUP_RULE_NONE);
  def.set_enabled(true);
  rate.versions.push_back(def);
  c.AddIndicator(rate);

  IndicatorInfo vol;
  vol.id = 11;
  vol.code = "VOL";
  def.set_code("VOL");
  def.clear_applicable_unit_types();
  def.add_allowed_period_types(v1::PERIOD_TYPE_YEAR);
  def.set_max_value(1e9);
  def.set_rollup(v1::ROLLUP_RULE_SUM);
  vol.versions.push_back(def);
  def.set_effective_year(2027);  // disabled from 2027 on
  def.set_enabled(false);
  vol.versions.push_back(def);
  c.AddIndicator(vol);
  c.Finish();
  return c;
}

v1::ReadingInput Row(std::string unit, std::string indicator, std::string period, double value) {
  v1::ReadingInput r;
  r.set_unit_code(std::move(unit));
  r.set_indicator_code(std::move(indicator));
  r.mutable_period()->set_key(std::move(period));
  r.set_value(value);
  r.set_entered_by("tester");
  return r;
}

TEST_CASE("Every kind of bad row gets its own code and field, good rows are kept", "[ingest]") {
  const Catalogue c = TestCatalogue();
  google::protobuf::RepeatedPtrField<v1::ReadingInput> rows;
  *rows.Add() = Row("S1", "RATE", "2026-03", 97.5);                                  // 0 ok
  *rows.Add() = Row("", "RATE", "2026-03", 1);                                       // 1
  *rows.Add() = Row("S1", "RATE", "2026-3", 1);                                      // 2
  *rows.Add() = Row("NOPE", "RATE", "2026-03", 1);                                   // 3
  *rows.Add() = Row("S2", "RATE", "2026-08", 1);                                     // 4
  *rows.Add() = Row("S1", "NOPE", "2026-03", 1);                                     // 5
  *rows.Add() = Row("S1", "VOL", "2027-01", 1);                                      // 6
  *rows.Add() = Row("S1", "RATE", "2026-Q1", 1);                                     // 7
  *rows.Add() = Row("D1", "RATE", "2026-03", 1);                                     // 8
  *rows.Add() = Row("S1", "RATE", "2026-04", std::numeric_limits<double>::quiet_NaN());  // 9
  *rows.Add() = Row("S1", "RATE", "2026-05", 100.5);                                 // 10
  *rows.Add() = Row("S1", "RATE", "2026-03", 98);                                    // 11 dup of 0
  *rows.Add() = Row("S1", "VOL", "2026-12", 5);                                      // 12 future
  *rows.Add() = Row("S2", "RATE", "2026-06", 99);                                    // 13 ok
  rows.Mutable(2)->mutable_period()->set_key("2026-3");
  const Validation v = ValidateRows(c, rows, {.today = Day(2026, 11, 26), .max_future_days = 0});
  REQUIRE(v.rows.size() == 2);
  CHECK(v.rows[0].index == 0);
  CHECK(v.rows[0].unit_id == 4);
  CHECK(v.rows[0].period.key() == "2026-03");
  CHECK(v.rows[1].index == 13);
  const std::vector<std::pair<std::string, std::string>> expected = {
      {kMissingField, "unit_code"},           {kInvalidPeriod, "period"},
      {kUnknownUnit, "unit_code"},            {kUnitInactive, "unit_code"},
      {kUnknownIndicator, "indicator_code"},  {kIndicatorDisabled, "indicator_code"},
      {kPeriodTypeNotAllowed, "period.type"}, {kUnitTypeNotApplicable, "unit_code"},
      {kNotFinite, "value"},                  {kOutOfRange, "value"},
      {kDuplicateInBatch, "period.key"},      {kFuturePeriod, "period.key"}};
  REQUIRE(v.errors.size() == expected.size());
  for (size_t i = 0; i < expected.size(); ++i) {
    INFO(v.errors[i].message());
    CHECK(v.errors[i].index() == static_cast<int>(i) + 1);
    CHECK(v.errors[i].code() == expected[i].first);
    CHECK(v.errors[i].field() == expected[i].second);
    CHECK_FALSE(v.errors[i].message().empty());
  }
  CHECK(v.errors[9].message().find("[0, 100]") != std::string::npos);
  CHECK(v.errors[10].message().find("row 0") != std::string::npos);
}

TEST_CASE("Catalogue answers tree questions as of a date", "[ingest]") {
  Catalogue c = TestCatalogue();
  const UnitInfo* s2 = c.FindUnit("S2");
  CHECK(s2->AsOf(Day(2026, 6, 30))->active);
  CHECK_FALSE(s2->AsOf(Day(2026, 7, 1))->active);
  CHECK(c.SubtreeAsOf(c.FindUnit("D1"), Day(2026, 6, 1), false).size() == 3);
  CHECK(c.SubtreeAsOf(c.FindUnit("D1"), Day(2026, 8, 1), false).size() == 2);
  CHECK(c.SubtreeAsOf(c.FindUnit("D1"), Day(2026, 8, 1), true).size() == 3);
  CHECK(c.SubtreeAsOf(nullptr, Day(2026, 8, 1), false).size() == 4);
  const auto path = c.PathAsOf(*c.FindUnit("S1"), Day(2026, 1, 1));
  REQUIRE(path.size() == 4);
  CHECK(path.front()->code == "P");
  CHECK(path.back()->code == "S1");
  CHECK(c.PathAsOf(*c.FindUnit("S1"), Day(2019, 1, 1)).empty());  // did not exist yet
  v1::Unit proto;
  REQUIRE(c.ToProto(*c.FindUnit("S1"), Day(2026, 1, 1), &proto));
  CHECK(proto.parent_code() == "D1");
  CHECK(proto.path_size() == 4);
  CHECK(proto.valid_from() == "2020-01-01");
  CHECK(c.FindIndicator("VOL")->InYear(2026)->enabled());
  CHECK_FALSE(c.FindIndicator("VOL")->InYear(2027)->enabled());
  CHECK(c.FindIndicator("VOL")->InYear(2019) == nullptr);
}

TEST_CASE("Units sit only under the right kind of parent", "[ingest]") {
  CHECK(CheckParentType(v1::UNIT_TYPE_PROVINCE, v1::UNIT_TYPE_UNSPECIFIED).ok());
  CHECK(CheckParentType(v1::UNIT_TYPE_CITY_BUREAU, v1::UNIT_TYPE_PROVINCE).ok());
  CHECK(CheckParentType(v1::UNIT_TYPE_COUNTY_COMPANY, v1::UNIT_TYPE_CITY_BUREAU).ok());
  CHECK(CheckParentType(v1::UNIT_TYPE_SUPPLY_STATION, v1::UNIT_TYPE_DISTRICT_BUREAU).ok());
  CHECK(CheckParentType(v1::UNIT_TYPE_METERING_CENTRE, v1::UNIT_TYPE_PROVINCE).ok());
  const absl::Status bad = CheckParentType(v1::UNIT_TYPE_SUPPLY_STATION, v1::UNIT_TYPE_CITY_BUREAU);
  CHECK(bad.code() == absl::StatusCode::kInvalidArgument);
  CHECK(std::string(bad.message()).find("parent_code") == 0);
  CHECK_FALSE(CheckParentType(v1::UNIT_TYPE_CITY_BUREAU, v1::UNIT_TYPE_UNSPECIFIED).ok());
  CHECK_FALSE(CheckParentType(v1::UNIT_TYPE_PROVINCE, v1::UNIT_TYPE_PROVINCE).ok());
  CHECK_FALSE(CheckParentType(v1::UNIT_TYPE_UNSPECIFIED, v1::UNIT_TYPE_PROVINCE).ok());
}

TEST_CASE("Indicator definitions are validated field by field", "[ingest]") {
  v1::Indicator ok;
  ok.set_code("BIL-01");
  ok.set_name_zh("电费回收率");
  ok.set_category(v1::BUSINESS_CATEGORY_BILLING);
  ok.set_kind(v1::INDICATOR_KIND_SYSTEM);
  ok.set_direction(v1::DIRECTION_HIGHER_IS_BETTER);
  ok.add_allowed_period_types(v1::PERIOD_TYPE_MONTH);
  ok.set_min_value(0);
  ok.set_max_value(100);
  ok.set_unit_of_measure("%");
  ok.set_rollup(v1::ROLLUP_RULE_NONE);
  ok.set_effective_year(2026);
  REQUIRE(ValidateIndicator(ok).ok());
  auto field_of = [](const v1::Indicator& i) {
    const absl::Status s = ValidateIndicator(i);
    REQUIRE(s.code() == absl::StatusCode::kInvalidArgument);
    return std::string(s.message().substr(0, s.message().find(':')));
  };
  v1::Indicator bad = ok;
  bad.set_code("a b");
  CHECK(field_of(bad) == "indicator.code");
  bad = ok;
  bad.set_min_value(200);
  CHECK(field_of(bad) == "indicator.max_value");
  bad = ok;
  bad.set_rollup(v1::ROLLUP_RULE_MEAN);
  CHECK(field_of(bad) == "indicator.rollup");  // rates are never averaged
  bad = ok;
  bad.clear_allowed_period_types();
  CHECK(field_of(bad) == "indicator.allowed_period_types");
  bad = ok;
  bad.set_direction(v1::DIRECTION_UNSPECIFIED);
  CHECK(field_of(bad) == "indicator.direction");
}

TEST_CASE("Pull schedules fall after the period by the offset, at the time of day", "[ingest]") {
  const Period feb = *Period::Parse("2026-02");
  const absl::Time due = PullDueTime(feb, 3, absl::Hours(2));
  CHECK(absl::FormatTime("%Y-%m-%d %H:%M", due, absl::UTCTimeZone()) == "2026-03-03 02:00");
  const absl::Time now = absl::FromCivil(absl::CivilSecond(2026, 3, 10, 12, 0, 0), absl::UTCTimeZone());
  CHECK(FirstPullPeriod(PeriodType::kMonth, now).key() == "2026-02");
  CHECK(FirstPullPeriod(PeriodType::kQuarter, now).key() == "2025-Q4");
  CHECK(*ParseTimeOfDay("02:30") == absl::Hours(2) + absl::Minutes(30));
  CHECK_FALSE(ParseTimeOfDay("24:00").ok());
  CHECK_FALSE(ParseTimeOfDay("2:30").ok());
}

TEST_CASE("Feed sequences order by commit, then by row", "[ingest]") {
  CHECK(FeedSeq(1, 0) < FeedSeq(1, 499));
  CHECK(FeedSeq(1, kMaxBatchRows) < FeedSeq(2, 0));
  CHECK(CommitSeqOf(FeedSeq(77, 12)) == 77);
  CHECK(IndexOf(FeedSeq(77, 12)) == 12);
}

}  // namespace
}  // namespace aw::ingest
