#include "services/audit/facts_feed.h"

#include "common/status.h"
#include "common/timestamp.h"

namespace aw::audit {
namespace {

// Facts read at a time.
constexpr int kFactsPerRead = 500;

class FactsReader final : public FeedReader<v1::AuditFactChange> {
 public:
  explicit FactsReader(AuditStore* store) : store_(store) {}

  absl::Status Read(int64_t position, google::protobuf::Arena* arena, Batch* batch) override {
    AW_ASSIGN_OR_RETURN(auto facts, store_->Facts(position, kFactsPerRead));
    batch->reached = position;
    for (auto& f : facts) {
      batch->reached = f.seq();
      batch->committed.push_back(TimeOf(f.committed_at()));
      auto* message = google::protobuf::Arena::CreateMessage<v1::AuditFactChange>(arena);
      message->Swap(&f);
      batch->messages.push_back(message);
    }
    return absl::OkStatus();
  }

  v1::AuditFactChange* Heartbeat(int64_t position, google::protobuf::Arena* arena) override {
    auto* beat = google::protobuf::Arena::CreateMessage<v1::AuditFactChange>(arena);
    beat->set_seq(position);
    beat->set_heartbeat(true);
    return beat;
  }

 private:
  AuditStore* const store_;
};

}  // namespace

FeedOptions FactsFeedOptions(int max_subscribers) {
  return FeedOptions{.service = "audit", .name = "audit_facts", .max_subscribers = max_subscribers};
}

std::unique_ptr<FeedReader<v1::AuditFactChange>> NewFactsReader(AuditStore* store) {
  return std::make_unique<FactsReader>(store);
}

}  // namespace aw::audit
