#include "services/ingest/consumption_store.h"

#include <cmath>
#include <set>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "common/pg_arrays.h"
#include "common/pg_rows.h"
#include "common/status.h"
#include "services/ingest/consumption_logic.h"

namespace aw::ingest {
namespace {

using db::ByteaText;
using db::Bytes;
using db::Epoch;
using db::TextArray;

constexpr int kMaxBatchRows = 10000;

std::string IsoDay(absl::CivilDay d) { return absl::FormatCivilTime(d); }

constexpr char kSeenBatchSql[] = "SELECT result FROM consumption_batches WHERE batch_id = $1";
constexpr char kBatchLockSql[] = "SELECT pg_advisory_xact_lock(hashtext('ingest.consumption_batch'), hashtext($1))";
constexpr char kKnownCustomersSql[] = "SELECT customer_id FROM customers WHERE customer_id = ANY($1::text[])";
constexpr char kTempTablesSql[] = R"sql(
  CREATE TEMP TABLE IF NOT EXISTS incoming_customers (
    customer_id text, station_code text, category text, contract_kva double precision, status smallint)
    ON COMMIT DELETE ROWS;
  CREATE TEMP TABLE IF NOT EXISTS incoming_daily (month date, customer_id text, kwh bytea) ON COMMIT DELETE ROWS)sql";
constexpr char kUpsertCustomersSql[] = R"sql(
  INSERT INTO customers (customer_id, station_code, category, contract_kva, status, updated_at, batch_id)
  SELECT DISTINCT ON (customer_id) customer_id, station_code, category, contract_kva, status, to_timestamp($1), $2
  FROM incoming_customers ORDER BY customer_id
  ON CONFLICT (customer_id) DO UPDATE SET station_code = EXCLUDED.station_code, category = EXCLUDED.category,
    contract_kva = EXCLUDED.contract_kva, status = EXCLUDED.status, updated_at = EXCLUDED.updated_at,
    batch_id = EXCLUDED.batch_id)sql";
constexpr char kEnsureMonthSql[] = "SELECT ensure_consumption_month($1::date)";
constexpr char kUpsertDailySql[] = R"sql(
  INSERT INTO consumption_daily (month, customer_id, kwh)
  SELECT month, customer_id, kwh FROM incoming_daily
  ON CONFLICT (customer_id, month) DO UPDATE SET kwh = merge_kwh(consumption_daily.kwh, EXCLUDED.kwh))sql";
constexpr char kUpsertBillingSql[] = R"sql(
  INSERT INTO billing_monthly (customer_id, month, billed_kwh) VALUES ($1, $2::date, $3)
  ON CONFLICT (customer_id, month) DO UPDATE SET billed_kwh = EXCLUDED.billed_kwh)sql";
constexpr char kUpsertEventSql[] = R"sql(
  INSERT INTO meter_events (customer_id, day, type, count) VALUES ($1, $2::date, $3, $4)
  ON CONFLICT (customer_id, day, type) DO UPDATE SET count = EXCLUDED.count)sql";
constexpr char kRememberBatchSql[] =
    "INSERT INTO consumption_batches (batch_id, result, applied_at) VALUES ($1, $2, to_timestamp($3))";

constexpr char kCustomersSql[] = R"sql(
  SELECT customer_id, station_code, category, contract_kva, status FROM customers
  WHERE station_code = ANY($1::text[]) AND (cardinality($2::text[]) = 0 OR customer_id = ANY($2::text[]))
    AND customer_id > $3
  ORDER BY customer_id OFFSET $4 LIMIT $5)sql";
constexpr char kCountCustomersSql[] = R"sql(
  SELECT count(*) AS n FROM customers
  WHERE station_code = ANY($1::text[]) AND (cardinality($2::text[]) = 0 OR customer_id = ANY($2::text[])))sql";
constexpr char kDailySql[] = R"sql(
  SELECT customer_id, month::text AS month, kwh FROM consumption_daily
  WHERE customer_id BETWEEN $1 AND $2 AND month >= date_trunc('month', $3::date) AND month <= $4::date)sql";
constexpr char kBillingSql[] = R"sql(
  SELECT customer_id, to_char(month, 'YYYY-MM') AS month, billed_kwh FROM billing_monthly
  WHERE customer_id BETWEEN $1 AND $2 AND month >= date_trunc('month', $3::date) AND month <= $4::date
  ORDER BY customer_id, month)sql";
constexpr char kEventsSql[] = R"sql(
  SELECT customer_id, day::text AS day, type, count FROM meter_events
  WHERE customer_id BETWEEN $1 AND $2 AND day BETWEEN $3::date AND $4::date
  ORDER BY customer_id, day, type)sql";
constexpr char kDropBeforeSql[] = "SELECT drop_consumption_before($1::date) AS dropped";

}  // namespace

absl::StatusOr<v1::BatchResult> ConsumptionStore::Apply(const v1::ConsumptionBatch& batch, const Catalogue& catalogue,
                                                        absl::Time now) {
  if (batch.batch_id().empty()) return InvalidField("batch_id", "required (a re-sent batch is applied once)");
  if (batch.source().empty()) return InvalidField("source", "required");
  if (batch.rows_size() > kMaxBatchRows) {
    return InvalidField("rows", absl::StrCat(batch.rows_size(), " rows; at most ", kMaxBatchRows, " per batch"));
  }
  v1::BatchResult result;
  AW_RETURN_IF_ERROR(pool_->Run([&](pqxx::connection& c) -> absl::Status {
    pqxx::work tx(c);
    tx.exec_params(kBatchLockSql, batch.batch_id());
    if (const pqxx::result seen = tx.exec_params(kSeenBatchSql, batch.batch_id()); !seen.empty()) {
      result.ParseFromString(Bytes(seen[0]["result"]));
      result.set_duplicate(true);
      return absl::OkStatus();
    }
    absl::flat_hash_set<std::string> known;
    for (const auto& r : tx.exec_params(kKnownCustomersSql, TextArray(NamedCustomers(batch)))) {
      known.insert(r["customer_id"].as<std::string>());
    }
    const ConsumptionPlan plan =
        PlanConsumption(catalogue, batch, [&](const std::string& id) { return known.contains(id); });
    result = v1::BatchResult();
    result.set_batch_id(batch.batch_id());
    result.set_accepted(plan.accepted);
    result.set_rejected(batch.rows_size() - plan.accepted);
    for (const auto& e : plan.errors) *result.add_errors() = e;

    tx.exec(kTempTablesSql);
    if (!plan.customers.empty()) {
      pqxx::stream_to copy(tx, "incoming_customers",
                           std::vector<std::string>{"customer_id", "station_code", "category", "contract_kva",
                                                    "status"});
      for (const CustomerRow& r : plan.customers) {
        copy << std::make_tuple(r.id, r.station, r.category, db::ExactText(r.contract_kva), r.status);
      }
      copy.complete();
      tx.exec_params(kUpsertCustomersSql, Epoch(now), batch.batch_id());
    }
    if (!plan.months.empty()) {
      std::set<absl::CivilDay> months;
      for (const MonthRow& m : plan.months) months.insert(m.month);
      for (absl::CivilDay m : months) tx.exec_params(kEnsureMonthSql, IsoDay(m));
      pqxx::stream_to copy(tx, "incoming_daily", std::vector<std::string>{"month", "customer_id", "kwh"});
      for (const MonthRow& m : plan.months) copy << std::make_tuple(IsoDay(m.month), m.customer, ByteaText(MonthBytes(m)));
      copy.complete();
      tx.exec(kUpsertDailySql);
    }
    for (const BillingRow& b : plan.bills) {
      tx.exec_params(kUpsertBillingSql, b.customer, IsoDay(b.month), b.billed_kwh);
    }
    for (const EventRow& e : plan.events) tx.exec_params(kUpsertEventSql, e.customer, IsoDay(e.day), e.type, e.count);
    tx.exec_params(kRememberBatchSql, batch.batch_id(), pqxx::binarystring(result.SerializeAsString()), Epoch(now));
    tx.commit();
    return absl::OkStatus();
  }));
  return result;
}

absl::StatusOr<std::vector<v1::CustomerConsumption>> ConsumptionStore::Read(
    const std::vector<std::string>& stations, const std::vector<std::string>& customer_ids, absl::CivilDay first,
    absl::CivilDay last, const Slice& slice) {
  std::vector<v1::CustomerConsumption> out;
  AW_RETURN_IF_ERROR(pool_->Run([&](pqxx::connection& c) -> absl::Status {
    pqxx::read_transaction tx(c);
    std::vector<std::string> ids;
    absl::flat_hash_map<std::string, size_t> at;
    const size_t days = static_cast<size_t>(last - first) + 1;
    for (const auto& r : tx.exec_params(kCustomersSql, TextArray(stations), TextArray(customer_ids), slice.after, slice.offset,
                                          slice.limit)) {
      v1::CustomerConsumption cc;
      v1::Customer* cu = cc.mutable_customer();
      cu->set_customer_id(r["customer_id"].as<std::string>());
      cu->set_station_code(r["station_code"].as<std::string>());
      cu->set_category(r["category"].as<std::string>());
      cu->set_contract_capacity_kva(r["contract_kva"].as<double>());
      cu->set_status(static_cast<v1::CustomerStatus>(r["status"].as<int>()));
      cc.set_first_day(IsoDay(first));
      cc.mutable_kwh()->Resize(static_cast<int>(days), std::nanf(""));
      at[cu->customer_id()] = out.size();
      ids.push_back(cu->customer_id());
      out.push_back(std::move(cc));
    }
    if (ids.empty()) return absl::OkStatus();
    // The page's customers are consecutive in id order: their months are
    // read by one range of the key in each month's partition (several times
    // faster than looking each id up); a customer of another scope whose id
    // falls in the range is skipped.
    for (const auto& r : tx.exec_params(kDailySql, ids.front(), ids.back(), IsoDay(first), IsoDay(last))) {
      const auto it = at.find(r["customer_id"].as<std::string>());
      if (it == at.end()) continue;
      v1::CustomerConsumption& cc = out[it->second];
      absl::CivilDay month;
      ParseIsoDay(r["month"].as<std::string>(), &month);
      LayMonth(month, Bytes(r["kwh"]), first, cc.mutable_kwh()->mutable_data(), days);
    }
    for (const auto& r : tx.exec_params(kBillingSql, ids.front(), ids.back(), IsoDay(first), IsoDay(last))) {
      const auto it = at.find(r["customer_id"].as<std::string>());
      if (it == at.end()) continue;
      v1::MonthlyBilling* b = out[it->second].add_billing();
      b->set_customer_id(it->first);
      b->set_month(r["month"].as<std::string>());
      b->set_billed_kwh(r["billed_kwh"].as<double>());
    }
    for (const auto& r : tx.exec_params(kEventsSql, ids.front(), ids.back(), IsoDay(first), IsoDay(last))) {
      const auto it = at.find(r["customer_id"].as<std::string>());
      if (it == at.end()) continue;
      v1::MeterEvent* e = out[it->second].add_events();
      e->set_customer_id(it->first);
      e->set_day(r["day"].as<std::string>());
      e->set_type(static_cast<v1::MeterEventType>(r["type"].as<int>()));
      e->set_count(r["count"].as<int>());
    }
    return absl::OkStatus();
  }));
  return out;
}

absl::StatusOr<int64_t> ConsumptionStore::Count(const std::vector<std::string>& stations,
                                                 const std::vector<std::string>& customer_ids) {
  int64_t n = 0;
  AW_RETURN_IF_ERROR(pool_->Run([&](pqxx::connection& c) -> absl::Status {
    pqxx::read_transaction tx(c);
    n = tx.exec_params1(kCountCustomersSql, TextArray(stations), TextArray(customer_ids))["n"].as<int64_t>();
    return absl::OkStatus();
  }));
  return n;
}

absl::StatusOr<int> ConsumptionStore::DropBefore(absl::CivilDay month) {
  int dropped = 0;
  AW_RETURN_IF_ERROR(pool_->Run([&](pqxx::connection& c) -> absl::Status {
    pqxx::work tx(c);
    dropped = tx.exec_params1(kDropBeforeSql, IsoDay(month))["dropped"].as<int>();
    tx.commit();
    return absl::OkStatus();
  }));
  return dropped;
}

}  // namespace aw::ingest
