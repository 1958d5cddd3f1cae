#include "services/report/layout.h"

#include <algorithm>
#include <string_view>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/number_text.h"

namespace aw::report {
namespace {

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

}  // namespace aw::report
