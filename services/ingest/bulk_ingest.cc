#include "services/ingest/bulk_ingest.h"

#include <deque>
#include <optional>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/status.h"

namespace aw::ingest {

// Reads batches ahead (up to kReadAhead), applies them one at a time on the
// worker pool in arrival order and writes each result once the batch is
// durable. `Batch` is a ReadingBatch or a ConsumptionBatch; `apply` writes one.
template <typename Batch>
class BulkIngestStream final : public grpc::ServerBidiReactor<Batch, v1::BatchResult>, public BulkIngest::Stream {
 public:
  using Apply = std::function<absl::StatusOr<v1::BatchResult>(const Batch&)>;
  BulkIngestStream(BulkIngest* owner, Apply apply) : owner_(owner), apply_(std::move(apply)) {}

  // Starts reading (or, during the drain, ends at once).
  void Start(bool draining) { Replan(draining); }

  // The drain has begun: read nothing more, answer what was taken in, end.
  void Drain() override { Replan(true); }

  void OnReadDone(bool ok) override {
    Actions act;
    {
      absl::MutexLock lock(&mu_);
      reading_ = false;
      if (!ok) {
        read_done_ = true;
      } else {
        queue_.push_back(std::move(incoming_));
        incoming_.Clear();
      }
      Plan(act);
    }
    Run(act);
  }

  void OnWriteDone(bool ok) override {
    Actions act;
    {
      absl::MutexLock lock(&mu_);
      writing_ = false;
      if (!ok && error_.ok()) error_ = absl::CancelledError("client stopped reading results");
      Plan(act);
    }
    Run(act);
  }

  void OnCancel() override {
    Actions act;
    {
      absl::MutexLock lock(&mu_);
      if (error_.ok()) error_ = absl::CancelledError("cancelled by the client");
      Plan(act);
    }
    Run(act);
  }

  // Leaving the registry frees the stream: nothing may follow.
  void OnDone() override { owner_->Closed(this); }

  using grpc::ServerBidiReactor<Batch, v1::BatchResult>::StartRead;
  using grpc::ServerBidiReactor<Batch, v1::BatchResult>::StartWrite;
  using grpc::ServerBidiReactor<Batch, v1::BatchResult>::Finish;

 private:
  static constexpr size_t kReadAhead = 2;

  // What to start once the lock is released (reactions never run under it).
  struct Actions {
    bool read = false;
    const v1::BatchResult* write = nullptr;
    std::optional<Batch> process;
    std::optional<grpc::Status> finish;
  };

  void Replan(bool draining) {
    Actions act;
    {
      absl::MutexLock lock(&mu_);
      draining_ = draining_ || draining;
      Plan(act);
    }
    Run(act);
  }

  void Plan(Actions& act) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (finished_) return;
    if (!error_.ok()) {
      if (!processing_ && !writing_) {
        finished_ = true;
        act.finish = ToGrpcStatus(error_);
      }
      return;
    }
    if (!writing_ && !results_.empty()) {
      current_ = std::move(results_.front());
      results_.pop_front();
      writing_ = true;
      act.write = &current_;
    }
    if (!processing_ && !queue_.empty()) {
      processing_ = true;
      act.process = std::move(queue_.front());
      queue_.pop_front();
    }
    if (!reading_ && !read_done_ && !draining_ && queue_.size() < kReadAhead) {
      reading_ = true;
      act.read = true;
    }
    const bool idle = queue_.empty() && !processing_ && !writing_ && results_.empty();
    if (idle && read_done_) {
      finished_ = true;
      act.finish = grpc::Status::OK;
    } else if (idle && draining_) {
      // Every batch taken in is answered; one whose read was in flight is not,
      // and the client re-sends it.
      finished_ = true;
      act.finish = grpc::Status(grpc::StatusCode::UNAVAILABLE,
                                "server shutting down; re-send the batches without an answer to another replica");
    }
  }

  void Run(Actions& act) {
    if (act.read) StartRead(&incoming_);
    if (act.write != nullptr) StartWrite(act.write);
    if (act.process) {
      auto batch = std::make_shared<Batch>(std::move(*act.process));
      if (!owner_->workers_->TrySubmit([this, batch] { Process(*batch); })) {
        Actions next;
        {
          absl::MutexLock lock(&mu_);
          processing_ = false;
          error_ = absl::ResourceExhaustedError("server busy: ingest worker queue is full, retry");
          Plan(next);
        }
        Run(next);
      }
    }
    if (act.finish) Finish(*act.finish);
  }

  void Process(const Batch& batch) {
    const absl::Time start = absl::Now();
    auto result = apply_(batch);
    owner_->metrics_->batch_seconds.Observe(absl::ToDoubleSeconds(absl::Now() - start));
    if (result.ok() && !result->duplicate()) owner_->metrics_->CountRows(batch.source(), *result);
    Actions act;
    {
      absl::MutexLock lock(&mu_);
      processing_ = false;
      if (result.ok()) {
        results_.push_back(*std::move(result));
      } else if (error_.ok()) {
        error_ = absl::Status(result.status().code(),
                              absl::StrCat("batch ", batch.batch_id(), ": ", result.status().message()));
      }
      Plan(act);
    }
    Run(act);
  }

  BulkIngest* const owner_;
  const Apply apply_;
  absl::Mutex mu_;
  Batch incoming_;           // owned by the read in flight
  v1::BatchResult current_;  // owned by the write in flight
  std::deque<Batch> queue_ ABSL_GUARDED_BY(mu_);
  std::deque<v1::BatchResult> results_ ABSL_GUARDED_BY(mu_);
  bool reading_ ABSL_GUARDED_BY(mu_) = false;
  bool read_done_ ABSL_GUARDED_BY(mu_) = false;
  bool processing_ ABSL_GUARDED_BY(mu_) = false;
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool draining_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  absl::Status error_ ABSL_GUARDED_BY(mu_);
};

// ImportReadings: reads a batch, applies it on the worker pool, and only then
// reads the next (the client's writes wait meanwhile: flow control); answers
// once, when the client has sent its last batch.
class BulkImportCall final : public grpc::ServerReadReactor<v1::ReadingBatch> {
 public:
  BulkImportCall(BulkIngest* owner, v1::ImportReadingsResponse* response) : owner_(owner), response_(response) {
    StartRead(&incoming_);
  }

  void OnReadDone(bool ok) override {
    if (!ok) {  // the client's last batch (or a cancellation, which ends the call anyway)
      Finish(grpc::Status::OK);
      return;
    }
    if (owner_->draining()) {
      End(absl::UnavailableError("the server is draining"));
      return;
    }
    if (response_->batches() >= kMaxBatches) {
      End(absl::ResourceExhaustedError(
          absl::StrCat("at most ", kMaxBatches, " batches a call: use IngestReadings for more")));
      return;
    }
    if (!owner_->workers_->TrySubmit([this] { Apply(); })) {
      End(absl::ResourceExhaustedError("server busy: ingest worker queue is full, retry"));
    }
  }

  void OnDone() override { delete this; }

 private:
  static constexpr int kMaxBatches = 10000;

  void Apply() {
    const absl::Time start = absl::Now();
    auto result = owner_->store_->IngestBatch(incoming_);
    owner_->metrics_->batch_seconds.Observe(absl::ToDoubleSeconds(absl::Now() - start));
    if (!result.ok()) {
      End(absl::Status(result.status().code(), absl::StrCat("batch ", incoming_.batch_id(), ": ",
                                                            result.status().message())));
      return;
    }
    if (!result->duplicate()) owner_->metrics_->CountRows(incoming_.source(), *result);
    response_->set_batches(response_->batches() + 1);
    response_->set_accepted(response_->accepted() + result->accepted());
    response_->set_rejected(response_->rejected() + result->rejected());
    if (result->duplicate()) response_->set_duplicates(response_->duplicates() + 1);
    *response_->add_results() = *std::move(result);
    incoming_.Clear();
    StartRead(&incoming_);
  }

  // Ends the call with `why`, saying how far it got.
  void End(const absl::Status& why) {
    Finish(ToGrpcStatus(absl::Status(
        why.code(), absl::StrCat(why.message(), " (", response_->batches(),
                                 " batch(es) before it applied; re-send the rest)"))));
  }

  BulkIngest* const owner_;
  v1::ImportReadingsResponse* const response_;
  v1::ReadingBatch incoming_;
};

grpc::ServerReadReactor<v1::ReadingBatch>* BulkIngest::OpenImport(v1::ImportReadingsResponse* response) {
  return new BulkImportCall(this, response);
}

template <typename Batch>
grpc::ServerBidiReactor<Batch, v1::BatchResult>* BulkIngest::OpenStream(
    std::function<absl::StatusOr<v1::BatchResult>(const Batch&)> apply) {
  auto stream = std::make_shared<BulkIngestStream<Batch>>(this, std::move(apply));
  bool draining = false;
  {
    absl::MutexLock lock(&mu_);
    draining = draining_;
    open_.emplace(stream.get(), stream);
  }
  stream->Start(draining);
  return stream.get();
}

grpc::ServerBidiReactor<v1::ReadingBatch, v1::BatchResult>* BulkIngest::Open() {
  return OpenStream<v1::ReadingBatch>([this](const v1::ReadingBatch& b) { return store_->IngestBatch(b); });
}

grpc::ServerBidiReactor<v1::ConsumptionBatch, v1::BatchResult>* BulkIngest::OpenConsumption(
    std::function<absl::StatusOr<v1::BatchResult>(const v1::ConsumptionBatch&)> apply) {
  return OpenStream<v1::ConsumptionBatch>(std::move(apply));
}

void BulkIngest::Drain() {
  std::vector<std::shared_ptr<Stream>> streams;
  {
    absl::MutexLock lock(&mu_);
    draining_ = true;
    for (const auto& [raw, stream] : open_) streams.push_back(stream);
  }
  for (const auto& s : streams) s->Drain();
}

void BulkIngest::Closed(Stream* stream) {
  std::shared_ptr<Stream> last;  // freed after the lock is released
  absl::MutexLock lock(&mu_);
  auto it = open_.find(stream);
  if (it == open_.end()) return;
  last = std::move(it->second);
  open_.erase(it);
}

}  // namespace aw::ingest
