// A change feed served to Watch… streams (readings, events, and the feeds of
// services to come). A stream replays from the subscriber's cursor, then
// follows new commits as they are announced — Committed() for a known
// position, Poke() when anything may have changed (a notification, a
// reconnected listener) — with no polling; while idle it sends a heartbeat
// every `heartbeat`. At most `max_subscribers` streams run at once
// (RESOURCE_EXHAUSTED past it); on Shutdown() every stream ends with
// UNAVAILABLE after the message in flight, to be resumed from its last position
// on any replica. Streams hold no thread while idle: reads run on the feed's
// few threads and a waiting stream is only a registration.
//
// What a feed serves, and in which order, is its reader's business (the
// service's store): positions must grow in commit order with no gaps that a
// later commit could fill (the commit-sequence lock pattern of the ingest and
// monitor schemas). Metrics, per feed: subscribers, lag in commits behind the
// latest known commit, and delay from commit to delivery.
//
//   readings_.Subscribe(std::make_unique<ReadingsReader>(store, request), request.from_seq());
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <google/protobuf/arena.h>
#include <grpcpp/grpcpp.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/background.h"
#include "common/clock.h"
#include "common/grpc_util.h"
#include "common/status.h"
#include "common/worker_pool.h"

namespace aw {

struct FeedOptions {
  std::string service;  // the `service` label of the feed's metrics
  std::string name;     // the `feed` label, e.g. "readings"
  int max_subscribers = 64;
  absl::Duration heartbeat = absl::Seconds(1);
  // Threads that run the streams' reads (PostgreSQL); a stream reads again
  // only once its previous page is written.
  int threads = 2;
  // The commit a position belongs to, for the lag metric (positions may number
  // something finer than commits, such as readings within a batch).
  std::function<int64_t(int64_t)> commit_of = [](int64_t position) { return position; };
};

// One subscriber's view of a feed, made for its stream (with its filters).
// Read and Heartbeat run on the feed's threads (Heartbeat also on its
// ticker), one call at a time per stream.
template <typename Message>
class FeedReader {
 public:
  struct Batch {
    std::vector<Message*> messages;  // to send, in order; allocated on the arena given
    // The position after these: greater than the position read from when
    // anything was passed (filtered-out changes included), equal at the head.
    int64_t reached = 0;
    // The commit time of each commit passed, for the delay metric.
    std::vector<absl::Time> committed;
  };
  virtual ~FeedReader() = default;
  // Reads what follows `position`. May block.
  virtual absl::Status Read(int64_t position, google::protobuf::Arena* arena, Batch* batch) = 0;
  // A message saying that nothing more is there up to `position`.
  virtual Message* Heartbeat(int64_t position, google::protobuf::Arena* arena) = 0;
};

// The usual reader: a store function that returns, in order, up to `limit`
// changes after a position (each a Message whose `seq` is its position), and
// the commit time of a change. Heartbeats are messages with only `seq` and
// `heartbeat` set.
//
//   PagedFeedReader<v1::EventChange>([store](int64_t after, int limit) { return store->EventFeed(after, limit); },
//                                    [](const v1::EventChange& c) { return TimeOf(c.event().updated_at()); });
template <typename Message>
class PagedFeedReader final : public FeedReader<Message> {
 public:
  using Fetch = std::function<absl::StatusOr<std::vector<Message>>(int64_t after, int limit)>;
  using CommittedAt = std::function<absl::Time(const Message&)>;
  PagedFeedReader(Fetch fetch, CommittedAt committed_at, int limit = 500)
      : fetch_(std::move(fetch)), committed_at_(std::move(committed_at)), limit_(limit) {}

  absl::Status Read(int64_t position, google::protobuf::Arena* arena,
                    typename FeedReader<Message>::Batch* batch) override {
    absl::StatusOr<std::vector<Message>> changes = fetch_(position, limit_);
    if (!changes.ok()) return changes.status();
    batch->reached = position;
    for (Message& c : *changes) {
      batch->reached = c.seq();
      batch->committed.push_back(committed_at_(c));
      auto* message = google::protobuf::Arena::CreateMessage<Message>(arena);
      message->Swap(&c);
      batch->messages.push_back(message);
    }
    return absl::OkStatus();
  }

  Message* Heartbeat(int64_t position, google::protobuf::Arena* arena) override {
    auto* beat = google::protobuf::Arena::CreateMessage<Message>(arena);
    beat->set_seq(position);
    beat->set_heartbeat(true);
    return beat;
  }

 private:
  const Fetch fetch_;
  const CommittedAt committed_at_;
  const int limit_;
};

// The part of a feed that is not about its message type: the registry of
// streams, wake-ups, heartbeats, the bound, the threads and the metrics.
// Thread-safe.
class FeedHub {
 public:
  // What the hub knows of a stream.
  class Subscriber {
   public:
    virtual ~Subscriber() = default;
    // kCommitted: the latest commit moved (see latest()); kPoke: anything may
    // have been committed; kTick: a heartbeat may be due; kShutdown.
    enum class Signal { kCommitted, kPoke, kTick, kShutdown };
    // Called with the hub's lock held: must not block, nor start gRPC
    // operations (schedule them with Schedule()).
    virtual void Wake(Signal signal) = 0;
    virtual int64_t position() const = 0;
  };

  FeedHub(FeedOptions options, prometheus::Registry& registry, Clock* clock);
  ~FeedHub();

  void Start();
  // Ends the heartbeats and joins the threads; call once no stream runs
  // (after the server has stopped).
  void Stop();

  // Registers a stream; RESOURCE_EXHAUSTED when `max_subscribers` run,
  // UNAVAILABLE once shut down.
  absl::Status Add(Subscriber* subscriber);
  // Unregisters a stream; no Wake reaches it once this returns.
  void Remove(Subscriber* subscriber);
  // Runs `task` on the feed's threads; false once they have stopped.
  bool Schedule(std::function<void()> task);

  void Committed(int64_t position);
  void Poke();
  void Shutdown();

  int64_t latest() const { return latest_; }
  bool shutting_down() const { return shutting_down_; }
  const FeedOptions& options() const { return options_; }
  Clock* clock() const { return clock_; }
  void ObserveDelay(absl::Duration delay) { delay_.Observe(absl::ToDoubleSeconds(delay)); }

 private:
  void Tick();
  void WakeAll(Subscriber::Signal signal) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const FeedOptions options_;
  Clock* const clock_;
  prometheus::Gauge& subscribers_gauge_;
  prometheus::Gauge& lag_;
  prometheus::Histogram& delay_;
  WorkerPool pool_;
  PeriodicTask ticker_;
  std::atomic<int64_t> latest_{0};
  std::atomic<bool> shutting_down_{false};
  absl::Mutex mu_;
  absl::flat_hash_set<Subscriber*> subscribers_ ABSL_GUARDED_BY(mu_);
};

// One Watch… stream: reads a batch on the feed's threads, writes its messages
// one at a time, reads again, and waits (registered, holding no thread) at the
// head until a commit or a heartbeat is due. Deletes itself when done.
template <typename Message>
class FeedStream final : public grpc::ServerWriteReactor<Message>, public FeedHub::Subscriber {
 public:
  FeedStream(FeedHub* hub, std::unique_ptr<FeedReader<Message>> reader, int64_t from)
      : hub_(hub), reader_(std::move(reader)), position_(from), last_sent_(hub->clock()->Now()) {}

  // Starts the stream once registered with the hub.
  void Begin() {
    {
      absl::MutexLock lock(&mu_);
      phase_ = Phase::kReading;
    }
    Perform(Act{.read = true});
  }

  void OnWriteDone(bool ok) override {
    Act act;
    {
      absl::MutexLock lock(&mu_);
      if (!ok) {
        act.finish = Finishing(grpc::Status::CANCELLED);
      } else {
        last_sent_ = hub_->clock()->Now();
        if (writing_ == Writing::kBatch && next_ + 1 < batch_.messages.size()) {
          act.write = batch_.messages[++next_];
        } else {
          if (writing_ == Writing::kBatch) position_ = batch_.reached;
          // After a heartbeat at the head there is nothing to read unless a
          // commit came meanwhile; after anything else, read on.
          act = Next(/*at_head=*/writing_ == Writing::kHeartbeatAtHead);
          writing_ = Writing::kNothing;
        }
      }
    }
    Perform(act);
  }

  void OnCancel() override {
    Act act;
    {
      absl::MutexLock lock(&mu_);
      cancelled_ = true;
      if (phase_ == Phase::kWaiting) act.finish = Finishing(grpc::Status::CANCELLED);
    }
    Perform(act);
  }

  void OnDone() override {
    hub_->Remove(this);
    delete this;
  }

  // FeedHub::Subscriber
  void Wake(Signal signal) override {
    absl::MutexLock lock(&mu_);
    if (signal == Signal::kPoke || (signal == Signal::kCommitted && hub_->latest() > position_)) {
      if (phase_ != Phase::kWaiting) {
        look_again_ = true;  // busy: look once the current step is done
        return;
      }
      phase_ = Phase::kReading;
      hub_->Schedule([this] { ReadNext(); });
      return;
    }
    if (phase_ != Phase::kWaiting) return;
    if (signal == Signal::kShutdown) {
      const grpc::Status status = Finishing(Unavailable());
      hub_->Schedule([this, status] { this->Finish(status); });
    } else if (signal == Signal::kTick && hub_->clock()->Now() - last_sent_ >= hub_->options().heartbeat) {
      phase_ = Phase::kWriting;
      writing_ = Writing::kHeartbeatAtHead;
      arena_.Reset();  // what it held has been written
      const Message* beat = reader_->Heartbeat(position_, &arena_);
      hub_->Schedule([this, beat] { this->StartWrite(beat); });
    }
  }
  int64_t position() const override { return position_; }

 private:
  enum class Phase { kStarting, kReading, kWriting, kWaiting, kFinished };
  enum class Writing { kNothing, kBatch, kHeartbeat, kHeartbeatAtHead };
  // What to start once the lock is released: operations never start under it.
  struct Act {
    bool read = false;
    const Message* write = nullptr;
    std::optional<grpc::Status> finish;
  };

  static grpc::Status Unavailable() {
    return grpc::Status(grpc::StatusCode::UNAVAILABLE, "server shutting down; resume from the last position");
  }

  grpc::Status Finishing(grpc::Status status) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    phase_ = Phase::kFinished;
    return status;
  }

  // The step after a read or a write: end, read, or wait at the head for a
  // Wake (a commit, a tick, the shutdown).
  Act Next(bool at_head) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    Act act;
    if (cancelled_) {
      act.finish = Finishing(grpc::Status::CANCELLED);
    } else if (hub_->shutting_down()) {
      act.finish = Finishing(Unavailable());
    } else if (!at_head || look_again_ || hub_->latest() > position_) {
      look_again_ = false;
      phase_ = Phase::kReading;
      act.read = true;
    } else {
      phase_ = Phase::kWaiting;
    }
    return act;
  }

  void Perform(const Act& act) {
    if (act.read && !hub_->Schedule([this] { ReadNext(); })) {
      {
        absl::MutexLock lock(&mu_);
        Finishing(Unavailable());
      }
      this->Finish(Unavailable());
      return;
    }
    if (act.write != nullptr) this->StartWrite(act.write);
    if (act.finish) this->Finish(*act.finish);
  }

  // On a feed thread, in phase kReading: nothing else touches the batch or
  // the arena meanwhile.
  void ReadNext() {
    int64_t from = 0;
    Act act;
    {
      absl::MutexLock lock(&mu_);
      if (cancelled_) {
        act.finish = Finishing(grpc::Status::CANCELLED);
      } else if (hub_->shutting_down()) {
        act.finish = Finishing(Unavailable());
      }
      from = position_;
    }
    if (act.finish) {
      Perform(act);
      return;
    }
    arena_.Reset();
    batch_ = typename FeedReader<Message>::Batch();
    batch_.reached = from;
    const absl::Status read = reader_->Read(from, &arena_, &batch_);
    const absl::Time now = hub_->clock()->Now();
    for (absl::Time t : batch_.committed) hub_->ObserveDelay(now - t);
    {
      absl::MutexLock lock(&mu_);
      if (!read.ok()) {
        act.finish = Finishing(ToGrpcStatus(read));
      } else if (cancelled_) {
        act.finish = Finishing(grpc::Status::CANCELLED);
      } else if (!batch_.messages.empty()) {
        phase_ = Phase::kWriting;
        writing_ = Writing::kBatch;
        next_ = 0;
        act.write = batch_.messages[0];
      } else if (batch_.reached > position_) {
        // Only filtered-out changes: move on, and say so now and then.
        position_ = batch_.reached;
        if (now - last_sent_ >= hub_->options().heartbeat) {
          phase_ = Phase::kWriting;
          writing_ = Writing::kHeartbeat;
          act.write = reader_->Heartbeat(position_, &arena_);
        } else {
          act = Next(/*at_head=*/false);
        }
      } else {
        act = Next(/*at_head=*/true);
      }
    }
    Perform(act);
  }

  FeedHub* const hub_;
  const std::unique_ptr<FeedReader<Message>> reader_;
  absl::Mutex mu_;
  Phase phase_ ABSL_GUARDED_BY(mu_) = Phase::kStarting;
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
  bool look_again_ ABSL_GUARDED_BY(mu_) = false;
  std::atomic<int64_t> position_;
  absl::Time last_sent_ ABSL_GUARDED_BY(mu_);
  // Owned by the step in progress (a read, then the writes of its batch).
  google::protobuf::Arena arena_;
  typename FeedReader<Message>::Batch batch_;
  size_t next_ = 0;
  Writing writing_ = Writing::kNothing;
};

// A change feed of `Message`s. Thread-safe.
template <typename Message>
class Feed {
 public:
  Feed(FeedOptions options, prometheus::Registry& registry, Clock* clock)
      : hub_(std::move(options), registry, clock) {}

  void Start() { hub_.Start(); }
  // Ends every stream (UNAVAILABLE); call when the drain begins.
  void Shutdown() { hub_.Shutdown(); }
  // Joins the feed's threads; call after the server has stopped.
  void Stop() { hub_.Stop(); }

  // A stream of `reader`'s messages after position `from`.
  grpc::ServerWriteReactor<Message>* Subscribe(std::unique_ptr<FeedReader<Message>> reader, int64_t from) {
    auto* stream = new FeedStream<Message>(&hub_, std::move(reader), from);
    if (absl::Status added = hub_.Add(stream); !added.ok()) {
      delete stream;
      return new FailedWriteReactor<Message>(ToGrpcStatus(added));
    }
    stream->Begin();
    return stream;
  }

  // Everything up to `position` is committed (this replica's commit, or one
  // announced by another).
  void Committed(int64_t position) { hub_.Committed(position); }
  // Something may have been committed: waiting streams look again.
  void Poke() { hub_.Poke(); }

 private:
  FeedHub hub_;
};

}  // namespace aw
