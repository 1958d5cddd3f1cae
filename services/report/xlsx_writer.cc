// The Excel format, written with libxlsxwriter: one sheet per part — the
// part's title, its notes, a header row (frozen, with a filter) and the rows
// with number formats per column type — and its charts as native Excel charts
// beside the table, their series on the table's cells. The gauge is drawn the
// way Excel users draw one: a doughnut turned by 270° whose second half is
// left unfilled. Every format names the font (Microsoft YaHei), so Chinese
// text renders with a Chinese face.
#include <unistd.h>
#include <xlsxwriter.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "services/report/layout.h"
#include "services/report/xlsx_writer.h"

namespace aw::report {
namespace {

constexpr char kFont[] = "Microsoft YaHei";

// Where a part's table lies on its sheet.
struct Layout {
  int header_row;  // 0-based; the data follow it
};

Layout LayoutOf(const v1::ReportPart& part) { return {.header_row = 1 + part.notes_size()}; }

// A unique file for libxlsxwriter to write (it writes files only), removed
// when this goes out of scope.
class TempFile {
 public:
  TempFile() {
    std::string pattern = (std::filesystem::temp_directory_path() / "aw-report-XXXXXX").string();
    const int fd = mkstemp(pattern.data());
    if (fd >= 0) {
      close(fd);
      path_ = pattern;
    }
  }
  ~TempFile() {
    if (!path_.empty()) std::remove(path_.c_str());
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

class Formats {
 public:
  explicit Formats(lxw_workbook* wb) {
    title = Add(wb);
    format_set_bold(title);
    format_set_font_size(title, 14);
    note = Add(wb);
    format_set_font_color(note, 0x595959);
    header = Add(wb);
    format_set_bold(header);
    format_set_bg_color(header, 0xD9E1F2);
    format_set_border(header, LXW_BORDER_THIN);
    format_set_text_wrap(header);
    text = Add(wb);
    integer = Add(wb);
    format_set_num_format(integer, "0");
    number = Add(wb);
    format_set_num_format(number, "0.00");
    percent = Add(wb);
    format_set_num_format(percent, "0.0%");
    link = Add(wb);
    format_set_underline(link, LXW_UNDERLINE_SINGLE);
    format_set_font_color(link, 0x0563C1);
  }
  lxw_format* For(v1::ColumnType type) const {
    switch (type) {
      case v1::COLUMN_TYPE_INTEGER: return integer;
      case v1::COLUMN_TYPE_NUMBER: return number;
      case v1::COLUMN_TYPE_PERCENT: return percent;
      default: return text;
    }
  }
  lxw_format *title, *note, *header, *text, *integer, *number, *percent, *link;

 private:
  static lxw_format* Add(lxw_workbook* wb) {
    lxw_format* f = workbook_add_format(wb);
    format_set_font_name(f, kFont);
    format_set_font_size(f, 10);
    return f;
  }
};

// Display width of UTF-8 text: a CJK character takes two columns.
int Width(const std::string& s) {
  int width = 0;
  for (size_t i = 0; i < s.size();) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    const int len = c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
    width += len >= 3 ? 2 : 1;
    i += len;
  }
  return width;
}

uint8_t ChartTypeOf(v1::ChartType type) {
  switch (type) {
    case v1::CHART_TYPE_LINE: return LXW_CHART_LINE;
    case v1::CHART_TYPE_PIE: return LXW_CHART_PIE;
    case v1::CHART_TYPE_GAUGE: return LXW_CHART_DOUGHNUT;
    default: return LXW_CHART_COLUMN;
  }
}

void WriteSheet(lxw_workbook* wb, const Formats& f, const v1::ReportPart& part, const std::string& sheet_name,
                const absl::flat_hash_map<std::string, std::string>& sheet_of) {
  lxw_worksheet* ws = workbook_add_worksheet(wb, sheet_name.c_str());
  const Layout layout = LayoutOf(part);
  const int h = layout.header_row;
  worksheet_write_string(ws, 0, 0, part.title().c_str(), f.title);
  for (int i = 0; i < part.notes_size(); ++i) worksheet_write_string(ws, 1 + i, 0, part.notes(i).c_str(), f.note);

  std::vector<int> widths(part.columns_size(), 8);
  for (int c = 0; c < part.columns_size(); ++c) {
    worksheet_write_string(ws, h, c, part.columns(c).title().c_str(), f.header);
    widths[c] = std::max(widths[c], Width(part.columns(c).title()) + 2);
  }
  for (int r = 0; r < part.rows_size(); ++r) {
    const auto& cells = part.rows(r).cells();
    for (int c = 0; c < cells.size() && c < part.columns_size(); ++c) {
      const v1::ReportCell& cell = cells[c];
      const lxw_row_t row = h + 1 + r;
      if (!cell.link().empty()) {
        auto it = sheet_of.find(cell.link());
        if (it != sheet_of.end()) {
          const std::string url = absl::StrCat("internal:'", it->second, "'!A1");
          worksheet_write_url_opt(ws, row, c, url.c_str(), f.link, DataText(cell).c_str(), nullptr);
          widths[c] = std::max(widths[c], Width(cell.text()) + 2);
          continue;
        }
      }
      if (cell.has_number()) {
        worksheet_write_number(ws, row, c, cell.number(), f.For(part.columns(c).type()));
        widths[c] = std::max(widths[c], 10);
      } else if (cell.has_text()) {
        worksheet_write_string(ws, row, c, cell.text().c_str(), f.text);
        widths[c] = std::max(widths[c], Width(cell.text()) + 2);
      }
    }
  }
  for (int c = 0; c < part.columns_size(); ++c) worksheet_set_column(ws, c, c, std::min(widths[c], 50), nullptr);
  worksheet_freeze_panes(ws, h + 1, 0);
  if (part.columns_size() > 0) worksheet_autofilter(ws, h, 0, h + std::max(part.rows_size(), 1), part.columns_size() - 1);

  // Charts beside the table, one under the other; a gauge's three cells
  // (value, the rest of the dial, the hidden half) in a hidden column.
  const lxw_col_t chart_col = part.columns_size() + 1;
  const lxw_col_t helper_col = part.columns_size() + 16;
  int chart_row = h;
  for (const auto& chart : part.charts()) {
    const int rows = ChartRows(part, chart);
    if (rows == 0 || chart.value_columns().empty()) continue;
    lxw_chart* c = workbook_add_chart(wb, ChartTypeOf(chart.type()));
    chart_title_set_name(c, chart.title().c_str());
    if (chart.type() == v1::CHART_TYPE_GAUGE) {
      const auto& cell = part.rows(0).cells(chart.value_columns(0));
      const double value = std::clamp(cell.has_number() ? cell.number() : 0.0, 0.0, chart.gauge_max());
      worksheet_write_number(ws, h + 1, helper_col, value, f.number);
      worksheet_write_number(ws, h + 2, helper_col, chart.gauge_max() - value, f.number);
      worksheet_write_number(ws, h + 3, helper_col, chart.gauge_max(), f.number);
      lxw_row_col_options hidden = {.hidden = LXW_TRUE};
      worksheet_set_column_opt(ws, helper_col, helper_col, 8, nullptr, &hidden);
      lxw_chart_series* s = chart_add_series(c, nullptr, nullptr);
      chart_series_set_values(s, sheet_name.c_str(), h + 1, helper_col, h + 3, helper_col);
      lxw_chart_fill value_fill = {.color = 0x2E75B6};
      lxw_chart_fill rest_fill = {.color = 0xD9D9D9};
      lxw_chart_fill no_fill = {.none = LXW_TRUE};
      lxw_chart_line no_line = {.none = LXW_TRUE};
      lxw_chart_point value_point = {.fill = &value_fill};
      lxw_chart_point rest_point = {.fill = &rest_fill};
      lxw_chart_point hidden_point = {.line = &no_line, .fill = &no_fill};
      lxw_chart_point* points[] = {&value_point, &rest_point, &hidden_point, nullptr};
      chart_series_set_points(s, points);
      chart_set_rotation(c, 270);
      chart_set_hole_size(c, 50);
      chart_legend_set_position(c, LXW_CHART_LEGEND_NONE);
    } else {
      const int series = chart.type() == v1::CHART_TYPE_PIE ? 1 : chart.value_columns_size();
      for (int i = 0; i < series; ++i) {
        const int vc = chart.value_columns(i);
        lxw_chart_series* s = chart_add_series(c, nullptr, nullptr);
        chart_series_set_categories(s, sheet_name.c_str(), h + 1, chart.category_column(), h + rows,
                                    chart.category_column());
        chart_series_set_values(s, sheet_name.c_str(), h + 1, vc, h + rows, vc);
        chart_series_set_name_range(s, sheet_name.c_str(), h, vc);
      }
      if (series == 1 && chart.type() != v1::CHART_TYPE_PIE) chart_legend_set_position(c, LXW_CHART_LEGEND_NONE);
    }
    lxw_chart_options placement = {.x_offset = 10, .x_scale = 1.2, .y_scale = 1.1};
    worksheet_insert_chart_opt(ws, chart_row, chart_col, c, &placement);
    chart_row += 18;
  }
}

}  // namespace

absl::StatusOr<std::string> RenderXlsx(const v1::ReportDocument& doc) {
  TempFile file;
  if (file.path().empty()) return absl::UnavailableError("xlsx: cannot create a temporary file");
  lxw_workbook* wb = workbook_new(file.path().c_str());
  if (wb == nullptr) return absl::UnavailableError("xlsx: cannot start a workbook");
  lxw_doc_properties properties = {};
  properties.title = const_cast<char*>(doc.title().c_str());
  properties.author = const_cast<char*>("auditwatch");
  properties.company = const_cast<char*>(doc.scope_name().c_str());
  workbook_set_properties(wb, &properties);

  const Formats formats(wb);
  const std::vector<std::string> names = SheetNames(doc);
  absl::flat_hash_map<std::string, std::string> sheet_of;
  for (int i = 0; i < doc.parts_size(); ++i) sheet_of[doc.parts(i).id()] = names[i];
  for (int i = 0; i < doc.parts_size(); ++i) WriteSheet(wb, formats, doc.parts(i), names[i], sheet_of);
  if (const lxw_error e = workbook_close(wb); e != LXW_NO_ERROR) {
    return absl::InternalError(absl::StrCat("xlsx: ", lxw_strerror(e)));
  }
  std::ifstream in(file.path(), std::ios::binary);
  std::ostringstream bytes;
  bytes << in.rdbuf();
  if (!in) return absl::UnavailableError("xlsx: cannot read the written workbook back");
  return bytes.str();
}

}  // namespace aw::report
