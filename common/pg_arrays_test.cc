#include "common/pg_arrays.h"

#include <catch2/catch.hpp>

namespace aw::db {
namespace {

TEST_CASE("Text arrays for COPY quote and escape every element", "[pg_arrays]") {
  const std::string plain = "a", quote = "say \"hi\"", slash = "back\\slash", empty;
  CHECK(TextArray({&plain, &quote, &slash, &empty}) ==
        R"({"a","say \"hi\"","back\\slash",""})");
}

TEST_CASE("Array texts read back what was written", "[pg_arrays]") {
  std::vector<std::string> text;
  REQUIRE(ParseTextArray(R"({plain,"say \"hi\"","back\\slash",""})", text));
  CHECK(text == std::vector<std::string>{"plain", "say \"hi\"", "back\\slash", ""});
  std::vector<double> numbers;
  REQUIRE(ParseNumberArray("{1,-2.5,1e+20}", numbers));
  CHECK(numbers == std::vector<double>{1, -2.5, 1e20});
  CHECK(ExactText(0.1) == "0.1");
  CHECK_FALSE(ParseNumberArray("{1,x}", numbers));
  CHECK_FALSE(ParseTextArray("not an array", text));
}

}  // namespace
}  // namespace aw::db
