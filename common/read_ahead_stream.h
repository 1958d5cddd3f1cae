// A server stream of pages read one ahead: while a page is on its way to the
// client, the next is read on the worker pool, so the database and the
// network work at the same time. One page is written at a time and at most
// one more is held, so a slow reader holds the server to two pages.
//
//   return new ReadAheadStream<v1::ConsumptionPage>(ctx, workers,
//       [=]() -> absl::StatusOr<std::optional<v1::ConsumptionPage>> { … });
//
// `next` runs on the pool, one call at a time, in order; it answers the next
// page, nullopt after the last, or an error that ends the stream.
#pragma once

#include <functional>
#include <optional>
#include <utility>

#include <grpcpp/grpcpp.h>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "common/status.h"
#include "common/worker_pool.h"

namespace aw {

template <typename Page>
class ReadAheadStream final : public grpc::ServerWriteReactor<Page> {
 public:
  using Next = std::function<absl::StatusOr<std::optional<Page>>()>;

  ReadAheadStream(grpc::CallbackServerContext* ctx, WorkerPool* workers, Next next)
      : ctx_(ctx), workers_(workers), next_(std::move(next)) {
    Step step;
    {
      absl::MutexLock lock(&mu_);
      Fetch();
      step = Decide();  // finishes at once when the pool refused the read
    }
    Act(step);
  }

  void OnWriteDone(bool ok) override {
    Step step;
    {
      absl::MutexLock lock(&mu_);
      writing_ = false;
      if (!ok) end_ = grpc::Status::CANCELLED;
      step = Decide();
    }
    Act(step);
  }
  void OnDone() override { delete this; }

 private:
  struct Step {
    Page* write = nullptr;
    std::optional<grpc::Status> finish;
  };

  // Starts reading the next page on the pool (mu_ held).
  void Fetch() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    fetching_ = true;
    if (!workers_->TrySubmit([this] { Read(); })) {
      fetching_ = false;
      end_ = grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED, "service busy; resume the stream later");
    }
  }

  void Read() {
    auto page = ctx_->IsCancelled() ? absl::CancelledError("the caller went away") : next_();
    Step step;
    {
      absl::MutexLock lock(&mu_);
      fetching_ = false;
      if (!page.ok()) {
        if (!end_) end_ = ToGrpcStatus(page.status());
      } else if (!page->has_value()) {
        last_read_ = true;
      } else {
        ahead_ = std::move(**page);
      }
      step = Decide();
    }
    Act(step);
  }

  // What to do next (mu_ held): write the page read ahead and read the one
  // after it, or finish once nothing is in flight.
  Step Decide() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    Step step;
    if (writing_ || finished_) return step;
    if (!end_ && ahead_) {
      current_ = std::move(*ahead_);
      ahead_.reset();
      writing_ = true;
      step.write = &current_;
      if (!last_read_ && !fetching_) Fetch();
      return step;
    }
    if (fetching_) return step;  // its page decides
    if (end_ || last_read_) {
      finished_ = true;
      step.finish = end_.value_or(grpc::Status::OK);
    }
    return step;
  }

  void Act(const Step& step) {
    if (step.write != nullptr) this->StartWrite(step.write);
    if (step.finish) this->Finish(*step.finish);
  }

  grpc::CallbackServerContext* const ctx_;
  WorkerPool* const workers_;
  const Next next_;
  absl::Mutex mu_;
  Page current_;                    // being written
  std::optional<Page> ahead_ ABSL_GUARDED_BY(mu_);
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool fetching_ ABSL_GUARDED_BY(mu_) = false;
  bool last_read_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  std::optional<grpc::Status> end_ ABSL_GUARDED_BY(mu_);
};

}  // namespace aw
