// Theft-suspicion runs and models (违约窃电综合监控): reads a rule's customers
// from ingest (StreamConsumption), computes their features (theft_logic),
// scores them by the model in use or the transparent score, assigns levels by
// the rule's cut-offs and keeps the run with its suspects and events
// (theft_store); trains models from the labelled outcomes of inspections and
// adopts one only when it beats the method in use on held-back labels.
// Thread-safe: analyses of one rule are saved one at a time.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>

#include <grpcpp/grpcpp.h>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "auditwatch/v1/monitor.pb.h"
#include "common/clock.h"
#include "services/monitor/directory.h"
#include "services/monitor/monitor_store.h"
#include "services/monitor/theft_model.h"
#include "services/monitor/theft_store.h"

namespace aw::monitor {

class TheftAnalyzer {
 public:
  struct Options {
    absl::Duration read_timeout = absl::Minutes(5);  // a run's read when its caller sets no deadline
    int min_labels = 30;                             // held-back outcomes of each kind to judge a model
    double margin = 0.005;                           // the AUC a challenger must win by
    int page_size = 1000;                            // customers a StreamConsumption page
    int threads = 2;                                 // computing a run's features
    // How long a rule's series, read whole, serve the runs after it, which
    // read only the days since (0: every run reads its whole window).
    absl::Duration cache_ttl = absl::Hours(24 * 7);
    theft::TrainOptions train;
    Clock* clock = Clock::Real();
  };
  TheftAnalyzer(MonitorStore* store, TheftStore* theft, Directory* directory, Options options)
      : store_(store), theft_(theft), directory_(directory), options_(options) {}

  // One run. `parent`, when given, is the call being served: its deadline and
  // cancellation carry over to the read.
  absl::StatusOr<v1::TheftAnalysis> Analyze(const v1::AnalyzeTheftRequest& request, const std::string& actor,
                                            const grpc::CallbackServerContext* parent);

  // Trains on the labels not held back and adopts the model when it wins;
  // FAILED_PRECONDITION without confirmed and refuted outcomes to train on.
  absl::StatusOr<v1::TheftModelVersion> Train(const std::string& reason, const std::string& actor);

  // Labels recorded since the last model was trained (the schedule trains
  // only when there are some).
  absl::StatusOr<bool> NewLabelsSinceLastModel();

  // A customer's bills by month and meter events by day, over the window.
  struct MeterEventRow {
    absl::CivilDay day;
    v1::MeterEventType type;
    int count;
  };
  struct Extras {
    std::map<absl::CivilMonth, double> bills;
    std::vector<MeterEventRow> events;
  };

 private:
  // The customers of a rule over [first, last], in id order, each with its
  // extras: the window of the rule's last run moved on, when it fits (same
  // rule version, moved forward by at most 31 days, read whole within
  // cache_ttl, not `full`), else read whole.
  struct Series {
    std::string rule;
    int64_t version = 0;
    absl::CivilDay first, last;
    absl::Time read_at;  // of the whole window, last
    int days_read = 0;
    std::vector<theft::Customer> customers;
    std::vector<Extras> extras;
  };
  absl::StatusOr<Series> Read(const v1::Rule& rule, absl::CivilDay first, absl::CivilDay last, bool full,
                              const grpc::CallbackServerContext* parent);
  // Keeps a run's series for the rule's next run.
  void Keep(Series series);

  MonitorStore* const store_;
  TheftStore* const theft_;
  Directory* const directory_;
  const Options options_;
  absl::Mutex mu_;
  std::map<std::string, Series> cache_ ABSL_GUARDED_BY(mu_);  // by rule
};

}  // namespace aw::monitor
