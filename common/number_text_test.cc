#include "common/number_text.h"

#include <cmath>
#include <limits>
#include <string>

#include <catch2/catch.hpp>

namespace aw {
namespace {

TEST_CASE("Numbers print as written, never with an exponent", "[number_text]") {
  CHECK(NumberText(1000001) == "1000001");
  CHECK(NumberText(1000000) == "1000000");
  CHECK(NumberText(0.1) == "0.1");
  CHECK(NumberText(95.5) == "95.5");
  CHECK(NumberText(-3) == "-3");
  CHECK(NumberText(0.000001) == "0.000001");
  CHECK(NumberText(-0.0) == "0");
  CHECK(NumberText(1e20) == "100000000000000000000");
  // Every text reads back as the same double.
  for (double v : {1.0 / 3, 2.0 / 3 * 1e7, 123456.789, 1e-9, std::numeric_limits<double>::max()}) {
    CHECK(std::stod(NumberText(v)) == v);
  }
}

TEST_CASE("Computed figures round to a few decimals without trailing zeros", "[number_text]") {
  CHECK(RoundedText(2.41421356) == "2.41");
  CHECK(RoundedText(2.0) == "2");
  CHECK(RoundedText(12.5) == "12.5");
  CHECK(RoundedText(-0.001) == "0");
  CHECK(RoundedText(1234567.891, 1) == "1234567.9");
}

}  // namespace
}  // namespace aw
