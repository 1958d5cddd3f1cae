#include "common/config.h"

#include <map>

#include <catch2/catch.hpp>

namespace aw {
namespace {

// Ingest declares its data sources, monitor a duration and a count, as the
// real modules do.
const std::vector<ServiceSpec> kServices = {
    {"ingest", 7101, {{.flag = "data_sources", .kind = Setting::Kind::kNamedUrls, .help = "pull sources"}}},
    {"monitor",
     7102,
     {{.flag = "notify_repeat", .kind = Setting::Kind::kDuration, .default_value = "24h", .help = "repeat"},
      {.flag = "notify_max_attempts",
       .kind = Setting::Kind::kCount,
       .default_value = "8",
       .help = "attempts",
       .min = 1,
       .max = 100}}},
    {"gateway", 7100, {}}};

GetEnv Env(std::map<std::string, std::string> vars) {
  return [vars = std::move(vars)](const std::string& name) -> std::optional<std::string> {
    if (auto it = vars.find(name); it != vars.end()) return it->second;
    return std::nullopt;
  };
}

TEST_CASE("Config defaults run everything on the documented ports", "[config]") {
  auto c = ParseConfig({}, Env({}), kServices);
  REQUIRE(c.ok());
  CHECK(c->targets == std::vector<std::string>{"ingest", "monitor", "gateway"});
  CHECK(c->ports.at("ingest") == 7101);
  CHECK(c->ports.at("gateway") == 7100);
  CHECK(c->metrics_port == 9100);
  CHECK(c->drain_timeout == absl::Seconds(10));
  CHECK(c->addrs.empty());
}

TEST_CASE("Config takes a flag over the environment over the default", "[config]") {
  auto env = Env({{"AW_DB_POOL_SIZE", "9"}, {"AW_WORKERS", "3"}, {"AW_INGEST_ADDR", "ingest:7101"}});
  auto c = ParseConfig({"--db_pool_size=12", "--drain_timeout", "2s"}, env, kServices);
  REQUIRE(c.ok());
  CHECK(c->db_pool_size == 12);
  CHECK(c->workers == 3);
  CHECK(c->drain_timeout == absl::Seconds(2));
  CHECK(c->addrs.at("ingest") == "ingest:7101");
}

TEST_CASE("Config reads named data sources for scheduled pulls", "[config]") {
  auto c = ParseConfig({"--data_sources=reporting=host=db1 dbname=rpt user=ro; billing=postgresql://ro@db2/bill"},
                       Env({}), kServices);
  REQUIRE(c.ok());
  const auto& data_sources = c->settings.NamedUrls("data_sources");
  REQUIRE(data_sources.size() == 2);
  CHECK(data_sources.at("reporting") == "host=db1 dbname=rpt user=ro");
  CHECK(data_sources.at("billing") == "postgresql://ro@db2/bill");
  auto bad = ParseConfig({}, Env({{"AW_DATA_SOURCES", "nourl"}}), kServices);
  CHECK(std::string(bad.status().message()).find("AW_DATA_SOURCES (--data_sources)") == 0);
}

TEST_CASE("Config derives the metrics port of a service run alone", "[config]") {
  auto alone = ParseConfig({"--target=monitor"}, Env({}), kServices);
  REQUIRE(alone.ok());
  CHECK(alone->targets == std::vector<std::string>{"monitor"});
  CHECK(alone->metrics_port == 9102);
  auto pair = ParseConfig({"--target", "monitor, ingest"}, Env({}), kServices);
  REQUIRE(pair.ok());
  CHECK(pair->targets == std::vector<std::string>{"ingest", "monitor"});
  CHECK(pair->metrics_port == 9100);
  auto explicit_port = ParseConfig({"--target=monitor", "--metrics_port=0"}, Env({}), kServices);
  CHECK(explicit_port->metrics_port == 0);
}

TEST_CASE("Config refuses bad input and names the flag and variable", "[config]") {
  struct Case {
    std::vector<std::string> args;
    std::map<std::string, std::string> env;
    std::string expected;
  };
  const std::vector<Case> cases = {
      {{"--target=billing"}, {}, "unknown service \"billing\""},
      {{"--target=all,ingest"}, {}, "\"all\" cannot be combined"},
      {{"--target=ingest,ingest"}, {}, "given twice"},
      {{"--bogus=1"}, {}, "unknown flag --bogus"},
      {{"--workers=zero"}, {}, "--workers (AW_WORKERS)"},
      {{}, {{"AW_INGEST_PORT", "70000"}}, "AW_INGEST_PORT (--ingest_port)"},
      {{}, {{"AW_DRAIN_TIMEOUT", "soon"}}, "expected a duration"},
      {{"--monitor_addr=nohostport"}, {}, "expected host:port"},
      {{"--log_level=chatty"}, {}, "unknown log level"},
      {{"--workers"}, {}, "missing value"},
      {{"stray"}, {}, "unexpected argument"},
  };
  for (const Case& c : cases) {
    auto result = ParseConfig(c.args, Env(c.env), kServices);
    INFO(c.expected);
    REQUIRE_FALSE(result.ok());
    CHECK(result.status().code() == absl::StatusCode::kInvalidArgument);
    CHECK(std::string(result.status().message()).find(c.expected) != std::string::npos);
  }
}

TEST_CASE("Config usage lists every flag with its variable", "[config]") {
  const std::string usage = ConfigUsage(kServices);
  for (const char* needle : {"--target (AW_TARGET", "--database_url (AW_DATABASE_URL",
                             "--gateway_port (AW_GATEWAY_PORT", "--ingest_addr (AW_INGEST_ADDR"}) {
    CHECK(usage.find(needle) != std::string::npos);
  }
  auto help = ParseConfig({"--help"}, Env({}), kServices);
  CHECK(help->help);
}

TEST_CASE("Config takes the settings modules declare, with their defaults and checks", "[config]") {
  auto defaults = ParseConfig({}, Env({}), kServices);
  REQUIRE(defaults.ok());
  CHECK(defaults->settings.Duration("notify_repeat") == absl::Hours(24));
  CHECK(defaults->settings.Count("notify_max_attempts") == 8);
  CHECK(defaults->settings.NamedUrls("data_sources").empty());
  auto set = ParseConfig({"--notify_repeat=2s"}, Env({{"AW_NOTIFY_MAX_ATTEMPTS", "3"}}), kServices);
  REQUIRE(set.ok());
  CHECK(set->settings.Duration("notify_repeat") == absl::Seconds(2));
  CHECK(set->settings.Count("notify_max_attempts") == 3);
  auto bad = ParseConfig({"--notify_max_attempts=0"}, Env({}), kServices);
  CHECK(bad.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(std::string(bad.status().message()).find("--notify_max_attempts (AW_NOTIFY_MAX_ATTEMPTS)") == 0);
  const std::string usage = ConfigUsage(kServices);
  CHECK(usage.find("--notify_repeat (AW_NOTIFY_REPEAT, default: 24h)") != std::string::npos);
  CHECK(usage.find("--timer_interval (AW_TIMER_INTERVAL") != std::string::npos);
  // Two modules may not declare one flag.
  auto twice = kServices;
  twice[2].settings.push_back({.flag = "notify_repeat", .kind = Setting::Kind::kDuration, .default_value = "1s"});
  CHECK(ParseConfig({}, Env({}), twice).status().code() == absl::StatusCode::kInternal);
}

}  // namespace
}  // namespace aw
