#include "services/awctl/readings_csv.h"

#include <catch2/catch.hpp>

namespace aw::awctl {
namespace {

namespace v1 = ::auditwatch::v1;

struct Parsed {
  std::vector<std::pair<int, v1::ReadingInput>> rows;
  std::vector<v1::RowError> errors;
  std::string fatal;
};

// Parses `text` fed in pieces of `chunk` bytes (quotes and rows split
// anywhere between pieces).
Parsed Parse(const std::string& text, size_t chunk = 1 << 16) {
  Parsed out;
  ReadingsCsv csv([&](int row, v1::ReadingInput r) { out.rows.emplace_back(row, std::move(r)); });
  bool ok = true;
  for (size_t at = 0; ok && at < text.size(); at += chunk) ok = csv.Feed(text.data() + at, std::min(chunk, text.size() - at));
  if (ok) csv.Finish();
  out.errors = csv.errors();
  out.fatal = csv.fatal();
  return out;
}

}  // namespace

TEST_CASE("Readings come from the columns the header names, in any order, fed in any pieces", "[awctl]") {
  const std::string text =
      "\xEF\xBB\xBFperiod,Value,unit_code,indicator_code,reason\r\n"
      "2025-03,98.5,C01-D01-S01,BIL-01,\"re-counted, after audit\"\r\n"
      "2025-04, 97 ,C01-D01-S02,BIL-01,\r\n"
      "\r\n"
      "2025-05,\"1e3\",\"C01-D01\",BIL-06,\"two\nlines\"\n";
  for (size_t chunk : {size_t{1}, size_t{7}, text.size()}) {
    INFO("chunk " << chunk);
    const Parsed p = Parse(text, chunk);
    CHECK(p.fatal.empty());
    CHECK(p.errors.empty());
    REQUIRE(p.rows.size() == 3);
    CHECK(p.rows[0].first == 2);
    CHECK(p.rows[0].second.unit_code() == "C01-D01-S01");
    CHECK(p.rows[0].second.indicator_code() == "BIL-01");
    CHECK(p.rows[0].second.period().key() == "2025-03");
    CHECK(p.rows[0].second.value() == 98.5);
    CHECK(p.rows[0].second.reason() == "re-counted, after audit");
    CHECK(p.rows[1].second.value() == 97);  // blanks around a number
    CHECK(p.rows[1].second.reason().empty());
    CHECK(p.rows[2].first == 4);  // the empty line is no row
    CHECK(p.rows[2].second.value() == 1000);
    CHECK(p.rows[2].second.reason() == "two\nlines");
  }
}

TEST_CASE("Rows that cannot be readings are reported by row, the rest go on", "[awctl]") {
  const Parsed p = Parse(
      "unit_code,indicator_code,period,value\n"
      "S1,BIL-01,2025-03,abc\n"
      "S1,BIL-01,2025-04,\n"
      "S1,BIL-01,2025-05,90\n"
      "S1\n");
  CHECK(p.fatal.empty());
  REQUIRE(p.rows.size() == 1);
  CHECK(p.rows[0].first == 4);
  REQUIRE(p.errors.size() == 3);
  CHECK(p.errors[0].index() == 2);
  CHECK(p.errors[0].code() == "NOT_A_NUMBER");
  CHECK(p.errors[0].field() == "value");
  CHECK(p.errors[0].message() == "\"abc\" is not a number");
  CHECK(p.errors[1].index() == 3);
  CHECK(p.errors[1].code() == "REQUIRED");
  CHECK(p.errors[1].field() == "value");
  CHECK(p.errors[2].index() == 5);
  CHECK(p.errors[2].field() == "indicator_code");  // a short row lacks the later columns
}

TEST_CASE("A file without the needed header, or with broken quoting, is refused as a whole", "[awctl]") {
  CHECK(Parse("unit_code,period,value\nS1,2025-03,1\n").fatal ==
        "the header row has no column indicator_code (it needs unit_code, indicator_code, period and value; reason "
        "is optional)");
  CHECK(Parse("").fatal.find("the file is empty") == 0);
  const Parsed broken = Parse("unit_code,indicator_code,period,value\nS1,BIL-01,\"2025-03\"x,1\n");
  CHECK(broken.fatal.find("row 2: ") == 0);
  CHECK(broken.rows.empty());
}

}  // namespace aw::awctl
