#include "services/awctl/readings_csv.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace aw::awctl {

namespace v1 = ::auditwatch::v1;

namespace {
constexpr const char* kRequired[] = {"unit_code", "indicator_code", "period", "value"};
}  // namespace

ReadingsCsv::ReadingsCsv(RowReady row_ready) : row_ready_(std::move(row_ready)) {
  csv_init(&parser_, CSV_STRICT | CSV_STRICT_FINI | CSV_APPEND_NULL);
}

ReadingsCsv::~ReadingsCsv() { csv_free(&parser_); }

bool ReadingsCsv::Feed(const char* data, size_t size) {
  if (!fatal_.empty()) return false;
  if (csv_parse(&parser_, data, size, &OnField, &OnRowEnd, this) != size) {
    fatal_ = absl::StrCat("row ", row_ + 1, ": ", csv_strerror(csv_error(&parser_)));
  }
  return fatal_.empty();
}

bool ReadingsCsv::Finish() {
  if (!fatal_.empty()) return false;
  if (csv_fini(&parser_, &OnField, &OnRowEnd, this) != 0) {
    fatal_ = absl::StrCat("row ", row_ + 1, ": ", csv_strerror(csv_error(&parser_)));
  } else if (row_ == 0) {
    fatal_ = "the file is empty: it needs a header row (unit_code,indicator_code,period,value[,reason])";
  }
  return fatal_.empty();
}

void ReadingsCsv::OnField(void* field, size_t size, void* self) {
  static_cast<ReadingsCsv*>(self)->Field(std::string(static_cast<const char*>(field), size));
}

void ReadingsCsv::OnRowEnd(int, void* self) { static_cast<ReadingsCsv*>(self)->RowEnd(); }

void ReadingsCsv::Field(std::string value) {
  if (first_field_) {
    first_field_ = false;
    if (absl::StartsWith(value, "\xEF\xBB\xBF")) value.erase(0, 3);  // the byte-order mark
  }
  fields_.push_back(std::move(value));
}

void ReadingsCsv::Reject(const std::string& code, const std::string& field, const std::string& message) {
  v1::RowError e;
  e.set_index(row_);
  e.set_code(code);
  e.set_field(field);
  e.set_message(message);
  errors_.push_back(std::move(e));
}

void ReadingsCsv::RowEnd() {
  ++row_;
  std::vector<std::string> fields = std::move(fields_);
  fields_.clear();
  if (!fatal_.empty()) return;
  if (row_ == 1) {  // the header
    for (size_t i = 0; i < fields.size(); ++i) {
      columns_[absl::AsciiStrToLower(absl::StripAsciiWhitespace(fields[i]))] = static_cast<int>(i);
    }
    for (const char* name : kRequired) {
      if (!columns_.contains(name)) {
        fatal_ = absl::StrCat("the header row has no column ", name,
                              " (it needs unit_code, indicator_code, period and value; reason is optional)");
        return;
      }
    }
    return;
  }
  auto cell = [&](const std::string& name) -> std::string {
    auto it = columns_.find(name);
    if (it == columns_.end() || it->second >= static_cast<int>(fields.size())) return "";
    return std::string(absl::StripAsciiWhitespace(fields[it->second]));
  };
  for (const char* name : kRequired) {
    if (cell(name).empty()) {
      Reject("REQUIRED", name, absl::StrCat(name, " is empty"));
      return;
    }
  }
  v1::ReadingInput r;
  r.set_unit_code(cell("unit_code"));
  r.set_indicator_code(cell("indicator_code"));
  r.mutable_period()->set_key(cell("period"));
  double value = 0;
  if (!absl::SimpleAtod(cell("value"), &value)) {
    Reject("NOT_A_NUMBER", "value", absl::StrCat("\"", cell("value"), "\" is not a number"));
    return;
  }
  r.set_value(value);
  r.set_reason(cell("reason"));
  row_ready_(row_, std::move(r));
}

}  // namespace aw::awctl
