#include "services/awctl/sgcc_csv.h"

#include <catch2/catch.hpp>
#include <cmath>
#include <sstream>

namespace aw::awctl {
namespace {

TEST_CASE("SGCC layout: day columns in any order, empty cells, wrong rows reported by line", "[sgcc]") {
  std::istringstream in(
      "\xEF\xBB\xBF"
      "CONS_NO,FLAG,2014/1/3,2014/1/1,2014-01-02,2014/1/5\n"
      "A1,1,3.5,1.5,,5\n"
      "A2,0,,,,\n"
      "A3,2,1,1,1,1\n"
      "A4,0,1,x,1,1\n"
      "A5,0,1,1\n"
      ",0,1,1,1,1\n"
      "A7,0,1,1,-2,1\n"
      "\"A,8\",0,0,0,0,0\n");
  std::vector<int64_t> progress;
  auto table = ReadSgcc(in, [&](int64_t bytes) { progress.push_back(bytes); });
  REQUIRE(table.ok());
  CHECK(table->first_day == absl::CivilDay(2014, 1, 1));
  CHECK(table->days == 5);  // to the 5th; the 4th is named by no column
  REQUIRE(table->rows.size() == 3);
  const SgccRow& a1 = table->rows[0];
  CHECK(a1.customer == "A1");
  CHECK(a1.flag == 1);
  CHECK(a1.line == 2);
  CHECK(a1.daily[0] == 1.5f);
  CHECK(std::isnan(a1.daily[1]));
  CHECK(a1.daily[2] == 3.5f);
  CHECK(std::isnan(a1.daily[3]));
  CHECK(a1.daily[4] == 5.0f);
  CHECK(table->rows[1].customer == "A2");
  CHECK(table->rows[2].customer == "A,8");
  REQUIRE(table->errors.size() == 5);
  CHECK(table->errors[0].line == 4);
  CHECK(table->errors[0].message == "FLAG: \"2\" is neither 0 nor 1");
  CHECK(table->errors[1].line == 5);
  CHECK(table->errors[1].message == "column 4: \"x\" is not a kWh value");
  CHECK(table->errors[2].line == 6);
  CHECK(table->errors[2].message == "4 fields, expected 6");
  CHECK(table->errors[3].line == 7);
  CHECK(table->errors[3].message == "CONS_NO: empty");
  CHECK(table->errors[4].line == 8);
  CHECK(table->errors[4].message == "column 5: \"-2\" is not a kWh value");
  CHECK(!progress.empty());
}

TEST_CASE("SGCC layout: a header that is not one is refused, naming the column", "[sgcc]") {
  std::istringstream no_header("ID,LABEL,2014/1/1\nA,0,1\n");
  CHECK(ReadSgcc(no_header).status().message() == "header: expected CONS_NO,FLAG then one column per day");
  std::istringstream bad_day("CONS_NO,FLAG,2014/1/1,2014/13/1\n");
  CHECK(ReadSgcc(bad_day).status().message() == "header column 4: \"2014/13/1\" is not a day");
  std::istringstream twice("CONS_NO,FLAG,2014/1/1,2014-01-01\n");
  CHECK(ReadSgcc(twice).status().message() == "header column 4: day 2014-01-01 named twice");
  std::istringstream empty("");
  CHECK(ReadSgcc(empty).status().message() == "header: the file is empty");
}

}  // namespace
}  // namespace aw::awctl
