// What the report service reads from the other services, through their
// contracts only and with the requester's identity (signed as the gateway
// signs it), limited to the report's scope: the tree and the catalogues
// (ingest, monitor), warnings (monitor), tasks, work orders, supervision and
// rates (audit), evaluations, rankings, trends and forecasts (scoring), and
// the levels of a drill-down. Each call has the configured deadline.
// Thread-safe.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "auditwatch/v1/audit.grpc.pb.h"
#include "auditwatch/v1/ingest.grpc.pb.h"
#include "auditwatch/v1/monitor.grpc.pb.h"
#include "auditwatch/v1/scoring.grpc.pb.h"
#include "common/period.h"
#include "services/report/documents.h"

namespace aw::report {

// The units of a subtree: each unit, its parent's children, names.
struct Tree {
  std::string root;
  std::vector<v1::Unit> units;  // the root first
  absl::flat_hash_map<std::string, size_t> index;  // code → its place in `units`
  absl::flat_hash_map<std::string, std::vector<std::string>> children;
  Names names;
  const v1::Unit* Find(const std::string& code) const;
  // The root's direct subordinate that `code` lies under ("" for the root and units outside).
  std::string GroupOf(const std::string& code) const;
};

class Sources {
 public:
  struct Channels {
    std::shared_ptr<grpc::Channel> ingest, monitor, audit, scoring;
  };
  Sources(Channels channels, absl::Duration call_timeout);

  // Calls made for `identity` (the requester's; signed onto each call).
  class For {
   public:
    // The subtree of `root`; PERMISSION_DENIED when the identity's units do
    // not cover it (defence behind the gateway's check).
    absl::StatusOr<Tree> TreeOf(const std::string& root);
    // The codes from the root to `unit`; NOT_FOUND naming `field`.
    absl::StatusOr<std::vector<std::string>> UnitPath(const std::string& unit, const std::string& field);
    absl::StatusOr<Names> IndicatorNames(int year);
    absl::StatusOr<Names> ThemeNames();

    // EVALUATION: the unit's evaluation, the year's trend and the forecast.
    absl::StatusOr<EvaluationData> Evaluation(const std::string& unit, const Period& period, const Tree& tree);
    // The audit activity of a subtree in [from, to): warnings opened, tasks
    // launched, orders created (not drafts); the overdue orders and open
    // supervision now. `previous_events` (when given) gets the warnings opened
    // in the same length of time before `from`.
    absl::StatusOr<ActivityData> Activity(const v1::UnitScope& scope, absl::Time from, absl::Time to,
                                          std::vector<v1::WarningEvent>* previous_events = nullptr);
    absl::StatusOr<std::vector<v1::UnitRates>> Rates(const v1::UnitScope& scope, const Period& period, int depth);
    absl::StatusOr<MonthlyData> Monthly(const std::string& root, const Period& month, const Tree& tree);
    // One level of a drill-down: the unit, its direct subordinates, and the
    // unit in the period's parts (a year's halves, a half's months).
    absl::StatusOr<v1::DrillDownResponse> Drill(const std::string& unit, const Period& period,
                                                const std::string& measure, const Tree& tree);
    // The name a measure is shown under: 综合得分, or the indicator's name
    // (INVALID_ARGUMENT naming "measure" for an unknown indicator).
    absl::StatusOr<std::string> MeasureName(const std::string& measure);

   private:
    friend class Sources;
    For(const Sources* s, v1::Identity identity) : s_(s), identity_(std::move(identity)) {}
    std::unique_ptr<grpc::ClientContext> Context() const;
    // The open supervision orders of `scope` now.
    absl::StatusOr<std::vector<v1::SupervisionOrder>> OpenSupervision(const v1::UnitScope& scope);
    // The measure's value of each unit of `units` in each period of `periods`
    // (unit code → period key → value); absent when none.
    absl::StatusOr<absl::flat_hash_map<std::string, absl::flat_hash_map<std::string, double>>> Values(
        const std::string& measure, const std::string& unit, bool with_children, const std::vector<Period>& periods);

    const Sources* s_;
    v1::Identity identity_;
  };
  For Caller(v1::Identity identity) const { return For(this, std::move(identity)); }

 private:
  std::unique_ptr<v1::IngestService::Stub> ingest_;
  std::unique_ptr<v1::MonitorService::Stub> monitor_;
  std::unique_ptr<v1::AuditService::Stub> audit_;
  std::unique_ptr<v1::ScoringService::Stub> scoring_;
  absl::Duration call_timeout_;
};

}  // namespace aw::report
