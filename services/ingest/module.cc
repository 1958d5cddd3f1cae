#include "services/ingest/module.h"

#include "auditwatch/v1/ingest.grpc.pb.h"
#include "services/ingest/bulk_ingest.h"
#include "services/ingest/consumption_store.h"
#include "services/ingest/ingest_service.h"
#include "services/ingest/puller.h"
#include "services/ingest/readings_feed.h"

namespace aw::ingest {

// Generated from services/ingest/sql at build time.
std::vector<db::EmbeddedFile> MigrationFiles();

namespace {

// The settings of the ingest module (besides the process-wide ones).
std::vector<Setting> Settings() {
  return {
      {.flag = "data_sources",
       .kind = Setting::Kind::kNamedUrls,
       .help = "read-only databases for scheduled pulls: name=URL;name2=URL2"},
  };
}

// The ingest service in the binary: its store, readings feed, bulk streams,
// scheduled pulls and gRPC edge.
class IngestModule final : public Module {
 public:
  explicit IngestModule(const ModuleContext& ctx)
      : metrics_(ctx.metrics->registry()),
        feed_(ReadingsFeedOptions(ctx.config->feed_max_subscribers), ctx.metrics->registry(), ctx.clock),
        store_(ctx.db, {.validation = {}, .on_commit = [this](int64_t seq) { BatchCommitted(seq); }, .clock = ctx.clock}),
        consumption_(ctx.db),
        bulk_(&store_, ctx.workers, &metrics_),
        puller_(&store_, &metrics_,
                {.data_sources = ctx.config->settings.NamedUrls("data_sources"),
                 .interval = ctx.config->timer_interval,
                 .clock = ctx.clock}),
        service_({.store = &store_,
                  .consumption = &consumption_,
                  .workers = ctx.workers,
                  .bulk = &bulk_,
                  .feed = &feed_,
                  .metrics = &metrics_,
                  .puller = &puller_,
                  .clock = ctx.clock}) {}

  std::vector<grpc::Service*> Services() override { return {&service_}; }

  absl::Status Start() override {
    feed_.Start();
    // Commits of every replica wake the feed; after a reconnect it looks again.
    store_.StartListening([this](int64_t seq) { BatchCommitted(seq); }, [this] { feed_.Poke(); });
    puller_.Start();
    return absl::OkStatus();
  }

  // Feed subscribers are told to resume elsewhere (UNAVAILABLE with their
  // position); bulk streams answer every batch they took in, then end.
  void BeginShutdown() override {
    feed_.Shutdown();
    bulk_.Drain();
  }

  void Stop() override {
    puller_.Stop();
    store_.StopListening();
    feed_.Stop();
  }

 private:
  // Every reading of the batch is committed.
  void BatchCommitted(int64_t commit_seq) { feed_.Committed(EndOfBatch(commit_seq)); }

  IngestMetrics metrics_;
  ReadingsFeed feed_;
  IngestStore store_;
  ConsumptionStore consumption_;
  BulkIngest bulk_;
  Puller puller_;
  IngestServiceImpl service_;
};

}  // namespace

ModuleDef Definition() {
  return ModuleFor(google::protobuf::DescriptorPool::generated_pool()->FindServiceByName(
                       v1::IngestService::service_full_name()),
                   /*dependencies=*/{}, &MigrationFiles,
                   [](const ModuleContext& ctx) { return std::make_unique<IngestModule>(ctx); }, Settings());
}

}  // namespace aw::ingest
