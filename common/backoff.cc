#include "common/backoff.h"

#include <algorithm>
#include <cmath>

namespace aw {

absl::Duration Backoff::After(int attempt) const {
  const double seconds = absl::ToDoubleSeconds(initial) * std::pow(factor, std::max(0, attempt - 1));
  return absl::Seconds(std::min(seconds, absl::ToDoubleSeconds(max)));
}

}  // namespace aw
