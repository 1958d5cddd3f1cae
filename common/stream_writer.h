// A server-streaming reactor that runs its producer on a thread of its own and
// writes one message at a time, waiting for each write to complete. For
// long-lived, low-count streams (change feeds), where a blocking producer
// that pages through PostgreSQL is far simpler than a chain of callbacks.
#pragma once

#include <thread>

#include <grpcpp/grpcpp.h>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace aw {

// Subclasses implement Run(), which produces messages with Write() until it
// returns the call's final status. Start() must be called by the subclass's
// constructor, last. The reactor deletes itself when the call is done.
template <typename Response>
class ThreadedWriteReactor : public grpc::ServerWriteReactor<Response> {
 public:
  void OnWriteDone(bool ok) override {
    absl::MutexLock lock(&mu_);
    write_ok_ = ok;
    writing_ = false;
  }
  void OnCancel() override {
    absl::MutexLock lock(&mu_);
    cancelled_ = true;
  }
  void OnDone() override {
    thread_.join();
    delete this;
  }

 protected:
  void Start() {
    thread_ = std::thread([this] {
      const grpc::Status status = Run();
      this->Finish(Cancelled() ? grpc::Status::CANCELLED : status);
    });
  }

  // The producer; returns the status to end the call with.
  virtual grpc::Status Run() = 0;

  // Writes `message` (which must stay valid until this returns) and waits for
  // the write; false when the client is gone.
  bool Write(const Response* message) {
    absl::MutexLock lock(&mu_);
    if (cancelled_) return false;
    writing_ = true;
    this->StartWrite(message);
    mu_.Await(absl::Condition(+[](bool* w) { return !*w; }, &writing_));
    return write_ok_ && !cancelled_;
  }

  bool Cancelled() {
    absl::MutexLock lock(&mu_);
    return cancelled_;
  }

  // Sleeps up to `timeout`, waking early when the call is cancelled.
  void Pause(absl::Duration timeout) {
    absl::MutexLock lock(&mu_);
    mu_.AwaitWithTimeout(absl::Condition(&cancelled_), timeout);
  }

 private:
  absl::Mutex mu_;
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool write_ok_ ABSL_GUARDED_BY(mu_) = true;
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace aw
