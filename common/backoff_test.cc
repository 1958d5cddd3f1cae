#include "common/backoff.h"

#include <catch2/catch.hpp>

namespace aw {
namespace {

TEST_CASE("Backoff doubles from its first wait up to its cap", "[backoff]") {
  const Backoff b{.initial = absl::Seconds(1), .max = absl::Minutes(5)};
  CHECK(b.After(1) == absl::Seconds(1));
  CHECK(b.After(2) == absl::Seconds(2));
  CHECK(b.After(4) == absl::Seconds(8));
  CHECK(b.After(9) == absl::Seconds(256));
  CHECK(b.After(10) == absl::Minutes(5));
  CHECK(b.After(1000) == absl::Minutes(5));
  CHECK(b.After(0) == absl::Seconds(1));
  const Backoff slow{.initial = absl::Milliseconds(100), .max = absl::Seconds(1), .factor = 3};
  CHECK(slow.After(3) == absl::Milliseconds(900));
  CHECK(slow.After(4) == absl::Seconds(1));
}

}  // namespace
}  // namespace aw
