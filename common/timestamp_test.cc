#include "common/timestamp.h"

#include <catch2/catch.hpp>

#include "common/pg_arrays.h"

namespace aw {
namespace {

TEST_CASE("Timestamps keep times to the microsecond, both ways", "[timestamp]") {
  const absl::Time t = absl::FromUnixSeconds(1782864000) + absl::Microseconds(123456);
  google::protobuf::Timestamp ts;
  SetTimestamp(t, &ts);
  CHECK(ts.seconds() == 1782864000);
  CHECK(ts.nanos() == 123456000);
  CHECK(TimeOf(ts) == t);

  // Nanoseconds below the microsecond are dropped.
  SetTimestamp(t + absl::Nanoseconds(789), &ts);
  CHECK(ts.nanos() == 123456000);

  // Epoch seconds as PostgreSQL's extract(epoch FROM …) gives them.
  db::SetTimestamp(1782864000.5, &ts);
  CHECK(TimeOf(ts) == absl::FromUnixSeconds(1782864000) + absl::Milliseconds(500));
}

}  // namespace
}  // namespace aw
