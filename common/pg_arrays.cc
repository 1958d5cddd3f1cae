#include "common/pg_arrays.h"

#include <charconv>

#include "common/timestamp.h"

namespace aw::db {
namespace {

void AppendQuoted(std::string& out, const std::string& element) {
  out += '"';
  for (char c : element) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  out += '"';
}

}  // namespace

std::string TextArray(const std::vector<std::string>& values) {
  std::string out = "{";
  for (size_t i = 0; i < values.size(); ++i) {
    if (i > 0) out += ',';
    AppendQuoted(out, values[i]);
  }
  return out + "}";
}

std::string TextArray(const std::vector<const std::string*>& values) {
  std::string out = "{";
  for (size_t i = 0; i < values.size(); ++i) {
    if (i > 0) out += ',';
    AppendQuoted(out, *values[i]);
  }
  return out + "}";
}

void AppendExact(std::string& out, double v) {
  char buf[32];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, end);
}

std::string ExactText(double v) {
  std::string out;
  AppendExact(out, v);
  return out;
}

bool ParseNumberArray(const char* text, std::vector<double>& out) {
  out.clear();
  if (*text != '{') return false;
  const char* p = text + 1;
  if (*p == '}') return true;
  for (;;) {
    double v = 0;
    const char* end = p;
    while (*end != ',' && *end != '}' && *end != '\0') ++end;
    auto [ptr, ec] = std::from_chars(p, end, v);
    if (ec != std::errc() || ptr != end) return false;
    out.push_back(v);
    if (*end == '}') return true;
    if (*end != ',') return false;
    p = end + 1;
  }
}

bool ParseTextArray(const char* text, std::vector<std::string>& out) {
  size_t n = 0;
  auto next = [&]() -> std::string& {
    if (n == out.size()) out.emplace_back();
    std::string& s = out[n++];
    s.clear();
    return s;
  };
  if (*text != '{') return false;
  const char* p = text + 1;
  if (*p == '}') {
    out.resize(0);
    return true;
  }
  for (;;) {
    std::string& s = next();
    if (*p == '"') {
      for (++p; *p != '"'; ++p) {
        if (*p == '\0') return false;
        if (*p == '\\') ++p;
        s += *p;
      }
      ++p;
    } else {
      const char* end = p;
      while (*end != ',' && *end != '}' && *end != '\0') ++end;
      s.assign(p, end);
      p = end;
    }
    if (*p == '}') break;
    if (*p != ',') return false;
    ++p;
  }
  out.resize(n);
  return true;
}

absl::Time FromEpoch(double seconds) { return absl::FromUnixMicros(static_cast<int64_t>(seconds * 1e6)); }

void SetTimestamp(double epoch_seconds, google::protobuf::Timestamp* out) {
  aw::SetTimestamp(FromEpoch(epoch_seconds), out);
}

}  // namespace aw::db
