#include "common/paging.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

namespace aw {
namespace {

uint64_t FilterHash(const google::protobuf::Message& request) {
  std::unique_ptr<google::protobuf::Message> copy(request.New());
  copy->CopyFrom(request);
  if (const auto* field = copy->GetDescriptor()->FindFieldByName("page")) {
    copy->GetReflection()->ClearField(copy.get(), field);
  }
  return StableHash(absl::StrCat(request.GetTypeName(), ":", DeterministicBytes(*copy)));
}

std::string Token(const auditwatch::v1::PageCursor& cursor) {
  return absl::WebSafeBase64Escape(cursor.SerializeAsString());
}

}  // namespace

std::string DeterministicBytes(const google::protobuf::Message& message) {
  std::string bytes;
  {
    google::protobuf::io::StringOutputStream stream(&bytes);
    google::protobuf::io::CodedOutputStream coded(&stream);
    coded.SetSerializationDeterministic(true);
    message.SerializeToCodedStream(&coded);
  }
  return bytes;
}

uint64_t StableHash(const std::string& bytes) {
  uint64_t h = 1469598103934665603ULL;
  for (unsigned char c : bytes) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  return h;
}

absl::StatusOr<Page> ParsePage(const auditwatch::v1::PageRequest& page,
                               const google::protobuf::Message& request) {
  Page out;
  if (page.page_size() < 0) {
    return absl::InvalidArgumentError("page.page_size: must not be negative");
  }
  if (page.page_size() > 0) out.size = std::min(page.page_size(), kMaxPageSize);
  out.filter_hash = FilterHash(request);
  if (page.page_token().empty()) return out;
  std::string bytes;
  auditwatch::v1::PageCursor cursor;
  if (!absl::WebSafeBase64Unescape(page.page_token(), &bytes) || !cursor.ParseFromString(bytes) ||
      cursor.offset() < 0 || (cursor.offset() > 0 && cursor.after_size() > 0)) {
    return absl::InvalidArgumentError("page.page_token: not a token this server issued");
  }
  if (cursor.filter_hash() != out.filter_hash) {
    return absl::InvalidArgumentError(
        "page.page_token: issued for other filters; repeat the first request's filters");
  }
  out.offset = cursor.offset();
  out.after.assign(cursor.after().begin(), cursor.after().end());
  if (!out.after.empty()) out.total = cursor.total();
  return out;
}

void FillPageResponse(const Page& page, int64_t total, auditwatch::v1::PageResponse* out) {
  out->set_total_size(total);
  const int64_t next = page.offset + page.size;
  if (next < total) {
    auditwatch::v1::PageCursor cursor;
    cursor.set_filter_hash(page.filter_hash);
    cursor.set_offset(next);
    out->set_next_page_token(Token(cursor));
  }
}

void FillKeysetResponse(const Page& page, const std::optional<std::vector<int64_t>>& last, int64_t total,
                        auditwatch::v1::PageResponse* out) {
  out->set_total_size(total);
  if (!last.has_value()) return;
  auditwatch::v1::PageCursor cursor;
  cursor.set_filter_hash(page.filter_hash);
  for (int64_t k : *last) cursor.add_after(k);
  cursor.set_total(total);
  out->set_next_page_token(Token(cursor));
}

}  // namespace aw
