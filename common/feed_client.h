// The consumer's side of a change feed: reads a Watch… stream for as long as
// it is wanted and, when the stream breaks (the server restarts, the network
// fails), reconnects with exponential backoff from the position the consumer
// says (its last durable cursor). Errors that retrying cannot mend end it.
// FeedFollower runs such a subscription on a thread of its own, for
// consumers that apply each message and keep their cursor in their store.
//
//   FeedSubscription<v1::WatchEventsRequest, v1::EventChange> events(
//       [&](grpc::ClientContext* c, const v1::WatchEventsRequest& r) { return stub->WatchEvents(c, r); },
//       request, [&] { return store->Cursor("monitor.events"); }, {.name = "monitor events"});
//   v1::EventChange change;
//   while (events.Next(&change).ok()) { … }
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <thread>

#include <grpcpp/grpcpp.h>
#include <grpcpp/support/sync_stream.h>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "common/backoff.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/status.h"

namespace aw {

// True for the codes a reconnect may mend (UNAVAILABLE, DEADLINE_EXCEEDED,
// RESOURCE_EXHAUSTED, ABORTED, INTERNAL, UNKNOWN, CANCELLED by the server).
bool RetryableFeedError(absl::StatusCode code);

// Thread-compatible, except Stop(), which any thread may call.
template <typename Request, typename Response>
class FeedSubscription {
 public:
  using Open = std::function<std::unique_ptr<grpc::ClientReaderInterface<Response>>(grpc::ClientContext*,
                                                                                   const Request&)>;
  struct Options {
    std::string name = "feed";  // for logs
    Backoff backoff{.initial = absl::Milliseconds(100), .max = absl::Seconds(10)};
    Clock* clock = Clock::Real();
  };

  // `request` is sent on every (re)connection with its from_seq set to
  // `resume_from()`.
  FeedSubscription(Open open, Request request, std::function<absl::StatusOr<int64_t>()> resume_from,
                   Options options)
      : open_(std::move(open)),
        request_(std::move(request)),
        resume_from_(std::move(resume_from)),
        options_(std::move(options)) {}
  ~FeedSubscription() { Close(); }

  // The next message, reconnecting as needed. CANCELLED once stopped; the
  // error of a stream that retrying cannot mend otherwise.
  absl::Status Next(Response* message) {
    for (;;) {
      if (stop_.HasBeenNotified()) return absl::CancelledError(options_.name + ": stopped");
      if (reader_ == nullptr) AW_RETURN_IF_ERROR(Connect());
      if (reader_ != nullptr && reader_->Read(message)) {
        failures_ = 0;
        return absl::OkStatus();
      }
      if (reader_ != nullptr) {
        const absl::Status ended = FromGrpcStatus(reader_->Finish(), options_.name);
        Reset();
        if (stop_.HasBeenNotified()) continue;
        if (!ended.ok() && !RetryableFeedError(ended.code())) return ended;
        Logger("feed")->info("{}: stream ended ({}); reconnecting", options_.name,
                             ended.ok() ? "by the server" : ended.ToString());
      }
      if (options_.clock->SleepFor(options_.backoff.After(++failures_), stop_)) continue;
    }
  }

  // Ends the subscription: a Next() in progress returns CANCELLED.
  void Stop() {
    absl::MutexLock lock(&mu_);
    if (!stop_.HasBeenNotified()) stop_.Notify();
    if (context_ != nullptr) context_->TryCancel();
  }

  int reconnects() const { return connections_ > 0 ? connections_ - 1 : 0; }

 private:
  absl::Status Connect() {
    auto from = resume_from_();
    if (!from.ok()) {
      // The consumer cannot say where it is (its database is away): wait.
      Logger("feed")->warn("{}: cannot resume: {}", options_.name, from.status().ToString());
      options_.clock->SleepFor(options_.backoff.After(++failures_), stop_);
      return absl::OkStatus();
    }
    request_.set_from_seq(*from);
    auto context = std::make_unique<grpc::ClientContext>();
    {
      absl::MutexLock lock(&mu_);
      if (stop_.HasBeenNotified()) return absl::CancelledError(options_.name + ": stopped");
      context_ = std::move(context);
    }
    reader_ = open_(context_.get(), request_);
    ++connections_;
    return absl::OkStatus();
  }

  void Reset() {
    reader_.reset();
    absl::MutexLock lock(&mu_);
    context_.reset();
  }

  void Close() {
    Stop();
    if (reader_ != nullptr) {
      reader_->Finish();
      Reset();
    }
  }

  const Open open_;
  Request request_;
  const std::function<absl::StatusOr<int64_t>()> resume_from_;
  const Options options_;
  absl::Notification stop_;
  absl::Mutex mu_;
  std::unique_ptr<grpc::ClientContext> context_ ABSL_GUARDED_BY(mu_);
  std::unique_ptr<grpc::ClientReaderInterface<Response>> reader_;
  int failures_ = 0;
  int connections_ = 0;
};

// A consumer that follows a feed on a thread of its own from Start() to
// Stop(): each (re)subscription resumes from the consumer's durable cursor,
// and each message goes to `handle`, which applies it and moves the cursor
// in one transaction. When handling fails, or the stream ends with an error
// a reconnect cannot mend, the follower logs it under `logger` and, after a
// backoff, subscribes afresh from the cursor: nothing is skipped and nothing
// is lost to a restart. Thread-safe.
template <typename Request, typename Response>
class FeedFollower {
 public:
  using Subscription = FeedSubscription<Request, Response>;
  struct Options {
    std::string name = "feed";  // for logs
    std::string logger = "feed";
    Backoff backoff{.initial = absl::Milliseconds(200), .max = absl::Seconds(10)};
    Clock* clock = Clock::Real();
  };
  FeedFollower(typename Subscription::Open open, std::function<absl::StatusOr<int64_t>()> resume_from,
               std::function<absl::Status(const Response&)> handle, Options options)
      : open_(std::move(open)),
        resume_from_(std::move(resume_from)),
        handle_(std::move(handle)),
        options_(std::move(options)) {}
  ~FeedFollower() { Stop(); }
  FeedFollower(const FeedFollower&) = delete;
  FeedFollower& operator=(const FeedFollower&) = delete;

  void Start() {
    thread_ = std::thread([this] { Loop(); });
  }
  void Stop() {
    {
      absl::MutexLock lock(&mu_);
      if (!stop_.HasBeenNotified()) stop_.Notify();
      if (current_ != nullptr) current_->Stop();
    }
    if (thread_.joinable()) thread_.join();
  }

 private:
  void Loop() {
    int failures = 0;
    while (!stop_.HasBeenNotified()) {
      Subscription feed(open_, Request(), resume_from_, {.name = options_.name, .clock = options_.clock});
      {
        absl::MutexLock lock(&mu_);
        if (stop_.HasBeenNotified()) break;
        current_ = &feed;
      }
      Response message;
      absl::Status status;
      while ((status = feed.Next(&message)).ok()) {
        status = handle_(message);
        if (!status.ok()) break;
        failures = 0;
      }
      {
        absl::MutexLock lock(&mu_);
        current_ = nullptr;
      }
      if (stop_.HasBeenNotified()) break;
      Logger(options_.logger)->warn("{}: {}; resuming from the cursor", options_.name, status.ToString());
      options_.clock->SleepFor(options_.backoff.After(++failures), stop_);
    }
  }

  const typename Subscription::Open open_;
  const std::function<absl::StatusOr<int64_t>()> resume_from_;
  const std::function<absl::Status(const Response&)> handle_;
  const Options options_;
  absl::Notification stop_;
  absl::Mutex mu_;
  Subscription* current_ ABSL_GUARDED_BY(mu_) = nullptr;
  std::thread thread_;
};

}  // namespace aw
