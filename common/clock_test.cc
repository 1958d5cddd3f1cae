#include "common/clock.h"

#include <thread>

#include <catch2/catch.hpp>

#include "absl/time/clock.h"

namespace aw {
namespace {

TEST_CASE("A fake clock moves only when told, and its sleeps end when it passes them", "[clock]") {
  const absl::Time start = absl::FromUnixSeconds(1'800'000'000);
  FakeClock clock(start);
  CHECK(clock.Now() == start);
  absl::Notification stop;
  std::atomic<bool> woke{false};
  std::thread sleeper([&] {
    CHECK_FALSE(clock.SleepFor(absl::Hours(24), stop));  // not stopped: the time came
    woke = true;
  });
  absl::SleepFor(absl::Milliseconds(50));
  CHECK_FALSE(woke);
  clock.Advance(absl::Hours(23));
  absl::SleepFor(absl::Milliseconds(50));
  CHECK_FALSE(woke);
  clock.Advance(absl::Hours(1));
  sleeper.join();
  CHECK(woke);
  CHECK(clock.Now() == start + absl::Hours(24));
  clock.Set(start);
  CHECK(clock.Now() == start);
}

TEST_CASE("A sleep on any clock ends early when stopped", "[clock]") {
  FakeClock fake(absl::UnixEpoch());
  for (Clock* clock : {static_cast<Clock*>(&fake), Clock::Real()}) {
    absl::Notification stop;
    std::thread stopper([&] {
      absl::SleepFor(absl::Milliseconds(20));
      stop.Notify();
    });
    const absl::Time begun = absl::Now();
    CHECK(clock->SleepFor(absl::Hours(1), stop));
    CHECK(absl::Now() - begun < absl::Seconds(5));
    stopper.join();
  }
}

}  // namespace
}  // namespace aw
