#include "services/monitor/module.h"

#include "common/log.h"
#include "services/monitor/evaluator.h"
#include "services/monitor/monitor_service.h"
#include "services/monitor/timers.h"

namespace aw::monitor {
namespace {

// The monitor service in the binary: its store, its view of ingest's units and
// indicators, the evaluator of the readings feed, and the gRPC adapter.
class MonitorModule final : public Module {
 public:
  explicit MonitorModule(const ModuleContext& ctx)
      : metrics_(ctx.metrics->registry()),
        store_(ctx.db),
        directory_(grpc::CreateChannel(ctx.address_of("ingest"), grpc::InsecureChannelCredentials())),
        evaluator_(&store_, &directory_, &metrics_, ctx.config->database_url),
        timers_(&store_, &directory_, &metrics_, ctx.config->timer_interval),
        notifier_(&store_, &metrics_,
                  {.gateway_url = ctx.config->sms_gateway_url,
                   .group_window = ctx.config->notify_group_window,
                   .repeat = ctx.config->notify_repeat,
                   .max_attempts = ctx.config->notify_max_attempts}),
        service_(&store_, &directory_, &timers_, &notifier_, ctx.workers,
                 {.max_whitelist_freeze = ctx.config->max_whitelist_freeze}) {}

  std::vector<grpc::Service*> Services() override { return {&service_}; }

  absl::Status Start() override {
    evaluator_.Start();
    timers_.Start();
    notifier_.Start();
    return absl::OkStatus();
  }
  void BeginShutdown() override { evaluator_.Stop(); }
  void Stop() override {
    notifier_.Stop();
    timers_.Stop();
    evaluator_.Stop();
  }

 private:
  MonitorMetrics metrics_;
  MonitorStore store_;
  Directory directory_;
  Evaluator evaluator_;
  TimerRunner timers_;
  Notifier notifier_;
  MonitorServiceImpl service_;
};

}  // namespace

std::unique_ptr<Module> CreateModule(const ModuleContext& ctx) { return std::make_unique<MonitorModule>(ctx); }

}  // namespace aw::monitor
