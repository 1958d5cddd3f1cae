// The auditwatch binary end to end over real gRPC on loopback: health follows
// the database and the dependencies, reflection and a generic client see every
// service, /metrics counts calls and passes promtool, shutdown drains, restarts
// do not re-apply migrations, a changed migration stops the process.
#include <signal.h>

#include <thread>

#include <catch2/catch.hpp>

#include "absl/strings/str_cat.h"
#include "auditwatch/v1/ingest.grpc.pb.h"
#include "auditwatch/v1/audit.grpc.pb.h"
#include "auditwatch/v1/report.grpc.pb.h"
#include "auditwatch/v1/scoring.grpc.pb.h"
#include "services/modules.h"
#include "tests/support/process.h"
#include "tests/support/test_db.h"

namespace aw::testing {
namespace {

constexpr const char* kServing = "SERVING";
constexpr const char* kNotServing = "NOT_SERVING";

void RequireAllServing(const AuditwatchProcess& p) {
  for (const ModuleDef& d : AllModules()) {
    INFO(d.name << "\n" << p.Logs());
    REQUIRE(WaitForHealth(p.address(d.name), d.grpc_service, kServing) == kServing);
    REQUIRE(HealthOf(p.address(d.name), "") == kServing);
  }
}

TEST_CASE("Every service starts in one process and reports SERVING", "[e2e]") {
  TestDatabase db;
  AuditwatchProcess p("all", db.url());
  REQUIRE(p.running());
  RequireAllServing(p);
  // Each service has its own port and schema.
  for (const ModuleDef& d : AllModules()) {
    CHECK(db.Query(absl::StrCat("SELECT max(version) FROM ", d.name, ".schema_migrations")) ==
          std::to_string(d.migration_files().size()));
  }
  CHECK(p.Stop(SIGTERM) == 0);
  CHECK(p.Logs().find("\"shutdown complete\"") != std::string::npos);
}

TEST_CASE("Health is NOT_SERVING until the database is reachable and again when it is lost",
          "[e2e]") {
  TestDatabase db;
  db.Disconnect();
  AuditwatchProcess p("ingest", db.url());
  REQUIRE(p.running());
  const std::string addr = p.address("ingest");
  const std::string svc = "auditwatch.v1.IngestService";
  // Several health intervals (100 ms) pass without a database: still not serving.
  for (int i = 0; i < 10; ++i) {
    REQUIRE(HealthOf(addr, svc) == kNotServing);
    REQUIRE(HealthOf(addr, "auditwatch.liveness") == kServing);  // alive, only not ready
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  db.Reconnect();
  REQUIRE(WaitForHealth(addr, svc, kServing) == kServing);
  db.Disconnect();
  CHECK(WaitForHealth(addr, svc, kNotServing) == kNotServing);
  CHECK(HealthOf(addr, "") == kNotServing);
  db.Reconnect();
  CHECK(WaitForHealth(addr, svc, kServing) == kServing);
  INFO(p.Logs());
  CHECK(p.Logs().find("NOT_SERVING: database") != std::string::npos);
}

TEST_CASE("A service run alone is SERVING only while its dependency is", "[e2e]") {
  TestDatabase db;
  auto ingest = std::make_unique<AuditwatchProcess>("ingest", db.url());
  AuditwatchProcess monitor("monitor", db.url(),
                            {"--ingest_addr=" + ingest->address("ingest")});
  const std::string addr = monitor.address("monitor");
  const std::string svc = "auditwatch.v1.MonitorService";
  REQUIRE(WaitForHealth(addr, svc, kServing) == kServing);
  CHECK(ingest->Stop(SIGTERM) == 0);
  ingest.reset();
  CHECK(WaitForHealth(addr, svc, kNotServing) == kNotServing);
  INFO(monitor.Logs());
  CHECK(monitor.Logs().find("ingest unreachable") != std::string::npos);
}

TEST_CASE("Migrations are applied once and not again after a restart", "[e2e]") {
  TestDatabase db;
  std::string applied_at;
  {
    AuditwatchProcess first("all", db.url());
    RequireAllServing(first);
    applied_at = db.Query("SELECT string_agg(applied_at::text, ',' ORDER BY version) FROM audit.schema_migrations");
    REQUIRE(first.Stop(SIGTERM) == 0);
  }
  AuditwatchProcess second("all", db.url());
  RequireAllServing(second);
  for (const ModuleDef& d : AllModules()) {
    CHECK(db.Query(absl::StrCat("SELECT count(*) FROM ", d.name, ".schema_migrations")) ==
          std::to_string(d.migration_files().size()));
  }
  CHECK(db.Query("SELECT string_agg(applied_at::text, ',' ORDER BY version) FROM audit.schema_migrations") == applied_at);
  size_t audit_files = 0;
  for (const ModuleDef& d : AllModules()) {
    if (d.name == "audit") audit_files = d.migration_files().size();
  }
  REQUIRE(audit_files >= 3);
  CHECK(second.Logs().find(absl::StrCat("schema audit at version ", audit_files, ": 0 migration(s) applied now, ",
                                        audit_files, " before")) != std::string::npos);
}

TEST_CASE("A changed migration makes the service refuse to start", "[e2e]") {
  TestDatabase db;
  {
    AuditwatchProcess first("scoring", db.url(), {"--ingest_addr=127.0.0.1:1", "--audit_addr=127.0.0.1:1"});
    REQUIRE(WaitForHealth(first.address("scoring"), "", kNotServing) == kNotServing);
    // Wait for the schema, then stop.
    for (int i = 0; i < 100 && db.Query("SELECT to_regclass('scoring.schema_migrations')::text").empty(); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    REQUIRE(first.Stop(SIGTERM) == 0);
  }
  db.Query("UPDATE scoring.schema_migrations SET checksum = 'edited' RETURNING version");
  AuditwatchProcess second("scoring", db.url(), {"--ingest_addr=127.0.0.1:1", "--audit_addr=127.0.0.1:1"});
  CHECK(second.WaitExit(absl::Seconds(20)) == 1);
  INFO(second.Logs());
  CHECK(second.Logs().find("0001_init.sql of schema scoring differs") != std::string::npos);
}

TEST_CASE("A generic client sees every service SERVING and described by reflection", "[e2e]") {
  TestDatabase db;
  AuditwatchProcess p("all", db.url());
  RequireAllServing(p);
  std::string command = absl::StrCat("/usr/bin/python3 ", AW_GENERIC_CLIENT, " ", AW_PY_STUBS);
  for (const ModuleDef& d : AllModules()) {
    absl::StrAppend(&command, " ", p.address(d.name), "=", d.grpc_service);
  }
  std::string output;
  const int rc = RunCommand(command, &output);
  INFO(output);
  CHECK(rc == 0);
  for (const ModuleDef& d : AllModules()) {
    CHECK(output.find(absl::StrCat(d.grpc_service, " ok: SERVING, listed")) != std::string::npos);
  }
}

TEST_CASE("/metrics counts a call by method and code and passes promtool", "[e2e]") {
  TestDatabase db;
  AuditwatchProcess p("all", db.url());
  RequireAllServing(p);
  auto stub = auditwatch::v1::AuditService::NewStub(p.Channel("audit"));
  for (int i = 0; i < 3; ++i) {
    grpc::ClientContext ctx;
    auditwatch::v1::AuditTask task;
    stub->GetTask(&ctx, auditwatch::v1::GetTaskRequest(), &task);
  }
  const std::string text = HttpGet(p.metrics_port(), "/metrics");
  INFO(text);
  const std::string labels =
      "grpc_method=\"GetTask\",grpc_service=\"auditwatch.v1.AuditService\",service=\"audit\"";
  CHECK(text.find("auditwatch_grpc_server_started_total{" + labels + "} 3") != std::string::npos);
  CHECK(text.find("auditwatch_grpc_server_handled_total{grpc_code=\"INVALID_ARGUMENT\"," + labels +
                  "} 3") != std::string::npos);
  CHECK(text.find("auditwatch_grpc_server_errors_total{grpc_code=\"INVALID_ARGUMENT\"," + labels +
                  "} 3") != std::string::npos);
  CHECK(text.find("auditwatch_grpc_server_handling_seconds_count{" + labels + "} 3") !=
        std::string::npos);
  for (const ModuleDef& d : AllModules()) {
    CHECK(text.find("auditwatch_service_serving{service=\"" + d.name + "\"} 1") != std::string::npos);
    CHECK(text.find("auditwatch_build_info{commit=") != std::string::npos);
  }

  char path[] = "/tmp/aw-metrics-XXXXXX";
  const int fd = mkstemp(path);
  REQUIRE(fd >= 0);
  REQUIRE(write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()));
  close(fd);
  std::string lint;
  const int rc = RunCommand(absl::StrCat("promtool check metrics < ", path), &lint);
  unlink(path);
  INFO(lint);
  CHECK(rc == 0);
}

TEST_CASE("SIGTERM drains: health turns NOT_SERVING and the process exits 0", "[e2e]") {
  TestDatabase db;
  AuditwatchProcess p("ingest", db.url());
  REQUIRE(WaitForHealth(p.address("ingest"), "", kServing) == kServing);
  CHECK(p.Stop(SIGINT) == 0);
  const std::string logs = p.Logs();
  CHECK(logs.find("received SIGINT") != std::string::npos);
  CHECK(logs.find("\"shutdown complete\"") != std::string::npos);
}

TEST_CASE("Through the drain liveness stays SERVING, readiness NOT_SERVING, new calls are refused",
          "[e2e]") {
  TestDatabase db;
  AuditwatchProcess p("ingest", db.url(), {"--drain_timeout=20s"});
  const std::string addr = p.address("ingest");
  REQUIRE(WaitForHealth(addr, "", kServing) == kServing);
  auto stub = auditwatch::v1::IngestService::NewStub(p.Channel("ingest"));
  // A call held in flight: its query waits on a lock of the catalogue.
  auto lock = std::make_unique<OpenTransaction>(db, "LOCK TABLE ingest.catalogue_state IN ACCESS EXCLUSIVE MODE");
  grpc::Status held_status;
  std::thread held([&] {
    grpc::ClientContext ctx;
    auditwatch::v1::ListUnitsResponse out;
    held_status = stub->ListUnits(&ctx, auditwatch::v1::ListUnitsRequest(), &out);
  });
  std::string waiting;
  for (int i = 0; i < 200 && waiting.empty(); ++i) {
    waiting = db.Query("SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                       "AND wait_event_type = 'Lock' AND query LIKE '%catalogue_state%' LIMIT 1");
    if (waiting.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
  REQUIRE_FALSE(waiting.empty());

  p.Signal(SIGTERM);
  REQUIRE(WaitForHealth(addr, "auditwatch.v1.IngestService", kNotServing) == kNotServing);
  CHECK(HealthOf(addr, "") == kNotServing);
  for (int i = 0; i < 5; ++i) {  // the drain goes on: liveness answers all along
    CHECK(HealthOf(addr, "auditwatch.liveness") == kServing);
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  {
    grpc::ClientContext ctx;
    auditwatch::v1::GetUnitRequest req;
    req.set_code("P");
    auditwatch::v1::Unit unit;
    const grpc::Status refused = stub->GetUnit(&ctx, req, &unit);
    CHECK(refused.error_code() == grpc::StatusCode::UNAVAILABLE);
    CHECK(refused.error_message().find("shutting down") != std::string::npos);
  }
  lock.reset();  // the held call finishes, then the process exits
  held.join();
  CHECK(held_status.ok());
  CHECK(p.WaitExit(absl::Seconds(30)) == 0);
}

TEST_CASE("awctl health reads every service from the contracts and waits until all are SERVING", "[e2e]") {
  TestDatabase db;
  AuditwatchProcess p("all", db.url());
  std::string addrs;
  for (const ModuleDef& d : AllModules()) absl::StrAppend(&addrs, " --addr=", d.name, "=", p.address(d.name));
  std::string out;
  const int rc = RunCommand(absl::StrCat(AW_AWCTL_PATH, " health --wait=30s", addrs), &out);
  INFO(out);
  CHECK(rc == 0);
  for (const ModuleDef& d : AllModules()) {
    CHECK(out.find(absl::StrCat(d.name, " ")) != std::string::npos);
    CHECK(out.find(d.grpc_service) != std::string::npos);
  }
  CHECK(out.find("NOT_SERVING") == std::string::npos);
  p.Stop(SIGTERM);
  CHECK(RunCommand(absl::StrCat(AW_AWCTL_PATH, " health", addrs), &out) == 1);
  CHECK(out.find("UNREACHABLE") != std::string::npos);
}

TEST_CASE("Bad configuration exits 2 naming the flag", "[e2e]") {
  std::string output;
  const int rc = RunCommand(absl::StrCat(AW_BINARY_PATH, " --target=billing"), &output);
  CHECK(rc == 2);
  CHECK(output.find("unknown service \"billing\"") != std::string::npos);
}

TEST_CASE("Logs are JSON lines", "[e2e]") {
  TestDatabase db;
  AuditwatchProcess p("ingest", db.url());
  REQUIRE(WaitForHealth(p.address("ingest"), "", kServing) == kServing);
  REQUIRE(p.Stop(SIGTERM) == 0);
  std::istringstream lines(p.Logs());
  int count = 0;
  for (std::string line; std::getline(lines, line); ++count) {
    INFO(line);
    CHECK(line.rfind("{\"ts\":\"", 0) == 0);
    CHECK(line.back() == '}');
    CHECK(line.find("\"level\":\"") != std::string::npos);
  }
  CHECK(count >= 3);
}

}  // namespace
}  // namespace aw::testing
