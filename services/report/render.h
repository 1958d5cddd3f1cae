// Writes a report document in the format asked for: Excel (xlsx_writer),
// HTML (html_writer), CSV, XML or JSON (data_writers). Pure: a document in,
// the file's bytes out.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "auditwatch/v1/report.pb.h"

namespace aw::report {

namespace v1 = ::auditwatch::v1;

absl::StatusOr<std::string> Render(const v1::ReportDocument& doc, v1::ExportFormat format);

}  // namespace aw::report
