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

// An indicator of category billing, system-computed, effective from 2025.
struct IndicatorSpec {
  std::string code;
  auditwatch::v1::RollupRule rollup = auditwatch::v1::ROLLUP_RULE_NONE;
  std::string unit_of_measure = "%";
  double min_value = 0, max_value = 100;
  std::vector<auditwatch::v1::PeriodType> period_types = {auditwatch::v1::PERIOD_TYPE_MONTH};
  auditwatch::v1::Direction direction = auditwatch::v1::DIRECTION_HIGHER_IS_BETTER;
  int deadline_days = 0;
};

// Creates (or updates) the indicator; fails the test on error.
inline void CreateIndicator(auditwatch::v1::IngestService::Stub& ingest, const IndicatorSpec& spec) {
  auditwatch::v1::UpsertIndicatorRequest req;
  auditwatch::v1::Indicator* i = req.mutable_indicator();
  i->set_code(spec.code);
  i->set_name_zh(spec.code);
  i->set_category(auditwatch::v1::BUSINESS_CATEGORY_BILLING);
  i->set_kind(auditwatch::v1::INDICATOR_KIND_SYSTEM);
  i->set_direction(spec.direction);
  for (auto t : spec.period_types) i->add_allowed_period_types(t);
  i->set_min_value(spec.min_value);
  i->set_max_value(spec.max_value);
  i->set_unit_of_measure(spec.unit_of_measure);
  i->set_rollup(spec.rollup);
  i->set_deadline_days(spec.deadline_days);
  i->set_enabled(true);
  i->set_effective_year(2025);
  req.set_actor("tester");
  grpc::ClientContext ctx;
  auditwatch::v1::Indicator out;
  const grpc::Status s = ingest.UpsertIndicator(&ctx, req, &out);
  INFO(s.error_message());
  REQUIRE(s.ok());
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

// Two counties of one city: D1 (stations S1, S2) and D2 (station S3).
inline const std::vector<UnitSpec>& TwoCounties() {
  static const std::vector<UnitSpec> kTree = {{"P", auditwatch::v1::UNIT_TYPE_PROVINCE, ""},
                                              {"C1", auditwatch::v1::UNIT_TYPE_CITY_BUREAU, "P"},
                                              {"D1", auditwatch::v1::UNIT_TYPE_COUNTY_COMPANY, "C1"},
                                              {"S1", auditwatch::v1::UNIT_TYPE_SUPPLY_STATION, "D1"},
                                              {"S2", auditwatch::v1::UNIT_TYPE_SUPPLY_STATION, "D1"},
                                              {"D2", auditwatch::v1::UNIT_TYPE_COUNTY_COMPANY, "C1"},
                                              {"S3", auditwatch::v1::UNIT_TYPE_SUPPLY_STATION, "D2"}};
  return kTree;
}

}  // namespace aw::testing
