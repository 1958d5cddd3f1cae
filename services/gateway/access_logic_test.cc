#include "services/gateway/access_logic.h"

#include <catch2/catch.hpp>

#include "absl/strings/match.h"
#include "auditwatch/v1/audit.grpc.pb.h"
#include "auditwatch/v1/ingest.grpc.pb.h"
#include "auditwatch/v1/monitor.grpc.pb.h"
#include "auditwatch/v1/report.grpc.pb.h"
#include "auditwatch/v1/scoring.grpc.pb.h"
#include "services/gateway/gateway_logic.h"

namespace aw::gateway {
namespace {

// A province with two cities; FT is a county of SZ with two stations.
UnitTree Tree() {
  UnitTree tree;
  tree.Add("GD", {"GD"});
  tree.Add("GD-SZ", {"GD", "GD-SZ"});
  tree.Add("GD-SZ-FT", {"GD", "GD-SZ", "GD-SZ-FT"});
  tree.Add("GD-SZ-FT-01", {"GD", "GD-SZ", "GD-SZ-FT", "GD-SZ-FT-01"});
  tree.Add("GD-SZ-FT-02", {"GD", "GD-SZ", "GD-SZ-FT", "GD-SZ-FT-02"});
  tree.Add("GD-SZ-LH", {"GD", "GD-SZ", "GD-SZ-LH"});
  tree.Add("GD-GZ", {"GD", "GD-GZ"});
  return tree;
}

v1::Principal County(std::vector<std::string> units = {"GD-SZ-FT"}) {
  v1::Principal p;
  p.set_subject("ft-specialist");
  p.add_roles(v1::ROLE_UNIT_SPECIALIST);
  for (auto& u : units) p.add_unit_codes(u);
  return p;
}

const UnitPlans& Plans() {
  static const UnitPlans* plans = new UnitPlans(
      {v1::ReadingBatch::descriptor(), v1::ListEventsRequest::descriptor(), v1::ListEventsResponse::descriptor(),
       v1::EventChange::descriptor(), v1::MoveUnitRequest::descriptor(), v1::GetCompletenessResponse::descriptor(),
       v1::ListUnitsResponse::descriptor(), v1::CreateUnitRequest::descriptor(), v1::GetIndicatorRequest::descriptor()});
  return *plans;
}

v1::ReadingInput* Row(v1::ReadingBatch* batch, const std::string& unit) {
  v1::ReadingInput* row = batch->add_rows();
  row->set_unit_code(unit);
  row->set_indicator_code("I1");
  return row;
}

v1::WarningEvent* Event(v1::ListEventsResponse* resp, const std::string& unit) {
  v1::WarningEvent* e = resp->add_events();
  e->set_unit_code(unit);
  return e;
}

}  // namespace

TEST_CASE("A method is for the roles of its access option and for administrators", "[gateway][access]") {
  const RouteTable routes = RouteTable::FromGeneratedPool();
  const Route* ingest = routes.Find("/auditwatch.v1.IngestService/IngestReadings");
  REQUIRE(ingest != nullptr);
  CHECK(ingest->roles == std::vector<v1::Role>{v1::ROLE_CENTRE_ADMIN, v1::ROLE_SYSTEM, v1::ROLE_UNIT_SPECIALIST});
  v1::Principal viewer;
  viewer.set_subject("v");
  viewer.add_roles(v1::ROLE_UNIT_VIEWER);
  const absl::Status refused = CheckRoles(ingest->roles, viewer, ingest->method);
  CHECK(refused.code() == absl::StatusCode::kPermissionDenied);
  CHECK(std::string(refused.message()) ==
        "/auditwatch.v1.IngestService/IngestReadings is for ROLE_CENTRE_ADMIN, ROLE_SYSTEM, ROLE_UNIT_SPECIALIST; v holds "
        "ROLE_UNIT_VIEWER");
  viewer.add_roles(v1::ROLE_SYSTEM);  // any role held will do
  CHECK(CheckRoles(ingest->roles, viewer, ingest->method).ok());
  v1::Principal admin;
  admin.add_roles(v1::ROLE_CENTRE_ADMIN);
  const Route* standard = routes.Find("/auditwatch.v1.AuditService/UpsertDeductionStandard");
  REQUIRE(standard != nullptr);
  CHECK(standard->roles == std::vector<v1::Role>{v1::ROLE_CENTRE_ADMIN});  // `{}`: administrators only
  CHECK(CheckRoles(standard->roles, admin, standard->method).ok());
  CHECK(CheckRoles(standard->roles, v1::Principal(), standard->method).code() == absl::StatusCode::kPermissionDenied);
}

TEST_CASE("Every routed method declares who may call it", "[gateway][access]") {
  const RouteTable routes = RouteTable::FromGeneratedPool();
  for (const auto& [method, route] : routes.routes()) {
    INFO(method);
    CHECK(route.descriptor->options().HasExtension(v1::access));
  }
}

TEST_CASE("Every request field named like a unit carries the unit option", "[gateway][access]") {
  // The contracts' rule, checked on names: a field called unit_code,
  // station_code, parent_code or scope (a UnitScope) in a request names a unit.
  const RouteTable routes = RouteTable::FromGeneratedPool();
  for (const auto& [method, route] : routes.routes()) {
    const auto* type = route.descriptor->input_type();
    for (int i = 0; i < type->field_count(); ++i) {
      const auto* f = type->field(i);
      const bool unit_like = f->name() == "unit_code" || f->name() == "station_code" ||
                             absl::EndsWith(f->name(), "parent_code") ||
                             (f->message_type() != nullptr && f->message_type() == v1::UnitScope::descriptor());
      if (!unit_like) continue;
      INFO(method << " " << f->full_name());
      CHECK(f->options().GetExtension(v1::unit));
      CHECK(route.request_units != nullptr);
    }
  }
  CHECK(routes.Find("/auditwatch.v1.IngestService/IngestReadings")->request_units != nullptr);  // rows[].unit_code
  CHECK(routes.Find("/auditwatch.v1.MonitorService/WatchEvents")->response_units != nullptr);    // event.unit_code
  CHECK(routes.Find("/auditwatch.v1.IngestService/GetIndicator")->request_units == nullptr);
}

TEST_CASE("The org tree: a unit is within a subtree when its path passes through the subtree's root",
          "[gateway][access]") {
  const UnitTree tree = Tree();
  const v1::Principal county = County();
  CHECK(tree.Within("GD-SZ-FT", county.unit_codes()));
  CHECK(tree.Within("GD-SZ-FT-02", county.unit_codes()));
  CHECK_FALSE(tree.Within("GD-SZ", county.unit_codes()));  // the parent is outside
  CHECK_FALSE(tree.Within("GD-SZ-LH", county.unit_codes()));
  CHECK_FALSE(tree.Within("GD-SZ-FT-03", county.unit_codes()));  // unknown
  CHECK_FALSE(tree.Knows("GD-SZ-FT-03"));
  CHECK(tree.Within("GD-GZ", County({"GD-SZ-FT", "GD-GZ"}).unit_codes()));
}

TEST_CASE("A request naming a unit outside the caller's subtree is refused naming the unit", "[gateway][access]") {
  const UnitTree tree = Tree();
  const UnitPlan* plan = Plans().For(v1::ReadingBatch::descriptor());
  REQUIRE(plan != nullptr);
  v1::ReadingBatch batch;
  Row(&batch, "GD-SZ-FT-01");
  Row(&batch, "GD-SZ-FT");
  CHECK(CheckUnits(*plan, batch, County(), tree).ok());
  Row(&batch, "GD-SZ-LH");
  Row(&batch, "GD-GZ");
  std::string unknown;
  const absl::Status s = CheckUnits(*plan, batch, County(), tree, &unknown);
  CHECK(s.code() == absl::StatusCode::kPermissionDenied);
  CHECK(std::string(s.message()) ==
        "unit GD-SZ-LH is outside the units of ft-specialist (GD-SZ-FT, with the units below them)");
  CHECK(unknown.empty());  // known, and outside

  v1::ReadingBatch fresh;
  Row(&fresh, "GD-SZ-FT-09");
  CHECK(CheckUnits(*plan, fresh, County(), tree, &unknown).code() == absl::StatusCode::kPermissionDenied);
  CHECK(unknown == "GD-SZ-FT-09");  // the caller may refresh the tree and ask again

  // A scope names its root unit; a move names both the unit and its new parent.
  v1::ListEventsRequest list;
  list.mutable_scope()->set_unit_code("GD-SZ");
  list.mutable_scope()->set_include_descendants(true);
  CHECK(CheckUnits(*Plans().For(v1::ListEventsRequest::descriptor()), list, County(), tree).code() ==
        absl::StatusCode::kPermissionDenied);
  v1::MoveUnitRequest move;
  move.set_code("GD-SZ-FT-01");
  move.set_new_parent_code("GD-SZ-LH");
  CHECK(absl::StrContains(CheckUnits(*Plans().For(v1::MoveUnitRequest::descriptor()), move, County(), tree).message(),
                          "unit GD-SZ-LH is outside"));
  // The code of a unit being created names no unit yet; its parent does.
  v1::CreateUnitRequest create;
  create.set_code("GD-SZ-FT-03");
  create.set_parent_code("GD-SZ-FT");
  CHECK(CheckUnits(*Plans().For(v1::CreateUnitRequest::descriptor()), create, County(), tree).ok());
  CHECK(Plans().For(v1::GetIndicatorRequest::descriptor()) == nullptr);
}

TEST_CASE("A list query without a scope is narrowed to the caller's one unit", "[gateway][access]") {
  const UnitPlan* plan = Plans().For(v1::ListEventsRequest::descriptor());
  REQUIRE(plan != nullptr);
  v1::ListEventsRequest list;
  list.add_levels(2);
  CHECK(NarrowScopes(*plan, &list, County()));
  CHECK(list.scope().unit_code() == "GD-SZ-FT");
  CHECK(list.scope().include_descendants());
  CHECK(list.levels_size() == 1);
  CHECK_FALSE(NarrowScopes(*plan, &list, County()));  // it has one now

  v1::ListEventsRequest narrower;
  narrower.mutable_scope()->set_unit_code("GD-SZ-FT-01");
  CHECK_FALSE(NarrowScopes(*plan, &narrower, County()));
  CHECK(narrower.scope().unit_code() == "GD-SZ-FT-01");
  CHECK_FALSE(narrower.scope().include_descendants());

  // With two subtrees no one scope says it: the answer is filtered instead.
  v1::ListEventsRequest two;
  CHECK_FALSE(NarrowScopes(*plan, &two, County({"GD-SZ-FT", "GD-GZ"})));
  CHECK_FALSE(two.has_scope());
}

TEST_CASE("Answers lose the elements naming units outside, and a record outside is reported", "[gateway][access]") {
  const UnitTree tree = Tree();
  const UnitPlan* plan = Plans().For(v1::ListEventsResponse::descriptor());
  REQUIRE(plan != nullptr);
  v1::ListEventsResponse resp;
  Event(&resp, "GD-SZ-FT-01")->set_id(1);
  Event(&resp, "GD-SZ-LH")->set_id(2);
  Event(&resp, "GD-SZ-FT")->set_id(3);
  Event(&resp, "GD")->set_id(4);
  Event(&resp, "GD-SZ-FT-02")->set_id(5);
  bool changed = false;
  CHECK(FilterUnits(*plan, &resp, County(), tree, &changed).empty());
  CHECK(changed);
  REQUIRE(resp.events_size() == 3);
  CHECK(resp.events(0).id() == 1);  // in order
  CHECK(resp.events(1).id() == 3);
  CHECK(resp.events(2).id() == 5);
  changed = false;
  CHECK(FilterUnits(*plan, &resp, County(), tree, &changed).empty());
  CHECK_FALSE(changed);

  // A feed message is one record: outside, it is reported whole.
  const UnitPlan* change_plan = Plans().For(v1::EventChange::descriptor());
  v1::EventChange change;
  change.set_seq(7);
  change.mutable_event()->set_unit_code("GD-GZ");
  CHECK(FilterUnits(*change_plan, &change, County(), tree, &changed) == "GD-GZ");
  v1::EventChange heartbeat;
  heartbeat.set_heartbeat(true);
  CHECK(FilterUnits(*change_plan, &heartbeat, County(), tree, &changed).empty());

  // Two repeated fields of one answer are filtered each.
  v1::GetCompletenessResponse completeness;
  completeness.add_missing()->set_unit_code("GD-SZ-LH");
  completeness.add_missing()->set_unit_code("GD-SZ-FT-01");
  completeness.add_units()->set_unit_code("GD-SZ-FT");
  completeness.add_units()->set_unit_code("GD-GZ");
  changed = false;
  CHECK(FilterUnits(*Plans().For(v1::GetCompletenessResponse::descriptor()), &completeness, County(), tree, &changed)
            .empty());
  CHECK(changed);
  REQUIRE(completeness.missing_size() == 1);
  CHECK(completeness.missing(0).unit_code() == "GD-SZ-FT-01");
  REQUIRE(completeness.units_size() == 1);
  CHECK(completeness.units(0).unit_code() == "GD-SZ-FT");

  // A unit's record is its own code's: a county's parent is not what it names.
  v1::ListUnitsResponse units;
  auto* ft = units.add_units();
  ft->set_code("GD-SZ-FT");
  ft->set_parent_code("GD-SZ");
  units.add_units()->set_code("GD-SZ");
  changed = false;
  CHECK(FilterUnits(*Plans().For(v1::ListUnitsResponse::descriptor()), &units, County(), tree, &changed).empty());
  REQUIRE(units.units_size() == 1);
  CHECK(units.units(0).code() == "GD-SZ-FT");
}

}  // namespace aw::gateway
