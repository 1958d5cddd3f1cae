// Customer consumption, pure: which rows of a batch are good (each bad row
// gets one RowError naming its field), and the daily values packed a month
// to a row — the way they are stored — and laid out again a value a day.
#pragma once

#include <array>
#include <functional>
#include <string>
#include <vector>

#include "absl/time/civil_time.h"
#include "auditwatch/v1/ingest.pb.h"
#include "services/ingest/catalogue.h"

namespace aw::ingest {

namespace v1 = ::auditwatch::v1;

inline constexpr int kMaxConsumptionDays = 1100;  // days in one row, and in one query
inline constexpr int kDefaultConsumptionPage = 500;  // customers a StreamConsumption page

struct CustomerRow {
  std::string id, station, category;
  double contract_kva = 0;
  int status = 1;
};

// A month of one customer's daily values: day d at [d − 1], NaN where none.
struct MonthRow {
  std::string customer;
  absl::CivilDay month;  // its first day
  std::array<float, 31> kwh;
};

struct BillingRow {
  std::string customer;
  absl::CivilDay month;
  double billed_kwh = 0;
};

struct EventRow {
  std::string customer;
  absl::CivilDay day;
  int type = 0;
  int count = 1;
};

struct ConsumptionPlan {
  std::vector<CustomerRow> customers;
  std::vector<MonthRow> months;  // one per (customer, month): rows of the batch laid over each other
  std::vector<BillingRow> bills;
  std::vector<EventRow> events;
  std::vector<v1::RowError> errors;
  int accepted = 0;
};

// Checks the rows of `batch`: a customer's station must be an active supply
// station of `catalogue`; daily values, bills and events must name a
// customer that `known_customer` knows or that a customer row before them in
// the batch brings. With all_or_nothing, one bad row empties the plan.
ConsumptionPlan PlanConsumption(const Catalogue& catalogue, const v1::ConsumptionBatch& batch,
                                const std::function<bool(const std::string&)>& known_customer);

// The customer ids the rows of `batch` name (for one lookup of those stored).
std::vector<std::string> NamedCustomers(const v1::ConsumptionBatch& batch);

// A month as it is stored: four bytes a day, IEEE float32 big-endian (as
// PostgreSQL's float4send writes it), as many days as the month has, NaN
// (7fc00000) where a day has no value.
std::string MonthBytes(const MonthRow& month);

// Lays the stored month `bytes` (MonthBytes' layout) into `out`, one value a
// day from `first` (`days` of them); bytes past the month's days are ignored.
void LayMonth(absl::CivilDay month, std::string_view bytes, absl::CivilDay first, float* out, size_t days);

// "2025-03-15" → a day; false when it is not one.
bool ParseIsoDay(const std::string& text, absl::CivilDay* day);

}  // namespace aw::ingest
