#include "services/monitor/module.h"

#include "auditwatch/v1/monitor.grpc.pb.h"
#include "common/background.h"
#include "common/log.h"
#include "services/monitor/directory.h"
#include "services/monitor/evaluator.h"
#include "services/monitor/events_feed.h"
#include "services/monitor/monitor_metrics.h"
#include "services/monitor/monitor_service.h"
#include "services/monitor/monitor_store.h"
#include "services/monitor/notifier.h"
#include "services/monitor/outcome_intake.h"
#include "services/monitor/theft_analysis.h"
#include "services/monitor/theft_store.h"
#include "services/monitor/timers.h"

namespace aw::monitor {

// Generated from services/monitor/sql at build time.
std::vector<db::EmbeddedFile> MigrationFiles();

namespace {

// The settings of the monitor module (besides the process-wide ones).
std::vector<Setting> Settings() {
  using Kind = Setting::Kind;
  return {
      {.flag = "sms_gateway_url",
       .help = "HTTP endpoint that notifications are POSTed to as JSON",
       .default_text = "none (notifications go to the log)"},
      {.flag = "notify_group_window",
       .kind = Kind::kDuration,
       .default_value = "60s",
       .help = "events of a unit raised within this window go out as one message"},
      {.flag = "notify_repeat",
       .kind = Kind::kDuration,
       .default_value = "24h",
       .help = "an event still open is notified again after this long"},
      {.flag = "notify_max_attempts",
       .kind = Kind::kCount,
       .default_value = "8",
       .help = "delivery attempts before a notification fails",
       .min = 1,
       .max = 100},
      {.flag = "max_whitelist_freeze",
       .kind = Kind::kDuration,
       .default_value = "2160h",
       .help = "the longest freeze period a whitelist entry may have",
       .default_text = "2160h (90 days)"},
      {.flag = "theft_min_labels",
       .kind = Kind::kCount,
       .default_value = "30",
       .help = "held-back inspection outcomes of each kind (confirmed, refuted) needed to judge a retrained theft model",
       .min = 1,
       .max = 100000},
      {.flag = "theft_cache_ttl",
       .kind = Kind::kDuration,
       .default_value = "168h",
       .help = "a theft rule's series, read whole, serve its next runs (which read only the days since) this long; 0: "
               "every run reads its whole window"},
      {.flag = "theft_retrain_every",
       .kind = Kind::kDuration,
       .default_value = "24h",
       .help = "how often the theft model is retrained when new inspection outcomes came (0: on demand only)"},
  };
}

// The monitor service in the binary: its store, its view of ingest's units and
// indicators, the evaluator of the readings feed, the timers, the notifier,
// the events feed and the gRPC edge.
class MonitorModule final : public Module {
 public:
  explicit MonitorModule(const ModuleContext& ctx)
      : metrics_(ctx.metrics->registry()),
        feed_(EventsFeedOptions(ctx.config->feed_max_subscribers), ctx.metrics->registry(), ctx.clock),
        store_(ctx.db, ctx.clock),
        directory_(grpc::CreateChannel(ctx.address_of("ingest"), grpc::InsecureChannelCredentials()),
                   ctx.config->call_timeout, ctx.clock),
        evaluator_(&store_, &directory_, &metrics_, ctx.clock),
        timers_(&store_, &directory_, &metrics_, ctx.config->timer_interval, ctx.clock),
        notifier_(&store_, &metrics_,
                  {.gateway_url = ctx.config->settings.Text("sms_gateway_url"),
                   .group_window = ctx.config->settings.Duration("notify_group_window"),
                   .repeat = ctx.config->settings.Duration("notify_repeat"),
                   .max_attempts = ctx.config->settings.Count("notify_max_attempts"),
                   .clock = ctx.clock}),
        theft_store_(ctx.db, &store_),
        theft_(&store_, &theft_store_, &directory_,
               {.min_labels = static_cast<int>(ctx.config->settings.Count("theft_min_labels")),
                .cache_ttl = ctx.config->settings.Duration("theft_cache_ttl"),
                .clock = ctx.clock}),
        retrain_every_(ctx.config->settings.Duration("theft_retrain_every")),
        retrain_("aw-theft-train", "monitor", retrain_every_ > absl::ZeroDuration() ? retrain_every_ : absl::Hours(24),
                 ctx.clock, [this] { return Retrain(); }),
        // Inspection outcomes, from audit's facts feed (retried while audit is away).
        outcomes_(&theft_store_,
                  [channel_to = ctx.channel_to] { return channel_to("audit", grpc::ChannelArguments()); },
                  ctx.clock),
        service_({.store = &store_,
                  .directory = &directory_,
                  .timers = &timers_,
                  .feed = &feed_,
                  .theft = &theft_,
                  .theft_store = &theft_store_,
                  .workers = ctx.workers,
                  .clock = ctx.clock,
                  .max_whitelist_freeze = ctx.config->settings.Duration("max_whitelist_freeze")}) {}

  std::vector<grpc::Service*> Services() override { return {&service_}; }

  absl::Status Start() override {
    feed_.Start();
    // Event commits of every replica wake the feed; after a reconnect it looks again.
    store_.StartListening([this](int64_t seq) { feed_.Committed(seq); }, [this] { feed_.Poke(); });
    evaluator_.Start();
    timers_.Start();
    notifier_.Start();
    outcomes_.Start();
    if (retrain_every_ > absl::ZeroDuration()) retrain_.Start();
    return absl::OkStatus();
  }
  void BeginShutdown() override {
    feed_.Shutdown();
    evaluator_.Stop();
    // Before any server stops: audit, whose feed this reads, may run in this
    // process and stop first.
    outcomes_.Stop();
  }
  void Stop() override {
    retrain_.Stop();
    outcomes_.Stop();
    notifier_.Stop();
    timers_.Stop();
    evaluator_.Stop();
    store_.StopListening();
    feed_.Stop();
  }

 private:
  // The scheduled retraining: only when outcomes came since the last model.
  absl::Status Retrain() {
    AW_ASSIGN_OR_RETURN(const bool fresh, theft_.NewLabelsSinceLastModel());
    if (!fresh) return absl::OkStatus();
    const auto trained = theft_.Train("scheduled (--theft_retrain_every)", "system");
    if (!trained.ok() && trained.status().code() == absl::StatusCode::kFailedPrecondition) {
      Logger("monitor")->info("theft model not retrained: {}", std::string(trained.status().message()));
      return absl::OkStatus();
    }
    return trained.status();
  }

  MonitorMetrics metrics_;
  EventsFeed feed_;
  MonitorStore store_;
  Directory directory_;
  Evaluator evaluator_;
  TimerRunner timers_;
  Notifier notifier_;
  TheftStore theft_store_;
  TheftAnalyzer theft_;
  const absl::Duration retrain_every_;
  PeriodicTask retrain_;
  OutcomeIntake outcomes_;
  MonitorServiceImpl service_;
};

}  // namespace

ModuleDef Definition() {
  return ModuleFor(google::protobuf::DescriptorPool::generated_pool()->FindServiceByName(
                       v1::MonitorService::service_full_name()),
                   /*dependencies=*/{"ingest"}, &MigrationFiles,
                   [](const ModuleContext& ctx) { return std::make_unique<MonitorModule>(ctx); }, Settings());
}

}  // namespace aw::monitor
