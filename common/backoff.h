// Exponential backoff: how long to wait before the next attempt of something
// that failed (a delivery from an outbox, a feed reconnect).
#pragma once

#include "absl/time/time.h"

namespace aw {

struct Backoff {
  absl::Duration initial = absl::Seconds(1);
  absl::Duration max = absl::Minutes(5);
  double factor = 2;

  // The wait before attempt `attempt` + 1, after `attempt` (>= 1) failures:
  // initial × factor^(attempt − 1), at most `max`.
  absl::Duration After(int attempt) const;
};

}  // namespace aw
