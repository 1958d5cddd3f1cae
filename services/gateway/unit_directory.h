// The org tree as the gateway knows it (UnitTree, access_logic.h), fetched
// from ingest over its contract (ListUnits, inactive units included) every
// --gateway_unit_refresh, and again when a call names a unit it does not know
// (a unit created since). One fetch runs at a time, and calls that miss
// while it runs share the next one, so misses cost ingest at most one
// fetch after another however many calls there are. Thread-safe.
#pragma once

#include <memory>

#include <grpcpp/grpcpp.h>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "auditwatch/v1/ingest.grpc.pb.h"
#include "common/clock.h"
#include "services/gateway/access_logic.h"

namespace aw::gateway {

class UnitDirectory {
 public:
  // `call_timeout`: the deadline of each ListUnits page.
  UnitDirectory(std::shared_ptr<grpc::Channel> ingest, absl::Duration call_timeout, Clock* clock)
      : stub_(v1::IngestService::NewStub(std::move(ingest))), call_timeout_(call_timeout), clock_(clock) {}

  // The latest tree; null until one has been fetched.
  std::shared_ptr<const UnitTree> tree() const {
    absl::MutexLock lock(&mu_);
    return tree_;
  }

  // Fetches the tree now.
  absl::Status Refresh();
  // Fetches it unless a fetch has begun since `since` (the moment the
  // caller found the tree wanting); callers that arrive during a fetch
  // wait for it, and the first of them fetches again for all.
  absl::Status RefreshSince(absl::Time since);

 private:
  std::unique_ptr<v1::IngestService::Stub> stub_;
  const absl::Duration call_timeout_;
  Clock* const clock_;
  absl::Mutex refresh_mu_;  // one fetch at a time
  mutable absl::Mutex mu_;
  std::shared_ptr<const UnitTree> tree_ ABSL_GUARDED_BY(mu_);
  absl::Time fetched_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
};

}  // namespace aw::gateway
