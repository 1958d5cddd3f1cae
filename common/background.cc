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
    std::shared_ptr<absl::Notification> wake = Fresh();
    for (;;) {
      clock_->SleepFor(interval_, *wake);
      if (Stopping()) return;
      wake = Fresh();  // a Wake() from here on cuts the next sleep short
      if (absl::Status s = step_(); !s.ok()) Logger(logger_)->warn("{}: {}", name_, s.ToString());
    }
  });
}

void PeriodicTask::Wake() {
  absl::MutexLock lock(&mu_);
  if (wake_ != nullptr && !wake_->HasBeenNotified()) wake_->Notify();
}

void PeriodicTask::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    if (wake_ != nullptr && !wake_->HasBeenNotified()) wake_->Notify();
  }
  if (thread_.joinable()) thread_.join();
}

std::shared_ptr<absl::Notification> PeriodicTask::Fresh() {
  absl::MutexLock lock(&mu_);
  wake_ = std::make_shared<absl::Notification>();
  if (stopping_) wake_->Notify();
  return wake_;
}

bool PeriodicTask::Stopping() {
  absl::MutexLock lock(&mu_);
  return stopping_;
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
