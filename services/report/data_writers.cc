// The data formats: CSV (libcsv), XML (libxml2's xmlTextWriter) and JSON
// (protobuf's JSON mapping).
#include "services/report/data_writers.h"

#include <csv.h>
#include <google/protobuf/util/json_util.h>
#include <google/protobuf/util/time_util.h>
#include <libxml/xmlwriter.h>

#include <memory>

#include "absl/strings/str_cat.h"
#include "common/number_text.h"
#include "services/report/layout.h"

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

}  // namespace

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
