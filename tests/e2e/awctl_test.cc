// awctl through the gateway, end to end: keys (the bootstrap refused once an
// administrator exists, create, list, revoke), a CSV of manual readings with
// its per-row report (imported twice, applied once; a county's key refused on
// another county's row), and the events a key may see.
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include <catch2/catch.hpp>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "auditwatch/v1/ingest.grpc.pb.h"
#include "auditwatch/v1/monitor.grpc.pb.h"
#include "tests/support/gateway.h"
#include "tests/support/process.h"
#include "tests/support/readings.h"
#include "tests/support/rules.h"
#include "tests/support/test_db.h"

namespace aw::testing {
namespace {

namespace v1 = ::auditwatch::v1;

// A scratch directory for key files and CSVs, removed at the end.
class Scratch {
 public:
  Scratch() {
    char dir[] = "/tmp/aw-awctl-XXXXXX";
    REQUIRE(mkdtemp(dir) != nullptr);
    dir_ = dir;
  }
  ~Scratch() { std::filesystem::remove_all(dir_); }
  // Writes `text` to `name` in the directory; its path.
  std::string Write(const std::string& name, const std::string& text) const {
    const std::string path = Path(name);
    std::ofstream(path) << text;
    return path;
  }
  std::string Path(const std::string& name) const { return dir_ + "/" + name; }

 private:
  std::string dir_;
};

// Runs awctl against the gateway with the key in `key_file` ("" for none);
// its exit code, and its output (stdout and stderr) in `*out`.
int Awctl(Gateway& gw, const std::string& key_file, const std::string& args, std::string* out) {
  return RunCommand(absl::StrCat("AW_GATEWAY=", gw.process().address("gateway"), " ", AW_AWCTL_PATH, " ", args,
                                 key_file.empty() ? "" : " --key-file=" + key_file),
                    out);
}

std::string FirstLine(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  return line;
}

int StoredReadings(v1::IngestService::Stub& direct) {
  v1::QueryReadingsRequest q;
  q.mutable_periods()->mutable_first()->set_key("2025-01");
  q.mutable_periods()->mutable_last()->set_key("2025-12");
  grpc::ClientContext ctx;
  v1::QueryReadingsResponse resp;
  REQUIRE(direct.QueryReadings(&ctx, q, &resp).ok());
  return resp.readings_size();
}

}  // namespace

TEST_CASE("awctl keys: the bootstrap only while no administrator exists, then create, list and revoke",
          "[e2e][awctl]") {
  TestDatabase db;
  Gateway gw(db);  // has bootstrapped its administrator
  CreateUnits(gw.ingest(), TwoCounties());
  Scratch dir;
  const std::string admin = dir.Write("admin.key", gw.admin_key() + "\n");
  std::string out;
  CHECK(Awctl(gw, "", "keys bootstrap --secret-file=" + dir.Path("again.key"), &out) == 1);
  CHECK(out.find("UNAUTHENTICATED: credentials required: an administrator key is in force") != std::string::npos);
  CHECK_FALSE(std::filesystem::exists(dir.Path("again.key")));
  CHECK(Awctl(gw, "", "keys list", &out) == 2);  // no credentials
  CHECK(out.find("no credentials") != std::string::npos);

  REQUIRE(Awctl(gw, admin,
                "keys create --subject=d1.specialist --role=ROLE_UNIT_SPECIALIST --unit=D1 --expires-in=24h "
                "--secret-file=" + dir.Path("d1.key"),
                &out) == 0);
  const std::string secret = FirstLine(dir.Path("d1.key"));
  CHECK(absl::StartsWith(secret, "awk_"));
  CHECK(out.find(secret) == std::string::npos);  // the secret went to the file only
  CHECK((std::filesystem::status(dir.Path("d1.key")).permissions() & std::filesystem::perms::group_read) ==
        std::filesystem::perms::none);
  // The new key works, and says who it is.
  REQUIRE(Awctl(gw, dir.Path("d1.key"), "whoami", &out) == 0);
  CHECK(out == "d1.specialist ROLE_UNIT_SPECIALIST D1\n");
  CHECK(Awctl(gw, dir.Path("d1.key"), "events --limit=1", &out) == 0);

  REQUIRE(Awctl(gw, admin, "keys list", &out) == 0);
  CHECK(out.find("d1.specialist") != std::string::npos);
  CHECK(out.find("ROLE_UNIT_SPECIALIST") != std::string::npos);
  CHECK(out.find(secret) == std::string::npos);
  std::string id;
  for (absl::string_view line : absl::StrSplit(out, '\n')) {
    if (absl::StrContains(line, "d1.specialist")) id = std::string(line.substr(0, line.find(' ')));
  }
  REQUIRE_FALSE(id.empty());
  REQUIRE(Awctl(gw, admin, "keys revoke --id=" + id + " --reason=left", &out) == 0);
  CHECK(Awctl(gw, dir.Path("d1.key"), "events", &out) == 1);
  CHECK(out.find("UNAUTHENTICATED") != std::string::npos);
  // A viewer may not make keys.
  REQUIRE(Awctl(gw, admin, "keys create --subject=v --role=ROLE_UNIT_VIEWER --secret-file=" + dir.Path("v.key"), &out) ==
          0);
  CHECK(Awctl(gw, dir.Path("v.key"), "keys create --subject=x --role=ROLE_CENTRE_ADMIN", &out) == 1);
  CHECK(out.find("PERMISSION_DENIED") != std::string::npos);
  // A token for the viewer's key.
  REQUIRE(Awctl(gw, dir.Path("v.key"), "token --secret-file=" + dir.Path("v.token"), &out) == 0);
  CHECK(RunCommand(absl::StrCat("AW_GATEWAY=", gw.process().address("gateway"), " ", AW_AWCTL_PATH,
                                " events --token-file=", dir.Path("v.token")),
                   &out) == 0);
}

TEST_CASE("awctl import-readings: a CSV with a progress report and per-row errors, imported twice, applied once",
          "[e2e][awctl]") {
  TestDatabase db;
  Gateway gw(db);
  CreateUnits(gw.ingest(), TwoCounties());
  CreateIndicator(gw.ingest(), {.code = "RATE"});
  Scratch dir;
  const std::string county = dir.Path("d1.key");
  const std::string admin = dir.Write("admin.key", gw.admin_key() + "\n");
  std::string out;
  REQUIRE(Awctl(gw, admin,
                "keys create --subject=d1.specialist --role=ROLE_UNIT_SPECIALIST --unit=D1 --secret-file=" + county,
                &out) == 0);
  const std::string csv = dir.Write("manual.csv",
                                    "unit_code,indicator_code,period,value,reason\n"
                                    "S1,RATE,2025-01,50,\"counted again, by hand\"\n"
                                    "S2,RATE,2025-01,95,\n"
                                    "S1,RATE,2025-02,abc,\n"
                                    "S2,NOPE,2025-02,90,\n"
                                    "S2,RATE,2025-02,150,\n"
                                    "S1,RATE,2025-03,88,\n");
  const std::string errors = dir.Path("errors.csv");
  CHECK(Awctl(gw, county, absl::StrCat("import-readings ", csv, " --batch=2 --errors=", errors), &out) == 1);
  INFO(out);
  CHECK(out.find("importing " + csv + " as d1.specialist (units D1)") != std::string::npos);
  CHECK(out.find("100%") != std::string::npos);
  CHECK(out.find("6 rows read, 3 readings applied, 3 rows rejected, in 3 batches") != std::string::npos);
  CHECK(out.find("row 4: NOT_A_NUMBER value") != std::string::npos);
  CHECK(out.find("row 5: ") != std::string::npos);
  CHECK(out.find("indicator_code") != std::string::npos);
  CHECK(out.find("row 6: ") != std::string::npos);
  CHECK(StoredReadings(gw.direct()) == 3);
  // The report as CSV, one line per rejected row after the header.
  std::ifstream report(errors);
  std::string header, line;
  std::getline(report, header);
  CHECK(header == "\"row\",\"code\",\"field\",\"message\"");
  int lines = 0;
  while (std::getline(report, line)) ++lines;
  CHECK(lines == 3);

  // Again: the same batches, applied once.
  CHECK(Awctl(gw, county, absl::StrCat("import-readings ", csv, " --batch=2"), &out) == 1);
  CHECK(StoredReadings(gw.direct()) == 3);

  // Who entered them is the key's subject.
  {
    v1::GetReadingRequest get;
    get.mutable_key()->set_unit_code("S1");
    get.mutable_key()->set_indicator_code("RATE");
    get.mutable_key()->mutable_period()->set_key("2025-01");
    grpc::ClientContext ctx;
    v1::Reading r;
    REQUIRE(gw.direct().GetReading(&ctx, get, &r).ok());
    CHECK(r.entered_by() == "d1.specialist");
    CHECK(r.reason() == "counted again, by hand");
  }

  // A row of the other county ends the import there: what came before is
  // applied, and awctl says where it stopped.
  const std::string other = dir.Write("other.csv",
                                      "unit_code,indicator_code,period,value\n"
                                      "S2,RATE,2025-04,91\n"
                                      "S3,RATE,2025-04,92\n"
                                      "S1,RATE,2025-04,93\n");
  CHECK(Awctl(gw, county, absl::StrCat("import-readings ", other, " --batch=1"), &out) == 1);
  CHECK(out.find("PERMISSION_DENIED: unit S3 is outside the units of d1.specialist") != std::string::npos);
  CHECK(out.find("the batches after the 1 applied were not") != std::string::npos);
  CHECK(StoredReadings(gw.direct()) == 4);

  // A file without the columns needed is refused before anything is sent.
  const std::string bad = dir.Write("bad.csv", "unit,value\nS1,1\n");
  CHECK(Awctl(gw, county, "import-readings " + bad, &out) == 1);
  CHECK(out.find("the header row has no column unit_code") != std::string::npos);
  CHECK(StoredReadings(gw.direct()) == 4);
}

TEST_CASE("awctl events lists the warnings of the caller's subtree", "[e2e][awctl]") {
  TestDatabase db;
  Gateway gw(db);
  CreateUnits(gw.ingest(), TwoCounties());
  CreateIndicator(gw.ingest(), {.code = "RATE"});
  auto monitor = v1::MonitorService::NewStub(gw.Channel(gw.admin_key()));
  {
    v1::UpsertThemeRequest theme;
    theme.mutable_theme()->set_code("T-BILL");
    theme.mutable_theme()->set_name("电费回收");
    theme.mutable_theme()->set_category(v1::BUSINESS_CATEGORY_BILLING);
    grpc::ClientContext ctx;
    v1::Theme out;
    REQUIRE(monitor->UpsertTheme(&ctx, theme, &out).ok());
  }
  {
    v1::UpsertRuleRequest rule;
    *rule.mutable_rule() = MakeRule("R-RATE", "T-BILL", v1::RULE_KIND_STATIC_THRESHOLD, "RATE", {90});
    rule.mutable_rule()->add_unit_types(v1::UNIT_TYPE_SUPPLY_STATION);
    grpc::ClientContext ctx;
    v1::Rule out;
    const grpc::Status s = monitor->UpsertRule(&ctx, rule, &out);
    INFO(s.error_message());
    REQUIRE(s.ok());
  }
  {
    grpc::ClientContext ctx;
    auto stream = gw.ingest().IngestReadings(&ctx);
    REQUIRE(stream->Write(MakeBatch("b1", {{"S1", "RATE", "2025-01", 50}, {"S3", "RATE", "2025-01", 40},
                                           {"S2", "RATE", "2025-01", 99}})));
    stream->WritesDone();
    v1::BatchResult result;
    REQUIRE(stream->Read(&result));
    CHECK(result.accepted() == 3);
    REQUIRE(stream->Finish().ok());
  }
  Scratch dir;
  const std::string admin = dir.Write("admin.key", gw.admin_key() + "\n");
  std::string out;
  REQUIRE(Awctl(gw, admin,
                "keys create --subject=d1.viewer --role=ROLE_UNIT_VIEWER --unit=D1 --secret-file=" + dir.Path("d1.key"),
                &out) == 0);
  // The centre sees both stations' warnings once the evaluator has judged them.
  REQUIRE(WaitUntil([&] { return Awctl(gw, admin, "events", &out) == 0 && out.find("2 of 2 events") != std::string::npos; }));
  CHECK(out.find("S1 ") != std::string::npos);
  CHECK(out.find("S3 ") != std::string::npos);
  // D1's viewer sees D1's, as a table and as JSON lines.
  REQUIRE(Awctl(gw, dir.Path("d1.key"), "events", &out) == 0);
  CHECK(out.find("1 of 1 events") != std::string::npos);
  CHECK(out.find("S1 ") != std::string::npos);
  CHECK(out.find("S3") == std::string::npos);
  REQUIRE(Awctl(gw, dir.Path("d1.key"), "events --json --level=1", &out) == 0);
  CHECK(out.find("\"unit_code\":\"S1\"") != std::string::npos);
  CHECK(out.find("\"level\":1") != std::string::npos);
  // Naming the other county is refused.
  CHECK(Awctl(gw, dir.Path("d1.key"), "events --unit=D2", &out) == 1);
  CHECK(out.find("PERMISSION_DENIED: unit D2 is outside") != std::string::npos);
}

}  // namespace aw::testing
