// The HTML format of a report document: one self-contained page with inline
// SVG charts, built as a libxml2 tree. Pure.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "auditwatch/v1/report.pb.h"

namespace aw::report {

namespace v1 = ::auditwatch::v1;

absl::StatusOr<std::string> RenderHtml(const v1::ReportDocument& doc);

}  // namespace aw::report
