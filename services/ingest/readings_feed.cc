#include "services/ingest/readings_feed.h"

#include "absl/strings/str_cat.h"
#include "common/status.h"

namespace aw::ingest {
namespace {

// Batches per page of the feed.
constexpr int kFeedBatchesPerPage = 16;

class ReadingsReader final : public FeedReader<v1::WatchReadingsResponse> {
 public:
  ReadingsReader(IngestStore* store, const v1::WatchReadingsRequest& request)
      : store_(store), codes_(request.indicator_codes().begin(), request.indicator_codes().end()) {
    for (int t : request.period_types()) filter_.period_types.push_back(t);
    filter_.values_only = request.values_only();
  }

  absl::Status Read(int64_t position, google::protobuf::Arena* arena, Batch* batch) override {
    AW_ASSIGN_OR_RETURN(auto catalogue, store_->GetCatalogue());
    if (!codes_.empty() && filter_.indicator_ids.empty()) {
      for (const std::string& code : codes_) {
        AW_ASSIGN_OR_RETURN(const IndicatorInfo* i, FindIndicator(*catalogue, "indicator_codes", code));
        filter_.indicator_ids.push_back(i->id);
      }
    }
    auto* page = google::protobuf::Arena::CreateMessage<v1::WatchReadingsResponse>(arena);
    AW_RETURN_IF_ERROR(
        store_->ReadFeed(*catalogue, position, filter_, kFeedBatchesPerPage, page, &batch->committed));
    batch->reached = page->last_seq();
    if (page->changes_size() > 0) batch->messages.push_back(page);
    return absl::OkStatus();
  }

  v1::WatchReadingsResponse* Heartbeat(int64_t position, google::protobuf::Arena* arena) override {
    auto* page = google::protobuf::Arena::CreateMessage<v1::WatchReadingsResponse>(arena);
    page->set_last_seq(position);
    return page;
  }

 private:
  IngestStore* const store_;
  const std::vector<std::string> codes_;
  FeedFilter filter_;
};

}  // namespace

FeedOptions ReadingsFeedOptions(int max_subscribers) {
  return FeedOptions{.service = "ingest",
                     .name = "readings",
                     .max_subscribers = max_subscribers,
                     .commit_of = [](int64_t seq) { return CommitSeqOf(seq); }};
}

std::unique_ptr<FeedReader<v1::WatchReadingsResponse>> NewReadingsReader(IngestStore* store,
                                                                         const v1::WatchReadingsRequest& request) {
  return std::make_unique<ReadingsReader>(store, request);
}

int64_t EndOfBatch(int64_t commit_seq) { return FeedSeq(commit_seq, (1 << kSeqIndexBits) - 1); }

}  // namespace aw::ingest
