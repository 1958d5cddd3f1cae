#include "services/awctl/sgcc_csv.h"

#include <csv.h>

#include <charconv>
#include <cmath>
#include <limits>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace aw::awctl {
namespace {

// "2014/1/1", "2014-01-01".
bool ParseDay(absl::string_view text, absl::CivilDay* day) {
  std::vector<absl::string_view> parts = absl::StrSplit(absl::StripAsciiWhitespace(text), absl::ByAnyChar("/-"));
  int y = 0, m = 0, d = 0;
  if (parts.size() != 3 || !absl::SimpleAtoi(parts[0], &y) || !absl::SimpleAtoi(parts[1], &m) ||
      !absl::SimpleAtoi(parts[2], &d) || m < 1 || m > 12 || d < 1 || d > 31 || y < 1900) {
    return false;
  }
  *day = absl::CivilDay(y, m, d);
  return day->year() == y && day->month() == m && day->day() == d;
}

struct Reader {
  SgccTable table;
  std::vector<std::string> fields;
  std::vector<int> column_day;  // per column from the third: the day index
  int line = 0;
  absl::Status fatal;

  void Record() {
    ++line;
    if (!fatal.ok()) return;
    if (line == 1) {
      Header();
    } else if (!(fields.size() == 1 && fields[0].empty())) {
      Row();
    }
    fields.clear();
  }

  void Header() {
    if (fields.size() < 3 || absl::AsciiStrToUpper(fields[0]) != "CONS_NO" || absl::AsciiStrToUpper(fields[1]) != "FLAG") {
      fatal = absl::InvalidArgumentError("header: expected CONS_NO,FLAG then one column per day");
      return;
    }
    std::vector<absl::CivilDay> days(fields.size() - 2);
    for (size_t i = 2; i < fields.size(); ++i) {
      if (!ParseDay(fields[i], &days[i - 2])) {
        fatal = absl::InvalidArgumentError(absl::StrCat("header column ", i + 1, ": \"", fields[i], "\" is not a day"));
        return;
      }
    }
    const absl::CivilDay first = *std::min_element(days.begin(), days.end());
    const absl::CivilDay last = *std::max_element(days.begin(), days.end());
    table.first_day = first;
    table.days = static_cast<int>(last - first) + 1;
    absl::flat_hash_set<int> seen;
    for (size_t i = 0; i < days.size(); ++i) {
      const int index = static_cast<int>(days[i] - first);
      if (!seen.insert(index).second) {
        fatal = absl::InvalidArgumentError(absl::StrCat("header column ", i + 3, ": day ", absl::FormatCivilTime(days[i]),
                                                        " named twice"));
        return;
      }
      column_day.push_back(index);
    }
  }

  void Row() {
    auto error = [&](std::string message) { table.errors.push_back({line, std::move(message)}); };
    if (fields.size() != column_day.size() + 2) {
      error(absl::StrCat(fields.size(), " fields, expected ", column_day.size() + 2));
      return;
    }
    SgccRow row;
    row.line = line;
    row.customer = std::string(absl::StripAsciiWhitespace(fields[0]));
    if (row.customer.empty()) {
      error("CONS_NO: empty");
      return;
    }
    const absl::string_view flag = absl::StripAsciiWhitespace(fields[1]);
    if (flag != "0" && flag != "1") {
      error(absl::StrCat("FLAG: \"", flag, "\" is neither 0 nor 1"));
      return;
    }
    row.flag = flag == "1" ? 1 : 0;
    row.daily.assign(table.days, std::numeric_limits<float>::quiet_NaN());
    for (size_t i = 0; i < column_day.size(); ++i) {
      const std::string& f = fields[i + 2];
      if (f.empty()) continue;
      float v = 0;
      const auto [end, ec] = std::from_chars(f.data(), f.data() + f.size(), v);
      if (ec != std::errc() || end != f.data() + f.size() || !std::isfinite(v) || v < 0) {
        error(absl::StrCat("column ", i + 3, ": \"", f, "\" is not a kWh value"));
        return;
      }
      row.daily[column_day[i]] = v;
    }
    table.rows.push_back(std::move(row));
  }
};

}  // namespace

absl::StatusOr<SgccTable> ReadSgcc(std::istream& in, const std::function<void(int64_t)>& progress) {
  Reader reader;
  csv_parser parser;
  if (csv_init(&parser, CSV_APPEND_NULL) != 0) return absl::ResourceExhaustedError("csv: cannot start the parser");
  auto on_field = [](void* s, size_t n, void* data) {
    static_cast<Reader*>(data)->fields.emplace_back(static_cast<const char*>(s), n);
  };
  auto on_record = [](int, void* data) { static_cast<Reader*>(data)->Record(); };
  std::string buffer(1 << 20, '\0');
  int64_t total = 0;
  bool bom_checked = false;
  while (in) {
    in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
    const std::streamsize got = in.gcount();
    if (got <= 0) break;
    size_t offset = 0;
    if (!bom_checked) {
      bom_checked = true;
      if (got >= 3 && buffer.compare(0, 3, "\xEF\xBB\xBF") == 0) offset = 3;
    }
    if (csv_parse(&parser, buffer.data() + offset, static_cast<size_t>(got) - offset, on_field, on_record, &reader) !=
        static_cast<size_t>(got) - offset) {
      const std::string message = csv_strerror(csv_error(&parser));
      csv_free(&parser);
      return absl::InvalidArgumentError(absl::StrCat("line ", reader.line + 1, ": ", message));
    }
    total += got;
    if (progress) progress(total);
    if (!reader.fatal.ok()) break;
  }
  csv_fini(&parser, on_field, on_record, &reader);
  csv_free(&parser);
  if (!reader.fatal.ok()) return reader.fatal;
  if (reader.line == 0) return absl::InvalidArgumentError("header: the file is empty");
  return std::move(reader.table);
}

}  // namespace aw::awctl
