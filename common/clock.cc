#include "common/clock.h"

#include "absl/time/clock.h"

namespace aw {
namespace {

class RealClock final : public Clock {
 public:
  absl::Time Now() const override { return absl::Now(); }
  bool SleepFor(absl::Duration duration, const absl::Notification& stop) const override {
    return stop.WaitForNotificationWithTimeout(duration);
  }
};

// How often a sleep on the fake clock looks at its stop notification.
constexpr absl::Duration kFakeSleepCheck = absl::Milliseconds(5);

}  // namespace

Clock* Clock::Real() {
  static RealClock* const kClock = new RealClock();
  return kClock;
}

absl::Time FakeClock::Now() const {
  absl::MutexLock lock(&mu_);
  return now_;
}

bool FakeClock::SleepFor(absl::Duration duration, const absl::Notification& stop) const {
  absl::MutexLock lock(&mu_);
  const absl::Time until = now_ + duration;
  auto due = [this, until]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return now_ >= until; };
  while (!due()) {
    if (stop.HasBeenNotified()) return true;
    mu_.AwaitWithTimeout(absl::Condition(&due), kFakeSleepCheck);
  }
  return stop.HasBeenNotified();
}

void FakeClock::Advance(absl::Duration by) {
  absl::MutexLock lock(&mu_);
  now_ += by;
}

void FakeClock::Set(absl::Time to) {
  absl::MutexLock lock(&mu_);
  now_ = to;
}

}  // namespace aw
