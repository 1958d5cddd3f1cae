#include "services/scoring/module.h"

#include "auditwatch/v1/scoring.grpc.pb.h"
#include "common/background.h"
#include "common/status.h"
#include "services/scoring/evaluator.h"
#include "services/scoring/score_outbox.h"
#include "services/scoring/scoring_metrics.h"
#include "services/scoring/scoring_service.h"
#include "services/scoring/scoring_store.h"
#include "services/scoring/sources.h"
#include "services/scoring/triggers.h"

namespace aw::scoring {

// Generated from services/scoring/sql at build time.
std::vector<db::EmbeddedFile> MigrationFiles();

namespace {

std::vector<Setting> Settings() {
  using Kind = Setting::Kind;
  return {
      {.flag = "evaluation_tick",
       .kind = Kind::kDuration,
       .default_value = "1s",
       .help = "how often due evaluations (timer rows) are looked for"},
      {.flag = "rerun_delay",
       .kind = Kind::kDuration,
       .default_value = "30s",
       .help = "an evaluated period runs again this long after late data or a changed deduction (one run per burst)"},
      {.flag = "evaluation_lease",
       .kind = Kind::kDuration,
       .default_value = "10m",
       .help = "how long a replica holds a due evaluation while it runs it; another takes it over after"},
  };
}

// The scoring service in the binary: its store, the sources it reads, the
// evaluator with its loop over due runs, the feeds that make periods due
// again, the outbox of score readings and the gRPC edge.
class ScoringModule final : public Module {
 public:
  explicit ScoringModule(const ModuleContext& ctx)
      : metrics_(ctx.metrics->registry()),
        store_(ctx.db),
        ingest_(ctx.channel_to("ingest", grpc::ChannelArguments())),
        audit_(ctx.channel_to("audit", grpc::ChannelArguments())),
        sources_(ingest_, audit_, ctx.config->call_timeout),
        evaluator_(&store_, &sources_, &metrics_,
                   {.lease = ctx.config->settings.Duration("evaluation_lease"), .clock = ctx.clock}),
        triggers_(&store_, ingest_, audit_, &metrics_,
                  {.rerun_delay = ctx.config->settings.Duration("rerun_delay"), .clock = ctx.clock}),
        outbox_(&store_, ingest_, &metrics_, {.call_timeout = ctx.config->call_timeout, .clock = ctx.clock}),
        due_loop_("scoring-due", "scoring", ctx.config->settings.Duration("evaluation_tick"), ctx.clock,
                  [this] { return evaluator_.RunDue().status(); }),
        gauges_("scoring-gauges", "scoring", absl::Seconds(5), ctx.clock, [this] { return RefreshGauges(); }),
        service_({.store = &store_,
                  .evaluator = &evaluator_,
                  .sources = &sources_,
                  .workers = ctx.workers,
                  .clock = ctx.clock}) {}

  std::vector<grpc::Service*> Services() override { return {&service_}; }

  absl::Status Start() override {
    triggers_.Start();
    due_loop_.Start();
    outbox_.Start();
    gauges_.Start();
    return absl::OkStatus();
  }
  void BeginShutdown() override { triggers_.Stop(); }
  void Stop() override {
    gauges_.Stop();
    outbox_.Stop();
    due_loop_.Stop();
    triggers_.Stop();
  }

 private:
  absl::Status RefreshGauges() {
    AW_ASSIGN_OR_RETURN(const ScoringStore::Gauges g, store_.ReadGauges());
    metrics_.due.Set(static_cast<double>(g.due));
    metrics_.outbox.Set(static_cast<double>(g.outbox));
    return absl::OkStatus();
  }

  ScoringMetrics metrics_;
  ScoringStore store_;
  std::shared_ptr<grpc::Channel> ingest_, audit_;
  Sources sources_;
  Evaluator evaluator_;
  Triggers triggers_;
  ScoreOutbox outbox_;
  PeriodicTask due_loop_;
  PeriodicTask gauges_;
  ScoringServiceImpl service_;
};

}  // namespace

ModuleDef Definition() {
  return ModuleFor(google::protobuf::DescriptorPool::generated_pool()->FindServiceByName(
                       v1::ScoringService::service_full_name()),
                   /*dependencies=*/{"ingest", "audit"}, &MigrationFiles,
                   [](const ModuleContext& ctx) { return std::make_unique<ScoringModule>(ctx); }, Settings());
}

}  // namespace aw::scoring
