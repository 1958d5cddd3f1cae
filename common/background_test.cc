#include "common/background.h"

#include <atomic>

#include <catch2/catch.hpp>

#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "common/clock.h"

namespace aw {
namespace {

TEST_CASE("A periodic task runs at its interval, at once when woken, and stops promptly", "[background]") {
  FakeClock clock(absl::FromUnixSeconds(1'700'000'000));
  std::atomic<int> steps = 0;
  PeriodicTask task("test-task", "test", absl::Hours(1), &clock, [&] {
    ++steps;
    return absl::OkStatus();
  });
  task.Start();
  absl::SleepFor(absl::Milliseconds(50));
  CHECK(steps == 0);  // the interval has not passed
  clock.Advance(absl::Hours(1));
  for (int i = 0; i < 200 && steps < 1; ++i) absl::SleepFor(absl::Milliseconds(5));
  CHECK(steps == 1);
  // Woken: the step runs without the clock moving.
  task.Wake();
  for (int i = 0; i < 200 && steps < 2; ++i) absl::SleepFor(absl::Milliseconds(5));
  CHECK(steps == 2);
  absl::SleepFor(absl::Milliseconds(50));
  CHECK(steps == 2);  // once per wake
  const absl::Time before = absl::Now();
  task.Stop();
  CHECK(absl::Now() - before < absl::Seconds(1));
}

}  // namespace
}  // namespace aw
