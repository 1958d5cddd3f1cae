// Reading batches for tests, written compactly.
#pragma once

#include <string>
#include <tuple>
#include <vector>

#include "auditwatch/v1/ingest.pb.h"

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

}  // namespace aw::testing
