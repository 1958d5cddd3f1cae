// Report parameters for tests and benchmarks: a kind and format of a unit's
// subtree for a period.
#pragma once

#include <string>

#include "auditwatch/v1/report.pb.h"

namespace aw::testing {

inline auditwatch::v1::ReportParams ReportParamsOf(auditwatch::v1::ReportKind kind, auditwatch::v1::ExportFormat format,
                                                   const std::string& unit, const std::string& period) {
  auditwatch::v1::ReportParams p;
  p.set_kind(kind);
  p.set_format(format);
  p.mutable_scope()->set_unit_code(unit);
  p.mutable_scope()->set_include_descendants(true);
  p.mutable_period()->set_key(period);
  return p;
}

}  // namespace aw::testing
