// The audit service end to end, through the gateway, with every service in
// one process over real gRPC and a real PostgreSQL: warning events become
// tasks and work orders exactly once (also across a SIGKILL mid-feed); the
// loop runs through rectification and both reviews as different people, with
// rejections, four eyes, idempotent retries, stale versions and illegal
// transitions; a specialist of another county is refused; deadlines make
// orders overdue and raise one supervision order each with two audit
// processes running (also across a restart), and an extension clears them; a
// false positive makes one whitelist entry in monitor however often the
// outbox delivers it; deductions and incidents reach the facts feed with their
// lineage; and the rates match values computed by hand.
#include <signal.h>

#include <set>

#include <catch2/catch.hpp>
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "auditwatch/v1/audit.grpc.pb.h"
#include "auditwatch/v1/monitor.grpc.pb.h"
#include "common/timestamp.h"
#include "tests/support/gateway.h"
#include "tests/support/orders.h"
#include "tests/support/readings.h"
#include "tests/support/rules.h"

namespace aw::testing {
namespace {

namespace v1 = ::auditwatch::v1;
using Code = grpc::StatusCode;

std::unique_ptr<grpc::ClientContext> Deadline(int seconds = 10) {
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(seconds));
  return ctx;
}

google::protobuf::Timestamp In(absl::Duration d) {
  google::protobuf::Timestamp t;
  SetTimestamp(absl::Now() + d, &t);
  return t;
}

// Everything in one process behind the gateway, with the two-county tree,
// the monthly indicator RATE, the theme T-BILL and the rule R1 (static,
// RATE at or below 90: level 2 launches an online audit; at or below 80:
// level 1 launches one and raises a supervision order); and stubs for the
// people of the loop, each with a key of their own.
class AuditStack {
 public:
  explicit AuditStack(const TestDatabase& db, std::vector<std::string> args = {})
      : gw_(std::make_unique<Gateway>(db, std::move(args))) {
    admin_ = Stub(gw_->admin_key());
    CreateUnits(gw_->ingest(), TwoCounties());
    CreateIndicator(gw_->ingest(), {.code = "RATE"});
    monitor_ = v1::MonitorService::NewStub(gw_->Channel(gw_->admin_key()));
    v1::UpsertThemeRequest theme;
    theme.mutable_theme()->set_code("T-BILL");
    theme.mutable_theme()->set_name("电费回收");
    theme.mutable_theme()->set_category(v1::BUSINESS_CATEGORY_BILLING);
    v1::Theme saved;
    REQUIRE(monitor_->UpsertTheme(Deadline().get(), theme, &saved).ok());
    v1::Rule rule = MakeRule("R1", "T-BILL", v1::RULE_KIND_STATIC_THRESHOLD, "RATE", {80, 90});
    rule.mutable_levels(0)->add_actions(v1::WARNING_ACTION_ONLINE_AUDIT);
    rule.mutable_levels(0)->add_actions(v1::WARNING_ACTION_SUPERVISION_ORDER);
    rule.mutable_levels(1)->add_actions(v1::WARNING_ACTION_ONLINE_AUDIT);
    v1::UpsertRuleRequest save;
    *save.mutable_rule() = rule;
    v1::Rule out;
    const grpc::Status s = monitor_->UpsertRule(Deadline().get(), save, &out);
    INFO(s.error_message());
    REQUIRE(s.ok());
    centre_ = Stub(gw_->Key("centre.li", {v1::ROLE_CENTRE_AUDITOR}));
    centre2_ = Stub(gw_->Key("centre.zhao", {v1::ROLE_CENTRE_AUDITOR}));
    wang_ = Stub(gw_->Key("d1.wang", {v1::ROLE_UNIT_SPECIALIST}, {"D1"}));
    chen_ = Stub(gw_->Key("d1.chen", {v1::ROLE_UNIT_SPECIALIST}, {"D1"}));
    liu_ = Stub(gw_->Key("d2.liu", {v1::ROLE_UNIT_SPECIALIST}, {"D2"}));
  }

  std::unique_ptr<v1::AuditService::Stub> Stub(const std::string& key) {
    return v1::AuditService::NewStub(gw_->Channel(key));
  }

  // Ingests one reading per (unit, period, value) as one batch.
  void Readings(const std::string& batch, const std::vector<Row>& rows) {
    grpc::ClientContext ctx;
    v1::ImportReadingsResponse summary;
    auto stream = gw_->ingest().ImportReadings(&ctx, &summary);
    REQUIRE(stream->Write(MakeBatch(batch, rows)));
    stream->WritesDone();
    const grpc::Status s = stream->Finish();
    INFO(s.error_message());
    REQUIRE(s.ok());
  }

  std::vector<v1::AuditTask> Tasks() {
    v1::ListTasksResponse r;
    v1::ListTasksRequest req;
    req.mutable_page()->set_page_size(1000);
    REQUIRE(admin_->ListTasks(Deadline().get(), req, &r).ok());
    return {r.tasks().begin(), r.tasks().end()};
  }

  std::vector<v1::WorkOrder> Orders(v1::ListWorkOrdersRequest req = {}) {
    req.mutable_page()->set_page_size(1000);
    v1::ListWorkOrdersResponse r;
    REQUIRE(admin_->ListWorkOrders(Deadline().get(), req, &r).ok());
    return {r.work_orders().begin(), r.work_orders().end()};
  }

  std::vector<v1::SupervisionOrder> Supervision() {
    v1::ListSupervisionOrdersRequest req;
    req.mutable_page()->set_page_size(1000);
    v1::ListSupervisionOrdersResponse r;
    REQUIRE(admin_->ListSupervisionOrders(Deadline().get(), req, &r).ok());
    return {r.orders().begin(), r.orders().end()};
  }

  v1::WorkOrder Get(int64_t id) {
    v1::GetWorkOrderRequest req;
    req.set_id(id);
    v1::WorkOrder out;
    REQUIRE(admin_->GetWorkOrder(Deadline().get(), req, &out).ok());
    return out;
  }

  // A routine task on `unit`'s subtree for March 2026, and a dispatched order to `unit`.
  v1::WorkOrder Dispatch(const std::string& unit, absl::Duration due, const std::string& key,
                         const std::string& theme = "T-BILL", const std::string& period = "2026-03") {
    v1::CreateTaskRequest task;
    task.mutable_task()->set_source(v1::TASK_SOURCE_ROUTINE);
    task.mutable_task()->set_theme_code(theme);
    task.mutable_task()->set_title("常态稽查 " + unit);
    task.mutable_task()->mutable_scope()->set_unit_code(unit);
    task.mutable_task()->mutable_period()->set_key(period);
    task.set_idempotency_key("task-" + key);
    v1::AuditTask made;
    grpc::Status s = centre_->CreateTask(Deadline().get(), task, &made);
    INFO(s.error_message());
    REQUIRE(s.ok());
    v1::CreateWorkOrderRequest order;
    order.set_task_id(made.id());
    order.set_unit_code(unit);
    order.set_title("电费回收率低");
    order.set_finding("回收率 75%");
    *order.mutable_deadline() = In(due);
    order.set_dispatch(true);
    order.set_idempotency_key("order-" + key);
    v1::WorkOrder out;
    s = centre_->CreateWorkOrder(Deadline().get(), order, &out);
    INFO(s.error_message());
    REQUIRE(s.ok());
    return out;
  }

  Gateway& gw() { return *gw_; }
  void Reset() { gw_.reset(); }
  v1::AuditService::Stub& admin() { return *admin_; }
  v1::AuditService::Stub& centre() { return *centre_; }
  v1::AuditService::Stub& centre2() { return *centre2_; }
  v1::AuditService::Stub& wang() { return *wang_; }
  v1::AuditService::Stub& chen() { return *chen_; }
  v1::AuditService::Stub& liu() { return *liu_; }
  v1::MonitorService::Stub& monitor() { return *monitor_; }

 private:
  std::unique_ptr<Gateway> gw_;
  std::unique_ptr<v1::AuditService::Stub> admin_, centre_, centre2_, wang_, chen_, liu_;
  std::unique_ptr<v1::MonitorService::Stub> monitor_;
};

// Runs a command and returns the order, failing the test with the status when refused.
template <typename Method, typename Request>
v1::WorkOrder Ok(v1::AuditService::Stub& stub, Method method, const Request& req) {
  v1::WorkOrder out;
  const grpc::Status s = (stub.*method)(Deadline().get(), req, &out);
  INFO(s.error_message());
  REQUIRE(s.ok());
  return out;
}

template <typename Method, typename Request>
grpc::Status Refused(v1::AuditService::Stub& stub, Method method, const Request& req) {
  v1::WorkOrder out;
  return (stub.*method)(Deadline().get(), req, &out);
}

v1::SubmitRectificationRequest Submission(const v1::WorkOrder& order, const std::string& key,
                                          const std::string& result = "电价已更正，已退补") {
  v1::SubmitRectificationRequest req;
  *req.mutable_command() = Cmd(order, key);
  req.mutable_rectification()->set_cause_analysis("抄表员录入错误");
  req.mutable_rectification()->set_measures("复核录入，培训抄表员");
  req.mutable_rectification()->set_result(result);
  req.mutable_rectification()->add_attachments("doc://rect/2026/0001");
  return req;
}

v1::ReviewWorkOrderRequest Review(const v1::WorkOrder& order, const std::string& key, v1::ReviewStage stage,
                                  bool approve, const std::string& comment = "") {
  v1::ReviewWorkOrderRequest req;
  *req.mutable_command() = Cmd(order, key, comment);
  req.set_stage(stage);
  req.set_approve(approve);
  return req;
}

std::vector<std::string> LogOf(const v1::WorkOrder& order) {
  std::vector<std::string> out;
  for (const auto& e : order.log()) out.push_back(e.actor() + " " + e.action());
  return out;
}

TEST_CASE("A work order goes through rectification and both reviews, sent back at each, by different people",
          "[e2e][audit]") {
  TestDatabase db;
  AuditStack s(db);
  v1::WorkOrder o = s.Dispatch("S1", absl::Hours(24 * 7), "loop");
  CHECK(o.state() == v1::WORK_ORDER_STATE_DISPATCHED);
  CHECK(o.audit().created_by() == "centre.li");

  o = Ok(s.wang(), &v1::AuditService::Stub::StartRectification, Cmd(o, "w1"));
  CHECK(o.state() == v1::WORK_ORDER_STATE_RECTIFYING);
  o = Ok(s.wang(), &v1::AuditService::Stub::SubmitRectification, Submission(o, "w2"));
  CHECK(o.state() == v1::WORK_ORDER_STATE_SUBMITTED);
  REQUIRE(o.rectifications_size() == 1);
  CHECK(o.rectifications(0).submitted_by() == "d1.wang");
  CHECK(o.rectifications(0).attachments(0) == "doc://rect/2026/0001");

  // Four eyes: the submitter cannot review it.
  grpc::Status refused =
      Refused(s.wang(), &v1::AuditService::Stub::ReviewWorkOrder, Review(o, "w3", v1::REVIEW_STAGE_UNIT, true));
  CHECK(refused.error_code() == Code::PERMISSION_DENIED);
  CHECK(refused.error_message().find("four eyes") != std::string::npos);
  // A rejection needs a comment; then it goes back to rectifying.
  refused = Refused(s.chen(), &v1::AuditService::Stub::ReviewWorkOrder, Review(o, "c1", v1::REVIEW_STAGE_UNIT, false));
  CHECK(refused.error_code() == Code::INVALID_ARGUMENT);
  CHECK(refused.error_message() == "command.comment: a rejection says what to mend");
  o = Ok(s.chen(), &v1::AuditService::Stub::ReviewWorkOrder,
         Review(o, "c2", v1::REVIEW_STAGE_UNIT, false, "退补金额未核对"));
  CHECK(o.state() == v1::WORK_ORDER_STATE_RECTIFYING);
  o = Ok(s.wang(), &v1::AuditService::Stub::SubmitRectification, Submission(o, "w4", "已核对退补金额"));
  o = Ok(s.chen(), &v1::AuditService::Stub::ReviewWorkOrder, Review(o, "c3", v1::REVIEW_STAGE_UNIT, true));
  CHECK(o.state() == v1::WORK_ORDER_STATE_UNIT_APPROVED);
  // A unit specialist cannot do the centre's review.
  refused = Refused(s.chen(), &v1::AuditService::Stub::ReviewWorkOrder, Review(o, "c4", v1::REVIEW_STAGE_CENTRE, true));
  CHECK(refused.error_code() == Code::PERMISSION_DENIED);
  o = Ok(s.centre2(), &v1::AuditService::Stub::ReviewWorkOrder,
         Review(o, "z1", v1::REVIEW_STAGE_CENTRE, false, "措施不具体"));
  CHECK(o.state() == v1::WORK_ORDER_STATE_RECTIFYING);
  o = Ok(s.wang(), &v1::AuditService::Stub::SubmitRectification, Submission(o, "w5", "措施已细化"));
  o = Ok(s.chen(), &v1::AuditService::Stub::ReviewWorkOrder, Review(o, "c5", v1::REVIEW_STAGE_UNIT, true));
  o = Ok(s.centre2(), &v1::AuditService::Stub::ReviewWorkOrder, Review(o, "z2", v1::REVIEW_STAGE_CENTRE, true));
  CHECK(o.state() == v1::WORK_ORDER_STATE_ARCHIVED);
  CHECK(o.rectifications_size() == 3);

  // An archived order takes nothing more, and says what it is.
  refused = Refused(s.centre(), &v1::AuditService::Stub::CancelWorkOrder, Cmd(o, "l9", "不再需要"));
  CHECK(refused.error_code() == Code::FAILED_PRECONDITION);
  CHECK(refused.error_message() == "work order is ARCHIVED: cannot be cancelled; allowed: nothing (it has ended)");

  const v1::WorkOrder full = s.Get(o.id());
  CHECK(LogOf(full) == std::vector<std::string>{
                           "centre.li created", "centre.li dispatched", "d1.wang started", "d1.wang submitted",
                           "d1.chen unit_rejected", "d1.wang submitted", "d1.chen unit_approved",
                           "centre.zhao centre_rejected", "d1.wang submitted", "d1.chen unit_approved",
                           "centre.zhao centre_approved"});
  CHECK(full.log(4).comment() == "退补金额未核对");
  CHECK(full.log(4).from_state() == v1::WORK_ORDER_STATE_SUBMITTED);
  CHECK(full.log(4).to_state() == v1::WORK_ORDER_STATE_RECTIFYING);
  // The task closes with its last order.
  v1::GetTaskRequest get;
  get.set_id(o.task_id());
  v1::AuditTask task;
  REQUIRE(s.admin().GetTask(Deadline().get(), get, &task).ok());
  CHECK(task.state() == v1::TASK_STATE_CLOSED);
  // The log cannot be rewritten, even by hand in the database.
  CHECK_THROWS(db.Query("UPDATE audit.work_order_log SET actor = 'someone' WHERE true"));
}

TEST_CASE("Retried commands return the first answer, stale versions are refused, and another county is refused",
          "[e2e][audit]") {
  TestDatabase db;
  AuditStack s(db);
  const v1::WorkOrder o = s.Dispatch("S1", absl::Hours(24 * 7), "idem");
  const v1::WorkOrder started = Ok(s.wang(), &v1::AuditService::Stub::StartRectification, Cmd(o, "start-1"));
  // The same command again (a retry after a lost answer): the first answer, nothing done twice.
  const v1::WorkOrder again = Ok(s.wang(), &v1::AuditService::Stub::StartRectification, Cmd(o, "start-1"));
  CHECK(again.SerializeAsString() == started.SerializeAsString());
  // Even after the order has moved on, the retry still answers what it answered.
  const v1::WorkOrder submitted =
      Ok(s.wang(), &v1::AuditService::Stub::SubmitRectification, Submission(started, "submit-1"));
  CHECK(Ok(s.wang(), &v1::AuditService::Stub::StartRectification, Cmd(o, "start-1")).state() ==
        v1::WORK_ORDER_STATE_RECTIFYING);
  CHECK(s.Get(o.id()).log_size() == 4);  // created, dispatched, started, submitted
  // The same key with another request is refused.
  grpc::Status refused = Refused(s.wang(), &v1::AuditService::Stub::StartRectification, Cmd(submitted, "start-1"));
  CHECK(refused.error_code() == Code::INVALID_ARGUMENT);
  CHECK(refused.error_message().find("idempotency_key: start-1 was used for another request") != std::string::npos);
  // A stale version: ABORTED, and nothing changes.
  refused = Refused(s.chen(), &v1::AuditService::Stub::ReviewWorkOrder,
                    Review(started, "review-stale", v1::REVIEW_STAGE_UNIT, true));
  CHECK(refused.error_code() == Code::ABORTED);
  CHECK(refused.error_message().find("version 3, not 2") != std::string::npos);
  // An illegal transition names the state and what is allowed.
  refused = Refused(s.wang(), &v1::AuditService::Stub::StartRectification, Cmd(submitted, "start-2"));
  CHECK(refused.error_code() == Code::FAILED_PRECONDITION);
  CHECK(refused.error_message() ==
        "work order is SUBMITTED: cannot be started; allowed: unit_approved, unit_rejected, cancelled, "
        "false_positive, deadline_extended");
  // A specialist of the other county is refused on D1's order, and it does not move.
  refused = Refused(s.liu(), &v1::AuditService::Stub::ReviewWorkOrder,
                    Review(submitted, "liu-1", v1::REVIEW_STAGE_UNIT, true));
  CHECK(refused.error_code() == Code::PERMISSION_DENIED);
  CHECK(refused.error_message().find("outside the units of d2.liu") != std::string::npos);
  {
    v1::GetWorkOrderRequest get;
    get.set_id(o.id());
    v1::WorkOrder seen;
    CHECK(s.liu().GetWorkOrder(Deadline().get(), get, &seen).error_code() == Code::PERMISSION_DENIED);
    v1::ListWorkOrdersResponse list;
    REQUIRE(s.liu().ListWorkOrders(Deadline().get(), v1::ListWorkOrdersRequest(), &list).ok());
    CHECK(list.work_orders().empty());
  }
  CHECK(s.Get(o.id()).state() == v1::WORK_ORDER_STATE_SUBMITTED);
  // A command without a verified identity (not through the gateway) is refused.
  auto direct = v1::AuditService::NewStub(s.gw().process().Channel("audit"));
  v1::WorkOrder out;
  CHECK(direct->CancelWorkOrder(Deadline().get(), Cmd(submitted, "x", "no"), &out).error_code() ==
        Code::UNAUTHENTICATED);
}

TEST_CASE("Warning events become one task and one dispatched order each, escalations update them, "
          "also across a SIGKILL mid-feed",
          "[e2e][audit]") {
  TestDatabase db;
  AuditStack s(db);
  // S1 at 85 (level 2: a task), S2 at 95 (no event), S3 at 70 (level 1: a task and a supervision order).
  s.Readings("b1", {{"S1", "RATE", "2026-03", 85}, {"S2", "RATE", "2026-03", 95}, {"S3", "RATE", "2026-03", 70}});
  REQUIRE(WaitUntil([&] { return s.Tasks().size() == 2; }));
  std::map<std::string, v1::AuditTask> by_unit;
  for (const auto& t : s.Tasks()) by_unit[t.scope().unit_code()] = t;
  REQUIRE(by_unit.count("S1") == 1);
  CHECK(by_unit["S1"].source() == v1::TASK_SOURCE_WARNING);
  CHECK(by_unit["S1"].event_level() == 2);
  CHECK(by_unit["S1"].rule_code() == "R1");
  CHECK(by_unit["S1"].theme_code() == "T-BILL");
  CHECK(by_unit["S1"].period().key() == "2026-03");
  CHECK(by_unit["S1"].work_order_ids_size() == 1);
  CHECK(by_unit["S1"].state() == v1::TASK_STATE_IN_PROGRESS);
  REQUIRE(WaitUntil([&] { return s.Supervision().size() == 1; }));
  CHECK(s.Supervision()[0].unit_code() == "S3");
  CHECK(s.Supervision()[0].addressed_to() == "leader of S3");
  CHECK(s.Supervision()[0].event_id() == by_unit["S3"].event_id());
  const auto orders = s.Orders();
  REQUIRE(orders.size() == 2);
  for (const auto& o : orders) {
    CHECK(o.state() == v1::WORK_ORDER_STATE_DISPATCHED);
    CHECK(o.audit().created_by() == "system");
    CHECK(o.has_deadline());
  }
  // S1 worsens to 75: its event escalates to level 1; the same task, now at level 1, and a supervision order.
  s.Readings("b2", {{"S1", "RATE", "2026-03", 75}});
  REQUIRE(WaitUntil([&] { return s.Supervision().size() == 2; }));
  CHECK(s.Tasks().size() == 2);
  for (const auto& t : s.Tasks()) {
    if (t.scope().unit_code() == "S1") CHECK(t.event_level() == 1);
  }
  const v1::WorkOrder s1_order = s.Get(by_unit["S1"].work_order_ids(0));
  CHECK(LogOf(s1_order).back() == "system escalated");

  // Many events, and the process killed while they flow: after the restart
  // every event with an action has exactly one task.
  std::vector<Row> rows;
  for (int m = 1; m <= 12; ++m) {
    for (const char* unit : {"S1", "S2", "S3"}) rows.emplace_back(unit, "RATE", absl::StrFormat("2025-%02d", m), 70.0);
  }
  s.Readings("b3", rows);
  s.gw().process().Stop(SIGKILL);
  s.Reset();
  // The restarted process, read directly (reads need no identity).
  AuditwatchProcess again("all", db.url());
  REQUIRE(WaitForHealth(again.address("audit"), "", "SERVING") == "SERVING");
  auto audit = v1::AuditService::NewStub(again.Channel("audit"));
  auto tasks = [&] {
    v1::ListTasksRequest req;
    req.mutable_page()->set_page_size(1000);
    v1::ListTasksResponse r;
    REQUIRE(audit->ListTasks(Deadline().get(), req, &r).ok());
    return std::vector<v1::AuditTask>(r.tasks().begin(), r.tasks().end());
  };
  REQUIRE(WaitUntil([&] { return tasks().size() == 2 + 36; }, absl::Seconds(60)));
  std::set<int64_t> events;
  for (const auto& t : tasks()) CHECK(events.insert(t.event_id()).second);
  // Let the intake settle, then look again: nothing more appears.
  absl::SleepFor(absl::Seconds(2));
  CHECK(tasks().size() == 38);
  CHECK(db.Query("SELECT count(*) FROM audit.work_orders") == "38");
  CHECK(db.Query("SELECT count(*) FROM audit.supervision_orders") == "38");
  CHECK(db.Query("SELECT count(DISTINCT event_id) FROM audit.tasks") == "38");
}

double Metric(const AuditwatchProcess& p, const std::string& name, const std::string& label = "") {
  return std::max(0.0, MetricValue(p, name, label));
}

TEST_CASE("Overdue orders raise one supervision order each with two audit processes, none skipped across a kill",
          "[e2e][audit]") {
  TestDatabase db;
  // The process behind the gateway looks for timers only hourly: the two
  // audit-only processes below do the supervising.
  AuditStack s(db, {"--supervision_tick=1h"});
  auto& front = s.gw().process();
  const std::vector<std::string> args = {"--ingest_addr=" + front.address("ingest"),
                                         "--monitor_addr=" + front.address("monitor")};
  auto b = std::make_unique<AuditwatchProcess>("audit", db.url(), args);
  auto c = std::make_unique<AuditwatchProcess>("audit", db.url(), args);
  REQUIRE(WaitForHealth(b->address("audit"), "", "SERVING") == "SERVING");
  REQUIRE(WaitForHealth(c->address("audit"), "", "SERVING") == "SERVING");
  constexpr int kOrders = 30;
  std::vector<v1::WorkOrder> orders;
  for (int i = 0; i < kOrders; ++i) {
    orders.push_back(s.Dispatch(i % 2 ? "S1" : "S2", absl::Seconds(3) + absl::Milliseconds(100 * i),
                                absl::StrCat("due-", i)));
  }
  // Some come due while both run; then both are killed while the rest come due.
  REQUIRE(WaitUntil([&] { return db.Query("SELECT count(*) FROM audit.supervision_orders") != "0"; }));
  b->Stop(SIGKILL);
  c->Stop(SIGKILL);
  absl::SleepFor(absl::Seconds(4));  // every deadline passes with no supervisor running
  CHECK(std::stoi(db.Query("SELECT count(*) FROM audit.supervision_orders")) < kOrders);
  b = std::make_unique<AuditwatchProcess>("audit", db.url(), args);
  c = std::make_unique<AuditwatchProcess>("audit", db.url(), args);
  REQUIRE(WaitUntil([&] { return db.Query("SELECT count(*) FROM audit.supervision_orders") == "30"; }));
  absl::SleepFor(absl::Milliseconds(500));
  CHECK(db.Query("SELECT count(*) FROM audit.supervision_orders") == "30");
  CHECK(db.Query("SELECT count(DISTINCT work_order_id) FROM audit.supervision_orders") == "30");
  CHECK(db.Query("SELECT count(*) FROM audit.work_orders WHERE overdue AND ever_overdue") == "30");
  CHECK(db.Query("SELECT count(*) FROM audit.work_order_log WHERE action = 'overdue'") == "30");
  for (const auto& so : s.Supervision()) {
    CHECK(so.escalation() == 1);
    CHECK(so.addressed_to() == "leader of " + so.unit_code());
  }
  // Each restarted process raised some; together exactly the ones left.
  const double after = Metric(*b, "auditwatch_audit_supervision_orders_raised_total") +
                       Metric(*c, "auditwatch_audit_supervision_orders_raised_total");
  CHECK(after >= 1);
  CHECK(after <= kOrders);
  // The overdue list and the gauges show them.
  v1::ListWorkOrdersRequest overdue;
  overdue.set_overdue_only(true);
  CHECK(s.Orders(overdue).size() == kOrders);
  CHECK(WaitUntil([&] { return Metric(front, "auditwatch_audit_overdue_work_orders") == kOrders; }));

  // An extension with a reason clears one; its supervision order closes.
  v1::ExtendDeadlineRequest extend;
  const v1::WorkOrder first = s.Get(orders[0].id());
  *extend.mutable_command() = Cmd(first, "extend-1", "节假日顺延");
  *extend.mutable_deadline() = In(absl::Hours(48));
  CHECK(Refused(s.wang(), &v1::AuditService::Stub::ExtendDeadline, extend).error_code() == Code::PERMISSION_DENIED);
  const v1::WorkOrder extended = Ok(s.centre(), &v1::AuditService::Stub::ExtendDeadline, extend);
  CHECK_FALSE(extended.overdue());
  CHECK(extended.ever_overdue());
  v1::ListSupervisionOrdersRequest open;
  open.set_open_only(true);
  open.set_work_order_id(first.id());
  v1::ListSupervisionOrdersResponse none;
  REQUIRE(s.admin().ListSupervisionOrders(Deadline().get(), open, &none).ok());
  CHECK(none.orders().empty());
  const v1::WorkOrder logged = s.Get(first.id());
  CHECK(logged.log(logged.log_size() - 1).action() == "deadline_extended");
  CHECK(logged.log(logged.log_size() - 1).comment().find("节假日顺延") != std::string::npos);
}

TEST_CASE("A confirmed false positive makes one whitelist entry in monitor, also when the outbox delivers it again",
          "[e2e][audit]") {
  TestDatabase db;
  AuditStack s(db);
  s.Readings("b1", {{"S1", "RATE", "2026-03", 85}});
  REQUIRE(WaitUntil([&] { return s.Orders().size() == 1; }));
  const v1::WorkOrder o = s.Orders()[0];
  v1::ConfirmFalsePositiveRequest fp;
  *fp.mutable_command() = Cmd(o, "fp-1", "");
  fp.set_freeze_days(30);
  CHECK(Refused(s.centre(), &v1::AuditService::Stub::ConfirmFalsePositive, fp).error_code() == Code::INVALID_ARGUMENT);
  fp.mutable_command()->set_comment("季节性用电，经现场核实无异常");
  fp.set_freeze_days(400);
  grpc::Status refused = Refused(s.centre(), &v1::AuditService::Stub::ConfirmFalsePositive, fp);
  CHECK(refused.error_code() == Code::INVALID_ARGUMENT);
  CHECK(refused.error_message().find("freeze_days: 1 to 90") != std::string::npos);
  fp.set_freeze_days(30);
  const v1::WorkOrder confirmed = Ok(s.centre(), &v1::AuditService::Stub::ConfirmFalsePositive, fp);
  CHECK(confirmed.state() == v1::WORK_ORDER_STATE_FALSE_POSITIVE);
  REQUIRE(WaitUntil([&] { return s.Get(o.id()).whitelist_entry_id() != 0; }));
  const int64_t entry = s.Get(o.id()).whitelist_entry_id();
  auto whitelist = [&] {
    v1::ListWhitelistRequest req;
    v1::ListWhitelistResponse r;
    REQUIRE(s.monitor().ListWhitelist(Deadline().get(), req, &r).ok());
    return std::vector<v1::WhitelistEntry>(r.entries().begin(), r.entries().end());
  };
  REQUIRE(whitelist().size() == 1);
  const v1::WhitelistEntry e = whitelist()[0];
  CHECK(e.id() == entry);
  CHECK(e.rule_code() == "R1");
  CHECK(e.scope().unit_code() == "S1");
  CHECK(e.reason().find("季节性用电") != std::string::npos);
  CHECK(e.audit().created_by() == "centre.li");
  CHECK(TimeOf(e.frozen_until()) - TimeOf(e.frozen_from()) == absl::Hours(24 * 30));
  // The event it came from is suppressed in monitor.
  v1::GetEventRequest get_event;
  get_event.set_id(s.Tasks()[0].event_id());
  v1::WarningEvent event;
  REQUIRE(s.monitor().GetEvent(Deadline().get(), get_event, &event).ok());
  CHECK(event.state() == v1::EVENT_STATE_SUPPRESSED);
  // The commit after delivery is lost: the outbox delivers again, monitor keeps one entry.
  db.Query("UPDATE audit.outbox SET delivered_at = NULL, next_at = now()");
  REQUIRE(WaitUntil([&] { return db.Query("SELECT attempts FROM audit.outbox") == "2" &&
                                 db.Query("SELECT delivered_at IS NOT NULL FROM audit.outbox") == "t"; }));
  CHECK(whitelist().size() == 1);
  CHECK(s.Get(o.id()).whitelist_entry_id() == entry);
  // A retried confirmation is the same answer and asks nothing more.
  CHECK(Ok(s.centre(), &v1::AuditService::Stub::ConfirmFalsePositive, fp).SerializeAsString() ==
        confirmed.SerializeAsString());
  CHECK(db.Query("SELECT count(*) FROM audit.outbox") == "1");
}

TEST_CASE("Findings and incidents become deductions whose lineage the facts feed carries", "[e2e][audit]") {
  TestDatabase db;
  AuditStack s(db);
  auto save = [&](const std::string& code, double points, bool direct, int level = 0) {
    v1::UpsertDeductionStandardRequest req;
    v1::DeductionStandard* d = req.mutable_standard();
    d->set_code(code);
    d->set_year(2026);
    d->set_category(v1::BUSINESS_CATEGORY_BILLING);
    d->set_description(direct ? "二级营销差错" : "电费差错");
    d->set_points(points);
    d->set_direct(direct);
    if (direct) {
      d->set_incident_kind(v1::INCIDENT_KIND_MARKETING_ERROR);
      d->set_incident_level(level);
    }
    d->set_enabled(true);
    v1::DeductionStandard out;
    return s.admin().UpsertDeductionStandard(Deadline().get(), req, &out);
  };
  REQUIRE(save("BILL-01", 1.5, false).ok());
  REQUIRE(save("ERR-L2", 5, true, 2).ok());
  {  // A centre auditor may not change the standard table.
    v1::UpsertDeductionStandardRequest req;
    v1::DeductionStandard out;
    CHECK(s.centre().UpsertDeductionStandard(Deadline().get(), req, &out).error_code() == Code::PERMISSION_DENIED);
  }
  const v1::WorkOrder o = s.Dispatch("S1", absl::Hours(24 * 7), "ded");
  v1::RecordFindingRequest finding;
  finding.set_work_order_id(o.id());
  finding.set_standard_code("BILL-01");
  finding.set_occurrences(2);
  finding.set_idempotency_key("finding-1");
  v1::Deduction found;
  REQUIRE(s.centre().RecordFinding(Deadline().get(), finding, &found).ok());
  CHECK(found.points() == 3);
  v1::Deduction twice;
  REQUIRE(s.centre().RecordFinding(Deadline().get(), finding, &twice).ok());
  CHECK(twice.id() == found.id());
  finding.set_standard_code("NO-SUCH");
  finding.set_idempotency_key("finding-2");
  grpc::Status refused = s.centre().RecordFinding(Deadline().get(), finding, &twice);
  CHECK(refused.error_code() == Code::NOT_FOUND);
  CHECK(refused.error_message().find("standard_code") != std::string::npos);

  v1::RegisterIncidentRequest incident;
  incident.mutable_incident()->set_kind(v1::INCIDENT_KIND_MARKETING_ERROR);
  incident.mutable_incident()->set_level(2);
  incident.mutable_incident()->set_unit_code("S3");
  incident.mutable_incident()->mutable_period()->set_key("2026-03");
  incident.mutable_incident()->set_description("错发电费通知单");
  incident.set_idempotency_key("incident-1");
  v1::Incident registered;
  REQUIRE(s.centre().RegisterIncident(Deadline().get(), incident, &registered).ok());
  CHECK(registered.points() == 5);
  incident.mutable_incident()->set_level(1);
  incident.set_idempotency_key("incident-2");
  refused = s.centre().RegisterIncident(Deadline().get(), incident, &registered);
  CHECK(refused.error_code() == Code::NOT_FOUND);
  CHECK(refused.error_message().find("no enabled direct item for INCIDENT_KIND_MARKETING_ERROR at level 1") !=
        std::string::npos);

  v1::CorrectDeductionRequest correct;
  correct.set_deduction_id(found.id());
  correct.set_points(1.5);
  correct.set_reason("一次重复计入");
  correct.set_idempotency_key("correct-1");
  v1::Deduction corrected;
  REQUIRE(s.centre2().CorrectDeduction(Deadline().get(), correct, &corrected).ok());
  CHECK(corrected.supersedes_id() == found.id());

  // The feed, from the start: every fact with what it rests on.
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
  auto feed = v1::AuditService::NewStub(s.gw().Channel(s.gw().admin_key()));
  auto stream = feed->WatchAuditFacts(&ctx, v1::WatchAuditFactsRequest());
  std::vector<v1::Deduction> deductions;
  std::vector<v1::Incident> incidents;
  v1::AuditFactChange change;
  int64_t last = 0;
  while (deductions.size() < 3 && stream->Read(&change)) {
    if (change.heartbeat()) continue;
    CHECK(change.seq() > last);
    last = change.seq();
    if (change.has_deduction()) deductions.push_back(change.deduction());
    if (change.has_incident()) incidents.push_back(change.incident());
  }
  ctx.TryCancel();
  REQUIRE(deductions.size() == 3);
  CHECK(deductions[0].id() == found.id());
  CHECK(deductions[0].work_order_id() == o.id());
  CHECK(deductions[0].standard_code() == "BILL-01");
  CHECK(deductions[0].standard_version() == 1);
  CHECK(deductions[0].type() == v1::DEDUCTION_TYPE_BUSINESS);
  CHECK(deductions[0].audit().created_by() == "centre.li");
  REQUIRE(incidents.size() == 1);
  CHECK(deductions[1].incident_id() == incidents[0].id());
  CHECK(deductions[1].type() == v1::DEDUCTION_TYPE_DIRECT);
  CHECK(deductions[1].unit_code() == "S3");
  CHECK(deductions[2].supersedes_id() == found.id());
  CHECK(deductions[2].audit().created_by() == "centre.zhao");

  // Per unit and period, the effective deductions: S1 1.5 and S3 5; a D1 viewer sees only S1's.
  v1::ListDeductionsRequest list;
  list.mutable_scope()->set_unit_code("C1");
  list.mutable_scope()->set_include_descendants(true);
  list.mutable_periods()->mutable_first()->set_key("2026-03");
  list.set_effective_only(true);
  v1::ListDeductionsResponse effective;
  REQUIRE(s.admin().ListDeductions(Deadline().get(), list, &effective).ok());
  double points = 0;
  for (const auto& d : effective.deductions()) points += d.points();
  CHECK(effective.deductions_size() == 2);
  CHECK(points == 6.5);
  auto viewer = s.Stub(s.gw().Key("d1.viewer", {v1::ROLE_UNIT_VIEWER}, {"D1"}));
  list.clear_scope();
  v1::ListDeductionsResponse seen;
  REQUIRE(viewer->ListDeductions(Deadline().get(), list, &seen).ok());
  REQUIRE(seen.deductions_size() == 1);
  CHECK(seen.deductions(0).unit_code() == "S1");
}

TEST_CASE("Rates per subtree match the values computed by hand, undefined where nothing is counted",
          "[e2e][audit]") {
  TestDatabase db;
  AuditStack s(db);
  // Anomalous (theme, unit) pairs: January S1 S2 S3; February S1; March S1 (85) and S3 (70).
  s.Readings("jan", {{"S1", "RATE", "2026-01", 70}, {"S2", "RATE", "2026-01", 70}, {"S3", "RATE", "2026-01", 70}});
  s.Readings("feb", {{"S1", "RATE", "2026-02", 70}, {"S2", "RATE", "2026-02", 99}, {"S3", "RATE", "2026-02", 99}});
  s.Readings("mar", {{"S1", "RATE", "2026-03", 85}, {"S2", "RATE", "2026-03", 99}, {"S3", "RATE", "2026-03", 70}});
  REQUIRE(WaitUntil([&] { return s.Tasks().size() == 6; }));
  std::map<std::string, v1::WorkOrder> march;
  for (const auto& o : s.Orders()) {
    if (o.period().key() == "2026-03") march[o.unit_code()] = o;
  }
  REQUIRE(march.size() == 2);
  // S1's March order is archived; S3's is a false positive.
  v1::WorkOrder o = Ok(s.wang(), &v1::AuditService::Stub::StartRectification, Cmd(march["S1"], "r1"));
  o = Ok(s.wang(), &v1::AuditService::Stub::SubmitRectification, Submission(o, "r2"));
  o = Ok(s.chen(), &v1::AuditService::Stub::ReviewWorkOrder, Review(o, "r3", v1::REVIEW_STAGE_UNIT, true));
  o = Ok(s.centre(), &v1::AuditService::Stub::ReviewWorkOrder, Review(o, "r4", v1::REVIEW_STAGE_CENTRE, true));
  v1::ConfirmFalsePositiveRequest fp;
  *fp.mutable_command() = Cmd(march["S3"], "r5", "计量装置正常");
  fp.set_freeze_days(10);
  Ok(s.centre(), &v1::AuditService::Stub::ConfirmFalsePositive, fp);
  // S2 (not anomalous) gets a routine order that goes overdue, and one that is cancelled.
  const v1::WorkOrder late = s.Dispatch("S2", absl::Seconds(2), "late");
  const v1::WorkOrder dropped = s.Dispatch("S2", absl::Hours(24), "dropped");
  Ok(s.centre(), &v1::AuditService::Stub::CancelWorkOrder, Cmd(dropped, "r6", "重复派单"));
  REQUIRE(WaitUntil([&] { return s.Get(late.id()).ever_overdue(); }));

  v1::GetRatesRequest req;
  req.mutable_scope()->set_unit_code("C1");
  req.mutable_scope()->set_include_descendants(true);
  req.set_depth(1);
  req.mutable_period()->set_key("2026-03");
  v1::GetRatesResponse resp;
  const grpc::Status st = s.centre().GetRates(Deadline().get(), req, &resp);
  INFO(st.error_message());
  REQUIRE(st.ok());
  std::map<std::string, v1::UnitRates> by;
  for (const auto& r : resp.rates()) by[r.unit_code()] = r;
  REQUIRE(by.size() == 3);  // C1, D1, D2: one level down
  auto is = [](const v1::Rate& r, int64_t n, int64_t d) {
    INFO(r.ShortDebugString());
    CHECK(r.numerator() == n);
    CHECK(r.denominator() == d);
    CHECK(r.defined() == (d != 0));
    if (d != 0) CHECK(r.value() == static_cast<double>(n) / d);
  };
  // C1: anomalous S1, S3 (both with orders); orders S1 archived, S3 false positive, S2 overdue (cancelled one out).
  is(by["C1"].initiation(), 2, 2);
  is(by["C1"].completion(), 2, 3);
  is(by["C1"].rectification(), 1, 2);
  is(by["C1"].overdue(), 1, 3);
  is(by["C1"].indicator_change(), 1, 1);        // 2 now, 1 in February
  is(by["C1"].cumulative_completion(), 1, 3);   // 3 in January, 2 now
  // D1 (S1, S2).
  is(by["D1"].initiation(), 1, 1);
  is(by["D1"].completion(), 1, 2);
  is(by["D1"].rectification(), 1, 2);
  is(by["D1"].overdue(), 1, 2);
  is(by["D1"].indicator_change(), 0, 1);
  is(by["D1"].cumulative_completion(), 1, 2);
  // D2 (S3): nothing to rectify, and nothing anomalous in February.
  is(by["D2"].initiation(), 1, 1);
  is(by["D2"].completion(), 1, 1);
  is(by["D2"].rectification(), 0, 0);
  is(by["D2"].overdue(), 0, 1);
  is(by["D2"].indicator_change(), 1, 0);
  is(by["D2"].cumulative_completion(), 0, 1);
  // A D2 specialist asking for C1 is refused by the gateway.
  v1::GetRatesResponse refused;
  CHECK(s.liu().GetRates(Deadline().get(), req, &refused).error_code() == Code::PERMISSION_DENIED);
}

TEST_CASE("Bad requests are refused naming the field, unknown records naming what is missing", "[e2e][audit]") {
  TestDatabase db;
  AuditStack s(db);
  auto expect = [](const grpc::Status& st, Code code, const std::string& message) {
    INFO(st.error_message());
    CHECK(st.error_code() == code);
    CHECK(st.error_message() == message);
  };
  v1::CreateTaskRequest task;
  task.mutable_task()->set_source(v1::TASK_SOURCE_ROUTINE);
  task.set_idempotency_key("t1");
  v1::AuditTask made;
  expect(s.centre().CreateTask(Deadline().get(), task, &made), Code::INVALID_ARGUMENT, "task.theme_code: required");
  task.mutable_task()->set_theme_code("T-BILL");
  task.mutable_task()->set_title("常态稽查");
  expect(s.centre().CreateTask(Deadline().get(), task, &made), Code::INVALID_ARGUMENT, "task.period.key: required");
  task.mutable_task()->mutable_period()->set_key("2026-13");
  CHECK(s.centre().CreateTask(Deadline().get(), task, &made).error_code() == Code::INVALID_ARGUMENT);
  task.mutable_task()->mutable_period()->set_key("2026-03");
  task.mutable_task()->mutable_scope()->set_unit_code("NOPE");
  expect(s.centre().CreateTask(Deadline().get(), task, &made), Code::NOT_FOUND, "task.scope.unit_code: no unit NOPE");
  task.mutable_task()->set_source(v1::TASK_SOURCE_WARNING);
  expect(s.centre().CreateTask(Deadline().get(), task, &made), Code::INVALID_ARGUMENT,
         "task.source: tasks from warnings are opened by the service from events");
  task.mutable_task()->set_source(v1::TASK_SOURCE_ROUTINE);
  task.mutable_task()->mutable_scope()->set_unit_code("D1");
  task.mutable_task()->mutable_scope()->set_include_descendants(true);
  task.clear_idempotency_key();
  expect(s.centre().CreateTask(Deadline().get(), task, &made), Code::INVALID_ARGUMENT,
         "idempotency_key: required (a retry sends the same key)");
  task.set_idempotency_key("t1");
  REQUIRE(s.centre().CreateTask(Deadline().get(), task, &made).ok());
  // A specialist may not create tasks (the gateway says so, naming the method's roles).
  CHECK(s.wang().CreateTask(Deadline().get(), task, &made).error_code() == Code::PERMISSION_DENIED);

  v1::CreateWorkOrderRequest order;
  order.set_task_id(999999);
  order.set_unit_code("S1");
  order.set_title("x");
  order.set_idempotency_key("o1");
  v1::WorkOrder out;
  expect(s.centre().CreateWorkOrder(Deadline().get(), order, &out), Code::NOT_FOUND, "task_id: no task 999999");
  order.set_task_id(made.id());
  order.set_unit_code("S3");
  expect(s.centre().CreateWorkOrder(Deadline().get(), order, &out), Code::INVALID_ARGUMENT,
         absl::StrCat("unit_code: S3 is outside the scope of task ", made.id(), " (D1)"));
  order.set_unit_code("S1");
  order.set_dispatch(true);
  expect(s.centre().CreateWorkOrder(Deadline().get(), order, &out), Code::INVALID_ARGUMENT, "deadline: required");

  v1::GetWorkOrderRequest get;
  get.set_id(424242);
  expect(s.admin().GetWorkOrder(Deadline().get(), get, &out), Code::NOT_FOUND, "id: no work order 424242");
  v1::WorkOrderCommand cmd;
  cmd.set_work_order_id(424242);
  cmd.set_expected_version(1);
  cmd.set_idempotency_key("k");
  expect(s.wang().StartRectification(Deadline().get(), cmd, &out), Code::NOT_FOUND,
         "work_order_id: no work order 424242");
  cmd.clear_expected_version();
  expect(s.wang().StartRectification(Deadline().get(), cmd, &out), Code::INVALID_ARGUMENT,
         "command.expected_version: required (the order's audit.version as last read)");
  v1::GetRatesRequest rates;
  rates.mutable_scope()->set_unit_code("C1");
  v1::GetRatesResponse r;
  expect(s.centre().GetRates(Deadline().get(), rates, &r), Code::INVALID_ARGUMENT, "period.key: required");
}

}  // namespace
}  // namespace aw::testing
