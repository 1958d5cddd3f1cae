#include "services/report/job_watch.h"

#include <algorithm>
#include <atomic>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "common/status.h"
#include "services/report/report_logic.h"

namespace aw::report {

// One WatchReport stream. Writes one state at a time; a newer state that
// comes while a write is in flight waits (only the newest is kept). Deletes
// itself when done.
class JobWatch::Stream final : public grpc::ServerWriteReactor<v1::ReportJob> {
 public:
  Stream(JobWatch* hub, int64_t id, std::optional<v1::Principal> principal)
      : hub_(hub), id_(id), principal_(std::move(principal)) {}

  int64_t id() const { return id_; }

  // The job's row as last read; nullopt when there is no such job.
  void Offer(const std::optional<JobRecord>& record) {
    std::optional<grpc::Status> finish;
    bool write = false;
    {
      absl::MutexLock lock(&mu_);
      if (finished_) return;
      if (!checked_) {
        checked_ = true;
        if (!record) {
          finish = grpc::Status(grpc::StatusCode::NOT_FOUND, absl::StrCat("id: no report ", id_));
        } else if (!MayRead(principal_, record->scope_path)) {
          finish = grpc::Status(grpc::StatusCode::PERMISSION_DENIED,
                                absl::StrCat("id: report ", id_, " is of a unit outside the caller's units"));
        }
      }
      if (finish) {
        finished_ = true;
      } else if (record && record->version > sent_version_) {
        if (writing_) {
          pending_ = record;
        } else {
          write = Take(*record);
        }
      }
    }
    if (write) StartWrite(&current_);
    if (finish) Finish(*finish);
  }

  void EndForShutdown() {
    bool finish = false;
    {
      absl::MutexLock lock(&mu_);
      shutting_down_ = true;
      if (!writing_ && !finished_) finish = finished_ = true;
    }
    if (finish) Finish(Unavailable());
  }

  void OnWriteDone(bool ok) override {
    std::optional<grpc::Status> finish;
    bool write = false;
    {
      absl::MutexLock lock(&mu_);
      writing_ = false;
      if (!ok || cancelled_) {
        finish = grpc::Status::CANCELLED;
      } else if (ended_) {
        finish = grpc::Status::OK;
      } else if (shutting_down_) {
        finish = Unavailable();
      } else if (pending_ && pending_->version > sent_version_) {
        write = Take(*pending_);
      }
      pending_.reset();
      if (finish) finished_ = true;
    }
    if (write) StartWrite(&current_);
    if (finish) Finish(*finish);
  }

  void OnCancel() override {
    bool finish = false;
    {
      absl::MutexLock lock(&mu_);
      cancelled_ = true;
      if (!writing_ && !finished_) finish = finished_ = true;
    }
    if (finish) Finish(grpc::Status::CANCELLED);
  }

  void OnDone() override {
    hub_->Remove(this);
    Unref();
  }

  // The hub holds a reference while it offers a state outside its lock; the
  // last reference deletes the stream.
  void Ref() { refs_.fetch_add(1); }
  void Unref() {
    if (refs_.fetch_sub(1) == 1) delete this;
  }

 private:
  static grpc::Status Unavailable() {
    return grpc::Status(grpc::StatusCode::UNAVAILABLE, "server shutting down; watch again on another replica");
  }

  // Makes `record` the message in flight.
  bool Take(const JobRecord& record) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    current_ = record.job;
    sent_version_ = record.version;
    ended_ = Terminal(record.job.state());
    writing_ = true;
    return true;
  }

  JobWatch* const hub_;
  std::atomic<int> refs_{1};  // gRPC's, until OnDone
  const int64_t id_;
  const std::optional<v1::Principal> principal_;
  absl::Mutex mu_;
  bool checked_ ABSL_GUARDED_BY(mu_) = false;
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool ended_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
  bool shutting_down_ ABSL_GUARDED_BY(mu_) = false;
  int64_t sent_version_ ABSL_GUARDED_BY(mu_) = 0;
  std::optional<JobRecord> pending_ ABSL_GUARDED_BY(mu_);
  v1::ReportJob current_;  // the message in flight: changed only while no write is
};

JobWatch::JobWatch(ReportStore* store, absl::Duration poll, Clock* clock)
    : store_(store), loop_("report-watch", "report", poll, clock, [this] { return Tick(); }) {}

grpc::ServerWriteReactor<v1::ReportJob>* JobWatch::Watch(int64_t id, std::optional<v1::Principal> principal) {
  auto* stream = new Stream(this, id, std::move(principal));
  bool shutting_down = false;
  {
    absl::MutexLock lock(&mu_);
    shutting_down = shutting_down_;
    if (!shutting_down) streams_.insert(stream);
  }
  if (shutting_down) {
    stream->EndForShutdown();
  } else {
    loop_.Wake();  // its first state now
  }
  return stream;
}

void JobWatch::Shutdown() {
  std::vector<Stream*> streams;
  {
    absl::MutexLock lock(&mu_);
    shutting_down_ = true;
    for (Stream* s : streams_) {
      s->Ref();
      streams.push_back(s);
    }
  }
  for (Stream* s : streams) {
    s->EndForShutdown();
    s->Unref();
  }
}

void JobWatch::Remove(Stream* stream) {
  absl::MutexLock lock(&mu_);
  streams_.erase(stream);
}

absl::Status JobWatch::Tick() {
  std::vector<int64_t> ids;
  {
    absl::MutexLock lock(&mu_);
    for (Stream* s : streams_) ids.push_back(s->id());
  }
  if (ids.empty()) return absl::OkStatus();
  AW_ASSIGN_OR_RETURN(std::vector<JobRecord> records, store_->GetJobs(ids));
  absl::flat_hash_map<int64_t, JobRecord*> by_id;
  for (JobRecord& r : records) by_id[r.job.id()] = &r;
  // Streams that left meanwhile are no longer in the set: only live ones are
  // offered, each held by a reference while its gRPC operations start.
  std::vector<Stream*> streams;
  {
    absl::MutexLock lock(&mu_);
    for (Stream* s : streams_) {
      if (std::find(ids.begin(), ids.end(), s->id()) == ids.end()) continue;  // came after the read
      s->Ref();
      streams.push_back(s);
    }
  }
  for (Stream* s : streams) {
    auto it = by_id.find(s->id());
    s->Offer(it == by_id.end() ? std::nullopt : std::optional<JobRecord>(*it->second));
    s->Unref();
  }
  return absl::OkStatus();
}

}  // namespace aw::report
