// Numbers in messages people read: a value as it was written (the shortest
// text that reads back as the same double, never with an exponent: 1000001,
// 0.1, 0.000001) and a computed figure rounded to a few decimals (2.41).
#pragma once

#include <string>

namespace aw {

// The shortest plain decimal that parses back to exactly `value`.
std::string NumberText(double value);
// `value` rounded to at most `decimals` decimals, without trailing zeros.
std::string RoundedText(double value, int decimals = 2);

}  // namespace aw
