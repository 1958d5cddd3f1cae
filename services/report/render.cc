#include "services/report/render.h"

#include "services/report/data_writers.h"
#include "services/report/html_writer.h"
#include "services/report/xlsx_writer.h"

namespace aw::report {

absl::StatusOr<std::string> Render(const v1::ReportDocument& doc, v1::ExportFormat format) {
  switch (format) {
    case v1::EXPORT_FORMAT_XLSX: return RenderXlsx(doc);
    case v1::EXPORT_FORMAT_HTML: return RenderHtml(doc);
    case v1::EXPORT_FORMAT_CSV: return RenderCsv(doc);
    case v1::EXPORT_FORMAT_XML: return RenderXml(doc);
    case v1::EXPORT_FORMAT_JSON: return RenderJson(doc);
    default: return absl::InvalidArgumentError("format: not one the service writes");
  }
}

}  // namespace aw::report
