// Audit benchmark. Two figures, each beside a baseline from the same run:
//  1. Work-order transitions, each durably committed with its log row, from 8
//     concurrent clients calling the audit service with the identity the
//     gateway would forward (signed with the deployment's key), against the
//     raw single-row INSERT + COMMIT rate of the same cluster over 8
//     connections. Target: at least 35 % of it.
//  2. Overdue pickup: 10,000 open orders whose deadlines fall over a minute;
//     the delay from each deadline to the write of its supervision order
//     (p50, p99, max). Target: p99 under 1 s. The supervisor's tick is the floor.
// Prints figures; it is not a test.
//
//   audit_bench [--seconds=10] [--orders=10000] [--spread=60] [--clients=8]
#include <algorithm>
#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <thread>

#include <pqxx/pqxx>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "auditwatch/v1/audit.grpc.pb.h"
#include "auditwatch/v1/ingest.grpc.pb.h"
#include "common/identity.h"
#include "common/timestamp.h"
#include "tests/support/process.h"
#include "tests/support/test_db.h"

namespace {

namespace v1 = ::auditwatch::v1;

int kClients = 8;  // --clients
const char kSecret[] = "audit bench identity key, 32 bytes+";

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * v.size()))];
}

// A context carrying `subject`'s signed identity, as the gateway forwards it.
std::unique_ptr<grpc::ClientContext> As(const std::string& subject, v1::Role role) {
  static const aw::IdentityKey key{std::string(kSecret)};
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  v1::Identity id;
  id.mutable_principal()->set_subject(subject);
  id.mutable_principal()->add_roles(role);
  key.Sign(id, ctx.get());
  return ctx;
}

void Must(const grpc::Status& s, const char* what) {
  if (!s.ok()) {
    std::fprintf(stderr, "%s: %s\n", what, s.error_message().c_str());
    std::exit(1);
  }
}

std::unique_ptr<v1::AuditService::Stub> Client(const std::string& address, int n) {
  grpc::ChannelArguments args;
  args.SetInt("bench_channel", n);  // a connection of its own
  return v1::AuditService::NewStub(grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), args));
}

// Raw single-row INSERT + COMMIT per transaction from kClients connections.
double RawCommits(const std::string& url, absl::Duration length) {
  {
    pqxx::connection c(url);
    pqxx::work tx(c);
    tx.exec("DROP TABLE IF EXISTS raw_commits");
    tx.exec("CREATE TABLE raw_commits (id bigserial PRIMARY KEY, client int, n int)");
    tx.commit();
  }
  std::atomic<int64_t> commits{0};
  const absl::Time end = absl::Now() + length;
  std::vector<std::thread> threads;
  for (int t = 0; t < kClients; ++t) {
    threads.emplace_back([&, t] {
      pqxx::connection c(url);
      for (int n = 0; absl::Now() < end; ++n) {
        pqxx::work tx(c);
        tx.exec_params("INSERT INTO raw_commits (client, n) VALUES ($1, $2)", t, n);
        tx.commit();
        ++commits;
      }
    });
  }
  for (auto& t : threads) t.join();
  return static_cast<double>(commits) / absl::ToDoubleSeconds(length);
}

int64_t Task(v1::AuditService::Stub& audit, const std::string& key) {
  v1::CreateTaskRequest req;
  req.mutable_task()->set_source(v1::TASK_SOURCE_ROUTINE);
  req.mutable_task()->set_theme_code("T-BENCH");
  req.mutable_task()->set_title("bench");
  req.mutable_task()->mutable_scope()->set_unit_code("D1");
  req.mutable_task()->mutable_scope()->set_include_descendants(true);
  req.mutable_task()->mutable_period()->set_key("2026-03");
  req.set_idempotency_key(key);
  v1::AuditTask out;
  Must(audit.CreateTask(As("centre.bench", v1::ROLE_CENTRE_AUDITOR).get(), req, &out), "CreateTask");
  return out.id();
}

v1::WorkOrder Order(v1::AuditService::Stub& audit, int64_t task, absl::Time deadline, const std::string& key) {
  v1::CreateWorkOrderRequest req;
  req.set_task_id(task);
  req.set_unit_code("S1");
  req.set_title("bench order");
  aw::SetTimestamp(deadline, req.mutable_deadline());
  req.set_dispatch(true);
  req.set_idempotency_key(key);
  v1::WorkOrder out;
  Must(audit.CreateWorkOrder(As("centre.bench", v1::ROLE_CENTRE_AUDITOR).get(), req, &out), "CreateWorkOrder");
  return out;
}

v1::WorkOrderCommand Command(const v1::WorkOrder& o, const std::string& key, const char* comment = "") {
  v1::WorkOrderCommand c;
  c.set_work_order_id(o.id());
  c.set_expected_version(o.audit().version());
  c.set_idempotency_key(key);
  c.set_comment(comment);
  return c;
}

}  // namespace

int main(int argc, char** argv) {
  int seconds = 10, orders = 10000, spread = 60;
  for (int i = 1; i < argc; ++i) {
    const absl::string_view a = argv[i];
    if (absl::StartsWith(a, "--seconds=")) (void)absl::SimpleAtoi(a.substr(10), &seconds);
    if (absl::StartsWith(a, "--orders=")) (void)absl::SimpleAtoi(a.substr(9), &orders);
    if (absl::StartsWith(a, "--spread=")) (void)absl::SimpleAtoi(a.substr(9), &spread);
    if (absl::StartsWith(a, "--clients=")) (void)absl::SimpleAtoi(a.substr(10), &kClients);
  }
  const std::string dir = std::filesystem::temp_directory_path() / absl::StrCat("aw-audit-bench-", getpid());
  std::filesystem::create_directories(dir);
  const std::string key_file = dir + "/identity";
  std::ofstream(key_file) << kSecret << "\n";

  aw::testing::TestDatabase raw_db, db;
  aw::testing::AuditwatchProcess process(
      "ingest,monitor,audit", db.url(),
      {"--identity_key_file=" + key_file, "--workers=8", "--db_pool_size=12"});
  if (aw::testing::WaitForHealth(process.address("audit"), "", "SERVING") != "SERVING") {
    std::fprintf(stderr, "did not start: %s\n", process.Logs().c_str());
    return 1;
  }
  auto ingest = v1::IngestService::NewStub(process.Channel("ingest"));
  for (const auto& [code, type, parent] :
       std::vector<std::tuple<std::string, v1::UnitType, std::string>>{
           {"P", v1::UNIT_TYPE_PROVINCE, ""}, {"C1", v1::UNIT_TYPE_CITY_BUREAU, "P"},
           {"D1", v1::UNIT_TYPE_COUNTY_COMPANY, "C1"}, {"S1", v1::UNIT_TYPE_SUPPLY_STATION, "D1"}}) {
    v1::CreateUnitRequest req;
    req.set_code(code);
    req.set_name(code);
    req.set_type(type);
    req.set_parent_code(parent);
    req.set_effective_from("2025-01-01");
    req.set_actor("bench");
    grpc::ClientContext ctx;
    v1::Unit out;
    Must(ingest->CreateUnit(&ctx, req, &out), "CreateUnit");
  }
  const std::string address = process.address("audit");
  auto audit = Client(address, 100);
  const absl::Duration length = absl::Seconds(seconds);

  // --- 1. Transitions ------------------------------------------------------------
  const double raw = RawCommits(raw_db.url(), length);
  std::atomic<int64_t> transitions{0};
  std::vector<std::vector<double>> latencies(kClients);
  {
    const absl::Time end = absl::Now() + length;
    std::vector<std::thread> clients;
    for (int c = 0; c < kClients; ++c) {
      clients.emplace_back([&, c] {
        auto stub = Client(address, c);
        const int64_t task = Task(*stub, absl::StrCat("bench-task-", c));  // one per client: no shared row lock
        v1::WorkOrder o;
        auto step = [&](auto method, const auto& req, const std::string& who, v1::Role role) {
          const absl::Time t0 = absl::Now();
          v1::WorkOrder next;
          Must(((*stub).*method)(As(who, role).get(), req, &next), "transition");
          latencies[c].push_back(absl::ToDoubleMicroseconds(absl::Now() - t0));
          ++transitions;
          o = std::move(next);
        };
        constexpr auto kUnit = v1::ROLE_UNIT_SPECIALIST;
        constexpr auto kCentre = v1::ROLE_CENTRE_AUDITOR;
        // An order's whole life, sent back once at the unit review: dispatch,
        // start, submit, reject, submit, approve, archive — seven transitions.
        for (int n = 0; absl::Now() < end; ++n) {
          const std::string k = absl::StrCat(c, "-", n);
          const absl::Time t0 = absl::Now();
          o = Order(*stub, task, absl::Now() + absl::Hours(24), "o-" + k);
          latencies[c].push_back(absl::ToDoubleMicroseconds(absl::Now() - t0));
          ++transitions;
          step(&v1::AuditService::Stub::StartRectification, Command(o, "s-" + k), "s1.a", kUnit);
          v1::SubmitRectificationRequest submit;
          submit.mutable_rectification()->set_cause_analysis("录入错误");
          submit.mutable_rectification()->set_measures("复核");
          submit.mutable_rectification()->set_result("已更正");
          *submit.mutable_command() = Command(o, "sub1-" + k);
          step(&v1::AuditService::Stub::SubmitRectification, submit, "s1.a", kUnit);
          v1::ReviewWorkOrderRequest review;
          *review.mutable_command() = Command(o, "rej-" + k, "再核对");
          review.set_stage(v1::REVIEW_STAGE_UNIT);
          step(&v1::AuditService::Stub::ReviewWorkOrder, review, "s1.b", kUnit);
          *submit.mutable_command() = Command(o, "sub2-" + k);
          step(&v1::AuditService::Stub::SubmitRectification, submit, "s1.a", kUnit);
          *review.mutable_command() = Command(o, "app-" + k);
          review.set_approve(true);
          step(&v1::AuditService::Stub::ReviewWorkOrder, review, "s1.b", kUnit);
          *review.mutable_command() = Command(o, "arc-" + k);
          review.set_stage(v1::REVIEW_STAGE_CENTRE);
          step(&v1::AuditService::Stub::ReviewWorkOrder, review, "centre.bench", kCentre);
        }
      });
    }
    for (auto& t : clients) t.join();
  }
  // The same path with no write: GetWorkOrder (one indexed read) from as many clients.
  std::atomic<int64_t> reads{0};
  {
    const absl::Time end = absl::Now() + length / 2;
    std::vector<std::thread> clients;
    for (int c = 0; c < kClients; ++c) {
      clients.emplace_back([&, c] {
        auto stub = Client(address, 300 + c);
        v1::GetWorkOrderRequest get;
        get.set_id(1 + c);
        while (absl::Now() < end) {
          v1::WorkOrder out;
          Must(stub->GetWorkOrder(As("s1.a", v1::ROLE_UNIT_SPECIALIST).get(), get, &out), "GetWorkOrder");
          ++reads;
        }
      });
    }
    for (auto& t : clients) t.join();
  }
  const double read_rate = static_cast<double>(reads) / absl::ToDoubleSeconds(length / 2);
  std::vector<double> all;
  for (const auto& l : latencies) all.insert(all.end(), l.begin(), l.end());
  const double rate = static_cast<double>(transitions) / absl::ToDoubleSeconds(length);
  std::printf("== work-order transitions, each committed with its log row, %d clients, %d s (orders live "
              "dispatch, start, submit, reject, submit, approve, archive)\n", kClients, seconds);
  std::printf("  raw single-row INSERT+COMMIT  %9.0f commits/s  (baseline, %d connections)\n", raw, kClients);
  std::printf("  transitions                   %9.0f /s         ratio %.0f %% (target >= 35 %%)\n", rate,
              100 * rate / raw);
  std::printf("  per call: p50 %.0f us  p99 %.0f us\n", Percentile(all, 0.5), Percentile(all, 0.99));
  std::printf("  the same path reading instead (GetWorkOrder with its log)  %9.0f /s\n", read_rate);

  // --- 2. Overdue pickup -------------------------------------------------------------
  const int64_t task2 = Task(*audit, "bench-task-2");
  // Orders are made at several hundred a second; the first is due once all are made.
  const absl::Duration lead = absl::Seconds(std::max(15, orders / 250));
  const absl::Time first_due = absl::Now() + lead;
  const absl::Time made_from = absl::Now();
  {
    std::atomic<int> next{0};
    std::vector<std::thread> makers;
    for (int c = 0; c < kClients; ++c) {
      makers.emplace_back([&, c] {
        auto stub = Client(address, 200 + c);
        for (int i; (i = next++) < orders;) {
          Order(*stub, task2, first_due + absl::Seconds(spread) * (static_cast<double>(i) / orders),
                absl::StrCat("due-", i));
        }
      });
    }
    for (auto& t : makers) t.join();
  }
  const absl::Time made = absl::Now();
  std::printf("\n== overdue pickup: %d open orders due over %d s (made in %.1f s, first due %.1f s after start)\n",
              orders, spread, absl::ToDoubleSeconds(made - made_from), absl::ToDoubleSeconds(lead));
  if (made > first_due) std::printf("  WARNING: orders were still being made when the first came due\n");
  pqxx::connection c(db.url());
  const absl::Time give_up = first_due + absl::Seconds(spread + 60);
  int64_t raised = 0;
  while (absl::Now() < give_up) {
    pqxx::read_transaction tx(c);
    raised = tx.exec("SELECT count(*) FROM audit.supervision_orders")[0][0].as<int64_t>();
    if (raised >= orders) break;
    absl::SleepFor(absl::Milliseconds(500));
  }
  std::vector<double> delays;
  {
    pqxx::read_transaction tx(c);
    for (const auto& r : tx.exec("SELECT extract(epoch FROM s.recorded_at - o.deadline)::float8 FROM "
                                 "audit.supervision_orders s JOIN audit.work_orders o ON o.id = s.work_order_id")) {
      delays.push_back(r[0].as<double>() * 1000);
    }
  }
  std::printf("  supervision orders raised: %lld of %d (doubles: %lld)\n", static_cast<long long>(raised), orders,
              static_cast<long long>(pqxx::read_transaction(c)
                                         .exec("SELECT count(*) - count(DISTINCT work_order_id) FROM "
                                               "audit.supervision_orders")[0][0]
                                         .as<int64_t>()));
  std::printf("  deadline -> supervision written: p50 %.0f ms  p99 %.0f ms  max %.0f ms (target p99 < 1000 ms; "
              "supervisor tick 100 ms is the floor)\n",
              Percentile(delays, 0.5), Percentile(delays, 0.99), delays.empty() ? 0.0 : *std::max_element(delays.begin(), delays.end()));
  std::filesystem::remove_all(dir);
  return 0;
}
