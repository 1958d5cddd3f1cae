// What the monitor knows of ingest's org units and indicators: a snapshot
// fetched over IngestService (ListUnits, ListIndicators), refreshed on demand.
// Thread-safe.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "auditwatch/v1/ingest.grpc.pb.h"
#include "services/monitor/monitor_logic.h"

namespace aw::monitor {

struct UnitFacts {
  std::string code;
  v1::UnitType type = v1::UNIT_TYPE_UNSPECIFIED;
  std::string parent;
  std::vector<std::string> path;  // root first, the unit last
  bool active = true;
};

struct DirectorySnapshot {
  absl::flat_hash_map<std::string, UnitFacts> units;
  absl::flat_hash_map<std::string, IndicatorFacts> indicators;
  absl::Time fetched;

  const UnitFacts* Unit(const std::string& code) const;
  const IndicatorFacts* Indicator(const std::string& code) const;
  // True when `unit` is `scope` or (with descendants) under it.
  bool InScope(const std::string& unit, const std::string& scope, bool descendants) const;
};

class Directory {
 public:
  explicit Directory(std::shared_ptr<grpc::Channel> ingest) : stub_(v1::IngestService::NewStub(ingest)) {}

  // The snapshot, fetched first if there is none or it is older than `max_age`.
  absl::StatusOr<std::shared_ptr<const DirectorySnapshot>> Get(absl::Duration max_age = absl::Minutes(1));
  // Fetches a new snapshot now.
  absl::StatusOr<std::shared_ptr<const DirectorySnapshot>> Refresh();
  v1::IngestService::Stub& ingest() { return *stub_; }

 private:
  std::unique_ptr<v1::IngestService::Stub> stub_;
  absl::Mutex mu_;
  std::shared_ptr<const DirectorySnapshot> snapshot_ ABSL_GUARDED_BY(mu_);
};

}  // namespace aw::monitor
