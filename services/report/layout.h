// What the report writers share: the rows a chart draws and its data, a cell
// as text for people and as data, and the Excel sheet names of the parts.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "auditwatch/v1/report.pb.h"

namespace aw::report {

namespace v1 = ::auditwatch::v1;

// The rows a chart of `part` draws: the first `chart.rows()` (every row when 0).
int ChartRows(const v1::ReportPart& part, const v1::ReportChart& chart);

// A chart's data as drawn: one category per row, one series per value column
// (an empty cell counts 0). A pie or gauge draws the first series only.
struct ChartData {
  std::vector<std::string> categories;
  std::vector<std::pair<std::string, std::vector<double>>> series;  // name, values
};
ChartData ChartDataOf(const v1::ReportPart& part, const v1::ReportChart& chart);

// A cell as text: numbers by column type (2 decimals, integers, percentages
// with one decimal), "" for an empty cell.
std::string DisplayText(const v1::ReportCell& cell, v1::ColumnType type);
// A cell as data: the shortest text that reads back as the same number.
std::string DataText(const v1::ReportCell& cell);

// Excel sheet names for the parts, in order: the part's title cut to 31
// characters (whole UTF-8 characters), without []:*?/\, unique.
std::vector<std::string> SheetNames(const v1::ReportDocument& doc);

}  // namespace aw::report
