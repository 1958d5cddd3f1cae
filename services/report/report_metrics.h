// Prometheus series of the report service: reports by kind, format and
// result, generation duration, the bytes stored and the jobs waiting.
#pragma once

#include <string>

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

namespace aw::report {

struct ReportMetrics {
  explicit ReportMetrics(prometheus::Registry& registry)
      : reports(prometheus::BuildCounter()
                    .Name("auditwatch_reports_total")
                    .Help("Report jobs ended by this process, by kind, format and result (ok, cancelled, or the error code)")
                    .Register(registry)),
        seconds(prometheus::BuildHistogram()
                    .Name("auditwatch_report_generation_seconds")
                    .Help("From a job's claim to its stored file, by kind and format")
                    .Register(registry)),
        stored_bytes(prometheus::BuildGauge()
                         .Name("auditwatch_report_stored_bytes")
                         .Help("Bytes of the ready reports' files in the database")
                         .Register(registry)
                         .Add({{"service", "report"}})),
        jobs(prometheus::BuildGauge()
                 .Name("auditwatch_report_jobs")
                 .Help("Report jobs by state (queued, running, ready)")
                 .Register(registry)) {}

  void Ended(const std::string& kind, const std::string& format, const std::string& result, double duration) {
    reports.Add({{"service", "report"}, {"kind", kind}, {"format", format}, {"result", result}}).Increment();
    if (result == "ok") {
      seconds
          .Add({{"service", "report"}, {"kind", kind}, {"format", format}},
               prometheus::Histogram::BucketBoundaries{0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60})
          .Observe(duration);
    }
  }
  void Jobs(const std::string& state, double n) { jobs.Add({{"service", "report"}, {"state", state}}).Set(n); }

  prometheus::Family<prometheus::Counter>& reports;
  prometheus::Family<prometheus::Histogram>& seconds;
  prometheus::Gauge& stored_bytes;
  prometheus::Family<prometheus::Gauge>& jobs;
};

}  // namespace aw::report
