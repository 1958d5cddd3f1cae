// Consumption loading benchmark. Prints figures; it is not a test.
//
// An SGCC-sized file (42,372 customers × 1,035 days, from the theft
// harness's generator) loaded by `awctl load-sgcc` through the gateway into
// ingest (fsync on): from the command's start to its last batch durable,
// beside reading and parsing the same file alone in the same run. Then the
// whole set read back with QueryConsumption (pages asked one by one) and with
// StreamConsumption (one stream, read ahead), as the analysis reads it.
//
//   consumption_bench [--customers=42372]
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <tuple>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "auditwatch/v1/ingest.grpc.pb.h"
#include "services/awctl/sgcc_csv.h"
#include "tests/bench/theft_synthetic.h"
#include "tests/support/process.h"
#include "tests/support/readings.h"
#include "tests/support/test_db.h"

namespace {

namespace v1 = ::auditwatch::v1;

int Run(int customers) {
  const std::string dir = std::filesystem::temp_directory_path() / "aw-consumption-bench";
  std::filesystem::create_directories(dir);
  const std::string file = dir + "/sgcc.csv";
  {
    const aw::bench::TheftData data = aw::bench::GenerateTheftData({.seed = 5, .customers = customers});
    std::ofstream out(file, std::ios::binary);
    aw::bench::WriteSgcc(data, 5, out);
  }
  const auto bytes = std::filesystem::file_size(file);
  double parse = 0;
  {
    std::ifstream in(file, std::ios::binary);
    const absl::Time t0 = absl::Now();
    auto table = aw::awctl::ReadSgcc(in);
    parse = absl::ToDoubleSeconds(absl::Now() - t0);
    if (!table.ok()) {
      std::fprintf(stderr, "%s\n", table.status().ToString().c_str());
      return 1;
    }
  }

  aw::testing::TestDatabase db;
  aw::testing::AuditwatchProcess process("ingest,gateway", db.url());
  if (aw::testing::WaitForHealth(process.address("gateway"), "auditwatch.v1.GatewayService", "SERVING") !=
      "SERVING") {
    std::fprintf(stderr, "the gateway did not start: %s\n", process.Logs().c_str());
    return 1;
  }
  std::string secret;
  if (const grpc::Status s = aw::testing::BootstrapAdminKey(process.Channel("gateway"), &secret); !s.ok()) {
    std::fprintf(stderr, "bootstrap: %s\n", s.error_message().c_str());
    return 1;
  }
  const std::string key = dir + "/admin.key";
  std::ofstream(key) << secret;
  auto ingest = v1::IngestService::NewStub(
      aw::testing::ChannelWithMetadata(process.address("gateway"), "x-api-key", secret));
  // A station with its line of parents.
  const std::tuple<const char*, v1::UnitType, const char*> units[] = {
      {"BENCH-P", v1::UNIT_TYPE_PROVINCE, ""},
      {"BENCH-C", v1::UNIT_TYPE_CITY_BUREAU, "BENCH-P"},
      {"BENCH-D", v1::UNIT_TYPE_COUNTY_COMPANY, "BENCH-C"},
      {"BENCH-S", v1::UNIT_TYPE_SUPPLY_STATION, "BENCH-D"}};
  for (const auto& [code, type, parent] : units) {
    grpc::ClientContext ctx;
    v1::CreateUnitRequest unit;
    unit.set_code(code);
    unit.set_name(code);
    unit.set_type(type);
    unit.set_parent_code(parent);
    unit.set_effective_from("2014-01-01");
    unit.set_actor("bench");
    v1::Unit made;
    if (const grpc::Status s = ingest->CreateUnit(&ctx, unit, &made); !s.ok()) {
      std::fprintf(stderr, "CreateUnit: %s\n", s.error_message().c_str());
      return 1;
    }
  }

  std::string out;
  const absl::Time t0 = absl::Now();
  const int rc = aw::testing::RunCommand(
      absl::StrCat("AW_GATEWAY=", process.address("gateway"), " ", AW_AWCTL_PATH, " load-sgcc ", file,
                   " --station=BENCH-S --key-file=", key, " 2>&1"),
      &out);
  const double load = absl::ToDoubleSeconds(absl::Now() - t0);
  if (rc != 0) {
    std::fprintf(stderr, "load-sgcc failed (%d):\n%s\n", rc, out.c_str());
    return 1;
  }
  std::printf("SGCC-sized file: %d customers × 1,035 days, %.0f MB (target: loaded in under 30 s)\n", customers,
              bytes / 1e6);
  std::printf("  %-48s %7.2f s\n", "awctl load-sgcc, start to last batch durable", load);
  std::printf("  %-48s %7.2f s\n", "  baseline: reading and parsing the file alone", parse);
  std::printf("  %-48s %s\n", "  stored", db.Query("SELECT pg_size_pretty(sum(pg_total_relation_size(c.oid))) "
                                                     "FROM pg_class c JOIN pg_inherits i ON i.inhrelid = c.oid").c_str());

  const absl::Time t1 = absl::Now();
  int read = 0;
  v1::QueryConsumptionRequest q;
  q.mutable_scope()->set_unit_code("BENCH-S");
  q.set_first_day("2014-01-01");
  q.set_last_day("2016-10-31");
  q.mutable_page()->set_page_size(1000);
  for (;;) {
    grpc::ClientContext c;
    v1::QueryConsumptionResponse r;
    if (const grpc::Status s = ingest->QueryConsumption(&c, q, &r); !s.ok()) {
      std::fprintf(stderr, "QueryConsumption: %s\n", s.error_message().c_str());
      return 1;
    }
    read += r.customers_size();
    if (r.page().next_page_token().empty()) break;
    q.mutable_page()->set_page_token(r.page().next_page_token());
  }
  std::printf("  %-48s %7.2f s  (%d customers)\n", "read back with QueryConsumption, 1,000 a page",
              absl::ToDoubleSeconds(absl::Now() - t1), read);

  // As the analysis reads it: one stream, each page read while the one
  // before is on its way.
  const absl::Time t2 = absl::Now();
  int64_t streamed = 0, values = 0;
  {
    v1::StreamConsumptionRequest r;
    r.mutable_scope()->set_unit_code("BENCH-S");
    r.set_first_day("2014-01-01");
    r.set_last_day("2016-10-31");
    grpc::ClientContext c;
    auto reader = ingest->StreamConsumption(&c, r);
    v1::ConsumptionPage page;
    while (reader->Read(&page)) {
      streamed += page.customers_size();
      for (const auto& cc : page.customers()) values += cc.kwh_size();
    }
    if (const grpc::Status s = reader->Finish(); !s.ok()) {
      std::fprintf(stderr, "StreamConsumption: %s\n", s.error_message().c_str());
      return 1;
    }
  }
  std::printf("  %-48s %7.2f s  (%lld customers, %lld days)\n", "read back with StreamConsumption, 500 a page",
              absl::ToDoubleSeconds(absl::Now() - t2), static_cast<long long>(streamed),
              static_cast<long long>(values));
  std::filesystem::remove_all(dir);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  int customers = 42372;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a.rfind("--customers=", 0) == 0) absl::SimpleAtoi(a.substr(12), &customers);
  }
  return Run(customers);
}
