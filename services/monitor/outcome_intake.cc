#include "services/monitor/outcome_intake.h"

#include "common/status.h"
#include "services/monitor/theft_logic.h"

namespace aw::monitor {

OutcomeIntake::OutcomeIntake(TheftStore* store, std::function<std::shared_ptr<grpc::Channel>()> audit,
                             Clock* clock)
    : store_(store),
      audit_channel_(std::move(audit)),
      clock_(clock),
      follower_([this](grpc::ClientContext* c, const v1::WatchAuditFactsRequest& r) {
                  audit_ = v1::AuditService::NewStub(audit_channel_());
                  return audit_->WatchAuditFacts(c, r);
                },
                [this]() -> absl::StatusOr<int64_t> {
                  auto at = store_->Cursor(kFeed);
                  if (at.ok()) cursor_ = *at;
                  return at;
                },
                [this](const v1::AuditFactChange& change) { return Handle(change); },
                {.name = "audit facts", .logger = "monitor", .clock = clock}) {}

OutcomeIntake::~OutcomeIntake() { Stop(); }

void OutcomeIntake::Start() { follower_.Start(); }

void OutcomeIntake::Stop() { follower_.Stop(); }

absl::Status OutcomeIntake::Handle(const v1::AuditFactChange& change) {
  if (change.heartbeat() || !change.has_work_order()) return absl::OkStatus();
  const v1::WorkOrder& o = change.work_order();
  if (o.event_id() == 0 || o.subject().empty()) return absl::OkStatus();
  if (o.state() != v1::WORK_ORDER_STATE_ARCHIVED && o.state() != v1::WORK_ORDER_STATE_FALSE_POSITIVE) {
    return absl::OkStatus();
  }
  // Only facts that label move the cursor: the others are read again after a
  // restart, and pass by again.
  const TheftStore::Outcome outcome{.order_id = o.id(), .event_id = o.event_id(),
                                    .theft = o.state() == v1::WORK_ORDER_STATE_ARCHIVED};
  AW_RETURN_IF_ERROR(store_->RecordOutcomes({outcome}, [](const std::string& c) { return theft::HeldBack(c); },
                                            kFeed, cursor_, change.seq(), clock_->Now())
                         .status());
  cursor_ = change.seq();
  return absl::OkStatus();
}

}  // namespace aw::monitor
