#include "services/monitor/events_feed.h"

#include "common/status.h"
#include "common/timestamp.h"

namespace aw::monitor {
namespace {

// Event changes read at a time.
constexpr int kChangesPerRead = 500;

class EventsReader final : public FeedReader<v1::EventChange> {
 public:
  explicit EventsReader(MonitorStore* store) : store_(store) {}

  absl::Status Read(int64_t position, google::protobuf::Arena* arena, Batch* batch) override {
    AW_ASSIGN_OR_RETURN(auto changes, store_->EventFeed(position, kChangesPerRead));
    batch->reached = position;
    for (auto& c : changes) {
      batch->reached = c.seq();
      batch->committed.push_back(TimeOf(c.event().updated_at()));
      auto* message = google::protobuf::Arena::CreateMessage<v1::EventChange>(arena);
      message->Swap(&c);
      batch->messages.push_back(message);
    }
    return absl::OkStatus();
  }

  v1::EventChange* Heartbeat(int64_t position, google::protobuf::Arena* arena) override {
    auto* beat = google::protobuf::Arena::CreateMessage<v1::EventChange>(arena);
    beat->set_seq(position);
    beat->set_heartbeat(true);
    return beat;
  }

 private:
  MonitorStore* const store_;
};

}  // namespace

FeedOptions EventsFeedOptions(int max_subscribers) {
  return FeedOptions{.service = "monitor", .name = "events", .max_subscribers = max_subscribers};
}

std::unique_ptr<FeedReader<v1::EventChange>> NewEventsReader(MonitorStore* store) {
  return std::make_unique<EventsReader>(store);
}

}  // namespace aw::monitor
