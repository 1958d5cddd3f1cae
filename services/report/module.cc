#include "services/report/module.h"

#include "auditwatch/v1/report.grpc.pb.h"
#include "common/background.h"
#include "common/status.h"
#include "services/report/generator.h"
#include "services/report/job_watch.h"
#include "services/report/report_metrics.h"
#include "services/report/report_service.h"
#include "services/report/report_store.h"
#include "services/report/sources.h"

namespace aw::report {

// Generated from services/report/sql at build time.
std::vector<db::EmbeddedFile> MigrationFiles();

namespace {

std::vector<Setting> Settings() {
  using Kind = Setting::Kind;
  return {
      {.flag = "report_tick",
       .kind = Kind::kDuration,
       .default_value = "200ms",
       .help = "how often queued report jobs and due schedules are looked for"},
      {.flag = "report_generators",
       .kind = Kind::kCount,
       .default_value = "2",
       .help = "report jobs this process runs at once (0: it serves the API and fires schedules, other replicas generate)",
       .min = 0,
       .max = 16},
      {.flag = "report_lease",
       .kind = Kind::kDuration,
       .default_value = "2m",
       .help = "how long a replica holds a running job between progress steps; another takes it over after"},
      {.flag = "report_retention",
       .kind = Kind::kDuration,
       .default_value = "2160h",
       .help = "how long a ready report's file is kept (90 days); the record stays, EXPIRED"},
      {.flag = "report_watch_poll",
       .kind = Kind::kDuration,
       .default_value = "100ms",
       .help = "how often WatchReport streams look for a change of their jobs"},
  };
}

// The report service in the binary: its store, the sources it gathers from,
// the generators (one loop each over queued jobs), the loop over due
// schedules and expiry, the progress streams and the gRPC edge.
class ReportModule final : public Module {
 public:
  explicit ReportModule(const ModuleContext& ctx)
      : metrics_(ctx.metrics->registry()),
        store_(ctx.db),
        sources_({.ingest = ctx.channel_to("ingest", grpc::ChannelArguments()),
                  .monitor = ctx.channel_to("monitor", grpc::ChannelArguments()),
                  .audit = ctx.channel_to("audit", grpc::ChannelArguments()),
                  .scoring = ctx.channel_to("scoring", grpc::ChannelArguments())},
                 ctx.config->call_timeout),
        generator_(&store_, &sources_, &metrics_,
                   {.lease = ctx.config->settings.Duration("report_lease"),
                    .retention = ctx.config->settings.Duration("report_retention"),
                    .clock = ctx.clock,
                    .changed = [this] { watch_.Poke(); }}),
        watch_(&store_, ctx.config->settings.Duration("report_watch_poll"), ctx.clock),
        schedules_("report-schedules", "report", ctx.config->settings.Duration("report_tick"), ctx.clock,
                   [this] { return FireAndExpire(); }),
        gauges_("report-gauges", "report", absl::Seconds(5), ctx.clock, [this] { return RefreshGauges(); }),
        service_({.store = &store_,
                  .sources = &sources_,
                  .watch = &watch_,
                  .workers = ctx.workers,
                  .clock = ctx.clock,
                  .queued = [this] { WakeGenerators(); }}) {
    for (int i = 0; i < ctx.config->settings.Count("report_generators"); ++i) {
      generators_.push_back(std::make_unique<PeriodicTask>(
          "report-gen", "report", ctx.config->settings.Duration("report_tick"), ctx.clock,
          [this] { return DrainDue([this] { return generator_.RunOne(); }).status(); }));
    }
  }

  std::vector<grpc::Service*> Services() override { return {&service_}; }

  absl::Status Start() override {
    watch_.Start();
    for (auto& g : generators_) g->Start();
    schedules_.Start();
    gauges_.Start();
    return absl::OkStatus();
  }
  void BeginShutdown() override { watch_.Shutdown(); }
  void Stop() override {
    gauges_.Stop();
    schedules_.Stop();
    for (auto& g : generators_) g->Stop();
    watch_.Shutdown();
    watch_.Stop();
  }

 private:
  absl::Status FireAndExpire() {
    AW_ASSIGN_OR_RETURN(const int fired, DrainDue([this] { return generator_.FireOne(); }));
    if (fired > 0) WakeGenerators();
    return generator_.Expire().status();
  }
  void WakeGenerators() {
    for (auto& g : generators_) g->Wake();
  }
  absl::Status RefreshGauges() {
    AW_ASSIGN_OR_RETURN(const ReportStore::Gauges g, store_.ReadGauges());
    metrics_.stored_bytes.Set(static_cast<double>(g.stored_bytes));
    metrics_.Jobs("queued", static_cast<double>(g.queued));
    metrics_.Jobs("running", static_cast<double>(g.running));
    metrics_.Jobs("ready", static_cast<double>(g.ready));
    return absl::OkStatus();
  }

  ReportMetrics metrics_;
  ReportStore store_;
  Sources sources_;
  Generator generator_;
  JobWatch watch_;
  std::vector<std::unique_ptr<PeriodicTask>> generators_;
  PeriodicTask schedules_;
  PeriodicTask gauges_;
  ReportServiceImpl service_;
};

}  // namespace

ModuleDef Definition() {
  return ModuleFor(google::protobuf::DescriptorPool::generated_pool()->FindServiceByName(
                       v1::ReportService::service_full_name()),
                   /*dependencies=*/{"ingest", "monitor", "audit", "scoring"}, &MigrationFiles,
                   [](const ModuleContext& ctx) { return std::make_unique<ReportModule>(ctx); }, Settings());
}

}  // namespace aw::report
