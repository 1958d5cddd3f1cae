// WatchReport streams: a job's state now, then each change, ending after the
// job ends. One loop (every `poll`) reads the rows of every watched job in one
// query and hands each stream the version it has not sent yet, so a stream
// holds no thread while it waits and any replica serves any job's progress
// (it is in the row). The first state is checked against the caller: NOT_FOUND
// or PERMISSION_DENIED ends the stream. Thread-safe.
//
// Unlike the change feeds (common/feed.h), this stream follows one record to
// its end rather than a sequence from a cursor, so it is not a Feed.
#pragma once

#include <optional>

#include <grpcpp/grpcpp.h>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_set.h"
#include "absl/synchronization/mutex.h"
#include "common/background.h"
#include "services/report/report_store.h"

namespace aw::report {

class JobWatch {
 public:
  JobWatch(ReportStore* store, absl::Duration poll, Clock* clock);

  // A stream of job `id` for `principal` (nullopt: a call from inside).
  grpc::ServerWriteReactor<v1::ReportJob>* Watch(int64_t id, std::optional<v1::Principal> principal);

  void Start() { loop_.Start(); }
  // A job may have changed: look now rather than at the next poll.
  void Poke() { loop_.Wake(); }
  // Ends every stream with UNAVAILABLE (watch again on any replica).
  void Shutdown();
  void Stop() { loop_.Stop(); }

 private:
  class Stream;
  absl::Status Tick();
  void Remove(Stream* stream);

  ReportStore* const store_;
  absl::Mutex mu_;
  absl::flat_hash_set<Stream*> streams_ ABSL_GUARDED_BY(mu_);
  bool shutting_down_ ABSL_GUARDED_BY(mu_) = false;
  PeriodicTask loop_;
};

}  // namespace aw::report
