// Audit behaviour against a real PostgreSQL with the clock driven by the test:
// deadlines fire once across two supervisors and a restart, reminders and
// escalations follow the cycle, an extension clears an overdue order, the
// outbox retries with backoff and delivers again with the same key after a
// lost commit, an event's page applied twice (two replicas, or a crash before
// the cursor moved) yields one task, and deductions are corrected by new facts
// that the feed carries with their lineage.
#include <thread>

#include <catch2/catch.hpp>
#include <prometheus/registry.h>

#include "absl/strings/str_cat.h"
#include "common/clock.h"
#include "common/migrations.h"
#include "common/pg.h"
#include "common/timestamp.h"
#include "services/audit/audit_metrics.h"
#include "services/audit/audit_store.h"
#include "services/audit/supervisor.h"
#include "tests/support/test_db.h"

namespace aw::audit {
std::vector<db::EmbeddedFile> MigrationFiles();

namespace {

using aw::testing::TestDatabase;

// 2026-03-10 08:00 UTC.
const absl::Time kStart = absl::FromCivil(absl::CivilSecond(2026, 3, 10, 8, 0, 0), absl::UTCTimeZone());
const std::vector<std::string> kPath = {"P", "C1", "D1", "S1"};
const SupervisionPolicy kPolicy{.remind_every = absl::Hours(24), .escalate_after = absl::Hours(72)};

// A migrated audit schema and a store; the clock is the test's.
struct Audit {
  explicit Audit(const TestDatabase& db)
      : clock(kStart), pool(db::PoolOptions{.url = db.url(), .schema = "audit", .size = 4}), store(&pool),
        metrics(registry) {
    REQUIRE(aw::testing::MigrateSchema(db.url(), "audit", MigrationFiles()).ok());
  }

  int64_t Task() {
    v1::AuditTask t;
    t.set_source(v1::TASK_SOURCE_ROUTINE);
    t.set_theme_code("T-BILL");
    t.set_title("常态稽查");
    t.mutable_scope()->set_unit_code("D1");
    t.mutable_scope()->set_include_descendants(true);
    t.mutable_period()->set_key("2026-03");
    t.set_owner("centre.li");
    auto made = store.CreateTask(t, {"P", "C1", "D1"}, "centre.li", clock.Now(), Command{});
    REQUIRE(made.ok());
    return made->id();
  }

  v1::WorkOrder Order(int64_t task, absl::Duration due) {
    v1::CreateWorkOrderRequest r;
    r.set_task_id(task);
    r.set_unit_code("S1");
    r.set_title("电费回收率低");
    SetTimestamp(clock.Now() + due, r.mutable_deadline());
    r.set_dispatch(true);
    auto made = store.CreateWorkOrder(r, kPath, "centre.li", clock.Now(), Command{});
    INFO(made.status().ToString());
    REQUIRE(made.ok());
    return *made;
  }

  v1::WorkOrder Move(const v1::WorkOrder& o, Action action, v1::WorkOrderState to, const std::string& actor = "x") {
    TransitionWrite w;
    w.work_order_id = o.id();
    w.expected_version = o.audit().version();
    w.from = o.state();
    w.to = to;
    w.action = action;
    w.actor = actor;
    auto moved = store.ApplyTransition(w, o, clock.Now());
    INFO(moved.status().ToString());
    REQUIRE(moved.ok());
    return *moved;
  }

  std::vector<v1::SupervisionOrder> Supervision(int64_t order = 0) {
    auto s = store.ListSupervision("", true, false, order, KeyPage{.limit = 10000});
    REQUIRE(s.ok());
    return *s;
  }

  Supervisor NewSupervisor() { return Supervisor(&store, &metrics, {.policy = kPolicy, .clock = &clock}); }

  FakeClock clock;
  db::Pool pool;
  AuditStore store;
  prometheus::Registry registry;
  AuditMetrics metrics;
};

TEST_CASE("Deadlines fire once with two supervisors and across a restart, then remind and escalate on the clock",
          "[integration][audit]") {
  TestDatabase db;
  Audit a(db);
  const int64_t task = a.Task();
  std::vector<v1::WorkOrder> orders;
  for (int i = 1; i <= 40; ++i) orders.push_back(a.Order(task, absl::Seconds(i)));

  // Two replicas drain together at 20.5 s: the first 20 fire, each once.
  a.clock.Advance(absl::Milliseconds(20'500));
  {
    Supervisor one = a.NewSupervisor(), two = a.NewSupervisor();
    int fired_one = 0, fired_two = 0;
    std::thread t1([&] { fired_one = *one.RunDue(); });
    std::thread t2([&] { fired_two = *two.RunDue(); });
    t1.join();
    t2.join();
    CHECK(fired_one + fired_two == 20);
  }  // "restart": these supervisors are gone
  CHECK(a.Supervision().size() == 20);
  CHECK(db.Query("SELECT count(*) FROM audit.work_orders WHERE overdue") == "20");
  // New supervisors after the restart pick up the rest; nothing is skipped or doubled.
  a.clock.Advance(absl::Seconds(20));
  {
    Supervisor again = a.NewSupervisor();
    CHECK(*again.RunDue() == 20);
    CHECK(*again.RunDue() == 0);
  }
  const auto raised = a.Supervision();
  REQUIRE(raised.size() == 40);
  for (const auto& s : raised) {
    CHECK(s.escalation() == 1);
    CHECK(s.unit_code() == "S1");
    CHECK(s.addressed_to() == "leader of S1");
    CHECK(s.reminders() == 0);
  }
  CHECK(db.Query("SELECT count(DISTINCT work_order_id) FROM audit.supervision_orders") == "40");
  // The order's log says it, by the system.
  const v1::WorkOrder first = *a.store.GetWorkOrder(orders[0].id(), true);
  CHECK(first.overdue());
  CHECK(first.ever_overdue());
  CHECK(first.log(first.log_size() - 2).action() == "overdue");
  CHECK(first.log(first.log_size() - 1).action() == "supervised");
  CHECK(first.log(first.log_size() - 1).actor() == "system");

  // One order is rectified and archived: its supervision closes, its timers go.
  v1::WorkOrder done = a.Move(orders[0], Action::kStart, v1::WORK_ORDER_STATE_RECTIFYING, "d1.wang");
  v1::Rectification rect;
  rect.set_result("done");
  TransitionWrite submit{.work_order_id = done.id(), .expected_version = done.audit().version(),
                         .from = done.state(), .to = v1::WORK_ORDER_STATE_SUBMITTED, .action = Action::kSubmit,
                         .actor = "d1.wang", .rectification = &rect};
  done = *a.store.ApplyTransition(submit, done, a.clock.Now());
  CHECK_FALSE(done.overdue());  // submitted: the unit no longer owes it
  CHECK(a.Supervision(done.id())[0].closed());
  done = a.Move(done, Action::kUnitApprove, v1::WORK_ORDER_STATE_UNIT_APPROVED, "d1.chen");
  done = a.Move(done, Action::kCentreApprove, v1::WORK_ORDER_STATE_ARCHIVED, "centre.zhao");
  CHECK(a.Supervision(done.id())[0].closed());
  CHECK(db.Query(absl::StrCat("SELECT count(*) FROM audit.timers WHERE work_order_id = ", done.id())) == "0");

  // A day later: one reminder on each of the 39 still open; none on the closed one.
  a.clock.Advance(absl::Hours(24));
  Supervisor s = a.NewSupervisor();
  CHECK(*s.RunDue() == 39);
  for (const auto& o : a.Supervision()) CHECK(o.reminders() == (o.work_order_id() == done.id() ? 0 : 1));
  // Three days overdue: each escalates to D1's leader (once), with no reminder that round.
  a.clock.Advance(absl::Hours(48));
  CHECK(*s.RunDue() == 39);
  int escalated = 0;
  for (const auto& o : a.Supervision()) {
    if (o.escalation() == 2) {
      ++escalated;
      CHECK(o.unit_code() == "D1");
      CHECK(o.addressed_to() == "leader of D1");
    }
  }
  CHECK(escalated == 39);
  CHECK(*s.RunDue() == 0);
  // Three days more: C1's leader.
  a.clock.Advance(absl::Hours(72));
  CHECK(*s.RunDue() == 39);
  CHECK(db.Query("SELECT count(*) FROM audit.supervision_orders WHERE escalation = 3 AND unit_code = 'C1'") == "39");
}

TEST_CASE("An extended deadline clears the overdue order and fires once at its new time", "[integration][audit]") {
  TestDatabase db;
  Audit a(db);
  v1::WorkOrder o = a.Order(a.Task(), absl::Hours(1));
  Supervisor s = a.NewSupervisor();
  a.clock.Advance(absl::Hours(2));
  CHECK(*s.RunDue() == 1);
  o = *a.store.GetWorkOrder(o.id(), false);
  CHECK(o.overdue());
  TransitionWrite extend{.work_order_id = o.id(), .expected_version = o.audit().version(), .from = o.state(),
                         .to = o.state(), .action = Action::kExtend, .actor = "centre.li",
                         .comment = "节假日顺延"};
  extend.deadline = a.clock.Now() + absl::Hours(48);
  o = *a.store.ApplyTransition(extend, o, a.clock.Now());
  CHECK_FALSE(o.overdue());
  CHECK(o.ever_overdue());
  CHECK(TimeOf(o.deadline()) == a.clock.Now() + absl::Hours(48));
  CHECK(a.Supervision(o.id())[0].closed());
  // No reminder is left; nothing fires until the new deadline, then it does once.
  a.clock.Advance(absl::Hours(47));
  CHECK(*s.RunDue() == 0);
  a.clock.Advance(absl::Hours(2));
  CHECK(*s.RunDue() == 1);
  CHECK(a.store.GetWorkOrder(o.id(), false)->overdue());
  // The second lapse reopens the supervision order of escalation 1 rather than doubling it.
  REQUIRE(a.Supervision(o.id()).size() == 1);
  CHECK_FALSE(a.Supervision(o.id())[0].closed());
  const v1::WorkOrder full = *a.store.GetWorkOrder(o.id(), true);
  std::vector<std::string> actions;
  for (const auto& e : full.log()) actions.push_back(e.action());
  CHECK(actions == std::vector<std::string>{"created", "dispatched", "overdue", "supervised", "deadline_extended",
                                            "overdue", "supervised"});
  CHECK(full.log(4).comment() == "节假日顺延");
}

TEST_CASE("The outbox retries with backoff and, after a lost commit, delivers again with the same key",
          "[integration][audit]") {
  TestDatabase db;
  Audit a(db);
  v1::WorkOrder o = a.Order(a.Task(), absl::Hours(24));
  v1::CreateWhitelistEntryRequest wl;
  wl.mutable_entry()->set_rule_code("R1");
  wl.mutable_entry()->mutable_scope()->set_unit_code("S1");
  wl.mutable_entry()->set_reason("季节性");
  TransitionWrite fp{.work_order_id = o.id(), .expected_version = o.audit().version(), .from = o.state(),
                     .to = v1::WORK_ORDER_STATE_FALSE_POSITIVE, .action = Action::kFalsePositive,
                     .actor = "centre.li", .whitelist = &wl};
  o = *a.store.ApplyTransition(fp, o, a.clock.Now());
  std::vector<std::string> keys;
  int fail = 2;
  auto deliver = [&](const OutboxMessage& m) -> absl::StatusOr<int64_t> {
    keys.push_back(m.key);
    v1::CreateWhitelistEntryRequest got;
    REQUIRE(got.ParseFromString(m.payload));
    CHECK(got.entry().rule_code() == "R1");
    if (fail-- > 0) return absl::UnavailableError("monitor away");
    return 77;
  };
  auto retry_at = [&](int attempts) { return a.clock.Now() + absl::Seconds(attempts * 10); };
  CHECK(*a.store.DeliverOne(a.clock.Now(), deliver, retry_at));   // fails; next in 10 s
  CHECK_FALSE(*a.store.DeliverOne(a.clock.Now(), deliver, retry_at));
  a.clock.Advance(absl::Seconds(10));
  CHECK(*a.store.DeliverOne(a.clock.Now(), deliver, retry_at));   // fails; next in 20 s
  a.clock.Advance(absl::Seconds(19));
  CHECK_FALSE(*a.store.DeliverOne(a.clock.Now(), deliver, retry_at));
  a.clock.Advance(absl::Seconds(1));
  CHECK(*a.store.DeliverOne(a.clock.Now(), deliver, retry_at));   // delivered
  CHECK_FALSE(*a.store.DeliverOne(a.clock.Now(), deliver, retry_at));
  CHECK(keys.size() == 3);
  CHECK(keys[0] == keys[2]);
  CHECK(a.store.GetWorkOrder(o.id(), false)->whitelist_entry_id() == 77);
  CHECK(*a.store.OutboxBacklog() == 0);
  // The commit after delivery is lost (a crash): the message is due again and goes with the same key.
  db.Query("UPDATE audit.outbox SET delivered_at = NULL");
  CHECK(*a.store.DeliverOne(a.clock.Now(), deliver, retry_at));
  CHECK(keys.back() == keys[0]);
  CHECK(db.Query("SELECT attempts FROM audit.outbox") == "4");
}

TEST_CASE("A page of events applied twice, or again after a crash before the cursor moved, yields one task",
          "[integration][audit]") {
  TestDatabase db;
  Audit a(db);
  EventWork w;
  w.event.set_id(501);
  w.event.set_rule_code("R1");
  w.event.set_theme_code("T-BILL");
  w.event.set_unit_code("S1");
  w.event.mutable_period()->set_key("2026-03");
  w.event.set_level(2);
  w.event.set_message("RATE 85 at or below 90");
  w.actions.task = true;
  w.path = kPath;
  w.task_title = "预警稽查";
  w.order_deadline = a.clock.Now() + absl::Hours(24 * 7);
  CHECK(*a.store.ApplyEvents({w}, 10, a.clock.Now()) == 1);
  CHECK(*a.store.ApplyEvents({w}, 10, a.clock.Now()) == 0);  // another replica's copy of the page
  CHECK(*a.store.Cursor(AuditStore::kEventsFeed) == 10);
  // A crash between the task's commit and the cursor's cannot happen (one
  // transaction), but a cursor moved back by hand shows the schema's guard.
  db.Query("UPDATE audit.feed_cursors SET position = 0");
  CHECK(*a.store.ApplyEvents({w}, 10, a.clock.Now()) == 0);
  CHECK(db.Query("SELECT count(*) FROM audit.tasks") == "1");
  CHECK(db.Query("SELECT count(*) FROM audit.work_orders") == "1");
  // The event escalates: the same task, at level 1, and its order's log says so.
  w.event.set_level(1);
  w.actions.supervision = true;
  CHECK(*a.store.ApplyEvents({w}, 11, a.clock.Now()) == 0);
  CHECK(db.Query("SELECT event_level FROM audit.tasks") == "1");
  CHECK(db.Query("SELECT count(*) FROM audit.work_order_log WHERE action = 'escalated'") == "1");
  CHECK(db.Query("SELECT count(*) FROM audit.supervision_orders WHERE event_id = 501") == "1");
  CHECK(*a.store.ApplyEvents({w}, 12, a.clock.Now()) == 0);
  CHECK(db.Query("SELECT count(*) FROM audit.supervision_orders") == "1");
  CHECK(db.Query("SELECT count(*) FROM audit.work_order_log WHERE action = 'escalated'") == "1");
  // It resolves: its supervision order closes; the task and its order go on.
  EventWork resolved;
  resolved.event = w.event;
  resolved.event.set_state(v1::EVENT_STATE_RESOLVED);
  resolved.ended = true;
  CHECK(db.Query("SELECT count(*) FROM audit.supervision_orders WHERE closed_at IS NULL") == "1");
  CHECK(*a.store.ApplyEvents({resolved}, 13, a.clock.Now()) == 0);
  CHECK(db.Query("SELECT count(*) FROM audit.supervision_orders WHERE closed_at IS NULL") == "0");
  CHECK(db.Query("SELECT count(*) FROM audit.work_orders WHERE state = 2") == "1");
}

TEST_CASE("Deductions are corrected by new facts, and the feed carries every fact with its lineage",
          "[integration][audit]") {
  TestDatabase db;
  Audit a(db);
  v1::WorkOrder o = a.Order(a.Task(), absl::Hours(24));
  v1::DeductionStandard business;
  business.set_code("BILL-01");
  business.set_year(2026);
  business.set_category(v1::BUSINESS_CATEGORY_BILLING);
  business.set_description("电费差错");
  business.set_points(1.5);
  business.set_enabled(true);
  REQUIRE(a.store.SaveStandard(business, "ops.admin", "", 0, a.clock.Now()).ok());
  business.set_points(2);
  CHECK(a.store.SaveStandard(business, "ops.admin", "2026 修订", 0, a.clock.Now()).status().code() ==
        absl::StatusCode::kAborted);
  const v1::DeductionStandard v2 = *a.store.SaveStandard(business, "ops.admin", "2026 修订", 1, a.clock.Now());
  CHECK(v2.audit().version() == 2);
  CHECK(v2.audit().created_by() == "ops.admin");
  v1::DeductionStandard direct;
  direct.set_code("ERR-L2");
  direct.set_year(2026);
  direct.set_category(v1::BUSINESS_CATEGORY_MARKETING_MANAGEMENT);
  direct.set_description("二级营销差错");
  direct.set_points(5);
  direct.set_direct(true);
  direct.set_incident_kind(v1::INCIDENT_KIND_MARKETING_ERROR);
  direct.set_incident_level(2);
  direct.set_enabled(true);
  const v1::DeductionStandard d1 = *a.store.SaveStandard(direct, "ops.admin", "", 0, a.clock.Now());

  v1::RecordFindingRequest finding;
  finding.set_work_order_id(o.id());
  finding.set_standard_code("BILL-01");
  finding.set_occurrences(3);
  const v1::Deduction found = *a.store.RecordFinding(finding, v2, "centre.li", a.clock.Now(), Command{});
  CHECK(found.points() == 6);
  CHECK(found.type() == v1::DEDUCTION_TYPE_BUSINESS);
  CHECK(found.unit_code() == "S1");
  CHECK(found.period().key() == "2026-03");
  CHECK(found.standard_version() == 2);
  CHECK(found.work_order_id() == o.id());

  v1::Incident incident;
  incident.set_kind(v1::INCIDENT_KIND_MARKETING_ERROR);
  incident.set_level(2);
  incident.set_unit_code("S1");
  incident.mutable_period()->set_key("2026-03");
  incident.set_description("错发电费通知单");
  incident.set_work_order_id(o.id());
  const v1::Incident registered = *a.store.RegisterIncident(incident, kPath, d1, "centre.li", a.clock.Now(), Command{});
  CHECK(registered.points() == 5);
  CHECK(registered.deduction_id() > 0);

  v1::CorrectDeductionRequest correct;
  correct.set_deduction_id(found.id());
  correct.set_points(4);
  correct.set_reason("重复计入一次");
  const v1::Deduction corrected = *a.store.CorrectDeduction(correct, "centre.zhao", a.clock.Now(), Command{});
  CHECK(corrected.supersedes_id() == found.id());
  CHECK(corrected.points() == 4);
  CHECK(corrected.work_order_id() == o.id());
  CHECK(corrected.standard_version() == 2);
  // The old fact is unchanged and says what superseded it; it cannot be corrected again.
  const v1::Deduction old = *a.store.GetDeduction(found.id());
  CHECK(old.points() == 6);
  CHECK(old.superseded_by_id() == corrected.id());
  CHECK(a.store.CorrectDeduction(correct, "centre.zhao", a.clock.Now(), Command{}).status().code() ==
        absl::StatusCode::kFailedPrecondition);
  CHECK_THROWS(db.Query("UPDATE audit.deductions SET points = 0"));
  // Listing: every fact, or the effective ones, for the unit and the half-year.
  auto all = *a.store.ListDeductions("D1", true, "2026-01-01", "2026-06-30", {}, false, KeyPage{});
  CHECK(all.size() == 3);
  auto effective = *a.store.ListDeductions("D1", true, "2026-01-01", "2026-06-30", {}, true, KeyPage{});
  REQUIRE(effective.size() == 2);
  double points = 0;
  for (const auto& d : effective) points += d.points();
  CHECK(points == 9);
  CHECK(a.store.ListDeductions("D1", true, "2026-04-01", "2026-06-30", {}, true, KeyPage{})->empty());
  CHECK(a.store.ListDeductions("D2", true, "", "", {}, false, KeyPage{})->empty());

  // The feed: the order, the finding, the incident and its deduction, the correction — in commit order.
  CHECK(a.store.Facts(0, 100)->empty());  // committed, not yet numbered
  const int64_t last = *a.store.SequenceFacts();
  CHECK(*a.store.SequenceFacts() == 0);
  const auto facts = *a.store.Facts(0, 100);
  CHECK(facts.back().seq() == last);
  std::vector<std::string> kinds;
  for (const auto& f : facts) {
    kinds.push_back(f.has_deduction() ? absl::StrCat("deduction ", f.deduction().id())
                    : f.has_incident() ? absl::StrCat("incident ", f.incident().id())
                                       : absl::StrCat("work_order ", f.work_order().id()));
  }
  CHECK(kinds == std::vector<std::string>{absl::StrCat("work_order ", o.id()), absl::StrCat("deduction ", found.id()),
                                          absl::StrCat("incident ", registered.id()),
                                          absl::StrCat("deduction ", registered.deduction_id()),
                                          absl::StrCat("deduction ", corrected.id())});
  CHECK(facts[3].deduction().incident_id() == registered.id());
  CHECK(facts[3].deduction().type() == v1::DEDUCTION_TYPE_DIRECT);
  CHECK(facts[3].deduction().standard_code() == "ERR-L2");
  CHECK(facts[4].deduction().supersedes_id() == found.id());
  for (size_t i = 1; i < facts.size(); ++i) CHECK(facts[i].seq() > facts[i - 1].seq());
  CHECK(a.store.Facts(facts.back().seq(), 100)->empty());
}

}  // namespace
}  // namespace aw::audit
