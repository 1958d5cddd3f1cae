// Memory benchmark: the ingest process's resident memory before, at the peak
// of and after a load of concurrent heavy queries and idle feed streams (see
// tests/support/memory_load.h). The baseline is the process's own idle
// memory, measured in the same run. Prints figures; it is not a test.
//
//   memory_bench [--queries=300] [--streams=50] [--readings=300000]
//   AW_BINARY=/path/to/another/auditwatch memory_bench   (to measure another build)
#include <signal.h>

#include <cstdio>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "tests/support/memory_load.h"
#include "tests/support/test_db.h"

int main(int argc, char** argv) {
  int queries = 300, streams = 50;
  int64_t readings = 300000;
  for (int i = 1; i < argc; ++i) {
    const absl::string_view a = argv[i];
    if (absl::StartsWith(a, "--queries=")) (void)absl::SimpleAtoi(a.substr(10), &queries);
    if (absl::StartsWith(a, "--streams=")) (void)absl::SimpleAtoi(a.substr(10), &streams);
    if (absl::StartsWith(a, "--readings=")) (void)absl::SimpleAtoi(a.substr(11), &readings);
  }
  aw::testing::TestDatabase db;
  aw::testing::AuditwatchProcess process("ingest", db.url(), {"--workers=4"});
  if (aw::testing::WaitForHealth(process.address("ingest"), "", "SERVING") != "SERVING") {
    std::fprintf(stderr, "did not start: %s\n", process.Logs().c_str());
    return 1;
  }
  std::printf("ingest alone, --workers=4; %d concurrent QueryReadings (page 1000, a year of the whole province) "
              "and %d idle WatchReadings streams\n",
              queries, streams);
  const auto f = aw::testing::RunMemoryLoad(process, readings, queries, streams, true);
  std::printf("\nresident memory MiB: idle %.0f (baseline)  peak %.0f  after %.0f  (after/idle %.2f)\n",
              f.idle_kib / 1024.0, f.peak_kib / 1024.0, f.after_kib / 1024.0,
              static_cast<double>(f.after_kib) / f.idle_kib);
  // A clean exit, so that a memory profiler wrapped around the binary writes its report.
  return process.Stop(SIGTERM) == 0 ? 0 : 1;
}
