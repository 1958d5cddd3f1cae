#include "common/rollup.h"

#include <catch2/catch.hpp>

namespace aw {
namespace {

namespace v1 = ::auditwatch::v1;

TEST_CASE("Roll-ups combine shorter periods by the indicator's rule and refuse rates", "[rollup]") {
  const std::vector<double> v = {3, 1, 2};
  CHECK(*RollUp(v1::ROLLUP_RULE_SUM, v) == 6);
  CHECK(*RollUp(v1::ROLLUP_RULE_MEAN, v) == 2);
  CHECK(*RollUp(v1::ROLLUP_RULE_MIN, v) == 1);
  CHECK(*RollUp(v1::ROLLUP_RULE_MAX, v) == 3);
  CHECK(*RollUp(v1::ROLLUP_RULE_LAST, v) == 2);
  CHECK(RollUp(v1::ROLLUP_RULE_NONE, v).status().code() == absl::StatusCode::kFailedPrecondition);
  CHECK(RollUp(v1::ROLLUP_RULE_SUM, {}).status().code() == absl::StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace aw
