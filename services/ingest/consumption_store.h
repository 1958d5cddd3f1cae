// Customer consumption in the ingest schema (sql/0005_consumption.sql):
// customers, daily kWh a month of a customer to a row in monthly partitions
// (made when a month's first values come, dropped whole when old), monthly
// bills, meter events, and the batches applied with their answers. Every
// statement is a named constant; each batch is one transaction. Thread-safe.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "auditwatch/v1/ingest.pb.h"
#include "common/pg.h"
#include "services/ingest/catalogue.h"

namespace aw::ingest {

namespace v1 = ::auditwatch::v1;

class ConsumptionStore {
 public:
  explicit ConsumptionStore(db::Pool* pool) : pool_(pool) {}

  // Checks the batch against `catalogue` (PlanConsumption) and writes its good
  // rows; durable when it returns. A batch id applied before answers as it
  // did then, with duplicate = true.
  absl::StatusOr<v1::BatchResult> Apply(const v1::ConsumptionBatch& batch, const Catalogue& catalogue, absl::Time now);

  // Where a read starts and how many customers it takes: skip `offset`
  // customers of those whose id sorts after `after` ("" = from the first).
  struct Slice {
    std::string after;
    int64_t offset = 0;
    int limit = 0;
  };
  // The customers of `stations` (all of them, or only `customer_ids`) in id
  // order, `slice` of them, each with its days from `first` to `last`, its
  // bills and its meter events in that window.
  absl::StatusOr<std::vector<v1::CustomerConsumption>> Read(const std::vector<std::string>& stations,
                                                            const std::vector<std::string>& customer_ids,
                                                            absl::CivilDay first, absl::CivilDay last,
                                                            const Slice& slice);
  // How many customers Read would go through.
  absl::StatusOr<int64_t> Count(const std::vector<std::string>& stations, const std::vector<std::string>& customer_ids);

  // Drops the months before `month`'s; how many partitions went.
  absl::StatusOr<int> DropBefore(absl::CivilDay month);

 private:
  db::Pool* pool_;
};

}  // namespace aw::ingest
