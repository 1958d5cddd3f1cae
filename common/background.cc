#include "common/background.h"

#include "common/log.h"
#include "common/worker_pool.h"

namespace aw {

PeriodicTask::PeriodicTask(std::string name, std::string logger, absl::Duration interval, Clock* clock,
                           std::function<absl::Status()> step)
    : name_(std::move(name)),
      logger_(std::move(logger)),
      interval_(interval),
      clock_(clock),
      step_(std::move(step)) {}

PeriodicTask::~PeriodicTask() { Stop(); }

void PeriodicTask::Start() {
  thread_ = NamedThread(name_, [this] {
    while (!clock_->SleepFor(interval_, stop_)) {
      if (absl::Status s = step_(); !s.ok()) Logger(logger_)->warn("{}: {}", name_, s.ToString());
    }
  });
}

void PeriodicTask::Stop() {
  if (!stop_.HasBeenNotified()) stop_.Notify();
  if (thread_.joinable()) thread_.join();
}

absl::StatusOr<int> DrainDue(const std::function<absl::StatusOr<bool>()>& run_one) {
  int ran = 0;
  for (;;) {
    absl::StatusOr<bool> claimed = run_one();
    if (!claimed.ok()) return claimed.status();
    if (!*claimed) return ran;
    ++ran;
  }
}

}  // namespace aw
