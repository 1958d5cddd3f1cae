// The data formats of a report document: CSV (UTF-8 with a BOM, quoted by
// libcsv; per part a "#part" line, its notes, its header and rows), XML
// (libxml2's writer, valid against schema/report.xsd) and JSON (protobuf's
// JSON mapping). Pure.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "auditwatch/v1/report.pb.h"

namespace aw::report {

namespace v1 = ::auditwatch::v1;

// The XML namespace of the XML format (schema/report.xsd).
inline constexpr char kXmlNamespace[] = "urn:auditwatch:report:v1";

absl::StatusOr<std::string> RenderCsv(const v1::ReportDocument& doc);
absl::StatusOr<std::string> RenderXml(const v1::ReportDocument& doc);
absl::StatusOr<std::string> RenderJson(const v1::ReportDocument& doc);

}  // namespace aw::report
