// The HTML format: one self-contained page (no script, no outside file), built
// as a libxml2 HTML tree and serialised by libxml2, so every text and
// attribute is escaped by the library. Each part is a section with its charts
// as inline SVG (bars, lines with points, pie slices, a half-circle gauge) and
// its table; a drill-down cell links to its target section. The print
// stylesheet starts each part on a new page and repeats table headers.
#include <libxml/HTMLtree.h>
#include <libxml/tree.h>

#include <algorithm>
#include <cmath>
#include <memory>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "services/report/layout.h"
#include "services/report/html_writer.h"

namespace aw::report {
namespace {

constexpr char kStyle[] = R"css(
body { font-family: "Microsoft YaHei", "PingFang SC", "Noto Sans CJK SC", "WenQuanYi Micro Hei", sans-serif;
       margin: 24px; color: #222; font-size: 14px; }
h1 { font-size: 22px; margin: 0 0 4px; }
h2 { font-size: 18px; border-bottom: 2px solid #2e75b6; padding-bottom: 4px; margin-top: 32px; }
p.meta { color: #666; margin: 0 0 12px; }
p.note { color: #555; margin: 4px 0; }
nav.toc a { margin-right: 12px; }
div.charts { display: flex; flex-wrap: wrap; gap: 16px; margin: 8px 0 12px; }
figure.chart { margin: 0; border: 1px solid #ddd; padding: 8px; }
figure.chart figcaption { text-align: center; font-weight: bold; margin-bottom: 4px; }
svg text { font-family: inherit; font-size: 11px; fill: #333; }
table { border-collapse: collapse; margin-top: 8px; }
th, td { border: 1px solid #ccc; padding: 3px 8px; }
th { background: #d9e1f2; position: sticky; top: 0; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
tbody tr:nth-child(even) { background: #f7f9fc; }
@media print {
  body { margin: 0; font-size: 11px; }
  nav.toc { display: none; }
  section.part { break-before: page; page-break-before: always; }
  section.part:first-of-type { break-before: auto; page-break-before: auto; }
  thead { display: table-header-group; }
  tr, figure.chart { break-inside: avoid; page-break-inside: avoid; }
  th { position: static; }
}
)css";

constexpr const char* kPalette[] = {"#2e75b6", "#ed7d31", "#a5a5a5", "#ffc000", "#5b9bd5", "#70ad47", "#264478",
                                    "#9e480e", "#636363", "#997300"};

const xmlChar* X(const std::string& s) { return reinterpret_cast<const xmlChar*>(s.c_str()); }
const xmlChar* X(const char* s) { return reinterpret_cast<const xmlChar*>(s); }

std::string F(double v) { return absl::StrFormat("%.1f", v); }

// A node builder over libxml2's tree.
class Node {
 public:
  explicit Node(xmlNodePtr n) : n_(n) {}
  Node Add(const char* name, const std::string& text = "") {
    return Node(xmlNewTextChild(n_, nullptr, X(name), text.empty() ? nullptr : X(text)));
  }
  Node& Attr(const char* name, const std::string& value) {
    xmlNewProp(n_, X(name), X(value));
    return *this;
  }
  Node& Text(const std::string& text) {
    xmlAddChild(n_, xmlNewText(X(text)));
    return *this;
  }
  xmlNodePtr get() const { return n_; }

 private:
  xmlNodePtr n_;
};

struct DocDeleter {
  void operator()(xmlDoc* d) const { xmlFreeDoc(d); }
};

// --- Charts ---------------------------------------------------------------------

constexpr double kWidth = 640, kHeight = 300, kLeft = 56, kRight = 12, kTop = 16, kBottom = 72;

// Axes and gridlines for values from `lo` to `hi`; returns the y of a value.
struct YScale {
  double lo, hi;
  double Y(double v) const { return kTop + (hi - v) / (hi - lo) * (kHeight - kTop - kBottom); }
};

YScale ScaleOf(const ChartData& d) {
  double lo = 0, hi = 0;
  for (const auto& [name, values] : d.series) {
    for (double v : values) {
      lo = std::min(lo, v);
      hi = std::max(hi, v);
    }
  }
  if (hi == lo) hi = lo + 1;
  // A round step: 1, 2 or 5 times a power of ten, about 5 ticks.
  const double raw = (hi - lo) / 5;
  const double power = std::pow(10, std::floor(std::log10(raw)));
  const double step = raw / power <= 1 ? power : raw / power <= 2 ? 2 * power : raw / power <= 5 ? 5 * power : 10 * power;
  return {std::floor(lo / step) * step, std::ceil(hi / step) * step};
}

void Axes(Node& svg, const YScale& s, const ChartData& d, double slot) {
  const double step = (s.hi - s.lo) / 5;
  for (int i = 0; i <= 5; ++i) {
    const double v = s.lo + step * i;
    svg.Add("line").Attr("class", "grid").Attr("x1", F(kLeft)).Attr("x2", F(kWidth - kRight))
        .Attr("y1", F(s.Y(v))).Attr("y2", F(s.Y(v))).Attr("stroke", "#e5e5e5");
    svg.Add("text", absl::StrFormat("%g", std::round(v * 100) / 100)).Attr("x", F(kLeft - 6)).Attr("y", F(s.Y(v) + 4))
        .Attr("text-anchor", "end");
  }
  svg.Add("line").Attr("class", "axis").Attr("x1", F(kLeft)).Attr("x2", F(kWidth - kRight))
      .Attr("y1", F(s.Y(0))).Attr("y2", F(s.Y(0))).Attr("stroke", "#888");
  // Category labels, turned when they would crowd; every n-th one when many.
  const size_t every = std::max<size_t>(1, d.categories.size() / 24 + (d.categories.size() % 24 ? 1 : 0));
  for (size_t i = 0; i < d.categories.size(); i += every) {
    const double x = kLeft + slot * (i + 0.5);
    const double y = kHeight - kBottom + 14;
    svg.Add("text", d.categories[i]).Attr("class", "category").Attr("x", F(x)).Attr("y", F(y))
        .Attr("text-anchor", "end").Attr("transform", absl::StrCat("rotate(-35 ", F(x), " ", F(y), ")"));
  }
}

void Legend(Node& svg, const ChartData& d) {
  if (d.series.size() < 2) return;
  double x = kLeft;
  for (size_t i = 0; i < d.series.size(); ++i) {
    svg.Add("rect").Attr("class", "legend").Attr("x", F(x)).Attr("y", "2").Attr("width", "10").Attr("height", "10")
        .Attr("fill", kPalette[i % 10]);
    svg.Add("text", d.series[i].first).Attr("x", F(x + 14)).Attr("y", "11");
    x += 24 + 12.0 * static_cast<double>(d.series[i].first.size()) / 2;
  }
}

void Bars(Node& svg, const ChartData& d) {
  const double plot = kWidth - kLeft - kRight;
  const double slot = plot / std::max<size_t>(1, d.categories.size());
  const YScale s = ScaleOf(d);
  Axes(svg, s, d, slot);
  const double bar = slot * 0.8 / std::max<size_t>(1, d.series.size());
  for (size_t k = 0; k < d.series.size(); ++k) {
    const auto& [name, values] = d.series[k];
    for (size_t i = 0; i < values.size(); ++i) {
      const double x = kLeft + slot * i + slot * 0.1 + bar * k;
      const double y0 = s.Y(0), y1 = s.Y(values[i]);
      svg.Add("rect")
          .Attr("class", "bar")
          .Attr("x", F(x))
          .Attr("y", F(std::min(y0, y1)))
          .Attr("width", F(std::max(bar - 1, 1.0)))
          .Attr("height", F(std::abs(y1 - y0)))
          .Attr("fill", kPalette[k % 10])
          .Attr("data-value", absl::StrFormat("%.6g", values[i]))
          .Add("title", absl::StrCat(d.categories[i], " · ", name, ": ", absl::StrFormat("%.2f", values[i])));
    }
  }
  Legend(svg, d);
}

void Lines(Node& svg, const ChartData& d) {
  const double plot = kWidth - kLeft - kRight;
  const double slot = plot / std::max<size_t>(1, d.categories.size());
  const YScale s = ScaleOf(d);
  Axes(svg, s, d, slot);
  for (size_t k = 0; k < d.series.size(); ++k) {
    const auto& [name, values] = d.series[k];
    std::string points;
    for (size_t i = 0; i < values.size(); ++i) {
      absl::StrAppend(&points, i ? " " : "", F(kLeft + slot * (i + 0.5)), ",", F(s.Y(values[i])));
    }
    svg.Add("polyline").Attr("class", "line").Attr("points", points).Attr("fill", "none")
        .Attr("stroke", kPalette[k % 10]).Attr("stroke-width", "2");
    for (size_t i = 0; i < values.size(); ++i) {
      svg.Add("circle")
          .Attr("class", "point")
          .Attr("cx", F(kLeft + slot * (i + 0.5)))
          .Attr("cy", F(s.Y(values[i])))
          .Attr("r", "3.5")
          .Attr("fill", kPalette[k % 10])
          .Attr("data-value", absl::StrFormat("%.6g", values[i]))
          .Add("title", absl::StrCat(d.categories[i], " · ", name, ": ", absl::StrFormat("%.2f", values[i])));
    }
  }
  Legend(svg, d);
}

// An arc path from angle a0 to a1 (radians, clockwise from 12 o'clock).
std::string Sector(double cx, double cy, double r, double a0, double a1) {
  auto px = [&](double a) { return cx + r * std::sin(a); };
  auto py = [&](double a) { return cy - r * std::cos(a); };
  if (a1 - a0 >= 2 * M_PI - 1e-9) {  // the whole circle: two half arcs
    return absl::StrCat("M", F(cx), ",", F(cy - r), " A", F(r), ",", F(r), " 0 1 1 ", F(cx), ",", F(cy + r), " A",
                        F(r), ",", F(r), " 0 1 1 ", F(cx), ",", F(cy - r), " Z");
  }
  return absl::StrCat("M", F(cx), ",", F(cy), " L", F(px(a0)), ",", F(py(a0)), " A", F(r), ",", F(r), " 0 ",
                      a1 - a0 > M_PI ? 1 : 0, " 1 ", F(px(a1)), ",", F(py(a1)), " Z");
}

void Pie(Node& svg, const ChartData& d) {
  if (d.series.empty()) return;
  const std::vector<double>& values = d.series[0].second;
  double total = 0;
  for (double v : values) total += std::max(v, 0.0);
  const double cx = 150, cy = kHeight / 2, r = 120;
  double angle = 0;
  double legend_y = 30;
  for (size_t i = 0; i < values.size(); ++i) {
    if (values[i] <= 0 || total <= 0) continue;
    const double sweep = values[i] / total * 2 * M_PI;
    svg.Add("path")
        .Attr("class", "slice")
        .Attr("d", Sector(cx, cy, r, angle, angle + sweep))
        .Attr("fill", kPalette[i % 10])
        .Attr("stroke", "#fff")
        .Attr("data-value", absl::StrFormat("%.6g", values[i]))
        .Add("title", absl::StrCat(d.categories[i], ": ", absl::StrFormat("%.2f", values[i])));
    angle += sweep;
    svg.Add("rect").Attr("x", "300").Attr("y", F(legend_y - 10)).Attr("width", "10").Attr("height", "10")
        .Attr("fill", kPalette[i % 10]);
    svg.Add("text", absl::StrCat(d.categories[i], "  ", absl::StrFormat("%.2f", values[i]), "（",
                                 absl::StrFormat("%.1f", values[i] / total * 100), "%）"))
        .Attr("x", "316").Attr("y", F(legend_y));
    legend_y += 18;
  }
  if (total <= 0) svg.Add("text", "无数据").Attr("x", F(cx)).Attr("y", F(cy)).Attr("text-anchor", "middle");
}

void Gauge(Node& svg, const ChartData& d, double max) {
  const double value = d.series.empty() || d.series[0].second.empty() ? 0 : d.series[0].second[0];
  const double share = max > 0 ? std::clamp(value / max, 0.0, 1.0) : 0;
  const double cx = kWidth / 2, cy = 220, r = 160, inner = 100;
  // A band between two radii from the left end (−90°) through `share` of the half circle.
  auto band = [&](double from, double to) {
    const double a0 = -M_PI / 2 + from * M_PI, a1 = -M_PI / 2 + to * M_PI;
    auto p = [&](double radius, double a) { return absl::StrCat(F(cx + radius * std::sin(a)), ",", F(cy - radius * std::cos(a))); };
    return absl::StrCat("M", p(r, a0), " A", F(r), ",", F(r), " 0 0 1 ", p(r, a1), " L", p(inner, a1), " A", F(inner),
                        ",", F(inner), " 0 0 0 ", p(inner, a0), " Z");
  };
  svg.Add("path").Attr("class", "gauge-track").Attr("d", band(0, 1)).Attr("fill", "#d9d9d9");
  if (share > 0) {
    svg.Add("path").Attr("class", "gauge-value").Attr("d", band(0, share)).Attr("fill", kPalette[0])
        .Attr("data-value", absl::StrFormat("%.6g", value));
  }
  svg.Add("text", absl::StrFormat("%.2f", value)).Attr("class", "gauge-label").Attr("x", F(cx)).Attr("y", F(cy - 10))
      .Attr("text-anchor", "middle").Attr("style", "font-size: 32px; font-weight: bold");
  svg.Add("text", "0").Attr("x", F(cx - (r + inner) / 2)).Attr("y", F(cy + 16)).Attr("text-anchor", "middle");
  svg.Add("text", absl::StrFormat("%g", max)).Attr("x", F(cx + (r + inner) / 2)).Attr("y", F(cy + 16))
      .Attr("text-anchor", "middle");
}

void Chart(Node& parent, const v1::ReportPart& part, const v1::ReportChart& chart) {
  const ChartData data = ChartDataOf(part, chart);
  if (data.categories.empty() || data.series.empty()) return;
  std::string type;
  switch (chart.type()) {
    case v1::CHART_TYPE_LINE: type = "line"; break;
    case v1::CHART_TYPE_PIE: type = "pie"; break;
    case v1::CHART_TYPE_GAUGE: type = "gauge"; break;
    default: type = "bar";
  }
  Node figure = parent.Add("figure");
  figure.Attr("class", "chart").Attr("data-type", type);
  figure.Add("figcaption", chart.title());
  Node svg = figure.Add("svg");
  svg.Attr("xmlns", "http://www.w3.org/2000/svg").Attr("role", "img").Attr("aria-label", chart.title())
      .Attr("width", F(kWidth)).Attr("height", F(chart.type() == v1::CHART_TYPE_GAUGE ? 250 : kHeight))
      .Attr("viewBox", absl::StrCat("0 0 ", F(kWidth), " ", F(chart.type() == v1::CHART_TYPE_GAUGE ? 250 : kHeight)));
  switch (chart.type()) {
    case v1::CHART_TYPE_LINE: Lines(svg, data); break;
    case v1::CHART_TYPE_PIE: Pie(svg, data); break;
    case v1::CHART_TYPE_GAUGE: Gauge(svg, data, chart.gauge_max()); break;
    default: Bars(svg, data);
  }
}

void Table(Node& parent, const v1::ReportPart& part) {
  Node table = parent.Add("table");
  Node head = table.Add("thead").Add("tr");
  for (const auto& c : part.columns()) head.Add("th", c.title()).Attr("data-key", c.key());
  Node body = table.Add("tbody");
  for (const auto& row : part.rows()) {
    Node tr = body.Add("tr");
    for (int i = 0; i < row.cells_size() && i < part.columns_size(); ++i) {
      const v1::ReportCell& cell = row.cells(i);
      const std::string text = DisplayText(cell, part.columns(i).type());
      Node td = tr.Add("td");
      if (cell.has_number()) td.Attr("class", "num").Attr("data-value", DataText(cell));
      if (!cell.link().empty()) {
        td.Add("a", text).Attr("class", "drill").Attr("href", absl::StrCat("#", cell.link()));
      } else if (!text.empty()) {
        td.Text(text);
      }
    }
  }
}

}  // namespace

absl::StatusOr<std::string> RenderHtml(const v1::ReportDocument& doc) {
  std::unique_ptr<xmlDoc, DocDeleter> html(htmlNewDocNoDtD(nullptr, nullptr));
  if (!html) return absl::ResourceExhaustedError("html: cannot allocate a document");
  xmlCreateIntSubset(html.get(), X("html"), nullptr, nullptr);  // <!DOCTYPE html>: standards mode
  Node root(xmlNewDocNode(html.get(), nullptr, X("html"), nullptr));
  xmlDocSetRootElement(html.get(), root.get());
  root.Attr("lang", "zh-CN");
  Node head = root.Add("head");
  // The encoding as libxml2's serialiser reads it: the text is written as
  // UTF-8 rather than as character references.
  head.Add("meta").Attr("http-equiv", "Content-Type").Attr("content", "text/html; charset=UTF-8");
  head.Add("meta").Attr("name", "viewport").Attr("content", "width=device-width, initial-scale=1");
  head.Add("title", doc.title());
  head.Add("style", kStyle);

  Node body = root.Add("body");
  Node header = body.Add("header");
  header.Add("h1", doc.title());
  header.Add("p", absl::StrCat("范围：", doc.scope_name(), "（", doc.params().scope().unit_code(), "）  期间：",
                               doc.params().period().key(), "  数据截至：",
                               absl::FormatTime("%Y-%m-%d %H:%M:%S UTC", absl::FromUnixSeconds(doc.as_of().seconds()),
                                                absl::UTCTimeZone()),
                               "  生成人：", doc.generated_by()))
      .Attr("class", "meta");
  Node toc = header.Add("nav");
  toc.Attr("class", "toc");
  for (const auto& part : doc.parts()) toc.Add("a", part.title()).Attr("href", absl::StrCat("#", part.id()));

  for (const auto& part : doc.parts()) {
    Node section = body.Add("section");
    section.Attr("class", "part").Attr("id", part.id());
    section.Add("h2", part.title());
    for (const auto& note : part.notes()) section.Add("p", note).Attr("class", "note");
    if (part.charts_size() > 0 && part.rows_size() > 0) {
      Node charts = section.Add("div");
      charts.Attr("class", "charts");
      for (const auto& chart : part.charts()) Chart(charts, part, chart);
    }
    if (part.rows_size() == 0) section.Add("p", "（无）").Attr("class", "note");
    Table(section, part);
  }

  xmlChar* out = nullptr;
  int size = 0;
  htmlDocDumpMemoryFormat(html.get(), &out, &size, 0);
  if (out == nullptr) return absl::InternalError("html: cannot serialise the page");
  std::string page(reinterpret_cast<const char*>(out), size);
  xmlFree(out);
  return page;
}

}  // namespace aw::report
