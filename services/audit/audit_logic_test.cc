#include "services/audit/audit_logic.h"

#include <map>

#include <catch2/catch.hpp>

#include "absl/strings/match.h"
#include "common/timestamp.h"

namespace aw::audit {
namespace {

using S = v1::WorkOrderState;

v1::Principal Who(const std::string& subject, std::vector<v1::Role> roles, std::vector<std::string> units = {}) {
  v1::Principal p;
  p.set_subject(subject);
  for (auto r : roles) p.add_roles(r);
  for (auto& u : units) p.add_unit_codes(u);
  return p;
}

const std::vector<std::string> kPath = {"P", "C1", "D1", "S1"};

OrderFacts Order(S state, std::string submitter = "") {
  return OrderFacts{.state = state, .version = 3, .path = kPath, .last_submitter = std::move(submitter)};
}

constexpr S kStates[] = {S::WORK_ORDER_STATE_DRAFT,         S::WORK_ORDER_STATE_DISPATCHED,
                         S::WORK_ORDER_STATE_RECTIFYING,    S::WORK_ORDER_STATE_SUBMITTED,
                         S::WORK_ORDER_STATE_UNIT_APPROVED, S::WORK_ORDER_STATE_ARCHIVED,
                         S::WORK_ORDER_STATE_CANCELLED,     S::WORK_ORDER_STATE_FALSE_POSITIVE};
constexpr Action kActions[] = {Action::kDispatch,      Action::kStart,        Action::kSubmit,
                               Action::kUnitApprove,   Action::kUnitReject,   Action::kCentreApprove,
                               Action::kCentreReject,  Action::kCancel,       Action::kFalsePositive,
                               Action::kExtend};

// The whole table: (action, from) → to; every pair not listed is illegal.
const std::map<std::pair<Action, S>, S>& Legal() {
  static const auto* table = new std::map<std::pair<Action, S>, S>{
      {{Action::kDispatch, S::WORK_ORDER_STATE_DRAFT}, S::WORK_ORDER_STATE_DISPATCHED},
      {{Action::kStart, S::WORK_ORDER_STATE_DISPATCHED}, S::WORK_ORDER_STATE_RECTIFYING},
      {{Action::kSubmit, S::WORK_ORDER_STATE_RECTIFYING}, S::WORK_ORDER_STATE_SUBMITTED},
      {{Action::kUnitApprove, S::WORK_ORDER_STATE_SUBMITTED}, S::WORK_ORDER_STATE_UNIT_APPROVED},
      {{Action::kUnitReject, S::WORK_ORDER_STATE_SUBMITTED}, S::WORK_ORDER_STATE_RECTIFYING},
      {{Action::kCentreApprove, S::WORK_ORDER_STATE_UNIT_APPROVED}, S::WORK_ORDER_STATE_ARCHIVED},
      {{Action::kCentreReject, S::WORK_ORDER_STATE_UNIT_APPROVED}, S::WORK_ORDER_STATE_RECTIFYING},
      {{Action::kCancel, S::WORK_ORDER_STATE_DRAFT}, S::WORK_ORDER_STATE_CANCELLED},
      {{Action::kCancel, S::WORK_ORDER_STATE_DISPATCHED}, S::WORK_ORDER_STATE_CANCELLED},
      {{Action::kCancel, S::WORK_ORDER_STATE_RECTIFYING}, S::WORK_ORDER_STATE_CANCELLED},
      {{Action::kCancel, S::WORK_ORDER_STATE_SUBMITTED}, S::WORK_ORDER_STATE_CANCELLED},
      {{Action::kCancel, S::WORK_ORDER_STATE_UNIT_APPROVED}, S::WORK_ORDER_STATE_CANCELLED},
      {{Action::kFalsePositive, S::WORK_ORDER_STATE_DISPATCHED}, S::WORK_ORDER_STATE_FALSE_POSITIVE},
      {{Action::kFalsePositive, S::WORK_ORDER_STATE_RECTIFYING}, S::WORK_ORDER_STATE_FALSE_POSITIVE},
      {{Action::kFalsePositive, S::WORK_ORDER_STATE_SUBMITTED}, S::WORK_ORDER_STATE_FALSE_POSITIVE},
      {{Action::kFalsePositive, S::WORK_ORDER_STATE_UNIT_APPROVED}, S::WORK_ORDER_STATE_FALSE_POSITIVE},
      {{Action::kExtend, S::WORK_ORDER_STATE_DRAFT}, S::WORK_ORDER_STATE_DRAFT},
      {{Action::kExtend, S::WORK_ORDER_STATE_DISPATCHED}, S::WORK_ORDER_STATE_DISPATCHED},
      {{Action::kExtend, S::WORK_ORDER_STATE_RECTIFYING}, S::WORK_ORDER_STATE_RECTIFYING},
      {{Action::kExtend, S::WORK_ORDER_STATE_SUBMITTED}, S::WORK_ORDER_STATE_SUBMITTED},
      {{Action::kExtend, S::WORK_ORDER_STATE_UNIT_APPROVED}, S::WORK_ORDER_STATE_UNIT_APPROVED},
  };
  return *table;
}

bool ByCentre(Action a) {
  return a != Action::kStart && a != Action::kSubmit && a != Action::kUnitApprove && a != Action::kUnitReject;
}

TEST_CASE("Every action in every state leads where the table says, or is refused naming the state and what is allowed",
          "[audit]") {
  const v1::Principal centre = Who("centre.a", {v1::ROLE_CENTRE_AUDITOR});
  const v1::Principal unit = Who("d1.b", {v1::ROLE_UNIT_SPECIALIST}, {"D1"});
  int legal = 0, illegal = 0;
  for (S from : kStates) {
    for (Action a : kActions) {
      INFO(StateName(from) << " " << ActionName(a));
      const auto it = Legal().find({a, from});
      CHECK(Target(a, from) == (it == Legal().end() ? S::WORK_ORDER_STATE_UNSPECIFIED : it->second));
      const auto decided = Decide(a, Order(from, "d1.submitter"), ByCentre(a) ? centre : unit, 3);
      if (it != Legal().end()) {
        ++legal;
        REQUIRE(decided.ok());
        CHECK(*decided == it->second);
      } else {
        ++illegal;
        REQUIRE(decided.status().code() == absl::StatusCode::kFailedPrecondition);
        const std::string message(decided.status().message());
        CHECK(message.find("work order is " + StateName(from)) != std::string::npos);
        CHECK(message.find(std::string("cannot be ") + ActionName(a)) != std::string::npos);
        std::vector<std::string> allowed;
        for (Action b : AllowedFrom(from)) {
          CHECK(message.find(ActionName(b)) != std::string::npos);
        }
        if (Ended(from)) CHECK(message.find("nothing (it has ended)") != std::string::npos);
      }
    }
  }
  CHECK(legal == 21);
  CHECK(illegal == 80 - 21);
}

TEST_CASE("Each action needs its side's role, a unit inside the caller's subtree and the expected version",
          "[audit]") {
  const v1::Principal centre = Who("centre.a", {v1::ROLE_CENTRE_AUDITOR});
  const v1::Principal unit = Who("d1.b", {v1::ROLE_UNIT_SPECIALIST}, {"D1"});
  const v1::Principal other_county = Who("d2.c", {v1::ROLE_UNIT_SPECIALIST}, {"D2"});
  const v1::Principal viewer = Who("d1.v", {v1::ROLE_UNIT_VIEWER}, {"D1"});
  const v1::Principal admin = Who("ops.admin", {v1::ROLE_CENTRE_ADMIN});
  for (const auto& [key, to] : Legal()) {
    const auto& [a, from] = key;
    INFO(StateName(from) << " " << ActionName(a));
    const OrderFacts order = Order(from, "d1.submitter");
    // The other side's role does not do.
    const auto wrong_side = Decide(a, order, ByCentre(a) ? unit : centre, 3);
    CHECK(wrong_side.status().code() == absl::StatusCode::kPermissionDenied);
    CHECK(Decide(a, order, viewer, 3).status().code() == absl::StatusCode::kPermissionDenied);
    // An administrator holds every role.
    CHECK(Decide(a, order, admin, 3).ok());
    if (!ByCentre(a)) {
      const auto outside = Decide(a, order, other_county, 3);
      REQUIRE(outside.status().code() == absl::StatusCode::kPermissionDenied);
      CHECK(std::string(outside.status().message()).find("outside the units of d2.c") != std::string::npos);
    }
    const auto stale = Decide(a, order, ByCentre(a) ? centre : unit, 2);
    REQUIRE(stale.status().code() == absl::StatusCode::kAborted);
    CHECK(std::string(stale.status().message()).find("version 3, not 2") != std::string::npos);
  }
  // A specialist of the city above covers the station's order; one of the station itself too.
  CHECK(Decide(Action::kStart, Order(S::WORK_ORDER_STATE_DISPATCHED), Who("c1", {v1::ROLE_UNIT_SPECIALIST}, {"C1"}), 3)
            .ok());
  CHECK(Decide(Action::kStart, Order(S::WORK_ORDER_STATE_DISPATCHED), Who("s1", {v1::ROLE_UNIT_SPECIALIST}, {"S1"}), 3)
            .ok());
}

TEST_CASE("Whoever submitted a rectification reviews it at neither stage (four eyes)", "[audit]") {
  const v1::Principal both = Who("d1.b", {v1::ROLE_UNIT_SPECIALIST, v1::ROLE_CENTRE_AUDITOR});
  for (Action a : {Action::kUnitApprove, Action::kUnitReject}) {
    const auto own = Decide(a, Order(S::WORK_ORDER_STATE_SUBMITTED, "d1.b"), both, 3);
    REQUIRE(own.status().code() == absl::StatusCode::kPermissionDenied);
    CHECK(std::string(own.status().message()).find("four eyes") != std::string::npos);
    CHECK(Decide(a, Order(S::WORK_ORDER_STATE_SUBMITTED, "d1.other"), both, 3).ok());
  }
  for (Action a : {Action::kCentreApprove, Action::kCentreReject}) {
    CHECK(Decide(a, Order(S::WORK_ORDER_STATE_UNIT_APPROVED, "d1.b"), both, 3).status().code() ==
          absl::StatusCode::kPermissionDenied);
  }
  // Not a review: the submitter may cancel nothing, but a centre auditor who did not submit may.
  CHECK(Decide(Action::kCancel, Order(S::WORK_ORDER_STATE_SUBMITTED, "d1.b"), both, 3).ok());
}

TEST_CASE("Commands and rectifications are validated naming the field", "[audit]") {
  v1::WorkOrderCommand c;
  CHECK(ValidateCommand(c).message() == "command.work_order_id: required");
  c.set_work_order_id(4);
  CHECK(absl::StartsWith(ValidateCommand(c).message(), "command.expected_version: required"));
  c.set_expected_version(1);
  CHECK(absl::StartsWith(ValidateCommand(c).message(), "command.idempotency_key: required"));
  c.set_idempotency_key("k-1");
  CHECK(ValidateCommand(c).ok());

  v1::Rectification r;
  CHECK(ValidateRectification(r).message() == "rectification.result: required (整改结果)");
  r.set_result("  ");
  CHECK(!ValidateRectification(r).ok());
  r.set_result("电价已更正");
  CHECK(ValidateRectification(r).ok());
  r.add_attachments("");
  CHECK(ValidateRectification(r).message() == "rectification.attachments[0]: a reference of 1 to 500 characters");

  const absl::Time now = absl::FromUnixSeconds(1'800'000'000);
  google::protobuf::Timestamp t;
  CHECK(ValidateDeadline(t, now, "deadline").message() == "deadline: required");
  SetTimestamp(now, &t);
  CHECK(!ValidateDeadline(t, now, "deadline").ok());
  SetTimestamp(now + absl::Seconds(1), &t);
  CHECK(ValidateDeadline(t, now, "deadline").ok());
}

TEST_CASE("A warning level's actions decide between a task and a supervision order", "[audit]") {
  v1::Rule rule;
  auto* l1 = rule.add_levels();
  l1->set_level(1);
  l1->add_actions(v1::WARNING_ACTION_ONLINE_AUDIT);
  l1->add_actions(v1::WARNING_ACTION_NOTIFY);
  auto* l2 = rule.add_levels();
  l2->set_level(2);
  l2->add_actions(v1::WARNING_ACTION_SUPERVISION_ORDER);
  auto* l3 = rule.add_levels();
  l3->set_level(3);
  l3->add_actions(v1::WARNING_ACTION_NOTIFY);
  CHECK(ActionsOf(rule, 1).task);
  CHECK_FALSE(ActionsOf(rule, 1).supervision);
  CHECK(ActionsOf(rule, 2).supervision);
  CHECK_FALSE(ActionsOf(rule, 2).task);
  CHECK_FALSE(ActionsOf(rule, 3).task);
  CHECK_FALSE(ActionsOf(rule, 3).supervision);
  CHECK_FALSE(ActionsOf(rule, 4).task);
}

TEST_CASE("Supervision escalates one unit up per period overdue, never past the root", "[audit]") {
  const absl::Duration day = absl::Hours(24);
  CHECK(EscalationAfter(absl::ZeroDuration(), 3 * day, 4) == 1);
  CHECK(EscalationAfter(3 * day - absl::Seconds(1), 3 * day, 4) == 1);
  CHECK(EscalationAfter(3 * day, 3 * day, 4) == 2);
  CHECK(EscalationAfter(7 * day, 3 * day, 4) == 3);
  CHECK(EscalationAfter(100 * day, 3 * day, 4) == 4);
  CHECK(SupervisedUnit(kPath, 1) == "S1");
  CHECK(SupervisedUnit(kPath, 2) == "D1");
  CHECK(SupervisedUnit(kPath, 4) == "P");
  CHECK(LeaderOf("D1") == "leader of D1");
}

TEST_CASE("A timer marks an order overdue at its deadline, then reminds and escalates on the configured cycle",
          "[audit]") {
  const absl::Time deadline = absl::FromUnixSeconds(1'800'000'000);
  const SupervisionPolicy policy{.remind_every = absl::Hours(24), .escalate_after = absl::Hours(72)};
  DueTimer t{.work_order_id = 9, .kind = "deadline", .due_at = deadline,
             .state = S::WORK_ORDER_STATE_RECTIFYING, .has_deadline = true, .deadline = deadline,
             .overdue = false, .path = kPath, .escalation = 0};
  // At the deadline: overdue, the unit's leader is told, reminders begin a day later.
  TimerDecision d = DecideTimer(t, deadline + absl::Milliseconds(300), policy);
  CHECK(d.mark_overdue);
  CHECK(d.raise == std::vector<int>{1});
  CHECK_FALSE(d.remind);
  CHECK_FALSE(d.rearm.has_value());
  REQUIRE(d.arm_remind.has_value());
  CHECK(*d.arm_remind == deadline + absl::Milliseconds(300) + absl::Hours(24));
  // A submitted order owes nothing: the timer goes.
  t.state = S::WORK_ORDER_STATE_SUBMITTED;
  d = DecideTimer(t, deadline, policy);
  CHECK_FALSE(d.mark_overdue);
  CHECK(d.raise.empty());
  CHECK_FALSE(d.rearm.has_value());
  CHECK_FALSE(d.arm_remind.has_value());
  // A deadline moved into the future: fire then.
  t.state = S::WORK_ORDER_STATE_DISPATCHED;
  d = DecideTimer(t, deadline - absl::Hours(1), policy);
  CHECK(d.rearm == deadline);
  // Reminders: a day later a reminder; three days later the parent's leader; six days the grandparent's.
  t.kind = "remind";
  t.overdue = true;
  t.escalation = 1;
  d = DecideTimer(t, deadline + absl::Hours(24), policy);
  CHECK(d.remind);
  CHECK(d.raise.empty());
  CHECK(d.rearm == deadline + absl::Hours(48));
  d = DecideTimer(t, deadline + absl::Hours(48), policy);
  CHECK(d.rearm == deadline + absl::Hours(72));  // the escalation comes before the next reminder
  d = DecideTimer(t, deadline + absl::Hours(72), policy);
  CHECK(d.raise == std::vector<int>{2});
  CHECK_FALSE(d.remind);
  // A replica down for a week raises every level it missed, once.
  d = DecideTimer(t, deadline + absl::Hours(24 * 7), policy);
  CHECK(d.raise == std::vector<int>{2, 3});
  // Ended orders and orders no longer overdue stop their timers.
  t.state = S::WORK_ORDER_STATE_ARCHIVED;
  CHECK_FALSE(DecideTimer(t, deadline + absl::Hours(24), policy).rearm.has_value());
  t.state = S::WORK_ORDER_STATE_RECTIFYING;
  t.overdue = false;
  CHECK_FALSE(DecideTimer(t, deadline + absl::Hours(24), policy).rearm.has_value());
}

TEST_CASE("Rates show numerator and denominator, and a zero denominator is undefined", "[audit]") {
  const v1::Rate half = MakeRate(1, 2);
  CHECK(half.defined());
  CHECK(half.value() == 0.5);
  const v1::Rate none = MakeRate(0, 0);
  CHECK_FALSE(none.defined());
  CHECK(none.value() == 0);
  CHECK(none.denominator() == 0);
}

TEST_CASE("Rates of a subtree count its units' orders and anomalous theme pairs", "[audit]") {
  absl::flat_hash_map<std::string, std::vector<std::string>> paths = {
      {"P", {"P"}}, {"C1", {"P", "C1"}}, {"S1", {"P", "C1", "S1"}}, {"S2", {"P", "C1", "S2"}}, {"C2", {"P", "C2"}}};
  std::vector<OrderTally> tallies = {
      {"S1", "T-A", S::WORK_ORDER_STATE_ARCHIVED, false, 2},
      {"S1", "T-A", S::WORK_ORDER_STATE_RECTIFYING, true, 1},
      {"S2", "T-B", S::WORK_ORDER_STATE_FALSE_POSITIVE, false, 1},
      {"S2", "T-B", S::WORK_ORDER_STATE_CANCELLED, true, 5},  // cancelled orders count nowhere
      {"C2", "T-A", S::WORK_ORDER_STATE_DISPATCHED, true, 1},
  };
  auto row = [](const std::string& unit, const std::string& theme) {
    v1::AnomalySummaryRow r;
    r.set_unit_code(unit);
    r.set_theme_code(theme);
    r.set_events(1);
    return r;
  };
  AnomalyRows a;
  a.now = {row("S1", "T-A"), row("S2", "T-A"), row("S2", "T-B"), row("C2", "T-A")};
  a.before = {row("S1", "T-A"), row("S2", "T-B")};
  a.year_first = {row("S1", "T-A"), row("S2", "T-A"), row("S2", "T-B"), row("S1", "T-C"), row("C2", "T-A")};
  v1::Period period;
  period.set_key("2026-03");
  const auto rates = ComputeRates({"C1", "C2", "P"}, paths, tallies, a, period);
  REQUIRE(rates.size() == 3);
  const v1::UnitRates& c1 = rates[0];
  CHECK(c1.unit_code() == "C1");
  // Dispatched 4 (2 archived, 1 rectifying, 1 false positive); 1 ever overdue.
  CHECK(c1.completion().numerator() == 3);
  CHECK(c1.completion().denominator() == 4);
  CHECK(c1.rectification().numerator() == 2);
  CHECK(c1.rectification().denominator() == 3);
  CHECK(c1.overdue().numerator() == 1);
  CHECK(c1.overdue().denominator() == 4);
  // Anomalous pairs (T-A,S1) (T-A,S2) (T-B,S2); orders exist for (T-A,S1) and (T-B,S2).
  CHECK(c1.initiation().numerator() == 2);
  CHECK(c1.initiation().denominator() == 3);
  // 3 now against 2 before: +50 %; 4 in January against 3 now: 25 % cleared.
  CHECK(c1.indicator_change().numerator() == 1);
  CHECK(c1.indicator_change().denominator() == 2);
  CHECK(c1.cumulative_completion().numerator() == 1);
  CHECK(c1.cumulative_completion().denominator() == 4);
  const v1::UnitRates& c2 = rates[1];
  CHECK(c2.completion().numerator() == 0);
  CHECK(c2.completion().denominator() == 1);
  CHECK_FALSE(c2.indicator_change().defined());  // nothing anomalous before
  CHECK(c2.period().key() == "2026-03");
  const v1::UnitRates& p = rates[2];
  CHECK(p.completion().denominator() == 5);
  CHECK(p.initiation().numerator() == 3);
  CHECK(p.initiation().denominator() == 4);
}

TEST_CASE("Quality checks find missing and unrealistic deadlines, empty causes and measures, plans without tasks "
          "and whitelist entries without reason or too long",
          "[audit]") {
  const absl::Time t0 = absl::FromUnixSeconds(1'800'000'000);
  const QualityLimits limits;
  std::vector<CheckedOrder> orders = {
      {.id = 1, .unit_code = "S1", .state = S::WORK_ORDER_STATE_DRAFT},
      {.id = 2, .unit_code = "S1", .state = S::WORK_ORDER_STATE_DISPATCHED, .has_deadline = true,
       .dispatched_at = t0, .deadline = t0 + absl::Hours(2)},
      {.id = 3, .unit_code = "S2", .state = S::WORK_ORDER_STATE_SUBMITTED, .has_deadline = true,
       .dispatched_at = t0, .deadline = t0 + absl::Hours(24 * 7), .rectified = true, .cause_analysis = " ",
       .measures = "换表"},
      {.id = 4, .unit_code = "S2", .state = S::WORK_ORDER_STATE_ARCHIVED, .has_deadline = true, .dispatched_at = t0,
       .deadline = t0 + absl::Hours(24 * 7), .rectified = true, .cause_analysis = "抄表错误", .measures = ""},
      {.id = 5, .unit_code = "S2", .state = S::WORK_ORDER_STATE_CANCELLED},
      {.id = 6, .unit_code = "S2", .state = S::WORK_ORDER_STATE_DISPATCHED, .has_deadline = true,
       .dispatched_at = t0, .deadline = t0 + absl::Hours(24 * 200)},
  };
  std::vector<std::string> got;
  for (const auto& f : CheckOrders(orders, limits)) got.push_back(f.code() + " " + f.subject());
  CHECK(got == std::vector<std::string>{"MISSING_DEADLINE work_order 1", "UNREALISTIC_DEADLINE work_order 2",
                                        "MISSING_CAUSE_ANALYSIS work_order 3", "MISSING_MEASURES work_order 4",
                                        "UNREALISTIC_DEADLINE work_order 6"});

  std::vector<CheckedPlan> plans = {
      {.id = 7, .name = "电费专项", .unit_code = "C1", .first_day = absl::CivilDay(2026, 3, 1),
       .last_day = absl::CivilDay(2026, 3, 31), .themes = {"T-A", "T-B"}, .themes_with_tasks = {"T-A"}},
      {.id = 8, .name = "未开始", .unit_code = "C1", .first_day = absl::CivilDay(2026, 5, 1),
       .last_day = absl::CivilDay(2026, 5, 31), .themes = {"T-A"}},
  };
  const auto plan_findings = CheckPlans(plans, absl::CivilDay(2026, 3, 10));
  REQUIRE(plan_findings.size() == 1);
  CHECK(plan_findings[0].code() == "TASK_NOT_INITIATED");
  CHECK(plan_findings[0].subject() == "plan 7");
  CHECK(plan_findings[0].message().find("theme T-B") != std::string::npos);

  std::vector<v1::WhitelistEntry> entries(3);
  for (int i = 0; i < 3; ++i) {
    entries[i].set_id(i + 1);
    SetTimestamp(t0, entries[i].mutable_frozen_from());
    SetTimestamp(t0 + absl::Hours(24 * 10), entries[i].mutable_frozen_until());
    entries[i].set_reason("季节性用电，已核实");
  }
  entries[1].set_reason("ok");
  SetTimestamp(t0 + absl::Hours(24 * 45), entries[2].mutable_frozen_until());
  got.clear();
  for (const auto& f : CheckWhitelist(entries, limits)) got.push_back(f.code() + " " + f.subject());
  CHECK(got == std::vector<std::string>{"WHITELIST_NO_REASON whitelist 2", "WHITELIST_FREEZE_TOO_LONG whitelist 3"});
}

TEST_CASE("Deduction standard items are validated and direct items are found by kind and level", "[audit]") {
  v1::DeductionStandard s;
  CHECK(ValidateStandard(s).message() == "standard.code: required, at most 64 characters");
  s.set_code("BILL-01");
  s.set_year(2026);
  s.set_description("电费差错");
  CHECK(ValidateStandard(s).message() == "standard.points: more than 0, at most 100");
  s.set_points(2);
  CHECK(ValidateStandard(s).ok());
  s.set_incident_level(2);
  CHECK(!ValidateStandard(s).ok());
  s.set_direct(true);
  CHECK(ValidateStandard(s).message() == "standard.incident_kind: required for a direct item");
  s.set_incident_kind(v1::INCIDENT_KIND_MARKETING_ERROR);
  CHECK(ValidateStandard(s).ok());
  s.set_enabled(true);
  std::vector<v1::DeductionStandard> items = {s};
  CHECK(DirectItemFor(items, v1::INCIDENT_KIND_MARKETING_ERROR, 2, 2026)->code() == "BILL-01");
  CHECK(DirectItemFor(items, v1::INCIDENT_KIND_MARKETING_ERROR, 1, 2026).status().code() ==
        absl::StatusCode::kNotFound);
  CHECK(DirectItemFor(items, v1::INCIDENT_KIND_MARKETING_ERROR, 2, 2025).status().code() ==
        absl::StatusCode::kNotFound);
  items[0].set_enabled(false);
  CHECK(!DirectItemFor(items, v1::INCIDENT_KIND_MARKETING_ERROR, 2, 2026).ok());
}

}  // namespace
}  // namespace aw::audit
