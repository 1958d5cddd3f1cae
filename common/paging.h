// Paging shared by every List…/Query… method: page sizes, opaque page tokens
// bound to the request's filters (a token used with other filters is
// INVALID_ARGUMENT), and the two ways of paging: by position for short lists
// kept in memory, by key (the sort key of the last item sent) for lists that
// grow without bound, so that a page costs the same however deep it is.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <google/protobuf/message.h>

#include "absl/status/statusor.h"
#include "auditwatch/v1/common.pb.h"

namespace aw {

constexpr int kDefaultPageSize = 100;
constexpr int kMaxPageSize = 1000;

struct Page {
  int size = kDefaultPageSize;
  // By position: the index of the first item of this page.
  int64_t offset = 0;
  // By key: the sort key of the last item of the previous page; empty on the
  // first page.
  std::vector<int64_t> after;
  // By key: the total counted for the first page, carried by the token; -1 on
  // the first page (count it then).
  int64_t total = -1;
  uint64_t filter_hash = 0;

  bool first() const { return offset == 0 && after.empty(); }
  // By key, for lists keyed by one id: the id of the last item sent (0 on the
  // first page).
  int64_t after_id() const { return after.empty() ? 0 : after[0]; }
};

// `request` is the whole request message; its PageRequest field (named "page")
// is left out of the filter hash.
absl::StatusOr<Page> ParsePage(const auditwatch::v1::PageRequest& page,
                               const google::protobuf::Message& request);

// By position: fills `out` for a page that returned items [offset, offset +
// size) of `total`.
void FillPageResponse(const Page& page, int64_t total, auditwatch::v1::PageResponse* out);

// By key: fills `out` for a page whose last item has the sort key `last` when
// more items follow (std::nullopt on the last page); `total` is the count of
// every matching item.
void FillKeysetResponse(const Page& page, const std::optional<std::vector<int64_t>>& last, int64_t total,
                        auditwatch::v1::PageResponse* out);

// By key, for a page read with one item more than its size (which tells
// whether another page follows): drops that item and fills `out`;
// `key_of(item)` is an item's sort key.
template <typename T, typename KeyOf>
void FinishKeysetPage(const Page& page, std::vector<T>& items, KeyOf key_of, int64_t total,
                      auditwatch::v1::PageResponse* out) {
  const bool more = static_cast<int64_t>(items.size()) > page.size;
  if (more) items.erase(items.begin() + page.size, items.end());
  FillKeysetResponse(page, more ? std::optional<std::vector<int64_t>>(key_of(items.back())) : std::nullopt, total,
                     out);
}

// By position, of a list held in memory: calls `add` for each item of the page.
template <typename T, typename Add>
void PageOut(const Page& page, const std::vector<T>& all, Add add, auditwatch::v1::PageResponse* out) {
  const int64_t end = std::min<int64_t>(static_cast<int64_t>(all.size()), page.offset + page.size);
  for (int64_t i = page.offset; i < end; ++i) add(all[i]);
  FillPageResponse(page, static_cast<int64_t>(all.size()), out);
}

// Stable 64-bit FNV-1a hash (the same on every replica and release).
uint64_t StableHash(const std::string& bytes);

// A message's deterministic serialisation: equal messages give equal bytes on
// every replica (map fields in key order), so requests can be compared by
// their bytes (page-token filters, retried commands).
std::string DeterministicBytes(const google::protobuf::Message& message);

}  // namespace aw
