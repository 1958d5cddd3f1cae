// Consumption loading benchmark. Prints figures; it is not a test.
//
// An SGCC-sized file (42,372 customers × 1,035 days, from the theft
// harness's generator) loaded by `awctl load-sgcc` through the gateway into
// ingest (fsync on): from the command's start to its last batch durable,
// beside reading and parsing the same file alone in the same run. Then the
// whole set read back with QueryConsumption (pages asked one by one) and with
// StreamConsumption (one stream, read ahead), as the analysis reads it.
//
//   consumption_bench [--customers=42372] [--days=1035]
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <optional>
#include <tuple>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "auditwatch/v1/ingest.grpc.pb.h"
#include "auditwatch/v1/monitor.grpc.pb.h"
#include "services/awctl/sgcc_csv.h"
#include "services/monitor/theft_logic.h"
#include "services/awctl/theft_synthetic.h"
#include "tests/support/process.h"
#include "tests/support/readings.h"
#include "tests/support/test_db.h"

namespace {

namespace v1 = ::auditwatch::v1;

// Features and transparent scores of `data` in memory: the analysis's own
// work without the database, the network or the store (the baseline).
double InMemory(const aw::demo::TheftData& data) {
  std::vector<aw::monitor::theft::Customer> customers;
  for (const auto& c : data.customers) {
    aw::monitor::theft::Customer t;
    t.id = c.id;
    t.station = "BENCH-S";
    t.daily = c.daily;
    customers.push_back(std::move(t));
  }
  const absl::Time t0 = absl::Now();
  std::vector<aw::monitor::theft::Features> signals;
  const auto features = aw::monitor::theft::ComputeFeatures(customers, &signals);
  const auto weights = aw::monitor::theft::DefaultWeights();
  double sum = 0;
  for (const auto& f : features) sum += aw::monitor::theft::TransparentScore(f, weights).score;
  const double seconds = absl::ToDoubleSeconds(absl::Now() - t0);
  return sum >= 0 ? seconds : -1;
}

// AnalyzeTheft through the gateway; the run, or nullopt (printed) on failure.
std::optional<v1::TheftAnalysis> Analyze(v1::MonitorService::Stub& monitor, const std::string& first,
                                         const std::string& last, const std::string& request_id) {
  v1::AnalyzeTheftRequest r;
  r.set_rule_code("BENCH-THEFT");
  r.set_first_day(first);
  r.set_last_day(last);
  r.set_request_id(request_id);
  grpc::ClientContext c;
  c.set_deadline(std::chrono::system_clock::now() + std::chrono::minutes(10));
  v1::TheftAnalysis run;
  if (const grpc::Status s = monitor.AnalyzeTheft(&c, r, &run); !s.ok()) {
    std::fprintf(stderr, "AnalyzeTheft: %s\n", s.error_message().c_str());
    return std::nullopt;
  }
  return run;
}

int Run(int customers, int days) {
  const std::string dir = std::filesystem::temp_directory_path() / "aw-consumption-bench";
  std::filesystem::create_directories(dir);
  const std::string file = dir + "/sgcc.csv";
  double in_memory = 0;
  std::vector<std::string> ids;
  {
    const aw::demo::TheftData data =
        aw::demo::GenerateTheftData({.seed = 5, .customers = customers, .days = days});
    std::ofstream out(file, std::ios::binary);
    aw::demo::WriteSgcc(data, 5, out);
    in_memory = InMemory(data);
    for (const auto& c : data.customers) ids.push_back(c.id);
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
  aw::testing::AuditwatchProcess process("ingest,monitor,gateway", db.url());
  if (aw::testing::WaitForHealth(process.address("ingest"), "", "SERVING") != "SERVING" ||
      aw::testing::WaitForHealth(process.address("monitor"), "", "SERVING") != "SERVING" ||
      aw::testing::WaitForHealth(process.address("gateway"), "auditwatch.v1.GatewayService", "SERVING") !=
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
  std::printf("SGCC-layout file: %d customers × %d days, %.0f MB (target for 42,372 × 1,035: loaded in under 30 s)\n",
              customers, days, bytes / 1e6);
  std::printf("  %-48s %7.2f s\n", "awctl load-sgcc, start to last batch durable", load);
  std::printf("  %-48s %7.2f s\n", "  baseline: reading and parsing the file alone", parse);
  std::printf("  %-48s %s\n", "  stored", db.Query("SELECT pg_size_pretty(sum(pg_total_relation_size(c.oid))) "
                                                     "FROM pg_class c JOIN pg_inherits i ON i.inhrelid = c.oid").c_str());

  const std::string first_day = "2014-01-01";
  const std::string last_day = absl::FormatCivilTime(absl::CivilDay(2014, 1, 1) + (days - 1));
  const absl::Time t1 = absl::Now();
  int read = 0;
  v1::QueryConsumptionRequest q;
  q.mutable_scope()->set_unit_code("BENCH-S");
  q.set_first_day(first_day);
  q.set_last_day(last_day);
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
    r.set_first_day(first_day);
    r.set_last_day(last_day);
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

  // The analysis: a theft rule over the whole set; then a day's new data and
  // the re-score of the window moved on by that day (monitor reads only the
  // new day, every customer is scored again).
  auto monitor = v1::MonitorService::NewStub(
      aw::testing::ChannelWithMetadata(process.address("gateway"), "x-api-key", secret));
  {
    grpc::ClientContext c;
    v1::UpsertThemeRequest theme;
    theme.mutable_theme()->set_code("BENCH-T");
    theme.mutable_theme()->set_name("违约窃电");
    theme.mutable_theme()->set_category(v1::BUSINESS_CATEGORY_METERING);
    v1::Theme t;
    if (const grpc::Status s = monitor->UpsertTheme(&c, theme, &t); !s.ok()) {
      std::fprintf(stderr, "UpsertTheme: %s\n", s.error_message().c_str());
      return 1;
    }
    grpc::ClientContext c2;
    v1::UpsertRuleRequest rule;
    v1::Rule* r = rule.mutable_rule();
    r->set_code("BENCH-THEFT");
    r->set_name("违约窃电嫌疑");
    r->set_theme_code("BENCH-T");
    r->set_kind(v1::RULE_KIND_THEFT_SUSPICION);
    r->set_period_type(v1::PERIOD_TYPE_MONTH);
    r->mutable_scope()->set_unit_code("BENCH-P");
    r->mutable_scope()->set_include_descendants(true);
    r->set_enabled(true);
    const double cutoffs[] = {0.9, 0.75, 0.5};
    for (int level = 1; level <= 3; ++level) {
      v1::RuleLevel* l = r->add_levels();
      l->set_level(level);
      l->set_threshold(cutoffs[level - 1]);
    }
    rule.set_actor("bench");
    v1::Rule saved;
    if (const grpc::Status s = monitor->UpsertRule(&c2, rule, &saved); !s.ok()) {
      std::fprintf(stderr, "UpsertRule: %s\n", s.error_message().c_str());
      return 1;
    }
  }
  const absl::Time t3 = absl::Now();
  const auto run1 = Analyze(*monitor, first_day, last_day, "bench-1");
  if (!run1) return 1;
  const double first_run = absl::ToDoubleSeconds(absl::Now() - t3);
  // A day's new data: one more day for every customer, then the window
  // moved on by that day.
  const std::string next_day = absl::FormatCivilTime(absl::CivilDay(2014, 1, 1) + days);
  const std::string second_first = absl::FormatCivilTime(absl::CivilDay(2014, 1, 1) + 1);
  const absl::Time tl = absl::Now();
  {
    grpc::ClientContext c;
    auto stream = ingest->IngestConsumption(&c);
    for (size_t from = 0; from < ids.size(); from += 10000) {
      v1::ConsumptionBatch batch;
      batch.set_batch_id(absl::StrCat("bench-next-day-", from));
      batch.set_source("bench");
      for (size_t i = from; i < std::min(ids.size(), from + 10000); ++i) {
        v1::DailyConsumption* d = batch.add_rows()->mutable_daily();
        d->set_customer_id(ids[i]);
        d->set_first_day(next_day);
        d->add_kwh(static_cast<float>(4 + i % 9));
      }
      if (!stream->Write(batch)) break;
    }
    stream->WritesDone();
    v1::BatchResult r;
    while (stream->Read(&r)) {
    }
    if (const grpc::Status s = stream->Finish(); !s.ok()) {
      std::fprintf(stderr, "IngestConsumption (next day): %s\n", s.error_message().c_str());
      return 1;
    }
  }
  const double day_load = absl::ToDoubleSeconds(absl::Now() - tl);
  const absl::Time t4 = absl::Now();
  const auto run2 = Analyze(*monitor, second_first, next_day, "bench-2");
  if (!run2) return 1;
  const double second_run = absl::ToDoubleSeconds(absl::Now() - t4);
  std::printf("  %-48s %7.2f s  (levels 1-4: %d / %d / %d / %d; %d events opened)\n",
              "AnalyzeTheft, first run", first_run, run1->per_level(0), run1->per_level(1), run1->per_level(2),
              run1->per_level(3), run1->events_opened());
  std::printf("  %-48s %7.2f s\n", "a day's new data for every customer, durable", day_load);
  std::printf("  %-48s %7.2f s  (%d day read; %d events opened)\n", "AnalyzeTheft of the window a day on (re-score)",
              second_run, run2->days_read(), run2->events_opened());
  std::printf("    %-46s %7.2f s\n", "baseline: features and scores alone, in memory", in_memory);
  std::filesystem::remove_all(dir);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  int customers = 42372, days = 1035;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a.rfind("--customers=", 0) == 0) absl::SimpleAtoi(a.substr(12), &customers);
    if (a.rfind("--days=", 0) == 0) absl::SimpleAtoi(a.substr(7), &days);
  }
  return Run(customers, days);
}
