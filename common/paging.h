// Offset paging with opaque tokens bound to the request's filters, shared by
// every List/Query method: a token used with other filters is INVALID_ARGUMENT.
#pragma once

#include <cstdint>
#include <string>

#include <google/protobuf/message.h>

#include "absl/status/statusor.h"
#include "auditwatch/v1/common.pb.h"

namespace aw {

constexpr int kDefaultPageSize = 100;
constexpr int kMaxPageSize = 1000;

struct Page {
  int size = kDefaultPageSize;
  int64_t offset = 0;
  uint64_t filter_hash = 0;
};

// `request` is the whole request message; its PageRequest field (named "page")
// is left out of the filter hash.
absl::StatusOr<Page> ParsePage(const auditwatch::v1::PageRequest& page,
                               const google::protobuf::Message& request);

// Fills `out` for a page that returned items [offset, offset + size) of `total`.
void FillPageResponse(const Page& page, int64_t total, auditwatch::v1::PageResponse* out);

// Stable 64-bit FNV-1a hash (the same on every replica and release).
uint64_t StableHash(const std::string& bytes);

}  // namespace aw
