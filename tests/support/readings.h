// Reading batches for tests, written compactly.
#pragma once

#include <string>
#include <tuple>
#include <vector>

#include <catch2/catch.hpp>

#include "auditwatch/v1/ingest.grpc.pb.h"

namespace aw::testing {

// (unit code, indicator code, period key, value)
using Row = std::tuple<std::string, std::string, std::string, double>;

// A batch from source "billing" with one ReadingInput per row, entered by "system".
inline auditwatch::v1::ReadingBatch MakeBatch(const std::string& id, const std::vector<Row>& rows) {
  auditwatch::v1::ReadingBatch b;
  b.set_batch_id(id);
  b.set_source("billing");
  for (const auto& [unit, indicator, period, value] : rows) {
    auditwatch::v1::ReadingInput* r = b.add_rows();
    r->set_unit_code(unit);
    r->set_indicator_code(indicator);
    r->mutable_period()->set_key(period);
    r->set_value(value);
    r->set_entered_by("system");
  }
  return b;
}

// (code, type, parent code) of a unit to create.
using UnitSpec = std::tuple<std::string, auditwatch::v1::UnitType, std::string>;

// Creates the units in order, effective from `from`; fails the test on error.
inline void CreateUnits(auditwatch::v1::IngestService::Stub& ingest, const std::vector<UnitSpec>& units,
                        const std::string& from = "2025-01-01") {
  for (const auto& [code, type, parent] : units) {
    auditwatch::v1::CreateUnitRequest req;
    req.set_code(code);
    req.set_name("Unit " + code);
    req.set_type(type);
    req.set_parent_code(parent);
    req.set_effective_from(from);
    req.set_actor("tester");
    grpc::ClientContext ctx;
    auditwatch::v1::Unit out;
    const grpc::Status s = ingest.CreateUnit(&ctx, req, &out);
    INFO(s.error_message());
    REQUIRE(s.ok());
  }
}

// P → C1 → D1 → S1, S2
inline const std::vector<UnitSpec>& SmallTree() {
  static const std::vector<UnitSpec> kTree = {{"P", auditwatch::v1::UNIT_TYPE_PROVINCE, ""},
                                              {"C1", auditwatch::v1::UNIT_TYPE_CITY_BUREAU, "P"},
                                              {"D1", auditwatch::v1::UNIT_TYPE_DISTRICT_BUREAU, "C1"},
                                              {"S1", auditwatch::v1::UNIT_TYPE_SUPPLY_STATION, "D1"},
                                              {"S2", auditwatch::v1::UNIT_TYPE_SUPPLY_STATION, "D1"}};
  return kTree;
}

}  // namespace aw::testing
