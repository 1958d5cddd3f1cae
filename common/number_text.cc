#include "common/number_text.h"

#include <charconv>

namespace aw {
namespace {

// Enough for any double in plain notation (DBL_MAX has 309 integer digits).
constexpr int kBuffer = 400;

std::string Trimmed(std::string text) {
  if (text.find('.') != std::string::npos) {
    while (text.back() == '0') text.pop_back();
    if (text.back() == '.') text.pop_back();
  }
  if (text == "-0") text = "0";
  return text;
}

}  // namespace

std::string NumberText(double value) {
  char buf[kBuffer];
  const auto r = std::to_chars(buf, buf + kBuffer, value, std::chars_format::fixed);
  return Trimmed(std::string(buf, r.ptr));
}

std::string RoundedText(double value, int decimals) {
  char buf[kBuffer];
  const auto r = std::to_chars(buf, buf + kBuffer, value, std::chars_format::fixed, decimals);
  return Trimmed(std::string(buf, r.ptr));
}

}  // namespace aw
