// Background work of a service: a loop that runs one step at a fixed cadence
// on a thread of its own, and the drain of due rows (timer rows, outbox
// messages) that such a step usually is. Steps read time from the Clock they
// are given; tests call the step directly with a FakeClock.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "common/clock.h"

namespace aw {

// Runs `step` every `interval` (on `clock`) on a thread named `name` from
// Start() until Stop(), and at once after a Wake() (work was queued here); a
// failed step is logged under `logger` and the loop goes on. Thread-safe.
class PeriodicTask {
 public:
  PeriodicTask(std::string name, std::string logger, absl::Duration interval, Clock* clock,
               std::function<absl::Status()> step);
  ~PeriodicTask();
  PeriodicTask(const PeriodicTask&) = delete;
  PeriodicTask& operator=(const PeriodicTask&) = delete;

  void Start();
  // Runs the step now (or right after the one in progress).
  void Wake();
  void Stop();

 private:
  std::shared_ptr<absl::Notification> Fresh();
  bool Stopping();

  const std::string name_, logger_;
  const absl::Duration interval_;
  Clock* const clock_;
  const std::function<absl::Status()> step_;
  absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  // The notification the loop sleeps on: Wake() and Stop() end the sleep.
  std::shared_ptr<absl::Notification> wake_ ABSL_GUARDED_BY(mu_);
  std::thread thread_;
};

// Claims and runs due rows one at a time until `run_one` finds none (returns
// false) or fails; returns how many ran. `run_one` claims a row with FOR
// UPDATE SKIP LOCKED in its store, so replicas draining together never run a
// row twice.
absl::StatusOr<int> DrainDue(const std::function<absl::StatusOr<bool>()>& run_one);

}  // namespace aw
