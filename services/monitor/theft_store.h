// The theft-suspicion tables of the monitor store (schema "monitor"): the
// analyses (runs) with their suspects, the labels that inspections give them,
// and the trained models, versioned. A run, its suspects and the events it
// raises are saved in one transaction. Thread-safe; returns statuses, never
// throws.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "auditwatch/v1/monitor.pb.h"
#include "services/monitor/monitor_logic.h"
#include "services/monitor/monitor_store.h"
#include "services/monitor/theft_logic.h"

namespace aw::db {
class Pool;
}

namespace aw::monitor {

// A customer of a run at levels 1–3.
struct SuspectRow {
  std::string customer, station, category;
  int rank = 0, level = 4;
  double score = 0;
  std::vector<v1::TheftReason> reasons;
  theft::Features features{}, signals{};
};

// A labelled outcome with the evidence it labels.
struct LabelRow {
  v1::TheftLabel label;
  theft::Features features{}, signals{};
};

class TheftStore {
 public:
  TheftStore(db::Pool* pool, MonitorStore* events) : pool_(pool), events_(events) {}

  // The run a request id made, if any.
  absl::StatusOr<std::optional<v1::TheftAnalysis>> RunOf(const std::string& request_id);

  // Saves `run` (its id and audit are set here) with its suspects, then asks
  // `plan` for the event changes given the rule's unresolved events about
  // customers and the run's id, and applies them — one transaction, runs of
  // one rule one at a time. The suspects at levels 1–2 are linked to their
  // events. A request id saved before answers its run, nothing saved again.
  absl::StatusOr<v1::TheftAnalysis> SaveRun(
      const v1::TheftAnalysis& run, const std::vector<SuspectRow>& suspects, const std::string& request_id,
      const std::string& actor, absl::Time now,
      const std::function<TheftEventPlan(const std::vector<OpenTheftEvent>& open, int64_t run_id)>& plan);

  absl::StatusOr<v1::TheftAnalysis> GetRun(int64_t id);
  // Newest first, ids below `before_id` (0: from the newest).
  absl::StatusOr<std::vector<v1::TheftAnalysis>> ListRuns(const std::string& rule_code, int64_t before_id,
                                                          int limit);

  struct SuspectFilter {
    int64_t run_id = 0;
    std::vector<int> levels;            // empty = 1–3
    std::vector<std::string> stations;  // empty = all
    int64_t compare_to = 0;             // 0: no comparison
    int after_rank = 0;
    int limit = 100;
  };
  // By rank; `total` counts every match when asked.
  absl::StatusOr<std::vector<v1::TheftSuspect>> ListSuspects(const SuspectFilter& filter, int64_t* total);

  // Records the outcome of work order `order_id` of theft event `event_id`
  // (nothing when the event raised no suspect of a run, or the order was
  // recorded before) and moves the `feed` cursor from `from` to `to`, in one
  // transaction; ABORTED when the cursor is no longer at `from`. `held_back`
  // says which customers' labels judge models rather than train them.
  struct Outcome {
    int64_t order_id = 0, event_id = 0;
    bool theft = false;
  };
  absl::StatusOr<int> RecordOutcomes(const std::vector<Outcome>& outcomes,
                                     const std::function<bool(const std::string& customer)>& held_back,
                                     const std::string& feed, int64_t from, int64_t to, absl::Time now);
  absl::StatusOr<int64_t> Cursor(const std::string& feed);
  // Newest first (by work order id below `before_order`, 0: from the newest).
  absl::StatusOr<std::vector<v1::TheftLabel>> ListLabels(int64_t before_order, int limit);
  // Every label with its evidence, oldest first.
  absl::StatusOr<std::vector<LabelRow>> LabelSet();

  // A trained model and its verdict; `version` and `audit` are set here.
  absl::StatusOr<v1::TheftModelVersion> SaveModel(v1::TheftModelVersion version, const std::string& model,
                                                  const std::string& reason, const std::string& actor,
                                                  absl::Time now);
  // Newest first, versions below `before` (0: from the newest).
  absl::StatusOr<std::vector<v1::TheftModelVersion>> ListModels(int before, int limit);
  // The latest adopted model: its version and bytes; nullopt while the
  // transparent score serves.
  struct InUse {
    int version = 0;
    std::string model;
  };
  absl::StatusOr<std::optional<InUse>> ModelInUse();

 private:
  db::Pool* const pool_;
  MonitorStore* const events_;
};

}  // namespace aw::monitor
