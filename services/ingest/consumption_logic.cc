#include "services/ingest/consumption_logic.h"

#include <cmath>
#include <limits>

#include "absl/container/flat_hash_map.h"
#include "absl/base/casts.h"
#include "absl/base/internal/endian.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "common/period.h"
#include "services/ingest/ingest_logic.h"

namespace aw::ingest {
namespace {

constexpr float kNone = std::numeric_limits<float>::quiet_NaN();
constexpr size_t kMaxIdLength = 64;

const std::string& CustomerOf(const v1::ConsumptionRow& row) {
  switch (row.row_case()) {
    case v1::ConsumptionRow::kCustomer: return row.customer().customer_id();
    case v1::ConsumptionRow::kDaily: return row.daily().customer_id();
    case v1::ConsumptionRow::kBilling: return row.billing().customer_id();
    case v1::ConsumptionRow::kEvent: return row.event().customer_id();
    default: {
      static const std::string kEmpty;
      return kEmpty;
    }
  }
}

}  // namespace

bool ParseIsoDay(const std::string& text, absl::CivilDay* day) {
  auto p = Period::Parse(PeriodType::kDay, text);
  if (!p.ok()) return false;
  *day = p->first_day();
  return true;
}

std::vector<std::string> NamedCustomers(const v1::ConsumptionBatch& batch) {
  absl::flat_hash_set<std::string> seen;
  std::vector<std::string> out;
  for (const auto& row : batch.rows()) {
    const std::string& id = CustomerOf(row);
    if (!id.empty() && seen.insert(id).second) out.push_back(id);
  }
  return out;
}

ConsumptionPlan PlanConsumption(const Catalogue& catalogue, const v1::ConsumptionBatch& batch,
                                const std::function<bool(const std::string&)>& known_customer) {
  ConsumptionPlan plan;
  absl::flat_hash_set<std::string> brought;  // customers of earlier rows of the batch
  absl::flat_hash_map<std::pair<std::string, int64_t>, size_t> month_index;
  for (int i = 0; i < batch.rows_size(); ++i) {
    const v1::ConsumptionRow& row = batch.rows(i);
    const std::string& id = CustomerOf(row);
    if (row.row_case() == v1::ConsumptionRow::ROW_NOT_SET) {
      plan.errors.push_back(Reject(i, kMissingField, "row", "a customer, daily values, a bill or an event"));
      continue;
    }
    if (id.empty()) {
      plan.errors.push_back(Reject(i, kMissingField, "customer_id", "required"));
      continue;
    }
    if (id.size() > kMaxIdLength) {
      plan.errors.push_back(Reject(i, kTooLong, "customer_id", absl::StrCat("at most ", kMaxIdLength, " characters")));
      continue;
    }
    if (row.row_case() == v1::ConsumptionRow::kCustomer) {
      const v1::Customer& c = row.customer();
      const UnitInfo* unit = catalogue.FindUnit(c.station_code());
      if (unit == nullptr) {
        plan.errors.push_back(Reject(i, kUnknownUnit, "customer.station_code", absl::StrCat("no unit ", c.station_code())));
        continue;
      }
      if (unit->type != v1::UNIT_TYPE_SUPPLY_STATION) {
        plan.errors.push_back(Reject(i, kUnitTypeNotApplicable, "customer.station_code",
                                    absl::StrCat(c.station_code(), " is not a supply station")));
        continue;
      }
      if (!unit->latest().active) {
        plan.errors.push_back(Reject(i, kUnitInactive, "customer.station_code",
                                    absl::StrCat(c.station_code(), " is not active")));
        continue;
      }
      if (!std::isfinite(c.contract_capacity_kva()) || c.contract_capacity_kva() < 0) {
        plan.errors.push_back(Reject(i, kOutOfRange, "customer.contract_capacity_kva", "must be 0 (unknown) or more"));
        continue;
      }
      if (c.category().size() > kMaxIdLength) {
        plan.errors.push_back(Reject(i, kTooLong, "customer.category", absl::StrCat("at most ", kMaxIdLength, " characters")));
        continue;
      }
      if (!v1::CustomerStatus_IsValid(c.status())) {
        plan.errors.push_back(Reject(i, kOutOfRange, "customer.status", "not a customer status"));
        continue;
      }
      plan.customers.push_back({.id = id,
                                .station = c.station_code(),
                                .category = c.category(),
                                .contract_kva = c.contract_capacity_kva(),
                                .status = c.status() == v1::CUSTOMER_STATUS_UNSPECIFIED ? 1 : c.status()});
      brought.insert(id);
      ++plan.accepted;
      continue;
    }
    if (!brought.contains(id) && !known_customer(id)) {
      plan.errors.push_back(Reject(i, "UNKNOWN_CUSTOMER", "customer_id", absl::StrCat("no customer ", id)));
      continue;
    }
    if (row.row_case() == v1::ConsumptionRow::kDaily) {
      const v1::DailyConsumption& d = row.daily();
      absl::CivilDay first;
      if (!ParseIsoDay(d.first_day(), &first)) {
        plan.errors.push_back(Reject(i, kInvalidPeriod, "daily.first_day", "an ISO date, e.g. 2025-03-01"));
        continue;
      }
      if (d.kwh_size() == 0 || d.kwh_size() > kMaxConsumptionDays) {
        plan.errors.push_back(Reject(i, kOutOfRange, "daily.kwh", absl::StrCat("1 to ", kMaxConsumptionDays, " values")));
        continue;
      }
      int bad = -1;
      for (int k = 0; k < d.kwh_size() && bad < 0; ++k) {
        const float v = d.kwh(k);
        if (!std::isnan(v) && (!std::isfinite(v) || v < 0)) bad = k;
      }
      if (bad >= 0) {
        plan.errors.push_back(Reject(i, kOutOfRange, absl::StrCat("daily.kwh[", bad, "]"),
                                    "a kWh value is 0 or more (NaN for a day without one)"));
        continue;
      }
      for (int k = 0; k < d.kwh_size(); ++k) {
        if (std::isnan(d.kwh(k))) continue;
        const absl::CivilDay day = first + k;
        const absl::CivilDay month(day.year(), day.month(), 1);
        auto [it, inserted] = month_index.emplace(std::make_pair(id, static_cast<int64_t>(month - absl::CivilDay())),
                                                  plan.months.size());
        if (inserted) {
          MonthRow m{.customer = id, .month = month};
          m.kwh.fill(kNone);
          plan.months.push_back(m);
        }
        plan.months[it->second].kwh[day.day() - 1] = d.kwh(k);
      }
    } else if (row.row_case() == v1::ConsumptionRow::kBilling) {
      const v1::MonthlyBilling& b = row.billing();
      auto month = Period::Parse(PeriodType::kMonth, b.month());
      if (!month.ok()) {
        plan.errors.push_back(Reject(i, kInvalidPeriod, "billing.month", "a month, e.g. 2025-03"));
        continue;
      }
      if (!std::isfinite(b.billed_kwh()) || b.billed_kwh() < 0) {
        plan.errors.push_back(Reject(i, kOutOfRange, "billing.billed_kwh", "0 or more"));
        continue;
      }
      plan.bills.push_back({.customer = id, .month = month->first_day(), .billed_kwh = b.billed_kwh()});
    } else {
      const v1::MeterEvent& e = row.event();
      absl::CivilDay day;
      if (!ParseIsoDay(e.day(), &day)) {
        plan.errors.push_back(Reject(i, kInvalidPeriod, "event.day", "an ISO date, e.g. 2025-03-01"));
        continue;
      }
      if (e.type() == v1::METER_EVENT_TYPE_UNSPECIFIED || !v1::MeterEventType_IsValid(e.type())) {
        plan.errors.push_back(Reject(i, kMissingField, "event.type", "a meter event type"));
        continue;
      }
      if (e.count() < 0) {
        plan.errors.push_back(Reject(i, kOutOfRange, "event.count", "0 or more"));
        continue;
      }
      plan.events.push_back({.customer = id, .day = day, .type = e.type(), .count = e.count() == 0 ? 1 : e.count()});
    }
    ++plan.accepted;
  }
  if (batch.all_or_nothing() && !plan.errors.empty()) {
    plan.customers.clear();
    plan.months.clear();
    plan.bills.clear();
    plan.events.clear();
    plan.accepted = 0;
  }
  return plan;
}

std::string MonthBytes(const MonthRow& month) {
  const int64_t in_month = absl::CivilDay(absl::CivilMonth(month.month) + 1) - month.month;
  std::string out(static_cast<size_t>(in_month) * 4, '\0');
  for (int64_t d = 0; d < in_month; ++d) {
    const float v = std::isnan(month.kwh[d]) ? kNone : month.kwh[d];
    absl::big_endian::Store32(out.data() + d * 4, absl::bit_cast<uint32_t>(v));
  }
  return out;
}

void LayMonth(absl::CivilDay month, std::string_view bytes, absl::CivilDay first, float* out, size_t days) {
  const int64_t in_month = absl::CivilDay(absl::CivilMonth(month) + 1) - month;
  const int64_t stored = std::min<int64_t>(in_month, static_cast<int64_t>(bytes.size() / 4));
  const int64_t from = std::max<int64_t>(0, first - month);
  const int64_t to = std::min<int64_t>(stored, static_cast<int64_t>(days) + (first - month));
  for (int64_t d = from; d < to; ++d) {
    out[(month + d) - first] = absl::bit_cast<float>(absl::big_endian::Load32(bytes.data() + d * 4));
  }
}

}  // namespace aw::ingest
