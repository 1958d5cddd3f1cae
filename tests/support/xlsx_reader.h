// Reads an .xlsx back for tests: it is a zip (libzip) of XML parts (libxml2,
// XPath). Sheet names, cell values (shared strings resolved), hyperlinks, the
// frozen pane, and each sheet's charts with their type and series ranges.
// Link with libzip and libxml2.
#pragma once

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xpath.h>
#include <libxml/xpathInternals.h>
#include <zip.h>

#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace aw::testing {

class XlsxReader {
 public:
  struct Series {
    std::string name_ref, categories, values;  // formulas, e.g. 'Sheet'!$A$3:$A$9
  };
  struct Chart {
    std::string type;  // "barChart", "lineChart", "pieChart", "doughnutChart"
    std::vector<Series> series;
    std::string first_slice_angle;  // doughnut: "270"
    std::vector<bool> hidden_points;  // per data point of the first series: no fill
  };

  explicit XlsxReader(const std::string& bytes) {
    zip_error_t error;
    zip_error_init(&error);
    zip_source_t* src = zip_source_buffer_create(bytes.data(), bytes.size(), 0, &error);
    zip_t* z = src ? zip_open_from_source(src, ZIP_RDONLY, &error) : nullptr;
    if (z == nullptr) throw std::runtime_error("not a zip");
    for (zip_int64_t i = 0; i < zip_get_num_entries(z, 0); ++i) {
      zip_stat_t st;
      zip_stat_index(z, i, 0, &st);
      zip_file_t* f = zip_fopen_index(z, i, 0);
      std::string content(st.size, '\0');
      zip_fread(f, content.data(), st.size);
      zip_fclose(f);
      parts_[st.name] = content;
    }
    zip_close(z);
    ReadSharedStrings();
  }

  bool Has(const std::string& part) const { return parts_.count(part) > 0; }
  const std::string& Part(const std::string& part) const { return parts_.at(part); }

  std::vector<std::string> SheetNames() const {
    return Strings(Part("xl/workbook.xml"), "//m:sheets/m:sheet/@name");
  }
  // The value of `cell` ("B3") on sheet `index` (0-based): text, or a number
  // as stored; "" when empty.
  std::string Cell(int index, const std::string& cell) const {
    const std::string& xml = Part(SheetPath(index));
    const std::string base = "//m:sheetData/m:row/m:c[@r='" + cell + "']";
    const std::vector<std::string> type = Strings(xml, base + "/@t");
    const std::vector<std::string> v = Strings(xml, base + "/m:v");
    if (v.empty()) return "";
    if (!type.empty() && type[0] == "s") return shared_.at(std::stoul(v[0]));
    return v[0];
  }
  double Number(int index, const std::string& cell) const { return std::stod(Cell(index, cell)); }
  // Internal hyperlinks of a sheet: cell → location ("'Sheet'!A1").
  std::map<std::string, std::string> Links(int index) const {
    const std::string& xml = Part(SheetPath(index));
    std::map<std::string, std::string> out;
    const std::vector<std::string> refs = Strings(xml, "//m:hyperlinks/m:hyperlink/@ref");
    const std::vector<std::string> locations = Strings(xml, "//m:hyperlinks/m:hyperlink/@location");
    for (size_t i = 0; i < refs.size() && i < locations.size(); ++i) out[refs[i]] = locations[i];
    return out;
  }
  // The top-left cell of the scrolling pane ("A4": three rows frozen), or "".
  std::string FrozenAt(int index) const {
    const std::vector<std::string> s = Strings(Part(SheetPath(index)), "//m:sheetView/m:pane[@state='frozen']/@topLeftCell");
    return s.empty() ? "" : s[0];
  }
  std::vector<Chart> Charts(int index) const {
    std::vector<Chart> out;
    const std::string rels = "xl/worksheets/_rels/sheet" + std::to_string(index + 1) + ".xml.rels";
    if (!Has(rels)) return out;
    for (const std::string& drawing : Strings(Part(rels), "//p:Relationship[contains(@Type,'drawing')]/@Target")) {
      const std::string name = drawing.substr(drawing.rfind('/') + 1);
      const std::string drels = "xl/drawings/_rels/" + name + ".rels";
      if (!Has(drels)) continue;
      for (const std::string& chart : Strings(Part(drels), "//p:Relationship[contains(@Type,'chart')]/@Target")) {
        const std::string& xml = Part("xl/charts/" + chart.substr(chart.rfind('/') + 1));
        Chart c;
        for (const char* t : {"barChart", "lineChart", "pieChart", "doughnutChart"}) {
          if (!Strings(xml, std::string("//c:plotArea/c:") + t).empty() ||
              Count(xml, std::string("//c:plotArea/c:") + t) > 0) {
            c.type = t;
          }
        }
        const int n = Count(xml, "//c:ser");
        for (int i = 1; i <= n; ++i) {
          const std::string ser = "(//c:ser)[" + std::to_string(i) + "]";
          Series s;
          s.name_ref = First(xml, ser + "/c:tx/c:strRef/c:f");
          s.categories = First(xml, ser + "/c:cat//c:f");
          s.values = First(xml, ser + "/c:val//c:f");
          c.series.push_back(s);
        }
        c.first_slice_angle = First(xml, "//c:firstSliceAng/@val");
        const int points = Count(xml, "(//c:ser)[1]/c:dPt");
        for (int i = 1; i <= points; ++i) {
          c.hidden_points.push_back(Count(xml, "(//c:ser)[1]/c:dPt[" + std::to_string(i) + "]/c:spPr/a:noFill") > 0);
        }
        out.push_back(c);
      }
    }
    return out;
  }

  // XPath over one part (prefixes m, r, p, c, a).
  static std::vector<std::string> Strings(const std::string& xml, const std::string& xpath) {
    std::vector<std::string> out;
    Eval(xml, xpath, [&](xmlXPathObjectPtr r) {
      if (r->nodesetval == nullptr) return;
      for (int i = 0; i < r->nodesetval->nodeNr; ++i) {
        xmlChar* s = xmlNodeGetContent(r->nodesetval->nodeTab[i]);
        out.emplace_back(s ? reinterpret_cast<const char*>(s) : "");
        xmlFree(s);
      }
    });
    return out;
  }
  static int Count(const std::string& xml, const std::string& xpath) {
    int n = 0;
    Eval(xml, xpath, [&](xmlXPathObjectPtr r) { n = r->nodesetval ? r->nodesetval->nodeNr : 0; });
    return n;
  }
  static std::string First(const std::string& xml, const std::string& xpath) {
    const std::vector<std::string> s = Strings(xml, xpath);
    return s.empty() ? "" : s[0];
  }

 private:
  static std::string SheetPath(int index) { return "xl/worksheets/sheet" + std::to_string(index + 1) + ".xml"; }

  template <typename Fn>
  static void Eval(const std::string& xml, const std::string& xpath, Fn fn) {
    xmlDocPtr doc = xmlReadMemory(xml.data(), static_cast<int>(xml.size()), "part.xml", nullptr, XML_PARSE_NONET);
    if (doc == nullptr) throw std::runtime_error("part is not XML");
    xmlXPathContextPtr ctx = xmlXPathNewContext(doc);
    const std::pair<const char*, const char*> ns[] = {
        {"m", "http://schemas.openxmlformats.org/spreadsheetml/2006/main"},
        {"r", "http://schemas.openxmlformats.org/officeDocument/2006/relationships"},
        {"p", "http://schemas.openxmlformats.org/package/2006/relationships"},
        {"c", "http://schemas.openxmlformats.org/drawingml/2006/chart"},
        {"a", "http://schemas.openxmlformats.org/drawingml/2006/main"}};
    for (const auto& [prefix, uri] : ns) {
      xmlXPathRegisterNs(ctx, reinterpret_cast<const xmlChar*>(prefix), reinterpret_cast<const xmlChar*>(uri));
    }
    xmlXPathObjectPtr r = xmlXPathEvalExpression(reinterpret_cast<const xmlChar*>(xpath.c_str()), ctx);
    if (r != nullptr) fn(r);
    xmlXPathFreeObject(r);
    xmlXPathFreeContext(ctx);
    xmlFreeDoc(doc);
  }

  void ReadSharedStrings() {
    if (Has("xl/sharedStrings.xml")) shared_ = Strings(Part("xl/sharedStrings.xml"), "//m:si");
  }

  std::map<std::string, std::string> parts_;
  std::vector<std::string> shared_;
};

// "A1"-style reference of a 0-based row and column.
inline std::string CellRef(int row, int col) {
  std::string letters;
  for (int c = col + 1; c > 0; c = (c - 1) / 26) letters.insert(letters.begin(), static_cast<char>('A' + (c - 1) % 26));
  return letters + std::to_string(row + 1);
}

}  // namespace aw::testing
