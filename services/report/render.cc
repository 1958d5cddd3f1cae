// The format dispatch, what the writers share, and the data formats: CSV
// (libcsv), XML (libxml2's xmlTextWriter) and JSON (protobuf's JSON mapping).
#include "services/report/render.h"

#include <csv.h>
#include <google/protobuf/util/json_util.h>
#include <google/protobuf/util/time_util.h>
#include <libxml/xmlwriter.h>

#include <algorithm>
#include <cmath>
#include <memory>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/number_text.h"

namespace aw::report {
namespace {

// --- CSV ------------------------------------------------------------------------

// One CSV line (RFC 4180: CRLF), each field quoted by libcsv.
void CsvLine(const std::vector<std::string>& fields, std::string* out) {
  for (size_t i = 0; i < fields.size(); ++i) {
    if (i > 0) out->push_back(',');
    std::string quoted(fields[i].size() * 2 + 2, '\0');
    quoted.resize(csv_write(quoted.data(), quoted.size(), fields[i].data(), fields[i].size()));
    out->append(quoted);
  }
  out->append("\r\n");
}

// --- XML ------------------------------------------------------------------------

struct WriterDeleter {
  void operator()(xmlTextWriter* w) const { xmlFreeTextWriter(w); }
};
struct BufferDeleter {
  void operator()(xmlBuffer* b) const { xmlBufferFree(b); }
};

// xmlTextWriter calls, failing once on the first error.
class Xml {
 public:
  explicit Xml(xmlTextWriter* w) : w_(w) {}
  const xmlChar* X(const std::string& s) { return reinterpret_cast<const xmlChar*>(s.c_str()); }
  void Start(const std::string& name) { Check(xmlTextWriterStartElement(w_, X(name))); }
  void End() { Check(xmlTextWriterEndElement(w_)); }
  void Attr(const std::string& name, const std::string& value) {
    Check(xmlTextWriterWriteAttribute(w_, X(name), X(value)));
  }
  void Element(const std::string& name, const std::string& text) {
    Check(xmlTextWriterWriteElement(w_, X(name), X(text)));
  }
  void Check(int rc) {
    if (rc < 0) ok_ = false;
  }
  bool ok() const { return ok_; }

 private:
  xmlTextWriter* w_;
  bool ok_ = true;
};

std::string Rfc3339(const google::protobuf::Timestamp& t) { return google::protobuf::util::TimeUtil::ToString(t); }

// Whole UTF-8 characters of `s`, at most `n`.
std::string Utf8Prefix(const std::string& s, size_t n) {
  size_t chars = 0, i = 0;
  while (i < s.size() && chars < n) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    i += c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
    ++chars;
  }
  return s.substr(0, std::min(i, s.size()));
}

}  // namespace

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

int ChartRows(const v1::ReportPart& part, const v1::ReportChart& chart) {
  return chart.rows() > 0 ? std::min(chart.rows(), part.rows_size()) : part.rows_size();
}

ChartData ChartDataOf(const v1::ReportPart& part, const v1::ReportChart& chart) {
  ChartData data;
  const int rows = ChartRows(part, chart);
  const v1::ColumnType category_type = chart.category_column() < part.columns_size()
                                           ? part.columns(chart.category_column()).type()
                                           : v1::COLUMN_TYPE_TEXT;
  for (int r = 0; r < rows; ++r) {
    const auto& cells = part.rows(r).cells();
    data.categories.push_back(chart.category_column() < cells.size()
                                  ? DisplayText(cells[chart.category_column()], category_type)
                                  : "");
  }
  for (int column : chart.value_columns()) {
    std::vector<double> values;
    for (int r = 0; r < rows; ++r) {
      const auto& cells = part.rows(r).cells();
      values.push_back(column < cells.size() && cells[column].has_number() ? cells[column].number() : 0.0);
    }
    data.series.emplace_back(column < part.columns_size() ? part.columns(column).title() : "", std::move(values));
  }
  return data;
}

std::string DisplayText(const v1::ReportCell& cell, v1::ColumnType type) {
  if (cell.has_text()) return cell.text();
  if (!cell.has_number()) return "";
  switch (type) {
    case v1::COLUMN_TYPE_INTEGER: return absl::StrFormat("%.0f", cell.number());
    case v1::COLUMN_TYPE_PERCENT: return absl::StrFormat("%.1f%%", cell.number() * 100);
    default: return absl::StrFormat("%.2f", cell.number());
  }
}

std::string DataText(const v1::ReportCell& cell) {
  if (cell.has_text()) return cell.text();
  return cell.has_number() ? NumberText(cell.number()) : "";
}

std::vector<std::string> SheetNames(const v1::ReportDocument& doc) {
  std::vector<std::string> names;
  absl::flat_hash_set<std::string> taken;
  for (const auto& part : doc.parts()) {
    std::string base;
    for (char c : part.title()) {
      if (std::string_view("[]:*?/\\").find(c) == std::string_view::npos) base.push_back(c);
    }
    if (base.empty()) base = part.id();
    std::string name = Utf8Prefix(base, 31);
    for (int n = 2; taken.contains(name); ++n) {
      const std::string suffix = absl::StrCat("(", n, ")");
      name = Utf8Prefix(base, 31 - suffix.size()) + suffix;
    }
    taken.insert(name);
    names.push_back(std::move(name));
  }
  return names;
}

absl::StatusOr<std::string> RenderCsv(const v1::ReportDocument& doc) {
  std::string out = "\xEF\xBB\xBF";  // UTF-8 BOM: Excel then reads the Chinese text right
  CsvLine({"#report", doc.title(), doc.params().period().key(), Rfc3339(doc.as_of())}, &out);
  for (const auto& part : doc.parts()) {
    out.append("\r\n");
    CsvLine({"#part", part.id(), part.title()}, &out);
    for (const auto& note : part.notes()) CsvLine({"#note", note}, &out);
    std::vector<std::string> fields;
    for (const auto& c : part.columns()) fields.push_back(c.title());
    CsvLine(fields, &out);
    for (const auto& row : part.rows()) {
      fields.clear();
      for (const auto& cell : row.cells()) fields.push_back(DataText(cell));
      CsvLine(fields, &out);
    }
  }
  return out;
}

absl::StatusOr<std::string> RenderXml(const v1::ReportDocument& doc) {
  std::unique_ptr<xmlBuffer, BufferDeleter> buffer(xmlBufferCreate());
  std::unique_ptr<xmlTextWriter, WriterDeleter> writer(xmlNewTextWriterMemory(buffer.get(), 0));
  if (!buffer || !writer) return absl::ResourceExhaustedError("xml: cannot allocate a writer");
  xmlTextWriterSetIndent(writer.get(), 1);
  Xml x(writer.get());
  x.Check(xmlTextWriterStartDocument(writer.get(), nullptr, "UTF-8", nullptr));
  x.Start("report");
  x.Attr("xmlns", kXmlNamespace);
  x.Element("title", doc.title());
  x.Element("kind", v1::ReportKind_Name(doc.params().kind()));
  x.Start("scope");
  x.Attr("unit", doc.params().scope().unit_code());
  x.Attr("includeDescendants", doc.params().scope().include_descendants() ? "true" : "false");
  x.Attr("name", doc.scope_name());
  x.End();
  x.Start("period");
  x.Attr("type", v1::PeriodType_Name(doc.params().period().type()));
  x.Attr("key", doc.params().period().key());
  x.End();
  if (!doc.params().measure().empty()) x.Element("measure", doc.params().measure());
  x.Element("asOf", Rfc3339(doc.as_of()));
  x.Element("generatedAt", Rfc3339(doc.generated_at()));
  x.Element("generatedBy", doc.generated_by());
  for (const auto& part : doc.parts()) {
    x.Start("part");
    x.Attr("id", part.id());
    x.Attr("title", part.title());
    for (const auto& note : part.notes()) x.Element("note", note);
    for (const auto& c : part.columns()) {
      x.Start("column");
      x.Attr("key", c.key());
      x.Attr("type", v1::ColumnType_Name(c.type()));
      x.Attr("title", c.title());
      x.End();
    }
    for (const auto& row : part.rows()) {
      x.Start("row");
      for (const auto& cell : row.cells()) {
        x.Start(cell.has_text() ? "text" : cell.has_number() ? "number" : "empty");
        if (!cell.link().empty()) x.Attr("link", cell.link());
        if (cell.has_text() || cell.has_number()) x.Check(xmlTextWriterWriteString(writer.get(), x.X(DataText(cell))));
        x.End();
      }
      x.End();
    }
    for (const auto& chart : part.charts()) {
      x.Start("chart");
      x.Attr("type", v1::ChartType_Name(chart.type()));
      x.Attr("title", chart.title());
      x.Attr("categoryColumn", absl::StrCat(chart.category_column()));
      x.Attr("rows", absl::StrCat(chart.rows()));
      if (chart.type() == v1::CHART_TYPE_GAUGE) x.Attr("gaugeMax", NumberText(chart.gauge_max()));
      for (int v : chart.value_columns()) {
        x.Start("value");
        x.Attr("column", absl::StrCat(v));
        x.End();
      }
      x.End();
    }
    x.End();
  }
  x.End();
  x.Check(xmlTextWriterEndDocument(writer.get()));
  writer.reset();  // flushes into the buffer
  if (!x.ok()) return absl::InternalError("xml: the writer failed");
  return std::string(reinterpret_cast<const char*>(xmlBufferContent(buffer.get())), xmlBufferLength(buffer.get()));
}

absl::StatusOr<std::string> RenderJson(const v1::ReportDocument& doc) {
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = true;
  options.preserve_proto_field_names = true;
  std::string out;
  if (auto s = google::protobuf::util::MessageToJsonString(doc, &out, options); !s.ok()) {
    return absl::InternalError(absl::StrCat("json: ", s.ToString()));
  }
  return out;
}

}  // namespace aw::report
