#include "common/paging.h"

#include <catch2/catch.hpp>

#include "auditwatch/v1/monitor.pb.h"

namespace aw {
namespace {

namespace v1 = ::auditwatch::v1;

v1::ListEventsRequest Request(int size, const std::string& token = "", int level = 0) {
  v1::ListEventsRequest r;
  r.mutable_page()->set_page_size(size);
  r.mutable_page()->set_page_token(token);
  if (level > 0) r.add_levels(level);
  return r;
}

TEST_CASE("Pages by position walk a list and stop at its end", "[paging]") {
  std::vector<int> all(25);
  std::vector<int> seen;
  std::string token;
  for (int pages = 1;; ++pages) {
    REQUIRE(pages <= 3);
    const auto req = Request(10, token);
    auto page = ParsePage(req.page(), req);
    REQUIRE(page.ok());
    v1::PageResponse resp;
    PageOut(*page, all, [&](int) { seen.push_back(1); }, &resp);
    CHECK(resp.total_size() == 25);
    if (resp.next_page_token().empty()) break;
    token = resp.next_page_token();
  }
  CHECK(seen.size() == 25);
}

TEST_CASE("Pages by key carry the last key and the first page's count", "[paging]") {
  auto first = ParsePage(Request(2).page(), Request(2));
  REQUIRE(first.ok());
  CHECK(first->first());
  CHECK(first->total == -1);
  v1::PageResponse resp;
  FillKeysetResponse(*first, std::vector<int64_t>{7, 3, 24000, 2}, 41, &resp);
  CHECK(resp.total_size() == 41);
  REQUIRE_FALSE(resp.next_page_token().empty());
  const auto next_req = Request(2, resp.next_page_token());
  auto next = ParsePage(next_req.page(), next_req);
  REQUIRE(next.ok());
  CHECK_FALSE(next->first());
  CHECK(next->after == std::vector<int64_t>{7, 3, 24000, 2});
  CHECK(next->total == 41);
  v1::PageResponse last;
  FillKeysetResponse(*next, std::nullopt, next->total, &last);
  CHECK(last.next_page_token().empty());
  CHECK(last.total_size() == 41);
}

TEST_CASE("A page token is refused with other filters, and when it is not one", "[paging]") {
  auto page = ParsePage(Request(5).page(), Request(5));
  v1::PageResponse resp;
  FillPageResponse(*page, 100, &resp);
  const auto other = Request(5, resp.next_page_token(), /*level=*/2);
  auto refused = ParsePage(other.page(), other);
  CHECK(refused.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(std::string(refused.status().message()).find("page.page_token: issued for other filters") == 0);
  for (const char* bad : {"12.ab", "%%%", "AAAA"}) {
    const auto req = Request(5, bad);
    CHECK(ParsePage(req.page(), req).status().code() == absl::StatusCode::kInvalidArgument);
  }
  const auto negative = Request(-1);
  CHECK(ParsePage(negative.page(), negative).status().code() == absl::StatusCode::kInvalidArgument);
  const auto huge = Request(5000);
  CHECK(ParsePage(huge.page(), huge)->size == kMaxPageSize);
}

}  // namespace
}  // namespace aw
