#include "services/ingest/module.h"

#include "services/ingest/ingest_service.h"
#include "services/ingest/puller.h"

namespace aw::ingest {
namespace {

// The ingest service in the binary: its store, feed hub and gRPC adapter.
class IngestModule final : public Module {
 public:
  explicit IngestModule(const ModuleContext& ctx)
      : metrics_(ctx.metrics->registry()),
        store_(ctx.db, IngestStore::Options{.validation = {}, .max_future_days = 0, .on_commit = [this] { hub_.Poke(); }}),
        hub_(&store_, absl::Milliseconds(20)),
        puller_(&store_, ctx.config->data_sources, &metrics_, ctx.config->timer_interval),
        service_(&store_, ctx.workers, &hub_, &metrics_, &puller_) {}

  std::vector<grpc::Service*> Services() override { return {&service_}; }

  absl::Status Start() override {
    hub_.Start();
    puller_.Start();
    return absl::OkStatus();
  }

  // Feed subscribers are told to resume elsewhere (UNAVAILABLE with their
  // position) instead of holding the drain open.
  void BeginShutdown() override { hub_.Stop(); }

  void Stop() override {
    puller_.Stop();
    hub_.Stop();
  }

 private:
  IngestMetrics metrics_;
  IngestStore store_;
  FeedHub hub_;
  Puller puller_;
  IngestServiceImpl service_;
};

}  // namespace

std::unique_ptr<Module> CreateModule(const ModuleContext& ctx) {
  return std::make_unique<IngestModule>(ctx);
}

}  // namespace aw::ingest
