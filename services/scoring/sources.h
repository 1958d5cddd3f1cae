// What the scoring service reads from the other services, through their
// contracts only: the tree as it stood on a day and the indicator catalogue
// (ingest), a period's readings with ingest's roll-ups for half-years and
// years (ingest), and the effective deductions dated inside a period (audit).
// Background calls carry no caller: they read the whole tree. Thread-safe.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "absl/status/statusor.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "auditwatch/v1/audit.grpc.pb.h"
#include "auditwatch/v1/ingest.grpc.pb.h"
#include "common/period.h"
#include "common/period_field.h"
#include "services/scoring/scoring_logic.h"

namespace aw::scoring {

class Sources {
 public:
  Sources(std::shared_ptr<grpc::Channel> ingest, std::shared_ptr<grpc::Channel> audit, absl::Duration call_timeout)
      : ingest_(v1::IngestService::NewStub(std::move(ingest))),
        audit_(v1::AuditService::NewStub(std::move(audit))),
        call_timeout_(call_timeout) {}

  // The units active on `day`, with their parents and types on that day: the
  // whole tree, or `root` and the units below it.
  absl::StatusOr<std::vector<UnitIn>> UnitsOn(absl::CivilDay day, const std::string& root = "");
  // The catalogue's indicators in force in `year`, by code.
  absl::StatusOr<absl::flat_hash_map<std::string, v1::Indicator>> Indicators(int32_t year);
  // The current value of each (unit, indicator) of `codes` for `period`: the
  // reported one, or for a half-year or year ingest's roll-up where the
  // indicator allows one and one of `units` lacks a reported value. Also the
  // highest feed sequence among them.
  absl::StatusOr<std::vector<ReadingIn>> Readings(const Period& period, const std::vector<std::string>& codes,
                                                  const std::vector<UnitIn>& units, int64_t* max_seq);
  // The effective (not superseded) deductions dated inside `period`.
  absl::StatusOr<std::vector<DeductionIn>> Deductions(const Period& period);

  v1::IngestService::Stub& ingest() { return *ingest_; }

 private:
  std::unique_ptr<v1::IngestService::Stub> ingest_;
  std::unique_ptr<v1::AuditService::Stub> audit_;
  const absl::Duration call_timeout_;
};

}  // namespace aw::scoring
