// Background work of a service: a loop that runs one step at a fixed cadence
// on a thread of its own, and the drain of due rows (timer rows, outbox
// messages) that such a step usually is. Steps read time from the Clock they
// are given; tests call the step directly with a FakeClock.
#pragma once

#include <functional>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "common/clock.h"

namespace aw {

// Runs `step` every `interval` (on `clock`) on a thread named `name` from
// Start() until Stop(); a failed step is logged under `logger` and the loop
// goes on. Thread-safe.
class PeriodicTask {
 public:
  PeriodicTask(std::string name, std::string logger, absl::Duration interval, Clock* clock,
               std::function<absl::Status()> step);
  ~PeriodicTask();
  PeriodicTask(const PeriodicTask&) = delete;
  PeriodicTask& operator=(const PeriodicTask&) = delete;

  void Start();
  void Stop();

 private:
  const std::string name_, logger_;
  const absl::Duration interval_;
  Clock* const clock_;
  const std::function<absl::Status()> step_;
  absl::Notification stop_;
  std::thread thread_;
};

// Claims and runs due rows one at a time until `run_one` finds none (returns
// false) or fails; returns how many ran. `run_one` claims a row with FOR
// UPDATE SKIP LOCKED in its store, so replicas draining together never run a
// row twice.
absl::StatusOr<int> DrainDue(const std::function<absl::StatusOr<bool>()>& run_one);

}  // namespace aw
