#include "common/period.h"

#include <catch2/catch.hpp>

namespace aw {
namespace {

Period P(absl::string_view key) {
  auto p = Period::Parse(key);
  INFO(key);
  REQUIRE(p.ok());
  return *p;
}

TEST_CASE("Period parses every type and formats it back canonically", "[period]") {
  for (absl::string_view key : {"2026-03-15", "2026-W09", "2026-03", "2026-Q1", "2026-H2", "2026",
                               "2020-W53", "2026-W53", "2024-02-29"}) {
    CHECK(P(key).key() == key);
  }
  CHECK(P("2026-03-15").type() == PeriodType::kDay);
  CHECK(P("2026-W09").type() == PeriodType::kWeek);
  CHECK(P("2026-03").type() == PeriodType::kMonth);
  CHECK(P("2026-Q1").type() == PeriodType::kQuarter);
  CHECK(P("2026-H1").type() == PeriodType::kHalfYear);
  CHECK(P("2026").type() == PeriodType::kYear);
}

TEST_CASE("Period rejects malformed keys with a reason", "[period]") {
  for (absl::string_view key : {"", "26", "2026-", "2026-13", "2026-00", "2026-02-30", "2025-02-29",
                               "2026-Q5", "2026-Q0", "2026-H3", "2026-W00", "2025-W53", "2026-W54", "2026-W9",
                               "2026-3", "2026-03-5", "abcd", "2026/03", "1800", "2026-03-15x"}) {
    auto p = Period::Parse(key);
    INFO(key);
    CHECK(p.status().code() == absl::StatusCode::kInvalidArgument);
  }
  auto wrong = Period::Parse(PeriodType::kMonth, "2026-Q1");
  CHECK(wrong.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(std::string(wrong.status().message()).find("expected a month") != std::string::npos);
}

TEST_CASE("ISO weeks follow ISO 8601 at year boundaries", "[period]") {
  // 2026-01-01 is a Thursday: week 1 of 2026 starts Monday 2025-12-29.
  CHECK(P("2026-W01").first_day() == absl::CivilDay(2025, 12, 29));
  CHECK(Period::Containing(PeriodType::kWeek, absl::CivilDay(2025, 12, 31)).key() == "2026-W01");
  // 2021-01-03 (Sunday) still belongs to 2020-W53.
  CHECK(Period::Containing(PeriodType::kWeek, absl::CivilDay(2021, 1, 3)).key() == "2020-W53");
  CHECK(P("2020-W53").Next().key() == "2021-W01");
  CHECK(P("2021-W01").Previous().key() == "2020-W53");
  CHECK(P("2026-W09").days() == 7);
}

TEST_CASE("Period bounds, next and previous", "[period]") {
  CHECK(P("2024-02").last_day() == absl::CivilDay(2024, 2, 29));
  CHECK(P("2026-Q4").last_day() == absl::CivilDay(2026, 12, 31));
  CHECK(P("2026-H1").days() == 181);
  CHECK(P("2026-12").Next().key() == "2027-01");
  CHECK(P("2026-Q1").Previous().key() == "2025-Q4");
  CHECK(P("2026-H2").Next().key() == "2027-H1");
  CHECK(P("2026").Shift(-3).key() == "2023");
  CHECK(P("2026-12-31").Next().key() == "2027-01-01");
}

TEST_CASE("Period containment by days", "[period]") {
  CHECK(P("2026-Q1").Contains(P("2026-02")));
  CHECK_FALSE(P("2026-Q1").Contains(P("2026-04")));
  CHECK(P("2026").Contains(absl::CivilDay(2026, 7, 1)));
  CHECK_FALSE(P("2026-03").Contains(P("2026-W09")));  // 2026-W09 runs Feb 23 .. Mar 1
  CHECK(P("2026-W09").Contains(P("2026-02-23")));
  CHECK(P("2026-H1").Contains(P("2026-H1")));
}

TEST_CASE("Period rolls up only where periods nest", "[period]") {
  CHECK(P("2026-05-17").RollUp(PeriodType::kMonth)->key() == "2026-05");
  CHECK(P("2026-05-17").RollUp(PeriodType::kWeek)->key() == "2026-W20");
  CHECK(P("2026-05").RollUp(PeriodType::kQuarter)->key() == "2026-Q2");
  CHECK(P("2026-05").RollUp(PeriodType::kHalfYear)->key() == "2026-H1");
  CHECK(P("2026-Q3").RollUp(PeriodType::kYear)->key() == "2026");
  CHECK(P("2026-W20").RollUp(PeriodType::kMonth).status().code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK(P("2026-Q3").RollUp(PeriodType::kHalfYear)->key() == "2026-H2");
  CHECK(P("2026").RollUp(PeriodType::kMonth).status().code() ==
        absl::StatusCode::kInvalidArgument);
}

TEST_CASE("Period splits into the shorter periods that tile it", "[period]") {
  auto months = P("2026-H2").Split(PeriodType::kMonth);
  REQUIRE(months.ok());
  REQUIRE(months->size() == 6);
  CHECK(months->front().key() == "2026-07");
  CHECK(months->back().key() == "2026-12");
  CHECK(P("2024-02").Split(PeriodType::kDay)->size() == 29);
  CHECK(P("2026").Split(PeriodType::kQuarter)->size() == 4);
  CHECK(P("2026-03").Split(PeriodType::kWeek).status().code() ==
        absl::StatusCode::kInvalidArgument);
}

TEST_CASE("The types a period can be rolled up from tile it, longest first", "[period]") {
  using T = PeriodType;
  CHECK(NestedTypes(T::kYear) == std::vector<T>{T::kHalfYear, T::kQuarter, T::kMonth, T::kDay});
  CHECK(NestedTypes(T::kHalfYear) == std::vector<T>{T::kQuarter, T::kMonth, T::kDay});
  CHECK(NestedTypes(T::kMonth) == std::vector<T>{T::kDay});  // weeks straddle months
  CHECK(NestedTypes(T::kWeek) == std::vector<T>{T::kDay});
  CHECK(NestedTypes(T::kDay).empty());
}

TEST_CASE("Periods order by type, then chronologically", "[period]") {
  CHECK(P("2026-01") < P("2026-02"));
  CHECK(P("2025-12") < P("2026-01"));
  CHECK(P("2027-01-01") < P("2026-01"));  // days before months
  CHECK(P("2026-Q1") == P("2026-Q1"));
}

TEST_CASE("Period type names round-trip", "[period]") {
  for (PeriodType t : {PeriodType::kDay, PeriodType::kWeek, PeriodType::kMonth,
                       PeriodType::kQuarter, PeriodType::kHalfYear, PeriodType::kYear}) {
    CHECK(*ParsePeriodType(PeriodTypeName(t)) == t);
  }
  CHECK_FALSE(ParsePeriodType("fortnight").ok());
}

}  // namespace
}  // namespace aw
