// Every format of one hand-made document, read back: the workbook's sheets,
// cells, links and charts (type and series ranges); the HTML's sections,
// charts and links; CSV, XML and JSON parsed back and compared.
#include "services/report/data_writers.h"
#include "services/report/html_writer.h"
#include "services/report/layout.h"
#include "services/report/xlsx_writer.h"

#include <csv.h>
#include <google/protobuf/util/json_util.h>
#include <google/protobuf/util/message_differencer.h>
#include <libxml/HTMLparser.h>

#include <catch2/catch.hpp>
#include <cstdio>
#include <fstream>
#include <tuple>
#include <variant>

#include "common/timestamp.h"
#include "tests/support/xlsx_reader.h"

namespace aw::report {
namespace {

using testing::CellRef;
using testing::XlsxReader;

v1::ReportDocument Sample() {
  v1::ReportDocument doc;
  doc.set_title("月度总结和评价 测试省 2025-03");
  doc.mutable_params()->set_kind(v1::REPORT_KIND_MONTHLY_SUMMARY);
  doc.mutable_params()->set_format(v1::EXPORT_FORMAT_XLSX);
  doc.mutable_params()->mutable_scope()->set_unit_code("P");
  doc.mutable_params()->mutable_scope()->set_include_descendants(true);
  doc.mutable_params()->mutable_period()->set_type(v1::PERIOD_TYPE_MONTH);
  doc.mutable_params()->mutable_period()->set_key("2025-03");
  doc.set_scope_name("测试省");
  SetTimestamp(absl::FromUnixSeconds(1743465600), doc.mutable_as_of());
  SetTimestamp(absl::FromUnixSeconds(1743469200), doc.mutable_generated_at());
  doc.set_generated_by("auditor-1");

  v1::ReportPart* gauge = doc.add_parts();
  gauge->set_id("summary");
  gauge->set_title("月度概览");
  gauge->add_notes("注：测试");
  for (auto [key, title, type] : {std::tuple{"item", "项目", v1::COLUMN_TYPE_TEXT},
                                  std::tuple{"value", "数值", v1::COLUMN_TYPE_NUMBER}}) {
    auto* c = gauge->add_columns();
    c->set_key(key);
    c->set_title(title);
    c->set_type(type);
  }
  auto row = [](v1::ReportPart* p, std::initializer_list<std::variant<std::string, double, std::monostate>> cells,
                std::string link = "") {
    auto* r = p->add_rows();
    for (const auto& v : cells) {
      auto* c = r->add_cells();
      if (auto* s = std::get_if<std::string>(&v)) c->set_text(*s);
      if (auto* d = std::get_if<double>(&v)) c->set_number(*d);
    }
    if (!link.empty()) r->mutable_cells(0)->set_link(link);
  };
  row(gauge, {std::string("综合得分"), 87.25});
  row(gauge, {std::string("参评单位"), 3.0});
  auto* g = gauge->add_charts();
  g->set_type(v1::CHART_TYPE_GAUGE);
  g->set_title("综合得分");
  g->set_category_column(0);
  g->add_value_columns(1);
  g->set_rows(1);
  g->set_gauge_max(100);

  v1::ReportPart* ranking = doc.add_parts();
  ranking->set_id("ranking");
  ranking->set_title("下级单位排名");
  for (auto [key, title, type] : {std::tuple{"unit", "单位", v1::COLUMN_TYPE_TEXT},
                                  std::tuple{"composite", "综合得分", v1::COLUMN_TYPE_NUMBER},
                                  std::tuple{"rate", "整改率", v1::COLUMN_TYPE_PERCENT},
                                  std::tuple{"rank", "排名", v1::COLUMN_TYPE_INTEGER}}) {
    auto* c = ranking->add_columns();
    c->set_key(key);
    c->set_title(title);
    c->set_type(type);
  }
  row(ranking, {std::string("甲局"), 91.5, 0.5, 1.0}, "summary");
  row(ranking, {std::string("乙局, \"东\""), 80.0, std::monostate{}, 2.0});
  row(ranking, {std::string("丙局"), 0.1, 1.0 / 3, 3.0});
  for (auto [type, values] : {std::pair{v1::CHART_TYPE_BAR, std::vector<int>{1, 2}},
                              std::pair{v1::CHART_TYPE_LINE, std::vector<int>{1}},
                              std::pair{v1::CHART_TYPE_PIE, std::vector<int>{1}}}) {
    auto* c = ranking->add_charts();
    c->set_type(type);
    c->set_title("图");
    c->set_category_column(0);
    for (int v : values) c->add_value_columns(v);
  }
  auto* top2 = ranking->add_charts();
  top2->set_type(v1::CHART_TYPE_BAR);
  top2->set_title("前2名");
  top2->set_category_column(0);
  top2->add_value_columns(1);
  top2->set_rows(2);
  return doc;
}

TEST_CASE("The workbook has a sheet per part with its cells, number formats, links and native charts", "[report][xlsx]") {
  const auto bytes = RenderXlsx(Sample());
  REQUIRE(bytes.ok());
  XlsxReader x(*bytes);
  CHECK(x.SheetNames() == std::vector<std::string>{"月度概览", "下级单位排名"});
  // Title, one note, then the header (row 3) and the data.
  CHECK(x.Cell(0, "A1") == "月度概览");
  CHECK(x.Cell(0, "A2") == "注：测试");
  CHECK(x.Cell(0, "A3") == "项目");
  CHECK(x.Cell(0, "A4") == "综合得分");
  CHECK(x.Number(0, "B4") == 87.25);
  CHECK(x.FrozenAt(0) == "A4");
  CHECK(x.Cell(1, "A2") == "单位");
  CHECK(x.Cell(1, "A4") == "乙局, \"东\"");
  CHECK(x.Number(1, "C5") == Approx(1.0 / 3));
  CHECK(x.Cell(1, "C4").empty());
  CHECK(x.FrozenAt(1) == "A3");
  CHECK(x.Links(1) == std::map<std::string, std::string>{{"A3", "'月度概览'!A1"}});
  // The font is named for Chinese text; the percent format is there.
  CHECK(x.Part("xl/styles.xml").find("Microsoft YaHei") != std::string::npos);
  CHECK(x.Part("xl/styles.xml").find("0.0%") != std::string::npos);

  const auto gauge = x.Charts(0);
  REQUIRE(gauge.size() == 1);
  CHECK(gauge[0].type == "doughnutChart");
  CHECK(gauge[0].first_slice_angle == "270");
  REQUIRE(gauge[0].series.size() == 1);
  CHECK(gauge[0].hidden_points == std::vector<bool>{false, false, true});
  // Its three cells: the value, the rest of the dial, the hidden half.
  const std::string helper = gauge[0].series[0].values;
  CHECK(helper == "'月度概览'!$S$4:$S$6");
  CHECK(x.Number(0, "S4") == 87.25);
  CHECK(x.Number(0, "S5") == Approx(12.75));
  CHECK(x.Number(0, "S6") == 100);

  const auto charts = x.Charts(1);
  REQUIRE(charts.size() == 4);
  CHECK(charts[0].type == "barChart");
  REQUIRE(charts[0].series.size() == 2);
  CHECK(charts[0].series[0].categories == "'下级单位排名'!$A$3:$A$5");
  CHECK(charts[0].series[0].values == "'下级单位排名'!$B$3:$B$5");
  CHECK(charts[0].series[0].name_ref == "'下级单位排名'!$B$2");
  CHECK(charts[0].series[1].values == "'下级单位排名'!$C$3:$C$5");
  CHECK(charts[1].type == "lineChart");
  CHECK(charts[2].type == "pieChart");
  REQUIRE(charts[2].series.size() == 1);
  CHECK(charts[3].series[0].values == "'下级单位排名'!$B$3:$B$4");
}

TEST_CASE("Sheet names are cut to 31 characters, cleaned and unique", "[report][xlsx]") {
  v1::ReportDocument doc;
  doc.add_parts()->set_title("一二三四五六七八九十一二三四五六七八九十一二三四五六七八九十一二三");
  doc.add_parts()->set_title("一二三四五六七八九十一二三四五六七八九十一二三四五六七八九十一二三");
  doc.add_parts()->set_title("a/b:c[d]");
  const auto names = SheetNames(doc);
  CHECK(names[0] == "一二三四五六七八九十一二三四五六七八九十一二三四五六七八九十一");
  CHECK(names[1] == "一二三四五六七八九十一二三四五六七八九十一二三四五六七八(2)");
  CHECK(names[2] == "abcd");
}

// Counts the elements an XPath selects in an HTML page.
int CountHtml(htmlDocPtr doc, const std::string& xpath) {
  xmlXPathContextPtr ctx = xmlXPathNewContext(doc);
  xmlXPathObjectPtr r = xmlXPathEvalExpression(reinterpret_cast<const xmlChar*>(xpath.c_str()), ctx);
  const int n = r && r->nodesetval ? r->nodesetval->nodeNr : 0;
  xmlXPathFreeObject(r);
  xmlXPathFreeContext(ctx);
  return n;
}

TEST_CASE("The HTML page is self-contained, with a section per part, SVG charts and drill-down links", "[report][html]") {
  const auto page = RenderHtml(Sample());
  REQUIRE(page.ok());
  CHECK(page->rfind("<!DOCTYPE html>", 0) == 0);
  CHECK(page->find("综合得分") != std::string::npos);  // UTF-8, not character references
  CHECK(page->find("<script") == std::string::npos);
  CHECK(page->find("src=") == std::string::npos);
  CHECK(page->find("@media print") != std::string::npos);
  htmlDocPtr doc = htmlReadMemory(page->data(), static_cast<int>(page->size()), "r.html", "UTF-8",
                                  HTML_PARSE_NONET | HTML_PARSE_NOERROR | HTML_PARSE_NOWARNING);
  REQUIRE(doc != nullptr);
  CHECK(CountHtml(doc, "//section[@class='part']") == 2);
  CHECK(CountHtml(doc, "//meta[@content='text/html; charset=UTF-8']") == 1);
  CHECK(CountHtml(doc, "//figure[@data-type='gauge']//path[@class='gauge-value']") == 1);
  // Three categories by two series, and two bars of the top-2 chart.
  CHECK(CountHtml(doc, "(//figure[@data-type='bar'])[1]//rect[@class='bar']") == 6);
  CHECK(CountHtml(doc, "(//figure[@data-type='bar'])[2]//rect[@class='bar']") == 2);
  CHECK(CountHtml(doc, "//figure[@data-type='line']//circle[@class='point']") == 3);
  CHECK(CountHtml(doc, "//figure[@data-type='pie']//path[@class='slice']") == 3);
  CHECK(CountHtml(doc, "//a[@class='drill' and @href='#summary']") == 1);
  CHECK(CountHtml(doc, "//section[@id='summary']") == 1);
  CHECK(CountHtml(doc, "//td[@class='num' and @data-value='0.1']") == 1);
  xmlFreeDoc(doc);
}

TEST_CASE("CSV is UTF-8 with a BOM, quoted by libcsv, and reads back to the same cells", "[report][csv]") {
  const v1::ReportDocument doc = Sample();
  const auto csv = RenderCsv(doc);
  REQUIRE(csv.ok());
  REQUIRE(csv->rfind("\xEF\xBB\xBF", 0) == 0);
  struct Rows {
    std::vector<std::vector<std::string>> rows{{}};
  } out;
  csv_parser p;
  REQUIRE(csv_init(&p, CSV_APPEND_NULL) == 0);
  csv_parse(&p, csv->data() + 3, csv->size() - 3,
            [](void* s, size_t n, void* data) {
              static_cast<Rows*>(data)->rows.back().emplace_back(static_cast<const char*>(s), n);
            },
            [](int, void* data) { static_cast<Rows*>(data)->rows.emplace_back(); }, &out);
  csv_fini(&p, nullptr, nullptr, &out);
  csv_free(&p);
  // Report line; then per part: "#part", its notes, the header and the rows.
  std::vector<std::vector<std::string>> want = {{"#report", doc.title(), "2025-03", "2025-04-01T00:00:00Z"},
                                                {"#part", "summary", "月度概览"},
                                                {"#note", "注：测试"},
                                                {"项目", "数值"}};
  for (const auto& r : doc.parts(0).rows()) want.push_back({r.cells(0).text(), DataText(r.cells(1))});
  want.push_back({"#part", "ranking", "下级单位排名"});
  want.push_back({"单位", "综合得分", "整改率", "排名"});
  want.push_back({"甲局", "91.5", "0.5", "1"});
  want.push_back({"乙局, \"东\"", "80", "", "2"});
  want.push_back({"丙局", "0.1", "0.3333333333333333", "3"});
  std::vector<std::vector<std::string>> got;
  for (auto& r : out.rows) {
    if (!r.empty()) got.push_back(r);  // libcsv skips blank lines
  }
  CHECK(got == want);
}

TEST_CASE("XML validates against the shipped schema and JSON reads back to the same document", "[report][xml][json]") {
  const v1::ReportDocument doc = Sample();
  const auto xml = RenderXml(doc);
  REQUIRE(xml.ok());
  const std::string path = "render_test_report.xml";
  std::ofstream(path, std::ios::binary) << *xml;
  const std::string command = std::string("xmllint --noout --schema ") + AW_REPORT_XSD + " " + path + " 2>&1";
  FILE* pipe = popen(command.c_str(), "r");
  std::string output(4096, '\0');
  output.resize(fread(output.data(), 1, output.size(), pipe));
  const int rc = pclose(pipe);
  INFO(output);
  CHECK(rc == 0);
  CHECK(output.find("validates") != std::string::npos);
  CHECK(xml->find("<number link=\"summary\">") == std::string::npos);
  CHECK(xml->find("<text link=\"summary\">甲局</text>") != std::string::npos);
  CHECK(xml->find("<number>0.3333333333333333</number>") != std::string::npos);

  // A broken document does not validate: the schema checks something.
  std::string broken = *xml;
  broken.replace(broken.find("CHART_TYPE_PIE"), 14, "CHART_TYPE_PIX");
  std::ofstream(path, std::ios::binary) << broken;
  CHECK(std::system((std::string("xmllint --noout --schema ") + AW_REPORT_XSD + " " + path + " 2>/dev/null").c_str()) != 0);

  const auto json = RenderJson(doc);
  REQUIRE(json.ok());
  v1::ReportDocument back;
  REQUIRE(google::protobuf::util::JsonStringToMessage(*json, &back).ok());
  CHECK(google::protobuf::util::MessageDifferencer::Equals(back, doc));
}

TEST_CASE("Charts draw their first rows, an empty cell as zero", "[report]") {
  const v1::ReportDocument doc = Sample();
  const ChartData bar = ChartDataOf(doc.parts(1), doc.parts(1).charts(0));
  CHECK(bar.categories == std::vector<std::string>{"甲局", "乙局, \"东\"", "丙局"});
  REQUIRE(bar.series.size() == 2);
  CHECK(bar.series[1].first == "整改率");
  CHECK(bar.series[1].second == std::vector<double>{0.5, 0, 1.0 / 3});
  CHECK(ChartRows(doc.parts(1), doc.parts(1).charts(3)) == 2);
  CHECK(DisplayText(doc.parts(1).rows(2).cells(2), v1::COLUMN_TYPE_PERCENT) == "33.3%");
  CHECK(DisplayText(doc.parts(1).rows(2).cells(3), v1::COLUMN_TYPE_INTEGER) == "3");
}

}  // namespace
}  // namespace aw::report
