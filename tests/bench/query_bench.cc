// Query benchmark: QueryReadings page latency by depth — the first page (which
// counts the total), the second, and pages deep into the result — for a large
// and a small query, beside the raw PostgreSQL cost of one page of the same
// rows (the keyset SELECT on the readings view) measured in the same run.
// Prints figures; it is not a test.
//
//   query_bench [--indicators=7]
//   AW_BINARY=/path/to/another/auditwatch query_bench   (to measure another build)
#include <algorithm>
#include <cstdio>
#include <thread>

#include <pqxx/pqxx>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "auditwatch/v1/ingest.grpc.pb.h"
#include "services/awctl/synthetic.h"
#include "tests/support/process.h"
#include "tests/support/test_db.h"

namespace {

namespace v1 = ::auditwatch::v1;
constexpr int kYear = 2024;
constexpr int kPageSize = 1000;

double Ms(absl::Duration d) { return absl::ToDoubleMilliseconds(d); }

// Walks every page of `req`; prints the latency of the first, second, tenth,
// middle and last pages.
void Walk(v1::IngestService::Stub& stub, v1::QueryReadingsRequest req, const char* what) {
  req.mutable_page()->set_page_size(kPageSize);
  std::vector<double> ms;
  int64_t rows = 0, total = 0;
  for (;;) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(120));
    v1::QueryReadingsResponse resp;
    const absl::Time t0 = absl::Now();
    const grpc::Status s = stub.QueryReadings(&ctx, req, &resp);
    ms.push_back(Ms(absl::Now() - t0));
    if (!s.ok()) {
      std::printf("%-7s refused after %.0f ms: %s\n", what, ms.back(), s.error_message().c_str());
      return;
    }
    rows += resp.readings_size();
    total = resp.page().total_size();
    if (resp.page().next_page_token().empty()) break;
    req.mutable_page()->set_page_token(resp.page().next_page_token());
  }
  auto at = [&](size_t i) { return i < ms.size() ? ms[i] : 0.0; };
  std::printf("%-7s %7lld rows (total %lld) in %3zu pages; ms per page: first %6.1f  2nd %6.1f  10th %6.1f  "
              "middle %6.1f  last %6.1f\n",
              what, static_cast<long long>(rows), static_cast<long long>(total), ms.size(), at(0), at(1), at(9),
              at(ms.size() / 2), ms.back());
}

// The raw cost of one page: the rows of one page from the middle of the large
// result — those of the consecutive units that hold them — fetched straight
// from PostgreSQL in key order, without versions or anything else.
double RawPageMs(const std::string& url, const std::vector<int>& indicators, int units_per_page) {
  pqxx::connection c(url);
  pqxx::nontransaction tx(c);
  const std::string sql = absl::StrCat(
      "SELECT unit_id, indicator_id, period_start, value, commit_seq, idx FROM ingest.reading_versions "
      "WHERE unit_id BETWEEN $1 AND $1 + ", units_per_page - 1, " AND indicator_id = ANY ('{",
      absl::StrJoin(indicators, ","), "}'::int[]) AND period_type = 3 AND period_start BETWEEN '", kYear,
      "-01-01' AND '", kYear, "-12-01' ORDER BY unit_id, indicator_id, period_start LIMIT 1000");
  const int middle_unit = tx.exec1("SELECT percentile_disc(0.5) WITHIN GROUP (ORDER BY id) FROM ingest.units")[0]
                              .as<int>();
  std::vector<double> ms;
  for (int i = 0; i < 5; ++i) {
    const absl::Time t0 = absl::Now();
    tx.exec_params(sql, middle_unit);
    ms.push_back(Ms(absl::Now() - t0));
  }
  std::sort(ms.begin(), ms.end());
  return ms[ms.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  int indicators = 7;
  for (int i = 1; i < argc; ++i) {
    if (absl::StartsWith(argv[i], "--indicators=")) (void)absl::SimpleAtoi(argv[i] + 13, &indicators);
  }
  aw::testing::TestDatabase db;
  aw::testing::AuditwatchProcess process("ingest", db.url(), {"--workers=4"});
  if (aw::testing::WaitForHealth(process.address("ingest"), "", "SERVING") != "SERVING") {
    std::fprintf(stderr, "did not start: %s\n", process.Logs().c_str());
    return 1;
  }
  auto stub = v1::IngestService::NewStub(process.Channel("ingest"));
  const aw::demo::SyntheticProvince province(5, kYear);
  if (!aw::demo::LoadCatalogue(*stub, province, "bench").status.ok()) return 1;
  {
    grpc::ClientContext ctx;
    auto stream = stub->IngestReadings(&ctx);
    std::thread writer([&] {
      province.ForEachBatch(500, [&](v1::ReadingBatch& b) { return stream->Write(b); });
      stream->WritesDone();
    });
    v1::BatchResult r;
    while (stream->Read(&r)) {
    }
    writer.join();
    if (!stream->Finish().ok()) return 1;
  }
  // The monthly indicators, by catalogue order.
  std::vector<std::string> codes;
  for (const auto& ind : province.indicators()) {
    if (std::find(ind.allowed_period_types().begin(), ind.allowed_period_types().end(), v1::PERIOD_TYPE_MONTH) !=
        ind.allowed_period_types().end()) {
      codes.push_back(ind.code());
    }
  }
  codes.resize(std::min<size_t>(codes.size(), indicators));
  std::printf("synthetic province: %zu units, a year of readings; pages of %d\n\n", province.units().size(),
              kPageSize);
  v1::QueryReadingsRequest large;
  for (const auto& c : codes) large.add_indicator_codes(c);
  large.mutable_periods()->mutable_first()->set_key(absl::StrCat(kYear, "-01"));
  large.mutable_periods()->mutable_last()->set_key(absl::StrCat(kYear, "-12"));
  v1::QueryReadingsRequest small = large;
  for (const auto& u : province.units()) {
    if (u.type() == v1::UNIT_TYPE_DISTRICT_BUREAU || u.type() == v1::UNIT_TYPE_COUNTY_COMPANY) {
      small.mutable_scope()->set_unit_code(u.code());  // one district and its stations
      break;
    }
  }
  small.mutable_scope()->set_include_descendants(true);
  Walk(*stub, large, "large");
  Walk(*stub, small, "small");

  std::vector<int> ids;
  for (const auto& c : codes) {
    ids.push_back(std::stoi(db.Query("SELECT id FROM ingest.indicators WHERE code = '" + c + "'")));
  }
  const int per_unit = static_cast<int>(ids.size()) * 12;
  std::printf("\nbaseline: the %d readings of one page from the middle of the large result, straight from "
              "PostgreSQL: %.1f ms\n",
              kPageSize, RawPageMs(db.url(), ids, (kPageSize + per_unit - 1) / per_unit));
  return 0;
}
