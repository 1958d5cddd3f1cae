#include "common/paging.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace aw {
namespace {

uint64_t FilterHash(const google::protobuf::Message& request) {
  std::unique_ptr<google::protobuf::Message> copy(request.New());
  copy->CopyFrom(request);
  if (const auto* field = copy->GetDescriptor()->FindFieldByName("page")) {
    copy->GetReflection()->ClearField(copy.get(), field);
  }
  std::string bytes;
  {
    google::protobuf::io::StringOutputStream stream(&bytes);
    google::protobuf::io::CodedOutputStream coded(&stream);
    coded.SetSerializationDeterministic(true);
    copy->SerializeToCodedStream(&coded);
  }
  return StableHash(absl::StrCat(request.GetTypeName(), ":", bytes));
}

}  // namespace

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
  std::vector<std::string> parts = absl::StrSplit(page.page_token(), '.');
  uint64_t hash = 0;
  if (parts.size() != 2 || !absl::SimpleAtoi(parts[0], &out.offset) || out.offset < 0 ||
      !absl::SimpleHexAtoi(parts[1], &hash)) {
    return absl::InvalidArgumentError("page.page_token: not a token this server issued");
  }
  if (hash != out.filter_hash) {
    return absl::InvalidArgumentError(
        "page.page_token: issued for other filters; repeat the first request's filters");
  }
  return out;
}

void FillPageResponse(const Page& page, int64_t total, auditwatch::v1::PageResponse* out) {
  out->set_total_size(total);
  const int64_t next = page.offset + page.size;
  if (next < total) out->set_next_page_token(absl::StrCat(next, ".", absl::Hex(page.filter_hash)));
}

}  // namespace aw
