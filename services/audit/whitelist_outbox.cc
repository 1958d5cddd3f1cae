#include "services/audit/whitelist_outbox.h"

#include "absl/strings/str_cat.h"
#include "common/call.h"
#include "common/status.h"

namespace aw::audit {

WhitelistOutbox::WhitelistOutbox(AuditStore* store, std::shared_ptr<grpc::Channel> monitor, AuditMetrics* metrics,
                                 Options options)
    : store_(store),
      monitor_(v1::MonitorService::NewStub(std::move(monitor))),
      metrics_(metrics),
      options_(options),
      loop_("audit-outbox", "audit", options.tick, options.clock, [this] { return DeliverDue().status(); }) {}

absl::StatusOr<int64_t> WhitelistOutbox::Deliver(const OutboxMessage& m) {
  v1::CreateWhitelistEntryRequest request;
  if (m.kind != "whitelist" || !request.ParseFromString(m.payload)) {
    return absl::InternalError(absl::StrCat("outbox message ", m.id, " (", m.kind, ") does not decode"));
  }
  request.set_request_id(m.key);
  std::unique_ptr<grpc::ClientContext> ctx = CallContext(options_.call_timeout);
  v1::WhitelistEntry entry;
  const absl::Status s = FromGrpcStatus(monitor_->CreateWhitelistEntry(ctx.get(), request, &entry),
                                        "monitor CreateWhitelistEntry");
  metrics_->Delivered(s.ok());
  if (!s.ok()) return s;
  return entry.id();
}

absl::StatusOr<int> WhitelistOutbox::DeliverDue() {
  int tried = 0;
  const absl::Status drained =
      DrainDue([&]() -> absl::StatusOr<bool> {
        AW_ASSIGN_OR_RETURN(const bool claimed,
                            store_->DeliverOne(
                                options_.clock->Now(), [this](const OutboxMessage& m) { return Deliver(m); },
                                [this](int attempts) { return options_.clock->Now() + options_.backoff.After(attempts); }));
        tried += claimed ? 1 : 0;
        return claimed;
      }).status();
  AW_RETURN_IF_ERROR(drained);
  AW_ASSIGN_OR_RETURN(const int64_t backlog, store_->OutboxBacklog());
  metrics_->outbox_backlog.Set(static_cast<double>(backlog));
  return tried;
}

}  // namespace aw::audit
