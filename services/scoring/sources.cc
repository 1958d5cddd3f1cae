#include "services/scoring/sources.h"

#include "absl/strings/str_cat.h"
#include "common/call.h"

namespace aw::scoring {

v1::Period ProtoOf(const Period& p) {
  v1::Period out;
  out.set_type(static_cast<v1::PeriodType>(p.type()));
  out.set_key(p.key());
  return out;
}

absl::StatusOr<std::vector<UnitIn>> Sources::UnitsOn(absl::CivilDay day) {
  v1::ListUnitsRequest req;
  req.set_as_of(absl::FormatCivilTime(day));
  std::vector<UnitIn> out;
  AW_RETURN_IF_ERROR(ForEachPage(
      *ingest_, &v1::IngestService::Stub::ListUnits, req, "ingest ListUnits",
      [&] { return CallContext(call_timeout_); },
      [&](const v1::ListUnitsResponse& page) -> absl::Status {
        for (const v1::Unit& u : page.units()) {
          if (u.active()) out.push_back(UnitIn{.code = u.code(), .parent = u.parent_code(), .type = u.type()});
        }
        return absl::OkStatus();
      }));
  return out;
}

absl::StatusOr<absl::flat_hash_map<std::string, v1::Indicator>> Sources::Indicators(int32_t year) {
  v1::ListIndicatorsRequest req;
  req.set_year(year);
  req.set_include_disabled(true);
  absl::flat_hash_map<std::string, v1::Indicator> out;
  AW_RETURN_IF_ERROR(ForEachPage(
      *ingest_, &v1::IngestService::Stub::ListIndicators, req, "ingest ListIndicators",
      [&] { return CallContext(call_timeout_); },
      [&](const v1::ListIndicatorsResponse& page) -> absl::Status {
        for (const v1::Indicator& i : page.indicators()) out[i.code()] = i;
        return absl::OkStatus();
      }));
  return out;
}

absl::StatusOr<std::vector<ReadingIn>> Sources::Readings(const Period& period, const std::vector<std::string>& codes,
                                                         int64_t* max_seq) {
  v1::QueryReadingsRequest req;
  for (const std::string& c : codes) req.add_indicator_codes(c);
  *req.mutable_periods()->mutable_first() = ProtoOf(period);
  *req.mutable_periods()->mutable_last() = ProtoOf(period);
  // A half-year or year is scored on its own values: reported, else rolled
  // up by the indicator's rule (never for rates, whose rule is NONE).
  req.set_include_derived(period.type() == PeriodType::kHalfYear || period.type() == PeriodType::kYear);
  std::vector<ReadingIn> out;
  *max_seq = 0;
  AW_RETURN_IF_ERROR(ForEachPage(
      *ingest_, &v1::IngestService::Stub::QueryReadings, req, "ingest QueryReadings",
      [&] { return CallContext(call_timeout_); },
      [&](const v1::QueryReadingsResponse& page) -> absl::Status {
        for (const v1::Reading& r : page.readings()) {
          ReadingIn in{.unit = r.key().unit_code(), .indicator = r.key().indicator_code(), .value = r.value()};
          in.ref.set_seq(r.seq());
          in.ref.set_version(r.version());
          in.ref.set_derived(r.derived());
          in.ref.set_derived_by(r.derived_by());
          in.ref.set_derived_from(r.derived_from_size());
          *max_seq = std::max(*max_seq, r.seq());
          out.push_back(std::move(in));
        }
        return absl::OkStatus();
      }));
  return out;
}

absl::StatusOr<std::vector<DeductionIn>> Sources::Deductions(const Period& period) {
  v1::ListDeductionsRequest req;
  *req.mutable_periods()->mutable_first() = ProtoOf(period);
  *req.mutable_periods()->mutable_last() = ProtoOf(period);
  req.set_effective_only(true);
  std::vector<DeductionIn> out;
  AW_RETURN_IF_ERROR(ForEachPage(
      *audit_, &v1::AuditService::Stub::ListDeductions, req, "audit ListDeductions",
      [&] { return CallContext(call_timeout_); },
      [&](const v1::ListDeductionsResponse& page) -> absl::Status {
        for (const v1::Deduction& d : page.deductions()) {
          out.push_back(DeductionIn{.id = d.id(),
                                    .unit = d.unit_code(),
                                    .type = d.type(),
                                    .points = d.points(),
                                    .work_order_id = d.work_order_id(),
                                    .incident_id = d.incident_id(),
                                    .standard_code = d.standard_code(),
                                    .period = d.period()});
        }
        return absl::OkStatus();
      }));
  return out;
}

}  // namespace aw::scoring
