// The Excel format of a report document (libxlsxwriter): a sheet per part
// with its native charts. Pure: the workbook's bytes (written through a
// temporary file, the only way libxlsxwriter 1.1 writes).
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "auditwatch/v1/report.pb.h"

namespace aw::report {

namespace v1 = ::auditwatch::v1;

absl::StatusOr<std::string> RenderXlsx(const v1::ReportDocument& doc);

}  // namespace aw::report
