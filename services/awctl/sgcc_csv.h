// The SGCC consumption layout (the State Grid data set of Zheng et al. 2018):
// a header `CONS_NO,FLAG,<day>,<day>,…` whose day columns ("2014/1/1" or
// "2014-01-01") come in any order, then one row per customer: its number,
// its label (1 = theft, 0 = none) and one kWh value per day, empty where
// there is none. Read with libcsv, streaming; rows that are wrong are
// reported by line and left out, the rest kept.
#pragma once

#include <cstdint>
#include <functional>
#include <istream>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/civil_time.h"

namespace aw::awctl {

struct SgccRow {
  std::string customer;
  int flag = 0;
  int line = 0;               // in the file, 1 = the header
  std::vector<float> daily;   // calendar order from SgccTable::first_day; NaN where empty
};

struct SgccError {
  int line = 0;
  std::string message;
};

struct SgccTable {
  absl::CivilDay first_day;
  int days = 0;  // from first_day to the last day named, every day (a day no column names is empty)
  std::vector<SgccRow> rows;
  std::vector<SgccError> errors;
};

// Reads the table; `progress(bytes read)` is called now and then. An error
// for the file as a whole (no header, a column that is not a day, a day
// twice) is INVALID_ARGUMENT naming the column.
absl::StatusOr<SgccTable> ReadSgcc(std::istream& in, const std::function<void(int64_t)>& progress = {});

}  // namespace aw::awctl
