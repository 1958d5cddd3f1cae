#include "services/audit/facts_feed.h"

#include "common/timestamp.h"

namespace aw::audit {

FeedOptions FactsFeedOptions(int max_subscribers) {
  return FeedOptions{.service = "audit", .name = "audit_facts", .max_subscribers = max_subscribers};
}

std::unique_ptr<FeedReader<v1::AuditFactChange>> NewFactsReader(AuditStore* store) {
  return std::make_unique<PagedFeedReader<v1::AuditFactChange>>(
      [store](int64_t after, int limit) { return store->Facts(after, limit); },
      [](const v1::AuditFactChange& f) { return TimeOf(f.committed_at()); });
}

}  // namespace aw::audit
