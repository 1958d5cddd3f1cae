#include "services/audit/module.h"

#include "auditwatch/v1/audit.grpc.pb.h"
#include "auditwatch/v1/monitor.grpc.pb.h"
#include "common/background.h"
#include "services/audit/audit_metrics.h"
#include "services/audit/audit_service.h"
#include "services/audit/audit_store.h"
#include "services/audit/event_intake.h"
#include "services/audit/facts_feed.h"
#include "services/audit/supervisor.h"
#include "services/audit/units.h"
#include "services/audit/whitelist_outbox.h"

namespace aw::audit {

// Generated from services/audit/sql at build time.
std::vector<db::EmbeddedFile> MigrationFiles();

namespace {

// The settings of the audit module (besides the process-wide ones).
std::vector<Setting> Settings() {
  using Kind = Setting::Kind;
  return {
      {.flag = "warning_order_deadline",
       .kind = Kind::kDuration,
       .default_value = "168h",
       .help = "a work order opened from a warning event is due this long after",
       .default_text = "168h (7 days)"},
      {.flag = "supervision_remind",
       .kind = Kind::kDuration,
       .default_value = "24h",
       .help = "an open supervision order is reminded again after this long"},
      {.flag = "supervision_escalate",
       .kind = Kind::kDuration,
       .default_value = "72h",
       .help = "an order overdue this long escalates to the parent unit's leader, and again after as long"},
      {.flag = "supervision_tick",
       .kind = Kind::kDuration,
       .default_value = "100ms",
       .help = "how often timer rows (deadlines, reminders) are looked for"},
      {.flag = "max_false_positive_freeze",
       .kind = Kind::kCount,
       .default_value = "90",
       .help = "the longest freeze, in days, a confirmed false positive's whitelist entry may ask for",
       .min = 1,
       .max = 366},
      {.flag = "quality_max_freeze",
       .kind = Kind::kCount,
       .default_value = "30",
       .help = "quality check: whitelist entries frozen longer than this many days are findings",
       .min = 1,
       .max = 366},
  };
}

// The audit service in the binary: its store, the intake of warning events,
// the supervisor of deadlines, the whitelist outbox, the facts feed with its
// sequencer and the gRPC edge.
class AuditModule final : public Module {
 public:
  explicit AuditModule(const ModuleContext& ctx)
      : metrics_(ctx.metrics->registry()),
        feed_(FactsFeedOptions(ctx.config->feed_max_subscribers), ctx.metrics->registry(), ctx.clock),
        store_(ctx.db),
        monitor_channel_(ctx.channel_to("monitor", grpc::ChannelArguments())),
        monitor_(v1::MonitorService::NewStub(monitor_channel_)),
        units_(ctx.channel_to("ingest", grpc::ChannelArguments()), ctx.config->call_timeout, ctx.clock),
        intake_(&store_, monitor_channel_, &units_, &metrics_,
                {.order_deadline = ctx.config->settings.Duration("warning_order_deadline"),
                 .call_timeout = ctx.config->call_timeout,
                 .clock = ctx.clock}),
        supervisor_(&store_, &metrics_,
                    {.policy = {.remind_every = ctx.config->settings.Duration("supervision_remind"),
                                .escalate_after = ctx.config->settings.Duration("supervision_escalate")},
                     .tick = ctx.config->settings.Duration("supervision_tick"),
                     .clock = ctx.clock}),
        outbox_(&store_, monitor_channel_, &metrics_, {.clock = ctx.clock}),
        sequencer_("audit-facts", "audit", absl::Milliseconds(20), ctx.clock,
                   [this] { return store_.SequenceFacts().status(); }),
        gauges_("audit-gauges", "audit", absl::Seconds(5), ctx.clock, [this] { return RefreshGauges(); }),
        service_({.store = &store_,
                  .units = &units_,
                  .monitor = monitor_.get(),
                  .feed = &feed_,
                  .metrics = &metrics_,
                  .workers = ctx.workers,
                  .clock = ctx.clock,
                  .call_timeout = ctx.config->call_timeout,
                  .max_false_positive_freeze_days = ctx.config->settings.Count("max_false_positive_freeze"),
                  .quality = {.max_freeze_days = ctx.config->settings.Count("quality_max_freeze")}}) {}

  std::vector<grpc::Service*> Services() override { return {&service_}; }

  absl::Status Start() override {
    feed_.Start();
    // Fact commits of every replica wake the feed; after a reconnect it looks again.
    listener_ = store_.ListenForFacts([this](int64_t seq) { feed_.Committed(seq); }, [this] { feed_.Poke(); });
    sequencer_.Start();
    intake_.Start();
    supervisor_.Start();
    outbox_.Start();
    gauges_.Start();
    return absl::OkStatus();
  }
  void BeginShutdown() override {
    feed_.Shutdown();
    intake_.Stop();
  }
  void Stop() override {
    gauges_.Stop();
    outbox_.Stop();
    supervisor_.Stop();
    intake_.Stop();
    sequencer_.Stop();
    if (listener_ != nullptr) listener_->Stop();
    feed_.Stop();
  }

 private:
  absl::Status RefreshGauges() {
    AW_ASSIGN_OR_RETURN(const AuditStore::Gauges g, store_.ReadGauges());
    for (int s = v1::WorkOrderState_MIN + 1; s <= v1::WorkOrderState_MAX; ++s) {
      double n = 0;
      for (const auto& [state, count] : g.orders_by_state) {
        if (state == s) n = static_cast<double>(count);
      }
      metrics_.OrdersInState(static_cast<v1::WorkOrderState>(s), n);
    }
    metrics_.overdue.Set(static_cast<double>(g.overdue));
    metrics_.open_supervision.Set(static_cast<double>(g.open_supervision));
    metrics_.outbox_backlog.Set(static_cast<double>(g.outbox_backlog));
    return absl::OkStatus();
  }

  AuditMetrics metrics_;
  FactsFeed feed_;
  AuditStore store_;
  std::shared_ptr<grpc::Channel> monitor_channel_;
  std::unique_ptr<v1::MonitorService::Stub> monitor_;
  Units units_;
  EventIntake intake_;
  Supervisor supervisor_;
  WhitelistOutbox outbox_;
  PeriodicTask sequencer_;  // numbers committed facts for the feed (facts_feed.h)
  PeriodicTask gauges_;
  AuditServiceImpl service_;
  std::unique_ptr<db::Listener> listener_;
};

}  // namespace

ModuleDef Definition() {
  return ModuleFor(google::protobuf::DescriptorPool::generated_pool()->FindServiceByName(
                       v1::AuditService::service_full_name()),
                   /*dependencies=*/{"ingest", "monitor"}, &MigrationFiles,
                   [](const ModuleContext& ctx) { return std::make_unique<AuditModule>(ctx); }, Settings());
}

}  // namespace aw::audit
