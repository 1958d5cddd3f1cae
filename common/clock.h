// Time for services and background loops. Code that reads the time or waits
// takes a Clock, so that tests of behaviour about time (deadlines, expiry,
// grouping windows, repeats) drive a FakeClock instead of sleeping.
#pragma once

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"

namespace aw {

// Thread-safe.
class Clock {
 public:
  virtual ~Clock() = default;
  virtual absl::Time Now() const = 0;
  // Waits until `duration` has passed on this clock or `stop` is notified;
  // true when stopped.
  virtual bool SleepFor(absl::Duration duration, const absl::Notification& stop) const = 0;

  // The wall clock (absl::Now), shared by the process.
  static Clock* Real();
};

// A clock that moves only when told to. SleepFor returns once Advance or Set
// has moved the time past the end of the sleep (or `stop` is notified).
// Thread-safe.
class FakeClock final : public Clock {
 public:
  explicit FakeClock(absl::Time start) : now_(start) {}

  absl::Time Now() const override;
  bool SleepFor(absl::Duration duration, const absl::Notification& stop) const override;

  void Advance(absl::Duration by);
  void Set(absl::Time to);

 private:
  mutable absl::Mutex mu_;
  absl::Time now_ ABSL_GUARDED_BY(mu_);
};

}  // namespace aw
