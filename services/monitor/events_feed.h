// The events change feed (WatchEvents) on the common feed primitive: the
// latest change of each event after the subscriber's cursor, from the store.
#pragma once

#include <memory>

#include "auditwatch/v1/monitor.pb.h"
#include "common/feed.h"
#include "services/monitor/monitor_store.h"

namespace aw::monitor {

using EventsFeed = Feed<v1::EventChange>;

FeedOptions EventsFeedOptions(int max_subscribers);
std::unique_ptr<FeedReader<v1::EventChange>> NewEventsReader(MonitorStore* store);

}  // namespace aw::monitor
