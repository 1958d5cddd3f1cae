#include "common/feed.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace aw {
namespace {

prometheus::Labels FeedLabels(const FeedOptions& o) { return {{"service", o.service}, {"feed", o.name}}; }

}  // namespace

FeedHub::FeedHub(FeedOptions options, prometheus::Registry& registry, Clock* clock)
    : options_(std::move(options)),
      clock_(clock),
      subscribers_gauge_(prometheus::BuildGauge()
                             .Name("auditwatch_feed_subscribers")
                             .Help("Open streams of a change feed")
                             .Register(registry)
                             .Add(FeedLabels(options_))),
      lag_(prometheus::BuildGauge()
               .Name("auditwatch_feed_lag_commits")
               .Help("Commits the furthest-behind stream of a change feed has not been sent yet")
               .Register(registry)
               .Add(FeedLabels(options_))),
      delay_(prometheus::BuildHistogram()
                 .Name("auditwatch_feed_delay_seconds")
                 .Help("Time from a commit to the read that delivers it on a change feed")
                 .Register(registry)
                 .Add(FeedLabels(options_), prometheus::Histogram::BucketBoundaries{
                                                0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5, 30})),
      // Each stream has at most one task queued (a read, a heartbeat or its end).
      pool_("aw-feed-" + options_.name, options_.threads, options_.max_subscribers + 1),
      ticker_("aw-feed-tick", "feed", options_.heartbeat / 2, clock, [this] {
        Tick();
        return absl::OkStatus();
      }) {}

FeedHub::~FeedHub() { Stop(); }

void FeedHub::Start() { ticker_.Start(); }

void FeedHub::Stop() {
  Shutdown();
  ticker_.Stop();
  pool_.Shutdown();
}

absl::Status FeedHub::Add(Subscriber* subscriber) {
  absl::MutexLock lock(&mu_);
  if (shutting_down_) return absl::UnavailableError("server shutting down; subscribe to another replica");
  if (static_cast<int>(subscribers_.size()) >= options_.max_subscribers) {
    return absl::ResourceExhaustedError(absl::StrCat("the ", options_.name, " feed already serves ",
                                                     options_.max_subscribers, " streams; retry later"));
  }
  subscribers_.insert(subscriber);
  subscribers_gauge_.Set(static_cast<double>(subscribers_.size()));
  return absl::OkStatus();
}

void FeedHub::Remove(Subscriber* subscriber) {
  absl::MutexLock lock(&mu_);
  subscribers_.erase(subscriber);
  subscribers_gauge_.Set(static_cast<double>(subscribers_.size()));
}

bool FeedHub::Schedule(std::function<void()> task) { return pool_.TrySubmit(std::move(task)); }

void FeedHub::Committed(int64_t position) {
  int64_t seen = latest_.load();
  while (position > seen && !latest_.compare_exchange_weak(seen, position)) {
  }
  absl::MutexLock lock(&mu_);
  WakeAll(Subscriber::Signal::kCommitted);
}

void FeedHub::Poke() {
  absl::MutexLock lock(&mu_);
  WakeAll(Subscriber::Signal::kPoke);
}

void FeedHub::Shutdown() {
  absl::MutexLock lock(&mu_);
  if (shutting_down_) return;
  shutting_down_ = true;
  WakeAll(Subscriber::Signal::kShutdown);
}

void FeedHub::Tick() {
  absl::MutexLock lock(&mu_);
  WakeAll(Subscriber::Signal::kTick);
  int64_t lag = 0;
  const int64_t head = options_.commit_of(latest_);
  for (const Subscriber* s : subscribers_) lag = std::max(lag, head - options_.commit_of(s->position()));
  lag_.Set(static_cast<double>(lag));
}

void FeedHub::WakeAll(Subscriber::Signal signal) {
  for (Subscriber* s : subscribers_) s->Wake(signal);
}

}  // namespace aw
