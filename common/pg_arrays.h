// The text forms PostgreSQL uses for one-dimensional arrays and timestamps,
// written and read without a round of libpqxx conversions: array literals for
// COPY and parameters, their parsing, and epoch seconds as times.
#pragma once

#include <string>
#include <vector>

#include <google/protobuf/timestamp.pb.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"

namespace aw::db {

// {1,2.5,3} for any range of numbers (or of strings holding numbers).
template <typename Range>
std::string NumberArray(const Range& values) {
  return absl::StrCat("{", absl::StrJoin(values, ","), "}");
}

// {"a","b \"c\""}: every element quoted and escaped.
std::string TextArray(const std::vector<std::string>& values);
std::string TextArray(const std::vector<const std::string*>& values);

// The shortest decimal text that reads back as exactly `v`.
void AppendExact(std::string& out, double v);
std::string ExactText(double v);

// Parse one-dimensional arrays without NULLs into `out`, reusing its storage;
// false when the text is not such an array.
bool ParseNumberArray(const char* text, std::vector<double>& out);
bool ParseTextArray(const char* text, std::vector<std::string>& out);

// `extract(epoch FROM …)` seconds as a time, and into a protobuf Timestamp.
absl::Time FromEpoch(double seconds);
void SetTimestamp(double epoch_seconds, google::protobuf::Timestamp* out);

}  // namespace aw::db
