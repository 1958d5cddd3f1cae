// Customer consumption end to end, through the gateway with a real
// PostgreSQL: a file in the SGCC layout (shuffled day columns, empty cells, a
// malformed row) loaded by `awctl load-sgcc` and read back; batches of
// customers, daily values, bills and meter events with per-row errors, the
// all-or-nothing option, batch ids applied once, later values laid over
// earlier ones; a month partition made on first use and old months dropped.
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include <catch2/catch.hpp>

#include "absl/strings/str_cat.h"
#include "auditwatch/v1/ingest.grpc.pb.h"
#include "tests/support/gateway.h"
#include "tests/support/readings.h"

namespace aw::testing {
namespace {

namespace v1 = ::auditwatch::v1;

std::vector<v1::BatchResult> Send(v1::IngestService::Stub& stub, const std::vector<v1::ConsumptionBatch>& batches,
                                  grpc::Status* status = nullptr) {
  grpc::ClientContext ctx;
  auto stream = stub.IngestConsumption(&ctx);
  for (const auto& b : batches) REQUIRE(stream->Write(b));
  stream->WritesDone();
  std::vector<v1::BatchResult> out;
  v1::BatchResult r;
  while (stream->Read(&r)) out.push_back(r);
  const grpc::Status s = stream->Finish();
  if (status != nullptr) {
    *status = s;
  } else {
    INFO(s.error_message());
    REQUIRE(s.ok());
  }
  return out;
}

v1::ConsumptionRow CustomerRow(const std::string& id, const std::string& station, double kva = 0) {
  v1::ConsumptionRow row;
  row.mutable_customer()->set_customer_id(id);
  row.mutable_customer()->set_station_code(station);
  row.mutable_customer()->set_category("residential");
  row.mutable_customer()->set_contract_capacity_kva(kva);
  return row;
}

v1::ConsumptionRow DailyRow(const std::string& id, const std::string& first, std::vector<float> kwh) {
  v1::ConsumptionRow row;
  row.mutable_daily()->set_customer_id(id);
  row.mutable_daily()->set_first_day(first);
  row.mutable_daily()->mutable_kwh()->Add(kwh.begin(), kwh.end());
  return row;
}

v1::QueryConsumptionResponse Query(v1::IngestService::Stub& stub, const std::string& unit, const std::string& first,
                                   const std::string& last, int page_size = 100) {
  v1::QueryConsumptionRequest q;
  q.mutable_scope()->set_unit_code(unit);
  q.mutable_scope()->set_include_descendants(true);
  q.set_first_day(first);
  q.set_last_day(last);
  q.mutable_page()->set_page_size(page_size);
  grpc::ClientContext ctx;
  v1::QueryConsumptionResponse r;
  const grpc::Status s = stub.QueryConsumption(&ctx, q, &r);
  INFO(s.error_message());
  REQUIRE(s.ok());
  return r;
}

TEST_CASE("Consumption batches: per-row errors, all or nothing, applied once, later days laid over earlier ones",
          "[e2e][consumption]") {
  TestDatabase db;
  Gateway gw(db);
  CreateUnits(gw.ingest(), TwoCounties(), "2025-01-01");
  const float none = std::nanf("");

  v1::ConsumptionBatch first;
  first.set_batch_id("b1");
  first.set_source("metering");
  *first.add_rows() = CustomerRow("C1", "S1", 8);
  *first.add_rows() = DailyRow("C1", "2025-01-30", {1.5f, none, 3, 4});  // across January and February
  *first.add_rows() = CustomerRow("C2", "D1");                          // a county: not a station
  *first.add_rows() = DailyRow("C9", "2025-01-01", {1});                // no such customer
  *first.add_rows() = DailyRow("C1", "2025-02-03", {-1});
  v1::ConsumptionRow bill;
  bill.mutable_billing()->set_customer_id("C1");
  bill.mutable_billing()->set_month("2025-01");
  bill.mutable_billing()->set_billed_kwh(40);
  *first.add_rows() = bill;
  v1::ConsumptionRow event;
  event.mutable_event()->set_customer_id("C1");
  event.mutable_event()->set_day("2025-02-01");
  event.mutable_event()->set_type(v1::METER_EVENT_TYPE_COVER_OPENED);
  *first.add_rows() = event;
  auto results = Send(gw.ingest(), {first});
  REQUIRE(results.size() == 1);
  CHECK(results[0].accepted() == 4);
  CHECK(results[0].rejected() == 3);
  REQUIRE(results[0].errors_size() == 3);
  CHECK(results[0].errors(0).index() == 2);
  CHECK(results[0].errors(0).code() == "UNIT_TYPE_NOT_APPLICABLE");
  CHECK(results[0].errors(0).field() == "customer.station_code");
  CHECK(results[0].errors(1).code() == "UNKNOWN_CUSTOMER");
  CHECK(results[0].errors(2).field() == "daily.kwh[0]");

  auto q = Query(gw.ingest(), "P", "2025-01-29", "2025-02-02");
  REQUIRE(q.customers_size() == 1);
  const v1::CustomerConsumption& c1 = q.customers(0);
  CHECK(c1.customer().station_code() == "S1");
  CHECK(c1.customer().contract_capacity_kva() == 8);
  CHECK(c1.customer().status() == v1::CUSTOMER_STATUS_ACTIVE);
  REQUIRE(c1.kwh_size() == 5);
  CHECK(std::isnan(c1.kwh(0)));
  CHECK(c1.kwh(1) == 1.5f);
  CHECK(std::isnan(c1.kwh(2)));
  CHECK(c1.kwh(3) == 3);
  CHECK(c1.kwh(4) == 4);
  REQUIRE(c1.billing_size() == 1);
  CHECK(c1.billing(0).billed_kwh() == 40);
  REQUIRE(c1.events_size() == 1);
  CHECK(c1.events(0).type() == v1::METER_EVENT_TYPE_COVER_OPENED);
  CHECK(c1.events(0).count() == 1);

  // The same batch id again: answered as before, nothing applied twice.
  auto again = Send(gw.ingest(), {first});
  CHECK(again[0].duplicate());
  CHECK(again[0].accepted() == 4);
  // A later value for a day lays over the earlier one; a NaN keeps it.
  v1::ConsumptionBatch second;
  second.set_batch_id("b2");
  second.set_source("metering");
  *second.add_rows() = DailyRow("C1", "2025-01-31", {7, 2.25f});
  Send(gw.ingest(), {second});
  q = Query(gw.ingest(), "S1", "2025-01-30", "2025-02-02");
  REQUIRE(q.customers_size() == 1);
  CHECK(q.customers(0).kwh(0) == 1.5f);
  CHECK(q.customers(0).kwh(1) == 7);
  CHECK(q.customers(0).kwh(2) == 2.25f);
  CHECK(q.customers(0).kwh(3) == 4);
  // Other stations' customers are not in a station's answer.
  CHECK(Query(gw.ingest(), "S2", "2025-01-30", "2025-02-02").customers_size() == 0);

  // All or nothing: one bad row, nothing applied.
  v1::ConsumptionBatch all;
  all.set_batch_id("b3");
  all.set_source("metering");
  all.set_all_or_nothing(true);
  *all.add_rows() = CustomerRow("C3", "S3");
  *all.add_rows() = DailyRow("C3", "2025-13-01", {1});
  auto refused = Send(gw.ingest(), {all});
  CHECK(refused[0].accepted() == 0);
  CHECK(refused[0].rejected() == 2);
  CHECK(refused[0].errors(0).field() == "daily.first_day");
  CHECK(Query(gw.ingest(), "P", "2025-01-01", "2025-01-31").customers_size() == 1);

  // A month's partition came with its first values; old months are dropped whole.
  CHECK(db.Query("SELECT count(*) FROM pg_tables WHERE schemaname = 'ingest' AND tablename LIKE "
                 "'consumption_daily_2025%'") == "2");
  CHECK(db.Query("SELECT ingest.drop_consumption_before('2025-02-01')") == "1");
  q = Query(gw.ingest(), "P", "2025-01-30", "2025-02-02");
  CHECK(std::isnan(q.customers(0).kwh(0)));
  CHECK(q.customers(0).kwh(3) == 4);

  // A query names its window's fault.
  v1::QueryConsumptionRequest bad;
  bad.mutable_scope()->set_unit_code("P");
  bad.set_first_day("2025-02-01");
  bad.set_last_day("2025-01-01");
  grpc::ClientContext ctx;
  v1::QueryConsumptionResponse r;
  const grpc::Status s = gw.ingest().QueryConsumption(&ctx, bad, &r);
  CHECK(s.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
  CHECK(s.error_message() == "last_day: before first_day");
}

TEST_CASE("awctl load-sgcc loads a file in the SGCC layout once, its wrong row reported by line", "[e2e][consumption]") {
  TestDatabase db;
  Gateway gw(db);
  CreateUnits(gw.ingest(), TwoCounties(), "2014-01-01");
  const std::string dir = std::filesystem::temp_directory_path() / "aw-sgcc-test";
  std::filesystem::create_directories(dir);
  const std::string key = dir + "/admin.key";
  std::ofstream(key) << gw.admin_key();
  const std::string file = dir + "/sgcc.csv";
  std::ofstream(file) << "CONS_NO,FLAG,2014/1/3,2014/1/1,2014/1/2\n"
                         "A1,1,3.5,1.5,\n"
                         "A2,0,1,x,1\n"
                         "A3,0,,,0.25\n";
  auto run = [&](std::string* out) {
    return RunCommand(absl::StrCat("AW_GATEWAY=", gw.process().address("gateway"), " ", AW_AWCTL_PATH,
                                   " load-sgcc ", file, " --station=S2 --category=residential --key-file=", key),
                      out);
  };
  std::string out;
  CHECK(run(&out) == 1);  // a row of the file was wrong
  INFO(out);
  CHECK(out.find("2 customers over 3 days from 2014-01-01 (1 flagged as theft), 1 rows refused") != std::string::npos);
  CHECK(out.find("line 3: column 4: \"x\" is not a kWh value") != std::string::npos);
  CHECK(out.find("4 rows accepted, 0 refused") != std::string::npos);
  auto q = Query(gw.ingest(), "S2", "2014-01-01", "2014-01-03");
  REQUIRE(q.customers_size() == 2);
  CHECK(q.customers(0).customer().customer_id() == "A1");
  CHECK(q.customers(0).customer().category() == "residential");
  CHECK(q.customers(0).kwh(0) == 1.5f);
  CHECK(std::isnan(q.customers(0).kwh(1)));
  CHECK(q.customers(0).kwh(2) == 3.5f);
  CHECK(q.customers(1).kwh(1) == 0.25f);
  // Again: nothing applied twice.
  CHECK(run(&out) == 1);
  CHECK(out.find("1 batches applied before (nothing applied twice)") != std::string::npos);
  // Paging: one customer a page, all of them in the end.
  auto page = Query(gw.ingest(), "P", "2014-01-01", "2014-01-03", 1);
  CHECK(page.customers_size() == 1);
  CHECK(page.page().total_size() == 2);
  std::filesystem::remove_all(dir);
}

// Reads a whole StreamConsumption; the status it ended with in `status`.
std::vector<v1::ConsumptionPage> Stream(v1::IngestService::Stub& stub, const v1::StreamConsumptionRequest& request,
                                        grpc::Status* status) {
  grpc::ClientContext ctx;
  auto reader = stub.StreamConsumption(&ctx, request);
  std::vector<v1::ConsumptionPage> pages;
  v1::ConsumptionPage page;
  while (reader->Read(&page)) pages.push_back(page);
  *status = reader->Finish();
  return pages;
}

TEST_CASE("StreamConsumption sends a scope's customers a page at a time in id order and resumes after a customer",
          "[e2e][consumption]") {
  TestDatabase db;
  Gateway gw(db);
  CreateUnits(gw.ingest(), TwoCounties(), "2025-01-01");
  // 23 customers of S1 and 2 of S2, their values telling them apart.
  v1::ConsumptionBatch batch;
  batch.set_batch_id("many");
  batch.set_source("metering");
  for (int i = 0; i < 25; ++i) {
    const std::string id = absl::StrCat("K", i < 10 ? "0" : "", i);
    *batch.add_rows() = CustomerRow(id, i < 23 ? "S1" : "S2");
    *batch.add_rows() = DailyRow(id, "2025-01-31", {static_cast<float>(i), static_cast<float>(i) + 0.5f});
  }
  REQUIRE(Send(gw.ingest(), {batch})[0].accepted() == 50);

  v1::StreamConsumptionRequest r;
  r.mutable_scope()->set_unit_code("S1");
  r.set_first_day("2025-01-31");
  r.set_last_day("2025-02-01");
  r.set_page_size(5);
  grpc::Status status;
  auto pages = Stream(gw.ingest(), r, &status);
  INFO(status.error_message());
  REQUIRE(status.ok());
  REQUIRE(pages.size() == 5);  // 5 + 5 + 5 + 5 + 3
  CHECK(pages[0].total() == 23);
  CHECK(pages[4].customers_size() == 3);
  CHECK(pages[4].last_customer_id() == "K22");
  int n = 0;
  for (const auto& p : pages) {
    for (const auto& c : p.customers()) {
      CHECK(c.customer().customer_id() == absl::StrCat("K", n < 10 ? "0" : "", n));
      REQUIRE(c.kwh_size() == 2);
      CHECK(c.kwh(0) == static_cast<float>(n));  // January 31st
      CHECK(c.kwh(1) == static_cast<float>(n) + 0.5f);  // February 1st: another month's row
      ++n;
    }
  }
  CHECK(n == 23);

  // A page exactly full at the end: no empty page after it.
  r.set_page_size(23);
  CHECK(Stream(gw.ingest(), r, &status).size() == 1);
  CHECK(status.ok());

  // Resuming after K19: the three after it.
  r.set_page_size(0);
  r.set_after_customer_id("K19");
  pages = Stream(gw.ingest(), r, &status);
  REQUIRE(status.ok());
  REQUIRE(pages.size() == 1);
  REQUIRE(pages[0].customers_size() == 3);
  CHECK(pages[0].customers(0).customer().customer_id() == "K20");

  // A window that is not one, and a page too large: the field named.
  r.set_after_customer_id("");
  r.set_last_day("2025-01-01");
  CHECK(Stream(gw.ingest(), r, &status).empty());
  CHECK(status.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
  CHECK(status.error_message().find("last_day") != std::string::npos);
  r.set_last_day("2025-02-01");
  r.set_page_size(5000);
  CHECK(Stream(gw.ingest(), r, &status).empty());
  CHECK(status.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
  CHECK(status.error_message().find("page_size") != std::string::npos);
}

}  // namespace
}  // namespace aw::testing
