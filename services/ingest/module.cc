#include "services/ingest/module.h"

#include "services/ingest/ingest_service.h"

namespace aw::ingest {
namespace {

// The ingest service in the binary: its store, feed hub and gRPC adapter.
class IngestModule final : public Module {
 public:
  explicit IngestModule(const ModuleContext& ctx)
      : metrics_(ctx.metrics->registry()),
        store_(ctx.db, IngestStore::Options{.on_commit = [this] { hub_.Poke(); }}),
        hub_(&store_, absl::Milliseconds(20)),
        service_(&store_, ctx.workers, &hub_, &metrics_) {}

  std::vector<grpc::Service*> Services() override { return {&service_}; }

  absl::Status Start() override {
    hub_.Start();
    return absl::OkStatus();
  }

  void Stop() override { hub_.Stop(); }

 private:
  IngestMetrics metrics_;
  IngestStore store_;
  FeedHub hub_;
  IngestServiceImpl service_;
};

}  // namespace

std::unique_ptr<Module> CreateModule(const ModuleContext& ctx) {
  return std::make_unique<IngestModule>(ctx);
}

}  // namespace aw::ingest
