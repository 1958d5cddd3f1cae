// The load after which the ingest process must give its memory back: many
// concurrent heavy queries (the first page of readings of a whole province)
// and many idle change-feed streams, then all of them closed. Shared by the
// memory benchmark (which prints the figures) and the end-to-end test (which
// bounds them).
#pragma once

#include <cstdint>

#include "tests/support/process.h"

namespace aw::testing {

struct MemoryFigures {
  int64_t loaded = 0;      // readings loaded before the load
  int64_t idle_kib = 0;    // resident memory before the load
  int64_t peak_kib = 0;    // the most seen during it
  int64_t after_kib = 0;   // once every call and stream has closed and settled
  int queries_ok = 0;      // queries answered
  int queries_busy = 0;    // refused with RESOURCE_EXHAUSTED (a full worker queue)
  int streams = 0;         // streams that were open at once
};

// Loads about `readings` readings of the synthetic province into the ingest
// service of `process`, then runs `queries` concurrent QueryReadings (page of
// 1000) and `streams` idle WatchReadings streams, closes them all, and
// measures. `progress` lines go to stdout when set.
MemoryFigures RunMemoryLoad(AuditwatchProcess& process, int64_t readings, int queries, int streams,
                            bool progress);

}  // namespace aw::testing
