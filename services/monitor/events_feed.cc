#include "services/monitor/events_feed.h"

#include "common/timestamp.h"

namespace aw::monitor {

FeedOptions EventsFeedOptions(int max_subscribers) {
  return FeedOptions{.service = "monitor", .name = "events", .max_subscribers = max_subscribers};
}

std::unique_ptr<FeedReader<v1::EventChange>> NewEventsReader(MonitorStore* store) {
  return std::make_unique<PagedFeedReader<v1::EventChange>>(
      [store](int64_t after, int limit) { return store->EventFeed(after, limit); },
      [](const v1::EventChange& c) { return TimeOf(c.event().updated_at()); });
}

}  // namespace aw::monitor
