// The readings change feed (WatchReadings) on the common feed primitive: what
// a subscriber reads after its cursor, with its filters, from the store.
#pragma once

#include <memory>

#include "auditwatch/v1/ingest.pb.h"
#include "common/feed.h"
#include "services/ingest/ingest_store.h"

namespace aw::ingest {

using ReadingsFeed = Feed<v1::WatchReadingsResponse>;

// The feed of the ingest service: positions are reading sequences, commits
// are batches.
FeedOptions ReadingsFeedOptions(int max_subscribers);

// A subscriber's reader. The indicator codes of `request` are resolved on
// the first read (NOT_FOUND ends the stream).
std::unique_ptr<FeedReader<v1::WatchReadingsResponse>> NewReadingsReader(IngestStore* store,
                                                                         const v1::WatchReadingsRequest& request);

// The position that covers every reading of the batch with `commit_seq`.
int64_t EndOfBatch(int64_t commit_seq);

}  // namespace aw::ingest
