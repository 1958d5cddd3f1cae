// A bounded pool of threads for blocking work (database calls) that must stay off
// gRPC's callback threads. When the queue is full, work is refused at once so the
// caller can answer RESOURCE_EXHAUSTED instead of queueing without bound.
#pragma once

#include <atomic>
#include <deque>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace aw {

// Starts `body` on a thread named `name` (the first 15 characters: what top -H,
// perf and gdb show).
std::thread NamedThread(const std::string& name, std::function<void()> body);

// Thread-safe. Tasks run in submission order on `threads` workers; at most
// `max_queue` tasks wait. Shutdown() (also run by the destructor) refuses new
// work, runs what is queued and joins the workers.
class WorkerPool {
 public:
  WorkerPool(std::string name, int threads, int max_queue);
  ~WorkerPool();
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  // Queues `task`; false (and `task` is dropped) when the queue is full or the
  // pool is shutting down.
  bool TrySubmit(std::function<void()> task);
  void Shutdown();

  // From now on FinishOnWorker refuses new calls (UNAVAILABLE: the drain has
  // begun); work submitted directly still runs, so that streams can finish
  // what they took in.
  void StopTakingCalls() { taking_calls_ = false; }
  bool taking_calls() const { return taking_calls_; }

  const std::string& name() const { return name_; }
  int queued() const;
  int max_queue() const { return max_queue_; }

 private:
  void Loop();

  const std::string name_;
  const int max_queue_;
  mutable absl::Mutex mu_;
  std::deque<std::function<void()>> queue_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::atomic<bool> taking_calls_{true};
  std::vector<std::thread> threads_;
};

}  // namespace aw
