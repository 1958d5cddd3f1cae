// The audit-facts change feed (WatchAuditFacts) on the common feed primitive:
// deductions, incidents and work orders as committed, in the order the
// sequencer numbered them (AuditStore::SequenceFacts: commit order).
#pragma once

#include <memory>

#include "auditwatch/v1/audit.pb.h"
#include "common/feed.h"
#include "services/audit/audit_store.h"

namespace aw::audit {

using FactsFeed = Feed<v1::AuditFactChange>;

FeedOptions FactsFeedOptions(int max_subscribers);
std::unique_ptr<FeedReader<v1::AuditFactChange>> NewFactsReader(AuditStore* store);

}  // namespace aw::audit
