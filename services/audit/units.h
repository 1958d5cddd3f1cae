// What the audit service knows of ingest's org tree: the path of a unit (root
// first), cached and fetched again when unknown or older than a few minutes,
// and the units of a subtree (for rates). Calls IngestService through its
// contract. Thread-safe.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "auditwatch/v1/ingest.grpc.pb.h"
#include "common/clock.h"

namespace aw::audit {

namespace v1 = ::auditwatch::v1;

class Units {
 public:
  Units(std::shared_ptr<grpc::Channel> ingest, absl::Duration call_timeout, Clock* clock)
      : stub_(v1::IngestService::NewStub(std::move(ingest))), call_timeout_(call_timeout), clock_(clock) {}

  // The path of `code`, root first; NOT_FOUND naming `field` when ingest
  // does not know the unit.
  absl::StatusOr<std::vector<std::string>> PathOf(const std::string& code, const std::string& field);
  // `root` and every unit below it, inactive ones included, with their paths.
  absl::StatusOr<std::vector<v1::Unit>> Subtree(const std::string& root);

 private:
  struct Cached {
    std::vector<std::string> path;
    absl::Time fetched;
  };
  std::unique_ptr<v1::IngestService::Stub> stub_;
  const absl::Duration call_timeout_;
  Clock* const clock_;
  absl::Mutex mu_;
  absl::flat_hash_map<std::string, Cached> paths_ ABSL_GUARDED_BY(mu_);
};

}  // namespace aw::audit
