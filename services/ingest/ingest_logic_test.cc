#include "services/ingest/ingest_logic.h"

#include "services/ingest/consumption_logic.h"

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

TEST_CASE("Single writes follow the version rule of submission and correction", "[ingest]") {
  const std::string key = "S1 / RATE / 2026-03";
  CHECK(CheckSingleWrite(key, 0, false, 0).ok());
  const absl::Status again = CheckSingleWrite(key, 2, false, 0);
  CHECK(again.code() == absl::StatusCode::kAlreadyExists);
  CHECK(std::string(again.message()).find("version 2") != std::string::npos);
  CHECK(CheckSingleWrite(key, 0, true, 0).code() == absl::StatusCode::kNotFound);
  CHECK(CheckSingleWrite(key, 3, true, 0).ok());
  CHECK(CheckSingleWrite(key, 3, true, 3).ok());
  const absl::Status stale = CheckSingleWrite(key, 3, true, 2);
  CHECK(stale.code() == absl::StatusCode::kAborted);
  CHECK(std::string(stale.message()).find("expected_version") == 0);
  v1::RowError unknown;
  unknown.set_code(kUnknownUnit);
  CHECK(RowStatus(unknown).code() == absl::StatusCode::kNotFound);
  unknown.set_code(kIndicatorDisabled);
  CHECK(RowStatus(unknown).code() == absl::StatusCode::kFailedPrecondition);
  unknown.set_code(kOutOfRange);
  CHECK(RowStatus(unknown).code() == absl::StatusCode::kInvalidArgument);
}

TEST_CASE("Unit changes keep the tree whole and are effective on a date", "[ingest]") {
  const Catalogue c = TestCatalogue();
  const UnitInfo& s1 = *c.FindUnit("S1");
  UnitChange rename{UnitChange::kRename, "S1", "Station One", "", "", "tester", "new sign"};
  auto renamed = NextUnitVersion(c, s1, rename, Day(2026, 3, 1));
  REQUIRE(renamed.ok());
  CHECK(renamed->revision == 2);
  CHECK(renamed->name == "Station One");
  CHECK(renamed->valid_from == Day(2026, 3, 1));
  CHECK(renamed->change == "renamed");
  CHECK(renamed->actor == "tester");
  rename.new_name = "S1";
  CHECK(NextUnitVersion(c, s1, rename, Day(2026, 3, 1)).status().code() == absl::StatusCode::kFailedPrecondition);
  UnitChange up{UnitChange::kMove, "C1", "", "S1", "", "tester", ""};
  const auto cycle = NextUnitVersion(c, *c.FindUnit("C1"), up, Day(2026, 3, 1));
  CHECK(cycle.status().code() == absl::StatusCode::kFailedPrecondition);
  CHECK(std::string(cycle.status().message()).find("its own subtree") != std::string::npos);
  UnitChange early{UnitChange::kRename, "S1", "X", "", "", "tester", ""};
  CHECK(NextUnitVersion(c, s1, early, Day(2019, 1, 1)).status().code() == absl::StatusCode::kFailedPrecondition);
  UnitChange stale{UnitChange::kRename, "S1", "X", "", "", "tester", "", 4};
  CHECK(NextUnitVersion(c, s1, stale, Day(2026, 3, 1)).status().code() == absl::StatusCode::kAborted);
  UnitChange close{UnitChange::kDeactivate, "D1", "", "", "", "tester", ""};
  const auto busy = NextUnitVersion(c, *c.FindUnit("D1"), close, Day(2026, 3, 1));
  CHECK(std::string(busy.status().message()).find("2 active unit(s)") != std::string::npos);
  CHECK(NextUnitVersion(c, *c.FindUnit("D1"), close, Day(2026, 8, 1)).status().code() ==
        absl::StatusCode::kFailedPrecondition);  // S1 is still there
  v1::CreateUnitRequest station;
  station.set_code("S3");
  station.set_type(v1::UNIT_TYPE_SUPPLY_STATION);
  station.set_parent_code("D1");
  CHECK(*PlaceNewUnit(c, station, Day(2026, 1, 1)) == 3);
  station.set_parent_code("C1");
  CHECK(PlaceNewUnit(c, station, Day(2026, 1, 1)).status().code() == absl::StatusCode::kInvalidArgument);
  station.set_code("S1");
  CHECK(PlaceNewUnit(c, station, Day(2026, 1, 1)).status().code() == absl::StatusCode::kAlreadyExists);
  CHECK(DateOrToday("as_of", "", Day(2026, 5, 5)).value() == Day(2026, 5, 5));
  CHECK(DateOrToday("as_of", "2026-02-30", Day(2026, 5, 5)).status().code() == absl::StatusCode::kInvalidArgument);
}

TEST_CASE("Longer periods roll up from complete shorter ones, marked derived with their sources", "[ingest]") {
  const Catalogue c = TestCatalogue();
  const IndicatorInfo& vol = *c.FindIndicator("VOL");
  const UnitInfo& s1 = *c.FindUnit("S1");
  std::vector<StoredReading> months;
  for (int m = 1; m <= 12; ++m) {
    StoredReading r;
    r.unit_id = s1.id;
    r.indicator_id = vol.id;
    r.period = Period::Containing(PeriodType::kMonth, Day(2025, m, 1));
    r.value = m;
    months.push_back(r);
  }
  ReadingIndex values;
  for (const StoredReading& r : months) values.Add(&r);
  const Period year = *Period::Parse("2025");
  auto derived = Derive(*vol.InYear(2025), s1, vol, year, values, nullptr);
  REQUIRE(derived.has_value());
  CHECK(derived->value() == 78);
  CHECK(derived->derived());
  CHECK(derived->derived_from_size() == 12);
  CHECK(derived->key().period().key() == "2025");
  ReadingIndex eleven;
  for (size_t i = 0; i + 1 < months.size(); ++i) eleven.Add(&months[i]);
  std::string why;
  CHECK_FALSE(Derive(*vol.InYear(2025), s1, vol, year, eleven, &why).has_value());
  CHECK(why.find("11 of 12 month values") != std::string::npos);
  CHECK(ChildTypes(*vol.InYear(2025), PeriodType::kYear) == std::vector<PeriodType>{PeriodType::kMonth});
}

TEST_CASE("A query plan checks its periods and indicators and orders its units", "[ingest]") {
  const Catalogue c = TestCatalogue();
  v1::QueryReadingsRequest req;
  req.mutable_periods()->mutable_first()->set_key("2026-01");
  req.mutable_periods()->mutable_last()->set_key("2026-03");
  req.mutable_scope()->set_unit_code("D1");
  req.mutable_scope()->set_include_descendants(true);
  auto plan = PlanQuery(c, req);
  REQUIRE(plan.ok());
  CHECK(plan->periods.size() == 3);
  REQUIRE(plan->units.size() == 3);  // D1, S1, S2 (inactive units are in queries)
  CHECK(plan->units[0]->id < plan->units[1]->id);
  CHECK(plan->indicators.size() == 2);
  CHECK(plan->indicator_ids.empty());
  req.add_indicator_codes("NOPE");
  CHECK(PlanQuery(c, req).status().code() == absl::StatusCode::kNotFound);
  req.clear_indicator_codes();
  req.mutable_periods()->mutable_last()->set_key("2026");
  CHECK(std::string(PlanQuery(c, req).status().message()).find("periods: first and last must be of one type") == 0);
  req.mutable_periods()->mutable_first()->set_key("1800-01-01");
  req.mutable_periods()->mutable_last()->set_key("2026-01-01");
  CHECK(PlanQuery(c, req).status().code() == absl::StatusCode::kInvalidArgument);
  // Sort keys order by unit, indicator, period, version; derived values are version 0.
  StoredReading a;
  a.unit_id = 4;
  a.indicator_id = 10;
  a.period = *Period::Parse("2026-02");
  a.version = 2;
  CHECK(SortKey(a) < SortKey(4, 10, *Period::Parse("2026-03"), 0));
  CHECK(SortKey(4, 10, *Period::Parse("2026-02"), 0) < SortKey(a));
}

TEST_CASE("Completeness owes what is due by the time judged at, per applicable unit", "[ingest]") {
  const Catalogue c = TestCatalogue();
  CompletenessQuery q;
  q.period = *Period::Parse("2026-03");
  q.units = {c.FindUnit("D1"), c.FindUnit("S1"), c.FindUnit("S2")};
  // RATE and VOL are due the day after the month ends (deadline_days 0).
  q.as_of = absl::FromCivil(absl::CivilSecond(2026, 3, 31, 23, 0, 0), absl::UTCTimeZone());
  CHECK(DueIndicators(c, q).empty());
  q.as_of = absl::FromCivil(Day(2026, 4, 1), absl::UTCTimeZone());
  const auto due = DueIndicators(c, q);
  REQUIRE(due.size() == 2);
  CHECK(due[0].deadline == q.as_of);
  v1::GetCompletenessResponse page;
  const int64_t missing = FillCompleteness(
      q, due, [](int unit, int indicator) { return unit == 4 && indicator == 10; }, 0, 2, &page);
  // D1 owes VOL (RATE is for stations), S1 VOL, S2 RATE and VOL.
  CHECK(missing == 4);
  CHECK(page.missing_size() == 2);
  REQUIRE(page.units_size() == 3);
  CHECK(page.units(1).unit_code() == "S1");
  CHECK(page.units(1).required() == 2);
  CHECK(page.units(1).reported() == 1);
  CHECK(page.units(1).rate() == 0.5);
  q.indicator_codes = {"RATE"};
  CHECK(DueIndicators(c, q).size() == 1);
}

TEST_CASE("Pull bindings are checked against the data sources and the catalogue", "[ingest]") {
  Catalogue c = TestCatalogue();
  v1::PullBinding b;
  b.set_name("vol");
  b.set_indicator_code("VOL");
  b.set_data_source("reporting");
  b.set_query("  SELECT unit_code, v FROM t WHERE month = $1 AND d <= $3  ");
  b.set_period_type(v1::PERIOD_TYPE_MONTH);
  absl::Duration at;
  // VOL is entered by hand in this catalogue (kind unset): not pulled.
  CHECK(std::string(CheckPullBinding(c, {"reporting"}, &b, &at).message()).find("binding.indicator_code") == 0);
  CHECK(b.query() == "SELECT unit_code, v FROM t WHERE month = $1 AND d <= $3");
  CHECK(b.run_time() == "02:00");
  CHECK(at == absl::Hours(2));
  CHECK(std::string(CheckPullBinding(c, {"other"}, &b, &at).message()).find("binding.data_source") == 0);
  b.set_query("SELECT $4");
  CHECK(std::string(CheckPullBinding(c, {"reporting"}, &b, &at).message()).find("binding.query") == 0);
  CHECK(MaxQueryParameter("SELECT $1, $12, $3") == 12);
  const Period march = *Period::Parse("2026-03");
  CHECK(PullParameters("SELECT $1 WHERE d BETWEEN $2 AND $3", march) ==
        std::vector<std::string>{"2026-03", "2026-03-01", "2026-03-31"});
  CHECK(PullParameters("SELECT 1", march).empty());
}

v1::ConsumptionRow ConsumerRow(const std::string& id, const std::string& station) {
  v1::ConsumptionRow row;
  row.mutable_customer()->set_customer_id(id);
  row.mutable_customer()->set_station_code(station);
  return row;
}

v1::ConsumptionRow Days(const std::string& id, const std::string& first, std::vector<float> kwh) {
  v1::ConsumptionRow row;
  row.mutable_daily()->set_customer_id(id);
  row.mutable_daily()->set_first_day(first);
  row.mutable_daily()->mutable_kwh()->Add(kwh.begin(), kwh.end());
  return row;
}

TEST_CASE("Consumption rows: customers of active stations, days packed a month to a row, each bad row named",
          "[ingest][consumption]") {
  const Catalogue c = TestCatalogue();
  const float none = std::nanf("");
  v1::ConsumptionBatch batch;
  *batch.add_rows() = ConsumerRow("A", "S1");
  *batch.add_rows() = ConsumerRow("B", "D1");                     // not a station
  *batch.add_rows() = ConsumerRow("C", "S2");                     // deactivated
  *batch.add_rows() = Days("A", "2025-01-30", {1, none, 3, 4});   // into February
  *batch.add_rows() = Days("A", "2025-02-01", {9});               // the same day again: the later wins
  *batch.add_rows() = Days("K", "2025-01-01", {1});               // stored before
  *batch.add_rows() = Days("Z", "2025-01-01", {1});               // unknown
  *batch.add_rows() = Days("A", "2025-01-01", {1, 2, -3});
  v1::ConsumptionRow bill;
  bill.mutable_billing()->set_customer_id("A");
  bill.mutable_billing()->set_month("2025-1");
  *batch.add_rows() = bill;
  v1::ConsumptionRow event;
  event.mutable_event()->set_customer_id("A");
  event.mutable_event()->set_day("2025-02-01");
  *batch.add_rows() = event;
  const ConsumptionPlan plan = PlanConsumption(c, batch, [](const std::string& id) { return id == "K"; });
  REQUIRE(plan.customers.size() == 1);
  CHECK(plan.customers[0].status == 1);  // ACTIVE when unset
  CHECK(plan.accepted == 4);
  std::vector<std::pair<int, std::string>> errors;
  for (const auto& e : plan.errors) errors.emplace_back(e.index(), e.field() + " " + e.code());
  CHECK(errors == std::vector<std::pair<int, std::string>>{{1, "customer.station_code UNIT_TYPE_NOT_APPLICABLE"},
                                                           {2, "customer.station_code UNIT_INACTIVE"},
                                                           {6, "customer_id UNKNOWN_CUSTOMER"},
                                                           {7, "daily.kwh[2] OUT_OF_RANGE"},
                                                           {8, "billing.month INVALID_PERIOD"},
                                                           {9, "event.type MISSING_FIELD"}});
  REQUIRE(plan.months.size() == 3);  // A January, A February, K January
  CHECK(plan.months[0].month == Day(2025, 1, 1));
  CHECK(plan.months[0].kwh[29] == 1);
  CHECK(std::isnan(plan.months[0].kwh[30]));
  CHECK(std::isnan(plan.months[0].kwh[0]));
  CHECK(plan.months[1].month == Day(2025, 2, 1));
  CHECK(plan.months[1].kwh[0] == 9);
  CHECK(plan.months[1].kwh[1] == 4);
  CHECK(plan.months[2].customer == "K");

  batch.set_all_or_nothing(true);
  const ConsumptionPlan none_applied = PlanConsumption(c, batch, [](const std::string&) { return true; });
  CHECK(none_applied.accepted == 0);
  CHECK(none_applied.customers.empty());
  CHECK(none_applied.months.empty());
  CHECK(!none_applied.errors.empty());
  CHECK(NamedCustomers(batch) == std::vector<std::string>{"A", "B", "C", "K", "Z"});
}

TEST_CASE("A stored month is four big-endian bytes a day, its days only, and is laid out a value a day",
          "[ingest][consumption]") {
  MonthRow feb{.customer = "K", .month = Day(2025, 2, 1)};
  feb.kwh.fill(1);
  feb.kwh[1] = std::nanf("");
  feb.kwh[27] = 28;
  feb.kwh[28] = 99;  // past February's 28 days: not stored
  const std::string bytes = MonthBytes(feb);
  REQUIRE(bytes.size() == 28 * 4);
  CHECK(bytes.substr(0, 4) == std::string("\x3f\x80\x00\x00", 4));  // 1.0f as float4send writes it
  CHECK(bytes.substr(4, 4) == std::string("\x7f\xc0\x00\x00", 4));  // no value: the one NaN
  CHECK(bytes.substr(27 * 4, 4) == std::string("\x41\xe0\x00\x00", 4));  // 28.0f

  std::vector<float> out(5, -1);
  LayMonth(Day(2025, 2, 1), bytes, Day(2025, 2, 1), out.data(), out.size());
  CHECK(out[0] == 1);
  CHECK(std::isnan(out[1]));
  CHECK(out[4] == 1);

  std::fill(out.begin(), out.end(), -1);
  LayMonth(Day(2025, 2, 1), bytes, Day(2025, 2, 27), out.data(), out.size());
  CHECK(out[0] == 1);
  CHECK(out[1] == 28);
  CHECK(out[2] == -1);  // March 1st: not February's
  CHECK(out[4] == -1);

  // A window that starts before the month: its days land at their offsets.
  std::fill(out.begin(), out.end(), -1);
  LayMonth(Day(2025, 2, 1), bytes, Day(2025, 1, 30), out.data(), out.size());
  CHECK(out[1] == -1);
  CHECK(out[2] == 1);
  CHECK(std::isnan(out[3]));
}

}  // namespace
}  // namespace aw::ingest
