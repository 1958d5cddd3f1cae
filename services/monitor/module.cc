#include "services/monitor/module.h"

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
        service_(&store_, &directory_, &timers_, ctx.workers,
                 {.max_whitelist_freeze = ctx.config->max_whitelist_freeze}) {}

  std::vector<grpc::Service*> Services() override { return {&service_}; }

  absl::Status Start() override {
    evaluator_.Start();
    timers_.Start();
    return absl::OkStatus();
  }
  void BeginShutdown() override { evaluator_.Stop(); }
  void Stop() override {
    timers_.Stop();
    evaluator_.Stop();
  }

 private:
  MonitorMetrics metrics_;
  MonitorStore store_;
  Directory directory_;
  Evaluator evaluator_;
  TimerRunner timers_;
  MonitorServiceImpl service_;
};

}  // namespace

std::unique_ptr<Module> CreateModule(const ModuleContext& ctx) { return std::make_unique<MonitorModule>(ctx); }

}  // namespace aw::monitor
